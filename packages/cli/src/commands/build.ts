import { closeSync, openSync, statSync, writeSync } from 'node:fs';
import { buildFromTar } from '@erofs-kit/core';
import { FileSource } from '@erofs-kit/core/node';
import { Out, UsageError, jsonOption, warn, type Command } from '../util.js';
import { Outputs, parseTimestamp, parseUuid } from '../outputs.js';

const BLOCK_SIZES: Record<string, number> = { '512': 9, '1024': 10, '2048': 11, '4096': 12 };

export const build: Command = {
  name: 'build',
  summary: 'a full EROFS image (file data copied in) from a layer tar',
  usage: 'erofs-kit build LAYER.tar -o IMAGE [--block-size N] [--no-inline-data] [--aufs] [--uuid UUID] [--timestamp SECONDS] [--label NAME] [--json]',
  help: `Builds a self-contained, uncompressed EROFS image from a tar file, with the same tree as
'erofs-kit index' gives it (later entries win, hard links, implicit parents, --aufs whiteouts),
every regular file's bytes copied into the image. The same input and options give the same bytes.
So far the input must be an uncompressed tar file (decompress gzip or zstd layers first);
directories as input come later.
  -o, --output FILE     the image
  --block-size N        512, 1024, 2048 or 4096 (default 4096)
  --no-inline-data      no inline tails for regular files (mkfs.erofs -E noinline_data)
  --aufs                .wh.NAME becomes an overlayfs whiteout, .wh..wh..opq an opaque directory
  --uuid UUID           volume uuid (default all zeros)
  --timestamp SECONDS   superblock time base (default: SOURCE_DATE_EPOCH, else the most common mtime)
  --label NAME          volume name (at most 16 bytes)
  --json                print the result as JSON`,
  options: {
    ...jsonOption,
    output: { type: 'string', short: 'o' },
    'block-size': { type: 'string' },
    'no-inline-data': { type: 'boolean' },
    aufs: { type: 'boolean' },
    uuid: { type: 'string' },
    timestamp: { type: 'string' },
    label: { type: 'string' },
  },
  async run({ values, positionals }) {
    const [layer] = positionals;
    if (!layer) throw new UsageError('build needs a LAYER.tar');
    const output = values.output as string | undefined;
    if (!output) throw new UsageError('build needs -o IMAGE');
    const bsText = (values['block-size'] as string | undefined) ?? '4096';
    const bits = BLOCK_SIZES[bsText];
    if (bits === undefined) throw new UsageError(`--block-size ${bsText}: expected 512, 1024, 2048 or 4096`);
    const uuid = values.uuid !== undefined ? parseUuid(values.uuid as string) : undefined;
    const sde = process.env.SOURCE_DATE_EPOCH;
    const timestamp =
      values.timestamp !== undefined ? parseTimestamp(values.timestamp as string, '--timestamp') : sde ? parseTimestamp(sde, 'SOURCE_DATE_EPOCH') : undefined;
    let label: Uint8Array | undefined;
    if (values.label !== undefined) {
      label = new TextEncoder().encode(values.label as string);
      if (label.length > 16) throw new UsageError(`--label ${values.label as string}: ${label.length} bytes, at most 16`);
      const padded = new Uint8Array(16);
      padded.set(label);
      label = padded;
    }
    if (layer === '-') throw new UsageError('build reads a tar file (it reads each file again when it writes it): save standard input to a file first');
    let isDir = false;
    try {
      isDir = statSync(layer).isDirectory();
    } catch {
      /* FileSource reports a missing file */
    }
    if (isDir) throw new UsageError(`${layer} is a directory: building from a directory is not supported yet (tar it, or wait for it)`);

    const source = new FileSource(layer);
    const outputs = new Outputs();
    let fd: number | undefined;
    try {
      const head = source.size >= 4 ? source.readSync(0, 4) : new Uint8Array(0);
      if ((head[0] === 0x1f && head[1] === 0x8b) || (head[0] === 0x28 && head[1] === 0xb5 && head[2] === 0x2f && head[3] === 0xfd)) {
        throw new UsageError(`${layer} is compressed: build reads an uncompressed tar (decompress it first, e.g. erofs-kit index ... --tar-out)`);
      }
      const temp = outputs.temp(output);
      fd = openSync(temp, 'wx', 0o644);
      const out = fd;
      const result = await buildFromTar(
        source,
        {
          write(offset, bytes) {
            let o = 0;
            while (o < bytes.length) o += writeSync(out, bytes, o, bytes.length - o, offset + o);
          },
        },
        {
          blkszbits: bits,
          inlineData: values['no-inline-data'] !== true,
          aufs: values.aufs === true,
          ...(uuid ? { uuid } : {}),
          ...(timestamp ? { timestamp } : {}),
          ...(label ? { volumeName: label } : {}),
        },
      );
      closeSync(fd);
      fd = undefined;
      outputs.commit(temp, output);
      for (const w of result.warnings.slice(0, 20)) warn(`${w.path ?? ''}${w.path ? ': ' : ''}${w.message}`);
      if (result.warnings.length > 20) warn(`${result.warnings.length - 20} more warnings`);
      const o = new Out();
      if (values.json) o.line(JSON.stringify({ image: output, bytes: result.bytes, blocks: result.blocks, blockSize: 2 ** bits, inodes: result.inodes, entries: result.entries, warnings: result.warnings }, null, 2));
      else o.line(`${output}: ${result.bytes} bytes (${result.blocks} blocks of ${2 ** bits}), ${result.inodes} inodes from ${result.entries} tar entries`);
      o.flush();
      return 0;
    } catch (e) {
      if (fd !== undefined) closeSync(fd);
      outputs.cleanup();
      throw e;
    } finally {
      await source.close();
    }
  },
};
