/**
 * Text codecs of tar: octal and GNU base-256 header numbers, pax decimals and times,
 * libarchive's base64 and URL-encoded names. Each returns `undefined` (or a reason string)
 * for malformed input; the reader turns that into an ErofsError with the offset it knows.
 */
import type { TarTime } from './entry.js';

/**
 * A copy of `b` in a buffer of its own. (Not `b.slice()`: on a Node Buffer that is a view, and
 * a view would keep a whole read window or stream chunk alive as long as the entry lives.)
 */
export function copyBytes(b: Uint8Array): Uint8Array {
  const out = new Uint8Array(b.length);
  out.set(b);
  return out;
}

/** The bytes of a NUL-terminated field up to (not including) its first NUL. */
export function cstring(field: Uint8Array): Uint8Array {
  const nul = field.indexOf(0);
  return nul < 0 ? field : field.subarray(0, nul);
}

export function isEmptyField(field: Uint8Array): boolean {
  for (let i = 0; i < field.length; i++) {
    const b = field[i];
    if (b !== 0 && b !== 0x20) return false;
  }
  return true;
}

/**
 * A numeric header field. Octal text: leading spaces, octal digits, then a NUL or space (or
 * the end of the field); what follows the terminator is ignored, and a field with no digits
 * is 0 (as GNU tar and Python read them). GNU base-256: bit 7 of the first byte set, bit 6 the
 * sign, the remaining bits a big-endian two's complement number. Returns a reason string when
 * the field is not a number, `'too-large'` beyond 2^53.
 */
export function headerNumber(field: Uint8Array): number | string {
  return headerNumberAt(field, 0, field.length);
}

/**
 * {@link headerNumber} of the field `b[start, start + len)`, read in place: the reader parses
 * several numbers per header and a view per field would be garbage per entry.
 */
export function headerNumberAt(b: Uint8Array, start: number, len: number): number | string {
  const end = start + len;
  const first = b[start] ?? 0;
  if (first & 0x80) return base256(b.subarray(start, end));
  let i = start;
  while (i < end && b[i] === 0x20) i++;
  let v = 0;
  for (; i < end; i++) {
    const c = b[i] as number;
    if (c < 0x30 || c > 0x37) break;
    v = v * 8 + (c - 0x30);
  }
  if (i < end) {
    const c = b[i];
    if (c !== 0 && c !== 0x20) return `not an octal number (byte 0x${(c as number).toString(16)} at field position ${i - start})`;
  }
  return v;
}

/** The length of the NUL-terminated text in `b[start, start + len)`. */
export function cstringLength(b: Uint8Array, start: number, len: number): number {
  for (let i = 0; i < len; i++) if (b[start + i] === 0) return i;
  return len;
}

const SAFE = BigInt(Number.MAX_SAFE_INTEGER);

function base256(field: Uint8Array): number | string {
  const first = field[0] as number;
  let v = BigInt(first & 0x3f);
  for (let i = 1; i < field.length; i++) v = (v << 8n) | BigInt(field[i] as number);
  if (first & 0x40) v -= 1n << BigInt(8 * field.length - 2);
  if (v > SAFE || v < -SAFE) return 'too-large';
  return Number(v);
}

/** A pax decimal: ASCII digits only (no sign, no spaces), at most 2^53. */
export function paxDecimal(value: Uint8Array): number | string {
  if (value.length === 0) return 'empty';
  let v = 0;
  for (let i = 0; i < value.length; i++) {
    const c = value[i] as number;
    if (c < 0x30 || c > 0x39) return 'not a decimal number';
    v = v * 10 + (c - 0x30);
  }
  return Number.isSafeInteger(v) ? v : 'too-large';
}

/**
 * A pax time: optional sign, decimal seconds, optional "." and fraction digits. The value is
 * the real number written, rounded down to whole nanoseconds; `sec` is its floor and `nsec`
 * the (non-negative) rest, as POSIX `struct timespec` has it and as GNU tar and erofs-utils
 * read it. So "-86400.5" is -86400.5 s = { sec: -86401, nsec: 500000000 }, and "1.0000000009"
 * is { sec: 1, nsec: 0 } while "-1.0000000009" is { sec: -2, nsec: 999999999 }.
 */
export function paxTime(value: Uint8Array): TarTime | string {
  let i = 0;
  let neg = false;
  if (value[0] === 0x2d || value[0] === 0x2b) {
    neg = value[0] === 0x2d;
    i = 1;
  }
  const intStart = i;
  let sec = 0;
  for (; i < value.length; i++) {
    const c = value[i] as number;
    if (c < 0x30 || c > 0x39) break;
    sec = sec * 10 + (c - 0x30);
  }
  if (i === intStart) return 'no digits';
  if (!Number.isSafeInteger(sec)) return 'too-large';
  let ns = 0;
  let rest = false; // non-zero digits beyond the ninth
  if (i < value.length) {
    if (value[i] !== 0x2e) return 'not a decimal time';
    let digits = 0;
    for (i++; i < value.length; i++, digits++) {
      const c = value[i] as number;
      if (c < 0x30 || c > 0x39) return 'not a decimal time';
      if (digits < 9) ns = ns * 10 + (c - 0x30);
      else if (c !== 0x30) rest = true;
    }
    for (; digits < 9; digits++) ns *= 10;
  }
  if (!neg) return { sec, nsec: ns };
  const up = ns + (rest ? 1 : 0); // the fraction rounded up, so the negated value rounds down
  if (up === 0) return { sec: sec === 0 ? 0 : -sec, nsec: 0 };
  if (sec === Number.MAX_SAFE_INTEGER) return 'too-large';
  return { sec: -sec - 1, nsec: 1e9 - up };
}

const B64 = new Int8Array(128).fill(-1);
for (let i = 0; i < 64; i++) B64['ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/'.charCodeAt(i)] = i;

/** Standard base64 (RFC 4648 alphabet); "=" padding is optional. */
export function base64Decode(text: Uint8Array): Uint8Array | undefined {
  let end = text.length;
  while (end > 0 && text[end - 1] === 0x3d) end--;
  if (text.length - end > 2 || end % 4 === 1) return undefined;
  const out = new Uint8Array(Math.floor((end * 3) / 4));
  let acc = 0;
  let bits = 0;
  let o = 0;
  for (let i = 0; i < end; i++) {
    const c = text[i] as number;
    const d = c < 128 ? (B64[c] as number) : -1;
    if (d < 0) return undefined;
    acc = ((acc << 6) | d) & 0xffffff;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[o++] = (acc >> bits) & 0xff;
    }
  }
  return out.subarray(0, o);
}

function hexVal(c: number | undefined): number {
  if (c === undefined) return -1;
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x41 && c <= 0x46) return c - 0x37;
  if (c >= 0x61 && c <= 0x66) return c - 0x57;
  return -1;
}

/** libarchive's name encoding: "%XX" is a byte; a "%" not followed by two hex digits stays. */
export function urlDecode(text: Uint8Array): Uint8Array {
  if (text.indexOf(0x25) < 0) return text;
  const out = new Uint8Array(text.length);
  let o = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i] as number;
    if (c === 0x25) {
      const h = hexVal(text[i + 1]);
      const l = hexVal(text[i + 2]);
      if (h >= 0 && l >= 0) {
        out[o++] = (h << 4) | l;
        i += 2;
        continue;
      }
    }
    out[o++] = c;
  }
  return out.subarray(0, o);
}
