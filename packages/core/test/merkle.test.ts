/**
 * The stored Merkle tree (`merkleTree()`, like `fsverity digest --out-merkle-tree`), its
 * geometry, leaf digests fed from outside (`appendLeafDigests`) and the worker-thread file
 * hasher (`fsverityFile`) — against fsverity-utils on every hash × block size × salt.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FsVerityHasher, formatDigest, merkleTreeGeometry, type FsVerityOptions } from '../src/digest/fsverity.js';
import { toHex, type HashAlgorithm } from '../src/digest/hash.js';
import { nodeHash } from '../src/node/digest.js';
import { fsverityFile } from '../src/node/merkle-pool.js';

const unhex = (h: string): Uint8Array => Uint8Array.from(h.match(/../g) ?? [], (b) => parseInt(b, 16));

/** Deterministic content: every 4-byte word distinct across the file (no two equal blocks). */
function pattern(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n);
  let x = (seed * 2654435761) >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    if ((i & 3) === 0) {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      x >>>= 0;
    }
    out[i] = (x >>> ((i & 3) * 8)) & 0xff;
  }
  return out;
}

interface Params {
  algorithm: HashAlgorithm;
  blockSize: number;
  salt: string;
}
const SALT = '5a17ed';
/** hash × block size × salt: the 12 parameter sets of the issue. */
const PARAMS: Params[] = [];
for (const algorithm of ['sha256', 'sha512'] as const) {
  for (const blockSize of [1024, 4096, 65536]) for (const salt of ['', SALT]) PARAMS.push({ algorithm, blockSize, salt });
}
const label = (p: Params): string => `${p.algorithm}/${p.blockSize}${p.salt ? '/salt' : ''}`;
const SIZES = [0, 1, 4095, 4096, 4097, 129 * 4096, 10 << 20];

const tool = spawnSync('fsverity', ['--version'], { encoding: 'utf8' });
const toolMissing = tool.error !== undefined || tool.status !== 0;
const missingReason = 'fsverity (fsverity-utils) not found: apt-get install fsverity';
if (toolMissing && !process.env.CI) console.warn(`merkle.test.ts: SKIPPING the comparisons with fsverity-utils: ${missingReason}`);

describe('merkleTreeGeometry', () => {
  it('counts levels top first, like the kernel stores them', () => {
    expect(merkleTreeGeometry(0, 4096, 'sha256')).toEqual({ levels: [], size: 0 });
    expect(merkleTreeGeometry(4096, 4096, 'sha256')).toEqual({ levels: [], size: 0 });
    // 129 data blocks → 2 blocks of digests (128 per block) → 1 block on top.
    expect(merkleTreeGeometry(129 * 4096, 4096, 'sha256')).toEqual({
      levels: [
        { blocks: 1, offset: 0 },
        { blocks: 2, offset: 4096 },
      ],
      size: 3 * 4096,
    });
    // 1 GiB, sha512, 1 KiB blocks: 2^20 leaves, 16 digests per block → 65536, 4096, 256, 16, 1.
    expect(merkleTreeGeometry(1 << 30, 1024, 'sha512').levels.map((l) => l.blocks)).toEqual([1, 16, 256, 4096, 65536]);
  });
});

describe('Merkle tree pieces (no external tool)', () => {
  it('appendLeafDigests gives the same tree, root and digest as update', () => {
    for (const p of PARAMS) {
      const data = pattern(300_001, p.blockSize);
      const opts: FsVerityOptions = { algorithm: p.algorithm, blockSize: p.blockSize, salt: unhex(p.salt), hash: nodeHash(p.algorithm), keepTree: true };
      const direct = new FsVerityHasher(opts);
      direct.update(data);
      // Leaves computed outside (the root of a one-block file is the hash of its padded
      // block), fed in two calls.
      const split = Math.floor(data.length / p.blockSize / 2) * p.blockSize;
      const leafDigests = (from: number, to: number): Uint8Array => {
        const parts: Uint8Array[] = [];
        for (let o = from; o < to; o += p.blockSize) {
          const one = new FsVerityHasher({ ...opts, keepTree: false });
          one.update(data.subarray(o, Math.min(to, o + p.blockSize)));
          parts.push(one.rootHash());
        }
        const out = new Uint8Array(parts.length * parts[0]!.length);
        parts.forEach((d, i) => out.set(d, i * d.length));
        return out;
      };
      const fed = new FsVerityHasher(opts);
      fed.appendLeafDigests(leafDigests(0, split), split);
      fed.appendLeafDigests(leafDigests(split, data.length), data.length - split);
      expect(() => fed.update(Uint8Array.of(1)), label(p)).toThrow(/partial last block/);
      expect(toHex(fed.merkleTree()), label(p)).toBe(toHex(direct.merkleTree()));
      expect(fed.descriptor(), label(p)).toEqual(direct.descriptor());
      expect(merkleTreeGeometry(data.length, p.blockSize, p.algorithm).size, label(p)).toBe(direct.merkleTree().length);
    }
  });
  it('refuses misuse: leaves off a block boundary, a wrong digest count, merkleTree without keepTree', () => {
    const h = new FsVerityHasher({ hash: nodeHash('sha256') });
    h.update(Uint8Array.of(1, 2, 3));
    expect(() => h.appendLeafDigests(new Uint8Array(32), 4096)).toThrow(/block boundary/);
    const g = new FsVerityHasher({ hash: nodeHash('sha256') });
    expect(() => g.appendLeafDigests(new Uint8Array(64), 4096)).toThrow(/64 bytes of digests for 4096/);
    expect(() => g.merkleTree()).toThrow(/keepTree/);
  });
});

// Known answers: fixed content, digests printed by fsverity-utils 1.5 (pinned, so a change in
// either implementation shows up here even where the tool is missing).
const KNOWN: ReadonlyArray<readonly [number, Params, string]> = [
  [129 * 4096, { algorithm: 'sha256', blockSize: 4096, salt: '' }, 'sha256:dede72ea2441e8ecb91dd82b29912feda3bfa85836e2f4ae954d67619e22c296'],
  [129 * 4096, { algorithm: 'sha256', blockSize: 1024, salt: SALT }, 'sha256:bcf3f33023a259f59ab5e694427609076bca01b22d97da4073e0b362b1f3c678'],
  [129 * 4096, { algorithm: 'sha512', blockSize: 65536, salt: SALT }, 'sha512:e80fec5019d0b4ea59289726dd9ccb30cec9418eaef73b95704e21240d2bb3a0377030742d013ae582d16067893c726eace45285210c0da23f439afa69d1eca8'],
  [4097, { algorithm: 'sha512', blockSize: 1024, salt: '' }, 'sha512:64405b65f15c46d274af26584c7769b56cd2cc050d22e4c7ee96544ff835cce9d1198204eba98510232e7cf8c94ab9b91d11596e9c58a1c852d46f253fd49b7c'],
];

describe('known answers (pattern content, pinned from fsverity-utils 1.5)', () => {
  for (const [size, p, want] of KNOWN) {
    it(`${size} B, ${label(p)}`, async () => {
      const h = new FsVerityHasher({ algorithm: p.algorithm, blockSize: p.blockSize, salt: unhex(p.salt), hash: nodeHash(p.algorithm) });
      h.update(pattern(size, 7));
      expect(formatDigest(h.digest(), p.algorithm)).toBe(want);
    });
  }
});

// Every way fsverityFile reads a file gives the pinned answers: the calling thread alone, the
// calling thread with workers (ranges of a few blocks, so the threads interleave and the
// replies come out of order), and a FIFO (its size unknown until its end: read as a stream).
describe('fsverityFile: calling thread, with workers, and from a FIFO', () => {
  let dir = '';
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'erofs-kit-merkle-paths-'));
  });
  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });
  KNOWN.forEach(([size, p, want], i) => {
    it(`${size} B, ${label(p)}`, async () => {
      const file = join(dir, `f${i}`);
      writeFileSync(file, pattern(size, 7));
      const opts = { algorithm: p.algorithm, blockSize: p.blockSize, salt: unhex(p.salt) };
      const alone = await fsverityFile(file, { ...opts, workers: 0 });
      expect(formatDigest(alone.digest(), p.algorithm), 'calling thread').toBe(want);
      const shared = await fsverityFile(file, { ...opts, workers: 2, threshold: 0, rangeBytes: 2 * p.blockSize });
      expect(formatDigest(shared.digest(), p.algorithm), 'calling thread and 2 workers').toBe(want);
      const fifo = join(dir, `p${i}`);
      expect(spawnSync('mkfifo', [fifo]).status, 'mkfifo').toBe(0);
      // The writer is another process: opening a FIFO blocks until both ends are open.
      const writer = spawn('sh', ['-c', 'cat "$0" > "$1"', file, fifo], { stdio: 'ignore' });
      const streamed = await fsverityFile(fifo, opts);
      if (writer.exitCode === null && writer.signalCode === null) await new Promise((resolve) => writer.once('exit', resolve));
      expect(formatDigest(streamed.digest(), p.algorithm), 'FIFO').toBe(want);
    });
  });
});

describe.skipIf(toolMissing && !process.env.CI)('tree, descriptor and threaded digest equal fsverity-utils', () => {
  let dir = '';
  const files = new Map<number, string>();
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'erofs-kit-merkle-'));
    for (const size of SIZES) {
      const path = join(dir, `f${size}`);
      writeFileSync(path, pattern(size, size + 3));
      files.set(size, path);
    }
  });
  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('the fsverity tool is installed (required when CI is set)', () => {
    expect(toolMissing, missingReason).toBe(false);
  });

  for (const p of PARAMS) {
    it(label(p), async () => {
      for (const size of SIZES) {
        const path = files.get(size)!;
        const base = `${path}.${label(p).replace(/\//g, '-')}`;
        const args = ['digest', path, `--hash-alg=${p.algorithm}`, `--block-size=${p.blockSize}`, `--out-descriptor=${base}.desc`, `--out-merkle-tree=${base}.tree`];
        if (p.salt) args.push(`--salt=${p.salt}`);
        const r = spawnSync('fsverity', args, { encoding: 'utf8' });
        if (r.status !== 0) throw new Error(`fsverity ${args.join(' ')}: ${r.stderr}`);
        const want = { digest: r.stdout.split(' ')[0]!, descriptor: readFileSync(`${base}.desc`), tree: readFileSync(`${base}.tree`) };
        const what = `${label(p)}, ${size} B`;
        const common = { algorithm: p.algorithm, blockSize: p.blockSize, salt: unhex(p.salt), keepTree: true };
        // On the calling thread, then by workers with small ranges (many ranges, out-of-order replies).
        const single = await fsverityFile(path, { ...common, workers: 0 });
        const threaded = await fsverityFile(path, { ...common, workers: 3, threshold: 0, rangeBytes: 3 * p.blockSize });
        for (const [how, h] of [['single', single], ['threaded', threaded]] as const) {
          expect(formatDigest(h.digest(), p.algorithm), `${what} ${how}: digest`).toBe(want.digest);
          expect(Buffer.from(h.descriptor()).equals(want.descriptor), `${what} ${how}: descriptor`).toBe(true);
          const tree = h.merkleTree();
          expect(tree.length, `${what} ${how}: tree size`).toBe(want.tree.length);
          expect(Buffer.from(tree).equals(want.tree), `${what} ${how}: tree bytes`).toBe(true);
          expect(tree.length, `${what}: geometry`).toBe(merkleTreeGeometry(size, p.blockSize, p.algorithm).size);
        }
      }
    });
  }
});
