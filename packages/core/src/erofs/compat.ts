/**
 * Compatibility: for each feature an image can use, the first mainline Linux release that
 * mounts it and the first erofs-utils release whose mkfs.erofs writes it, with where each
 * fact comes from. `compatibility()` names the features an image uses (superblock bits,
 * compression algorithms, block size, per-inode layouts when the caller has walked them) and
 * the newest requirement among them (compat bits, which older kernels ignore, excluded), and
 * warns about known kernel pitfalls.
 *
 * Sources (abbreviations used below):
 *   [K-fb]  the kernel versions already recorded per feature bit in ./features.ts
 *   [U-CL]  the erofs-utils ChangeLog (git tag of the release that announces the feature)
 *   [U-tag] `git tag --contains` of the erofs-utils commit introducing the option
 *   [F§n]   /work/shared/erofs-format.md section n (the project's verified format reference)
 *   [I7]    issue 7 of this project, which states the fact; not re-verified against the kernel tree
 *   [CR85]  composefs-rs issue #85: "erofs_fill_symlink: inline data cross block boundary" on
 *           RHEL 9's 5.14 kernel for a symlink whose extended inode ended exactly at a block end
 *           (its target in the next block), an image newer kernels read; the old fast-symlink
 *           check, and the newer one that falls back to an ordinary read, are in fs/erofs/inode.c
 */
import { COMPAT_FEATURES, INCOMPAT_FEATURES } from './features.js';
import type { ErofsImage, Inode } from './image.js';
import { DataLayout, S_IFLNK, S_IFMT } from './format.js';

export interface CompatFact {
  /** First mainline Linux release that mounts images using it. */
  kernel: string;
  /** First erofs-utils release that writes it. */
  erofsUtils: string;
  source: string;
  doc: string;
}

const bitKernel = (name: string): string => {
  const f = [...COMPAT_FEATURES, ...INCOMPAT_FEATURES].find((x) => x.name === name);
  if (!f) throw new Error(`no feature bit ${name}`);
  return f.kernel;
};

/** Feature → minimum versions. Keys are the feature names `compatibility()` reports. */
export const COMPAT_TABLE: Readonly<Record<string, CompatFact>> = {
  base: { kernel: '5.4', erofsUtils: '1.0', source: 'EROFS left staging for fs/erofs in 5.4 [K-fb: "EROFS itself: 5.4"]; erofs-utils 1.0 [U-CL]', doc: 'uncompressed files, inline data, xattrs, LZ4' },
  sb_chksum: { kernel: bitKernel('sb_chksum'), erofsUtils: '1.1', source: '[K-fb]; "add superblock checksum support" [U-CL 1.1]', doc: 'superblock crc32c' },
  mtime: { kernel: bitKernel('mtime'), erofsUtils: '1.5', source: '[K-fb]; "use mtime to allow more control over the timestamps" [U-CL 1.5]', doc: 'per-inode mtimes' },
  xattr_filter: { kernel: bitKernel('xattr_filter'), erofsUtils: '1.7', source: '[K-fb]; commit "mkfs,dump: introduce xattr name filter feature" first in v1.7 [U-tag]', doc: 'xattr name bloom filter' },
  zero_padding: { kernel: bitKernel('zero_padding'), erofsUtils: '1.0', source: '[K-fb]; [U-CL 1.0] (lz4 compression)', doc: 'right-aligned compressed data' },
  compr_cfgs: { kernel: bitKernel('compr_cfgs'), erofsUtils: '1.3', source: '[K-fb]; "big pcluster feature together with Linux 5.13+" [U-CL 1.3]', doc: 'compression configurations, big pclusters' },
  chunked_file: { kernel: bitKernel('chunked_file'), erofsUtils: '1.4', source: '[K-fb]; "chunk-based uncompressed files" [U-CL 1.4]', doc: 'chunk-based files' },
  device_table: { kernel: bitKernel('device_table'), erofsUtils: '1.4', source: '[K-fb]; "multiple devices for multi-blob CAS container images" [U-CL 1.4]', doc: 'extra devices (tar index, blobs)' },
  ztailpacking: { kernel: bitKernel('ztailpacking'), erofsUtils: '1.5', source: '[K-fb]; "ztailpacking inline feature for compressed files" [U-CL 1.5]', doc: 'compressed tails inline' },
  fragments: { kernel: bitKernel('fragments'), erofsUtils: '1.6', source: '[K-fb]; "support fragments by using -Efragments", "-Ededupe" [U-CL 1.6]', doc: 'packed inode, fragments, dedupe' },
  xattr_prefixes: { kernel: bitKernel('xattr_prefixes'), erofsUtils: '1.7', source: '[K-fb]; "support long xattr name prefixes" [U-CL 1.7]', doc: 'long xattr name prefixes' },
  '48bit': { kernel: bitKernel('48bit'), erofsUtils: '1.9', source: '[K-fb]; "Add 48-bit layout support" [U-CL 1.9]', doc: '48-bit block addresses' },
  metabox: { kernel: bitKernel('metabox'), erofsUtils: '1.9', source: '[K-fb]; metabox xattr fixes listed under 1.9.1 [U-CL], option introduced in 1.9', doc: 'metadata in a metabox inode' },
  lz4: { kernel: '5.4', erofsUtils: '1.0', source: '[U-CL 1.0] "lz4 / lz4HC compressed file support"; in the kernel since EROFS itself', doc: 'LZ4 pclusters' },
  lzma: { kernel: '5.16', erofsUtils: '1.4', source: 'kernel 5.16 added MicroLZMA decompression; "introduce MicroLZMA compression support" [U-CL 1.4]', doc: 'MicroLZMA pclusters' },
  deflate: { kernel: '6.6', erofsUtils: '1.7', source: 'kernel 6.6 added DEFLATE; "(mkfs.erofs, experimental) add DEFLATE algorithm support" [U-CL 1.7]', doc: 'DEFLATE pclusters' },
  zstd: { kernel: '6.10', erofsUtils: '1.8', source: 'kernel 6.10 added Zstandard; "add preliminary Zstandard support" [U-CL 1.8]', doc: 'Zstandard pclusters' },
  'small-blocks': { kernel: '6.4', erofsUtils: '1.7', source: '512-byte blocks need 6.4 [I7]; "support arbitrary valid block sizes in addition to page size" [U-CL 1.7]', doc: 'block size below the page size (e.g. 512 in tar indexes)' },
  'tar-index': { kernel: bitKernel('device_table'), erofsUtils: '1.7', source: '"support building images directly from tarballs" [U-CL 1.7]; needs the device table [K-fb]', doc: 'tar index (--tar=i): data on the tar device' },
};

export interface CompatFeature {
  name: string;
  kernel: string;
  erofsUtils: string;
  source: string;
  /**
   * A compat feature bit: older kernels ignore it and mount the image anyway (they only miss
   * what it adds, e.g. the xattr name filter), so it does not raise the minimum kernel.
   */
  optional?: boolean;
}

export interface Compatibility {
  features: CompatFeature[];
  minimumKernel: string;
  minimumErofsUtils: string;
  /** Known pitfalls of some kernels with what this image uses. */
  warnings: string[];
}

/** Per-inode facts only a walk knows; pass what you have. */
export interface InodeUsage {
  /** Some inode sets i_format bit 4 (NLINK_1 / DOT_OMITTED). */
  formatBit4?: boolean;
  /** Some regular file is chunk-based (tar indexes have it without the CHUNKED_FILE bit). */
  chunkBased?: boolean;
  /** Inline symlinks that older kernels refuse ({@link oldKernelRefusesSymlink}): how many, and the first. */
  oldKernelSymlinks?: { count: number; first: { nid: number; path: string } };
}

/**
 * Whether kernels with the old fast-symlink check refuse this inode [CR85]. Those kernels
 * (4096-byte blocks only) read an inline symlink's target from the block in which the inode
 * core ends, right after the core and its xattrs, and fail with EFSCORRUPTED when the target
 * does not end inside that block — even when it sits whole in the next block, which the data
 * path and newer kernels read. The writer of erofs-kit keeps an inode, its xattrs and its
 * inline tail in one block, so its images never trip it.
 */
export function oldKernelRefusesSymlink(ino: Inode, blockSize: number): boolean {
  if ((ino.mode & S_IFMT) !== S_IFLNK || ino.layout !== DataLayout.FLAT_INLINE) return false;
  if (blockSize !== 4096 || ino.size >= 4096) return false; // other sizes: not a fast symlink there, or not mountable at all
  const coreEnd = ino.offset + ino.inodeSize;
  // The block the old code continues in: the inode's first block, unless the core crosses into the next.
  const startBlock = Math.floor(ino.offset / blockSize);
  const block = coreEnd <= (startBlock + 1) * blockSize ? startBlock : startBlock + 1;
  return coreEnd - block * blockSize + ino.xattrSize + ino.size > blockSize;
}

/** Compares dotted versions numerically. */
export function compareVersions(a: string, b: string): number {
  const x = a.split('.').map(Number);
  const y = b.split('.').map(Number);
  for (let i = 0; i < Math.max(x.length, y.length); i++) {
    const d = (x[i] ?? 0) - (y[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

/** What `img` needs, from its superblock, compression setup and (optionally) a walk's findings. */
export function compatibility(img: ErofsImage, usage: InodeUsage = {}): Compatibility {
  const names = new Set<string>(['base']);
  const sb = img.sb;
  for (const f of [...COMPAT_FEATURES, ...INCOMPAT_FEATURES]) {
    const mask = COMPAT_FEATURES.includes(f) ? sb.feature_compat : sb.feature_incompat;
    if (mask & f.bit && COMPAT_TABLE[f.name]) names.add(f.name);
  }
  const compressed = (sb.feature_incompat & 0x3) !== 0 || img.compression.algorithms !== 1;
  if (compressed) for (const n of img.compression.names) if (COMPAT_TABLE[n]) names.add(n);
  if (img.blockSize < 4096) names.add('small-blocks');
  if (usage.chunkBased) names.add('chunked_file');
  const tarIndex = img.blockSize === 512 && img.devices.length > 0 && img.devices.every((d) => d.tag === '');
  if (tarIndex) names.add('tar-index');

  const optional = new Set(COMPAT_FEATURES.filter((f) => sb.feature_compat & f.bit).map((f) => f.name));
  const features: CompatFeature[] = [...names].map((name) => {
    const f = COMPAT_TABLE[name]!;
    return { name, kernel: f.kernel, erofsUtils: f.erofsUtils, source: f.source, ...(optional.has(name) ? { optional: true } : {}) };
  });
  let kernel = '5.4';
  let utils = '1.0';
  for (const f of features) {
    if (!f.optional && compareVersions(f.kernel, kernel) > 0) kernel = f.kernel;
    if (compareVersions(f.erofsUtils, utils) > 0) utils = f.erofsUtils;
  }
  const warnings: string[] = [];
  if (usage.formatBit4) {
    warnings.push('some inode sets i_format bit 4 (NLINK_1 / DOT_OMITTED): kernels up to 6.14 refuse such inodes [F§11.10]');
    if (compareVersions(kernel, '6.15') < 0) kernel = '6.15';
  }
  if (usage.oldKernelSymlinks && usage.oldKernelSymlinks.count > 0) {
    const { count, first } = usage.oldKernelSymlinks;
    warnings.push(
      `${count} inline symlink${count === 1 ? '' : 's'} (first: ${first.path}, nid ${first.nid}) keep${count === 1 ? 's' : ''} the target past the block the inode ends in: older kernels (seen on RHEL 9's 5.14) fail to read ${count === 1 ? 'it' : 'them'} with "inline data cross block boundary" (EFSCORRUPTED); newer kernels read ${count === 1 ? 'it' : 'them'} [CR85]`,
    );
  }
  if (img.devices.some((d) => d.tag === '')) {
    warnings.push('an extra device has an empty tag: mounting without -o device=… does not fail on new kernels, it reads the data after the metadata (flatdev) instead [F§11.13]');
  }
  if (img.blockSize < 4096) {
    warnings.push(`${img.blockSize}-byte blocks are smaller than the usual 4096-byte page: kernels before 6.4 refuse the image [I7]`);
  }
  return { features, minimumKernel: kernel, minimumErofsUtils: utils, warnings };
}
