/**
 * What the commands that write files share: temp files renamed into place only on success
 * (removed on any failure, and on SIGINT, SIGTERM and SIGHUP), whole-buffer writes, and the
 * parsing of --uuid and --timestamp.
 *
 * Every temp path has `.erofs-kit-<pid>` in its name (`FINAL.erofs-kit-<pid>.tmp` for files,
 * `.DEST.erofs-kit-<pid>` for extract's staging directory). After SIGKILL, which no process
 * can catch, such a path is all that can be left; the final path is never partial.
 */
import { constants } from 'node:os';
import { existsSync, renameSync, unlinkSync, writeFileSync, writeSync } from 'node:fs';
import { UsageError } from './util.js';

/** Temp paths of this process not yet renamed or removed, with how to remove each. */
const pending = new Map<string, (path: string) => void>();
let handling = false;

function removeFile(path: string): void {
  if (existsSync(path)) unlinkSync(path);
}

/**
 * Registers a temp path to remove if the process is interrupted. The first registration
 * installs handlers for SIGINT, SIGTERM and SIGHUP that remove every pending path and exit
 * with 128 + the signal number, as the default action would.
 */
export function registerTemp(path: string, remove: (path: string) => void = removeFile): void {
  pending.set(path, remove);
  if (handling) return;
  handling = true;
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.on(sig, () => {
      removePending();
      process.exit(128 + (constants.signals[sig] ?? 0));
    });
  }
}

/** The path was renamed into place or removed: nothing to do for it any more. */
export function releaseTemp(path: string): void {
  pending.delete(path);
}

function removePending(): void {
  for (const [path, remove] of pending) {
    try {
      remove(path);
    } catch {
      // best effort: the process is going away
    }
  }
  pending.clear();
}

export function parseUuid(s: string): Uint8Array {
  const hex = s.replace(/-/g, '');
  if (!/^[0-9a-fA-F]{32}$/.test(hex)) throw new UsageError(`--uuid ${s}: not a UUID`);
  return Uint8Array.from(hex.match(/../g)!.map((h) => parseInt(h, 16)));
}

export function parseTimestamp(s: string, what: string): { sec: number; nsec: number } {
  if (!/^-?\d+(\.\d{1,9})?$/.test(s)) throw new UsageError(`${what} ${s}: expected seconds since the epoch`);
  const [a, b = ''] = s.split('.');
  const sec = Number(a);
  if (sec < 0 || sec > 2 ** 63) throw new UsageError(`${what} ${s}: out of range`);
  return { sec, nsec: Number(b.padEnd(9, '0')) };
}

/** Temp files that must vanish on any failure. */
export class Outputs {
  private temps: string[] = [];
  temp(final: string): string {
    const t = `${final}.erofs-kit-${process.pid}.tmp`;
    this.temps.push(t);
    registerTemp(t);
    return t;
  }
  commit(temp: string, final: string): void {
    renameSync(temp, final);
    this.temps = this.temps.filter((t) => t !== temp);
    releaseTemp(temp);
  }
  /** Writes `bytes` to `final` through a temp file (created exclusively) and a rename. */
  writeFile(final: string, bytes: Uint8Array): void {
    const t = this.temp(final);
    writeFileSync(t, bytes, { flag: 'wx', mode: 0o644 });
    this.commit(t, final);
  }
  cleanup(): void {
    for (const t of this.temps) {
      if (existsSync(t)) unlinkSync(t);
      releaseTemp(t);
    }
    this.temps = [];
  }
}

export function writeAllSync(fd: number, b: Uint8Array): void {
  let o = 0;
  while (o < b.length) o += writeSync(fd, b, o, b.length - o);
}

