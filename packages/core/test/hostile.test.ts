/**
 * Hostile images: each made from a fixture by one patch located through the reader and the
 * structure tables. For each, the reader, `walk()` and `fsck()` must answer with an
 * `ErofsError` (or a reported problem) in bounded time and with bounded allocation — never
 * loop, never allocate what a field claims, never yield an unsafe name.
 */
import { describe, expect, it } from 'vitest';
import { ErofsImage, type Inode } from '../src/erofs/image.js';
import { walk } from '../src/erofs/walk.js';
import { fsck } from '../src/erofs/fsck.js';
import { crc32c } from '../src/erofs/checksum.js';
import { MemorySource } from '../src/io/source.js';
import { isErofsError } from '../src/errors.js';
import { fieldOf } from '../src/layout/struct.js';
import * as F from '../src/erofs/format.js';
import { allocatedBytes, countAllocations } from './fuzz/harness.js';
import { bytesOf } from './fixtures.js';
import { indexTar } from '../src/tarindex/index.js';
import { archive, member } from './tar-corpus/craft.js';

countAllocations();

/** Allocation allowed for one hostile image (the images are at most 470 KiB). */
const ALLOC_LIMIT = 64 << 20;
const TIME_LIMIT_MS = 5_000;

class Patch {
  private constructor(
    readonly b: Uint8Array,
    readonly img: ErofsImage,
  ) {}

  static async of(fixture: string): Promise<Patch> {
    const b = bytesOf(fixture);
    return new Patch(b, await ErofsImage.open(new MemorySource(b.slice())));
  }

  get dv(): DataView {
    return new DataView(this.b.buffer, this.b.byteOffset, this.b.byteLength);
  }

  async ino(path: string): Promise<Inode> {
    return this.img.lookup(path);
  }

  /** Offset of an inode field, through the compact or extended table. */
  field(ino: Inode, name: 'i_size' | 'i_xattr_icount'): number {
    return ino.offset + (ino.compact ? fieldOf(F.inodeCompact, name) : fieldOf(F.inodeExtended, name)).offset;
  }

  /** Offset of the dirent named `name` in directory `dir`. */
  async dirent(dir: string, name: string): Promise<number> {
    const ents = await this.img.readdir(await this.ino(dir));
    const d = ents.find((e) => new TextDecoder().decode(e.name) === name);
    if (!d) throw new Error(`no ${dir}/${name}`);
    return d.offset;
  }

  /** Offset of the name bytes of dirent `name` in `dir` (names follow their dirents in the block). */
  async nameAt(dir: string, name: string): Promise<number> {
    const at = await this.dirent(dir, name);
    const want = new TextEncoder().encode(name);
    for (let i = at; i + want.length <= this.b.length; i++) {
      if (want.every((c, k) => this.b[i + k] === c)) return i;
    }
    throw new Error(`name ${name} not found after its dirent`);
  }

  /** The patched bytes, superblock checksum recomputed when the image has one. */
  result(): Uint8Array {
    if (this.img.sb.feature_compat & 1) {
      const bs = this.img.blockSize;
      const area = this.b.slice(1024, bs > 1024 ? bs : 1024 + bs);
      area.fill(0, 4, 8);
      this.dv.setUint32(1024 + fieldOf(F.superBlock, 'checksum').offset, crc32c(0xffffffff, area), true);
    }
    return this.b;
  }
}

interface Outcome {
  /** Error codes met while walking and reading (the walk stops at the first). */
  walkErrors: string[];
  /** fsck's problems as check:code. */
  fsck: string[];
  names: string[];
}

/** Opens, walks (reading files up to 1 MiB and links), runs fsck; checks the bounds. */
async function exercise(image: Uint8Array): Promise<Outcome> {
  const before = allocatedBytes();
  const t0 = performance.now();
  const out: Outcome = { walkErrors: [], fsck: [], names: [] };
  const img = await ErofsImage.open(new MemorySource(image));
  const note = (e: unknown): void => {
    if (!isErofsError(e)) throw e;
    out.walkErrors.push(e.code);
  };
  try {
    for await (const e of walk(img)) {
      out.names.push(e.path);
      const t = e.inode.mode & 0o170000;
      if (t === 0o100000) await img.read(e.inode, 0, Math.min(e.inode.size, 1 << 20)).catch(note);
      if (t === 0o120000) await img.readlink(e.inode).catch(note);
    }
  } catch (e) {
    note(e);
  }
  const r = await fsck(img);
  out.fsck = r.problems.map((p) => `${p.check}:${p.code}`);
  expect(performance.now() - t0).toBeLessThan(TIME_LIMIT_MS);
  expect(allocatedBytes() - before).toBeLessThan(ALLOC_LIMIT);
  for (const n of out.names) {
    expect(n.split('/').slice(1).every((c) => c !== '.' && c !== '..' && !c.includes('\0'))).toBe(true);
  }
  return out;
}

describe('hostile images', () => {
  it('a directory entered under two names (a hard-linked directory) is walked once and reported', async () => {
    const p = await Patch.of('extended-4k.erofs');
    const target = await p.ino('/times');
    p.dv.setBigUint64(await p.dirent('/', 'sizes'), BigInt(target.nid), true);
    const o = await exercise(p.result());
    expect(o.walkErrors).toContain('loop');
    expect(o.fsck.some((x) => x.startsWith('dir-cycle:') || x.startsWith('nlink:'))).toBe(true);
  });

  it('a directory cycle below the root (a subdirectory naming its parent) is a loop', async () => {
    const p = await Patch.of('extended-4k.erofs');
    const links = await p.ino('/links');
    p.dv.setBigUint64(await p.dirent('/links', 'a'), BigInt(links.nid), true);
    const o = await exercise(p.result());
    expect(o.walkErrors).toContain('loop');
    expect(o.fsck.some((x) => x.startsWith('dir-cycle:'))).toBe(true);
    expect(o.names.filter((n) => n === '/links/a')).toHaveLength(0);
  });

  it('i_size 2^63 on a regular file is too-large, not an allocation', async () => {
    const p = await Patch.of('extended-4k.erofs');
    const f = await p.ino('/links/third-name');
    p.dv.setBigUint64(p.field(f, 'i_size'), 1n << 63n, true);
    const o = await exercise(p.result());
    expect([...o.walkErrors, ...o.fsck.map((x) => x.split(':')[1])]).toContain('too-large');
  });

  it('i_size 2^63 on a directory is too-large', async () => {
    const p = await Patch.of('extended-4k.erofs');
    const d = await p.ino('/names');
    p.dv.setBigUint64(p.field(d, 'i_size'), (1n << 63n) - 1n, true);
    const o = await exercise(p.result());
    expect([...o.walkErrors, ...o.fsck.map((x) => x.split(':')[1])]).toContain('too-large');
  });

  it('a directory claiming 2^32 - 1 bytes of dirents (about 2^28 entries) fails on its first missing block', async () => {
    const p = await Patch.of('compact-4k.erofs');
    const d = await p.ino('/names');
    p.dv.setUint32(p.field(d, 'i_size'), 0xffffffff, true);
    const o = await exercise(p.result());
    expect(o.walkErrors.length + o.fsck.length).toBeGreaterThan(0);
  });

  it('a dirent block whose first nameoff claims 5,000 entries is invalid', async () => {
    const p = await Patch.of('compact-4k.erofs');
    const at = await p.dirent('/names', '.');
    p.dv.setUint16(at + fieldOf(F.dirent, 'nameoff').offset, 12 * 5000 & 0xfffc, true);
    const o = await exercise(p.result());
    expect(o.fsck.some((x) => x.startsWith('dir-block:') || x.startsWith('dir-order:') || x.startsWith('dir-name:'))).toBe(true);
  });

  it('i_xattr_icount 65535 (a 256 KiB xattr body) is refused without reading it', async () => {
    const p = await Patch.of('extended-4k.erofs');
    const f = await p.ino('/links/third-name');
    p.dv.setUint16(p.field(f, 'i_xattr_icount'), 65535, true);
    const o = await exercise(p.result());
    expect(o.fsck.some((x) => x.startsWith('xattr:') || x.startsWith('inode:'))).toBe(true);
  });

  it('a name with a NUL byte is unsafe-path and never yielded', async () => {
    const p = await Patch.of('extended-4k.erofs');
    p.b[(await p.nameAt('/', 'times')) + 1] = 0;
    const o = await exercise(p.result());
    expect(o.walkErrors).toContain('unsafe-path');
    expect(o.fsck.some((x) => x.startsWith('dir-name:'))).toBe(true);
  });

  it('a compressed file claiming 4 GiB over a 3 MiB map (a zip-bomb claim) is read and checked in bounded memory', async () => {
    const p = await Patch.of('lz4-4k.erofs');
    const f = await p.ino('/big/repetitive-3m');
    p.dv.setUint32(p.field(f, 'i_size'), 0xffffffff, true);
    const o = await exercise(p.result());
    expect(o.fsck.length).toBeGreaterThan(0);
    // streaming the whole claimed size stops at the first lcluster the map does not have
    const img = await ErofsImage.open(new MemorySource(p.result()));
    let n = 0;
    let code: string | undefined;
    const before = allocatedBytes();
    try {
      for await (const piece of img.stream(await img.lookup('/big/repetitive-3m'), 1 << 20, { reuse: true })) n += piece.length;
    } catch (e) {
      if (!isErofsError(e)) throw e;
      code = e.code;
    }
    expect(code).toBeDefined();
    expect(n).toBeLessThanOrEqual(8 << 20);
    expect(allocatedBytes() - before).toBeLessThan(ALLOC_LIMIT);
  });
});

describe('hostile tars: sparse claims', () => {
  const GiB = 2 ** 30;
  /** An old GNU sparse ('S') entry: `pairs` (logical offset, length) stored one after the other. */
  const sparseTar = (realsize: number, pairs: [number, number][]): Uint8Array => {
    const stored = pairs.reduce((a, [, n]) => a + n, 0);
    const data = new Uint8Array(stored).fill(0x61);
    return archive(member({ name: 'claim', type: 'S', dialect: 'gnu', size: stored, sparse: pairs, realsize }, data));
  };

  it('a 4 GiB claim at 512-byte granularity over 1 KiB of data is refused as too-large, in bounded memory', async () => {
    const tar = sparseTar(4 * GiB, [[0, 512], [4 * GiB - 512, 512]]);
    const before = allocatedBytes();
    const t = performance.now();
    let err: unknown;
    try {
      await indexTar(new MemorySource(tar));
    } catch (e) {
      err = e;
    }
    expect(isErofsError(err) && err.code).toBe('too-large');
    expect((err as Error).message).toMatch(/^\/claim: a sparse file of 4294967296 bytes storing 1024 bytes needs 8388608 chunks of 512 bytes/);
    expect(allocatedBytes() - before).toBeLessThan(ALLOC_LIMIT);
    expect(performance.now() - t).toBeLessThan(TIME_LIMIT_MS);
  });

  it('a real-looking sparse file (1 GiB, holes on 1 MiB boundaries) is indexed and reads back', async () => {
    const MiB = 1 << 20;
    const tar = sparseTar(GiB, [[0, 4096], [512 * MiB, MiB], [GiB - MiB, MiB]]);
    const { image } = await indexTar(new MemorySource(tar));
    const img = await ErofsImage.open(new MemorySource(image), { devices: [new MemorySource(tar)] });
    const ino = await img.lookup('/claim');
    expect(ino.size).toBe(GiB);
    expect([...(await img.read(ino, 4090, 12))]).toEqual([...new Uint8Array(6).fill(0x61), ...new Uint8Array(6)]);
    expect((await img.read(ino, 512 * MiB, 4)).every((b) => b === 0x61)).toBe(true);
    expect((await img.read(ino, GiB - 4, 4)).every((b) => b === 0x61)).toBe(true);
  });

  it('the limit grows with the data: a table of 64 bytes per stored byte is allowed', async () => {
    // 2 GiB at 512-byte granularity: 4 Mi chunks, a 32 MiB table (over the 16 MiB allowance), with 512 KiB stored (64 × 512 KiB = 32 MiB)
    const pairs: [number, number][] = [[0, 256 * 1024], [2 * GiB - 256 * 1024 - 512, 256 * 1024 + 512]];
    const tar = sparseTar(2 * GiB, pairs);
    await expect(indexTar(new MemorySource(tar))).resolves.toBeDefined();
    const less = sparseTar(2 * GiB, [[0, 256 * 1024], [2 * GiB - 512, 512]]);
    await expect(indexTar(new MemorySource(less))).rejects.toMatchObject({ code: 'too-large' });
  });
});
