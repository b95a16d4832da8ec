/**
 * Messages between `extract` and its workers. A batch of files travels as three
 * transferable arrays (no per-file objects to clone): every path's bytes back to back, the
 * end offset of each path, and each file's nid. Replies name files by their index in the
 * batch.
 */
import type { ErofsErrorJSON } from '@erofs-kit/core';

export interface WorkerInit {
  image: string;
  devices: string[];
  isRoot: boolean;
  /**
   * Compressed files of at least this many bytes are split into one byte range per worker:
   * the worker that meets one creates it, keeps the first range and hands the others back
   * (`SplitReply`); 0 = never.
   */
  splitBytes: number;
  /** Number of workers (ranges per split file). */
  jobs: number;
}

export interface FileBatch {
  kind?: undefined;
  id: number;
  paths: Uint8Array;
  ends: Uint32Array;
  nids: Float64Array;
}

/** Write bytes [start, end) of an existing file (created and sized by the worker that split it). */
export interface RangeTask {
  kind: 'range';
  id: number;
  path: Uint8Array;
  nid: number;
  start: number;
  end: number;
}

/** A file of batch `id` (index `index`) was split: `ranges` are for other workers; its metadata waits for them and for `SplitPartDone`. */
export interface SplitReply {
  kind: 'split';
  id: number;
  index: number;
  nid: number;
  ranges: [number, number][];
  mode: number;
  mtime: number;
  mtimeNsec: number;
}

/** The splitting worker has written its own range of that file. */
export interface SplitPartDone {
  kind: 'split-done';
  id: number;
  index: number;
}

export interface DoneReply {
  kind: 'done';
  id: number;
  files: number;
  bytes: number;
  /** Files with several links, as [file index, nid]: left to the main thread, which sees every path of the inode. */
  deferred: [number, number][];
  /** Xattrs to set later (after owners and modes): [file index, name, value]. */
  xattrs: [number, string, Uint8Array][];
  /** Exact times to set later: [file index, seconds, nanoseconds]. */
  times: [number, number, number][];
}

export type WorkerReply =
  | { kind: 'ready' }
  | DoneReply
  | SplitReply
  | SplitPartDone
  /** `path` is the local path being written (latin1, i.e. its raw bytes); `error` an image problem, `io` a filesystem error code. */
  | { kind: 'error'; id: number; path: string; error?: ErofsErrorJSON; io?: string };

/** Collects files for one batch; keeps the paths so replies can name them. */
export class BatchBuilder {
  private parts: Buffer[] = [];
  private len = 0;
  private ends: number[] = [];
  private nids: number[] = [];
  get count(): number {
    return this.nids.length;
  }
  add(path: Buffer, nid: number): void {
    this.parts.push(path);
    this.len += path.length;
    this.ends.push(this.len);
    this.nids.push(nid);
  }
  take(): { batch: Omit<FileBatch, 'id'>; paths: Buffer[] } {
    const paths = new Uint8Array(this.len);
    let o = 0;
    for (const p of this.parts) {
      paths.set(p, o);
      o += p.length;
    }
    const out = { batch: { paths, ends: Uint32Array.from(this.ends), nids: Float64Array.from(this.nids) }, paths: this.parts };
    this.parts = [];
    this.len = 0;
    this.ends = [];
    this.nids = [];
    return out;
  }
}
