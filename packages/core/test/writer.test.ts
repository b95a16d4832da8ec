import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { ErofsImage, MemorySource, fsck, keyBytes, nameKey, newDir, walk, writeImage, writeImageTo, type TreeNode } from '../src/index.js';

const enc = new TextEncoder();

/** A random tree: directories, files with copied data (holes included), symlinks, devices, hard links, xattrs. */
const nameArb = fc
  .uint8Array({ minLength: 1, maxLength: 40 })
  .map((b) => b.map((x) => (x === 0 || x === 0x2f ? 0x61 : x)))
  .filter((b) => !(b.length === 1 && b[0] === 0x2e) && !(b.length === 2 && b[0] === 0x2e && b[1] === 0x2e));

const xattrArb = fc.dictionary(
  fc.constantFrom('user.a', 'user.longer-name', 'trusted.t', 'security.capability', 'security.selinux', 'trusted.overlay.opaque', 'trusted.overlay.redirect', 'user.a.b.c'),
  fc.uint8Array({ maxLength: 80 }),
  { maxKeys: 3 },
);

const attrsArb: fc.Arbitrary<Attrs> = fc.record({
  uid: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 2 ** 32 - 1 })),
  gid: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 2 ** 32 - 1 })),
  mtime: fc.oneof(fc.constant(1700000000), fc.integer({ min: -(2 ** 40), max: 2 ** 40 })),
  mtimeNsec: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 999_999_999 })),
  perm: fc.integer({ min: 0, max: 0o7777 }),
  xattrs: xattrArb,
});

interface Attrs {
  uid: number;
  gid: number;
  mtime: number;
  mtimeNsec: number;
  perm: number;
  xattrs: Record<string, Uint8Array>;
}

type Leaf = { kind: 'file'; bytes: Uint8Array; holeAt: number } | { kind: 'link'; target: Uint8Array } | { kind: 'dev'; major: number; minor: number; chr: boolean } | { kind: 'fifo' };
const leafArb: fc.Arbitrary<Leaf> = fc.oneof(
  fc.record({ kind: fc.constant('file' as const), bytes: fc.uint8Array({ maxLength: 3000 }), holeAt: fc.integer({ min: 0, max: 3 }) }),
  fc.record({ kind: fc.constant('link' as const), target: fc.uint8Array({ minLength: 1, maxLength: 600 }).map((b) => b.map((x) => x || 1)) }),
  fc.record({ kind: fc.constant('dev' as const), major: fc.integer({ min: 0, max: 4095 }), minor: fc.integer({ min: 0, max: 2 ** 20 - 1 }), chr: fc.boolean() }),
  fc.record({ kind: fc.constant('fifo' as const) }),
);

interface Spec {
  dirs: { name: Uint8Array; parent: number; attrs: Attrs }[];
  leaves: { name: Uint8Array; parent: number; leaf: Leaf; attrs: Attrs; linkTo: number }[];
}

const specArb: fc.Arbitrary<Spec> = fc.record({
  dirs: fc.array(fc.record({ name: nameArb, parent: fc.nat(), attrs: attrsArb }), { maxLength: 8 }),
  leaves: fc.array(fc.record({ name: nameArb, parent: fc.nat(), leaf: leafArb, attrs: attrsArb, linkTo: fc.integer({ min: -6, max: 30 }) }), { maxLength: 40 }),
});

function build(spec: Spec): TreeNode {
  const root = newDir({ mtime: 1700000000 });
  const dirs: TreeNode[] = [root];
  for (const d of spec.dirs) {
    const parent = dirs[d.parent % dirs.length]!;
    const node = newDir({ mode: 0o040000 | d.attrs.perm, uid: d.attrs.uid, gid: d.attrs.gid, mtime: d.attrs.mtime, mtimeNsec: d.attrs.mtimeNsec, xattrs: new Map<string, Uint8Array>(Object.entries(d.attrs.xattrs)) });
    if (!parent.children!.has(nameKey(d.name))) {
      parent.children!.set(nameKey(d.name), node);
      dirs.push(node);
    }
  }
  const leaves: TreeNode[] = [];
  for (const l of spec.leaves) {
    const parent = dirs[l.parent % dirs.length]!;
    const key = nameKey(l.name);
    if (parent.children!.has(key)) continue;
    if (l.linkTo >= 0 && l.linkTo < leaves.length) {
      parent.children!.set(key, leaves[l.linkTo]!); // hard link
      continue;
    }
    const base = { uid: l.attrs.uid, gid: l.attrs.gid, mtime: l.attrs.mtime, mtimeNsec: l.attrs.mtimeNsec, rdevMajor: 0, rdevMinor: 0, xattrs: new Map<string, Uint8Array>(Object.entries(l.attrs.xattrs)) };
    let node: TreeNode;
    const lf = l.leaf;
    if (lf.kind === 'file') {
      const gap = lf.holeAt * 700;
      node = { ...base, mode: 0o100000 | l.attrs.perm, size: lf.bytes.length ? gap + lf.bytes.length : 0, data: lf.bytes.length ? { kind: 'copy', ranges: [{ logical: gap, bytes: lf.bytes }] } : { kind: 'empty' } };
    } else if (lf.kind === 'link') node = { ...base, mode: 0o120777, size: lf.target.length, target: lf.target };
    else if (lf.kind === 'dev') node = { ...base, mode: (lf.chr ? 0o020000 : 0o060000) | l.attrs.perm, size: 0, rdevMajor: lf.major, rdevMinor: lf.minor };
    else node = { ...base, mode: 0o010000 | l.attrs.perm, size: 0 };
    parent.children!.set(key, node);
    leaves.push(node);
  }
  return root;
}

/** What a reader should see: path → stat-like record and content. */
async function expected(root: TreeNode): Promise<Map<string, unknown>> {
  const out = new Map<string, unknown>();
  const refs = new Map<TreeNode, number>();
  const count = (n: TreeNode): void => {
    for (const c of n.children?.values() ?? []) {
      refs.set(c, (refs.get(c) ?? 0) + 1);
      if (c.children && refs.get(c) === 1) count(c);
    }
  };
  count(root);
  const visit = (n: TreeNode, path: string): void => {
    const isDir = (n.mode & 0o170000) === 0o040000;
    let content: string | undefined;
    if ((n.mode & 0o170000) === 0o100000) {
      const b = new Uint8Array(n.size);
      if (n.data?.kind === 'copy') for (const r of n.data.ranges) b.set(r.bytes, r.logical);
      content = Buffer.from(b).toString('hex');
    }
    out.set(path, {
      mode: n.mode,
      uid: n.uid,
      gid: n.gid,
      mtime: n.mtime,
      mtimeNsec: n.mtimeNsec,
      nlink: isDir ? 2 + [...n.children!.values()].filter((c) => (c.mode & 0o170000) === 0o040000).length : refs.get(n) ?? 1,
      rdev: (n.mode & 0o170000) === 0o020000 || (n.mode & 0o170000) === 0o060000 ? `${n.rdevMajor}:${n.rdevMinor}` : undefined,
      target: n.target ? Buffer.from(n.target).toString('hex') : undefined,
      content,
      xattrs: Object.fromEntries([...n.xattrs].map(([k, v]) => [k, Buffer.from(v).toString('hex')]).sort()),
    });
    if (isDir) for (const [k, c] of n.children!) visit(c, path + '/' + Buffer.from(keyBytes(k)).toString('hex'));
  };
  visit(root, '');
  return out;
}

async function actual(image: Uint8Array): Promise<Map<string, unknown>> {
  const img = await ErofsImage.open(new MemorySource(image));
  const out = new Map<string, unknown>();
  for await (const e of walk(img)) {
    const i = e.inode;
    const type = i.mode & 0o170000;
    const xs = await img.xattrs(i);
    out.set(e.parts.map((p) => '/' + Buffer.from(p).toString('hex')).join(''), {
      mode: i.mode,
      uid: i.uid,
      gid: i.gid,
      mtime: i.mtime,
      mtimeNsec: i.mtimeNsec,
      nlink: i.nlink,
      rdev: i.rdev ? `${i.rdev.major}:${i.rdev.minor}` : undefined,
      target: type === 0o120000 ? Buffer.from(await img.readlink(i)).toString('hex') : undefined,
      content: type === 0o100000 ? Buffer.from(await img.read(i)).toString('hex') : undefined,
      xattrs: Object.fromEntries(xs.map((x) => [x.name, Buffer.from(x.value).toString('hex')]).sort()),
    });
  }
  const report = await fsck(img);
  expect(report.problems.filter((p) => p.severity === 'error')).toEqual([]);
  return out;
}

describe('writer → reader round trip', () => {
  it.each([
    [9, 'sequential'],
    [12, 'sequential'],
    [9, 'best-fit'],
    [12, 'best-fit'],
  ] as const)('random trees read back exactly (blkszbits %i, %s inode placement)', async (bits, packInodes) => {
    await fc.assert(
      fc.asyncProperty(specArb, fc.boolean(), fc.constantFrom(undefined, 'auto' as const, ['trusted.overlay.', 'user.a.', 'user.longer-']), async (spec, sharedXattrs, longPrefixes) => {
        const root = build(spec);
        const { image } = writeImage(root, { blkszbits: bits, packInodes, sharedXattrs, ...(longPrefixes ? { longPrefixes } : {}) });
        expect(await actual(image)).toEqual(await expected(root));
      }),
      { numRuns: 60 },
    );
  });

  it('long xattr prefixes: chosen where they save bytes, stored with their index, read back by name', async () => {
    const root = newDir({ mtime: 5 });
    const leaf = (k: number, xattrs: [string, string][]): void => {
      root.children!.set(nameKey(enc.encode(`f${k}`)), {
        mode: 0o100644, uid: 0, gid: 0, mtime: 5, mtimeNsec: 0, size: 0, rdevMajor: 0, rdevMinor: 0, data: { kind: 'empty' },
        xattrs: new Map(xattrs.map(([n, v]) => [n, enc.encode(v)])),
      });
    };
    for (let k = 0; k < 20; k++) leaf(k, [['trusted.overlay.redirect', `/objects/${k}`], ['trusted.overlay.metacopy', ''], ...(k === 3 ? [['user.once.only', 'x'] as [string, string]] : [])]);
    const plain = writeImage(root, { blkszbits: 12 }).image;
    const auto = writeImage(root, { blkszbits: 12, longPrefixes: 'auto' }).image;
    const img = await ErofsImage.open(new MemorySource(auto));
    // One prefix defined: trusted.overlay. (40 entries × 8 bytes); user.once. on one entry saves less than its record.
    expect(img.sb.feature_incompat & 0x40).toBe(0x40);
    expect(img.longPrefixes.map((p) => p.prefix)).toEqual(['trusted.overlay.']);
    const f3 = await img.lookup('/f3');
    expect(f3.xattrSize).toBeLessThan((await (await ErofsImage.open(new MemorySource(plain))).lookup('/f3')).xattrSize);
    expect(Object.fromEntries((await img.xattrs(f3)).map((x) => [x.name, new TextDecoder().decode(x.value)]))).toEqual({
      'trusted.overlay.metacopy': '',
      'trusted.overlay.redirect': '/objects/3',
      'user.once.only': 'x',
    });
    expect(await actual(auto)).toEqual(await expected(root));
    // Without any name that gains, nothing is defined and the image is the plain one.
    const bare = newDir({ mtime: 5 });
    expect(Buffer.from(writeImage(bare, { blkszbits: 12, longPrefixes: 'auto' }).image).equals(Buffer.from(writeImage(bare, { blkszbits: 12 }).image))).toBe(true);
    // An explicit prefix must extend user., trusted. or security.
    expect(() => writeImage(root, { blkszbits: 12, longPrefixes: ['other.x'] })).toThrow(/does not extend/);
  });

  it('forceCompact: compact inodes whatever their mtimes, extended only where a field does not fit', async () => {
    const root = newDir({ mtime: 5 });
    const add = (name: string, mtime: number, uid: number): void => {
      root.children!.set(nameKey(enc.encode(name)), { mode: 0o100644, uid, gid: 0, mtime, mtimeNsec: 7, size: 0, rdevMajor: 0, rdevMinor: 0, xattrs: new Map(), data: { kind: 'empty' } });
    };
    add('a', 100, 1);
    add('b', 200, 2);
    add('big-uid', 300, 70000);
    const img = await ErofsImage.open(new MemorySource(writeImage(root, { blkszbits: 12, forceCompact: true, epoch: { sec: 42, nsec: 0 } }).image));
    const a = await img.lookup('/a');
    expect([a.inodeSize, a.mtime, a.mtimeNsec]).toEqual([32, 42, 0]);
    expect((await img.lookup('/b')).inodeSize).toBe(32);
    const big = await img.lookup('/big-uid');
    expect([big.inodeSize, big.uid, big.mtime]).toEqual([64, 70000, 300]);
    expect(() => writeImage(root, { blkszbits: 12, forceCompact: true, forceExtended: true })).toThrow(/exclude/);
  });

  it('is deterministic: the same tree gives the same bytes', () => {
    fc.assert(
      fc.property(specArb, (spec) => {
        const a = writeImage(build(spec), { blkszbits: 9 }).image;
        const b = writeImage(build(spec), { blkszbits: 9 }).image;
        expect(Buffer.from(a).equals(Buffer.from(b))).toBe(true);
      }),
      { numRuns: 30 },
    );
  });

  it('a directory too large to inline gets full blocks plus a tail, and lookups find every name', async () => {
    const root = newDir({ mtime: 5 });
    for (let i = 0; i < 3000; i++) root.children!.set(nameKey(enc.encode(`entry-${i.toString().padStart(5, '0')}`)), { mode: 0o100644, uid: 0, gid: 0, mtime: 5, mtimeNsec: 0, size: 0, rdevMajor: 0, rdevMinor: 0, xattrs: new Map(), data: { kind: 'empty' } });
    const { image } = writeImage(root, { blkszbits: 9 });
    const img = await ErofsImage.open(new MemorySource(image));
    const r = await img.root();
    expect(r.size).toBeGreaterThan(512 * 10);
    for (const i of [0, 1, 1499, 2999]) expect((await img.lookup(`/entry-${i.toString().padStart(5, '0')}`)).nid).toBeGreaterThan(0);
    await expect(img.lookup('/entry-3000')).rejects.toMatchObject({ code: 'not-found' });
  });
});

describe('writeImageTo (files copied from an input)', () => {
  const bytesOf = (n: number, seed: number): Uint8Array => Uint8Array.from({ length: n }, (_, i) => (i * 31 + seed) & 0xff);
  const tree = (src: MemorySource, sizes: number[]): TreeNode => {
    const root = newDir({ mtime: 5 });
    let off = 0;
    sizes.forEach((n, k) => {
      root.children!.set(nameKey(new TextEncoder().encode(`f${k}`)), {
        mode: 0o100644, uid: 0, gid: 0, mtime: 5, mtimeNsec: 0, size: n, rdevMajor: 0, rdevMinor: 0, xattrs: new Map(),
        data: n === 0 ? { kind: 'empty' } : { kind: 'input', input: src, offset: off },
      });
      off += n;
    });
    return root;
  };
  it.each([
    [12, true],
    [12, false],
    [9, true],
  ])('blkszbits %i, inline %s: every file reads back, the checksum verifies at 4 KiB, writeImage refuses', async (bits, inline) => {
    const sizes = [0, 1, (1 << bits) - 1, 1 << bits, (1 << bits) + 1, 3 * (1 << bits) + 77, 300_000];
    const all = bytesOf(sizes.reduce((a, b) => a + b, 0), bits);
    const src = new MemorySource(all);
    const chunks: [number, Uint8Array][] = [];
    const r = await writeImageTo(tree(src, sizes), { blkszbits: bits, inlineData: inline }, { write: (o, b) => void chunks.push([o, b.slice()]) });
    const img = new Uint8Array(r.blocks << bits);
    let last = -1;
    for (const [o, b] of chunks) {
      expect(o).toBeGreaterThan(last); // increasing offsets
      last = o;
      img.set(b, o);
    }
    const image = await ErofsImage.open(new MemorySource(img));
    let off = 0;
    for (const [k, n] of sizes.entries()) {
      const ino = await image.lookup(`/f${k}`);
      expect(ino.size).toBe(n);
      expect(Buffer.from(await image.read(ino)).equals(Buffer.from(all.subarray(off, off + n)))).toBe(true);
      if (!inline && n > 0) expect(ino.layoutName).toBe('flat-plain');
      off += n;
    }
    expect(image.checksumOk).toBe(bits === 12 ? true : undefined);
    expect((await fsck(image)).ok).toBe(true);
    expect(() => writeImage(tree(src, sizes), { blkszbits: bits })).toThrow(/writeImageTo/);
  });
});
