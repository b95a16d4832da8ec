/**
 * Bytes at known image offsets, possibly with gaps: what a hex dump of part of an image
 * holds. Reads never throw; a read that is not wholly present says so.
 */

export interface Segment {
  /** Image offset of the first byte. */
  offset: number;
  bytes: Uint8Array;
}

export class ByteMap {
  /** Sorted, non-overlapping, non-adjacent runs of present bytes. */
  readonly segments: readonly Segment[];
  /** Number of present bytes. */
  readonly length: number;

  constructor(segments: readonly Segment[]) {
    const sorted = segments.filter((s) => s.bytes.length > 0 && Number.isSafeInteger(s.offset) && s.offset >= 0).sort((a, b) => a.offset - b.offset);
    const out: Segment[] = [];
    for (const s of sorted) {
      const last = out[out.length - 1];
      const lastEnd = last ? last.offset + last.bytes.length : -1;
      if (last && s.offset <= lastEnd) {
        // Overlapping or adjacent: join, earlier bytes win where they overlap.
        const end = Math.max(lastEnd, s.offset + s.bytes.length);
        if (end === lastEnd) continue;
        const merged = new Uint8Array(end - last.offset);
        merged.set(last.bytes, 0);
        merged.set(s.bytes.subarray(lastEnd - s.offset), lastEnd - last.offset);
        out[out.length - 1] = { offset: last.offset, bytes: merged };
      } else {
        out.push(s);
      }
    }
    this.segments = out;
    this.length = out.reduce((n, s) => n + s.bytes.length, 0);
  }

  static of(bytes: Uint8Array, offset = 0): ByteMap {
    return new ByteMap([{ offset, bytes }]);
  }

  /** First present offset (0 when empty). */
  get start(): number {
    return this.segments[0]?.offset ?? 0;
  }

  /** One past the last present offset (0 when empty). */
  get end(): number {
    const s = this.segments[this.segments.length - 1];
    return s ? s.offset + s.bytes.length : 0;
  }

  /** Index of the segment containing `off`, or -1. */
  private find(off: number): number {
    let lo = 0;
    let hi = this.segments.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      const s = this.segments[mid]!;
      if (off < s.offset) hi = mid - 1;
      else if (off >= s.offset + s.bytes.length) lo = mid + 1;
      else return mid;
    }
    return -1;
  }

  /** True when every byte of [off, off+len) is present. */
  has(off: number, len: number): boolean {
    if (!Number.isSafeInteger(off) || !Number.isSafeInteger(len) || off < 0 || len < 0) return false;
    if (len === 0) return true;
    const i = this.find(off);
    if (i < 0) return false;
    const s = this.segments[i]!;
    return off + len <= s.offset + s.bytes.length;
  }

  /** True when any byte of [off, off+len) is present. */
  any(off: number, len: number): boolean {
    if (!Number.isFinite(off) || !Number.isFinite(len) || len <= 0) return false;
    const end = off + len;
    // First segment ending after off.
    let lo = 0;
    let hi = this.segments.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const s = this.segments[mid]!;
      if (s.offset + s.bytes.length <= off) lo = mid + 1;
      else hi = mid;
    }
    const s = this.segments[lo];
    return s !== undefined && s.offset < end;
  }

  /** The bytes of [off, off+len) when all are present (a view, no copy), else undefined. */
  get(off: number, len: number): Uint8Array | undefined {
    if (!this.has(off, len)) return undefined;
    if (len === 0) return new Uint8Array(0);
    const s = this.segments[this.find(off)]!;
    return s.bytes.subarray(off - s.offset, off - s.offset + len);
  }

  /** Byte at `off`, or undefined. */
  u8(off: number): number | undefined {
    const i = this.find(off);
    return i < 0 ? undefined : this.segments[i]!.bytes[off - this.segments[i]!.offset];
  }

  u16(off: number): number | undefined {
    const b = this.get(off, 2);
    return b ? b[0]! | (b[1]! << 8) : undefined;
  }

  u32(off: number): number | undefined {
    const b = this.get(off, 4);
    return b ? (b[0]! | (b[1]! << 8) | (b[2]! << 16) | (b[3]! << 24)) >>> 0 : undefined;
  }

  /**
   * The bytes of [off, off+len) with absent ones as zero, and which are present. `len` is
   * capped by the caller; this copies.
   */
  read(off: number, len: number): { bytes: Uint8Array; present: (i: number) => boolean } {
    const direct = this.get(off, len);
    if (direct) return { bytes: direct, present: () => true };
    const bytes = new Uint8Array(len);
    const mask = new Uint8Array(len);
    for (const [s, e] of this.ranges(off, off + len)) {
      const seg = this.segments[this.find(s)]!;
      bytes.set(seg.bytes.subarray(s - seg.offset, e - seg.offset), s - off);
      mask.fill(1, s - off, e - off);
    }
    return { bytes, present: (i) => mask[i] === 1 };
  }

  /** Present sub-ranges [s, e) of [from, to), in order. */
  *ranges(from: number, to: number): Generator<[number, number]> {
    let lo = 0;
    let hi = this.segments.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const s = this.segments[mid]!;
      if (s.offset + s.bytes.length <= from) lo = mid + 1;
      else hi = mid;
    }
    for (let i = lo; i < this.segments.length; i++) {
      const s = this.segments[i]!;
      if (s.offset >= to) break;
      yield [Math.max(from, s.offset), Math.min(to, s.offset + s.bytes.length)];
    }
  }
}
