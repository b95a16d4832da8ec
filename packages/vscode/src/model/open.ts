/**
 * Opening an image file or a tar layer into an {@link OpenedImage}, independent of VS Code:
 * the caller passes how to get byte sources for sibling files and how to ask the user.
 *
 * A tar-index image needs its tar as extra device 1. In order: the tar appended to the image
 * (the file is long enough to hold the device after the metadata: nothing to attach), a file
 * remembered from an earlier choice, a file beside the image whose name follows from the
 * image's and whose size fits the device table, the blob of an OCI layout (beside the image or
 * up to two folders above) whose digest the image's uuid was made from, and last the user's
 * pick (remembered afterwards).
 */
import { ErofsError, ErofsImage, MemorySource, indexTar, type ByteSource, type DeviceInfo } from '@erofs-kit/core';
import { Cancelled } from './errors.js';
import { OpenedImage } from './image.js';
import { decompressing, sniff, type Container } from './tar.js';

/** What opening needs from its environment (VS Code, or a test). */
export interface OpenHost {
  /** Opens a file for random access (a `file:` path on Node; anything on the web). */
  openSource(uri: string): Promise<ByteSource>;
  /** Size of a file, or undefined when it does not exist. */
  sizeOf(uri: string): Promise<number | undefined>;
  /** Previously chosen device files, by image URI. */
  remembered(imageUri: string): string[] | undefined;
  remember(imageUri: string, devices: string[]): Promise<void>;
  /** Asks the user for the file holding device `dev`; undefined when they cancel. */
  askDevice(imageUri: string, dev: DeviceInfo, blockSize: number): Promise<string | undefined>;
  /** Names in a directory (for OCI layouts); undefined when it does not exist. */
  listDir?(uri: string): Promise<string[] | undefined>;
  /** A place for decompressed tar bytes (a temporary file on Node, memory on the web). */
  spool?(): Spool;
}

export interface Spool {
  write(chunk: Uint8Array): void;
  /** The bytes written, for random access. */
  finish(): Promise<ByteSource>;
  discard(): Promise<void>;
}

export interface Progress {
  /** Bytes of the input consumed so far, of `total`. */
  report(done: number, total: number): void;
  isCancelled(): boolean;
}

/** `dir/name.ext` → [dir URI, name]. */
export function splitUri(uri: string): [string, string] {
  const i = uri.lastIndexOf('/');
  return [uri.slice(0, i), uri.slice(i + 1)];
}

const IMAGE_EXT = /\.(erofs|img|cfs|meta)$/i;

/** Sibling names that may hold the tar (or blob) of a tar-index image named `name`. */
export function deviceCandidates(name: string): string[] {
  const stem = name.replace(IMAGE_EXT, '');
  const stems = [stem];
  const bare = stem.replace(/[-._](meta|index|erofs)$/i, '');
  if (bare !== stem && bare.length > 0) stems.push(bare);
  const out: string[] = [];
  for (const s of stems) out.push(`${s}.tar`, `${s}-layer.tar`, `${s}.blob`);
  return [...new Set(out)].filter((n) => n !== name);
}

/**
 * Whether an OCI blob name (the sha256 of an uncompressed layer, i.e. its diffID) is the
 * layer a tar index was made from: erofs-kit's index writer takes the volume uuid from the
 * diffID's first 16 bytes with the version and variant bits set (`uuidFromDigest`).
 */
export function blobMatchesUuid(name: string, uuid: Uint8Array): boolean {
  if (!/^[0-9a-f]{64}$/.test(name) || uuid.length !== 16 || uuid.every((b) => b === 0)) return false;
  for (let i = 0; i < 16; i++) {
    let a = parseInt(name.slice(i * 2, i * 2 + 2), 16);
    let b = uuid[i]!;
    if (i === 6) [a, b] = [a & 0x0f, b & 0x0f];
    if (i === 8) [a, b] = [a & 0x3f, b & 0x3f];
    if (a !== b) return false;
  }
  return true;
}

/** Folders that may hold an OCI layout's `blobs/sha256` for an image in `dir`: it and two parents. */
function ociBlobDirs(dir: string): string[] {
  const out: string[] = [];
  let d = dir;
  for (let i = 0; i < 3 && d.includes('/'); i++) {
    out.push(`${d}/blobs/sha256`);
    d = d.slice(0, d.lastIndexOf('/'));
  }
  return out;
}

/** A stable, URI-safe id for a mounted file: its name plus a hash of the full URI. */
export function mountId(uri: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < uri.length; i++) {
    h ^= uri.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  const name = splitUri(uri)[1]!.replace(/[^A-Za-z0-9._-]/g, '_').slice(0, 60) || 'image';
  return `${name}-${h.toString(16).padStart(8, '0')}`;
}

/** Whether device `d` lies inside the primary file (a tar appended after the metadata). */
export function appended(d: DeviceInfo, blockSize: number, primarySize: number): boolean {
  return d.uniaddr > 0 && (d.uniaddr + d.blocks) * blockSize <= primarySize;
}

export async function openImageFile(host: OpenHost, uri: string): Promise<OpenedImage> {
  const primary = await host.openSource(uri);
  const sources: ByteSource[] = [primary];
  try {
    const probe = await ErofsImage.open(primary, { cache: { maxBytes: 1 << 20 } });
    const devices: ByteSource[] = [];
    const notes: string[] = [];
    const chosen: string[] = [];
    const bs = probe.blockSize;
    const missing = probe.devices.filter((d) => !appended(d, bs, primary.size));
    if (missing.length > 0 && missing.length === probe.devices.length) {
      const [dir, name] = splitUri(uri);
      const remembered = host.remembered(uri);
      for (const d of probe.devices) {
        const need = d.blocks * bs;
        let found: string | undefined;
        const tryUri = async (u: string | undefined): Promise<boolean> => {
          if (u === undefined) return false;
          const size = await host.sizeOf(u);
          if (size !== undefined && size >= need) found = u;
          return found !== undefined;
        };
        const fromMemory = remembered?.[d.index - 1];
        if (await tryUri(fromMemory)) notes.push(`device ${d.index}: ${splitUri(found!)[1]} (chosen before)`);
        else {
          for (const c of d.index === 1 ? deviceCandidates(name) : []) {
            if (await tryUri(`${dir}/${c}`)) {
              notes.push(`device ${d.index}: ${c} (beside the image)`);
              break;
            }
          }
        }
        if (found === undefined && d.index === 1 && host.listDir) {
          search: for (const blobs of ociBlobDirs(dir)) {
            for (const n of (await host.listDir(blobs)) ?? []) {
              if (blobMatchesUuid(n, probe.sb.uuid) && (await tryUri(`${blobs}/${n}`))) {
                notes.push(`device ${d.index}: OCI layout blob sha256:${n.slice(0, 12)}… (its digest matches the image's uuid)`);
                break search;
              }
            }
          }
        }
        if (found === undefined) {
          const picked = await host.askDevice(uri, d, bs);
          if (picked === undefined) throw new Cancelled();
          const size = await host.sizeOf(picked);
          if (size === undefined || size < need) {
            throw new ErofsError('missing-device', `${splitUri(picked)[1]} holds ${size ?? 0} bytes but device ${d.index} needs ${need} (${d.blocks} blocks of ${bs})`, {
              offset: d.slotOffset,
            });
          }
          found = picked;
          notes.push(`device ${d.index}: ${splitUri(picked)[1]} (chosen)`);
        }
        chosen.push(found);
        const src = await host.openSource(found);
        sources.push(src);
        devices.push(src);
      }
      if (chosen.some((c, i) => c !== remembered?.[i])) await host.remember(uri, chosen);
    } else if (probe.devices.length > 0) {
      notes.push(`devices appended to the image after its metadata (${probe.devices.map((d) => `device ${d.index} at block ${d.uniaddr}`).join(', ')})`);
    }
    const image = devices.length > 0 ? await ErofsImage.open(primary, { devices }) : await ErofsImage.open(primary);
    return new OpenedImage({ id: mountId(uri), label: splitUri(uri)[1]!, name: uri, kind: 'erofs', image, sources, deviceNotes: notes });
  } catch (e) {
    for (const s of sources) await s.close?.();
    throw e;
  }
}

/** Reads a source front to back in pieces (progress and cancellation between pieces). */
export async function* chunksOf(src: ByteSource, progress?: Progress, piece = 1 << 20): AsyncGenerator<Uint8Array> {
  for (let o = 0; o < src.size; o += piece) {
    if (progress?.isCancelled()) throw new Cancelled();
    const n = Math.min(piece, src.size - o);
    // A copy: a Node file source may hand out a buffer that is reused.
    yield (await src.read(o, n)).slice();
    progress?.report(o + n, src.size);
  }
}

export interface TarLayer {
  opened: OpenedImage;
  diffId: string;
  container: Container;
}

/**
 * Opens a tar layer (plain, gzip or zstd) as a folder: its tar index is built in memory in one
 * pass, and the file data is read from the tar itself (a plain tar in place; a compressed one
 * from its decompressed bytes, spooled by the host).
 */
export async function openTarLayer(host: OpenHost, uri: string, progress?: Progress): Promise<TarLayer> {
  const file = await host.openSource(uri);
  const sources: ByteSource[] = [file];
  let spool: Spool | undefined;
  try {
    const head = await file.read(0, Math.min(file.size, 512));
    const container = sniff(head);
    if (container === 'erofs' || container === 'unknown') {
      throw new ErofsError('bad-magic', `${splitUri(uri)[1]} is not a tar layer (no tar header, gzip or zstd magic at 0x0)`, { offset: 0, format: 'tar' });
    }
    let device: ByteSource;
    let result;
    if (container === 'tar') {
      result = await indexTar(chunksOf(file, progress));
      device = file;
    } else {
      spool = host.spool?.() ?? memorySpool();
      const s = spool;
      result = await indexTar(decompressing(chunksOf(file, progress), container), { tap: (c) => s.write(c) });
      device = await s.finish();
      sources.push(device);
    }
    if (progress?.isCancelled()) throw new Cancelled();
    const deviceBlocks = result.deviceBlocks;
    const meta = new MemorySource(result.image, `${splitUri(uri)[1]} (tar index)`);
    const image = await ErofsImage.open(meta, { devices: [device] });
    const notes = [`tar index built in memory: ${result.entries} entries, ${result.inodes} inodes, ${result.image.length} bytes of metadata`, `device 1: the tar${container === 'tar' ? '' : ` (${container}-decompressed)`}, ${deviceBlocks} blocks`];
    const opened = new OpenedImage({ id: mountId(uri), label: splitUri(uri)[1]!, name: uri, kind: 'tar', image, sources, deviceNotes: notes });
    return { opened, diffId: result.diffId, container };
  } catch (e) {
    await spool?.discard();
    for (const s of sources) await s.close?.();
    throw e;
  }
}

/** Keeps decompressed bytes in memory (the web build; small layers). */
export function memorySpool(limit = 1 << 30): Spool {
  const parts: Uint8Array[] = [];
  let size = 0;
  return {
    write(chunk) {
      size += chunk.length;
      if (size > limit) throw new ErofsError('too-large', `decompressed tar exceeds ${limit} bytes kept in memory`, { offset: size, format: 'tar' });
      parts.push(chunk.slice());
    },
    async finish() {
      const all = new Uint8Array(size);
      let o = 0;
      for (const p of parts) {
        all.set(p, o);
        o += p.length;
      }
      parts.length = 0;
      return new MemorySource(all, 'decompressed tar');
    },
    async discard() {
      parts.length = 0;
    },
  };
}
