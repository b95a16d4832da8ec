/**
 * Field-by-field comparison of two tree models. Produces one line per difference
 * (`/path: field: kernel X, reader Y`), so a failure names the path and the field rather than
 * printing two huge objects.
 */
import type { EntryModel, TreeModel } from './model.js';

export interface CompareOptions {
  /** Compare st_ino (against the nid for the reader). */
  ino: boolean;
  /** Compare nlink of directories too (not meaningful for an extraction on another filesystem). */
  dirNlink: boolean;
  /** Compare uid and gid (an extraction only preserves them when run as root). */
  owner: boolean;
  /**
   * Compare the permission bits of symlinks. Linux cannot set them (no lchmod; symlinks are
   * always 0777), so an extraction cannot reproduce other values.
   */
  symlinkPerms: boolean;
}

export const STRICT: CompareOptions = { ino: true, dirNlink: true, owner: true, symlinkPerms: true };

const oct = (n: number): string => '0' + n.toString(8);

function show(v: unknown): string {
  if (v === undefined) return '(none)';
  if (typeof v === 'string') return v.length > 140 ? JSON.stringify(v.slice(0, 140)) + `… (${v.length} chars)` : JSON.stringify(v);
  return String(v);
}

function showHexValue(v: string | undefined): string {
  if (v === undefined) return '(absent)';
  if (v === '') return 'empty (0 bytes)';
  const bytes = v.length / 2;
  return bytes > 48 ? `${v.slice(0, 96)}… (${bytes} bytes)` : `${v} (${bytes} bytes)`;
}

/** Groups of ≥ 2 paths that share an inode (non-directories), each as a sorted, joined string. */
export function hardlinkGroups(tree: TreeModel): Set<string> {
  const byIno = new Map<number, string[]>();
  for (const [path, e] of tree.entries) {
    if (e.type === 'dir') continue;
    const list = byIno.get(e.ino);
    if (list) list.push(path);
    else byIno.set(e.ino, [path]);
  }
  const out = new Set<string>();
  for (const paths of byIno.values()) {
    if (paths.length > 1) out.add(paths.sort().map((p) => JSON.stringify(p)).join(', '));
  }
  return out;
}

function diffXattrs(path: string, a: EntryModel['xattrs'], b: EntryModel['xattrs'], la: string, lb: string, out: string[]): void {
  if (typeof a === 'string' || typeof b === 'string') {
    if (a !== b) out.push(`${path}: xattrs: ${la} ${typeof a === 'string' ? a : `${a.length} xattr(s)`}, ${lb} ${typeof b === 'string' ? b : `${b.length} xattr(s)`}`);
    return;
  }
  const group = (list: [string, string][]): Map<string, string[]> => {
    const m = new Map<string, string[]>();
    for (const [n, v] of list) m.set(n, [...(m.get(n) ?? []), v]);
    return m;
  };
  const ma = group(a);
  const mb = group(b);
  for (const name of [...new Set([...ma.keys(), ...mb.keys()])].sort()) {
    const va = ma.get(name) ?? [];
    const vb = mb.get(name) ?? [];
    if (va.length === vb.length && va.every((v, i) => v === vb[i])) continue;
    if (va.length <= 1 && vb.length <= 1) {
      out.push(`${path}: xattr ${JSON.stringify(name)}: ${la} ${showHexValue(va[0])}, ${lb} ${showHexValue(vb[0])}`);
    } else {
      out.push(`${path}: xattr ${JSON.stringify(name)}: ${la} [${va.map(showHexValue).join('; ')}], ${lb} [${vb.map(showHexValue).join('; ')}]`);
    }
  }
}

function diffEntry(path: string, a: EntryModel, b: EntryModel, la: string, lb: string, opts: CompareOptions, out: string[]): void {
  const field = (name: string, va: unknown, vb: unknown, fmt: (v: never) => string = show): void => {
    if (va !== vb) out.push(`${path}: ${name}: ${la} ${fmt(va as never)}, ${lb} ${fmt(vb as never)}`);
  };
  if (a.type !== b.type) {
    out.push(`${path}: type: ${la} ${a.type} (mode ${oct(a.mode)}), ${lb} ${b.type} (mode ${oct(b.mode)})`);
    return;
  }
  const permMask = a.type === 'lnk' && !opts.symlinkPerms ? 0o170000 : 0o177777;
  field('mode', a.mode & permMask, b.mode & permMask, oct);
  if (opts.owner) {
    field('uid', a.uid, b.uid);
    field('gid', a.gid, b.gid);
  }
  field('size', a.size, b.size);
  field('mtime (s)', a.mtime, b.mtime);
  field('mtime (ns)', a.mtimeNsec, b.mtimeNsec);
  field('symlink target', a.target, b.target);
  field('rdev', a.rdev, b.rdev);
  if (a.type !== 'dir' || opts.dirNlink) field('nlink', a.nlink, b.nlink);
  if (opts.ino) field(lb === 'reader' || la === 'reader' ? 'st_ino vs nid' : 'st_ino', a.ino, b.ino);
  diffXattrs(path, a.xattrs, b.xattrs, la, lb, out);
  field('content sha256', a.sha256, b.sha256);
}

/** Every difference between `a` (the reference, usually the kernel) and `b`. */
export function diffTrees(a: TreeModel, b: TreeModel, opts: CompareOptions): string[] {
  const out: string[] = [];
  const la = a.label;
  const lb = b.label;
  for (const e of a.errors) out.push(`${la}: ${e}`);
  for (const e of b.errors) out.push(`${lb}: ${e}`);
  const paths = [...new Set([...a.entries.keys(), ...b.entries.keys()])].sort();
  for (const path of paths) {
    const ea = a.entries.get(path);
    const eb = b.entries.get(path);
    if (!ea) out.push(`${path}: only in ${lb} (${eb!.type})`);
    else if (!eb) out.push(`${path}: only in ${la} (${ea.type}), missing from ${lb}`);
    else diffEntry(path, ea, eb, la, lb, opts, out);
  }
  const ga = hardlinkGroups(a);
  const gb = hardlinkGroups(b);
  for (const g of ga) if (!gb.has(g)) out.push(`hardlinks: ${la} has the group {${g}}, ${lb} does not`);
  for (const g of gb) if (!ga.has(g)) out.push(`hardlinks: ${lb} has the group {${g}}, ${la} does not`);
  return out;
}

/** Throws an error listing the differences (at most `limit`), headed by `title`. */
export function assertSameTree(title: string, a: TreeModel, b: TreeModel, opts: CompareOptions, limit = 200): void {
  const diffs = diffTrees(a, b, opts);
  if (diffs.length === 0) return;
  const shown = diffs.slice(0, limit).map((d) => '  ' + d);
  if (diffs.length > limit) shown.push(`  … and ${diffs.length - limit} more`);
  const err = new Error(`${title}: ${diffs.length} difference(s) between ${a.label} and ${b.label}:\n${shown.join('\n')}`);
  // No "expected/actual" dump: the list above is the useful part.
  throw err;
}
