import { constants, createReadStream } from 'node:fs';
import { access, stat } from 'node:fs/promises';
import { basename, extname } from 'node:path';
import { Readable } from 'node:stream';
import { CsvSyntaxError, CsvTokenizer, type CsvRow, ROW_LIMIT, WRITTEN_KEPT } from './csv-tokenizer.js';
import { inexactJson } from '../../core/json-text.js';
import { boundedLines } from './bounded-lines.js';
import { StrictText } from './strict-text.js';
import { type ByteDigests, sameBytes } from './byte-digests.js';
import { SparctlError, UsageError } from '../../core/errors.js';
import type { FedBack } from '../../core/spreadsheet-damage.js';
import { layoutOfHead, otherDelimiterHint, sepLineHint, type CsvLayout } from '../../core/csv-delimiter.js';
import { REPORTED_LINE, reportedLine } from '../../core/bulk/reported-line.js';
import { QUOTED_COLUMN, unquotedCell, type RejectLayout } from '../files/csv-cells.js';

/** One record as read from an input file, with the 1-based line it starts on. */
export interface FileRecord {
  readonly line: number;
  readonly record: Record<string, unknown>;
  /** Set when the line could not be read as a record at all (JSONL that is not an object). */
  readonly unreadable?: string;
  /** A CSV row's text as written, when it holds no quote: its cells split at the delimiter. */
  readonly text?: string;
  /** An .xlsx row's columns whose cell holds a number, not text (xlsx-reader.ts). */
  readonly numberCells?: readonly string[];
  /** A row of a fed-back reject file: why it was rejected (its sparctl_code and sparctl_message cells). */
  readonly fedBack?: FedBack;
  /** A row of a fed-back reject file: the line its sparctl_line names, in the input an earlier round read (reportedLine). */
  readonly originalLine?: number;
}

export type InputFormat = 'csv' | 'jsonl' | 'xlsx';

export interface InputFile {
  /** As the user named it ("-" for stdin); used in every message. */
  readonly name: string;
  readonly format: InputFormat;
  /** The records in input order, a batch at a time: one await per batch, not per record. */
  readonly batches: AsyncIterable<readonly FileRecord[]>;
  /** The same records one by one (use either this or `batches`: the input is read once). */
  readonly records: AsyncIterable<FileRecord>;
  /**
   * A CSV's delimiter, BOM and line ending, once its first line is read (for its reject file); an
   * .xlsx's reject file is CSV UTF-8. Its input cells are quoted against formulas unless they are
   * a CSV's own bytes (report-writers.ts): a workbook's, and a fed-back reject file's that were.
   */
  layout(): RejectLayout | undefined;
}

/** Where a CSV reader leaves the layout it found. */
interface LayoutHolder {
  value?: CsvLayout;
  /** The input's cells are not a CSV's bytes as written (a workbook), or were quoted (QUOTED_COLUMN). */
  quoteFormulas?: boolean;
}

/** Told a CSV's header: the columns handed over, every column as written (sparctl's report columns too), and the delimiter the file is read with. */
export type HeaderListener = (columns: readonly string[], written: readonly string[], delimiter: string) => void;

/** Records per batch handed to the caller. */
const BATCH = 1_000;

/** CSV or JSONL by extension; a workbook is read only when asked for (`format: 'xlsx'`: import-csv). */
export function formatFromName(name: string): 'csv' | 'jsonl' | undefined {
  const ext = extname(name).toLowerCase();
  if (ext === '.csv' || ext === '.tsv') return 'csv';
  if (ext === '.jsonl' || ext === '.ndjson' || ext === '.json') return 'jsonl';
  return undefined;
}

/**
 * Opens a CSV (header row required) or JSONL file, or stdin for "-". The file is opened before
 * this returns, so a missing or unreadable file is reported before anything else happens.
 * `knownColumns` lets a CSV header be checked before any row is read.
 */
export async function openInputFile(
  name: string,
  options: {
    format?: InputFormat;
    stdin: Readable;
    knownColumns?: readonly string[];
    delimiter?: string;
    onHeader?: HeaderListener;
    /** What the input is called in messages, when `name` is a private copy of it (spool.ts). */
    label?: string;
    /** An .xlsx workbook's sheet (default: the first). */
    sheet?: string;
    /** The bytes came through a pipe (spool.ts cameThroughPipe): a last row without a line break may be cut short. */
    mayBeCutShort?: boolean;
    /** What the pass before the run read: the read stops (input.changed) where the file differs. */
    sameBytesAs?: ByteDigests;
  },
): Promise<InputFile> {
  const label = options.label ?? name;
  const layout: LayoutHolder = {};
  if (options.format === 'xlsx') {
    // Read by path, as the signature is checked first (a bulk job's stdin is a private copy by then).
    if (name === '-')
      throw new UsageError('input.xlsx_unreadable', 'an .xlsx workbook cannot be read from stdin', { hint: 'give its path' });
    const { xlsxBatches, checkXlsxSignature } = await import('./xlsx-reader.js');
    checkXlsxSignature(name, label, describeFsError); // now, as a CSV file's absence is reported now
    // Excel's own "CSV UTF-8": commas, a BOM (so accents open right), CRLF.
    layout.value = { delimiter: ',', bom: true, eol: '\r\n' };
    layout.quoteFormulas = true;
    const { onHeader } = options;
    return inputFile(
      label,
      'xlsx',
      xlsxBatches(name, label, {
        ...(options.sheet === undefined ? {} : { sheet: options.sheet }),
        // The header's checks are a CSV's; its delimiter is "" (a workbook has cells).
        readHeader: (cells) => readHeader(cells, label, options.knownColumns, onHeader && ((kept, all) => onHeader(kept, all, ''))),
      }),
      layout,
    );
  }
  let stream: AsyncIterable<Buffer | string>;
  if (name === '-') {
    stream = options.stdin;
  } else {
    try {
      await access(name, constants.R_OK);
      if ((await stat(name)).isDirectory()) throw Object.assign(new Error('is a directory'), { code: 'EISDIR' });
    } catch (error) {
      throw new UsageError('input.unreadable', `cannot read ${label}: ${describeFsError(error)}`, {
        hint: 'check the path of the input file',
      });
    }
    // Opened only once read: a run refused before its first record (a results path that is a
    // folder) left an open pending, which failed later, unhandled, if the file went meanwhile.
    const expected = options.sameBytesAs;
    stream = {
      [Symbol.asyncIterator]: () =>
        (expected === undefined ? createReadStream(name) : sameBytes(createReadStream(name), expected, label))[Symbol.asyncIterator](),
    };
  }
  const format = options.format ?? formatFromName(label) ?? (label === '-' ? undefined : 'csv');
  if (format === undefined) {
    // stdin without --format: look at the first character.
    const { first, replay } = await peek(stream);
    const detected: InputFormat = first === '{' ? 'jsonl' : 'csv';
    return inputFile(
      label,
      detected,
      batchesOf(detected, replay, label, options.knownColumns, options.delimiter, options.onHeader, layout, options.mayBeCutShort),
      layout,
    );
  }
  return inputFile(
    label,
    format,
    batchesOf(format, stream, label, options.knownColumns, options.delimiter, options.onHeader, layout, options.mayBeCutShort),
    layout,
  );
}

function inputFile(name: string, format: InputFormat, batches: AsyncIterable<readonly FileRecord[]>, layout: LayoutHolder): InputFile {
  return {
    name,
    format,
    batches,
    layout: () => (layout.value !== undefined && layout.quoteFormulas ? { ...layout.value, quoteFormulas: true } : layout.value),
    records: (async function* () {
      for await (const batch of batches) yield* batch;
    })(),
  };
}

function batchesOf(
  format: InputFormat,
  stream: AsyncIterable<Buffer | string>,
  name: string,
  knownColumns: readonly string[] | undefined,
  delimiter?: string,
  onHeader?: HeaderListener,
  layout: LayoutHolder = {},
  mayBeCutShort = false,
): AsyncIterable<readonly FileRecord[]> {
  return format === 'csv' ? csvBatches(stream, name, knownColumns, delimiter, onHeader, layout, mayBeCutShort) : jsonlBatches(stream);
}

/** Columns sparctl adds to a reject file; ignored when the fixed file is fed back. */
export const isReportColumn = (column: string) => column.startsWith('sparctl_');

async function* csvBatches(
  stream: AsyncIterable<Buffer | string>,
  name: string,
  knownColumns: readonly string[] | undefined,
  delimiter?: string,
  onHeader?: HeaderListener,
  layout: LayoutHolder = {},
  mayBeCutShort = false,
): AsyncGenerator<readonly FileRecord[]> {
  const cellDelimiter = delimiter ?? (name.toLowerCase().endsWith('.tsv') ? '\t' : ',');
  const tokenizer = new CsvTokenizer(cellDelimiter);
  // A bulk run's files are checked byte for byte before it (prescan.ts); a DFSP list, the IDs of
  // a resolve --file or stdin are checked here: a bad byte read as U+FFFD went into a bank's
  // name. The BOM is kept for the layout; the tokenizer drops it.
  const decoder = new StrictText(name, true);
  let header: Header | undefined;
  let batch: FileRecord[] = [];
  // The file's BOM and line ending, from its first line (the tokenizer drops the BOM).
  let head = '';
  // The last character read: a piped input whose last row has no line break after it ended
  // mid-row, perhaps (its producer died), and that row is refused rather than sent shortened.
  let lastCharacter = '';
  const look = (text: string, ended: boolean) => {
    if (text !== '') lastCharacter = text[text.length - 1]!;
    if (layout.value !== undefined) return text;
    head += text;
    layout.value = layoutOfHead(head, cellDelimiter, ended || head.length > 1_048_576);
    return text;
  };
  const take = (rows: readonly CsvRow[]) => {
    for (const row of rows) {
      if (header === undefined) {
        header = readHeader(
          row.cells,
          name,
          knownColumns,
          onHeader && ((columns, written) => onHeader(columns, written, cellDelimiter)),
          cellDelimiter,
        );
        // A fed-back reject file whose cells were quoted: its own rejects are quoted again.
        if (header.quoted) layout.quoteFormulas = true;
      } else batch.push(toFileRecord(row, header, name));
    }
  };
  try {
    for await (const chunk of stream) {
      take(tokenizer.push(look(typeof chunk === 'string' ? chunk : decoder.decode(chunk), false)));
      if (batch.length >= BATCH) {
        yield batch;
        batch = [];
      }
    }
    take(tokenizer.push(look(decoder.finish(), true)));
    const before = batch.length;
    take(tokenizer.end());
    // Only a row the end of the input closed: one a line break closed was taken before.
    if (mayBeCutShort && batch.length > before && lastCharacter !== '\n' && lastCharacter !== '\r') {
      const cut = batch[batch.length - 1]!;
      batch[batch.length - 1] = {
        ...cut,
        unreadable: `the input came through a pipe and ended in the middle of line ${cut.line}, with no line break after it: the row may be cut short (its producer stopped?), so it was not sent; check it and feed it back`,
      };
    }
  } catch (error) {
    // Ours already (bad input, or input.changed from sameBytes): said as it is.
    if (error instanceof SparctlError) throw error;
    if (error instanceof CsvSyntaxError) {
      // Rows read before the bad one are still handed over: they are fine and the journal counts them.
      if (batch.length > 0) yield batch;
      batch = [];
      throw new UsageError('input.csv_malformed', `${name}:${error.line}: ${error.message}`, { hint: error.hint });
    }
    throw new UsageError('input.unreadable', `cannot read ${name}: ${describeFsError(error)}`);
  }
  if (batch.length > 0) yield batch;
}

/**
 * What a spreadsheet put in a header that is not a column: Excel's `sep=;` line above it, or
 * blank columns (every unknown name empty). Undefined for anything else.
 */
function spreadsheetHeaderHint(columns: readonly string[], unknown: readonly string[]): string | undefined {
  const sepLine = sepLineHint(columns);
  if (sepLine !== undefined) return sepLine;
  if (unknown.every((column) => column === ''))
    return unknown.length === 1
      ? 'a column has no name in the header (a blank column a spreadsheet kept?): delete that column'
      : `${unknown.length} columns have no name in the header (blank columns a spreadsheet kept?): delete those columns`;
  return undefined;
}

export interface Header {
  readonly columns: readonly string[];
  /** Positions of the columns handed to the caller (sparctl's own report columns are dropped). */
  readonly kept: readonly number[];
  /** In a fed-back reject file: where its sparctl_code and sparctl_message cells are. */
  readonly fedBack?: { readonly code: number; readonly message: number };
  /** In a fed-back reject file: where its sparctl_line cell is. */
  readonly reportedLine?: number;
  /** A fed-back reject file whose cells sparctl quoted against formulas (QUOTED_COLUMN): read with the apostrophe taken off. */
  readonly quoted?: boolean;
}

export function readHeader(
  cells: readonly string[],
  name: string,
  knownColumns: readonly string[] | undefined,
  onHeader?: (columns: readonly string[], written: readonly string[]) => void,
  /** The delimiter the header was split with, for the hint when it looks split with the wrong one. */
  delimiter?: string,
): Header {
  const columns = cells.map((column) => column.trim());
  const unknown = knownColumns === undefined ? [] : columns.filter((column) => !knownColumns.includes(column) && !isReportColumn(column));
  if (unknown.length > 0) {
    throw new UsageError(
      'input.unknown_column',
      `${name}:1: unknown column${unknown.length > 1 ? 's' : ''} ${unknown.map((c) => `"${c}"`).join(', ')}`,
      {
        hint:
          spreadsheetHeaderHint(columns, unknown) ??
          (delimiter === undefined ? undefined : otherDelimiterHint(columns, delimiter)) ??
          `known columns: ${(knownColumns ?? []).join(', ')}`,
      },
    );
  }
  const seen = new Set<string>();
  for (const column of columns) {
    // Blank columns a spreadsheet kept (`a;b;;`) have no name to confuse: nothing can name them
    // (a mapping ignores them; a record file refuses them above, as unknown).
    if (column === '') continue;
    if (seen.has(column)) throw new UsageError('input.duplicate_column', `${name}:1: column "${column}" appears twice`);
    seen.add(column);
  }
  const kept = columns.flatMap((column, at) => (isReportColumn(column) ? [] : [at]));
  onHeader?.(
    kept.map((at) => columns[at]!),
    columns,
  );
  const code = columns.indexOf('sparctl_code');
  const message = columns.indexOf('sparctl_message');
  const line = columns.indexOf(REPORTED_LINE);
  return {
    columns,
    kept,
    ...(code === -1 || message === -1 ? {} : { fedBack: { code, message } }),
    ...(line === -1 ? {} : { reportedLine: line }),
    ...(columns.includes(QUOTED_COLUMN) ? { quoted: true } : {}),
  };
}

function toFileRecord(row: CsvRow, header: Header, name: string): FileRecord {
  // A row the tokenizer could not read (its quotes, its size): a reject of its own, no cells.
  // Its text goes into the reason, the one place every reject format carries: a person can mend it.
  if (row.error !== undefined) return { line: row.line, record: {}, unreadable: asWritten(row.error, row.written ?? '') };
  const { cells } = row;
  if (cells.length !== header.columns.length) {
    // A reject of its own, not a stop: which cell is which cannot be told, so nothing of the row
    // is used but the cells that are there, by position (the ID among them, for its report).
    const record: Record<string, string> = {};
    for (const at of header.kept) if (at < cells.length) record[header.columns[at]!] = cells[at]!;
    return {
      line: row.line,
      record,
      unreadable: `the row has ${cells.length} cell${cells.length === 1 ? '' : 's'} where the header has ${header.columns.length}; quote cells that contain the delimiter`,
    };
  }
  const record: Record<string, string> = {};
  let unreadable = false;
  let unquoted = false;
  for (const at of header.kept) {
    const cell = header.quoted ? unquotedCell(cells[at]!) : cells[at]!;
    if (cell !== cells[at]) unquoted = true;
    record[header.columns[at]!] = cell;
    if (name === '-' && cell.includes('\uFFFD')) unreadable = true;
  }
  if (unreadable) return { line: row.line, record, unreadable: 'not valid UTF-8' };
  const fedBack = header.fedBack === undefined ? undefined : { code: cells[header.fedBack.code]!, message: cells[header.fedBack.message]! };
  // The row's text stands for its cells (a digest's input) only while they are the text's.
  const text = unquoted ? undefined : row.text;
  const read: FileRecord =
    fedBack === undefined || fedBack.code === '' ? { line: row.line, record, text } : { line: row.line, record, text, fedBack };
  return header.reportedLine === undefined ? read : withOriginalLine(read, cells[header.reportedLine]);
}

/** The record with the line its reject-file `sparctl_line` names (reportedLine), when it names one. */
function withOriginalLine<T extends { readonly line: number }>(read: T, reported: unknown): T & { readonly originalLine?: number } {
  const originalLine = reportedLine(reported);
  return originalLine === undefined ? read : { ...read, originalLine };
}

async function* jsonlBatches(stream: AsyncIterable<Buffer | string>): AsyncGenerator<readonly FileRecord[]> {
  let line = 0;
  let batch: FileRecord[] = [];
  // Split as readline splits, but a line over ROW_LIMIT is never held whole (bounded-lines.ts).
  for await (const { text, length } of boundedLines(stream, ROW_LIMIT, WRITTEN_KEPT)) {
    line++;
    if (length > ROW_LIMIT) {
      // As a CSV row over ROW_LIMIT is: never read as a record, and quoted in part only.
      batch.push({
        line,
        record: {},
        unreadable: asWritten(`the line is longer than ${ROW_LIMIT / 1024 / 1024} MiB`, `${text}… (${length} characters in all)`),
      });
      continue;
    }
    const trimmed = (line === 1 ? text.replace(/^\uFEFF/, '') : text).trim();
    if (trimmed === '') continue;
    batch.push(jsonlRecord(line, trimmed));
    if (batch.length >= BATCH) {
      yield batch;
      batch = [];
    }
  }
  if (batch.length > 0) yield batch;
}

function jsonlRecord(line: number, text: string): FileRecord {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    return { line, record: {}, unreadable: asWritten(`not valid JSON (${(error as Error).message})`, kept(text)) };
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
    return { line, record: {}, unreadable: asWritten('each line must be a JSON object', kept(text)) };
  // What JSON.parse took but changed: a key twice (the last won, a second "id" too), a number
  // with more digits than it keeps (12345678901234567890 became …7000 in the reject file, whose
  // message said to quote it), a lone surrogate (stored, invalid UTF-8). The row as written is
  // all the reject can carry: its parsed object is not what the line says.
  const inexact = inexactLine(text, parsed);
  if (inexact !== undefined) return { line, record: {}, unreadable: asWritten(`not read exactly: ${inexact}`, kept(text)) };
  const object = parsed as Record<string, unknown>;
  const read = { line, record: withoutReportKeys(object) };
  // Only a reject file fed back has sparctl_* keys (withoutReportKeys copied it then).
  return read.record === object ? read : withOriginalLine(read, object[REPORTED_LINE]);
}

/** Why JSON.parse does not read the valid JSON `text` as written ("column 36: …"), or undefined. */
function inexactLine(text: string, parsed: unknown): string | undefined {
  const found = inexactJson(text, parsed);
  return found === undefined ? undefined : `column ${found.at + 1}: ${found.what}`;
}

/** The object without sparctl's own keys (a JSONL reject file fed back), copied only when it has some. */
function withoutReportKeys(record: Record<string, unknown>): Record<string, unknown> {
  let copy: Record<string, unknown> | undefined;
  for (const key in record) {
    if (!isReportColumn(key)) continue;
    copy ??= { ...record };
    delete copy[key];
  }
  return copy ?? record;
}

/** Reads the first chunk of a stream and returns its first non-space character plus a replay. */
async function peek(
  stream: AsyncIterable<Buffer | string>,
): Promise<{ first: string | undefined; replay: AsyncIterable<Buffer | string> }> {
  const iterator = stream[Symbol.asyncIterator]() as AsyncIterator<Buffer | string>;
  const head = await iterator.next();
  const firstChunk = head.done ? undefined : head.value;
  const first =
    firstChunk === undefined
      ? undefined
      : firstChunk
          .toString()
          .replace(/^\uFEFF/, '')
          .trimStart()[0];
  async function* replay() {
    if (firstChunk !== undefined) yield firstChunk;
    for (;;) {
      const next = await iterator.next();
      if (next.done) return;
      yield next.value;
    }
  }
  return { first, replay: replay() };
}

/** An unreadable row's reason, with the row as written (it has no cells or keys to carry it). */
function asWritten(reason: string, text: string): string {
  return `${reason}; the row as written: ${text}`;
}

/** A JSONL line as an unreadable row keeps it (see CsvRow.written). */
function kept(text: string): string {
  return text.length > WRITTEN_KEPT ? `${text.slice(0, WRITTEN_KEPT)}… (${text.length} characters in all)` : text;
}

export function describeFsError(error: unknown): string {
  const code = (error as { code?: string }).code;
  switch (code) {
    case 'ENOENT':
      return 'no such file';
    case 'EACCES':
    case 'EPERM':
      return 'permission denied';
    case 'EISDIR':
      return 'it is a directory';
    default:
      return error instanceof Error ? error.message : String(error);
  }
}

export const inputLabel = (name: string) => (name === '-' ? 'stdin' : basename(name));

/** A record file named .xlsx given to a command that reads CSV and JSONL only: refused with the command that reads it. */
export function refuseWorkbook(name: string, format: string | undefined): void {
  if (format === undefined && extname(name).toLowerCase() === '.xlsx')
    throw new UsageError('usage.xlsx_needs_mapping', `${name}: an .xlsx workbook; --file reads CSV and JSONL record files`, {
      hint: 'read a workbook with sparctl import-csv FILE.xlsx --mapping MAPPING.json, or save it as CSV UTF-8',
    });
}
