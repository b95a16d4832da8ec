import { fileURLToPath } from 'node:url';
import { Uri, memento } from './vscode-mock.js';
import { MountRegistry } from '../../src/vscode/registry.js';
import { nodePlatform } from '../../src/node-platform.js';
import type * as vscode from 'vscode';

export const FIXTURES = fileURLToPath(new URL('../../../../fixtures/', import.meta.url));

export function fixtureUri(name: string): vscode.Uri {
  return Uri.file(FIXTURES + name) as unknown as vscode.Uri;
}

export function registry(): { mounts: MountRegistry; global: ReturnType<typeof memento>; workspace: ReturnType<typeof memento> } {
  const global = memento();
  const workspace = memento();
  return { mounts: new MountRegistry(nodePlatform, global, workspace), global, workspace };
}
