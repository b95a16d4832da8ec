/**
 * erofs-kit command line. Exit codes: 0 ok, 1 bad input (message names the offset and a
 * stable code), 2 usage error, 3 internal error.
 */
import { isErofsError } from '@erofs-kit/core';
import { BrokenPipe, EXIT_BAD, EXIT_INTERNAL, EXIT_USAGE, UsageError, formatError, parse, type Command } from './util.js';
import { inspect } from './commands/inspect.js';
import { ls } from './commands/ls.js';
import { stat } from './commands/stat.js';
import { cat } from './commands/cat.js';
import { extract } from './commands/extract.js';
import { fsck } from './commands/fsck.js';
import { index } from './commands/index.js';
import { build } from './commands/build.js';
import { hexdump } from './commands/hexdump.js';
import { digest } from './commands/digest.js';
import { verify } from './commands/verify.js';
import { oci } from './commands/oci.js';
import { dump } from './commands/dump.js';

const VERSION = '0.1.0';
const COMMANDS: Command[] = [inspect, ls, stat, cat, extract, fsck, index, build, digest, verify, hexdump, dump, oci];

function usage(): string {
  const w = Math.max(...COMMANDS.map((c) => c.name.length));
  return [
    'erofs-kit: inspect, list, read, extract, check and build EROFS images',
    '',
    'usage: erofs-kit COMMAND [options]',
    '',
    'commands:',
    ...COMMANDS.map((c) => `  ${c.name.padEnd(w)}  ${c.summary}`),
    '',
    'Every command that reads file data takes --device FILE (repeatable) for images whose data',
    'lives on extra devices, e.g. a tar-index image and its tar. `erofs-kit COMMAND --help` for details.',
    'Exit codes: 0 ok, 1 the image is bad, 2 usage error, 3 internal error.',
  ].join('\n');
}

function commandHelp(c: Command): string {
  return `usage: ${c.usage}\n\n${c.summary}.\n\n${c.help}\n`;
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '-h' || name === '--help' || name === 'help') {
    process.stdout.write(usage() + '\n');
    return name === undefined ? EXIT_USAGE : 0;
  }
  if (name === '--version' || name === '-V') {
    process.stdout.write(`erofs-kit ${VERSION}\n`);
    return 0;
  }
  const cmd = COMMANDS.find((c) => c.name === name);
  if (!cmd) {
    process.stderr.write(`erofs-kit: unknown command '${name}'\n\n${usage()}\n`);
    return EXIT_USAGE;
  }
  let file = '';
  try {
    const args = parse(cmd, rest);
    if (args.values.help) {
      process.stdout.write(commandHelp(cmd));
      return 0;
    }
    if (args.positionals.length === 0) throw new UsageError(`${cmd.name} needs ${cmd.name === 'digest' ? 'a FILE' : cmd.name === 'oci' ? 'verify or convert' : 'an IMAGE'}`);
    file = (cmd.name === 'oci' ? args.positionals[1] : undefined) ?? args.positionals[0]!;
    return await cmd.run(args);
  } catch (e) {
    if (e instanceof BrokenPipe) return 0;
    if (e instanceof UsageError) {
      process.stderr.write(`erofs-kit ${cmd.name}: ${e.message}\nusage: ${cmd.usage}\n`);
      return EXIT_USAGE;
    }
    if (isErofsError(e)) {
      process.stderr.write(`erofs-kit: ${formatError(e, e.format === 'io' && e.path ? e.path : file)}\n`);
      return EXIT_BAD;
    }
    process.stderr.write(`erofs-kit: internal error: ${(e as Error)?.message ?? String(e)}\n`);
    if (process.env.EROFS_KIT_DEBUG) process.stderr.write(`${(e as Error)?.stack}\n`);
    return EXIT_INTERNAL;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (e) => {
    process.stderr.write(`erofs-kit: internal error: ${(e as Error)?.message ?? String(e)}\n`);
    process.exitCode = EXIT_INTERNAL;
  },
);
