/**
 * The layer tree of a tar index in columns: one row per inode in typed arrays, names in one
 * byte pool, one open-addressing table from (parent, name bytes) to row. It applies the same
 * tar semantics as {@link TarTreeBuilder} to the entries that make up almost every layer
 * (regular files whose data lies in place, directories, symlinks, device nodes and fifos, with
 * no xattrs, hard links or whiteouts) without an object, a Map or a string per entry: on a
 * layer of 200,000 small files those were most of the index's time, half of it in the garbage
 * collector (ADR 0027).
 *
 * `add` refuses anything else (returning false, having changed nothing that the general
 * builder would not do the same way), and `toTree` hands the tree built so far to the general
 * builder, which then takes the rest of the layer: the result is the same either way.
 */
import type { TarEntry, TarEntryType } from '../tar/entry.js';
import { HEADER_FIELDS as F, TYPE, type Dialect } from '../tar/format.js';
import { cstringLength, headerNumberAt } from '../tar/numbers.js';
import { S_IFBLK, S_IFCHR, S_IFDIR, S_IFIFO, S_IFLNK, S_IFMT, S_IFREG, NO_XATTRS, nameKeyOf, type TreeNode } from '../tree/node.js';

const EMPTY = new Uint8Array(0);
const LIVE = 1;
const IMPLICIT = 2;

/** The file type bits of each tar entry type that is an inode of its own (not a hard link). */
export const TAR_TYPE_BITS: Partial<Record<TarEntryType, number>> = {
  file: S_IFREG,
  symlink: S_IFLNK,
  chardev: S_IFCHR,
  blockdev: S_IFBLK,
  directory: S_IFDIR,
  fifo: S_IFIFO,
};

/** Whether a[0, alen) and b[0, blen) hold the same bytes. */
export function sameBytes(a: Uint8Array, alen: number, b: Uint8Array, blen: number): boolean {
  if (alen !== blen) return false;
  for (let i = alen - 1; i >= 0; i--) if (a[i] !== b[i]) return false;
  return true;
}

/** Whether every component of the path is empty or `.` (it names the root). */
function namesRoot(raw: Uint8Array, len: number): boolean {
  let i = 0;
  while (i < len) {
    let j = i;
    while (j < len && raw[j] !== 0x2f) j++;
    if (!(j === i || (j === i + 1 && raw[i] === 0x2e))) return false;
    i = j + 1;
  }
  return true;
}

function grownI32(a: Int32Array, n: number): Int32Array {
  const b = new Int32Array(n);
  b.set(a);
  return b;
}

function grownF64(a: Float64Array, n: number): Float64Array {
  const b = new Float64Array(n);
  b.set(a);
  return b;
}

export class FlatLayer {
  /** Rows allocated (row 0 is the root); rows replaced by a later entry stay, without LIVE. */
  count = 1;
  mode: Int32Array = new Int32Array(0);
  uid: Float64Array = new Float64Array(0);
  gid: Float64Array = new Float64Array(0);
  mtime: Float64Array = new Float64Array(0);
  nsec: Int32Array = new Int32Array(0);
  /** Regular files: size; symlinks: target length. */
  size: Float64Array = new Float64Array(0);
  /** Regular files: data offset in the tar; symlinks: target offset in `pool`. */
  off: Float64Array = new Float64Array(0);
  major: Float64Array = new Float64Array(0);
  minor: Float64Array = new Float64Array(0);
  parent: Int32Array = new Int32Array(0);
  nameStart: Int32Array = new Int32Array(0);
  nameLen: Int32Array = new Int32Array(0);
  /** Each row's hash in the table (kept: growing the table needs no name read again). */
  private hashOf: Int32Array = new Int32Array(0);
  firstChild: Int32Array = new Int32Array(0);
  lastChild: Int32Array = new Int32Array(0);
  next: Int32Array = new Int32Array(0);
  flags: Uint8Array = new Uint8Array(0);
  /** Names and symlink targets. */
  pool = new Uint8Array(1 << 16);
  poolLen = 0;
  /** (parent, name) → row + 1; 0 is empty. */
  private table = new Int32Array(1 << 15);
  private used = 0;
  /** The slot the last {@link lookup} ended on: the row's, or the empty one to insert at. */
  private slot = 0;
  /** The hash of the name the last {@link lookup} looked for. */
  private lastHash = 0;
  private lastDirRaw = new Uint8Array(256);
  private lastDirLen = 0;
  private lastDir = -1;

  constructor(private readonly aufs: boolean) {
    this.resize(1 << 14);
    // The root: an ordinary 0755 root-owned directory until an entry names it.
    this.mode[0] = S_IFDIR | 0o755;
    this.flags[0] = LIVE | IMPLICIT;
  }

  /** Every column to `n` rows, the rows so far kept (new list links -1: none). */
  private resize(n: number): void {
    const old = this.mode.length;
    this.mode = grownI32(this.mode, n);
    this.uid = grownF64(this.uid, n);
    this.gid = grownF64(this.gid, n);
    this.mtime = grownF64(this.mtime, n);
    this.nsec = grownI32(this.nsec, n);
    this.size = grownF64(this.size, n);
    this.off = grownF64(this.off, n);
    this.major = grownF64(this.major, n);
    this.minor = grownF64(this.minor, n);
    this.parent = grownI32(this.parent, n);
    this.nameStart = grownI32(this.nameStart, n);
    this.nameLen = grownI32(this.nameLen, n);
    this.hashOf = grownI32(this.hashOf, n);
    this.firstChild = grownI32(this.firstChild, n).fill(-1, old);
    this.lastChild = grownI32(this.lastChild, n).fill(-1, old);
    this.next = grownI32(this.next, n).fill(-1, old);
    const f = new Uint8Array(n);
    f.set(this.flags);
    this.flags = f;
  }

  /** Copies raw[start, end) into the pool; returns where. */
  private intern(raw: Uint8Array, start: number, end: number): number {
    const len = end - start;
    if (this.poolLen + len > this.pool.length) {
      const p = new Uint8Array(Math.max(this.pool.length * 2, this.poolLen + len));
      p.set(this.pool.subarray(0, this.poolLen));
      this.pool = p;
    }
    const at = this.poolLen;
    const pool = this.pool;
    // A byte loop: for names of a few bytes, a view and `set` cost several times more.
    if (len <= 64) for (let k = 0; k < len; k++) pool[at + k] = raw[start + k]!;
    else pool.set(raw.subarray(start, end), at);
    this.poolLen += len;
    return at;
  }

  private static hash(parent: number, raw: Uint8Array, start: number, end: number): number {
    let h = Math.imul(parent + 1, 0x9e3779b1);
    for (let i = start; i < end; i++) h = Math.imul(h ^ raw[i]!, 0x01000193);
    return h ^ (h >>> 15);
  }

  /** The live row named raw[start, end) in directory `dir`, or -1 (then `slot` is where it would go). */
  private lookup(dir: number, raw: Uint8Array, start: number, end: number): number {
    const t = this.table;
    const mask = t.length - 1;
    const len = end - start;
    const pool = this.pool;
    const h = FlatLayer.hash(dir, raw, start, end);
    this.lastHash = h;
    for (let i = h & mask; ; i = (i + 1) & mask) {
      const r = t[i]! - 1;
      if (r < 0) {
        this.slot = i;
        return -1;
      }
      if (this.parent[r] !== dir || this.nameLen[r] !== len) continue;
      const ns = this.nameStart[r]!;
      let k = 0;
      while (k < len && pool[ns + k] === raw[start + k]) k++;
      if (k === len) {
        this.slot = i;
        return r;
      }
    }
  }

  /** A new row named raw[start, end) under `dir` (not yet linked). */
  private row(dir: number, raw: Uint8Array, start: number, end: number): number {
    if (this.count === this.mode.length) this.resize(this.mode.length * 2);
    const r = this.count++;
    this.parent[r] = dir;
    this.hashOf[r] = this.lastHash; // rows are made right after the lookup of their name
    this.nameStart[r] = this.intern(raw, start, end);
    this.nameLen[r] = end - start;
    this.flags[r] = LIVE;
    return r;
  }

  /**
   * Puts row `r` at the slot the last lookup of its name ended on, replacing `old` (a row, or
   * -1): the name moves to the end of its directory's list, as a fresh one does.
   */
  private link(dir: number, r: number, old: number): void {
    if (old >= 0) {
      // Replacing a directory can orphan the cached parent (or one of its ancestors).
      if ((this.mode[old]! & S_IFMT) === S_IFDIR) this.lastDir = -1;
      this.flags[old] = this.flags[old]! & ~LIVE;
      this.table[this.slot] = r + 1;
    } else {
      this.table[this.slot] = r + 1;
      if (++this.used * 2 > this.table.length) this.rehash();
    }
    const last = this.lastChild[dir]!;
    if (last < 0) this.firstChild[dir] = r;
    else this.next[last] = r;
    this.lastChild[dir] = r;
  }

  private rehash(): void {
    const t = new Int32Array(this.table.length * 2);
    const mask = t.length - 1;
    const old = this.table;
    for (let k = 0; k < old.length; k++) {
      const v = old[k]!;
      if (v === 0) continue;
      let i = this.hashOf[v - 1]! & mask;
      while (t[i] !== 0) i = (i + 1) & mask;
      t[i] = v;
    }
    this.table = t;
  }

  /** The directory raw[0, dirLen) names, created (implicit) where missing; -1 when refused. */
  private resolveDir(raw: Uint8Array, dirLen: number): number {
    let cur = 0;
    let i = 0;
    while (i < dirLen) {
      let j = i;
      while (j < dirLen && raw[j] !== 0x2f) j++;
      const len = j - i;
      if (len === 0 || (len === 1 && raw[i] === 0x2e)) {
        i = j + 1;
        continue;
      }
      if (len > 255 || (len === 2 && raw[i] === 0x2e && raw[i + 1] === 0x2e)) return -1;
      let next = this.lookup(cur, raw, i, j);
      if (next < 0) {
        // A parent the archive did not list: as tar does, an ordinary 0755 root-owned directory.
        next = this.row(cur, raw, i, j);
        this.mode[next] = S_IFDIR | 0o755;
        this.uid[next] = 0;
        this.gid[next] = 0;
        this.mtime[next] = this.pSec;
        this.nsec[next] = this.pNsec;
        this.flags[next] = LIVE | IMPLICIT;
        this.link(cur, next, -1);
      } else if ((this.mode[next]! & S_IFMT) !== S_IFDIR) {
        return -1; // below a non-directory: the general builder refuses it, with the path
      }
      cur = next;
      i = j + 1;
    }
    return cur;
  }

  private setDir(r: number): void {
    this.mode[r] = S_IFDIR | this.pPerm;
    this.uid[r] = this.pUid;
    this.gid[r] = this.pGid;
    this.mtime[r] = this.pSec;
    this.nsec[r] = this.pNsec;
    this.flags[r] = this.flags[r]! & ~IMPLICIT;
  }

  // The entry being placed (set by add / addHeader, read by place): fields, not arguments,
  // so that both ways in share one body without an object per entry.
  private pType = 0;
  private pPerm = 0;
  private pUid = 0;
  private pGid = 0;
  private pSec = 0;
  private pNsec = 0;
  private pSize = 0;
  private pOff = 0;
  private pLink: Uint8Array = EMPTY;
  private pLinkStart = 0;
  private pLinkLen = 0;
  private pMajor = 0;
  private pMinor = 0;
  /** ustar prefix + '/' + name, assembled. */
  private readonly pathBuf = new Uint8Array(F.prefix.size + 1 + F.name.size);

  /**
   * Applies one entry as {@link TarTreeBuilder.add} would; false (and the entry is for the
   * general builder) when it is anything this tree does not hold.
   */
  add(e: TarEntry): boolean {
    if (e.uid > 0xffffffff || e.gid > 0xffffffff || e.uid < 0 || e.gid < 0 || e.xattrs.size !== 0) return false;
    const type = TAR_TYPE_BITS[e.type];
    if (type === undefined) return false; // hard links
    if (type === S_IFREG && (e.sparse !== undefined || e.dataOffset % 512 !== 0)) return false;
    if (type === S_IFLNK && (e.linkpath.length === 0 || e.linkpath.length > 4095)) return false;
    if (e.path.indexOf(0) >= 0) return false;
    this.pType = type;
    this.pPerm = e.mode & 0o7777;
    this.pUid = e.uid;
    this.pGid = e.gid;
    this.pSec = e.mtime.sec;
    this.pNsec = e.mtime.nsec;
    this.pSize = e.size;
    this.pOff = e.dataOffset;
    this.pLink = e.linkpath;
    this.pLinkStart = 0;
    this.pLinkLen = e.linkpath.length;
    this.pMajor = e.devmajor;
    this.pMinor = e.devminor;
    return this.place(e.path, e.path.length);
  }

  /**
   * {@link add} straight from a plain ustar or GNU header block (see the reader's
   * `takeHeader`), without an entry object: false when the header is anything but the
   * simplest case, and the reader then makes an entry of it for {@link add}.
   */
  addHeader(blk: Uint8Array, at: number, dialect: Dialect, storedSize: number): boolean {
    const flag = blk[F.typeflag.offset]!;
    let type: number;
    switch (flag) {
      case TYPE.AREG:
      case TYPE.REG:
      case TYPE.CONT:
        type = S_IFREG;
        break;
      case TYPE.DIR:
        type = S_IFDIR;
        break;
      case TYPE.SYM:
        type = S_IFLNK;
        break;
      case TYPE.CHR:
        type = S_IFCHR;
        break;
      case TYPE.BLK:
        type = S_IFBLK;
        break;
      case TYPE.FIFO:
        type = S_IFIFO;
        break;
      default:
        return false;
    }
    let raw = blk;
    let len = cstringLength(blk, F.name.offset, F.name.size);
    if (dialect === 'ustar' && blk[F.prefix.offset] !== 0) {
      const pn = cstringLength(blk, F.prefix.offset, F.prefix.size);
      raw = this.pathBuf;
      for (let k = 0; k < pn; k++) raw[k] = blk[F.prefix.offset + k]!;
      raw[pn] = 0x2f;
      for (let k = 0; k < len; k++) raw[pn + 1 + k] = blk[F.name.offset + k]!;
      len += pn + 1;
    }
    // Old tars marked directories only by a trailing slash.
    if (flag === TYPE.AREG && len > 0 && raw[len - 1] === 0x2f) type = S_IFDIR;
    const mode = headerNumberAt(blk, F.mode.offset, F.mode.size);
    const uid = headerNumberAt(blk, F.uid.offset, F.uid.size);
    const gid = headerNumberAt(blk, F.gid.offset, F.gid.size);
    const mtime = headerNumberAt(blk, F.mtime.offset, F.mtime.size);
    if (typeof mode !== 'number' || mode < 0 || typeof uid !== 'number' || uid < 0 || uid > 0xffffffff || typeof gid !== 'number' || gid < 0 || gid > 0xffffffff || typeof mtime !== 'number') return false;
    if (type === S_IFLNK) {
      this.pLinkLen = cstringLength(blk, F.linkname.offset, F.linkname.size);
      if (this.pLinkLen === 0) return false;
      this.pLink = blk;
      this.pLinkStart = F.linkname.offset;
    } else if (type === S_IFCHR || type === S_IFBLK) {
      const major = headerNumberAt(blk, F.devmajor.offset, F.devmajor.size);
      const minor = headerNumberAt(blk, F.devminor.offset, F.devminor.size);
      if (typeof major !== 'number' || major < 0 || typeof minor !== 'number' || minor < 0) return false;
      this.pMajor = major;
      this.pMinor = minor;
    }
    this.pType = type;
    this.pPerm = mode & 0o7777;
    this.pUid = uid;
    this.pGid = gid;
    this.pSec = mtime;
    this.pNsec = 0;
    this.pSize = storedSize;
    this.pOff = at + 512;
    return this.place(raw, len);
  }

  /** Places the entry described by the `p*` fields at the path raw[0, len). */
  private place(raw: Uint8Array, len: number): boolean {
    const type = this.pType;
    if (len > 0 && raw[0] === 0x2f) return false;
    let end = len;
    while (end > 0 && raw[end - 1] === 0x2f) end--;
    let slash = end - 1;
    while (slash >= 0 && raw[slash] !== 0x2f) slash--;
    const leaf = slash + 1;
    const leafLen = end - leaf;
    if (leafLen === 0 || (raw[leaf] === 0x2e && (leafLen === 1 || (leafLen === 2 && raw[leaf + 1] === 0x2e)))) {
      if (!namesRoot(raw, len) || type !== S_IFDIR) return false;
      this.setDir(0);
      return true;
    }
    if (leafLen > 255) return false;
    if (this.aufs && leafLen >= 4 && raw[leaf] === 0x2e && raw[leaf + 1] === 0x77 && raw[leaf + 2] === 0x68 && raw[leaf + 3] === 0x2e) return false;
    const dirLen = slash < 0 ? 0 : slash;
    let dir = this.lastDir;
    if (dir < 0 || !sameBytes(raw, dirLen, this.lastDirRaw, this.lastDirLen)) {
      dir = this.resolveDir(raw, dirLen);
      if (dir < 0) return false;
      // The path's bytes may be a reader's window: the cache keeps a copy.
      if (this.lastDirRaw.length < dirLen) this.lastDirRaw = new Uint8Array(Math.max(dirLen, 2 * this.lastDirRaw.length));
      for (let k = 0; k < dirLen; k++) this.lastDirRaw[k] = raw[k]!;
      this.lastDir = dir;
      this.lastDirLen = dirLen;
    }
    const old = this.lookup(dir, raw, leaf, end);
    if (type === S_IFDIR && old >= 0 && (this.mode[old]! & S_IFMT) === S_IFDIR) {
      this.setDir(old);
      return true;
    }
    const r = this.row(dir, raw, leaf, end);
    if (type === S_IFDIR) {
      this.setDir(r);
    } else {
      this.mode[r] = type | this.pPerm;
      this.uid[r] = this.pUid;
      this.gid[r] = this.pGid;
      this.mtime[r] = this.pSec;
      this.nsec[r] = this.pNsec;
      if (type === S_IFREG) {
        this.size[r] = this.pSize;
        this.off[r] = this.pOff;
      } else if (type === S_IFLNK) {
        this.size[r] = this.pLinkLen;
        this.off[r] = this.intern(this.pLink, this.pLinkStart, this.pLinkStart + this.pLinkLen);
      } else if (type === S_IFCHR || type === S_IFBLK) {
        this.major[r] = this.pMajor;
        this.minor[r] = this.pMinor;
      }
    }
    this.link(dir, r, old);
    return true;
  }

  /** Whether row `r` is in the tree (not replaced by a later entry). */
  live(r: number): boolean {
    return (this.flags[r]! & LIVE) !== 0;
  }

  /**
   * The same tree as {@link TarTreeBuilder} objects: what the general builder continues from
   * when an entry needs it, and what callers that keep the tree get.
   */
  toTree(): { root: TreeNode; implicitDirs: Set<TreeNode> } {
    const implicitDirs = new Set<TreeNode>();
    const nodes: TreeNode[] = [];
    const rows: number[] = [0];
    const root = this.nodeOf(0);
    nodes.push(root);
    if (this.flags[0]! & IMPLICIT) implicitDirs.add(root);
    for (let k = 0; k < rows.length; k++) {
      const children = nodes[k]!.children;
      if (!children) continue;
      for (let c = this.firstChild[rows[k]!]!; c >= 0; c = this.next[c]!) {
        if (!this.live(c)) continue;
        const n = this.nodeOf(c);
        if (this.flags[c]! & IMPLICIT) implicitDirs.add(n);
        const s = this.nameStart[c]!;
        children.set(nameKeyOf(this.pool, s, s + this.nameLen[c]!), n);
        rows.push(c);
        nodes.push(n);
      }
    }
    return { root, implicitDirs };
  }

  private nodeOf(r: number): TreeNode {
    const mode = this.mode[r]!;
    const type = mode & S_IFMT;
    const n: TreeNode = {
      mode,
      uid: this.uid[r]!,
      gid: this.gid[r]!,
      mtime: this.mtime[r]!,
      mtimeNsec: this.nsec[r]!,
      size: 0,
      rdevMajor: 0,
      rdevMinor: 0,
      // A directory's map is its own (whiteouts and opaque markers may be added to it).
      xattrs: type === S_IFDIR ? new Map() : NO_XATTRS,
    };
    if (type === S_IFDIR) n.children = new Map();
    else if (type === S_IFREG) {
      n.size = this.size[r]!;
      n.data = n.size === 0 ? { kind: 'empty' } : { kind: 'extent', device: 1, offset: this.off[r]! };
    } else if (type === S_IFLNK) {
      n.size = this.size[r]!;
      n.target = this.pool.slice(this.off[r]!, this.off[r]! + n.size);
    } else if (type === S_IFCHR || type === S_IFBLK) {
      n.rdevMajor = this.major[r]!;
      n.rdevMinor = this.minor[r]!;
    }
    return n;
  }
}
