/**
 * "Show Bytes": xxd-style dumps of an image's bytes at their image offsets, after the
 * `# erofs:` hint line, so the language server can explain every byte even though the dump
 * holds only a part of the image. Three views of an inode: its record (core, xattrs, inline
 * tail or chunk table), its directory blocks, its data; and a window around any offset
 * (what Verify Image links its problems to).
 */
import { format, hex, imageHint, inodeRecordEnd, xxdLines, type ErofsImage, type Inode } from '@erofs-kit/core';

export type BytesKind = 'inode' | 'dir' | 'data' | 'offset';

interface Region {
  start: number;
  end: number;
  what: string;
}

/** Merges overlapping or touching regions (sorted by start). */
function merge(regions: Region[]): Region[] {
  const sorted = [...regions].filter((r) => r.end > r.start).sort((a, b) => a.start - b.start);
  const out: Region[] = [];
  for (const r of sorted) {
    const last = out[out.length - 1];
    if (last && r.start <= last.end) {
      last.end = Math.max(last.end, r.end);
      last.what += `, ${r.what}`;
    } else out.push({ ...r });
  }
  return out;
}

async function dumpRegions(img: ErofsImage, regions: Region[], head: string[]): Promise<string> {
  const lines = [...head];
  for (const r of merge(regions)) {
    const end = Math.min(r.end, img.cache.size);
    if (end <= r.start) continue;
    lines.push(`# ${r.what}: bytes ${hex(r.start)}..${hex(end)}`);
    for (let p = r.start; p < end; p += 1 << 16) {
      const n = Math.min(1 << 16, end - p);
      for (const l of xxdLines(await img.meta(p, n), p)) lines.push(l);
    }
  }
  return lines.join('\n') + '\n';
}

/** A dump of what `kind` names for the inode at `path`. `limit` bounds the data bytes. */
export async function inodeDump(img: ErofsImage, path: string, ino: Inode, kind: Exclude<BytesKind, 'offset'>, limit = 65536): Promise<string> {
  const head = [imageHint(img, [{ nid: ino.nid, path: path.replace(/\s/g, '_') }])];
  head.push(`# ${kind === 'inode' ? 'inode record' : kind === 'dir' ? 'directory blocks' : 'file data'} of ${path} (nid ${ino.nid})`);
  const regions: Region[] = [{ start: ino.offset, end: await inodeRecordEnd(img, ino), what: `inode ${ino.nid}` }];
  if (kind !== 'inode') {
    const isDir = (ino.mode & format.S_IFMT) === format.S_IFDIR;
    if (kind === 'dir' && !isDir) throw new Error(`${path} is not a directory`);
    let budget = limit;
    for (const e of await img.extents(ino)) {
      if (e.device === null || budget <= 0) continue;
      if (e.device !== 0) {
        head.push(`# [${e.logical}, ${e.logical + e.length}) is on device ${e.device} at byte ${hex(e.physical)}: not in this image's bytes`);
        continue;
      }
      const length = e.compression ? e.compression.encodedLength : e.length;
      if (e.compression?.storage === 'fragment') {
        head.push(`# [${e.logical}, ${e.logical + e.length}) is a fragment of the packed inode (nid ${img.packedNid})`);
        continue;
      }
      const n = kind === 'dir' ? length : Math.min(length, budget);
      budget -= n;
      regions.push({ start: e.physical, end: e.physical + n, what: `${kind === 'dir' ? 'directory' : 'data'} [${e.logical}, ${e.logical + e.length})${e.compression ? ` ${e.compression.algorithm}` : ''}` });
    }
    if (budget <= 0) head.push(`# data cut at ${limit} bytes (setting erofs.showBytesLimit)`);
  }
  return dumpRegions(img, regions, head);
}

/** A window of `radius` bytes either side of `offset` (aligned to 16), with the superblock for context. */
export async function offsetDump(img: ErofsImage, offset: number, radius = 256): Promise<string> {
  const start = Math.max(0, Math.floor((offset - radius) / 16) * 16);
  const end = Math.min(img.cache.size, Math.ceil((offset + radius) / 16) * 16);
  const head = [imageHint(img), `# bytes around ${hex(offset)}`];
  return dumpRegions(img, [{ start: 1024, end: 1024 + 128, what: 'superblock' }, { start, end, what: `around ${hex(offset)}` }], head);
}
