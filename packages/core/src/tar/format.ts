/**
 * Tar header blocks, one table each: the v7 header, the POSIX ustar header, GNU's header
 * (the "oldgnu" layout, with its inline sparse map) and the GNU sparse extension block.
 * Field names follow GNU tar's `src/tar.h`. Numbers in tar headers are ASCII octal text (or
 * GNU base-256 binary), so numeric fields are `bytes` here and are decoded by `numbers.ts`;
 * only the single-byte flags are `u8`. Which table applies is picked from the magic field
 * (see {@link dialectOf}), never from flags inside one table.
 */
import { defineStruct, fieldOf, type StructDef } from '../layout/struct.js';

const SRC =
  'POSIX.1-2017 pax (ustar header block); GNU tar 1.34 src/tar.h (struct posix_header, struct oldgnu_header, struct sparse, struct sparse_header)';

/** Every header starts, and every entry's data starts, on a 512-byte boundary. */
export const BLOCK = 512;

/** The fields every dialect shares: bytes 0..257 of a header block. */
const COMMON = [
  { name: 'name', kind: 'bytes', size: 100, doc: 'path, NUL-terminated unless all 100 bytes are used (ustar: the part after `prefix`)' },
  { name: 'mode', kind: 'bytes', size: 8, doc: 'permission bits as octal text; some writers add the S_IFMT type bits, which readers ignore' },
  { name: 'uid', kind: 'bytes', size: 8, doc: 'owner uid: octal text, or GNU base-256 binary when bit 7 of the first byte is set' },
  { name: 'gid', kind: 'bytes', size: 8, doc: 'owner gid: octal text or GNU base-256' },
  {
    name: 'size',
    kind: 'bytes',
    size: 12,
    doc: 'bytes of data stored after this header (old GNU sparse: the stored bytes, not the real size): octal text or GNU base-256; a pax `size` record overrides it',
  },
  { name: 'mtime', kind: 'bytes', size: 12, doc: 'modification time, seconds since the epoch: octal text or GNU base-256 (which may be negative)' },
  {
    name: 'chksum',
    kind: 'bytes',
    size: 8,
    doc: 'sum of the 512 header bytes with this field counted as 8 spaces, octal text; GNU tar also accepts the sum of the bytes taken as signed chars',
  },
  {
    name: 'typeflag',
    kind: 'u8',
    doc: "'0' or NUL regular file, '1' hard link, '2' symlink, '3' char device, '4' block device, '5' directory, '6' fifo, '7' contiguous file; 'x' pax extended header, 'g' pax global header; GNU 'L' long name, 'K' long link name, 'S' old sparse file, 'D' dumpdir, 'M' multivolume continuation, 'V' volume label (v7 calls this field linkflag)",
  },
  { name: 'linkname', kind: 'bytes', size: 100, doc: 'target of a hard or symbolic link, NUL-terminated unless all 100 bytes are used' },
] as const;

/** Bytes 257..345, shared by ustar and GNU headers. */
const USTAR_IDENT = [
  { name: 'magic', kind: 'bytes', size: 6, doc: 'ustar: "ustar\\0"; GNU: "ustar " (followed by version " \\0"); v7: no magic (zeros)' },
  { name: 'version', kind: 'bytes', size: 2, doc: 'ustar: "00"; GNU: " \\0"' },
  { name: 'uname', kind: 'bytes', size: 32, doc: 'owner user name, NUL-terminated' },
  { name: 'gname', kind: 'bytes', size: 32, doc: 'owner group name, NUL-terminated' },
  { name: 'devmajor', kind: 'bytes', size: 8, doc: 'device major number of a char or block device, octal text or GNU base-256' },
  { name: 'devminor', kind: 'bytes', size: 8, doc: 'device minor number, octal text or GNU base-256' },
] as const;

/** Unix v7 header: the common fields and nothing else (type flags '0'..'6' came later, NUL meant a file). */
export const v7Header = defineStruct(
  'v7_header',
  SRC,
  [...COMMON, { name: 'pad', kind: 'bytes', size: 255, doc: 'unused in v7; ustar and GNU headers put their magic and more fields here', reserved: true }],
  'tar',
);

/** struct posix_header: the POSIX ustar header (also the main header of pax archives). */
export const ustarHeader = defineStruct(
  'posix_header',
  SRC,
  [
    ...COMMON,
    ...USTAR_IDENT,
    { name: 'prefix', kind: 'bytes', size: 155, doc: 'directory part of a long path: path = prefix + "/" + name when prefix is not empty' },
    { name: 'pad', kind: 'bytes', size: 12, doc: 'unused, zero', reserved: true },
  ],
  'tar',
);

/** struct posix_header as GNU tar fills it (magic "ustar  \0"), with struct oldgnu_header over bytes 345..512. */
export const gnuHeader = defineStruct(
  'oldgnu_header',
  SRC,
  [
    ...COMMON,
    ...USTAR_IDENT,
    { name: 'atime', kind: 'bytes', size: 12, doc: 'access time (incremental archives only), octal text' },
    { name: 'ctime', kind: 'bytes', size: 12, doc: 'status change time (incremental archives only), octal text' },
    { name: 'offset', kind: 'bytes', size: 12, doc: 'multivolume archives: offset of this part in the file' },
    { name: 'longnames', kind: 'bytes', size: 4, doc: 'unused' },
    { name: 'unused_pad2', kind: 'bytes', size: 1, doc: 'unused', reserved: true },
    {
      name: 'sp',
      kind: 'bytes',
      size: 96,
      doc: "struct sparse sp[4]: the first 4 data segments of an 'S' file (see gnuSparse); an empty numbytes ends the list",
    },
    { name: 'isextended', kind: 'u8', doc: "'S' file: non-zero when a sparse extension block (sparse_header) follows this header" },
    { name: 'realsize', kind: 'bytes', size: 12, doc: "'S' file: the real (logical) file size, octal text or base-256" },
    { name: 'pad', kind: 'bytes', size: 17, doc: 'unused, zero', reserved: true },
  ],
  'tar',
);

/** struct sparse: one data segment of an old GNU sparse file (24 bytes, in `sp` arrays). */
export const gnuSparse = defineStruct(
  'sparse',
  SRC,
  [
    { name: 'offset', kind: 'bytes', size: 12, doc: 'logical offset of the segment in the file, octal text or base-256' },
    { name: 'numbytes', kind: 'bytes', size: 12, doc: 'segment length; its bytes follow the previous segment in the stored data' },
  ],
  'tar',
);

/** struct sparse_header: a 512-byte block after an 'S' header whose isextended is set. */
export const gnuSparseHeader = defineStruct(
  'sparse_header',
  SRC,
  [
    { name: 'sp', kind: 'bytes', size: 504, doc: 'struct sparse sp[21]: more data segments (see gnuSparse)' },
    { name: 'isextended', kind: 'u8', doc: 'non-zero when another sparse_header block follows' },
    { name: 'pad', kind: 'bytes', size: 7, doc: 'unused, zero', reserved: true },
  ],
  'tar',
);

type Of<S> = S extends StructDef<infer T> ? T : never;
export type V7Header = Of<typeof v7Header>;
export type UstarHeader = Of<typeof ustarHeader>;
export type GnuHeader = Of<typeof gnuHeader>;

export const SPARSES_IN_OLDGNU_HEADER = 4;
export const SPARSES_IN_SPARSE_HEADER = 21;

/** Type flags (GNU tar's names in comments). */
export const TYPE = {
  AREG: 0x00, // AREGTYPE: regular file (v7)
  REG: 0x30, // '0' REGTYPE
  LNK: 0x31, // '1' LNKTYPE
  SYM: 0x32, // '2' SYMTYPE
  CHR: 0x33, // '3' CHRTYPE
  BLK: 0x34, // '4' BLKTYPE
  DIR: 0x35, // '5' DIRTYPE
  FIFO: 0x36, // '6' FIFOTYPE
  CONT: 0x37, // '7' CONTTYPE
  XHD: 0x78, // 'x' XHDTYPE: pax extended header for the next entry
  XGL: 0x67, // 'g' XGLTYPE: pax global header
  SOLARIS_XHD: 0x58, // 'X' Solaris' pre-POSIX extended header, same records as 'x'
  GNU_LONGNAME: 0x4c, // 'L'
  GNU_LONGLINK: 0x4b, // 'K'
  GNU_SPARSE: 0x53, // 'S'
  GNU_DUMPDIR: 0x44, // 'D': a directory whose data lists its contents (incremental dumps)
  GNU_MULTIVOL: 0x4d, // 'M': continuation of a file from the previous volume
  GNU_VOLHDR: 0x56, // 'V': volume label
} as const;

export type Dialect = 'v7' | 'ustar' | 'gnu';

const MAGIC = fieldOf(ustarHeader, 'magic');

/** "ustar\0" → ustar, "ustar " → GNU, anything else → v7 (the version field is not checked). */
export function dialectOf(block: Uint8Array): Dialect {
  const m = MAGIC.offset;
  if (block[m] !== 0x75 || block[m + 1] !== 0x73 || block[m + 2] !== 0x74 || block[m + 3] !== 0x61 || block[m + 4] !== 0x72) return 'v7';
  const b5 = block[m + 5];
  if (b5 === 0) return 'ustar';
  if (b5 === 0x20) return 'gnu';
  return 'v7';
}

const CHKSUM = fieldOf(ustarHeader, 'chksum');

/** The chksum field of a header block. */
export function chksumField(block: Uint8Array): Uint8Array {
  return block.subarray(CHKSUM.offset, CHKSUM.offset + CHKSUM.size);
}

/** Unsigned and signed byte sums of a header block with the chksum field counted as spaces. */
export function headerSums(block: Uint8Array): { unsigned: number; signed: number } {
  const u = headerSum(block);
  let high = 0; // number of bytes >= 0x80, each of which is 256 less when signed
  const c0 = CHKSUM.offset;
  const c1 = c0 + CHKSUM.size;
  for (let i = 0; i < BLOCK; i++) if (block[i]! & 0x80 && (i < c0 || i >= c1)) high++;
  return { unsigned: u, signed: u - 256 * high };
}

/**
 * The unsigned byte sum alone (what every writer stores). An aligned block is summed a 32-bit
 * word at a time, two bytes per 16-bit lane (126 words cannot overflow a lane); the chksum
 * field (bytes 148..156) is whole words, so it is skipped exactly.
 */
export function headerSum(block: Uint8Array): number {
  if ((block.byteOffset & 3) === 0 && block.length >= BLOCK) {
    const w = new Int32Array(block.buffer, block.byteOffset, BLOCK / 4);
    const c0 = CHKSUM.offset / 4;
    const c1 = (CHKSUM.offset + CHKSUM.size) / 4;
    let lanes = 0;
    for (let i = 0; i < c0; i++) {
      const x = w[i]!;
      lanes += (x & 0xff00ff) + ((x >>> 8) & 0xff00ff);
    }
    for (let i = c1; i < BLOCK / 4; i++) {
      const x = w[i]!;
      lanes += (x & 0xff00ff) + ((x >>> 8) & 0xff00ff);
    }
    return 0x20 * CHKSUM.size + (lanes & 0xffff) + (lanes >>> 16);
  }
  let u = 0x20 * CHKSUM.size;
  const c0 = CHKSUM.offset;
  for (let i = 0; i < c0; i++) u += block[i]!;
  for (let i = c0 + CHKSUM.size; i < BLOCK; i++) u += block[i]!;
  return u;
}

/**
 * Where the reader finds the fields it reads from every header, taken from the tables above
 * (v7, ustar and GNU headers share them; `prefix` and the ustar identity exist only in ustar
 * and GNU headers).
 */
export const HEADER_FIELDS = {
  name: fieldOf(ustarHeader, 'name'),
  mode: fieldOf(ustarHeader, 'mode'),
  uid: fieldOf(ustarHeader, 'uid'),
  gid: fieldOf(ustarHeader, 'gid'),
  size: fieldOf(ustarHeader, 'size'),
  mtime: fieldOf(ustarHeader, 'mtime'),
  chksum: CHKSUM,
  typeflag: fieldOf(ustarHeader, 'typeflag'),
  linkname: fieldOf(ustarHeader, 'linkname'),
  uname: fieldOf(ustarHeader, 'uname'),
  gname: fieldOf(ustarHeader, 'gname'),
  devmajor: fieldOf(ustarHeader, 'devmajor'),
  devminor: fieldOf(ustarHeader, 'devminor'),
  prefix: fieldOf(ustarHeader, 'prefix'),
} as const;

export function isZeroBlock(block: Uint8Array): boolean {
  for (let i = 0; i < block.length; i++) if (block[i] !== 0) return false;
  return true;
}
