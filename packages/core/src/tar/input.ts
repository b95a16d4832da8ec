/**
 * The two ways the tar reader consumes bytes, behind one small interface: a stream (an async
 * iterable of chunks of any size, read strictly in order) and a seekable {@link ByteSource}
 * (read in large windows; data nobody wants is jumped over when no tap needs it).
 * Both keep an absolute position, so every offset the reader reports is exact.
 */
import { ErofsError, hex } from '../errors.js';
import type { ByteSource } from '../io/source.js';
import { copyBytes } from './numbers.js';

export interface TarInput {
  /** Absolute offset of the next unread byte. */
  readonly pos: number;
  /** Size of the whole input when known in advance (seekable inputs). */
  readonly size: number | undefined;
  /** `n` bytes at `pos` when they are at hand without waiting; advances `pos`. Valid until the next call. */
  tryRead(n: number): Uint8Array | undefined;
  /** `n` bytes at `pos` when they are at hand in one piece, without advancing. Valid until the next call. */
  peek(n: number): Uint8Array | undefined;
  /** Whether {@link trySkip} of `n` bytes would succeed now. */
  canSkip(n: number): boolean;
  /** `n` bytes at `pos` (fewer only at the end of the input); advances `pos`. Valid until the next call. */
  read(n: number): Promise<Uint8Array>;
  /** Like {@link read}, but the result is the caller's to keep (never a view of a reused buffer). */
  readOwned(n: number): Promise<Uint8Array>;
  /** Advances `pos` by `n` (less at the end of the input); returns the bytes skipped. */
  skip(n: number): Promise<number>;
  /**
   * Advances `pos` by `n` when that needs no waiting and does not reach past the end of the
   * input; otherwise changes nothing and returns false (then call {@link skip}). Spares an
   * await per skip on the hot path.
   */
  trySkip(n: number): boolean;
  /**
   * Consumes the rest of the input. Returns the total bytes in the input and the offset of
   * the first non-zero byte at or after `pos`, if any.
   */
  drain(): Promise<{ total: number; nonZeroAt: number | undefined }>;
  /** Releases the underlying stream when the reader stops early. */
  close(): Promise<void>;
}

const EMPTY = new Uint8Array(0);

function firstNonZero(b: Uint8Array): number {
  for (let i = 0; i < b.length; i++) if (b[i] !== 0) return i;
  return -1;
}

/**
 * The same bytes as a plain Uint8Array view. Node Buffers are a Uint8Array subclass whose
 * `subarray` is several times slower, and the reader takes a dozen subarrays per header.
 */
function plain(b: Uint8Array): Uint8Array {
  return Object.getPrototypeOf(b) === Uint8Array.prototype ? b : new Uint8Array(b.buffer, b.byteOffset, b.length);
}

export function isByteSource(x: unknown): x is ByteSource {
  return typeof x === 'object' && x !== null && typeof (x as ByteSource).read === 'function' && typeof (x as ByteSource).size === 'number';
}

type ChunkIterator = AsyncIterator<Uint8Array> | Iterator<Uint8Array>;

/** The part of a web ReadableStream used here (browsers where streams are not async-iterable yet). */
interface WebStream {
  getReader(): { read(): Promise<{ done: boolean; value?: Uint8Array }>; cancel(reason?: unknown): Promise<void> };
}

function webStreamIterator(s: WebStream): AsyncIterator<Uint8Array> {
  const reader = s.getReader();
  return {
    next: async () => {
      const r = await reader.read();
      return r.done || r.value === undefined ? { done: true, value: undefined } : { done: false, value: r.value };
    },
    return: async () => {
      await reader.cancel();
      return { done: true, value: undefined };
    },
  };
}

/** Sequential input: chunks are pulled on demand, each passed to `tap` once as it arrives. */
export class StreamInput implements TarInput {
  readonly size = undefined;
  pos = 0;
  private chunks: Uint8Array[] = [];
  private head = 0; // offset of the first unread byte in chunks[0]
  private buffered = 0;
  private received = 0;
  private done = false;
  private readonly it: ChunkIterator;

  constructor(
    input: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
    private readonly tap: ((chunk: Uint8Array) => void) | undefined,
  ) {
    const a = input as AsyncIterable<Uint8Array> & Partial<WebStream>;
    if (typeof a[Symbol.asyncIterator] === 'function') this.it = a[Symbol.asyncIterator]();
    else if (typeof a.getReader === 'function') this.it = webStreamIterator(a as WebStream);
    else this.it = (input as Iterable<Uint8Array>)[Symbol.iterator]();
  }

  private async pull(): Promise<boolean> {
    while (!this.done) {
      const r = await this.it.next();
      if (r.done) {
        this.done = true;
        return false;
      }
      const c: unknown = r.value;
      if (!(c instanceof Uint8Array)) {
        throw new ErofsError('io', `tar input chunk at ${hex(this.received)} is not a Uint8Array`, { offset: this.received, format: 'io' });
      }
      if (c.length === 0) continue;
      this.tap?.(c);
      this.chunks.push(plain(c));
      this.buffered += c.length;
      this.received += c.length;
      return true;
    }
    return false;
  }

  private take(n: number): Uint8Array {
    if (n === 0) return EMPTY;
    const first = this.chunks[0] as Uint8Array;
    const avail = first.length - this.head;
    let out: Uint8Array;
    if (avail >= n) {
      out = first.subarray(this.head, this.head + n);
      this.advance(n);
    } else {
      out = new Uint8Array(n);
      this.copyTo(out, 0, n);
    }
    this.pos += n;
    return out;
  }

  /** Copies `n` buffered bytes into `out` at `at` and consumes them. */
  private copyTo(out: Uint8Array, at: number, n: number): void {
    let o = at;
    let left = n;
    while (left > 0) {
      const c = this.chunks[0] as Uint8Array;
      const k = Math.min(left, c.length - this.head);
      out.set(c.subarray(this.head, this.head + k), o);
      o += k;
      left -= k;
      this.advance(k);
    }
  }

  private advance(k: number): void {
    this.head += k;
    this.buffered -= k;
    const c = this.chunks[0] as Uint8Array;
    if (this.head === c.length) {
      this.chunks.shift();
      this.head = 0;
    }
  }

  tryRead(n: number): Uint8Array | undefined {
    return this.buffered >= n ? this.take(n) : undefined;
  }

  peek(n: number): Uint8Array | undefined {
    const c = this.chunks[0];
    return c !== undefined && c.length - this.head >= n ? c.subarray(this.head, this.head + n) : undefined;
  }

  canSkip(n: number): boolean {
    return n >= 0 && this.buffered >= n;
  }

  async read(n: number): Promise<Uint8Array> {
    while (this.buffered < n && (await this.pull()));
    return this.take(Math.min(n, this.buffered));
  }

  async readOwned(n: number): Promise<Uint8Array> {
    // A header may claim far more data than the stream holds: the buffer grows with the bytes
    // that arrive (doubling from 1 MiB), so memory follows the input, not the claim.
    let out = new Uint8Array(Math.min(n, 1 << 20));
    let filled = 0;
    while (filled < n) {
      if (this.buffered === 0 && !(await this.pull())) break;
      if (filled === out.length) {
        const grown = new Uint8Array(Math.min(n, out.length * 2));
        grown.set(out);
        out = grown;
      }
      const k = Math.min(out.length - filled, this.buffered);
      this.copyTo(out, filled, k);
      filled += k;
    }
    this.pos += filled;
    return filled === n ? out : out.subarray(0, filled);
  }

  trySkip(n: number): boolean {
    if (this.buffered < n) return false;
    let left = n;
    while (left > 0) {
      const c = this.chunks[0] as Uint8Array;
      const k = Math.min(left, c.length - this.head);
      this.advance(k);
      left -= k;
    }
    this.pos += n;
    return true;
  }

  async skip(n: number): Promise<number> {
    let left = n;
    while (left > 0) {
      if (this.buffered === 0 && !(await this.pull())) break;
      while (left > 0 && this.buffered > 0) {
        const c = this.chunks[0] as Uint8Array;
        const k = Math.min(left, c.length - this.head);
        this.advance(k);
        left -= k;
      }
    }
    this.pos += n - left;
    return n - left;
  }

  async drain(): Promise<{ total: number; nonZeroAt: number | undefined }> {
    let nonZeroAt: number | undefined;
    for (;;) {
      while (this.buffered > 0) {
        const c = this.chunks[0] as Uint8Array;
        const part = c.subarray(this.head);
        if (nonZeroAt === undefined) {
          const i = firstNonZero(part);
          if (i >= 0) nonZeroAt = this.pos + i;
        }
        this.pos += part.length;
        this.advance(part.length);
      }
      if (!(await this.pull())) break;
    }
    return { total: this.received, nonZeroAt };
  }

  async close(): Promise<void> {
    if (this.done) return;
    this.done = true;
    this.chunks = [];
    this.buffered = 0;
    await this.it.return?.();
  }
}

/** Smallest and largest window of sequential reads; the window grows while reads stay sequential. */
const MIN_WINDOW = 64 << 10;
/**
 * Windows of at most 128 KiB: read() into a buffer that stays in the core's cache, then parsed
 * and hashed while it is still there, beats reading a megabyte (the kernel's copy and the
 * parser then each fetch it from memory): 10 % less time indexing 200,000 small files here.
 */
const MAX_WINDOW = 128 << 10;

/**
 * Random-access input. Headers and small data are served from a window of up to 128 KiB read in
 * one call. With a tap every byte is read once, in order, in large reads; without one,
 * skipped data is jumped over and never read.
 */
export class SeekInput implements TarInput {
  readonly size: number;
  pos = 0;
  private win: Uint8Array = EMPTY;
  private winStart = 0;
  private step = MIN_WINDOW;
  /** Everything before this offset has been passed to the tap. */
  private tapped = 0;
  private sync: ((offset: number, length: number) => Uint8Array) | undefined;
  /**
   * One buffer that every window is read into when the source can fill a buffer: what the
   * reader gets is valid until its next call anyway, and reusing the memory spares a fresh
   * megabyte (page faults, garbage collection) per window.
   */
  private scratch: Uint8Array | undefined;

  constructor(
    private readonly src: ByteSource,
    private readonly tap: ((chunk: Uint8Array) => void) | undefined,
  ) {
    this.size = src.size;
    this.sync = src.readSync?.bind(src);
  }

  private async load(at: number, len: number): Promise<Uint8Array> {
    if (len === 0) return EMPTY;
    let b: Uint8Array | undefined;
    if (this.src.readInto && len <= MAX_WINDOW) {
      this.scratch ??= new Uint8Array(MAX_WINDOW);
      b = this.scratch.subarray(0, len);
      this.src.readInto(at, b);
      return b;
    }
    if (this.sync) {
      try {
        b = this.sync(at, len);
      } catch {
        // e.g. a SliceSource over an async source: use the async read from now on
        this.sync = undefined;
      }
    }
    b ??= await this.src.read(at, len);
    if (b.length !== len) {
      throw new ErofsError('truncated', `${this.src.name}: read of ${len} bytes at ${hex(at)} returned ${b.length}`, { offset: at, length: len, format: 'io' });
    }
    return plain(b);
  }

  /** Reads [at, at+len), tapping what lies beyond `tapped` (and first everything before `at`). */
  private async get(at: number, len: number): Promise<Uint8Array> {
    if (this.tap) {
      while (this.tapped < at) {
        const k = Math.min(MAX_WINDOW, at - this.tapped);
        const b = await this.load(this.tapped, k);
        this.tap(b);
        this.tapped += k;
      }
    }
    const b = await this.load(at, len);
    if (this.tap && at + len > this.tapped) {
      this.tap(at === this.tapped ? b : b.subarray(this.tapped - at));
      this.tapped = at + len;
    }
    return b;
  }

  /** Makes the window cover [pos, pos+n) (n already clipped to the input). */
  private async fill(n: number): Promise<void> {
    // Everything is read anyway with a tap; otherwise grow the window while reads stay sequential
    // and start small again after a jump over skipped data.
    const sequential = this.pos >= this.winStart && this.pos <= this.winStart + this.win.length;
    this.step = this.tap ? MAX_WINDOW : sequential ? Math.min(this.step * 2, MAX_WINDOW) : MIN_WINDOW;
    const len = Math.min(Math.max(n, this.step), this.size - this.pos);
    this.win = await this.get(this.pos, len);
    this.winStart = this.pos;
  }

  private inWindow(n: number): boolean {
    return this.pos >= this.winStart && this.pos + n <= this.winStart + this.win.length;
  }

  private view(n: number): Uint8Array {
    const s = this.pos - this.winStart;
    this.pos += n;
    return this.win.subarray(s, s + n);
  }

  tryRead(n: number): Uint8Array | undefined {
    return this.inWindow(n) ? this.view(n) : undefined;
  }

  peek(n: number): Uint8Array | undefined {
    if (!this.inWindow(n)) return undefined;
    const s = this.pos - this.winStart;
    return this.win.subarray(s, s + n);
  }

  canSkip(n: number): boolean {
    return n >= 0 && this.pos + n <= this.size;
  }

  async read(n: number): Promise<Uint8Array> {
    const k = Math.max(0, Math.min(n, this.size - this.pos));
    if (k === 0) return EMPTY;
    if (!this.inWindow(k)) await this.fill(k);
    return this.view(k);
  }

  async readOwned(n: number): Promise<Uint8Array> {
    const k = Math.max(0, Math.min(n, this.size - this.pos));
    if (k === 0) return EMPTY;
    if (this.inWindow(k)) return copyBytes(this.view(k));
    const out = new Uint8Array(k);
    let filled = 0;
    if (this.pos >= this.winStart && this.pos < this.winStart + this.win.length) {
      const part = this.win.subarray(this.pos - this.winStart);
      out.set(part);
      filled = part.length;
    }
    const rest = await this.get(this.pos + filled, k - filled);
    out.set(rest, filled);
    this.pos += k;
    this.win = EMPTY;
    this.winStart = this.pos;
    return out;
  }

  trySkip(n: number): boolean {
    if (!this.canSkip(n)) return false;
    this.pos += n;
    return true;
  }

  async skip(n: number): Promise<number> {
    const k = Math.max(0, Math.min(n, this.size - this.pos));
    this.pos += k;
    // With a tap the bytes are read on the next `get` (in order); without one they are never read.
    return k;
  }

  async drain(): Promise<{ total: number; nonZeroAt: number | undefined }> {
    let nonZeroAt: number | undefined;
    let at = this.pos;
    if (at >= this.winStart && at < this.winStart + this.win.length) {
      const i = firstNonZero(this.win.subarray(at - this.winStart));
      if (i >= 0) nonZeroAt = at + i;
      at = this.winStart + this.win.length;
    }
    while (at < this.size && (nonZeroAt === undefined || this.tap)) {
      const k = Math.min(MAX_WINDOW, this.size - at);
      const b = await this.get(at, k);
      if (nonZeroAt === undefined) {
        const i = firstNonZero(b);
        if (i >= 0) nonZeroAt = at + i;
      }
      at += k;
    }
    if (this.tap && this.tapped < this.size) await this.get(this.size, 0);
    this.pos = this.size;
    this.win = EMPTY;
    this.winStart = this.size;
    return { total: this.size, nonZeroAt };
  }

  async close(): Promise<void> {
    this.win = EMPTY;
  }
}
