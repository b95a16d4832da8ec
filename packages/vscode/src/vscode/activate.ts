/** Everything the Node and web entries share: registrations in one place. */
import * as vscode from 'vscode';
import { BYTES_SCHEME, BytesContentProvider } from './bytes.js';
import { registerCommands } from './commands.js';
import { ImageEditorProvider } from './editor.js';
import type { Platform } from './platform.js';
import { ErofsFileSystemProvider } from './provider.js';
import { MountRegistry, SCHEME, parseErofsUri } from './registry.js';
import { ImageTreeProvider } from './view.js';
import { registerOciCommands } from './oci-commands.js';
import { OciTreeProvider } from './oci-view.js';

export interface ExtensionApi {
  /** What `EROFS: About` reports: the build running and its language server. */
  status: ExtensionStatus;
  mounts: MountRegistry;
  view: ImageTreeProvider;
  /** The "OCI Images" view. */
  oci: OciTreeProvider;
  diagnostics: vscode.DiagnosticCollection;
}

export interface ExtensionStatus {
  version: string;
  /** Which build runs: the Node one (desktop, remote hosts) or the web one (a browser's web worker). */
  host: 'node' | 'web';
  /** `starting`, `running`, or why it is not (`unavailable: …`, `failed: …`). */
  languageServer: string;
}

export function activateCommon(context: vscode.ExtensionContext, platform: Platform): ExtensionApi {
  const status: ExtensionStatus = { version: String((context.extension.packageJSON as { version?: unknown }).version ?? '?'), host: platform.name, languageServer: 'starting' };
  context.subscriptions.push(
    vscode.commands.registerCommand('erofs.about', (quiet?: unknown) => {
      if (quiet !== true) void vscode.window.showInformationMessage(`EROFS Explorer ${status.version}: the ${status.host === 'web' ? 'web (browser worker)' : 'Node'} build; language server ${status.languageServer}`);
      return { ...status };
    }),
  );
  const config = () => vscode.workspace.getConfiguration('erofs');
  const mounts = new MountRegistry(platform, context.globalState, context.workspaceState);
  const provider = new ErofsFileSystemProvider(mounts, () => config().get<number>('maxOpenFileBytes', 256 << 20));
  const view = new ImageTreeProvider(mounts);
  const diagnostics = vscode.languages.createDiagnosticCollection('erofs');
  const tree = vscode.window.createTreeView('erofsImage', { treeDataProvider: view, showCollapseAll: true });
  context.subscriptions.push(
    mounts,
    provider,
    diagnostics,
    tree,
    vscode.workspace.registerFileSystemProvider(SCHEME, provider, { isReadonly: true, isCaseSensitive: true }),
    vscode.workspace.registerTextDocumentContentProvider(BYTES_SCHEME, new BytesContentProvider(mounts, () => config().get<number>('showBytesLimit', 65536))),
    vscode.window.registerCustomEditorProvider('erofs.image', new ImageEditorProvider(mounts), { supportsMultipleEditorsPerDocument: true }),
    vscode.window.registerCustomEditorProvider('erofs.imageOption', new ImageEditorProvider(mounts), { supportsMultipleEditorsPerDocument: true }),
    tree.onDidChangeSelection((e) => {
      const n = e.selection[0];
      if (n?.kind === 'file') view.select(n.id, n.path);
    }),
    vscode.window.onDidChangeActiveTextEditor((ed) => {
      const uri = ed?.document.uri;
      if (uri?.scheme === SCHEME) {
        const { id, path } = parseErofsUri(uri);
        if (path !== '/') view.select(id, path);
      }
    }),
  );
  registerCommands(context, { mounts, view, platform, diagnostics });
  const oci = new OciTreeProvider(mounts.host());
  context.subscriptions.push(oci, vscode.window.createTreeView('erofsOci', { treeDataProvider: oci, showCollapseAll: true }));
  registerOciCommands(context, { mounts, oci, platform });
  // Images mounted as workspace folders in an earlier session show in the view again.
  for (const f of vscode.workspace.workspaceFolders ?? []) {
    if (f.uri.scheme === SCHEME) void mounts.get(parseErofsUri(f.uri).id).catch(() => undefined);
  }
  return { status, mounts, view, oci, diagnostics };
}
