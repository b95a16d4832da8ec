/**
 * fs-verity on-disk structures, one table each. Field names follow the Linux kernel: the
 * descriptor is `struct fsverity_descriptor` of include/uapi/linux/fsverity.h (Linux 5.12+,
 * where the word at byte 4 is `__reserved_0x04`) and fs/verity/fsverity_private.h (which
 * names that word `sig_size`); fsverity-utils 1.5 builds the same 256 bytes.
 */
import { defineStruct } from '../layout/struct.js';

const HDR = 'linux include/uapi/linux/fsverity.h (5.12+), fs/verity/fsverity_private.h, fs/verity/open.c; fsverity-utils 1.5';

/** `FS_VERITY_HASH_ALG_*` of include/uapi/linux/fsverity.h. */
export const FS_VERITY_HASH_ALG_SHA256 = 1;
export const FS_VERITY_HASH_ALG_SHA512 = 2;
/** fs/verity/fsverity_private.h: the salt field holds at most 32 bytes. */
export const FS_VERITY_MAX_SALT_SIZE = 32;
/** The root hash field is sized for the largest digest (SHA-512). */
export const FS_VERITY_MAX_DIGEST_SIZE = 64;

/**
 * struct fsverity_descriptor: 256 bytes. The file digest (what FS_IOC_MEASURE_VERITY reports
 * and `fsverity digest` prints) is the hash of this structure with `sig_size` = 0
 * (fs/verity/open.c, fsverity_compute_file_digest). On disk a PKCS#7 signature of
 * `sig_size` bytes may follow it; it is never part of the digest.
 */
export const fsverityDescriptor = defineStruct('fsverity_descriptor', HDR, [
  { name: 'version', kind: 'u8', doc: 'descriptor format version; must be 1' },
  { name: 'hash_algorithm', kind: 'u8', doc: 'Merkle tree hash: FS_VERITY_HASH_ALG_SHA256 1, FS_VERITY_HASH_ALG_SHA512 2' },
  { name: 'log_blocksize', kind: 'u8', doc: 'log2 of the Merkle tree block size (data and tree blocks alike); 12 for 4096' },
  { name: 'salt_size', kind: 'u8', doc: 'bytes of salt used, 0..32; 0 = unsalted (no prefix on hashed blocks)' },
  { name: 'sig_size', kind: 'u32', doc: 'bytes of the built-in PKCS#7 signature after the descriptor (__reserved_0x04 in the UAPI header); 0 while computing the file digest' },
  { name: 'data_size', kind: 'u64', doc: 'size in bytes of the file the tree covers' },
  { name: 'root_hash', kind: 'bytes', size: 64, doc: 'Merkle tree root hash, zero-padded to 64 bytes; all zeros for an empty file' },
  { name: 'salt', kind: 'bytes', size: 32, doc: 'salt prefixed (zero-padded to the hash block size) to every hashed block; zero-padded to 32 bytes here' },
  { name: '__reserved', kind: 'bytes', size: 144, doc: 'must be zero', reserved: true },
]);
