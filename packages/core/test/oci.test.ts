/**
 * The OCI reader and validator on layouts built here in memory (every byte known), one
 * defect at a time: each must be reported with its check id, code, file and JSON path, and
 * nothing else may be reported. Then the layer stacking rules on small crafted tars, and the
 * docker-archive form. Layouts made by real tools (umoci, skopeo) are in the CLI's tests.
 */
import { describe, expect, it } from 'vitest';
import { gzipSync } from 'fflate';
import { MemorySource } from '../src/io/source.js';
import { sha256, toHex } from '../src/digest/hash.js';
import { memoryFiles, tarFiles } from '../src/oci/files.js';
import { OCI_CHECKS, checkOciDocument, ociDocumentKind, readOci, selectImage, type OciProblem } from '../src/oci/layout.js';
import { checkDigest } from '../src/oci/spec.js';
import { mergeLayers } from '../src/oci/merge.js';
import { treeOfTar } from '../src/tarindex/tree.js';
import { isErofsError } from '../src/errors.js';
import { S_IFMT, S_IFREG, type TreeNode } from '../src/tree/node.js';
import { archive, bytes, member } from './tar-corpus/craft.js';

const enc = new TextEncoder();
const digestOf = (b: Uint8Array): string => `sha256:${toHex(sha256().update(b).digest())}`;
const path = (d: string): string => `blobs/sha256/${d.slice(7)}`;
type J = Record<string, any>;

const LAYER_TARS = [
  archive(member({ name: './', type: '5', mode: 0o755 }), member({ name: 'a', mode: 0o644 }, 'one'), member({ name: 'd/', type: '5', mode: 0o750 }), member({ name: 'd/x', mode: 0o600 }, 'x')),
  archive(member({ name: '.wh.a', mode: 0o644 }), member({ name: 'b', mode: 0o644 }, 'two')),
];

interface Hooks {
  config?: (c: J) => void;
  manifest?: (m: J) => void;
  index?: (i: J) => void;
  layout?: (l: J) => void;
}

/** A one-image layout: gzip layers, config, manifest, index.json (tag "v1"); hooks edit the JSON before digests are taken. */
function makeLayout(h: Hooks = {}, tars = LAYER_TARS): { files: Map<string, Uint8Array>; manifest: string; config: string; layers: string[]; diffIds: string[] } {
  const files = new Map<string, Uint8Array>();
  const put = (b: Uint8Array): string => {
    const d = digestOf(b);
    files.set(path(d), b);
    return d;
  };
  const gz = tars.map((t) => gzipSync(t, { mtime: 0 }));
  const layers = gz.map(put);
  const diffIds = tars.map(digestOf);
  const config: J = { architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: diffIds }, config: {} };
  h.config?.(config);
  const cb = enc.encode(JSON.stringify(config));
  const cd = put(cb);
  const manifest: J = {
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: cd, size: cb.length },
    layers: gz.map((g, i) => ({ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: layers[i], size: g.length })),
  };
  h.manifest?.(manifest);
  const mb = enc.encode(JSON.stringify(manifest));
  const md = put(mb);
  const index: J = {
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.index.v1+json',
    manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: md, size: mb.length, annotations: { 'org.opencontainers.image.ref.name': 'v1' } }],
  };
  h.index?.(index);
  files.set('index.json', enc.encode(JSON.stringify(index)));
  const layout: J = { imageLayoutVersion: '1.0.0' };
  h.layout?.(layout);
  files.set('oci-layout', enc.encode(JSON.stringify(layout)));
  return { files, manifest: md, config: cd, layers, diffIds };
}

const check = (files: Map<string, Uint8Array>, tag?: string) => readOci(memoryFiles(files), { checkLayers: true, ...(tag !== undefined ? { tag } : {}) });
const brief = (p: OciProblem) => ({ check: p.check, code: p.code, severity: p.severity, file: p.file, jsonPath: p.jsonPath });

describe('OCI layout: a valid image', () => {
  it('reads the image, its tag, platform and layers, and checks every diffID', async () => {
    const l = makeLayout();
    const r = await check(l.files);
    expect(r.problems).toEqual([]);
    expect(r.ok).toBe(true);
    expect(r.kind).toBe('oci-layout');
    expect(r.images).toHaveLength(1);
    const img = r.images[0]!;
    expect(img.tags).toEqual(['v1']);
    expect(img.platform).toEqual({ os: 'linux', architecture: 'amd64' });
    expect(img.manifestDigest).toBe(l.manifest);
    expect(img.layers.map((x) => x.checked?.diffId)).toEqual(l.diffIds);
    expect(img.layers.map((x) => x.checked?.tarBytes)).toEqual(LAYER_TARS.map((t) => t.length));
    expect(selectImage(r).manifestDigest).toBe(l.manifest);
  });

  it('selects by tag and reports an unknown tag with the tags there are', async () => {
    const l = makeLayout();
    expect((await check(l.files, 'v1')).images).toHaveLength(1);
    const r = await check(l.files, 'v2');
    expect(r.images).toHaveLength(0);
    expect(r.problems.map(brief)).toEqual([{ check: 'selection', code: 'not-found', severity: 'error', file: 'index.json', jsonPath: '$.manifests' }]);
    expect(r.problems[0]!.message).toContain('v1');
    let thrown: unknown;
    try {
      selectImage(r);
    } catch (e) {
      thrown = e;
    }
    expect(isErofsError(thrown) && thrown.code).toBe('not-found');
  });
});

const otherDigest = 'sha256:' + '0'.repeat(64);

const DEFECTS: { name: string; build: () => { files: Map<string, Uint8Array>; want: ReturnType<typeof brief>[] } }[] = [
  {
    name: 'manifest blob content changed (wrong digest)',
    build: () => {
      const l = makeLayout({ manifest: (m) => (m.annotations = { note: 'a' }) });
      const text = new TextDecoder().decode(l.files.get(path(l.manifest))!);
      l.files.set(path(l.manifest), enc.encode(text.replace('"note":"a"', '"note":"b"')));
      return { files: l.files, want: [{ check: 'blob-digest', code: 'digest-mismatch', severity: 'error', file: 'index.json', jsonPath: '$.manifests[0].digest' }] };
    },
  },
  {
    name: 'layer blob content changed, same tar inside (wrong digest, right diffID)',
    build: () => {
      const l = makeLayout();
      // The same tar gzipped with another header mtime: same length, other bytes.
      const other = gzipSync(LAYER_TARS[0]!, { mtime: 86400 * 365 * 1000 });
      expect(other.length).toBe(l.files.get(path(l.layers[0]!))!.length);
      l.files.set(path(l.layers[0]!), other);
      return { files: l.files, want: [{ check: 'blob-digest', code: 'digest-mismatch', severity: 'error', file: path(l.manifest), jsonPath: '$.layers[0].digest' }] };
    },
  },
  {
    name: 'layer blob replaced by another layer (wrong size, digest and diffID)',
    build: () => {
      const l = makeLayout();
      l.files.set(path(l.layers[0]!), l.files.get(path(l.layers[1]!))!);
      return {
        files: l.files,
        want: [
          { check: 'blob-size', code: 'invalid-value', severity: 'error', file: path(l.manifest), jsonPath: '$.layers[0].size' },
          { check: 'blob-digest', code: 'digest-mismatch', severity: 'error', file: path(l.manifest), jsonPath: '$.layers[0].digest' },
          { check: 'diff-ids', code: 'digest-mismatch', severity: 'error', file: path(l.config), jsonPath: '$.rootfs.diff_ids[0]' },
        ],
      };
    },
  },
  {
    name: 'wrong size in index.json',
    build: () => {
      const l = makeLayout({ index: (i) => (i.manifests[0].size += 1) });
      return { files: l.files, want: [{ check: 'blob-size', code: 'invalid-value', severity: 'error', file: 'index.json', jsonPath: '$.manifests[0].size' }] };
    },
  },
  {
    name: 'wrong layer size in the manifest',
    build: () => {
      const l = makeLayout({ manifest: (m) => (m.layers[1].size -= 3) });
      return { files: l.files, want: [{ check: 'blob-size', code: 'invalid-value', severity: 'error', file: path(digestOfManifest(l)), jsonPath: '$.layers[1].size' }] };
    },
  },
  {
    name: 'missing layer blob',
    build: () => {
      const l = makeLayout();
      l.files.delete(path(l.layers[1]!));
      return { files: l.files, want: [{ check: 'blob-missing', code: 'not-found', severity: 'error', file: path(l.manifest), jsonPath: '$.layers[1].digest' }] };
    },
  },
  {
    name: 'missing config blob',
    build: () => {
      const l = makeLayout();
      l.files.delete(path(l.config));
      return { files: l.files, want: [{ check: 'blob-missing', code: 'not-found', severity: 'error', file: path(l.manifest), jsonPath: '$.config.digest' }] };
    },
  },
  {
    name: 'diff_id mismatch',
    build: () => {
      const l = makeLayout({ config: (c) => (c.rootfs.diff_ids[1] = otherDigest) });
      return { files: l.files, want: [{ check: 'diff-ids', code: 'digest-mismatch', severity: 'error', file: path(l.config), jsonPath: '$.rootfs.diff_ids[1]' }] };
    },
  },
  {
    name: 'one diff_id too few',
    build: () => {
      const l = makeLayout({ config: (c) => c.rootfs.diff_ids.pop() });
      return { files: l.files, want: [{ check: 'diff-ids', code: 'invalid-value', severity: 'error', file: path(l.config), jsonPath: '$.rootfs.diff_ids' }] };
    },
  },
  {
    name: 'unknown layer media type',
    build: () => {
      const l = makeLayout({ manifest: (m) => (m.layers[0].mediaType = 'application/vnd.example.layer.v1.squashfs') });
      return { files: l.files, want: [{ check: 'layer-media-type', code: 'unsupported-feature', severity: 'error', file: path(digestOfManifest(l)), jsonPath: '$.layers[0].mediaType' }] };
    },
  },
  {
    name: 'gzip media type on a plain tar',
    build: () => {
      const l = makeLayout();
      const tar = LAYER_TARS[0]!;
      const d = digestOf(tar);
      const l2 = makeLayout({ manifest: (m) => ((m.layers[0].digest = d), (m.layers[0].size = tar.length)) });
      l2.files.set(path(d), tar);
      void l;
      return { files: l2.files, want: [{ check: 'layer-data', code: 'invalid-value', severity: 'error', file: path(digestOfManifest(l2)), jsonPath: '$.layers[0].mediaType' }] };
    },
  },
  {
    name: 'digest with upper-case hex',
    build: () => {
      const l = makeLayout({ manifest: (m) => (m.config.digest = m.config.digest.toUpperCase().replace('SHA256', 'sha256')) });
      return { files: l.files, want: [{ check: 'digest-syntax', code: 'invalid-value', severity: 'error', file: path(digestOfManifest(l)), jsonPath: '$.config.digest' }] };
    },
  },
  {
    name: 'digest that is not algorithm:encoded',
    build: () => {
      const l = makeLayout({ index: (i) => (i.manifests[0].digest = 'sha256') });
      return { files: l.files, want: [{ check: 'digest-syntax', code: 'invalid-value', severity: 'error', file: 'index.json', jsonPath: '$.manifests[0].digest' }] };
    },
  },
  {
    name: 'manifest schemaVersion 1',
    build: () => {
      const l = makeLayout({ manifest: (m) => (m.schemaVersion = 1) });
      return { files: l.files, want: [{ check: 'schema-version', code: 'invalid-value', severity: 'error', file: path(digestOfManifest(l)), jsonPath: '$.schemaVersion' }] };
    },
  },
  {
    name: 'manifest mediaType disagreeing with its descriptor',
    build: () => {
      const l = makeLayout({ manifest: (m) => (m.mediaType = 'application/vnd.oci.image.index.v1+json') });
      return { files: l.files, want: [{ check: 'media-type', code: 'invalid-value', severity: 'error', file: path(digestOfManifest(l)), jsonPath: '$.mediaType' }] };
    },
  },
  {
    name: 'descriptor without size',
    build: () => {
      const l = makeLayout({ index: (i) => delete i.manifests[0].size });
      return { files: l.files, want: [{ check: 'descriptor', code: 'invalid-value', severity: 'error', file: 'index.json', jsonPath: '$.manifests[0].size' }] };
    },
  },
  {
    name: 'config without os',
    build: () => {
      const l = makeLayout({ config: (c) => delete c.os });
      return { files: l.files, want: [{ check: 'config', code: 'invalid-value', severity: 'error', file: path(l.config), jsonPath: '$.os' }] };
    },
  },
  {
    name: 'rootfs.type not layers',
    build: () => {
      const l = makeLayout({ config: (c) => (c.rootfs.type = 'tarballs') });
      return { files: l.files, want: [{ check: 'config', code: 'invalid-value', severity: 'error', file: path(l.config), jsonPath: '$.rootfs.type' }] };
    },
  },
  {
    name: 'oci-layout without imageLayoutVersion',
    build: () => {
      const l = makeLayout({ layout: (x) => delete x.imageLayoutVersion });
      return { files: l.files, want: [{ check: 'layout', code: 'invalid-value', severity: 'error', file: 'oci-layout', jsonPath: '$.imageLayoutVersion' }] };
    },
  },
  {
    name: 'index.json missing',
    build: () => {
      const l = makeLayout();
      l.files.delete('index.json');
      return { files: l.files, want: [{ check: 'layout', code: 'not-found', severity: 'error', file: 'index.json', jsonPath: undefined }] };
    },
  },
  {
    name: 'non-distributable layer media types are layers too',
    build: () => {
      const l = makeLayout({ manifest: (m) => (m.layers[1].mediaType = 'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip') });
      return { files: l.files, want: [] };
    },
  },
  {
    name: 'index.json not JSON',
    build: () => {
      const l = makeLayout();
      l.files.set('index.json', enc.encode('{"schemaVersion": 2,'));
      return { files: l.files, want: [{ check: 'json', code: 'invalid-value', severity: 'error', file: 'index.json', jsonPath: undefined }] };
    },
  },
  {
    name: 'unverifiable digest algorithm (warning only)',
    build: () => {
      const l = makeLayout({ index: (i) => i.manifests.push({ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: 'blake3:' + 'a'.repeat(64), size: 2, annotations: { 'org.opencontainers.image.ref.name': 'other' } }) });
      return {
        files: l.files,
        want: [
          { check: 'digest-algorithm', code: 'unsupported-feature', severity: 'warning', file: 'index.json', jsonPath: '$.manifests[1].digest' },
          { check: 'blob-missing', code: 'not-found', severity: 'error', file: 'index.json', jsonPath: '$.manifests[1].digest' },
        ],
      };
    },
  },
];

/** The manifest digest of a layout (the one index.json names). */
function digestOfManifest(l: ReturnType<typeof makeLayout>): string {
  return l.manifest;
}

describe('OCI layout: hand-broken copies', () => {
  it.each(DEFECTS.map((d) => [d.name, d] as const))('%s', async (_name, d) => {
    const { files, want } = d.build();
    const r = await check(files);
    expect(r.problems.map(brief)).toEqual(want);
    expect(r.ok).toBe(!want.some((p) => p.severity === 'error'));
    for (const p of r.problems) expect(OCI_CHECKS[p.check], p.check).toBeTypeOf('string');
  });

  it('selectImage throws the first error of the image as an ErofsError naming file and JSON path', async () => {
    const l = makeLayout({ config: (c) => (c.rootfs.diff_ids[0] = otherDigest) });
    const r = await readOci(memoryFiles(l.files), { checkLayers: true });
    let thrown: unknown;
    try {
      selectImage(r);
    } catch (e) {
      thrown = e;
    }
    expect(isErofsError(thrown)).toBe(true);
    const e = thrown as { code: string; path: string; format: string };
    expect(e.code).toBe('digest-mismatch');
    expect(e.format).toBe('oci');
    expect(e.path).toBe(`${path(l.config)} $.rootfs.diff_ids[0]`);
  });
});

describe('OCI layout: nested indexes and platforms', () => {
  async function multi(): Promise<Map<string, Uint8Array>> {
    const amd = makeLayout();
    const arm = makeLayout({ config: (c) => ((c.architecture = 'arm64'), (c.variant = 'v8')) }, [LAYER_TARS[0]!]);
    const files = new Map([...amd.files, ...arm.files]);
    const sizeOf = (d: string): number => files.get(path(d))!.length;
    const nested = enc.encode(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.index.v1+json',
        manifests: [
          { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: amd.manifest, size: sizeOf(amd.manifest), platform: { os: 'linux', architecture: 'amd64' } },
          { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: arm.manifest, size: sizeOf(arm.manifest), platform: { os: 'linux', architecture: 'arm64', variant: 'v8' } },
        ],
      }),
    );
    const nd = digestOf(nested);
    files.set(path(nd), nested);
    files.set('index.json', enc.encode(JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: 'application/vnd.oci.image.index.v1+json', digest: nd, size: nested.length, annotations: { 'org.opencontainers.image.ref.name': 'multi' } }] })));
    return files;
  }

  it('walks a nested index, inherits the tag, and picks an image by platform', async () => {
    const files = await multi();
    const r = await check(files, 'multi');
    expect(r.problems).toEqual([]);
    expect(r.images.map((i) => [i.tags, i.platform, i.layers.length])).toEqual([
      [['multi'], { os: 'linux', architecture: 'amd64' }, 2],
      [['multi'], { os: 'linux', architecture: 'arm64', variant: 'v8' }, 1],
    ]);
    expect(selectImage(r, 'linux/arm64').layers).toHaveLength(1);
    expect(selectImage(r, 'linux/amd64').layers).toHaveLength(2);
    expect(() => selectImage(r)).toThrow(/2 images match/);
    expect(() => selectImage(r, 'linux/s390x')).toThrow(/no image matches/);
  });

  it('warns when an index entry platform disagrees with the config', async () => {
    const files = await multi();
    const idx = JSON.parse(new TextDecoder().decode(files.get('index.json')!));
    const nestedPath = path(idx.manifests[0].digest);
    const nested = JSON.parse(new TextDecoder().decode(files.get(nestedPath)!));
    nested.manifests[1].platform.architecture = 'riscv64';
    const nb = enc.encode(JSON.stringify(nested));
    const nd = digestOf(nb);
    files.set(path(nd), nb);
    idx.manifests[0] = { ...idx.manifests[0], digest: nd, size: nb.length };
    files.set('index.json', enc.encode(JSON.stringify(idx)));
    const r = await check(files);
    expect(r.problems.map(brief)).toEqual([{ check: 'platform', code: 'invalid-value', severity: 'warning', file: r.images[1]!.configFile, jsonPath: '$.architecture' }]);
  });
});

describe('one document (checkOciDocument)', () => {
  const json = (b: Uint8Array): J => JSON.parse(new TextDecoder().decode(b)) as J;

  it('tells indexes, manifests and configs apart by mediaType, then by shape', () => {
    expect(ociDocumentKind({ mediaType: 'application/vnd.docker.distribution.manifest.list.v2+json' })).toBe('index');
    expect(ociDocumentKind({ mediaType: 'application/vnd.docker.distribution.manifest.v2+json', schemaVersion: 2 })).toBe('manifest');
    expect(ociDocumentKind({ manifests: [] })).toBe('index');
    expect(ociDocumentKind({ config: {}, layers: [] })).toBe('manifest');
    expect(ociDocumentKind({ architecture: 'arm64', os: 'linux' })).toBe('config');
    expect(ociDocumentKind({ name: 'package', version: '1.0.0' })).toBeUndefined();
    expect(ociDocumentKind([1, 2])).toBeUndefined();
  });

  it('finds nothing in the documents of a valid layout, on their own or against the layout', async () => {
    const l = makeLayout();
    const files = memoryFiles(l.files);
    for (const [file, layers] of [['index.json', undefined], [path(l.manifest), undefined], [path(l.config), 2]] as const) {
      const v = json(l.files.get(file)!);
      expect((await checkOciDocument(v, { file, ...(layers !== undefined ? { layers } : {}) })).problems, file).toEqual([]);
      expect((await checkOciDocument(v, { file, files, checkBlobs: true })).problems, file).toEqual([]);
    }
  });

  it('reports what readOci reports for the same defects in the document itself', async () => {
    const hooks = {
      manifest: (m: J) => {
        m['schemaVersion'] = 1;
        m['layers'][0].digest = 'sha256:XYZ';
        m['layers'][1].mediaType = 'text/plain';
      },
    };
    const l = makeLayout(hooks);
    const mfile = path(l.manifest);
    const whole = (await check(l.files)).problems.filter((p) => p.file === mfile).map(brief);
    const one = (await checkOciDocument(json(l.files.get(mfile)!), { file: mfile, files: memoryFiles(l.files) })).problems.map(brief);
    expect(one).toEqual(whole);
    expect(one.map((p) => [p.check, p.jsonPath])).toEqual([
      ['schema-version', '$.schemaVersion'],
      ['digest-syntax', '$.layers[0].digest'],
      ['layer-media-type', '$.layers[1].mediaType'],
    ]);
  });

  it('checks blobs against the layout: missing, wrong size, wrong content', async () => {
    const l = makeLayout();
    const files = new Map(l.files);
    files.delete(path(l.layers[0]!));
    const cfg = files.get(path(l.config))!;
    files.set(path(l.config), enc.encode(new TextDecoder().decode(cfg).replace('amd64', 'arm64')));
    const m = json(l.files.get(path(l.manifest))!);
    m['layers'][1].size += 1;
    const r = await checkOciDocument(m, { file: 'm.json', files: memoryFiles(files), checkBlobs: true });
    expect(r.kind).toBe('manifest');
    expect(r.problems.map((p) => [p.check, p.file, p.jsonPath])).toEqual([
      ['blob-missing', 'm.json', '$.layers[0].digest'],
      ['blob-size', 'm.json', '$.layers[1].size'],
      ['blob-digest', 'm.json', '$.config.digest'],
    ]);
  });

  it('counts a config\'s diff_ids against the layers its manifest has, when told', async () => {
    const l = makeLayout();
    const v = json(l.files.get(path(l.config))!);
    expect((await checkOciDocument(v, { layers: 3 })).problems.map((p) => [p.check, p.jsonPath, p.message])).toEqual([['diff-ids', '$.rootfs.diff_ids', '2 diff_ids for 3 layers']]);
    v['rootfs'].diff_ids[1] = 'sha512:00';
    expect((await checkOciDocument(v)).problems.map((p) => [p.check, p.jsonPath])).toEqual([['digest-syntax', '$.rootfs.diff_ids[1]']]);
  });

  it('says when a manifest on its own names a media type that is not a manifest\'s', async () => {
    const r = await checkOciDocument({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', config: {}, layers: [] }, { kind: 'manifest' });
    expect(r.problems.map((p) => [p.check, p.jsonPath, p.message])).toEqual([
      ['media-type', '$.mediaType', `mediaType "application/vnd.oci.image.index.v1+json" is not an image manifest's`],
      ['descriptor', '$.config.mediaType', 'mediaType is missing'],
      ['descriptor', '$.config.digest', 'digest is missing'],
      ['descriptor', '$.config.size', 'size is missing'],
    ]);
  });
});

describe('digests', () => {
  it('follows the grammar and the registered encodings', () => {
    expect(checkDigest('sha256:' + 'a'.repeat(64))).toMatchObject({ ok: true, verifiable: true });
    expect(checkDigest('sha512:' + 'b'.repeat(128))).toMatchObject({ ok: true, verifiable: true });
    expect(checkDigest('multihash+base58:QmRZxt2b1FVZPNqd8hsiykDL3TdBDeTSPX9Kv46HmX4Gx8')).toMatchObject({ ok: true, verifiable: false });
    expect(checkDigest('sha256:' + 'a'.repeat(63))).toMatchObject({ ok: false, problem: 'encoding' });
    expect(checkDigest('sha256:' + 'A'.repeat(64))).toMatchObject({ ok: false, problem: 'encoding' });
    expect(checkDigest('SHA256:' + 'a'.repeat(64))).toMatchObject({ ok: false, problem: 'syntax' });
    expect(checkDigest('sha256+:abc')).toMatchObject({ ok: false, problem: 'syntax' });
    expect(checkDigest('sha256:ab/c')).toMatchObject({ ok: false, problem: 'syntax' });
  });
});

describe('docker-archive', () => {
  it('reads manifest.json, configs and layer tars from one tar, following member symlinks', async () => {
    const tars = LAYER_TARS;
    const diffIds = tars.map(digestOf);
    const cfg = enc.encode(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: diffIds } }));
    const cfgName = `${digestOf(cfg).slice(7)}.json`;
    const manifest = enc.encode(JSON.stringify([{ Config: cfgName, RepoTags: ['example/app:1.0'], Layers: ['l0/layer.tar', 'l1/layer.tar'] }]));
    const outer = archive(
      member({ name: 'blob0.tar', mode: 0o644 }, tars[0]!),
      member({ name: 'l0/layer.tar', type: '2', linkname: '../blob0.tar' }),
      member({ name: 'l1/layer.tar', mode: 0o644 }, tars[1]!),
      member({ name: cfgName, mode: 0o644 }, cfg),
      member({ name: 'manifest.json', mode: 0o644 }, manifest),
    );
    const files = await tarFiles(new MemorySource(outer, 'image.tar'));
    const r = await readOci(files, { checkLayers: true, tag: '1.0' });
    expect(r.kind).toBe('docker-archive');
    expect(r.problems).toEqual([]);
    expect(r.images[0]!.tags).toEqual(['example/app:1.0']);
    expect(r.images[0]!.layers.map((l) => l.checked?.diffId)).toEqual(diffIds);

    const bad = archive(member({ name: 'l0/layer.tar', mode: 0o644 }, tars[1]!), member({ name: 'l1/layer.tar', mode: 0o644 }, tars[1]!), member({ name: cfgName, mode: 0o644 }, cfg), member({ name: 'manifest.json', mode: 0o644 }, manifest));
    const r2 = await readOci(await tarFiles(new MemorySource(bad, 'bad.tar')), { checkLayers: true });
    expect(r2.problems.map(brief)).toEqual([{ check: 'diff-ids', code: 'digest-mismatch', severity: 'error', file: cfgName, jsonPath: '$.rootfs.diff_ids[0]' }]);
  });

  it('reports an input that is neither form', async () => {
    const r = await readOci(memoryFiles(new Map([['README', bytes('hi')]])));
    expect(r.problems.map(brief)).toEqual([{ check: 'layout', code: 'not-found', severity: 'error', file: 'oci-layout', jsonPath: undefined }]);
  });
});

/* ------------------------------------------------------------------ stacking */

async function layerTree(...members: Uint8Array[]) {
  const t = await treeOfTar(new MemorySource(archive(...members)), { aufs: true });
  return { root: t.root, implicitDirs: t.implicitDirs };
}

function listing(n: TreeNode, prefix = ''): string[] {
  const out: string[] = [];
  for (const [k, c] of [...n.children!].sort(([a], [b]) => (a < b ? -1 : 1))) {
    const p = `${prefix}/${k}`;
    const data = c.data && (c.data.kind === 'extent' || c.data.kind === 'device') ? ` dev${c.data.device}` : '';
    const x = [...c.xattrs.keys()].join(',');
    out.push(`${p} ${(c.mode & 0o170000).toString(8)} ${(c.mode & 0o7777).toString(8)} ${c.uid} ${c.mtime}${data}${x ? ' ' + x : ''}`);
    if (c.children) out.push(...listing(c, p));
  }
  return out;
}

describe('mergeLayers', () => {
  it('applies whiteouts, opaque directories and replacements in layer order, keeping lower attributes under implicit parents', async () => {
    const base = await layerTree(
      member({ name: './', type: '5', mode: 0o755, mtime: 1 }),
      member({ name: 'etc/', type: '5', mode: 0o755, mtime: 2 }),
      member({ name: 'etc/keep', mode: 0o644, mtime: 3 }, 'k'),
      member({ name: 'etc/gone', mode: 0o644, mtime: 3 }, 'g'),
      member({ name: 'opt/', type: '5', mode: 0o700, uid: 7, mtime: 4 }),
      member({ name: 'opt/old', mode: 0o644, mtime: 5 }, 'o'),
      member({ name: 'opt/sub/', type: '5', mode: 0o755, mtime: 5 }),
      member({ name: 'opt/sub/deep', mode: 0o644, mtime: 5 }, 'd'),
      member({ name: 'swap', type: '5', mode: 0o755, mtime: 6 }),
      member({ name: 'swap/in', mode: 0o644, mtime: 6 }, 'i'),
      member({ name: 'h1', mode: 0o644, mtime: 7 }, 'hh'),
      member({ name: 'h2', type: '1', linkname: 'h1', mtime: 7 }),
    );
    const upper = await layerTree(
      // no ./ and no etc/ entry: both implied, their attributes stay those of the base
      member({ name: 'etc/.wh.gone', mode: 0o644, mtime: 9 }),
      member({ name: 'etc/new', mode: 0o600, mtime: 9 }, 'n'),
      member({ name: 'opt/', type: '5', mode: 0o755, uid: 0, mtime: 10 }),
      member({ name: 'opt/.wh..wh..opq', mode: 0o644, mtime: 10 }),
      member({ name: 'opt/fresh', mode: 0o644, mtime: 10 }, 'f'),
      member({ name: 'swap', mode: 0o644, mtime: 11 }, 'now a file'),
      member({ name: 'h1', mode: 0o644, mtime: 12 }, 'replaced'),
    );
    const merged = mergeLayers([base, upper]);
    expect(listing(merged)).toEqual([
      '/etc 40000 755 0 2',
      '/etc/keep 100000 644 0 3 dev1',
      '/etc/new 100000 600 0 9 dev2',
      '/h1 100000 644 0 12 dev2',
      '/h2 100000 644 0 7 dev1',
      '/opt 40000 755 0 10',
      '/opt/fresh 100000 644 0 10 dev2',
      '/swap 100000 644 0 11 dev2',
    ]);
    expect(merged.mtime).toBe(1);
    // No overlayfs marker survives (the opaque and origin xattrs the aufs conversion adds).
    expect(listing(merged).join('\n')).not.toContain('trusted.overlay');
  });

  it('keeps hard links of one layer one inode, on that layer device', async () => {
    const l0 = await layerTree(member({ name: 'a', mode: 0o644 }, 'data'), member({ name: 'b', type: '1', linkname: 'a' }));
    const l1 = await layerTree(member({ name: 'c', mode: 0o644 }, 'more'), member({ name: 'd', type: '1', linkname: 'c' }));
    const m = mergeLayers([l0, l1]);
    const ch = m.children!;
    expect(ch.get('a')).toBe(ch.get('b'));
    expect(ch.get('c')).toBe(ch.get('d'));
    expect(ch.get('a')!.data).toMatchObject({ kind: 'extent', device: 1 });
    expect(ch.get('c')!.data).toMatchObject({ kind: 'extent', device: 2 });
    expect(ch.get('a')!.mode & S_IFMT).toBe(S_IFREG);
    // The layer trees are not changed: layer 1's node still points at device 1.
    expect(l1.root.children!.get('c')!.data).toMatchObject({ kind: 'extent', device: 1 });
  });
});
