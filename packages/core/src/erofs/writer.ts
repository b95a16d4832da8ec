/**
 * The EROFS image writer. It lays out first — every inode's nid, every data block, every
 * size — as a pure function of the tree and the options, then writes the bytes through the
 * structure tables. The same input therefore always gives the same bytes.
 *
 * Layouts written: FLAT_INLINE / FLAT_PLAIN for directories and symlinks (tails inlined when
 * they fit the inode's block), CHUNK_BASED with 8-byte chunk indexes for regular files whose
 * data lives on an extra device or is copied into the image, FLAT_PLAIN (size 0) for empty
 * files and special files. Xattrs are stored inline with a name bloom filter.
 */
import { ErofsError, hex } from '../errors.js';
import type { ByteSource } from '../io/source.js';
import { crc32c } from './checksum.js';
import { encode } from '../layout/struct.js';
import {
  CHUNK_FORMAT_INDEXES,
  DataLayout,
  EROFS_NULL_ADDR,
  EROFS_SUPER_MAGIC,
  EROFS_SUPER_OFFSET,
  XATTR_FILTER_SEED,
  XATTR_LONG_PREFIX_BIT,
  chunkIndex,
  deviceSlot,
  dirent,
  fileTypeOfMode,
  inodeCompact,
  inodeExtended,
  superBlock,
  xattrEntry,
  xattrIbodyHeader,
} from './format.js';
import { COMPAT_MTIME, COMPAT_SB_CHKSUM, COMPAT_XATTR_FILTER, INCOMPAT_CHUNKED_FILE, INCOMPAT_DEVICE_TABLE, INCOMPAT_XATTR_PREFIXES } from './features.js';
import { XattrNamer, chooseLongPrefixes, longPrefix, longPrefixTable, type StoredXattrs } from './long-prefixes.js';
import { splitXattrName } from './xattr.js';
import { xxh32 } from './xxhash.js';
import { S_IFBLK, S_IFCHR, S_IFDIR, S_IFLNK, S_IFMT, S_IFREG, keyBytes, nameKey, type TreeNode } from '../tree/node.js';

export interface ExtraDevice {
  /** Device size in blocks. */
  blocks: number;
  /** Device tag (digest or path), at most 64 bytes; empty by default. */
  tag?: Uint8Array;
}

export interface WriterOptions {
  /** log2 of the block size: 9 (512) for tar indexes, 12 (4096) by default elsewhere. */
  blkszbits: number;
  devices?: ExtraDevice[];
  uuid?: Uint8Array;
  volumeName?: Uint8Array;
  /**
   * Superblock time base. Compact inodes are used for inodes whose mtime equals it exactly.
   * Default: the most common mtime in the tree (ties: the earliest).
   */
  epoch?: { sec: number; nsec: number };
  /** Write the xattr name bloom filter (COMPAT_XATTR_FILTER). Default true. */
  xattrFilter?: boolean;
  /**
   * Where inodes go: one after the other in tree order ('sequential', the default, what tar
   * indexes use), or 'best-fit': an inode whose tail does not fit the rest of a block starts
   * the next block, and later inodes that fit fill the space it left (smaller images).
   */
  packInodes?: 'sequential' | 'best-fit';
  /** Store an xattr that two or more inodes carry once, referenced by id (as mkfs.erofs). Default false. */
  sharedXattrs?: boolean;
  /** Every inode extended (64 bytes, own mtime), as mkfs.erofs -E force-inode-extended. */
  forceExtended?: boolean;
  /**
   * Compact inodes (32 bytes) wherever uid, gid, link count and size fit them, their mtimes
   * given up for the superblock's time base, as mkfs.erofs -E force-inode-compact.
   */
  forceCompact?: boolean;
  /**
   * Long xattr name prefixes (INCOMPAT_XATTR_PREFIXES, Linux 6.4): 'auto' defines those that
   * make the image smaller ({@link chooseLongPrefixes}), a list defines exactly those (each
   * extending `user.`, `trusted.` or `security.`), as mkfs.erofs --xattr-prefix. The table is
   * stored in the metadata after the device table. Default: none.
   */
  longPrefixes?: 'auto' | readonly string[];
  /**
   * log2 of a chunk size (at least the block size): copied files (`input` data) become
   * CHUNK_BASED with chunks of this size instead of FLAT (mkfs.erofs --chunksize).
   */
  chunkBits?: number;
  /**
   * Copied files' data goes to a blob (extra device 1, added to the device table) instead of
   * the image; needs `chunkBits`. {@link writeImageTo} writes it to its `blob` sink.
   */
  blob?: boolean;
  /**
   * Regular files whose bytes are copied in (`input` data) keep a partial last block inline
   * after the inode when it fits (FLAT_INLINE), as mkfs.erofs does unless `-E noinline_data`.
   * Default true.
   */
  inlineData?: boolean;
}

/** Where {@link writeImageTo} puts the image: positioned writes, in increasing offsets. */
export interface ImageSink {
  write(offset: number, bytes: Uint8Array): Promise<void> | void;
}

/** How far {@link writeImageTo} is: files copied of those with data, bytes written of the image. */
export interface WriteProgress {
  files: number;
  totalFiles: number;
  bytes: number;
  totalBytes: number;
}

export interface WriteResult {
  image: Uint8Array;
  blocks: number;
  inodes: number;
  rootNid: number;
}

/** What the layout pass decides for one inode. */
interface Slot {
  node: TreeNode;
  ino: number;
  compact: boolean;
  isize: number;
  xattrs: Uint8Array;
  layout: number;
  /** Logical data size written in i_size. */
  size: number;
  /** Directory content (whole, all blocks). */
  dirBytes: Uint8Array | undefined;
  /** Inline tail bytes (dirs, symlinks). */
  tail: Uint8Array | undefined;
  /** Bytes of the inline tail (of `tail`, or of a copied file's last partial block). */
  tailLen: number;
  /** A regular file copied in from its input: the bytes, and how many data blocks it takes. */
  input: { source: ByteSource; offset: number } | undefined;
  dataBlocks: number;
  /** Full blocks of data to place in the data area (dirs, symlinks, copied file data). */
  blockData: Uint8Array | undefined;
  /**
   * Chunk table (CHUNK_BASED), two numbers per chunk: device id and block address; device
   * CHUNK_HOLE for a hole, CHUNK_COPY for copied data (the address is then the copy's index).
   * Flat, because a layer of small files has one chunk per file and an object per chunk is
   * garbage per file.
   */
  chunks: number[] | undefined;
  chunkbits: number | undefined;
  /** Copied file data blocks (CHUNK_BASED with device 0), in order of copyIndex. */
  copies: Uint8Array[] | undefined;
  nlink: number;
  offset: number;
  nid: number;
  startblk: number;
  copyStart: number;
  /** Directory entries, `.` and `..` included, sorted: names as latin1 keys, and each one's slot index. */
  entries: Entries | undefined;
}

const XATTR_MAX_VALUE = 65535;
const CHUNK_HOLE = -1;
const CHUNK_COPY = -2;
const EMPTY = new Uint8Array(0);

export function alignUp(n: number, a: number): number {
  return Math.ceil(n / a) * a;
}

function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return a[i]! - b[i]!;
  return a.length - b.length;
}

/** A directory's entries as two parallel arrays (a pair per entry would be garbage per inode). */
interface Entries {
  names: string[];
  index: number[];
}

/**
 * `.`, `..` and the children, sorted by name bytes (names are latin1 keys, whose UTF-16 code
 * unit order equals byte order).
 */
function sortedEntries(self: number, parent: number, children: Entries): Entries {
  const n = children.names.length + 2;
  const names = ['.', '..', ...children.names];
  const index = [self, parent, ...children.index];
  let sorted = true;
  for (let k = 1; k < n && sorted; k++) if (names[k - 1]! >= names[k]!) sorted = false;
  if (sorted) return { names, index };
  const order = Array.from({ length: n }, (_, k) => k);
  order.sort((a, b) => (names[a]! < names[b]! ? -1 : names[a]! > names[b]! ? 1 : 0));
  return { names: order.map((k) => names[k]!), index: order.map((k) => index[k]!) };
}

/** Linux new_encode_dev. */
export function encodeDev(major: number, minor: number): number {
  return ((minor & 0xff) | (major << 8) | ((minor & ~0xff) << 12)) >>> 0;
}

/** Inline xattr body: header (with bloom filter), no shared ids, entries sorted by (index, name). */
function xattrBody(node: TreeNode, filter: boolean, where: string, namer: XattrNamer, shared?: Map<string, number>): Uint8Array {
  if (node.xattrs.size === 0) return new Uint8Array(0);
  const items: { index: number; suffix: Uint8Array; value: Uint8Array; name: string }[] = [];
  let bits = 0;
  for (const [name, value] of node.xattrs) {
    const { index, suffix } = namer.encode(name);
    if (index === 0) throw new ErofsError('unsupported-feature', `${where}: xattr ${name} has no EROFS name prefix (the kernel could not read it)`, { path: where });
    if (suffix.length > 255) throw new ErofsError('too-large', `${where}: xattr name ${name} is longer than 255 bytes after its prefix`, { path: where });
    if (value.length > XATTR_MAX_VALUE) throw new ErofsError('too-large', `${where}: xattr ${name} value of ${value.length} bytes exceeds ${XATTR_MAX_VALUE}`, { path: where });
    items.push({ index, suffix, value, name });
    // The filter hashes the name after its short prefix, whatever prefix stores it.
    const short = index & XATTR_LONG_PREFIX_BIT ? splitXattrName(name) : undefined;
    bits |= 1 << (xxh32(short ? FILTER_ENC.encode(short.suffix) : suffix, (XATTR_FILTER_SEED + (short ? short.index : index)) >>> 0) & 31);
  }
  items.sort((a, b) => a.index - b.index || compareBytes(a.suffix, b.suffix));
  // Shared ones are referenced by id (at most 255, the header's count); the rest stay inline.
  const ids: number[] = [];
  const inline: typeof items = [];
  for (const it of items) {
    const id = shared?.get(sharedKey(it.name, it.value));
    if (id !== undefined && ids.length < 255) ids.push(id);
    else inline.push(it);
  }
  let len = xattrIbodyHeader.size + 4 * ids.length;
  for (const it of inline) len += alignUp(xattrEntry.size + it.suffix.length + it.value.length, 4);
  if ((len - xattrIbodyHeader.size) / 4 + 1 > 0xffff) throw new ErofsError('too-large', `${where}: xattrs take ${len} bytes, more than an inode can hold`, { path: where });
  const out = new Uint8Array(len);
  encode(xattrIbodyHeader, { h_name_filter: filter ? ~bits >>> 0 : 0, h_shared_count: ids.length }, out, 0);
  let p = xattrIbodyHeader.size;
  const dv = new DataView(out.buffer, out.byteOffset, out.length);
  for (const id of ids) {
    dv.setUint32(p, id, true);
    p += 4;
  }
  for (const it of inline) {
    encode(xattrEntry, { e_name_len: it.suffix.length, e_name_index: it.index, e_value_size: it.value.length }, out, p);
    out.set(it.suffix, p + 4);
    out.set(it.value, p + 4 + it.suffix.length);
    p += alignUp(xattrEntry.size + it.suffix.length + it.value.length, 4);
  }
  return out;
}

const FILTER_ENC = new TextEncoder();

/** The identity of an xattr for sharing: its full name and its value bytes. */
function sharedKey(name: string, value: Uint8Array): string {
  return name + '\u0000' + nameKey(value);
}

/**
 * Shared xattrs: every (name, value) that two or more inodes carry is stored once in the
 * xattr area and referenced by id (its offset there / 4), as mkfs.erofs does. Returns the ids
 * and the area's bytes (undefined when nothing is shared).
 */
function shareXattrs(order: TreeNode[], namer: XattrNamer): { ids: Map<string, number>; area: Uint8Array } | undefined {
  const counts = new Map<string, { name: string; value: Uint8Array; n: number }>();
  for (const node of order) {
    for (const [name, value] of node.xattrs) {
      const k = sharedKey(name, value);
      const c = counts.get(k);
      if (c) c.n++;
      else counts.set(k, { name, value, n: 1 });
    }
  }
  const entries: { key: string; index: number; suffix: Uint8Array; value: Uint8Array }[] = [];
  for (const [key, c] of counts) {
    if (c.n < 2) continue;
    const { index, suffix } = namer.encode(c.name);
    if (index === 0) continue; // refused with the inode's path when its body is built
    entries.push({ key, index, suffix, value: c.value });
  }
  if (entries.length === 0) return undefined;
  entries.sort((a, b) => a.index - b.index || compareBytes(a.suffix, b.suffix) || compareBytes(a.value, b.value));
  let size = 0;
  for (const e of entries) size += alignUp(xattrEntry.size + e.suffix.length + e.value.length, 4);
  const area = new Uint8Array(size);
  const ids = new Map<string, number>();
  let p = 0;
  for (const e of entries) {
    ids.set(e.key, p / 4);
    encode(xattrEntry, { e_name_len: e.suffix.length, e_name_index: e.index, e_value_size: e.value.length }, area, p);
    area.set(e.suffix, p + 4);
    area.set(e.value, p + 4 + e.suffix.length);
    p += alignUp(xattrEntry.size + e.suffix.length + e.value.length, 4);
  }
  return { ids, area };
}

/**
 * What the writer will store, for choosing long prefixes: per xattr name, how many entries
 * have each value length (an xattr that sharing stores once counts once).
 */
function storedXattrs(order: TreeNode[], sharing: boolean): StoredXattrs {
  const out: StoredXattrs = new Map();
  const seen = new Map<string, number>();
  if (sharing) {
    for (const node of order) {
      for (const [name, value] of node.xattrs) {
        const k = sharedKey(name, value);
        seen.set(k, (seen.get(k) ?? 0) + 1);
      }
    }
  }
  const counted = new Set<string>();
  for (const node of order) {
    for (const [name, value] of node.xattrs) {
      if (sharing) {
        const k = sharedKey(name, value);
        if (seen.get(k)! >= 2) {
          if (counted.has(k)) continue;
          counted.add(k);
        }
      }
      let values = out.get(name);
      if (!values) out.set(name, (values = new Map()));
      values.set(value.length, (values.get(value.length) ?? 0) + 1);
    }
  }
  return out;
}

/** Packs sorted dirents into blocks; returns the directory's bytes and the name offsets. */
function packDirents(names: string[], bs: number): { bytes: Uint8Array; blocks: { start: number; count: number; used: number }[] } {
  const blocks: { start: number; count: number; used: number }[] = [];
  let cur = { start: 0, count: 0, used: 0 };
  for (let i = 0; i < names.length; i++) {
    const need = dirent.size + names[i]!.length;
    if (cur.count > 0 && cur.used + need > bs) {
      blocks.push(cur);
      cur = { start: i, count: 0, used: 0 };
    }
    cur.count++;
    cur.used += need;
  }
  blocks.push(cur);
  const size = (blocks.length - 1) * bs + blocks[blocks.length - 1]!.used;
  return { bytes: new Uint8Array(size), blocks };
}

/** The layout of an image: every decision made, nothing written yet. */
interface Layout {
  bits: number;
  bs: number;
  slots: Slot[];
  devices: ExtraDevice[];
  devtOff: number;
  /** The long-prefix table: how many, where (a multiple of 4), its bytes. */
  prefixes: { count: number; offset: number; table: Uint8Array } | undefined;
  epoch: { sec: number; nsec: number };
  filter: boolean;
  /** First byte of the data area (end of the inodes, block-aligned). */
  dataStart: number;
  totalBlocks: number;
  /** Blocks of the blob device (copied files' data with the `blob` option), else 0. */
  blobBlocks: number;
  /** Shared xattrs, stored at block `xattrBlkaddr` (the start of the data area). */
  xattrArea: Uint8Array | undefined;
  xattrBlkaddr: number;
}

/**
 * Writes an image whose files all live in the tree or on extra devices (no `input` data)
 * into one buffer.
 */
export function writeImage(root: TreeNode, opts: WriterOptions): WriteResult {
  const L = layOut(root, opts);
  if (L.slots.some((s) => s.input)) throw new Error('writeImage: files copied from an input need writeImageTo');
  const img = new Uint8Array(L.totalBlocks * L.bs);
  writeSuperblock(img, L, opts);
  for (const s of L.slots) writeInode(img, 0, s, L.bs, L.bits, L.slots, s.tail);
  if (L.xattrArea) img.set(L.xattrArea, L.xattrBlkaddr * L.bs);
  for (const s of L.slots) writeData(img, 0, s, L.bs);
  return { image: img, blocks: L.totalBlocks, inodes: L.slots.length, rootNid: L.slots[0]!.nid };
}

/**
 * Writes an image to `sink` in increasing offsets: the metadata (superblock, inodes with
 * their xattrs and inline tails) through a window of whole blocks, then the data area block
 * by block, with the bytes of `input` files read from their sources as they are written. The
 * superblock checksum is set for 4096-byte blocks (as mkfs.erofs does). Memory: the layout,
 * a 1 MiB metadata window and one 128 KiB piece of data at a time.
 */
export async function writeImageTo(
  root: TreeNode,
  opts: WriterOptions,
  sink: ImageSink,
  onProgress?: (p: WriteProgress) => void,
  blobSink?: ImageSink,
): Promise<Omit<WriteResult, 'image'> & { blobBlocks: number }> {
  const L = layOut(root, opts);
  const bs = L.bs;
  if (opts.blob && !blobSink) throw new Error('writeImageTo: the blob option needs a blob sink');
  const progress: WriteProgress = { files: 0, totalFiles: 0, bytes: 0, totalBytes: (L.totalBlocks + L.blobBlocks) * bs };
  for (const s of L.slots) if (s.input) progress.totalFiles++;
  // The metadata area through a window of whole blocks, inodes in offset order (best-fit
  // placement is not tree order): memory stays small whatever the inline tails add up to.
  const headEnd = L.prefixes ? L.prefixes.offset + L.prefixes.table.length : EROFS_SUPER_OFFSET + superBlock.size + L.devices.length * deviceSlot.size;
  let win = new Uint8Array(Math.max(META_WINDOW, alignUp(headEnd, bs)));
  let base = 0;
  let summed = false;
  const flush = async (upTo: number): Promise<void> => {
    const cut = upTo - base;
    if (cut <= 0) return;
    if (!summed && base === 0 && bs === 4096) {
      // crc32c of the superblock's block from the superblock on, with the checksum field zero
      // (every inode in that block is written by now).
      const v = new DataView(win.buffer, win.byteOffset);
      v.setUint32(EROFS_SUPER_OFFSET + 8, v.getUint32(EROFS_SUPER_OFFSET + 8, true) | COMPAT_SB_CHKSUM, true);
      v.setUint32(EROFS_SUPER_OFFSET + 4, crc32c(0xffffffff, win.subarray(EROFS_SUPER_OFFSET, bs)), true);
      summed = true;
    }
    await sink.write(base, win.subarray(0, cut));
    win.copyWithin(0, cut);
    win.fill(0, win.length - cut);
    base += cut;
  };
  writeSuperblock(win, L, opts);
  for (const s of [...L.slots].sort((a, b) => a.offset - b.offset)) {
    const end = recordEnd(s);
    if (end - base > win.length) {
      // Flush the whole blocks before this inode; grow the window for a record larger than it.
      await flush(Math.floor(s.offset / bs) * bs);
      if (end - base > win.length) {
        const bigger = new Uint8Array(alignUp(end - base, bs));
        bigger.set(win);
        win = bigger;
      }
    }
    let tail = s.tail;
    if (s.input && s.tailLen > 0) tail = await readInput(s, s.node.size - s.tailLen, s.tailLen);
    writeInode(win, base, s, bs, L.bits, L.slots, tail);
  }
  await flush(L.dataStart);
  progress.bytes = L.dataStart;
  if (L.xattrArea) {
    const area = new Uint8Array(Math.ceil(L.xattrArea.length / bs) * bs);
    area.set(L.xattrArea);
    await sink.write(L.xattrBlkaddr * bs, area);
    progress.bytes += area.length;
  }
  onProgress?.(progress);
  // The data area in block order (slots were given blocks in their order), through one
  // buffer per sink: consecutive files' blocks go out in 128 KiB writes, and a source that can
  // (`readInto`) reads straight into that buffer.
  const main = new Coalescer(sink, (n) => {
    progress.bytes += n;
    onProgress?.(progress);
  });
  const blobOut = opts.blob ? new Coalescer(blobSink!, (n) => (progress.bytes += n)) : undefined;
  for (const s of L.slots) {
    if (s.input && s.dataBlocks > 0) {
      const out = blobOut ?? main;
      const start = s.startblk * bs;
      const bytes = Math.min(s.node.size, s.dataBlocks * bs);
      for (let o = 0; o < s.dataBlocks * bs; o += Coalescer.SIZE) {
        const n = Math.min(Coalescer.SIZE, s.dataBlocks * bs - o);
        const have = Math.max(0, Math.min(n, bytes - o));
        const part = await out.reserve(start + o, n);
        if (have > 0) {
          const { source, offset: base } = s.input;
          if (source.readInto) source.readInto(base + o, part.subarray(0, have));
          else part.set(await readInput(s, o, have));
        }
        part.fill(0, have); // the last block's padding
      }
    } else {
      const extent = dataExtent(s, bs);
      if (extent) {
        const part = extent.blocks * bs <= Coalescer.SIZE ? await main.reserve(extent.start * bs, extent.blocks * bs) : new Uint8Array(extent.blocks * bs);
        part.fill(0);
        writeData(part, extent.start * bs, s, bs);
        if (part.length > Coalescer.SIZE) {
          await main.flush();
          await sink.write(extent.start * bs, part);
          progress.bytes += part.length;
        }
      }
    }
    if (s.input) progress.files++;
  }
  await main.flush();
  await blobOut?.flush();
  onProgress?.(progress);
  return { blocks: L.totalBlocks, inodes: L.slots.length, rootNid: L.slots[0]!.nid, blobBlocks: L.blobBlocks };
}

/**
 * Gathers consecutive pieces of the data area into one buffer and writes it when the next
 * piece does not follow on or does not fit: a layer of small files is written in 128 KiB
 * writes, not one per file. The sink has consumed the bytes when its write returns (as
 * every ImageSink must), so the buffer is reused. 128 KiB, not more: a buffer that stays in
 * the core's cache is filled by read() and emptied by write() faster than a larger one,
 * which both copies fetch from memory (copying rootfs.tar to tmpfs through one buffer:
 * 175 ms with 64–128 KiB, 250–275 ms with 256 KiB to 8 MiB).
 */
class Coalescer {
  static readonly SIZE = 128 << 10;
  private readonly buf = new Uint8Array(Coalescer.SIZE);
  private start = 0;
  private len = 0;
  constructor(
    private readonly sink: ImageSink,
    private readonly written: (bytes: number) => void,
  ) {}

  /** A view of `n` (at most SIZE) bytes for image offset `offset`, to be filled before the next call. */
  async reserve(offset: number, n: number): Promise<Uint8Array> {
    if (this.len > 0 && (this.start + this.len !== offset || this.len + n > this.buf.length)) await this.flush();
    if (this.len === 0) this.start = offset;
    const view = this.buf.subarray(this.len, this.len + n);
    this.len += n;
    return view;
  }

  async flush(): Promise<void> {
    if (this.len === 0) return;
    await this.sink.write(this.start, this.buf.subarray(0, this.len));
    this.written(this.len);
    this.len = 0;
  }
}

/** Bytes of metadata {@link writeImageTo} holds at once (whole blocks; more for a larger record). */
const META_WINDOW = 1 << 20;

/** Bytes a slot's record takes in the metadata (core, xattrs, inline tail), 32-byte aligned; chunk tables not counted. */
function recordNeed(s: Slot): number {
  return alignUp(s.isize + s.xattrs.length + s.tailLen, 32);
}

/** The end of a slot's record: core, xattrs, inline tail or chunk table. */
function recordEnd(s: Slot): number {
  const end = s.offset + s.isize + s.xattrs.length + s.tailLen;
  return s.chunks ? alignUp(s.offset + s.isize + s.xattrs.length, chunkIndex.size) + (s.chunks.length / 2) * chunkIndex.size : end;
}

/** `length` bytes at `offset` of a copied file, checked against what its source holds. */
async function readInput(s: Slot, offset: number, length: number): Promise<Uint8Array> {
  const { source, offset: base } = s.input!;
  const b = await source.read(base + offset, length);
  if (b.length !== length) {
    throw new ErofsError('truncated', `${source.name}: ${length} bytes at ${hex(base + offset)} expected, got ${b.length}`, { offset: base + offset, format: 'io' });
  }
  return b;
}

/** The blocks of the data area a slot writes with {@link writeData} (directory/symlink blocks, copies). */
function dataExtent(s: Slot, bs: number): { start: number; blocks: number } | undefined {
  const own = s.blockData && s.blockData.length > 0 ? Math.ceil(s.blockData.length / bs) : 0;
  const copies = s.copies?.length ?? 0;
  if (own + copies === 0) return undefined;
  const start = own > 0 ? s.startblk : s.copyStart;
  return { start, blocks: own > 0 && copies > 0 ? s.copyStart + copies - s.startblk : own + copies };
}

function layOut(root: TreeNode, opts: WriterOptions): Layout {
  const bits = opts.blkszbits;
  if (bits < 9 || bits > 16) throw new RangeError(`blkszbits ${bits} out of range [9, 16]`);
  const bs = 1 << bits;
  if (opts.blob && opts.chunkBits === undefined) throw new RangeError('writer: a blob needs chunk-based files (chunkBits)');
  if (opts.chunkBits !== undefined && (opts.chunkBits < bits || opts.chunkBits > bits + 31)) throw new RangeError(`chunkBits ${opts.chunkBits} out of range [${bits}, ${bits + 31}]`);
  // The blob is the last extra device; its size is known once the files are placed.
  const devices = [...(opts.devices ?? []), ...(opts.blob ? [{ blocks: 0 }] : [])];
  const blobDevice = opts.blob ? devices.length : 0;
  let blobBlk = 0;
  const filter = opts.xattrFilter ?? true;
  const inlineData = opts.inlineData ?? true;
  const forceExtended = opts.forceExtended ?? false;
  const forceCompact = opts.forceCompact ?? false;
  if (forceExtended && forceCompact) throw new RangeError('writer: forceExtended and forceCompact exclude each other');

  // ---- 1. Order inodes breadth-first; children sorted by name bytes. ----
  // Per-inode facts live in arrays indexed by position in `order`; the one Map finds a
  // node's position (object-keyed Maps are the cost of this pass on large trees).
  const order: TreeNode[] = [root];
  const indexOf = new Map<TreeNode, number>([[root, 0]]);
  const parents: number[] = [0];
  const names: string[] = [''];
  /** Names referring to each node: the link count of non-directories (hard links). */
  const refs: number[] = [0];
  /** Directory entries (without `.` and `..`): names as latin1 keys, child indexes. */
  const entriesOf: (Entries | undefined)[] = [];
  const td = new TextDecoder();
  /** Display path of a node, for error messages only (built on demand). */
  const pathAt = (i: number): string => {
    const parts: string[] = [];
    for (let c = i; c !== 0; c = parents[c]!) parts.push(td.decode(keyBytes(names[c]!)));
    return '/' + parts.reverse().join('/');
  };
  for (let i = 0; i < order.length; i++) {
    const n = order[i]!;
    if ((n.mode & S_IFMT) !== S_IFDIR) continue;
    const ents: Entries = { names: [], index: [] };
    // forEach, not for-of: destructuring Map entries makes an array per child.
    n.children?.forEach((child, key) => {
      let ci = indexOf.get(child);
      if (ci === undefined) {
        ci = order.length;
        indexOf.set(child, ci);
        order.push(child);
        parents.push(i);
        names.push(key);
        refs.push(1);
      } else if ((child.mode & S_IFMT) === S_IFDIR) {
        throw new ErofsError('invalid-value', `${pathAt(i)}: directory reached twice (hard-linked directory)`, { path: pathAt(i) });
      } else {
        refs[ci]!++;
      }
      ents.names.push(key);
      ents.index.push(ci);
    });
    entriesOf[i] = ents;
  }

  // ---- 2. Time base: the most common mtime, unless given. ----
  let epoch = opts.epoch;
  if (!epoch) {
    // Counted per second, then per nanosecond within it (no key strings: one per inode is garbage).
    const counts = new Map<number, { sec: number; nsec: number; count: number }[]>();
    let best: { sec: number; nsec: number; count: number } | undefined;
    for (const n of order) {
      let list = counts.get(n.mtime);
      if (!list) counts.set(n.mtime, (list = []));
      let c = list.find((x) => x.nsec === n.mtimeNsec);
      if (!c) list.push((c = { sec: n.mtime, nsec: n.mtimeNsec, count: 0 }));
      c.count++;
      if (!best || c.count > best.count || (c.count === best.count && (c.sec < best.sec || (c.sec === best.sec && c.nsec < best.nsec)))) best = c;
    }
    epoch = { sec: best!.sec, nsec: best!.nsec };
  }
  if (epoch.sec < 0) epoch = { sec: 0, nsec: 0 }; // the superblock epoch is unsigned

  // ---- Long xattr prefixes, then the shared xattrs stored with them. ----
  const prefixDefs =
    opts.longPrefixes === 'auto' ? chooseLongPrefixes(storedXattrs(order, opts.sharedXattrs ?? false)) : (opts.longPrefixes ?? []).map(longPrefix);
  const namer = new XattrNamer(prefixDefs);
  const sharing = opts.sharedXattrs ? shareXattrs(order, namer) : undefined;

  // ---- 3. Per-inode sizes and layouts. ----
  const slots: Slot[] = [];
  for (let i = 0; i < order.length; i++) {
    const node = order[i]!;
    const type = node.mode & S_IFMT;
    const xattrs = node.xattrs.size ? xattrBody(node, filter, pathAt(i), namer, sharing?.ids) : EMPTY;
    let size = 0;
    let layout: number = DataLayout.FLAT_PLAIN;
    // Every field set here, so all slots share one shape (the writer's hot loops read them).
    const slot: Slot = {
      node,
      ino: i + 1,
      compact: false,
      isize: 64,
      xattrs,
      layout,
      size,
      dirBytes: undefined,
      tail: undefined,
      tailLen: 0,
      input: undefined,
      dataBlocks: 0,
      blockData: undefined,
      chunks: undefined,
      chunkbits: undefined,
      copies: undefined,
      nlink: 1,
      offset: 0,
      nid: 0,
      startblk: EROFS_NULL_ADDR,
      copyStart: 0,
      entries: undefined,
    };
    let nlink = refs[i]!;
    if (type === S_IFDIR) {
      const children = entriesOf[i]!;
      const ents = sortedEntries(i, parents[i]!, children);
      slot.entries = ents;
      const packed = packDirents(ents.names, bs);
      slot.dirBytes = packed.bytes;
      size = packed.bytes.length;
      nlink = 2;
      for (const c of children.index) if ((order[c]!.mode & S_IFMT) === S_IFDIR) nlink++;
    } else if (type === S_IFLNK) {
      size = node.target?.length ?? 0;
      if (size === 0 || size > 4095) throw new ErofsError('invalid-value', `${pathAt(i)}: symlink target of ${size} bytes (must be 1..4095)`, { path: pathAt(i) });
    } else if (type === S_IFREG) {
      size = node.size;
    }
    slot.size = size;
    slot.nlink = nlink;
    slot.compact =
      !forceExtended &&
      (forceCompact || (node.mtime === epoch.sec && node.mtimeNsec === epoch.nsec)) &&
      node.uid <= 0xffff &&
      node.gid <= 0xffff &&
      nlink <= 0xffff &&
      size <= 0xffffffff;
    slot.isize = slot.compact ? inodeCompact.size : inodeExtended.size;
    // Data layout.
    if (type === S_IFDIR || type === S_IFLNK) {
      const content = type === S_IFDIR ? slot.dirBytes! : node.target!;
      const tail = size % bs;
      if (tail !== 0 && slot.isize + xattrs.length + tail <= bs) {
        layout = DataLayout.FLAT_INLINE;
        slot.tail = content.subarray(size - tail);
        slot.tailLen = tail;
        if (size > tail) slot.blockData = content.subarray(0, size - tail);
      } else {
        layout = DataLayout.FLAT_PLAIN;
        slot.blockData = content;
      }
    } else if (type === S_IFREG && size > 0 && node.data?.kind === 'input' && opts.chunkBits !== undefined) {
      // Copied in as chunks: contiguous blocks (in the image or the blob), one index per chunk.
      slot.input = { source: node.data.input, offset: node.data.offset };
      layout = DataLayout.CHUNK_BASED;
      slot.dataBlocks = Math.ceil(size / bs);
      slot.chunkbits = opts.chunkBits;
      slot.chunks = holes(Math.ceil(size / 2 ** opts.chunkBits)); // addresses set once the data is placed
    } else if (type === S_IFREG && size > 0 && node.data?.kind === 'input') {
      // Copied in: full blocks in the data area, the partial last block inline when it fits.
      slot.input = { source: node.data.input, offset: node.data.offset };
      const tail = size % bs;
      if (inlineData && tail !== 0 && slot.isize + xattrs.length + tail <= bs) {
        layout = DataLayout.FLAT_INLINE;
        slot.tailLen = tail;
        slot.dataBlocks = Math.floor(size / bs);
      } else {
        layout = DataLayout.FLAT_PLAIN;
        slot.dataBlocks = Math.ceil(size / bs);
      }
    } else if (type === S_IFREG && size > 0) {
      layout = DataLayout.CHUNK_BASED;
      chunkPlan(slot, bs, bits, pathAt, i, devices.length);
    }
    slot.layout = layout;
    slots.push(slot);
  }

  // ---- 4. Place inodes (nids) after the superblock and device table. ----
  const devtOff = alignUp(EROFS_SUPER_OFFSET + superBlock.size, deviceSlot.size);
  // The long-prefix table (when any) right after the device table.
  const prefixTable = prefixDefs.length ? longPrefixTable(prefixDefs) : undefined;
  const prefixOff = devtOff + devices.length * deviceSlot.size;
  let pos = alignUp(prefixOff + (prefixTable?.length ?? 0), 32);
  // Best fit: a block's unused end, left when the next inode and its tail did not fit there, is
  // remembered by its size (in 32-byte units) and filled by a later inode that fits.
  const gaps: number[][] | undefined = opts.packInodes === 'best-fit' ? Array.from({ length: bs / 32 }, () => []) : undefined;
  // Best fit places the records larger than half a block first (after the root): no two of
  // them share a block anyway, and the ends they leave are then there for every smaller
  // record to fill, in tree order (placed in tree order, a large record coming after the
  // small ones leaves its block's end empty).
  const placement = gaps ? [slots[0]!, ...slots.slice(1).filter((s) => recordNeed(s) > bs / 2), ...slots.slice(1).filter((s) => recordNeed(s) <= bs / 2)] : slots;
  for (const s of placement) {
    const need = recordNeed(s);
    if (gaps && !s.chunks && s !== slots[0] && need <= bs) {
      let placed = -1;
      for (let u = need / 32; u < gaps.length; u++) {
        const g = gaps[u]!;
        if (g.length === 0) continue;
        placed = g.pop()!;
        if (u * 32 > need) gaps[u - need / 32]!.push(placed + need);
        break;
      }
      if (placed >= 0) {
        s.offset = placed;
        s.nid = placed / 32;
        continue;
      }
      if ((pos % bs) + need > bs) {
        const left = bs - (pos % bs);
        if (left >= 32) gaps[left / 32]!.push(pos);
        pos = alignUp(pos, bs);
      }
      s.offset = pos;
      s.nid = pos / 32;
      pos += need;
      continue;
    }
    let start = pos;
    const head = s.isize + s.xattrs.length;
    const fitsOneBlock = head + s.tailLen <= bs;
    // Keep an inode with its xattrs and inline tail inside one block when it can be.
    if (fitsOneBlock && (start % bs) + head + s.tailLen > bs) start = alignUp(start, bs);
    s.offset = start;
    s.nid = start / 32;
    let end = start + head;
    end += s.tailLen;
    if (s.chunks) end = alignUp(end, chunkIndex.size) + (s.chunks.length / 2) * chunkIndex.size;
    pos = alignUp(end, 32);
  }
  const root0 = slots[0]!;
  if (root0.nid > 0xffff) throw new ErofsError('too-large', `root nid ${root0.nid} does not fit the superblock's 16 bits`, {});

  // ---- 5. Data area: the shared xattrs, directory/symlink blocks, copied file data. ----
  let blk = alignUp(pos, bs) / bs;
  const xattrBlkaddr = sharing ? blk : 0;
  if (sharing) blk += Math.ceil(sharing.area.length / bs);
  for (const s of slots) {
    if (s.blockData && s.blockData.length > 0) {
      s.startblk = blk;
      blk += Math.ceil(s.blockData.length / bs);
    } else if (s.dataBlocks > 0 && blobDevice > 0) {
      s.startblk = blobBlk;
      blobBlk += s.dataBlocks;
    } else if (s.dataBlocks > 0) {
      s.startblk = blk;
      blk += s.dataBlocks;
    } else if (s.layout === DataLayout.FLAT_INLINE) {
      s.startblk = EROFS_NULL_ADDR;
    } else if (s.layout === DataLayout.FLAT_PLAIN) {
      s.startblk = 0;
    }
    if (s.copies) {
      s.copyStart = blk;
      blk += s.copies.length;
    }
  }
  const totalBlocks = blk;
  // Chunk addresses of copied chunk-based files, now that their data is placed.
  for (const s of slots) {
    if (!s.input || !s.chunks) continue;
    const per = 2 ** (s.chunkbits! - bits);
    for (let c = 0; c < s.chunks.length / 2; c++) {
      s.chunks[2 * c] = blobDevice > 0 ? blobDevice : 0;
      s.chunks[2 * c + 1] = s.startblk + c * per;
    }
  }
  if (blobDevice > 0) devices[blobDevice - 1] = { blocks: blobBlk };
  return {
    bits,
    bs,
    slots,
    devices,
    devtOff,
    prefixes: prefixTable ? { count: prefixDefs.length, offset: prefixOff, table: prefixTable } : undefined,
    epoch,
    filter,
    dataStart: alignUp(pos, bs),
    totalBlocks,
    blobBlocks: blobBlk,
    xattrArea: sharing?.area,
    xattrBlkaddr,
  };
}

/** What the superblock and the device table record: decided by a layout pass. */
export interface SuperblockPlan {
  bits: number;
  rootNid: number;
  inodes: number;
  epoch: { sec: number; nsec: number };
  totalBlocks: number;
  devices: ExtraDevice[];
  /** Byte offset of the device table. */
  devtOff: number;
  chunked: boolean;
  /** Whether any inode stores xattrs (the name filter bit is set then, when `filter`). */
  anyXattr: boolean;
  filter: boolean;
  prefixes: { count: number; offset: number; table: Uint8Array } | undefined;
  xattrBlkaddr: number;
}

/** The superblock and the device table, into `img` (which starts at image offset 0). */
export function writeSuperblockOf(img: Uint8Array, p: SuperblockPlan, opts: Pick<WriterOptions, 'uuid' | 'volumeName'>): void {
  const { devices, devtOff } = p;
  let incompat = devices.length > 0 ? INCOMPAT_DEVICE_TABLE : 0;
  if (p.chunked) incompat |= INCOMPAT_CHUNKED_FILE;
  if (p.prefixes) incompat |= INCOMPAT_XATTR_PREFIXES;
  encode(
    superBlock,
    {
      magic: EROFS_SUPER_MAGIC,
      checksum: 0,
      feature_compat: COMPAT_MTIME | (p.filter && p.anyXattr ? COMPAT_XATTR_FILTER : 0),
      blkszbits: p.bits,
      sb_extslots: 0,
      rootnid_2b: p.rootNid,
      inos: BigInt(p.inodes),
      epoch: BigInt(p.epoch.sec),
      fixed_nsec: p.epoch.nsec,
      blocks_lo: p.totalBlocks,
      meta_blkaddr: 0,
      xattr_blkaddr: p.xattrBlkaddr,
      uuid: opts.uuid ?? new Uint8Array(16),
      volume_name: opts.volumeName ?? new Uint8Array(16),
      feature_incompat: incompat,
      u1: 0,
      extra_devices: devices.length,
      devt_slotoff: devices.length ? devtOff / deviceSlot.size : 0,
      dirblkbits: 0,
      xattr_prefix_count: p.prefixes?.count ?? 0,
      xattr_prefix_start: p.prefixes ? p.prefixes.offset / 4 : 0,
      packed_nid: 0n,
      xattr_filter_reserved: 0,
      build_time: 0,
      rootnid_8b: 0n,
    },
    img,
    EROFS_SUPER_OFFSET,
  );
  let uni = p.totalBlocks;
  devices.forEach((d, i) => {
    encode(deviceSlot, { tag: d.tag ?? new Uint8Array(0), blocks_lo: d.blocks, uniaddr_lo: uni, blocks_hi: 0, uniaddr_hi: 0 }, img, devtOff + i * deviceSlot.size);
    uni += d.blocks;
  });
  if (p.prefixes) img.set(p.prefixes.table, p.prefixes.offset);
}

function writeSuperblock(img: Uint8Array, L: Layout, opts: WriterOptions): void {
  writeSuperblockOf(
    img,
    {
      bits: L.bits,
      rootNid: L.slots[0]!.nid,
      inodes: L.slots.length,
      epoch: L.epoch,
      totalBlocks: L.totalBlocks,
      devices: L.devices,
      devtOff: L.devtOff,
      chunked: L.slots.some((s) => s.layout === DataLayout.CHUNK_BASED),
      anyXattr: L.slots.some((s) => s.xattrs.length > 0),
      filter: L.filter,
      prefixes: L.prefixes,
      xattrBlkaddr: L.xattrBlkaddr,
    },
    opts,
  );
}

/** A chunk table of `count` holes. */
function holes(count: number): number[] {
  const t = new Array<number>(2 * count);
  for (let i = 0; i < t.length; i += 2) {
    t[i] = CHUNK_HOLE;
    t[i + 1] = 0;
  }
  return t;
}

/**
 * The sparse-file policy. A file with holes needs a chunk table entry (8 bytes) per chunk of
 * its logical size, and its chunks can be no larger than its data and holes are aligned, so a
 * few stored bytes may claim gigabytes of table (a tar of 7 KiB whose sparse entry claims
 * 4 GiB at 512-byte granularity: 64 MiB of table, far more in memory while laying it out). A
 * file's table may take SPARSE_TABLE_FREE bytes, or SPARSE_TABLE_PER_BYTE bytes per byte of
 * data the file stores, whichever is more; beyond that the file is refused as `too-large`.
 * Real sparse files (disk images with holes aligned to 4 KiB or more) stay far below it.
 */
export const SPARSE_TABLE_FREE = 16 << 20;
export const SPARSE_TABLE_PER_BYTE = 64;

function checkSparseTable(count: number, chunkSize: number, dataBytes: number, size: number, path: string): void {
  const table = count * 8;
  const limit = Math.max(SPARSE_TABLE_FREE, SPARSE_TABLE_PER_BYTE * dataBytes);
  if (table > limit) {
    throw new ErofsError(
      'too-large',
      `${path}: a sparse file of ${size} bytes storing ${dataBytes} bytes needs ${count} chunks of ${chunkSize} bytes, a ${table}-byte chunk table (at most ${limit} for this file: ${SPARSE_TABLE_FREE} bytes, or ${SPARSE_TABLE_PER_BYTE} per stored byte)`,
      { path },
    );
  }
}

/**
 * The chunk size (log2) of a file of `size` bytes stored in one contiguous piece: the smallest
 * that covers it in one chunk, at least a block, at most 2^31 blocks (larger files take several).
 */
export function extentChunkBits(size: number, bits: number): number {
  return Math.min(bits + 31, Math.max(bits, Math.ceil(Math.log2(size))));
}

/** Decides the chunk size and chunk table of a regular file. */
function chunkPlan(slot: Slot, bs: number, bits: number, pathAt: (i: number) => string, i: number, ndev: number): void {
  const node = slot.node;
  const size = slot.size;
  const data = node.data ?? { kind: 'empty' as const };
  // Block-aligned pieces: [logical, length, device, byte offset] or copied blocks.
  const maxBits = bits + 31;
  if (data.kind === 'extent') {
    // One range [0, size): the largest chunk that covers the file (several past 2^maxBits).
    if (data.device < 1 || data.device > ndev) throw new ErofsError('invalid-value', `${pathAt(i)}: data on device ${data.device}, but the image has ${ndev} extra device(s)`, { path: pathAt(i) });
    if (data.offset % bs !== 0) throw new ErofsError('invalid-value', `${pathAt(i)}: data at byte ${data.offset} is not ${bs}-byte aligned`, { path: pathAt(i) });
    const cbits = extentChunkBits(size, bits);
    const cs = 2 ** cbits;
    const count = Math.ceil(size / cs);
    const chunks = new Array<number>(2 * count);
    for (let c = 0; c < count; c++) {
      chunks[2 * c] = data.device;
      chunks[2 * c + 1] = (data.offset + c * cs) / bs;
    }
    slot.chunks = chunks;
    slot.chunkbits = cbits;
    return;
  }
  if (data.kind === 'device') {
    if (data.device < 1 || data.device > ndev) throw new ErofsError('invalid-value', `${pathAt(i)}: data on device ${data.device}, but the image has ${ndev} extra device(s)`, { path: pathAt(i) });
    // The largest chunk size that every range boundary respects.
    let cbits = Math.min(maxBits, Math.max(bits, Math.ceil(Math.log2(size))));
    for (const r of data.ranges) {
      if (r.offset % bs !== 0) throw new ErofsError('invalid-value', `${pathAt(i)}: data at byte ${r.offset} is not ${bs}-byte aligned`, { path: pathAt(i) });
      while (cbits > bits && (r.logical % 2 ** cbits !== 0 || (r.logical + r.length !== size && (r.logical + r.length) % 2 ** cbits !== 0))) cbits--;
      if (r.logical % bs !== 0 || (r.logical + r.length !== size && (r.logical + r.length) % bs !== 0)) {
        throw new ErofsError('invalid-value', `${pathAt(i)}: data range at logical ${r.logical} is not block-aligned; it must be copied`, { path: pathAt(i) });
      }
    }
    const cs = 2 ** cbits;
    const count = Math.ceil(size / cs);
    checkSparseTable(count, cs, data.ranges.reduce((a, r) => a + r.length, 0), size, pathAt(i));
    const chunks = holes(count);
    for (const r of data.ranges) {
      for (let o = 0; o < r.length; o += cs) {
        const c = (r.logical + o) / cs;
        chunks[2 * c] = data.device;
        chunks[2 * c + 1] = (r.offset + o) / bs;
      }
    }
    slot.chunks = chunks;
    slot.chunkbits = cbits;
    return;
  }
  if (data.kind === 'copy') {
    // Copy touched blocks into the image; untouched blocks are holes.
    const blocks = new Map<number, Uint8Array>();
    for (const r of data.ranges) {
      let done = 0;
      while (done < r.bytes.length) {
        const at = r.logical + done;
        const b = Math.floor(at / bs);
        const off = at - b * bs;
        const n = Math.min(bs - off, r.bytes.length - done);
        let block = blocks.get(b);
        if (!block) {
          block = new Uint8Array(bs);
          blocks.set(b, block);
        }
        block.set(r.bytes.subarray(done, done + n), off);
        done += n;
      }
    }
    if (blocks.size === 0) {
      // Nothing stored: one hole chunk covers the whole file.
      const cbits = Math.min(maxBits, Math.max(bits, Math.ceil(Math.log2(size))));
      slot.chunks = holes(Math.ceil(size / 2 ** cbits));
      slot.chunkbits = cbits;
      slot.copies = [];
      return;
    }
    const count = Math.ceil(size / bs);
    checkSparseTable(count, bs, blocks.size * bs, size, pathAt(i));
    const chunks = holes(count);
    const copies: Uint8Array[] = [];
    for (const b of [...blocks.keys()].sort((x, y) => x - y)) {
      chunks[2 * b] = CHUNK_COPY;
      chunks[2 * b + 1] = copies.length;
      copies.push(blocks.get(b)!);
    }
    slot.chunks = chunks;
    slot.chunkbits = bits;
    slot.copies = copies;
    return;
  }
  throw new ErofsError('invalid-value', `${pathAt(i)}: ${size}-byte file without data`, { path: pathAt(i) });
}

/**
 * The inode at `s.offset` (minus `base`, the image offset of `img[0]`): core, xattrs, inline
 * tail `tail`, chunk table. Directory blocks get their dirents here (into `dirBytes`).
 */
function writeInode(img: Uint8Array, base: number, s: Slot, bs: number, bits: number, slots: Slot[], tail: Uint8Array | undefined): void {
  const n = s.node;
  const type = n.mode & S_IFMT;
  let iu = 0;
  if (s.layout === DataLayout.CHUNK_BASED) iu = CHUNK_FORMAT_INDEXES | (s.chunkbits! - bits);
  else if (type === S_IFCHR || type === S_IFBLK) iu = encodeDev(n.rdevMajor, n.rdevMinor);
  else if (type === S_IFDIR || type === S_IFLNK || s.input) iu = s.startblk;
  const nlink = s.nlink;
  const at = s.offset - base;
  const format = (s.compact ? 0 : 1) | (s.layout << 1);
  const icount = s.xattrs.length === 0 ? 0 : (s.xattrs.length - xattrIbodyHeader.size) / 4 + 1;
  if (s.compact) {
    encode(
      inodeCompact,
      { i_format: format, i_xattr_icount: icount, i_mode: n.mode, i_nb: nlink, i_size: s.size, i_mtime: 0, i_u: iu, i_ino: s.ino, i_uid: n.uid, i_gid: n.gid },
      img,
      at,
    );
  } else {
    encode(
      inodeExtended,
      {
        i_format: format,
        i_xattr_icount: icount,
        i_mode: n.mode,
        i_nb: 0,
        i_size: s.size,
        i_u: iu,
        i_ino: s.ino,
        i_uid: n.uid,
        i_gid: n.gid,
        i_mtime: n.mtime,
        i_mtime_nsec: n.mtimeNsec,
        i_nlink: nlink,
      },
      img,
      at,
    );
  }
  let p = at + s.isize;
  img.set(s.xattrs, p);
  p += s.xattrs.length;
  if (s.entries) fillDirents(s, bs, slots);
  if (s.tailLen > 0) {
    if (!tail || tail.length !== s.tailLen) throw new Error(`writer: inline tail of ${s.tailLen} bytes missing for nid ${s.nid}`);
    img.set(tail, p);
  }
  if (s.chunks) {
    // Chunk indexes are 8-byte aligned in the image (base is block-aligned).
    let c8 = Math.ceil((s.offset + s.isize + s.xattrs.length) / chunkIndex.size) * chunkIndex.size - base;
    const t = s.chunks;
    for (let c = 0; c < t.length; c += 2) {
      const device = t[c]!;
      if (device === CHUNK_HOLE) encode(chunkIndex, { startblk_hi: 0, device_id: 0, startblk_lo: EROFS_NULL_ADDR }, img, c8);
      else if (device === CHUNK_COPY) encode(chunkIndex, { startblk_hi: 0, device_id: 0, startblk_lo: s.copyStart + t[c + 1]! }, img, c8);
      else encode(chunkIndex, { startblk_hi: 0, device_id: device, startblk_lo: t[c + 1]! }, img, c8);
      c8 += chunkIndex.size;
    }
  }
}

/** A slot's blocks in the data area (directory/symlink blocks, copied chunks) into `img`, which starts at image offset `base`. */
function writeData(img: Uint8Array, base: number, s: Slot, bs: number): void {
  if (s.blockData && s.blockData.length > 0) img.set(s.blockData, s.startblk * bs - base);
  s.copies?.forEach((b, i) => img.set(b, (s.copyStart + i) * bs - base));
}

/** Writes the dirents (with final nids) into the directory's content bytes. */
function fillDirents(s: Slot, bs: number, slots: Slot[]): void {
  const out = s.dirBytes!;
  const { names, index } = s.entries!;
  let i = 0;
  for (let blockStart = 0; i < names.length; blockStart += bs) {
    // Count how many entries this block holds (same rule as packDirents).
    let used = 0;
    let count = 0;
    while (i + count < names.length && (count === 0 || used + dirent.size + names[i + count]!.length <= bs)) {
      used += dirent.size + names[i + count]!.length;
      count++;
    }
    let nameoff = count * dirent.size;
    for (let k = 0; k < count; k++) {
      const name = names[i + k]!;
      const child = slots[index[i + k]!]!;
      encode(dirent, { nid: child.nid, nameoff, file_type: fileTypeOfMode(child.node.mode), reserved: 0 }, out, blockStart + k * dirent.size);
      for (let c = 0; c < name.length; c++) out[blockStart + nameoff + c] = name.charCodeAt(c);
      nameoff += name.length;
    }
    i += count;
  }
}
