import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { decode, encode, setGeneratedDecoders, trace, type StructDef } from '../src/layout/struct.js';
import * as F from '../src/erofs/format.js';

// Sizes mirror linux fs/erofs/erofs_fs.h (BUILD_BUG_ON checks in erofs_check_ondisk_layout_definitions).
const TABLES: [StructDef<unknown>, number][] = [
  [F.superBlock, 128],
  [F.inodeCompact, 32],
  [F.inodeExtended, 64],
  [F.dirent, 12],
  [F.xattrIbodyHeader, 12],
  [F.xattrEntry, 4],
  [F.chunkIndex, 8],
  [F.blockMapEntry, 4],
  [F.deviceSlot, 128],
  [F.xattrLongPrefixLen, 2],
  [F.zMapHeader, 8],
  [F.zMapHeaderInline, 8],
  [F.zMapHeaderWholeFragment, 8],
  [F.zLclusterIndex, 8],
  [F.zLclusterIndexNonhead, 8],
  [F.zCompactPack4B, 8],
  [F.zCompactPack2B, 32],
  [F.zComprCfgLen, 2],
  [F.zLz4Cfgs, 14],
  [F.zLzmaCfgs, 14],
  [F.zDeflateCfgs, 6],
  [F.zZstdCfgs, 6],
];

function arbitraryFor(def: StructDef<unknown>): fc.Arbitrary<Record<string, unknown>> {
  const rec: Record<string, fc.Arbitrary<unknown>> = {};
  for (const f of def.fields) {
    switch (f.kind) {
      case 'u8': rec[f.name] = fc.integer({ min: 0, max: 0xff }); break;
      case 'u16': rec[f.name] = fc.integer({ min: 0, max: 0xffff }); break;
      case 'u32': rec[f.name] = fc.integer({ min: 0, max: 0xffffffff }); break;
      case 'u64': rec[f.name] = fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }); break;
      case 'bytes': rec[f.name] = fc.uint8Array({ minLength: f.size, maxLength: f.size }); break;
    }
  }
  return fc.record(rec);
}

describe.each(TABLES)('%s', (def, size) => {
  it(`is ${size} bytes, fields contiguous`, () => {
    expect(def.size).toBe(size);
    let at = 0;
    for (const f of def.fields) {
      expect(f.offset).toBe(at);
      at += f.size;
    }
    expect(at).toBe(size);
    expect(def.source).toMatch(/erofs_fs\.h/);
  });

  it('decode(encode(x)) = x, with generated and generic decoders alike', () => {
    fc.assert(
      fc.property(arbitraryFor(def), (x) => {
        const bytes = encode(def, x as never);
        expect(bytes.length).toBe(size);
        expect(decode(def, bytes)).toEqual(x);
        setGeneratedDecoders(false);
        try {
          expect(decode(def, bytes)).toEqual(x);
        } finally {
          setGeneratedDecoders(true);
        }
      }),
      { numRuns: 200 },
    );
  });

  it('generated and generic encoders write the same bytes', () => {
    fc.assert(
      fc.property(arbitraryFor(def), (x) => {
        const lean = Object.fromEntries(Object.entries(x).filter(([k]) => !def.fields.find((f) => f.name === k)!.reserved));
        const fast = encode(def, lean as never);
        setGeneratedDecoders(false);
        try {
          expect(encode(def, lean as never)).toEqual(fast);
        } finally {
          setGeneratedDecoders(true);
        }
      }),
      { numRuns: 100 },
    );
  });

  it('a u64 given as a safe-integer number encodes as the BigInt of it does (negative: two\'s complement)', () => {
    const u64s = def.fields.filter((f) => f.kind === 'u64' && !f.reserved);
    if (u64s.length === 0) return;
    fc.assert(
      fc.property(arbitraryFor(def), fc.integer({ min: 0, max: u64s.length - 1 }), fc.maxSafeInteger().chain((m) => fc.constantFrom(m, -m, 0, 1, -1, 2 ** 32, 2 ** 32 - 1)), (x, k, n) => {
        const lean = Object.fromEntries(Object.entries(x).filter(([key]) => !def.fields.find((f) => f.name === key)!.reserved));
        const name = u64s[k]!.name;
        const asBig = encode(def, { ...lean, [name]: BigInt(n) } as never);
        expect(encode(def, { ...lean, [name]: n } as never)).toEqual(asBig);
        setGeneratedDecoders(false);
        try {
          expect(encode(def, { ...lean, [name]: n } as never)).toEqual(asBig);
        } finally {
          setGeneratedDecoders(true);
        }
        expect((decode(def, asBig) as Record<string, unknown>)[name]).toBe(BigInt.asUintN(64, BigInt(n)));
      }),
      { numRuns: 100 },
    );
  });

  it('decode without reserved fields drops exactly the reserved ones', () => {
    const full = decode(def, new Uint8Array(size)) as Record<string, unknown>;
    const lean = decode(def, new Uint8Array(size), 0, 0, false) as Record<string, unknown>;
    expect(Object.keys(lean)).toEqual(def.fields.filter((f) => !f.reserved).map((f) => f.name));
    expect(Object.keys(full)).toEqual(def.fields.map((f) => f.name));
  });

  it('trace covers every byte exactly once', () => {
    const bytes = new Uint8Array(size).map((_, i) => i * 7);
    const spans = trace(def, decode(def, bytes), 1000, def.name);
    let at = 1000;
    for (const s of spans) {
      expect(s.start).toBe(at);
      expect(s.end).toBeGreaterThan(s.start);
      at = s.end;
    }
    expect(at).toBe(1000 + size);
  });

  it('refuses to decode past the end with a truncated error naming the offset', () => {
    const short = new Uint8Array(size - 1);
    expect(() => decode(def, short, 0, 0x400)).toThrowError(expect.objectContaining({ code: 'truncated', offset: 0x400 }) as Error);
  });
});

describe('known field offsets (erofs-format.md §2, §3.2)', () => {
  const off = (def: StructDef<unknown>, name: string): number => def.fields.find((f) => f.name === name)!.offset;
  it.each([
    [F.superBlock, 'blkszbits', 12],
    [F.superBlock, 'rootnid_2b', 14],
    [F.superBlock, 'meta_blkaddr', 40],
    [F.superBlock, 'feature_incompat', 80],
    [F.superBlock, 'devt_slotoff', 88],
    [F.superBlock, 'packed_nid', 96],
    [F.superBlock, 'rootnid_8b', 112],
    [F.inodeCompact, 'i_u', 16],
    [F.inodeExtended, 'i_mtime', 32],
    [F.inodeExtended, 'i_nlink', 44],
    [F.deviceSlot, 'blocks_lo', 64],
    [F.deviceSlot, 'uniaddr_lo', 68],
  ])('%s.%s at %i', (def, name, expected) => {
    expect(off(def, name)).toBe(expected);
  });
});
