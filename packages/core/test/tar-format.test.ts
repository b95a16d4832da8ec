/** The tar header tables (src/tar/format.ts): sizes and offsets as in GNU tar's src/tar.h, round trips, spans. */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { decode, encode, fieldOf, trace, type StructDef } from '../src/layout/struct.js';
import { headerNumber, base64Decode, urlDecode, paxDecimal } from '../src/tar/numbers.js';
import * as T from '../src/tar/format.js';
import { base256, octal } from './tar-corpus/craft.js';
import { aclTextToXattr } from '../src/tar/acl.js';

const TABLES: [StructDef<unknown>, number][] = [
  [T.v7Header, 512],
  [T.ustarHeader, 512],
  [T.gnuHeader, 512],
  [T.gnuSparse, 24],
  [T.gnuSparseHeader, 512],
];

describe.each(TABLES)('%s', (def, size) => {
  it(`is ${size} bytes, fields contiguous, format tar, cites tar.h`, () => {
    expect(def.size).toBe(size);
    let at = 0;
    for (const f of def.fields) {
      expect(f.offset).toBe(at);
      at += f.size;
    }
    expect(def.format).toBe('tar');
    expect(def.source).toMatch(/tar\.h/);
  });
  it('decode(encode(x)) = x', () => {
    const rec: Record<string, fc.Arbitrary<unknown>> = {};
    for (const f of def.fields) rec[f.name] = f.kind === 'u8' ? fc.integer({ min: 0, max: 255 }) : fc.uint8Array({ minLength: f.size, maxLength: f.size });
    fc.assert(
      fc.property(fc.record(rec), (x) => {
        expect(decode(def, encode(def, x as never))).toEqual(x);
      }),
      { numRuns: 100 },
    );
  });
  it('trace covers every byte exactly once', () => {
    const spans = trace(def, decode(def, new Uint8Array(size)), 512, def.name);
    let at = 512;
    for (const s of spans) {
      expect(s.start).toBe(at);
      at = s.end;
    }
    expect(at).toBe(512 + size);
  });
});

describe('known offsets (GNU tar src/tar.h comments)', () => {
  it.each([
    [T.ustarHeader, 'mode', 100],
    [T.ustarHeader, 'size', 124],
    [T.ustarHeader, 'chksum', 148],
    [T.ustarHeader, 'typeflag', 156],
    [T.ustarHeader, 'linkname', 157],
    [T.ustarHeader, 'magic', 257],
    [T.ustarHeader, 'uname', 265],
    [T.ustarHeader, 'devmajor', 329],
    [T.ustarHeader, 'prefix', 345],
    [T.gnuHeader, 'atime', 345],
    [T.gnuHeader, 'offset', 369],
    [T.gnuHeader, 'sp', 386],
    [T.gnuHeader, 'isextended', 482],
    [T.gnuHeader, 'realsize', 483],
    [T.gnuSparseHeader, 'isextended', 504],
  ] as const)('%s.%s at %i', (def, name, at) => {
    expect(fieldOf(def as StructDef<Record<string, unknown>>, name).offset).toBe(at);
  });
  it('sp arrays hold 4 and 21 struct sparse', () => {
    expect(fieldOf(T.gnuHeader, 'sp').size).toBe(T.SPARSES_IN_OLDGNU_HEADER * T.gnuSparse.size);
    expect(fieldOf(T.gnuSparseHeader, 'sp').size).toBe(T.SPARSES_IN_SPARSE_HEADER * T.gnuSparse.size);
  });
});

describe('numbers', () => {
  const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
  it.each([
    ['0000644\0', 0o644],
    ['   644 \0', 0o644],
    ['644', 0o644],
    ['\0\0\0\0\0\0\0\0', 0],
    ['        ', 0],
    ['12\0garbage', 0o12],
    ['12 34x', 0o12], // GNU tar stops at the first space or NUL and ignores the rest
    ['77777777777\0', 0o77777777777],
    ['777777777777', 0o777777777777], // 12 digits, no terminator (POSIX allows it)
  ])('octal %j = %d', (s, n) => {
    expect(headerNumber(enc(s))).toBe(n);
  });
  it.each(['1234x', '0o644', '-12', '8', '+1'])('octal %j is not a number', (s) => {
    expect(typeof headerNumber(enc(s))).toBe('string');
  });
  it('base-256: positive, negative, 2^53 limit', () => {
    fc.assert(
      fc.property(fc.integer({ min: Number.MIN_SAFE_INTEGER, max: Number.MAX_SAFE_INTEGER }), fc.constantFrom(8, 12), (n, w) => {
        if (w === 8 && (n >= 2 ** 62 || n < -(2 ** 62))) return;
        expect(headerNumber(base256(n, w))).toBe(n);
      }),
    );
    expect(headerNumber(base256(2n ** 53n, 12))).toBe('too-large');
    expect(headerNumber(base256(-(2n ** 60n), 12))).toBe('too-large');
    expect(headerNumber(new Uint8Array([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]))).toBe(-1);
  });
  it('octal round trip', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0o77777777777 }), (n) => {
        expect(headerNumber(octal(n, 12))).toBe(n);
      }),
    );
  });
  it('pax decimals, base64, URL decoding', () => {
    expect(paxDecimal(enc('0012'))).toBe(12);
    expect(paxDecimal(enc('99999999999999999'))).toBe('too-large');
    expect(paxDecimal(enc('1 '))).toBe('not a decimal number');
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 50 }), (b) => {
        const s = Buffer.from(b).toString('base64');
        expect([...base64Decode(enc(s))!]).toEqual([...b]);
        expect([...base64Decode(enc(s.replace(/=+$/, '')))!]).toEqual([...b]);
      }),
    );
    expect(base64Decode(enc('a'))).toBeUndefined();
    expect(base64Decode(enc('ab$d'))).toBeUndefined();
    expect(new TextDecoder().decode(urlDecode(enc('a%3Db%25%zz%4')))).toBe('a=b%%zz%4');
  });
});


describe('SCHILY.acl text to the posix_acl xattr', () => {
  const entry = (tag: number, perm: number, id: number): number[] => [tag, 0, perm, 0, id & 0xff, (id >>> 8) & 0xff, (id >>> 16) & 0xff, id >>> 24];
  it('converts a named-user ACL as star/bsdtar write it (sorted by tag, ids kept)', () => {
    const v = aclTextToXattr('user::rw-,group::r--,other::r--,user:alice:rwx:1001,mask::rwx');
    expect(v).toEqual(
      new Uint8Array([2, 0, 0, 0, ...entry(1, 6, 0xffffffff), ...entry(2, 7, 1001), ...entry(4, 4, 0xffffffff), ...entry(0x10, 7, 0xffffffff), ...entry(0x20, 4, 0xffffffff)]),
    );
  });
  it('refuses what it cannot convert, with a reason', () => {
    expect(aclTextToXattr('user:alice:rwx')).toMatch(/without a numeric id/);
    expect(aclTextToXattr('bogus')).toMatch(/not tag:qualifier:perms/);
    expect(aclTextToXattr('')).toMatch(/empty/);
  });
});

describe('header checksums', () => {
  const naive = (b: Uint8Array): { unsigned: number; signed: number } => {
    let u = 0;
    let s = 0;
    for (let i = 0; i < 512; i++) {
      const v = i >= 148 && i < 156 ? 0x20 : b[i]!;
      u += v;
      s += v >= 0x80 ? v - 256 : v;
    }
    return { unsigned: u, signed: s };
  };
  it('headerSum (word-wise when aligned, byte-wise otherwise) and headerSums equal the byte-by-byte sums', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 512, maxLength: 512 }), fc.integer({ min: 0, max: 7 }), (bytes, shift) => {
        const buf = new Uint8Array(520);
        buf.set(bytes, shift);
        const block = buf.subarray(shift, shift + 512);
        const want = naive(block);
        expect(T.headerSum(block)).toBe(want.unsigned);
        expect(T.headerSums(block)).toEqual(want);
      }),
      { numRuns: 300 },
    );
    // The largest sums: every byte 0xff (each 16-bit lane at its maximum).
    const full = new Uint8Array(512).fill(0xff);
    expect(T.headerSum(full)).toBe(naive(full).unsigned);
  });
  it("HEADER_FIELDS are the tables' own offsets in the header layouts that have them", () => {
    for (const [name, f] of Object.entries(T.HEADER_FIELDS)) {
      const key = name as keyof typeof T.HEADER_FIELDS;
      expect(fieldOf(T.ustarHeader, key)).toEqual(f);
      if (name !== 'prefix') expect(fieldOf(T.gnuHeader, key as 'name')).toEqual(f);
      if (!['uname', 'gname', 'devmajor', 'devminor', 'prefix'].includes(name)) expect(fieldOf(T.v7Header, key as 'name')).toEqual(f);
    }
  });
});
