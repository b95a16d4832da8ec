import { COMPAT_FEATURES, INCOMPAT_FEATURES, compatibility, featuresSet, hex, oldKernelRefusesSymlink, textDecoder, walkBatches, type ErofsImage, type InodeUsage } from '@erofs-kit/core';
import { Out, deviceOption, jsonOption, openImage, strs, formatTime, hexBytes, type Command } from '../util.js';
import { SUMMARIES } from './summaries.js';

function uuidString(b: Uint8Array): string {
  const h = hexBytes(b);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

export const inspect: Command = {
  name: 'inspect',
  summary: SUMMARIES.inspect,
  usage: 'erofs-kit inspect IMAGE [--device FILE]... [--json]',
  help: `Prints the superblock fields, the feature bits (each with the first kernel that mounts it),
the extra devices, and counts of inodes by type and bytes of file data (from a walk of the tree).`,
  options: { ...deviceOption, ...jsonOption },
  async run({ values, positionals }) {
    const [file] = positionals;
    const o = await openImage(file!, strs(values.device));
    try {
      const { img } = o;
      const sb = img.sb;
      const counts = { directories: 0, files: 0, symlinks: 0, charDevices: 0, blockDevices: 0, fifos: 0, sockets: 0, hardlinks: 0, xattrs: 0, fileBytes: 0 };
      const seen = new Set<number>();
      const layouts: Record<string, number> = {};
      let formatBit4 = false;
      let oldKernelSymlinks: InodeUsage['oldKernelSymlinks'];
      for await (const batch of walkBatches(img)) for (const e of batch) {
        const ino = e.inode;
        if (seen.has(ino.nid)) {
          counts.hardlinks++;
          continue;
        }
        seen.add(ino.nid);
        if (ino.bit4) formatBit4 = true;
        if (oldKernelRefusesSymlink(ino, img.blockSize)) {
          if (oldKernelSymlinks) oldKernelSymlinks.count++;
          else oldKernelSymlinks = { count: 1, first: { nid: ino.nid, path: e.path } };
        }
        layouts[ino.layoutName] = (layouts[ino.layoutName] ?? 0) + 1;
        switch (ino.mode & 0o170000) {
          case 0o040000: counts.directories++; break;
          case 0o100000: counts.files++; counts.fileBytes += ino.size; break;
          case 0o120000: counts.symlinks++; break;
          case 0o020000: counts.charDevices++; break;
          case 0o060000: counts.blockDevices++; break;
          case 0o010000: counts.fifos++; break;
          case 0o140000: counts.sockets++; break;
        }
        if (ino.xattrSize > 0) counts.xattrs += (await img.xattrs(ino)).length;
      }
      const nul = sb.volume_name.indexOf(0);
      const info = {
        file,
        imageBytes: img.cache.size,
        blockSize: img.blockSize,
        blkszbits: sb.blkszbits,
        superblockBytes: img.sbSize,
        checksum: hex(sb.checksum),
        checksumVerified: img.checksumOk === true,
        featureCompat: { mask: hex(sb.feature_compat), features: featuresSet(sb.feature_compat, COMPAT_FEATURES) },
        featureIncompat: { mask: hex(sb.feature_incompat), features: featuresSet(sb.feature_incompat, INCOMPAT_FEATURES) },
        minimumKernel: minimumKernel(sb.feature_incompat),
        rootNid: img.rootNid,
        inos: Number(sb.inos),
        blocks: sb.blocks_lo,
        metaBlkaddr: sb.meta_blkaddr,
        xattrBlkaddr: sb.xattr_blkaddr,
        epoch: Number(sb.epoch),
        fixedNsec: sb.fixed_nsec,
        uuid: uuidString(sb.uuid),
        volumeName: textDecoder.decode(sb.volume_name.subarray(0, nul < 0 ? 16 : nul)),
        packedNid: img.packedNid,
        longXattrPrefixes: img.longPrefixes.map((p) => p.prefix),
        compression: compressionInfo(img, layouts),
        compatibility: compatibility(img, { chunkBased: (layouts['chunk-based'] ?? 0) > 0, formatBit4, ...(oldKernelSymlinks ? { oldKernelSymlinks } : {}) }),
        devices: img.devices.map((d) => ({ id: d.index, tag: d.tag, blocks: d.blocks, bytes: d.blocks * img.blockSize, uniaddr: d.uniaddr, attached: d.attached })),
        counts: { inodes: seen.size, ...counts },
        layouts,
      };
      const out = new Out();
      if (values.json) {
        out.line(JSON.stringify(info, null, 2));
      } else {
        const f = (xs: { name: string; kernel: string }[]): string => (xs.length ? xs.map((x) => `${x.name} (${x.kernel})`).join(', ') : 'none');
        const rows: [string, string][] = [
          ['image', `${file} (${info.imageBytes} bytes)`],
          ['block size', `${info.blockSize} (blkszbits ${info.blkszbits})`],
          ['checksum', sb.feature_compat & 1 ? `${info.checksum} (crc32c verified)` : 'none'],
          ['compat', `${info.featureCompat.mask}: ${f(info.featureCompat.features)}`],
          ['incompat', `${info.featureIncompat.mask}: ${f(info.featureIncompat.features)}`],
          ['mounts on', `Linux ${info.compatibility.minimumKernel} or later; written by erofs-utils ${info.compatibility.minimumErofsUtils} or later (${info.compatibility.features.map((x) => `${x.name} ${x.kernel}/${x.erofsUtils}${x.optional ? ' optional' : ''}`).join(', ')})`],
          ['root nid', String(info.rootNid)],
          ['inodes', `${info.inos} (superblock), ${seen.size} reachable`],
          ['blocks', `${info.blocks} (${info.blocks * info.blockSize} bytes on the primary device)`],
          ['meta_blkaddr', String(info.metaBlkaddr)],
          ['xattr_blkaddr', String(info.xattrBlkaddr)],
          ['epoch', `${info.epoch}.${String(info.fixedNsec).padStart(9, '0')} (${formatTime(info.epoch, info.fixedNsec)} UTC)`],
          ['uuid', info.uuid],
          ['volume name', JSON.stringify(info.volumeName)],
        ];
        if (info.compression) {
          const c = info.compression;
          rows.push(['compression', `${c.algorithms.join(', ') || 'none'}${c.features.length ? `; ${c.features.join(', ')}` : ''}`]);
        }
        if (info.packedNid) rows.push(['packed nid', String(info.packedNid)]);
        if (info.longXattrPrefixes.length) rows.push(['xattr prefixes', info.longXattrPrefixes.join(', ')]);
        for (const d of info.devices) {
          rows.push([`device ${d.id}`, `${d.blocks} blocks (${d.bytes} bytes), uniaddr ${d.uniaddr}${d.tag ? `, tag ${JSON.stringify(d.tag)}` : ''}, ${d.attached ? 'attached' : 'not attached (read after the metadata if appended)'}`]);
        }
        rows.push(
          ['directories', String(counts.directories)],
          ['files', `${counts.files} (${counts.fileBytes} bytes)`],
          ['symlinks', String(counts.symlinks)],
          ['devices', `${counts.charDevices} char, ${counts.blockDevices} block`],
          ['fifos/sockets', `${counts.fifos} / ${counts.sockets}`],
          ['hard links', `${counts.hardlinks} extra names`],
          ['xattrs', String(counts.xattrs)],
          ['layouts', Object.entries(layouts).map(([k, v]) => `${k} ${v}`).join(', ')],
        );
        for (const warning of info.compatibility.warnings) rows.push(['note', warning]);
        const w = Math.max(...rows.map((r) => r[0].length));
        for (const [k, v] of rows) out.line(`${k.padEnd(w)}  ${v}`);
      }
      out.flush();
      return 0;
    } finally {
      await o.close();
    }
  },
};

const COMPRESSION_FEATURES = new Set(['zero_padding', 'compr_cfgs', 'ztailpacking', 'fragments']);

/** Compression in use: the algorithms the superblock announces, and the compression features set. */
function compressionInfo(img: ErofsImage, layouts: Record<string, number>): { algorithms: string[]; features: string[]; lz4MaxPclusterBlocks: number } | undefined {
  const sb = img.sb;
  const names = featuresSet(sb.feature_incompat, INCOMPAT_FEATURES).map((f) => f.name);
  const features = names.filter((n) => COMPRESSION_FEATURES.has(n));
  const c = img.compression;
  // Without compr_cfgs LZ4 is implied: name it only when some inode is compressed.
  const compressedInodes = Object.entries(layouts).some(([k, v]) => k.startsWith('compressed') && v > 0);
  if (!compressedInodes && features.length === 0) return undefined;
  return { algorithms: c.names, features, lz4MaxPclusterBlocks: c.lz4MaxPclusterBlks };
}

/** Newest kernel release among the incompat features used (EROFS itself: 5.4). */
function minimumKernel(incompat: number): string {
  let best = '5.4';
  const cmp = (a: string, b: string): number => {
    const [a1, a2] = a.split('.').map(Number);
    const [b1, b2] = b.split('.').map(Number);
    return a1! - b1! || a2! - b2!;
  };
  for (const f of INCOMPAT_FEATURES) if (incompat & f.bit && cmp(f.kernel, best) > 0) best = f.kernel;
  return best;
}
