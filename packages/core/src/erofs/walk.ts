/**
 * Whole-tree traversal (the checker is in ./fsck.ts). The walk refuses what would make an
 * extractor write outside its destination: names containing '/' or NUL, empty names, and
 * directory cycles (a directory reached twice).
 */
import { ErofsError, isErofsError } from '../errors.js';
import { S_IFDIR, S_IFMT } from './format.js';
import { isDotOrDotDot, textDecoder, type DirEntry, type ErofsImage, type Inode } from './image.js';

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

function compare(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return a[i]! - b[i]!;
  return a.length - b.length;
}
