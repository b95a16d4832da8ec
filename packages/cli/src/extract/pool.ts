/**
 * A small pool of extraction workers. Batches go to the worker with the fewest batches in
 * flight, except that a batch that starts in the directory the previous batch ended in goes
 * to the same worker, so one directory's files are all written by one worker: two threads
 * creating files in one directory contend for its lock and each runs at half speed. When
 * the chosen worker already has MAX_IN_FLIGHT batches, `send` waits, so memory stays
 * bounded whatever the image's size. The first failure stops the pool and is re-thrown by
 * `send` or `drain`.
 */
import { Worker } from 'node:worker_threads';
import { ErofsError } from '@erofs-kit/core';
import type { DoneReply, FileBatch, RangeTask, SplitReply, WorkerInit, WorkerReply } from './protocol.js';

const MAX_IN_FLIGHT = 4;

interface Slot {
  worker: Worker;
  inFlight: number;
}

export class WorkerPool {
  private readonly slots: Slot[] = [];
  private readonly batches = new Map<number, Buffer[]>();
  private failure: Error | undefined;
  private wake: (() => void) | undefined;
  private nextId = 0;
  private lastKey = -1;
  private lastSlot: Slot | undefined;
  /** Range tasks in flight: what to call when each is done. */
  private readonly ranges = new Map<number, () => void>();

  constructor(
    n: number,
    init: WorkerInit,
    /** Called with each finished batch and the paths it was sent with. */
    private readonly onDone: (r: DoneReply, paths: Buffer[]) => void,
    /** Turns a worker's local path (raw bytes as latin1) into the path inside the image. */
    private readonly imagePath: (local: string) => string,
    /**
     * A worker split a big file (its path given): returns what to call as each part (the
     * splitting worker's own range, then each range sent here to another worker) is done.
     */
    private readonly onSplit: (r: SplitReply, path: Buffer) => () => void = () => () => {},
  ) {
    const url = new URL('./extract-worker.js', import.meta.url);
    for (let i = 0; i < n; i++) {
      const worker = new Worker(url, { workerData: init });
      const slot: Slot = { worker, inFlight: 0 };
      worker.on('message', (r: WorkerReply) => this.reply(slot, r));
      worker.on('error', (e) => this.fail(new Error(`extraction worker failed: ${e.message}`)));
      worker.on('exit', (code) => {
        if (code !== 0 && !this.failure) this.fail(new Error(`extraction worker exited with code ${code}`));
      });
      this.slots.push(slot);
    }
  }

  private readonly splitParts = new Map<string, () => void>();

  private reply(slot: Slot, r: WorkerReply): void {
    if (r.kind === 'ready') return;
    try {
      if (r.kind === 'split') {
        const path = this.batches.get(r.id)![r.index]!;
        const partDone = this.onSplit(r, path);
        this.splitParts.set(`${r.id}:${r.index}`, partDone);
        for (const [start, end] of r.ranges) this.sendRange({ path, nid: r.nid, start, end }, slot, partDone);
        return;
      }
      if (r.kind === 'split-done') {
        const key = `${r.id}:${r.index}`;
        const partDone = this.splitParts.get(key)!;
        this.splitParts.delete(key);
        partDone();
        return;
      }
    } catch (e) {
      this.fail(e as Error);
      return;
    }
    if (r.id >= 0) slot.inFlight--;
    if (r.kind === 'done') {
      const range = this.ranges.get(r.id);
      this.ranges.delete(r.id);
      const paths = this.batches.get(r.id)!;
      this.batches.delete(r.id);
      try {
        if (range) range();
        else this.onDone(r, paths);
      } catch (e) {
        this.fail(e as Error);
      }
    } else {
      const path = r.path ? this.imagePath(r.path) : undefined;
      const j = r.error;
      if (j) {
        const p = j.path ?? path;
        this.fail(new ErofsError(j.code, j.message, { format: j.format, ...(j.offset !== undefined ? { offset: j.offset } : {}), ...(j.length !== undefined ? { length: j.length } : {}), ...(p !== undefined ? { path: p } : {}) }));
      } else {
        this.fail(new ErofsError('io', `cannot create ${path ?? '(unknown)'}: ${r.io ?? 'error'}`, { format: 'io', ...(path !== undefined ? { path } : {}) }));
      }
    }
    this.poke();
  }

  private fail(e: Error): void {
    this.failure ??= e;
    this.poke();
  }

  private poke(): void {
    const w = this.wake;
    this.wake = undefined;
    w?.();
  }

  private wait(): Promise<void> {
    return new Promise((resolve) => (this.wake = resolve));
  }

  /** Sends a batch of files, in walk order, from directory `firstDir` to `lastDir` (nids). */
  async send(batch: Omit<FileBatch, 'id'>, paths: Buffer[], firstDir: number, lastDir: number): Promise<void> {
    for (;;) {
      if (this.failure) throw this.failure;
      let best = this.slots[0]!;
      if (firstDir === this.lastKey && this.lastSlot) best = this.lastSlot;
      else for (const s of this.slots) if (s.inFlight < best.inFlight) best = s;
      if (best.inFlight < MAX_IN_FLIGHT) {
        this.lastKey = lastDir;
        this.lastSlot = best;
        best.inFlight++;
        const b: FileBatch = { id: this.nextId++, ...batch };
        this.batches.set(b.id, paths);
        // Cloned, not transferred: a transfer detaches the buffers, and the first detached
        // ArrayBuffer in an isolate deoptimizes all its optimized typed-array code at once.
        best.worker.postMessage(b);
        return;
      }
      await this.wait();
    }
  }

  /**
   * Sends a range of a split file to the least busy worker other than the one that split it.
   * Not held back by MAX_IN_FLIGHT: the worker runs it before its next file, and there is at
   * most one range per worker and split file.
   */
  private sendRange(t: { path: Buffer; nid: number; start: number; end: number }, from: Slot, done: () => void): void {
    let best: Slot | undefined;
    for (const s of this.slots) if (s !== from && (!best || s.inFlight < best.inFlight)) best = s;
    best ??= from;
    best.inFlight++;
    const task: RangeTask = { kind: 'range', id: this.nextId++, path: Uint8Array.from(t.path), nid: t.nid, start: t.start, end: t.end };
    this.batches.set(task.id, [t.path]);
    this.ranges.set(task.id, done);
    best.worker.postMessage(task);
  }

  /** Waits for every batch sent so far. */
  async drain(): Promise<void> {
    for (;;) {
      if (this.failure) throw this.failure;
      if (this.slots.every((s) => s.inFlight === 0)) return;
      await this.wait();
    }
  }

  async close(): Promise<void> {
    await Promise.all(this.slots.map((s) => s.worker.terminate()));
  }
}
