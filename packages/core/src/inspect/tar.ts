/**
 * Tolerant tar inspection: header blocks through the tables in `tar/format.ts` (v7, ustar,
 * GNU), the checksum verified, pax records one span each, entry data and its padding. Walks
 * from a header the caller found (the start of a tar, an appended device, or the first block
 * of a partial dump whose checksum holds) until the data runs out or an end marker.
 */
import { hex } from '../errors.js';
import type { Field } from '../layout/struct.js';
import { BLOCK, TYPE, chksumField, dialectOf, gnuHeader, headerSums, isZeroBlock, ustarHeader, v7Header } from '../tar/format.js';
import { headerNumber } from '../tar/numbers.js';
import type { ByteMap } from './bytes.js';
import { cstr, formatTime, modeString, plural, quoteBytes } from './describe.js';
import type { Annotator, Explained } from './model.js';

const MAX_HEADERS = 1 << 20;
/** How many blocks a search for a first header looks at. */
const MAX_SCAN = 1 << 16;

const TYPE_NAMES: Record<number, string> = {
  [TYPE.AREG]: 'regular file (v7)',
  [TYPE.REG]: 'regular file',
  [TYPE.LNK]: 'hard link',
  [TYPE.SYM]: 'symbolic link',
  [TYPE.CHR]: 'char device',
  [TYPE.BLK]: 'block device',
  [TYPE.DIR]: 'directory',
  [TYPE.FIFO]: 'fifo',
  [TYPE.CONT]: 'contiguous file',
  [TYPE.XHD]: 'pax extended header (applies to the next entry)',
  [TYPE.XGL]: 'pax global header',
  [TYPE.SOLARIS_XHD]: 'Solaris extended header',
  [TYPE.GNU_LONGNAME]: 'GNU long name (the next entry\'s path)',
  [TYPE.GNU_LONGLINK]: 'GNU long link name',
  [TYPE.GNU_SPARSE]: 'GNU old sparse file',
  [TYPE.GNU_DUMPDIR]: 'GNU dump directory',
  [TYPE.GNU_MULTIVOL]: 'GNU multivolume continuation',
  [TYPE.GNU_VOLHDR]: 'GNU volume label',
};

const TYPE_BITS: Record<number, number> = {
  [TYPE.AREG]: 0o100000, [TYPE.REG]: 0o100000, [TYPE.CONT]: 0o100000, [TYPE.LNK]: 0o100000,
  [TYPE.SYM]: 0o120000, [TYPE.CHR]: 0o020000, [TYPE.BLK]: 0o060000, [TYPE.DIR]: 0o040000, [TYPE.FIFO]: 0o010000,
};

/** Types whose `size` counts data blocks that follow the header. */
const HAS_DATA = new Set<number>([TYPE.AREG, TYPE.REG, TYPE.CONT, TYPE.XHD, TYPE.XGL, TYPE.SOLARIS_XHD, TYPE.GNU_LONGNAME, TYPE.GNU_LONGLINK, TYPE.GNU_SPARSE, TYPE.GNU_DUMPDIR, TYPE.GNU_MULTIVOL]);

/** True when a whole 512-byte block at `at` is a non-zero header whose checksum holds. */
export function looksLikeTarHeader(map: ByteMap, at: number): boolean {
  const b = map.get(at, BLOCK);
  if (!b || isZeroBlock(b)) return false;
  const stored = headerNumber(chksumField(b));
  if (typeof stored !== 'number') return false;
  const sums = headerSums(b);
  return stored === sums.unsigned || stored === sums.signed;
}

/** The first 512-aligned offset holding a valid tar header, if any. */
export function findTarHeader(map: ByteMap): number | undefined {
  let scanned = 0;
  for (const seg of map.segments) {
    const end = seg.offset + seg.bytes.length;
    for (let at = Math.ceil(seg.offset / BLOCK) * BLOCK; at + BLOCK <= end; at += BLOCK) {
      if (looksLikeTarHeader(map, at)) return at;
      if (++scanned > MAX_SCAN) return undefined;
    }
  }
  return undefined;
}

const latin1 = (b: Uint8Array): string => quoteBytes(b);

function octal(field: Uint8Array): number | undefined {
  const n = headerNumber(field);
  return typeof n === 'number' ? n : undefined;
}

/** Walks tar headers from `start`. `prefix` names the spans (`tar`, `device[1]`). */
export function inspectTar(ann: Annotator, map: ByteMap, start: number, prefix = 'tar'): void {
  let pos = start;
  let zeros = 0;
  let paxSize: number | undefined;
  let globalSize: number | undefined;
  let longName: Uint8Array | undefined;
  let paxPath: Uint8Array | undefined;
  for (let n = 0; n < MAX_HEADERS; n++) {
    const b = map.get(pos, BLOCK);
    if (!b) {
      if (map.any(pos, BLOCK)) ann.diag('info', 'truncated', `tar header at ${hex(pos)} is only partly in the dump`, pos, BLOCK, 'tar');
      return;
    }
    if (isZeroBlock(b)) {
      zeros++;
      ann.structure('tar-end', 'end of archive', zeros === 1 ? 'first zero block' : 'second zero block', pos, pos + BLOCK);
      ann.padding(pos, pos + BLOCK, 'tar', `${prefix}.end[${zeros - 1}]`, 'end-of-archive marker: two zero blocks end a tar (more zero blocks may pad it to a record size)');
      pos += BLOCK;
      if (zeros >= 2) return;
      continue;
    }
    zeros = 0;
    const dialect = dialectOf(b);
    const def = dialect === 'gnu' ? gnuHeader : dialect === 'ustar' ? ustarHeader : v7Header;
    const typeflag = b[156]!;
    const stored = octal(chksumField(b));
    const sums = headerSums(b);
    const sumOk = stored !== undefined && (stored === sums.unsigned || stored === sums.signed);
    const rawSize = octal(b.subarray(124, 136));
    const isMeta = typeflag === TYPE.XHD || typeflag === TYPE.XGL || typeflag === TYPE.SOLARIS_XHD || typeflag === TYPE.GNU_LONGNAME || typeflag === TYPE.GNU_LONGLINK;
    const size = !isMeta && paxSize !== undefined ? paxSize : !isMeta && globalSize !== undefined ? globalSize : rawSize ?? 0;
    const path = !isMeta ? (paxPath ?? longName) : undefined;
    const pre = `${prefix}[${hex(pos)}]`;
    const headerName = path ?? joinUstar(b, dialect);
    const title = isMeta ? (TYPE_NAMES[typeflag] ?? 'extension header') : latin1(headerName);
    const hs = ann.structure('tar-header', `tar header ${title}`, `${def.name} at ${hex(pos)}`, pos, pos + BLOCK);
    ann.traceStruct(def, pos, pre, (f, v) => explainTar(f, v as unknown as Record<string, Uint8Array | number>, { sumOk, stored, sums, size, typeflag, path }), false);
    if (!sumOk) {
      ann.diag('error', 'bad-checksum', `tar header at ${hex(pos)}: chksum ${stored === undefined ? 'is not an octal number' : `${stored} (0o${stored.toString(8)})`} but the header bytes sum to ${sums.unsigned} (0o${sums.unsigned.toString(8)}); the header is corrupt or this is not a tar header`, pos + 148, 8, 'tar');
      return;
    }
    if (rawSize === undefined) {
      ann.diag('error', 'invalid-value', `tar header at ${hex(pos)}: size field is not a number`, pos + 124, 12, 'tar');
      return;
    }
    const dataAt = pos + BLOCK;
    const stored_ = HAS_DATA.has(typeflag) ? (isMeta ? rawSize : size) : 0;
    const padded = Math.ceil(stored_ / BLOCK) * BLOCK;
    if (!isMeta) {
      paxSize = undefined;
      paxPath = undefined;
      longName = undefined;
    }
    if (typeflag === TYPE.XHD || typeflag === TYPE.XGL || typeflag === TYPE.SOLARIS_XHD) {
      const recs = paxRecords(ann, map, dataAt, stored_, pre, pos);
      const s = recs.get('size');
      const size = s !== undefined && /^[0-9]+$/.test(s) ? Number(s) : undefined;
      if (typeflag === TYPE.XGL) globalSize = size;
      else {
        paxSize = size;
        const p = recs.get('path');
        if (p !== undefined) paxPath = new TextEncoder().encode(p);
      }
      ann.structure('pax-records', 'pax records', `${plural(recs.size, 'record')}`, dataAt, dataAt + stored_, hs);
      hs.end = dataAt + padded;
    } else if (typeflag === TYPE.GNU_LONGNAME || typeflag === TYPE.GNU_LONGLINK) {
      const name = map.get(dataAt, stored_);
      if (name && typeflag === TYPE.GNU_LONGNAME) longName = cstr(name);
      ann.part(dataAt, dataAt + stored_, 'tar', typeflag === TYPE.GNU_LONGNAME ? 'long name' : 'long link name', `${pre}.longname`, name ? latin1(cstr(name)) : '', 'GNU long name data: the next entry\'s name (NUL-terminated)');
      hs.end = dataAt + padded;
    } else if (stored_ > 0) {
      ann.structure('tar-data', `data of ${latin1(headerName)}`, `${stored_} bytes`, dataAt, dataAt + stored_);
      ann.data(dataAt, dataAt + stored_, 'tar data', `${pre}.data`, `${plural(stored_, 'byte')} of ${latin1(headerName)}`, 'entry data, stored right after its header');
    }
    if (padded > stored_) ann.padding(dataAt + stored_, dataAt + padded, 'tar', `${pre}.pad`, 'zero padding of the data to a 512-byte block');
    pos = dataAt + padded;
  }
}

function joinUstar(b: Uint8Array, dialect: string): Uint8Array {
  const name = cstr(b.subarray(0, 100));
  if (dialect !== 'ustar') return name;
  const prefix = cstr(b.subarray(345, 500));
  if (prefix.length === 0) return name;
  const out = new Uint8Array(prefix.length + 1 + name.length);
  out.set(prefix, 0);
  out[prefix.length] = 0x2f;
  out.set(name, prefix.length + 1);
  return out;
}

interface TarCtx {
  sumOk: boolean;
  stored: number | undefined;
  sums: { unsigned: number; signed: number };
  size: number;
  typeflag: number;
  path: Uint8Array | undefined;
}

function explainTar(f: Field, v: Record<string, Uint8Array | number>, c: TarCtx): Explained | undefined {
  const x = v[f.name];
  if (f.name === 'typeflag') {
    const t = x as number;
    return { value: t === 0 ? 'NUL' : `'${String.fromCharCode(t)}' (${hex(t)})`, meaning: TYPE_NAMES[t] ?? 'unknown type (read as a regular file)' };
  }
  if (!(x instanceof Uint8Array)) return undefined;
  switch (f.name) {
    case 'name':
    case 'linkname':
    case 'prefix':
    case 'uname':
    case 'gname':
    case 'magic':
    case 'version': {
      const s = f.name === 'magic' || f.name === 'version' ? x : cstr(x);
      return { value: quoteBytes(s), meaning: f.name === 'name' && c.path ? `overridden by ${quoteBytes(c.path)}` : '' };
    }
    case 'mode': {
      const m = octal(x);
      if (m === undefined) return { value: quoteBytes(cstr(x)), meaning: 'not an octal number' };
      return { value: `0${(m & 0o7777).toString(8)}`, meaning: modeString((TYPE_BITS[c.typeflag] ?? 0o100000) | (m & 0o7777)) };
    }
    case 'uid':
    case 'gid':
    case 'devmajor':
    case 'devminor': {
      const n = octal(x);
      return { value: n === undefined ? quoteBytes(cstr(x)) : String(n) };
    }
    case 'size': {
      const n = octal(x);
      if (n === undefined) return { value: quoteBytes(cstr(x)), meaning: 'not a number' };
      return { value: String(n), meaning: n !== c.size ? `${plural(n, 'byte')} (a pax record says ${c.size})` : plural(n, 'byte') };
    }
    case 'mtime':
    case 'atime':
    case 'ctime': {
      const n = octal(x);
      if (n === undefined) return { value: quoteBytes(cstr(x)) };
      return { value: String(n), meaning: formatTime(n) };
    }
    case 'chksum':
      if (c.stored === undefined) return { value: quoteBytes(cstr(x)), meaning: 'not an octal number' };
      return { value: `0o${c.stored.toString(8)} (${c.stored})`, meaning: c.sumOk ? 'verified: matches the sum of the header bytes' : `does not match the header's byte sum ${c.sums.unsigned}` };
    default:
      return undefined;
  }
}

/** Claims one span per pax record; returns the records that parsed (key → value). */
function paxRecords(ann: Annotator, map: ByteMap, at: number, len: number, pre: string, headerAt: number): Map<string, string> {
  const out = new Map<string, string>();
  const data = map.get(at, len);
  if (!data) {
    if (map.any(at, len)) ann.diag('info', 'truncated', `pax records at ${hex(at)} are only partly in the dump`, at, len, 'tar');
    return out;
  }
  const utf8 = new TextDecoder('utf-8', { fatal: false });
  let p = 0;
  let k = 0;
  while (p < len) {
    if (data[p] === 0) {
      ann.padding(at + p, at + len, 'pax records', `${pre}.pax.pad`, 'NUL padding after the last record');
      break;
    }
    let j = p;
    let n = 0;
    while (j < len && j - p < 16 && data[j]! >= 0x30 && data[j]! <= 0x39) n = n * 10 + (data[j++]! - 0x30);
    const end = p + n;
    if (j === p || data[j] !== 0x20 || n < j - p + 4 || end > len || data[end - 1] !== 0x0a) {
      ann.diag('error', 'invalid-value', `pax record at ${hex(at + p)} (header at ${hex(headerAt)}): expected "LENGTH key=value\\n" with LENGTH counting the whole record`, at + p, Math.min(len - p, 32), 'tar');
      return out;
    }
    let eq = j + 1;
    while (eq < end - 1 && data[eq] !== 0x3d) eq++;
    const key = utf8.decode(data.subarray(j + 1, eq));
    const value = data.subarray(eq + 1, end - 1);
    const text = utf8.decode(value);
    if (eq >= end - 1) {
      ann.diag('error', 'invalid-value', `pax record at ${hex(at + p)} has no "="`, at + p, n, 'tar');
    } else {
      out.set(key, text);
    }
    ann.part(at + p, at + end, 'pax record', key, `${pre}.pax[${k}]`, quoteBytes(value, 96), `pax extended header record "${n} ${key}=…\\n"`, paxMeaning(key, text));
    p = end;
    k++;
  }
  return out;
}

function paxMeaning(key: string, value: string): string {
  if (key === 'mtime' || key === 'atime' || key === 'ctime') {
    const m = /^(-?\d+)(?:\.(\d+))?$/.exec(value);
    if (m) return formatTime(Number(m[1]), m[2] ? Number(m[2].slice(0, 9).padEnd(9, '0')) : 0);
  }
  if (key === 'size') return `file size ${value} bytes (overrides the header)`;
  if (key === 'path') return 'path of the next entry (overrides the header name)';
  if (key === 'linkpath') return 'link target of the next entry';
  if (key.startsWith('SCHILY.xattr.')) return `xattr ${key.slice(13)}`;
  if (key === 'uid' || key === 'gid') return `${key} (overrides the header)`;
  return '';
}
