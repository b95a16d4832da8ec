/**
 * The in-memory tree that image writers lay out: one object per inode (hard links are the
 * same object under several names), built by the tar-index builder now and by the directory
 * and composefs builders later.
 */

import type { ByteSource } from '../io/source.js';

/** Where a regular file's bytes come from. */
export type FileData =
  /** No data (size 0). */
  | { kind: 'empty' }
  /**
   * Chunks on an extra device (the layer tar): logical ranges, each `length` bytes at byte
   * `offset` of device `device` (1-based). Ranges not covered are holes.
   */
  | { kind: 'device'; device: number; ranges: DeviceRange[] }
  /**
   * The whole file in one piece on an extra device: `size` bytes at byte `offset` of device
   * `device`. What `device` with one range from logical 0 says, in one object instead of three
   * (a layer of small files has one per file).
   */
  | { kind: 'extent'; device: number; offset: number }
  /**
   * Bytes copied into the image when it is written (full images): the file's `size` bytes at
   * byte `offset` of `input` (a layer tar, a file of a directory tree).
   */
  | { kind: 'input'; input: ByteSource; offset: number }
  /** Bytes copied into the image itself (sparse files that cannot be referenced in place). */
  | { kind: 'copy'; ranges: CopyRange[] };

export interface DeviceRange {
  logical: number;
  length: number;
  /** Byte offset on the device (a multiple of the block size). */
  offset: number;
}

export interface CopyRange {
  logical: number;
  bytes: Uint8Array;
}

export interface TreeNode {
  /** Full st_mode: file type and permission bits. */
  mode: number;
  uid: number;
  gid: number;
  mtime: number;
  mtimeNsec: number;
  /** Regular files: logical size; symlinks: target length; others 0 (directories are sized by the writer). */
  size: number;
  rdevMajor: number;
  rdevMinor: number;
  xattrs: Map<string, Uint8Array>;
  /** Symlink target bytes. */
  target?: Uint8Array;
  data?: FileData;
  /** Directories: children by name (key = name bytes as a latin1 string, to keep bytes exact). */
  children?: Map<string, TreeNode>;
}

import { S_IFDIR, S_IFMT } from '../erofs/format.js';
export { S_IFBLK, S_IFCHR, S_IFDIR, S_IFIFO, S_IFLNK, S_IFMT, S_IFREG, S_IFSOCK } from '../erofs/format.js';

export function isDir(n: TreeNode): boolean {
  return (n.mode & S_IFMT) === S_IFDIR;
}

/**
 * A Map that is always empty and refuses to change: shared by the many tree nodes and tar
 * entries without xattrs (a layer of 200,000 files would otherwise allocate 200,000 empty
 * Maps per stage for the collector to trace). Code that needs to add xattrs to a node gives
 * it a Map of its own first.
 */
class EmptyXattrMap extends Map<string, Uint8Array> {
  override set(): this {
    throw new TypeError('the shared empty xattr map cannot change: give the node its own Map');
  }
  override delete(): boolean {
    throw new TypeError('the shared empty xattr map cannot change: give the node its own Map');
  }
  override clear(): void {
    throw new TypeError('the shared empty xattr map cannot change: give the node its own Map');
  }
}

export const NO_XATTRS: Map<string, Uint8Array> = new EmptyXattrMap();

/** Latin-1 key of name bytes: a lossless string form for Map keys. */
export function nameKey(name: Uint8Array): string {
  return nameKeyOf(name, 0, name.length);
}

const fc = String.fromCharCode;

/**
 * {@link nameKey} of `b[start, end)`. Up to 16 bytes (most names) in one call of fixed arity:
 * `String.fromCharCode.apply` over a typed array goes through a generic slow path that costs
 * several times more, and on a layer of 200,000 files it runs for every one of them.
 */
export function nameKeyOf(b: Uint8Array, start: number, end: number): string {
  const i = start;
  switch (end - start) {
    case 0: return '';
    case 1: return fc(b[i]!);
    case 2: return fc(b[i]!, b[i + 1]!);
    case 3: return fc(b[i]!, b[i + 1]!, b[i + 2]!);
    case 4: return fc(b[i]!, b[i + 1]!, b[i + 2]!, b[i + 3]!);
    case 5: return fc(b[i]!, b[i + 1]!, b[i + 2]!, b[i + 3]!, b[i + 4]!);
    case 6: return fc(b[i]!, b[i + 1]!, b[i + 2]!, b[i + 3]!, b[i + 4]!, b[i + 5]!);
    case 7: return fc(b[i]!, b[i + 1]!, b[i + 2]!, b[i + 3]!, b[i + 4]!, b[i + 5]!, b[i + 6]!);
    case 8: return fc(b[i]!, b[i + 1]!, b[i + 2]!, b[i + 3]!, b[i + 4]!, b[i + 5]!, b[i + 6]!, b[i + 7]!);
    case 9: return fc(b[i]!, b[i + 1]!, b[i + 2]!, b[i + 3]!, b[i + 4]!, b[i + 5]!, b[i + 6]!, b[i + 7]!, b[i + 8]!);
    case 10: return fc(b[i]!, b[i + 1]!, b[i + 2]!, b[i + 3]!, b[i + 4]!, b[i + 5]!, b[i + 6]!, b[i + 7]!, b[i + 8]!, b[i + 9]!);
    case 11: return fc(b[i]!, b[i + 1]!, b[i + 2]!, b[i + 3]!, b[i + 4]!, b[i + 5]!, b[i + 6]!, b[i + 7]!, b[i + 8]!, b[i + 9]!, b[i + 10]!);
    case 12: return fc(b[i]!, b[i + 1]!, b[i + 2]!, b[i + 3]!, b[i + 4]!, b[i + 5]!, b[i + 6]!, b[i + 7]!, b[i + 8]!, b[i + 9]!, b[i + 10]!, b[i + 11]!);
    case 13: return fc(b[i]!, b[i + 1]!, b[i + 2]!, b[i + 3]!, b[i + 4]!, b[i + 5]!, b[i + 6]!, b[i + 7]!, b[i + 8]!, b[i + 9]!, b[i + 10]!, b[i + 11]!, b[i + 12]!);
    case 14: return fc(b[i]!, b[i + 1]!, b[i + 2]!, b[i + 3]!, b[i + 4]!, b[i + 5]!, b[i + 6]!, b[i + 7]!, b[i + 8]!, b[i + 9]!, b[i + 10]!, b[i + 11]!, b[i + 12]!, b[i + 13]!);
    case 15: return fc(b[i]!, b[i + 1]!, b[i + 2]!, b[i + 3]!, b[i + 4]!, b[i + 5]!, b[i + 6]!, b[i + 7]!, b[i + 8]!, b[i + 9]!, b[i + 10]!, b[i + 11]!, b[i + 12]!, b[i + 13]!, b[i + 14]!);
    case 16: return fc(b[i]!, b[i + 1]!, b[i + 2]!, b[i + 3]!, b[i + 4]!, b[i + 5]!, b[i + 6]!, b[i + 7]!, b[i + 8]!, b[i + 9]!, b[i + 10]!, b[i + 11]!, b[i + 12]!, b[i + 13]!, b[i + 14]!, b[i + 15]!);
  }
  // Longer names: one call builds a flat string (a += loop builds a rope that every later
  // comparison has to flatten); in pieces of 4096 beyond that.
  if (end - start <= 4096) return fc.apply(null, b.subarray(start, end) as unknown as number[]);
  let s = '';
  for (let k = start; k < end; k += 4096) s += fc.apply(null, b.subarray(k, Math.min(end, k + 4096)) as unknown as number[]);
  return s;
}

export function keyBytes(key: string): Uint8Array {
  const b = new Uint8Array(key.length);
  for (let i = 0; i < key.length; i++) b[i] = key.charCodeAt(i);
  return b;
}

export function newDir(attrs: Partial<TreeNode> = {}): TreeNode {
  return {
    mode: S_IFDIR | 0o755,
    uid: 0,
    gid: 0,
    mtime: 0,
    mtimeNsec: 0,
    size: 0,
    rdevMajor: 0,
    rdevMinor: 0,
    xattrs: new Map(),
    children: new Map(),
    ...attrs,
  };
}
