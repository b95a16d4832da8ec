import { describe, expect, it } from 'vitest';
import { ErofsImage, MemorySource, filterBit, filterEnabled, getXattr, nameFilter, walk } from '../src/index.js';
import { bytesOf, manifest } from './fixtures.js';

const withXattrs = manifest().filter((f) => /basic|xattr|tar|extended|compact/.test(f.name));

describe.each(withXattrs.map((f) => [f.name, f] as const))('%s', (_n, f) => {
  it('getxattr finds every listed xattr through the name filter, and misses absent names', async () => {
    const img = await ErofsImage.open(new MemorySource(bytesOf(f.image)), { devices: f.devices.map((d) => new MemorySource(bytesOf(d))) });
    let seen = 0;
    let filtered = 0;
    for await (const e of walk(img)) {
      const xs = await img.xattrs(e.inode);
      for (const x of xs.filter((a) => a.kernelVisible)) {
        expect(await getXattr(img, e.inode, x.name), `${e.path} ${x.name}`).toEqual(x.value);
        seen++;
      }
      if (xs.length > 0) {
        expect(await getXattr(img, e.inode, 'user.erofs-kit.absent-name')).toBeUndefined();
        const f32 = await nameFilter(img, e.inode);
        if (filterEnabled(img) && f32 !== undefined) {
          // Every present name's bit is clear; the filter is not all-zero (it says something).
          for (const x of xs) if (x.kernelVisible) expect((f32 >>> filterBit(x.name)) & 1, `${e.path} ${x.name}`).toBe(0);
          if (f32 !== 0) filtered++;
        }
      }
    }
    expect(seen).toBeGreaterThan(0);
    if (filterEnabled(img)) expect(filtered).toBeGreaterThan(0);
  });
});
