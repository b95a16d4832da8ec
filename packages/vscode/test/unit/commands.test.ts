import { lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { fsck, format, walk } from '@erofs-kit/core';
import { Uri, createDiagnosticCollection } from './vscode-mock.js';
import { appended, deviceCandidates, mountId } from '../../src/model/open.js';
import { extract } from '../../src/model/extract.js';
import { nameToString, stringToNames } from '../../src/model/names.js';
import { nodePlatform } from '../../src/node-platform.js';
import { problemDiagnostics, verify } from '../../src/vscode/verify.js';
import { CORRUPT_PATH, corruptNlink } from '../support/corrupt.js';
import { FIXTURES, fixtureUri, registry } from './support.js';
import type * as vscode from 'vscode';

const tmp = mkdtempSync(join(tmpdir(), 'vsc-cmd-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('opening helpers', () => {
  it('derives the names a tar-index image\'s tar may have', () => {
    expect(deviceCandidates('layer.erofs')).toEqual(['layer.tar', 'layer-layer.tar', 'layer.blob']);
    expect(deviceCandidates('tar-index-meta.erofs')).toContain('tar-index-layer.tar');
    expect(deviceCandidates('blobdev-4k.erofs')).toContain('blobdev-4k.blob');
  });

  it('gives a stable id that differs per file', () => {
    const a = mountId('file:///a/x.erofs');
    expect(a).toMatch(/^x\.erofs-[0-9a-f]{8}$/);
    expect(mountId('file:///a/x.erofs')).toBe(a);
    expect(mountId('file:///b/x.erofs')).not.toBe(a);
    expect(mountId('file:///a/we%20ird!.erofs')).toMatch(/^we_20ird_\.erofs-/);
  });

  it('tells an appended device from a missing one', () => {
    const d = { index: 1, tag: '', blocks: 421, uniaddr: 40, slotOffset: 1152, attached: false };
    expect(appended(d, 512, 245760)).toBe(true);
    expect(appended(d, 512, 20480)).toBe(false);
  });

  it('maps non-UTF-8 names to strings and back to the same bytes', () => {
    const raw = Uint8Array.from([0x61, 0xff, 0x5c, 0xc3, 0xa9, 0x80]);
    const s = nameToString(raw);
    expect(s).toBe('a\\xff\\x5cé\\x80');
    expect(stringToNames(s).some((b) => Buffer.from(b).equals(Buffer.from(raw)))).toBe(true);
    expect(nameToString(Uint8Array.from([0x68, 0x69]))).toBe('hi');
  });
});

describe('Verify Image diagnostics', () => {
  it('puts each problem on the file it is about, linked to the bytes at its offset', async () => {
    const path = join(tmp, 'nlink.erofs');
    writeFileSync(path, await corruptNlink(new Uint8Array(readFileSync(FIXTURES + 'basic-4k.erofs'))));
    const { mounts } = registry();
    const img = await mounts.mount(Uri.file(path) as unknown as vscode.Uri, 'erofs');
    const report = await fsck(img.image);
    expect(report.problems.map((p) => [p.check, p.path])).toEqual([['nlink', CORRUPT_PATH]]);
    const byUri = [...problemDiagnostics(img, report).values()];
    expect(byUri).toHaveLength(1);
    const [uri, ds] = byUri[0]!;
    expect(uri.toString()).toBe(`erofs:/${img.id}${CORRUPT_PATH}`);
    expect(ds[0]!.message).toMatch(/^nlink: invalid-value: nlink is 5 but 1 directory entry refers to inode \d+ at byte 0x[0-9a-f]+ \(nid \d+\)$/);
    const code = ds[0]!.code as { value: string; target: Uri };
    expect(code.value).toBe('nlink');
    expect(code.target.toString()).toBe(`erofs-bytes:/${img.id}/offset/0x${report.problems[0]!.offset!.toString(16)}.xxd`);
  });

  it('replaces what an earlier run said about the same image', async () => {
    const { mounts } = registry();
    const img = await mounts.mount(fixtureUri('basic-4k.erofs'), 'erofs');
    const diags = createDiagnosticCollection();
    diags.set(Uri.parse(`erofs:/${img.id}/old/problem`), []);
    diags.set(Uri.parse('erofs:/other-00000000/keep'), []);
    const report = await verify(img, diags as unknown as vscode.DiagnosticCollection);
    expect(report.ok).toBe(true);
    expect(diags.entries().map(([u]) => u.toString())).toEqual(['erofs:/other-00000000/keep']);
  });
});

describe('Extract To', () => {
  it.each(['basic-4k.erofs', 'bigdir-4k.erofs'])('writes the files, directories and symlinks of %s with the bytes core reads, and skips device nodes', async (fixture) => {
    const { mounts } = registry();
    const img = await mounts.mount(fixtureUri(fixture), 'erofs');
    const dest = mkdtempSync(join(tmp, 'out-'));
    const root = await img.image.root();
    const stats = await extract(img.image, root, 'basic', nodePlatform.extractTarget(Uri.file(dest) as unknown as vscode.Uri));
    let files = 0;
    let special = 0;
    for await (const e of walk(img.image)) {
      if (e.name === undefined) continue;
      const out = join(dest, 'basic', ...e.parts.map(nameToString));
      const type = e.inode.mode & format.S_IFMT;
      if (type === format.S_IFREG) {
        expect(Buffer.from(readFileSync(out)).equals(Buffer.from(await img.image.read(e.inode))), e.path).toBe(true);
        files++;
      } else if (type === format.S_IFLNK) {
        expect(readlinkSync(out)).toBe(new TextDecoder().decode(await img.image.readlink(e.inode)));
      } else if (type === format.S_IFDIR) {
        expect(lstatSync(out).isDirectory()).toBe(true);
      } else special++;
    }
    expect(stats.files).toBe(files);
    expect(stats.skipped).toBe(special);
  });

  it('stops when cancelled', async () => {
    const { mounts } = registry();
    const img = await mounts.mount(fixtureUri('basic-4k.erofs'), 'erofs');
    const dest = mkdtempSync(join(tmp, 'cancel-'));
    let seen = 0;
    const progress = { report: () => void seen++, isCancelled: () => seen >= 3 };
    await expect(extract(img.image, await img.image.root(), 'x', nodePlatform.extractTarget(Uri.file(dest) as unknown as vscode.Uri), progress)).rejects.toMatchObject({ name: 'Cancelled' });
    expect(seen).toBe(3);
  });
});

describe('YieldingSource', () => {
  it('lets timers run during a long run of reads that never wait', async () => {
    const { MemorySource } = await import('@erofs-kit/core');
    const { YieldingSource } = await import('../../src/model/yielding.js');
    const bytes = new Uint8Array(1 << 16).map((_, i) => i & 0xff);
    const src = new YieldingSource(new MemorySource(bytes), 5);
    let fired = false;
    setTimeout(() => (fired = true), 0);
    const start = Date.now();
    let firedDuringReads = false;
    while (Date.now() - start < 100) {
      expect((await src.read(256, 4))[0]).toBe(0);
      if (fired) firedDuringReads = true;
    }
    expect(firedDuringReads).toBe(true);
    // The same loop over the bare source starves the timer.
    const bare = new MemorySource(bytes);
    let fired2 = false;
    setTimeout(() => (fired2 = true), 0);
    const start2 = Date.now();
    while (Date.now() - start2 < 50) await bare.read(0, 4);
    expect(fired2).toBe(false);
  });
});

describe('output files (Build Tar Index, Convert Image)', () => {
  it('are written under a temporary name and renamed at close; nothing stays when the final name cannot be taken', async () => {
    const good = join(tmp, 'out.erofs');
    const o = await nodePlatform.createOutput(Uri.file(good) as unknown as vscode.Uri);
    o.write(new Uint8Array([1, 2, 3]));
    expect(readdirSync(tmp).filter((f) => f.startsWith('out.erofs'))).toEqual([`out.erofs.partial-${process.pid}`]);
    await o.close();
    expect([...readFileSync(good)]).toEqual([1, 2, 3]);
    // a directory where the file should go: the rename fails, and the partial file is removed
    const dir = join(tmp, 'taken.erofs');
    mkdirSync(join(dir, 'inside'), { recursive: true });
    const bad = await nodePlatform.createOutput(Uri.file(dir) as unknown as vscode.Uri);
    bad.write(new Uint8Array([4]));
    await expect(bad.close()).rejects.toThrow();
    await bad.abort();
    expect(readdirSync(tmp).filter((f) => f.startsWith('taken.erofs'))).toEqual(['taken.erofs']);
  });
});
