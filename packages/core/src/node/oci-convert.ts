/**
 * An OCI conversion's output folder on a Node filesystem (`convertOciImage`'s `ConvertOutput`):
 * files written under temporary names (writes run ahead of the stream by up to 64 MiB, so
 * hashing and the disk overlap), renamed on commit, removed on abort.
 */
import { closeSync, existsSync, mkdirSync, openSync, write } from 'node:fs';
import { readFile, rename, rm, rmdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { ErofsError } from '../errors.js';
import type { ByteSource } from '../io/source.js';
import type { ConvertOutput, PendingFile } from '../oci/convert.js';
import { FileSource } from './index.js';

const WRITE_AHEAD = 64 << 20;

export interface NodeConvertOutputOptions {
  /** The temporary name of a file whose final path is `final` (default `FINAL.partial-PID-N`). */
  tempName?: (final: string, serial: number) => string;
  /** Opens a reused layer tar (default a {@link FileSource}). */
  openSource?: (path: string) => ByteSource;
}

export function nodeConvertOutput(dir: string, opts: NodeConvertOutputOptions = {}): ConvertOutput {
  const at = (rel: string): string => {
    if (rel.startsWith('/') || rel.split('/').some((p) => p === '..')) throw new Error(`refusing to write outside ${dir}: ${rel}`);
    return rel === '' ? dir : join(dir, ...rel.split('/'));
  };
  const tempName = opts.tempName ?? ((final: string, serial: number) => `${final}.partial-${process.pid}-${serial}`);
  const openSource = opts.openSource ?? ((p: string) => new FileSource(p));
  let serial = 0;
  return {
    name: dir,
    async size(rel) {
      try {
        const st = await stat(at(rel));
        return st.isFile() ? st.size : undefined;
      } catch {
        return undefined;
      }
    },
    async readText(rel) {
      try {
        return await readFile(at(rel), 'utf8');
      } catch {
        return undefined;
      }
    },
    openSource: async (rel) => openSource(at(rel)),
    async mkdir(rel) {
      const p = at(rel);
      if (existsSync(p)) return false;
      try {
        mkdirSync(p, { recursive: true });
      } catch (e) {
        throw new ErofsError('io', `cannot create ${p}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, { format: 'io', path: p });
      }
      return true;
    },
    async rmdirIfEmpty(rel) {
      await rmdir(at(rel)).catch(() => undefined);
    },
    async create(rel): Promise<PendingFile> {
      const final = at(rel);
      const tmp = tempName(final, ++serial);
      let fd: number | undefined = openSync(tmp, 'w');
      let pos = 0;
      let ahead = 0;
      let failure: Error | undefined;
      let tail: Promise<void> = Promise.resolve();
      let committed = false;
      const writeAt = (b: Uint8Array, off: number): Promise<void> =>
        new Promise((resolve, reject) => {
          const step = (o: number): void => {
            if (o === b.length) return resolve();
            write(fd!, b, o, b.length - o, off + o, (err, n) => (err ? reject(err) : step(o + n)));
          };
          step(0);
        });
      const settle = async (): Promise<void> => {
        await tail;
        if (fd !== undefined) closeSync(fd);
        fd = undefined;
      };
      return {
        write(chunk) {
          if (failure) throw failure;
          if (chunk.length === 0) return;
          const w = writeAt(chunk, pos).then(
            () => void (ahead -= chunk.length),
            (e: unknown) => void (failure ??= e as Error),
          );
          pos += chunk.length;
          ahead += chunk.length;
          tail = tail.then(() => w);
          return ahead > WRITE_AHEAD ? w : undefined;
        },
        async close() {
          await settle();
          if (failure) throw failure;
        },
        async commit() {
          await settle();
          if (failure) throw failure;
          await rename(tmp, final);
          committed = true;
        },
        async abort() {
          if (committed) return;
          await settle().catch(() => undefined);
          committed = true;
          await rm(tmp, { force: true });
        },
      };
    },
  };
}
