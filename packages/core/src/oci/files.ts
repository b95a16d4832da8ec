/**
 * How the OCI reader reaches an image's files: a small async interface over relative,
 * '/'-separated paths, so the same reader runs over a directory (the Node entry's
 * `directoryFiles`), files in memory, or the members of a tar (`docker save`, an OCI layout
 * archived as one tar) without unpacking it.
 */
import { ErofsError } from '../errors.js';
import type { ByteSource } from '../io/source.js';
import { readTar } from '../tar/reader.js';

export interface OciFiles {
  /** What the files are (a directory path, a tar file name): for messages. */
  readonly name: string;
  /** Size of the regular file at `path`, undefined when there is none. */
  size(path: string): Promise<number | undefined>;
  /** The whole file (callers check its size first: only small JSON files are read whole). */
  read(path: string): Promise<Uint8Array>;
  /** The file's bytes as a stream of chunks, in order. */
  chunks(path: string): AsyncIterable<Uint8Array>;
}

/** Files held in memory, keyed by relative path. */
export function memoryFiles(files: Map<string, Uint8Array>, name = 'memory'): OciFiles {
  const get = (path: string): Uint8Array => {
    const b = files.get(path);
    if (!b) throw new ErofsError('not-found', `${path}: no such file`, { path, format: 'oci' });
    return b;
  };
  return {
    name,
    size: (path) => Promise.resolve(files.get(path)?.length),
    read: (path) => Promise.resolve(get(path)),
    async *chunks(path) {
      yield get(path);
    },
  };
}

/** Normalizes a member path: no leading `./` or `/`, no `.` components, no trailing `/`. */
function memberPath(raw: string): string {
  return raw
    .split('/')
    .filter((p) => p !== '' && p !== '.')
    .join('/');
}

const td = new TextDecoder('utf-8', { fatal: false });
const WINDOW = 1 << 20;

/**
 * The regular files of a tar (read once, headers only) as {@link OciFiles}; symbolic links
 * between members (`docker save` links repeated layers) are followed, hard links too.
 */
export async function tarFiles(src: ByteSource): Promise<OciFiles> {
  const members = new Map<string, { offset: number; size: number }>();
  const links = new Map<string, string>();
  for await (const { entry } of readTar(src)) {
    const path = memberPath(td.decode(entry.path));
    if (entry.type === 'file' && !entry.sparse) {
      members.set(path, { offset: entry.dataOffset, size: entry.size });
      links.delete(path);
    } else if (entry.type === 'symlink' || entry.type === 'hardlink') {
      const target = td.decode(entry.linkpath);
      const dir = path.split('/').slice(0, -1);
      const base = entry.type === 'symlink' && !target.startsWith('/') ? dir : [];
      const parts: string[] = [...base];
      for (const p of target.split('/')) {
        if (p === '' || p === '.') continue;
        if (p === '..') parts.pop();
        else parts.push(p);
      }
      links.set(path, parts.join('/'));
      members.delete(path);
    }
  }
  const resolve = (path: string): { offset: number; size: number } | undefined => {
    let p = memberPath(path);
    for (let hops = 0; hops < 16; hops++) {
      const m = members.get(p);
      if (m) return m;
      const next = links.get(p);
      if (next === undefined) return undefined;
      p = next;
    }
    return undefined;
  };
  const get = (path: string): { offset: number; size: number } => {
    const m = resolve(path);
    if (!m) throw new ErofsError('not-found', `${path}: no such member in ${src.name}`, { path, format: 'oci' });
    return m;
  };
  return {
    name: src.name,
    size: (path) => Promise.resolve(resolve(path)?.size),
    read: async (path) => {
      const m = get(path);
      return src.read(m.offset, m.size);
    },
    async *chunks(path) {
      const m = get(path);
      for (let o = 0; o < m.size; o += WINDOW) yield await src.read(m.offset + o, Math.min(WINDOW, m.size - o));
    },
  };
}
