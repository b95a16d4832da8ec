/**
 * A layer blob as a stream of its uncompressed tar, with the compressed bytes hashed on the
 * way (the blob digest) so one read of the blob checks the descriptor and feeds the diffID.
 * Core's decompressors are fflate (gzip) and fzstd (zstd), both pure JavaScript; a caller
 * with faster ones (node:zlib) passes them in.
 */
import { Gunzip } from 'fflate';
import { Decompress as ZstdDecompress } from 'fzstd';
import { ErofsError, hex } from '../errors.js';
import { defaultHash, toHex, type HashAlgorithm, type HashFactory } from '../digest/hash.js';
import type { LayerCompression } from './spec.js';

/** Turns a compressed stream into the uncompressed one. */
export type LayerDecompressor = (compression: Exclude<LayerCompression, 'none'>, input: AsyncIterable<Uint8Array>) => AsyncIterable<Uint8Array>;

/** Pushes chunks through a push-style decoder and yields what it emits, in order. */
async function* pushThrough(
  input: AsyncIterable<Uint8Array>,
  make: (emit: (b: Uint8Array) => void) => { push(b: Uint8Array, final?: boolean): void },
  what: string,
): AsyncGenerator<Uint8Array> {
  const out: Uint8Array[] = [];
  const d = make((b) => out.push(b));
  let fed = 0;
  const push = (b: Uint8Array, final: boolean): void => {
    try {
      d.push(b, final);
    } catch (e) {
      throw new ErofsError('invalid-value', `${what} stream is corrupt at or before compressed byte ${hex(fed + b.length)}: ${(e as Error).message}`, { offset: fed, format: 'oci' });
    }
  };
  for await (const c of input) {
    push(c, false);
    fed += c.length;
    while (out.length > 0) yield out.shift()!;
  }
  push(new Uint8Array(0), true);
  while (out.length > 0) yield out.shift()!;
}

/** The browser-safe decompressors (fflate for gzip, fzstd for zstd). */
export const defaultDecompressor: LayerDecompressor = (compression, input) =>
  compression === 'gzip'
    ? pushThrough(input, (emit) => new Gunzip((data) => emit(data)), 'gzip')
    : pushThrough(input, (emit) => new ZstdDecompress((data) => emit(data)), 'zstd');

export interface LayerStream {
  /** The uncompressed layer, in order. Consume it exactly once. */
  chunks: AsyncIterable<Uint8Array>;
  /** After `chunks` is exhausted: the blob's digest (`algorithm:hex`) and size in bytes. */
  blob(): { digest: string; size: number };
}

/**
 * The uncompressed bytes of a layer given its compressed ones, hashing the compressed bytes
 * with `algorithm` as they pass.
 */
export function layerStream(
  compressed: AsyncIterable<Uint8Array>,
  compression: LayerCompression,
  opts: { algorithm?: HashAlgorithm; hash?: (a: HashAlgorithm) => HashFactory; decompress?: LayerDecompressor } = {},
): LayerStream {
  const algorithm = opts.algorithm ?? 'sha256';
  const h = (opts.hash ?? defaultHash)(algorithm)();
  let size = 0;
  let done: { digest: string; size: number } | undefined;
  async function* tapped(): AsyncGenerator<Uint8Array> {
    for await (const c of compressed) {
      h.update(c);
      size += c.length;
      yield c;
    }
    done = { digest: `${algorithm}:${toHex(h.digest())}`, size };
  }
  const chunks = compression === 'none' ? tapped() : (opts.decompress ?? defaultDecompressor)(compression, tapped());
  return {
    chunks,
    blob() {
      if (!done) throw new Error('internal: layer blob digest asked before the stream ended');
      return done;
    },
  };
}
