import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { format } from '@erofs-kit/core';
import { Uri } from './vscode-mock.js';
import { openTarLayer, type Spool } from '../../src/model/open.js';
import { sniff } from '../../src/model/tar.js';
import type { OpenedImage } from '../../src/model/image.js';
import { nodePlatform } from '../../src/node-platform.js';
import { FIXTURES, fixtureUri, registry } from './support.js';
import type * as vscode from 'vscode';

const tmp = mkdtempSync(join(tmpdir(), 'vsc-tar-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const layer = readFileSync(FIXTURES + 'tar-index-layer.tar');

/** path → type and content, for every entry. */
async function tree(img: OpenedImage, dir = '/', out = new Map<string, string>()): Promise<Map<string, string>> {
  for (const e of await img.list(dir)) {
    const p = `${dir === '/' ? '' : dir}/${e.name}`;
    const { ino } = await img.resolve(p, false);
    const type = ino.mode & format.S_IFMT;
    out.set(p, type === format.S_IFREG ? `file ${Buffer.from(await img.image.read(ino)).toString('base64')}` : `type ${type.toString(8)} size ${ino.size}`);
    if (type === format.S_IFDIR) await tree(img, p, out);
  }
  return out;
}

function zstdAvailable(): string | undefined {
  try {
    execFileSync('zstd', ['--version'], { stdio: 'ignore' });
    return undefined;
  } catch {
    return 'the zstd command is not installed (apt-get install zstd)';
  }
}

describe('tar layers as folders', () => {
  it.for(['tar', 'gzip', 'zstd'] as const)('a %s layer has the tree and bytes of the tar index mkfs.erofs made of it', async (kind, ctx) => {
    let file = join(tmp, 'layer.tar');
    if (kind === 'tar') writeFileSync(file, layer);
    if (kind === 'gzip') writeFileSync((file = join(tmp, 'layer.tar.gz')), gzipSync(layer));
    if (kind === 'zstd') {
      const why = zstdAvailable();
      if (why) {
        console.warn(`SKIP zstd layer test: ${why}`);
        ctx.skip();
      }
      writeFileSync(join(tmp, 'layer-z.tar'), layer);
      execFileSync('zstd', ['-q', '-f', join(tmp, 'layer-z.tar'), '-o', (file = join(tmp, 'layer.tar.zst'))]);
    }
    const { mounts } = registry();
    const reference = await mounts.mount(fixtureUri('tar-index-meta.erofs'), 'erofs');
    const opened = await mounts.mount(Uri.file(file) as unknown as vscode.Uri, 'tar');
    expect(opened.kind).toBe('tar');
    const want = await tree(reference);
    expect(want.size).toBeGreaterThan(5);
    expect(await tree(opened)).toEqual(want);
  });

  it('recognises containers by their first bytes', () => {
    expect(sniff(layer.subarray(0, 1028))).toBe('tar');
    expect(sniff(gzipSync(layer).subarray(0, 1028))).toBe('gzip');
    expect(sniff(readFileSync(FIXTURES + 'basic-4k.erofs').subarray(0, 1028))).toBe('erofs');
    expect(sniff(new Uint8Array(1028))).toBe('unknown');
  });

  it('refuses a file that is no tar with the code and offset', async () => {
    const { mounts } = registry();
    await expect(mounts.mount(fixtureUri('basic-4k.erofs'), 'tar')).rejects.toMatchObject({ code: 'bad-magic', offset: 0 });
  });

  it('stops when cancelled, and leaves no spooled bytes behind', async () => {
    const file = join(tmp, 'cancel.tar.gz');
    writeFileSync(file, gzipSync(layer));
    let discarded = false;
    const host = registry().mounts.host();
    const spoolOf = nodePlatform.spool!;
    const counting: typeof host = {
      ...host,
      spool(): Spool {
        const s = spoolOf();
        return { ...s, discard: async () => void ((discarded = true), await s.discard()) };
      },
    };
    let reads = 0;
    const progress = { report: () => void reads++, isCancelled: () => reads >= 1 };
    await expect(openTarLayer(counting, Uri.file(file).toString(), progress)).rejects.toMatchObject({ name: 'Cancelled' });
    expect(discarded).toBe(true);
  });
});
