/**
 * `erofs-kit oci convert` (and the extension's Convert Image) over an abstract output folder
 * (ADR 0019, ADR 0022). Per layer: the uncompressed tar and its tar index (aufs semantics) named
 * by diffID, checked against the config's diff_ids and the blob's digest and size in the same
 * pass, and a stamp (`layers/<hex>.json`) so a later run reuses the layer; then `fsmeta.erofs`
 * (the layers merged, one extra device per layer tar) and `summary.json` (schema
 * erofs-kit/oci-summary v1, docs/schema/oci-summary-v1.schema.json).
 *
 * Every file is written under a temporary name and given its name either when its layer is
 * checked (`commit: 'each-layer'`, the CLI) or only when the whole image is done
 * (`commit: 'at-end'`, the extension: a cancelled or failed run leaves nothing, and the folders
 * it made are removed when empty). Browser-safe: the host supplies the output, hashes and
 * decompressors; `@erofs-kit/core/node` has a Node output folder (`nodeConvertOutput`).
 */
import { ErofsError, hex, isErofsError } from '../errors.js';
import { sha256, type HashAlgorithm, type HashFactory } from '../digest/hash.js';
import type { ByteSource } from '../io/source.js';
import { writeImage } from '../erofs/writer.js';
import { indexTar, uuidFromDigest } from '../tarindex/index.js';
import { treeOfTar } from '../tarindex/tree.js';
import type { OciFiles } from './files.js';
import { layerStream, type LayerDecompressor } from './layer.js';
import { readOci, selectImage } from './layout.js';
import { mergeLayers, type LayerTreeInput } from './merge.js';
import { formatPlatform, type Platform } from './spec.js';

export const OCI_SUMMARY_SCHEMA_VERSION = 1 as const;

/** summary.json (docs/schema/oci-summary-v1.schema.json). */
export interface OciSummary {
  schema: 'erofs-kit/oci-summary';
  schemaVersion: typeof OCI_SUMMARY_SCHEMA_VERSION;
  image: { input: string; tag: string | null; platform: string | null; manifestDigest: string | null; configDigest: string | null };
  /** The merged metadata image, relative to the output directory. */
  metadata: string;
  devices: {
    device: number;
    path: string;
    index: string;
    diffId: string;
    digest: string;
    mediaType: string;
    size: number;
    tarBytes: number;
    blocks: number;
    reused: boolean;
  }[];
  /** Shell command, run in the output directory, that mounts the image read-only at $MNT. */
  mount: string;
}

/** What convert remembers beside a layer's outputs, to know it need not convert it again. */
export interface OciLayerStamp {
  blobDigest: string;
  blobSize: number;
  diffId: string;
  tarBytes: number;
  deviceBlocks: number;
}

/** One output file, written under a temporary name. */
export interface PendingFile {
  /** Appends a chunk; a returned promise is awaited before the next chunk. */
  write(chunk: Uint8Array): void | Promise<void>;
  /** Ends writing (the file keeps its temporary name); reports any write failure. */
  close(): Promise<void>;
  /** Gives the file its final name. */
  commit(): Promise<void>;
  /** Removes the temporary file (nothing when already committed). */
  abort(): Promise<void>;
}

/** The output folder, by paths relative to it ('/'-separated; '' is the folder itself). */
export interface ConvertOutput {
  /** For messages. */
  readonly name: string;
  /** The size of a regular file, undefined when there is none. */
  size(rel: string): Promise<number | undefined>;
  /** A file's text, undefined when it cannot be read (the per-layer stamp). */
  readText(rel: string): Promise<string | undefined>;
  /** A reused layer tar, to rebuild its tree. */
  openSource(rel: string): Promise<ByteSource>;
  /** Creates the folder (and its parents); true when it did not exist. */
  mkdir(rel: string): Promise<boolean>;
  /** Removes the folder if it is empty. */
  rmdirIfEmpty(rel: string): Promise<void>;
  /** A new file under a temporary name. */
  create(rel: string): Promise<PendingFile>;
}

/** What a progress message is about. */
export type ConvertStep = 'layout' | 'layer' | 'bytes' | 'merge';

export interface ConvertOptions {
  /** The layout's name as summary.json records it. */
  input: string;
  tag?: string;
  /** Which image of a multi-platform index (`os/arch[/variant]`); selectImage's default when unset. */
  platform?: string | Platform;
  hash?: (a: HashAlgorithm) => HashFactory;
  /** The diffID hash (indexTar's `hash`). */
  sha256?: HashFactory;
  decompress?: LayerDecompressor;
  /**
   * When outputs get their names: as soon as their layer is checked (`each-layer`; a failed run
   * keeps the layers done so far, and the folders) or all at the end (`at-end`, the default; a
   * failed or cancelled run leaves nothing new, and the folders it made are removed when empty).
   */
  commit?: 'each-layer' | 'at-end';
  /**
   * Progress: `layout` (reading it), `layer` (a layer starts; `layer i/n: DIGEST` or
   * `layer i/n: unchanged`), `bytes` (within a layer, at most every 200 ms), `merge`.
   * `fraction` of the whole (by compressed bytes) when known.
   */
  onProgress?: (message: string, fraction: number | undefined, step: ConvertStep) => void;
  /** Cancellation: checked between chunks; the run then throws {@link ConvertCancelled}. */
  signal?: AbortSignal;
  /** Cancellation by polling (an editor's cancellation token), as `signal`. */
  isCancelled?: () => boolean;
  /** When set, a long pass lets the event loop run (a macrotask) once this many ms have gone. */
  sliceMs?: number;
}

export interface ConvertResult {
  summary: OciSummary;
  /** The inodes of fsmeta.erofs. */
  inodes: number;
}

/** Thrown when a conversion is cancelled (`name` 'Cancelled', as hosts test it). */
export class ConvertCancelled extends Error {
  constructor() {
    super('cancelled');
    this.name = 'Cancelled';
  }
}

/** The mount command, run in the output folder: every layer tar on a read-only loop device, in device order, then the metadata. */
export function mountCommand(tars: string[]): string {
  const q = (s: string): string => (/^[A-Za-z0-9_./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`);
  const devs = tars.map((t) => `device=$(losetup -f --show -r ${q(t)})`).join(',');
  return `mount -t erofs -o ro${devs ? ',' + devs : ''} "$(losetup -f --show -r fsmeta.erofs)" "$MNT"`;
}

/** A stamp's text, if it is one. */
export function parseLayerStamp(text: string | undefined): OciLayerStamp | undefined {
  if (text === undefined) return undefined;
  try {
    const s = JSON.parse(text) as OciLayerStamp;
    return typeof s.blobDigest === 'string' && typeof s.deviceBlocks === 'number' && typeof s.tarBytes === 'number' ? s : undefined;
  } catch {
    return undefined;
  }
}

const enc = new TextEncoder();

/**
 * Converts the image the tag and platform select from `files` into `out`. Throws on the first
 * problem of that image and on cancellation ({@link ConvertCancelled}); what remains then is
 * as `commit` says.
 */
export async function convertOciImage(files: OciFiles, out: ConvertOutput, opts: ConvertOptions): Promise<ConvertResult> {
  const atEnd = (opts.commit ?? 'at-end') === 'at-end';
  const progress = opts.onProgress;
  const cancellable = opts.signal !== undefined || opts.isCancelled !== undefined;
  const cancelled = (): boolean => opts.signal?.aborted === true || opts.isCancelled?.() === true;
  const check = (): void => {
    if (cancelled()) throw new ConvertCancelled();
  };
  const sliceMs = opts.sliceMs;
  let last = Date.now();
  /** Between chunks: cancellation, and now and then a macrotask. */
  const breathe = async (): Promise<void> => {
    check();
    if (sliceMs !== undefined && Date.now() - last >= sliceMs) {
      await new Promise((r) => setTimeout(r, 0));
      last = Date.now();
      check();
    }
  };
  const pending: PendingFile[] = [];
  const made: string[] = [];
  const create = async (rel: string): Promise<PendingFile> => {
    const f = await out.create(rel);
    pending.push(f);
    return f;
  };
  const commitPending = async (): Promise<void> => {
    while (pending.length > 0) {
      await pending[0]!.commit();
      pending.shift();
    }
  };
  const writeFile = async (rel: string, bytes: Uint8Array): Promise<void> => {
    const f = await create(rel);
    await f.write(bytes);
    await f.close();
  };
  try {
    progress?.('reading the layout', undefined, 'layout');
    const report = await readOci(files, { ...(opts.tag !== undefined ? { tag: opts.tag } : {}), ...(opts.hash ? { hash: opts.hash } : {}) });
    const image = selectImage(report, opts.platform);
    check();
    for (const d of ['', 'layers']) if (await out.mkdir(d)) made.unshift(d);
    const total = image.layers.reduce((a, l) => a + l.descriptor.size, 0) || 1;
    let doneBytes = 0;
    const trees: LayerTreeInput[] = [];
    const devices: OciSummary['devices'] = [];
    for (const l of image.layers) {
      check();
      const where = `${image.manifestFile} $.layers[${l.index}]`;
      if (l.diffId === undefined) throw new ErofsError('not-found', `layer ${l.index} has no diff_id in the config`, { format: 'oci', path: `${image.configFile} $.rootfs.diff_ids` });
      const hexId = l.diffId.slice(l.diffId.indexOf(':') + 1);
      const tarRel = `layers/${hexId}.tar`;
      const indexRel = `layers/${hexId}.erofs`;
      const stampRel = `layers/${hexId}.json`;
      const stamp = parseLayerStamp(await out.readText(stampRel));
      const reuse =
        stamp !== undefined &&
        stamp.diffId === l.diffId &&
        stamp.blobDigest === l.descriptor.digest &&
        stamp.blobSize === l.descriptor.size &&
        (await out.size(tarRel)) === stamp.tarBytes &&
        (await out.size(indexRel)) !== undefined;
      const what = `layer ${l.index + 1}/${image.layers.length}`;
      let info: OciLayerStamp;
      if (reuse) {
        progress?.(`${what}: unchanged`, doneBytes / total, 'layer');
        const src = await out.openSource(tarRel);
        try {
          const t = await treeOfTar(cancellable || sliceMs !== undefined ? breathingSource(src, breathe) : src, { aufs: true });
          trees.push({ root: t.root, implicitDirs: t.implicitDirs });
        } finally {
          await src.close?.();
        }
        info = stamp;
      } else {
        progress?.(`${what}: ${l.descriptor.digest}`, doneBytes / total, 'layer');
        const alg = l.descriptor.digest.slice(0, l.descriptor.digest.indexOf(':'));
        if (alg !== 'sha256' && alg !== 'sha512') throw new ErofsError('unsupported-feature', `layer digest ${l.descriptor.digest}: only sha256 and sha512 can be verified`, { format: 'oci', path: where });
        const tar = await create(tarRel);
        let seen = 0;
        let lastReport = 0;
        const compressed = passing(files.chunks(l.file), breathe, (n) => {
          seen += n;
          const now = Date.now();
          if (progress && now - lastReport > 200) {
            lastReport = now;
            progress(`${what}: ${l.descriptor.digest}`, (doneBytes + seen) / total, 'bytes');
          }
        });
        const s = layerStream(compressed, l.compression, {
          algorithm: alg,
          ...(opts.hash ? { hash: opts.hash } : {}),
          ...(opts.decompress ? { decompress: opts.decompress } : {}),
        });
        let r;
        try {
          r = await indexTar(teeing(s.chunks, tar), { aufs: true, keepTree: true, ...(opts.sha256 ? { hash: opts.sha256 } : {}) });
          await tar.close();
        } catch (e) {
          // A layer that does not decompress or is no tar: name the layer, not only the byte.
          if (e instanceof ConvertCancelled || !isErofsError(e) || e.format === 'oci') throw e;
          const at = e.offset !== undefined ? ` at ${e.format === 'tar' ? 'tar' : 'compressed'} byte ${hex(e.offset)}` : '';
          throw new ErofsError(e.code, `layer-data: layer ${l.index} (${l.file}, ${l.descriptor.mediaType})${at}: ${e.message}`, { format: 'oci', path: `${where}.mediaType` });
        }
        check();
        const blob = s.blob();
        if (blob.digest !== l.descriptor.digest) throw new ErofsError('digest-mismatch', `blob-digest: blob ${l.file} hashes to ${blob.digest}, not ${l.descriptor.digest}`, { format: 'oci', path: `${where}.digest` });
        if (blob.size !== l.descriptor.size) throw new ErofsError('invalid-value', `blob-size: blob ${l.file} holds ${blob.size} bytes, the descriptor says ${l.descriptor.size}`, { format: 'oci', path: `${where}.size` });
        if (r.diffId !== l.diffId) {
          throw new ErofsError('digest-mismatch', `diff-ids: layer ${l.index} uncompresses to ${r.diffId}, the config says ${l.diffId}`, { format: 'oci', path: `${image.configFile} $.rootfs.diff_ids[${l.index}]` });
        }
        info = { blobDigest: blob.digest, blobSize: blob.size, diffId: r.diffId, tarBytes: r.tarBytes, deviceBlocks: r.deviceBlocks };
        await writeFile(indexRel, r.image);
        await writeFile(stampRel, enc.encode(JSON.stringify(info, null, 2) + '\n'));
        if (!atEnd) await commitPending();
        trees.push({ root: r.tree!.root, implicitDirs: r.tree!.implicitDirs });
      }
      doneBytes += l.descriptor.size;
      devices.push({
        device: devices.length + 1,
        path: tarRel,
        index: indexRel,
        diffId: info.diffId,
        digest: l.descriptor.digest,
        mediaType: l.descriptor.mediaType,
        size: l.descriptor.size,
        tarBytes: info.tarBytes,
        blocks: info.deviceBlocks,
        reused: reuse,
      });
    }
    check();
    progress?.('merging the layers', 1, 'merge');
    const merged = mergeLayers(trees);
    const idHash = sha256();
    for (const d of devices) idHash.update(enc.encode(d.diffId + '\n'));
    const written = writeImage(merged, {
      blkszbits: 9,
      devices: devices.map((d) => ({ blocks: d.blocks, tag: enc.encode(d.diffId.slice(d.diffId.indexOf(':') + 1)) })),
      uuid: uuidFromDigest(idHash.digest()),
    });
    await writeFile('fsmeta.erofs', written.image);
    const summary: OciSummary = {
      schema: 'erofs-kit/oci-summary',
      schemaVersion: OCI_SUMMARY_SCHEMA_VERSION,
      image: {
        input: opts.input,
        tag: opts.tag ?? null,
        platform: image.platform ? formatPlatform(image.platform) : null,
        manifestDigest: image.manifestDigest ?? null,
        configDigest: image.configDigest ?? null,
      },
      metadata: 'fsmeta.erofs',
      devices,
      mount: mountCommand(devices.map((d) => d.path)),
    };
    await writeFile('summary.json', enc.encode(JSON.stringify(summary, null, 2) + '\n'));
    // The last moment to stop; after it, every file gets its name (summary.json last).
    check();
    await commitPending();
    return { summary, inodes: written.inodes };
  } catch (e) {
    for (const f of pending.splice(0)) await f.abort().catch(() => undefined);
    if (atEnd) for (const d of made) await out.rmdirIfEmpty(d).catch(() => undefined);
    throw e;
  }
}

/** Passes chunks on, calling `between` before each and counting bytes. */
async function* passing(input: AsyncIterable<Uint8Array>, between: () => Promise<void>, onBytes: (n: number) => void): AsyncGenerator<Uint8Array> {
  for await (const c of input) {
    await between();
    onBytes(c.length);
    yield c;
  }
}

/** Passes chunks on after writing each to `file`. */
async function* teeing(input: AsyncIterable<Uint8Array>, file: PendingFile): AsyncGenerator<Uint8Array> {
  for await (const c of input) {
    const w = file.write(c);
    if (w) await w;
    yield c;
  }
}

/** A source whose reads first call `between` (cancellation, event loop); async reads only. */
function breathingSource(inner: ByteSource, between: () => Promise<void>): ByteSource {
  return {
    size: inner.size,
    name: inner.name,
    async read(offset, length) {
      await between();
      return inner.read(offset, length);
    },
  };
}
