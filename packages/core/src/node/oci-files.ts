/**
 * OCI image inputs on a Node filesystem: an image layout directory, or a tar holding one or a
 * `docker save` archive, as the `OciFiles` the browser-safe reader walks.
 */
import { createReadStream, statSync } from 'node:fs';
import { join, sep } from 'node:path';
import { ErofsError } from '../errors.js';
import { tarFiles, type OciFiles } from '../oci/files.js';
import { FileSource } from './index.js';

/** Files under `dir`. Paths that would leave it (`..`, absolute) are treated as absent. */
export function directoryFiles(dir: string): OciFiles {
  const full = (path: string): string | undefined => {
    if (path.startsWith('/') || path.split('/').some((p) => p === '..' || p === '')) return undefined;
    return join(dir, ...path.split('/'));
  };
  const sizeOf = (path: string): number | undefined => {
    const f = full(path);
    if (f === undefined) return undefined;
    try {
      const st = statSync(f);
      return st.isFile() ? st.size : undefined;
    } catch {
      return undefined;
    }
  };
  const must = (path: string): string => {
    const f = full(path);
    if (f === undefined || sizeOf(path) === undefined) throw new ErofsError('not-found', `${path}: no such file in ${dir}`, { format: 'oci', path });
    return f;
  };
  return {
    name: dir.endsWith(sep) ? dir.slice(0, -1) : dir,
    size: (path) => Promise.resolve(sizeOf(path)),
    read: async (path) => {
      const src = new FileSource(must(path));
      try {
        return await src.read(0, src.size);
      } finally {
        await src.close();
      }
    },
    async *chunks(path) {
      for await (const c of createReadStream(must(path), { highWaterMark: 1 << 20 }) as AsyncIterable<Buffer>) {
        yield new Uint8Array(c.buffer, c.byteOffset, c.byteLength);
      }
    },
  };
}

/**
 * An OCI input by path: a directory is an image layout; a file is a tar (an OCI layout archived
 * as one tar, or a docker-archive). `close` releases the tar's file.
 */
export async function openOciInput(path: string): Promise<{ files: OciFiles; close(): Promise<void> }> {
  let st;
  try {
    st = statSync(path);
  } catch (e) {
    throw new ErofsError('io', `cannot open ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, { format: 'io', path });
  }
  if (st.isDirectory()) return { files: directoryFiles(path), close: () => Promise.resolve() };
  const src = new FileSource(path);
  try {
    return { files: await tarFiles(src), close: () => src.close() };
  } catch (e) {
    await src.close();
    throw e;
  }
}
