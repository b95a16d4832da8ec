/**
 * Starts the bundled server (`server.cjs`, beside this file once built as `dist/launch.cjs`)
 * through a V8 code cache, so that a start after the first one skips compiling the bundle (and
 * the functions the first document needed): most of the start-up cost after Node's own, and
 * 20-30 ms of the first request on a large dump (bench/README.md, "Language server"). The
 * `erofs-kit-lsp` bin runs it, and so does the VS Code extension (it forks this file). The
 * cache lives in $XDG_CACHE_HOME/erofs-kit (default ~/.cache/erofs-kit, mode 0700), keyed by
 * the Node version and the bundle's size and mtime; V8 rejects a cache that does not fit and
 * the server then compiles as usual. EROFS_KIT_LSP_NO_CACHE=1 turns it off.
 */
import { mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { Module, createRequire } from 'node:module';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import vm from 'node:vm';

interface ModuleInternals {
  filename: string;
  paths: string[];
  exports: unknown;
}
const ModuleCtor = Module as unknown as { new (id: string): ModuleInternals; wrap(source: string): string; _nodeModulePaths(dir: string): string[] };

const file = join(__dirname, 'server.cjs');
if (process.env.EROFS_KIT_LSP_NO_CACHE === '1') {
  createRequire(file)(file);
} else {
  const source = readFileSync(file, 'utf8');
  const st = statSync(file);
  const dir = join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'erofs-kit');
  const cacheFile = join(dir, `lsp-${process.version}-${process.arch}-${st.size}-${Math.floor(st.mtimeMs)}.v8cache`);
  let cachedData: Buffer | undefined;
  try {
    cachedData = readFileSync(cacheFile);
  } catch {
    cachedData = undefined;
  }
  const script = new vm.Script(ModuleCtor.wrap(source), cachedData === undefined ? { filename: file } : { filename: file, cachedData });
  const mod = new ModuleCtor(file);
  mod.filename = file;
  mod.paths = ModuleCtor._nodeModulePaths(dirname(file));
  (script.runInThisContext() as (...a: unknown[]) => void).call(mod.exports, mod.exports, createRequire(file), mod, file, dirname(file));
  if (cachedData === undefined || script.cachedDataRejected) {
    // Written three seconds after the start (by then the first document has usually been
    // served, and the cache also holds the functions compiled for it), or at exit, whichever
    // comes first.
    let written = false;
    const save = (): void => {
      if (written) return;
      written = true;
      try {
        mkdirSync(dir, { recursive: true, mode: 0o700 });
        const tmp = `${cacheFile}.${process.pid}`;
        writeFileSync(tmp, script.createCachedData(), { mode: 0o600 });
        renameSync(tmp, cacheFile);
      } catch {
        // no cache: the next start compiles as this one did
      }
    };
    setTimeout(save, 3000).unref();
    process.once('exit', save);
  }
}
