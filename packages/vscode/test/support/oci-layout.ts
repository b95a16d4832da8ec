/**
 * A small OCI image layout written into a folder for tests: ustar layers (gzip or plain),
 * config with rootfs.diff_ids, manifest, index.json with a tag, oci-layout.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';

export interface Entry {
  name: string;
  /** Directory when it ends in '/'. */
  data?: string;
  mode?: number;
}

const enc = new TextEncoder();

function field(h: Uint8Array, off: number, len: number, s: string): void {
  h.set(enc.encode(s).subarray(0, len), off);
}

function octal(h: Uint8Array, off: number, len: number, n: number): void {
  field(h, off, len, n.toString(8).padStart(len - 1, '0') + '\0');
}

/** A ustar archive of `entries`, in order, with the two zero blocks at the end. */
export function ustar(entries: Entry[]): Uint8Array {
  const parts: Uint8Array[] = [];
  for (const e of entries) {
    const dir = e.name.endsWith('/');
    const data = enc.encode(dir ? '' : (e.data ?? ''));
    const h = new Uint8Array(512);
    field(h, 0, 100, e.name);
    octal(h, 100, 8, e.mode ?? (dir ? 0o755 : 0o644));
    octal(h, 108, 8, 0);
    octal(h, 116, 8, 0);
    octal(h, 124, 12, data.length);
    octal(h, 136, 12, 1_700_000_000);
    field(h, 148, 8, '        ');
    field(h, 156, 1, dir ? '5' : '0');
    field(h, 257, 6, 'ustar\0');
    field(h, 263, 2, '00');
    let sum = 0;
    for (const b of h) sum += b;
    field(h, 148, 8, sum.toString(8).padStart(6, '0') + '\0 ');
    parts.push(h, data, new Uint8Array((512 - (data.length % 512)) % 512));
  }
  parts.push(new Uint8Array(1024));
  const out = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

export const sha256Of = (b: Uint8Array): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;

export interface Layout {
  dir: string;
  manifest: string;
  config: string;
  /** Blob digests, base layer first. */
  layers: string[];
  diffIds: string[];
  /** The uncompressed tars. */
  tars: Uint8Array[];
}

/** Writes the layout to `dir`; layers are gzip-compressed unless `compression` says otherwise (zstd needs the zstd program). */
export function writeOciLayout(dir: string, layers: Entry[][], opts: { tag?: string; compression?: 'none' | 'gzip' | 'zstd' } = {}): Layout {
  mkdirSync(join(dir, 'blobs', 'sha256'), { recursive: true });
  const put = (b: Uint8Array): string => {
    const d = sha256Of(b);
    writeFileSync(join(dir, 'blobs', 'sha256', d.slice(7)), b);
    return d;
  };
  const tars = layers.map(ustar);
  const compression = opts.compression ?? 'gzip';
  const blobs = tars.map((t) =>
    compression === 'gzip' ? new Uint8Array(gzipSync(t)) : compression === 'zstd' ? new Uint8Array(execFileSync('zstd', ['-q', '-c'], { input: t })) : t,
  );
  const layerDigests = blobs.map(put);
  const diffIds = tars.map(sha256Of);
  const config = enc.encode(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: diffIds }, config: {} }));
  const configDigest = put(config);
  const manifest = enc.encode(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: configDigest, size: config.length },
      layers: blobs.map((b, i) => ({ mediaType: `application/vnd.oci.image.layer.v1.tar${compression === 'none' ? '' : '+' + compression}`, digest: layerDigests[i], size: b.length })),
    }),
  );
  const manifestDigest = put(manifest);
  const index = {
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.index.v1+json',
    manifests: [
      {
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        digest: manifestDigest,
        size: manifest.length,
        platform: { architecture: 'amd64', os: 'linux' },
        annotations: { 'org.opencontainers.image.ref.name': opts.tag ?? 'v1' },
      },
    ],
  };
  writeFileSync(join(dir, 'index.json'), JSON.stringify(index));
  writeFileSync(join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  return { dir, manifest: manifestDigest, config: configDigest, layers: layerDigests, diffIds, tars };
}

/** The layers the tests use: a base with a file and a directory, and an upper layer that deletes one and adds another. */
export const TWO_LAYERS: Entry[][] = [
  [{ name: 'etc/' }, { name: 'etc/hostname', data: 'base\n' }, { name: 'a.txt', data: 'one\n' }],
  [{ name: '.wh.a.txt' }, { name: 'b.txt', data: 'two\n' }, { name: 'etc/os-release', data: 'ID=test\n' }],
];
