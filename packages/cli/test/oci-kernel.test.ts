/**
 * Kernel parity of `erofs-kit oci convert`. The image comes from umoci (support/make-oci.sh:
 * four layers with whiteouts, replaced directories and files, hard links, devices, xattrs
 * and an opaque directory). The kernel mounts fsmeta.erofs with every layer tar on a loop
 * device as `device=`, in summary.json's order, and python walks it (support/walk_tree.py).
 * Three references made without erofs-kit's merge:
 *   - `umoci unpack` of the same image (umoci applies the layers itself), and
 *   - overlayfs over the per-layer tar indexes (each mounted with its own tar), lowerdir
 *     stacked top layer first: the kernel applies the whiteouts and opaque directories;
 *   - mkfs.erofs18's rebuild mode over the same per-layer indexes (its own merge).
 * All four must agree on every path and attribute (type, mode, owner, size, mtime with
 * nanoseconds, rdev, symlink target, xattrs, nlink, content digest, hard-link groups); only
 * inode numbers differ — except, against the last two, directories whose attributes a layer
 * makes up (implied parents; mkfs's root), each such difference checked to be one.
 *
 * Judges (root, erofs, losetup, python3, umoci, setfattr) missing → skipped with the reason
 * printed; under CI → failure.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cliMissing, runCli } from './support/cli.js';
import { assertSameTree, diffTrees, type CompareOptions } from './support/diff.js';
import { allOf, hasLosetup, hasMkfs, hasPython3, isRoot, kernelHasErofs, MKFS, skipWithoutJudges } from './support/judges.js';
import { diskModel, type TreeModel } from './support/model.js';
import { releaseAll, withMount } from './support/mount.js';
import { makeUmociLayout, ociJudges, readJson, sh } from './support/oci.js';

const TIMEOUT = 10 * 60_000;
const TREE_VS_TREE: CompareOptions = { ino: false, dirNlink: true, owner: true, symlinkPerms: true };

const missing = cliMissing();
const skip = skipWithoutJudges('oci kernel parity', missing ? { ok: false, reason: missing } : allOf(isRoot, kernelHasErofs, hasLosetup, hasPython3, ociJudges));

interface Device {
  path: string;
  index: string;
}

/** Mounts each layer's tar index (with its tar), then overlayfs over them; runs fn on the overlay. */
async function withOverlay<T>(out: string, devices: Device[], fn: (dir: string) => T): Promise<T> {
  const mounted: string[] = [];
  const mountNext = async (i: number): Promise<T> => {
    if (i === devices.length) {
      const dir = mkdtempSync(join(tmpdir(), 'erofs-kit-ovl-'));
      // lowerdir: the uppermost layer first.
      const lower = [...mounted].reverse().join(':');
      sh('mount', ['-t', 'overlay', 'overlay', '-o', `ro,lowerdir=${lower}`, dir]);
      try {
        return fn(dir);
      } finally {
        spawnSync('umount', [dir]);
        rmdirSync(dir);
      }
    }
    const d = devices[i]!;
    return withMount({ image: join(out, d.index), devices: [join(out, d.path)] }, async (mnt) => {
      mounted.push(mnt);
      try {
        return await mountNext(i + 1);
      } finally {
        mounted.pop();
      }
    });
  };
  return mountNext(0);
}

/** Directories some layer tar implies without listing them (as tar -tf names its members). */
function impliedDirs(tars: string[]): Set<string> {
  const implied = new Set<string>();
  for (const tar of tars) {
    const names = sh('tar', ['-tf', tar])
      .split('\n')
      .filter(Boolean)
      .map((n) => '/' + n.split('/').filter((p) => p !== '' && p !== '.').join('/'));
    const listed = new Set(names);
    for (const n of names) {
      const parts = n.split('/').filter(Boolean);
      for (let i = 0; i < parts.length; i++) {
        const dir = '/' + parts.slice(0, i).join('/');
        if (!listed.has(dir)) implied.add(dir);
      }
    }
  }
  return implied;
}

describe.skipIf(skip)('oci convert: kernel mount of fsmeta.erofs with one device per layer', () => {
  let work = '';
  let layout = '';
  let out = '';
  let devices: Device[] = [];
  let kernel: TreeModel | undefined;

  beforeAll(() => {
    work = mkdtempSync(join(tmpdir(), 'erofs-kit-oci-kernel-'));
    layout = makeUmociLayout(work);
    out = join(work, 'out');
    const r = runCli(['oci', 'convert', `${layout}:t`, '-o', out]);
    if (r.status !== 0) throw new Error(`oci convert failed: ${r.stderr}`);
    devices = readJson(join(out, 'summary.json')).devices as Device[];
  }, TIMEOUT);

  afterAll(() => {
    const left = releaseAll();
    if (work) rmSync(work, { recursive: true, force: true });
    if (left.length > 0) throw new Error(`cleanup: ${left.join('; ')}`);
  });

  it(
    'the kernel mounts fsmeta.erofs with device= per layer tar; it equals umoci unpack',
    async () => {
      expect(devices).toHaveLength(4);
      kernel = await withMount({ image: join(out, 'fsmeta.erofs'), devices: devices.map((d) => join(out, d.path)) }, (mnt) => diskModel(mnt, 'kernel'));
      expect(kernel.errors).toEqual([]);
      // The tree holds what the layers did: a sanity check that the walk saw the image at all.
      expect([...kernel.entries.keys()]).toEqual(expect.arrayContaining(['/opt/keep/z', '/usr/empty/f', '/etc/p1', '/usr/bin/big-link', '/usr/null']));
      expect(kernel.entries.has('/data/x')).toBe(false);
      expect(kernel.entries.has('/opt/keep/added')).toBe(false); // hidden by the opaque directory
      const bundle = join(work, 'unpacked');
      sh('umoci', ['unpack', '--image', `${layout}:t`, bundle]);
      const reference = diskModel(join(bundle, 'rootfs'), 'umoci-unpack');
      assertSameTree('fsmeta.erofs (kernel) vs umoci unpack', kernel, reference, TREE_VS_TREE);
    },
    TIMEOUT,
  );

  it(
    'it equals overlayfs over the per-layer tar indexes, except where a layer only implies a directory',
    async () => {
      expect(kernel, 'the first test mounts fsmeta.erofs').toBeDefined();
      const overlay = await withOverlay(out, devices, (dir) => diskModel(dir, 'overlayfs'));
      expect(overlay.errors).toEqual([]);
      // overlayfs gives merged directories nlink 1, so directory nlink is not compared. And a
      // directory a layer only implies (a parent of its members without an entry of its own)
      // has made-up attributes in that layer's index, which overlayfs shows when that layer is
      // the uppermost holding it; the merge keeps the lower layer's, as umoci does. Those
      // differences, and only those, are allowed: each must name a directory implied by some
      // layer's tar, as tar(1) lists it.
      const implied = impliedDirs(devices.map((d) => join(out, d.path)));
      expect(implied.has('/'), 'layer 4 has no ./ entry').toBe(true);
      const diffs = diffTrees(kernel!, overlay, { ...TREE_VS_TREE, dirNlink: false });
      const unexplained = diffs.filter((line) => {
        const m = /^(\/[^:]*): (mtime \(s\)|mtime \(ns\)|mode|uid|gid): /.exec(line);
        return !(m && implied.has(m[1]!) && kernel!.entries.get(m[1]!)?.type === 'dir');
      });
      expect(unexplained, 'differences not explained by implied directories').toEqual([]);
      expect(diffs.some((l) => l.startsWith('/: mtime')), 'the implied root of layer 4 shows through overlayfs').toBe(true);
    },
    TIMEOUT,
  );

  it.skipIf(skipWithoutJudges('oci kernel parity with mkfs.erofs rebuild mode', hasMkfs()))(
    'mkfs.erofs rebuild mode over the same layer indexes differs only where it makes up attributes',
    async () => {
      expect(kernel, 'the first test mounts fsmeta.erofs').toBeDefined();
      // erofs-utils merges erofs images given as sources ("rebuild mode"), keeping each
      // source's chunks on its own device: the reference tool's fsmeta, over our indexes.
      const ref = join(work, 'mkfs-fsmeta.erofs');
      sh(MKFS, ['--aufs', '--ovlfs-strip=1', ref, ...devices.map((d) => join(out, d.index))]);
      const rebuilt = await withMount({ image: ref, devices: devices.map((d) => join(out, d.path)) }, (mnt) => diskModel(mnt, 'mkfs-rebuild'));
      expect(rebuilt.errors).toEqual([]);
      const implied = impliedDirs(devices.map((d) => join(out, d.path)));
      const diffs = diffTrees(kernel!, rebuilt, TREE_VS_TREE);
      // mkfs gives the merged root mode 0777 and the build time whatever the layers say; a
      // directory that a later layer only implies takes that layer's made-up attributes.
      const unexplained = diffs.filter((line) => {
        const m = /^(\/[^:]*): (mtime \(s\)|mtime \(ns\)|mode|uid|gid): /.exec(line);
        return !(m && (m[1] === '/' || implied.has(m[1]!)) && kernel!.entries.get(m[1]!)?.type === 'dir');
      });
      expect(unexplained, 'differences not explained').toEqual([]);
      expect(diffs.some((l) => l.startsWith('/: mode')), 'the root mode mkfs makes up (if this no longer happens, drop the allowance)').toBe(true);
    },
    TIMEOUT,
  );

  it(
    "summary.json's mount command mounts it as it says",
    async () => {
      const mnt = mkdtempSync(join(tmpdir(), 'erofs-kit-oci-mnt-'));
      const summary = readJson(join(out, 'summary.json'));
      const before = new Set(sh('losetup', ['-a']).split('\n').filter(Boolean).map((l) => l.split(':')[0]));
      try {
        sh('bash', ['-c', `MNT='${mnt}'; ${summary.mount}`], out);
      } catch (e) {
        rmdirSync(mnt);
        throw e;
      }
      try {
        const viaCommand = diskModel(mnt, 'mount-command');
        assertSameTree('the summary mount command vs fsmeta.erofs', viaCommand, kernel!, TREE_VS_TREE);
      } finally {
        sh('umount', [mnt]);
        rmdirSync(mnt);
        // The loop devices the command attached to files of this test's output.
        // (A device just unmounted can be busy for a moment: retry, then fail loudly.)
        for (const line of sh('losetup', ['-a']).split('\n')) {
          const dev = line.split(':')[0];
          if (!dev || before.has(dev) || !line.includes(out)) continue;
          let ok = false;
          for (let attempt = 0; attempt < 20 && !ok; attempt++) {
            ok = spawnSync('losetup', ['-d', dev]).status === 0;
            if (!ok) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 100);
          }
          if (!ok) throw new Error(`cannot detach ${dev} (${line})`);
        }
      }
    },
    TIMEOUT,
  );
});
