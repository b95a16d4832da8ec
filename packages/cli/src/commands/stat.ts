import { hex } from '@erofs-kit/core';
import { entryJSON } from './ls.js';
import { Out, deviceOption, jsonOption, openImage, strs, modeString, formatTime, showValue, hexBytes, type Command } from '../util.js';
import { SUMMARIES } from './summaries.js';

export const stat: Command = {
  name: 'stat',
  summary: SUMMARIES.stat,
  usage: 'erofs-kit stat IMAGE PATH [--device FILE]... [--json]',
  help: `Prints the inode behind PATH: nid, byte offset, on-disk format (compact/extended), data
layout, mode, nlink, uid, gid, size, mtime, rdev, symlink target, the data map (block ranges or
chunk map with devices, inline tail position) and every xattr (shared or inline).`,
  options: { ...deviceOption, ...jsonOption },
  async run({ values, positionals }) {
    const [file, path] = positionals;
    if (path === undefined) throw new (await import('../util.js')).UsageError('stat needs IMAGE and PATH');
    const o = await openImage(file!, strs(values.device));
    try {
      const { img } = o;
      const ino = await img.lookup(path);
      const extents = await img.extents(ino);
      const xattrs = await img.xattrs(ino);
      const bs = img.blockSize;
      const map = extents.map((e) => ({
        logical: e.logical,
        length: e.length,
        device: e.device,
        physical: e.device === null ? null : e.physical,
        block: e.device === null ? null : Math.floor(e.physical / bs),
        inline: e.device === 0 && e.physical === ino.inlineBase,
        ...(e.entryOffset !== undefined ? { entryOffset: e.entryOffset } : {}),
        ...(e.compression ? { compression: e.compression } : {}),
      }));
      const info = {
        ...(await entryJSON(img, path, ino)),
        offset: ino.offset,
        inodeFormat: ino.compact ? 'compact' : 'extended',
        inodeBytes: ino.inodeSize,
        iFormat: hex(ino.format),
        layout: ino.layoutName,
        xattrBytes: ino.xattrSize,
        iU: hex(ino.iu),
        ...(ino.layout === 4 ? { chunkSize: bs * 2 ** (ino.iu & 0x1f), chunkFormat: ino.iu & 0x20 ? 'indexes' : 'block map' } : {}),
        map,
        xattrs: xattrs.map((x) => ({ name: x.name, value: hexBytes(x.value), shared: x.shared, offset: x.offset, kernelVisible: x.kernelVisible })),
      };
      const out = new Out();
      if (values.json) out.line(JSON.stringify(info, null, 2));
      else {
        out.line(`path      ${path}`);
        out.line(`nid       ${ino.nid} (inode at byte ${hex(ino.offset)}, ${info.inodeFormat} ${ino.inodeSize} bytes, i_format ${info.iFormat})`);
        out.line(`type      ${info.type}, ${modeString(ino.mode)} (${info.mode})`);
        out.line(`layout    ${info.layout}${info.chunkSize ? `, ${info.chunkFormat}, chunk size ${info.chunkSize}` : ''}`);
        out.line(`size      ${ino.size}`);
        out.line(`links     ${ino.nlink}`);
        out.line(`owner     uid ${ino.uid}, gid ${ino.gid}`);
        out.line(`mtime     ${ino.mtime}.${String(ino.mtimeNsec).padStart(9, '0')} (${formatTime(ino.mtime, ino.mtimeNsec)} UTC)`);
        if (ino.rdev) out.line(`rdev      ${ino.rdev.major}:${ino.rdev.minor}`);
        if (info.target !== undefined) out.line(`target    ${info.target}`);
        if (map.length) {
          out.line('data map');
          for (const m of map) {
            const z = m.compression;
            let where: string;
            if (m.device === null) where = 'hole';
            else if (z?.storage === 'fragment') where = `fragment at byte ${hex(m.physical!)} of the packed inode (${z.encodedLength} bytes)`;
            else if (z?.storage === 'inline') where = `${z.algorithm} inline tail at byte ${hex(m.physical!)} (${z.encodedLength} bytes)`;
            else if (z) where = `${z.algorithm} pcluster at block ${m.block} (byte ${hex(m.physical!)}, ${z.encodedLength} bytes)${z.partial ? ', partial (dedupe)' : ''}`;
            else if (m.inline) where = `inline at byte ${hex(m.physical!)}`;
            else where = `device ${m.device} block ${m.block} (byte ${hex(m.physical!)})`;
            out.line(`  [${m.logical}, ${m.logical + m.length}) -> ${where}`);
          }
        }
        if (xattrs.length) {
          out.line(`xattrs    (${ino.xattrSize} bytes inline)`);
          for (const x of xattrs) out.line(`  ${x.name}=${showValue(x.value)}${x.shared ? ' (shared)' : ''}${x.kernelVisible ? '' : ' (not visible through the kernel)'}`);
        }
      }
      out.flush();
      return 0;
    } finally {
      await o.close();
    }
  },
};
