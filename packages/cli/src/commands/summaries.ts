/**
 * The commands, in the order `erofs-kit --help` lists them, with their one-line summaries.
 * Kept apart from the commands so that the dispatcher (main.ts) can list them without loading
 * any command's code; each command takes its summary from here.
 */
export const SUMMARIES = {
  inspect: 'superblock, features, counts and sizes of an image',
  ls: 'list a directory (or the whole tree with -R)',
  stat: 'everything about one inode: nid, offset, layout, data map, xattrs',
  cat: "write a file's content to stdout",
  extract: 'write the whole tree to a directory',
  fsck: 'check an image: superblock, every inode, directory, xattr and byte of data',
  index: 'turn a layer tar into EROFS metadata that points into the untouched tar',
  build: 'a full EROFS image (file data copied in), or a composefs image, from a directory or a layer tar',
  digest: 'print the fs-verity digest of files, like `fsverity digest`',
  verify: 'check a layer: fsck of the image, a tar index against its tar, diffID and fs-verity digests',
  hexdump: 'xxd-style dump of an image region, ready for the language server',
  dump: 'print an image as a composefs dump (composefs-dump(5))',
  oci: 'check an OCI image layout or docker-archive, or convert it to layer tar indexes and one merged metadata image',
} as const;

export type CommandName = keyof typeof SUMMARIES;
