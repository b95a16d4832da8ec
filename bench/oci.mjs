#!/usr/bin/env node
/**
 * `erofs-kit oci convert` against erofs-utils on a multi-layer OCI image, in one run.
 *
 * Input (made once with umoci, kept in WORK/oci-debian): the Debian rootfs of make-data.sh
 * split into five layers (everything but /usr, /usr/lib, /usr/share, the rest of /usr, /var
 * and /etc again with changes) plus three small change layers (a deletion of
 * /usr/share/doc, a new directory, an opaque replacement of /etc/apt). Gzip layers, as umoci
 * writes them.
 *
 * Measured, each run into a fresh directory on the same disk as the input:
 *   kit: erofs-kit oci convert LAYOUT:bench -o OUT
 *        (per layer: decompress, write the tar, tar index, blob digest and diffID checked;
 *        then the merged fsmeta.erofs and summary.json)
 *   ref: per layer  mkfs.erofs18 --tar=i --aufs --ungzip=L.tar L.erofs BLOB
 *        then       mkfs.erofs18 --aufs --ovlfs-strip=1 fsmeta.erofs L1.erofs ... (rebuild mode)
 *        (no digest is checked: the reference does strictly less work)
 * Runs alternate kit/ref; the table gives medians of wall time and the largest peak RSS of a
 * process (GNU time). Writes bench/results/oci.json.
 *
 *   node bench/oci.mjs [--work DIR] [--rootfs DIR] [--runs N]
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync, readdirSync } from 'node:fs';
import { loadavg } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = dirname(fileURLToPath(import.meta.url));
const CLI = resolve(HERE, '../packages/cli/bin/erofs-kit.js');
const MKFS = process.env.EROFS_KIT_MKFS ?? 'mkfs.erofs18';

function arg(name, dflt) {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : dflt;
}
const WORK = resolve(arg('work', process.env.EROFS_BENCH_WORK ?? '/var/tmp/erofs-kit-bench'));
const ROOTFS = resolve(arg('rootfs', join(WORK, 'rootfs')));
const RUNS = Number(arg('runs', '3'));
const LAYOUT = join(WORK, 'oci-debian');

function sh(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 1 << 28, ...opts });
  if (r.error) throw new Error(`${cmd}: ${r.error.message}`);
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.status}: ${r.stderr}`);
  return r.stdout;
}

/** Runs a shell script under GNU time; returns wall seconds and the peak RSS (KiB) of its largest process. */
function timed(script) {
  const t0 = process.hrtime.bigint();
  const r = spawnSync('bash', ['-c', script], { encoding: 'utf8', maxBuffer: 1 << 28 });
  const wall = Number(process.hrtime.bigint() - t0) / 1e9;
  if (r.status !== 0) throw new Error(`${script} failed: ${r.stderr}`);
  const rss = [...r.stderr.matchAll(/^RSS (\d+)$/gm)].map((m) => Number(m[1]));
  return { wall, rssKiB: Math.max(0, ...rss) };
}

function makeLayout() {
  if (existsSync(join(LAYOUT, 'index.json'))) return;
  if (!existsSync(join(ROOTFS, 'usr'))) throw new Error(`${ROOTFS} is not the Debian rootfs (run bench/make-data.sh, or pass --rootfs)`);
  rmSync(LAYOUT, { recursive: true, force: true });
  const b = join(WORK, 'oci-bundle');
  const R = join(b, 'rootfs');
  sh('umoci', ['init', '--layout', LAYOUT]);
  sh('umoci', ['new', '--image', `${LAYOUT}:bench`]);
  const unpack = () => {
    rmSync(b, { recursive: true, force: true });
    sh('umoci', ['unpack', '--image', `${LAYOUT}:bench`, b]);
  };
  const repack = () => {
    sh('umoci', ['repack', '--image', `${LAYOUT}:bench`, b]);
    unpack();
  };
  unpack();
  // 1: everything but /usr and /var (cp -a keeps owners, devices, hard links).
  for (const n of readdirSync(ROOTFS)) if (n !== 'usr' && n !== 'var') sh('cp', ['-a', join(ROOTFS, n), R]);
  repack();
  mkdirSync(join(R, 'usr'), { recursive: true });
  sh('cp', ['-a', join(ROOTFS, 'usr', 'lib'), join(R, 'usr')]);
  repack();
  sh('cp', ['-a', join(ROOTFS, 'usr', 'share'), join(R, 'usr')]);
  repack();
  for (const n of readdirSync(join(ROOTFS, 'usr'))) if (n !== 'lib' && n !== 'share') sh('cp', ['-a', join(ROOTFS, 'usr', n), join(R, 'usr')]);
  repack();
  sh('cp', ['-a', join(ROOTFS, 'var'), R]);
  writeFileSync(join(R, 'etc', 'motd'), 'bench image\n');
  repack();
  // Small change layers.
  rmSync(join(R, 'usr', 'share', 'doc'), { recursive: true, force: true });
  repack();
  mkdirSync(join(R, 'srv', 'app', 'conf'), { recursive: true });
  for (let i = 0; i < 50; i++) writeFileSync(join(R, 'srv', 'app', 'conf', `c${i}.conf`), `value=${i}\n`);
  repack();
  rmSync(join(R, 'etc', 'apt'), { recursive: true, force: true });
  mkdirSync(join(R, 'etc', 'apt'));
  writeFileSync(join(R, 'etc', 'apt', 'sources.list'), 'deb http://deb.debian.org/debian bookworm main\n');
  repack();
  rmSync(b, { recursive: true, force: true });
}

function main() {
  for (const [cmd, a] of [['umoci', ['--version']], [MKFS, ['-V']], ['/usr/bin/time', ['--version']]]) {
    if (spawnSync(cmd, a, { stdio: 'ignore' }).status !== 0) throw new Error(`${cmd} is needed`);
  }
  if (!existsSync(CLI)) throw new Error(`${CLI} missing: npm run build`);
  mkdirSync(WORK, { recursive: true });
  makeLayout();
  const manifest = JSON.parse(readFileSync(join(LAYOUT, 'index.json'), 'utf8')).manifests[0];
  const m = JSON.parse(readFileSync(join(LAYOUT, 'blobs', ...manifest.digest.split(':')), 'utf8'));
  const blobs = m.layers.map((l) => join(LAYOUT, 'blobs', ...l.digest.split(':')));
  const out = join(WORK, 'oci-out');
  const T = `/usr/bin/time -f 'RSS %M'`;
  const kitScript = `rm -rf ${out}/kit && ${T} node ${CLI} oci convert ${LAYOUT}:bench -o ${out}/kit >/dev/null`;
  const refScript = [
    `rm -rf ${out}/ref && mkdir -p ${out}/ref && cd ${out}/ref`,
    ...blobs.map((b, i) => `${T} ${MKFS} --tar=i --aufs --ungzip=L${i}.tar L${i}.erofs ${b} >/dev/null`),
    `${T} ${MKFS} --aufs --ovlfs-strip=1 fsmeta.erofs ${blobs.map((_, i) => `L${i}.erofs`).join(' ')} >/dev/null`,
  ].join(' && ');
  const runs = { kit: [], ref: [] };
  const load = [loadavg()[0]];
  for (let i = 0; i < RUNS; i++) {
    runs.kit.push(timed(kitScript));
    runs.ref.push(timed(refScript));
    load.push(loadavg()[0]);
  }
  // What each produced: the two fsmeta images listed by the same reader (erofs-kit ls -l -R).
  const listing = (img, devs) => sh('node', [CLI, 'ls', '-l', '-R', img, ...devs.flatMap((d) => ['--device', d])]).split('\n');
  const summary = JSON.parse(readFileSync(join(out, 'kit', 'summary.json'), 'utf8'));
  const kitDevs = summary.devices.map((d) => join(out, 'kit', d.path));
  const refDevs = blobs.map((_, i) => join(out, 'ref', `L${i}.tar`));
  const med = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const result = {
    date: new Date().toISOString(),
    layers: blobs.length,
    layerBytes: m.layers.reduce((n, l) => n + l.size, 0),
    tarBytes: summary.devices.reduce((n, d) => n + d.tarBytes, 0),
    runs: RUNS,
    loadavg: load,
    kit: { wallMedian: med(runs.kit.map((r) => r.wall)), peakRssKiB: Math.max(...runs.kit.map((r) => r.rssKiB)), runs: runs.kit },
    ref: { wallMedian: med(runs.ref.map((r) => r.wall)), peakRssKiB: Math.max(...runs.ref.map((r) => r.rssKiB)), runs: runs.ref },
  };
  const a = listing(join(out, 'kit', 'fsmeta.erofs'), kitDevs);
  const bl = listing(join(out, 'ref', 'fsmeta.erofs'), refDevs);
  const differing = a.flatMap((line, i) => (line === bl[i] ? [] : [`kit: ${line}`, `ref: ${bl[i]}`]));
  result.listing = { kitLines: a.length, refLines: bl.length, differing };
  result.ratio = result.kit.wallMedian / result.ref.wallMedian;
  mkdirSync(join(HERE, 'results'), { recursive: true });
  writeFileSync(join(HERE, 'results', 'oci.json'), JSON.stringify(result, null, 2) + '\n');
  console.log(`oci convert, ${result.layers} layers, ${(result.tarBytes / 2 ** 20).toFixed(0)} MiB of tar (${(result.layerBytes / 2 ** 20).toFixed(0)} MiB gzip)`);
  console.log(`  erofs-kit   ${result.kit.wallMedian.toFixed(2)} s, peak RSS ${(result.kit.peakRssKiB / 1024).toFixed(0)} MiB`);
  console.log(`  erofs-utils ${result.ref.wallMedian.toFixed(2)} s, peak RSS ${(result.ref.peakRssKiB / 1024).toFixed(0)} MiB`);
  console.log(`  ratio ${result.ratio.toFixed(2)}x; load ${load.map((l) => l.toFixed(1)).join(' ')}`);
  console.log(`  ls -l -R of both fsmeta images: ${a.length} / ${bl.length} lines, ${differing.length / 2} differ`);
  for (const d of differing) console.log(`    ${d}`);
  rmSync(out, { recursive: true, force: true });
}

main();
