/**
 * `erofs-kit digest` against `fsverity digest` (fsverity-utils): the same printed lines for
 * files of 0, 1, 4095, 4096, 4097 bytes, 129 blocks, 10 MiB and a generated 1 GiB file, for
 * sha256 and sha512, block sizes 1024/4096/65536, with and without salt; the descriptor and
 * Merkle tree files byte for byte. Without fsverity the comparisons are skipped (loudly),
 * under CI they fail.
 */
import { spawnSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cliMissing, runCli } from './support/cli.js';
import { hasFsverity, skipWithoutJudges } from './support/judges.js';

const missing = cliMissing();
if (missing) throw new Error(missing);

const SALT = '00c0ffee';
const PARAMS: { alg: string; bs: number; salt: string }[] = [];
for (const alg of ['sha256', 'sha512']) for (const bs of [1024, 4096, 65536]) for (const salt of ['', SALT]) PARAMS.push({ alg, bs, salt });
const SIZES = [0, 1, 4095, 4096, 4097, 129 * 4096, 10 << 20];

/** Deterministic bytes (xorshift32 words), different per seed. */
function bytesOf(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n);
  const words = new Uint32Array(out.buffer, 0, n >>> 2);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < words.length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    words[i] = x >>> 0;
  }
  for (let i = words.length * 4; i < n; i++) out[i] = (i * 131 + seed) & 0xff;
  return out;
}

function fsverity(args: string[]): string {
  const r = spawnSync('fsverity', ['digest', ...args], { encoding: 'utf8', timeout: 300_000 });
  if (r.status !== 0) throw new Error(`fsverity digest ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

function kit(args: string[]): string {
  const r = runCli(['digest', ...args]);
  if (r.status !== 0) throw new Error(`erofs-kit digest ${args.join(' ')} exited ${r.status}: ${r.stderr}`);
  return r.stdout;
}

const paramArgs = (p: { alg: string; bs: number; salt: string }, fsverityStyle: boolean): string[] => [
  fsverityStyle ? `--hash-alg=${p.alg}` : `--hash=${p.alg}`,
  `--block-size=${p.bs}`,
  ...(p.salt ? [`--salt=${p.salt}`] : []),
];

const dir = mkdtempSync(join(tmpdir(), 'erofs-kit-digest-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const files = SIZES.map((size) => join(dir, `f${size}`));

describe('digest: usage', () => {
  beforeAll(() => SIZES.forEach((size, i) => writeFileSync(files[i]!, bytesOf(size, i + 1))));
  it('refuses bad parameters with exit 2', () => {
    for (const bad of [['--hash', 'md5'], ['--block-size', '3000'], ['--block-size', '512'], ['--salt', 'abc'], ['--salt', '00'.repeat(33)], ['--jobs', '-1'], ['--jobs', '0']]) {
      const r = runCli(['digest', files[1]!, ...bad]);
      expect(r.status, bad.join(' ')).toBe(2);
      expect(r.stderr, bad.join(' ')).toContain(bad[0]!);
    }
    expect(runCli(['digest', files[1]!, files[2]!, '--out-descriptor', join(dir, 'x')]).status).toBe(2);
    expect(runCli(['digest']).status).toBe(2);
  });
  it('a missing file is exit 1 with the file named', () => {
    const r = runCli(['digest', join(dir, 'absent')]);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/absent.*ENOENT/);
  });
  it('--json and --compact print the same digest as the plain form', () => {
    const plain = kit([files[4]!]).trim();
    const j = JSON.parse(kit([files[4]!, '--json'])) as { file: string; digest: string; size: number; blockSize: number }[];
    expect(j).toHaveLength(1);
    expect(`${j[0]!.digest} ${j[0]!.file}`).toBe(plain);
    expect(j[0]!.size).toBe(4097);
    expect(j[0]!.blockSize).toBe(4096);
    expect(kit([files[4]!, '--compact']).trim()).toBe(plain.slice('sha256:'.length, plain.indexOf(' ')));
  });
});

const skip = skipWithoutJudges('digest against fsverity-utils', hasFsverity());
describe.skipIf(skip)('digest equals `fsverity digest`', () => {
  beforeAll(() => SIZES.forEach((size, i) => writeFileSync(files[i]!, bytesOf(size, i + 1))));

  for (const p of PARAMS) {
    it(`${p.alg}, ${p.bs}-byte blocks${p.salt ? ', salted' : ''}: all sizes, one call each`, () => {
      expect(kit([...files, ...paramArgs(p, false)])).toBe(fsverity([...files, ...paramArgs(p, true)]));
      // fsverity's own option name works too, and --jobs is accepted (10 MiB is below the 16 MiB
      // threshold for workers; the generated 1 GiB file below takes the threaded path).
      expect(kit([files[6]!, '--jobs', '2', ...paramArgs(p, true)])).toBe(fsverity([files[6]!, ...paramArgs(p, true)]));
    });
  }

  it('--out-descriptor and --out-merkle-tree equal fsverity-utils output byte for byte', () => {
    for (const p of [PARAMS[0]!, PARAMS[3]!, PARAMS[11]!]) {
      for (const f of [files[1]!, files[5]!, files[6]!]) {
        const o = (who: string, what: string): string => join(dir, `${who}.${p.alg}.${p.bs}.${p.salt}.${what}`);
        fsverity([f, ...paramArgs(p, true), `--out-descriptor=${o('ref', 'desc')}`, `--out-merkle-tree=${o('ref', 'tree')}`]);
        kit([f, ...paramArgs(p, false), '--out-descriptor', o('kit', 'desc'), '--out-merkle-tree', o('kit', 'tree')]);
        expect(readFileSync(o('kit', 'desc')).equals(readFileSync(o('ref', 'desc'))), `${f} ${JSON.stringify(p)} descriptor`).toBe(true);
        expect(readFileSync(o('kit', 'tree')).equals(readFileSync(o('ref', 'tree'))), `${f} ${JSON.stringify(p)} tree`).toBe(true);
      }
    }
  });

  it('a generated 1 GiB file (worker threads): sha256/4096 and sha512/65536 salted', () => {
    const big = join(dir, 'big-1g');
    // 1024 distinct MiB: one random MiB with its first words changed per MiB and per block.
    const chunk = Buffer.from(bytesOf(1 << 20, 99));
    const fd = openSync(big, 'w');
    try {
      for (let m = 0; m < 1024; m++) {
        for (let b = 0; b < 256; b++) chunk.writeUInt32LE((m << 8) | b, b * 4096);
        writeSync(fd, chunk);
      }
    } finally {
      closeSync(fd);
    }
    try {
      for (const p of [PARAMS[2]!, PARAMS[11]!]) {
        expect(kit([big, ...paramArgs(p, false)]), JSON.stringify(p)).toBe(fsverity([big, ...paramArgs(p, true)]));
      }
    } finally {
      rmSync(big, { force: true });
    }
  }, 300_000);
});
