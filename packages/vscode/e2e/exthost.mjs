// Runs the extension's mocha suite (dist/test/suite.js) inside the extension host of a running
// code-server. The server must have been started with `--vscode-option enable-smoke-test-driver`:
// only then does the workbench honour the `payload` URL parameter that names the extension under
// development and its tests (the mechanism VS Code's own browser integration tests use).
// usage: node exthost.mjs BASE_URL WORKSPACE_FOLDER EXTENSION_DIR TESTS_JS
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const { chromium } = require('playwright-core');
const [base, folder, extensionDir, testsJs] = process.argv.slice(2);
if (!testsJs) {
  console.error('usage: node exthost.mjs BASE_URL WORKSPACE_FOLDER EXTENSION_DIR TESTS_JS');
  process.exit(2);
}
const remote = (p) => `vscode-remote://${process.env.REMOTE_AUTHORITY ?? 'remote'}${p}`;
const payload = [
  ['extensionDevelopmentPath', remote(extensionDir)],
  ['extensionTestsPath', remote(testsJs)],
  ['skipWelcome', 'true'],
];
if (process.env.EXTHOST_ENV) payload.push(['extensionEnvironment', process.env.EXTHOST_ENV]);

const started = Date.now();
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
});
const page = await browser.newPage();
const noise = /open-vsx|ENOTFOUND|Failed to load resource|socket|connection token|grace-time|AgentHost|AccountPolicy|Service Worker|builtin extensions cache|same-origin/;
const exited = new Promise((resolve) => {
  void page.exposeFunction('codeAutomationExit', (code) => resolve(code));
});
await page.exposeFunction('codeAutomationLog', (type, args) => {
  const [fmt = '', ...rest] = args ?? [];
  let i = 0;
  const line = String(fmt).replace(/%[sdoO]/g, () => String(rest[i++]));
  if (!noise.test(line)) console.log(line, ...rest.slice(i));
});
await page.goto(`${base}/?folder=${encodeURIComponent(folder)}&payload=${encodeURIComponent(JSON.stringify(payload))}`);
const limit = Number(process.env.EXTHOST_TIMEOUT_MS ?? 180_000);
const code = await Promise.race([exited, new Promise((r) => setTimeout(() => r(`timeout after ${limit} ms`), limit))]);
console.log(`extension-host suite: exit ${code} after ${((Date.now() - started) / 1000).toFixed(1)} s`);
await browser.close();
process.exit(code === 0 ? 0 : 1);
