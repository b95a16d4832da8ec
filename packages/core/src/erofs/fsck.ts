/**
 * The checker. `fsckSource()` opens an image itself (so a bad superblock is a reported
 * problem, not an exception) and `fsck()` checks an open image: the superblock, every inode
 * reachable from the root, every directory, xattr, symlink and byte of file data. It never
 * throws for a problem in the image: each one becomes an {@link FsckProblem} with the error
 * code of the one error type, the check that found it (a stable id of {@link FSCK_CHECKS}),
 * where (nid, path, byte offset) and a sentence. Anything else thrown is a bug and propagates.
 *
 * What is decidable about unreachable inodes: EROFS has no inode table or bitmap (a nid is a
 * byte offset), so the only evidence of an inode nobody references is the superblock's
 * `inos` count. The checker compares it with the inodes it reached (plus the packed inode).
 */
import { ErofsError, hex, isErofsError, type ErofsErrorJSON, type ErrorCode } from '../errors.js';
import type { ByteSource } from '../io/source.js';
import { COMPAT_FEATURES, COMPAT_SB_CHKSUM, INCOMPAT_DEVICE_TABLE, INCOMPAT_FEATURES } from './features.js';
import { DataLayout, EROFS_NULL_ADDR, S_IFDIR, S_IFLNK, S_IFMT, S_IFREG, fileTypeOfMode } from './format.js';
import { ErofsImage, isDotOrDotDot, textDecoder, type DirEntry, type Inode, type OpenOptions } from './image.js';
import { filterBit, filterEnabled, nameFilter } from './xattr.js';
import { isCompressed } from './zmap.js';
import { oldKernelRefusesSymlink } from './compat.js';
import { FsVerityHasher } from '../digest/fsverity.js';
import { toHex, type HashFactory } from '../digest/hash.js';
import type { Xattr } from './xattr.js';

const SB = 1024;

/** Every check the checker makes: its id (stable: pipelines match on it) and what it verifies. */
export const FSCK_CHECKS = {
  superblock: 'the superblock decodes: magic, block size, extension slots, dirblkbits, volume name, device table',
  'sb-checksum': 'the superblock crc32c matches when SB_CHKSUM is set',
  'sb-features': 'no feature bit this reader (or any kernel) does not know',
  'sb-blocks': "the image file holds the superblock's block count",
  'sb-root': 'the root nid is a directory',
  'inode-count': 'the superblock inode count equals the inodes reached from the root (plus the packed inode)',
  'device-size': 'every attached device holds the blocks its device-table slot claims',
  inode: 'every reachable inode decodes (format, layout, mode, timestamps)',
  'file-size': 'sizes fit the file type (directories non-empty, symlinks 1..4095 bytes, special files 0)',
  layout: 'data layout fields are consistent with the size (startblk, chunk format, chunk table)',
  'inline-tail': 'an inline tail fits in the block that holds its inode',
  'old-kernel-symlink': 'an inline symlink target ends in the block its inode core ends in (older kernels require it; a warning)',
  'block-address': 'every data block and chunk lies inside its device',
  'chunk-device': 'every chunk index names a device of the device table',
  'dir-block': 'directory blocks decode (nameoff order and bounds, names at most 255 bytes, file types)',
  'dir-order': 'directory entries are sorted and unique (the kernel binary-searches them)',
  'dir-name': 'no entry name is empty or holds "/" or NUL',
  'dir-dot': '"." and ".." are present and point to the directory and its parent',
  'dirent-type': "a dirent's file type equals its inode's type",
  'dir-cycle': 'no directory is reached twice (a cycle or a hard-linked directory)',
  nlink: 'link counts equal the references (files) or 2 + subdirectories (directories)',
  xattr: 'xattr bodies, entries, shared ids and long prefixes are well formed',
  'xattr-filter': 'the xattr name bloom filter does not hide a present name',
  symlink: 'symlink targets are readable',
  'compressed-data': 'compressed extents decode to their stated sizes',
  'data-read': "every byte of every file's data is readable",
  metacopy: 'a trusted.overlay.metacopy value is empty or version 0, length 36 = its size, flags 0, algorithm 1 (SHA-256), on a regular file',
  redirect: 'a trusted.overlay.redirect of a file is an absolute path, and one shaped like a digest path names the metacopy digest',
  object: 'with an object store: every object a file redirects to exists and its fs-verity digest equals the metacopy digest',
} as const;
export type FsckCheck = keyof typeof FSCK_CHECKS;

export interface FsckProblem extends ErofsErrorJSON {
  severity: 'error' | 'warning';
  check: FsckCheck;
  /** The inode the problem belongs to, when there is one. */
  nid?: number;
}

export interface FsckStats {
  inodes: number;
  directories: number;
  files: number;
  symlinks: number;
  special: number;
  bytes: number;
  xattrs: number;
}

export interface FsckReport {
  ok: boolean;
  problems: FsckProblem[];
  stats: FsckStats;
  /** Problems beyond `maxProblems` were counted but not kept. */
  truncated: number;
}

export interface FsckOptions {
  maxProblems?: number;
  /**
   * Read (and decompress) every regular file's data: checks `data-read` and `compressed-data`
   * (default true). false: only the maps are decoded and checked, as fsck.erofs does without
   * --extract.
   */
  data?: boolean;
  onProgress?: (inodes: number, bytes: number) => void;
  /**
   * An overlayfs object store (composefs): the object at a path relative to the store, or
   * undefined when it does not exist. Given, every metacopy file's object is looked up and its
   * fs-verity digest compared with the metacopy digest (check `object`).
   */
  objects?: (path: string) => Promise<ByteSource | undefined>;
  /** SHA-256 for the objects' fs-verity digests (default @noble/hashes). */
  hash?: HashFactory;
}

class Collector {
  readonly problems: FsckProblem[] = [];
  truncated = 0;
  constructor(private readonly max: number) {}
  add(check: FsckCheck, e: unknown, where: { severity?: 'error' | 'warning'; path?: string; nid?: number } = {}): void {
    if (!isErofsError(e)) throw e;
    if (this.problems.length >= this.max) {
      this.truncated++;
      return;
    }
    const j = (where.path !== undefined ? e.withPath(where.path) : e).toJSON();
    const p: FsckProblem = { ...j, severity: where.severity ?? 'error', check };
    if (where.nid !== undefined) p.nid = where.nid;
    this.problems.push(p);
  }
  /** Shorthand for a problem found by the checker itself. */
  found(check: FsckCheck, code: ErrorCode, message: string, offset: number | undefined, where: { severity?: 'error' | 'warning'; path?: string; nid?: number } = {}): void {
    this.add(check, new ErofsError(code, message, offset === undefined ? {} : { offset }), where);
  }
}

/**
 * Opens `source` and checks it. A superblock the reader cannot accept is the report's one
 * problem; a wrong checksum is reported and the check goes on.
 */
export async function fsckSource(source: ByteSource, opts: FsckOptions & Pick<OpenOptions, 'devices' | 'cache'> = {}): Promise<FsckReport> {
  const open: OpenOptions = { ignoreChecksum: true };
  if (opts.devices) open.devices = opts.devices;
  if (opts.cache) open.cache = opts.cache;
  let img: ErofsImage;
  try {
    img = await ErofsImage.open(source, open);
  } catch (e) {
    const c = new Collector(1);
    c.add(isErofsError(e) && e.code === 'unsupported-feature' ? 'sb-features' : 'superblock', e);
    return finish(c, emptyStats());
  }
  return fsck(img, opts);
}

function emptyStats(): FsckStats {
  return { inodes: 0, directories: 0, files: 0, symlinks: 0, special: 0, bytes: 0, xattrs: 0 };
}

function finish(c: Collector, stats: FsckStats): FsckReport {
  return { ok: !c.problems.some((p) => p.severity === 'error'), problems: c.problems, stats, truncated: c.truncated };
}

/** Checks an open image. Never throws for image problems. */
export async function fsck(img: ErofsImage, opts: FsckOptions = {}): Promise<FsckReport> {
  const c = new Collector(opts.maxProblems ?? 1000);
  const stats = emptyStats();
  await checkSuperblock(img, c);
  let root: Inode | undefined;
  try {
    root = await img.root();
    if ((root.mode & S_IFMT) !== S_IFDIR) {
      c.found('sb-root', 'not-a-directory', `the root nid ${img.rootNid} is not a directory (mode ${root.mode.toString(8)})`, SB + 14, { nid: img.rootNid });
      root = undefined;
    }
  } catch (e) {
    c.add('sb-root', e, { nid: img.rootNid });
  }
  if (root !== undefined) await checkTree(img, root, c, stats, opts);
  return finish(c, stats);
}

async function checkSuperblock(img: ErofsImage, c: Collector): Promise<void> {
  const sb = img.sb;
  if (sb.feature_compat & COMPAT_SB_CHKSUM) {
    const got = await img.computeChecksum();
    if (got !== sb.checksum) {
      c.found('sb-checksum', 'bad-checksum', `superblock checksum ${hex(sb.checksum)} does not match crc32c ${hex(got)} of the superblock block: the kernel refuses to mount this image`, SB + 4);
    }
  }
  let unknownCompat = sb.feature_compat >>> 0;
  for (const f of COMPAT_FEATURES) unknownCompat &= ~f.bit;
  if (unknownCompat !== 0) {
    c.found('sb-features', 'unsupported-feature', `feature_compat has bits ${hex(unknownCompat >>> 0)} that no known kernel defines (compatible bits: a reader may ignore them)`, SB + 8, { severity: 'warning' });
  }
  let unknownIncompat = sb.feature_incompat >>> 0;
  for (const f of INCOMPAT_FEATURES) unknownIncompat &= ~f.bit;
  if (unknownIncompat !== 0) {
    // open() already refuses incompat bits the reader lacks; this covers known-but-unusual ones.
    c.found('sb-features', 'unsupported-feature', `feature_incompat has unknown bits ${hex(unknownIncompat >>> 0)}`, SB + 80);
  }
  const need = sb.blocks_lo * img.blockSize;
  if (img.cache.size < need) {
    c.found('sb-blocks', 'truncated', `the superblock counts ${sb.blocks_lo} blocks (${need} bytes) but the image file has ${img.cache.size} bytes: it is truncated`, SB + 36);
  }
  if (sb.feature_incompat & INCOMPAT_DEVICE_TABLE) {
    for (const d of img.devices) {
      const have = img.deviceSourceSize(d.index);
      if (have !== undefined && have < d.blocks * img.blockSize) {
        c.found('device-size', 'truncated', `extra device ${d.index} has ${have} bytes but its device-table slot claims ${d.blocks} blocks (${d.blocks * img.blockSize} bytes): it is truncated or not the device this image was made for`, d.slotOffset + 64);
      }
    }
  }
}

interface Ref {
  count: number;
  ino: Inode;
  path: string;
}

async function checkTree(img: ErofsImage, root: Inode, c: Collector, stats: FsckStats, opts: FsckOptions): Promise<void> {
  const refs = new Map<number, Ref>();
  const seenDirs = new Set<number>([root.nid]);
  const dirStack: { ino: Inode; path: string; parentNid: number }[] = [{ ino: root, path: '/', parentNid: root.nid }];
  refs.set(root.nid, { count: 1, ino: root, path: '/' });
  await checkInode(img, root, '/', c, stats, opts);
  while (dirStack.length > 0) {
    const dir = dirStack.pop()!;
    let ents: DirEntry[];
    try {
      ents = await img.readdir(dir.ino);
    } catch (e) {
      c.add('dir-block', e, { path: dir.path, nid: dir.ino.nid });
      continue;
    }
    checkDirEntries(dir.ino, dir.path, dir.parentNid, ents, c);
    const subdirs: { ino: Inode; path: string; parentNid: number }[] = [];
    for (const d of ents) {
      if (isDotOrDotDot(d.name)) continue;
      const path = (dir.path === '/' ? '' : dir.path) + '/' + textDecoder.decode(d.name);
      if (d.name.length === 0 || d.name.includes(0x2f) || d.name.includes(0)) continue; // reported by checkDirEntries
      let child: Inode;
      try {
        child = await img.inode(d.nid);
      } catch (e) {
        c.add('inode', e, { path, nid: d.nid });
        continue;
      }
      if (d.fileType !== fileTypeOfMode(child.mode)) {
        c.found('dirent-type', 'invalid-value', `the directory entry says file type ${d.fileType} but inode ${child.nid} has mode ${child.mode.toString(8)} (type ${fileTypeOfMode(child.mode)})`, d.offset + 10, { path, nid: child.nid });
      }
      const r = refs.get(child.nid);
      if ((child.mode & S_IFMT) === S_IFDIR) {
        if (seenDirs.has(child.nid)) {
          c.found('dir-cycle', 'loop', `directory nid ${child.nid} is reached a second time here (first at ${refs.get(child.nid)?.path ?? '?'}): a directory cycle or a hard-linked directory`, d.offset, { path, nid: child.nid });
          continue;
        }
        seenDirs.add(child.nid);
        subdirs.push({ ino: child, path, parentNid: dir.ino.nid });
      }
      if (r) {
        r.count++;
        continue;
      }
      refs.set(child.nid, { count: 1, ino: child, path });
      await checkInode(img, child, path, c, stats, opts);
      opts.onProgress?.(stats.inodes, stats.bytes);
    }
    for (let i = subdirs.length - 1; i >= 0; i--) dirStack.push(subdirs[i]!);
  }
  // Link counts.
  for (const [nid, r] of refs) {
    const ino = r.ino;
    if ((ino.mode & S_IFMT) === S_IFDIR) continue; // checked per directory (2 + subdirectories)
    if (r.count !== ino.nlink) {
      c.found('nlink', 'invalid-value', `nlink is ${ino.nlink} but ${r.count} directory entr${r.count === 1 ? 'y refers' : 'ies refer'} to inode ${nid}`, ino.offset + (ino.compact ? 6 : 44), { path: r.path, nid });
    }
  }
  // The superblock's inode count against what was reached.
  let expected = refs.size;
  if (img.sb.packed_nid > 0n) {
    expected++;
    try {
      await img.inode(img.packedNid);
    } catch (e) {
      c.add('inode', e, { path: '(packed inode)' });
    }
  }
  if (img.sb.inos !== BigInt(expected)) {
    const more = img.sb.inos > BigInt(expected);
    c.found(
      'inode-count',
      'invalid-value',
      more
        ? `the superblock counts ${img.sb.inos} inodes but ${expected} are reachable from the root${img.sb.packed_nid > 0n ? ' (packed inode included)' : ''}: ${img.sb.inos - BigInt(expected)} inode(s) unreachable, or a wrong count`
        : `the superblock counts ${img.sb.inos} inodes but ${expected} are reachable from the root: the count is too small`,
      SB + 16,
      { severity: 'warning' },
    );
  }
}

/** Order, uniqueness, names, "." and "..", directory link count. */
function checkDirEntries(ino: Inode, path: string, parentNid: number, ents: DirEntry[], c: Collector): void {
  const where = { path, nid: ino.nid };
  let prev: Uint8Array | undefined;
  let dot = false;
  let dotdot = false;
  let subdirs = 0;
  for (const d of ents) {
    const name = JSON.stringify(textDecoder.decode(d.name));
    if (prev) {
      const cmp = compare(prev, d.name);
      if (cmp === 0) c.found('dir-order', 'invalid-value', `entry ${name} appears twice`, d.offset, where);
      else if (cmp > 0) c.found('dir-order', 'invalid-value', `entry ${name} comes after ${JSON.stringify(textDecoder.decode(prev))}: entries are not sorted, so lookups can miss them`, d.offset, where);
    }
    prev = d.name;
    if (d.name.length === 0 || d.name.includes(0x2f) || d.name.includes(0)) {
      c.found('dir-name', 'unsafe-path', `entry name ${name} is empty or contains "/" or NUL`, d.offset, where);
      continue;
    }
    if (d.name.length === 1 && d.name[0] === 0x2e) {
      dot = true;
      if (d.nid !== ino.nid) c.found('dir-dot', 'invalid-value', `"." points to inode ${d.nid}, not to the directory itself (${ino.nid})`, d.offset, where);
    } else if (d.name.length === 2 && d.name[0] === 0x2e && d.name[1] === 0x2e) {
      dotdot = true;
      if (d.nid !== parentNid) c.found('dir-dot', 'invalid-value', `".." points to inode ${d.nid}, not to the parent directory (${parentNid})`, d.offset, where);
    } else if (d.fileType === 2) subdirs++;
  }
  if (!dot && !ino.bit4) c.found('dir-dot', 'invalid-value', 'the directory has no "." entry', ino.offset, where);
  if (!dotdot) c.found('dir-dot', 'invalid-value', 'the directory has no ".." entry', ino.offset, where);
  if (ino.nlink !== 2 + subdirs) {
    c.found('nlink', 'invalid-value', `directory nlink is ${ino.nlink} but it has ${subdirs} subdirectories (expected ${2 + subdirs})`, ino.offset + (ino.compact ? 6 : 44), where);
  }
}

/** Everything about one inode that does not depend on who refers to it. */
async function checkInode(img: ErofsImage, ino: Inode, path: string, c: Collector, stats: FsckStats, opts: FsckOptions): Promise<void> {
  const where = { path, nid: ino.nid };
  stats.inodes++;
  const type = ino.mode & S_IFMT;
  if (type === S_IFDIR) stats.directories++;
  else if (type === S_IFREG) stats.files++;
  else if (type === S_IFLNK) stats.symlinks++;
  else stats.special++;
  const xs = await checkXattrs(img, ino, c, stats, where);
  if (xs) await checkOverlay(ino, xs, c, where, opts);

  const sizeAt = ino.offset + 8;
  if (type === S_IFDIR && ino.size === 0) return c.found('file-size', 'invalid-value', 'directory of size 0 (it needs at least "." and "..")', sizeAt, where);
  if (type === S_IFLNK && (ino.size === 0 || ino.size > 4095)) {
    return c.found('file-size', 'invalid-value', `symlink target of ${ino.size} bytes (must be 1 to 4095)`, sizeAt, where);
  }
  if (type !== S_IFDIR && type !== S_IFREG && type !== S_IFLNK) {
    if (ino.size !== 0) c.found('file-size', 'invalid-value', `special file has size ${ino.size}`, sizeAt, { ...where, severity: 'warning' });
    return;
  }
  if (!(await checkLayout(img, ino, c, where))) return;
  if (type === S_IFREG && opts.data === false) {
    // The map alone: extents decodes (and bounds-checks) block maps, chunk tables and compressed indexes.
    try {
      await img.extents(ino);
    } catch (e) {
      c.add(isCompressed(ino) ? 'compressed-data' : 'data-read', e, where);
    }
    return;
  }
  try {
    if (isCompressed(ino)) {
      let n = 0;
      try {
        for await (const piece of img.stream(ino)) n += piece.length;
      } catch (e) {
        return c.add('compressed-data', e, where);
      }
      if (n !== ino.size) c.found('compressed-data', 'invalid-value', `compressed file decodes to ${n} bytes, its size is ${ino.size}`, sizeAt, where);
      stats.bytes += n;
    } else if (type === S_IFLNK) {
      try {
        await img.readlink(ino);
      } catch (e) {
        return c.add('symlink', e, where);
      }
    } else {
      // Read every mapped byte; holes cost nothing (a huge sparse size must not hang fsck).
      for (const e of await img.extents(ino)) {
        if (e.device === null) continue;
        for (let o = 0; o < e.length; o += 1 << 20) {
          const n = Math.min(1 << 20, e.length - o);
          await img.readDevice(e.device, e.physical + o, n, e.entryOffset ?? ino.offset);
          stats.bytes += n;
        }
      }
    }
  } catch (e) {
    c.add('data-read', e, where);
  }
}

/** Layout fields against the size and the devices; false when the data cannot be read safely. */
async function checkLayout(img: ErofsImage, ino: Inode, c: Collector, where: { path: string; nid: number }): Promise<boolean> {
  const bs = img.blockSize;
  const blocks0 = img.sb.blocks_lo;
  if (ino.layout === DataLayout.FLAT_INLINE && ino.size > 0) {
    const tail = ino.size % bs;
    if (tail > 0 && (ino.inlineBase % bs) + tail > bs) {
      c.found('inline-tail', 'invalid-value', `inline tail of ${tail} bytes starts at ${hex(ino.inlineBase)}, ${ino.inlineBase % bs} bytes into its block, and would cross into the next block (size ${ino.size})`, ino.inlineBase, where);
      return false;
    }
    if (oldKernelRefusesSymlink(ino, bs)) {
      c.found(
        'old-kernel-symlink',
        'unsupported-feature',
        `inline symlink target of ${ino.size} bytes at ${hex(ino.inlineBase)} ends past the block its inode ends in: older kernels (seen on 5.14) refuse it with "inline data cross block boundary"; newer kernels read it`,
        ino.inlineBase,
        { ...where, severity: 'warning' },
      );
    }
  }
  if (ino.layout === DataLayout.FLAT_PLAIN || ino.layout === DataLayout.FLAT_INLINE) {
    const full = ino.layout === DataLayout.FLAT_PLAIN ? Math.ceil(ino.size / bs) : Math.floor(ino.size / bs);
    if (full > 0 && ino.iu !== EROFS_NULL_ADDR && ino.iu + full > blocks0) {
      c.found('block-address', 'out-of-bounds', `data blocks ${ino.iu}..${ino.iu + full - 1} for ${ino.size} bytes run past the image's ${blocks0} blocks`, ino.offset + 16, where);
      return false;
    }
  }
  if (isCompressed(ino)) return true; // its map is checked by decoding it
  let extents;
  try {
    extents = await img.extents(ino);
  } catch (e) {
    c.add('layout', e, where);
    return false;
  }
  if (ino.layout !== DataLayout.CHUNK_BASED) return true;
  let ok = true;
  for (const e of extents) {
    if (e.device === null) continue;
    const at = e.entryOffset ?? ino.offset;
    if (e.device > img.devices.length) {
      c.found('chunk-device', 'invalid-value', `chunk at file offset ${e.logical} names device ${e.device}, but the image has ${img.devices.length} extra device(s)`, at, where);
      ok = false;
      continue;
    }
    const devBlocks = e.device === 0 ? blocks0 : img.devices[e.device - 1]!.blocks;
    const unified = e.device === 0 && img.devices.some((d) => e.physical / bs >= d.uniaddr && e.physical / bs < d.uniaddr + d.blocks);
    if (!unified && e.physical + e.length > devBlocks * bs) {
      c.found('block-address', 'out-of-bounds', `chunk at file offset ${e.logical} (${e.length} bytes at block ${e.physical / bs}) runs past the ${devBlocks} blocks of device ${e.device}`, at, where);
      ok = false;
    }
  }
  return ok;
}

async function checkXattrs(img: ErofsImage, ino: Inode, c: Collector, stats: FsckStats, where: { path: string; nid: number }): Promise<Xattr[] | undefined> {
  try {
    const xs = await img.xattrs(ino);
    stats.xattrs += xs.length;
    if (filterEnabled(img) && xs.length > 0) {
      const f = (await nameFilter(img, ino)) ?? 0;
      for (const x of xs) {
        if (x.kernelVisible && (f >>> filterBit(x.name)) & 1) {
          c.found('xattr-filter', 'invalid-value', `xattr ${x.name} is present but the name filter marks it absent: the kernel would not find it`, ino.offset + ino.inodeSize, where);
        }
      }
    }
    return xs;
  } catch (e) {
    c.add('xattr', e, where);
    return undefined;
  }
}

const METACOPY = 'trusted.overlay.metacopy';
const REDIRECT = 'trusted.overlay.redirect';
const DIGEST_PATH = /^\/?([0-9a-f]{2})\/([0-9a-f]{62})$/;
/** Objects already read in a run (keyed by its options object), by store path: fs-verity digest (hex) and size, or null when missing. */
const objectDigests = new WeakMap<FsckOptions, Map<string, Promise<{ digest: string; size: number } | null>>>();

/**
 * overlayfs metacopy files (composefs): the metacopy payload, the redirect against the
 * digest, and with a store, the object itself.
 */
async function checkOverlay(ino: Inode, xs: Xattr[], c: Collector, where: { path: string; nid: number }, opts: FsckOptions): Promise<void> {
  const meta = xs.find((x) => x.name === METACOPY);
  if (!meta) return;
  const at = meta.offset;
  if ((ino.mode & S_IFMT) !== S_IFREG) {
    c.found('metacopy', 'invalid-value', `${METACOPY} on a file that is not a regular file (mode ${ino.mode.toString(8)}): overlayfs ignores it`, at, { ...where, severity: 'warning' });
    return;
  }
  const v = meta.value;
  let digest: string | undefined;
  if (v.length !== 0) {
    if (v.length < 4 || v[0] !== 0 || v[1] !== v.length || v[2] !== 0 || v[3] !== 1 || v.length !== 36) {
      c.found(
        'metacopy',
        'invalid-value',
        `${METACOPY} value of ${v.length} bytes (version ${v[0] ?? '-'}, length ${v[1] ?? '-'}, flags ${v[2] ?? '-'}, algorithm ${v[3] ?? '-'}): expected empty, or version 0, length 36, flags 0, algorithm 1 (SHA-256) and a 32-byte digest`,
        at,
        where,
      );
      return;
    }
    digest = toHex(v.subarray(4));
  }
  const redirect = xs.find((x) => x.name === REDIRECT);
  const target = redirect ? textDecoder.decode(redirect.value) : undefined;
  if (target !== undefined) {
    if (!target.startsWith('/')) {
      c.found('redirect', 'invalid-value', `${REDIRECT} "${target}" is not an absolute path: overlayfs resolves a relative one in the file's own directory, not in the data-only layer`, redirect!.offset, where);
    }
    const m = DIGEST_PATH.exec(target);
    if (m && digest !== undefined && m[1]! + m[2]! !== digest) {
      c.found('redirect', 'digest-mismatch', `${REDIRECT} names object ${m[1]}/${m[2]} but the metacopy digest is ${digest}`, redirect!.offset, where);
    }
  } else if (digest !== undefined) {
    c.found('redirect', 'invalid-value', `a metacopy digest without ${REDIRECT}: overlayfs cannot reach a data-only layer without a redirect (lstat fails with EIO)`, at, { ...where, severity: 'warning' });
  }
  if (!opts.objects || target === undefined) return;
  const rel = target.replace(/^\/+/, '');
  let cache = objectDigests.get(opts);
  if (!cache) objectDigests.set(opts, (cache = new Map()));
  let pending = cache.get(rel);
  if (!pending) {
    pending = (async () => {
      const src = await opts.objects!(rel);
      if (!src) return null;
      const h = new FsVerityHasher(opts.hash ? { hash: opts.hash } : {});
      for (let o = 0; o < src.size; o += 1 << 20) h.update(await src.read(o, Math.min(1 << 20, src.size - o)));
      return { digest: toHex(h.digest()), size: src.size };
    })();
    cache.set(rel, pending);
  }
  const got = await pending;
  if (got === null) {
    c.found('object', 'not-found', `object ${rel} is missing from the store`, redirect!.offset, where);
  } else {
    if (digest !== undefined && got.digest !== digest) c.found('object', 'digest-mismatch', `object ${rel} has fs-verity digest ${got.digest}, the metacopy says ${digest}`, at, where);
    if (got.size !== ino.size) c.found('object', 'invalid-value', `object ${rel} has ${got.size} bytes, the file's size is ${ino.size} (overlayfs reads the object to its own end)`, ino.offset + 8, where);
  }
}

function compare(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return a[i]! - b[i]!;
  return a.length - b.length;
}
