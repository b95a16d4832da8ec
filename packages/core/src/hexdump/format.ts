/**
 * Writes bytes as `xxd` does (default layout: 16 bytes a line in groups of 2, or `-g1`/`-c N`),
 * with offsets that are image offsets, so the dump of a region reads back at the right place.
 */

export interface XxdOptions {
  /** Bytes per line (xxd -c), default 16. */
  cols?: number;
  /** Bytes per group (xxd -g), default 2. */
  group?: number;
  /** Print `*` for runs of lines equal to the one before (as `xxd -a` does for zero lines). */
  autoskip?: boolean;
}

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));
const ASCII = Array.from({ length: 256 }, (_, i) => (i >= 0x20 && i < 0x7f ? String.fromCharCode(i) : '.'));

function sameLine(b: Uint8Array, a: number, c: number, n: number): boolean {
  for (let i = 0; i < n; i++) if (b[a + i] !== b[c + i]) return false;
  return true;
}

/** Yields the dump line by line (no newline characters). `offset` is the image offset of bytes[0]. */
export function* xxdLines(bytes: Uint8Array, offset = 0, opts: XxdOptions = {}): Generator<string> {
  const cols = Math.max(1, Math.min(256, opts.cols ?? 16));
  const group = Math.max(1, opts.group ?? 2);
  const width = cols * 2 + Math.ceil(cols / group) - 1;
  let skipping = false;
  for (let p = 0; p < bytes.length; p += cols) {
    const n = Math.min(cols, bytes.length - p);
    const last = p + cols >= bytes.length;
    if (opts.autoskip && p >= cols && n === cols && !last && sameLine(bytes, p, p - cols, cols)) {
      if (!skipping) yield '*';
      skipping = true;
      continue;
    }
    skipping = false;
    const off = offset + p;
    let s = off.toString(16).padStart(8, '0') + ': ';
    let hex = '';
    for (let i = 0; i < n; i++) {
      hex += HEX[bytes[p + i]!];
      if ((i + 1) % group === 0 && i + 1 < cols) hex += ' ';
    }
    s += hex.padEnd(width, ' ') + '  ';
    for (let i = 0; i < n; i++) s += ASCII[bytes[p + i]!];
    yield s;
  }
}

export function formatXxd(bytes: Uint8Array, offset = 0, opts: XxdOptions = {}): string {
  let out = '';
  for (const l of xxdLines(bytes, offset, opts)) out += l + '\n';
  return out;
}
