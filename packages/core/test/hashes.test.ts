import { describe, expect, it } from 'vitest';
import { crc32c } from '../src/erofs/checksum.js';
import { xxh32 } from '../src/erofs/xxhash.js';
import { filterBit } from '../src/erofs/xattr.js';

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);

describe('crc32c (Linux semantics: caller seeds, no final xor)', () => {
  it('matches the standard check value once inverted', () => {
    // CRC-32C("123456789") = 0xE3069283 with init ~0 and final xor ~0.
    expect((~crc32c(0xffffffff, enc('123456789'))) >>> 0).toBe(0xe3069283);
  });
  it('is incremental: crc(a+b) = crc(crc(a), b)', () => {
    const a = enc('erofs superblock ');
    const b = enc('checksum');
    const whole = new Uint8Array([...a, ...b]);
    expect(crc32c(crc32c(0xffffffff, a), b)).toBe(crc32c(0xffffffff, whole));
  });
  it('magic plus zeroed checksum field gives the seed newer kernels start from', () => {
    // erofs-format.md §2.1: crc32c(~0, e2 e1 f5 e0 00 00 00 00) = 0x5045B54A.
    expect(crc32c(0xffffffff, new Uint8Array([0xe2, 0xe1, 0xf5, 0xe0, 0, 0, 0, 0]))).toBe(0x5045b54a);
  });
});

describe('xxh32', () => {
  it.each([
    ['', 0, 0x02cc5d05],
    ['a', 0, 0x550d7456],
    ['abc', 0, 0x32d153ff],
    ['Nobody inspects the spammish repetition', 0, 0xe2293b2f],
  ])('xxh32(%j, %i)', (s, seed, want) => {
    expect(xxh32(enc(s), seed)).toBe(want);
  });
  it('long inputs use all four lanes', () => {
    const data = enc('0123456789abcdef'.repeat(5) + 'xyz');
    expect(xxh32(data, 0)).toBe(xxh32(data, 0));
    expect(xxh32(data, 0)).not.toBe(xxh32(data, 1));
  });
  it('xattr filter bit of user.k is 14 (erofs-format.md §5.5, filter 0xffffbfff)', () => {
    expect(filterBit('user.k')).toBe(14);
  });
});
