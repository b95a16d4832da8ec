#!/usr/bin/env node
// Writes a deterministic tree of many small files for the benchmark.
//
//   node bench/gen-small-tree.mjs DEST [FILES]
//
// Layout: 40 top-level directories, each with 25 subdirectories (1,040 directories
// in all); the files are dealt round-robin over the 1,000 leaf directories. Sizes are
// drawn from a seeded generator: 95 % below 4 KiB, 4.5 % from 4 KiB to 32 KiB and
// 0.5 % from 32 KiB to 256 KiB. Every 503rd file is a symlink to its neighbour so that
// the tree is not made of regular files only. Content is a slice of one seeded
// pseudo-random pool, prefixed with the file's path, so two runs give the same bytes.
// Modes (under umask 022) and mtimes are fixed too, so the tar built from the tree is
// byte-for-byte reproducible and the images differ only in their UUID and build time.
import { mkdirSync, writeFileSync, symlinkSync, utimesSync, lutimesSync, existsSync } from "node:fs";
import { join } from "node:path";

const dest = process.argv[2];
const total = Number(process.argv[3] ?? 200_000);
if (!dest || !Number.isInteger(total) || total <= 0) {
  console.error("usage: node bench/gen-small-tree.mjs DEST [FILES]");
  process.exit(2);
}
if (existsSync(dest)) {
  console.error(`${dest} exists; remove it first`);
  process.exit(1);
}

const TOP = 40;
const SUB = 25;
const MTIME = new Date("2024-01-01T00:00:00Z");

// xorshift32: small, fast and the same on every machine.
let state = 0x9e3779b9;
function next() {
  state ^= state << 13;
  state >>>= 0;
  state ^= state >>> 17;
  state ^= state << 5;
  state >>>= 0;
  return state;
}

const POOL_SIZE = 1 << 20;
const pool = Buffer.alloc(POOL_SIZE + 256 * 1024);
for (let i = 0; i < pool.length; i += 4) pool.writeUInt32LE(next(), i);

function drawSize() {
  const r = next() % 1000;
  if (r < 950) return next() % 4096;
  if (r < 995) return 4096 + (next() % (28 * 1024));
  return 32 * 1024 + (next() % (224 * 1024));
}

const leaves = [];
mkdirSync(dest);
for (let t = 0; t < TOP; t++) {
  const top = join(dest, `d${String(t).padStart(2, "0")}`);
  mkdirSync(top);
  for (let s = 0; s < SUB; s++) {
    const leaf = join(top, `s${String(s).padStart(2, "0")}`);
    mkdirSync(leaf);
    leaves.push(leaf);
  }
}

let bytes = 0;
let links = 0;
for (let i = 0; i < total; i++) {
  const dir = leaves[i % leaves.length];
  const name = `f${String(i).padStart(6, "0")}.dat`;
  const path = join(dir, name);
  if (i % 503 === 502) {
    // link to the previous file of the same directory, which is never itself a link
    // because 503 does not divide the 1,000 leaves (the first ones link to d00/s00)
    const target = i >= leaves.length
      ? `f${String(i - leaves.length).padStart(6, "0")}.dat`
      : "../../d00/s00/f000000.dat";
    symlinkSync(target, path);
    lutimesSync(path, MTIME, MTIME);
    links++;
    continue;
  }
  const size = drawSize();
  const head = Buffer.from(`${name}\n`);
  const off = next() % POOL_SIZE;
  const body = size <= head.length
    ? head.subarray(0, size)
    : Buffer.concat([head, pool.subarray(off, off + size - head.length)]);
  writeFileSync(path, body, { mode: 0o644 });
  utimesSync(path, MTIME, MTIME);
  bytes += size;
}
for (const leaf of leaves) utimesSync(leaf, MTIME, MTIME);
for (let t = 0; t < TOP; t++) utimesSync(join(dest, `d${String(t).padStart(2, "0")}`), MTIME, MTIME);
utimesSync(dest, MTIME, MTIME);

console.log(
  `wrote ${total - links} files (${(bytes / 1048576).toFixed(1)} MiB) and ${links} symlinks ` +
    `in ${TOP + leaves.length} directories under ${dest}`,
);
