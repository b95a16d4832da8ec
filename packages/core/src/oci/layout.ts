/**
 * Reading and validating an OCI image layout (image-layout.md: `oci-layout`, `index.json`,
 * `blobs/<alg>/<encoded>`) or a `docker save` archive (`manifest.json` beside configs and layer
 * tars), against the OCI image-spec v1.1. The walk is tolerant: every problem is recorded with
 * its check id, the file and the JSON path it is in, and the walk goes on where it can, so one
 * run reports everything. `selectImage()` then gives the one image a tag and platform name,
 * or throws the first problem as an `ErofsError`.
 */
import { ErofsError, type ErrorCode } from '../errors.js';
import { defaultHash, toHex, type HashAlgorithm, type HashFactory } from '../digest/hash.js';
import type { OciFiles } from './files.js';
import {
  CONFIG_MEDIA_TYPES,
  INDEX_MEDIA_TYPES,
  LAYER_MEDIA_TYPES,
  MANIFEST_MEDIA_TYPES,
  MT_LAYOUT_HEADER,
  REF_NAME,
  blobPath,
  checkDigest,
  formatPlatform,
  isMediaType,
  parsePlatform,
  type LayerCompression,
  type LayerMediaType,
  type Platform,
} from './spec.js';
import { layerStream, type LayerDecompressor, type LayerStream } from './layer.js';

/** Every check the OCI validator runs, with what it checks. Report `check` ids come from here. */
export const OCI_CHECKS = {
  layout: 'the input is an OCI image layout (oci-layout with imageLayoutVersion, index.json) or a docker-archive (manifest.json)',
  json: 'index.json, manifests, configs and manifest.json parse as JSON objects of bounded size',
  'schema-version': 'indexes and manifests have schemaVersion 2',
  'media-type': 'mediaType values are media types, and a document agrees with the descriptor that points at it',
  descriptor: 'descriptor fields: mediaType, digest, size present with their types; urls, annotations, platform and data well formed',
  'digest-syntax': 'digests follow the grammar of descriptor.md and the encoding of their registered algorithm',
  'digest-algorithm': 'digests use an algorithm erofs-kit can verify (sha256, sha512); diff_ids use sha256',
  'blob-missing': 'the blob a descriptor names exists',
  'blob-size': "a descriptor's size equals the size of its blob",
  'blob-digest': "a blob's content hashes to the digest that names it",
  config: 'image configs have architecture, os and rootfs {type: layers, diff_ids}',
  'diff-ids': "rootfs.diff_ids has one entry per layer, each the sha256 of the layer's uncompressed tar",
  'layer-media-type': 'layers are tar, tar+gzip or tar+zstd (OCI, non-distributable or Docker media types)',
  'layer-data': 'a layer blob decompresses as its media type says',
  platform: "an index entry's platform agrees with its image's config",
  selection: 'the requested tag and platform select exactly one image',
  'docker-manifest': 'docker-archive manifest.json entries name a config and layers that exist',
} as const;

export type OciCheck = keyof typeof OCI_CHECKS;

export interface OciProblem {
  check: OciCheck;
  code: ErrorCode;
  severity: 'error' | 'warning';
  message: string;
  /** The file of the layout the problem is in (index.json, blobs/sha256/..., manifest.json). */
  file: string;
  /** Where in that file's JSON (`$.manifests[0].digest`), when the problem is about a field. */
  jsonPath?: string;
  /** The blob the problem concerns, when it is not `file` itself. */
  blob?: string;
}

/** A JSON document's descriptor fields as read (after the checks). */
export interface OciDescriptor {
  mediaType: string;
  digest: string;
  size: number;
  urls?: string[];
  annotations?: Record<string, string>;
  platform?: Platform;
}

export interface OciLayer {
  /** 0 = the base layer. */
  index: number;
  descriptor: OciDescriptor;
  /** The blob's path among the files. */
  file: string;
  compression: LayerCompression;
  /** The config's diff_ids entry for this layer, when there is one. */
  diffId?: string;
  /** Set by layer checking: what the blob held. */
  checked?: { diffId: string; blobDigest: string; tarBytes: number };
}

export interface OciImage {
  /** Tags from index.json's ref.name annotations (or RepoTags in a docker-archive). */
  tags: string[];
  /** The manifest descriptor's digest (docker-archive: the manifest.json entry has none). */
  manifestDigest?: string;
  /** Where the manifest is: a blob path, or `manifest.json` with its entry's JSON path. */
  manifestFile: string;
  manifestPath?: string;
  configFile: string;
  configDigest?: string;
  platform?: Platform;
  layers: OciLayer[];
  /** Problems found in this image's manifest, config and layers. */
  problems: OciProblem[];
  /** The manifest's config is not an image config: an artifact, not something to convert. */
  artifact?: boolean;
}

export interface OciReport {
  kind: 'oci-layout' | 'docker-archive' | 'unknown';
  name: string;
  ok: boolean;
  /** Every problem, in the order found (the images' own problems included). */
  problems: OciProblem[];
  /** Images the walk reached (those the tag selects, when one was asked). */
  images: OciImage[];
}

export interface OciReadOptions {
  /** Only images with this tag (index.json ref.name annotation, or a docker-archive RepoTag). */
  tag?: string;
  /** Decompress every layer and check its diffID against the config (and its blob digest). */
  checkLayers?: boolean;
  /** Hash the layer blobs (without `checkLayers`: their digests only). Default: with `checkLayers`. */
  checkBlobs?: boolean;
  hash?: (a: HashAlgorithm) => HashFactory;
  decompress?: LayerDecompressor;
  onProgress?: (what: string) => void;
  /**
   * Blobs already hashed, digest → whether the blob matched: read and filled in by the walk,
   * so a caller that checks the same layout again (an editor, after each edit) hashes each
   * blob once. Blobs are content-addressed: a blob rewritten in place is not noticed.
   */
  hashed?: Map<string, boolean>;
}

/** JSON files above this size are refused: manifests, indexes and configs are small. */
export const MAX_JSON_SIZE = 8 << 20;
/** Nested index depth the walk follows. */
const MAX_DEPTH = 8;

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
type Obj = { [k: string]: Json };

const isObj = (v: Json | undefined): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const td = new TextDecoder('utf-8', { fatal: true });
const prop = (jp: string, key: string): string => (/^[A-Za-z_][A-Za-z0-9_]*$/.test(key) ? `${jp}.${key}` : `${jp}[${JSON.stringify(key)}]`);

class Walk {
  readonly problems: OciProblem[] = [];
  /** Blobs already hashed: digest → whether it matched (the caller's map when it gives one). */
  private readonly hashed: Map<string, boolean>;
  constructor(
    readonly files: OciFiles,
    readonly opts: OciReadOptions,
  ) {
    this.hashed = opts.hashed ?? new Map<string, boolean>();
  }

  add(p: OciProblem, into?: OciProblem[]): void {
    this.problems.push(p);
    into?.push(p);
  }

  err(check: OciCheck, code: ErrorCode, file: string, jsonPath: string | undefined, message: string, into?: OciProblem[], blob?: string): void {
    const p: OciProblem = { check, code, severity: 'error', message, file };
    if (jsonPath !== undefined) p.jsonPath = jsonPath;
    if (blob !== undefined) p.blob = blob;
    this.add(p, into);
  }

  warn(check: OciCheck, code: ErrorCode, file: string, jsonPath: string | undefined, message: string, into?: OciProblem[]): void {
    const p: OciProblem = { check, code, severity: 'warning', message, file };
    if (jsonPath !== undefined) p.jsonPath = jsonPath;
    this.add(p, into);
  }

  hashFactory(a: HashAlgorithm): HashFactory {
    return (this.opts.hash ?? defaultHash)(a);
  }

  /** Reads and parses a JSON object; undefined (with a problem) when it is not one. */
  async json(file: string, into?: OciProblem[], size?: number, missing: OciCheck = 'blob-missing'): Promise<{ obj: Obj; bytes: Uint8Array } | undefined> {
    const actual = size ?? (await this.files.size(file));
    if (actual === undefined) {
      this.err(missing, 'not-found', file, undefined, `${file} does not exist`, into);
      return undefined;
    }
    if (actual > MAX_JSON_SIZE) {
      this.err('json', 'too-large', file, undefined, `${file} is ${actual} bytes, above the ${MAX_JSON_SIZE}-byte limit for JSON documents`, into);
      return undefined;
    }
    const bytes = await this.files.read(file);
    let v: Json;
    try {
      v = JSON.parse(td.decode(bytes)) as Json;
    } catch (e) {
      this.err('json', 'invalid-value', file, undefined, `not JSON: ${(e as Error).message}`, into);
      return undefined;
    }
    if (!isObj(v)) {
      this.err('json', 'invalid-value', file, '$', `a ${Array.isArray(v) ? 'array' : typeof v} where a JSON object is required`, into);
      return undefined;
    }
    return { obj: v, bytes };
  }

  /** Checks a digest string; returns it when it is valid. */
  digest(v: Json | undefined, file: string, jp: string, into?: OciProblem[]): string | undefined {
    if (typeof v !== 'string') {
      this.err('descriptor', 'invalid-value', file, jp, v === undefined ? 'digest is missing' : 'digest must be a string', into);
      return undefined;
    }
    const c = checkDigest(v);
    if (!c.ok) {
      this.err('digest-syntax', 'invalid-value', file, jp, c.message, into);
      return undefined;
    }
    if (!c.verifiable) this.warn('digest-algorithm', 'unsupported-feature', file, jp, `digest algorithm ${c.algorithm} cannot be verified here (sha256, sha512)`, into);
    return v;
  }

  /** Checks a descriptor object's fields (descriptor.md); undefined when it cannot be used. */
  descriptor(v: Json | undefined, file: string, jp: string, into?: OciProblem[]): OciDescriptor | undefined {
    if (!isObj(v)) {
      this.err('descriptor', 'invalid-value', file, jp, v === undefined ? 'descriptor is missing' : 'a descriptor must be a JSON object', into);
      return undefined;
    }
    let ok = true;
    const mt = v['mediaType'];
    if (typeof mt !== 'string') {
      this.err('descriptor', 'invalid-value', file, prop(jp, 'mediaType'), mt === undefined ? 'mediaType is missing' : 'mediaType must be a string', into);
      ok = false;
    } else if (!isMediaType(mt)) {
      this.err('media-type', 'invalid-value', file, prop(jp, 'mediaType'), `${JSON.stringify(mt)} is not a media type (RFC 6838)`, into);
      ok = false;
    }
    const digest = this.digest(v['digest'], file, prop(jp, 'digest'), into);
    if (digest === undefined) ok = false;
    const size = v['size'];
    if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) {
      this.err('descriptor', 'invalid-value', file, prop(jp, 'size'), size === undefined ? 'size is missing' : `size ${JSON.stringify(size)} is not a non-negative integer`, into);
      ok = false;
    }
    const d: OciDescriptor = { mediaType: mt as string, digest: digest!, size: size as number };
    const urls = v['urls'];
    if (urls !== undefined) {
      if (!Array.isArray(urls) || urls.some((u) => typeof u !== 'string')) this.err('descriptor', 'invalid-value', file, prop(jp, 'urls'), 'urls must be an array of strings', into);
      else d.urls = urls as string[];
    }
    const ann = v['annotations'];
    if (ann !== undefined) {
      if (!isObj(ann) || Object.values(ann).some((a) => typeof a !== 'string')) this.err('descriptor', 'invalid-value', file, prop(jp, 'annotations'), 'annotations must map strings to strings', into);
      else d.annotations = ann as Record<string, string>;
    }
    const plat = v['platform'];
    if (plat !== undefined) {
      if (!isObj(plat) || typeof plat['os'] !== 'string' || typeof plat['architecture'] !== 'string' || (plat['variant'] !== undefined && typeof plat['variant'] !== 'string')) {
        this.err('descriptor', 'invalid-value', file, prop(jp, 'platform'), 'platform needs string os and architecture (and an optional string variant)', into);
      } else {
        d.platform = { os: plat['os'], architecture: plat['architecture'], ...(typeof plat['variant'] === 'string' ? { variant: plat['variant'] } : {}) };
      }
    }
    const data = v['data'];
    if (data !== undefined) {
      const bytes = typeof data === 'string' ? decodeBase64(data) : undefined;
      if (!bytes) this.err('descriptor', 'invalid-value', file, prop(jp, 'data'), 'data must be base64', into);
      else if (typeof size === 'number' && bytes.length !== size) this.err('blob-size', 'invalid-value', file, prop(jp, 'data'), `data holds ${bytes.length} bytes, size says ${size}`, into);
    }
    return ok ? d : undefined;
  }

  /**
   * The blob a descriptor names: present, of the stated size and (for JSON documents, always;
   * for layers, when asked) of the stated digest. Returns its path when it exists.
   */
  async blob(d: OciDescriptor, file: string, jp: string, into: OciProblem[] | undefined, hash: boolean): Promise<{ path: string; size: number } | undefined> {
    const path = blobPath(d.digest);
    const size = await this.files.size(path);
    if (size === undefined) {
      const where = d.urls && d.urls.length > 0 ? ` (its urls: ${d.urls.join(', ')})` : '';
      this.err('blob-missing', 'not-found', file, prop(jp, 'digest'), `blob ${path} does not exist${where}`, into, path);
      return undefined;
    }
    if (size !== d.size) {
      this.err('blob-size', 'invalid-value', file, prop(jp, 'size'), `size ${d.size} but blob ${path} holds ${size} bytes`, into, path);
    }
    if (hash) await this.hashBlob(d.digest, path, file, prop(jp, 'digest'), into);
    return { path, size };
  }

  async hashBlob(digest: string, path: string, file: string, jp: string, into: OciProblem[] | undefined): Promise<void> {
    const known = this.hashed.get(digest);
    if (known === undefined) {
      const alg = digest.slice(0, digest.indexOf(':'));
      if (alg !== 'sha256' && alg !== 'sha512') return;
      const h = this.hashFactory(alg)();
      for await (const c of this.files.chunks(path)) h.update(c);
      this.hashed.set(digest, `${alg}:${toHex(h.digest())}` === digest);
    }
    if (this.hashed.get(digest) === false) this.err('blob-digest', 'digest-mismatch', file, jp, `blob ${path} does not hash to ${digest}`, into, path);
  }

  noteHashed(digest: string, ok: boolean): void {
    this.hashed.set(digest, ok);
  }
}

function decodeBase64(s: string): Uint8Array | undefined {
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(s) || s.length % 4 !== 0) return undefined;
  const bin = atob(s);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

/** An image manifest reached from an index, before its manifest is read. */
interface Candidate {
  tags: string[];
  descriptor: OciDescriptor;
  /** The file and JSON path of the descriptor. */
  file: string;
  jp: string;
}

async function readOciLayout(w: Walk, report: OciReport): Promise<void> {
  const lay = await w.json('oci-layout', undefined, undefined, 'layout');
  if (lay) {
    const v = lay.obj['imageLayoutVersion'];
    if (typeof v !== 'string') w.err('layout', 'invalid-value', 'oci-layout', '$.imageLayoutVersion', 'imageLayoutVersion is missing or not a string');
    else if (!/^1\.\d+\.\d+$/.test(v)) w.warn('layout', 'unsupported-feature', 'oci-layout', '$.imageLayoutVersion', `imageLayoutVersion ${v}: only 1.x layouts are known`);
  }
  const idx = await w.json('index.json', undefined, undefined, 'layout');
  if (!idx) return;
  const candidates: Candidate[] = [];
  const top = await walkIndex(w, idx.obj, 'index.json', undefined, 0, candidates);
  const tag = w.opts.tag;
  let chosen = candidates;
  if (tag !== undefined) {
    chosen = candidates.filter((c) => c.tags.includes(tag));
    if (chosen.length === 0) {
      const known = [...new Set(top.flatMap((c) => c.tags))];
      w.err('selection', 'not-found', 'index.json', '$.manifests', `no image is tagged ${JSON.stringify(tag)} (${REF_NAME}); tags: ${known.length > 0 ? known.join(', ') : 'none'}`);
    }
  }
  for (const c of chosen) {
    w.opts.onProgress?.(`manifest ${c.descriptor.digest}`);
    const img = await readManifest(w, c);
    if (img) report.images.push(img);
  }
}

/** An index's own fields (schemaVersion, mediaType); its `manifests` array when it is one. */
function indexHeader(w: Walk, obj: Obj, file: string, fromDescriptor: OciDescriptor | undefined, into?: OciProblem[]): Json[] | undefined {
  if (obj['schemaVersion'] !== 2) w.err('schema-version', 'invalid-value', file, '$.schemaVersion', `schemaVersion ${JSON.stringify(obj['schemaVersion'] ?? null)}, must be 2`, into);
  const mt = obj['mediaType'];
  if (mt !== undefined && (typeof mt !== 'string' || !INDEX_MEDIA_TYPES.has(mt))) {
    w.err('media-type', 'invalid-value', file, '$.mediaType', `mediaType ${JSON.stringify(mt)} is not an image index's`, into);
  } else if (fromDescriptor && mt !== undefined && mt !== fromDescriptor.mediaType) {
    w.err('media-type', 'invalid-value', file, '$.mediaType', `mediaType ${mt} but the descriptor says ${fromDescriptor.mediaType}`, into);
  }
  const list = obj['manifests'];
  if (!Array.isArray(list)) {
    w.err('descriptor', 'invalid-value', file, '$.manifests', 'manifests must be an array of descriptors', into);
    return undefined;
  }
  return list;
}

/**
 * A manifest's own fields: schemaVersion; mediaType against the descriptor that points at it
 * (or, for a manifest checked on its own, against the manifest media types); the config
 * descriptor and the `layers` array.
 */
function manifestHeader(w: Walk, m: Obj, file: string, from: { descriptor: OciDescriptor; file: string } | undefined, problems: OciProblem[]): { config: OciDescriptor | undefined; layers: Json[] | undefined } {
  if (m['schemaVersion'] !== 2) w.err('schema-version', 'invalid-value', file, '$.schemaVersion', `schemaVersion ${JSON.stringify(m['schemaVersion'] ?? null)}, must be 2`, problems);
  const mt = m['mediaType'];
  if (from) {
    if (mt !== undefined && mt !== from.descriptor.mediaType) w.err('media-type', 'invalid-value', file, '$.mediaType', `mediaType ${JSON.stringify(mt)} but the descriptor in ${from.file} says ${from.descriptor.mediaType}`, problems);
  } else if (mt !== undefined && (typeof mt !== 'string' || !MANIFEST_MEDIA_TYPES.has(mt))) {
    w.err('media-type', 'invalid-value', file, '$.mediaType', `mediaType ${JSON.stringify(mt)} is not an image manifest's`, problems);
  }
  const config = w.descriptor(m['config'], file, '$.config', problems);
  const layers = m['layers'];
  return { config, layers: Array.isArray(layers) ? layers : undefined };
}

/** One entry of a manifest's `layers`: its descriptor and, when known, its compression. */
function layerDescriptor(w: Walk, v: Json | undefined, file: string, jp: string, problems: OciProblem[]): { d: OciDescriptor; lm: LayerMediaType | undefined } | undefined {
  const d = w.descriptor(v, file, jp, problems);
  if (!d) return undefined;
  const lm = LAYER_MEDIA_TYPES.get(d.mediaType);
  if (!lm) w.err('layer-media-type', 'unsupported-feature', file, prop(jp, 'mediaType'), `layer media type ${d.mediaType} is not a tar, tar+gzip or tar+zstd layer`, problems);
  return { d, lm };
}

/** Walks an index document; returns its own descriptors, pushes image manifests (with nested indexes expanded) to `out`. */
async function walkIndex(w: Walk, obj: Obj, file: string, fromDescriptor: OciDescriptor | undefined, depth: number, out: Candidate[], inherited: string[] = []): Promise<Candidate[]> {
  const list = indexHeader(w, obj, file, fromDescriptor);
  const own: Candidate[] = [];
  if (!list) return own;
  for (let i = 0; i < list.length; i++) {
    const jp = `$.manifests[${i}]`;
    const d = w.descriptor(list[i], file, jp);
    if (!d) continue;
    const ref = depth === 0 ? d.annotations?.[REF_NAME] : undefined;
    const tags = ref !== undefined ? [ref] : inherited;
    const c: Candidate = { tags, descriptor: d, file, jp };
    own.push(c);
    if (INDEX_MEDIA_TYPES.has(d.mediaType)) {
      if (depth + 1 >= MAX_DEPTH) {
        w.err('descriptor', 'loop', file, jp, `indexes nested deeper than ${MAX_DEPTH}`);
        continue;
      }
      const b = await w.blob(d, file, jp, undefined, false);
      if (!b) continue;
      const nested = await w.json(b.path, undefined, b.size);
      if (!nested) continue;
      await w.hashBlob(d.digest, b.path, file, prop(jp, 'digest'), undefined);
      await walkIndex(w, nested.obj, b.path, d, depth + 1, out, tags);
    } else if (MANIFEST_MEDIA_TYPES.has(d.mediaType)) {
      out.push(c);
    } else {
      w.warn('media-type', 'unsupported-feature', file, prop(jp, 'mediaType'), `${d.mediaType}: not an image manifest or index; skipped`);
    }
  }
  return own;
}

async function readManifest(w: Walk, c: Candidate): Promise<OciImage | undefined> {
  const problems: OciProblem[] = [];
  const d = c.descriptor;
  const b = await w.blob(d, c.file, c.jp, problems, false);
  if (!b) return failed(c, problems);
  const doc = await w.json(b.path, problems, b.size);
  if (!doc) return failed(c, problems);
  await w.hashBlob(d.digest, b.path, c.file, prop(c.jp, 'digest'), problems);
  const file = b.path;
  const { config: cd, layers: layersJson } = manifestHeader(w, doc.obj, file, { descriptor: d, file: c.file }, problems);
  const image: OciImage = { tags: c.tags, manifestDigest: d.digest, manifestFile: file, configFile: cd ? blobPath(cd.digest) : '', layers: [], problems };
  if (d.platform) image.platform = d.platform;
  if (cd) image.configDigest = cd.digest;
  if (!layersJson) w.err('descriptor', 'invalid-value', file, '$.layers', 'layers must be an array of descriptors', problems);
  if (cd && !CONFIG_MEDIA_TYPES.has(cd.mediaType)) {
    w.warn('media-type', 'unsupported-feature', file, '$.config.mediaType', `config ${cd.mediaType} is not an image config: an artifact, not an image; skipped`, problems);
    image.artifact = true;
    return image;
  }
  const layers: OciLayer[] = [];
  for (let i = 0; layersJson && i < layersJson.length; i++) {
    const jp = `$.layers[${i}]`;
    const l = layerDescriptor(w, layersJson[i], file, jp, problems);
    if (!l) continue;
    const { d: ld, lm } = l;
    const lb = await w.blob(ld, file, jp, problems, false);
    if (!lm) continue;
    layers.push({ index: i, descriptor: ld, file: lb?.path ?? blobPath(ld.digest), compression: lm.compression });
  }
  image.layers = layers;
  if (cd) {
    const cb = await w.blob(cd, file, '$.config', problems, false);
    if (cb) {
      const cfg = await w.json(cb.path, problems, cb.size);
      await w.hashBlob(cd.digest, cb.path, file, '$.config.digest', problems);
      if (cfg) checkConfig(w, cfg.obj, cb.path, image, layersJson ? layersJson.length : layers.length, problems);
    }
  }
  await checkLayers(w, image, file, problems);
  return image;
}

function failed(c: Candidate, problems: OciProblem[]): OciImage {
  const img: OciImage = { tags: c.tags, manifestDigest: c.descriptor.digest, manifestFile: blobPath(c.descriptor.digest), configFile: '', layers: [], problems };
  if (c.descriptor.platform) img.platform = c.descriptor.platform;
  return img;
}

/** An image config's fields; `layerCount` is the manifest's number of layers, when known. */
function checkConfig(w: Walk, cfg: Obj, file: string, image: OciImage, layerCount: number | undefined, problems: OciProblem[]): void {
  for (const k of ['architecture', 'os'] as const) {
    if (typeof cfg[k] !== 'string') w.err('config', 'invalid-value', file, `$.${k}`, `${k} is missing or not a string`, problems);
  }
  if (typeof cfg['os'] === 'string' && typeof cfg['architecture'] === 'string') {
    const own: Platform = { os: cfg['os'], architecture: cfg['architecture'], ...(typeof cfg['variant'] === 'string' ? { variant: cfg['variant'] } : {}) };
    const p = image.platform;
    if (p && (p.os !== own.os || p.architecture !== own.architecture || (p.variant !== undefined && p.variant !== own.variant))) {
      w.warn('platform', 'invalid-value', file, '$.architecture', `config says ${formatPlatform(own)}, the index entry says ${formatPlatform(p)}`, problems);
    }
    image.platform ??= own;
  }
  const rootfs = cfg['rootfs'];
  if (!isObj(rootfs)) {
    w.err('config', 'invalid-value', file, '$.rootfs', 'rootfs is missing or not an object', problems);
    return;
  }
  if (rootfs['type'] !== 'layers') w.err('config', 'invalid-value', file, '$.rootfs.type', `rootfs.type ${JSON.stringify(rootfs['type'] ?? null)}, must be "layers"`, problems);
  const ids = rootfs['diff_ids'];
  if (!Array.isArray(ids)) {
    w.err('config', 'invalid-value', file, '$.rootfs.diff_ids', 'rootfs.diff_ids is missing or not an array', problems);
    return;
  }
  if (layerCount !== undefined && ids.length !== layerCount) w.err('diff-ids', 'invalid-value', file, '$.rootfs.diff_ids', `${ids.length} diff_ids for ${layerCount} layers`, problems);
  // With the manifest known, the diff_ids of its usable layers; a config on its own, all of them.
  const indexes = layerCount !== undefined ? image.layers.map((l) => l.index) : ids.map((_, i) => i);
  for (const i of indexes) {
    const jp = `$.rootfs.diff_ids[${i}]`;
    if (i >= ids.length) continue;
    const id = w.digest(ids[i], file, jp, problems);
    if (id === undefined) continue;
    if (!id.startsWith('sha256:')) {
      w.err('digest-algorithm', 'unsupported-feature', file, jp, `diff_id ${id} is not a sha256 digest`, problems);
      continue;
    }
    const l = image.layers.find((x) => x.index === i);
    if (l) l.diffId = id;
  }
}

async function checkLayers(w: Walk, image: OciImage, manifestFile: string, problems: OciProblem[]): Promise<void> {
  const deep = w.opts.checkLayers ?? false;
  const blobs = w.opts.checkBlobs ?? deep;
  for (const l of image.layers) {
    const jp = `$.layers[${l.index}]`;
    if ((await w.files.size(l.file)) === undefined) continue; // reported as blob-missing
    if (!deep) {
      if (blobs) await w.hashBlob(l.descriptor.digest, l.file, manifestFile, prop(jp, 'digest'), problems);
      continue;
    }
    w.opts.onProgress?.(`layer ${l.index + 1}/${image.layers.length} ${l.descriptor.digest}`);
    const alg = l.descriptor.digest.slice(0, l.descriptor.digest.indexOf(':'));
    const verifiable = alg === 'sha256' || alg === 'sha512';
    const s = layerStream(w.files.chunks(l.file), l.compression, {
      algorithm: verifiable ? alg : 'sha256',
      ...(w.opts.hash ? { hash: w.opts.hash } : {}),
      ...(w.opts.decompress ? { decompress: w.opts.decompress } : {}),
    });
    let diffId: string;
    let tarBytes: number;
    try {
      ({ diffId, tarBytes } = await uncompressedDigest(w, s));
    } catch (e) {
      const msg = e instanceof Error ? e.message : String(e);
      w.err('layer-data', 'invalid-value', manifestFile, prop(jp, 'mediaType'), `blob ${l.file} is not ${l.descriptor.mediaType}: ${msg}`, problems, l.file);
      // The pass stopped early: hash the whole blob on its own to say whether it is the one named.
      if (verifiable) await w.hashBlob(l.descriptor.digest, l.file, manifestFile, prop(jp, 'digest'), problems);
      continue;
    }
    const blob = s.blob();
    l.checked = { diffId, blobDigest: blob.digest, tarBytes };
    if (verifiable) {
      w.noteHashed(l.descriptor.digest, blob.digest === l.descriptor.digest);
      if (blob.digest !== l.descriptor.digest) w.err('blob-digest', 'digest-mismatch', manifestFile, prop(jp, 'digest'), `blob ${l.file} hashes to ${blob.digest}, not ${l.descriptor.digest}`, problems, l.file);
    }
    if (l.diffId !== undefined && l.diffId !== diffId) {
      w.err('diff-ids', 'digest-mismatch', image.configFile, `$.rootfs.diff_ids[${l.index}]`, `layer ${l.index} (${l.descriptor.digest}) uncompresses to ${diffId}, the config says ${l.diffId}`, problems, l.file);
    }
  }
}

/** Reads a layer's uncompressed stream through: its diffID (sha256) and its size; throws what the decompressor throws. */
async function uncompressedDigest(w: Walk, s: LayerStream): Promise<{ diffId: string; tarBytes: number }> {
  const h = w.hashFactory('sha256')();
  let tarBytes = 0;
  for await (const c of s.chunks) {
    h.update(c);
    tarBytes += c.length;
  }
  return { diffId: `sha256:${toHex(h.digest())}`, tarBytes };
}

/* ------------------------------------------------------------------ docker-archive */

async function readDockerArchive(w: Walk, report: OciReport): Promise<void> {
  const file = 'manifest.json';
  const size = await w.files.size(file);
  if (size === undefined || size > MAX_JSON_SIZE) {
    await w.json(file, undefined, size, 'layout');
    return;
  }
  let list: Json;
  try {
    list = JSON.parse(td.decode(await w.files.read(file))) as Json;
  } catch (e) {
    w.err('json', 'invalid-value', file, undefined, `not JSON: ${(e as Error).message}`);
    return;
  }
  if (!Array.isArray(list)) {
    w.err('docker-manifest', 'invalid-value', file, '$', 'manifest.json must be an array of images');
    return;
  }
  const tag = w.opts.tag;
  let any = false;
  for (let i = 0; i < list.length; i++) {
    const jp = `$[${i}]`;
    const e = list[i];
    const problems: OciProblem[] = [];
    if (!isObj(e)) {
      w.err('docker-manifest', 'invalid-value', file, jp, 'an entry must be a JSON object');
      continue;
    }
    const repoTags = Array.isArray(e['RepoTags']) ? e['RepoTags'].filter((t): t is string => typeof t === 'string') : [];
    const tags = [...new Set(repoTags.flatMap((t) => [t, t.slice(t.lastIndexOf(':') + 1)]))];
    if (tag !== undefined && !tags.includes(tag)) continue;
    any = true;
    const cfgPath = e['Config'];
    const layerPaths = e['Layers'];
    const image: OciImage = { tags: repoTags, manifestFile: file, manifestPath: jp, configFile: typeof cfgPath === 'string' ? cfgPath : '', layers: [], problems };
    if (!Array.isArray(layerPaths) || layerPaths.some((p) => typeof p !== 'string')) {
      w.err('docker-manifest', 'invalid-value', file, `${jp}.Layers`, 'Layers must be an array of paths', problems);
    } else {
      for (let j = 0; j < layerPaths.length; j++) {
        const p = layerPaths[j] as string;
        const lsize = await w.files.size(p);
        if (lsize === undefined) {
          w.err('blob-missing', 'not-found', file, `${jp}.Layers[${j}]`, `layer ${p} does not exist`, problems, p);
          continue;
        }
        const head = await firstBytes(w.files, p);
        const compression: LayerCompression = head[0] === 0x1f && head[1] === 0x8b ? 'gzip' : head[0] === 0x28 && head[1] === 0xb5 && head[2] === 0x2f && head[3] === 0xfd ? 'zstd' : 'none';
        const digest = digestInName(p);
        image.layers.push({ index: j, descriptor: { mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: digest ?? '', size: lsize }, file: p, compression });
      }
    }
    if (typeof cfgPath !== 'string') {
      w.err('docker-manifest', 'invalid-value', file, `${jp}.Config`, 'Config must be the path of the image config', problems);
    } else {
      const cfg = await w.json(cfgPath, problems);
      const digest = digestInName(cfgPath);
      if (cfg && digest) {
        image.configDigest = digest;
        await w.hashBlob(digest, cfgPath, file, `${jp}.Config`, problems);
      }
      if (cfg) checkConfig(w, cfg.obj, cfgPath, image, Array.isArray(layerPaths) ? layerPaths.length : image.layers.length, problems);
    }
    await checkDockerLayers(w, image, file, jp, problems);
    report.images.push(image);
  }
  if (tag !== undefined && !any) w.err('selection', 'not-found', file, '$', `no image is tagged ${JSON.stringify(tag)} (RepoTags)`);
}

/** `sha256:HEX` when a member's name is a sha256 (`HEX.json`, `HEX.tar`, `blobs/sha256/HEX`). */
function digestInName(p: string): string | undefined {
  const m = /(?:^|\/)(?:blobs\/sha256\/)?([a-f0-9]{64})(?:\.json|\.tar)?$/.exec(p);
  return m ? `sha256:${m[1]}` : undefined;
}

async function firstBytes(files: OciFiles, p: string): Promise<Uint8Array> {
  for await (const c of files.chunks(p)) return c;
  return new Uint8Array(0);
}

async function checkDockerLayers(w: Walk, image: OciImage, file: string, jp: string, problems: OciProblem[]): Promise<void> {
  if (!w.opts.checkLayers) return;
  for (const l of image.layers) {
    w.opts.onProgress?.(`layer ${l.index + 1}/${image.layers.length} ${l.file}`);
    const s = layerStream(w.files.chunks(l.file), l.compression, { ...(w.opts.hash ? { hash: w.opts.hash } : {}), ...(w.opts.decompress ? { decompress: w.opts.decompress } : {}) });
    let diffId: string;
    let tarBytes: number;
    try {
      ({ diffId, tarBytes } = await uncompressedDigest(w, s));
    } catch (e) {
      w.err('layer-data', 'invalid-value', file, `${jp}.Layers[${l.index}]`, `layer ${l.file} does not decompress: ${(e as Error).message}`, problems, l.file);
      continue;
    }
    l.checked = { diffId, blobDigest: s.blob().digest, tarBytes };
    if (l.diffId !== undefined && l.diffId !== diffId) {
      w.err('diff-ids', 'digest-mismatch', image.configFile, `$.rootfs.diff_ids[${l.index}]`, `layer ${l.index} (${l.file}) uncompresses to ${diffId}, the config says ${l.diffId}`, problems, l.file);
    }
  }
}

/* ------------------------------------------------------------------ entry points */

/**
 * Reads and checks an image layout or docker-archive. Never throws for a problem in the
 * input (only for I/O failures of `files`); see `report.problems`.
 */
export async function readOci(files: OciFiles, opts: OciReadOptions = {}): Promise<OciReport> {
  const w = new Walk(files, opts);
  const report: OciReport = { kind: 'unknown', name: files.name, ok: false, problems: w.problems, images: [] };
  if ((await files.size('oci-layout')) !== undefined || (await files.size('index.json')) !== undefined) {
    report.kind = 'oci-layout';
    await readOciLayout(w, report);
  } else if ((await files.size('manifest.json')) !== undefined) {
    report.kind = 'docker-archive';
    await readDockerArchive(w, report);
  } else {
    w.err('layout', 'not-found', 'oci-layout', undefined, `${files.name} holds neither oci-layout and index.json (an OCI image layout) nor manifest.json (a docker-archive)`);
  }
  report.ok = !report.problems.some((p) => p.severity === 'error');
  return report;
}

/** A problem as the error strict callers throw. */
export function problemError(p: OciProblem): ErofsError {
  return new ErofsError(p.code, `${p.check}: ${p.message}`, { format: 'oci', path: p.jsonPath !== undefined ? `${p.file} ${p.jsonPath}` : p.file });
}

/**
 * The one image a report's tag and `platform` (`os/arch[/variant]`) select; the first error
 * of that image, or an ambiguous or empty selection, is thrown.
 */
export function selectImage(report: OciReport, platform?: string | Platform): OciImage {
  const global = report.problems.find((p) => p.severity === 'error' && !report.images.some((i) => i.problems.includes(p)));
  if (global) throw problemError(global);
  let images = report.images.filter((i) => !i.artifact);
  const want = typeof platform === 'string' ? parsePlatform(platform) : platform;
  if (typeof platform === 'string' && !want) throw new ErofsError('invalid-value', `platform ${JSON.stringify(platform)}: expected os/architecture[/variant]`, { format: 'oci' });
  if (images.length > 1 && want) {
    images = images.filter((i) => i.platform && i.platform.os === want.os && i.platform.architecture === want.architecture && (want.variant === undefined || i.platform.variant === want.variant));
  }
  if (images.length !== 1) {
    const what = report.images.map((i) => `${i.tags.join(',') || i.manifestDigest || i.manifestFile}${i.platform ? ' ' + formatPlatform(i.platform) : ''}`).join('; ');
    throw new ErofsError('not-found', images.length === 0 ? `no image matches${want ? ' platform ' + formatPlatform(want) : ''} (images: ${what || 'none'})` : `${images.length} images match; name one with LAYOUT:TAG or --platform (images: ${what})`, { format: 'oci', path: report.kind === 'docker-archive' ? 'manifest.json' : 'index.json' });
  }
  const img = images[0]!;
  const bad = img.problems.find((p) => p.severity === 'error');
  if (bad) throw problemError(bad);
  return img;
}

/* ------------------------------------------------------------------ one document */

/** What an image JSON document is. */
export type OciDocumentKind = 'index' | 'manifest' | 'config';

/**
 * What a parsed JSON document is: by its mediaType (index, manifest, or config media types,
 * OCI or Docker), else by its shape (a `manifests` array; a `layers` array;
 * `rootfs`, or `architecture` with `os`; a `config` descriptor). Undefined for anything else.
 */
export function ociDocumentKind(v: unknown): OciDocumentKind | undefined {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return undefined;
  const o = v as Obj;
  const mt = o['mediaType'];
  if (typeof mt === 'string') {
    if (INDEX_MEDIA_TYPES.has(mt)) return 'index';
    if (MANIFEST_MEDIA_TYPES.has(mt)) return 'manifest';
    if (CONFIG_MEDIA_TYPES.has(mt)) return 'config';
  }
  if (Array.isArray(o['manifests'])) return 'index';
  if (Array.isArray(o['layers'])) return 'manifest';
  if (isObj(o['rootfs']) || (typeof o['architecture'] === 'string' && typeof o['os'] === 'string')) return 'config';
  // An image config has a `config` object too (the runtime settings): a descriptor's fields tell them apart.
  const c = o['config'];
  if (isObj(c) && ('digest' in c || 'mediaType' in c)) return 'manifest';
  return undefined;
}

export interface OciDocumentOptions {
  /** What the document is; detected by {@link ociDocumentKind} when not given. */
  kind?: OciDocumentKind;
  /** The document's name in problems (its path in a layout); default `document`. */
  file?: string;
  /**
   * The image layout the document belongs to: the blobs its descriptors name are checked
   * (present, of their size; JSON documents hashed; a manifest's config read and checked
   * against its layers). Without it only the document itself is checked.
   */
  files?: OciFiles;
  /** Hash layer blobs too (JSON blobs always are). */
  checkBlobs?: boolean;
  /** A config's number of layers (from its manifest), for the diff_ids count. */
  layers?: number;
  hash?: (a: HashAlgorithm) => HashFactory;
  /** As {@link OciReadOptions.hashed}. */
  hashed?: Map<string, boolean>;
}

export interface OciDocumentReport {
  kind: OciDocumentKind | undefined;
  /** Problems in the document (`file`), and in blobs it names (a manifest's config). */
  problems: OciProblem[];
}

const NO_FILES: OciFiles = {
  name: 'none',
  size: () => Promise.resolve(undefined),
  read: (path) => Promise.reject(new ErofsError('not-found', `${path}: no files`, { format: 'oci', path })),
  chunks: (path) => ({
    [Symbol.asyncIterator]: () => ({ next: () => Promise.reject(new ErofsError('not-found', `${path}: no files`, { format: 'oci', path })) }),
  }),
};

/**
 * Checks one image index, manifest or config, already parsed from JSON, with the same
 * validators {@link readOci} runs over a whole layout: every problem with its check id and
 * JSON path. Never throws for a problem in the document (only for I/O failures of `files`).
 */
export async function checkOciDocument(value: unknown, opts: OciDocumentOptions = {}): Promise<OciDocumentReport> {
  const w = new Walk(opts.files ?? NO_FILES, { ...(opts.hash ? { hash: opts.hash } : {}), ...(opts.hashed ? { hashed: opts.hashed } : {}) });
  const file = opts.file ?? 'document';
  const kind = opts.kind ?? ociDocumentKind(value);
  const report: OciDocumentReport = { kind, problems: w.problems };
  if (kind === undefined) return report;
  const v = value as Json;
  if (!isObj(v)) {
    w.err('json', 'invalid-value', file, '$', `a ${Array.isArray(v) ? 'array' : typeof v} where a JSON object is required`);
    return report;
  }
  const onDisk = opts.files !== undefined;
  if (kind === 'index') {
    const list = indexHeader(w, v, file, undefined);
    for (let i = 0; list && i < list.length; i++) {
      const jp = `$.manifests[${i}]`;
      const d = w.descriptor(list[i], file, jp);
      if (!d) continue;
      const json = INDEX_MEDIA_TYPES.has(d.mediaType) || MANIFEST_MEDIA_TYPES.has(d.mediaType);
      if (!json) w.warn('media-type', 'unsupported-feature', file, prop(jp, 'mediaType'), `${d.mediaType}: not an image manifest or index; skipped`);
      if (onDisk) await w.blob(d, file, jp, undefined, json || (opts.checkBlobs ?? false));
    }
  } else if (kind === 'manifest') {
    const problems: OciProblem[] = [];
    const { config: cd, layers } = manifestHeader(w, v, file, undefined, problems);
    if (!layers) w.err('descriptor', 'invalid-value', file, '$.layers', 'layers must be an array of descriptors');
    const artifact = cd !== undefined && !CONFIG_MEDIA_TYPES.has(cd.mediaType);
    if (artifact) w.warn('media-type', 'unsupported-feature', file, '$.config.mediaType', `config ${cd.mediaType} is not an image config: an artifact, not an image; skipped`);
    const image: OciImage = { tags: [], manifestFile: file, configFile: cd ? blobPath(cd.digest) : '', layers: [], problems };
    for (let i = 0; !artifact && layers && i < layers.length; i++) {
      const jp = `$.layers[${i}]`;
      const l = layerDescriptor(w, layers[i], file, jp, problems);
      if (!l) continue;
      if (onDisk) await w.blob(l.d, file, jp, problems, opts.checkBlobs ?? false);
      if (l.lm) image.layers.push({ index: i, descriptor: l.d, file: blobPath(l.d.digest), compression: l.lm.compression });
    }
    if (cd && onDisk) {
      const cb = await w.blob(cd, file, '$.config', problems, false);
      if (cb) {
        const cfg = await w.json(cb.path, problems, cb.size);
        await w.hashBlob(cd.digest, cb.path, file, '$.config.digest', problems);
        if (cfg && !artifact) checkConfig(w, cfg.obj, cb.path, image, layers ? layers.length : image.layers.length, problems);
      }
    }
  } else {
    const image: OciImage = { tags: [], manifestFile: '', configFile: file, layers: [], problems: [] };
    checkConfig(w, v, file, image, opts.layers, image.problems);
  }
  return report;
}
