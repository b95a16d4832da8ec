import { spawnSync } from 'node:child_process';
import { createReadStream, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FsVerityHasher, formatDigest, fsverityDigest, type FsVerityOptions } from '../src/digest/fsverity.js';
import { fsverityDescriptor } from '../src/digest/format.js';
import { sha256, sha512, toHex, type HashAlgorithm, type HashFactory } from '../src/digest/hash.js';
import { decode, trace } from '../src/layout/struct.js';
import { nodeSha256, nodeSha512 } from '../src/node/digest.js';

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
const unhex = (h: string): Uint8Array => Uint8Array.from(h.match(/../g) ?? [], (b) => parseInt(b, 16));

/** Both backends, for every algorithm: noble (core default) and node:crypto (Node entry). */
const BACKENDS: Record<HashAlgorithm, ReadonlyArray<readonly [string, HashFactory]>> = {
  sha256: [['noble', sha256], ['node', nodeSha256]],
  sha512: [['noble', sha512], ['node', nodeSha512]],
};

/** `chunkSizes` applied cyclically; every chunk is a view into `bytes` (no copies). */
function* chunks(bytes: Uint8Array, chunkSizes: readonly number[]): Generator<Uint8Array> {
  let i = 0;
  for (let pos = 0; pos < bytes.length; i++) {
    const n = chunkSizes[i % chunkSizes.length]!;
    yield bytes.subarray(pos, pos + n);
    pos += n;
  }
}

function hashWith(bytes: Uint8Array, opts: FsVerityOptions, chunkSizes: readonly number[]): Uint8Array {
  const h = new FsVerityHasher(opts);
  for (const c of chunks(bytes, chunkSizes)) h.update(c);
  return h.digest();
}

describe('sha256 / sha512 backends (FIPS 180-4 examples)', () => {
  const vectors: ReadonlyArray<readonly [HashAlgorithm, string, string]> = [
    ['sha256', '', 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855'],
    ['sha256', 'abc', 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad'],
    ['sha256', 'abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq', '248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1'],
    ['sha512', '', 'cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e'],
    ['sha512', 'abc', 'ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f'],
  ];
  for (const [alg, msg, want] of vectors) {
    for (const [backend, factory] of BACKENDS[alg]) {
      it(`${backend} ${alg}(${JSON.stringify(msg)})`, () => {
        expect(factory.algorithm).toBe(alg);
        expect(toHex(factory().update(enc(msg)).digest())).toBe(want);
        // Incremental: one byte per update gives the same digest.
        const h = factory();
        for (const b of enc(msg)) h.update(Uint8Array.of(b));
        expect(toHex(h.digest())).toBe(want);
        if (factory.oneShot) expect(toHex(factory.oneShot(enc(msg)))).toBe(want);
      });
    }
  }
  it('a million times "a" (sha256, both backends, uneven updates)', () => {
    const a = new Uint8Array(1_000_000).fill(0x61);
    for (const [, factory] of BACKENDS.sha256) {
      const h = factory();
      for (const c of chunks(a, [1, 63, 64, 65, 4096, 99_999])) h.update(c);
      expect(toHex(h.digest())).toBe('cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0');
    }
  });
});

describe('fsverity_descriptor table', () => {
  it('is 256 bytes with the offsets of erofs-format.md §10 and the kernel header', () => {
    expect(fsverityDescriptor.size).toBe(256);
    expect(fsverityDescriptor.fields.map((f) => [f.name, f.offset, f.size])).toEqual([
      ['version', 0, 1],
      ['hash_algorithm', 1, 1],
      ['log_blocksize', 2, 1],
      ['salt_size', 3, 1],
      ['sig_size', 4, 4],
      ['data_size', 8, 8],
      ['root_hash', 16, 64],
      ['salt', 80, 32],
      ['__reserved', 112, 144],
    ]);
  });
  it('the descriptor of "A" matches erofs-format.md A.9 and traces every byte once', () => {
    const h = new FsVerityHasher();
    h.update(enc('A'));
    const d = h.descriptor();
    expect(toHex(d.subarray(0, 20))).toBe('01010c00' + '00000000' + '0100000000000000' + '9aab2ec0');
    const v = decode(fsverityDescriptor, d);
    expect(v.data_size).toBe(1n);
    expect(toHex(v.root_hash.subarray(0, 32))).toBe(toHex(h.rootHash()));
    const spans = trace(fsverityDescriptor, v, 0, 'fsverity_descriptor');
    expect(spans.map((s) => s.end - s.start).reduce((a, b) => a + b)).toBe(256);
    spans.forEach((s, i) => expect(s.start).toBe(i === 0 ? 0 : spans[i - 1]!.end));
    expect(formatDigest(h.digest(), 'sha256')).toBe(`sha256:${toHex(sha256().update(d).digest())}`);
  });
});

describe('fs-verity known answers (erofs-format.md §10)', () => {
  const known: ReadonlyArray<readonly [string, string]> = [
    ['', 'sha256:3d248ca542a24fc62d1c43b916eae5016878e2533c88238480b26128a1f1af95'],
    ['A', 'sha256:9845e616f7d2f7a1cd6742f0546a36d2e74d4eb8ae7d9bdc0b0df982c27861b7'],
  ];
  for (const [content, want] of known) {
    for (const [backend, hash] of BACKENDS.sha256) {
      it(`${JSON.stringify(content)} through ${backend}`, async () => {
        expect(formatDigest(await fsverityDigest(enc(content), { hash }), 'sha256')).toBe(want);
        expect(formatDigest(await fsverityDigest([enc(content)], { hash }), 'sha256')).toBe(want);
      });
    }
  }
  it('empty file: root hash is all zeros, data_size 0', () => {
    const h = new FsVerityHasher({ algorithm: 'sha512' });
    expect(h.rootHash()).toEqual(new Uint8Array(64));
    expect(decode(fsverityDescriptor, h.descriptor()).data_size).toBe(0n);
  });
  it('a file of one block: root = hash of that block, no further level', () => {
    const block = new Uint8Array(4096).fill(7);
    const h = new FsVerityHasher();
    h.update(block);
    expect(h.rootHash()).toEqual(sha256().update(block).digest());
  });
});

describe('FsVerityHasher options and misuse', () => {
  const code = (f: () => unknown): string | undefined => {
    try {
      f();
    } catch (e) {
      return (e as { code?: string }).code ?? 'no code';
    }
    return undefined;
  };
  it.each([512, 3000, 131072, 0, 4096.5])('refuses block size %s', (blockSize) => {
    expect(code(() => new FsVerityHasher({ blockSize }))).toBe('invalid-value');
  });
  it('refuses a salt over 32 bytes, accepts 32', () => {
    expect(code(() => new FsVerityHasher({ salt: new Uint8Array(33) }))).toBe('invalid-value');
    expect(code(() => new FsVerityHasher({ salt: new Uint8Array(32) }))).toBeUndefined();
  });
  it('refuses a backend for another algorithm, tagged or not', () => {
    expect(code(() => new FsVerityHasher({ algorithm: 'sha256', hash: nodeSha512 }))).toBe('invalid-value');
    const untagged: HashFactory = () => sha512();
    expect(code(() => new FsVerityHasher({ hash: untagged }))).toBe('invalid-value');
    expect(code(() => new FsVerityHasher({ algorithm: 'md5' as HashAlgorithm }))).toBe('invalid-value');
  });
  it('takes the algorithm from a tagged backend', () => {
    expect(new FsVerityHasher({ hash: nodeSha512 }).algorithm).toBe('sha512');
  });
  it('digest is repeatable; update after it throws; results are copies', () => {
    const h = new FsVerityHasher();
    h.update(enc('A'));
    const a = h.digest();
    a.fill(0);
    expect(formatDigest(h.digest(), 'sha256')).toBe('sha256:9845e616f7d2f7a1cd6742f0546a36d2e74d4eb8ae7d9bdc0b0df982c27861b7');
    expect(() => h.update(enc('B'))).toThrow(/after digest/);
  });
  it('the salt is copied at construction', () => {
    const salt = unhex('0102030405');
    const h = new FsVerityHasher({ salt });
    salt.fill(0);
    expect(toHex(h.salt)).toBe('0102030405');
  });
  it('fsverityDigest refuses non-byte stream chunks', async () => {
    await expect(fsverityDigest(['text' as unknown as Uint8Array])).rejects.toThrow(TypeError);
  });
});

// ---------------------------------------------------------------------------------------
// Differential: our digest equals `fsverity digest` (fsverity-utils) on the same file.

const tool = spawnSync('fsverity', ['--version'], { encoding: 'utf8' });
const toolMissing = tool.error !== undefined || tool.status !== 0;
const missingReason = 'fsverity (fsverity-utils) not found: apt-get install fsverity';
if (toolMissing && !process.env.CI) console.warn(`digest.test.ts: SKIPPING the differential tests: ${missingReason}`);

interface Params {
  name: string;
  algorithm: HashAlgorithm;
  blockSize: number;
  salt: string;
}
const PARAMS: readonly Params[] = [
  { name: 'default', algorithm: 'sha256', blockSize: 4096, salt: '' },
  { name: '5-byte salt', algorithm: 'sha256', blockSize: 4096, salt: 'a1b2c3d4e5' },
  { name: '1 KiB blocks', algorithm: 'sha256', blockSize: 1024, salt: '' },
  { name: 'sha512 + 32-byte salt', algorithm: 'sha512', blockSize: 4096, salt: '00112233445566778899aabbccddeeff0123456789abcdeffedcba9876543210' },
  { name: 'sha512 + 64 KiB blocks', algorithm: 'sha512', blockSize: 65536, salt: '' },
];
/** 129 blocks = a second tree level; 128 blocks and 1 MiB fill tree levels exactly (4 KiB and 1 KiB blocks). */
const SIZES: readonly number[] = [0, 1, 4095, 4096, 4097, 128 * 4096, 129 * 4096, 1 << 20, 10 * (1 << 20) + 1234];

/** Deterministic bytes (xorshift32), so a failing case can be regenerated. */
function pseudoRandom(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n);
  const words = new Uint32Array(out.buffer, 0, n >>> 2);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < words.length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    words[i] = x >>> 0;
  }
  for (let i = words.length * 4; i < n; i++) out[i] = (i * 131) & 0xff;
  return out;
}

describe.skipIf(toolMissing && !process.env.CI)('fs-verity digest equals `fsverity digest` (fsverity-utils)', () => {
  let dir = '';
  const files = new Map<number, { path: string; bytes: Uint8Array }>();
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'erofs-kit-digest-'));
    for (const size of SIZES) {
      const path = join(dir, `f${size}`);
      const bytes = pseudoRandom(size, size + 1);
      writeFileSync(path, bytes);
      files.set(size, { path, bytes });
    }
  });
  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('the fsverity tool is installed (required when CI is set)', () => {
    expect(toolMissing, missingReason).toBe(false);
  });

  function reference(path: string, p: Params): { digest: string; descriptor: Uint8Array } {
    const descPath = `${path}.${p.algorithm}.${p.blockSize}.${p.salt}.desc`;
    const args = ['digest', path, `--hash-alg=${p.algorithm}`, `--block-size=${p.blockSize}`, `--out-descriptor=${descPath}`];
    if (p.salt) args.push(`--salt=${p.salt}`);
    const r = spawnSync('fsverity', args, { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`fsverity ${args.join(' ')}: ${r.stderr}`);
    return { digest: r.stdout.split(' ')[0]!, descriptor: new Uint8Array(readFileSync(descPath)) };
  }

  for (const p of PARAMS) {
    for (const size of SIZES) {
      it(`${p.name}, ${size} B`, async () => {
        const { path, bytes } = files.get(size)!;
        const want = reference(path, p);
        for (const [backend, hash] of BACKENDS[p.algorithm]) {
          const opts: FsVerityOptions = { algorithm: p.algorithm, blockSize: p.blockSize, salt: unhex(p.salt), hash };
          const label = `${backend}, ${p.name}, ${size} B`;
          const whole = new FsVerityHasher(opts);
          whole.update(bytes);
          expect(whole.descriptor(), `${label}: descriptor`).toEqual(want.descriptor);
          expect(formatDigest(whole.digest(), p.algorithm), `${label}: whole`).toBe(want.digest);
          if (size <= 4097) {
            expect(formatDigest(hashWith(bytes, opts, [1]), p.algorithm), `${label}: 1-byte chunks`).toBe(want.digest);
          }
          // Random chunkings, around and across block boundaries; fast-check shrinks a failure
          // to the smallest list of chunk sizes that breaks it.
          const maxChunk = Math.max(2, Math.min(size, 3 * p.blockSize));
          fc.assert(
            fc.property(fc.array(fc.integer({ min: 1, max: maxChunk }), { minLength: 1, maxLength: 8 }), (sizes) => {
              expect(formatDigest(hashWith(bytes, opts, sizes), p.algorithm), `${label}: chunks ${sizes.join(',')}`).toBe(want.digest);
            }),
            { numRuns: size > 1 << 20 ? 2 : 12 },
          );
          // As an async stream of odd-sized chunks.
          const stream = (async function* () {
            yield* chunks(bytes, [p.blockSize - 1, 3, p.blockSize + 1, 777]);
          })();
          expect(formatDigest(await fsverityDigest(stream, opts), p.algorithm), `${label}: async stream`).toBe(want.digest);
        }
      });
    }
  }

  it('a Node file stream through fsverityDigest (node:crypto backend)', async () => {
    const { path } = files.get(SIZES[SIZES.length - 1]!)!;
    const p = PARAMS[0]!;
    const got = await fsverityDigest(createReadStream(path, { highWaterMark: 65536 + 17 }), { hash: nodeSha256 });
    expect(formatDigest(got, 'sha256')).toBe(reference(path, p).digest);
  });
});
