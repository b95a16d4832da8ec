// First-request latency of the language server (issue 5: at most 200 ms from `initialize` to the
// first hover / semantic tokens on a typical dump). Each run starts the server as an editor does
// (`erofs-kit-lsp --stdio`, packages/lsp/bin: the bundle dist/server.cjs through its V8 code
// cache) as a fresh process, and times over stdio:
//   start      process spawn -> answer to `initialize` (Node start-up + bundle load); an editor
//              sends `initialize` as soon as it has spawned the server, so this is part of it
//   hover      spawn -> first hover answered (start, didOpen, parse, inspect, hover)
//   tokens     spawn -> full semantic tokens answered (sent right after that hover)
//   open       `initialize` answered -> first hover answered (the document's own cost, with the
//              client's own time to serialise and send it)
//   per request: the first hover from the moment it is sent (after `didOpen` has been written)
//              to its answer, and the full semantic tokens from the hover's answer to theirs:
//              the "per request" latency (wall time only, with the 90th percentile)
// On a busy machine wall times mostly measure the wait for a core, so each is paired with the
// CPU time the server process had used by then (all its threads, from /proc/PID/task/*/schedstat:
// `cpu` in the JSON; its main thread alone: `mainThreadCpu`, about what the wall time would be on
// an idle machine), which the other processes on the machine hardly change.
// for three documents: a 128-byte superblock dump (`xxd -s 1024 -l 128`), a whole fixture image
// (basic-4k, 272 KiB) and a generated 1 MiB image (the size), each as xxd text.
// Each document is measured in two modes: `cold`, the first start on a machine (no code cache,
// EROFS_KIT_LSP_NO_CACHE=1), and `cached`, every later start (the cache the warm-up run wrote, in
// a temporary XDG_CACHE_HOME). Reports the median and min-max over --runs (default 7) and writes
// bench/results/lsp-latency.json.
// A benchmark, not a test: nothing fails on a timing.
//   npm run build && node bench/lsp-latency.mjs [--runs N] [--out FILE] [--only NAME] [--server BIN] [--compare BIN] [--node-arg ARG]...
// --server: measure another build's bin instead; --compare: also measure that bin (mode `compare`),
// its runs interleaved with this build's so that both see the same load.
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { createProtocolConnection, StreamMessageReader, StreamMessageWriter } from 'vscode-languageserver-protocol/node';
import { formatHint, formatXxd, writeImage } from '@erofs-kit/core';
import { dumpTree } from '../packages/lsp/bench/dump-tree.mjs';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const { values: opts } = parseArgs({ options: { runs: { type: 'string', default: '7' }, out: { type: 'string', default: `${ROOT}bench/results/lsp-latency.json` }, 'node-arg': { type: 'string', multiple: true, default: [] }, only: { type: 'string', default: '' }, server: { type: 'string', default: '' }, compare: { type: 'string', default: '' } } });
const RUNS = Number(opts.runs);
const SERVER = opts.server || `${ROOT}packages/lsp/bin/erofs-kit-lsp.js`;
const CACHE_HOME = mkdtempSync(join(tmpdir(), 'lsp-bench-cache-'));

function documents() {
  const fixture = new Uint8Array(readFileSync(`${ROOT}fixtures/basic-4k.erofs`));
  const { image, rootNid } = writeImage(dumpTree(1 << 20), { blkszbits: 12 });
  return [
    // The superblock line of the dump is line 1 (0-based; line 0 is the hint or the first row).
    { name: 'superblock (128 bytes)', text: formatXxd(fixture.subarray(1024, 1152), 1024), hover: { line: 0, character: 12 } },
    { name: 'basic-4k fixture (272 KiB)', text: formatXxd(fixture), hover: { line: 64, character: 12 } },
    { name: 'generated image (1 MiB)', text: `${formatHint({ blkszbits: 12, metaBlkaddr: 0, rootNid })}\n${formatXxd(image)}`, hover: { line: 65, character: 12 } },
  ];
}

/**
 * CPU time (ms) used so far by process `pid`: all its threads (`all`) and its main thread alone
 * (`main`, the critical path on an idle machine); NaN where /proc has no schedstat.
 */
function cpuMs(pid) {
  const of = (t) => Number(readFileSync(`/proc/${pid}/task/${t}/schedstat`, 'utf8').split(' ')[0]) / 1e6;
  try {
    let all = 0;
    for (const t of readdirSync(`/proc/${pid}/task`)) all += of(t);
    return { all, main: of(pid) };
  } catch {
    return { all: NaN, main: NaN };
  }
}

async function once(doc, mode) {
  const env = { ...process.env, XDG_CACHE_HOME: CACHE_HOME, EROFS_KIT_LSP_NO_CACHE: mode === 'cached' ? '0' : '1' };
  const bin = mode === 'compare' ? opts.compare : SERVER;
  const t0 = performance.now();
  const proc = spawn(process.execPath, [...opts['node-arg'], bin, '--stdio'], { stdio: ['pipe', 'pipe', 'inherit'], env });
  const conn = createProtocolConnection(new StreamMessageReader(proc.stdout), new StreamMessageWriter(proc.stdin));
  conn.listen();
  await conn.sendRequest('initialize', { processId: process.pid, rootUri: null, capabilities: {} });
  const initialized = performance.now();
  const cStart = cpuMs(proc.pid);
  await conn.sendNotification('initialized', {});
  const uri = 'file:///bench/dump.xxd';
  await conn.sendNotification('textDocument/didOpen', { textDocument: { uri, languageId: 'erofs-hexdump', version: 1, text: doc.text } });
  const hoverSent = performance.now();
  const hover = await conn.sendRequest('textDocument/hover', { textDocument: { uri }, position: doc.hover });
  const tHover = performance.now();
  const cHover = cpuMs(proc.pid);
  const tokens = await conn.sendRequest('textDocument/semanticTokens/full', { textDocument: { uri } });
  const tTokens = performance.now();
  const cTokens = cpuMs(proc.pid);
  await conn.sendRequest('shutdown');
  await conn.sendNotification('exit');
  await new Promise((resolve) => proc.once('exit', resolve));
  conn.dispose();
  if (!hover || !tokens?.data?.length) throw new Error(`${doc.name}: empty hover or tokens`);
  return { start: initialized - t0, hover: tHover - t0, tokens: tTokens - t0, open: tHover - initialized, hoverRequest: tHover - hoverSent, tokensRequest: tTokens - tHover, cpu: { start: cStart.all, open: cHover.all - cStart.all, hover: cHover.all, tokens: cTokens.all }, main: { start: cStart.main, open: cHover.main - cStart.main, hover: cHover.main, tokens: cTokens.main } };
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const r1 = (x) => Math.round(x * 10) / 10;
/** Nearest-rank percentile. */
const percentile = (xs, p) => [...xs].sort((a, b) => a - b)[Math.max(0, Math.ceil(p * xs.length) - 1)];

const results = [];
for (const doc of documents().filter((d) => d.name.includes(opts.only))) {
  const modes = opts.compare ? ['cold', 'cached', 'compare'] : ['cold', 'cached'];
  for (const mode of modes) await once(doc, mode); // warm the file cache; writes the code cache for this bundle
  const runs = Object.fromEntries(modes.map((m) => [m, []]));
  for (let i = 0; i < RUNS; i++) for (const mode of modes) runs[mode].push(await once(doc, mode));
  for (const mode of modes) {
    const row = { document: doc.name, mode, textBytes: doc.text.length, lines: doc.text.split('\n').length - 1 };
    for (const k of ['start', 'open', 'hover', 'tokens']) {
      const xs = runs[mode].map((r) => r[k]);
      const cs = runs[mode].map((r) => r.cpu[k]);
      const ms = runs[mode].map((r) => r.main[k]);
      row[k] = { median: r1(median(xs)), min: r1(Math.min(...xs)), max: r1(Math.max(...xs)), cpu: r1(median(cs)), mainThreadCpu: r1(median(ms)) };
    }
    // Per request, as the client sees it: the hover from the moment it is sent (after didOpen
    // has been written) to its answer, the tokens from the hover's answer to theirs.
    for (const k of ['hoverRequest', 'tokensRequest']) {
      const xs = runs[mode].map((r) => r[k]);
      row[k] = { median: r1(median(xs)), min: r1(Math.min(...xs)), max: r1(Math.max(...xs)), p90: r1(percentile(xs, 0.9)) };
    }
    results.push(row);
    const f = (x) => `${x.median} ms [cpu ${x.cpu}, main ${x.mainThreadCpu}]`;
    console.log(`${doc.name.padEnd(27)} ${mode.padEnd(7)} start ${f(row.start)}, open ${f(row.open)} → first hover ${f(row.hover)} (${row.hover.min}–${row.hover.max}), tokens ${f(row.tokens)}; per request: hover ${row.hoverRequest.median} ms (${row.hoverRequest.min}–${row.hoverRequest.max}), tokens ${row.tokensRequest.median} ms (${row.tokensRequest.min}–${row.tokensRequest.max})`);
  }
}
rmSync(CACHE_HOME, { recursive: true, force: true });
const out = { date: new Date().toISOString(), node: process.version, cpus: cpus().length, cpu: cpus()[0]?.model, loadavg: loadavg().map(r1), runs: RUNS, server: opts.server || 'packages/lsp/bin/erofs-kit-lsp.js', compare: opts.compare || undefined, results };
mkdirSync(dirname(opts.out), { recursive: true });
writeFileSync(opts.out, `${JSON.stringify(out, null, 2)}\n`);
console.log(`wrote ${opts.out}`);
