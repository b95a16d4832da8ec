#!/usr/bin/env node
// Assembles the LZ4 block decoder of packages/core/src/compress/lz4-wasm.ts as WebAssembly,
// by hand (no toolchain beyond node), and writes the module bytes into
// packages/core/src/compress/lz4-wasm-module.ts. Run it after editing the code below:
//
//   node tools/gen-lz4-wasm.mjs
//
// The function mirrors compress/lz4.ts (same checks, same error cases) with two liberties that
// only the WebAssembly side can afford, because its output goes to a scratch window inside its
// own memory that has slack after it: short literal runs are copied 16 bytes at a time and
// matches with offset >= 8 eight bytes at a time, overshooting their end by up to 15 bytes into
// bytes that are written again later (or into the slack). The caller copies out exactly the
// bytes decoded. See docs/adr/0009-decompressors.md.
//
// decode(ip, iend, op, oend) -> i32: decodes memory[ip, iend) into memory[op, oend). Returns the
// bytes written (>= 0), or a negative error code with the input position at memory[0] (u32)
// and a value for the message at memory[4]: -1 literal length runs past the input, -2 literals
// run past the input (value: the count), -3 match offset runs past the input, -4 match offset
// 0 or before the window (value: the offset), -5 match length runs past the input.
// Requires: 8 <= ip, 16 readable bytes after iend, 32 writable bytes after oend.
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  I32, add, and, block, br, brIf, c, eq, eqz, func, geu, get, gtu, if_, leu, load16, load64, load8, loop, ltu, memcopy, memfill,
  ne, or, ret, section, set, shru, store32, store64, store8, str, sub, uleb, vec, writeModule,
} from './wasm-asm.mjs';

// ---- locals: params first
const IP = 0, IEND = 1, OP = 2, OEND = 3;
const OSTART = 4, TOKEN = 5, LIT = 6, B = 7, OFF = 8, LEN = 9, M = 10, E = 11, STOP = 12, CODE = 13;
const NLOCALS = 10;
const ip = get(IP), iend = get(IEND), op = get(OP), oend = get(OEND);
const inc = (i, n) => set(i, add(get(i), n));

/** Error exit: code, input position (and value) to memory[0..8), then `br` to the error block. */
const fail = (code, pos, value, depth) => [...set(CODE, c(code)), ...store32(c(0), pos), ...store32(c(4), value ?? c(0)), ...br(depth)];

/** Reads a 255-continued length into local `dst`; `depth` = the br index of $err where it is used. */
const extLength = (dst, code, depth) =>
  loop(
    if_(geu(ip, iend), [fail(code, ip, null, depth + 2)]),
    set(B, load8(ip)),
    inc(IP, c(1)),
    set(dst, add(get(dst), get(B))),
    brIf(eq(get(B), c(255)), 0),
  );

// br indexes directly inside $seq (loop): $seq = 0, $err = 1, $done = 2; each enclosing if adds one.
const body = [
  ...set(OSTART, op),
  ...block(
    // $done
    block(
      // $err
      loop(
        // $seq
        brIf(geu(ip, iend), 2),
        set(TOKEN, load8(ip)),
        inc(IP, c(1)),
        set(LIT, shru(get(TOKEN), c(4))),
        if_(eq(get(LIT), c(15)), [extLength(LIT, -1, 2)]),
        if_(ne(get(LIT), c(0)), [
          if_(gtu(get(LIT), sub(iend, ip)), [fail(-2, ip, get(LIT), 3)]),
          // the window fills up inside these literals: copy what fits and stop
          if_(geu(get(LIT), sub(oend, op)), [memcopy(op, ip, sub(oend, op)), set(OP, oend), br(4)]),
          if_(
            leu(get(LIT), c(16)),
            [store64(op, load64(ip)), store64(op, load64(ip, 8), 8)],
            [memcopy(op, ip, get(LIT))],
          ),
          inc(OP, get(LIT)),
          inc(IP, get(LIT)),
        ]),
        brIf(geu(ip, iend), 2), // last sequence: literals only
        if_(ltu(sub(iend, ip), c(2)), [fail(-3, ip, null, 2)]),
        set(OFF, load16(ip)),
        inc(IP, c(2)),
        if_(or(eqz(get(OFF)), gtu(get(OFF), sub(op, get(OSTART)))), [fail(-4, sub(ip, c(2)), get(OFF), 2)]),
        set(LEN, add(and(get(TOKEN), c(15)), c(4))),
        if_(eq(get(LEN), c(19)), [extLength(LEN, -5, 2)]),
        set(STOP, c(0)),
        if_(geu(get(LEN), sub(oend, op)), [set(LEN, sub(oend, op)), set(STOP, c(1))]),
        set(M, sub(op, get(OFF))),
        set(E, add(op, get(LEN))),
        if_(
          geu(get(OFF), c(8)),
          [
            if_(
              and(gtu(get(LEN), c(32)), geu(get(OFF), get(LEN))),
              [memcopy(op, get(M), get(LEN))],
              [
                // eight bytes at a time: with offset >= 8 a group never reads what it writes
                loop(store64(op, load64(get(M))), inc(OP, c(8)), inc(M, c(8)), brIf(ltu(op, get(E)), 0)),
              ],
            ),
          ],
          [
            if_(
              eq(get(OFF), c(1)),
              [memfill(op, load8(get(M)), get(LEN))],
              [
                // a short repeating pattern: byte by byte
                block(loop(brIf(geu(op, get(E)), 1), store8(op, load8(get(M))), inc(OP, c(1)), inc(M, c(1)), br(0))),
              ],
            ),
          ],
        ),
        set(OP, get(E)),
        brIf(get(STOP), 2),
        br(0),
      ),
    ),
    // $err: reached only by `br`
    ret(get(CODE)),
  ),
  // $done
  ...sub(op, get(OSTART)),
];

/**
 * Initial memory in 64 KiB pages: 2 MiB, room for the input and window of any call up to a
 * 1 MiB pcluster decoded into a window of up to about 1 MiB without growing. `memory.grow`
 * detaches the ArrayBuffer JavaScript sees, and the first detached ArrayBuffer in a thread
 * makes V8 throw away all its optimized typed-array code at once (the "array buffer
 * detaching" protector): a grow in the middle of an extraction cost a round of recompiles.
 */
const MIN_PAGES = 32;
const module = [
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
  ...section(1, vec([[0x60, ...vec([[I32], [I32], [I32], [I32]]), ...vec([[I32]])]])),
  ...section(3, vec([[0]])),
  ...section(5, vec([[0x00, ...uleb(MIN_PAGES)]])),
  ...section(7, vec([[...str('memory'), 0x02, 0], [...str('decode'), 0x00, 0]])),
  ...section(10, vec([func([[NLOCALS, I32]], body)])),
];
const here = dirname(fileURLToPath(import.meta.url));
writeModule(
  join(here, '../packages/core/src/compress/lz4-wasm-module.ts'),
  'LZ4_WASM',
  `// Generated by tools/gen-lz4-wasm.mjs: do not edit. The LZ4 block decoder as WebAssembly
// (BYTES bytes), hand-assembled from the code in that script.`,
  module,
);
