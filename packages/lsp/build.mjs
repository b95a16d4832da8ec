// Bundles the server with core and vscode-languageserver: one file per entry.
import { build } from 'esbuild';

const common = { bundle: true, sourcemap: true, minify: true, logLevel: 'warning' };
// mainFields: ESM builds first; jsonc-parser's `main` is a UMD module whose inner require()s a bundler cannot follow.
await build({ ...common, entryPoints: { server: 'src/node.ts' }, outdir: 'dist', platform: 'node', format: 'cjs', target: 'node20', outExtension: { '.js': '.cjs' }, mainFields: ['module', 'main'] });
// The launcher the bin and the VS Code extension start: the server through a V8 code cache.
await build({ ...common, minify: false, entryPoints: { launch: 'src/launch.ts' }, outdir: 'dist', platform: 'node', format: 'cjs', target: 'node20', outExtension: { '.js': '.cjs' } });
// Browser build: a classic web worker script (no node:* anywhere in core's browser entry).
await build({ ...common, entryPoints: { browser: 'src/browser.ts' }, outdir: 'dist', platform: 'browser', format: 'iife', target: 'es2022' });
