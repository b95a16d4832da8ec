/**
 * Differential tests of the tar reader: archives written by GNU tar, bsdtar, busybox and
 * Python (test/tar-corpus/corpus.py builds them into a temp dir at test time), read by us and
 * by Python's tarfile; every entry must agree (names, types, sizes, ids, times, links, device
 * numbers, header and data offsets, sparse maps, xattrs), and the bytes at our data offsets
 * must be the files' contents. A missing tool skips its part loudly, and fails under CI.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, lstatSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { MemorySource, type ByteSource } from '../src/io/source.js';
import type { TarEntry, TarWarning } from '../src/tar/entry.js';
import { readTar, type TarEnd } from '../src/tar/reader.js';
import { openFile } from '../src/node/index.js';
import { createReadStream } from 'node:fs';

const CORPUS = fileURLToPath(new URL('./tar-corpus/corpus.py', import.meta.url));
const CI = !!process.env.CI;

interface Built {
  name: string;
  file: string;
  tool: string;
  root: string;
}
interface Manifest {
  archives: Built[];
  missing: { tool: string; archive?: string; reason: string }[];
  notes: string[];
}
interface PyMember {
  name: string;
  type: string;
  size: number;
  mode: number;
  uid: number;
  gid: number;
  uname: string;
  gname: string;
  mtime: number;
  paxMtime: string | null;
  linkname: string;
  devmajor: number;
  devminor: number;
  offset: number;
  offset_data: number;
  sparse: [number, number][] | null;
  xattrs: Record<string, string>;
  sha256: string | null;
}

const python = spawnSync('python3', ['--version'], { encoding: 'utf8' });
const havePython = python.status === 0;
let dir: string | undefined;
let manifest: Manifest = { archives: [], missing: [], notes: [] };
if (havePython) {
  dir = mkdtempSync(join(tmpdir(), 'erofs-kit-tar-corpus-'));
  execFileSync('python3', [CORPUS, 'build', dir], { stdio: ['ignore', 'ignore', 'inherit'] });
  manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as Manifest;
} else {
  console.warn(`tar differential tests: python3 is not available (${python.error?.message ?? python.stderr}); every differential test is skipped`);
}
afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const hexOf = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');
const stripSlash = (h: string): string => (h.endsWith('2f') && h.length > 2 ? stripSlash(h.slice(0, -2)) : h);

const PY_TYPES: Record<string, TarEntry['type']> = {
  '0': 'file',
  '\0': 'file',
  '7': 'file',
  S: 'file',
  '1': 'hardlink',
  '2': 'symlink',
  '3': 'chardev',
  '4': 'blockdev',
  '5': 'directory',
  '6': 'fifo',
};

/** The exact reading of a pax time string, computed independently of src/tar (BigInt nanoseconds, rounded down). */
function paxTimeOracle(s: string): { sec: number; nsec: number } {
  const m = /^([-+]?)(\d+)(?:\.(\d*))?$/.exec(s);
  if (!m) throw new Error(`bad pax time ${s}`);
  const frac = (m[3] ?? '').padEnd(10, '0');
  let ns = BigInt(m[2]!) * 1_000_000_000n + BigInt(frac.slice(0, 9));
  const extra = /[1-9]/.test(frac.slice(9));
  if (m[1] === '-') ns = -ns - (extra ? 1n : 0n);
  const B = 1_000_000_000n;
  const sec = ns >= 0n ? ns / B : -((-ns + B - 1n) / B);
  return { sec: Number(sec), nsec: Number(ns - sec * B) };
}

async function readAll(
  input: Uint8Array | AsyncIterable<Uint8Array> | ByteSource,
  opts: { data?: boolean; tap?: boolean } = {},
): Promise<{ entries: TarEntry[]; data: (Uint8Array | undefined)[]; warnings: TarWarning[]; end: TarEnd; tapped?: Uint8Array }> {
  const entries: TarEntry[] = [];
  const data: (Uint8Array | undefined)[] = [];
  const warnings: TarWarning[] = [];
  const taps: Uint8Array[] = [];
  const gen = readTar(input instanceof Uint8Array ? new MemorySource(input) : input, {
    onWarning: (w) => warnings.push(w),
    ...(opts.data ? { wantData: () => true } : {}),
    ...(opts.tap ? { tap: (c: Uint8Array) => taps.push(c.slice()) } : {}),
  });
  for (;;) {
    const r = await gen.next();
    if (r.done) {
      const out = { entries, data, warnings, end: r.value };
      return opts.tap ? { ...out, tapped: Buffer.concat(taps) } : out;
    }
    entries.push(r.value.entry);
    data.push(r.value.data);
  }
}

async function* chunked(b: Uint8Array, sizes: () => number): AsyncIterable<Uint8Array> {
  for (let i = 0; i < b.length; ) {
    const n = Math.max(1, sizes());
    yield b.slice(i, i + n);
    i += n;
  }
}

/** The logical content of a file entry, from our offsets only. */
function contentOf(e: TarEntry, tar: Uint8Array): Uint8Array {
  if (!e.sparse) return tar.subarray(e.dataOffset, e.dataOffset + e.size);
  const out = new Uint8Array(e.size);
  for (const s of e.sparse) out.set(tar.subarray(s.tarOffset, s.tarOffset + s.length), s.offset);
  return out;
}

function expectedFormats(name: string): string[] {
  if (/pax/.test(name)) return ['pax', 'ustar'];
  if (/ustar/.test(name)) return ['ustar'];
  if (/v7/.test(name)) return ['v7'];
  return ['gnu'];
}

const TOOLS = ['gnu-tar', 'bsdtar', 'busybox'];

describe('tar corpus tools', () => {
  it.skipIf(!havePython && !CI)('python3 is available (the oracle)', () => {
    expect(havePython, 'python3 is needed for the differential tar tests').toBe(true);
  });
  for (const tool of TOOLS) {
    const miss = manifest.missing.filter((m) => m.tool === tool);
    const reason = miss.map((m) => `${m.archive ?? tool}: ${m.reason}`).join('; ');
    if (miss.length > 0) console.warn(`tar differential tests: ${tool} parts skipped: ${reason}`);
    it.skipIf(!CI && (!havePython || miss.length > 0))(`${tool} made its archives${reason ? ` (${reason})` : ''}`, () => {
      expect(havePython, 'python3 is needed for the corpus').toBe(true);
      expect(reason).toBe('');
      expect(manifest.archives.some((a) => a.name.startsWith(tool === 'gnu-tar' ? 'gnu-tar.' : tool))).toBe(true);
    });
  }
  for (const n of manifest.notes) console.warn(`tar corpus: part of the source tree could not be made: ${n}`);
});

describe.each(manifest.archives.map((a) => [a.name, a] as const))('%s', (_name, a) => {
  const tar = new Uint8Array(readFileSync(a.file));
  const py = JSON.parse(execFileSync('python3', [CORPUS, 'describe', a.file], { encoding: 'utf8', maxBuffer: 64 << 20 })) as PyMember[];

  it(`agrees with Python's tarfile on every entry (${a.tool})`, async () => {
    const { entries, end } = await readAll(tar);
    expect(entries.length).toBe(py.length);
    expect(end.totalBytes).toBe(tar.length);
    expect(end.endOffset % 512).toBe(0);
    const formats = expectedFormats(a.name);
    entries.forEach((e, i) => {
      const p = py[i]!;
      const where = `${a.name} entry ${i} (${Buffer.from(e.path).toString()})`;
      expect(stripSlash(hexOf(e.path)), where).toBe(stripSlash(p.name));
      expect(e.type, where).toBe(PY_TYPES[p.type] ?? 'file');
      expect(e.size, where).toBe(p.size);
      expect(e.mode, where).toBe(p.mode & 0o7777);
      expect([e.uid, e.gid, e.uname, e.gname], where).toEqual([p.uid, p.gid, p.uname, p.gname]);
      if (p.paxMtime !== null) expect(e.mtime, where).toEqual(paxTimeOracle(p.paxMtime));
      else expect(e.mtime, where).toEqual({ sec: p.mtime, nsec: 0 });
      expect(hexOf(e.linkpath), where).toBe(p.linkname);
      if (e.type === 'chardev' || e.type === 'blockdev') expect([e.devmajor, e.devminor], where).toEqual([p.devmajor, p.devminor]);
      expect(e.headerOffset, where).toBe(p.offset);
      expect(e.mainHeaderOffset, where).toBeGreaterThanOrEqual(e.headerOffset);
      expect(e.dataOffset % 512, where).toBe(0);
      expect(Object.fromEntries([...e.xattrs].map(([k, v]) => [k, hexOf(v)])), where).toEqual(p.xattrs);
      expect(formats, where).toContain(e.format);
      if (p.sparse) {
        // Python's offset_data is where the segments start: after the map for GNU sparse 1.0.
        expect(e.dataOffset, where).toBeLessThanOrEqual(p.offset_data);
        const want: { offset: number; length: number; tarOffset: number }[] = [];
        let at = p.offset_data;
        for (const [offset, length] of p.sparse) {
          if (length > 0) want.push({ offset, length, tarOffset: at });
          at += length;
        }
        expect(e.sparse, where).toEqual(want);
      } else {
        expect(e.sparse, where).toBeUndefined();
        expect(e.dataOffset, where).toBe(p.offset_data);
      }
      if (p.sha256 !== null) expect(sha(contentOf(e, tar)), `${where}: content at our offsets`).toBe(p.sha256);
    });
  });

  it('the bytes at dataOffset are the source files', async () => {
    const { entries } = await readAll(tar);
    let checked = 0;
    for (const e of entries) {
      if (e.type !== 'file') continue;
      const rel = Buffer.from(e.path).toString('utf8').replace(/^\.\//, '');
      const file = join(a.root, rel);
      if (!existsSync(file) || !lstatSync(file).isFile()) continue;
      expect(Buffer.from(contentOf(e, tar)).equals(readFileSync(file)), rel).toBe(true);
      checked++;
    }
    expect(checked).toBeGreaterThan(3);
  });

  it('a Node file source and a Node read stream (Buffers) read the same; results own their bytes', async () => {
    const ref = await readAll(tar, { data: true });
    const file = openFile(a.file);
    try {
      const viaFile = await readAll(file, { data: true });
      expect(viaFile.entries).toEqual(ref.entries);
      expect(viaFile.data.map((d) => d && sha(d))).toEqual(ref.data.map((d) => d && sha(d)));
      // nothing a result holds is a view of a read window or a stream chunk
      for (const e of viaFile.entries) {
        expect(e.path.buffer.byteLength).toBe(e.path.byteLength);
        expect(e.linkpath.buffer.byteLength).toBe(e.linkpath.byteLength);
        for (const v of e.xattrs.values()) expect(v.buffer.byteLength).toBeLessThan(4096);
      }
    } finally {
      await file.close();
    }
    const viaStream = await readAll(createReadStream(a.file, { highWaterMark: 10000 }) as AsyncIterable<Uint8Array>, { data: true });
    expect(viaStream.entries).toEqual(ref.entries);
    for (const e of viaStream.entries) expect(e.path.buffer.byteLength).toBe(e.path.byteLength);
  });

  it('streaming in odd chunks, with data and a tap, reads the same as seeking', async () => {
    const seek = await readAll(tar, { data: true });
    let seed = 7;
    const rnd = (): number => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed;
    };
    const small = tar.length <= 256 << 10;
    const stream = await readAll(
      chunked(tar, () => (small ? 1 : rnd() % 3 === 0 ? 1 + (rnd() % 7) : rnd() % 70000)),
      { data: true, tap: true },
    );
    expect(stream.entries).toEqual(seek.entries);
    // (digests: toEqual on megabytes of typed arrays is slow)
    expect(stream.data.map((d) => d && sha(d))).toEqual(seek.data.map((d) => d && sha(d)));
    expect(stream.warnings).toEqual(seek.warnings);
    expect(stream.end).toEqual(seek.end);
    expect(Buffer.from(stream.tapped!).equals(tar)).toBe(true);
    const seekTap = await readAll(tar, { tap: true });
    expect(Buffer.from(seekTap.tapped!).equals(tar)).toBe(true);
    // without wanted data a plain entry is read without a promise (nextSync), with it by next():
    // both paths give the same entries, warnings and end
    expect(seekTap.entries).toEqual(seek.entries);
    expect(seekTap.warnings).toEqual(seek.warnings);
    expect(seekTap.end).toEqual(seek.end);
    // wanted data is the stored bytes at dataOffset
    seek.entries.forEach((e, i) => expect(Buffer.from(seek.data[i]!).equals(tar.subarray(e.dataOffset, e.dataOffset + e.storedSize))).toBe(true));
  });
});

describe('the corpus exercises what the reader claims to handle', () => {
  const read = async (name: string): Promise<TarEntry[] | undefined> => {
    const a = manifest.archives.find((x) => x.name === name);
    return a ? (await readAll(new Uint8Array(readFileSync(a.file)))).entries : undefined;
  };
  const noted = (what: string): boolean => manifest.notes.some((n) => n.startsWith(what));
  const str = (b: Uint8Array): string => Buffer.from(b).toString('utf8');
  const cases: [string, string, (es: TarEntry[]) => boolean, string?][] = [
    ['gnu-tar.gnu', 'base-256 uid', (es) => es.some((e) => e.uid > 0o7777777), 'uid'],
    ['gnu-tar.gnu', 'negative mtime', (es) => es.some((e) => e.mtime.sec < 0)],
    ['gnu-tar.gnu', 'GNU L path > 255 bytes', (es) => es.some((e) => e.path.length > 255 && e.mainHeaderOffset > e.headerOffset)],
    ['gnu-tar.gnu', 'GNU K link > 100 bytes', (es) => es.some((e) => e.linkpath.length > 100)],
    ['gnu-tar.gnu', 'devices', (es) => es.some((e) => e.type === 'blockdev' && e.devminor === 300), 'devices'],
    ['gnu-tar.ustar', 'ustar prefix', (es) => es.some((e) => e.path.length > 155 && e.format === 'ustar')],
    ['gnu-tar.v7', 'v7 headers', (es) => es.every((e) => e.format === 'v7')],
    ['gnu-tar.pax', 'sub-second mtime', (es) => es.some((e) => e.mtime.nsec === 123456789)],
    ['gnu-tar.pax', 'fractional negative mtime', (es) => es.some((e) => e.mtime.sec === -86401 && e.mtime.nsec === 500000000)],
    ['gnu-tar.pax', 'SCHILY.xattr', (es) => es.some((e) => e.xattrs.get('user.bin')?.[1] === 0xff), 'xattrs'],
    ['gnu-tar.gnu-sparse', 'old GNU sparse extension blocks', (es) => es.some((e) => (e.sparse?.length ?? 0) > 25 && e.dataOffset - e.mainHeaderOffset > 512)],
    ['gnu-tar.oldgnu-sparse', 'old GNU sparse', (es) => es.some((e) => (e.sparse?.length ?? 0) > 25)],
    ['gnu-tar.pax-sparse-0.0', 'pax sparse 0.0', (es) => es.some((e) => (e.sparse?.length ?? 0) > 25 && e.format === 'pax')],
    ['gnu-tar.pax-sparse-0.1', 'pax sparse 0.1', (es) => es.some((e) => (e.sparse?.length ?? 0) > 25)],
    ['gnu-tar.pax-sparse-1.0', 'pax sparse 1.0 (map in the data)', (es) => es.some((e) => e.sparse !== undefined && e.sparse.length > 0 && e.sparse[0]!.tarOffset > e.dataOffset)],
    ['bsdtar.pax', 'LIBARCHIVE.xattr', (es) => es.some((e) => e.xattrs.get('user.bin')?.[1] === 0xff), 'xattrs'],
    ['python.pax', 'pax global header', (es) => es.every((e) => str(e.xattrs.get('user.global') ?? new Uint8Array()) === 'everywhere')],
    ['python.pax', 'LIBARCHIVE.xattr name decoding', (es) => es.some((e) => e.xattrs.has('user.enc=name%'))],
    ['python.gnu', 'base-256 negative mtime', (es) => es.some((e) => e.mtime.sec === -100000)],
    ['busybox', 'busybox long names', (es) => es.some((e) => e.path.length > 255)],
  ];
  it.each(cases)('%s: %s', async (name, _what, check, needs) => {
    const es = await read(name);
    if (!es) return; // a missing tool is reported above
    if (needs && noted(needs)) return; // the source tree could not have it (reported above)
    expect(check(es)).toBe(true);
  });
});
