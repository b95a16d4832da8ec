/**
 * node:crypto hash factories for the Node entry: the same {@link HashFactory} shape as core's
 * @noble/hashes defaults, backed by OpenSSL (SHA extensions where the CPU has them). The CLI
 * passes these to every core function that hashes. Measurements in ADR 0007.
 */
import * as crypto from 'node:crypto';
import type { Hash, HashAlgorithm, HashFactory } from '../digest/hash.js';

function nodeFactory(algorithm: HashAlgorithm): HashFactory {
  // node:crypto's Hash returns itself from update() and a Buffer (a Uint8Array) from digest().
  const create = (): Hash => crypto.createHash(algorithm) as unknown as Hash;
  // crypto.hash (Node 20.12+) digests one buffer without a Hash object per call: about 15%
  // faster for the 4 KiB messages of an fs-verity tree (ADR 0007).
  const once = typeof crypto.hash === 'function' ? crypto.hash : undefined;
  if (once === undefined) return Object.assign(create, { algorithm });
  return Object.assign(create, { algorithm, oneShot: (data: Uint8Array): Uint8Array => once(algorithm, data, 'buffer') });
}

/** SHA-256 from node:crypto. */
export const nodeSha256: HashFactory = nodeFactory('sha256');

/** SHA-512 from node:crypto. */
export const nodeSha512: HashFactory = nodeFactory('sha512');

/** The node:crypto factory for `algorithm`. */
export function nodeHash(algorithm: HashAlgorithm): HashFactory {
  return algorithm === 'sha256' ? nodeSha256 : nodeSha512;
}
