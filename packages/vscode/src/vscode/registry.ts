/**
 * Mounted images by id. A URI `erofs:/<id>/<path>` names `<path>` inside the image mounted as
 * `<id>`; the id is the file's name plus a hash of its URI, and the registry remembers which
 * file each id stands for (global state, so a window that reloads into a multi-root workspace
 * finds its folders again). Images open on first use and stay open until closed.
 */
import * as vscode from 'vscode';
import type { DeviceInfo } from '@erofs-kit/core';
import { OpenedImage } from '../model/image.js';
import { mountId, openImageFile, openTarLayer, splitUri, type OpenHost, type Progress } from '../model/open.js';
import type { Platform } from './platform.js';

export const SCHEME = 'erofs';
const MOUNTS_KEY = 'erofs.mounts';
const DEVICES_KEY = 'erofs.devices';

export interface MountRecord {
  uri: string;
  kind: 'erofs' | 'tar';
}

export interface Memento {
  get<T>(key: string): T | undefined;
  update(key: string, value: unknown): Thenable<void>;
}

/** `erofs:/<id>/a/b` → [id, '/a/b']. */
export function parseErofsUri(uri: vscode.Uri): { id: string; path: string } {
  const m = /^\/([^/]+)(\/.*)?$/.exec(uri.path);
  if (!m) throw vscode.FileSystemError.FileNotFound(uri);
  return { id: m[1]!, path: m[2] ?? '/' };
}

export function erofsUri(id: string, path = '/'): vscode.Uri {
  return vscode.Uri.from({ scheme: SCHEME, path: `/${id}${path.startsWith('/') ? path : `/${path}`}` });
}

export class MountRegistry implements vscode.Disposable {
  private readonly open = new Map<string, Promise<OpenedImage>>();
  private readonly opened = new Map<string, OpenedImage>();
  private readonly changed = new vscode.EventEmitter<void>();
  readonly onDidChange = this.changed.event;

  constructor(
    private readonly platform: Platform,
    /** Survives reloads and workspace changes: which file each id stands for. */
    private readonly global: Memento,
    /** Devices chosen for tar-index images (asked once, then remembered). */
    private readonly workspace: Memento,
  ) {}

  private records(): Record<string, MountRecord> {
    return this.global.get<Record<string, MountRecord>>(MOUNTS_KEY) ?? {};
  }

  /** The images open now, in the order they were opened. */
  images(): OpenedImage[] {
    return [...this.opened.values()];
  }

  record(id: string): MountRecord | undefined {
    return this.records()[id];
  }

  host(): OpenHost {
    const platform = this.platform;
    return {
      openSource: (uri) => platform.openSource(vscode.Uri.parse(uri)),
      sizeOf: async (uri) => {
        try {
          const st = await vscode.workspace.fs.stat(vscode.Uri.parse(uri));
          return st.type & vscode.FileType.File ? st.size : undefined;
        } catch {
          return undefined;
        }
      },
      remembered: (uri) => {
        const all = this.workspace.get<Record<string, string[]>>(DEVICES_KEY) ?? this.global.get<Record<string, string[]>>(DEVICES_KEY) ?? {};
        return all[uri];
      },
      remember: async (uri, devices) => {
        for (const m of [this.workspace, this.global]) {
          const all = { ...(m.get<Record<string, string[]>>(DEVICES_KEY) ?? {}) };
          all[uri] = devices;
          await m.update(DEVICES_KEY, all);
        }
      },
      askDevice: (uri, dev, bs) => askDevice(uri, dev, bs),
      listDir: async (uri) => {
        try {
          return (await vscode.workspace.fs.readDirectory(vscode.Uri.parse(uri))).map(([n]) => n);
        } catch {
          return undefined;
        }
      },
      ...(platform.spool ? { spool: () => platform.spool!() } : {}),
    };
  }

  /** Mounts a file (an image or a tar layer) and returns its id; opening errors propagate. */
  async mount(file: vscode.Uri, kind: 'erofs' | 'tar', progress?: Progress): Promise<OpenedImage> {
    const uri = file.toString();
    const id = mountId(uri);
    const existing = this.open.get(id);
    if (existing) {
      const img = await existing.catch(() => undefined);
      if (img) return img;
    }
    const p = kind === 'tar' ? openTarLayer(this.host(), uri, progress).then((t) => t.opened) : openImageFile(this.host(), uri);
    this.open.set(id, p);
    try {
      const img = await p;
      this.opened.set(id, img);
      await this.global.update(MOUNTS_KEY, { ...this.records(), [id]: { uri, kind } });
      this.changed.fire();
      return img;
    } catch (e) {
      this.open.delete(id);
      throw e;
    }
  }

  /** The image behind an id, opened on first use from the remembered record. */
  async get(id: string): Promise<OpenedImage> {
    const hit = this.open.get(id);
    if (hit) return hit;
    const rec = this.record(id);
    if (!rec) throw vscode.FileSystemError.FileNotFound(erofsUri(id));
    return this.mount(vscode.Uri.parse(rec.uri), rec.kind);
  }

  async close(id: string): Promise<void> {
    const p = this.open.get(id);
    this.open.delete(id);
    this.opened.delete(id);
    const records = { ...this.records() };
    delete records[id];
    await this.global.update(MOUNTS_KEY, records);
    if (p) await (await p.catch(() => undefined))?.close();
    this.changed.fire();
  }

  dispose(): void {
    for (const p of this.open.values()) void p.then((i) => i.close(), () => undefined);
    this.open.clear();
    this.opened.clear();
    this.changed.dispose();
  }
}

async function askDevice(uri: string, dev: DeviceInfo, bs: number): Promise<string | undefined> {
  const name = splitUri(uri)[1];
  const pick = await vscode.window.showOpenDialog({
    title: `${name}: its file data is on extra device ${dev.index} (${dev.blocks} blocks of ${bs} bytes, the layer tar): choose that file`,
    openLabel: 'Use as device',
    canSelectMany: false,
    defaultUri: vscode.Uri.parse(splitUri(uri)[0]),
    filters: { 'Tar layers and blobs': ['tar', 'blob', 'img'], 'All files': ['*'] },
  });
  return pick?.[0]?.toString();
}
