/**
 * The language features over one hex-dump document, as plain functions of (text, position).
 * Everything a hover or a token says comes from core: `parseHexdump` (bytes and their places
 * in the text) and `inspect` (spans, structures, diagnostics). This file only translates
 * between image offsets and LSP positions.
 */
import { hex, inspect, parseHexdump, spanAt, spanIndexFrom, type Annotation, type HexDump, type InspectResult, type Structure } from '@erofs-kit/core';
import {
  CodeActionKind,
  DiagnosticSeverity,
  SymbolKind,
  type CodeAction,
  type Diagnostic,
  type DocumentSymbol,
  type Hover,
  type InlayHint,
  type Location,
  type Position,
  type Range,
} from 'vscode-languageserver';

/** Semantic token types, by structure family (index = token type number). */
export const TOKEN_TYPES = ['namespace', 'class', 'struct', 'string', 'property', 'enumMember', 'type', 'macro', 'comment', 'number'] as const;
/** `alternate` marks every other field of a structure, so neighbouring fields can be told apart. */
export const TOKEN_MODIFIERS = ['alternate', 'deprecated'] as const;

const T = Object.fromEntries(TOKEN_TYPES.map((t, i) => [t, i])) as Record<(typeof TOKEN_TYPES)[number], number>;

function tokenType(a: Annotation): number {
  if (a.kind === 'padding') return T.comment;
  switch (a.struct) {
    case 'erofs_super_block':
    case 'erofs_deviceslot':
      return T.namespace;
    case 'erofs_inode_compact':
    case 'erofs_inode_extended':
      return T.class;
    case 'erofs_dirent':
      return T.struct;
    case 'dirent name':
    case 'tar':
      return T.string;
    case 'erofs_xattr_ibody_header':
    case 'erofs_xattr_entry':
    case 'erofs_xattr_long_prefix':
    case 'erofs_xattr_long_prefix_len':
      return T.property;
    case 'erofs_inode_chunk_index':
    case 'erofs_blockmap_entry':
    case 'z_erofs_map_header':
    case 'z_erofs_lcluster_index':
    case 'z_erofs_compact_pack_4b':
    case 'z_erofs_compact_pack_2b':
      return T.enumMember;
    case 'erofs_compr_cfg_len':
    case 'z_erofs_lz4_cfgs':
    case 'z_erofs_lzma_cfgs':
    case 'z_erofs_deflate_cfgs':
    case 'z_erofs_zstd_cfgs':
      return T.namespace;
    case 'pax record':
      return T.macro;
    default:
      return a.struct.endsWith('_header') ? T.type : T.number;
  }
}

const SYMBOL_KINDS: Record<Structure['kind'], SymbolKind> = {
  'superblock': SymbolKind.Namespace,
  'device-table': SymbolKind.Array,
  'device': SymbolKind.Object,
  'inode': SymbolKind.File,
  'xattrs': SymbolKind.Array,
  'xattr': SymbolKind.Property,
  'shared-xattr': SymbolKind.Key,
  'long-prefix': SymbolKind.String,
  'directory-block': SymbolKind.Module,
  'inline-data': SymbolKind.Variable,
  'chunk-table': SymbolKind.Array,
  'compression-config': SymbolKind.Object,
  'compression-map': SymbolKind.Array,
  'data': SymbolKind.Variable,
  'tar-header': SymbolKind.Struct,
  'pax-records': SymbolKind.Array,
  'tar-data': SymbolKind.Variable,
  'tar-end': SymbolKind.Null,
  'boot-area': SymbolKind.Null,
  'composefs-header': SymbolKind.Struct,
};

export interface Analysis {
  dump: HexDump;
  result: InspectResult;
}

export function analyse(text: string): Analysis {
  const dump = parseHexdump(text);
  return { dump, result: inspect(dump.map, { hint: dump.hint }) };
}

function plural(n: number, w: string): string {
  return `${n} ${w}${n === 1 ? '' : 's'}`;
}

function rawHex(a: Analysis, start: number, end: number, max = 32): string {
  const n = Math.min(end - start, max);
  const b = a.dump.map.get(start, n);
  if (!b) return '';
  let s = '';
  for (const x of b) s += x.toString(16).padStart(2, '0') + ' ';
  return s.trimEnd() + (end - start > max ? ' …' : '');
}

/** The LSP range of bytes [start, end) that are present: first byte's digits to the last's. */
export function byteRange(a: Analysis, start: number, end: number): Range | undefined {
  let first: number | undefined;
  let last: number | undefined;
  for (const [s, e] of a.dump.map.ranges(start, end)) {
    if (first === undefined) first = s;
    last = e - 1;
  }
  if (first === undefined || last === undefined) return undefined;
  const r1 = a.dump.rangeOfByte(first);
  const r2 = a.dump.rangeOfByte(last);
  if (!r1 || !r2) return undefined;
  const s = { line: r1.line, character: r1.start };
  const e = { line: r2.line, character: r2.end };
  // A dump out of offset order can put the last byte above the first.
  return s.line < e.line || (s.line === e.line && s.character <= e.character) ? { start: s, end: e } : { start: e, end: s };
}

export function hover(a: Analysis, pos: Position): Hover | null {
  const off = a.dump.offsetAt(pos.line, pos.character);
  if (off === undefined) return null;
  const s = spanAt(a.result.spans, off);
  if (!s) return null;
  const title = s.field ? `${s.struct}.${s.field}` : s.struct || s.path;
  const lines: string[] = [];
  lines.push(`**${title}** · ${s.kind}`);
  if (s.path !== title) lines.push(`\`${s.path}\``);
  if (s.value || s.meaning) lines.push(`${s.value ? `value \`${s.value}\`` : ''}${s.value && s.meaning ? ' — ' : ''}${s.meaning}`);
  lines.push(`bytes ${hex(s.start)}..${hex(s.end)} (${plural(s.end - s.start, 'byte')}) · raw \`${rawHex(a, s.start, s.end)}\``);
  if (s.doc) lines.push(s.doc);
  if (s.target) lines.push(`→ ${s.target.label} at ${hex(s.target.offset)}${a.dump.map.any(s.target.offset, 1) ? '' : ' (not in this dump)'}`);
  const range = byteRange(a, s.start, s.end);
  return range ? { contents: { kind: 'markdown', value: lines.join('\n\n') }, range } : { contents: { kind: 'markdown', value: lines.join('\n\n') } };
}

export function definition(a: Analysis, pos: Position, uri: string): Location | null {
  const off = a.dump.offsetAt(pos.line, pos.character);
  if (off === undefined) return null;
  const t = spanAt(a.result.spans, off)?.target;
  if (!t || !a.dump.map.any(t.offset, 1)) return null;
  // The first line of what it points at (a whole data block would select pages of text).
  const first = a.dump.rangesOf(t.offset, t.offset + Math.max(1, t.length), 1)[0];
  if (!first) return null;
  return { uri, range: { start: { line: first.line, character: first.start }, end: { line: first.line, character: first.end } } };
}

/** Lines [from, to] → the image offsets they hold. */
function offsetsOfLines(a: Analysis, from: number, to: number): [number, number] | undefined {
  let lo = Infinity;
  let hi = -Infinity;
  for (let l = Math.max(0, from); l <= Math.min(to, a.dump.lineCount - 1); l++) {
    const r = a.dump.recordOfLine(l);
    if (!r) continue;
    lo = Math.min(lo, r.offset);
    hi = Math.max(hi, r.offset + r.count);
  }
  return lo < hi ? [lo, hi] : undefined;
}

/** Encoded semantic tokens (LSP relative form) for the whole document or lines [from, to]. */
export function semanticTokens(a: Analysis, lines?: { from: number; to: number }): number[] {
  const spans = a.result.spans;
  let i0 = 0;
  let end = Infinity;
  if (lines) {
    const r = offsetsOfLines(a, lines.from, lines.to);
    if (!r) return [];
    i0 = spanIndexFrom(spans, r[0]);
    end = r[1];
  }
  const toks: number[] = []; // line, char, len, type, mods
  let prevStruct = '';
  let prevPath = '';
  let alt = 0;
  for (let i = i0; i < spans.length; i++) {
    const s = spans[i]!;
    if (s.start >= end) break;
    if (s.kind !== 'field' && s.kind !== 'padding') continue;
    // Alternate shading per field within one structure instance.
    const owner = s.path.slice(0, s.path.lastIndexOf('.'));
    if (owner !== prevStruct) {
      alt = 0;
      prevStruct = owner;
    } else if (s.path !== prevPath) alt ^= 1;
    prevPath = s.path;
    const type = tokenType(s);
    for (const r of a.dump.rangesOf(s.start, s.end)) {
      if (lines && (r.line < lines.from || r.line > lines.to)) continue;
      if (a.dump.recordOfLine(r.line)?.star) continue;
      toks.push(r.line, r.start, r.end - r.start, type, alt);
    }
  }
  // Sort by position (a dump out of offset order) and drop overlaps.
  const n = toks.length / 5;
  let ordered = true;
  for (let k = 1; k < n; k++) {
    if (toks[k * 5]! < toks[(k - 1) * 5]! || (toks[k * 5] === toks[(k - 1) * 5] && toks[k * 5 + 1]! < toks[(k - 1) * 5 + 1]!)) {
      ordered = false;
      break;
    }
  }
  const idx = Array.from({ length: n }, (_, k) => k);
  if (!ordered) idx.sort((x, y) => toks[x * 5]! - toks[y * 5]! || toks[x * 5 + 1]! - toks[y * 5 + 1]!);
  const out: number[] = [];
  let pl = 0;
  let pc = 0;
  let lastEndLine = -1;
  let lastEndChar = 0;
  for (const k of idx) {
    const line = toks[k * 5]!;
    const ch = toks[k * 5 + 1]!;
    if (line === lastEndLine && ch < lastEndChar) continue;
    out.push(line - pl, line === pl ? ch - pc : ch, toks[k * 5 + 2]!, toks[k * 5 + 3]!, toks[k * 5 + 4]!);
    pl = line;
    pc = ch;
    lastEndLine = line;
    lastEndChar = ch + toks[k * 5 + 2]!;
  }
  return out;
}

function short(s: Annotation): string {
  // Numbers: decimal when small, hex when large (magic numbers, checksums, masks).
  const m = /^(-?\d+) \((0x[0-9a-f]+)\)$/.exec(s.value);
  let v = m ? (Number(m[1]) < 65536 ? m[1]! : m[2]!) : s.value;
  if (v.length > 24) v = v.slice(0, 23) + '…';
  return `${s.field}=${v}`;
}

/** One hint at the end of each data line in [from, to]: the fields that start on it. */
export function inlayHints(a: Analysis, from: number, to: number): InlayHint[] {
  const out: InlayHint[] = [];
  const spans = a.result.spans;
  for (let l = Math.max(0, from); l <= Math.min(to, a.dump.lineCount - 1); l++) {
    const r = a.dump.recordOfLine(l);
    if (!r || r.star) continue;
    const parts: string[] = [];
    let owner = '';
    for (let i = spanIndexFrom(spans, r.offset); i < spans.length; i++) {
      const s = spans[i]!;
      if (s.start >= r.offset + r.count) break;
      if (s.start < r.offset || s.kind !== 'field') continue;
      const o = s.path.slice(0, s.path.lastIndexOf('.'));
      if (o !== owner) {
        owner = o;
        parts.push(`${o}:`);
      }
      parts.push(short(s));
    }
    if (parts.length === 0) continue;
    let label = parts.join(' ');
    if (label.length > 120) label = label.slice(0, 119) + '…';
    out.push({ position: { line: l, character: a.dump.lineLength(l) }, label, paddingLeft: true });
  }
  return out;
}

export function symbols(a: Analysis): DocumentSymbol[] {
  const convert = (s: Structure): DocumentSymbol[] => {
    const kids = s.children.flatMap(convert);
    const range = byteRange(a, s.start, s.end);
    if (!range) return kids; // not in the dump: its present parts stand alone
    const inside = (r: Range): boolean => !before(r.start, range.start) && !before(range.end, r.end);
    const own = kids.filter((k) => inside(k.range));
    const loose = kids.filter((k) => !inside(k.range));
    const sym: DocumentSymbol = { name: s.name, kind: SYMBOL_KINDS[s.kind], range, selectionRange: { start: range.start, end: range.start }, children: own };
    if (s.detail) sym.detail = s.detail;
    return [sym, ...loose];
  };
  return a.result.structures.flatMap(convert);
}

function before(p: Position, q: Position): boolean {
  return p.line < q.line || (p.line === q.line && p.character < q.character);
}

const SEVERITY = { error: DiagnosticSeverity.Error, warning: DiagnosticSeverity.Warning, info: DiagnosticSeverity.Information } as const;

export function diagnostics(a: Analysis): Diagnostic[] {
  const out: Diagnostic[] = [];
  for (const p of a.dump.problems) {
    out.push({ range: { start: { line: p.line, character: p.start }, end: { line: p.line, character: p.end } }, severity: SEVERITY[p.severity], source: 'erofs-kit', message: p.message });
  }
  for (const d of a.result.diagnostics) {
    const range = byteRange(a, d.offset, d.offset + Math.max(1, d.length)) ?? { start: { line: 0, character: 0 }, end: { line: 0, character: 0 } };
    out.push({ range, severity: SEVERITY[d.severity], source: 'erofs-kit', code: d.code, message: d.message });
  }
  return out;
}

/** What "decode as" can offer at an offset, with the request word it adds to the hint line. */
const DECODE_AS: { title: string; request: (off: number, a: Analysis) => string | undefined }[] = [
  {
    title: 'inode',
    request: (off, a) => {
      const bits = a.dump.hint.blkszbits;
      const meta = (a.dump.hint.metaBlkaddr ?? 0) * (bits === undefined ? 4096 : 1 << bits);
      return off >= meta && (off - meta) % 32 === 0 ? `inode=${(off - meta) / 32}` : undefined;
    },
  },
  { title: 'directory block (dirents)', request: (off) => `struct=dirents@${hex(off)}` },
  { title: 'xattr entry', request: (off) => `struct=erofs_xattr_entry@${hex(off)}` },
  { title: 'tar header', request: (off) => (off % 512 === 0 ? `struct=posix_header@${hex(off)}` : undefined) },
];

/**
 * "Decode as ..." actions on a byte no structure explains (unknown or zero fill): each adds a
 * request to the document's `# erofs:` hint line (or a new one at the top), which the
 * inspector then follows. Without a block size the new line also says `blksz=4096`.
 */
export function codeActions(a: Analysis, pos: Position, uri: string): CodeAction[] {
  const off = a.dump.offsetAt(pos.line, pos.character);
  if (off === undefined) return [];
  const s = spanAt(a.result.spans, off);
  if (!s || (s.kind !== 'unknown' && s.path !== 'zero fill')) return [];
  const out: CodeAction[] = [];
  for (const d of DECODE_AS) {
    const word = d.request(off, a);
    if (!word) continue;
    const words = a.dump.hint.blkszbits === undefined ? `blksz=4096 ${word}` : word;
    out.push({
      title: `Decode as ${d.title} at ${hex(off)}`,
      kind: CodeActionKind.RefactorRewrite,
      edit: { changes: { [uri]: [{ range: { start: { line: 0, character: 0 }, end: { line: 0, character: 0 } }, newText: `# erofs: ${words}\n` }] } },
    });
  }
  return out;
}
