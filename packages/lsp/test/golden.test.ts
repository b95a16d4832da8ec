/**
 * Golden files, one pair per EROFS fixture image: `erofs-kit hexdump IMAGE` (the whole image)
 * and the server's annotation of that dump (outline, diagnostics, token count, byte
 * accounting). One artifact tests the CLI, the hex-dump parser, the inspector and the server
 * together. Regenerate after a deliberate change with EROFS_KIT_UPDATE_GOLDEN=1.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { inspect, parseHexdump, type InspectResult, type ByteMap } from '@erofs-kit/core';
import type { Diagnostic, DocumentSymbol } from 'vscode-languageserver-protocol';
import { Client, decodeTokens } from './support/client.js';

const FIXTURES = fileURLToPath(new URL('../../../fixtures/', import.meta.url));
const GOLDEN = fileURLToPath(new URL('./golden/', import.meta.url));
const CLI = fileURLToPath(new URL('../../cli/bin/erofs-kit.js', import.meta.url));
const UPDATE = process.env.EROFS_KIT_UPDATE_GOLDEN === '1';

interface Entry {
  name: string;
  image: string;
  command: string;
}
const all = JSON.parse(readFileSync(`${FIXTURES}manifest.json`, 'utf8')) as Entry[];
/** Every fixture, compressed (-z) images included: the inspector decodes their data maps. */
const manifest = all;

function golden(file: string, actual: string): void {
  const path = `${GOLDEN}${file}`;
  if (UPDATE || !existsSync(path)) {
    if (!UPDATE) throw new Error(`${file} is missing: run with EROFS_KIT_UPDATE_GOLDEN=1 to create it`);
    writeFileSync(path, actual);
    return;
  }
  const expected = readFileSync(path, 'utf8');
  if (actual !== expected) {
    // Show the first differing line rather than megabytes of text.
    const a = actual.split('\n');
    const e = expected.split('\n');
    let i = 0;
    while (i < a.length && a[i] === e[i]) i++;
    expect(`${file}:${i + 1}: ${a[i] ?? '<end>'}`).toBe(`${file}:${i + 1}: ${e[i] ?? '<end>'}`);
  }
}

/** Every present byte in exactly one span, spans in order: the annotator's contract. */
function coverage(r: InspectResult, map: ByteMap): string | undefined {
  let k = 0;
  for (const seg of map.segments) {
    let pos = seg.offset;
    while (pos < seg.offset + seg.bytes.length) {
      const s = r.spans[k++];
      if (!s || s.start !== pos || s.end <= s.start) return `bytes at ${pos} are not attributed exactly once`;
      if (!['field', 'padding', 'data', 'unknown'].includes(s.kind)) return `bad kind ${s.kind}`;
      pos = s.end;
    }
    if (pos !== seg.offset + seg.bytes.length) return `a span runs past ${seg.offset + seg.bytes.length}`;
  }
  return k === r.spans.length ? undefined : 'spans outside the dump';
}

const KINDS = ['File', 'Module', 'Namespace', 'Package', 'Class', 'Method', 'Property', 'Field', 'Constructor', 'Enum', 'Interface', 'Function', 'Variable', 'Constant', 'String', 'Number', 'Boolean', 'Array', 'Object', 'Key', 'Null', 'EnumMember', 'Struct', 'Event', 'Operator', 'TypeParameter'];

function outline(symbols: DocumentSymbol[], indent = ''): string[] {
  const out: string[] = [];
  for (const s of symbols) {
    const r = s.range;
    out.push(`${indent}${KINDS[s.kind - 1]} ${s.name}${s.detail ? ` — ${s.detail}` : ''} @${r.start.line + 1}:${r.start.character}-${r.end.line + 1}:${r.end.character}`);
    out.push(...outline(s.children ?? [], indent + '  '));
  }
  return out;
}

function summary(file: string, dumpLines: number, r: InspectResult, diags: Diagnostic[], tokens: number, symbols: DocumentSymbol[]): string {
  const bytes: Record<string, number> = { field: 0, padding: 0, data: 0, unknown: 0 };
  for (const s of r.spans) bytes[s.kind]! += s.end - s.start;
  return [
    `# erofs-kit-lsp annotation of \`erofs-kit hexdump ${file}\` (${dumpLines} lines)`,
    `format: ${r.format}`,
    `bytes: field ${bytes.field}, padding ${bytes.padding}, data ${bytes.data}, unknown ${bytes.unknown}; ${r.spans.length} spans`,
    `semantic tokens: ${tokens}`,
    `diagnostics: ${diags.length}`,
    ...diags.map((d) => `  ${d.range.start.line + 1}:${d.range.start.character} ${['', 'error', 'warning', 'info', 'hint'][d.severity ?? 1]} ${d.code ?? ''}: ${d.message}`),
    'outline:',
    ...outline(symbols, '  '),
    '',
  ].join('\n');
}

let client: Client;
beforeAll(async () => {
  client = await Client.start();
});
afterAll(async () => {
  await client.stop();
});

describe.each(manifest.map((m) => [m.name, m.image] as const))('%s', (name, image) => {
  it('hexdump output and its annotation match the golden files; every byte is attributed', async () => {
    const size = readFileSync(`${FIXTURES}${image}`).length;
    const dump = execFileSync(process.execPath, [CLI, 'hexdump', `${FIXTURES}${image}`], { maxBuffer: 1 << 28 }).toString();
    golden(`${name}.xxd`, dump);

    const parsed = parseHexdump(dump);
    expect(parsed.problems).toEqual([]);
    expect(parsed.map.length).toBe(size);
    const r = inspect(parsed.map, { hint: parsed.hint });
    expect(coverage(r, parsed.map)).toBeUndefined();

    const uri = `file:///golden/${name}.xxd`;
    const diags = await client.open(uri, dump);
    const symbols = await client.symbols(uri);
    const tokens = decodeTokens((await client.tokens(uri)).data).length;
    client.close(uri);
    golden(`${name}.annotation.txt`, summary(image, dump.split('\n').length - 1, r, diags, tokens, symbols));
  });
});
