/**
 * What the tar reader yields: one logical entry (after pax, GNU long-name and sparse
 * extensions are folded in), with the exact byte offsets the tar-index writer points at.
 */

export type TarEntryType =
  | 'file' // '0', '\0', '7' (contiguous)
  | 'hardlink' // '1'
  | 'symlink' // '2'
  | 'chardev' // '3'
  | 'blockdev' // '4'
  | 'directory' // '5'
  | 'fifo'; // '6'

export interface TarTime {
  /** Seconds since the epoch (may be negative). */
  sec: number;
  /** Nanoseconds [0, 1e9). */
  nsec: number;
}

/** One stored data segment of a sparse file: logical range → where its bytes are in the tar. */
export interface SparseSegment {
  /** Logical offset in the file. */
  offset: number;
  length: number;
  /** Absolute byte offset of this segment's bytes in the tar. */
  tarOffset: number;
}

export interface TarEntry {
  /** Offset of the first header block of this entry, extension headers (pax, GNU L/K) included. */
  headerOffset: number;
  /** Offset of the entry's own ustar/GNU/v7 header block (after its extension headers). */
  mainHeaderOffset: number;
  /**
   * Offset of the entry's stored data (always a multiple of 512). For GNU 1.0 pax sparse files
   * this is where the sparse map text starts; `sparse` tells where each segment really is.
   */
  dataOffset: number;
  /** Bytes of data stored in the archive after the header (what the reader skips). */
  storedSize: number;
  type: TarEntryType;
  /** Raw path bytes as the archive states them (pax path, GNU L, ustar prefix/name joined), not normalized. */
  path: Uint8Array;
  /** Raw link target (pax linkpath, GNU K, or the header's linkname); empty when none. */
  linkpath: Uint8Array;
  /** Permission bits (the low 12 bits of the header mode). */
  mode: number;
  uid: number;
  gid: number;
  uname: string;
  gname: string;
  mtime: TarTime;
  /** Logical file size (for sparse files: the real size, not the stored one). */
  size: number;
  devmajor: number;
  devminor: number;
  /** Stored data segments for sparse files; undefined for ordinary entries. */
  sparse: SparseSegment[] | undefined;
  /** Extended attributes from SCHILY.xattr.* and LIBARCHIVE.xattr.* (base64-decoded). */
  xattrs: Map<string, Uint8Array>;
  /** Which dialect the main header is: v7, ustar, gnu (magic "ustar  "), pax (ustar with x/g records). */
  format: 'v7' | 'ustar' | 'gnu' | 'pax';
}

/** A lenient reading that tar tools agree on, reported so the CLI can warn. */
export interface TarWarning {
  code: 'stripped-leading-slash' | 'missing-end-marker' | 'lone-zero-block' | 'trailing-data' | 'unknown-pax-record' | 'unknown-type';
  message: string;
  offset: number;
  path?: string;
}
