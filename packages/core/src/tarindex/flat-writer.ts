/**
 * The tar-index image of a {@link FlatLayer}: the same layout decisions as the general writer
 * (`writeImage` in erofs/writer.ts) makes for such a tree — inodes breadth-first in the order
 * names were listed, 512-byte blocks, compact inodes where the mtime is the time base, inline
 * tails that fit, one chunk index per file on device 1 — so the bytes are identical, but made
 * from columns: per-inode facts in typed arrays, dirents written straight into the image.
 * Tests compare the two writers byte for byte (ADR 0027).
 */
import { ErofsError } from '../errors.js';
import { encode } from '../layout/struct.js';
import {
  CHUNK_FORMAT_INDEXES,
  DataLayout,
  EROFS_NULL_ADDR,
  EROFS_SUPER_OFFSET,
  chunkIndex,
  deviceSlot,
  dirent,
  fileTypeOfMode,
  inodeCompact,
  inodeExtended,
  superBlock,
} from '../erofs/format.js';
import { alignUp, encodeDev, extentChunkBits, writeSuperblockOf, type ExtraDevice } from '../erofs/writer.js';
import { S_IFBLK, S_IFCHR, S_IFDIR, S_IFLNK, S_IFMT, S_IFREG } from '../tree/node.js';
import type { FlatLayer } from './flat.js';

const BITS = 9;
const BS = 1 << BITS;
const DOT = -1;
const DOTDOT = -2;
/** 2^k for chunk sizes (`**` is a slow path in a hot loop). */
const POW2 = Float64Array.from({ length: 64 }, (_, k) => 2 ** k);

export interface FlatIndexOptions {
  devices: ExtraDevice[];
  uuid: Uint8Array;
  epoch?: { sec: number; nsec: number };
}

/** The most common (sec, nsec) among the rows of `order` (ties: the earliest), as the general writer picks it. */
function mostCommonMtime(t: FlatLayer, order: Int32Array): { sec: number; nsec: number } {
  // Counted per second, then per nanosecond within it.
  const counts = new Map<number, { nsec: number; count: number }[]>();
  let best: { nsec: number; count: number } | undefined;
  let bestSec = 0;
  for (let i = 0; i < order.length; i++) {
    const r = order[i]!;
    const sec = t.mtime[r]!;
    const nsec = t.nsec[r]!;
    let list = counts.get(sec);
    if (!list) counts.set(sec, (list = []));
    let c = list.length === 1 && list[0]!.nsec === nsec ? list[0] : list.find((x) => x.nsec === nsec);
    if (!c) list.push((c = { nsec, count: 0 }));
    c.count++;
    if (!best || c.count > best.count || (c.count === best.count && (sec < bestSec || (sec === bestSec && nsec < best.nsec)))) {
      best = c;
      bestSec = sec;
    }
  }
  return { sec: bestSec, nsec: best!.nsec };
}

export function writeFlatIndex(t: FlatLayer, o: FlatIndexOptions): { image: Uint8Array; inodes: number } {
  // ---- 1. Order: breadth-first, children in the order their names were listed. A
  // directory's children are contiguous in `order`, from first[i], count kids[i]. ----
  const cap = t.count;
  const order = new Int32Array(cap);
  const parentOf = new Int32Array(cap);
  const first = new Int32Array(cap);
  const kids = new Int32Array(cap);
  let n = 1;
  order[0] = 0;
  for (let i = 0; i < n; i++) {
    const r = order[i]!;
    if ((t.mode[r]! & S_IFMT) !== S_IFDIR) continue;
    first[i] = n;
    for (let c = t.firstChild[r]!; c >= 0; c = t.next[c]!) {
      if (!t.live(c)) continue;
      order[n] = c;
      parentOf[n] = i;
      n++;
    }
    kids[i] = n - first[i]!;
  }
  const ord = order.subarray(0, n);

  // ---- 2. Time base. ----
  let epoch = o.epoch ?? mostCommonMtime(t, ord);
  if (epoch.sec < 0) epoch = { sec: 0, nsec: 0 };

  // ---- 3. Directory entries, sorted by name bytes ('.' and '..' included), and sizes. ----
  const pool = t.pool;
  const nameOf = (e: number, k: number): number => (e === DOT ? (k === 0 ? 0x2e : -1) : e === DOTDOT ? (k < 2 ? 0x2e : -1) : k < t.nameLen[ord[e]!]! ? pool[t.nameStart[ord[e]!]! + k]! : -1);
  const lenOf = (e: number): number => (e === DOT ? 1 : e === DOTDOT ? 2 : t.nameLen[ord[e]!]!);
  const compare = (a: number, b: number): number => {
    for (let k = 0; ; k++) {
      const x = nameOf(a, k);
      const y = nameOf(b, k);
      if (x !== y) return x - y; // -1 (ended) sorts first: a prefix comes before
      if (x < 0) return 0;
    }
  };
  let dirs = 0;
  for (let i = 0; i < n; i++) if ((t.mode[ord[i]!]! & S_IFMT) === S_IFDIR) dirs++;
  const ents = new Int32Array(n - 1 + 2 * dirs);
  const entStart = new Int32Array(n);
  const size = new Float64Array(n);
  const nlink = new Int32Array(n).fill(1);
  let e0 = 0;
  for (let i = 0; i < n; i++) {
    const r = ord[i]!;
    const type = t.mode[r]! & S_IFMT;
    if (type === S_IFDIR) {
      const f = first[i]!;
      const k = kids[i]!;
      const list = ents.subarray(e0, e0 + k + 2);
      list[0] = DOT;
      list[1] = DOTDOT;
      let dirKids = 0;
      for (let c = 0; c < k; c++) {
        list[c + 2] = f + c;
        if ((t.mode[ord[f + c]!]! & S_IFMT) === S_IFDIR) dirKids++;
      }
      let sorted = true;
      for (let c = 1; c < list.length && sorted; c++) if (compare(list[c - 1]!, list[c]!) >= 0) sorted = false;
      if (!sorted) list.sort(compare);
      // Packed into blocks: a dirent and its name never cross one.
      let bytes = 0;
      let used = 0;
      let count = 0;
      for (let c = 0; c < list.length; c++) {
        const need = dirent.size + lenOf(list[c]!);
        if (count > 0 && used + need > BS) {
          bytes += BS;
          used = 0;
          count = 0;
        }
        used += need;
        count++;
      }
      size[i] = bytes + used;
      nlink[i] = 2 + dirKids;
      entStart[i] = e0;
      e0 += list.length;
    } else if (type === S_IFREG || type === S_IFLNK) {
      size[i] = t.size[r]!;
    }
  }

  // ---- 4. Layouts and record sizes; inodes placed one after the other. ----
  const devtOff = alignUp(EROFS_SUPER_OFFSET + superBlock.size, deviceSlot.size);
  let pos = alignUp(devtOff + o.devices.length * deviceSlot.size, 32);
  const compact = new Uint8Array(n);
  const layout = new Uint8Array(n);
  const tailLen = new Int32Array(n);
  const cbits = new Uint8Array(n);
  const offset = new Float64Array(n);
  const startblk = new Float64Array(n);
  let chunked = false;
  for (let i = 0; i < n; i++) {
    const r = ord[i]!;
    const type = t.mode[r]! & S_IFMT;
    const sz = size[i]!;
    const isCompact = t.mtime[r] === epoch.sec && t.nsec[r] === epoch.nsec && t.uid[r]! <= 0xffff && t.gid[r]! <= 0xffff && nlink[i]! <= 0xffff && sz <= 0xffffffff;
    compact[i] = isCompact ? 1 : 0;
    const isize = isCompact ? inodeCompact.size : inodeExtended.size;
    let chunks = 0;
    if (type === S_IFDIR || type === S_IFLNK) {
      const tail = sz % BS;
      if (tail !== 0 && isize + tail <= BS) {
        layout[i] = DataLayout.FLAT_INLINE;
        tailLen[i] = tail;
      } else layout[i] = DataLayout.FLAT_PLAIN;
    } else if (type === S_IFREG && sz > 0) {
      layout[i] = DataLayout.CHUNK_BASED;
      const b = extentChunkBits(sz, BITS);
      cbits[i] = b;
      chunks = Math.ceil(sz / POW2[b]!);
      chunked = true;
    } else layout[i] = DataLayout.FLAT_PLAIN;
    // Keep an inode with its inline tail inside one block when it can be.
    let start = pos;
    const need = isize + tailLen[i]!;
    if (need <= BS && (start % BS) + need > BS) start = alignUp(start, BS);
    offset[i] = start;
    let end = start + need;
    if (chunks > 0) end = alignUp(end, chunkIndex.size) + chunks * chunkIndex.size;
    pos = alignUp(end, 32);
  }
  if (offset[0]! / 32 > 0xffff) throw new ErofsError('too-large', `root nid ${offset[0]! / 32} does not fit the superblock's 16 bits`, {});

  // ---- 5. Data area: directory and symlink blocks not inlined, in inode order. ----
  let blk = alignUp(pos, BS) / BS;
  for (let i = 0; i < n; i++) {
    const blocks = Math.ceil((size[i]! - tailLen[i]!) / BS);
    const type = t.mode[ord[i]!]! & S_IFMT;
    if ((type === S_IFDIR || type === S_IFLNK) && blocks > 0) {
      startblk[i] = blk;
      blk += blocks;
    } else startblk[i] = layout[i] === DataLayout.FLAT_INLINE ? EROFS_NULL_ADDR : 0;
  }
  const totalBlocks = blk;

  // ---- 6. The bytes. ----
  const img = new Uint8Array(totalBlocks * BS);
  writeSuperblockOf(
    img,
    {
      bits: BITS,
      rootNid: offset[0]! / 32,
      inodes: n,
      epoch,
      totalBlocks,
      devices: o.devices,
      devtOff,
      chunked,
      anyXattr: false,
      filter: true,
      prefixes: undefined,
      xattrBlkaddr: 0,
    },
    { uuid: o.uuid },
  );
  const inode = { i_format: 0, i_xattr_icount: 0, i_mode: 0, i_nb: 0, i_size: 0, i_mtime: 0, i_u: 0, i_ino: 0, i_uid: 0, i_gid: 0, i_mtime_nsec: 0, i_nlink: 0 };
  const dent = { nid: 0, nameoff: 0, file_type: 0, reserved: 0 };
  const chunk = { startblk_hi: 0, device_id: 1, startblk_lo: 0 };
  for (let i = 0; i < n; i++) {
    const r = ord[i]!;
    const mode = t.mode[r]!;
    const type = mode & S_IFMT;
    const at = offset[i]!;
    const lay = layout[i]!;
    const isize = compact[i] ? inodeCompact.size : inodeExtended.size;
    let iu = 0;
    if (lay === DataLayout.CHUNK_BASED) iu = CHUNK_FORMAT_INDEXES | (cbits[i]! - BITS);
    else if (type === S_IFCHR || type === S_IFBLK) iu = encodeDev(t.major[r]!, t.minor[r]!);
    else if (type === S_IFDIR || type === S_IFLNK) iu = startblk[i]!;
    inode.i_format = (compact[i] ? 0 : 1) | (lay << 1);
    inode.i_mode = mode;
    inode.i_size = size[i]!;
    inode.i_u = iu;
    inode.i_ino = i + 1;
    inode.i_uid = t.uid[r]!;
    inode.i_gid = t.gid[r]!;
    if (compact[i]) {
      inode.i_nb = nlink[i]!;
      inode.i_mtime = 0;
      encode(inodeCompact, inode, img, at);
    } else {
      inode.i_nb = 0;
      inode.i_mtime = t.mtime[r]!;
      inode.i_mtime_nsec = t.nsec[r]!;
      inode.i_nlink = nlink[i]!;
      encode(inodeExtended, inode, img, at);
    }
    const tail = tailLen[i]!;
    const sz = size[i]!;
    /** Where byte `k` of the content goes: the data blocks, or the inline tail after the inode. */
    const contentAt = (k: number): number => (tail > 0 && k >= sz - tail ? at + isize + (k - (sz - tail)) : startblk[i]! * BS + k);
    if (lay === DataLayout.CHUNK_BASED) {
      const cs = POW2[cbits[i]!]!;
      let c8 = alignUp(at + isize, chunkIndex.size);
      const data = t.off[r]!;
      for (let c = 0; c * cs < sz; c++) {
        chunk.startblk_lo = (data + c * cs) / BS;
        encode(chunkIndex, chunk, img, c8);
        c8 += chunkIndex.size;
      }
    } else if (type === S_IFLNK) {
      const s = t.off[r]!;
      if (sz > tail) img.set(pool.subarray(s, s + sz - tail), contentAt(0));
      if (tail > 0) img.set(pool.subarray(s + sz - tail, s + sz), contentAt(sz - tail));
    } else if (type === S_IFDIR) {
      const list = ents.subarray(entStart[i]!, entStart[i]! + kids[i]! + 2);
      let c = 0;
      for (let blockStart = 0; c < list.length; blockStart += BS) {
        // How many entries this block holds (the packing rule above).
        let used = 0;
        let count = 0;
        while (c + count < list.length && (count === 0 || used + dirent.size + lenOf(list[c + count]!) <= BS)) {
          used += dirent.size + lenOf(list[c + count]!);
          count++;
        }
        const base = contentAt(blockStart);
        let nameoff = count * dirent.size;
        for (let k = 0; k < count; k++) {
          const e = list[c + k]!;
          const target = e === DOT ? i : e === DOTDOT ? parentOf[i]! : e;
          dent.nid = offset[target]! / 32;
          dent.nameoff = nameoff;
          dent.file_type = fileTypeOfMode(t.mode[ord[target]!]!);
          encode(dirent, dent, img, base + k * dirent.size);
          const len = lenOf(e);
          if (e === DOT) img[base + nameoff] = 0x2e;
          else if (e === DOTDOT) img[base + nameoff] = img[base + nameoff + 1] = 0x2e;
          else {
            const s = t.nameStart[ord[e]!]!;
            for (let b = 0; b < len; b++) img[base + nameoff + b] = pool[s + b]!;
          }
          nameoff += len;
        }
        c += count;
      }
    }
  }
  return { image: img, inodes: n };
}
