import { ErofsError, splitPath, textDecoder, textEncoder, type ErofsImage, type Inode } from '@erofs-kit/core';
import { Out, deviceOption, openImage, strs, UsageError, type Command } from '../util.js';
import { SUMMARIES } from './summaries.js';

/** Resolves PATH inside the image, following symlinks (at most 40) like open(2) would. */
export async function resolveFollow(img: ErofsImage, path: string): Promise<Inode> {
  let pending = splitPath(path).map((p) => textDecoder.decode(p));
  const stack: Inode[] = [await img.root()];
  let hops = 0;
  while (pending.length > 0) {
    const name = pending.shift()!;
    const cur = stack[stack.length - 1]!;
    if (name === '.') continue;
    if (name === '..') {
      if (stack.length > 1) stack.pop();
      continue;
    }
    if ((cur.mode & 0o170000) !== 0o040000) throw new ErofsError('not-a-directory', `${path}: a component is not a directory`, { path });
    const d = await img.lookupIn(cur, textEncoder.encode(name));
    if (!d) throw new ErofsError('not-found', `${path}: no such file or directory`, { path });
    const ino = await img.inode(d.nid);
    if ((ino.mode & 0o170000) === 0o120000) {
      if (++hops > 40) throw new ErofsError('loop', `${path}: too many levels of symbolic links`, { path });
      const target = textDecoder.decode(await img.readlink(ino));
      const parts = target.split('/').filter(Boolean);
      if (target.startsWith('/')) stack.length = 1;
      pending = [...parts, ...pending];
      continue;
    }
    stack.push(ino);
  }
  return stack[stack.length - 1]!;
}

export const cat: Command = {
  name: 'cat',
  summary: SUMMARIES.cat,
  usage: 'erofs-kit cat IMAGE PATH [--device FILE]...',
  help: 'Writes the content of the regular file at PATH to standard output (symlinks inside the image are followed).',
  options: { ...deviceOption },
  async run({ values, positionals }) {
    const [file, path] = positionals;
    if (path === undefined) throw new UsageError('cat needs IMAGE and PATH');
    const o = await openImage(file!, strs(values.device));
    try {
      const ino = await resolveFollow(o.img, path);
      if ((ino.mode & 0o170000) === 0o040000) throw new ErofsError('is-a-directory', `${path} is a directory`, { path, offset: ino.offset });
      if ((ino.mode & 0o170000) !== 0o100000) throw new ErofsError('invalid-value', `${path} is not a regular file`, { path, offset: ino.offset });
      const out = new Out();
      for await (const piece of o.img.stream(ino)) out.bytes(piece);
      return 0;
    } finally {
      await o.close();
    }
  },
};
