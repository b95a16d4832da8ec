import {
  existsSync,
  linkSync,
  lchownSync,
  lstatSync,
  lutimesSync,
  mkdirSync,
  readdirSync,
  renameSync,
  rmSync,
  rmdirSync,
  chmodSync,
  symlinkSync,
  utimesSync,
} from 'node:fs';
import { availableParallelism } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { ErofsError, checkName, checkUnique, format, isDotOrDotDot, isErofsError, textDecoder, type DirEntry, type ErofsImage, type Inode } from '@erofs-kit/core';
import { Out, UsageError, deviceOption, jsonOption, openImage, strs, warn, type Command } from '../util.js';
import { NoPython, OpStream, type PlatformOp } from '../platform.js';
import { Progress } from '../progress.js';
import { registerTemp, releaseTemp } from '../outputs.js';
import { createSized, fsTime, isCompressedInode, splitRanges, writeFile, writeRange } from '../extract/file.js';
import { BatchBuilder, type DoneReply, type SplitReply } from '../extract/protocol.js';
import { WorkerPool, type LocalRange } from '../extract/pool.js';
import { SUMMARIES } from './summaries.js';

const S_IFMT = 0o170000;
const SLASH = Buffer.from('/');
/**
 * Files per batch sent to a worker or written by the main thread. Small enough that the
 * main thread, writing one batch itself, hands out work again soon; large enough that
 * messages stay few (82 batches for the 5,241 files of the Debian rootfs).
 */
const BATCH_FILES = 64;
/** Below this many inodes, starting workers costs more than it saves. */
const PARALLEL_MIN_INODES = 4096;
/**
 * Compressed files from this size on are decoded by all workers, one byte range each (one
 * 50 MB file is 29 % of the Debian rootfs). EROFS_KIT_SPLIT_BYTES overrides it (tests use
 * small values to split the fixtures' files).
 */
const SPLIT_ENV = Number(process.env.EROFS_KIT_SPLIT_BYTES ?? 4 << 20);
const SPLIT_BYTES = Number.isSafeInteger(SPLIT_ENV) && SPLIT_ENV > 0 ? SPLIT_ENV : 0;

interface Pending {
  path: Buffer;
  ino: Inode;
}

export interface ExtractStats {
  directories: number;
  files: number;
  symlinks: number;
  special: number;
  hardlinks: number;
  bytes: number;
  xattrs: number;
  warnings: string[];
}

/**
 * Extracts the whole image into `dest` (which must not exist, or be an empty directory).
 * Everything is written into a sibling staging directory that is renamed to `dest` at the
 * end, so a failure leaves nothing behind. Paths are built from validated names only
 * (walk() refuses '/', NUL, empty names and directory cycles) and files are created with
 * O_EXCL, so nothing is ever written outside `dest`.
 */
export interface ExtractOptions {
  onProgress?: (s: ExtractStats) => void;
  /**
   * Regular files are written by this many threads: the calling thread and `jobs - 1` worker
   * threads, each with its own handle on the image (given by `image` and `devices`);
   * 1 = everything on the calling thread.
   */
  jobs?: number;
  image?: string;
  devices?: string[];
}

/** Threads to write files with by default (the main one included): one per core when the image is large enough to pay for workers. */
export function defaultJobs(img: ErofsImage): number {
  return img.sb.inos >= PARALLEL_MIN_INODES ? Math.min(availableParallelism(), 8) : 1;
}

export async function extractImage(img: ErofsImage, dest: string, opts: ExtractOptions = {}): Promise<ExtractStats> {
  const target = resolve(dest);
  if (existsSync(target)) {
    const st = lstatSync(target);
    if (!st.isDirectory() || readdirSync(target).length > 0) {
      throw new UsageError(`destination ${dest} exists and is not an empty directory`);
    }
  }
  const staging = join(dirname(target), `.${basename(target)}.erofs-kit-${process.pid}`);
  mkdirSync(staging, { mode: 0o700 });
  registerTemp(staging, removeTree);
  const oldUmask = process.umask(0);
  try {
    const stats = await extractInto(img, Buffer.from(staging), opts);
    if (existsSync(target)) rmdirSync(target);
    renameSync(staging, target);
    return stats;
  } catch (e) {
    removeTree(staging);
    throw e;
  } finally {
    releaseTemp(staging);
    process.umask(oldUmask);
  }
}

function removeTree(p: string): void {
  try {
    rmSync(p, { recursive: true, force: true });
  } catch {
    // A non-root run may have made directories read-only: open them up and retry.
    const open = (d: string): void => {
      try {
        chmodSync(d, 0o700);
        for (const n of readdirSync(d, { withFileTypes: true })) if (n.isDirectory()) open(join(d, n.name));
      } catch {
        /* best effort */
      }
    };
    open(p);
    rmSync(p, { recursive: true, force: true });
  }
}

async function extractInto(img: ErofsImage, root: Buffer, opts: ExtractOptions): Promise<ExtractStats> {
  const x = new Extraction(img, root, opts);
  const jobs = opts.jobs ?? 1;
  if (jobs > 1 && opts.image !== undefined) {
    x.pool = new WorkerPool(
      jobs - 1,
      { image: opts.image, devices: opts.devices ?? [], isRoot: x.isRoot, splitBytes: SPLIT_BYTES, jobs },
      (r, paths) => x.batchDone(r, paths),
      (local) => {
        const rel = Buffer.from(local, 'latin1').subarray(root.length).toString();
        return rel === '' ? '/' : rel;
      },
      (r, p) => x.splitFile(r, p),
      (t) => x.localRanges.push(t),
    );
  }
  try {
    await x.walk();
    await x.drain();
  } catch (e) {
    await x.python.kill();
    throw e;
  } finally {
    await x.pool?.close();
  }
  return x.finish();
}

interface DirToDo {
  ino: Inode;
  /** Local path. */
  p: Buffer;
  /** Path in the image ('' for the root). */
  path: string;
}

function childPath(parent: string, name: Uint8Array): string {
  return `${parent}/${textDecoder.decode(name)}`;
}

/**
 * One extraction. The walk goes directory by directory (refusing unsafe names, duplicates
 * and cycles, as core's walk does); it creates directories, symlinks and single-link
 * regular files at once — or hands the regular files, by the type their directory entry
 * gives, to the worker pool — and queues what must wait for `finish`: special files, hard
 * links of special files, xattrs, exact times and directory metadata.
 */
class Extraction {
  readonly isRoot = process.getuid?.() === 0;
  readonly stats: ExtractStats = { directories: 0, files: 0, symlinks: 0, special: 0, hardlinks: 0, bytes: 0, xattrs: 0, warnings: [] };
  pool: WorkerPool | undefined;
  private readonly batch = new BatchBuilder();
  private readonly firstPath = new Map<number, Buffer>();
  private readonly dirs: Pending[] = [];
  private readonly specials: PlatformOp[] = [];
  private readonly specialNids = new Set<number>();
  private readonly xattrOps: PlatformOp[] = [];
  private readonly timeOps: PlatformOp[] = [];
  /** Xattrs of directories: set after the directories' owners, at the end. */
  private readonly dirXattrOps: PlatformOp[] = [];
  /**
   * The python3 helper, fed as the walk goes: special files, hard links to them, and the
   * xattrs and exact times of everything but directories (whose ops must come last).
   */
  readonly python = new OpStream();
  /** Regular files with several links that the workers left to this thread. */
  private readonly deferred: { p: Buffer; nid: number }[] = [];
  private count = 0;
  /** Ranges of split files for this thread to write (`drain` and between batches). */
  readonly localRanges: LocalRange[] = [];
  /** The directory being walked, whose files the current batch ends with. */
  private batchDir = -1;
  /** The directory of the current batch's first file. */
  private batchFirstDir = -1;

  constructor(
    private readonly img: ErofsImage,
    private readonly root: Buffer,
    private readonly opts: ExtractOptions,
  ) {}

  private progress(): void {
    if (this.opts.onProgress && (++this.count & 1023) === 0) this.opts.onProgress(this.stats);
  }

  /**
   * A worker split a big file into ranges: once every range is written (the returned function
   * is called once per range), set what writes would disturb: special mode bits and mtime.
   */
  splitFile(r: SplitReply, p: Buffer): () => void {
    let left = r.ranges.length + 1;
    return () => {
      if (--left > 0) return;
      if (r.mode & 0o7000) chmodSync(p, r.mode & 0o7777);
      utimesSync(p, fsTime(r.mtime), fsTime(r.mtime));
      if (r.mtimeNsec !== 0 || r.mtime < 0) this.platformOp(this.timeOps, { op: 'utime', p, s: r.mtime, ns: r.mtimeNsec });
    };
  }

  batchDone(r: DoneReply, paths: Buffer[]): void {
    this.stats.files += r.files;
    this.stats.bytes += r.bytes;
    for (const [i, n, v] of r.xattrs) this.platformOp(this.xattrOps, { op: 'xattr', p: paths[i]!, n, v });
    this.stats.xattrs += r.xattrs.length;
    for (const [i, s, ns] of r.times) this.platformOp(this.timeOps, { op: 'utime', p: paths[i]!, s, ns });
    for (const [i, nid] of r.deferred) this.deferred.push({ p: paths[i]!, nid });
    this.opts.onProgress?.(this.stats);
  }

  async walk(): Promise<void> {
    const { img, pool, batch } = this;
    const root = await img.root();
    if ((root.mode & S_IFMT) !== 0o040000) {
      throw new ErofsError('invalid-value', `the root inode (nid ${root.nid}) is not a directory: nothing to extract into a directory`, { offset: root.offset, length: 2, path: '/' });
    }
    this.dirs.push({ path: this.root, ino: root });
    this.stats.directories++;
    await this.meta(root, this.root);
    const seenDirs = new Set<number>([root.nid]);
    const stack: DirToDo[] = [{ ino: root, p: this.root, path: '' }];
    while (stack.length > 0) {
      const dir = stack.pop()!;
      let ents: DirEntry[];
      try {
        ents = await img.readdir(dir.ino);
      } catch (e) {
        throw isErofsError(e) ? e.withPath(dir.path || '/') : e;
      }
      checkUnique(ents, dir.path);
      const subdirs: DirToDo[] = [];
      // A batch holds the files of one or more directories, in walk order: a directory split
      // over two batches sends both to the same worker (see WorkerPool). Batches are not cut
      // at each directory: one message per directory each way cost more than the files of
      // small directories (785 directories for 5,241 files in the Debian rootfs).
      this.batchDir = dir.ino.nid;
      for (const d of ents) {
        if (isDotOrDotDot(d.name)) continue;
        checkName(d.name, dir.path, d);
        const p = Buffer.concat([dir.p, SLASH, d.name]);
        if (pool && d.fileType === format.FT.REG_FILE) {
          if (batch.count === 0) this.batchFirstDir = this.batchDir;
          batch.add(p, d.nid);
          if (batch.count >= BATCH_FILES) await this.flushBatch();
          continue;
        }
        let ino: Inode;
        try {
          ino = await img.inode(d.nid);
          // Workers trust the entry's type to pick regular files: refuse a mismatch in every mode.
          if (d.fileType !== format.fileTypeOfMode(ino.mode)) {
            throw new ErofsError('invalid-value', `dirent file_type ${d.fileType} does not match the inode's mode ${ino.mode.toString(8)}`, { offset: d.offset + 10, length: 1 });
          }
        } catch (e) {
          throw isErofsError(e) ? e.withPath(childPath(dir.path, d.name)) : e;
        }
        if ((ino.mode & S_IFMT) === 0o040000) {
          const path = childPath(dir.path, d.name);
          if (seenDirs.has(ino.nid)) {
            throw new ErofsError('loop', `${path}: directory nid ${ino.nid} is reached twice (directory cycle or hard-linked directory)`, { offset: d.offset, path });
          }
          seenDirs.add(ino.nid);
          try {
            mkdirSync(p, { mode: 0o700 });
          } catch (err) {
            throw asExtractError(err, path);
          }
          this.dirs.push({ path: p, ino });
          this.stats.directories++;
          await this.meta(ino, p);
          subdirs.push({ ino, p, path });
        } else {
          await this.entry(ino, p, () => childPath(dir.path, d.name));
        }
      }
      for (let i = subdirs.length - 1; i >= 0; i--) stack.push(subdirs[i]!);
    }
  }

  /** Everything but a directory. */
  private async entry(ino: Inode, p: Buffer, pathOf: () => string): Promise<void> {
    const { img, stats, isRoot } = this;
    const type = ino.mode & S_IFMT;
    const seen = this.firstPath.get(ino.nid);
    try {
      if (seen) {
        stats.hardlinks++;
        if (this.specialNids.has(ino.nid)) this.platformOp(this.specials, { op: 'link', from: seen, p });
        else linkSync(seen, p);
        return;
      } else if (type === 0o100000) {
        await writeFile(img, ino, p, isRoot);
        stats.files++;
        stats.bytes += ino.size;
      } else if (type === 0o120000) {
        symlinkSync(Buffer.from(await img.readlink(ino)), p);
        if (isRoot) lchownSync(p, ino.uid, ino.gid);
        lutimesSync(p, fsTime(ino.mtime), fsTime(ino.mtime));
        stats.symlinks++;
      } else {
        this.specialNids.add(ino.nid);
        const isDev = type === 0o020000 || type === 0o060000;
        if (isDev && !isRoot) {
          stats.warnings.push(`${pathOf()}: device node not created (needs root)`);
        } else {
          this.platformOp(this.specials, { op: 'mknod', p, mode: ino.mode, major: ino.rdev?.major ?? 0, minor: ino.rdev?.minor ?? 0, ...(isRoot ? { uid: ino.uid, gid: ino.gid } : {}) });
        }
        stats.special++;
      }
      if (ino.nlink > 1) this.firstPath.set(ino.nid, p);
      await this.meta(ino, p);
    } catch (err) {
      throw asExtractError(err, pathOf());
    }
    this.progress();
  }

  /**
   * Hands the batch to a worker with room, or else writes it on this thread (which would
   * otherwise wait): then lets the workers' replies in, so the next batch sees who has room.
   */
  private async flushBatch(): Promise<void> {
    const pool = this.pool!;
    const t = this.batch.take();
    if (pool.trySend(t.batch, t.paths, this.batchFirstDir, this.batchDir)) return;
    await this.runLocalRanges();
    const { nids } = t.batch;
    for (let i = 0; i < nids.length; i++) await this.localFile(t.paths[i]!, nids[i]!);
    await pool.yieldToReplies();
    await this.runLocalRanges();
  }

  /** A regular file of a batch, written here: as in the walk, or split with the workers when it is big and compressed. */
  private async localFile(p: Buffer, nid: number): Promise<void> {
    const { img, root } = this;
    const pathOf = (): string => p.subarray(root.length).toString();
    let ino: Inode;
    try {
      ino = await img.inode(nid);
      if ((ino.mode & S_IFMT) !== 0o100000) {
        throw new ErofsError('invalid-value', `dirent file_type ${format.FT.REG_FILE} does not match the inode's mode ${ino.mode.toString(8)}`, { offset: ino.offset, length: 2 });
      }
    } catch (e) {
      throw isErofsError(e) ? e.withPath(pathOf()) : e;
    }
    const jobs = this.opts.jobs ?? 1;
    if (SPLIT_BYTES > 0 && ino.nlink <= 1 && ino.size >= SPLIT_BYTES && isCompressedInode(ino) && !this.firstPath.has(nid)) {
      try {
        const ranges = await splitRanges(img, ino, jobs);
        if (ranges.length > 1) {
          createSized(ino, p, this.isRoot);
          const done = this.splitFile({ kind: 'split', id: -1, index: -1, nid, ranges: ranges.slice(1), mode: ino.mode, mtime: ino.mtime, mtimeNsec: ino.mtimeNsec }, p);
          this.pool!.sendRanges(ranges.slice(1).map(([start, end]) => ({ path: p, nid, start, end, done })));
          await writeRange(img, ino, p, ranges[0]![0], ranges[0]![1]);
          done();
          this.stats.files++;
          this.stats.bytes += ino.size;
          await this.xattrsOf(ino, p);
          this.progress();
          return;
        }
      } catch (err) {
        throw asExtractError(err, pathOf());
      }
    }
    await this.entry(ino, p, pathOf);
  }

  /** Writes the ranges of split files handed to this thread; whether there were any. */
  async runLocalRanges(): Promise<boolean> {
    if (this.localRanges.length === 0) return false;
    while (this.localRanges.length > 0) {
      const t = this.localRanges.shift()!;
      try {
        const ino = await this.img.inode(t.nid);
        await writeRange(this.img, ino, t.path, t.start, t.end);
      } catch (err) {
        throw asExtractError(err, t.path.subarray(this.root.length).toString());
      }
      t.done();
    }
    return true;
  }

  /** Counts an op for python3 in `list` and sends it to the helper at once. */
  private platformOp(list: PlatformOp[], op: PlatformOp): void {
    list.push(op);
    this.python.push(op);
  }

  /** Queues xattrs and, for everything but directories (set in `finish`), exact times. */
  private async meta(ino: Inode, p: Buffer): Promise<void> {
    const isDir = (ino.mode & S_IFMT) === 0o040000;
    await this.xattrsOf(ino, p);
    if (!isDir && (ino.mtimeNsec !== 0 || ino.mtime < 0 || this.specialNids.has(ino.nid))) {
      this.platformOp(this.timeOps, { op: 'utime', p, s: ino.mtime, ns: ino.mtimeNsec });
    }
  }

  /** Queues the kernel-visible xattrs (a directory's for `finish`). */
  private async xattrsOf(ino: Inode, p: Buffer): Promise<void> {
    const isDir = (ino.mode & S_IFMT) === 0o040000;
    if (ino.xattrSize > 0) {
      for (const x of await this.img.xattrs(ino)) {
        if (!x.kernelVisible) continue;
        const op: PlatformOp = { op: 'xattr', p, n: x.name, v: x.value };
        if (isDir) this.dirXattrOps.push(op);
        else this.platformOp(this.xattrOps, op);
        this.stats.xattrs++;
      }
    }
  }

  /** Waits for the workers, then writes the files with several links they left here. */
  async drain(): Promise<void> {
    if (!this.pool) return;
    if (this.batch.count > 0) await this.flushBatch();
    await this.pool.drain(() => this.runLocalRanges());
    const root = this.root;
    for (const d of this.deferred) {
      const pathOf = (): string => d.p.subarray(root.length).toString();
      let ino: Inode;
      try {
        ino = await this.img.inode(d.nid);
      } catch (e) {
        throw isErofsError(e) ? e.withPath(pathOf()) : e;
      }
      await this.entry(ino, d.p, pathOf);
    }
  }

  /**
   * Directories last, children before parents, so their mtimes stick. When python3 is
   * needed anyway (special files, xattrs, exact times), the helper that already ran those as
   * the walk found them (special files before their hard links and times; owners before
   * xattrs, since chown clears security.capability) also does the directories, then their
   * xattrs.
   */
  async finish(): Promise<ExtractStats> {
    const { stats, dirs, specials, xattrOps, timeOps, dirXattrOps, isRoot } = this;
    const needPython = specials.length + xattrOps.length + timeOps.length + dirXattrOps.length > 0 || dirs.some((d) => d.ino.mtimeNsec !== 0 || d.ino.mtime < 0);
    let python = needPython;
    if (needPython) {
      for (let i = dirs.length - 1; i >= 0; i--) {
        const { path, ino } = dirs[i]!;
        this.python.push({ op: 'dir', p: path, mode: ino.mode, s: ino.mtime, ns: ino.mtimeNsec, ...(isRoot ? { uid: ino.uid, gid: ino.gid } : {}) });
      }
      for (const op of dirXattrOps) this.python.push(op);
      try {
        const failures = await this.python.finish();
        report(stats, failures, this.root);
      } catch (e) {
        if (!(e instanceof NoPython)) throw e;
        python = false;
      }
    }
    if (!python) {
      for (let i = dirs.length - 1; i >= 0; i--) {
        const { path, ino } = dirs[i]!;
        if (isRoot) lchownSync(path, ino.uid, ino.gid);
        chmodSync(path, ino.mode & 0o7777);
        lutimesSync(path, fsTime(ino.mtime), fsTime(ino.mtime));
      }
      if (specials.length) stats.warnings.push(`${specials.length} fifo/socket/device node(s) and their hard links not created: python3 is needed for mknod`);
      if (xattrOps.length + dirXattrOps.length) stats.warnings.push(`${xattrOps.length + dirXattrOps.length} xattr(s) not set: python3 is needed for setxattr`);
      if (timeOps.length) stats.warnings.push(`${timeOps.length} mtime(s) with nanoseconds rounded to microseconds: python3 is needed for exact times`);
    }
    return stats;
  }
}

function asExtractError(err: unknown, path: string): ErofsError {
  if (isErofsError(err)) return err.withPath(path);
  const code = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
  return new ErofsError('io', `cannot create ${path}: ${code}`, { format: 'io', path });
}

function report(stats: ExtractStats, failures: { op: PlatformOp; error: string }[], root: Buffer): void {
  for (const f of failures) {
    const o = f.op;
    const what = o.op === 'xattr' ? `set xattr ${o.n}` : o.op === 'utime' ? 'set mtime' : o.op === 'dir' ? 'set directory owner, mode and mtime' : `create ${o.op === 'mknod' ? 'special file' : 'hard link'}`;
    const inImage = o.p.subarray(root.length).toString() || '/';
    stats.warnings.push(`${inImage}: could not ${what}: ${f.error}`);
  }
}

export const extract: Command = {
  name: 'extract',
  summary: SUMMARIES.extract,
  usage: 'erofs-kit extract IMAGE DEST [--device FILE]... [--jobs N] [--json]',
  help: `Extracts every file into DEST (which must not exist, or be empty): all file types, the 12 mode
bits, mtimes with nanoseconds, xattrs where the destination allows, hard links as hard links;
uid/gid and device nodes only when run as root. Work happens in a staging directory next to
DEST that is renamed at the end: on any error nothing is left behind. Nothing is ever written
outside DEST, whatever the image says. Fifos, sockets, device nodes, xattrs and exact
nanosecond times need python3 (Node has no API for them); without it they are reported as
warnings.

--jobs N writes regular files with N threads, the main one and N-1 workers (creating files is
mostly kernel work, and it scales across cores). Default: one per core for images of
${PARALLEL_MIN_INODES} inodes or more, otherwise 1 (no workers).`,
  options: { ...deviceOption, ...jsonOption, jobs: { type: 'string', short: 'j' } },
  async run({ values, positionals }) {
    const [file, dest] = positionals;
    if (dest === undefined) throw new UsageError('extract needs IMAGE and DEST');
    let jobs: number | undefined;
    if (values.jobs !== undefined) {
      jobs = Number(values.jobs);
      if (!Number.isInteger(jobs) || jobs < 1 || jobs > 64) throw new UsageError(`--jobs must be a whole number from 1 to 64, not '${String(values.jobs)}'`);
    }
    const devices = strs(values.device);
    const o = await openImage(file!, devices);
    const progress = new Progress(!values.json);
    try {
      const stats = await extractImage(o.img, dest, {
        onProgress: (s) => progress.update(`extracted ${s.files} files, ${(s.bytes / 1048576).toFixed(1)} MiB`),
        jobs: jobs ?? defaultJobs(o.img),
        image: file!,
        devices,
      });
      progress.done();
      for (const w of stats.warnings.slice(0, 20)) warn(w);
      if (stats.warnings.length > 20) warn(`${stats.warnings.length - 20} more warnings`);
      const out = new Out();
      if (values.json) out.line(JSON.stringify({ file, dest, ...stats }, null, 2));
      out.flush();
      return 0;
    } finally {
      progress.done();
      await o.close();
    }
  },
};
