/** Convert Image's output folder on a Node filesystem: streamed writes under temporary names, renamed at the end. */
import { closeSync, existsSync, openSync, writeSync } from 'node:fs';
import { mkdir, readFile, rename, rm, rmdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { FileSource } from '@erofs-kit/core/node';
import type { ConvertOutput, PendingFile } from './model/oci-convert.js';
import { YieldingSource } from './model/yielding.js';

export function nodeConvertOutput(dir: string): ConvertOutput {
  const at = (rel: string): string => {
    if (rel.startsWith('/') || rel.split('/').some((p) => p === '..')) throw new Error(`refusing to write outside ${dir}: ${rel}`);
    return rel === '' ? dir : join(dir, ...rel.split('/'));
  };
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
    openSource: async (rel) => new YieldingSource(new FileSource(at(rel))),
    async mkdir(rel) {
      const p = at(rel);
      if (existsSync(p)) return false;
      await mkdir(p, { recursive: true });
      return true;
    },
    async rmdirIfEmpty(rel) {
      await rmdir(at(rel)).catch(() => undefined);
    },
    async create(rel): Promise<PendingFile> {
      const final = at(rel);
      const tmp = `${final}.partial-${process.pid}-${++serial}`;
      let fd: number | undefined = openSync(tmp, 'w');
      let pos = 0;
      let state: 'open' | 'closed' | 'done' = 'open';
      const closeFd = (): void => {
        if (fd !== undefined) closeSync(fd);
        fd = undefined;
      };
      return {
        write(chunk) {
          let o = 0;
          while (o < chunk.length) o += writeSync(fd!, chunk, o, chunk.length - o, pos + o);
          pos += chunk.length;
        },
        async close() {
          closeFd();
          state = 'closed';
        },
        async commit() {
          closeFd();
          await rename(tmp, final);
          state = 'done';
        },
        async abort() {
          if (state === 'done') return;
          closeFd();
          state = 'done';
          await rm(tmp, { force: true });
        },
      };
    },
  };
}
