/**
 * Convert Image: what `erofs-kit oci convert` writes, done inside the extension host (the CLI is
 * not part of the .vsix) by core's `convertOciImage` — the same function the CLI runs. The
 * extension's policy: every file keeps a temporary name until the whole image is done
 * (`commit: 'at-end'`), so a cancelled or failed conversion leaves nothing behind (folders it
 * made are removed when empty); a long pass lets the event loop run so progress and
 * cancellation are seen.
 */
import { convertOciImage, type ConvertOutput, type HashAlgorithm, type HashFactory, type LayerDecompressor, type OciFiles, type OciSummary, type Platform as OciPlatform } from '@erofs-kit/core';
import { Cancelled, isCancelled } from './errors.js';

export { OCI_SUMMARY_SCHEMA_VERSION, mountCommand, type ConvertOutput, type OciSummary, type PendingFile } from '@erofs-kit/core';

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

/**
 * Converts the image the tag and platform select from `files` into `out`. Throws on the first
 * problem of that image (as the CLI does) and on cancellation ({@link Cancelled}); in both cases
 * nothing new remains in `out`.
 */
export async function convertImage(files: OciFiles, out: ConvertOutput, opts: ConvertOptions): Promise<OciSummary> {
  const { progress, sliceMs, ...rest } = opts;
  try {
    const r = await convertOciImage(files, out, {
      ...rest,
      commit: 'at-end',
      sliceMs: sliceMs ?? 40,
      ...(progress ? { onProgress: (m: string, f: number | undefined) => progress.report(m, f), isCancelled: () => progress.isCancelled() } : {}),
    });
    return r.summary;
  } catch (e) {
    throw isCancelled(e) && !(e instanceof Cancelled) ? new Cancelled() : e;
  }
}
