/**
 * A directory or tar tree (../tree/node.ts) as a composefs tree, as mkcomposefs reads a
 * directory: files of 1–64 bytes are inlined, larger ones become references to the object
 * named by their fs-verity digest; every name is an inode of its own (mkcomposefs keeps no
 * hard links when it reads files, so each gets link count 1, unless `hardLinks` asks to keep
 * them); devices become 32-bit dev_t values. The filter options are mkcomposefs's
 * --use-epoch, --skip-xattrs, --user-xattrs and --skip-devices.
 */
import { ErofsError, hex } from '../errors.js';
import { FsVerityHasher } from '../digest/fsverity.js';
import type { HashFactory } from '../digest/hash.js';
import { S_IFBLK, S_IFCHR, S_IFDIR, S_IFLNK, S_IFMT, S_IFREG, nameKey, type TreeNode } from '../tree/node.js';
import { INLINE_THRESHOLD } from './format.js';
import { digestPath, makeDev, type CfsNode } from './node.js';

export interface ComposefsTreeOptions {
  /** SHA-256 for the fs-verity digests (default @noble/hashes; the Node entry has a faster one). */
  hash?: HashFactory;
  /**
   * The fs-verity digest of a regular file's bytes, when the caller computes it another way
   * (worker threads); the default streams the file through {@link FsVerityHasher}.
   */
  digestOf?: (node: TreeNode) => Promise<Uint8Array>;
  /** Every mtime 0 (mkcomposefs --use-epoch). */
  useEpoch?: boolean;
  /** No xattrs (--skip-xattrs). */
  skipXattrs?: boolean;
  /** Only `user.*` xattrs (--user-xattrs). */
  userXattrs?: boolean;
  /** Leave out character and block devices, whiteouts included (--skip-devices). */
  skipDevices?: boolean;
  /**
   * Keep hard links (not an mkcomposefs option: it gives every name an inode of its own, and
   * the default stays byte-identical to it). The first name of an inode met depth first with
   * entries in byte order holds the inode; every further name is a link to it, and the link
   * count is the number of names in the image.
   */
  hardLinks?: boolean;
}

/** A backing object: the file whose bytes it holds, and where it goes in a store. */
export interface ComposefsObject {
  digest: Uint8Array;
  /** `xx/yyyy…` relative to the store. */
  path: string;
  size: number;
  /** The tree node whose data is the object's bytes ({@link readNodeData}). */
  node: TreeNode;
}

export interface ComposefsTree {
  root: CfsNode;
  /** One per distinct digest, in the order first met. */
  objects: ComposefsObject[];
}

const utf8 = new TextEncoder();

/** `length` bytes at `offset` of a regular file's data. */
export async function readNodeData(node: TreeNode, offset: number, length: number): Promise<Uint8Array> {
  const d = node.data;
  if (length === 0 || !d || d.kind === 'empty') return new Uint8Array(length);
  if (d.kind === 'input') {
    const b = await d.input.read(d.offset + offset, length);
    if (b.length !== length) throw new ErofsError('truncated', `${d.input.name}: ${length} bytes at ${hex(d.offset + offset)} expected, got ${b.length}`, { offset: d.offset + offset, format: 'io' });
    return b;
  }
  if (d.kind === 'copy') {
    const out = new Uint8Array(length);
    for (const r of d.ranges) {
      const s = Math.max(r.logical, offset);
      const e = Math.min(r.logical + r.bytes.length, offset + length);
      if (s < e) out.set(r.bytes.subarray(s - r.logical, e - r.logical), s - offset);
    }
    return out;
  }
  throw new ErofsError('unsupported-feature', 'file data on an extra device cannot be read here', {});
}

/** The fs-verity digest of a node's data, streamed in 1 MiB pieces. */
async function digestOfNode(node: TreeNode, hash: HashFactory | undefined): Promise<Uint8Array> {
  const h = new FsVerityHasher(hash ? { hash } : {});
  const piece = 1 << 20;
  for (let o = 0; o < node.size; o += piece) h.update(await readNodeData(node, o, Math.min(piece, node.size - o)));
  return h.digest();
}

export async function composefsTree(root: TreeNode, opts: ComposefsTreeOptions = {}): Promise<ComposefsTree> {
  const objects: ComposefsObject[] = [];
  const byDigest = new Set<string>();
  const digests = new Map<TreeNode, Uint8Array>();
  const kept = (child: TreeNode): boolean => {
    const ct = child.mode & S_IFMT;
    return !(opts.skipDevices && (ct === S_IFCHR || ct === S_IFBLK));
  };
  // Names per inode, counted over what the image keeps (only when hard links are kept).
  const names = new Map<TreeNode, number>();
  const primaries = new Map<TreeNode, CfsNode>();
  if (opts.hardLinks) {
    const stack = [root];
    for (let n = stack.pop(); n; n = stack.pop()) {
      for (const child of n.children?.values() ?? []) {
        if (!kept(child)) continue;
        if ((child.mode & S_IFMT) === S_IFDIR) stack.push(child);
        else names.set(child, (names.get(child) ?? 0) + 1);
      }
    }
  }
  const convert = async (n: TreeNode): Promise<CfsNode> => {
    const type = n.mode & S_IFMT;
    const first = primaries.get(n);
    if (first) return { mode: first.mode, uid: first.uid, gid: first.gid, nlink: first.nlink, mtime: first.mtime, mtimeNsec: first.mtimeNsec, size: first.size, rdev: first.rdev, xattrs: new Map(), linkTo: first };
    const c: CfsNode = {
      mode: n.mode,
      uid: n.uid,
      gid: n.gid,
      nlink: type === S_IFDIR ? 2 : names.get(n) ?? 1,
      mtime: opts.useEpoch ? 0 : n.mtime,
      mtimeNsec: opts.useEpoch ? 0 : n.mtimeNsec,
      size: 0,
      rdev: type === S_IFCHR || type === S_IFBLK ? makeDev(n.rdevMajor, n.rdevMinor) : 0,
      xattrs: new Map(),
    };
    if (!opts.skipXattrs) {
      for (const [name, value] of n.xattrs) {
        if (opts.userXattrs && !name.startsWith('user.')) continue;
        c.xattrs.set(nameKey(utf8.encode(name)), value);
      }
    }
    if (type === S_IFLNK) {
      c.payload = n.target ?? new Uint8Array(0);
      c.size = c.payload.length;
    } else if (type === S_IFREG) {
      c.size = n.size;
      if (n.size > 0 && n.size <= INLINE_THRESHOLD) {
        c.content = await readNodeData(n, 0, n.size);
      } else if (n.size > 0) {
        let d = digests.get(n);
        if (!d) {
          d = opts.digestOf ? await opts.digestOf(n) : await digestOfNode(n, opts.hash);
          digests.set(n, d);
        }
        c.digest = d;
        const path = digestPath(d);
        c.payload = utf8.encode(path);
        if (!byDigest.has(path)) {
          byDigest.add(path);
          objects.push({ digest: d, path, size: n.size, node: n });
        }
      }
    } else if (type === S_IFDIR) {
      c.children = new Map();
      const entries = [...(n.children ?? [])];
      // In byte order when links are kept, so the inode's holder does not depend on readdir order.
      if (opts.hardLinks) entries.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
      for (const [key, child] of entries) {
        if (!kept(child)) continue;
        c.children.set(key, await convert(child));
      }
    }
    if ((names.get(n) ?? 0) > 1) primaries.set(n, c);
    return c;
  };
  return { root: await convert(root), objects };
}

