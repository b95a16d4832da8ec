/**
 * convertOciImage over an in-memory output folder: what it writes (every byte known), the reuse
 * of converted layers, the two commit policies, and cancellation (AbortSignal or a callback)
 * leaving nothing behind. The CLI's and the extension's tests compare its files with each other
 * and with the kernel's mount.
 */
import { describe, expect, it } from 'vitest';
import { gzipSync } from 'fflate';
import { MemorySource, type ByteSource } from '../src/io/source.js';
import { sha256, toHex } from '../src/digest/hash.js';
import { memoryFiles } from '../src/oci/files.js';
import { ConvertCancelled, convertOciImage, mountCommand, type ConvertOptions, type ConvertOutput, type ConvertStep, type PendingFile } from '../src/oci/convert.js';
import { ErofsImage } from '../src/erofs/image.js';
import { isErofsError } from '../src/errors.js';
import { archive, member } from './tar-corpus/craft.js';

const enc = new TextEncoder();
const dec = new TextDecoder();
const digestOf = (b: Uint8Array): string => `sha256:${toHex(sha256().update(b).digest())}`;
type J = Record<string, any>;

const TARS = [
  archive(member({ name: './', type: '5', mode: 0o755 }), member({ name: 'a', mode: 0o644 }, 'one'), member({ name: 'd/', type: '5', mode: 0o750 }), member({ name: 'd/x', mode: 0o600 }, 'x')),
  archive(member({ name: '.wh.a', mode: 0o644 }), member({ name: 'b', mode: 0o644 }, 'two')),
];

/** A one-image layout of gzip layers (tag "v1"); `config` edits the config before digests are taken. */
function layout(config?: (c: J) => void): { files: Map<string, Uint8Array>; diffIds: string[] } {
  const files = new Map<string, Uint8Array>();
  const put = (b: Uint8Array): string => {
    const d = digestOf(b);
    files.set(`blobs/sha256/${d.slice(7)}`, b);
    return d;
  };
  const gz = TARS.map((t) => gzipSync(t, { mtime: 0 }));
  const layers = gz.map(put);
  const diffIds = TARS.map(digestOf);
  const c: J = { architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [...diffIds] }, config: {} };
  config?.(c);
  const cb = enc.encode(JSON.stringify(c));
  const manifest = {
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: put(cb), size: cb.length },
    layers: gz.map((g, i) => ({ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: layers[i], size: g.length })),
  };
  const mb = enc.encode(JSON.stringify(manifest));
  const md = put(mb);
  const index = { schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: [{ mediaType: manifest.mediaType, digest: md, size: mb.length, annotations: { 'org.opencontainers.image.ref.name': 'v1' } }] };
  files.set('index.json', enc.encode(JSON.stringify(index)));
  files.set('oci-layout', enc.encode(JSON.stringify({ imageLayoutVersion: '1.0.0' })));
  return { files, diffIds };
}

/** An output folder in memory: files by path, folders, and every file ever created (by temporary name). */
class MemoryOutput implements ConvertOutput {
  readonly name = 'memory';
  readonly files = new Map<string, Uint8Array>();
  readonly dirs = new Set<string>();
  readonly created: string[] = [];
  private serial = 0;
  async size(rel: string): Promise<number | undefined> {
    return this.files.get(rel)?.length;
  }
  async readText(rel: string): Promise<string | undefined> {
    const b = this.files.get(rel);
    return b && dec.decode(b);
  }
  async openSource(rel: string): Promise<ByteSource> {
    return new MemorySource(this.files.get(rel)!, rel);
  }
  async mkdir(rel: string): Promise<boolean> {
    if (this.dirs.has(rel)) return false;
    this.dirs.add(rel);
    return true;
  }
  async rmdirIfEmpty(rel: string): Promise<void> {
    const prefix = rel === '' ? '' : `${rel}/`;
    const busy = [...this.files.keys(), ...this.dirs].some((p) => p !== rel && p.startsWith(prefix) && (rel !== '' || p !== ''));
    if (!busy) this.dirs.delete(rel);
  }
  async create(rel: string): Promise<PendingFile> {
    const tmp = `${rel}.tmp-${++this.serial}`;
    this.created.push(rel);
    const parts: Uint8Array[] = [];
    let state: 'open' | 'closed' | 'done' = 'open';
    return {
      write: (c) => {
        if (state !== 'open') throw new Error(`${rel}: write after close`);
        parts.push(c.slice());
      },
      close: async () => {
        const all = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
        let o = 0;
        for (const p of parts) (all.set(p, o), (o += p.length));
        this.files.set(tmp, all);
        state = 'closed';
      },
      commit: async () => {
        if (state !== 'closed') throw new Error(`${rel}: commit before close`);
        this.files.set(rel, this.files.get(tmp)!);
        this.files.delete(tmp);
        state = 'done';
      },
      abort: async () => {
        if (state === 'done') return;
        this.files.delete(tmp);
        state = 'done';
      },
    };
  }
}

const convert = (files: Map<string, Uint8Array>, out: ConvertOutput, opts: Partial<ConvertOptions> = {}) => convertOciImage(memoryFiles(files), out, { input: 'mem', ...opts });

describe('convertOciImage', () => {
  it('writes each layer tar, index and stamp by diffID, fsmeta.erofs and summary.json', async () => {
    const { files, diffIds } = layout();
    const out = new MemoryOutput();
    const steps: ConvertStep[] = [];
    const { summary, inodes } = await convert(files, out, { tag: 'v1', onProgress: (_m, _f, s) => void steps.push(s) });
    const hexes = diffIds.map((d) => d.slice(7));
    expect([...out.files.keys()].sort()).toEqual([...hexes.flatMap((h) => ['tar', 'erofs', 'json'].map((e) => `layers/${h}.${e}`)), 'fsmeta.erofs', 'summary.json'].sort());
    expect([...out.dirs].sort()).toEqual(['', 'layers']);
    hexes.forEach((h, i) => expect(out.files.get(`layers/${h}.tar`)).toEqual(TARS[i]));
    const stamp = JSON.parse(dec.decode(out.files.get(`layers/${hexes[0]}.json`)!));
    expect(stamp).toMatchObject({ diffId: diffIds[0], tarBytes: TARS[0]!.length });
    expect(JSON.parse(dec.decode(out.files.get('summary.json')!))).toEqual(summary);
    expect(dec.decode(out.files.get('summary.json')!)).toBe(JSON.stringify(summary, null, 2) + '\n');
    expect(summary).toMatchObject({ schema: 'erofs-kit/oci-summary', schemaVersion: 1, metadata: 'fsmeta.erofs', image: { input: 'mem', tag: 'v1', platform: 'linux/amd64' } });
    expect(summary.devices.map((d) => [d.device, d.path, d.diffId, d.reused])).toEqual(hexes.map((h, i) => [i + 1, `layers/${h}.tar`, diffIds[i], false]));
    expect(summary.mount).toBe(mountCommand(hexes.map((h) => `layers/${h}.tar`)));
    // fsmeta.erofs: the layers applied in order (a whited out, b added).
    const img = await ErofsImage.open(new MemorySource(out.files.get('fsmeta.erofs')!));
    const names = (await img.readdir(await img.lookup('/'))).map((e) => dec.decode(e.name)).filter((n) => n !== '.' && n !== '..');
    expect(names.sort()).toEqual(['b', 'd']);
    expect(inodes).toBeGreaterThan(0);
    expect(steps[0]).toBe('layout');
    expect(steps.filter((s) => s === 'layer')).toHaveLength(2);
    expect(steps.at(-1)).toBe('merge');
  });

  it('a second run reuses the layers (no layer file written again) and writes the same bytes', async () => {
    const { files } = layout();
    const out = new MemoryOutput();
    const first = await convert(files, out);
    const meta = out.files.get('fsmeta.erofs');
    out.created.length = 0;
    const again = await convert(files, out);
    expect(out.created).toEqual(['fsmeta.erofs', 'summary.json']);
    expect(out.files.get('fsmeta.erofs')).toEqual(meta);
    expect(again.summary.devices.map((d) => d.reused)).toEqual([true, true]);
    expect(again.summary.devices.map((d) => ({ ...d, reused: false }))).toEqual(first.summary.devices);
  });

  for (const how of ['signal', 'callback'] as const) {
    it(`cancelled (${how}) during the second layer: nothing is left, the folders it made are gone`, async () => {
      const { files } = layout();
      const out = new MemoryOutput();
      const ctl = new AbortController();
      let cancel = false;
      const err = await convert(files, out, {
        ...(how === 'signal' ? { signal: ctl.signal } : { isCancelled: () => cancel }),
        onProgress: (m) => {
          if (m.startsWith('layer 2/2')) (ctl.abort(), (cancel = true));
        },
      }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ConvertCancelled);
      expect((err as Error).name).toBe('Cancelled');
      expect([...out.files.keys()]).toEqual([]);
      expect([...out.dirs]).toEqual([]);
      expect(out.created.length).toBeGreaterThan(0);
    });
  }

  it("commit 'each-layer' keeps the layers checked before a failure (no temporary file, no fsmeta.erofs); 'at-end' keeps nothing", async () => {
    const { files, diffIds } = layout((c) => (c.rootfs.diff_ids[1] = `sha256:${'0'.repeat(64)}`));
    const each = new MemoryOutput();
    const e1 = await convert(files, each, { commit: 'each-layer' }).catch((e: unknown) => e);
    expect(isErofsError(e1) && e1.code).toBe('digest-mismatch');
    expect([...each.files.keys()].sort()).toEqual(['tar', 'erofs', 'json'].map((e) => `layers/${diffIds[0]!.slice(7)}.${e}`).sort());
    const end = new MemoryOutput();
    const e2 = await convert(files, end, { commit: 'at-end' }).catch((e: unknown) => e);
    expect(isErofsError(e2) && e2.message).toBe(isErofsError(e1) && e1.message);
    expect([...end.files.keys()]).toEqual([]);
    expect([...end.dirs]).toEqual([]);
  });

  it('a cancellation before anything is written leaves the output untouched', async () => {
    const { files } = layout();
    const out = new MemoryOutput();
    const ctl = new AbortController();
    ctl.abort();
    await expect(convert(files, out, { signal: ctl.signal })).rejects.toBeInstanceOf(ConvertCancelled);
    expect(out.created).toEqual([]);
    expect([...out.dirs]).toEqual([]);
  });
});
