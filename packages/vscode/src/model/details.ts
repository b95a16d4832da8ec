/**
 * What the "EROFS Image" view shows, as plain data (labels, descriptions, tooltips, children):
 * the superblock with its features, their meanings and minimum kernels, and one inode with its
 * data map and xattrs. The tree provider only wraps these; unit tests read them directly.
 */
import {
  COMPAT_FEATURES,
  INCOMPAT_FEATURES,
  COMPAT_TABLE,
  compatibility,
  featuresSet,
  format,
  formatTime,
  hex,
  modeString,
  type ErofsImage,
  type Extent,
  type Inode,
} from '@erofs-kit/core';
import type { OpenedImage } from './image.js';

export interface DetailNode {
  label: string;
  description?: string;
  tooltip?: string;
  children?: DetailNode[];
}

const node = (label: string, description?: string, tooltip?: string, children?: DetailNode[]): DetailNode => {
  const n: DetailNode = { label };
  if (description !== undefined) n.description = description;
  if (tooltip !== undefined) n.tooltip = tooltip;
  if (children !== undefined) n.children = children;
  return n;
};

function uuid(b: Uint8Array): string {
  const h = [...b].map((x) => x.toString(16).padStart(2, '0')).join('');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

function cstring(b: Uint8Array): string {
  const z = b.indexOf(0);
  return new TextDecoder().decode(z < 0 ? b : b.subarray(0, z));
}

/** Superblock fields, by their kernel names. */
export function superblockNodes(img: ErofsImage): DetailNode[] {
  const sb = img.sb;
  const out: DetailNode[] = [
    node('magic', hex(sb.magic), 'EROFS_SUPER_MAGIC_V1 at byte 0x400'),
    node('blkszbits', `${sb.blkszbits} (${img.blockSize}-byte blocks)`),
    node('root_nid', String(img.rootNid), `root directory inode at byte ${hex(img.iloc(img.rootNid))}`),
    node('inos', String(sb.inos), 'inodes in the image'),
    node('blocks', String(sb.blocks_lo), `${sb.blocks_lo * img.blockSize} bytes of primary device`),
    node('meta_blkaddr', String(sb.meta_blkaddr), `inodes start at byte ${hex(img.metaBase)}`),
    node('xattr_blkaddr', String(sb.xattr_blkaddr), 'shared xattrs block'),
    node('epoch', formatTime(Number(sb.epoch), sb.fixed_nsec), `build time ${sb.epoch}.${String(sb.fixed_nsec).padStart(9, '0')}`),
    node('uuid', uuid(sb.uuid)),
    node('volume_name', JSON.stringify(cstring(sb.volume_name))),
    node('checksum', img.checksumOk ? `${hex(sb.checksum)} (crc32c ok)` : 'not used (no sb_chksum feature)'),
  ];
  if (img.devices.length > 0) {
    out.push(
      node(
        'devices',
        String(img.devices.length),
        'extra devices (device table)',
        img.devices.map((d) => node(`device ${d.index}`, `${d.blocks} blocks at unified block ${d.uniaddr}${d.tag ? `, tag ${JSON.stringify(d.tag)}` : ''}`, `slot at byte ${hex(d.slotOffset)}`)),
      ),
    );
  }
  return out;
}

/** Every feature bit set, with what it means and the first kernel that mounts it. */
export function featureNodes(img: ErofsImage): DetailNode[] {
  const out: DetailNode[] = [];
  for (const [mask, table, kind] of [
    [img.sb.feature_compat, COMPAT_FEATURES, 'compat'],
    [img.sb.feature_incompat, INCOMPAT_FEATURES, 'incompat'],
  ] as const) {
    for (const f of featuresSet(mask, table)) {
      const info = table.find((t) => t.name === f.name);
      const fact = COMPAT_TABLE[f.name];
      const doc = info?.doc ?? 'a bit no known kernel defines';
      const tip = `${kind} bit ${f.bit}: ${doc}` + (fact ? `\nfirst kernel ${fact.kernel}, first erofs-utils ${fact.erofsUtils}\n${fact.source}` : `\nfirst kernel ${f.kernel}`);
      out.push(node(f.name, `Linux ≥ ${f.kernel} · ${doc}`, tip));
    }
  }
  if (out.length === 0) out.push(node('(none)', 'base format, Linux ≥ 5.4'));
  return out;
}

/** Minimum kernel and erofs-utils, with the facts behind them and any pitfalls. */
export function compatibilityNodes(img: ErofsImage): DetailNode[] {
  const c = compatibility(img);
  return [
    node('minimum Linux', c.minimumKernel),
    node('minimum erofs-utils', c.minimumErofsUtils),
    ...c.features.map((f) => node(f.name, `Linux ${f.kernel}, erofs-utils ${f.erofsUtils}`, f.source)),
    ...c.warnings.map((w) => node('warning', w, w)),
  ];
}

export function imageNodes(opened: OpenedImage): DetailNode[] {
  const img = opened.image;
  const out = [
    node('Superblock', `${img.blockSize}-byte blocks, ${img.sb.inos} inodes`, undefined, superblockNodes(img)),
    node('Features', [...img.compatNames, ...img.incompatNames].join(', ') || 'none', undefined, featureNodes(img)),
    node('Compatibility', `Linux ≥ ${compatibility(img).minimumKernel}`, undefined, compatibilityNodes(img)),
  ];
  if (opened.deviceNotes.length > 0) out.push(node('Devices', opened.deviceNotes[0], opened.deviceNotes.join('\n'), opened.deviceNotes.map((n) => node(n))));
  return out;
}

const TYPE: Record<number, string> = {
  [format.S_IFREG]: 'regular file',
  [format.S_IFDIR]: 'directory',
  [format.S_IFLNK]: 'symbolic link',
  [format.S_IFCHR]: 'character device',
  [format.S_IFBLK]: 'block device',
  [format.S_IFIFO]: 'fifo',
  [format.S_IFSOCK]: 'socket',
};

export function typeName(mode: number): string {
  return TYPE[mode & format.S_IFMT] ?? 'unknown';
}

function extentNode(img: ErofsImage, ino: Inode, e: Extent): DetailNode {
  const range = `[${e.logical}, ${e.logical + e.length})`;
  const z = e.compression;
  let where: string;
  if (e.device === null) where = 'hole';
  else if (z?.storage === 'fragment') where = `fragment at byte ${hex(e.physical)} of the packed inode (${z.encodedLength} bytes)`;
  else if (z?.storage === 'inline') where = `${z.algorithm} inline tail at byte ${hex(e.physical)} (${z.encodedLength} bytes)`;
  else if (z) where = `${z.algorithm} pcluster at block ${Math.floor(e.physical / img.blockSize)} (${z.encodedLength} bytes)${z.partial ? ', partial' : ''}`;
  else if (e.device === 0 && e.physical === ino.inlineBase) where = `inline after the inode, byte ${hex(e.physical)}`;
  else where = `${e.device === 0 ? '' : `device ${e.device} `}block ${Math.floor(e.physical / img.blockSize)} (byte ${hex(e.physical)})`;
  return node(range, where, e.entryOffset !== undefined ? `map entry at byte ${hex(e.entryOffset)}` : undefined);
}

/** How many directory entries {@link hardLinkNames} reads at most before it gives up. */
export const HARDLINK_SEARCH_BUDGET = 500_000;
const FT_DIR = format.fileTypeOfMode(format.S_IFDIR);

/**
 * Every name of a hard-linked inode: EROFS keeps no list of them, so the directories are read
 * breadth-first (entries only, no inode is decoded) until `nlink` names are found or
 * `budget` entries were read. `complete` is false when the budget ran out first.
 */
export async function hardLinkNames(img: ErofsImage, ino: Inode, budget = HARDLINK_SEARCH_BUDGET): Promise<{ paths: string[]; complete: boolean; read: number }> {
  const td = new TextDecoder();
  const paths: string[] = [];
  const queue: { nid: number; path: string }[] = [{ nid: img.rootNid, path: '' }];
  const seen = new Set<number>([img.rootNid]);
  let read = 0;
  while (queue.length > 0 && paths.length < ino.nlink) {
    const dir = queue.shift()!;
    const entries = await img.readdir(await img.inode(dir.nid), dir.path || '/');
    for (const e of entries) {
      read++;
      const name = td.decode(e.name);
      if (name === '.' || name === '..') continue;
      const path = `${dir.path}/${name}`;
      if (e.fileType === FT_DIR) {
        if (!seen.has(e.nid)) {
          seen.add(e.nid);
          queue.push({ nid: e.nid, path });
        }
      } else if (e.nid === ino.nid) paths.push(path);
    }
    if (read >= budget) break;
  }
  return { paths, complete: paths.length >= ino.nlink, read };
}

/** One inode: where it is, how it is stored, its data map and xattrs. */
export async function inodeNodes(img: ErofsImage, path: string, ino: Inode): Promise<DetailNode[]> {
  const out: DetailNode[] = [
    node('path', path),
    node('nid', String(ino.nid), `inode at byte ${hex(ino.offset)}`),
    node('offset', hex(ino.offset), `${ino.compact ? 'compact' : 'extended'} inode, ${ino.inodeSize} bytes`),
    node('format', `${ino.compact ? 'compact' : 'extended'} (i_format ${hex(ino.format)})`),
    node('layout', ino.layoutName + (ino.layout === format.DataLayout.CHUNK_BASED ? `, ${ino.iu & 0x20 ? 'chunk indexes' : 'block map'}, chunk size ${img.blockSize * 2 ** (ino.iu & 0x1f)}` : '')),
    node('type', `${typeName(ino.mode)}, ${modeString(ino.mode)}`, `mode 0${ino.mode.toString(8)}`),
    node('size', String(ino.size)),
    await linkNode(img, ino),
    node('owner', `uid ${ino.uid}, gid ${ino.gid}`),
    node('mtime', formatTime(ino.mtime, ino.mtimeNsec), `${ino.mtime}.${String(ino.mtimeNsec).padStart(9, '0')}`),
  ];
  if (ino.rdev) out.push(node('rdev', `${ino.rdev.major}:${ino.rdev.minor}`));
  if ((ino.mode & format.S_IFMT) === format.S_IFLNK) out.push(node('target', new TextDecoder().decode(await img.readlink(ino))));
  if ((ino.mode & format.S_IFMT) === format.S_IFREG || (ino.mode & format.S_IFMT) === format.S_IFDIR) {
    const extents = await img.extents(ino);
    const shown = extents.slice(0, 200).map((e) => extentNode(img, ino, e));
    if (extents.length > shown.length) shown.push(node(`… ${extents.length - shown.length} more`));
    out.push(node('data map', `${extents.length} extent${extents.length === 1 ? '' : 's'}`, undefined, shown));
  }
  const xattrs = await img.xattrs(ino);
  out.push(
    node(
      'xattrs',
      xattrs.length === 0 ? 'none' : `${xattrs.length} (${ino.xattrSize} bytes inline)`,
      undefined,
      xattrs.map((x) => node(x.name, showValue(x.value) + (x.shared ? ' (shared)' : ''), `at byte ${hex(x.offset)}`)),
    ),
  );
  return out;
}

/** nlink, and for a hard-linked non-directory every name it has (found by reading the directories). */
async function linkNode(img: ErofsImage, ino: Inode): Promise<DetailNode> {
  if (ino.nlink <= 1 || (ino.mode & format.S_IFMT) === format.S_IFDIR) return node('nlink', String(ino.nlink));
  const found = await hardLinkNames(img, ino);
  const note = found.complete
    ? `hard-linked: the same inode under ${ino.nlink} names`
    : `hard-linked: ${found.paths.length} of ${ino.nlink} names found in the first ${found.read} directory entries`;
  return node('nlink', `${ino.nlink} (hard-linked)`, note, found.paths.map((p) => node(p, 'same inode', `nid ${ino.nid}`)));
}

function showValue(v: Uint8Array): string {
  const printable = v.every((b) => b >= 0x20 && b < 0x7f);
  if (printable) return JSON.stringify(new TextDecoder().decode(v));
  const h = [...v.subarray(0, 32)].map((b) => b.toString(16).padStart(2, '0')).join('');
  return `0x${h}${v.length > 32 ? '…' : ''} (${v.length} bytes)`;
}
