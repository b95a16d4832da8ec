/**
 * Tolerant EROFS inspection over whatever bytes are present: superblock, device slots,
 * inodes reached from the root (or named by a hint), xattr bodies and shared entries,
 * directory blocks, chunk tables and block maps, inline tails and file data. Every fixed part
 * is decoded and traced through the tables in `erofs/format.ts`; this file only computes
 * where the variable-length parts are. Problems become diagnostics; nothing throws.
 *
 * Compressed layouts (COMPRESSED_FULL, COMPRESSED_COMPACT) are decoded by whatever is
 * registered in {@link layoutInspectors} (zmap.ts by default); without an entry their map is
 * left unknown and an info diagnostic says so.
 */
import { COMPOSEFS_MAGIC, composefsHeader } from '../composefs/format.js';
import { hex } from '../errors.js';
import { crc32c } from '../erofs/checksum.js';
import {
  CHUNK_FORMAT_48BIT,
  CHUNK_FORMAT_BLKBITS_MASK,
  CHUNK_FORMAT_INDEXES,
  DataLayout,
  EROFS_NULL_ADDR,
  EROFS_SUPER_MAGIC,
  EROFS_SUPER_OFFSET,
  FT,
  LAYOUT_NAMES,
  S_IFBLK,
  S_IFCHR,
  S_IFDIR,
  S_IFLNK,
  S_IFMT,
  S_IFREG,
  XATTR_LONG_PREFIX_BIT,
  XATTR_PREFIXES,
  blockMapEntry,
  chunkIndex,
  deviceSlot,
  dirent,
  fileTypeOfMode,
  inodeCompact,
  inodeExtended,
  superBlock,
  xattrEntry,
  xattrIbodyHeader,
  xattrLongPrefixLen,
  type SuperBlock,
} from '../erofs/format.js';
import {
  COMPAT_FEATURES,
  COMPAT_SB_CHKSUM,
  COMPAT_XATTR_FILTER,
  INCOMPAT_COMPR_CFGS,
  INCOMPAT_DEVICE_TABLE,
  INCOMPAT_FEATURES,
  INCOMPAT_XATTR_PREFIXES,
  featureNames,
} from '../erofs/features.js';
import { fieldOf, type Field, type StructDef } from '../layout/struct.js';
import type { ByteMap } from './bytes.js';
import { compareBytes, cstr, formatTime, modeString, plural, quoteBytes, uuidString } from './describe.js';
import type { ErofsHint } from './hint.js';
import type { Annotator, Explained, Structure, Target } from './model.js';
import { inspectTar, looksLikeTarHeader } from './tar.js';
import { inspectComprCfgs, inspectCompressed } from './zmap.js';

/** What locating structures needs; from the superblock or a hint. */
export interface Geometry {
  blkszbits: number;
  bs: number;
  metaBase: number;
  xattrBase: number;
  epoch: number;
  fixedNsec: number;
  rootNid: number | undefined;
  compat: number;
  incompat: number;
  devices: { index: number; blocks: number; uniaddr: number }[];
  /** Long xattr prefixes by index, when their table could be read. */
  longPrefixes: string[] | undefined;
  /** The packed (fragments) inode, 0 when none. */
  packedNid: number;
  /** Long-prefix table: byte position (in the packed inode's data when packedNid != 0) and count. */
  prefixStart: number;
  prefixCount: number;
  /** available_compr_algs (bit n = algorithm id n); 1 (LZ4) without COMPR_CFGS; undefined from a hint. */
  comprAlgs: number | undefined;
  /** Where the numbers came from. */
  from: 'superblock' | 'hint';
}

/** One decoded inode, as layout inspectors see it. */
export interface InspectedInode {
  nid: number;
  offset: number;
  path: string | undefined;
  compact: boolean;
  format: number;
  layout: number;
  mode: number;
  size: number;
  iu: number;
  inodeSize: number;
  xattrSize: number;
  /** First byte after the core and inline xattrs. */
  inlineBase: number;
  structure: Structure;
}

/** What a layout inspector gets: the collector, the bytes, the geometry. */
export interface ErofsInspectContext {
  ann: Annotator;
  map: ByteMap;
  geo: Geometry;
}

/** Decodes the data map of one layout (e.g. compressed map headers and lcluster indexes). */
export type LayoutInspector = (ctx: ErofsInspectContext, inode: InspectedInode) => void;

/**
 * Inspectors for layouts decoded outside this file, by i_format data layout. The compressed
 * layouts (1 COMPRESSED_FULL, 3 COMPRESSED_COMPACT) register here.
 */
export const layoutInspectors: Partial<Record<number, LayoutInspector>> = {
  [DataLayout.COMPRESSED_FULL]: inspectCompressed,
  [DataLayout.COMPRESSED_COMPACT]: inspectCompressed,
};

const MAX_INODES = 1 << 20;
const MAX_CHUNKS = 1 << 20;

interface Pending {
  nid: number;
  path: string | undefined;
  parent: number | undefined;
}

interface Extent {
  logical: number;
  length: number;
  /** Image offset of the bytes, or undefined when not in this file (hole, other device). */
  at: number | undefined;
  hole: boolean;
  /** Device the bytes are on (0 primary). */
  dev: number;
}

export class ErofsInspector implements ErofsInspectContext {
  readonly geo: Geometry;
  private readonly queue: Pending[] = [];
  private readonly seen = new Set<number>();
  private readonly sharedSeen = new Set<number>();
  /** Dirent file types by nid, to check against the inode's mode. */
  private readonly expectType = new Map<number, { ft: number; at: number }>();

  constructor(
    readonly ann: Annotator,
    readonly map: ByteMap,
    geo: Geometry,
  ) {
    this.geo = geo;
  }

  /** Geometry from a hint alone (no superblock in the dump). */
  static geometryFromHint(h: ErofsHint): Geometry | undefined {
    if (h.blkszbits === undefined) return undefined;
    const bs = 1 << h.blkszbits;
    return {
      blkszbits: h.blkszbits,
      bs,
      metaBase: (h.metaBlkaddr ?? 0) * bs,
      xattrBase: (h.xattrBlkaddr ?? 0) * bs,
      epoch: h.epoch ?? 0,
      fixedNsec: h.fixedNsec ?? 0,
      rootNid: h.rootNid,
      compat: 0,
      incompat: 0,
      devices: [],
      longPrefixes: undefined,
      packedNid: 0,
      prefixStart: 0,
      prefixCount: 0,
      comprAlgs: undefined,
      from: 'hint',
    };
  }

  iloc(nid: number): number {
    return this.geo.metaBase + nid * 32;
  }

  inodeTarget(nid: number): Target {
    const p = this.ann.paths.get(nid);
    return { offset: this.iloc(nid), length: 32, label: `inode ${nid}${p !== undefined ? ` (${p})` : ''}` };
  }

  blockTarget(blk: number, what = 'block'): Target {
    return { offset: blk * this.geo.bs, length: this.geo.bs, label: `${what} ${blk} (byte ${hex(blk * this.geo.bs)})` };
  }

  enqueue(nid: number, path: string | undefined, parent?: number): void {
    if (!Number.isSafeInteger(nid) || nid < 0) return;
    if (path !== undefined && !this.ann.paths.has(nid)) this.ann.paths.set(nid, path);
    this.queue.push({ nid, path, parent });
  }

  /** Decodes every queued inode and what it reaches. */
  run(): void {
    for (let qi = 0; qi < this.queue.length && this.seen.size < MAX_INODES && !this.ann.exhausted; qi++) {
      const p = this.queue[qi]!;
      if (this.seen.has(p.nid)) continue;
      this.seen.add(p.nid);
      this.inode(p.nid, p.path ?? this.ann.paths.get(p.nid), p.parent);
    }
    this.queue.length = 0;
  }

  /** Whether any inode was decoded (its first bytes were in the dump). */
  get decodedAny(): boolean {
    for (const nid of this.seen) if (this.map.any(this.iloc(nid), 2)) return true;
    return false;
  }

  /**
   * For a dump of part of an image that holds neither the superblock nor the root inode and
   * names no inode: finds inodes by trying each 32-byte slot from meta_blkaddr. A slot counts
   * only when everything checkable holds (i_format bits, layout, file type, link count,
   * reserved bytes zero), and what it finds is said in an info diagnostic.
   */
  probe(limit = 1 << 16): void {
    const { map, geo } = this;
    const found: number[] = [];
    let tried = 0;
    for (const seg of map.segments) {
      const end = seg.offset + seg.bytes.length;
      let off = geo.metaBase + Math.ceil(Math.max(0, seg.offset - geo.metaBase) / 32) * 32;
      while (off + 32 <= end && tried++ < limit) {
        const size = plausibleInode(map, off);
        if (size > 0) {
          found.push((off - geo.metaBase) / 32);
          off += Math.ceil(size / 32) * 32;
        } else off += 32;
      }
    }
    if (found.length === 0) return;
    for (const nid of found) this.enqueue(nid, undefined);
    this.run();
    const shown = found.slice(0, 8).join(', ') + (found.length > 8 ? ', …' : '');
    this.ann.diag('info', 'not-found', `no root inode or inode= hint in the dump: ${plural(found.length, 'inode')} found by trying 32-byte slots (nid ${shown}); add "inode=NID path=/..." to the hint line to name them`, this.iloc(found[0]!), 0);
  }

  // ---- superblock and device table -------------------------------------------------------

  /** Traces the superblock at 1024 (magic already checked) and returns the geometry, if usable. */
  static fromSuperblock(ann: Annotator, map: ByteMap, hint: ErofsHint): Geometry | undefined {
    const base = EROFS_SUPER_OFFSET;
    const head = map.get(0, 4);
    if (head && (head[0]! | (head[1]! << 8) | (head[2]! << 16) | (head[3]! << 24)) >>> 0 === COMPOSEFS_MAGIC) {
      // A composefs image: its header, then zeros up to the superblock.
      ann.structure('composefs-header', 'composefs header', 'lcfs_erofs_header', 0, composefsHeader.size);
      ann.traceStruct(composefsHeader, 0, 'composefs');
      if (map.any(composefsHeader.size, base - composefsHeader.size)) ann.padding(composefsHeader.size, base, 'boot area', 'boot area', 'zeros after the composefs header up to the superblock; EROFS never reads them');
    } else if (map.any(0, base)) {
      ann.structure('boot-area', 'boot area', 'bytes 0..1023, unused by EROFS', 0, base);
      ann.padding(0, base, 'boot area', 'boot area', 'bytes 0..1023 are left to boot loaders (composefs puts its header here); EROFS never reads them');
    }
    const sbStruct = ann.structure('superblock', 'superblock', 'erofs_super_block', base, base + superBlock.size);
    const r = ann.traceStruct(superBlock, base, 'superblock', (f, sb) => explainSuper(f, sb));
    if (!r) return undefined;
    const sb = r.value;
    if (!map.has(base + 12, 1)) {
      ann.diag('info', 'truncated', 'the block size is unknown: blkszbits (byte 0x40c) is not in the dump, so nothing after the superblock can be located; add a hint line such as "# erofs: blksz=4096 meta_blkaddr=0"', base, 4);
      return undefined;
    }
    if (sb.blkszbits < 9 || sb.blkszbits > 16) {
      ann.diag('error', 'invalid-value', `blkszbits ${sb.blkszbits} out of range [9, 16]: the block size is unknown, so nothing after the superblock can be located`, base + 12, 1);
      return undefined;
    }
    const bs = 1 << sb.blkszbits;
    const sbSize = 128 + 16 * sb.sb_extslots;
    sbStruct.end = base + sbSize;
    if (sb.sb_extslots > 0) {
      ann.part(base + 128, base + sbSize, 'erofs_super_block', 'ext slots', 'superblock.extslots', `${sb.sb_extslots} slot(s)`, 'superblock extension slots (metabox_nid and reserved in the newest format)');
    }
    if (base + sbSize > Math.max(bs, 4096)) {
      ann.diag('error', 'invalid-value', `sb_extslots ${sb.sb_extslots} makes the superblock (${sbSize} bytes) run past its block`, base + 13, 1);
    }
    if (sb.dirblkbits !== 0) ann.diag('error', 'invalid-value', `dirblkbits ${sb.dirblkbits} must be 0 (the kernel refuses other directory block sizes)`, base + 90, 1);
    if (!sb.volume_name.includes(0)) ann.diag('error', 'invalid-value', 'volume_name has no NUL byte: the kernel refuses a label of 16 characters', base + 64, 16);
    const unknownIncompat = featureNames(sb.feature_incompat, INCOMPAT_FEATURES).filter((n) => n.startsWith('unknown'));
    if (unknownIncompat.length) {
      ann.diag('error', 'unsupported-feature', `feature_incompat has bits no kernel knows: ${unknownIncompat.join(', ')}; no reader may mount this image`, base + 80, 4);
    }
    const unknownCompat = featureNames(sb.feature_compat, COMPAT_FEATURES).filter((n) => n.startsWith('unknown'));
    if (unknownCompat.length) ann.diag('info', 'invalid-value', `feature_compat has unknown bits ${unknownCompat.join(', ')} (ignored by readers)`, base + 8, 4);
    // Checksum.
    if (r.complete && sb.feature_compat & COMPAT_SB_CHKSUM) {
      const len = bs > base ? bs - base : bs;
      const area = map.get(base, len);
      if (!area) {
        ann.diag('info', 'truncated', `checksum not verified: it covers bytes ${hex(base)}..${hex(base + len)}, not all of which are in the dump`, base + 4, 4);
      } else {
        const copy = area.slice();
        copy.fill(0, 4, 8);
        const got = crc32c(0xffffffff, copy);
        if (got !== sb.checksum) {
          ann.diag('error', 'bad-checksum', `superblock checksum ${hex(sb.checksum)} does not match crc32c ${hex(got)} of bytes ${hex(base)}..${hex(base + len)} (the kernel refuses to mount: "invalid checksum")`, base + 4, 4);
        }
      }
    }
    // A superblock cut by the end of the dump: fields that are not there come from the hint.
    const has = (name: keyof SuperBlock & string): boolean => {
      const f = fieldOf(superBlock, name);
      return map.has(base + f.offset, f.size);
    };
    const geo: Geometry = {
      blkszbits: sb.blkszbits,
      bs,
      metaBase: (has('meta_blkaddr') ? sb.meta_blkaddr : (hint.metaBlkaddr ?? 0)) * bs,
      xattrBase: (has('xattr_blkaddr') ? sb.xattr_blkaddr : (hint.xattrBlkaddr ?? 0)) * bs,
      epoch: has('epoch') ? Number(sb.epoch) : (hint.epoch ?? 0),
      fixedNsec: has('fixed_nsec') ? sb.fixed_nsec : (hint.fixedNsec ?? 0),
      rootNid: has('rootnid_2b') ? sb.rootnid_2b : hint.rootNid,
      compat: sb.feature_compat,
      incompat: sb.feature_incompat,
      devices: [],
      longPrefixes: undefined,
      packedNid: sb.packed_nid > BigInt(Number.MAX_SAFE_INTEGER) ? 0 : Number(sb.packed_nid),
      prefixStart: sb.xattr_prefix_start * 4,
      prefixCount: sb.feature_incompat & INCOMPAT_XATTR_PREFIXES ? sb.xattr_prefix_count : 0,
      comprAlgs: sb.feature_incompat & INCOMPAT_COMPR_CFGS ? sb.u1 : 1,
      from: 'superblock',
    };
    if (sb.fixed_nsec >= 1e9) ann.diag('error', 'invalid-value', `fixed_nsec ${sb.fixed_nsec} out of range [0, 999999999]`, base + 32, 4);
    // Device table.
    if (sb.feature_incompat & INCOMPAT_DEVICE_TABLE && sb.extra_devices > 0) {
      const at = sb.devt_slotoff * 128;
      const table = ann.structure('device-table', 'device table', plural(sb.extra_devices, 'extra device'), at, at + sb.extra_devices * deviceSlot.size);
      for (let i = 0; i < sb.extra_devices; i++) {
        const off = at + i * deviceSlot.size;
        const idx = i + 1;
        ann.structure('device', `device ${idx}`, 'erofs_deviceslot', off, off + deviceSlot.size, table);
        const d = ann.traceStruct(deviceSlot, off, `device[${idx}]`, (f, v) => {
          switch (f.name) {
            case 'tag': {
              const t = cstr(v.tag);
              return { value: quoteBytes(t), meaning: t.length ? '' : 'empty (tar-index images name no device)' };
            }
            case 'blocks_lo':
              return { meaning: `${v.blocks_lo + v.blocks_hi * 2 ** 32} blocks = ${(v.blocks_lo + v.blocks_hi * 2 ** 32) * bs} bytes` };
            case 'uniaddr_lo': {
              const u = v.uniaddr_lo + v.uniaddr_hi * 2 ** 32;
              return { meaning: `device ${idx} starts at block ${u} of the unified address space (byte ${hex(u * bs)} when appended to this file)`, target: u > 0 ? { offset: u * bs, length: bs, label: `start of device ${idx}` } : undefined };
            }
            default:
              return undefined;
          }
        });
        if (d) geo.devices.push({ index: idx, blocks: d.value.blocks_lo + d.value.blocks_hi * 2 ** 32, uniaddr: d.value.uniaddr_lo + d.value.uniaddr_hi * 2 ** 32 });
      }
    }
    // Compression configuration records right after the superblock.
    if (sb.feature_incompat & INCOMPAT_COMPR_CFGS) inspectComprCfgs(ann, map, base + sbSize, sb.u1, bs);
    // Long xattr prefixes stored in the metadata (not in a packed inode).
    if (sb.feature_incompat & INCOMPAT_XATTR_PREFIXES && sb.xattr_prefix_count > 0) {
      if (sb.packed_nid === 0n) geo.longPrefixes = longPrefixes(ann, map, sb.xattr_prefix_start * 4, sb.xattr_prefix_count);
    }
    return geo;
  }

  // ---- inodes --------------------------------------------------------------------------------

  inode(nid: number, path: string | undefined, parent: number | undefined): void {
    const { ann, map, geo } = this;
    const off = this.iloc(nid);
    const fmt = map.u16(off);
    if (fmt === undefined) return;
    const compact = (fmt & 1) === 0;
    const def = (compact ? inodeCompact : inodeExtended) as StructDef<unknown>;
    const isize = def.size;
    const name = `inode ${nid}`;
    const structure = ann.structure('inode', name, path ?? '', off, off + isize);
    const pre = `inode[${nid}]`;
    const r = ann.traceStruct(def, off, pre, (f, v) => this.explainInode(f, v as unknown as Record<string, number | bigint>, compact, nid));
    if (!r) return;
    const v = r.value as unknown as Record<string, number | bigint>;
    const mode = v.i_mode as number;
    const layout = (fmt >> 1) & 7;
    const icount = v.i_xattr_icount as number;
    const xattrSize = icount === 0 ? 0 : 12 + 4 * (icount - 1);
    const sizeBig = compact ? BigInt(v.i_size as number) : (v.i_size as bigint);
    const size = sizeBig > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(sizeBig);
    const iu = v.i_u as number;
    // Checks (only on what was present).
    if (map.has(off, 2)) {
      if (fmt & 0xffe0) ann.diag('error', 'invalid-value', `inode ${nid}: i_format ${hex(fmt)} has bits 5-15 set (the kernel says "unsupported i_format")`, off, 2);
      if (layout > DataLayout.CHUNK_BASED) ann.diag('error', 'invalid-value', `inode ${nid}: data layout ${layout} in i_format ${hex(fmt)} is invalid (0-4 exist)`, off, 2);
    }
    if (map.has(off + 4, 2) && fileTypeOfMode(mode) === FT.UNKNOWN) {
      ann.diag('error', 'invalid-value', `inode ${nid}: i_mode ${mode.toString(8).padStart(6, '0')} has no valid file type`, off + 4, 2);
    }
    if (!compact && map.has(off + 40, 4) && (v.i_mtime_nsec as number) >= 1e9) {
      ann.diag('error', 'invalid-value', `inode ${nid}: i_mtime_nsec ${v.i_mtime_nsec} out of range [0, 999999999]`, off + 40, 4);
    }
    const expected = this.expectType.get(nid);
    if (expected && map.has(off + 4, 2) && expected.ft !== FT.UNKNOWN && fileTypeOfMode(mode) !== expected.ft) {
      ann.diag('error', 'invalid-value', `dirent file_type ${expected.ft} (${FT_NAMES[expected.ft] ?? '?'}) disagrees with inode ${nid}'s mode ${modeString(mode)}`, expected.at, 1);
    }
    if (parent === undefined && nid === geo.rootNid && map.has(off + 4, 2) && (mode & S_IFMT) !== S_IFDIR) {
      ann.diag('error', 'invalid-value', `root inode ${nid} is not a directory (mode ${modeString(mode)})`, off + 4, 2);
    }
    if (!r.complete) {
      ann.diag('info', 'truncated', `inode ${nid} is only partly in the dump; its xattrs and data are not decoded`, off, isize);
      return;
    }
    const ino: InspectedInode = { nid, offset: off, path, compact, format: fmt, layout, mode, size, iu, inodeSize: isize, xattrSize, inlineBase: off + isize + xattrSize, structure };
    structure.end = ino.inlineBase;
    if (xattrSize > 0) this.xattrBody(ino);
    // Reserved i_format bits are reported above; the layout and type still say where the data is.
    if (layout > DataLayout.CHUNK_BASED || fileTypeOfMode(mode) === FT.UNKNOWN) return;
    this.data(ino, parent);
  }

  private explainInode(f: Field, v: Record<string, number | bigint>, compact: boolean, nid: number): Explained | undefined {
    const geo = this.geo;
    const fmt = v.i_format as number;
    const mode = v.i_mode as number;
    const type = mode & S_IFMT;
    const layout = (fmt >> 1) & 7;
    switch (f.name) {
      case 'i_format': {
        const bit4 = fmt & 0x10 ? (type === S_IFDIR ? ', DOT_OMITTED' : ', NLINK_1') : '';
        return { meaning: `${compact ? 'compact (32-byte)' : 'extended (64-byte)'} inode, ${LAYOUT_NAMES[layout] ?? `invalid layout ${layout}`}${bit4}` };
      }
      case 'i_xattr_icount': {
        const n = v.i_xattr_icount as number;
        return { meaning: n === 0 ? 'no inline xattrs' : `inline xattr body of ${12 + 4 * (n - 1)} bytes follows the inode` };
      }
      case 'i_mode':
        return { value: `0${mode.toString(8).padStart(6, '0')}`, meaning: `${modeString(mode)} (${TYPE_WORDS[type] ?? 'invalid type'})` };
      case 'i_nb':
        if (!compact) return { meaning: 'startblk_hi/blocks_hi (48BIT images), else reserved' };
        if (fmt & 0x10 && type !== S_IFDIR) return { meaning: 'startblk_hi/blocks_hi (NLINK_1: the link count is 1)' };
        return { meaning: `i_nlink: ${plural(v.i_nb as number, 'link')}` };
      case 'i_nlink':
        return { meaning: plural(v.i_nlink as number, 'link') };
      case 'i_size': {
        const s = Number(v.i_size);
        const blocks = Math.ceil(s / geo.bs);
        return { meaning: `${s} bytes${type === S_IFDIR ? `: ${plural(blocks, 'directory block')}` : s > geo.bs ? ` (${plural(blocks, 'block')})` : ''}` };
      }
      case 'i_mtime':
        if (compact) {
          const rel = v.i_mtime as number;
          return { meaning: `${formatTime(geo.epoch + rel, geo.fixedNsec)} (epoch ${geo.epoch} + ${rel}${geo.from === 'hint' && geo.epoch === 0 ? '; epoch unknown without the superblock' : ''})` };
        }
        return { value: String(BigInt.asIntN(64, v.i_mtime as bigint)), meaning: formatTime(Number(BigInt.asIntN(64, v.i_mtime as bigint)), (v.i_mtime_nsec as number) < 1e9 ? (v.i_mtime_nsec as number) : 0) };
      case 'i_mtime_nsec':
        return { meaning: 'nanoseconds of i_mtime' };
      case 'i_u':
        return this.explainIu(v.i_u as number, layout, type, Number(v.i_size), nid);
      case 'i_ino':
        return { meaning: '32-bit inode number for stat(); st_ino is the nid' };
      default:
        return undefined;
    }
  }

  private explainIu(iu: number, layout: number, type: number, size: number, nid: number): Explained {
    if (type === S_IFCHR || type === S_IFBLK) {
      const major = (iu & 0xfff00) >>> 8;
      const minor = (iu & 0xff) | ((iu >>> 12) & 0xfff00);
      return { meaning: `rdev ${major}:${minor} (${type === S_IFCHR ? 'char' : 'block'} device)` };
    }
    switch (layout) {
      case DataLayout.FLAT_PLAIN:
      case DataLayout.FLAT_INLINE:
        if (iu === EROFS_NULL_ADDR) return { value: '0xffffffff', meaning: layout === DataLayout.FLAT_INLINE ? 'startblk_lo: NULL, no full blocks (all data is inline after the inode)' : 'startblk_lo: NULL, the whole file is a hole' };
        if (size === 0 || (layout === DataLayout.FLAT_INLINE && size <= this.geo.bs)) return { meaning: `startblk_lo ${iu} (unused: no full blocks)` };
        return { meaning: `startblk_lo: data starts at block ${iu} (byte ${hex(iu * this.geo.bs)})`, target: this.blockTarget(iu, `data of inode ${nid}: block`) };
      case DataLayout.CHUNK_BASED: {
        const fmt = iu & 0xffff;
        const bits = this.geo.blkszbits + (fmt & CHUNK_FORMAT_BLKBITS_MASK);
        return { meaning: `chunk format ${hex(fmt)}: ${fmt & CHUNK_FORMAT_INDEXES ? '8-byte chunk indexes' : '4-byte block map'}, ${2 ** bits}-byte chunks${fmt & CHUNK_FORMAT_48BIT ? ', 48-bit' : ''}` };
      }
      case DataLayout.COMPRESSED_FULL:
      case DataLayout.COMPRESSED_COMPACT:
        return { meaning: `${plural(iu, 'compressed block')}` };
      default:
        return { meaning: 'meaning depends on the data layout' };
    }
  }

  // ---- xattrs --------------------------------------------------------------------------------

  private xattrBody(ino: InspectedInode): void {
    const { ann, map, geo } = this;
    const base = ino.offset + ino.inodeSize;
    const end = base + ino.xattrSize;
    const pre = `inode[${ino.nid}].xattr`;
    const s = ann.structure('xattrs', 'xattrs', `${ino.xattrSize} bytes`, base, end, ino.structure);
    if (ino.xattrSize < xattrIbodyHeader.size) {
      ann.diag('error', 'invalid-value', `inode ${ino.nid}: xattr body of ${ino.xattrSize} bytes is smaller than its 12-byte header`, ino.offset + 2, 2);
      return;
    }
    const h = ann.traceStruct(xattrIbodyHeader, base, pre, (f, v) => {
      if (f.name === 'h_name_filter') {
        return { meaning: geo.compat & COMPAT_XATTR_FILTER ? `bloom filter: ${32 - popcount(v.h_name_filter)} of 32 bits clear (a set bit means no name hashes there)` : 'bloom filter (unused: XATTR_FILTER feature not set)' };
      }
      if (f.name === 'h_shared_count') return { meaning: plural(v.h_shared_count, 'shared xattr id') + ' follow' };
      return undefined;
    });
    if (!h) return;
    const count = h.value.h_shared_count;
    let p = base + xattrIbodyHeader.size;
    if (p + 4 * count > end) {
      ann.diag('error', 'invalid-value', `inode ${ino.nid}: ${count} shared xattr ids do not fit in an xattr body of ${ino.xattrSize} bytes`, base + 4, 1);
      return;
    }
    for (let i = 0; i < count; i++, p += 4) {
      const id = map.u32(p);
      if (id === undefined) continue;
      const at = geo.xattrBase + id * 4;
      ann.part(p, p + 4, 'erofs_xattr_ibody_header', 'h_shared_xattrs', `${pre}.h_shared_xattrs[${i}]`, `${id} (${hex(id)})`, 'shared xattr id: the entry is at xattr_blkaddr * block size + 4 * id', `shared xattr at byte ${hex(at)}`, { offset: at, length: 4, label: `shared xattr ${hex(id)}` });
      this.sharedXattr(at, id);
    }
    let k = 0;
    while (p < end) {
      const n = this.xattrEntry(p, end, `${pre}.entry[${k}]`, s);
      if (n <= 0) break;
      p += n;
      k++;
    }
  }

  private sharedXattr(at: number, id: number): void {
    if (this.sharedSeen.has(at)) return;
    this.sharedSeen.add(at);
    if (!this.map.any(at, 4)) return;
    const s = this.ann.structure('shared-xattr', `shared xattr ${hex(id)}`, '', at, at + 4);
    const n = this.xattrEntry(at, Infinity, `shared_xattr[${hex(id)}]`, undefined, s);
    if (n > 0) s.end = at + n;
  }

  /** Decodes one xattr entry at `at` (ending before `limit`); returns its padded size or 0. */
  private xattrEntry(at: number, limit: number, path: string, parent?: Structure, self?: Structure): number {
    const { ann, map } = this;
    const e = ann.traceStruct(xattrEntry, at, path, (f, v) => {
      if (f.name === 'e_name_index') return { meaning: this.prefixName(v.e_name_index) };
      if (f.name === 'e_name_len') return { meaning: `name suffix of ${plural(v.e_name_len, 'byte')}` };
      if (f.name === 'e_value_size') return { meaning: `value of ${plural(v.e_value_size, 'byte')}` };
      return undefined;
    });
    if (!e || !e.complete) return 0;
    const { e_name_len: nl, e_name_index: idx, e_value_size: vs } = e.value;
    const size = Math.ceil((4 + nl + vs) / 4) * 4;
    if (at + 4 + nl + vs > limit) {
      ann.diag('error', 'truncated', `xattr entry at ${hex(at)} (name ${nl} + value ${vs} bytes) runs past the end of its xattr body at ${hex(limit)}`, at, 4);
      return 0;
    }
    const nameBytes = map.get(at + 4, nl);
    const valueBytes = map.get(at + 4 + nl, vs);
    const full = nameBytes ? this.prefixText(idx) + quoteBytes(nameBytes).slice(1, -1) : undefined;
    const entryStruct = self ?? ann.structure('xattr', full ?? `xattr at ${hex(at)}`, '', at, at + size, parent);
    if (self && full) self.detail = full;
    if (nl > 0) ann.part(at + 4, at + 4 + nl, 'erofs_xattr_entry', 'e_name', `${path}.name`, nameBytes ? quoteBytes(nameBytes) : '', 'name suffix (after the prefix given by e_name_index); not NUL-terminated', full ? `full name ${full}` : '');
    if (vs > 0) ann.part(at + 4 + nl, at + 4 + nl + vs, 'erofs_xattr_entry', 'e_value', `${path}.value`, valueBytes ? quoteBytes(valueBytes, 64) : '', 'value bytes', full ? describeXattrValue(full, valueBytes) : '');
    if (size > 4 + nl + vs) ann.padding(at + 4 + nl + vs, at + size, 'erofs_xattr_entry', `${path}.pad`, 'zero padding to a 4-byte boundary');
    if (!self) entryStruct.end = at + size;
    return size;
  }

  /** A lone xattr entry at `at` (a "decode structure at offset" request). */
  xattrAt(at: number): void {
    const s = this.ann.structure('xattr', `xattr at ${hex(at)}`, '', at, at + 4);
    const n = this.xattrEntry(at, Infinity, `xattr[${hex(at)}]`, undefined, s);
    if (n > 0) s.end = at + n;
  }

  /** A lone directory block from `at` to the end of its block (a request, no inode known). */
  dirBlockAt(at: number): void {
    const bs = this.geo.bs;
    const len = bs - (at % bs);
    const block = this.map.get(at, len) ?? this.map.get(at, Math.max(0, Math.min(len, this.map.end - at)));
    if (!block || block.length === 0) return;
    const fake: InspectedInode = {
      nid: -1, offset: at, path: undefined, compact: true, format: 0, layout: DataLayout.FLAT_PLAIN, mode: S_IFDIR, size: block.length,
      iu: 0, inodeSize: 0, xattrSize: 0, inlineBase: at, structure: this.ann.structure('directory-block', `directory block at ${hex(at)}`, `${block.length} bytes`, at, at + block.length),
    };
    this.dirBlock(fake, 0, at, block, undefined, undefined);
  }

  private prefixText(idx: number): string {
    if (idx & XATTR_LONG_PREFIX_BIT) {
      const lp = this.geo.longPrefixes?.[idx & 0x7f];
      return lp ?? `<long prefix ${idx & 0x7f}>`;
    }
    return XATTR_PREFIXES[idx] ?? (idx === 0 ? '' : `<prefix ${idx}>`);
  }

  private prefixName(idx: number): string {
    if (idx & XATTR_LONG_PREFIX_BIT) {
      const k = idx & 0x7f;
      const lp = this.geo.longPrefixes?.[k];
      return lp !== undefined ? `long prefix ${k}: "${lp}"` : `long prefix ${k} (its table is in the packed inode, not decoded here)`;
    }
    const sp = XATTR_PREFIXES[idx];
    if (sp !== undefined) return `prefix "${sp}"${idx === 5 ? ' (invisible through the kernel)' : ''}`;
    return idx === 0 ? 'no prefix (invisible through the kernel)' : `unknown prefix index ${idx}`;
  }

  // ---- data ----------------------------------------------------------------------------------

  private data(ino: InspectedInode, parent: number | undefined): void {
    const { ann } = this;
    const type = ino.mode & S_IFMT;
    if (ino.layout === DataLayout.COMPRESSED_FULL || ino.layout === DataLayout.COMPRESSED_COMPACT) {
      if (type !== S_IFREG) ann.diag('error', 'invalid-value', `inode ${ino.nid}: compressed layout on a ${TYPE_WORDS[type] ?? 'non-regular file'}`, ino.offset, 2);
      const hook = layoutInspectors[ino.layout];
      if (hook) hook(this, ino);
      else ann.diag('info', 'unsupported-feature', `inode ${ino.nid}: ${LAYOUT_NAMES[ino.layout]} data map after the inode is not decoded yet (compressed layouts)`, ino.inlineBase, 0);
      return;
    }
    if (ino.size === 0) return;
    const extents = this.extents(ino);
    if (type === S_IFDIR) {
      this.directory(ino, extents, parent);
      return;
    }
    const label = ino.path ?? `inode ${ino.nid}`;
    if (ino.nid === this.geo.packedNid && this.geo.prefixCount > 0 && this.geo.longPrefixes === undefined) {
      // The long xattr prefixes live in the packed inode's data (decoded before any xattr).
      const at = this.geo.prefixStart;
      const e = extents.find((x) => x.logical <= at && at < x.logical + x.length && x.at !== undefined && x.dev === 0);
      if (e) this.geo.longPrefixes = longPrefixes(ann, this.map, e.at! + (at - e.logical), this.geo.prefixCount);
    }
    for (const e of extents) {
      // Data on an extra device appended to this file (a tar) is described by that device's decoder.
      if (e.at === undefined || e.dev !== 0) continue;
      const inline = ino.layout === DataLayout.FLAT_INLINE && e.at === ino.inlineBase;
      if (inline) ann.structure('inline-data', 'inline data', `${e.length} bytes`, e.at, e.at + e.length, ino.structure);
      else ann.structure('data', `data of ${label}`, `bytes ${e.logical}..${e.logical + e.length}`, e.at, e.at + e.length);
      if (inline) ino.structure.end = Math.max(ino.structure.end, e.at + e.length);
      let meaning = '';
      if (type === S_IFLNK) {
        const b = this.map.get(e.at, e.length);
        meaning = b ? `symlink target ${quoteBytes(b)}` : 'symlink target';
      }
      ann.data(e.at, e.at + e.length, 'file data', `${label}[${e.logical}..${e.logical + e.length})`, `bytes ${e.logical}..${e.logical + e.length} of ${label}`, inline ? 'inline tail: the last partial block of the file, right after the inode and its xattrs' : 'file data', meaning);
    }
  }

  /** The file's data map; chunk tables are traced on the way. */
  private extents(ino: InspectedInode): Extent[] {
    const { ann, geo } = this;
    const bs = geo.bs;
    const size = ino.size;
    const out: Extent[] = [];
    switch (ino.layout) {
      case DataLayout.FLAT_PLAIN:
      case DataLayout.FLAT_INLINE: {
        const inline = ino.layout === DataLayout.FLAT_INLINE;
        const nblocks = Math.ceil(size / bs);
        const full = inline ? nblocks - 1 : nblocks;
        if (full > 0) {
          if (ino.iu === EROFS_NULL_ADDR) {
            if (inline) ann.diag('error', 'invalid-value', `inode ${ino.nid}: ${plural(full, 'full block')} but startblk is NULL`, ino.offset + 16, 4);
            out.push({ logical: 0, length: Math.min(size, full * bs), at: undefined, hole: true, dev: 0 });
          } else {
            out.push({ logical: 0, length: Math.min(size, full * bs), at: ino.iu * bs, hole: false, dev: 0 });
          }
        }
        if (inline) {
          const tail = size - full * bs;
          const inBlock = ino.inlineBase % bs;
          if (inBlock + tail > bs) {
            ann.diag('error', 'invalid-value', `inode ${ino.nid}: inline tail of ${tail} bytes at ${hex(ino.inlineBase)} crosses the block boundary at ${hex(ino.inlineBase - inBlock + bs)} (the kernel refuses this inode: EFSCORRUPTED)`, ino.inlineBase, tail);
            out.push({ logical: full * bs, length: bs - inBlock, at: ino.inlineBase, hole: false, dev: 0 });
          } else {
            out.push({ logical: full * bs, length: tail, at: ino.inlineBase, hole: false, dev: 0 });
          }
        }
        return out;
      }
      case DataLayout.CHUNK_BASED:
        return this.chunks(ino);
      default:
        return out;
    }
  }

  private chunks(ino: InspectedInode): Extent[] {
    const { ann, map, geo } = this;
    const fmt = ino.iu & 0xffff;
    const out: Extent[] = [];
    if (fmt & ~(CHUNK_FORMAT_BLKBITS_MASK | CHUNK_FORMAT_INDEXES | CHUNK_FORMAT_48BIT)) {
      ann.diag('error', 'invalid-value', `inode ${ino.nid}: unknown chunk format bits ${hex(fmt)}`, ino.offset + 16, 4);
      return out;
    }
    const chunkbits = geo.blkszbits + (fmt & CHUNK_FORMAT_BLKBITS_MASK);
    const cs = 2 ** chunkbits;
    let count = Math.ceil(ino.size / cs);
    if (count > MAX_CHUNKS) {
      ann.diag('warning', 'too-large', `inode ${ino.nid}: ${count} chunks; only the first ${MAX_CHUNKS} are decoded`, ino.offset + 8, 4);
      count = MAX_CHUNKS;
    }
    const indexes = (fmt & CHUNK_FORMAT_INDEXES) !== 0;
    const unit = indexes ? chunkIndex.size : blockMapEntry.size;
    const tableAt = Math.ceil(ino.inlineBase / unit) * unit;
    if (tableAt > ino.inlineBase) ann.padding(ino.inlineBase, tableAt, 'erofs_inode_chunk_index', `inode[${ino.nid}].chunk_align`, 'padding that aligns the chunk table to its entry size');
    const label = ino.path ?? `inode ${ino.nid}`;
    const table = ann.structure('chunk-table', indexes ? 'chunk indexes' : 'block map', `${plural(count, 'chunk')} of ${cs} bytes`, tableAt, tableAt + count * unit, ino.structure);
    ino.structure.end = Math.max(ino.structure.end, table.end);
    const mask = indexes ? nextPow2(geo.devices.length + 1) - 1 : 0;
    const present: number[] = [];
    for (const [a, b] of map.ranges(tableAt, tableAt + count * unit)) {
      for (let i = Math.floor((a - tableAt) / unit); i < Math.ceil((b - tableAt) / unit) && i < count; i++) {
        if (present[present.length - 1] !== i) present.push(i);
      }
    }
    for (const i of present) {
      const at = tableAt + i * unit;
      const logical = i * cs;
      const length = Math.min(cs, ino.size - logical);
      let blk = 0;
      let dev = 0;
      const resolve = (b: number, d: number): Explained => {
        if (b === EROFS_NULL_ADDR) return { value: '0xffffffff', meaning: `NULL: chunk ${i} (bytes ${logical}..${logical + length}) is a hole` };
        const where = this.deviceOffset(d, b * geo.bs);
        const what = `chunk ${i} of ${label} (bytes ${logical}..${logical + length}) at block ${b}${d ? ` of device ${d}` : ''}`;
        return { meaning: what + (where !== undefined ? ` = byte ${hex(where)} of this file` : d ? ' (device data is not in this file)' : ''), target: where !== undefined ? { offset: where, length, label: `chunk ${i} data` } : undefined };
      };
      if (indexes) {
        const r = ann.traceStruct(chunkIndex, at, `inode[${ino.nid}].chunk[${i}]`, (f, v) => {
          if (f.name === 'startblk_lo') return resolve(v.startblk_lo, v.device_id & mask);
          if (f.name === 'device_id') return { meaning: v.device_id === 0 ? 'primary device' : `extra device ${v.device_id & mask}${(v.device_id & mask) !== v.device_id ? ` (masked from ${v.device_id})` : ''}` };
          if (f.name === 'startblk_hi') return { meaning: v.startblk_hi ? 'high bits of the block address (48BIT)' : '' };
          return undefined;
        });
        if (!r?.complete) continue;
        blk = r.value.startblk_lo;
        dev = r.value.device_id & mask;
        if (dev > geo.devices.length) ann.diag('error', 'invalid-value', `inode ${ino.nid}: chunk ${i} names device ${dev} but the image has ${geo.devices.length}`, at + 2, 2);
      } else {
        const r = ann.traceStruct(blockMapEntry, at, `inode[${ino.nid}].chunk[${i}]`, (_f, v) => resolve(v.blkaddr, 0));
        if (!r?.complete) continue;
        blk = r.value.blkaddr;
      }
      if (blk === EROFS_NULL_ADDR) out.push({ logical, length, at: undefined, hole: true, dev: 0 });
      else out.push({ logical, length, at: this.deviceOffset(dev, blk * geo.bs), hole: false, dev });
    }
    return out;
  }

  /** Byte offset in this file of device `dev`'s byte `pa` (appended devices via uniaddr), or undefined. */
  private deviceOffset(dev: number, pa: number): number | undefined {
    if (dev === 0) return pa;
    const d = this.geo.devices[dev - 1];
    if (!d || d.uniaddr === 0) return undefined;
    return d.uniaddr * this.geo.bs + pa;
  }

  // ---- directories ---------------------------------------------------------------------------

  private directory(ino: InspectedInode, extents: Extent[], parent: number | undefined): void {
    const { ann, map, geo } = this;
    const bs = geo.bs;
    const nblocks = Math.ceil(ino.size / bs);
    const dirPath = ino.path;
    let prev: Uint8Array | undefined;
    for (const e of extents) {
      if (e.hole) {
        ann.diag('error', 'invalid-value', `directory ${ino.nid}: bytes ${e.logical}..${e.logical + e.length} are a hole`, ino.offset, 0);
        continue;
      }
      if (e.at === undefined) continue;
      // Only blocks with bytes in the dump (a corrupt i_size may claim billions).
      const blocks = new Set<number>();
      for (const [a, b] of map.ranges(e.at, e.at + e.length)) {
        for (let i = Math.floor((a - e.at + e.logical) / bs); i * bs < b - e.at + e.logical && i < nblocks; i++) blocks.add(i);
      }
      for (const i of blocks) {
        const start = i * bs;
        const len = Math.min(bs, ino.size - start);
        const at = e.at + (start - e.logical);
        const avail = Math.min(len, e.length - (start - e.logical));
        if (avail <= 0) continue;
        const inline = ino.layout === DataLayout.FLAT_INLINE && e.at === ino.inlineBase;
        ann.structure('directory-block', inline ? 'inline dirents' : `directory block ${i} of ${dirPath ?? `inode ${ino.nid}`}`, `${avail} bytes`, at, at + avail, inline ? ino.structure : undefined);
        if (inline) ino.structure.end = Math.max(ino.structure.end, at + avail);
        const block = map.get(at, avail);
        if (!block) {
          ann.data(at, at + avail, 'directory block', `dir[${ino.nid}].block[${i}]`, `directory block ${i} (only partly in the dump)`, 'dirents are decoded only when the whole block is in the dump');
          continue;
        }
        prev = this.dirBlock(ino, i, at, block, prev, parent);
      }
    }
  }

  private dirBlock(ino: InspectedInode, bi: number, at: number, block: Uint8Array, prevName: Uint8Array | undefined, parent: number | undefined): Uint8Array | undefined {
    const { ann } = this;
    const len = block.length;
    const pre = `dir[${ino.nid}].block[${bi}]`;
    if (len < dirent.size) {
      ann.diag('error', 'invalid-value', `directory ${ino.nid}: block ${bi} has ${len} bytes, too few for a dirent`, at, len);
      return prevName;
    }
    const nameoff0 = block[8]! | (block[9]! << 8);
    if (nameoff0 < dirent.size || nameoff0 > len || nameoff0 % dirent.size !== 0) {
      ann.traceStruct(dirent, at, `${pre}.dirent[0]`);
      ann.diag('error', 'invalid-value', `directory ${ino.nid}: block ${bi} nameoff[0] ${nameoff0} is invalid: it must be a multiple of 12 within the ${len}-byte block (it gives the dirent count)`, at + 8, 2);
      return prevName;
    }
    const count = nameoff0 / dirent.size;
    const dv = new DataView(block.buffer, block.byteOffset, block.byteLength);
    let prev = prevName;
    let lastEnd = nameoff0;
    for (let j = 0; j < count; j++) {
      const p = j * dirent.size;
      const nameoff = dv.getUint16(p + 8, true);
      let end: number;
      if (j + 1 < count) end = dv.getUint16(p + 20, true);
      else {
        end = len;
        const z = block.indexOf(0, nameoff);
        if (z >= 0 && z < len) end = z;
      }
      // The low 53 bits of the u64, from two u32 reads (no BigInt per dirent).
      const nid = (dv.getUint32(p + 4, true) & 0x1fffff) * 0x100000000 + dv.getUint32(p, true);
      const okName = !(nameoff < nameoff0 || nameoff > len || end > len || end <= nameoff);
      const name = okName ? block.subarray(nameoff, end) : undefined;
      const quoted = name ? quoteBytes(name) : undefined;
      const childPath = quoted !== undefined && ino.path !== undefined ? joinQuoted(ino.path, quoted) : undefined;
      const isDot = name !== undefined && name.length === 1 && name[0] === 0x2e;
      const isDotDot = name !== undefined && name.length === 2 && name[0] === 0x2e && name[1] === 0x2e;
      if (childPath !== undefined && !isDot && !isDotDot && !this.ann.paths.has(nid)) this.ann.paths.set(nid, childPath);
      ann.traceStruct(dirent, at + p, `${pre}.dirent[${j}]`, (f, v) => {
        switch (f.name) {
          case 'nid': {
            const label = quoted ?? `dirent ${j}`;
            return { meaning: `${label} → inode ${nid}${isDot ? ' (this directory)' : isDotDot ? ' (parent)' : childPath !== undefined ? ` ${childPath}` : ''}`, target: this.inodeTarget(nid) };
          }
          case 'nameoff':
            return { meaning: j === 0 ? `name at byte ${v.nameoff} of the block; ${plural(count, 'dirent')} in this block` : `name at byte ${v.nameoff} of the block` };
          case 'file_type':
            return { meaning: FT_NAMES[v.file_type] ?? 'invalid' };
          default:
            return undefined;
        }
      });
      if (!okName || !name) {
        ann.diag('error', 'invalid-value', `directory ${ino.nid}: dirent ${j} of block ${bi} has a bad name range [${nameoff}, ${end})`, at + p + 8, 2);
        continue;
      }
      ann.part(at + nameoff, at + end, 'dirent name', 'name', `${pre}.name[${j}]`, quoted!, `name of dirent ${j}; names are not NUL-terminated: each ends where the next begins`, childPath ?? '', this.inodeTarget(nid));
      lastEnd = Math.max(lastEnd, end);
      const ft = block[p + 10]!;
      if (ft > 7) ann.diag('error', 'invalid-value', `directory ${ino.nid}: dirent ${j} has file_type ${ft} out of range [0, 7]`, at + p + 10, 1);
      if (end - nameoff > 255) ann.diag('error', 'invalid-value', `directory ${ino.nid}: name of ${end - nameoff} bytes exceeds 255`, at + nameoff, end - nameoff);
      if (prev !== undefined && compareBytes(prev, name) >= 0) {
        ann.diag('error', 'invalid-value', `dirents out of order: ${quoteBytes(name)} comes after ${quoteBytes(prev)}; names must ascend in byte order across the directory (lookups binary-search them)`, at + nameoff, end - nameoff);
      }
      prev = name;
      if (isDot) {
        if (ino.nid >= 0 && nid !== ino.nid) ann.diag('warning', 'invalid-value', `"." of directory ${ino.nid} points to inode ${nid}`, at + p, 8);
        continue;
      }
      if (isDotDot) {
        if (parent !== undefined && nid !== parent) ann.diag('warning', 'invalid-value', `".." of directory ${ino.nid} points to inode ${nid}, not its parent ${parent}`, at + p, 8);
        continue;
      }
      if (ft <= 7 && !this.expectType.has(nid)) this.expectType.set(nid, { ft, at: at + p + 10 });
      this.enqueue(nid, childPath, ino.nid);
    }
    if (lastEnd < len) ann.padding(at + lastEnd, at + len, 'directory block', `${pre}.unused`, 'unused space after the last name (zero)');
    return prev;
  }
}

const FT_NAMES: Record<number, string> = { 0: 'unknown', 1: 'regular file', 2: 'directory', 3: 'char device', 4: 'block device', 5: 'fifo', 6: 'socket', 7: 'symlink' };
const TYPE_WORDS: Record<number, string> = { 0o140000: 'socket', 0o120000: 'symlink', 0o100000: 'regular file', 0o060000: 'block device', 0o040000: 'directory', 0o020000: 'char device', 0o010000: 'fifo' };

/** Bytes of the inode core and inline xattrs at `off` if it looks like a valid inode, else 0. */
function plausibleInode(map: ByteMap, off: number): number {
  const fmt = map.u16(off);
  const mode = map.u16(off + 4);
  if (fmt === undefined || mode === undefined || fmt & 0xffe0) return 0;
  const layout = (fmt >> 1) & 7;
  const type = mode & S_IFMT;
  if (layout > DataLayout.CHUNK_BASED || fileTypeOfMode(mode) === FT.UNKNOWN) return 0;
  if ((layout === DataLayout.COMPRESSED_FULL || layout === DataLayout.COMPRESSED_COMPACT) && type !== S_IFREG) return 0;
  if (layout === DataLayout.CHUNK_BASED && type !== S_IFREG) return 0;
  const icount = map.u16(off + 2)!;
  const xattr = icount === 0 ? 0 : 12 + 4 * (icount - 1);
  if (xattr > 2048) return 0;
  if ((fmt & 1) === 0) {
    const raw = map.get(off, 32);
    if (!raw || raw[28] || raw[29] || raw[30] || raw[31]) return 0;
    const nlink = raw[6]! | (raw[7]! << 8);
    if (nlink === 0 && !(fmt & 0x10)) return 0;
    if (type === S_IFDIR && (raw[8]! | raw[9]! | raw[10]! | raw[11]!) === 0) return 0;
    return 32 + xattr;
  }
  const raw = map.get(off, 64);
  if (!raw) return 0;
  for (let i = 48; i < 64; i++) if (raw[i]) return 0;
  const nlink = (raw[44]! | (raw[45]! << 8) | (raw[46]! << 16) | (raw[47]! << 24)) >>> 0;
  const nsec = (raw[40]! | (raw[41]! << 8) | (raw[42]! << 16) | (raw[43]! << 24)) >>> 0;
  if (nlink === 0 || nsec >= 1e9) return 0;
  return 64 + xattr;
}

function popcount(x: number): number {
  let n = 0;
  for (let v = x >>> 0; v; v &= v - 1) n++;
  return n;
}

function nextPow2(n: number): number {
  let p = 1;
  while (p < n) p <<= 1;
  return p;
}

/** A child's path from its directory's and its name as quoteBytes() gives it. */
function joinQuoted(dir: string, quoted: string): string {
  const n = quoted.slice(1, -1);
  return dir === '/' ? `/${n}` : `${dir}/${n}`;
}

function describeXattrValue(name: string, v: Uint8Array | undefined): string {
  if (!v) return '';
  if (name === 'security.capability') return 'vfs_cap_data (file capabilities)';
  if (name === 'system.posix_acl_access' || name === 'system.posix_acl_default') return 'POSIX ACL (posix_acl_xattr entries)';
  if (name.startsWith('trusted.overlay.')) return 'overlayfs attribute';
  return '';
}

function explainSuper(f: Field, sb: SuperBlock): Explained | undefined {
  const bs = sb.blkszbits >= 9 && sb.blkszbits <= 16 ? 1 << sb.blkszbits : 0;
  switch (f.name) {
    case 'magic':
      return { meaning: sb.magic === EROFS_SUPER_MAGIC ? 'EROFS_SUPER_MAGIC_V1' : `not EROFS (expected ${hex(EROFS_SUPER_MAGIC)})` };
    case 'checksum':
      return { meaning: sb.feature_compat & COMPAT_SB_CHKSUM ? `crc32c of bytes ${hex(EROFS_SUPER_OFFSET)}..${hex(EROFS_SUPER_OFFSET + (bs > EROFS_SUPER_OFFSET ? bs - EROFS_SUPER_OFFSET : bs))} with this field zeroed` : 'unused (no SB_CHKSUM feature)' };
    case 'feature_compat':
      return { value: hex(sb.feature_compat), meaning: featureNames(sb.feature_compat, COMPAT_FEATURES).join(', ') || 'none' };
    case 'feature_incompat':
      return { value: hex(sb.feature_incompat), meaning: featureNames(sb.feature_incompat, INCOMPAT_FEATURES).join(', ') || 'none' };
    case 'blkszbits':
      return { meaning: bs ? `block size ${bs}` : 'invalid block size' };
    case 'sb_extslots':
      return { meaning: `superblock of ${128 + 16 * sb.sb_extslots} bytes` };
    case 'rootnid_2b':
      return { meaning: `root directory: inode ${sb.rootnid_2b}`, target: bs ? { offset: sb.meta_blkaddr * bs + sb.rootnid_2b * 32, length: 32, label: `root inode ${sb.rootnid_2b}` } : undefined };
    case 'inos':
      return { meaning: plural(Number(sb.inos), 'inode') };
    case 'epoch':
      return { meaning: `${formatTime(Number(sb.epoch), sb.fixed_nsec < 1e9 ? sb.fixed_nsec : 0)}: base of compact-inode mtimes` };
    case 'blocks_lo':
      return { meaning: bs ? `${sb.blocks_lo * bs} bytes on the primary device` : '' };
    case 'meta_blkaddr':
      return { meaning: bs ? `nid 0 is at byte ${hex(sb.meta_blkaddr * bs)}` : '' };
    case 'xattr_blkaddr':
      return { meaning: bs ? `shared xattr ids count 4-byte units from byte ${hex(sb.xattr_blkaddr * bs)}` : '' };
    case 'uuid':
      return { value: uuidString(sb.uuid) };
    case 'volume_name':
      return { value: quoteBytes(cstr(sb.volume_name)) };
    case 'u1':
      return { meaning: sb.feature_incompat & 0x2 ? `available_compr_algs ${hex(sb.u1)}` : sb.u1 === 0 ? 'lz4_max_distance 0 (default 64 KiB)' : `lz4_max_distance ${sb.u1}` };
    case 'extra_devices':
      return { meaning: sb.feature_incompat & INCOMPAT_DEVICE_TABLE ? plural(sb.extra_devices, 'extra device') : 'unused (no DEVICE_TABLE feature)' };
    case 'devt_slotoff':
      return sb.feature_incompat & INCOMPAT_DEVICE_TABLE && sb.extra_devices > 0
        ? { meaning: `device table at byte ${hex(sb.devt_slotoff * 128)}`, target: { offset: sb.devt_slotoff * 128, length: 128, label: 'device table' } }
        : { meaning: 'unused' };
    case 'packed_nid':
      return sb.packed_nid === 0n || !bs
        ? { meaning: 'no packed inode' }
        : { meaning: `packed inode ${sb.packed_nid}`, target: { offset: sb.meta_blkaddr * bs + Number(sb.packed_nid) * 32, length: 32, label: `packed inode ${sb.packed_nid}` } };
    case 'xattr_prefix_start':
      return { meaning: sb.xattr_prefix_count ? `long-prefix table at ${hex(sb.xattr_prefix_start * 4)}${sb.packed_nid ? ' of the packed inode' : ''}` : 'unused' };
    case 'build_time':
      return { meaning: sb.build_time ? `build time ${formatTime(Number(sb.epoch) + sb.build_time)}` : '' };
    default:
      return undefined;
  }
}

function longPrefixes(ann: Annotator, map: ByteMap, start: number, count: number): string[] | undefined {
  const out: string[] = [];
  let pos = start;
  for (let i = 0; i < count; i++) {
    pos = Math.ceil(pos / 4) * 4;
    const r = ann.traceStruct(xattrLongPrefixLen, pos, `long_prefix[${i}]`);
    if (!r?.complete) return undefined;
    const len = r.value.len;
    const body = map.get(pos + 2, len);
    if (!body || len < 1) {
      ann.diag('error', 'invalid-value', `long xattr prefix ${i}: length ${len} is invalid or runs out of the dump`, pos, 2);
      return undefined;
    }
    const base = XATTR_PREFIXES[body[0]!];
    const text = (base ?? `<prefix ${body[0]}>`) + quoteBytes(body.subarray(1)).slice(1, -1);
    ann.structure('long-prefix', `long xattr prefix ${i}`, text, pos, pos + 2 + len);
    ann.part(pos + 2, pos + 3, 'erofs_xattr_long_prefix', 'base_index', `long_prefix[${i}].base_index`, String(body[0]), 'short prefix index the infix is appended to', base ? `"${base}"` : 'unknown index');
    if (len > 1) ann.part(pos + 3, pos + 2 + len, 'erofs_xattr_long_prefix', 'infix', `long_prefix[${i}].infix`, quoteBytes(body.subarray(1)), 'the rest of the prefix', `prefix ${text}`);
    out.push(text);
    pos += 2 + len;
  }
  return out;
}

/** Whether the bytes at 1024 carry the EROFS magic. */
export function hasErofsMagic(map: ByteMap): boolean {
  return map.u32(EROFS_SUPER_OFFSET) === EROFS_SUPER_MAGIC;
}

/** Tar data of appended devices (a tar index followed by its tar) is decoded as tar. */
export function inspectAppendedDevices(ins: ErofsInspector): void {
  for (const d of ins.geo.devices) {
    if (d.uniaddr === 0) continue;
    const at = d.uniaddr * ins.geo.bs;
    if (looksLikeTarHeader(ins.map, at)) inspectTar(ins.ann, ins.map, at, `device[${d.index}]`);
  }
}
