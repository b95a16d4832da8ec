/**
 * Facts from the OCI image-spec v1.1 (media-types.md, descriptor.md, image-layout.md) that the
 * reader and the validators check against, plus the Docker media types `docker save` and
 * older registries still use for the same structures.
 */

export const MT_LAYOUT_HEADER = 'application/vnd.oci.layout.header.v1+json';
export const MT_INDEX = 'application/vnd.oci.image.index.v1+json';
export const MT_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
export const MT_CONFIG = 'application/vnd.oci.image.config.v1+json';
export const MT_EMPTY = 'application/vnd.oci.empty.v1+json';
export const MT_DOCKER_LIST = 'application/vnd.docker.distribution.manifest.list.v2+json';
export const MT_DOCKER_MANIFEST = 'application/vnd.docker.distribution.manifest.v2+json';
export const MT_DOCKER_CONFIG = 'application/vnd.docker.container.image.v1+json';

/** The annotation on index.json's descriptors that names a tag. */
export const REF_NAME = 'org.opencontainers.image.ref.name';

/** How a layer blob is compressed. */
export type LayerCompression = 'none' | 'gzip' | 'zstd';

export interface LayerMediaType {
  compression: LayerCompression;
  /** Deprecated non-distributable layers: the blob may live elsewhere (descriptor `urls`). */
  nonDistributable: boolean;
}

/** Layer media types the converter can apply, with their compression. */
export const LAYER_MEDIA_TYPES: ReadonlyMap<string, LayerMediaType> = new Map([
  ['application/vnd.oci.image.layer.v1.tar', { compression: 'none', nonDistributable: false }],
  ['application/vnd.oci.image.layer.v1.tar+gzip', { compression: 'gzip', nonDistributable: false }],
  ['application/vnd.oci.image.layer.v1.tar+zstd', { compression: 'zstd', nonDistributable: false }],
  ['application/vnd.oci.image.layer.nondistributable.v1.tar', { compression: 'none', nonDistributable: true }],
  ['application/vnd.oci.image.layer.nondistributable.v1.tar+gzip', { compression: 'gzip', nonDistributable: true }],
  ['application/vnd.oci.image.layer.nondistributable.v1.tar+zstd', { compression: 'zstd', nonDistributable: true }],
  ['application/vnd.docker.image.rootfs.diff.tar.gzip', { compression: 'gzip', nonDistributable: false }],
  ['application/vnd.docker.image.rootfs.foreign.diff.tar.gzip', { compression: 'gzip', nonDistributable: true }],
] as [string, LayerMediaType][]);

export const INDEX_MEDIA_TYPES: ReadonlySet<string> = new Set([MT_INDEX, MT_DOCKER_LIST]);
export const MANIFEST_MEDIA_TYPES: ReadonlySet<string> = new Set([MT_MANIFEST, MT_DOCKER_MANIFEST]);
export const CONFIG_MEDIA_TYPES: ReadonlySet<string> = new Set([MT_CONFIG, MT_DOCKER_CONFIG]);

/** RFC 6838 media type: `type/subtype`, restricted-name characters, optional parameters. */
const MEDIA_TYPE = /^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}\/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}(\s*;.*)?$/;

export function isMediaType(s: string): boolean {
  return MEDIA_TYPE.test(s);
}

/** Digest grammar of descriptor.md: `algorithm ":" encoded`. */
const DIGEST = /^([a-z0-9]+(?:[+._-][a-z0-9]+)*):([a-zA-Z0-9=_-]+)$/;

/** Registered algorithms and the form of their encoded part. */
const REGISTERED: Readonly<Record<string, RegExp>> = {
  sha256: /^[a-f0-9]{64}$/,
  sha512: /^[a-f0-9]{128}$/,
  blake3: /^[a-f0-9]{64}$/,
};

export type DigestCheck =
  | { ok: true; algorithm: string; encoded: string; verifiable: boolean }
  | { ok: false; problem: 'syntax' | 'encoding'; message: string };

/**
 * Checks a digest string: the grammar, then the encoding a registered algorithm requires.
 * `verifiable` says whether erofs-kit can compute it (sha256, sha512); an unregistered
 * algorithm that follows the grammar is valid but cannot be verified.
 */
export function checkDigest(d: string): DigestCheck {
  const m = DIGEST.exec(d);
  if (!m) return { ok: false, problem: 'syntax', message: `${JSON.stringify(d)} is not a digest (algorithm:encoded)` };
  const algorithm = m[1]!;
  const encoded = m[2]!;
  const form = REGISTERED[algorithm];
  if (form && !form.test(encoded)) {
    return { ok: false, problem: 'encoding', message: `${algorithm} digest ${JSON.stringify(encoded)} must be ${algorithm === 'sha512' ? 128 : 64} lower-case hex digits` };
  }
  return { ok: true, algorithm, encoded, verifiable: algorithm === 'sha256' || algorithm === 'sha512' };
}

/** Where a layout keeps the blob of a digest. */
export function blobPath(digest: string): string {
  const i = digest.indexOf(':');
  return `blobs/${digest.slice(0, i)}/${digest.slice(i + 1)}`;
}

/** A platform as `os/architecture[/variant]`. */
export interface Platform {
  os: string;
  architecture: string;
  variant?: string;
}

export function parsePlatform(s: string): Platform | undefined {
  const parts = s.split('/');
  if (parts.length < 2 || parts.length > 3 || parts.some((p) => p.length === 0)) return undefined;
  return parts.length === 3 ? { os: parts[0]!, architecture: parts[1]!, variant: parts[2]! } : { os: parts[0]!, architecture: parts[1]! };
}

export function formatPlatform(p: Platform): string {
  return `${p.os}/${p.architecture}${p.variant ? '/' + p.variant : ''}`;
}

/** Where a media type belongs in a document: what a descriptor with it points at. */
export type MediaTypeRole = 'index' | 'manifest' | 'config' | 'layer' | 'other';

/** Every media type above, with its role and what it is (for editors: completion, hover). */
export const KNOWN_MEDIA_TYPES: readonly { mediaType: string; role: MediaTypeRole; what: string }[] = [
  { mediaType: MT_INDEX, role: 'index', what: 'OCI image index' },
  { mediaType: MT_DOCKER_LIST, role: 'index', what: 'Docker manifest list' },
  { mediaType: MT_MANIFEST, role: 'manifest', what: 'OCI image manifest' },
  { mediaType: MT_DOCKER_MANIFEST, role: 'manifest', what: 'Docker image manifest (schema 2)' },
  { mediaType: MT_CONFIG, role: 'config', what: 'OCI image config' },
  { mediaType: MT_DOCKER_CONFIG, role: 'config', what: 'Docker image config' },
  { mediaType: MT_EMPTY, role: 'config', what: 'empty descriptor (artifacts)' },
  ...[...LAYER_MEDIA_TYPES].map(([mediaType, l]) => ({
    mediaType,
    role: 'layer' as const,
    what: `${mediaType.includes('docker') ? 'Docker' : 'OCI'} layer, ${l.compression === 'none' ? 'uncompressed tar' : `tar+${l.compression}`}${l.nonDistributable ? ', non-distributable' : ''}`,
  })),
  { mediaType: MT_LAYOUT_HEADER, role: 'other', what: 'OCI layout header (oci-layout)' },
];
