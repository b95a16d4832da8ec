/**
 * EROFS on-disk structures, one table each. Field names follow the Linux kernel's
 * `fs/erofs/erofs_fs.h` (6.15+ names; the legacy name is given in the doc where it changed),
 * so a grep against the header finds them. All integers are little-endian.
 */
import { defineStruct } from '../layout/struct.js';

const HDR = 'linux fs/erofs/erofs_fs.h (6.15+), erofs-utils 1.8.6 include/erofs_fs.h';

export const EROFS_SUPER_MAGIC = 0xe0f5e1e2;
/** The superblock is always at byte 1024, whatever the block size. */
export const EROFS_SUPER_OFFSET = 1024;
/** Inode slots are 32 bytes: iloc(nid) = meta_blkaddr * blksz + nid * 32. */
export const EROFS_ISLOTBITS = 5;
export const EROFS_NULL_ADDR = 0xffffffff;

/** struct erofs_super_block: 128 bytes at byte 1024 (+16 per sb_extslots). */
export const superBlock = defineStruct('erofs_super_block', HDR, [
  { name: 'magic', kind: 'u32', doc: 'EROFS_SUPER_MAGIC_V1 0xE0F5E1E2 (bytes e2 e1 f5 e0)' },
  { name: 'checksum', kind: 'u32', doc: 'crc32c(~0) of the rest of block 0 from byte 1024 with this field zeroed; only with COMPAT_SB_CHKSUM' },
  { name: 'feature_compat', kind: 'u32', doc: 'compatible feature bits (SB_CHKSUM 0x1, MTIME 0x2, XATTR_FILTER 0x4, ...)' },
  { name: 'blkszbits', kind: 'u8', doc: 'log2 of the block size; the kernel accepts 9..PAGE_SHIFT' },
  { name: 'sb_extslots', kind: 'u8', doc: 'superblock size = 128 + 16 * sb_extslots' },
  { name: 'rootnid_2b', kind: 'u16', doc: 'root directory nid (legacy name root_nid); blocks_hi with 48BIT and rootnid_8b != 0' },
  { name: 'inos', kind: 'u64', doc: 'number of inodes (statfs f_files)' },
  { name: 'epoch', kind: 'u64', doc: 'base seconds of compact-inode mtimes (legacy name build_time)' },
  { name: 'fixed_nsec', kind: 'u32', doc: 'nanoseconds of every compact-inode mtime (legacy name build_time_nsec)' },
  { name: 'blocks_lo', kind: 'u32', doc: 'primary device size in blocks (legacy name blocks)' },
  { name: 'meta_blkaddr', kind: 'u32', doc: 'block address where nid 0 lives' },
  { name: 'xattr_blkaddr', kind: 'u32', doc: 'base block of shared xattr ids (ids are 4-byte units from here)' },
  { name: 'uuid', kind: 'bytes', size: 16, doc: '128-bit volume uuid' },
  { name: 'volume_name', kind: 'bytes', size: 16, doc: 'volume label, NUL-padded; must contain a NUL' },
  { name: 'feature_incompat', kind: 'u32', doc: 'incompatible feature bits: a reader must refuse any it does not implement' },
  { name: 'u1', kind: 'u16', doc: 'available_compr_algs bitmap with COMPR_CFGS, else lz4_max_distance' },
  { name: 'extra_devices', kind: 'u16', doc: 'number of devices besides the primary (DEVICE_TABLE)' },
  { name: 'devt_slotoff', kind: 'u16', doc: 'device table position in 128-byte slots from byte 0' },
  { name: 'dirblkbits', kind: 'u8', doc: 'directory block size bits beyond blkszbits; must be 0' },
  { name: 'xattr_prefix_count', kind: 'u8', doc: 'number of long xattr name prefixes' },
  { name: 'xattr_prefix_start', kind: 'u32', doc: 'long-prefix table position in 4-byte units (in the packed inode when packed_nid != 0)' },
  { name: 'packed_nid', kind: 'u64', doc: 'nid of the packed (fragments) inode; 0 = none' },
  { name: 'xattr_filter_reserved', kind: 'u8', doc: 'must be 0 for the xattr bloom filter to be honoured' },
  { name: 'ishare_xattr_prefix_id', kind: 'u8', doc: 'COMPAT_ISHARE_XATTRS prefix id (reserved in older formats)' },
  { name: 'reserved', kind: 'bytes', size: 2, doc: 'reserved', reserved: true },
  { name: 'build_time', kind: 'u32', doc: 'seconds added to epoch = image build time (0 in erofs-utils 1.8 images)' },
  { name: 'rootnid_8b', kind: 'u64', doc: '64-bit root nid (48BIT)' },
  { name: 'reserved2', kind: 'bytes', size: 8, doc: 'reserved', reserved: true },
]);

/** struct erofs_inode_compact: 32 bytes. */
export const inodeCompact = defineStruct('erofs_inode_compact', HDR, [
  { name: 'i_format', kind: 'u16', doc: 'bit 0 version (0 compact), bits 1-3 data layout, bit 4 NLINK_1/DOT_OMITTED' },
  { name: 'i_xattr_icount', kind: 'u16', doc: 'inline xattr size: 0, or 12 + 4 * (icount - 1) bytes' },
  { name: 'i_mode', kind: 'u16', doc: 'st_mode: file type and all 12 permission bits' },
  { name: 'i_nb', kind: 'u16', doc: 'i_nlink (startblk_hi/blocks_hi with NLINK_1)' },
  { name: 'i_size', kind: 'u32', doc: 'file size in bytes' },
  { name: 'i_mtime', kind: 'u32', doc: 'mtime seconds relative to superblock epoch (legacy i_reserved)' },
  { name: 'i_u', kind: 'u32', doc: 'startblk_lo / chunk format / compressed blocks / rdev, by layout and type' },
  { name: 'i_ino', kind: 'u32', doc: 'inode number for 32-bit stat compatibility' },
  { name: 'i_uid', kind: 'u16', doc: 'owner uid' },
  { name: 'i_gid', kind: 'u16', doc: 'owner gid' },
  { name: 'i_reserved', kind: 'bytes', size: 4, doc: 'reserved', reserved: true },
]);

/** struct erofs_inode_extended: 64 bytes. */
export const inodeExtended = defineStruct('erofs_inode_extended', HDR, [
  { name: 'i_format', kind: 'u16', doc: 'bit 0 version (1 extended), bits 1-3 data layout' },
  { name: 'i_xattr_icount', kind: 'u16', doc: 'inline xattr size: 0, or 12 + 4 * (icount - 1) bytes' },
  { name: 'i_mode', kind: 'u16', doc: 'st_mode: file type and all 12 permission bits' },
  { name: 'i_nb', kind: 'u16', doc: 'startblk_hi/blocks_hi with 48BIT, else reserved' },
  { name: 'i_size', kind: 'u64', doc: 'file size in bytes' },
  { name: 'i_u', kind: 'u32', doc: 'startblk_lo / chunk format / compressed blocks / rdev, by layout and type' },
  { name: 'i_ino', kind: 'u32', doc: 'inode number for 32-bit stat compatibility' },
  { name: 'i_uid', kind: 'u32', doc: 'owner uid' },
  { name: 'i_gid', kind: 'u32', doc: 'owner gid' },
  { name: 'i_mtime', kind: 'u64', doc: 'mtime seconds (absolute)' },
  { name: 'i_mtime_nsec', kind: 'u32', doc: 'mtime nanoseconds' },
  { name: 'i_nlink', kind: 'u32', doc: 'hard link count' },
  { name: 'i_reserved2', kind: 'bytes', size: 16, doc: 'reserved', reserved: true },
]);

/** struct erofs_dirent: 12 bytes; names follow the dirent array in the same block. */
export const dirent = defineStruct('erofs_dirent', HDR, [
  { name: 'nid', kind: 'u64', doc: 'nid of the entry (bit 63: metabox in the newest format)' },
  { name: 'nameoff', kind: 'u16', doc: 'byte offset of the name in this block; nameoff[0] / 12 = entries in the block' },
  { name: 'file_type', kind: 'u8', doc: '0 unknown, 1 reg, 2 dir, 3 chr, 4 blk, 5 fifo, 6 sock, 7 symlink' },
  { name: 'reserved', kind: 'u8', doc: 'reserved', reserved: true },
]);

/** struct erofs_xattr_ibody_header: 12 bytes right after the inode, then shared ids, then entries. */
export const xattrIbodyHeader = defineStruct('erofs_xattr_ibody_header', HDR, [
  { name: 'h_name_filter', kind: 'u32', doc: 'bloom filter: bit xxh32(name, 0x25BBE08F + index) & 31 set = name absent' },
  { name: 'h_shared_count', kind: 'u8', doc: 'number of 4-byte shared xattr ids that follow' },
  { name: 'h_reserved2', kind: 'bytes', size: 7, doc: 'reserved', reserved: true },
]);

/** struct erofs_xattr_entry: 4 bytes, then name suffix and value, padded to 4. */
export const xattrEntry = defineStruct('erofs_xattr_entry', HDR, [
  { name: 'e_name_len', kind: 'u8', doc: 'length of the name after its prefix' },
  { name: 'e_name_index', kind: 'u8', doc: 'short prefix index (1 user., 2 posix_acl_access, 3 posix_acl_default, 4 trusted., 6 security.); bit 7 = long prefix' },
  { name: 'e_value_size', kind: 'u16', doc: 'value length in bytes' },
]);

/** Long xattr prefix record header (struct erofs_xattr_long_prefix, after its le16 length). */
export const xattrLongPrefixLen = defineStruct('erofs_xattr_long_prefix_len', HDR, [
  { name: 'len', kind: 'u16', doc: 'bytes that follow: base_index and infix' },
]);

/** struct erofs_inode_chunk_index: 8 bytes (CHUNK_BASED with EROFS_CHUNK_FORMAT_INDEXES). */
export const chunkIndex = defineStruct('erofs_inode_chunk_index', HDR, [
  { name: 'startblk_hi', kind: 'u16', doc: 'high bits of the block address (48BIT; legacy "advise", 0)' },
  { name: 'device_id', kind: 'u16', doc: 'device: 0 primary, k = extra device k (masked to the device count)' },
  { name: 'startblk_lo', kind: 'u32', doc: 'block address on that device; 0xFFFFFFFF = hole' },
]);

/** Block map entry: 4 bytes (CHUNK_BASED without INDEXES), primary device only. */
export const blockMapEntry = defineStruct('erofs_blockmap_entry', HDR, [
  { name: 'blkaddr', kind: 'u32', doc: 'block address on the primary device; 0xFFFFFFFF = hole' },
]);

/** struct erofs_deviceslot: 128 bytes at devt_slotoff * 128. */
export const deviceSlot = defineStruct('erofs_deviceslot', HDR, [
  { name: 'tag', kind: 'bytes', size: 64, doc: 'device tag (digest or path), NUL-padded; empty for tar-index images' },
  { name: 'blocks_lo', kind: 'u32', doc: 'device size in blocks (legacy name blocks)' },
  { name: 'uniaddr_lo', kind: 'u32', doc: 'first block of this device in the unified address space (legacy mapped_blkaddr)' },
  { name: 'blocks_hi', kind: 'u16', doc: 'high 16 bits of blocks (48BIT)' },
  { name: 'uniaddr_hi', kind: 'u16', doc: 'high 16 bits of uniaddr (48BIT)' },
  { name: 'reserved', kind: 'bytes', size: 52, doc: 'reserved', reserved: true },
]);

export type SuperBlock = typeof superBlock extends { _type?: infer T } ? T : never;
export type InodeCompact = typeof inodeCompact extends { _type?: infer T } ? T : never;
export type InodeExtended = typeof inodeExtended extends { _type?: infer T } ? T : never;
export type Dirent = typeof dirent extends { _type?: infer T } ? T : never;
export type DeviceSlot = typeof deviceSlot extends { _type?: infer T } ? T : never;

/** i_format data layouts (bits 1-3). */
export const DataLayout = {
  FLAT_PLAIN: 0,
  COMPRESSED_FULL: 1,
  FLAT_INLINE: 2,
  COMPRESSED_COMPACT: 3,
  CHUNK_BASED: 4,
} as const;
export const LAYOUT_NAMES = ['flat-plain', 'compressed-full', 'flat-inline', 'compressed-compact', 'chunk-based'] as const;

/** Chunk format bits in i_u of CHUNK_BASED inodes. */
export const CHUNK_FORMAT_BLKBITS_MASK = 0x1f;
export const CHUNK_FORMAT_INDEXES = 0x20;
export const CHUNK_FORMAT_48BIT = 0x40;

/** Dirent file types. */
export const FT = { UNKNOWN: 0, REG_FILE: 1, DIR: 2, CHRDEV: 3, BLKDEV: 4, FIFO: 5, SOCK: 6, SYMLINK: 7 } as const;

/** POSIX file type bits of st_mode. */
export const S_IFMT = 0o170000;
export const S_IFSOCK = 0o140000;
export const S_IFLNK = 0o120000;
export const S_IFREG = 0o100000;
export const S_IFBLK = 0o060000;
export const S_IFDIR = 0o040000;
export const S_IFCHR = 0o020000;
export const S_IFIFO = 0o010000;

/** Dirent file_type expected for a mode. */
export function fileTypeOfMode(mode: number): number {
  switch (mode & S_IFMT) {
    case S_IFREG: return FT.REG_FILE;
    case S_IFDIR: return FT.DIR;
    case S_IFCHR: return FT.CHRDEV;
    case S_IFBLK: return FT.BLKDEV;
    case S_IFIFO: return FT.FIFO;
    case S_IFSOCK: return FT.SOCK;
    case S_IFLNK: return FT.SYMLINK;
    default: return FT.UNKNOWN;
  }
}

/** Short xattr name prefixes by e_name_index. Index 5 (lustre.) is invisible through the kernel. */
export const XATTR_PREFIXES: Readonly<Record<number, string>> = {
  1: 'user.',
  2: 'system.posix_acl_access',
  3: 'system.posix_acl_default',
  4: 'trusted.',
  5: 'lustre.',
  6: 'security.',
};
export const XATTR_LONG_PREFIX_BIT = 0x80;
export const XATTR_FILTER_SEED = 0x25bbe08f;

// ---------------------------------------------------------------------------------------------
// Compression (COMPRESSED_FULL / COMPRESSED_COMPACT inodes and the superblock's config records)

/** Compression algorithm ids (`h_algorithmtype` nibbles, bits of `available_compr_algs`). */
export const Z_EROFS_COMPRESSION = { LZ4: 0, LZMA: 1, DEFLATE: 2, ZSTD: 3 } as const;
export const Z_EROFS_COMPRESSION_NAMES = ['lz4', 'lzma', 'deflate', 'zstd'] as const;

/** Logical-cluster types (low 2 bits of `di_advise`, or of a compact entry's type field). */
export const Z_EROFS_LCLUSTER_TYPE = { PLAIN: 0, HEAD1: 1, NONHEAD: 2, HEAD2: 3 } as const;
/** NONHEAD `delta[0]` bit: the low 11 bits are the block count of the pcluster of the head before. */
export const Z_EROFS_LI_D0_CBLKCNT = 0x800;
/** Full index `di_advise` bit 15: the head uses only a prefix of its decompressed pcluster (dedupe). */
export const Z_EROFS_LI_PARTIAL_REF = 0x8000;

/** `h_advise` bits of the map header. */
export const Z_EROFS_ADVISE = {
  /** compact layout: 2-byte packs are used (COMPACTED_2B); full layout, newest format: EXTENTS */
  COMPACTED_2B: 0x01,
  BIG_PCLUSTER_1: 0x02,
  BIG_PCLUSTER_2: 0x04,
  INLINE_PCLUSTER: 0x08,
  INTERLACED_PCLUSTER: 0x10,
  FRAGMENT_PCLUSTER: 0x20,
} as const;
/** `h_clusterbits` bit 7: the whole file lives in the packed inode (the header is a 63-bit offset). */
export const Z_EROFS_FRAGMENT_INODE_BIT = 7;

/**
 * struct z_erofs_map_header: 8 bytes at ALIGN(iloc + inode size + xattr size, 8) of every
 * compressed inode. The first word is a union: this view is `h_fragmentoff` (FRAGMENT_PCLUSTER);
 * {@link zMapHeaderInline} is the ztailpacking view of the same bytes.
 */
export const zMapHeader = defineStruct('z_erofs_map_header', HDR, [
  { name: 'h_fragmentoff', kind: 'u32', doc: 'offset of the tail fragment in the packed inode (FRAGMENT_PCLUSTER); low 32 bits with full indexes, whose high 32 bits are the tail head index blkaddr' },
  { name: 'h_advise', kind: 'u16', doc: 'COMPACTED_2B 0x1, BIG_PCLUSTER_1 0x2, BIG_PCLUSTER_2 0x4, INLINE_PCLUSTER 0x8, INTERLACED_PCLUSTER 0x10, FRAGMENT_PCLUSTER 0x20' },
  { name: 'h_algorithmtype', kind: 'u8', doc: 'bits 0-3: algorithm of HEAD1 lclusters, bits 4-7: of HEAD2 (0 lz4, 1 lzma, 2 deflate, 3 zstd)' },
  { name: 'h_clusterbits', kind: 'u8', doc: 'bits 0-2: lclusterbits - blkszbits; bit 7: the whole file is one fragment in the packed inode' },
]);

/** struct z_erofs_map_header, ztailpacking view of the first word (INLINE_PCLUSTER). */
export const zMapHeaderInline = defineStruct('z_erofs_map_header', HDR, [
  { name: 'h_reserved1', kind: 'u16', doc: 'reserved', reserved: true },
  { name: 'h_idata_size', kind: 'u16', doc: 'encoded size of the inline (ztailpacking) tail pcluster' },
  { name: 'h_advise', kind: 'u16', doc: 'COMPACTED_2B 0x1, BIG_PCLUSTER_1 0x2, BIG_PCLUSTER_2 0x4, INLINE_PCLUSTER 0x8, INTERLACED_PCLUSTER 0x10, FRAGMENT_PCLUSTER 0x20' },
  { name: 'h_algorithmtype', kind: 'u8', doc: 'bits 0-3: algorithm of HEAD1 lclusters, bits 4-7: of HEAD2' },
  { name: 'h_clusterbits', kind: 'u8', doc: 'bits 0-2: lclusterbits - blkszbits; bit 7: the whole file is one fragment' },
]);

/**
 * struct z_erofs_map_header when bit 63 is set (h_clusterbits bit 7): the whole file is
 * `packed_inode_data[off, off + i_size)` and no indexes follow.
 */
export const zMapHeaderWholeFragment = defineStruct('z_erofs_map_header', HDR, [
  { name: 'h_fragmentoff', kind: 'u64', doc: 'bit 63 set; bits 0-62 = offset of the file in the packed inode' },
]);

/**
 * struct z_erofs_lcluster_index (full indexes, 8 bytes each) for PLAIN/HEAD1/HEAD2 lclusters.
 * They start at ALIGN(iloc + isize + xattr size, 8) + 8 (map header) + 8 (reserved).
 * {@link zLclusterIndexNonhead} is the NONHEAD view of the same bytes.
 */
export const zLclusterIndex = defineStruct('z_erofs_lcluster_index', HDR, [
  { name: 'di_advise', kind: 'u16', doc: 'bits 0-1: lcluster type (0 PLAIN, 1 HEAD1, 2 NONHEAD, 3 HEAD2); bit 15 PARTIAL_REF' },
  { name: 'di_clusterofs', kind: 'u16', doc: 'byte offset inside this lcluster where the new extent starts' },
  { name: 'di_blkaddr', kind: 'u32', doc: 'di_u.blkaddr: first block of the pcluster' },
]);

/** struct z_erofs_lcluster_index, NONHEAD view (di_u.delta[2]). */
export const zLclusterIndexNonhead = defineStruct('z_erofs_lcluster_index', HDR, [
  { name: 'di_advise', kind: 'u16', doc: 'bits 0-1: lcluster type (2 NONHEAD)' },
  { name: 'di_clusterofs', kind: 'u16', doc: 'unused for NONHEAD lclusters', reserved: true },
  { name: 'di_delta0', kind: 'u16', doc: 'di_u.delta[0]: lclusters back to the head; bit 11 CBLKCNT = low 11 bits are the head pcluster block count' },
  { name: 'di_delta1', kind: 'u16', doc: 'di_u.delta[1]: lclusters forward to the next head' },
]);

/**
 * Compact index packs (COMPRESSED_COMPACT). From ebase = ALIGN(iloc + isize + xattr size, 8)
 * + 8: first `((32 - ebase % 32) / 4) & 7` entries in 4-byte form, then (with COMPACTED_2B)
 * `floor((n - init4) / 16) * 16` entries in 2-byte form, the rest in 4-byte form again;
 * n = ceil(i_size / block size).
 *
 * A pack holds `vcnt` entries in `vcnt << amortizedshift` bytes: a little-endian bitstream of
 * `vcnt` fields of `encodebits = (packbytes - 4) * 8 / vcnt` bits (14 for 2-byte packs, 16 for
 * 4-byte packs), then `le32 blkaddr`. Field j starts at bit `j * encodebits`: its low
 * `lobits = max(lclusterbits, 12)` bits are `lo`, the next 2 bits the lcluster type. `lo` is
 * clusterofs for heads and delta[0] (or CBLKCNT) for NONHEADs, except that the last field of a
 * pack holds delta[1] for a NONHEAD. Heads get blkaddr = pack blkaddr + the blocks of the
 * pclusters started earlier in the pack (+1 without big pclusters).
 */
export const zCompactPack4B = defineStruct('z_erofs_compact_pack_4b', HDR, [
  { name: 'bits', kind: 'bytes', size: 4, doc: '2 entries of 16 bits: lo (lobits), type (2 bits)' },
  { name: 'blkaddr', kind: 'u32', doc: 'base block address of the pack' },
]);
export const zCompactPack2B = defineStruct('z_erofs_compact_pack_2b', HDR, [
  { name: 'bits', kind: 'bytes', size: 28, doc: '16 entries of 14 bits: lo (12 bits), type (2 bits)' },
  { name: 'blkaddr', kind: 'u32', doc: 'base block address of the pack' },
]);

/**
 * Compression configuration records (INCOMPAT_COMPR_CFGS): after the superblock, for each bit
 * set in `available_compr_algs` in increasing order, at the next 4-byte aligned offset, a
 * `le16` length then the record.
 */
export const zComprCfgLen = defineStruct('erofs_compr_cfg_len', HDR, [
  { name: 'len', kind: 'u16', doc: 'bytes of the configuration record that follows' },
]);

/** struct z_erofs_lz4_cfgs: 14 bytes. */
export const zLz4Cfgs = defineStruct('z_erofs_lz4_cfgs', HDR, [
  { name: 'max_distance', kind: 'u16', doc: 'LZ4 maximum match distance used by the compressor' },
  { name: 'max_pclusterblks', kind: 'u16', doc: 'largest pcluster in blocks (0 = 1)' },
  { name: 'reserved', kind: 'bytes', size: 10, doc: 'reserved', reserved: true },
]);

/** struct z_erofs_lzma_cfgs: 14 bytes. */
export const zLzmaCfgs = defineStruct('z_erofs_lzma_cfgs', HDR, [
  { name: 'dict_size', kind: 'u32', doc: 'LZMA dictionary size in bytes' },
  { name: 'format', kind: 'u16', doc: 'stream format; 0 = MicroLZMA' },
  { name: 'reserved', kind: 'bytes', size: 8, doc: 'reserved', reserved: true },
]);

/** struct z_erofs_deflate_cfgs: 6 bytes. */
export const zDeflateCfgs = defineStruct('z_erofs_deflate_cfgs', HDR, [
  { name: 'windowbits', kind: 'u8', doc: 'DEFLATE window bits, 8..15' },
  { name: 'reserved', kind: 'bytes', size: 5, doc: 'reserved', reserved: true },
]);

/** struct z_erofs_zstd_cfgs: 6 bytes. */
export const zZstdCfgs = defineStruct('z_erofs_zstd_cfgs', HDR, [
  { name: 'format', kind: 'u8', doc: 'stream format; 0 = zstd frames' },
  { name: 'windowlog', kind: 'u8', doc: 'window log - 10 (ZSTD_WINDOWLOG_ABSOLUTEMIN)' },
  { name: 'reserved', kind: 'bytes', size: 4, doc: 'reserved', reserved: true },
]);

export type ZMapHeader = typeof zMapHeader extends { _type?: infer T } ? T : never;
