/**
 * Raw DEFLATE (RFC 1951, no zlib or gzip wrapper), EROFS algorithm 2, decoded by the fflate
 * package (docs/adr/0009-decompressors.md). fflate writes straight into the window it is
 * given and never past it; bytes beyond the window are decoded and dropped, so a pcluster
 * whose extent uses only a prefix decodes correctly.
 */
import { inflateSync } from 'fflate';
import { corrupt } from './errors.js';

export function deflateDecompress(src: Uint8Array, dst: Uint8Array, dstStart = 0, dstEnd = dst.length): number {
  const window = dst.subarray(dstStart, dstEnd);
  let out: Uint8Array;
  try {
    out = inflateSync(src, { out: window });
  } catch (e) {
    throw corrupt('deflate', (e as Error).message || String(e), 0);
  }
  if (out.buffer !== window.buffer || out.byteOffset !== window.byteOffset) {
    // fflate returned its own buffer (it does not when given one; kept for safety)
    window.set(out.subarray(0, window.length));
  }
  return Math.min(out.length, window.length);
}
