/**
 * The tree a composefs image is written from: what a composefs dump line says about a file
 * (composefs-dump(5)), one object per inode. It differs from the full-image tree
 * (../tree/node.ts) where composefs differs: a regular file has inline `content` or names a
 * backing object (`payload`, `digest`); `nlink` is given, not counted; a hard link is an
 * entry of its own that points at its target (`linkTo`), as in a dump file, so the inode
 * sits where its primary entry is.
 */

export interface CfsNode {
  /** Full st_mode: type and permission bits. */
  mode: number;
  uid: number;
  gid: number;
  /** Link count written for non-directories (directories get 2 + subdirectories). */
  nlink: number;
  /** Seconds since the epoch (may exceed 2^32), and nanoseconds. */
  mtime: number;
  mtimeNsec: number;
  /** Regular files: size in bytes; symlinks: target length; others 0. */
  size: number;
  /** Device number: the low 32 bits of the dev_t (glibc encoding), what the image stores. */
  rdev: number;
  /** Xattrs by name; names are latin1 keys of their bytes. */
  xattrs: Map<string, Uint8Array>;
  /** Symlinks: the target; regular files: the backing object's path in the store (`xx/yyyy…`). */
  payload?: Uint8Array;
  /** Regular files stored in the image itself (at most 5000 bytes). */
  content?: Uint8Array;
  /** fs-verity SHA-256 digest of the backing object (32 bytes). */
  digest?: Uint8Array;
  /** Directories: entries by name (latin1 key of the name bytes). */
  children?: Map<string, CfsNode>;
  /** A hard link: this entry is another name of `linkTo` (whose own fields count). */
  linkTo?: CfsNode;
}

/** A new directory node. */
export function cfsDir(attrs: Partial<CfsNode> = {}): CfsNode {
  return { mode: 0o040755, uid: 0, gid: 0, nlink: 2, mtime: 0, mtimeNsec: 0, size: 0, rdev: 0, xattrs: new Map(), children: new Map(), ...attrs };
}

/** The low 32 bits of glibc's makedev(major, minor) (for majors below 4096, Linux's new_encode_dev). */
export function makeDev(major: number, minor: number): number {
  return (((major & 0xfff) << 8) | (minor & 0xff) | ((minor & ~0xff) << 12)) >>> 0;
}

/** The object path of a digest in a store: `xx/yyyy…` (lower-case hex split after one byte). */
export function digestPath(digest: Uint8Array): string {
  let s = '';
  for (let i = 0; i < digest.length; i++) {
    if (i === 1) s += '/';
    s += digest[i]!.toString(16).padStart(2, '0');
  }
  return s;
}
