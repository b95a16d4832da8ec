/**
 * Kernel parity of `erofs-kit index` (tar index). A corpus of layer tars made by real tools
 * (GNU tar, bsdtar, Python's tarfile, busybox tar, git archive; see corpus/make-corpus.py) is
 * built at test time. For each tar:
 *   - `erofs-kit index` writes the metadata image (tar as extra device) and the --append form;
 *     `fsck.erofs18 --device=TAR META` and `fsck.erofs18 APPENDED` must accept them;
 *   - `mkfs.erofs18 --tar=i` (erofs-utils 1.8.6) indexes the same tar (same --aufs choice);
 *   - the kernel mounts all three and python walks them (support/walk_tree.py);
 *   - the trees are compared with support/diff.ts: device form = appended form; erofs-kit =
 *     the tar's own model (support/tar_model.py, Python's tarfile plus layer semantics);
 *     mkfs.erofs = the tar model except for the deviations listed in EXPECTED below (each one is
 *     checked: an unlisted difference fails, and so does a listed one that no longer occurs);
 *     erofs-kit = mkfs.erofs except where mkfs deviates from the tar; `erofs-kit build` (a full
 *     image) mounts to the tar index's tree, and erofs-kit's reader shows what the kernel
 *     shows of it (fsck.erofs18 accepts it). For tars that hold
 *     everything about their source tree, the tar model must equal the source tree as the
 *     filesystem reports it (a self-check of the model and the corpus).
 *
 * Judges (root, erofs, losetup, python3, mkfs.erofs18, fsck.erofs18) missing → skipped with
 * the reason printed; under CI → failure. A tar whose tool is missing is skipped likewise
 * (under CI a failure when the tool is a Debian package or the node-tar dev dependency).
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, it, type TestContext } from 'vitest';
import { cliMissing, runCli } from './support/cli.js';
import { assertSameTree, diffTrees, STRICT, type CompareOptions } from './support/diff.js';
import { allOf, inCI, kernelJudges, MKFS, skipWithoutJudges } from './support/judges.js';
import { ErofsImage } from '@erofs-kit/core';
import { FileSource } from '@erofs-kit/core/node';
import { diskModel, readerModel, type TreeModel } from './support/model.js';
import { releaseAll, withMount, type MountSpec } from './support/mount.js';
import {
  buildCorpus,
  diffPoint,
  FSCK,
  hasFsck,
  plannedTars,
  tarModel,
  type Corpus,
  type CorpusTar,
  type DiffPoint,
  type ImplicitDir,
  type TarModel,
} from './support/tar-corpus.js';

const TIMEOUT = 15 * 60_000;

/** Two filesystems' views of the same tar: everything but inode numbers. */
const TREE_VS_TREE: CompareOptions = { ino: false, dirNlink: true, owner: true, symlinkPerms: true };

/* ------------------------------------------------------------------ expected mkfs deviations */

interface Deviation {
  /**
   * Path key (exact) or pattern; `{ implicit }` = the directories the tar model had to make up
   * (the root without an entry, parents without entries); '' for tree-wide lines (hard links).
   */
  path: string | RegExp | { implicit: 'root' | 'parent' };
  /** diffPoint field: 'mode', 'mtime (ns)', 'xattr NAME', 'presence', 'nlink', ... */
  field: string | RegExp;
  /** `bug`: mkfs.erofs is wrong about the tar; `choice`: the tar says nothing, we choose. */
  kind: 'bug' | 'choice';
  reason: string;
  /** Only when the two values (the tar's, mkfs's) have this relation (for trees whose paths vary). */
  values?: (tar: string, mkfs: string) => boolean;
}

/** The two values of a diff line `PATH: FIELD: tar X, mkfs Y`. */
function lineValues(line: string): [string, string] | undefined {
  const m = /: \S+ (\S+), \S+ (\S+)$/.exec(line);
  return m ? [m[1]!, m[2]!] : undefined;
}

interface MkfsExpectation {
  /** mkfs.erofs refuses the tar: its message must match. */
  refuses?: { message: RegExp; reason: string };
  deviations?: Deviation[];
}

const WHY = {
  paxTime:
    'mkfs.erofs 1.8.6 reads the digits after the point of a pax time as a count of nanoseconds (".5" → 5 ns, ".1234567" → 1234567 ns); only 9-digit fractions come out right',
  paxNegTime:
    'mkfs.erofs 1.8.6 splits a negative pax time at the point and keeps the sign on the seconds only ("-1.25" → -1 s + 25 ns instead of -2 s + 750000000 ns)',
  oldSparse: 'mkfs.erofs 1.8.6 drops GNU sparse members (type S, gnu/oldgnu format) from the tree',
  paxSparse00: 'mkfs.erofs 1.8.6 ignores GNU.sparse.size/offset/numbytes (pax sparse 0.0): the file is its stored segments, packed together',
  paxSparseName:
    'mkfs.erofs 1.8.6 ignores GNU.sparse.name/realsize (pax sparse 0.1 and 1.0): the member appears under its placeholder header name (DIR/GNUSparseFile.N/NAME) with the stored bytes, and the real path is missing',
  schilyAcl: 'mkfs.erofs 1.8.6 ignores SCHILY.acl.access/default (POSIX ACLs as text, as GNU tar --acls and bsdtar write them)',
  globalFirst: 'mkfs.erofs 1.8.6 does not apply a pax global header (g) to the member right after it (later members get it)',
  libarchiveXattr: 'mkfs.erofs 1.8.6 decodes LIBARCHIVE.xattr values (base64) wrongly: same length, different bytes',
  negBase256: 'mkfs.erofs 1.8.6 refuses negative base-256 numbers (GNU format mtimes before 1970)',
  v7: 'mkfs.erofs 1.8.6 only accepts ustar/GNU magic: v7 archives are refused',
  noEof: 'mkfs.erofs 1.8.6 requires the end-of-archive marker',
  dumpdir: 'mkfs.erofs 1.8.6 refuses GNU incremental archives (D dumpdir entries): "[Error 2] No such file or directory"',
  libarchiveXattrRefused: 'mkfs.erofs 1.8.6 refuses some LIBARCHIVE.xattr values (EUCLEAN) and mis-decodes others',
  implicitRoot:
    'the tar has no entry for the root. erofs-kit: 0755, uid 0, gid 0, mtime 0; mkfs.erofs 1.8.6: 0777 and the build time (the wall clock), uid/gid of the user running it',
  implicitParent:
    'a parent directory without its own entry. erofs-kit: 0755, uid 0, gid 0, the mtime of the entry that needed it; mkfs.erofs 1.8.6: 0755 plus the group/other write bits of its parent, the parent\'s uid, gid and mtime (so the wall clock below an implicit root)',
};

const TIME_FIELDS = /^(mode|uid|gid|mtime \(s\)|mtime \(ns\))$/;
const implicitRoot: Deviation = { path: { implicit: 'root' }, field: TIME_FIELDS, kind: 'choice', reason: WHY.implicitRoot };
const implicitParents: Deviation = { path: { implicit: 'parent' }, field: TIME_FIELDS, kind: 'choice', reason: WHY.implicitParent };
const paxTime = (...paths: (string | RegExp)[]): Deviation[] => paths.map((path) => ({ path, field: 'mtime (ns)', kind: 'bug', reason: WHY.paxTime }));
/** paxTime for any path, recognised by its values: mkfs's nanoseconds are the tar's with the fraction's trailing zeros dropped. */
const paxTimeByValue: Deviation = {
  path: /^\//,
  field: 'mtime (ns)',
  kind: 'bug',
  reason: WHY.paxTime,
  values: (tar, mkfs) => Number(tar.padStart(9, '0').replace(/0+$/, '') || '0') === Number(mkfs),
};
const paxNegTime = (...paths: string[]): Deviation[] =>
  paths.map((path) => ({ path, field: /^mtime \((s|ns)\)$/, kind: 'bug', reason: WHY.paxNegTime }));
const oldSparse = (...paths: string[]): Deviation[] => paths.map((path) => ({ path, field: 'presence', kind: 'bug', reason: WHY.oldSparse }));
const paxSparse00 = (...paths: string[]): Deviation[] =>
  paths.map((path) => ({ path, field: /^(size|content sha256)$/, kind: 'bug', reason: WHY.paxSparse00 }));
const paxSparseName = (...paths: string[]): Deviation[] => [
  ...paths.map((path): Deviation => ({ path, field: 'presence', kind: 'bug', reason: WHY.paxSparseName })),
  { path: /^\/sparse\/GNUSparseFile\.\d+(\/.*)?$/, field: 'presence', kind: 'bug', reason: WHY.paxSparseName },
  { path: '/sparse', field: 'nlink', kind: 'bug', reason: WHY.paxSparseName + ' (the placeholder directory counts as a subdirectory)' },
];
const schilyAcl: Deviation[] = [
  { path: '/acl/file', field: 'xattr system.posix_acl_access', kind: 'bug', reason: WHY.schilyAcl },
  { path: '/acl/dir', field: 'xattr system.posix_acl_default', kind: 'bug', reason: WHY.schilyAcl },
];
const FULL_SPARSE = ['/sparse/holes', '/sparse/all-hole'];
const SPARSE_TREE = ['/sparse/holes', '/sparse/all-hole', '/sparse/head-only', '/sparse/over-4g'];

/** What mkfs.erofs 1.8.6 gets wrong (or decides otherwise) per tar; absent = no deviation. */
const EXPECTED: Record<string, MkfsExpectation> = {
  'gnu-gnu': { deviations: oldSparse(...FULL_SPARSE) },
  'gnu-oldgnu': { deviations: oldSparse(...FULL_SPARSE) },
  'gnu-pax': { deviations: [...paxTime('/', '/links/dir'), ...paxSparseName(...FULL_SPARSE)] },
  'gnu-pax-gzip': { deviations: [...paxTime('/', '/links/dir'), ...paxSparseName(...FULL_SPARSE)] },
  'gnu-pax-sparse-0.0': { deviations: [...paxTime('/'), ...paxSparse00(...SPARSE_TREE)] },
  'gnu-pax-sparse-0.1': { deviations: [...paxTime('/'), ...paxSparseName(...SPARSE_TREE)] },
  'gnu-pax-sparse-1.0': { deviations: [...paxTime('/'), ...paxSparseName(...SPARSE_TREE)] },
  'gnu-gnu-times': { refuses: { message: /invalid tar @/, reason: WHY.negBase256 } },
  'gnu-pax-times': { deviations: [...paxTime('/'), ...paxNegTime('/times', '/times/link-neg', '/times/neg-subsec')] },
  'gnu-v7': { refuses: { message: /invalid tar magic/, reason: WHY.v7 } },
  'gnu-no-eof': { refuses: { message: /failed to read header block/, reason: WHY.noEof } },
  'gnu-implicit-parents': { deviations: [implicitRoot, implicitParents] },
  'gnu-incremental': { refuses: { message: /No such file or directory/, reason: WHY.dumpdir } },
  'gnu-absolute-names': { deviations: [implicitRoot, implicitParents, ...paxTime(/\/links\/dir$/)] },
  'gnu-append-layer': { deviations: paxTime('/links/dir') },
  'bsdtar-pax': { deviations: [...paxTime('/', '/links/dir'), ...paxSparseName(...FULL_SPARSE), ...schilyAcl] },
  'bsdtar-paxr': { deviations: [...paxTime('/'), ...paxSparseName(...FULL_SPARSE), ...schilyAcl] },
  'bsdtar-pax-times': { deviations: [...paxTime('/'), ...paxNegTime('/times', '/times/link-neg', '/times/neg-subsec')] },
  'bsdtar-v7': { refuses: { message: /invalid tar magic/, reason: WHY.v7 } },
  'py-gnu': { deviations: [implicitRoot] },
  'py-pax': { deviations: [implicitRoot, ...paxTime('/times', '/times/subsec', '/links/dir')] },
  'py-pax-global': {
    deviations: [
      implicitRoot,
      ...paxTime('/times', '/times/subsec', '/links/dir'),
      { path: '/dirs', field: /^(uid|gid)$/, kind: 'bug', reason: WHY.globalFirst },
    ],
  },
  'py-gnu-times': { refuses: { message: /invalid tar @/, reason: WHY.negBase256 } },
  'py-pax-times': { deviations: [implicitRoot, ...paxTime('/times/subsec'), ...paxNegTime('/times', '/times/link-neg', '/times/neg-subsec')] },
  'py-pax-libarchive-xattr': { refuses: { message: /Structure needs cleaning/, reason: WHY.libarchiveXattrRefused } },
  'py-pax-libarchive-xattr-short': {
    deviations: [implicitRoot, { path: /^\/x(\/file|\/empty)?$/, field: /^xattr (user\.two|user\.three|trusted\.long)$/, kind: 'bug', reason: WHY.libarchiveXattr }],
  },
  'py-ustar': { deviations: [implicitRoot] },
  'git-archive': { deviations: [implicitRoot] },
  'oci-python-whiteouts': { deviations: [implicitRoot, implicitParents] },
  // umoci writes a changed symlink without its parent directory's entry
  'umoci-diff': { deviations: [implicitParents] },
  // GNU tar writes pax mtimes with the fraction's trailing zeros left out; which files have
  // them depends on the debootstrap run
  'debootstrap-rootfs-gzip': { deviations: [paxTimeByValue] },
};

/* ------------------------------------------------------------------ per-tar state */

type Result<T> = { ok: true; value: T } | { ok: false; error: string };

interface Built {
  tar: CorpusTar;
  /** The uncompressed tar erofs-kit's image uses as device 1. */
  device: string;
  kitMeta: string;
  kitAppended: string;
  kitIndex: Result<{ warnings: string[] }>;
  fsck: Result<string>;
  mkfs: Result<{ meta: string; device: string }>;
  model: Result<TarModel>;
  kitTree: Result<TreeModel>;
  appendedTree: Result<TreeModel>;
  mkfsTree: Result<TreeModel>;
  /** `erofs-kit build` of the same tar (a full image, data copied in), checked by fsck.erofs. */
  full: Result<string>;
  fullTree: Result<TreeModel>;
  /** The full image as erofs-kit's own reader sees it. */
  fullReader: Result<TreeModel>;
}

function attempt<T>(fn: () => T): Result<T> {
  try {
    return { ok: true, value: fn() };
  } catch (e) {
    return { ok: false, error: (e as Error).message };
  }
}

async function attemptAsync<T>(fn: () => Promise<T>): Promise<Result<T>> {
  try {
    return { ok: true, value: await fn() };
  } catch (e) {
    return { ok: false, error: (e as Error).message };
  }
}

function need<T>(r: Result<T>, what: string): T {
  if (!r.ok) throw new Error(`${what}: ${r.error}`);
  return r.value;
}

/** The environment of the erofs-utils tools: SOURCE_DATE_EPOCH would make mkfs clamp mtimes. */
const TOOL_ENV = Object.fromEntries(Object.entries(process.env).filter(([k]) => k !== 'SOURCE_DATE_EPOCH'));

function exec(cmd: string, args: string[]): { status: number | null; output: string } {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 600_000, maxBuffer: 1 << 26, env: TOOL_ENV });
  if (r.error) throw new Error(`${cmd} ${args.join(' ')}: ${r.error.message}`);
  return { status: r.status, output: (r.stdout + r.stderr).trim() };
}

function kitIndex(args: string[]): { warnings: string[] } {
  const missing = cliMissing();
  if (missing) throw new Error(missing);
  const r = runCli(['index', ...args, '--json']);
  if (r.status !== 0) throw new Error(`erofs-kit index ${args.join(' ')} exited ${r.status}:\n${(r.stderr + r.stdout).trim().slice(0, 4000)}`);
  const doc = JSON.parse(r.stdout) as { warnings: { path?: string; message: string }[] };
  return { warnings: doc.warnings.map((w) => `${w.path ? w.path + ': ' : ''}${w.message}`) };
}

async function mountedTree(spec: MountSpec, label: string): Promise<TreeModel> {
  return withMount(spec, (dir) => diskModel(dir, label));
}

async function build(tar: CorpusTar, workRoot: string): Promise<Built> {
  const dir = join(workRoot, tar.name);
  mkdirSync(dir, { recursive: true });
  const aufs = tar.aufs ? ['--aufs'] : [];
  const kitMeta = join(dir, 'kit.erofs');
  const kitAppended = join(dir, 'kit-appended.erofs');
  const device = tar.gzip ? join(dir, 'kit.tar') : tar.file;

  const kitIndexResult = attempt(() => {
    const a = kitIndex([tar.file, '-o', kitMeta, ...(tar.gzip ? ['--tar-out', device] : []), ...aufs]);
    const b = kitIndex([tar.file, '-o', kitAppended, '--append', ...aufs]);
    if (tar.gzip && !gunzipSync(readFileSync(tar.file)).equals(readFileSync(device))) {
      throw new Error(`--tar-out ${device} is not the decompressed ${tar.file}`);
    }
    return { warnings: [...new Set([...a.warnings, ...b.warnings])] };
  });
  // fsck.erofs checks the device form with the tar as its device, and the appended form alone
  // (its --extract cannot read the appended form's data, so only the checks run).
  const fsck: Result<string> = kitIndexResult.ok
    ? attempt(() => {
        const out: string[] = [];
        for (const args of [[`--device=${device}`, kitMeta], [kitAppended]]) {
          const r = exec(FSCK, args);
          if (r.status !== 0) throw new Error(`${FSCK} ${args.join(' ')} exited ${r.status}:\n${r.output.slice(0, 4000)}`);
          out.push(r.output);
        }
        return out.join('\n');
      })
    : { ok: false, error: 'no image (erofs-kit index failed)' };

  const mkfsMeta = join(dir, 'mkfs.erofs');
  const mkfsDevice = tar.gzip ? join(dir, 'mkfs.tar') : tar.file;
  const mkfs = attempt(() => {
    const r = exec(MKFS, ['--quiet', '--tar=i', ...aufs, ...(tar.gzip ? [`--ungzip=${mkfsDevice}`] : []), mkfsMeta, tar.file]);
    if (r.status !== 0) throw new Error(`${MKFS} exited ${r.status}: ${r.output}`);
    return { meta: mkfsMeta, device: mkfsDevice };
  });

  const model = attempt(() => tarModel(tar));
  const kitTree = kitIndexResult.ok
    ? await attemptAsync(() => mountedTree({ image: kitMeta, devices: [device] }, 'erofs-kit'))
    : ({ ok: false, error: 'no image' } as const);
  const appendedTree = kitIndexResult.ok
    ? await attemptAsync(() => mountedTree({ image: kitAppended, devices: [] }, 'erofs-kit --append'))
    : ({ ok: false, error: 'no image' } as const);
  const mkfsTree = mkfs.ok
    ? await attemptAsync(() => mountedTree({ image: mkfs.value.meta, devices: [mkfs.value.device] }, 'mkfs'))
    : ({ ok: false, error: 'no image' } as const);
  // The full image of the same tar (issue: full images): built, checked by fsck.erofs, mounted, and read by erofs-kit.
  const kitFull = join(dir, 'kit-full.erofs');
  const full = attempt(() => {
    const r = runCli(['build', tar.file, '-o', kitFull, '--quiet', ...aufs]);
    if (r.status !== 0) throw new Error(`erofs-kit build exited ${r.status}:\n${(r.stderr + r.stdout).trim().slice(0, 4000)}`);
    const f = exec(FSCK, [kitFull]);
    if (f.status !== 0) throw new Error(`${FSCK} ${kitFull} exited ${f.status}:\n${f.output.slice(0, 4000)}`);
    return kitFull;
  });
  const fullTree = full.ok ? await attemptAsync(() => mountedTree({ image: kitFull, devices: [] }, 'kernel (erofs-kit build)')) : ({ ok: false, error: `no image: ${full.error}` } as const);
  const fullReader = full.ok
    ? await attemptAsync(async () => {
        const src = new FileSource(kitFull);
        try {
          return await readerModel(await ErofsImage.open(src), 'reader');
        } finally {
          await src.close();
        }
      })
    : ({ ok: false, error: `no image: ${full.error}` } as const);
  return { tar, device, kitMeta, kitAppended, kitIndex: kitIndexResult, fsck, mkfs, model, kitTree, appendedTree, mkfsTree, full, fullTree, fullReader };
}

/* ------------------------------------------------------------------ deviation checking */

function matches(p: string | RegExp, s: string): boolean {
  return typeof p === 'string' ? p === s : p.test(s);
}

function pathMatches(p: Deviation['path'], path: string, implicit: ImplicitDir[]): boolean {
  if (typeof p === 'string' || p instanceof RegExp) return matches(p, path);
  return implicit.some((i) => i.kind === p.implicit && i.path === path);
}

function showPath(p: Deviation['path']): string {
  return typeof p === 'string' || p instanceof RegExp ? String(p) : `(implicit ${p.implicit})`;
}

interface MkfsCheck {
  /** Lines of mkfs vs the tar model that a listed deviation explains. */
  explained: { point: DiffPoint; deviation: Deviation }[];
  unexplained: DiffPoint[];
  /** Listed deviations that no longer occur. */
  stale: Deviation[];
}

function checkMkfs(model: TarModel, mkfs: TreeModel, expected: Deviation[]): MkfsCheck {
  const points = diffTrees(model.tree, mkfs, TREE_VS_TREE).map(diffPoint);
  const used = new Set<Deviation>();
  const explained: MkfsCheck['explained'] = [];
  const unexplained: DiffPoint[] = [];
  for (const point of points) {
    const d = expected.find((x) => {
      if (!pathMatches(x.path, point.path, model.implicit) || !matches(x.field, point.field)) return false;
      if (!x.values) return true;
      const v = lineValues(point.line);
      return v !== undefined && x.values(v[0], v[1]);
    });
    if (d) {
      used.add(d);
      explained.push({ point, deviation: d });
    } else unexplained.push(point);
  }
  return { explained, unexplained, stale: expected.filter((d) => !used.has(d)) };
}

/* ------------------------------------------------------------------ summary */

const summary = new Map<string, Map<string, string>>();
function record(tar: string, test: string, outcome: string): void {
  let m = summary.get(tar);
  if (!m) summary.set(tar, (m = new Map()));
  m.set(test, outcome);
}

/** Runs a test body and records pass/fail (or skip) for the summary printed at the end. */
async function tracked(tar: string, test: string, fn: () => void | Promise<void>): Promise<void> {
  try {
    await fn();
    record(tar, test, 'pass');
  } catch (e) {
    const err = e as Error & { code?: string; note?: string };
    if (err.code === 'VITEST_PENDING') record(tar, test, `skip (${err.note ?? ''})`);
    else record(tar, test, `FAIL: ${err.message.split('\n').slice(0, 4).join(' | ')}`);
    throw e;
  }
}

/* ------------------------------------------------------------------ the tests */

const judges = allOf(kernelJudges, hasFsck);
const skip = skipWithoutJudges('tar index kernel parity', judges);
const planned = skip ? [] : plannedTars();

afterAll(() => {
  const problems = releaseAll();
  if (summary.size > 0) {
    const lines = ['tar index kernel parity: summary'];
    for (const [tar, tests] of summary) {
      lines.push(`  ${tar}`);
      for (const [t, o] of tests) lines.push(`    ${t}: ${o}`);
    }
    console.log(lines.join('\n'));
  }
  if (problems.length > 0) throw new Error(`leftover mounts could not be cleaned up: ${problems.join('; ')}`);
});

describe.skipIf(skip)('tar index kernel parity', () => {
  if (planned.length === 0) {
    it('corpus plan', () => {
      throw new Error('python3 test/corpus/make-corpus.py --list printed no tars');
    });
    return;
  }
  it('the table of mkfs.erofs deviations names only tars of the corpus', () => {
    const names = new Set(planned.map((p) => p.name));
    const unknown = Object.keys(EXPECTED).filter((n) => !names.has(n));
    if (unknown.length > 0) throw new Error(`EXPECTED lists tars the corpus does not plan: ${unknown.join(', ')}`);
  });
  let corpus: Corpus | undefined;
  let corpusError: Error | undefined;
  let work = '';
  beforeAll(() => {
    work = mkdtempSync(join(tmpdir(), 'erofs-kit-tarcorpus-'));
    try {
      corpus = buildCorpus(join(work, 'corpus'));
      for (const s of corpus.skipped.values()) console.warn(`SKIPPED tar ${s.name}: ${s.reason}`);
    } catch (e) {
      corpusError = e as Error;
    }
  }, TIMEOUT);
  afterAll(() => {
    if (work) rmSync(work, { recursive: true, force: true });
  });

  describe.each(planned)('$name', (plan) => {
    let built: Built | undefined;
    let skipReason: string | undefined;
    let setupError: Error | undefined;
    beforeAll(async () => {
      if (corpusError) return;
      const c = corpus!;
      const s = c.skipped.get(plan.name);
      if (s) {
        skipReason = s.reason;
        if (inCI() && s.installable) setupError = new Error(`${plan.name}: ${s.reason} (required under CI)`);
        return;
      }
      const tar = c.tars.get(plan.name);
      if (!tar) {
        setupError = new Error(`${plan.name}: the corpus script neither built nor skipped it`);
        return;
      }
      try {
        built = await build(tar, join(work, 'out'));
      } catch (e) {
        setupError = e as Error;
      }
    }, TIMEOUT);

    const get = (ctx: TestContext): Built => {
      if (corpusError) throw new Error(`building the corpus failed: ${corpusError.message}`);
      if (setupError) throw setupError;
      if (skipReason !== undefined) ctx.skip(`${plan.name}: ${skipReason}`);
      if (!built) throw new Error(`${plan.name}: not built`);
      return built;
    };

    if (plan.mirrors) {
      it('the tar model is the source tree (harness self-check)', { timeout: TIMEOUT }, (ctx) =>
        tracked(plan.name, 'tar model = source tree', () => {
          const b = get(ctx);
          const model = need(b.model, `${plan.name}: tar model`);
          assertSameTree(`${plan.name}: source tree vs tar model`, diskModel(b.tar.source, 'source'), model.tree, TREE_VS_TREE);
        }));
    }

    it('erofs-kit index writes images that fsck.erofs accepts', { timeout: TIMEOUT }, (ctx) =>
      tracked(plan.name, 'index + fsck', () => {
        const b = get(ctx);
        const { warnings } = need(b.kitIndex, `${plan.name}: erofs-kit index`);
        if (warnings.length > 0) record(plan.name, 'erofs-kit warnings', warnings.slice(0, 5).join(' | '));
        need(b.fsck, `${plan.name}: fsck.erofs`);
      }));

    it('the device form and the --append form mount to the same tree', { timeout: TIMEOUT }, (ctx) =>
      tracked(plan.name, 'device = appended', () => {
        const b = get(ctx);
        const dev = need(b.kitTree, `${plan.name}: mounting erofs-kit's image with the tar as device`);
        const app = need(b.appendedTree, `${plan.name}: mounting erofs-kit's --append image`);
        assertSameTree(`${plan.name}: device form vs appended form`, dev, app, STRICT);
      }));

    it('erofs-kit shows what the tar says', { timeout: TIMEOUT }, (ctx) =>
      tracked(plan.name, 'erofs-kit = tar', () => {
        const b = get(ctx);
        const model = need(b.model, `${plan.name}: tar model`);
        if (model.notes.length > 0) record(plan.name, 'tar model notes', model.notes.join(' | '));
        const kit = need(b.kitTree, `${plan.name}: mounting erofs-kit's image`);
        assertSameTree(`${plan.name}: tar vs erofs-kit (through the kernel)`, model.tree, kit, TREE_VS_TREE);
      }));

    it('erofs-kit build: fsck.erofs accepts the full image; the kernel shows the tar index\'s tree; erofs-kit\'s reader shows what the kernel shows', { timeout: TIMEOUT }, (ctx) =>
      tracked(plan.name, 'build = index = reader', () => {
        const b = get(ctx);
        need(b.full, `${plan.name}: erofs-kit build`);
        const mounted = need(b.fullTree, `${plan.name}: mounting erofs-kit build's image`);
        const kit = need(b.kitTree, `${plan.name}: mounting erofs-kit's tar index`);
        assertSameTree(`${plan.name}: tar index vs full image (through the kernel)`, kit, mounted, TREE_VS_TREE);
        assertSameTree(`${plan.name}: kernel vs erofs-kit's reader (full image)`, mounted, need(b.fullReader, `${plan.name}: reading the full image`), STRICT);
      }));

    it('mkfs.erofs18 follows the tar except for the listed deviations', { timeout: TIMEOUT }, (ctx) =>
      tracked(plan.name, 'mkfs = tar (listed deviations)', () => {
        const b = get(ctx);
        const expected = EXPECTED[plan.name] ?? {};
        const model = need(b.model, `${plan.name}: tar model`);
        if (!b.mkfs.ok) {
          if (!expected.refuses) throw new Error(`${plan.name}: ${MKFS} refuses the tar, which the table does not expect:\n${b.mkfs.error}`);
          if (!expected.refuses.message.test(b.mkfs.error)) {
            throw new Error(`${plan.name}: ${MKFS} refuses the tar, but not as listed (${expected.refuses.message}):\n${b.mkfs.error}`);
          }
          console.log(`${plan.name}: ${MKFS} refuses the tar as expected (${expected.refuses.reason}); erofs-kit follows the tar model`);
          return;
        }
        if (expected.refuses) {
          throw new Error(`${plan.name}: ${MKFS} now accepts the tar; the table says it refuses it (${expected.refuses.reason}): update the table`);
        }
        const mkfsTree = need(b.mkfsTree, `${plan.name}: mounting mkfs.erofs's image`);
        const check = checkMkfs(model, mkfsTree, expected.deviations ?? []);
        const byReason = new Map<string, DiffPoint[]>();
        for (const { point, deviation: d } of check.explained) {
          const key = `(${d.kind}) ${d.reason}`;
          byReason.set(key, [...(byReason.get(key) ?? []), point]);
        }
        for (const [reason, points] of byReason) {
          const shown = points.slice(0, 3).map((p) => p.line).join('; ');
          console.log(`${plan.name}: mkfs.erofs deviates ${reason}\n    ${points.length} line(s): ${shown}${points.length > 3 ? '; …' : ''}`);
        }
        const problems: string[] = [];
        for (const p of check.unexplained) problems.push(`  unlisted: ${p.line}`);
        for (const d of check.stale) {
          problems.push(`  mkfs no longer deviates: path ${showPath(d.path)}, field ${String(d.field)} (${d.reason}); update the table`);
        }
        if (problems.length > 0) throw new Error(`${plan.name}: mkfs.erofs vs the tar model:\n${problems.join('\n')}`);
      }));

    it('erofs-kit and mkfs.erofs18 differ only where mkfs deviates from the tar', { timeout: TIMEOUT }, (ctx) =>
      tracked(plan.name, 'erofs-kit = mkfs (but for its deviations)', () => {
        const b = get(ctx);
        const expected = EXPECTED[plan.name] ?? {};
        if (!b.mkfs.ok) {
          if (expected.refuses && expected.refuses.message.test(b.mkfs.error)) ctx.skip(`mkfs.erofs refuses this tar (${expected.refuses.reason})`);
          throw new Error(`${plan.name}: ${MKFS} failed: ${b.mkfs.error}`);
        }
        const kit = need(b.kitTree, `${plan.name}: mounting erofs-kit's image`);
        const mkfsTree = need(b.mkfsTree, `${plan.name}: mounting mkfs.erofs's image`);
        const model = need(b.model, `${plan.name}: tar model`);
        const devs = new Set(checkMkfs(model, mkfsTree, expected.deviations ?? []).explained.map((x) => `${x.point.path}\0${x.point.field}`));
        const other = diffTrees(kit, mkfsTree, TREE_VS_TREE)
          .map(diffPoint)
          .filter((p) => !devs.has(`${p.path}\0${p.field}`));
        if (other.length > 0) {
          throw new Error(
            `${plan.name}: erofs-kit and mkfs.erofs differ where mkfs follows the tar (${other.length}):\n${other
              .slice(0, 200)
              .map((p) => '  ' + p.line)
              .join('\n')}`,
          );
        }
      }));
  });
});
