/**
 * The "EROFS Image" view: per open image its superblock, features (meaning, first kernel),
 * compatibility, devices, a lazily loaded file tree, and the inode of the selected file (from
 * this view, the active editor, or "Show in EROFS Image View").
 */
import * as vscode from 'vscode';
import { describeError } from '../model/errors.js';
import { imageNodes, inodeNodes, type DetailNode } from '../model/details.js';
import { EntryType } from '../model/image.js';
import { erofsUri, type MountRegistry } from './registry.js';

export type ViewNode =
  | { kind: 'image'; id: string }
  | { kind: 'detail'; node: DetailNode; key: string }
  | { kind: 'files'; id: string }
  | { kind: 'file'; id: string; path: string; type: number }
  | { kind: 'inode'; id: string; path: string }
  | { kind: 'error'; message: string };

export class ImageTreeProvider implements vscode.TreeDataProvider<ViewNode> {
  private readonly changed = new vscode.EventEmitter<ViewNode | undefined>();
  readonly onDidChangeTreeData = this.changed.event;
  /** The file whose inode is shown, per image id. */
  private readonly selected = new Map<string, string>();

  constructor(private readonly mounts: MountRegistry) {
    mounts.onDidChange(() => this.refresh());
  }

  refresh(): void {
    this.changed.fire(undefined);
  }

  /** Shows the inode of `path` in image `id`. */
  select(id: string, path: string): void {
    if (this.selected.get(id) === path) return;
    this.selected.set(id, path);
    this.refresh();
  }

  selection(id: string): string | undefined {
    return this.selected.get(id);
  }

  getTreeItem(n: ViewNode): vscode.TreeItem {
    const C = vscode.TreeItemCollapsibleState;
    switch (n.kind) {
      case 'image': {
        const img = this.mounts.images().find((i) => i.id === n.id);
        const item = new vscode.TreeItem(img?.label ?? n.id, C.Expanded);
        item.id = `image:${n.id}`;
        item.contextValue = 'image';
        item.iconPath = new vscode.ThemeIcon(img?.kind === 'tar' ? 'package' : 'file-zip');
        if (img) item.description = img.kind === 'tar' ? 'tar layer (index in memory)' : `EROFS, ${img.image.blockSize}-byte blocks`;
        item.tooltip = img?.name;
        return item;
      }
      case 'detail': {
        const item = new vscode.TreeItem(n.node.label, n.node.children?.length ? C.Collapsed : C.None);
        item.id = n.key;
        if (n.node.description !== undefined) item.description = n.node.description;
        if (n.node.tooltip !== undefined) item.tooltip = n.node.tooltip;
        return item;
      }
      case 'files': {
        const item = new vscode.TreeItem('Files', C.Collapsed);
        item.id = `files:${n.id}`;
        item.iconPath = new vscode.ThemeIcon('folder');
        return item;
      }
      case 'file': {
        const name = n.path.slice(n.path.lastIndexOf('/') + 1);
        const isDir = (n.type & EntryType.Directory) !== 0;
        const item = new vscode.TreeItem(name, isDir ? C.Collapsed : C.None);
        item.id = `file:${n.id}:${n.path}`;
        item.contextValue = 'file';
        item.resourceUri = erofsUri(n.id, n.path);
        item.iconPath = isDir ? vscode.ThemeIcon.Folder : vscode.ThemeIcon.File;
        if (!isDir) item.command = { command: 'erofs.openFile', title: 'Open', arguments: [n] };
        return item;
      }
      case 'inode': {
        const item = new vscode.TreeItem('Inode', C.Expanded);
        item.id = `inode:${n.id}:${n.path}`;
        item.description = n.path;
        item.contextValue = 'inode';
        item.iconPath = new vscode.ThemeIcon('symbol-struct');
        return item;
      }
      case 'error': {
        const item = new vscode.TreeItem(n.message, C.None);
        item.iconPath = new vscode.ThemeIcon('error');
        item.tooltip = n.message;
        return item;
      }
    }
  }

  async getChildren(n?: ViewNode): Promise<ViewNode[]> {
    if (!n) return this.mounts.images().map((i) => ({ kind: 'image', id: i.id }));
    try {
      switch (n.kind) {
        case 'image': {
          const img = await this.mounts.get(n.id);
          const out: ViewNode[] = [];
          const sel = this.selected.get(n.id);
          if (sel !== undefined) out.push({ kind: 'inode', id: n.id, path: sel });
          imageNodes(img).forEach((d, i) => out.push({ kind: 'detail', node: d, key: `${n.id}/${i}` }));
          out.push({ kind: 'files', id: n.id });
          return out;
        }
        case 'detail':
          return (n.node.children ?? []).map((d, i) => ({ kind: 'detail', node: d, key: `${n.key}/${i}` }));
        case 'files':
        case 'file': {
          const img = await this.mounts.get(n.id);
          const dir = n.kind === 'files' ? '/' : n.path;
          const entries = await img.list(dir);
          const base = dir === '/' ? '' : dir;
          return entries.map((e) => ({ kind: 'file', id: n.id, path: `${base}/${e.name}`, type: e.type }));
        }
        case 'inode': {
          const img = await this.mounts.get(n.id);
          const { ino } = await img.resolve(n.path, false);
          const nodes = await inodeNodes(img.image, n.path, ino);
          return nodes.map((d, i) => ({ kind: 'detail', node: d, key: `inode:${n.id}:${n.path}/${i}` }));
        }
        case 'error':
          return [];
      }
    } catch (e) {
      return [{ kind: 'error', message: describeError(e, this.mounts.images().find((i) => 'id' in n && i.id === n.id)?.label) }];
    }
  }

  getParent(): undefined {
    return undefined;
  }
}
