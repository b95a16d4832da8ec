// Bundles the extension: dist/extension.js (Node host), dist/web/extension.js (web worker host),
// the language server from packages/lsp (dist/server.cjs, dist/web/server.js), and the
// extension-host test suites (dist/test/suite.js for the Node host, dist/test/web-suite.js for
// the web worker host; both left out of the .vsix).
import { build } from 'esbuild';
import { copyFileSync, existsSync, mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

const production = process.argv.includes('--production');
const common = { bundle: true, sourcemap: !production, minify: production, logLevel: 'warning', external: ['vscode'] };

await build({ ...common, entryPoints: { extension: 'src/extension.ts' }, outdir: 'dist', platform: 'node', format: 'cjs', target: 'node20' });
await build({
  ...common,
  entryPoints: { extension: 'src/web.ts' },
  outdir: 'dist/web',
  platform: 'browser',
  format: 'cjs',
  target: 'es2022',
  // vscode-languageclient's browser entry is browser-safe; nothing of Node's may slip in.
  define: { 'process.env.NODE_ENV': '"production"' },
});
await build({ ...common, external: ['vscode', 'mocha'], entryPoints: { suite: 'test/suite/index.ts', corrupt: 'test/support/corrupt.ts', 'oci-layout': 'test/support/oci-layout.ts', bigtar: 'test/support/bigtar.ts' }, outdir: 'dist/test', platform: 'node', format: 'cjs', target: 'node20' });

// The web worker host's suite (e2e phase C): a browser bundle like the web extension's.
await build({ ...common, entryPoints: { 'web-suite': 'test/web-suite/index.ts' }, outdir: 'dist/test', platform: 'browser', format: 'cjs', target: 'es2022', define: { 'process.env.NODE_ENV': '"production"' } });

// The language server, as packages/lsp builds it.
const require = createRequire(import.meta.url);
const lspDist = join(dirname(require.resolve('@erofs-kit/lsp/package.json')), 'dist');
for (const [from, to] of [['server.cjs', 'dist/server.cjs'], ['launch.cjs', 'dist/launch.cjs'], ['browser.js', 'dist/web/server.js']]) {
  if (!existsSync(join(lspDist, from))) throw new Error(`${join(lspDist, from)} is missing: build packages/lsp first (turbo does)`);
  mkdirSync(dirname(to), { recursive: true });
  copyFileSync(join(lspDist, from), to);
}
