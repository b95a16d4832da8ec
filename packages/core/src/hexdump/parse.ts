/**
 * Hex-dump text → bytes at image offsets, and every byte ↔ (line, column) in the text.
 * Formats, detected per line by content:
 *  - `xxd` (default, `-g N`, `-c N`, `-u`): `OFFSET: hex groups  ascii`; the hex area ends
 *    at the first double space;
 *  - `hexdump -C`: `OFFSET  hex bytes  |ascii|`;
 *  - `od -A x -t x1z`: `OFFSET hex bytes  >ascii<`.
 * A line holding only `*` repeats the previous line's bytes up to the next line's offset
 * (hexdump, od and `xxd -a`); a line holding only an offset ends the data. Lines starting
 * with `#` are comments; `# erofs:` hint lines are collected. Nothing here throws: lines
 * that are not understood become problems with their column range.
 *
 * Memory is kept per line (typed arrays) and per distinct column layout, not per byte, so a
 * 16 MiB dump costs a few MiB beyond its bytes.
 */
import { ByteMap, type Segment } from '../inspect/bytes.js';
import { emptyHint, isHintLine, parseHintLine, type ErofsHint } from '../inspect/hint.js';
import { XXD_WASM } from './xxd-wasm-module.js';

export type DumpFormat = 'xxd' | 'hexdump-C' | 'od' | 'unknown';

export interface DumpProblem {
  line: number;
  start: number;
  end: number;
  message: string;
  severity: 'error' | 'warning';
}

/** A text range on one line. */
export interface LineRange {
  line: number;
  start: number;
  end: number;
}

/** Scratch space for the line being parsed. */
interface Scratch {
  bytes: Uint8Array;
  /** [hexStart, hexEnd, asciiCol] per byte. */
  cols: Int32Array;
  n: number;
  /** The layout index when the line was read by the fast path (same shape as the line before), else -1. */
  layout: number;
}

/**
 * The shape of the last xxd line read without problems, for the fast path: a line of the same
 * length whose offset has as many digits and whose hex area has hex digits and separators in
 * the same columns is read by position, with that line's layout. The slow path would read it
 * the same way: the tokens, the double space ending the hex area and the ascii columns all
 * follow from those columns and the line's length.
 */
interface Shape {
  /** Line length and the column of the hex area's first character (after the colon). */
  length: number;
  hexStart: number;
  /** Per column from hexStart to the end of the double space: 0 for a hex digit, else the separator's code. */
  codes: Uint8Array;
  /** Columns of the bytes' high digits. */
  digits: Int32Array;
  /** The columns of `codes` that are not hex digits (relative to hexStart) and what each holds. */
  sepCols: Int32Array;
  sepCodes: Uint8Array;
  /** Whether {@link HexDump.fastRun} may read lines of this shape (sepCols and digits cover `codes`). */
  byBytes: boolean;
  layout: number;
}

/** Where {@link HexDump.fastRun} starts (`pos`, `expect`) and where it stopped (`pos`). */
interface FastRun {
  pos: number;
  expect: number;
}

/**
 * How lines are read: `true` (default) reads runs of lines shaped like the one before by
 * position, with the WebAssembly build of the run reader for texts of 16 KiB or more when the
 * platform has WebAssembly; `'wasm'` and `'js'` force one run reader (tests); `false` reads
 * every line on its own (the reference both are tested against).
 */
export type FastPath = boolean | 'js' | 'wasm';

/** Bytes one line may hold (xxd -c allows 256). */
const MAX_LINE_BYTES = 4096;

/** Cap on the bytes all `*` lines of one dump may stand for together. */
const MAX_REPEAT = 1 << 28;

class Growable {
  buf = new Uint8Array(4096);
  len = 0;
  push(b: number): void {
    if (this.len === this.buf.length) this.grow(this.len + 1);
    this.buf[this.len++] = b;
  }
  grow(min: number): void {
    let n = this.buf.length * 2;
    while (n < min) n *= 2;
    const next = new Uint8Array(n);
    next.set(this.buf.subarray(0, this.len));
    this.buf = next;
  }
  take(): Uint8Array {
    const out = this.buf.slice(0, this.len);
    this.len = 0;
    return out;
  }
}

class IntList {
  a: Float64Array;
  n = 0;
  constructor(cap = 1024) {
    this.a = new Float64Array(cap);
  }
  push(x: number): void {
    if (this.n === this.a.length) this.grow(this.n + 1);
    this.a[this.n++] = x;
  }
  /** Appends `count` values: `first`, then each the one before plus `step` (added in turn, as a per-line loop would). */
  pushRun(first: number, count: number, step: number): number {
    if (this.n + count > this.a.length) this.grow(this.n + count);
    const a = this.a;
    if (step === 0) {
      a.fill(first, this.n, this.n + count);
      this.n += count;
      return first;
    }
    let v = first;
    for (let i = this.n, e = this.n + count; i < e; i++) {
      a[i] = v;
      v += step;
    }
    this.n += count;
    return v;
  }
  private grow(min: number): void {
    let cap = this.a.length * 2;
    while (cap < min) cap *= 2;
    const next = new Float64Array(cap);
    next.set(this.a.subarray(0, this.n));
    this.a = next;
  }
  get(i: number): number {
    return this.a[i]!;
  }
}

/** Hex digit values by character code (-1: not a hex digit), for codes below 128. */
const HEX = new Int8Array(128).fill(-1);
for (let c = 0; c < 10; c++) HEX[0x30 + c] = c;
for (let c = 0; c < 6; c++) HEX[0x61 + c] = HEX[0x41 + c] = 10 + c;

/** Byte values of two hex digits by (first code << 7 | second code), -1 when either is not one; codes below 128. */
const HEX2 = new Int16Array(128 * 128).fill(-1);
for (let a = 0; a < 128; a++) {
  if (HEX[a]! < 0) continue;
  for (let b = 0; b < 128; b++) if (HEX[b]! >= 0) HEX2[(a << 7) | b] = HEX[a]! * 16 + HEX[b]!;
}

function hexVal(c: number): number {
  return c < 128 ? HEX[c]! : -1;
}

const ENCODER = new TextEncoder();

/** The text as bytes when every character is ASCII (one byte each, same indexes), else undefined; into `out` when given. */
function asciiBytes(text: string, out: Uint8Array = new Uint8Array(text.length)): Uint8Array | undefined {
  const r = ENCODER.encodeInto(text, out);
  return r.read === text.length && r.written === text.length ? out : undefined;
}

/**
 * Memory layout of the WebAssembly run reader (tools/gen-hexdump-wasm.mjs): the address after
 * the last line read at 0, its hex digit table at 256, the digit columns (u32) at 1024 followed
 * by the separator (column, code) pairs, the table of two-digit values (u16 per pair of
 * characters, 128 KiB) after them, the text at TEXT, the bytes of one call after it.
 */
const WASM_TABLE_WORDS = 16384;
const WASM_TEXT = 1024 + 4 * WASM_TABLE_WORDS + 2 * 65536;
/**
 * Bytes one call may write (it stops after as many whole lines). Small enough for a 1 MiB dump
 * to take 16 calls: V8 runs a WebAssembly function in its baseline code until a call has
 * used up its tier-up budget and only later calls get the optimised code (there is no
 * on-stack replacement), so one long call would run in baseline code throughout.
 */
const WASM_OUT_BYTES = 1 << 16;
/** Below this text length the JavaScript run reader is used (no instance to set up). */
const WASM_MIN_TEXT = 16 << 10;

interface XxdWasm {
  run: (pos: number, end: number, hs: number, len: number, hexEnd: number, nsep: number, n: number, expect: number, maxLines: number, sep: number, out: number) => number;
  mem: Uint8Array;
  words: Uint32Array;
  out: number;
  /** The shape whose tables are in memory. */
  shape: Shape | undefined;
}

interface WasmApi {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { exports: { run: XxdWasm['run']; init: () => void } };
  Memory: new (desc: { initial: number }) => { buffer: ArrayBuffer };
}

let xxdModule: object | null | undefined;

/** Whether xxd runs are read by the WebAssembly run reader on this platform (tests and benchmarks). */
export function xxdRunsInWasm(): boolean {
  return xxdWasm(0) !== undefined;
}

/**
 * A run reader instance whose memory holds a text of `length` characters, or undefined without
 * WebAssembly (or memory for it). One per parse: its memory, sized for the text, is dropped
 * with the parse (never grown, so no ArrayBuffer is ever detached).
 */
function xxdWasm(length: number): XxdWasm | undefined {
  try {
    // (through unknown: the DOM library's WebAssembly types do not know this module's exports)
    const api = (globalThis as unknown as { WebAssembly?: WasmApi }).WebAssembly;
    if (!api || xxdModule === null) return undefined;
    // under 1 KiB: small enough for a synchronous compile on a browser's main thread too
    if (xxdModule === undefined) xxdModule = new api.Module(XXD_WASM);
    const out = WASM_TEXT + Math.ceil(length / 16) * 16;
    const memory = new api.Memory({ initial: Math.ceil((out + WASM_OUT_BYTES) / 65536) });
    const { run, init } = new api.Instance(xxdModule, { env: { memory } }).exports;
    init();
    return { run, mem: new Uint8Array(memory.buffer), words: new Uint32Array(memory.buffer, 0, WASM_TEXT / 4), out, shape: undefined };
  } catch {
    if (xxdModule === undefined) xxdModule = null;
    return undefined;
  }
}

function isSpace(c: number): boolean {
  return c === 0x20 || c === 0x09;
}

/** Whether `text` looks like a hex dump in one of the formats (first data lines decide). */
export function isHexdump(text: string): boolean {
  let seen = 0;
  let good = 0;
  for (const raw of text.slice(0, 8192).split('\n')) {
    const line = raw.replace(/\r$/, '');
    if (line.trim() === '' || line.startsWith('#') || line.trim() === '*') continue;
    seen++;
    if (/^[0-9a-fA-F]{4,16}(:\s|\s+)[0-9a-fA-F]{2}/.test(line) || /^[0-9a-fA-F]{4,16}\s*$/.test(line)) good++;
    if (seen >= 8) break;
  }
  return seen > 0 && good * 2 > seen;
}

export class HexDump {
  format: DumpFormat = 'unknown';
  readonly map: ByteMap;
  readonly hint: ErofsHint = emptyHint();
  readonly problems: DumpProblem[] = [];
  /** Text lines in the document. */
  readonly lineCount: number;
  /** How many of them a run reader read (lines shaped like the one before; the rest were read one by one). */
  runLines = 0;
  /** Per record (one data line or one `*` line), in document order. */
  private readonly recLine: IntList;
  private readonly recOffset: IntList;
  private readonly recCount: IntList;
  /** Column layout index, or -1 for a `*` line (the whole line stands for its bytes). */
  private readonly recLayout: IntList;
  /** Layouts: per byte index, [hexStart, hexEnd, asciiCol] triples. */
  private readonly layouts: Int32Array[] = [];
  private readonly layoutKeys = new Map<string, number>();
  /**
   * Record indexes sorted by offset; undefined when the records in document order are sorted
   * and do not overlap (every dump the tools write), which makes both this and `reach` the
   * identity.
   */
  private readonly byOffset: Int32Array | undefined;
  /**
   * Per position in `byOffset`, the largest record end up to there. Records overlap when an
   * offset goes back, so their ends alone are not sorted; this running maximum is.
   */
  private readonly reach: Float64Array | undefined;
  private readonly lineLen: Int32Array;
  /** The fast path's shape (see {@link Shape}) and the layout of the last data line. */
  private shape: Shape | undefined = undefined;
  private lastLayout = -1;

  /**
   * `maxRepeat`: bytes all `*` lines may stand for together (default 256 MiB). `fast`: how
   * runs of lines shaped like the one before are read ({@link FastPath}; anything but the
   * default only to test that the paths agree).
   */
  constructor(text: string, maxRepeat = MAX_REPEAT, private readonly fast: FastPath = true) {
    let repeatBudget = maxRepeat;
    // Records: about one per line; xxd's default lines are 68 characters.
    const cap = Math.max(1024, Math.min(1 << 22, Math.ceil(text.length / 64)));
    const recLine = new IntList(cap);
    const recOffset = new IntList(cap);
    const recCount = new IntList(cap);
    const recLayout = new IntList(cap);
    const segments: Segment[] = [];
    const cur = new Growable();
    let segStart = -1;
    let expect = -1; // offset right after the last byte
    let pendingStar = -1; // line of a `*` waiting for the next offset
    let lastLen = 0; // bytes of the previous data line, at the end of `cur`
    // Whether every record so far starts at or after the end of all before it, and that end.
    let inOrder = true;
    let maxEnd = -1;
    const noteRecord = (off: number, n: number): void => {
      if (off < maxEnd) inOrder = false;
      maxEnd = Math.max(maxEnd, off + n);
    };
    const sc: Scratch = { bytes: new Uint8Array(MAX_LINE_BYTES), cols: new Int32Array(MAX_LINE_BYTES * 3), n: 0, layout: -1 };
    const flush = (): void => {
      if (segStart >= 0 && cur.len > 0) segments.push({ offset: segStart, bytes: cur.take() });
      cur.len = 0;
      segStart = -1;
    };
    const startAt = (off: number): void => {
      if (off !== expect || segStart < 0) {
        flush();
        segStart = off;
      }
    };
    const repeatTo = (off: number): void => {
      // Bytes of a `*` line: the previous line's bytes repeated from `expect` up to `off`.
      if (pendingStar < 0) return;
      const star = pendingStar;
      pendingStar = -1;
      if (expect < 0 || off <= expect || lastLen === 0 || cur.len < lastLen) return;
      const lastLine = cur.buf.slice(cur.len - lastLen, cur.len);
      const n = off - expect;
      // One budget for the whole dump: a few lines of text must not stand for gigabytes.
      if (n > repeatBudget) {
        this.problems.push({ line: star, start: 0, end: 1, message: `"*" would stand for ${n} bytes; more than ${maxRepeat} in all are not expanded`, severity: 'warning' });
        return;
      }
      repeatBudget -= n;
      if (cur.len + n > cur.buf.length) cur.grow(cur.len + n);
      for (let i = 0; i < n; i++) cur.buf[cur.len + i] = lastLine[i % lastLine.length]!;
      cur.len += n;
      noteRecord(expect, n);
      recLine.push(star);
      recOffset.push(expect);
      recCount.push(n);
      recLayout.push(-1);
      expect = off;
    };

    let lineNo = 0;
    const handler = {
      onComment: (s: string): void => {
        if (isHintLine(s)) {
          for (const p of parseHintLine(s, this.hint)) this.problems.push({ line: lineNo, start: p.start, end: p.end, message: p.message, severity: 'warning' });
        }
      },
      onStar: (): void => {
        pendingStar = lineNo;
      },
      onOffsetOnly: (off: number): void => {
        repeatTo(off);
      },
      onData: (off: number): void => {
        repeatTo(off);
        if (expect >= 0 && off < expect) {
          this.problems.push({ line: lineNo, start: 0, end: 1, message: `offset ${off.toString(16)} goes back before the previous line's end ${expect.toString(16)}; the earlier bytes win`, severity: 'warning' });
        }
        startAt(off);
        const n = sc.n;
        if (cur.len + n > cur.buf.length) cur.grow(cur.len + n);
        const buf = cur.buf;
        const src = sc.bytes;
        for (let b = 0, o = cur.len; b < n; b++, o++) buf[o] = src[b]!;
        cur.len += n;
        lastLen = n;
        noteRecord(off, n);
        recLine.push(lineNo);
        recOffset.push(off);
        recCount.push(n);
        this.lastLayout = sc.layout >= 0 ? sc.layout : this.layoutFor(sc.cols, n);
        recLayout.push(this.lastLayout);
        expect = off + n;
      },
      sc,
    };

    let pos = 0;
    const L = text.length;
    const lineLens = new IntList(cap);
    // Plain ASCII text (every dump the formats write) is also read as bytes, for the run of
    // lines shaped like the one before (xxd's body): one loop, no call per line; in
    // WebAssembly's memory when that reads the runs.
    const wasm = fast === 'wasm' || (fast === true && L >= WASM_MIN_TEXT) ? xxdWasm(L) : undefined;
    const raw = fast ? asciiBytes(text, wasm?.mem.subarray(WASM_TEXT, WASM_TEXT + L)) : undefined;
    const run: FastRun = { pos: 0, expect: -1 };
    while (pos <= L) {
      if (raw && this.shape?.byBytes && pendingStar < 0 && segStart >= 0) {
        const shape = this.shape;
        run.pos = pos;
        run.expect = expect;
        const lines = wasm !== undefined && fast !== 'js' ? this.fastRunWasm(wasm, raw, shape, run, cur) : this.fastRun(raw, shape, run, cur);
        if (lines > 0) {
          // Every line of the run has the shape's length, layout and byte count, and continues the last.
          const n = shape.digits.length;
          lineLens.pushRun(shape.length, lines, 0);
          recLine.pushRun(lineNo, lines, 1);
          const first = expect;
          expect = recOffset.pushRun(expect, lines, n);
          noteRecord(first, expect - first);
          recCount.pushRun(n, lines, 0);
          recLayout.pushRun(shape.layout, lines, 0);
          this.lastLayout = shape.layout;
          lastLen = n;
          lineNo += lines;
          this.runLines += lines;
          pos = run.pos;
          continue;
        }
      }
      let eol = raw ? raw.indexOf(0x0a, pos) : text.indexOf('\n', pos);
      if (eol < 0) eol = L;
      let end = eol;
      if (end > pos && (raw ? raw[end - 1] : text.charCodeAt(end - 1)) === 0x0d) end--;
      lineLens.push(end - pos);
      this.parseLine(text, pos, end, lineNo, handler);
      lineNo++;
      pos = eol + 1;
    }
    flush();
    this.map = new ByteMap(segments);
    this.lineCount = lineNo;
    this.recLine = recLine;
    this.recOffset = recOffset;
    this.recCount = recCount;
    this.recLayout = recLayout;
    if (inOrder) {
      this.byOffset = undefined;
      this.reach = undefined;
    } else {
      const nrec = recLine.n;
      const offs = recOffset.a;
      const counts = recCount.a;
      const order = new Int32Array(nrec);
      for (let i = 0; i < nrec; i++) order[i] = i;
      order.sort((a, b) => offs[a]! - offs[b]! || a - b);
      const reach = new Float64Array(nrec);
      for (let k = 0, m = 0; k < nrec; k++) {
        const r = order[k]!;
        m = Math.max(m, offs[r]! + counts[r]!);
        reach[k] = m;
      }
      this.byOffset = order;
      this.reach = reach;
    }
    this.lineLen = new Int32Array(lineLens.a.subarray(0, lineLens.n));
  }

  /**
   * Reads, from `run.pos`, the lines of `shape` that continue the current segment at image
   * offset `run.expect`: parseLine's fast path in one small loop (no call per line, optimised
   * early). Appends their bytes to `cur` and stops before the first line that differs in any
   * way (that one goes through parseLine, which reads it the same way if it can); returns how
   * many lines it read, and the text position after them in `run.pos`. The caller appends their
   * records. {@link fastRunWasm} is the same loop in WebAssembly.
   */
  private fastRun(raw: Uint8Array, shape: Shape, run: FastRun, cur: Growable): number {
    const L = raw.length;
    const hs = shape.hexStart;
    const sepCols = shape.sepCols;
    const sepCodes = shape.sepCodes;
    const digits = shape.digits;
    const n = digits.length;
    if (hs < 2 || hs > 17) return 0;
    let pos = run.pos;
    let expect = run.expect;
    let lines = 0;
    const hexEnd = hs + shape.codes.length; // the columns checked below, none of them a line end
    while (pos + shape.length <= L) {
      if (raw[pos + hs - 1] !== 0x3a) break;
      let off = 0;
      let ok = true;
      for (let k = pos; k < pos + hs - 1; k++) {
        const v = HEX[raw[k]!]!;
        if (v < 0) {
          ok = false;
          break;
        }
        off = off * 16 + v;
      }
      if (!ok || off !== expect) break;
      // The separators, then the digits: together every column of `codes`.
      const j = pos + hs;
      for (let k = 0; k < sepCols.length; k++) {
        if (raw[j + sepCols[k]!] !== sepCodes[k]) {
          ok = false;
          break;
        }
      }
      if (!ok) break;
      if (cur.len + n > cur.buf.length) cur.grow(cur.len + n);
      const buf = cur.buf;
      for (let b = 0, o = cur.len; b < n; b++, o++) {
        const p = pos + digits[b]!;
        const v = HEX2[(raw[p]! << 7) | raw[p + 1]!]!;
        if (v < 0) {
          ok = false;
          break;
        }
        buf[o] = v;
      }
      if (!ok) break; // bytes written past cur.len are not kept
      // The line end: after the checked columns (a scan of the ascii column, no indexOf call).
      let eol = pos + hexEnd;
      while (eol < L && raw[eol] !== 0x0a) eol++;
      let end = eol;
      if (raw[end - 1] === 0x0d) end--;
      if (end - pos !== shape.length) break;
      cur.len += n;
      expect = off + n;
      lines++;
      pos = eol + 1;
    }
    run.pos = pos;
    return lines;
  }

  /**
   * {@link fastRun} in WebAssembly (tools/gen-hexdump-wasm.mjs), on the text `raw` in the
   * instance's memory: the same lines read the same way, at most WASM_OUT_BYTES of bytes per
   * call (the caller calls again). Shapes whose tables do not fit its table area go to fastRun.
   */
  private fastRunWasm(w: XxdWasm, raw: Uint8Array, shape: Shape, run: FastRun, cur: Growable): number {
    const hs = shape.hexStart;
    const n = shape.digits.length;
    const nsep = shape.sepCols.length;
    if (hs < 2 || hs > 17) return 0;
    if (n + 2 * nsep > WASM_TABLE_WORDS) return this.fastRun(raw, shape, run, cur);
    const words = w.words;
    if (w.shape !== shape) {
      words.set(shape.digits, 256);
      for (let k = 0; k < nsep; k++) {
        words[256 + n + 2 * k] = shape.sepCols[k]!;
        words[256 + n + 2 * k + 1] = shape.sepCodes[k]!;
      }
      w.shape = shape;
    }
    const lines = w.run(WASM_TEXT + run.pos, WASM_TEXT + raw.length, hs, shape.length, hs + shape.codes.length, nsep, n, run.expect, Math.floor(WASM_OUT_BYTES / n), 1024 + 4 * n, w.out);
    if (lines === 0) return 0;
    const bytes = lines * n;
    if (cur.len + bytes > cur.buf.length) cur.grow(cur.len + bytes);
    cur.buf.set(w.mem.subarray(w.out, w.out + bytes), cur.len);
    cur.len += bytes;
    run.pos = words[0]! - WASM_TEXT;
    return lines;
  }

  private layoutFor(cols: Int32Array, n: number): number {
    const last = this.layouts[this.layouts.length - 1];
    if (last && last.length === n * 3) {
      let same = true;
      for (let i = 0; i < n * 3; i++) {
        if (last[i] !== cols[i]) {
          same = false;
          break;
        }
      }
      if (same) return this.layouts.length - 1;
    }
    const key = cols.subarray(0, n * 3).join(',');
    const hit = this.layoutKeys.get(key);
    if (hit !== undefined) return hit;
    this.layouts.push(cols.slice(0, n * 3));
    this.layoutKeys.set(key, this.layouts.length - 1);
    return this.layouts.length - 1;
  }

  private problem(line: number, lineStart: number, start: number, end: number, message: string): void {
    this.problems.push({ line, start: start - lineStart, end: Math.max(end, start + 1) - lineStart, message, severity: 'error' });
  }

  private parseLine(
    text: string,
    s: number,
    e: number,
    lineNo: number,
    h: {
      onComment: (line: string) => void;
      onStar: () => void;
      onOffsetOnly: (off: number) => void;
      onData: (off: number) => void;
      sc: Scratch;
    },
  ): void {
    let i = s;
    while (i < e && isSpace(text.charCodeAt(i))) i++;
    if (i === e) return;
    const c0 = text.charCodeAt(i);
    if (c0 === 0x23 /* # */) {
      h.onComment(text.slice(s, e));
      return;
    }
    if (c0 === 0x2a /* * */) {
      let j = i + 1;
      while (j < e && isSpace(text.charCodeAt(j))) j++;
      if (j === e) {
        h.onStar();
        return;
      }
    }
    // Offset.
    let off = 0;
    let j = i;
    while (j < e && j - i < 16) {
      const v = hexVal(text.charCodeAt(j));
      if (v < 0) break;
      off = off * 16 + v;
      j++;
    }
    if (j === i || (j < e && !isSpace(text.charCodeAt(j)) && text.charCodeAt(j) !== 0x3a)) {
      this.problem(lineNo, s, i, e, 'not a hex-dump line: expected an offset in hex, then bytes (xxd, hexdump -C or od -A x -t x1z)');
      return;
    }
    const xxd = text.charCodeAt(j) === 0x3a;
    if (xxd) j++;
    const sc = h.sc;
    const cols = sc.cols;
    const bytes = sc.bytes;
    sc.n = 0;
    sc.layout = -1;
    const shape = this.shape;
    if (xxd && shape && this.fast && e - s === shape.length && j - s === shape.hexStart && this.fastLine(text, j, shape, sc)) {
      h.onData(off);
      return;
    }
    const problemsBefore = this.problems.length;
    // Hex area end and ascii start.
    let hexEnd = e;
    let asciiCol = -1;
    if (xxd) {
      const dbl = text.indexOf('  ', j + 1);
      if (dbl >= 0 && dbl < e) {
        hexEnd = dbl;
        asciiCol = dbl + 2 - s;
      }
    } else {
      for (let k = j; k < e; k++) {
        const c = text.charCodeAt(k);
        if (c === 0x7c /* | */ || c === 0x3e /* > */) {
          hexEnd = k;
          asciiCol = k + 1 - s;
          break;
        }
      }
    }
    let k = j;
    while (k < hexEnd) {
      while (k < hexEnd && isSpace(text.charCodeAt(k))) k++;
      if (k >= hexEnd) break;
      let t = k;
      while (t < hexEnd && !isSpace(text.charCodeAt(t))) t++;
      // Token [k, t): pairs of hex digits.
      const len = t - k;
      if (len % 2 !== 0 || (!xxd && len !== 2)) {
        this.problem(lineNo, s, k, t, `"${text.slice(k, t)}" is not a byte in hex (${xxd ? 'groups of two hex digits per byte' : 'two hex digits'})`);
        k = t;
        continue;
      }
      const n0 = sc.n;
      let ok = true;
      for (let p = k; p < t; p += 2) {
        const hi = hexVal(text.charCodeAt(p));
        const lo = hexVal(text.charCodeAt(p + 1));
        if (hi < 0 || lo < 0 || sc.n >= MAX_LINE_BYTES) {
          ok = false;
          break;
        }
        const i = sc.n++;
        bytes[i] = hi * 16 + lo;
        cols[i * 3] = p - s;
        cols[i * 3 + 1] = p + 2 - s;
        cols[i * 3 + 2] = -1;
      }
      if (!ok) {
        const full = sc.n >= MAX_LINE_BYTES;
        sc.n = n0;
        this.problem(lineNo, s, k, t, full ? `more than ${MAX_LINE_BYTES} bytes on one line` : `"${text.slice(k, t)}" is not hex`);
      }
      k = t;
    }
    if (sc.n === 0) {
      h.onOffsetOnly(off);
      return;
    }
    if (this.format === 'unknown') this.format = xxd ? 'xxd' : text.charCodeAt(hexEnd) === 0x3e ? 'od' : 'hexdump-C';
    // xxd writes exactly one ascii character per byte at the end of the line, after padding
    // short lines: count back from the end (the ascii text may itself start with spaces).
    if (xxd && asciiCol >= 0 && e - s - sc.n >= asciiCol) asciiCol = e - s - sc.n;
    if (asciiCol >= 0) {
      for (let b = 0; b < sc.n; b++) {
        const col = asciiCol + b;
        cols[b * 3 + 2] = col < e - s ? col : -1;
      }
    }
    h.onData(off);
    // A clean xxd line with a double space after its hex area: the shape the next lines may share.
    if (xxd && this.problems.length === problemsBefore && hexEnd < e) this.shape = this.shapeOf(text, s, j, hexEnd, e - s, sc.n);
    else this.shape = undefined;
  }

  /** The fast path's record of a line just read (see {@link Shape}). */
  private shapeOf(text: string, s: number, j: number, hexEnd: number, length: number, n: number): Shape | undefined {
    const layout = this.lastLayout;
    const lay = this.layouts[layout]!;
    const codes = new Uint8Array(hexEnd + 2 - j);
    for (let c = j; c < hexEnd + 2; c++) codes[c - j] = text.charCodeAt(c) & 0xff;
    const digits = new Int32Array(n);
    for (let b = 0; b < n; b++) {
      const hi = lay[b * 3]!;
      digits[b] = hi;
      codes[hi - (j - s)] = 0;
      codes[hi + 1 - (j - s)] = 0;
    }
    // Separators must be plain characters (spaces, tabs) for a byte comparison to be exact.
    for (const c of codes) if (c !== 0 && c !== 0x20 && c !== 0x09) return undefined;
    let nsep = 0;
    for (const c of codes) if (c !== 0) nsep++;
    // A NUL in a separator column reads as a digit column in `codes`: no byte loop then.
    if (nsep + 2 * n !== codes.length) return { length, hexStart: j - s, codes, digits, sepCols: new Int32Array(0), sepCodes: new Uint8Array(0), byBytes: false, layout };
    const sepCols = new Int32Array(nsep);
    const sepCodes = new Uint8Array(nsep);
    for (let k = 0, m = 0; k < codes.length; k++) {
      if (codes[k] === 0) continue;
      sepCols[m] = k;
      sepCodes[m++] = codes[k]!;
    }
    return { length, hexStart: j - s, codes, digits, sepCols, sepCodes, byBytes: true, layout };
  }

  /** Reads a line of the last shape by position; false (nothing consumed) when it differs. */
  private fastLine(text: string, j: number, shape: Shape, sc: Scratch): boolean {
    const codes = shape.codes;
    for (let k = 0; k < codes.length; k++) {
      const want = codes[k]!;
      const c = text.charCodeAt(j + k);
      if (want === 0 ? c >= 128 || HEX[c]! < 0 : c !== want) return false;
    }
    const s = j - shape.hexStart;
    const digits = shape.digits;
    const bytes = sc.bytes;
    for (let b = 0; b < digits.length; b++) {
      const p = s + digits[b]!;
      bytes[b] = HEX[text.charCodeAt(p)]! * 16 + HEX[text.charCodeAt(p + 1)]!;
    }
    sc.n = digits.length;
    sc.layout = shape.layout;
    return true;
  }

  /** Number of byte-holding records (data lines and `*` lines). */
  get recordCount(): number {
    return this.recLine.n;
  }

  /** Record `i` in document order. */
  record(i: number): { line: number; offset: number; count: number; star: boolean } {
    return { line: this.recLine.get(i), offset: this.recOffset.get(i), count: this.recCount.get(i), star: this.recLayout.get(i) < 0 };
  }

  /** The record holding the bytes of `line`, or undefined. */
  recordOfLine(line: number): { line: number; offset: number; count: number; star: boolean } | undefined {
    const r = this.recOfLine(line);
    return r < 0 ? undefined : this.record(r);
  }

  /** Index of the record of `line`, -1 when the line holds no bytes (records are in line order, one per line at most). */
  private recOfLine(line: number): number {
    const lines = this.recLine.a;
    let lo = 0;
    let hi = this.recLine.n;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (lines[mid]! < line) lo = mid + 1;
      else hi = mid;
    }
    return lo < this.recLine.n && lines[lo] === line ? lo : -1;
  }

  lineLength(line: number): number {
    return this.lineLen[line] ?? 0;
  }

  /** Position in `byOffset` before which every record ends at or before `off`. */
  private firstRecordFrom(off: number): number {
    const reach = this.reach;
    const offs = this.recOffset.a;
    const counts = this.recCount.a;
    let lo = 0;
    let hi = this.recLine.n;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((reach ? reach[mid]! : offs[mid]! + counts[mid]!) <= off) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** The record whose bytes the map holds at `off`: the earliest in the document (earlier bytes win). */
  private recordOf(off: number): number {
    let best = -1;
    const order = this.byOffset;
    for (let k = this.firstRecordFrom(off), nrec = this.recLine.n; k < nrec; k++) {
      const r = order ? order[k]! : k;
      const o = this.recOffset.get(r);
      if (o > off) break;
      if (off < o + this.recCount.get(r) && (best < 0 || r < best)) best = r;
    }
    return best;
  }

  /** Text range of the hex digits of the byte at image offset `off` (a `*` line: the whole line). */
  rangeOfByte(off: number): LineRange | undefined {
    const r = this.recordOf(off);
    if (r < 0) return undefined;
    const line = this.recLine.get(r);
    const lay = this.recLayout.get(r);
    if (lay < 0) return { line, start: 0, end: this.lineLength(line) };
    const cols = this.layouts[lay]!;
    const i = off - this.recOffset.get(r);
    return { line, start: cols[i * 3]!, end: cols[i * 3 + 1]! };
  }

  /**
   * Text ranges covering the bytes [start, end): one per line, from the first byte's hex
   * digits to the last byte's. `max` caps the number of ranges.
   */
  rangesOf(start: number, end: number, max = Infinity): LineRange[] {
    const out: LineRange[] = [];
    const order = this.byOffset;
    for (let k = this.firstRecordFrom(start), nrec = this.recLine.n; k < nrec && out.length < max; k++) {
      const r = order ? order[k]! : k;
      const o = this.recOffset.get(r);
      const n = this.recCount.get(r);
      if (o >= end) break;
      const a = Math.max(start, o) - o;
      const b = Math.min(end, o + n) - o;
      if (b <= a) continue;
      const line = this.recLine.get(r);
      const lay = this.recLayout.get(r);
      if (lay < 0) out.push({ line, start: 0, end: this.lineLength(line) });
      else {
        const cols = this.layouts[lay]!;
        out.push({ line, start: cols[a * 3]!, end: cols[(b - 1) * 3 + 1]! });
      }
    }
    return out;
  }

  /** Column of the ascii character of the byte at `off`, when the line has an ascii column. */
  asciiOfByte(off: number): LineRange | undefined {
    const r = this.recordOf(off);
    if (r < 0) return undefined;
    const lay = this.recLayout.get(r);
    if (lay < 0) return undefined;
    const col = this.layouts[lay]![(off - this.recOffset.get(r)) * 3 + 2]!;
    return col < 0 ? undefined : { line: this.recLine.get(r), start: col, end: col + 1 };
  }

  /**
   * Image offset of the byte at a text position (its hex digits, the space before the next
   * byte, or its ascii character), or undefined.
   */
  offsetAt(line: number, character: number): number | undefined {
    const r = this.recOfLine(line);
    if (r < 0) return undefined;
    const o = this.recOffset.get(r);
    const n = this.recCount.get(r);
    const lay = this.recLayout.get(r);
    if (lay < 0) return o;
    const cols = this.layouts[lay]!;
    const firstAscii = cols[2]!;
    if (firstAscii >= 0 && character >= firstAscii) {
      const i = character - firstAscii;
      return i < n ? o + i : undefined;
    }
    if (character < cols[0]!) return undefined;
    // Last byte whose hex starts at or before the cursor.
    let lo = 0;
    let hi = n - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1;
      if (cols[mid * 3]! <= character) lo = mid;
      else hi = mid - 1;
    }
    if (character > cols[lo * 3 + 1]! && lo === n - 1) return character <= cols[lo * 3 + 1]! + 1 ? o + lo : undefined;
    return o + lo;
  }
}

export function parseHexdump(text: string, opts: { maxRepeat?: number } = {}): HexDump {
  return new HexDump(text, opts.maxRepeat);
}
