// Bundles the CLI for fast start-up (ADR 0028): dist/cli.js is the dispatcher alone, and each
// command is a bundle of its own, dist/command-NAME.js, holding just the part of core that the
// command uses; the dispatcher imports the one it runs. The extraction worker is a CommonJS
// bundle: a worker thread starts a CommonJS script sooner than an ES module (no module loader
// to set up in the new thread).
import { readdirSync, rmSync } from 'node:fs';
import { build } from 'esbuild';

// src/commands/NAME.ts exports the command NAME (summaries.ts lists them for the dispatcher).
const commands = readdirSync('src/commands').filter((f) => f.endsWith('.ts') && f !== 'summaries.ts').map((f) => f.slice(0, -3));

const common = { bundle: true, platform: 'node', target: 'node20', sourcemap: true, logLevel: 'warning' };
// A bundled CommonJS dependency may call require(); an ES module has none of its own.
const esm = { ...common, format: 'esm', banner: { js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" } };

rmSync('dist', { recursive: true, force: true });
await Promise.all([
  build({ ...esm, entryPoints: { cli: 'src/main.ts' }, outdir: 'dist' }),
  ...commands.map((name) =>
    build({
      ...esm,
      stdin: {
        contents: `export { ${name} as command } from './src/commands/${name}.ts';\nexport { runCommand } from './src/run.ts';\n`,
        resolveDir: '.',
        sourcefile: `command-${name}.ts`,
        loader: 'ts',
      },
      outfile: `dist/command-${name}.js`,
    }),
  ),
  build({ ...common, entryPoints: { 'extract-worker': 'src/extract/worker.ts' }, outdir: 'dist', outExtension: { '.js': '.cjs' }, format: 'cjs' }),
]);
