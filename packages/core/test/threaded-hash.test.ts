/**
 * threadedSha256 (hashing on a worker thread through a shared ring) gives exactly the
 * digests of node:crypto in the calling thread, whatever the chunking: chunks smaller than a
 * slot, spanning several slots, filling the whole ring, empty input.
 */
import { afterAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { nodeSha256 } from '../src/node/digest.js';
import { hashFileThreaded, threadedSha256 } from '../src/node/threaded-hash.js';
import { closeSync, mkdtempSync, openSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ErofsError } from '../src/errors.js';
import { toHex } from '../src/digest/hash.js';

function bytes(n: number, seed: number): Uint8Array {
  const b = new Uint8Array(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    b[i] = x & 0xff;
  }
  return b;
}

function digestBoth(data: Uint8Array, sizes: number[]): [string, string] {
  const t = threadedSha256();
  const n = nodeSha256();
  let o = 0;
  for (let i = 0; o < data.length; i++) {
    const k = Math.min(sizes[i % sizes.length]!, data.length - o);
    t.update(data.subarray(o, o + k));
    n.update(data.subarray(o, o + k));
    o += k;
  }
  return [toHex(t.digest()), toHex(n.digest())];
}

describe('threadedSha256', () => {
  it('empty input', () => {
    expect(toHex(threadedSha256().digest())).toBe('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
  });

  it('more data than the whole ring (the producer waits for free slots), in odd chunk sizes', () => {
    const data = bytes(40 << 20, 7); // 40 MiB > 8 slots × 2 MiB
    const [t, n] = digestBoth(data, [1, 4095, 3 << 20, 65537, 2 << 20]);
    expect(t).toBe(n);
  });

  it('any data in any chunking', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 3 << 20 }), fc.array(fc.integer({ min: 1, max: 5 << 20 }), { minLength: 1, maxLength: 5 }), fc.nat(), (len, sizes, seed) => {
        const [t, n] = digestBoth(bytes(len, seed), sizes);
        expect(t).toBe(n);
      }),
      { numRuns: 15 },
    );
  });

  it('several hashes at once stay independent', () => {
    const a = bytes(5 << 20, 1);
    const b = bytes(3 << 20, 2);
    const ha = threadedSha256();
    const hb = threadedSha256();
    ha.update(a.subarray(0, 1 << 20));
    hb.update(b);
    ha.update(a.subarray(1 << 20));
    expect(toHex(hb.digest())).toBe(toHex(nodeSha256().update(b).digest()));
    expect(toHex(ha.digest())).toBe(toHex(nodeSha256().update(a).digest()));
  });
});

describe('hashFileThreaded', () => {
  const dir = mkdtempSync(join(tmpdir(), 'erofs-kit-filehash-'));
  const hashOf = (data: Uint8Array): string => toHex(nodeSha256().update(data).digest());
  // Sizes around the worker's 4 MiB reads: empty, one byte, exactly one read, one read and a byte.
  it.each([0, 1, 4 << 20, (4 << 20) + 1, 9_999_999])('a file of %i bytes: the digest of node:crypto and the byte count', async (n) => {
    const data = bytes(n, n + 7);
    const f = join(dir, `f${n}`);
    writeFileSync(f, data);
    const fd = openSync(f, 'r');
    try {
      const r = await hashFileThreaded(fd, f).result;
      expect(r.bytes).toBe(n);
      expect(toHex(r.digest)).toBe(hashOf(data));
    } finally {
      closeSync(fd);
    }
  });
  it('a descriptor that cannot be read gives an io ErofsError naming the file', async () => {
    const d = openSync(dir, 'r'); // a directory: read() fails with EISDIR
    try {
      const err = await hashFileThreaded(d, dir).result.catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ErofsError);
      expect((err as ErofsError).code).toBe('io');
      expect((err as ErofsError).message).toContain(dir);
    } finally {
      closeSync(d);
    }
  });
  it('cancel stops the worker without an unhandled rejection', async () => {
    const f = join(dir, 'cancel');
    writeFileSync(f, bytes(1 << 20, 3));
    const fd = openSync(f, 'r');
    const job = hashFileThreaded(fd, f);
    job.cancel();
    // Nothing settles after a cancel; give the worker time to be gone before closing the fd.
    await new Promise((r) => setTimeout(r, 100));
    closeSync(fd);
    const settled = await Promise.race([job.result.then(() => 'resolved', () => 'rejected'), new Promise((r) => setTimeout(() => r('pending'), 200))]);
    expect(['pending', 'resolved']).toContain(settled);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
});
