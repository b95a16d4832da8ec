import { checkName, isDotOrDotDot, textDecoder, walkBatches, type ErofsImage, type Inode } from '@erofs-kit/core';

const S_IFMT_DIR = 0o040000;
import { Out, deviceOption, jsonOption, openImage, strs, modeString, formatTime, typeName, type Command } from '../util.js';
import { SUMMARIES } from './summaries.js';

export interface EntryJSON {
  path: string;
  nid: number;
  type: string;
  mode: string;
  nlink: number;
  uid: number;
  gid: number;
  size: number;
  mtime: number;
  mtimeNsec: number;
  target?: string;
  rdev?: { major: number; minor: number };
}

/** The stat fields of an entry; symlink targets are added by {@link entryJSON}. */
function entryFields(path: string, ino: Inode): EntryJSON {
  const e: EntryJSON = {
    path,
    nid: ino.nid,
    type: typeName(ino.mode),
    mode: (ino.mode & 0o7777).toString(8).padStart(4, '0'),
    nlink: ino.nlink,
    uid: ino.uid,
    gid: ino.gid,
    size: ino.size,
    mtime: ino.mtime,
    mtimeNsec: ino.mtimeNsec,
  };
  if (ino.rdev) e.rdev = ino.rdev;
  return e;
}

export async function entryJSON(img: ErofsImage, path: string, ino: Inode): Promise<EntryJSON> {
  const e = entryFields(path, ino);
  if ((ino.mode & 0o170000) === 0o120000) e.target = textDecoder.decode(await img.readlink(ino));
  return e;
}

function longLine(e: EntryJSON, ino: Inode, name: string): string {
  const size = e.rdev ? `${e.rdev.major}, ${e.rdev.minor}` : String(e.size);
  return `${modeString(ino.mode)} ${String(e.nlink).padStart(3)} ${String(e.uid).padStart(5)} ${String(e.gid).padStart(5)} ${size.padStart(10)} ${formatTime(e.mtime, e.mtimeNsec)} ${name}${e.target !== undefined ? ` -> ${e.target}` : ''}`;
}

export const ls: Command = {
  name: 'ls',
  summary: SUMMARIES.ls,
  usage: 'erofs-kit ls IMAGE [PATH] [-l] [-R] [-a] [--device FILE]... [--json]',
  help: `Lists the entries of PATH (default /) in on-disk order (byte order, as LC_ALL=C ls).
  -l, --long       mode, nlink, uid, gid, size (or major, minor), mtime with nanoseconds (UTC), name, symlink target
  -R, --recursive  the whole subtree, one full path per line, parents before children
  -a, --all        include the stored "." and ".." entries (not with -R)
  --json           a JSON array of entries {path, nid, type, mode, nlink, uid, gid, size, mtime, mtimeNsec, target?, rdev?}`,
  options: {
    ...deviceOption,
    ...jsonOption,
    long: { type: 'boolean', short: 'l' },
    recursive: { type: 'boolean', short: 'R' },
    all: { type: 'boolean', short: 'a' },
  },
  async run({ values, positionals }) {
    const [file, path = '/'] = positionals;
    const o = await openImage(file!, strs(values.device));
    const out = new Out();
    try {
      const { img } = o;
      const start = await img.lookup(path);
      const base = '/' + path.split('/').filter(Boolean).join('/');
      const json: EntryJSON[] = [];
      const sink = (e: EntryJSON, ino: Inode, name: string): void => {
        if (values.json) json.push(e);
        else out.line(longLine(e, ino, name));
      };
      // Only symlinks need another read (their target): everything else is emitted without an await.
      const emit = (p: string, name: string, ino: Inode): Promise<void> | undefined => {
        if (!values.json && !values.long) {
          out.line(name);
          return undefined;
        }
        if ((ino.mode & 0o170000) === 0o120000) return entryJSON(img, p, ino).then((e) => sink(e, ino, name));
        sink(entryFields(p, ino), ino, name);
        return undefined;
      };
      if (values.recursive) {
        for await (const batch of walkBatches(img, { start, startPath: base === '/' ? '' : base })) {
          for (const e of batch) {
            const pending = emit(e.path, e.path, e.inode);
            if (pending) await pending;
          }
        }
      } else if ((start.mode & 0o170000) !== S_IFMT_DIR) {
        await emit(base, base, start);
      } else {
        for (const d of await img.readdir(start, base)) {
          if (isDotOrDotDot(d.name) && !values.all) continue;
          if (!isDotOrDotDot(d.name)) checkName(d.name, base === '/' ? '' : base, d);
          const name = textDecoder.decode(d.name);
          const p = base === '/' ? '/' + name : base + '/' + name;
          await emit(p, name, await img.inode(d.nid));
        }
      }
      if (values.json) out.line(JSON.stringify(json));
      out.flush();
      return 0;
    } finally {
      out.flush();
      await o.close();
    }
  },
};
