import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { inspect, parseHexdump, spanAt } from '@erofs-kit/core';
import { inodeDump, offsetDump } from '../../src/model/bytes.js';
import { FIXTURES, fixtureUri, registry } from './support.js';

/** Parses a dump as the language server does and returns what the inspector made of it. */
function analyse(text: string) {
  const dump = parseHexdump(text);
  return { dump, result: inspect(dump.map, { hint: dump.hint }) };
}

describe('Show Bytes dumps', () => {
  const image = readFileSync(FIXTURES + 'basic-4k.erofs');

  it.each([
    ['/sizes/size-1', 'inode'],
    ['/sizes', 'dir'],
    ['/', 'dir'],
    ['/sizes/size-1', 'data'],
    ['/sizes/size-70000', 'data'],
  ] as const)('%s (%s): every dumped byte is the image byte at that offset, and the inode is decoded', async (path, kind) => {
    const { mounts } = registry();
    const opened = await mounts.mount(fixtureUri('basic-4k.erofs'), 'erofs');
    const { ino } = await opened.resolve(path, false);
    const text = await inodeDump(opened.image, path, ino, kind);
    const { dump, result } = analyse(text);
    expect(dump.problems).toEqual([]);
    let bytes = 0;
    for (let off = ino.offset; off < ino.offset + ino.inodeSize; off++) {
      expect(dump.map.get(off, 1)?.[0]).toBe(image[off]);
      bytes++;
    }
    expect(bytes).toBe(ino.inodeSize);
    const first = spanAt(result.spans, ino.offset);
    expect(first?.struct).toMatch(/^erofs_inode_(compact|extended)$/);
    expect(first?.field).toBe('i_format');
    if (kind === 'dir') {
      // The directory's entries are decoded: some span is a dirent.
      expect(result.spans.some((s) => s.struct === 'erofs_dirent')).toBe(true);
    }
    if (kind === 'data') {
      const extents = await opened.image.extents(ino);
      const e = extents.find((x) => x.device === 0)!;
      const n = Math.min(16, e.length);
      expect(n).toBeGreaterThan(0);
      expect(dump.map.get(e.physical, n)).toEqual(new Uint8Array(image.subarray(e.physical, e.physical + n)));
    }
  });

  it('a window around an offset holds the superblock and the bytes there', async () => {
    const { mounts } = registry();
    const opened = await mounts.mount(fixtureUri('basic-4k.erofs'), 'erofs');
    const text = await offsetDump(opened.image, 0x2000);
    const { dump, result } = analyse(text);
    expect(dump.map.get(0x2000, 32)).toEqual(new Uint8Array(image.subarray(0x2000, 0x2020)));
    expect(spanAt(result.spans, 1024)?.field).toBe('magic');
  });
});
