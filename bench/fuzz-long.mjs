#!/usr/bin/env node
// The long fuzz run: one target for N minutes, inputs from packages/core/test/fuzz/harness.ts
// (bundled here with esbuild), run on a worker thread that the main thread watches.
//
//   node bench/fuzz-long.mjs --target image --minutes 60 [--seed 1] [--out DIR] [--log FILE]
//
// - The worker copies every input into shared memory before running it, so when it hangs in a
//   synchronous loop or dies (heap limit: --heap-mb, default 512) the main thread still has
//   the input: it saves it, ends the worker and starts a new one with the next seed.
// - A timeout counts only when a second run of the same input times out too (slowRetried
//   counts the inputs whose first run was slow on a loaded machine and second was not).
// - Violations found by the harness (a non-ErofsError escaping, an input over its time or
//   allocation bound, overlapping inspect spans) are saved too. Crashes are deduplicated by
//   kind and first message line; every distinct one is saved under DIR (default
//   $TMPDIR/erofs-kit-fuzz/long/<target>) as <kind>-<sha256 prefix>.
// - At the end it prints (and appends to --log as one JSON line) the target, wall time,
//   inputs executed, and the distinct crashes with their files.
// Run it niced on a shared machine: `nice -n 15 node bench/fuzz-long.mjs ...`.
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { createHash } from 'node:crypto';
import { appendFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const MAX_INPUT = 8 << 20;

if (isMainThread) await main();
else await worker();

async function main() {
  const { values } = parseArgs({
    options: {
      target: { type: 'string' },
      minutes: { type: 'string', default: '1' },
      seed: { type: 'string', default: String(Date.now() % 1_000_000) },
      out: { type: 'string' },
      log: { type: 'string' },
      'heap-mb': { type: 'string', default: '512' },
      'hang-seconds': { type: 'string', default: '30' },
    },
  });
  const bundle = await bundleHarness();
  const { TARGETS } = await import(pathToFileURL(bundle).href);
  if (!values.target || !TARGETS[values.target]) {
    console.error(`usage: fuzz-long.mjs --target ${Object.keys(TARGETS).join('|')} --minutes N`);
    process.exit(2);
  }
  const target = values.target;
  const out = values.out ?? join(tmpdir(), 'erofs-kit-fuzz', 'long', target);
  mkdirSync(out, { recursive: true });
  const deadline = Date.now() + Number(values.minutes) * 60_000;
  const hangMs = Number(values['hang-seconds']) * 1000;
  const shared = new SharedArrayBuffer(16 + MAX_INPUT);
  // [executions, current input length, 1 once the worker runs inputs (0 while it starts), unused]
  const meta = new Int32Array(shared, 0, 4);
  const current = new Uint8Array(shared, 16);
  const crashes = new Map();
  let seed = Number(values.seed);
  let executed = 0;
  let restarts = 0;
  let slowRetried = 0;
  const t0 = Date.now();

  const record = (kind, message, input) => {
    const key = `${kind}: ${message.split("\n")[0].replace(/\d+/g, "N")}`;
    const c = crashes.get(key);
    if (c) {
      c.count++;
      return;
    }
    const file = join(out, `${kind}-${createHash('sha256').update(input).digest('hex').slice(0, 16)}`);
    writeFileSync(file, input);
    crashes.set(key, { kind, message: message.slice(0, 4000), file, bytes: input.length, count: 1 });
    console.log(`[${target}] ${key} -> ${file}`);
  };

  while (Date.now() < deadline) {
    const w = new Worker(fileURLToPath(import.meta.url), {
      workerData: { bundle, target, seed, shared, root: ROOT },
      resourceLimits: { maxOldGenerationSizeMb: Number(values['heap-mb']) },
      env: { ...process.env, EROFS_KIT_ROOT: ROOT },
    });
    Atomics.store(meta, 0, 0);
    Atomics.store(meta, 2, 0);
    const ended = new Promise((resolve) => {
      w.on('message', (m) => {
        if (m.type === 'violation') record(m.kind, m.message, new Uint8Array(m.input));
        else if (m.type === 'retried') slowRetried++;
      });
      w.on('error', (e) => {
        const len = Atomics.load(meta, 1);
        record('worker-died', `${e.code ?? e.name}: ${e.message}`, current.slice(0, len));
        resolve('died');
      });
      w.on('exit', () => resolve('exit'));
    });
    let last = -1;
    let lastChange = Date.now();
    let why;
    for (;;) {
      why = await Promise.race([ended, new Promise((r) => setTimeout(() => r(undefined), 1000))]);
      if (why) break;
      const n = Atomics.load(meta, 0);
      if (n !== last) {
        last = n;
        lastChange = Date.now();
      } else if (Date.now() - lastChange > (Atomics.load(meta, 2) === 1 ? hangMs : 10 * hangMs)) {
        // A worker still starting (loading the harness, making its first inputs) is given ten
        // times as long: on a loaded machine that takes tens of seconds and is no hang.
        const len = Atomics.load(meta, 1);
        record('hang', `no progress for ${hangMs / 1000} s`, current.slice(0, len));
        why = 'hang';
        break;
      }
      if (Date.now() >= deadline) {
        why = 'deadline';
        break;
      }
    }
    executed += Atomics.load(meta, 0);
    await w.terminate();
    if (why !== 'deadline') restarts++;
    seed++;
  }
  const summary = {
    target,
    date: new Date().toISOString(),
    seconds: Math.round((Date.now() - t0) / 1000),
    executed,
    restarts,
    slowRetried,
    distinctCrashes: crashes.size,
    crashes: [...crashes.entries()].map(([key, c]) => ({ key, file: c.file, bytes: c.bytes, count: c.count })),
  };
  console.log(JSON.stringify(summary, null, 2));
  if (values.log) appendFileSync(values.log, JSON.stringify(summary) + '\n');
}

async function worker() {
  const { bundle, target: name, seed, shared } = workerData;
  const h = await import(pathToFileURL(bundle).href);
  h.countAllocations();
  const fc = h.fc;
  const target = h.TARGETS[name];
  const arb = h.inputs(target);
  const meta = new Int32Array(shared, 0, 4);
  const current = new Uint8Array(shared, 16);
  for (let batch = 0; ; batch++) {
    for (const input of fc.sample(arb, { numRuns: 200, seed: seed * 100_003 + batch })) {
      Atomics.store(meta, 2, 1);
      const n = Math.min(input.length, current.length);
      current.set(input.subarray(0, n));
      Atomics.store(meta, 1, n);
      const o = await h.checkConfirmed(target, input);
      Atomics.add(meta, 0, 1);
      if (o.retried) parentPort.postMessage({ type: 'retried' });
      if (o.violation) parentPort.postMessage({ type: 'violation', kind: o.violation.kind, message: o.violation.message, input: input.slice() });
    }
  }
}

async function bundleHarness() {
  const esbuild = await import('esbuild');
  const entry = join(ROOT, 'packages/core/test/fuzz/long-entry.ts');
  const outfile = join(tmpdir(), 'erofs-kit-fuzz', 'build', 'harness.mjs');
  await esbuild.build({
    entryPoints: [entry],
    outfile,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    logLevel: 'warning',
    banner: { js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" },
  });
  return outfile;
}
