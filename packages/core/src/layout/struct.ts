/**
 * Declarative on-disk structure tables. A structure is declared once as an ordered list of
 * fields; four generic functions run over any table: {@link decode}, {@link encode},
 * {@link structSize} (via `def.size`) and {@link trace} (the byte span of every field).
 * Nothing else in erofs-kit knows a field's offset.
 */
import { ErofsError, hex, type Format } from '../errors.js';

/** Field kinds: little-endian unsigned integers, u64 as bigint, fixed-size byte arrays. */
export type Kind = 'u8' | 'u16' | 'u32' | 'u64' | 'bytes';

export interface FieldDef<N extends string = string, K extends Kind = Kind> {
  readonly name: N;
  readonly kind: K;
  /** Byte length; required for `bytes`, implied for integers. */
  readonly size?: number;
  /** Dense doc comment, shown by the annotator and the language server. */
  readonly doc: string;
  /** True for reserved/padding fields (the annotator shows them as padding). */
  readonly reserved?: boolean;
}

type ValueOf<K extends Kind> = K extends 'u64' ? bigint : K extends 'bytes' ? Uint8Array : number;

export type Decoded<F extends readonly FieldDef[]> = {
  -readonly [E in F[number] as E['name']]: ValueOf<E['kind']>;
};

/**
 * What {@link encode} takes: the decoded shape, where a u64 field may also be a safe-integer
 * number (encoded as the BigInt of the same value would be).
 */
export type Encodable<T> = { [K in keyof T]?: T[K] extends bigint ? bigint | number : T[K] };

export interface Field extends FieldDef {
  readonly offset: number;
  readonly size: number;
}

export interface StructDef<T> {
  /** Name used in spans, errors and docs (the kernel's struct name). */
  readonly name: string;
  /** Where this table comes from (header and version it mirrors). */
  readonly source: string;
  readonly format: Format;
  readonly size: number;
  readonly fields: readonly Field[];
  /** Phantom, for type inference only. */
  readonly _type?: T;
}

const INT_SIZES: Record<Exclude<Kind, 'bytes'>, number> = { u8: 1, u16: 2, u32: 4, u64: 8 };

/** Declares a structure; offsets are assigned in order, so the table reads like the C struct. */
export function defineStruct<const F extends readonly FieldDef[]>(
  name: string,
  source: string,
  fields: F,
  format: Format = 'erofs',
): StructDef<Decoded<F>> {
  let offset = 0;
  const laid: Field[] = [];
  for (const f of fields) {
    const size = f.kind === 'bytes' ? f.size : INT_SIZES[f.kind];
    if (size === undefined || size <= 0) throw new Error(`${name}.${f.name}: bytes field needs a size`);
    laid.push({ ...f, offset, size });
    offset += size;
  }
  return { name, source, format, size: offset, fields: laid };
}

/** Field lookup by name (for spans of single fields in procedural code). */
export function fieldOf<T>(def: StructDef<T>, name: keyof T & string): Field {
  const f = def.fields.find((x) => x.name === name);
  if (!f) throw new Error(`${def.name} has no field ${name}`);
  return f;
}

/**
 * Decodes `def` from `bytes` at `at`. `absOffset` is the structure's position in the image,
 * used only for error messages. With `reserved = false` reserved fields are left out (hot
 * paths that never re-encode).
 */
export function decode<T>(def: StructDef<T>, bytes: Uint8Array, at = 0, absOffset = at, reserved = true): T {
  if (at < 0 || at + def.size > bytes.length) {
    throw new ErofsError('truncated', `${def.name} needs ${def.size} bytes at ${hex(absOffset)}, only ${Math.max(0, bytes.length - at)} available`, {
      offset: absOffset,
      length: def.size,
      format: def.format,
    });
  }
  const dv = new DataView(bytes.buffer, bytes.byteOffset + at, def.size);
  const fast = useGenerated ? compiled(def, reserved) : null;
  if (fast) return fast(dv, bytes, at) as T;
  const out: Record<string, number | bigint | Uint8Array> = {};
  for (const f of def.fields) {
    if (f.reserved && !reserved) continue;
    switch (f.kind) {
      case 'u8':
        out[f.name] = dv.getUint8(f.offset);
        break;
      case 'u16':
        out[f.name] = dv.getUint16(f.offset, true);
        break;
      case 'u32':
        out[f.name] = dv.getUint32(f.offset, true);
        break;
      case 'u64':
        out[f.name] = dv.getBigUint64(f.offset, true);
        break;
      case 'bytes':
        out[f.name] = bytes.subarray(at + f.offset, at + f.offset + f.size);
        break;
    }
  }
  return out as T;
}

type Reader = (dv: DataView, bytes: Uint8Array, at: number) => unknown;
let useGenerated = true;

/** Test hook: turn generated decoders and encoders off to exercise the generic paths (as under a strict CSP). */
export function setGeneratedDecoders(on: boolean): void {
  useGenerated = on;
}
const compiledCache = new WeakMap<StructDef<unknown>, [Reader | null, Reader | null]>();

/**
 * A decoder generated from the table: one object literal with a fixed shape, which is several
 * times faster than filling an object field by field (inodes and dirents are decoded hundreds
 * of thousands of times per image). Where code generation is not allowed (a strict CSP in a
 * webview) it returns null and the generic loop runs instead; both come from the same table.
 */
function compiled<T>(def: StructDef<T>, reserved: boolean): Reader | null {
  let pair = compiledCache.get(def as StructDef<unknown>);
  if (!pair) {
    pair = [generate(def, false), generate(def, true)];
    compiledCache.set(def as StructDef<unknown>, pair);
  }
  return pair[reserved ? 1 : 0];
}

function generate<T>(def: StructDef<T>, reserved: boolean): Reader | null {
  const props: string[] = [];
  for (const f of def.fields) {
    if (f.reserved && !reserved) continue;
    const key = JSON.stringify(f.name);
    switch (f.kind) {
      case 'u8': props.push(`${key}: dv.getUint8(${f.offset})`); break;
      case 'u16': props.push(`${key}: dv.getUint16(${f.offset}, true)`); break;
      case 'u32': props.push(`${key}: dv.getUint32(${f.offset}, true)`); break;
      case 'u64': props.push(`${key}: dv.getBigUint64(${f.offset}, true)`); break;
      case 'bytes': props.push(`${key}: bytes.subarray(at + ${f.offset}, at + ${f.offset + f.size})`); break;
    }
  }
  try {
    return new Function('dv', 'bytes', 'at', `return { ${props.join(', ')} };`) as Reader;
  } catch {
    return null;
  }
}

type Writer = (buf: Uint8Array, at: number, v: Record<string, unknown>) => boolean;
const encoderCache = new WeakMap<StructDef<unknown>, Writer | null>();

/**
 * An encoder generated from the table for integer-only structures (inodes, dirents, chunk
 * indexes): it writes little-endian bytes directly when every value is an in-range integer
 * and returns false otherwise, leaving the generic path to report the problem.
 */
function compiledEncoder<T>(def: StructDef<T>): Writer | null {
  if (encoderCache.has(def as StructDef<unknown>)) return encoderCache.get(def as StructDef<unknown>)!;
  let w: Writer | null = null;
  if (def.fields.every((f) => f.kind !== 'bytes' || f.reserved)) {
    const body: string[] = [];
    for (const f of def.fields) {
      const o = f.offset;
      const key = JSON.stringify(f.name);
      if (f.kind === 'bytes') {
        body.push(`{ const x = v[${key}]; if (x === undefined) buf.fill(0, at + ${o}, at + ${o + f.size}); else return false; }`);
        continue;
      }
      if (f.kind === 'u64') {
        // A safe-integer number is taken as the BigInt of the same value would be (two's
        // complement below zero): hot paths (dirent nids, inode sizes) then make no BigInt.
        body.push(`{ let x = v[${key}]; let lo, hi; if (x === undefined) x = 0;`);
        body.push(`  if (typeof x === 'number') { if (!Number.isSafeInteger(x)) return false; hi = Math.floor(x / 4294967296); lo = x - hi * 4294967296; }`);
        body.push(`  else if (typeof x === 'bigint') { x = BigInt.asUintN(64, x); lo = Number(x & 0xffffffffn); hi = Number(x >> 32n); } else return false;`);
        body.push(`  buf[at+${o}] = lo; buf[at+${o + 1}] = lo >>> 8; buf[at+${o + 2}] = lo >>> 16; buf[at+${o + 3}] = lo >>> 24;`);
        body.push(`  buf[at+${o + 4}] = hi; buf[at+${o + 5}] = hi >>> 8; buf[at+${o + 6}] = hi >>> 16; buf[at+${o + 7}] = hi >>> 24; }`);
        continue;
      }
      const max = f.kind === 'u8' ? 0xff : f.kind === 'u16' ? 0xffff : 0xffffffff;
      body.push(`{ let x = v[${key}]; if (x === undefined) x = 0; if (typeof x !== 'number' || !(x >= 0 && x <= ${max}) || x !== Math.floor(x)) return false;`);
      for (let i = 0; i < f.size; i++) body.push(`  buf[at+${o + i}] = ${i === 0 ? 'x' : `x >>> ${8 * i}`};`);
      body.push('}');
    }
    body.push('return true;');
    try {
      w = new Function('buf', 'at', 'v', body.join('\n')) as Writer;
    } catch {
      w = null;
    }
  }
  encoderCache.set(def as StructDef<unknown>, w);
  return w;
}

/** Encodes `value` into `out` at `at` (a fresh buffer when `out` is omitted). Missing fields are zero; u64 fields take a bigint or a safe-integer number. */
export function encode<T>(def: StructDef<T>, value: Encodable<T>, out?: Uint8Array, at = 0): Uint8Array {
  const buf = out ?? new Uint8Array(def.size);
  if (at < 0 || at + def.size > buf.length) throw new RangeError(`${def.name}: no room to encode at ${at}`);
  const fast = useGenerated ? compiledEncoder(def) : null;
  if (fast && fast(buf, at, value as Record<string, unknown>)) return buf;
  const dv = new DataView(buf.buffer, buf.byteOffset + at, def.size);
  const v = value as Record<string, unknown>;
  for (const f of def.fields) {
    const x = v[f.name];
    if (x === undefined) {
      buf.fill(0, at + f.offset, at + f.offset + f.size);
      continue;
    }
    switch (f.kind) {
      case 'u8':
        dv.setUint8(f.offset, checkInt(def, f, x, 0xff));
        break;
      case 'u16':
        dv.setUint16(f.offset, checkInt(def, f, x, 0xffff), true);
        break;
      case 'u32':
        dv.setUint32(f.offset, checkInt(def, f, x, 0xffffffff), true);
        break;
      case 'u64':
        dv.setBigUint64(f.offset, BigInt.asUintN(64, typeof x === 'number' && Number.isSafeInteger(x) ? BigInt(x) : (x as bigint)), true);
        break;
      case 'bytes': {
        const b = x as Uint8Array;
        if (b.length > f.size) throw new RangeError(`${def.name}.${f.name}: ${b.length} bytes do not fit in ${f.size}`);
        buf.set(b, at + f.offset);
        buf.fill(0, at + f.offset + b.length, at + f.offset + f.size);
        break;
      }
    }
  }
  return buf;
}

function checkInt<T>(def: StructDef<T>, f: Field, x: unknown, max: number): number {
  if (typeof x !== 'number' || !Number.isInteger(x) || x < 0 || x > max) {
    throw new RangeError(`${def.name}.${f.name}: ${String(x)} out of range [0, ${max}]`);
  }
  return x;
}

/** One annotated byte range: what the annotator and the language server show. */
export interface Span {
  start: number;
  end: number;
  /** Dotted path, e.g. `superblock.blkszbits` or `inode[36].i_mode`. */
  path: string;
  /** Decoded value rendered for display. */
  value: string;
  doc: string;
  kind: 'field' | 'padding' | 'data' | 'unknown';
}

/** Byte spans of every field of `def` decoded at image offset `base`. */
export function trace<T>(def: StructDef<T>, value: T, base: number, path: string): Span[] {
  const v = value as Record<string, unknown>;
  return def.fields.map((f) => ({
    start: base + f.offset,
    end: base + f.offset + f.size,
    path: `${path}.${f.name}`,
    value: render(v[f.name]),
    doc: f.doc,
    kind: f.reserved ? 'padding' : 'field',
  }));
}

/** A decoded field value as {@link trace} renders it (for callers that build spans themselves). */
export function render(x: unknown): string {
  if (x instanceof Uint8Array) {
    let s = '';
    for (let i = 0; i < x.length; i++) s += HEX_BYTE[x[i]!]!;
    return s;
  }
  if (typeof x === 'bigint') return x.toString();
  if (typeof x === 'number') {
    if (!(x > 9)) return String(x);
    // Most fields hold small numbers (counts, modes, ids, offsets in a block): one string each.
    if (x < RENDERED_MAX && Number.isInteger(x)) return ((rendered ??= new Array<string | undefined>(RENDERED_MAX))[x] ??= `${x} (${hex(x)})`);
    return `${x} (${hex(x)})`;
  }
  return String(x);
}

const HEX_BYTE = Array.from({ length: 256 }, (_, b) => b.toString(16).padStart(2, '0'));
const RENDERED_MAX = 1 << 16;
/** Rendered numbers below RENDERED_MAX, made on first use (only inspection renders). */
let rendered: (string | undefined)[] | undefined;
