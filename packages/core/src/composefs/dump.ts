/**
 * The composefs dump format (composefs-dump(5), erofs-format.md §9.4): one line per file,
 *
 *   PATH SIZE MODE NLINK UID GID RDEV MTIME PAYLOAD CONTENT DIGEST [NAME=VALUE ...]
 *
 * with C-style escapes (`\\ \n \r \t \xHH`). {@link parseDump} reads it into the tree the
 * composefs writer takes; {@link dumpImage} writes it for any EROFS image.
 */
import { ErofsError } from '../errors.js';
import type { ErofsImage, Inode } from '../erofs/image.js';
import { readXattrs } from '../erofs/xattr.js';
import { S_IFBLK, S_IFCHR, S_IFDIR, S_IFIFO, S_IFLNK, S_IFMT, S_IFREG, S_IFSOCK } from '../erofs/format.js';
import { FsVerityHasher } from '../digest/fsverity.js';
import type { HashFactory } from '../digest/hash.js';
import { keyBytes, nameKey } from '../tree/node.js';
import {
  COMPOSEFS_MAGIC,
  DIGEST_SIZE,
  INLINE_CONTENT_MAX,
  METACOPY_SIZE,
  OVERLAY_ESCAPED_PREFIX,
  OVERLAY_ESCAPED_WHITEOUT,
  OVERLAY_ESCAPED_WHITEOUTS,
  OVERLAY_METACOPY,
  OVERLAY_PREFIX,
  OVERLAY_REDIRECT,
  OVERLAY_USER_WHITEOUT,
  OVERLAY_USER_WHITEOUTS,
} from './format.js';
import { digestPath, type CfsNode } from './node.js';

const FIELDS = ['PATH', 'SIZE', 'MODE', 'NLINK', 'UID', 'GID', 'RDEV', 'MTIME', 'PAYLOAD', 'CONTENT', 'DIGEST'] as const;
const VALID_TYPES = new Set([S_IFREG, S_IFDIR, S_IFLNK, S_IFCHR, S_IFBLK, S_IFIFO, S_IFSOCK]);

/** Where a problem is: 1-based line and byte column. */
function fail(line: number, column: number, message: string): never {
  throw new ErofsError('invalid-value', message, { format: 'composefs-dump', line, column });
}

interface Field {
  bytes: Uint8Array;
  /** 1-based column of the field's first byte. */
  column: number;
}

function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x61 && c <= 0x66) return c - 0x57;
  if (c >= 0x41 && c <= 0x46) return c - 0x37;
  return -1;
}

/** Undoes the dump's escapes. */
function unescape(f: Field, line: number): Uint8Array {
  const b = f.bytes;
  if (!b.includes(0x5c)) return b;
  const out = new Uint8Array(b.length);
  let n = 0;
  for (let i = 0; i < b.length; i++) {
    const c = b[i]!;
    if (c !== 0x5c) {
      out[n++] = c;
      continue;
    }
    const col = f.column + i;
    const e = b[++i];
    if (e === undefined) fail(line, col, 'a backslash at the end of a field');
    if (e === 0x5c) out[n++] = 0x5c;
    else if (e === 0x6e) out[n++] = 0x0a;
    else if (e === 0x72) out[n++] = 0x0d;
    else if (e === 0x74) out[n++] = 0x09;
    else if (e === 0x78) {
      const hi = b[i + 1] === undefined ? -1 : hexValue(b[i + 1]!);
      const lo = b[i + 2] === undefined ? -1 : hexValue(b[i + 2]!);
      if (hi < 0 || lo < 0) fail(line, col, '\\x needs two hex digits');
      out[n++] = (hi << 4) | lo;
      i += 2;
    } else fail(line, col, `unknown escape \\${String.fromCharCode(e)}`);
  }
  return out.subarray(0, n);
}

const isDash = (f: Field): boolean => f.bytes.length === 1 && f.bytes[0] === 0x2d;
const latin = new TextDecoder('latin1');

function integer(f: Field, line: number, name: string, radix: 8 | 10, max: number): number {
  const s = latin.decode(f.bytes);
  if (!(radix === 8 ? /^[0-7]+$/ : /^[0-9]+$/).test(s)) fail(line, f.column, `${name} "${s}" is not a${radix === 8 ? 'n octal' : ' decimal'} number`);
  const v = parseInt(s, radix);
  if (!(v <= max)) fail(line, f.column, `${name} ${s} out of range [0, ${max}]`);
  return v;
}

/**
 * Parses a composefs dump into the writer's tree. Parents come before their children; a hard
 * link (MODE starting with `@`, PAYLOAD = the target's path) may name a file that comes later.
 * Every problem is an ErofsError with code `invalid-value` (or `not-found` for a missing
 * parent or link target), format `composefs-dump`, and the line and column.
 */
export function parseDump(input: Uint8Array | string): CfsNode {
  const text = typeof input === 'string' ? new TextEncoder().encode(input) : input;
  let root: CfsNode | undefined;
  const links: { node: CfsNode; target: Uint8Array; line: number; column: number }[] = [];
  let lineNo = 0;
  for (let start = 0; start < text.length; ) {
    let end = text.indexOf(0x0a, start);
    if (end < 0) end = text.length;
    const line = text.subarray(start, end);
    lineNo++;
    start = end + 1;
    if (line.length === 0) continue;
    const nul = line.indexOf(0);
    if (nul >= 0) fail(lineNo, nul + 1, 'a NUL byte');
    // The eleven fixed fields, then xattrs, separated by single spaces.
    const parts: Field[] = [];
    for (let p = 0; p <= line.length; ) {
      let q = line.indexOf(0x20, p);
      if (q < 0) q = line.length;
      parts.push({ bytes: line.subarray(p, q), column: p + 1 });
      p = q + 1;
    }
    if (parts.length < FIELDS.length) fail(lineNo, line.length + 1, `${parts.length} fields, a line needs ${FIELDS.length} (${FIELDS.join(' ')})`);
    const f = (i: number): Field => parts[i]!;
    const path = unescape(f(0), lineNo);
    if (path.length === 0 || path[0] !== 0x2f) fail(lineNo, 1, 'PATH must be absolute');
    let modeField = f(2);
    const hardlink = modeField.bytes[0] === 0x40;
    if (hardlink) modeField = { bytes: modeField.bytes.subarray(1), column: modeField.column + 1 };
    const mode = integer(modeField, lineNo, 'MODE', 8, 0o177777);
    if (!VALID_TYPES.has(mode & S_IFMT)) fail(lineNo, modeField.column, `MODE ${mode.toString(8)} has no valid file type`);
    const type = mode & S_IFMT;
    const node: CfsNode = { mode, uid: 0, gid: 0, nlink: 1, mtime: 0, mtimeNsec: 0, size: 0, rdev: 0, xattrs: new Map() };
    // Attach it under its parent.
    const names = splitPath(path);
    if (names.length === 0) {
      if (type !== S_IFDIR || hardlink) fail(lineNo, 1, 'the root must be a directory');
      if (root) fail(lineNo, 1, 'a second root');
      root = node;
    } else {
      if (!root) fail(lineNo, 1, 'the root "/" must come first');
      let dir = root;
      for (const n of names.slice(0, -1)) {
        const next = dir.children?.get(n);
        if (!next || next.linkTo || (next.mode & S_IFMT) !== S_IFDIR) {
          throw new ErofsError('not-found', `parent directory ${latin.decode(keyBytes(n))} of ${latin.decode(path)} is missing or not a directory`, { format: 'composefs-dump', line: lineNo, column: 1 });
        }
        dir = next;
      }
      const name = names[names.length - 1]!;
      if (name === '.' || name === '..') fail(lineNo, 1, `"." or ".." in a path`);
      if (name.length > 255) fail(lineNo, 1, `a name of ${name.length} bytes (at most 255)`);
      if (dir.children!.has(name)) fail(lineNo, 1, `${latin.decode(path)} appears twice`);
      dir.children!.set(name, node);
    }
    if (hardlink) {
      if (type === S_IFDIR) fail(lineNo, modeField.column, 'a directory cannot be a hard link');
      if (isDash(f(8))) fail(lineNo, f(8).column, 'a hard link needs its target path as PAYLOAD');
      links.push({ node, target: unescape(f(8), lineNo), line: lineNo, column: f(8).column });
      continue;
    }
    if (type === S_IFDIR) node.children = new Map();
    const size = integer(f(1), lineNo, 'SIZE', 10, Number.MAX_SAFE_INTEGER);
    node.nlink = integer(f(3), lineNo, 'NLINK', 10, 0xffffffff);
    node.uid = integer(f(4), lineNo, 'UID', 10, 0xffffffff);
    node.gid = integer(f(5), lineNo, 'GID', 10, 0xffffffff);
    // RDEV is a 64-bit dev_t; the image keeps its low 32 bits.
    const rdevText = latin.decode(f(6).bytes);
    if (!/^[0-9]+$/.test(rdevText) || BigInt(rdevText) >= 1n << 64n) fail(lineNo, f(6).column, `RDEV "${rdevText}" is not a 64-bit decimal number`);
    if (type === S_IFCHR || type === S_IFBLK) node.rdev = Number(BigInt(rdevText) & 0xffffffffn);
    const mt = f(7);
    const dot = mt.bytes.indexOf(0x2e);
    if (dot < 0) fail(lineNo, mt.column, 'MTIME must be SECONDS.NANOSECONDS');
    const neg = mt.bytes[0] === 0x2d;
    node.mtime = integer({ bytes: mt.bytes.subarray(neg ? 1 : 0, dot), column: mt.column + (neg ? 1 : 0) }, lineNo, 'MTIME seconds', 10, Number.MAX_SAFE_INTEGER);
    if (neg) node.mtime = -node.mtime;
    node.mtimeNsec = integer({ bytes: mt.bytes.subarray(dot + 1), column: mt.column + dot + 1 }, lineNo, 'MTIME nanoseconds', 10, 999_999_999);
    const payload = isDash(f(8)) ? undefined : unescape(f(8), lineNo);
    const content = isDash(f(9)) ? undefined : unescape(f(9), lineNo);
    if (content && content.length !== size) fail(lineNo, f(9).column, `CONTENT of ${content.length} bytes but SIZE ${size}`);
    if (f(10).bytes.length > 0 && !isDash(f(10))) {
      const d = latin.decode(f(10).bytes);
      if (!/^[0-9a-fA-F]{64}$/.test(d)) fail(lineNo, f(10).column, 'DIGEST must be 64 hex digits (SHA-256)');
      const digest = new Uint8Array(DIGEST_SIZE);
      for (let i = 0; i < DIGEST_SIZE; i++) digest[i] = parseInt(d.slice(2 * i, 2 * i + 2), 16);
      node.digest = digest;
    }
    if (type === S_IFLNK) {
      if (!payload || payload.length === 0 || payload.includes(0)) fail(lineNo, f(8).column, 'a symlink needs a target as PAYLOAD');
      if (payload.length > 4095) fail(lineNo, f(8).column, `a symlink target of ${payload.length} bytes (at most 4095)`);
      node.payload = payload;
      node.size = payload.length;
    } else {
      if (payload) {
        if (payload.length > 4095 || payload.includes(0)) fail(lineNo, f(8).column, 'PAYLOAD must be at most 4095 bytes without NUL');
        node.payload = payload;
      }
      if (type === S_IFREG) node.size = size;
      if (content && content.length > 0) {
        if (content.length > INLINE_CONTENT_MAX) fail(lineNo, f(9).column, `inline CONTENT of ${content.length} bytes exceeds ${INLINE_CONTENT_MAX}`);
        node.content = content;
      }
    }
    for (const x of parts.slice(FIELDS.length)) {
      const eq = x.bytes.indexOf(0x3d);
      if (eq < 0) fail(lineNo, x.column, 'an xattr needs NAME=VALUE');
      const name = unescape({ bytes: x.bytes.subarray(0, eq), column: x.column }, lineNo);
      const value = unescape({ bytes: x.bytes.subarray(eq + 1), column: x.column + eq + 1 }, lineNo);
      if (name.length === 0 || name.length > 255 || name.includes(0)) fail(lineNo, x.column, 'an xattr name must be 1..255 bytes without NUL');
      if (value.length > 0xffff) fail(lineNo, x.column + eq + 1, `an xattr value of ${value.length} bytes (at most 65535)`);
      node.xattrs.set(nameKey(name), value);
    }
  }
  if (!root) throw new ErofsError('invalid-value', 'the dump has no entries (the root "/" is missing)', { format: 'composefs-dump', line: lineNo + 1, column: 1 });
  for (const l of links) {
    let t: CfsNode | undefined = root;
    for (const n of splitPath(l.target)) t = t?.linkTo ? undefined : t?.children?.get(n);
    if (!t) throw new ErofsError('not-found', `hard link target ${latin.decode(l.target)} does not exist`, { format: 'composefs-dump', line: l.line, column: l.column });
    if (t === l.node) fail(l.line, l.column, 'a hard link to itself');
    if ((t.mode & S_IFMT) === S_IFDIR) fail(l.line, l.column, 'a hard link to a directory');
    l.node.linkTo = t;
  }
  return root;
}

/** Path components as latin1 keys (repeated slashes collapse, as composefs reads them). */
function splitPath(path: Uint8Array): string[] {
  const out: string[] = [];
  let p = 0;
  while (p < path.length) {
    while (p < path.length && path[p] === 0x2f) p++;
    if (p >= path.length) break;
    let q = path.indexOf(0x2f, p);
    if (q < 0) q = path.length;
    out.push(nameKey(path.subarray(p, q)));
    p = q;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Writing

const HEX = Array.from({ length: 256 }, (_, i) => '\\x' + i.toString(16).padStart(2, '0'));

/** Escapes bytes as the dump does: `\\ \n \r \t`, `\xHH` for anything but printable ASCII. */
export function escapeDump(b: Uint8Array, opts: { equal?: boolean; loneDash?: boolean } = {}): string {
  if (opts.loneDash && b.length === 1 && b[0] === 0x2d) return '\\x2d';
  let s = '';
  for (const c of b) {
    if (c === 0x5c) s += '\\\\';
    else if (c === 0x0a) s += '\\n';
    else if (c === 0x0d) s += '\\r';
    else if (c === 0x09) s += '\\t';
    else if (c === 0x3d) s += opts.equal ? '\\x3d' : '=';
    else if (c < 0x21 || c > 0x7e) s += HEX[c]!;
    else s += String.fromCharCode(c);
  }
  return s;
}

export interface DumpOptions {
  /**
   * Hash for the fs-verity digest of regular files whose bytes are in the image and longer
   * than a dump's inline CONTENT (non-composefs images); default SHA-256 from @noble/hashes.
   */
  hash?: HashFactory;
}

/** What one dump line says, read from an inode. */
interface Entry {
  mode: number;
  size: number;
  nlink: number;
  uid: number;
  gid: number;
  rdev: number;
  mtime: number;
  mtimeNsec: number;
  payload: Uint8Array | undefined;
  content: Uint8Array | undefined;
  digest: Uint8Array | undefined;
  xattrs: [string, Uint8Array][];
}

const K = (s: string): string => nameKey(new TextEncoder().encode(s));
const K_REDIRECT = K(OVERLAY_REDIRECT);
const K_METACOPY = K(OVERLAY_METACOPY);
const K_ESC_WHITEOUT = K(OVERLAY_ESCAPED_WHITEOUT);
const K_SKIP = new Set([K(OVERLAY_ESCAPED_WHITEOUTS), K(OVERLAY_USER_WHITEOUT), K(OVERLAY_USER_WHITEOUTS)]);
const K_PREFIX = K(OVERLAY_PREFIX);
const K_ESC_PREFIX = K(OVERLAY_ESCAPED_PREFIX);

/** Whether an image starts with the composefs header. */
export async function isComposefsImage(img: ErofsImage): Promise<boolean> {
  const b = await img.meta(0, 4);
  return (b[0]! | (b[1]! << 8) | (b[2]! << 16) | (b[3]! << 24)) >>> 0 === COMPOSEFS_MAGIC;
}

/**
 * The composefs dump of an image, as lines (each ending in `\n`), depth first in name
 * order. For a composefs image the overlayfs encoding is undone as composefs reads it:
 * `redirect`/`metacopy` become PAYLOAD/DIGEST, escaped `trusted.overlay.overlay.*` xattrs
 * lose one `overlay.`, other `trusted.overlay.*` (the root's opaque marker) and the whiteout
 * markers are dropped, marked whiteouts become char 0/0 again and the raw char 0/0 entries
 * (the root's stubs) are left out. A hard link is printed at its first name in this order,
 * later names with `@`. Any other image is printed as it is: xattrs unchanged, a regular
 * file's bytes as CONTENT up to 5000 bytes, longer ones as their fs-verity DIGEST with the
 * digest's store path as PAYLOAD.
 */
export async function* dumpImage(img: ErofsImage, opts: DumpOptions = {}): AsyncGenerator<string> {
  const cfs = await isComposefsImage(img);
  const seen = new Map<number, string>();
  const stack: { nid: number; path: string }[] = [{ nid: img.rootNid, path: '/' }];
  while (stack.length > 0) {
    const { nid, path } = stack.pop()!;
    const ino = await img.inode(nid);
    const first = seen.get(nid);
    if (first !== undefined && (ino.mode & S_IFMT) === S_IFDIR) throw new ErofsError('loop', `${path}: directory ${nid} reached twice`, { path });
    const e = await entryOf(img, ino, cfs, opts);
    yield line(path, e, first) + '\n';
    if (first !== undefined) continue;
    seen.set(nid, path);
    if ((ino.mode & S_IFMT) !== S_IFDIR) continue;
    const ents = (await img.readdir(ino, path)).filter((d) => !(d.name.length === 1 && d.name[0] === 0x2e) && !(d.name.length === 2 && d.name[0] === 0x2e && d.name[1] === 0x2e));
    const kids: { nid: number; path: string; key: string }[] = [];
    for (const d of ents) {
      if (cfs) {
        const c = await img.inode(d.nid);
        if ((c.mode & S_IFMT) === S_IFCHR && c.iu === 0) continue;
      }
      const key = nameKey(d.name);
      kids.push({ nid: d.nid, key, path: (path === '/' ? '' : path) + '/' + escapeDump(d.name) });
    }
    kids.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    for (let i = kids.length - 1; i >= 0; i--) stack.push({ nid: kids[i]!.nid, path: kids[i]!.path });
  }
}

/** The whole dump as one string. */
export async function dumpImageText(img: ErofsImage, opts: DumpOptions = {}): Promise<string> {
  let s = '';
  for await (const l of dumpImage(img, opts)) s += l;
  return s;
}

function line(path: string, e: Entry, linkPath: string | undefined): string {
  const payload = linkPath !== undefined ? new TextEncoder().encode(linkPath) : e.payload;
  let s = `${path} ${e.size} ${linkPath !== undefined ? '@' : ''}${e.mode.toString(8)} ${e.nlink} ${e.uid} ${e.gid} ${e.rdev} ${e.mtime}.${e.mtimeNsec} `;
  s += linkPath !== undefined ? linkPath : payload ? escapeDump(payload, { loneDash: true }) : '-';
  s += ' ' + (e.content ? escapeDump(e.content, { loneDash: true }) : '-');
  s += ' ' + (e.digest ? hexOf(e.digest) : '-');
  for (const [k, v] of e.xattrs) s += ' ' + escapeDump(keyBytes(k), { equal: true }) + '=' + escapeDump(v, { equal: true });
  return s;
}

function hexOf(b: Uint8Array): string {
  let s = '';
  for (const x of b) s += x.toString(16).padStart(2, '0');
  return s;
}

async function entryOf(img: ErofsImage, ino: Inode, cfs: boolean, opts: DumpOptions): Promise<Entry> {
  const type = ino.mode & S_IFMT;
  const e: Entry = {
    mode: ino.mode,
    size: ino.size,
    nlink: ino.nlink,
    uid: ino.uid,
    gid: ino.gid,
    rdev: type === S_IFCHR || type === S_IFBLK ? ino.iu >>> 0 : 0,
    mtime: ino.mtime,
    mtimeNsec: ino.mtimeNsec,
    payload: undefined,
    content: undefined,
    digest: undefined,
    xattrs: [],
  };
  const all = await readXattrs(img, ino);
  // composefs lists the inline entries, then the shared ones.
  // (Other images: in name order, the order a composefs image keeps them in.)
  const ordered = cfs ? [...all.filter((x) => !x.shared), ...all.filter((x) => x.shared)] : [...all].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  let external = false;
  for (const x of ordered) {
    const k = x.name;
    if (!cfs) {
      e.xattrs.push([k, x.value]);
      continue;
    }
    if (k === K_REDIRECT) {
      if ((e.mode & S_IFMT) === S_IFREG) e.payload = x.value.length > 1 && x.value[0] === 0x2f ? x.value.subarray(1) : x.value;
    } else if (k === K_METACOPY) {
      if ((e.mode & S_IFMT) === S_IFREG) {
        external = true;
        if (x.value.length === METACOPY_SIZE) e.digest = x.value.slice(4);
      }
    } else if (k === K_ESC_WHITEOUT && (e.mode & S_IFMT) === S_IFREG) {
      e.mode = S_IFCHR | (e.mode & ~S_IFMT);
      e.rdev = 0;
      e.size = 0;
    } else if (K_SKIP.has(k)) {
      // whiteout markers: implied by the char 0/0 entries
    } else if (k.startsWith(K_PREFIX)) {
      if (k.startsWith(K_ESC_PREFIX)) e.xattrs.push([K_PREFIX + k.slice(K_ESC_PREFIX.length), x.value]);
    } else {
      e.xattrs.push([k, x.value]);
    }
  }
  if (type === S_IFLNK) {
    e.payload = await img.readlink(ino);
    e.size = e.payload.length;
  } else if ((e.mode & S_IFMT) === S_IFREG && e.size > 0 && !external) {
    if (e.size <= INLINE_CONTENT_MAX) {
      e.content = await img.read(ino);
    } else if (!cfs || ino.layout !== 4) {
      const h = new FsVerityHasher(opts.hash ? { hash: opts.hash } : {});
      for await (const piece of img.stream(ino)) h.update(piece);
      e.digest = h.digest();
      e.payload = new TextEncoder().encode(digestPath(e.digest));
    }
  }
  return e;
}
