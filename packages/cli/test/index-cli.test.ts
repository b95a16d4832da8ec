/**
 * `erofs-kit index` as a user and a pipeline see it: every promise of the tar-index command,
 * shown at the CLI level on tars made at test time (GNU tar from a directory tree, Python's
 * tarfile from member lists, byte patches of either) and checked by independent judges
 * (sha256sum, fsverity, GNU tar's own source tree, fsck.erofs from erofs-utils).
 *
 * Missing optional judges (zstd, fsverity, fsck.erofs18) skip their tests with a SKIPPED
 * line; under CI they are failures.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { inCI, skipWithoutJudges, allOf } from './support/judges.js';
import {
  STACK_FRAME,
  TREE_COMMON_MTIME,
  catOf,
  fsckProblems,
  fsverityDigest,
  gnuTar,
  hasFsckErofs,
  hasFsverity,
  hasGnuTar,
  hasPython,
  hasSha256sum,
  hasZstd,
  inspectOf,
  kit,
  kitPiped,
  kitTrickled,
  listing,
  lsTree,
  makeTree,
  ok,
  pseudoRandom,
  pyTar,
  read,
  regularFiles,
  run,
  setField,
  sha256sum,
  statOf,
  text,
  type LsEntry,
  type MadeTar,
  type MemberSpec,
  type Run,
} from './support/index-harness.js';

// ---------------------------------------------------------------------------------------------
// Judges and the shared layers

const haveBasics = allOf(hasGnuTar, hasPython, hasSha256sum);
const haveZstd = hasZstd().ok;
const haveFsverity = hasFsverity().ok;
const haveFsck = hasFsckErofs().ok;
const skipAll = skipWithoutJudges('erofs-kit index tests (GNU tar, python3 tarfile, sha256sum)', haveBasics);
const skipZstd = skipAll || skipWithoutJudges('erofs-kit index with zstd input', hasZstd());
const skipVerity = skipAll || skipWithoutJudges('erofs-kit index --verity against fsverity digest', hasFsverity());
const skipRefFsck = skipWithoutJudges('fsck.erofs18 on erofs-kit index output', hasFsckErofs());
if (skipRefFsck && !inCI()) console.warn('(erofs-kit fsck still checks every produced image)');

const work = mkdtempSync(join(tmpdir(), 'erofs-kit-index-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** A fresh empty directory for one test. */
let boxes = 0;
const box = (label: string): string => {
  const d = join(work, `${label.replace(/[^A-Za-z0-9]+/g, '-').slice(0, 40)}-${++boxes}`);
  mkdirSync(d);
  return d;
};

const FORMATS = ['gnu', 'posix'] as const;
type Format = (typeof FORMATS)[number];

interface Layer {
  format: Format;
  tar: string;
  gz: string;
  zst: string | undefined;
  /** `erofs-kit index TAR -o ref.erofs` with no options: what every other form must reproduce. */
  ref: string;
}

const TREE = join(work, 'tree');
const layers = new Map<Format, Layer>();
if (!skipAll) {
  makeTree(TREE);
  for (const format of FORMATS) {
    const tar = join(work, `layer-${format}.tar`);
    gnuTar(TREE, tar, format);
    const gz = `${tar}.gz`;
    writeFileSync(gz, gzipSync(read(tar)));
    let zst: string | undefined;
    if (haveZstd) {
      zst = `${tar}.zst`;
      ok(run('zstd', ['-q', '-f', '-o', zst, tar]));
    }
    const ref = join(work, `ref-${format}.erofs`);
    ok(kit(['index', tar, '-o', ref]));
    layers.set(format, { format, tar, gz, zst, ref });
  }
}
const layer = (f: Format): Layer => layers.get(f)!;

/** How the layer reaches the CLI: a path, a shell pipe into `-`, or a pipe of small odd writes. */
type Feed = 'path' | 'pipe' | 'trickle';
type Input = 'tar' | 'gz' | 'zst';

function inputFile(l: Layer, input: Input): string {
  const f = input === 'tar' ? l.tar : input === 'gz' ? l.gz : l.zst;
  if (!f) throw new Error(`no ${input} form of ${l.tar}`);
  return f;
}

/** `erofs-kit index` on `file` fed as `feed`, with `args` after LAYER. */
function index(file: string, feed: Feed, args: string[], env?: Record<string, string>): Run {
  if (feed === 'pipe') return kitPiped(file, ['index', '-', ...args], { env });
  if (feed === 'trickle') return kitTrickled(file, ['index', '-', ...args], 777, { env });
  return kit(['index', file, ...args], { env });
}

const same = (a: string, b: string): boolean => read(a).equals(read(b));

/** Where two files first differ, for messages. */
function firstDifference(a: Buffer, b: Buffer): string {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return `first difference at byte 0x${i.toString(16)} (sizes ${a.length} and ${b.length})`;
  return a.length === b.length ? 'identical' : `one is a prefix of the other (sizes ${a.length} and ${b.length})`;
}

function expectSameBytes(actual: string, expected: string, what: string): void {
  const a = read(actual);
  const b = read(expected);
  expect(a.equals(b), `${what}: ${actual} vs ${expected}: ${firstDifference(a, b)}`).toBe(true);
}

interface IndexJson {
  image: string;
  imageBytes: number;
  diffId: string;
  verity?: string;
  tarBytes: number;
  deviceBlocks: number;
  entries: number;
  inodes: number;
  warnings: { code: string; message: string; offset: number; path?: string }[];
  appended?: boolean;
  fileBytes?: number;
  tar?: string;
}

const json = (r: Run): IndexJson => JSON.parse(text(ok(r))) as IndexJson;

/** The RFC 9562 version-8 uuid the help promises by default: the diffID's first 16 bytes. */
function uuidOfDiffId(diffId: string): string {
  const h = diffId.slice('sha256:'.length, 'sha256:'.length + 32).split('');
  h[12] = '8';
  h[16] = ((parseInt(h[16]!, 16) & 0x3) | 0x8).toString(16);
  const s = h.join('');
  return `${s.slice(0, 8)}-${s.slice(8, 12)}-${s.slice(12, 16)}-${s.slice(16, 20)}-${s.slice(20)}`;
}

// ---------------------------------------------------------------------------------------------

describe.skipIf(skipAll)('determinism', () => {
  const OPTION_SETS: { label: string; args: string[]; env?: Record<string, string> }[] = [
    { label: 'no options', args: [] },
    { label: '--aufs', args: ['--aufs'] },
    { label: '--uuid', args: ['--uuid', '0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0'] },
    { label: '--timestamp', args: ['--timestamp', '1234567890'] },
    { label: 'SOURCE_DATE_EPOCH', args: [], env: { SOURCE_DATE_EPOCH: '987654321' } },
    { label: '--verity --json', args: ['--verity', '--json'] },
  ];
  const rows = FORMATS.flatMap((format) => OPTION_SETS.map((o) => ({ ...o, format })));

  it.each(rows)('$format layer, $label: two runs give byte-identical images', ({ format, args, env }) => {
    const l = layer(format);
    const a = box('det-a');
    const b = box('det-b');
    const ra = ok(kit(['index', l.tar, '-o', join(a, 'first.erofs'), ...args], { env, cwd: a }));
    const rb = ok(kit(['index', l.tar, '-o', join(b, 'second-name.erofs'), ...args], { env, cwd: b }));
    expectSameBytes(join(b, 'second-name.erofs'), join(a, 'first.erofs'), 'second run');
    // Everything reported but the output's name is the same too.
    expect(text(rb).replaceAll('second-name.erofs', 'X').replaceAll(b, 'D')).toBe(text(ra).replaceAll('first.erofs', 'X').replaceAll(a, 'D'));
  });

  const EPOCHS: { label: string; args: string[]; env?: Record<string, string>; epoch: number; nsec?: number }[] = [
    { label: 'SOURCE_DATE_EPOCH', args: [], env: { SOURCE_DATE_EPOCH: '1234567890' }, epoch: 1234567890 },
    { label: '--timestamp', args: ['--timestamp', '1111111111'], epoch: 1111111111 },
    { label: '--timestamp wins over SOURCE_DATE_EPOCH', args: ['--timestamp', '1111111111'], env: { SOURCE_DATE_EPOCH: '1234567890' }, epoch: 1111111111 },
    { label: '--timestamp 0', args: ['--timestamp', '0'], epoch: 0 },
    { label: 'SOURCE_DATE_EPOCH=0', args: [], env: { SOURCE_DATE_EPOCH: '0' }, epoch: 0 },
    { label: '--timestamp with nanoseconds', args: ['--timestamp', '1111111111.25'], epoch: 1111111111, nsec: 250000000 },
    { label: "neither: the layer's most common mtime", args: [], epoch: TREE_COMMON_MTIME },
  ];

  it.each(EPOCHS)('build time from $label (inspect --json epoch); file mtimes stay those of the tar', ({ args, env, epoch, nsec }) => {
    const l = layer('posix');
    const d = box('epoch');
    const m = join(d, 'm.erofs');
    ok(kit(['index', l.tar, '-o', m, ...args], { env }));
    const sb = inspectOf(m);
    expect(sb.epoch).toBe(epoch);
    if (nsec !== undefined) expect(sb.fixedNsec).toBe(nsec);
    expect(sb.blockSize).toBe(512);
    const tree = lsTree(m, [l.tar]);
    const byPath = new Map(tree.map((e) => [e.path, e]));
    expect(byPath.get('/etc/passwd')?.mtime).toBe(TREE_COMMON_MTIME - 5);
    expect(byPath.get('/data/one')?.mtime).toBe(TREE_COMMON_MTIME + 100);
    expect(byPath.get('/etc/shadow')?.mtime).toBe(TREE_COMMON_MTIME);
  });

  const UUIDS: { label: string; arg: string; want: string }[] = [
    { label: 'with dashes', arg: '0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0', want: '0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0' },
    { label: 'upper case without dashes', arg: '0F1E2D3C4B5A69788796A5B4C3D2E1F0', want: '0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0' },
    { label: 'nil uuid', arg: '00000000-0000-0000-0000-000000000000', want: '00000000-0000-0000-0000-000000000000' },
  ];
  it.each(UUIDS)('--uuid $label sets the superblock uuid', ({ arg, want }) => {
    const d = box('uuid');
    const m = join(d, 'm.erofs');
    ok(kit(['index', layer('gnu').tar, '-o', m, '--uuid', arg]));
    expect(inspectOf(m).uuid).toBe(want);
  });

  it('the default uuid is stable across runs, derived from the diffID, and differs between layers', () => {
    const seen = new Map<Format, string>();
    for (const format of FORMATS) {
      const l = layer(format);
      const uuids = [0, 1].map((i) => {
        const m = join(box(`uuid-default-${i}`), 'm.erofs');
        ok(kit(['index', l.tar, '-o', m]));
        const u = inspectOf(m).uuid;
        const diffId = sha256sum(l.tar);
        expect(u, `${format}: uuid derived from the diffID ${diffId}`).toBe(uuidOfDiffId(diffId));
        return u;
      });
      expect(uuids[1]).toBe(uuids[0]);
      expect(inspectOf(l.ref).uuid).toBe(uuids[0]);
      seen.set(format, uuids[0]!);
    }
    expect(seen.get('gnu')).not.toBe(seen.get('posix'));
  });

  const BAD_OPTIONS: { label: string; args: string[]; env?: Record<string, string>; says: RegExp }[] = [
    { label: '--uuid that is not a uuid', args: ['--uuid', 'not-a-uuid'], says: /--uuid/ },
    { label: '--uuid one digit short', args: ['--uuid', '0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f'], says: /--uuid/ },
    { label: '--timestamp that is not a number', args: ['--timestamp', 'yesterday'], says: /--timestamp/ },
    { label: 'negative --timestamp', args: ['--timestamp', '-5'], says: /--timestamp/ },
    { label: 'SOURCE_DATE_EPOCH that is not a number', args: [], env: { SOURCE_DATE_EPOCH: 'soon' }, says: /SOURCE_DATE_EPOCH/ },
    { label: '--expect-diffid without the sha256: prefix', args: ['--expect-diffid', 'ab'.repeat(32)], says: /--expect-diffid/ },
    { label: 'no -o', args: [], says: /-o/ },
  ];
  it.each(BAD_OPTIONS)('$label is a usage error (exit 2) and writes nothing', ({ args, env, says }) => {
    const d = box('badopt');
    const withOut = args.length === 0 && env === undefined ? [] : ['-o', join(d, 'm.erofs')];
    const r = kit(['index', layer('gnu').tar, ...withOut, ...args], { env, cwd: d });
    expect(r.status, r.stderr).toBe(2);
    expect(r.stderr).toMatch(says);
    expect(r.stderr).toMatch(/usage: erofs-kit index/);
    expect(listing(d)).toEqual([]);
  });
});

// ---------------------------------------------------------------------------------------------

describe.skipIf(skipAll)('streaming input', () => {
  const FORMS: { label: string; input: Input; feed: Feed }[] = [
    { label: 'gzip on stdin', input: 'gz', feed: 'pipe' },
    { label: 'zstd on stdin', input: 'zst', feed: 'pipe' },
    { label: 'plain tar on stdin', input: 'tar', feed: 'pipe' },
    { label: 'gzip file by path', input: 'gz', feed: 'path' },
    { label: 'zstd file by path', input: 'zst', feed: 'path' },
    { label: 'plain tar on stdin in 777-byte writes', input: 'tar', feed: 'trickle' },
    { label: 'gzip on stdin in 777-byte writes', input: 'gz', feed: 'trickle' },
    { label: 'zstd on stdin in 777-byte writes', input: 'zst', feed: 'trickle' },
  ];
  const rows = FORMS.flatMap((f) => FORMATS.map((format) => ({ ...f, format })));
  const plainRows = rows.filter((r) => r.input !== 'zst');
  const zstdRows = rows.filter((r) => r.input === 'zst');

  function streamsLikeTheFile({ input, feed, format }: { input: Input; feed: Feed; format: Format }): void {
    const l = layer(format);
    const d = box(`stream-${input}-${feed}`);
    const m = join(d, 'm.erofs');
    const t = join(d, 't.tar');
    const r = json(index(inputFile(l, input), feed, ['--tar-out', t, '-o', m, '--json']));
    expectSameBytes(m, l.ref, `metadata from ${feed === 'path' ? 'index FILE' : 'index -'} (${input})`);
    expectSameBytes(t, l.tar, '--tar-out');
    expect.soft(r.diffId, 'diffID').toBe(sha256sum(l.tar));
    expect(r.tar).toBe(t);
    expect(listing(d)).toEqual(['m.erofs', 't.tar']);
    expect(fsckProblems(m, t, haveFsck)).toBe('');
  }

  it.each(plainRows)('$label ($format): metadata and --tar-out are byte-identical to indexing the tar file', streamsLikeTheFile);
  describe.skipIf(skipZstd)('zstd', () => {
    it.each(zstdRows)('$label ($format): metadata and --tar-out are byte-identical to indexing the tar file', streamsLikeTheFile);
  });

  const NEEDS_TAR_OUT: { label: string; input: Input; feed: Feed; says: RegExp }[] = [
    { label: 'gzip file by path', input: 'gz', feed: 'path', says: /gzip-compressed/ },
    { label: 'zstd file by path', input: 'zst', feed: 'path', says: /zstd-compressed/ },
    { label: 'gzip on stdin', input: 'gz', feed: 'pipe', says: /gzip-compressed/ },
    { label: 'zstd on stdin', input: 'zst', feed: 'pipe', says: /zstd-compressed/ },
    { label: 'plain tar on stdin', input: 'tar', feed: 'pipe', says: /stream|standard input/ },
  ];
  it.each(NEEDS_TAR_OUT)('$label without --tar-out or --append: usage error (exit 2) saying why, nothing written', ({ input, feed, says }) => {
    if (input === 'zst' && !haveZstd) return expect.soft(skipZstd).toBe(true);
    const d = box('needs-tar-out');
    const r = index(inputFile(layer('gnu'), input), feed, ['-o', join(d, 'm.erofs')]);
    expect(r.status, r.stderr).toBe(2);
    expect(r.stderr).toMatch(says);
    expect(r.stderr).toMatch(/--tar-out/);
    expect(r.stderr).toMatch(/--append/);
    expect(r.stderr).toMatch(/uncompressed tar/);
    expect(r.stderr).not.toMatch(STACK_FRAME);
    expect(listing(d)).toEqual([]);
  });
});

// ---------------------------------------------------------------------------------------------

describe.skipIf(skipAll)('--append', () => {
  const FORMS: { label: string; input: Input; feed: Feed }[] = [
    { label: 'tar file', input: 'tar', feed: 'path' },
    { label: 'gzip on stdin', input: 'gz', feed: 'pipe' },
    { label: 'zstd file', input: 'zst', feed: 'path' },
    { label: 'plain tar on stdin', input: 'tar', feed: 'pipe' },
  ];
  const rows = FORMS.flatMap((f) => FORMATS.map((format) => ({ ...f, format })));

  it.each(rows)('$label ($format): one file = metadata then the tar; ls -lR, ls -R, cat and fsck need no --device', ({ input, feed, format }) => {
    if (input === 'zst' && !haveZstd) return expect.soft(skipZstd).toBe(true);
    const l = layer(format);
    const d = box(`append-${input}-${feed}`);
    const a = join(d, 'a.erofs');
    const j = json(index(inputFile(l, input), feed, ['-o', a, '--append', '--json']));
    expect(listing(d)).toEqual(['a.erofs']);
    const whole = read(a);
    const meta = read(l.ref);
    const tar = read(l.tar);
    expect(whole.length).toBe(meta.length + tar.length);
    expect(whole.subarray(0, meta.length).equals(meta), 'the metadata part equals the separate image').toBe(true);
    expect(whole.subarray(meta.length).equals(tar), 'the tar part equals the tar').toBe(true);
    expect(j.appended).toBe(true);
    expect(j.fileBytes).toBe(whole.length);
    expect(j.imageBytes).toBe(meta.length);

    for (const flags of [['-lR'], ['-R'], ['-R', '--json']]) {
      const appended = text(ok(kit(['ls', a, ...flags])));
      const withDevice = text(ok(kit(['ls', l.ref, ...flags, '--device', l.tar])));
      expect(appended, `ls ${flags.join(' ')}`).toBe(withDevice);
    }
    // Every regular file reads back as GNU tar archived it (the source tree).
    for (const f of regularFiles(TREE)) {
      const got = catOf(a, `/${f}`);
      expect(got.equals(read(join(TREE, f))), `cat /${f} from the appended image`).toBe(true);
    }
    expect(fsckProblems(a, undefined, haveFsck)).toBe('');
  });

  it('the separate image reads every file like the source tree too (cat --device)', () => {
    const l = layer('posix');
    for (const f of regularFiles(TREE)) {
      expect(catOf(l.ref, `/${f}`, [l.tar]).equals(read(join(TREE, f))), `/${f}`).toBe(true);
    }
    expect(fsckProblems(l.ref, l.tar, haveFsck)).toBe('');
  });
});

// ---------------------------------------------------------------------------------------------

describe.skipIf(skipAll)('digests', () => {
  const FORMS: { label: string; input: Input; feed: Feed }[] = [
    { label: 'tar file', input: 'tar', feed: 'path' },
    { label: 'tar on stdin', input: 'tar', feed: 'pipe' },
    { label: 'gzip file', input: 'gz', feed: 'path' },
    { label: 'gzip on stdin', input: 'gz', feed: 'pipe' },
    { label: 'zstd file', input: 'zst', feed: 'path' },
    { label: 'zstd on stdin', input: 'zst', feed: 'pipe' },
  ];
  const rows = FORMS.flatMap((f) => FORMATS.map((format) => ({ ...f, format })));
  const uuidRows = FORMS.map((f) => ({ ...f, format: 'gnu' as Format }));
  const args = (d: string, input: Input, feed: Feed): string[] => [
    '-o',
    join(d, 'm.erofs'),
    ...(input === 'tar' && feed === 'path' ? [] : ['--tar-out', join(d, 't.tar')]),
  ];

  it.each(rows)('$label ($format): the diffID is sha256sum of the uncompressed tar (text and --json)', ({ input, feed, format }) => {
    if (input === 'zst' && !haveZstd) return expect.soft(skipZstd).toBe(true);
    const l = layer(format);
    const want = sha256sum(l.tar);
    const d = box('diffid');
    const r = ok(index(inputFile(l, input), feed, args(d, input, feed)));
    expect(text(r)).toContain(`diffID ${want}\n`);
    const e = box('diffid-json');
    expect(json(index(inputFile(l, input), feed, [...args(e, input, feed), '--json'])).diffId).toBe(want);
  });

  it.each(uuidRows)('$label ($format) with --uuid given: the diffID is sha256sum of the uncompressed tar', ({ input, feed, format }) => {
    if (input === 'zst' && !haveZstd) return expect.soft(skipZstd).toBe(true);
    const l = layer(format);
    const d = box('diffid-uuid');
    const j = json(index(inputFile(l, input), feed, [...args(d, input, feed), '--uuid', '0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0', '--json']));
    expect(j.diffId).toBe(sha256sum(l.tar));
  });

  describe.skipIf(skipVerity)('--verity', () => {
    it.each(rows)('$label ($format): --verity is `fsverity digest` of the uncompressed tar', ({ input, feed, format }) => {
      if (input === 'zst' && !haveZstd) return expect.soft(skipZstd).toBe(true);
      const l = layer(format);
      const want = fsverityDigest(l.tar);
      const d = box('verity');
      const r = ok(index(inputFile(l, input), feed, [...args(d, input, feed), '--verity']));
      expect(text(r)).toContain(`fs-verity ${want}\n`);
      const e = box('verity-json');
      expect(json(index(inputFile(l, input), feed, [...args(e, input, feed), '--verity', '--json'])).verity).toBe(want);
    });
  });

  const EXPECT: { label: string; input: Input; feed: Feed; mode: 'plain' | 'tar-out' | 'append' }[] = [
    { label: 'tar file', input: 'tar', feed: 'path', mode: 'plain' },
    { label: 'tar file --append', input: 'tar', feed: 'path', mode: 'append' },
    { label: 'tar file --tar-out', input: 'tar', feed: 'path', mode: 'tar-out' },
    { label: 'gzip file --tar-out', input: 'gz', feed: 'path', mode: 'tar-out' },
    { label: 'gzip on stdin --tar-out', input: 'gz', feed: 'pipe', mode: 'tar-out' },
    { label: 'gzip on stdin --append', input: 'gz', feed: 'pipe', mode: 'append' },
    { label: 'tar on stdin --tar-out', input: 'tar', feed: 'pipe', mode: 'tar-out' },
    { label: 'zstd file --tar-out', input: 'zst', feed: 'path', mode: 'tar-out' },
  ];
  const modeArgs = (d: string, mode: 'plain' | 'tar-out' | 'append'): string[] => [
    '-o',
    join(d, 'm.erofs'),
    ...(mode === 'tar-out' ? ['--tar-out', join(d, 't.tar')] : mode === 'append' ? ['--append'] : []),
  ];
  const outputsOf = (mode: 'plain' | 'tar-out' | 'append'): string[] => (mode === 'tar-out' ? ['m.erofs', 't.tar'] : ['m.erofs']);

  it.each(EXPECT)('$label: --expect-diffid with the right digest succeeds', ({ input, feed, mode }) => {
    if (input === 'zst' && !haveZstd) return expect.soft(skipZstd).toBe(true);
    const l = layer('gnu');
    const d = box('expect-ok');
    const r = index(inputFile(l, input), feed, [...modeArgs(d, mode), '--expect-diffid', sha256sum(l.tar)]);
    expect(r.status, r.stderr).toBe(0);
    expect(listing(d)).toEqual(outputsOf(mode));
  });

  it.each(EXPECT)('$label: --expect-diffid with a wrong digest exits 1 (digest-mismatch) and leaves no file at all', ({ input, feed, mode }) => {
    if (input === 'zst' && !haveZstd) return expect.soft(skipZstd).toBe(true);
    const l = layer('gnu');
    const d = box('expect-bad');
    const right = sha256sum(l.tar);
    const wrong = `sha256:${(right.endsWith('0') ? '1' : '0').repeat(64)}`;
    const r = index(inputFile(l, input), feed, [...modeArgs(d, mode), '--expect-diffid', wrong]);
    expect(r.status, r.stderr).toBe(1);
    expect(r.stderr).toMatch(/digest-mismatch/);
    expect(r.stderr).toContain(right);
    expect(r.stderr).toContain(wrong);
    expect(r.stderr).not.toMatch(STACK_FRAME);
    expect(text(r)).toBe('');
    expect(listing(d)).toEqual([]);
  });

  it('a wrong --expect-diffid leaves existing files at -o and --tar-out as they were', () => {
    const l = layer('gnu');
    const d = box('expect-keep');
    writeFileSync(join(d, 'm.erofs'), 'old image');
    writeFileSync(join(d, 't.tar'), 'old tar');
    const r = index(l.gz, 'path', ['-o', join(d, 'm.erofs'), '--tar-out', join(d, 't.tar'), '--expect-diffid', `sha256:${'0'.repeat(64)}`]);
    expect(r.status, r.stderr).toBe(1);
    expect(listing(d)).toEqual(['m.erofs', 't.tar']);
    expect(read(join(d, 'm.erofs')).toString()).toBe('old image');
    expect(read(join(d, 't.tar')).toString()).toBe('old tar');
  });
});

// ---------------------------------------------------------------------------------------------

/**
 * A tar file of 16 MiB or more is hashed by a worker thread that reads the file itself while
 * the pass reads only what it needs (headers, small files; large data is skipped): the digests,
 * the image and the verity digest must be those of the streamed pass over the same bytes.
 */
describe.skipIf(skipAll)('a large tar file (hashed on a thread of its own)', () => {
  let big = '';
  const build = (): string => {
    if (big) return big;
    const root = join(work, 'big-tree');
    mkdirSync(join(root, 'd'), { recursive: true });
    writeFileSync(join(root, 'd/large-1'), pseudoRandom(9 * 1024 * 1024 + 5, 11));
    writeFileSync(join(root, 'd/large-2'), pseudoRandom(8 * 1024 * 1024, 12));
    for (let i = 0; i < 50; i++) writeFileSync(join(root, `small-${i}`), pseudoRandom(100 + 37 * i, 100 + i));
    big = join(work, 'big.tar');
    gnuTar(root, big, 'posix');
    return big;
  };
  it('diffID, --verity and the image equal those of the same tar streamed on stdin', () => {
    const tar = build();
    expect(read(tar).length).toBeGreaterThanOrEqual(16 << 20);
    const a = box('big-file');
    const b = box('big-pipe');
    const fromFile = json(kit(['index', tar, '-o', join(a, 'm.erofs'), '--verity', '--json']));
    const fromPipe = json(kitPiped(tar, ['index', '-', '-o', join(b, 'm.erofs'), '--tar-out', join(b, 't.tar'), '--verity', '--json']));
    expect(fromFile.diffId).toBe(sha256sum(tar));
    expect(fromPipe.diffId).toBe(fromFile.diffId);
    expect(fromFile.verity).toBe(fromPipe.verity);
    if (haveFsverity) expect(fromFile.verity).toBe(fsverityDigest(tar));
    expect(fromFile.tarBytes).toBe(read(tar).length);
    expectSameBytes(join(a, 'm.erofs'), join(b, 'm.erofs'), 'image from the file vs from stdin');
    expect(catOf(join(a, 'm.erofs'), '/d/large-1', [tar]).equals(pseudoRandom(9 * 1024 * 1024 + 5, 11))).toBe(true);
  });
  it('--expect-diffid with a wrong digest exits 1 and leaves nothing', () => {
    const tar = build();
    const d = box('big-wrong');
    const r = kit(['index', tar, '-o', join(d, 'm.erofs'), '--expect-diffid', `sha256:${'1'.repeat(64)}`]);
    expect(r.status).toBe(1);
    expect(r.stderr.toString()).toContain(sha256sum(tar));
    expect(listing(d)).toEqual([]);
  });
});

describe.skipIf(skipAll)('--json', () => {
  const rows = FORMATS.flatMap((format) => [
    { format, args: [] as string[], verity: false },
    { format, args: ['--verity'], verity: true },
  ]);
  it.each(rows)('$format $args: diffId, verity, imageBytes, entries, inodes, warnings', ({ format, args, verity }) => {
    if (verity && !haveFsverity) return expect.soft(skipVerity).toBe(true);
    const l = layer(format);
    const d = box('json');
    const m = join(d, 'm.erofs');
    const j = json(kit(['index', l.tar, '-o', m, '--json', ...args]));
    expect(j.diffId).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect.soft(j.diffId, 'diffID').toBe(sha256sum(l.tar));
    if (verity) expect(j.verity).toBe(fsverityDigest(l.tar));
    else expect(j).not.toHaveProperty('verity');
    expect(j.imageBytes).toBe(read(m).length);
    expect(j.imageBytes % 512).toBe(0);
    // entries: the members GNU tar lists; inodes: the distinct inodes the image holds.
    const members = text(ok(run('tar', ['-tf', l.tar]))).trim().split('\n').length;
    expect(j.entries).toBe(members);
    const tree = lsTree(m, [l.tar]);
    expect(j.inodes).toBe(new Set(tree.map((e) => e.nid)).size);
    expect(j.warnings).toEqual([]);
    expect(j.tarBytes).toBe(read(l.tar).length);
    expect(j.image).toBe(m);
  });
});

// ---------------------------------------------------------------------------------------------
// Bad input

/** What a bad-input case makes in its directory. */
interface BadMade {
  file: string;
  /** Offset the message must name; undefined: any offset. */
  offset?: number;
}
interface BadCase {
  name: string;
  code: string;
  /** The input is compressed: a path needs --tar-out too. */
  compressed?: boolean;
  needs?: 'zstd';
  make(dir: string): BadMade;
}

/** A tar of two ordinary files (GNU format), for patching. */
function twoFiles(dir: string, sizes: [number, number] = [1000, 700]): MadeTar {
  return pyTar(dir, 'in.tar', [
    { name: 'first', size: sizes[0] },
    { name: 'second', size: sizes[1] },
  ]);
}

/** Keeps the first `n` bytes of a made tar. */
function cut(t: MadeTar, n: number): void {
  writeFileSync(t.path, read(t.path).subarray(0, n));
}

function patch(t: MadeTar, f: (b: Buffer) => void): void {
  const b = read(t.path);
  f(b);
  writeFileSync(t.path, b);
}

const PNG_1X1 = Buffer.from(
  '89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c4890000000d4944415478da63f8cfc0f01f0005000201a5f6b9d40000000049454e44ae426082',
  'hex',
);

/** A tar with a pax record whose length field says `len` (the record is "NN comment=hello\n"). */
function paxWithLength(dir: string, len: string): BadMade {
  const t = pyTar(dir, 'in.tar', [{ name: 'f', data: 'x', pax: { comment: 'hello' } }], 'pax');
  const b = read(t.path);
  const at = b.indexOf(' comment=hello\n');
  if (at < 2 || b.toString('latin1', at - 2, at) !== '17') throw new Error('pax record not where expected');
  b.write(len, at - 2, 'latin1');
  writeFileSync(t.path, b);
  return { file: t.path, offset: t.members[0]!.start };
}

/**
 * A tar of incompressible data, compressed, with one bit flipped in the middle of the
 * compressed stream (inside stored file data). The decompressed bytes differ from the
 * original; only the format's checksum (gzip CRC-32, zstd XXH64 content checksum, which the
 * zstd tool writes by default) can tell. `gzip -t` / `zstd -t` refuse such a file.
 */
function flippedCompressed(d: string, kind: 'gz' | 'zst'): BadMade {
  const src = mkdtempSync(join(work, 'noise-'));
  writeFileSync(join(src, 'noise'), pseudoRandom(200_000, 77));
  ok(run('tar', ['--format=gnu', '-cf', join(d, 'in.tar'), '-C', src, 'noise']));
  rmSync(src, { recursive: true });
  const f = join(d, `in.tar.${kind}`);
  if (kind === 'gz') writeFileSync(f, gzipSync(read(join(d, 'in.tar'))));
  else ok(run('zstd', ['-q', '-f', '-o', f, join(d, 'in.tar')]));
  rmSync(join(d, 'in.tar'));
  const c = read(f);
  const mid = Math.floor(c.length / 2);
  c[mid] = c[mid]! ^ 0x01;
  writeFileSync(f, c);
  const judge = kind === 'gz' ? run('gzip', ['-t', f]) : run('zstd', ['-q', '-t', f]);
  if (judge.status === 0) throw new Error(`${kind} -t accepts the flipped stream; the case proves nothing`);
  return { file: f };
}

const BAD: BadCase[] = [
  {
    name: 'truncated mid-header',
    code: 'truncated',
    make: (d) => {
      const t = twoFiles(d);
      cut(t, t.members[1]!.header + 100);
      return { file: t.path, offset: t.members[1]!.header };
    },
  },
  {
    name: 'truncated mid-data',
    code: 'truncated',
    make: (d) => {
      const t = twoFiles(d);
      cut(t, t.members[1]!.data + 300);
      return { file: t.path, offset: t.members[1]!.header };
    },
  },
  {
    name: 'truncated right after a header',
    code: 'truncated',
    make: (d) => {
      const t = twoFiles(d);
      cut(t, t.members[1]!.data);
      return { file: t.path, offset: t.members[1]!.header };
    },
  },
  {
    name: 'header with a bad checksum',
    code: 'bad-checksum',
    make: (d) => {
      const t = twoFiles(d);
      patch(t, (b) => {
        const at = t.members[1]!.header + 3;
        b[at] = b[at]! ^ 0x01;
      });
      return { file: t.path, offset: t.members[1]!.header };
    },
  },
  {
    name: 'size field that is not octal (letter)',
    code: 'invalid-value',
    make: (d) => {
      const t = twoFiles(d);
      patch(t, (b) => setField(b, t.members[1]!.header, 'size', '0000000012x'));
      return { file: t.path, offset: t.members[1]!.header };
    },
  },
  {
    name: "size field that is not octal (digit '9')",
    code: 'invalid-value',
    make: (d) => {
      const t = twoFiles(d);
      patch(t, (b) => setField(b, t.members[1]!.header, 'size', '00000001279'));
      return { file: t.path, offset: t.members[1]!.header };
    },
  },
  {
    name: 'size larger than the rest of the file',
    code: 'truncated',
    make: (d) => {
      const t = twoFiles(d);
      patch(t, (b) => setField(b, t.members[1]!.header, 'size', '00077777777'));
      return { file: t.path, offset: t.members[1]!.header };
    },
  },
  { name: 'pax record length too long', code: 'invalid-value', make: (d) => paxWithLength(d, '99') },
  { name: 'pax record length too short', code: 'invalid-value', make: (d) => paxWithLength(d, '12') },
  { name: 'pax record length not a number', code: 'invalid-value', make: (d) => paxWithLength(d, 'x7') },
  {
    name: 'random bytes',
    code: 'bad-magic',
    make: (d) => {
      const f = join(d, 'in.tar');
      writeFileSync(f, pseudoRandom(10 * 1024, 42));
      return { file: f, offset: 0 };
    },
  },
  {
    name: 'a PNG header padded to 2 KiB',
    code: 'bad-magic',
    make: (d) => {
      const f = join(d, 'in.tar');
      writeFileSync(f, Buffer.concat([PNG_1X1, Buffer.alloc(2048 - PNG_1X1.length)]));
      return { file: f, offset: 0 };
    },
  },
  {
    name: 'a whole 1x1 PNG (shorter than one tar block)',
    code: 'bad-magic',
    make: (d) => {
      const f = join(d, 'in.tar');
      writeFileSync(f, PNG_1X1);
      return { file: f, offset: 0 };
    },
  },
  {
    name: 'member below a symlink (a -> /etc, then a/passwd)',
    code: 'unsafe-path',
    make: (d) => {
      const t = pyTar(d, 'in.tar', [
        { name: 'a', type: 'symlink', linkname: '/etc' },
        { name: 'a/passwd', data: 'evil' },
      ]);
      return { file: t.path, offset: t.members[1]!.start };
    },
  },
  {
    name: 'member below a symlink deeper down (d/l -> .., then d/l/x)',
    code: 'unsafe-path',
    make: (d) => {
      const t = pyTar(d, 'in.tar', [
        { name: 'd', type: 'dir' },
        { name: 'd/l', type: 'symlink', linkname: '..' },
        { name: 'd/l/x', data: 'evil' },
      ]);
      return { file: t.path, offset: t.members[2]!.start };
    },
  },
  {
    name: 'member below a regular file',
    code: 'unsafe-path',
    make: (d) => {
      const t = pyTar(d, 'in.tar', [
        { name: 'f', data: 'plain' },
        { name: 'f/g', data: 'below' },
      ]);
      return { file: t.path, offset: t.members[1]!.start };
    },
  },
  {
    name: 'hard link to a missing target',
    code: 'not-found',
    make: (d) => {
      const t = pyTar(d, 'in.tar', [
        { name: 'f', data: 'x' },
        { name: 'h', type: 'hardlink', linkname: 'nothere' },
      ]);
      return { file: t.path, offset: t.members[1]!.start };
    },
  },
  {
    name: 'hard link to a later member',
    code: 'not-found',
    make: (d) => {
      const t = pyTar(d, 'in.tar', [
        { name: 'h', type: 'hardlink', linkname: 'f' },
        { name: 'f', data: 'x' },
      ]);
      return { file: t.path, offset: t.members[0]!.start };
    },
  },
  {
    name: 'hard link target climbing out (../../x)',
    code: 'unsafe-path',
    make: (d) => {
      const t = pyTar(d, 'in.tar', [
        { name: 'x', data: 'x' },
        { name: 'd/h', type: 'hardlink', linkname: '../../x' },
      ]);
      return { file: t.path, offset: t.members[1]!.start };
    },
  },
  {
    name: 'member path climbing above the root (../evil)',
    code: 'unsafe-path',
    make: (d) => {
      const t = pyTar(d, 'in.tar', [
        { name: 'ok', data: 'x' },
        { name: '../evil', data: 'evil' },
      ]);
      return { file: t.path, offset: t.members[1]!.start };
    },
  },
  {
    name: 'member path climbing above the root (a/../../evil)',
    code: 'unsafe-path',
    make: (d) => {
      const t = pyTar(d, 'in.tar', [
        { name: 'a', type: 'dir' },
        { name: 'a/../../evil', data: 'evil' },
      ]);
      return { file: t.path, offset: t.members[1]!.start };
    },
  },
  {
    name: 'member path climbing above the root (./../evil, pax path)',
    code: 'unsafe-path',
    make: (d) => {
      const t = pyTar(d, 'in.tar', [{ name: 'x', data: 'evil', pax: { path: './../evil' } }], 'pax');
      return { file: t.path, offset: t.members[0]!.start };
    },
  },
  {
    name: 'corrupt gzip stream',
    code: 'invalid-value',
    compressed: true,
    make: (d) => {
      const t = twoFiles(d, [40000, 40000]);
      const gz = gzipSync(read(t.path));
      for (let i = 40; i < 60; i++) gz[i] = gz[i]! ^ 0x55;
      rmSync(t.path);
      const f = join(d, 'in.tar.gz');
      writeFileSync(f, gz);
      return { file: f };
    },
  },
  {
    name: 'truncated gzip stream',
    code: 'truncated|invalid-value',
    compressed: true,
    make: (d) => {
      const t = twoFiles(d, [40000, 40000]);
      const gz = gzipSync(read(t.path));
      rmSync(t.path);
      const f = join(d, 'in.tar.gz');
      writeFileSync(f, gz.subarray(0, Math.floor(gz.length / 2)));
      return { file: f };
    },
  },
  {
    name: 'gzip stream with one flipped bit in file data (CRC mismatch)',
    code: 'invalid-value',
    compressed: true,
    make: (d) => flippedCompressed(d, 'gz'),
  },
  {
    name: 'corrupt zstd stream (bytes near the frame start)',
    code: 'invalid-value|bad-magic',
    compressed: true,
    needs: 'zstd',
    make: (d) => {
      const t = twoFiles(d, [40000, 40000]);
      const f = join(d, 'in.tar.zst');
      ok(run('zstd', ['-q', '-f', '-o', f, t.path]));
      rmSync(t.path);
      const b = read(f);
      for (let i = 20; i < 40; i++) b[i] = b[i]! ^ 0x55;
      writeFileSync(f, b);
      return { file: f };
    },
  },
  {
    name: 'zstd stream with one flipped bit in file data (content checksum mismatch)',
    code: 'invalid-value',
    compressed: true,
    needs: 'zstd',
    make: (d) => flippedCompressed(d, 'zst'),
  },
];

/**
 * Without the zstd command, content checksums (XXH64) go unchecked: the decoder (fzstd) does
 * not check them. The CLI says so, and --expect-diffid is the safety net: a corrupt stream
 * decompresses to a tar whose sha256 is not the expected diffID.
 */
describe.skipIf(skipAll || skipZstd)('zstd with a flipped bit in file data, no zstd command on PATH', () => {
  it('warns that checksums are not verified, and --expect-diffid catches the corruption', () => {
    const noTools = { PATH: mkdtempSync(join(work, 'empty-path-')) };
    const d = mkdtempSync(join(work, 'zstd-gap-'));
    const src = mkdtempSync(join(work, 'noise-'));
    writeFileSync(join(src, 'noise'), pseudoRandom(200_000, 78));
    const tar = join(d, 'in.tar');
    ok(run('tar', ['--format=gnu', '-cf', tar, '-C', src, 'noise']));
    const diffId = sha256sum(tar);
    const zst = join(d, 'in.tar.zst');
    ok(run('zstd', ['-q', '-f', '-o', zst, tar]));
    const c = read(zst);
    c[Math.floor(c.length / 2)] = c[Math.floor(c.length / 2)]! ^ 0x01;
    writeFileSync(zst, c);
    expect(run('zstd', ['-q', '-t', zst]).status).not.toBe(0);
    const out = join(d, 'm.erofs');
    const tarOut = join(d, 't.tar');
    const plain = kit(['index', zst, '-o', out, '--tar-out', tarOut], { env: noTools });
    expect(plain.stderr).toMatch(/zstd content checksums are not verified/);
    rmSync(out, { force: true });
    rmSync(tarOut, { force: true });
    const r = kit(['index', zst, '-o', out, '--tar-out', tarOut, '--expect-diffid', diffId], { env: noTools });
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/digest-mismatch/);
    expect(listing(d).filter((n) => n !== 'in.tar' && n !== 'in.tar.zst')).toEqual([]);
  });
});

type BadMode = 'path' | 'stdin --tar-out' | 'stdin --append' | 'path --append';
const BAD_MODES: BadMode[] = ['path', 'path --append', 'stdin --tar-out', 'stdin --append'];
/** A bad input must fail fast: well under this, node start-up included. */
const QUICK_MS = 5000;

describe.skipIf(skipAll)('bad input: exit 1, offset and code, no stack trace, no output left, quickly', () => {
  const rows = BAD.flatMap((c) => BAD_MODES.map((mode) => ({ ...c, mode, label: `${c.name} [${mode}]` })));
  it.each(rows)('$label', ({ code, compressed, needs, make, mode }) => {
    if (needs === 'zstd' && !haveZstd) return expect.soft(skipZstd).toBe(true);
    const d = box('bad');
    const made = make(d);
    const before = listing(d);
    const m = join(d, 'out.erofs');
    const args =
      mode === 'path'
        ? ['-o', m, ...(compressed ? ['--tar-out', join(d, 'out.tar')] : [])]
        : mode === 'path --append'
          ? ['-o', m, '--append']
          : mode === 'stdin --tar-out'
            ? ['-o', m, '--tar-out', join(d, 'out.tar')]
            : ['-o', m, '--append'];
    const r = index(made.file, mode.startsWith('stdin') ? 'pipe' : 'path', args);
    const where = `${r.cmd}\nstderr: ${r.stderr}`;
    expect(r.signal, `${where} (killed: it hung)`).toBe(null);
    expect(r.status, where).toBe(1);
    // Soft from here on, so one run shows every way a case falls short.
    expect.soft(r.stderr, `${where}: the code`).toMatch(new RegExp(`^erofs-kit: \\S*?(?::0x[0-9a-f]+)?: (?:${code}): `, 'm'));
    const at = made.offset === undefined ? '0x[0-9a-f]+' : `0x${made.offset.toString(16)}`;
    expect.soft(r.stderr, `${where}: the offset`).toMatch(new RegExp(`^erofs-kit: \\S*:${at}: `, 'm'));
    expect.soft(r.stderr).not.toMatch(STACK_FRAME);
    expect.soft(r.stderr).not.toMatch(/internal error/);
    expect.soft(text(r)).toBe('');
    expect.soft(listing(d), 'no output or temp file is left').toEqual(before);
    expect.soft(r.ms, 'finishes quickly').toBeLessThan(QUICK_MS);
  });
});

// ---------------------------------------------------------------------------------------------
// Lenient readings

interface LenientCase {
  name: string;
  warning: string;
  /** What the warning on stderr says. */
  says: RegExp;
  make(dir: string): string;
  /** Paths with the content they must have. */
  files: Record<string, string>;
}

const TWO: MemberSpec[] = [
  { name: 'd', type: 'dir' },
  { name: 'd/f', data: 'content of f\n' },
  { name: 'g', data: 'gee' },
];
const TWO_FILES = { '/d/f': 'content of f\n', '/g': 'gee' };

function lenientTar(d: string, mutate: (b: Buffer, t: MadeTar) => Buffer): string {
  const t = pyTar(d, 'in.tar', TWO);
  writeFileSync(t.path, mutate(read(t.path), t));
  return t.path;
}

const LENIENT: LenientCase[] = [
  {
    name: "a leading '/' is stripped",
    warning: 'stripped-leading-slash',
    says: /leading '\/'/,
    make: (d) =>
      pyTar(d, 'in.tar', [
        { name: '/etc', type: 'dir' },
        { name: '/etc/hosts', data: 'hosts\n' },
        { name: 'plain', data: 'p' },
      ]).path,
    files: { '/etc/hosts': 'hosts\n', '/plain': 'p' },
  },
  {
    name: 'a missing end-of-archive marker',
    warning: 'missing-end-marker',
    says: /end-of-archive marker/,
    make: (d) => lenientTar(d, (b, t) => b.subarray(0, t.eof)),
    files: TWO_FILES,
  },
  {
    name: 'a lone zero block at the end',
    warning: 'lone-zero-block',
    says: /single zero block/,
    make: (d) => lenientTar(d, (b, t) => b.subarray(0, t.eof + 512)),
    files: TWO_FILES,
  },
  {
    name: 'data after the end-of-archive marker (odd length)',
    warning: 'trailing-data',
    says: /after the end of the archive/,
    make: (d) => lenientTar(d, (b) => Buffer.concat([b, Buffer.from('trailing garbage, 37 bytes long....\n\n')])),
    files: TWO_FILES,
  },
  {
    name: 'data right after the two zero blocks',
    warning: 'trailing-data',
    says: /after the end of the archive/,
    make: (d) => lenientTar(d, (b, t) => Buffer.concat([b.subarray(0, t.eof + 1024), pseudoRandom(4096 + 3, 9)])),
    files: TWO_FILES,
  },
];

describe.skipIf(skipAll)('lenient readings succeed with a warning; the diffID still covers every byte', () => {
  const rows = LENIENT.flatMap((c) => (['path', 'pipe'] as Feed[]).map((feed) => ({ ...c, feed })));
  it.each(rows)('$name [$feed]', ({ warning, says, make, files, feed }) => {
    const d = box('lenient');
    const f = make(d);
    const m = join(d, 'm.erofs');
    const t = join(d, 't.tar');
    const r = index(f, feed, ['-o', m, ...(feed === 'pipe' ? ['--tar-out', t] : []), '--json', ...(haveFsverity ? ['--verity'] : [])]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/warning/);
    expect(r.stderr).toMatch(says);
    const j = JSON.parse(text(r)) as IndexJson;
    expect(j.warnings.map((w) => w.code)).toContain(warning);
    expect.soft(j.diffId, 'diffID = sha256sum of the whole file').toBe(sha256sum(f));
    if (haveFsverity) expect(j.verity, 'fs-verity of the whole file').toBe(fsverityDigest(f));
    expect(j.tarBytes).toBe(read(f).length);
    if (feed === 'pipe') expectSameBytes(t, f, '--tar-out keeps every byte');
    for (const [p, content] of Object.entries(files)) expect(catOf(m, p, [f]).toString(), p).toBe(content);
    expect(fsckProblems(m, f, haveFsck)).toBe('');
    // The appended form holds every input byte too and reads on its own.
    const a = join(d, 'a.erofs');
    ok(index(f, feed, ['-o', a, '--append']));
    expect(read(a).equals(Buffer.concat([read(m), read(f)])), 'appended = metadata + the whole input').toBe(true);
    for (const [p, content] of Object.entries(files)) expect(catOf(a, p).toString(), `${p} (appended)`).toBe(content);
    expect(fsckProblems(a, undefined, haveFsck)).toBe('');
  });

  it('a tar padded to its 10 KiB record by tarfile is not warned about', () => {
    const d = box('no-warning');
    const t = pyTar(d, 'in.tar', TWO);
    expect(t.size).toBeGreaterThan(t.eof + 1024);
    const r = kit(['index', t.path, '-o', join(d, 'm.erofs'), '--json']);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toBe('');
    expect(JSON.parse(text(r)).warnings).toEqual([]);
  });
});

// ---------------------------------------------------------------------------------------------
// Tar semantics, seen through ls -R --json, stat --json and cat of the produced image

interface Want {
  type?: string;
  mode?: string;
  nlink?: number;
  size?: number;
  mtime?: number;
  uid?: number;
  gid?: number;
  target?: string;
  content?: string;
  rdev?: { major: number; minor: number };
  /** Xattrs that must be present, name → value (latin1). */
  xattrs?: Record<string, string>;
  /** Xattr name prefixes that must be absent. */
  noXattrs?: string[];
}

interface SemanticsCase {
  name: string;
  members: MemberSpec[];
  format?: 'gnu' | 'pax' | 'ustar';
  args?: string[];
  /** Every path of the image (exactly these) and what each must look like. */
  tree: Record<string, Want>;
  sameInode?: string[][];
  distinctInodes?: string[][];
}

const dir = (extra: Want = {}): Want => ({ type: 'directory', ...extra });
const file = (content: string, extra: Want = {}): Want => ({ type: 'file', content, size: Buffer.byteLength(content), ...extra });

const SEMANTICS: SemanticsCase[] = [
  {
    name: 'a later file replaces an earlier one',
    members: [
      { name: 'a', data: 'first' },
      { name: 'a', data: 'second!', mode: 0o600 },
    ],
    tree: { '/': dir(), '/a': file('second!', { mode: '0600', nlink: 1 }) },
  },
  {
    name: 'a file replaced by a symlink',
    members: [
      { name: 'a', data: 'first' },
      { name: 'a', type: 'symlink', linkname: 'target/x' },
    ],
    tree: { '/': dir(), '/a': { type: 'symlink', target: 'target/x', size: 8 } },
  },
  {
    name: 'a symlink replaced by a directory, which then gets children',
    members: [
      { name: 'a', type: 'symlink', linkname: '/etc' },
      { name: 'a', type: 'dir', mode: 0o750 },
      { name: 'a/f', data: 'inside' },
    ],
    tree: { '/': dir(), '/a': dir({ mode: '0750', nlink: 2 }), '/a/f': file('inside') },
  },
  {
    name: 'a directory replaced by a file drops its children',
    members: [
      { name: 'd', type: 'dir' },
      { name: 'd/x', data: 'x' },
      { name: 'd/sub', type: 'dir' },
      { name: 'd/sub/y', data: 'y' },
      { name: 'keep', data: 'k' },
      { name: 'd', data: 'now a file' },
    ],
    tree: { '/': dir({ nlink: 2 }), '/d': file('now a file', { nlink: 1 }), '/keep': file('k') },
  },
  {
    name: 'a directory replaced by a symlink drops its children',
    members: [
      { name: 'd', type: 'dir' },
      { name: 'd/x', data: 'x' },
      { name: 'd', type: 'symlink', linkname: 'elsewhere' },
    ],
    tree: { '/': dir(), '/d': { type: 'symlink', target: 'elsewhere' } },
  },
  {
    name: 'a file replaced by a directory',
    members: [
      { name: 'd', data: 'a file first' },
      { name: 'd', type: 'dir' },
      { name: 'd/x', data: 'x' },
    ],
    tree: { '/': dir(), '/d': dir({ nlink: 2 }), '/d/x': file('x') },
  },
  {
    name: 'a repeated directory keeps its children and takes the new attributes',
    members: [
      { name: 'd', type: 'dir', mode: 0o755, mtime: 1000000000 },
      { name: 'd/x', data: 'x' },
      { name: 'd', type: 'dir', mode: 0o700, mtime: 1000000500, uid: 7, gid: 8 },
    ],
    tree: { '/': dir(), '/d': dir({ mode: '0700', mtime: 1000000500, uid: 7, gid: 8 }), '/d/x': file('x') },
  },
  {
    name: 'hard links to an earlier entry in other directories share the inode and count links',
    members: [
      { name: 'x', type: 'dir' },
      { name: 'x/f', data: 'shared data', mode: 0o640, uid: 3 },
      { name: 'y/g', type: 'hardlink', linkname: 'x/f' },
      { name: 'z/deeper/h', type: 'hardlink', linkname: './x/f' },
      { name: 'solo', data: 'alone' },
    ],
    tree: {
      '/': dir(),
      '/x': dir(),
      '/x/f': file('shared data', { nlink: 3, mode: '0640', uid: 3 }),
      '/y': dir(),
      '/y/g': file('shared data', { nlink: 3, mode: '0640', uid: 3 }),
      '/z': dir(),
      '/z/deeper': dir(),
      '/z/deeper/h': file('shared data', { nlink: 3 }),
      '/solo': file('alone', { nlink: 1 }),
    },
    sameInode: [['/x/f', '/y/g', '/z/deeper/h']],
    distinctInodes: [['/x/f', '/solo']],
  },
  {
    name: 'hard links to a symlink and to a device share the inode',
    members: [
      { name: 'l', type: 'symlink', linkname: 'somewhere' },
      { name: 'l2', type: 'hardlink', linkname: 'l' },
      { name: 'c', type: 'char', devmajor: 1, devminor: 3 },
      { name: 'dev/c2', type: 'hardlink', linkname: 'c' },
    ],
    tree: {
      '/': dir(),
      '/l': { type: 'symlink', target: 'somewhere', nlink: 2 },
      '/l2': { type: 'symlink', target: 'somewhere', nlink: 2 },
      '/c': { type: 'char-device', rdev: { major: 1, minor: 3 }, nlink: 2 },
      '/dev': dir(),
      '/dev/c2': { type: 'char-device', rdev: { major: 1, minor: 3 }, nlink: 2 },
    },
    sameInode: [
      ['/l', '/l2'],
      ['/c', '/dev/c2'],
    ],
  },
  {
    name: 'replacing the target of a hard link leaves the link with the old data',
    members: [
      { name: 'a', data: 'old' },
      { name: 'b', type: 'hardlink', linkname: 'a' },
      { name: 'a', data: 'new data' },
    ],
    tree: { '/': dir(), '/a': file('new data', { nlink: 1 }), '/b': file('old', { nlink: 1 }) },
    distinctInodes: [['/a', '/b']],
  },
  {
    name: 'replacing a hard link by a file leaves the target with one link',
    members: [
      { name: 'a', data: 'old' },
      { name: 'b', type: 'hardlink', linkname: 'a' },
      { name: 'b', data: 'mine' },
    ],
    tree: { '/': dir(), '/a': file('old', { nlink: 1 }), '/b': file('mine', { nlink: 1 }) },
    distinctInodes: [['/a', '/b']],
  },
  {
    name: 'a hard link replacing a directory drops its children and the link count is right',
    members: [
      { name: 'f', data: 'file' },
      { name: 'd', type: 'dir' },
      { name: 'd/inner', type: 'hardlink', linkname: 'f' },
      { name: 'd', type: 'hardlink', linkname: 'f' },
    ],
    tree: { '/': dir({ nlink: 2 }), '/f': file('file', { nlink: 2 }), '/d': file('file', { nlink: 2 }) },
    sameInode: [['/f', '/d']],
  },
  {
    name: 'directories with and without a trailing slash',
    members: [
      { name: 'with/', type: 'dir', rawName: true, mode: 0o711 },
      { name: 'without', type: 'dir', rawName: true, mode: 0o701 },
      { name: 'with/f', data: '1' },
      { name: 'without/g', data: '2' },
      { name: 'twice/', type: 'dir', rawName: true, mode: 0o755 },
      { name: 'twice', type: 'dir', rawName: true, mode: 0o700 },
    ],
    format: 'ustar',
    tree: {
      '/': dir({ nlink: 5 }),
      '/with': dir({ mode: '0711', nlink: 2 }),
      '/with/f': file('1'),
      '/without': dir({ mode: '0701', nlink: 2 }),
      '/without/g': file('2'),
      '/twice': dir({ mode: '0700' }),
    },
  },
  {
    name: "'./' prefixes, and a './' root entry sets the root's mode and mtime",
    members: [
      { name: './', type: 'dir', rawName: true, mode: 0o700, mtime: 1234567890, uid: 5, gid: 6 },
      { name: './a', data: 'a' },
      { name: './b/', type: 'dir', rawName: true, mtime: 1200000000 },
      { name: './b/./c', data: 'c' },
      { name: './b//d', data: 'd' },
    ],
    tree: {
      '/': dir({ mode: '0700', mtime: 1234567890, uid: 5, gid: 6 }),
      '/a': file('a'),
      '/b': dir({ mtime: 1200000000 }),
      '/b/c': file('c'),
      '/b/d': file('d'),
    },
  },
  {
    name: "a '.' root entry (no slash) sets the root's mode and mtime",
    members: [
      { name: '.', type: 'dir', rawName: true, mode: 0o750, mtime: 1111111111 },
      { name: 'a', data: 'a' },
    ],
    tree: { '/': dir({ mode: '0750', mtime: 1111111111 }), '/a': file('a') },
  },
  {
    name: 'missing parents are created as 0755 root-owned directories',
    members: [{ name: 'p/q/r/f', data: 'deep', mtime: 1500000000, uid: 9, gid: 9 }],
    tree: {
      '/': dir({ nlink: 3 }),
      '/p': dir({ mode: '0755', uid: 0, gid: 0, nlink: 3 }),
      '/p/q': dir({ mode: '0755', uid: 0, gid: 0, nlink: 3 }),
      '/p/q/r': dir({ mode: '0755', uid: 0, gid: 0, nlink: 2 }),
      '/p/q/r/f': file('deep', { uid: 9, gid: 9, mtime: 1500000000 }),
    },
  },
  {
    name: 'a parent listed after its children takes its attributes and keeps them',
    members: [
      { name: 'p/q/f', data: 'f' },
      { name: 'p', type: 'dir', mode: 0o700, mtime: 1300000000 },
    ],
    tree: { '/': dir(), '/p': dir({ mode: '0700', mtime: 1300000000, nlink: 3 }), '/p/q': dir({ mode: '0755' }), '/p/q/f': file('f') },
  },
  {
    name: '--aufs: .wh.NAME becomes a 0:0 character device named NAME',
    args: ['--aufs'],
    members: [
      { name: 'd', type: 'dir' },
      { name: 'd/.wh.gone', data: '' },
      { name: 'd/keep', data: 'k' },
      { name: '.wh.top', data: '' },
    ],
    tree: {
      '/': dir(),
      '/d': dir({ noXattrs: ['trusted.overlay.opaque'] }),
      '/d/gone': { type: 'char-device', rdev: { major: 0, minor: 0 } },
      '/d/keep': file('k'),
      '/top': { type: 'char-device', rdev: { major: 0, minor: 0 } },
    },
  },
  {
    name: '--aufs: a whiteout replaces an earlier entry of the same layer',
    args: ['--aufs'],
    members: [
      { name: 'd', type: 'dir' },
      { name: 'd/x', type: 'dir' },
      { name: 'd/x/child', data: 'c' },
      { name: 'd/.wh.x', data: '' },
    ],
    tree: { '/': dir(), '/d': dir({ nlink: 2 }), '/d/x': { type: 'char-device', rdev: { major: 0, minor: 0 } } },
  },
  {
    name: '--aufs: .wh..wh..opq makes its directory opaque (trusted.overlay.opaque=y)',
    args: ['--aufs'],
    members: [
      { name: 'd', type: 'dir' },
      { name: 'd/.wh..wh..opq', data: '' },
      { name: 'd/x', data: 'x' },
      { name: 'e', type: 'dir' },
      { name: 'e/y', data: 'y' },
    ],
    tree: {
      '/': dir({ noXattrs: ['trusted.overlay.opaque'] }),
      '/d': dir({ xattrs: { 'trusted.overlay.opaque': 'y' } }),
      '/d/x': file('x'),
      '/e': dir({ noXattrs: ['trusted.overlay.opaque'] }),
      '/e/y': file('y'),
    },
  },
  {
    name: '--aufs: an opaque marker before its directory entry survives the entry',
    args: ['--aufs'],
    members: [
      { name: 'd/.wh..wh..opq', data: '' },
      { name: 'd', type: 'dir', mode: 0o711 },
    ],
    tree: { '/': dir(), '/d': dir({ mode: '0711', xattrs: { 'trusted.overlay.opaque': 'y' } }) },
  },
  {
    name: '--aufs: .wh..wh..opq at the top makes the root opaque',
    args: ['--aufs'],
    members: [
      { name: '.wh..wh..opq', data: '' },
      { name: 'f', data: 'f' },
    ],
    tree: { '/': dir({ xattrs: { 'trusted.overlay.opaque': 'y' } }), '/f': file('f') },
  },
  {
    name: 'without --aufs, .wh. names are ordinary files',
    members: [
      { name: 'd', type: 'dir' },
      { name: 'd/.wh.gone', data: 'w' },
      { name: 'd/.wh..wh..opq', data: '' },
    ],
    tree: {
      '/': dir(),
      '/d': dir({ noXattrs: ['trusted.overlay.'] }),
      '/d/.wh.gone': file('w'),
      '/d/.wh..wh..opq': file(''),
    },
  },
  {
    name: 'pax paths, long names and xattrs are applied',
    format: 'pax',
    members: [
      { name: 'short', data: 'long one', pax: { path: `${'n'.repeat(150)}/${'m'.repeat(120)}` } },
      { name: 'x', data: 'attr', pax: { 'SCHILY.xattr.user.comment': 'hello', 'SCHILY.xattr.trusted.overlay.opaque': 'y' } },
    ],
    tree: {
      '/': dir(),
      [`/${'n'.repeat(150)}`]: dir(),
      [`/${'n'.repeat(150)}/${'m'.repeat(120)}`]: file('long one'),
      '/x': file('attr', { xattrs: { 'user.comment': 'hello', 'trusted.overlay.opaque': 'y' } }),
    },
  },
];

describe.skipIf(skipAll)('tar semantics in the produced image (ls -R --json, stat --json, cat with --device)', () => {
  it.each(SEMANTICS)('$name', ({ members, format, args = [], tree, sameInode = [], distinctInodes = [] }) => {
    const d = box('sem');
    const t = pyTar(d, 'layer.tar', members, format ?? 'gnu');
    const m = join(d, 'm.erofs');
    const j = json(kit(['index', t.path, '-o', m, '--json', ...args]));
    expect(j.entries).toBe(members.length);
    const ls = lsTree(m, [t.path]);
    const byPath = new Map<string, LsEntry>(ls.map((e) => [e.path, e]));
    expect([...byPath.keys()].sort()).toEqual(Object.keys(tree).sort());
    expect(j.inodes).toBe(new Set(ls.map((e) => e.nid)).size);
    const problems: string[] = [];
    for (const [p, want] of Object.entries(tree)) {
      const got = byPath.get(p)!;
      for (const k of ['type', 'mode', 'nlink', 'size', 'mtime', 'uid', 'gid', 'target'] as const) {
        if (want[k] !== undefined && got[k] !== want[k]) problems.push(`${p}: ${k}: expected ${JSON.stringify(want[k])}, got ${JSON.stringify(got[k])}`);
      }
      if (want.rdev && JSON.stringify(got.rdev) !== JSON.stringify(want.rdev)) problems.push(`${p}: rdev: expected ${JSON.stringify(want.rdev)}, got ${JSON.stringify(got.rdev)}`);
      if (want.content !== undefined) {
        const c = catOf(m, p, [t.path]).toString('latin1');
        if (c !== want.content) problems.push(`${p}: content: expected ${JSON.stringify(want.content)}, got ${JSON.stringify(c)}`);
      }
      if (want.xattrs || want.noXattrs) {
        const xs = new Map(statOf(m, p, [t.path]).xattrs.map((x) => [x.name, Buffer.from(x.value, 'hex').toString('latin1')]));
        for (const [name, value] of Object.entries(want.xattrs ?? {})) {
          if (xs.get(name) !== value) problems.push(`${p}: xattr ${name}: expected ${JSON.stringify(value)}, got ${JSON.stringify(xs.get(name))}`);
        }
        for (const prefix of want.noXattrs ?? []) {
          for (const name of xs.keys()) if (name.startsWith(prefix)) problems.push(`${p}: unexpected xattr ${name}`);
        }
      }
    }
    for (const group of sameInode) {
      const nids = group.map((p) => byPath.get(p)!.nid);
      if (new Set(nids).size !== 1) problems.push(`${group.join(', ')} should share one inode, nids ${nids.join(', ')}`);
    }
    for (const group of distinctInodes) {
      const nids = group.map((p) => byPath.get(p)!.nid);
      if (new Set(nids).size !== nids.length) problems.push(`${group.join(', ')} should be distinct inodes, nids ${nids.join(', ')}`);
    }
    expect(problems).toEqual([]);
    expect(fsckProblems(m, t.path, haveFsck)).toBe('');
    // The same layer through a pipe gives the same image.
    const m2 = join(d, 'm2.erofs');
    ok(kitPiped(t.path, ['index', '-', '--tar-out', join(d, 't2.tar'), '-o', m2, ...args]));
    expectSameBytes(m2, m, 'the image from stdin');
  });
});
