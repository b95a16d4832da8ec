/** The compatibility table and what it says about the fixtures (whose features are known from their mkfs commands). */
import { describe, expect, it } from 'vitest';
import { COMPAT_TABLE, compareVersions, compatibility } from '../src/erofs/compat.js';
import { ErofsImage } from '../src/erofs/image.js';
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
    ['basic-4k', ['base', 'sb_chksum', 'mtime', 'xattr_filter'], '6.6', '1.7'],
    ['basic-512', ['small-blocks'], '6.4', '1.7'],
    ['zstd-4k', ['zstd'], '6.10', '1.8'],
    ['lzma-4k', ['lzma', 'mtime'], '5.16', '1.5'],
    ['deflate-4k', ['deflate'], '6.6', '1.7'],
    ['lz4hc-fragments', ['fragments', 'lz4'], '6.1', '1.6'],
    ['tar-index', ['tar-index', 'device_table', 'small-blocks'], '6.6', '1.7'],
  ])('%s needs %j, Linux %s, erofs-utils %s', async (name, names, kernel, utils) => {
    const c = compatibility(await open(name));
    for (const n of names) expect(c.features.map((f) => f.name), name).toContain(n);
    expect(c.minimumKernel).toBe(kernel);
    expect(c.minimumErofsUtils).toBe(utils);
    // The minimum is the newest requirement among the features named.
    for (const f of c.features) expect(compareVersions(c.minimumKernel, f.kernel)).toBeGreaterThanOrEqual(0);
  });
  it('warns about the pitfalls it knows', async () => {
    expect((await open('tar-index')).devices[0]!.tag).toBe('');
    const c = compatibility(await open('tar-index'));
    expect(c.warnings.join('\n')).toMatch(/empty tag/);
    expect(compatibility(await open('basic-4k'), { formatBit4: true }).minimumKernel).toBe('6.15');
    expect(compatibility(await open('basic-4k')).warnings).toEqual([]);
  });
});
