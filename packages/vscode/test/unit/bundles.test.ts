import { existsSync, readFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { describe, expect, it } from 'vitest';

const dist = new URL('../../dist/', import.meta.url);
const requires = (file: string): string[] => [...new Set([...readFileSync(new URL(file, dist), 'utf8').matchAll(/require\("([^"]+)"\)/g)].map((m) => m[1]!))].sort();

describe('bundles (npm run build)', () => {
  it('the web bundle needs nothing but the vscode module', () => {
    expect(requires('web/extension.js')).toEqual(['vscode']);
  });

  it('the Node bundle needs only Node built-ins and vscode (every package is bundled)', () => {
    const allowed = new Set(['vscode', ...builtinModules, ...builtinModules.map((m) => `node:${m}`)]);
    expect(requires('extension.js').filter((m) => !allowed.has(m))).toEqual([]);
  });

  it('the language server bundles sit beside the extension', () => {
    expect(existsSync(new URL('server.cjs', dist))).toBe(true);
    expect(existsSync(new URL('web/server.js', dist))).toBe(true);
  });
});
