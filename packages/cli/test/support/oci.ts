/**
 * OCI image layouts for the tests: made by umoci (make-oci.sh), and edited copies whose
 * defects are placed by hand (a JSON document rewritten, its blob stored under its new digest,
 * and every parent descriptor up to index.json updated, so that only the intended defect is
 * left).
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { allOf, isRoot, type JudgeResult } from './judges.js';

export const MAKE_OCI = fileURLToPath(new URL('./make-oci.sh', import.meta.url));

function runs(cmd: string, args: string[]): boolean {
  const r = spawnSync(cmd, args, { stdio: 'ignore', timeout: 30_000 });
  return r.error === undefined && r.status === 0;
}

export function hasUmoci(): JudgeResult {
  return runs('umoci', ['--version']) ? { ok: true } : { ok: false, reason: 'umoci not found (apt-get install -y umoci)' };
}

export function hasSkopeo(): JudgeResult {
  return runs('skopeo', ['--version']) ? { ok: true } : { ok: false, reason: 'skopeo not found (apt-get install -y skopeo)' };
}

export function hasZstd(): JudgeResult {
  return runs('zstd', ['--version']) ? { ok: true } : { ok: false, reason: 'zstd not found (apt-get install -y zstd)' };
}

export function hasSetfattr(): JudgeResult {
  return runs('setfattr', ['--version']) ? { ok: true } : { ok: false, reason: 'setfattr not found (apt-get install -y attr)' };
}

/** What make-oci.sh needs: umoci, root (device nodes, owners) and setfattr. */
export function ociJudges(): JudgeResult {
  return allOf(hasUmoci, isRoot, hasSetfattr);
}

export function sh(cmd: string, args: string[], cwd?: string): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 300_000, maxBuffer: 1 << 26, ...(cwd ? { cwd } : {}) });
  if (r.error) throw new Error(`${cmd} ${args.join(' ')}: ${r.error.message}`);
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.status ?? r.signal}: ${(r.stderr || r.stdout).trim()}`);
  return r.stdout;
}

/** Runs make-oci.sh in `dir`: the layout is `dir/img`, tag `t`. */
export function makeUmociLayout(dir: string): string {
  sh('bash', [MAKE_OCI, dir]);
  return join(dir, 'img');
}

export const sha256Of = (b: Uint8Array): string => 'sha256:' + createHash('sha256').update(b).digest('hex');
export const blobFile = (layout: string, digest: string): string => join(layout, 'blobs', ...digest.split(':'));

type J = Record<string, any>;

export function readJson(file: string): J {
  return JSON.parse(readFileSync(file, 'utf8')) as J;
}

/** A copy of `layout` at `to`. */
export function copyLayout(layout: string, to: string): string {
  rmSync(to, { recursive: true, force: true });
  cpSync(layout, to, { recursive: true });
  return to;
}

/** The layout's (first) image: manifest and config digests, documents and blob paths. */
export function imageOf(layout: string): { manifestDigest: string; manifest: J; configDigest: string; config: J; layers: J[] } {
  const index = readJson(join(layout, 'index.json'));
  const manifestDigest = index.manifests[0].digest as string;
  const manifest = readJson(blobFile(layout, manifestDigest));
  const configDigest = manifest.config.digest as string;
  return { manifestDigest, manifest, configDigest, config: readJson(blobFile(layout, configDigest)), layers: manifest.layers as J[] };
}

function putBlob(layout: string, bytes: Uint8Array): { digest: string; size: number } {
  const digest = sha256Of(bytes);
  writeFileSync(blobFile(layout, digest), bytes);
  return { digest, size: bytes.length };
}

/** Rewrites the manifest (stored under its new digest; index.json updated). Returns its new digest. */
export function editManifest(layout: string, edit: (m: J) => void): string {
  const { manifest } = imageOf(layout);
  edit(manifest);
  const d = putBlob(layout, new TextEncoder().encode(JSON.stringify(manifest)));
  const index = readJson(join(layout, 'index.json'));
  index.manifests[0].digest = d.digest;
  index.manifests[0].size = d.size;
  writeFileSync(join(layout, 'index.json'), JSON.stringify(index));
  return d.digest;
}

/** Rewrites the config (new blob; manifest and index.json updated). Returns the new config and manifest digests. */
export function editConfig(layout: string, edit: (c: J) => void): { configDigest: string; manifestDigest: string } {
  const { config } = imageOf(layout);
  edit(config);
  const d = putBlob(layout, new TextEncoder().encode(JSON.stringify(config)));
  const manifestDigest = editManifest(layout, (m) => {
    m.config.digest = d.digest;
    m.config.size = d.size;
  });
  return { configDigest: d.digest, manifestDigest };
}

/** The sha256 of each layer blob decompressed by gzip(1): the diffIDs computed by another tool. */
export function diffIdsByGzip(layout: string): string[] {
  return imageOf(layout).layers.map((l) => {
    const r = spawnSync('gzip', ['-dc', blobFile(layout, l.digest)], { maxBuffer: 1 << 30 });
    if (r.status !== 0) throw new Error(`gzip -dc ${l.digest} failed`);
    return sha256Of(r.stdout);
  });
}
