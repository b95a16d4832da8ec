/**
 * fs-verity digest of a file with the data level of the Merkle tree hashed by worker
 * threads (ADR 0012). The data level is nearly all of the work (every byte is hashed once
 * there; the levels above hash 1/128 as much with SHA-256 and 4 KiB blocks), and its blocks
 * are independent: the file is cut into block-aligned ranges, and each range is read and its
 * blocks hashed with node:crypto, either by a worker (which opens the file itself and sends
 * back the digests) or by the calling thread, which takes ranges too between handling the
 * workers' replies: it is ready before any worker has started, and on two cores one worker
 * beside it keeps both busy. The calling thread feeds the digests, in file order, to the one
 * tree implementation of core ({@link FsVerityHasher.appendLeafDigests}), which builds the
 * upper levels, the descriptor and, on request, the stored tree.
 *
 * Memory is bounded whatever the file size: at most `4 × threads` ranges are hashed ahead of
 * the appender, and a range's digests are dropped once appended.
 */
import * as fs from 'node:fs';
import * as crypto from 'node:crypto';
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { ErofsError } from '../errors.js';
import { FsVerityHasher, type FsVerityOptions } from '../digest/fsverity.js';
import { HASH_SIZES } from '../digest/hash.js';
import { nodeHash } from './digest.js';

export interface FsVerityFileOptions extends Omit<FsVerityOptions, 'hash'> {
  /**
   * Worker threads for the data level, beside the calling thread, which hashes too; default one
   * fewer than the available cores (at most 7). 0: the calling thread alone.
   */
  workers?: number;
  /** Files smaller than this are hashed on the calling thread alone (a worker takes ~50 ms to start); default 16 MiB. */
  threshold?: number;
  /** Bytes per work item; rounded down to whole blocks; default 4 MiB. */
  rangeBytes?: number;
}

/**
 * Read size on the calling thread and in the workers. Small on purpose: a buffer that stays in
 * the core's cache is filled by read() and hashed far faster than one of a megabyte or more,
 * which the kernel's copy and the hash each fetch from memory (64 KiB reads + 4 KiB blocks:
 * 647 MB/s against 570 MB/s with 1 MiB on this machine; plain read() 4.2 against 1.4 GB/s).
 */
const READ_BYTES = 64 << 10;

interface RangeHasherParams {
  fd: number;
  algorithm: string;
  blockSize: number;
  /** The salt zero-padded to the hash's block size; empty without a salt. */
  saltPrefix: Uint8Array;
  digestSize: number;
  readBytes: number;
}

/**
 * Returns a function that reads bytes [start, end) of the open file `p.fd` and returns the
 * data-level digests of its blocks (a partial last block zero-padded). Self-contained on
 * purpose: it names nothing outside itself, so its source text is also the workers' (see
 * WORKER_SOURCE), and the calling thread and the workers hash exactly alike.
 */
function makeRangeHasher(fs: typeof import('node:fs'), crypto: typeof import('node:crypto'), p: RangeHasherParams): (start: number, end: number) => Uint8Array {
  const { fd, algorithm, blockSize, saltPrefix, digestSize, readBytes } = p;
  const pre = saltPrefix.length;
  const buf = Buffer.allocUnsafe(pre + readBytes);
  buf.set(saltPrefix, 0);
  // What each block hashes: without a salt, block j of the read buffer; with one, the salt
  // prefix and the block moved right behind it. Views made once, not one per block.
  const views: Uint8Array[] = [];
  if (pre === 0) for (let o = 0; o < readBytes; o += blockSize) views.push(new Uint8Array(buf.buffer, buf.byteOffset + o, blockSize));
  else views.push(new Uint8Array(buf.buffer, buf.byteOffset, pre + blockSize));
  // One native call per block is the cost that matters: crypto.hash on a plain Uint8Array
  // view with a latin1 ("binary") string result spends about a third less per 4 KiB block
  // than a Buffer subarray and a Buffer result. The strings of a range are written into its
  // digest array at once, by one native call.
  const hashOf =
    typeof crypto.hash === 'function'
      ? (v: Uint8Array): string => crypto.hash(algorithm, v, 'binary')
      : (v: Uint8Array): string => crypto.createHash(algorithm).update(v).digest('binary');
  return (start, end) => {
    const out = new Uint8Array(Math.ceil((end - start) / blockSize) * digestSize);
    const digests: string[] = [];
    for (let pos = start; pos < end; ) {
      const want = Math.min(readBytes, end - pos);
      let got = 0;
      while (got < want) {
        const n = fs.readSync(fd, buf, pre + got, want - got, pos + got);
        if (n === 0) throw new Error(`file shrank: end of file at byte ${pos + got}, expected ${end}`);
        got += n;
      }
      // A partial last block is zero-padded, as the tree requires.
      const padded = Math.ceil(want / blockSize) * blockSize;
      buf.fill(0, pre + want, pre + padded);
      for (let o = 0, j = 0; o < padded; o += blockSize, j++) {
        if (pre === 0) digests.push(hashOf(views[j]!));
        else {
          if (o > 0) buf.copy(buf, pre, pre + o, pre + o + blockSize);
          digests.push(hashOf(views[0]!));
        }
      }
      pos += want;
    }
    Buffer.from(out.buffer, out.byteOffset, out.length).write(digests.join(''), 'latin1');
    return out;
  };
}

// The worker, as CommonJS source: an eval worker needs no file next to the CLI bundle. Each
// message is one range; the reply carries its digests in a transferred buffer.
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const fs = require('node:fs');
const hashRange = (${makeRangeHasher.toString()})(fs, require('node:crypto'), { ...workerData, fd: fs.openSync(workerData.path, 'r') });
parentPort.on('message', ({ id, start, end }) => {
  try {
    const digests = hashRange(start, end);
    parentPort.postMessage({ id, digests }, [digests.buffer]);
  } catch (e) {
    parentPort.postMessage({ id, error: String((e && e.message) || e) });
  }
});
`;

/**
 * The fs-verity hasher of the file at `path`, fed with the whole file: call `digest()`,
 * `descriptor()` or (with `keepTree`) `merkleTree()` on the result. Large files are hashed
 * by the calling thread and worker threads; small ones, and any file when `workers` is 0, by
 * the calling thread alone.
 */
export async function fsverityFile(path: string, opts: FsVerityFileOptions = {}): Promise<FsVerityHasher> {
  const algorithm = opts.algorithm ?? 'sha256';
  const hasherOpts: FsVerityOptions = { algorithm, hash: nodeHash(algorithm) };
  if (opts.blockSize !== undefined) hasherOpts.blockSize = opts.blockSize;
  if (opts.salt !== undefined) hasherOpts.salt = opts.salt;
  if (opts.keepTree !== undefined) hasherOpts.keepTree = opts.keepTree;
  const hasher = new FsVerityHasher(hasherOpts);
  let fd: number;
  try {
    fd = fs.openSync(path, 'r');
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    throw new ErofsError('io', `cannot open ${path}: ${err.code ?? err.message}`, { format: 'io', path });
  }
  try {
    const st = fs.fstatSync(fd);
    if (!st.isFile()) {
      // A pipe or a device: its size is known only at its end.
      hashStream(fd, hasher, path);
    } else {
      const workers = Math.max(0, Math.min(opts.workers ?? Math.min(7, availableParallelism() - 1), 64));
      const threshold = opts.threshold ?? 16 << 20;
      await hashRanges(path, fd, st.size, hasher, st.size < threshold ? 0 : workers, opts.rangeBytes ?? 4 << 20);
      // Exactly st.size bytes were read; a file that grew meanwhile is not what we hashed.
      const now = fs.fstatSync(fd).size;
      if (now !== st.size) throw new ErofsError('io', `${path} changed size while being hashed (${st.size} → ${now} bytes)`, { format: 'io', path });
    }
  } finally {
    fs.closeSync(fd);
  }
  return hasher;
}

function hashStream(fd: number, hasher: FsVerityHasher, path: string): void {
  const buf = Buffer.allocUnsafe(READ_BYTES);
  for (let pos = 0; ; ) {
    let n: number;
    try {
      n = fs.readSync(fd, buf, 0, READ_BYTES, null);
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      throw new ErofsError('io', `cannot read ${path} at byte ${pos}: ${err.code ?? err.message}`, { format: 'io', path, offset: pos });
    }
    if (n === 0) return;
    hasher.update(buf.subarray(0, n));
    pos += n;
  }
}

interface Reply {
  id: number;
  digests?: Uint8Array;
  error?: string;
}

/** Ranges a thread may have queued: enough that a worker never waits for the calling thread, which replies only between its own ranges. */
const QUEUED_PER_WORKER = 2;
/** Ranges hashed ahead of the appender, per hashing thread: bounds the reorder buffer. */
const AHEAD_PER_THREAD = 4;

async function hashRanges(path: string, fd: number, size: number, hasher: FsVerityHasher, workerCount: number, rangeBytes: number): Promise<void> {
  const bs = hasher.blockSize;
  const range = Math.max(bs, Math.floor(rangeBytes / bs) * bs);
  const ranges = Math.ceil(size / range);
  if (ranges === 0) return;
  const n = Math.min(workerCount, ranges - 1);
  const { digestSize, blockSize: hashBlockSize } = HASH_SIZES[hasher.algorithm];
  const salt = hasher.salt;
  const saltPrefix = new Uint8Array(salt.length === 0 ? 0 : Math.ceil(salt.length / hashBlockSize) * hashBlockSize);
  saltPrefix.set(salt);
  const readBytes = Math.max(bs, Math.floor(READ_BYTES / bs) * bs);
  const params = { algorithm: hasher.algorithm, blockSize: bs, saltPrefix, digestSize, readBytes };
  const hashHere = makeRangeHasher(fs, crypto, { ...params, fd });
  const startOf = (id: number): number => id * range;
  const endOf = (id: number): number => Math.min(size, (id + 1) * range);
  const pool: Worker[] = [];
  try {
    await new Promise<void>((resolve, reject) => {
      const done = new Map<number, Uint8Array>();
      let next = 0; // next range to hand out
      let appended = 0; // ranges appended to the hasher, in order
      let failed = false;
      let hereScheduled = false;
      const ahead = AHEAD_PER_THREAD * (n + 1);
      const fail = (e: unknown): void => {
        if (failed) return;
        failed = true;
        reject(e instanceof Error ? e : new ErofsError('io', String(e), { format: 'io', path }));
      };
      // A range's digests, from either side: appended in file order, then more work handed
      // out (the calling thread may have stopped for the appender to catch up).
      const complete = (id: number, digests: Uint8Array): void => {
        try {
          done.set(id, digests);
          for (let d = done.get(appended); d !== undefined; d = done.get(appended)) {
            done.delete(appended);
            hasher.appendLeafDigests(d, endOf(appended) - startOf(appended));
            appended++;
          }
        } catch (e) {
          fail(e);
          return;
        }
        if (appended === ranges) return resolve();
        give();
        scheduleHere();
      };
      const inFlight: number[] = [];
      // Hands out ranges to the least busy workers that are up, at most QUEUED_PER_WORKER
      // each. A worker gets none before it is up (45–60 ms here): ranges queued at a booting
      // worker would hold back the appender, and the calling thread would stop at the
      // `ahead` bound with ranges left to hash.
      const give = (): void => {
        while (next < ranges && next - appended < ahead) {
          let best = -1;
          for (let i = 0; i < n; i++) if (inFlight[i]! >= 0 && (best < 0 || inFlight[i]! < inFlight[best]!)) best = i;
          if (best < 0 || inFlight[best]! >= QUEUED_PER_WORKER) return;
          const id = next++;
          inFlight[best]!++;
          pool[best]!.postMessage({ id, start: startOf(id), end: endOf(id) });
        }
      };
      // The calling thread's turn: one range, then back to the event loop, where the workers'
      // replies wait; it comes back while there are ranges left to take.
      const hashOneHere = (): void => {
        hereScheduled = false;
        if (failed || next >= ranges || next - appended >= ahead) return;
        const id = next++;
        let digests: Uint8Array;
        try {
          digests = hashHere(startOf(id), endOf(id));
        } catch (e) {
          const err = e as NodeJS.ErrnoException;
          fail(new ErofsError('io', `${path}: hashing bytes from ${startOf(id)} failed: ${err.code ?? err.message}`, { format: 'io', path, offset: startOf(id) }));
          return;
        }
        complete(id, digests);
      };
      const scheduleHere = (): void => {
        if (hereScheduled || failed || next >= ranges) return;
        hereScheduled = true;
        setImmediate(hashOneHere);
      };
      for (let i = 0; i < n; i++) {
        const w = new Worker(WORKER_SOURCE, { eval: true, workerData: { ...params, path } });
        pool.push(w);
        inFlight.push(-1); // -1: not up yet
        w.on('online', () => {
          inFlight[i] = 0;
          if (!failed) give();
        });
        w.on('error', fail);
        w.on('message', (r: Reply) => {
          if (failed) return;
          inFlight[i]!--;
          if (r.error !== undefined || r.digests === undefined) {
            fail(new ErofsError('io', `${path}: hashing bytes from ${startOf(r.id)} failed: ${r.error ?? 'no result'}`, { format: 'io', path, offset: startOf(r.id) }));
            return;
          }
          complete(r.id, r.digests);
        });
      }
      // The calling thread starts at once; the workers join as they come up.
      scheduleHere();
    });
  } finally {
    await Promise.all(pool.map((w) => w.terminate()));
  }
}
