// The floor of a JavaScript pass over a tar of many small files: how long the least a tar
// index could do takes in Node, against mkfs.erofs --tar=i's whole run on the same tar.
// The walk reads the tar in 128 KiB windows (as the tar reader does), verifies each ustar
// header's checksum, parses mode, ids, mtime and size, and puts one small object per entry
// into a Map per directory; it handles only what `tar --format=pax` writes for plain files
// and directories (no pax records, no links), writes no image and computes no digest.
// erofs-kit's `index` does all of that and more; this shows what is left once everything
// erofs-kit adds per entry is taken away (bench/README.md, "Tar index and digest, session 6").
// A benchmark, not a test.
//   node bench/index-floor.mjs [TAR] [--runs N]     (TAR default: the bench's files.tar)
import { spawnSync } from 'node:child_process';
import { closeSync, fstatSync, mkdtempSync, openSync, readSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

const { values, positionals } = parseArgs({ options: { runs: { type: 'string', default: '5' } }, allowPositionals: true });
const tar = positionals[0] ?? join(process.env.EROFS_BENCH_WORK ?? '/var/tmp/erofs-kit-bench', 'files.tar');
const runs = Number(values.runs);

function octal(b, o, n) {
  let v = 0;
  let i = o;
  while (i < o + n && (b[i] === 0x20 || b[i] === 0x30)) i++;
  for (; i < o + n; i++) {
    const c = b[i];
    if (c < 0x30 || c > 0x37) break;
    v = v * 8 + (c - 0x30);
  }
  return v;
}

function walk(fd, size) {
  const win = Buffer.allocUnsafe(128 << 10);
  let winStart = 0;
  let winLen = 0;
  let pos = 0;
  let entries = 0;
  const root = { children: new Map() };
  let lastDir = '';
  let lastNode = root;
  while (pos + 512 <= size) {
    if (pos + 512 > winStart + winLen) {
      winStart = pos;
      winLen = readSync(fd, win, 0, win.length, pos);
    }
    const o = pos - winStart;
    if (win[o] === 0) break; // end of archive
    let sum = 8 * 0x20;
    for (let i = 0; i < 148; i++) sum += win[o + i];
    for (let i = 156; i < 512; i++) sum += win[o + i];
    if (sum !== octal(win, o + 148, 8)) throw new Error(`bad header checksum at ${pos}`);
    const fileSize = octal(win, o + 124, 12);
    let n = 0;
    while (n < 100 && win[o + n] !== 0) n++;
    let path = win.latin1Slice(o, o + n);
    if (path.endsWith('/')) path = path.slice(0, -1);
    const slash = path.lastIndexOf('/');
    const dir = slash < 0 ? '' : path.slice(0, slash);
    const name = path.slice(slash + 1);
    const isDir = win[o + 156] === 0x35;
    const node = { mode: octal(win, o + 100, 8), uid: octal(win, o + 108, 8), gid: octal(win, o + 116, 8), mtime: octal(win, o + 136, 12), size: fileSize, offset: pos + 512, children: isDir ? new Map() : undefined };
    if (dir !== lastDir) {
      let cur = root;
      for (const part of dir.split('/')) if (part !== '' && part !== '.') cur = cur.children.get(part);
      lastNode = cur;
      lastDir = dir;
    }
    if (name !== '.' && name !== '') lastNode.children.set(name, node);
    entries++;
    pos += 512 + Math.ceil(fileSize / 512) * 512;
  }
  return entries;
}

const cpuMs = () => {
  const c = process.cpuUsage();
  return (c.user + c.system) / 1000;
};
const median = (a) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];

const fd = openSync(tar, 'r');
const size = fstatSync(fd).size;
const walkCpu = [];
const walkWall = [];
let entries = 0;
for (let r = 0; r < runs; r++) {
  const c0 = cpuMs();
  const t0 = performance.now();
  entries = walk(fd, size);
  walkWall.push(performance.now() - t0);
  walkCpu.push(cpuMs() - c0);
}
closeSync(fd);

const mkfsWall = [];
const tmp = mkdtempSync(join(tmpdir(), 'index-floor-'));
for (let r = 0; r < runs; r++) {
  const t0 = performance.now();
  const p = spawnSync('mkfs.erofs18', ['--tar=i', join(tmp, 'ref.erofs'), tar], { stdio: 'ignore' });
  if (p.error || p.status !== 0) {
    console.log(`mkfs.erofs18 not run (${p.error?.message ?? `exit ${p.status}`}): no reference time`);
    break;
  }
  mkfsWall.push(performance.now() - t0);
}
rmSync(tmp, { recursive: true, force: true });

console.log(`${tar}: ${entries} entries, ${(size / 1048576).toFixed(0)} MiB`);
console.log(`header walk + Map tree, no image, no digest (${runs} runs, in one warm process): median ${median(walkWall).toFixed(0)} ms wall, ${median(walkCpu).toFixed(0)} ms CPU (first run ${walkWall[0].toFixed(0)} ms)`);
if (mkfsWall.length) console.log(`mkfs.erofs18 --tar=i, whole run: median ${median(mkfsWall).toFixed(0)} ms wall; 0.7x of it is ${(0.7 * median(mkfsWall)).toFixed(0)} ms`);
