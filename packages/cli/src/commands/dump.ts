import { dumpImage } from '@erofs-kit/core';
import { nodeSha256 } from '@erofs-kit/core/node';
import { Out, UsageError, deviceOption, openImage, type Command } from '../util.js';
import { SUMMARIES } from './summaries.js';

export const dump: Command = {
  name: 'dump',
  summary: SUMMARIES.dump,
  usage: 'erofs-kit dump IMAGE [--format composefs] [--device FILE]...',
  help: `Prints one line per file: PATH SIZE MODE NLINK UID GID RDEV MTIME PAYLOAD CONTENT DIGEST
and the xattrs, depth first in name order, as composefs-info dump prints them. A composefs image
is shown as its input was (the overlayfs xattrs become PAYLOAD and DIGEST, escaped
trusted.overlay.overlay.* xattrs are unescaped, whiteouts are char 0/0 again, the root's stubs
and opaque marker are left out); 'erofs-kit build --composefs' turns the dump back into the
same image. Any other EROFS image is printed as it is: regular files up to 5000 bytes as
CONTENT, larger ones by the fs-verity digest of their bytes (DIGEST, and PAYLOAD its store path).
  --format composefs   the output format (the only one so far)`,
  options: {
    ...deviceOption,
    format: { type: 'string' },
  },
  async run({ values, positionals }) {
    const format = (values.format as string | undefined) ?? 'composefs';
    if (format !== 'composefs') throw new UsageError(`--format ${format}: only composefs is supported`);
    const { img, close } = await openImage(positionals[0]!, (values.device as string[] | undefined) ?? []);
    try {
      const out = new Out();
      for await (const line of dumpImage(img, { hash: nodeSha256 })) out.line(line.slice(0, -1));
      out.flush();
      return 0;
    } finally {
      await close();
    }
  },
};
