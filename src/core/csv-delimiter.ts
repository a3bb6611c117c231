/**
 * Which CSV delimiters can be read: one that is a quote or a line break would make a cell
 * impossible to tell from quoting or from the row's end. Checked where the user gives one
 * (--delimiter) and again by the tokenizer, which refuses any other.
 */
import { UsageError } from './errors.js';

/**
 * The refusal of a `--delimiter` that cannot be used, or undefined when it can: one code and one
 * message whichever command reads the flag (link's was usage.invalid_argument, import-csv's
 * usage.delimiter).
 */
export function refusedDelimiter(delimiter: string): UsageError | undefined {
  const unusable = unusableDelimiter(delimiter);
  if (unusable === undefined) return undefined;
  return new UsageError('usage.delimiter', `--delimiter ${JSON.stringify(delimiter)}: ${unusable}`, {
    hint: 'e.g. --delimiter ";"; without the flag a .tsv file is read with tabs, any other with commas',
  });
}

/** Why `delimiter` cannot be used, or undefined when it can. */
export function unusableDelimiter(delimiter: string): string | undefined {
  if (delimiter.length !== 1 || delimiter === '"' || delimiter === '\n' || delimiter === '\r')
    return 'a delimiter must be one character other than a quote or a line break';
  return undefined;
}

/**
 * How a CSV file was written: its delimiter, whether it began with a UTF-8 BOM, and its line
 * ending. A reject file is written the same way, so it feeds back with the same command.
 */
export interface CsvLayout {
  readonly delimiter: string;
  readonly bom: boolean;
  readonly eol: '\r\n' | '\n' | '\r';
}

/** The layout of a reject file when the input's is not known (JSONL input): RFC 4180's. */
export const DEFAULT_CSV_LAYOUT: CsvLayout = { delimiter: ',', bom: false, eol: '\r\n' };

/**
 * The BOM and line ending of a CSV file from its first text (`ended`: no more text will come);
 * undefined while the first line break is not yet seen (or a CR is the text's last character).
 */
export function layoutOfHead(head: string, delimiter: string, ended: boolean): CsvLayout | undefined {
  const bom = head.charCodeAt(0) === 0xfeff;
  const at = head.search(/[\r\n]/);
  if (at === -1 || (head[at] === '\r' && at === head.length - 1 && !ended)) return ended ? { delimiter, bom, eol: '\r\n' } : undefined;
  const eol = head[at] === '\n' ? '\n' : head[at + 1] === '\n' ? '\r\n' : '\r';
  return { delimiter, bom, eol };
}

/**
 * When a header read with `delimiter` is one column holding another common delimiter, the hint
 * that says which flag reads the file (a European-locale export uses ";"); undefined otherwise.
 */
export function otherDelimiterHint(header: readonly string[], delimiter: string): string | undefined {
  if (header.length !== 1) return undefined;
  const other = [';', '\t', '|', ','].find((candidate) => candidate !== delimiter && header[0]!.includes(candidate));
  if (other === undefined) return undefined;
  return `the header is one column, which holds ${JSON.stringify(other)}: the file looks ${JSON.stringify(other)}-separated; run again with --delimiter ${other === '\t' ? "$'\\t'" : `'${other}'`}`;
}

/**
 * Excel's `sep=;` line above the header (an export made for Excel in another locale): the hint
 * to delete it, whatever delimiter the header was split with; undefined for any other header.
 */
export function sepLineHint(header: readonly string[]): string | undefined {
  return /^\s*sep=/i.test(header[0] ?? '')
    ? 'the first line is a spreadsheet\'s "sep=" line, not the header: delete that line, so that the header is the first'
    : undefined;
}
