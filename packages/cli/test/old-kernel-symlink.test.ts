/**
 * The older-kernel inline symlink pitfall at the CLI: an image whose symlink's inode core ends
 * at a block end with the target opening the next block (made here from core's writer output,
 * the inode moved there). `inspect` notes it, `fsck` warns and still passes, and the kernel
 * on this machine reads the link (newer kernels do; 5.14 refused such an image).
 */
import { mkdtempSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ErofsImage, MemorySource, nameKey, newDir, writeImage, type TreeNode } from '@erofs-kit/core';
import { runCli } from './support/cli.js';
import { allOf, isRoot, kernelHasErofs, skipWithoutJudges } from './support/judges.js';
import { withMount } from './support/mount.js';

const work = mkdtempSync(join(tmpdir(), 'erofs-kit-oldsym-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

async function pitfallImage(): Promise<string> {
  const root = newDir({ mtime: 1 });
  const target = new TextEncoder().encode('abcdefgh');
  const link: TreeNode = { mode: 0o120777, uid: 0, gid: 0, mtime: 1, mtimeNsec: 0, size: 8, rdevMajor: 0, rdevMinor: 0, xattrs: new Map(), target };
  root.children!.set(nameKey(new TextEncoder().encode('ln')), link);
  const { image } = writeImage(root, { blkszbits: 12, epoch: { sec: 1, nsec: 0 } });
  const img = await ErofsImage.open(new MemorySource(image));
  const ent = (await img.readdir(await img.root())).find((d) => new TextDecoder().decode(d.name) === 'ln')!;
  const ino = await img.inode(ent.nid);
  const bytes = new Uint8Array(8192);
  bytes.set(image.subarray(0, Math.min(image.length, 4096)));
  bytes.set(image.subarray(ino.offset, ino.offset + ino.inodeSize), 4096 - ino.inodeSize);
  bytes.set(target, 4096);
  const dv = new DataView(bytes.buffer);
  dv.setUint32(1024 + 36, 2, true); // blocks_lo
  dv.setBigUint64(ent.offset, BigInt((4096 - ino.inodeSize) / 32), true); // the root's dirent
  const file = join(work, 'pitfall.erofs');
  writeFileSync(file, bytes);
  return file;
}

describe('inline symlink past the block its inode ends in', () => {
  it('inspect names it in the compatibility notes; fsck warns (exit 0)', async () => {
    const file = await pitfallImage();
    const ins = runCli(['inspect', file, '--json']);
    expect(ins.status).toBe(0);
    const warnings = (JSON.parse(ins.stdout) as { compatibility: { warnings: string[] } }).compatibility.warnings;
    expect(warnings.some((w) => /1 inline symlink \(first: \/ln, nid 127\)/.test(w) && /5\.14/.test(w))).toBe(true);
    const f = runCli(['fsck', file]);
    expect(f.status).toBe(0);
    expect(f.stdout + f.stderr).toMatch(/warning: old-kernel-symlink: .*inode 127, path \/ln/);
  });

  const skip = skipWithoutJudges('kernel mount of the old-kernel symlink image', allOf(isRoot, kernelHasErofs));
  it.skipIf(skip)('the kernel here reads the link', async () => {
    const file = await pitfallImage();
    const got = await withMount({ image: file }, (dir) => readlinkSync(join(dir, 'ln')));
    expect(got).toBe('abcdefgh');
  });
});
