/**
 * The composefs image writer: an EROFS image that holds only metadata, laid out exactly as
 * composefs 1.0.8's mkcomposefs lays it out, so the same input gives the same bytes (and the
 * same image digest) with either tool. ADR 0018 says why this is a layout of its own rather
 * than an option of the general writer (../erofs/writer.ts): every rule below differs.
 *
 * The steps, each a pure function of the tree:
 *  1. format version: the lowest in [min, max] the input needs (1 for whiteouts);
 *  2. rewrite for overlayfs: input `trusted.overlay.*` xattrs escaped, external files get
 *     `metacopy` and `redirect`, whiteouts (char 0/0) become empty files marked by xattrs,
 *     the root gets `opaque=y` and the 256 `00`…`ff` stubs that hide a store's fan-out;
 *  3. order: inodes breadth first, entries by name bytes, xattrs by name;
 *  4. shared xattrs: every (name, value) on two or more inodes, the table sorted descending;
 *  5. place: inodes from byte 1152 in 32-byte slots, padded so an inline tail never crosses
 *     a block; the shared table right after; then data blocks in inode order;
 *  6. write through the structure tables.
 */
import { ErofsError } from '../errors.js';
import { encode } from '../layout/struct.js';
import {
  CHUNK_FORMAT_BLKBITS_MASK,
  DataLayout,
  EROFS_SUPER_MAGIC,
  EROFS_SUPER_OFFSET,
  XATTR_FILTER_SEED,
  dirent,
  fileTypeOfMode,
  inodeCompact,
  inodeExtended,
  superBlock,
  xattrEntry,
  xattrIbodyHeader,
  S_IFBLK,
  S_IFCHR,
  S_IFDIR,
  S_IFLNK,
  S_IFMT,
  S_IFREG,
} from '../erofs/format.js';
import { COMPAT_MTIME, COMPAT_XATTR_FILTER } from '../erofs/features.js';
import { xxh32 } from '../erofs/xxhash.js';
import { keyBytes, nameKey } from '../tree/node.js';
import {
  COMPOSEFS_FLAG_HAS_ACL,
  COMPOSEFS_HEADER_VERSION,
  COMPOSEFS_MAGIC,
  DIGEST_SIZE,
  MAX_CHUNKS,
  MAX_SHARED_PER_INODE,
  METACOPY_ALG_SHA256,
  METACOPY_SIZE,
  NAME_MAX,
  OVERLAY_ESCAPED_OPAQUE,
  OVERLAY_ESCAPED_PREFIX,
  OVERLAY_ESCAPED_WHITEOUT,
  OVERLAY_ESCAPED_WHITEOUTS,
  OVERLAY_METACOPY,
  OVERLAY_OPAQUE,
  OVERLAY_PREFIX,
  OVERLAY_REDIRECT,
  OVERLAY_USER_OPAQUE,
  OVERLAY_USER_WHITEOUT,
  OVERLAY_USER_WHITEOUTS,
  PAYLOAD_MAX,
  composefsHeader,
} from './format.js';
import type { CfsNode } from './node.js';

export interface ComposefsWriteOptions {
  /** Lowest format version to write (default 0). */
  minVersion?: number;
  /** Highest format version the input may raise it to (default 1; never below minVersion). */
  maxVersion?: number;
}

export interface ComposefsWriteResult {
  image: Uint8Array;
  /** The format version written (composefs_version in the header). */
  version: number;
  /** Inodes in the image, the 256 root stubs included. */
  inodes: number;
  rootNid: number;
}

const BLKSZ = 4096;
const BLKBITS = 12;
const SLOT = 32;
const HALF_BLOCK = BLKSZ / 2;

/** One inode being laid out (or, for `.`, `..` and hard links, an entry naming one). */
interface W {
  mode: number;
  uid: number;
  gid: number;
  nlink: number;
  mtime: number;
  mtimeNsec: number;
  size: number;
  rdev: number;
  /** Xattrs by latin1 name key; sorted by name once the tree is final. */
  xattrs: Map<string, Uint8Array>;
  payload: Uint8Array | undefined;
  content: Uint8Array | undefined;
  digest: Uint8Array | undefined;
  /** Directories: entries (names as latin1 keys), `.`/`..` added before ordering. */
  entries: Entry[] | undefined;
  parent: W | undefined;
  path: string;
  // ---- layout ----
  ino: number;
  /** Sorted xattrs, each with its shared table offset (-1: stored inline). */
  xlist: { key: string; value: Uint8Array; shared: number }[];
  compact: boolean;
  xattrSize: number;
  nBlocks: number;
  tail: number;
  pad: number;
  nid: number;
  blkaddr: number;
}

interface Entry {
  name: string;
  node: W;
  /** An entry that adds no inode: `.`, `..` or a hard link. */
  link: boolean;
}

/** Writes `root` as a composefs image. */
export function writeComposefs(root: CfsNode, opts: ComposefsWriteOptions = {}): ComposefsWriteResult {
  const minVersion = opts.minVersion ?? 0;
  let maxVersion = opts.maxVersion ?? 1;
  for (const v of [minVersion, maxVersion]) {
    if (!Number.isInteger(v) || v < 0 || v > 1) throw new ErofsError('invalid-value', `composefs format version ${v} out of range [0, 1]`);
  }
  if (maxVersion < minVersion) maxVersion = minVersion;
  if ((root.mode & S_IFMT) !== S_IFDIR || root.linkTo) throw new ErofsError('invalid-value', 'the root of a composefs image must be a directory', { path: '/' });
  const version = minVersion < 1 && maxVersion >= 1 && hasWhiteout(root) ? 1 : minVersion;

  const top = rewrite(root, version);
  const order = breadthFirst(top);
  const L = layOut(order);
  return { image: emit(order, L, version), version, inodes: order.length, rootNid: top.nid };
}

/** Whether any inode of the tree is a whiteout (char device 0/0): what needs version 1. */
function hasWhiteout(n: CfsNode, seen = new Set<CfsNode>()): boolean {
  if (seen.has(n)) return false;
  seen.add(n);
  if ((n.mode & S_IFMT) === S_IFCHR && n.rdev === 0) return true;
  for (const c of n.children?.values() ?? []) if (!c.linkTo && hasWhiteout(c, seen)) return true;
  return false;
}

const td = new TextDecoder();

function displayPath(parent: string, name: string): string {
  return (parent === '/' ? '/' : parent + '/') + td.decode(keyBytes(name));
}

function fresh(n: CfsNode, parent: W | undefined, path: string): W {
  return {
    mode: n.mode,
    uid: n.uid,
    gid: n.gid,
    nlink: n.nlink,
    mtime: n.mtime,
    mtimeNsec: n.mtimeNsec,
    size: n.size,
    rdev: n.rdev,
    xattrs: new Map(n.xattrs),
    payload: n.payload,
    content: n.content,
    digest: n.digest,
    entries: undefined,
    parent,
    path,
    ino: 0,
    xlist: [],
    compact: false,
    xattrSize: 0,
    nBlocks: 0,
    tail: 0,
    pad: 0,
    nid: 0,
    blkaddr: 0,
  };
}

const enc = new TextEncoder();
const key = (s: string): string => nameKey(enc.encode(s));
const K_METACOPY = key(OVERLAY_METACOPY);
const K_REDIRECT = key(OVERLAY_REDIRECT);
const K_OPAQUE = key(OVERLAY_OPAQUE);
const K_PREFIX = key(OVERLAY_PREFIX);
const K_ESCAPED_PREFIX = key(OVERLAY_ESCAPED_PREFIX);
const K_ESC_WHITEOUT = key(OVERLAY_ESCAPED_WHITEOUT);
const K_ESC_WHITEOUTS = key(OVERLAY_ESCAPED_WHITEOUTS);
const K_ESC_OPAQUE = key(OVERLAY_ESCAPED_OPAQUE);
const K_USER_WHITEOUT = key(OVERLAY_USER_WHITEOUT);
const K_USER_WHITEOUTS = key(OVERLAY_USER_WHITEOUTS);
const K_USER_OPAQUE = key(OVERLAY_USER_OPAQUE);
const K_SELINUX = key('security.selinux');
const K_ACL_ACCESS = key('system.posix_acl_access');
const K_ACL_DEFAULT = key('system.posix_acl_default');
const EMPTY = new Uint8Array(0);
const X = enc.encode('x');
const Y = enc.encode('y');
const SLASH = 0x2f;

/**
 * Step 2: a copy of the tree rewritten for overlayfs, hard links resolved, the root's
 * opaque marker and stubs added. Returns the root.
 */
function rewrite(root: CfsNode, version: number): W {
  const made = new Map<CfsNode, W>();
  const links: { entry: Entry; target: CfsNode; where: string }[] = [];
  const top = fresh(root, undefined, '/');
  top.parent = top;
  made.set(root, top);
  const stack: [CfsNode, W][] = [[root, top]];
  while (stack.length > 0) {
    const [src, w] = stack.pop()!;
    adapt(w, version);
    if ((src.mode & S_IFMT) !== S_IFDIR) {
      if (src.children && src.children.size > 0) throw new ErofsError('invalid-value', `${w.path}: only directories have entries`, { path: w.path });
      continue;
    }
    const entries: Entry[] = [];
    const kids: [CfsNode, W][] = [];
    for (const [name, child] of src.children ?? []) {
      const where = displayPath(w.path, name);
      checkName(name, where);
      if (child.linkTo) {
        if ((child.mode & S_IFMT) === S_IFDIR) throw new ErofsError('invalid-value', `${where}: a directory cannot be a hard link`, { path: where });
        const entry: Entry = { name, node: w, link: true };
        entries.push(entry);
        links.push({ entry, target: child.linkTo, where });
        continue;
      }
      if (made.has(child)) throw new ErofsError('invalid-value', `${where}: the same node under two names (hard links are entries with linkTo)`, { path: where });
      const cw = fresh(child, w, where);
      made.set(child, cw);
      entries.push({ name, node: cw, link: false });
      kids.push([child, cw]);
    }
    w.entries = entries;
    // Depth first, children in name order (the order only matters for error messages).
    kids.sort((a, b) => (a[1].path < b[1].path ? 1 : -1));
    for (const k of kids) stack.push(k);
  }
  for (const { entry, target, where } of links) {
    let t = target;
    const seen = new Set<CfsNode>();
    while (t.linkTo) {
      if (seen.has(t)) throw new ErofsError('loop', `${where}: hard link cycle`, { path: where });
      seen.add(t);
      t = t.linkTo;
    }
    const w = made.get(t);
    if (!w) throw new ErofsError('not-found', `${where}: hard link to an inode outside the tree`, { path: where });
    if ((w.mode & S_IFMT) === S_IFDIR) throw new ErofsError('invalid-value', `${where}: a hard link to a directory`, { path: where });
    entry.node = w;
  }
  top.xattrs.set(K_OPAQUE, Y);
  addStubs(top);
  return top;
}

function checkName(name: string, where: string): void {
  if (name.length === 0 || name.length > NAME_MAX || name === '.' || name === '..' || name.includes('/') || name.includes('\0')) {
    throw new ErofsError('invalid-value', `${where}: invalid name (empty, '.', '..', longer than ${NAME_MAX} bytes, or with '/' or NUL)`, { path: where });
  }
}

/** The overlayfs view of one inode: escaping, metacopy and redirect, whiteouts. */
function adapt(w: W, version: number): void {
  const type = w.mode & S_IFMT;
  if (w.xattrs.size > 0) {
    let escaped = false;
    for (const k of w.xattrs.keys()) if (k.startsWith(K_PREFIX)) escaped = true;
    if (escaped) {
      const renamed = new Map<string, Uint8Array>();
      for (const [k, v] of w.xattrs) renamed.set(k.startsWith(K_PREFIX) ? K_ESCAPED_PREFIX + k.slice(K_PREFIX.length) : k, v);
      w.xattrs = renamed;
    }
  }
  if (type === S_IFLNK) {
    if (!w.payload || w.payload.length === 0 || w.payload.length > PAYLOAD_MAX || w.payload.includes(0)) {
      throw new ErofsError('invalid-value', `${w.path}: a symlink target must be 1..${PAYLOAD_MAX} bytes without NUL`, { path: w.path });
    }
    w.size = w.payload.length;
  }
  if (type === S_IFREG) {
    if (w.content) {
      if (w.content.length !== w.size) throw new ErofsError('invalid-value', `${w.path}: ${w.content.length} bytes of content for a size of ${w.size}`, { path: w.path });
      if (w.size === 0) w.content = undefined;
    } else if (w.size > 0) {
      if (chunking(w.size).count > MAX_CHUNKS) throw new ErofsError('too-large', `${w.path}: ${w.size} bytes is too large for a composefs file`, { path: w.path });
      let meta = EMPTY;
      if (w.digest) {
        if (w.digest.length !== DIGEST_SIZE) throw new ErofsError('invalid-value', `${w.path}: a digest of ${w.digest.length} bytes (SHA-256: ${DIGEST_SIZE})`, { path: w.path });
        meta = new Uint8Array(METACOPY_SIZE);
        meta[1] = METACOPY_SIZE;
        meta[3] = METACOPY_ALG_SHA256;
        meta.set(w.digest, 4);
      }
      w.xattrs.set(K_METACOPY, meta);
      if (w.payload && w.payload.length > 0) {
        if (w.payload.includes(0) || w.payload.length > PAYLOAD_MAX) throw new ErofsError('invalid-value', `${w.path}: a payload must be at most ${PAYLOAD_MAX} bytes without NUL`, { path: w.path });
        const r = new Uint8Array(w.payload.length + 1);
        r[0] = SLASH;
        r.set(w.payload, 1);
        w.xattrs.set(K_REDIRECT, r);
      }
    }
  }
  if (type === S_IFCHR && w.rdev === 0 && w.parent) {
    // A whiteout: an empty file marked as one for a further overlay, its directory too.
    w.size = 0;
    w.mode = S_IFREG | (w.mode & ~S_IFMT);
    w.content = undefined;
    w.xattrs.set(K_ESC_WHITEOUT, EMPTY);
    w.xattrs.set(K_USER_WHITEOUT, EMPTY);
    const p = w.parent;
    p.xattrs.set(K_ESC_WHITEOUTS, EMPTY);
    p.xattrs.set(K_USER_WHITEOUTS, EMPTY);
    if (version >= 1) {
      p.xattrs.set(K_ESC_OPAQUE, X);
      p.xattrs.set(K_USER_OPAQUE, X);
    }
  }
  if (type !== S_IFCHR && type !== S_IFBLK) w.rdev = 0;
  for (const [k, v] of w.xattrs) {
    if (k.length === 0 || k.length > 255 || k.includes('\0')) throw new ErofsError('invalid-value', `${w.path}: an xattr name must be 1..255 bytes without NUL`, { path: w.path });
    if (v.length > 0xffff) throw new ErofsError('too-large', `${w.path}: xattr value of ${v.length} bytes exceeds 65535`, { path: w.path });
  }
}

/**
 * The 256 entries `00`…`ff` in the root: char 0/0 (whiteouts for overlayfs) with the root's
 * owner, mtime and SELinux label, so that a store used as a plain lower layer shows nothing.
 * A name the root already has is left alone.
 */
function addStubs(root: W): void {
  const have = new Set(root.entries!.map((e) => e.name));
  const label = root.xattrs.get(K_SELINUX);
  for (let i = 0; i < 256; i++) {
    const name = i.toString(16).padStart(2, '0');
    if (have.has(name)) continue;
    const stub = fresh(
      { mode: S_IFCHR | 0o644, uid: root.uid, gid: root.gid, nlink: 1, mtime: root.mtime, mtimeNsec: root.mtimeNsec, size: 0, rdev: 0, xattrs: new Map() },
      root,
      '/' + name,
    );
    if (label) stub.xattrs.set(K_SELINUX, label);
    root.entries!.push({ name, node: stub, link: false });
  }
}

/**
 * Step 3: inodes breadth first, each directory's entries (`.` and `..` included) in name
 * byte order, xattrs in name order; directory link counts are 2 + subdirectories.
 */
function breadthFirst(root: W): W[] {
  const order: W[] = [root];
  for (let i = 0; i < order.length; i++) {
    const w = order[i]!;
    w.ino = i;
    w.xattrs = new Map([...w.xattrs].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
    if (!w.entries) continue;
    w.entries.push({ name: '.', node: w, link: true }, { name: '..', node: w.parent!, link: true });
    w.entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    let nlink = 2;
    for (const e of w.entries) {
      if (e.link) continue;
      if ((e.node.mode & S_IFMT) === S_IFDIR) nlink++;
      order.push(e.node);
    }
    w.nlink = nlink;
  }
  return order;
}

interface Layout {
  minSec: number;
  minNsec: number;
  hasAcl: boolean;
  shared: { key: string; value: Uint8Array }[];
  sharedSize: number;
  inodesEnd: number;
  dataStart: number;
  dataBlocks: number;
}

/** Name index and suffix bytes of an xattr name, with composefs's prefix table. */
function splitName(k: string): { index: number; suffix: Uint8Array } {
  for (const [p, index] of PREFIXES) if (k.startsWith(p)) return { index, suffix: keyBytes(k.slice(p.length)) };
  return { index: 0, suffix: keyBytes(k) };
}
const PREFIXES: [string, number][] = [
  ['user.', 1],
  ['system.posix_acl_access', 2],
  ['system.posix_acl_default', 3],
  ['trusted.', 4],
  ['security.', 6],
];

function entrySize(k: string, v: Uint8Array): number {
  return alignUp(xattrEntry.size + splitName(k).suffix.length + v.length, 4);
}

function alignUp(n: number, a: number): number {
  return Math.ceil(n / a) * a;
}

/** External files: one chunk covering the file, `chunkbits = max(12, ceil(log2 size))`. */
function chunking(size: number): { bits: number; count: number } {
  let bits = size <= 1 ? 0 : (size - 1).toString(2).length;
  if (bits < BLKBITS) bits = BLKBITS;
  if (bits - BLKBITS > CHUNK_FORMAT_BLKBITS_MASK) bits = CHUNK_FORMAT_BLKBITS_MASK + BLKBITS;
  return { bits, count: Math.ceil(size / 2 ** bits) };
}

function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return a[i]! - b[i]!;
  return a.length - b.length;
}

/** Steps 4 and 5: shared xattrs, sizes, compact or extended, nids, padding, blocks. */
function layOut(order: W[]): Layout {
  let minSec = order[0]!.mtime;
  let minNsec = order[0]!.mtimeNsec;
  let hasAcl = false;
  const counts = new Map<string, { key: string; value: Uint8Array; n: number; offset: number }>();
  for (const w of order) {
    if (w.mtime < minSec || (w.mtime === minSec && w.mtimeNsec < minNsec)) {
      minSec = w.mtime;
      minNsec = w.mtimeNsec;
    }
    if (w.xattrs.has(K_ACL_ACCESS) || w.xattrs.has(K_ACL_DEFAULT)) hasAcl = true;
    for (const [k, v] of w.xattrs) {
      const id = k + '\0' + nameKey(v);
      const c = counts.get(id);
      if (c) c.n++;
      else counts.set(id, { key: k, value: v, n: 1, offset: -1 });
    }
  }
  // The shared table: descending by name, then longer value first, then value bytes descending.
  const sharedList = [...counts.values()].filter((c) => c.n > 1);
  sharedList.sort((a, b) => (a.key > b.key ? -1 : a.key < b.key ? 1 : b.value.length - a.value.length || compareBytes(b.value, a.value)));
  let sharedSize = 0;
  for (const c of sharedList) {
    c.offset = sharedSize;
    sharedSize += entrySize(c.key, c.value);
  }

  let pos = EROFS_SUPER_OFFSET + superBlock.size;
  let dataBlocks = 0;
  for (const w of order) {
    const type = w.mode & S_IFMT;
    // Xattrs: shared ones (at most 128) by reference, the rest inline.
    let nShared = 0;
    let inline = 0;
    w.xlist = [];
    for (const [k, v] of w.xattrs) {
      const c = counts.get(k + '\0' + nameKey(v))!;
      const shared = c.n > 1 && nShared < MAX_SHARED_PER_INODE ? c.offset : -1;
      if (shared >= 0) nShared++;
      else inline += entrySize(k, v);
      w.xlist.push({ key: k, value: v, shared });
    }
    w.xattrSize = nShared === 0 && inline === 0 ? 0 : alignUp(xattrIbodyHeader.size + 4 * nShared + inline, 4);
    // Data: whole blocks and an inline tail of at most half a block.
    w.nBlocks = 0;
    w.tail = 0;
    if (type === S_IFDIR) {
      let used = 0;
      for (const e of w.entries!) {
        const len = dirent.size + e.name.length;
        if (used + len > BLKSZ) {
          w.nBlocks++;
          used = 0;
        }
        used += len;
      }
      if (used > HALF_BLOCK) {
        w.nBlocks++;
        used = 0;
      }
      w.tail = used;
    } else if (type === S_IFLNK) {
      w.tail = w.payload!.length;
    } else if (type === S_IFREG && w.size > 0) {
      if (w.content) {
        w.nBlocks = Math.floor(w.size / BLKSZ);
        w.tail = w.size % BLKSZ;
        if (w.tail > HALF_BLOCK) {
          w.nBlocks++;
          w.tail = 0;
        }
      } else {
        w.tail = chunking(w.size).count * 4;
      }
    }
    const size = type === S_IFDIR ? w.nBlocks * BLKSZ + w.tail : w.size;
    w.compact = w.mtime === minSec && w.mtimeNsec === minNsec && w.nlink <= 0xffff && w.uid <= 0xffff && w.gid <= 0xffff && size <= 0xffffffff;
    const isize = w.compact ? inodeCompact.size : inodeExtended.size;
    const start = alignUp(pos, SLOT);
    const extra = tailPadding(w, start, isize + w.xattrSize);
    w.pad = start - pos + extra;
    pos = start + extra;
    w.nid = pos / SLOT;
    dataBlocks += w.nBlocks;
    pos += isize + w.xattrSize + w.tail;
  }
  const inodesEnd = alignUp(pos, SLOT);
  const dataStart = alignUp(inodesEnd + sharedSize, BLKSZ);
  let next = dataStart / BLKSZ;
  for (const w of order) {
    if (w.nBlocks > 0) {
      w.blkaddr = next;
      next += w.nBlocks;
    }
  }
  const shared = sharedList.map((c) => ({ key: c.key, value: c.value }));
  for (const w of order) for (const x of w.xlist) if (x.shared >= 0) x.shared = (inodesEnd % BLKSZ) + x.shared;
  return { minSec, minNsec, hasAcl, shared, sharedSize, inodesEnd, dataStart, dataBlocks };
}

/**
 * Padding before an inode at `pos` (slot aligned) so that its inline tail does not cross a
 * block; may move the tail out to a block of its own instead. A symlink keeps its inode and
 * target in one block: it starts a new block when they would cross one, and its target goes
 * to a block only when the whole is a block or more.
 */
function tailPadding(w: W, pos: number, head: number): number {
  if ((w.mode & S_IFMT) === S_IFLNK) {
    const total = head + w.tail;
    const crosses = Math.floor(pos / BLKSZ) !== Math.floor((pos + total - 1) / BLKSZ);
    if (total >= BLKSZ) {
      w.nBlocks++;
      w.tail = 0;
    }
    return crosses ? alignUp(pos, BLKSZ) - pos : 0;
  }
  let room = BLKSZ - ((pos + head) % BLKSZ);
  if (room >= w.tail) return 0;
  const extra = alignUp(room, SLOT);
  room = BLKSZ - ((pos + head + extra) % BLKSZ);
  if (w.tail <= room) return extra;
  w.nBlocks++;
  w.tail = 0;
  return alignUp(pos, BLKSZ) - pos;
}

/** Step 6: the bytes. */
function emit(order: W[], L: Layout, version: number): Uint8Array {
  const img = new Uint8Array(L.dataStart + L.dataBlocks * BLKSZ);
  encode(composefsHeader, { magic: COMPOSEFS_MAGIC, version: COMPOSEFS_HEADER_VERSION, flags: L.hasAcl ? COMPOSEFS_FLAG_HAS_ACL : 0, composefs_version: version }, img, 0);
  const root = order[0]!;
  if (root.nid >= 0xffff) throw new ErofsError('too-large', `root nid ${root.nid} does not fit the superblock's 16 bits`);
  encode(
    superBlock,
    {
      magic: EROFS_SUPER_MAGIC,
      feature_compat: COMPAT_MTIME | COMPAT_XATTR_FILTER,
      blkszbits: BLKBITS,
      rootnid_2b: root.nid,
      inos: BigInt(order.length),
      epoch: BigInt(L.minSec),
      fixed_nsec: L.minNsec,
      blocks_lo: L.dataStart / BLKSZ + L.dataBlocks,
      meta_blkaddr: 0,
      xattr_blkaddr: Math.floor(L.inodesEnd / BLKSZ),
    },
    img,
    EROFS_SUPER_OFFSET,
  );
  for (const w of order) writeInode(img, w);
  let p = L.inodesEnd;
  for (const s of L.shared) p = writeXattrEntry(img, p, s.key, s.value);
  for (const w of order) writeBlocks(img, w);
  return img;
}

function writeInode(img: Uint8Array, w: W): void {
  const type = w.mode & S_IFMT;
  let at = w.nid * SLOT;
  let layout: number = w.tail > 0 ? DataLayout.FLAT_INLINE : DataLayout.FLAT_PLAIN;
  let iu = 0;
  let size = 0;
  let chunks = 0;
  if (type === S_IFDIR) {
    size = w.nBlocks * BLKSZ + w.tail;
    if (w.nBlocks > 0) iu = w.blkaddr;
  } else if (type === S_IFREG) {
    size = w.size;
    if (w.nBlocks > 0) iu = w.blkaddr;
    if (size > 0 && !w.content) {
      const c = chunking(size);
      chunks = c.count;
      layout = DataLayout.CHUNK_BASED;
      // The chunk format shares i_u with the block address (the low 16 bits).
      iu = ((iu & 0xffff0000) | (c.bits - BLKBITS)) >>> 0;
    }
  } else if (type === S_IFLNK) {
    size = w.nBlocks === 0 ? w.tail : w.size;
    if (w.nBlocks > 0) iu = w.blkaddr;
  } else if (type === S_IFCHR || type === S_IFBLK) {
    iu = w.rdev >>> 0;
  }
  const icount = w.xattrSize === 0 ? 0 : (w.xattrSize - xattrIbodyHeader.size) / 4 + 1;
  if (icount > 0xffff) throw new ErofsError('too-large', `${w.path}: xattrs take ${w.xattrSize} bytes, more than an inode can hold`, { path: w.path });
  const format = (layout << 1) | (w.compact ? 0 : 1);
  if (w.compact) {
    encode(inodeCompact, { i_format: format, i_xattr_icount: icount, i_mode: w.mode & 0xffff, i_nb: w.nlink, i_size: size, i_u: iu, i_ino: w.ino, i_uid: w.uid, i_gid: w.gid }, img, at);
    at += inodeCompact.size;
  } else {
    if (w.uid > 0xffffffff || w.gid > 0xffffffff || w.nlink > 0xffffffff) {
      throw new ErofsError('invalid-value', `${w.path}: owner or link count out of range`, { path: w.path });
    }
    encode(
      inodeExtended,
      {
        i_format: format,
        i_xattr_icount: icount,
        i_mode: w.mode & 0xffff,
        i_size: BigInt(size),
        i_u: iu,
        i_ino: w.ino,
        i_uid: w.uid,
        i_gid: w.gid,
        i_mtime: BigInt(w.mtime),
        i_mtime_nsec: w.mtimeNsec,
        i_nlink: w.nlink,
      },
      img,
      at,
    );
    at += inodeExtended.size;
  }
  if (w.xattrSize > 0) {
    let bits = 0;
    let nShared = 0;
    for (const x of w.xlist) {
      const { index, suffix } = splitName(x.key);
      bits |= 1 << (xxh32(suffix, (XATTR_FILTER_SEED + index) >>> 0) & 31);
      if (x.shared >= 0) nShared++;
    }
    encode(xattrIbodyHeader, { h_name_filter: ~bits >>> 0, h_shared_count: nShared }, img, at);
    let p = at + xattrIbodyHeader.size;
    const dv = new DataView(img.buffer, img.byteOffset);
    for (const x of w.xlist) {
      if (x.shared < 0) continue;
      dv.setUint32(p, x.shared / 4, true);
      p += 4;
    }
    for (const x of w.xlist) if (x.shared < 0) p = writeXattrEntry(img, p, x.key, x.value);
    at += w.xattrSize;
  }
  if (w.tail === 0) return;
  if (type === S_IFDIR) {
    const [s, e] = direntSplit(w).tail;
    writeDirents(img, at, w.entries!.slice(s, e));
  } else if (type === S_IFLNK) {
    img.set(w.payload!, at);
  } else if (w.content) {
    img.set(w.content.subarray(w.size - w.tail), at);
  } else {
    img.fill(0xff, at, at + chunks * 4);
  }
}

function writeXattrEntry(img: Uint8Array, p: number, k: string, v: Uint8Array): number {
  const { index, suffix } = splitName(k);
  encode(xattrEntry, { e_name_len: suffix.length, e_name_index: index, e_value_size: v.length }, img, p);
  img.set(suffix, p + xattrEntry.size);
  img.set(v, p + xattrEntry.size + suffix.length);
  return p + entrySize(k, v);
}

/**
 * How a directory's entries split: whole blocks (entries [start, end)) and the inline tail.
 * Entries fill a block until the next would not fit; the rest is the tail, unless layout
 * gave the directory one more block for it.
 */
function direntSplit(w: W): { blocks: [number, number][]; tail: [number, number] } {
  const blocks: [number, number][] = [];
  const ents = w.entries!;
  let used = 0;
  let first = 0;
  for (let i = 0; i < ents.length; i++) {
    const len = dirent.size + ents[i]!.name.length;
    if (used + len > BLKSZ) {
      blocks.push([first, i]);
      first = i;
      used = 0;
    }
    used += len;
  }
  if (blocks.length < w.nBlocks) {
    blocks.push([first, ents.length]);
    first = ents.length;
  }
  return { blocks, tail: [first, ents.length] };
}

/** Dirents then names of `ents` at `at`. */
function writeDirents(img: Uint8Array, at: number, ents: Entry[]): void {
  let nameoff = ents.length * dirent.size;
  let p = at;
  for (const e of ents) {
    encode(dirent, { nid: BigInt(e.node.nid), nameoff, file_type: fileTypeOfMode(e.node.mode) }, img, p);
    p += dirent.size;
    nameoff += e.name.length;
  }
  for (const e of ents) {
    img.set(keyBytes(e.name), p);
    p += e.name.length;
  }
}

/** A node's data blocks: directory blocks, content beyond the tail, an outlined symlink target. */
function writeBlocks(img: Uint8Array, w: W): void {
  if (w.nBlocks === 0) return;
  const type = w.mode & S_IFMT;
  const base = w.blkaddr * BLKSZ;
  if (type === S_IFDIR) {
    direntSplit(w).blocks.forEach(([s, e], b) => writeDirents(img, base + b * BLKSZ, w.entries!.slice(s, e)));
  } else if (type === S_IFLNK) {
    img.set(w.payload!, base);
  } else if (type === S_IFREG && w.content) {
    img.set(w.content.subarray(0, w.size - w.tail), base);
  } else if (type === S_IFREG) {
    img.fill(0xff, base, base + BLKSZ);
  }
}
