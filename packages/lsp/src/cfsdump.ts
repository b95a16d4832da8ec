/**
 * composefs dump files (composefs-dump(5)): one line per file,
 *
 *   PATH SIZE MODE NLINK UID GID RDEV MTIME PAYLOAD CONTENT DIGEST [NAME=VALUE ...]
 *
 * Diagnostics come from core's `parseDump` (the parser the composefs builder uses, which names
 * the line and byte column of the first problem, a missing hard-link target included); hovers
 * explain the field under the cursor, escapes decoded. Plain functions of (text, position).
 */
import { ErofsError, formatTime, modeString, parseDump } from '@erofs-kit/core';
import { DiagnosticSeverity, type Diagnostic, type Hover, type Position, type Range } from 'vscode-languageserver';

export const DUMP_LANGUAGE_ID = 'composefs-dump';
export const DUMP_EXTENSIONS = ['.dump', '.cfsdump'];

const FIELDS = ['PATH', 'SIZE', 'MODE', 'NLINK', 'UID', 'GID', 'RDEV', 'MTIME', 'PAYLOAD', 'CONTENT', 'DIGEST'] as const;

export interface DumpAnalysis {
  lines: string[];
  diagnostics: Diagnostic[];
}

const enc = new TextEncoder();

/** The character index in `line` of 1-based byte column `column` (the parser counts bytes). */
function charOfByte(line: string, column: number): number {
  let bytes = 0;
  let i = 0;
  while (i < line.length && bytes < column - 1) {
    const cp = line.codePointAt(i)!;
    bytes += cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
    i += cp > 0xffff ? 2 : 1;
  }
  return i;
}

/** The field (between single spaces) that contains character `ch` of `line`. */
function fieldAt(line: string, ch: number): { index: number; start: number; end: number } {
  let start = 0;
  let index = 0;
  for (;;) {
    let end = line.indexOf(' ', start);
    if (end < 0) end = line.length;
    if (ch <= end || end === line.length) return { index, start, end };
    start = end + 1;
    index++;
  }
}

export function analyseDump(text: string): DumpAnalysis {
  const lines = text.split('\n');
  const diagnostics: Diagnostic[] = [];
  try {
    parseDump(enc.encode(text));
  } catch (e) {
    if (!(e instanceof ErofsError)) throw e;
    const lineNo = Math.max(1, e.line ?? 1);
    const line = lines[lineNo - 1] ?? '';
    const ch = charOfByte(line, e.column ?? 1);
    const f = fieldAt(line, ch);
    const range: Range = { start: { line: lineNo - 1, character: ch }, end: { line: lineNo - 1, character: Math.max(f.end, ch + 1) } };
    diagnostics.push({ range, severity: DiagnosticSeverity.Error, source: 'erofs-kit', code: e.code, message: e.message });
  }
  return { lines, diagnostics };
}

/** The dump's escapes decoded for display (`\x..` bytes shown as UTF-8 where they form it). */
function unescapeText(s: string): string {
  const bytes: number[] = [];
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    if (c !== '\\') {
      for (const b of enc.encode(c)) bytes.push(b);
      continue;
    }
    const e = s[++i];
    if (e === 'n') bytes.push(10);
    else if (e === 'r') bytes.push(13);
    else if (e === 't') bytes.push(9);
    else if (e === '\\') bytes.push(0x5c);
    else if (e === 'x' && /^[0-9a-fA-F]{2}$/.test(s.slice(i + 1, i + 3))) {
      bytes.push(parseInt(s.slice(i + 1, i + 3), 16));
      i += 2;
    } else bytes.push(0x5c, ...(e === undefined ? [] : enc.encode(e)));
  }
  return new TextDecoder().decode(Uint8Array.from(bytes));
}

/** Linux's huge_decode_dev: major and minor of a dev_t. */
function splitDev(dev: number): [number, number] {
  const major = ((dev >>> 8) & 0xfff) | (Math.floor(dev / 2 ** 32) & ~0xfff);
  const minor = (dev & 0xff) | ((dev >>> 12) & ~0xff & 0xfffff);
  return [major, minor];
}

const TYPE_OF: Record<number, string> = { 0o040000: 'directory', 0o100000: 'regular file', 0o120000: 'symbolic link', 0o020000: 'character device', 0o060000: 'block device', 0o010000: 'fifo', 0o140000: 'socket' };

function explain(fields: string[], index: number): string {
  const v = fields[index]!;
  const mode = fields[2] ?? '';
  const hardlink = mode.startsWith('@');
  const m = parseInt(hardlink ? mode.slice(1) : mode, 8);
  const type = Number.isNaN(m) ? undefined : TYPE_OF[m & 0o170000];
  if (index >= FIELDS.length) {
    const eq = v.indexOf('=');
    const name = unescapeText(eq < 0 ? v : v.slice(0, eq));
    const value = eq < 0 ? '' : unescapeText(v.slice(eq + 1));
    return `**xattr** \`${name}\` = ${JSON.stringify(value)}${name.startsWith('trusted.overlay.overlay.') ? '\n\nan escaped overlay xattr: the image stores it as `trusted.overlay.overlay.…` so that overlayfs shows `trusted.overlay.…`' : ''}`;
  }
  const field = FIELDS[index]!;
  const head = `**${field}** \`${v}\``;
  switch (field) {
    case 'PATH':
      return `${head}\n\npath ${JSON.stringify(unescapeText(v))}`;
    case 'SIZE':
      return `${head}\n\n${type === 'regular file' ? `file size: ${v} bytes` : 'size (only regular files use it)'}`;
    case 'MODE':
      if (hardlink) return `${head}\n\nhard link: this name is another name of the inode at PAYLOAD (${JSON.stringify(unescapeText(fields[8] ?? ''))}); the other fields are ignored`;
      return Number.isNaN(m) ? `${head}\n\nnot an octal mode` : `${head}\n\n${type ?? 'unknown type'}, \`${modeString(m)}\` (0${m.toString(8)})`;
    case 'NLINK':
      return `${head}\n\nlink count`;
    case 'UID':
    case 'GID':
      return `${head}\n\n${field === 'UID' ? 'owner' : 'group'} id ${v}`;
    case 'RDEV': {
      const n = Number(v);
      if (type !== 'character device' && type !== 'block device') return `${head}\n\ndevice number (only device files use it)`;
      const [major, minor] = splitDev(n);
      return `${head}\n\n${type} ${major}:${minor}`;
    }
    case 'MTIME': {
      const [s, ns] = v.split('.');
      const sec = Number(s);
      const nsec = Number(ns ?? 0);
      return Number.isFinite(sec) && Number.isFinite(nsec) ? `${head}\n\nmodified ${formatTime(sec, nsec)}` : `${head}\n\nnot SECONDS.NANOSECONDS`;
    }
    case 'PAYLOAD':
      if (v === '-') return `${head}\n\nno payload`;
      if (hardlink) return `${head}\n\nhard-link target ${JSON.stringify(unescapeText(v))}`;
      if (type === 'symbolic link') return `${head}\n\nsymlink target ${JSON.stringify(unescapeText(v))}`;
      return `${head}\n\nbacking file in the object store: ${JSON.stringify(unescapeText(v))} (overlayfs redirect)`;
    case 'CONTENT':
      return v === '-' ? `${head}\n\nno inline content` : `${head}\n\ninline content, ${enc.encode(unescapeText(v)).length} bytes`;
    case 'DIGEST':
      return v === '-' ? `${head}\n\nno fs-verity digest` : `${head}\n\nfs-verity digest (SHA-256) of the file's content, kept in trusted.overlay.metacopy`;
  }
  return head;
}

export function dumpHover(a: DumpAnalysis, pos: Position): Hover | null {
  const line = a.lines[pos.line];
  if (line === undefined || line.length === 0) return null;
  const f = fieldAt(line, pos.character);
  const fields = line.split(' ');
  if (f.index >= fields.length) return null;
  return {
    contents: { kind: 'markdown', value: explain(fields, f.index) },
    range: { start: { line: pos.line, character: f.start }, end: { line: pos.line, character: f.end } },
  };
}
