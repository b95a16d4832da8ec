/**
 * Tolerant inspection of compressed files (COMPRESSED_FULL and COMPRESSED_COMPACT inodes) and
 * of the compression configuration records after the superblock: the map header, every
 * lcluster index (full 8-byte indexes, compact 4-byte and 2-byte packs split into their
 * entries), the pclusters they point at, the ztailpacking inline tail. Synchronous over the
 * bytes the inspector has, unlike the reader's async `loadZMap` (erofs/zmap.ts); the fixed
 * parts are decoded and traced through the tables in erofs/format.ts, the compact bitstream is
 * unpacked by erofs/zcompact.ts (the code the reader uses). Problems are diagnostics.
 */
import { hex } from '../errors.js';
import {
  DataLayout,
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
} from '../erofs/format.js';
import { INCOMPAT_COMPR_CFGS } from '../erofs/features.js';
import { compactHeadBlocks, compactLayout, compactLoBits, compactPackEnd, unpackCompactPack, type CompactLayout, type CompactRegion } from '../erofs/zcompact.js';
import type { Field, StructDef } from '../layout/struct.js';
import type { ByteMap } from './bytes.js';
import { plural } from './describe.js';
import type { ErofsInspectContext, InspectedInode } from './erofs.js';
import type { Annotator, Explained, Target } from './model.js';

const { PLAIN, HEAD1, NONHEAD } = Z_EROFS_LCLUSTER_TYPE;
const TYPE_NAMES = ['PLAIN', 'HEAD1', 'NONHEAD', 'HEAD2'] as const;
/** The format's limit on one pcluster (the reader refuses larger ones too). */
const MAX_PCLUSTER = 1 << 20;

const ADVISE_NAMES: [number, string][] = [
  [Z_EROFS_ADVISE.BIG_PCLUSTER_1, 'BIG_PCLUSTER_1'],
  [Z_EROFS_ADVISE.BIG_PCLUSTER_2, 'BIG_PCLUSTER_2'],
  [Z_EROFS_ADVISE.INLINE_PCLUSTER, 'INLINE_PCLUSTER (ztailpacking)'],
  [Z_EROFS_ADVISE.INTERLACED_PCLUSTER, 'INTERLACED_PCLUSTER'],
  [Z_EROFS_ADVISE.FRAGMENT_PCLUSTER, 'FRAGMENT_PCLUSTER'],
];

function adviseNames(advise: number, full: boolean): string {
  const out: string[] = [];
  if (advise & Z_EROFS_ADVISE.COMPACTED_2B) out.push(full ? 'EXTENTS (extent records, not decoded here)' : 'COMPACTED_2B');
  for (const [bit, name] of ADVISE_NAMES) if (advise & bit) out.push(name);
  const unknown = advise & ~0x3f;
  if (unknown) out.push(`unknown bits ${hex(unknown)}`);
  return out.join(', ') || 'none';
}

function algName(id: number): string {
  return Z_EROFS_COMPRESSION_NAMES[id] ?? `unknown algorithm ${id}`;
}

/** Decoded lcluster indexes of one file, for the entries whose bytes are in the dump. */
interface Lclusters {
  /** Entries decoded (a prefix of the file's lclusters; the rest are not in the dump). */
  count: number;
  present: Uint8Array;
  type: Uint8Array;
  /** clusterofs (heads), delta[0] incl. CBLKCNT (NONHEAD), or delta[1] (last entry of a compact pack). */
  lo: Uint32Array;
  /** delta[1] of full NONHEAD indexes. */
  d1: Uint32Array;
  /** Head pcluster block address. */
  pblk: Float64Array;
  partial: Uint8Array;
  /** Compact: the entry is the last of its pack (so `lo` is delta[1]). */
  packLast: Uint8Array;
}

function newLclusters(n: number): Lclusters {
  return {
    count: n,
    present: new Uint8Array(n),
    type: new Uint8Array(n),
    lo: new Uint32Array(n),
    d1: new Uint32Array(n),
    pblk: new Float64Array(n),
    partial: new Uint8Array(n),
    packLast: new Uint8Array(n),
  };
}

/** One extent as the map describes it: a head and the bytes up to the next head. */
interface ZExtentInfo {
  lcn: number;
  start: number;
  /** Undefined when the next head is not in the dump. */
  end: number | undefined;
  blocks: number;
  /** Algorithm id, or -1 for an uncompressed (PLAIN) pcluster. */
  algorithm: number;
}

/** Everything the field explanations need, computed before anything is claimed. */
interface ZMapState {
  ino: InspectedInode;
  label: string;
  bs: number;
  /** available_compr_algs, when the superblock gave it. */
  comprAlgs: number | undefined;
  full: boolean;
  L: number;
  n: number;
  algs: [number, number];
  big1: boolean;
  big2: boolean;
  lc: Lclusters;
  /** Extents by head lcn. */
  extents: Map<number, ZExtentInfo>;
  /** lcn of the head holding byte i_size - 1 (the tail extent), when known. */
  tailLcn: number | undefined;
  tailStorage: 'pcluster' | 'inline' | 'fragment';
}

/** Inspects the data map of a compressed inode (registered in `layoutInspectors`). */
export function inspectCompressed(ctx: ErofsInspectContext, ino: InspectedInode): void {
  const { ann, map, geo } = ctx;
  const size = ino.size;
  if (size === 0) return;
  const pre = `inode[${ino.nid}]`;
  const label = ino.path ?? `inode ${ino.nid}`;
  const full = ino.layout === DataLayout.COMPRESSED_FULL;
  const hpos = Math.ceil(ino.inlineBase / 8) * 8;
  if (hpos > ino.inlineBase) ann.padding(ino.inlineBase, hpos, 'z_erofs_map_header', `${pre}.zmap_align`, 'padding that aligns the compression map header to 8 bytes');
  const hb = map.get(hpos, 8);
  if (!hb) {
    if (map.any(hpos, 8)) {
      ann.traceStruct(zMapHeader, hpos, `${pre}.zmap`);
      ann.diag('info', 'truncated', `inode ${ino.nid}: its compression map header at ${hex(hpos)} is only partly in the dump; the lcluster indexes are not decoded`, hpos, 8);
    }
    return;
  }
  const mapStruct = ann.structure('compression-map', 'compression map', `${full ? 'full' : 'compact'} lcluster indexes`, hpos, hpos + 8, ino.structure);
  ino.structure.end = Math.max(ino.structure.end, hpos + 8);

  // The whole file in the packed inode: the header is a 63-bit offset and nothing follows.
  if (hb[7]! >> Z_EROFS_FRAGMENT_INODE_BIT) {
    mapStruct.detail = 'the whole file is a fragment in the packed inode';
    ann.traceStruct(zMapHeaderWholeFragment, hpos, `${pre}.zmap`, (_f, v) => {
      const off = v.h_fragmentoff & ((1n << 63n) - 1n);
      return { value: `${hex(off)} | 1 << 63`, meaning: `bit 63: the whole file (${plural(size, 'byte')}) is bytes ${off}..${off + BigInt(size)} of the packed inode${geo.packedNid ? ` ${geo.packedNid}` : ''}` };
    });
    if (geo.from === 'superblock' && geo.packedNid === 0) ann.diag('error', 'invalid-value', `inode ${ino.nid}: the whole file is a fragment, but the superblock names no packed inode (packed_nid 0)`, hpos, 8);
    return;
  }

  const advise = hb[4]! | (hb[5]! << 8);
  const algorithmtype = hb[6]!;
  const clusterbits = hb[7]!;
  const inline = (advise & Z_EROFS_ADVISE.INLINE_PCLUSTER) !== 0;
  const fragment = (advise & Z_EROFS_ADVISE.FRAGMENT_PCLUSTER) !== 0;
  const lclusterbits = geo.blkszbits + (clusterbits & 7);
  const L = 2 ** lclusterbits;
  const algs: [number, number] = [algorithmtype & 15, algorithmtype >> 4];
  const big1 = (advise & Z_EROFS_ADVISE.BIG_PCLUSTER_1) !== 0;
  const big2 = (advise & Z_EROFS_ADVISE.BIG_PCLUSTER_2) !== 0;
  const idataSize = hb[2]! | (hb[3]! << 8);
  const fragmentOff = (hb[0]! | (hb[1]! << 8) | (hb[2]! << 16) | (hb[3]! << 24)) >>> 0;

  const header = ann.traceStruct((inline ? zMapHeaderInline : zMapHeader) as StructDef<Record<string, number>>, hpos, `${pre}.zmap`, (f) => {
    switch (f.name) {
      case 'h_fragmentoff':
        return fragment && !inline
          ? { meaning: `the tail extent is at byte ${fragmentOff}${full ? ' (low 32 bits; the high 32 are the blkaddr of the tail head index)' : ''} of the packed inode's data` }
          : { meaning: 'unused (no FRAGMENT_PCLUSTER)' };
      case 'h_idata_size':
        return { meaning: `the tail pcluster (${plural(idataSize, 'byte')}) is stored inline after the index of the last lcluster` };
      case 'h_advise':
        return { value: hex(advise), meaning: adviseNames(advise, full) };
      case 'h_algorithmtype':
        return { value: hex(algorithmtype), meaning: `HEAD1 lclusters: ${algName(algs[0])}, HEAD2 lclusters: ${algName(algs[1])}` };
      case 'h_clusterbits':
        return { value: hex(clusterbits), meaning: `lclusterbits ${lclusterbits} (blkszbits ${geo.blkszbits} + ${clusterbits & 7}): logical clusters of ${L} bytes` };
      default:
        return undefined;
    }
  });
  if (!header) return;
  // Problems with the header itself.
  if (full && advise & Z_EROFS_ADVISE.COMPACTED_2B) {
    ann.diag('warning', 'unsupported-feature', `inode ${ino.nid}: h_advise bit 0 on a full-index inode selects extent records (Z_EROFS_ADVISE_EXTENTS, newest kernels); they are not decoded here`, hpos + 4, 2);
    return;
  }
  if (clusterbits & 0x78) ann.diag('warning', 'invalid-value', `inode ${ino.nid}: h_clusterbits ${hex(clusterbits)} has reserved bits 3-6 set`, hpos + 7, 1);
  if (lclusterbits > (full ? 20 : 14)) {
    ann.diag('error', 'invalid-value', `inode ${ino.nid}: logical cluster bits ${lclusterbits} out of range (at most ${full ? 20 : 14} with ${full ? 'full' : 'compact'} indexes)`, hpos + 7, 1);
    return;
  }
  if ((big1 || big2) && geo.from === 'superblock' && !(geo.incompat & INCOMPAT_COMPR_CFGS)) {
    ann.diag('error', 'invalid-value', `inode ${ino.nid}: big pclusters without the big_pcluster (compr_cfgs) feature in the superblock`, hpos + 4, 2);
  }
  if (!full && big1 !== big2) ann.diag('error', 'invalid-value', `inode ${ino.nid}: compact indexes need BIG_PCLUSTER_1 and BIG_PCLUSTER_2 alike (h_advise ${hex(advise)})`, hpos + 4, 2);
  if (fragment && geo.from === 'superblock' && geo.packedNid === 0) ann.diag('error', 'invalid-value', `inode ${ino.nid}: FRAGMENT_PCLUSTER, but the superblock names no packed inode (packed_nid 0)`, hpos + 4, 2);

  const n = Math.ceil(size / L);
  const st: ZMapState = { ino, label, bs: geo.bs, comprAlgs: geo.comprAlgs, full, L, n, algs, big1, big2, lc: newLclusters(0), extents: new Map(), tailLcn: undefined, tailStorage: inline ? 'inline' : fragment ? 'fragment' : 'pcluster' };
  let indexEnd: number;
  let tailPackEnd: number;
  const tailLcn = Math.floor((size - 1) / L);
  if (full) {
    const base = hpos + 16;
    ann.padding(hpos + 8, base, 'z_erofs_map_header', `${pre}.zmap.reserved`, 'reserved: 8 bytes between the map header and the first full lcluster index');
    st.lc = decodeFull(map, base, n);
    indexEnd = base + n * 8;
    tailPackEnd = base + tailLcn * 8 + 8;
  } else {
    const layout = compactLayout(hpos + 8, Math.ceil(size / geo.bs), advise);
    if (layout.c2 > 0 && lclusterbits > 12) {
      ann.diag('error', 'invalid-value', `inode ${ino.nid}: 2-byte compact indexes need lcluster bits <= 12, not ${lclusterbits}`, hpos + 4, 2);
      return;
    }
    st.lc = decodeCompact(map, layout, n, compactLoBits(lclusterbits), big1);
    indexEnd = hpos + 8 + layout.length;
    tailPackEnd = compactPackEnd(layout, tailLcn);
  }
  mapStruct.end = Math.min(indexEnd, Math.max(hpos + 8, map.end));
  mapStruct.detail = `${full ? 'full' : 'compact'} indexes: ${plural(n, 'lcluster')} of ${L} bytes, ${algName(algs[0])}${(advise & (Z_EROFS_ADVISE.INLINE_PCLUSTER | Z_EROFS_ADVISE.FRAGMENT_PCLUSTER)) !== 0 ? (inline ? ', inline tail' : ', tail fragment') : ''}`;
  ino.structure.end = Math.max(ino.structure.end, mapStruct.end);
  buildExtents(st);
  if (full) claimFull(ann, st, hpos + 16);
  else claimCompact(ann, map, st, compactLayout(hpos + 8, Math.ceil(size / geo.bs), advise));

  // The pclusters, and the tail stored inline or in the packed inode.
  const bs = geo.bs;
  for (const e of st.extents.values()) {
    if (e.start >= size) continue;
    const range = e.end === undefined ? `from byte ${e.start}` : `${e.start}..${Math.min(e.end, size)}`;
    if (e.lcn === st.tailLcn && st.tailStorage !== 'pcluster') continue;
    const at = st.lc.pblk[e.lcn]! * bs;
    const len = e.blocks * bs;
    if (!map.any(at, len)) continue;
    const what = e.algorithm < 0 ? `uncompressed pcluster${advise & Z_EROFS_ADVISE.INTERLACED_PCLUSTER ? ' (interlaced: rotated by the extent start modulo the block size)' : ''}` : `${algName(e.algorithm)}-compressed pcluster`;
    ann.structure('data', `compressed data of ${label}`, `bytes ${range}: ${what}, ${plural(e.blocks, 'block')}`, at, at + len);
    ann.data(at, at + len, 'pcluster', `${label}.pcluster[${e.lcn}]`, `${what} of ${plural(e.blocks, 'block')} holding bytes ${range} of ${label}`, e.algorithm < 0 ? 'uncompressed file data in a pcluster' : 'compressed data (with ZERO_PADDING the stream is right-aligned in its pcluster: leading zeros are padding)');
  }
  if (inline) {
    const at = tailPackEnd;
    if (idataSize === 0 || (at % bs) + idataSize > bs) {
      ann.diag('error', 'invalid-value', `inode ${ino.nid}: inline tail pcluster of ${plural(idataSize, 'byte')} at ${hex(at)} is empty or crosses the block boundary at ${hex(at - (at % bs) + bs)} (the kernel refuses this inode)`, hpos, 4);
    }
    const len = Math.min(idataSize, bs - (at % bs));
    const tail = st.tailLcn !== undefined ? st.extents.get(st.tailLcn) : undefined;
    const range = tail ? ` (file bytes ${tail.start}..${size})` : '';
    if (len > 0 && map.any(at, len)) {
      ann.structure('inline-data', 'inline compressed tail', `${plural(idataSize, 'byte')}${range}`, at, at + len, ino.structure);
      ino.structure.end = Math.max(ino.structure.end, at + len);
      const kind = tail && tail.algorithm < 0 ? 'uncompressed' : `${algName(tail?.algorithm ?? algs[0])}-compressed`;
      ann.data(at, at + len, 'inline pcluster', `${label}.inline_tail`, `${kind} tail pcluster of ${plural(idataSize, 'byte')}${range}`, 'ztailpacking: the last extent\'s pcluster stored right after the index pack of the last lcluster (h_idata_size bytes)');
    }
  }
}

function decodeFull(map: ByteMap, base: number, n: number): Lclusters {
  // Only entries with bytes in the dump (a corrupt i_size may claim billions).
  let count = 0;
  for (const [, b] of map.ranges(base, base + n * 8)) count = Math.max(count, Math.min(n, Math.ceil((b - base) / 8)));
  const lc = newLclusters(count);
  for (let i = 0; i < count; i++) {
    const b = map.get(base + i * 8, 8);
    if (!b) continue;
    const adv = b[0]! | (b[1]! << 8);
    lc.present[i] = 1;
    lc.type[i] = adv & 3;
    lc.partial[i] = adv & Z_EROFS_LI_PARTIAL_REF ? 1 : 0;
    if ((adv & 3) === NONHEAD) {
      lc.lo[i] = b[4]! | (b[5]! << 8);
      lc.d1[i] = b[6]! | (b[7]! << 8);
    } else {
      lc.lo[i] = b[2]! | (b[3]! << 8);
      lc.pblk[i] = (b[4]! | (b[5]! << 8) | (b[6]! << 16) | (b[7]! << 24)) >>> 0;
    }
  }
  return lc;
}

function* packsOf(layout: CompactLayout): Generator<{ r: CompactRegion; p: number; at: number; first: number; inPack: number }> {
  let first = 0;
  for (const r of layout.regions) {
    for (let p = 0; p * r.vcnt < r.count; p++) {
      const inPack = Math.min(r.vcnt, r.count - p * r.vcnt);
      yield { r, p, at: r.start + p * r.packBytes, first, inPack };
      first += inPack;
    }
  }
}

function decodeCompact(map: ByteMap, layout: CompactLayout, n: number, lobits: number, big: boolean): Lclusters {
  // Only packs with bytes in the dump: packs lie in increasing offsets, and a corrupt i_size
  // may claim billions of them.
  let count = 0;
  for (const pk of packsOf(layout)) {
    if (pk.first >= n || pk.at >= map.end) break;
    if (map.any(pk.at, pk.r.packBytes)) count = Math.min(n, pk.first + pk.inPack);
  }
  const lc = newLclusters(count);
  const vtype = new Uint8Array(16);
  const vlo = new Uint32Array(16);
  for (const pk of packsOf(layout)) {
    if (pk.first >= count || pk.at >= map.end) break;
    const bytes = map.get(pk.at, pk.r.packBytes);
    if (!bytes) continue;
    unpackCompactPack(bytes, 0, pk.r, lobits, vtype, vlo);
    const blkaddr = (bytes[pk.r.packBytes - 4]! | (bytes[pk.r.packBytes - 3]! << 8) | (bytes[pk.r.packBytes - 2]! << 16) | (bytes[pk.r.packBytes - 1]! << 24)) >>> 0;
    for (let i = 0; i < pk.inPack && pk.first + i < count; i++) {
      const lcn = pk.first + i;
      lc.present[lcn] = 1;
      lc.type[lcn] = vtype[i]!;
      lc.lo[lcn] = vlo[i]!;
      lc.packLast[lcn] = i === pk.r.vcnt - 1 ? 1 : 0;
      if (vtype[i] === NONHEAD) continue;
      const nblk = compactHeadBlocks(vtype, vlo, i, big);
      // A bad walk-back is reported with the NONHEAD entry; the head's block stays unknown.
      lc.pblk[lcn] = nblk < 0 ? NaN : blkaddr + nblk;
    }
  }
  return lc;
}

/** Heads → extents (start, end, pcluster size) and the checks that need neighbours. */
function buildExtents(st: ZMapState): void {
  const { lc, L, n, ino } = st;
  const size = ino.size;
  let prev: ZExtentInfo | undefined;
  for (let lcn = 0; lcn < lc.count; lcn++) {
    if (!lc.present[lcn]) {
      prev = undefined; // the chain of heads is broken: ends are unknown until the next head
      continue;
    }
    const t = lc.type[lcn]!;
    if (t === NONHEAD) continue;
    const start = lcn * L + lc.lo[lcn]!;
    if (prev) prev.end = start;
    let blocks = 1;
    const big = t === HEAD1 ? st.big1 : st.big2;
    if (big && lcn + 1 < lc.count && lc.present[lcn + 1] && lc.type[lcn + 1] === NONHEAD && (lcn + 1) * L < size) {
      const d0 = lc.lo[lcn + 1]!;
      if (d0 & Z_EROFS_LI_D0_CBLKCNT) blocks = d0 & (Z_EROFS_LI_D0_CBLKCNT - 1);
    }
    const e: ZExtentInfo = { lcn, start, end: start >= size ? start : undefined, blocks, algorithm: t === PLAIN ? -1 : st.algs[t === HEAD1 ? 0 : 1] };
    st.extents.set(lcn, e);
    if (start < size) st.tailLcn = lcn;
    prev = start < size ? e : undefined;
    if (start >= size) break;
  }
  if (prev && prev.end === undefined) {
    // The last head before the end: its extent runs to i_size if every later entry was seen.
    let seenAll = lc.count === n;
    for (let k = prev.lcn + 1; k < lc.count && seenAll; k++) if (!lc.present[k]) seenAll = false;
    if (seenAll) prev.end = size;
  }
  // Only a head whose extent is known to reach i_size holds the tail.
  if (st.tailLcn !== undefined) {
    const t = st.extents.get(st.tailLcn)!;
    if (t.end === undefined || t.end < size) st.tailLcn = undefined;
  }
}

function headMeaning(st: ZMapState, lcn: number, bs: number): { meaning: string; target: Target | undefined; eof: boolean } {
  const { lc, L, ino } = st;
  const t = lc.type[lcn]!;
  const start = lcn * L + lc.lo[lcn]!;
  const e = st.extents.get(lcn);
  if (start >= ino.size) {
    return { meaning: `${TYPE_NAMES[t]}: end-of-file marker (an empty extent at i_size ${ino.size}, which mkfs writes and readers ignore)`, target: undefined, eof: true };
  }
  const kind = t === PLAIN ? 'uncompressed' : `${algName(st.algs[t === HEAD1 ? 0 : 1])}-compressed`;
  const end = e?.end !== undefined ? `..${Math.min(e.end, ino.size)}` : ' on';
  let where: string;
  let target: Target | undefined;
  if (lcn === st.tailLcn && st.tailStorage === 'inline') where = 'its pcluster is the inline tail after the index pack of the last lcluster';
  else if (lcn === st.tailLcn && st.tailStorage === 'fragment') where = 'its data is a fragment in the packed inode';
  else {
    const pblk = lc.pblk[lcn]!;
    if (Number.isNaN(pblk)) where = 'pcluster block unknown (a NONHEAD before it in the pack cannot be walked)';
    else {
      const blocks = e?.blocks ?? 1;
      where = `pcluster at block ${pblk} (byte ${hex(pblk * bs)}), ${plural(blocks, 'block')}`;
      target = { offset: pblk * bs, length: blocks * bs, label: `pcluster of ${st.label} bytes ${start}${end}` };
    }
  }
  const partial = lc.partial[lcn] ? ', PARTIAL_REF (uses only a prefix of the pcluster\'s output: deduplicated)' : '';
  return { meaning: `${TYPE_NAMES[t]}: ${kind} extent from file byte ${start}${end} (lcluster ${lcn} + clusterofs ${lc.lo[lcn]})${partial}; ${where}`, target, eof: false };
}

function nonheadMeaning(st: ZMapState, lcn: number, delta1: boolean): string {
  const { lc } = st;
  const v = lc.lo[lcn]!;
  // CBLKCNT wins over the delta[1] of a compact pack's last entry (as in the kernel).
  if (v & Z_EROFS_LI_D0_CBLKCNT) {
    return `NONHEAD: CBLKCNT ${v & (Z_EROFS_LI_D0_CBLKCNT - 1)}: the pcluster of the head at lcluster ${lcn - 1} is ${plural(v & (Z_EROFS_LI_D0_CBLKCNT - 1), 'block')} (delta[0] is 1)`;
  }
  if (delta1) {
    return `NONHEAD: delta[1] ${v}: ${v} lcluster${v === 1 ? '' : 's'} forward to the next head (lcluster ${lcn + v}); the last entry of a compact pack stores delta[1] instead of delta[0]`;
  }
  return `NONHEAD: delta[0] ${v}: continues an extent; look back ${v} lcluster${v === 1 ? '' : 's'} (to lcluster ${lcn - v}) towards its head`;
}

/** Diagnostics for one lcluster entry whose neighbours are known. */
function checkEntry(ann: Annotator, st: ZMapState, lcn: number, at: number, len: number): void {
  const { lc, L, ino } = st;
  const nid = ino.nid;
  const t = lc.type[lcn]!;
  const v = lc.lo[lcn]!;
  if (t === NONHEAD) {
    if (lcn === 0) ann.diag('error', 'invalid-value', `inode ${nid}: the first lcluster is NONHEAD; it must be a head (the file's first extent starts there)`, at, len);
    if (v & Z_EROFS_LI_D0_CBLKCNT) {
      const prevT = lcn > 0 && lc.present[lcn - 1] ? lc.type[lcn - 1] : undefined;
      const big = prevT === HEAD1 ? st.big1 : st.big2;
      if (!(st.big1 || st.big2)) ann.diag('error', 'invalid-value', `inode ${nid}: lcluster ${lcn} carries a pcluster block count (CBLKCNT) without big pclusters in h_advise`, at, len);
      else if (prevT !== undefined && prevT !== NONHEAD && !big) ann.diag('warning', 'invalid-value', `inode ${nid}: lcluster ${lcn} carries CBLKCNT for a ${TYPE_NAMES[prevT]} head, whose big-pcluster bit is not set`, at, len);
      else if (prevT === NONHEAD) ann.diag('error', 'invalid-value', `inode ${nid}: lcluster ${lcn} carries CBLKCNT but does not follow a head`, at, len);
      const blocks = v & (Z_EROFS_LI_D0_CBLKCNT - 1);
      if (blocks === 0) ann.diag('error', 'invalid-value', `inode ${nid}: lcluster ${lcn}: pcluster of 0 blocks (CBLKCNT 0)`, at, len);
      else if (blocks * st.bs > MAX_PCLUSTER) ann.diag('error', 'invalid-value', `inode ${nid}: lcluster ${lcn}: pcluster of ${blocks} blocks exceeds the 1 MiB limit`, at, len);
      return;
    }
    if (lc.packLast[lcn]) return; // delta[1]: checked by nothing but the look-ups it serves
    if (v === 0 || v > lcn) {
      ann.diag('error', 'invalid-value', `inode ${nid}: lcluster ${lcn}: delta[0] ${v} does not point back to a head (it must be 1..${lcn})`, at, len);
      return;
    }
    // delta[0] may land on another NONHEAD (long extents chain look-backs), so only the range is checked.
    return;
  }
  if (v >= L) ann.diag('error', 'invalid-value', `inode ${nid}: lcluster ${lcn}: clusterofs ${v} is not below the lcluster size ${L}`, at, len);
  if (lcn === 0 && v !== 0) ann.diag('error', 'invalid-value', `inode ${nid}: the first extent starts at byte ${v}, not 0`, at, len);
  const start = lcn * L + v;
  if (start < ino.size && t !== PLAIN) {
    const alg = st.algs[t === HEAD1 ? 0 : 1];
    const avail = st.comprAlgs;
    if (alg >= Z_EROFS_COMPRESSION_NAMES.length) ann.diag('error', 'unsupported-feature', `inode ${nid}: lcluster ${lcn} (${TYPE_NAMES[t]}) uses unknown compression algorithm ${alg} (h_algorithmtype)`, at, len);
    else if (avail !== undefined && !(avail & (1 << alg))) {
      ann.diag('error', 'invalid-value', `inode ${nid}: lcluster ${lcn} uses ${algName(alg)}, which the superblock does not list (available_compr_algs ${hex(avail)})`, at, len);
    }
  }
}

function claimFull(ann: Annotator, st: ZMapState, base: number): void {
  const { lc, ino } = st;
  const bs = st.bs;
  for (let lcn = 0; lcn < lc.count && !ann.exhausted; lcn++) {
    const at = base + lcn * 8;
    const path = `inode[${ino.nid}].lcluster[${lcn}]`;
    if (!lc.present[lcn]) {
      if (ann.map.any(at, 8)) ann.traceStruct(zLclusterIndex, at, path);
      continue;
    }
    const t = lc.type[lcn]!;
    if (t === NONHEAD) {
      ann.traceStruct(zLclusterIndexNonhead, at, path, (f, v) => {
        switch (f.name) {
          case 'di_advise':
            return { value: hex(v.di_advise), meaning: `NONHEAD: lcluster ${lcn} continues an extent that started in an earlier lcluster${v.di_advise & ~3 ? `; other bits ${hex(v.di_advise & ~3)}` : ''}` };
          case 'di_delta0':
            return { meaning: nonheadMeaning(st, lcn, false) };
          case 'di_delta1':
            return { meaning: `${v.di_delta1} lcluster${v.di_delta1 === 1 ? '' : 's'} forward to the next head (lcluster ${lcn + v.di_delta1})` };
          default:
            return undefined;
        }
      }, false);
    } else {
      const h = headMeaning(st, lcn, bs);
      ann.traceStruct(zLclusterIndex, at, path, (f, v) => {
        switch (f.name) {
          case 'di_advise':
            return { value: hex(v.di_advise), meaning: h.meaning };
          case 'di_clusterofs':
            return { meaning: h.eof ? 'end of file inside this lcluster' : `the extent starts ${v.di_clusterofs} bytes into lcluster ${lcn} (file byte ${lcn * st.L + v.di_clusterofs})` };
          case 'di_blkaddr':
            return h.eof ? { meaning: 'unused (end-of-file marker)' } : h.target ? { meaning: `first block of the pcluster (byte ${hex(v.di_blkaddr * bs)})`, target: h.target } : { meaning: lcn === st.tailLcn && st.tailStorage === 'fragment' ? 'high 32 bits of the tail fragment offset (FRAGMENT_PCLUSTER with full indexes)' : 'unused (the tail pcluster is inline)' };
          default:
            return undefined;
        }
      });
    }
    checkEntry(ann, st, lcn, at, 8);
  }
}

function claimCompact(ann: Annotator, map: ByteMap, st: ZMapState, layout: CompactLayout): void {
  const { lc, ino } = st;
  const bs = st.bs;
  const lobits = compactLoBits(Math.log2(st.L));
  for (const pk of packsOf(layout)) {
    if ((pk.first >= st.n && pk.first >= lc.count) || pk.at >= map.end || ann.exhausted) break;
    const { r, at } = pk;
    if (!map.any(at, r.packBytes)) continue;
    const path = `inode[${ino.nid}].lcluster_pack[${pk.first}]`;
    const complete = map.has(at, r.packBytes);
    ann.traceStruct(r.def, at, path, (f, v) => {
      if (f.name === 'bits') return { omit: true };
      if (f.name === 'blkaddr') {
        return { meaning: st.big1 ? `base block of the pack: its first head's pcluster is at block ${v.blkaddr}, later ones follow by pcluster sizes` : `base block of the pack: its heads' pclusters are at blocks ${v.blkaddr} + 1, + 2, ... in order` };
      }
      return undefined;
    });
    if (!complete) continue;
    const form = r.vcnt === 2 ? '4-byte' : '2-byte';
    for (let i = 0; i < r.vcnt; i++) {
      // Byte b of the bitstream belongs to the entry holding its lowest bit.
      const [b0, b1] = [Math.ceil((i * r.encodebits) / 8), Math.ceil(((i + 1) * r.encodebits) / 8)];
      if (b1 <= b0) continue;
      const lcn = pk.first + i;
      const bitsDoc = `${form} compact entry ${i} of its pack: bits ${i * r.encodebits}..${(i + 1) * r.encodebits - 1} of the pack's little-endian bitstream, lo (${lobits} bits: clusterofs, delta[0], CBLKCNT or, in a pack's last entry, delta[1]) then the lcluster type (2 bits)${r.encodebits % 8 ? '; the bytes shown hold the bits of this entry that start in them, neighbouring entries share the rest' : ''}`;
      if (i >= pk.inPack || lcn >= st.n || !lc.present[lcn]) {
        ann.padding(at + b0, at + b1, r.def.name, `${path}.unused[${i}]`, `${bitsDoc}; unused (past the last lcluster of the file)`);
        continue;
      }
      const t = lc.type[lcn]!;
      let meaning: string;
      let target: Target | undefined;
      if (t === NONHEAD) meaning = nonheadMeaning(st, lcn, lc.packLast[lcn] === 1);
      else {
        const h = headMeaning(st, lcn, bs);
        meaning = h.meaning;
        target = h.target;
      }
      ann.part(at + b0, at + b1, r.def.name, 'lcluster', `inode[${ino.nid}].lcluster[${lcn}]`, `${TYPE_NAMES[t]} ${lc.lo[lcn]}`, bitsDoc, meaning, target);
      checkEntry(ann, st, lcn, at + b0, b1 - b0);
    }
    // A bad walk-back inside the pack.
    for (let i = 0; i < pk.inPack; i++) {
      const lcn = pk.first + i;
      if (lcn < lc.count && lc.present[lcn] && lc.type[lcn] !== NONHEAD && Number.isNaN(lc.pblk[lcn])) {
        ann.diag('error', 'invalid-value', `inode ${ino.nid}: compact pack at ${hex(at)}: the head at lcluster ${lcn} has no block address (a NONHEAD before it has delta[0] <= 1 without a block count)`, at, r.packBytes);
        break;
      }
    }
  }
}

// ---- compression configuration records ---------------------------------------------------

/** The integer fields of the four record tables (each record has some of them). */
interface CfgValues {
  max_distance: number;
  max_pclusterblks: number;
  dict_size: number;
  format: number;
  windowbits: number;
  windowlog: number;
}
const CFG_TABLES = [zLz4Cfgs, zLzmaCfgs, zDeflateCfgs, zZstdCfgs] as unknown as StructDef<CfgValues>[];

function explainCfg(alg: number, f: Field, v: CfgValues, bs: number): Explained | undefined {
  switch (`${alg}.${f.name}`) {
    case '0.max_distance':
      return { meaning: `LZ4 matches reach back at most ${v.max_distance} bytes` };
    case '0.max_pclusterblks': {
      const b = v.max_pclusterblks || 1;
      return { meaning: `pclusters of up to ${plural(b, 'block')} (${b * bs} bytes)${v.max_pclusterblks === 0 ? '; 0 means 1' : ''}` };
    }
    case '1.dict_size':
      return { meaning: `LZMA dictionary of ${v.dict_size >= 1 << 20 && v.dict_size % (1 << 20) === 0 ? `${v.dict_size >> 20} MiB` : `${v.dict_size} bytes`}` };
    case '1.format':
      return { meaning: v.format === 0 ? 'MicroLZMA streams' : `unknown stream format ${v.format}` };
    case '2.windowbits':
      return { meaning: `DEFLATE window of ${2 ** v.windowbits} bytes` };
    case '3.format':
      return { meaning: v.format === 0 ? 'zstd frames' : `unknown stream format ${v.format}` };
    case '3.windowlog':
      return { meaning: `window log ${v.windowlog + 10} (${plural(2 ** (v.windowlog + 10), 'byte')})` };
    default:
      return undefined;
  }
}

/**
 * The configuration records after the superblock (INCOMPAT_COMPR_CFGS): for each bit of
 * available_compr_algs in increasing order, at the next 4-byte boundary, a le16 length and the
 * algorithm's record.
 */
export function inspectComprCfgs(ann: Annotator, map: ByteMap, start: number, algorithms: number, bs: number): void {
  let pos = start;
  for (let alg = 0; alg < 16; alg++) {
    if (!(algorithms & (1 << alg))) continue;
    const aligned = Math.ceil(pos / 4) * 4;
    if (aligned > pos) ann.padding(pos, aligned, 'erofs_compr_cfg', 'compr_cfg.align', 'padding that aligns the next configuration record to 4 bytes');
    pos = aligned;
    const name = Z_EROFS_COMPRESSION_NAMES[alg];
    if (name === undefined) {
      ann.diag('error', 'unsupported-feature', `available_compr_algs ${hex(algorithms)} names unknown compression algorithm ${alg}; its configuration record (and those after it) cannot be located`, 1024 + 84, 2);
      return;
    }
    const lenAt = ann.traceStruct(zComprCfgLen, pos, `compr_cfg.${name}`, (_f, v) => ({ meaning: `the ${name} configuration record is ${plural(v.len, 'byte')}` }));
    if (!lenAt?.complete) return;
    const len = lenAt.value.len;
    const def = CFG_TABLES[alg]!;
    const at = pos + 2;
    ann.structure('compression-config', `${name} configuration`, def.name, pos, at + len);
    if (len < def.size) {
      ann.diag('error', 'invalid-value', `${name} configuration record is ${plural(len, 'byte')}, ${def.name} needs ${def.size}`, pos, 2);
      if (len > 0) ann.part(at, at + len, def.name, 'record', `compr_cfg.${name}.record`, '', 'a configuration record too short for its table');
    } else {
      const r = ann.traceStruct(def, at, `compr_cfg.${name}`, (f, v) => explainCfg(alg, f, v, bs));
      if (len > def.size) ann.padding(at + def.size, at + len, def.name, `compr_cfg.${name}.extra`, 'record bytes beyond the fields this reader knows');
      if (r?.complete) {
        const v = r.value;
        if (alg === 0 && (v.max_pclusterblks || 1) * bs > MAX_PCLUSTER) ann.diag('error', 'invalid-value', `lz4 max_pclusterblks ${v.max_pclusterblks} exceeds the ${MAX_PCLUSTER}-byte pcluster limit`, at + 2, 2);
        if (alg === 1 && v.format !== 0) ann.diag('error', 'unsupported-feature', `lzma stream format ${v.format} (only 0, MicroLZMA, is defined)`, at + 4, 2);
        if (alg === 2 && (v.windowbits < 8 || v.windowbits > 15)) ann.diag('error', 'invalid-value', `deflate windowbits ${v.windowbits} out of range [8, 15]`, at, 1);
        if (alg === 3 && v.format !== 0) ann.diag('error', 'unsupported-feature', `zstd stream format ${v.format} (only 0 is defined)`, at, 1);
      }
    }
    pos = at + len;
  }
}

