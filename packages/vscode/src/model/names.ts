/**
 * Names inside an image are bytes; VS Code paths are strings. A name that is valid UTF-8 is
 * shown as it is. A name that is not gets each byte of an invalid sequence written as `\xNN`
 * (and its backslashes as `\x5c`), so the string maps back to exactly the stored bytes.
 */
import { textEncoder } from '@erofs-kit/core';

const strict = new TextDecoder('utf-8', { fatal: true });

export function nameToString(name: Uint8Array): string {
  try {
    return strict.decode(name);
  } catch {
    let s = '';
    let i = 0;
    while (i < name.length) {
      const len = utf8SequenceLength(name, i);
      if (len > 0) {
        const chunk = strict.decode(name.subarray(i, i + len));
        s += chunk === '\\' ? '\\x5c' : chunk;
        i += len;
      } else {
        s += '\\x' + name[i]!.toString(16).padStart(2, '0');
        i++;
      }
    }
    return s;
  }
}

/** Length of a valid UTF-8 sequence starting at `i`, or 0. */
function utf8SequenceLength(b: Uint8Array, i: number): number {
  const c = b[i]!;
  let n: number;
  if (c < 0x80) return 1;
  else if (c >= 0xc2 && c <= 0xdf) n = 2;
  else if (c >= 0xe0 && c <= 0xef) n = 3;
  else if (c >= 0xf0 && c <= 0xf4) n = 4;
  else return 0;
  if (i + n > b.length) return 0;
  try {
    strict.decode(b.subarray(i, i + n));
    return n;
  } catch {
    return 0;
  }
}

/** The stored bytes a displayed name stands for (candidates: literal UTF-8 first, then the escaped reading). */
export function stringToNames(name: string): Uint8Array[] {
  const literal = textEncoder.encode(name);
  if (!/\\x[0-9a-f]{2}/.test(name)) return [literal];
  const out: number[] = [];
  for (let i = 0; i < name.length; ) {
    const m = /^\\x([0-9a-f]{2})/.exec(name.slice(i, i + 4));
    if (m) {
      out.push(parseInt(m[1]!, 16));
      i += 4;
    } else {
      const cp = name.codePointAt(i)!;
      const ch = String.fromCodePoint(cp);
      for (const byte of textEncoder.encode(ch)) out.push(byte);
      i += ch.length;
    }
  }
  return [literal, Uint8Array.from(out)];
}

/** Path components of a path inside an image (`/a/b` → ['a', 'b']). */
export function pathParts(path: string): string[] {
  return path.split('/').filter((p) => p.length > 0 && p !== '.');
}

/** `/`-joined path of components, `/` for none. */
export function joinParts(parts: readonly string[]): string {
  return '/' + parts.join('/');
}
