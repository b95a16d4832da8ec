/**
 * One opened image, as the editor sees it: path strings in, inodes and directory listings
 * out. Everything is lazy: opening reads the superblock only, a listing reads one directory,
 * a lookup reads the directories on its path (binary search, as the kernel does). No VS Code
 * API here, so unit tests and the web build share it.
 */
import { ErofsError, ErofsImage, format, isDotOrDotDot, textDecoder, type ByteSource, type DirEntry, type Inode } from '@erofs-kit/core';
import { joinParts, nameToString, pathParts, stringToNames } from './names.js';

export type ImageKind = 'erofs' | 'tar';

/** The values of vscode.FileType, so the provider passes them on as they are. */
export const EntryType = { Unknown: 0, File: 1, Directory: 2, SymbolicLink: 64 } as const;
export type EntryType = (typeof EntryType)[keyof typeof EntryType];

export interface ListedEntry {
  name: string;
  type: EntryType;
  nid: number;
}

export interface Resolved {
  ino: Inode;
  /** Canonical path of the inode reached (after symlinks, when followed). */
  path: string;
  /** The path named a symlink (before following). */
  viaSymlink: boolean;
}

const { S_IFMT, S_IFDIR, S_IFLNK, S_IFREG } = format;
const FT_DIR = 2;
const FT_SYMLINK = 7;
const FT_REG = 1;
const MAX_SYMLINK_HOPS = 40;
const LOOKUP_CACHE = 8192;

export function typeOfMode(mode: number): EntryType {
  switch (mode & S_IFMT) {
    case S_IFDIR:
      return EntryType.Directory;
    case S_IFLNK:
      return EntryType.SymbolicLink;
    case S_IFREG:
      return EntryType.File;
    default:
      return EntryType.Unknown;
  }
}

function typeOfDirent(d: DirEntry): EntryType {
  if (d.fileType === FT_DIR) return EntryType.Directory;
  if (d.fileType === FT_SYMLINK) return EntryType.SymbolicLink;
  if (d.fileType === FT_REG) return EntryType.File;
  return EntryType.Unknown;
}

export interface OpenedImageInit {
  id: string;
  /** What the user calls it (the file's name). */
  label: string;
  /** For messages: the file path or URI. */
  name: string;
  kind: ImageKind;
  image: ErofsImage;
  /** Closed with the image. */
  sources: ByteSource[];
  /** Where extra devices came from, for the view ("beside the image", "appended", a chosen file). */
  deviceNotes?: string[];
}

export class OpenedImage {
  readonly id: string;
  readonly label: string;
  readonly name: string;
  readonly kind: ImageKind;
  readonly image: ErofsImage;
  readonly deviceNotes: string[];
  private readonly sources: ByteSource[];
  private readonly byPath = new Map<string, number>();

  constructor(init: OpenedImageInit) {
    this.id = init.id;
    this.label = init.label;
    this.name = init.name;
    this.kind = init.kind;
    this.image = init.image;
    this.sources = init.sources;
    this.deviceNotes = init.deviceNotes ?? [];
  }

  /**
   * The inode at `path` (`/`-separated, relative to the root). Symlinks in the middle of the
   * path are followed inside the image; the last one only when `follow` is set.
   */
  async resolve(path: string, follow = true): Promise<Resolved> {
    let parts = pathParts(path);
    let hops = 0;
    let viaSymlink = false;
    for (;;) {
      const walked: string[] = [];
      let ino = await this.image.root();
      let restart: string[] | undefined;
      for (let i = 0; i < parts.length; i++) {
        const part = parts[i]!;
        if (part === '..') {
          walked.pop();
          ino = await this.lookupCached(walked);
          continue;
        }
        if ((ino.mode & S_IFMT) !== S_IFDIR) {
          throw new ErofsError('not-a-directory', `${joinParts(walked)} is not a directory`, { path: joinParts(walked), offset: ino.offset });
        }
        const child = await this.child(ino, walked, part);
        const last = i === parts.length - 1;
        if ((child.mode & S_IFMT) === S_IFLNK && (!last || follow)) {
          if (++hops > MAX_SYMLINK_HOPS) {
            throw new ErofsError('loop', `${joinParts([...walked, part])}: more than ${MAX_SYMLINK_HOPS} symbolic links`, { path: joinParts([...walked, part]) });
          }
          viaSymlink = true;
          const target = textDecoder.decode(await this.image.readlink(child));
          const base = target.startsWith('/') ? [] : walked;
          restart = [...base, ...pathParts(target), ...parts.slice(i + 1)];
          break;
        }
        walked.push(part);
        ino = child;
      }
      if (restart) {
        parts = restart;
        continue;
      }
      return { ino, path: joinParts(walked), viaSymlink };
    }
  }

  private async lookupCached(parts: string[]): Promise<Inode> {
    let ino = await this.image.root();
    const walked: string[] = [];
    for (const p of parts) {
      ino = await this.child(ino, walked, p);
      walked.push(p);
    }
    return ino;
  }

  /** One component below `dir`; lookups are remembered by path (a bounded map). */
  private async child(dir: Inode, walked: string[], part: string): Promise<Inode> {
    const key = joinParts([...walked, part]);
    const hit = this.byPath.get(key);
    if (hit !== undefined) return this.image.inode(hit);
    let found: DirEntry | undefined;
    for (const bytes of stringToNames(part)) {
      found = await this.image.lookupIn(dir, bytes);
      if (found) break;
    }
    if (!found) throw new ErofsError('not-found', `${key}: no such file or directory`, { path: key });
    if (this.byPath.size >= LOOKUP_CACHE) this.byPath.delete(this.byPath.keys().next().value!);
    this.byPath.set(key, found.nid);
    return this.image.inode(found.nid);
  }

  /** One directory's entries (not `.` and `..`), types from the dirents: no inode is read per entry. */
  async list(path: string): Promise<ListedEntry[]> {
    const { ino, path: canonical } = await this.resolve(path);
    if ((ino.mode & S_IFMT) !== S_IFDIR) {
      throw new ErofsError('not-a-directory', `${canonical} is not a directory`, { path: canonical, offset: ino.offset });
    }
    const out: ListedEntry[] = [];
    for (const d of await this.image.readdir(ino, canonical)) {
      if (isDotOrDotDot(d.name)) continue;
      out.push({ name: nameToString(d.name), type: typeOfDirent(d), nid: d.nid });
    }
    return out;
  }

  async close(): Promise<void> {
    for (const s of this.sources) await s.close?.();
  }
}
