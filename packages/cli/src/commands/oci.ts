/**
 * `erofs-kit oci verify|convert`: OCI image layouts and docker-archives (ADR 0019). verify runs
 * every check of core's `readOci` (layers decompressed and their diffIDs computed); convert
 * writes, per layer, the uncompressed tar and its tar index named by diffID, then one merged
 * metadata image (`fsmeta.erofs`) with each layer tar as an extra device, and summary.json.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import {
  OCI_CHECKS,
  convertOciImage,
  formatPlatform,
  readOci,
  type LayerDecompressor,
  type OciProblem,
  type OciReport,
  type Platform,
} from '@erofs-kit/core';
import { nodeConvertOutput, nodeHash, nodeSha256, openOciInput } from '@erofs-kit/core/node';
import { Out, UsageError, jsonOption, warn, type Command } from '../util.js';
import { Progress } from '../progress.js';
import { gunzipChunks, zstdChunks } from '../layer-input.js';
import { SUMMARIES } from './summaries.js';

export { OCI_SUMMARY_SCHEMA_VERSION, mountCommand, type OciSummary } from '@erofs-kit/core';

export const OCI_REPORT_SCHEMA_VERSION = 1 as const;

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

/**
 * convert is core's `convertOciImage` over the output directory (`nodeConvertOutput`): each
 * layer keeps its name as soon as it is checked (`commit: 'each-layer'`), so a failed run
 * still spares the next one the layers done; fsmeta.erofs and summary.json come last.
 */
async function runConvert(arg: string, values: Record<string, unknown>): Promise<number> {
  const outDir = values.output as string | undefined;
  if (!outDir) throw new UsageError('oci convert needs -o OUTDIR');
  const { path, tag } = splitRef(arg);
  const progress = new Progress(!values.json);
  const input = await openOciInput(path);
  try {
    const { summary, inodes } = await convertOciImage(input.files, nodeConvertOutput(outDir, { tempName: (final) => `${final}.erofs-kit-${process.pid}.tmp` }), {
      input: path,
      ...(tag !== undefined ? { tag } : {}),
      platform: (values.platform as string | undefined) ?? hostPlatform(),
      hash: nodeHash,
      sha256: nodeSha256,
      decompress: decompressor(),
      commit: 'each-layer',
      onProgress: (message, _fraction, step) => {
        if (step === 'layer' || step === 'merge') progress.update(message);
      },
    });
    progress.done();
    const out = new Out();
    if (values.json) out.line(JSON.stringify(summary, null, 2));
    else {
      for (const d of summary.devices) out.line(`device ${d.device}: ${d.path} ${d.diffId}${d.reused ? ' (unchanged)' : ''}`);
      out.line(`fsmeta.erofs: ${inodes} inodes, ${summary.devices.length} layer devices`);
      out.line(`mount (in ${outDir}): ${summary.mount}`);
    }
    out.flush();
    return 0;
  } finally {
    progress.done();
    await input.close();
  }
}

export const oci: Command = {
  name: 'oci',
  summary: SUMMARIES.oci,
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

