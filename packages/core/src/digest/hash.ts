/**
 * The incremental hash interface every hashing part of core takes as a parameter. Core's
 * default factories use @noble/hashes (pure JavaScript, runs in browsers and workers); the
 * Node entry (`@erofs-kit/core/node`) has node:crypto factories with the same shape, several
 * times faster (ADR 0007). Nothing in core chooses a backend by sniffing the platform.
 */
import { sha256 as nobleSha256, sha512 as nobleSha512 } from '@noble/hashes/sha2.js';

/** Hash functions used by the formats erofs-kit reads and writes. */
export type HashAlgorithm = 'sha256' | 'sha512';

/** An incremental hash: feed bytes with `update`, finish once with `digest`. */
export interface Hash {
  update(b: Uint8Array): this;
  /** Finishes the hash; the object must not be used afterwards. */
  digest(): Uint8Array;
}

/**
 * Makes a fresh {@link Hash}. Any `() => Hash` is a factory; the two optional members let a
 * caller check which function it computes and take a faster path where one exists.
 */
export interface HashFactory {
  (): Hash;
  /** Which function the hashes compute, when the factory knows it. */
  readonly algorithm?: HashAlgorithm;
  /**
   * Digest of one whole message. Only worth providing where creating a hash object costs
   * much more than the work of hashing (node:crypto: a native object per 4 KiB block).
   */
  readonly oneShot?: (data: Uint8Array) => Uint8Array;
}

/** Digest size in bytes and input block size (the salt is padded to the latter) per algorithm. */
export const HASH_SIZES: Readonly<Record<HashAlgorithm, { readonly digestSize: number; readonly blockSize: number }>> = {
  sha256: { digestSize: 32, blockSize: 64 },
  sha512: { digestSize: 64, blockSize: 128 },
};

/** SHA-256 from @noble/hashes: the browser-safe default. */
export const sha256: HashFactory = Object.assign((): Hash => nobleSha256.create(), { algorithm: 'sha256' as const });

/** SHA-512 from @noble/hashes: the browser-safe default. */
export const sha512: HashFactory = Object.assign((): Hash => nobleSha512.create(), { algorithm: 'sha512' as const });

/** The @noble/hashes factory for `algorithm`. */
export function defaultHash(algorithm: HashAlgorithm): HashFactory {
  return algorithm === 'sha256' ? sha256 : sha512;
}

/** Lower-case hex of `bytes`. */
export function toHex(bytes: Uint8Array): string {
  let s = '';
  for (let i = 0; i < bytes.length; i++) s += HEX_PAIRS[bytes[i]!];
  return s;
}

const HEX_PAIRS: readonly string[] = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));
