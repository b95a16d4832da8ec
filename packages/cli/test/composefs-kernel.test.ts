/**
 * `erofs-kit build --composefs` against mkcomposefs 1.0.8 and the kernel. The input trees of
 * the reference vectors are recreated with fixtures/composefs/make-trees.sh (root: owners,
 * devices, trusted/security xattrs, an ACL). From the directories the images equal the
 * reference images byte for byte; the object store equals the reference store; mounted as
 * EROFS and then under overlayfs with the store as a data-only lower layer
 * (`lowerdir=IMAGE::STORE`), the tree is the source tree on every attribute and byte, except
 * for what composefs changes by design (hard links are separate inodes with link count 1
 * unless --hard-links keeps them;
 * a whiteout is shown as an empty file marked with overlay xattrs, for a further overlay).
 * A tar of a tree gives the image its extraction gives; the dump input gives the reference
 * image and serves the objects' bytes.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, rmdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { gzipSync } from 'node:zlib';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI_BIN, runCli } from './support/cli.js';
import { assertSameTree } from './support/diff.js';
import { REPO_ROOT } from './support/fixtures.js';
import { allOf, hasLosetup, hasPython3, isRoot, kernelHasErofs, skipWithoutJudges, type JudgeResult } from './support/judges.js';
import { bytesKey, diskModel, type TreeModel } from './support/model.js';
import { releaseAll, withMount } from './support/mount.js';

const VECTORS = join(REPO_ROOT, 'fixtures/composefs');
const work = mkdtempSync(join(tmpdir(), 'erofs-kit-cfs-'));
afterAll(() => {
  releaseAll();
  rmSync(work, { recursive: true, force: true });
});

const runs = (cmd: string, args: string[], what: string) => (): JudgeResult => {
  const r = spawnSync(cmd, args, { stdio: 'ignore' });
  return r.error === undefined && r.status === 0 ? { ok: true } : { ok: false, reason: `${what} is not available` };
};
function kernelHasOverlay(): JudgeResult {
  const listed = (): boolean => readFileSync('/proc/filesystems', 'utf8').split('\n').some((l) => l.trim().split(/\s+/).pop() === 'overlay');
  if (!listed() && isRoot().ok) spawnSync('modprobe', ['-q', 'overlay']);
  return listed() ? { ok: true } : { ok: false, reason: 'the kernel has no overlayfs (no "overlay" in /proc/filesystems)' };
}
const skip = skipWithoutJudges(
  'composefs kernel tests',
  allOf(isRoot, kernelHasErofs, kernelHasOverlay, hasLosetup, hasPython3, runs('setfattr', ['--version'], 'setfattr (apt-get install attr)'), runs('setfacl', ['--version'], 'setfacl (apt-get install acl)'), runs('tar', ['--version'], 'GNU tar')),
);

function sh(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 300_000, maxBuffer: 1 << 26 });
  if (r.error || r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.error?.message ?? `exit ${r.status}`}: ${r.stderr}`);
  return r.stdout;
}

function build(args: string[]): void {
  const r = runCli(['build', '--composefs', ...args]);
  if (r.status !== 0) throw new Error(`erofs-kit build --composefs ${args.join(' ')} exited ${r.status}: ${r.stderr}`);
}

/** Mounts IMAGE as EROFS, then overlayfs over it with STORE as a data-only layer; models the merged tree. */
async function overlayModel(image: string, store: string, label: string): Promise<TreeModel> {
  return withMount({ image }, (mnt) => {
    const ovl = mkdtempSync(join(tmpdir(), 'erofs-kit-ovl-'));
    try {
      sh('mount', ['-t', 'overlay', 'overlay', '-o', `ro,metacopy=on,redirect_dir=on,lowerdir=${mnt}::${store}`, ovl]);
      try {
        return diskModel(ovl, label);
      } finally {
        sh('umount', [ovl]);
      }
    } finally {
      rmdirSync(ovl);
    }
  });
}

const key = (s: string): string => bytesKey(new TextEncoder().encode(s));

/**
 * The source tree as the composefs mount shows it: every non-directory its own inode with
 * link count 1, and each whiteout (char 0/0) an empty file marked for a further overlay.
 */
function asComposefsShows(src: TreeModel, version: number, hardLinks = false): TreeModel {
  const entries = new Map(src.entries);
  let ino = 1;
  for (const [path, e] of entries) {
    // With --hard-links the names of an inode stay one inode with its link count.
    const c = hardLinks ? { ...e } : { ...e, ino: ino++ };
    if (c.type !== 'dir' && !hardLinks) c.nlink = 1;
    if (c.type === 'chr' && c.rdev === '0:0') {
      Object.assign(c, { type: 'reg', mode: 0o100000 | (c.mode & 0o7777), size: 0, rdev: undefined, sha256: 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855' });
      const marked: [string, string][] = [...(c.xattrs as [string, string][]), [key('trusted.overlay.whiteout'), ''], [key('user.overlay.whiteout'), '']];
      c.xattrs = marked.sort();
      const parent = path.slice(0, path.lastIndexOf('/')) || '/';
      const p = entries.get(parent)!;
      const marks: [string, string][] = [[key('trusted.overlay.whiteouts'), ''], [key('user.overlay.whiteouts'), '']];
      if (version >= 1) marks.push([key('trusted.overlay.opaque'), '78'], [key('user.overlay.opaque'), '78']);
      entries.set(parent, { ...p, xattrs: [...(p.xattrs as [string, string][]).filter(([n]) => !marks.some(([m]) => m === n)), ...marks].sort() });
    }
    entries.set(path, c);
  }
  return { label: `${src.label} as composefs shows it`, entries, errors: src.errors };
}

function hardlinkGroupCount(m: TreeModel): number {
  const seen = new Map<number, number>();
  for (const e of m.entries.values()) if (e.type !== 'dir') seen.set(e.ino, (seen.get(e.ino) ?? 0) + 1);
  return [...seen.values()].filter((n) => n > 1).length;
}

/** Hard-link groups and inode numbers do not carry over: compare without them. */
function noInodes(m: TreeModel): TreeModel {
  let ino = 1;
  const entries = new Map([...m.entries].map(([p, e]) => [p, { ...e, ino: ino++ }] as const));
  return { ...m, entries };
}

describe.skipIf(skip)('composefs images from directories, tars and dumps, mounted by the kernel', () => {
  const trees = join(work, 'trees');
  beforeAll(() => {
    sh('bash', [join(VECTORS, 'make-trees.sh'), trees]);
  }, 300_000);

  for (const name of ['tiny', 'full']) {
    for (const v of [0, 1]) {
      it(`${name}, format ${v}: the reference image byte for byte, its store, and the source tree through overlayfs`, async () => {
        const img = join(work, `${name}.v${v}.cfs`);
        const store = join(work, `store-${name}-v${v}`);
        build([join(trees, name), '-o', img, '--objects', store, '--format-version', String(v)]);
        expect(readFileSync(img).equals(readFileSync(join(VECTORS, `${name}.v${v}.cfs`)))).toBe(true);
        const listing = sh('bash', ['-c', `cd ${store} && find . -type f -printf '%P\\n' | sort | while read -r f; do echo "$f $(stat -c %s "$f") $(sha256sum < "$f" | cut -d' ' -f1)"; done`]);
        const want = readFileSync(join(VECTORS, `${name}.store.txt`), 'utf8')
          .trim()
          .split('\n')
          .map((l) => l.split(' '))
          .map(([p, s, , sha]) => `${p} ${s} ${sha}`)
          .join('\n');
        expect(listing.trim()).toBe(want);
        // the digest command gives the image digest mkcomposefs prints
        const digest = runCli(['digest', '--compact', img]).stdout.trim();
        expect(readFileSync(join(VECTORS, 'digests.txt'), 'utf8')).toContain(`${name}.v${v}.cfs`.padEnd(22) + digest);
        const source = diskModel(join(trees, name), 'source');
        const merged = await overlayModel(img, store, 'overlay');
        assertSameTree(`${name}.v${v}`, asComposefsShows(source, v), merged, { ino: false, dirNlink: true, owner: true, symlinkPerms: true });
      }, 300_000);
    }
  }

  for (const opt of ['use-epoch', 'skip-xattrs', 'user-xattrs', 'skip-devices']) {
    it(`full with --${opt}: the reference image byte for byte`, () => {
      const img = join(work, `full.${opt}.cfs`);
      build([join(trees, 'full'), '-o', img, `--${opt}`]);
      expect(readFileSync(img).equals(readFileSync(join(VECTORS, `full.${opt}.cfs`)))).toBe(true);
    }, 300_000);
  }

  it('default format version: 0 for tiny, 1 for full (it has a whiteout); the store is not rewritten', () => {
    const store = join(work, 'store-default');
    build([join(trees, 'tiny'), '-o', join(work, 'tiny.def.cfs'), '--objects', store]);
    expect(readFileSync(join(work, 'tiny.def.cfs')).equals(readFileSync(join(VECTORS, 'tiny.v0.cfs')))).toBe(true);
    const r = runCli(['build', '--composefs', join(trees, 'full'), '-o', join(work, 'full.def.cfs'), '--objects', store, '--json']);
    expect(r.status).toBe(0);
    const j = JSON.parse(r.stdout) as { composefsVersion: number; objects: number; written: number; present: number };
    expect(j.composefsVersion).toBe(1);
    expect(readFileSync(join(work, 'full.def.cfs')).equals(readFileSync(join(VECTORS, 'full.v1.cfs')))).toBe(true);
    expect(j.written + j.present).toBe(j.objects);
    const again = JSON.parse(runCli(['build', '--composefs', join(trees, 'full'), '-o', join(work, 'full.def2.cfs'), '--objects', store, '--json']).stdout) as { written: number; present: number; objects: number };
    expect(again).toMatchObject({ written: 0, present: j.objects });
    // directory -> image -> dump -> image: the same bytes
    const dump = join(work, 'full.def.dump');
    writeFileSync(dump, runCli(['dump', join(work, 'full.def.cfs')]).stdout, 'latin1');
    build([dump, '-o', join(work, 'full.from-dump.cfs')]);
    expect(readFileSync(join(work, 'full.from-dump.cfs')).equals(readFileSync(join(work, 'full.def.cfs')))).toBe(true);
  }, 300_000);

  it('--hard-links keeps the hard links of a directory and of a tar: one inode, its link count, through overlayfs', async () => {
    const src = join(trees, 'full');
    const img = join(work, 'full.links.cfs');
    const store = join(work, 'store-links');
    build([src, '-o', img, '--objects', store, '--hard-links']);
    // the default image differs exactly by the links: more inodes, and other bytes
    const plain = JSON.parse(runCli(['build', '--composefs', src, '-o', join(work, 'full.nolinks.cfs'), '--json']).stdout) as { inodes: number };
    const linked = JSON.parse(runCli(['build', '--composefs', src, '-o', join(work, 'full.links2.cfs'), '--hard-links', '--json']).stdout) as { inodes: number };
    expect(plain.inodes - linked.inodes).toBe(2); // the two pairs in make-trees.sh
    expect(readFileSync(join(work, 'full.links2.cfs')).equals(readFileSync(img))).toBe(true);
    const source = diskModel(src, 'source');
    expect(hardlinkGroupCount(source)).toBe(2);
    const merged = await overlayModel(img, store, 'overlay');
    assertSameTree('full --hard-links', asComposefsShows(source, 1, true), merged, { ino: false, dirNlink: true, owner: true, symlinkPerms: true });
    // the dump lists the second names as links, and the dump gives the image back
    const dumpText = runCli(['dump', img]).stdout;
    expect(dumpText.match(/^\/hl\/\S+ \d+ @100\d{3} 2 /gm)).toHaveLength(2);
    const dump = join(work, 'full.links.dump');
    writeFileSync(dump, dumpText, 'latin1');
    build([dump, '-o', join(work, 'full.links.from-dump.cfs')]);
    expect(readFileSync(join(work, 'full.links.from-dump.cfs')).equals(readFileSync(img))).toBe(true);
    // a tar keeps them as well: its image is the image of its extraction
    const tar = join(work, 'full-links.tar');
    spawnSync('tar', ['--format=posix', '--xattrs', '--xattrs-include=*', '--acls', '--numeric-owner', '-C', src, '-cf', tar, '.'], { stdio: 'ignore' });
    const x = join(work, 'full-links-x');
    mkdirSync(x);
    sh('tar', ['--xattrs', '--xattrs-include=*', '--acls', '--numeric-owner', '--same-owner', '-p', '-C', x, '-xf', tar]);
    build([tar, '-o', join(work, 'links-tar.cfs'), '--hard-links']);
    build([x, '-o', join(work, 'links-x.cfs'), '--hard-links']);
    expect(readFileSync(join(work, 'links-tar.cfs')).equals(readFileSync(join(work, 'links-x.cfs')))).toBe(true);
  }, 300_000);

  it('a tar of a tree gives the image of the tree extracted from that tar', async () => {
    const tar = join(work, 'full.tar');
    // GNU tar skips the socket; pax keeps ns mtimes, xattrs and ACLs.
    spawnSync('tar', ['--format=posix', '--xattrs', '--xattrs-include=*', '--acls', '--numeric-owner', '-C', join(trees, 'full'), '-cf', tar, '.'], { stdio: 'ignore' });
    expect(existsSync(tar)).toBe(true);
    const x = join(work, 'full-from-tar');
    mkdirSync(x);
    sh('tar', ['--xattrs', '--xattrs-include=*', '--acls', '--numeric-owner', '--same-owner', '-p', '-C', x, '-xf', tar]);
    const fromTar = join(work, 'tar.cfs');
    const fromDir = join(work, 'tar-dir.cfs');
    const store = join(work, 'store-tar');
    build([tar, '-o', fromTar, '--objects', store]);
    build([x, '-o', fromDir]);
    expect(readFileSync(fromTar).equals(readFileSync(fromDir))).toBe(true);
    // gzip and standard input give the same image
    writeFileSync(tar + '.gz', gzipSync(readFileSync(tar)));
    build([tar + '.gz', '-o', join(work, 'tar-gz.cfs')]);
    expect(readFileSync(join(work, 'tar-gz.cfs')).equals(readFileSync(fromTar))).toBe(true);
    const stdin = spawnSync(process.execPath, [CLI_BIN, 'build', '--composefs', '-', '-o', join(work, 'tar-stdin.cfs')], { input: readFileSync(tar) });
    expect(stdin.status, stdin.stderr?.toString()).toBe(0);
    expect(readFileSync(join(work, 'tar-stdin.cfs')).equals(readFileSync(fromTar))).toBe(true);
    const merged = await overlayModel(fromTar, store, 'overlay');
    assertSameTree('tar', asComposefsShows(noInodes(diskModel(x, 'extracted')), 1), merged, { ino: false, dirNlink: true, owner: true, symlinkPerms: true });
  }, 300_000);

  for (const v of [0, 1]) {
    it(`dump input, format ${v}: the reference image, and the objects' bytes through overlayfs`, async () => {
      const img = join(work, `dump.v${v}.cfs`);
      build([join(VECTORS, 'dump-input.dump'), '-o', img, '--format-version', String(v)]);
      expect(readFileSync(img).equals(readFileSync(join(VECTORS, `dump.v${v}.cfs`)))).toBe(true);
      const store = join(trees, 'dumpstore');
      // /digest-no-payload has a digest but no redirect: overlayfs cannot reach a data-only
      // layer without one and fails lstat with EIO, which stops the walk. The mount check
      // uses the same dump without that line.
      const input = readFileSync(join(VECTORS, 'dump-input.dump'), 'latin1').split('\n').filter((l) => !l.startsWith('/digest-no-payload ')).join('\n');
      const trimmedDump = join(work, `dump-trimmed.v${v}.dump`);
      writeFileSync(trimmedDump, input, 'latin1');
      const trimmed = join(work, `dump-trimmed.v${v}.cfs`);
      build([trimmedDump, '-o', trimmed, '--format-version', String(v)]);
      const merged = await overlayModel(trimmed, store, 'overlay');
      const sha = (p: string): string | undefined => merged.entries.get(key(p))?.sha256;
      const obj = (p: string): string => sh('sha256sum', [join(store, p)]).split(' ')[0]!;
      expect(sha('/objects/a')).toBe(obj('df/1c7e27d541d794fd50475a94ee6c626753b27c377ed796943dfa39d1b42694'));
      expect(sha('/hardlink-root')).toBe(sha('/objects/a'));
      expect(sha('/custom-payload')).toBe(obj('plain/custom'));
      expect(sha('/no-digest')).toBe(obj('plain/no-digest'));
      expect(sha('/inline-bin')).toBe(createHash('sha256').update(Buffer.from([0x00, 0xff, 0x5c, 0x20, 0x3d, 0x09, 0x0d, 0x0a])).digest('hex'));
      const big = merged.entries.get(key('/big'))!;
      expect([big.size, big.uid, big.gid, big.mtime, big.mtimeNsec]).toEqual([4294967297, 4000000000, 4000000000, 7258118400, 999999999]);
      const wh = merged.entries.get(key('/dev/wh'))!;
      expect(wh.type).toBe('reg');
      expect((merged.entries.get(key('/opaque'))!.xattrs as [string, string][]).map(([n]) => n)).toEqual([key('trusted.overlay.opaque'), key('trusted.overlay.upper')]);
    }, 300_000);
  }
});
