/**
 * A small pool of extraction workers beside the main thread, which writes files too (ADR 0025).
 * A batch goes to the worker with the fewest batches in flight, except that a batch that
 * starts in the directory the previous batch ended in goes to the same worker, so one
 * directory's files are mostly written by one thread: two threads creating files in one
 * directory contend for its lock and each runs at half speed. When no worker has room
 * (MAX_IN_FLIGHT batches), `trySend` says so and the caller writes the batch itself, so
 * memory stays bounded whatever the image's size and the main thread never idles while there
 * is work. The first failure stops the pool and is re-thrown by `trySend` or `drain`.
 */
import { Worker } from 'node:worker_threads';
import { ErofsError } from '@erofs-kit/core';
import type { DoneReply, FileBatch, RangeTask, SplitReply, WorkerInit, WorkerReply } from './protocol.js';

/** A byte range of a split file, and what to call once it is written. */
export interface LocalRange {
  path: Buffer;
  nid: number;
  start: number;
  end: number;
  done: () => void;
}

/** Batches queued at one worker: enough to keep it busy while the main thread writes a batch of its own. */
const MAX_IN_FLIGHT = 3;

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
    /**
     * A range of a split file for the main thread (no other worker to take it): the caller
     * runs it (`writeRange`) at its next chance and then calls `done`.
     */
    private readonly onLocalRange: (t: LocalRange) => void = () => {},
  ) {
    const url = new URL('./extract-worker.cjs', import.meta.url);
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
        this.sendRanges(r.ranges.map(([start, end]) => ({ path, nid: r.nid, start, end, done: partDone })), slot);
        this.poke();
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

  /**
   * Sends a batch of files, in walk order, from directory `firstDir` to `lastDir` (nids), to a
   * worker with room; returns false when none has room (the caller writes the batch itself).
   */
  trySend(batch: Omit<FileBatch, 'id'>, paths: Buffer[], firstDir: number, lastDir: number): boolean {
    if (this.failure) throw this.failure;
    let best: Slot | undefined;
    if (firstDir === this.lastKey && this.lastSlot && this.lastSlot.inFlight < MAX_IN_FLIGHT) best = this.lastSlot;
    else for (const s of this.slots) if (s.inFlight < MAX_IN_FLIGHT && (!best || s.inFlight < best.inFlight)) best = s;
    this.lastKey = lastDir;
    this.lastSlot = best;
    if (!best) return false;
    best.inFlight++;
    const b: FileBatch = { id: this.nextId++, ...batch };
    this.batches.set(b.id, paths);
    // Cloned, not transferred: a transfer detaches the buffers, and the first detached
    // ArrayBuffer in an isolate deoptimizes all its optimized typed-array code at once.
    best.worker.postMessage(b);
    return true;
  }

  /**
   * Sends the ranges of a split file, one to each worker other than the one that split it
   * (`from`; none when the main thread split it), least busy first; a range left over goes
   * to the main thread. Not held back by MAX_IN_FLIGHT: a worker runs a range before its next
   * file, and there is at most one range per thread and split file.
   */
  sendRanges(ranges: LocalRange[], from?: Slot): void {
    const others = this.slots.filter((s) => s !== from).sort((a, b) => a.inFlight - b.inFlight);
    ranges.forEach((t, k) => {
      const to = others[k];
      if (!to) {
        this.onLocalRange(t);
        return;
      }
      to.inFlight++;
      const task: RangeTask = { kind: 'range', id: this.nextId++, path: Uint8Array.from(t.path), nid: t.nid, start: t.start, end: t.end };
      this.batches.set(task.id, [t.path]);
      this.ranges.set(task.id, t.done);
      to.worker.postMessage(task);
    });
  }

  /** Lets the worker replies that arrived meanwhile be handled (the main thread wrote a batch of its own). */
  async yieldToReplies(): Promise<void> {
    await new Promise<void>((resolve) => setImmediate(resolve));
    if (this.failure) throw this.failure;
  }

  /**
   * Waits for every batch sent so far; `runLocal` runs the ranges handed to the main thread
   * (returns whether it ran any) between waits.
   */
  async drain(runLocal: () => Promise<boolean> = async () => false): Promise<void> {
    for (;;) {
      if (this.failure) throw this.failure;
      if (await runLocal()) continue;
      if (this.slots.every((s) => s.inFlight === 0)) return;
      await this.wait();
    }
  }

  async close(): Promise<void> {
    await Promise.all(this.slots.map((s) => s.worker.terminate()));
  }
}
