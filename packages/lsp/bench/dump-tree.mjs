// The tree both language-server benchmarks dump: small files (1,000-7,000 bytes) with an xattr
// each and three empty files beside each, in 64 directories, until about `targetBytes` of image.
import { nameKey, newDir } from '@erofs-kit/core';

export function dumpTree(targetBytes) {
  const root = newDir({ mtime: 1700000000 });
  const enc = new TextEncoder();
  let bytes = 0;
  for (let i = 0; bytes < targetBytes; i++) {
    const dk = nameKey(enc.encode(`dir-${i % 64}`));
    let dir = root.children.get(dk);
    if (!dir) root.children.set(dk, (dir = newDir({ mtime: 1700000000 })));
    const size = 1000 + ((i * 7919) % 6000);
    const data = new Uint8Array(size).map((_, k) => (k * 31 + i) & 0xff);
    const xattrs = new Map([[`user.n${i % 5}`, enc.encode(`value-${i}`)]]);
    dir.children.set(nameKey(enc.encode(`file-${i}`)), { mode: 0o100644, uid: 0, gid: 0, mtime: 1700000000 + (i % 3), mtimeNsec: 0, size, rdevMajor: 0, rdevMinor: 0, xattrs, data: { kind: 'copy', ranges: [{ logical: 0, bytes: data }] } });
    for (let e = 0; e < 3; e++) dir.children.set(nameKey(enc.encode(`empty-${i}-${e}`)), { mode: 0o100600, uid: 1000, gid: 1000, mtime: 1700000000, mtimeNsec: 0, size: 0, rdevMajor: 0, rdevMinor: 0, xattrs: new Map(), data: { kind: 'empty' } });
    bytes += Math.ceil(size / 4096) * 4096 + 4 * 40;
  }
  return root;
}
