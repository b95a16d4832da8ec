/** The commands: open, close, verify, show bytes, extract, build a tar index, inspect. */
import * as vscode from 'vscode';
import { fsckSource, format, hex, indexTar, isErofsError } from '@erofs-kit/core';
import { Cancelled, describeError, isCancelled } from '../model/errors.js';
import { extract } from '../model/extract.js';
import { chunksOf, splitUri, type Progress } from '../model/open.js';
import { decompressing, sniff } from '../model/tar.js';
import type { BytesKind } from '../model/bytes.js';
import { bytesUri } from './bytes.js';
import type { Platform } from './platform.js';
import { SCHEME, erofsUri, parseErofsUri, type MountRegistry } from './registry.js';
import { verify } from './verify.js';
import { verityOfFile, verityOfSource } from '../model/verity.js';
import type { ImageTreeProvider, ViewNode } from './view.js';

export interface Services {
  mounts: MountRegistry;
  view: ImageTreeProvider;
  platform: Platform;
  diagnostics: vscode.DiagnosticCollection;
}

const IMAGE_FILTERS = { 'EROFS images': ['erofs', 'img', 'cfs'], 'All files': ['*'] };
const TAR_FILTERS = { 'Tar layers': ['tar', 'gz', 'tgz', 'zst', 'zstd'], 'All files': ['*'] };

async function pick(title: string, filters: Record<string, string[]>): Promise<vscode.Uri | undefined> {
  const r = await vscode.window.showOpenDialog({ title, canSelectMany: false, filters });
  return r?.[0];
}

/** Runs `fn` with a cancellable progress notification; errors become one message, never a stack. */
export async function withProgress<T>(title: string, fn: (p: Progress, report: (msg: string) => void, token: vscode.CancellationToken) => Promise<T>): Promise<T | undefined> {
  try {
    return await vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title, cancellable: true }, async (progress, token) => {
      let lastPct = 0;
      const p: Progress = {
        report(done, total) {
          const pct = total > 0 ? Math.floor((done / total) * 100) : 0;
          if (pct > lastPct) {
            progress.report({ increment: pct - lastPct, message: `${pct}%` });
            lastPct = pct;
          }
        },
        isCancelled: () => token.isCancellationRequested,
      };
      return fn(p, (message) => progress.report({ message }), token);
    });
  } catch (e) {
    if (!isCancelled(e)) void vscode.window.showErrorMessage(describeError(e));
    return undefined;
  }
}

/** The image a command is about: a view node, an `erofs:` URI, a file URI of an image, or the active editor. */
function imageIdOf(arg: unknown): string | undefined {
  if (arg && typeof arg === 'object' && 'kind' in arg && 'id' in arg) return (arg as { id: string }).id;
  if (arg instanceof vscode.Uri && arg.scheme === SCHEME) return parseErofsUri(arg).id;
  const active = vscode.window.activeTextEditor?.document.uri;
  if (arg === undefined && active?.scheme === SCHEME) return parseErofsUri(active).id;
  return undefined;
}

/** The image file shown in the active custom editor (the image editor), if any. */
function activeImageEditor(): vscode.Uri | undefined {
  const input = vscode.window.tabGroups.activeTabGroup.activeTab?.input;
  return input instanceof vscode.TabInputCustom && input.viewType.startsWith('erofs.image') ? input.uri : undefined;
}

/** The file inside an image a command is about. */
function fileOf(arg: unknown, view: ImageTreeProvider): { id: string; path: string } | undefined {
  if (arg && typeof arg === 'object' && 'kind' in arg) {
    const n = arg as ViewNode;
    if (n.kind === 'file' || n.kind === 'inode') return { id: n.id, path: n.path };
    if (n.kind === 'image' || n.kind === 'files') return { id: n.id, path: view.selection(n.id) ?? '/' };
  }
  const uri = arg instanceof vscode.Uri ? arg : vscode.window.activeTextEditor?.document.uri;
  if (uri?.scheme === SCHEME && uri.path.split('/').length > 1) return parseErofsUri(uri);
  return undefined;
}

export function registerCommands(context: vscode.ExtensionContext, s: Services): void {
  const { mounts, view, platform, diagnostics } = s;
  const reg = (id: string, fn: (...args: any[]) => unknown): void => {
    context.subscriptions.push(vscode.commands.registerCommand(id, fn));
  };

  /** Opens an image (or tar layer) and adds it as a workspace folder; returns its id. */
  const openAsFolder = async (file: vscode.Uri, kind: 'erofs' | 'tar', addFolder = true): Promise<string | undefined> => {
    const img = await withProgress(`Opening ${splitUri(file.toString())[1]}`, (p) => mounts.mount(file, kind, p));
    if (!img) return undefined;
    const root = erofsUri(img.id);
    const folders = vscode.workspace.workspaceFolders ?? [];
    if (addFolder && !folders.some((f) => f.uri.toString() === root.toString())) {
      vscode.workspace.updateWorkspaceFolders(folders.length, 0, { uri: root, name: `${img.label} (${kind === 'tar' ? 'tar layer' : 'EROFS'})` });
    }
    return img.id;
  };

  reg('erofs.openImage', async (uri?: vscode.Uri, _all?: unknown, opts?: { addFolder?: boolean }) => {
    const file = uri instanceof vscode.Uri ? uri : (activeImageEditor() ?? (await pick('Open EROFS Image', IMAGE_FILTERS)));
    if (!file) return undefined;
    // A tar layer chosen here opens as one too.
    const head = await platform.openSource(file).then(async (src) => {
      try {
        return await src.read(0, Math.min(src.size, 1028));
      } finally {
        await src.close?.();
      }
    }, () => new Uint8Array(0));
    const kind = ['tar', 'gzip', 'zstd'].includes(sniff(head)) ? 'tar' : 'erofs';
    return openAsFolder(file, kind, opts?.addFolder ?? true);
  });

  reg('erofs.openTarLayer', async (uri?: vscode.Uri, _all?: unknown, opts?: { addFolder?: boolean }) => {
    const file = uri instanceof vscode.Uri ? uri : await pick('Open Tar Layer as Folder', TAR_FILTERS);
    if (!file) return undefined;
    return openAsFolder(file, 'tar', opts?.addFolder ?? true);
  });

  reg('erofs.closeImage', async (arg?: unknown) => {
    const id = imageIdOf(arg);
    if (!id) return;
    const root = erofsUri(id).toString();
    const i = (vscode.workspace.workspaceFolders ?? []).findIndex((f) => f.uri.toString() === root);
    if (i >= 0) vscode.workspace.updateWorkspaceFolders(i, 1);
    await mounts.close(id);
  });

  reg('erofs.refreshView', () => view.refresh());

  reg('erofs.inspectFile', async (arg?: unknown) => {
    const f = fileOf(arg, view);
    if (!f) return;
    view.select(f.id, f.path);
    await vscode.commands.executeCommand('erofsImage.focus');
  });

  reg('erofs.openFile', async (n: ViewNode) => {
    if (n.kind !== 'file') return;
    view.select(n.id, n.path);
    await vscode.commands.executeCommand('vscode.open', erofsUri(n.id, n.path), { preview: true });
  });

  reg('erofs.verifyImage', async (arg?: unknown) => {
    let id = imageIdOf(arg);
    const file = arg instanceof vscode.Uri && arg.scheme !== SCHEME ? arg : arg === undefined && !id ? activeImageEditor() : undefined;
    if (!id && !file) {
      const picked = await pick('Verify EROFS Image', IMAGE_FILTERS);
      if (!picked) return undefined;
      return vscode.commands.executeCommand('erofs.verifyImage', picked);
    }
    const name = file ? splitUri(file.toString())[1]! : id!;
    return withProgress(`Verifying ${name}`, async (_p, report, token) => {
      if (file) {
        try {
          id = (await mounts.mount(file, 'erofs')).id;
        } catch (e) {
          if (!isErofsError(e)) throw e;
          // The reader refuses the image (bad superblock, checksum): fsck says why, on the file itself.
          const src = await platform.openSource(file);
          try {
            const report = await fsckSource(src);
            const ds = report.problems.map((p) => {
              const d = new vscode.Diagnostic(new vscode.Range(0, 0, 0, 0), `${p.check}: ${p.code}: ${p.message}${p.offset !== undefined ? ` at byte ${hex(p.offset)}` : ''}`, vscode.DiagnosticSeverity.Error);
              d.source = 'erofs fsck';
              d.code = p.check;
              return d;
            });
            diagnostics.set(file, ds);
            summary(name, report.problems.length, report.stats.inodes);
            return report;
          } finally {
            await src.close?.();
          }
        }
      }
      const img = await mounts.get(id!);
      const result = await verify(img, diagnostics, token, (inodes, bytes) => report(`${inodes} inodes, ${bytes} bytes`));
      summary(img.label, result.problems.length + result.truncated, result.stats.inodes);
      return result;
    });
  });

  const summary = (name: string, problems: number, inodes: number): void => {
    if (problems === 0) void vscode.window.showInformationMessage(`Verify Image: ${name} is clean (${inodes} inodes checked).`);
    else {
      void vscode.window.showWarningMessage(`Verify Image: ${name} has ${problems} problem${problems === 1 ? '' : 's'} (see the Problems panel).`);
      void vscode.commands.executeCommand('workbench.actions.view.problems');
    }
  };

  /**
   * The fs-verity digest (SHA-256, 4 KiB blocks) of a file inside an image, or of an image
   * file itself, copied to the clipboard; returned for tests.
   */
  reg('erofs.copyVerityDigest', async (arg?: unknown) => {
    const f = arg && typeof arg === 'object' && 'kind' in arg && (arg as ViewNode).kind === 'image' ? undefined : fileOf(arg, view);
    let what: string;
    let run: (p: Progress) => Promise<string>;
    if (f && f.path !== '/') {
      const img = await mounts.get(f.id).catch((e: unknown) => {
        void vscode.window.showErrorMessage(describeError(e, f.id));
        return undefined;
      });
      if (!img) return undefined;
      what = f.path;
      run = async (p) => {
        const { ino } = await img.resolve(f.path, true);
        if ((ino.mode & format.S_IFMT) !== format.S_IFREG) throw new Error(`${f.path} is not a regular file: fs-verity digests are of file contents`);
        return verityOfFile(img.image, ino, platform.sha256, p);
      };
    } else {
      const id = imageIdOf(arg);
      const record = id !== undefined ? mounts.record(id) : undefined;
      const file = record ? vscode.Uri.parse(record.uri) : arg instanceof vscode.Uri && arg.scheme !== SCHEME ? arg : (activeImageEditor() ?? (await pick('fs-verity digest of', IMAGE_FILTERS)));
      if (!file) return undefined;
      what = splitUri(file.toString())[1];
      run = async (p) => {
        const src = await platform.openSource(file);
        try {
          return await verityOfSource(src, platform.sha256, p);
        } finally {
          await src.close?.();
        }
      };
    }
    const digest = await withProgress(`fs-verity digest of ${what}`, (p) => run(p));
    if (!digest) return undefined;
    await vscode.env.clipboard.writeText(digest);
    void vscode.window.showInformationMessage(`${digest} ${what} (copied)`);
    return digest;
  });

  reg('erofs.showBytes', async (arg?: unknown, kindArg?: unknown) => {
    const f = fileOf(arg, view);
    if (!f) {
      void vscode.window.showInformationMessage('Show Bytes: select a file of an open EROFS image (in the explorer, an editor or the EROFS Image view).');
      return undefined;
    }
    try {
      const img = await mounts.get(f.id);
      const { ino } = await img.resolve(f.path, false);
      const type = ino.mode & format.S_IFMT;
      // From a menu the second argument is the selection (an array), not a kind.
      let kind: Exclude<BytesKind, 'offset'> | undefined = kindArg === 'inode' || kindArg === 'dir' || kindArg === 'data' ? kindArg : undefined;
      if (!kind) {
        const items: (vscode.QuickPickItem & { bytes: Exclude<BytesKind, 'offset'> })[] = [{ label: 'Inode', description: `nid ${ino.nid} at byte ${hex(ino.offset)}: core, xattrs, inline data or chunk table`, bytes: 'inode' }];
        if (type === format.S_IFDIR) items.push({ label: 'Directory blocks', description: 'dirents and names', bytes: 'dir' });
        if (type === format.S_IFREG) items.push({ label: 'Data', description: `the file's bytes as stored (first ${vscode.workspace.getConfiguration('erofs').get<number>('showBytesLimit', 65536)} bytes)`, bytes: 'data' });
        kind = items.length === 1 ? 'inode' : (await vscode.window.showQuickPick(items, { title: `Show Bytes of ${f.path}` }))?.bytes;
        if (!kind) return undefined;
      }
      const doc = await vscode.workspace.openTextDocument(bytesUri(f.id, kind, f.path));
      if (doc.languageId !== 'erofs-hexdump') await vscode.languages.setTextDocumentLanguage(doc, 'erofs-hexdump');
      await vscode.window.showTextDocument(doc, { preview: false });
      view.select(f.id, f.path);
      return doc.uri.toString();
    } catch (e) {
      void vscode.window.showErrorMessage(describeError(e, f.id));
      return undefined;
    }
  });

  reg('erofs.extractTo', async (arg?: unknown, dest?: unknown) => {
    const f = fileOf(arg, view) ?? (imageIdOf(arg) ? { id: imageIdOf(arg)!, path: '/' } : undefined);
    if (!f) {
      void vscode.window.showInformationMessage('Extract To…: choose an open image or a file in one.');
      return undefined;
    }
    const folder = (dest instanceof vscode.Uri ? dest : undefined) ?? (await vscode.window.showOpenDialog({ title: `Extract ${f.path} to…`, canSelectFiles: false, canSelectFolders: true, openLabel: 'Extract here' }))?.[0];
    if (!folder) return undefined;
    return withProgress(`Extracting ${f.path}`, async (p, report) => {
      const img = await mounts.get(f.id);
      const { ino } = await img.resolve(f.path, false);
      const name = f.path === '/' ? img.label.replace(/\.[^.]*$/, '') : f.path.slice(f.path.lastIndexOf('/') + 1);
      let last = 0;
      const stats = await extract(img.image, ino, name, platform.extractTarget(folder), {
        isCancelled: p.isCancelled,
        report(st, path) {
          const now = Date.now();
          if (now - last > 200) {
            last = now;
            report(`${st.files} files, ${st.bytes} bytes: ${path}`);
          }
        },
      });
      void vscode.window.showInformationMessage(
        `Extracted ${f.path} to ${vscode.Uri.joinPath(folder, name).fsPath}: ${stats.files} files, ${stats.directories} directories, ${stats.symlinks} symlinks, ${stats.bytes} bytes` +
          (stats.skipped ? ` (${stats.skipped} device nodes, fifos, sockets or links skipped: erofs-kit extract as root writes them)` : ''),
      );
      return stats;
    });
  });

  reg('erofs.buildTarIndex', async (uri?: vscode.Uri, outArg?: unknown) => {
    // From the explorer's menu the second argument is the selection (an array of URIs).
    const out = outArg instanceof vscode.Uri ? outArg : undefined;
    const tar = uri instanceof vscode.Uri ? uri : await pick('Build Tar Index from…', TAR_FILTERS);
    if (!tar) return undefined;
    const [dir, name] = splitUri(tar.toString());
    const stem = name!.replace(/\.(tar(\.(gz|zst|zstd))?|tgz)$/i, '');
    const target = out ?? (await vscode.window.showSaveDialog({ title: 'Write the tar index (META.erofs) to…', defaultUri: vscode.Uri.parse(`${dir}/${stem}.erofs`), filters: { 'EROFS images': ['erofs'] } }));
    if (!target) return undefined;
    return withProgress(`Building the tar index of ${name}`, async (p) => {
      const src = await platform.openSource(tar);
      const outputs: Awaited<ReturnType<Platform['createOutput']>>[] = [];
      try {
        const container = sniff(await src.read(0, Math.min(src.size, 1028)));
        if (container !== 'tar' && container !== 'gzip' && container !== 'zstd') {
          throw new Error(`${name} is not a tar layer (no tar header, gzip or zstd magic at 0x0)`);
        }
        let input = chunksOf(src, p);
        let tarOut: vscode.Uri | undefined;
        if (container !== 'tar') {
          // The index points into the uncompressed tar: write it beside the index, where opening finds it.
          tarOut = vscode.Uri.parse(target.toString().replace(/\.[^./]*$/, '') + '.tar');
          outputs.push(await platform.createOutput(tarOut));
          input = decompressing(input, container);
        }
        const tarSink = outputs[0];
        const result = await indexTar(input, tarSink ? { tap: (c) => tarSink.write(c) } : {});
        if (p.isCancelled()) throw new Cancelled();
        const meta = await platform.createOutput(target);
        outputs.push(meta);
        meta.write(result.image);
        for (const o of outputs) await o.close();
        outputs.length = 0;
        void vscode.window.showInformationMessage(
          `Wrote ${splitUri(target.toString())[1]} (${result.image.length} bytes, ${result.inodes} inodes)${tarOut ? ` and ${splitUri(tarOut.toString())[1]}` : ''}; diffID ${result.diffId}`,
        );
        return { diffId: result.diffId, image: target.toString(), tar: tarOut?.toString() ?? tar.toString() };
      } finally {
        for (const o of outputs) await o.abort();
        await src.close?.();
      }
    });
  });
}
