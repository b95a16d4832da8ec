/**
 * Feature bits of the superblock, with the first mainline kernel that mounts an image using
 * each one, and whether this reader implements it. A reader must refuse an incompat bit it
 * does not implement; compat bits are informational.
 */
export interface FeatureInfo {
  bit: number;
  name: string;
  /** First mainline Linux release that understands the bit. */
  kernel: string;
  /** Implemented by erofs-kit's reader (incompat bits only matter here). */
  supported: boolean;
  doc: string;
}

export const COMPAT_SB_CHKSUM = 0x1;
export const COMPAT_MTIME = 0x2;
export const COMPAT_XATTR_FILTER = 0x4;

export const INCOMPAT_ZERO_PADDING = 0x1;
export const INCOMPAT_COMPR_CFGS = 0x2;
export const INCOMPAT_CHUNKED_FILE = 0x4;
export const INCOMPAT_DEVICE_TABLE = 0x8;
export const INCOMPAT_ZTAILPACKING = 0x10;
export const INCOMPAT_FRAGMENTS = 0x20;
export const INCOMPAT_XATTR_PREFIXES = 0x40;
export const INCOMPAT_48BIT = 0x80;
export const INCOMPAT_METABOX = 0x100;

export const COMPAT_FEATURES: readonly FeatureInfo[] = [
  { bit: 0x1, name: 'sb_chksum', kernel: '5.5', supported: true, doc: 'superblock crc32c checksum' },
  { bit: 0x2, name: 'mtime', kernel: '5.15', supported: true, doc: 'per-inode mtimes are meaningful' },
  { bit: 0x4, name: 'xattr_filter', kernel: '6.6', supported: true, doc: 'xattr name bloom filter in inline xattr headers' },
  { bit: 0x8, name: 'shared_ea_in_metabox', kernel: '6.17', supported: false, doc: 'shared xattrs stored in the metabox' },
  { bit: 0x10, name: 'plain_xattr_pfx', kernel: '6.17', supported: false, doc: 'long xattr prefixes read from the raw image' },
  { bit: 0x20, name: 'ishare_xattrs', kernel: '7.0', supported: false, doc: 'inode page-cache sharing xattrs' },
];

export const INCOMPAT_FEATURES: readonly FeatureInfo[] = [
  { bit: 0x1, name: 'zero_padding', kernel: '5.3', supported: true, doc: 'compressed data right-aligned in its pcluster (lz4_0padding)' },
  { bit: 0x2, name: 'compr_cfgs', kernel: '5.13', supported: true, doc: 'compression configs and big pclusters (big_pcluster)' },
  { bit: 0x4, name: 'chunked_file', kernel: '5.15', supported: true, doc: 'chunk-based regular files' },
  { bit: 0x8, name: 'device_table', kernel: '5.16', supported: true, doc: 'extra devices (also compr_head2 for compressed inodes)' },
  { bit: 0x10, name: 'ztailpacking', kernel: '5.17', supported: true, doc: 'compressed tail inlined after the inode' },
  { bit: 0x20, name: 'fragments', kernel: '6.1', supported: true, doc: 'packed inode with file fragments (also dedupe)' },
  { bit: 0x40, name: 'xattr_prefixes', kernel: '6.4', supported: true, doc: 'long xattr name prefixes' },
  { bit: 0x80, name: '48bit', kernel: '6.15', supported: false, doc: '48-bit block addresses and 64-bit root nid' },
  { bit: 0x100, name: 'metabox', kernel: '6.17', supported: false, doc: 'metadata stored in a metabox inode' },
];

export interface FeatureSet {
  name: string;
  /** The bit, as `0x...`. */
  bit: string;
  /** First kernel that mounts it; `?` for bits nobody defines. */
  kernel: string;
}

/** The bits set in `mask`, known ones first; unknown bits are named `unknown(0x...)`. */
export function featuresSet(mask: number, table: readonly FeatureInfo[]): FeatureSet[] {
  const out: FeatureSet[] = [];
  let rest = mask >>> 0;
  for (const f of table) {
    if (rest & f.bit) {
      out.push({ name: f.name, bit: `0x${f.bit.toString(16)}`, kernel: f.kernel });
      rest &= ~f.bit;
    }
  }
  for (let b = 0; b < 32; b++) {
    if (rest & (1 << b)) {
      const bit = `0x${((1 << b) >>> 0).toString(16)}`;
      out.push({ name: `unknown(${bit})`, bit, kernel: '?' });
    }
  }
  return out;
}

/** Names of the bits set in `mask`; unknown bits are named `unknown(0x...)`. */
export function featureNames(mask: number, table: readonly FeatureInfo[]): string[] {
  return featuresSet(mask, table).map((f) => f.name);
}

/** Incompat bits this reader cannot handle. */
export function unsupportedIncompat(mask: number): string[] {
  let known = 0;
  for (const f of INCOMPAT_FEATURES) if (f.supported) known |= f.bit;
  return featureNames(mask & ~known, INCOMPAT_FEATURES);
}
