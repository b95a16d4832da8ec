import { ErofsImage, format, hex, imageHint, inodeRecordEnd, isErofsError, xxdLines, type Inode } from '@erofs-kit/core';
import { FileSource } from '@erofs-kit/core/node';
import { Out, UsageError, deviceOption, strs, type Command } from '../util.js';
import { SUMMARIES } from './summaries.js';

function int(v: unknown, what: string): number | undefined {
  if (v === undefined) return undefined;
  const s = String(v);
  const n = /^0x[0-9a-f]+$/i.test(s) ? parseInt(s.slice(2), 16) : /^[0-9]+$/.test(s) ? parseInt(s, 10) : NaN;
  if (!Number.isSafeInteger(n) || n < 0) throw new UsageError(`${what} ${s} is not a number (decimal or 0x hex)`);
  return n;
}

export const hexdump: Command = {
  name: 'hexdump',
  summary: SUMMARIES.hexdump,
  usage: 'erofs-kit hexdump IMAGE [--path P | --nid N | --offset O --length L] [--device FILE]... [-c COLS] [-g BYTES] [--autoskip]',
  help: `Writes bytes of IMAGE in xxd's layout (offsets are image offsets), preceded by a hint line
"# erofs: blksz=... meta_blkaddr=..." so that a dump of part of an image can still be decoded
(by erofs-kit-lsp, the language server). Without options the whole file is dumped.
  --path P          the inode record of P: inode, inline xattrs, inline data, chunk table or
                    compression map (map header, lcluster indexes, inline compressed tail)
  --nid N           the same for inode N
  --offset O        start at byte O (decimal or 0x hex); --length L bytes (default: to the end)
  -c COLS, -g BYTES bytes per line and per group, as xxd -c and -g (default 16 and 2)
  --autoskip        a line of "*" for runs of identical lines (as xxd -a)
A file that is not an EROFS image (e.g. a tar layer) is dumped without a hint line.`,
  options: {
    ...deviceOption,
    path: { type: 'string' },
    nid: { type: 'string' },
    offset: { type: 'string' },
    length: { type: 'string' },
    cols: { type: 'string', short: 'c' },
    group: { type: 'string', short: 'g' },
    autoskip: { type: 'boolean', short: 'a' },
  },
  async run({ values, positionals }) {
    const [file] = positionals;
    const path = values.path as string | undefined;
    const nid = int(values.nid, '--nid');
    let offset = int(values.offset, '--offset');
    let length = int(values.length, '--length');
    if ([path !== undefined, nid !== undefined, offset !== undefined].filter(Boolean).length > 1) {
      throw new UsageError('give one of --path, --nid and --offset');
    }
    if (length !== undefined && offset === undefined) offset = 0;
    const cols = int(values.cols, '-c') ?? 16;
    const group = int(values.group, '-g') ?? 2;
    if (cols < 1 || cols > 256) throw new UsageError(`-c ${cols} out of range [1, 256]`);
    if (group < 1) throw new UsageError('-g must be at least 1');
    const src = new FileSource(file!);
    const devices = strs(values.device).map((d) => new FileSource(d));
    try {
      let img: ErofsImage | undefined;
      const head = src.size >= 1028 ? src.readSync(1024, 4) : undefined;
      const isErofs = head !== undefined && (head[0]! | (head[1]! << 8) | (head[2]! << 16) | (head[3]! << 24)) >>> 0 === format.EROFS_SUPER_MAGIC;
      if (isErofs) {
        try {
          img = await ErofsImage.open(src, { devices, ignoreChecksum: true });
        } catch (e) {
          // A damaged image is still worth dumping (that is what the dump is for) unless a path was asked for.
          if (!isErofsError(e) || path !== undefined || nid !== undefined) throw e;
        }
      }
      let inode: { nid: number; path?: string } | undefined;
      let start = 0;
      let end = src.size;
      if (path !== undefined || nid !== undefined) {
        if (!img) throw new UsageError(`${file} is not an EROFS image: --path and --nid need one`);
        const ino = path !== undefined ? await img.lookup(path) : await img.inode(nid!);
        start = ino.offset;
        end = Math.min(src.size, await inodeRecordEnd(img, ino));
        inode = path !== undefined ? { nid: ino.nid, path } : { nid: ino.nid };
      } else if (offset !== undefined) {
        if (offset > src.size) throw new UsageError(`--offset ${hex(offset)} is past the end of ${file} (${src.size} bytes)`);
        start = offset;
        end = length === undefined ? src.size : Math.min(src.size, offset + length);
      }
      const out = new Out();
      if (img) {
        out.line(imageHint(img, inode ? [inode] : []));
      }
      // Read and print in pieces of whole lines (an image may be large). --autoskip starts afresh per piece.
      const piece = cols * 65536;
      for (let p = start; p < end; p += piece) {
        const n = Math.min(piece, end - p);
        for (const l of xxdLines(src.readSync(p, n), p, { cols, group, autoskip: values.autoskip === true })) out.line(l);
      }
      out.flush();
      return 0;
    } finally {
      await src.close();
      for (const d of devices) await d.close();
    }
  },
};
