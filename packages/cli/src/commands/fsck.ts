import { fsck as check } from '@erofs-kit/core';
import { Out, deviceOption, jsonOption, openImage, strs, type Command } from '../util.js';
import { Progress } from '../progress.js';

export const fsck: Command = {
  name: 'fsck',
  summary: 'check an image: every inode, directory, xattr and byte of data',
  usage: 'erofs-kit fsck IMAGE [--device FILE]... [--json]',
  help: `Walks the whole tree, decodes every inode, reads every byte of every file, every symlink and
every xattr, and checks directories ("." and "..", sort order, dirent types), the xattr name
filter and link counts. Exit 0 when no error is found, 1 otherwise (warnings do not fail).`,
  options: { ...deviceOption, ...jsonOption },
  async run({ values, positionals }) {
    const [file] = positionals;
    const o = await openImage(file!, strs(values.device));
    const progress = new Progress(!values.json);
    try {
      const report = await check(o.img, { onProgress: (n, b) => progress.update(`checked ${n} inodes, ${(b / 1048576).toFixed(1)} MiB`) });
      progress.done();
      const out = new Out();
      if (values.json) out.line(JSON.stringify({ file, ...report }, null, 2));
      else {
        for (const p of report.problems) {
          out.line(`${file}${p.offset !== undefined ? ':0x' + p.offset.toString(16) : ''}: ${p.severity}: ${p.code}: ${p.message}${p.path ? ` (path ${p.path})` : ''}`);
        }
        const s = report.stats;
        out.line(`${report.ok ? 'ok' : 'FAILED'}: ${s.inodes} inodes (${s.directories} directories, ${s.files} files, ${s.symlinks} symlinks, ${s.special} special), ${s.bytes} bytes of data, ${s.xattrs} xattrs; ${report.problems.filter((p) => p.severity === 'error').length} errors, ${report.problems.filter((p) => p.severity === 'warning').length} warnings`);
      }
      out.flush();
      return report.ok ? 0 : 1;
    } finally {
      progress.done();
      await o.close();
    }
  },
};
