import { isAbsolute, relative } from 'node:path';
import { redactUrlsIn } from '../config/redact.js';
import { shellWord } from '../core/shell-word.js';

/**
 * The command that feeds a reject file back in: the command line as given, with the reject file
 * in the input's place and without the flags that belong to the first run (--rejects, --results,
 * --journal, --restart, --overwrite, --dry-run) and the flags of a workbook input (--sheet: the
 * reject file of an .xlsx is CSV), quoted for a POSIX shell. A URL's credentials are masked.
 */

/** Flags of the first run only; true: the flag takes a value. */
const FIRST_RUN_ONLY: Record<string, boolean> = {
  '--rejects': true,
  '--results': true,
  '--journal': true,
  '--restart': false,
  '--overwrite': false,
  '--dry-run': false,
  // The reject file of a workbook is CSV, which has no sheets.
  '--sheet': true,
};
/** Flags whose value is never the input file. */
const VALUE_FLAGS = new Set([
  '--mapping',
  '--dfsp',
  '--profile',
  '--db',
  '--url',
  '--delimiter',
  '--mode',
  '--format',
  '-o',
  '--output',
  '--sheet',
  '--skip-review',
  '--early-stop',
  '--batch-size',
  '--concurrency',
  '--concurrency-max',
  '--retries',
  '--country',
  '--strategy',
]);

export function refeedCommand(argv: readonly string[], file: string, rejectsPath: string, cwd: string): string | undefined {
  const shown = relative(cwd, rejectsPath);
  const path = shown === '' || shown.startsWith('..') || isAbsolute(shown) ? rejectsPath : shown;
  const words: string[] = [];
  let replaced = false;
  for (let at = 0; at < argv.length; at++) {
    const word = argv[at]!;
    const name = word.split('=')[0]!;
    if (name in FIRST_RUN_ONLY) {
      if (FIRST_RUN_ONLY[name] && !word.includes('=')) at++;
      continue;
    }
    if (!replaced && word === `--file=${file}`) {
      words.push(`--file=${shellWord(path, true)}`);
      replaced = true;
    } else if (!replaced && word === file && !VALUE_FLAGS.has(argv[at - 1] ?? '')) {
      words.push(shellWord(path, true));
      replaced = true;
    } else words.push(shellWord(word));
  }
  if (!replaced) return undefined;
  // A --url's password or query key would be printed as typed: masked, it is for the user to
  // fill in again, and the line says so (pasted as it is, it would fail to authenticate).
  const command = `sparctl ${words.join(' ')}`;
  const masked = redactUrlsIn(command);
  return masked === command ? masked : `${masked}   (*** where the --url has a secret, not shown: type it in again)`;
}
