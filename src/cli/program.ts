import { Command, Option } from 'commander';
import { OUTPUT_FORMATS } from '../config/constants.js';
import { completionCommand } from './commands/completion.js';
import { configCommand } from './commands/config.js';
import { dfspCommand } from './commands/dfsp.js';
import { faCommand } from './commands/fa.js';
import { importCsvCommand } from './commands/import-csv.js';
import { importOdkCommand } from './commands/import-odk.js';
import { initCommand } from './commands/init.js';
import { pingCommand } from './commands/ping.js';
import { recordCommand } from './commands/records.js';
import { serveCommand } from './commands/serve.js';
import { smokeCommand } from './commands/smoke.js';
import { strategyCommand } from './commands/strategy.js';
import type { Io } from './io.js';
import { VERSION } from './version.js';

/** Builds a fresh command tree; `setExit` receives the exit status the command chose. */
export function createProgram(io: Io, setExit: (code: number) => void): Command {
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
Error codes (the [code] of an error line): README → Troubleshooting → Error codes`,
    );
  for (const operation of ['link', 'update', 'resolve', 'unlink'] as const) program.addCommand(recordCommand(operation, io, setExit));
  program.addCommand(importCsvCommand(io, setExit));
  program.addCommand(importOdkCommand(io, setExit));
  program.addCommand(strategyCommand(io, setExit));
  program.addCommand(serveCommand(io, setExit));
  program.addCommand(dfspCommand(io, setExit));
  program.addCommand(faCommand(io, setExit));
  program.addCommand(pingCommand(io, setExit));
  program.addCommand(smokeCommand(io, setExit));
  program.addCommand(initCommand(io, setExit));
  program.addCommand(configCommand(io, setExit));
  program.addCommand(completionCommand(io, setExit));
  return program;
}
