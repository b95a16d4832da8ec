/**
 * Hand-made tar archives for the unit tests: headers are encoded with the same tables the
 * reader decodes (src/tar/format.ts), numbers and records written here by hand, so a test can
 * state every byte it cares about (a bad checksum, a base-256 mtime, a pax record with a
 * wrong length...).
 */
import { encode } from '../../src/layout/struct.js';
import { BLOCK, gnuHeader, gnuSparseHeader, headerSums, ustarHeader, v7Header } from '../../src/tar/format.js';

const enc = new TextEncoder();

export function bytes(s: string | Uint8Array): Uint8Array {
  return typeof s === 'string' ? enc.encode(s) : s;
}

/** Octal text of `width` bytes: width-1 digits and a NUL. */
export function octal(n: number, width: number): Uint8Array {
  const s = n.toString(8).padStart(width - 1, '0');
  if (s.length > width - 1) throw new RangeError(`${n} does not fit ${width} octal bytes`);
  return enc.encode(s + '\0');
}

/** GNU base-256: bit 7 of the first byte set, then a big-endian two's complement number. */
export function base256(n: bigint | number, width: number): Uint8Array {
  let v = BigInt(n);
  if (v < 0n) v += 1n << BigInt(8 * width);
  const out = new Uint8Array(width);
  for (let i = width - 1; i >= 0; i--) {
    out[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  out[0] = (out[0] as number) | 0x80;
  return out;
}

export interface HeaderSpec {
  name?: string | Uint8Array;
  mode?: number | Uint8Array;
  uid?: number | Uint8Array;
  gid?: number | Uint8Array;
  size?: number | Uint8Array;
  mtime?: number | Uint8Array;
  /** One character ('0', 'x', ...) or a byte value. */
  type?: string | number;
  linkname?: string | Uint8Array;
  dialect?: 'ustar' | 'gnu' | 'v7';
  uname?: string;
  gname?: string;
  devmajor?: number | Uint8Array;
  devminor?: number | Uint8Array;
  prefix?: string | Uint8Array;
  /** GNU 'S': up to 4 (offset, numbytes) pairs, isextended, realsize. */
  sparse?: [number, number][];
  isextended?: boolean;
  realsize?: number;
  /** Which checksum to write ('signed' sums bytes as signed chars), or a raw value. */
  checksum?: 'unsigned' | 'signed' | number | Uint8Array;
}

function num(v: number | Uint8Array | undefined, width: number, dflt: number): Uint8Array {
  if (v instanceof Uint8Array) return v;
  return octal(v ?? dflt, width);
}

/** One 512-byte header block. */
export function header(spec: HeaderSpec): Uint8Array {
  const dialect = spec.dialect ?? 'ustar';
  const t = spec.type ?? '0';
  const common = {
    name: bytes(spec.name ?? 'file'),
    mode: num(spec.mode, 8, 0o644),
    uid: num(spec.uid, 8, 0),
    gid: num(spec.gid, 8, 0),
    size: num(spec.size, 12, 0),
    mtime: num(spec.mtime, 12, 1577836800),
    chksum: enc.encode('        '),
    typeflag: typeof t === 'number' ? t : t.charCodeAt(0),
    linkname: bytes(spec.linkname ?? ''),
  };
  let b: Uint8Array;
  if (dialect === 'v7') {
    b = encode(v7Header, common);
  } else {
    const ident = {
      magic: enc.encode(dialect === 'gnu' ? 'ustar ' : 'ustar\0'),
      version: enc.encode(dialect === 'gnu' ? ' \0' : '00'),
      uname: enc.encode(spec.uname ?? 'root'),
      gname: enc.encode(spec.gname ?? 'root'),
      devmajor: num(spec.devmajor, 8, 0),
      devminor: num(spec.devminor, 8, 0),
    };
    if (dialect === 'gnu') {
      const sp = new Uint8Array(96);
      (spec.sparse ?? []).forEach(([o, n], i) => {
        sp.set(octal(o, 12), i * 24);
        sp.set(octal(n, 12), i * 24 + 12);
      });
      b = encode(gnuHeader, {
        ...common,
        ...ident,
        sp,
        isextended: spec.isextended ? 1 : 0,
        ...(spec.realsize !== undefined ? { realsize: octal(spec.realsize, 12) } : {}),
      });
    } else {
      b = encode(ustarHeader, { ...common, ...ident, prefix: bytes(spec.prefix ?? '') });
    }
  }
  setChecksum(b, spec.checksum ?? 'unsigned');
  return b;
}

/** (Re)writes the checksum of a header block. */
export function setChecksum(b: Uint8Array, how: 'unsigned' | 'signed' | number | Uint8Array = 'unsigned'): void {
  let field: Uint8Array;
  if (how instanceof Uint8Array) field = how;
  else {
    const sums = headerSums(b);
    const v = how === 'unsigned' ? sums.unsigned : how === 'signed' ? sums.signed : how;
    field = enc.encode(v.toString(8).padStart(6, '0') + '\0 ');
  }
  b.set(field.subarray(0, 8), 148);
}

/** A GNU sparse extension block with up to 21 (offset, numbytes) pairs. */
export function sparseExtension(pairs: [number, number][], isextended: boolean): Uint8Array {
  const sp = new Uint8Array(504);
  pairs.forEach(([o, n], i) => {
    sp.set(octal(o, 12), i * 24);
    sp.set(octal(n, 12), i * 24 + 12);
  });
  return encode(gnuSparseHeader, { sp, isextended: isextended ? 1 : 0 });
}

/** pax records with correct lengths: "LEN key=value\n". */
export function paxRecords(records: [string, string | Uint8Array][]): Uint8Array {
  const parts: Uint8Array[] = [];
  for (const [k, v] of records) {
    const body = concat([enc.encode(` ${k}=`), bytes(v), enc.encode('\n')]);
    let len = body.length + 1;
    while (String(len).length + body.length !== len) len = String(len).length + body.length;
    parts.push(concat([enc.encode(String(len)), body]));
  }
  return concat(parts);
}

export function padded(data: Uint8Array): Uint8Array {
  const out = new Uint8Array(Math.ceil(data.length / BLOCK) * BLOCK);
  out.set(data);
  return out;
}

/** A header and its padded data; the size field is the data length unless the spec says otherwise. */
export function member(spec: HeaderSpec, data: Uint8Array | string = new Uint8Array(0)): Uint8Array {
  const d = bytes(data);
  return concat([header({ size: d.length, ...spec }), padded(d)]);
}

/** A pax 'x' (or 'g') header with these records. */
export function pax(records: [string, string | Uint8Array][], type: 'x' | 'g' = 'x'): Uint8Array {
  return member({ name: 'PaxHeaders/file', type }, paxRecords(records));
}

/** GNU 'L' / 'K' record (the value gets its NUL, as GNU tar writes it). */
export function gnuLong(type: 'L' | 'K', value: string | Uint8Array): Uint8Array {
  return member({ name: '././@LongLink', type, dialect: 'gnu' }, concat([bytes(value), new Uint8Array(1)]));
}

export const END = new Uint8Array(1024);

export function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** Members followed by the end-of-archive marker. */
export function archive(...parts: Uint8Array[]): Uint8Array {
  return concat([...parts, END]);
}
