import type { Command } from 'commander';
import { concurrencyLevel, positiveInt, positiveIntOrZero } from './parse.js';

/** Options of every file-driven write: journal, reports, concurrency, retries, dry run. */
export function addBulkOptions(command: Command): Command {
  return command
    .option(
      '--concurrency <n>',
      'requests in flight at once, or auto: follow what the mapper can take (default: 4 or the profile)',
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
    .option('--journal <path>', 'checkpoint journal (default: one per job in the XDG state dir)')
    .option('--restart', 'ignore an unfinished earlier run of the same job and start over')
    .option('--dry-run', 'resolve and plan, print what would change, and write nothing');
}
