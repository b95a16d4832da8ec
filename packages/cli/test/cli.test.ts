/**
 * The CLI as a user and a pipeline see it: help, exit codes, JSON output, error messages
 * with offsets and codes, devices, and extraction that never leaves partial output.
 */
import { mkdtempSync, readFileSync, writeFileSync, existsSync, readdirSync, mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { CLI_BIN, CLI_DIST, runCli } from './support/cli.js';
import { SUMMARIES } from '../src/commands/summaries.js';
import { ErofsImage, MemorySource, crc32c, walk } from '@erofs-kit/core';
import { loadManifest, type Fixture } from './support/fixtures.js';

const m = loadManifest();
if (!m.ok) throw new Error(m.reason);
const fixtures = m.fixtures;
const plain = fixtures.find((f) => f.devices.length === 0 && !f.appended && /4k|default|basic/.test(f.name)) ?? fixtures[0]!;
const tarIndex = fixtures.find((f) => f.devices.length > 0 && !f.appended && /tar/.test(f.name));
const work = mkdtempSync(join(tmpdir(), 'erofs-kit-cli-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** Every command the dispatcher lists (its summaries); each is a bundle of its own (build.mjs). */
const COMMANDS = Object.keys(SUMMARIES);
const dev = (f: Fixture): string[] => f.devices.flatMap((d) => ['--device', d]);

describe('usage', () => {
  it('no arguments prints usage and exits 2', () => {
    const r = runCli([]);
    expect(r.status).toBe(2);
    for (const c of COMMANDS) expect(r.stdout).toContain(c);
  });
  it('the built command bundles are exactly the listed commands', () => {
    const built = readdirSync(dirname(CLI_DIST)).flatMap((f) => /^command-(.+)\.js$/.exec(f)?.[1] ?? []);
    expect(built.sort()).toEqual([...COMMANDS].sort());
  });
  it.each(COMMANDS)('%s --help exits 0 and shows its usage', (c) => {
    const r = runCli([c, '--help']);
    expect(r.status).toBe(0);
    expect(r.stdout).toContain(`usage: erofs-kit ${c}`);
  });
  it('an unknown command or option is a usage error (2)', () => {
    expect(runCli(['frobnicate']).status).toBe(2);
    const r = runCli(['ls', plain.image, '--bogus']);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/bogus/);
  });
  it('a missing IMAGE is a usage error', () => {
    expect(runCli(['inspect']).status).toBe(2);
  });
});

describe('read commands', () => {
  it('inspect --json reports superblock, features with kernel versions, and counts', () => {
    const r = runCli(['inspect', plain.image, '--json']);
    expect(r.status, r.stderr).toBe(0);
    const j = JSON.parse(r.stdout) as Record<string, any>;
    expect(j.blockSize).toBe(4096);
    expect(j.featureCompat.features.map((f: any) => f.name)).toContain('mtime');
    for (const f of [...j.featureCompat.features, ...j.featureIncompat.features]) expect(f.kernel).toMatch(/^\d+\.\d+$/);
    expect(j.counts.inodes).toBeGreaterThan(1);
    expect(j.counts.files).toBeGreaterThan(0);
  });

  it('ls -R --json lists every path once with stat fields', () => {
    const r = runCli(['ls', plain.image, '-R', '--json']);
    expect(r.status, r.stderr).toBe(0);
    const entries = JSON.parse(r.stdout) as { path: string; nid: number; type: string; mode: string }[];
    expect(entries[0]!.path).toBe('/');
    expect(new Set(entries.map((e) => e.path)).size).toBe(entries.length);
    expect(entries.every((e) => /^[0-7]{4}$/.test(e.mode))).toBe(true);
  });

  it('ls -l of the root agrees with stat for each entry', () => {
    const r = runCli(['ls', plain.image, '--json']);
    const entries = JSON.parse(r.stdout) as { path: string; nid: number; size: number }[];
    expect(entries.length).toBeGreaterThan(0);
    for (const e of entries.slice(0, 5)) {
      const s = JSON.parse(runCli(['stat', plain.image, e.path, '--json']).stdout) as { nid: number; size: number; offset: number };
      expect(s.nid).toBe(e.nid);
      expect(s.size).toBe(e.size);
      expect(s.offset % 32).toBe(0);
    }
  });

  it('cat writes the exact bytes of a file (checked against extract)', () => {
    const files = (JSON.parse(runCli(['ls', plain.image, '-R', '--json']).stdout) as { path: string; type: string; size: number }[]).filter(
      (e) => e.type === 'file' && e.size > 0,
    );
    const dest = join(work, 'cat-check');
    expect(runCli(['extract', plain.image, dest]).status).toBe(0);
    for (const f of files.slice(0, 10)) {
      const r = spawnSync(process.execPath, [CLI_BIN, 'cat', plain.image, f.path], { maxBuffer: 1 << 26 });
      expect(r.status).toBe(0);
      const bytes = readFileSync(join(dest, f.path));
      expect(bytes.length).toBe(f.size);
      expect(r.stdout.equals(bytes), f.path).toBe(true);
    }
  });

  it('a path that does not exist is not-found, exit 1', () => {
    const r = runCli(['stat', plain.image, '/no/such/file']);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/not-found/);
  });

  it('fsck passes a good image (exit 0) and --json says ok', () => {
    const r = runCli(['fsck', plain.image, '--json']);
    expect(r.status, r.stdout).toBe(0);
    expect(JSON.parse(r.stdout).ok).toBe(true);
  });
});

describe('compressed images', () => {
  const byName = (n: string): Fixture => {
    const f = fixtures.find((x) => x.name === n);
    if (!f) throw new Error(`fixture ${n} is missing from the manifest`);
    return f;
  };

  it('inspect names the algorithms and the compression features', () => {
    const r = runCli(['inspect', byName('hints-lz4hc-lzma').image, '--json']);
    expect(r.status, r.stderr).toBe(0);
    const j = JSON.parse(r.stdout) as { compression?: { algorithms: string[]; features: string[] } };
    expect(j.compression?.algorithms).toEqual(['lz4', 'lzma']);
    expect(j.compression?.features).toContain('compr_cfgs');
    const text = runCli(['inspect', byName('zstd-4k').image]).stdout;
    expect(text).toMatch(/^compression +zstd;/m);
    expect(JSON.parse(runCli(['inspect', plain.image, '--json']).stdout).compression).toBeUndefined();
  });

  it('stat shows per extent the algorithm and whether it is a pcluster, an inline tail or a fragment', () => {
    type Map = { logical: number; length: number; compression?: { algorithm: string; storage: string; encodedLength: number } }[];
    const mapOf = (fx: string, path: string): Map => {
      const r = runCli(['stat', byName(fx).image, path, '--json']);
      expect(r.status, r.stderr).toBe(0);
      return (JSON.parse(r.stdout) as { map: Map }).map;
    };
    const tail = mapOf('lz4hc-ztail', '/sizes/text-4097');
    expect(tail.map((m) => m.compression?.storage)).toContain('inline');
    const frag = mapOf('lz4hc-fragments', '/sizes/text-4097');
    expect(frag.map((m) => m.compression?.storage)).toEqual(['fragment']);
    const big = mapOf('lz4hc-4k', '/big/repetitive-3m');
    expect(big.length).toBeGreaterThan(1);
    expect(big.every((m) => m.compression?.storage === 'pcluster' && m.compression.algorithm === 'lz4')).toBe(true);
    // the extents tile the file
    expect(big.reduce((n, m) => n + m.length, 0)).toBe(3158073);
    const text = runCli(['stat', byName('lz4hc-ztail').image, '/sizes/text-4097']).stdout;
    expect(text).toMatch(/-> lz4 inline tail at byte 0x[0-9a-f]+ \(\d+ bytes\)/);
  });
});

describe('bad input', () => {
  it('a file that is not an image: bad-magic with the offset, exit 1, no stack trace', () => {
    const f = join(work, 'not-an-image');
    writeFileSync(f, Buffer.alloc(8192, 0x41));
    for (const c of ['inspect', 'ls', 'fsck']) {
      const r = runCli([c, f]);
      expect(r.status).toBe(1);
      // fsck reports problems (on stdout, with the check that found them); the others fail on stderr.
      if (c === 'fsck') expect(r.stdout).toMatch(/not-an-image:0x400: error: superblock: bad-magic/);
      else expect(r.stderr).toMatch(/not-an-image:0x400: bad-magic/);
      expect(r.stderr + r.stdout).not.toMatch(/\n\s+at /);
    }
  });
  it('a missing file is an io error naming it, exit 1', () => {
    const r = runCli(['inspect', join(work, 'absent.erofs')]);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/absent\.erofs.*ENOENT/);
  });
  it('a flipped superblock byte: bad-checksum at 0x404', () => {
    const b = readFileSync(plain.image);
    b[1040] = b[1040]! ^ 1;
    const f = join(work, 'flipped.erofs');
    writeFileSync(f, b);
    const r = runCli(['inspect', f]);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('flipped.erofs:0x404: bad-checksum');
  });
  it.runIf(tarIndex)('a tar index without its tar: missing-device says how to pass it', () => {
    const ls = JSON.parse(runCli(['ls', tarIndex!.image, '-R', '--json']).stdout) as { path: string; type: string; size: number }[];
    const file = ls.find((e) => e.type === 'file' && e.size > 0)!;
    const r = runCli(['cat', tarIndex!.image, file.path]);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/missing-device: .*device 1.*--device FILE/);
    const ok = runCli(['cat', tarIndex!.image, file.path, ...dev(tarIndex!)]);
    expect(ok.status).toBe(0);
  });
});

describe('extract', () => {
  it('refuses a non-empty destination (exit 2) and leaves it untouched', () => {
    const dest = join(work, 'nonempty');
    mkdirSync(dest);
    writeFileSync(join(dest, 'keep'), 'x');
    const r = runCli(['extract', plain.image, dest]);
    expect(r.status).toBe(2);
    expect(readdirSync(dest)).toEqual(['keep']);
  });

  it('a corrupt image leaves no partial output behind', () => {
    const b = readFileSync(plain.image);
    const cut = join(work, 'cut.erofs');
    writeFileSync(cut, b.subarray(0, Math.floor(b.length * 0.6)));
    const dest = join(work, 'cut-out');
    const r = runCli(['extract', cut, dest]);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/(truncated|out-of-bounds)/);
    expect(existsSync(dest)).toBe(false);
    expect(readdirSync(work).filter((n) => n.includes('erofs-kit-'))).toEqual([]);
  });

  it('--json reports what was written', () => {
    const dest = join(work, 'json-out');
    const r = runCli(['extract', plain.image, dest, '--json']);
    expect(r.status, r.stderr).toBe(0);
    const j = JSON.parse(r.stdout) as { files: number; directories: number };
    expect(j.files).toBeGreaterThan(0);
    expect(existsSync(dest)).toBe(true);
  });
});

describe('extract never writes outside DEST, whatever the image says', () => {
  /** A copy of the plain fixture with `patch` applied to the dirent named `name` in `dir`. */
  async function patched(dir: string, name: string, patch: (b: Buffer, nameAt: number, direntAt: number, img: ErofsImage) => void): Promise<string> {
    const b = readFileSync(plain.image);
    const img = await ErofsImage.open(new MemorySource(new Uint8Array(b)));
    const ents = await img.readdir(await img.lookup(dir));
    const d = ents.find((e) => Buffer.from(e.name).toString() === name);
    if (!d) throw new Error(`fixture has no ${dir}/${name}`);
    const nameAt = b.indexOf(Buffer.from(name), d.offset);
    patch(b, nameAt, d.offset, img);
    resum(b);
    const f = join(work, `evil-${dir.replace(/\//g, '_')}-${name}-${Math.random().toString(36).slice(2)}.erofs`);
    writeFileSync(f, b);
    return f;
  }

  /** Recomputes the superblock checksum so that a patch itself is what the reader meets. */
  function resum(b: Buffer): void {
    const area = Buffer.from(b.subarray(1024, 4096));
    area.fill(0, 4, 8);
    b.writeUInt32LE(crc32c(0xffffffff, area), 1028);
  }

  /** Both ways of extracting: on the main thread, and with regular files written by workers. */
  function extractFails(image: string, code: RegExp, path?: string): void {
    for (const jobs of ['1', '2']) {
      const box = mkdtempSync(join(work, 'box-'));
      const dest = join(box, 'dest');
      const r = runCli(['extract', image, dest, '--jobs', jobs]);
      expect(r.status, `--jobs ${jobs}: ${r.stderr}`).toBe(1);
      expect(r.stderr).toMatch(code);
      if (path !== undefined) expect(r.stderr).toContain(path);
      expect(r.stderr).not.toMatch(/\n\s+at /);
      // Nothing at all was left next to DEST, let alone above it.
      expect(readdirSync(box)).toEqual([]);
    }
  }

  it('file data past the end of the image fails with the path, in a worker too', async () => {
    const b = readFileSync(plain.image);
    const img = await ErofsImage.open(new MemorySource(new Uint8Array(b)));
    // A regular file with whole blocks of data: point them past the end.
    let victim: { path: string; offset: number } | undefined;
    for await (const e of walk(img)) {
      const ino = e.inode;
      if ((ino.mode & 0o170000) === 0o100000 && ino.nlink === 1 && ino.size >= img.blockSize && (ino.layout === 0 || ino.layout === 2)) {
        victim = { path: e.path, offset: ino.offset };
        break;
      }
    }
    if (!victim) throw new Error('the plain fixture has no single-link regular file with a full data block');
    b.writeUInt32LE(0x7fffff00, victim.offset + 16);
    resum(b);
    const f = join(work, 'evil-startblk.erofs');
    writeFileSync(f, b);
    extractFails(f, /out-of-bounds/, victim.path);
  });

  it('a directory entry whose type disagrees with its inode is refused', async () => {
    const img = await patched('/', 'sizes', (b, _at, direntAt) => {
      b[direntAt + 10] = 1; // a directory, announced as a regular file
    });
    extractFails(img, /invalid-value: dirent file_type 1/, '/sizes');
  });

  it("a name containing '/' is unsafe-path", async () => {
    const img = await patched('/', 'sizes', (b, at) => {
      b[at + 2] = 0x2f; // "si/es"
    });
    extractFails(img, /unsafe-path/);
  });

  it('a name climbing out with ../ is refused', async () => {
    const img = await patched('/', 'times', (b, at) => {
      b.write('../t', at, 'latin1'); // "../ts"
    });
    extractFails(img, /unsafe-path/);
  });

  it('a directory entry pointing back to the root is a loop', async () => {
    const img = await patched('/', 'sizes', (b, _at, direntAt, image) => {
      b.writeBigUInt64LE(BigInt(image.rootNid), direntAt);
    });
    extractFails(img, /loop/);
  });

  it('a duplicated name is refused (a symlink and a directory of the same name could redirect writes)', async () => {
    const img = await patched('/', 'times', (b, at) => {
      b.write('types', at, 'latin1');
    });
    extractFails(img, /appears twice/);
  });

  it('a name starting with ".." is an ordinary name and stays inside DEST', async () => {
    const img = await patched('/', 'empty', (b, at) => {
      b.write('..', at, 'latin1'); // the name is now "..pty"
    });
    const box = mkdtempSync(join(work, 'box-'));
    const r = runCli(['extract', img, join(box, 'dest')]);
    // "..pty" is an ordinary (odd) name: it stays inside DEST.
    expect(r.status, r.stderr).toBe(0);
    expect(readdirSync(box)).toEqual(['dest']);
    expect(existsSync(join(box, 'dest', '..pty'))).toBe(true);
  });
});
