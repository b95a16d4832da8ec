/**
 * Compact lcluster indexes (COMPRESSED_COMPACT), shared by the strict reader (zmap.ts, async
 * over a ByteSource) and the tolerant inspector (inspect/zmap.ts, sync over the bytes it has):
 * where a file's packs lie, the unpacking of one pack's bitstream, and the blocks of the
 * pclusters started before an entry of a pack. The byte layout of a pack is the table
 * {@link zCompactPack2B} / {@link zCompactPack4B} in format.ts, where the bit layout of its
 * entries is documented; this file only does the bit arithmetic those docs describe.
 */
import { Z_EROFS_ADVISE, Z_EROFS_LCLUSTER_TYPE, Z_EROFS_LI_D0_CBLKCNT, zCompactPack2B, zCompactPack4B } from './format.js';
import type { StructDef } from '../layout/struct.js';

/** One run of packs of one form: `count` entries from byte `start`, `vcnt` entries per pack. */
export interface CompactRegion {
  start: number;
  count: number;
  vcnt: 2 | 16;
  def: StructDef<{ bits: Uint8Array; blkaddr: number }>;
  /** Bytes of one pack (8 or 32). */
  packBytes: number;
  /** Bits per entry in the pack's bitstream (16 or 14). */
  encodebits: number;
}

export interface CompactLayout {
  /** Entries in 4-byte form before the 2-byte packs (they align the 2-byte packs to 32 bytes). */
  init4: number;
  /** Entries in 2-byte form (a multiple of 16). */
  c2: number;
  /** Entries in 4-byte form after the 2-byte packs. */
  rest: number;
  /** The three regions in order (some may be empty). */
  regions: CompactRegion[];
  /** Bytes from `ebase` to the end of the last pack (a half-used 4-byte pack counts whole). */
  length: number;
}

function region(start: number, count: number, vcnt: 2 | 16): CompactRegion {
  const def = vcnt === 2 ? zCompactPack4B : zCompactPack2B;
  return { start, count, vcnt, def, packBytes: def.size, encodebits: ((def.size - 4) * 8) / vcnt };
}

/**
 * Where the compact indexes of a file lie: `ebase` is the byte after the map header,
 * `totalidx` = ceil(i_size / block size) (blocks, as the kernel counts them, not lclusters).
 */
export function compactLayout(ebase: number, totalidx: number, advise: number): CompactLayout {
  let init4 = ((32 - (ebase % 32)) / 4) & 7;
  if (init4 > totalidx) init4 = totalidx;
  const c2 = advise & Z_EROFS_ADVISE.COMPACTED_2B && init4 < totalidx ? Math.floor((totalidx - init4) / 16) * 16 : 0;
  const rest = totalidx - init4 - c2;
  const end4 = ebase + init4 * 4;
  const end2 = end4 + c2 * 2;
  const length = c2 === 0 && rest === 0 ? Math.ceil(init4 / 2) * 8 : end2 + Math.ceil(rest / 2) * 8 - ebase;
  return { init4, c2, rest, regions: [region(ebase, init4, 2), region(end4, c2, 16), region(end2, rest, 2)], length };
}

/** Where the pack holding entry `i` ends (what an inline tail follows). */
export function compactPackEnd(layout: CompactLayout, i: number): number {
  let k = i;
  for (const r of layout.regions) {
    if (k < r.count) return r.start + Math.floor(k / r.vcnt) * r.packBytes + r.packBytes;
    k -= r.count;
  }
  const last = layout.regions[2]!;
  return last.start + Math.ceil(last.count / 2) * last.packBytes;
}

/** Bits of the `lo` part of a compact entry: max(lclusterbits, 12). */
export function compactLoBits(lclusterbits: number): number {
  return Math.max(lclusterbits, 12);
}

/**
 * Unpacks the `vcnt` entries of the pack at `bytes[rel]` into `type[0..vcnt)` and
 * `lo[0..vcnt)`: entry j is bits [j * encodebits, ...) read little-endian, `lo` its low
 * `lobits` bits and the type the next 2.
 */
export function unpackCompactPack(bytes: Uint8Array, rel: number, r: CompactRegion, lobits: number, type: Uint8Array, lo: Uint32Array): void {
  const loMask = (1 << lobits) - 1;
  for (let i = 0; i < r.vcnt; i++) {
    const bit = i * r.encodebits;
    const b = rel + (bit >> 3);
    const v = (bytes[b]! | (bytes[b + 1]! << 8) | ((bytes[b + 2] ?? 0) << 16)) >>> (bit & 7);
    lo[i] = v & loMask;
    type[i] = (v >>> lobits) & 3;
  }
}

/** Bits [first, end) of a pack's bitstream that hold entry `i`. */
export function compactEntryBits(r: CompactRegion, i: number): [number, number] {
  return [i * r.encodebits, (i + 1) * r.encodebits];
}

/**
 * Blocks used by the pclusters started before entry `i` of a pack, walking back as the kernel
 * does (a NONHEAD at j jumps back to its head); a head's blkaddr is the pack's blkaddr plus
 * this. Without big pclusters every head is one block and the count starts at 1 (the pack
 * blkaddr is "first head's block - 1"). Returns `-1 - j` when the NONHEAD entry j has a
 * delta[0] that cannot be walked (<= 1 without a block count, with big pclusters).
 */
export function compactHeadBlocks(type: Uint8Array, lo: Uint32Array, i: number, big: boolean): number {
  const NONHEAD = Z_EROFS_LCLUSTER_TYPE.NONHEAD;
  let nblk = big ? 0 : 1;
  while (i > 0) {
    --i;
    const t = type[i]!;
    const v = lo[i]!;
    if (!big) {
      if (t === NONHEAD) i -= v;
      if (i >= 0) ++nblk;
      continue;
    }
    if (t === NONHEAD) {
      if (v & Z_EROFS_LI_D0_CBLKCNT) {
        --i;
        nblk += v & (Z_EROFS_LI_D0_CBLKCNT - 1);
        continue;
      }
      if (v <= 1) return -1 - i;
      i -= v - 2;
      continue;
    }
    ++nblk;
  }
  return nblk;
}
