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
import { LZ4_WASM } from './lz4-wasm-module.js';

/**
 * Decodes `src` into `dst[dstStart, dstEnd)`. Returns the number of bytes written, which is
 * less than the window only when the stream ends first. Matches may not reach before
 * `dstStart` (each pcluster is independent).
 *
 * Runs the WebAssembly build of the decoder (tools/gen-lz4-wasm.mjs; 3-4x faster here) when
 * the platform has WebAssembly, else {@link lz4DecompressJs}. Both accept and refuse the same
 * streams with the same errors.
 */
export function lz4Decompress(src: Uint8Array, dst: Uint8Array, dstStart = 0, dstEnd = dst.length): number {
  const w = wasm === undefined ? loadWasm() : wasm;
  if (w === null) return lz4DecompressJs(src, dst, dstStart, dstEnd);
  const n = dstEnd - dstStart;
  if (n <= 0) return lz4DecompressJs(src, dst, dstStart, dstEnd);
  // memory: [0, 8) error report, input at 16 (+16 readable bytes), the window (+32 writable)
  const inAt = 16;
  const outAt = (inAt + src.length + 16 + 7) & ~7;
  const need = outAt + n + 32;
  let heap = w.heap;
  if (heap.length < need) {
    w.exports.memory.grow(Math.ceil((need - heap.length) / 65536));
    heap = w.heap = new Uint8Array(w.exports.memory.buffer);
  }
  heap.set(src, inAt);
  const r = w.exports.decode(inAt, inAt + src.length, outAt, outAt + n);
  if (r < 0) {
    const at = (heap[0]! | (heap[1]! << 8) | (heap[2]! << 16) | (heap[3]! << 24)) - inAt;
    const value = heap[4]! | (heap[5]! << 8) | (heap[6]! << 16) | (heap[7]! << 24);
    throw wasmError(r, at, value, src.length);
  }
  dst.set(heap.subarray(outAt, outAt + r), dstStart);
  return r;
}

interface Lz4Wasm {
  exports: { memory: { buffer: ArrayBuffer; grow(pages: number): number }; decode(ip: number, iend: number, op: number, oend: number): number };
  heap: Uint8Array;
}

/** undefined: not tried yet; null: no WebAssembly here (or it refused the module). */
let wasm: Lz4Wasm | null | undefined;

/** Whether {@link lz4Decompress} runs the WebAssembly decoder on this platform (for tests and benchmarks). */
export function lz4UsesWasm(): boolean {
  return (wasm === undefined ? loadWasm() : wasm) !== null;
}

interface WasmApi {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { exports: unknown };
}

function loadWasm(): Lz4Wasm | null {
  wasm = null;
  try {
    const api = (globalThis as { WebAssembly?: WasmApi }).WebAssembly;
    if (api) {
      // 644 bytes: small enough for a synchronous compile on a browser's main thread too
      const exports = new api.Instance(new api.Module(LZ4_WASM), {}).exports as Lz4Wasm['exports'];
      wasm = { exports, heap: new Uint8Array(exports.memory.buffer) };
    }
  } catch {
    wasm = null;
  }
  return wasm;
}

/** The WebAssembly decoder's error codes as the same errors {@link lz4DecompressJs} throws. */
function wasmError(code: number, at: number, value: number, srcEnd: number): Error {
  switch (code) {
    case -1:
      return corrupt('lz4', 'literal length runs past the end of the input', at);
    case -2:
      return corrupt('lz4', `${value >>> 0} literals at input byte ${at} run past the end of the input (${srcEnd} bytes)`, at);
    case -3:
      return corrupt('lz4', 'match offset runs past the end of the input', at);
    case -4:
      return corrupt('lz4', `match offset ${value} at input byte ${at} points before the start of the output`, at);
    default:
      return corrupt('lz4', 'match length runs past the end of the input', at);
  }
}

/** The decoder in plain JavaScript: the fallback without WebAssembly, and the reference the tests compare with. */
export function lz4DecompressJs(src: Uint8Array, dst: Uint8Array, dstStart = 0, dstEnd = dst.length): number {
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

