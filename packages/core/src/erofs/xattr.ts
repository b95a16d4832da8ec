/**
 * Extended attributes: the inline body after an inode (header, shared ids, entries), shared
 * entries at xattr_blkaddr, long name prefixes, and the name bloom filter.
 */
import { ErofsError, hex } from '../errors.js';
import { decode } from '../layout/struct.js';
import {
  EROFS_SUPER_OFFSET,
  XATTR_FILTER_SEED,
  XATTR_LONG_PREFIX_BIT,
  XATTR_PREFIXES,
  xattrEntry,
  xattrIbodyHeader,
} from './format.js';
import { COMPAT_XATTR_FILTER } from './features.js';
import { xxh32 } from './xxhash.js';
import type { ErofsImage, Inode } from './image.js';

export interface LongPrefix {
  baseIndex: number;
  infix: Uint8Array;
  /** Full prefix text: short prefix + infix. */
  prefix: string;
  offset: number;
}

export interface Xattr {
  /** Full name, e.g. `user.k`, `security.capability`, `system.posix_acl_access`. */
  name: string;
  value: Uint8Array;
  /** True when the entry is a shared one (stored once at xattr_blkaddr). */
  shared: boolean;
  /** e_name_index as stored. */
  index: number;
  /** Byte offset of the entry. */
  offset: number;
  /** False for names the kernel cannot list (index 0, lustre.). */
  kernelVisible: boolean;
}

const latin = new TextDecoder('utf-8', { fatal: false });

function shortPrefix(index: number): string | undefined {
  return XATTR_PREFIXES[index];
}

/** Loads the long-prefix table (from the packed inode's data when packed_nid != 0). */
export async function loadLongPrefixes(img: ErofsImage): Promise<LongPrefix[]> {
  const count = img.sb.xattr_prefix_count;
  const start = img.sb.xattr_prefix_start * 4;
  const packed = img.packedNid;
  const out: LongPrefix[] = [];
  let read: (off: number, len: number) => Promise<Uint8Array>;
  let where: (off: number) => number;
  if (packed !== 0) {
    const ino = await img.inode(packed);
    read = async (off, len) => {
      if (off + len > ino.size) {
        throw new ErofsError('out-of-bounds', `long xattr prefix table entry at ${hex(off)} runs past the packed inode (${ino.size} bytes)`, { offset: EROFS_SUPER_OFFSET + 92 });
      }
      return img.read(ino, off, len);
    };
    where = () => ino.offset;
  } else {
    read = (off, len) => img.meta(off, len);
    where = (off) => off;
  }
  let pos = start;
  for (let i = 0; i < count; i++) {
    pos = Math.ceil(pos / 4) * 4;
    const lenb = await read(pos, 2);
    const len = lenb[0]! | (lenb[1]! << 8);
    if (len < 1) throw new ErofsError('invalid-value', `long xattr prefix ${i} has length 0`, { offset: where(pos) });
    const body = await read(pos + 2, len);
    const base = body[0]!;
    const sp = shortPrefix(base);
    if (sp === undefined) {
      throw new ErofsError('invalid-value', `long xattr prefix ${i} has unknown base index ${base}`, { offset: where(pos + 2) });
    }
    const infix = body.slice(1);
    out.push({ baseIndex: base, infix, prefix: sp + latin.decode(infix), offset: where(pos) });
    pos += 2 + len;
  }
  return out;
}

interface RawEntry {
  index: number;
  name: Uint8Array;
  value: Uint8Array;
  offset: number;
  size: number;
}

function parseEntry(buf: Uint8Array, at: number, abs: number, limit: number, what: string): RawEntry {
  if (at + xattrEntry.size > limit) {
    throw new ErofsError('truncated', `${what}: xattr entry header at ${hex(abs)} runs past the xattr area`, { offset: abs, length: 4 });
  }
  const e = decode(xattrEntry, buf, at, abs);
  const size = Math.ceil((xattrEntry.size + e.e_name_len + e.e_value_size) / 4) * 4;
  if (at + xattrEntry.size + e.e_name_len + e.e_value_size > limit) {
    throw new ErofsError('truncated', `${what}: xattr entry at ${hex(abs)} (name ${e.e_name_len} + value ${e.e_value_size} bytes) runs past the xattr area`, {
      offset: abs,
      length: size,
    });
  }
  const n0 = at + xattrEntry.size;
  return {
    index: e.e_name_index,
    name: buf.subarray(n0, n0 + e.e_name_len),
    value: buf.subarray(n0 + e.e_name_len, n0 + e.e_name_len + e.e_value_size),
    offset: abs,
    size,
  };
}

function fullName(img: ErofsImage, e: RawEntry, what: string): { name: string; visible: boolean } {
  const suffix = latin.decode(e.name);
  if (e.index & XATTR_LONG_PREFIX_BIT) {
    const k = e.index & 0x7f;
    const lp = img.longPrefixes[k];
    if (!lp) throw new ErofsError('invalid-value', `${what}: xattr long prefix ${k} does not exist (${img.longPrefixes.length} defined)`, { offset: e.offset + 1, length: 1 });
    return { name: lp.prefix + suffix, visible: lp.baseIndex !== 5 };
  }
  const sp = shortPrefix(e.index);
  if (e.index === 0) return { name: suffix, visible: false };
  if (sp === undefined) throw new ErofsError('invalid-value', `${what}: xattr name index ${e.index} is unknown`, { offset: e.offset + 1, length: 1 });
  return { name: sp + suffix, visible: e.index !== 5 };
}

/** Size of the inline xattr body; validated against the inode. */
export async function readXattrs(img: ErofsImage, ino: Inode): Promise<Xattr[]> {
  if (ino.xattrSize === 0) return [];
  const what = `inode ${ino.nid}`;
  const base = ino.offset + ino.inodeSize;
  if (ino.xattrSize < xattrIbodyHeader.size) {
    throw new ErofsError('invalid-value', `${what}: xattr body of ${ino.xattrSize} bytes is smaller than its header`, { offset: ino.offset + 2, length: 2 });
  }
  const body = await img.meta(base, ino.xattrSize);
  const h = decode(xattrIbodyHeader, body, 0, base);
  const sharedEnd = xattrIbodyHeader.size + 4 * h.h_shared_count;
  if (sharedEnd > ino.xattrSize) {
    throw new ErofsError('invalid-value', `${what}: ${h.h_shared_count} shared xattr ids do not fit in an xattr body of ${ino.xattrSize} bytes`, { offset: base + 4, length: 1 });
  }
  const out: Xattr[] = [];
  const sharedBase = img.sb.xattr_blkaddr * img.blockSize;
  for (let i = 0; i < h.h_shared_count; i++) {
    const p = xattrIbodyHeader.size + 4 * i;
    const id = (body[p]! | (body[p + 1]! << 8) | (body[p + 2]! << 16) | (body[p + 3]! << 24)) >>> 0;
    const abs = sharedBase + id * 4;
    if (abs + 4 > img.cache.size) {
      throw new ErofsError('out-of-bounds', `${what}: shared xattr id ${id} points to ${hex(abs)}, past the end of the image`, { offset: base + p, length: 4 });
    }
    const hdr = await img.meta(abs, 4);
    const need = Math.ceil((4 + hdr[0]! + (hdr[2]! | (hdr[3]! << 8))) / 4) * 4;
    if (abs + need > img.cache.size) {
      throw new ErofsError('out-of-bounds', `${what}: shared xattr at ${hex(abs)} runs past the end of the image`, { offset: abs, length: need });
    }
    const buf = await img.meta(abs, need);
    const e = parseEntry(buf, 0, abs, need, what);
    const n = fullName(img, e, what);
    out.push({ name: n.name, value: e.value.slice(), shared: true, index: e.index, offset: abs, kernelVisible: n.visible });
  }
  let p = sharedEnd;
  while (p < ino.xattrSize) {
    const e = parseEntry(body, p, base + p, ino.xattrSize, what);
    const n = fullName(img, e, what);
    out.push({ name: n.name, value: e.value.slice(), shared: false, index: e.index, offset: base + p, kernelVisible: n.visible });
    p += e.size;
  }
  return out;
}

/** Whether the image's inline headers carry a usable bloom filter. */
export function filterEnabled(img: ErofsImage): boolean {
  return (img.sb.feature_compat & COMPAT_XATTR_FILTER) !== 0 && img.sb.xattr_filter_reserved === 0;
}

/** Splits a full name into (base short-prefix index, suffix after the short prefix). */
export function splitXattrName(name: string): { index: number; suffix: string } {
  let best = 0;
  let bestLen = 0;
  for (const [k, p] of Object.entries(XATTR_PREFIXES)) {
    const idx = Number(k);
    if (idx === 5) continue;
    if (name.startsWith(p) && p.length > bestLen) {
      best = idx;
      bestLen = p.length;
    }
  }
  return { index: best, suffix: name.slice(bestLen) };
}

/** Filter bit of a name: xxh32(suffix, seed + base index) & 31. */
export function filterBit(name: string): number {
  const { index, suffix } = splitXattrName(name);
  return xxh32(new TextEncoder().encode(suffix), (XATTR_FILTER_SEED + index) >>> 0) & 31;
}

/** The stored h_name_filter of an inode, or undefined when it has no xattr body. */
export async function nameFilter(img: ErofsImage, ino: Inode): Promise<number | undefined> {
  if (ino.xattrSize === 0) return undefined;
  const b = await img.meta(ino.offset + ino.inodeSize, 4);
  return (b[0]! | (b[1]! << 8) | (b[2]! << 16) | (b[3]! << 24)) >>> 0;
}

/**
 * getxattr as the kernel does it: a set filter bit means the name is absent without
 * scanning the entries.
 */
export async function getXattr(img: ErofsImage, ino: Inode, name: string): Promise<Uint8Array | undefined> {
  if (ino.xattrSize === 0) return undefined;
  if (filterEnabled(img)) {
    const f = await nameFilter(img, ino);
    if (f !== undefined && (f >>> filterBit(name)) & 1) return undefined;
  }
  for (const x of await readXattrs(img, ino)) if (x.name === name && x.kernelVisible) return x.value;
  return undefined;
}
