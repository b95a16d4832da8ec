// Bundles the CLI (and core) into one ESM file for fast start-up, and the extraction worker
// into a CommonJS file: a worker thread starts a CommonJS script sooner than an ES module
// (no module loader to set up in the new thread).
import { build } from 'esbuild';

const common = { bundle: true, platform: 'node', target: 'node20', sourcemap: true, logLevel: 'warning' };

await build({
  ...common,
  entryPoints: { cli: 'src/main.ts' },
  outdir: 'dist',
  format: 'esm',
  banner: { js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" },
});
await build({
  ...common,
  entryPoints: { 'extract-worker': 'src/extract/worker.ts' },
  outdir: 'dist',
  outExtension: { '.js': '.cjs' },
  format: 'cjs',
});
