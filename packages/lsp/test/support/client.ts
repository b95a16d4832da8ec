/**
 * A minimal LSP client for tests: starts the built server (`bin/erofs-kit-lsp.js --stdio`)
 * as a child process and speaks JSON-RPC to it over its stdin/stdout.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createProtocolConnection, StreamMessageReader, StreamMessageWriter, type ProtocolConnection } from 'vscode-languageserver-protocol/node';
import type {
  CodeAction,
  CompletionItem,
  CompletionList,
  DocumentLink,
  Definition,
  Diagnostic,
  DocumentSymbol,
  Hover,
  InitializeResult,
  InlayHint,
  Location,
  SemanticTokens,
} from 'vscode-languageserver-protocol';

export const SERVER = fileURLToPath(new URL('../../bin/erofs-kit-lsp.js', import.meta.url));
/** Where test servers keep their code cache (not the user's ~/.cache). */
export const TEST_CACHE_HOME = mkdtempSync(join(tmpdir(), 'lsp-test-cache-'));
process.once('exit', () => rmSync(TEST_CACHE_HOME, { recursive: true, force: true }));

export class Client {
  /** Who waits for the diagnostics of which document version. */
  private readonly waiting = new Map<string, { version: number; resolve: (d: Diagnostic[]) => void }[]>();
  readonly diagnostics = new Map<string, Diagnostic[]>();
  private versions = new Map<string, number>();

  private constructor(
    readonly proc: ChildProcess,
    readonly conn: ProtocolConnection,
    readonly init: InitializeResult,
  ) {}

  /** Starts the built server; its V8 code cache goes to `cacheHome` (a temporary directory by default). */
  static async start(cacheHome: string = TEST_CACHE_HOME): Promise<Client> {
    const proc = spawn(process.execPath, [SERVER, '--stdio'], { stdio: ['pipe', 'pipe', 'inherit'], env: { ...process.env, XDG_CACHE_HOME: cacheHome } });
    const conn = createProtocolConnection(new StreamMessageReader(proc.stdout!), new StreamMessageWriter(proc.stdin!));
    conn.listen();
    let client: Client | undefined;
    const early: [string, Diagnostic[]][] = [];
    conn.onNotification('textDocument/publishDiagnostics', (p: { uri: string; version?: number; diagnostics: Diagnostic[] }) => {
      if (client) client.gotDiagnostics(p.uri, p.version, p.diagnostics);
      else early.push([p.uri, p.diagnostics]);
    });
    const init = (await conn.sendRequest('initialize', { processId: process.pid, rootUri: null, capabilities: {} })) as InitializeResult;
    await conn.sendNotification('initialized', {});
    client = new Client(proc, conn, init);
    for (const [u, d] of early) client.gotDiagnostics(u, undefined, d);
    return client;
  }

  /** Every publication per document, in order, and who waits for the nth. */
  private readonly history = new Map<string, Diagnostic[][]>();
  private readonly counting: { uri: string; n: number; resolve: (d: Diagnostic[]) => void }[] = [];

  private gotDiagnostics(uri: string, version: number | undefined, d: Diagnostic[]): void {
    this.diagnostics.set(uri, d);
    const h = [...(this.history.get(uri) ?? []), d];
    this.history.set(uri, h);
    for (const c of this.counting.filter((x) => x.uri === uri && x.n === h.length)) {
      this.counting.splice(this.counting.indexOf(c), 1);
      c.resolve(d);
    }
    const w = this.waiting.get(uri) ?? [];
    const done = w.filter((x) => version === undefined || x.version === version);
    this.waiting.set(uri, w.filter((x) => !done.includes(x)));
    for (const x of done) x.resolve(d);
  }

  private waitFor(uri: string, version: number): Promise<Diagnostic[]> {
    return new Promise<Diagnostic[]>((resolve) => this.waiting.set(uri, [...(this.waiting.get(uri) ?? []), { version, resolve }]));
  }

  /** The nth (1-based) diagnostics published for a document since the client started. */
  publication(uri: string, n: number): Promise<Diagnostic[]> {
    const h = this.history.get(uri) ?? [];
    if (h.length >= n) return Promise.resolve(h[n - 1]!);
    return new Promise<Diagnostic[]>((resolve) => this.counting.push({ uri, n, resolve }));
  }

  /** Opens a document and resolves with the diagnostics of that version. */
  open(uri: string, text: string, languageId = 'erofs-hexdump'): Promise<Diagnostic[]> {
    const p = this.waitFor(uri, 1);
    this.versions.set(uri, 1);
    void this.conn.sendNotification('textDocument/didOpen', { textDocument: { uri, languageId, version: 1, text } });
    return p;
  }

  /** Replaces the whole text and resolves with the diagnostics of the new version. */
  change(uri: string, text: string): Promise<Diagnostic[]> {
    const version = (this.versions.get(uri) ?? 1) + 1;
    const p = this.waitFor(uri, version);
    this.versions.set(uri, version);
    void this.conn.sendNotification('textDocument/didChange', { textDocument: { uri, version }, contentChanges: [{ text }] });
    return p;
  }

  close(uri: string): void {
    void this.conn.sendNotification('textDocument/didClose', { textDocument: { uri } });
  }

  hover(uri: string, line: number, character: number): Promise<Hover | null> {
    return this.conn.sendRequest('textDocument/hover', { textDocument: { uri }, position: { line, character } });
  }

  definition(uri: string, line: number, character: number): Promise<Definition | Location | null> {
    return this.conn.sendRequest('textDocument/definition', { textDocument: { uri }, position: { line, character } });
  }

  codeActions(uri: string, line: number, character: number): Promise<CodeAction[]> {
    const position = { line, character };
    return this.conn.sendRequest('textDocument/codeAction', { textDocument: { uri }, range: { start: position, end: position }, context: { diagnostics: [] } });
  }

  links(uri: string): Promise<DocumentLink[]> {
    return this.conn.sendRequest('textDocument/documentLink', { textDocument: { uri } });
  }

  async completion(uri: string, line: number, character: number): Promise<CompletionItem[]> {
    const r = (await this.conn.sendRequest('textDocument/completion', { textDocument: { uri }, position: { line, character } })) as CompletionItem[] | CompletionList | null;
    return r === null ? [] : Array.isArray(r) ? r : r.items;
  }

  symbols(uri: string): Promise<DocumentSymbol[]> {
    return this.conn.sendRequest('textDocument/documentSymbol', { textDocument: { uri } });
  }

  tokens(uri: string): Promise<SemanticTokens> {
    return this.conn.sendRequest('textDocument/semanticTokens/full', { textDocument: { uri } });
  }

  tokensInRange(uri: string, from: number, to: number): Promise<SemanticTokens> {
    return this.conn.sendRequest('textDocument/semanticTokens/range', { textDocument: { uri }, range: { start: { line: from, character: 0 }, end: { line: to, character: 0 } } });
  }

  inlayHints(uri: string, from: number, to: number): Promise<InlayHint[]> {
    return this.conn.sendRequest('textDocument/inlayHint', { textDocument: { uri }, range: { start: { line: from, character: 0 }, end: { line: to, character: 0 } } });
  }

  async stop(): Promise<void> {
    try {
      await this.conn.sendRequest('shutdown');
      await this.conn.sendNotification('exit');
    } finally {
      this.conn.dispose();
      await new Promise<void>((resolve) => {
        if (this.proc.exitCode !== null) resolve();
        else {
          this.proc.once('exit', () => resolve());
          setTimeout(() => this.proc.kill(), 5000).unref();
        }
      });
    }
  }
}

/** Decodes LSP relative semantic tokens into absolute [line, char, length, type, modifiers]. */
export function decodeTokens(data: number[]): [number, number, number, number, number][] {
  const out: [number, number, number, number, number][] = [];
  let line = 0;
  let ch = 0;
  for (let i = 0; i + 4 < data.length; i += 5) {
    line += data[i]!;
    ch = data[i] === 0 ? ch + data[i + 1]! : data[i + 1]!;
    out.push([line, ch, data[i + 2]!, data[i + 3]!, data[i + 4]!]);
  }
  return out;
}
