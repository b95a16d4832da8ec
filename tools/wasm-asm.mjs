// A few WebAssembly encodings, enough to assemble small hand-written functions without a
// toolchain (tools/gen-lz4-wasm.mjs, tools/gen-hexdump-wasm.mjs). Each helper returns the
// instruction bytes as a plain array; operands come first, as the stack machine wants them.
import { readFileSync, writeFileSync } from 'node:fs';

export const uleb = (n) => {
  const out = [];
  do {
    let b = n & 0x7f;
    n >>>= 7;
    if (n !== 0) b |= 0x80;
    out.push(b);
  } while (n !== 0);
  return out;
};
export const sleb = (n) => {
  const out = [];
  for (;;) {
    const b = n & 0x7f;
    n >>= 7;
    if ((n === 0 && (b & 0x40) === 0) || (n === -1 && (b & 0x40) !== 0)) {
      out.push(b);
      return out;
    }
    out.push(b | 0x80);
  }
};
export const str = (s) => [...uleb(s.length), ...Buffer.from(s)];
export const section = (id, body) => [id, ...uleb(body.length), ...body];
export const vec = (items) => [...uleb(items.length), ...items.flat()];

// value types
export const I32 = 0x7f;
export const I64 = 0x7e;
export const F64 = 0x7c;

// control
const EMPTY = 0x40;
export const block = (...body) => [0x02, EMPTY, ...body.flat(), 0x0b];
export const loop = (...body) => [0x03, EMPTY, ...body.flat(), 0x0b];
export const if_ = (cond, then, else_) => [...cond, 0x04, EMPTY, ...then.flat(), ...(else_ ? [0x05, ...else_.flat()] : []), 0x0b];
export const br = (l) => [0x0c, ...uleb(l)];
export const brIf = (cond, l) => [...cond, 0x0d, ...uleb(l)];
export const ret = (v) => [...v, 0x0f];

// locals and constants
export const get = (i) => [0x20, ...uleb(i)];
export const set = (i, v) => [...v, 0x21, ...uleb(i)];
export const c = (n) => [0x41, ...sleb(n)];
/** An i64 constant from a BigInt. */
export const i64c = (x) => {
  const out = [0x42];
  let n = BigInt.asIntN(64, x);
  for (;;) {
    const b = Number(n & 0x7fn);
    n >>= 7n;
    if ((n === 0n && (b & 0x40) === 0) || (n === -1n && (b & 0x40) !== 0)) return [...out, b];
    out.push(b | 0x80);
  }
};
export const f64c = (x) => {
  const b = Buffer.alloc(8);
  b.writeDoubleLE(x);
  return [0x44, ...b];
};

// i32 arithmetic and comparisons
const bin = (op) => (a, b) => [...a, ...b, op];
export const add = bin(0x6a), sub = bin(0x6b), mul = bin(0x6c), and = bin(0x71), or = bin(0x72), shl = bin(0x74), shru = bin(0x76);
export const eq = bin(0x46), ne = bin(0x47), ltu = bin(0x49), gtu = bin(0x4b), leu = bin(0x4d), geu = bin(0x4f);
export const eqz = (a) => [...a, 0x45];

// i64
export const add64 = bin(0x7c), sub64 = bin(0x7d), and64 = bin(0x83), xor64 = bin(0x85);
export const eqz64 = (a) => [...a, 0x50];
export const not64 = (a) => xor64(a, [0x42, 0x7f]); // x ^ -1

// f64
export const fadd = bin(0xa0), fmul = bin(0xa2), fne = bin(0x62);
export const f64FromU32 = (a) => [...a, 0xb8];

// memory (alignment hint 0; `off` is the static offset)
export const load8 = (a, off = 0) => [...a, 0x2d, 0, ...uleb(off)];
export const load16 = (a, off = 0) => [...a, 0x2f, 0, ...uleb(off)];
export const load32 = (a, off = 0) => [...a, 0x28, 0, ...uleb(off)];
export const load64 = (a, off = 0) => [...a, 0x29, 0, ...uleb(off)];
export const store8 = (a, v, off = 0) => [...a, ...v, 0x3a, 0, ...uleb(off)];
export const store16 = (a, v, off = 0) => [...a, ...v, 0x3b, 0, ...uleb(off)];
export const store32 = (a, v, off = 0) => [...a, ...v, 0x36, 0, ...uleb(off)];
export const store64 = (a, v, off = 0) => [...a, ...v, 0x37, 0, ...uleb(off)];
export const memcopy = (d, s, n) => [...d, ...s, ...n, 0xfc, 0x0a, 0, 0];
export const memfill = (d, v, n) => [...d, ...v, ...n, 0xfc, 0x0b, 0];

/** A function body: `locals` is a list of [count, type] groups after the parameters. */
export const func = (locals, body) => {
  const f = [...vec(locals.map(([n, t]) => [...uleb(n), t])), ...body, 0x0b];
  return [...uleb(f.length), ...f];
};

/**
 * Checks that `module` validates and writes it into `target` as a TypeScript constant. With
 * `--check` on the command line it writes nothing and fails unless `target` already holds
 * exactly that (the test that keeps the checked-in modules in step with their generators).
 */
export function writeModule(target, constName, header, module) {
  const bytes = Uint8Array.from(module);
  if (!WebAssembly.validate(bytes)) throw new Error('the assembled module does not validate');
  const text = `${header.replace('BYTES', String(bytes.length))}
export const ${constName} = Uint8Array.of(${[...bytes].join(',').replace(/(.{1,96}(?:,|$))/g, '\n  $1')}\n);
`;
  if (process.argv.includes('--check')) {
    if (readFileSync(target, 'utf8') !== text) {
      console.error(`${target} is not what ${process.argv[1]} generates: run it`);
      process.exit(1);
    }
    return;
  }
  writeFileSync(target, text);
  console.log(`${target}: ${bytes.length} bytes`);
}
