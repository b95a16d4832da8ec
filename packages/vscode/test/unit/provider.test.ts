import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ErofsImage, MemorySource, format, walk } from '@erofs-kit/core';
import { FileSource } from '@erofs-kit/core/node';
import { FileSystemError, FileType, Uri, dialogAnswers, dialogLog } from './vscode-mock.js';
import { ErofsFileSystemProvider } from '../../src/vscode/provider.js';
import { erofsUri } from '../../src/vscode/registry.js';
import { nameToString } from '../../src/model/names.js';
import { FIXTURES, fixtureUri, registry } from './support.js';
import type * as vscode from 'vscode';

const tmp = mkdtempSync(join(tmpdir(), 'vsc-unit-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** Every directory, entry, stat and file content through the provider equals what core reads directly. */
async function compareWithCore(fixture: string, devices: string[] = []): Promise<number> {
  const { mounts } = registry();
  const opened = await mounts.mount(fixtureUri(fixture), 'erofs');
  const fsp = new ErofsFileSystemProvider(mounts);
  const img = await ErofsImage.open(new FileSource(FIXTURES + fixture), { devices: devices.map((d) => new FileSource(FIXTURES + d)) });
  let checked = 0;
  for await (const e of walk(img)) {
    const path = e.name === undefined ? '/' : e.parts.map(nameToString).join('/').replace(/^/, '/');
    const uri = erofsUri(opened.id, path);
    const type = e.inode.mode & format.S_IFMT;
    const st = await fsp.stat(uri);
    if (type === format.S_IFDIR) {
      expect(st.type).toBe(FileType.Directory);
      const listed = await fsp.readDirectory(uri);
      const names = (await img.readdir(e.inode)).map((d) => nameToString(d.name)).filter((n) => n !== '.' && n !== '..');
      expect(listed.map(([n]) => n)).toEqual(names);
    } else if (type === format.S_IFREG) {
      expect(st.type).toBe(FileType.File);
      expect(st.size).toBe(e.inode.size);
      const got = await fsp.readFile(uri);
      expect(Buffer.from(got).equals(Buffer.from(await img.read(e.inode)))).toBe(true);
      checked++;
    } else if (type === format.S_IFLNK) {
      expect(st.type & FileType.SymbolicLink).toBe(FileType.SymbolicLink);
    }
  }
  return checked;
}

describe('erofs: file system provider', () => {
  it.each([
    ['basic-4k.erofs'],
    ['basic-512.erofs'],
    ['compact-4k.erofs'],
    ['chunkidx-8k-512.erofs'],
    ['lz4hc-fragments.erofs'],
    ['zstd-combined.erofs'],
    ['bigdir-4k.erofs'],
  ])('lists, stats and reads %s exactly as core does', async (fixture) => {
    expect(await compareWithCore(fixture)).toBeGreaterThan(0);
  });

  it('finds the tar of a tar-index image beside it, and reads through it', async () => {
    expect(await compareWithCore('tar-index-meta.erofs', ['tar-index-layer.tar'])).toBeGreaterThan(0);
  });

  it('reads a tar appended to its index without attaching anything', async () => {
    const { mounts } = registry();
    const opened = await mounts.mount(fixtureUri('tar-appended.erofs'), 'erofs');
    expect(opened.deviceNotes[0]).toMatch(/appended/);
    expect(await compareWithCore('tar-appended.erofs')).toBeGreaterThan(0);
  });

  it('asks once for a tar it cannot find, then remembers the choice', async () => {
    const dir = mkdtempSync(join(tmp, 'ask-'));
    copyFileSync(FIXTURES + 'tar-index-meta.erofs', join(dir, 'image.erofs'));
    copyFileSync(FIXTURES + 'tar-index-layer.tar', join(dir, 'unrelated-name.tar'));
    const r = registry();
    dialogLog.length = 0;
    dialogAnswers.push([Uri.file(join(dir, 'unrelated-name.tar'))]);
    const first = await r.mounts.mount(Uri.file(join(dir, 'image.erofs')) as unknown as vscode.Uri, 'erofs');
    expect(dialogLog).toHaveLength(1);
    expect(first.deviceNotes.join()).toMatch(/unrelated-name\.tar \(chosen\)/);
    await r.mounts.close(first.id);
    // Same workspace state, a fresh registry (a reload): no second question.
    const { MountRegistry } = await import('../../src/vscode/registry.js');
    const { nodePlatform } = await import('../../src/node-platform.js');
    const again = new MountRegistry(nodePlatform, r.global, r.workspace);
    const second = await again.mount(Uri.file(join(dir, 'image.erofs')) as unknown as vscode.Uri, 'erofs');
    expect(dialogLog).toHaveLength(1);
    expect(second.deviceNotes.join()).toMatch(/chosen before/);
    const fsp = new ErofsFileSystemProvider(again);
    const listed = await fsp.readDirectory(erofsUri(second.id, '/'));
    expect(listed.length).toBeGreaterThan(0);
  });

  it('finds the layer in an OCI layout by the digest its uuid was made from', async () => {
    const { indexTar, sha256, toHex } = await import('@erofs-kit/core');
    const { mkdirSync } = await import('node:fs');
    const tar = readFileSync(FIXTURES + 'tar-index-layer.tar');
    const digest = toHex(sha256().update(tar).digest());
    const oci = mkdtempSync(join(tmp, 'oci-'));
    mkdirSync(join(oci, 'blobs', 'sha256'), { recursive: true });
    mkdirSync(join(oci, 'indexes'));
    writeFileSync(join(oci, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
    writeFileSync(join(oci, 'blobs', 'sha256', '0'.repeat(64)), new Uint8Array(tar.length)); // another blob, same size
    writeFileSync(join(oci, 'blobs', 'sha256', digest), tar);
    writeFileSync(join(oci, 'indexes', 'some-layer.erofs'), (await indexTar(new MemorySource(new Uint8Array(tar)))).image);
    dialogLog.length = 0;
    const { mounts } = registry();
    const opened = await mounts.mount(Uri.file(join(oci, 'indexes', 'some-layer.erofs')) as unknown as vscode.Uri, 'erofs');
    expect(dialogLog).toHaveLength(0);
    expect(opened.deviceNotes.join()).toContain(`OCI layout blob sha256:${digest.slice(0, 12)}`);
    const fsp = new ErofsFileSystemProvider(mounts);
    const reference = await mounts.mount(fixtureUri('tar-index-meta.erofs'), 'erofs');
    const a = await fsp.readDirectory(erofsUri(opened.id, '/'));
    expect(a).toEqual(await fsp.readDirectory(erofsUri(reference.id, '/')));
    const file = a.find(([, t]) => t === FileType.File)![0];
    expect(Buffer.from(await fsp.readFile(erofsUri(opened.id, `/${file}`))).equals(Buffer.from(await fsp.readFile(erofsUri(reference.id, `/${file}`))))).toBe(true);
  });

  it('refuses a device file too small for the device table', async () => {
    const dir = mkdtempSync(join(tmp, 'small-'));
    copyFileSync(FIXTURES + 'tar-index-meta.erofs', join(dir, 'image.erofs'));
    writeFileSync(join(dir, 'short.tar'), new Uint8Array(1024));
    dialogAnswers.push([Uri.file(join(dir, 'short.tar'))]);
    const { mounts } = registry();
    await expect(mounts.mount(Uri.file(join(dir, 'image.erofs')) as unknown as vscode.Uri, 'erofs')).rejects.toMatchObject({ code: 'missing-device' });
  });

  it('maps missing paths, files listed as directories and writes to FileSystemErrors', async () => {
    const { mounts } = registry();
    const opened = await mounts.mount(fixtureUri('basic-4k.erofs'), 'erofs');
    const fsp = new ErofsFileSystemProvider(mounts);
    await expect(fsp.stat(erofsUri(opened.id, '/no/such/file'))).rejects.toMatchObject({ code: 'FileNotFound' });
    const someFile = (await fsp.readDirectory(erofsUri(opened.id, '/'))).find(([, t]) => t === FileType.File)![0];
    await expect(fsp.readDirectory(erofsUri(opened.id, `/${someFile}`))).rejects.toMatchObject({ code: 'FileNotADirectory' });
    await expect(fsp.readFile(erofsUri(opened.id, '/'))).rejects.toMatchObject({ code: 'FileIsADirectory' });
    expect(() => fsp.writeFile(erofsUri(opened.id, '/x'))).toThrow(FileSystemError);
    await expect(fsp.stat(erofsUri('never-mounted-00000000', '/'))).rejects.toMatchObject({ code: 'FileNotFound' });
  });

  it('refuses a file above the size limit with a hint instead of reading it', async () => {
    const { mounts } = registry();
    const opened = await mounts.mount(fixtureUri('basic-4k.erofs'), 'erofs');
    const fsp = new ErofsFileSystemProvider(mounts, () => 1000);
    const img = await ErofsImage.open(new FileSource(FIXTURES + 'basic-4k.erofs'));
    let big: string | undefined;
    for await (const e of walk(img)) if ((e.inode.mode & format.S_IFMT) === format.S_IFREG && e.inode.size > 1000) big ??= e.path;
    await expect(fsp.readFile(erofsUri(opened.id, big!))).rejects.toThrow(/more than erofs\.maxOpenFileBytes \(1000\).*Extract To/);
  });

  it('reports a damaged superblock with the offset and the error code, not a stack', async () => {
    const bytes = readFileSync(FIXTURES + 'basic-4k.erofs');
    bytes.writeUInt8(bytes.readUInt8(1024 + 40) ^ 0xff, 1024 + 40); // a byte inside the checksummed superblock
    const path = join(tmp, 'bad-checksum.erofs');
    writeFileSync(path, bytes);
    const { mounts, global } = registry();
    const uri = Uri.file(path) as unknown as vscode.Uri;
    await expect(mounts.mount(uri, 'erofs')).rejects.toMatchObject({ code: 'bad-checksum', offset: 0x404 });
    // Through the provider (a folder remembered from an earlier session): FileSystemError with code and offset.
    const { mountId } = await import('../../src/model/open.js');
    const id = mountId(uri.toString());
    await global.update('erofs.mounts', { [id]: { uri: uri.toString(), kind: 'erofs' } });
    const fsp = new ErofsFileSystemProvider(mounts);
    await expect(fsp.readDirectory(erofsUri(id, '/'))).rejects.toThrow(/0x404: bad-checksum: superblock checksum/);
  });

  it('follows symlinks inside the image', async () => {
    const { mounts } = registry();
    const opened = await mounts.mount(fixtureUri('basic-4k.erofs'), 'erofs');
    const img = opened.image;
    let link: { path: string; target: string } | undefined;
    for await (const e of walk(img)) {
      if ((e.inode.mode & format.S_IFMT) !== format.S_IFLNK) continue;
      const target = new TextDecoder().decode(await img.readlink(e.inode));
      try {
        const r = await opened.resolve(e.path, true);
        if ((r.ino.mode & format.S_IFMT) === format.S_IFREG) {
          link = { path: e.path, target };
          break;
        }
      } catch {
        // dangling or pointing outside: try another
      }
    }
    expect(link, 'basic-4k has a symlink to a regular file').toBeDefined();
    const fsp = new ErofsFileSystemProvider(mounts);
    const st = await fsp.stat(erofsUri(opened.id, link!.path));
    expect(st.type).toBe(FileType.SymbolicLink | FileType.File);
    const viaLink = await fsp.readFile(erofsUri(opened.id, link!.path));
    const direct = await opened.resolve(link!.path, true);
    expect(Buffer.from(viaLink).equals(Buffer.from(await img.read(direct.ino)))).toBe(true);
  });
});
