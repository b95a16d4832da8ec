/**
 * erofs-kit command line. Exit codes: 0 ok, 1 bad input (message names the offset and a
 * stable code), 2 usage error, 3 internal error.
 *
 * This file is only the dispatcher. Each command is bundled on its own with the part of core
 * it uses (`dist/command-NAME.js`, made by build.mjs) and loaded when it runs, so a run parses
 * and starts only its command's code (ADR 0028).
 */
import { EXIT_INTERNAL, EXIT_USAGE } from './exit-codes.js';
import { SUMMARIES, type CommandName } from './commands/summaries.js';
import type { Command } from './util.js';

const VERSION = '0.1.0';

function usage(): string {
  const names = Object.keys(SUMMARIES) as CommandName[];
  const w = Math.max(...names.map((n) => n.length));
  return [
    'erofs-kit: inspect, list, read, extract, check and build EROFS images',
    '',
    'usage: erofs-kit COMMAND [options]',
    '',
    'commands:',
    ...names.map((n) => `  ${n.padEnd(w)}  ${SUMMARIES[n]}`),
    '',
    'Every command that reads file data takes --device FILE (repeatable) for images whose data',
    'lives on extra devices, e.g. a tar-index image and its tar. `erofs-kit COMMAND --help` for details.',
    'Exit codes: 0 ok, 1 the image is bad, 2 usage error, 3 internal error.',
  ].join('\n');
}

/** What each command bundle exports (see build.mjs). */
interface CommandModule {
  command: Command;
  runCommand(cmd: Command, argv: string[]): Promise<number>;
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
  if (!Object.hasOwn(SUMMARIES, name)) {
    process.stderr.write(`erofs-kit: unknown command '${name}'\n\n${usage()}\n`);
    return EXIT_USAGE;
  }
  const mod = (await import(new URL(`./command-${name}.js`, import.meta.url).href)) as CommandModule;
  return mod.runCommand(mod.command, rest);
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
