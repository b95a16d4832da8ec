/** Web entry (vscode.dev and other browser hosts): whole-file reads through workspace.fs, the server in a worker. */
import * as vscode from 'vscode';
import { LanguageClient } from 'vscode-languageclient/browser';
import { MemorySource, type ByteSource } from '@erofs-kit/core';
import { memorySpool } from './model/open.js';
import { YieldingSource } from './model/yielding.js';
import type { ExtractTarget } from './model/extract.js';
import type { OutputFile, Platform } from './vscode/platform.js';
import { activateCommon, type ExtensionApi } from './vscode/activate.js';

/** Files a browser host hands out whole; larger ones are refused with a message. */
const MAX_WEB_BYTES = 1 << 30;

const webPlatform: Platform = {
  name: 'web',
  async openSource(uri: vscode.Uri): Promise<ByteSource> {
    const st = await vscode.workspace.fs.stat(uri);
    if (st.size > MAX_WEB_BYTES) throw new Error(`${uri.path} is ${st.size} bytes: the web build reads whole files and stops at ${MAX_WEB_BYTES}; use VS Code desktop`);
    return new YieldingSource(new MemorySource(await vscode.workspace.fs.readFile(uri), uri.toString()));
  },
  spool: () => memorySpool(),
  extractTarget(root: vscode.Uri): ExtractTarget {
    const at = (rel: string) => vscode.Uri.joinPath(root, ...rel.split('/').filter((p) => p && p !== '.' && p !== '..'));
    return {
      mkdir: async (rel) => vscode.workspace.fs.createDirectory(at(rel)),
      async writeFile(rel, pieces) {
        const parts: Uint8Array[] = [];
        let n = 0;
        for await (const p of pieces) {
          parts.push(p.slice());
          n += p.length;
        }
        const all = new Uint8Array(n);
        let o = 0;
        for (const p of parts) {
          all.set(p, o);
          o += p.length;
        }
        await vscode.workspace.fs.writeFile(at(rel), all);
      },
    };
  },
  async createOutput(uri: vscode.Uri): Promise<OutputFile> {
    const parts: Uint8Array[] = [];
    return {
      write: (c) => void parts.push(c.slice()),
      async close() {
        const n = parts.reduce((a, p) => a + p.length, 0);
        const all = new Uint8Array(n);
        let o = 0;
        for (const p of parts) {
          all.set(p, o);
          o += p.length;
        }
        await vscode.workspace.fs.writeFile(uri, all);
      },
      abort: async () => void (parts.length = 0),
    };
  },
};

let client: LanguageClient | undefined;

export function activate(context: vscode.ExtensionContext): ExtensionApi {
  const api = activateCommon(context, webPlatform);
  // A host may refuse the worker (a web worker extension host refuses workers to extensions
  // installed on a remote server, as code-server's are): everything but the dump annotations
  // still works, and `EROFS: About` says why they are missing.
  try {
    const worker = new Worker(vscode.Uri.joinPath(context.extensionUri, 'dist/web/server.js').toString(true));
    client = new LanguageClient('erofs-kit-lsp', 'EROFS Language Server', worker, { documentSelector: [{ language: 'erofs-hexdump' }, { language: 'composefs-dump' }, { language: 'json' }, { language: 'jsonc' }] });
    client.start().then(
      () => void (api.status.languageServer = 'running'),
      (e: unknown) => void (api.status.languageServer = `failed: ${e instanceof Error ? e.message : String(e)}`),
    );
  } catch (e) {
    client = undefined;
    api.status.languageServer = `unavailable: ${e instanceof Error ? e.message : String(e)}`;
  }
  return api;
}

export async function deactivate(): Promise<void> {
  await client?.stop();
}
