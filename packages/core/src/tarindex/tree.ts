/**
 * Tar semantics as a container runtime applies a layer: entries become one tree, later
 * entries replace earlier ones, hard links share one inode, missing parents are created,
 * and (with `aufs`) `.wh.` whiteouts become overlayfs whiteouts.
 */
import { ErofsError, hex } from '../errors.js';
import type { TarEntry, TarWarning } from '../tar/entry.js';
import { readTarBatches, type TarEnd, type TarReadOptions } from '../tar/reader.js';
import type { ByteSource } from '../io/source.js';
import { splitXattrName } from '../erofs/xattr.js';
import { FlatLayer, TAR_TYPE_BITS, sameBytes } from './flat.js';
import {
  S_IFCHR,
  S_IFDIR,
  S_IFLNK,
  S_IFMT,
  NO_XATTRS,
  keyBytes,
  nameKey,
  nameKeyOf,
  newDir,
  type FileData,
  type TreeNode,
} from '../tree/node.js';

const td = new TextDecoder('utf-8', { fatal: false });
const WH_PREFIX = '.wh.';
const WH_OPAQUE = '.wh..wh..opq';

export interface TreeBuilderOptions {
  /** Turn `.wh.NAME` into overlayfs whiteouts and `.wh..wh..opq` into an opaque directory. */
  aufs?: boolean;
  onWarning?: (w: TarWarning) => void;
  /**
   * The tar as a seekable source, for full images: regular files then copy their bytes from it
   * (`input` data) instead of pointing at it, and sparse files are copied with their holes.
   */
  copyFrom?: ByteSource;
}

/** Whether a sparse entry's segments can be referenced in place in 512-byte chunks. */
export function sparseInPlace(e: TarEntry, bs = 512): boolean {
  if (!e.sparse) return true;
  for (const s of e.sparse) {
    if (s.length === 0) continue;
    if (s.offset % bs !== 0 || s.tarOffset % bs !== 0) return false;
    if (s.offset + s.length !== e.size && s.length % bs !== 0) return false;
  }
  return true;
}

/** An entry's path as text, for messages. */
function textOf(e: TarEntry): string {
  return td.decode(e.path);
}

export class TarTreeBuilder {
  readonly root: TreeNode;
  /**
   * Directories the archive did not list (missing parents, and the root until an entry names
   * it): when layers are stacked, such a directory keeps the attributes of the lower layer's.
   */
  readonly implicitDirs = new Set<TreeNode>();
  private strippedSlash = 0;
  private readonly opts: TreeBuilderOptions;

  /** `start`: a tree built so far (by {@link FlatLayer}) to continue from. */
  constructor(opts: TreeBuilderOptions = {}, start?: { root: TreeNode; implicitDirs: Set<TreeNode> }) {
    this.opts = opts;
    if (start) {
      this.root = start.root;
      for (const d of start.implicitDirs) this.implicitDirs.add(d);
    } else {
      this.root = newDir();
      this.implicitDirs.add(this.root);
    }
  }

  private warn(w: TarWarning): void {
    this.opts.onWarning?.(w);
  }

  /**
   * Splits a raw tar path into components, as name keys (the bytes as a latin1 string, see
   * `nameKey`): `./` prefixes and `.` components vanish, `..` climbs (never above the root), a
   * leading `/` is stripped with a warning. One string per path, split natively: per-component
   * byte views cost more than the rest of the entry's handling on layers of small files.
   */
  private components(raw: Uint8Array, e: TarEntry, what = 'path'): string[] {
    return this.componentsOf(this.keyOf(raw, e, what), raw, e, what);
  }

  /** The raw path as one name key, after the leading-slash warning and the NUL check. */
  private keyOf(raw: Uint8Array, e: TarEntry, what: string): string {
    if (raw.length > 0 && raw[0] === 0x2f) {
      if (this.strippedSlash++ === 0) {
        this.warn({ code: 'stripped-leading-slash', message: `removing leading '/' from member names (first: ${td.decode(raw)})`, offset: e.headerOffset, path: td.decode(raw) });
      }
    }
    const str = nameKey(raw);
    if (str.includes('\0')) {
      throw new ErofsError('invalid-value', `${what} ${JSON.stringify(td.decode(raw))} contains a NUL byte`, { offset: e.headerOffset, path: td.decode(e.path), format: 'tar' });
    }
    return str;
  }

  /** Components of the key `str` of the raw path `raw` (see {@link components}). */
  private componentsOf(str: string, raw: Uint8Array, e: TarEntry, what: string): string[] {
    const out: string[] = [];
    for (const part of str.split('/')) {
      if (part.length === 0 || part === '.') continue;
      if (part === '..') {
        if (out.length === 0) {
          throw new ErofsError('unsafe-path', `${what} ${JSON.stringify(td.decode(raw))} climbs above the root with '..'`, {
            offset: e.headerOffset,
            path: td.decode(e.path),
            format: 'tar',
          });
        }
        out.pop();
        continue;
      }
      if (part.length > 255) {
        throw new ErofsError('invalid-value', `${what} component of ${part.length} bytes exceeds 255`, { offset: e.headerOffset, path: td.decode(e.path), format: 'tar' });
      }
      out.push(part);
    }
    return out;
  }

  /**
   * The last parent directory resolved, by the raw bytes of the path before its last name
   * (`lastDirRaw[0, lastDirLen)`; entry paths are the entries' own copies, never reused): tars
   * list a directory's members together, so most entries skip splitting and walking the path,
   * and make one string, their name. The same bytes always name the same components, so only
   * a replaced directory (see {@link replace}) makes the cache stale.
   */
  private lastDirRaw: Uint8Array | undefined;
  private lastDirLen = 0;
  private lastDirNode: TreeNode | undefined;
  /** What {@link locate} found: the parent directory and the name in it (undefined: the root itself). */
  private foundParent: TreeNode | undefined;
  private foundKey = '';

  /**
   * Finds the parent directory of the entry's path (creating missing ones; refusing to go below
   * a non-directory) and the entry's name in it, into `foundParent`/`foundKey`.
   */
  private locate(e: TarEntry): void {
    const raw = e.path;
    let end = raw.length;
    while (end > 0 && raw[end - 1] === 0x2f) end--;
    let slash = end - 1;
    while (slash >= 0 && raw[slash] !== 0x2f) slash--;
    const leafLen = end - slash - 1;
    const dot = raw[slash + 1] === 0x2e;
    if (leafLen > 0 && leafLen <= 255 && !(dot && (leafLen === 1 || (leafLen === 2 && raw[slash + 2] === 0x2e))) && raw[0] !== 0x2f && raw.indexOf(0) < 0) {
      // An ordinary last name of an ordinary path: only the directory part needs resolving.
      const dirLen = slash < 0 ? 0 : slash;
      if (!this.lastDirNode || !sameBytes(raw, dirLen, this.lastDirRaw!, this.lastDirLen)) {
        this.lastDirNode = this.resolveDir(this.componentsOf(nameKeyOf(raw, 0, dirLen), raw, e, 'path'), e);
        this.lastDirRaw = raw;
        this.lastDirLen = dirLen;
      }
      this.foundParent = this.lastDirNode;
      this.foundKey = nameKeyOf(raw, slash + 1, end);
      return;
    }
    // Anything else (a leading '/', a NUL, '.', '..', an over-long or empty name) the long way.
    const parts = this.components(raw, e, 'path');
    if (parts.length === 0) {
      this.foundParent = undefined;
      return;
    }
    this.foundParent = this.resolveDir(parts.slice(0, -1), e);
    this.foundKey = parts[parts.length - 1]!;
  }

  private resolveDir(parts: string[], e: TarEntry): TreeNode {
    let cur = this.root;
    for (let i = 0; i < parts.length; i++) {
      const key = parts[i]!;
      let next = cur.children!.get(key);
      if (!next) {
        // A parent the archive did not list: as tar does, an ordinary 0755 root-owned directory.
        next = newDir({ mtime: e.mtime.sec, mtimeNsec: e.mtime.nsec });
        cur.children!.set(key, next);
        this.implicitDirs.add(next);
      } else if ((next.mode & S_IFMT) !== S_IFDIR) {
        const kind = (next.mode & S_IFMT) === S_IFLNK ? 'a symlink' : 'a non-directory';
        const walked = parts.slice(0, i + 1).map((k) => '/' + td.decode(keyBytes(k))).join('');
        throw new ErofsError('unsafe-path', `${td.decode(e.path)}: member below ${kind} (${walked})`, { offset: e.headerOffset, path: td.decode(e.path), format: 'tar' });
      }
      cur = next;
    }
    return cur;
  }

  private lookup(parts: string[]): TreeNode | undefined {
    let cur: TreeNode | undefined = this.root;
    for (const p of parts) {
      if (!cur || (cur.mode & S_IFMT) !== S_IFDIR) return undefined;
      cur = cur.children!.get(p);
    }
    return cur;
  }

  /** The entry's xattrs, sorted; NO_XATTRS (shared, immutable) when it has none. */
  private xattrsOf(e: TarEntry): Map<string, Uint8Array> {
    if (e.xattrs.size === 0) return NO_XATTRS;
    const out = new Map<string, Uint8Array>();
    for (const [name, value] of e.xattrs) {
      if (splitXattrName(name).index === 0) {
        this.warn({ code: 'unknown-pax-record', message: `xattr ${name} dropped: EROFS has no prefix for it`, offset: e.headerOffset, path: td.decode(e.path) });
        continue;
      }
      out.set(name, value);
    }
    return new Map([...out].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  }

  /** Applies one entry. `data` is the entry's stored bytes when it had to be read (sparse copies). */
  add(e: TarEntry, data?: Uint8Array): void {
    // base-256 and pax ids go far beyond what an inode holds (32 bits, extended inodes)
    if (e.uid > 0xffffffff || e.gid > 0xffffffff || e.uid < 0 || e.gid < 0) {
      const which = e.uid > 0xffffffff || e.uid < 0 ? `uid ${e.uid}` : `gid ${e.gid}`;
      throw new ErofsError('invalid-value', `${td.decode(e.path)}: ${which} out of range [0, 4294967295] for an EROFS inode`, { offset: e.headerOffset, path: td.decode(e.path), format: 'tar' });
    }
    this.locate(e);
    if (!this.foundParent) {
      if (e.type !== 'directory') {
        throw new ErofsError('invalid-value', `${JSON.stringify(textOf(e))}: the root can only be a directory, not a ${e.type}`, { offset: e.headerOffset, path: textOf(e), format: 'tar' });
      }
      this.setAttrs(this.root, e);
      return;
    }
    const parent = this.foundParent;
    let key = this.foundKey;
    // Keys are latin1 strings of the name bytes: the ASCII prefixes compare as they are.
    if (this.opts.aufs && key.startsWith(WH_PREFIX)) {
      if (key === WH_OPAQUE) {
        parent.xattrs.set('trusted.overlay.opaque', new Uint8Array([0x79]));
        return;
      }
      key = key.slice(WH_PREFIX.length);
      if (key.length === 0) throw new ErofsError('invalid-value', `${textOf(e)}: whiteout without a name`, { offset: e.headerOffset, path: textOf(e), format: 'tar' });
      const wh: TreeNode = { mode: S_IFCHR, uid: e.uid, gid: e.gid, mtime: e.mtime.sec, mtimeNsec: e.mtime.nsec, size: 0, rdevMajor: 0, rdevMinor: 0, xattrs: NO_XATTRS };
      this.replace(parent, key, wh);
      if (!parent.xattrs.has('trusted.overlay.origin')) parent.xattrs.set('trusted.overlay.origin', new Uint8Array(0));
      return;
    }
    const existing = parent.children!.get(key);
    if (e.type === 'hardlink') {
      const tparts = this.components(e.linkpath, e, 'hard link target');
      const target = this.lookup(tparts);
      if (!target) {
        throw new ErofsError('not-found', `${textOf(e)}: hard link to ${JSON.stringify(td.decode(e.linkpath))}, which is not an earlier member`, { offset: e.headerOffset, path: textOf(e), format: 'tar' });
      }
      if ((target.mode & S_IFMT) === S_IFDIR) {
        throw new ErofsError('invalid-value', `${textOf(e)}: hard link to a directory (${td.decode(e.linkpath)})`, { offset: e.headerOffset, path: textOf(e), format: 'tar' });
      }
      if (target !== existing) this.replace(parent, key, target, existing);
      return;
    }
    if (e.type === 'directory') {
      if (existing && (existing.mode & S_IFMT) === S_IFDIR) {
        this.setAttrs(existing, e);
        return;
      }
      const dir = newDir();
      this.setAttrs(dir, e);
      this.replace(parent, key, dir, existing);
      return;
    }
    const type = TAR_TYPE_BITS[e.type];
    if (type === undefined) throw new ErofsError('unsupported-feature', `${textOf(e)}: tar entry type ${e.type}`, { offset: e.headerOffset, path: textOf(e), format: 'tar' });
    const node: TreeNode = {
      mode: type | (e.mode & 0o7777),
      uid: e.uid,
      gid: e.gid,
      mtime: e.mtime.sec,
      mtimeNsec: e.mtime.nsec,
      size: 0,
      rdevMajor: 0,
      rdevMinor: 0,
      xattrs: this.xattrsOf(e),
    };
    if (e.type === 'symlink') {
      if (e.linkpath.length === 0) throw new ErofsError('invalid-value', `${textOf(e)}: symlink with an empty target`, { offset: e.headerOffset, path: textOf(e), format: 'tar' });
      node.target = e.linkpath.slice();
      node.size = e.linkpath.length;
    } else if (e.type === 'chardev' || e.type === 'blockdev') {
      node.rdevMajor = e.devmajor;
      node.rdevMinor = e.devminor;
    } else if (e.type === 'file') {
      node.size = e.size;
      node.data = this.fileData(e, data);
    }
    this.replace(parent, key, node, existing);
  }

  private fileData(e: TarEntry, data: Uint8Array | undefined): FileData {
    if (e.size === 0) return { kind: 'empty' };
    const copyFrom = this.opts.copyFrom;
    if (!e.sparse && copyFrom) return { kind: 'input', input: copyFrom, offset: e.dataOffset };
    if (!e.sparse) {
      if (e.dataOffset % 512 !== 0) throw new ErofsError('invalid-value', `data at ${hex(e.dataOffset)} is not 512-byte aligned`, { offset: e.headerOffset, path: td.decode(e.path), format: 'tar' });
      return { kind: 'extent', device: 1, offset: e.dataOffset };
    }
    const segs = e.sparse.filter((s) => s.length > 0);
    if (segs.length === 0) return { kind: 'copy', ranges: [] };
    if (!copyFrom && sparseInPlace(e)) return { kind: 'device', device: 1, ranges: segs.map((s) => ({ logical: s.offset, length: s.length, offset: s.tarOffset })) };
    if (!data) throw new Error(`internal: sparse entry ${td.decode(e.path)} needs its data to be copied`);
    return {
      kind: 'copy',
      ranges: segs.map((s) => ({ logical: s.offset, bytes: data.subarray(s.tarOffset - e.dataOffset, s.tarOffset - e.dataOffset + s.length) })),
    };
  }

  private setAttrs(n: TreeNode, e: TarEntry): void {
    this.implicitDirs.delete(n);
    n.mode = S_IFDIR | (e.mode & 0o7777);
    n.uid = e.uid;
    n.gid = e.gid;
    n.mtime = e.mtime.sec;
    n.mtimeNsec = e.mtime.nsec;
    const keep = new Map([...n.xattrs].filter(([k]) => k.startsWith('trusted.overlay.')));
    // A directory's map is its own: whiteouts and opaque markers are added to it later.
    n.xattrs = new Map([...this.xattrsOf(e), ...keep]);
  }

  /** Puts `node` at parent/key; whatever was there (a whole subtree for a directory) goes. */
  private replace(parent: TreeNode, key: string, node: TreeNode, old = parent.children!.get(key)): void {
    if (old !== undefined) {
      // Replacing a directory can orphan the cached one (or one of its ancestors' paths).
      if ((old.mode & S_IFMT) === S_IFDIR) this.lastDirNode = undefined;
      // The name moves to the end, as a fresh one would be (the order children are listed in).
      parent.children!.delete(key);
    }
    parent.children!.set(key, node);
  }
}

/** What {@link treeOfTar} returns: the layer's tree and what the pass saw. */
export interface LayerTree {
  root: TreeNode;
  /** See {@link TarTreeBuilder.implicitDirs}. */
  implicitDirs: Set<TreeNode>;
  entries: number;
  end: TarEnd;
  warnings: TarWarning[];
}

/**
 * One pass over a layer tar into its tree: the tar index and the full-image builder share it.
 * `tap` sees every byte (when given); with `copyFrom` the tree copies file data (full images)
 * and only sparse members' bytes are read during the pass, else only those of sparse members
 * that cannot be referenced in place.
 */
export async function treeOfTar(
  input: AsyncIterable<Uint8Array> | ByteSource,
  opts: TreeBuilderOptions & { tap?: (chunk: Uint8Array) => void },
): Promise<LayerTree> {
  const warnings: TarWarning[] = [];
  const onWarning = (w: TarWarning): void => {
    warnings.push(w);
    opts.onWarning?.(w);
  };
  const builder = new TarTreeBuilder({ ...opts, onWarning });
  const wantData = opts.copyFrom ? (e: TarEntry): boolean => e.sparse !== undefined : (e: TarEntry): boolean => !sparseInPlace(e);
  const gen = readTarBatches(input, { ...(opts.tap ? { tap: opts.tap } : {}), wantData, onWarning });
  let entries = 0;
  let r = await gen.next();
  while (!r.done) {
    for (const item of r.value) builder.add(item.entry, item.data);
    entries += r.value.length;
    r = await gen.next();
  }
  return { root: builder.root, implicitDirs: builder.implicitDirs, entries, end: r.value, warnings };
}

/** What {@link layerOfTar} returns: the layer in columns, or (when an entry needed it) as a tree. */
export interface LayerOfTar {
  /** The layer in columns, when every entry fitted them. */
  flat: FlatLayer | undefined;
  /** The layer as a tree, when an entry needed the general builder (`flat` is then undefined). */
  tree: { root: TreeNode; implicitDirs: Set<TreeNode> } | undefined;
  entries: number;
  /** Entries the columns took before the general builder (if ever) took over. */
  flatEntries: number;
  end: TarEnd;
  warnings: TarWarning[];
}

/**
 * {@link treeOfTar} for the tar index: entries go into a {@link FlatLayer} until one needs the
 * general builder, which then continues from the tree built so far. Same semantics, same
 * errors; without `copyFrom` (the index points at the tar, it copies nothing).
 */
export async function layerOfTar(
  input: AsyncIterable<Uint8Array> | ByteSource,
  opts: Omit<TreeBuilderOptions, 'copyFrom'> & { tap?: (chunk: Uint8Array) => void },
): Promise<LayerOfTar> {
  const warnings: TarWarning[] = [];
  const onWarning = (w: TarWarning): void => {
    warnings.push(w);
    opts.onWarning?.(w);
  };
  const flat = new FlatLayer(opts.aufs ?? false);
  let builder: TarTreeBuilder | undefined;
  let taken = 0;
  // Plain headers go straight into the columns (no entry object); the reader makes entries of
  // the rest, which the columns take too when they can.
  const readOpts: TarReadOptions = {
    ...(opts.tap ? { tap: opts.tap } : {}),
    wantData: (e) => !sparseInPlace(e),
    onWarning,
    takeHeader: (blk, at, dialect, size) => {
      if (!flat.addHeader(blk, at, dialect, size)) return false;
      taken++;
      return true;
    },
  };
  const gen = readTarBatches(input, readOpts);
  let entries = 0;
  let flatEntries = 0;
  let r = await gen.next();
  while (!r.done) {
    const items = r.value;
    let k = 0;
    if (!builder) {
      while (k < items.length && flat.add(items[k]!.entry)) k++;
      flatEntries += k;
      if (k < items.length) {
        builder = new TarTreeBuilder({ aufs: opts.aufs ?? false, onWarning }, flat.toTree());
        readOpts.takeHeader = undefined;
      }
    }
    if (builder) for (; k < items.length; k++) builder.add(items[k]!.entry, items[k]!.data);
    entries += items.length;
    r = await gen.next();
  }
  return {
    flat: builder ? undefined : flat,
    tree: builder ? { root: builder.root, implicitDirs: builder.implicitDirs } : undefined,
    entries: entries + taken,
    flatEntries: flatEntries + taken,
    end: r.value,
    warnings,
  };
}
