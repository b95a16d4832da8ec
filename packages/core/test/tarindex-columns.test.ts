/**
 * The tar index in columns (FlatLayer + writeFlatIndex, ADR 0027) against the general tree
 * builder and writer: the same tar must give the same bytes and the same result either way,
 * whether every entry fits the columns, or the general builder takes over midway. Every
 * test also checks how many entries the columns took, so a fallback cannot hide a skipped
 * column path.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { MemorySource } from '../src/io/source.js';
import { indexTar, type TarIndexOptions, type TarIndexResult } from '../src/tarindex/index.js';
import { ErofsError } from '../src/errors.js';
import type { TreeNode } from '../src/tree/node.js';
import { archive, concat, member, pax, type HeaderSpec } from './tar-corpus/craft.js';

const UUID = new Uint8Array(16).fill(7);
const HASH = Promise.resolve(new Uint8Array(32));

async function both(tar: Uint8Array, opts: TarIndexOptions = {}): Promise<{ cols: TarIndexResult; tree: TarIndexResult }> {
  const base = { uuid: UUID, sha256: HASH, ...opts };
  const cols = await indexTar(new MemorySource(tar), base);
  const tree = await indexTar(new MemorySource(tar), { ...base, columns: false });
  return { cols, tree };
}

/**
 * A layer's tree as text, children in their Map order (which decides inode numbers), every
 * attribute, data, xattr and link target, hard links by first path, implicit directories marked.
 */
function treeText(t: { root: TreeNode; implicitDirs: Set<TreeNode> }): string {
  const seen = new Map<TreeNode, string>();
  const lines: string[] = [];
  const walk = (n: TreeNode, path: string): void => {
    const first = seen.get(n);
    if (first !== undefined) {
      lines.push(`${path} = ${first}`);
      return;
    }
    seen.set(n, path);
    const xattrs = [...n.xattrs].map(([k, v]) => `${k}=${Buffer.from(v).toString('hex')}`).join(',');
    const target = n.target ? Buffer.from(n.target).toString('hex') : '';
    lines.push(`${path} ${n.mode.toString(8)} ${n.uid}:${n.gid} ${n.mtime}.${n.mtimeNsec} ${n.size} ${n.rdevMajor},${n.rdevMinor} [${xattrs}] ${target} ${JSON.stringify(n.data ?? null)}${t.implicitDirs.has(n) ? ' implicit' : ''}`);
    n.children?.forEach((c, k) => walk(c, `${path}/${Buffer.from(k, 'latin1').toString('hex')}`));
  };
  walk(t.root, '');
  return lines.join('\n');
}

/**
 * Indexes `tar` both ways, whatever happens: both succeed with the same image and entries, or
 * both fail with the same error. Returns the column result, or undefined when both failed.
 * With `keepTree`, the trees must be the same too (what stacked OCI layers are merged from).
 */
async function settled(tar: Uint8Array, opts: TarIndexOptions = {}, what = ''): Promise<TarIndexResult | undefined> {
  const base = { uuid: UUID, sha256: HASH, ...opts };
  const [cols, tree] = await Promise.allSettled([indexTar(new MemorySource(tar), base), indexTar(new MemorySource(tar), { ...base, columns: false })]);
  expect(cols.status, what).toBe(tree.status);
  if (cols.status === 'fulfilled' && tree.status === 'fulfilled') {
    expect(Buffer.from(cols.value.image).equals(Buffer.from(tree.value.image)), what).toBe(true);
    expect(cols.value.entries, what).toBe(tree.value.entries);
    if (opts.keepTree) expect(treeText(cols.value.tree!), what).toBe(treeText(tree.value.tree!));
    return cols.value;
  }
  if (cols.status === 'rejected' && tree.status === 'rejected') expect(String(cols.reason), what).toBe(String(tree.reason));
  return undefined;
}

/** Indexes `tar` both ways; the images and results must be equal. Returns the column result. */
async function same(tar: Uint8Array, opts: TarIndexOptions = {}): Promise<TarIndexResult> {
  const { cols, tree } = await both(tar, opts);
  expect(tree.columnEntries).toBe(0);
  expect(Buffer.from(cols.image).equals(Buffer.from(tree.image))).toBe(true);
  const { image: _a, columnEntries: _b, tree: t1, ...restCols } = cols;
  const { image: _c, columnEntries: _d, tree: t2, ...restTree } = tree;
  expect(restCols).toEqual(restTree);
  if (opts.keepTree) expect(treeText(t1!)).toBe(treeText(t2!));
  return cols;
}

const file = (name: string, data = 'x', spec: HeaderSpec = {}): Uint8Array => member({ name, ...spec }, data);
const dir = (name: string, spec: HeaderSpec = {}): Uint8Array => member({ name, type: '5', mode: 0o755, ...spec });

describe('tar index in columns', () => {
  it('plain files, directories, links to nothing but themselves: all in columns, same bytes', async () => {
    const tar = archive(
      dir('./'),
      dir('./etc/'),
      file('./etc/hosts', '127.0.0.1 localhost\n'),
      file('./etc/empty', ''),
      dir('./usr', { mtime: 1600000000, uid: 70000 }),
      member({ name: './usr/sh', type: '2', linkname: 'bin/busybox' }),
      member({ name: './dev-null', type: '3', devmajor: 1, devminor: 3 }),
      member({ name: './sda', type: '4', devmajor: 8, devminor: 300 }),
      member({ name: './fifo', type: '6' }),
      file('./big', 'b'.repeat(5000), { gid: 65536 }),
    );
    const r = await same(tar);
    expect(r.columnEntries).toBe(r.entries);
    expect(r.entries).toBe(10);
  });

  it('names out of order, bytes below ".", several directory blocks, inline and block tails', async () => {
    const names = ['zeta', '-dash', '+plus', 'Alpha', 'a', 'ab', 'a.b', '.hidden', '!x', 'é'];
    const parts: Uint8Array[] = [];
    for (const n of names) parts.push(file(n));
    // A directory of many entries: its dirents take several 512-byte blocks.
    for (let i = 0; i < 120; i++) parts.push(file(`many/f${(i * 37) % 120}-${'n'.repeat(i % 30)}`));
    // Symlink targets around the block size: inline when the tail fits, else a block.
    for (const len of [1, 479, 480, 481, 511, 512, 513, 1000, 4095]) parts.push(member({ name: `links/l${len}`, type: '2', linkname: 't'.repeat(Math.min(len, 100)) }));
    const r = await same(archive(...parts));
    expect(r.columnEntries).toBe(r.entries);
  });

  it('mtimes: the most common is the time base, ties the earliest, others extended inodes', async () => {
    const parts = [file('a', 'x', { mtime: 200 }), file('b', 'x', { mtime: 100 }), file('c', 'x', { mtime: 200 }), file('d', 'x', { mtime: 100 }), file('e', 'x', { mtime: 300 })];
    const r = await same(archive(...parts));
    expect(r.columnEntries).toBe(5);
    // Negative (base-256) times and pax sub-second times go through the columns too.
    const neg = await same(archive(pax([['mtime', '-5.25']]), file('n'), pax([['mtime', '1.5']]), file('m'), file('o', 'x', { mtime: 1 })));
    expect(neg.columnEntries).toBe(3);
    const given = await same(archive(...parts), { timestamp: { sec: 300, nsec: 0 } });
    expect(given.columnEntries).toBe(5);
  });

  it('replacements: a later entry wins, its name moves to the end; a directory replaced by a file drops its children', async () => {
    const tar = archive(
      file('a', 'one'),
      file('b'),
      dir('d'),
      file('d/x'),
      dir('d/sub'),
      file('d/sub/y'),
      file('a', 'two'), // file over file
      file('d', 'now a file'), // file over a directory with children
      file('d2/z'), // implicit parent
      dir('d2', { mode: 0o700, uid: 5 }), // the implicit parent gets its attributes
      dir('b'), // directory over a file
      file('b/inside'),
      dir('d2', { mode: 0o750 }), // directory over directory: attributes only
      dir('.', { mode: 0o711 }), // the root named again
    );
    const r = await same(tar, { keepTree: true });
    expect(r.columnEntries).toBe(r.entries);
  });

  it('hands over to the general builder at a hard link, a whiteout, an xattr: same bytes', async () => {
    const head = [dir('./'), file('./a'), dir('./d'), file('./d/b', 'bb')];
    const tail = [file('./d/c'), file('./e'), dir('./d/sub'), file('./d/sub/f')];
    for (const [what, mid, opts] of [
      ['hard link', member({ name: './d/hl', type: '1', linkname: './a' }), {}],
      ['whiteout with --aufs', file('./d/.wh.b', ''), { aufs: true }],
      ['opaque marker with --aufs', file('./d/.wh..wh..opq', ''), { aufs: true }],
      ['xattr', concat([pax([['SCHILY.xattr.user.k', 'v']]), file('./d/xa')]), {}],
      ['leading slash', file('/d/abs'), {}],
      ['dot-dot', file('./d/../up'), {}],
    ] as const) {
      const r = await same(archive(...head, mid, ...tail), { ...opts, keepTree: true });
      expect(r.columnEntries, what).toBe(head.length);
      expect(r.entries, what).toBe(head.length + 1 + tail.length);
    }
    // Without --aufs a .wh. name is an ordinary file.
    const plain = await same(archive(...head, file('./d/.wh.b', ''), ...tail));
    expect(plain.columnEntries).toBe(plain.entries);
  });

  it('refuses what the general builder refuses, with the same error', async () => {
    for (const tar of [
      archive(file('f'), file('f/below')), // a member below a file
      archive(member({ name: 'l', type: '2', linkname: 'x' }), file('l/below')), // below a symlink
      archive(file('./', '')), // the root as a file
      archive(member({ name: 's', type: '2', linkname: '' })), // a symlink to nothing
    ]) {
      const errors: unknown[] = [];
      for (const columns of [true, false]) {
        errors.push(await indexTar(new MemorySource(tar), { uuid: UUID, sha256: HASH, columns }).then(() => 'no error', (e: unknown) => e));
      }
      expect(errors[0]).toBeInstanceOf(ErofsError);
      expect((errors[0] as ErofsError).code).toBe((errors[1] as ErofsError).code);
      expect((errors[0] as ErofsError).message).toBe((errors[1] as ErofsError).message);
    }
  });

  it('random layers: same bytes both ways (seeded)', async () => {
    let seed = 12345;
    const rnd = (n: number): number => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      return (seed >>> 8) % n;
    };
    const pick = <T>(a: readonly T[]): T => a[rnd(a.length)]!;
    const names = ['a', 'b', 'c', 'dd', 'e.e', '.x', 'Z', 'long-' + 'n'.repeat(90)];
    let failed = 0;
    for (let round = 0; round < 40; round++) {
      const parts: Uint8Array[] = [];
      const count = 5 + rnd(60);
      for (let k = 0; k < count; k++) {
        const depth = rnd(4);
        const path = ['.', ...Array.from({ length: depth }, () => pick(names))].join('/');
        const long = path.length > 98;
        // Paths beyond the header's 100 bytes go in a pax record (the header then names a placeholder).
        if (long) parts.push(pax([['path', path]]));
        const name = long ? 'placeholder' : path;
        const spec: HeaderSpec = { mtime: pick([100, 100, 100, 200, 300]), uid: pick([0, 0, 1000, 70000]), mode: pick([0o644, 0o755, 0o4755]) };
        switch (rnd(6)) {
          case 0:
            parts.push(dir(name + '/', spec));
            break;
          case 1:
            parts.push(member({ ...spec, name, type: '2', linkname: pick(['t', 'x'.repeat(99)]) }));
            break;
          case 2:
            parts.push(member({ ...spec, name, type: '6' }));
            break;
          default:
            parts.push(file(name, 'd'.repeat(rnd(1500)), spec));
        }
      }
      const r = await settled(archive(...parts), { keepTree: round % 2 === 0 }, `round ${round}`);
      if (r) expect(r.columnEntries, `round ${round}`).toBe(r.entries);
      else failed++;
    }
    // A few rounds put a member below a file or a symlink: both ways refuse those alike.
    expect(failed).toBeLessThan(40);
  });
});

// The archives real tools write (test/tar-corpus/corpus.py, as the reader's differential tests build them).
const CORPUS = fileURLToPath(new URL('./tar-corpus/corpus.py', import.meta.url));
const python = spawnSync('python3', ['--version'], { encoding: 'utf8' });
let corpusDir: string | undefined;
let archives: { name: string; file: string }[] = [];
if (python.status === 0) {
  corpusDir = mkdtempSync(join(tmpdir(), 'erofs-kit-columns-corpus-'));
  execFileSync('python3', [CORPUS, 'build', corpusDir], { stdio: ['ignore', 'ignore', 'inherit'] });
  archives = (JSON.parse(readFileSync(join(corpusDir, 'manifest.json'), 'utf8')) as { archives: { name: string; file: string }[] }).archives;
} else {
  console.warn(`tar index in columns, corpus part: python3 is not available (${python.error?.message ?? python.stderr}); skipped`);
  if (process.env.CI) throw new Error('python3 is required under CI for the tar corpus');
}
afterAll(() => {
  if (corpusDir) rmSync(corpusDir, { recursive: true, force: true });
});

describe.skipIf(archives.length === 0)('tar index in columns, on archives real tools wrote', () => {
  it.each(archives.map((a) => [a.name, a.file] as const))('%s: same bytes both ways (or the same error)', async (name, path) => {
    const tar = new Uint8Array(readFileSync(path));
    for (const aufs of [false, true]) await settled(tar, { aufs, keepTree: true }, `${name}, aufs ${aufs}`);
  });

  it('the columns took part of these archives (they all hold a hard link, an xattr or a sparse file)', async () => {
    let taken = 0;
    let handedOver = 0;
    for (const a of archives) {
      const r = await settled(new Uint8Array(readFileSync(a.file)), {}, a.name);
      if (!r) continue;
      taken += r.columnEntries;
      if (r.columnEntries < r.entries) handedOver++;
    }
    expect(taken).toBeGreaterThan(0);
    expect(handedOver).toBeGreaterThan(0);
  });
});

const gnuTar = spawnSync('tar', ['--version'], { encoding: 'utf8' });
if (gnuTar.status !== 0) console.warn(`tar index in columns, GNU tar part: tar is not available (${gnuTar.error?.message ?? gnuTar.stderr}); skipped`);

describe.skipIf(gnuTar.status !== 0)('tar index in columns, on a plain tree archived by GNU tar', () => {
  it.each(['gnu', 'pax', 'ustar'])('--format=%s: every entry in columns, same bytes', async (format) => {
    const root = mkdtempSync(join(tmpdir(), 'erofs-kit-columns-tree-'));
    try {
      const tree = join(root, 'tree');
      for (let d = 0; d < 6; d++) {
        mkdirSync(join(tree, `dir${d}`, 'sub'), { recursive: true });
        for (let f = 0; f < 40; f++) writeFileSync(join(tree, `dir${d}`, f % 3 ? 'sub' : '', `file-${f}.txt`), 'x'.repeat(f * 97));
        symlinkSync(`../dir${(d + 1) % 6}`, join(tree, `dir${d}`, 'next'));
      }
      const tarFile = join(root, 'layer.tar');
      execFileSync('tar', ['-C', tree, `--format=${format}`, '--mtime=@1600000000', '--owner=0', '--group=0', '-cf', tarFile, '.']);
      const r = await settled(new Uint8Array(readFileSync(tarFile)), {}, format);
      expect(r).toBeDefined();
      expect(r!.entries).toBe(1 + 6 * 2 + 6 * 40 + 6);
      expect(r!.columnEntries).toBe(r!.entries);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});
