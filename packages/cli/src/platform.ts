/**
 * Filesystem operations Node.js does not offer: mknod (devices, fifos, sockets), setxattr,
 * and timestamps with exact nanoseconds (Node's utimes goes through a double and rounds to
 * microseconds). They run as one batch in a python3 child process (docs/adr/0005-extract-platform-ops.md);
 * without python3 the caller degrades with a warning.
 */
import { spawnSync } from 'node:child_process';
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

/** Runs ops in order, in one python3 process; returns the ones that failed. Throws NoPython when it cannot start. */
export function runOps(ops: PlatformOp[]): OpFailure[] {
  if (ops.length === 0) return [];
  const lines: string[] = [];
  for (const o of ops) {
    switch (o.op) {
      case 'mknod':
        lines.push(JSON.stringify({ op: o.op, p: o.p.toString('hex'), mode: o.mode, major: o.major, minor: o.minor, ...(o.uid !== undefined ? { uid: o.uid, gid: o.gid } : {}) }));
        break;
      case 'dir':
        lines.push(JSON.stringify({ op: o.op, p: o.p.toString('hex'), mode: o.mode, s: o.s, ns: o.ns, ...(o.uid !== undefined ? { uid: o.uid, gid: o.gid } : {}) }));
        break;
      case 'link':
        lines.push(JSON.stringify({ op: o.op, p: o.p.toString('hex'), from: o.from.toString('hex') }));
        break;
      case 'xattr':
        lines.push(JSON.stringify({ op: o.op, p: o.p.toString('hex'), n: o.n, v: Buffer.from(o.v).toString('hex') }));
        break;
      case 'utime':
        lines.push(JSON.stringify({ op: o.op, p: o.p.toString('hex'), s: o.s, ns: o.ns }));
        break;
    }
  }
  const r = spawnSync(PYTHON, ['-c', SCRIPT], { input: lines.join('\n') + '\n', encoding: 'utf8', maxBuffer: 1 << 30 });
  if ((r.error as NodeJS.ErrnoException | undefined)?.code === 'ENOENT') throw new NoPython('python3 not found');
  if (r.error || r.status !== 0) {
    throw new Error(`python3 helper failed: ${r.error?.message ?? r.stderr.trim().split('\n').pop()}`);
  }
  const failures: OpFailure[] = [];
  for (const line of r.stdout.split('\n')) {
    if (!line) continue;
    const f = JSON.parse(line) as { i: number; err: string };
    failures.push({ op: ops[f.i]!, error: f.err });
  }
  return failures;
}
