/**
 * Compressed images (fixtures made by mkfs.erofs 1.8.6 from the `compress` tree): every file
 * reads back as the source tree (sha256 listing written by make-fixtures.sh), random reads
 * equal slices of the whole file, each fixture exercises the layout it is named for, HEAD2
 * lclusters map to the high algorithm nibble, and corrupt maps or pclusters give coded errors
 * that name the inode.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { ErofsImage, MemorySource, crc32c, decode, encode, fieldOf, format as F, fsck, isErofsError, walk, type Extent, type Inode } from '../src/index.js';
import { FIXTURES, bytesOf, manifest, type FixtureEntry } from './fixtures.js';

interface Entry extends FixtureEntry {
  source: string;
}
const compressed = (manifest() as Entry[]).filter((f) => f.source.startsWith('trees/compress:'));

/** path ("/text/copy-a") -> sha256 hex, from fixtures/compress-tree.sha256. */
function treeDigests(): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of readFileSync(join(FIXTURES, 'compress-tree.sha256'), 'utf8').split('\n')) {
    const m = /^([0-9a-f]{64}) {2}\.(\/.*)$/.exec(line);
    if (m) out.set(m[2]!, m[1]!);
  }
  return out;
}
const digests = treeDigests();
const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

async function open(bytes: Uint8Array, pclusterCacheBytes?: number): Promise<ErofsImage> {
  return ErofsImage.open(new MemorySource(bytes), pclusterCacheBytes === undefined ? {} : { pclusterCacheBytes });
}

async function regularFiles(img: ErofsImage): Promise<Map<string, Inode>> {
  const out = new Map<string, Inode>();
  for await (const e of walk(img)) if ((e.inode.mode & F.S_IFMT) === F.S_IFREG) out.set(e.path, e.inode);
  return out;
}

async function streamAll(img: ErofsImage, ino: Inode, piece?: number, reuse = false): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  // with reuse a piece is only valid until the next one: copy it
  for await (const p of img.stream(ino, piece, { reuse })) parts.push(reuse ? p.slice() : p);
  return Buffer.concat(parts);
}

async function errorOf(p: Promise<unknown>): Promise<{ code: string; message: string; offset?: number }> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(isErofsError(e), `expected an ErofsError, got ${String(e)}`).toBe(true);
  return e as { code: string; message: string; offset?: number };
}

function fixChecksum(b: Uint8Array): void {
  const dv = new DataView(b.buffer, b.byteOffset);
  if (!(dv.getUint32(1024 + 8, true) & 1)) return;
  const bs = 1 << b[1024 + 12]!;
  const len = bs > 1024 ? bs - 1024 : bs;
  const area = b.slice(1024, 1024 + len);
  area.fill(0, 4, 8);
  dv.setUint32(1028, crc32c(0xffffffff, area), true);
}

function fixture(name: string): Entry {
  const f = compressed.find((x) => x.name === name);
  if (!f) throw new Error(`no compressed fixture ${name}`);
  return f;
}

it('the manifest lists the compressed fixtures and the tree listing is there', () => {
  expect(compressed.map((f) => f.name).sort()).toEqual(
    [
      'deflate-4k', 'hints-lz4hc-lzma', 'legacy-fragments', 'lz4-4k', 'lz4hc-4k', 'lz4hc-512', 'lz4hc-allfrag', 'lz4hc-bigpcl',
      'lz4hc-dedupe', 'lz4hc-fragments', 'lz4hc-legacy', 'lz4hc-ztail', 'lzma-4k', 'lzma-512-ztail', 'zstd-4k', 'zstd-combined',
    ].sort(),
  );
  expect(digests.size).toBeGreaterThan(20);
});

describe.each(compressed.map((f) => [f.name, f] as const))('%s', (_name, f) => {
  it('every file reads back as the source tree (read and stream)', async () => {
    const img = await open(bytesOf(f.image));
    const files = await regularFiles(img);
    expect([...files.keys()].sort()).toEqual([...digests.keys()].sort());
    let compressedFiles = 0;
    for (const [path, ino] of files) {
      if (ino.layout === F.DataLayout.COMPRESSED_FULL || ino.layout === F.DataLayout.COMPRESSED_COMPACT) compressedFiles++;
      const whole = await img.read(ino);
      expect(whole.length, path).toBe(ino.size);
      expect(sha(whole), path).toBe(digests.get(path));
      expect(sha(await streamAll(img, ino, 20000)), `${path} streamed`).toBe(digests.get(path));
      expect(sha(await streamAll(img, ino, 20000, true)), `${path} streamed into reused memory`).toBe(digests.get(path));
      const [s, t] = [Math.floor(ino.size / 3), Math.floor((2 * ino.size) / 3) + 1];
      const parts: Uint8Array[] = [];
      for await (const p of img.stream(ino, 20000, { start: s, end: t })) parts.push(p);
      expect(Buffer.concat(parts).equals(Buffer.from(whole.subarray(s, t))), `${path} [${s}, ${t}) streamed`).toBe(true);
    }
    expect(compressedFiles).toBeGreaterThan(5);
  });

  it('extents cover each compressed file exactly, in order', async () => {
    const img = await open(bytesOf(f.image));
    for (const [path, ino] of await regularFiles(img)) {
      const ex = await img.extents(ino);
      let at = 0;
      for (const e of ex) {
        expect(e.logical, path).toBe(at);
        expect(e.length, path).toBeGreaterThan(0);
        at += e.length;
      }
      expect(at, path).toBe(ino.size);
    }
  });

  it('fsck decodes everything without errors', async () => {
    const report = await fsck(await open(bytesOf(f.image)));
    expect(report.problems.filter((p) => p.severity === 'error')).toEqual([]);
  });
});

/** What each fixture is for, checked on its extent maps. */
const EXPECT: Record<string, (s: Stats) => void> = {
  'lz4-4k': (s) => {
    expect(s.alg.lz4).toBeGreaterThan(10);
    expect(s.features).not.toContain('compr_cfgs');
    expect(s.layouts['compressed-compact']).toBeGreaterThan(5);
  },
  'lz4hc-4k': (s) => expect(s.alg.lz4).toBeGreaterThan(10),
  'lzma-4k': (s) => expect(s.alg.lzma).toBeGreaterThan(10),
  'deflate-4k': (s) => expect(s.alg.deflate).toBeGreaterThan(10),
  'zstd-4k': (s) => expect(s.alg.zstd).toBeGreaterThan(10),
  'lz4hc-bigpcl': (s) => expect(s.big).toBeGreaterThan(3),
  'lz4hc-ztail': (s) => expect(s.storage.inline).toBeGreaterThan(5),
  'lz4hc-fragments': (s) => {
    expect(s.storage.fragment).toBeGreaterThan(5);
    expect(s.alg.interlaced).toBeGreaterThan(0);
  },
  'lz4hc-allfrag': (s) => {
    expect(s.storage.fragment).toBe(s.files - s.empty);
    expect(s.storage.pcluster ?? 0).toBe(0);
  },
  'lz4hc-dedupe': (s) => {
    expect(s.partial).toBeGreaterThan(0);
    expect(s.shared).toBeGreaterThan(0);
  },
  'lz4hc-legacy': (s) => {
    expect(s.layouts['compressed-full']).toBeGreaterThan(5);
    expect(s.features).not.toContain('zero_padding');
  },
  'legacy-fragments': (s) => {
    expect(s.layouts['compressed-full']).toBeGreaterThan(5);
    expect(s.storage.fragment).toBeGreaterThan(5);
  },
  'hints-lz4hc-lzma': (s) => {
    expect(s.algorithms).toEqual(['lz4', 'lzma']);
    expect(s.big).toBeGreaterThan(0);
  },
  'lz4hc-512': (s) => {
    expect(s.blockSize).toBe(512);
    expect(s.alg.lz4).toBeGreaterThan(10);
  },
  'lzma-512-ztail': (s) => {
    expect(s.blockSize).toBe(512);
    expect(s.alg.lzma).toBeGreaterThan(10);
    expect(s.storage.inline).toBeGreaterThan(0);
    expect(s.big).toBeGreaterThan(0);
  },
  'zstd-combined': (s) => {
    expect(s.algorithms).toEqual(['zstd']);
    expect(s.storage.fragment).toBeGreaterThan(5);
    expect(s.packedBig).toBe(true);
  },
};

interface Stats {
  files: number;
  empty: number;
  blockSize: number;
  features: string[];
  algorithms: string[];
  layouts: Record<string, number>;
  alg: Record<string, number>;
  storage: Record<string, number>;
  partial: number;
  big: number;
  /** pclusters used by more than one extent */
  shared: number;
  packedBig: boolean;
}

async function stats(img: ErofsImage): Promise<Stats> {
  const s: Stats = { files: 0, empty: 0, blockSize: img.blockSize, features: img.incompatNames, algorithms: img.compression.names, layouts: {}, alg: {}, storage: {}, partial: 0, big: 0, shared: 0, packedBig: false };
  const seen = new Map<number, number>();
  const count = (e: Extent): void => {
    const c = e.compression!;
    s.alg[c.algorithm] = (s.alg[c.algorithm] ?? 0) + 1;
    s.storage[c.storage] = (s.storage[c.storage] ?? 0) + 1;
    if (c.partial) s.partial++;
    if (c.storage === 'pcluster' && c.encodedLength > img.blockSize) s.big++;
    if (c.storage === 'pcluster' && c.algorithm !== 'plain' && c.algorithm !== 'interlaced') seen.set(e.physical, (seen.get(e.physical) ?? 0) + 1);
  };
  for (const ino of (await regularFiles(img)).values()) {
    s.files++;
    if (ino.size === 0) s.empty++;
    s.layouts[ino.layoutName] = (s.layouts[ino.layoutName] ?? 0) + 1;
    for (const e of await img.extents(ino)) if (e.compression) count(e);
  }
  for (const n of seen.values()) if (n > 1) s.shared++;
  if (img.packedNid) {
    const packed = await img.inode(img.packedNid);
    s.packedBig = (await img.extents(packed)).some((e) => (e.compression?.encodedLength ?? 0) > img.blockSize && e.compression?.storage === 'pcluster');
  }
  return s;
}

describe('each fixture exercises what it is named for', () => {
  it.each(Object.keys(EXPECT))('%s', async (name) => {
    EXPECT[name]!(await stats(await open(bytesOf(fixture(name).image))));
  });
});

describe('random reads', () => {
  // Small pcluster cache: reads evict and re-decode.
  const cases = ['lz4-4k', 'lzma-4k', 'deflate-4k', 'zstd-4k', 'lz4hc-bigpcl', 'lz4hc-ztail', 'lz4hc-fragments', 'lz4hc-dedupe', 'lz4hc-legacy', 'lzma-512-ztail', 'zstd-combined'];
  it.each(cases)('%s: any (offset, length) equals the slice of the whole file', async (name) => {
    const bytes = bytesOf(fixture(name).image);
    const img = await open(bytes, 64 << 10);
    const ref = await open(bytes);
    const files = [...(await regularFiles(img)).entries()].filter(([, i]) => i.size > 0);
    const wholes = new Map<string, Uint8Array>();
    for (const [p, i] of files) {
      const w = await ref.read(i);
      expect(sha(w), p).toBe(digests.get(p));
      wholes.set(p, w);
    }
    await fc.assert(
      fc.asyncProperty(fc.nat(files.length - 1), fc.double({ min: 0, max: 1, noNaN: true }), fc.nat(70000), async (k, where, len) => {
        const [path, ino] = files[k]!;
        const off = Math.floor(where * ino.size);
        const got = await img.read(ino, off, len);
        const want = wholes.get(path)!.subarray(off, Math.min(ino.size, off + len));
        expect(Buffer.from(got).equals(Buffer.from(want)), `${path} [${off}, +${len})`).toBe(true);
      }),
      { numRuns: 150 },
    );
  });
});

// ------------------------------------------------------------------- patched images

/** Full-index table position of a COMPRESSED_FULL inode. */
function fullIndexBase(ino: Inode): number {
  return Math.ceil(ino.inlineBase / 8) * 8 + 16;
}

async function fullInode(bytes: Uint8Array, path: string): Promise<Inode> {
  const img = await open(bytes);
  const ino = await img.lookup(path);
  expect(ino.layoutName).toBe('compressed-full');
  return ino;
}

describe('HEAD2 lclusters', () => {
  it('use the algorithm in the high nibble of h_algorithmtype', async () => {
    // lz4hc-legacy: full indexes, only lz4 available. Make the low nibble name zstd (not in the
    // image) and the high nibble lz4, then turn every HEAD1 into HEAD2: reads must still work.
    const bytes = bytesOf(fixture('lz4hc-legacy').image);
    const path = '/text/words-100k';
    const ino = await fullInode(bytes, path);
    const hpos = Math.ceil(ino.inlineBase / 8) * 8;
    const h = decode(F.zMapHeader, bytes, hpos);
    encode(F.zMapHeader, { ...h, h_algorithmtype: 0x03 }, bytes, hpos);
    const n = Math.ceil(ino.size / 4096);
    let flipped = 0;
    for (let i = 0; i < n; i++) {
      const at = fullIndexBase(ino) + i * 8;
      const d = decode(F.zLclusterIndex, bytes, at);
      if ((d.di_advise & 3) === F.Z_EROFS_LCLUSTER_TYPE.HEAD1) {
        encode(F.zLclusterIndex, { ...d, di_advise: (d.di_advise & ~3) | F.Z_EROFS_LCLUSTER_TYPE.HEAD2 }, bytes, at);
        flipped++;
      }
    }
    expect(flipped).toBeGreaterThan(3);
    fixChecksum(bytes);
    const img = await open(bytes);
    const ex = await img.extents(await img.lookup(path));
    expect(ex.filter((e) => e.compression?.algorithm === 'lz4').length).toBeGreaterThan(3);
    expect(sha(await img.read(await img.lookup(path)))).toBe(digests.get(path));

    // and a HEAD1 left in place now names zstd, which the superblock does not list
    const at = fullIndexBase(ino);
    const d = decode(F.zLclusterIndex, bytes, at);
    encode(F.zLclusterIndex, { ...d, di_advise: (d.di_advise & ~3) | F.Z_EROFS_LCLUSTER_TYPE.HEAD1 }, bytes, at);
    fixChecksum(bytes);
    const e = await errorOf((await open(bytes)).read(ino));
    expect(e.code).toBe('invalid-value');
    expect(e.message).toMatch(new RegExp(`inode ${ino.nid}: .*zstd.*available_compr_algs`));
    expect(e.offset).toBe(at);
  });
});

describe('corrupt compressed data gives a coded error naming the inode', () => {
  it('a decompressed size that lies (extent longer than its pcluster decodes to)', async () => {
    for (const name of ['lz4hc-legacy', 'lz4hc-dedupe']) {
      const bytes = bytesOf(fixture(name).image);
      const img = await open(bytes);
      // a full-index file whose end-of-file head sits inside its last lcluster
      let target: { ino: Inode; eof: number } | undefined;
      for (const ino of (await regularFiles(img)).values()) {
        if (ino.layoutName !== 'compressed-full' || ino.size % 4096 === 0 || ino.size % 4096 > 3000) continue;
        const last = (await img.extents(ino)).at(-1)!;
        if (last.compression?.storage !== 'pcluster' || last.compression.algorithm !== 'lz4') continue;
        const n = Math.ceil(ino.size / 4096);
        const at = fullIndexBase(ino) + (n - 1) * 8;
        const d = decode(F.zLclusterIndex, bytes, at);
        if ((d.di_advise & 3) !== F.Z_EROFS_LCLUSTER_TYPE.NONHEAD && (n - 1) * 4096 + d.di_clusterofs === ino.size) {
          target = { ino, eof: at };
          break;
        }
      }
      expect(target, `${name}: a file to patch`).toBeDefined();
      const { ino, eof } = target!;
      const d = decode(F.zLclusterIndex, bytes, eof);
      encode(F.zLclusterIndex, { ...d, di_clusterofs: d.di_clusterofs + 700 }, bytes, eof);
      const sizeAt = ino.offset + (ino.compact ? fieldOf(F.inodeCompact, 'i_size') : fieldOf(F.inodeExtended, 'i_size')).offset;
      new DataView(bytes.buffer, bytes.byteOffset).setUint32(sizeAt, ino.size + 700, true);
      fixChecksum(bytes);
      const patched = await open(bytes);
      const grown = await patched.inode(ino.nid);
      expect(grown.size).toBe(ino.size + 700);
      const e = await errorOf(patched.read(grown));
      expect(e.code, name).toBe('invalid-value');
      expect(e.message, name).toMatch(new RegExp(`^inode ${ino.nid}: lz4 pcluster at 0x[0-9a-f]+ .*`));
      expect(e.offset, name).toBeGreaterThan(0);
    }
  });

  it('a head index pointing past the image', async () => {
    const bytes = bytesOf(fixture('lz4hc-legacy').image);
    const ino = await fullInode(bytes, '/sizes/text-8193');
    const at = fullIndexBase(ino);
    const d = decode(F.zLclusterIndex, bytes, at);
    encode(F.zLclusterIndex, { ...d, di_blkaddr: 0x7fffff00 }, bytes, at);
    fixChecksum(bytes);
    const e = await errorOf((await open(bytes)).read(ino, 0, 10));
    expect(e.code).toBe('out-of-bounds');
    expect(e.message).toMatch(new RegExp(`^inode ${ino.nid}: pcluster of extent \\[0, \\d+\\) at 0x7fffff00000 .* lies past the end of the image`));
    expect(e.offset).toBe(at);
  });

  it('a compact pack base pointing past the image', async () => {
    const bytes = bytesOf(fixture('lz4hc-4k').image);
    const img = await open(bytes);
    const ino = await img.lookup('/sizes/text-8193');
    expect(ino.layoutName).toBe('compressed-compact');
    // three lclusters, too few for 2-byte packs: the first 4-byte pack holds lcluster 0
    const ebase = Math.ceil(ino.inlineBase / 8) * 8 + 8;
    const pack = decode(F.zCompactPack4B, bytes, ebase);
    encode(F.zCompactPack4B, { ...pack, blkaddr: 0x7fffff00 }, bytes, ebase);
    fixChecksum(bytes);
    const e = await errorOf((await open(bytes)).read(ino));
    expect(e.code).toBe('out-of-bounds');
    expect(e.message).toMatch(new RegExp(`^inode ${ino.nid}: `));
  });

  it('an i_size far beyond the index area fails before allocating', async () => {
    const bytes = bytesOf(fixture('lz4hc-4k').image);
    const ino = await (await open(bytes)).lookup('/sizes/text-8193');
    expect(ino.layoutName).toBe('compressed-compact');
    const sizeAt = ino.offset + fieldOf(F.inodeCompact, 'i_size').offset;
    new DataView(bytes.buffer, bytes.byteOffset).setUint32(sizeAt, 0xfffffff0, true);
    fixChecksum(bytes);
    const patched = await open(bytes);
    const e = await errorOf(patched.read(await patched.inode(ino.nid), 0xfffff000, 16));
    expect(e.code).toBe('out-of-bounds');
    expect(e.message).toMatch(new RegExp(`^inode ${ino.nid}: .*compact lcluster indexes`));
  });

  it('an LZ4 pcluster overwritten with 0xff', async () => {
    const bytes = bytesOf(fixture('lz4-4k').image);
    const img = await open(bytes);
    const ino = await img.lookup('/text/words-100k');
    const e0 = (await img.extents(ino)).find((e) => e.compression?.algorithm === 'lz4')!;
    bytes.fill(0xff, e0.physical, e0.physical + e0.compression!.encodedLength);
    const e = await errorOf((await open(bytes)).read(ino, e0.logical, 1));
    expect(e.code).toBe('invalid-value');
    expect(e.message).toMatch(new RegExp(`^inode ${ino.nid}: lz4 pcluster at 0x${e0.physical.toString(16)} .*file bytes \\[${e0.logical}, `));
    expect(e.offset).toBeGreaterThanOrEqual(e0.physical);
    expect(e.offset).toBeLessThanOrEqual(e0.physical + e0.compression!.encodedLength);
  });

  it('a pcluster of zeros (no stream after the padding)', async () => {
    const bytes = bytesOf(fixture('zstd-4k').image);
    const img = await open(bytes);
    const ino = await img.lookup('/text/words-100k');
    const e0 = (await img.extents(ino)).find((e) => e.compression?.algorithm === 'zstd')!;
    bytes.fill(0, e0.physical, e0.physical + e0.compression!.encodedLength);
    const e = await errorOf((await open(bytes)).read(ino, e0.logical, 1));
    expect(e.code).toBe('invalid-value');
    expect(e.message).toMatch(new RegExp(`^inode ${ino.nid}: zstd pcluster at 0x${e0.physical.toString(16)} .*holds only zeros`));
  });

  it.each(['lz4-4k', 'lz4hc-legacy', 'lzma-4k', 'deflate-4k', 'zstd-4k', 'lz4hc-bigpcl'])('%s: flipped bytes inside a pcluster never crash', async (name) => {
    const clean = bytesOf(fixture(name).image);
    const img = await open(clean);
    const targets: { ino: Inode; e: Extent }[] = [];
    for (const ino of (await regularFiles(img)).values()) {
      for (const e of await img.extents(ino)) if (e.compression?.storage === 'pcluster' && !['plain', 'interlaced'].includes(e.compression.algorithm)) targets.push({ ino, e });
    }
    expect(targets.length).toBeGreaterThan(3);
    let errors = 0;
    await fc.assert(
      fc.asyncProperty(fc.nat(targets.length - 1), fc.array(fc.tuple(fc.double({ min: 0, max: 1, noNaN: true }), fc.integer({ min: 1, max: 255 })), { minLength: 1, maxLength: 8 }), async (k, flips) => {
        const { ino, e } = targets[k]!;
        const bytes = clean.slice();
        const len = e.compression!.encodedLength;
        for (const [where, x] of flips) bytes[e.physical + Math.floor(where * len)]! ^= x;
        const patched = await open(bytes);
        try {
          const got = await patched.read(ino, e.logical, e.length);
          expect(got.length).toBe(e.length);
        } catch (err) {
          expect(isErofsError(err), String(err)).toBe(true);
          expect((err as Error).message).toMatch(new RegExp(`^inode ${ino.nid}: `));
          errors++;
        }
      }),
      { numRuns: 60 },
    );
    expect(errors).toBeGreaterThan(0);
  });
});
