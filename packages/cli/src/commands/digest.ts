import { formatDigest, toHex, type HashAlgorithm } from '@erofs-kit/core';
import { fsverityFile, type FsVerityFileOptions } from '@erofs-kit/core/node';
import { Out, UsageError, type Command } from '../util.js';
import { Outputs } from '../outputs.js';
import { SUMMARIES } from './summaries.js';

/** Parses `--salt HEX` as fsverity-utils does: an even number of hex digits. */
function parseSalt(s: string): Uint8Array {
  if (!/^([0-9a-fA-F]{2})*$/.test(s)) throw new UsageError(`--salt ${JSON.stringify(s)} is not a hex string of whole bytes`);
  if (s.length > 64) throw new UsageError(`--salt is ${s.length / 2} bytes; fs-verity allows at most 32`);
  return Uint8Array.from(s.match(/../g) ?? [], (b) => parseInt(b, 16));
}

function parseAlgorithm(v: unknown): HashAlgorithm {
  if (v === undefined) return 'sha256';
  if (v === 'sha256' || v === 'sha512') return v;
  throw new UsageError(`--hash ${String(v)}: use sha256 or sha512`);
}

function parseBlockSize(v: unknown): number {
  if (v === undefined) return 4096;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1024 || n > 65536 || (n & (n - 1)) !== 0) {
    throw new UsageError(`--block-size ${String(v)}: a power of two from 1024 to 65536`);
  }
  return n;
}

export const digest: Command = {
  name: 'digest',
  summary: SUMMARIES.digest,
  usage: 'erofs-kit digest FILE... [--hash sha256|sha512] [--block-size N] [--salt HEX] [--out-descriptor F] [--out-merkle-tree F] [--compact] [--json] [--jobs N]',
  help: `Prints "sha256:<hex> FILE" for each FILE: the fs-verity file digest that the kernel reports
for the file once verity is enabled (FS_IOC_MEASURE_VERITY), that composefs pins and that
\`fsverity digest\` prints, with the same options (--hash-alg is accepted for --hash). Files
of 16 MiB or more are hashed on every core: this thread and a worker thread per other core
(--jobs N: N threads in all, this one and N-1 workers; 1 = this thread only).
  --out-descriptor F   write the 256-byte fs-verity descriptor (one FILE only)
  --out-merkle-tree F  write the Merkle tree, top level first, as fs-verity stores it (one FILE only)
  --compact            print only the hex digest
  --json               print [{file, digest, algorithm, blockSize, salt, size}]`,
  options: {
    hash: { type: 'string' },
    'hash-alg': { type: 'string' },
    'block-size': { type: 'string' },
    salt: { type: 'string' },
    'out-descriptor': { type: 'string' },
    'out-merkle-tree': { type: 'string' },
    compact: { type: 'boolean' },
    json: { type: 'boolean' },
    jobs: { type: 'string', short: 'j' },
  },
  async run({ values, positionals }) {
    if (values.hash !== undefined && values['hash-alg'] !== undefined && values.hash !== values['hash-alg']) {
      throw new UsageError('--hash and --hash-alg disagree');
    }
    const algorithm = parseAlgorithm(values.hash ?? values['hash-alg']);
    const blockSize = parseBlockSize(values['block-size']);
    const salt = typeof values.salt === 'string' ? parseSalt(values.salt) : new Uint8Array(0);
    const outDesc = values['out-descriptor'] as string | undefined;
    const outTree = values['out-merkle-tree'] as string | undefined;
    if ((outDesc !== undefined || outTree !== undefined) && positionals.length !== 1) {
      throw new UsageError('--out-descriptor and --out-merkle-tree take exactly one FILE');
    }
    const opts: FsVerityFileOptions = { algorithm, blockSize, salt, keepTree: outTree !== undefined };
    if (values.jobs !== undefined) {
      const j = Number(values.jobs);
      if (!Number.isInteger(j) || j < 1 || j > 64) throw new UsageError(`--jobs ${String(values.jobs)}: an integer from 1 to 64`);
      opts.workers = j - 1;
    }
    const out = new Out();
    const results: { file: string; digest: string; algorithm: HashAlgorithm; blockSize: number; salt: string; size: number }[] = [];
    for (const file of positionals) {
      const h = await fsverityFile(file, opts);
      const d = h.digest();
      // through temp files renamed into place: an interrupted run leaves no partial file
      const outputs = new Outputs();
      try {
        if (outDesc !== undefined) outputs.writeFile(outDesc, h.descriptor());
        if (outTree !== undefined) outputs.writeFile(outTree, h.merkleTree());
      } finally {
        outputs.cleanup();
      }
      if (values.json) {
        results.push({ file, digest: formatDigest(d, algorithm), algorithm, blockSize, salt: toHex(salt), size: h.size });
      } else out.line(values.compact ? toHex(d) : `${formatDigest(d, algorithm)} ${file}`);
    }
    if (values.json) out.line(JSON.stringify(results, null, 2));
    out.flush();
    return 0;
  },
};
