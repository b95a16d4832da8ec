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
import { ErofsError } from '../errors.js';
import { encode } from '../layout/struct.js';
import {
  CHUNK_FORMAT_INDEXES,
  DataLayout,
  EROFS_NULL_ADDR,
  EROFS_SUPER_MAGIC,
  EROFS_SUPER_OFFSET,
  XATTR_FILTER_SEED,
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
import { COMPAT_MTIME, COMPAT_XATTR_FILTER, INCOMPAT_CHUNKED_FILE, INCOMPAT_DEVICE_TABLE } from './features.js';
import { splitXattrName } from './xattr.js';
import { xxh32 } from './xxhash.js';
import { S_IFBLK, S_IFCHR, S_IFDIR, S_IFLNK, S_IFMT, S_IFREG, keyBytes, type TreeNode } from '../tree/node.js';

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

function alignUp(n: number, a: number): number {
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
function xattrBody(node: TreeNode, filter: boolean, where: string): Uint8Array {
  if (node.xattrs.size === 0) return new Uint8Array(0);
  const items: { index: number; suffix: Uint8Array; value: Uint8Array; name: string }[] = [];
  const enc = new TextEncoder();
  for (const [name, value] of node.xattrs) {
    const { index, suffix } = splitXattrName(name);
    if (index === 0) throw new ErofsError('unsupported-feature', `${where}: xattr ${name} has no EROFS name prefix (the kernel could not read it)`, { path: where });
    const s = enc.encode(suffix);
    if (s.length > 255) throw new ErofsError('too-large', `${where}: xattr name ${name} is longer than 255 bytes after its prefix`, { path: where });
    if (value.length > XATTR_MAX_VALUE) throw new ErofsError('too-large', `${where}: xattr ${name} value of ${value.length} bytes exceeds ${XATTR_MAX_VALUE}`, { path: where });
    items.push({ index, suffix: s, value, name });
  }
  items.sort((a, b) => a.index - b.index || compareBytes(a.suffix, b.suffix));
  let len = xattrIbodyHeader.size;
  for (const it of items) len += alignUp(xattrEntry.size + it.suffix.length + it.value.length, 4);
  if ((len - xattrIbodyHeader.size) / 4 + 1 > 0xffff) throw new ErofsError('too-large', `${where}: xattrs take ${len} bytes, more than an inode can hold`, { path: where });
  const out = new Uint8Array(len);
  let bits = 0;
  for (const it of items) bits |= 1 << (xxh32(it.suffix, (XATTR_FILTER_SEED + it.index) >>> 0) & 31);
  encode(xattrIbodyHeader, { h_name_filter: filter ? ~bits >>> 0 : 0, h_shared_count: 0 }, out, 0);
  let p = xattrIbodyHeader.size;
  for (const it of items) {
    encode(xattrEntry, { e_name_len: it.suffix.length, e_name_index: it.index, e_value_size: it.value.length }, out, p);
    out.set(it.suffix, p + 4);
    out.set(it.value, p + 4 + it.suffix.length);
    p += alignUp(xattrEntry.size + it.suffix.length + it.value.length, 4);
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

export function writeImage(root: TreeNode, opts: WriterOptions): WriteResult {
  const bits = opts.blkszbits;
  if (bits < 9 || bits > 16) throw new RangeError(`blkszbits ${bits} out of range [9, 16]`);
  const bs = 1 << bits;
  const devices = opts.devices ?? [];
  const filter = opts.xattrFilter ?? true;

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
    for (const [key, child] of n.children ?? []) {
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
    }
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

  // ---- 3. Per-inode sizes and layouts. ----
  const slots: Slot[] = [];
  for (let i = 0; i < order.length; i++) {
    const node = order[i]!;
    const type = node.mode & S_IFMT;
    const xattrs = node.xattrs.size ? xattrBody(node, filter, pathAt(i)) : EMPTY;
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
      node.mtime === epoch.sec && node.mtimeNsec === epoch.nsec && node.uid <= 0xffff && node.gid <= 0xffff && nlink <= 0xffff && size <= 0xffffffff;
    slot.isize = slot.compact ? inodeCompact.size : inodeExtended.size;
    // Data layout.
    if (type === S_IFDIR || type === S_IFLNK) {
      const content = type === S_IFDIR ? slot.dirBytes! : node.target!;
      const tail = size % bs;
      if (tail !== 0 && slot.isize + xattrs.length + tail <= bs) {
        layout = DataLayout.FLAT_INLINE;
        slot.tail = content.subarray(size - tail);
        if (size > tail) slot.blockData = content.subarray(0, size - tail);
      } else {
        layout = DataLayout.FLAT_PLAIN;
        slot.blockData = content;
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
  let pos = alignUp(devtOff + devices.length * deviceSlot.size, 32);
  for (const s of slots) {
    let start = pos;
    const head = s.isize + s.xattrs.length;
    const fitsOneBlock = head + (s.tail?.length ?? 0) <= bs;
    // Keep an inode with its xattrs and inline tail inside one block when it can be.
    if (fitsOneBlock && (start % bs) + head + (s.tail?.length ?? 0) > bs) start = alignUp(start, bs);
    s.offset = start;
    s.nid = start / 32;
    let end = start + head;
    if (s.tail) end += s.tail.length;
    if (s.chunks) end = alignUp(end, chunkIndex.size) + (s.chunks.length / 2) * chunkIndex.size;
    pos = alignUp(end, 32);
  }
  const root0 = slots[0]!;
  if (root0.nid > 0xffff) throw new ErofsError('too-large', `root nid ${root0.nid} does not fit the superblock's 16 bits`, {});

  // ---- 5. Data area: directory/symlink blocks, copied file data. ----
  let blk = alignUp(pos, bs) / bs;
  for (const s of slots) {
    if (s.blockData && s.blockData.length > 0) {
      s.startblk = blk;
      blk += Math.ceil(s.blockData.length / bs);
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

  // ---- 6. Write. ----
  const img = new Uint8Array(totalBlocks * bs);
  let incompat = devices.length > 0 ? INCOMPAT_DEVICE_TABLE : 0;
  if (slots.some((s) => s.layout === DataLayout.CHUNK_BASED)) incompat |= INCOMPAT_CHUNKED_FILE;
  const anyXattr = slots.some((s) => s.xattrs.length > 0);
  encode(
    superBlock,
    {
      magic: EROFS_SUPER_MAGIC,
      checksum: 0,
      feature_compat: COMPAT_MTIME | (filter && anyXattr ? COMPAT_XATTR_FILTER : 0),
      blkszbits: bits,
      sb_extslots: 0,
      rootnid_2b: root0.nid,
      inos: BigInt(slots.length),
      epoch: BigInt(epoch.sec),
      fixed_nsec: epoch.nsec,
      blocks_lo: totalBlocks,
      meta_blkaddr: 0,
      xattr_blkaddr: 0,
      uuid: opts.uuid ?? new Uint8Array(16),
      volume_name: opts.volumeName ?? new Uint8Array(16),
      feature_incompat: incompat,
      u1: 0,
      extra_devices: devices.length,
      devt_slotoff: devices.length ? devtOff / deviceSlot.size : 0,
      dirblkbits: 0,
      xattr_prefix_count: 0,
      xattr_prefix_start: 0,
      packed_nid: 0n,
      xattr_filter_reserved: 0,
      build_time: 0,
      rootnid_8b: 0n,
    },
    img,
    EROFS_SUPER_OFFSET,
  );
  let uni = totalBlocks;
  devices.forEach((d, i) => {
    encode(deviceSlot, { tag: d.tag ?? new Uint8Array(0), blocks_lo: d.blocks, uniaddr_lo: uni, blocks_hi: 0, uniaddr_hi: 0 }, img, devtOff + i * deviceSlot.size);
    uni += d.blocks;
  });
  for (const s of slots) writeInode(img, s, bs, bits, slots);
  return { image: img, blocks: totalBlocks, inodes: slots.length, rootNid: root0.nid };
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
    const cbits = Math.min(maxBits, Math.max(bits, Math.ceil(Math.log2(size))));
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
    if (count > 1 << 26) throw new ErofsError('too-large', `${pathAt(i)}: ${count} chunks needed for a ${size}-byte file`, { path: pathAt(i) });
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
    if (count > 1 << 26) throw new ErofsError('too-large', `${pathAt(i)}: ${count} chunks needed for a ${size}-byte file`, { path: pathAt(i) });
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

function writeInode(img: Uint8Array, s: Slot, bs: number, bits: number, slots: Slot[]): void {
  const n = s.node;
  const type = n.mode & S_IFMT;
  let iu = 0;
  if (s.layout === DataLayout.CHUNK_BASED) iu = CHUNK_FORMAT_INDEXES | (s.chunkbits! - bits);
  else if (type === S_IFCHR || type === S_IFBLK) iu = encodeDev(n.rdevMajor, n.rdevMinor);
  else if (type === S_IFDIR || type === S_IFLNK) iu = s.startblk;
  const nlink = s.nlink;
  const format = (s.compact ? 0 : 1) | (s.layout << 1);
  const icount = s.xattrs.length === 0 ? 0 : (s.xattrs.length - xattrIbodyHeader.size) / 4 + 1;
  if (s.compact) {
    encode(
      inodeCompact,
      { i_format: format, i_xattr_icount: icount, i_mode: n.mode, i_nb: nlink, i_size: s.size, i_mtime: 0, i_u: iu, i_ino: s.ino, i_uid: n.uid, i_gid: n.gid },
      img,
      s.offset,
    );
  } else {
    encode(
      inodeExtended,
      {
        i_format: format,
        i_xattr_icount: icount,
        i_mode: n.mode,
        i_nb: 0,
        i_size: BigInt(s.size),
        i_u: iu,
        i_ino: s.ino,
        i_uid: n.uid,
        i_gid: n.gid,
        i_mtime: BigInt.asUintN(64, BigInt(n.mtime)),
        i_mtime_nsec: n.mtimeNsec,
        i_nlink: nlink,
      },
      img,
      s.offset,
    );
  }
  let p = s.offset + s.isize;
  img.set(s.xattrs, p);
  p += s.xattrs.length;
  if (s.entries) fillDirents(s, bs, slots);
  if (s.tail) img.set(s.tail, p);
  if (s.blockData && s.blockData.length > 0) img.set(s.blockData, s.startblk * bs);
  if (s.chunks) {
    let at = Math.ceil(p / chunkIndex.size) * chunkIndex.size;
    const t = s.chunks;
    for (let c = 0; c < t.length; c += 2) {
      const device = t[c]!;
      if (device === CHUNK_HOLE) encode(chunkIndex, { startblk_hi: 0, device_id: 0, startblk_lo: EROFS_NULL_ADDR }, img, at);
      else if (device === CHUNK_COPY) encode(chunkIndex, { startblk_hi: 0, device_id: 0, startblk_lo: s.copyStart + t[c + 1]! }, img, at);
      else encode(chunkIndex, { startblk_hi: 0, device_id: device, startblk_lo: t[c + 1]! }, img, at);
      at += chunkIndex.size;
    }
    s.copies?.forEach((b, i) => img.set(b, (s.copyStart + i) * bs));
  }
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
      encode(dirent, { nid: BigInt(child.nid), nameoff, file_type: fileTypeOfMode(child.node.mode), reserved: 0 }, out, blockStart + k * dirent.size);
      for (let c = 0; c < name.length; c++) out[blockStart + nameoff + c] = name.charCodeAt(c);
      nameoff += name.length;
    }
    i += count;
  }
}
