/**
 * Read-only hex-dump documents: `erofs-bytes:/<id>/<kind>/<path>.xxd` (kind: inode, dir, data)
 * and `erofs-bytes:/<id>/offset/<hex>.xxd`. The `.xxd` name gives them the `erofs-hexdump`
 * language, so the language server annotates them.
 */
import * as vscode from 'vscode';
import { describeError } from '../model/errors.js';
import { inodeDump, offsetDump, type BytesKind } from '../model/bytes.js';
import type { MountRegistry } from './registry.js';

export const BYTES_SCHEME = 'erofs-bytes';

export function bytesUri(id: string, kind: BytesKind, pathOrOffset: string | number): vscode.Uri {
  const tail = kind === 'offset' ? `/0x${(pathOrOffset as number).toString(16)}` : (pathOrOffset as string) === '/' ? '/root' : (pathOrOffset as string);
  const rootFlag = kind !== 'offset' && pathOrOffset === '/' ? '?root' : '';
  return vscode.Uri.from({ scheme: BYTES_SCHEME, path: `/${id}/${kind}${tail}.xxd`, ...(rootFlag ? { query: 'root' } : {}) });
}

export class BytesContentProvider implements vscode.TextDocumentContentProvider {
  constructor(
    private readonly mounts: MountRegistry,
    private readonly limit: () => number,
  ) {}

  async provideTextDocumentContent(uri: vscode.Uri): Promise<string> {
    const m = /^\/([^/]+)\/(inode|dir|data|offset)(\/.*)\.xxd$/.exec(uri.path);
    if (!m) return `# not a bytes document: ${uri.toString()}\n`;
    const [, id, kind, rest] = m as unknown as [string, string, BytesKind, string];
    try {
      const img = await this.mounts.get(id);
      if (kind === 'offset') return await offsetDump(img.image, parseInt(rest.slice(1), 16));
      const path = uri.query === 'root' ? '/' : rest;
      const { ino } = await img.resolve(path, false);
      return await inodeDump(img.image, path, ino, kind, this.limit());
    } catch (e) {
      return `# ${describeError(e, id)}\n`;
    }
  }
}
