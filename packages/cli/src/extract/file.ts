/**
 * Writing one regular file of an image onto the local filesystem: shared by the main thread
 * and the extraction workers (extract/worker.ts).
 */
import { closeSync, fchmodSync, fchownSync, futimesSync, ftruncateSync, openSync, writeSync } from 'node:fs';
import { format, type ErofsImage, type Inode } from '@erofs-kit/core';

const { COMPRESSED_FULL, COMPRESSED_COMPACT } = format.DataLayout;

const EUID = process.geteuid?.() ?? -1;
const EGID = process.getegid?.() ?? -1;

/** Node's utimes family takes a negative number as "now" and clamps Dates to 32 bits: times before 1970 are fixed by the python3 pass; this keeps the fallback close. */
export function fsTime(sec: number): number | Date {
  return sec >= 0 ? sec : new Date(sec * 1000);
}

/** Creates `p` (O_EXCL: never follows or replaces anything) with the inode's data, owner, mode and mtime (seconds; nanoseconds come later). */
export async function writeFile(img: ErofsImage, ino: Inode, p: Buffer | Uint8Array, isRoot: boolean): Promise<void> {
  const fd = openSync(p as Buffer, 'wx', ino.mode & 0o777);
  try {
    let sparse = false;
    if (ino.layout === COMPRESSED_FULL || ino.layout === COMPRESSED_COMPACT) {
      // Compressed: the extents map encoded bytes; the reader decodes them in order, into the
      // same memory for every piece (each is written before the next is decoded).
      let at = 0;
      for await (const bytes of img.stream(ino, 1 << 20, { reuse: true })) {
        let done = 0;
        while (done < bytes.length) done += writeSync(fd, bytes, done, bytes.length - done, at + done);
        at += bytes.length;
      }
    } else for (const ext of await img.extents(ino)) {
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

/**
 * Cuts a compressed file into `parts` byte ranges of about equal size, at extent boundaries
 * (so each range decodes only its own pclusters). Fewer ranges when the file has few extents.
 */
export async function splitRanges(img: ErofsImage, ino: Inode, parts: number): Promise<[number, number][]> {
  const extents = await img.extents(ino);
  const out: [number, number][] = [];
  let start = 0;
  let k = 1;
  for (const e of extents) {
    if (k >= parts) break;
    if (e.logical > start && e.logical >= (k * ino.size) / parts) {
      out.push([start, e.logical]);
      start = e.logical;
      k++;
    }
  }
  out.push([start, ino.size]);
  return out;
}

/** Creates `p` (O_EXCL) at its full size with the inode's owner and permission bits; data, special mode bits and times come later. */
export function createSized(ino: Inode, p: Buffer | Uint8Array, isRoot: boolean): void {
  const fd = openSync(p as Buffer, 'wx', ino.mode & 0o777);
  try {
    if (isRoot && (ino.uid !== EUID || ino.gid !== EGID)) fchownSync(fd, ino.uid, ino.gid);
    ftruncateSync(fd, ino.size);
  } finally {
    closeSync(fd);
  }
}

/** Writes bytes [start, end) of the inode's data into the existing file `p`. */
export async function writeRange(img: ErofsImage, ino: Inode, p: Buffer | Uint8Array, start: number, end: number): Promise<void> {
  const fd = openSync(p as Buffer, 'r+');
  try {
    let at = start;
    for await (const bytes of img.stream(ino, 1 << 20, { reuse: true, start, end })) {
      let done = 0;
      while (done < bytes.length) done += writeSync(fd, bytes, done, bytes.length - done, at + done);
      at += bytes.length;
    }
  } finally {
    closeSync(fd);
  }
}

/** Whether the file's data is compressed (decoding, not copying, is then its cost). */
export function isCompressedInode(ino: Inode): boolean {
  return ino.layout === COMPRESSED_FULL || ino.layout === COMPRESSED_COMPACT;
}
