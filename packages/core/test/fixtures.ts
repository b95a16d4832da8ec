/** Test access to the committed fixtures (fixtures/manifest.json). */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const FIXTURES = join(fileURLToPath(new URL('.', import.meta.url)), '../../../fixtures');

export interface FixtureEntry {
  name: string;
  image: string;
  devices: string[];
  appended: boolean;
  description?: string;
}

export function manifest(): FixtureEntry[] {
  return JSON.parse(readFileSync(join(FIXTURES, 'manifest.json'), 'utf8')) as FixtureEntry[];
}

export function bytesOf(file: string): Uint8Array {
  return new Uint8Array(readFileSync(join(FIXTURES, file)));
}
