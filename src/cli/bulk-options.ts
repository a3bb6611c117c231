import { Option, type Command } from 'commander';
import { RESOLVE_SCOPES } from '../core/vocabulary.js';
import { concurrencyLevel, positiveInt, positiveIntOrZero } from './parse.js';

/**
 * Options of every file-driven write: journal, reports, concurrency, retries, dry run, early stop;
 * `--restart` unless the command's jobs may not be started over (import-odk).
 */
export function addBulkOptions(command: Command, options: { restart?: boolean } = {}): Command {
  command
    .option(
      '--concurrency <n>',
      'requests in flight at once, or auto: follow what the mapper can take (default: auto, or the profile)',
      concurrencyLevel('--concurrency'),
    )
    .option('--concurrency-max <n>', 'with --concurrency auto, the most requests in flight (default 16)', positiveInt('--concurrency-max'))
    .option('--retries <n>', 'retries of a batch that fails as a whole before the run stops (default 5)', positiveIntOrZero('--retries'))
    .option(
      '--rejects <path>',
      'where rejected records go, the reason then the input row (default: ./INPUT.rejects.csv; taken: INPUT.rejects-2.csv, …)',
    )
    .option('--overwrite', 'replace the file at --rejects if one is there (without it, an existing file is refused)')
    .option('--results <path>', 'write one line per record (.csv or .jsonl) with its outcome and reason code')
    .option('--journal <path>', 'checkpoint journal (default: one per job in the XDG state dir)');
  if (options.restart !== false) command.option('--restart', 'ignore an unfinished earlier run of the same job and start over');
  return command
    .option(
      '--dry-run',
      'resolve and plan, print what would change and the first rejects, and write nothing but preview files (INPUT.rejects.preview.csv, --results R → R.preview.csv)',
    )
    .option(
      '--early-stop <n>',
      'stop (exit 2) when the first N records are all rejected for the same input, mapping or DFSP problem (default 1000)',
      positiveInt('--early-stop'),
    )
    .option('--no-early-stop', 'read every record, however many of the first ones are rejected');
}

/** resolve's flags: lookups in flight, their retries, the scope. */
export function addLookupOptions(command: Command): Command {
  return command
    .option('--concurrency <n>', 'with --file: batches looked up at once (default: 4 or the profile)', positiveInt('--concurrency'))
    .option(
      '--retries <n>',
      'lookups of a batch again after a failure that may pass: refused, timed out, 5xx, 429 (default 5 with --file, else 2)',
      positiveIntOrZero('--retries'),
    )
    .addOption(
      new Option('--scope <scope>', 'yes_no: only whether a link exists; details: the FA fields')
        .choices(RESOLVE_SCOPES)
        .default('details'),
    );
}
