/**
 * composefs on-disk conventions (erofs-format.md §9): the 32-byte header composefs puts in
 * front of the EROFS superblock, and the overlayfs xattr names and limits a composefs image
 * uses. The header is one table like the EROFS structures in ../erofs/format.ts.
 */
import { defineStruct } from '../layout/struct.js';

const SRC = 'composefs 1.0.8 libcomposefs/lcfs-erofs.h (struct lcfs_erofs_header_s)';

export const COMPOSEFS_MAGIC = 0xd078629a;
/** The header's `version`: the layout of the header itself, 1 in every composefs release. */
export const COMPOSEFS_HEADER_VERSION = 1;
/** Header flag: some inode carries a POSIX ACL (`system.posix_acl_access` or `_default`). */
export const COMPOSEFS_FLAG_HAS_ACL = 0x1;
/** The composefs format versions a writer can produce. */
export const COMPOSEFS_VERSIONS = [0, 1] as const;

/** struct lcfs_erofs_header_s: 32 bytes at byte 0; zeros follow up to the superblock at 1024. */
export const composefsHeader = defineStruct('lcfs_erofs_header', SRC, [
  { name: 'magic', kind: 'u32', doc: 'composefs magic 0xd078629a (bytes 9a 62 78 d0)' },
  { name: 'version', kind: 'u32', doc: 'header layout version, always 1' },
  { name: 'flags', kind: 'u32', doc: 'bit 0: some inode has a POSIX ACL xattr' },
  { name: 'composefs_version', kind: 'u32', doc: 'format version: 0, or 1 when whiteouts also mark their directory opaque ("x")' },
  { name: 'unused', kind: 'bytes', size: 16, doc: 'reserved, zero', reserved: true },
]);

export type ComposefsHeader = typeof composefsHeader extends { _type?: infer T } ? T : never;

/** The overlayfs xattr names composefs writes and escapes. */
export const OVERLAY_PREFIX = 'trusted.overlay.';
/** An input's own `trusted.overlay.X` is stored as `trusted.overlay.overlay.X`. */
export const OVERLAY_ESCAPED_PREFIX = 'trusted.overlay.overlay.';
export const OVERLAY_METACOPY = 'trusted.overlay.metacopy';
export const OVERLAY_REDIRECT = 'trusted.overlay.redirect';
export const OVERLAY_OPAQUE = 'trusted.overlay.opaque';
export const OVERLAY_ESCAPED_WHITEOUT = 'trusted.overlay.overlay.whiteout';
export const OVERLAY_ESCAPED_WHITEOUTS = 'trusted.overlay.overlay.whiteouts';
export const OVERLAY_ESCAPED_OPAQUE = 'trusted.overlay.overlay.opaque';
export const OVERLAY_USER_WHITEOUT = 'user.overlay.whiteout';
export const OVERLAY_USER_WHITEOUTS = 'user.overlay.whiteouts';
export const OVERLAY_USER_OPAQUE = 'user.overlay.opaque';

/**
 * `trusted.overlay.metacopy` value with a digest: version 0, length 36, flags 0,
 * algorithm 1 (FS_VERITY_HASH_ALG_SHA256), then the 32-byte fs-verity digest.
 */
export const METACOPY_SIZE = 36;
export const METACOPY_ALG_SHA256 = 1;
export const DIGEST_SIZE = 32;

/** Regular files of at most this many bytes are inlined when an image is built from files. */
export const INLINE_THRESHOLD = 64;
/** The largest inline CONTENT a dump may give a file. */
export const INLINE_CONTENT_MAX = 5000;
/** Longest file name. */
export const NAME_MAX = 255;
/** Longest symlink target or payload (PATH_MAX - 1). */
export const PAYLOAD_MAX = 4095;
/** At most this many xattrs of one inode are referenced from the shared table. */
export const MAX_SHARED_PER_INODE = 128;
/** External files have one chunk, at most this many chunk entries (the stub must fit a block). */
export const MAX_CHUNKS = 1024;
