/**
 * LZ4 block format decoder (no frame), as EROFS stores pclusters (lz4 and lz4hc output alike).
 * Written here rather than taken from a package: see docs/adr/0009-decompressors.md.
 *
 * A block is a series of sequences: a token byte (high nibble literal count, low nibble match
 * length - 4; 15 = more length bytes follow, each added until one is not 255), the literals,
 * a little-endian u16 offset back into the output, the match. The last sequence has literals
 * only. The decoder writes into a caller-provided window of an output array and stops once
 * that window is full, which is the partial ("prefix") decoding EROFS needs for extents that
 * use only the start of a pcluster; it never reads past `src` nor writes past the window.
 */
import { corrupt } from './errors.js';

/**
 * Decodes `src` into `dst[dstStart, dstEnd)`. Returns the number of bytes written, which is
 * less than the window only when the stream ends first. Matches may not reach before
 * `dstStart` (each pcluster is independent).
 */
export function lz4Decompress(src: Uint8Array, dst: Uint8Array, dstStart = 0, dstEnd = dst.length): number {
  const srcEnd = src.length;
  let ip = 0;
  let op = dstStart;
  for (;;) {
    if (ip >= srcEnd) break;
    const token = src[ip++]!;
    // literals
    let lit = token >>> 4;
    if (lit === 15) {
      let b = 255;
      while (b === 255) {
        if (ip >= srcEnd) throw corrupt('lz4', 'literal length runs past the end of the input', ip);
        b = src[ip++]!;
        lit += b;
      }
    }
    if (lit > 0) {
      if (ip + lit > srcEnd) throw corrupt('lz4', `${lit} literals at input byte ${ip} run past the end of the input (${srcEnd} bytes)`, ip);
      if (lit >= dstEnd - op) {
        const room = dstEnd - op;
        for (let k = 0; k < room; k++) dst[op + k] = src[ip + k]!;
        return dstEnd - dstStart;
      }
      if (lit <= 32) {
        const e = ip + lit;
        while (ip < e) dst[op++] = src[ip++]!;
      } else {
        dst.set(src.subarray(ip, ip + lit), op);
        ip += lit;
        op += lit;
      }
    }
    if (ip >= srcEnd) break; // last sequence: literals only
    if (ip + 2 > srcEnd) throw corrupt('lz4', 'match offset runs past the end of the input', ip);
    const offset = src[ip]! | (src[ip + 1]! << 8);
    ip += 2;
    if (offset === 0 || offset > op - dstStart) {
      throw corrupt('lz4', `match offset ${offset} at input byte ${ip - 2} points before the start of the output (${op - dstStart} bytes decoded)`, ip - 2);
    }
    let len = (token & 15) + 4;
    if (len === 19) {
      let b = 255;
      while (b === 255) {
        if (ip >= srcEnd) throw corrupt('lz4', 'match length runs past the end of the input', ip);
        b = src[ip++]!;
        len += b;
      }
    }
    let stop = false;
    if (len >= dstEnd - op) {
      len = dstEnd - op;
      stop = true;
    }
    // copyWithin only pays off for long non-overlapping runs. Otherwise byte by byte, which is
    // right for overlapping matches (the pattern repeats); with offset >= 8 the eight bytes of
    // a group never read what the group writes, so the loop is unrolled by eight.
    let from = op - offset;
    const end = op + len;
    if (len > 32 && offset >= len) {
      dst.copyWithin(op, from, from + len);
      op = end;
    } else {
      if (offset >= 8) {
        while (op + 8 <= end) {
          dst[op] = dst[from]!;
          dst[op + 1] = dst[from + 1]!;
          dst[op + 2] = dst[from + 2]!;
          dst[op + 3] = dst[from + 3]!;
          dst[op + 4] = dst[from + 4]!;
          dst[op + 5] = dst[from + 5]!;
          dst[op + 6] = dst[from + 6]!;
          dst[op + 7] = dst[from + 7]!;
          op += 8;
          from += 8;
        }
      }
      while (op < end) dst[op++] = dst[from++]!;
    }
    if (stop) return op - dstStart;
  }
  return op - dstStart;
}

