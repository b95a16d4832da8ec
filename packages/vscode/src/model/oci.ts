/**
 * OCI image layouts in a folder, independent of VS Code: the folder's files as core's
 * {@link OciFiles} (through the host's file access, so the web host works too), its images
 * (tags, platform) and each image's layers (digest, media type, size, diffID from the config).
 * Problems core's reader finds are part of the listing, never thrown.
 */
import { formatPlatform, readOci, type ByteSource, type OciFiles, type OciProblem, type OciReport } from '@erofs-kit/core';
import { describeError } from './errors.js';
import { chunksOf, splitUri, type OpenHost } from './open.js';

/** What reading a layout needs from its environment. */
export type OciHost = Pick<OpenHost, 'openSource' | 'sizeOf' | 'listDir'>;

/** `root/rel` for a relative, '/'-separated path; undefined for one that would leave `root`. */
export function joinUri(root: string, rel: string): string | undefined {
  if (rel.startsWith('/') || rel.split('/').some((p) => p === '' || p === '.' || p === '..')) return undefined;
  return `${root.replace(/\/+$/, '')}/${rel}`;
}

/** The files under the folder `root` (a URI string) as core's reader wants them. */
export function ociFiles(host: OciHost, root: string): OciFiles {
  const must = (path: string): string => {
    const u = joinUri(root, path);
    if (u === undefined) throw new Error(`${path}: not a path inside ${root}`);
    return u;
  };
  const whole = async (src: ByteSource): Promise<Uint8Array> => {
    try {
      return (await src.read(0, src.size)).slice();
    } finally {
      await src.close?.();
    }
  };
  return {
    name: root,
    size: async (path) => {
      const u = joinUri(root, path);
      return u === undefined ? undefined : host.sizeOf(u);
    },
    read: async (path) => whole(await host.openSource(must(path))),
    async *chunks(path) {
      const src = await host.openSource(must(path));
      try {
        yield* chunksOf(src);
      } finally {
        await src.close?.();
      }
    },
  };
}

export interface OciLayerInfo {
  /** 0 = the base layer. */
  index: number;
  digest: string;
  mediaType: string;
  size: number;
  compression: 'none' | 'gzip' | 'zstd';
  /** The config's rootfs.diff_ids entry, when there is one. */
  diffId?: string;
  /** The blob's URI. */
  blob: string;
}

export interface OciImageInfo {
  /** Stable within a listing: the manifest digest, or the manifest's place. */
  key: string;
  /** Tags, or the short manifest digest when there are none. */
  label: string;
  tags: string[];
  platform?: string;
  manifestDigest?: string;
  configDigest?: string;
  /** An artifact (its config is not an image config): listed, not converted. */
  artifact: boolean;
  layers: OciLayerInfo[];
  /** This image's problems, one line each. */
  problems: string[];
}

export interface OciListing {
  root: string;
  /** The folder's name. */
  name: string;
  kind: OciReport['kind'];
  ok: boolean;
  images: OciImageInfo[];
  /** Problems of the layout itself (not of one image), one line each, plus a read failure if any. */
  problems: string[];
  /** The problems as core reports them, for callers that want paths and codes. */
  raw: OciProblem[];
}

/** One line per problem: `file $.path: severity: check: code: message`. */
export function problemLine(p: OciProblem): string {
  return `${p.file}${p.jsonPath !== undefined ? ' ' + p.jsonPath : ''}: ${p.severity}: ${p.check}: ${p.code}: ${p.message}`;
}

export const shortDigest = (d: string): string => {
  const i = d.indexOf(':');
  return i < 0 ? d.slice(0, 12) : d.slice(i + 1, i + 13);
};

/** Whether a folder is an OCI image layout (it holds `oci-layout` or `index.json`). */
export async function isOciLayout(host: Pick<OpenHost, 'sizeOf'>, root: string): Promise<boolean> {
  return (await host.sizeOf(`${root.replace(/\/+$/, '')}/oci-layout`)) !== undefined || (await host.sizeOf(`${root.replace(/\/+$/, '')}/index.json`)) !== undefined;
}

/** Folders directly inside `root` that hold a layout (at most `limit` folders are looked at). */
export async function layoutsInside(host: Pick<OpenHost, 'sizeOf' | 'listDir'>, root: string, limit = 200): Promise<string[]> {
  const base = root.replace(/\/+$/, '');
  const out: string[] = [];
  const names = ((await host.listDir?.(base)) ?? []).filter((n) => !n.startsWith('.')).sort().slice(0, limit);
  for (const n of names) if (await isOciLayout(host, `${base}/${n}`)) out.push(`${base}/${n}`);
  return out;
}

/**
 * Reads the layout in `root`: indexes, manifests and configs are read and checked, layer blobs
 * are not hashed (that is Verify's and Convert's work), so listing is quick.
 */
export async function listOci(host: OciHost, root: string): Promise<OciListing> {
  const name = splitUri(root.replace(/\/+$/, ''))[1] ?? root;
  const base = root.replace(/\/+$/, '');
  let report: OciReport;
  try {
    report = await readOci(ociFiles(host, base), { checkBlobs: false });
  } catch (e) {
    return { root: base, name, kind: 'unknown', ok: false, images: [], problems: [describeError(e, name)], raw: [] };
  }
  const inImage = new Set(report.images.flatMap((i) => i.problems));
  const images = report.images.map((img, n): OciImageInfo => {
    const platform = img.platform ? formatPlatform(img.platform) : undefined;
    const label = img.tags.length > 0 ? img.tags.join(', ') : img.manifestDigest ? `@${shortDigest(img.manifestDigest)}` : img.manifestFile;
    return {
      key: img.manifestDigest ?? `${img.manifestFile}${img.manifestPath ?? ''}#${n}`,
      label,
      tags: img.tags,
      ...(platform !== undefined ? { platform } : {}),
      ...(img.manifestDigest !== undefined ? { manifestDigest: img.manifestDigest } : {}),
      ...(img.configDigest !== undefined ? { configDigest: img.configDigest } : {}),
      artifact: img.artifact === true,
      layers: img.layers.map((l) => ({
        index: l.index,
        digest: l.descriptor.digest,
        mediaType: l.descriptor.mediaType,
        size: l.descriptor.size,
        compression: l.compression,
        ...(l.diffId !== undefined ? { diffId: l.diffId } : {}),
        blob: `${base}/${l.file}`,
      })),
      problems: img.problems.map(problemLine),
    };
  });
  return {
    root: base,
    name,
    kind: report.kind,
    ok: report.ok,
    images,
    problems: report.problems.filter((p) => !inImage.has(p)).map(problemLine),
    raw: report.problems,
  };
}

/** Default output folder of Convert Image for a layout in `root`: `<root>-erofs` beside it. */
export function defaultConvertDir(root: string): string {
  return `${root.replace(/\/+$/, '')}-erofs`;
}

/**
 * A layer's tar index from an earlier conversion, when one is there: `layers/<hex>.erofs`
 * with `layers/<hex>.tar` beside it (what `erofs-kit oci convert` and Convert Image write),
 * in the default output folder beside the layout or any folder beside it holding a
 * summary.json. Returns the index's URI; opening it finds the tar beside it.
 */
export async function findConvertedLayer(host: OciHost, root: string, diffId: string): Promise<string | undefined> {
  const m = /^sha256:([0-9a-f]{64})$/.exec(diffId);
  if (!m) return undefined;
  const hexId = m[1]!;
  const base = root.replace(/\/+$/, '');
  const [parent] = splitUri(base);
  const dirs = [defaultConvertDir(base)];
  for (const n of (await host.listDir?.(parent)) ?? []) {
    const d = `${parent}/${n}`;
    if (d !== base && !dirs.includes(d) && (await host.sizeOf(`${d}/summary.json`)) !== undefined) dirs.push(d);
  }
  for (const d of dirs) {
    const index = `${d}/layers/${hexId}.erofs`;
    if ((await host.sizeOf(index)) !== undefined && (await host.sizeOf(`${d}/layers/${hexId}.tar`)) !== undefined) return index;
  }
  return undefined;
}
