import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  resolve: {
    // Unit tests run against a small hand-written double of the VS Code API (ADR 0013).
    alias: { vscode: fileURLToPath(new URL('./test/unit/vscode-mock.ts', import.meta.url)) },
  },
  test: {
    include: ['test/unit/**/*.test.ts'],
    testTimeout: 60_000,
  },
});
