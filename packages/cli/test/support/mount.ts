/**
 * Mounting images with the kernel for the differential tests. Every resource taken (loop
 * devices, the mount, the mount point) is released in reverse order whatever happens in
 * between, including a throwing comparison; `releaseAll` sweeps up anything still held
 * (for afterAll, in case a test was interrupted).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface MountSpec {
  /** The primary image (metadata, or a whole appended image). */
  image: string;
  /** Extra devices in device-table order; each is attached read-only to a loop device. */
  devices?: string[];
}

function run(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 120_000 });
  if (r.error) throw new Error(`${cmd} ${args.join(' ')}: ${r.error.message}`);
  if (r.status !== 0) {
    throw new Error(`${cmd} ${args.join(' ')} exited ${r.status ?? r.signal}: ${(r.stderr || r.stdout).trim()}`);
  }
  return r.stdout;
}

function sleep(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/** Undo steps of every live mount, newest last. */
const live = new Set<() => string[]>();

/** Attaches `file` read-only to a free loop device and returns its path. */
export function attachLoop(file: string): string {
  const dev = run('losetup', ['-f', '--show', '--read-only', file]).trim();
  if (!dev.startsWith('/dev/')) throw new Error(`losetup -f --show ${file} printed ${JSON.stringify(dev)}, not a device`);
  return dev;
}

export function detachLoop(dev: string): void {
  run('losetup', ['-d', dev]);
}

function unmount(dir: string): void {
  // A just-finished walk can leave the mount briefly busy; retry before giving up.
  let last: unknown;
  for (let attempt = 0; attempt < 10; attempt++) {
    try {
      run('umount', [dir]);
      return;
    } catch (e) {
      last = e;
      sleep(100 * (attempt + 1));
    }
  }
  throw last;
}

/** Runs the undo steps in reverse order, continuing past failures; returns their messages. */
function undo(steps: (() => void)[]): string[] {
  const problems: string[] = [];
  for (let i = steps.length - 1; i >= 0; i--) {
    try {
      steps[i]!();
    } catch (e) {
      problems.push((e as Error).message);
    }
  }
  steps.length = 0;
  return problems;
}

/**
 * Mounts `spec` read-only at a fresh temporary directory, runs `fn(mountPoint)`, and always
 * unmounts, detaches the loop devices and removes the mount point afterwards. The primary is
 * attached to a loop device too, so the mount never depends on mount(8)'s implicit loop setup.
 * An error from `fn` wins over cleanup errors (which are appended to its message); a cleanup
 * failure after a successful `fn` is thrown.
 */
export async function withMount<T>(spec: MountSpec, fn: (mountPoint: string) => Promise<T> | T): Promise<T> {
  const steps: (() => void)[] = [];
  const release = (): string[] => undo(steps);
  live.add(release);
  let result: T;
  try {
    const extra: string[] = [];
    for (const file of spec.devices ?? []) {
      const dev = attachLoop(file);
      steps.push(() => detachLoop(dev));
      extra.push(dev);
    }
    const primary = attachLoop(spec.image);
    steps.push(() => detachLoop(primary));
    const dir = mkdtempSync(join(tmpdir(), 'erofs-kit-mnt-'));
    steps.push(() => rmdirSync(dir));
    const options = ['ro', ...extra.map((d) => `device=${d}`)].join(',');
    run('mount', ['-t', 'erofs', '-o', options, primary, dir]);
    steps.push(() => unmount(dir));
    result = await fn(dir);
  } catch (e) {
    const problems = release();
    live.delete(release);
    if (problems.length > 0 && e instanceof Error) e.message += `\n(cleanup after this error also failed: ${problems.join('; ')})`;
    throw e;
  }
  const problems = release();
  live.delete(release);
  if (problems.length > 0) throw new Error(`cleanup after mounting ${spec.image} failed: ${problems.join('; ')}`);
  return result;
}

/** Releases every mount still held (for afterAll); returns the cleanup problems met. */
export function releaseAll(): string[] {
  const problems: string[] = [];
  for (const release of [...live]) {
    problems.push(...release());
    live.delete(release);
  }
  return problems;
}
