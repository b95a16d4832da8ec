/**
 * Reading a layer: sniffing gzip and zstd, decompressing them as a stream (zlib on libuv's
 * threads, fzstd checked by `zstd -t` when present), standard input, and writing the bytes
 * that pass to a file on libuv's threads. Shared by `index` and `build`.
 */
import { accessSync, constants, write } from 'node:fs';
import { createGunzip, type ZlibOptions } from 'node:zlib';
import { spawn, type ChildProcess } from 'node:child_process';
import { delimiter, join } from 'node:path';
import { Decompress as ZstdDecompress } from 'fzstd';
import { ErofsError, hex } from '@erofs-kit/core';

export type Compression = 'none' | 'gzip' | 'zstd';


export function sniff(head: Uint8Array): Compression {
  if (head[0] === 0x1f && head[1] === 0x8b) return 'gzip';
  if (head[0] === 0x28 && head[1] === 0xb5 && head[2] === 0x2f && head[3] === 0xfd) return 'zstd';
  return 'none';
}

/** Chunks of a Node readable (file or stdin), with the first bytes peeked for sniffing. */
export async function* nodeChunks(stream: NodeJS.ReadableStream): AsyncGenerator<Uint8Array> {
  for await (const c of stream as AsyncIterable<Buffer>) yield new Uint8Array(c.buffer, c.byteOffset, c.byteLength);
}

/**
 * zstd via fzstd (pure JavaScript), which does not check frame content checksums. When the
 * system's `zstd` is available, the compressed bytes are also fed to `zstd -t` running on the
 * other core, and its verdict is awaited at the end: a corrupt stream fails the run.
 */
export async function* zstdChunks(input: AsyncIterable<Uint8Array>, onUnverified: () => void): AsyncGenerator<Uint8Array> {
  const out: Uint8Array[] = [];
  const d = new ZstdDecompress((chunk) => {
    out.push(chunk);
  });
  const checker = startZstdCheck();
  if (!checker) onUnverified();
  let fed = 0;
  try {
    for await (const c of input) {
      await checker?.feed(c);
      try {
        d.push(c);
      } catch (e) {
        throw new ErofsError('invalid-value', `zstd stream is corrupt at or before compressed byte ${hex(fed + c.length)}: ${(e as Error).message}`, { format: 'io', offset: fed });
      }
      fed += c.length;
      while (out.length) yield out.shift()!;
    }
    d.push(new Uint8Array(0), true);
    while (out.length) yield out.shift()!;
    const verdict = await checker?.finish();
    if (verdict) {
      throw new ErofsError('invalid-value', `zstd stream is corrupt at or before compressed byte ${hex(fed)}: ${verdict}`, { format: 'io', offset: fed });
    }
  } finally {
    checker?.abort();
  }
}

interface ZstdCheck {
  feed(c: Uint8Array): Promise<void>;
  /** Resolves to undefined when the stream checks out, else to zstd's complaint. */
  finish(): Promise<string | undefined>;
  abort(): void;
}

/** An executable named `name` on PATH, if any. */
function onPath(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (!dir) continue;
    const f = join(dir, name);
    try {
      accessSync(f, constants.X_OK);
      return f;
    } catch {
      /* not here */
    }
  }
  return undefined;
}

function startZstdCheck(): ZstdCheck | undefined {
  const zstd = onPath('zstd');
  if (!zstd) return undefined;
  let child: ChildProcess;
  try {
    child = spawn(zstd, ['-q', '-t', '-'], { stdio: ['pipe', 'ignore', 'pipe'] });
  } catch {
    return undefined;
  }
  let stderr = '';
  let failedToStart = false;
  child.stderr!.on('data', (b: Buffer) => (stderr += b.toString()));
  const exited = new Promise<number | null>((resolve) => {
    child.on('error', () => {
      failedToStart = true;
      resolve(null);
    });
    child.on('close', (code) => resolve(code));
  });
  child.stdin!.on('error', () => {
    /* the checker stopped reading (it found an error, or is missing): its exit code tells */
  });
  return {
    async feed(c) {
      if (failedToStart || child.stdin!.destroyed) return;
      if (!child.stdin!.write(c)) await new Promise((r) => child.stdin!.once('drain', r));
    },
    async finish() {
      child.stdin!.end();
      const code = await exited;
      if (failedToStart) return undefined;
      return code === 0 ? undefined : stderr.trim().replace(/^.*?\*stdin\*\\?\s*:\s*/, '') || `zstd -t exited ${code}`;
    },
    abort() {
      if (child.exitCode === null && !child.killed) child.kill();
    },
  };
}

/**
 * Inflated bytes zlib may hold ready before the pass asks for them. zlib inflates on libuv's
 * threads, but a Transform stops once its readable buffer passes the high-water mark (16 KiB
 * by default, less than one 1 MiB chunk): inflating would then wait for the parser after
 * every chunk and the two would take turns instead of running side by side.
 */
const GUNZIP_AHEAD = 16 << 20;

export async function* gunzipChunks(input: AsyncIterable<Uint8Array>): AsyncGenerator<Uint8Array> {
  // 1 MiB output chunks: the default 16 KiB means 50,000 pieces for a large layer, each one a
  // trip through the stream, the tar reader, the hash and the --tar-out write.
  // Transform options pass through zlib's constructor (its type omits them).
  const gz = createGunzip({ chunkSize: 1 << 20, readableHighWaterMark: GUNZIP_AHEAD } as ZlibOptions);
  let fed = 0;
  const feed = (async () => {
    for await (const c of input) {
      fed += c.length;
      if (!gz.write(c)) await new Promise((r) => gz.once('drain', r));
    }
    gz.end();
  })();
  feed.catch((e: unknown) => gz.destroy(e as Error));
  try {
    for await (const c of gz as AsyncIterable<Buffer>) yield new Uint8Array(c.buffer, c.byteOffset, c.byteLength);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? '';
    if (code.startsWith('Z_')) {
      // zlib reports no position: name the compressed bytes read so far (the error lies before).
      const what = code === 'Z_BUF_ERROR' ? 'truncated' : 'invalid-value';
      throw new ErofsError(what, `gzip stream is ${what === 'truncated' ? 'truncated' : 'corrupt'} at or before compressed byte ${hex(fed)}: ${(e as Error).message}`, { format: 'io', offset: fed });
    }
    throw e;
  }
  await feed;
}

/** Bytes of --tar-out allowed in flight before the pass waits for the disk. */
const TEE_AHEAD = 64 << 20;

/**
 * Passes every chunk of `input` on, and writes it to `fd` (at increasing offsets from 0) on
 * libuv's threads: the main thread, which parses the tar, only queues the writes. At most
 * TEE_AHEAD bytes wait; then the stream waits for the disk. `done()` resolves once every
 * byte is written and rejects with the first write error.
 */
export function teeToFile(input: AsyncIterable<Uint8Array>, fd: number): { chunks: AsyncGenerator<Uint8Array>; done: () => Promise<void> } {
  let pos = 0;
  let pending = 0;
  let failure: Error | undefined;
  let tail: Promise<void> = Promise.resolve();
  const writeAt = (b: Uint8Array, at: number): Promise<void> =>
    new Promise((resolve, reject) => {
      const step = (off: number): void => {
        if (off === b.length) return resolve();
        write(fd, b, off, b.length - off, at + off, (err, n) => (err ? reject(err) : step(off + n)));
      };
      step(0);
    });
  async function* chunks(): AsyncGenerator<Uint8Array> {
    for await (const c of input) {
      if (failure) throw failure;
      const at = pos;
      pos += c.length;
      pending += c.length;
      const w = writeAt(c, at).then(
        () => {
          pending -= c.length;
        },
        (e: unknown) => {
          failure ??= e as Error;
        },
      );
      tail = tail.then(() => w);
      if (pending > TEE_AHEAD) await w;
      yield c;
    }
  }
  return {
    chunks: chunks(),
    done: async () => {
      await tail;
      if (failure) throw failure;
    },
  };
}

/** An async iterable that first yields `head`, then the rest of `rest`. */
export async function* prepend(head: Uint8Array, rest: AsyncIterable<Uint8Array>): AsyncGenerator<Uint8Array> {
  if (head.length) yield head;
  yield* rest;
}

export async function peek(stream: AsyncIterable<Uint8Array>): Promise<{ head: Uint8Array; rest: AsyncIterator<Uint8Array> }> {
  const it = stream[Symbol.asyncIterator]();
  const parts: Uint8Array[] = [];
  let n = 0;
  while (n < 4) {
    const r = await it.next();
    if (r.done) break;
    parts.push(r.value);
    n += r.value.length;
  }
  const head = new Uint8Array(n);
  let o = 0;
  for (const p of parts) {
    head.set(p, o);
    o += p.length;
  }
  return { head, rest: it };
}


/**
 * The uncompressed tar of `layer` (a path, or '-' for standard input), as chunks, with the
 * compression found by sniffing. `onUnverified` is called when zstd checksums cannot be checked.
 */
export async function layerChunks(layer: string, openFile: (path: string) => AsyncIterable<Uint8Array>, onUnverified: () => void): Promise<{ compression: Compression; chunks: AsyncIterable<Uint8Array> }> {
  const { head, rest } = await peek(layer === '-' ? nodeChunks(process.stdin) : openFile(layer));
  const compression = sniff(head);
  const raw = prepend(head, { [Symbol.asyncIterator]: () => rest });
  const chunks = compression === 'gzip' ? gunzipChunks(raw) : compression === 'zstd' ? zstdChunks(raw, onUnverified) : raw;
  return { compression, chunks };
}

/** Writes every chunk to the open descriptor `fd` (from offset 0); resolves once all are written. */
export async function spool(chunks: AsyncIterable<Uint8Array>, fd: number): Promise<number> {
  const tee = teeToFile(chunks, fd);
  let total = 0;
  for await (const c of tee.chunks) total += c.length;
  await tee.done();
  return total;
}
