/** Node only: the OCI image layout a `file:` document sits in (a directory with `oci-layout`, up to 3 levels above it). */
import { statSync } from 'node:fs';
import { dirname, join, relative, sep } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { directoryFiles } from '@erofs-kit/core/node';
import type { Layout, LayoutHost } from './oci.js';

/** index.json is beside oci-layout; a blob is three levels down (blobs/<alg>/<hex>). */
const MAX_UP = 3;

export const nodeLayouts: LayoutHost = {
  layoutOf(uri: string): Layout | undefined {
    if (!uri.startsWith('file:')) return undefined;
    let file: string;
    try {
      file = fileURLToPath(uri);
    } catch {
      return undefined;
    }
    let dir = dirname(file);
    for (let up = 0; up <= MAX_UP; up++) {
      try {
        if (statSync(join(dir, 'oci-layout')).isFile()) {
          return { root: pathToFileURL(dir).href.replace(/\/$/, ''), path: relative(dir, file).split(sep).join('/'), files: directoryFiles(dir) };
        }
      } catch {
        // not here
      }
      const parent = dirname(dir);
      if (parent === dir) break;
      dir = parent;
    }
    return undefined;
  },
};
