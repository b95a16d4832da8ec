/** Starts the erofs-kit language server (bundled as dist/server.cjs) for `erofs-hexdump` and `composefs-dump` documents. */
import * as vscode from 'vscode';
import { LanguageClient, TransportKind, type LanguageClientOptions, type ServerOptions } from 'vscode-languageclient/node';
import { SERVER_EXEC_ARGV } from './server-flags.js';

export interface Stoppable {
  stop(): Promise<void>;
}

/**
 * Hex dumps, composefs dumps, and JSON: the server checks the JSON documents that are OCI or
 * Docker indexes, manifests and configs (by media type or shape) and leaves every other one
 * alone; blobs in a layout have no extension, so their path selects them.
 */
export const DOCUMENT_SELECTOR = [
  { language: 'erofs-hexdump' },
  { language: 'composefs-dump' },
  { language: 'json' },
  { language: 'jsonc' },
  { scheme: 'file', pattern: '**/blobs/sha256/*' },
];

/** How the extension starts the server: a Node process with {@link SERVER_EXEC_ARGV}, over IPC. */
export function serverOptions(module: string): ServerOptions {
  const run = { module, transport: TransportKind.ipc, options: { execArgv: SERVER_EXEC_ARGV } };
  return { run, debug: run };
}

export function startNodeClient(context: vscode.ExtensionContext, onState: (state: string) => void = () => undefined): Stoppable {
  // The launcher runs dist/server.cjs through a V8 code cache (packages/lsp/src/launch.ts).
  const server = serverOptions(context.asAbsolutePath('dist/launch.cjs'));
  const options: LanguageClientOptions = { documentSelector: DOCUMENT_SELECTOR, outputChannelName: 'EROFS Language Server' };
  const client = new LanguageClient('erofs-kit-lsp', 'EROFS Language Server', server, options);
  client.start().then(
    () => onState('running'),
    (e: unknown) => {
      onState(`failed: ${(e as Error).message}`);
      void vscode.window.showErrorMessage(`EROFS language server did not start: ${(e as Error).message}`);
    },
  );
  return client;
}
