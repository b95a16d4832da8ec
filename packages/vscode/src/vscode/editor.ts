/**
 * The custom read-only editor for `*.erofs`, `*.cfs` (and, on request, `*.img`): a summary of
 * the superblock and features, and buttons that open the image as a folder, verify it or show
 * it in the EROFS Image view. The bytes are read only when the editor opens.
 */
import * as vscode from 'vscode';
import { describeError } from '../model/errors.js';
import { imageNodes, type DetailNode } from '../model/details.js';
import type { MountRegistry } from './registry.js';

const esc = (s: string): string => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function rows(nodes: DetailNode[]): string {
  return nodes.map((n) => `<tr><td>${esc(n.label)}</td><td title="${esc(n.tooltip ?? '')}">${esc(n.description ?? '')}</td></tr>`).join('');
}

export class ImageEditorProvider implements vscode.CustomReadonlyEditorProvider {
  constructor(private readonly mounts: MountRegistry) {}

  openCustomDocument(uri: vscode.Uri): vscode.CustomDocument {
    return { uri, dispose: () => undefined };
  }

  async resolveCustomEditor(doc: vscode.CustomDocument, panel: vscode.WebviewPanel): Promise<void> {
    panel.webview.options = { enableScripts: true };
    const nonce = Math.random().toString(36).slice(2);
    let body: string;
    try {
      const img = await this.mounts.mount(doc.uri, 'erofs');
      body = imageNodes(img)
        .map((section) => `<h3>${esc(section.label)} <small>${esc(section.description ?? '')}</small></h3><table>${rows(section.children ?? [])}</table>`)
        .join('');
    } catch (e) {
      body = `<p class="error">${esc(describeError(e, doc.uri.path.slice(doc.uri.path.lastIndexOf('/') + 1)))}</p>`;
    }
    panel.webview.html = `<!DOCTYPE html><html><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; script-src 'nonce-${nonce}';">
<style>body{font-family:var(--vscode-font-family);color:var(--vscode-foreground)} td{padding:1px 12px 1px 0;vertical-align:top}
td:first-child{font-family:var(--vscode-editor-font-family)} .error{color:var(--vscode-errorForeground)} button{margin-right:8px}</style></head>
<body><h2>${esc(doc.uri.path.slice(doc.uri.path.lastIndexOf('/') + 1))}</h2>
<p><button data-cmd="erofs.openImage">Open as Folder</button><button data-cmd="erofs.verifyImage">Verify Image</button><button data-cmd="erofs.extractTo">Extract To…</button></p>
${body}
<script nonce="${nonce}">const vscode = acquireVsCodeApi();
for (const b of document.querySelectorAll('button')) b.addEventListener('click', () => vscode.postMessage({ command: b.dataset.cmd }));</script></body></html>`;
    panel.webview.onDidReceiveMessage((m: { command?: string }) => {
      if (m.command === 'erofs.openImage' || m.command === 'erofs.verifyImage') void vscode.commands.executeCommand(m.command, doc.uri);
      if (m.command === 'erofs.extractTo') {
        void this.mounts.mount(doc.uri, 'erofs').then((img) => vscode.commands.executeCommand('erofs.extractTo', { kind: 'image', id: img.id }));
      }
    });
  }
}
