/**
 * The tolerant inspector on compressed images (every -z fixture): map headers, full and
 * compact lcluster indexes, pclusters, ztailpacking tails, configuration records. The
 * differential test holds the annotation against the strict reader's `loadZMap` (through
 * `ErofsImage.extents`) for every compressed inode: each extent's head lcluster is annotated
 * with the matching type, the pcluster or inline tail it names is where the reader reads,
 * and no other lcluster is annotated as a head.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { ErofsImage, MemorySource, walk, type Inode } from '../src/index.js';
import { ByteMap, inspect, spanAt, type Annotation, type InspectResult } from '../src/inspect/index.js';
import { bytesOf, manifest } from './fixtures.js';
import { coverageProblem } from './coverage.js';

const compressed = manifest().filter((m) => /^(lz4|lzma|deflate|zstd|legacy|hints)/.test(m.name));

function pathIndex(r: InspectResult): Map<string, Annotation> {
  const m = new Map<string, Annotation>();
  for (const s of r.spans) if (!m.has(s.path)) m.set(s.path, s);
  return m;
}

const HEAD = /^(PLAIN|HEAD1|HEAD2|NONHEAD)\b/;

/** lcn → annotated type (and the span saying so) of one inode. */
function annotatedTypes(r: InspectResult, nid: number): Map<number, Annotation> {
  const re = new RegExp(`^inode\\[${nid}\\]\\.lcluster\\[(\\d+)\\](\\.di_advise)?$`);
  const out = new Map<number, Annotation>();
  for (const s of r.spans) {
    const m = re.exec(s.path);
    if (m && HEAD.test(s.meaning) && !out.has(Number(m[1]))) out.set(Number(m[1]), s);
  }
  return out;
}

async function compressedInodes(img: ErofsImage): Promise<Inode[]> {
  const out: Inode[] = [];
  for await (const e of walk(img)) if (e.inode.layoutName.startsWith('compressed')) out.push(e.inode);
  if (img.packedNid) {
    const p = await img.inode(img.packedNid);
    if (p.layoutName.startsWith('compressed')) out.push(p);
  }
  return out;
}

it('covers every compressed fixture', () => {
  expect(compressed.map((m) => m.name).sort()).toEqual(
    ['deflate-4k', 'hints-lz4hc-lzma', 'legacy-fragments', 'lz4-4k', 'lz4hc-4k', 'lz4hc-512', 'lz4hc-allfrag', 'lz4hc-bigpcl', 'lz4hc-dedupe', 'lz4hc-legacy', 'lz4hc-fragments', 'lz4hc-ztail', 'lzma-4k', 'lzma-512-ztail', 'zstd-4k', 'zstd-combined'].sort(),
  );
});

describe.each(compressed.map((m) => [m.name, m.image] as const))('%s', (_name, file) => {
  const bytes = bytesOf(file);
  const r = inspect(bytes);

  it('annotates the same lcluster types, heads and pclusters as loadZMap reads', async () => {
    const img = await ErofsImage.open(new MemorySource(bytes));
    const byPath = pathIndex(r);
    const inodes = await compressedInodes(img);
    expect(inodes.length).toBeGreaterThan(0);
    let extentsChecked = 0;
    for (const ino of inodes) {
      const extents = await img.extents(ino);
      const pre = `inode[${ino.nid}]`;
      const clusterbits = byPath.get(`${pre}.zmap.h_clusterbits`);
      if (extents.length === 1 && extents[0]!.compression!.storage === 'fragment' && !clusterbits) {
        // -Eall-fragments: the header is a bare offset into the packed inode.
        const h = byPath.get(`${pre}.zmap.h_fragmentoff`)!;
        const m = /the whole file \((\d+) bytes?\) is bytes (\d+)\.\.(\d+) of the packed inode/.exec(h.meaning)!;
        expect(m.slice(1).map(Number)).toEqual([ino.size, extents[0]!.physical, extents[0]!.physical + ino.size]);
        extentsChecked++;
        continue;
      }
      expect(clusterbits, `${pre} map header`).toBeDefined();
      const L = Number(/logical clusters of (\d+) bytes/.exec(clusterbits!.meaning)![1]);
      const types = annotatedTypes(r, ino.nid);
      // Every lcluster of the file has exactly one annotated type.
      const n = Math.ceil(ino.size / L);
      expect([...types.keys()].filter((k) => k < n).length, `${pre}: lclusters annotated`).toBe(n);
      const heads = new Set<number>();
      for (const [lcn, s] of types) {
        const t = HEAD.exec(s.meaning)![1];
        if (t !== 'NONHEAD' && !s.meaning.includes('end-of-file marker')) heads.add(lcn);
      }
      expect(heads.size, `${pre}: heads`).toBe(extents.length);
      for (const e of extents) {
        const c = e.compression!;
        const lcn = Math.floor(e.logical / L);
        const s = types.get(lcn)!;
        expect(s, `${pre} extent at ${e.logical}`).toBeDefined();
        const type = HEAD.exec(s.meaning)![1];
        if (c.storage !== 'fragment') {
          if (c.algorithm === 'plain' || c.algorithm === 'interlaced') expect(type).toBe('PLAIN');
          else {
            expect(['HEAD1', 'HEAD2']).toContain(type);
            expect(s.meaning).toContain(`${c.algorithm}-compressed extent from file byte ${e.logical}..${e.logical + e.length}`);
          }
        } else expect(type).not.toBe('NONHEAD');
        if (c.storage === 'pcluster') {
          const withTarget = s.target ? s : byPath.get(`${pre}.lcluster[${lcn}].di_blkaddr`)!;
          expect(withTarget.target, `${pre} lcluster ${lcn} target`).toMatchObject({ offset: e.physical, length: c.encodedLength });
          // The pcluster's bytes are attributed to it.
          const p = spanAt(r.spans, e.physical)!;
          expect(p.struct).toBe('pcluster');
        } else if (c.storage === 'inline') {
          const t = spanAt(r.spans, e.physical)!;
          expect(t.path.endsWith('.inline_tail')).toBe(true);
          expect(t.start).toBe(e.physical);
          expect(t.end - t.start).toBe(c.encodedLength);
        } else {
          expect(s.meaning).toContain('fragment in the packed inode');
        }
        if (c.partial) expect(s.meaning).toContain('PARTIAL_REF');
        extentsChecked++;
      }
    }
    expect(extentsChecked).toBeGreaterThan(0);
  });

  it('never throws on mutated map headers and indexes; coverage holds', async () => {
    const img = await ErofsImage.open(new MemorySource(bytes));
    const inodes = await compressedInodes(img);
    // The bytes from each compressed inode's header to the end of its block: header, indexes, tail.
    const regions = inodes.map((i) => i.offset).map((o) => [o, Math.min(bytes.length, o + 512)] as const);
    fc.assert(
      fc.property(fc.nat({ max: regions.length - 1 }), fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 12 }), (k, muts) => {
        const [a, b] = regions[k]!;
        const m = bytes.slice();
        for (const [i, v] of muts) m[a + (i % (b - a))] = v;
        const map = ByteMap.of(m);
        const x = inspect(map);
        expect(coverageProblem(x, map)).toBeUndefined();
        expect(x.diagnostics.filter((d) => d.message.startsWith('inspector error'))).toEqual([]);
      }),
      { numRuns: 25 },
    );
  });
});

describe('what the fixtures exercise, and the diagnostics', () => {
  async function firstCompressed(file: string, minSize = 10000): Promise<{ bytes: Uint8Array; ino: Inode; hpos: number }> {
    const bytes = bytesOf(file);
    const img = await ErofsImage.open(new MemorySource(bytes));
    const ino = (await compressedInodes(img)).find((i) => i.size >= minSize)!;
    return { bytes, ino, hpos: Math.ceil(ino.inlineBase / 8) * 8 };
  }
  const messages = (b: Uint8Array): string[] => inspect(b).diagnostics.filter((d) => d.severity !== 'info').map((d) => d.message);

  it('full and compact (4-byte and 2-byte) indexes, heads of each type, inline tails, fragments', () => {
    const seen = new Set<string>();
    for (const m of compressed) {
      const r = inspect(bytesOf(m.image));
      for (const s of r.spans) {
        if (s.struct === 'z_erofs_lcluster_index' || s.struct.startsWith('z_erofs_compact_pack')) seen.add(s.struct);
        if (s.path.endsWith('.inline_tail')) seen.add('inline tail');
        const t = HEAD.exec(s.meaning)?.[1];
        if (t && /\.lcluster\[\d+\]/.test(s.path)) seen.add(t);
        if (s.meaning.includes('CBLKCNT')) seen.add('CBLKCNT');
        if (s.meaning.includes('fragment in the packed inode')) seen.add('tail fragment');
        if (s.meaning.includes('PARTIAL_REF')) seen.add('PARTIAL_REF');
        if (s.path.startsWith('compr_cfg.')) seen.add(s.path.split('.')[1]!);
      }
    }
    expect([...seen].sort()).toEqual(
      ['CBLKCNT', 'HEAD1', 'NONHEAD', 'PARTIAL_REF', 'PLAIN', 'deflate', 'inline tail', 'lz4', 'lzma', 'tail fragment', 'z_erofs_compact_pack_2b', 'z_erofs_compact_pack_4b', 'z_erofs_lcluster_index', 'zstd'].sort(),
    );
  });

  it('configuration records: fields with meanings', () => {
    const r = inspect(bytesOf('lz4hc-bigpcl.erofs'));
    const p = r.spans.find((s) => s.path === 'compr_cfg.lz4.max_pclusterblks')!;
    expect(p.meaning).toBe('pclusters of up to 16 blocks (65536 bytes)');
    expect(r.structures.find((s) => s.kind === 'compression-config')).toMatchObject({ name: 'lz4 configuration', detail: 'z_erofs_lz4_cfgs' });
    const z = inspect(bytesOf('zstd-4k.erofs')).spans.find((s) => s.path === 'compr_cfg.zstd.windowlog')!;
    expect(z.meaning).toMatch(/^window log \d+ \(\d+ bytes\)$/);
  });

  it('a bad lzma stream format in the configuration record', () => {
    const b = bytesOf('lzma-4k.erofs');
    const r = inspect(b);
    const f = r.spans.find((s) => s.path === 'compr_cfg.lzma.format')!;
    expect(f.meaning).toBe('MicroLZMA streams');
    b[f.start] = 1;
    expect(messages(b)).toContain('lzma stream format 1 (only 0, MicroLZMA, is defined)');
  });

  it('lcluster bits out of range for compact indexes', async () => {
    const { bytes, ino, hpos } = await firstCompressed('lz4hc-4k.erofs');
    expect(ino.layoutName).toBe('compressed-compact');
    bytes[hpos + 7] = 0x07;
    expect(messages(bytes)).toContain(`inode ${ino.nid}: logical cluster bits 19 out of range (at most 14 with compact indexes)`);
  });

  it('an algorithm the superblock does not list', async () => {
    const { bytes, ino, hpos } = await firstCompressed('lz4hc-4k.erofs');
    bytes[hpos + 6] = 0x03; // zstd for HEAD1
    expect(messages(bytes).some((m) => m.startsWith(`inode ${ino.nid}: lcluster 0 uses zstd, which the superblock does not list (available_compr_algs`))).toBe(true);
  });

  it('a first lcluster that is not a head (full indexes)', async () => {
    const { bytes, ino, hpos } = await firstCompressed('lz4hc-legacy.erofs');
    expect(ino.layoutName).toBe('compressed-full');
    bytes[hpos + 16] = (bytes[hpos + 16]! & ~3) | 2; // di_advise type NONHEAD
    expect(messages(bytes)).toContain(`inode ${ino.nid}: the first lcluster is NONHEAD; it must be a head (the file's first extent starts there)`);
  });

  it('CBLKCNT without big pclusters', async () => {
    const { bytes, ino, hpos } = await firstCompressed('lz4hc-legacy.erofs');
    // lcluster 1 as NONHEAD with delta[0] = CBLKCNT | 2
    const at = hpos + 16 + 8;
    bytes[at] = 2;
    bytes[at + 1] = 0;
    bytes[at + 4] = 0x02;
    bytes[at + 5] = 0x08;
    expect(messages(bytes)).toContain(`inode ${ino.nid}: lcluster 1 carries a pcluster block count (CBLKCNT) without big pclusters in h_advise`);
  });

  it('an inline tail that crosses a block boundary', async () => {
    const bytes = bytesOf('lz4hc-ztail.erofs');
    const r = inspect(bytes);
    const idata = r.spans.find((s) => s.field === 'h_idata_size')!;
    const nid = Number(/^inode\[(\d+)\]/.exec(idata.path)![1]);
    new DataView(bytes.buffer).setUint16(idata.start, 4000, true);
    expect(messages(bytes).some((m) => m.startsWith(`inode ${nid}: inline tail pcluster of 4000 bytes at `) && m.includes('crosses the block boundary'))).toBe(true);
  });
});
