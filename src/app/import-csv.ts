import { loadMappingFiles } from './mapping-files.js';
import { csvRowKey, mappedCsvRecords, rowContexts, type CsvFileRow, type LaterRule, type RowContexts } from '../core/bulk/mapped-rows.js';
import type { BulkInputRecord, BulkMode } from '../core/bulk/types.js';
import { ColumnWidths } from '../core/column-widths.js';
import { refusedDelimiter, sepLineHint } from '../core/csv-delimiter.js';
import { UsageError } from '../core/errors.js';
import {
  checkMappingStrategies,
  idColumns,
  missingColumns,
  rowFilter,
  widthColumns,
  type CompiledMapping,
  type DfspData,
  type RowFilter,
} from '../core/mapping.js';
import { OLDER_SUBMISSION, reviewStatesOf, SUBMISSION_DATE_COLUMN, SubmissionOrder, UNKNOWN_ORDER } from '../core/odk.js';
import { closest } from '../core/strategy/validate.js';
import type { Strategy } from '../core/strategy/strategy.js';

/**
 * `import-csv`'s use case: an enumeration CSV through a mapping file into the mapper, as a bulk
 * job (cli/bulk-job.ts). Before the job: the mapping and DFSP data (the file given, else the
 * target's own), the delimiter. The job's definition — what a resumed run must find the same —
 * is the mapping, the DFSP data, the delimiter (an .xlsx's sheet) and --skip-review asked for.
 * The header is checked as soon as it is read, before any row is sent: a column the mapping
 * reads and the file lacks stops it. A `.xlsx` file is read as a workbook (the first sheet, or
 * `--sheet`), by the same mapping; its rejects are written as CSV.
 *
 * Row filters: the mapping's `skip`/`where`, and — when the file has ODK Central's `ReviewState`
 * column and the mapping filters on no such column — --skip-review's states (default
 * `rejected`, as import-odk). A row they leave out is skipped, keyed as no ID in the row index
 * and in the run alike (csvRowKey), so it never supersedes nor is superseded by a row of its ID.
 *
 * Lost leading zeros (CSV): the pass before the run tallies the ID and account number columns
 * (`widths`, core/column-widths.ts); the run refuses a value short of its fixed-width column's
 * zeros. The verdict comes from the file's bytes and the mapping (both in the fingerprint) and
 * is part of each row's context (ItemRow); a refused row keeps its key, as the row index has it.
 */

/** ODK Central's CSV export column of a submission's review state (empty while received). */
export const REVIEW_STATE_COLUMN = 'ReviewState';

/** The bulk job of one import: what cli/bulk-job.ts needs to read the CSV through the mapping. */
export interface CsvImportJob {
  readonly mode: BulkMode;
  readonly file: string;
  readonly definition: string;
  /** The delimiter the file is read with (a .tsv's tab unless one is given; none for a workbook). */
  readonly delimiter: string;
  /** A CSV file, or an .xlsx workbook (by the file's extension). */
  readonly format: 'csv' | 'xlsx';
  /** The workbook's sheet (--sheet), when one is named. */
  readonly sheet?: string;
  /** What the input is called in messages. */
  readonly label: string;
  /** Told the target's strategies, before the index pass and again before the run. */
  useStrategies(strategies: ReadonlyMap<number, Strategy>): void;
  /** Told the header as read: the columns handed over, every column as written, the delimiter used. Throws when a mapped column is missing. */
  onHeader(header: readonly string[], written: readonly string[], usedDelimiter: string): void;
  /** The columns a row's ID is read from, and the ID a row names. */
  keyColumns(): readonly string[];
  keyOf(cell: (column: string) => string | undefined): string | undefined;
  /** The ID and account number columns' lengths, tallied by the pass before the run (CSV only). */
  readonly widths: ColumnWidths;
  /** The header's columns (once read). */
  columns(): readonly string[];
  /** The rows as engine records, numbered from 0 in input order. */
  records(rows: AsyncIterable<readonly CsvFileRow[]>): AsyncIterable<BulkInputRecord[]>;
}

export interface ImportCsvDeps {
  /** --yes was given: a row may ask for unlink. */
  readonly yes: boolean;
  /** sparctl's version: a row's context (ItemRow) names it. */
  readonly version: string;
  readonly readText: (file: string, flag: string) => Promise<string>;
  readonly parseJson: (text: string, file: string, kind?: 'mapping' | 'dfsp') => unknown;
  /** The target's own DFSP data (sparctl dfsp import, or dfspUrl), when it has any. */
  readonly targetDfsp: () => Promise<DfspData | undefined>;
  /** Runs the bulk job; its exit code. */
  readonly runJob: (job: CsvImportJob) => Promise<number>;
}

export interface ImportCsvInput {
  readonly file: string;
  readonly mapping: string;
  readonly mode: BulkMode;
  readonly dfsp?: string;
  readonly delimiter?: string;
  readonly sheet?: string;
  /** Review states of an ODK Central export whose rows are skipped, comma-separated (default "rejected"). */
  readonly skipReview?: string;
}

export interface ImportCsvResult {
  readonly exitCode: number;
}

export async function importCsv(deps: ImportCsvDeps, input: ImportCsvInput): Promise<ImportCsvResult> {
  return { exitCode: await deps.runJob(await jobOf(deps, input)) };
}

/** The job an import runs, once its mapping, DFSP data and delimiter are checked. */
async function jobOf(deps: ImportCsvDeps, input: ImportCsvInput): Promise<CsvImportJob> {
  // Before anything is read: a delimiter the tokenizer cannot use is the user's to fix.
  const refused = input.delimiter === undefined ? undefined : refusedDelimiter(input.delimiter);
  if (refused !== undefined) throw refused;
  const format = input.file.toLowerCase().endsWith('.xlsx') ? 'xlsx' : 'csv';
  if (format === 'xlsx' && input.delimiter !== undefined)
    throw new UsageError('usage.conflicting_option', `--delimiter is for CSV files; ${input.file} is a workbook, read cell by cell`, {
      hint: 'drop --delimiter',
    });
  if (format === 'csv' && input.sheet !== undefined)
    throw new UsageError(
      'usage.conflicting_option',
      `--sheet is for .xlsx workbooks; ${input.file === '-' ? 'stdin' : input.file} is read as CSV`,
      {
        hint: 'drop --sheet, or give the .xlsx file',
      },
    );
  const skipReview = reviewStatesOf(input.skipReview ?? 'rejected');
  const { mapping, mappingText, dfsp, dfspKnown } = await loadMappingFiles(deps, input);
  // The filters too: a row left out by one run and not the next would change which row is an ID's last.
  const definition = JSON.stringify({
    mapping: mappingText,
    dfsp: dfspKnown ?? null,
    delimiter: input.delimiter ?? ',',
    ...(format === 'xlsx' ? { sheet: input.sheet ?? null } : {}),
    skipReview,
  });
  const delimiter = format === 'xlsx' ? '' : (input.delimiter ?? (input.file.toLowerCase().endsWith('.tsv') ? '\t' : ','));
  const label = input.file === '-' ? 'stdin' : input.file;
  let strategies: ReadonlyMap<number, Strategy> = new Map();
  let columns: readonly string[] = [];
  let contexts: RowContexts | undefined;
  let filters: readonly RowFilter[] = mapping.filters;
  // An ODK Central export (CSV, or a workbook saved from one): its rows come newest first, and an ID's newest submission decides.
  let newestDecides = false;
  let indexOrder = new SubmissionOrder();
  const olderSubmission =
    (order: SubmissionOrder): LaterRule =>
    (id, cell) => {
      const stamp = cell(SUBMISSION_DATE_COLUMN);
      const verdict = order.judge(id, stamp);
      if (verdict === 'unknown') return { field: SUBMISSION_DATE_COLUMN, ...UNKNOWN_ORDER };
      return verdict === 'older'
        ? {
            ...OLDER_SUBMISSION,
            message: `skipped: ${SUBMISSION_DATE_COLUMN} ${stamp?.trim()} is older than a row above it of the same ID (${OLDER_SUBMISSION.rule})`,
          }
        : undefined;
    };
  // A workbook's number cells are refused anyway; its text cells are not tallied (no tokenizer pass).
  const widths = new ColumnWidths(format === 'csv' ? widthColumns(mapping) : []);
  return {
    mode: input.mode,
    file: input.file,
    definition,
    delimiter,
    format,
    ...(input.sheet === undefined ? {} : { sheet: input.sheet }),
    label,
    useStrategies: (given) => {
      // Before the index pass reads a row: a strategy the target lacks would reject every row.
      checkMappingStrategies(mapping, given);
      strategies = given;
    },
    // The header is checked as soon as it is read (by the pass before the run), before any row.
    onHeader: (header, written, usedDelimiter) => {
      // The run's header comes after the pass before it: the verdict is known, and a row whose
      // verdict differs from a run before maps anew rather than being found unchanged.
      const verdict = widths.describe();
      contexts = rowContexts({
        version: deps.version,
        definition: verdict === '' ? definition : `${definition}\0${verdict}`,
        header: written,
        delimiter: usedDelimiter,
        strategies: strategies.values(),
      });
      columns = header;
      const missing = missingColumns(mapping, header);
      if (missing.length > 0) {
        throw new UsageError(
          'input.missing_column',
          `${label}:1: the mapping reads column${missing.length > 1 ? 's' : ''} ${missing.map((c) => `"${c}"${near(c, header)}`).join(', ')}, which the file does not have; nothing was sent`,
          { hint: headerHint(mapping, written, usedDelimiter, header) },
        );
      }
      newestDecides = header.includes(REVIEW_STATE_COLUMN) && header.includes(SUBMISSION_DATE_COLUMN);
      // Each pass over the file (the index's, the run's) meets the rows afresh.
      indexOrder = new SubmissionOrder();
      const reviewed = header.includes(REVIEW_STATE_COLUMN) && !mapping.filters.some((f) => f.source === REVIEW_STATE_COLUMN);
      filters =
        reviewed && skipReview.length > 0
          ? [
              ...mapping.filters,
              rowFilter(
                '--skip-review',
                'skip',
                REVIEW_STATE_COLUMN,
                skipReview.map((state) => (state === 'received' ? '' : state)),
                'filter.review_state',
              ),
            ]
          : mapping.filters;
    },
    keyColumns: () => [
      ...idColumns(mapping),
      ...filters.map((filter) => filter.source),
      ...(newestDecides ? [SUBMISSION_DATE_COLUMN] : []),
    ],
    keyOf: (cell) => csvRowKey(mapping, filters, cell, newestDecides ? olderSubmission(indexOrder) : undefined),
    widths,
    columns: () => columns,
    records: (rows) => {
      const runOrder = olderSubmission(new SubmissionOrder());
      const toRecord = mappedCsvRecords({
        mapping,
        dfsp,
        strategies,
        mode: input.mode,
        unlinkConfirmed: deps.yes,
        contexts: () => contexts,
        filters: () => filters,
        column: (column, value) => widths.check(column, value),
        later: () => (newestDecides ? runOrder : undefined),
      });
      return (async function* () {
        let seq = 0;
        for await (const batch of rows) yield batch.map((row) => toRecord(row, seq++));
      })();
    },
  };
}

/** ` (did you mean "X"?)` when the header has a column close to `column` (case and a typo or two apart). */
function near(column: string, header: readonly string[]): string {
  const byLower = new Map(header.map((name) => [name.toLowerCase(), name]));
  const hit = closest(column, [...byLower.keys()]);
  return hit === undefined ? '' : ` (did you mean "${byLower.get(hit)}"?)`;
}

/**
 * What to tell a user whose header lacks the mapping's columns. A header that holds them once
 * split at another delimiter is a file read with the wrong one (a European-locale export uses
 * ";"): say which flag reads it, rather than list one 2,000-character column. In a workbook
 * (`delimiter` ""), such a header is CSV text pasted or opened into one column.
 */
export function headerHint(mapping: CompiledMapping, written: readonly string[], delimiter: string, columns = written): string {
  // Before the delimiter: `sep=;` read with ";" is a header of "sep=" and "", and with "," one cell holding ";".
  const sepLine = sepLineHint(written);
  if (sepLine !== undefined) return sepLine;
  const line = written.join(delimiter === '' ? '' : delimiter);
  const splits = (candidate: string) => line.split(candidate).map((cell) => cell.trim().replace(/^"(.*)"$/, '$1'));
  const candidates = [';', '\t', '|', ','].filter((candidate) => candidate !== delimiter && line.includes(candidate));
  // First the delimiter with which every column the mapping reads is there; else (a mapping that
  // names a column the file lacks anyway) a header that is one cell holding another delimiter.
  const other =
    candidates.find((candidate) => missingColumns(mapping, splits(candidate)).length === 0) ??
    (written.length === 1 ? candidates[0] : undefined);
  if (other !== undefined) {
    const flag = other === '\t' ? "$'\\t'" : `'${other}'`;
    if (delimiter === '')
      return `the sheet's header holds ${JSON.stringify(other)}-separated text: the CSV was opened without splitting it into columns; import the CSV file itself with --delimiter ${flag}`;
    return `the file looks ${JSON.stringify(other)}-separated: pass --delimiter ${flag}`;
  }
  return `the file's columns are: ${columns.join(', ')}`;
}
