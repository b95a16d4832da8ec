/**
 * fs-verity digest of a file with the data level of the Merkle tree hashed by worker
 * threads (ADR 0012). The data level is nearly all of the work (every byte is hashed once
 * there; the levels above hash 1/128 as much with SHA-256 and 4 KiB blocks), and its blocks
 * are independent: the file is cut into block-aligned ranges, each worker opens the file
 * itself, reads its range and hashes every block with node:crypto, and sends back the
 * digests. The calling thread feeds them, in file order, to the one tree implementation of
 * core ({@link FsVerityHasher.appendLeafDigests}), which builds the upper levels, the
 * descriptor and, on request, the stored tree.
 *
 * Memory is bounded whatever the file size: at most `2 × workers` ranges are in flight, and
 * a range's digests are dropped once appended.
 */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { ErofsError } from '../errors.js';
import { FsVerityHasher, type FsVerityOptions } from '../digest/fsverity.js';
import { HASH_SIZES } from '../digest/hash.js';
import { nodeHash } from './digest.js';

export interface FsVerityFileOptions extends Omit<FsVerityOptions, 'hash'> {
  /** Worker threads for the data level; default one per available core (at most 8). 0: hash on the calling thread. */
  workers?: number;
  /** Files smaller than this are hashed on the calling thread (starting workers costs ~10 ms each); default 16 MiB. */
  threshold?: number;
  /** Bytes per work item; rounded down to whole blocks; default 16 MiB. */
  rangeBytes?: number;
}

/**
 * Read size on the calling thread and in the workers. Small on purpose: a buffer that stays in
 * the core's cache is filled by read() and hashed far faster than one of a megabyte or more,
 * which the kernel's copy and the hash each fetch from memory (64 KiB reads + 4 KiB blocks:
 * 647 MB/s against 570 MB/s with 1 MiB on this machine; plain read() 4.2 against 1.4 GB/s).
 */
const READ_BYTES = 64 << 10;

// The worker, as CommonJS source: an eval worker needs no file next to the CLI bundle.
// Each message is one range; the reply carries its digests in a transferred buffer.
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const fs = require('node:fs');
const crypto = require('node:crypto');
const { path, algorithm, blockSize, saltPrefix, digestSize, readBytes } = workerData;
const fd = fs.openSync(path, 'r');
const pre = saltPrefix.length;
const buf = Buffer.allocUnsafe(pre + readBytes);
Buffer.from(saltPrefix).copy(buf, 0);
const ab = buf.buffer;
const base = buf.byteOffset;
// One native call per block is the cost that matters: crypto.hash on a plain Uint8Array view
// with a latin1 string result (copied out a char code at a time) spends about a third less
// per 4 KiB block than a Buffer subarray and a Buffer result.
const hashInto = typeof crypto.hash === 'function'
  ? (at, len, out, k) => {
      const s = crypto.hash(algorithm, new Uint8Array(ab, base + at, len), 'latin1');
      for (let i = 0; i < digestSize; i++) out[k + i] = s.charCodeAt(i);
    }
  : (at, len, out, k) => out.set(crypto.createHash(algorithm).update(buf.subarray(at, at + len)).digest(), k);
parentPort.on('message', ({ id, start, end }) => {
  try {
    const blocks = Math.ceil((end - start) / blockSize);
    const out = new Uint8Array(blocks * digestSize);
    let k = 0;
    for (let pos = start; pos < end; ) {
      const want = Math.min(readBytes, end - pos);
      let got = 0;
      while (got < want) {
        const n = fs.readSync(fd, buf, pre + got, want - got, pos + got);
        if (n === 0) throw new Error('file shrank: end of file at byte ' + (pos + got) + ', expected ' + end);
        got += n;
      }
      // A partial last block is zero-padded, as the tree requires.
      const padded = Math.ceil(want / blockSize) * blockSize;
      buf.fill(0, pre + want, pre + padded);
      for (let o = 0; o < padded; o += blockSize, k++) {
        if (pre === 0) hashInto(o, blockSize, out, k * digestSize);
        else {
          // salt prefix || block: move the block right behind the prefix kept at buf[0, pre).
          if (o > 0) buf.copy(buf, pre, pre + o, pre + o + blockSize);
          hashInto(0, pre + blockSize, out, k * digestSize);
        }
      }
      pos += want;
    }
    parentPort.postMessage({ id, digests: out }, [out.buffer]);
  } catch (e) {
    parentPort.postMessage({ id, error: String((e && e.message) || e) });
  }
});
`;

/**
 * The fs-verity hasher of the file at `path`, fed with the whole file: call `digest()`,
 * `descriptor()` or (with `keepTree`) `merkleTree()` on the result. Large files are hashed
 * by worker threads; small ones, and any file when `workers` is 0, on the calling thread.
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
    fd = openSync(path, 'r');
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    throw new ErofsError('io', `cannot open ${path}: ${err.code ?? err.message}`, { format: 'io', path });
  }
  try {
    const st = fstatSync(fd);
    const workers = Math.max(0, Math.min(opts.workers ?? Math.min(8, availableParallelism()), 64));
    const threshold = opts.threshold ?? 16 << 20;
    if (!st.isFile() || workers === 0 || st.size < threshold) {
      hashOnThisThread(fd, hasher, path);
    } else {
      await hashWithWorkers(path, st.size, hasher, workers, opts.rangeBytes ?? 16 << 20);
      // The workers read exactly st.size bytes; a file that grew meanwhile is not what we hashed.
      const now = fstatSync(fd).size;
      if (now !== st.size) throw new ErofsError('io', `${path} changed size while being hashed (${st.size} → ${now} bytes)`, { format: 'io', path });
    }
  } finally {
    closeSync(fd);
  }
  return hasher;
}

function hashOnThisThread(fd: number, hasher: FsVerityHasher, path: string): void {
  const buf = Buffer.allocUnsafe(READ_BYTES);
  for (let pos = 0; ; ) {
    let n: number;
    try {
      n = readSync(fd, buf, 0, READ_BYTES, null);
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

async function hashWithWorkers(path: string, size: number, hasher: FsVerityHasher, workerCount: number, rangeBytes: number): Promise<void> {
  const bs = hasher.blockSize;
  const range = Math.max(bs, Math.floor(rangeBytes / bs) * bs);
  const ranges = Math.ceil(size / range);
  if (ranges === 0) return;
  const n = Math.min(workerCount, ranges);
  const { digestSize, blockSize: hashBlockSize } = HASH_SIZES[hasher.algorithm];
  const salt = hasher.salt;
  const saltPrefix = new Uint8Array(salt.length === 0 ? 0 : Math.ceil(salt.length / hashBlockSize) * hashBlockSize);
  saltPrefix.set(salt);
  const readBytes = Math.max(bs, Math.floor(READ_BYTES / bs) * bs);
  const workerData = { path, algorithm: hasher.algorithm, blockSize: bs, saltPrefix, digestSize, readBytes };
  const pool: Worker[] = [];
  try {
    await new Promise<void>((resolve, reject) => {
      const done = new Map<number, Uint8Array>();
      let next = 0; // next range to hand out
      let appended = 0; // ranges appended to the hasher, in order
      let failed = false;
      const fail = (e: unknown): void => {
        if (failed) return;
        failed = true;
        reject(e instanceof Error ? e : new ErofsError('io', String(e), { format: 'io', path }));
      };
      const inFlight: number[] = [];
      // Hands out ranges to the least busy workers, at most 2 queued per worker and never
      // more than 2 per worker ahead of the appender (that bounds the reorder buffer).
      const give = (): void => {
        while (next < ranges && next - appended < 2 * n) {
          let best = 0;
          for (let i = 1; i < n; i++) if (inFlight[i]! < inFlight[best]!) best = i;
          if (inFlight[best]! >= 2) return;
          const id = next++;
          inFlight[best]!++;
          pool[best]!.postMessage({ id, start: id * range, end: Math.min(size, (id + 1) * range) });
        }
      };
      for (let i = 0; i < n; i++) {
        const w = new Worker(WORKER_SOURCE, { eval: true, workerData });
        pool.push(w);
        inFlight.push(0);
        w.on('error', fail);
        w.on('message', (r: Reply) => {
          if (failed) return;
          inFlight[i]!--;
          if (r.error !== undefined || r.digests === undefined) {
            fail(new ErofsError('io', `${path}: hashing bytes from ${r.id * range} failed: ${r.error ?? 'no result'}`, { format: 'io', path, offset: r.id * range }));
            return;
          }
          done.set(r.id, r.digests);
          try {
            for (let d = done.get(appended); d !== undefined; d = done.get(appended)) {
              done.delete(appended);
              hasher.appendLeafDigests(d, Math.min(size, (appended + 1) * range) - appended * range);
              appended++;
            }
          } catch (e) {
            fail(e);
            return;
          }
          if (appended === ranges) return resolve();
          give();
        });
      }
      // Two ranges per worker to start, so none waits for the main thread between ranges.
      give();
    });
  } finally {
    await Promise.all(pool.map((w) => w.terminate()));
  }
}
