/**
 * OCI image layouts: the "OCI Images" view fed from workspace folders holding `oci-layout` (or
 * `index.json`) and from "Open OCI Layout…"; a layer opens as a folder (its tar index from an
 * earlier conversion beside the layout, else built in memory from the blob); "Convert Image"
 * writes what `erofs-kit oci convert` writes, with progress and cancellation.
 */
import * as vscode from 'vscode';
import { defaultConvertDir, findConvertedLayer, isOciLayout, layoutsInside, ociFiles, shortDigest, type OciImageInfo, type OciListing } from '../model/oci.js';
import { convertImage, type OciSummary } from '../model/oci-convert.js';
import { decompressing } from '../model/tar.js';
import { splitUri } from '../model/open.js';
import { withProgress } from './commands.js';
import { workspaceConvertOutput } from './fs-convert-output.js';
import type { OciNode, OciTreeProvider } from './oci-view.js';
import type { Platform } from './platform.js';
import { SCHEME, erofsUri, type MountRegistry } from './registry.js';

const LAYOUTS_KEY = 'erofs.ociLayouts';
const CONTEXT_KEY = 'erofs.ociLayouts';

export interface OciServices {
  mounts: MountRegistry;
  oci: OciTreeProvider;
  platform: Platform;
}

/** A layer node, or the same fields from a caller (tests, other commands). */
type LayerRef = { root: string; key: string; index: number };
type ImageRef = { root: string; key: string };

export function registerOciCommands(context: vscode.ExtensionContext, s: OciServices): void {
  const { mounts, oci, platform } = s;
  const host = mounts.host();
  const reg = (id: string, fn: (...args: any[]) => unknown): void => {
    context.subscriptions.push(vscode.commands.registerCommand(id, fn));
  };
  const showing = (): void => void vscode.commands.executeCommand('setContext', CONTEXT_KEY, oci.roots().length > 0);
  const remembered = (): string[] => context.workspaceState.get<string[]>(LAYOUTS_KEY) ?? [];

  /**
   * Workspace folders that are layouts, or hold layouts directly inside them, show in the view
   * (layouts no longer there leave it).
   */
  const scanFolders = async (): Promise<void> => {
    const folders = (vscode.workspace.workspaceFolders ?? []).filter((f) => f.uri.scheme !== SCHEME).map((f) => f.uri.toString().replace(/\/+$/, ''));
    const found: string[] = [];
    for (const root of folders) {
      if (await isOciLayout(host, root)) found.push(root);
      else found.push(...(await layoutsInside(host, root)));
    }
    for (const root of remembered()) if (await isOciLayout(host, root)) found.push(root);
    for (const root of oci.roots()) if (!found.includes(root)) oci.remove(root);
    for (const root of found) void oci.add(root);
    showing();
  };
  void scanFolders();
  context.subscriptions.push(vscode.workspace.onDidChangeWorkspaceFolders(() => void scanFolders()));

  reg('erofs.openOciLayout', async (uri?: vscode.Uri): Promise<OciListing | undefined> => {
    const folder = uri instanceof vscode.Uri ? uri : (await vscode.window.showOpenDialog({ title: 'Open OCI Layout…', canSelectFiles: false, canSelectFolders: true, canSelectMany: false, openLabel: 'Open layout' }))?.[0];
    if (!folder) return undefined;
    const root = folder.toString().replace(/\/+$/, '');
    if (!(await isOciLayout(host, root))) {
      void vscode.window.showErrorMessage(`${folder.fsPath || root} holds neither oci-layout nor index.json: it is not an OCI image layout`);
      return undefined;
    }
    if (!remembered().includes(root)) await context.workspaceState.update(LAYOUTS_KEY, [...remembered(), root]);
    const listing = await oci.add(root);
    showing();
    void vscode.commands.executeCommand('erofsOci.focus').then(undefined, () => undefined);
    return listing;
  });

  reg('erofs.closeOciLayout', async (n?: OciNode) => {
    if (n?.kind !== 'layout') return;
    await context.workspaceState.update(LAYOUTS_KEY, remembered().filter((r) => r !== n.root));
    oci.remove(n.root);
    showing();
  });

  reg('erofs.refreshOci', async () => {
    oci.refresh();
    await scanFolders();
  });

  /** Opens a layer as a folder; returns the mounted image's id. */
  reg('erofs.openOciLayer', async (n?: LayerRef, _all?: unknown, opts?: { addFolder?: boolean }): Promise<string | undefined> => {
    const ref = n ?? (await pickLayer(oci));
    if (!ref) return undefined;
    const [listing, layer] = [await oci.listing(ref.root), await oci.layer(ref)];
    if (!layer) {
      void vscode.window.showErrorMessage(`no layer ${ref.index + 1} in image ${ref.key} of ${ref.root}`);
      return undefined;
    }
    const converted = layer.diffId !== undefined ? await findConvertedLayer(host, ref.root, layer.diffId) : undefined;
    const file = vscode.Uri.parse(converted ?? layer.blob);
    const name = `${listing?.name ?? splitUri(ref.root)[1]} layer ${layer.index + 1} (${shortDigest(layer.digest)})`;
    const img = await withProgress(`Opening ${name}${converted ? '' : ': building its tar index'}`, (p) => mounts.mount(file, converted ? 'erofs' : 'tar', p));
    if (!img) return undefined;
    const root = erofsUri(img.id);
    const folders = vscode.workspace.workspaceFolders ?? [];
    if ((opts?.addFolder ?? true) && !folders.some((f) => f.uri.toString() === root.toString())) {
      vscode.workspace.updateWorkspaceFolders(folders.length, 0, { uri: root, name });
    }
    return img.id;
  });

  /** Converts an image; returns summary.json's content (undefined when cancelled or failed). */
  reg('erofs.convertOciImage', async (n?: ImageRef, outArg?: unknown): Promise<OciSummary | undefined> => {
    const ref = n && 'key' in n && 'root' in n ? n : await pickImage(oci);
    if (!ref) return undefined;
    const img = await oci.image(ref.root, ref.key);
    if (!img) {
      void vscode.window.showErrorMessage(`no image ${ref.key} in ${ref.root}`);
      return undefined;
    }
    if (img.artifact) {
      void vscode.window.showErrorMessage(`${img.label} is an artifact (its config is not an image config): there is nothing to convert`);
      return undefined;
    }
    const out =
      // From a view's menu the second argument is the selection, not a folder.
      (outArg instanceof vscode.Uri ? outArg : undefined) ??
      (await vscode.window.showSaveDialog({ title: `Convert ${img.label}: output folder (layers/, fsmeta.erofs, summary.json)`, defaultUri: vscode.Uri.parse(defaultConvertDir(ref.root)), saveLabel: 'Convert here' }));
    if (!out) return undefined;
    const output = platform.convertOutput?.(out) ?? workspaceConvertOutput(out, platform);
    const input = vscode.Uri.parse(ref.root);
    const summary = await withProgress(`Converting ${img.label}`, (_p, report, token) =>
      convertImage(ociFiles(host, ref.root), output, {
        input: input.scheme === 'file' ? input.fsPath : ref.root,
        ...(img.tags[0] !== undefined ? { tag: img.tags[0] } : {}),
        ...(img.platform !== undefined ? { platform: img.platform } : {}),
        ...(platform.hash ? { hash: platform.hash } : {}),
        ...(platform.sha256 ? { sha256: platform.sha256 } : {}),
        decompress: (c, chunks) => decompressing(chunks, c),
        progress: {
          report: (m, f) => report(f !== undefined ? `${Math.floor(f * 100)}%: ${m}` : m),
          isCancelled: () => token.isCancellationRequested,
        },
      }),
    );
    if (summary) {
      const reused = summary.devices.filter((d) => d.reused).length;
      void vscode.window
        .showInformationMessage(
          `Converted ${img.label} to ${out.scheme === 'file' ? out.fsPath : out.toString()}: ${summary.devices.length} layer${summary.devices.length === 1 ? '' : 's'}${reused ? ` (${reused} unchanged)` : ''}, fsmeta.erofs and summary.json`,
          'Open fsmeta.erofs',
        )
        .then((a) => (a ? vscode.commands.executeCommand('erofs.openImage', vscode.Uri.joinPath(out, 'fsmeta.erofs')) : undefined));
    }
    return summary;
  });
}

async function pickImage(oci: OciTreeProvider): Promise<ImageRef | undefined> {
  const items: (vscode.QuickPickItem & { ref: ImageRef })[] = [];
  for (const root of oci.roots()) {
    const l = await oci.listing(root)?.catch(() => undefined);
    for (const i of l?.images ?? []) if (!i.artifact) items.push({ label: i.label, description: `${l!.name}${i.platform ? ` · ${i.platform}` : ''} · ${i.layers.length} layers`, ref: { root, key: i.key } });
  }
  if (items.length === 0) {
    const listing = await vscode.commands.executeCommand<OciListing | undefined>('erofs.openOciLayout');
    const first = listing?.images.find((i: OciImageInfo) => !i.artifact);
    if (!listing || !first) return undefined;
    if (listing.images.filter((i) => !i.artifact).length === 1) return { root: listing.root, key: first.key };
    return pickImage(oci);
  }
  if (items.length === 1) return items[0]!.ref;
  return (await vscode.window.showQuickPick(items, { title: 'Convert Image: which image?' }))?.ref;
}

async function pickLayer(oci: OciTreeProvider): Promise<LayerRef | undefined> {
  const items: (vscode.QuickPickItem & { ref: LayerRef })[] = [];
  for (const root of oci.roots()) {
    const l = await oci.listing(root)?.catch(() => undefined);
    for (const i of l?.images ?? []) {
      for (const layer of i.layers) items.push({ label: `${i.label} layer ${layer.index + 1}`, description: `${l!.name} · ${layer.digest}`, ref: { root, key: i.key, index: layer.index } });
    }
  }
  if (items.length === 0) {
    void vscode.window.showInformationMessage('Open an OCI image layout first (Open OCI Layout…, or a workspace folder holding oci-layout).');
    return undefined;
  }
  return (await vscode.window.showQuickPick(items, { title: 'Open which layer as a folder?' }))?.ref;
}
