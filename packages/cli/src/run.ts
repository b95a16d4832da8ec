/**
 * Runs one command: parses its arguments, prints its help, and turns what it throws into a
 * message and an exit code. Bundled with each command (see main.ts).
 */
import { isErofsError } from '@erofs-kit/core';
import { BrokenPipe, EXIT_BAD, EXIT_INTERNAL, EXIT_USAGE, UsageError, formatError, parse, type Command } from './util.js';

function commandHelp(c: Command): string {
  return `usage: ${c.usage}\n\n${c.summary}.\n\n${c.help}\n`;
}

export async function runCommand(cmd: Command, argv: string[]): Promise<number> {
  let file = '';
  try {
    const args = parse(cmd, argv);
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
