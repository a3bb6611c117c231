import { CommanderError } from 'commander';
import { ExitCode, SparctlError } from '../core/errors.js';
import { processIo, type Io } from './io.js';
import { redactUrlsIn } from '../config/redact.js';
import { createProgram } from './program.js';
import { VERSION } from './version.js';

/**
 * Runs one sparctl invocation and returns its exit code. This is the only place where errors
 * become exit codes and messages (DESIGN.md §3).
 */
export async function main(argv: readonly string[], io: Io = processIo()): Promise<number> {
  let exitCode: number = ExitCode.ok;
  const program = createProgram(io, (code) => {
    exitCode = code;
  });
  program.exitOverride();
  program.configureOutput({
    writeOut: (text) => io.stdout.write(text),
    writeErr: (text) => io.stderr.write(text),
    // Parse errors are printed below, as one line, with the usage exit code.
    outputError: () => undefined,
  });
  for (const command of program.commands) inheritOverrides(command, program);
  try {
    await program.parseAsync(['node', 'sparctl', ...argv]);
    return exitCode;
  } catch (error) {
    return reportError(io, error, argv, new Set(program.commands.map((command) => command.name())));
  }
}

function inheritOverrides(command: import('commander').Command, root: import('commander').Command): void {
  command.exitOverride();
  command.configureOutput(root.configureOutput());
  for (const child of command.commands) inheritOverrides(child, root);
}

function reportError(io: Io, error: unknown, argv: readonly string[], commands: ReadonlySet<string>): number {
  if (error instanceof CommanderError) {
    if (error.code === 'commander.helpDisplayed' || error.code === 'commander.version' || error.code === 'commander.help') return ExitCode.ok;
    if (error.code === 'commander.executeSubCommandAsync') return ExitCode.ok;
    const message = error.message.replace(/^error: /, '').replace(/\s*\n\s*/g, ' ');
    const command = argv.find((arg) => commands.has(arg));
    io.stderr.write(redactUrlsIn(`sparctl: ${message} — see "sparctl ${command ? `${command} ` : ''}--help"\n`));
    return ExitCode.usage;
  }
  if (error instanceof SparctlError) {
    io.stderr.write(redactUrlsIn(`sparctl: ${error.message}${error.hint ? ` (${error.hint})` : ''}\n`));
    return error.exitCode;
  }
  if (isPromptExit(error)) {
    io.stderr.write('sparctl: interrupted\n');
    return ExitCode.interrupted;
  }
  const detail = error instanceof Error ? (error.stack ?? error.message) : String(error);
  io.stderr.write(
    `sparctl: internal error: ${redactUrlsIn(error instanceof Error ? error.message : String(error))}\n` +
      `This is a bug in sparctl ${VERSION} (Node ${process.version}). Please report it with the command you ran.\n`,
  );
  if (io.env['SPARCTL_DEBUG']) io.stderr.write(`${detail}\n`);
  return ExitCode.internal;
}

/** @inquirer/prompts throws ExitPromptError when the user presses Ctrl-C at a prompt. */
function isPromptExit(error: unknown): boolean {
  return error instanceof Error && error.name === 'ExitPromptError';
}
