/** The compatibility table and what it says about the fixtures (whose features are known from their mkfs commands). */
import { describe, expect, it } from 'vitest';
import { COMPAT_TABLE, compareVersions, compatibility, oldKernelRefusesSymlink } from '../src/erofs/compat.js';
import { ErofsImage, type Inode } from '../src/erofs/image.js';
import { fsck } from '../src/erofs/fsck.js';
import { writeImage } from '../src/erofs/writer.js';
import { NO_XATTRS, nameKey, newDir } from '../src/tree/node.js';
import { MemorySource } from '../src/io/source.js';
import { bytesOf, manifest } from './fixtures.js';

async function open(name: string, withDevices = true): Promise<ErofsImage> {
  const fx = manifest().find((f) => f.name === name)!;
  const devices = withDevices && !fx.appended ? fx.devices.map((d) => new MemorySource(bytesOf(d))) : [];
  return ErofsImage.open(new MemorySource(bytesOf(fx.image)), { devices });
}

describe('compatibility table', () => {
  it('every fact has versions and a source', () => {
    for (const [name, f] of Object.entries(COMPAT_TABLE)) {
      expect(f.kernel, name).toMatch(/^\d+\.\d+$/);
      expect(f.erofsUtils, name).toMatch(/^\d+\.\d+$/);
      expect(f.source.length, name).toBeGreaterThan(10);
    }
  });
  it('compares versions numerically', () => {
    expect(compareVersions('6.10', '6.9')).toBeGreaterThan(0);
    expect(compareVersions('5.4', '5.4')).toBe(0);
    expect(compareVersions('1.8', '1.10')).toBeLessThan(0);
  });
  it.each([
    // fixture, features that must be named, minimum kernel, minimum erofs-utils
    // Compat bits (sb_chksum, mtime, xattr_filter) are named but do not raise the kernel: older kernels ignore them.
    ['basic-4k', ['base', 'sb_chksum', 'mtime', 'xattr_filter'], '5.4', '1.7'],
    ['basic-512', ['small-blocks'], '6.4', '1.7'],
    ['zstd-4k', ['zstd'], '6.10', '1.8'],
    ['lzma-4k', ['lzma', 'mtime'], '5.16', '1.5'],
    ['deflate-4k', ['deflate'], '6.6', '1.7'],
    ['lz4hc-fragments', ['fragments', 'lz4'], '6.1', '1.6'],
    ['tar-index', ['tar-index', 'device_table', 'small-blocks'], '6.4', '1.7'],
  ])('%s needs %j, Linux %s, erofs-utils %s', async (name, names, kernel, utils) => {
    const c = compatibility(await open(name));
    for (const n of names) expect(c.features.map((f) => f.name), name).toContain(n);
    expect(c.minimumKernel).toBe(kernel);
    expect(c.minimumErofsUtils).toBe(utils);
    // The minimum is the newest requirement among the features named; only compat bits are optional.
    for (const f of c.features) if (!f.optional) expect(compareVersions(c.minimumKernel, f.kernel)).toBeGreaterThanOrEqual(0);
    for (const f of c.features.filter((x) => x.optional)) expect(['sb_chksum', 'mtime', 'xattr_filter']).toContain(f.name);
  });
  it('warns about the pitfalls it knows', async () => {
    expect((await open('tar-index')).devices[0]!.tag).toBe('');
    const c = compatibility(await open('tar-index'));
    expect(c.warnings.join('\n')).toMatch(/empty tag/);
    expect(compatibility(await open('basic-4k'), { formatBit4: true }).minimumKernel).toBe('6.15');
    expect(compatibility(await open('basic-4k')).warnings).toEqual([]);
  });
});

/**
 * The old-kernel inline symlink pitfall: an image in which a symlink's compact inode ends
 * exactly at a block end and its 8-byte target opens the next block (made from the writer's
 * image by moving the inode there and pointing the root's dirent at it).
 */
describe('inline symlinks older kernels refuse', () => {
  async function pitfallImage(): Promise<{ img: ErofsImage; bytes: Uint8Array }> {
    const root = newDir({ mtime: 1 });
    root.children!.set(nameKey(new TextEncoder().encode('ln')), {
      mode: 0o120777, uid: 0, gid: 0, mtime: 1, mtimeNsec: 0, size: 8, rdevMajor: 0, rdevMinor: 0, xattrs: NO_XATTRS, target: new TextEncoder().encode('abcdefgh'),
    });
    const { image } = writeImage(root, { blkszbits: 12, epoch: { sec: 1, nsec: 0 } });
    const before = await ErofsImage.open(new MemorySource(image));
    const ent = (await before.readdir(await before.root())).find((d) => new TextDecoder().decode(d.name) === 'ln')!;
    const ino = await before.inode(ent.nid);
    expect(ino.inodeSize).toBe(32);
    expect(oldKernelRefusesSymlink(ino, 4096)).toBe(false); // the writer keeps inode and target in one block
    const bytes = new Uint8Array(8192);
    bytes.set(image.subarray(0, Math.min(image.length, 4096)));
    bytes.set(image.subarray(ino.offset, ino.offset + 32), 4064); // the core ends at the block's end
    bytes.set(new TextEncoder().encode('abcdefgh'), 4096); // the target opens the next block
    new DataView(bytes.buffer).setUint32(1024 + 36, 2, true); // blocks_lo: the image is two blocks now
    new DataView(bytes.buffer).setBigUint64(ent.offset, 4064n / 32n, true); // the dirent's nid
    return { img: await ErofsImage.open(new MemorySource(bytes)), bytes };
  }

  it('are found by oldKernelRefusesSymlink, read by the reader, reported by fsck as a warning and by compatibility', async () => {
    const { img } = await pitfallImage();
    const ino = await img.lookup('/ln');
    expect(ino.nid).toBe(127);
    expect(new TextDecoder().decode(await img.readlink(ino))).toBe('abcdefgh');
    expect(oldKernelRefusesSymlink(ino, 4096)).toBe(true);
    const r = await fsck(img);
    expect(r.ok).toBe(true);
    const p = r.problems.filter((x) => x.check === 'old-kernel-symlink');
    expect(p).toHaveLength(1);
    expect(p[0]!.severity).toBe('warning');
    expect(p[0]!.offset).toBe(4096);
    const c = compatibility(img, { oldKernelSymlinks: { count: 1, first: { nid: 127, path: '/ln' } } });
    expect(c.warnings.join('\n')).toMatch(/1 inline symlink \(first: \/ln, nid 127\).*5\.14/);
  });

  it('the rule, case by case', () => {
    const base: { mode: number; layout: number; inodeSize: number; xattrSize: number } = { mode: 0o120777, layout: 2, inodeSize: 32, xattrSize: 0 };
    const at = (offset: number, size: number, extra: Partial<typeof base> = {}): boolean =>
      oldKernelRefusesSymlink({ ...base, ...extra, offset, size } as unknown as Inode, 4096);
    expect(at(4096 - 64, 32)).toBe(false); // core and target end exactly at the block end
    expect(at(4096 - 64, 33)).toBe(true); // one byte over
    expect(at(4096 - 64, 16, { xattrSize: 24 })).toBe(true); // xattrs push the target over
    expect(at(4096 - 16, 30, { inodeSize: 64 })).toBe(false); // the core crosses: the old code goes on in the next block
    expect(at(4096 - 16, 4048, { inodeSize: 64 })).toBe(false); // 48 bytes of core in the next block + 4048 = 4096
    expect(at(4096 - 16, 4049, { inodeSize: 64 })).toBe(true);
    expect(at(4096 - 32, 10, { layout: 0 })).toBe(false); // FLAT_PLAIN: never a fast symlink
    expect(oldKernelRefusesSymlink({ ...base, offset: 512 - 32, size: 10 } as unknown as Inode, 512)).toBe(false); // those kernels mount no 512-byte blocks
  });
});
