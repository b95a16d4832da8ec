/**
 * The read-only `erofs:` file system. `erofs:/` lists the mounted images; below an image's id
 * every call touches only what it names: stat reads one inode (after the lookups on its path),
 * readDirectory one directory (entry types come from the dirents, no inode per entry),
 * readFile one file's data, in pieces, through core's block cache over the image file.
 */
import * as vscode from 'vscode';
import { isErofsError } from '@erofs-kit/core';
import { describeError } from '../model/errors.js';
import { EntryType, typeOfMode } from '../model/image.js';
import { MountRegistry, parseErofsUri } from './registry.js';

export class ErofsFileSystemProvider implements vscode.FileSystemProvider {
  private readonly changed = new vscode.EventEmitter<vscode.FileChangeEvent[]>();
  readonly onDidChangeFile = this.changed.event;

  constructor(
    private readonly mounts: MountRegistry,
    /** Largest file readFile hands to an editor. */
    private readonly maxFileBytes: () => number = () => 256 << 20,
  ) {}

  /** Maps a core error to the FileSystemError VS Code expects, keeping code and offset in the message. */
  private fail(uri: vscode.Uri, e: unknown, imageName?: string): never {
    if (e instanceof vscode.FileSystemError) throw e;
    if (isErofsError(e)) {
      if (e.code === 'not-found') throw vscode.FileSystemError.FileNotFound(uri);
      if (e.code === 'not-a-directory') throw vscode.FileSystemError.FileNotADirectory(uri);
      if (e.code === 'is-a-directory') throw vscode.FileSystemError.FileIsADirectory(uri);
    }
    throw vscode.FileSystemError.Unavailable(describeError(e, imageName));
  }

  private async target(uri: vscode.Uri) {
    const { id, path } = parseErofsUri(uri);
    try {
      return { image: await this.mounts.get(id), path };
    } catch (e) {
      return this.fail(uri, e);
    }
  }

  async stat(uri: vscode.Uri): Promise<vscode.FileStat> {
    if (uri.path === '/' || uri.path === '') return { type: vscode.FileType.Directory, ctime: 0, mtime: 0, size: 0, permissions: vscode.FilePermission.Readonly };
    const { image, path } = await this.target(uri);
    try {
      const link = await image.resolve(path, false);
      let ino = link.ino;
      let type: number = typeOfMode(ino.mode);
      if (type === EntryType.SymbolicLink) {
        try {
          ino = (await image.resolve(path, true)).ino;
          type = EntryType.SymbolicLink | typeOfMode(ino.mode);
        } catch (e) {
          if (!isErofsError(e)) throw e; // a dangling link stays a bare link
        }
      }
      if (type === EntryType.Unknown) type = vscode.FileType.File; // devices, fifos, sockets: empty files
      const mtime = ino.mtime * 1000 + Math.floor(ino.mtimeNsec / 1e6);
      return { type, ctime: mtime, mtime, size: ino.size, permissions: vscode.FilePermission.Readonly };
    } catch (e) {
      return this.fail(uri, e, image.label);
    }
  }

  async readDirectory(uri: vscode.Uri): Promise<[string, vscode.FileType][]> {
    if (uri.path === '/' || uri.path === '') {
      return this.mounts.images().map((i) => [i.id, vscode.FileType.Directory]);
    }
    const { image, path } = await this.target(uri);
    try {
      return (await image.list(path)).map((e) => [e.name, e.type === EntryType.Unknown ? vscode.FileType.File : e.type]);
    } catch (e) {
      return this.fail(uri, e, image.label);
    }
  }

  async readFile(uri: vscode.Uri): Promise<Uint8Array> {
    const { image, path } = await this.target(uri);
    try {
      const { ino } = await image.resolve(path, true);
      const type = typeOfMode(ino.mode);
      if (type === EntryType.Directory) throw vscode.FileSystemError.FileIsADirectory(uri);
      if (type !== EntryType.File) return new Uint8Array(0);
      const max = this.maxFileBytes();
      if (ino.size > max) {
        throw vscode.FileSystemError.Unavailable(`${path} is ${ino.size} bytes, more than erofs.maxOpenFileBytes (${max}): use EROFS: Extract To… to copy it out`);
      }
      // One allocation of the file's size; the image itself is read through core's block cache,
      // and data above 64 KiB bypasses the cache (read straight from the file, piece by piece).
      const out = new Uint8Array(ino.size);
      let o = 0;
      for await (const piece of image.image.stream(ino)) {
        out.set(piece, o);
        o += piece.length;
      }
      return out;
    } catch (e) {
      return this.fail(uri, e, image.label);
    }
  }

  watch(): vscode.Disposable {
    return new vscode.Disposable(() => undefined);
  }

  createDirectory(uri: vscode.Uri): never {
    throw vscode.FileSystemError.NoPermissions(uri);
  }
  writeFile(uri: vscode.Uri): never {
    throw vscode.FileSystemError.NoPermissions(uri);
  }
  delete(uri: vscode.Uri): never {
    throw vscode.FileSystemError.NoPermissions(uri);
  }
  rename(uri: vscode.Uri): never {
    throw vscode.FileSystemError.NoPermissions(uri);
  }

  dispose(): void {
    this.changed.dispose();
  }
}
