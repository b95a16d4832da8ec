/**
 * The fuzz harness: targets, their seeds, structure-aware mutations and the invariants every
 * input must keep. Shared by the short CI run (`fuzz.test.ts`), the regression test
 * (`regressions.test.ts`) and the long run (`bench/fuzz-long.mjs`, which bundles this file).
 *
 * Invariants checked for every input (`check()`):
 * - only `ErofsError` escapes (anything else, a TypeError or RangeError, is a crash);
 * - the input finishes within `timeMs` (10 s) (async hangs are caught here; a synchronous loop is
 *   caught by the long run's watchdog, which owns the thread from outside);
 * - the typed-array bytes allocated while running stay under `allocLimit(input)`, a constant
 *   plus a multiple of the input's size (counted by `countAllocations()`);
 * - `inspect()` never throws and its spans are sorted, never overlap and cover every byte.
 *
 * Also the composefs dump parser, the OCI document validator, and whole OCI layouts and
 * docker-archives (as tars, the way oci-archive and docker-archive files ship them) through
 * `readOci` with every layer decompressed and checked, then stacked.
 */
import fc from 'fast-check';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isErofsError } from '../../src/errors.js';
import { ErofsImage, type Inode } from '../../src/erofs/image.js';
import { walk } from '../../src/erofs/walk.js';
import { fsck } from '../../src/erofs/fsck.js';
import { crc32c } from '../../src/erofs/checksum.js';
import { MemorySource } from '../../src/io/source.js';
import { readXattrs } from '../../src/erofs/xattr.js';
import { inspect, ByteMap, parseHint } from '../../src/inspect/index.js';
import { readTar } from '../../src/tar/reader.js';
import { indexTar } from '../../src/tarindex/index.js';
import { parseDump as parseComposefsDump } from '../../src/composefs/dump.js';
import { checkOciDocument, readOci } from '../../src/oci/layout.js';
import { tarFiles } from '../../src/oci/files.js';
import { convertOciImage, type ConvertOutput, type PendingFile } from '../../src/oci/convert.js';
import { sha256, toHex } from '../../src/digest/hash.js';
import { gzipSync } from 'fflate';
import { parseHexdump } from '../../src/hexdump/parse.js';
import { formatXxd } from '../../src/hexdump/format.js';
import { coverageProblem } from '../coverage.js';
import { END, concat, gnuLong, member, pax } from '../tar-corpus/craft.js';

/** The repository (EROFS_KIT_ROOT when this file runs bundled elsewhere, as the long run does). */
export const ROOT = process.env.EROFS_KIT_ROOT ?? join(fileURLToPath(new URL('.', import.meta.url)), '../../../..');
export const FIXTURES = join(ROOT, 'fixtures');
/** Committed inputs that once broke an invariant: crashes/<target>/<name>. */
export const CRASHES = join(ROOT, 'packages/core/test/fuzz/crashes');

// ---------------------------------------------------------------------------------------
// Allocation counting

let allocated = 0;
let counting = false;

/**
 * Replaces the global `Uint8Array`, `Uint32Array`, `Int32Array` and `ArrayBuffer`
 * constructors by proxies that add the bytes of every `new` to a counter. Code that looks the
 * constructor up when it allocates (all of core) is counted; views (`subarray`) are free and
 * are not. Installed once per process, only by fuzzing code.
 */
export function countAllocations(): void {
  if (counting) return;
  counting = true;
  const g = globalThis as unknown as Record<string, unknown>;
  for (const name of ['Uint8Array', 'Uint16Array', 'Uint32Array', 'Int32Array', 'Float64Array', 'BigUint64Array']) {
    const C = g[name] as { BYTES_PER_ELEMENT: number } & (new (...a: unknown[]) => unknown);
    g[name] = new Proxy(C, {
      construct(target, args, newTarget) {
        const a = args[0];
        if (typeof a === 'number') allocated += a * C.BYTES_PER_ELEMENT;
        else if (a !== null && typeof a === 'object' && !(a instanceof ArrayBuffer) && typeof (a as { length?: unknown }).length === 'number') {
          allocated += (a as { length: number }).length * C.BYTES_PER_ELEMENT;
        }
        return Reflect.construct(target, args, newTarget === g[name] ? target : newTarget);
      },
    });
  }
  const AB = ArrayBuffer;
  g.ArrayBuffer = new Proxy(AB, {
    construct(target, args, newTarget) {
      if (typeof args[0] === 'number') allocated += args[0];
      return Reflect.construct(target, args, newTarget === g.ArrayBuffer ? target : newTarget);
    },
  });
}

/** Typed-array bytes allocated since `countAllocations()` (0 before). */
export function allocatedBytes(): number {
  return allocated;
}

// ---------------------------------------------------------------------------------------
// Targets

export interface Target {
  name: string;
  /** 'bytes' targets take images or tars; 'text' targets take a string (UTF-8 in the corpus). */
  seeds(): Uint8Array[];
  /** Runs the code under test; may throw ErofsError. Other checks throw `Violation`. */
  run(input: Uint8Array): Promise<void>;
  /** Structure-aware mutation of a seed. */
  mutation: fc.Arbitrary<(seed: Uint8Array) => Uint8Array>;
  /** Limits other than `DEFAULT_LIMITS`, where the code under test has a documented cap. */
  limits?: Limits;
}

/** A broken invariant (not an error of the input). */
export class Violation extends Error {
  constructor(
    readonly kind: 'crash' | 'timeout' | 'memory' | 'spans',
    message: string,
  ) {
    super(message);
    this.name = 'Violation';
  }
}

/** Bytes a consumer reads from one file: reads stop there (a sparse file may claim 2^53). */
const READ_CAP = 1 << 20;
/** Files read per image, entries per walk. */
const MAX_FILES = 256;

async function readImage(input: Uint8Array): Promise<void> {
  let img: ErofsImage;
  try {
    img = await ErofsImage.open(new MemorySource(input), { ignoreChecksum: true, pclusterCacheBytes: 4 << 20 });
  } catch (e) {
    if (isErofsError(e)) return;
    throw e;
  }
  // walk, reading every file, link and xattr set; one bad inode does not stop the walk's test
  let files = 0;
  try {
    for await (const ent of walk(img)) {
      const ino: Inode = ent.inode;
      if (++files > MAX_FILES) break;
      await swallow(readXattrs(img, ino));
      if ((ino.mode & 0o170000) === 0o100000) {
        await swallow(img.read(ino, 0, Math.min(ino.size, READ_CAP)));
        await swallow(
          (async () => {
            let n = 0;
            for await (const piece of img.stream(ino, 64 << 10)) {
              n += piece.length;
              if (n >= READ_CAP) break;
            }
          })(),
        );
        if (ino.size > 8192) await swallow(img.read(ino, ino.size - 4096, 4096));
      } else if ((ino.mode & 0o170000) === 0o120000) {
        await swallow(img.readlink(ino));
      }
    }
  } catch (e) {
    if (!isErofsError(e)) throw e;
  }
  await swallow(img.lookup('/a/b/../c'));
  const report = await fsck(img, { maxProblems: 64 });
  for (const p of report.problems) if (typeof p.code !== 'string' || typeof p.check !== 'string') throw new Violation('crash', `fsck problem without code/check: ${JSON.stringify(p)}`);
}

/** Awaits `p`, letting only ErofsError through silently. */
async function swallow(p: Promise<unknown>): Promise<void> {
  try {
    await p;
  } catch (e) {
    if (!isErofsError(e)) throw e;
  }
}

function inspectOne(input: Uint8Array, hintText?: string): void {
  const map = ByteMap.of(input);
  const r = inspect(map, hintText ? { hint: parseHint(hintText) } : {});
  const p = coverageProblem(r, map);
  if (p) throw new Violation('spans', p);
  for (const d of r.diagnostics) if (d.message.startsWith('inspector error:')) throw new Violation('crash', d.message);
}

async function inspectImage(input: Uint8Array): Promise<void> {
  inspectOne(input);
  // a partial dump: a window in the middle, with and without geometry from a hint
  if (input.length > 8192) {
    const start = (input.length >> 13) << 11;
    const map = new ByteMap([{ offset: start, bytes: input.subarray(start, start + 4096) }, { offset: 1024, bytes: input.subarray(1024, 1152) }]);
    const r = inspect(map, { hint: parseHint('# erofs: blksz=4096 meta_blkaddr=0 root_nid=36') });
    const p = coverageProblem(r, map);
    if (p) throw new Violation('spans', p);
  }
}

async function* chunks(input: Uint8Array, size: number): AsyncGenerator<Uint8Array> {
  for (let i = 0; i < input.length; i += size) yield input.subarray(i, i + size);
}


async function readTarBoth(input: Uint8Array): Promise<void> {
  for (const src of [new MemorySource(input), chunks(input, 700)] as const) {
    try {
      const gen = readTar(src, { wantData: () => true });
      let n = 0;
      for await (const { entry, data } of gen) {
        if (++n > 10_000) break;
        if (data && data.length !== entry.storedSize) throw new Violation('crash', `data of ${data.length} bytes for storedSize ${entry.storedSize}`);
      }
    } catch (e) {
      if (!isErofsError(e)) throw e;
    }
  }
  // the whole tar-index path: tree, image; the image must read back safely (a sparse entry's
  // chunk table is bounded by the writer's policy: 16 MiB, or 64 bytes per stored byte)
  let image: Uint8Array;
  try {
    image = (await indexTar(new MemorySource(input))).image;
  } catch (e) {
    if (isErofsError(e)) return;
    throw e;
  }
  const img = await ErofsImage.open(new MemorySource(image), { devices: [new MemorySource(input)] });
  for await (const ent of walk(img)) {
    if ((ent.inode.mode & 0o170000) === 0o100000) await img.read(ent.inode, 0, Math.min(ent.inode.size, READ_CAP));
  }
}

async function parseDump(input: Uint8Array): Promise<void> {
  const text = new TextDecoder().decode(input);
  const d = parseHexdump(text);
  // every mapped byte maps back to a place in the text
  let k = 0;
  for (const seg of d.map.segments) {
    for (let o = seg.offset; o < seg.offset + seg.bytes.length && k < 64; o += 97, k++) {
      if (d.rangeOfByte(o) === undefined) throw new Violation('crash', `byte ${o} has no place in the text`);
    }
  }
  const r = inspect(d.map, { hint: d.hint });
  const p = coverageProblem(r, d.map);
  if (p) throw new Violation('spans', p);
}

// ---------------------------------------------------------------------------------------
// Seeds

function fixture(name: string): Uint8Array {
  return new Uint8Array(readFileSync(join(FIXTURES, name)));
}

/** The committed crashes of a target, as extra seeds and as regression inputs. */
export function crashInputs(target: string): { name: string; bytes: Uint8Array }[] {
  const dir = join(CRASHES, target);
  let names: string[];
  try {
    names = readdirSync(dir).filter((n) => !n.endsWith('.md')).sort();
  } catch {
    return [];
  }
  return names.map((name) => ({ name, bytes: new Uint8Array(readFileSync(join(dir, name))) }));
}

const IMAGE_SEEDS = [
  'basic-512.erofs', 'compact-4k.erofs', 'extended-4k.erofs', 'noinline-4k.erofs', 'blockmap-4k.erofs', 'chunkidx-8k-512.erofs',
  'xattr-prefix.erofs', 'xattr-prefix2.erofs', 'lz4-4k.erofs', 'lz4hc-512.erofs', 'lz4hc-ztail.erofs', 'lz4hc-fragments.erofs',
  'lz4hc-bigpcl.erofs', 'lz4hc-dedupe.erofs', 'lzma-512-ztail.erofs', 'deflate-4k.erofs', 'zstd-4k.erofs', 'legacy-fragments.erofs',
  'bigdir-4k.erofs', 'tar-appended.erofs',
];

let imageSeedCache: Uint8Array[] | undefined;
function imageSeeds(): Uint8Array[] {
  imageSeedCache ??= IMAGE_SEEDS.map(fixture);
  return imageSeedCache;
}

function tarSeeds(): Uint8Array[] {
  const enc = new TextEncoder();
  return [
    fixture('tar-index-layer.tar'),
    concat([
      member({ name: 'd/', type: '5', mode: 0o755 }),
      member({ name: 'd/f', mode: 0o644 }, 'hello world\n'),
      member({ name: 'd/l', type: '2', linkname: 'f' }),
      member({ name: 'd/h', type: '1', linkname: 'd/f' }),
      member({ name: 'dev', type: '3', devmajor: 1, devminor: 3 }),
      END,
    ]),
    concat([
      pax([['path', 'long/'.repeat(40) + 'name'], ['mtime', '1700000000.123456789'], ['SCHILY.xattr.user.a', 'v'], ['size', '5']]),
      member({ name: 'short', size: 5 }, 'abcde'),
      gnuLong('L', 'gnu/'.repeat(50) + 'x'),
      member({ name: '././@LongLink', dialect: 'gnu' }, enc.encode('data')),
      member({ name: 'sparse', type: 'S', dialect: 'gnu', sparse: [[0, 512], [4096, 512]], realsize: 8192, size: 1024 }, new Uint8Array(1024).fill(7)),
      member({ name: 'v7', dialect: 'v7' }, 'old'),
      END,
    ]),
  ];
}

function dumpSeeds(): Uint8Array[] {
  const enc = new TextEncoder();
  const img = fixture('compact-4k.erofs');
  const out: Uint8Array[] = [];
  out.push(enc.encode('# erofs: blksz=4096 meta_blkaddr=0 root_nid=36\n' + formatXxd(img.subarray(1024, 1024 + 2048), 1024)));
  out.push(enc.encode(formatXxd(fixture('basic-512.erofs').subarray(0, 6144))));
  const golden = join(ROOT, 'packages/lsp/test/golden/xattr-prefix.xxd');
  out.push(enc.encode(readFileSync(golden, 'utf8').split('\n').slice(0, 300).join('\n')));
  // hexdump -C and od -A x -t x1z forms of the same bytes
  const b = img.subarray(1024, 1024 + 256);
  let c = '';
  let o = '';
  for (let i = 0; i < b.length; i += 16) {
    const row = Array.from(b.subarray(i, i + 16), (x) => x.toString(16).padStart(2, '0'));
    const asc = Array.from(b.subarray(i, i + 16), (x) => (x >= 32 && x < 127 ? String.fromCharCode(x) : '.')).join('');
    c += `${(1024 + i).toString(16).padStart(8, '0')}  ${row.slice(0, 8).join(' ')}  ${row.slice(8).join(' ')}  |${asc}|\n`;
    o += `${(1024 + i).toString(16).padStart(6, '0')} ${row.join(' ')}  >${asc}<\n`;
  }
  out.push(enc.encode(c + '*\n' + (1024 + 512).toString(16).padStart(8, '0') + '\n'), enc.encode(o));
  return out;
}

// ---------------------------------------------------------------------------------------
// Mutations

/** Values that sit on the edges of field ranges. */
const EDGE_U32 = [0, 1, 2, 0x7f, 0x80, 0xff, 0x100, 0xfff, 0x1000, 0x7fff, 0x8000, 0xffff, 0x10000, 0x7fffffff, 0x80000000, 0xffffffff];

type ByteOp =
  | { op: 'set'; at: number; value: number; width: number }
  | { op: 'flip'; at: number; bit: number }
  | { op: 'copy'; from: number; to: number; len: number }
  | { op: 'truncate'; at: number }
  | { op: 'splice'; at: number; bytes: Uint8Array };

const byteOp: fc.Arbitrary<ByteOp> = fc.oneof(
  { weight: 5, arbitrary: fc.record({ op: fc.constant('set' as const), at: fc.nat(), value: fc.oneof(fc.constantFrom(...EDGE_U32), fc.nat()), width: fc.constantFrom(1, 2, 4, 8) }) },
  { weight: 3, arbitrary: fc.record({ op: fc.constant('flip' as const), at: fc.nat(), bit: fc.nat({ max: 7 }) }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('copy' as const), from: fc.nat(), to: fc.nat(), len: fc.constantFrom(8, 32, 64, 512, 4096) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('truncate' as const), at: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('splice' as const), at: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 64 }) }) },
);

/**
 * Positions are fractions of the "interesting" region. For images the region is mostly the
 * metadata: the superblock and the fields the inspector finds (inodes, dirents, maps), so a
 * mutation lands on a field and writes a value with that field's width.
 */
function fieldSpans(seed: Uint8Array): { start: number; end: number }[] {
  const r = inspect(ByteMap.of(seed));
  return r.spans.filter((s) => s.kind === 'field').map((s) => ({ start: s.start, end: s.end }));
}

const spanCache = new WeakMap<Uint8Array, { start: number; end: number }[]>();
function spansOf(seed: Uint8Array): { start: number; end: number }[] {
  let s = spanCache.get(seed);
  if (!s) {
    s = fieldSpans(seed);
    spanCache.set(seed, s);
  }
  return s;
}

function applyOps(seed: Uint8Array, ops: ByteOp[], aware: boolean, fixCrc: boolean): Uint8Array {
  let b = seed.slice();
  const fields = aware ? spansOf(seed) : [];
  const pos = (n: number): number => {
    if (fields.length > 0 && n % 4 !== 0) return fields[n % fields.length]!.start;
    return b.length === 0 ? 0 : n % b.length;
  };
  for (const o of ops) {
    if (b.length === 0) break;
    switch (o.op) {
      case 'set': {
        const at = pos(o.at);
        let v = BigInt(o.value);
        if (o.width === 8 && o.value % 3 === 0) v = (1n << 63n) + v; // i_size 2^63 and friends
        for (let i = 0; i < o.width && at + i < b.length; i++) b[at + i] = Number((v >> BigInt(8 * i)) & 0xffn);
        break;
      }
      case 'flip': {
        const at = pos(o.at);
        b[at] = b[at]! ^ (1 << o.bit);
        break;
      }
      case 'copy': {
        // copying a block over another makes shared blocks, directory cycles, hard-linked dirs
        const from = pos(o.from) & ~(o.len - 1);
        const to = pos(o.to) & ~(o.len - 1);
        b.copyWithin(to, from, Math.min(b.length, from + o.len));
        break;
      }
      case 'truncate':
        b = b.slice(0, Math.max(1, o.at % (b.length + 1)));
        break;
      case 'splice': {
        const at = o.at % b.length;
        b.set(o.bytes.subarray(0, b.length - at), at);
        break;
      }
    }
  }
  if (fixCrc) fixSuperblockCrc(b);
  return b;
}

/** Recomputes the superblock checksum when the image claims one (feature_compat bit 0). */
export function fixSuperblockCrc(b: Uint8Array): void {
  if (b.length < 1024 + 128) return;
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  if (dv.getUint32(1024, true) !== 0xe0f5e1e2) return;
  if ((dv.getUint32(1024 + 8, true) & 1) === 0) return;
  const blkszbits = b[1024 + 12]!;
  const bs = blkszbits >= 9 && blkszbits <= 16 ? 1 << blkszbits : 4096;
  const len = bs > 1024 ? bs - 1024 : bs;
  const sb = b.slice(1024, Math.min(b.length, 1024 + len));
  sb.fill(0, 4, 8);
  dv.setUint32(1024 + 4, crc32c(0xffffffff, sb), true);
}

const imageMutation = fc
  .record({ ops: fc.array(byteOp, { minLength: 1, maxLength: 12 }), aware: fc.boolean(), fixCrc: fc.boolean() })
  .map(({ ops, aware, fixCrc }) => (seed: Uint8Array) => applyOps(seed, ops, aware, fixCrc));

const tarMutation = fc
  .record({ ops: fc.array(byteOp, { minLength: 1, maxLength: 8 }), aware: fc.boolean(), resum: fc.boolean() })
  .map(({ ops, aware, resum }) => (seed: Uint8Array) => {
    const b = applyOps(seed, ops, aware, false);
    if (resum) fixTarChecksums(b);
    return b;
  });

/** Rewrites the checksum of every header-looking block, so mutated headers get parsed. */
function fixTarChecksums(b: Uint8Array): void {
  for (let at = 0; at + 512 <= b.length; at += 512) {
    if (b[at + 257] !== 0x75 /* 'u' of ustar */ && b[at + 156] === 0) continue;
    let sum = 0;
    for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 32 : b[at + i]!;
    const s = sum.toString(8).padStart(6, '0');
    for (let i = 0; i < 6; i++) b[at + 148 + i] = s.charCodeAt(i);
    b[at + 154] = 0;
    b[at + 155] = 32;
  }
}

const TEXT_PIECES = ['0', '9', 'a', 'f', 'g', ' ', '  ', ':', '*', '\n', '\r\n', '|', '>', '<', '.', '#', '# erofs: blksz=512 ', 'inode=', 'struct=erofs_super_block@1024', 'ffffffffffff', '00000400', '\t', 'é', '\u0000'];

const textMutation = fc
  .array(
    fc.oneof(
      fc.record({ op: fc.constant('insert' as const), at: fc.nat(), piece: fc.constantFrom(...TEXT_PIECES) }),
      fc.record({ op: fc.constant('delete' as const), at: fc.nat(), len: fc.nat({ max: 40 }) }),
      fc.record({ op: fc.constant('dupline' as const), at: fc.nat(), times: fc.nat({ max: 3 }) }),
    ),
    { minLength: 1, maxLength: 10 },
  )
  .map((ops) => (seed: Uint8Array) => {
    let t = new TextDecoder().decode(seed);
    for (const o of ops) {
      const at = t.length === 0 ? 0 : o.at % t.length;
      if (o.op === 'insert') t = t.slice(0, at) + o.piece + t.slice(at);
      else if (o.op === 'delete') t = t.slice(0, at) + t.slice(at + o.len);
      else {
        const s = t.lastIndexOf('\n', at) + 1;
        const e = t.indexOf('\n', at);
        const line = t.slice(s, e < 0 ? t.length : e + 1);
        t = t.slice(0, s) + line.repeat(o.times + 1) + t.slice(s + line.length);
      }
    }
    return new TextEncoder().encode(t);
  });

/** The composefs dump files of the fixtures (reference outputs of composefs 1.0.8). */
function composefsDumpSeeds(): Uint8Array[] {
  const dir = join(FIXTURES, 'composefs');
  return readdirSync(dir)
    .filter((f) => f.endsWith('.dump'))
    .sort()
    .map((f) => new Uint8Array(readFileSync(join(dir, f))));
}

/** parseDump: a dump is a tree or an ErofsError with its line and column. */
async function parseComposefs(input: Uint8Array): Promise<void> {
  try {
    parseComposefsDump(input);
  } catch (e) {
    if (isErofsError(e) && (e.line === undefined || e.line < 1)) throw new Violation('crash', `a dump error without a line: ${(e as Error).message}`);
    throw e;
  }
}

const hex64 = (c: string): string => c.repeat(64);
/** An OCI index, manifest and config, and a Docker manifest list, written here (no layout needed). */
function ociSeeds(): Uint8Array[] {
  const docs = [
    { schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: `sha256:${hex64('a')}`, size: 512, platform: { os: 'linux', architecture: 'amd64' }, annotations: { 'org.opencontainers.image.ref.name': 'latest' } }] },
    {
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: `sha256:${hex64('b')}`, size: 300 },
      layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: `sha256:${hex64('c')}`, size: 1000 }, { mediaType: 'application/vnd.oci.image.layer.v1.tar+zstd', digest: `sha256:${hex64('d')}`, size: 10 }],
    },
    { architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [`sha256:${hex64('e')}`, `sha256:${hex64('f')}`] }, config: { Env: ['PATH=/bin'] } },
    { schemaVersion: 2, mediaType: 'application/vnd.docker.distribution.manifest.list.v2+json', manifests: [{ mediaType: 'application/vnd.docker.distribution.manifest.v2+json', digest: `sha256:${hex64('1')}`, size: 7, platform: { os: 'linux', architecture: 'arm64', variant: 'v8' } }] },
  ];
  return docs.map((d) => new TextEncoder().encode(JSON.stringify(d, null, 2)));
}

/** checkOciDocument on whatever the text parses to: problems are reported, never thrown. */
async function checkOci(input: Uint8Array): Promise<void> {
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder().decode(input));
  } catch {
    return; // not JSON: the JSON parser's business, not the validator's
  }
  const report = await checkOciDocument(value, { file: 'fuzz.json' });
  for (const p of report.problems) if (typeof p.message !== 'string' || p.message === '' || (p.jsonPath !== undefined && !p.jsonPath.startsWith('$'))) throw new Violation('crash', `a problem without a message or with a bad JSON path: ${JSON.stringify(p)}`);
}

/** JSON-aware edits: values swapped for edge cases, keys dropped or duplicated, then text edits. */
const JSON_VALUES = ['null', '-1', '1e309', '9007199254740993', '""', '"sha256:"', '"sha512:' + 'a'.repeat(128) + '"', '[]', '{}', 'true', '"application/vnd.oci.image.layer.v1.tar"', '"\u0000"', '[[[[[[[[[[]]]]]]]]]]'];
const jsonMutation = fc
  .record({ swaps: fc.array(fc.record({ at: fc.nat(), value: fc.constantFrom(...JSON_VALUES) }), { maxLength: 4 }), text: textMutation, textToo: fc.boolean() })
  .map(({ swaps, text, textToo }) => (seed: Uint8Array) => {
    let t = new TextDecoder().decode(seed);
    for (const sw of swaps) {
      // Replace the value after the n-th ':' (up to the next ',' or line end).
      const colons = [...t.matchAll(/: /g)].map((m) => m.index!);
      if (colons.length === 0) break;
      const at = colons[sw.at % colons.length]! + 2;
      const end = t.slice(at).search(/,?\n/);
      t = t.slice(0, at) + sw.value + t.slice(end < 0 ? t.length : at + end);
    }
    const b = new TextEncoder().encode(t);
    return textToo ? text(b) : b;
  });

// ---------------------------------------------------------------------------------------
// Whole OCI layouts and docker-archives, as tars

const ociEnc = new TextEncoder();
const blobDigest = (b: Uint8Array): string => `sha256:${toHex(sha256().update(b).digest())}`;

/** Tar members (name, bytes) in order, directories for the blob folders first. */
function tarOf(files: [string, Uint8Array][], dirs: string[] = []): Uint8Array {
  return concat([...dirs.map((d) => member({ name: d, type: '5', mode: 0o755 })), ...files.map(([name, b]) => member({ name, mode: 0o644 }, b)), END]);
}

const OCI_LAYER_TARS = (): Uint8Array[] => [
  concat([member({ name: './', type: '5', mode: 0o755 }), member({ name: 'a', mode: 0o644 }, 'one'), member({ name: 'd/', type: '5', mode: 0o750 }), member({ name: 'd/x', mode: 0o600 }, 'x'), member({ name: 'd/l', type: '2', linkname: 'x' }), END]),
  concat([member({ name: '.wh.a', mode: 0o644 }), member({ name: 'd/.wh..wh..opq', mode: 0o644 }), member({ name: 'b', mode: 0o644 }, 'two'), member({ name: 'h', type: '1', linkname: 'b' }), END]),
];

/** An OCI image layout as a tar: `gzip` or plain layers, the manifest under an index, or under a nested index. */
function ociLayoutTar(layerKind: 'gzip' | 'plain', nested: boolean, tars = OCI_LAYER_TARS()): Uint8Array {
  const files: [string, Uint8Array][] = [];
  const put = (b: Uint8Array): string => {
    const d = blobDigest(b);
    files.push([`blobs/sha256/${d.slice(7)}`, b]);
    return d;
  };
  const blobs = tars.map((t) => (layerKind === 'gzip' ? gzipSync(t, { mtime: 0 }) : t));
  const layers = blobs.map(put);
  const cb = ociEnc.encode(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: tars.map(blobDigest) }, config: { Env: ['PATH=/bin'] } }));
  const cd = put(cb);
  const mediaType = layerKind === 'gzip' ? 'application/vnd.oci.image.layer.v1.tar+gzip' : 'application/vnd.oci.image.layer.v1.tar';
  const mb = ociEnc.encode(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: cd, size: cb.length }, layers: blobs.map((b, i) => ({ mediaType, digest: layers[i], size: b.length })) }));
  const md = put(mb);
  let top = { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: md, size: mb.length, platform: { os: 'linux', architecture: 'amd64' } };
  if (nested) {
    const ib = ociEnc.encode(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: [top] }));
    top = { mediaType: 'application/vnd.oci.image.index.v1+json', digest: put(ib), size: ib.length } as typeof top;
  }
  const index = ociEnc.encode(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: [{ ...top, annotations: { 'org.opencontainers.image.ref.name': 'v1' } }] }));
  return tarOf([['oci-layout', ociEnc.encode('{"imageLayoutVersion":"1.0.0"}')], ['index.json', index], ...files], ['blobs/', 'blobs/sha256/']);
}

/** A docker-archive (docker save): manifest.json, the config and plain layer tars. */
function dockerArchiveTar(tars = OCI_LAYER_TARS()): Uint8Array {
  const cb = ociEnc.encode(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: tars.map(blobDigest) } }));
  const cfg = `${blobDigest(cb).slice(7)}.json`;
  const layerNames = tars.map((t) => `${blobDigest(t).slice(7)}/layer.tar`);
  const manifest = ociEnc.encode(JSON.stringify([{ Config: cfg, RepoTags: ['example/app:v1'], Layers: layerNames }]));
  return tarOf([['manifest.json', manifest], [cfg, cb], ...tars.map((t, i): [string, Uint8Array] => [layerNames[i]!, t])]);
}

function ociLayoutSeeds(): Uint8Array[] {
  return [ociLayoutTar('gzip', false), ociLayoutTar('plain', true), dockerArchiveTar()];
}

/** Splits a tar into members (ustar, no extensions: the seeds' form); undefined when it is not one. */
function tarMembers(b: Uint8Array): { name: string; type: number; data: Uint8Array }[] | undefined {
  const out: { name: string; type: number; data: Uint8Array }[] = [];
  const dec = new TextDecoder('latin1');
  for (let at = 0; at + 512 <= b.length; ) {
    if (b.subarray(at, at + 512).every((x) => x === 0)) return out;
    const name = dec.decode(b.subarray(at, at + 100)).replace(/\0.*$/s, '');
    const size = parseInt(dec.decode(b.subarray(at + 124, at + 136)).replace(/\0.*$/s, '').trim() || '0', 8);
    if (!Number.isFinite(size) || size < 0 || at + 512 + size > b.length) return undefined;
    out.push({ name, type: b[at + 156]!, data: b.subarray(at + 512, at + 512 + size) });
    at += 512 + Math.ceil(size / 512) * 512;
  }
  return out;
}

/**
 * Byte edits of the tar (headers and data alike); or a JSON-aware edit of one JSON member
 * (index, manifest, config, docker manifest) with the tar rebuilt around it, so the JSON
 * checks see well-formed tars with wrong documents; or a byte edit of one layer tar with the
 * whole image rebuilt around it (mode `layer`).
 */
const ociLayoutMutation = fc
  .record({ mode: fc.constantFrom('bytes', 'json', 'layer'), which: fc.nat(), edit: jsonMutation, bytes: tarMutation, form: fc.constantFrom('gzip', 'plain', 'nested', 'docker') })
  .map(({ mode, which, edit, bytes, form }) => (seed: Uint8Array) => {
    if (mode === 'layer') {
      // One layer tar mutated and the image built around it again (digests, diffIDs and sizes
      // all consistent), so the checks pass and the conversion and the merge see the layer.
      const tars = OCI_LAYER_TARS();
      const i = which % tars.length;
      tars[i] = bytes(tars[i]!);
      return form === 'docker' ? dockerArchiveTar(tars) : ociLayoutTar(form === 'gzip' ? 'gzip' : 'plain', form === 'nested', tars);
    }
    if (mode === 'bytes') return bytes(seed);
    const members = tarMembers(seed);
    const docs = members?.map((m, i) => [m, i] as const).filter(([m]) => m.data[0] === 0x7b || m.data[0] === 0x5b) ?? [];
    if (!members || docs.length === 0) return bytes(seed);
    const [, i] = docs[which % docs.length]!;
    const parts = members.map((m, k) => member({ name: m.name, type: m.type === 0x35 ? '5' : m.type === 0x32 ? '2' : m.type === 0x31 ? '1' : '0', mode: 0o644 }, k === i ? edit(m.data) : m.data));
    return concat([...parts, END]);
  });

/** A conversion's output folder in memory (files only; folders always exist). */
function memoryOutput(): ConvertOutput & { files: Map<string, Uint8Array> } {
  const files = new Map<string, Uint8Array>();
  let serial = 0;
  return {
    name: 'memory',
    files,
    size: async (rel) => files.get(rel)?.length,
    readText: async (rel) => {
      const b = files.get(rel);
      return b && new TextDecoder().decode(b);
    },
    openSource: async (rel) => new MemorySource(files.get(rel) ?? new Uint8Array(0), rel),
    mkdir: async () => true,
    rmdirIfEmpty: async () => undefined,
    create: async (rel): Promise<PendingFile> => {
      const tmp = `${rel}.tmp-${++serial}`;
      const parts: Uint8Array[] = [];
      return {
        write: (c) => void parts.push(c.slice()),
        close: async () => void files.set(tmp, concat(parts)),
        commit: async () => {
          files.set(rel, files.get(tmp)!);
          files.delete(tmp);
        },
        abort: async () => void files.delete(tmp),
      };
    },
  };
}

/** How many inputs of the oci-layout target reached the conversion (printed by the verbose CI run). */
export const ociConversions = { count: 0 };

/**
 * The tar as a layout or docker-archive: read with every layer decompressed and checked; a
 * valid image is then converted as `oci convert` does (a tar index per layer, the merged
 * fsmeta.erofs), and the merged image is walked over its layer tars.
 */
async function readOciTar(input: Uint8Array): Promise<void> {
  const files = await tarFiles(new MemorySource(input));
  const report = await readOci(files, { checkLayers: true });
  for (const p of report.problems) {
    if (typeof p.message !== 'string' || p.message === '' || (p.jsonPath !== undefined && !p.jsonPath.startsWith('$'))) throw new Violation('crash', `a problem without a message or with a bad JSON path: ${JSON.stringify(p)}`);
  }
  if (!report.ok || report.images.length === 0) return;
  const out = memoryOutput();
  ociConversions.count++;
  const { summary } = await convertOciImage(files, out, { input: 'fuzz.tar' });
  const meta = out.files.get(summary.metadata);
  if (!meta) throw new Violation('crash', `the conversion reported ${summary.metadata} but did not write it`);
  const devices = summary.devices.map((d) => new MemorySource(out.files.get(d.path) ?? new Uint8Array(0), d.path));
  const img = await ErofsImage.open(new MemorySource(meta), { devices });
  for await (const ent of walk(img)) {
    if ((ent.inode.mode & 0o170000) === 0o100000) await img.read(ent.inode, 0, Math.min(ent.inode.size, READ_CAP));
  }
}

export const TARGETS: Record<string, Target> = {
  image: { name: 'image', seeds: imageSeeds, run: readImage, mutation: imageMutation },
  inspect: { name: 'inspect', seeds: imageSeeds, run: inspectImage, mutation: imageMutation },
  tar: { name: 'tar', seeds: tarSeeds, run: readTarBoth, mutation: tarMutation },
  // `*` lines expand to up to 256 MiB per dump by design (hexdump/parse.ts MAX_REPEAT): the
  // bound is that cap (the buffer doubles, so up to 4 times it is allocated), not the text's size.
  hexdump: { name: 'hexdump', seeds: dumpSeeds, run: parseDump, mutation: textMutation, limits: { timeMs: 10_000, allocBase: (96 << 20) + 4 * (1 << 28), allocPerByte: 64 } },
  'composefs-dump': { name: 'composefs-dump', seeds: composefsDumpSeeds, run: parseComposefs, mutation: textMutation },
  'oci-document': { name: 'oci-document', seeds: ociSeeds, run: checkOci, mutation: jsonMutation },
  'oci-layout': { name: 'oci-layout', seeds: ociLayoutSeeds, run: readOciTar, mutation: ociLayoutMutation },
};

// ---------------------------------------------------------------------------------------
// Running one input under the invariants

export interface Limits {
  timeMs: number;
  /** Allowed typed-array allocation: base + perByte × input length. */
  allocBase: number;
  allocPerByte: number;
}

export const DEFAULT_LIMITS: Limits = { timeMs: 10_000, allocBase: 96 << 20, allocPerByte: 64 };

export interface Outcome {
  ms: number;
  allocated: number;
  /** The ErofsError code the input ended with, if any (reported by the target's own top level). */
  violation?: Violation;
}

/** Runs `target` on `input`; never throws: a broken invariant is `outcome.violation`. */
export async function check(target: Target, input: Uint8Array, limits: Limits = target.limits ?? DEFAULT_LIMITS): Promise<Outcome> {
  const before = allocated;
  const t0 = performance.now();
  let violation: Violation | undefined;
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    await Promise.race([
      target.run(input),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Violation('timeout', `still running after ${limits.timeMs} ms`)), limits.timeMs);
      }),
    ]);
  } catch (e) {
    if (e instanceof Violation) violation = e;
    else if (!isErofsError(e)) {
      const err = e as Error;
      violation = new Violation('crash', `${err?.name ?? 'thrown'}: ${err?.message ?? String(e)}\n${err?.stack ?? ''}`);
    }
  } finally {
    if (timer !== undefined) clearTimeout(timer);
  }
  const ms = performance.now() - t0;
  const used = allocated - before;
  if (!violation && counting) {
    const limit = limits.allocBase + limits.allocPerByte * input.length;
    if (used > limit) violation = new Violation('memory', `allocated ${used} bytes, limit ${limit} for ${input.length} input bytes`);
  }
  if (!violation && ms > limits.timeMs) violation = new Violation('timeout', `took ${Math.round(ms)} ms, limit ${limits.timeMs}`);
  return violation ? { ms, allocated: used, violation } : { ms, allocated: used };
}

/**
 * `check`, with a timeout confirmed by a second run: on a shared machine a scheduler stall can
 * make one run of a fast input slow. `retried` says the first run timed out and the second did not.
 */
export async function checkConfirmed(target: Target, input: Uint8Array, limits: Limits = target.limits ?? DEFAULT_LIMITS): Promise<Outcome & { retried: boolean }> {
  const o = await check(target, input, limits);
  if (o.violation?.kind !== 'timeout') return { ...o, retried: false };
  const again = await check(target, input, limits);
  return { ...again, retried: again.violation === undefined };
}

/** The arbitrary of mutated inputs of a target: a seed (fixtures and past crashes) and a mutation. */
export function inputs(target: Target): fc.Arbitrary<Uint8Array> {
  const seeds = [...target.seeds(), ...crashInputs(target.name).map((c) => c.bytes)];
  return fc.tuple(fc.nat({ max: seeds.length - 1 }), target.mutation).map(([i, m]) => m(seeds[i]!));
}
