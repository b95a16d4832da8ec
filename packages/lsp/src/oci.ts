/**
 * Image manifests: OCI image indexes, manifests and configs (and Docker manifest lists and
 * schema 2 manifests) in JSON documents. Every problem comes from core's validators
 * (`checkOciDocument` for the document alone, `readOci` when it sits in an image layout on
 * disk); this file parses the text with positions (jsonc-parser), maps core's JSON paths to
 * ranges, and answers hovers, links and completions from the parse tree (ADR 0021).
 */
import {
  KNOWN_MEDIA_TYPES,
  REF_NAME,
  blobPath,
  checkDigest,
  checkOciDocument,
  formatPlatform,
  ociDocumentKind,
  readOci,
  type OciDocumentKind,
  type OciFiles,
  type OciProblem,
  type OciReport,
} from '@erofs-kit/core';
import { findNodeAtLocation, findNodeAtOffset, getLocation, getNodePath, getNodeValue, parseTree, printParseErrorCode, type Node, type ParseError } from 'jsonc-parser';
import {
  CompletionItemKind,
  DiagnosticSeverity,
  type CompletionItem,
  type Diagnostic,
  type DocumentLink,
  type Hover,
  type Position,
  type Range,
} from 'vscode-languageserver';
import type { TextDocument } from 'vscode-languageserver-textdocument';

/** The image layout a document sits in (found by the Node entry; the browser build has none). */
export interface Layout {
  /** The layout directory as a URI (no trailing slash). */
  root: string;
  /** The document's path in the layout (`index.json`, `blobs/sha256/…`). */
  path: string;
  files: OciFiles;
  /** The tar index of a layer (diffID) in an `oci convert` output beside the layout: its path relative to the layout, its inode count. */
  tarIndex?: (diffId: string) => Promise<{ path: string; inodes?: number } | undefined>;
}

export interface LayoutHost {
  layoutOf(uri: string): Layout | undefined;
}

/** Whether a document may be an image JSON document: JSON by language or name, or a blob of a layout. */
export function isManifestCandidate(doc: TextDocument): boolean {
  if (doc.languageId === 'json' || doc.languageId === 'jsonc') return true;
  const path = doc.uri.toLowerCase();
  if (path.endsWith('.json')) return true;
  return /\/blobs\/[a-z0-9]+\/[a-f0-9]{32,}$/.test(path) && /^\s*\{/.test(doc.getText().slice(0, 4096));
}

export interface ManifestAnalysis {
  doc: TextDocument;
  kind: OciDocumentKind;
  root: Node | undefined;
  syntax: ParseError[];
  /** Problems core found in this document. */
  problems: OciProblem[];
  /** Problems core found in blobs this document's descriptors name, shown at those descriptors. */
  named: OciProblem[];
  /** Problems other documents have with this one (a descriptor's size or digest that does not match this text). */
  referrers: OciProblem[];
  layout?: Layout;
  /** The layout as readOci saw it (with this document's text), when the document is part of it. */
  report?: OciReport;
  /** Blob paths of this document's descriptors that exist in the layout. */
  present: Set<string>;
  /** The same analysis with layer blobs hashed, when this one was made without. */
  hashing?: Promise<ManifestAnalysis>;
}

/** Digests already verified per layout (blobs are content-addressed): hashed once per server. */
const hashCaches = new Map<string, Map<string, boolean>>();

/** `files` with the document's own path answered from the editor's text, recording what is read. */
function overlay(files: OciFiles, path: string, bytes: Uint8Array, reads: Set<string>): OciFiles {
  return {
    name: files.name,
    size: (p) => (p === path ? Promise.resolve(bytes.length) : files.size(p)),
    read: (p) => {
      reads.add(p);
      return p === path ? Promise.resolve(bytes) : files.read(p);
    },
    chunks: (p) =>
      p === path
        ? (async function* () {
            yield bytes;
          })()
        : files.chunks(p),
  };
}

const KEYS = /"(?:mediaType|manifests|layers|rootfs|architecture)"/;

/**
 * Analyses a document; undefined when it is not an image index, manifest or config. In a
 * layout whose layer blobs have not all been hashed yet, the analysis comes back without
 * layer digests checked (JSON blobs and sizes only, quick) and `hashing` gives the complete
 * one: hovers and the first diagnostics do not wait for gigabytes of layers.
 */
export async function analyseManifest(doc: TextDocument, host: LayoutHost | undefined): Promise<ManifestAnalysis | undefined> {
  const text = doc.getText();
  const layout = host?.layoutOf(doc.uri);
  // Every kind ociDocumentKind() recognises has one of these keys: other JSON (package-lock.json) is not parsed.
  if (layout?.path !== 'index.json' && !KEYS.test(text)) return undefined;
  const syntax: ParseError[] = [];
  const root = parseTree(text, syntax, { disallowComments: true, allowTrailingComma: false });
  const value: unknown = root ? getNodeValue(root) : undefined;
  const kind = ociDocumentKind(value) ?? (layout?.path === 'index.json' ? 'index' : undefined);
  if (kind === undefined) return undefined;
  const a: ManifestAnalysis = { doc, kind, root, syntax, problems: [], named: [], referrers: [], present: new Set() };
  if (layout) a.layout = layout;
  if (syntax.length > 0 || !root) return a; // the checks need the whole document
  const file = layout?.path ?? doc.uri.slice(doc.uri.lastIndexOf('/') + 1);
  const own = descriptors(root, a.kind);
  const named = new Set(own.flatMap((d) => (d.digest && checkDigest(d.digest).ok ? [blobPath(d.digest)] : [])));
  const finish = (problems: OciProblem[], report: OciReport | undefined): ManifestAnalysis => {
    const out: ManifestAnalysis = {
      ...a,
      problems: problems.filter((p) => p.file === file),
      named: problems.filter((p) => p.file !== file && named.has(p.file)),
      referrers: problems.filter((p) => p.file !== file && p.blob === file),
    };
    if (report) out.report = report;
    return out;
  };
  if (!layout) return finish((await checkOciDocument(value, { kind, file })).problems, undefined);

  let hashed = hashCaches.get(layout.root);
  if (!hashed) hashCaches.set(layout.root, (hashed = new Map()));
  const cache = hashed;
  const reads = new Set<string>();
  const files = overlay(layout.files, layout.path, new TextEncoder().encode(text), reads);
  // The document's own blob is hashed from the editor's text every time, and that result is not kept.
  const ownDigest = /^blobs\/([a-z0-9]+)\/([a-f0-9]+)$/.exec(layout.path)?.slice(1).join(':');
  /** readOci over the layout when it reaches the document, else the document with the layout's files. */
  const check = async (checkBlobs: boolean): Promise<{ problems: OciProblem[]; report?: OciReport }> => {
    const hashed = new Map([...cache].filter(([d]) => d !== ownDigest));
    const keep = (): void => {
      for (const [d, ok] of hashed) if (d !== ownDigest) cache.set(d, ok);
    };
    try {
      const report = await readOci(files, { checkBlobs, hashed });
      keep();
      if (reads.has(layout.path)) return { problems: report.problems, report };
      const problems = (await checkOciDocument(value, { kind, file, files, checkBlobs, hashed })).problems;
      keep();
      return { problems };
    } catch {
      // the layout could not be read: the document alone
      return { problems: (await checkOciDocument(value, { kind, file })).problems };
    }
  };
  for (const p of named) {
    try {
      if ((await layout.files.size(p)) !== undefined) a.present.add(p);
    } catch {
      // not readable: no link
    }
  }
  const quick = await check(false);
  const layers = quick.report ? quick.report.images.flatMap((i) => i.layers.map((l) => l.descriptor.digest)) : own.flatMap((d) => (d.role === 'layer' && d.digest ? [d.digest] : []));
  let pending = false;
  for (const d of new Set(layers)) {
    if (!/^sha(256|512):/.test(d) || cache.has(d) || !checkDigest(d).ok) continue;
    if ((await files.size(blobPath(d)).catch(() => undefined)) !== undefined) pending = true;
  }
  if (!pending) {
    const full = await check(true); // every layer blob already hashed: cheap
    return finish(full.problems, full.report);
  }
  const first = finish(quick.problems, quick.report);
  first.hashing = check(true).then(
    (full) => finish(full.problems, full.report),
    () => first,
  );
  return first;
}

/* ------------------------------------------------------------------ JSON paths and ranges */

/** `$.manifests[0].digest`, `$["a-b"]` → ['manifests', 0, 'digest'], ['a-b']. */
export function parseJsonPath(jp: string): (string | number)[] | undefined {
  if (!jp.startsWith('$')) return undefined;
  const out: (string | number)[] = [];
  const re = /\.([A-Za-z_][A-Za-z0-9_]*)|\[(\d+)\]|\[("(?:[^"\\]|\\.)*")\]/y;
  re.lastIndex = 1;
  while (re.lastIndex < jp.length) {
    const m = re.exec(jp);
    if (!m) return undefined;
    out.push(m[1] ?? (m[2] !== undefined ? Number(m[2]) : (JSON.parse(m[3]!) as string)));
  }
  return out;
}

function nodeRange(doc: TextDocument, n: Node, length = n.length): Range {
  return { start: doc.positionAt(n.offset), end: doc.positionAt(n.offset + length) };
}

/**
 * Where a JSON path is in the text: the value when it exists; for a missing field, the key of
 * the nearest enclosing value that has one, else that value's opening bracket.
 */
export function rangeOfPath(doc: TextDocument, root: Node, jp: string | undefined): Range {
  const segs = jp === undefined ? [] : (parseJsonPath(jp) ?? []);
  for (let n = segs.length; n >= 0; n--) {
    const node = n === 0 ? root : findNodeAtLocation(root, segs.slice(0, n));
    if (!node) continue;
    if (n === segs.length) return nodeRange(doc, node);
    const key = node.parent?.type === 'property' ? node.parent.children?.[0] : undefined;
    return key ? nodeRange(doc, key) : nodeRange(doc, node, 1);
  }
  return nodeRange(doc, root, 1);
}

const severity = (p: OciProblem): DiagnosticSeverity => (p.severity === 'error' ? DiagnosticSeverity.Error : DiagnosticSeverity.Warning);

export function manifestDiagnostics(a: ManifestAnalysis): Diagnostic[] {
  const { doc, root } = a;
  if (a.syntax.length > 0 || !root) {
    // The first error only: the parser's recovery makes the later ones follow from it.
    return a.syntax.slice(0, 1).map((e) => ({
      range: { start: doc.positionAt(e.offset), end: doc.positionAt(e.offset + Math.max(e.length, 1)) },
      severity: DiagnosticSeverity.Error,
      source: 'erofs-kit',
      code: 'json',
      message: `not JSON: ${syntaxMessage(printParseErrorCode(e.error))}`,
    }));
  }
  const out: Diagnostic[] = a.problems.map((p) => ({ range: rangeOfPath(doc, root, p.jsonPath), severity: severity(p), source: 'erofs-kit', code: p.check, message: p.message }));
  for (const p of a.referrers) {
    out.push({ range: nodeRange(doc, root, 1), severity: severity(p), source: 'erofs-kit', code: p.check, message: elsewhere(p) });
  }
  for (const p of a.named) {
    for (const d of descriptors(root, a.kind)) {
      if (d.digest && d.digestNode && checkDigest(d.digest).ok && blobPath(d.digest) === p.file) {
        out.push({ range: nodeRange(doc, d.digestNode), severity: severity(p), source: 'erofs-kit', code: p.check, message: elsewhere(p) });
      }
    }
  }
  return out;
}

/** A problem of another file, said in this one: prefixed with where it is. */
const elsewhere = (p: OciProblem): string => `${p.file}${p.jsonPath !== undefined ? ' ' + p.jsonPath : ''}: ${p.message}`;

function syntaxMessage(code: string): string {
  return code.replace(/([a-z])([A-Z])/g, '$1 $2').toLowerCase();
}

/* ------------------------------------------------------------------ descriptors */

interface DescriptorAt {
  /** `$.manifests[0]`, `$.config`, `$.layers[2]`. */
  jsonPath: string;
  role: 'manifest' | 'config' | 'layer';
  index: number;
  node: Node;
  digest?: string;
  digestNode?: Node;
}

/** The descriptors of an index (manifests) or manifest (config, layers), as they are in the text; a config has none. */
function descriptors(root: Node, kind: OciDocumentKind): DescriptorAt[] {
  const out: DescriptorAt[] = [];
  if (kind === 'config') return out; // its `config` is the runtime configuration
  const add = (node: Node | undefined, jsonPath: string, role: DescriptorAt['role'], index: number): void => {
    if (node?.type !== 'object') return;
    const d: DescriptorAt = { jsonPath, role, index, node };
    const dn = findNodeAtLocation(node, ['digest']);
    if (dn?.type === 'string') {
      d.digest = dn.value as string;
      d.digestNode = dn;
    }
    out.push(d);
  };
  const list = (key: string, role: DescriptorAt['role']): void => {
    const arr = findNodeAtLocation(root, [key]);
    if (arr?.type === 'array') arr.children?.forEach((c, i) => add(c, `$.${key}[${i}]`, role, i));
  };
  list('manifests', 'manifest');
  add(findNodeAtLocation(root, ['config']), '$.config', 'config', 0);
  list('layers', 'layer');
  return out;
}

/* ------------------------------------------------------------------ hover, links, completion */

const mediaTypeWhat = (mt: unknown): string | undefined => KNOWN_MEDIA_TYPES.find((m) => m.mediaType === mt)?.what;

export async function manifestHover(a: ManifestAnalysis, pos: Position): Promise<Hover | null> {
  const root = a.root;
  if (!root || a.syntax.length > 0) return null;
  const node = findNodeAtOffset(root, a.doc.offsetAt(pos));
  if (node?.type !== 'string') return null;
  const prop = node.parent?.type === 'property' && node.parent.children?.[1] === node ? (node.parent.children[0]!.value as string) : undefined;
  const range = nodeRange(a.doc, node);
  if (prop === 'mediaType') {
    const what = mediaTypeWhat(node.value);
    return what ? { contents: { kind: 'markdown', value: `\`${node.value as string}\`: ${what}` }, range } : null;
  }
  if (prop === 'digest') {
    const d = descriptors(root, a.kind).find((x) => x.digestNode === node);
    return d ? { contents: { kind: 'markdown', value: await describeDigest(a, d) }, range } : null;
  }
  // A config's rootfs.diff_ids entry.
  const path = getNodePath(node);
  if (a.kind === 'config' && path.length === 3 && path[0] === 'rootfs' && path[1] === 'diff_ids' && typeof path[2] === 'number') {
    const i = path[2];
    const lines = [`**diffID of layer ${i}** · \`${node.value as string}\``, 'sha256 of the layer\'s uncompressed tar'];
    const layer = a.report?.images.flatMap((img) => (img.configFile === a.layout?.path ? img.layers : [])).find((l) => l.index === i);
    if (layer) lines.push(`layer blob \`${layer.descriptor.digest}\` · ${layer.descriptor.mediaType} · ${layer.descriptor.size} bytes`);
    return { contents: { kind: 'markdown', value: lines.join('\n\n') }, range };
  }
  return null;
}

async function describeDigest(a: ManifestAnalysis, d: DescriptorAt): Promise<string> {
  const v = getNodeValue(d.node) as Record<string, unknown>;
  const mt = v['mediaType'];
  const role = d.role === 'layer' ? `layer ${d.index}` : d.role === 'config' ? 'config' : `manifests[${d.index}]`;
  const lines = [`**${role}** · \`${d.digest!}\``];
  const what = mediaTypeWhat(mt);
  lines.push(`${typeof mt === 'string' ? `\`${mt}\`` : 'no mediaType'}${what ? ` — ${what}` : ''}`);
  if (typeof v['size'] === 'number') lines.push(`size ${v['size']} bytes`);
  const ann = v['annotations'];
  const tag = typeof ann === 'object' && ann !== null ? (ann as Record<string, unknown>)[REF_NAME] : undefined;
  const plat = v['platform'] as { os?: unknown; architecture?: unknown; variant?: unknown } | undefined;
  const extra: string[] = [];
  if (typeof tag === 'string') extra.push(`tag \`${tag}\``);
  if (plat && typeof plat.os === 'string' && typeof plat.architecture === 'string') {
    extra.push(`platform ${formatPlatform({ os: plat.os, architecture: plat.architecture, ...(typeof plat.variant === 'string' ? { variant: plat.variant } : {}) })}`);
  }
  if (extra.length > 0) lines.push(extra.join(' · '));
  if (d.role === 'layer' && a.report) {
    const layer = a.report.images.filter((img) => img.manifestFile === a.layout?.path).flatMap((img) => img.layers).find((l) => l.index === d.index);
    if (layer?.diffId) {
      lines.push(`diffID \`${layer.diffId}\` (config rootfs.diff_ids[${d.index}])`);
      const index = await a.layout?.tarIndex?.(layer.diffId).catch(() => undefined);
      if (index) lines.push(`tar index \`${index.path}\` (erofs-kit oci convert)${index.inodes !== undefined ? `: ${index.inodes} inodes` : ''}`);
    }
  }
  if (a.layout && checkDigest(d.digest!).ok) {
    const path = blobPath(d.digest!);
    lines.push(a.present.has(path) ? `blob \`${path}\`` : `blob \`${path}\` is not in the layout`);
  }
  return lines.join('\n\n');
}

export function manifestLinks(a: ManifestAnalysis): DocumentLink[] {
  if (!a.layout || !a.root || a.syntax.length > 0) return [];
  const out: DocumentLink[] = [];
  for (const d of descriptors(a.root, a.kind)) {
    if (!d.digest || !d.digestNode || !checkDigest(d.digest).ok) continue;
    const path = blobPath(d.digest);
    if (!a.present.has(path)) continue;
    // The digest without its quotes.
    const r = { start: a.doc.positionAt(d.digestNode.offset + 1), end: a.doc.positionAt(d.digestNode.offset + d.digestNode.length - 1) };
    out.push({ range: r, target: `${a.layout.root}/${path}`, tooltip: path });
  }
  return out;
}

/** Media types for a `"mediaType"` value, those that fit where it is first. */
export function manifestCompletion(a: ManifestAnalysis, pos: Position): CompletionItem[] {
  const text = a.doc.getText();
  const offset = a.doc.offsetAt(pos);
  const loc = getLocation(text, offset);
  if (loc.isAtPropertyKey || loc.path[loc.path.length - 1] !== 'mediaType') return [];
  const prev = loc.previousNode;
  const inString = prev?.type === 'string' && offset > prev.offset && offset <= prev.offset + prev.length;
  const range: Range = inString ? nodeRange(a.doc, prev) : { start: pos, end: pos };
  const parent = loc.path.length >= 2 ? loc.path[loc.path.length - (typeof loc.path[loc.path.length - 2] === 'number' ? 3 : 2)] : undefined;
  const want = parent === 'layers' ? 'layer' : parent === 'config' ? 'config' : parent === 'manifests' ? 'manifest' : loc.path.length === 1 ? a.kind : undefined;
  const fits = (role: string): boolean => role === want || (want === 'manifest' && role === 'index');
  return KNOWN_MEDIA_TYPES.filter((m) => m.role !== 'other').map((m) => ({
    label: m.mediaType,
    kind: CompletionItemKind.Value,
    detail: m.what,
    sortText: `${fits(m.role) ? 0 : 1}${m.mediaType}`,
    textEdit: { range, newText: JSON.stringify(m.mediaType) },
  }));
}
