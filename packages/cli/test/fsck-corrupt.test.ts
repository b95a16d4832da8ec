/**
 * The corruption suite (./corrupt/defects.ts): each defect is made from a valid fixture and
 * checked by erofs-kit fsck (the expected check, severity and exit code), by `fsck.erofs18
 * --extract` (its thorough mode: it also decodes every file) and
 * by the kernel (mount, then list and read everything). The table records what the
 * references do, so every row says whether they also reject the defect or whether erofs-kit
 * finds something they miss. Missing references are skipped loudly (a failure under CI).
 * `EROFS_KIT_CORRUPT_OUT=DIR npx vitest run test/fsck-corrupt.test.ts` also writes every
 * defective image to DIR.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { FsckReport } from '@erofs-kit/core';
import { DEFECTS, Patcher, type KernelVerdict } from './corrupt/defects.js';
import { cliMissing, runCli } from './support/cli.js';
import { loadManifest } from './support/fixtures.js';
import { allOf, isRoot, kernelHasErofs, hasLosetup, skipWithoutJudges, type JudgeResult } from './support/judges.js';
import { releaseAll, withMount } from './support/mount.js';

const missing = cliMissing();
if (missing) throw new Error(missing);
const m = loadManifest();
if (!m.ok) throw new Error(m.reason);
const fixtures = new Map(m.fixtures.map((f) => [f.name, f]));

const FSCK_EROFS = process.env['EROFS_KIT_FSCK'] ?? 'fsck.erofs18';
const fsckErofsJudge = (): JudgeResult => {
  const r = spawnSync(FSCK_EROFS, ['-V'], { stdio: 'ignore' });
  return r.error === undefined && r.status === 0 ? { ok: true } : { ok: false, reason: `${FSCK_EROFS} (erofs-utils 1.8.x) not found` };
};
const skipFsckErofs = skipWithoutJudges('corruption suite: fsck.erofs18 verdicts', fsckErofsJudge());
const skipKernel = skipWithoutJudges('corruption suite: kernel verdicts', allOf(isRoot, kernelHasErofs, hasLosetup));

const work = mkdtempSync(join(tmpdir(), 'erofs-kit-corrupt-'));
afterAll(() => {
  const left = releaseAll();
  rmSync(work, { recursive: true, force: true });
  if (left.length) throw new Error(`cleanup: ${left.join('; ')}`);
});

/** Mounts and reads everything: the kernel's verdict on an image. */
async function kernelVerdict(image: string, retry = true): Promise<KernelVerdict> {
  try {
    return await withMount({ image }, (dir) => {
      // List every entry, read every file and link, list every xattr; any error is a read error.
      // find's -type trusts the dirent type, so a FIFO posing as a file is skipped by stat (-p), not opened.
      const script = `set -e; cd "$1"; ls -laR . >/dev/null; find . -type f -exec sh -c 'for f; do [ -p "$f" ] || cat "$f" || exit 1; done' sh {} + >/dev/null; find . -type l -exec readlink {} + >/dev/null; find . -exec getfattr -h -d -m - --absolute-names {} + >/dev/null 2>&1`;
      const r = spawnSync('sh', ['-c', script, 'sh', dir], { encoding: 'utf8', timeout: 120_000 });
      return r.status === 0 ? 'accepted' : 'read-error';
    });
  } catch (e) {
    const msg = (e as Error).message;
    if (/^mount -t erofs .* exited/.test(msg)) {
      // Loop devices are shared with other tests on the machine: try a refused mount once more.
      if (retry) return kernelVerdict(image, false);
      if (process.env['EROFS_KIT_DEBUG']) console.warn(`${image}: ${msg}`);
      return 'mount-refused';
    }
    throw e;
  }
}

const rows: string[][] = [['defect', 'check', 'erofs-kit', 'fsck.erofs18', 'kernel']];
afterAll(() => {
  const w = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  console.log(['corruption suite:', ...rows.map((r) => r.map((c, i) => c.padEnd(w[i]!)).join('  '))].join('\n'));
});

describe('corruption suite', () => {
  it('has at least 30 distinct defects, each with a description', () => {
    expect(new Set(DEFECTS.map((d) => d.id)).size).toBe(DEFECTS.length);
    expect(DEFECTS.length).toBeGreaterThanOrEqual(30);
    for (const d of DEFECTS) expect(d.description.length, d.id).toBeGreaterThan(20);
  });

  for (const d of DEFECTS) {
    it(`${d.id}: ${d.description}`, async () => {
      const fx = fixtures.get(d.fixture);
      if (!fx) throw new Error(`no fixture ${d.fixture}`);
      const p = await Patcher.of(fx.image);
      await d.patch(p);
      const image = join(work, `${d.id}.erofs`);
      writeFileSync(image, p.result());
      // EROFS_KIT_CORRUPT_OUT=DIR keeps a copy of every defective image (to try other tools on).
      const keep = process.env['EROFS_KIT_CORRUPT_OUT'];
      if (keep) {
        mkdirSync(keep, { recursive: true });
        writeFileSync(join(keep, `${d.id}.erofs`), p.result());
      }

      const r = runCli(['fsck', image, '--json']);
      const report = JSON.parse(r.stdout) as FsckReport;
      const hit = report.problems.find((x) => x.check === d.check && x.severity === d.severity);
      const found = report.problems.map((x) => `${x.severity} ${x.check} ${x.code}: ${x.message}`).join('\n');
      expect(hit, `${d.id}: expected a ${d.severity} from check ${d.check}; got:\n${found}`).toBeDefined();
      expect(hit!.message.length).toBeGreaterThan(10);
      expect(hit!.offset !== undefined || hit!.path !== undefined, `${d.id}: the problem says where`).toBe(true);
      expect(r.status, `${d.id}: exit status`).toBe(d.severity === 'error' ? 1 : 0);
      const row = [d.id, d.check, `${d.severity} (${hit!.code})`, '-', '-'];

      if (!skipFsckErofs) {
        const f = spawnSync(FSCK_EROFS, ['--extract', image], { encoding: 'utf8', timeout: 120_000 });
        // fsck.erofs 1.8.6 exits 0 after some errors it prints (a bad superblock checksum, for
        // one): an "<E>" line counts as rejecting too.
        const verdict = f.status === 0 && !/<E>/.test(f.stderr + f.stdout) ? 'accepts' : 'rejects';
        row[3] = verdict === 'rejects' ? 'rejects' : 'MISSES';
        expect(verdict, `${d.id}: fsck.erofs18 (table says ${d.fsckErofs})`).toBe(d.fsckErofs);
      }
      if (!skipKernel) {
        const k = await kernelVerdict(image);
        row[4] = k === 'accepted' ? 'MISSES (mounts and reads)' : k;
        expect(k, `${d.id}: kernel (table says ${d.kernel})`).toBe(d.kernel);
      }
      rows.push(row);
    });
  }
});

/**
 * Warnings the fixtures really deserve: mkfs.erofs 1.8.6 with -E force-inode-extended put the
 * inline target of a symlink with xattrs past the block its inode core ends in, which the old
 * fast-symlink check of kernels like 5.14 refuses (check old-kernel-symlink).
 */
const FIXTURE_WARNINGS: Record<string, string[]> = {
  'extended-4k': ['old-kernel-symlink /xattrs/symlink-trusted'],
};

it('every fixture passes erofs-kit fsck with no error, and only the warnings it deserves', () => {
  for (const fx of m.fixtures) {
    const devices = fx.appended ? [] : fx.devices;
    const r = runCli(['fsck', fx.image, '--json', ...devices.flatMap((x) => ['--device', x])]);
    const report = JSON.parse(r.stdout) as FsckReport;
    expect(report.problems.filter((p) => p.severity === 'error'), fx.name).toEqual([]);
    expect(report.problems.filter((p) => p.severity === 'warning').map((p) => `${p.check} ${p.path ?? ''}`), fx.name).toEqual(FIXTURE_WARNINGS[fx.name] ?? []);
    expect(r.status, fx.name).toBe(0);
  }
});

