// Latency of the language server on large dumps: builds an EROFS image of about 1 MiB and
// 16 MiB with core's writer (many small files, xattrs, directories), dumps it as xxd text,
// opens it in the built server over stdio and times hover, semantic tokens, document symbols
// and inlay hints. Reports percentiles; asserts nothing (tests carry no timing assertions).
//   node bench/lsp-latency.mjs            (after npm run build)
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { createProtocolConnection, StreamMessageReader, StreamMessageWriter } from 'vscode-languageserver-protocol/node';
import { formatHint, formatXxd, writeImage } from '@erofs-kit/core';
import { dumpTree } from './dump-tree.mjs';

const SERVER = fileURLToPath(new URL('../bin/erofs-kit-lsp.js', import.meta.url));

function pct(xs, p) {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
}

async function time(fn) {
  const t = performance.now();
  await fn();
  return performance.now() - t;
}

async function bench(label, target) {
  const { image, rootNid } = writeImage(dumpTree(target), { blkszbits: 12 });
  const text = `${formatHint({ blkszbits: 12, metaBlkaddr: 0, rootNid })}\n${formatXxd(image)}`;
  const lines = text.split('\n').length - 1;
  const proc = spawn(process.execPath, [SERVER, '--stdio'], { stdio: ['pipe', 'pipe', 'inherit'] });
  const conn = createProtocolConnection(new StreamMessageReader(proc.stdout), new StreamMessageWriter(proc.stdin));
  conn.listen();
  await conn.sendRequest('initialize', { processId: process.pid, rootUri: null, capabilities: {} });
  await conn.sendNotification('initialized', {});
  const uri = 'file:///bench/image.xxd';
  const diagnostics = new Promise((resolve) => conn.onNotification('textDocument/publishDiagnostics', resolve));
  const t0 = performance.now();
  await conn.sendNotification('textDocument/didOpen', { textDocument: { uri, languageId: 'erofs-hexdump', version: 1, text } });
  await diagnostics;
  const first = performance.now() - t0;
  const doc = { textDocument: { uri } };
  const runs = { hover: [], tokens: [], symbols: [], inlay: [], tokensRange: [] };
  let seed = 1;
  const rnd = (n) => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) % n);
  for (let k = 0; k < 200; k++) runs.hover.push(await time(() => conn.sendRequest('textDocument/hover', { ...doc, position: { line: 1 + rnd(lines - 1), character: 10 + rnd(40) } })));
  for (let k = 0; k < 50; k++) {
    const l = rnd(lines - 60);
    runs.inlay.push(await time(() => conn.sendRequest('textDocument/inlayHint', { ...doc, range: { start: { line: l, character: 0 }, end: { line: l + 60, character: 0 } } })));
    runs.tokensRange.push(await time(() => conn.sendRequest('textDocument/semanticTokens/range', { ...doc, range: { start: { line: l, character: 0 }, end: { line: l + 60, character: 0 } } })));
  }
  for (let k = 0; k < 10; k++) {
    runs.tokens.push(await time(() => conn.sendRequest('textDocument/semanticTokens/full', doc)));
    runs.symbols.push(await time(() => conn.sendRequest('textDocument/documentSymbol', doc)));
  }
  await conn.sendRequest('shutdown');
  await conn.sendNotification('exit');
  conn.dispose();
  const mib = (image.length / 1048576).toFixed(1);
  console.log(`\n${label}: image ${mib} MiB, dump ${(text.length / 1048576).toFixed(1)} MiB text, ${lines} lines`);
  console.log(`  open → first diagnostics (parse + inspect): ${first.toFixed(0)} ms`);
  for (const [name, xs] of Object.entries(runs)) {
    console.log(`  ${name.padEnd(12)} n=${String(xs.length).padStart(3)}  p50 ${pct(xs, 50).toFixed(1).padStart(7)} ms  p95 ${pct(xs, 95).toFixed(1).padStart(7)} ms  p99 ${pct(xs, 99).toFixed(1).padStart(7)} ms  max ${Math.max(...xs).toFixed(1).padStart(7)} ms`);
  }
}

await bench('1 MiB', 1 << 20);
await bench('16 MiB', 16 << 20);
