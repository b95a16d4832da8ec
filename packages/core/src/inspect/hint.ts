/**
 * Hint lines: what a partial dump needs to be decoded without its superblock, and the
 * user's "decode structure X at offset O" requests. One or more comment lines:
 *
 *     # erofs: blksz=4096 meta_blkaddr=0 xattr_blkaddr=0 root_nid=36 epoch=1700000000
 *     # erofs: inode=40 path=/a.txt
 *     # erofs: struct=erofs_dirent@0x1000 struct=posix_header@0x2600
 *
 * Numbers are decimal or 0x hex. `path=` names the inode given just before it.
 */
import type { ErofsImage } from '../erofs/image.js';

export interface ErofsHint {
  blkszbits?: number;
  metaBlkaddr?: number;
  xattrBlkaddr?: number;
  rootNid?: number;
  epoch?: number;
  fixedNsec?: number;
  /** Inodes to decode even when no directory reaches them. */
  inodes: { nid: number; path?: string }[];
  /** Structures to decode at an image offset, by table name. */
  structs: { name: string; offset: number }[];
}

export interface HintProblem {
  message: string;
  /** Column range of the offending word in the line. */
  start: number;
  end: number;
}

export function emptyHint(): ErofsHint {
  return { inodes: [], structs: [] };
}

/** True when the hint says enough to locate inodes (block size known). */
export function hasGeometry(h: ErofsHint): boolean {
  return h.blkszbits !== undefined;
}

const PREFIX = /^\s*#\s*erofs:/i;

export function isHintLine(line: string): boolean {
  return PREFIX.test(line);
}

function num(s: string): number | undefined {
  if (!/^(0x[0-9a-f]+|-?[0-9]+)$/i.test(s)) return undefined;
  const n = s.toLowerCase().startsWith('0x') ? parseInt(s.slice(2), 16) : parseInt(s, 10);
  return Number.isSafeInteger(n) ? n : undefined;
}

/** Adds the words of one `# erofs:` line to `hint`; returns what it could not use. */
export function parseHintLine(line: string, hint: ErofsHint): HintProblem[] {
  const m = PREFIX.exec(line);
  if (!m) return [];
  const problems: HintProblem[] = [];
  const re = /\S+/g;
  re.lastIndex = m[0].length;
  let w: RegExpExecArray | null;
  while ((w = re.exec(line)) !== null) {
    const word = w[0];
    const start = w.index;
    const end = start + word.length;
    const eq = word.indexOf('=');
    const bad = (message: string): void => {
      problems.push({ message, start, end });
    };
    if (eq <= 0) {
      bad(`"${word}" is not key=value`);
      continue;
    }
    const key = word.slice(0, eq).toLowerCase();
    const val = word.slice(eq + 1);
    const n = num(val);
    switch (key) {
      case 'blksz': {
        if (n === undefined || n < 512 || n > 65536 || (n & (n - 1)) !== 0) bad(`blksz ${val} must be a power of two in [512, 65536]`);
        else hint.blkszbits = Math.log2(n);
        break;
      }
      case 'blkszbits':
        if (n === undefined || n < 9 || n > 16) bad(`blkszbits ${val} out of range [9, 16]`);
        else hint.blkszbits = n;
        break;
      case 'meta_blkaddr':
      case 'xattr_blkaddr':
      case 'root_nid':
      case 'epoch':
      case 'fixed_nsec':
        if (n === undefined || (n < 0 && key !== 'epoch')) {
          bad(`${key} ${val} is not a number`);
          break;
        }
        if (key === 'meta_blkaddr') hint.metaBlkaddr = n;
        else if (key === 'xattr_blkaddr') hint.xattrBlkaddr = n;
        else if (key === 'root_nid') hint.rootNid = n;
        else if (key === 'epoch') hint.epoch = n;
        else hint.fixedNsec = n;
        break;
      case 'inode':
      case 'nid':
        if (n === undefined || n < 0) bad(`inode ${val} is not a nid`);
        else hint.inodes.push({ nid: n });
        break;
      case 'path': {
        const last = hint.inodes[hint.inodes.length - 1];
        if (!last) bad('path= must follow an inode=NID');
        else last.path = val;
        break;
      }
      case 'struct': {
        const at = val.indexOf('@');
        const off = at > 0 ? num(val.slice(at + 1)) : undefined;
        if (at <= 0 || off === undefined || off < 0) bad(`struct=${val}: expected struct=NAME@OFFSET`);
        else hint.structs.push({ name: val.slice(0, at), offset: off });
        break;
      }
      default:
        bad(`unknown hint key "${key}" (known: blksz, blkszbits, meta_blkaddr, xattr_blkaddr, root_nid, epoch, fixed_nsec, inode, path, struct)`);
    }
  }
  return problems;
}

/** Parses every hint line of a text (other lines are ignored). */
export function parseHint(text: string): ErofsHint {
  const hint = emptyHint();
  for (const line of text.split('\n')) if (isHintLine(line)) parseHintLine(line, hint);
  return hint;
}

/** The hint line `erofs-kit hexdump` writes. */
export function formatHint(h: Omit<ErofsHint, 'inodes' | 'structs'> & Partial<Pick<ErofsHint, 'inodes'>>): string {
  const words: string[] = [];
  if (h.blkszbits !== undefined) words.push(`blksz=${1 << h.blkszbits}`);
  if (h.metaBlkaddr !== undefined) words.push(`meta_blkaddr=${h.metaBlkaddr}`);
  if (h.xattrBlkaddr !== undefined) words.push(`xattr_blkaddr=${h.xattrBlkaddr}`);
  if (h.rootNid !== undefined) words.push(`root_nid=${h.rootNid}`);
  if (h.epoch !== undefined) words.push(`epoch=${h.epoch}`);
  if (h.fixedNsec !== undefined) words.push(`fixed_nsec=${h.fixedNsec}`);
  for (const i of h.inodes ?? []) {
    words.push(`inode=${i.nid}`);
    if (i.path !== undefined && !/\s/.test(i.path)) words.push(`path=${i.path}`);
  }
  return `# erofs: ${words.join(' ')}`;
}

/** The hint line for a dump of (part of) an open image, naming `inodes` when given. */
export function imageHint(img: ErofsImage, inodes: { nid: number; path?: string }[] = []): string {
  const sb = img.sb;
  return formatHint({
    blkszbits: img.blkszbits,
    metaBlkaddr: sb.meta_blkaddr,
    xattrBlkaddr: sb.xattr_blkaddr,
    rootNid: img.rootNid,
    epoch: Number(sb.epoch),
    fixedNsec: sb.fixed_nsec,
    inodes,
  });
}
