#!/usr/bin/env node
// composefs build against the full-image build of the same directory, both by erofs-kit:
// `build --composefs DIR --objects STORE` (a fresh store each run: every object written) and
// `build DIR`. Prints wall time and peak RSS (from /usr/bin/time) per run, the median ratio,
// and writes bench/results/composefs.json.
//
//   node bench/composefs-build.mjs [--runs N] [--tree DIR] [--work DIR]
//
// DIR defaults to the debootstrap tree of bench/make-data.sh (/var/tmp/erofs-kit-bench/rootfs).
import { spawnSync } from 'node:child_process';
import { mkdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';

const { values } = parseArgs({ options: { runs: { type: 'string' }, tree: { type: 'string' }, work: { type: 'string' } } });
const runs = Number(values.runs ?? 3);
const tree = values.tree ?? '/var/tmp/erofs-kit-bench/rootfs';
const work = values.work ?? '/var/tmp/erofs-kit-bench/composefs';
const KIT = resolve(new URL('.', import.meta.url).pathname, '../packages/cli/bin/erofs-kit.js');
mkdirSync(work, { recursive: true });

function timed(args) {
  const r = spawnSync('/usr/bin/time', ['-f', '%e %M', process.execPath, KIT, ...args], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`erofs-kit ${args.join(' ')}: ${r.stderr}`);
  const [secs, kib] = r.stderr.trim().split('\n').pop().split(' ').map(Number);
  return { secs, peakMiB: kib / 1024 };
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const full = [];
const cfs = [];
for (let i = 0; i < runs; i++) {
  full.push(timed(['build', tree, '-o', join(work, 'full.erofs'), '--quiet']));
  rmSync(join(work, 'objects'), { recursive: true, force: true });
  cfs.push(timed(['build', '--composefs', tree, '-o', join(work, 'image.cfs'), '--objects', join(work, 'objects')]));
  console.log(`run ${i + 1}: full ${full[i].secs} s ${full[i].peakMiB.toFixed(0)} MiB; composefs + objects ${cfs[i].secs} s ${cfs[i].peakMiB.toFixed(0)} MiB`);
}
const result = {
  tree,
  runs,
  fullSecs: median(full.map((r) => r.secs)),
  composefsSecs: median(cfs.map((r) => r.secs)),
  fullPeakMiB: Math.round(median(full.map((r) => r.peakMiB))),
  composefsPeakMiB: Math.round(median(cfs.map((r) => r.peakMiB))),
  fullBytes: statSync(join(work, 'full.erofs')).size,
  composefsBytes: statSync(join(work, 'image.cfs')).size,
};
result.ratio = Number((result.composefsSecs / result.fullSecs).toFixed(2));
console.log(`composefs / full: ${result.ratio}x time (median of ${runs}); peak ${result.composefsPeakMiB} / ${result.fullPeakMiB} MiB; image ${result.composefsBytes} / ${result.fullBytes} bytes`);
writeFileSync(resolve(new URL('.', import.meta.url).pathname, 'results/composefs.json'), JSON.stringify(result, null, 2) + '\n');
