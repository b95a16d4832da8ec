import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { ErofsImage, MemorySource, inspect, parseHexdump, spanAt, walk, zmapRange } from '@erofs-kit/core';
import { REPO_ROOT } from './support/fixtures.js';
import { runCli } from './support/cli.js';

const IMG = resolve(REPO_ROOT, 'fixtures/basic-4k.erofs');
const bytes = new Uint8Array(readFileSync(IMG));

describe('erofs-kit hexdump', () => {
  it('dumps an inode record by path, and the dump decodes on its own', async () => {
    const r = runCli(['hexdump', IMG, '--path', '/sizes/size-5000']);
    expect(r.status).toBe(0);
    const img = await ErofsImage.open(new MemorySource(bytes));
    const ino = await img.lookup('/sizes/size-5000');
    const lines = r.stdout.split('\n');
    expect(lines[0]).toBe(`# erofs: blksz=4096 meta_blkaddr=0 xattr_blkaddr=0 root_nid=${img.rootNid} epoch=1700000000 fixed_nsec=0 inode=${ino.nid} path=/sizes/size-5000`);
    const d = parseHexdump(r.stdout);
    expect(d.map.start).toBe(ino.offset);
    // inode + inline xattrs + the 904-byte inline tail (5000 - 4096)
    expect(d.map.end).toBe(ino.inlineBase + 904);
    expect(Buffer.from(d.map.segments[0]!.bytes).equals(Buffer.from(bytes.subarray(d.map.start, d.map.end)))).toBe(true);
    const a = inspect(d.map, { hint: d.hint });
    expect(spanAt(a.spans, ino.offset + 8)!.meaning).toBe('5000 bytes (2 blocks)');
    expect(a.structures[0]).toMatchObject({ kind: 'inode', detail: '/sizes/size-5000' });
  });

  it.each([
    ['lz4hc-ztail.erofs', 'inline'],
    ['lz4hc-legacy.erofs', 'pcluster'],
  ] as const)('dumps the compression map of a compressed file in %s, and the dump decodes on its own', async (file, storage) => {
    const image = resolve(REPO_ROOT, 'fixtures', file);
    const img = await ErofsImage.open(new MemorySource(new Uint8Array(readFileSync(image))));
    // A compressed file of several lclusters whose tail is stored as asked.
    let found: { path: string; nid: number; ends: number } | undefined;
    for await (const e of walk(img)) {
      if (!e.inode.layoutName.startsWith('compressed') || e.inode.size <= 2 * img.blockSize) continue;
      const ext = await img.extents(e.inode);
      const tail = ext[ext.length - 1]!;
      if (tail.compression!.storage !== storage) continue;
      found = { path: e.path, nid: e.inode.nid, ends: storage === 'inline' ? tail.physical + tail.compression!.encodedLength : (await zmapRange(img, e.inode)).end };
      break;
    }
    expect(found).toBeDefined();
    const r = runCli(['hexdump', image, '--path', found!.path]);
    expect(r.status).toBe(0);
    const d = parseHexdump(r.stdout);
    expect(d.map.end).toBe(found!.ends);
    const a = inspect(d.map, { hint: d.hint });
    expect(a.spans.filter((x) => x.kind === 'unknown')).toEqual([]);
    expect(a.diagnostics.filter((x) => x.severity !== 'info')).toEqual([]);
    expect(a.spans.some((x) => x.path === `inode[${found!.nid}].zmap.h_advise`)).toBe(true);
    expect(a.spans.filter((x) => /^inode\[\d+\]\.lcluster\[\d+\]/.test(x.path) && /^(PLAIN|HEAD1|HEAD2|NONHEAD)/.test(x.meaning)).length).toBeGreaterThan(2);
    if (storage === 'inline') expect(a.spans[a.spans.length - 1]!.path.endsWith('.inline_tail')).toBe(true);
  });

  it('dumps a byte range in xxd -g1 -c 8 layout', () => {
    const r = runCli(['hexdump', IMG, '--offset', '0x400', '--length', '12', '-g', '1', '-c', '8']);
    expect(r.status).toBe(0);
    expect(r.stdout.split('\n').slice(1)).toEqual(['00000400: e2 e1 f5 e0 50 22 d2 6d  ....P".m', '00000408: 07 00 00 00              ....', '']);
  });

  it('dumps any file; only EROFS images get a hint line', () => {
    const r = runCli(['hexdump', resolve(REPO_ROOT, 'fixtures/tar-index-layer.tar'), '--length', '16']);
    expect(r.stdout).toBe('00000000: 2e2f 5061 7848 6561 6465 7273 2f2e 0000  ./PaxHeaders/...\n');
  });

  it('refuses contradictory options and bad numbers', () => {
    const a = runCli(['hexdump', IMG, '--nid', '42', '--offset', '0']);
    expect(a.status).toBe(2);
    expect(a.stderr).toContain('give one of --path, --nid and --offset');
    const b = runCli(['hexdump', IMG, '--offset', 'ten']);
    expect(b.status).toBe(2);
    expect(b.stderr).toContain('--offset ten is not a number');
    const c = runCli(['hexdump', IMG, '--path', '/no/such']);
    expect(c.status).toBe(1);
    expect(c.stderr).toContain('not-found');
  });
});
