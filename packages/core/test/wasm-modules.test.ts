import { describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

// The WebAssembly modules are checked in as generated TypeScript; their source is the
// assembler code in tools/. Each generator with --check fails unless the checked-in module is
// exactly what it assembles now.
describe('checked-in WebAssembly modules', () => {
  for (const tool of ['gen-lz4-wasm.mjs', 'gen-hexdump-wasm.mjs']) {
    it(`are what tools/${tool} assembles`, () => {
      const script = fileURLToPath(new URL(`../../../tools/${tool}`, import.meta.url));
      expect(() => execFileSync(process.execPath, [script, '--check'], { stdio: 'pipe' })).not.toThrow();
    });
  }
});
