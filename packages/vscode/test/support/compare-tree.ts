/**
 * Walks an image with core and compares what the extension serves through workspace.fs for
 * the mounted image `id`: every directory's listing and the bytes of regular files (at most
 * `maxFiles`). Shared by the Node-host and web-host suites (nothing of Node here).
 */
import * as vscode from 'vscode';
import { format, walk, type ErofsImage } from '@erofs-kit/core';

export interface TreeComparison {
  dirs: number;
  files: number;
  /** One line per difference. */
  differences: string[];
}

export async function compareWithCore(img: ErofsImage, id: string, maxFiles = Infinity): Promise<TreeComparison> {
  const uri = (path: string) => vscode.Uri.from({ scheme: 'erofs', path: `/${id}${path}` });
  const out: TreeComparison = { dirs: 0, files: 0, differences: [] };
  for await (const e of walk(img)) {
    const path = e.name === undefined ? '/' : e.path;
    const type = e.inode.mode & format.S_IFMT;
    if (type === format.S_IFDIR) {
      const listed = (await vscode.workspace.fs.readDirectory(uri(path))).map(([n]) => n).sort();
      const want = (await img.readdir(e.inode)).map((d) => new TextDecoder().decode(d.name)).filter((n) => n !== '.' && n !== '..').sort();
      if (listed.join('/') !== want.join('/')) out.differences.push(`listing of ${path}: ${listed.join(', ')} instead of ${want.join(', ')}`);
      out.dirs++;
    } else if (type === format.S_IFREG && out.files < maxFiles) {
      const got = await vscode.workspace.fs.readFile(uri(path));
      const want = await img.read(e.inode);
      if (got.length !== want.length || got.some((b, i) => b !== want[i])) out.differences.push(`content of ${path}: ${got.length} bytes differ from ${want.length}`);
      out.files++;
    }
  }
  return out;
}
