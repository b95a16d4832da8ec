/**
 * Convert Image's output folder through `vscode.workspace.fs` (the web host, non-`file:`
 * folders): each file is collected in memory, written under a temporary name when it is
 * complete, and renamed at the end.
 */
import * as vscode from 'vscode';
import type { ConvertOutput, PendingFile } from '../model/oci-convert.js';
import type { Platform } from './platform.js';

export function workspaceConvertOutput(dir: vscode.Uri, platform: Platform): ConvertOutput {
  const at = (rel: string): vscode.Uri => (rel === '' ? dir : vscode.Uri.joinPath(dir, ...rel.split('/').filter((p) => p && p !== '.' && p !== '..')));
  const exists = async (u: vscode.Uri): Promise<vscode.FileStat | undefined> => {
    try {
      return await vscode.workspace.fs.stat(u);
    } catch {
      return undefined;
    }
  };
  let serial = 0;
  const stamp = Date.now().toString(36);
  return {
    name: dir.toString(),
    async size(rel) {
      const st = await exists(at(rel));
      return st && st.type & vscode.FileType.File ? st.size : undefined;
    },
    async readText(rel) {
      try {
        return new TextDecoder().decode(await vscode.workspace.fs.readFile(at(rel)));
      } catch {
        return undefined;
      }
    },
    openSource: (rel) => platform.openSource(at(rel)),
    async mkdir(rel) {
      if (await exists(at(rel))) return false;
      await vscode.workspace.fs.createDirectory(at(rel));
      return true;
    },
    async rmdirIfEmpty(rel) {
      if ((await vscode.workspace.fs.readDirectory(at(rel))).length === 0) await vscode.workspace.fs.delete(at(rel));
    },
    async create(rel): Promise<PendingFile> {
      const final = at(rel);
      const tmp = at(`${rel}.partial-${stamp}-${++serial}`);
      let parts: Uint8Array[] = [];
      let written = false;
      return {
        write: (c) => void parts.push(c.slice()),
        async close() {
          const all = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
          let o = 0;
          for (const p of parts) {
            all.set(p, o);
            o += p.length;
          }
          parts = [];
          await vscode.workspace.fs.writeFile(tmp, all);
          written = true;
        },
        async commit() {
          await vscode.workspace.fs.rename(tmp, final, { overwrite: true });
          written = false;
        },
        async abort() {
          parts = [];
          if (written) await vscode.workspace.fs.delete(tmp).then(undefined, () => undefined);
          written = false;
        },
      };
    },
  };
}
