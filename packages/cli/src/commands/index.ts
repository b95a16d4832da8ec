import { accessSync, closeSync, constants, createReadStream, statSync, openSync, readSync, write } from 'node:fs';
import { createGunzip, type ZlibOptions } from 'node:zlib';
import { spawn, type ChildProcess } from 'node:child_process';
import { delimiter, join } from 'node:path';
import { Decompress as ZstdDecompress } from 'fzstd';
import { ErofsError, hex, indexTar, type ByteSource, type TarIndexResult } from '@erofs-kit/core';
import { FileSource, hashFileThreaded, nodeSha256, threadedSha256, type FileHashJob } from '@erofs-kit/core/node';
import { Out, UsageError, jsonOption, warn, type Command } from '../util.js';
import { Progress } from '../progress.js';
import { Outputs, parseTimestamp, parseUuid, writeAllSync } from '../outputs.js';

type Compression = 'none' | 'gzip' | 'zstd';

/** Layers at least this large hash their diffID on a worker thread. */
const THREADED_HASH_MIN = 16 << 20;

function sniff(head: Uint8Array): Compression {
  if (head[0] === 0x1f && head[1] === 0x8b) return 'gzip';
  if (head[0] === 0x28 && head[1] === 0xb5 && head[2] === 0x2f && head[3] === 0xfd) return 'zstd';
  return 'none';
}

/** Chunks of a Node readable (file or stdin), with the first bytes peeked for sniffing. */
async function* nodeChunks(stream: NodeJS.ReadableStream): AsyncGenerator<Uint8Array> {
  for await (const c of stream as AsyncIterable<Buffer>) yield new Uint8Array(c.buffer, c.byteOffset, c.byteLength);
}

/**
 * zstd via fzstd (pure JavaScript), which does not check frame content checksums. When the
 * system's `zstd` is available, the compressed bytes are also fed to `zstd -t` running on the
 * other core, and its verdict is awaited at the end: a corrupt stream fails the run.
 */
async function* zstdChunks(input: AsyncIterable<Uint8Array>, onUnverified: () => void): AsyncGenerator<Uint8Array> {
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

async function* gunzipChunks(input: AsyncIterable<Uint8Array>): AsyncGenerator<Uint8Array> {
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
function teeToFile(input: AsyncIterable<Uint8Array>, fd: number): { chunks: AsyncGenerator<Uint8Array>; done: () => Promise<void> } {
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
async function* prepend(head: Uint8Array, rest: AsyncIterable<Uint8Array>): AsyncGenerator<Uint8Array> {
  if (head.length) yield head;
  yield* rest;
}

async function peek(stream: AsyncIterable<Uint8Array>): Promise<{ head: Uint8Array; rest: AsyncIterator<Uint8Array> }> {
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

/** Appends the whole file `from` to the open descriptor. */
function appendFile(fd: number, from: string): void {
  const src = openSync(from, 'r');
  try {
    const buf = Buffer.allocUnsafe(1 << 20);
    for (;;) {
      const n = readSync(src, buf, 0, buf.length, null);
      if (n === 0) break;
      writeAllSync(fd, buf.subarray(0, n));
    }
  } finally {
    closeSync(src);
  }
}

export const index: Command = {
  name: 'index',
  summary: 'turn a layer tar into EROFS metadata that points into the untouched tar',
  usage: 'erofs-kit index LAYER -o META.erofs [--tar-out FILE] [--append] [--aufs] [--uuid UUID] [--timestamp SECONDS] [--verity] [--expect-diffid sha256:HEX] [--json]',
  help: `LAYER is a tar file, a gzip- or zstd-compressed tar, or - for standard input. The output is an
EROFS image with 512-byte blocks whose regular files are chunk-based inodes pointing at their data
inside the tar, which the kernel reads as an extra device:
  L=$(losetup -f --show layer.tar); mount -t erofs -o ro,device=$L META.erofs DIR
  -o, --output FILE     the metadata image
  --tar-out FILE        also write the uncompressed tar (needed for compressed input, unless --append)
  --append              write one file holding the metadata followed by the tar (mountable on its own)
  --aufs                .wh.NAME becomes an overlayfs whiteout, .wh..wh..opq an opaque directory
  --uuid UUID           volume uuid (default: derived from the diffID)
  --timestamp SECONDS   superblock build time (default: SOURCE_DATE_EPOCH, else the layer's most
                        common mtime); file mtimes always come from the tar
  --verity              also report the fs-verity digest (sha256, 4 KiB blocks) of the tar
  --expect-diffid D     fail (exit 1, nothing written) unless the tar's sha256 is D
  --json                print the result as JSON
The same input and options always give the same bytes. Reports the tar's sha256 (its diffID).`,
  options: {
    ...jsonOption,
    output: { type: 'string', short: 'o' },
    'tar-out': { type: 'string' },
    append: { type: 'boolean' },
    aufs: { type: 'boolean' },
    uuid: { type: 'string' },
    timestamp: { type: 'string' },
    verity: { type: 'boolean' },
    'expect-diffid': { type: 'string' },
  },
  async run({ values, positionals }) {
    const [layer] = positionals;
    const output = values.output as string | undefined;
    if (!output) throw new UsageError('index needs -o META.erofs');
    const tarOut = values['tar-out'] as string | undefined;
    const append = values.append === true;
    const expect = values['expect-diffid'] as string | undefined;
    if (expect !== undefined && !/^sha256:[0-9a-f]{64}$/.test(expect)) throw new UsageError(`--expect-diffid ${expect}: expected sha256:<64 hex digits>`);
    const uuid = values.uuid !== undefined ? parseUuid(values.uuid as string) : undefined;
    const sde = process.env.SOURCE_DATE_EPOCH;
    const timestamp =
      values.timestamp !== undefined ? parseTimestamp(values.timestamp as string, '--timestamp') : sde ? parseTimestamp(sde, 'SOURCE_DATE_EPOCH') : undefined;

    const outputs = new Outputs();
    const progress = new Progress(!values.json);
    let source: FileSource | undefined;
    let tarFd: number | undefined;
    let tee: ReturnType<typeof teeToFile> | undefined;
    let tarTemp: string | undefined;
    let fileHash: FileHashJob | undefined;
    try {
      // Open the input and find out whether it is compressed.
      let input: AsyncIterable<Uint8Array> | ByteSource;
      let compression: Compression;
      let seekablePath: string | undefined;
      if (layer === '-') {
        const { head, rest } = await peek(nodeChunks(process.stdin));
        compression = sniff(head);
        input = prepend(head, { [Symbol.asyncIterator]: () => rest });
      } else {
        source = new FileSource(layer!);
        const head = source.size >= 4 ? source.readSync(0, 4) : new Uint8Array(0);
        compression = sniff(head);
        if (compression === 'none') {
          input = source;
          seekablePath = layer;
        } else {
          await source.close();
          source = undefined;
          input = nodeChunks(createReadStream(layer!, { highWaterMark: 1 << 20 }));
        }
      }
      if (compression === 'gzip') input = gunzipChunks(input as AsyncIterable<Uint8Array>);
      else if (compression === 'zstd') {
        input = zstdChunks(input as AsyncIterable<Uint8Array>, () =>
          warn('zstd content checksums are not verified (no zstd command to check them): pass --expect-diffid to detect a corrupt stream'),
        );
      }
      if (!seekablePath && !tarOut && !append) {
        throw new UsageError(`${layer === '-' ? 'standard input' : layer} is ${compression === 'none' ? 'a stream' : `${compression}-compressed`}: the image's data lives in the uncompressed tar, so pass --tar-out FILE or --append`);
      }
      // Where the uncompressed tar goes during the pass (when it is not already a file).
      if (tarOut) tarTemp = outputs.temp(tarOut);
      else if (append && !seekablePath) tarTemp = outputs.temp(output + '.tar');
      if (tarTemp) tarFd = openSync(tarTemp, 'wx', 0o644);
      // A stream's bytes are written by libuv's threads as they pass (the main thread parses);
      // a seekable tar copied with --tar-out goes through the tap.
      if (tarFd !== undefined && !seekablePath) {
        tee = teeToFile(input as AsyncIterable<Uint8Array>, tarFd);
        input = tee.chunks;
      }
      let seen = 0;
      // The diffID's hashing takes about a third of the pass on a large layer: on another
      // core it overlaps with parsing. A tar file is read and hashed by a worker of its own
      // (the pass then reads only headers and the data it needs); a stream's bytes go to the
      // hashing worker as they pass. Not worth a thread for a small file.
      const big = !seekablePath || (source?.size ?? 0) >= THREADED_HASH_MIN;
      if (big && seekablePath && source) fileHash = hashFileThreaded(source.descriptor, layer!);
      const result: TarIndexResult = await indexTar(input, {
        aufs: values.aufs === true,
        ...(fileHash ? { sha256: fileHash.result.then((r) => r.digest) } : { hash: big ? threadedSha256 : nodeSha256 }),
        ...(uuid ? { uuid } : {}),
        ...(timestamp ? { timestamp } : {}),
        ...(values.verity ? { verity: { hash: nodeSha256 } } : {}),
        tap: (chunk) => {
          if (tarFd !== undefined && !tee) writeAllSync(tarFd, chunk);
          seen += chunk.length;
          progress.update(`indexed ${(seen / 1048576).toFixed(0)} MiB`);
        },
      });
      progress.done();
      if (fileHash) {
        const { bytes } = await fileHash.result;
        if (bytes !== result.tarBytes) {
          throw new ErofsError('io', `${layer} changed while it was indexed: ${result.tarBytes} bytes parsed, ${bytes} bytes hashed`, { format: 'io', path: layer! });
        }
      }
      await tee?.done();
      if (tarFd !== undefined) {
        closeSync(tarFd);
        tarFd = undefined;
      }
      if (expect !== undefined && result.diffId !== expect) {
        throw new ErofsError('digest-mismatch', `the tar's sha256 is ${result.diffId}, expected ${expect}`, { format: 'tar', path: layer! });
      }
      // Write the image (and the appended tar) to a temp file, then rename into place.
      const imgTemp = outputs.temp(output);
      const fd = openSync(imgTemp, 'wx', 0o644);
      try {
        writeAllSync(fd, result.image);
        if (append) appendFile(fd, seekablePath ?? tarTemp!);
      } finally {
        closeSync(fd);
      }
      if (tarOut) outputs.commit(tarTemp!, tarOut);
      outputs.commit(imgTemp, output);
      outputs.cleanup();
      for (const w of result.warnings.slice(0, 20)) warn(`${w.path ?? ''}${w.path ? ': ' : ''}${w.message}`);
      if (result.warnings.length > 20) warn(`${result.warnings.length - 20} more warnings`);
      const out = new Out();
      const info = {
        image: output,
        imageBytes: result.image.length,
        ...(append ? { appended: true, fileBytes: statSync(output).size } : {}),
        ...(tarOut ? { tar: tarOut } : {}),
        diffId: result.diffId,
        ...(result.verity ? { verity: result.verity } : {}),
        tarBytes: result.tarBytes,
        deviceBlocks: result.deviceBlocks,
        entries: result.entries,
        inodes: result.inodes,
        warnings: result.warnings,
      };
      if (values.json) out.line(JSON.stringify(info, null, 2));
      else {
        out.line(`${output}: ${result.image.length} bytes of metadata, ${result.inodes} inodes from ${result.entries} tar entries${append ? ', tar appended' : ''}`);
        out.line(`diffID ${result.diffId}`);
        if (result.verity) out.line(`fs-verity ${result.verity}`);
      }
      out.flush();
      return 0;
    } catch (e) {
      progress.done();
      fileHash?.cancel();
      // Writes still queued must end before the descriptor closes (its number could be reused).
      await tee?.done().catch(() => undefined);
      if (tarFd !== undefined) closeSync(tarFd);
      outputs.cleanup();
      throw e;
    } finally {
      await source?.close();
    }
  },
};

