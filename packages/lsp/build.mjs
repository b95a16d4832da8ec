// Bundles the server with core and vscode-languageserver: one file per entry.
import { build } from 'esbuild';

const common = { bundle: true, sourcemap: true, minify: true, logLevel: 'warning' };
await build({ ...common, entryPoints: { server: 'src/node.ts' }, outdir: 'dist', platform: 'node', format: 'cjs', target: 'node20', outExtension: { '.js': '.cjs' } });
// Browser build: a classic web worker script (no node:* anywhere in core's browser entry).
await build({ ...common, entryPoints: { browser: 'src/browser.ts' }, outdir: 'dist', platform: 'browser', format: 'iife', target: 'es2022' });
