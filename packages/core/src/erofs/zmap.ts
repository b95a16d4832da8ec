/**
 * Compressed files (COMPRESSED_FULL and COMPRESSED_COMPACT inodes): the per-file map (map
 * header, full or compact logical-cluster indexes) turned into extents, and the reading of
 * those extents (pclusters decoded by the algorithms in ../compress, uncompressed and
 * interlaced pclusters, ztailpacking inline tails, fragments in the packed inode).
 *
 * The map is built in one pass over every lcluster index: each head (PLAIN, HEAD1, HEAD2)
 * starts an extent at `lcn * lclustersize + clusterofs` that runs to the next head's start
 * (or i_size); NONHEAD lclusters only continue it, except that the one right after a head may
 * carry that head's pcluster size in blocks (CBLKCNT) when big pclusters are on. The head
 * mkfs writes at i_size (an empty end-of-file extent) is dropped. The tail extent (the one
 * holding byte i_size - 1) may instead live inline after the index pack of the last lcluster
 * (INLINE_PCLUSTER) or in the packed inode (FRAGMENT_PCLUSTER).
 *
 * Every on-disk field is read through the tables in format.ts, except the bit-packed compact
 * entries, whose layout is documented at `zCompactPack2B` and unpacked in zcompact.ts (shared with
 * the tolerant inspector).
 */
import { ErofsError, hex, isErofsError, toSafeNumber } from '../errors.js';
import { decode } from '../layout/struct.js';
import { decompressorFor } from '../compress/index.js';
import {
  DataLayout,
  EROFS_SUPER_OFFSET,
  Z_EROFS_ADVISE,
  Z_EROFS_COMPRESSION_NAMES,
  Z_EROFS_FRAGMENT_INODE_BIT,
  Z_EROFS_LCLUSTER_TYPE,
  Z_EROFS_LI_D0_CBLKCNT,
  Z_EROFS_LI_PARTIAL_REF,
  zComprCfgLen,
  zDeflateCfgs,
  zLclusterIndex,
  zLclusterIndexNonhead,
  zLz4Cfgs,
  zLzmaCfgs,
  zMapHeader,
  zMapHeaderInline,
  zMapHeaderWholeFragment,
  zZstdCfgs,
} from './format.js';
import { INCOMPAT_COMPR_CFGS, INCOMPAT_ZERO_PADDING } from './features.js';
import { compactHeadBlocks, compactLayout, compactLoBits, compactPackEnd, unpackCompactPack } from './zcompact.js';
import type { ErofsImage, Extent, Inode } from './image.js';

/** Largest decompressed extent accepted (the kernel's limit for one pcluster's output is 12 MiB). */
export const MAX_DECOMPRESSED_EXTENT = 12 << 20;
/** Largest pcluster accepted (the format's limit on compressed pcluster size is 1 MiB). */
export const MAX_PCLUSTER = 1 << 20;

/** The superblock's compression setup: algorithms present and their configuration records. */
export interface CompressionConfig {
  /** Bit n set = algorithm id n may be used (available_compr_algs, or just LZ4 without COMPR_CFGS). */
  algorithms: number;
  /** Names of the algorithms present, in id order. */
  names: string[];
  zeroPadding: boolean;
  lz4MaxDistance: number;
  /** Largest LZ4 pcluster in blocks (1 without big pclusters). */
  lz4MaxPclusterBlks: number;
  lzmaDictSize: number;
  deflateWindowBits: number;
  zstdWindowLog: number;
  /** Where each configuration record lies (for the annotator): algorithm id, offset, length. */
  records: { algorithm: number; offset: number; length: number }[];
}

/** Reads the compression configuration records that follow the superblock (INCOMPAT_COMPR_CFGS). */
export async function loadCompressionConfig(img: ErofsImage): Promise<CompressionConfig> {
  const sb = img.sb;
  const cfg: CompressionConfig = {
    algorithms: 1,
    names: [],
    zeroPadding: (sb.feature_incompat & INCOMPAT_ZERO_PADDING) !== 0,
    lz4MaxDistance: 65536,
    lz4MaxPclusterBlks: 1,
    lzmaDictSize: 8 << 20,
    deflateWindowBits: 15,
    zstdWindowLog: 22,
    records: [],
  };
  if (!(sb.feature_incompat & INCOMPAT_COMPR_CFGS)) {
    cfg.lz4MaxDistance = sb.u1 === 0 ? 65536 : sb.u1;
    cfg.names = ['lz4'];
    return cfg;
  }
  cfg.algorithms = sb.u1;
  let pos = EROFS_SUPER_OFFSET + img.sbSize;
  for (let alg = 0; alg < 16; alg++) {
    if (!(sb.u1 & (1 << alg))) continue;
    const name = Z_EROFS_COMPRESSION_NAMES[alg];
    if (name === undefined) {
      throw new ErofsError('unsupported-feature', `available_compr_algs ${hex(sb.u1)} names unknown compression algorithm ${alg}`, { offset: EROFS_SUPER_OFFSET + 84, length: 2 });
    }
    cfg.names.push(name);
    pos = Math.ceil(pos / 4) * 4;
    if (pos + 2 > img.cache.size) throw new ErofsError('truncated', `${name} configuration record at ${hex(pos)} runs past the end of the image`, { offset: pos });
    const { len } = decode(zComprCfgLen, await img.meta(pos, 2), 0, pos);
    const at = pos + 2;
    if (at + len > img.cache.size) throw new ErofsError('truncated', `${name} configuration record of ${len} bytes at ${hex(at)} runs past the end of the image`, { offset: pos, length: 2 + len });
    const body = await img.meta(at, len);
    cfg.records.push({ algorithm: alg, offset: pos, length: 2 + len });
    const need = [zLz4Cfgs, zLzmaCfgs, zDeflateCfgs, zZstdCfgs][alg]!;
    if (len < need.size) {
      throw new ErofsError('invalid-value', `${name} configuration record is ${len} bytes, ${need.name} needs ${need.size}`, { offset: pos, length: 2 });
    }
    switch (alg) {
      case 0: {
        const c = decode(zLz4Cfgs, body, 0, at);
        cfg.lz4MaxDistance = c.max_distance;
        cfg.lz4MaxPclusterBlks = c.max_pclusterblks || 1;
        if (cfg.lz4MaxPclusterBlks * img.blockSize > MAX_PCLUSTER) {
          throw new ErofsError('invalid-value', `lz4 max_pclusterblks ${c.max_pclusterblks} exceeds the ${MAX_PCLUSTER}-byte pcluster limit`, { offset: at + 2, length: 2 });
        }
        break;
      }
      case 1: {
        const c = decode(zLzmaCfgs, body, 0, at);
        if (c.format !== 0) throw new ErofsError('unsupported-feature', `lzma stream format ${c.format} (only 0, MicroLZMA, is defined)`, { offset: at + 4, length: 2 });
        cfg.lzmaDictSize = c.dict_size;
        break;
      }
      case 2: {
        const c = decode(zDeflateCfgs, body, 0, at);
        if (c.windowbits < 8 || c.windowbits > 15) throw new ErofsError('invalid-value', `deflate windowbits ${c.windowbits} out of range [8, 15]`, { offset: at, length: 1 });
        cfg.deflateWindowBits = c.windowbits;
        break;
      }
      case 3: {
        const c = decode(zZstdCfgs, body, 0, at);
        if (c.format !== 0) throw new ErofsError('unsupported-feature', `zstd stream format ${c.format} (only 0 is defined)`, { offset: at, length: 1 });
        cfg.zstdWindowLog = c.windowlog + 10;
        break;
      }
    }
    pos = at + len;
  }
  return cfg;
}

/** How one extent's bytes are stored. */
export type ZStorage = 'pcluster' | 'inline' | 'fragment';

/** One extent of a compressed file (the reader's internal form; see {@link toExtent}). */
export interface ZExtent {
  logical: number;
  length: number;
  storage: ZStorage;
  /** Algorithm id (0 lz4, 1 lzma, 2 deflate, 3 zstd), or -1 for an uncompressed pcluster. */
  algorithm: number;
  /** Uncompressed pcluster stored rotated by `logical % blocksize` (INTERLACED_PCLUSTER). */
  interlaced: boolean;
  /** Byte address of the pcluster or inline tail (device-0 unified space); for fragments, the offset in the packed inode. */
  physical: number;
  /** Encoded bytes at `physical` (pcluster or inline size); for fragments, `length`. */
  encodedLength: number;
  /** The extent uses only a prefix of the pcluster's output (PARTIAL_REF, dedupe). */
  partial: boolean;
  /** Where the index entry (or map header) describing it lives. */
  entryOffset: number;
}

/** Public {@link Extent} form of a compressed extent. */
export function toExtent(z: ZExtent): Extent {
  return {
    logical: z.logical,
    length: z.length,
    device: 0,
    physical: z.physical,
    entryOffset: z.entryOffset,
    compression: {
      algorithm: z.storage === 'fragment' ? 'packed' : z.algorithm < 0 ? (z.interlaced ? 'interlaced' : 'plain') : Z_EROFS_COMPRESSION_NAMES[z.algorithm] ?? `unknown(${z.algorithm})`,
      storage: z.storage,
      encodedLength: z.encodedLength,
      partial: z.partial,
    },
  };
}

export function isCompressed(ino: Inode): boolean {
  return ino.layout === DataLayout.COMPRESSED_FULL || ino.layout === DataLayout.COMPRESSED_COMPACT;
}

const T_PLAIN = Z_EROFS_LCLUSTER_TYPE.PLAIN;
const T_HEAD1 = Z_EROFS_LCLUSTER_TYPE.HEAD1;
const T_NONHEAD = Z_EROFS_LCLUSTER_TYPE.NONHEAD;

/** Decoded lcluster indexes of one file. */
interface Lclusters {
  count: number;
  type: Uint8Array;
  /** clusterofs (heads) or raw delta[0] incl. CBLKCNT (NONHEAD; delta[1] for the last entry of a compact pack). */
  lo: Uint32Array;
  /** pcluster block address (heads). */
  pblk: Float64Array;
  partial: Uint8Array;
  /** Byte offset of each index entry. */
  at: Float64Array;
  /** Offset just past the index pack holding each entry (where an inline tail follows). */
  nextPack: Float64Array;
}

function mapError(ino: Inode, msg: string, offset: number, length?: number): ErofsError {
  return new ErofsError('invalid-value', `inode ${ino.nid}: ${msg}`, length === undefined ? { offset } : { offset, length });
}

/** Builds the extent list of a compressed inode. */
export async function loadZMap(img: ErofsImage, ino: Inode): Promise<ZExtent[]> {
  const size = ino.size;
  if (size === 0) return [];
  const cfg = img.compression;
  const bs = img.blockSize;
  const hpos = Math.ceil(ino.inlineBase / 8) * 8;
  if (hpos + 8 > img.cache.size) {
    throw new ErofsError('truncated', `inode ${ino.nid}: compression map header at ${hex(hpos)} runs past the end of the image`, { offset: hpos, length: 8 });
  }
  const hbytes = await img.meta(hpos, 8);
  const h = decode(zMapHeader, hbytes, 0, hpos);
  if (h.h_clusterbits >> Z_EROFS_FRAGMENT_INODE_BIT) {
    const whole = decode(zMapHeaderWholeFragment, hbytes, 0, hpos);
    const off = toSafeNumber(whole.h_fragmentoff & ((1n << 63n) - 1n), `inode ${ino.nid} fragment offset`, hpos);
    return [{ logical: 0, length: size, storage: 'fragment', algorithm: -1, interlaced: false, physical: off, encodedLength: size, partial: false, entryOffset: hpos }];
  }
  const advise = h.h_advise;
  const full = ino.layout === DataLayout.COMPRESSED_FULL;
  if (full && advise & Z_EROFS_ADVISE.COMPACTED_2B) {
    throw new ErofsError('unsupported-feature', `inode ${ino.nid}: the extent-record map layout (h_advise bit 0 on a full-index inode) is not supported`, { offset: hpos + 4, length: 2 });
  }
  const lclusterbits = img.blkszbits + (h.h_clusterbits & 7);
  if (lclusterbits > (full ? 20 : 14)) {
    throw mapError(ino, `logical cluster bits ${lclusterbits} out of range`, hpos + 7, 1);
  }
  const bigpcl1 = (advise & Z_EROFS_ADVISE.BIG_PCLUSTER_1) !== 0;
  const bigpcl2 = (advise & Z_EROFS_ADVISE.BIG_PCLUSTER_2) !== 0;
  if ((bigpcl1 || bigpcl2) && !(img.sb.feature_incompat & INCOMPAT_COMPR_CFGS)) {
    throw mapError(ino, 'big pclusters without the big_pcluster (compr_cfgs) feature', hpos + 4, 2);
  }
  if (!full && bigpcl1 !== bigpcl2) {
    throw mapError(ino, 'compact indexes need BIG_PCLUSTER_1 and BIG_PCLUSTER_2 alike', hpos + 4, 2);
  }
  const algs = [h.h_algorithmtype & 15, h.h_algorithmtype >> 4];
  const L = 2 ** lclusterbits;
  const n = Math.ceil(size / L);
  const lc = full ? await loadFull(img, ino, hpos, n) : await loadCompact(img, ino, hpos, n, lclusterbits, advise, bigpcl1);

  const inline = (advise & Z_EROFS_ADVISE.INLINE_PCLUSTER) !== 0;
  const fragment = (advise & Z_EROFS_ADVISE.FRAGMENT_PCLUSTER) !== 0;
  const out: ZExtent[] = [];
  for (let lcn = 0; lcn < n; lcn++) {
    const t = lc.type[lcn]!;
    if (t === T_NONHEAD) {
      if (lcn === 0) throw mapError(ino, 'the first logical cluster is not a head', lc.at[0]!);
      if (lc.lo[lcn]! & Z_EROFS_LI_D0_CBLKCNT && !(bigpcl1 || bigpcl2)) {
        throw mapError(ino, `lcluster ${lcn} carries a pcluster block count (CBLKCNT) without big pclusters`, lc.at[lcn]!);
      }
      continue;
    }
    const clusterofs = lc.lo[lcn]!;
    if (clusterofs >= L) throw mapError(ino, `lcluster ${lcn}: clusterofs ${clusterofs} is not below the lcluster size ${L}`, lc.at[lcn]!);
    const start = lcn * L + clusterofs;
    if (lcn === 0 && clusterofs !== 0) throw mapError(ino, `the first extent starts at byte ${clusterofs}, not 0`, lc.at[0]!);
    const prev = out[out.length - 1];
    if (prev) prev.length = Math.min(start, size) - prev.logical;
    if (start >= size) break; // mkfs's empty end-of-file head
    let blocks = 1;
    const big = t === T_HEAD1 ? bigpcl1 : bigpcl2;
    if (big && (lcn + 1) * L < size && lcn + 1 < n && lc.type[lcn + 1] === T_NONHEAD) {
      const d0 = lc.lo[lcn + 1]!;
      if (d0 & Z_EROFS_LI_D0_CBLKCNT) blocks = d0 & (Z_EROFS_LI_D0_CBLKCNT - 1);
      else if (d0 !== 1 && (full || !isPackLast(lc, lcn + 1))) {
        throw mapError(ino, `lcluster ${lcn + 1} after a head with big pclusters has delta[0] ${d0}, neither 1 nor a block count`, lc.at[lcn + 1]!);
      }
      if (blocks === 0) throw mapError(ino, `lcluster ${lcn + 1}: pcluster of 0 blocks`, lc.at[lcn + 1]!);
    }
    let algorithm = -1;
    if (t !== T_PLAIN) {
      algorithm = algs[t === T_HEAD1 ? 0 : 1]!;
      if (algorithm >= Z_EROFS_COMPRESSION_NAMES.length) {
        throw new ErofsError('unsupported-feature', `inode ${ino.nid}: unknown compression algorithm ${algorithm}`, { offset: hpos + 6, length: 1 });
      }
      if (!(cfg.algorithms & (1 << algorithm))) {
        throw mapError(ino, `lcluster ${lcn} uses ${Z_EROFS_COMPRESSION_NAMES[algorithm]}, which the superblock does not list (available_compr_algs ${hex(cfg.algorithms)})`, lc.at[lcn]!);
      }
    }
    out.push({
      logical: start,
      length: size - start,
      storage: 'pcluster',
      algorithm,
      interlaced: t === T_PLAIN && (advise & Z_EROFS_ADVISE.INTERLACED_PCLUSTER) !== 0,
      physical: lc.pblk[lcn]! * bs,
      encodedLength: blocks * bs,
      partial: lc.partial[lcn] === 1,
      entryOffset: lc.at[lcn]!,
    });
  }
  if (out.length === 0) throw mapError(ino, 'no extent covers the file', hpos);
  const tail = out[out.length - 1]!;
  const tailLcn = Math.floor((size - 1) / L);
  if (inline) {
    const hi = decode(zMapHeaderInline, hbytes, 0, hpos);
    tail.storage = 'inline';
    tail.physical = lc.nextPack[tailLcn]!;
    tail.encodedLength = hi.h_idata_size;
    if (hi.h_idata_size === 0 || (tail.physical % bs) + hi.h_idata_size > bs) {
      throw mapError(ino, `inline tail pcluster of ${hi.h_idata_size} bytes at ${hex(tail.physical)} is empty or crosses a block boundary`, hpos, 4);
    }
  } else if (fragment) {
    let off = h.h_fragmentoff;
    if (full) off += lc.pblk[Math.floor(tail.logical / L)]! * 2 ** 32;
    tail.storage = 'fragment';
    tail.algorithm = -1;
    tail.interlaced = false;
    tail.physical = off;
    tail.encodedLength = tail.length;
  }
  for (const e of out) {
    if (e.storage === 'fragment') continue;
    if (e.algorithm < 0) {
      if (e.length > e.encodedLength) throw mapError(ino, `uncompressed extent [${e.logical}, ${e.logical + e.length}) is longer than its ${e.encodedLength}-byte pcluster`, e.entryOffset);
    } else if (e.length > MAX_DECOMPRESSED_EXTENT) {
      throw new ErofsError('too-large', `inode ${ino.nid}: compressed extent [${e.logical}, ${e.logical + e.length}) decompresses to ${e.length} bytes, more than ${MAX_DECOMPRESSED_EXTENT}`, { offset: e.entryOffset });
    }
    if (e.encodedLength > MAX_PCLUSTER + bs) throw mapError(ino, `pcluster of ${e.encodedLength} bytes exceeds ${MAX_PCLUSTER}`, e.entryOffset);
  }
  return out;
}

/**
 * Where the map of a compressed inode lies in the image: from its map header to the end of its
 * lcluster indexes, or of the inline (ztailpacking) tail after them; just the header when the
 * whole file is a fragment. Nothing is checked beyond what locating it needs.
 */
export async function zmapRange(img: ErofsImage, ino: Inode): Promise<{ start: number; end: number }> {
  const hpos = Math.ceil(ino.inlineBase / 8) * 8;
  if (!isCompressed(ino) || ino.size === 0 || hpos + 8 > img.cache.size) return { start: hpos, end: hpos };
  const hb = await img.meta(hpos, 8);
  const h = decode(zMapHeaderInline, hb, 0, hpos);
  if (h.h_clusterbits >> Z_EROFS_FRAGMENT_INODE_BIT) return { start: hpos, end: hpos + 8 };
  const L = 2 ** (img.blkszbits + (h.h_clusterbits & 7));
  const tailLcn = Math.floor((ino.size - 1) / L);
  let end: number;
  let tailPackEnd: number;
  if (ino.layout === DataLayout.COMPRESSED_FULL) {
    end = hpos + 16 + Math.ceil(ino.size / L) * 8;
    tailPackEnd = hpos + 16 + tailLcn * 8 + 8;
  } else {
    const layout = compactLayout(hpos + 8, Math.ceil(ino.size / img.blockSize), h.h_advise);
    end = hpos + 8 + layout.length;
    tailPackEnd = compactPackEnd(layout, tailLcn);
  }
  if (h.h_advise & Z_EROFS_ADVISE.INLINE_PCLUSTER) end = Math.max(end, tailPackEnd + h.h_idata_size);
  return { start: hpos, end: Math.min(end, img.cache.size) };
}

function isPackLast(lc: Lclusters, lcn: number): boolean {
  // the last entry of a compact pack stores delta[1], so its delta[0] cannot be checked
  return lc.nextPack[lcn] !== lc.nextPack[lcn + 1];
}

async function indexBytes(img: ErofsImage, ino: Inode, at: number, length: number, what: string): Promise<Uint8Array> {
  if (at + length > img.cache.size) {
    throw new ErofsError('out-of-bounds', `inode ${ino.nid}: ${what} of ${length} bytes at ${hex(at)} runs past the end of the image (${img.cache.size} bytes)`, { offset: at, length });
  }
  return img.meta(at, length);
}

function newLclusters(n: number): Lclusters {
  return {
    count: n,
    type: new Uint8Array(n),
    lo: new Uint32Array(n),
    pblk: new Float64Array(n),
    partial: new Uint8Array(n),
    at: new Float64Array(n),
    nextPack: new Float64Array(n),
  };
}

/** Full indexes: 8 bytes per lcluster after the map header and 8 reserved bytes. */
async function loadFull(img: ErofsImage, ino: Inode, hpos: number, n: number): Promise<Lclusters> {
  const base = hpos + 16;
  const bytes = await indexBytes(img, ino, base, n * 8, `${n} full lcluster indexes`);
  const lc = newLclusters(n);
  for (let i = 0; i < n; i++) {
    const at = base + i * 8;
    const advise = bytes[i * 8]! | (bytes[i * 8 + 1]! << 8);
    const type = advise & 3;
    lc.type[i] = type;
    lc.at[i] = at;
    lc.nextPack[i] = at + 8;
    if (type === T_NONHEAD) {
      lc.lo[i] = decode(zLclusterIndexNonhead, bytes, i * 8, at, false).di_delta0;
    } else {
      const d = decode(zLclusterIndex, bytes, i * 8, at);
      lc.lo[i] = d.di_clusterofs;
      lc.pblk[i] = d.di_blkaddr;
      lc.partial[i] = d.di_advise & Z_EROFS_LI_PARTIAL_REF ? 1 : 0;
    }
  }
  return lc;
}

/**
 * Compact indexes (layout documented at zCompactPack2B in format.ts). Every pack is decoded
 * into (lo, type) pairs; head block addresses follow the pack base as the kernel computes them,
 * walking back over the earlier entries of the same pack.
 */
async function loadCompact(img: ErofsImage, ino: Inode, hpos: number, n: number, lclusterbits: number, advise: number, big: boolean): Promise<Lclusters> {
  const ebase = hpos + 8;
  const totalidx = Math.ceil(ino.size / img.blockSize);
  const layout = compactLayout(ebase, totalidx, advise);
  if (layout.c2 > 0 && lclusterbits > 12) throw mapError(ino, `2-byte compact indexes need lcluster bits <= 12, not ${lclusterbits}`, hpos + 4, 2);
  const bytes = await indexBytes(img, ino, ebase, layout.length, `${totalidx} compact lcluster indexes`);
  const lc = newLclusters(n);
  const lobits = compactLoBits(lclusterbits);
  const vtype = new Uint8Array(16);
  const vlo = new Uint32Array(16);
  let lcn = 0;
  for (const r of layout.regions) {
    const { count, vcnt, packBytes } = r;
    for (let p = 0; p * vcnt < count; p++) {
      const packAt = r.start + p * packBytes;
      const rel = packAt - ebase;
      const pack = decode(r.def, bytes, rel, packAt);
      unpackCompactPack(bytes, rel, r, lobits, vtype, vlo);
      const inPack = Math.min(vcnt, count - p * vcnt);
      for (let i = 0; i < inPack && lcn < n; i++, lcn++) {
        lc.type[lcn] = vtype[i]!;
        lc.lo[lcn] = vlo[i]!;
        lc.at[lcn] = packAt + ((i * packBytes) / vcnt);
        lc.nextPack[lcn] = packAt + packBytes;
        if (vtype[i] === T_NONHEAD) continue;
        const nblk = compactHeadBlocks(vtype, vlo, i, big);
        if (nblk < 0) {
          const j = -1 - nblk;
          throw mapError(ino, `compact pack at ${hex(packAt)}: NONHEAD entry ${j} has delta[0] ${vlo[j]} without a block count`, packAt);
        }
        lc.pblk[lcn] = pack.blkaddr + nblk;
      }
    }
  }
  if (lcn < n) throw mapError(ino, `${n} lclusters but only ${lcn} compact indexes`, ebase);
  return lc;
}

// ------------------------------------------------------------------------------- reading

/** Bounded LRU of decoded pclusters, keyed by where the encoded bytes are. */
export class PclusterCache {
  private readonly map = new Map<string, Uint8Array>();
  private bytes = 0;
  constructor(readonly maxBytes = 16 << 20) {}

  get(key: string, need: number): Uint8Array | undefined {
    const hit = this.map.get(key);
    if (!hit || hit.length < need) return undefined;
    this.map.delete(key);
    this.map.set(key, hit);
    return hit;
  }

  set(key: string, value: Uint8Array): void {
    const old = this.map.get(key);
    if (old) {
      this.bytes -= old.length;
      this.map.delete(key);
    }
    if (value.length > this.maxBytes) return;
    this.map.set(key, value);
    this.bytes += value.length;
    while (this.bytes > this.maxBytes) {
      const [k, v] = this.map.entries().next().value as [string, Uint8Array];
      this.map.delete(k);
      this.bytes -= v.length;
    }
  }
}

/**
 * Writes the bytes `[from, from + count)` of extent `e` (offsets relative to the extent) into
 * `dst` at `at`. Compressed pclusters are decoded from their start; `scratch` says whether the
 * decoded prefix may be decoded straight into `dst` (from = 0) or goes through the cache.
 */
export async function readZExtent(img: ErofsImage, ino: Inode, e: ZExtent, from: number, count: number, dst: Uint8Array, at: number, useCache: boolean): Promise<void> {
  if (count <= 0) return;
  switch (e.storage) {
    case 'fragment': {
      const packedNid = img.packedNid;
      if (packedNid === 0) throw mapError(ino, 'data in a fragment but the image has no packed inode', e.entryOffset);
      const packed = await img.inode(packedNid);
      if (packed.nid === ino.nid) throw mapError(ino, 'the packed inode refers to a fragment of itself', e.entryOffset);
      const off = e.physical + from;
      if (off + count > packed.size) {
        throw new ErofsError('out-of-bounds', `inode ${ino.nid}: fragment bytes [${off}, ${off + count}) run past the packed inode (${packed.size} bytes)`, { offset: e.entryOffset });
      }
      dst.set(await img.read(packed, off, count), at);
      return;
    }
  }
  if (e.algorithm < 0) {
    // uncompressed pcluster
    if (!e.interlaced) {
      dst.set(await readEncoded(img, ino, e, from, count), at);
      return;
    }
    const plen = e.encodedLength;
    const raw = await readEncoded(img, ino, e, 0, plen);
    let s = (e.logical % img.blockSize) + from;
    s %= plen;
    let k = 0;
    while (k < count) {
      const n = Math.min(count - k, plen - s);
      dst.set(raw.subarray(s, s + n), at + k);
      k += n;
      s = 0;
    }
    return;
  }
  const need = from + count;
  if (from === 0 && !useCache) {
    await decodeInto(img, ino, e, dst, at, need);
    return;
  }
  const key = `${e.physical}:${e.algorithm}`;
  let decoded = useCache ? img.pclusters.get(key, need) : undefined;
  if (!decoded) {
    const len = useCache ? e.length : need;
    decoded = new Uint8Array(len);
    await decodeInto(img, ino, e, decoded, 0, len);
    if (useCache) img.pclusters.set(key, decoded);
  }
  dst.set(decoded.subarray(from, need), at);
}

async function readEncoded(img: ErofsImage, ino: Inode, e: ZExtent, from: number, count: number): Promise<Uint8Array> {
  try {
    return await img.readDevice(0, e.physical + from, count, e.entryOffset);
  } catch (err) {
    if (isErofsError(err) && (err.code === 'out-of-bounds' || err.code === 'truncated')) {
      throw new ErofsError('out-of-bounds', `inode ${ino.nid}: pcluster of extent [${e.logical}, ${e.logical + e.length}) at ${hex(e.physical)} (${e.encodedLength} bytes) lies past the end of the image: ${err.message}`, {
        offset: e.entryOffset,
      });
    }
    throw err;
  }
}

async function decodeInto(img: ErofsImage, ino: Inode, e: ZExtent, dst: Uint8Array, at: number, need: number): Promise<void> {
  decodeRaw(img, ino, e, await readEncoded(img, ino, e, 0, e.encodedLength), dst, at, need);
}

/**
 * `readZExtent` for a whole-prefix read (`from` 0, no pcluster cache) of a compressed pcluster
 * whose bytes the block cache holds or can read without waiting: decoded at once, with no
 * promise per pcluster (the common case when a file source streams a file). Returns false,
 * having done nothing, when the asynchronous path must run (which also reports every error
 * about where the pcluster lies).
 */
export function tryDecodeZExtentSync(img: ErofsImage, ino: Inode, e: ZExtent, from: number, count: number, dst: Uint8Array, at: number): boolean {
  if (count <= 0 || from !== 0 || e.storage === 'fragment' || e.algorithm < 0) return false;
  const raw = img.tryReadDeviceSync(e.physical, e.encodedLength);
  if (raw === undefined) return false;
  decodeRaw(img, ino, e, raw, dst, at, count);
  return true;
}

function decodeRaw(img: ErofsImage, ino: Inode, e: ZExtent, encoded: Uint8Array, dst: Uint8Array, at: number, need: number): void {
  const cfg = img.compression;
  let raw = encoded;
  // Node Buffers (from file sources) are a Uint8Array subclass: a decoder that sees both
  // kinds runs its byte loops through polymorphic element access, several times slower.
  if (Object.getPrototypeOf(raw) !== Uint8Array.prototype) raw = new Uint8Array(raw.buffer, raw.byteOffset, raw.length);
  let skip = 0;
  const name = Z_EROFS_COMPRESSION_NAMES[e.algorithm] ?? String(e.algorithm);
  if (cfg.zeroPadding || e.algorithm !== 0) {
    // the stream is right-aligned: skip the zeros before it (inside the first block only)
    const window = Math.min(raw.length, img.blockSize - (e.physical % img.blockSize));
    while (skip < window && raw[skip] === 0) skip++;
    if (skip === window) {
      throw new ErofsError('invalid-value', `inode ${ino.nid}: ${name} pcluster at ${hex(e.physical)} for bytes [${e.logical}, ${e.logical + e.length}) holds only zeros`, { offset: e.physical, length: e.encodedLength });
    }
  }
  const dec = decompressorFor(e.algorithm, cfg.lzmaDictSize)!;
  let got: number;
  try {
    got = dec(skip === 0 ? raw : raw.subarray(skip), dst, at, at + need);
  } catch (err) {
    if (isErofsError(err)) {
      const where = e.physical + skip + (err.offset ?? 0);
      throw new ErofsError(err.code, `inode ${ino.nid}: ${name} pcluster at ${hex(e.physical)} (${e.encodedLength} bytes) for file bytes [${e.logical}, ${e.logical + e.length}), stream byte ${hex(where)}: ${err.message}`, {
        offset: where,
      });
    }
    throw new ErofsError('invalid-value', `inode ${ino.nid}: ${name} pcluster at ${hex(e.physical)} for file bytes [${e.logical}, ${e.logical + e.length}): ${(err as Error).message}`, {
      offset: e.physical,
      length: e.encodedLength,
    });
  }
  if (got < need) {
    throw new ErofsError('invalid-value', `inode ${ino.nid}: ${name} pcluster at ${hex(e.physical)} (${e.encodedLength} bytes) decompresses to ${got} bytes, but extent [${e.logical}, ${e.logical + e.length}) needs ${need}`, {
      offset: e.physical,
      length: e.encodedLength,
    });
  }
}

/**
 * The end of an inode's metadata record: the core and inline xattrs, then its inline tail, its
 * chunk table, or its compression map (header, lcluster indexes, inline compressed tail).
 */
export async function inodeRecordEnd(img: ErofsImage, ino: Inode): Promise<number> {
  const bs = img.blockSize;
  if (ino.layout === DataLayout.COMPRESSED_FULL || ino.layout === DataLayout.COMPRESSED_COMPACT) {
    return Math.max(ino.inlineBase, (await zmapRange(img, ino)).end);
  }
  if (ino.layout === DataLayout.FLAT_INLINE && ino.size > 0) {
    const tail = ino.size - (Math.ceil(ino.size / bs) - 1) * bs;
    return ino.inlineBase + Math.min(tail, bs - (ino.inlineBase % bs));
  }
  if (ino.layout === DataLayout.CHUNK_BASED) {
    const fmt = ino.iu & 0xffff;
    const unit = fmt & 0x20 ? 8 : 4;
    const cs = 2 ** (img.blkszbits + (fmt & 0x1f));
    return Math.ceil(ino.inlineBase / unit) * unit + Math.ceil(ino.size / cs) * unit;
  }
  return ino.inlineBase;
}
