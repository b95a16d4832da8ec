import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { keyBytes, nameKey, nameKeyOf } from '../src/tree/node.js';

describe('name keys', () => {
  it('nameKeyOf is the latin1 string of exactly the bytes in range, for every length', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 0, maxLength: 9000 }), fc.nat(), fc.nat(), (bytes, a, b) => {
        const start = bytes.length === 0 ? 0 : a % (bytes.length + 1);
        const end = start + (bytes.length - start === 0 ? 0 : b % (bytes.length - start + 1));
        const key = nameKeyOf(bytes, start, end);
        expect(key.length).toBe(end - start);
        expect(keyBytes(key)).toEqual(bytes.slice(start, end));
        let ref = '';
        for (let i = start; i < end; i++) ref += String.fromCharCode(bytes[i]!);
        expect(key).toBe(ref);
      }),
      { numRuns: 300 },
    );
  });

  it('covers each short length (the fixed-arity cases) with high bytes and NULs', () => {
    for (let n = 0; n <= 40; n++) {
      const bytes = Uint8Array.from({ length: n + 3 }, (_, i) => (i * 97 + 255) & 0xff);
      expect(keyBytes(nameKeyOf(bytes, 3, 3 + n))).toEqual(bytes.subarray(3, 3 + n));
      expect(nameKey(bytes.subarray(3, 3 + n))).toBe(nameKeyOf(bytes, 3, 3 + n));
    }
  });
});
