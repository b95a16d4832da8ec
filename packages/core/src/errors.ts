/**
 * The one error type of erofs-kit. Every problem with an input carries a stable string
 * `code`, the `format` it was found in, and where it was found: a byte `offset` (and
 * `length`) and/or a `path` inside the image. Callers branch on `code`, never on
 * `instanceof` (errors cross bundles, workers and the LSP boundary as JSON).
 */
export type ErrorCode =
  | 'bad-magic'
  | 'truncated'
  | 'out-of-bounds'
  | 'bad-checksum'
  | 'unsupported-feature'
  | 'invalid-value'
  | 'not-found'
  | 'not-a-directory'
  | 'is-a-directory'
  | 'missing-device'
  | 'loop'
  | 'unsafe-path'
  | 'too-large'
  | 'digest-mismatch'
  | 'io';

export type Format = 'erofs' | 'tar' | 'io' | 'oci' | 'composefs-dump';

export interface ErrorInfo {
  offset?: number;
  length?: number;
  path?: string;
  format?: Format;
  /** Text inputs (composefs dumps): 1-based line and column (in bytes) of the problem. */
  line?: number;
  column?: number;
}

export interface ErofsErrorJSON {
  name: 'ErofsError';
  code: ErrorCode;
  format: Format;
  message: string;
  offset?: number;
  length?: number;
  path?: string;
  line?: number;
  column?: number;
}

export class ErofsError extends Error {
  readonly code: ErrorCode;
  readonly format: Format;
  readonly offset: number | undefined;
  readonly length: number | undefined;
  readonly path: string | undefined;
  readonly line: number | undefined;
  readonly column: number | undefined;

  constructor(code: ErrorCode, message: string, info: ErrorInfo = {}) {
    super(message);
    this.name = 'ErofsError';
    this.code = code;
    this.format = info.format ?? 'erofs';
    this.offset = info.offset;
    this.length = info.length;
    this.path = info.path;
    this.line = info.line;
    this.column = info.column;
  }

  /** A copy that also names the path the problem was found under (first path wins). */
  withPath(path: string): ErofsError {
    if (this.path !== undefined) return this;
    const info: ErrorInfo = { format: this.format, path };
    if (this.offset !== undefined) info.offset = this.offset;
    if (this.length !== undefined) info.length = this.length;
    if (this.line !== undefined) info.line = this.line;
    if (this.column !== undefined) info.column = this.column;
    return new ErofsError(this.code, this.message, info);
  }

  toJSON(): ErofsErrorJSON {
    const out: ErofsErrorJSON = { name: 'ErofsError', code: this.code, format: this.format, message: this.message };
    if (this.offset !== undefined) out.offset = this.offset;
    if (this.length !== undefined) out.length = this.length;
    if (this.path !== undefined) out.path = this.path;
    if (this.line !== undefined) out.line = this.line;
    if (this.column !== undefined) out.column = this.column;
    return out;
  }
}

/** Structural check usable across bundles (no instanceof). */
export function isErofsError(e: unknown): e is ErofsError {
  return (
    typeof e === 'object' && e !== null && (e as { name?: unknown }).name === 'ErofsError' &&
    typeof (e as { code?: unknown }).code === 'string'
  );
}

/** Hex form used in every message and by the CLI: `0x40c`. */
export function hex(n: number | bigint): string {
  return '0x' + n.toString(16);
}

/** Converts an on-disk u64 to a number, refusing values above 2^53. */
const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);
const MIN_SAFE = -MAX_SAFE;

export function toSafeNumber(v: bigint, what: string, offset?: number): number {
  if (v > MAX_SAFE || v < MIN_SAFE) {
    throw new ErofsError('too-large', `${what} ${v} exceeds 2^53`, offset === undefined ? {} : { offset });
  }
  return Number(v);
}
