import { describe, expect, it } from 'vitest';
import { ErofsImage, MemorySource, walk } from '../src/index.js';
import { bytesOf, manifest } from './fixtures.js';

describe.each(manifest().map((f) => [f.name, f] as const))('%s', (_n, f) => {
  it('binary-search lookup finds every walked path at the same nid, and misses near names', async () => {
    const img = await ErofsImage.open(new MemorySource(bytesOf(f.image)), { devices: f.devices.map((d) => new MemorySource(bytesOf(d))) });
    let n = 0;
    for await (const e of walk(img)) {
      if (e.parts.length === 0) continue;
      const joined = new Uint8Array(e.parts.reduce((a, p) => a + p.length + 1, 0));
      let at = 0;
      for (const p of e.parts) {
        joined[at++] = 0x2f;
        joined.set(p, at);
        at += p.length;
      }
      expect((await img.lookup(joined)).nid, e.path).toBe(e.inode.nid);
      // A name just after and just before in byte order must not be found.
      const parent = joined.subarray(0, joined.length - e.parts[e.parts.length - 1]!.length);
      const last = e.parts[e.parts.length - 1]!;
      const after = new Uint8Array([...parent, ...last, 0x01]);
      await expect(img.lookup(after)).rejects.toMatchObject({ code: 'not-found' });
      if (last.length > 1) {
        const before = new Uint8Array([...parent, ...last.subarray(0, last.length - 1)]);
        await img.lookup(before).then(
          (ino) => expect(ino.nid).not.toBe(e.inode.nid),
          (err: unknown) => expect(err).toMatchObject({ code: 'not-found' }),
        );
      }
      n++;
    }
    expect(n).toBeGreaterThan(0);
  });
});
