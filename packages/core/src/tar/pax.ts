/**
 * pax extended header records ("LEN key=value\n", POSIX.1-2017 pax "pax Extended Header")
 * and the attributes they set. Records of an 'x' header apply to the next entry, records of a
 * 'g' header to every later entry until overridden. An empty value deletes the key (the
 * header field or global value is used again), except for xattr records, where it is an
 * xattr with an empty value (as GNU tar, libarchive and erofs-utils write and read them).
 */
import { ErofsError, hex } from '../errors.js';
import type { TarTime, TarWarning } from './entry.js';
import { base64Decode, copyBytes, paxDecimal, paxTime, urlDecode } from './numbers.js';
import { aclTextToXattr } from './acl.js';

export interface PaxRecord {
  key: string;
  /** Raw value bytes (a copy: it does not alias the input buffers). */
  value: Uint8Array;
  /** Absolute offset of the record in the archive. */
  at: number;
}

const utf8 = new TextDecoder('utf-8');
const utf8Encoder = new TextEncoder();

/** Cap on the attributes one entry (or the global set) may accumulate, in bytes of records. */
export const MAX_ATTR_BYTES = 4 << 20;
/** Cap on the data segments of one sparse file. */
export const MAX_SPARSE_SEGMENTS = 1 << 20;

function bad(message: string, offset: number, code: 'invalid-value' | 'too-large' = 'invalid-value'): ErofsError {
  return new ErofsError(code, message, { offset, format: 'tar' });
}

/**
 * Splits the data of an 'x'/'g' header into records. LEN is decimal, counts the whole record
 * (its own digits, the space and the newline included) and must end exactly on a "\n"; the
 * key is everything up to the first "=". NUL bytes after the last record are allowed (some
 * writers pad); anything else is an `invalid-value` error at `headerAt`.
 */
export function parsePaxRecords(data: Uint8Array, dataAt: number, headerAt: number): PaxRecord[] {
  const out: PaxRecord[] = [];
  let pos = 0;
  const n = data.length;
  while (pos < n) {
    if (data[pos] === 0) {
      for (let i = pos; i < n; i++) {
        if (data[i] !== 0) throw bad(`pax header at ${hex(headerAt)}: non-zero byte at ${hex(dataAt + i)} after the NUL padding`, headerAt);
      }
      break;
    }
    const where = `pax record at ${hex(dataAt + pos)} (header at ${hex(headerAt)})`;
    let j = pos;
    let len = 0;
    while (j < n && j - pos < 16) {
      const c = data[j] as number;
      if (c < 0x30 || c > 0x39) break;
      len = len * 10 + (c - 0x30);
      j++;
    }
    if (j === pos) throw bad(`${where}: no decimal length`, headerAt);
    if (data[j] !== 0x20) throw bad(`${where}: length not followed by a space`, headerAt);
    const end = pos + len;
    if (len < j - pos + 4 || end > n) {
      throw bad(`${where}: length ${len} does not fit (${n - pos} bytes left in a ${n}-byte header)`, headerAt);
    }
    if (data[end - 1] !== 0x0a) throw bad(`${where}: length ${len} does not end on a newline`, headerAt);
    const kv = j + 1;
    let eq = kv;
    while (eq < end - 1 && data[eq] !== 0x3d) eq++;
    if (eq >= end - 1) throw bad(`${where}: no "=" in the record`, headerAt);
    if (eq === kv) throw bad(`${where}: empty keyword`, headerAt);
    out.push({ key: utf8.decode(data.subarray(kv, eq)), value: copyBytes(data.subarray(eq + 1, end - 1)), at: dataAt + pos });
    pos = end;
  }
  return out;
}

/** What pax records say about an entry. `undefined` = not set (the header field applies). */
export interface PaxAttrs {
  path: Uint8Array | undefined;
  linkpath: Uint8Array | undefined;
  size: number | undefined;
  uid: number | undefined;
  gid: number | undefined;
  uname: string | undefined;
  gname: string | undefined;
  mtime: TarTime | undefined;
  devmajor: number | undefined;
  devminor: number | undefined;
  xattrs: Map<string, Uint8Array>;
  /** GNU.sparse.name (1.0; takes precedence over path). */
  sparseName: Uint8Array | undefined;
  /** GNU.sparse.size (0.x) or GNU.sparse.realsize (1.0). */
  sparseRealSize: number | undefined;
  sparseMajor: number | undefined;
  sparseMinor: number | undefined;
  sparseNumblocks: number | undefined;
  /** GNU.sparse.map (0.1): offset,numbytes,... */
  sparseMap: number[] | undefined;
  /** GNU.sparse.offset / GNU.sparse.numbytes records (0.0), in order. */
  sparseOffsets: number[];
  sparseNumbytes: number[];
  /** Bytes of records applied, for the {@link MAX_ATTR_BYTES} cap. */
  bytes: number;
  /** ACL xattrs that came from SCHILY.acl text (an xattr record for the same name replaces them). */
  aclFromText: Set<string>;
}

export function emptyAttrs(): PaxAttrs {
  return {
    path: undefined,
    linkpath: undefined,
    size: undefined,
    uid: undefined,
    gid: undefined,
    uname: undefined,
    gname: undefined,
    mtime: undefined,
    devmajor: undefined,
    devminor: undefined,
    xattrs: new Map(),
    sparseName: undefined,
    sparseRealSize: undefined,
    sparseMajor: undefined,
    sparseMinor: undefined,
    sparseNumblocks: undefined,
    sparseMap: undefined,
    sparseOffsets: [],
    sparseNumbytes: [],
    bytes: 0,
    aclFromText: new Set(),
  };
}

export function cloneAttrs(a: PaxAttrs): PaxAttrs {
  return {
    ...a,
    xattrs: new Map(a.xattrs),
    aclFromText: new Set(a.aclFromText),
    sparseMap: a.sparseMap?.slice(),
    sparseOffsets: a.sparseOffsets.slice(),
    sparseNumbytes: a.sparseNumbytes.slice(),
  };
}

export function hasSparse(a: PaxAttrs): boolean {
  return (
    a.sparseMajor !== undefined ||
    a.sparseMinor !== undefined ||
    a.sparseMap !== undefined ||
    a.sparseOffsets.length > 0 ||
    a.sparseNumbytes.length > 0 ||
    a.sparseRealSize !== undefined ||
    a.sparseNumblocks !== undefined
  );
}

/** Records that are understood but do not matter to an EROFS tree: ignored silently. */
const QUIET = new Set([
  'atime',
  'ctime',
  'charset',
  'comment',
  'hdrcharset',
  'SCHILY.dev',
  'SCHILY.ino',
  'SCHILY.nlink',
  'SCHILY.fflags',
  'SCHILY.archtype',
  'LIBARCHIVE.creationtime',
  'LIBARCHIVE.symlinktype',
]);

/**
 * Vendor records that would change what the entry is if honoured (other sparse schemes,
 * multivolume parts, ACLs and labels kept outside xattrs): ignored with a warning.
 */
const MEANINGFUL_PREFIXES = ['SCHILY.acl.', 'SCHILY.realsize', 'SCHILY.filetype', 'SUN.holesdata', 'RHT.', 'GNU.'];

/**
 * Applies the records of one 'x' or 'g' header to `a`. Values are validated here, so a bad
 * record is reported at its own header. Unknown keywords are ignored; a warning is given for
 * those in the POSIX namespace (no "." in the name: a future standard field) and for vendor
 * records that change meaning (see MEANINGFUL_PREFIXES).
 */
export function applyRecords(a: PaxAttrs, records: PaxRecord[], headerAt: number, warn: (w: TarWarning) => void): void {
  for (const r of records) {
    a.bytes += r.key.length + r.value.length;
    if (a.bytes > MAX_ATTR_BYTES) {
      throw bad(`pax records for one entry exceed ${MAX_ATTR_BYTES} bytes (header at ${hex(headerAt)})`, headerAt, 'too-large');
    }
    applyRecord(a, r, headerAt, warn);
  }
}

function decimal(r: PaxRecord, headerAt: number): number {
  const v = paxDecimal(r.value);
  if (typeof v === 'number') return v;
  const shown = utf8.decode(r.value.subarray(0, 40));
  throw bad(`pax record ${r.key}="${shown}" at ${hex(r.at)}: ${v === 'too-large' ? 'exceeds 2^53' : 'not a decimal number'}`, headerAt, v === 'too-large' ? 'too-large' : 'invalid-value');
}

/** pax keys that set one attribute: [attribute, how the value reads]. */
const SIMPLE_KEYS: ReadonlyMap<string, readonly [keyof PaxAttrs, 'bytes' | 'text' | 'decimal']> = new Map(Object.entries({
  path: ['path', 'bytes'],
  linkpath: ['linkpath', 'bytes'],
  size: ['size', 'decimal'],
  uid: ['uid', 'decimal'],
  gid: ['gid', 'decimal'],
  uname: ['uname', 'text'],
  gname: ['gname', 'text'],
  'SCHILY.devmajor': ['devmajor', 'decimal'],
  'SCHILY.devminor': ['devminor', 'decimal'],
  'GNU.sparse.name': ['sparseName', 'bytes'],
  'GNU.sparse.size': ['sparseRealSize', 'decimal'],
  'GNU.sparse.realsize': ['sparseRealSize', 'decimal'],
  'GNU.sparse.major': ['sparseMajor', 'decimal'],
  'GNU.sparse.minor': ['sparseMinor', 'decimal'],
} as const));

function applyRecord(a: PaxAttrs, r: PaxRecord, headerAt: number, warn: (w: TarWarning) => void): void {
  const { key, value } = r;
  const empty = value.length === 0;
  // Records that set one attribute, by how their value reads (an empty value unsets it).
  const field = SIMPLE_KEYS.get(key);
  if (field) {
    const [name, kind] = field;
    const v = empty ? undefined : kind === 'decimal' ? decimal(r, headerAt) : kind === 'text' ? utf8.decode(value) : value;
    (a as unknown as Record<string, unknown>)[name] = v;
    return;
  }
  switch (key) {
    case 'mtime': {
      if (empty) {
        a.mtime = undefined;
        return;
      }
      const t = paxTime(value);
      if (typeof t === 'string') {
        throw bad(`pax record mtime="${utf8.decode(value.subarray(0, 40))}" at ${hex(r.at)}: ${t === 'too-large' ? 'exceeds 2^53' : 'not a decimal time'}`, headerAt, t === 'too-large' ? 'too-large' : 'invalid-value');
      }
      a.mtime = t;
      return;
    }
    case 'GNU.sparse.numblocks':
      a.sparseNumblocks = empty ? undefined : decimal(r, headerAt);
      if (a.sparseNumblocks !== undefined && a.sparseNumblocks > MAX_SPARSE_SEGMENTS) {
        throw bad(`GNU.sparse.numblocks ${a.sparseNumblocks} at ${hex(r.at)} exceeds ${MAX_SPARSE_SEGMENTS}`, headerAt, 'too-large');
      }
      return;
    case 'GNU.sparse.offset':
      a.sparseOffsets.push(decimal(r, headerAt));
      return;
    case 'GNU.sparse.numbytes':
      a.sparseNumbytes.push(decimal(r, headerAt));
      return;
    case 'GNU.sparse.map':
      a.sparseMap = empty ? [] : sparseMapList(r, headerAt);
      return;
  }
  if (key.startsWith('SCHILY.xattr.')) {
    const name = key.slice('SCHILY.xattr.'.length);
    if (name.length === 0) throw bad(`pax record ${key} at ${hex(r.at)}: empty xattr name`, headerAt);
    a.xattrs.set(name, value);
    a.aclFromText.delete(name);
    return;
  }
  if (key.startsWith('LIBARCHIVE.xattr.')) {
    const raw = r.key.slice('LIBARCHIVE.xattr.'.length);
    const name = utf8.decode(urlDecode(utf8Encoder.encode(raw)));
    if (name.length === 0) throw bad(`pax record ${key} at ${hex(r.at)}: empty xattr name`, headerAt);
    const v = base64Decode(value);
    if (!v) throw bad(`pax record ${key} at ${hex(r.at)}: value is not base64`, headerAt);
    a.xattrs.set(name, v);
    return;
  }
  if (key === 'SCHILY.acl.access' || key === 'SCHILY.acl.default') {
    const name = key === 'SCHILY.acl.access' ? 'system.posix_acl_access' : 'system.posix_acl_default';
    // An xattr record for the same ACL (GNU tar writes both) wins, whatever the order.
    if (a.xattrs.has(name) && !a.aclFromText.has(name)) return;
    const v = aclTextToXattr(utf8.decode(value));
    // An access ACL of only owner, group and other says no more than the mode bits: Linux
    // stores no xattr for it (and reports none), so neither do we.
    if (v instanceof Uint8Array && name === 'system.posix_acl_access' && v.length === 4 + 3 * 8) return;
    if (typeof v === 'string') {
      warn({ code: 'unknown-pax-record', message: `pax record ${key} at ${hex(r.at)} ignored: ${v}`, offset: headerAt });
      return;
    }
    a.xattrs.set(name, v);
    a.aclFromText.add(name);
    return;
  }
  if (QUIET.has(key)) return;
  if (!key.includes('.') || MEANINGFUL_PREFIXES.some((p) => key.startsWith(p))) {
    warn({ code: 'unknown-pax-record', message: `pax record ${key} at ${hex(r.at)} is not understood; ignored`, offset: headerAt });
  }
}

function sparseMapList(r: PaxRecord, headerAt: number): number[] {
  const out: number[] = [];
  let start = 0;
  const v = r.value;
  for (let i = 0; i <= v.length; i++) {
    if (i === v.length || v[i] === 0x2c) {
      const n = paxDecimal(v.subarray(start, i));
      if (typeof n !== 'number') throw bad(`pax record GNU.sparse.map at ${hex(r.at)}: item ${out.length} is not a decimal number`, headerAt);
      out.push(n);
      if (out.length > 2 * MAX_SPARSE_SEGMENTS) throw bad(`GNU.sparse.map at ${hex(r.at)} has more than ${MAX_SPARSE_SEGMENTS} segments`, headerAt, 'too-large');
      start = i + 1;
    }
  }
  if (out.length % 2 !== 0) throw bad(`pax record GNU.sparse.map at ${hex(r.at)}: odd number of items (${out.length})`, headerAt);
  return out;
}
