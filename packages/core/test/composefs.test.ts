/**
 * composefs images and dumps against the reference vectors in fixtures/composefs (made by
 * composefs 1.0.8's mkcomposefs and composefs-info; fixtures/composefs/PROVENANCE.md).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseDump, dumpImageText, escapeDump } from '../src/composefs/dump.js';
import { writeComposefs, type ComposefsWriteOptions } from '../src/composefs/writer.js';
import { cfsDir, makeDev, type CfsNode } from '../src/composefs/node.js';
import { ErofsImage } from '../src/erofs/image.js';
import { MemorySource } from '../src/io/source.js';
import { fsverityDigest } from '../src/digest/fsverity.js';
import { toHex } from '../src/digest/hash.js';
import { isErofsError, type ErofsError } from '../src/errors.js';
import { fsck } from '../src/erofs/fsck.js';
import fc from 'fast-check';
import { FIXTURES } from './fixtures.js';
import { composefsTree } from '../src/composefs/from-tree.js';
import { NO_XATTRS, type TreeNode } from '../src/tree/node.js';

const DIR = join(FIXTURES, 'composefs');
const file = (name: string): Uint8Array => new Uint8Array(readFileSync(join(DIR, name)));
const text = (name: string): string => readFileSync(join(DIR, name), 'latin1');

/** fs-verity digests of the reference images, from digests.txt (`--print-digest`). */
const DIGESTS = new Map(
  text('digests.txt')
    .split('\n')
    .slice(1)
    .filter((l) => l.trim())
    .map((l) => l.split(/\s+/) as [string, string])
    .map(([img, d]) => [img, d]),
);

interface Case {
  image: string;
  /** Input dump: the reference dump of the image (a directory input's tree), or the hand-written dump. */
  input: string;
  opts: ComposefsWriteOptions;
  version: number;
}

/**
 * Every reference image, built from a dump of its input. For the directory cases the input
 * is composefs-info's dump of the reference image itself: mkcomposefs reproduces the image
 * from it (checks.txt), so it is the directory tree as mkcomposefs saw it (hard links split,
 * digests computed, --use-epoch, --skip-xattrs, --skip-devices and --user-xattrs applied).
 */
const CASES: Case[] = [
  { image: 'tiny.v0.cfs', input: 'tiny.v0.dump', opts: { minVersion: 0, maxVersion: 0 }, version: 0 },
  { image: 'tiny.v1.cfs', input: 'tiny.v1.dump', opts: { minVersion: 1, maxVersion: 1 }, version: 1 },
  { image: 'full.v0.cfs', input: 'full.v0.dump', opts: { minVersion: 0, maxVersion: 0 }, version: 0 },
  { image: 'full.v1.cfs', input: 'full.v1.dump', opts: { minVersion: 1, maxVersion: 1 }, version: 1 },
  { image: 'dump.v0.cfs', input: 'dump-input.dump', opts: { minVersion: 0, maxVersion: 0 }, version: 0 },
  { image: 'dump.v1.cfs', input: 'dump-input.dump', opts: { minVersion: 1, maxVersion: 1 }, version: 1 },
  // default versions (0..1): the lowest the input needs
  { image: 'full.use-epoch.cfs', input: 'full.use-epoch.dump', opts: {}, version: 1 },
  { image: 'full.skip-xattrs.cfs', input: 'full.skip-xattrs.dump', opts: {}, version: 1 },
  { image: 'full.user-xattrs.cfs', input: 'full.user-xattrs.dump', opts: {}, version: 1 },
  { image: 'full.skip-devices.cfs', input: 'full.skip-devices.dump', opts: {}, version: 0 },
  { image: 'tiny.v0.cfs', input: 'tiny.v0.dump', opts: {}, version: 0 },
  { image: 'full.v1.cfs', input: 'full.v1.dump', opts: {}, version: 1 },
  { image: 'dump.v1.cfs', input: 'dump-input.dump', opts: {}, version: 1 },
];

/** The first differing offset and the count of differing bytes (lengths compared too). */
function diff(a: Uint8Array, b: Uint8Array): { first: number; count: number } {
  let first = -1;
  let count = Math.abs(a.length - b.length);
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    if (a[i] !== b[i]) {
      if (first < 0) first = i;
      count++;
    }
  }
  if (first < 0 && a.length !== b.length) first = Math.min(a.length, b.length);
  return { first, count };
}

async function open(bytes: Uint8Array): Promise<ErofsImage> {
  return ErofsImage.open(new MemorySource(bytes));
}

describe('composefs writer: byte identity with mkcomposefs 1.0.8', () => {
  for (const c of CASES) {
    it(`${c.input} ${JSON.stringify(c.opts)} -> ${c.image}`, async () => {
      const want = file(c.image);
      const got = writeComposefs(parseDump(file(c.input)), c.opts);
      expect(got.version).toBe(c.version);
      expect(diff(got.image, want)).toEqual({ first: -1, count: 0 });
      expect(toHex(await fsverityDigest(got.image))).toBe(DIGESTS.get(c.image));
    });
  }

  it('the images pass fsck', async () => {
    for (const c of CASES.slice(0, 6)) {
      const report = await fsck(await open(writeComposefs(parseDump(file(c.input)), c.opts).image));
      expect(report.problems.filter((p) => p.severity === 'error'), c.image).toEqual([]);
    }
  });
});

describe('composefs dump writer', () => {
  for (const c of ['tiny.v0', 'tiny.v1', 'full.v0', 'full.v1', 'full.use-epoch', 'full.skip-xattrs', 'full.user-xattrs', 'full.skip-devices']) {
    it(`dump of ${c}.cfs equals composefs-info's`, async () => {
      expect(await dumpImageText(await open(file(`${c}.cfs`)))).toBe(text(`${c}.dump`));
    });
  }

  for (const v of [0, 1]) {
    it(`dump of dump.v${v}.cfs differs from composefs-info's only where composefs-info reads past a redirect`, async () => {
      const got = (await dumpImageText(await open(file(`dump.v${v}.cfs`)))).split('\n');
      const want = text(`dump.v${v}.dump`).split('\n');
      expect(got.length).toBe(want.length);
      const differing = got.map((l, i) => [l, want[i]] as const).filter(([a, b]) => a !== b);
      // composefs-info 1.0.8 strips the redirect's leading '/' but reads two bytes past its
      // end (here the chunk index 0xFFFFFFFF); the image says /plain/no-digest.
      expect(differing).toEqual([
        ['/no-digest 70 100644 1 0 0 0 1700000000.0 plain/no-digest - -', '/no-digest 70 100644 1 0 0 0 1700000000.0 plain/no-digest\\xff\\xff - -'],
      ]);
    });
  }

  it('round trip: dump -> image -> dump is identity, and image -> dump -> image too for directory inputs', async () => {
    for (const c of CASES) {
      const img = writeComposefs(parseDump(file(c.input)), c.opts).image;
      const d1 = await dumpImageText(await open(img));
      const img2 = writeComposefs(parseDump(d1), { minVersion: c.version, maxVersion: c.version }).image;
      const d2 = await dumpImageText(await open(img2));
      expect(d2, c.image).toBe(d1);
      if (c.input !== 'dump-input.dump') expect(diff(img2, img), c.image).toEqual({ first: -1, count: 0 });
    }
  });

  it('dumps a plain EROFS image: xattrs as stored, small files as CONTENT, large ones by digest', async () => {
    const d = await dumpImageText(await open(new Uint8Array(readFileSync(join(FIXTURES, 'basic-4k.erofs')))));
    const lines = d.trimEnd().split('\n');
    expect(lines[0]!.startsWith('/ ')).toBe(true);
    for (const l of lines) {
      const f = l.split(' ');
      expect(f.length, l).toBeGreaterThanOrEqual(11);
      const mode = parseInt(f[2]!.replace('@', ''), 8);
      if ((mode & 0o170000) === 0o100000 && !f[2]!.startsWith('@') && Number(f[1]) > 5000) {
        expect(f[10], l).toMatch(/^[0-9a-f]{64}$/);
        expect(f[8]).toBe(`${f[10]!.slice(0, 2)}/${f[10]!.slice(2)}`);
      }
    }
    // The dump builds a composefs image whose dump differs only in directory sizes (the
    // layout's, not the plain image's), and is a fixed point from there.
    const again = await dumpImageText(await open(writeComposefs(parseDump(d)).image));
    const a = again.trimEnd().split('\n');
    expect(a.length).toBe(lines.length);
    // What may differ: directory sizes, xattr order (composefs lists inline ones before
    // shared ones) and the opaque marker a whiteout's directory gets in format 1.
    const dropDirSize = (l: string): string => {
      const f = l.split(' ');
      if ((parseInt(f[2]!.replace('@', ''), 8) & 0o170000) === 0o040000) f[1] = 'DIR';
      const x = f.splice(11).filter((t) => t !== 'trusted.overlay.opaque=x' && t !== 'user.overlay.opaque=x');
      return [...f, ...x.sort()].join(' ');
    };
    expect(a.map(dropDirSize)).toEqual(lines.map(dropDirSize));
    expect(a.filter((l, i) => l !== lines[i]).length).toBeGreaterThan(0);
    const third = await dumpImageText(await open(writeComposefs(parseDump(again)).image));
    expect(third).toBe(again);
  });
});

describe('composefs dump parser errors', () => {
  const root = '/ 0 40755 2 0 0 0 0.0 - - -\n';
  const cases: [string, string, number, number, RegExp][] = [
    ['no fields', root + '/a 1\n', 2, 5, /fields/],
    ['relative path', 'a 0 40755 2 0 0 0 0.0 - - -\n', 1, 1, /absolute/],
    ['bad mode', root + '/a 0 10x644 1 0 0 0 0.0 - - -\n', 2, 6, /MODE/],
    ['no file type', root + '/a 0 644 1 0 0 0 0.0 - - -\n', 2, 6, /file type/],
    ['bad mtime', root + '/a 0 100644 1 0 0 0 12 - - -\n', 2, 21, /MTIME/],
    ['bad nsec', root + '/a 0 100644 1 0 0 0 12.1000000000 - - -\n', 2, 24, /nanoseconds/],
    ['bad escape', root + '/a\\q 0 100644 1 0 0 0 0.0 - - -\n', 2, 3, /escape/],
    ['short hex', root + '/a 0 100644 1 0 0 0 0.0 - - - user.x=\\x4\n', 2, 38, /hex/],
    ['content size', root + '/a 3 100644 1 0 0 0 0.0 - ab -\n', 2, 27, /CONTENT/],
    ['digest', root + '/a 3 100644 1 0 0 0 0.0 - - abcd\n', 2, 29, /DIGEST/],
    ['xattr without =', root + '/a 0 100644 1 0 0 0 0.0 - - - user.x\n', 2, 31, /NAME=VALUE/],
    ['second root', root + root, 2, 1, /second root/],
    ['root first', '/a 0 100644 1 0 0 0 0.0 - - -\n', 1, 1, /root/],
    ['duplicate', root + '/a 0 100644 1 0 0 0 0.0 - - -\n/a 0 100644 1 0 0 0 0.0 - - -\n', 3, 1, /twice/],
    ['symlink target', root + '/l 0 120777 1 0 0 0 0.0 - - -\n', 2, 25, /target/],
    ['NUL', root + '/a\0 0 100644 1 0 0 0 0.0 - - -\n', 2, 3, /NUL/],
    ['hardlinked dir', root + '/d 0 @40755 1 0 0 0 0.0 /x - -\n', 2, 7, /directory/],
    ['content too large', root + `/a 5001 100644 1 0 0 0 0.0 - ${'a'.repeat(5001)} -\n`, 2, 30, /5000/],
  ];
  for (const [name, input, line, column, msg] of cases) {
    it(name, () => {
      let err: ErofsError | undefined;
      try {
        parseDump(input);
      } catch (e) {
        if (isErofsError(e)) err = e;
        else throw e;
      }
      expect(err?.code).toBe('invalid-value');
      expect(err?.format).toBe('composefs-dump');
      expect({ line: err?.line, column: err?.column }).toEqual({ line, column });
      expect(err?.message).toMatch(msg);
    });
  }

  it('missing parent and missing hard link target are not-found errors with their line', () => {
    for (const [input, line] of [
      [root + '/x/a 0 100644 1 0 0 0 0.0 - - -\n', 2],
      [root + '/a 0 @100644 1 0 0 0 0.0 /nope - -\n', 2],
    ] as const) {
      try {
        parseDump(input);
        expect.unreachable();
      } catch (e) {
        expect(isErofsError(e) && e.code).toBe('not-found');
        expect((e as ErofsError).line).toBe(line);
      }
    }
  });

  it('RDEV is a 64-bit dev_t of which the image keeps the low 32 bits', () => {
    const t = parseDump(root + '/c 0 20644 1 0 0 18446744069414584321 0.0 - - -\n/d 0 20644 1 0 0 286392176 0.0 - - -\n');
    expect(t.children!.get('c')!.rdev).toBe(1);
    expect(t.children!.get('d')!.rdev).toBe(286392176);
    expect(() => parseDump(root + '/c 0 20644 1 0 0 18446744073709551616 0.0 - - -\n')).toThrow(/64-bit/);
  });

  it('a forward hard link resolves, and the inode sits at the primary entry', () => {
    const t = parseDump(root + '/a 0 @100644 1 0 0 0 0.0 /d/b - -\n/d 0 40755 2 0 0 0 0.0 - - -\n/d/b 3 100644 2 7 0 0 0.0 - abc -\n');
    const b = t.children!.get('d')!.children!.get('b')!;
    expect(t.children!.get('a')!.linkTo).toBe(b);
    expect(b.content).toEqual(new TextEncoder().encode('abc'));
  });
});

describe('composefs writer rules', () => {
  const file64 = (n: number): CfsNode => ({ mode: 0o100644, uid: 0, gid: 0, nlink: 1, mtime: 5, mtimeNsec: 0, size: n, rdev: 0, xattrs: new Map(), content: new Uint8Array(n).fill(0x61) });

  it('a whiteout raises the default version to 1 and is written as a marked empty file', async () => {
    const root = cfsDir({ mtime: 5 });
    root.children!.set('gone', { mode: 0o020644, uid: 0, gid: 0, nlink: 1, mtime: 5, mtimeNsec: 0, size: 0, rdev: 0, xattrs: new Map() });
    const r = writeComposefs(root);
    expect(r.version).toBe(1);
    expect(writeComposefs(root, { maxVersion: 0 }).version).toBe(0);
    const img = await open(r.image);
    const gone = await img.lookup('/gone');
    expect(gone.mode).toBe(0o100644);
    expect((await img.xattrs(gone)).map((x) => x.name).sort()).toEqual(['trusted.overlay.overlay.whiteout', 'user.overlay.whiteout']);
    expect((await img.xattrs(await img.root())).map((x) => x.name).sort()).toEqual([
      'trusted.overlay.opaque',
      'trusted.overlay.overlay.opaque',
      'trusted.overlay.overlay.whiteouts',
      'user.overlay.opaque',
      'user.overlay.whiteouts',
    ]);
    expect(r.inodes).toBe(1 + 1 + 256);
  });

  it('external files: metacopy with the digest, redirect to the object, sparse chunk index', async () => {
    const root = cfsDir();
    const digest = new Uint8Array(32).map((_, i) => i);
    root.children!.set('f', { mode: 0o100644, uid: 0, gid: 0, nlink: 1, mtime: 0, mtimeNsec: 0, size: 4097, rdev: 0, xattrs: new Map(), digest, payload: new TextEncoder().encode('00/0102') });
    const img = await open(writeComposefs(root).image);
    const f = await img.lookup('/f');
    expect(f.layout).toBe(4);
    expect(f.iu).toBe(13 - 12);
    const xs = new Map((await img.xattrs(f)).map((x) => [x.name, x.value]));
    expect(xs.get('trusted.overlay.metacopy')).toEqual(Uint8Array.from([0, 36, 0, 1, ...digest]));
    expect(new TextDecoder().decode(xs.get('trusted.overlay.redirect'))).toBe('/00/0102');
    expect(await img.read(f, 0, 16)).toEqual(new Uint8Array(16));
  });

  it('inline tails of more than half a block go to a block of their own', async () => {
    const root = cfsDir({ mtime: 5 });
    root.children!.set('a', file64(3000));
    root.children!.set('b', file64(5000));
    const img = await open(writeComposefs(root).image);
    expect((await img.lookup('/a')).layout).toBe(0);
    expect((await img.lookup('/b')).layout).toBe(2);
    expect(await img.read(await img.lookup('/b'))).toEqual(new Uint8Array(5000).fill(0x61));
  });

  it('refuses hard links to directories and names with a slash', () => {
    const root = cfsDir();
    const d = cfsDir();
    root.children!.set('d', d);
    root.children!.set('l', { ...file64(0), linkTo: d });
    expect(() => writeComposefs(root)).toThrow(/hard link to a directory/);
    const r2 = cfsDir();
    r2.children!.set('a/b', file64(1));
    expect(() => writeComposefs(r2)).toThrow(/invalid name/);
  });

  it('makeDev keeps the low 32 bits of glibc dev_t, escapeDump escapes as composefs-info', () => {
    expect(makeDev(511, 70000)).toBe(286392176);
    expect(makeDev(8, 1)).toBe(2049);
    expect(escapeDump(new TextEncoder().encode('a b=\\\n-'), { equal: true })).toBe('a\\x20b\\x3d\\\\\\n-');
    expect(escapeDump(new TextEncoder().encode('-'), { loneDash: true })).toBe('\\x2d');
  });
});

describe('composefs tree from a directory-like tree', () => {
  /** The tiny case's tree (fixtures/composefs/make-trees.sh) in memory. */
  function tiny(): TreeNode {
    const t = (s: string): Uint8Array => new TextEncoder().encode(s);
    const reg = (content: string, mtime: number, nsec: number, extra: Partial<TreeNode> = {}): TreeNode => {
      const bytes = t(content);
      return { mode: 0o100644, uid: 0, gid: 0, mtime, mtimeNsec: nsec, size: bytes.length, rdevMajor: 0, rdevMinor: 0, xattrs: NO_XATTRS, data: bytes.length ? { kind: 'input', input: new MemorySource(bytes), offset: 0 } : { kind: 'empty' }, ...extra };
    };
    const dir = (mtime: number, nsec: number, children: [string, TreeNode][]): TreeNode => ({ mode: 0o040755, uid: 0, gid: 0, mtime, mtimeNsec: nsec, size: 0, rdevMajor: 0, rdevMinor: 0, xattrs: NO_XATTRS, children: new Map(children) });
    const hello = reg('Hello, composefs!\n', 1700000000, 1);
    return dir(1700000300, 250000000, [
      ['empty', reg('', 1700000000, 1)],
      ['ext65.bin', reg('B'.repeat(64) + '\n', 1700000002, 999999999)],
      ['hello.txt', hello],
      ['inline64.bin', reg('A'.repeat(63) + '\n', 1700000001, 0)],
      ['link', { mode: 0o120777, uid: 0, gid: 0, mtime: 1700000000, mtimeNsec: 1, size: 9, rdevMajor: 0, rdevMinor: 0, xattrs: NO_XATTRS, target: t('hello.txt') }],
      ['sub', dir(1700000010, 0, [['nested.txt', reg('nested\n', 1700000000, 1, { mode: 0o100600, uid: 1000, gid: 1000 })]])],
    ]);
  }

  it('reproduces tiny.v0.cfs and tiny.v1.cfs, digests computed here', async () => {
    const { root, objects } = await composefsTree(tiny());
    expect(objects.map((o) => [o.path, o.size])).toEqual([['f4/8c8fea195d479449c81c3d9874032691de88269a80b094324f7bd02e5fe1cf', 65]]);
    for (const v of [0, 1]) {
      const r = writeComposefs(root, { minVersion: v, maxVersion: v });
      expect(diff(r.image, file(`tiny.v${v}.cfs`))).toEqual({ first: -1, count: 0 });
    }
    expect(writeComposefs(root).version).toBe(0);
  });

  it('hard links become separate inodes with link count 1; filters as mkcomposefs', async () => {
    const tree = tiny();
    const hello = tree.children!.get('hello.txt')!;
    tree.children!.set('zz-link', hello);
    tree.children!.set('dev', { mode: 0o020644, uid: 0, gid: 0, mtime: 0, mtimeNsec: 0, size: 0, rdevMajor: 511, rdevMinor: 70000, xattrs: new Map([['trusted.x', new Uint8Array([1])], ['user.y', new Uint8Array([2])]]) });
    const { root } = await composefsTree(tree);
    expect(root.children!.get('zz-link')).not.toBe(root.children!.get('hello.txt'));
    expect(root.children!.get('zz-link')!.nlink).toBe(1);
    expect(root.children!.get('dev')!.rdev).toBe(286392176);
    expect([...(await composefsTree(tree, { userXattrs: true })).root.children!.get('dev')!.xattrs.keys()]).toEqual(['user.y']);
    expect((await composefsTree(tree, { skipDevices: true })).root.children!.has('dev')).toBe(false);
    const epoch = (await composefsTree(tree, { useEpoch: true })).root;
    expect([epoch.mtime, epoch.children!.get('sub')!.mtime]).toEqual([0, 0]);
  });

  it('hardLinks: further names link to the first in byte order, whatever the entry order; nlink counts the names kept', async () => {
    const build = async (order: 'as-is' | 'reversed', extra: Partial<Parameters<typeof composefsTree>[1]> = {}) => {
      const tree = tiny();
      const hello = tree.children!.get('hello.txt')!;
      const sub = tree.children!.get('sub')!;
      sub.children!.set('again', hello);
      tree.children!.set('a-first', hello);
      const dev: TreeNode = { mode: 0o020644, uid: 0, gid: 0, mtime: 0, mtimeNsec: 0, size: 0, rdevMajor: 1, rdevMinor: 3, xattrs: NO_XATTRS };
      tree.children!.set('dev1', dev);
      tree.children!.set('dev2', dev);
      if (order === 'reversed') tree.children = new Map([...tree.children!].reverse());
      return (await composefsTree(tree, { hardLinks: true, ...extra })).root;
    };
    for (const order of ['as-is', 'reversed'] as const) {
      const root = await build(order);
      const first = root.children!.get('a-first')!;
      expect(first.linkTo).toBeUndefined();
      expect(first.nlink).toBe(3);
      expect(root.children!.get('hello.txt')!.linkTo).toBe(first);
      expect(root.children!.get('sub')!.children!.get('again')!.linkTo).toBe(first);
      expect(root.children!.get('dev2')!.linkTo).toBe(root.children!.get('dev1'));
      expect(root.children!.get('dev1')!.nlink).toBe(2);
      // the same image whatever the order
      expect(writeComposefs(root).image).toEqual(writeComposefs(await build('as-is')).image);
    }
    const noDev = await build('as-is', { skipDevices: true });
    expect(noDev.children!.has('dev1')).toBe(false);
    // one object for the three names, and fewer inodes than without links
    const plain = tiny();
    plain.children!.set('a-first', plain.children!.get('hello.txt')!);
    expect(writeComposefs((await composefsTree(plain, { hardLinks: true })).root).inodes).toBe(writeComposefs((await composefsTree(plain)).root).inodes - 1);
  });
});

describe('fsck of metacopy files', () => {
  const ext65 = new TextEncoder().encode('B'.repeat(64) + '\n');
  const OBJ = 'f4/8c8fea195d479449c81c3d9874032691de88269a80b094324f7bd02e5fe1cf';
  const store = (objs: Record<string, Uint8Array>) => async (p: string) => (objs[p] ? new MemorySource(objs[p]!) : undefined);
  const checks = (r: Awaited<ReturnType<typeof fsck>>): string[] => r.problems.map((p) => `${p.check}:${p.code}:${p.path}`);

  it('passes with the store, reports a missing object, a wrong digest and a wrong size', async () => {
    const img = file('tiny.v0.cfs');
    expect(checks(await fsck(await open(img), { objects: store({ [OBJ]: ext65 }) }))).toEqual([]);
    expect(checks(await fsck(await open(img), { objects: store({}) }))).toEqual(['object:not-found:/ext65.bin']);
    const other = ext65.slice();
    other[0] = 0x43;
    expect(checks(await fsck(await open(img), { objects: store({ [OBJ]: other }) }))).toEqual(['object:digest-mismatch:/ext65.bin']);
    expect(checks(await fsck(await open(img), { objects: store({ [OBJ]: ext65.subarray(0, 64) }) }))).toEqual(['object:digest-mismatch:/ext65.bin', 'object:invalid-value:/ext65.bin']);
  });

  it('a malformed metacopy payload and a redirect that names another digest', async () => {
    const img = file('tiny.v0.cfs');
    const ino = await (await open(img)).lookup('/ext65.bin');
    const xs = await (await open(img)).xattrs(ino);
    const meta = xs.find((x) => x.name === 'trusted.overlay.metacopy')!;
    const redirect = xs.find((x) => x.name === 'trusted.overlay.redirect')!;
    // entry header (4) + name suffix "overlay.metacopy" (16), then the value
    const bad = img.slice();
    bad[meta.offset + 4 + 16 + 1] = 0x20;
    expect(checks(await fsck(await open(bad)))).toEqual(['metacopy:invalid-value:/ext65.bin']);
    const other = img.slice();
    other[redirect.offset + 4 + 16 + 1] = 0x30; // "/f4/..." -> "/04/..."
    expect(checks(await fsck(await open(other)))).toEqual(['redirect:digest-mismatch:/ext65.bin']);
  });
});

describe('inspecting a composefs image', () => {
  it('traces the composefs header through its table and leaves no byte unknown', async () => {
    const { inspect } = await import('../src/inspect/index.js');
    for (const name of ['tiny.v0.cfs', 'full.v1.cfs', 'dump.v1.cfs']) {
      const r = inspect(file(name));
      expect(r.spans.slice(0, 4).map((s) => [s.path, s.start, s.end])).toEqual([
        ['composefs.magic', 0, 4],
        ['composefs.version', 4, 8],
        ['composefs.flags', 8, 12],
        ['composefs.composefs_version', 12, 16],
      ]);
      expect(r.spans.filter((s) => s.kind === 'unknown'), name).toEqual([]);
      expect(r.diagnostics.filter((d) => d.severity === 'error'), name).toEqual([]);
    }
  });
});

describe('composefs round trip on random trees', () => {
  it('image -> dump -> image is byte-identical, and dump -> image -> dump is identity', async () => {
    const name = fc.uint8Array({ minLength: 1, maxLength: 12 }).filter((b) => !b.includes(0) && !b.includes(0x2f) && !(b.length === 1 && b[0] === 0x2e) && !(b.length === 2 && b[0] === 0x2e && b[1] === 0x2e));
    const xattrs = fc.array(fc.tuple(fc.constantFrom('user.a', 'user.b=c', 'trusted.overlay.x', 'trusted.k', 'security.selinux', 'user. sp'), fc.uint8Array({ maxLength: 20 })), { maxLength: 3 });
    const time = fc.record({ mtime: fc.integer({ min: 0, max: 3 }).map((x) => 1700000000 + x), mtimeNsec: fc.constantFrom(0, 1, 999999999) });
    const owner = fc.record({ uid: fc.constantFrom(0, 1000, 70000), gid: fc.constantFrom(0, 65535) });
    const leaf = fc.oneof(
      fc.tuple(time, owner, xattrs, fc.uint8Array({ minLength: 1, maxLength: 100 })).map(([t, o, x, c]): CfsNode => ({ mode: 0o100644, nlink: 1, size: c.length, rdev: 0, ...t, ...o, xattrs: new Map(x), content: c })),
      fc.tuple(time, owner, fc.integer({ min: 65, max: 1 << 30 }), fc.uint8Array({ minLength: 32, maxLength: 32 })).map(([t, o, size, d]): CfsNode => ({ mode: 0o100600, nlink: 1, size, rdev: 0, ...t, ...o, xattrs: new Map(), digest: d, payload: new TextEncoder().encode(`${d[0]!.toString(16).padStart(2, '0')}/x`) })),
      fc.tuple(time, owner, name).map(([t, o, target]): CfsNode => ({ mode: 0o120777, nlink: 1, size: target.length, rdev: 0, ...t, ...o, xattrs: new Map(), payload: target })),
      fc.tuple(time, fc.constantFrom(0o020644, 0o060600, 0o010644, 0o140755), fc.integer({ min: 0, max: 0xfffff })).map(([t, mode, rdev]): CfsNode => ({ mode, nlink: 1, size: 0, rdev: mode === 0o020644 || mode === 0o060600 ? rdev : 0, uid: 0, gid: 0, ...t, xattrs: new Map() })),
    );
    const tree: fc.Arbitrary<CfsNode> = fc.letrec<{ dir: CfsNode }>((tie) => ({
      dir: fc.tuple(time, xattrs, fc.array(fc.tuple(name, fc.oneof({ depthSize: 'small', withCrossShrink: true }, leaf, tie('dir'))), { maxLength: 6 })).map(([t, x, kids]) => {
        const d = cfsDir({ ...t, xattrs: new Map(x) });
        for (const [n, k] of kids) d.children!.set(String.fromCharCode(...n), k);
        return d;
      }),
    })).dir;
    await fc.assert(
      fc.asyncProperty(tree, async (root) => {
        const a = writeComposefs(root);
        const d1 = await dumpImageText(await open(a.image));
        const b = writeComposefs(parseDump(d1), { minVersion: a.version, maxVersion: a.version });
        expect(diff(b.image, a.image)).toEqual({ first: -1, count: 0 });
        expect(await dumpImageText(await open(b.image))).toBe(d1);
      }),
      { numRuns: 150 },
    );
  });
});

describe('bad dumps are ErofsErrors', () => {
  it('mutated dump text either parses and writes, or fails with an ErofsError carrying a line', () => {
    const base = file('dump-input.dump').subarray(0, 2000);
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.nat({ max: base.length - 1 }), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 6 }), (edits) => {
        const b = base.slice();
        for (const [i, v] of edits) b[i] = v;
        try {
          writeComposefs(parseDump(b));
        } catch (e) {
          if (!isErofsError(e)) throw e;
          if (e.format === 'composefs-dump') expect(e.line).toBeGreaterThan(0);
        }
      }),
      { numRuns: 500 },
    );
  });
});
