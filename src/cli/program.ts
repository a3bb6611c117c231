import { Command, Option } from 'commander';
import { OUTPUT_FORMATS } from '../config/constants.js';
import type { Io } from './io.js';
import { VERSION } from './version.js';

type SetExit = (code: number) => void;

/**
 * Every command's name, in the order help lists them, and how its module is loaded. A command
 * line that names one command loads that module alone: the other eleven were a tenth of a
 * single `resolve`'s time. `completion` describes the whole tree, so it loads every one.
 */
const COMMANDS: readonly { readonly name: string; readonly load: (io: Io, setExit: SetExit) => Promise<Command> }[] = [
  ...(['link', 'update', 'resolve', 'unlink'] as const).map((operation) => ({
    name: operation,
    load: async (io: Io, setExit: SetExit) => (await import('./commands/records.js')).recordCommand(operation, io, setExit),
  })),
  { name: 'import-csv', load: async (io, setExit) => (await import('./commands/import-csv.js')).importCsvCommand(io, setExit) },
  { name: 'import-odk', load: async (io, setExit) => (await import('./commands/import-odk.js')).importOdkCommand(io, setExit) },
  { name: 'strategy', load: async (io, setExit) => (await import('./commands/strategy.js')).strategyCommand(io, setExit) },
  { name: 'serve', load: async (io, setExit) => (await import('./commands/serve.js')).serveCommand(io, setExit) },
  { name: 'dfsp', load: async (io, setExit) => (await import('./commands/dfsp.js')).dfspCommand(io, setExit) },
  { name: 'fa', load: async (io, setExit) => (await import('./commands/fa.js')).faCommand(io, setExit) },
  { name: 'ping', load: async (io, setExit) => (await import('./commands/ping.js')).pingCommand(io, setExit) },
  { name: 'smoke', load: async (io, setExit) => (await import('./commands/smoke.js')).smokeCommand(io, setExit) },
  { name: 'init', load: async (io, setExit) => (await import('./commands/init.js')).initCommand(io, setExit) },
  { name: 'config', load: async (io, setExit) => (await import('./commands/config.js')).configCommand(io, setExit) },
  { name: 'completion', load: async (io, setExit) => (await import('./commands/completion.js')).completionCommand(io, setExit) },
];

/** Every command's name, whether or not its module is loaded. */
export const COMMAND_NAMES: readonly string[] = COMMANDS.map((command) => command.name);

/**
 * Builds a fresh command tree; `setExit` receives the exit status the command chose. Given the
 * command line, only the command it names is loaded (when it plainly names one that is not
 * `completion`); otherwise — no command, help, an unknown word, anything unusual before the
 * name — all are, so that commander lists, suggests and refuses exactly as with the whole tree.
 */
export async function createProgram(io: Io, setExit: SetExit, argv?: readonly string[]): Promise<Command> {
  const program = new Command('sparctl')
    .description('Bulk administration of OpenG2P SPAR, the ID → financial address mapper')
    .version(VERSION, '-V, --version')
    .option('--profile <name>', 'profile from the config file (env SPARCTL_PROFILE)')
    .option('--db <path>', 'act on the local mapper database at PATH (env SPARCTL_DB)')
    .option('--url <url>', 'act on the remote mapper at this base URL, e.g. https://spar.example.org/api/mapper (env SPARCTL_BASE_URL)')
    .option('--create', 'with --db on a command that writes: create the database if it does not exist')
    .addOption(
      new Option('-o, --output <format>', 'output format (default: table on a terminal, jsonl when piped)').choices(OUTPUT_FORMATS),
    )
    .addOption(new Option('-q, --quiet', 'print only results and errors').conflicts('verbose'))
    .option('-v, --verbose', 'print more about what is being done')
    .option('-y, --yes', 'answer yes to confirmations (needed for unlink without a terminal)')
    .option('--no-input', 'never prompt; fail instead when a confirmation is needed')
    .option('--ca-file <file>', 'trust this CA certificate (PEM) besides the system ones, for every HTTPS connection (env SPARCTL_CA_FILE)')
    .option('--insecure', 'do not verify TLS certificates (prints a warning; for a throwaway test server only)')
    .option('--async', 'g2p-connect profiles: send asynchronously; results come by callback or txn/status (see README "Remote mode")')
    .showSuggestionAfterError(true)
    .addHelpText(
      'after',
      `
Local mode is the default: records go to an embedded SQLite mapper in the XDG data dir
(see "sparctl config path"); --db or a profile points elsewhere.

Examples:
  $ sparctl link --file fixtures/beneficiaries.csv
  $ sparctl resolve --id BENE_0001
  $ sparctl config show

Exit codes: 0 ok · 1 internal error · 2 usage or bad input · 3 config · 4 mapper unavailable
            5 finished with records not applied · 130 interrupted · 143 terminated
            129 hung up (SIGHUP) · 131 quit (SIGQUIT)
Error codes (the [code] of an error line): README → Troubleshooting → Error codes`,
    );
  const named = argv === undefined ? undefined : commandNamed(program, argv);
  const wanted = named === undefined || named === 'completion' ? COMMANDS : COMMANDS.filter((command) => command.name === named);
  for (const command of await Promise.all(wanted.map((entry) => entry.load(io, setExit)))) program.addCommand(command);
  return program;
}

/**
 * The command the line plainly names: its first word that is neither an option of the root
 * nor such an option's value. Undefined for anything this does not read with certainty —
 * `--`, grouped short flags (`-qy`), an option the root does not have, a word that is no
 * command's name.
 */
function commandNamed(program: Command, argv: readonly string[]): string | undefined {
  for (let i = 0; i < argv.length; i++) {
    const token = argv[i]!;
    if (!token.startsWith('-')) return COMMAND_NAMES.includes(token) ? token : undefined;
    if (token === '--' || token === '-') return undefined;
    const flag = token.startsWith('--') ? token.split('=', 1)[0]! : token;
    if (!token.startsWith('--') && token.length !== 2) return undefined;
    const option = program.options.find((candidate) => candidate.long === flag || candidate.short === flag);
    if (option === undefined) return undefined;
    if (option.optional) return undefined;
    if (option.required && flag === token) i++; // its value is the next word
  }
  return undefined;
}
