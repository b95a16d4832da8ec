/**
 * The "OCI Images" view: per OCI image layout (a workspace folder holding `oci-layout` or
 * `index.json`, or a folder opened with "Open OCI Layout…") its images (tags, platform) and
 * each image's layers (digest, media type, size, diffID); problems the reader found are listed
 * under the layout or the image they concern.
 */
import * as vscode from 'vscode';
import { listOci, shortDigest, type OciHost, type OciImageInfo, type OciLayerInfo, type OciListing } from '../model/oci.js';
import { describeError } from '../model/errors.js';

export type OciNode =
  | { kind: 'layout'; root: string }
  | { kind: 'ociImage'; root: string; key: string }
  | { kind: 'layer'; root: string; key: string; index: number }
  | { kind: 'problem'; message: string; severity: 'error' | 'warning' };

/** Bytes as a short human figure. */
export function humanSize(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v < 10 ? v.toFixed(1) : Math.round(v)} ${units[i]}`;
}

/** `application/vnd.oci.image.layer.v1.tar+gzip` → `tar+gzip`. */
export function shortMediaType(mt: string): string {
  const m = /\.(tar(?:[+.]\w+)?)$/.exec(mt) ?? /\.([\w.+-]+)$/.exec(mt);
  return m ? m[1]! : mt;
}

const severityOf = (line: string): 'error' | 'warning' => (/: warning: /.test(line) ? 'warning' : 'error');

export class OciTreeProvider implements vscode.TreeDataProvider<OciNode> {
  private readonly changed = new vscode.EventEmitter<OciNode | undefined>();
  readonly onDidChangeTreeData = this.changed.event;
  /** Layout folders shown, in order, with their listing (read once, again on refresh). */
  private readonly layouts = new Map<string, Promise<OciListing>>();

  constructor(private readonly host: OciHost) {}

  /** The layout folders shown. */
  roots(): string[] {
    return [...this.layouts.keys()];
  }

  /** Shows the layout in `root` (a folder URI string) and returns its listing. */
  add(root: string): Promise<OciListing> {
    const key = root.replace(/\/+$/, '');
    let p = this.layouts.get(key);
    if (!p) {
      p = listOci(this.host, key);
      this.layouts.set(key, p);
      this.changed.fire(undefined);
    }
    return p;
  }

  remove(root: string): void {
    if (this.layouts.delete(root.replace(/\/+$/, ''))) this.changed.fire(undefined);
  }

  /** Reads every layout again. */
  refresh(): void {
    for (const k of this.layouts.keys()) this.layouts.set(k, listOci(this.host, k));
    this.changed.fire(undefined);
  }

  listing(root: string): Promise<OciListing> | undefined {
    return this.layouts.get(root.replace(/\/+$/, ''));
  }

  async image(root: string, key: string): Promise<OciImageInfo | undefined> {
    return (await this.listing(root))?.images.find((i) => i.key === key);
  }

  async layer(n: { root: string; key: string; index: number }): Promise<OciLayerInfo | undefined> {
    return (await this.image(n.root, n.key))?.layers.find((l) => l.index === n.index);
  }

  async getTreeItem(n: OciNode): Promise<vscode.TreeItem> {
    const C = vscode.TreeItemCollapsibleState;
    switch (n.kind) {
      case 'layout': {
        const l = await this.listing(n.root);
        const item = new vscode.TreeItem(l?.name ?? n.root, C.Expanded);
        item.id = `oci:${n.root}`;
        item.contextValue = 'ociLayout';
        item.iconPath = new vscode.ThemeIcon('archive');
        if (l) {
          const problems = l.problems.length + l.images.reduce((a, i) => a + i.problems.length, 0);
          item.description = `${l.kind === 'docker-archive' ? 'docker-archive' : 'OCI image layout'}, ${l.images.length} image${l.images.length === 1 ? '' : 's'}${problems ? `, ${problems} problem${problems === 1 ? '' : 's'}` : ''}`;
        }
        item.tooltip = vscode.Uri.parse(n.root).fsPath || n.root;
        return item;
      }
      case 'ociImage': {
        const img = await this.image(n.root, n.key);
        const item = new vscode.TreeItem(img?.label ?? n.key, C.Collapsed);
        item.id = `oci:${n.root}:${n.key}`;
        item.contextValue = img?.artifact ? 'ociArtifact' : 'ociImage';
        item.iconPath = new vscode.ThemeIcon(img?.artifact ? 'file' : 'package');
        if (img) {
          const parts = [img.platform, img.artifact ? 'artifact' : `${img.layers.length} layer${img.layers.length === 1 ? '' : 's'}`, humanSize(img.layers.reduce((a, l) => a + l.size, 0))];
          item.description = parts.filter((p) => p !== undefined).join(', ');
          item.tooltip = [`manifest ${img.manifestDigest ?? '(none)'}`, `config ${img.configDigest ?? '(none)'}`, ...img.problems].join('\n');
        }
        return item;
      }
      case 'layer': {
        const l = await this.layer(n);
        const item = new vscode.TreeItem(l ? `${l.index + 1}: ${shortDigest(l.digest)}` : `layer ${n.index + 1}`, C.None);
        item.id = `oci:${n.root}:${n.key}:${n.index}`;
        item.contextValue = 'ociLayer';
        item.iconPath = new vscode.ThemeIcon('layers');
        if (l) {
          item.description = `${shortMediaType(l.mediaType)}, ${humanSize(l.size)}${l.diffId ? `, diffID ${shortDigest(l.diffId)}` : ''}`;
          item.tooltip = `digest ${l.digest}\nmedia type ${l.mediaType}\nsize ${l.size} bytes\ndiffID ${l.diffId ?? '(none in the config)'}\nClick to open the layer as a folder`;
        }
        item.command = { command: 'erofs.openOciLayer', title: 'Open Layer as Folder', arguments: [n] };
        return item;
      }
      case 'problem': {
        const item = new vscode.TreeItem(n.message, C.None);
        item.iconPath = new vscode.ThemeIcon(n.severity === 'warning' ? 'warning' : 'error');
        item.tooltip = n.message;
        item.contextValue = 'ociProblem';
        return item;
      }
    }
  }

  async getChildren(n?: OciNode): Promise<OciNode[]> {
    if (!n) return this.roots().map((root) => ({ kind: 'layout', root }));
    try {
      switch (n.kind) {
        case 'layout': {
          const l = await this.listing(n.root);
          if (!l) return [];
          return [
            ...l.problems.map((message): OciNode => ({ kind: 'problem', message, severity: severityOf(message) })),
            ...l.images.map((i): OciNode => ({ kind: 'ociImage', root: n.root, key: i.key })),
          ];
        }
        case 'ociImage': {
          const img = await this.image(n.root, n.key);
          if (!img) return [];
          return [
            ...img.problems.map((message): OciNode => ({ kind: 'problem', message, severity: severityOf(message) })),
            ...img.layers.map((l): OciNode => ({ kind: 'layer', root: n.root, key: n.key, index: l.index })),
          ];
        }
        default:
          return [];
      }
    } catch (e) {
      return [{ kind: 'problem', message: describeError(e), severity: 'error' }];
    }
  }

  getParent(): undefined {
    return undefined;
  }

  dispose(): void {
    this.changed.dispose();
  }
}
