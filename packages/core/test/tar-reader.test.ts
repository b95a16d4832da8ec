/**
 * Unit tests of the tar reader on hand-made archives (test/tar-corpus/craft.ts): every error
 * (code and offset, no hang), every warning, each dialect feature, the streaming and seekable
 * paths against each other, the tap, and memory/jump behaviour. The archives real tools write
 * are covered by tar-differential.test.ts.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { isErofsError } from '../src/errors.js';
import { MemorySource, SliceSource, type ByteSource } from '../src/io/source.js';
import type { TarEntry, TarWarning } from '../src/tar/entry.js';
import { MAX_EXTENSION_SIZE, readTar, type TarEnd, type TarReadOptions } from '../src/tar/reader.js';
import { paxTime } from '../src/tar/numbers.js';
import {
  END,
  archive,
  base256,
  bytes,
  concat,
  gnuLong,
  header,
  member,
  octal,
  padded,
  pax,
  paxRecords,
  setChecksum,
  sparseExtension,
} from './tar-corpus/craft.js';

interface Result {
  entries: TarEntry[];
  data: (Uint8Array | undefined)[];
  warnings: TarWarning[];
  end: TarEnd;
}

async function run(input: ByteSource | AsyncIterable<Uint8Array>, opts: TarReadOptions = {}): Promise<Result> {
  const entries: TarEntry[] = [];
  const data: (Uint8Array | undefined)[] = [];
  const warnings: TarWarning[] = [];
  const gen = readTar(input, { onWarning: (w) => warnings.push(w), ...opts });
  for (;;) {
    const r = await gen.next();
    if (r.done) return { entries, data, warnings, end: r.value };
    entries.push(r.value.entry);
    data.push(r.value.data);
  }
}

async function* chunks(b: Uint8Array, size = 1): AsyncIterable<Uint8Array> {
  for (let i = 0; i < b.length; i += size) yield b.slice(i, i + size);
}

const seek = (b: Uint8Array, opts?: TarReadOptions): Promise<Result> => run(new MemorySource(b), opts);
const stream = (b: Uint8Array, opts?: TarReadOptions, size = 1): Promise<Result> => run(chunks(b, size), opts);

/** Runs `p` with a deadline, so a hang fails fast and says so. */
async function settle<T>(p: Promise<T>, what: string): Promise<{ ok: T } | { err: unknown }> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<never>((_, rej) => {
    timer = setTimeout(() => rej(new Error(`${what}: no result within 5 s (hang?)`)), 5000);
  });
  try {
    return { ok: await Promise.race([p, deadline]) };
  } catch (err) {
    if (err instanceof Error && err.message.includes('(hang?)')) throw err;
    return { err };
  } finally {
    clearTimeout(timer);
  }
}

/** Both the seekable and the 1-byte streaming reader fail with `code` at `offset`. */
async function expectError(b: Uint8Array, code: string, offset: number, path?: string): Promise<void> {
  for (const [mode, p] of [
    ['seekable', seek(b)],
    ['stream', stream(b)],
  ] as const) {
    const r = await settle(p, mode);
    expect('err' in r, `${mode}: expected ${code}, the archive was read`).toBe(true);
    const e = (r as { err: unknown }).err;
    expect(isErofsError(e), `${mode}: ${String(e)}`).toBe(true);
    const x = e as { code: string; offset: number; format: string; path?: string; message: string };
    expect([x.code, x.offset, x.format], `${mode}: ${x.message}`).toEqual([code, offset, 'tar']);
    if (path !== undefined) expect(x.path, mode).toBe(path);
  }
}

const text = (b: Uint8Array): string => new TextDecoder().decode(b);
const A = member({ name: 'a' }, 'x'); // 1024 bytes: header + one data block

describe('errors: code, offset, no hang', () => {
  it('truncated header', async () => {
    await expectError(concat([A, header({ name: 'b' }).subarray(0, 300)]), 'truncated', 1024);
  });
  it('truncated data; on a seekable input the size field running past the end is found before reading', async () => {
    const b = concat([A, header({ name: 'big', size: 5000 }), padded(new Uint8Array(1000))]);
    await expectError(b, 'truncated', 1024, 'big');
    const e = await seek(b).catch((x: unknown) => x as Error);
    expect((e as Error).message).toMatch(/run past the end of the input/);
  });
  it('bad header checksum', async () => {
    const h = header({ name: 'b' });
    setChecksum(h, 0o1234);
    await expectError(archive(A, h), 'bad-checksum', 1024);
    const blank = header({ name: 'b' });
    setChecksum(blank, new Uint8Array(8));
    await expectError(archive(A, blank), 'bad-checksum', 1024);
  });
  it('not a tar at all: bad-magic, with a hint for compressed input', async () => {
    await expectError(new TextEncoder().encode('hello, this is not a tar file\n'.repeat(40)), 'bad-magic', 0);
    const gz = new Uint8Array(2048);
    gz.set([0x1f, 0x8b, 8, 0]);
    await expectError(gz, 'bad-magic', 0);
    const e = (await seek(gz).catch((x: unknown) => x)) as Error;
    expect(e.message).toMatch(/gzip/);
  });
  it('size field that is not a number', async () => {
    await expectError(archive(A, header({ name: 'b', size: bytes('0000000001x\0') })), 'invalid-value', 1024, 'b');
    await expectError(archive(A, header({ name: 'b', mode: bytes('0644-\0\0\0') })), 'invalid-value', 1024, 'b');
    await expectError(archive(A, header({ name: 'b', uid: bytes('abc\0\0\0\0\0') })), 'invalid-value', 1024, 'b');
  });
  it('base-256 size beyond 2^53 is too-large; a negative size is invalid', async () => {
    await expectError(archive(A, header({ name: 'b', size: base256(2n ** 60n, 12) })), 'too-large', 1024, 'b');
    await expectError(archive(A, header({ name: 'b', size: base256(-5, 12) })), 'invalid-value', 1024, 'b');
    await expectError(archive(A, header({ name: 'b', uid: base256(-5, 8) })), 'invalid-value', 1024, 'b');
  });

  const rawPax = (body: string | Uint8Array): Uint8Array => member({ name: 'pax', type: 'x' }, body);
  it.each([
    ['length too large', '99 path=abc\n'],
    ['length too small', '5 path=abc\n'],
    ['record not ending on a newline', '12 path=abcd'],
    ['no length', ' path=abc\n'],
    ['no space after the length', '12path=abc\n\n'],
    ['no "="', '11 pathabc\n'],
    ['empty keyword', '7 =abc\n'],
    ['non-numeric size', '12 size=1k2\n'],
    ['negative size', '12 size=-12\n'],
    ['non-numeric uid', '11 uid=0x1\n'],
    ['non-numeric mtime', '13 mtime=1e5\n'],
    ['mtime with two dots', '15 mtime=1.2.3\n'],
    ['non-numeric devmajor', '23 SCHILY.devmajor=abc\n'],
    ['data after NUL padding', concat([paxRecords([['path', 'a']]), bytes('\0\0x')])],
    ['LIBARCHIVE.xattr value not base64', paxRecords([['LIBARCHIVE.xattr.user.a', '!!!']])],
    ['odd GNU.sparse.map', paxRecords([['GNU.sparse.map', '0,1,2']])],
  ])('malformed pax record: %s', async (_what, body) => {
    await expectError(archive(A, rawPax(body), member({ name: 'f' })), 'invalid-value', 1024);
  });

  it('pax header and GNU long name larger than the cap: too-large (before reading them)', async () => {
    const big = header({ name: 'pax', type: 'x', size: MAX_EXTENSION_SIZE + 1 });
    await expectError(concat([A, big]), 'too-large', 1024);
    const longName = header({ name: '././@LongLink', type: 'L', dialect: 'gnu', size: 4 << 20 });
    await expectError(concat([A, longName]), 'too-large', 1024);
  });
  it('an extension header with no entry after it', async () => {
    await expectError(concat([A, pax([['path', 'x']])]), 'truncated', 1024);
    await expectError(archive(A, pax([['path', 'x']])), 'invalid-value', 1024);
    await expectError(archive(A, gnuLong('L', 'name')), 'invalid-value', 1024);
  });
  it('truncated extension header data', async () => {
    const x = pax([['path', 'y'.repeat(700)]]);
    await expectError(concat([A, x.subarray(0, 900)]), 'truncated', 1024);
  });
  it('GNU multivolume continuation is unsupported', async () => {
    await expectError(archive(A, member({ name: 'm', type: 'M', dialect: 'gnu' })), 'unsupported-feature', 1024, 'm');
  });
  it('a partial non-zero block at the end', async () => {
    await expectError(concat([A, bytes('abc')]), 'truncated', 1024);
  });

  describe('sparse maps', () => {
    it('0.0: offsets and numbytes do not pair up', async () => {
      const x = pax([
        ['GNU.sparse.size', '1000'],
        ['GNU.sparse.offset', '0'],
        ['GNU.sparse.numbytes', '10'],
        ['GNU.sparse.offset', '500'],
      ]);
      await expectError(archive(A, x, member({ name: 's' }, 'x'.repeat(10))), 'invalid-value', 1024 + x.length, 's');
    });
    it('0.0: numblocks disagrees with the map', async () => {
      const x = pax([
        ['GNU.sparse.size', '1000'],
        ['GNU.sparse.numblocks', '2'],
        ['GNU.sparse.offset', '0'],
        ['GNU.sparse.numbytes', '10'],
      ]);
      await expectError(archive(A, x, member({ name: 's' }, 'x'.repeat(10))), 'invalid-value', 1024 + x.length, 's');
    });
    it('0.1: overlapping segments, segments past the real size, more than stored', async () => {
      const mk = (map: string, size: string, stored: number): Uint8Array =>
        archive(A, pax([['GNU.sparse.size', size], ['GNU.sparse.map', map]]), member({ name: 's' }, 'x'.repeat(stored)));
      await expectError(mk('0,100,50,10', '1000', 110), 'invalid-value', 2048, 's');
      await expectError(mk('0,100,900,200', '1000', 300), 'invalid-value', 2048, 's');
      await expectError(mk('0,100,200,100', '1000', 150), 'invalid-value', 2048, 's');
    });
    it('1.0: bad byte in the map, map longer than the data, too many segments', async () => {
      const v1 = pax([['GNU.sparse.major', '1'], ['GNU.sparse.minor', '0'], ['GNU.sparse.realsize', '100'], ['GNU.sparse.name', 's']]);
      const at = 1024 + v1.length;
      await expectError(archive(A, v1, member({ name: 'GNUSparseFile.0/s' }, padded(bytes('1\n0\nx\n')))), 'invalid-value', at, 's');
      await expectError(archive(A, v1, member({ name: 'GNUSparseFile.0/s' }, bytes('1\n0\n10'))), 'invalid-value', at, 's');
      await expectError(archive(A, v1, member({ name: 'GNUSparseFile.0/s' }, padded(bytes('99999999\n')))), 'too-large', at, 's');
    });
    it('unknown GNU sparse version', async () => {
      const x = pax([['GNU.sparse.major', '2'], ['GNU.sparse.minor', '0']]);
      await expectError(archive(A, x, member({ name: 's' }, 'abc')), 'unsupported-feature', 1024 + x.length, 's');
    });
    it("'S' without the GNU magic", async () => {
      await expectError(archive(A, member({ name: 's', type: 'S' }, 'abc')), 'unsupported-feature', 1024, 's');
    });
    it('old GNU: truncated extension block', async () => {
      const h = header({ name: 's', type: 'S', dialect: 'gnu', size: 10, sparse: [[0, 10]], isextended: true, realsize: 100 });
      await expectError(concat([A, h, new Uint8Array(100)]), 'truncated', 1024, 's');
    });
  });
});

describe('warnings and the end of the archive', () => {
  it('two zero blocks end the archive; zeros after them are blocking padding', async () => {
    const b = concat([A, END, new Uint8Array(8192)]);
    for (const r of [await seek(b), await stream(b, {}, 1)]) {
      expect(r.entries.length).toBe(1);
      expect(r.warnings).toEqual([]);
      expect(r.end).toEqual({ endOffset: 1024, totalBytes: b.length });
    }
  });
  it('data after the end marker: trailing-data warning at the first non-zero byte, still tapped', async () => {
    const b = concat([A, END, new Uint8Array(100), bytes('junk'), new Uint8Array(412)]);
    for (const mode of ['seek', 'stream'] as const) {
      const taps: Uint8Array[] = [];
      const opts = { tap: (c: Uint8Array) => taps.push(c.slice()) };
      const r = mode === 'seek' ? await seek(b, opts) : await stream(b, opts, 3);
      expect(r.warnings.map((w) => [w.code, w.offset])).toEqual([['trailing-data', 1024 + 1024 + 100]]);
      expect(r.end).toEqual({ endOffset: 1024, totalBytes: b.length });
      expect(Buffer.concat(taps).equals(b)).toBe(true);
    }
  });
  it('a lone zero block at EOF', async () => {
    const b = concat([A, new Uint8Array(512)]);
    for (const r of [await seek(b), await stream(b)]) {
      expect(r.warnings.map((w) => [w.code, w.offset])).toEqual([['lone-zero-block', 1024]]);
      expect(r.end).toEqual({ endOffset: 1024, totalBytes: 1536 });
    }
  });
  it('a lone zero block followed by more headers ends the archive (as GNU tar does)', async () => {
    const b = concat([A, new Uint8Array(512), member({ name: 'b' }, 'y'), END]);
    const r = await seek(b);
    expect(r.entries.map((e) => text(e.path))).toEqual(['a']);
    expect(r.warnings.map((w) => [w.code, w.offset])).toEqual([
      ['lone-zero-block', 1024],
      ['trailing-data', 1536],
    ]);
    expect(await stream(b)).toEqual(r);
  });
  it('EOF right after an entry: missing-end-marker', async () => {
    for (const r of [await seek(A), await stream(A)]) {
      expect(r.entries.length).toBe(1);
      expect(r.warnings.map((w) => [w.code, w.offset])).toEqual([['missing-end-marker', 1024]]);
      expect(r.end).toEqual({ endOffset: 1024, totalBytes: 1024 });
    }
    // the data is complete but its padding is cut
    const cut = A.subarray(0, 513);
    const r = await seek(cut);
    expect(r.entries.length).toBe(1);
    expect(r.warnings.map((w) => w.code)).toEqual(['missing-end-marker']);
    expect(r.end).toEqual({ endOffset: 513, totalBytes: 513 });
    expect(await stream(cut)).toEqual(r);
  });
  it('an empty input is an empty archive without an end marker; a partial zero block too', async () => {
    for (const b of [new Uint8Array(0), new Uint8Array(100)]) {
      const r = await seek(b);
      expect(r.entries).toEqual([]);
      expect(r.warnings.map((w) => w.code)).toEqual(['missing-end-marker']);
      expect(r.end).toEqual({ endOffset: 0, totalBytes: b.length });
      expect(await stream(b)).toEqual(r);
    }
  });
  it('unknown type flags are read as regular files, with a warning; a GNU volume label is skipped', async () => {
    const r = await seek(archive(member({ name: 'odd', type: 'Z' }, 'data'), member({ name: 'vol', type: 'V', dialect: 'gnu' }, 'label data'), member({ name: 'after' }, 'x')));
    expect(r.entries.map((e) => [text(e.path), e.type, e.storedSize])).toEqual([
      ['odd', 'file', 4],
      ['after', 'file', 1],
    ]);
    expect(r.warnings.map((w) => [w.code, w.offset, w.path])).toEqual([
      ['unknown-type', 0, 'odd'],
      ['unknown-type', 1024, undefined],
    ]);
  });
  it('pax keys named like object properties are ordinary unknown keys', async () => {
    const r = await seek(archive(pax([['constructor', 'x'], ['__proto__', 'y'], ['toString', 'z']]), member({ name: 'f' })));
    expect(r.entries.map((e) => text(e.path))).toEqual(['f']);
    expect(r.warnings.map((w) => w.message.split(' ')[2])).toEqual(['constructor', '__proto__', 'toString']);
  });
  it('unknown pax records: a warning only for those that change meaning', async () => {
    const x = pax([
      ['futurekey', '1'],
      ['VENDOR.whatever', '1'],
      ['atime', '123.5'],
      ['ctime', '123.5'],
      ['comment', 'hello'],
      ['hdrcharset', 'BINARY'],
      ['SCHILY.acl.access', 'user:alice:rw-'],
      ['RHT.security.selinux', 'system_u:object_r:bin_t:s0'],
      ['GNU.volume.filename', 'x'],
      ['SCHILY.dev', '5'],
    ]);
    const r = await seek(archive(x, member({ name: 'f' })));
    expect(r.warnings.map((w) => [w.code, w.offset, w.message.split(' ')[2]])).toEqual([
      ['unknown-pax-record', 0, 'futurekey'],
      ['unknown-pax-record', 0, 'SCHILY.acl.access'],
      ['unknown-pax-record', 0, 'RHT.security.selinux'],
      ['unknown-pax-record', 0, 'GNU.volume.filename'],
    ]);
  });
});

describe('dialects', () => {
  it('v7: no magic; NUL type; a trailing slash makes a directory; nothing past linkname is read', async () => {
    const dir = header({ dialect: 'v7', name: 'd/', type: 0 });
    const file0 = header({ dialect: 'v7', name: 'e/', type: '0' });
    const junk = header({ dialect: 'v7', name: 'f', type: 0, size: 3 });
    junk.fill(0x41, 300, 400); // where ustar keeps uname/devmajor: ignored by v7
    setChecksum(junk);
    const ustarSlash = header({ name: 'g/', type: '0' });
    const r = await seek(archive(dir, file0, junk, padded(bytes('abc')), ustarSlash));
    expect(r.entries.map((e) => [text(e.path), e.type, e.format, e.uname, e.devmajor])).toEqual([
      ['d/', 'directory', 'v7', '', 0],
      ['e/', 'directory', 'v7', '', 0],
      ['f', 'file', 'v7', '', 0],
      ['g/', 'file', 'ustar', 'root', 0],
    ]);
  });
  it('ustar: prefix + "/" + name, full 100-byte names without a NUL, raw bytes', async () => {
    const p = 'p'.repeat(155);
    const n = 'n'.repeat(100);
    const raw = new Uint8Array([0x66, 0xff, 0xfe, 0x2f, 0x2e, 0x2e]); // not UTF-8, with "/.." kept
    const r = await seek(archive(member({ name: n, prefix: p }), member({ name: raw }), member({ name: 'x', prefix: 'a/b/' })));
    expect(text(r.entries[0]!.path)).toBe(`${p}/${n}`);
    expect([...r.entries[1]!.path]).toEqual([...raw]);
    expect(text(r.entries[2]!.path)).toBe('a/b//x'); // not normalized
  });
  it('GNU: L and K records (several: the last wins), base-256 ids and negative mtimes', async () => {
    const long = 'l'.repeat(300);
    const h = member({
      name: 'short',
      type: '2',
      dialect: 'gnu',
      linkname: 'shortlink',
      uid: base256(3000000, 8),
      gid: base256(2 ** 40, 8),
      mtime: base256(-1e9, 12),
    });
    const b = archive(gnuLong('L', 'first'), gnuLong('K', 'k'.repeat(200)), gnuLong('L', long), h, member({ name: 'next', dialect: 'gnu' }));
    const r = await seek(b);
    const e = r.entries[0]!;
    expect([text(e.path), text(e.linkpath), e.type, e.uid, e.gid, e.mtime, e.format]).toEqual([
      long,
      'k'.repeat(200),
      'symlink',
      3000000,
      2 ** 40,
      { sec: -1e9, nsec: 0 },
      'gnu',
    ]);
    expect([e.headerOffset, e.mainHeaderOffset, e.dataOffset]).toEqual([0, 3072, 3584]);
    // the long names apply to one entry only
    expect(text(r.entries[1]!.path)).toBe('next');
    expect(r.entries[1]!.headerOffset).toBe(3584);
  });
  it('checksums: the unsigned and the signed sum are both accepted', async () => {
    const name = new Uint8Array([0xc3, 0xa9, 0xe2, 0x82, 0xac]); // "é€": bytes >= 0x80
    const u = header({ name, checksum: 'unsigned' });
    const s = header({ name, checksum: 'signed' });
    expect(u.subarray(148, 156)).not.toEqual(s.subarray(148, 156));
    const r = await seek(archive(u, s));
    expect(r.entries.map((e) => text(e.path))).toEqual(['é€', 'é€']);
  });
  it('devices, fifos, hard links, contiguous files', async () => {
    const r = await seek(
      archive(
        member({ name: 'c', type: '3', devmajor: 1, devminor: 3 }),
        member({ name: 'b', type: '4', devmajor: 8, devminor: 0o7777777 }),
        member({ name: 'p', type: '6' }),
        member({ name: 'h', type: '1', linkname: 'c' }),
        member({ name: 'k', type: '7' }, 'contig'),
        member({ name: 'dd', type: 'D', dialect: 'gnu' }, 'Yfile\0\0'),
      ),
    );
    expect(r.entries.map((e) => [text(e.path), e.type, e.devmajor, e.devminor, text(e.linkpath), e.size])).toEqual([
      ['c', 'chardev', 1, 3, '', 0],
      ['b', 'blockdev', 8, 0o7777777, '', 0],
      ['p', 'fifo', 0, 0, '', 0],
      ['h', 'hardlink', 0, 0, 'c', 0],
      ['k', 'file', 0, 0, '', 6],
      ['dd', 'directory', 0, 0, '', 7],
    ]);
    expect(r.warnings).toEqual([]);
  });
});

describe('pax', () => {
  it('records override the header; offsets of the x header, main header and data', async () => {
    const x = pax([
      ['path', 'p'.repeat(300)],
      ['linkpath', 'L'.repeat(150)],
      ['uid', '5000000'],
      ['gid', '6000000'],
      ['uname', 'üser'],
      ['gname', 'gröup'],
      ['mtime', '-86400.5'],
      ['size', '5000'],
    ]);
    const data = new Uint8Array(5000).map((_, i) => i & 0xff);
    const h = header({ name: 'short', size: 0, type: '0', uid: 1, gid: 2, mtime: 3 }); // header size 0: pax size wins
    const b = archive(A, x, h, padded(data));
    const r = await seek(b, { wantData: () => true });
    const e = r.entries[1]!;
    expect(e).toMatchObject({
      headerOffset: 1024,
      mainHeaderOffset: 1024 + x.length,
      dataOffset: 1024 + x.length + 512,
      storedSize: 5000,
      size: 5000,
      uid: 5000000,
      gid: 6000000,
      uname: 'üser',
      gname: 'gröup',
      mtime: { sec: -86401, nsec: 500000000 },
      format: 'pax',
      sparse: undefined,
    });
    expect(text(e.path)).toBe('p'.repeat(300));
    expect(text(e.linkpath)).toBe('L'.repeat(150));
    expect(r.data[1]).toEqual(data);
  });
  it('global headers apply to all later entries until overridden; empty values delete', async () => {
    const b = archive(
      pax([['uname', 'g1'], ['uid', '77'], ['SCHILY.xattr.user.g', 'global']], 'g'),
      member({ name: 'one', uname: 'hdr' }),
      pax([['uname', ''], ['SCHILY.xattr.user.l', 'local']]), // empty: back to the header's uname
      member({ name: 'two', uname: 'hdr2' }),
      pax([['uid', '']], 'g'), // deletes the global uid
      member({ name: 'three', uid: 5 }),
    );
    const r = await seek(b);
    expect(r.entries.map((e) => [text(e.path), e.uname, e.uid, Object.fromEntries([...e.xattrs].map(([k, v]) => [k, text(v)])), e.format])).toEqual([
      ['one', 'g1', 77, { 'user.g': 'global' }, 'pax'],
      ['two', 'hdr2', 77, { 'user.g': 'global', 'user.l': 'local' }, 'pax'],
      ['three', 'g1', 5, { 'user.g': 'global' }, 'pax'],
    ]);
    // a global header is not part of the entry after it
    expect(r.entries[0]!.headerOffset).toBe(r.entries[0]!.mainHeaderOffset);
  });
  it('xattrs: SCHILY raw bytes (NUL, empty value), LIBARCHIVE URL-encoded names and base64 values', async () => {
    const x = pax([
      ['SCHILY.xattr.user.bin', new Uint8Array([0, 1, 0xff, 0x3d, 0x0a])],
      ['SCHILY.xattr.trusted.overlay.origin', ''],
      ['LIBARCHIVE.xattr.user.a%3Db%25c%ZZ', 'AAH+'],
      ['LIBARCHIVE.xattr.user.nopad', 'dHY'],
      ['LIBARCHIVE.xattr.user.pad', 'dHY='],
    ]);
    const r = await seek(archive(x, member({ name: 'f' })));
    expect(Object.fromEntries([...r.entries[0]!.xattrs].map(([k, v]) => [k, [...v]]))).toEqual({
      'user.bin': [0, 1, 0xff, 0x3d, 0x0a],
      'trusted.overlay.origin': [],
      'user.a=b%c%ZZ': [0, 1, 0xfe],
      'user.nopad': [0x74, 0x76],
      'user.pad': [0x74, 0x76],
    });
  });
  it('SCHILY.devmajor/devminor, and several x headers (the later record wins)', async () => {
    const r = await seek(
      archive(pax([['SCHILY.devmajor', '4095'], ['path', 'first']]), pax([['SCHILY.devminor', '1048575'], ['path', 'second']]), member({ name: 'c', type: '3' })),
    );
    expect(r.entries.map((e) => [text(e.path), e.devmajor, e.devminor, e.headerOffset])).toEqual([['second', 4095, 1048575, 0]]);
  });
  it.each([
    ['-86400.5', -86401, 500000000],
    ['1577836800.123456789', 1577836800, 123456789],
    ['1.5', 1, 500000000],
    ['-0.25', -1, 750000000],
    ['+3', 3, 0],
    ['-3', -3, 0],
    ['-0', 0, 0],
    ['10.', 10, 0],
    ['1.0000000009', 1, 0],
    ['-1.0000000009', -2, 999999999],
    ['-1.9999999999', -2, 0],
  ])('pax mtime %s = floor: sec %d, nsec %d', async (s, sec, nsec) => {
    expect(paxTime(bytes(s))).toEqual({ sec, nsec });
    const r = await seek(archive(pax([['mtime', s]]), member({ name: 'f' })));
    expect(r.entries[0]!.mtime).toEqual({ sec, nsec });
  });
  it.each(['', 'abc', '1.2.3', '--1', ' 1', '1e5', '.5', '1.-5'])('pax mtime %j is rejected', (s) => {
    expect(typeof paxTime(bytes(s))).toBe('string');
  });
});

describe('sparse files', () => {
  const seg = (n: number, fill: number): Uint8Array => new Uint8Array(n).fill(fill);

  it('old GNU: 4 segments in the header, more in extension blocks, exact tar offsets', async () => {
    const pairs: [number, number][] = Array.from({ length: 27 }, (_, i) => [i * 10000, 100 + i]);
    const stored = pairs.reduce((n, [, l]) => n + l, 0);
    const data = concat(pairs.map(([, l], i) => seg(l, i + 1)));
    const h = header({ name: 's', type: 'S', dialect: 'gnu', size: stored, sparse: pairs.slice(0, 4), isextended: true, realsize: 300000 });
    const b = archive(A, h, sparseExtension(pairs.slice(4, 25), true), sparseExtension(pairs.slice(25), false), padded(data));
    const r = await seek(b, { wantData: () => true });
    const e = r.entries[1]!;
    expect([e.type, e.size, e.storedSize, e.headerOffset, e.mainHeaderOffset, e.dataOffset]).toEqual(['file', 300000, stored, 1024, 1024, 1024 + 1536]);
    let at = e.dataOffset;
    expect(e.sparse).toEqual(
      pairs.map(([offset, length]) => {
        const s = { offset, length, tarOffset: at };
        at += length;
        return s;
      }),
    );
    for (const s of e.sparse!) expect(b.subarray(s.tarOffset, s.tarOffset + s.length).every((x) => x === pairs.findIndex(([o]) => o === s.offset) + 1)).toBe(true);
    expect(r.data[1]).toEqual(data);
  });
  it('old GNU: a zero-length last segment marks the size and is left out', async () => {
    const h = header({ name: 's', type: 'S', dialect: 'gnu', size: 10, sparse: [[4096, 10], [8192, 0]], realsize: 8192 });
    const r = await seek(archive(h, padded(seg(10, 7))));
    expect(r.entries[0]!.sparse).toEqual([{ offset: 4096, length: 10, tarOffset: 512 }]);
    expect(r.entries[0]!.size).toBe(8192);
  });
  it('pax 0.0: GNU.sparse.offset/numbytes in order', async () => {
    const x = pax([
      ['GNU.sparse.size', '100000'],
      ['GNU.sparse.numblocks', '2'],
      ['GNU.sparse.offset', '100'],
      ['GNU.sparse.numbytes', '10'],
      ['GNU.sparse.offset', '50000'],
      ['GNU.sparse.numbytes', '20'],
      ['path', 'real/name'],
    ]);
    const r = await seek(archive(x, member({ name: 'GNUSparseFile.1/name' }, seg(30, 1))));
    const e = r.entries[0]!;
    expect([text(e.path), e.size, e.storedSize, e.dataOffset]).toEqual(['real/name', 100000, 30, x.length + 512]);
    expect(e.sparse).toEqual([
      { offset: 100, length: 10, tarOffset: e.dataOffset },
      { offset: 50000, length: 20, tarOffset: e.dataOffset + 10 },
    ]);
  });
  it('pax 0.1: GNU.sparse.map', async () => {
    const x = pax([['GNU.sparse.size', '4096'], ['GNU.sparse.map', '0,5,4000,96'], ['path', 'm']]);
    const r = await seek(archive(x, member({ name: 'GNUSparseFile.1/m' }, seg(101, 1))));
    const e = r.entries[0]!;
    expect(e.sparse).toEqual([
      { offset: 0, length: 5, tarOffset: e.dataOffset },
      { offset: 4000, length: 96, tarOffset: e.dataOffset + 5 },
    ]);
  });
  it('pax 1.0: the map is at the start of the data (spanning blocks); data = map + segments', async () => {
    const n = 120;
    const pairs = Array.from({ length: n }, (_, i) => [i * 100000, 7] as const);
    const mapText = bytes(`${n}\n` + pairs.map(([o, l]) => `${o}\n${l}\n`).join(''));
    expect(mapText.length).toBeGreaterThan(1024);
    const map = padded(mapText);
    const data = concat([map, seg(7 * n, 9)]);
    const x = pax([
      ['GNU.sparse.major', '1'],
      ['GNU.sparse.minor', '0'],
      ['GNU.sparse.name', 'real/one'],
      ['GNU.sparse.realsize', String(n * 100000)],
      ['path', 'ignored: GNU.sparse.name wins'],
    ]);
    const b = archive(A, x, member({ name: 'GNUSparseFile.0/one' }, data), member({ name: 'after' }, 'z'));
    for (const r of [await seek(b, { wantData: (e) => text(e.path) === 'real/one' }), await stream(b, { wantData: (e) => text(e.path) === 'real/one' }, 5)]) {
      const e = r.entries[1]!;
      expect([text(e.path), e.size, e.storedSize, e.dataOffset]).toEqual(['real/one', n * 100000, data.length, 1024 + x.length + 512]);
      expect(e.sparse!.length).toBe(n);
      expect(e.sparse![0]).toEqual({ offset: 0, length: 7, tarOffset: e.dataOffset + map.length });
      expect(e.sparse![n - 1]).toEqual({ offset: (n - 1) * 100000, length: 7, tarOffset: e.dataOffset + map.length + 7 * (n - 1) });
      expect(r.data[1]).toEqual(data);
      expect(r.data[2]).toBeUndefined();
      expect(text(r.entries[2]!.path)).toBe('after');
    }
  });
  it('pax 1.0 without wantData: the map is read, the rest skipped', async () => {
    const data = concat([padded(bytes('1\n512\n3\n')), bytes('abc')]);
    const x = pax([['GNU.sparse.major', '1'], ['GNU.sparse.minor', '0'], ['GNU.sparse.realsize', '1024']]);
    const r = await seek(archive(x, member({ name: 'GNUSparseFile.0/f' }, data)));
    expect(r.entries[0]!.sparse).toEqual([{ offset: 512, length: 3, tarOffset: x.length + 1024 }]);
  });
});

describe('inputs', () => {
  const sample = archive(
    pax([['comment', 'g']], 'g'),
    A,
    pax([['path', 'p'.repeat(200)], ['mtime', '1.5']]),
    member({ name: 'x' }, 'y'.repeat(3000)),
    gnuLong('L', 'q'.repeat(600)),
    member({ name: 'z', dialect: 'gnu', type: '5' }),
    member({ name: 'e' }),
    member({ name: 'v7', dialect: 'v7', type: 0 }, 'v7data'),
  );

  it('1-byte chunks, odd chunks and one chunk read exactly like the seekable input', async () => {
    const ref = await seek(sample, { wantData: (e) => e.size % 2 === 0 });
    for (const size of [1, 3, 511, 513, 4096, sample.length]) {
      expect(await stream(sample, { wantData: (e) => e.size % 2 === 0 }, size)).toEqual(ref);
    }
  });
  it('the tap sees every byte once, in order: seekable and streaming, with and without data', async () => {
    const b = concat([sample, new Uint8Array(3000).fill(5)]); // trailing data too
    for (const mode of ['seek', 'stream1', 'stream7'] as const) {
      for (const wantData of [undefined, () => true]) {
        const taps: Uint8Array[] = [];
        const opts: TarReadOptions = { tap: (c) => taps.push(c.slice()), ...(wantData ? { wantData } : {}) };
        const r = mode === 'seek' ? await seek(b, opts) : await stream(b, opts, mode === 'stream1' ? 1 : 7);
        expect(Buffer.concat(taps).equals(b), mode).toBe(true);
        expect(r.end.totalBytes).toBe(b.length);
      }
    }
  });
  it('web streams: blob.stream(), a ReadableStream, and one that only has getReader()', async () => {
    const ref = await seek(sample, { wantData: () => true });
    const rs = (): ReadableStream<Uint8Array> =>
      new ReadableStream<Uint8Array>({
        start(c) {
          for (let i = 0; i < sample.length; i += 1000) c.enqueue(sample.slice(i, i + 1000));
          c.close();
        },
      });
    const asIterable = (x: unknown): AsyncIterable<Uint8Array> => x as AsyncIterable<Uint8Array>;
    expect(await run(asIterable(new Blob([sample]).stream()), { wantData: () => true })).toEqual(ref);
    expect(await run(asIterable(rs()), { wantData: () => true })).toEqual(ref);
    const r = rs();
    expect(await run(asIterable({ getReader: () => r.getReader() }), { wantData: () => true })).toEqual(ref);
  });
  it('an async-only source and a slice over one read the same', async () => {
    const asyncOnly: ByteSource = { size: sample.length, name: 'async', read: (o, l) => Promise.resolve(sample.slice(o, o + l)) };
    const ref = await seek(sample, { wantData: () => true });
    expect(await run(asyncOnly, { wantData: () => true })).toEqual(ref);
    const padded2: ByteSource = { size: sample.length + 1000, name: 'outer', read: (o, l) => Promise.resolve(concat([new Uint8Array(1000), sample]).slice(o, o + l)) };
    expect(await run(new SliceSource(padded2, 1000, sample.length), { wantData: () => true })).toEqual(ref);
  });

  /** A source that records its reads. */
  function spy(b: Uint8Array): { src: ByteSource; reads: [number, number][] } {
    const reads: [number, number][] = [];
    const mem = new MemorySource(b);
    return {
      reads,
      src: {
        size: b.length,
        name: 'spy',
        read: (o, l) => {
          reads.push([o, l]);
          return mem.read(o, l);
        },
        readSync: (o, l) => {
          reads.push([o, l]);
          return mem.readSync(o, l);
        },
      },
    };
  }
  const big = archive(...Array.from({ length: 200 }, (_, i) => member({ name: `small${i}` }, 's')), member({ name: 'huge' }, new Uint8Array(32 << 20)), member({ name: 'after' }, 'a'));

  it('seekable without a tap: runs of small entries are served by few reads; large data is jumped over', async () => {
    const { src, reads } = spy(big);
    const r = await run(src);
    expect(r.entries.length).toBe(202);
    const total = reads.reduce((n, [, l]) => n + l, 0);
    expect(reads.length).toBeLessThan(10);
    expect(total).toBeLessThan(4 << 20); // the 32 MiB were not read
  });
  it('seekable with a tap: every byte read in large sequential reads, tapped once', async () => {
    const { src, reads } = spy(big);
    let tapped = 0;
    let sum = 0;
    const r = await run(src, {
      tap: (c) => {
        tapped += c.length;
        sum = (sum + c[0]! + c.length) % 1e9;
      },
    });
    expect(r.entries.length).toBe(202);
    expect(tapped).toBe(big.length);
    expect(reads.every(([o, l]) => l >= 512 || o + l === big.length)).toBe(true);
    expect(reads.length).toBeLessThan(big.length / (64 << 10)); // window-sized reads (128 KiB), not one per header
  });
  it('streaming holds no more than the wanted data plus a bounded buffer', async () => {
    const size = 512 << 20;
    const zero = new Uint8Array(1 << 20);
    async function* huge(): AsyncIterable<Uint8Array> {
      yield header({ name: 'huge', size });
      for (let i = 0; i < size / zero.length; i++) yield zero; // the same buffer every time
      yield member({ name: 'after' }, 'a');
      yield END;
    }
    global.gc?.();
    const before = process.memoryUsage().arrayBuffers;
    let peak = 0;
    const r = await run(huge(), { wantData: (e) => e.size < 100, tap: () => (peak = Math.max(peak, process.memoryUsage().arrayBuffers)) });
    expect(r.entries.map((e) => [text(e.path), e.size])).toEqual([
      ['huge', size],
      ['after', 1],
    ]);
    expect(peak - before).toBeLessThan(64 << 20);
  });
  it('stopping early releases the stream', async () => {
    let released = false;
    async function* src(): AsyncIterable<Uint8Array> {
      try {
        yield sample;
        yield END;
      } finally {
        released = true;
      }
    }
    for await (const item of readTar(src())) {
      expect(item.entry).toBeDefined();
      break;
    }
    expect(released).toBe(true);
  });
});

describe('property: mutated archives parse or throw ErofsError, never anything else', () => {
  const bases = [
    archive(
      pax([['comment', 'g'], ['SCHILY.xattr.user.g', 'v']], 'g'),
      A,
      pax([['path', 'p'.repeat(120)], ['mtime', '-1.5'], ['LIBARCHIVE.xattr.user.a', 'AAH+']]),
      member({ name: 'x' }, 'y'.repeat(700)),
      gnuLong('L', 'q'.repeat(130)),
      gnuLong('K', 'k'.repeat(130)),
      member({ name: 'z', dialect: 'gnu', type: '2', uid: base256(3000000, 8) }),
      member({ name: 'v7/', dialect: 'v7', type: 0 }),
    ),
    archive(
      header({ name: 's', type: 'S', dialect: 'gnu', size: 30, sparse: [[0, 5], [100, 5], [200, 5], [300, 5]], isextended: true, realsize: 1000 }),
      sparseExtension([[400, 5], [500, 5]], false),
      padded(new Uint8Array(30).fill(3)),
      pax([['GNU.sparse.major', '1'], ['GNU.sparse.minor', '0'], ['GNU.sparse.realsize', '2000'], ['GNU.sparse.name', 'one']]),
      member({ name: 'GNUSparseFile/one' }, concat([padded(bytes('2\n0\n3\n1000\n4\n')), bytes('abcdefg')])),
      pax([['GNU.sparse.size', '300'], ['GNU.sparse.map', '0,1,200,2']]),
      member({ name: 'GNUSparseFile/two' }, 'xyz'),
    ),
  ];

  it.each(bases.map((b, i) => [i, b] as const))('base %i', async (_i, base) => {
    expect((await seek(base)).warnings).toEqual([]);
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.record({ at: fc.nat({ max: base.length - 1 }), value: fc.integer({ min: 0, max: 255 }) }), { minLength: 1, maxLength: 8 }),
        fc.option(fc.nat({ max: base.length }), { nil: undefined }),
        fc.boolean(),
        async (edits, cut, fixSums) => {
          const b = base.slice(0, cut ?? base.length);
          for (const { at, value } of edits) if (at < b.length) b[at] = value;
          // Also re-sign every header-looking block, so mutations get past the checksum.
          if (fixSums) {
            for (let o = 0; o + 512 <= b.length; o += 512) {
              if (b.subarray(o + 257, o + 262).every((x, i) => x === 'ustar'.charCodeAt(i))) setChecksum(b.subarray(o, o + 512));
            }
          }
          const outcomes: ({ ok: Result } | { err: unknown })[] = [];
          for (const p of [seek(b, { wantData: () => true }), stream(b, { wantData: () => true }, 7)]) {
            const r = await settle(p, 'mutated archive');
            if ('err' in r && !isErofsError(r.err)) throw r.err;
            outcomes.push(r);
          }
          const [s, t] = outcomes as [{ ok: Result } | { err: unknown }, { ok: Result } | { err: unknown }];
          if ('ok' in s && 'ok' in t) expect(t.ok).toEqual(s.ok);
        },
      ),
      { numRuns: 400 },
    );
  });
});

it('octal and base-256 helpers of the test crafter agree with the reader', async () => {
  const r = await seek(archive(member({ name: 'n', size: octal(3, 12), uid: base256(0, 8), mtime: base256(2 ** 40, 12) }, 'abc')));
  expect([r.entries[0]!.size, r.entries[0]!.uid, r.entries[0]!.mtime.sec]).toEqual([3, 0, 2 ** 40]);
});

describe('takeHeader: plain headers offered raw, in archive order', () => {
  const tar = archive(
    member({ name: 'one' }, 'x'),
    member({ name: 'one-b' }, 'x'),
    pax([['path', 'two-from-pax']]),
    member({ name: 'placeholder' }, 'yy'),
    member({ name: 'three', dialect: 'gnu' }, 'zzz'),
    member({ name: 'four', dialect: 'v7' }),
    member({ name: 'five', type: '1', linkname: 'one' }),
    member({ name: 'six' }),
  );
  const names = ['one', 'one-b', 'two-from-pax', 'three', 'four', 'five', 'six'];

  for (const [mode, input] of [
    ['seekable', (): ByteSource | AsyncIterable<Uint8Array> => new MemorySource(tar)],
    ['stream, 8 KiB chunks', (): ByteSource | AsyncIterable<Uint8Array> => chunks(tar, 8192)],
  ] as const) {
    it(`${mode}: taken or yielded, every entry once, in archive order`, async () => {
      const order: string[] = [];
      const taken: string[] = [];
      const gen = readTar(input(), {
        takeHeader: (blk, at, dialect, size) => {
          const name = text(blk.subarray(0, blk.indexOf(0)));
          expect(dialect, name).not.toBe('v7');
          expect(at % 512).toBe(0);
          if (name === 'five') return false; // declined: it comes as an entry
          expect(size, name).toBe({ one: 1, 'one-b': 1, three: 3, six: 0 }[name]);
          order.push(name);
          taken.push(name);
          return true;
        },
      });
      for (;;) {
        const x = await gen.next();
        if (x.done) break;
        order.push(text(x.value.entry.path));
      }
      expect(order).toEqual(names);
      // The pax-extended, v7 and declined entries are never taken; some plain ones are
      // (the first header of each window is read the general way, as an entry).
      expect(taken.length).toBeGreaterThan(0);
      for (const n of ['two-from-pax', 'four', 'five']) expect(taken).not.toContain(n);
    });
  }
});
