import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fsckSource, type ByteSource } from '@erofs-kit/core';
import { FileSource, nodeSha256 } from '@erofs-kit/core/node';
import { Out, UsageError, deviceOption, jsonOption, strs, type Command } from '../util.js';
import { Progress } from '../progress.js';
import { REPORT_SCHEMA_VERSION } from '../report.js';
import { SUMMARIES } from './summaries.js';

export const fsck: Command = {
  name: 'fsck',
  summary: SUMMARIES.fsck,
  usage: 'erofs-kit fsck IMAGE [--device FILE]... [--no-data] [--objects DIR] [--json]',
  help: `Checks the superblock (checksum, feature bits, block count, inode count), then walks the
whole tree from the root: every inode decodes, layout fields agree with sizes, inline tails stay
in their block, blocks and chunks lie inside their devices, directories are sorted with valid
names and right "." and "..", no directory is reached twice, link counts equal references,
xattrs are well formed, compressed extents decode to their sizes and every byte of data reads.
Each problem names its check, error code, inode or path and byte offset.
  --no-data   do not read or decompress file data: check every map only (as fsck.erofs
              does without --extract)
  --objects DIR  an overlayfs object store (composefs): every file's metacopy digest is
              checked against the fs-verity digest of the object its redirect names, and
              missing objects are listed. Without it only the metacopy and redirect
              xattrs themselves are checked
Exit 0 when no error is found (warnings do not fail), 1 otherwise.`,
  options: { ...deviceOption, ...jsonOption, 'no-data': { type: 'boolean' }, objects: { type: 'string' } },
  async run({ values, positionals }) {
    const [file] = positionals;
    const sources: FileSource[] = [];
    const progress = new Progress(!values.json);
    try {
      const src = new FileSource(file!);
      sources.push(src);
      const devices = strs(values.device).map((d) => {
        const s = new FileSource(d);
        sources.push(s);
        return s;
      });
      const store = values.objects as string | undefined;
      if (store !== undefined && !(existsSync(store) && statSync(store).isDirectory())) throw new UsageError(`--objects ${store}: not a directory`);
      const objects = store === undefined ? undefined : async (rel: string): Promise<ByteSource | undefined> => {
        // Only paths inside the store: no "..", no empty components.
        if (rel.split('/').some((p) => p === '' || p === '.' || p === '..')) return undefined;
        const p = join(store, rel);
        if (!existsSync(p) || !statSync(p).isFile()) return undefined;
        const s = new FileSource(p);
        sources.push(s);
        return s;
      };
      const report = await fsckSource(src, {
        devices,
        data: values['no-data'] !== true,
        onProgress: (n, b) => progress.update(`checked ${n} inodes, ${(b / 1048576).toFixed(1)} MiB`),
        ...(objects ? { objects, hash: nodeSha256 } : {}),
      });
      progress.done();
      const out = new Out();
      if (values.json) out.line(JSON.stringify({ schema: 'erofs-kit/fsck-report', schemaVersion: REPORT_SCHEMA_VERSION, file, ...report }, null, 2));
      else {
        for (const p of report.problems) {
          const where = [p.nid !== undefined ? `inode ${p.nid}` : '', p.path ? `path ${p.path}` : ''].filter(Boolean).join(', ');
          out.line(`${file}${p.offset !== undefined ? ':0x' + p.offset.toString(16) : ''}: ${p.severity}: ${p.check}: ${p.code}: ${p.message}${where ? ` (${where})` : ''}`);
        }
        if (report.truncated > 0) out.line(`... and ${report.truncated} more problems`);
        const missing = [...new Set(report.problems.filter((p) => p.check === 'object' && p.code === 'not-found').map((p) => p.message.split(' ')[1]!))];
        if (missing.length > 0) out.line(`missing objects (${missing.length}):\n${missing.map((m) => '  ' + m).join('\n')}`);
        const s = report.stats;
        const errors = report.problems.filter((p) => p.severity === 'error').length;
        out.line(`${report.ok ? 'ok' : 'FAILED'}: ${s.inodes} inodes (${s.directories} directories, ${s.files} files, ${s.symlinks} symlinks, ${s.special} special), ${s.bytes} bytes of data, ${s.xattrs} xattrs; ${errors} errors, ${report.problems.length - errors} warnings`);
      }
      out.flush();
      return report.ok ? 0 : 1;
    } finally {
      progress.done();
      for (const s of sources) await s.close();
    }
  },
};
