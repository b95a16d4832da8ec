import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
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
    expect(existsSync(new URL('launch.cjs', dist))).toBe(true);
    expect(existsSync(new URL('web/server.js', dist))).toBe(true);
  });
});

describe('the language server process', () => {
  it('starts through the launcher with the V8 flags the extension gives it, answers initialize, and leaves a code cache', async () => {
    const { SERVER_EXEC_ARGV } = await import('../../src/server-flags.js');
    // the Node bundle starts the launcher with them (vscode-languageclient cannot load outside VS Code)
    const extension = readFileSync(new URL('extension.js', dist), 'utf8');
    expect(extension).toContain(JSON.stringify(SERVER_EXEC_ARGV[0]).slice(1, -1));
    expect(extension).toContain('dist/launch.cjs');
    const { spawn } = await import('node:child_process');
    const cacheHome = mkdtempSync(join(tmpdir(), 'ext-cache-'));
    const proc = spawn(process.execPath, [...SERVER_EXEC_ARGV, fileURLToPath(new URL('launch.cjs', dist)), '--stdio'], { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, XDG_CACHE_HOME: cacheHome, EROFS_KIT_LSP_NO_CACHE: '0' } });
    const body = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { processId: null, rootUri: null, capabilities: {} } });
    proc.stdin.write(`Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
    let out = '';
    let err = '';
    proc.stderr.on('data', (d: Buffer) => (err += d.toString()));
    await new Promise<void>((resolve, reject) => {
      proc.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        if (out.includes('"capabilities"')) resolve();
      });
      proc.on('exit', (code) => reject(new Error(`server exited (${code}): ${err}`)));
    });
    // an orderly exit writes the code cache the next start loads
    const exit = JSON.stringify({ jsonrpc: '2.0', method: 'exit' });
    const exited = new Promise((resolve) => proc.once('exit', resolve));
    proc.stdin.write(`Content-Length: ${Buffer.byteLength(exit)}\r\n\r\n${exit}`);
    await exited;
    expect(out).toContain('"id":1');
    expect(err).toBe('');
    expect(readdirSync(join(cacheHome, 'erofs-kit')).filter((f) => f.endsWith('.v8cache'))).toHaveLength(1);
    rmSync(cacheHome, { recursive: true, force: true });
  });
});
