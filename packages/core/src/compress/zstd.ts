/**
 * Zstandard frames, EROFS algorithm 3, decoded by the fzstd package
 * (docs/adr/0009-decompressors.md). fzstd allocates a window as large as the frame header
 * asks (up to 2 GiB), so the header is checked first: a window or content size beyond what an
 * EROFS pcluster can hold is refused before any allocation. Its streaming decoder hands out
 * every block with its real length, which lets a frame that produces fewer bytes than the
 * extent needs be caught (the one-shot call returns the whole output buffer either way).
 */
import { Decompress } from 'fzstd';
import { ErofsError } from '../errors.js';
import { corrupt } from './errors.js';

/** Largest window or frame content size accepted (EROFS extents are at most a few MiB). */
export const ZSTD_MAX_WINDOW = 1 << 26;

const MAGIC = 0xfd2fb528;

/**
 * Frame header of the first frame: magic (le32), frame header descriptor (bit 5 single
 * segment, bits 6-7 content size field size code, bits 0-1 dictionary id size code), window
 * descriptor (absent for single-segment frames: the window is the content size), dictionary
 * id, frame content size (2-byte form adds 256).
 */
export function zstdFrameWindow(src: Uint8Array): { window: number; contentSize: number | undefined } {
  if (src.length < 6) throw corrupt('zstd', `stream of ${src.length} bytes is too short for a frame header`, 0);
  const magic = (src[0]! | (src[1]! << 8) | (src[2]! << 16) | (src[3]! << 24)) >>> 0;
  if (magic !== MAGIC) throw corrupt('zstd', `bad frame magic 0x${magic.toString(16)}`, 0);
  const fhd = src[4]!;
  const single = (fhd >> 5) & 1;
  const fcsCode = fhd >> 6;
  const didSize = [0, 1, 2, 4][fhd & 3]!;
  let at = 5;
  let window = 0;
  if (!single) {
    const wd = src[at++]!;
    const base = 2 ** (10 + (wd >> 3));
    window = base + (base / 8) * (wd & 7);
  }
  at += didSize;
  const fcsSize = fcsCode === 0 ? single : 1 << fcsCode;
  let contentSize: number | undefined;
  if (fcsSize > 0) {
    if (at + fcsSize > src.length) throw corrupt('zstd', 'frame header runs past the end of the input', at);
    let v = 0;
    for (let i = fcsSize - 1; i >= 0; i--) v = v * 256 + src[at + i]!;
    contentSize = fcsSize === 2 ? v + 256 : v;
  }
  if (single) window = contentSize ?? 0;
  return { window, contentSize };
}

export function zstdDecompress(src: Uint8Array, dst: Uint8Array, dstStart = 0, dstEnd = dst.length): number {
  const { window, contentSize } = zstdFrameWindow(src);
  if (window > ZSTD_MAX_WINDOW || (contentSize !== undefined && contentSize > ZSTD_MAX_WINDOW)) {
    throw new ErofsError('too-large', `zstd: frame asks for a ${Math.max(window, contentSize ?? 0)}-byte window or content, more than ${ZSTD_MAX_WINDOW} bytes`, { offset: 0 });
  }
  let op = dstStart;
  const d = new Decompress((chunk) => {
    const n = Math.min(chunk.length, dstEnd - op);
    if (n > 0) {
      dst.set(n === chunk.length ? chunk : chunk.subarray(0, n), op);
      op += n;
    }
  });
  try {
    d.push(src, true);
  } catch (e) {
    throw corrupt('zstd', (e as Error).message || String(e), 0);
  }
  return op - dstStart;
}
