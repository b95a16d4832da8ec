/**
 * The protocol shell: document sync, capabilities, one cached analysis per document version,
 * diagnostics pushed after edits settle. Transport-neutral (the node and browser entries pass
 * a connection).
 */
import { isHexdump } from '@erofs-kit/core';
import { TextDocuments, TextDocumentSyncKind, type Connection, type InitializeResult } from 'vscode-languageserver';
import { TextDocument } from 'vscode-languageserver-textdocument';
import { TOKEN_MODIFIERS, TOKEN_TYPES, analyse, codeActions, definition, diagnostics, hover, inlayHints, semanticTokens, symbols, type Analysis } from './analysis.js';
import { DUMP_EXTENSIONS, DUMP_LANGUAGE_ID, analyseDump, dumpHover, type DumpAnalysis } from './cfsdump.js';
import { analyseManifest, isManifestCandidate, manifestCompletion, manifestDiagnostics, manifestHover, manifestLinks, type LayoutHost, type ManifestAnalysis } from './oci.js';

export const LANGUAGE_ID = 'erofs-hexdump';
export const EXTENSIONS = ['.xxd', '.hexdump'];

/** Whether the document is a composefs dump file (by language id or extension). */
export function isComposefsDump(doc: TextDocument): boolean {
  if (doc.languageId === DUMP_LANGUAGE_ID) return true;
  const path = doc.uri.toLowerCase();
  return DUMP_EXTENSIONS.some((e) => path.endsWith(e));
}

/** Whether the server annotates a document as a hex dump: by language id, extension, or content. */
export function handles(doc: TextDocument): boolean {
  if (doc.languageId === LANGUAGE_ID) return true;
  if (isComposefsDump(doc)) return false;
  const path = doc.uri.toLowerCase();
  if (EXTENSIONS.some((e) => path.endsWith(e))) return true;
  return isHexdump(doc.getText().slice(0, 8192));
}

/** `layouts` finds the image layout a manifest document sits in (the Node entry; none in a browser). */
export function startServer(connection: Connection, layouts?: LayoutHost): void {
  const documents = new TextDocuments(TextDocument);
  const cache = new Map<string, { version: number; analysis: Analysis | undefined }>();
  const dumps = new Map<string, { version: number; analysis: DumpAnalysis }>();
  const dumpOf = (uri: string): DumpAnalysis | undefined => {
    const doc = documents.get(uri);
    if (!doc || !isComposefsDump(doc)) return undefined;
    const hit = dumps.get(uri);
    if (hit && hit.version === doc.version) return hit.analysis;
    const analysis = analyseDump(doc.getText());
    dumps.set(uri, { version: doc.version, analysis });
    return analysis;
  };
  const timers = new Map<string, ReturnType<typeof setTimeout>>();

  const analysisOf = (uri: string): Analysis | undefined => {
    const doc = documents.get(uri);
    if (!doc) return undefined;
    const hit = cache.get(uri);
    if (hit && hit.version === doc.version) return hit.analysis;
    const analysis = handles(doc) ? analyse(doc.getText()) : undefined;
    cache.set(uri, { version: doc.version, analysis });
    return analysis;
  };

  const manifests = new Map<string, { version: number; analysis: Promise<ManifestAnalysis | undefined> }>();
  const manifestOf = async (uri: string): Promise<ManifestAnalysis | undefined> => {
    const doc = documents.get(uri);
    if (!doc || !isManifestCandidate(doc)) return undefined;
    const hit = manifests.get(uri);
    if (hit && hit.version === doc.version) return hit.analysis;
    const analysis = analyseManifest(doc, layouts).catch(() => undefined);
    manifests.set(uri, { version: doc.version, analysis });
    return analysis;
  };

  const published = new Map<string, number>();
  const publish = (uri: string): void => {
    const doc = documents.get(uri);
    if (!doc) return;
    if (isManifestCandidate(doc)) {
      published.set(uri, doc.version);
      void manifestOf(uri).then(async (m) => {
        if (documents.get(uri)?.version !== doc.version) return; // a newer version publishes its own
        if (!m) {
          const a = analysisOf(uri); // JSON that is no manifest: a dump, or nothing of ours
          void connection.sendDiagnostics({ uri, version: doc.version, diagnostics: a ? diagnostics(a) : [] });
          return;
        }
        void connection.sendDiagnostics({ uri, version: doc.version, diagnostics: manifestDiagnostics(m) });
        const full = await m.hashing; // then again once the layer blobs are hashed
        if (!full || documents.get(uri)?.version !== doc.version) return;
        manifests.set(uri, { version: doc.version, analysis: Promise.resolve(full) });
        void connection.sendDiagnostics({ uri, version: doc.version, diagnostics: manifestDiagnostics(full) });
      });
      return;
    }
    const d = dumpOf(uri);
    const a = d ? undefined : analysisOf(uri);
    published.set(uri, doc.version);
    void connection.sendDiagnostics({ uri, version: doc.version, diagnostics: d ? d.diagnostics : a ? diagnostics(a) : [] });
  };

  connection.onInitialize(
    (): InitializeResult => ({
      capabilities: {
        textDocumentSync: TextDocumentSyncKind.Incremental,
        hoverProvider: true,
        definitionProvider: true,
        documentSymbolProvider: true,
        inlayHintProvider: true,
        codeActionProvider: true,
        documentLinkProvider: { resolveProvider: false },
        completionProvider: { triggerCharacters: ['"'] },
        semanticTokensProvider: { legend: { tokenTypes: [...TOKEN_TYPES], tokenModifiers: [...TOKEN_MODIFIERS] }, full: true, range: true },
      },
      serverInfo: { name: 'erofs-kit-lsp', version: '0.1.0' },
    }),
  );

  documents.onDidOpen((e) => publish(e.document.uri));
  documents.onDidChangeContent((e) => {
    const uri = e.document.uri;
    if (published.get(uri) === e.document.version) return; // just opened and published
    clearTimeout(timers.get(uri));
    timers.set(uri, setTimeout(() => {
      timers.delete(uri);
      publish(uri);
    }, 150));
  });
  documents.onDidClose((e) => {
    clearTimeout(timers.get(e.document.uri));
    cache.delete(e.document.uri);
    dumps.delete(e.document.uri);
    manifests.delete(e.document.uri);
    published.delete(e.document.uri);
    void connection.sendDiagnostics({ uri: e.document.uri, diagnostics: [] });
  });

  connection.onHover(async (p) => {
    const d = dumpOf(p.textDocument.uri);
    if (d) return dumpHover(d, p.position);
    const m = await manifestOf(p.textDocument.uri);
    if (m) return manifestHover(m, p.position);
    const a = analysisOf(p.textDocument.uri);
    return a ? hover(a, p.position) : null;
  });
  connection.onDocumentLinks(async (p) => {
    const m = await manifestOf(p.textDocument.uri);
    return m ? manifestLinks(m) : [];
  });
  connection.onCompletion(async (p) => {
    const m = await manifestOf(p.textDocument.uri);
    return m ? manifestCompletion(m, p.position) : [];
  });
  connection.onDefinition((p) => {
    const a = analysisOf(p.textDocument.uri);
    return a ? definition(a, p.position, p.textDocument.uri) : null;
  });
  connection.onCodeAction((p) => {
    const a = analysisOf(p.textDocument.uri);
    return a ? codeActions(a, p.range.start, p.textDocument.uri) : [];
  });
  connection.onDocumentSymbol((p) => {
    const a = analysisOf(p.textDocument.uri);
    return a ? symbols(a) : [];
  });
  connection.languages.inlayHint.on((p) => {
    const a = analysisOf(p.textDocument.uri);
    return a ? inlayHints(a, p.range.start.line, p.range.end.line) : [];
  });
  connection.languages.semanticTokens.on((p) => {
    const a = analysisOf(p.textDocument.uri);
    return { data: a ? semanticTokens(a) : [] };
  });
  connection.languages.semanticTokens.onRange((p) => {
    const a = analysisOf(p.textDocument.uri);
    return { data: a ? semanticTokens(a, { from: p.range.start.line, to: p.range.end.line }) : [] };
  });

  documents.listen(connection);
  connection.listen();
}
