import { closeSync, createReadStream, statSync, openSync, readSync } from 'node:fs';
import { ErofsError, indexTar, type ByteSource, type TarIndexResult } from '@erofs-kit/core';
import { FileSource, hashFileThreaded, nodeSha256, threadedSha256, type FileHashJob } from '@erofs-kit/core/node';
import { Out, UsageError, jsonOption, warn, type Command } from '../util.js';
import { Progress } from '../progress.js';
import { Outputs, parseTimestamp, parseUuid, writeAllSync } from '../outputs.js';
import { gunzipChunks, nodeChunks, peek, prepend, sniff, teeToFile, zstdChunks, type Compression } from '../layer-input.js';
import { SUMMARIES } from './summaries.js';

/** Layers at least this large hash their diffID on a worker thread. */
const THREADED_HASH_MIN = 16 << 20;

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
  summary: SUMMARIES.index,
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

