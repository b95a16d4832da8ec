/** Node only: the OCI image layout a `file:` document sits in (a directory with `oci-layout`, up to 3 levels above it). */
import { readdirSync, statSync } from 'node:fs';
import { dirname, join, relative, sep } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { ErofsImage } from '@erofs-kit/core';
import { FileSource, directoryFiles } from '@erofs-kit/core/node';
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
          const layoutDir = dir;
          return {
            root: pathToFileURL(dir).href.replace(/\/$/, ''),
            path: relative(dir, file).split(sep).join('/'),
            files: directoryFiles(dir),
            tarIndex: (diffId) => tarIndexBeside(layoutDir, diffId),
          };
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

const isFile = (p: string): boolean => {
  try {
    return statSync(p).isFile();
  } catch {
    return false;
  }
};

/**
 * A tar index of the layer with this diffID in an `erofs-kit oci convert` output next to the
 * layout: a sibling directory with summary.json and `layers/<hex>.erofs`; its path relative to
 * the layout and its superblock's inode count (when it opens as an EROFS image).
 */
async function tarIndexBeside(layoutDir: string, diffId: string): Promise<{ path: string; inodes?: number } | undefined> {
  const found = findTarIndex(layoutDir, diffId);
  if (found === undefined) return undefined;
  const path = relative(layoutDir, found).split(sep).join('/');
  let src: FileSource | undefined;
  try {
    src = new FileSource(found);
    const img = await ErofsImage.open(src, { ignoreChecksum: true });
    return { path, inodes: Number(img.sb.inos) };
  } catch {
    return { path };
  } finally {
    await src?.close().catch(() => undefined);
  }
}

function findTarIndex(layoutDir: string, diffId: string): string | undefined {
  const m = /^sha256:([a-f0-9]{64})$/.exec(diffId);
  if (!m) return undefined;
  const parent = dirname(layoutDir);
  let names: string[];
  try {
    names = readdirSync(parent).sort();
  } catch {
    return undefined;
  }
  for (const name of names.slice(0, 1000)) {
    const out = join(parent, name);
    const index = join(out, 'layers', `${m[1]!}.erofs`);
    if (out !== layoutDir && isFile(join(out, 'summary.json')) && isFile(index)) return index;
  }
  return undefined;
}
