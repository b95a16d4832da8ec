/**
 * Checks a tar-index image against a tar (erofs-format.md §7): that it is the tar the index
 * was built from, byte for byte where the index points.
 *
 * - Every regular file whose data lives on the tar device lands exactly on the data of one
 *   tar entry: its chunks are contiguous from that entry's data offset, the entry is a regular
 *   file of the same size, and its header names one of the paths the file has in the image
 *   (a later entry for the same path replaces an earlier one, as in a layer).
 * - The device table's block count equals the tar's content in blocks (with or without the
 *   end-of-archive marker), and the tar file holds at least that many bytes.
 * - On request, the sha256 of the whole tar (the layer's diffID) equals an expected value.
 *
 * Nothing here throws for a problem with the image or the tar: each one is a
 * {@link TarCheckProblem} with the tar byte offset.
 */
import { ErofsError, hex, isErofsError, type ErofsErrorJSON } from '../errors.js';
import type { ByteSource } from '../io/source.js';
import { S_IFMT, S_IFREG } from '../erofs/format.js';
import { textDecoder, type ErofsImage, type Inode } from '../erofs/image.js';
import { walkBatches } from '../erofs/walk.js';
import { isCompressed } from '../erofs/zmap.js';
import { readTarBatches } from '../tar/reader.js';
import type { TarEntry } from '../tar/entry.js';
import { toHex, type HashFactory } from '../digest/hash.js';

/** What the tar checks verify; ids are stable (pipelines match on them). */
export const TAR_CHECKS = {
  'tar-read': 'the tar parses to its end-of-archive marker (headers, checksums, sizes)',
  'tar-device': 'the image has a device for the tar, and its block count equals the tar content',
  'tar-chunk': "every file's chunks land exactly on the data of a tar entry that names that file with that size",
  'tar-diffid': "the tar's sha256 equals the expected diffID",
  'tar-walk': 'the image tree can be walked (its own problems are fsck\'s)',
} as const;
export type TarCheck = keyof typeof TAR_CHECKS;

export interface TarCheckProblem extends ErofsErrorJSON {
  severity: 'error' | 'warning';
  check: TarCheck;
  nid?: number;
}

export interface TarCheckReport {
  ok: boolean;
  problems: TarCheckProblem[];
  /** Bytes of archive content (up to the end-of-archive marker) and of the whole tar file. */
  contentBytes: number | null;
  tarBytes: number;
  entries: number;
  /** Regular files whose data is on the tar device, and how many of them were checked fully. */
  files: number;
  /** `sha256:<hex>` of the whole tar, when a hash was given. */
  sha256?: string;
}

export interface TarCheckOptions {
  /** Device index of the tar in the device table; default 1. */
  device?: number;
  /** SHA-256 factory: the tar's digest is computed (all bytes read) when given. */
  sha256?: HashFactory;
  /** Expected diffID, `sha256:<hex>` or bare hex; needs `sha256`. */
  expectDiffId?: string;
  maxProblems?: number;
}

/** Normalized tar member path ('./a//b/' → 'a/b'), or null when it climbs out or is empty. */
function normalize(raw: Uint8Array): string | null {
  const out: string[] = [];
  for (const part of textDecoder.decode(raw).split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') {
      if (out.length === 0) return null;
      out.pop();
      continue;
    }
    out.push(part);
  }
  return out.length === 0 ? null : out.join('/');
}

export async function verifyTarIndex(img: ErofsImage, tar: ByteSource, opts: TarCheckOptions = {}): Promise<TarCheckReport> {
  const problems: TarCheckProblem[] = [];
  const max = opts.maxProblems ?? 1000;
  const add = (check: TarCheck, e: unknown, extra: { path?: string; nid?: number; severity?: 'error' | 'warning' } = {}): void => {
    if (!isErofsError(e)) throw e;
    if (problems.length >= max) return;
    const j = (extra.path !== undefined ? e.withPath(extra.path) : e).toJSON();
    const p: TarCheckProblem = { ...j, severity: extra.severity ?? 'error', check };
    if (extra.nid !== undefined) p.nid = extra.nid;
    problems.push(p);
  };
  const report: TarCheckReport = { ok: false, problems, contentBytes: null, tarBytes: tar.size, entries: 0, files: 0 };
  const devIndex = opts.device ?? 1;
  const bs = img.blockSize;
  const dev = img.devices[devIndex - 1];
  if (!dev) {
    add('tar-device', new ErofsError('invalid-value', `the image has no extra device ${devIndex} (it has ${img.devices.length}): it is not a tar index`, { offset: 1024 }));
    return finish(report);
  }

  // 1. Read the tar: every entry's data range, by data offset.
  const byData = new Map<number, TarEntry>();
  const hash = opts.sha256?.();
  /** Where the tar stopped being readable (null: read to its end). */
  let readableUpTo: number | null = null;
  let lastEnd = 0;
  try {
    // One entry per batch: entries before a defect still count when the read fails.
    const gen = readTarBatches(tar, hash ? { tap: (c) => void hash.update(c) } : {}, 1);
    let r = await gen.next();
    while (!r.done) {
      for (const { entry } of r.value) {
        report.entries++;
        lastEnd = entry.dataOffset + entry.storedSize;
        if (entry.type === 'file') byData.set(entry.dataOffset, entry);
      }
      r = await gen.next();
    }
    report.contentBytes = r.value.endOffset;
  } catch (e) {
    add('tar-read', e);
    readableUpTo = isErofsError(e) && e.offset !== undefined ? e.offset : lastEnd;
  }
  if (hash) {
    report.sha256 = `sha256:${toHex(hash.digest())}`;
    if (opts.expectDiffId !== undefined) {
      const want = opts.expectDiffId.toLowerCase().replace(/^sha256:/, '');
      if (`sha256:${want}` !== report.sha256) {
        add('tar-diffid', new ErofsError('digest-mismatch', `the tar's sha256 is ${report.sha256}, the expected diffID is sha256:${want}: this is not the layer the manifest names`, { format: 'tar' }));
      }
    }
  }

  // 2. The device table's block count against the tar.
  const needBytes = dev.blocks * bs;
  if (tar.size < needBytes) {
    add('tar-device', new ErofsError('truncated', `device ${devIndex} claims ${dev.blocks} blocks (${needBytes} bytes) but the tar has ${tar.size} bytes: it is truncated or another tar`, { offset: dev.slotOffset + 64 }));
  }
  if (report.contentBytes !== null) {
    // Writers differ on the two-block end-of-archive marker: mkfs.erofs 1.8 counts it,
    // erofs-kit index does not. Either is the tar; anything else is another tar.
    const content = Math.ceil(report.contentBytes / bs);
    const withMarker = Math.ceil((report.contentBytes + 1024) / bs);
    if (dev.blocks !== content && dev.blocks !== withMarker) {
      add('tar-device', new ErofsError('invalid-value', `device ${devIndex} claims ${dev.blocks} blocks but the tar's content ends at byte ${report.contentBytes} (${content} blocks of ${bs}, ${withMarker} with the end-of-archive marker): the index was built from another tar`, { offset: dev.slotOffset + 64 }));
    }
  }

  // 3. Every file's chunks against the entries.
  const files = new Map<number, { ino: Inode; paths: string[] }>();
  try {
    for await (const batch of walkBatches(img)) {
      for (const ent of batch) {
        const ino = ent.inode;
        if ((ino.mode & S_IFMT) !== S_IFREG || ino.size === 0 || isCompressed(ino)) continue;
        const f = files.get(ino.nid);
        const rel = ent.path.replace(/^\/+/, '');
        if (f) f.paths.push(rel);
        else files.set(ino.nid, { ino, paths: [rel] });
      }
    }
  } catch (e) {
    add('tar-walk', e);
  }
  for (const { ino, paths } of files.values()) {
    const where = { path: '/' + paths[0]!, nid: ino.nid };
    let extents;
    try {
      extents = await img.extents(ino);
    } catch (e) {
      add('tar-walk', e, where);
      continue;
    }
    const onTar = extents.filter((e) => e.device === devIndex);
    if (onTar.length === 0) continue;
    report.files++;
    const first = onTar[0]!;
    const at = first.entryOffset ?? ino.offset;
    const start = first.physical - first.logical;
    const entry = byData.get(start);
    if (!entry) {
      const why =
        readableUpTo !== null && start >= readableUpTo
          ? `past byte ${readableUpTo} (${hex(readableUpTo)}), where the tar stops being readable`
          : `not where any regular file's data starts in this tar`;
      add('tar-chunk', new ErofsError('invalid-value', `the data of this ${ino.size}-byte file starts at tar byte ${start} (${hex(start)}), ${why}`, { offset: at }), where);
      continue;
    }
    const name = normalize(entry.path);
    if (name === null || !paths.includes(name)) {
      add('tar-chunk', new ErofsError('invalid-value', `the data at tar byte ${start} belongs to the entry ${JSON.stringify(textDecoder.decode(entry.path))} (header at ${entry.mainHeaderOffset}), not to this file (${paths.map((p) => '/' + p).join(', ')})`, { offset: at }), where);
    }
    if (entry.size !== ino.size) {
      add('tar-chunk', new ErofsError('invalid-value', `the tar entry at header ${entry.mainHeaderOffset} has ${entry.size} bytes, the file has ${ino.size}`, { offset: at }), where);
    }
    // Every chunk where a contiguous (or in-place sparse) file puts it.
    for (const e of onTar) {
      const ok = entry.sparse
        ? entry.sparse.some((s) => e.logical >= s.offset && e.logical + e.length <= s.offset + s.length && e.physical === s.tarOffset + (e.logical - s.offset))
        : e.physical === entry.dataOffset + e.logical && e.logical + e.length <= entry.storedSize;
      if (!ok) {
        add('tar-chunk', new ErofsError('invalid-value', `the chunk for file bytes ${e.logical}..${e.logical + e.length} is at tar byte ${e.physical}, not inside the data of the entry it starts in (data at ${entry.dataOffset}, ${entry.storedSize} bytes)`, { offset: e.entryOffset ?? at }), where);
        break;
      }
    }
  }
  return finish(report);
}

function finish(r: TarCheckReport): TarCheckReport {
  r.ok = !r.problems.some((p) => p.severity === 'error');
  return r;
}
