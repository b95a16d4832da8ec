/**
 * fsck with `data: false` (the CLI's --no-data): every map is still decoded and checked, but no
 * file data is read or decompressed — a corrupt pcluster goes unnoticed, a map pointing past
 * the image does not.
 */
import { describe, expect, it } from 'vitest';
import { ErofsImage } from '../src/erofs/image.js';
import { fsck } from '../src/erofs/fsck.js';
import { walk } from '../src/erofs/walk.js';
import { MemorySource } from '../src/io/source.js';
import { crc32c } from '../src/erofs/checksum.js';
import { bytesOf, manifest } from './fixtures.js';

function fixture(name: string): Uint8Array {
  return bytesOf(manifest().find((f) => f.name === name)!.image).slice();
}

describe('fsck without reading data', () => {
  it('a clean image passes and reads no file bytes', async () => {
    const img = await ErofsImage.open(new MemorySource(fixture('lz4-4k')));
    const full = await fsck(img);
    const meta = await fsck(img, { data: false });
    expect(full.ok && meta.ok).toBe(true);
    expect(meta.stats.inodes).toBe(full.stats.inodes);
    expect(meta.stats.bytes).toBeLessThan(full.stats.bytes);
  });

  it('a flipped pcluster is found only when data is read', async () => {
    const bytes = fixture('lz4-4k');
    const img0 = await ErofsImage.open(new MemorySource(bytes));
    let target: { physical: number; length: number } | undefined;
    for await (const e of walk(img0)) {
      if ((e.inode.mode & 0o170000) !== 0o100000 || e.inode.size < 65536) continue;
      const x = (await img0.extents(e.inode)).find((x) => x.compression?.storage === 'pcluster' && x.compression.algorithm === 'lz4');
      if (x) {
        target = { physical: x.physical, length: x.compression!.encodedLength };
        break;
      }
    }
    expect(target).toBeDefined();
    for (let i = 0; i < 64; i++) bytes[target!.physical + (target!.length >> 1) + i]! ^= 0xa5;
    const img = await ErofsImage.open(new MemorySource(bytes));
    const full = await fsck(img);
    expect(full.problems.some((p) => p.check === 'compressed-data')).toBe(true);
    const meta = await fsck(img, { data: false });
    expect(meta.problems.filter((p) => p.severity === 'error')).toEqual([]);
  });

  it('a block address past the image is found either way', async () => {
    const bytes = fixture('basic-4k');
    const img0 = await ErofsImage.open(new MemorySource(bytes));
    let at = -1;
    for await (const e of walk(img0)) {
      if ((e.inode.mode & 0o170000) === 0o100000 && e.inode.layoutName === 'flat-plain' && e.inode.size > 0) {
        at = e.inode.offset + 16; // i_u: the first data block
        break;
      }
    }
    expect(at).toBeGreaterThan(0);
    const dv = new DataView(bytes.buffer, bytes.byteOffset);
    dv.setUint32(at, 0x00ffffff, true);
    if (at < 4096) {
      // The superblock's checksum covers its block: make it right again.
      dv.setUint32(1024 + 4, 0, true);
      dv.setUint32(1024 + 4, crc32c(0xffffffff, bytes.subarray(1024, 4096)), true);
    }
    const img = await ErofsImage.open(new MemorySource(bytes));
    for (const data of [true, false]) {
      const r = await fsck(img, { data });
      expect(r.problems.some((p) => p.check === 'block-address'), `data: ${data}`).toBe(true);
    }
  });
});
