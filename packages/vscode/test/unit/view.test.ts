import { describe, expect, it } from 'vitest';
import { COMPAT_FEATURES, INCOMPAT_FEATURES, compatibility } from '@erofs-kit/core';
import { ImageTreeProvider, type ViewNode } from '../../src/vscode/view.js';
import { fixtureUri, registry } from './support.js';
import { hardLinkNames } from '../../src/model/details.js';

async function setup(fixture: string) {
  const { mounts } = registry();
  const opened = await mounts.mount(fixtureUri(fixture), 'erofs');
  const view = new ImageTreeProvider(mounts);
  const [image] = await view.getChildren();
  return { mounts, opened, view, image: image! };
}

const label = (view: ImageTreeProvider, n: ViewNode) => view.getTreeItem(n).label;
const byLabel = async (view: ImageTreeProvider, parent: ViewNode, l: string) => {
  const kids = await view.getChildren(parent);
  const hit = kids.find((k) => label(view, k) === l);
  if (!hit) throw new Error(`no ${l} under ${label(view, parent)}: ${kids.map((k) => label(view, k))}`);
  return hit;
};

describe('EROFS Image view', () => {
  it('shows every feature bit set, with its meaning and the first kernel that mounts it', async () => {
    const { opened, view, image } = await setup('lz4hc-fragments.erofs');
    expect(image).toMatchObject({ kind: 'image', id: opened.id });
    const features = await view.getChildren(await byLabel(view, image, 'Features'));
    const items = features.map((f) => view.getTreeItem(f));
    const want = [...opened.image.compatNames, ...opened.image.incompatNames];
    expect(items.map((i) => i.label)).toEqual(want);
    for (const i of items) {
      const info = [...COMPAT_FEATURES, ...INCOMPAT_FEATURES].find((f) => f.name === i.label)!;
      expect(i.description).toBe(`Linux ≥ ${info.kernel} · ${info.doc}`);
    }
    const compat = await view.getChildren(await byLabel(view, image, 'Compatibility'));
    expect(view.getTreeItem(compat[0]!).description).toBe(compatibility(opened.image).minimumKernel);
  });

  it('shows superblock fields by their kernel names', async () => {
    const { opened, view, image } = await setup('basic-512.erofs');
    const sb = (await view.getChildren(await byLabel(view, image, 'Superblock'))).map((n) => view.getTreeItem(n));
    expect(sb.find((i) => i.label === 'blkszbits')?.description).toBe('9 (512-byte blocks)');
    expect(sb.find((i) => i.label === 'root_nid')?.description).toBe(String(opened.image.rootNid));
    expect(sb.find((i) => i.label === 'inos')?.description).toBe(String(opened.image.sb.inos));
  });

  it('lists the image lazily and shows the selected inode with its data map and xattrs', async () => {
    const { opened, view, image } = await setup('chunkidx-8k-512.erofs');
    const files = await byLabel(view, image, 'Files');
    const top = await view.getChildren(files);
    expect(top.map((n) => label(view, n))).toEqual((await opened.list('/')).map((e) => e.name));
    // Pick a chunk-based regular file and select it.
    let path: string | undefined;
    for (const n of top) {
      if (n.kind !== 'file') continue;
      for (const c of n.type === 2 ? await view.getChildren(n) : [n]) {
        if (c.kind === 'file' && c.type === 1) {
          const { ino } = await opened.resolve(c.path);
          if (ino.layoutName === 'chunk-based' && ino.size > 8192) path ??= c.path;
        }
      }
    }
    expect(path).toBeDefined();
    view.select(opened.id, path!);
    const inodeNode = (await view.getChildren(image))[0]!;
    expect(inodeNode.kind).toBe('inode');
    const details = (await view.getChildren(inodeNode)).map((n) => view.getTreeItem(n));
    const { ino } = await opened.resolve(path!);
    expect(details.find((d) => d.label === 'nid')?.description).toBe(String(ino.nid));
    expect(details.find((d) => d.label === 'size')?.description).toBe(String(ino.size));
    expect(details.find((d) => d.label === 'nlink')?.description).toBe(String(ino.nlink));
    expect(details.find((d) => d.label === 'layout')?.description).toMatch(/^chunk-based, chunk indexes, chunk size 8192$/);
    const mapNode = (await view.getChildren(inodeNode)).find((n) => label(view, n) === 'data map')!;
    const extents = await opened.image.extents(ino);
    expect((await view.getChildren(mapNode)).length).toBe(extents.length);
    const xattrNode = (await view.getChildren(inodeNode)).find((n) => label(view, n) === 'xattrs')!;
    expect((await view.getChildren(xattrNode)).length).toBe((await opened.image.xattrs(ino)).length);
  });

  it('a hard-linked file lists every name of its inode', async () => {
    const { opened, view, image } = await setup('basic-4k.erofs');
    view.select(opened.id, '/links/a/three-names');
    const inodeNode = (await view.getChildren(image))[0]!;
    const nlink = (await view.getChildren(inodeNode)).find((n) => label(view, n) === 'nlink')!;
    expect(view.getTreeItem(nlink)).toMatchObject({ description: '3 (hard-linked)', tooltip: 'hard-linked: the same inode under 3 names' });
    expect((await view.getChildren(nlink)).map((n) => label(view, n)).sort()).toEqual(['/links/a/three-names', '/links/b/second-name', '/links/third-name']);
    // A budget too small to find them all says so.
    const { ino } = await opened.resolve('/links/a/three-names');
    const partial = await hardLinkNames(opened.image, ino, 3);
    expect(partial.complete).toBe(false);
    expect(partial.paths.length).toBeLessThan(3);
  });

  it('shows an error row, not an exception, for a path that does not exist', async () => {
    const { opened, view, image } = await setup('basic-4k.erofs');
    view.select(opened.id, '/no/such');
    const inodeNode = (await view.getChildren(image))[0]!;
    const rows = await view.getChildren(inodeNode);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ kind: 'error' });
    expect(label(view, rows[0]!)).toMatch(/not-found: \/no: no such file or directory/);
  });
});
