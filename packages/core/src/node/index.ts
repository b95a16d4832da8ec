/**
 * Node-only entry (`@erofs-kit/core/node`): file-backed byte sources. Reads are synchronous
 * (`fs.readSync`) behind the async interface: one await per cached block costs far less than
 * one libuv round trip per small read.
 */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { ErofsError, hex } from '../errors.js';
import type { ByteSource } from '../io/source.js';

export class FileSource implements ByteSource {
  readonly size: number;
  private fd: number | undefined;
  constructor(
    readonly name: string,
    fd?: number,
  ) {
    try {
      this.fd = fd ?? openSync(name, 'r');
      this.size = fstatSync(this.fd).size;
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      throw new ErofsError('io', `cannot open ${name}: ${err.code ?? err.message}`, { format: 'io', path: name });
    }
  }

  /** The open file descriptor (for work on other threads over the very same file). */
  get descriptor(): number {
    if (this.fd === undefined) throw new ErofsError('io', `${this.name} is closed`, { format: 'io', path: this.name });
    return this.fd;
  }

  readInto(offset: number, into: Uint8Array): void {
    if (this.fd === undefined) throw new ErofsError('io', `${this.name} is closed`, { format: 'io', path: this.name });
    let got = 0;
    while (got < into.length) {
      const n = readSync(this.fd, into, got, into.length - got, offset + got);
      if (n === 0) {
        throw new ErofsError('truncated', `${this.name}: unexpected end of file at ${hex(offset + got)}`, { offset: offset + got, format: 'io', path: this.name });
      }
      got += n;
    }
  }

  readSync(offset: number, length: number): Uint8Array {
    // Every byte is overwritten: skip zero-filling (this runs for every cached block).
    // A plain Uint8Array over it, not the Buffer: parsers that see Buffers from one read and
    // Uint8Arrays from another (reads across blocks, memory) are deoptimized for the mix.
    const buf = Buffer.allocUnsafe(length);
    const out = new Uint8Array(buf.buffer, buf.byteOffset, length);
    this.readInto(offset, out);
    return out;
  }

  read(offset: number, length: number): Promise<Uint8Array> {
    try {
      return Promise.resolve(this.readSync(offset, length));
    } catch (e) {
      return Promise.reject(e);
    }
  }

  async close(): Promise<void> {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }
}

/** Opens a file as a byte source. */
export function openFile(path: string): FileSource {
  return new FileSource(path);
}
export * from './digest.js';
export { threadedSha256, hashFileThreaded, type FileHashJob } from './threaded-hash.js';
export { fsverityFile, type FsVerityFileOptions } from './merkle-pool.js';
export { treeFromDirectory, type DirectoryTree, type DirectoryTreeOptions } from './dirtree.js';
export { directoryFiles, openOciInput } from './oci-files.js';
export { nodeConvertOutput, type NodeConvertOutputOptions } from './oci-convert.js';
