/**
 * XXH32, used by the EROFS xattr name bloom filter (COMPAT_XATTR_FILTER). Hand-written:
 * the filter hashes short names only, and no maintained JS package offers a browser-safe
 * xxh32 without WebAssembly start-up cost (docs/adr/0004-small-hashes.md).
 */
const P1 = 0x9e3779b1;
const P2 = 0x85ebca77;
const P3 = 0xc2b2ae3d;
const P4 = 0x27d4eb2f;
const P5 = 0x165667b1;

const rotl = (x: number, r: number): number => ((x << r) | (x >>> (32 - r))) >>> 0;
const mul = (a: number, b: number): number => Math.imul(a, b) >>> 0;
const round = (acc: number, lane: number): number => mul(rotl((acc + mul(lane, P2)) >>> 0, 13), P1);

function u32(b: Uint8Array, i: number): number {
  return (b[i]! | (b[i + 1]! << 8) | (b[i + 2]! << 16) | (b[i + 3]! << 24)) >>> 0;
}

export function xxh32(input: Uint8Array, seed: number): number {
  const len = input.length;
  let i = 0;
  let h: number;
  if (len >= 16) {
    let v1 = (seed + P1 + P2) >>> 0;
    let v2 = (seed + P2) >>> 0;
    let v3 = seed >>> 0;
    let v4 = (seed - P1) >>> 0;
    while (i + 16 <= len) {
      v1 = round(v1, u32(input, i));
      v2 = round(v2, u32(input, i + 4));
      v3 = round(v3, u32(input, i + 8));
      v4 = round(v4, u32(input, i + 12));
      i += 16;
    }
    h = (rotl(v1, 1) + rotl(v2, 7) + rotl(v3, 12) + rotl(v4, 18)) >>> 0;
  } else {
    h = (seed + P5) >>> 0;
  }
  h = (h + len) >>> 0;
  while (i + 4 <= len) {
    h = mul(rotl((h + mul(u32(input, i), P3)) >>> 0, 17), P4);
    i += 4;
  }
  while (i < len) {
    h = mul(rotl((h + mul(input[i]!, P5)) >>> 0, 11), P1);
    i++;
  }
  h ^= h >>> 15;
  h = mul(h, P2);
  h ^= h >>> 13;
  h = mul(h, P3);
  h ^= h >>> 16;
  return h >>> 0;
}
