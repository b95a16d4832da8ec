/**
 * Images built here with the reference mkfs.erofs from a source tree made by make_sample.py,
 * in every layout the fixtures use (directory source at 4096- and 512-byte blocks, chunked,
 * tar full, tar index with the tar as an extra device, tar index with the tar appended). They
 * back the differential test with known content independent of the checked-in fixtures, and
 * let it check the harness itself (the kernel's view of a directory-built image must match
 * the source directory).
 */
import { spawnSync } from 'node:child_process';
import { createWriteStream, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MKFS } from './judges.js';
import type { Fixture } from './fixtures.js';

export const MAKE_SAMPLE = fileURLToPath(new URL('./make_sample.py', import.meta.url));

export interface Sample {
  /** Temporary directory holding everything below; remove with {@link removeSample}. */
  dir: string;
  /** The source tree. */
  source: string;
  fixtures: Fixture[];
}

/** Names of the sample images, known before they are built (for describe.each). */
export const SAMPLE_NAMES = ['dir-4k', 'dir-512', 'dir-chunked', 'dir-lz4hc', 'dir-lzma-512', 'tar-full', 'tar-index', 'tar-index-appended'] as const;

/** Sample images built from a directory (whose kernel view must equal the source tree). */
export const FROM_DIRECTORY = new Set<string>(['dir-4k', 'dir-512', 'dir-chunked', 'dir-lz4hc', 'dir-lzma-512']);

function run(cmd: string, args: string[], cwd?: string): void {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 300_000, ...(cwd === undefined ? {} : { cwd }) });
  if (r.error) throw new Error(`${cmd} ${args.join(' ')}: ${r.error.message}`);
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.status ?? r.signal}: ${(r.stderr || r.stdout).trim()}`);
}

async function concat(out: string, parts: string[]): Promise<void> {
  const ws = createWriteStream(out);
  for (const p of parts) ws.write(readFileSync(p));
  await new Promise<void>((resolve, reject) => ws.end((e?: Error | null) => (e ? reject(e) : resolve())));
}

/** Builds the source tree and every sample image. */
export async function buildSample(): Promise<Sample> {
  const dir = mkdtempSync(join(tmpdir(), 'erofs-kit-sample-'));
  try {
    const source = join(dir, 'src');
    run('python3', [MAKE_SAMPLE, source]);
    const img = (name: string): string => join(dir, name);
    // A fixed build time keeps the images reproducible; per-file mtimes are kept as they are.
    const mkfs = (args: string[]): void => run(MKFS, ['--quiet', '-T', '1700000000', '--mkfs-time', ...args]);
    mkfs(['-b4096', img('dir-4k.erofs'), source]);
    mkfs(['-b512', img('dir-512.erofs'), source]);
    mkfs(['-b4096', '--chunksize=8192', img('dir-chunked.erofs'), source]);
    // compressed: every other file type and xattr next to compressed regular files
    mkfs(['-b4096', '-zlz4hc', '-C16384', '-Eztailpacking', '-Efragments', img('dir-lz4hc.erofs'), source]);
    mkfs(['-b512', '-zlzma', '-C4096', img('dir-lzma-512.erofs'), source]);
    // The tar: POSIX format with xattrs and ACLs (sockets are not archived).
    run('tar', ['--format=posix', '--xattrs', "--xattrs-include=*", '--acls', '--numeric-owner', '-cf', img('layer.tar'), '-C', source, '.']);
    mkfs(['--tar=f', img('tar-full.erofs'), img('layer.tar')]);
    mkfs(['--tar=i', img('tar-index.erofs'), img('layer.tar')]);
    await concat(img('tar-index-appended.erofs'), [img('tar-index.erofs'), img('layer.tar')]);
    const fixture = (name: string, devices: string[] = [], appended = false): Fixture => ({
      name,
      image: img(`${name}.erofs`),
      devices,
      appended,
    });
    return {
      dir,
      source,
      fixtures: [
        fixture('dir-4k'),
        fixture('dir-512'),
        fixture('dir-chunked'),
        fixture('dir-lz4hc'),
        fixture('dir-lzma-512'),
        fixture('tar-full'),
        fixture('tar-index', [img('layer.tar')]),
        fixture('tar-index-appended', [], true),
      ],
    };
  } catch (e) {
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
}

export function removeSample(s: Sample | undefined): void {
  if (s) rmSync(s.dir, { recursive: true, force: true });
}
