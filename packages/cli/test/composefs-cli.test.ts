/**
 * `erofs-kit build --composefs` and `erofs-kit dump` without the kernel: a dump input gives
 * the reference image, the dump command prints composefs-info's dump, bad dumps are reported
 * as FILE:LINE:COLUMN with exit 1 and leave no output, misused options are usage errors.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { cliMissing, runCli } from './support/cli.js';
import { REPO_ROOT } from './support/fixtures.js';

const missing = cliMissing();
if (missing) throw new Error(missing);

const VECTORS = join(REPO_ROOT, 'fixtures/composefs');
const work = mkdtempSync(join(tmpdir(), 'erofs-kit-cfs-cli-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('erofs-kit build --composefs / dump', () => {
  it('builds the reference dump images; prints the digest mkcomposefs prints', () => {
    for (const v of ['0', '1']) {
      const out = join(work, `dump.v${v}.cfs`);
      const r = runCli(['build', '--composefs', join(VECTORS, 'dump-input.dump'), '-o', out, '--format-version', v]);
      expect(r.status, r.stderr).toBe(0);
      expect(readFileSync(out).equals(readFileSync(join(VECTORS, `dump.v${v}.cfs`)))).toBe(true);
      const digest = r.stdout.match(/^digest ([0-9a-f]{64})$/m)?.[1];
      expect(readFileSync(join(VECTORS, 'digests.txt'), 'utf8')).toContain(`dump.v${v}.cfs`.padEnd(22) + digest);
    }
  });

  it('dump prints the composefs dump of a composefs image', () => {
    for (const c of ['tiny.v0', 'full.v1', 'full.skip-devices']) {
      const r = runCli(['dump', join(VECTORS, `${c}.cfs`)]);
      expect(r.status, r.stderr).toBe(0);
      expect(r.stdout).toBe(readFileSync(join(VECTORS, `${c}.dump`), 'latin1'));
    }
  });

  it('dump -> build --composefs -> the same image (full.v1)', () => {
    const d = join(work, 'full.dump');
    writeFileSync(d, runCli(['dump', join(VECTORS, 'full.v1.cfs')]).stdout, 'latin1');
    const out = join(work, 'full-rt.cfs');
    expect(runCli(['build', '--composefs', d, '-o', out]).status).toBe(0);
    expect(readFileSync(out).equals(readFileSync(join(VECTORS, 'full.v1.cfs')))).toBe(true);
  });

  it('a bad dump is FILE:LINE:COLUMN, exit 1, and no output file', () => {
    const d = join(work, 'bad.dump');
    writeFileSync(d, '/ 0 40755 2 0 0 0 0.0 - - -\n/a 0 100644 1 0 0 0 0.x - - -\n');
    const out = join(work, 'bad.cfs');
    const r = runCli(['build', '--composefs', d, '-o', out]);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain(`${d}:2:23: invalid-value: MTIME nanoseconds "x" is not a decimal number`);
    expect(r.stderr).not.toMatch(/at .*\.js/);
    expect(existsSync(out)).toBe(false);
    expect(readdirSync(work).filter((f) => f.includes('.tmp'))).toEqual([]);
  });

  it('fsck --objects: ok with the store, missing objects listed (exit 1)', () => {
    const store = join(work, 'fsck-store');
    const obj = join(store, 'f4', '8c8fea195d479449c81c3d9874032691de88269a80b094324f7bd02e5fe1cf');
    mkdirSync(join(store, 'f4'), { recursive: true });
    const img = join(VECTORS, 'tiny.v0.cfs');
    let r = runCli(['fsck', img, '--objects', store]);
    expect(r.status).toBe(1);
    expect(r.stdout).toContain('missing objects (1):\n  f4/8c8fea195d479449c81c3d9874032691de88269a80b094324f7bd02e5fe1cf');
    writeFileSync(obj, 'B'.repeat(64) + '\n');
    r = runCli(['fsck', img, '--objects', store, '--json']);
    expect(r.status, r.stdout).toBe(0);
    expect((JSON.parse(r.stdout) as { problems: unknown[] }).problems).toEqual([]);
  });

  it('usage errors: options of full images, --objects with a dump, a bad version', () => {
    const d = join(VECTORS, 'dump-input.dump');
    const o = join(work, 'x.cfs');
    for (const args of [
      ['build', '--composefs', d, '-o', o, '--block-size', '512'],
      ['build', '--composefs', d, '-o', o, '--objects', join(work, 'store')],
      ['build', '--composefs', d, '-o', o, '--format-version', '2'],
      ['build', d, '-o', o, '--objects', join(work, 'store')],
      ['build', d, '-o', o, '--hard-links'],
      ['dump', join(VECTORS, 'tiny.v0.cfs'), '--format', 'json'],
    ]) {
      const r = runCli(args);
      expect(r.status, args.join(' ')).toBe(2);
    }
    expect(existsSync(o)).toBe(false);
  });
});
