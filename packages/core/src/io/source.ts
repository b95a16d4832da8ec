/**
 * The one random-access byte source of erofs-kit: a size and `read(offset, length)`.
 * Adapters: bytes in memory and a browser Blob here; a Node file handle behind the `./node`
 * entry. {@link BlockCache} sits on top so that parsers await once per cached block, never
 * once per field.
 */
import { ErofsError, hex } from '../errors.js';

export interface ByteSource {
  /** Total size in bytes. */
  readonly size: number;
  /** A human name for messages (a file path, "stdin", "memory"). */
  readonly name: string;
  /** Reads exactly `length` bytes at `offset` (callers never ask past `size`). */
  read(offset: number, length: number): Promise<Uint8Array>;
  /** Optional synchronous variant for sources that can serve without waiting (memory, Node fd). */
  readSync?(offset: number, length: number): Uint8Array;
  /** Optional: fills `into` with the bytes at `offset` (lets a cache reuse its memory). */
  readInto?(offset: number, into: Uint8Array): void;
  close?(): Promise<void>;
}

/** Bytes already in memory. */
export class MemorySource implements ByteSource {
  readonly size: number;
  constructor(
    private readonly bytes: Uint8Array,
    readonly name = 'memory',
  ) {
    this.size = bytes.length;
  }
  readSync(offset: number, length: number): Uint8Array {
    return this.bytes.subarray(offset, offset + length);
  }
  readInto(offset: number, into: Uint8Array): void {
    into.set(this.bytes.subarray(offset, offset + into.length));
  }
  read(offset: number, length: number): Promise<Uint8Array> {
    return Promise.resolve(this.readSync(offset, length));
  }
}

/** A browser Blob or File (also works with Node's Blob). */
export class BlobSource implements ByteSource {
  readonly size: number;
  constructor(
    private readonly blob: Blob,
    readonly name = 'blob',
  ) {
    this.size = blob.size;
  }
  async read(offset: number, length: number): Promise<Uint8Array> {
    return new Uint8Array(await this.blob.slice(offset, offset + length).arrayBuffer());
  }
}

/** A window [start, start+size) of another source: an appended tar, a device inside a file. */
export class SliceSource implements ByteSource {
  constructor(
    private readonly inner: ByteSource,
    private readonly start: number,
    readonly size: number,
    readonly name = inner.name,
  ) {}
  read(offset: number, length: number): Promise<Uint8Array> {
    return this.inner.read(this.start + offset, length);
  }
  readSync(offset: number, length: number): Uint8Array {
    if (!this.inner.readSync) throw new Error('inner source is async');
    return this.inner.readSync(this.start + offset, length);
  }
}

export interface CacheOptions {
  /** Cached block size in bytes (power of two). Default 64 KiB. */
  blockSize?: number;
  /** Upper bound of cached bytes. Default 32 MiB. */
  maxBytes?: number;
  /**
   * Reuse the memory of evicted blocks for new ones (sources with `readInto` only). Saves
   * the allocation, page faults and garbage collection of one fresh buffer per block read,
   * which dominate a pass over a large image — but then a view returned by `read` is only
   * valid until the next read on this cache. Only for callers that consume bytes at once
   * (the extraction workers); off by default.
   */
  recycle?: boolean;
}

/**
 * LRU block cache over a source. Reads are served from whole cached blocks; a read that
 * spans blocks is assembled. A read past the end of the source is a `truncated` error that
 * names the offset.
 */
export class BlockCache {
  readonly size: number;
  readonly name: string;
  private readonly bits: number;
  private readonly blockSize: number;
  private readonly maxBlocks: number;
  private readonly blocks = new Map<number, Uint8Array>();
  private readonly pending = new Map<number, Promise<Uint8Array>>();
  private readonly recycle: boolean;

  constructor(
    readonly source: ByteSource,
    opts: CacheOptions = {},
  ) {
    this.size = source.size;
    this.name = source.name;
    this.blockSize = opts.blockSize ?? 65536;
    this.bits = Math.log2(this.blockSize);
    if (!Number.isInteger(this.bits)) throw new RangeError('cache block size must be a power of two');
    this.maxBlocks = Math.max(4, Math.floor((opts.maxBytes ?? 32 << 20) / this.blockSize));
    this.recycle = opts.recycle === true && source.readInto !== undefined;
  }

  private check(offset: number, length: number): void {
    if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0 || offset + length > this.size) {
      throw new ErofsError('truncated', `read of ${length} bytes at ${hex(offset)} runs past the end of ${this.name} (${this.size} bytes)`, {
        offset,
        length,
      });
    }
  }

  private remember(idx: number, b: Uint8Array): Uint8Array {
    this.blocks.set(idx, b);
    if (this.blocks.size > this.maxBlocks) {
      const first = this.blocks.keys().next().value as number;
      this.blocks.delete(first);
    }
    return b;
  }

  private blockLen(idx: number): number {
    const start = idx * this.blockSize;
    return Math.min(this.blockSize, this.size - start);
  }

  private lastIdx = -1;
  private lastBlock: Uint8Array | undefined;

  private getSync(idx: number): Uint8Array | undefined {
    if (idx === this.lastIdx) return this.lastBlock;
    const b = this.getSyncSlow(idx);
    if (b) {
      this.lastIdx = idx;
      this.lastBlock = b;
    }
    return b;
  }

  private getSyncSlow(idx: number): Uint8Array | undefined {
    const b = this.blocks.get(idx);
    if (b) {
      // refresh LRU position
      this.blocks.delete(idx);
      this.blocks.set(idx, b);
      return b;
    }
    const len = this.blockLen(idx);
    if (this.recycle && this.blocks.size >= this.maxBlocks) {
      // Evict the least recently used block and read into its memory.
      const victim = this.blocks.keys().next().value as number;
      const mem = this.blocks.get(victim)!;
      this.blocks.delete(victim);
      if (victim === this.lastIdx) this.lastIdx = -1;
      if (mem.length === len) {
        this.source.readInto!(idx * this.blockSize, mem);
        return this.remember(idx, mem);
      }
    }
    if (this.source.readSync) return this.remember(idx, this.source.readSync(idx * this.blockSize, len));
    return undefined;
  }

  private async getAsync(idx: number): Promise<Uint8Array> {
    const hit = this.getSync(idx);
    if (hit) return hit;
    let p = this.pending.get(idx);
    if (!p) {
      p = this.source.read(idx * this.blockSize, this.blockLen(idx)).then((b) => {
        this.pending.delete(idx);
        return this.remember(idx, b);
      });
      this.pending.set(idx, p);
    }
    return p;
  }

  /**
   * Synchronous read when every block is cached or the source is synchronous; otherwise
   * undefined (use {@link read}).
   */
  tryReadSync(offset: number, length: number): Uint8Array | undefined {
    this.check(offset, length);
    if (length === 0) return new Uint8Array(0);
    const first = offset >>> 0 === offset ? offset >>> this.bits : Math.floor(offset / this.blockSize);
    const last = Math.floor((offset + length - 1) / this.blockSize);
    if (first === last) {
      const b = this.getSync(first);
      if (!b) return undefined;
      const s = offset - first * this.blockSize;
      return b.subarray(s, s + length);
    }
    const out = new Uint8Array(length);
    for (let i = first; i <= last; i++) {
      const b = this.getSync(i);
      if (!b) return undefined;
      this.copyInto(out, offset, i, b);
    }
    return out;
  }

  private copyInto(out: Uint8Array, offset: number, i: number, b: Uint8Array): void {
    const bstart = i * this.blockSize;
    const from = Math.max(offset, bstart);
    const to = Math.min(offset + out.length, bstart + b.length);
    out.set(b.subarray(from - bstart, to - bstart), from - offset);
  }

  /** Reads `length` bytes at `offset`. The result may alias the cache: do not modify it. */
  async read(offset: number, length: number): Promise<Uint8Array> {
    const fast = this.tryReadSync(offset, length);
    if (fast) return fast;
    const first = Math.floor(offset / this.blockSize);
    const last = Math.floor((offset + length - 1) / this.blockSize);
    if (first === last) {
      const b = await this.getAsync(first);
      const s = offset - first * this.blockSize;
      return b.subarray(s, s + length);
    }
    const out = new Uint8Array(length);
    for (let i = first; i <= last; i++) this.copyInto(out, offset, i, await this.getAsync(i));
    return out;
  }

  /**
   * Reads a large range directly from the source, bypassing the cache (file data: caching it
   * would only evict metadata).
   */
  async readThrough(offset: number, length: number): Promise<Uint8Array> {
    this.check(offset, length);
    if (length === 0) return new Uint8Array(0);
    if (this.source.readSync) return this.source.readSync(offset, length);
    return this.source.read(offset, length);
  }
}
