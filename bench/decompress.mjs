#!/usr/bin/env node
// Decompressor throughput: erofs-kit's decoders (packages/core, one thread, in memory)
// against the C tools on the same compressed bytes, as EROFS uses them: independent blocks
// of 64 KiB of a Debian rootfs tar (bench/make-data.sh makes WORK/rootfs.tar).
//
//   node bench/decompress.mjs [--work DIR] [--runs N]
//
// LZ4: `lz4 -9 -B4` (64 KiB independent blocks, no checksums); erofs-kit decodes each block
// of the frame, with its default decoder (WebAssembly) and with the plain JavaScript fallback
// (`lz4-js`); reference: `lz4 -d` of the same file to /dev/null (one process, includes
// reading the file from the page cache). zstd: `zstd -3 --no-check` (one frame); erofs-kit's
// zstd decoder is the fzstd package, measured directly on that frame (the core's wrapper
// refuses frames larger than an EROFS pcluster can be); reference `zstd -d`. DEFLATE: 64 KiB pieces deflated by Node's zlib;
// erofs-kit (fflate) against zlib's inflateRawSync in the same process. MicroLZMA has no
// standalone C tool that reads its framing, so it is not measured here (the rootfs
// extraction cases of bench/run.mjs cover real images). Prints MB/s (of decompressed
// output) and ratios; writes bench/results/decompress.json.
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync, existsSync, mkdirSync, rmSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { deflateRawSync, inflateRawSync } from 'node:zlib';
import os from 'node:os';

const HERE = dirname(fileURLToPath(import.meta.url));
const CORE = join(HERE, '../packages/core/dist/index.js');
let work = process.env.EROFS_BENCH_WORK ?? '/var/tmp/erofs-kit-bench';
let runs = 5;
for (let i = 2; i < process.argv.length; i++) {
  if (process.argv[i] === '--work') work = process.argv[++i];
  else if (process.argv[i] === '--runs') runs = Number(process.argv[++i]);
  else { console.error(`unknown argument ${process.argv[i]}`); process.exit(2); }
}
const TAR = join(work, 'rootfs.tar');
if (!existsSync(TAR)) { console.error(`${TAR} is missing: run sudo bash bench/make-data.sh`); process.exit(2); }
if (!existsSync(CORE)) { console.error(`${CORE} is missing: run npm run build`); process.exit(2); }
const { lz4Decompress, deflateDecompress } = await import(CORE);
// the plain JavaScript LZ4 decoder (the fallback without WebAssembly; not a public export)
const { lz4DecompressJs, lz4UsesWasm } = await import(join(dirname(CORE), 'compress/lz4.js'));
const { Decompress: FzstdDecompress } = await import('fzstd');
const tmp = join(work, 'decompress');
mkdirSync(tmp, { recursive: true });
const raw = readFileSync(TAR);
const MB = raw.length / 1e6;
const median = (xs) => { const s = [...xs].sort((a, b) => a - b); return s[s.length >> 1]; };
const time = (f) => { const t = process.hrtime.bigint(); f(); return Number(process.hrtime.bigint() - t) / 1e9; };
const cmdTime = (argv) => {
  const t = process.hrtime.bigint();
  const r = spawnSync(argv[0], argv.slice(1), { stdio: ['ignore', 'ignore', 'pipe'] });
  if (r.status !== 0) throw new Error(`${argv.join(' ')}: ${r.stderr}`);
  return Number(process.hrtime.bigint() - t) / 1e9;
};
const results = [];
function report(name, kitSeconds, refSeconds, refWhat) {
  const kit = median(kitSeconds), ref = median(refSeconds);
  const row = { algorithm: name, megabytes: +MB.toFixed(1), kitMBps: +(MB / kit).toFixed(0), refMBps: +(MB / ref).toFixed(0), reference: refWhat, ratio: +(kit / ref).toFixed(2) };
  results.push(row);
  console.log(`${name.padEnd(8)} erofs-kit ${String(row.kitMBps).padStart(5)} MB/s   ${refWhat} ${String(row.refMBps).padStart(5)} MB/s   time ratio ${row.ratio}`);
}

// ---- LZ4: parse the frame's independent blocks
const lz4File = join(tmp, 'rootfs.tar.lz4');
if (spawnSync('lz4', ['-q', '-f', '-9', '-B4', '--no-frame-crc', TAR, lz4File]).status !== 0) throw new Error('lz4 failed (apt-get install lz4)');
const f = readFileSync(lz4File);
const flg = f[4];
let p = 4 + 2 + (flg & 8 ? 8 : 0) + 1;
const blocks = [];
for (;;) {
  const size = f.readUInt32LE(p); p += 4;
  if (size === 0) break;
  const n = size & 0x7fffffff;
  blocks.push({ data: new Uint8Array(f.buffer, f.byteOffset + p, n), stored: (size & 0x80000000) !== 0 });
  p += n + (flg & 16 ? 4 : 0);
}
const out = new Uint8Array(65536);
const lz4Once = () => {
  let total = 0;
  for (const b of blocks) total += b.stored ? (out.set(b.data), b.data.length) : lz4Decompress(b.data, out, 0, out.length);
  if (total !== raw.length) throw new Error(`lz4: decoded ${total} bytes, expected ${raw.length}`);
};
lz4Once();
const lz4Ref = Array.from({ length: runs }, () => cmdTime(['lz4', '-q', '-d', '-c', lz4File]));
report(lz4UsesWasm() ? 'lz4' : 'lz4 (no wasm)', Array.from({ length: runs }, () => time(lz4Once)), lz4Ref, 'lz4 -d');
const lz4JsOnce = () => {
  let total = 0;
  for (const b of blocks) total += b.stored ? (out.set(b.data), b.data.length) : lz4DecompressJs(b.data, out, 0, out.length);
  if (total !== raw.length) throw new Error(`lz4 (js): decoded ${total} bytes, expected ${raw.length}`);
};
lz4JsOnce();
report('lz4-js', Array.from({ length: runs }, () => time(lz4JsOnce)), lz4Ref, 'lz4 -d');

// ---- zstd: one frame
const zstFile = join(tmp, 'rootfs.tar.zst');
if (spawnSync('zstd', ['-q', '-f', '-3', '--no-check', TAR, '-o', zstFile]).status !== 0) throw new Error('zstd failed (apt-get install zstd)');
const z = new Uint8Array(readFileSync(zstFile));
const zstdOnce = () => {
  let n = 0;
  const d = new FzstdDecompress((chunk) => { n += chunk.length; });
  for (let o = 0; o < z.length; o += 1 << 20) d.push(z.subarray(o, o + (1 << 20)), o + (1 << 20) >= z.length);
  if (n !== raw.length) throw new Error(`zstd: decoded ${n} bytes`);
};
zstdOnce();
report('zstd', Array.from({ length: runs }, () => time(zstdOnce)), Array.from({ length: runs }, () => cmdTime(['zstd', '-q', '-d', '-c', zstFile])), 'zstd -d');

// ---- DEFLATE: 64 KiB pieces, zlib in the same process as the reference
const pieces = [];
for (let o = 0; o < raw.length; o += 65536) pieces.push(new Uint8Array(deflateRawSync(raw.subarray(o, o + 65536), { level: 6 })));
const dout = new Uint8Array(65536);
const deflateKit = () => { let t = 0; for (const pc of pieces) t += deflateDecompress(pc, dout, 0, dout.length); if (t !== raw.length) throw new Error(`deflate: ${t}`); };
const deflateRef = () => { let t = 0; for (const pc of pieces) t += inflateRawSync(pc).length; if (t !== raw.length) throw new Error(`inflate: ${t}`); };
deflateKit();
report('deflate', Array.from({ length: runs }, () => time(deflateKit)), Array.from({ length: runs }, () => time(deflateRef)), 'zlib (node)');

rmSync(tmp, { recursive: true, force: true });
const outFile = join(HERE, 'results/decompress.json');
mkdirSync(dirname(outFile), { recursive: true });
writeFileSync(outFile, JSON.stringify({ date: new Date().toISOString(), cpu: os.cpus()[0]?.model, node: process.version, input: 'rootfs.tar', runs, results }, null, 2) + '\n');
console.log(`wrote ${outFile}`);
