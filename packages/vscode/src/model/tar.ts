/** What a file holds, by its first bytes; and decompression of gzip and zstd layers as streams. */
import { ErofsError, format, isErofsError } from '@erofs-kit/core';
import { isCancelled } from './errors.js';
import { Decompress as ZstdDecompress } from 'fzstd';

export type Container = 'erofs' | 'tar' | 'gzip' | 'zstd' | 'unknown';

export function sniff(head: Uint8Array): Container {
  if (head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b) return 'gzip';
  if (head.length >= 4 && head[0] === 0x28 && head[1] === 0xb5 && head[2] === 0x2f && head[3] === 0xfd) return 'zstd';
  if (head.length >= 262 && String.fromCharCode(...head.subarray(257, 262)) === 'ustar') return 'tar';
  if (head.length >= 1028) {
    const m = (head[1024]! | (head[1025]! << 8) | (head[1026]! << 16) | (head[1027]! << 24)) >>> 0;
    if (m === format.EROFS_SUPER_MAGIC) return 'erofs';
  }
  // A v7 tar has no magic: a header whose checksum field is octal digits is taken as one.
  if (head.length >= 512 && /^[0-7 ]{6,7}[\0 ]/.test(String.fromCharCode(...head.subarray(148, 156))) && head[0] !== 0) return 'tar';
  return 'unknown';
}

/** Decompresses a gzip or zstd stream piece by piece. */
export async function* decompressing(input: AsyncIterable<Uint8Array>, container: 'gzip' | 'zstd'): AsyncGenerator<Uint8Array> {
  if (container === 'gzip') {
    const ds = new DecompressionStream('gzip');
    const writer = ds.writable.getWriter();
    const reader = ds.readable.getReader();
    const pump = (async () => {
      try {
        for await (const c of input) await writer.write(c as Uint8Array<ArrayBuffer>);
        await writer.close();
      } catch (e) {
        await writer.abort(e).catch(() => undefined);
        throw e;
      }
    })();
    pump.catch(() => undefined);
    try {
      for (;;) {
        const r = await reader.read();
        if (r.done) break;
        yield r.value;
      }
    } catch (e) {
      // A failure of the input (cancellation, a read error) reaches the reader as it is.
      if (isCancelled(e) || isErofsError(e)) throw e;
      throw new ErofsError('invalid-value', `gzip: ${(e as Error).message}`, { format: 'tar' });
    }
    await pump;
    return;
  }
  const out: Uint8Array[] = [];
  const z = new ZstdDecompress((chunk) => {
    out.push(chunk);
  });
  try {
    for await (const c of input) {
      z.push(c);
      while (out.length > 0) yield out.shift()!;
    }
    z.push(new Uint8Array(0), true);
  } catch (e) {
    if (isCancelled(e) || isErofsError(e)) throw e;
    throw new ErofsError('invalid-value', `zstd: ${(e as Error).message}`, { format: 'tar' });
  }
  while (out.length > 0) yield out.shift()!;
}
