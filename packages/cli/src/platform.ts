/**
 * Filesystem operations Node.js does not offer: mknod (devices, fifos, sockets), setxattr,
 * and timestamps with exact nanoseconds (Node's utimes goes through a double and rounds to
 * microseconds). They run as one batch in a python3 child process (docs/adr/0005-extract-platform-ops.md);
 * without python3 the caller degrades with a warning.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';

export type PlatformOp =
  | { op: 'mknod'; p: Buffer; mode: number; major: number; minor: number; uid?: number; gid?: number }
  /** A directory's final owner (when uid is given), mode and mtime, after everything inside it exists. */
  | { op: 'dir'; p: Buffer; mode: number; s: number; ns: number; uid?: number; gid?: number }
  | { op: 'link'; from: Buffer; p: Buffer }
  | { op: 'xattr'; p: Buffer; n: string; v: Uint8Array }
  | { op: 'utime'; p: Buffer; s: number; ns: number };

export interface OpFailure {
  op: PlatformOp;
  error: string;
}

const SCRIPT = String.raw`
import json, os, sys
os.umask(0)
out = sys.stdout
for i, line in enumerate(sys.stdin):
    r = json.loads(line)
    try:
        op = r["op"]
        p = bytes.fromhex(r["p"])
        if op == "mknod":
            os.mknod(p, r["mode"], os.makedev(r["major"], r["minor"]))
            if "uid" in r:
                os.chown(p, r["uid"], r["gid"], follow_symlinks=False)
                os.chmod(p, r["mode"] & 0o7777)
        elif op == "dir":
            if "uid" in r:
                os.chown(p, r["uid"], r["gid"], follow_symlinks=False)
            os.chmod(p, r["mode"] & 0o7777)
            t = r["s"] * 1000000000 + r["ns"]
            os.utime(p, ns=(t, t))
        elif op == "link":
            os.link(bytes.fromhex(r["from"]), p, follow_symlinks=False)
        elif op == "xattr":
            os.setxattr(p, r["n"].encode("utf-8", "surrogateescape"), bytes.fromhex(r["v"]), follow_symlinks=False)
        elif op == "utime":
            t = r["s"] * 1000000000 + r["ns"]
            os.utime(p, ns=(t, t), follow_symlinks=False)
            got = os.stat(p, follow_symlinks=False).st_mtime_ns
            if got != t:
                out.write(json.dumps({"i": i, "err": "the destination stored mtime %d.%09d instead" % divmod(got, 1000000000)}) + "\n")
    except OSError as e:
        out.write(json.dumps({"i": i, "err": "%s: %s" % (e.__class__.__name__, e.strerror or str(e))}) + "\n")
`;

/**
 * The interpreter: the system's own binary when there is one (version-manager shims such as
 * pyenv's cost hundreds of milliseconds per start), else whatever `python3` is on PATH.
 */
const PYTHON = existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';

export class NoPython extends Error {}

function opLine(o: PlatformOp): string {
  switch (o.op) {
    case 'mknod':
      return JSON.stringify({ op: o.op, p: o.p.toString('hex'), mode: o.mode, major: o.major, minor: o.minor, ...(o.uid !== undefined ? { uid: o.uid, gid: o.gid } : {}) });
    case 'dir':
      return JSON.stringify({ op: o.op, p: o.p.toString('hex'), mode: o.mode, s: o.s, ns: o.ns, ...(o.uid !== undefined ? { uid: o.uid, gid: o.gid } : {}) });
    case 'link':
      return JSON.stringify({ op: o.op, p: o.p.toString('hex'), from: o.from.toString('hex') });
    case 'xattr':
      return JSON.stringify({ op: o.op, p: o.p.toString('hex'), n: o.n, v: Buffer.from(o.v).toString('hex') });
    case 'utime':
      return JSON.stringify({ op: o.op, p: o.p.toString('hex'), s: o.s, ns: o.ns });
  }
}

function failuresOf(stdout: string, ops: PlatformOp[]): OpFailure[] {
  const failures: OpFailure[] = [];
  for (const line of stdout.split('\n')) {
    if (!line) continue;
    const f = JSON.parse(line) as { i: number; err: string };
    failures.push({ op: ops[f.i]!, error: f.err });
  }
  return failures;
}

/** Runs ops in order, in one python3 process; returns the ones that failed. Throws NoPython when it cannot start. */
export function runOps(ops: PlatformOp[]): OpFailure[] {
  if (ops.length === 0) return [];
  const r = spawnSync(PYTHON, ['-c', SCRIPT], { input: ops.map(opLine).join('\n') + '\n', encoding: 'utf8', maxBuffer: 1 << 30 });
  if ((r.error as NodeJS.ErrnoException | undefined)?.code === 'ENOENT') throw new NoPython('python3 not found');
  if (r.error || r.status !== 0) {
    throw new Error(`python3 helper failed: ${r.error?.message ?? r.stderr.trim().split('\n').pop()}`);
  }
  return failuresOf(r.stdout, ops);
}

/**
 * The same helper fed while the caller works: started at the first op, each op written to its
 * stdin at once (python3 runs them as they come, in order, beside the caller), `finish` closes
 * the input and collects the failures. Its start-up and most of its work then overlap the
 * extraction instead of following it.
 */
export class OpStream {
  readonly ops: PlatformOp[] = [];
  private child: ChildProcess | undefined;
  private done: Promise<{ code: number | null; error?: NodeJS.ErrnoException }> | undefined;
  private stdout = '';
  private stderr = '';

  push(op: PlatformOp): void {
    this.ops.push(op);
    if (!this.child) this.start();
    this.child!.stdin!.write(opLine(op) + '\n');
  }

  private start(): void {
    const child = spawn(PYTHON, ['-c', SCRIPT], { stdio: ['pipe', 'pipe', 'pipe'] });
    this.child = child;
    child.stdout!.setEncoding('utf8').on('data', (d: string) => (this.stdout += d));
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (this.stderr += d));
    // a helper that died (or never started) makes writes fail: `finish` reports why
    child.stdin!.on('error', () => {});
    this.done = new Promise((resolve) => {
      child.on('error', (error: NodeJS.ErrnoException) => resolve({ code: null, error }));
      child.on('close', (code) => resolve({ code }));
    });
  }

  /** Waits for every op; returns the ones that failed. Throws NoPython when python3 could not start. */
  async finish(): Promise<OpFailure[]> {
    if (!this.child) return [];
    this.child.stdin!.end();
    const r = await this.done!;
    if (r.error?.code === 'ENOENT') throw new NoPython('python3 not found');
    if (r.error || r.code !== 0) throw new Error(`python3 helper failed: ${r.error?.message ?? this.stderr.trim().split('\n').pop()}`);
    return failuresOf(this.stdout, this.ops);
  }

  /** Stops the helper and waits for it to be gone (the extraction failed: nothing may still write). */
  async kill(): Promise<void> {
    if (!this.child) return;
    this.child.kill('SIGKILL');
    await this.done;
  }
}
