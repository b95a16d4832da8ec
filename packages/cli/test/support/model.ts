/**
 * One canonical shape for a file tree, built either from a directory on disk (walked by
 * walk_tree.py, so a kernel mount or an extraction) or from erofs-kit's reader, so that the
 * two can be compared field by field (see diff.ts).
 *
 * Paths, xattr names and symlink targets are bytes; they are keyed by an injective text form
 * (valid UTF-8 kept, every other byte and every backslash/control byte written `\xNN`), so a
 * name that is not UTF-8 still has exactly one key and reads well in a failure message.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { walk, type ErofsImage, type Inode } from '@erofs-kit/core';

export type FileType = 'dir' | 'reg' | 'lnk' | 'chr' | 'blk' | 'fifo' | 'sock' | 'unknown';

export interface EntryModel {
  type: FileType;
  /** Full st_mode: type bits and all 12 permission bits. */
  mode: number;
  uid: number;
  gid: number;
  /** Regular files and symlinks only (directory sizes are filesystem-specific). */
  size: number | undefined;
  mtime: number;
  mtimeNsec: number;
  /** Symlink target, as a key (see {@link bytesKey}), or `error: ...`. */
  target: string | undefined;
  /** `major:minor`, character and block devices only. */
  rdev: string | undefined;
  nlink: number;
  /** st_ino, or the nid for the reader. */
  ino: number;
  /** Sorted [name key, value hex] pairs; duplicates kept. `error: ...` when unreadable. */
  xattrs: [string, string][] | string;
  /** Content digest (regular files only), or `error: ...`. */
  sha256: string | undefined;
}

export interface TreeModel {
  /** Who reported this tree: `kernel`, `reader`, `extract`... (used in messages). */
  label: string;
  /** Keyed by path key; the root is `/`. */
  entries: Map<string, EntryModel>;
  /** Problems that are not one field of one entry (a failed walk, an unreadable directory). */
  errors: string[];
}

const HEX = '0123456789abcdef';
const utf8 = new TextDecoder('utf-8', { fatal: true });

function escapeByte(b: number): string {
  return '\\x' + HEX[b >> 4]! + HEX[b & 15]!;
}

/** Length of the valid UTF-8 sequence starting at `i`, or 0. */
function utf8Run(b: Uint8Array, i: number): number {
  const c = b[i]!;
  if (c < 0x80) return 1;
  let n: number;
  let lo = 0x80;
  let hi = 0xbf;
  if (c >= 0xc2 && c <= 0xdf) n = 2;
  else if (c >= 0xe0 && c <= 0xef) {
    n = 3;
    if (c === 0xe0) lo = 0xa0;
    if (c === 0xed) hi = 0x9f;
  } else if (c >= 0xf0 && c <= 0xf4) {
    n = 4;
    if (c === 0xf0) lo = 0x90;
    if (c === 0xf4) hi = 0x8f;
  } else return 0;
  if (i + n > b.length) return 0;
  const d = b[i + 1]!;
  if (d < lo || d > hi) return 0;
  for (let k = 2; k < n; k++) if ((b[i + k]! & 0xc0) !== 0x80) return 0;
  return n;
}

/** Injective, readable text form of a byte string (see the module comment). */
export function bytesKey(b: Uint8Array): string {
  let out = '';
  for (let i = 0; i < b.length; ) {
    const n = utf8Run(b, i);
    const c = b[i]!;
    if (n === 1 && c >= 0x20 && c !== 0x7f && c !== 0x5c) {
      out += String.fromCharCode(c);
      i++;
    } else if (n > 1) {
      out += utf8.decode(b.subarray(i, i + n));
      i += n;
    } else {
      out += escapeByte(c);
      i++;
    }
  }
  return out;
}

export function toHex(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
}

export function fromHex(s: string): Uint8Array {
  return new Uint8Array(Buffer.from(s, 'hex'));
}

export function typeOfMode(mode: number): FileType {
  switch (mode & 0o170000) {
    case 0o040000:
      return 'dir';
    case 0o100000:
      return 'reg';
    case 0o120000:
      return 'lnk';
    case 0o020000:
      return 'chr';
    case 0o060000:
      return 'blk';
    case 0o010000:
      return 'fifo';
    case 0o140000:
      return 'sock';
    default:
      return 'unknown';
  }
}

function describeError(e: unknown): string {
  if (e && typeof e === 'object') {
    const code = (e as { code?: unknown }).code;
    const message = (e as { message?: unknown }).message;
    return `${typeof code === 'string' ? code + ': ' : ''}${String(message ?? e)}`;
  }
  return String(e);
}

/* ---------------------------------------------------------------- disk (walk_tree.py) */

interface WalkerEntry {
  path: string;
  type: FileType;
  mode: number;
  uid: number;
  gid: number;
  nlink: number;
  ino: number;
  size: number;
  mtime: number;
  mtime_nsec: number;
  target?: string;
  rdev?: [number, number];
  xattrs: [string, string][];
  sha256?: string;
  errors?: Record<string, string>;
}

export const WALKER = fileURLToPath(new URL('./walk_tree.py', import.meta.url));

/** Builds the model of the directory tree at `root` as the filesystem holding it reports it. */
export function diskModel(root: string, label: string): TreeModel {
  const r = spawnSync('python3', [WALKER, root], { encoding: 'utf8', maxBuffer: 1 << 30, timeout: 600_000 });
  if (r.error) throw new Error(`python3 walk_tree.py ${root}: ${r.error.message}`);
  if (r.status !== 0) throw new Error(`python3 walk_tree.py ${root} exited ${r.status ?? r.signal}: ${r.stderr.trim()}`);
  const doc = JSON.parse(r.stdout) as { entries: WalkerEntry[] };
  return fromWalker(doc.entries, label);
}

export function fromWalker(list: WalkerEntry[], label: string): TreeModel {
  const entries = new Map<string, EntryModel>();
  const errors: string[] = [];
  for (const w of list) {
    const key = bytesKey(fromHex(w.path));
    const errs = w.errors ?? {};
    const err = (field: string): string | undefined => (errs[field] === undefined ? undefined : `error: ${errs[field]}`);
    if (errs['readdir'] !== undefined) errors.push(`${key}: cannot list the directory: ${errs['readdir']}`);
    // Sorted: listxattr's order is the image's, not something two models must share.
    const xattrErrors = Object.entries(errs)
      .filter(([k]) => k === 'xattrs' || k.startsWith('xattr '))
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    const hasSize = w.type === 'reg' || w.type === 'lnk';
    entries.set(key, {
      type: w.type,
      mode: w.mode,
      uid: w.uid,
      gid: w.gid,
      size: hasSize ? w.size : undefined,
      mtime: w.mtime,
      mtimeNsec: w.mtime_nsec,
      target: w.type === 'lnk' ? (err('target') ?? bytesKey(fromHex(w.target ?? ''))) : undefined,
      rdev: w.rdev ? `${w.rdev[0]}:${w.rdev[1]}` : undefined,
      nlink: w.nlink,
      ino: w.ino,
      xattrs:
        xattrErrors.length > 0
          ? `error: ${xattrErrors.map(([k, v]) => `${k}: ${v}`).join('; ')}`
          : w.xattrs.map(([n, v]): [string, string] => [bytesKey(fromHex(n)), v]).sort(comparePairs),
      sha256: w.type === 'reg' ? (err('sha256') ?? w.sha256) : undefined,
    });
  }
  return { label, entries, errors };
}

function comparePairs(a: [string, string], b: [string, string]): number {
  return a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0;
}

/* ---------------------------------------------------------------- erofs-kit's reader */

const SLASH = 0x2f;

function joinParts(parts: Uint8Array[]): Uint8Array {
  if (parts.length === 0) return Uint8Array.of(SLASH);
  const len = parts.reduce((n, p) => n + 1 + p.length, 0);
  const out = new Uint8Array(len);
  let o = 0;
  for (const p of parts) {
    out[o++] = SLASH;
    out.set(p, o);
    o += p.length;
  }
  return out;
}

interface PerInode {
  target: string | undefined;
  xattrs: [string, string][] | string;
  sha256: string | undefined;
}

/** What walk_tree.py reports when getxattr fails with ENODATA. */
const ENODATA_TEXT = 'getxattr: No data available (errno 61)';

async function inodeData(img: ErofsImage, ino: Inode, type: FileType): Promise<PerInode> {
  let xattrs: PerInode['xattrs'];
  try {
    const visible = (await img.xattrs(ino)).filter((x) => x.kernelVisible);
    // The VFS lists user.* names of inodes other than regular files and directories but
    // refuses to read them (fs/xattr.c, xattr_permission: ENODATA), and the walker reports
    // that error instead of the xattrs: the reader's model predicts the same.
    const refused = type === 'reg' || type === 'dir' ? [] : visible.filter((x) => x.name.startsWith('user.'));
    xattrs =
      refused.length > 0
        ? `error: ${refused
            .map((x) => `xattr ${toHex(new TextEncoder().encode(x.name))}`)
            .sort()
            .map((k) => `${k}: ${ENODATA_TEXT}`)
            .join('; ')}`
        : visible.map((x): [string, string] => [bytesKey(new TextEncoder().encode(x.name)), toHex(x.value)]).sort(comparePairs);
  } catch (e) {
    xattrs = `error: ${describeError(e)}`;
  }
  let target: string | undefined;
  if (type === 'lnk') {
    try {
      target = bytesKey(await img.readlink(ino));
    } catch (e) {
      target = `error: ${describeError(e)}`;
    }
  }
  let sha256: string | undefined;
  if (type === 'reg') {
    try {
      const h = createHash('sha256');
      for await (const piece of img.stream(ino)) h.update(piece);
      sha256 = h.digest('hex');
    } catch (e) {
      sha256 = `error: ${describeError(e)}`;
    }
  }
  return { target, xattrs, sha256 };
}

/** Builds the model of `img` as erofs-kit's reader reports it (walk, stream, readlink, xattrs). */
export async function readerModel(img: ErofsImage, label = 'reader'): Promise<TreeModel> {
  const entries = new Map<string, EntryModel>();
  const errors: string[] = [];
  const perNid = new Map<number, PerInode>();
  let lastPath = '/';
  try {
    for await (const ent of walk(img)) {
      const ino = ent.inode;
      const key = bytesKey(joinParts(ent.parts));
      lastPath = key;
      const type = typeOfMode(ino.mode);
      let data = perNid.get(ino.nid);
      if (!data) {
        data = await inodeData(img, ino, type);
        perNid.set(ino.nid, data);
      }
      if (entries.has(key)) errors.push(`${key}: the reader returned this path twice`);
      entries.set(key, {
        type,
        mode: ino.mode,
        uid: ino.uid,
        gid: ino.gid,
        size: type === 'reg' || type === 'lnk' ? ino.size : undefined,
        mtime: ino.mtime,
        mtimeNsec: ino.mtimeNsec,
        target: data.target,
        rdev: ino.rdev ? `${ino.rdev.major}:${ino.rdev.minor}` : undefined,
        nlink: ino.nlink,
        ino: ino.nid,
        xattrs: data.xattrs,
        sha256: data.sha256,
      });
    }
  } catch (e) {
    errors.push(`the walk stopped after ${lastPath}: ${describeError(e)}`);
  }
  return { label, entries, errors };
}
