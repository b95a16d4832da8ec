/**
 * `erofs-kit oci verify|convert`: OCI image layouts and docker-archives (ADR 0019). verify runs
 * every check of core's `readOci` (layers decompressed and their diffIDs computed); convert
 * writes, per layer, the uncompressed tar and its tar index named by diffID, then one merged
 * metadata image (`fsmeta.erofs`) with each layer tar as an extra device, and summary.json.
 */
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import {
  ErofsError,
  hex,
  isErofsError,
  OCI_CHECKS,
  formatPlatform,
  indexTar,
  layerStream,
  mergeLayers,
  readOci,
  selectImage,
  sha256,
  treeOfTar,
  uuidFromDigest,
  writeImage,
  type LayerDecompressor,
  type LayerTreeInput,
  type OciProblem,
  type OciReport,
  type Platform,
} from '@erofs-kit/core';
import { FileSource, nodeHash, nodeSha256, openOciInput } from '@erofs-kit/core/node';
import { Out, UsageError, jsonOption, warn, type Command } from '../util.js';
import { Progress } from '../progress.js';
import { Outputs, writeAllSync } from '../outputs.js';
import { gunzipChunks, teeToFile, zstdChunks } from '../layer-input.js';

export const OCI_REPORT_SCHEMA_VERSION = 1 as const;
export const OCI_SUMMARY_SCHEMA_VERSION = 1 as const;

/** `LAYOUT[:TAG]`: the tag is split off only when the whole argument is not itself a path. */
export function splitRef(arg: string): { path: string; tag?: string } {
  if (existsSync(arg)) return { path: arg };
  const i = arg.lastIndexOf(':');
  if (i > 0 && existsSync(arg.slice(0, i))) return { path: arg.slice(0, i), tag: arg.slice(i + 1) };
  return { path: arg };
}

/** The platform this process runs on, in OCI terms. */
export function hostPlatform(): Platform {
  const arch: Record<string, string> = { x64: 'amd64', arm64: 'arm64', arm: 'arm', ia32: '386', ppc64: 'ppc64le', s390x: 's390x', riscv64: 'riscv64', loong64: 'loong64' };
  return { os: process.platform === 'win32' ? 'windows' : process.platform, architecture: arch[process.arch] ?? process.arch };
}

function decompressor(): LayerDecompressor {
  let warned = false;
  return (compression, input) =>
    compression === 'gzip'
      ? gunzipChunks(input)
      : zstdChunks(input, () => {
          if (!warned) warn('zstd is not installed: zstd content checksums are not checked (the diffID still is)');
          warned = true;
        });
}

export interface OciVerifyReport {
  schema: 'erofs-kit/oci-verify-report';
  schemaVersion: typeof OCI_REPORT_SCHEMA_VERSION;
  input: string;
  kind: OciReport['kind'];
  ok: boolean;
  problems: OciProblem[];
  images: {
    tags: string[];
    platform: string | null;
    manifestDigest: string | null;
    configDigest: string | null;
    artifact: boolean;
    layers: { index: number; mediaType: string; digest: string; size: number; diffId: string | null; tarBytes: number | null }[];
  }[];
}

function verifyReport(input: string, r: OciReport): OciVerifyReport {
  return {
    schema: 'erofs-kit/oci-verify-report',
    schemaVersion: OCI_REPORT_SCHEMA_VERSION,
    input,
    kind: r.kind,
    ok: r.ok,
    problems: r.problems,
    images: r.images.map((i) => ({
      tags: i.tags,
      platform: i.platform ? formatPlatform(i.platform) : null,
      manifestDigest: i.manifestDigest ?? null,
      configDigest: i.configDigest ?? null,
      artifact: i.artifact === true,
      layers: i.layers.map((l) => ({
        index: l.index,
        mediaType: l.descriptor.mediaType,
        digest: l.descriptor.digest,
        size: l.descriptor.size,
        diffId: l.checked?.diffId ?? l.diffId ?? null,
        tarBytes: l.checked?.tarBytes ?? null,
      })),
    })),
  };
}

function problemLine(input: string, p: OciProblem): string {
  return `${join(input, p.file)}${p.jsonPath !== undefined ? ' ' + p.jsonPath : ''}: ${p.severity}: ${p.check}: ${p.code}: ${p.message}`;
}

async function runVerify(arg: string, values: Record<string, unknown>): Promise<number> {
  const { path, tag } = splitRef(arg);
  const progress = new Progress(!values.json);
  const input = await openOciInput(path);
  try {
    const report = await readOci(input.files, {
      ...(tag !== undefined ? { tag } : {}),
      checkLayers: true,
      hash: nodeHash,
      decompress: decompressor(),
      onProgress: (w) => progress.update(w),
    });
    progress.done();
    const out = new Out();
    const r = verifyReport(path, report);
    if (values.json) {
      out.line(JSON.stringify(r, null, 2));
    } else {
      for (const p of report.problems) out.line(problemLine(path, p));
      for (const i of r.images) {
        out.line(`image ${i.tags.join(',') || '(untagged)'} ${i.platform ?? ''} ${i.manifestDigest ?? ''}: ${i.layers.length} layers${i.artifact ? ' (artifact, skipped)' : ''}`);
      }
      const errors = report.problems.filter((p) => p.severity === 'error').length;
      out.line(`${report.ok ? 'ok' : 'FAILED'}: ${report.kind}, ${r.images.length} images, ${errors} errors`);
    }
    out.flush();
    return report.ok ? 0 : 1;
  } finally {
    progress.done();
    await input.close();
  }
}

/* ------------------------------------------------------------------ convert */

/** What convert remembers beside a layer's outputs, to know it need not convert it again. */
interface LayerStamp {
  blobDigest: string;
  blobSize: number;
  diffId: string;
  tarBytes: number;
  deviceBlocks: number;
}

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

function readStamp(file: string): LayerStamp | undefined {
  try {
    const s = JSON.parse(readFileSync(file, 'utf8')) as LayerStamp;
    return typeof s.blobDigest === 'string' && typeof s.deviceBlocks === 'number' ? s : undefined;
  } catch {
    return undefined;
  }
}

function fileSize(p: string): number | undefined {
  try {
    return statSync(p).size;
  } catch {
    return undefined;
  }
}

async function runConvert(arg: string, values: Record<string, unknown>): Promise<number> {
  const outDir = values.output as string | undefined;
  if (!outDir) throw new UsageError('oci convert needs -o OUTDIR');
  const { path, tag } = splitRef(arg);
  const progress = new Progress(!values.json);
  const input = await openOciInput(path);
  const outputs = new Outputs();
  try {
    const report = await readOci(input.files, { ...(tag !== undefined ? { tag } : {}), hash: nodeHash });
    const image = selectImage(report, (values.platform as string | undefined) ?? hostPlatform());
    const layerDir = join(outDir, 'layers');
    try {
      mkdirSync(layerDir, { recursive: true });
    } catch (e) {
      throw new ErofsError('io', `cannot create ${layerDir}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, { format: 'io', path: layerDir });
    }
    const trees: LayerTreeInput[] = [];
    const devices: OciSummary['devices'] = [];
    const decompress = decompressor();
    for (const l of image.layers) {
      const where = `${image.manifestFile} $.layers[${l.index}]`;
      if (l.diffId === undefined) throw new ErofsError('not-found', `layer ${l.index} has no diff_id in the config`, { format: 'oci', path: `${image.configFile} $.rootfs.diff_ids` });
      const hexId = l.diffId.slice('sha256:'.length);
      const tarPath = join(layerDir, `${hexId}.tar`);
      const indexPath = join(layerDir, `${hexId}.erofs`);
      const stampPath = join(layerDir, `${hexId}.json`);
      const stamp = readStamp(stampPath);
      const reuse =
        stamp !== undefined &&
        stamp.diffId === l.diffId &&
        stamp.blobDigest === l.descriptor.digest &&
        stamp.blobSize === l.descriptor.size &&
        fileSize(tarPath) === stamp.tarBytes &&
        fileSize(indexPath) !== undefined;
      let info: LayerStamp;
      if (reuse) {
        progress.update(`layer ${l.index + 1}/${image.layers.length}: unchanged`);
        const src = new FileSource(tarPath);
        try {
          const t = await treeOfTar(src, { aufs: true });
          trees.push({ root: t.root, implicitDirs: t.implicitDirs });
        } finally {
          await src.close();
        }
        info = stamp;
      } else {
        progress.update(`layer ${l.index + 1}/${image.layers.length}: ${l.descriptor.digest}`);
        const alg = l.descriptor.digest.slice(0, l.descriptor.digest.indexOf(':'));
        if (alg !== 'sha256' && alg !== 'sha512') throw new ErofsError('unsupported-feature', `layer digest ${l.descriptor.digest}: only sha256 and sha512 can be verified`, { format: 'oci', path: where });
        const tmpTar = outputs.temp(tarPath);
        const fd = openSync(tmpTar, 'w');
        let r;
        let blob;
        try {
          const s = layerStream(input.files.chunks(l.file), l.compression, { algorithm: alg, hash: nodeHash, decompress });
          const tee = teeToFile(s.chunks, fd);
          r = await indexTar(tee.chunks, { aufs: true, hash: nodeSha256, keepTree: true });
          await tee.done();
          blob = s.blob();
        } catch (e) {
          // A layer that does not decompress or is no tar: name the layer, not only the byte.
          if (!isErofsError(e) || e.format === 'oci') throw e;
          const at = e.offset !== undefined ? ` at ${e.format === 'tar' ? 'tar' : 'compressed'} byte ${hex(e.offset)}` : '';
          throw new ErofsError(e.code, `layer-data: layer ${l.index} (${l.file}, ${l.descriptor.mediaType})${at}: ${e.message}`, { format: 'oci', path: `${where}.mediaType` });
        } finally {
          closeSync(fd);
        }
        if (blob.digest !== l.descriptor.digest) throw new ErofsError('digest-mismatch', `blob-digest: blob ${l.file} hashes to ${blob.digest}, not ${l.descriptor.digest}`, { format: 'oci', path: `${where}.digest` });
        if (blob.size !== l.descriptor.size) throw new ErofsError('invalid-value', `blob-size: blob ${l.file} holds ${blob.size} bytes, the descriptor says ${l.descriptor.size}`, { format: 'oci', path: `${where}.size` });
        if (r.diffId !== l.diffId) {
          throw new ErofsError('digest-mismatch', `diff-ids: layer ${l.index} uncompresses to ${r.diffId}, the config says ${l.diffId}`, { format: 'oci', path: `${image.configFile} $.rootfs.diff_ids[${l.index}]` });
        }
        info = { blobDigest: blob.digest, blobSize: blob.size, diffId: r.diffId, tarBytes: r.tarBytes, deviceBlocks: r.deviceBlocks };
        const tmpIndex = outputs.temp(indexPath);
        writeWhole(tmpIndex, r.image);
        const tmpStamp = outputs.temp(stampPath);
        writeFileSync(tmpStamp, JSON.stringify(info, null, 2) + '\n');
        outputs.commit(tmpTar, tarPath);
        outputs.commit(tmpIndex, indexPath);
        outputs.commit(tmpStamp, stampPath);
        trees.push({ root: r.tree!.root, implicitDirs: r.tree!.implicitDirs });
      }
      devices.push({
        device: l.index + 1,
        path: relative(outDir, tarPath),
        index: relative(outDir, indexPath),
        diffId: info.diffId,
        digest: l.descriptor.digest,
        mediaType: l.descriptor.mediaType,
        size: l.descriptor.size,
        tarBytes: info.tarBytes,
        blocks: info.deviceBlocks,
        reused: reuse,
      });
    }
    devices.forEach((d, i) => (d.device = i + 1));
    progress.update('merging the layers');
    const merged = mergeLayers(trees);
    const idHash = sha256();
    for (const d of devices) idHash.update(new TextEncoder().encode(d.diffId + '\n'));
    const written = writeImage(merged, {
      blkszbits: 9,
      devices: devices.map((d) => ({ blocks: d.blocks, tag: new TextEncoder().encode(d.diffId.slice('sha256:'.length)) })),
      uuid: uuidFromDigest(idHash.digest()),
    });
    const metaPath = join(outDir, 'fsmeta.erofs');
    const tmpMeta = outputs.temp(metaPath);
    writeWhole(tmpMeta, written.image);
    const summary: OciSummary = {
      schema: 'erofs-kit/oci-summary',
      schemaVersion: OCI_SUMMARY_SCHEMA_VERSION,
      image: {
        input: path,
        tag: tag ?? null,
        platform: image.platform ? formatPlatform(image.platform) : null,
        manifestDigest: image.manifestDigest ?? null,
        configDigest: image.configDigest ?? null,
      },
      metadata: 'fsmeta.erofs',
      devices,
      mount: mountCommand(devices.map((d) => d.path)),
    };
    const summaryPath = join(outDir, 'summary.json');
    const tmpSummary = outputs.temp(summaryPath);
    writeFileSync(tmpSummary, JSON.stringify(summary, null, 2) + '\n');
    outputs.commit(tmpMeta, metaPath);
    outputs.commit(tmpSummary, summaryPath);
    progress.done();
    const out = new Out();
    if (values.json) out.line(JSON.stringify(summary, null, 2));
    else {
      for (const d of devices) out.line(`device ${d.device}: ${d.path} ${d.diffId}${d.reused ? ' (unchanged)' : ''}`);
      out.line(`fsmeta.erofs: ${written.inodes} inodes, ${devices.length} layer devices`);
      out.line(`mount (in ${outDir}): ${summary.mount}`);
    }
    out.flush();
    return 0;
  } finally {
    progress.done();
    outputs.cleanup();
    await input.close();
  }
}

function writeWhole(path: string, bytes: Uint8Array): void {
  const fd = openSync(path, 'w');
  try {
    writeAllSync(fd, bytes);
  } finally {
    closeSync(fd);
  }
}

/** The mount: every layer tar on a read-only loop device, in device order, then the metadata. */
export function mountCommand(tars: string[]): string {
  const q = (s: string): string => (/^[A-Za-z0-9_./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`);
  const devs = tars.map((t) => `device=$(losetup -f --show -r ${q(t)})`).join(',');
  return `mount -t erofs -o ro${devs ? ',' + devs : ''} "$(losetup -f --show -r fsmeta.erofs)" "$MNT"`;
}

export const oci: Command = {
  name: 'oci',
  summary: 'check an OCI image layout or docker-archive, or convert it to layer tar indexes and one merged metadata image',
  usage: 'erofs-kit oci verify LAYOUT[:TAG] [--json] | erofs-kit oci convert LAYOUT[:TAG] -o OUTDIR [--platform OS/ARCH[/VARIANT]] [--json]',
  help: `LAYOUT is an OCI image layout directory (oci-layout, index.json, blobs/), or a tar holding one
or made by \`docker save\`. TAG picks the image whose index.json entry carries it as
org.opencontainers.image.ref.name (a docker-archive: one of its RepoTags).

verify checks everything against the OCI image-spec v1.1: media types, descriptors, digest syntax
and algorithms, blob sizes and digests, configs, and the diffID of every layer (each layer is
decompressed). Each problem names its file, JSON path, check id and code. --json prints one
report (docs/schema/oci-verify-report-v1.schema.json). Exit 0 when no error is found, 1 otherwise.
Checks: ${Object.keys(OCI_CHECKS).join(', ')}.

convert writes to OUTDIR:
  layers/DIFFID.tar     the layer's uncompressed tar (decompressed once, streamed)
  layers/DIFFID.erofs   its tar index (--aufs semantics: whiteouts and opaque directories)
  layers/DIFFID.json    what convert needs to skip the layer next time (blob digest and size)
  fsmeta.erofs          the whole root filesystem, layers applied in order, one extra device
                        per layer tar in layer order
  summary.json          devices in order, digests, and the mount command
                        (docs/schema/oci-summary-v1.schema.json)
Every diffID is checked against the config in the same pass; nothing is left behind on failure.
  -o, --output DIR      the output directory
  --platform P          the image of a multi-platform index to convert (default: this machine's)`,
  options: {
    ...jsonOption,
    output: { type: 'string', short: 'o' },
    platform: { type: 'string' },
  },
  async run({ values, positionals }) {
    const [sub, arg, ...more] = positionals;
    if (sub !== 'verify' && sub !== 'convert') throw new UsageError(`oci needs verify or convert, not ${JSON.stringify(sub)}`);
    if (arg === undefined) throw new UsageError(`oci ${sub} needs LAYOUT[:TAG]`);
    if (more.length > 0) throw new UsageError(`unexpected ${more.join(' ')}`);
    return sub === 'verify' ? runVerify(arg, values) : runConvert(arg, values);
  },
};

