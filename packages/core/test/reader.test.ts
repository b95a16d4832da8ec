import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { ErofsImage, MemorySource, crc32c, decode, encode, filterEnabled, format as F, fsck, getXattr, isErofsError, walk, type Inode } from '../src/index.js';
import { bytesOf, manifest, type FixtureEntry } from './fixtures.js';

const fixtures = manifest();

async function open(bytes: Uint8Array, devices: Uint8Array[] = []): Promise<ErofsImage> {
  return ErofsImage.open(new MemorySource(bytes), { devices: devices.map((d) => new MemorySource(d)) });
}

function load(f: FixtureEntry): { image: Uint8Array; devices: Uint8Array[] } {
  return { image: bytesOf(f.image), devices: f.devices.map(bytesOf) };
}

/** Recomputes the superblock checksum after a patch (when the image has one). */
function fixChecksum(b: Uint8Array): void {
  const dv = new DataView(b.buffer, b.byteOffset);
  if (!(dv.getUint32(1024 + 8, true) & 1)) return;
  const bs = 1 << b[1024 + 12]!;
  const len = bs > 1024 ? bs - 1024 : bs;
  const area = b.slice(1024, 1024 + len);
  area.fill(0, 4, 8);
  dv.setUint32(1028, crc32c(0xffffffff, area), true);
}

async function expectCode(p: Promise<unknown>, code: string, offset?: number): Promise<void> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(isErofsError(e), `expected an ErofsError ${code}, got ${String(e)}`).toBe(true);
  expect((e as { code: string }).code).toBe(code);
  if (offset !== undefined) expect((e as { offset: number }).offset).toBe(offset);
}

/** The first entry below the root matching a predicate. */
async function find(img: ErofsImage, pred: (i: Inode, path: string) => boolean): Promise<{ path: string; inode: Inode; direntOffset: number }> {
  for await (const e of walk(img)) {
    if (e.dirent && pred(e.inode, e.path)) return { path: e.path, inode: e.inode, direntOffset: e.dirent.offset };
  }
  throw new Error('no such entry in fixture');
}

const plain4k = fixtures.find((f) => f.devices.length === 0 && !f.appended && /4k|default|basic/.test(f.name)) ?? fixtures[0]!;
const tarIndex = fixtures.find((f) => f.devices.length > 0 && /tar/.test(f.name + f.image));

describe('every fixture', () => {
  it.each(fixtures.map((f) => [f.name, f] as const))('%s opens and passes fsck', async (_n, f) => {
    const { image, devices } = load(f);
    const img = await open(image, devices);
    const report = await fsck(img);
    expect(report.problems.filter((p) => p.severity === 'error')).toEqual([]);
    expect(report.stats.inodes).toBeGreaterThan(1);
  });
});

describe('corrupt input gives a coded error with an offset', () => {
  it('a buffer too small for a superblock is truncated', async () => {
    await expectCode(open(bytesOf(plain4k.image).slice(0, 1100)), 'truncated');
  });

  it('a wrong magic is bad-magic at 0x400', async () => {
    const b = bytesOf(plain4k.image);
    b[1024] = b[1024]! ^ 0xff;
    await expectCode(open(b), 'bad-magic', 1024);
  });

  it('a flipped superblock byte fails the checksum at 0x404', async () => {
    const b = bytesOf(plain4k.image);
    const img0 = await open(b);
    if (img0.checksumOk !== true) throw new Error(`fixture ${plain4k.name} has no checksum`);
    b[1040] = b[1040]! ^ 0x01; // inos
    await expectCode(open(b), 'bad-checksum', 1028);
  });

  it('an unknown incompat bit is refused by name', async () => {
    const b = bytesOf(plain4k.image);
    const dv = new DataView(b.buffer);
    dv.setUint32(1024 + 80, dv.getUint32(1024 + 80, true) | 0x8000, true);
    fixChecksum(b);
    const e = await open(b).catch((x: unknown) => x);
    expect(e).toMatchObject({ code: 'unsupported-feature', offset: 1024 + 80 });
    expect(String((e as Error).message)).toMatch(/unknown\(0x8000\)/);
  });

  it('blkszbits out of range is invalid-value at 0x40c', async () => {
    const b = bytesOf(plain4k.image);
    b[1024 + 12] = 20;
    fixChecksum(b);
    const e = await open(b).catch((x: unknown) => x);
    expect(e).toMatchObject({ code: 'invalid-value', offset: 1024 + 12 });
    expect(String((e as Error).message)).toMatch(/blkszbits 20 out of range \[9, 16\]/);
  });

  it('a nid out of range is out-of-bounds at its inode position', async () => {
    const b = bytesOf(plain4k.image);
    const img = await open(b);
    const t = await find(img, () => true);
    const bad = 0x7fffff;
    encode(F.dirent, { ...decode(F.dirent, b, t.direntOffset), nid: BigInt(bad) }, b, t.direntOffset);
    fixChecksum(b);
    const img2 = await open(b);
    await expectCode(img2.inode(bad), 'out-of-bounds', img2.iloc(bad));
    const report = await fsck(img2);
    expect(report.ok).toBe(false);
    expect(report.problems[0]).toMatchObject({ code: 'out-of-bounds', path: t.path });
  });

  it('a directory that points to itself is a loop, not a hang', async () => {
    const b = bytesOf(plain4k.image);
    const img = await open(b);
    const t = await find(img, (i) => (i.mode & F.S_IFMT) === F.S_IFDIR);
    encode(F.dirent, { ...decode(F.dirent, b, t.direntOffset), nid: BigInt(img.rootNid) }, b, t.direntOffset);
    fixChecksum(b);
    const img2 = await open(b);
    const walked = (async () => {
      for await (const _ of walk(img2)) void _;
    })();
    await expectCode(walked, 'loop', t.direntOffset);
    const report = await fsck(img2);
    expect(report.problems.some((p) => p.code === 'loop' && p.path === t.path)).toBe(true);
  });

  it('an inline tail crossing a block boundary is refused at the tail', async () => {
    const b = bytesOf(plain4k.image);
    const img = await open(b);
    const bs = img.blockSize;
    const t = await find(img, (i) => i.layout === F.DataLayout.FLAT_INLINE && (i.mode & F.S_IFMT) === F.S_IFREG && i.inlineBase % bs > 0);
    const ino = t.inode;
    const full = Math.ceil(ino.size / bs) - 1;
    const tail = bs - (ino.inlineBase % bs) + 1;
    const size = full * bs + tail;
    if (ino.compact) encode(F.inodeCompact, { ...decode(F.inodeCompact, b, ino.offset), i_size: size }, b, ino.offset);
    else encode(F.inodeExtended, { ...decode(F.inodeExtended, b, ino.offset), i_size: BigInt(size) }, b, ino.offset);
    fixChecksum(b);
    const img2 = await open(b);
    await expectCode(img2.read(await img2.inode(ino.nid)), 'invalid-value', ino.inlineBase);
  });

  it.runIf(tarIndex)('a chunk index past the end of the device is out-of-bounds at the index', async () => {
    const { image, devices } = load(tarIndex!);
    const img = await open(image, devices);
    const t = await find(img, (i) => i.layout === F.DataLayout.CHUNK_BASED && i.size > 0);
    const [ext] = await img.extents(t.inode);
    const at = ext!.entryOffset!;
    const ci = decode(F.chunkIndex, image, at);
    encode(F.chunkIndex, { ...ci, startblk_lo: img.devices[0]!.blocks + 10 }, image, at);
    const img2 = await open(image, devices);
    await expectCode(img2.read(await img2.inode(t.inode.nid)), 'out-of-bounds', at);
  });

  it.runIf(tarIndex)('a tar-index image without its tar names the missing device', async () => {
    const { image } = load(tarIndex!);
    const img = await open(image);
    const t = await find(img, (i) => i.layout === F.DataLayout.CHUNK_BASED && i.size > 0);
    const e = await img.read(t.inode).catch((x: unknown) => x);
    expect(e).toMatchObject({ code: 'missing-device' });
    expect(String((e as Error).message)).toMatch(/device 1 .*--device FILE/);
  });

  it('a name filter that hides a present xattr: getxattr misses it (as the kernel would) and fsck says so', async () => {
    const b = bytesOf(plain4k.image);
    const img = await open(b);
    if (!filterEnabled(img)) throw new Error(`fixture ${plain4k.name} has no xattr filter`);
    const t = await find(img, (i) => i.xattrSize > 0);
    const [x] = (await img.xattrs(t.inode)).filter((a) => a.kernelVisible);
    const at = t.inode.offset + t.inode.inodeSize;
    encode(F.xattrIbodyHeader, { ...decode(F.xattrIbodyHeader, b, at), h_name_filter: 0xffffffff }, b, at);
    fixChecksum(b);
    const img2 = await open(b);
    const ino = await img2.inode(t.inode.nid);
    expect(await getXattr(img2, ino, x!.name)).toBeUndefined();
    expect((await img2.xattrs(ino)).map((a) => a.name)).toContain(x!.name);
    const report = await fsck(img2);
    expect(report.problems.some((p) => p.path === t.path && /name filter/.test(p.message))).toBe(true);
  });

  it('truncated images never crash the checker', async () => {
    for (const f of fixtures) {
      const { image, devices } = load(f);
      for (const cut of [1536, 4096, Math.floor(image.length / 2), image.length - 1]) {
        if (cut >= image.length || cut < 1024 + 128) continue;
        const img = await open(image.slice(0, cut), devices).catch((e: unknown) => {
          expect(isErofsError(e), String(e)).toBe(true);
          return undefined;
        });
        if (!img) continue;
        const report = await fsck(img);
        for (const p of report.problems) expect(typeof p.code).toBe('string');
      }
    }
  });

  it('random byte flips give coded errors or clean reads, never exceptions', async () => {
    const { image, devices } = load(plain4k);
    await fc.assert(
      fc.asyncProperty(fc.array(fc.tuple(fc.nat(image.length - 1), fc.integer({ min: 1, max: 255 })), { minLength: 1, maxLength: 8 }), async (flips) => {
        const b = image.slice();
        for (const [at, x] of flips) b[at] = b[at]! ^ x;
        const img = await open(b, devices).catch((e: unknown) => {
          if (!isErofsError(e)) throw e;
          return undefined;
        });
        if (img) await fsck(img); // throws only on non-ErofsError (a bug)
      }),
      { numRuns: 150 },
    );
  });
});
