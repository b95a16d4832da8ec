/**
 * The layer-tar corpus of the tar-index kernel parity test: built at test time by
 * test/corpus/make-corpus.py into a temporary directory, and the tar model (what each tar
 * says the tree is) computed by tar_model.py with Python's tarfile.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { JudgeResult } from './judges.js';
import { bytesKey, fromHex, fromWalker, type TreeModel } from './model.js';

export const MAKE_CORPUS = fileURLToPath(new URL('../corpus/make-corpus.py', import.meta.url));
export const TAR_MODEL = fileURLToPath(new URL('./tar_model.py', import.meta.url));
export const FSCK = process.env['EROFS_KIT_FSCK'] ?? 'fsck.erofs18';

export interface PlannedTar {
  name: string;
  aufs: boolean;
  tool: string;
  /** The tar holds everything about its source tree (the model must equal the source). */
  mirrors: boolean;
}

export interface CorpusTar extends PlannedTar {
  /** The layer as given to the indexers (.tar, or .tar.gz when `gzip`). */
  file: string;
  gzip: boolean;
  /** The source tree the tar was made from (reference content of sparse members). */
  source: string;
  notes: string;
}

export interface SkippedTar {
  name: string;
  reason: string;
  /** The missing tool is a Debian package (so CI must have it). */
  installable: boolean;
}

export interface Corpus {
  dir: string;
  tars: Map<string, CorpusTar>;
  skipped: Map<string, SkippedTar>;
  /** What the script printed on stderr (built / skipped / installed lines). */
  log: string;
}

export interface ImplicitDir {
  /** Path key (as in TreeModel). */
  path: string;
  kind: 'root' | 'parent';
}

export interface TarModel {
  tree: TreeModel;
  implicit: ImplicitDir[];
  notes: string[];
}

function python(args: string[], timeoutMs: number): string {
  const r = spawnSync('python3', args, { encoding: 'utf8', maxBuffer: 1 << 30, timeout: timeoutMs });
  if (r.error) throw new Error(`python3 ${args.join(' ')}: ${r.error.message}`);
  if (r.status !== 0) throw new Error(`python3 ${args.join(' ')} exited ${r.status ?? r.signal}: ${(r.stderr || r.stdout).trim().slice(-4000)}`);
  return r.stdout;
}

/**
 * The tars the corpus script plans to build, known without building anything (for
 * describe.each at collection time). Empty when python3 cannot run the script.
 */
export function plannedTars(): PlannedTar[] {
  const r = spawnSync('python3', [MAKE_CORPUS, '--list'], { encoding: 'utf8', timeout: 60_000 });
  if (r.error || r.status !== 0) return [];
  return JSON.parse(r.stdout) as PlannedTar[];
}

/** Builds every tar of the corpus into `dir` (needs root). */
export function buildCorpus(dir: string): Corpus {
  const r = spawnSync('python3', [MAKE_CORPUS, dir], { encoding: 'utf8', maxBuffer: 1 << 26, timeout: 900_000 });
  if (r.error) throw new Error(`python3 make-corpus.py: ${r.error.message}`);
  if (r.status !== 0) throw new Error(`make-corpus.py exited ${r.status ?? r.signal}: ${(r.stderr || r.stdout).trim().slice(-4000)}`);
  const doc = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as { tars: CorpusTar[]; skipped: SkippedTar[] };
  return {
    dir,
    tars: new Map(doc.tars.map((t) => [t.name, t])),
    skipped: new Map(doc.skipped.map((s) => [s.name, s])),
    log: r.stderr,
  };
}

/** What the tar says the tree is (see tar_model.py for the semantics). */
export function tarModel(tar: CorpusTar, label = 'tar'): TarModel {
  const args = [TAR_MODEL, ...(tar.aufs ? ['--aufs'] : []), ...(tar.source ? ['--source', tar.source] : []), tar.file];
  const doc = JSON.parse(python(args, 600_000)) as {
    entries: Parameters<typeof fromWalker>[0];
    implicit: { path: string; kind: 'root' | 'parent' }[];
    notes: string[];
  };
  return {
    tree: fromWalker(doc.entries, label),
    implicit: doc.implicit.map((i) => ({ path: bytesKey(fromHex(i.path)), kind: i.kind })),
    notes: doc.notes,
  };
}

export function hasFsck(): JudgeResult {
  const r = spawnSync(FSCK, ['-V'], { stdio: 'ignore', timeout: 30_000 });
  return r.error === undefined && r.status === 0 ? { ok: true } : { ok: false, reason: `${FSCK} (erofs-utils 1.8.x) not found` };
}

/* ------------------------------------------------------------------ diff lines, by field */

/** The (path, field) a diffTrees line is about; `field` is the whole rest when unknown. */
export interface DiffPoint {
  path: string;
  field: string;
  line: string;
}

const FIELDS = [
  'type',
  'mode',
  'uid',
  'gid',
  'size',
  'mtime (s)',
  'mtime (ns)',
  'symlink target',
  'rdev',
  'nlink',
  'st_ino',
  'xattrs',
  'content sha256',
];

/** Splits a line of support/diff.ts `diffTrees` into the path and the field it names. */
export function diffPoint(line: string): DiffPoint {
  if (line.startsWith('hardlinks: ')) return { path: '', field: 'hardlinks', line };
  for (let i = line.indexOf(': '); i >= 0; i = line.indexOf(': ', i + 1)) {
    const rest = line.slice(i + 2);
    const path = line.slice(0, i);
    for (const f of FIELDS) if (rest.startsWith(f + ':')) return { path, field: f, line };
    const x = /^xattr ("(?:[^"\\]|\\.)*"):/.exec(rest);
    if (x) return { path, field: `xattr ${JSON.parse(x[1]!) as string}`, line };
    if (rest.startsWith('only in ')) return { path, field: 'presence', line };
  }
  return { path: '', field: line, line };
}
