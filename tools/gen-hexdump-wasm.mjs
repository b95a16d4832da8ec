#!/usr/bin/env node
// Assembles the xxd run reader of packages/core/src/hexdump/parse.ts (HexDump.fastRun) as
// WebAssembly, by hand (tools/wasm-asm.mjs), and writes the module bytes into
// packages/core/src/hexdump/xxd-wasm-module.ts. Run it after editing the code below:
//
//   node tools/gen-hexdump-wasm.mjs
//
// Why: the first parse of a large dump in a fresh process (the language server's first
// request) ran HexDump.fastRun in V8's interpreter until its loop was compiled; WebAssembly is
// compiled before it runs (docs/adr/0026-hexdump-wasm-run-reader.md).
//
// run(pos, end, hs, len, hexEnd, nsep, n, expect, maxLines, sep, out) -> i32 lines
// Reads, from memory address `pos`, lines of one xxd shape that continue the dump at image
// offset `expect` (an f64, computed exactly as JavaScript does), exactly as fastRun does, and
// stops before the first line that differs in any way, at `end` (the text's end), or after
// `maxLines` lines. A line of the shape: `len` characters before its '\n' (or "\r\n"), a colon
// at column hs-1 after hs-1 hex digits whose value is the expected offset, the separator
// characters of the `nsep` (column, code) u32 pairs at `sep` (columns relative to hs), and two
// hex digits at each of the `n` u32 columns at DIGITS (relative to the line start). Writes the
// lines' bytes to `out` and the address after the last line read to memory[0] (u32); returns
// the number of lines read. The hex digit table HEXT is a data segment (0xff: not a digit);
// init() fills PAIRS from it: per u16 of two characters (the first in the low byte), the byte
// they spell, or 0x100 when either is not a hex digit; the caller runs it once per instance.
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  F64, I32, I64, add, and, and64, block, br, brIf, c, eq, eqz, eqz64, f64FromU32, fadd, fmul, fne, f64c, func, geu, get, gtu, i64c, if_,
  load16, load32, load64, load8, loop, ltu, ne, not64, or, section, set, shl, shru, store16, store32, store8, str, sub, sub64, uleb, vec, writeModule, xor64,
} from './wasm-asm.mjs';

/** Fixed addresses; parse.ts lays out the same memory (its WASM_* constants). */
const HEXT = 256;
const DIGITS = 1024;
const PAIRS = 1024 + 4 * 16384;

// params
const POS = 0, END = 1, HS = 2, LEN = 3, HEXEND = 4, NSEP = 5, N = 6, EXPECT = 7, MAXLINES = 8, SEP = 9, OUT = 10;
// locals
const LINES = 11, K = 12, J = 13, P = 14, V = 15, EOL = 16, LEND = 17;
const OFF = 18; // f64
const W = 19; // i64
const inc = (i, n) => set(i, add(get(i), n));

const hexOf = (addr, off = 0) => load8(load8(addr, off), HEXT);

// Label depths: inside `loop $line` (in `block $done`): $line 0, $done 1. Inside an inner
// `block $x (loop ...)`: the inner loop 0, its block 1, $line 2, $done 3.
const body = [
  ...set(LINES, c(0)),
  ...block(
    loop(
      brIf(gtu(add(get(POS), get(LEN)), get(END)), 1),
      // the colon after the offset: memory[pos + hs - 1]
      brIf(ne(load8(sub(add(get(POS), get(HS)), c(1))), c(0x3a)), 1),
      // the offset's hex digits, as an f64 as JavaScript computes it
      set(OFF, f64c(0)),
      set(K, get(POS)),
      set(J, sub(add(get(POS), get(HS)), c(1))),
      block(
        loop(
          brIf(geu(get(K), get(J)), 1),
          set(V, hexOf(get(K))),
          brIf(and(get(V), c(0x80)), 3),
          set(OFF, fadd(fmul(get(OFF), f64c(16)), f64FromU32(get(V)))),
          inc(K, c(1)),
          br(0),
        ),
      ),
      brIf(fne(get(OFF), get(EXPECT)), 1),
      // the separator columns
      set(J, add(get(POS), get(HS))),
      set(K, c(0)),
      block(
        loop(
          brIf(geu(get(K), get(NSEP)), 1),
          set(P, add(get(SEP), shl(get(K), c(3)))),
          brIf(ne(load8(add(get(J), load32(get(P)))), load32(get(P), 4)), 3),
          inc(K, c(1)),
          br(0),
        ),
      ),
      // the bytes
      set(K, c(0)),
      block(
        loop(
          brIf(geu(get(K), get(N)), 1),
          set(V, load16(shl(load16(add(get(POS), load32(shl(get(K), c(2)), DIGITS))), c(1)), PAIRS)),
          brIf(and(get(V), c(0x100)), 3),
          store8(add(get(OUT), get(K)), get(V)),
          inc(K, c(1)),
          br(0),
        ),
      ),
      // the line end, by a scan of the ascii column: eight bytes at a time while none of them
      // is a '\n' (a zero byte of W = word ^ 0x0a0a...: (W - 0x0101...) & ~W & 0x8080... != 0),
      // then byte by byte
      set(EOL, add(get(POS), get(HEXEND))),
      block(
        loop(
          brIf(gtu(add(get(EOL), c(8)), get(END)), 1),
          set(W, xor64(load64(get(EOL)), i64c(0x0a0a0a0a0a0a0a0an))),
          brIf(eqz(eqz64(and64(and64(sub64(get(W), i64c(0x0101010101010101n)), not64(get(W))), i64c(-0x7f7f7f7f7f7f7f80n)))), 1),
          inc(EOL, c(8)),
          br(0),
        ),
      ),
      block(
        loop(
          brIf(geu(get(EOL), get(END)), 1),
          brIf(eq(load8(get(EOL)), c(0x0a)), 1),
          inc(EOL, c(1)),
          br(0),
        ),
      ),
      set(LEND, get(EOL)),
      if_(eq(load8(sub(get(LEND), c(1))), c(0x0d)), [set(LEND, sub(get(LEND), c(1)))]),
      brIf(ne(sub(get(LEND), get(POS)), get(LEN)), 1),
      // the line is read: keep its bytes
      inc(OUT, get(N)),
      set(EXPECT, fadd(get(EXPECT), f64FromU32(get(N)))),
      inc(LINES, c(1)),
      set(POS, add(get(EOL), c(1))),
      brIf(geu(get(LINES), get(MAXLINES)), 1),
      br(0),
    ),
  ),
  ...store32(c(0), get(POS)),
  ...get(LINES),
];

// init(): PAIRS[c0 | c1 << 8] for every two characters
const initBody = [
  ...set(0, c(0)),
  ...loop(
    set(1, load8(and(get(0), c(0xff)), HEXT)),
    set(2, load8(shru(get(0), c(8)), HEXT)),
    store16(
      shl(get(0), c(1)),
      or(shl(get(1), c(4)), get(2)),
      PAIRS,
    ),
    if_(and(or(get(1), get(2)), c(0x80)), [store16(shl(get(0), c(1)), c(0x100), PAIRS)]),
    set(0, add(get(0), c(1))),
    brIf(ltu(get(0), c(0x10000)), 0),
  ),
];

const hext = new Array(256).fill(0xff);
for (let d = 0; d < 10; d++) hext[0x30 + d] = d;
for (let d = 0; d < 6; d++) hext[0x41 + d] = hext[0x61 + d] = 10 + d;

const module = [
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
  ...section(1, vec([
    [0x60, ...vec([[I32], [I32], [I32], [I32], [I32], [I32], [I32], [F64], [I32], [I32], [I32]]), ...vec([[I32]])],
    [0x60, ...vec([]), ...vec([])],
  ])),
  // the memory comes from the caller (env.memory), sized for the text it holds
  ...section(2, vec([[...str('env'), ...str('memory'), 0x02, 0x00, ...uleb(1)]])),
  ...section(3, vec([[0], [1]])),
  ...section(7, vec([[...str('run'), 0x00, 0], [...str('init'), 0x00, 1]])),
  ...section(10, vec([func([[7, I32], [1, F64], [1, I64]], body), func([[3, I32]], initBody)])),
  ...section(11, vec([[0x00, ...c(HEXT), 0x0b, ...vec(hext.map((b) => [b]))]])),
];
const here = dirname(fileURLToPath(import.meta.url));
writeModule(
  join(here, '../packages/core/src/hexdump/xxd-wasm-module.ts'),
  'XXD_WASM',
  `// Generated by tools/gen-hexdump-wasm.mjs: do not edit. The xxd run reader of parse.ts as
// WebAssembly (BYTES bytes), hand-assembled from the code in that script.`,
  module,
);
