/**
 * Tar index: one streaming pass over a layer tar yields an EROFS metadata image (512-byte
 * blocks) whose regular files are chunk-based inodes pointing into the untouched tar (extra
 * device 1, or the same bytes appended after the metadata), together with the tar's sha256
 * (its diffID) and optionally its fs-verity digest.
 */
import type { ByteSource } from '../io/source.js';
import type { TarWarning } from '../tar/entry.js';
import type { TarEnd } from '../tar/reader.js';
import { writeImage } from '../erofs/writer.js';
import { sha256, toHex, type HashFactory } from '../digest/hash.js';
import { FsVerityHasher, formatDigest, type FsVerityOptions } from '../digest/fsverity.js';
import { layerOfTar, treeOfTar } from './tree.js';
import { writeFlatIndex } from './flat-writer.js';
import type { TreeNode } from '../tree/node.js';
import type { FlatLayer } from './flat.js';

export interface TarIndexOptions {
  /** `.wh.` entries become overlayfs whiteouts (as `mkfs.erofs --aufs`). */
  aufs?: boolean;
  /** Volume uuid; default: derived from the diffID, so the same tar gives the same image. */
  uuid?: Uint8Array;
  /** Superblock build time; default: the most common mtime in the layer (most inodes compact). */
  timestamp?: { sec: number; nsec: number };
  /** SHA-256 backend for the diffID (node:crypto from the Node entry is faster). */
  hash?: HashFactory;
  /**
   * The tar's SHA-256, computed elsewhere over the same bytes (a worker thread reading the same
   * file): the pass then hashes nothing, and a seekable input's large data is not read at all.
   * The caller checks that the bytes hashed are the `tarBytes` of the result.
   */
  sha256?: Promise<Uint8Array>;
  /** Also compute the fs-verity digest of the tar with these parameters. */
  verity?: FsVerityOptions;
  /** Sees every byte of the tar once, in order (for writing it out during the same pass). */
  tap?: (chunk: Uint8Array) => void;
  onWarning?: (w: TarWarning) => void;
  /** Also return the layer's tree (for stacking layers: `mergeLayers`). */
  keepTree?: boolean;
  /**
   * Build the layer in columns ({@link FlatLayer}) while its entries allow (the default); false
   * uses the general tree builder and writer throughout. The image is the same either way
   * (the tests compare them); the columns are much faster on layers of many files.
   */
  columns?: boolean;
}

export interface TarIndexResult {
  /** The metadata image. */
  image: Uint8Array;
  /** `sha256:<hex>` of every byte of the input tar. */
  diffId: string;
  /** `sha256:<hex>` fs-verity digest of the tar, when asked. */
  verity?: string;
  /** Bytes of tar read (trailer and trailing data included). */
  tarBytes: number;
  /** Blocks of device 1 the image refers to (tar content up to the end-of-archive marker). */
  deviceBlocks: number;
  entries: number;
  /** Entries the columnar builder took (`entries` unless one needed the general builder, or `columns` was false). */
  columnEntries: number;
  inodes: number;
  warnings: TarWarning[];
  /** The layer's tree and its implicit directories, with `keepTree`. */
  tree?: { root: TreeNode; implicitDirs: Set<TreeNode> };
}

/** A UUID (version 8, RFC 9562 custom) taken from the first 16 bytes of a digest. */
export function uuidFromDigest(d: Uint8Array): Uint8Array {
  // A copy: `slice` of a Node Buffer would be a view and the bits below would alter the digest.
  const u = new Uint8Array(16);
  u.set(d.subarray(0, 16));
  u[6] = (u[6]! & 0x0f) | 0x80;
  u[8] = (u[8]! & 0x3f) | 0x80;
  return u;
}

export async function indexTar(input: AsyncIterable<Uint8Array> | ByteSource, opts: TarIndexOptions = {}): Promise<TarIndexResult> {
  const hasher = opts.sha256 ? undefined : (opts.hash ?? sha256)();
  const verity = opts.verity ? new FsVerityHasher(opts.verity) : undefined;
  const extra = opts.tap;
  const tapping = hasher !== undefined || verity !== undefined || extra !== undefined;
  const tap = (chunk: Uint8Array): void => {
    hasher?.update(chunk);
    verity?.update(chunk);
    extra?.(chunk);
  };
  const treeOpts = {
    aufs: opts.aufs ?? false,
    ...(opts.onWarning ? { onWarning: opts.onWarning } : {}),
    ...(tapping ? { tap } : {}),
  };
  // The layer in columns where it can be (see FlatLayer), else (or from the first entry that
  // needs it on) as a tree for the general writer.
  let flat: FlatLayer | undefined;
  let tree: { root: TreeNode; implicitDirs: Set<TreeNode> } | undefined;
  let columnEntries = 0;
  let pass: { entries: number; end: TarEnd; warnings: TarWarning[] };
  if (opts.columns === false) {
    const t = await treeOfTar(input, treeOpts);
    tree = t;
    pass = t;
  } else {
    const l = await layerOfTar(input, treeOpts);
    flat = l.flat;
    tree = l.tree;
    columnEntries = l.flatEntries;
    pass = l;
  }
  const { entries, end, warnings } = pass;
  const digest = hasher ? hasher.digest() : await opts.sha256!;
  const deviceBlocks = Math.ceil(end.endOffset / 512);
  const writerOpts = { devices: [{ blocks: deviceBlocks }], uuid: opts.uuid ?? uuidFromDigest(digest), ...(opts.timestamp ? { epoch: opts.timestamp } : {}) };
  const written = flat ? writeFlatIndex(flat, writerOpts) : writeImage(tree!.root, { blkszbits: 9, ...writerOpts });
  const result: TarIndexResult = {
    image: written.image,
    diffId: `sha256:${toHex(digest)}`,
    tarBytes: end.totalBytes,
    deviceBlocks,
    entries,
    columnEntries,
    inodes: written.inodes,
    warnings,
  };
  // The tree of a layer kept in columns is made once its image is written.
  if (opts.keepTree) result.tree = tree ?? flat!.toTree();
  if (verity) result.verity = formatDigest(verity.digest(), verity.algorithm);
  return result;
}
