/**
 * The checked-in fixture images, as listed by fixtures/manifest.json. EROFS_KIT_FIXTURES may
 * point at another manifest (paths in it are relative to its own directory).
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface Fixture {
  name: string;
  /** Absolute path of the image. */
  image: string;
  /** Absolute paths of the extra devices, in device-table order. */
  devices: string[];
  /** The extra devices' data is appended to the image itself (mount it alone, flatdev). */
  appended: boolean;
}

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../../..');
export const DEFAULT_MANIFEST = resolve(REPO_ROOT, 'fixtures/manifest.json');

export function manifestPath(): string {
  return process.env['EROFS_KIT_FIXTURES'] ?? DEFAULT_MANIFEST;
}

export type Manifest = { ok: true; path: string; fixtures: Fixture[] } | { ok: false; path: string; reason: string };

function str(v: unknown, what: string): string {
  if (typeof v !== 'string' || v === '') throw new Error(`${what} must be a non-empty string, got ${JSON.stringify(v)}`);
  return v;
}

/** Reads and checks the manifest; never throws (a problem is reported as `ok: false`). */
export function loadManifest(path = manifestPath()): Manifest {
  if (!existsSync(path)) return { ok: false, path, reason: `fixture manifest ${path} does not exist (generate the fixtures first)` };
  try {
    const raw = JSON.parse(readFileSync(path, 'utf8')) as unknown;
    if (!Array.isArray(raw)) throw new Error('the manifest must be a JSON array');
    const base = dirname(path);
    const at = (p: string): string => (isAbsolute(p) ? p : resolve(base, p));
    const seen = new Set<string>();
    const fixtures = raw.map((item: unknown, i): Fixture => {
      if (!item || typeof item !== 'object') throw new Error(`entry ${i} is not an object`);
      const o = item as Record<string, unknown>;
      const name = str(o['name'], `entry ${i}: name`);
      if (seen.has(name)) throw new Error(`fixture name ${name} appears twice`);
      seen.add(name);
      const devices = o['devices'] ?? [];
      if (!Array.isArray(devices)) throw new Error(`${name}: devices must be an array`);
      const appended = o['appended'] ?? false;
      if (typeof appended !== 'boolean') throw new Error(`${name}: appended must be a boolean`);
      const fx: Fixture = {
        name,
        image: at(str(o['image'], `${name}: image`)),
        devices: devices.map((d, k) => at(str(d, `${name}: devices[${k}]`))),
        appended,
      };
      for (const f of [fx.image, ...fx.devices]) if (!existsSync(f)) throw new Error(`${name}: ${f} does not exist`);
      return fx;
    });
    if (fixtures.length === 0) throw new Error('the manifest lists no fixtures');
    return { ok: true, path, fixtures };
  } catch (e) {
    return { ok: false, path, reason: `fixture manifest ${path}: ${(e as Error).message}` };
  }
}
