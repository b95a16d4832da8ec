/**
 * The judges of the differential tests: the Linux kernel (root, erofs in /proc/filesystems,
 * losetup), python3 (walks mounts, lists xattrs, which Node cannot do) and the reference
 * mkfs.erofs. A missing judge skips the tests with the reason printed, except under CI, where
 * everything is installed and a missing judge is a failure, never a silent pass.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { it } from 'vitest';

export type JudgeResult = { ok: true } | { ok: false; reason: string };

const OK: JudgeResult = { ok: true };

/** True when the environment says we run in CI (CI=1, CI=true, ...; CI=0/false do not count). */
export function inCI(): boolean {
  const v = process.env['CI'];
  return v !== undefined && v !== '' && v !== '0' && v.toLowerCase() !== 'false';
}

/** Runs `cmd args` and reports whether it could be executed and exited 0. */
function runs(cmd: string, args: string[]): boolean {
  const r = spawnSync(cmd, args, { stdio: 'ignore', timeout: 30_000 });
  return r.error === undefined && r.status === 0;
}

export function isRoot(): JudgeResult {
  const uid = process.getuid?.();
  if (uid === undefined) return { ok: false, reason: 'not a POSIX platform (no process.getuid)' };
  return uid === 0 ? OK : { ok: false, reason: `not root (uid ${uid}); mounting needs root` };
}

function erofsListed(): boolean {
  try {
    return readFileSync('/proc/filesystems', 'utf8')
      .split('\n')
      .some((line) => line.trim().split(/\s+/).pop() === 'erofs');
  } catch {
    return false;
  }
}

export function kernelHasErofs(): JudgeResult {
  if (erofsListed()) return OK;
  // A modular erofs only shows up once loaded; try once (quietly) before giving up.
  if (isRoot().ok) runs('modprobe', ['-q', 'erofs']);
  return erofsListed() ? OK : { ok: false, reason: 'the kernel does not support erofs (no "erofs" in /proc/filesystems, modprobe erofs failed)' };
}

export function hasLosetup(): JudgeResult {
  return runs('losetup', ['--version']) ? OK : { ok: false, reason: 'losetup (util-linux) not found' };
}

export function hasPython3(): JudgeResult {
  return runs('python3', ['-c', 'import os, sys; os.listxattr; sys.exit(0)'])
    ? OK
    : { ok: false, reason: 'python3 (with os.listxattr) not found' };
}

export const MKFS = process.env['EROFS_KIT_MKFS'] ?? 'mkfs.erofs18';

export function hasMkfs(): JudgeResult {
  return runs(MKFS, ['-V']) ? OK : { ok: false, reason: `${MKFS} (erofs-utils 1.8.x) not found` };
}

export function hasFsverity(): JudgeResult {
  return runs('fsverity', ['--version']) ? OK : { ok: false, reason: 'fsverity (fsverity-utils) not found: apt-get install fsverity' };
}

/** First failure among the given checks, or ok. */
export function allOf(...checks: (() => JudgeResult)[]): JudgeResult {
  for (const check of checks) {
    const r = check();
    if (!r.ok) return r;
  }
  return OK;
}

/** Every judge of the kernel differential test. */
export function kernelJudges(): JudgeResult {
  return allOf(isRoot, kernelHasErofs, hasLosetup, hasPython3, hasMkfs);
}

/**
 * Decides whether the tests named `what` must be skipped. Call at collection time and pass
 * the answer to `describe.skipIf`. A missing judge prints `SKIPPED <what>: <reason>`; under
 * CI it instead registers a failing test that names the missing judge.
 */
export function skipWithoutJudges(what: string, result: JudgeResult = kernelJudges()): boolean {
  if (result.ok) return false;
  const reason = result.reason;
  if (inCI()) {
    it(`${what}: all judges present (required under CI)`, () => {
      throw new Error(`${what} cannot run under CI: ${reason}. CI must install every judge; a missing one is a failure, not a skip.`);
    });
  } else {
    console.warn(`SKIPPED ${what}: ${reason}`);
  }
  return true;
}
