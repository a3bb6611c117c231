import type { OutputFormat } from '../config/constants.js';
import { UsageError } from '../core/errors.js';
import { csvCell } from '../adapters/files/csv-cells.js';
import { jsonDocument } from './document.js';
import type { Io } from './io.js';
import type { TableColumn } from './table.js';

/**
 * How the commands that print a list or a single summary honour `-o`: a list is a table, one
 * JSON document, a JSONL line per row or CSV; a summary is a document or one JSONL line, and a
 * format it has no shape for is refused (exit 2) before the command does anything.
 */

export interface ListColumn extends Omit<TableColumn, 'header'> {
  /** The row's field, also the JSON key and the CSV header. */
  readonly key: string;
  /** The table's header; the key when absent. */
  readonly header?: string;
}

export interface List {
  /** The document's key for the rows, e.g. "strategies". */
  readonly name: string;
  readonly columns: readonly ListColumn[];
  readonly rows: readonly object[];
  /** More fields of the JSON document (target, configFile…). */
  readonly fields?: Readonly<Record<string, unknown>>;
  /** Said on stderr instead of an empty table. */
  readonly empty?: string;
}

export async function renderList(io: Io, format: OutputFormat, list: List): Promise<void> {
  switch (format) {
    case 'json':
      io.stdout.write(jsonDocument({ ...list.fields, [list.name]: list.rows }));
      return;
    case 'jsonl':
      for (const row of list.rows) io.stdout.write(`${JSON.stringify(row)}\n`);
      return;
    case 'csv':
      io.stdout.write(`${list.columns.map((column) => column.key).join(',')}\r\n`);
      for (const row of list.rows) io.stdout.write(`${list.columns.map((column) => csvCell(cellText(field(row, column.key)))).join(',')}\r\n`);
      return;
    case 'table': {
      if (list.rows.length === 0) {
        if (list.empty) io.stderr.write(`${list.empty}\n`);
        return;
      }
      const [{ renderTable }, { printable }] = await Promise.all([import('./table.js'), import('./output.js')]);
      const cells = list.rows.map((row) => list.columns.map((column) => printable(cellText(field(row, column.key)))));
      io.stdout.write(`${renderTable(io, list.columns.map((column) => ({ ...column, header: column.header ?? column.key })), cells)}\n`);
      return;
    }
  }
}

function field(row: object, key: string): unknown {
  return (row as Record<string, unknown>)[key];
}

function cellText(value: unknown): string {
  if (value === undefined || value === null) return '';
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return JSON.stringify(value);
}

/**
 * For a command whose result is one summary: refuses `-o csv` (exit 2) — call it before the
 * command changes anything.
 */
export function summaryFormat(command: string, format: OutputFormat): OutputFormat {
  if (format === 'csv') {
    throw new UsageError('usage.output_format', `${command} prints one summary, which has no CSV form; nothing was done`, { hint: 'use -o json or -o jsonl' });
  }
  return format;
}

/** The summary on stdout for -o json (a document) or jsonl (one line); a table run says it on stderr instead. */
export function renderSummary(io: Io, format: OutputFormat, fields: Readonly<Record<string, unknown>>): void {
  if (format === 'json') io.stdout.write(jsonDocument(fields));
  else if (format === 'jsonl') io.stdout.write(`${JSON.stringify(fields)}\n`);
}

/** For a command with no result to format (a shell script, a server's log): -o on its command line is refused. */
export function refuseOutputFlag(command: string, output: OutputFormat | undefined, why: string): void {
  if (output !== undefined) throw new UsageError('usage.output_format', `${command} does not take -o: ${why}`, { hint: 'drop -o' });
}
