/**
 * Stacking layer trees into one root filesystem, as a runtime applies an image's layers in
 * order (image-spec layer.md, "Applying changesets"): a whiteout removes the name from the
 * layers below, an opaque directory hides everything below it, a directory present in both
 * keeps its lower content and takes the upper's attributes (unless the upper layer only
 * implied it as a parent), and anything else in the upper layer replaces what was below.
 *
 * The layer trees are tar-index trees built with `aufs` (whiteouts as 0:0 character devices,
 * opaque directories marked `trusted.overlay.opaque=y`); their file data lives on device 1.
 * In the result, layer `i` (0-based) is device `i + 1` and no overlayfs marker remains.
 */
import { NO_XATTRS, S_IFCHR, S_IFDIR, S_IFMT, newDir, type FileData, type TreeNode } from '../tree/node.js';

export interface LayerTreeInput {
  root: TreeNode;
  /** Directories the layer did not list (see `TarTreeBuilder.implicitDirs`). */
  implicitDirs?: ReadonlySet<TreeNode>;
}

const OPAQUE = 'trusted.overlay.opaque';
const ORIGIN = 'trusted.overlay.origin';

const isWhiteout = (n: TreeNode): boolean => (n.mode & S_IFMT) === S_IFCHR && n.rdevMajor === 0 && n.rdevMinor === 0;
const isDirNode = (n: TreeNode): boolean => (n.mode & S_IFMT) === S_IFDIR;

function isOpaque(n: TreeNode): boolean {
  const v = n.xattrs.get(OPAQUE);
  return v !== undefined && v.length === 1 && v[0] === 0x79;
}

/** A directory's xattrs without the markers the aufs conversion added. */
function plainXattrs(n: TreeNode): Map<string, Uint8Array> {
  if (!n.xattrs.has(OPAQUE) && !n.xattrs.has(ORIGIN)) return n.xattrs.size === 0 ? new Map() : new Map(n.xattrs);
  return new Map([...n.xattrs].filter(([k]) => k !== OPAQUE && k !== ORIGIN));
}

function remap(d: FileData | undefined, device: number): FileData | undefined {
  if (!d) return d;
  if (d.kind === 'extent') return { kind: 'extent', device, offset: d.offset };
  if (d.kind === 'device') return { kind: 'device', device, ranges: d.ranges };
  return d;
}

export function mergeLayers(layers: readonly LayerTreeInput[]): TreeNode {
  const root = newDir();
  layers.forEach((layer, i) => {
    const device = i + 1;
    const implicit = layer.implicitDirs ?? new Set<TreeNode>();
    /** This layer's non-directory nodes already copied: hard links stay one inode. */
    const copies = new Map<TreeNode, TreeNode>();
    const copyLeaf = (n: TreeNode): TreeNode => {
      let c = copies.get(n);
      if (!c) {
        c = { ...n, xattrs: n.xattrs.size === 0 ? NO_XATTRS : n.xattrs };
        const data = remap(n.data, device);
        if (data) c.data = data;
        copies.set(n, c);
      }
      return c;
    };
    const apply = (target: TreeNode, src: TreeNode): void => {
      if (!implicit.has(src)) {
        target.mode = src.mode;
        target.uid = src.uid;
        target.gid = src.gid;
        target.mtime = src.mtime;
        target.mtimeNsec = src.mtimeNsec;
        target.xattrs = plainXattrs(src);
      }
      if (isOpaque(src)) target.children!.clear();
      for (const [name, child] of src.children!) {
        if (isWhiteout(child)) {
          target.children!.delete(name);
          continue;
        }
        if (isDirNode(child)) {
          const below = target.children!.get(name);
          if (below && isDirNode(below)) {
            apply(below, child);
          } else {
            const dir = newDir({ mode: child.mode, uid: child.uid, gid: child.gid, mtime: child.mtime, mtimeNsec: child.mtimeNsec, xattrs: plainXattrs(child) });
            target.children!.set(name, dir);
            apply(dir, child);
          }
          continue;
        }
        target.children!.set(name, copyLeaf(child));
      }
    };
    apply(root, layer.root);
  });
  return root;
}
