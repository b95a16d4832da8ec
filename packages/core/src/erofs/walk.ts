/**
 * Whole-tree traversal and the first-version checker. The walk refuses what would make an
 * extractor write outside its destination: names containing '/' or NUL, empty names, and
 * directory cycles (a directory reached twice).
 */
import { isCompressed } from './zmap.js';
import { ErofsError, isErofsError, type ErofsErrorJSON } from '../errors.js';
import { S_IFDIR, S_IFLNK, S_IFMT, S_IFREG, fileTypeOfMode } from './format.js';
import { isDotOrDotDot, textDecoder, type DirEntry, type ErofsImage, type Inode } from './image.js';
import { filterBit, filterEnabled, nameFilter } from './xattr.js';

/**
 * One node of a walk. `path` and `parts` are computed on demand from the parent chain, so a
 * walk over 200,000 entries does not build 200,000 strings nobody reads.
 */
export class WalkEntry {
  private cachedPath: string | undefined;
  constructor(
    /** The entry's name as stored (bytes); undefined for the start of the walk. */
    readonly name: Uint8Array | undefined,
    readonly parent: WalkEntry | undefined,
    readonly inode: Inode,
    /** The dirent that led here (undefined for the start of the walk). */
    readonly dirent: DirEntry | undefined,
    readonly parentNid: number,
    private readonly rootPath = '',
  ) {}

  /** Depth below the start of the walk (0 for the start). */
  get depth(): number {
    let d = 0;
    for (let e = this.parent; e; e = e.parent) d++;
    return this.name === undefined ? 0 : d;
  }

  /** Path components as stored (bytes). Empty for the start. */
  get parts(): Uint8Array[] {
    const out: Uint8Array[] = [];
    for (let e: WalkEntry | undefined = this; e?.name; e = e.parent) out.push(e.name);
    return out.reverse();
  }

  /** Display path, `/`-joined, UTF-8 decoded (lossy); `/` (or the start path) for the start. */
  get path(): string {
    if (this.cachedPath === undefined) {
      this.cachedPath = this.name === undefined ? this.rootPath || '/' : this.dirPath() + '/' + textDecoder.decode(this.name);
    }
    return this.cachedPath;
  }

  /** Path of the directory holding this entry, '' for the root. */
  private dirPath(): string {
    const p = this.parent!;
    return p.name === undefined ? p.rootPath : p.path;
  }
}

/**
 * Refuses a name that appears twice in one directory (a symlink and a directory of the same
 * name could redirect an extractor's writes). Names are sorted on disk, so duplicates are
 * neighbours; an unsorted directory is checked on a sorted copy.
 */
export function checkUnique(ents: DirEntry[], path: string): void {
  let sorted = true;
  for (let i = 1; i < ents.length; i++) {
    const c = compare(ents[i - 1]!.name, ents[i]!.name);
    if (c === 0) throw duplicate(ents[i]!, path);
    if (c > 0) sorted = false;
  }
  if (sorted) return;
  const copy = [...ents].sort((a, b) => compare(a.name, b.name));
  for (let i = 1; i < copy.length; i++) if (compare(copy[i - 1]!.name, copy[i]!.name) === 0) throw duplicate(copy[i]!, path);
}

function duplicate(d: DirEntry, path: string): ErofsError {
  return new ErofsError('invalid-value', `directory ${path || '/'}: entry ${JSON.stringify(textDecoder.decode(d.name))} appears twice`, {
    offset: d.offset,
    path: path || '/',
  });
}

/** Refuses an entry name that could not be a path component: empty, or holding '/' or NUL. */
export function checkName(name: Uint8Array, parentPath: string, d: DirEntry): void {
  if (name.length === 0 || name.includes(0x2f) || name.includes(0)) {
    throw new ErofsError('unsafe-path', `directory ${parentPath || '/'}: entry name ${JSON.stringify(textDecoder.decode(name))} contains '/' or NUL or is empty`, {
      offset: d.offset,
      path: parentPath || '/',
    });
  }
}

/**
 * Depth-first walk in directory order, parents before children, one batch per directory
 * (the start of the walk comes alone first). Batches keep the per-entry cost of an async
 * generator off trees with hundreds of thousands of entries. Throws on a directory cycle,
 * a duplicate or unsafe name.
 */
export async function* walkBatches(img: ErofsImage, opts: { start?: Inode; startPath?: string } = {}): AsyncGenerator<WalkEntry[]> {
  const root = opts.start ?? (await img.root());
  const top = new WalkEntry(undefined, undefined, root, undefined, root.nid, opts.startPath ?? '');
  yield [top];
  if ((root.mode & S_IFMT) !== S_IFDIR) return;
  const seenDirs = new Set<number>([root.nid]);
  const stack: WalkEntry[] = [top];
  const pathOf = (e: WalkEntry): string => (e.name === undefined && e.path === '/' ? '' : e.path);
  while (stack.length > 0) {
    const dir = stack.pop()!;
    const ino = dir.inode;
    let ents: DirEntry[];
    try {
      ents = await img.readdir(ino);
    } catch (e) {
      throw isErofsError(e) ? e.withPath(dir.path) : e;
    }
    const subdirs: WalkEntry[] = [];
    const batch: WalkEntry[] = [];
    checkUnique(ents, pathOf(dir));
    for (const d of ents) {
      if (isDotOrDotDot(d.name)) continue;
      checkName(d.name, pathOf(dir), d);
      let child: Inode;
      try {
        child = await img.inode(d.nid);
      } catch (e) {
        throw isErofsError(e) ? e.withPath(new WalkEntry(d.name, dir, ino, d, ino.nid).path) : e;
      }
      const entry = new WalkEntry(d.name, dir, child, d, ino.nid);
      if ((child.mode & S_IFMT) === S_IFDIR) {
        if (seenDirs.has(child.nid)) {
          throw new ErofsError('loop', `${entry.path}: directory nid ${child.nid} is reached twice (directory cycle or hard-linked directory)`, {
            offset: d.offset,
            path: entry.path,
          });
        }
        seenDirs.add(child.nid);
        subdirs.push(entry);
      }
      batch.push(entry);
    }
    if (batch.length > 0) yield batch;
    for (let i = subdirs.length - 1; i >= 0; i--) stack.push(subdirs[i]!);
  }
}

/** {@link walkBatches} one entry at a time. */
export async function* walk(img: ErofsImage, opts: { start?: Inode; startPath?: string } = {}): AsyncGenerator<WalkEntry> {
  for await (const batch of walkBatches(img, opts)) yield* batch;
}

export interface FsckProblem extends ErofsErrorJSON {
  severity: 'error' | 'warning';
}

export interface FsckReport {
  ok: boolean;
  problems: FsckProblem[];
  stats: { inodes: number; directories: number; files: number; symlinks: number; special: number; bytes: number; xattrs: number };
}

/** Image problems become diagnostics; anything else is a bug in erofs-kit and propagates. */
function problem(e: unknown, severity: 'error' | 'warning' = 'error', path?: string): FsckProblem {
  if (!isErofsError(e)) throw e;
  const j = (path !== undefined ? e.withPath(path) : e).toJSON();
  return { ...j, severity };
}

/**
 * First-version checker: walks the whole tree, decodes every inode, reads every byte of
 * every file, every symlink and every xattr, and checks directory structure (`.`/`..`,
 * sort order, dirent types) and the xattr name filter. Never throws for image problems.
 */
export async function fsck(img: ErofsImage, opts: { maxProblems?: number; onProgress?: (files: number, bytes: number) => void } = {}): Promise<FsckReport> {
  const problems: FsckProblem[] = [];
  const max = opts.maxProblems ?? 1000;
  const stats = { inodes: 0, directories: 0, files: 0, symlinks: 0, special: 0, bytes: 0, xattrs: 0 };
  const refs = new Map<number, { count: number; entry: WalkEntry }>();
  const add = (p: FsckProblem): void => {
    if (problems.length < max) problems.push(p);
  };
  const useFilter = filterEnabled(img);
  try {
    for await (const batch of walkBatches(img)) for (const ent of batch) {
      const ino = ent.inode;
      const isNew = !refs.has(ino.nid);
      if (isNew) {
        stats.inodes++;
        refs.set(ino.nid, { count: 0, entry: ent });
      }
      const r = refs.get(ino.nid)!;
      r.count++;
      if (ent.dirent && ent.dirent.fileType !== fileTypeOfMode(ino.mode)) {
        add(problem(new ErofsError('invalid-value', `dirent file_type ${ent.dirent.fileType} does not match the inode's mode ${ino.mode.toString(8)}`, { offset: ent.dirent.offset + 10 }), 'error', ent.path));
      }
      if (!isNew) continue;
      try {
        const xs = await img.xattrs(ino);
        stats.xattrs += xs.length;
        if (useFilter && xs.length > 0) {
          const f = (await nameFilter(img, ino)) ?? 0;
          for (const x of xs) {
            if (x.kernelVisible && (f >>> filterBit(x.name)) & 1) {
              add(problem(new ErofsError('invalid-value', `xattr ${x.name} is present but the name filter marks it absent (the kernel would not find it)`, { offset: ino.offset + ino.inodeSize }), 'error', ent.path));
            }
          }
        }
        const type = ino.mode & S_IFMT;
        if (type === S_IFDIR) {
          stats.directories++;
          await checkDir(img, ino, ent, add);
        } else if (type === S_IFREG) {
          stats.files++;
          // Read every mapped byte; holes cost nothing (a huge sparse size must not hang fsck).
          // Compressed files are decoded in full (that is what checks their pclusters).
          if (isCompressed(ino)) {
            for await (const piece of img.stream(ino)) stats.bytes += piece.length;
          } else for (const e of await img.extents(ino)) {
            if (e.device === null) continue;
            for (let o = 0; o < e.length; o += 1 << 20) {
              const n = Math.min(1 << 20, e.length - o);
              await img.readDevice(e.device, e.physical + o, n, e.entryOffset ?? ino.offset);
              stats.bytes += n;
            }
          }
        } else if (type === S_IFLNK) {
          stats.symlinks++;
          await img.readlink(ino);
        } else {
          stats.special++;
          if (ino.size !== 0) add(problem(new ErofsError('invalid-value', `special file has size ${ino.size}`, { offset: ino.offset + 8 }), 'warning', ent.path));
        }
      } catch (e) {
        add(problem(e, 'error', ent.path));
      }
      opts.onProgress?.(stats.inodes, stats.bytes);
    }
  } catch (e) {
    add(problem(e));
  }
  for (const [nid, r] of refs) {
    // The walk already decoded this inode: no second read (the inode cache holds 65,536).
    const ino = r.entry.inode;
    if ((ino.mode & S_IFMT) === S_IFDIR) continue;
    if (r.count !== ino.nlink) {
      add(problem(new ErofsError('invalid-value', `nlink ${ino.nlink} but ${r.count} directory entr${r.count === 1 ? 'y refers' : 'ies refer'} to nid ${nid}`, { offset: ino.offset }), 'warning', r.entry.path));
    }
  }
  return { ok: !problems.some((p) => p.severity === 'error'), problems, stats };
}

async function checkDir(img: ErofsImage, ino: Inode, ent: WalkEntry, add: (p: FsckProblem) => void): Promise<void> {
  const ents = await img.readdir(ino);
  let prev: Uint8Array | undefined;
  let sawDot = false;
  let sawDotDot = false;
  let subdirs = 0;
  for (const d of ents) {
    if (prev && compare(prev, d.name) >= 0) {
      add(problem(new ErofsError('invalid-value', `directory entries out of order: "${textDecoder.decode(d.name)}" after "${textDecoder.decode(prev)}" (lookups would miss it)`, { offset: d.offset }), 'error', ent.path));
    }
    prev = d.name;
    if (d.name.length === 1 && d.name[0] === 0x2e) {
      sawDot = true;
      if (d.nid !== ino.nid) add(problem(new ErofsError('invalid-value', `"." points to nid ${d.nid}, not to the directory itself (${ino.nid})`, { offset: d.offset }), 'error', ent.path));
    } else if (d.name.length === 2 && d.name[0] === 0x2e && d.name[1] === 0x2e) {
      sawDotDot = true;
      if (d.nid !== ent.parentNid) add(problem(new ErofsError('invalid-value', `".." points to nid ${d.nid}, not to the parent (${ent.parentNid})`, { offset: d.offset }), 'error', ent.path));
    } else if (d.fileType === 2) subdirs++;
  }
  if (!sawDot && !ino.bit4) add(problem(new ErofsError('invalid-value', 'directory has no "." entry', { offset: ino.offset }), 'warning', ent.path));
  if (!sawDotDot) add(problem(new ErofsError('invalid-value', 'directory has no ".." entry', { offset: ino.offset }), 'warning', ent.path));
  if (ino.nlink !== 2 + subdirs) {
    add(problem(new ErofsError('invalid-value', `directory nlink ${ino.nlink} but it has ${subdirs} subdirectories (expected ${2 + subdirs})`, { offset: ino.offset }), 'warning', ent.path));
  }
}

function compare(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return a[i]! - b[i]!;
  return a.length - b.length;
}
