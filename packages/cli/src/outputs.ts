/**
 * What the commands that write files share: temp files renamed into place only on success
 * (removed on any failure), whole-buffer writes, and the parsing of --uuid and --timestamp.
 */
import { existsSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { UsageError } from './util.js';

export function parseUuid(s: string): Uint8Array {
  const hex = s.replace(/-/g, '');
  if (!/^[0-9a-fA-F]{32}$/.test(hex)) throw new UsageError(`--uuid ${s}: not a UUID`);
  return Uint8Array.from(hex.match(/../g)!.map((h) => parseInt(h, 16)));
}

export function parseTimestamp(s: string, what: string): { sec: number; nsec: number } {
  if (!/^-?\d+(\.\d{1,9})?$/.test(s)) throw new UsageError(`${what} ${s}: expected seconds since the epoch`);
  const [a, b = ''] = s.split('.');
  const sec = Number(a);
  if (sec < 0 || sec > 2 ** 63) throw new UsageError(`${what} ${s}: out of range`);
  return { sec, nsec: Number(b.padEnd(9, '0')) };
}

/** Temp files that must vanish on any failure. */
export class Outputs {
  private temps: string[] = [];
  temp(final: string): string {
    const t = `${final}.erofs-kit-${process.pid}.tmp`;
    this.temps.push(t);
    return t;
  }
  commit(temp: string, final: string): void {
    renameSync(temp, final);
    this.temps = this.temps.filter((t) => t !== temp);
  }
  cleanup(): void {
    for (const t of this.temps) if (existsSync(t)) unlinkSync(t);
    this.temps = [];
  }
}

export function writeAllSync(fd: number, b: Uint8Array): void {
  let o = 0;
  while (o < b.length) o += writeSync(fd, b, o, b.length - o);
}

