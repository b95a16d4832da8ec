/**
 * "Copy fs-verity Digest": the digests of an image file and of files inside it equal core's
 * fsverityDigest of the same bytes, whichever SHA-256 the platform gives (node:crypto on Node,
 * core's default in the browser), and the known value of an empty file; cancelling stops.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ErofsImage, MemorySource, formatDigest, fsverityDigest } from '@erofs-kit/core';
import { nodeSha256 } from '@erofs-kit/core/node';
import { verityOfFile, verityOfSource } from '../../src/model/verity.js';
import { FIXTURES } from './support.js';

const want = async (b: Uint8Array): Promise<string> => formatDigest(await fsverityDigest(b), 'sha256');

describe('fs-verity digests for the extension', () => {
  const bytes = new Uint8Array(readFileSync(FIXTURES + 'basic-4k.erofs'));
  it.each([
    ['node:crypto', nodeSha256],
    ["core's default", undefined],
  ] as const)('of an image file and of files inside it (%s)', async (_label, hash) => {
    expect(await verityOfSource(new MemorySource(bytes), hash)).toBe(await want(bytes));
    const img = await ErofsImage.open(new MemorySource(bytes));
    for (const path of ['/sizes/size-1', '/sizes/size-70000']) {
      const ino = await img.lookup(path);
      expect(await verityOfFile(img, ino, hash), path).toBe(await want(await img.read(ino)));
    }
    // fs-verity of an empty file: the all-zero root of the fsverity-utils known answer.
    expect(await verityOfSource(new MemorySource(new Uint8Array(0)), hash)).toBe('sha256:3d248ca542a24fc62d1c43b916eae5016878e2533c88238480b26128a1f1af95');
  });
  it('stops when cancelled', async () => {
    await expect(verityOfSource(new MemorySource(bytes), nodeSha256, { report: () => undefined, isCancelled: () => true })).rejects.toThrow();
  });
});
