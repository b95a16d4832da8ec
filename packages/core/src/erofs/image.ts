/**
 * The EROFS image reader: superblock and feature checks, inodes by nid, directories
 * (iteration and kernel-style binary-search lookup), file data for every uncompressed
 * layout, extra devices, and xattrs. Strict: every problem is an {@link ErofsError} with a
 * code and the byte offset where it was found.
 */
import { ErofsError, hex, toSafeNumber } from '../errors.js';
import { decode } from '../layout/struct.js';
import { BlockCache, type ByteSource, type CacheOptions } from '../io/source.js';
import { crc32c } from './checksum.js';
import {
  CHUNK_FORMAT_48BIT,
  CHUNK_FORMAT_BLKBITS_MASK,
  CHUNK_FORMAT_INDEXES,
  DataLayout,
  EROFS_NULL_ADDR,
  EROFS_SUPER_MAGIC,
  EROFS_SUPER_OFFSET,
  LAYOUT_NAMES,
  S_IFBLK,
  S_IFCHR,
  S_IFDIR,
  S_IFLNK,
  S_IFMT,
  S_IFREG,
  chunkIndex,
  deviceSlot,
  dirent,
  fileTypeOfMode,
  inodeCompact,
  inodeExtended,
  superBlock,
  type DeviceSlot,
  type SuperBlock,
} from './format.js';
import {
  COMPAT_FEATURES,
  COMPAT_SB_CHKSUM,
  INCOMPAT_DEVICE_TABLE,
  INCOMPAT_FEATURES,
  INCOMPAT_XATTR_PREFIXES,
  featureNames,
  unsupportedIncompat,
} from './features.js';
import { readXattrs, loadLongPrefixes, type LongPrefix, type Xattr } from './xattr.js';
import { PclusterCache, isCompressed, loadCompressionConfig, loadZMap, readZExtent, toExtent, tryDecodeZExtentSync, type CompressionConfig, type ZExtent } from './zmap.js';

export interface Inode {
  nid: number;
  /** Byte offset of the inode in the primary device. */
  offset: number;
  compact: boolean;
  /** Raw i_format. */
  format: number;
  layout: number;
  layoutName: string;
  mode: number;
  nlink: number;
  size: number;
  uid: number;
  gid: number;
  /** mtime seconds (may be negative). */
  mtime: number;
  mtimeNsec: number;
  /** Raw i_u. */
  iu: number;
  /** Device number for char/block devices. */
  rdev: { major: number; minor: number } | undefined;
  /** Bytes of the inode core (32 or 64). */
  inodeSize: number;
  /** Bytes of inline xattrs following the core. */
  xattrSize: number;
  /** First byte after the core and inline xattrs (inline data / chunk table position). */
  inlineBase: number;
  /** Bit 4 of i_format: DOT_OMITTED (dirs) / NLINK_1 (others). */
  bit4: boolean;
}

export interface DirEntry {
  name: Uint8Array;
  nid: number;
  fileType: number;
  /** Byte offset of this dirent in the primary device, when known. */
  offset: number;
}

/** One mapped range of a file: logical bytes → device bytes, or a hole. */
export interface Extent {
  logical: number;
  length: number;
  /** null = hole (reads as zeros). */
  device: number | null;
  /** Byte offset on that device (device-relative). */
  physical: number;
  /** Where the mapping entry itself lives in the image (for stat and the annotator). */
  entryOffset?: number;
  /**
   * Set for the extents of compressed files (COMPRESSED_FULL/COMPACT): `physical` is then the
   * encoded data's byte address in the device-0 (unified) address space, or for fragments the
   * offset inside the packed inode's data. Its bytes are not the file's bytes: read them with
   * {@link ErofsImage.read} or {@link ErofsImage.stream}.
   */
  compression?: ExtentCompression;
}

/** How a compressed file's extent is stored. */
export interface ExtentCompression {
  /** `lz4`, `lzma`, `deflate`, `zstd`; `plain` or `interlaced` for an uncompressed pcluster; `packed` for a fragment (read through the packed inode). */
  algorithm: string;
  /** A pcluster of whole blocks, an inline tail after the indexes (ztailpacking), or a fragment in the packed inode. */
  storage: 'pcluster' | 'inline' | 'fragment';
  /** Encoded bytes (pcluster or inline size; for a fragment, its length). */
  encodedLength: number;
  /** Uses only a prefix of the pcluster's decompressed data (PARTIAL_REF, written by dedupe). */
  partial: boolean;
}

export interface DeviceInfo {
  index: number;
  tag: string;
  blocks: number;
  uniaddr: number;
  slotOffset: number;
  /** Source supplying this device, or undefined when read through the primary (flatdev). */
  attached: boolean;
}

export interface OpenOptions {
  /** Extra devices in device-table order (a tar-index image's tar). */
  devices?: ByteSource[];
  cache?: CacheOptions;
  /** Skip the superblock checksum check (inspection of damaged images). */
  ignoreChecksum?: boolean;
  /** Upper bound of decompressed pcluster bytes kept for random reads of compressed files. Default 16 MiB. */
  pclusterCacheBytes?: number;
}

export const textDecoder = new TextDecoder('utf-8', { fatal: false });
export const textEncoder = new TextEncoder();

function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const d = a[i]! - b[i]!;
    if (d !== 0) return d;
  }
  return a.length - b.length;
}

const DOT = 0x2e;
export function isDotOrDotDot(name: Uint8Array): boolean {
  return (name.length === 1 && name[0] === DOT) || (name.length === 2 && name[0] === DOT && name[1] === DOT);
}

const INODE_CACHE_ENTRIES = 4096;

export class ErofsImage {
  readonly sb: SuperBlock;
  readonly blockSize: number;
  readonly blkszbits: number;
  readonly sbSize: number;
  readonly rootNid: number;
  readonly metaBase: number;
  readonly compatNames: string[];
  readonly incompatNames: string[];
  readonly devices: DeviceInfo[];
  /** Whether the checksum was present and verified. */
  readonly checksumOk: boolean | undefined;
  readonly cache: BlockCache;
  private readonly deviceCaches: (BlockCache | undefined)[];
  longPrefixes: LongPrefix[] = [];
  /** Compression algorithms and their configuration records (LZ4 defaults when the image has none). */
  compression!: CompressionConfig;
  /** Decoded pclusters kept for random reads. */
  pclusters = new PclusterCache();
  /** Output memory of `stream(..., { reuse: true })`, kept between files. */
  private streamScratch: Uint8Array | undefined;
  private readonly inodeCache = new Map<number, Inode>();
  private readonly zmaps = new Map<number, ZExtent[]>();

  private constructor(cache: BlockCache, sb: SuperBlock, devCaches: (BlockCache | undefined)[], devices: DeviceInfo[], checksumOk: boolean | undefined) {
    this.cache = cache;
    this.sb = sb;
    this.blkszbits = sb.blkszbits;
    this.blockSize = 1 << sb.blkszbits;
    this.sbSize = 128 + 16 * sb.sb_extslots;
    this.rootNid = sb.rootnid_2b;
    this.metaBase = sb.meta_blkaddr * this.blockSize;
    this.compatNames = featureNames(sb.feature_compat, COMPAT_FEATURES);
    this.incompatNames = featureNames(sb.feature_incompat, INCOMPAT_FEATURES);
    this.devices = devices;
    this.deviceCaches = devCaches;
    this.checksumOk = checksumOk;
  }

  static async open(source: ByteSource, opts: OpenOptions = {}): Promise<ErofsImage> {
    const cache = new BlockCache(source, opts.cache);
    if (source.size < EROFS_SUPER_OFFSET + superBlock.size) {
      throw new ErofsError('truncated', `image is ${source.size} bytes, too small to hold a superblock at ${hex(EROFS_SUPER_OFFSET)}`, { offset: source.size });
    }
    const head = await cache.read(EROFS_SUPER_OFFSET, superBlock.size);
    const sb = decode(superBlock, head, 0, EROFS_SUPER_OFFSET);
    if (sb.magic !== EROFS_SUPER_MAGIC) {
      throw new ErofsError('bad-magic', `no EROFS superblock: magic ${hex(sb.magic)} at ${hex(EROFS_SUPER_OFFSET)}, expected ${hex(EROFS_SUPER_MAGIC)}`, {
        offset: EROFS_SUPER_OFFSET,
        length: 4,
      });
    }
    if (sb.blkszbits < 9 || sb.blkszbits > 16) {
      throw new ErofsError('invalid-value', `blkszbits ${sb.blkszbits} out of range [9, 16]`, { offset: EROFS_SUPER_OFFSET + 12, length: 1 });
    }
    const bs = 1 << sb.blkszbits;
    const sbSize = 128 + 16 * sb.sb_extslots;
    if (EROFS_SUPER_OFFSET + sbSize > Math.max(bs, 4096)) {
      throw new ErofsError('invalid-value', `sb_extslots ${sb.sb_extslots} makes the superblock run past its block`, { offset: EROFS_SUPER_OFFSET + 13, length: 1 });
    }
    const bad = unsupportedIncompat(sb.feature_incompat);
    if (bad.length > 0) {
      throw new ErofsError('unsupported-feature', `unsupported incompatible features: ${bad.join(', ')} (feature_incompat ${hex(sb.feature_incompat)})`, {
        offset: EROFS_SUPER_OFFSET + 80,
        length: 4,
      });
    }
    if (sb.dirblkbits !== 0) {
      throw new ErofsError('invalid-value', `dirblkbits ${sb.dirblkbits} must be 0`, { offset: EROFS_SUPER_OFFSET + 90, length: 1 });
    }
    if (!sb.volume_name.includes(0)) {
      throw new ErofsError('invalid-value', 'volume_name is not NUL-terminated', { offset: EROFS_SUPER_OFFSET + 64, length: 16 });
    }
    let checksumOk: boolean | undefined;
    if (sb.feature_compat & COMPAT_SB_CHKSUM && !opts.ignoreChecksum) {
      const len = bs > EROFS_SUPER_OFFSET ? bs - EROFS_SUPER_OFFSET : bs;
      if (source.size < EROFS_SUPER_OFFSET + len) {
        throw new ErofsError('truncated', `checksummed area ${hex(EROFS_SUPER_OFFSET)}+${len} runs past the end of the image`, { offset: EROFS_SUPER_OFFSET });
      }
      const got = await superblockCrc(cache, bs);
      if (got !== sb.checksum) {
        throw new ErofsError('bad-checksum', `superblock checksum ${hex(sb.checksum)} does not match crc32c ${hex(got)} of bytes ${hex(EROFS_SUPER_OFFSET)}..${hex(EROFS_SUPER_OFFSET + len)}`, {
          offset: EROFS_SUPER_OFFSET + 4,
          length: 4,
        });
      }
      checksumOk = true;
    }
    // Device table.
    const devices: DeviceInfo[] = [];
    const given = opts.devices ?? [];
    if (sb.feature_incompat & INCOMPAT_DEVICE_TABLE && sb.extra_devices > 0) {
      const base = sb.devt_slotoff * 128;
      for (let i = 0; i < sb.extra_devices; i++) {
        const off = base + i * deviceSlot.size;
        const slot: DeviceSlot = decode(deviceSlot, await cache.read(off, deviceSlot.size), 0, off);
        const nul = slot.tag.indexOf(0);
        devices.push({
          index: i + 1,
          tag: textDecoder.decode(slot.tag.subarray(0, nul < 0 ? 64 : nul)),
          blocks: slot.blocks_lo + slot.blocks_hi * 2 ** 32,
          uniaddr: slot.uniaddr_lo + slot.uniaddr_hi * 2 ** 32,
          slotOffset: off,
          attached: i < given.length,
        });
      }
    }
    if (given.length > devices.length) {
      throw new ErofsError('invalid-value', `${given.length} device(s) given but the image has ${devices.length} extra device(s)`, {});
    }
    const devCaches = devices.map((_, i) => (given[i] ? new BlockCache(given[i], opts.cache) : undefined));
    const img = new ErofsImage(cache, sb, devCaches, devices, checksumOk);
    if (opts.pclusterCacheBytes !== undefined) img.pclusters = new PclusterCache(opts.pclusterCacheBytes);
    img.compression = await loadCompressionConfig(img);
    if (sb.feature_incompat & INCOMPAT_XATTR_PREFIXES && sb.xattr_prefix_count > 0) {
      img.longPrefixes = await loadLongPrefixes(img);
    }
    return img;
  }

  /** Size in bytes of the source attached for extra device `index` (1-based); undefined when none is attached. */
  deviceSourceSize(index: number): number | undefined {
    return this.deviceCaches[index - 1]?.size;
  }

  /** The crc32c the superblock's `checksum` field should hold (whether or not SB_CHKSUM is set). */
  async computeChecksum(): Promise<number> {
    return superblockCrc(this.cache, this.blockSize);
  }

  /** Byte offset of inode `nid`. */
  iloc(nid: number): number {
    return this.metaBase + nid * 32;
  }

  get packedNid(): number {
    return toSafeNumber(this.sb.packed_nid, 'packed_nid', EROFS_SUPER_OFFSET + 96);
  }

  /** Reads bytes of the primary device (metadata). */
  async meta(offset: number, length: number): Promise<Uint8Array> {
    return this.cache.read(offset, length);
  }

  async inode(nid: number): Promise<Inode> {
    const hit = this.inodeCache.get(nid);
    if (hit) return hit;
    const ino = await this.readInode(nid);
    // Small on purpose: a walk decodes each inode once, and a large cache only moves
    // hundreds of thousands of objects into the old generation for the GC to trace.
    if (this.inodeCache.size >= INODE_CACHE_ENTRIES) this.inodeCache.clear();
    this.inodeCache.set(nid, ino);
    return ino;
  }

  private async readInode(nid: number): Promise<Inode> {
    if (!Number.isSafeInteger(nid) || nid < 0) {
      throw new ErofsError('invalid-value', `nid ${nid} is not a valid inode number`, {});
    }
    const off = this.iloc(nid);
    if (off + 32 > this.cache.size) {
      throw new ErofsError('out-of-bounds', `nid ${nid} points to ${hex(off)}, past the end of the image (${this.cache.size} bytes)`, { offset: off, length: 32 });
    }
    // One read covers either inode size; served synchronously from the cache when possible.
    const span = Math.min(64, this.cache.size - off);
    const head = this.cache.tryReadSync(off, span) ?? (await this.cache.read(off, span));
    const format = head[0]! | (head[1]! << 8);
    const compact = (format & 1) === 0;
    if (format & 0xffe0) {
      throw new ErofsError('invalid-value', `inode ${nid}: unsupported i_format ${hex(format)} (bits 5-15 must be 0)`, { offset: off, length: 2 });
    }
    const layout = (format >> 1) & 7;
    if (layout > DataLayout.CHUNK_BASED) {
      throw new ErofsError('invalid-value', `inode ${nid}: invalid data layout ${layout} in i_format ${hex(format)}`, { offset: off, length: 2 });
    }
    const bit4 = (format & 0x10) !== 0;
    const isize = compact ? 32 : 64;
    if (off + isize > this.cache.size) {
      throw new ErofsError('truncated', `inode ${nid} at ${hex(off)} runs past the end of the image`, { offset: off, length: isize });
    }
    const raw = head;
    let mode: number, nlink: number, size: number, uid: number, gid: number, mtime: number, mtimeNsec: number, iu: number, icount: number;
    if (compact) {
      const c = decode(inodeCompact, raw, 0, off, false);
      mode = c.i_mode;
      icount = c.i_xattr_icount;
      const isDir = (mode & S_IFMT) === S_IFDIR;
      nlink = bit4 && !isDir ? 1 : c.i_nb;
      size = c.i_size;
      uid = c.i_uid;
      gid = c.i_gid;
      mtime = Number(BigInt.asIntN(64, this.sb.epoch)) + c.i_mtime; // signed, as the kernel adds it to a time64_t
      mtimeNsec = this.sb.fixed_nsec;
      iu = c.i_u;
    } else {
      const e = decode(inodeExtended, raw, 0, off, false);
      mode = e.i_mode;
      icount = e.i_xattr_icount;
      nlink = e.i_nlink;
      size = toSafeNumber(e.i_size, `inode ${nid} i_size`, off + 8);
      uid = e.i_uid;
      gid = e.i_gid;
      mtime = toSafeNumber(BigInt.asIntN(64, e.i_mtime), `inode ${nid} i_mtime`, off + 32);
      mtimeNsec = e.i_mtime_nsec;
      iu = e.i_u;
    }
    if (mtimeNsec >= 1e9) {
      throw new ErofsError('invalid-value', `inode ${nid}: mtime nanoseconds ${mtimeNsec} out of range [0, 999999999]`, { offset: compact ? EROFS_SUPER_OFFSET + 32 : off + 40, length: 4 });
    }
    const type = mode & S_IFMT;
    if (fileTypeOfMode(mode) === 0) {
      throw new ErofsError('invalid-value', `inode ${nid}: i_mode ${mode.toString(8)} has no valid file type`, { offset: off + 4, length: 2 });
    }
    const xattrSize = icount === 0 ? 0 : 12 + 4 * (icount - 1);
    let rdev: Inode['rdev'];
    if (type === S_IFCHR || type === S_IFBLK) {
      rdev = { major: (iu & 0xfff00) >>> 8, minor: (iu & 0xff) | ((iu >>> 12) & 0xfff00) };
    }
    if ((layout === DataLayout.COMPRESSED_FULL || layout === DataLayout.COMPRESSED_COMPACT) && type !== S_IFREG) {
      throw new ErofsError('invalid-value', `inode ${nid}: compressed layout on a non-regular file`, { offset: off, length: 2 });
    }
    return {
      nid,
      offset: off,
      compact,
      format,
      layout,
      layoutName: LAYOUT_NAMES[layout] ?? 'invalid',
      mode,
      nlink,
      size,
      uid,
      gid,
      mtime,
      mtimeNsec,
      iu,
      rdev,
      inodeSize: isize,
      xattrSize,
      inlineBase: off + isize + xattrSize,
      bit4,
    };
  }

  async root(): Promise<Inode> {
    return this.inode(this.rootNid);
  }

  /** Device cache for device index `dev` (1-based), or undefined to read the primary in flatdev mode. */
  private deviceFor(dev: number, where: number): { cache: BlockCache; base: number } {
    if (dev === 0) return { cache: this.cache, base: 0 };
    const info = this.devices[dev - 1];
    if (!info) {
      throw new ErofsError('invalid-value', `device id ${dev} but the image has ${this.devices.length} extra device(s)`, { offset: where });
    }
    const c = this.deviceCaches[dev - 1];
    if (c) return { cache: c, base: 0 };
    return { cache: this.cache, base: info.uniaddr * this.blockSize };
  }

  private missingDevice(dev: number, where: number, path?: string): ErofsError {
    const info = this.devices[dev - 1]!;
    const msg =
      `data on extra device ${dev} (${info.blocks} blocks${info.tag ? `, tag "${info.tag}"` : ''}) is not in this file: ` +
      `the image holds only its metadata. Pass the device (the layer's tar) with --device FILE` +
      (this.devices.length > 1 ? ' in device-table order' : '');
    return new ErofsError('missing-device', msg, path === undefined ? { offset: where } : { offset: where, path });
  }

  /**
   * Reads `length` bytes at byte `pa` of device `dev` (0 = primary, unified address
   * translation applied as the kernel does).
   */
  async readDevice(dev: number, pa: number, length: number, where: number): Promise<Uint8Array> {
    if (length === 0) return new Uint8Array(0);
    if (dev === 0 && this.devices.length > 0) {
      // Unified address space: device-0 addresses inside a device's uniaddr range go there.
      const blk = Math.floor(pa / this.blockSize);
      for (const d of this.devices) {
        if (d.attached && blk >= d.uniaddr && blk < d.uniaddr + d.blocks) {
          return this.readDevice(d.index, pa - d.uniaddr * this.blockSize, length, where);
        }
      }
    }
    const { cache, base } = this.deviceFor(dev, where);
    if (dev !== 0) {
      const info = this.devices[dev - 1]!;
      if (pa + length > info.blocks * this.blockSize) {
        throw new ErofsError('out-of-bounds', `read of ${length} bytes at ${hex(pa)} runs past the end of device ${dev} (${info.blocks} blocks)`, { offset: where });
      }
    }
    const abs = base + pa;
    if (abs + length > cache.size) {
      if (dev !== 0 && !this.deviceCaches[dev - 1]) throw this.missingDevice(dev, where);
      throw new ErofsError('out-of-bounds', `read of ${length} bytes at ${hex(abs)} runs past the end of ${cache.name} (${cache.size} bytes)`, { offset: where });
    }
    return length > 65536 ? cache.readThrough(abs, length) : cache.read(abs, length);
  }

  /**
   * Bytes `[pa, pa+length)` of device 0 when the image has no other devices, the range lies
   * inside the image and the block cache serves it without waiting; otherwise undefined
   * (`readDevice` then reads it, or reports why it cannot).
   */
  tryReadDeviceSync(pa: number, length: number): Uint8Array | undefined {
    if (this.devices.length > 0 || length <= 0 || length > 65536 || !Number.isSafeInteger(pa) || pa < 0 || pa + length > this.cache.size) return undefined;
    return this.cache.tryReadSync(pa, length);
  }

  /**
   * The file's data map: extents covering [0, size). FLAT layouts map to the primary device;
   * the inline tail maps to the bytes after the inode.
   */
  async extents(ino: Inode): Promise<Extent[]> {
    const bs = this.blockSize;
    const size = ino.size;
    if (size === 0) return [];
    switch (ino.layout) {
      case DataLayout.FLAT_PLAIN:
      case DataLayout.FLAT_INLINE: {
        const startblk = ino.iu;
        const inline = ino.layout === DataLayout.FLAT_INLINE;
        const nblocks = Math.ceil(size / bs);
        const full = inline ? nblocks - 1 : nblocks;
        const out: Extent[] = [];
        if (full > 0) {
          if (startblk === EROFS_NULL_ADDR) {
            if (inline) throw new ErofsError('invalid-value', `inode ${ino.nid}: ${full} full block(s) but startblk is NULL`, { offset: ino.offset + (ino.compact ? 16 : 16), length: 4 });
            out.push({ logical: 0, length: size, device: null, physical: 0 });
            return out;
          }
          out.push({ logical: 0, length: Math.min(size, full * bs), device: 0, physical: startblk * bs });
        }
        if (inline) {
          const tail = size - full * bs;
          const inBlock = ino.inlineBase % bs;
          if (inBlock + tail > bs) {
            throw new ErofsError('invalid-value', `inode ${ino.nid}: inline tail of ${tail} bytes at ${hex(ino.inlineBase)} crosses a block boundary`, {
              offset: ino.inlineBase,
              length: tail,
            });
          }
          out.push({ logical: full * bs, length: tail, device: 0, physical: ino.inlineBase });
        }
        return out;
      }
      case DataLayout.CHUNK_BASED:
        return this.chunkExtents(ino);
      default:
        return (await this.zextents(ino)).map(toExtent);
    }
  }

  /** The extent map of a compressed inode (cached per nid). */
  private async zextents(ino: Inode): Promise<ZExtent[]> {
    const hit = this.zmaps.get(ino.nid);
    if (hit) {
      this.zmaps.delete(ino.nid);
      this.zmaps.set(ino.nid, hit);
      return hit;
    }
    const map = await loadZMap(this, ino);
    this.zmaps.set(ino.nid, map);
    if (this.zmaps.size > 256) this.zmaps.delete(this.zmaps.keys().next().value as number);
    return map;
  }

  /** Random read of a compressed file: only the pclusters under the range are decoded (and cached). */
  private async readCompressed(ino: Inode, offset: number, end: number): Promise<Uint8Array> {
    const map = await this.zextents(ino);
    const out = new Uint8Array(end - offset);
    // first extent ending after offset
    let lo = 0;
    let hi = map.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const e = map[mid]!;
      if (e.logical + e.length <= offset) lo = mid + 1;
      else hi = mid;
    }
    for (let i = lo; i < map.length; i++) {
      const e = map[i]!;
      if (e.logical >= end) break;
      const s = Math.max(offset, e.logical);
      const t = Math.min(end, e.logical + e.length);
      await readZExtent(this, ino, e, s - e.logical, t - s, out, s - offset, true);
    }
    return out;
  }

  /**
   * Sequential read of bytes [start, end) of a compressed file: extents decoded straight into
   * pieces of about `piece` bytes. With `reuse`, every piece is decoded into the same scratch
   * memory (taken from the image while the generator runs, so concurrent streams never share it).
   */
  private async *streamCompressed(ino: Inode, piece: number, reuse: boolean, start: number, end: number): AsyncGenerator<Uint8Array> {
    const map = await this.zextents(ino);
    let scratch = reuse ? this.streamScratch : undefined;
    if (reuse) this.streamScratch = undefined;
    // (extent, offset in it, bytes) over [start, end) in file order. A pcluster's extent comes
    // whole (at most 12 MiB, refused above); a fragment, read range by range through the
    // packed inode, is cut to `piece`, as its length is only a claim of the map header.
    function* segments(): Generator<[ZExtent, number, number]> {
      for (const e of map) {
        const s = Math.max(start, e.logical);
        const t = Math.min(end, e.logical + e.length);
        if (s >= t) continue;
        const step = e.storage === 'fragment' ? piece : t - s;
        for (let o = s; o < t; o += step) yield [e, o - e.logical, Math.min(step, t - o)];
      }
    }
    try {
      const it = segments();
      let next = it.next();
      while (!next.done) {
        const group: [ZExtent, number, number][] = [];
        let total = 0;
        while (!next.done && (total === 0 || total + next.value[2] <= piece)) {
          group.push(next.value);
          total += next.value[2];
          next = it.next();
        }
        let out: Uint8Array;
        if (reuse) {
          if (!scratch || scratch.length < total) scratch = new Uint8Array(Math.max(total, piece));
          out = scratch.subarray(0, total);
        } else out = new Uint8Array(total);
        let at = 0;
        for (const [e, from, n] of group) {
          if (!tryDecodeZExtentSync(this, ino, e, from, n, out, at)) await readZExtent(this, ino, e, from, n, out, at, false);
          at += n;
        }
        yield out;
      }
    } finally {
      if (reuse && scratch && scratch.length <= 4 * piece) this.streamScratch = scratch;
    }
  }

  private async chunkExtents(ino: Inode): Promise<Extent[]> {
    const fmt = ino.iu & 0xffff;
    if (fmt & ~(CHUNK_FORMAT_BLKBITS_MASK | CHUNK_FORMAT_INDEXES | CHUNK_FORMAT_48BIT)) {
      throw new ErofsError('invalid-value', `inode ${ino.nid}: unknown chunk format bits ${hex(fmt)}`, { offset: ino.offset + 16, length: 4 });
    }
    if (fmt & CHUNK_FORMAT_48BIT) {
      throw new ErofsError('unsupported-feature', `inode ${ino.nid}: 48-bit chunk indexes are not supported`, { offset: ino.offset + 16, length: 4 });
    }
    const chunkbits = this.blkszbits + (fmt & CHUNK_FORMAT_BLKBITS_MASK);
    const cs = 2 ** chunkbits;
    const count = Math.ceil(ino.size / cs);
    const indexes = (fmt & CHUNK_FORMAT_INDEXES) !== 0;
    const unit = indexes ? 8 : 4;
    const tableAt = Math.ceil(ino.inlineBase / unit) * unit;
    const tableLen = count * unit;
    if (tableAt + tableLen > this.cache.size) {
      throw new ErofsError('out-of-bounds', `inode ${ino.nid}: chunk table of ${count} entries at ${hex(tableAt)} runs past the end of the image`, {
        offset: tableAt,
        length: tableLen,
      });
    }
    const table = await this.cache.read(tableAt, tableLen);
    const mask = indexes ? nextPow2(this.devices.length + 1) - 1 : 0;
    const out: Extent[] = [];
    for (let i = 0; i < count; i++) {
      const logical = i * cs;
      const length = Math.min(cs, ino.size - logical);
      const at = tableAt + i * unit;
      let dev = 0;
      let blk: number;
      if (indexes) {
        const ci = decode(chunkIndex, table, i * 8, at);
        blk = ci.startblk_lo;
        dev = ci.device_id & mask;
      } else {
        blk = (table[i * 4]! | (table[i * 4 + 1]! << 8) | (table[i * 4 + 2]! << 16)) + table[i * 4 + 3]! * 2 ** 24;
      }
      if (blk === EROFS_NULL_ADDR) {
        out.push({ logical, length, device: null, physical: 0, entryOffset: at });
      } else {
        out.push({ logical, length, device: dev, physical: blk * this.blockSize, entryOffset: at });
      }
    }
    return out;
  }

  /** Reads `[offset, offset+length)` of a file (clipped to its size). */
  async read(ino: Inode, offset = 0, length = ino.size - offset): Promise<Uint8Array> {
    const end = Math.min(ino.size, offset + length);
    if (offset >= end) return new Uint8Array(0);
    if (isCompressed(ino)) return this.readCompressed(ino, offset, end);
    const extents = await this.extents(ino);
    if (extents.length === 1 && extents[0]!.device !== null && extents[0]!.logical === 0) {
      const e = extents[0]!;
      return this.readDevice(e.device!, e.physical + offset, end - offset, e.entryOffset ?? ino.offset);
    }
    const out = new Uint8Array(end - offset);
    for (const e of extents) {
      const s = Math.max(offset, e.logical);
      const t = Math.min(end, e.logical + e.length);
      if (s >= t || e.device === null) continue;
      const bytes = await this.readDevice(e.device, e.physical + (s - e.logical), t - s, e.entryOffset ?? ino.offset);
      out.set(bytes, s - offset);
    }
    return out;
  }

  /**
   * Streams a file's bytes in pieces of at most `piece` bytes (a compressed extent larger than
   * `piece` comes whole). With `reuse: true` a piece may be overwritten once the next one is
   * asked for: for callers that consume each piece at once (saves an allocation per piece).
   * `start` and `end` limit the stream to those bytes of the file (clipped to its size).
   */
  async *stream(ino: Inode, piece = 1 << 20, opts: { reuse?: boolean; start?: number; end?: number } = {}): AsyncGenerator<Uint8Array> {
    const start = Math.max(0, opts.start ?? 0);
    const end = Math.min(ino.size, opts.end ?? ino.size);
    if (start >= end) return;
    if (isCompressed(ino)) {
      yield* this.streamCompressed(ino, piece, opts.reuse === true, start, end);
      return;
    }
    const extents = await this.extents(ino);
    for (const e of extents) {
      const s = Math.max(start, e.logical);
      const t = Math.min(end, e.logical + e.length);
      for (let o = s - e.logical; o < t - e.logical; o += piece) {
        const n = Math.min(piece, t - e.logical - o);
        if (e.device === null) yield new Uint8Array(n);
        else yield await this.readDevice(e.device, e.physical + o, n, e.entryOffset ?? ino.offset);
      }
    }
  }

  /** Symlink target bytes. */
  async readlink(ino: Inode): Promise<Uint8Array> {
    if ((ino.mode & S_IFMT) !== S_IFLNK) throw new ErofsError('invalid-value', `inode ${ino.nid} is not a symlink`, { offset: ino.offset });
    if (ino.size > 4096) throw new ErofsError('invalid-value', `inode ${ino.nid}: symlink target of ${ino.size} bytes exceeds 4096`, { offset: ino.offset + 8 });
    return this.read(ino);
  }

  /**
   * Dirents of one directory block `[blockStart, blockStart+len)` of the directory data.
   * Validates nameoff ordering and bounds like the kernel does.
   */
  private parseDirBlock(ino: Inode, block: Uint8Array, blockIndex: number, physical: number): DirEntry[] {
    const len = block.length;
    const at = (o: number): number => physical + o;
    if (len < dirent.size) {
      throw new ErofsError('invalid-value', `directory ${ino.nid}: block ${blockIndex} has ${len} bytes, too few for a dirent`, { offset: at(0) });
    }
    const nameoff0 = block[8]! | (block[9]! << 8);
    if (nameoff0 < dirent.size || nameoff0 > len || nameoff0 % dirent.size !== 0) {
      throw new ErofsError('invalid-value', `directory ${ino.nid}: block ${blockIndex} nameoff[0] ${nameoff0} is invalid (block of ${len} bytes)`, { offset: at(8), length: 2 });
    }
    const count = nameoff0 / dirent.size;
    const out: DirEntry[] = [];
    const dv = new DataView(block.buffer, block.byteOffset, block.byteLength);
    for (let i = 0; i < count; i++) {
      const p = i * 12;
      const nidHi = dv.getUint32(p + 4, true);
      if (nidHi >= 0x200000) {
        throw new ErofsError('too-large', `directory ${ino.nid}: dirent ${i} nid ${(BigInt(nidHi) << 32n) | BigInt(dv.getUint32(p, true))} exceeds 2^53`, { offset: at(p), length: 8 });
      }
      const nid = dv.getUint32(p, true) + nidHi * 2 ** 32;
      const nameoff = dv.getUint16(p + 8, true);
      const ft = block[p + 10]!;
      let end: number;
      if (i + 1 < count) end = dv.getUint16(p + 20, true);
      else {
        end = len;
        const z = block.indexOf(0, nameoff);
        if (z >= 0 && z < len) end = z;
      }
      if (nameoff < nameoff0 || nameoff > len || end > len || end <= nameoff) {
        throw new ErofsError('invalid-value', `directory ${ino.nid}: dirent ${i} of block ${blockIndex} has a bad name range [${nameoff}, ${end})`, {
          offset: at(p + 8),
          length: 2,
        });
      }
      if (end - nameoff > 255) {
        throw new ErofsError('invalid-value', `directory ${ino.nid}: name of ${end - nameoff} bytes exceeds 255`, { offset: at(nameoff) });
      }
      if (ft > 7) {
        throw new ErofsError('invalid-value', `directory ${ino.nid}: dirent ${i} has file_type ${ft} out of range [0, 7]`, { offset: at(p + 10), length: 1 });
      }
      out.push({ name: block.subarray(nameoff, end), nid, fileType: ft, offset: at(p) });
    }
    return out;
  }

  private requireDir(ino: Inode, path?: string): void {
    if ((ino.mode & S_IFMT) !== S_IFDIR) {
      throw new ErofsError('not-a-directory', `inode ${ino.nid} is not a directory`, path === undefined ? { offset: ino.offset } : { offset: ino.offset, path });
    }
  }

  /** Reads directory block `i` (its valid bytes only) and where it lives. */
  private async dirBlock(ino: Inode, i: number, extents: Extent[]): Promise<{ bytes: Uint8Array; physical: number }> {
    const bs = this.blockSize;
    const start = i * bs;
    const len = Math.min(bs, ino.size - start);
    const e = extents.find((x) => x.logical <= start && start < x.logical + x.length);
    if (!e || e.device === null) {
      throw new ErofsError('invalid-value', `directory ${ino.nid}: block ${i} is a hole`, { offset: ino.offset });
    }
    const physical = e.physical + (start - e.logical);
    const bytes = await this.readDevice(e.device, physical, len, e.entryOffset ?? ino.offset);
    return { bytes, physical: e.device === 0 ? physical : -1 };
  }

  /** All entries of a directory in on-disk order, `.` and `..` included. */
  async readdir(ino: Inode, path?: string): Promise<DirEntry[]> {
    this.requireDir(ino, path);
    const extents = await this.extents(ino);
    const nblocks = Math.ceil(ino.size / this.blockSize);
    const out: DirEntry[] = [];
    for (let i = 0; i < nblocks; i++) {
      const { bytes, physical } = await this.dirBlock(ino, i, extents);
      for (const d of this.parseDirBlock(ino, bytes, i, physical)) out.push(d);
    }
    return out;
  }

  /** Looks up one name in a directory by binary search over blocks, then within the block. */
  async lookupIn(dir: Inode, name: Uint8Array): Promise<DirEntry | undefined> {
    this.requireDir(dir);
    const extents = await this.extents(dir);
    const nblocks = Math.ceil(dir.size / this.blockSize);
    let lo = 0;
    let hi = nblocks - 1;
    // Find the last block whose first name <= name.
    let candidate = -1;
    const blocks = new Map<number, DirEntry[]>();
    const load = async (i: number): Promise<DirEntry[]> => {
      let b = blocks.get(i);
      if (!b) {
        const { bytes, physical } = await this.dirBlock(dir, i, extents);
        b = this.parseDirBlock(dir, bytes, i, physical);
        blocks.set(i, b);
      }
      return b;
    };
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      const ents = await load(mid);
      const c = compareBytes(name, ents[0]!.name);
      if (c === 0) return ents[0];
      if (c > 0) {
        candidate = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    if (candidate < 0) return undefined;
    const ents = await load(candidate);
    let a = 0;
    let b = ents.length - 1;
    while (a <= b) {
      const m = (a + b) >>> 1;
      const c = compareBytes(name, ents[m]!.name);
      if (c === 0) return ents[m];
      if (c > 0) a = m + 1;
      else b = m - 1;
    }
    return undefined;
  }

  /**
   * Resolves a path (absolute or relative to the root; `.` and `..` components are taken
   * literally from the directory entries; symlinks are not followed).
   */
  async lookup(path: string | Uint8Array): Promise<Inode> {
    const parts = splitPath(path);
    let cur = await this.root();
    let walked = '';
    for (const part of parts) {
      const name = textDecoder.decode(part);
      if ((cur.mode & S_IFMT) !== S_IFDIR) {
        throw new ErofsError('not-a-directory', `${walked || '/'} is not a directory`, { path: walked || '/', offset: cur.offset });
      }
      const d = await this.lookupIn(cur, part);
      walked += '/' + name;
      if (!d) throw new ErofsError('not-found', `${walked}: no such file or directory`, { path: walked });
      cur = await this.inode(d.nid);
    }
    return cur;
  }

  async xattrs(ino: Inode): Promise<Xattr[]> {
    return readXattrs(this, ino);
  }
}

function nextPow2(n: number): number {
  let p = 1;
  while (p < n) p <<= 1;
  return p;
}

/** Splits a path into name components (bytes), dropping empty ones. */
/**
 * crc32c (raw: init ~0, no final xor) of the superblock's block from byte 1024 to its end
 * (512 bytes for 512-byte blocks), with the checksum field taken as zero: erofs-format.md §11.1.
 */
async function superblockCrc(cache: BlockCache, bs: number): Promise<number> {
  const len = bs > EROFS_SUPER_OFFSET ? bs - EROFS_SUPER_OFFSET : bs;
  const area = (await cache.read(EROFS_SUPER_OFFSET, Math.min(len, cache.size - EROFS_SUPER_OFFSET))).slice();
  area.fill(0, 4, 8);
  return crc32c(0xffffffff, area);
}

export function splitPath(path: string | Uint8Array): Uint8Array[] {
  const bytes = typeof path === 'string' ? textEncoder.encode(path) : path;
  const out: Uint8Array[] = [];
  let s = 0;
  for (let i = 0; i <= bytes.length; i++) {
    if (i === bytes.length || bytes[i] === 0x2f) {
      if (i > s) out.push(bytes.subarray(s, i));
      s = i + 1;
    }
  }
  return out;
}
