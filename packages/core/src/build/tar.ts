/**
 * Full images from a layer tar: the same tree as the tar index (layer semantics, hard links,
 * whiteouts with `aufs`), but every regular file's bytes copied into the image, which then
 * stands alone (no extra device). The tar must be seekable: the writer reads each file's bytes
 * from it when it writes them, after the layout.
 */
import type { ByteSource } from '../io/source.js';
import type { TarWarning } from '../tar/entry.js';
import { writeImageTo, type ImageSink, type WriteProgress } from '../erofs/writer.js';
import { treeOfTar } from '../tarindex/tree.js';
import type { TreeNode } from '../tree/node.js';

export interface BuildOptions {
  /** log2 of the block size, 9 (512) to 12 (4096); default 12. */
  blkszbits?: number;
  /** Keep partial last blocks inline after their inodes when they fit (default true). */
  inlineData?: boolean;
  /** Volume uuid; default all zeros (the same input always gives the same bytes). */
  uuid?: Uint8Array;
  /** Superblock time base; default the most common mtime of the layer. */
  timestamp?: { sec: number; nsec: number };
  volumeName?: Uint8Array;
  aufs?: boolean;
  onWarning?: (w: TarWarning) => void;
  /** Files as chunks of 2^chunkBits bytes (CHUNK_BASED) instead of FLAT. */
  chunkBits?: number;
  /** With `chunkBits`: the files' data goes to this blob (extra device 1) instead of the image. */
  blob?: ImageSink;
  /** Every inode extended (64 bytes, own mtime). */
  forceExtended?: boolean;
  /** Compact inodes wherever the fields fit, mtimes given up (WriterOptions.forceCompact). */
  forceCompact?: boolean;
  /** Long xattr name prefixes (WriterOptions.longPrefixes). Default none. */
  longPrefixes?: 'auto' | readonly string[];
  /** The xattr name bloom filter (WriterOptions.xattrFilter). Default true. */
  xattrFilter?: boolean;
  /** Store an xattr that two or more inodes carry once (default true, as mkfs.erofs). */
  sharedXattrs?: boolean;
  /** Called as the image is written (files copied, bytes written). */
  onProgress?: (p: WriteProgress) => void;
  /** Changes the tree after the pass and before the layout (owners, for example). */
  mapTree?: (root: TreeNode) => void;
}

export interface BuildResult {
  blocks: number;
  /** Blocks written to the blob (0 without one). */
  blobBlocks: number;
  bytes: number;
  inodes: number;
  entries: number;
  warnings: TarWarning[];
}

export async function buildFromTar(tar: ByteSource, sink: ImageSink, opts: BuildOptions = {}): Promise<BuildResult> {
  const bits = opts.blkszbits ?? 12;
  if (bits < 9 || bits > 12) throw new RangeError(`blkszbits ${bits}: full images use 512- to 4096-byte blocks`);
  const { root, entries, warnings } = await treeOfTar(tar, { aufs: opts.aufs ?? false, ...(opts.onWarning ? { onWarning: opts.onWarning } : {}), copyFrom: tar });
  opts.mapTree?.(root);
  const written = await writeImageTo(
    root,
    {
      blkszbits: bits,
      uuid: opts.uuid ?? new Uint8Array(16),
      ...(opts.volumeName ? { volumeName: opts.volumeName } : {}),
      ...(opts.timestamp ? { epoch: opts.timestamp } : {}),
      inlineData: opts.inlineData ?? true,
      packInodes: 'best-fit',
      sharedXattrs: opts.sharedXattrs ?? true,
      forceExtended: opts.forceExtended ?? false,
      forceCompact: opts.forceCompact ?? false,
      ...(opts.longPrefixes ? { longPrefixes: opts.longPrefixes } : {}),
      xattrFilter: opts.xattrFilter ?? true,
      ...(opts.chunkBits !== undefined ? { chunkBits: opts.chunkBits } : {}),
      ...(opts.blob ? { blob: true } : {}),
    },
    sink,
    opts.onProgress,
    opts.blob,
  );
  return { blocks: written.blocks, bytes: written.blocks * 2 ** bits, blobBlocks: written.blobBlocks, inodes: written.inodes, entries, warnings };
}
