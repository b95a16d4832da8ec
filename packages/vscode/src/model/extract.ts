/**
 * Extract To…: copies a directory (or one file) of an image out through an {@link ExtractTarget},
 * using core's walk, which refuses names with `/` or NUL, `.`/`..` entries and directory
 * cycles, so nothing lands outside the destination. Regular files, directories and symlinks
 * are written; device nodes, fifos and sockets are counted and skipped (they need root and the
 * CLI's `erofs-kit extract`), and so are symlinks where the target cannot make them.
 */
import { format, walk, type ErofsImage, type Inode } from '@erofs-kit/core';
import { Cancelled } from './errors.js';
import { nameToString } from './names.js';

export interface ExtractTarget {
  mkdir(path: string): Promise<void>;
  writeFile(path: string, pieces: AsyncIterable<Uint8Array>, mode: number): Promise<void>;
  /** Absent where the destination has no symlinks (the web host): links are then skipped. */
  symlink?(path: string, target: string): Promise<void>;
}

export interface ExtractStats {
  files: number;
  directories: number;
  symlinks: number;
  skipped: number;
  bytes: number;
}

export async function extract(
  img: ErofsImage,
  start: Inode,
  startName: string,
  target: ExtractTarget,
  progress?: { report(stats: ExtractStats, path: string): void; isCancelled(): boolean },
): Promise<ExtractStats> {
  const stats: ExtractStats = { files: 0, directories: 0, symlinks: 0, skipped: 0, bytes: 0 };
  const { S_IFMT, S_IFDIR, S_IFREG, S_IFLNK } = format;
  for await (const e of walk(img, { start })) {
    if (progress?.isCancelled()) throw new Cancelled();
    // Paths relative to the destination: the start itself is `startName`.
    // Names that are not UTF-8 keep their bytes as `\xNN` (see names.ts): lossy decoding could
    // make two names one.
    const rel = e.name === undefined ? startName : `${startName}/${e.parts.map(nameToString).join('/')}`;
    const ino = e.inode;
    switch (ino.mode & S_IFMT) {
      case S_IFDIR:
        await target.mkdir(rel);
        stats.directories++;
        break;
      case S_IFREG: {
        const counted = (async function* () {
          for await (const piece of img.stream(ino)) {
            if (progress?.isCancelled()) throw new Cancelled();
            stats.bytes += piece.length;
            yield piece;
          }
        })();
        await target.writeFile(rel, counted, ino.mode & 0o7777);
        stats.files++;
        break;
      }
      case S_IFLNK:
        if (target.symlink) {
          await target.symlink(rel, new TextDecoder().decode(await img.readlink(ino)));
          stats.symlinks++;
        } else stats.skipped++;
        break;
      default:
        stats.skipped++;
    }
    progress?.report(stats, rel);
  }
  return stats;
}
