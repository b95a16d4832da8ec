import { closeSync, createReadStream, openSync, statSync, writeSync } from 'node:fs';
import { COMPAT_TABLE, aufsToOverlay, buildFromTar, compareVersions, keyBytes, longPrefix, stripOverlay, writeImageTo, type ImageSink, type TreeNode, type WriteProgress } from '@erofs-kit/core';
import { Progress } from '../progress.js';
import { FileSource, treeFromDirectory } from '@erofs-kit/core/node';
import { Out, UsageError, jsonOption, warn, type Command } from '../util.js';
import { Outputs, parseTimestamp, parseUuid } from '../outputs.js';
import { layerChunks, nodeChunks, sniff, spool } from '../layer-input.js';
import { buildComposefs } from '../composefs.js';
import { SUMMARIES } from './summaries.js';

const BLOCK_SIZES: Record<string, number> = { '512': 9, '1024': 10, '2048': 11, '4096': 12 };

export const build: Command = {
  name: 'build',
  summary: SUMMARIES.build,
  usage: 'erofs-kit build SOURCE -o IMAGE [--composefs [--objects DIR] [--format-version 0|1] [--hard-links]] [--block-size N] [--target-kernel X.Y] [--no-inline-data] [--force-extended|--force-compact] [--aufs] [--all-root] [--uid-offset N] [--gid-offset N] [--uuid UUID] [--timestamp SECONDS] [--label NAME] [--exclude GLOB] [--json]',
  help: `Builds a self-contained, uncompressed EROFS image. SOURCE is a directory (every file type,
hard links, owners, nanosecond mtimes, xattrs through getfattr) or a tar: plain, gzip or zstd,
or - for standard input (the tree 'erofs-kit index' gives it: later entries win, hard links,
implicit parents, --aufs whiteouts; a compressed or streamed tar is first written out plainly
beside the output, and removed at the end). Every regular file's bytes are copied into the image. The same input and options
give the same bytes, whatever order the filesystem lists directories in.
  -o, --output FILE     the image
  --composefs           a composefs image instead: metadata only, as composefs 1.0.8's
                        mkcomposefs writes it (byte for byte). Files of 1 to 64 bytes are
                        inlined; larger ones refer to the object named by their fs-verity
                        digest (overlayfs metacopy + redirect). SOURCE may also be a
                        composefs dump file (composefs-dump(5)). Prints the image's digest
  --objects DIR         with --composefs: write the objects into the store DIR (DIR/xx/yyyy...),
                        skipping those already there
  --format-version N    with --composefs: composefs format 0 or 1 (default: the lowest the
                        input needs, 1 when it has whiteouts)
  --use-epoch, --skip-xattrs, --user-xattrs, --skip-devices
                        with --composefs, as mkcomposefs's options of the same names: every
                        mtime 0; no xattrs; only user.* xattrs; no character or block devices
  --hard-links          with --composefs: keep a directory's or tar's hard links (one inode,
                        its link count the number of names). mkcomposefs gives every name an
                        inode of its own, so the default does too; a dump's links are always kept
  --block-size N        512, 1024, 2048 or 4096 (default 4096)
  --no-inline-data      no inline tails for regular files (mkfs.erofs -E noinline_data)
  --aufs                .wh.NAME becomes an overlayfs whiteout, .wh..wh..opq an opaque directory
  --uuid UUID           volume uuid (default all zeros)
  --timestamp SECONDS   superblock time base (default: SOURCE_DATE_EPOCH, else the most common mtime)
  --label NAME          volume name (at most 16 bytes)
  --force-extended      every inode extended (64 bytes), as mkfs.erofs -E force-inode-extended
  --force-compact       compact inodes (32 bytes) wherever owner, size and link count fit,
                        every mtime replaced by the superblock's time base (as mkfs.erofs
                        -E force-inode-compact); by default an inode is extended only when
                        one of its fields needs it, its mtime included
  --target-kernel X.Y   the oldest Linux the image must mount on: features it lacks are left
                        out (xattr name filter before 6.6, long xattr prefixes before 6.4)
                        and options it cannot mount are refused (block sizes below 4096
                        before 6.4, --chunk-size before 5.15, --blob before 5.16); default:
                        every feature ('erofs-kit inspect' names the minimum kernel)
  --xattr-prefix P      define the long xattr name prefix P (repeatable; P extends user.,
                        trusted. or security.), as mkfs.erofs --xattr-prefix; by default the
                        prefixes that make the image smaller are chosen (e.g. trusted.overlay.
                        in layer trees)
  --no-shared-xattrs    keep every xattr inline (by default one that two or more inodes carry
                        is stored once, as mkfs.erofs does)
  --chunk-size N        regular files as chunks of N bytes (a power of two, at least the block size)
  --blob FILE           with --chunk-size: file data goes to FILE, an extra device
                        (mount -o device=FILE's loop device)
  --exclude GLOB        leave out matching paths (repeatable; paths relative to the root of the
                        directory or tar): '*' and '?' stay within a name, '**' crosses '/', a
                        pattern without '/' matches names anywhere; an excluded directory
                        goes with everything under it
  --ovlfs-strip         drop overlayfs whiteouts and trusted.overlay.* xattrs
  --quiet               no progress line (it is shown on a terminal only anyway)
  --all-root            every file owned by 0:0
  --uid-offset N        add N to every uid (after --all-root); --gid-offset N likewise
  --json                print the result as JSON`,
  options: {
    ...jsonOption,
    output: { type: 'string', short: 'o' },
    'block-size': { type: 'string' },
    'no-inline-data': { type: 'boolean' },
    aufs: { type: 'boolean' },
    uuid: { type: 'string' },
    timestamp: { type: 'string' },
    label: { type: 'string' },
    'all-root': { type: 'boolean' },
    quiet: { type: 'boolean', short: 'q' },
    'force-extended': { type: 'boolean' },
    'force-compact': { type: 'boolean' },
    'target-kernel': { type: 'string' },
    'xattr-prefix': { type: 'string', multiple: true },
    'no-shared-xattrs': { type: 'boolean' },
    'chunk-size': { type: 'string' },
    blob: { type: 'string' },
    exclude: { type: 'string', multiple: true },
    'ovlfs-strip': { type: 'boolean' },
    'uid-offset': { type: 'string' },
    'gid-offset': { type: 'string' },
    composefs: { type: 'boolean' },
    objects: { type: 'string' },
    'format-version': { type: 'string' },
    'use-epoch': { type: 'boolean' },
    'skip-xattrs': { type: 'boolean' },
    'user-xattrs': { type: 'boolean' },
    'skip-devices': { type: 'boolean' },
    'hard-links': { type: 'boolean' },
  },
  async run({ values, positionals }) {
    const [layer] = positionals;
    if (!layer) throw new UsageError('build needs a LAYER.tar');
    const output = values.output as string | undefined;
    if (!output) throw new UsageError('build needs -o IMAGE');
    const bsText = (values['block-size'] as string | undefined) ?? '4096';
    const bits = BLOCK_SIZES[bsText];
    if (bits === undefined) throw new UsageError(`--block-size ${bsText}: expected 512, 1024, 2048 or 4096`);
    const uuid = values.uuid !== undefined ? parseUuid(values.uuid as string) : undefined;
    const sde = process.env.SOURCE_DATE_EPOCH;
    const timestamp =
      values.timestamp !== undefined ? parseTimestamp(values.timestamp as string, '--timestamp') : sde ? parseTimestamp(sde, 'SOURCE_DATE_EPOCH') : undefined;
    let label: Uint8Array | undefined;
    if (values.label !== undefined) {
      label = new TextEncoder().encode(values.label as string);
      if (label.length > 16) throw new UsageError(`--label ${values.label as string}: ${label.length} bytes, at most 16`);
      const padded = new Uint8Array(16);
      padded.set(label);
      label = padded;
    }
    const offsetOf = (name: string): number => {
      const v = values[name] as string | undefined;
      if (v === undefined) return 0;
      if (!/^\d+$/.test(v) || Number(v) > 0xffffffff) throw new UsageError(`--${name} ${v}: expected a number from 0 to 4294967295`);
      return Number(v);
    };
    const owners = { allRoot: values['all-root'] === true, uid: offsetOf('uid-offset'), gid: offsetOf('gid-offset') };
    const excludes = ((values.exclude as string[] | undefined) ?? []).map(globMatcher);
    const shape: TreeShape = { owners, aufs: values.aufs === true, strip: values['ovlfs-strip'] === true, exclude: excludes.length ? (p) => excludes.some((m) => m(p)) : undefined };
    let isDir = false;
    try {
      isDir = layer !== '-' && statSync(layer).isDirectory();
    } catch {
      /* FileSource reports a missing file */
    }
    if (values.composefs === true) {
      for (const opt of ['block-size', 'no-inline-data', 'uuid', 'timestamp', 'label', 'force-extended', 'force-compact', 'target-kernel', 'xattr-prefix', 'no-shared-xattrs', 'chunk-size', 'blob', 'ovlfs-strip']) {
        if (values[opt] !== undefined) throw new UsageError(`--${opt} does not apply to --composefs (its layout is mkcomposefs's)`);
      }
      const fv = values['format-version'] as string | undefined;
      if (fv !== undefined && fv !== '0' && fv !== '1') throw new UsageError(`--format-version ${fv}: expected 0 or 1`);
      if (values['skip-xattrs'] === true && values['user-xattrs'] === true) throw new UsageError('--skip-xattrs and --user-xattrs contradict each other');
      return buildComposefs(layer, {
        output,
        filters: {
          useEpoch: values['use-epoch'] === true,
          skipXattrs: values['skip-xattrs'] === true,
          userXattrs: values['user-xattrs'] === true,
          skipDevices: values['skip-devices'] === true,
        },
        hardLinks: values['hard-links'] === true,
        objects: values.objects as string | undefined,
        version: fv === undefined ? undefined : Number(fv),
        aufs: values.aufs === true,
        exclude: shape.exclude,
        prepare: (root) => reshape(root, { ...shape, aufs: isDir && shape.aufs }),
        json: values.json === true,
      });
    }
    for (const opt of ['objects', 'format-version', 'use-epoch', 'skip-xattrs', 'user-xattrs', 'skip-devices', 'hard-links']) if (values[opt] !== undefined) throw new UsageError(`--${opt} needs --composefs`);
    if (values['force-extended'] === true && values['force-compact'] === true) throw new UsageError('--force-extended and --force-compact exclude each other');
    let chunkBits: number | undefined;
    const cs = values['chunk-size'] as string | undefined;
    if (cs !== undefined) {
      const n = Number(cs);
      if (!/^\d+$/.test(cs) || n < 2 ** bits || n > 2 ** (bits + 31) || (n & (n - 1)) !== 0) {
        throw new UsageError(`--chunk-size ${cs}: expected a power of two from the block size (${2 ** bits}) up`);
      }
      chunkBits = Math.log2(n);
    }
    const blobPath = values.blob as string | undefined;
    if (blobPath !== undefined && chunkBits === undefined) throw new UsageError('--blob needs --chunk-size (the blob is addressed by chunk indexes)');
    const target = targetKernel(values['target-kernel'] as string | undefined);
    const needs = (feature: string, what: string): void => {
      const k = COMPAT_TABLE[feature]!.kernel;
      if (target && compareVersions(target, k) < 0) throw new UsageError(`${what} needs Linux ${k} (${feature}); --target-kernel is ${target}`);
    };
    if (bits < 12) needs('small-blocks', `--block-size ${2 ** bits}`);
    if (chunkBits !== undefined) needs('chunked_file', '--chunk-size');
    if (blobPath !== undefined) needs('device_table', '--blob');
    const explicitPrefixes = (values['xattr-prefix'] as string[] | undefined) ?? [];
    for (const p of explicitPrefixes) {
      try {
        longPrefix(p);
      } catch (e) {
        throw new UsageError(`--xattr-prefix ${p}: ${(e as Error).message}`);
      }
    }
    if (explicitPrefixes.length) needs('xattr_prefixes', '--xattr-prefix');
    const allows = (feature: string): boolean => !target || compareVersions(target, COMPAT_TABLE[feature]!.kernel) >= 0;
    const longPrefixes = explicitPrefixes.length ? explicitPrefixes : allows('xattr_prefixes') ? ('auto' as const) : undefined;
    const xattrFilter = allows('xattr_filter');
    const writerOptions = {
      blkszbits: bits,
      packInodes: 'best-fit' as const,
      forceExtended: values['force-extended'] === true,
      forceCompact: values['force-compact'] === true,
      sharedXattrs: values['no-shared-xattrs'] !== true,
      ...(longPrefixes ? { longPrefixes } : {}),
      xattrFilter,
      ...(chunkBits !== undefined ? { chunkBits } : {}),
      ...(blobPath !== undefined ? { blob: true } : {}),
      inlineData: values['no-inline-data'] !== true,
      uuid: uuid ?? new Uint8Array(16),
      ...(timestamp ? { epoch: timestamp } : {}),
      ...(label ? { volumeName: label } : {}),
    };
    const progress = new Progress(values.quiet !== true && values.json !== true);
    const started = Date.now();
    const onProgress = (p: WriteProgress): void => progress.update(progressLine(p, started));
    if (isDir) {
      try {
        return await buildFromDirectory(layer, output, blobPath, writerOptions, shape, values.json === true, onProgress);
      } finally {
        progress.done();
      }
    }

    const outputs = new Outputs();
    let source: FileSource | undefined;
    try {
      // The writer reads each file's bytes again after the layout: a compressed layer or a
      // stream is first written out as a plain tar beside the output (removed at the end).
      let plainTar = layer === '-' ? undefined : layer;
      if (plainTar !== undefined) {
        source = new FileSource(plainTar);
        if (sniff(source.size >= 4 ? source.readSync(0, 4) : new Uint8Array(0)) !== 'none') {
          await source.close();
          source = undefined;
          plainTar = undefined;
        }
      }
      if (plainTar === undefined) {
        const spooled = outputs.temp(output + '.tar');
        const sfd = openSync(spooled, 'wx', 0o600);
        try {
          const { chunks } = await layerChunks(layer, (p) => nodeChunks(createReadStream(p, { highWaterMark: 1 << 20 })), () =>
            warn('zstd content checksums are not verified (no zstd command to check them)'),
          );
          await spool(chunks, sfd);
        } finally {
          closeSync(sfd);
        }
        source = new FileSource(spooled);
      }
      const tar: FileSource = source!;
      const result = await writeOutputs(outputs, output, blobPath, (image, blob) =>
        buildFromTar(tar, image, {
          mapTree: (root: TreeNode) => {
            if (shape.exclude) pruneTree(root, shape.exclude);
            reshape(root, { ...shape, aufs: false });
          },
          onProgress,
          ...(chunkBits !== undefined ? { chunkBits } : {}),
          ...(blob ? { blob } : {}),
          blkszbits: bits,
          inlineData: values['no-inline-data'] !== true,
          sharedXattrs: values['no-shared-xattrs'] !== true,
          forceExtended: values['force-extended'] === true,
          forceCompact: values['force-compact'] === true,
          ...(longPrefixes ? { longPrefixes } : {}),
          xattrFilter,
          aufs: values.aufs === true,
          ...(uuid ? { uuid } : {}),
          ...(timestamp ? { timestamp } : {}),
          ...(label ? { volumeName: label } : {}),
        }),
      );
      progress.done();
      await tar.close();
      source = undefined;
      outputs.cleanup(); // the spooled tar, if any
      for (const w of result.warnings.slice(0, 20)) warn(`${w.path ?? ''}${w.path ? ': ' : ''}${w.message}`);
      if (result.warnings.length > 20) warn(`${result.warnings.length - 20} more warnings`);
      const o = new Out();
      if (values.json) o.line(JSON.stringify({ image: output, bytes: result.bytes, blocks: result.blocks, blockSize: 2 ** bits, inodes: result.inodes, entries: result.entries, warnings: result.warnings }, null, 2));
      else o.line(`${output}: ${result.bytes} bytes (${result.blocks} blocks of ${2 ** bits}), ${result.inodes} inodes from ${result.entries} tar entries`);
      o.flush();
      return 0;
    } catch (e) {
      progress.done();
      outputs.cleanup();
      throw e;
    } finally {
      await source?.close();
    }
  },
};

interface Owners {
  allRoot: boolean;
  uid: number;
  gid: number;
}

/**
 * Writes go straight to `fd`; every 50 ms the sink yields to the event loop once, so that
 * Ctrl-C (SIGINT) and SIGTERM are handled while a large image is written (the handler removes
 * the temp files) instead of after the image has been renamed into place.
 */
function fileSink(fd: number): ImageSink {
  let yielded = Date.now();
  return {
    write(offset, bytes) {
      let o = 0;
      while (o < bytes.length) o += writeSync(fd, bytes, o, bytes.length - o, offset + o);
      const now = Date.now();
      if (now - yielded < 50) return;
      yielded = now;
      return new Promise<void>((resolve) => setImmediate(resolve));
    },
  };
}

/** --all-root, --uid-offset, --gid-offset over every inode once (hard links share a node). */
function mapOwners(root: TreeNode, o: Owners): void {
  const seen = new Set<TreeNode>();
  const stack = [root];
  while (stack.length > 0) {
    const n = stack.pop()!;
    if (seen.has(n)) continue;
    seen.add(n);
    if (o.allRoot) {
      n.uid = 0;
      n.gid = 0;
    }
    n.uid += o.uid;
    n.gid += o.gid;
    if (n.uid > 0xffffffff || n.gid > 0xffffffff) throw new UsageError(`--uid-offset/--gid-offset: an owner would exceed 4294967295`);
    for (const c of n.children?.values() ?? []) stack.push(c);
  }
}

async function buildFromDirectory(
  dir: string,
  output: string,
  blobPath: string | undefined,
  writerOptions: Parameters<typeof writeImageTo>[1],
  shape: TreeShape,
  json: boolean,
  onProgress: (p: WriteProgress) => void,
): Promise<number> {
  const tree = await treeFromDirectory(dir, { onWarning: (m) => warn(m), ...(shape.exclude ? { exclude: shape.exclude } : {}) });
  reshape(tree.root, shape);
  const outputs = new Outputs();
  try {
    const r = await writeOutputs(outputs, output, blobPath, (image, blob) => writeImageTo(tree.root, writerOptions, image, onProgress, blob));
    const bytes = r.blocks * 2 ** writerOptions.blkszbits;
    const o = new Out();
    if (json) o.line(JSON.stringify({ image: output, bytes, blocks: r.blocks, blockSize: 2 ** writerOptions.blkszbits, inodes: r.inodes, xattrs: tree.xattrsRead, warnings: tree.warnings }, null, 2));
    else o.line(`${output}: ${bytes} bytes (${r.blocks} blocks of ${2 ** writerOptions.blkszbits}), ${r.inodes} inodes from ${dir}${tree.xattrsRead ? '' : ' (xattrs skipped)'}`);
    o.flush();
    return 0;
  } catch (e) {
    outputs.cleanup();
    throw e;
  }
}

/**
 * Runs `write` with sinks over temp files for the image and (with --blob) the blob, and renames
 * them into place when it succeeds. On failure the descriptors are closed; the caller's
 * `outputs.cleanup()` removes the temp files.
 */
async function writeOutputs<T>(outputs: Outputs, output: string, blobPath: string | undefined, write: (image: ImageSink, blob: ImageSink | undefined) => Promise<T>): Promise<T> {
  const temp = outputs.temp(output);
  const blobTemp = blobPath !== undefined ? outputs.temp(blobPath) : undefined;
  let fd: number | undefined = openSync(temp, 'wx', 0o644);
  let blobFd: number | undefined;
  try {
    if (blobTemp) blobFd = openSync(blobTemp, 'wx', 0o644);
    const result = await write(fileSink(fd), blobFd !== undefined ? fileSink(blobFd) : undefined);
    closeSync(fd);
    fd = undefined;
    if (blobFd !== undefined) {
      closeSync(blobFd);
      blobFd = undefined;
      outputs.commit(blobTemp!, blobPath!);
    }
    outputs.commit(temp, output);
    return result;
  } finally {
    if (blobFd !== undefined) closeSync(blobFd);
    if (fd !== undefined) closeSync(fd);
  }
}

const MiB = 1 << 20;

/** `files 120/5241, 80/163 MiB, 95 MiB/s, 1 s left` */
function progressLine(p: WriteProgress, started: number): string {
  const secs = Math.max(0.001, (Date.now() - started) / 1000);
  const rate = p.bytes / secs;
  const left = rate > 0 ? Math.ceil((p.totalBytes - p.bytes) / rate) : 0;
  return `files ${p.files}/${p.totalFiles}, ${(p.bytes / MiB).toFixed(0)}/${(p.totalBytes / MiB).toFixed(0)} MiB, ${(rate / MiB).toFixed(0)} MiB/s, ${left} s left`;
}

interface TreeShape {
  owners: Owners;
  /** .wh. files → overlayfs whiteouts (the tar builder does this itself for tars). */
  aufs: boolean;
  strip: boolean;
  exclude: ((path: string) => boolean) | undefined;
}

function reshape(root: TreeNode, shape: TreeShape): void {
  if (shape.aufs) aufsToOverlay(root);
  if (shape.strip) stripOverlay(root);
  const o = shape.owners;
  if (o.allRoot || o.uid || o.gid) mapOwners(root, o);
}

/** --target-kernel X.Y: a release EROFS exists in (5.4 on), or undefined when not given. */
function targetKernel(text: string | undefined): string | undefined {
  if (text === undefined) return undefined;
  const m = /^(\d+)\.(\d+)$/.exec(text);
  if (!m) throw new UsageError(`--target-kernel ${text}: expected a release such as 6.1`);
  const v = `${Number(m[1])}.${Number(m[2])}`;
  if (compareVersions(v, COMPAT_TABLE['base']!.kernel) < 0) throw new UsageError(`--target-kernel ${text}: EROFS mounts from Linux ${COMPAT_TABLE['base']!.kernel} on`);
  return v;
}

/**
 * --exclude over a tar's tree: removes every entry whose path (relative, '/'-separated, names
 * decoded as UTF-8) the test matches, with everything under it.
 */
function pruneTree(root: TreeNode, exclude: (path: string) => boolean): void {
  const td = new TextDecoder();
  const stack: { dir: TreeNode; path: string }[] = [{ dir: root, path: '' }];
  while (stack.length > 0) {
    const { dir, path } = stack.pop()!;
    for (const [key, child] of dir.children!) {
      const p = path + td.decode(keyBytes(key));
      if (exclude(p)) dir.children!.delete(key);
      else if (child.children) stack.push({ dir: child, path: p + '/' });
    }
  }
}

/** A --exclude glob as a test of a relative path (see the help). */
export function globMatcher(glob: string): (path: string) => boolean {
  let re = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === '*' && glob[i + 1] === '*') {
      i++;
      if (glob[i + 1] === '/') {
        re += '(?:.*/)?'; // "**/": any number of whole directories, none included
        i++;
      } else re += '.*';
    } else if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else re += c.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  }
  const whole = new RegExp(`^${re}$`);
  if (glob.includes('/')) return (p) => whole.test(p);
  return (p) => whole.test(p.slice(p.lastIndexOf('/') + 1));
}
