/**
 * MicroLZMA decoder: LZMA as EROFS stores it (algorithm 1). No package decodes this framing,
 * so it is written here (docs/adr/0009-decompressors.md).
 *
 * MicroLZMA is a raw LZMA1 range-coded stream with two changes that save space in a
 * fixed-size pcluster:
 * - byte 0 is the bitwise NOT of the LZMA properties byte `(pb * 5 + lp) * 9 + lc`;
 * - the range coder's first byte, which is always 0 in LZMA1, is left out, so the coder's
 *   32-bit `code` is initialised from bytes 1..4.
 * There is no header with sizes and normally no end marker: the decompressed size comes from
 * the extent map and the compressed size from the pcluster. The dictionary is the output
 * itself (each pcluster is independent), so distances may not reach before its start.
 *
 * The decoder is the standard LZMA1 model (literal coder with lc/lp context, 12-state
 * machine, length coders, 6-bit distance slots with reverse bit trees and direct bits,
 * four rep distances), with every input read bounds-checked.
 */
import { corrupt } from './errors.js';

const NUM_STATES = 12;
const POS_STATES_MAX = 16;
const BIT_MODEL_TOTAL = 1 << 11;
const MOVE_BITS = 5;
const TOP = 1 << 24;
const END_POS_MODEL_INDEX = 14;
const FULL_DISTANCES = 128;
const ALIGN_BITS = 4;
const MATCH_MIN_LEN = 2;

// Offsets into one Uint16Array of probabilities.
const IS_MATCH = 0;
const IS_REP = IS_MATCH + NUM_STATES * POS_STATES_MAX;
const IS_REP_G0 = IS_REP + NUM_STATES;
const IS_REP_G1 = IS_REP_G0 + NUM_STATES;
const IS_REP_G2 = IS_REP_G1 + NUM_STATES;
const IS_REP0_LONG = IS_REP_G2 + NUM_STATES;
const POS_SLOT = IS_REP0_LONG + NUM_STATES * POS_STATES_MAX;
const SPEC_POS = POS_SLOT + 4 * 64;
const ALIGN = SPEC_POS + FULL_DISTANCES - END_POS_MODEL_INDEX + 1;
// A length coder: choice, choice2, low[16][8], mid[16][8], high[256].
const LEN_CHOICE = 0;
const LEN_CHOICE2 = 1;
const LEN_LOW = 2;
const LEN_MID = LEN_LOW + POS_STATES_MAX * 8;
const LEN_HIGH = LEN_MID + POS_STATES_MAX * 8;
const LEN_CODER_SIZE = LEN_HIGH + 256;
const LEN_CODER = ALIGN + (1 << ALIGN_BITS);
const REP_LEN_CODER = LEN_CODER + LEN_CODER_SIZE;
const LITERAL = REP_LEN_CODER + LEN_CODER_SIZE;

/** Decoded properties byte. */
export interface LzmaProps {
  lc: number;
  lp: number;
  pb: number;
}

export function lzmaProps(byte: number): LzmaProps | undefined {
  if (byte >= 9 * 5 * 5) return undefined;
  const lc = byte % 9;
  const rest = (byte / 9) | 0;
  return { lc, lp: rest % 5, pb: (rest / 5) | 0 };
}

class RangeDecoder {
  range = 0xffffffff;
  code = 0;
  ip: number;
  constructor(
    readonly src: Uint8Array,
    start: number,
  ) {
    if (start + 4 > src.length) throw corrupt('lzma', 'stream too short for the range coder', start);
    this.code = ((src[start]! << 24) | (src[start + 1]! << 16) | (src[start + 2]! << 8) | src[start + 3]!) >>> 0;
    this.ip = start + 4;
  }

  private more(): void {
    if (this.ip >= this.src.length) throw corrupt('lzma', `range coder reads past the end of the input (${this.src.length} bytes)`, this.ip);
    this.range = (this.range << 8) >>> 0;
    this.code = ((this.code << 8) | this.src[this.ip++]!) >>> 0;
  }

  bit(p: Uint16Array, i: number): number {
    if (this.range < TOP) this.more();
    const prob = p[i]!;
    const bound = (this.range >>> 11) * prob;
    let b: number;
    if (this.code < bound) {
      this.range = bound;
      p[i] = prob + ((BIT_MODEL_TOTAL - prob) >>> MOVE_BITS);
      b = 0;
    } else {
      this.range -= bound;
      this.code -= bound;
      p[i] = prob - (prob >>> MOVE_BITS);
      b = 1;
    }
    return b;
  }

  /** `n` bits MSB first from a bit tree at `base` (1-based node numbering). */
  tree(p: Uint16Array, base: number, n: number): number {
    let m = 1;
    for (let i = 0; i < n; i++) m = (m << 1) | this.bit(p, base + m);
    return m - (1 << n);
  }

  /** `n` bits LSB first from a bit tree at `base`. */
  reverse(p: Uint16Array, base: number, n: number): number {
    let m = 1;
    let sym = 0;
    for (let i = 0; i < n; i++) {
      const b = this.bit(p, base + m);
      m = (m << 1) | b;
      sym |= b << i;
    }
    return sym;
  }

  direct(n: number): number {
    let r = 0;
    for (let i = 0; i < n; i++) {
      if (this.range < TOP) this.more();
      this.range >>>= 1;
      let b = 0;
      if (this.code >= this.range) {
        this.code -= this.range;
        b = 1;
      }
      r = ((r << 1) | b) >>> 0;
    }
    return r;
  }
}

function decodeLen(rc: RangeDecoder, p: Uint16Array, base: number, posState: number): number {
  if (rc.bit(p, base + LEN_CHOICE) === 0) return rc.tree(p, base + LEN_LOW + posState * 8, 3);
  if (rc.bit(p, base + LEN_CHOICE2) === 0) return 8 + rc.tree(p, base + LEN_MID + posState * 8, 3);
  return 16 + rc.tree(p, base + LEN_HIGH, 8);
}

/**
 * Decodes a MicroLZMA stream into `dst[dstStart, dstEnd)`; returns the bytes written (less than
 * the window only if an end marker comes first). `dictSize` bounds match distances.
 */
export function microLzmaDecompress(src: Uint8Array, dst: Uint8Array, dstStart = 0, dstEnd = dst.length, dictSize = 0xffffffff): number {
  if (src.length < 5) throw corrupt('lzma', `MicroLZMA stream of ${src.length} bytes is too short`, 0);
  const props = lzmaProps(~src[0]! & 0xff);
  if (!props) throw corrupt('lzma', `invalid LZMA properties byte ${(~src[0]! & 0xff).toString(16)} (stored inverted as ${src[0]!.toString(16)})`, 0);
  const { lc, lp, pb } = props;
  const p = new Uint16Array(LITERAL + (0x300 << (lc + lp))).fill(BIT_MODEL_TOTAL >>> 1);
  const rc = new RangeDecoder(src, 1);
  const pbMask = (1 << pb) - 1;
  const lpMask = (1 << lp) - 1;
  let state = 0;
  let rep0 = 0;
  let rep1 = 0;
  let rep2 = 0;
  let rep3 = 0;
  let op = dstStart;
  while (op < dstEnd) {
    const pos = op - dstStart;
    const posState = pos & pbMask;
    if (rc.bit(p, IS_MATCH + state * POS_STATES_MAX + posState) === 0) {
      const prev = pos > 0 ? dst[op - 1]! : 0;
      const base = LITERAL + 0x300 * (((pos & lpMask) << lc) + (prev >>> (8 - lc)));
      let sym = 1;
      if (state >= 7) {
        if (rep0 >= pos) throw corrupt('lzma', `rep distance ${rep0 + 1} reaches before the start of the output at byte ${pos}`, rc.ip);
        let match = dst[op - rep0 - 1]!;
        do {
          const mbit = (match >>> 7) & 1;
          match <<= 1;
          const b = rc.bit(p, base + ((1 + mbit) << 8) + sym);
          sym = (sym << 1) | b;
          if (mbit !== b) break;
        } while (sym < 0x100);
      }
      while (sym < 0x100) sym = (sym << 1) | rc.bit(p, base + sym);
      dst[op++] = sym & 0xff;
      state = state < 4 ? 0 : state < 10 ? state - 3 : state - 6;
      continue;
    }
    let len: number;
    if (rc.bit(p, IS_REP + state) === 0) {
      rep3 = rep2;
      rep2 = rep1;
      rep1 = rep0;
      len = decodeLen(rc, p, LEN_CODER, posState);
      state = state < 7 ? 7 : 10;
      const lenState = len < 4 ? len : 3;
      const slot = rc.tree(p, POS_SLOT + lenState * 64, 6);
      if (slot < 4) rep0 = slot;
      else {
        const direct = (slot >>> 1) - 1;
        let dist = ((2 | (slot & 1)) << direct) >>> 0;
        if (slot < END_POS_MODEL_INDEX) {
          dist += rc.reverse(p, SPEC_POS + dist - slot - 1, direct);
        } else {
          dist = (dist + rc.direct(direct - ALIGN_BITS) * (1 << ALIGN_BITS)) >>> 0;
          dist = (dist + rc.reverse(p, ALIGN, ALIGN_BITS)) >>> 0;
        }
        rep0 = dist;
        if (rep0 === 0xffffffff) return op - dstStart; // end marker
      }
    } else {
      if (rc.bit(p, IS_REP_G0 + state) === 0) {
        if (rc.bit(p, IS_REP0_LONG + state * POS_STATES_MAX + posState) === 0) {
          if (rep0 >= pos) throw corrupt('lzma', `rep distance ${rep0 + 1} reaches before the start of the output at byte ${pos}`, rc.ip);
          state = state < 7 ? 9 : 11;
          dst[op] = dst[op - rep0 - 1]!;
          op++;
          continue;
        }
      } else {
        let dist: number;
        if (rc.bit(p, IS_REP_G1 + state) === 0) dist = rep1;
        else {
          if (rc.bit(p, IS_REP_G2 + state) === 0) dist = rep2;
          else {
            dist = rep3;
            rep3 = rep2;
          }
          rep2 = rep1;
        }
        rep1 = rep0;
        rep0 = dist;
      }
      len = decodeLen(rc, p, REP_LEN_CODER, posState);
      state = state < 7 ? 8 : 11;
    }
    len += MATCH_MIN_LEN;
    if (rep0 >= pos || rep0 >= dictSize) {
      throw corrupt('lzma', `match distance ${rep0 + 1} at output byte ${pos} reaches before the start of the output or beyond the dictionary (${dictSize})`, rc.ip);
    }
    const end = Math.min(dstEnd, op + len);
    let from = op - rep0 - 1;
    if (rep0 + 1 >= len && end - op > 32) {
      dst.copyWithin(op, from, from + (end - op));
      op = end;
    } else {
      while (op < end) dst[op++] = dst[from++]!;
    }
  }
  return op - dstStart;
}
