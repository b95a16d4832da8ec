/**
 * Verify Image: core's fsck over the image; every problem lands in the Problems panel, on the
 * file it concerns (inside the image) or else on a dump of the bytes around its offset, with
 * the dump linked from the problem's code and related information.
 */
import * as vscode from 'vscode';
import { fsck, hex, type FsckReport } from '@erofs-kit/core';
import { Cancelled } from '../model/errors.js';
import type { OpenedImage } from '../model/image.js';
import { bytesUri } from './bytes.js';
import { erofsUri } from './registry.js';

export function problemDiagnostics(img: OpenedImage, report: FsckReport): Map<string, [vscode.Uri, vscode.Diagnostic[]]> {
  const out = new Map<string, [vscode.Uri, vscode.Diagnostic[]]>();
  const add = (uri: vscode.Uri, d: vscode.Diagnostic): void => {
    const key = uri.toString();
    const hit = out.get(key);
    if (hit) hit[1].push(d);
    else out.set(key, [uri, [d]]);
  };
  const start = new vscode.Range(0, 0, 0, 0);
  for (const p of report.problems) {
    const where = p.offset !== undefined ? ` at byte ${hex(p.offset)}` : '';
    const nid = p.nid !== undefined ? ` (nid ${p.nid})` : '';
    const d = new vscode.Diagnostic(start, `${p.check}: ${p.code}: ${p.message}${where}${nid}`, p.severity === 'error' ? vscode.DiagnosticSeverity.Error : vscode.DiagnosticSeverity.Warning);
    d.source = 'erofs fsck';
    const bytes = p.offset !== undefined ? bytesUri(img.id, 'offset', p.offset) : undefined;
    d.code = bytes ? { value: p.check, target: bytes } : p.check;
    if (bytes) d.relatedInformation = [new vscode.DiagnosticRelatedInformation(new vscode.Location(bytes, start), `the bytes at ${hex(p.offset!)}`)];
    const file = p.path !== undefined && p.path !== '/' ? erofsUri(img.id, p.path) : undefined;
    add(file ?? bytes ?? vscode.Uri.parse(img.name), d);
  }
  return out;
}

export async function verify(img: OpenedImage, diagnostics: vscode.DiagnosticCollection, token?: vscode.CancellationToken, progress?: (inodes: number, bytes: number) => void): Promise<FsckReport> {
  const report = await fsck(img.image, {
    maxProblems: 1000,
    onProgress: (inodes, bytes) => {
      if (token?.isCancellationRequested) throw new Cancelled();
      progress?.(inodes, bytes);
    },
  });
  // Clear what an earlier run said about this image, then publish.
  const stale: vscode.Uri[] = [];
  diagnostics.forEach((uri) => {
    if (uri.path.startsWith(`/${img.id}/`) || uri.toString() === img.name) stale.push(uri);
  });
  for (const uri of stale) diagnostics.delete(uri);
  for (const [uri, ds] of problemDiagnostics(img, report).values()) diagnostics.set(uri, ds);
  return report;
}
