import { ErofsImage, formatDigest, fsckSource, verifyTarIndex, type FsckReport, type TarCheckReport } from '@erofs-kit/core';
import { FileSource, fsverityFile, nodeSha256 } from '@erofs-kit/core/node';
import { Out, UsageError, jsonOption, strs, type Command } from '../util.js';
import { Progress } from '../progress.js';
import { REPORT_SCHEMA_VERSION, compatibilityOf, type Compatibility } from '../report.js';
import { SUMMARIES } from './summaries.js';

export interface VerifyReport {
  schema: 'erofs-kit/verify-report';
  schemaVersion: typeof REPORT_SCHEMA_VERSION;
  file: string;
  ok: boolean;
  fsck: FsckReport;
  tar: (TarCheckReport & { file: string }) | null;
  /** fs-verity digests (sha256, 4096-byte blocks, no salt), with --digest. */
  digests?: { image: string; tar?: string };
  /** null when the superblock cannot be read. */
  compatibility: Compatibility | null;
}

export const verify: Command = {
  name: 'verify',
  summary: SUMMARIES.verify,
  usage: 'erofs-kit verify IMAGE [--tar TAR] [--device FILE]... [--expect-diffid sha256:HEX] [--digest] [--json]',
  help: `Runs every fsck check on IMAGE (with TAR as its data device), then, with --tar, checks the tar
index against the tar: every file's chunks land exactly on the data of the tar entry that names
the file with its size, the device table's block count matches the tar, and (--expect-diffid)
the tar's sha256 is the layer's diffID. --digest adds the fs-verity digests (sha256, 4 KiB
blocks) of the image and the tar, as composefs pins them. The report names the minimum Linux
kernel and erofs-utils for the features the image uses. --json prints one report
(docs/schema/report-v1.schema.json). Exit 0 when no error is found, 1 otherwise.`,
  options: {
    tar: { type: 'string' },
    device: { type: 'string', multiple: true, short: 'd' },
    'expect-diffid': { type: 'string' },
    digest: { type: 'boolean' },
    ...jsonOption,
  },
  async run({ values, positionals }) {
    const [file] = positionals;
    const tarPath = values.tar as string | undefined;
    const extra = strs(values.device);
    if (tarPath !== undefined && extra.length > 0) throw new UsageError('give the tar with --tar or with --device, not both');
    const expect = values['expect-diffid'] as string | undefined;
    if (expect !== undefined && !/^(sha256:)?[0-9a-fA-F]{64}$/.test(expect)) throw new UsageError(`--expect-diffid ${expect}: sha256:<64 hex digits>`);
    if (expect !== undefined && tarPath === undefined) throw new UsageError('--expect-diffid needs --tar');
    const sources: FileSource[] = [];
    const progress = new Progress(!values.json);
    try {
      const src = new FileSource(file!);
      sources.push(src);
      const devices = (tarPath !== undefined ? [tarPath] : extra).map((d) => {
        const s = new FileSource(d);
        sources.push(s);
        return s;
      });
      // An image without a device table gets no devices (the tar check then says it is no tar index).
      let probe: ErofsImage | undefined;
      try {
        probe = await ErofsImage.open(src, { ignoreChecksum: true });
      } catch {
        probe = undefined; // fsck reports why
      }
      const attach = probe !== undefined && probe.devices.length === 0 ? [] : devices;
      const fsck = await fsckSource(src, { devices: attach, onProgress: (n, b) => progress.update(`checked ${n} inodes, ${(b / 1048576).toFixed(1)} MiB`) });
      progress.done();
      let tar: VerifyReport['tar'] = null;
      let compatibility: Compatibility | null = null;
      let img;
      try {
        img = await ErofsImage.open(src, { devices: attach, ignoreChecksum: true });
      } catch {
        img = undefined; // fsck has reported why
      }
      if (img) {
        compatibility = compatibilityOf(img);
        if (tarPath !== undefined) {
          progress.update('checking the tar index');
          const t = await verifyTarIndex(img, devices[0]!, { sha256: nodeSha256, ...(expect !== undefined ? { expectDiffId: expect } : {}) });
          tar = { file: tarPath, ...t };
          progress.done();
        }
      }
      const report: VerifyReport = {
        schema: 'erofs-kit/verify-report',
        schemaVersion: REPORT_SCHEMA_VERSION,
        file: file!,
        ok: fsck.ok && (tar === null || tar.ok),
        fsck,
        tar,
        compatibility,
      };
      if (values.digest) {
        progress.update('fs-verity digests');
        const image = formatDigest((await fsverityFile(file!)).digest(), 'sha256');
        report.digests = tarPath !== undefined ? { image, tar: formatDigest((await fsverityFile(tarPath)).digest(), 'sha256') } : { image };
        progress.done();
      }
      const out = new Out();
      if (values.json) out.line(JSON.stringify(report, null, 2));
      else printText(out, report);
      out.flush();
      return report.ok ? 0 : 1;
    } finally {
      progress.done();
      for (const s of sources) await s.close();
    }
  },
};

function printText(out: Out, r: VerifyReport): void {
  const line = (file: string, p: { offset?: number; severity: string; check: string; code: string; message: string; path?: string; nid?: number }): void => {
    const where = [p.nid !== undefined ? `inode ${p.nid}` : '', p.path ? `path ${p.path}` : ''].filter(Boolean).join(', ');
    out.line(`${file}${p.offset !== undefined ? ':0x' + p.offset.toString(16) : ''}: ${p.severity}: ${p.check}: ${p.code}: ${p.message}${where ? ` (${where})` : ''}`);
  };
  for (const p of r.fsck.problems) line(r.file, p);
  if (r.tar) for (const p of r.tar.problems) line(p.format === 'tar' ? r.tar.file : r.file, p);
  const c = r.compatibility;
  if (c) {
    for (const w of c.warnings) out.line(`${r.file}: note: ${w}`);
    out.line(`needs Linux ${c.minimumKernel}+ and erofs-utils ${c.minimumErofsUtils}+ (${c.features.map((f) => f.name).join(', ')})`);
  }
  if (r.tar) out.line(`tar: ${r.tar.files} files checked against ${r.tar.entries} entries; ${r.tar.sha256 ?? ''}`);
  if (r.digests) {
    out.line(`fs-verity ${r.digests.image} ${r.file}`);
    if (r.digests.tar) out.line(`fs-verity ${r.digests.tar} ${r.tar?.file ?? ''}`);
  }
  const errors = r.fsck.problems.filter((p) => p.severity === 'error').length + (r.tar?.problems.filter((p) => p.severity === 'error').length ?? 0);
  out.line(`${r.ok ? 'ok' : 'FAILED'}: ${errors} errors`);
}
