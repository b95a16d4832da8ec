/**
 * `erofs-kit oci verify` and `oci convert` on image layouts made by umoci (support/make-oci.sh:
 * four layers with deletions, a directory replaced by a file and back, hard links, devices,
 * xattrs, and an opaque directory), on hand-broken copies of them, and on the same image as a
 * docker-archive written by skopeo. The diffIDs are also computed with gzip(1) and sha256 as an
 * independent judge. Reports are validated against docs/schema/oci-*.schema.json.
 *
 * Judges (umoci, root, setfattr; skopeo for the docker-archive) missing → skipped with the
 * reason printed; under CI → failure.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OCI_CHECKS } from '@erofs-kit/core';
import { cliMissing, runCli } from './support/cli.js';
import { REPO_ROOT } from './support/fixtures.js';
import { validate } from './support/json-schema.js';
import { skipWithoutJudges, allOf, isRoot } from './support/judges.js';
import { blobFile, copyLayout, diffIdsByGzip, editConfig, editManifest, hasSkopeo, hasZstd, imageOf, makeUmociLayout, ociJudges, readJson, sh, sha256Of } from './support/oci.js';

const SUMMARY_SCHEMA = readJson(resolve(REPO_ROOT, 'docs/schema/oci-summary-v1.schema.json'));
const REPORT_SCHEMA = readJson(resolve(REPO_ROOT, 'docs/schema/oci-verify-report-v1.schema.json'));
const STACK_FRAME = /\n\s+at \S/;

describe('the OCI report schemas', () => {
  it('list exactly the checks core runs', () => {
    expect(REPORT_SCHEMA.$defs.problem.properties.check.enum).toEqual(Object.keys(OCI_CHECKS));
  });
  it('reject what they should', () => {
    expect(validate(REPORT_SCHEMA, { schema: 'erofs-kit/oci-verify-report' })).not.toEqual([]);
    const problem = { check: 'blob-size', code: 'invalid-value', severity: 'error', message: 'm', file: 'index.json', jsonPath: '$.manifests[0].size' };
    const report = { schema: 'erofs-kit/oci-verify-report', schemaVersion: 1, input: 'x', kind: 'oci-layout', ok: false, problems: [problem], images: [] };
    expect(validate(REPORT_SCHEMA, report)).toEqual([]);
    expect(validate(REPORT_SCHEMA, { ...report, problems: [{ ...problem, check: 'nope' }] })).not.toEqual([]);
    expect(validate(REPORT_SCHEMA, { ...report, problems: [{ ...problem, jsonPath: 'manifests' }] })).not.toEqual([]);
    const device = { device: 1, path: `layers/${'a'.repeat(64)}.tar`, index: `layers/${'a'.repeat(64)}.erofs`, diffId: `sha256:${'a'.repeat(64)}`, digest: `sha256:${'b'.repeat(64)}`, mediaType: 'application/vnd.oci.image.layer.v1.tar', size: 1, tarBytes: 1, blocks: 1, reused: false };
    const summary = { schema: 'erofs-kit/oci-summary', schemaVersion: 1, image: { input: 'x', tag: null, platform: null, manifestDigest: null, configDigest: null }, metadata: 'fsmeta.erofs', devices: [device], mount: 'mount' };
    expect(validate(SUMMARY_SCHEMA, summary)).toEqual([]);
    expect(validate(SUMMARY_SCHEMA, { ...summary, devices: [{ ...device, path: '/abs/layer.tar' }] })).not.toEqual([]);
    expect(validate(SUMMARY_SCHEMA, { ...summary, devices: [{ ...device, device: 0 }] })).not.toEqual([]);
  });
});

const missing = cliMissing();
const skip = skipWithoutJudges('oci CLI tests', missing ? { ok: false, reason: missing } : ociJudges());

/** Every file under `dir`, relative, sorted. */
function filesUnder(dir: string, rel = ''): string[] {
  if (!existsSync(dir)) return [];
  const out: string[] = [];
  for (const n of readdirSync(join(dir, rel)).sort()) {
    const p = rel ? `${rel}/${n}` : n;
    if (statSync(join(dir, p)).isDirectory()) out.push(...filesUnder(dir, p));
    else out.push(p);
  }
  return out;
}

describe.skipIf(skip)('oci verify / convert on umoci layouts', () => {
  let work = '';
  let layout = '';

  beforeAll(() => {
    work = mkdtempSync(join(tmpdir(), 'erofs-kit-oci-'));
    layout = makeUmociLayout(work);
  }, 300_000);

  afterAll(() => {
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('verify accepts the layout; --json validates and its diffIDs are those gzip(1) gives', () => {
    const text = runCli(['oci', 'verify', `${layout}:t`]);
    expect(text.stderr).toBe('');
    expect(text.status).toBe(0);
    expect(text.stdout).toMatch(/^ok: oci-layout, 1 images, 0 errors$/m);
    const r = runCli(['oci', 'verify', `${layout}:t`, '--json']);
    expect(r.status).toBe(0);
    const report = JSON.parse(r.stdout);
    expect(validate(REPORT_SCHEMA, report)).toEqual([]);
    expect(report.ok).toBe(true);
    expect(report.problems).toEqual([]);
    const img = imageOf(layout);
    expect(report.images).toHaveLength(1);
    expect(report.images[0].manifestDigest).toBe(img.manifestDigest);
    expect(report.images[0].tags).toEqual(['t']);
    const byGzip = diffIdsByGzip(layout);
    expect(byGzip).toHaveLength(4);
    expect(report.images[0].layers.map((l: { diffId: string }) => l.diffId)).toEqual(byGzip);
    expect(img.config.rootfs.diff_ids).toEqual(byGzip);
  });

  it('an unknown tag is an error naming the tags there are', () => {
    const r = runCli(['oci', 'verify', `${layout}:nope`, '--json']);
    expect(r.status).toBe(1);
    const report = JSON.parse(r.stdout);
    expect(report.problems.map((p: { check: string; file: string }) => [p.check, p.file])).toEqual([['selection', 'index.json']]);
    expect(report.problems[0].message).toContain('tags: t');
    const c = runCli(['oci', 'convert', `${layout}:nope`, '-o', join(work, 'out-nope')]);
    expect(c.status).toBe(1);
    expect(c.stderr).toMatch(/not-found: selection: no image is tagged "nope"/);
    expect(c.stderr).not.toMatch(STACK_FRAME);
  });

  /** Hand-broken copies: the edit, and exactly the problems verify must report. */
  const BROKEN: { name: string; edit: (l: string) => { check: string; code: string; file: string; jsonPath: string }[] }[] = [
    {
      name: 'wrong digest (config bytes changed, same size)',
      edit: (l) => {
        const img = imageOf(l);
        const f = blobFile(l, img.configDigest);
        const text = readFileSync(f, 'utf8');
        expect(text).toContain('"os":"linux"');
        writeFileSync(f, text.replace('"os":"linux"', '"os":"linuy"'));
        return [{ check: 'blob-digest', code: 'digest-mismatch', file: `blobs/sha256/${img.manifestDigest.slice(7)}`, jsonPath: '$.config.digest' }];
      },
    },
    {
      name: 'wrong size (index.json)',
      edit: (l) => {
        const index = readJson(join(l, 'index.json'));
        index.manifests[0].size += 7;
        writeFileSync(join(l, 'index.json'), JSON.stringify(index));
        return [{ check: 'blob-size', code: 'invalid-value', file: 'index.json', jsonPath: '$.manifests[0].size' }];
      },
    },
    {
      name: 'missing blob (layer 2)',
      edit: (l) => {
        const img = imageOf(l);
        unlinkSync(blobFile(l, img.layers[2]!.digest));
        return [{ check: 'blob-missing', code: 'not-found', file: `blobs/sha256/${img.manifestDigest.slice(7)}`, jsonPath: '$.layers[2].digest' }];
      },
    },
    {
      name: 'diff_id mismatch (layer 1)',
      edit: (l) => {
        const { configDigest } = editConfig(l, (c) => (c.rootfs.diff_ids[1] = 'sha256:' + 'e'.repeat(64)));
        return [{ check: 'diff-ids', code: 'digest-mismatch', file: `blobs/sha256/${configDigest.slice(7)}`, jsonPath: '$.rootfs.diff_ids[1]' }];
      },
    },
    {
      name: 'unknown layer media type (layer 3)',
      edit: (l) => {
        const md = editManifest(l, (m) => (m.layers[3].mediaType = 'application/vnd.example.layer.v1.squashfs'));
        return [{ check: 'layer-media-type', code: 'unsupported-feature', file: `blobs/sha256/${md.slice(7)}`, jsonPath: '$.layers[3].mediaType' }];
      },
    },
    {
      name: 'layer media type says tar, blob is gzip (diffID of the raw bytes differs)',
      edit: (l) => {
        const md = editManifest(l, (m) => (m.layers[0].mediaType = 'application/vnd.oci.image.layer.v1.tar'));
        const cfg = imageOf(l).configDigest;
        void md;
        return [{ check: 'diff-ids', code: 'digest-mismatch', file: `blobs/sha256/${cfg.slice(7)}`, jsonPath: '$.rootfs.diff_ids[0]' }];
      },
    },
  ];

  it.each(BROKEN.map((b) => [b.name, b] as const))('broken copy: %s — verify reports it precisely, convert fails and leaves nothing', (name, b) => {
    const copy = copyLayout(layout, join(work, `broken-${BROKEN.indexOf(b)}`));
    const want = b.edit(copy);
    const r = runCli(['oci', 'verify', copy, '--json']);
    expect(r.status, r.stderr).toBe(1);
    expect(r.stderr).not.toMatch(STACK_FRAME);
    const report = JSON.parse(r.stdout);
    expect(validate(REPORT_SCHEMA, report)).toEqual([]);
    expect(report.ok).toBe(false);
    expect(report.problems.map((p: Record<string, string>) => ({ check: p.check, code: p.code, file: p.file, jsonPath: p.jsonPath }))).toEqual(want);
    // The text form names the file inside the layout and the JSON path.
    const t = runCli(['oci', 'verify', copy]);
    expect(t.status).toBe(1);
    expect(t.stdout).toContain(`${join(copy, want[0]!.file)} ${want[0]!.jsonPath}: error: ${want[0]!.check}: ${want[0]!.code}: `);
    // convert refuses: exit 1, the code on stderr, no stack trace, no output file left.
    const out = join(work, `broken-out-${BROKEN.indexOf(b)}`);
    const c = runCli(['oci', 'convert', copy, '-o', out]);
    expect(c.status, `${name}: ${c.stdout}${c.stderr}`).toBe(1);
    expect(c.stderr).toMatch(/^erofs-kit: .*: (digest-mismatch|invalid-value|not-found|unsupported-feature|bad-checksum|bad-magic|truncated): /);
    expect(c.stderr).not.toMatch(STACK_FRAME);
    expect(filesUnder(out).filter((f) => !/^layers\/[0-9a-f]{64}\.(tar|erofs|json)$/.test(f))).toEqual([]);
    expect(filesUnder(out).some((f) => f.includes('.tmp'))).toBe(false);
    expect(existsSync(join(out, 'fsmeta.erofs'))).toBe(false);
    expect(existsSync(join(out, 'summary.json'))).toBe(false);
  });

  it('convert writes per-layer tars and indexes named by diffID, fsmeta.erofs and a summary that validates; both checkers accept fsmeta.erofs', () => {
    const out = join(work, 'out');
    const r = runCli(['oci', 'convert', `${layout}:t`, '-o', out, '--json']);
    expect(r.status, r.stderr).toBe(0);
    const summary = readJson(join(out, 'summary.json'));
    expect(JSON.parse(r.stdout)).toEqual(summary);
    expect(validate(SUMMARY_SCHEMA, summary)).toEqual([]);
    const diffIds = diffIdsByGzip(layout);
    const img = imageOf(layout);
    expect(summary.devices.map((d: { diffId: string }) => d.diffId)).toEqual(diffIds);
    expect(summary.devices.map((d: { digest: string }) => d.digest)).toEqual(img.layers.map((l) => l.digest));
    expect(summary.devices.map((d: { device: number }) => d.device)).toEqual([1, 2, 3, 4]);
    expect(summary.devices.map((d: { path: string }) => d.path)).toEqual(diffIds.map((id) => `layers/${id.slice(7)}.tar`));
    expect(summary.image.manifestDigest).toBe(img.manifestDigest);
    for (const d of summary.devices) {
      // The tar written is the layer's uncompressed bytes: its sha256 is the diffID.
      expect(sh('sha256sum', [join(out, d.path)]).split(' ')[0]).toBe(d.diffId.slice(7));
      expect(statSync(join(out, d.path)).size).toBe(d.tarBytes);
      expect(d.reused).toBe(false);
    }
    expect(summary.mount).toBe(
      `mount -t erofs -o ro,${summary.devices.map((d: { path: string }) => `device=$(losetup -f --show -r ${d.path})`).join(',')} "$(losetup -f --show -r fsmeta.erofs)" "$MNT"`,
    );
    const devs = summary.devices.flatMap((d: { path: string }) => ['--device', join(out, d.path)]);
    const fsck = runCli(['fsck', join(out, 'fsmeta.erofs'), ...devs]);
    expect(fsck.status, fsck.stdout + fsck.stderr).toBe(0);
    // Each layer's own index checks against its tar.
    for (const d of summary.devices) {
      const v = runCli(['verify', join(out, d.index), '--tar', join(out, d.path), '--expect-diffid', d.diffId]);
      expect(v.status, v.stdout + v.stderr).toBe(0);
    }
    const ref = spawnFsckErofs(join(out, 'fsmeta.erofs'), summary.devices.map((d: { path: string }) => join(out, d.path)));
    if (ref !== undefined) expect(ref.status, ref.output).toBe(0);
  });

  it('convert again: unchanged layers are not converted again, the outputs are the same bytes', () => {
    const out = join(work, 'out');
    const before = Object.fromEntries(filesUnder(out).map((f) => [f, { ino: statSync(join(out, f)).ino, bytes: readFileSync(join(out, f)) }]));
    const r = runCli(['oci', 'convert', `${layout}:t`, '-o', out, '--json']);
    expect(r.status, r.stderr).toBe(0);
    const summary = JSON.parse(r.stdout);
    expect(summary.devices.map((d: { reused: boolean }) => d.reused)).toEqual([true, true, true, true]);
    for (const f of filesUnder(out)) {
      if (f.startsWith('layers/')) expect(statSync(join(out, f)).ino, `${f} rewritten`).toBe(before[f]!.ino);
      if (f !== 'summary.json') expect(readFileSync(join(out, f)).equals(before[f]!.bytes), `${f} changed`).toBe(true);
    }
    // A new image sharing the first layers: only its new layer is converted.
    const grown = copyLayout(layout, join(work, 'grown'));
    const bundle = join(work, 'grown-bundle');
    sh('umoci', ['unpack', '--image', `${grown}:t`, bundle]);
    writeFileSync(join(bundle, 'rootfs', 'new-file'), 'in a fifth layer\n');
    sh('umoci', ['repack', '--image', `${grown}:t`, bundle]);
    rmSync(bundle, { recursive: true, force: true });
    const g = runCli(['oci', 'convert', `${grown}:t`, '-o', out, '--json']);
    expect(g.status, g.stderr).toBe(0);
    expect(JSON.parse(g.stdout).devices.map((d: { reused: boolean }) => d.reused)).toEqual([true, true, true, true, false]);
  });

  it.skipIf(skipWithoutJudges('oci zstd layer test', hasZstd()))('the same layers as tar+zstd, plain tar and non-distributable gzip convert to the same fsmeta.erofs', () => {
    const copy = copyLayout(layout, join(work, 'recompressed'));
    const img = imageOf(copy);
    const forms = ['zstd', 'none', 'nondistributable'] as const;
    const replaced: { digest: string; size: number; mediaType: string }[] = [];
    img.layers.slice(0, 3).forEach((l, i) => {
      const form = forms[i]!;
      const plain = sh('bash', ['-c', `gzip -dc '${blobFile(copy, l.digest)}' | base64 -w0`]);
      const tar = Buffer.from(plain, 'base64');
      let bytes: Buffer;
      let mediaType: string;
      if (form === 'zstd') {
        const z = spawnSync('zstd', ['-q', '-c', '--check'], { input: tar, maxBuffer: 1 << 30 });
        bytes = z.stdout;
        mediaType = 'application/vnd.oci.image.layer.v1.tar+zstd';
      } else if (form === 'none') {
        bytes = tar;
        mediaType = 'application/vnd.oci.image.layer.v1.tar';
      } else {
        bytes = readFileSync(blobFile(copy, l.digest));
        mediaType = 'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip';
      }
      const digest = sha256Of(bytes);
      writeFileSync(blobFile(copy, digest), bytes);
      replaced.push({ digest, size: bytes.length, mediaType });
    });
    editManifest(copy, (m) => replaced.forEach((r, i) => Object.assign(m.layers[i], r)));
    const v = runCli(['oci', 'verify', copy, '--json']);
    expect(v.status, v.stdout + v.stderr).toBe(0);
    const report = JSON.parse(v.stdout);
    expect(report.images[0].layers.map((l: { mediaType: string }) => l.mediaType).slice(0, 3)).toEqual(replaced.map((r) => r.mediaType));
    expect(report.images[0].layers.map((l: { diffId: string }) => l.diffId)).toEqual(diffIdsByGzip(layout));
    const out = join(work, 'out-recompressed');
    const c = runCli(['oci', 'convert', copy, '-o', out]);
    expect(c.status, c.stderr).toBe(0);
    const fromLayout = join(work, 'out-plain-ref');
    expect(runCli(['oci', 'convert', `${layout}:t`, '-o', fromLayout]).status).toBe(0);
    expect(readFileSync(join(out, 'fsmeta.erofs')).equals(readFileSync(join(fromLayout, 'fsmeta.erofs')))).toBe(true);
    // A corrupt zstd layer (one byte flipped inside the frame) is refused by both commands.
    const zl = blobFile(copy, replaced[0]!.digest);
    const b = readFileSync(zl);
    b[Math.floor(b.length / 2)]! ^= 0xff;
    writeFileSync(zl, b);
    const bad = runCli(['oci', 'verify', copy, '--json']);
    expect(bad.status).toBe(1);
    const checks = JSON.parse(bad.stdout).problems.map((p: { check: string; jsonPath: string }) => `${p.check} ${p.jsonPath}`);
    expect(checks[0]).toMatch(/^(layer-data \$\.layers\[0\]\.mediaType|blob-digest \$\.layers\[0\]\.digest)$/);
    expect(checks).toContain('blob-digest $.layers[0].digest');
    const badOut = join(work, 'out-bad-zstd');
    const bc = runCli(['oci', 'convert', copy, '-o', badOut]);
    expect(bc.status).toBe(1);
    expect(bc.stderr).not.toMatch(STACK_FRAME);
    expect(existsSync(join(badOut, 'fsmeta.erofs'))).toBe(false);
  });

  it.skipIf(skipWithoutJudges('oci docker-archive test', allOf(hasSkopeo, isRoot)))('a docker-archive of the same image (skopeo) verifies and converts to the same fsmeta.erofs', () => {
    const archive = join(work, 'image.tar');
    sh('skopeo', ['copy', `oci:${layout}:t`, `docker-archive:${archive}:example/app:t`]);
    const v = runCli(['oci', 'verify', archive, '--json']);
    expect(v.status, v.stdout + v.stderr).toBe(0);
    const report = JSON.parse(v.stdout);
    expect(report.kind).toBe('docker-archive');
    expect(report.images[0].tags).toEqual(['docker.io/example/app:t']);
    expect(report.images[0].layers.map((l: { diffId: string }) => l.diffId)).toEqual(diffIdsByGzip(layout));
    const out = join(work, 'out-docker');
    const c = runCli(['oci', 'convert', `${archive}:t`, '-o', out]);
    expect(c.status, c.stderr).toBe(0);
    const fromLayout = join(work, 'out-layout');
    expect(runCli(['oci', 'convert', `${layout}:t`, '-o', fromLayout]).status).toBe(0);
    const a = readFileSync(join(out, 'fsmeta.erofs'));
    const b = readFileSync(join(fromLayout, 'fsmeta.erofs'));
    expect(a.equals(b)).toBe(true);
  });
});

function spawnFsckErofs(meta: string, devices: string[]): { status: number | null; output: string } | undefined {
  const bin = process.env['EROFS_KIT_FSCK'] ?? 'fsck.erofs18';
  try {
    const out = sh(bin, [...devices.map((d) => `--device=${d}`), meta]);
    return { status: 0, output: out };
  } catch (e) {
    const msg = (e as Error).message;
    if (/ENOENT/.test(msg)) {
      console.warn(`SKIPPED the ${bin} check of fsmeta.erofs: ${bin} not found`);
      return undefined;
    }
    return { status: 1, output: msg };
  }
}
