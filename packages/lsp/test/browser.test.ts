/**
 * The browser build (dist/browser.js, a web-worker script) run in a fresh V8 context whose
 * `self` is a stand-in for a worker's global scope: messages in through `self.onmessage`,
 * out through `self.postMessage`. No Node globals are given to it, so a `require` or a
 * `process` in the bundle would fail here.
 */
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import vm from 'node:vm';

const BUNDLE = new URL('../dist/browser.js', import.meta.url);

interface Message {
  id?: number;
  method?: string;
  result?: unknown;
  params?: unknown;
}

function worker(): { send: (m: object) => void; next: (pred: (m: Message) => boolean) => Promise<Message> } {
  const outbox: Message[] = [];
  const waiters: { pred: (m: Message) => boolean; resolve: (m: Message) => void }[] = [];
  const self: { onmessage?: (e: { data: unknown }) => void; postMessage: (m: Message) => void; addEventListener: () => void } = {
    postMessage: (m) => {
      const w = waiters.findIndex((x) => x.pred(m));
      if (w >= 0) waiters.splice(w, 1)[0]!.resolve(m);
      else outbox.push(m);
    },
    addEventListener: () => {},
  };
  const context = vm.createContext({ self, setTimeout, clearTimeout, setInterval, clearInterval, queueMicrotask, TextEncoder, TextDecoder, console });
  vm.runInContext(readFileSync(BUNDLE, 'utf8'), context);
  return {
    send: (m) => self.onmessage!({ data: { jsonrpc: '2.0', ...m } }),
    next: (pred) => {
      const i = outbox.findIndex(pred);
      if (i >= 0) return Promise.resolve(outbox.splice(i, 1)[0]!);
      return new Promise((resolve) => waiters.push({ pred, resolve }));
    },
  };
}

describe('browser build', () => {
  it('answers initialize, publishes diagnostics and hovers inside a worker-like scope', async () => {
    const w = worker();
    w.send({ id: 1, method: 'initialize', params: { processId: null, rootUri: null, capabilities: {} } });
    const init = await w.next((m) => m.id === 1);
    expect((init.result as { serverInfo: { name: string } }).serverInfo.name).toBe('erofs-kit-lsp');
    w.send({ method: 'initialized', params: {} });
    const text = readFileSync(new URL('./fixtures/basic-4k-sb.xxd', import.meta.url), 'utf8');
    w.send({ method: 'textDocument/didOpen', params: { textDocument: { uri: 'file:///sb.xxd', languageId: 'erofs-hexdump', version: 1, text } } });
    const diags = await w.next((m) => m.method === 'textDocument/publishDiagnostics');
    expect((diags.params as { diagnostics: { code: string }[] }).diagnostics.map((d) => d.code)).toEqual(['truncated']);
    w.send({ id: 2, method: 'textDocument/hover', params: { textDocument: { uri: 'file:///sb.xxd' }, position: { line: 1, character: 40 } } });
    const hover = await w.next((m) => m.id === 2);
    expect((hover.result as { contents: { value: string } }).contents.value).toContain('value `12 (0xc)` — block size 4096');
  });

  it('checks an image manifest (no layout: the document alone)', async () => {
    const w = worker();
    w.send({ id: 1, method: 'initialize', params: { processId: null, rootUri: null, capabilities: {} } });
    await w.next((m) => m.id === 1);
    w.send({ method: 'initialized', params: {} });
    const text = '{"schemaVersion": 2, "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": "sha256:x", "size": 2}, "layers": []}';
    w.send({ method: 'textDocument/didOpen', params: { textDocument: { uri: 'file:///m.json', languageId: 'json', version: 1, text } } });
    const diags = await w.next((m) => m.method === 'textDocument/publishDiagnostics');
    const start = text.indexOf('"sha256:x"');
    expect((diags.params as { diagnostics: { code: string; range: unknown }[] }).diagnostics).toMatchObject([
      { code: 'digest-syntax', range: { start: { line: 0, character: start }, end: { line: 0, character: start + '"sha256:x"'.length } } },
    ]);
  });
});
