import { Command, Option } from 'commander';
import type { GlobalOptions } from '../context.js';
import type { Io } from '../io.js';
import { addBulkOptions } from '../bulk-options.js';
import { parsePositive } from '../parse.js';
import type { BulkJobFlags } from '../bulk-job.js';

interface ImportOptions extends BulkJobFlags {
  mapping: string;
  mode: 'upsert' | 'link' | 'update' | 'unlink';
  dfsp?: string;
  delimiter?: string;
  sheet?: string;
  skipReview: string;
}

/** `sparctl import-csv FILE --mapping M`: parse, run the import-csv use case (app/import-csv.ts), exit with its code. */
export function importCsvCommand(io: Io, setExit: (code: number) => void): Command {
  const command = new Command('import-csv')
    .description(
      'import an enumeration CSV or .xlsx workbook through a mapping file: link new beneficiaries, update changed ones (resumable)',
    )
    .argument(
      '<file>',
      'the CSV file, or an .xlsx workbook ("-" = stdin, read as CSV; a run from stdin resumes when the same bytes are piped in again)',
    )
    .requiredOption(
      '--mapping <file>',
      'JSON mapping of CSV columns to ID, name, phone and FA (see README "import-csv: enumeration files through a mapping")',
    )
    .addOption(
      new Option('--mode <mode>', 'upsert: link new IDs, update changed ones, skip unchanged ones')
        .choices(['upsert', 'link', 'update', 'unlink'])
        .default('upsert'),
    )
    .option('--dfsp <file>', 'banks, branches and wallet providers (JSON) to check codes and fill names from')
    .option('--delimiter <char>', 'cell delimiter of a CSV file (default ",")')
    .option('--sheet <name>', 'the sheet of an .xlsx workbook to read (default: the first)')
    .option(
      '--skip-review <states>',
      'an ODK Central export (a ReviewState column): review states whose rows are skipped, comma-separated (received, hasIssues, edited, approved, rejected; "" for none)',
      'rejected',
    )
    .option('--batch-size <n>', 'records per request to the mapper (default: 500 or the profile)', (v) => parsePositive(v, '--batch-size'));
  addBulkOptions(command);
  return command
    .addHelpText(
      'after',
      `
Every row ends applied, unchanged, or in the reject file with its line and reason; the run is
journalled, so after a crash or Ctrl-C the same command resumes where it stopped.

Examples:
  $ sparctl import-csv fixtures/enumeration.csv --mapping fixtures/enumeration.mapping.json --dfsp fixtures/dfsp.json
  $ sparctl import-csv survey.csv --mapping map.json --dry-run
  $ sparctl import-csv enumeration.xlsx --sheet Households --mapping map.json
  $ sparctl --profile staging import-csv survey.csv --mapping map.json --results results.jsonl`,
    )
    .action(async (file: string, options: ImportOptions, cmd: Command) => {
      const { importCsvDeps } = await import('../compose/import-csv.js');
      const { importCsv } = await import('../../app/import-csv.js');
      setExit((await importCsv(importCsvDeps(io, cmd.optsWithGlobals<GlobalOptions>(), options), { ...options, file })).exitCode);
    });
}
