import {
  closeSync,
  existsSync,
  fchmodSync,
  fchownSync,
  futimesSync,
  ftruncateSync,
  linkSync,
  lchownSync,
  lstatSync,
  lutimesSync,
  mkdirSync,
  openSync,
  readdirSync,
  renameSync,
  rmSync,
  rmdirSync,
  chmodSync,
  symlinkSync,
  writeSync,
} from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { ErofsError, isErofsError, walkBatches, type ErofsImage, type Inode } from '@erofs-kit/core';
import { Out, UsageError, deviceOption, jsonOption, openImage, strs, warn, type Command } from '../util.js';
import { NoPython, runOps, type PlatformOp } from '../platform.js';
import { Progress } from '../progress.js';

const S_IFMT = 0o170000;

/** Node's utimes family takes a negative number as "now" and clamps Dates to 32 bits: times before 1970 are fixed by the python3 pass; this keeps the fallback close. */
function fsTime(sec: number): number | Date {
  return sec >= 0 ? sec : new Date(sec * 1000);
}
const SLASH = Buffer.from('/');
const EUID = process.geteuid?.() ?? -1;
const EGID = process.getegid?.() ?? -1;

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
export async function extractImage(img: ErofsImage, dest: string, onProgress?: (s: ExtractStats) => void): Promise<ExtractStats> {
  const target = resolve(dest);
  if (existsSync(target)) {
    const st = lstatSync(target);
    if (!st.isDirectory() || readdirSync(target).length > 0) {
      throw new UsageError(`destination ${dest} exists and is not an empty directory`);
    }
  }
  const staging = join(dirname(target), `.${basename(target)}.erofs-kit-${process.pid}`);
  mkdirSync(staging, { mode: 0o700 });
  const oldUmask = process.umask(0);
  try {
    const stats = await extractInto(img, Buffer.from(staging), onProgress);
    if (existsSync(target)) rmdirSync(target);
    renameSync(staging, target);
    return stats;
  } catch (e) {
    removeTree(staging);
    throw e;
  } finally {
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

async function extractInto(img: ErofsImage, root: Buffer, onProgress?: (s: ExtractStats) => void): Promise<ExtractStats> {
  const isRoot = process.getuid?.() === 0;
  const stats: ExtractStats = { directories: 0, files: 0, symlinks: 0, special: 0, hardlinks: 0, bytes: 0, xattrs: 0, warnings: [] };
  const firstPath = new Map<number, Buffer>();
  const dirs: Pending[] = [];
  const specials: PlatformOp[] = [];
  const specialNids = new Set<number>();
  const xattrOps: PlatformOp[] = [];
  const timeOps: PlatformOp[] = [];
  const dirPaths = new Map<number, Buffer>();
  let count = 0;
  for await (const batch of walkBatches(img)) for (const e of batch) {
    const ino = e.inode;
    let p: Buffer;
    if (e.name === undefined) p = root;
    else p = Buffer.concat([dirPaths.get(e.parentNid)!, SLASH, e.name]);
    const type = ino.mode & S_IFMT;
    const seen = firstPath.get(ino.nid);
    try {
      if (type === 0o040000) {
        if (e.name !== undefined) mkdirSync(p, { mode: 0o700 });
        dirPaths.set(ino.nid, p);
        dirs.push({ path: p, ino });
        stats.directories++;
      } else if (seen) {
        stats.hardlinks++;
        if (specialNids.has(ino.nid)) specials.push({ op: 'link', from: seen, p });
        else linkSync(seen, p);
        continue;
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
        specialNids.add(ino.nid);
        const isDev = type === 0o020000 || type === 0o060000;
        if (isDev && !isRoot) {
          stats.warnings.push(`${e.path}: device node not created (needs root)`);
        } else {
          specials.push({ op: 'mknod', p, mode: ino.mode, major: ino.rdev?.major ?? 0, minor: ino.rdev?.minor ?? 0, ...(isRoot ? { uid: ino.uid, gid: ino.gid } : {}) });
        }
        stats.special++;
      }
    } catch (err) {
      if (isErofsError(err)) throw err.withPath(e.path);
      const code = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
      throw new ErofsError('io', `cannot create ${e.path}: ${code}`, { format: 'io', path: e.path });
    }
    if (ino.nlink > 1 && type !== 0o040000) firstPath.set(ino.nid, p);
    if (ino.xattrSize > 0) {
      for (const x of await img.xattrs(ino)) {
        if (!x.kernelVisible) continue;
        xattrOps.push({ op: 'xattr', p, n: x.name, v: x.value });
        stats.xattrs++;
      }
    }
    const isDir = type === 0o040000;
    if (!isDir && (ino.mtimeNsec !== 0 || ino.mtime < 0 || specialNids.has(ino.nid))) timeOps.push({ op: 'utime', p, s: ino.mtime, ns: ino.mtimeNsec });
    if (onProgress && (++count & 1023) === 0) onProgress(stats);
  }
  // Directories last, children before parents, so their mtimes stick. When python3 is
  // needed anyway (special files, xattrs, exact times), one batch does everything that is
  // left, in this order: special files, directories, xattrs (after chown, which would clear
  // security.capability), file times.
  const needPython = specials.length + xattrOps.length + timeOps.length > 0 || dirs.some((d) => d.ino.mtimeNsec !== 0 || d.ino.mtime < 0);
  let python = needPython;
  if (needPython) {
    const dirOps: PlatformOp[] = [];
    for (let i = dirs.length - 1; i >= 0; i--) {
      const { path, ino } = dirs[i]!;
      dirOps.push({ op: 'dir', p: path, mode: ino.mode, s: ino.mtime, ns: ino.mtimeNsec, ...(isRoot ? { uid: ino.uid, gid: ino.gid } : {}) });
    }
    try {
      const failures = runOps([...specials, ...dirOps, ...xattrOps, ...timeOps]);
      report(stats, failures, root);
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
    if (xattrOps.length) stats.warnings.push(`${xattrOps.length} xattr(s) not set: python3 is needed for setxattr`);
    if (timeOps.length) stats.warnings.push(`${timeOps.length} mtime(s) with nanoseconds rounded to microseconds: python3 is needed for exact times`);
  }
  return stats;
}

function report(stats: ExtractStats, failures: { op: PlatformOp; error: string }[], root: Buffer): void {
  for (const f of failures) {
    const o = f.op;
    const what = o.op === 'xattr' ? `set xattr ${o.n}` : o.op === 'utime' ? 'set mtime' : o.op === 'dir' ? 'set directory owner, mode and mtime' : `create ${o.op === 'mknod' ? 'special file' : 'hard link'}`;
    const inImage = o.p.subarray(root.length).toString() || '/';
    stats.warnings.push(`${inImage}: could not ${what}: ${f.error}`);
  }
}

async function writeFile(img: ErofsImage, ino: Inode, p: Buffer, isRoot: boolean): Promise<void> {
  const fd = openSync(p, 'wx', ino.mode & 0o777);
  try {
    let sparse = false;
    const extents = await img.extents(ino);
    if (extents.some((e) => e.compression)) {
      // compressed file: its extents map encoded bytes; the reader decodes them in order
      let at = 0;
      for await (const bytes of img.stream(ino)) {
        let done = 0;
        while (done < bytes.length) done += writeSync(fd, bytes, done, bytes.length - done, at + done);
        at += bytes.length;
      }
    } else for (const ext of extents) {
      if (ext.device === null) {
        sparse = true;
        continue;
      }
      const piece = 1 << 20;
      for (let o = 0; o < ext.length; o += piece) {
        const n = Math.min(piece, ext.length - o);
        const bytes = await img.readDevice(ext.device, ext.physical + o, n, ext.entryOffset ?? ino.offset);
        let done = 0;
        while (done < n) done += writeSync(fd, bytes, done, n - done, ext.logical + o + done);
      }
    }
    if (sparse) ftruncateSync(fd, ino.size);
    // New files already belong to us: skip the syscall when the image agrees.
    if (isRoot && (ino.uid !== EUID || ino.gid !== EGID)) fchownSync(fd, ino.uid, ino.gid);
    if (ino.mode & 0o7000) fchmodSync(fd, ino.mode & 0o7777);
    futimesSync(fd, fsTime(ino.mtime), fsTime(ino.mtime));
  } finally {
    closeSync(fd);
  }
}

export const extract: Command = {
  name: 'extract',
  summary: 'write the whole tree to a directory',
  usage: 'erofs-kit extract IMAGE DEST [--device FILE]... [--json]',
  help: `Extracts every file into DEST (which must not exist, or be empty): all file types, the 12 mode
bits, mtimes with nanoseconds, xattrs where the destination allows, hard links as hard links;
uid/gid and device nodes only when run as root. Work happens in a staging directory next to
DEST that is renamed at the end: on any error nothing is left behind. Nothing is ever written
outside DEST, whatever the image says. Fifos, sockets, device nodes, xattrs and exact
nanosecond times need python3 (Node has no API for them); without it they are reported as
warnings.`,
  options: { ...deviceOption, ...jsonOption },
  async run({ values, positionals }) {
    const [file, dest] = positionals;
    if (dest === undefined) throw new UsageError('extract needs IMAGE and DEST');
    const o = await openImage(file!, strs(values.device));
    const progress = new Progress(!values.json);
    try {
      const stats = await extractImage(o.img, dest, (s) => progress.update(`extracted ${s.files} files, ${(s.bytes / 1048576).toFixed(1)} MiB`));
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
