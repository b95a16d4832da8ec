/**
 * A directory on disk as the writer's tree (Node only): every file type, hard links (one node
 * per inode), exact name bytes, nanosecond mtimes, owners, device numbers, and xattrs read
 * with the system's `getfattr` in one run over the whole tree, beside the walk (Node has no
 * xattr API; see docs/adr/0017-directory-input.md). Children are inserted in name-byte order, so the image
 * does not depend on the order the filesystem lists a directory in. Regular files are read
 * when the image is written (`input` data through a source that opens the file per read).
 */
import { spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { closeSync, lstatSync, openSync, readSync, readdirSync, readlinkSync, type BigIntStats } from 'node:fs';
import { ErofsError, hex } from '../errors.js';
import type { ByteSource } from '../io/source.js';
import { NO_XATTRS, S_IFBLK, S_IFCHR, S_IFDIR, S_IFLNK, S_IFMT, S_IFREG, nameKey, type TreeNode } from '../tree/node.js';

export interface DirectoryTreeOptions {
  /** Read xattrs with getfattr (default true). When getfattr is missing, xattrs are skipped with a warning. */
  xattrs?: boolean;
  onWarning?: (message: string) => void;
  /** Leaves out (with everything below) each entry whose path relative to the top, without a leading '/', it returns true for. */
  exclude?: (relativePath: string) => boolean;
}

export interface DirectoryTree {
  root: TreeNode;
  /** Inodes in the tree (hard links counted once). */
  inodes: number;
  /** Whether xattrs were read (false: getfattr missing or turned off). */
  xattrsRead: boolean;
  warnings: string[];
}

/** A file's bytes, opened for each read (a tree of many files keeps no descriptors open). */
class PathSource implements ByteSource {
  constructor(
    private readonly path: Buffer,
    readonly size: number,
  ) {}
  get name(): string {
    return this.path.toString();
  }
  read(offset: number, length: number): Promise<Uint8Array> {
    try {
      const buf = Buffer.allocUnsafe(length);
      this.readInto(offset, buf);
      return Promise.resolve(buf);
    } catch (e) {
      return Promise.reject(e);
    }
  }
  /** Reads straight into the writer's buffer (no copy): open, read, close. */
  readInto(offset: number, into: Uint8Array): void {
    let fd: number;
    try {
      fd = openSync(this.path, 'r');
    } catch (e) {
      throw new ErofsError('io', `cannot open ${this.name}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, { format: 'io', path: this.name });
    }
    try {
      let got = 0;
      while (got < into.length) {
        const n = readSync(fd, into, got, into.length - got, offset + got);
        if (n === 0) {
          throw new ErofsError('truncated', `${this.name} changed while the image was written: it ends at ${hex(offset + got)}, ${this.size} bytes were listed`, { format: 'io', path: this.name, offset: offset + got });
        }
        got += n;
      }
    } finally {
      closeSync(fd);
    }
  }
}

/** Linux's huge_decode_dev: the major and minor numbers of a dev_t. */
function splitDev(rdev: bigint): [number, number] {
  const major = Number(((rdev >> 8n) & 0xfffn) | ((rdev >> 32n) & ~0xfffn));
  const minor = Number((rdev & 0xffn) | ((rdev >> 12n) & ~0xffn));
  return [major, minor];
}

function nodeOf(st: BigIntStats): TreeNode {
  const ns = st.mtimeNs;
  let sec = ns / 1_000_000_000n;
  let nsec = ns - sec * 1_000_000_000n;
  if (nsec < 0n) {
    sec -= 1n;
    nsec += 1_000_000_000n;
  }
  return {
    mode: Number(st.mode),
    uid: Number(st.uid),
    gid: Number(st.gid),
    mtime: Number(sec),
    mtimeNsec: Number(nsec),
    size: 0,
    rdevMajor: 0,
    rdevMinor: 0,
    xattrs: NO_XATTRS,
  };
}

const SLASH = Buffer.from('/');

export async function treeFromDirectory(dir: string, opts: DirectoryTreeOptions = {}): Promise<DirectoryTree> {
  const warnings: string[] = [];
  const warn = (m: string): void => {
    warnings.push(m);
    opts.onWarning?.(m);
  };
  // Absolute and without a trailing slash: the form getfattr prints the paths in.
  const top = Buffer.from(resolve(dir));
  let st: BigIntStats;
  try {
    st = lstatSync(top, { bigint: true });
  } catch (e) {
    throw new ErofsError('io', `cannot read ${dir}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, { format: 'io', path: dir });
  }
  if ((Number(st.mode) & S_IFMT) !== S_IFDIR) throw new ErofsError('invalid-value', `${dir} is not a directory`, { format: 'io', path: dir });
  // getfattr walks the tree in its own process while this one does: started first, read last.
  const getfattr = opts.xattrs !== false ? runGetfattr(top.toString()) : undefined;
  try {
    const tree = walk(top, st, opts);
    const xattrsRead = getfattr !== undefined && attachXattrs(await getfattr.result, tree.byPath, warn);
    return { root: tree.root, inodes: tree.inodes, xattrsRead, warnings };
  } finally {
    getfattr?.stop();
  }
}

/** The tree below `top` (whose lstat is `st`), and its nodes by the latin1 key of their path bytes. */
function walk(top: Buffer, st: BigIntStats, opts: DirectoryTreeOptions): { root: TreeNode; inodes: number; byPath: Map<string, TreeNode> } {
  const root = nodeOf(st);
  root.children = new Map();
  root.xattrs = new Map();
  /** Nodes by the latin1 key of their path bytes, for attaching xattrs. */
  const byPath = new Map<string, TreeNode>([[nameKey(top), root]]);
  const byInode = new Map<string, TreeNode>();
  let inodes = 1;
  const stack: [Buffer, TreeNode][] = [[top, root]];
  while (stack.length > 0) {
    const [path, node] = stack.pop()!;
    let names: Buffer[];
    try {
      names = readdirSync(path, { encoding: 'buffer' });
    } catch (e) {
      throw new ErofsError('io', `cannot list ${path.toString()}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, { format: 'io', path: path.toString() });
    }
    names.sort(Buffer.compare);
    for (const name of names) {
      if (name.length > 255) throw new ErofsError('invalid-value', `${path.toString()}: a name of ${name.length} bytes exceeds 255`, { format: 'io', path: path.toString() });
      const p = Buffer.concat([path, SLASH, name]);
      if (opts.exclude?.(p.subarray(top.length + 1).toString())) continue;
      let s: BigIntStats;
      try {
        s = lstatSync(p, { bigint: true });
      } catch (e) {
        throw new ErofsError('io', `cannot stat ${p.toString()}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, { format: 'io', path: p.toString() });
      }
      const type = Number(s.mode) & S_IFMT;
      const key = nameKey(name);
      if (type !== S_IFDIR && s.nlink > 1n) {
        const id = `${s.dev}:${s.ino}`;
        const seen = byInode.get(id);
        if (seen) {
          node.children!.set(key, seen);
          byPath.set(nameKey(p), seen); // getfattr reports a hard-linked file under every name
          continue;
        }
        const n = fileNode(p, s, type);
        byInode.set(id, n);
        node.children!.set(key, n);
        byPath.set(nameKey(p), n);
        inodes++;
        continue;
      }
      const n = fileNode(p, s, type);
      node.children!.set(key, n);
      byPath.set(nameKey(p), n);
      inodes++;
      if (type === S_IFDIR) stack.push([p, n]);
    }
  }
  return { root, inodes, byPath };
}

function fileNode(p: Buffer, s: BigIntStats, type: number): TreeNode {
  const n = nodeOf(s);
  if (type === S_IFDIR) {
    n.children = new Map();
  } else if (type === S_IFREG) {
    n.size = Number(s.size);
    n.data = n.size === 0 ? { kind: 'empty' } : { kind: 'input', input: new PathSource(p, n.size), offset: 0 };
  } else if (type === S_IFLNK) {
    const target = readlinkSync(p, { encoding: 'buffer' });
    n.target = new Uint8Array(target);
    n.size = target.length;
  } else if (type === S_IFCHR || type === S_IFBLK) {
    [n.rdevMajor, n.rdevMinor] = splitDev(s.rdev);
  }
  return n;
}

/** Unescapes getfattr's text: `\ooo` octal bytes and `\\`. */
function unescape(b: Buffer): Buffer {
  if (!b.includes(0x5c)) return b;
  const out: number[] = [];
  for (let i = 0; i < b.length; i++) {
    const c = b[i]!;
    if (c === 0x5c && i + 3 < b.length && /^[0-7]{3}$/.test(b.subarray(i + 1, i + 4).toString('latin1'))) {
      out.push(parseInt(b.subarray(i + 1, i + 4).toString('latin1'), 8));
      i += 3;
    } else if (c === 0x5c && b[i + 1] === 0x5c) {
      out.push(0x5c);
      i++;
    } else out.push(c);
  }
  return Buffer.from(out);
}

interface GetfattrResult {
  error: Error | undefined;
  status: number | null;
  stdout: Buffer;
  stderr: Buffer;
}

/** Output that makes getfattr's run fail (as spawnSync's maxBuffer did): 1 GiB. */
const GETFATTR_MAX_OUTPUT = 1 << 30;

/**
 * Starts `getfattr -R -h -d -m - -e hex -P` over the tree (one process for all files; -h: a
 * symlink's own xattrs, not its target's). `result` never rejects: a failure to run is its
 * `error`. `stop()` ends the process if it still runs.
 */
function runGetfattr(top: string): { result: Promise<GetfattrResult>; stop: () => void } {
  const child = spawn('getfattr', ['-R', '-h', '-d', '-m', '-', '-e', 'hex', '-P', '--absolute-names', '--', top], { stdio: ['ignore', 'pipe', 'pipe'] });
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  let size = 0;
  let error: Error | undefined;
  child.stdout.on('data', (b: Buffer) => {
    size += b.length;
    if (size > GETFATTR_MAX_OUTPUT) {
      error ??= Object.assign(new Error('output too large'), { code: 'ENOBUFS' });
      child.kill();
    } else out.push(b);
  });
  child.stderr.on('data', (b: Buffer) => err.push(b));
  const result = new Promise<GetfattrResult>((resolve) => {
    child.once('error', (e) => {
      error ??= e;
      resolve({ error, status: null, stdout: Buffer.alloc(0), stderr: Buffer.alloc(0) });
    });
    child.once('close', (status) => resolve({ error, status, stdout: Buffer.concat(out), stderr: Buffer.concat(err) }));
  });
  return {
    result,
    stop: () => {
      if (child.exitCode === null && child.signalCode === null) child.kill();
    },
  };
}

/** Attaches the xattrs getfattr reported. Returns false (with a warning) when it could not run. */
function attachXattrs(r: GetfattrResult, byPath: Map<string, TreeNode>, warn: (m: string) => void): boolean {
  if (r.error) {
    warn(`xattrs skipped: getfattr cannot run (${(r.error as NodeJS.ErrnoException).code ?? r.error.message}); install it with apt-get install attr`);
    return false;
  }
  if (r.status !== 0 && r.stdout.length === 0) {
    warn(`xattrs skipped: getfattr exited ${r.status}: ${r.stderr.toString().trim().split('\n')[0] ?? ''}`);
    return false;
  }
  let node: TreeNode | undefined;
  for (const line of splitLines(r.stdout)) {
    if (line.length === 0) continue;
    if (line.subarray(0, 8).toString('latin1') === '# file: ') {
      const p = unescape(line.subarray(8));
      node = byPath.get(nameKey(p));
      if (!node) warn(`getfattr reported ${p.toString()}, which the walk did not see`);
      else if (node.xattrs === NO_XATTRS) node.xattrs = new Map();
      continue;
    }
    const eq = line.indexOf(0x3d);
    if (!node || eq < 0) continue;
    const name = unescape(line.subarray(0, eq)).toString('utf8');
    const value = line.subarray(eq + 1).toString('latin1');
    if (!value.startsWith('0x') && value !== '') {
      warn(`getfattr printed ${name} in a form other than hex; skipped`);
      continue;
    }
    node.xattrs.set(name, value === '' ? new Uint8Array(0) : new Uint8Array(Buffer.from(value.slice(2), 'hex')));
  }
  // Sorted names: the same xattrs give the same bytes whatever order getfattr printed them in.
  for (const n of byPath.values()) if (n.xattrs.size > 1) n.xattrs = new Map([...n.xattrs].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  return true;
}

function* splitLines(b: Buffer): Generator<Buffer> {
  let s = 0;
  for (;;) {
    const nl = b.indexOf(0x0a, s);
    if (nl < 0) {
      if (s < b.length) yield b.subarray(s);
      return;
    }
    yield b.subarray(s, nl);
    s = nl + 1;
  }
}
