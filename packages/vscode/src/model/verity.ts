/**
 * fs-verity digests for "Copy fs-verity Digest": of a whole file read through a byte source
 * (an image file: what `mount.composefs digest=` pins) or of a file inside an image, as
 * `fsverity digest` prints them (SHA-256, 4 KiB Merkle blocks, no salt).
 */
import { FsVerityHasher, formatDigest, type ByteSource, type ErofsImage, type HashFactory, type Inode } from '@erofs-kit/core';
import { Cancelled } from './errors.js';
import type { Progress } from './open.js';

const PIECE = 1 << 20;

function hasher(hash: HashFactory | undefined): FsVerityHasher {
  return new FsVerityHasher(hash ? { algorithm: 'sha256', hash } : { algorithm: 'sha256' });
}

/** The digest of every byte of `src`. */
export async function verityOfSource(src: ByteSource, hash?: HashFactory, progress?: Progress): Promise<string> {
  const h = hasher(hash);
  for (let at = 0; at < src.size; at += PIECE) {
    if (progress?.isCancelled()) throw new Cancelled();
    h.update(await src.read(at, Math.min(PIECE, src.size - at)));
    progress?.report(at, src.size);
  }
  return formatDigest(h.digest(), 'sha256');
}

/** The digest of a regular file inside an image (its content, holes as zeros). */
export async function verityOfFile(img: ErofsImage, ino: Inode, hash?: HashFactory, progress?: Progress): Promise<string> {
  const h = hasher(hash);
  let done = 0;
  for await (const piece of img.stream(ino)) {
    if (progress?.isCancelled()) throw new Cancelled();
    h.update(piece);
    done += piece.length;
    progress?.report(done, ino.size);
  }
  return formatDigest(h.digest(), 'sha256');
}
