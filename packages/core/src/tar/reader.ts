/**
 * The tar reader the tar-index writer stands on: it reads v7, ustar, GNU (long names,
 * base-256 numbers, old sparse files) and pax (x/g headers, GNU sparse 0.0/0.1/1.0, xattrs)
 * archives from a stream or a seekable source, and reports for every entry the exact byte
 * offsets of its headers, its data and each sparse data segment. Paths are raw bytes, not
 * normalized. Decisions and their reasons: docs/adr/0006-tar-reader.md.
 *
 * Errors are ErofsErrors with `format: 'tar'`; `offset` is the header block the problem
 * belongs to (the 'x'/'g'/'L'/'K' header for a bad record, the entry's own header for its
 * fields and its data), and `path` is set once the entry's path is known.
 */
import { NO_XATTRS } from '../tree/node.js';
import { ErofsError, hex, type ErrorCode } from '../errors.js';
import type { ByteSource } from '../io/source.js';
import { decode } from '../layout/struct.js';
import type { SparseSegment, TarEntry, TarEntryType, TarTime, TarWarning } from './entry.js';
import {
  BLOCK,
  HEADER_FIELDS as F,
  SPARSES_IN_OLDGNU_HEADER,
  SPARSES_IN_SPARSE_HEADER,
  TYPE,
  chksumField,
  dialectOf,
  gnuHeader,
  gnuSparse,
  gnuSparseHeader,
  headerSum,
  headerSums,
  isZeroBlock,
  type Dialect,
} from './format.js';
import type { Field } from '../layout/struct.js';
import { isByteSource, SeekInput, StreamInput, type TarInput } from './input.js';
import { copyBytes, cstring, cstringLength, headerNumber, headerNumberAt } from './numbers.js';
import { MAX_SPARSE_SEGMENTS, applyRecords, cloneAttrs, emptyAttrs, hasSparse, parsePaxRecords, type PaxAttrs } from './pax.js';

export interface TarReadOptions {
  /** Called with every byte of the archive, in order, exactly once (sha256 diffID / fs-verity of the tar). */
  tap?: (chunk: Uint8Array) => void;
  /** Return true to receive an entry's stored data bytes (data = the storedSize bytes at dataOffset). */
  wantData?: (e: TarEntry) => boolean;
  onWarning?: (w: TarWarning) => void;
  /**
   * Offered each plain entry (one ustar/GNU header of a known type, no extension or global
   * headers before it, a valid size, its data within the input at hand) as its raw header block
   * `blk` at offset `at`, before an entry object is made of it. Returning true takes it: the
   * reader skips it and its data and yields nothing for it. Items already read are yielded
   * before the next header is offered, so entries reach the caller in archive order either way.
   * The caller may remove the hook (set it undefined) during the pass.
   */
  takeHeader?: ((blk: Uint8Array, at: number, dialect: Dialect, storedSize: number) => boolean) | undefined;
}

export interface TarEnd {
  /** offset of the end-of-archive marker (or of EOF when missing) = bytes of archive content */
  endOffset: number;
  /** every byte read from the input, trailer and trailing data included */
  totalBytes: number;
}

/** Cap on the data of one pax header or GNU long name / long link record. */
export const MAX_EXTENSION_SIZE = 1 << 20;

/**
 * Reads a tar archive. `input` is either a stream of chunks (any sizes; consumed strictly in
 * order, holding at most one entry's wanted data plus a bounded buffer) or a seekable
 * {@link ByteSource} (read in windows of up to 128 KiB; without `tap`, data that is not wanted
 * is jumped over). Yields one item per logical entry, `data` only when `wantData` said so.
 * Returns where the archive content ends and how many bytes the input held.
 */
export async function* readTar(
  input: AsyncIterable<Uint8Array> | ByteSource,
  opts: TarReadOptions = {},
): AsyncGenerator<{ entry: TarEntry; data?: Uint8Array }, TarEnd> {
  const gen = readTarBatches(input, opts);
  let r = await gen.next();
  while (!r.done) {
    yield* r.value;
    r = await gen.next();
  }
  return r.value;
}

/**
 * {@link readTar} in batches of up to `batch` entries: the same items, with one async
 * generator step per batch instead of per entry (the step costs more than parsing a header
 * when a layer holds hundreds of thousands of small files).
 */
export async function* readTarBatches(
  input: AsyncIterable<Uint8Array> | ByteSource,
  opts: TarReadOptions = {},
  batch = 256,
): AsyncGenerator<{ entry: TarEntry; data?: Uint8Array }[], TarEnd> {
  const inp: TarInput = isByteSource(input) ? new SeekInput(input, opts.tap) : new StreamInput(input, opts.tap);
  const reader = new Reader(inp, opts);
  let complete = false;
  try {
    for (;;) {
      const items: { entry: TarEntry; data?: Uint8Array }[] = [];
      let item: { entry: TarEntry; data?: Uint8Array } | undefined;
      while (items.length < batch) {
        // A header taken directly must not overtake an item not yet handed out.
        if (items.length > 0 && opts.takeHeader) break;
        const quick = reader.nextSync();
        if (quick === TAKEN) continue;
        item = quick === WAIT ? await reader.next() : quick;
        if (!item) break;
        items.push(item);
      }
      if (items.length > 0) yield items;
      if (!item) break;
    }
    const end = await reader.end();
    complete = true;
    return end;
  } finally {
    if (!complete) await inp.close();
  }
}

const utf8 = new TextDecoder('utf-8');

const NO_BYTES = new Uint8Array(0);

/** A copy of the NUL-terminated text of header field `f` (one shared empty array when blank). */
function fieldText(blk: Uint8Array, f: Field): Uint8Array {
  const n = cstringLength(blk, f.offset, f.size);
  return n === 0 ? NO_BYTES : blk.slice(f.offset, f.offset + n);
}

/**
 * uname/gname as strings, remembering the last bytes seen: a layer names the same few owners
 * over and over, and decoding them afresh per entry is garbage per entry.
 */
class OwnerNames {
  private bytes = new Uint8Array(32);
  private len = -1;
  private text = '';
  get(blk: Uint8Array, f: Field): string {
    const n = cstringLength(blk, f.offset, f.size);
    if (n === this.len) {
      let same = true;
      for (let i = 0; i < n; i++) {
        if (blk[f.offset + i] !== this.bytes[i]) {
          same = false;
          break;
        }
      }
      if (same) return this.text;
    }
    this.bytes.set(blk.subarray(f.offset, f.offset + n));
    this.len = n;
    this.text = utf8.decode(blk.subarray(f.offset, f.offset + n));
    return this.text;
  }
}

function concat(parts: Uint8Array[], total: number): Uint8Array {
  const out = new Uint8Array(total);
  let o = 0;
  for (const p of parts) {
    out.set(p.subarray(0, Math.min(p.length, total - o)), o);
    o += p.length;
    if (o >= total) break;
  }
  return out;
}

/** Field bytes for a message: printable ASCII as is, the rest as \xNN, NULs at the end dropped. */
function shown(field: Uint8Array): string {
  let end = field.length;
  while (end > 0 && field[end - 1] === 0) end--;
  let s = '';
  for (let i = 0; i < Math.min(end, 40); i++) {
    const c = field[i] as number;
    s += c >= 0x20 && c < 0x7f && c !== 0x22 && c !== 0x5c ? String.fromCharCode(c) : `\\x${c.toString(16).padStart(2, '0')}`;
  }
  return end > 40 ? s + '...' : s;
}

function compressionHint(b: Uint8Array): string {
  if (b[0] === 0x1f && b[1] === 0x8b) return ' (it is gzip-compressed: decompress it first)';
  if (b[0] === 0x28 && b[1] === 0xb5 && b[2] === 0x2f && b[3] === 0xfd) return ' (it is zstd-compressed: decompress it first)';
  if (b[0] === 0xfd && b[1] === 0x37 && b[2] === 0x7a && b[3] === 0x58 && b[4] === 0x5a) return ' (it is xz-compressed: decompress it first)';
  if (b[0] === 0x42 && b[1] === 0x5a && b[2] === 0x68) return ' (it is bzip2-compressed: decompress it first)';
  return '';
}

/** Whether header block `blk` carries the checksum of its bytes (unsigned, or signed as some old tars wrote it). */
function checksumMatches(blk: Uint8Array): boolean {
  const chk = headerNumberAt(blk, F.chksum.offset, F.chksum.size);
  return chk === headerSum(blk) || chk === headerSums(blk).signed;
}

/** Bytes of zero padding after `size` bytes of data, up to the next block. */
function paddingOf(size: number): number {
  return (BLOCK - (size % BLOCK)) % BLOCK;
}

/** What {@link Reader.nextSync} returns when the next entry needs waiting or unusual handling. */
const WAIT: unique symbol = Symbol('wait');
/** What {@link Reader.nextSync} returns when `takeHeader` took the entry. */
const TAKEN: unique symbol = Symbol('taken');

/**
 * Type flags whose entry is one header followed by its data: the ones {@link Reader.nextSync}
 * handles (extension headers, sparse, volume and multivolume entries and unknown flags go
 * through {@link Reader.next}).
 */
const PLAIN_FLAGS = new Uint8Array(256);
for (const f of [TYPE.AREG, TYPE.REG, TYPE.CONT, TYPE.LNK, TYPE.SYM, TYPE.CHR, TYPE.BLK, TYPE.DIR, TYPE.GNU_DUMPDIR, TYPE.FIFO]) PLAIN_FLAGS[f] = 1;

class Reader {
  private readonly globals: PaxAttrs = emptyAttrs();
  private readonly unames = new OwnerNames();
  private readonly gnames = new OwnerNames();
  private globalsSeen = false;
  private result: TarEnd | undefined;

  constructor(
    private readonly inp: TarInput,
    private readonly opts: TarReadOptions,
  ) {}

  private fail(code: ErrorCode, message: string, offset: number, path?: Uint8Array): never {
    const info: { offset: number; format: 'tar'; path?: string } = { offset, format: 'tar' };
    if (path) info.path = utf8.decode(path);
    throw new ErofsError(code, message, info);
  }

  private warn(code: TarWarning['code'], message: string, offset: number, path?: Uint8Array): void {
    if (!this.opts.onWarning) return;
    const w: TarWarning = { code, message, offset };
    if (path) w.path = utf8.decode(path);
    this.opts.onWarning(w);
  }

  /** A numeric field of header block `blk`; `signed` allows negative (base-256) values. */
  private num(blk: Uint8Array, f: Field, name: string, at: number, path: Uint8Array | undefined, signed = false): number {
    const v = headerNumberAt(blk, f.offset, f.size);
    if (typeof v === 'number' && v >= 0) return v;
    return this.checkedNum(v, blk.subarray(f.offset, f.offset + f.size), name, at, path, signed);
  }

  /** A numeric field in bytes of its own (sparse maps). */
  private numField(field: Uint8Array, name: string, at: number, path: Uint8Array | undefined): number {
    return this.checkedNum(headerNumber(field), field, name, at, path, false);
  }

  private checkedNum(v: number | string, field: Uint8Array, name: string, at: number, path: Uint8Array | undefined, signed: boolean): number {
    if (typeof v === 'number') {
      if (v < 0 && !signed) this.fail('invalid-value', `header at ${hex(at)}: ${name} ${v} is negative`, at, path);
      return v;
    }
    if (v === 'too-large') this.fail('too-large', `header at ${hex(at)}: ${name} "${shown(field)}" exceeds 2^53`, at, path);
    this.fail('invalid-value', `header at ${hex(at)}: ${name} field "${shown(field)}" is ${v}`, at, path);
  }

  async end(): Promise<TarEnd> {
    if (!this.result) throw new Error('readTar: end() before the last entry');
    return this.result;
  }

  /** Reads the data of an extension header (`size` bytes, then the padding). Valid until the next read. */
  private async extensionData(blk: Uint8Array, at: number, what: string): Promise<Uint8Array> {
    const size = this.num(blk, F.size, 'size', at, undefined);
    if (size > MAX_EXTENSION_SIZE) {
      this.fail('too-large', `${what} at ${hex(at)} has ${size} bytes of data, more than the ${MAX_EXTENSION_SIZE} allowed`, at);
    }
    const padded = Math.ceil(size / BLOCK) * BLOCK;
    const data = await this.inp.read(padded);
    if (data.length < size) {
      this.fail('truncated', `${what} at ${hex(at)}: ${size} bytes of data expected, the input ends after ${data.length}`, at);
    }
    return data.subarray(0, size);
  }

  /**
   * The next entry when it is at hand and plain (the common case: a header of a known type
   * without extension headers, its data skipped within the input at hand): parsed without a
   * promise, which costs more than the header itself on a layer of small files. Anything else
   * returns {@link WAIT} with nothing consumed, and {@link next} reads it.
   */
  nextSync(): { entry: TarEntry; data?: Uint8Array } | undefined | typeof WAIT | typeof TAKEN {
    if (this.result) return undefined;
    const inp = this.inp;
    const blk = inp.peek(BLOCK);
    if (blk === undefined || PLAIN_FLAGS[blk[F.typeflag.offset]!] === 0 || isZeroBlock(blk)) return WAIT;
    if (this.globalsSeen && hasSparse(this.globals)) return WAIT;
    if (!checksumMatches(blk)) return WAIT;
    const at = inp.pos;
    const dialect = dialectOf(blk);
    const take = this.opts.takeHeader;
    if (take && !this.globalsSeen && dialect !== 'v7') {
      const size = headerNumberAt(blk, F.size.offset, F.size.size);
      if (typeof size === 'number' && size >= 0) {
        const total = BLOCK + size + paddingOf(size);
        if (inp.canSkip(total) && take(blk, at, dialect, size)) {
          inp.trySkip(total);
          return TAKEN;
        }
      }
    }
    const entry = this.headEntry(blk, dialect, at, at, this.globalsSeen ? this.globals : undefined, undefined, undefined, at + BLOCK);
    if (this.opts.wantData?.(entry)) return WAIT; // read again by next(), which reads the data
    const total = BLOCK + entry.storedSize + paddingOf(entry.storedSize);
    if (!inp.canSkip(total)) {
      this.checkDataInInput(entry);
      return WAIT;
    }
    inp.trySkip(total);
    return { entry };
  }

  async next(): Promise<{ entry: TarEntry; data?: Uint8Array } | undefined> {
    if (this.result) return undefined;
    const inp = this.inp;
    let first = -1; // the entry's first extension header
    let local: PaxAttrs | undefined;
    let longName: Uint8Array | undefined;
    let longLink: Uint8Array | undefined;
    for (;;) {
      const at = inp.pos;
      const blk = inp.tryRead(BLOCK) ?? (await inp.read(BLOCK));
      if (blk.length < BLOCK || isZeroBlock(blk)) {
        await this.finish(at, blk, first);
        return undefined;
      }
      if (!checksumMatches(blk)) {
        const chkField = chksumField(blk);
        const sums = headerSums(blk);
        if (at === 0) {
          this.fail('bad-magic', `not a tar archive: the first block is neither a tar header nor zeros${compressionHint(blk)}`, 0);
        }
        this.fail(
          'bad-checksum',
          `header at ${hex(at)}: checksum field "${shown(chkField)}" does not match the header (sum ${sums.unsigned}, signed ${sums.signed})`,
          at,
        );
      }
      const dialect = dialectOf(blk);
      const flag = blk[F.typeflag.offset]!;
      if (flag === TYPE.XHD || flag === TYPE.SOLARIS_XHD || flag === TYPE.XGL) {
        const global = flag === TYPE.XGL;
        const data = await this.extensionData(blk, at, global ? 'pax global header' : 'pax header');
        const records = parsePaxRecords(data, at + BLOCK, at);
        const warn = (w: TarWarning): void => this.opts.onWarning?.(w);
        if (global) {
          applyRecords(this.globals, records, at, warn);
          this.globalsSeen = true;
        } else {
          if (first < 0) first = at;
          local ??= cloneAttrs(this.globals);
          applyRecords(local, records, at, warn);
        }
        continue;
      }
      if (flag === TYPE.GNU_LONGNAME || flag === TYPE.GNU_LONGLINK) {
        const data = await this.extensionData(blk, at, flag === TYPE.GNU_LONGNAME ? 'GNU long name' : 'GNU long link name');
        const value = copyBytes(cstring(data));
        if (flag === TYPE.GNU_LONGNAME) longName = value;
        else longLink = value;
        if (first < 0) first = at;
        continue;
      }
      if (flag === TYPE.GNU_VOLHDR) {
        // A volume label names the archive, not a member: GNU tar does not extract it.
        const size = this.num(blk, F.size, 'size', at, undefined);
        await inp.skip(Math.ceil(size / BLOCK) * BLOCK);
        this.warn('unknown-type', `header at ${hex(at)}: GNU volume label ${JSON.stringify(utf8.decode(fieldText(blk, F.name)))} skipped`, at);
        first = -1;
        local = undefined;
        longName = undefined;
        longLink = undefined;
        continue;
      }
      // `return await`: returning the promise itself would cost extra microtask turns per entry.
      return await this.entry(blk, dialect, at, first >= 0 ? first : at, local, longName, longLink);
    }
  }

  /**
   * The entry the main header `blk` describes with the attributes `attrs` (pax, global or
   * local), its data at `dataOffset` and as stored (no sparse map yet: `sparse` undefined,
   * `size` the stored size). Everything it keeps is copied out of `blk`.
   */
  private headEntry(
    blk: Uint8Array,
    dialect: Dialect,
    at: number,
    headerOffset: number,
    attrs: PaxAttrs | undefined,
    longName: Uint8Array | undefined,
    longLink: Uint8Array | undefined,
    dataOffset: number,
  ): TarEntry {
    const flag = blk[F.typeflag.offset]!;

    let path: Uint8Array;
    if (attrs?.sparseName) path = attrs.sparseName;
    else if (attrs?.path) path = attrs.path;
    else if (longName) path = longName;
    else if (dialect === 'ustar' && blk[F.prefix.offset] !== 0) {
      const p = F.prefix.offset;
      const pn = cstringLength(blk, p, F.prefix.size);
      const nn = cstringLength(blk, F.name.offset, F.name.size);
      path = new Uint8Array(pn + 1 + nn);
      path.set(blk.subarray(p, p + pn));
      path[pn] = 0x2f;
      path.set(blk.subarray(F.name.offset, F.name.offset + nn), pn + 1);
    } else path = fieldText(blk, F.name);
    const linkpath = attrs?.linkpath ?? longLink ?? fieldText(blk, F.linkname);

    let type: TarEntryType;
    switch (flag) {
      case TYPE.AREG:
      case TYPE.REG:
      case TYPE.CONT:
      case TYPE.GNU_SPARSE:
        type = 'file';
        break;
      case TYPE.LNK:
        type = 'hardlink';
        break;
      case TYPE.SYM:
        type = 'symlink';
        break;
      case TYPE.CHR:
        type = 'chardev';
        break;
      case TYPE.BLK:
        type = 'blockdev';
        break;
      case TYPE.DIR:
      case TYPE.GNU_DUMPDIR:
        type = 'directory';
        break;
      case TYPE.FIFO:
        type = 'fifo';
        break;
      case TYPE.GNU_MULTIVOL:
        this.fail('unsupported-feature', `header at ${hex(at)}: GNU multivolume continuation ('M') entries are not supported`, at, path);
      default:
        type = 'file';
        this.warn(
          'unknown-type',
          `header at ${hex(at)}: unknown type flag ${flag >= 0x20 && flag < 0x7f ? `'${String.fromCharCode(flag)}'` : hex(flag)}, read as a regular file (as GNU tar does)`,
          at,
          path,
        );
    }
    // Old tars marked directories only by a trailing slash.
    if ((flag === TYPE.AREG || (flag === TYPE.REG && dialect === 'v7')) && path[path.length - 1] === 0x2f) type = 'directory';

    const storedSize = attrs?.size ?? this.num(blk, F.size, 'size', at, path);
    const modeField = this.num(blk, F.mode, 'mode', at, path);
    const uid = attrs?.uid ?? this.num(blk, F.uid, 'uid', at, path);
    const gid = attrs?.gid ?? this.num(blk, F.gid, 'gid', at, path);
    const mtime: TarTime = attrs?.mtime ?? { sec: this.num(blk, F.mtime, 'mtime', at, path, true), nsec: 0 };
    let uname = attrs?.uname;
    let gname = attrs?.gname;
    let devmajor = attrs?.devmajor;
    let devminor = attrs?.devminor;
    if (dialect !== 'v7') {
      uname ??= this.unames.get(blk, F.uname);
      gname ??= this.gnames.get(blk, F.gname);
      if (type === 'chardev' || type === 'blockdev') {
        devmajor ??= this.num(blk, F.devmajor, 'devmajor', at, path);
        devminor ??= this.num(blk, F.devminor, 'devminor', at, path);
      } else {
        // Not a device: writers leave these blank or zero; a value that does not parse is no error.
        const ma = headerNumberAt(blk, F.devmajor.offset, F.devmajor.size);
        const mi = headerNumberAt(blk, F.devminor.offset, F.devminor.size);
        devmajor ??= typeof ma === 'number' && ma >= 0 ? ma : 0;
        devminor ??= typeof mi === 'number' && mi >= 0 ? mi : 0;
      }
    }
    return {
      headerOffset,
      mainHeaderOffset: at,
      dataOffset,
      storedSize,
      type,
      path,
      linkpath,
      mode: modeField & 0o7777,
      uid,
      gid,
      uname: uname ?? '',
      gname: gname ?? '',
      mtime,
      size: storedSize,
      devmajor: devmajor ?? 0,
      devminor: devminor ?? 0,
      sparse: undefined,
      xattrs: attrs && attrs.xattrs.size > 0 ? new Map(attrs.xattrs) : NO_XATTRS,
      format: attrs && dialect === 'ustar' ? 'pax' : dialect, // pax = a ustar header with x/g records (entry.ts)
    };
  }

  /** Fails when the entry's stored data runs past the end of a seekable input. */
  private checkDataInInput(e: TarEntry): void {
    const size = this.inp.size;
    if (size !== undefined && e.dataOffset + e.storedSize > size) {
      this.fail(
        'truncated',
        `header at ${hex(e.mainHeaderOffset)}: ${e.storedSize} bytes of data at ${hex(e.dataOffset)} run past the end of the input (${size} bytes)`,
        e.mainHeaderOffset,
        e.path,
      );
    }
  }

  /** The entry whose main header is `blk` (valid until the next read from the input). */
  private async entry(
    blk: Uint8Array,
    dialect: Dialect,
    at: number,
    headerOffset: number,
    local: PaxAttrs | undefined,
    longName: Uint8Array | undefined,
    longLink: Uint8Array | undefined,
  ): Promise<{ entry: TarEntry; data?: Uint8Array }> {
    const inp = this.inp;
    const attrs = local ?? (this.globalsSeen ? this.globals : undefined);
    const flag = blk[F.typeflag.offset]!;
    const entry = this.headEntry(blk, dialect, at, headerOffset, attrs, longName, longLink, inp.pos);
    const { path, storedSize, type } = entry;

    // Old GNU sparse: the map is in the header and in extension blocks after it.
    let pairs: number[] | undefined;
    let realSize: number | undefined;
    if (flag === TYPE.GNU_SPARSE) {
      if (dialect !== 'gnu') {
        this.fail('unsupported-feature', `header at ${hex(at)}: sparse ('S') entry without the GNU magic (star's sparse format is not supported)`, at, path);
      }
      const g = decode(gnuHeader, blk, 0, at, false);
      // Read before the extension blocks: they may be read into the buffer that holds `blk`.
      realSize = this.numField(g.realsize, 'realsize', at, path);
      pairs = [];
      let open = this.sparseDescriptors(g.sp, SPARSES_IN_OLDGNU_HEADER, pairs, at, path);
      let extended = g.isextended !== 0;
      while (extended) {
        const ext = inp.pos;
        const blk = inp.tryRead(BLOCK) ?? (await inp.read(BLOCK));
        if (blk.length < BLOCK) this.fail('truncated', `sparse extension block at ${hex(ext)} of the entry at ${hex(at)}: the input ends`, at, path);
        const sh = decode(gnuSparseHeader, blk, 0, ext, false);
        if (open) open = this.sparseDescriptors(sh.sp, SPARSES_IN_SPARSE_HEADER, pairs, ext, path);
        extended = sh.isextended !== 0;
      }
    }
    const dataOffset = inp.pos;
    entry.dataOffset = dataOffset;
    this.checkDataInInput(entry);

    // pax sparse (GNU formats 0.0, 0.1, 1.0): the 1.0 map is at the start of the data.
    let consumed = 0;
    let mapBlocks: Uint8Array[] | undefined;
    let base = dataOffset;
    if (!pairs && type === 'file' && attrs && hasSparse(attrs)) {
      const major = attrs.sparseMajor;
      const minor = attrs.sparseMinor;
      let version: '0.0' | '0.1' | '1.0';
      if (major === undefined && minor === undefined) version = attrs.sparseMap ? '0.1' : '0.0';
      else if (major === 1 && (minor ?? 0) === 0) version = '1.0';
      else if (major === 0 && minor === 1) version = '0.1';
      else if (major === 0 && (minor ?? 0) === 0) version = '0.0';
      else {
        this.fail('unsupported-feature', `header at ${hex(at)}: GNU sparse format ${major ?? '?'}.${minor ?? '?'} is not supported`, at, path);
      }
      if (version === '1.0') {
        const keep = this.opts.wantData !== undefined;
        const m = await this.sparseMap10(at, dataOffset, storedSize, path, keep);
        pairs = m.pairs;
        consumed = m.bytes;
        base = dataOffset + m.bytes;
        if (keep) mapBlocks = m.blocks;
      } else if (version === '0.1') {
        if (!attrs.sparseMap) this.fail('invalid-value', `header at ${hex(at)}: GNU sparse 0.1 entry without GNU.sparse.map`, at, path);
        pairs = attrs.sparseMap;
      } else {
        const offs = attrs.sparseOffsets;
        const lens = attrs.sparseNumbytes;
        if (offs.length !== lens.length) {
          this.fail('invalid-value', `header at ${hex(at)}: ${offs.length} GNU.sparse.offset records but ${lens.length} GNU.sparse.numbytes`, at, path);
        }
        pairs = [];
        for (let i = 0; i < offs.length; i++) pairs.push(offs[i] as number, lens[i] as number);
      }
      if (version !== '1.0' && attrs.sparseNumblocks !== undefined && attrs.sparseNumblocks !== pairs.length / 2) {
        this.fail('invalid-value', `header at ${hex(at)}: GNU.sparse.numblocks ${attrs.sparseNumblocks} but the map has ${pairs.length / 2} segments`, at, path);
      }
      realSize = attrs.sparseRealSize;
    }

    if (pairs) {
      const laid = this.layoutSparse(pairs, base, storedSize - consumed, realSize, at, path);
      entry.sparse = laid.segments;
      entry.size = laid.size;
    }

    const rest = storedSize - consumed;
    let data: Uint8Array | undefined;
    if (this.opts.wantData?.(entry)) {
      const tail = await inp.readOwned(rest);
      if (tail.length < rest) this.dataTruncated(entry, consumed + tail.length);
      data = mapBlocks ? concat([...mapBlocks, tail], storedSize) : tail;
    } else if (!inp.trySkip(rest)) {
      const skipped = await inp.skip(rest);
      if (skipped < rest) this.dataTruncated(entry, consumed + skipped);
    }
    const padding = paddingOf(storedSize);
    if (!inp.trySkip(padding)) await inp.skip(padding); // a short tail is reported at the end
    return data ? { entry, data } : { entry };
  }

  private dataTruncated(e: TarEntry, got: number): never {
    this.fail(
      'truncated',
      `header at ${hex(e.mainHeaderOffset)}: ${e.storedSize} bytes of data at ${hex(e.dataOffset)} expected, the input ends after ${got}`,
      e.mainHeaderOffset,
      e.path,
    );
  }

  /** Appends the descriptors of a `struct sparse` array; false once an empty one ends the list. */
  private sparseDescriptors(sp: Uint8Array, count: number, pairs: number[], at: number, path: Uint8Array): boolean {
    for (let i = 0; i < count; i++) {
      const d = decode(gnuSparse, sp, i * gnuSparse.size, at, false);
      if (d.numbytes[0] === 0) return false;
      if (pairs.length >= 2 * MAX_SPARSE_SEGMENTS) this.fail('too-large', `sparse map at ${hex(at)} has more than ${MAX_SPARSE_SEGMENTS} segments`, at, path);
      pairs.push(this.numField(d.offset, `sparse[${pairs.length / 2}].offset`, at, path), this.numField(d.numbytes, `sparse[${pairs.length / 2}].numbytes`, at, path));
    }
    return true;
  }

  /**
   * GNU sparse 1.0: decimal numbers, one per line — the segment count, then offset and length
   * of each segment — padded with NULs to a block boundary, at the start of the stored data.
   */
  private async sparseMap10(
    at: number,
    dataOffset: number,
    storedSize: number,
    path: Uint8Array,
    keep: boolean,
  ): Promise<{ pairs: number[]; bytes: number; blocks: Uint8Array[] }> {
    const nums: number[] = [];
    const blocks: Uint8Array[] = [];
    let count = -1;
    let cur = 0;
    let digits = 0;
    let bytes = 0;
    const bad = (why: string): never => this.fail('invalid-value', `GNU sparse 1.0 map at ${hex(dataOffset)} (header at ${hex(at)}): ${why}`, at, path);
    for (;;) {
      if (bytes + BLOCK > storedSize) bad(`the map runs past the ${storedSize} stored bytes`);
      const blk = this.inp.tryRead(BLOCK) ?? (await this.inp.read(BLOCK));
      if (blk.length < BLOCK) this.fail('truncated', `GNU sparse 1.0 map at ${hex(dataOffset + bytes)}: the input ends`, at, path);
      if (keep) blocks.push(copyBytes(blk));
      bytes += BLOCK;
      for (let i = 0; i < BLOCK; i++) {
        const c = blk[i] as number;
        if (c >= 0x30 && c <= 0x39) {
          cur = cur * 10 + (c - 0x30);
          if (++digits > 16 || !Number.isSafeInteger(cur)) bad('a number exceeds 2^53');
        } else if (c === 0x0a && digits > 0) {
          nums.push(cur);
          cur = 0;
          digits = 0;
          if (nums.length === 1) {
            count = nums[0] as number;
            if (count > MAX_SPARSE_SEGMENTS) this.fail('too-large', `GNU sparse 1.0 map at ${hex(dataOffset)}: ${count} segments, more than ${MAX_SPARSE_SEGMENTS}`, at, path);
          }
          if (nums.length === 1 + 2 * count) return { pairs: nums.slice(1), bytes, blocks };
        } else {
          bad(`unexpected byte 0x${c.toString(16)} at ${hex(dataOffset + bytes - BLOCK + i)}`);
        }
      }
    }
  }

  /** Checks a sparse map (offset, length pairs) and places its segments in the stored data at `base`. */
  private layoutSparse(
    pairs: number[],
    base: number,
    available: number,
    realSize: number | undefined,
    at: number,
    path: Uint8Array,
  ): { segments: SparseSegment[]; size: number } {
    const segments: SparseSegment[] = [];
    let end = 0;
    let stored = 0;
    for (let i = 0; i < pairs.length; i += 2) {
      const offset = pairs[i] as number;
      const length = pairs[i + 1] as number;
      if (offset < end) this.fail('invalid-value', `header at ${hex(at)}: sparse segment ${i / 2} at ${offset} overlaps or precedes the one before (ending at ${end})`, at, path);
      end = offset + length;
      if (!Number.isSafeInteger(end)) this.fail('too-large', `header at ${hex(at)}: sparse segment ${i / 2} ends beyond 2^53`, at, path);
      if (length > 0) segments.push({ offset, length, tarOffset: base + stored });
      stored += length;
    }
    if (stored > available) {
      this.fail('invalid-value', `header at ${hex(at)}: the sparse map describes ${stored} stored bytes, only ${available} are stored`, at, path);
    }
    const size = realSize ?? end;
    if (size < end) this.fail('invalid-value', `header at ${hex(at)}: sparse real size ${size} is less than the end of the last segment (${end})`, at, path);
    return { segments, size };
  }

  /** The end of the archive: `blk` is the zero (or short) block read at `at`. */
  private async finish(at: number, blk: Uint8Array, first: number): Promise<void> {
    const inp = this.inp;
    if (first >= 0) {
      if (blk.length === 0) this.fail('truncated', `extension header at ${hex(first)} is not followed by an entry: the input ends at ${hex(at)}`, first);
      if (isZeroBlock(blk)) this.fail('invalid-value', `extension header at ${hex(first)} is followed by the end-of-archive marker at ${hex(at)}, not by an entry`, first);
    }
    let nonZeroAt: number | undefined;
    if (blk.length === 0) {
      this.warn('missing-end-marker', `the archive ends at ${hex(at)} without an end-of-archive marker`, at);
    } else if (blk.length < BLOCK) {
      if (!isZeroBlock(blk)) {
        // A short file that never looked like a tar is not a truncated one.
        const ustar = blk.length >= 262 && String.fromCharCode(...blk.subarray(257, 262)) === 'ustar';
        if (at === 0 && !ustar) this.fail('bad-magic', `not a tar archive: ${blk.length} bytes, less than one 512-byte header${compressionHint(blk)}`, 0);
        this.fail('truncated', `header at ${hex(at)}: only ${blk.length} of ${BLOCK} bytes before the end of the input`, at);
      }
      this.warn('missing-end-marker', `the archive ends at ${hex(at + blk.length)} inside a zero block, without a complete end-of-archive marker`, at);
    } else {
      const second = await inp.read(BLOCK);
      if (second.length < BLOCK || !isZeroBlock(second)) {
        this.warn('lone-zero-block', `a single zero block at ${hex(at)} ends the archive (the end-of-archive marker is two)`, at);
        const i = second.findIndex((b) => b !== 0);
        if (i >= 0) nonZeroAt = at + BLOCK + i;
      }
    }
    const drained = await inp.drain();
    nonZeroAt ??= drained.nonZeroAt;
    if (nonZeroAt !== undefined) {
      this.warn('trailing-data', `data after the end of the archive (first non-zero byte at ${hex(nonZeroAt)}) is ignored`, nonZeroAt);
    }
    this.result = { endOffset: at, totalBytes: drained.total };
  }
}
