import { CommanderError } from 'commander';
import { ExitCode, SparctlError, UsageError } from '../core/errors.js';
import { processIo, type Io } from './io.js';
import { redactShownText, redactUrlsIn } from '../config/redact.js';
import { printable } from '../core/shell-word.js';
import { COMMAND_NAMES, createProgram } from './program.js';
import { chosenOutputFormat } from './context.js';
import { errorDocument, type ErrorFields } from './document.js';
import { outputFormatNamed, type OutputFormat } from '../config/constants.js';
import { VERSION } from './version.js';
import { installLazyLibraries } from '../adapters/lazy-libraries.js';
import { watchOutput } from './output-failure.js';

// zod and the phone numbering plans are loaded at their first use, not at start.
installLazyLibraries();

/**
 * Runs one sparctl invocation and returns its exit code. This is the only place where errors
 * become exit codes and messages (DESIGN.md §3).
 */
export async function main(argv: readonly string[], given: Io = processIo()): Promise<number> {
  const output = watchOutput(given);
  const io: Io = { ...given, argv, stdoutFailure: output.stdoutFailure };
  try {
    const code = await run(argv, io);
    // Node tells of a failed write by an event after it: let it come before the verdict.
    await new Promise((resolve) => setImmediate(resolve));
    const failed = output.failure();
    // A bulk run stopped by it has said so already, with the same exit code; help and errors
    // written to a full disk are told of too.
    return failed !== undefined && code !== failed.exitCode ? reportError(io, failed, argv, new Set(COMMAND_NAMES)) : code;
  } finally {
    output.stop();
  }
}

async function run(argv: readonly string[], io: Io): Promise<number> {
  let exitCode: number = ExitCode.ok;
  const program = await createProgram(
    io,
    (code) => {
      exitCode = code;
    },
    argv,
  );
  program.exitOverride();
  program.configureOutput({
    writeOut: (text) => io.stdout.write(text),
    writeErr: (text) => io.stderr.write(text),
    // Parse errors are printed below, as one line, with the usage exit code.
    outputError: () => undefined,
  });
  refuseRepeats(program);
  for (const command of program.commands) inheritOverrides(command, program);
  try {
    await program.parseAsync(['node', 'sparctl', ...argv]);
    return exitCode;
  } catch (error) {
    return reportError(io, error, argv, new Set(COMMAND_NAMES));
  }
}

/** The command a parse error arose in (`strategy export`), for its hint: set as commander throws it. */
const commandOfError = new WeakMap<CommanderError, string>();

function inheritOverrides(command: import('commander').Command, root: import('commander').Command): void {
  command.exitOverride((error) => {
    // As commander's own: an executable subcommand's async report is not thrown (sparctl has none).
    if (error.code === 'commander.executeSubCommandAsync') return;
    const names: string[] = [];
    for (let at: import('commander').Command | null = command; at !== null && at !== root; at = at.parent) names.unshift(at.name());
    commandOfError.set(error, names.join(' '));
    throw error;
  });
  command.configureOutput(root.configureOutput());
  refuseRepeats(command);
  for (const child of command.commands) inheritOverrides(child, root);
}

/**
 * An option that takes one value, given twice with different values, is refused: commander keeps
 * the last, so `link --id A --id B` would link B without a word about A.
 */
function refuseRepeats(command: import('commander').Command): void {
  for (const option of command.options) {
    // Variadic and collecting options (serve --partner) take many values by design.
    if (!(option.required || option.optional) || option.variadic || Array.isArray(option.defaultValue)) continue;
    let first: string | undefined;
    command.on(`option:${option.name()}`, (value: unknown) => {
      const text = String(value);
      if (first === undefined) first = text;
      else if (text !== first) {
        const flag = option.long ?? option.short ?? option.name();
        throw new UsageError(
          'usage.repeated_option',
          `${flag} is given twice (${JSON.stringify(first)} and ${JSON.stringify(text)}); it takes one value`,
          {
            hint:
              flag === '--id' && command.name() === 'resolve'
                ? 'resolve takes several IDs as arguments: sparctl resolve ID1 ID2 …'
                : `give ${flag} once`,
          },
        );
      }
    });
  }
}

function reportError(io: Io, error: unknown, argv: readonly string[], commands: ReadonlySet<string>): number {
  if (error instanceof CommanderError) {
    if (error.code === 'commander.helpDisplayed' || error.code === 'commander.version' || error.code === 'commander.help')
      return ExitCode.ok;
    if (error.code === 'commander.executeSubCommandAsync') return ExitCode.ok;
    const message = error.message.replace(/^error: /, '').replace(/\s*\n\s*/g, ' ');
    const command = commandOfError.get(error) ?? argv.find((arg) => commands.has(arg));
    return report(io, argv, {
      code: usageCode(error.code),
      message,
      hint: `see "sparctl ${command ? `${command} ` : ''}--help"`,
      exitCode: ExitCode.usage,
    });
  }
  if (error instanceof SparctlError)
    return report(io, argv, { code: error.code, message: error.message, hint: error.hint, exitCode: error.exitCode });
  if (isPromptExit(error))
    return report(io, argv, { code: 'interrupted', message: 'interrupted', hint: undefined, exitCode: ExitCode.interrupted });
  const detail = error instanceof Error ? (error.stack ?? error.message) : String(error);
  const exit = report(io, argv, {
    code: 'internal',
    message: `internal error: ${error instanceof Error ? error.message : String(error)}`,
    hint: `this is a bug in sparctl ${VERSION} (Node ${process.version}); please report it with the command you ran`,
    exitCode: ExitCode.internal,
  });
  if (io.env['SPARCTL_DEBUG']) io.stderr.write(`${detail}\n`);
  return exit;
}

/**
 * One line on stderr, `sparctl: error [code]: message (hint)`, and with -o json/jsonl the same
 * as a JSON object on stdout, so a program reading stdout is never left with nothing to parse.
 */
function report(io: Io, argv: readonly string[], fields: ErrorFields): number {
  const safe: ErrorFields = {
    ...fields,
    message: redactShownText(redactUrlsIn(fields.message)),
    hint: fields.hint === undefined ? undefined : redactShownText(redactUrlsIn(fields.hint)),
  };
  // One line whatever the message holds: a control character from a flag, a file or a server is shown, never acted on.
  io.stderr.write(printable(`sparctl: error [${safe.code}]: ${safe.message}${safe.hint ? ` (${safe.hint})` : ''}`) + '\n');
  const document = errorDocument(chosenOutputFormat(io) ?? formatAsked(argv, io.env), safe);
  if (document !== undefined) io.stdout.write(document);
  return fields.exitCode;
}

/** commander.unknownOption → usage.unknown_option. */
function usageCode(commanderCode: string): string {
  return `usage.${commanderCode.replace(/^commander\./, '').replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`)}`;
}

/** The -o/--output a failed parse never got to read, or SPARCTL_OUTPUT. */
function formatAsked(argv: readonly string[], env: Io['env']): OutputFormat | undefined {
  let asked: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--') break;
    if (arg === '-o' || arg === '--output') asked = argv[i + 1];
    else if (arg.startsWith('--output=')) asked = arg.slice('--output='.length);
    else if (/^-o[a-z]/.test(arg)) asked = arg.slice(2);
  }
  return outputFormatNamed(asked) ?? outputFormatNamed(env['SPARCTL_OUTPUT']);
}

/** @inquirer/prompts throws ExitPromptError when the user presses Ctrl-C at a prompt. */
function isPromptExit(error: unknown): boolean {
  return error instanceof Error && error.name === 'ExitPromptError';
}
