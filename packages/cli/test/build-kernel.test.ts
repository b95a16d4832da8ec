/**
 * `erofs-kit build` against the kernel. From a layer tar: every image mounts on its own and
 * shows exactly the tree the tar index of the same tar shows with the tar as its device (same
 * layer semantics, data copied instead of referenced). From a directory: the mount shows
 * exactly the directory (every attribute, xattrs and ACLs included, and every byte). Both for
 * 4096- and 512-byte blocks and with inline tails on and off; fsck.erofs 1.8.6 accepts every
 * image. The same input gives the same bytes; bad input leaves nothing.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { gzipSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { ErofsImage, walk } from '@erofs-kit/core';
import { FileSource } from '@erofs-kit/core/node';
import { CLI_BIN, runCli } from './support/cli.js';
import { globMatcher } from '../src/commands/build.js';
import { assertSameTree, STRICT } from './support/diff.js';
import { REPO_ROOT } from './support/fixtures.js';
import { gnuTar, hasFsckErofs, hasGnuTar, makeTree, run } from './support/index-harness.js';
import { allOf, hasLosetup, hasPython3, inCI, isRoot, kernelHasErofs, skipWithoutJudges, type JudgeResult } from './support/judges.js';
import { diskModel, readerModel } from './support/model.js';
import { MAKE_SAMPLE } from './support/sample.js';
import { releaseAll, withMount } from './support/mount.js';

const work = mkdtempSync(join(tmpdir(), 'erofs-kit-build-'));
afterAll(() => {
  releaseAll();
  rmSync(work, { recursive: true, force: true });
});

const skipKernel = skipWithoutJudges('erofs-kit build kernel parity', allOf(isRoot, kernelHasErofs, hasLosetup, hasPython3, hasGnuTar));
const haveFsck = hasFsckErofs().ok;
const tool = (cmd: string, what: string): (() => JudgeResult) => () => {
  try {
    return run(cmd, ['--version']).status === 0 ? { ok: true } : { ok: false, reason: `${what} does not run` };
  } catch {
    return { ok: false, reason: `${what} is not installed` };
  }
};
const hasSetfattr = tool('setfattr', 'setfattr (apt-get install attr)');
const hasMkfs18 = (): boolean => tool('mkfs.erofs18', 'mkfs.erofs18')().ok;
const hasSetfacl = tool('setfacl', 'setfacl (apt-get install acl)');
if (!haveFsck && !inCI()) console.warn('SKIPPED fsck.erofs18 on built images: fsck.erofs from erofs-utils 1.8 is not installed');

const TARS: { name: string; tar: () => string }[] = [
  { name: 'fixture layer (pax, xattrs, devices, hard links, odd times)', tar: () => join(REPO_ROOT, 'fixtures/tar-index-layer.tar') },
  {
    name: 'GNU tar, gnu format',
    tar: () => {
      const root = join(work, 'tree');
      if (!existsSync(root)) makeTree(root);
      const t = join(work, 'gnu.tar');
      if (!existsSync(t)) gnuTar(root, t, 'gnu');
      return t;
    },
  },
];
const VARIANTS: { label: string; args: string[] }[] = [
  { label: '4096-byte blocks', args: [] },
  { label: '4096-byte blocks, no inline data', args: ['--no-inline-data'] },
  { label: '512-byte blocks', args: ['--block-size', '512'] },
];

describe.skipIf(skipKernel)('build: the kernel shows the tree of the tar index', () => {
  const rows = TARS.flatMap((t) => VARIANTS.map((v) => ({ ...t, ...v })));
  it.each(rows)('$name, $label', async ({ tar, args }) => {
    const layer = tar();
    const d = mkdtempSync(join(work, 'case-'));
    const full = join(d, 'full.erofs');
    const meta = join(d, 'meta.erofs');
    const b = runCli(['build', layer, '-o', full, ...args]);
    expect(b.status, b.stderr).toBe(0);
    const i = runCli(['index', layer, '-o', meta]);
    expect(i.status, i.stderr).toBe(0);
    if (haveFsck) {
      const f = run('fsck.erofs18', [full]);
      expect(f.status, f.stderr.toString()).toBe(0);
    }
    const own = runCli(['fsck', full]);
    expect(own.status, own.stdout + own.stderr).toBe(0);
    const built = await withMount({ image: full }, (dir) => diskModel(dir, 'build'));
    const indexed = await withMount({ image: meta, devices: [layer] }, (dir) => diskModel(dir, 'index'));
    assertSameTree('build vs index', built, indexed, { ino: false, dirNlink: true, owner: true, symlinkPerms: true });
    expect(built.entries.size).toBeGreaterThan(10);
  });
});

/** A source tree with every kind of file, xattrs in each namespace, an ACL and odd names. */
function makeSourceTree(root: string): void {
  makeTree(root);
  const ok0 = (cmd: string, args: string[]): void => {
    const r = run(cmd, args);
    if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.stderr.toString()}`);
  };
  writeFileSync(Buffer.concat([Buffer.from(join(root, 'data/not-utf8-')), Buffer.from([0xff])]), 'x');
  ok0('mkdir', ['-p', join(root, 'empty-dir')]);
  ok0('mknod', [join(root, 'dev-null-like'), 'c', '1', '3']);
  ok0('mknod', [join(root, 'blockdev'), 'b', '7', '200']);
  ok0('setfattr', ['-n', 'user.comment', '-v', 'hello', join(root, 'etc/passwd')]);
  ok0('setfattr', ['-n', 'trusted.overlay.opaque', '-v', 'y', join(root, 'usr')]);
  ok0('setfattr', ['-n', 'security.capability', '-v', '0x0100000200200000000000000000000000000000', join(root, 'bin/busybox')]);
  ok0('setfacl', ['-m', 'u:1234:rw,g:55:r', join(root, 'data/b4097')]);
  ok0('setfacl', ['-d', '-m', 'u:99:rx', join(root, 'data')]);
  ok0('chown', ['-h', '4242:4343', join(root, 'data/b512')]);
  ok0('touch', ['-h', '-d', '2001-02-03 04:05:06.123456789', join(root, 'data/b511')]);
}

describe.skipIf(skipKernel)('build from the fixture source tree (make_sample.py): kernel = source, reader = kernel', () => {
  const src = join(work, 'sample-src');
  it.each([
    ['4096-byte blocks', []],
    ['512-byte blocks, no inline data', ['--block-size', '512', '--no-inline-data']],
    ['--chunk-size 8192', ['--chunk-size', '8192']],
    ['--force-compact --target-kernel 5.4', ['--force-compact', '--target-kernel', '5.4']],
  ] as const)('%s', async (_label, args) => {
    if (!existsSync(src)) expect(run('python3', [MAKE_SAMPLE, src]).status).toBe(0);
    const img = join(work, `sample-${_label.replace(/\W+/g, '-')}.erofs`);
    const b = runCli(['build', src, '-o', img, ...args]);
    expect(b.status, b.stderr).toBe(0);
    if (haveFsck) {
      const f = run('fsck.erofs18', [img]);
      expect(f.status, f.stderr.toString()).toBe(0);
    }
    const mounted = await withMount({ image: img }, (dir) => diskModel(dir, 'kernel'));
    // --force-compact gives up mtimes: every one is the time base then, so compare the rest.
    const source = diskModel(src, 'source');
    const image = await ErofsImage.open(new FileSource(img));
    assertSameTree('kernel vs erofs-kit reader', mounted, await readerModel(image, 'reader'), STRICT);
    if ((args as readonly string[]).includes('--force-compact')) {
      // Compact unless a field does not fit 32 bytes; a compact inode shows the time base.
      const sb = image.sb;
      let compact = 0;
      for await (const e of walk(image)) {
        const i = e.inode;
        const needsExtended = i.uid > 0xffff || i.gid > 0xffff || i.nlink > 0xffff || i.size > 0xffffffff;
        expect([e.parts.length, i.inodeSize]).toEqual([e.parts.length, needsExtended ? 64 : 32]);
        if (!needsExtended) {
          compact++;
          expect([i.mtime, i.mtimeNsec]).toEqual([Number(sb.epoch), sb.fixed_nsec]);
        }
      }
      expect(compact).toBeGreaterThan(mounted.entries.size / 2);
      for (const e of [...mounted.entries.values(), ...source.entries.values()]) Object.assign(e, { mtime: 0, mtimeNsec: 0 });
    }
    assertSameTree('kernel vs source directory', mounted, source, { ino: false, dirNlink: true, owner: true, symlinkPerms: true });
  });
});

describe.skipIf(skipKernel || skipWithoutJudges('erofs-kit build from a directory (setfattr, setfacl)', allOf(hasSetfattr, hasSetfacl)))('build from a directory: the kernel shows the directory', () => {
  const src = join(work, 'src-tree');
  const model = (): ReturnType<typeof diskModel> => diskModel(src, 'source');
  it.each(VARIANTS)('$label', async ({ args }) => {
    if (!existsSync(src)) makeSourceTree(src);
    const d = mkdtempSync(join(work, 'dir-'));
    const img = join(d, 'full.erofs');
    const b = runCli(['build', src, '-o', img, ...args]);
    expect(b.status, b.stderr).toBe(0);
    expect(b.stdout).not.toMatch(/xattrs skipped/);
    if (haveFsck) {
      const f = run('fsck.erofs18', [img]);
      expect(f.status, f.stderr.toString()).toBe(0);
    }
    const mounted = await withMount({ image: img }, (dir) => diskModel(dir, 'kernel'));
    assertSameTree('kernel vs source directory', mounted, model(), { ino: false, dirNlink: true, owner: true, symlinkPerms: true });
  });
  it('the image is no larger than mkfs.erofs18 makes of the same directory (files of every tail size)', () => {
    if (!existsSync(src)) makeSourceTree(src);
    const tree = join(work, 'sizes-tree');
    run('cp', ['-a', src, tree]);
    // 400 files whose sizes cover every tail length class, from an LCG (the same every run).
    let x = 12345;
    for (let i = 0; i < 400; i++) {
      x = (x * 1103515245 + 12345) % 2 ** 31;
      const dir = join(tree, `d${i % 7}`);
      run('mkdir', ['-p', dir]);
      writeFileSync(join(dir, `f${i}`), Buffer.alloc(x % 13000, i & 0xff));
    }
    if (!hasMkfs18()) {
      if (inCI()) throw new Error('mkfs.erofs18 is required under CI');
      console.warn('SKIPPED size comparison: mkfs.erofs18 (erofs-utils 1.8.6) is not installed');
      return;
    }
    const ours = join(work, 'sizes-kit.erofs');
    const theirs = join(work, 'sizes-mkfs.erofs');
    expect(runCli(['build', tree, '-o', ours]).status).toBe(0);
    expect(run('mkfs.erofs18', ['--quiet', '-b4096', theirs, tree]).status).toBe(0);
    const [a, b] = [statSync(ours).size, statSync(theirs).size];
    console.log(`build size vs mkfs.erofs18 (same directory): ${a} / ${b} bytes = ${(a / b).toFixed(4)}`);
    expect(a).toBeLessThanOrEqual(b);
  });
  it('a copy of the tree (cp -a, so another creation order) gives the same bytes; --all-root and --uid-offset show in the mount', async () => {
    if (!existsSync(src)) makeSourceTree(src);
    const copy = join(work, 'src-copy');
    expect(run('cp', ['-a', src, copy]).status).toBe(0);
    const a = join(work, 'order-a.erofs');
    const b = join(work, 'order-b.erofs');
    expect(runCli(['build', src, '-o', a]).status).toBe(0);
    expect(runCli(['build', copy, '-o', b]).status).toBe(0);
    expect(readFileSync(a).equals(readFileSync(b))).toBe(true);
    const c = join(work, 'owners.erofs');
    expect(runCli(['build', src, '-o', c, '--all-root', '--uid-offset', '1000', '--gid-offset', '2000']).status).toBe(0);
    const m = await withMount({ image: c }, (dir) => diskModel(dir, 'kernel'));
    for (const [path, e] of m.entries) expect([path, e.uid, e.gid]).toEqual([path, 1000, 2000]);
  });
});

describe.skipIf(skipWithoutJudges('erofs-kit build without getfattr (setfattr)', hasSetfattr()))('build: a directory without getfattr on PATH', () => {
  it('says plainly that xattrs were skipped (stderr, the summary and --json) and still builds the tree', () => {
    const src = join(work, 'no-getfattr');
    run('mkdir', ['-p', src]);
    writeFileSync(join(src, 'f'), 'x');
    expect(run('setfattr', ['-n', 'user.k', '-v', 'v', join(src, 'f')]).status).toBe(0);
    const img = join(work, 'no-getfattr.erofs');
    // PATH with nothing on it: spawning getfattr fails as it does where attr is not installed.
    const empty = mkdtempSync(join(work, 'empty-path-'));
    const r = runCli(['build', src, '-o', img], undefined, { PATH: empty });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/xattrs skipped: getfattr cannot run \(ENOENT\); install it with apt-get install attr/);
    expect(r.stdout).toMatch(/\(xattrs skipped\)$/m);
    const j = runCli(['build', src, '-o', img, '--json'], undefined, { PATH: empty });
    expect((JSON.parse(j.stdout) as { xattrs: boolean }).xattrs).toBe(false);
    const ls = runCli(['stat', img, '/f', '--json']);
    expect((JSON.parse(ls.stdout) as { xattrs: unknown[]; size: number }).xattrs).toEqual([]);
    // With getfattr, the same tree keeps the xattr.
    expect(runCli(['build', src, '-o', img]).status).toBe(0);
    expect((JSON.parse(runCli(['stat', img, '/f', '--json']).stdout) as { xattrs: { name: string }[] }).xattrs.map((x) => x.name)).toEqual(['user.k']);
  });
});

describe.skipIf(skipWithoutJudges('erofs-kit build progress on a terminal (script from util-linux)', tool('script', 'script (apt-get install bsdutils)')()))('build: progress', () => {
  it('on a terminal: files and bytes done, rate and time left on stderr; none with --quiet', () => {
    const layer = join(REPO_ROOT, 'fixtures/tar-index-layer.tar');
    const img = join(work, 'progress.erofs');
    // script(1) gives the command a terminal; CI='' because the progress line stays off under CI.
    const onTty = (extra: string): string => {
      const r = spawnSync('script', ['-qec', `${JSON.stringify(process.execPath)} ${JSON.stringify(CLI_BIN)} build ${JSON.stringify(layer)} -o ${JSON.stringify(img)} ${extra}`, '/dev/null'], {
        encoding: 'utf8',
        env: { ...process.env, CI: '' },
        timeout: 120_000,
      });
      expect(r.status, r.stderr).toBe(0);
      return r.stdout;
    };
    expect(onTty('')).toMatch(/files \d+\/\d+, \d+\/\d+ MiB, \d+ MiB\/s, \d+ s left/);
    expect(onTty('--quiet')).not.toMatch(/files \d+\/\d+/);
  });
});

describe('build: determinism and options', () => {
  const layer = join(REPO_ROOT, 'fixtures/tar-index-layer.tar');
  it('two runs give the same bytes; --uuid, --label and --timestamp show in inspect', () => {
    const a = join(work, 'det-a.erofs');
    const b = join(work, 'det-b.erofs');
    const opts = ['--uuid', '0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0', '--label', 'rootfs', '--timestamp', '1234567890'];
    const ra = runCli(['build', layer, '-o', a, ...opts]);
    expect(ra.status).toBe(0);
    expect(ra.stderr).toBe(''); // no progress line in a pipe
    expect(runCli(['build', layer, '-o', b, ...opts, '--quiet']).status).toBe(0);
    expect(readFileSync(a).equals(readFileSync(b))).toBe(true);
    const info = JSON.parse(runCli(['inspect', a, '--json']).stdout) as { uuid: string; volumeName: string; epoch: number; blockSize: number; checksumVerified: boolean };
    expect(info).toMatchObject({ uuid: '0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0', volumeName: 'rootfs', epoch: 1234567890, blockSize: 4096, checksumVerified: true });
    // SOURCE_DATE_EPOCH gives the time base when --timestamp is absent (and --timestamp wins).
    const c = join(work, 'det-c.erofs');
    expect(runCli(['build', layer, '-o', c], undefined, { SOURCE_DATE_EPOCH: '987654321' }).status).toBe(0);
    expect((JSON.parse(runCli(['inspect', c, '--json']).stdout) as { epoch: number }).epoch).toBe(987654321);
    expect(runCli(['build', layer, '-o', c, '--timestamp', '1111111111'], undefined, { SOURCE_DATE_EPOCH: '987654321' }).status).toBe(0);
    expect((JSON.parse(runCli(['inspect', c, '--json']).stdout) as { epoch: number }).epoch).toBe(1111111111);
  });
  it('--no-inline-data leaves no flat-inline regular file; the default inlines tails', () => {
    const a = join(work, 'inl.erofs');
    const b = join(work, 'noinl.erofs');
    expect(runCli(['build', layer, '-o', a]).status).toBe(0);
    expect(runCli(['build', layer, '-o', b, '--no-inline-data']).status).toBe(0);
    const st = (img: string, p: string): { layout: string } => JSON.parse(runCli(['stat', img, p, '--json']).stdout) as { layout: string };
    expect(st(a, '/links/a/three-names').layout).toBe('flat-inline');
    expect(st(b, '/links/a/three-names').layout).toBe('flat-plain');
  });
});

describe('build: --exclude patterns', () => {
  it.each([
    ['*.log', 'var/log/x.log', true],
    ['*.log', 'x.log', true],
    ['*.log', 'var/log/x.log.1', false],
    ['var/*', 'var/cache', true],
    ['var/*', 'var/cache/apt', false],
    ['var/**', 'var/cache/apt', true],
    ['**/doc', 'usr/share/doc', true],
    ['**/doc', 'doc', true],
    ['usr/**/doc', 'usr/doc', true],
    ['usr/**/doc', 'usr/a/b/doc', true],
    ['usr/**/doc', 'usr/adoc', false],
    ['?.txt', 'a.txt', true],
    ['?.txt', 'ab.txt', false],
    ['a+b(1).txt', 'a+b(1).txt', true],
  ])('%s on %s: %s', (glob, path, want) => {
    expect(globMatcher(glob)(path)).toBe(want);
  });
});

describe.skipIf(skipKernel)('build: options seen in the mount or in stat', () => {
  it('--exclude, --aufs, --ovlfs-strip and --force-extended on a directory', async () => {
    const src = join(work, 'opts-tree');
    run('mkdir', ['-p', join(src, 'keep/sub'), join(src, 'cache'), join(src, 'opq')]);
    writeFileSync(join(src, 'keep/a.txt'), 'a');
    writeFileSync(join(src, 'keep/sub/b.log'), 'b');
    writeFileSync(join(src, 'cache/big'), 'c');
    writeFileSync(join(src, 'keep/.wh.gone'), '');
    writeFileSync(join(src, 'opq/.wh..wh..opq'), '');
    // One mtime for all: an inode is compact only when its mtime is the image's time base.
    expect(run('find', [src, '-exec', 'touch', '-h', '-d', '2020-01-01 00:00:00', '{}', '+']).status).toBe(0);
    const img = join(work, 'opts.erofs');
    const r = runCli(['build', src, '-o', img, '--exclude', '*.log', '--exclude', 'cache', '--aufs', '--force-extended']);
    expect(r.status, r.stderr).toBe(0);
    const m = await withMount({ image: img }, (dir) => diskModel(dir, 'kernel'));
    const paths = [...m.entries.keys()].sort();
    expect(paths).toEqual(['/', '/keep', '/keep/a.txt', '/keep/gone', '/keep/sub', '/opq']);
    expect(m.entries.get('/keep/gone')).toMatchObject({ type: 'chr', rdev: '0:0' });
    expect(m.entries.get('/opq')!.xattrs).toContainEqual(['trusted.overlay.opaque', '79']);
    const st = JSON.parse(runCli(['stat', img, '/keep/a.txt', '--json']).stdout) as { inodeFormat: string };
    expect(st.inodeFormat).toBe('extended');
    const stripped = join(work, 'stripped.erofs');
    expect(runCli(['build', src, '-o', stripped, '--aufs', '--ovlfs-strip']).status).toBe(0);
    const m2 = await withMount({ image: stripped }, (dir) => diskModel(dir, 'kernel'));
    expect(m2.entries.has('/keep/gone')).toBe(false);
    expect(m2.entries.get('/opq')!.xattrs).toEqual([]);
    expect(JSON.parse(runCli(['stat', stripped, '/keep/a.txt', '--json']).stdout).inodeFormat).toBe('compact');
  });
});

describe.skipIf(skipKernel)('build: --exclude on a tar, --force-compact', () => {
  it('the excluded paths are gone from the mount; every inode is compact and shows the time base as its mtime', async () => {
    const src = join(work, 'tar-opts-tree');
    run('mkdir', ['-p', join(src, 'keep/sub'), join(src, 'cache/deep')]);
    writeFileSync(join(src, 'keep/a.txt'), 'a');
    writeFileSync(join(src, 'keep/sub/b.log'), 'b');
    writeFileSync(join(src, 'keep/sub/c.txt'), 'c');
    writeFileSync(join(src, 'cache/deep/big'), 'c');
    // Every file its own mtime: without --force-compact most inodes would be extended.
    let k = 0;
    for (const p of ['keep/a.txt', 'keep/sub/b.log', 'keep/sub/c.txt', 'cache/deep/big', 'keep/sub', 'keep', 'cache', '.']) {
      expect(run('touch', ['-h', '-d', `@${1600000000 + 1000 * k++}.25`, join(src, p)]).status).toBe(0);
    }
    const tar = join(work, 'tar-opts.tar');
    gnuTar(src, tar, 'posix');
    const img = join(work, 'tar-opts.erofs');
    const r = runCli(['build', tar, '-o', img, '--exclude', '*.log', '--exclude', 'cache', '--force-compact', '--timestamp', '1234567890']);
    expect(r.status, r.stderr).toBe(0);
    const m = await withMount({ image: img }, (dir) => diskModel(dir, 'kernel'));
    expect([...m.entries.keys()].sort()).toEqual(['/', '/keep', '/keep/a.txt', '/keep/sub', '/keep/sub/c.txt']);
    for (const [path, e] of m.entries) expect([path, e.mtime, e.mtimeNsec]).toEqual([path, 1234567890, 0]);
    const image = await ErofsImage.open(new FileSource(img));
    for (const path of m.entries.keys()) expect([path, (await image.lookup(path)).inodeSize]).toEqual([path, 32]);
    // Without it the same tar keeps every mtime (extended inodes).
    const plain = join(work, 'tar-opts-plain.erofs');
    expect(runCli(['build', tar, '-o', plain, '--exclude', '*.log', '--exclude', 'cache']).status).toBe(0);
    const m2 = await withMount({ image: plain }, (dir) => diskModel(dir, 'kernel'));
    expect([m2.entries.get('/keep/a.txt')!.mtime, m2.entries.get('/keep/a.txt')!.mtimeNsec]).toEqual([1600000000, 250000000]);
    if (haveFsck) expect(run('fsck.erofs18', [img]).status).toBe(0);
    const both = runCli(['build', tar, '-o', join(work, 'never.erofs'), '--force-compact', '--force-extended']);
    expect([both.status, existsSync(join(work, 'never.erofs'))]).toEqual([2, false]);
  });
});

describe.skipIf(skipKernel || skipWithoutJudges('erofs-kit build --chunk-size/--blob (setfattr, setfacl)', allOf(hasSetfattr, hasSetfacl)))('build: chunk-based files, in the image and in a blob', () => {
  it.each([
    ['--chunk-size 4096', ['--chunk-size', '4096'], false],
    ['--chunk-size 65536', ['--chunk-size', '65536'], false],
    ['--chunk-size 8192 --blob', ['--chunk-size', '8192'], true],
  ] as const)('%s: the kernel shows the directory; stat shows chunk-based files', async (_label, args, withBlob) => {
    const src = join(work, 'src-tree');
    if (!existsSync(src)) makeSourceTree(src);
    const d = mkdtempSync(join(work, 'chunks-'));
    const img = join(d, 'img.erofs');
    const blob = join(d, 'data.blob');
    const r = runCli(['build', src, '-o', img, ...args, ...(withBlob ? ['--blob', blob] : [])]);
    expect(r.status, r.stderr).toBe(0);
    expect(JSON.parse(runCli(['stat', img, '/bin/busybox', '--json', ...(withBlob ? ['--device', blob] : [])]).stdout).layout).toBe('chunk-based');
    if (haveFsck) {
      const f = run('fsck.erofs18', [...(withBlob ? [`--device=${blob}`] : []), img]);
      expect(f.status, f.stderr.toString()).toBe(0);
    }
    const mounted = await withMount({ image: img, devices: withBlob ? [blob] : [] }, (dir) => diskModel(dir, 'kernel'));
    assertSameTree('kernel vs source directory', mounted, diskModel(src, 'source'), { ino: false, dirNlink: true, owner: true, symlinkPerms: true });
  });
  it('--blob without --chunk-size is a usage error, and nothing is written', () => {
    const d = mkdtempSync(join(work, 'blob-usage-'));
    const r = runCli(['build', join(REPO_ROOT, 'fixtures/tar-index-layer.tar'), '-o', join(d, 'x.erofs'), '--blob', join(d, 'b')]);
    expect(r.status).toBe(2);
    expect(run('ls', ['-A', d]).stdout.toString()).toBe('');
  });
});

describe.skipIf(skipKernel || skipWithoutJudges('erofs-kit build shared xattrs (setfattr)', hasSetfattr()))('build: shared xattrs', () => {
  it('an xattr thirty files carry is stored once; the kernel shows it on every file; --no-shared-xattrs keeps it inline', async () => {
    const src = join(work, 'shared-tree');
    run('mkdir', ['-p', src]);
    for (let i = 0; i < 30; i++) {
      const f = join(src, `f${i}`);
      writeFileSync(f, `file ${i}\n`);
      const r1 = run('setfattr', ['-n', 'user.origin', '-v', 'the-same-value-on-every-file', f]);
      const r2 = run('setfattr', ['-n', 'user.own', '-v', `v${i}`, f]);
      expect([r1.status, r2.status]).toEqual([0, 0]);
    }
    const shared = join(work, 'shared.erofs');
    const inline = join(work, 'inline.erofs');
    expect(runCli(['build', src, '-o', shared]).status).toBe(0);
    expect(runCli(['build', src, '-o', inline, '--no-shared-xattrs']).status).toBe(0);
    type X = { name: string; shared: boolean };
    const xs = (img: string): X[] => (JSON.parse(runCli(['stat', img, '/f7', '--json']).stdout) as { xattrs: X[] }).xattrs;
    expect(xs(shared).map((x) => [x.name, x.shared]).sort()).toEqual([['user.origin', true], ['user.own', false]]);
    expect(xs(inline).every((x) => !x.shared)).toBe(true);
    if (haveFsck) expect(run('fsck.erofs18', [shared]).status).toBe(0);
    const m = await withMount({ image: shared }, (dir) => diskModel(dir, 'kernel'));
    assertSameTree('kernel vs source directory', m, diskModel(src, 'source'), { ino: false, dirNlink: true, owner: true, symlinkPerms: true });
  });
});

describe.skipIf(skipKernel || skipWithoutJudges('erofs-kit build long xattr prefixes (setfattr)', hasSetfattr()))('build: long xattr prefixes and --target-kernel', () => {
  interface Inspect {
    minimumKernel: string;
    featureCompat: { features: { name: string }[] };
    longXattrPrefixes: string[];
    compatibility: { minimumKernel: string };
  }
  const inspect = (img: string): Inspect => JSON.parse(runCli(['inspect', img, '--json']).stdout) as Inspect;
  const src = join(work, 'overlay-xattrs');
  const make = (): void => {
    if (existsSync(src)) return;
    run('mkdir', ['-p', src]);
    for (let i = 0; i < 40; i++) {
      const f = join(src, `f${i}`);
      writeFileSync(f, `file ${i}\n`);
      for (const [n, v] of [['trusted.overlay.redirect', `/objects/${i}`], ['trusted.overlay.metacopy', `0x00${(i + 16).toString(16)}`], ['user.own', `v${i}`]]) {
        const r = run('setfattr', ['-n', n!, '-v', v!, f]);
        expect(r.status, r.stderr.toString()).toBe(0);
      }
    }
  };
  it('by default trusted.overlay. becomes a long prefix (smaller image, Linux 6.4 in inspect); the kernel and fsck.erofs read every xattr', async () => {
    make();
    const img = join(work, 'prefixes.erofs');
    const old = join(work, 'prefixes-6.3.erofs');
    expect(runCli(['build', src, '-o', img]).status).toBe(0);
    expect(runCli(['build', src, '-o', old, '--target-kernel', '6.3']).status).toBe(0);
    const a = inspect(img);
    expect(a.longXattrPrefixes).toEqual(['trusted.overlay.']);
    expect(a.compatibility.minimumKernel).toBe('6.4');
    expect(a.featureCompat.features.map((f) => f.name)).toContain('xattr_filter');
    // --target-kernel 6.3: no long prefixes and no name filter (6.6); the image mounts on 5.4 on.
    const b = inspect(old);
    expect(b.longXattrPrefixes).toEqual([]);
    expect(b.featureCompat.features.map((f) => f.name)).not.toContain('xattr_filter');
    expect(b.compatibility.minimumKernel).toBe('5.4');
    // 80 entries of trusted.overlay.* each store 8 bytes less.
    const sumXattrs = async (file: string): Promise<number> => {
      const image = await ErofsImage.open(new FileSource(file));
      let t = 0;
      for (let i = 0; i < 40; i++) t += (await image.lookup(`/f${i}`)).xattrSize;
      return t;
    };
    expect((await sumXattrs(old)) - (await sumXattrs(img))).toBe(40 * 2 * 8);
    for (const file of [img, old]) {
      if (haveFsck) {
        const f = run('fsck.erofs18', [file]);
        expect(f.status, f.stderr.toString()).toBe(0);
        const x = join(work, `fsck-x-${file.endsWith('6.3.erofs') ? 'old' : 'new'}`);
        const e = run('fsck.erofs18', [`--extract=${x}`, '--xattrs', file]);
        expect(e.status, e.stderr.toString()).toBe(0);
        // fsck.erofs reads the names through the prefix table: its extraction carries every xattr.
        const extracted = diskModel(x, 'fsck');
        for (const [path, e] of diskModel(src, 'source').entries) expect([path, extracted.entries.get(path)?.xattrs]).toEqual([path, e.xattrs]);
      }
      const m = await withMount({ image: file }, (dir) => diskModel(dir, 'kernel'));
      assertSameTree('kernel vs source directory', m, diskModel(src, 'source'), { ino: false, dirNlink: true, owner: true, symlinkPerms: true });
    }
  });
  it('--xattr-prefix defines exactly the prefixes given; a bad one is a usage error', async () => {
    make();
    const img = join(work, 'explicit.erofs');
    expect(runCli(['build', src, '-o', img, '--xattr-prefix', 'user.ow', '--xattr-prefix', 'trusted.overlay.re']).status).toBe(0);
    expect(inspect(img).longXattrPrefixes).toEqual(['user.ow', 'trusted.overlay.re']);
    const m = await withMount({ image: img }, (dir) => diskModel(dir, 'kernel'));
    assertSameTree('kernel vs source directory', m, diskModel(src, 'source'), { ino: false, dirNlink: true, owner: true, symlinkPerms: true });
    const bad = runCli(['build', src, '-o', join(work, 'bad.erofs'), '--xattr-prefix', 'other.thing']);
    expect([bad.status, bad.stderr]).toEqual([2, expect.stringMatching(/--xattr-prefix other\.thing: .*user\., trusted\. or security\./)]);
    expect(existsSync(join(work, 'bad.erofs'))).toBe(false);
  });
  it.each([
    [['--block-size', '512', '--target-kernel', '6.1'], /--block-size 512 needs Linux 6\.4/],
    [['--chunk-size', '4096', '--target-kernel', '5.10'], /--chunk-size needs Linux 5\.15/],
    [['--xattr-prefix', 'user.x', '--target-kernel', '6.3'], /--xattr-prefix needs Linux 6\.4/],
    [['--target-kernel', '4.19'], /EROFS mounts from Linux 5\.4 on/],
    [['--target-kernel', 'six'], /expected a release such as/],
  ])('%j is refused (%s)', (args, message) => {
    const d = mkdtempSync(join(work, 'target-'));
    const r = runCli(['build', join(REPO_ROOT, 'fixtures/tar-index-layer.tar'), '-o', join(d, 'x.erofs'), ...args]);
    expect([r.status, r.stderr]).toEqual([2, expect.stringMatching(message)]);
    expect(run('ls', ['-A', d]).stdout.toString()).toBe('');
  });
});

describe('build: compressed and streamed tars', () => {
  it('gzip, zstd and standard input give the bytes of the plain tar; no spooled tar is left', () => {
    const tar = join(REPO_ROOT, 'fixtures/tar-index-layer.tar');
    const dir = mkdtempSync(join(work, 'forms-'));
    const want = join(dir, 'plain.erofs');
    expect(runCli(['build', tar, '-o', want]).status).toBe(0);
    const gz = join(work, 'forms.tar.gz');
    writeFileSync(gz, gzipSync(readFileSync(tar)));
    expect(runCli(['build', gz, '-o', join(dir, 'gz.erofs')]).status).toBe(0);
    expect(readFileSync(join(dir, 'gz.erofs')).equals(readFileSync(want))).toBe(true);
    if (run('zstd', ['--version']).status === 0) {
      const zst = join(work, 'forms.tar.zst');
      expect(run('zstd', ['-q', '-f', '-o', zst, tar]).status).toBe(0);
      expect(runCli(['build', zst, '-o', join(dir, 'zst.erofs')]).status).toBe(0);
      expect(readFileSync(join(dir, 'zst.erofs')).equals(readFileSync(want))).toBe(true);
    } else if (inCI()) throw new Error('zstd is missing under CI');
    const piped = run('sh', ['-c', `node "$1" build - -o "$2" < "$3"`, 'sh', CLI_BIN, join(dir, 'stdin.erofs'), tar]);
    expect(piped.status, piped.stderr.toString()).toBe(0);
    expect(readFileSync(join(dir, 'stdin.erofs')).equals(readFileSync(want))).toBe(true);
    expect(run('ls', ['-A', dir]).stdout.toString().trim().split('\n').sort()).toEqual(['gz.erofs', 'plain.erofs', 'stdin.erofs', ...(run('zstd', ['--version']).status === 0 ? ['zst.erofs'] : [])].sort());
  });
});

describe('build: bad input leaves nothing behind', () => {
  it('a corrupt gzip layer: exit 1, no image and no spooled tar left', () => {
    const gz = join(work, 'bad.tar.gz');
    const good = gzipSync(readFileSync(join(REPO_ROOT, 'fixtures/tar-index-layer.tar')));
    good[good.length >> 1] = good[good.length >> 1]! ^ 0xff;
    writeFileSync(gz, good);
    const dir = mkdtempSync(join(work, 'gzout-'));
    const r = runCli(['build', gz, '-o', join(dir, 'x.erofs')]);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/gzip/);
    expect(run('ls', ['-A', dir]).stdout.toString()).toBe('');
  });
  it('a truncated tar: exit 1 naming the offset, no image and no temp file', () => {
    const t = join(work, 'trunc.tar');
    const whole = readFileSync(join(REPO_ROOT, 'fixtures/tar-index-layer.tar'));
    writeFileSync(t, whole.subarray(0, 512 * 7 + 100));
    const dir = mkdtempSync(join(work, 'out-'));
    const r = runCli(['build', t, '-o', join(dir, 'x.erofs')]);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/0x[0-9a-f]+/);
    expect(r.stderr).not.toMatch(/\n\s+at \S/);
    expect(run('ls', ['-A', dir]).stdout.toString()).toBe('');
  });
});
