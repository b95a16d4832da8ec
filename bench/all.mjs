#!/usr/bin/env node
// `npm run bench`: the whole benchmark in one command.
//
//   node bench/all.mjs [--work DIR] [--runs N] [--only CASES] [--idle-wait SECONDS] [--no-readme]
//
// 1. Makes the inputs when any is missing (bench/make-data.sh: a Debian minbase rootfs by
//    debootstrap, a 200,000-small-files tree, a few huge files, their tars, gzipped tars and
//    reference images; needs root).
// 2. Runs bench/run.mjs (erofs-kit against mkfs/fsck/dump.erofs 1.8.6 and fsverity, both
//    tools alternately, N runs each) into bench/results/all.json, then bench/decompress.mjs
//    (decoders per algorithm against lz4/zstd/zlib) into bench/results/decompress.json.
// 3. Writes the table (medians, min–max, ratios, peak memory, the machine, each figure's two
//    commands) into bench/README.md between the `bench:table` markers, and prints it.
// It never fails on a timing: the exit status is non-zero only when a step cannot run.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = resolve(HERE, '..');
const README = join(HERE, 'README.md');
const START = '<!-- bench:table:start (written by npm run bench; edits here are replaced) -->';
const END = '<!-- bench:table:end -->';

const args = process.argv.slice(2);
let work = process.env.EROFS_BENCH_WORK ?? '/var/tmp/erofs-kit-bench';
let runs = '3';
let readme = true;
const runArgs = [];
for (let i = 0; i < args.length; i++) {
  const a = args[i];
  if (a === '--work') work = args[++i];
  else if (a === '--runs') runs = args[++i];
  else if (a === '--no-readme') readme = false;
  else if (a === '--only' || a === '--idle-wait') runArgs.push(a, args[++i]);
  else {
    console.error(`bench: unknown argument ${a}`);
    process.exit(2);
  }
}
work = resolve(work);

function step(what, cmd, argv) {
  console.log(`\n== ${what}: ${cmd} ${argv.join(' ')}`);
  const r = spawnSync(cmd, argv, { stdio: 'inherit', cwd: ROOT });
  if (r.error || r.status !== 0) {
    console.error(`bench: ${what} failed (${r.error?.message ?? `exit ${r.status}`})`);
    process.exit(1);
  }
}

// 1. inputs
const INPUTS = ['rootfs.erofs', 'rootfs-lz4hc.erofs', 'rootfs-zstd.erofs', 'small.erofs', 'files.tar', 'meta.erofs', 'rootfs.tar', 'huge.tar', 'files.tar.gz', 'rootfs.tar.gz', 'huge.tar.gz'];
const missing = INPUTS.filter((f) => !existsSync(join(work, f)));
if (missing.length) {
  if (process.getuid?.() !== 0) {
    console.error(`bench: ${missing.join(', ')} missing in ${work}, and making them needs root (debootstrap, mounts): run as root`);
    process.exit(1);
  }
  step('inputs', 'bash', [join(HERE, 'make-data.sh'), work]);
}
if (!existsSync(join(ROOT, 'packages/cli/dist/cli.js'))) step('build', 'npm', ['run', 'build']);

// 2. measurements
const ALL = join(HERE, 'results/all.json');
const DEC = join(HERE, 'results/decompress.json');
step('tools', process.execPath, [join(HERE, 'run.mjs'), '--work', work, '--runs', runs, '--out', ALL, ...runArgs]);
if (!runArgs.includes('--only')) step('decoders', process.execPath, [join(HERE, 'decompress.mjs'), '--work', work]);

// 3. the table
const all = JSON.parse(readFileSync(ALL, 'utf8'));
const dec = existsSync(DEC) ? JSON.parse(readFileSync(DEC, 'utf8')) : undefined;
const table = render(all, dec);
console.log('\n' + table);
if (readme) {
  const text = readFileSync(README, 'utf8');
  const a = text.indexOf(START);
  const b = text.indexOf(END);
  if (a < 0 || b < a) {
    console.error(`bench: ${README} has no ${START} … ${END} section; table not written`);
    process.exit(1);
  }
  writeFileSync(README, text.slice(0, a + START.length) + '\n' + table + '\n' + text.slice(b));
  console.log(`\nwrote the table into ${README}`);
}

/** min–max of a tool's successful runs' wall times. */
function spread(t) {
  const w = t.runs.filter((r) => r.status === 0).map((r) => r.wall);
  return w.length ? `${Math.min(...w).toFixed(2)}–${Math.max(...w).toFixed(2)}` : '-';
}

function render(all, dec) {
  const e = all.env;
  const lines = [];
  lines.push(`Run of ${e.date} on ${e.cpu}, ${e.cores} cores, ${e.memGiB} GiB, Linux ${e.kernel}, Node ${e.node}; reference ${e.erofsUtils}; git ${e.gitHead}, erofs-kit bundle ${e.kitBuild?.sha1 ?? '?'}; ${e.runs} runs per tool, alternating; ${e.idleWaitSeconds} s spent waiting for other load to pass.`);
  lines.push('');
  lines.push('| case | erofs-kit s (min–max) | reference s (min–max) | ratio | CPU ratio | erofs-kit MiB | reference MiB | checks |');
  lines.push('|---|---|---|---|---|---|---|---|');
  for (const s of all.results) {
    const k = s.tools['erofs-kit'];
    const u = s.tools['erofs-utils'];
    const secs = (t) => (!t ? '-' : t.ok ? `${t.medianSeconds.toFixed(3)} (${spread(t)})` : 'FAIL');
    const checks = [];
    if (s.buildCheck) checks.push(`image ${s.buildCheck.bytes[0]} bytes, mkfs.erofs ${s.buildCheck.bytes[1]} (${(s.buildCheck.bytes[0] / s.buildCheck.bytes[1]).toFixed(4)}), listings ${s.buildCheck.sameListing ? 'equal' : 'differ'}, fsck ${s.buildCheck.fsck}`);
    if (s.indexCheck) checks.push(`listings ${s.indexCheck.sameListing ? 'equal' : 'differ'}, fsck ${s.indexCheck.fsck}`);
    if (s.sameTree) checks.push(s.sameTree.same ? 'same tree' : 'trees differ');
    lines.push(`| \`${s.id}\` | ${secs(k)} | ${secs(u)} | **${s.ratio ?? '-'}** | ${s.cpuRatio ?? '-'} | ${k ? k.peakRssMiB : '-'} | ${u ? u.peakRssMiB : '-'} | ${checks.join('; ')} |`);
  }
  lines.push('');
  lines.push('Commands (paths relative to the work directory; `erofs-kit` is the CLI bundle measured):');
  lines.push('');
  for (const s of all.results) {
    lines.push(`- \`${s.id}\`: \`${s.commands['erofs-kit']}\` against \`${s.commands['erofs-utils']}\``);
  }
  if (dec) {
    lines.push('');
    lines.push(`Decoders (\`node bench/decompress.mjs\`, ${dec.runs} runs, median; MB/s of decompressed output of ${dec.input} in 64 KiB pieces):`);
    lines.push('');
    lines.push('| algorithm | erofs-kit MB/s | reference | reference MB/s | ratio |');
    lines.push('|---|---|---|---|---|');
    for (const r of dec.results) lines.push(`| ${r.algorithm} | ${r.kitMBps} | \`${r.reference}\` | ${r.refMBps} | **${r.ratio}** |`);
  }
  lines.push('');
  lines.push('ratio = erofs-kit median / reference median (below 1: erofs-kit is faster); memory = the largest peak RSS of the runs.');
  return lines.join('\n');
}
