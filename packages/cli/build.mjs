// Bundles the CLI (and core) into one ESM file for fast start-up.
import { build } from 'esbuild';

await build({
  entryPoints: { cli: 'src/main.ts', 'extract-worker': 'src/extract/worker.ts' },
  outdir: 'dist',
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  sourcemap: true,
  banner: { js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" },
  logLevel: 'warning',
});
