/**
 * The browser build in a real browser: headless Chromium (Debian's `chromium` package, driven
 * by playwright-core) loads a page from a local static server, the page starts dist/browser.js
 * as a Web Worker and speaks LSP to it over postMessage: initialize, didOpen of a hex dump,
 * hover. Without Chromium the test is skipped, and says why on stderr and in the skip reason;
 * CI installs the package (.ci/run), so there it runs.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { chromium, type Browser } from 'playwright-core';

const CHROMIUM = process.env.EROFS_KIT_CHROMIUM ?? '/usr/bin/chromium';
/** The port the brief of this test names; another one when it is taken. */
const PORT = 18741;
const BUNDLE = new URL('../dist/browser.js', import.meta.url);
const missing = existsSync(CHROMIUM) ? undefined : `no Chromium at ${CHROMIUM} (install Debian's "chromium" package, or set EROFS_KIT_CHROMIUM)`;
if (missing) process.stderr.write(`\nSKIPPED browser test: ${missing}\n\n`);

const PAGE = `<!doctype html><meta charset="utf-8"><title>erofs-kit-lsp worker</title>
<script>
  // A minimal LSP client over postMessage, called by the test through page.evaluate.
  window.lsp = (messages, waitFor) => new Promise((resolve, reject) => {
    const worker = new Worker('/browser.js');
    const got = [];
    worker.onerror = (e) => reject(new Error('worker error: ' + e.message));
    worker.onmessage = (e) => {
      got.push(e.data);
      if (got.some((m) => m.id === waitFor)) { worker.terminate(); resolve(got); }
    };
    for (const m of messages) worker.postMessage(Object.assign({ jsonrpc: '2.0' }, m));
  });
</script>`;

function serve(port: number): Promise<Server> {
  const bundle = readFileSync(BUNDLE);
  const server = createServer((req, res) => {
    if (req.url === '/' || req.url === '/index.html') {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(PAGE);
    } else if (req.url === '/browser.js') {
      res.writeHead(200, { 'content-type': 'text/javascript; charset=utf-8' }).end(bundle);
    } else {
      res.writeHead(404).end();
    }
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve(server));
  });
}

describe('browser build in headless Chromium', () => {
  let server: Server | undefined;
  let browser: Browser | undefined;
  let base = '';

  beforeAll(async () => {
    if (missing) return;
    server = await serve(PORT).catch(() => serve(0));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox'] });
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await new Promise((resolve) => (server ? server.close(resolve) : resolve(undefined)));
  });

  it('answers initialize and a hover on a superblock dump inside a Web Worker', async (ctx) => {
    if (missing) {
      ctx.skip(missing);
      return;
    }
    const page = await browser!.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(`${base}/`);
    const text = readFileSync(new URL('./fixtures/basic-4k-sb.xxd', import.meta.url), 'utf8');
    const uri = 'file:///sb.xxd';
    // Line 1, column 40 is the blkszbits byte of the superblock (0x40c) in this xxd dump.
    const messages = [
      { id: 1, method: 'initialize', params: { processId: null, rootUri: null, capabilities: {} } },
      { method: 'initialized', params: {} },
      { method: 'textDocument/didOpen', params: { textDocument: { uri, languageId: 'erofs-hexdump', version: 1, text } } },
      { id: 2, method: 'textDocument/hover', params: { textDocument: { uri }, position: { line: 1, character: 40 } } },
    ];
    type Msg = { id?: number; method?: string; result?: { serverInfo?: { name: string }; contents?: { value: string } }; params?: { diagnostics: { code: string }[] } };
    const got = (await page.evaluate(([m, w]) => (window as unknown as { lsp: (m: unknown, w: number) => Promise<unknown> }).lsp(m, w), [messages, 2] as const)) as Msg[];
    expect(errors).toEqual([]);
    expect(got.find((m) => m.id === 1)?.result?.serverInfo?.name).toBe('erofs-kit-lsp');
    expect(got.find((m) => m.method === 'textDocument/publishDiagnostics')?.params?.diagnostics.map((d) => d.code)).toEqual(['truncated']);
    const hover = got.find((m) => m.id === 2)!.result!.contents!.value;
    expect(hover.split('\n\n').slice(0, 3)).toEqual(['**erofs_super_block.blkszbits** · field', '`superblock.blkszbits`', 'value `12 (0xc)` — block size 4096']);
    expect(hover).toContain('bytes 0x40c..0x40d (1 byte)');
    // It really ran in Chromium's worker (no Node globals there).
    expect(await page.evaluate(() => navigator.userAgent)).toMatch(/HeadlessChrome|Chrome/);
    await page.close();
  }, 60_000);
});
