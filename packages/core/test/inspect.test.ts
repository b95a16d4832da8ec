import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { ErofsImage, MemorySource, walk } from '../src/index.js';
import { ByteMap, inspect, parseHint, spanAt, type Annotation, type InspectResult } from '../src/inspect/index.js';
import { modeString } from '../src/inspect/describe.js';
import { bytesOf, manifest } from './fixtures.js';
import { coverageProblem } from './coverage.js';

function checkCoverage(r: InspectResult, map: ByteMap): void {
  expect(coverageProblem(r, map)).toBeUndefined();
}

const byPath = (r: InspectResult, path: string): Annotation | undefined => r.spans.find((s) => s.path === path);

const images = manifest().map((m) => [m.name, m.image] as const);

describe.each(images)('%s', (_name, file) => {
  const bytes = bytesOf(file);
  const r = inspect(bytes);

  it('attributes every byte once, finds no problem, leaves nothing unknown', () => {
    checkCoverage(r, ByteMap.of(bytes));
    expect(r.format).toBe('erofs');
    expect(r.diagnostics.filter((d) => d.severity !== 'info')).toEqual([]);
    // Compressed images included: map headers, lcluster indexes, pclusters, inline tails and
    // configuration records are all decoded (test/inspect-compressed.test.ts has the details).
    expect(r.spans.filter((s) => s.kind === 'unknown')).toEqual([]);
    expect(r.diagnostics.filter((d) => /not decoded/.test(d.message))).toEqual([]);
  });

  it('agrees with the reader on every inode the walk reaches (path, mode, size)', async () => {
    const img = await ErofsImage.open(new MemorySource(bytes));
    let checked = 0;
    for await (const e of walk(img)) {
      const ino = e.inode;
      const mode = spanAt(r.spans, ino.offset + 4)!;
      expect(mode.path).toBe(`inode[${ino.nid}].i_mode`);
      expect(mode.meaning.startsWith(modeString(ino.mode))).toBe(true);
      const size = spanAt(r.spans, ino.offset + 8)!;
      expect(size.path).toBe(`inode[${ino.nid}].i_size`);
      expect(size.meaning.startsWith(`${ino.size} bytes`)).toBe(true);
      const p = e.path || '/';
      if (/^[\x20-\x7e]*$/.test(p) && !/["\\]/.test(p)) {
        expect(r.paths.get(ino.nid)).toBeDefined();
        // Hard links: the inspector names an inode by the first path that reached it.
        if (ino.nlink === 1 || (ino.mode & 0o170000) === 0o040000) expect(r.paths.get(ino.nid)).toBe(p);
      }
      checked++;
    }
    expect(checked).toBeGreaterThan(5);
  });
});

describe('superblock and inodes (basic-4k)', () => {
  const bytes = bytesOf('basic-4k.erofs');
  const r = inspect(bytes);

  it('names the feature bits and verifies the checksum', () => {
    expect(byPath(r, 'superblock.magic')).toMatchObject({ start: 1024, end: 1028, meaning: 'EROFS_SUPER_MAGIC_V1', struct: 'erofs_super_block', field: 'magic' });
    expect(byPath(r, 'superblock.feature_compat')!.meaning).toBe('sb_chksum, mtime, xattr_filter');
    expect(byPath(r, 'superblock.blkszbits')!.meaning).toBe('block size 4096');
    expect(byPath(r, 'superblock.volume_name')!.value).toBe('"basic-4k"');
    expect(byPath(r, 'superblock.uuid')!.value).toBe('e70f5000-0000-4000-8000-000000000001');
    expect(r.diagnostics.some((d) => d.code === 'bad-checksum')).toBe(false);
  });

  it('points the root nid at the root inode, a directory', () => {
    const root = byPath(r, 'superblock.rootnid_2b')!;
    expect(root.target).toBeDefined();
    const mode = spanAt(r.spans, root.target!.offset + 4)!;
    expect(mode.meaning).toBe('drwxr-xr-x (directory)');
    expect(r.structures.find((s) => s.kind === 'inode' && s.detail === '/')).toBeDefined();
  });

  it('shows times as dates', () => {
    const epoch = byPath(r, 'superblock.epoch')!;
    expect(epoch.meaning).toBe('2023-11-14 22:13:20 UTC: base of compact-inode mtimes');
  });

  it('reports a bad checksum at the checksum field', () => {
    const b = bytes.slice();
    b[1028] = b[1028]! ^ 1;
    const d = inspect(b).diagnostics.filter((x) => x.code === 'bad-checksum');
    expect(d).toHaveLength(1);
    expect(d[0]).toMatchObject({ offset: 1028, length: 4, severity: 'error' });
    expect(d[0]!.message).toMatch(/^superblock checksum 0x[0-9a-f]+ does not match crc32c 0x[0-9a-f]+ of bytes 0x400..0x1000/);
  });

  it('reports bad magic and, without a hint, decodes nothing else', () => {
    const b = bytes.slice();
    b[1024] = 0;
    const x = inspect(b);
    expect(x.diagnostics.map((d) => [d.code, d.offset])).toEqual([['bad-magic', 1024]]);
    expect(x.spans.every((s) => s.kind === 'unknown' || s.kind === 'padding')).toBe(true);
  });

  it('reports dirents out of order', async () => {
    const img = await ErofsImage.open(new MemorySource(bytes));
    const root = await img.root();
    const ents = await img.readdir(root);
    // Swap the names of two same-length neighbours in the root directory.
    const i = ents.findIndex((e, k) => k > 1 && ents[k + 1] && e.name.length === ents[k + 1]!.name.length);
    expect(i).toBeGreaterThan(1);
    const a = ents[i]!.name;
    const c = ents[i + 1]!.name;
    const b = bytes.slice();
    const aAt = a.byteOffset - bytes.byteOffset;
    const cAt = c.byteOffset - bytes.byteOffset;
    if (aAt >= 0 && aAt < bytes.length && cAt >= 0) {
      const ta = b.slice(aAt, aAt + a.length);
      b.set(b.slice(cAt, cAt + c.length), aAt);
      b.set(ta, cAt);
    } else {
      throw new Error('names are not views of the image bytes');
    }
    const d = inspect(b).diagnostics.filter((x) => x.message.startsWith('dirents out of order'));
    expect(d).toHaveLength(1);
    expect(d[0]!.offset).toBe(cAt);
  });

  it('reports reserved i_format bits and an inline tail crossing a block', async () => {
    const img = await ErofsImage.open(new MemorySource(bytes));
    const ino = await img.lookup('/sizes/size-511');
    expect(ino.layoutName).toBe('flat-inline');
    const b = bytes.slice();
    b[ino.offset + 1] = b[ino.offset + 1]! | 0x80; // i_format bit 15
    const d1 = inspect(b).diagnostics.filter((x) => x.offset === ino.offset);
    expect(d1.map((x) => x.message)).toContain(`inode ${ino.nid}: i_format 0x${(ino.format | 0x8000).toString(16)} has bits 5-15 set (the kernel says "unsupported i_format")`);
    const c = bytes.slice();
    const tail = 4000; // grow the inline tail so it cannot fit in the rest of the block
    new DataView(c.buffer).setUint32(ino.offset + 8, tail, true);
    const d2 = inspect(c).diagnostics.filter((x) => x.message.includes('crosses the block boundary'));
    expect(d2).toHaveLength(1);
    expect(d2[0]).toMatchObject({ offset: ino.inlineBase, length: tail, severity: 'error' });
  });
});

describe('long xattr prefixes (in the packed inode)', () => {
  it.each(['xattr-prefix.erofs', 'xattr-prefix2.erofs'])('%s: xattr names agree with the reader', async (file) => {
    const bytes = bytesOf(file);
    const r = inspect(bytes);
    const img = await ErofsImage.open(new MemorySource(bytes));
    let compared = 0;
    for await (const e of walk(img)) {
      const expected = (await img.xattrs(e.inode)).filter((x) => !x.shared).map((x) => x.name);
      if (expected.length === 0) continue;
      const inode = r.structures.find((s) => s.kind === 'inode' && s.name === `inode ${e.inode.nid}`)!;
      const body = inode.children.find((c) => c.kind === 'xattrs')!;
      expect(body.children.map((c) => c.name)).toEqual(expected);
      compared += expected.length;
    }
    expect(compared).toBeGreaterThan(5);
    expect(r.spans.some((s) => s.field === 'e_name_index' && s.meaning.startsWith('long prefix 0: "user.erofs-kit.long-prefix."'))).toBe(true);
  });
});

describe('partial dumps', () => {
  const bytes = bytesOf('basic-4k.erofs');

  it('decodes an inode from a hint when the superblock is not in the dump', async () => {
    const img = await ErofsImage.open(new MemorySource(bytes));
    const ino = await img.lookup('/sizes/size-1');
    const part = bytes.subarray(ino.offset, ino.offset + 128);
    const hint = parseHint(`# erofs: blksz=4096 meta_blkaddr=0 epoch=1700000000\n# erofs: inode=${ino.nid} path=/sizes/size-1`);
    const r = inspect(new ByteMap([{ offset: ino.offset, bytes: part }]), { hint });
    expect(r.format).toBe('erofs');
    expect(spanAt(r.spans, ino.offset + 4)!.meaning).toBe('-rw-r--r-- (regular file)');
    expect(r.structures[0]).toMatchObject({ kind: 'inode', name: `inode ${ino.nid}`, detail: '/sizes/size-1' });
    checkCoverage(r, new ByteMap([{ offset: ino.offset, bytes: part }]));
  });

  it('finds inodes by their shape when the hint names none', async () => {
    const img = await ErofsImage.open(new MemorySource(bytes));
    const ino = await img.lookup('/types');
    // xxd -s <inode> -l 256: no superblock, no root, a hint with the geometry only.
    const map = new ByteMap([{ offset: ino.offset, bytes: bytes.subarray(ino.offset, ino.offset + 256) }]);
    const r = inspect(map, { hint: parseHint('# erofs: blksz=4096 meta_blkaddr=0') });
    const found = r.structures.filter((s) => s.kind === 'inode').map((s) => s.name);
    expect(found[0]).toBe(`inode ${ino.nid}`);
    expect(spanAt(r.spans, ino.offset + 4)!.meaning).toBe('drwxr-xr-x (directory)');
    expect(r.diagnostics.find((d) => d.code === 'not-found')!.message).toMatch(new RegExp(`^no root inode or inode= hint in the dump: \\d+ inodes? found by trying 32-byte slots \\(nid ${ino.nid}`));
    checkCoverage(r, map);
  });

  it('marks fields cut by the end of the dump as partial', () => {
    const part = bytes.subarray(1024, 1024 + 14); // ends inside rootnid_2b
    const r = inspect(new ByteMap([{ offset: 1024, bytes: part }]));
    expect(spanAt(r.spans, 1024 + 13)!.path).toBe('superblock.sb_extslots');
    const root = spanAt(r.spans, 1024 + 14 - 1)!;
    expect(root.path).toBe('superblock.sb_extslots');
    expect(r.spans[r.spans.length - 1]!.end).toBe(1024 + 14);
  });

  it('decodes a structure the user names at an offset', async () => {
    const img = await ErofsImage.open(new MemorySource(bytes));
    const dir = await img.lookup('/names');
    const [ext] = await img.extents(dir);
    // The directory's first block alone, and a request to read it as dirents.
    const at = ext!.physical;
    const part = bytes.subarray(at, at + 4096);
    const map = new ByteMap([{ offset: at, bytes: part }]);
    const r = inspect(map, { hint: parseHint(`# erofs: blksz=4096 struct=dirents@${at}`) });
    const names = r.spans.filter((s) => s.struct === 'dirent name').map((s) => s.value);
    const expected = (await img.readdir(dir)).filter((e) => e.offset >= at && e.offset < at + 4096).map((e) => e.name);
    expect(names.length).toBe(expected.length);
    expect(names[0]).toBe(JSON.stringify(new TextDecoder().decode(expected[0]!)));
    expect(r.diagnostics.filter((d) => d.severity !== 'info')).toEqual([]);
    checkCoverage(r, map);
    const bad = inspect(map, { hint: parseHint(`# erofs: blksz=4096 struct=no_such_struct@${at}`) });
    expect(bad.diagnostics[0]!.message).toMatch(/^struct=no_such_struct: unknown structure \(known: inode, dirents, tar, /);
  });

  it('takes what a cut superblock lacks from the hint', () => {
    // 0x400..0x410: magic to rootnid_2b; meta_blkaddr, epoch are past the end of this piece.
    const pieces = new ByteMap([
      { offset: 1024, bytes: bytes.subarray(1024, 1040) },
      { offset: 0x540, bytes: bytes.subarray(0x540, 0x560) },
    ]);
    const r = inspect(pieces, { hint: parseHint('# erofs: blksz=4096 meta_blkaddr=0 epoch=1700000000') });
    expect(r.structures.map((s) => s.name)).toEqual(['superblock', 'inode 42']);
    expect(spanAt(r.spans, 0x540 + 12)!.meaning).toBe('2023-11-14 22:13:20 UTC (epoch 1700000000 + 0)');
  });

  it('says why nothing was decoded', () => {
    const r = inspect(new ByteMap([{ offset: 8192, bytes: bytes.subarray(8192, 8192 + 64) }]));
    expect(r.diagnostics[0]!.code).toBe('not-found');
    expect(r.diagnostics[0]!.message).toContain('# erofs: blksz=4096 meta_blkaddr=0');
  });
});

describe('tar', () => {
  const tar = bytesOf('tar-index-layer.tar');
  const r = inspect(tar);

  it('decodes headers with a verified checksum and pax records', () => {
    expect(r.format).toBe('tar');
    checkCoverage(r, ByteMap.of(tar));
    expect(r.diagnostics.filter((d) => d.severity !== 'info')).toEqual([]);
    const first = r.spans.find((s) => s.field === 'chksum')!;
    expect(first.meaning).toBe('verified: matches the sum of the header bytes');
    const pax = r.spans.filter((s) => s.struct === 'pax record');
    expect(pax.length).toBeGreaterThan(10);
    expect(pax.some((s) => s.field === 'mtime' && /UTC$/.test(s.meaning))).toBe(true);
    expect(r.spans.filter((s) => s.kind === 'unknown')).toEqual([]);
  });

  it('reports a header whose checksum does not hold', () => {
    const b = tar.slice();
    b[0] = b[0]! ^ 0x20;
    const d = inspect(b, { hint: parseHint('# erofs: struct=posix_header@0') }).diagnostics.filter((x) => x.code === 'bad-checksum');
    expect(d).toHaveLength(1);
    expect(d[0]).toMatchObject({ offset: 148, length: 8, format: 'tar' });
  });

  it('follows a chunk index of the appended tar index into the tar', () => {
    const bytes = bytesOf('tar-appended.erofs');
    const x = inspect(bytes);
    const chunk = x.spans.find((s) => s.struct === 'erofs_inode_chunk_index' && s.field === 'startblk_lo' && s.target)!;
    expect(chunk).toBeDefined();
    const data = spanAt(x.spans, chunk.target!.offset)!;
    expect(data.struct).toBe('tar data');
    expect(data.kind).toBe('data');
    const header = spanAt(x.spans, chunk.target!.offset - 512)!;
    expect(header.struct).toMatch(/header$/);
  });
});

describe('robustness', () => {
  const base = bytesOf('basic-512.erofs').subarray(0, 64 * 1024);

  it('never throws on random bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 0, maxLength: 8192 }), fc.nat({ max: 4096 }), (b, off) => {
        const map = new ByteMap([{ offset: off, bytes: b }]);
        checkCoverage(inspect(map), map);
      }),
      { numRuns: 200 },
    );
  });

  it('never throws on mutated images, with and without a hint', () => {
    const hint = parseHint('# erofs: blksz=512 meta_blkaddr=0 root_nid=0');
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.nat({ max: base.length - 1 }), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 40 }), fc.boolean(), (muts, withHint) => {
        const b = base.slice();
        for (const [i, v] of muts) b[i] = v;
        const map = ByteMap.of(b);
        checkCoverage(inspect(map, withHint ? { hint } : {}), map);
      }),
      { numRuns: 150 },
    );
  });

  it('never throws on mutated superblock and inode table bytes', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.integer({ min: 1024, max: 4095 }), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 16 }), (muts) => {
        const b = base.slice();
        for (const [i, v] of muts) b[i] = v;
        // keep the magic so decoding goes deep
        b.set([0xe2, 0xe1, 0xf5, 0xe0], 1024);
        const map = ByteMap.of(b);
        checkCoverage(inspect(map), map);
      }),
      { numRuns: 150 },
    );
  });
});

describe('claim budget', () => {
  it('an image whose structures claim the same bytes again and again stops at one claim per byte, says so, and still covers every byte', () => {
    const bytes = new Uint8Array(readFileSync(new URL('./fuzz/crashes/inspect/claims-repeated-282k.erofs', import.meta.url)));
    const r = inspect(bytes);
    expect(r.diagnostics.some((d) => d.code === 'too-large' && /claim the same bytes over and over \(more than 282624 claims for 282624 bytes\)/.test(d.message))).toBe(true);
    expect(coverageProblem(r, new ByteMap([{ offset: 0, bytes }]))).toBeUndefined();
    // Outline entries share the budget with claims.
    const count = (list: InspectResult['structures']): number => list.reduce((n, s) => n + 1 + count(s.children), 0);
    expect(count(r.structures)).toBeLessThanOrEqual(bytes.length);
  });
  it('the fixtures stay far below it (no budget diagnostic)', () => {
    for (const f of manifest().filter((x) => !x.image.endsWith('.tar'))) {
      const r = inspect(bytesOf(f.image));
      expect([f.name, r.diagnostics.filter((d) => /claim the same bytes over and over/.test(d.message))]).toEqual([f.name, []]);
    }
  });
});

describe('bytes no structure claims', () => {
  it('are zero fill exactly when every one is zero, at any alignment and length', () => {
    fc.assert(
      fc.property(fc.nat({ max: 7 }), fc.nat({ max: 400 }), fc.option(fc.nat(), { nil: undefined }), fc.integer({ min: 1, max: 255 }), (shift, len, at, v) => {
        const backing = new Uint8Array(shift + len + 8);
        const bytes = backing.subarray(shift, shift + len);
        if (at !== undefined && len > 0) bytes[at % len] = v;
        const r = inspect(new ByteMap([{ offset: 8192 + shift, bytes }]));
        const want = len === 0 ? [] : [[8192 + shift, 8192 + shift + len, at === undefined ? 'zero fill' : 'unknown']];
        expect(r.spans.map((s) => [s.start, s.end, s.path])).toEqual(want);
      }),
      { numRuns: 400 },
    );
  });
});
