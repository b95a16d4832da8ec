/**
 * BlockCache: reads served from cached blocks equal the source's bytes, whatever the order,
 * with and without recycling of evicted blocks' memory.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { BlockCache, type ByteSource } from '../src/io/source.js';

/** A synchronous source over bytes that counts how it is read. */
class CountingSource implements ByteSource {
  readonly name = 'counting';
  readonly size: number;
  fresh = 0;
  into = 0;
  constructor(private readonly bytes: Uint8Array) {
    this.size = bytes.length;
  }
  read(offset: number, length: number): Promise<Uint8Array> {
    return Promise.resolve(this.readSync(offset, length));
  }
  readSync(offset: number, length: number): Uint8Array {
    this.fresh++;
    return this.bytes.slice(offset, offset + length);
  }
  readInto(offset: number, into: Uint8Array): void {
    this.into++;
    into.set(this.bytes.subarray(offset, offset + into.length));
  }
}

function data(n: number): Uint8Array {
  const b = new Uint8Array(n);
  let x = 12345;
  for (let i = 0; i < n; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    b[i] = x >>> 24;
  }
  return b;
}

describe('BlockCache', () => {
  const bytes = data(64 * 1024 + 123);
  const read = fc.tuple(fc.nat(bytes.length - 1), fc.integer({ min: 0, max: 3000 })).map(([o, l]) => [o, Math.min(l, bytes.length - o)] as const);

  for (const recycle of [false, true]) {
    it(`returns the source's bytes for any sequence of reads (recycle: ${recycle})`, async () => {
      await fc.assert(
        fc.asyncProperty(fc.array(read, { minLength: 1, maxLength: 60 }), async (reads) => {
          const src = new CountingSource(bytes);
          // 1 KiB blocks, 4 of them at most: nearly every read evicts.
          const cache = new BlockCache(src, { blockSize: 1024, maxBytes: 4096, recycle });
          for (const [o, l] of reads) {
            // Compare at once: with recycling a view is only valid until the next read.
            expect(Buffer.from(await cache.read(o, l)).equals(Buffer.from(bytes.subarray(o, o + l)))).toBe(true);
            const sync = cache.tryReadSync(o, l)!;
            expect(Buffer.from(sync).equals(Buffer.from(bytes.subarray(o, o + l)))).toBe(true);
          }
        }),
      );
    });
  }

  it('recycling reads into evicted blocks instead of allocating', async () => {
    const src = new CountingSource(bytes);
    const cache = new BlockCache(src, { blockSize: 1024, maxBytes: 4096, recycle: true });
    for (let o = 0; o + 1024 <= bytes.length; o += 1024) await cache.read(o, 16);
    // Four blocks fill the cache; every later block reuses an evicted one.
    expect(src.fresh).toBe(4);
    expect(src.into).toBe(Math.floor(bytes.length / 1024) - 4);
  });

  it('without recycling, returned views stay valid after later reads', async () => {
    const src = new CountingSource(bytes);
    const cache = new BlockCache(src, { blockSize: 1024, maxBytes: 4096 });
    const first = await cache.read(0, 100);
    for (let o = 1024; o + 1024 <= bytes.length; o += 1024) await cache.read(o, 16);
    expect(Buffer.from(first).equals(Buffer.from(bytes.subarray(0, 100)))).toBe(true);
    expect(src.into).toBe(0);
  });
});
