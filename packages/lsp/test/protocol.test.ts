/**
 * The built server, driven over LSP stdio with the fixture documents in test/fixtures
 * (made by test/fixtures/make-fixtures.mjs from the image fixtures).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import fc from 'fast-check';
import { ErofsImage, KNOWN_MEDIA_TYPES, format, formatXxd, inspect, parseHexdump, sha256, toHex } from '@erofs-kit/core';
import type { DocumentSymbol, Hover, Location } from 'vscode-languageserver-protocol';
import { FileSource } from '@erofs-kit/core/node';
import { Client, decodeTokens } from './support/client.js';

const fixture = (name: string): string => readFileSync(new URL(`./fixtures/${name}`, import.meta.url), 'utf8');
const uriOf = (name: string): string => `file:///fixtures/${name}`;
const text = (h: Hover | null): string => (h && typeof h.contents === 'object' && 'value' in h.contents ? h.contents.value : '');

function tree(symbols: DocumentSymbol[]): unknown[] {
  return symbols.map((s) => (s.children?.length ? [s.name, s.detail ?? '', tree(s.children)] : [s.name, s.detail ?? '']));
}

let client: Client;
beforeAll(async () => {
  client = await Client.start();
});
afterAll(async () => {
  await client.stop();
});

describe('initialize', () => {
  it('announces the features', () => {
    const c = client.init.capabilities;
    expect(c.hoverProvider).toBe(true);
    expect(c.definitionProvider).toBe(true);
    expect(c.documentSymbolProvider).toBe(true);
    expect(c.inlayHintProvider).toBe(true);
    expect(c.codeActionProvider).toBe(true);
    expect(c.semanticTokensProvider).toMatchObject({ full: true, range: true });
    expect(client.init.serverInfo?.name).toBe('erofs-kit-lsp');
  });
});

describe('superblock dump (erofs-kit hexdump --offset 0x400 --length 0x80)', () => {
  const name = 'basic-4k-sb.xxd';
  const uri = uriOf(name);
  let diagnostics: Awaited<ReturnType<Client['open']>>;
  beforeAll(async () => {
    diagnostics = await client.open(uri, fixture(name));
  });

  it('says the checksum cannot be verified from part of block 0', () => {
    expect(diagnostics).toEqual([
      {
        range: { start: { line: 1, character: 20 }, end: { line: 1, character: 29 } },
        severity: 3,
        source: 'erofs-kit',
        code: 'truncated',
        message: 'checksum not verified: it covers bytes 0x400..0x1000, not all of which are in the dump',
      },
    ]);
  });

  it('explains a byte: structure, field, value, meaning, range, doc', async () => {
    const h = await client.hover(uri, 1, 40);
    expect(text(h)).toBe(
      [
        '**erofs_super_block.blkszbits** · field',
        '`superblock.blkszbits`',
        'value `12 (0xc)` — block size 4096',
        'bytes 0x40c..0x40d (1 byte) · raw `0c`',
        'log2 of the block size; the kernel accepts 9..PAGE_SHIFT',
      ].join('\n\n'),
    );
    expect(h!.range).toEqual({ start: { line: 1, character: 40 }, end: { line: 1, character: 42 } });
  });

  it('names feature bits, dates, and targets outside the dump', async () => {
    expect(text(await client.hover(uri, 1, 30))).toContain('value `0x7` — sb_chksum, mtime, xattr_filter');
    expect(text(await client.hover(uri, 2, 30))).toContain('value `1700000000` — 2023-11-14 22:13:20 UTC: base of compact-inode mtimes');
    expect(text(await client.hover(uri, 1, 46))).toContain('→ root inode 42 at 0x540 (not in this dump)');
    expect(await client.definition(uri, 1, 46)).toBeNull();
  });

  it('colours one token per field and line, as the table lays the fields out', async () => {
    const t = decodeTokens((await client.tokens(uri)).data);
    // Every superblock field is one token per 16-byte line it touches.
    let expected = 0;
    for (const f of format.superBlock.fields) {
      const a = 1024 + f.offset;
      const b = a + f.size - 1;
      expected += Math.floor(b / 16) - Math.floor(a / 16) + 1;
    }
    expect(t.length).toBe(expected);
    expect(t[0]).toEqual([1, 10, 9, 0, 0]); // magic: "e2e1 f5e0", namespace, first field
    expect(t[1]).toEqual([1, 20, 9, 0, 1]); // checksum, alternate shade
  });

  it('summarises each line in an inlay hint', async () => {
    const hints = await client.inlayHints(uri, 0, 3);
    expect(hints.map((h) => [h.position, h.label])).toEqual([
      [{ line: 1, character: 67 }, 'superblock: magic=0xe0f5e1e2 checksum=0x6dd22250 feature_compat=0x7 blkszbits=12 sb_extslots=0 rootnid_2b=42'],
      [{ line: 2, character: 67 }, 'superblock: inos=122 epoch=1700000000'],
      [{ line: 3, character: 67 }, 'superblock: fixed_nsec=0 blocks_lo=115 meta_blkaddr=0 xattr_blkaddr=0'],
    ]);
  });

  it('outlines the superblock', async () => {
    const s = await client.symbols(uri);
    expect(s).toEqual([
      { name: 'superblock', detail: 'erofs_super_block', kind: 3, range: { start: { line: 1, character: 10 }, end: { line: 8, character: 49 } }, selectionRange: { start: { line: 1, character: 10 }, end: { line: 1, character: 10 } }, children: [] },
    ]);
  });
});

describe('image head (hexdump -C of bytes 0..0x700)', () => {
  const name = 'basic-4k-head.hexdump';
  const uri = uriOf(name);
  const lines = fixture(name).split('\n');
  beforeAll(async () => {
    await client.open(uri, fixture(name));
  });

  it('outlines superblock, inodes by nid and path, xattrs and inline dirents', async () => {
    expect(tree(await client.symbols(uri))).toEqual([
      ['boot area', 'bytes 0..1023, unused by EROFS'],
      ['superblock', 'erofs_super_block'],
      ['inode 42', '/', [['xattrs', '52 bytes', [['user.erofs-kit.root', '']]], ['inline dirents', '200 bytes']]],
      ['inode 51', '/chunks', [['inline dirents', '110 bytes']]],
    ]);
  });

  it('goes from the root nid to the root inode', async () => {
    // rootnid_2b is byte 0x40e: the 15th byte of the line at 0x400 ("2a" at column 53).
    expect(lines[2]!.slice(53, 55)).toBe('2a');
    const loc = (await client.definition(uri, 2, 53)) as Location;
    expect(loc).toEqual({ uri, range: { start: { line: 21, character: 10 }, end: { line: 21, character: 58 } } });
    expect(lines[21]!.startsWith('00000540')).toBe(true);
  });

  it('explains a dirent name from its ascii column and follows it to the inode', async () => {
    const line = lines.findIndex((l) => l.includes('|.......chunksemp|'));
    const col = lines[line]!.indexOf('chunks');
    const h = text(await client.hover(uri, line, col));
    expect(h).toBe(
      [
        '**dirent name.name** · field',
        '`dir[42].block[0].name[2]`',
        'value `"chunks"` — /chunks',
        'bytes 0x627..0x62d (6 bytes) · raw `63 68 75 6e 6b 73`',
        'name of dirent 2; names are not NUL-terminated: each ends where the next begins',
        '→ inode 51 (/chunks) at 0x660',
      ].join('\n\n'),
    );
    const loc = (await client.definition(uri, line, col)) as Location;
    expect(lines[loc.range.start.line]!.startsWith('00000660')).toBe(true);
  });

  it('explains an inode mode and a zero boot-area line', async () => {
    expect(text(await client.hover(uri, 21, 23))).toContain('value `0040755` — drwxr-xr-x (directory)');
    expect(text(await client.hover(uri, 1, 0))).toContain('**boot area** · padding');
  });

  it('serves tokens for a line range', async () => {
    const all = decodeTokens((await client.tokens(uri)).data);
    const part = decodeTokens((await client.tokensInRange(uri, 21, 25)).data);
    expect(part.length).toBeGreaterThan(0);
    expect(part).toEqual(all.filter((t) => t[0] >= 21 && t[0] <= 25));
  });
});

describe('faults (root directory with i_format bit 15 set and two names out of order)', () => {
  it('reports each with its byte range and a plain message', async () => {
    const d = await client.open(uriOf('root-dir-bad.xxd'), fixture('root-dir-bad.xxd'));
    expect(d.map((x) => [x.range, x.severity, x.code, x.message])).toEqual([
      [{ start: { line: 1, character: 10 }, end: { line: 1, character: 15 } }, 1, 'invalid-value', 'inode 42: i_format 0x8004 has bits 5-15 set (the kernel says "unsupported i_format")'],
      [
        { start: { line: 15, character: 49 }, end: { line: 16, character: 15 } },
        1,
        'invalid-value',
        'dirents out of order: "empty" comes after "zhunks"; names must ascend in byte order across the directory (lookups binary-search them)',
      ],
    ]);
  });

  it('updates diagnostics when the text changes', async () => {
    const uri = uriOf('root-dir-edit.xxd');
    expect(await client.open(uri, fixture('root-dir-ok.xxd'))).toEqual([]);
    const d = await client.change(uri, fixture('root-dir-bad.xxd'));
    expect(d).toHaveLength(2);
    expect(await client.change(uri, fixture('root-dir-ok.xxd'))).toEqual([]);
  });

  it('reports hex-dump lines it cannot read', async () => {
    const d = await client.open(uriOf('typo.xxd'), '00000400: e2e1 f5e0 50zz\nnot a dump line\n');
    expect(d.map((x) => [x.range, x.message])).toEqual([
      [{ start: { line: 0, character: 20 }, end: { line: 0, character: 24 } }, '"50zz" is not hex'],
      [{ start: { line: 1, character: 0 }, end: { line: 1, character: 15 } }, 'not a hex-dump line: expected an offset in hex, then bytes (xxd, hexdump -C or od -A x -t x1z)'],
      // The magic is there (0x400 is where the superblock starts) but blkszbits is not.
      [
        { start: { line: 0, character: 10 }, end: { line: 0, character: 19 } },
        'the block size is unknown: blkszbits (byte 0x40c) is not in the dump, so nothing after the superblock can be located; add a hint line such as "# erofs: blksz=4096 meta_blkaddr=0"',
      ],
    ]);
  });
});

describe('decode as', () => {
  it('offers structures for bytes nothing explains, and the chosen one is decoded', async () => {
    // The root inode record without its hint line: nothing says where anything is.
    const body = fixture('root-dir-ok.xxd').split('\n').slice(1).join('\n');
    const uri = uriOf('no-hint.xxd');
    const d = await client.open(uri, body);
    expect(d.map((x) => x.message)).toEqual([expect.stringMatching(/^nothing to decode from/)]);
    const actions = await client.codeActions(uri, 0, 10);
    expect(actions.map((x) => x.title)).toEqual(['Decode as inode at 0x540', 'Decode as directory block (dirents) at 0x540', 'Decode as xattr entry at 0x540']);
    const edit = actions[0]!.edit!.changes![uri]![0]!;
    expect(edit.newText).toBe('# erofs: blksz=4096 inode=42\n');
    expect(await client.change(uri, edit.newText + body)).toEqual([]);
    expect(text(await client.hover(uri, 1, 23))).toContain('value `0040755` — drwxr-xr-x (directory)');
    expect(await client.codeActions(uri, 1, 23)).toEqual([]);
  });
});

describe('tar layer (od -A x -t x1z)', () => {
  const name = 'tar-head.od';
  const uri = uriOf(name);
  const lines = fixture(name).split('\n');
  it('verifies header checksums and lists headers and pax records', async () => {
    expect(await client.open(uri, fixture(name))).toEqual([]);
    // chksum of the first header: bytes 148..155, line 0x90 (column of byte 4).
    const line = lines.findIndex((l) => l.startsWith('000090'));
    const h = text(await client.hover(uri, line, 7 + 4 * 3));
    expect(h.split('\n\n').slice(0, 3)).toEqual(['**posix_header.chksum** · field', '`tar[0x0].chksum`', 'value `0o10356 (4334)` — verified: matches the sum of the header bytes']);
    const s = await client.symbols(uri);
    expect(s.map((x) => x.name)).toEqual([
      'tar header pax extended header (applies to the next entry)',
      'tar header "./"',
      'tar header pax extended header (applies to the next entry)',
      'tar header "./empty"',
    ]);
    expect(s[0]!.children!.map((x) => [x.name, x.detail])).toEqual([['pax records', '1 record']]);
  });

  it('shows a pax record and its meaning', async () => {
    const line = lines.findIndex((l) => l.startsWith('000200'));
    const h = text(await client.hover(uri, line, 7));
    expect(h.split('\n\n').slice(0, 3)).toEqual(['**pax record.SCHILY.xattr.user.erofs-kit.root** · field', '`tar[0x0].pax[0]`', 'value `"root directory xattr"` — xattr user.erofs-kit.root']);
  });
});

describe('tar index with its tar appended (golden dump)', () => {
  it('follows a chunk index from the EROFS image into the tar entry', async () => {
    const dump = readFileSync(new URL('./golden/tar-appended.xxd', import.meta.url), 'utf8');
    const uri = uriOf('tar-appended.xxd');
    expect(await client.open(uri, dump)).toEqual([]);
    // Line 88 (index 87) holds the chunk index of /modes/setuid-4755: startblk_lo is its last 4 bytes.
    const h = text(await client.hover(uri, 87, 20));
    expect(h.split('\n\n').slice(0, 2)).toEqual(['**erofs_inode_chunk_index.startblk_lo** · field', '`inode[42].chunk[0].startblk_lo`']);
    expect(h).toMatch(/chunk 0 of \/modes\/setuid-4755 \(bytes 0\.\.\d+\) at block \d+ of device 1 = byte 0x[0-9a-f]+ of this file/);
    const loc = (await client.definition(uri, 87, 20)) as Location;
    const there = text(await client.hover(uri, loc.range.start.line, loc.range.start.character));
    expect(there.split('\n\n')[0]).toBe('**tar data** · data');
    expect(there).toContain('of "./modes/setuid-4755"');
    // One header block above the data: the entry's ustar header, its name field first.
    const header = text(await client.hover(uri, loc.range.start.line - 32, 10));
    expect(header.split('\n\n').slice(0, 3)).toEqual(['**posix_header.name** · field', expect.stringMatching(/^`device\[1\]\[0x[0-9a-f]+\]\.name`$/), 'value `"./modes/setuid-4755"`']);
  });
});

describe('compressed image (golden dump of lz4hc-bigpcl: compact indexes, big pclusters)', () => {
  it('explains the map header and an lcluster entry, and follows a head to its pcluster', async () => {
    const dump = readFileSync(new URL('./golden/lz4hc-bigpcl.xxd', import.meta.url), 'utf8');
    const uri = uriOf('lz4hc-bigpcl.xxd');
    expect(await client.open(uri, dump)).toEqual([]);
    // Where things are, from core (the server must say the same over the protocol).
    const parsed = parseHexdump(dump);
    const r = inspect(parsed.map, { hint: parsed.hint });
    const at = (off: number): [number, number] => {
      const p = parsed.rangeOfByte(off)!;
      return [p.line, p.start];
    };
    const bits = r.spans.find((s) => s.field === 'h_clusterbits')!;
    const h1 = text(await client.hover(uri, ...at(bits.start)));
    expect(h1.split('\n\n').slice(0, 3)).toEqual(['**z_erofs_map_header.h_clusterbits** · field', expect.stringMatching(/^`inode\[\d+\]\.zmap\.h_clusterbits`$/), 'value `0x0` — lclusterbits 12 (blkszbits 12 + 0): logical clusters of 4096 bytes']);
    const cblk = r.spans.find((s) => s.field === 'lcluster' && s.meaning.includes('CBLKCNT'))!;
    const h2 = text(await client.hover(uri, ...at(cblk.start)));
    expect(h2.split('\n\n')[0]).toMatch(/^\*\*z_erofs_compact_pack_[24]b\.lcluster\*\* · field$/);
    expect(h2).toMatch(/NONHEAD: CBLKCNT \d+: the pcluster of the head at lcluster \d+ is \d+ blocks/);
    const head = r.spans.find((s) => s.field === 'lcluster' && s.meaning.startsWith('HEAD1') && s.target !== undefined)!;
    const loc = (await client.definition(uri, ...at(head.start))) as Location;
    expect(loc.range.start).toEqual((({ line, character }) => ({ line, character }))({ line: at(head.target!.offset)[0], character: parsed.rangesOf(head.target!.offset, head.target!.offset + 1, 1)[0]!.start }));
    const there = text(await client.hover(uri, loc.range.start.line, loc.range.start.character));
    expect(there.split('\n\n')[0]).toBe('**pcluster** · data');
    expect(there).toMatch(/lz4-compressed pcluster of \d+ blocks? holding bytes \d+\.\.\d+ of \//);
    client.close(uri);
  });
});

describe('start-up', () => {
  it('writes a V8 code cache at exit and starts from it the next time (V8 accepts it: not rewritten)', async () => {
    const home = mkdtempSync(join(tmpdir(), 'lsp-cache-'));
    const dump = fixture('basic-4k-sb.xxd');
    const written: number[] = [];
    for (let run = 0; run < 2; run++) {
      const c = await Client.start(home);
      await c.open('file:///sb.xxd', dump);
      expect(text(await c.hover('file:///sb.xxd', 1, 40))).toContain('value `12 (0xc)` — block size 4096');
      await c.stop();
      const files = readdirSync(join(home, 'erofs-kit'));
      expect(files, `run ${run}`).toEqual([expect.stringMatching(/^lsp-v\d+\.\d+\.\d+-\w+-\d+-\d+\.v8cache$/)]);
      const st = statSync(join(home, 'erofs-kit', files[0]!));
      expect(st.size).toBeGreaterThan(10000);
      written.push(st.mtimeMs);
    }
    expect(written[1]).toBe(written[0]);
    rmSync(home, { recursive: true, force: true });
  });
});

describe('documents', () => {
  it('are recognised by content whatever their language id', async () => {
    const dump = `# erofs: blksz=4096 meta_blkaddr=0\n${formatXxd(new Uint8Array(16), 0x480)}`;
    const d = await client.open('file:///x/notes.txt', dump, 'plaintext');
    expect(d).toEqual([]);
    expect(text(await client.hover('file:///x/notes.txt', 1, 12))).toContain('bytes 0x480..0x490');
    await client.open('file:///x/readme.txt', 'just some notes\n', 'plaintext');
    expect(await client.hover('file:///x/readme.txt', 0, 2)).toBeNull();
    expect(await client.symbols('file:///x/readme.txt')).toEqual([]);
  });

  it('survive random and mutated dumps (the server answers every request)', async () => {
    const base = fixture('basic-4k-head.hexdump');
    let n = 0;
    await fc.assert(
      fc.asyncProperty(fc.oneof(fc.string({ maxLength: 300 }), fc.array(fc.tuple(fc.nat(), fc.constantFrom('0', 'f', ' ', '*', '\n', 'z', '|', ':')), { maxLength: 30 }).map((m) => {
        const c = base.split('');
        for (const [i, ch] of m) c[i % c.length] = ch;
        return c.join('');
      })), async (t) => {
        const uri = `file:///fuzz/${n++}.xxd`;
        await client.open(uri, t);
        await client.hover(uri, 3, 12);
        await client.tokens(uri);
        await client.symbols(uri);
        await client.inlayHints(uri, 0, 40);
        await client.definition(uri, 2, 53);
        client.close(uri);
      }),
      { numRuns: 40 },
    );
    expect(client.proc.exitCode).toBeNull();
  });
});

describe('composefs dump files', () => {
  const dump = readFileSync(new URL('../../../fixtures/composefs/dump-input.dump', import.meta.url), 'utf8');
  const lines = dump.split('\n');
  const lineOf = (prefix: string): number => lines.findIndex((l) => l.startsWith(prefix + ' '));
  /** Character position of field `i` (0-based) of a line. */
  const fieldPos = (line: number, i: number): number => lines[line]!.split(' ').slice(0, i).join(' ').length + (i > 0 ? 1 : 0);
  const uri = 'file:///cfs/input.dump';

  it('a valid dump has no diagnostics; hovers explain each field, escapes decoded', async () => {
    expect(await client.open(uri, dump, 'composefs-dump')).toEqual([]);
    const root = lineOf('/');
    expect(text(await client.hover(uri, root, fieldPos(root, 2)))).toBe('**MODE** `40755`\n\ndirectory, `drwxr-xr-x` (040755)');
    const dev = lineOf('/dev/null');
    expect(text(await client.hover(uri, dev, fieldPos(dev, 6)))).toBe('**RDEV** `259`\n\ncharacter device 1:3');
    const spaced = lineOf('/a\\x20dir\\x20w\\x20space/file\\x20with\\x20space');
    expect(text(await client.hover(uri, spaced, 3))).toBe('**PATH** `/a\\x20dir\\x20w\\x20space/file\\x20with\\x20space`\n\npath "/a dir w space/file with space"');
    expect(text(await client.hover(uri, spaced, fieldPos(spaced, 7)))).toMatch(/^\*\*MTIME\*\* `1700000002\.500000000`\n\nmodified 2023-11-14 22:13:22\.5/);
    expect(text(await client.hover(uri, spaced, fieldPos(spaced, 8)))).toBe(
      '**PAYLOAD** `12/db37ad5a47cde2a05e4b22cd28819014203b2f499b619fae489b619e9fad53`\n\nbacking file in the object store: "12/db37ad5a47cde2a05e4b22cd28819014203b2f499b619fae489b619e9fad53" (overlayfs redirect)',
    );
    const hard = lineOf('/hardlink-root');
    expect(text(await client.hover(uri, hard, fieldPos(hard, 2)))).toBe('**MODE** `@100644`\n\nhard link: this name is another name of the inode at PAYLOAD ("/objects/a"); the other fields are ignored');
    const eq = lineOf('/eq=name');
    expect(text(await client.hover(uri, eq, fieldPos(eq, 11)))).toBe('**xattr** `user.a=b` = "c=d"');
    // The hex-dump features stay off for a dump file.
    expect(await client.symbols(uri)).toEqual([]);
    client.close(uri);
  });

  it('problems are reported at their line and field: a missing hard-link target, a mode that is not octal', async () => {
    const hard = lineOf('/hardlink-root');
    const broken = lines.map((l, i) => (i === hard ? l.replace(' /objects/a ', ' /objects/missing ') : l)).join('\n');
    const d = await client.open('file:///cfs/broken.dump', broken, 'composefs-dump');
    const at = fieldPos(hard, 8);
    expect(d).toEqual([
      {
        range: { start: { line: hard, character: at }, end: { line: hard, character: at + '/objects/missing'.length } },
        severity: 1,
        source: 'erofs-kit',
        code: 'not-found',
        message: 'hard link target /objects/missing does not exist',
      },
    ]);
    const dev = lineOf('/dev/null');
    const badMode = lines.map((l, i) => (i === dev ? l.replace(' 20666 ', ' 2x666 ') : l)).join('\n');
    // Found by extension too (.dump), without the language id.
    const d2 = await client.open('file:///cfs/bad-mode.dump', badMode, 'plaintext');
    expect(d2.map((x) => [x.range.start.line, x.range.start.character, x.range.end.character, x.message])).toEqual([[dev, fieldPos(dev, 2), fieldPos(dev, 2) + 5, 'MODE "2x666" is not an octal number']]);
  });
});

/* ------------------------------------------------------------------ image manifests */

/** The range of the `nth` occurrence of `needle` in `text` (LSP positions). */
function rangeOf(text: string, needle: string, nth = 0): { start: { line: number; character: number }; end: { line: number; character: number } } {
  let at = -1;
  for (let i = 0; i <= nth; i++) {
    at = text.indexOf(needle, at + 1);
    if (at < 0) throw new Error(`${needle} #${nth} not in the text`);
  }
  const pos = (o: number) => {
    const before = text.slice(0, o).split('\n');
    return { line: before.length - 1, character: before[before.length - 1]!.length };
  };
  return { start: pos(at), end: pos(at + needle.length) };
}
const hex64 = (c: string): string => c.repeat(64);
const sha = (b: Uint8Array | string): string => `sha256:${toHex(sha256().update(typeof b === 'string' ? new TextEncoder().encode(b) : b).digest())}`;

describe('image manifests: documents on their own', () => {
  const manifest = [
    '{',
    '  "schemaVersion": 1,',
    '  "mediaType": "application/vnd.oci.image.manifest.v1+json",',
    '  "config": {',
    '    "mediaType": "application/vnd.oci.image.config.v1+json",',
    `    "digest": "sha256:${hex64('c')}"`,
    '  },',
    '  "layers": [',
    `    { "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": "sha256:${hex64('a')}", "size": 32 },`,
    '    { "mediaType": "text/plain", "digest": "sha256:ABC", "size": -1 },',
    `    { "mediaType": "text/plain", "digest": "sha256:${hex64('b')}", "size": 5 }`,
    '  ]',
    '}',
  ].join('\n');
  const uri = 'file:///m/manifest.json';

  it('puts every problem core reports at its value, or at the key of the object missing a field', async () => {
    const d = await client.open(uri, manifest, 'json');
    const at = (needle: string, nth = 0) => rangeOf(manifest, needle, nth);
    expect(d.map((x) => [x.range, x.severity, x.code, x.message])).toEqual([
      [at('1'), 1, 'schema-version', 'schemaVersion 1, must be 2'],
      [at('"config"'), 1, 'descriptor', 'size is missing'],
      [at('"sha256:ABC"'), 1, 'digest-syntax', 'sha256 digest "ABC" must be 64 lower-case hex digits'],
      [at('-1'), 1, 'descriptor', 'size -1 is not a non-negative integer'],
      [at('"text/plain"', 1), 1, 'layer-media-type', 'layer media type text/plain is not a tar, tar+gzip or tar+zstd layer'],
    ]);
    expect(new Set(d.map((x) => x.source))).toEqual(new Set(['erofs-kit']));
  });

  it('hovers a digest with what it names, and a media type with what it is', async () => {
    const h = await client.hover(uri, 8, 100);
    expect(text(h)).toBe([`**layer 0** · \`sha256:${hex64('a')}\``, '`application/vnd.oci.image.layer.v1.tar+gzip` — OCI layer, tar+gzip', 'size 32 bytes'].join('\n\n'));
    expect(h!.range).toEqual(rangeOf(manifest, `"sha256:${hex64('a')}"`));
    expect(text(await client.hover(uri, 5, 20))).toBe([`**config** · \`sha256:${hex64('c')}\``, '`application/vnd.oci.image.config.v1+json` — OCI image config'].join('\n\n'));
    expect(text(await client.hover(uri, 2, 22))).toBe('`application/vnd.oci.image.manifest.v1+json`: OCI image manifest');
    expect(await client.hover(uri, 1, 5)).toBeNull();
  });

  it('has no links outside a layout', async () => {
    expect(await client.links(uri)).toEqual([]);
  });

  it('checks Docker manifest lists and configs, and says where the JSON is broken', async () => {
    const list = [
      '{"schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.list.v2+json", "manifests": [',
      `  {"mediaType": "application/vnd.docker.distribution.manifest.v2+json", "digest": "sha256:${hex64('d')}", "size": "12", "platform": {"architecture": "amd64"}}`,
      ']}',
    ].join('\n');
    const d = await client.open('file:///m/list.json', list, 'json');
    expect(d.map((x) => [x.range, x.code, x.message])).toEqual([
      [rangeOf(list, '"12"'), 'descriptor', 'size "12" is not a non-negative integer'],
      [rangeOf(list, '{"architecture": "amd64"}'), 'descriptor', 'platform needs string os and architecture (and an optional string variant)'],
    ]);
    const config = '{"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": ["sha256:xyz", "md5:abc"]}}';
    const c = await client.open('file:///m/config.json', config, 'json');
    expect(c.map((x) => [x.range, x.severity, x.code, x.message])).toEqual([
      [rangeOf(config, '"sha256:xyz"'), 1, 'digest-syntax', 'sha256 digest "xyz" must be 64 lower-case hex digits'],
      [rangeOf(config, '"md5:abc"'), 2, 'digest-algorithm', 'digest algorithm md5 cannot be verified here (sha256, sha512)'],
      [rangeOf(config, '"md5:abc"'), 1, 'digest-algorithm', 'diff_id md5:abc is not a sha256 digest'],
    ]);
    const broken = '{"schemaVersion": 2, "manifests": [}';
    const b = await client.open('file:///m/broken.json', broken, 'json');
    expect(b.map((x) => [x.range, x.code, x.message])).toEqual([[rangeOf(broken, '}'), 'json', 'not JSON: value expected']]);
  });

  it('leaves other JSON alone', async () => {
    const d = await client.open('file:///m/package.json', '{"name": "x", "version": "1.0.0", "config": {"port": 8080}}', 'json');
    expect(d).toEqual([]);
    expect(await client.hover('file:///m/package.json', 0, 12)).toBeNull();
    expect(await client.completion('file:///m/package.json', 0, 12)).toEqual([]);
    // A dump is still a dump whatever its language id.
    const dump = fixture('root-dir-bad.xxd');
    const asDump = await client.open('file:///m/dump.xxd', dump);
    expect(asDump.length).toBeGreaterThan(0);
    expect(await client.open('file:///m/dump.json', dump, 'json')).toEqual(asDump);
    const h = text(await client.hover('file:///m/dump.json', 1, 12));
    expect(h).toMatch(/bytes 0x[0-9a-f]+\.\.0x/);
    expect(h).toBe(text(await client.hover('file:///m/dump.xxd', 1, 12)));
  });

  it('completes media types inside a "mediaType" value, those that fit the place first', async () => {
    const doc = '{"schemaVersion": 2, "config": {"mediaType": ""}, "layers": [{"mediaType": "app"}]}';
    const u = 'file:///m/complete.json';
    await client.open(u, doc, 'json');
    const inConfig = await client.completion(u, 0, doc.indexOf('""') + 1);
    expect(inConfig.length).toBe(KNOWN_MEDIA_TYPES.filter((m) => m.role !== 'other').length);
    const sorted = [...inConfig].sort((x, y) => x.sortText!.localeCompare(y.sortText!));
    expect(sorted.slice(0, 3).map((i) => i.label)).toEqual(KNOWN_MEDIA_TYPES.filter((m) => m.role === 'config').map((m) => m.mediaType).sort());
    expect(inConfig.find((i) => i.label === 'application/vnd.oci.image.config.v1+json')).toMatchObject({
      detail: 'OCI image config',
      textEdit: { range: rangeOf(doc, '""'), newText: '"application/vnd.oci.image.config.v1+json"' },
    });
    const inLayer = await client.completion(u, 0, doc.indexOf('"app"') + 3);
    const first = [...inLayer].sort((x, y) => x.sortText!.localeCompare(y.sortText!))[0]!;
    expect(KNOWN_MEDIA_TYPES.find((m) => m.mediaType === first.label)?.role).toBe('layer');
    expect(first.textEdit).toMatchObject({ range: rangeOf(doc, '"app"') });
    expect(await client.completion(u, 0, 3)).toEqual([]);
  });

  it('survive random and mutated manifests (the server answers every request)', async () => {
    let n = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc.json({ maxDepth: 4 }),
          fc.array(fc.tuple(fc.nat(), fc.constantFrom('{', '}', '[', ']', '"', ',', ':', '0', '-', 'x', '\n', '')), { maxLength: 20 }).map((m) => {
            const c = manifest.split('');
            for (const [i, ch] of m) c[i % c.length] = ch;
            return c.join('');
          }),
        ),
        async (t) => {
          const u = `file:///fuzz/${n++}.json`;
          await client.open(u, t, 'json');
          await client.hover(u, 8, 100);
          await client.hover(u, 2, 22);
          await client.completion(u, 4, 20);
          await client.links(u);
          client.close(u);
        },
      ),
      { numRuns: 60 },
    );
    expect(client.proc.exitCode).toBeNull();
  });
});

const INDEX_STAND_IN = fileURLToPath(new URL('../../../fixtures/basic-4k.erofs', import.meta.url));
async function inodesOf(path: string): Promise<number> {
  const src = new FileSource(path);
  try {
    return Number((await ErofsImage.open(src)).sb.inos);
  } finally {
    await src.close();
  }
}

describe('image manifests: in an OCI layout on disk', () => {
  const enc = new TextEncoder();
  const top = mkdtempSync(join(tmpdir(), 'lsp-oci-'));
  const dir = join(top, 'image');
  const blob = (d: string) => join(dir, 'blobs', 'sha256', d.slice(7));
  const put = (d: string, b: Uint8Array | string) => writeFileSync(blob(d), b);
  // Layer 0's blob holds other bytes of the same size; layer 1's size is wrong; layer 2 has no blob.
  const tars = [new Uint8Array(1024).fill(2), new Uint8Array(512).fill(3), new Uint8Array(256).fill(4)];
  const layers = tars.map(sha);
  const config = JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [layers[0], layers[1]] } }, null, 2);
  const manifest = JSON.stringify(
    {
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha(config), size: config.length },
      layers: [
        { mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: layers[0], size: 1024 },
        { mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: layers[1], size: 600 },
        { mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: layers[2], size: 256 },
      ],
    },
    null,
    2,
  );
  const index = JSON.stringify(
    {
      schemaVersion: 2,
      manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: sha(manifest), size: manifest.length, annotations: { 'org.opencontainers.image.ref.name': 'v1' } }],
    },
    null,
    2,
  );
  const uri = (p: string) => pathToFileURL(join(dir, p)).href;
  const blobUri = (d: string) => uri(`blobs/sha256/${d.slice(7)}`);
  const mpath = `blobs/sha256/${sha(manifest).slice(7)}`;
  const cpath = `blobs/sha256/${sha(config).slice(7)}`;

  beforeAll(() => {
    mkdirSync(join(dir, 'blobs', 'sha256'), { recursive: true });
    put(layers[0]!, new Uint8Array(1024).fill(1));
    put(layers[1]!, tars[1]!);
    put(sha(config), config);
    put(sha(manifest), manifest);
    writeFileSync(join(dir, 'index.json'), index);
    writeFileSync(join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
    // An `oci convert` output beside the layout with the tar index of layer 1 only.
    mkdirSync(join(top, 'out', 'layers'), { recursive: true });
    writeFileSync(join(top, 'out', 'summary.json'), '{}');
    // (Any EROFS image stands in for the tar index: the hover reads its inode count.)
    writeFileSync(join(top, 'out', 'layers', `${layers[1]!.slice(7)}.erofs`), readFileSync(INDEX_STAND_IN));
  });
  afterAll(() => rmSync(top, { recursive: true, force: true }));

  it('reports size and digest mismatches and missing blobs at the manifest\'s fields, and the config\'s problems at its descriptor', async () => {
    // First without layer digests (layer blobs not hashed yet), then again with them.
    const quick = await client.open(blobUri(sha(manifest)), manifest, 'json');
    expect(quick.map((x) => x.code)).toEqual(['blob-size', 'blob-missing', 'diff-ids']);
    const d = await client.publication(blobUri(sha(manifest)), 2);
    expect(d.map((x) => [x.range, x.severity, x.code, x.message])).toEqual([
      [rangeOf(manifest, '600'), 1, 'blob-size', `size 600 but blob blobs/sha256/${layers[1]!.slice(7)} holds 512 bytes`],
      [rangeOf(manifest, `"${layers[2]}"`), 1, 'blob-missing', `blob blobs/sha256/${layers[2]!.slice(7)} does not exist`],
      [rangeOf(manifest, `"${layers[0]}"`), 1, 'blob-digest', `blob blobs/sha256/${layers[0]!.slice(7)} does not hash to ${layers[0]}`],
      [rangeOf(manifest, `"${sha(config)}"`), 1, 'diff-ids', `${cpath} $.rootfs.diff_ids: 2 diff_ids for 3 layers`],
    ]);
  });

  it('checks the editor\'s text, not the file: a fixed size clears its diagnostic', async () => {
    const fixed = manifest.replace('"size": 600', '"size": 512');
    const d = await client.change(blobUri(sha(manifest)), fixed);
    expect(d.map((x) => x.code)).toEqual(['blob-missing', 'blob-digest', 'blob-digest', 'diff-ids']);
    // The edited text no longer hashes to the blob's name: index.json's descriptor says so, here at the top.
    expect(d[2]).toMatchObject({ range: { start: { line: 0, character: 0 }, end: { line: 0, character: 1 } }, message: `index.json $.manifests[0].digest: blob ${mpath} does not hash to ${sha(manifest)}` });
    await client.change(blobUri(sha(manifest)), manifest);
  });

  it('shows the problems of the manifest an index names at its digest, and the config\'s own in the config', async () => {
    const i = await client.open(uri('index.json'), index, 'json');
    const at = rangeOf(index, `"${sha(manifest)}"`);
    expect(i.map((x) => [x.range, x.code, x.message])).toEqual([
      [at, 'blob-size', `${mpath} $.layers[1].size: size 600 but blob blobs/sha256/${layers[1]!.slice(7)} holds 512 bytes`],
      [at, 'blob-missing', `${mpath} $.layers[2].digest: blob blobs/sha256/${layers[2]!.slice(7)} does not exist`],
      [at, 'blob-digest', `${mpath} $.layers[0].digest: blob blobs/sha256/${layers[0]!.slice(7)} does not hash to ${layers[0]}`],
    ]);
    const c = await client.open(blobUri(sha(config)), config, 'json');
    expect(c.map((x) => [x.range, x.code, x.message])).toEqual([[rangeOf(config, `[\n      "${layers[0]}",\n      "${layers[1]}"\n    ]`), 'diff-ids', '2 diff_ids for 3 layers']]);
  });

  it('takes a layout\'s index.json for an index whatever it holds', async () => {
    const d = await client.change(uri('index.json'), '{}');
    const brace = { start: { line: 0, character: 0 }, end: { line: 0, character: 1 } };
    expect(d.map((x) => [x.range, x.code, x.message])).toEqual([
      [brace, 'schema-version', 'schemaVersion null, must be 2'],
      [brace, 'descriptor', 'manifests must be an array of descriptors'],
    ]);
    expect(await client.change(uri('index.json'), index)).toHaveLength(3);
  });

  it('hovers a layer digest with its diffID and blob, and a diffID with its layer', async () => {
    const r = rangeOf(manifest, `"${layers[0]}"`);
    const h = await client.hover(blobUri(sha(manifest)), r.start.line, r.start.character + 3);
    expect(text(h)).toBe(
      [`**layer 0** · \`${layers[0]}\``, '`application/vnd.oci.image.layer.v1.tar` — OCI layer, uncompressed tar', 'size 1024 bytes', `diffID \`${layers[0]}\` (config rootfs.diff_ids[0])`, `blob \`blobs/sha256/${layers[0]!.slice(7)}\``].join('\n\n'),
    );
    const second = rangeOf(manifest, `"${layers[1]}"`);
    expect(text(await client.hover(blobUri(sha(manifest)), second.start.line, second.start.character + 3))).toContain(
      [`diffID \`${layers[1]}\` (config rootfs.diff_ids[1])`, `tar index \`../out/layers/${layers[1]!.slice(7)}.erofs\` (erofs-kit oci convert): ${await inodesOf(INDEX_STAND_IN)} inodes`].join('\n\n'),
    );
    const missing = rangeOf(manifest, `"${layers[2]}"`);
    expect(text(await client.hover(blobUri(sha(manifest)), missing.start.line, missing.start.character + 3))).toContain(`blob \`blobs/sha256/${layers[2]!.slice(7)}\` is not in the layout`);
    const m = rangeOf(index, `"${sha(manifest)}"`);
    expect(text(await client.hover(uri('index.json'), m.start.line, m.start.character + 3))).toBe(
      [`**manifests[0]** · \`${sha(manifest)}\``, '`application/vnd.oci.image.manifest.v1+json` — OCI image manifest', `size ${manifest.length} bytes`, 'tag `v1`', `blob \`${mpath}\``].join('\n\n'),
    );
    const id = rangeOf(config, `"${layers[1]}"`);
    expect(text(await client.hover(blobUri(sha(config)), id.start.line, id.start.character + 3))).toBe(
      [`**diffID of layer 1** · \`${layers[1]}\``, "sha256 of the layer's uncompressed tar", `layer blob \`${layers[1]}\` · application/vnd.oci.image.layer.v1.tar · 600 bytes`].join('\n\n'),
    );
  });

  it('links the digests of blobs that exist to their files', async () => {
    // The digest without its quotes.
    const inner = (d: string) => rangeOf(manifest, d);
    const links = await client.links(blobUri(sha(manifest)));
    expect(links.map((l) => [l.range, l.target])).toEqual([
      [inner(sha(config)), blobUri(sha(config))],
      [inner(layers[0]!), blobUri(layers[0]!)],
      [inner(layers[1]!), blobUri(layers[1]!)],
    ]);
    expect((await client.links(uri('index.json'))).map((l) => l.target)).toEqual([blobUri(sha(manifest))]);
  });
});
