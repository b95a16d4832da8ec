/**
 * Overlayfs conventions on a finished tree (directory input; the tar builder applies the same
 * rules while it reads a layer): aufs whiteouts turned into overlayfs ones, and overlayfs
 * metadata stripped for a plain image.
 */
import { NO_XATTRS, S_IFCHR, S_IFDIR, S_IFMT, type TreeNode } from './node.js';

const WH = '.wh.';
const OPAQUE = '.wh..wh..opq';

function dirs(root: TreeNode): TreeNode[] {
  const out: TreeNode[] = [];
  const stack = [root];
  while (stack.length > 0) {
    const n = stack.pop()!;
    out.push(n);
    for (const c of n.children!.values()) if ((c.mode & S_IFMT) === S_IFDIR) stack.push(c);
  }
  return out;
}

function ownXattrs(n: TreeNode): Map<string, Uint8Array> {
  if (n.xattrs === NO_XATTRS) n.xattrs = new Map();
  return n.xattrs;
}

/**
 * `.wh.NAME` becomes a whiteout (a 0:0 character device) named NAME, replacing what was there;
 * `.wh..wh..opq` marks its directory opaque (`trusted.overlay.opaque=y`); a directory holding a
 * whiteout gets `trusted.overlay.origin` (empty), as mkfs.erofs --aufs writes it.
 */
export function aufsToOverlay(root: TreeNode): void {
  for (const d of dirs(root)) {
    for (const [key, child] of [...d.children!]) {
      if (!key.startsWith(WH)) continue;
      d.children!.delete(key);
      if (key === OPAQUE) {
        ownXattrs(d).set('trusted.overlay.opaque', new Uint8Array([0x79]));
        continue;
      }
      const name = key.slice(WH.length);
      if (name.length === 0) continue;
      d.children!.set(name, { mode: S_IFCHR, uid: child.uid, gid: child.gid, mtime: child.mtime, mtimeNsec: child.mtimeNsec, size: 0, rdevMajor: 0, rdevMinor: 0, xattrs: NO_XATTRS });
      if (!d.xattrs.has('trusted.overlay.origin')) ownXattrs(d).set('trusted.overlay.origin', new Uint8Array(0));
    }
  }
}

/** Drops whiteouts (0:0 character devices) and every `trusted.overlay.*` xattr, as mkfs.erofs --ovlfs-strip=1. */
export function stripOverlay(root: TreeNode): void {
  const seen = new Set<TreeNode>();
  for (const d of dirs(root)) {
    for (const [key, c] of [...d.children!]) {
      if ((c.mode & S_IFMT) === S_IFCHR && c.rdevMajor === 0 && c.rdevMinor === 0) d.children!.delete(key);
    }
  }
  const stack = [root];
  while (stack.length > 0) {
    const n = stack.pop()!;
    if (seen.has(n)) continue;
    seen.add(n);
    if ([...n.xattrs.keys()].some((k) => k.startsWith('trusted.overlay.'))) {
      n.xattrs = new Map([...n.xattrs].filter(([k]) => !k.startsWith('trusted.overlay.')));
    }
    for (const c of n.children?.values() ?? []) stack.push(c);
  }
}
