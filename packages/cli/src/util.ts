import { writeSync } from 'node:fs';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { ErofsImage, hex, modeString as coreModeString, type ErofsError, type ByteSource, type CacheOptions } from '@erofs-kit/core';
import { FileSource } from '@erofs-kit/core/node';

/** Exit codes: 0 ok, 1 the input is bad, 2 usage error, 3 internal error. */
export { EXIT_BAD, EXIT_INTERNAL, EXIT_USAGE } from './exit-codes.js';

export class UsageError extends Error {
  override name = 'UsageError';
}

export interface Command {
  name: string;
  summary: string;
  usage: string;
  help: string;
  options: NonNullable<ParseArgsConfig['options']>;
  run(args: { values: Record<string, unknown>; positionals: string[] }): Promise<number>;
}

/** Options every data-reading command takes. */
export const deviceOption = { device: { type: 'string', multiple: true, short: 'd' } } as const;
export const jsonOption = { json: { type: 'boolean' } } as const;

export function parse(cmd: Command, argv: string[]): { values: Record<string, unknown>; positionals: string[] } {
  try {
    const r = parseArgs({ args: argv, options: { ...cmd.options, help: { type: 'boolean', short: 'h' } }, allowPositionals: true, strict: true });
    return { values: r.values as Record<string, unknown>, positionals: r.positionals };
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
}

/** Buffered stdout writer: one syscall per 64 KiB, EPIPE ends quietly. */
export class Out {
  private parts: string[] = [];
  private len = 0;
  line(s: string): void {
    this.parts.push(s, '\n');
    this.len += s.length + 1;
    if (this.len > 65536) this.flush();
  }
  bytes(b: Uint8Array): void {
    this.flush();
    writeAll(1, b);
  }
  flush(): void {
    if (this.len === 0 && this.parts.length === 0) return;
    const s = this.parts.join('');
    this.parts = [];
    this.len = 0;
    writeAll(1, Buffer.from(s));
  }
}

export class BrokenPipe extends Error {}

function writeAll(fd: number, b: Uint8Array): void {
  let off = 0;
  while (off < b.length) {
    try {
      off += writeSync(fd, b, off, b.length - off);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'EAGAIN') continue;
      if (code === 'EPIPE') throw new BrokenPipe();
      throw e;
    }
  }
}

export function warn(msg: string): void {
  process.stderr.write(`erofs-kit: warning: ${msg}\n`);
}

/** `image.erofs:0x40c: invalid-value: message (path /a/b)` */
export function formatError(e: ErofsError, file: string): string {
  const where = e.line !== undefined ? `${file}:${e.line}:${e.column ?? 1}` : e.offset !== undefined ? `${file}:${hex(e.offset)}` : file;
  return `${where}: ${e.code}: ${e.message}${e.path !== undefined && !e.message.startsWith(e.path) ? ` (path ${e.path})` : ''}`;
}

export interface Opened {
  img: ErofsImage;
  sources: ByteSource[];
  close(): Promise<void>;
}

/** Opens an image and its extra devices given with --device. */
export async function openImage(path: string, devices: string[] = [], cache?: CacheOptions): Promise<Opened> {
  const sources: FileSource[] = [];
  try {
    const src = new FileSource(path);
    sources.push(src);
    const devs = devices.map((d) => {
      const s = new FileSource(d);
      sources.push(s);
      return s;
    });
    const img = await ErofsImage.open(src, { devices: devs, ...(cache ? { cache } : {}) });
    return { img, sources, close: async () => { for (const s of sources) await s.close(); } };
  } catch (e) {
    for (const s of sources) await s.close();
    throw e;
  }
}

/** `drwxr-sr-t`-style mode string, as ls -l prints it (core's rendering, remembered per mode). */
const modeStrings = new Map<number, string>();

export function modeString(mode: number): string {
  let s = modeStrings.get(mode);
  if (s === undefined) modeStrings.set(mode, (s = coreModeString(mode)));
  return s;
}

export const TYPE_NAMES: Record<number, string> = {
  0o140000: 'socket',
  0o120000: 'symlink',
  0o100000: 'file',
  0o060000: 'block-device',
  0o040000: 'directory',
  0o020000: 'char-device',
  0o010000: 'fifo',
};

export function typeName(mode: number): string {
  return TYPE_NAMES[mode & 0o170000] ?? 'unknown';
}

/** UTC time with nanoseconds: `2020-09-13 12:26:40.123456789`. */
let lastSec = NaN;
let lastText = '';
export function formatTime(sec: number, nsec: number): string {
  // Trees share few distinct seconds: remember the last one formatted.
  if (sec !== lastSec) {
    lastSec = sec;
    lastText = formatSeconds(sec);
  }
  return `${lastText}.${String(nsec).padStart(9, '0')}`;
}

function formatSeconds(sec: number): string {
  const d = new Date(sec * 1000);
  if (Number.isNaN(d.getTime())) return String(sec);
  const iso = d.toISOString();
  return `${iso.slice(0, 10)} ${iso.slice(11, 19)}`;
}

export function hexBytes(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
}

/** Renders an xattr value for people: text when printable, else hex. */
export function showValue(v: Uint8Array): string {
  let printable = v.length > 0;
  for (const c of v) if (c < 0x20 || c > 0x7e) { printable = false; break; }
  return printable ? JSON.stringify(Buffer.from(v).toString('latin1')) : v.length === 0 ? '""' : '0x' + hexBytes(v);
}

export function strs(v: unknown): string[] {
  return Array.isArray(v) ? (v as string[]) : [];
}
