/**
 * Helpers for the `erofs-kit index` CLI tests: running the CLI (with stdin, a shell pipe,
 * extra environment), making layer tars at test time (GNU tar from a directory tree, Python's
 * tarfile from a member list, byte patches on either), the external judges (sha256sum,
 * fsverity, zstd, fsck.erofs18) and reading an image back through the CLI.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, readdirSync, readFileSync, symlinkSync, linkSync, lutimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CLI_BIN } from './cli.js';
import type { JudgeResult } from './judges.js';

export const MKTAR = fileURLToPath(new URL('./index-mktar.py', import.meta.url));
export const FSCK_EROFS = process.env['EROFS_KIT_FSCK'] ?? 'fsck.erofs18';

// ---------------------------------------------------------------------------------------------
// Running things

export interface Run {
  status: number | null;
  signal: NodeJS.Signals | null;
  stdout: Buffer;
  stderr: string;
  /** Wall-clock milliseconds the process took. */
  ms: number;
  /** The command line, for messages. */
  cmd: string;
}

export interface RunOptions {
  input?: Buffer | undefined;
  env?: Record<string, string | undefined> | undefined;
  cwd?: string | undefined;
  timeoutMs?: number | undefined;
}

function envWith(extra: Record<string, string | undefined> | undefined): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  // A stray SOURCE_DATE_EPOCH in the caller's environment must not change what the tests see.
  delete env['SOURCE_DATE_EPOCH'];
  for (const [k, v] of Object.entries(extra ?? {})) {
    if (v === undefined) delete env[k];
    else env[k] = v;
  }
  return env;
}

export function run(cmd: string, args: string[], opts: RunOptions = {}): Run {
  const t0 = Date.now();
  const r = spawnSync(cmd, args, {
    input: opts.input,
    env: envWith(opts.env),
    cwd: opts.cwd,
    timeout: opts.timeoutMs ?? 120_000,
    maxBuffer: 1 << 28,
  });
  const ms = Date.now() - t0;
  if (r.error) throw new Error(`${cmd} ${args.join(' ')}: ${r.error.message}`);
  return { status: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr.toString('utf8'), ms, cmd: `${cmd} ${args.join(' ')}` };
}

/** `erofs-kit ARGS`. */
export function kit(args: string[], opts: RunOptions = {}): Run {
  const r = run(process.execPath, [CLI_BIN, ...args], opts);
  r.cmd = `erofs-kit ${args.join(' ')}`;
  return r;
}

/** `cat FILE | erofs-kit ARGS` through a real shell pipe. */
export function kitPiped(file: string, args: string[], opts: RunOptions = {}): Run {
  const script = 'f="$1"; shift; cat -- "$f" | "$@"';
  const r = run('sh', ['-c', script, 'sh', file, process.execPath, CLI_BIN, ...args], opts);
  r.cmd = `cat ${file} | erofs-kit ${args.join(' ')}`;
  return r;
}

/**
 * FILE written into `erofs-kit ARGS` through a pipe in `chunk`-byte writes, each flushed, so the
 * reader sees odd chunk boundaries rather than whole pipe buffers.
 */
export function kitTrickled(file: string, args: string[], chunk: number, opts: RunOptions = {}): Run {
  const writer =
    'import sys\nd = open(sys.argv[1], "rb").read()\nn = int(sys.argv[2])\nfor i in range(0, len(d), n):\n    sys.stdout.buffer.write(d[i:i + n]); sys.stdout.buffer.flush()\n';
  const script = 'f="$1"; n="$2"; w="$3"; shift 3; python3 -c "$w" "$f" "$n" | "$@"';
  const r = run('sh', ['-c', script, 'sh', file, String(chunk), writer, process.execPath, CLI_BIN, ...args], opts);
  r.cmd = `(${file} in ${chunk}-byte writes) | erofs-kit ${args.join(' ')}`;
  return r;
}

/** Throws with the command's output unless it exited 0. */
export function ok(r: Run): Run {
  if (r.status !== 0) throw new Error(`${r.cmd} exited ${r.status ?? r.signal}:\n${(r.stderr + r.stdout.toString('utf8')).trim().slice(0, 4000)}`);
  return r;
}

export const text = (r: Run): string => r.stdout.toString('utf8');

/** A Node stack frame in CLI output ("    at foo (file:1:2)"). */
export const STACK_FRAME = /\n\s+at \S/;

// ---------------------------------------------------------------------------------------------
// External judges

/** Whether `cmd args` runs and exits 0. */
export function tool(cmd: string, args: string[], what: string): JudgeResult {
  const r = spawnSync(cmd, args, { stdio: 'ignore', timeout: 30_000 });
  return r.error === undefined && r.status === 0 ? { ok: true } : { ok: false, reason: `${what} (${cmd}) not found` };
}

export const hasGnuTar = (): JudgeResult => {
  const r = spawnSync('tar', ['--version'], { encoding: 'utf8' });
  return r.status === 0 && /GNU tar/.test(r.stdout) ? { ok: true } : { ok: false, reason: 'GNU tar not found' };
};
export const hasPython = (): JudgeResult => tool('python3', ['-c', 'import tarfile'], 'python3 with tarfile');
export const hasZstd = (): JudgeResult => tool('zstd', ['--version'], 'zstd (apt-get install -y zstd)');
export const hasFsverity = (): JudgeResult => tool('fsverity', ['--version'], 'fsverity (apt-get install -y fsverity)');
export const hasFsckErofs = (): JudgeResult => tool(FSCK_EROFS, ['-V'], 'fsck.erofs from erofs-utils 1.8');
export const hasSha256sum = (): JudgeResult => tool('sha256sum', ['--version'], 'sha256sum (coreutils)');

/** `sha256:HEX` as sha256sum prints it for FILE. */
export function sha256sum(file: string): string {
  const out = text(ok(run('sha256sum', ['-b', file]))).trim();
  return `sha256:${out.split(/\s+/)[0]}`;
}

/** `sha256:HEX` as `fsverity digest FILE` prints it (sha256, 4 KiB blocks, no salt). */
export function fsverityDigest(file: string): string {
  const out = text(ok(run('fsverity', ['digest', '--hash-alg=sha256', '--block-size=4096', file]))).trim();
  const m = /^sha256:([0-9a-f]{64})\s/.exec(out);
  if (!m) throw new Error(`fsverity digest ${file} printed ${JSON.stringify(out)}`);
  return `sha256:${m[1]}`;
}

// ---------------------------------------------------------------------------------------------
// Making tars

export interface MemberSpec {
  name: string;
  type?: 'file' | 'dir' | 'symlink' | 'hardlink' | 'char' | 'block' | 'fifo';
  data?: string;
  size?: number;
  linkname?: string;
  mode?: number;
  mtime?: number;
  uid?: number;
  gid?: number;
  devmajor?: number;
  devminor?: number;
  pax?: Record<string, string>;
  /** Keep a directory's name exactly as given (tarfile would append '/'). */
  rawName?: boolean;
}

export interface MemberAt {
  name: string;
  /** First header block of the member (extension headers included). */
  start: number;
  /** The member's own header block. */
  header: number;
  data: number;
  end: number;
}

export interface MadeTar {
  path: string;
  members: MemberAt[];
  /** Offset of the end-of-archive marker. */
  eof: number;
  size: number;
}

/** Writes `members` with Python's tarfile to DIR/NAME and reports where each member lies. */
export function pyTar(dir: string, name: string, members: MemberSpec[], format: 'gnu' | 'pax' | 'ustar' = 'gnu'): MadeTar {
  const spec = join(dir, `${name}.spec.json`);
  writeFileSync(spec, JSON.stringify({ format, members }));
  const path = join(dir, name);
  const lines = text(ok(run('python3', [MKTAR, spec, path])))
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
  const last = lines.pop() as { eof: number; size: number };
  return { path, members: lines as unknown as MemberAt[], eof: last.eof, size: last.size };
}

/** Deterministic pseudo-random bytes (xorshift32), so failures reproduce. */
export function pseudoRandom(n: number, seed: number): Buffer {
  const b = Buffer.alloc(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    b[i] = x & 0xff;
  }
  return b;
}

/** Header fields (offset, length) of a ustar/GNU header block. */
export const FIELD = {
  name: [0, 100],
  mode: [100, 8],
  size: [124, 12],
  mtime: [136, 12],
  chksum: [148, 8],
  typeflag: [156, 1],
  linkname: [157, 100],
} as const;

/** Recomputes the checksum of the header block at `at` (as tar writes it: 6 octal digits, NUL, space). */
export function fixChecksum(b: Buffer, at: number): void {
  b.fill(0x20, at + 148, at + 156);
  let sum = 0;
  for (let i = 0; i < 512; i++) sum += b[at + i]!;
  b.write(sum.toString(8).padStart(6, '0') + '\0 ', at + 148, 'latin1');
}

/** Overwrites header field `field` of the block at `at` with `value` (NUL-padded) and fixes the checksum. */
export function setField(b: Buffer, at: number, field: keyof typeof FIELD, value: string): void {
  const [off, len] = FIELD[field];
  if (value.length > len) throw new Error(`${value} does not fit the ${len}-byte ${field} field`);
  b.fill(0, at + off, at + off + len);
  b.write(value, at + off, 'latin1');
  fixChecksum(b, at);
}

/**
 * A small but varied root filesystem tree on disk (sizes around block boundaries, a file of
 * several hundred KiB, long and non-ASCII names, symlinks, hard links across directories, a
 * fifo, odd modes, several mtimes with one clearly most common: {@link TREE_COMMON_MTIME}).
 */
export const TREE_COMMON_MTIME = 1600000000;

export function makeTree(root: string): void {
  const t = TREE_COMMON_MTIME;
  const dirs = ['etc', 'bin', 'usr/bin', 'usr/share/doc/pkg', 'var/empty', 'data'];
  for (const d of dirs) mkdirSync(join(root, d), { recursive: true });
  const files: [string, Buffer, number?][] = [
    ['etc/passwd', Buffer.from('root:x:0:0:root:/root:/bin/sh\n')],
    ['etc/empty', Buffer.alloc(0)],
    ['etc/shadow', Buffer.from('root:*:19000:0:99999:7:::\n'), 0o600],
    ['bin/busybox', pseudoRandom(300 * 1024 + 17, 1), 0o4755],
    ['data/one', Buffer.from('1')],
    ['data/b511', pseudoRandom(511, 2)],
    ['data/b512', pseudoRandom(512, 3)],
    ['data/b513', pseudoRandom(513, 4)],
    ['data/b4097', pseudoRandom(4097, 5)],
    ['data/café-ünïcode', Buffer.from('non-ascii name\n')],
    ['usr/share/doc/pkg/' + 'a-rather-long-file-name-'.repeat(6) + 'end.txt', Buffer.from('long name\n')],
  ];
  for (const [p, data, mode] of files) {
    writeFileSync(join(root, p), data);
    if (mode !== undefined) chmodSync(join(root, p), mode);
  }
  symlinkSync('/bin/busybox', join(root, 'usr/bin/sh'));
  symlinkSync('../../etc/passwd', join(root, 'usr/bin/passwd-link'));
  linkSync(join(root, 'bin/busybox'), join(root, 'usr/bin/busybox'));
  linkSync(join(root, 'data/one'), join(root, 'etc/one-again'));
  run('mkfifo', [join(root, 'var/fifo')]);
  chmodSync(join(root, 'var/empty'), 0o1777);
  // mtimes: most at t (lutimes, so symlinks are never followed), a few others.
  const walk = (d: string): string[] =>
    readdirSync(d, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? [...walk(join(d, e.name)), join(d, e.name)] : [join(d, e.name)]));
  for (const p of walk(root)) lutimesSync(p, t, t);
  lutimesSync(join(root, 'data/one'), t + 100, t + 100);
  lutimesSync(join(root, 'etc/passwd'), t - 5, t - 5);
  lutimesSync(join(root, 'usr/bin/sh'), t + 7, t + 7);
  lutimesSync(root, t, t);
}

/** `tar` the tree at `root` into `out` with GNU tar in the given format. */
export function gnuTar(root: string, out: string, format: 'gnu' | 'posix'): void {
  ok(run('tar', [`--format=${format}`, '--numeric-owner', '--owner=0', '--group=0', '--sort=name', '-cf', out, '-C', root, '.']));
}

/** Every regular file under `root` (relative paths, '/'-separated). */
export function regularFiles(root: string, rel = ''): string[] {
  return readdirSync(join(root, rel), { withFileTypes: true }).flatMap((e) => {
    const p = rel ? `${rel}/${e.name}` : e.name;
    if (e.isDirectory()) return regularFiles(root, p);
    return e.isFile() ? [p] : [];
  });
}

/** Names in `dir`, sorted. */
export const listing = (dir: string): string[] => readdirSync(dir).sort();

export const read = (p: string): Buffer => readFileSync(p);

// ---------------------------------------------------------------------------------------------
// Reading an image back through the CLI

export interface LsEntry {
  path: string;
  nid: number;
  type: string;
  mode: string;
  nlink: number;
  uid: number;
  gid: number;
  size: number;
  mtime: number;
  mtimeNsec: number;
  target?: string;
  rdev?: { major: number; minor: number };
}

export interface StatJson extends LsEntry {
  xattrs: { name: string; value: string }[];
}

const devArgs = (devices: string[]): string[] => devices.flatMap((d) => ['--device', d]);

export function lsTree(image: string, devices: string[] = []): LsEntry[] {
  return JSON.parse(text(ok(kit(['ls', image, '-R', '--json', ...devArgs(devices)])))) as LsEntry[];
}

export function statOf(image: string, path: string, devices: string[] = []): StatJson {
  return JSON.parse(text(ok(kit(['stat', image, path, '--json', ...devArgs(devices)])))) as StatJson;
}

export function catOf(image: string, path: string, devices: string[] = []): Buffer {
  return ok(kit(['cat', image, path, ...devArgs(devices)])).stdout;
}

export function inspectOf(image: string): { epoch: number; fixedNsec: number; uuid: string; blockSize: number } {
  return JSON.parse(text(ok(kit(['inspect', image, '--json'])))) as { epoch: number; fixedNsec: number; uuid: string; blockSize: number };
}

/** Problems `erofs-kit fsck` (and fsck.erofs when present) find in META with TAR as device 1; '' when none. */
export function fsckProblems(meta: string, tar: string | undefined, withReference: boolean): string {
  const problems: string[] = [];
  const a = kit(['fsck', meta, ...(tar ? ['--device', tar] : [])]);
  if (a.status !== 0) problems.push(`${a.cmd} exited ${a.status}: ${(text(a) + a.stderr).trim().slice(0, 2000)}`);
  if (withReference) {
    const b = run(FSCK_EROFS, [...(tar ? [`--device=${tar}`] : []), meta]);
    if (b.status !== 0) problems.push(`${b.cmd} exited ${b.status}: ${(text(b) + b.stderr).trim().slice(0, 2000)}`);
  }
  return problems.join('\n');
}
