/**
 * The decompressors EROFS pclusters need, behind one signature: decode `src` into
 * `dst[dstStart, dstEnd)` and return the number of bytes written (less than the window only
 * when the stream ends first). Errors are `ErofsError`s with input-relative offsets.
 */
import { deflateDecompress } from './deflate.js';
import { lz4Decompress } from './lz4.js';
import { microLzmaDecompress } from './microlzma.js';
import { zstdDecompress } from './zstd.js';

export type Decompressor = (src: Uint8Array, dst: Uint8Array, dstStart: number, dstEnd: number) => number;

export { lz4Decompress, microLzmaDecompress, deflateDecompress, zstdDecompress };

/** Decompressor for an EROFS algorithm id (0 lz4, 1 lzma, 2 deflate, 3 zstd). */
export function decompressorFor(algorithm: number, lzmaDictSize = 0xffffffff): Decompressor | undefined {
  switch (algorithm) {
    case 0:
      return lz4Decompress;
    case 1:
      return (src, dst, s, e) => microLzmaDecompress(src, dst, s, e, lzmaDictSize);
    case 2:
      return deflateDecompress;
    case 3:
      return zstdDecompress;
    default:
      return undefined;
  }
}
