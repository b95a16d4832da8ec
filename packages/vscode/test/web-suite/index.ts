/**
 * The extension's web build (dist/web/extension.js) in a browser's web worker extension host
 * (e2e/run-e2e.sh, phase C: code-server with `remote.extensionKind` set to "web" for it, so the
 * Node build is not loaded at all). This suite is the workbench's test runner, which stays in
 * the server's Node extension host: it drives the extension through commands and workspace.fs,
 * which cross to the worker, and checks with `EROFS: About` (`erofs.about`) that the web build
 * is the one answering. Nothing here uses Node: it is bundled for the browser, with only `vscode`
 * and core's browser entry. The workspace is the e2e folder (basic-4k.erofs,
 * nlink-corrupt.erofs, oci-image/).
 *
 * A small runner of its own instead of mocha: the tests need only ordered async steps and a
 * closing count.
 */
import * as vscode from 'vscode';
import { ErofsImage, MemorySource, formatDigest, fsverityDigest } from '@erofs-kit/core';
import type { ExtensionStatus } from '../../src/vscode/activate.js';
import type { OciListing } from '../../src/model/oci.js';
import { CORRUPT_PATH } from '../support/corrupt.js';
import { compareWithCore } from '../support/compare-tree.js';

const tests: [string, () => Promise<void>][] = [];
const it = (name: string, fn: () => Promise<void>): void => void tests.push([name, fn]);

function ok(v: unknown, what: string): asserts v {
  if (!v) throw new Error(`expected ${what}`);
}
function equal<T>(a: T, b: T, what: string): void {
  const show = (v: unknown): string => (v === undefined ? 'undefined' : JSON.stringify(v));
  const sa = show(a);
  const sb = show(b);
  if (sa !== sb) throw new Error(`${what}: ${sa.slice(0, 300)} !== ${sb.slice(0, 300)}`);
}
function sameBytes(a: Uint8Array, b: Uint8Array, what: string): void {
  if (a.length !== b.length || a.some((x, i) => x !== b[i])) throw new Error(`${what}: ${a.length} bytes differ from ${b.length} bytes`);
}

async function until<T>(what: string, fn: () => Promise<T | undefined> | T | undefined, ms = 30_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

const ws = (): vscode.Uri => {
  const f = vscode.workspace.workspaceFolders?.[0];
  ok(f, 'a workspace folder');
  return f.uri;
};
const inWs = (...p: string[]): vscode.Uri => vscode.Uri.joinPath(ws(), ...p);
const erofs = (id: string, path: string): vscode.Uri => vscode.Uri.from({ scheme: 'erofs', path: `/${id}${path}` });

/** The running build as the extension reports it (activating it first, through its command). */
async function about(): Promise<ExtensionStatus> {
  const s = await vscode.commands.executeCommand<ExtensionStatus>('erofs.about', true);
  ok(s, 'an answer from erofs.about');
  return s;
}

async function open(uri: vscode.Uri, command = 'erofs.openImage'): Promise<string> {
  const id = await vscode.commands.executeCommand<string | undefined>(command, uri, undefined, { addFolder: false });
  ok(id, `an id from ${command} for ${uri.toString()}`);
  return id;
}

/** The fixture as core reads it here, from the same bytes. */
async function coreImage(name: string): Promise<ErofsImage> {
  return ErofsImage.open(new MemorySource(await vscode.workspace.fs.readFile(inWs(name)), name));
}

it('the web build answers: EROFS: About reports the web host', async () => {
  const s = await about();
  equal(s.host, 'web', 'host');
  // code-server's web worker host refuses workers to extensions installed on its server, so the
  // language server cannot start there; the extension says so and everything else works.
  ok(s.languageServer === 'running' || s.languageServer.startsWith('unavailable: ') || s.languageServer === 'starting', `language server state: ${s.languageServer}`);
  console.log(`  (language server in this host: ${s.languageServer})`);
});

it('lists and reads basic-4k through workspace.fs exactly as core does', async () => {
  const id = await open(inWs('basic-4k.erofs'));
  const img = await coreImage('basic-4k.erofs');
  const { files, dirs, differences } = await compareWithCore(img, id);
  equal(differences, [], 'differences from core');
  ok(files > 10 && dirs > 2, `files (${files}) and directories (${dirs}) compared`);
});

it('Verify Image lists the problem of the corrupt image and puts it in the Problems panel', async () => {
  const bad = inWs('nlink-corrupt.erofs');
  const report = await vscode.commands.executeCommand<{ problems: { check: string; path?: string }[] }>('erofs.verifyImage', bad);
  ok(report?.problems.some((p) => p.check === 'nlink' && p.path === CORRUPT_PATH), `an nlink problem on ${CORRUPT_PATH}: ${JSON.stringify(report?.problems)}`);
  const all = vscode.languages.getDiagnostics().flatMap(([uri, ds]) => ds.map((d) => ({ uri: uri.toString(), d })));
  ok(all.some(({ uri, d }) => d.source === 'erofs fsck' && d.message.startsWith('nlink: ') && uri.endsWith(CORRUPT_PATH)), 'an nlink diagnostic');
  const clean = await vscode.commands.executeCommand<{ problems: unknown[] }>('erofs.verifyImage', inWs('basic-4k.erofs'));
  equal(clean?.problems, [], 'problems of basic-4k');
});

it('Show Bytes opens the annotated dump of an inode (hover when the host lets the language server run)', async () => {
  const id = await open(inWs('basic-4k.erofs'));
  const uri = await vscode.commands.executeCommand<string>('erofs.showBytes', erofs(id, '/sizes/size-1'), 'inode');
  ok(uri, 'a document');
  const doc = await vscode.workspace.openTextDocument(vscode.Uri.parse(uri));
  equal(doc.languageId, 'erofs-hexdump', 'language');
  const line = doc.getText().split('\n').findIndex((l) => /^[0-9a-f]{8}: /.test(l));
  ok(line >= 0, 'a dump line');
  if ((await about()).languageServer !== 'running') return;
  const hovers = await until('a hover from the language server', async () => {
    const h = await vscode.commands.executeCommand<vscode.Hover[]>('vscode.executeHoverProvider', doc.uri, new vscode.Position(line, 11));
    return h && h.length > 0 ? h : undefined;
  });
  const text = hovers.flatMap((h) => h.contents.map((c) => (typeof c === 'string' ? c : c.value))).join('\n');
  ok(/erofs_inode_(compact|extended)\.i_format/.test(text), `i_format in the hover: ${text.slice(0, 200)}`);
});

it('Copy fs-verity Digest of the image file: core\'s digest, on the clipboard', async () => {
  const whole = await vscode.commands.executeCommand<string>('erofs.copyVerityDigest', inWs('basic-4k.erofs'));
  equal(whole, formatDigest(await fsverityDigest(await vscode.workspace.fs.readFile(inWs('basic-4k.erofs'))), 'sha256'), 'digest');
  equal(await vscode.env.clipboard.readText(), whole, 'clipboard');
});

it('an OCI layout lists its image; a gzip layer opens as a folder (tar index built in memory)', async () => {
  const listing = await vscode.commands.executeCommand<OciListing | undefined>('erofs.openOciLayout', inWs('oci-image'));
  ok(listing?.ok, `a valid listing: ${JSON.stringify(listing?.problems)}`);
  equal(listing.images.map((i) => i.tags), [['v1']], 'tags');
  const id = await vscode.commands.executeCommand<string | undefined>('erofs.openOciLayer', { root: listing.root, key: listing.images[0]!.key, index: 1 }, undefined, { addFolder: false });
  ok(id, 'an id for the layer');
  equal(new TextDecoder().decode(await vscode.workspace.fs.readFile(erofs(id, '/b.txt'))), 'two\n', '/b.txt');
  equal(new TextDecoder().decode(await vscode.workspace.fs.readFile(erofs(id, '/etc/os-release'))), 'ID=test\n', '/etc/os-release (from layer 1)');
});

it('Extract To writes a directory through workspace.fs with the same bytes', async () => {
  const id = await open(inWs('basic-4k.erofs'));
  const dest = inWs('web-extract');
  const stats = await vscode.commands.executeCommand<{ files: number }>('erofs.extractTo', erofs(id, '/sizes'), dest);
  ok(stats && stats.files > 0, 'files extracted');
  const img = await coreImage('basic-4k.erofs');
  for (const name of ['size-1', 'size-70000']) {
    sameBytes(await vscode.workspace.fs.readFile(vscode.Uri.joinPath(dest, 'sizes', name)), await img.read(await img.lookup(`/sizes/${name}`)), name);
  }
  await vscode.workspace.fs.delete(dest, { recursive: true });
});

export async function run(): Promise<void> {
  let passed = 0;
  let failed = 0;
  for (const [name, fn] of tests) {
    const t = Date.now();
    try {
      await fn();
      passed++;
      console.log(`  ✓ ${name} (${Date.now() - t} ms)`);
    } catch (e) {
      failed++;
      console.log(`  ✗ ${name}: ${e instanceof Error ? e.message : String(e)}`);
    }
  }
  console.log(`web worker host: ${passed} passed, ${failed} failed`);
  if (failed > 0) throw new Error(`${failed} web worker host test(s) failed`);
}
