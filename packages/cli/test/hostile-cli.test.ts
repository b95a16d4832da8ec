/**
 * Hostile inputs end to end: tars and images made to write outside the destination, to loop,
 * or to never end. `build` and `extract` must refuse or stay inside DEST, leave nothing
 * behind on failure, and keep memory bounded. (index's refusals of the same tars are in
 * index-cli.test.ts; extract's refusals of bad names in cli.test.ts.)
 */
import { spawn } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ErofsImage, MemorySource, crc32c } from '@erofs-kit/core';
import { CLI_BIN, runCli } from './support/cli.js';
import { pyTar, type MemberSpec } from './support/index-harness.js';
import { loadManifest } from './support/fixtures.js';

const work = mkdtempSync(join(tmpdir(), 'erofs-kit-hostile-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** A box holding an `outside` directory (with a file that must survive) and nothing else. */
function box(): { dir: string; outside: string } {
  const dir = mkdtempSync(join(work, 'box-'));
  const outside = join(dir, 'outside');
  mkdirSync(outside);
  writeFileSync(join(outside, 'passwd'), 'root:x:0:0\n');
  return { dir, outside };
}

function outsideUntouched(outside: string): void {
  expect(readdirSync(outside)).toEqual(['passwd']);
  expect(readFileSync(join(outside, 'passwd'), 'utf8')).toBe('root:x:0:0\n');
}

/** Every path under `root`, relative, for listing what a command left. */
function tree(root: string): string[] {
  const out: string[] = [];
  const visit = (d: string, rel: string): void => {
    for (const n of readdirSync(d).sort()) {
      const p = join(d, n);
      out.push(rel + n);
      if (lstatSync(p).isDirectory()) visit(p, rel + n + '/');
    }
  };
  visit(root, '');
  return out;
}

describe('tars that try to write outside: build refuses, nothing is left', () => {
  const refused: { name: string; members: (outside: string) => MemberSpec[] }[] = [
    {
      name: 'a symlink to a directory outside, then a file through it (a -> OUTSIDE, a/passwd)',
      members: (o) => [
        { name: 'a', type: 'symlink', linkname: o },
        { name: 'a/passwd', data: 'owned\n' },
      ],
    },
    {
      name: 'a relative symlink climbing out, then a file through it',
      members: () => [
        { name: 'd', type: 'dir' },
        { name: 'd/up', type: 'symlink', linkname: '../../outside' },
        { name: 'd/up/passwd', data: 'owned\n' },
      ],
    },
    { name: 'a member path with ../', members: () => [{ name: '../outside/passwd', data: 'owned\n' }] },
    { name: 'a member path climbing out of a subdirectory', members: () => [{ name: 'a/../../outside/passwd', data: 'owned\n' }] },
    {
      name: 'a hard link to a file outside (../)',
      members: () => [{ name: 'h', type: 'hardlink', linkname: '../outside/passwd' }],
    },
    {
      name: 'a hard link to an absolute path that is not in the archive',
      members: (o) => [{ name: 'h', type: 'hardlink', linkname: join(o, 'passwd') }],
    },
  ];

  it.each(refused)('$name', ({ members }) => {
    const b = box();
    const t = pyTar(b.dir, 'in.tar', members(b.outside));
    const r = runCli(['build', t.path, '-o', join(b.dir, 'out.erofs'), '--quiet']);
    expect(r.status, r.stderr).toBe(1);
    expect(r.stderr).toMatch(/unsafe-path|not-found|invalid-value/);
    expect(r.stderr).not.toMatch(/\n\s+at /);
    expect(readdirSync(b.dir).sort()).toEqual(['in.tar', 'in.tar.spec.json', 'outside']);
    outsideUntouched(b.outside);
  });
});

describe('tars whose names only look dangerous: build keeps them inside, extract keeps them inside DEST', () => {
  it('absolute member paths, a symlink to an absolute path outside and a file beside it', () => {
    const b = box();
    const t = pyTar(b.dir, 'in.tar', [
      { name: join(b.outside, 'passwd'), data: 'inside now\n' },
      { name: '/abs/file', data: 'abs\n' },
      { name: 'link', type: 'symlink', linkname: b.outside },
      { name: 'linkfile', type: 'hardlink', linkname: '/abs/file' },
    ]);
    const img = join(b.dir, 'out.erofs');
    const r = runCli(['build', t.path, '-o', img, '--quiet']);
    expect(r.status, r.stderr).toBe(0);
    for (const jobs of ['1', '2']) {
      const dest = join(b.dir, `dest-${jobs}`);
      const x = runCli(['extract', img, dest, '--jobs', jobs]);
      expect(x.status, x.stderr).toBe(0);
      // the symlink is made as a symlink, never followed; the absolute names land under DEST
      expect(lstatSync(join(dest, 'link')).isSymbolicLink()).toBe(true);
      expect(readlinkSync(join(dest, 'link'))).toBe(b.outside);
      expect(readFileSync(join(dest, b.outside, 'passwd'), 'utf8')).toBe('inside now\n');
      expect(readFileSync(join(dest, 'linkfile'), 'utf8')).toBe('abs\n');
      expect(tree(dest)).toContain('abs/file');
    }
    outsideUntouched(b.outside);
    expect(readdirSync(b.dir).sort()).toEqual(['dest-1', 'dest-2', 'in.tar', 'in.tar.spec.json', 'out.erofs', 'outside']);
  });
});

describe('an image with a symlink to a directory outside and a directory of the same name', () => {
  it('extract refuses it (a -> OUTSIDE beside a/passwd) and writes nothing, outside or in', async () => {
    const b = box();
    const t = pyTar(b.dir, 'in.tar', [
      { name: 'a', type: 'symlink', linkname: b.outside },
      { name: 'b', type: 'dir' },
      { name: 'b/passwd', data: 'owned\n' },
    ]);
    const good = join(b.dir, 'good.erofs');
    expect(runCli(['build', t.path, '-o', good, '--quiet']).status).toBe(0);
    // rename the directory "b" to "a": the image now lists "a" twice, a symlink and a directory
    const bytes = readFileSync(good);
    const img = await ErofsImage.open(new MemorySource(new Uint8Array(bytes)));
    const ents = await img.readdir(await img.root());
    const d = ents.find((e) => Buffer.from(e.name).toString() === 'b')!;
    // names lie at nameoff from the start of the dirent block, where the first dirent is
    const at = ents[0]!.offset + bytes.readUInt16LE(d.offset + 8);
    expect(bytes[at]).toBe(0x62);
    bytes[at] = 0x61;
    if (img.sb.feature_compat & 1) {
      const area = Buffer.from(bytes.subarray(1024, 4096));
      area.fill(0, 4, 8);
      bytes.writeUInt32LE(crc32c(0xffffffff, area), 1028);
    }
    const evil = join(work, 'symlink-and-dir.erofs');
    writeFileSync(evil, bytes);
    const patched = await ErofsImage.open(new MemorySource(new Uint8Array(bytes)));
    const names = (await patched.readdir(await patched.root())).map((e) => Buffer.from(e.name).toString());
    expect(names.filter((n) => n === 'a')).toHaveLength(2);
    for (const jobs of ['1', '2']) {
      const dest = join(b.dir, `dest-${jobs}`);
      const r = runCli(['extract', evil, dest, '--jobs', jobs]);
      expect(r.status, r.stderr).toBe(1);
      expect(r.stderr).toMatch(/appears twice|unsafe-path/);
      expect(existsSync(dest)).toBe(false);
    }
    outsideUntouched(b.outside);
  });
});

describe('images with directory cycles and hard-linked directories: extract refuses, nothing is left', () => {
  const m = loadManifest();
  if (!m.ok) throw new Error(m.reason);
  const plain = m.fixtures.find((f) => f.name === 'extended-4k')!;

  /** The fixture with the dirent `dir/name` pointed at the inode of `to`. */
  async function redirected(dir: string, name: string, to: string): Promise<string> {
    const b = readFileSync(plain.image);
    const img = await ErofsImage.open(new MemorySource(new Uint8Array(b)));
    const d = (await img.readdir(await img.lookup(dir))).find((e) => Buffer.from(e.name).toString() === name)!;
    b.writeBigUInt64LE(BigInt((await img.lookup(to)).nid), d.offset);
    const area = Buffer.from(b.subarray(1024, 4096));
    area.fill(0, 4, 8);
    if (img.sb.feature_compat & 1) b.writeUInt32LE(crc32c(0xffffffff, area), 1028);
    const f = join(work, `redirect-${name}-${Math.random().toString(36).slice(2)}.erofs`);
    writeFileSync(f, b);
    return f;
  }

  it.each([
    ['a hard-linked directory (/sizes names the inode of /times)', '/', 'sizes', '/times'],
    ['a cycle below the root (/links/a names /links)', '/links', 'a', '/links'],
  ])('%s', async (_, dir, name, to) => {
    const image = await redirected(dir, name, to);
    for (const jobs of ['1', '2']) {
      const b = box();
      const r = runCli(['extract', image, join(b.dir, 'dest'), '--jobs', jobs]);
      expect(r.status, r.stderr).toBe(1);
      expect(r.stderr).toMatch(/loop/);
      expect(readdirSync(b.dir)).toEqual(['outside']);
      outsideUntouched(b.outside);
    }
  });
});

describe('a name with a NUL byte', () => {
  it('extract refuses it as unsafe-path and leaves nothing', async () => {
    const m = loadManifest();
    if (!m.ok) throw new Error(m.reason);
    const b0 = readFileSync(m.fixtures.find((f) => f.name === 'extended-4k')!.image);
    const img = await ErofsImage.open(new MemorySource(new Uint8Array(b0)));
    const d = (await img.readdir(await img.root())).find((e) => Buffer.from(e.name).toString() === 'times')!;
    const at = b0.indexOf(Buffer.from('times'), d.offset);
    b0[at + 1] = 0; // "t\0mes"
    const area = Buffer.from(b0.subarray(1024, 4096));
    area.fill(0, 4, 8);
    if (img.sb.feature_compat & 1) b0.writeUInt32LE(crc32c(0xffffffff, area), 1028);
    const image = join(work, 'nul-name.erofs');
    writeFileSync(image, b0);
    for (const jobs of ['1', '2']) {
      const b = box();
      const r = runCli(['extract', image, join(b.dir, 'dest'), '--jobs', jobs]);
      expect(r.status, r.stderr).toBe(1);
      expect(r.stderr).toMatch(/unsafe-path/);
      expect(readdirSync(b.dir)).toEqual(['outside']);
      outsideUntouched(b.outside);
    }
  });
});

describe('a gzip stream that never ends', () => {
  it('index --tar-out reads it in bounded memory, and Ctrl-C stops it leaving nothing', async () => {
    const b = box();
    // A tar header claiming an 8 GiB file, then endless data, gzip-compressed as it goes.
    const producer = spawn(process.execPath, [
      '-e',
      `const z = require('node:zlib').createGzip({ level: 1 });
       z.pipe(process.stdout);
       process.stdout.on('error', () => process.exit(0));
       const h = Buffer.alloc(512);
       h.write('endless', 0); h.write('0000644\\0', 100); h.write('0000000\\0', 108); h.write('0000000\\0', 116);
       h.write('77777777777\\0', 124); h.write('00000000000\\0', 136); h.write('0', 156); h.write('ustar\\x0000', 257);
       h.fill(32, 148, 156); let s = 0; for (const c of h) s += c; h.write(s.toString(8).padStart(6, '0') + '\\0 ', 148);
       z.write(h);
       const block = Buffer.alloc(1 << 16); let i = 0;
       // 20 MiB/s of tar: enough to see memory stay flat without filling the disk with --tar-out
       setInterval(() => { for (let k = 0; k < 16; k++) { block.writeUInt32LE(i++, 0); z.write(block); } }, 50);`,
    ], { stdio: ['ignore', 'pipe', 'inherit'] });
    const out = join(b.dir, 'meta.erofs');
    const tarOut = join(b.dir, 'layer.tar');
    const child = spawn(process.execPath, [CLI_BIN, 'index', '-', '-o', out, '--tar-out', tarOut], { stdio: ['pipe', 'ignore', 'pipe'] });
    producer.stdout!.pipe(child.stdin!);
    child.stdin!.on('error', () => {});
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    let peakKiB = 0;
    let spooled = 0;
    const t0 = Date.now();
    while (Date.now() - t0 < 5000) {
      await new Promise((r) => setTimeout(r, 200));
      try {
        const status = readFileSync(`/proc/${child.pid}/status`, 'utf8');
        const rss = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
        peakKiB = Math.max(peakKiB, rss);
        const temp = `${tarOut}.erofs-kit-${child.pid}.tmp`;
        if (existsSync(temp)) spooled = lstatSync(temp).size;
      } catch {
        break; // exited
      }
    }
    child.kill('SIGINT');
    const code = await exited;
    producer.kill('SIGKILL');
    expect(code, stderr).toBe(130);
    expect(peakKiB).toBeGreaterThan(0);
    expect(peakKiB).toBeLessThan(512 * 1024);
    // it was streaming the whole time (the tar went to the temp file), not buffering
    expect(spooled).toBeGreaterThan(16 << 20);
    expect(readdirSync(b.dir)).toEqual(['outside']);
  }, 60_000);
});
