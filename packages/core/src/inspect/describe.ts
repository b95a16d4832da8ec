/** Renderings people read in hovers: modes, times, names, byte strings. */
import { S_IFMT } from '../erofs/format.js';

const TYPE_CHARS: Record<number, string> = { 0o140000: 's', 0o120000: 'l', 0o100000: '-', 0o060000: 'b', 0o040000: 'd', 0o020000: 'c', 0o010000: 'p' };

/** `drwxr-sr-t`, as `ls -l` prints a mode; `?` for an invalid file type. */
export function modeString(mode: number): string {
  const t = TYPE_CHARS[mode & S_IFMT] ?? '?';
  const r = (b: number, c: string): string => (mode & b ? c : '-');
  const x = (bit: number, special: number, on: string, off: string): string => {
    const hasX = (mode & bit) !== 0;
    if (mode & special) return hasX ? on : off;
    return hasX ? 'x' : '-';
  };
  return (
    t +
    r(0o400, 'r') + r(0o200, 'w') + x(0o100, 0o4000, 's', 'S') +
    r(0o040, 'r') + r(0o020, 'w') + x(0o010, 0o2000, 's', 'S') +
    r(0o004, 'r') + r(0o002, 'w') + x(0o001, 0o1000, 't', 'T')
  );
}

/** `2023-11-14 22:13:20 UTC`, with `.nnnnnnnnn` when nsec is not 0; the raw number when out of Date's range. */
export function formatTime(sec: number, nsec = 0): string {
  // Most inodes of an image share one mtime: the last answer is kept.
  if (sec === lastTime.sec && nsec === lastTime.nsec) return lastTime.text;
  const d = new Date(sec * 1000);
  if (!Number.isFinite(sec) || Number.isNaN(d.getTime())) return `${sec} s`;
  const iso = d.toISOString();
  const frac = nsec ? `.${String(nsec).padStart(9, '0')}` : '';
  const text = `${iso.slice(0, 10)} ${iso.slice(11, 19)}${frac} UTC`;
  lastTime.sec = sec;
  lastTime.nsec = nsec;
  lastTime.text = text;
  return text;
}

const lastTime = { sec: NaN, nsec: NaN, text: '' };

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/** Bytes as a quoted string: printable ASCII as is, everything else as \xHH (UTF-8 decoded when valid). */
export function quoteBytes(b: Uint8Array, max = 300): string {
  const shown = b.length > max ? b.subarray(0, max) : b;
  let s = '';
  // Printable ASCII without a quote or backslash (most names): the characters as they are.
  let plain = true;
  for (let i = 0; i < shown.length; i++) {
    const c = shown[i]!;
    if (c < 0x20 || c >= 0x7f || c === 0x22 || c === 0x5c) {
      plain = false;
      break;
    }
  }
  if (plain) {
    for (let i = 0; i < shown.length; i++) s += String.fromCharCode(shown[i]!);
    return `"${s}"${b.length > max ? `… (${b.length} bytes)` : ''}`;
  }
  let text: string | undefined;
  try {
    text = strictUtf8.decode(shown);
  } catch {
    text = undefined;
  }
  if (text !== undefined) {
    for (const ch of text) {
      const c = ch.codePointAt(0)!;
      if (c === 0x22 || c === 0x5c) s += '\\' + ch;
      else if (c < 0x20 || c === 0x7f) s += '\\x' + c.toString(16).padStart(2, '0');
      else s += ch;
    }
  } else {
    for (const c of shown) {
      if (c === 0x22 || c === 0x5c) s += '\\' + String.fromCharCode(c);
      else if (c >= 0x20 && c < 0x7f) s += String.fromCharCode(c);
      else s += '\\x' + c.toString(16).padStart(2, '0');
    }
  }
  return `"${s}"${b.length > max ? `… (${b.length} bytes)` : ''}`;
}

/** The bytes of a NUL-padded field up to its first NUL. */
export function cstr(b: Uint8Array): Uint8Array {
  const z = b.indexOf(0);
  return z < 0 ? b : b.subarray(0, z);
}

export function hexString(b: Uint8Array): string {
  let s = '';
  for (const x of b) s += x.toString(16).padStart(2, '0');
  return s;
}

export function uuidString(b: Uint8Array): string {
  const h = hexString(b);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/** Byte-wise comparison (directory order). */
export function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const d = a[i]! - b[i]!;
    if (d !== 0) return d;
  }
  return a.length - b.length;
}

export function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}
