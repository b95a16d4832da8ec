/**
 * How a problem reaches the user: one line naming the file, the byte offset, the stable error
 * code and the sentence (`image.erofs:0x40c: bad-checksum: ...`), never a stack trace.
 */
import { hex, isErofsError } from '@erofs-kit/core';

export function describeError(e: unknown, where?: string): string {
  if (isErofsError(e)) {
    const at = e.offset !== undefined ? `${hex(e.offset)}: ` : '';
    const file = where !== undefined ? `${where}:` : '';
    const path = e.path !== undefined && !e.message.includes(e.path) ? ` (${e.path})` : '';
    return `${file}${at}${e.code}: ${e.message}${path}`;
  }
  if (e instanceof Error) return where !== undefined ? `${where}: ${e.message}` : e.message;
  return String(e);
}

/** Thrown when the user cancels a long operation; callers show nothing for it. */
export class Cancelled extends Error {
  constructor() {
    super('cancelled');
    this.name = 'Cancelled';
  }
}

export function isCancelled(e: unknown): boolean {
  return e instanceof Error && e.name === 'Cancelled';
}
