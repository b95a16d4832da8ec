/**
 * The corruption suite: hand-described defects, each made from a valid fixture by a small
 * patch, with the fsck check erofs-kit must report and what the two references do with it
 * (`fsck.erofs18`, the Linux kernel mounting the image and reading every file). The test
 * (`../fsck-corrupt.test.ts`) builds each image, runs all three and compares with this table,
 * so a change in any of them shows up.
 *
 * Patches locate structures with the reader (paths → inodes → offsets) and field offsets
 * through core's structure tables, so no offset is written down here. The superblock
 * checksum is recomputed after every patch except where the checksum is the defect.
 */
import { readFileSync } from 'node:fs';
import { ErofsImage, MemorySource, crc32c, fieldOf, format as F, textEncoder, type DirEntry, type FsckCheck, type Inode } from '@erofs-kit/core';

/** What a reference does with a defective image. */
export type KernelVerdict =
  /** mount(2) fails. */
  | 'mount-refused'
  /** It mounts, but listing the tree or reading a file, link or xattr fails. */
  | 'read-error'
  /** It mounts and everything reads back without an error. */
  | 'accepted';

export interface Defect {
  id: string;
  fixture: string;
  description: string;
  /** The check erofs-kit reports it under, and its severity. */
  check: FsckCheck;
  severity: 'error' | 'warning';
  /** Does `fsck.erofs18` exit non-zero on it? */
  fsckErofs: 'rejects' | 'accepts';
  kernel: KernelVerdict;
  patch(p: Patcher): Promise<void>;
}

/** A copy of a fixture's bytes and the reader's view of the original, for locating things. */
export class Patcher {
  truncateTo: number | undefined;
  resum = true;
  private constructor(
    readonly b: Buffer,
    readonly img: ErofsImage,
  ) {}

  static async of(path: string, devices: string[] = []): Promise<Patcher> {
    const b = readFileSync(path);
    const devs = devices.map((d) => new MemorySource(new Uint8Array(readFileSync(d))));
    const img = await ErofsImage.open(new MemorySource(new Uint8Array(b)), { devices: devs });
    return new Patcher(Buffer.from(b), img);
  }

  /** The image bytes after the patch (checksum recomputed unless the patch turned that off). */
  result(): Buffer {
    const out = this.truncateTo === undefined ? this.b : this.b.subarray(0, this.truncateTo);
    if (this.resum && this.img.sb.feature_compat & 1) {
      const bs = this.img.blockSize;
      const area = Buffer.from(out.subarray(1024, bs > 1024 ? bs : 1024 + bs));
      area.fill(0, 4, 8);
      out.writeUInt32LE(crc32c(0xffffffff, area), 1024 + fieldOf(F.superBlock, 'checksum').offset);
    }
    return out;
  }

  ino(path: string): Promise<Inode> {
    return this.img.lookup(path);
  }

  /** Absolute offset of a field of an inode (compact or extended table as the inode is). */
  field(ino: Inode, name: string): number {
    const table = ino.compact ? F.inodeCompact : F.inodeExtended;
    return ino.offset + fieldOf(table as typeof F.inodeExtended, name as 'i_format').offset;
  }

  /** Absolute offset of a superblock field. */
  sb(name: string): number {
    return 1024 + fieldOf(F.superBlock, name as 'magic').offset;
  }

  async dirent(dir: string, name: string): Promise<DirEntry> {
    const ents = await this.img.readdir(await this.img.lookup(dir));
    const want = textEncoder.encode(name);
    const d = ents.find((e) => Buffer.from(e.name).equals(want));
    if (!d) throw new Error(`fixture has no ${dir}/${name}`);
    return d;
  }

  /** Absolute offset of a dirent field. */
  direntField(d: DirEntry, name: 'nid' | 'nameoff' | 'file_type'): number {
    return d.offset + fieldOf(F.dirent, name).offset;
  }

  /** Where the bytes of a dirent's name are. */
  async nameAt(dir: string, name: string): Promise<number> {
    const d = await this.dirent(dir, name);
    const ino = await this.img.lookup(dir);
    // nameoff counts from the start of the directory block: the inline tail after the inode, or a whole block.
    const block = ino.layoutName === 'flat-inline' && d.offset >= ino.inlineBase ? ino.inlineBase : d.offset - (d.offset % this.img.blockSize);
    const nameoff = this.b.readUInt16LE(this.direntField(d, 'nameoff'));
    const at = block + nameoff;
    if (!this.b.subarray(at, at + name.length).equals(Buffer.from(name))) throw new Error(`name ${name} not at ${at}`);
    return at;
  }

  /** Byte offset of the first inline xattr entry of an inode (after the ibody header and shared ids). */
  firstXattrEntry(ino: Inode): number {
    const hdr = ino.offset + ino.inodeSize;
    const shared = this.b[hdr + fieldOf(F.xattrIbodyHeader, 'h_shared_count').offset]!;
    return hdr + F.xattrIbodyHeader.size + 4 * shared;
  }
}

const SB_NID = (p: Patcher): number => p.img.rootNid;

export const DEFECTS: Defect[] = [
  // ------------------------------------------------------------------ superblock
  {
    id: 'sb-checksum-flipped', fixture: 'basic-4k', check: 'sb-checksum', severity: 'error', fsckErofs: 'rejects', kernel: 'mount-refused',
    description: 'one bit of the stored superblock crc32c is flipped; nothing else changes',
    async patch(p) {
      p.b[p.sb('checksum')]! ^= 0x01;
      p.resum = false;
    },
  },
  {
    id: 'sb-byte-after-superblock', fixture: 'basic-4k', check: 'sb-checksum', severity: 'error', fsckErofs: 'rejects', kernel: 'mount-refused',
    description: 'a byte of block 0 after the 128-byte superblock (still covered by the checksum) is changed without updating the checksum',
    async patch(p) {
      p.b[1024 + 200]! ^= 0xff;
      p.resum = false;
    },
  },
  {
    id: 'sb-bad-magic', fixture: 'basic-4k', check: 'superblock', severity: 'error', fsckErofs: 'rejects', kernel: 'mount-refused',
    description: 'the first byte of the superblock magic is changed: not an EROFS image any more',
    async patch(p) {
      p.b[p.sb('magic')] = 0x00;
    },
  },
  {
    id: 'sb-blkszbits-20', fixture: 'basic-4k', check: 'superblock', severity: 'error', fsckErofs: 'rejects', kernel: 'mount-refused',
    description: 'blkszbits is 20 (1 MiB blocks), outside 9..16',
    async patch(p) {
      p.b[p.sb('blkszbits')] = 20;
    },
  },
  {
    id: 'sb-unknown-incompat', fixture: 'basic-4k', check: 'sb-features', severity: 'error', fsckErofs: 'rejects', kernel: 'mount-refused',
    description: 'feature_incompat gets bit 31, which no kernel defines: a reader must refuse the image',
    async patch(p) {
      p.b.writeUInt32LE((p.b.readUInt32LE(p.sb('feature_incompat')) | 0x80000000) >>> 0, p.sb('feature_incompat'));
    },
  },
  {
    id: 'sb-unknown-compat', fixture: 'basic-4k', check: 'sb-features', severity: 'warning', fsckErofs: 'accepts', kernel: 'accepted',
    description: 'feature_compat gets bit 31: compatible, so readers may ignore it, but nobody defines it (a warning)',
    async patch(p) {
      p.b.writeUInt32LE((p.b.readUInt32LE(p.sb('feature_compat')) | 0x80000000) >>> 0, p.sb('feature_compat'));
    },
  },
  {
    id: 'sb-image-truncated', fixture: 'basic-4k', check: 'sb-blocks', severity: 'error', fsckErofs: 'rejects', kernel: 'read-error',
    description: 'the image file is cut after 64 KiB, far short of the block count in the superblock',
    async patch(p) {
      p.truncateTo = 65536;
    },
  },
  {
    id: 'sb-root-is-a-file', fixture: 'basic-4k', check: 'sb-root', severity: 'error', fsckErofs: 'accepts', kernel: 'mount-refused',
    description: 'root_nid points at the regular file /types/regular instead of the root directory',
    async patch(p) {
      p.b.writeUInt16LE((await p.ino('/types/regular')).nid, p.sb('rootnid_2b'));
    },
  },
  {
    id: 'sb-inos-too-many', fixture: 'basic-4k', check: 'inode-count', severity: 'warning', fsckErofs: 'accepts', kernel: 'accepted',
    description: 'the superblock inode count is 3 more than the inodes reachable from the root (as if 3 were unreachable)',
    async patch(p) {
      p.b.writeBigUInt64LE(p.img.sb.inos + 3n, p.sb('inos'));
    },
  },
  // ------------------------------------------------------------------ inodes
  {
    id: 'inode-layout-7', fixture: 'basic-4k', check: 'inode', severity: 'error', fsckErofs: 'rejects', kernel: 'read-error',
    description: 'the i_format of /types/regular names data layout 7, which does not exist',
    async patch(p) {
      const ino = await p.ino('/types/regular');
      p.b.writeUInt16LE((ino.format & ~0xe) | (7 << 1), p.field(ino, 'i_format'));
    },
  },
  {
    id: 'inode-mode-no-type', fixture: 'basic-4k', check: 'inode', severity: 'error', fsckErofs: 'rejects', kernel: 'read-error',
    description: 'the i_mode of /sizes/size-1 keeps its permissions but loses its file type bits',
    async patch(p) {
      const ino = await p.ino('/sizes/size-1');
      p.b.writeUInt16LE(ino.mode & 0o7777, p.field(ino, 'i_mode'));
    },
  },
  {
    id: 'inode-nsec-1e9', fixture: 'basic-4k', check: 'inode', severity: 'error', fsckErofs: 'accepts', kernel: 'accepted',
    description: 'the extended inode of /times/ns-999999999 gets i_mtime_nsec = 1000000000, one past the largest valid value',
    async patch(p) {
      const ino = await p.ino('/times/ns-999999999');
      if (ino.compact) throw new Error('expected an extended inode');
      p.b.writeUInt32LE(1_000_000_000, p.field(ino, 'i_mtime_nsec'));
    },
  },
  {
    id: 'dirent-nid-past-end', fixture: 'basic-4k', check: 'inode', severity: 'error', fsckErofs: 'rejects', kernel: 'read-error',
    description: 'the directory entry of /sizes/size-1 points at nid 0xffffff, far past the end of the image',
    async patch(p) {
      p.b.writeBigUInt64LE(0xffffffn, p.direntField(await p.dirent('/sizes', 'size-1'), 'nid'));
    },
  },
  {
    id: 'dir-size-zero', fixture: 'basic-4k', check: 'file-size', severity: 'error', fsckErofs: 'rejects', kernel: 'accepted',
    description: 'the directory /modes/dir-0000 has i_size 0: no room even for "." and ".."',
    async patch(p) {
      const ino = await p.ino('/modes/dir-0000');
      p.b.writeUInt32LE(0, p.field(ino, 'i_size'));
    },
  },
  {
    id: 'symlink-size-5000', fixture: 'basic-4k', check: 'file-size', severity: 'error', fsckErofs: 'accepts', kernel: 'accepted',
    description: 'the symlink /types/symlink-max-4095 claims a 5000-byte target, above the 4095 bytes a path can have',
    async patch(p) {
      const ino = await p.ino('/types/symlink-max-4095');
      p.b.writeUInt32LE(5000, p.field(ino, 'i_size'));
    },
  },
  {
    id: 'fifo-size-10', fixture: 'basic-4k', check: 'file-size', severity: 'warning', fsckErofs: 'accepts', kernel: 'accepted',
    description: 'the FIFO /types/fifo has i_size 10; special files have no data',
    async patch(p) {
      const ino = await p.ino('/types/fifo');
      p.b.writeUInt32LE(10, p.field(ino, 'i_size'));
    },
  },
  // ------------------------------------------------------------------ layouts and addresses
  {
    id: 'inline-tail-crosses-block', fixture: 'basic-4k', check: 'inline-tail', severity: 'error', fsckErofs: 'rejects', kernel: 'read-error',
    description: 'the 15-byte inline file /types/regular claims 4000 bytes: its inline tail would run into the next block',
    async patch(p) {
      const ino = await p.ino('/types/regular');
      if (ino.inlineBase % p.img.blockSize <= 96) throw new Error('the tail would still fit: pick another file');
      p.b.writeUInt32LE(4000, p.field(ino, 'i_size'));
    },
  },
  {
    id: 'flat-startblk-past-end', fixture: 'basic-4k', check: 'block-address', severity: 'error', fsckErofs: 'accepts', kernel: 'read-error',
    description: 'the data of /sizes/size-300000 starts at block 0xfffff0, far past the image',
    async patch(p) {
      const ino = await p.ino('/sizes/size-300000');
      p.b.writeUInt32LE(0xfffff0, p.field(ino, 'i_u'));
    },
  },
  {
    id: 'inline-null-startblk', fixture: 'basic-4k', check: 'layout', severity: 'error', fsckErofs: 'accepts', kernel: 'read-error',
    description: '/sizes/size-5000 (one full block plus an inline tail) has startblk NULL (0xffffffff)',
    async patch(p) {
      const ino = await p.ino('/sizes/size-5000');
      if (ino.layoutName !== 'flat-inline') throw new Error(`expected flat-inline, got ${ino.layoutName}`);
      p.b.writeUInt32LE(0xffffffff, p.field(ino, 'i_u'));
    },
  },
  {
    id: 'blockmap-past-end', fixture: 'blockmap-4k', check: 'block-address', severity: 'error', fsckErofs: 'accepts', kernel: 'read-error',
    description: 'the first block-map entry of the chunk-based /sizes/size-70000 points at block 0xffffff, past the image',
    async patch(p) {
      const ino = await p.ino('/sizes/size-70000');
      const e = (await p.img.extents(ino))[0]!;
      p.b.writeUInt32LE(0xffffff, e.entryOffset!);
    },
  },
  {
    id: 'chunk-format-unknown-bit', fixture: 'blockmap-4k', check: 'layout', severity: 'error', fsckErofs: 'rejects', kernel: 'read-error',
    description: 'the chunk format of /sizes/size-70000 gets bit 7, which no version defines',
    async patch(p) {
      const ino = await p.ino('/sizes/size-70000');
      p.b.writeUInt32LE(ino.iu | 0x80, p.field(ino, 'i_u'));
    },
  },
  {
    id: 'chunk-index-past-end', fixture: 'chunkidx-8k-512', check: 'block-address', severity: 'error', fsckErofs: 'accepts', kernel: 'read-error',
    description: 'a chunk index of /sizes/size-70000 (512-byte blocks, 8 KiB chunks) points at block 0xfffff0',
    async patch(p) {
      const ino = await p.ino('/sizes/size-70000');
      const e = (await p.img.extents(ino))[1]!;
      p.b.writeUInt32LE(0xfffff0, e.entryOffset! + fieldOf(F.chunkIndex, 'startblk_lo').offset);
    },
  },
  // ------------------------------------------------------------------ directories
  {
    id: 'dir-unsorted', fixture: 'basic-4k', check: 'dir-order', severity: 'error', fsckErofs: 'rejects', kernel: 'read-error',
    description: 'in /names the entry "#hash" is renamed "zhash" in place, so it sorts after its neighbours: binary-search lookups miss it',
    async patch(p) {
      p.b[await p.nameAt('/names', '#hash')] = 0x7a;
    },
  },
  {
    id: 'dir-duplicate-name', fixture: 'basic-4k', check: 'dir-order', severity: 'error', fsckErofs: 'rejects', kernel: 'accepted',
    description: 'in /sizes "size-4096" is renamed "size-4095": two entries with the same name',
    async patch(p) {
      p.b[(await p.nameAt('/sizes', 'size-4096')) + 8] = 0x35;
    },
  },
  {
    id: 'dir-name-with-slash', fixture: 'basic-4k', check: 'dir-name', severity: 'error', fsckErofs: 'rejects', kernel: 'read-error',
    description: 'in /names "back\\slash" becomes "back/slash": a name that is not a path component',
    async patch(p) {
      p.b[(await p.nameAt('/names', 'back\\slash')) + 4] = 0x2f;
    },
  },
  {
    id: 'dir-dot-elsewhere', fixture: 'basic-4k', check: 'dir-dot', severity: 'error', fsckErofs: 'rejects', kernel: 'accepted',
    description: 'the "." entry of /types points at the root directory instead of /types',
    async patch(p) {
      p.b.writeBigUInt64LE(BigInt(SB_NID(p)), p.direntField(await p.dirent('/types', '.'), 'nid'));
    },
  },
  {
    id: 'dir-dotdot-self', fixture: 'basic-4k', check: 'dir-dot', severity: 'error', fsckErofs: 'rejects', kernel: 'accepted',
    description: 'the ".." entry of /types/directory points at /types/directory itself instead of /types',
    async patch(p) {
      const self = await p.ino('/types/directory');
      p.b.writeBigUInt64LE(BigInt(self.nid), p.direntField(await p.dirent('/types/directory', '..'), 'nid'));
    },
  },
  {
    id: 'dirent-type-mismatch', fixture: 'basic-4k', check: 'dirent-type', severity: 'error', fsckErofs: 'accepts', kernel: 'accepted',
    description: 'the directory entry of the FIFO /types/fifo says "regular file" (file_type 1)',
    async patch(p) {
      p.b[p.direntField(await p.dirent('/types', 'fifo'), 'file_type')] = 1;
    },
  },
  {
    id: 'dir-cycle-to-root', fixture: 'basic-4k', check: 'dir-cycle', severity: 'error', fsckErofs: 'rejects', kernel: 'read-error',
    description: 'the entry "leaf" in /types/directory/nested points at the root directory (type directory): a cycle',
    async patch(p) {
      const d = await p.dirent('/types/directory/nested', 'leaf');
      p.b.writeBigUInt64LE(BigInt(SB_NID(p)), p.direntField(d, 'nid'));
      p.b[p.direntField(d, 'file_type')] = 2;
    },
  },
  {
    id: 'dir-nameoff-too-small', fixture: 'basic-4k', check: 'dir-block', severity: 'error', fsckErofs: 'rejects', kernel: 'read-error',
    description: 'the first nameoff of /sizes is 2, smaller than one dirent, so the entry count it implies is nonsense',
    async patch(p) {
      p.b.writeUInt16LE(2, p.direntField(await p.dirent('/sizes', '.'), 'nameoff'));
    },
  },
  // ------------------------------------------------------------------ link counts
  {
    id: 'nlink-file-5', fixture: 'basic-4k', check: 'nlink', severity: 'error', fsckErofs: 'accepts', kernel: 'accepted',
    description: '/sizes/size-1 has nlink 5 but one directory entry',
    async patch(p) {
      const ino = await p.ino('/sizes/size-1');
      if (ino.compact) p.b.writeUInt16LE(5, p.field(ino, 'i_nb'));
      else p.b.writeUInt32LE(5, p.field(ino, 'i_nlink'));
    },
  },
  {
    id: 'nlink-dir-9', fixture: 'basic-4k', check: 'nlink', severity: 'error', fsckErofs: 'accepts', kernel: 'accepted',
    description: '/types has nlink 9 but one subdirectory (expected 3)',
    async patch(p) {
      const ino = await p.ino('/types');
      if (ino.compact) p.b.writeUInt16LE(9, p.field(ino, 'i_nb'));
      else p.b.writeUInt32LE(9, p.field(ino, 'i_nlink'));
    },
  },
  // ------------------------------------------------------------------ xattrs
  {
    id: 'xattr-value-past-body', fixture: 'basic-4k', check: 'xattr', severity: 'error', fsckErofs: 'rejects', kernel: 'read-error',
    description: 'the first inline xattr of /xattrs/user-inline claims a 65535-byte value, far past its xattr body',
    async patch(p) {
      const at = p.firstXattrEntry(await p.ino('/xattrs/user-inline'));
      p.b.writeUInt16LE(0xffff, at + fieldOf(F.xattrEntry, 'e_value_size').offset);
    },
  },
  {
    id: 'xattr-shared-id-past-end', fixture: 'basic-4k', check: 'xattr', severity: 'error', fsckErofs: 'accepts', kernel: 'accepted',
    description: 'the first shared xattr id of /xattrs/shared/s1 points 8 GiB past the xattr area',
    async patch(p) {
      const ino = await p.ino('/xattrs/shared/s1');
      const hdr = ino.offset + ino.inodeSize;
      if (p.b[hdr + fieldOf(F.xattrIbodyHeader, 'h_shared_count').offset] === 0) throw new Error('expected shared xattrs');
      p.b.writeUInt32LE(0x7fffffff, hdr + F.xattrIbodyHeader.size);
    },
  },
  {
    id: 'xattr-filter-hides-name', fixture: 'basic-4k', check: 'xattr-filter', severity: 'error', fsckErofs: 'accepts', kernel: 'accepted',
    description: 'the xattr name filter of /xattrs/user-inline has every bit set, which says no name is present although one is',
    async patch(p) {
      const ino = await p.ino('/xattrs/user-inline');
      p.b.writeUInt32LE(0xffffffff, ino.offset + ino.inodeSize + fieldOf(F.xattrIbodyHeader, 'h_name_filter').offset);
    },
  },
  {
    id: 'xattr-long-prefix-missing', fixture: 'xattr-prefix', check: 'xattr', severity: 'error', fsckErofs: 'accepts', kernel: 'accepted',
    description: 'an inline xattr using a long prefix names prefix 100 (the image has 1)',
    async patch(p) {
      for await (const [path, ino] of walkFiles(p)) {
        if (ino.xattrSize === 0) continue;
        const at = p.firstXattrEntry(ino);
        const idxAt = at + fieldOf(F.xattrEntry, 'e_name_index').offset;
        if (p.b[idxAt]! & 0x80) {
          p.b[idxAt] = 0x80 | 100;
          return void path;
        }
      }
      throw new Error('no inode whose first inline xattr uses a long prefix');
    },
  },
  // ------------------------------------------------------------------ compressed data
  {
    id: 'lz4-pcluster-garbage', fixture: 'lz4-4k', check: 'compressed-data', severity: 'error', fsckErofs: 'rejects', kernel: 'read-error',
    description: 'the first 64 bytes of the first pcluster of the largest compressed file are overwritten with 0xff',
    async patch(p) {
      const e = await firstPcluster(p);
      p.b.fill(0xff, e.physical, e.physical + 64);
    },
  },
  {
    id: 'lz4-pcluster-zeroed', fixture: 'lz4-4k', check: 'compressed-data', severity: 'error', fsckErofs: 'rejects', kernel: 'read-error',
    description: 'the whole first pcluster of the largest compressed file is zeroed (an LZ4 stream of nothing)',
    async patch(p) {
      const e = await firstPcluster(p);
      p.b.fill(0, e.physical, e.physical + e.compression!.encodedLength);
    },
  },
];

/** Every inode reachable from the root with its path (directories first), on the original image. */
async function* walkFiles(p: Patcher): AsyncGenerator<[string, Inode]> {
  const stack: [string, Inode][] = [['/', await p.img.root()]];
  while (stack.length > 0) {
    const [path, dir] = stack.pop()!;
    yield [path, dir];
    for (const d of await p.img.readdir(dir)) {
      const name = Buffer.from(d.name).toString();
      if (name === '.' || name === '..') continue;
      const ino = await p.img.inode(d.nid);
      const child = (path === '/' ? '' : path) + '/' + name;
      if ((ino.mode & 0o170000) === 0o040000) stack.push([child, ino]);
      else yield [child, ino];
    }
  }
}

/** The first compressed pcluster (not inline, not a fragment) of the largest compressed file. */
async function firstPcluster(p: Patcher): Promise<{ physical: number; compression: NonNullable<Awaited<ReturnType<ErofsImage['extents']>>[number]['compression']> }> {
  let best: Inode | undefined;
  for await (const [, ino] of walkFiles(p)) if ((ino.layout === 1 || ino.layout === 3) && (!best || ino.size > best.size)) best = ino;
  if (!best) throw new Error('no compressed file');
  for (const e of await p.img.extents(best)) {
    if (e.compression?.storage === 'pcluster' && e.compression.algorithm === 'lz4') return { physical: e.physical, compression: e.compression };
  }
  throw new Error('no lz4 pcluster');
}
