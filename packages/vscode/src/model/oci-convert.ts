/**
 * Convert Image: what `erofs-kit oci convert` writes, done with core inside the extension host
 * (the CLI is not part of the .vsix). Per layer: the uncompressed tar and its tar index (aufs
 * semantics) named by diffID, checked against the config's diff_ids and the blob's digest and
 * size in the same pass; then `fsmeta.erofs` (the layers merged, one extra device per layer tar)
 * and `summary.json` (schema erofs-kit/oci-summary v1, as the CLI's).
 *
 * Every file is written under a temporary name and renamed only when the whole image is done, so
 * a cancelled or failed conversion leaves nothing behind (folders it made are removed when
 * empty). A layer whose outputs and stamp (`layers/<hex>.json`) match is not converted again.
 */
import {
  ErofsError,
  formatPlatform,
  hex,
  indexTar,
  isErofsError,
  layerStream,
  mergeLayers,
  readOci,
  selectImage,
  sha256,
  treeOfTar,
  uuidFromDigest,
  writeImage,
  type ByteSource,
  type HashAlgorithm,
  type HashFactory,
  type LayerDecompressor,
  type LayerTreeInput,
  type OciFiles,
  type Platform as OciPlatform,
} from '@erofs-kit/core';
import { Cancelled, isCancelled } from './errors.js';

export const OCI_SUMMARY_SCHEMA_VERSION = 1 as const;

/** summary.json (docs/schema/oci-summary-v1.schema.json). */
export interface OciSummary {
  schema: 'erofs-kit/oci-summary';
  schemaVersion: typeof OCI_SUMMARY_SCHEMA_VERSION;
  image: { input: string; tag: string | null; platform: string | null; manifestDigest: string | null; configDigest: string | null };
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
  mount: string;
}

/** What convert remembers beside a layer's outputs (the CLI's stamp, same fields). */
interface LayerStamp {
  blobDigest: string;
  blobSize: number;
  diffId: string;
  tarBytes: number;
  deviceBlocks: number;
}

/** One output file, written under a temporary name. */
export interface PendingFile {
  write(chunk: Uint8Array): void;
  /** Ends writing (the file keeps its temporary name). */
  close(): Promise<void>;
  /** Gives the file its final name. */
  commit(): Promise<void>;
  /** Removes the temporary file. */
  abort(): Promise<void>;
}

/** The output folder, by paths relative to it ('/'-separated). */
export interface ConvertOutput {
  /** For messages and summary.json paths. */
  readonly name: string;
  size(rel: string): Promise<number | undefined>;
  readText(rel: string): Promise<string | undefined>;
  openSource(rel: string): Promise<ByteSource>;
  /** Creates the folder (and its parents); true when it did not exist. */
  mkdir(rel: string): Promise<boolean>;
  /** Removes the folder if it is empty. */
  rmdirIfEmpty(rel: string): Promise<void>;
  create(rel: string): Promise<PendingFile>;
}

export interface ConvertProgress {
  /** What is being done; `fraction` of the whole when known. */
  report(message: string, fraction?: number): void;
  isCancelled(): boolean;
}

export interface ConvertOptions {
  /** The layout's name as summary.json records it. */
  input: string;
  tag?: string;
  /** Which image of a multi-platform index (`os/arch[/variant]`); the host's when unset. */
  platform?: string | OciPlatform;
  hash?: (a: HashAlgorithm) => HashFactory;
  sha256?: HashFactory;
  decompress?: LayerDecompressor;
  progress?: ConvertProgress;
  /** How often (ms) a long pass lets the event loop run. */
  sliceMs?: number;
}

/** The mount command, run in the output folder (as the CLI prints it). */
export function mountCommand(tars: string[]): string {
  const q = (s: string): string => (/^[A-Za-z0-9_./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`);
  const devs = tars.map((t) => `device=$(losetup -f --show -r ${q(t)})`).join(',');
  return `mount -t erofs -o ro${devs ? ',' + devs : ''} "$(losetup -f --show -r fsmeta.erofs)" "$MNT"`;
}

/** Passes chunks on; checks cancellation between them and lets the event loop run now and then. */
async function* breathing(input: AsyncIterable<Uint8Array>, progress: ConvertProgress | undefined, sliceMs: number, onBytes?: (n: number) => void): AsyncGenerator<Uint8Array> {
  let last = Date.now();
  for await (const c of input) {
    if (progress?.isCancelled()) throw new Cancelled();
    onBytes?.(c.length);
    yield c;
    if (Date.now() - last >= sliceMs) {
      await new Promise((r) => setTimeout(r, 0));
      last = Date.now();
      if (progress?.isCancelled()) throw new Cancelled();
    }
  }
}

function parseStamp(text: string | undefined): LayerStamp | undefined {
  if (text === undefined) return undefined;
  try {
    const s = JSON.parse(text) as LayerStamp;
    return typeof s.blobDigest === 'string' && typeof s.deviceBlocks === 'number' && typeof s.tarBytes === 'number' ? s : undefined;
  } catch {
    return undefined;
  }
}

const enc = new TextEncoder();

/**
 * Converts the image the tag and platform select from `files` into `out`. Throws on the first
 * problem of that image (as the CLI does) and on cancellation ({@link Cancelled}); in both cases
 * nothing new remains in `out`.
 */
export async function convertImage(files: OciFiles, out: ConvertOutput, opts: ConvertOptions): Promise<OciSummary> {
  const progress = opts.progress;
  const sliceMs = opts.sliceMs ?? 40;
  const pending: PendingFile[] = [];
  const made: string[] = [];
  const check = (): void => {
    if (progress?.isCancelled()) throw new Cancelled();
  };
  const create = async (rel: string): Promise<PendingFile> => {
    const f = await out.create(rel);
    pending.push(f);
    return f;
  };
  try {
    progress?.report('reading the layout');
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
      const stamp = parseStamp(await out.readText(stampRel));
      const reuse =
        stamp !== undefined &&
        stamp.diffId === l.diffId &&
        stamp.blobDigest === l.descriptor.digest &&
        stamp.blobSize === l.descriptor.size &&
        (await out.size(tarRel)) === stamp.tarBytes &&
        (await out.size(indexRel)) !== undefined;
      const what = `layer ${l.index + 1}/${image.layers.length}`;
      let info: LayerStamp;
      if (reuse) {
        progress?.report(`${what}: unchanged`, doneBytes / total);
        const src = await out.openSource(tarRel);
        try {
          const t = await treeOfTar(breathing(chunks(src), progress, sliceMs), { aufs: true });
          trees.push({ root: t.root, implicitDirs: t.implicitDirs });
        } finally {
          await src.close?.();
        }
        info = stamp;
      } else {
        progress?.report(`${what}: ${l.descriptor.digest}`, doneBytes / total);
        const alg = l.descriptor.digest.slice(0, l.descriptor.digest.indexOf(':'));
        if (alg !== 'sha256' && alg !== 'sha512') throw new ErofsError('unsupported-feature', `layer digest ${l.descriptor.digest}: only sha256 and sha512 can be verified`, { format: 'oci', path: where });
        const tar = await create(tarRel);
        let seen = 0;
        let lastReport = 0;
        const compressed = breathing(files.chunks(l.file), progress, sliceMs, (n) => {
          seen += n;
          const now = Date.now();
          if (now - lastReport > 200) {
            lastReport = now;
            progress?.report(`${what}: ${l.descriptor.digest}`, (doneBytes + seen) / total);
          }
        });
        const s = layerStream(compressed, l.compression, {
          algorithm: alg,
          ...(opts.hash ? { hash: opts.hash } : {}),
          ...(opts.decompress ? { decompress: opts.decompress } : {}),
        });
        let r;
        try {
          r = await indexTar(s.chunks, { aufs: true, keepTree: true, tap: (c) => tar.write(c), ...(opts.sha256 ? { hash: opts.sha256 } : {}) });
        } catch (e) {
          if (isCancelled(e) || !isErofsError(e) || e.format === 'oci') throw e;
          const at = e.offset !== undefined ? ` at ${e.format === 'tar' ? 'tar' : 'compressed'} byte ${hex(e.offset)}` : '';
          throw new ErofsError(e.code, `layer-data: layer ${l.index} (${l.file}, ${l.descriptor.mediaType})${at}: ${e.message}`, { format: 'oci', path: `${where}.mediaType` });
        }
        await tar.close();
        check();
        const blob = s.blob();
        if (blob.digest !== l.descriptor.digest) throw new ErofsError('digest-mismatch', `blob-digest: blob ${l.file} hashes to ${blob.digest}, not ${l.descriptor.digest}`, { format: 'oci', path: `${where}.digest` });
        if (blob.size !== l.descriptor.size) throw new ErofsError('invalid-value', `blob-size: blob ${l.file} holds ${blob.size} bytes, the descriptor says ${l.descriptor.size}`, { format: 'oci', path: `${where}.size` });
        if (r.diffId !== l.diffId) {
          throw new ErofsError('digest-mismatch', `diff-ids: layer ${l.index} uncompresses to ${r.diffId}, the config says ${l.diffId}`, { format: 'oci', path: `${image.configFile} $.rootfs.diff_ids[${l.index}]` });
        }
        info = { blobDigest: blob.digest, blobSize: blob.size, diffId: r.diffId, tarBytes: r.tarBytes, deviceBlocks: r.deviceBlocks };
        const index = await create(indexRel);
        index.write(r.image);
        await index.close();
        const st = await create(stampRel);
        st.write(enc.encode(JSON.stringify(info, null, 2) + '\n'));
        await st.close();
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
    progress?.report('merging the layers', 1);
    const merged = mergeLayers(trees);
    const idHash = sha256();
    for (const d of devices) idHash.update(enc.encode(d.diffId + '\n'));
    const written = writeImage(merged, {
      blkszbits: 9,
      devices: devices.map((d) => ({ blocks: d.blocks, tag: enc.encode(d.diffId.slice(d.diffId.indexOf(':') + 1)) })),
      uuid: uuidFromDigest(idHash.digest()),
    });
    const meta = await create('fsmeta.erofs');
    meta.write(written.image);
    await meta.close();
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
    const sum = await create('summary.json');
    sum.write(enc.encode(JSON.stringify(summary, null, 2) + '\n'));
    await sum.close();
    // The last moment to stop; after it, every file gets its name (summary.json last).
    check();
    const all = pending.splice(0);
    for (const f of all) await f.commit();
    return summary;
  } catch (e) {
    for (const f of pending.splice(0)) await f.abort().catch(() => undefined);
    for (const d of made) await out.rmdirIfEmpty(d).catch(() => undefined);
    throw e;
  }
}

/** A source front to back, in 1 MiB pieces. */
async function* chunks(src: ByteSource, piece = 1 << 20): AsyncGenerator<Uint8Array> {
  for (let o = 0; o < src.size; o += piece) yield (await src.read(o, Math.min(piece, src.size - o))).slice();
}
