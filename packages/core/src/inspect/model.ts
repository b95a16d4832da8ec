/**
 * What the tolerant inspector returns, and the collector that builds it. Decoders *claim*
 * byte ranges (structure fields first, file data second); {@link Annotator.finish} turns the
 * claims into spans that never overlap and cover every present byte exactly once: a byte no
 * decoder claimed becomes zero fill (padding) or `unknown`.
 */
import { hex, type ErrorCode, type Format } from '../errors.js';
import { decode, render, type Field, type Span, type StructDef } from '../layout/struct.js';
import type { ByteMap } from './bytes.js';

/** Where a value points: go-to-definition jumps to `offset`. */
export interface Target {
  offset: number;
  length: number;
  /** What is there, e.g. `inode 40 (/a.txt)`, `block 3`, `shared xattr 0x48`. */
  label: string;
}

/** One byte range and what it is. `path`, `value`, `doc` and `kind` come from the table trace. */
export interface Annotation extends Span {
  /** Kernel/tar struct name (`erofs_super_block`), or the procedural part (`dirent name`, `file data`). */
  struct: string;
  /** Field name as in the header (`blkszbits`); empty for data, padding runs and unknown bytes. */
  field: string;
  /** The value in words (feature names, `drwxr-xr-x`, a date, a path); '' when `value` says it all. */
  meaning: string;
  /** Where the value points (go-to-definition), when it points somewhere. */
  target: Target | undefined;
}

function ann(start: number, end: number, path: string, value: string, doc: string, kind: Span['kind'], struct: string, field: string, meaning: string, target: Target | undefined): Annotation {
  return { start, end, path, value, doc, kind, struct, field, meaning, target };
}

/** A copy of `a` over [start, end) (explicit fields: one object shape for every span). */
function clip(a: Annotation, start: number, end: number): Annotation {
  return ann(start, end, a.path, a.value, a.doc, a.kind, a.struct, a.field, a.meaning, a.target);
}

export type Severity = 'error' | 'warning' | 'info';

/** A problem found while inspecting: the shape of {@link ErofsError}'s JSON plus a severity. */
export interface InspectDiagnostic {
  code: ErrorCode;
  format: Format;
  severity: Severity;
  message: string;
  offset: number;
  length: number;
}

export type StructureKind =
  | 'superblock'
  | 'device-table'
  | 'device'
  | 'inode'
  | 'xattrs'
  | 'xattr'
  | 'shared-xattr'
  | 'long-prefix'
  | 'directory-block'
  | 'inline-data'
  | 'chunk-table'
  | 'compression-config'
  | 'compression-map'
  | 'data'
  | 'tar-header'
  | 'pax-records'
  | 'tar-data'
  | 'tar-end'
  | 'boot-area'
  | 'composefs-header';

/** An outline entry (document symbols): a decoded structure and its parts. */
export interface Structure {
  kind: StructureKind;
  name: string;
  detail: string;
  start: number;
  end: number;
  children: Structure[];
}

export interface InspectResult {
  /** What the bytes were recognised as. */
  format: 'erofs' | 'tar' | 'unknown';
  /** Sorted, non-overlapping; covers every present byte exactly once. */
  spans: Annotation[];
  structures: Structure[];
  diagnostics: InspectDiagnostic[];
  /** nid → path, for every inode reached through directories. */
  paths: Map<number, string>;
}

/** Field explanations a decoder attaches while tracing a table. */
export interface Explained {
  meaning?: string;
  target?: Target | undefined;
  /** Replaces the rendered value (e.g. a NUL-padded name shown as text). */
  value?: string;
  /** The caller claims this field's bytes itself (a bitstream split into its entries). */
  omit?: boolean;
}

const MAX_DIAGNOSTICS = 2000;
/**
 * Claims and outline entries an inspection may make: at least this many, and otherwise one
 * per present byte. A well-formed image makes far fewer (the fixtures at most 0.29 per byte,
 * every field being at least a byte); a crafted one can make every inode share one body and
 * every map the same clusters, claiming the same bytes again and again — time and memory
 * then grow with the claims, not the input. Past the budget the inspector stops walking and
 * says so.
 */
const MIN_CLAIM_BUDGET = 100_000;
const CLAIMS_PER_BYTE = 1;

export class Annotator {
  private readonly claims: [Annotation[], Annotation[]] = [[], []];
  readonly structures: Structure[] = [];
  readonly diagnostics: InspectDiagnostic[] = [];
  readonly paths = new Map<number, string>();
  private dropped = 0;
  /** Claims and outline entries left (see MIN_CLAIM_BUDGET); at zero nothing more is recorded. */
  private budget: number;

  constructor(readonly map: ByteMap) {
    this.budget = Math.max(MIN_CLAIM_BUDGET, CLAIMS_PER_BYTE * map.length);
  }

  /** The claim budget is spent: decoders stop walking (their work would not be recorded). */
  get exhausted(): boolean {
    return this.budget <= 0;
  }

  /** Whether the budget allows one more claim or outline entry (says once when it runs out). */
  private spend(): boolean {
    if (this.budget > 0) {
      this.budget--;
      return true;
    }
    if (this.budget === 0) {
      this.budget = -1;
      // Always listed, past the diagnostics' cap too: it explains why the rest is missing.
      this.diagnostics.push({
        code: 'too-large',
        format: 'erofs',
        severity: 'warning',
        message: `the structures claim the same bytes over and over (more than ${Math.max(MIN_CLAIM_BUDGET, CLAIMS_PER_BYTE * this.map.length)} claims for ${this.map.length} bytes): inspection stopped there; what it did not reach shows as unknown`,
        offset: 0,
        length: 0,
      });
    }
    return false;
  }

  /** Claims a range. Level 0: structures; level 1: file data (yields to structures). */
  claim(a: Annotation, level: 0 | 1 = 0): void {
    if (!(a.end > a.start) || !this.map.any(a.start, a.end - a.start)) return;
    if (!this.spend()) return;
    this.claims[level].push(a);
  }

  diag(severity: Severity, code: ErrorCode, message: string, offset: number, length: number, format: Format = 'erofs'): void {
    if (this.diagnostics.length >= MAX_DIAGNOSTICS) {
      this.dropped++;
      return;
    }
    this.diagnostics.push({ code, format, severity, message, offset, length: Math.max(0, length) });
  }

  /** Adds an outline entry (under `parent` when given). */
  structure(kind: StructureKind, name: string, detail: string, start: number, end: number, parent?: Structure): Structure {
    const s: Structure = { kind, name, detail, start, end, children: [] };
    // Past the budget the entry is handed back (decoders attach children to it) but not kept.
    if (this.spend()) (parent ? parent.children : this.structures).push(s);
    return s;
  }

  /**
   * Decodes `def` at image offset `off` from whatever bytes are present and claims a span
   * per field (from {@link trace}). Fields only partly in the dump are claimed with the
   * value `(partly outside the dump)`; fields wholly absent are not claimed. Returns the
   * decoded value (absent bytes read as zero) and whether every byte was present, or
   * undefined when no byte was.
   */
  traceStruct<T>(
    def: StructDef<T>,
    off: number,
    path: string,
    explain?: (field: Field, value: T) => Explained | undefined,
    checkReserved = true,
  ): { value: T; complete: boolean } | undefined {
    if (!this.map.any(off, def.size)) return undefined;
    const whole = this.map.get(off, def.size);
    const { bytes, present } = whole ? { bytes: whole, present: undefined } : this.map.read(off, def.size);
    const value = decode(def, bytes, 0, off);
    // The spans trace() gives (start, end, path, value, doc, kind per field), built here as
    // annotations directly: one object per field instead of two.
    const fields = def.fields;
    const v = value as Record<string, unknown>;
    let complete = true;
    for (let i = 0; i < fields.length; i++) {
      const f = fields[i]!;
      let all = true;
      let some = true;
      if (present) {
        some = false;
        for (let k = f.offset; k < f.offset + f.size; k++) {
          if (present(k)) some = true;
          else all = false;
        }
      }
      if (!all) complete = false;
      if (!some) continue;
      const start = off + f.offset;
      const end = start + f.size;
      let shown: string;
      let meaning = '';
      let target: Target | undefined;
      if (!all) {
        shown = '(partly outside the dump)';
      } else {
        const x = explain?.(f, value);
        if (x?.omit) continue;
        shown = x?.value !== undefined ? x.value : render(v[f.name]);
        if (x) {
          if (x.meaning !== undefined) meaning = x.meaning;
          if (x.target !== undefined) target = x.target;
        }
        if (f.reserved && checkReserved && !allZero(bytes, f.offset, f.offset + f.size)) {
          this.diag('warning', 'invalid-value', `${def.name}.${f.name}: reserved bytes are not zero (${shown})`, start, end - start, def.format);
        }
      }
      const a = ann(start, end, `${path}.${f.name}`, shown, f.doc, f.reserved ? 'padding' : 'field', def.name, f.name, meaning, target);
      this.claim(a);
    }
    return { value, complete };
  }

  /** Claims one non-table part (a name, a value, an id) as a field. */
  part(start: number, end: number, struct: string, field: string, path: string, value: string, doc: string, meaning = '', target?: Target): void {
    this.claim(ann(start, end, path, value, doc, 'field', struct, field, meaning, target));
  }

  padding(start: number, end: number, struct: string, path: string, doc: string): void {
    this.claim(ann(start, end, path, '', doc, 'padding', struct, '', '', undefined));
  }

  data(start: number, end: number, struct: string, path: string, value: string, doc: string, meaning = ''): void {
    this.claim(ann(start, end, path, value, doc, 'data', struct, '', meaning, undefined), 1);
  }

  finish(format: InspectResult['format']): InspectResult {
    const structural = sweep(this.claims[0], (a, b) => {
      this.diag('warning', 'invalid-value', `${b.path} (${hex(b.start)}..${hex(b.end)}) overlaps ${a.path}: the bytes are shown as the first`, b.start, b.end - b.start);
    });
    const data = subtract(sweep(this.claims[1]), structural);
    const merged = mergeSorted(structural, data);
    const spans = fill(merged, this.map);
    if (this.dropped > 0) {
      this.diagnostics.push({ code: 'invalid-value', format: 'erofs', severity: 'info', message: `${this.dropped} more problems not listed`, offset: 0, length: 0 });
    }
    this.diagnostics.sort((a, b) => a.offset - b.offset);
    sortStructures(this.structures);
    return { format, spans, structures: this.structures, diagnostics: this.diagnostics, paths: this.paths };
  }
}

function allZero(b: Uint8Array, s: number, e: number): boolean {
  // Long runs (padding, holes, whole empty blocks) four bytes at a time: a first inspection
  // runs this loop in the interpreter, where each iteration costs far more than its load.
  if (e - s >= 64) {
    const a = (4 - ((b.byteOffset + s) & 3)) & 3;
    for (let i = s; i < s + a; i++) if (b[i] !== 0) return false;
    const words = (e - s - a) >>> 2;
    const u = new Uint32Array(b.buffer, b.byteOffset + s + a, words);
    for (let i = 0; i < words; i++) if (u[i] !== 0) return false;
    s += a + words * 4;
  }
  for (let i = s; i < e; i++) if (b[i] !== 0) return false;
  return true;
}

function sortStructures(list: Structure[]): void {
  list.sort((a, b) => a.start - b.start || b.end - a.end);
  for (const s of list) if (s.children.length) sortStructures(s.children);
}

const MAX_OVERLAP_REPORTS = 50;

/** Claims in start order (ties: claim order); a later claim loses the bytes it shares with an earlier one. */
function sweep(claims: Annotation[], overlap?: (kept: Annotation, lost: Annotation) => void): Annotation[] {
  const order = claimOrder(claims);
  const out: Annotation[] = [];
  let pos = -Infinity;
  let reports = 0;
  // Indexed loops here and in subtract(): a first inspection runs them in the interpreter,
  // where for-of makes an iterator result per element.
  for (let k = 0; k < order.length; k++) {
    const c = claims[order[k]!]!;
    if (c.start < pos) {
      const prev = out[out.length - 1]!;
      if (overlap && reports < MAX_OVERLAP_REPORTS && !sameThing(prev, c)) {
        reports++;
        overlap(prev, c);
      }
      if (c.end <= pos) continue;
      out.push(clip(c, pos, c.end));
    } else {
      out.push(c);
    }
    pos = c.end;
  }
  return out;
}

const ORDER_BITS = 2 ** 21;

/**
 * Indexes of `claims` by start, ties in claim order. When every start is an integer in
 * [0, 2^32) and there are fewer than 2^21 claims, (start, index) packs exactly into one double
 * and a typed array sorts them natively, with no comparator call per pair.
 */
function claimOrder(claims: readonly Annotation[]): ArrayLike<number> {
  const n = claims.length;
  if (n < ORDER_BITS) {
    const keys = new Float64Array(n);
    let packable = true;
    for (let i = 0; i < n; i++) {
      const s = claims[i]!.start;
      if (!(s >= 0 && s < 2 ** 32 && Number.isInteger(s))) {
        packable = false;
        break;
      }
      keys[i] = s * ORDER_BITS + i;
    }
    if (packable) {
      keys.sort();
      const order = new Int32Array(n);
      for (let k = 0; k < n; k++) order[k] = keys[k]! % ORDER_BITS;
      return order;
    }
  }
  const order = claims.map((_, i) => i);
  order.sort((i, j) => claims[i]!.start - claims[j]!.start || i - j);
  return order;
}

function sameThing(a: Annotation, b: Annotation): boolean {
  return a.path === b.path;
}

/** Pieces of `a` (sorted, disjoint) not covered by `b` (sorted, disjoint). */
function subtract(a: Annotation[], b: Annotation[]): Annotation[] {
  const out: Annotation[] = [];
  let j = 0;
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!;
    let s = x.start;
    while (j < b.length && b[j]!.end <= s) j++;
    let k = j;
    while (s < x.end) {
      const y = b[k];
      if (!y || y.start >= x.end) {
        out.push(s === x.start ? x : clip(x, s, x.end));
        break;
      }
      if (y.start > s) out.push(clip(x, s, y.start));
      s = Math.max(s, y.end);
      k++;
    }
  }
  return out;
}

function mergeSorted(a: Annotation[], b: Annotation[]): Annotation[] {
  const out: Annotation[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    if (j >= b.length || (i < a.length && a[i]!.start <= b[j]!.start)) out.push(a[i++]!);
    else out.push(b[j++]!);
  }
  return out;
}

/** Clips spans to the present bytes and fills the gaps (zero fill or unknown). */
function fill(spans: Annotation[], map: ByteMap): Annotation[] {
  const out: Annotation[] = [];
  let k = 0;
  for (const seg of map.segments) {
    const segEnd = seg.offset + seg.bytes.length;
    let pos = seg.offset;
    while (k < spans.length && spans[k]!.end <= pos) k++;
    while (pos < segEnd) {
      const s = spans[k];
      if (!s || s.start >= segEnd) {
        gap(out, seg.bytes, seg.offset, pos, segEnd);
        pos = segEnd;
        break;
      }
      if (s.start > pos) {
        gap(out, seg.bytes, seg.offset, pos, s.start);
        pos = s.start;
      }
      const end = Math.min(s.end, segEnd);
      out.push(s.start === pos && s.end === end ? s : clip(s, pos, end));
      pos = end;
      if (s.end <= segEnd) k++;
    }
  }
  return out;
}

function gap(out: Annotation[], bytes: Uint8Array, base: number, start: number, end: number): void {
  const zero = allZero(bytes, start - base, end - base);
  out.push(
    zero
      ? ann(start, end, 'zero fill', '', 'bytes no decoded structure uses; all zero', 'padding', '', '', '', undefined)
      : ann(start, end, 'unknown', '', 'bytes no decoded structure reaches from what is in the dump', 'unknown', '', '', '', undefined),
  );
}

/** The span containing image offset `off` (binary search), or undefined. */
export function spanAt(spans: readonly Annotation[], off: number): Annotation | undefined {
  let lo = 0;
  let hi = spans.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    const s = spans[mid]!;
    if (off < s.start) hi = mid - 1;
    else if (off >= s.end) lo = mid + 1;
    else return s;
  }
  return undefined;
}

/** Index of the first span ending after `off`. */
export function spanIndexFrom(spans: readonly Annotation[], off: number): number {
  let lo = 0;
  let hi = spans.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (spans[mid]!.end <= off) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
