import { parseHexdump, inspect } from '@erofs-kit/core';
import { readFileSync } from 'node:fs';
const text = readFileSync('/tmp/dump1m.txt', 'utf8');
const d = parseHexdump(text);
const r = inspect(d.map, { hint: d.hint });
