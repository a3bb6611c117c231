import type { ItemRow } from '../mapper.js';
import {
  applyMapping,
  filterRow,
  rowKey,
  type ColumnCheck,
  type CompiledMapping,
  type DfspLookup,
  type FilterHit,
  type MappingProblem,
  type NumberCells,
  type RowFilter,
} from '../mapping.js';
import { unfixedDamage, type FedBack } from '../spreadsheet-damage.js';
import type { Strategy } from '../strategy/strategy.js';
import type { BulkInputRecord, BulkMode } from './types.js';
import { toBulkRecord } from './input.js';
import { OPERATION_COLUMN } from '../vocabulary.js';

/**
 * A record parsed only when the engine first asks for it (BulkInputRecord.row): a re-run
 * that finds it unchanged by its row never maps, parses or checks it. It is its own ItemRow
 * (one object per row, not two).
 */
export class LazyRecord implements BulkInputRecord, ItemRow {
  readonly row = this;
  private parsedOnce: BulkInputRecord['parsed'] | undefined;
  /** An .xlsx row's number cells, for its parse. */
  numberCells: readonly string[] | undefined;
  /** A fed-back reject file's row: the line its sparctl_line names (BulkInputRecord.originalLine). */
  originalLine: number | undefined;

  constructor(
    readonly seq: number,
    readonly line: number | undefined,
    readonly raw: Readonly<Record<string, string>> | undefined,
    /** The ID the record's parse gives, when it parses. */
    readonly id: string,
    readonly context: string,
    readonly text: string,
    private readonly parse: (record: LazyRecord) => BulkInputRecord['parsed'],
  ) {}

  /** The ID the row names: the one its parse gives. */
  get key(): string {
    return this.id;
  }

  get parsed(): BulkInputRecord['parsed'] {
    return (this.parsedOnce ??= this.parse(this));
  }

  /** Whether anything has asked for `parsed` yet. */
  get wasParsed(): boolean {
    return this.parsedOnce !== undefined;
  }
}

/** The two contexts of one run's rows (see rowContexts). */
export interface RowContexts {
  readonly line: string;
  readonly cells: string;
}

/**
 * The contexts of one run's rows (ItemRow): everything the record a row maps to depends
 * on besides the row — sparctl's version, the job's definition (mapping file, DFSP data), the
 * header as written (with the columns sparctl drops), the delimiter the file is read with (a
 * .tsv's tab too), the target's strategies. An ItemRow's text is the row as written (`line`)
 * or, when it has quotes, its cells as JSON (`cells`): two contexts, so that neither can pass
 * for the other.
 */
export function rowContexts(parts: {
  version: string;
  definition: string;
  header: readonly string[];
  delimiter: string;
  strategies: Iterable<Strategy>;
}): RowContexts {
  const strategies = [...parts.strategies].map((s) => [s.id, s.strategy_type, s.construct_strategy, s.deconstruct_strategy]);
  const context = JSON.stringify({
    sparctl: parts.version,
    definition: parts.definition,
    header: parts.header,
    delimiter: parts.delimiter,
    strategies,
  });
  return { line: `${context}\0line`, cells: `${context}\0cells` };
}

/** A CSV row as record-file.ts hands it over. */
export interface CsvFileRow {
  readonly line: number;
  readonly record: Readonly<Record<string, unknown>>;
  readonly unreadable?: string;
  /** The row as written, when it holds no quote. */
  readonly text?: string;
  /** An .xlsx row's columns that hold a number cell (a number in an ID or account column is refused). */
  readonly numberCells?: readonly string[];
  /** A row of a fed-back reject file: why it was rejected. */
  readonly fedBack?: FedBack;
  /** A row of a fed-back reject file: the line its sparctl_line names. */
  readonly originalLine?: number;
}

/**
 * The engine record of each CSV row read through a mapping file (import-csv). Once `contexts`
 * gives the run's row contexts, a row whose ID the mapping can tell becomes a LazyRecord,
 * mapped only when the engine asks; any other row is mapped at once. A row `filters` leave out
 * is a skipped record with no key, never mapped — `csvRowKey` is the row index's key, the same.
 */
export function mappedCsvRecords(options: {
  readonly mapping: CompiledMapping;
  readonly dfsp: DfspLookup | undefined;
  readonly strategies: ReadonlyMap<number, Strategy>;
  readonly mode: BulkMode;
  readonly unlinkConfirmed: boolean;
  readonly contexts: () => RowContexts | undefined;
  /** The row filters, once the header is read (the mapping's, and --skip-review's); default: the mapping's. */
  readonly filters?: () => readonly RowFilter[];
  /** A value against the rest of its column (learned from the whole file before the run). */
  readonly column?: ColumnCheck;
  /**
   * The rule of LaterRule (import-csv's SubmissionOrder), once the header is read. The row
   * index's key function must ask one of its own the same way (csvRowKey's `later`).
   */
  readonly later?: () => LaterRule | undefined;
}): (row: CsvFileRow, seq: number) => BulkInputRecord {
  const { mapping, dfsp, strategies, mode, unlinkConfirmed, column } = options;
  const filters = options.filters ?? (() => mapping.filters);
  // `key`: the row's ID when it builds (rowKey); applyMapping then does not build it again.
  const mapRow = (
    row: Record<string, string>,
    seq: number,
    line: number,
    key: string | undefined,
    numbers: NumberCells | undefined,
  ): BulkInputRecord => {
    const mapped = applyMapping(mapping, (path) => row[path], dfsp, key, numbers, column);
    if (!mapped.ok) return { seq, line, raw: row, key, parsed: { ok: false, problems: mapped.problems } };
    // The mapped record is this row's own: the operation goes into it, not into a copy of it.
    if (mapped.operation) mapped.record[OPERATION_COLUMN] = mapped.operation;
    return toBulkRecord(seq, line, mapped.record, row, { mode, strategies, unlinkConfirmed, mapped: true });
  };
  const parseLater = (record: LazyRecord) =>
    mapRow(record.raw as Record<string, string>, record.seq, record.line!, record.id, numbersOf(record.numberCells)).parsed;
  const recordOf = (fileRow: CsvFileRow, seq: number): BulkInputRecord => {
    const row = fileRow.record as Record<string, string>;
    const numbers = numbersOf(fileRow.numberCells);
    const cell = (path: string) => row[path];
    const filtered = filterRow(filters(), cell);
    const named = filtered === undefined ? rowKey(mapping, cell, numbers) : undefined;
    // Before any early return: the rule must meet every row the row index's key function met.
    const verdict = named === undefined ? undefined : options.later?.()?.(named, cell);
    const skip = filtered ?? (verdict !== undefined && 'rule' in verdict ? verdict : undefined);
    // A row a filter leaves out is no row of its ID: its key is none, as in the row index.
    const key = skip === undefined ? named : undefined;
    // An unreadable row is a reject even when a filter would leave it out: its cells may be misplaced.
    if (fileRow.unreadable)
      return {
        seq,
        line: fileRow.line,
        raw: row,
        key,
        parsed: { ok: false, problems: [{ field: '(line)', message: fileRow.unreadable, code: 'input.unreadable' }] },
      };
    if (skip !== undefined)
      return { seq, line: fileRow.line, raw: row, key, skip: { ...skip, id: rowKey(mapping, cell, numbers) }, parsed: SKIPPED };
    // One the rule rejects keeps its key: it still decides for its ID (which is then left as it was).
    if (verdict !== undefined && !('rule' in verdict))
      return { seq, line: fileRow.line, raw: row, key, parsed: { ok: false, problems: [verdict] } };
    // A fed-back reject whose damage is still there: the evidence that refused it is not in this file.
    const unfixed = fileRow.fedBack === undefined ? undefined : unfixedDamage(fileRow.fedBack, cell);
    if (unfixed !== undefined)
      return { seq, line: fileRow.line, raw: row, key, parsed: { ok: false, problems: [{ field: '(row)', ...unfixed }] } };
    // Unlink rows write nothing a later run could compare with; a row with its own operation is
    // not decided by its ID and row alone.
    const contexts = mode === 'unlink' || mapping.operation !== undefined ? undefined : options.contexts();
    const id = contexts === undefined ? undefined : key;
    if (id === undefined) return mapRow(row, seq, fileRow.line, key, numbers);
    if (fileRow.text !== undefined) return new LazyRecord(seq, fileRow.line, row, id, contexts!.line, fileRow.text, parseLater);
    // Which cells are numbers is part of the row's text: the same text in a number cell maps differently.
    const cells = fileRow.numberCells === undefined ? Object.values(row) : [...Object.values(row), fileRow.numberCells];
    const record = new LazyRecord(seq, fileRow.line, row, id, contexts!.cells, JSON.stringify(cells), parseLater);
    if (fileRow.numberCells !== undefined) record.numberCells = fileRow.numberCells;
    return record;
  };
  return (fileRow, seq) => {
    const record = recordOf(fileRow, seq);
    // Only a fed-back reject file's rows carry one: every other row is handed on as it is.
    if (fileRow.originalLine === undefined) return record;
    if (!(record instanceof LazyRecord)) return { ...record, originalLine: fileRow.originalLine };
    record.originalLine = fileRow.originalLine;
    return record;
  };
}

const numbersOf = (columns: readonly string[] | undefined): NumberCells | undefined =>
  columns === undefined ? undefined : (path) => columns.includes(path);

/** What a skipped record's `parsed` says: never read (the engine reports it by its `skip`). */
const SKIPPED: BulkInputRecord['parsed'] = { ok: false, problems: [] };

/**
 * The key of a CSV row in the row index: none for a row the filters leave out, else the ID it
 * names (rowKey) — what mappedCsvRecords gives the run's record of the same row.
 */
export function csvRowKey(
  mapping: CompiledMapping,
  filters: readonly RowFilter[],
  cell: (column: string) => string | undefined,
  later?: LaterRule,
): string | undefined {
  const key = filterRow(filters, cell) === undefined ? rowKey(mapping, cell) : undefined;
  if (key === undefined || later === undefined) return key;
  const verdict = later(key, cell);
  return verdict !== undefined && 'rule' in verdict ? undefined : key;
}

/**
 * A rule over the rows the filters keep, asked once per row in input order with its ID: a
 * FilterHit leaves the row out as a filter does (no key); a problem rejects it, keeping its key.
 */
export type LaterRule = (id: string, cell: (column: string) => string | undefined) => FilterHit | MappingProblem | undefined;
