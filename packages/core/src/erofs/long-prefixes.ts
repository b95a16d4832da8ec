/**
 * Long xattr name prefixes (INCOMPAT_XATTR_PREFIXES, Linux 6.4) for the writer: which to
 * define, how a name is stored with them, and the prefix table's bytes.
 *
 * A stored xattr name is a one-byte prefix index plus the rest of the name. The six short
 * prefixes (`user.`, `trusted.`, ...) are fixed; a long prefix extends one of them with an
 * infix (`trusted.` + `overlay.`), so every name that starts with it stores that much less.
 * An image whose layers carry `trusted.overlay.*` on many inodes saves 8 bytes per entry.
 */
import { ErofsError } from '../errors.js';
import { XATTR_LONG_PREFIX_BIT, XATTR_PREFIXES } from './format.js';
import { splitXattrName } from './xattr.js';

export interface LongPrefixDef {
  /** The short prefix's index (1..6) the long prefix extends. */
  base: number;
  /** The bytes after the short prefix. */
  infix: Uint8Array;
  /** The whole prefix text. */
  prefix: string;
}

/** The most long prefixes an image can define (the index is 7 bits). */
export const MAX_LONG_PREFIXES = 128;

const enc = new TextEncoder();
const align4 = (n: number): number => (n + 3) & ~3;

/** A long prefix from its text: it must extend a short prefix (`user.`, `trusted.`, `security.`, ...). */
export function longPrefix(prefix: string): LongPrefixDef {
  const { index, suffix } = splitXattrName(prefix);
  if (index === 0 || index === 2 || index === 3) {
    throw new ErofsError('invalid-value', `xattr prefix ${JSON.stringify(prefix)} does not extend user., trusted. or security.`, {});
  }
  if (suffix.length === 0) throw new ErofsError('invalid-value', `xattr prefix ${JSON.stringify(prefix)} is a short prefix already`, {});
  const infix = enc.encode(suffix);
  if (infix.length > 254) throw new ErofsError('too-large', `xattr prefix ${JSON.stringify(prefix)} is longer than 254 bytes after ${XATTR_PREFIXES[index]}`, {});
  return { base: index, infix, prefix };
}

/** How many entries store each (name, value length): the writer's view of what it will write. */
export type StoredXattrs = Map<string, Map<number, number>>;

/** Bytes an entry takes with `suffixLen` bytes of name stored. */
const entryBytes = (suffixLen: number, valueLen: number): number => align4(4 + suffixLen + valueLen);

/**
 * The long prefixes that make the stored entries smallest, chosen greedily: the candidate
 * prefixes are a name's text up to each `.` after its short prefix (`trusted.overlay.` for
 * `trusted.overlay.opaque`); each round takes the one whose bytes saved over all entries it
 * would shorten exceed its own record in the prefix table by the most. Deterministic: ties
 * go to the shorter, then the lower prefix text.
 */
export function chooseLongPrefixes(stored: StoredXattrs): LongPrefixDef[] {
  interface Name { suffixLen: number; values: Map<number, number>; current: number }
  const names = new Map<string, Name>();
  const candidates = new Map<string, { def: LongPrefixDef; names: Name[] }>();
  for (const [name, values] of stored) {
    const { index, suffix } = splitXattrName(name);
    if (index === 0 || index === 2 || index === 3) continue;
    const n: Name = { suffixLen: enc.encode(suffix).length, values, current: 0 };
    names.set(name, n);
    const short = XATTR_PREFIXES[index]!;
    for (let dot = suffix.indexOf('.'); dot >= 0 && dot < suffix.length - 1; dot = suffix.indexOf('.', dot + 1)) {
      const text = short + suffix.slice(0, dot + 1);
      let c = candidates.get(text);
      if (!c) candidates.set(text, (c = { def: { base: index, infix: enc.encode(suffix.slice(0, dot + 1)), prefix: text }, names: [] }));
      c.names.push(n);
    }
  }
  const chosen: LongPrefixDef[] = [];
  while (chosen.length < MAX_LONG_PREFIXES) {
    let best: { def: LongPrefixDef; names: Name[]; gain: number } | undefined;
    for (const c of candidates.values()) {
      const len = c.def.infix.length;
      let gain = -align4(2 + 1 + len); // its table record: le16 length, base index, infix; 4-aligned
      for (const n of c.names) {
        if (n.current >= len) continue;
        for (const [vlen, count] of n.values) gain += count * (entryBytes(n.suffixLen - n.current, vlen) - entryBytes(n.suffixLen - len, vlen));
      }
      if (gain <= 0) continue;
      if (!best || gain > best.gain || (gain === best.gain && (len < best.def.infix.length || (len === best.def.infix.length && c.def.prefix < best.def.prefix)))) {
        best = { ...c, gain };
      }
    }
    if (!best) break;
    chosen.push(best.def);
    candidates.delete(best.def.prefix);
    for (const n of best.names) n.current = Math.max(n.current, best.def.infix.length);
  }
  // Table order: by prefix text, so the choice above does not show in the bytes' order.
  return chosen.sort((a, b) => (a.prefix < b.prefix ? -1 : a.prefix > b.prefix ? 1 : 0));
}

/** How names are stored: the longest defined long prefix a name extends, else its short prefix. */
export class XattrNamer {
  private readonly cache = new Map<string, { index: number; suffix: Uint8Array }>();
  constructor(readonly prefixes: readonly LongPrefixDef[]) {
    if (prefixes.length > MAX_LONG_PREFIXES) throw new ErofsError('too-large', `${prefixes.length} long xattr prefixes, at most ${MAX_LONG_PREFIXES}`, {});
  }

  /** The stored prefix index (short, or 0x80 | long) and name bytes; index 0 when no prefix fits. */
  encode(name: string): { index: number; suffix: Uint8Array } {
    let hit = this.cache.get(name);
    if (hit) return hit;
    let k = -1;
    for (let i = 0; i < this.prefixes.length; i++) {
      const p = this.prefixes[i]!.prefix;
      if (name.length > p.length && name.startsWith(p) && (k < 0 || p.length > this.prefixes[k]!.prefix.length)) k = i;
    }
    if (k >= 0) {
      hit = { index: XATTR_LONG_PREFIX_BIT | k, suffix: enc.encode(name.slice(this.prefixes[k]!.prefix.length)) };
    } else {
      const { index, suffix } = splitXattrName(name);
      hit = { index, suffix: enc.encode(suffix) };
    }
    this.cache.set(name, hit);
    return hit;
  }
}

/** The prefix table: per prefix, at a 4-byte boundary, le16 length, the base index, the infix. */
export function longPrefixTable(prefixes: readonly LongPrefixDef[]): Uint8Array {
  let size = 0;
  for (const p of prefixes) size = align4(size) + 2 + 1 + p.infix.length;
  const out = new Uint8Array(align4(size));
  let pos = 0;
  for (const p of prefixes) {
    pos = align4(pos);
    const len = 1 + p.infix.length;
    out[pos] = len & 0xff;
    out[pos + 1] = len >> 8;
    out[pos + 2] = p.base;
    out.set(p.infix, pos + 3);
    pos += 2 + len;
  }
  return out;
}
