/**
 * Runs the built erofs-kit CLI as a user would: `node bin/erofs-kit.js ...`.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { REPO_ROOT, type Fixture } from './fixtures.js';

export const CLI_BIN = resolve(REPO_ROOT, 'packages/cli/bin/erofs-kit.js');
export const CLI_DIST = resolve(REPO_ROOT, 'packages/cli/dist/cli.js');

/** Why the CLI cannot be run, or undefined when it is built. */
export function cliMissing(): string | undefined {
  for (const f of [CLI_BIN, CLI_DIST]) {
    if (!existsSync(f)) return `the erofs-kit CLI is not built: ${f} is missing (run \`npm run build\` in packages/cli)`;
  }
  return undefined;
}

export interface CliResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

export function runCli(args: string[], timeoutMs = 600_000, env?: Record<string, string>): CliResult {
  const r = spawnSync(process.execPath, [CLI_BIN, ...args], { encoding: 'utf8', timeout: timeoutMs, maxBuffer: 1 << 28, ...(env ? { env: { ...process.env, ...env } } : {}) });
  if (r.error) throw new Error(`erofs-kit ${args.join(' ')}: ${r.error.message}`);
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** `erofs-kit extract IMAGE DEST [--device FILE ...] [--jobs N]`; throws with the CLI's output on failure. */
export function extractWithCli(fx: Fixture, dest: string, jobs?: number, env?: Record<string, string>): void {
  const devices = fx.appended ? [] : fx.devices;
  const args = ['extract', fx.image, dest, ...devices.flatMap((d) => ['--device', d]), ...(jobs !== undefined ? ['--jobs', String(jobs)] : [])];
  const r = runCli(args, undefined, env);
  if (r.status !== 0) {
    throw new Error(`${fx.name}: erofs-kit ${args.join(' ')} exited ${r.status}:\n${(r.stderr + r.stdout).trim().slice(0, 4000)}`);
  }
}
