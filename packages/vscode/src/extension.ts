/** Node entry (desktop VS Code, code-server, remote hosts): the shared parts plus the language client over IPC. */
import * as vscode from 'vscode';
import { nodePlatform } from './node-platform.js';
import { activateCommon, type ExtensionApi } from './vscode/activate.js';
import { startNodeClient, type Stoppable } from './client-node.js';

let client: Stoppable | undefined;

export function activate(context: vscode.ExtensionContext): ExtensionApi {
  const api = activateCommon(context, nodePlatform);
  client = startNodeClient(context, (state) => void (api.status.languageServer = state));
  return api;
}

export async function deactivate(): Promise<void> {
  await client?.stop();
}
