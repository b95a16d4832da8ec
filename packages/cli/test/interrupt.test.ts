/**
 * No data lost: every command that writes a file is killed while it writes a large output,
 * with SIGINT (Ctrl-C) and with SIGKILL. Afterwards the final path does not exist (never a
 * partial file), the inputs are unchanged, and:
 * - after SIGINT, nothing of ours is left at all (the CLI removes its temp files and exits 130);
 * - after SIGKILL, which cannot be caught, only paths named as ours (`.erofs-kit-<pid>`) remain.
 */
import { spawn, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI_BIN, runCli } from './support/cli.js';

const work = mkdtempSync(join(tmpdir(), 'erofs-kit-interrupt-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const SRC = join(work, 'src');
const TAR = join(work, 'src.tar');
const IMAGE = join(work, 'src.erofs');
/** Names a temp path of ours may have. */
const OURS = /\.erofs-kit-\d+(\.tmp)?$/;

/** sha256 of every file under `dir` (or of one file), by relative path. */
function digestOf(path: string): Record<string, string> {
  const out: Record<string, string> = {};
  const visit = (p: string, rel: string): void => {
    const st = statSync(p);
    if (st.isDirectory()) for (const n of readdirSync(p).sort()) visit(join(p, n), rel + '/' + n);
    else out[rel] = createHash('sha256').update(readFileSync(p)).digest('hex');
  };
  visit(path, '');
  return out;
}

beforeAll(() => {
  // 96 MiB of data that neither compresses nor repeats block for block: outputs take a while.
  mkdirSync(SRC);
  const mib = randomBytes(1 << 20);
  for (let f = 0; f < 3; f++) {
    const fd = openSync(join(SRC, `big-${f}`), 'w');
    for (let i = 0; i < 32; i++) {
      mib.writeUInt32LE(f * 1000 + i, 0);
      writeFileSync(fd, mib);
    }
    closeSync(fd);
  }
  writeFileSync(join(SRC, 'small'), 'small file\n');
  const t = spawnSync('tar', ['-cf', TAR, '-C', SRC, '.']);
  expect(t.status, t.stderr?.toString()).toBe(0);
  const r = runCli(['build', SRC, '-o', IMAGE, '--quiet']);
  expect(r.status, r.stderr).toBe(0);
}, 300_000);

interface Case {
  name: string;
  /** Arguments; OUT is the output directory. */
  args: (out: string) => string[];
  /** Standard input from this file, if any. */
  stdin?: string;
  /** The final paths the command would create. */
  finals: (out: string) => string[];
  /** The path whose growth shows the command is writing its output. */
  growing: (out: string, pid: number) => string;
  inputs: string[];
}

const CASES: Case[] = [
  {
    name: 'build (directory to image)',
    args: (o) => ['build', SRC, '-o', join(o, 'img.erofs'), '--quiet'],
    finals: (o) => [join(o, 'img.erofs')],
    growing: (o, pid) => join(o, `img.erofs.erofs-kit-${pid}.tmp`),
    inputs: [SRC],
  },
  {
    name: 'build (tar from standard input, spooled)',
    args: (o) => ['build', '-', '-o', join(o, 'img.erofs'), '--quiet'],
    stdin: TAR,
    finals: (o) => [join(o, 'img.erofs')],
    growing: (o, pid) => join(o, `img.erofs.tar.erofs-kit-${pid}.tmp`),
    inputs: [TAR],
  },
  {
    name: 'index --tar-out (tar from standard input)',
    args: (o) => ['index', '-', '-o', join(o, 'meta.erofs'), '--tar-out', join(o, 'layer.tar')],
    stdin: TAR,
    finals: (o) => [join(o, 'meta.erofs'), join(o, 'layer.tar')],
    growing: (o, pid) => join(o, `layer.tar.erofs-kit-${pid}.tmp`),
    inputs: [TAR],
  },
  {
    name: 'extract',
    args: (o) => ['extract', IMAGE, join(o, 'dest'), '--jobs', '1'],
    finals: (o) => [join(o, 'dest')],
    growing: (o, pid) => join(o, `.dest.erofs-kit-${pid}`, 'big-0'),
    inputs: [IMAGE],
  },
];

/** Starts the command, waits until its output has grown past 4 MiB, sends `signal`. */
async function killMidWrite(c: Case, out: string, signal: NodeJS.Signals): Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string; pid: number }> {
  const stdin = c.stdin ? openSync(c.stdin, 'r') : 'ignore';
  const child = spawn(process.execPath, [CLI_BIN, ...c.args(out)], { stdio: [stdin, 'ignore', 'pipe'] });
  if (typeof stdin === 'number') closeSync(stdin);
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('exit', (code, sig) => resolve({ code, signal: sig })));
  const pid = child.pid!;
  const watched = c.growing(out, pid);
  let done = false;
  void exited.then(() => (done = true));
  const t0 = Date.now();
  while (!done && Date.now() - t0 < 60_000) {
    if (existsSync(watched) && statSync(watched).size > 4 << 20) break;
    await new Promise((r) => setTimeout(r, 2));
  }
  if (done) throw new Error(`${c.name} finished before it could be interrupted: ${stderr}`);
  child.kill(signal);
  const r = await exited;
  return { ...r, stderr, pid };
}

/** What an uninterrupted run of a case writes: the digest of each final path, by its name. */
const completed = new Map<string, Record<string, Record<string, string>>>();
function complete(c: Case): Record<string, Record<string, string>> {
  let hit = completed.get(c.name);
  if (!hit) {
    const dir = mkdtempSync(join(work, 'complete-'));
    const r = spawnSync(process.execPath, [CLI_BIN, ...c.args(dir)], { input: c.stdin ? readFileSync(c.stdin) : '', maxBuffer: 1 << 26 });
    expect(r.status, r.stderr?.toString()).toBe(0);
    hit = Object.fromEntries(c.finals(dir).map((f) => [basename(f), digestOf(f)]));
    completed.set(c.name, hit);
    rmSync(dir, { recursive: true, force: true });
  }
  return hit;
}

describe('an interrupted command leaves no partial output and changes no input', () => {
  describe.each(CASES)('$name', (c) => {
    it.each(['SIGINT', 'SIGTERM', 'SIGKILL'] as const)('%s', async (signal) => {
      const before = Object.fromEntries(c.inputs.map((p) => [p, digestOf(p)]));
      let out = '';
      let r: Awaited<ReturnType<typeof killMidWrite>>;
      for (let attempt = 1; ; attempt++) {
        out = mkdtempSync(join(work, 'out-'));
        r = await killMidWrite(c, out, signal);
        const present = c.finals(out).filter((f) => existsSync(f));
        if (present.length === 0) break;
        // On a loaded machine the signal can land after the command has put its outputs in
        // place: then they are whole (the same bytes as an uninterrupted run), and the run is
        // tried again to interrupt it while it writes.
        const whole = complete(c);
        for (const f of present) expect(digestOf(f), `${f} exists after ${signal}: it must be whole`).toEqual(whole[basename(f)]);
        if (attempt === 3) throw new Error(`${c.name}: finished before ${signal} reached it, three times`);
        rmSync(out, { recursive: true, force: true });
      }
      for (const f of c.finals(out)) expect(existsSync(f), f).toBe(false);
      const left = readdirSync(out);
      if (signal === 'SIGKILL') {
        expect(r.signal).toBe('SIGKILL');
        // what is left is named as ours, and is never at a final path
        for (const n of left) expect(n).toMatch(OURS);
      } else {
        expect(r.code, r.stderr).toBe(signal === 'SIGINT' ? 130 : 143);
        expect(left).toEqual([]);
      }
      for (const p of c.inputs) expect(digestOf(p)).toEqual(before[p]);
      rmSync(out, { recursive: true, force: true });
    }, 120_000);
  });
});

describe('digest outputs', () => {
  it('--out-merkle-tree and --out-descriptor are written whole or not at all (SIGINT while hashing)', async () => {
    const out = mkdtempSync(join(work, 'digest-'));
    const file = join(SRC, 'big-1');
    const before = digestOf(file);
    const child = spawn(process.execPath, [CLI_BIN, 'digest', file, '--out-merkle-tree', join(out, 'tree'), '--out-descriptor', join(out, 'desc'), '--jobs', '1'], { stdio: 'ignore' });
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
    await new Promise((r) => setTimeout(r, 150));
    child.kill('SIGINT');
    const { code, signal } = await exited;
    if (code === 0) {
      // finished first: then both files are whole
      expect(statSync(join(out, 'tree')).size).toBeGreaterThan(0);
      expect(statSync(join(out, 'desc')).size).toBe(256);
    } else {
      // 130 from the CLI's handler once it holds a temp file; before that, the default action
      expect(code === 130 || signal === 'SIGINT').toBe(true);
      // Nothing, or (the signal handled just after both renames) both files whole: never one
      // alone, never a part, never a temp file.
      const left = readdirSync(out).sort();
      if (left.length > 0) {
        expect(left).toEqual(['desc', 'tree']);
        expect(statSync(join(out, 'tree')).size).toBeGreaterThan(0);
        expect(statSync(join(out, 'desc')).size).toBe(256);
      }
    }
    expect(digestOf(file)).toEqual(before);
    // and a complete run writes both, with nothing else beside them
    const ok = runCli(['digest', file, '--out-merkle-tree', join(out, 'tree2'), '--out-descriptor', join(out, 'desc2')]);
    expect(ok.status, ok.stderr).toBe(0);
    expect(readdirSync(out).filter((n) => n.endsWith('2')).sort()).toEqual(['desc2', 'tree2']);
    expect(readdirSync(out).filter((n) => OURS.test(n))).toEqual([]);
  }, 120_000);
});
