/** Node extension host: file handles for `file:` URIs, temporary files for decompressed tars, streamed writes. */
import { closeSync, mkdtempSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { mkdir, open, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve, sep } from 'node:path';
import * as vscode from 'vscode';
import { MemorySource, type ByteSource } from '@erofs-kit/core';
import { FileSource, nodeHash, nodeSha256 } from '@erofs-kit/core/node';
import { nodeConvertOutput } from './node-convert.js';
import type { ExtractTarget } from './model/extract.js';
import { YieldingSource } from './model/yielding.js';
import type { Spool } from './model/open.js';
import type { OutputFile, Platform } from './vscode/platform.js';

function inside(root: string, rel: string): string {
  const p = resolve(root, rel);
  if (p !== root && !p.startsWith(root + sep)) throw new Error(`refusing to write outside ${root}: ${rel}`);
  return p;
}

export const nodePlatform: Platform = {
  name: 'node',
  sha256: nodeSha256,
  hash: nodeHash,
  convertOutput: (dir) => (dir.scheme === 'file' ? nodeConvertOutput(dir.fsPath) : undefined),
  async openSource(uri: vscode.Uri): Promise<ByteSource> {
    if (uri.scheme === 'file') return new YieldingSource(new FileSource(uri.fsPath));
    return new YieldingSource(new MemorySource(await vscode.workspace.fs.readFile(uri), uri.toString()));
  },
  spool(): Spool {
    const dir = mkdtempSync(join(tmpdir(), 'erofs-kit-tar-'));
    const path = join(dir, 'layer.tar');
    let fd: number | undefined = openSync(path, 'w');
    let pos = 0;
    return {
      write(chunk) {
        writeSync(fd!, chunk, 0, chunk.length, pos);
        pos += chunk.length;
      },
      async finish() {
        closeSync(fd!);
        fd = undefined;
        const src = new YieldingSource(new FileSource(path));
        // The file stays open; its name goes now, so nothing is left behind.
        rmSync(dir, { recursive: true, force: true });
        return src;
      },
      async discard() {
        if (fd !== undefined) closeSync(fd);
        fd = undefined;
        rmSync(dir, { recursive: true, force: true });
      },
    };
  },
  extractTarget(rootUri: vscode.Uri): ExtractTarget {
    const root = resolve(rootUri.fsPath);
    return {
      async mkdir(rel) {
        await mkdir(inside(root, rel), { recursive: true });
      },
      async writeFile(rel, pieces, mode) {
        const fh = await open(inside(root, rel), 'wx', mode & 0o777);
        try {
          for await (const p of pieces) await fh.write(p);
        } finally {
          await fh.close();
        }
      },
      async symlink(rel, target) {
        await symlink(target, inside(root, rel));
      },
    };
  },
  async createOutput(uri: vscode.Uri): Promise<OutputFile> {
    const path = uri.fsPath;
    const tmp = `${path}.partial-${process.pid}`;
    const fd = openSync(tmp, 'w');
    let pos = 0;
    let done = false;
    return {
      write(chunk) {
        writeSync(fd, chunk, 0, chunk.length, pos);
        pos += chunk.length;
      },
      async close() {
        closeSync(fd);
        done = true;
        try {
          renameSync(tmp, path);
        } catch (e) {
          // Nothing partial stays behind when the final name cannot be taken either.
          await rm(tmp, { force: true });
          throw e;
        }
      },
      async abort() {
        if (done) return;
        done = true;
        closeSync(fd);
        await rm(tmp, { force: true });
      },
    };
  },
};
