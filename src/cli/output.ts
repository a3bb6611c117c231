import type { AppliedItem, RunSummary } from '../core/resolve.js';
import type { Operation, Outcome } from '../core/results.js';
import type { OutputFormat } from '../config/settings.js';
import { QUOTED_COLUMN, csvCell, quotedCell, rawCell } from '../adapters/files/csv-cells.js';
import type { Io } from './io.js';
import { UsageError } from '../core/errors.js';
import type { OutputFormat as Format } from '../config/constants.js';
import { renderTable, type TableColumn } from './table.js';
import { errorDocument, errorFields, jsonDocument, type ErrorFields } from './document.js';
import { printable } from '../core/shell-word.js';

/**
 * Every rendering of a command's result comes from the same value, so table, JSON, JSONL and CSV
 * cannot drift apart. Data goes to stdout; the summary line goes to stderr.
 */

export const OUTCOME_WORDS: Record<Outcome, string> = {
  linked: 'linked',
  updated: 'updated',
  unlinked: 'unlinked',
  found: 'found',
  already_linked: 'already linked',
  not_found: 'not found',
  rejected: 'rejected',
};

export { defaultFormat } from './io.js';
export { printable, shellWord } from '../core/shell-word.js';

interface ResultView {
  line?: number;
  id: string;
  outcome: Outcome;
  status: string;
  status_reason_code: string | null;
  status_reason_message: string | null;
  fa?: unknown;
  additional_info?: unknown;
  /** The mapper holds what was asked, seen after a lost answer: this run may or may not have made the change. */
  confirmed?: true;
  dry_run?: true;
}

function view(applied: AppliedItem): ResultView {
  const { result } = applied;
  // Assigned key by key, in this order (the JSON's), rather than spread: a resolve --file of
  // 20,000 records spent 0.2 s building these objects with conditional spreads.
  const shown: ResultView = {} as ResultView;
  if (applied.line !== undefined) shown.line = applied.line;
  shown.id = applied.id;
  shown.outcome = applied.outcome;
  shown.status = result.status;
  shown.status_reason_code = result.status_reason_code;
  shown.status_reason_message = result.status_reason_message;
  if (result.fa !== undefined) shown.fa = result.fa;
  if (result.additional_info !== undefined) shown.additional_info = result.additional_info;
  if (applied.confirmed) shown.confirmed = true;
  return shown;
}

export interface RenderInput {
  readonly operation: Operation;
  readonly target: string;
  readonly applied: readonly AppliedItem[];
  readonly summary: RunSummary;
  /** A dry run: outcomes are what would happen. */
  readonly dryRun?: boolean;
  /** Why the command fails although it has results to show (its line goes to stderr too). */
  readonly failure?: ErrorFields;
}

export function renderResults(io: Io, format: OutputFormat, input: RenderInput): void {
  const views = input.applied.map(view);
  if (input.dryRun) for (const v of views) v.dry_run = true;
  // A program reading stdout learns of the failure there too: in the document, or as a last line.
  const error = input.failure === undefined ? undefined : errorFields(input.failure);
  switch (format) {
    case 'json':
      io.stdout.write(
        jsonDocument({ operation: input.operation, target: input.target, summary: input.summary, results: views, ...(error ?? {}) }),
      );
      return;
    case 'jsonl':
      io.stdout.write(jsonLines(views) + (error === undefined ? '' : `${JSON.stringify(error)}\n`));
      return;
    case 'csv':
      io.stdout.write(toCsv(views));
      return;
    case 'table':
      io.stdout.write(`${toTable(io, input.operation, views)}\n`);
      return;
  }
}

function toTable(io: Io, operation: Operation, views: ResultView[]): string {
  const withLines = views.some((v) => v.line !== undefined);
  const withFa = operation === 'resolve' && views.some((v) => v.fa !== undefined && v.fa !== null);
  const columns: TableColumn[] = [
    ...(withLines ? [{ header: 'line', fit: 'fixed', align: 'right' } as const] : []),
    { header: 'id' },
    { header: 'outcome', fit: 'fixed' },
    ...(withFa ? [{ header: 'financial address' }] : []),
    // A server's long message is cut after a few lines here; -o json has all of it.
    { header: 'reason', maxLines: 3 },
  ];
  const rows = views.map((v) => {
    // A plain success needs no reason; anything else says why, in words, unless the outcome said it.
    const reason =
      v.status === 'succ' && v.outcome !== 'not_found' ? '' : reasonText(operation, v.status_reason_code, v.status_reason_message);
    return [
      ...(withLines ? [String(v.line ?? '')] : []),
      printable(v.id),
      v.dry_run
        ? `would be ${OUTCOME_WORDS[v.outcome]}`
        : v.confirmed
          ? `${OUTCOME_WORDS[v.outcome]} (confirmed)`
          : OUTCOME_WORDS[v.outcome],
      ...(withFa ? [faLines(v.fa)] : []),
      printable(reason === OUTCOME_WORDS[v.outcome] ? '' : reason),
    ];
  });
  return renderTable(io, columns, rows);
}

// SPAR's messages that say no more than the words for their code (typos and all).
const NOT_LINKED_MESSAGE = /doesn'?t exist|does not exist|not found|no mapping/i;
const ALREADY_LINKED_MESSAGE = /duplicate|already/i;
const STOCK_MESSAGES = new Set(['ID is null', 'ID is required', 'Internal server error']);

/**
 * SPAR's reason codes in a few words, for tables; JSON, JSONL and CSV keep the codes. Some
 * depend on the operation and message (SPAR says rjct.reference_id.duplicate both for a link of
 * a linked ID and for an update of a missing one). Undefined for a code sparctl does not know.
 */
export function reasonWords(operation: Operation, code: string, message: string | null): string | undefined {
  const said = message ?? '';
  switch (code) {
    case 'succ.fa.not_linked_to_id':
    case 'succ.id.not_found':
    case 'succ.fa.not_found':
      return 'not linked';
    case 'rjct.reference_id.duplicate':
      if (NOT_LINKED_MESSAGE.test(said)) return 'not linked';
      if (ALREADY_LINKED_MESSAGE.test(said)) return 'already linked';
      return operation === 'link' ? 'already linked' : operation === 'update' ? 'not linked' : 'reference used twice';
    case 'rjct.id.invalid':
      if (NOT_LINKED_MESSAGE.test(said)) return 'not linked';
      if (ALREADY_LINKED_MESSAGE.test(said)) return 'already linked';
      return said === 'ID is null' ? 'no ID' : 'invalid ID';
    case 'rjct.reference_id.invalid':
      return said === 'ID is required' ? 'no ID' : 'invalid reference';
    case 'rjct.fa.invalid':
      return 'invalid FA';
    case 'rjct.timestamp.invalid':
      return 'invalid timestamp';
    case 'rjct.name.invalid':
    case 'rjct.beneficiary_name.invalid':
      return 'invalid name';
    case 'rjct.mobile_number.invalid':
      return 'invalid phone number';
    case 'rjct.resolve_type.not_supported':
      return 'scope not supported';
    case 'rjct.unknown.retry':
      return 'try again';
    case 'rjct.other.error':
      return 'other error';
    case 'rjct.internal.error':
      return 'server error';
    case 'rjct.request.validation':
      return 'request refused';
    case 'rjct.jwt.invalid':
    case 'rjct.signature.invalid':
      return 'signature refused';
    case 'rjct.permission.denied':
      return 'permission denied';
    case 'rjct.action.not_supported':
      return 'operation not supported';
    case 'succ.id.active':
    case 'succ.fa.active':
      return 'active';
    case 'succ.id.inactive':
    case 'succ.fa.inactive':
      return 'inactive';
    default:
      return undefined;
  }
}

/**
 * A result's reason for a table: the words for its code, then SPAR's message if it says more;
 * an unknown code as it came, with its message.
 */
export function reasonText(operation: Operation, code: string | null, message: string | null): string {
  // "(server code …)": the code a protocol adapter rewrote, for -o json; "dry run: ": the outcome says so.
  const said = (message ?? '').replace(/ ?\(server code [^)]*\)$/, '').replace(/^dry run: /, '');
  if (!code) return said;
  const words = reasonWords(operation, code, said);
  if (words === undefined) return `${code}${message ? `: ${message}` : ''}`;
  const redundant =
    said === '' ||
    STOCK_MESSAGES.has(said) ||
    (words === 'not linked' && NOT_LINKED_MESSAGE.test(said)) ||
    (words === 'already linked' && ALREADY_LINKED_MESSAGE.test(said));
  return redundant ? words : `${words}: ${said}`;
}

/** An FA object as "field: value" lines; strategy_id last. */
function faLines(fa: unknown): string {
  if (fa === null || fa === undefined) return '';
  if (typeof fa === 'string') return printable(fa);
  const entries = Object.entries(fa as Record<string, unknown>);
  if (entries.length === 0) return '(stored FA could not be read with its strategy)';
  const ordered = [...entries.filter(([k]) => k !== 'strategy_id'), ...entries.filter(([k]) => k === 'strategy_id')];
  return ordered.map(([k, value]) => `${k}: ${printable(value === null ? '' : String(value))}`).join('\n');
}

const CSV_COLUMNS = ['line', 'id', 'outcome', 'status', 'status_reason_code', 'status_reason_message', 'fa'] as const;

function toCsv(views: ResultView[]): string {
  return `${CSV_COLUMNS.join(',')}\r\n${csvRows(views)}`;
}

/** Results as JSONL, written at once: one write per line cost a 20,000-ID resolve 20,000 system calls on a pipe. */
function jsonLines(views: readonly ResultView[]): string {
  let lines = '';
  for (const v of views) lines += `${JSON.stringify(v)}\n`;
  return lines;
}

function csvRows(views: readonly ResultView[]): string {
  let rows = '';
  for (const v of views) {
    const cells = CSV_COLUMNS.map((column) => {
      const value = (v as unknown as Record<string, unknown>)[column];
      if (value === undefined || value === null) return '';
      return csvCell(typeof value === 'string' ? value : typeof value === 'number' ? String(value) : JSON.stringify(value));
    });
    rows += `${cells.join(',')}\r\n`;
  }
  return rows;
}

/**
 * For JSONL and CSV, a writer of results as they come (resolveRecords' streamResults), each
 * batch in one write; the lines are those renderResults writes for the whole list. Undefined for
 * the formats that need every result first (a JSON document, a table sized to its rows).
 */
export function resultStream(io: Io, format: OutputFormat): ((answered: readonly AppliedItem[]) => void) | undefined {
  if (format === 'jsonl') return (answered) => void io.stdout.write(jsonLines(answered.map(view)));
  if (format === 'csv') {
    let header = false;
    return (answered) => {
      const rows = csvRows(answered.map(view));
      io.stdout.write(header ? rows : `${CSV_COLUMNS.join(',')}\r\n${rows}`);
      header = true;
    };
  }
  return undefined;
}

/** "link: 9 linked, 1 already linked (local ~/.local/share/sparctl/mapper.db)"; a dry run says "would be linked". */
export function summaryLine(summary: RunSummary, target: string, dryRun = false): string {
  const parts = (Object.entries(summary.counts) as [Outcome, number][]).map(
    ([outcome, n]) => `${n} ${dryRun ? 'would be ' : ''}${OUTCOME_WORDS[outcome]}`,
  );
  return `${summary.operation}${dryRun ? ' (dry run)' : ''}: ${parts.length ? parts.join(', ') : 'nothing to do'} (${target})`;
}

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
  /** The JSON document's fields, when it is not the rows under `name` (settings as an object, say). */
  readonly document?: Readonly<Record<string, unknown>>;
  /** JSONL lines, when they are not the rows (a trailing summary line, say). */
  readonly lines?: readonly object[];
  /** CSV columns and rows, when they are not the table's (one row per finding, say). */
  readonly csv?: { readonly columns: readonly string[]; readonly rows: readonly object[] };
  /**
   * CSV read back by sparctl (`dfsp list -o csv` into `dfsp import`): a cell a spreadsheet would
   * run is quoted so that the apostrophe comes off again, and a sparctl_quoted column names such
   * cells (as in a reject file), instead of a plain apostrophe that a re-import keeps.
   */
  readonly readBack?: true;
  /** The table's text, when it is not a table of the columns (blocks, lines): without the final newline. */
  readonly table?: () => string;
}

/**
 * A command's list in the format asked: the one place a list's format is decided. JSON is one
 * document with the rows under `name`; JSONL a line per row; CSV a header and a row each; a
 * table for a person, fitted to the terminal.
 */
export async function renderList(io: Io, format: Format, list: List): Promise<void> {
  switch (format) {
    case 'json':
      io.stdout.write(jsonDocument(list.document ?? { ...list.fields, [list.name]: list.rows }));
      return;
    case 'jsonl':
      for (const row of list.lines ?? list.rows) io.stdout.write(`${JSON.stringify(row)}\n`);
      return;
    case 'csv': {
      const columns = list.csv?.columns ?? list.columns.map((column) => column.key);
      const rows = list.csv?.rows ?? list.rows;
      if (list.readBack) {
        const cells = rows.map((row) => columns.map((key) => cellText(field(row, key))));
        const quoted = cells.map((row) => columns.filter((_, at) => quotedCell(row[at]!) !== row[at]));
        const marked = quoted.some((names) => names.length > 0);
        io.stdout.write(`${[...columns, ...(marked ? [QUOTED_COLUMN] : [])].join(',')}\r\n`);
        cells.forEach((row, at) => {
          const written = [...row.map((cell) => rawCell(quotedCell(cell))), ...(marked ? [rawCell(quoted[at]!.join(' '))] : [])];
          io.stdout.write(`${written.join(',')}\r\n`);
        });
        return;
      }
      io.stdout.write(`${columns.join(',')}\r\n`);
      for (const row of rows) io.stdout.write(`${columns.map((key) => csvCell(cellText(field(row, key)))).join(',')}\r\n`);
      return;
    }
    case 'table': {
      if (list.rows.length === 0) {
        if (list.empty) io.stderr.write(`${list.empty}\n`);
        return;
      }
      if (list.table) {
        io.stdout.write(`${list.table()}\n`);
        return;
      }
      const cells = list.rows.map((row) => list.columns.map((column) => printable(cellText(field(row, column.key)))));
      io.stdout.write(
        `${renderTable(
          io,
          list.columns.map((column) => ({ ...column, header: column.header ?? column.key })),
          cells,
        )}\n`,
      );
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
export function summaryFormat(command: string, format: Format): Format {
  if (format === 'csv') {
    throw new UsageError('usage.output_format', `${command} prints one summary, which has no CSV form; nothing was done`, {
      hint: 'use -o json or -o jsonl',
    });
  }
  return format;
}

/** The summary on stdout for -o json (a document) or jsonl (one line); a table run says it on stderr instead. */
export function renderSummary(io: Io, format: Format, fields: Readonly<Record<string, unknown>>): void {
  if (format === 'json') io.stdout.write(jsonDocument(fields));
  else if (format === 'jsonl') io.stdout.write(`${JSON.stringify(fields)}\n`);
}

/** For a command with no result to format (a shell script, a server's log): -o on its command line is refused. */
export function refuseOutputFlag(command: string, output: Format | undefined, why: string): void {
  if (output !== undefined) throw new UsageError('usage.output_format', `${command} does not take -o: ${why}`, { hint: 'drop -o' });
}

/**
 * The end of a --file run on stdout: the summary document with -o json; with -o jsonl, after the
 * per-record lines, the error object when the run stopped early (so a reader can tell a stop
 * from the end). Table and CSV runs say it on stderr.
 */
export function renderJobEnd(
  io: Io,
  format: Format | undefined,
  document: Readonly<Record<string, unknown>>,
  stopped: ErrorFields | undefined,
): void {
  if (format === 'json') io.stdout.write(jsonDocument(document));
  else if (format === 'jsonl' && stopped) io.stdout.write(errorDocument('jsonl', stopped)!);
}
