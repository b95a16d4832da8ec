/**
 * `erofs-kit build --composefs`: a composefs image (metadata only; file data in an object
 * store named by fs-verity digests) from a directory, a layer tar or a composefs dump, and
 * the object store writes (`--objects DIR`: each object once, existing ones skipped, each
 * written to a temp file and renamed into place).
 */
import { closeSync, createReadStream, existsSync, mkdirSync, openSync, readFileSync, readSync, statSync } from 'node:fs';
import { join } from 'node:path';
import {
  FsVerityHasher,
  composefsTree,
  digestPath,
  fsverityDigest,
  parseDump,
  readNodeData,
  toHex,
  treeOfTar,
  writeComposefs,
  type CfsNode,
  type TreeNode,
} from '@erofs-kit/core';
import { FileSource, nodeSha256, treeFromDirectory } from '@erofs-kit/core/node';
import { Out, UsageError, warn } from './util.js';
import { Outputs, writeAllSync } from './outputs.js';
import { layerChunks, nodeChunks, sniff, spool } from './layer-input.js';

export interface ComposefsBuildOptions {
  output: string;
  objects: string | undefined;
  /** --format-version: min = max; undefined: the lowest the input needs. */
  version: number | undefined;
  aufs: boolean;
  exclude: ((path: string) => boolean) | undefined;
  /** mkcomposefs's input filters (directory and tar inputs). */
  filters: { useEpoch: boolean; skipXattrs: boolean; userXattrs: boolean; skipDevices: boolean };
  /** --hard-links: keep a directory's or tar's hard links (a dump's are always kept). */
  hardLinks: boolean;
  /** Owner mapping and the like, applied to a directory's or tar's tree. */
  prepare: (root: TreeNode) => void;
  json: boolean;
}

/** What kind of input SOURCE is: a directory, a composefs dump (text starting with '/'), or a tar. */
function kindOf(source: string): 'dir' | 'dump' | 'tar' {
  if (source === '-') return 'tar';
  let st;
  try {
    st = statSync(source);
  } catch {
    return 'tar'; // FileSource reports the missing file
  }
  if (st.isDirectory()) return 'dir';
  const fd = openSync(source, 'r');
  try {
    const head = new Uint8Array(512);
    const n = readSyncAll(fd, head);
    const h = head.subarray(0, n);
    const ustar = n >= 262 && new TextDecoder('latin1').decode(h.subarray(257, 262)) === 'ustar';
    if (!ustar && sniff(h) === 'none' && h[0] === 0x2f) return 'dump';
    return 'tar';
  } finally {
    closeSync(fd);
  }
}

function readSyncAll(fd: number, buf: Uint8Array): number {
  let n = 0;
  while (n < buf.length) {
    const r = readSync(fd, buf, n, buf.length - n, n);
    if (r === 0) break;
    n += r;
  }
  return n;
}

export async function buildComposefs(source: string, o: ComposefsBuildOptions): Promise<number> {
  const kind = kindOf(source);
  if (kind !== 'dir' && o.exclude) throw new UsageError('--exclude applies to a directory SOURCE only');
  if (kind === 'dump' && o.objects !== undefined) throw new UsageError('--objects needs the files themselves: a dump has only their digests');
  if (kind === 'dump' && Object.values(o.filters).some(Boolean)) throw new UsageError('--use-epoch, --skip-xattrs, --user-xattrs and --skip-devices apply to directories and tars, not to a dump');
  const outputs = new Outputs();
  let tarSource: FileSource | undefined;
  let written = 0;
  try {
    let root: CfsNode;
    let objects: { path: string }[] = [];
    if (kind === 'dump') {
      root = parseDump(new Uint8Array(readFileSync(source)));
    } else {
      let tree: TreeNode;
      if (kind === 'dir') {
        const t = await treeFromDirectory(source, { onWarning: (m) => warn(m), ...(o.exclude ? { exclude: o.exclude } : {}) });
        tree = t.root;
      } else {
        tarSource = await openTar(source, o.output, outputs);
        const t = await treeOfTar(tarSource, { aufs: o.aufs, copyFrom: tarSource, onWarning: (w) => warn(`${w.path ?? ''}${w.path ? ': ' : ''}${w.message}`) });
        tree = t.root;
      }
      o.prepare(tree);
      const store = o.objects === undefined ? undefined : new ObjectWriter(o.objects, outputs);
      ({ root, objects } = await composefsTree(tree, { hash: nodeSha256, ...o.filters, hardLinks: o.hardLinks, ...(store ? { digestOf: (n: TreeNode) => store.add(n) } : {}) }));
      written = store?.written ?? 0;
    }
    const r = writeComposefs(root, o.version === undefined ? {} : { minVersion: o.version, maxVersion: o.version });
    const temp = outputs.temp(o.output);
    const fd = openSync(temp, 'wx', 0o644);
    try {
      writeAllSync(fd, r.image);
    } finally {
      closeSync(fd);
    }
    outputs.commit(temp, o.output);
    await tarSource?.close();
    tarSource = undefined;
    outputs.cleanup();
    const digest = toHex(await fsverityDigest(r.image, { hash: nodeSha256 }));
    const out = new Out();
    const stored = o.objects !== undefined ? { objects: objects.length, written, present: objects.length - written } : { objects: objects.length };
    if (o.json) out.line(JSON.stringify({ image: o.output, bytes: r.image.length, composefsVersion: r.version, inodes: r.inodes, digest, ...stored }, null, 2));
    else {
      out.line(`${o.output}: ${r.image.length} bytes, composefs format ${r.version}, ${r.inodes} inodes, ${objects.length} objects` + (o.objects !== undefined ? ` (${written} written to ${o.objects}, ${objects.length - written} already there)` : ''));
      out.line(`digest ${digest}`);
    }
    out.flush();
    return 0;
  } catch (e) {
    outputs.cleanup();
    throw e;
  } finally {
    await tarSource?.close();
  }
}

/** A plain tar to read twice (tree, then object bytes): compressed or streamed input is spooled beside the output. */
async function openTar(source: string, output: string, outputs: Outputs): Promise<FileSource> {
  if (source !== '-') {
    const s = new FileSource(source);
    if (sniff(s.size >= 4 ? s.readSync(0, 4) : new Uint8Array(0)) === 'none') return s;
    await s.close();
  }
  const spooled = outputs.temp(output + '.tar');
  const fd = openSync(spooled, 'wx', 0o600);
  try {
    const { chunks } = await layerChunks(source, (p) => nodeChunks(createReadStream(p, { highWaterMark: 1 << 20 })), () =>
      warn('zstd content checksums are not verified (no zstd command to check them)'),
    );
    await spool(chunks, fd);
  } finally {
    closeSync(fd);
  }
  return new FileSource(spooled);
}

/**
 * The object store. A file is hashed (fs-verity) first and copied only when the store does
 * not have its digest yet; a file of at most 1 MiB is read once and copied from memory. Each
 * object is written to a temp file in the store and renamed to the digest's path.
 */
class ObjectWriter {
  written = 0;
  private readonly present = new Set<string>();
  constructor(
    private readonly store: string,
    private readonly outputs: Outputs,
  ) {
    mkdirSync(store, { recursive: true });
  }

  async add(node: TreeNode): Promise<Uint8Array> {
    const piece = 1 << 20;
    const h = new FsVerityHasher({ hash: nodeSha256 });
    const whole = node.size <= piece ? await readNodeData(node, 0, node.size) : undefined;
    if (whole) h.update(whole);
    else for (let off = 0; off < node.size; off += piece) h.update(await readNodeData(node, off, Math.min(piece, node.size - off)));
    const digest = h.digest();
    const path = digestPath(digest);
    if (this.present.has(path)) return digest;
    this.present.add(path);
    const dest = join(this.store, path);
    if (existsSync(dest)) return digest;
    mkdirSync(join(this.store, path.slice(0, 2)), { recursive: true });
    const temp = this.outputs.temp(dest);
    const fd = openSync(temp, 'wx', 0o644);
    try {
      if (whole) writeAllSync(fd, whole);
      else for (let off = 0; off < node.size; off += piece) writeAllSync(fd, await readNodeData(node, off, Math.min(piece, node.size - off)));
    } finally {
      closeSync(fd);
    }
    this.outputs.commit(temp, dest);
    this.written++;
    return digest;
  }
}
