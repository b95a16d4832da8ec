/**
 * A {@link HashFactory} whose hashing runs on a worker thread, for long streams (a layer's
 * diffID): `update` copies the bytes into a shared ring of slots and returns, the worker
 * hashes them with node:crypto on another core, and `digest` waits for the result. The
 * copy costs a small fraction of the hashing it moves off the calling thread.
 *
 * The two threads meet only through Atomics on a SharedArrayBuffer, so `update` and
 * `digest` stay synchronous like every other Hash. The ring is bounded: a producer faster
 * than the worker waits for a free slot (memory never grows with the input).
 */
import { Worker } from 'node:worker_threads';
import { ErofsError } from '../errors.js';
import type { Hash, HashAlgorithm, HashFactory } from '../digest/hash.js';

const SLOTS = 8;
const SLOT_BYTES = 2 << 20;
/** Control words. */
const HEAD = 0; // slots published by the producer
const TAIL = 1; // slots hashed by the worker
const FINAL = 2; // 1: no more slots will come
const DONE = 3; // 1: the digest is in `result`
const FAILED = 4; // 1: the worker failed; its message is in `result`
const CTRL_WORDS = 8;
/** Longest wait before checking that the worker is still making progress. */
const WAIT_MS = 10_000;

// The worker, as CommonJS source (an eval worker needs no file next to the bundle).
const WORKER_SOURCE = `
const { workerData } = require('node:worker_threads');
const crypto = require('node:crypto');
const { ctrl, sizes, data, result, algorithm, slots, slotBytes } = workerData;
const c = new Int32Array(ctrl), sz = new Int32Array(sizes), res = new Uint8Array(result);
try {
  const h = crypto.createHash(algorithm);
  let tail = 0;
  for (;;) {
    const head = Atomics.load(c, ${HEAD});
    if (tail < head) {
      const s = tail % slots;
      h.update(new Uint8Array(data, s * slotBytes, sz[s]));
      tail++;
      Atomics.store(c, ${TAIL}, tail);
      Atomics.notify(c, ${TAIL});
      continue;
    }
    if (Atomics.load(c, ${FINAL}) === 1 && tail === Atomics.load(c, ${HEAD})) {
      res.set(h.digest());
      Atomics.store(c, ${DONE}, 1);
      Atomics.notify(c, ${DONE});
      break;
    }
    Atomics.wait(c, ${HEAD}, head, 1000);
  }
} catch (e) {
  const msg = Buffer.from(String(e && e.message || e)).subarray(0, res.length);
  res.set(msg);
  Atomics.store(c, ${FAILED}, msg.length);
  Atomics.notify(c, ${DONE});
  Atomics.notify(c, ${TAIL});
}
`;

/** A hash dropped before `digest` (its input failed) must not leave its worker behind. */
const orphans = new FinalizationRegistry<Worker>((w) => void w.terminate());

class ThreadedHash implements Hash {
  private readonly ctrl: Int32Array;
  private readonly sizes: Int32Array;
  private readonly data: Uint8Array;
  private readonly result: Uint8Array;
  private readonly worker: Worker;
  private head = 0;
  /** Bytes already copied into the slot `head` (not yet published). */
  private fill = 0;

  constructor(
    private readonly algorithm: HashAlgorithm,
    private readonly digestSize: number,
  ) {
    const ctrl = new SharedArrayBuffer(CTRL_WORDS * 4);
    const sizes = new SharedArrayBuffer(SLOTS * 4);
    const data = new SharedArrayBuffer(SLOTS * SLOT_BYTES);
    const result = new SharedArrayBuffer(256);
    this.ctrl = new Int32Array(ctrl);
    this.sizes = new Int32Array(sizes);
    this.data = new Uint8Array(data);
    this.result = new Uint8Array(result);
    this.worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { ctrl, sizes, data, result, algorithm, slots: SLOTS, slotBytes: SLOT_BYTES } });
    this.worker.unref();
    orphans.register(this, this.worker, this);
  }

  private failure(): ErofsError | undefined {
    const n = Atomics.load(this.ctrl, FAILED);
    if (n === 0) return undefined;
    return new ErofsError('io', `${this.algorithm} worker failed: ${Buffer.from(this.result.subarray(0, n)).toString()}`, { format: 'io' });
  }

  /** Waits until `index` differs from `value` (or the worker fails, or a long time passes without progress). */
  private await(index: number, value: number, what: string): void {
    for (;;) {
      if (Atomics.load(this.ctrl, index) !== value) return;
      const f = this.failure();
      if (f) throw f;
      if (Atomics.wait(this.ctrl, index, value, WAIT_MS) === 'timed-out' && Atomics.load(this.ctrl, index) === value) {
        throw new ErofsError('io', `${this.algorithm} worker made no progress for ${WAIT_MS / 1000} s (${what})`, { format: 'io' });
      }
    }
  }

  private publish(): void {
    if (this.fill === 0) return;
    this.sizes[this.head % SLOTS] = this.fill;
    this.head++;
    this.fill = 0;
    Atomics.store(this.ctrl, HEAD, this.head);
    Atomics.notify(this.ctrl, HEAD);
  }

  update(b: Uint8Array): this {
    let o = 0;
    while (o < b.length) {
      if (this.fill === 0) {
        // The slot about to be filled must have been hashed.
        for (;;) {
          const tail = Atomics.load(this.ctrl, TAIL);
          if (this.head - tail < SLOTS) break;
          this.await(TAIL, tail, 'waiting for a free slot');
        }
      }
      const n = Math.min(b.length - o, SLOT_BYTES - this.fill);
      this.data.set(b.subarray(o, o + n), (this.head % SLOTS) * SLOT_BYTES + this.fill);
      this.fill += n;
      o += n;
      if (this.fill === SLOT_BYTES) this.publish();
    }
    return this;
  }

  digest(): Uint8Array {
    try {
      this.publish();
      Atomics.store(this.ctrl, FINAL, 1);
      Atomics.notify(this.ctrl, HEAD);
      this.await(DONE, 0, 'finishing');
      const f = this.failure();
      if (f) throw f;
      return this.result.slice(0, this.digestSize);
    } finally {
      orphans.unregister(this);
      void this.worker.terminate();
    }
  }
}

/**
 * SHA-256 on a worker thread: for one long stream per hash (a whole tar). Starting the
 * worker costs some milliseconds; for many short messages use `nodeSha256`.
 */
export const threadedSha256: HashFactory = Object.assign((): Hash => new ThreadedHash('sha256', 32), { algorithm: 'sha256' as const });

// The file hasher, as CommonJS source: reads the descriptor with positioned reads in large
// pieces and hashes them, all on its own thread.
const FILE_WORKER_SOURCE = `
const { workerData, parentPort } = require('node:worker_threads');
const fs = require('node:fs');
const crypto = require('node:crypto');
const { fd, algorithm, chunk } = workerData;
try {
  const h = crypto.createHash(algorithm);
  const buf = Buffer.allocUnsafe(chunk);
  let total = 0;
  for (;;) {
    const n = fs.readSync(fd, buf, 0, buf.length, total);
    if (n === 0) break;
    h.update(n === buf.length ? buf : buf.subarray(0, n));
    total += n;
  }
  parentPort.postMessage({ digest: h.digest(), bytes: total });
} catch (e) {
  parentPort.postMessage({ error: String((e && e.code) || (e && e.message) || e) });
}
`;

/** A whole-file hash running on a worker thread. */
export interface FileHashJob {
  /** The digest and the number of bytes hashed (the file's size when it did not change meanwhile). */
  result: Promise<{ digest: Uint8Array; bytes: number }>;
  /** Stops the worker (when the digest is no longer wanted). */
  cancel(): void;
}

/**
 * Hashes the file open at `fd` from its first byte to its end on a worker thread, which reads
 * it with positioned reads of its own: the calling thread neither reads nor copies the bytes.
 * The descriptor must stay open until `result` settles. `name` is for error messages.
 */
export function hashFileThreaded(fd: number, name: string, algorithm: HashAlgorithm = 'sha256'): FileHashJob {
  // 128 KiB reads stay in the core's cache between read() and the hash: about 1 GB/s of read
  // and SHA-256 here, against 0.7 GB/s with reads of a megabyte or more.
  const worker = new Worker(FILE_WORKER_SOURCE, { eval: true, workerData: { fd, algorithm, chunk: 128 << 10 } });
  let settled = false;
  const result = new Promise<{ digest: Uint8Array; bytes: number }>((resolve, reject) => {
    worker.once('message', (m: { digest?: Uint8Array; bytes?: number; error?: string }) => {
      settled = true;
      if (m.error !== undefined) reject(new ErofsError('io', `cannot read ${name} to hash it: ${m.error}`, { format: 'io', path: name }));
      else resolve({ digest: new Uint8Array(m.digest!), bytes: m.bytes! });
      void worker.terminate();
    });
    worker.once('error', (e) => {
      settled = true;
      reject(new ErofsError('io', `${algorithm} worker for ${name} failed: ${e.message}`, { format: 'io', path: name }));
    });
    worker.once('exit', () => {
      if (!settled) reject(new ErofsError('io', `${algorithm} worker for ${name} stopped before its digest`, { format: 'io', path: name }));
    });
  });
  // A caller that gives up (its pass failed) may never await the result.
  result.catch(() => undefined);
  return {
    result,
    cancel() {
      settled = true;
      void worker.terminate();
    },
  };
}
