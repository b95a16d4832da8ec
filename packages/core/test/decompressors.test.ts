/**
 * The pcluster decoders on their own: LZ4 against hand-written blocks and a tiny reference
 * compressor (round trips), MicroLZMA / DEFLATE / zstd against real pclusters taken from the
 * fixtures and node:zlib output, partial (prefix) decoding, windows never overrun, and corrupt
 * input giving coded errors with an input offset.
 */
import { deflateRawSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { ErofsImage, MemorySource, deflateDecompress, isErofsError, lz4Decompress, microLzmaDecompress, zstdDecompress, type Decompressor } from '../src/index.js';
import { lz4DecompressJs, lz4UsesWasm } from '../src/compress/lz4.js';
import { bytesOf } from './fixtures.js';

function codeOf(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    expect(isErofsError(e), `expected an ErofsError, got ${String(e)}`).toBe(true);
    return (e as { code: string }).code;
  }
  return 'no error';
}

/** Greedy LZ4 block compressor (reference for round trips; not used by the reader). */
function lz4Compress(src: Uint8Array): Uint8Array {
  const out: number[] = [];
  const table = new Map<number, number>();
  const n = src.length;
  let anchor = 0;
  let i = 0;
  const lenBytes = (v: number): void => {
    while (v >= 255) {
      out.push(255);
      v -= 255;
    }
    out.push(v);
  };
  const emit = (litEnd: number, matchLen: number, offset: number): void => {
    const lit = litEnd - anchor;
    const ml = matchLen - 4;
    out.push((Math.min(lit, 15) << 4) | (matchLen ? Math.min(ml, 15) : 0));
    if (lit >= 15) lenBytes(lit - 15);
    for (let k = anchor; k < litEnd; k++) out.push(src[k]!);
    if (!matchLen) return;
    out.push(offset & 255, offset >> 8);
    if (ml >= 15) lenBytes(ml - 15);
  };
  // the format wants the last 5 bytes as literals and no match starting in the last 12
  while (i + 12 <= n) {
    const key = src[i]! | (src[i + 1]! << 8) | (src[i + 2]! << 16) | (src[i + 3]! << 24);
    const cand = table.get(key);
    table.set(key, i);
    if (cand !== undefined && i - cand <= 65535) {
      let len = 4;
      while (i + len < n - 5 && src[cand + len] === src[i + len]) len++;
      emit(i, len, i - cand);
      i += len;
      anchor = i;
    } else i++;
  }
  emit(n, 0, 0);
  return Uint8Array.from(out);
}

const textish = fc.array(fc.constantFrom(...'abc de\nxyz'.split('')), { minLength: 0, maxLength: 3000 }).map((a) => new TextEncoder().encode(a.join('')));
const mixed = fc.oneof(textish, fc.uint8Array({ maxLength: 3000 }), fc.tuple(fc.uint8Array({ minLength: 1, maxLength: 40 }), fc.nat(200)).map(([b, r]) => {
  const out = new Uint8Array(b.length * (r + 1));
  for (let k = 0; k <= r; k++) out.set(b, k * b.length);
  return out;
}));

describe('lz4', () => {
  it('decodes hand-written blocks: literals only, overlapping match, extended lengths', () => {
    const out = new Uint8Array(64);
    // "abc" then match offset 3 length 9 (overlapping) then literal "!"
    const block = Uint8Array.from([0x35, 0x61, 0x62, 0x63, 0x03, 0x00, 0x10, 0x21]);
    expect(lz4Decompress(block, out, 0, 13)).toBe(13);
    expect(new TextDecoder().decode(out.subarray(0, 13))).toBe('abcabcabcabc!');
    // literal length 15 + 255 + 3 = 273 bytes, last sequence
    const lit = new Uint8Array(273).map((_, k) => k & 0xff);
    const big = Uint8Array.from([0xf0, 255, 3, ...lit]);
    const o2 = new Uint8Array(273);
    expect(lz4Decompress(big, o2)).toBe(273);
    expect(o2).toEqual(lit);
    // run of one byte: offset 1, match length 4 + 15 + 255 + 1
    const run = Uint8Array.from([0x1f, 0x7a, 0x01, 0x00, 255, 1, 0x00]);
    const o3 = new Uint8Array(276);
    expect(lz4Decompress(run, o3)).toBe(276);
    expect(o3.every((b) => b === 0x7a)).toBe(true);
  });

  it('round-trips through a reference compressor, whole and as prefixes', () => {
    fc.assert(
      fc.property(mixed, fc.double({ min: 0, max: 1, noNaN: true }), (src, cut) => {
        const block = lz4Compress(src);
        const out = new Uint8Array(src.length + 16).fill(0xee);
        expect(lz4Decompress(block, out, 8, 8 + src.length)).toBe(src.length);
        expect(out.subarray(8, 8 + src.length)).toEqual(src);
        // nothing outside the window is touched
        expect(out.subarray(0, 8).every((b) => b === 0xee) && out.subarray(8 + src.length).every((b) => b === 0xee)).toBe(true);
        const want = Math.floor(cut * src.length);
        const prefix = new Uint8Array(want);
        expect(lz4Decompress(block, prefix)).toBe(want);
        expect(prefix).toEqual(src.subarray(0, want));
      }),
      { numRuns: 300 },
    );
  });

  it('reports short output instead of inventing bytes', () => {
    const src = new TextEncoder().encode('hello hello hello hello hello');
    expect(lz4Decompress(lz4Compress(src), new Uint8Array(100))).toBe(src.length);
  });

  it.each([
    ['offset 0', [0x10, 0x61, 0x00, 0x00]],
    ['offset before the output', [0x10, 0x61, 0x02, 0x00]],
    ['literals past the input', [0x50, 0x61, 0x62]],
    ['literal length past the input', [0xf0, 255]],
    ['offset past the input', [0x10, 0x61, 0x01]],
    ['match length past the input', [0x1f, 0x61, 0x01, 0x00, 255]],
  ])('%s is invalid-value with an input offset', (_what, bytes) => {
    const out = new Uint8Array(1000);
    let err: unknown;
    try {
      lz4Decompress(Uint8Array.from(bytes), out);
    } catch (e) {
      err = e;
    }
    expect(isErofsError(err)).toBe(true);
    expect((err as { code: string }).code).toBe('invalid-value');
    expect((err as { offset: number }).offset).toBeGreaterThanOrEqual(0);
    expect((err as { offset: number }).offset).toBeLessThanOrEqual(bytes.length);
  });

  it('random input never throws anything but an ErofsError and never overruns', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), fc.nat(500), (src, n) => {
        const out = new Uint8Array(n + 4).fill(0xee);
        try {
          const got = lz4Decompress(src, out, 2, 2 + n);
          expect(got).toBeLessThanOrEqual(n);
        } catch (e) {
          expect(isErofsError(e)).toBe(true);
        }
        expect(out[0] === 0xee && out[1] === 0xee && out[n + 2] === 0xee && out[n + 3] === 0xee).toBe(true);
      }),
      { numRuns: 500 },
    );
  });
});

/** Runs a decoder; the outcome as comparable data: bytes written and the window, or the error's code and offset. */
function outcome(dec: Decompressor, src: Uint8Array, n: number): unknown {
  const out = new Uint8Array(n + 40).fill(0xee);
  try {
    const got = dec(src, out, 8, 8 + n);
    return { got, out: Buffer.from(out).toString('hex') };
  } catch (e) {
    expect(isErofsError(e), String(e)).toBe(true);
    return { code: (e as { code: string }).code, offset: (e as { offset: number }).offset };
  }
}

describe('lz4: the WebAssembly decoder and the JavaScript one', () => {
  it('WebAssembly is used under Node', () => {
    expect(lz4UsesWasm()).toBe(true);
  });

  it('agree on valid blocks, whole and cut at any window', () => {
    fc.assert(
      fc.property(mixed, fc.double({ min: 0, max: 1.2, noNaN: true }), (src, cut) => {
        const block = lz4Compress(src);
        const n = Math.floor(cut * src.length);
        expect(outcome(lz4Decompress, block, n)).toEqual(outcome(lz4DecompressJs, block, n));
      }),
      { numRuns: 300 },
    );
  });

  it('agree on random bytes and on blocks with flipped bytes (same bytes, or the same error code and offset)', () => {
    const corrupted = fc.tuple(mixed, fc.array(fc.tuple(fc.double({ min: 0, max: 1, noNaN: true }), fc.integer({ min: 1, max: 255 })), { minLength: 1, maxLength: 4 })).map(([src, flips]) => {
      const s = lz4Compress(src);
      for (const [w, x] of flips) if (s.length > 0) s[Math.floor(w * s.length)]! ^= x;
      return s;
    });
    fc.assert(
      fc.property(fc.oneof(fc.uint8Array({ maxLength: 300 }), corrupted), fc.nat(4000), (src, n) => {
        expect(outcome(lz4Decompress, src, n)).toEqual(outcome(lz4DecompressJs, src, n));
      }),
      { numRuns: 1000 },
    );
  });

  it('agree after input larger than the memory the module starts with', () => {
    const src = new Uint8Array(300_000);
    for (let i = 0; i < src.length; i++) src[i] = (i * 7919) % 251 < 40 ? i & 255 : 97;
    const block = lz4Compress(src);
    expect(outcome(lz4Decompress, block, src.length)).toEqual(outcome(lz4DecompressJs, block, src.length));
  });
});

/** Real pclusters (stream after the zero padding) and their expected output, from a fixture. */
async function pclusters(image: string, algorithm: string): Promise<{ stream: Uint8Array; want: Uint8Array }[]> {
  const bytes = bytesOf(image);
  const img = await ErofsImage.open(new MemorySource(bytes));
  const out: { stream: Uint8Array; want: Uint8Array }[] = [];
  for (const path of ['/text/words-100k', '/big/repetitive-3m', '/mixed/alternating']) {
    const ino = await img.lookup(path);
    const whole = await img.read(ino);
    for (const e of await img.extents(ino)) {
      const c = e.compression!;
      if (c.algorithm !== algorithm || c.storage !== 'pcluster') continue;
      let raw = bytes.subarray(e.physical, e.physical + c.encodedLength);
      let k = 0;
      while (raw[k] === 0) k++;
      raw = raw.subarray(k);
      out.push({ stream: raw, want: whole.subarray(e.logical, e.logical + e.length) });
    }
  }
  expect(out.length).toBeGreaterThan(3);
  return out;
}

describe.each([
  ['lzma', 'lzma-4k.erofs', microLzmaDecompress as Decompressor],
  ['deflate', 'deflate-4k.erofs', deflateDecompress as Decompressor],
  ['zstd', 'zstd-4k.erofs', zstdDecompress as Decompressor],
  ['lz4', 'lz4hc-4k.erofs', lz4Decompress as Decompressor],
])('%s pclusters from mkfs.erofs', (algorithm, image, dec) => {
  it('decode to the file bytes, whole and as prefixes, inside their window', async () => {
    for (const { stream, want } of await pclusters(image, algorithm)) {
      const out = new Uint8Array(want.length + 8).fill(0xee);
      expect(dec(stream, out, 4, 4 + want.length)).toBe(want.length);
      expect(Buffer.from(out.subarray(4, 4 + want.length)).equals(Buffer.from(want))).toBe(true);
      expect(out.subarray(0, 4).every((b) => b === 0xee) && out.subarray(4 + want.length).every((b) => b === 0xee)).toBe(true);
      const half = want.length >> 1;
      const p = new Uint8Array(half);
      expect(dec(stream, p, 0, half)).toBe(half);
      expect(Buffer.from(p).equals(Buffer.from(want.subarray(0, half)))).toBe(true);
    }
  });

  it('a truncated stream is an error or yields fewer bytes, never a crash', async () => {
    const { stream, want } = (await pclusters(image, algorithm))[0]!;
    for (const keep of [1, 5, stream.length >> 1, stream.length - 1]) {
      const out = new Uint8Array(want.length);
      try {
        const got = dec(stream.subarray(0, keep), out, 0, want.length);
        // a prefix of the stream can only give a prefix of the output
        expect(Buffer.from(out.subarray(0, Math.min(got, 16))).equals(Buffer.from(want.subarray(0, Math.min(got, 16))))).toBe(true);
        expect(got).toBeLessThanOrEqual(want.length);
      } catch (e) {
        expect(isErofsError(e), String(e)).toBe(true);
      }
    }
  });

  it('flipped bytes give an ErofsError or some output, never another exception', async () => {
    const list = await pclusters(image, algorithm);
    fc.assert(
      fc.property(fc.nat(list.length - 1), fc.array(fc.tuple(fc.double({ min: 0, max: 1, noNaN: true }), fc.integer({ min: 1, max: 255 })), { minLength: 1, maxLength: 6 }), (k, flips) => {
        const { stream, want } = list[k]!;
        const s = stream.slice();
        for (const [w, x] of flips) s[Math.floor(w * s.length)]! ^= x;
        const out = new Uint8Array(want.length);
        try {
          expect(dec(s, out, 0, want.length)).toBeLessThanOrEqual(want.length);
        } catch (e) {
          expect(isErofsError(e), String(e)).toBe(true);
        }
      }),
      { numRuns: 100 },
    );
  });
});

describe('microlzma', () => {
  it('refuses an invalid properties byte (stored inverted)', () => {
    const bad = Uint8Array.from([~225 & 0xff, 0, 0, 0, 0, 0]);
    expect(codeOf(() => microLzmaDecompress(bad, new Uint8Array(10)))).toBe('invalid-value');
    expect(codeOf(() => microLzmaDecompress(Uint8Array.from([0xa2, 0, 0]), new Uint8Array(10)))).toBe('invalid-value');
  });
});

describe('deflate (fflate)', () => {
  it('round-trips node:zlib raw deflate, and reports short output', () => {
    fc.assert(
      fc.property(mixed, fc.integer({ min: 0, max: 9 }), (src, level) => {
        const z = new Uint8Array(deflateRawSync(src, { level }));
        const out = new Uint8Array(src.length + 50);
        expect(deflateDecompress(z, out, 0, out.length)).toBe(src.length);
        expect(Buffer.from(out.subarray(0, src.length)).equals(Buffer.from(src))).toBe(true);
      }),
      { numRuns: 100 },
    );
  });

  it('garbage is invalid-value', () => {
    expect(codeOf(() => deflateDecompress(Uint8Array.from([0xff, 0xff, 0xff, 0xff]), new Uint8Array(100)))).toBe('invalid-value');
  });
});

describe('zstd (fzstd)', () => {
  it('refuses a frame asking for a huge window before allocating it', () => {
    // magic, FHD 0 (no single segment, no checksum), window descriptor exponent 30 (1 GiB)
    const frame = Uint8Array.from([0x28, 0xb5, 0x2f, 0xfd, 0x00, 30 << 3, 0, 0, 0]);
    expect(codeOf(() => zstdDecompress(frame, new Uint8Array(10)))).toBe('too-large');
  });

  it('a bad magic is invalid-value', () => {
    expect(codeOf(() => zstdDecompress(Uint8Array.from([1, 2, 3, 4, 5, 6, 7]), new Uint8Array(10)))).toBe('invalid-value');
  });
});
