#!/usr/bin/env node
// Benchmark: erofs-kit's CLI against erofs-utils 1.8.6 on the images built by
// bench/make-data.sh. Not a test: it prints a table and writes bench/results/latest.json.
//
//   node bench/run.mjs [--work DIR] [--runs N] [--only SUBSTRING[,SUBSTRING...]] [--reference-only]
//                      [--no-verify] [--out FILE] [--idle-wait SECONDS]
//
// Each case runs both tools N times (default 3), alternating which goes first, under
// /usr/bin/time -v. Reported: the median wall time (measured here with hrtime around the
// process), the largest "Maximum resident set size" of the runs, and
// ratio = erofs-kit median / erofs-utils median (lower is better; 1.0 = same speed).
// Extraction goes to a tmpfs mounted at WORK/mnt (mounted here when needed, unmounted at
// the end if this script mounted it), emptied before every run. The image files are read
// once before measuring, so every run reads them from the page cache. erofs-kit runs from
// a copy of packages/cli/dist/cli.js taken at the start (WORK/kit-snapshot). A run during
// which other processes used a noticeable share of the CPUs is repeated.
// See bench/README.md for what each case compares and why.
import { spawnSync } from 'node:child_process';
import {
  existsSync, mkdirSync, openSync, closeSync, readFileSync, writeFileSync, readdirSync,
  rmSync, statSync, lstatSync, readlinkSync, readSync,
} from 'node:fs';
import { createHash } from 'node:crypto';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import os from 'node:os';

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = resolve(HERE, '..');
const KIT_DIST = join(ROOT, 'packages/cli/dist/cli.js');
const TIME = '/usr/bin/time';
const FSCK = process.env.FSCK_EROFS ?? 'fsck.erofs18';
const MKFS = process.env.MKFS_EROFS ?? 'mkfs.erofs18';
const DUMP = process.env.DUMP_EROFS ?? 'dump.erofs18';

// ---------------------------------------------------------------- options
const opts = {
  work: process.env.EROFS_BENCH_WORK ?? '/var/tmp/erofs-kit-bench',
  runs: 3,
  only: null,
  referenceOnly: false,
  verify: true,
  out: join(HERE, 'results/latest.json'),
  tmpfsSize: process.env.EROFS_BENCH_TMPFS ?? '12G',
  idleWait: 60,
};
for (let i = 2; i < process.argv.length; i++) {
  const a = process.argv[i];
  const val = () => {
    if (i + 1 >= process.argv.length) die(`${a} needs a value`);
    return process.argv[++i];
  };
  if (a === '--work') opts.work = val();
  else if (a === '--runs') opts.runs = Number(val());
  else if (a === '--only') opts.only = val();
  else if (a === '--reference-only') opts.referenceOnly = true;
  else if (a === '--no-verify') opts.verify = false;
  else if (a === '--out') opts.out = resolve(val());
  else if (a === '--idle-wait') opts.idleWait = Number(val());
  else if (a === '-h' || a === '--help') {
    console.log(readFileSync(fileURLToPath(import.meta.url), 'utf8').split('\n').slice(1, 17).join('\n'));
    process.exit(0);
  } else die(`unknown argument ${a}`);
}
if (!Number.isInteger(opts.runs) || opts.runs < 1) die('--runs must be a positive integer');

function die(msg) {
  console.error(`bench: ${msg}`);
  process.exit(2);
}

const W = resolve(opts.work);
const MNT = join(W, 'mnt');
const img = (name) => join(W, name);

// ---------------------------------------------------------------- preconditions
const INPUTS = ['rootfs.erofs', 'rootfs-lz4hc.erofs', 'rootfs-zstd.erofs', 'small.erofs', 'files.tar', 'meta.erofs', 'rootfs.tar', 'huge.tar', 'files.tar.gz', 'rootfs.tar.gz', 'huge.tar.gz'];
for (const f of INPUTS) {
  if (!existsSync(img(f))) die(`${img(f)} is missing: run  sudo bash bench/make-data.sh ${W}`);
}
if (!existsSync(TIME)) die(`${TIME} is missing: apt-get install -y time`);
for (const tool of [FSCK, DUMP, MKFS]) {
  if (spawnSync(tool, ['-V'], { stdio: 'ignore' }).status !== 0) {
    die(`${tool} does not run: install erofs-utils 1.8.6 (tools/install-erofs-utils.sh)`);
  }
}
let withKit = !opts.referenceOnly;
if (withKit && !existsSync(KIT_DIST)) {
  console.warn(`bench: ${KIT_DIST} is missing (run npm run build): measuring erofs-utils only`);
  withKit = false;
}

// ---------------------------------------------------------------- tmpfs
function mountedTmpfs(path) {
  return readFileSync('/proc/mounts', 'utf8').split('\n')
    .some((l) => { const f = l.split(' '); return f[1] === path && f[2] === 'tmpfs'; });
}
let weMounted = false;
mkdirSync(MNT, { recursive: true });
if (!mountedTmpfs(MNT)) {
  const r = spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${opts.tmpfsSize}`, 'erofs-kit-bench', MNT], { encoding: 'utf8' });
  if (r.status !== 0) die(`cannot mount a tmpfs at ${MNT} (run as root): ${r.stderr.trim()}`);
  weMounted = true;
}
function emptyMnt() {
  for (const e of readdirSync(MNT)) rmSync(join(MNT, e), { recursive: true, force: true });
}
function cleanup() {
  try {
    emptyMnt();
    if (weMounted) spawnSync('umount', [MNT]);
  } catch { /* best effort */ }
}
// No signal handlers: the script is synchronous throughout (spawnSync, Atomics.wait), so a
// handler would never run and would only stop SIGTERM/SIGINT from ending it. Interrupted, it
// leaves WORK/mnt mounted; the next run empties and reuses it.
emptyMnt();

// ---------------------------------------------------------------- erofs-kit snapshot
// The CLI is a set of esbuild bundles (dist/cli.js, the dispatcher, and one bundle per command).
// Others may rebuild them while the bench runs, so the bench runs a copy taken now: every case
// measures the same build.
const SNAP = join(W, 'kit-snapshot');
let kitBuild = null;
if (withKit) {
  rmSync(SNAP, { recursive: true, force: true });
  mkdirSync(join(SNAP, 'bin'), { recursive: true });
  mkdirSync(join(SNAP, 'dist'), { recursive: true });
  const cliDir = dirname(dirname(KIT_DIST));
  // every bundle: the dispatcher, the commands and the worker entries they start (extract workers)
  const bundles = readdirSync(join(cliDir, 'dist')).filter((f) => f.endsWith('.js') || f.endsWith('.cjs')).map((f) => `dist/${f}`);
  for (const f of ['package.json', 'bin/erofs-kit.js', ...bundles]) {
    writeFileSync(join(SNAP, f), readFileSync(join(cliDir, f)));
  }
  kitBuild = {
    mtime: statSync(KIT_DIST).mtime.toISOString(),
    sha1: bundles.sort().reduce((h, f) => h.update(f).update(readFileSync(join(SNAP, f))), createHash('sha1')).digest('hex').slice(0, 12),
  };
}
const KIT_RUN = join(SNAP, 'bin/erofs-kit.js');

// ---------------------------------------------------------------- cases
const kit = (...args) => ['node', KIT_RUN, ...args];
const DEV = ['--device', img('files.tar')];
const OUT = join(MNT, 'out');
const LIST = join(MNT, 'list.txt');

const KIT_META = join(MNT, 'kit.erofs');
const REF_META = join(MNT, 'ref.erofs');
const KIT_TAR = join(MNT, 'kit.tar');
const REF_TAR = join(MNT, 'ref.tar');
/** erofs-kit index against mkfs.erofs --tar=i; gzip input writes the uncompressed tar too. */
function indexCase(tar) {
  const gz = tar.endsWith('.gz');
  return {
    id: `index-${tar.replace(/\.tar/, '').replace('.gz', '-gz')}`, what: 'tar index', image: tar, index: { gz },
    kit: kit('index', img(tar), '-o', KIT_META, ...(gz ? ['--tar-out', KIT_TAR] : [])),
    ref: [MKFS, '--tar=i', ...(gz ? [`--ungzip=${REF_TAR}`] : []), REF_META, img(tar)],
  };
}

/**
 * Full images: erofs-kit build against mkfs.erofs18 (uncompressed, 4 KiB blocks) from the same
 * directory or tar. The check compares the two images' listings and sizes.
 */
function buildCase(source, fromTar) {
  return {
    id: `build-${source.replace(/\.tar$/, '-tar')}`, what: 'full image', image: source, build: true,
    kit: kit('build', img(source), '-o', KIT_META),
    ref: [MKFS, '-b4096', ...(fromTar ? ['--tar=f'] : []), REF_META, img(source)],
  };
}

/** @type {{id:string, what:string, image:string, kit:string[], ref:string[], stdout?:string, extract?:boolean, index?:{gz:boolean}, build?:boolean}[]} */
const CASES = [
  {
    id: 'extract-rootfs', what: 'extract', image: 'rootfs.erofs', extract: true,
    kit: kit('extract', img('rootfs.erofs'), OUT),
    ref: [FSCK, `--extract=${OUT}`, img('rootfs.erofs')],
  },
  ...['lz4hc', 'zstd'].map((z) => ({
    id: `extract-rootfs-${z}`, what: 'extract', image: `rootfs-${z}.erofs`, extract: true,
    kit: kit('extract', img(`rootfs-${z}.erofs`), OUT),
    ref: [FSCK, `--extract=${OUT}`, img(`rootfs-${z}.erofs`)],
  })),
  {
    id: 'extract-small', what: 'extract', image: 'small.erofs', extract: true,
    kit: kit('extract', img('small.erofs'), OUT),
    ref: [FSCK, `--extract=${OUT}`, img('small.erofs')],
  },
  {
    id: 'extract-tar-index', what: 'extract', image: 'meta.erofs + files.tar', extract: true,
    kit: kit('extract', img('meta.erofs'), OUT, ...DEV),
    ref: [FSCK, `--device=${img('files.tar')}`, `--extract=${OUT}`, img('meta.erofs')],
  },
  {
    id: 'ls-R-rootfs', what: 'list tree', image: 'rootfs.erofs', stdout: LIST,
    kit: kit('ls', img('rootfs.erofs'), '-l', '-R'),
    ref: [FSCK, img('rootfs.erofs')],
  },
  {
    id: 'ls-R-small', what: 'list tree', image: 'small.erofs', stdout: LIST,
    kit: kit('ls', img('small.erofs'), '-l', '-R'),
    ref: [FSCK, img('small.erofs')],
  },
  {
    id: 'ls-R-tar-index', what: 'list tree', image: 'meta.erofs + files.tar', stdout: LIST,
    kit: kit('ls', img('meta.erofs'), '-l', '-R', ...DEV),
    ref: [FSCK, `--device=${img('files.tar')}`, img('meta.erofs')],
  },
  {
    id: 'ls-root-small', what: 'list /', image: 'small.erofs', stdout: LIST,
    kit: kit('ls', img('small.erofs'), '/'),
    ref: [DUMP, '--ls', '--path=/', img('small.erofs')],
  },
  {
    // erofs-kit fsck reads every byte of file data (check data-read); fsck.erofs18 reads the data
    // of compressed files only (it decompresses them), so on the uncompressed image it does less.
    id: 'fsck-rootfs', what: 'check image', image: 'rootfs.erofs', stdout: LIST,
    kit: kit('fsck', img('rootfs.erofs')),
    ref: [FSCK, img('rootfs.erofs')],
  },
  ...['rootfs', 'rootfs-lz4hc'].map((n) => ({
    // The same walk without reading file data: what fsck.erofs18 (without --extract) does.
    id: `fsck-nodata-${n}`, what: 'check image', image: `${n}.erofs`, stdout: LIST,
    kit: kit('fsck', img(`${n}.erofs`), '--no-data'),
    ref: [FSCK, img(`${n}.erofs`)],
  })),
  {
    id: 'fsck-rootfs-lz4hc', what: 'check image', image: 'rootfs-lz4hc.erofs', stdout: LIST,
    kit: kit('fsck', img('rootfs-lz4hc.erofs')),
    ref: [FSCK, img('rootfs-lz4hc.erofs')],
  },
  ...['rootfs.tar', 'files.tar', 'huge.tar', 'rootfs.tar.gz', 'files.tar.gz', 'huge.tar.gz'].map(indexCase),
  buildCase('rootfs', false),
  buildCase('small', false),
  buildCase('rootfs.tar', true),
  buildCase('files.tar', true),
  {
    // fs-verity digest of a 1 GiB file (huge.tar, 1.0 GiB) against fsverity-utils, not erofs-utils.
    id: 'digest-1g', what: 'fs-verity digest (reference: fsverity digest)', image: 'huge.tar', stdout: LIST,
    kit: kit('digest', img('huge.tar')),
    ref: ['fsverity', 'digest', img('huge.tar')],
  },
].filter((c) => !opts.only || opts.only.split(',').some((o) => c.id.includes(o)));
if (!CASES.length) die(`no case matches --only ${opts.only}`);

// ---------------------------------------------------------------- measuring
const TIMEFILE = join(os.tmpdir(), `erofs-kit-bench-time-${process.pid}.txt`);

/** Busy CPU seconds of the whole machine so far (all cores), from /proc/stat. */
function machineBusySeconds() {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal ...
  return (f[0] + f[1] + f[2] + f[5] + f[6] + f[7]) / 100;
}

function runOnce(argv, stdoutPath) {
  emptyMnt();
  const outFd = openSync(stdoutPath ?? '/dev/null', 'w');
  const busy0 = machineBusySeconds();
  const t0 = process.hrtime.bigint();
  const r = spawnSync(TIME, ['-v', '-o', TIMEFILE, ...argv], {
    stdio: ['ignore', outFd, 'pipe'], encoding: 'utf8', maxBuffer: 64 << 20,
  });
  const wall = Number(process.hrtime.bigint() - t0) / 1e9;
  const busy = machineBusySeconds() - busy0;
  closeSync(outFd);
  const tv = existsSync(TIMEFILE) ? readFileSync(TIMEFILE, 'utf8') : '';
  rmSync(TIMEFILE, { force: true });
  const field = (name) => {
    const m = tv.match(new RegExp(`${name}: ([0-9.:]+)`));
    return m ? m[1] : null;
  };
  const status = r.status ?? -1;
  const user = Number(field('User time \\(seconds\\)'));
  const sys = Number(field('System time \\(seconds\\)'));
  return {
    wall,
    user,
    sys,
    // CPU time the rest of the machine used meanwhile (other people's builds and tests)
    otherCpu: Math.max(0, busy - user - sys),
    maxRssKiB: Number(field('Maximum resident set size \\(kbytes\\)')),
    status,
    stderr: (r.stderr ?? '').trim(),
    stdoutLines: stdoutPath ? countLines(stdoutPath) : undefined,
  };
}

function countLines(path) {
  const buf = readFileSync(path);
  let n = 0;
  for (let i = buf.indexOf(10); i !== -1; i = buf.indexOf(10, i + 1)) n++;
  return n;
}

/** Path-sorted description of a tree: type, mode, ids, size, mtime (ns), target and content hash. */
function manifest(root) {
  const lines = [];
  const walk = (rel) => {
    const p = rel ? join(root, rel) : root;
    const st = lstatSync(p, { bigint: true });
    const mode = (Number(st.mode) & 0o7777).toString(8);
    const base = `${rel || '.'} ${mode} ${st.uid}:${st.gid} ${st.mtimeNs}`;
    if (st.isDirectory()) {
      lines.push(`${base} dir`);
      for (const e of readdirSync(p).sort()) walk(rel ? `${rel}/${e}` : e);
    } else if (st.isSymbolicLink()) {
      lines.push(`${base} link ${readlinkSync(p)}`);
    } else if (st.isFile()) {
      lines.push(`${base} file ${st.size} nlink=${st.nlink} ${createHash('sha1').update(readFileSync(p)).digest('hex')}`);
    } else {
      const kind = st.isCharacterDevice() ? 'chr' : st.isBlockDevice() ? 'blk' : st.isFIFO() ? 'fifo' : 'sock';
      lines.push(`${base} ${kind} ${st.rdev}`);
    }
  };
  walk('');
  return lines;
}

/**
 * What a tar index holds, read back: `erofs-kit ls -l -R` of the image with its tar as the
 * device (the same reader for both tools' images, so differences are in the images), and
 * for erofs-kit's image the verdict of fsck.erofs.
 */
function indexView(isKit, c) {
  const meta = isKit ? KIT_META : REF_META;
  const tar = c.index.gz ? (isKit ? KIT_TAR : REF_TAR) : img(c.image);
  const ls = spawnSync('node', [KIT_RUN, 'ls', meta, '-l', '-R', '--device', tar], { encoding: 'utf8', maxBuffer: 1 << 30 });
  const listing = ls.status === 0 ? ls.stdout : `ls failed: ${ls.stderr}`;
  let fsck;
  if (isKit) {
    const f = spawnSync(FSCK, [`--device=${tar}`, meta], { encoding: 'utf8' });
    fsck = f.status === 0 ? 'ok' : `failed: ${(f.stderr || f.stdout).trim().split('\n').slice(-2).join(' ')}`;
  }
  return { listing: createHash('sha1').update(listing).digest('hex'), lines: listing.split('\n').length - 1, fsck };
}

/** A built image: the size, a digest of its `ls -l -R` (read by erofs-kit for both) and fsck.erofs's verdict. */
function buildView(isKit) {
  const image = isKit ? KIT_META : REF_META;
  const ls = spawnSync('node', [KIT_RUN, 'ls', image, '-l', '-R'], { encoding: 'utf8', maxBuffer: 1 << 30 });
  const listing = ls.status === 0 ? ls.stdout : `ls failed: ${ls.stderr}`;
  const f = spawnSync(FSCK, [image], { encoding: 'utf8' });
  const fsck = f.status === 0 ? 'ok' : `failed: ${(f.stderr || f.stdout).trim().split('\n').slice(-2).join(' ')}`;
  return { listing: createHash('sha1').update(listing).digest('hex'), lines: listing.split('\n').length - 1, fsck, bytes: statSync(image).size };
}

function compareManifests(a, b) {
  const diffs = [];
  const n = Math.max(a.length, b.length);
  for (let i = 0; i < n && diffs.length < 5; i++) {
    if (a[i] !== b[i]) diffs.push(`erofs-kit: ${a[i] ?? '(none)'}\n      fsck.erofs: ${b[i] ?? '(none)'}`);
  }
  return { same: diffs.length === 0 && a.length === b.length, entries: [a.length, b.length], firstDiffs: diffs };
}

const MAX_RETRIES = 2;
const isNoisy = (res) => res.otherCpu > Math.max(0.2, 0.1 * res.wall);
const sleepSeconds = (n) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, n * 1000);
/** Waits (up to IDLE_WAIT_MAX seconds in all per call, --idle-wait) until the machine's other load is small. */
const IDLE_WAIT_MAX = opts.idleWait;
let idleWaited = 0;
function waitIdle() {
  const start = Date.now();
  for (;;) {
    const b0 = machineBusySeconds();
    sleepSeconds(1);
    if (machineBusySeconds() - b0 < 0.15 || (Date.now() - start) / 1000 > IDLE_WAIT_MAX) break;
  }
  idleWaited += (Date.now() - start) / 1000;
}

const median = (xs) => {
  const s = [...xs].sort((x, y) => x - y);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

function warmCache(path) {
  const fd = openSync(path, 'r');
  const buf = Buffer.allocUnsafe(8 << 20);
  while (readSync(fd, buf, 0, buf.length, null) > 0) { /* read through */ }
  closeSync(fd);
}

// ---------------------------------------------------------------- environment
function firstLine(cmd, args) {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  return (r.stdout || r.stderr || '').split('\n')[0].trim() || null;
}
function gitHead() {
  const r = spawnSync('git', ['-C', ROOT, 'rev-parse', '--short', 'HEAD'], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : null;
}
const env = {
  date: new Date().toISOString(),
  cpu: os.cpus()[0]?.model ?? null,
  cores: os.cpus().length,
  memGiB: +(os.totalmem() / 2 ** 30).toFixed(1),
  kernel: os.release(),
  node: process.version,
  erofsUtils: firstLine(FSCK, ['-V']),
  python3: spawnSync('sh', ['-c', 'command -v python3'], { encoding: 'utf8' }).stdout.trim() || null,
  gitHead: gitHead(),
  // the CLI bundle that was measured: packages/cli/dist/cli.js as copied at the start
  kitBuild,
  // filled in at the end: seconds spent waiting for other processes to go quiet
  idleWaitSeconds: 0,
  work: W,
  tmpfs: MNT,
  runs: opts.runs,
  idleWaitMax: opts.idleWait,
  imageBytes: Object.fromEntries(INPUTS.map((f) => [f, statSync(img(f)).size])),
};

console.log(`erofs-kit bench: ${env.cpu}, ${env.cores} cores, ${env.memGiB} GiB, Linux ${env.kernel}, node ${env.node}`);
console.log(`reference: ${env.erofsUtils}; ${opts.runs} run(s) per tool per case; work dir ${W}`);
if (!withKit) console.log('erofs-kit: not measured');
for (const f of Object.keys(env.imageBytes)) warmCache(img(f));

// ---------------------------------------------------------------- main loop
const results = [];
const entriesOf = new Map(); // image -> number of paths in the reference extraction
for (const c of CASES) {
  const tools = withKit ? [['erofs-kit', c.kit], ['erofs-utils', c.ref]] : [['erofs-utils', c.ref]];
  const runs = Object.fromEntries(tools.map(([name]) => [name, []]));
  const check = {};
  const retries = Object.fromEntries(tools.map(([name]) => [name, 0]));
  process.stdout.write(`${c.id.padEnd(18)} `);
  for (let r = 0; r < opts.runs; r++) {
    // alternate the order, so neither tool always runs right after the other's cleanup
    const order = r % 2 === 0 ? tools : [...tools].reverse();
    for (const [name, argv] of order) {
      // a run during which other processes took a noticeable share of the 2 cores is
      // repeated (after a pause), up to MAX_RETRIES times per case and tool
      let res;
      for (;;) {
        waitIdle();
        res = runOnce(argv, c.stdout);
        if (res.status !== 0 || !isNoisy(res) || retries[name] >= MAX_RETRIES) break;
        retries[name]++;
        process.stdout.write('~');
      }
      runs[name].push(res);
      process.stdout.write(res.status === 0 ? (isNoisy(res) ? '!' : '.') : 'x');
      if (res.status !== 0 && r === 0) {
        console.log(`\n  ${name} exited ${res.status}: ${argv.join(' ')}\n  ${res.stderr.split('\n').slice(-5).join('\n  ')}`);
      }
      // correctness, once per tool and case: the extracted tree or the listing's length
      if (r === 0 && res.status === 0 && opts.verify) {
        if (c.extract) check[name] = manifest(OUT);
        if (c.stdout) check[`${name}Lines`] = res.stdoutLines;
        if (c.index) check[name] = indexView(name === 'erofs-kit', c);
        if (c.build) check[name] = buildView(name === 'erofs-kit');
      }
    }
  }
  emptyMnt();

  const summary = { id: c.id, what: c.what, image: c.image, commands: {}, tools: {} };
  for (const [name, argv] of tools) {
    const rs = runs[name];
    const ok = rs.every((x) => x.status === 0);
    summary.commands[name] = argv.join(' ').replace(`node ${KIT_RUN}`, 'erofs-kit').replaceAll(W + '/', '');
    summary.tools[name] = {
      ok,
      medianSeconds: ok ? +median(rs.map((x) => x.wall)).toFixed(3) : null,
      // user + sys of the tool and its children: less disturbed by other load than wall time
      medianCpuSeconds: ok ? +median(rs.map((x) => x.user + x.sys)).toFixed(2) : null,
      peakRssMiB: +(Math.max(...rs.map((x) => x.maxRssKiB)) / 1024).toFixed(1),
      runs: rs.map((x) => ({
        wall: +x.wall.toFixed(3), user: x.user, sys: x.sys, maxRssKiB: x.maxRssKiB, status: x.status,
        otherCpu: +x.otherCpu.toFixed(2), noisy: isNoisy(x),
      })),
      repeatedForNoise: retries[name],
      stderrTail: ok ? undefined : rs.find((x) => x.status !== 0).stderr.split('\n').slice(-5).join('\n'),
    };
  }
  const k = summary.tools['erofs-kit'];
  const u = summary.tools['erofs-utils'];
  summary.ratio = k?.medianSeconds && u?.medianSeconds ? +(k.medianSeconds / u.medianSeconds).toFixed(2) : null;
  summary.cpuRatio = k?.medianCpuSeconds && u?.medianCpuSeconds ? +(k.medianCpuSeconds / u.medianCpuSeconds).toFixed(2) : null;
  if (c.extract && check['erofs-kit'] && check['erofs-utils']) {
    summary.sameTree = compareManifests(check['erofs-kit'], check['erofs-utils']);
  } else if (c.extract && check['erofs-utils']) {
    summary.entries = check['erofs-utils'].length;
  }
  if (c.extract && check['erofs-utils']) entriesOf.set(c.image, check['erofs-utils'].length);
  if (c.index && check['erofs-kit'] && check['erofs-utils']) {
    const [a, b] = [check['erofs-kit'], check['erofs-utils']];
    summary.indexCheck = { fsck: a.fsck, sameListing: a.listing === b.listing, lines: [a.lines, b.lines] };
  }
  if (c.build && check['erofs-kit'] && check['erofs-utils']) {
    const [a, b] = [check['erofs-kit'], check['erofs-utils']];
    summary.buildCheck = { fsck: a.fsck, sameListing: a.listing === b.listing, lines: [a.lines, b.lines], bytes: [a.bytes, b.bytes], sizeRatio: +(a.bytes / b.bytes).toFixed(3) };
    console.log(`\n  image sizes: erofs-kit ${a.bytes}, mkfs ${b.bytes} (ratio ${summary.buildCheck.sizeRatio}); listings ${summary.buildCheck.sameListing ? 'equal' : 'differ'}; fsck.erofs of erofs-kit's image: ${a.fsck}`);
  }
  if (c.stdout) {
    summary.outputLines = { 'erofs-kit': check['erofs-kitLines'], 'erofs-utils': check['erofs-utilsLines'] };
    // ls -R prints one line per path; the reference extraction of the same image tells how many
    if (c.what === 'list tree' && entriesOf.has(c.image)) summary.expectedLines = entriesOf.get(c.image);
  }
  results.push(summary);

  const f = (t) => (t?.medianSeconds != null ? t.medianSeconds.toFixed(3) : t ? 'FAIL' : '-');
  console.log(` kit ${f(k)} s, ref ${f(u)} s${summary.ratio != null ? `, ratio ${summary.ratio}` : ''}`);
  const kitLines = summary.outputLines?.['erofs-kit'];
  if (summary.expectedLines != null && kitLines != null && kitLines !== summary.expectedLines) {
    console.log(`  erofs-kit printed ${kitLines} lines for ${summary.expectedLines} paths`);
  }
  if (summary.indexCheck && !(summary.indexCheck.fsck === 'ok' && summary.indexCheck.sameListing)) {
    console.log(`  index check: fsck of erofs-kit's image ${summary.indexCheck.fsck}; listings ${summary.indexCheck.sameListing ? 'equal' : 'differ'} (${summary.indexCheck.lines.join(' vs ')} lines)`);
  }
  if (summary.sameTree && !summary.sameTree.same) {
    console.log(`  extracted trees differ (${summary.sameTree.entries.join(' vs ')} entries):`);
    for (const d of summary.sameTree.firstDiffs) console.log(`    ${d}`);
  }
}
cleanup();

// ---------------------------------------------------------------- report
const rows = [['case', 'erofs-kit s', 'erofs-utils s', 'ratio', 'kit cpu s', 'utils cpu s', 'cpu ratio', 'kit MiB', 'utils MiB']];
for (const s of results) {
  const k = s.tools['erofs-kit'];
  const u = s.tools['erofs-utils'];
  const secs = (t) => (!t ? '-' : t.ok ? t.medianSeconds.toFixed(3) : 'FAIL');
  const cpu = (t) => (!t ? '-' : t.ok ? t.medianCpuSeconds.toFixed(2) : 'FAIL');
  rows.push([
    s.id, secs(k), secs(u), s.ratio != null ? s.ratio.toFixed(2) : '-',
    cpu(k), cpu(u), s.cpuRatio != null ? s.cpuRatio.toFixed(2) : '-',
    k ? k.peakRssMiB.toFixed(1) : '-', u ? u.peakRssMiB.toFixed(1) : '-',
  ]);
}
const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
console.log('\nmedians over the runs (wall and user+sys CPU seconds), ratio = erofs-kit / erofs-utils, peak RSS = max over runs');
for (const [i, r] of rows.entries()) {
  console.log(r.map((cell, j) => (j === 0 ? cell.padEnd(widths[j]) : cell.padStart(widths[j]))).join('  '));
  if (i === 0) console.log(widths.map((w) => '-'.repeat(w)).join('  '));
}

env.idleWaitSeconds = Math.round(idleWaited);
const noisyRuns = results.flatMap((r) => Object.values(r.tools).flatMap((t) => t.runs)).filter((x) => x.noisy).length;
if (noisyRuns) {
  console.log(`\nnote: ${noisyRuns} run(s) kept although other processes were busy (marked noisy in the JSON)`);
}

mkdirSync(dirname(opts.out), { recursive: true });
writeFileSync(opts.out, JSON.stringify({ env, results }, null, 2) + '\n');
console.log(`\nwrote ${opts.out}`);
