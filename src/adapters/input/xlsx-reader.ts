import { closeSync, openSync, readSync } from 'node:fs';
import { createRequire } from 'node:module';
import { posix } from 'node:path';
import type { Readable } from 'node:stream';
import ExcelJS from 'exceljs';
import { UsageError } from '../../core/errors.js';
import { reportedLine } from '../../core/bulk/reported-line.js';
import { unquotedCell } from '../files/csv-cells.js';
import { PartTooLarge, type SheetRow, columnLetters, readSharedStrings, sheetRows } from './xlsx-parts.js';

/**
 * An `.xlsx` workbook read as rows of text, streaming: the first sheet in tab order, or the one
 * named (the zip's directory, relationships, workbook and styles through exceljs, the shared
 * strings and the sheet through xlsx-parts.ts). Every cell is the text Excel shows for it, so a row reads as
 * the same row exported as CSV would; `line` is the sheet's row number (the header is row 1 when
 * the sheet starts there), and a row's number cells are named (`numberCells`), since a number
 * in an ID or account column has lost its leading zeros and digits past the 15th whatever it shows;
 * so are its dates (number cells Excel made of `3-12`), TRUE/FALSE and error values (`#N/A`, a
 * failed look-up): none is a value someone typed, whatever text it shows.
 *
 * Invariant: the same bytes give the same rows in the same order with the same lines, so the
 * row index, the journal's positions and a resumed run agree as they do for a CSV file.
 *
 * Text shown for a number cell: its number format applied for the formats an ID, code or phone
 * column can carry — General (integers of up to 11 digits as they are, larger or smaller numbers
 * in scientific notation, `2.77366E+14`, as Excel shows and exports them), `0`, zero-padded
 * `000000` (`412` → `000412`), fixed decimals (`0.00`), Text (`@`) — and the number itself for
 * any other format; a date as ISO 8601; TRUE/FALSE; a formula's cached result; an error as
 * written (`#N/A`). Empty rows are skipped. A row holding a cell the workbook cannot give
 * (a shared string it lacks) is unreadable, naming the cell, never read with that cell empty.
 */

/** One row as record-file.ts's FileRecord (kept apart: record-file.ts imports this module). */
export interface XlsxRow {
  readonly line: number;
  readonly record: Record<string, unknown>;
  readonly unreadable?: string;
  /** The columns whose cell holds a number, date, TRUE/FALSE or error value (not text), when any does. */
  readonly numberCells?: readonly string[];
  /** A row of a reject file fed back as a workbook: the line its sparctl_line names (reportedLine). */
  readonly originalLine?: number;
}

/** A header read and checked (record-file.ts's readHeader, handed in). */
export interface XlsxHeader {
  readonly columns: readonly string[];
  readonly kept: readonly number[];
  /** Where a sparctl_line column is. */
  readonly reportedLine?: number;
  /** A reject file with quoted cells (csv-cells.ts's QUOTED_COLUMN), saved as a workbook: the apostrophes come off. */
  readonly quoted?: boolean;
}

const BATCH = 1_000;

/** What the first bytes of a file say it is: a zip (an .xlsx is one), an OLE2 compound file, or neither. */
function signatureOf(path: string): 'zip' | 'ole2' | 'other' | 'empty' {
  const fd = openSync(path, 'r');
  try {
    const head = Buffer.alloc(8);
    const read = readSync(fd, head, 0, 8, 0);
    if (read === 0) return 'empty';
    if (head.subarray(0, 4).equals(Buffer.from([0x50, 0x4b, 0x03, 0x04]))) return 'zip';
    if (head.equals(Buffer.from([0xd0, 0xcf, 0x11, 0xe0, 0xa1, 0xb1, 0x1a, 0xe1]))) return 'ole2';
    return 'other';
  } finally {
    closeSync(fd);
  }
}

/**
 * Refuses a file that is not an .xlsx workbook, in one line, before anything is read: a CSV or
 * any other file named .xlsx, an encrypted (password-protected) workbook or an old .xls (both
 * OLE2 compound files), an empty file.
 */
export function checkXlsxSignature(path: string, name: string, describeFsError: (error: unknown) => string): void {
  let kind: ReturnType<typeof signatureOf>;
  try {
    kind = signatureOf(path);
  } catch (error) {
    throw new UsageError('input.unreadable', `cannot read ${name}: ${describeFsError(error)}`, {
      hint: 'check the path of the input file',
    });
  }
  if (kind === 'zip') return;
  if (kind === 'ole2')
    throw new UsageError(
      'input.xlsx_unreadable',
      `${name}: a password-protected workbook or an old .xls file, which sparctl cannot read; nothing was sent`,
      { hint: 'remove the password (File → Info → Protect Workbook) and save as Excel Workbook (.xlsx), or save as CSV UTF-8' },
    );
  throw new UsageError(
    'input.xlsx_unreadable',
    `${name}: not an .xlsx workbook (${kind === 'empty' ? 'the file is empty' : 'not a zip archive'}); nothing was sent`,
    { hint: 'save it from the spreadsheet as Excel Workbook (.xlsx), or name a CSV file .csv' },
  );
}

export interface XlsxOptions {
  readonly sheet?: string;
  /** Reads and checks the header row's cells, as a CSV's (record-file.ts's readHeader). */
  readonly readHeader: (cells: readonly string[]) => XlsxHeader;
}

/** What sparctl uses of unzipper (exceljs's own zip reader, pinned beside it): the archive's central directory. */
interface ZipDirectory {
  readonly files: readonly { readonly path: string; stream(): Readable }[];
}
const unzipper = createRequire(import.meta.url)('unzipper') as { Open: { file(path: string): Promise<ZipDirectory> } };

/** The parts of exceljs 4.4.0's WorkbookReader this module drives itself (wantedSheet). */
interface ReaderParts {
  workbookRels?: { Id: string; Type?: string; Target: string }[];
  model?: { sheets?: { name?: string; rId?: string; state?: string }[] };
  properties?: { model?: { date1904?: boolean } };
  styles: { getStyleModel(id: number): { numFmt?: string } | null };
  _parseRels(entry: Readable): Promise<void>;
  _parseWorkbook(entry: Readable): Promise<void>;
  _parseStyles(entry: Readable): Promise<void>;
}

/**
 * The rows of one sheet, a batch at a time (the signature is checked first: checkXlsxSignature).
 *
 * The workbook is opened through its zip's central directory, and its parts are read in the
 * order they depend on each other — relationships, workbook (the sheets' names), shared strings,
 * styles — before the one sheet asked for, whatever order the file stores them in. exceljs's
 * own streaming pass reads the parts as stored, copies a sheet met before the shared strings to
 * a temporary file, and loses the entries after it when the copy takes long enough (exceljs
 * issues 2790 and 3064): a file stored as Excel stores it (shared strings after the sheets) read
 * its text cells as "[object Object]", a workbook.xml stored last failed ("reading 'sheets'"),
 * and a temporary copy of beneficiary data was left in /tmp by a kill -9. No copy is made now.
 * The sheet and the shared strings are parsed here (xlsx-parts.ts): exceljs's parsers read wrong
 * text without a word (an inline string's last run, a phonetic reading, `_x000D_` as written).
 */
export async function* xlsxBatches(path: string, name: string, options: XlsxOptions): AsyncGenerator<readonly XlsxRow[]> {
  let sheet: AsyncIterable<readonly SheetRow[]>;
  try {
    sheet = await wantedSheet(path, name, options.sheet);
  } catch (error) {
    if (error instanceof UsageError) throw error;
    throw unreadable(name, error);
  }
  let header: XlsxHeader | undefined;
  let batch: XlsxRow[] = [];
  try {
    for await (const rows of sheet)
      for (const row of rows) {
        const cells: string[] = [];
        const numbers = new Set<number>();
        let unknown: Set<number> | undefined;
        for (const cell of row.cells) {
          const shown = cellText(cell);
          if (shown.number) numbers.add(cell.column);
          else numbers.delete(cell.column); // a cell written twice: the last one holds
          if (shown.unknown === true) (unknown ??= new Set()).add(cell.column);
          else unknown?.delete(cell.column);
          cells[cell.column] = shown.text;
        }
        for (let at = 0; at < cells.length; at++) cells[at] ??= '';
        if (row.damage !== undefined) {
          // A header with a cell that cannot be read names no columns: the workbook is damaged.
          if (header === undefined) throw new Error(`its header row: ${row.damage}`);
          batch.push({ ...toRecord(row.number, cells, numbers, header), unreadable: row.damage });
        } else {
          // An empty row, as a blank CSV line. A row of formulas without results only is one too, as
          // sparctl always read it: counted, it would move every later row from the position a
          // journal of an earlier sparctl records it at.
          if (cells.every((cell, at) => cell.trim() === '' || unknown?.has(at) === true)) continue;
          // A header names its columns as before: a formula without a result is no name.
          if (header === undefined && unknown !== undefined) for (const at of unknown) cells[at] = '';
          if (header === undefined) {
            // A header's trailing empty cells (formatted, never filled) are no columns.
            while (cells.length > 0 && cells[cells.length - 1]!.trim() === '') cells.pop();
            header = options.readHeader(cells);
            continue;
          }
          batch.push(toRecord(row.number, cells, numbers, header));
        }
        if (batch.length >= BATCH) {
          yield batch;
          batch = [];
        }
      }
  } catch (error) {
    if (error instanceof UsageError) throw error;
    if (batch.length > 0) yield batch;
    batch = [];
    throw unreadable(name, error);
  }
  if (header === undefined)
    throw new UsageError('input.empty', `${name}: no header row (the sheet is empty); nothing was sent`, {
      hint: 'the first row of the sheet names its columns',
    });
  if (batch.length > 0) yield batch;
}

function noWorksheet(name: string): UsageError {
  return new UsageError('input.xlsx_unreadable', `${name}: the workbook has no worksheet; nothing was sent`, {
    hint: 'save it from the spreadsheet as Excel Workbook (.xlsx)',
  });
}

function unreadable(name: string, error: unknown): UsageError {
  return new UsageError('input.xlsx_unreadable', `${name}: the workbook cannot be read (${describeXlsxError(error)}); nothing was sent`, {
    hint: 'open it in the spreadsheet and save it again as Excel Workbook (.xlsx), or save it as CSV UTF-8',
  });
}

/**
 * The rows of the sheet asked for (by name), or of the first in tab order: the workbook's parts
 * read first — relationships, workbook and styles through exceljs 4.4.0's own parsers (pinned in
 * package-lock.json; xlsx.test.ts reads workbooks stored in both orders through them), the
 * shared strings through xlsx-parts.ts — each found where the workbook's relationships put it.
 */
async function wantedSheet(path: string, name: string, wanted: string | undefined): Promise<AsyncIterable<readonly SheetRow[]>> {
  const directory = await unzipper.Open.file(path);
  const part = (at: string) => directory.files.find((file) => file.path === at);
  const reader = new ExcelJS.stream.xlsx.WorkbookReader(path, {
    sharedStrings: 'cache',
    styles: 'cache',
    hyperlinks: 'ignore',
    worksheets: 'emit',
    entries: 'ignore',
  }) as unknown as ReaderParts;
  const rels = part('xl/_rels/workbook.xml.rels');
  const book = part('xl/workbook.xml');
  if (rels === undefined || book === undefined) throw noWorksheet(name);
  await reader._parseRels(rels.stream());
  await reader._parseWorkbook(book.stream());
  // A part the workbook's relationships name ("worksheets/data.xml", under xl/, or "/xl/…"), or
  // the name Excel gives it.
  const target = (rel: { Target: string } | undefined) =>
    rel === undefined ? undefined : rel.Target.startsWith('/') ? rel.Target.slice(1) : posix.normalize(`xl/${rel.Target}`);
  const ofType = (type: string, usual: string) =>
    part(target(reader.workbookRels?.find((rel) => rel.Type?.endsWith(`/relationships/${type}`) === true)) ?? usual) ?? part(usual);
  const strings = ofType('sharedStrings', 'xl/sharedStrings.xml');
  const sharedStrings = strings === undefined ? [] : await readSharedStrings(strings.stream());
  const styles = ofType('styles', 'xl/styles.xml');
  if (styles !== undefined) await reader._parseStyles(styles.stream());

  const sheets = reader.model?.sheets ?? [];
  const hidden = (sheet: { state?: string }) => sheet.state === 'hidden' || sheet.state === 'veryHidden';
  const names = sheets.flatMap((sheet) => (sheet.name === undefined ? [] : [`"${sheet.name}"${hidden(sheet) ? ' (hidden)' : ''}`]));
  const chosen = wanted === undefined ? sheets[0] : sheets.find((sheet) => sheet.name === wanted);
  if (chosen === undefined) {
    if (wanted !== undefined)
      throw new UsageError('usage.sheet', `${name} has no sheet "${wanted}"; nothing was sent`, {
        hint: names.length > 0 ? `its sheets are: ${names.join(', ')}` : 'the workbook lists no sheets',
      });
    throw noWorksheet(name);
  }
  // A hidden first tab (old data, a look-up table) is not the sheet anyone sees first: refused
  // rather than read, or another sheet guessed — only --sheet says which one is meant.
  if (wanted === undefined && hidden(chosen)) {
    const visible = sheets.filter((sheet) => !hidden(sheet) && sheet.name !== undefined).map((sheet) => `"${sheet.name}"`);
    throw new UsageError('usage.sheet', `${name}: its first sheet, "${chosen.name ?? '?'}", is hidden; nothing was sent`, {
      hint:
        visible.length > 0
          ? `name the sheet to read with --sheet: its visible sheets are ${visible.join(', ')} (--sheet '${chosen.name ?? ''}' reads the hidden one)`
          : 'the workbook has no visible sheet: name the one to read with --sheet',
    });
  }
  const at = target(reader.workbookRels?.find((rel) => rel.Id === chosen.rId));
  const entry = at === undefined ? undefined : part(at);
  if (entry === undefined)
    throw new UsageError(
      'input.xlsx_unreadable',
      `${name}: the workbook lists sheet "${chosen.name ?? '?'}" but holds no such part; nothing was sent`,
      {
        hint: 'open it in the spreadsheet and save it again as Excel Workbook (.xlsx)',
      },
    );
  const date1904 = reader.properties?.model?.date1904 === true;
  return sheetRows(entry.stream(), {
    sharedStrings,
    // As exceljs's worksheet reader finds it: the style's numFmtId, a custom format or a built-in one.
    numFmt: (style) => reader.styles.getStyleModel(style)?.numFmt,
    date1904,
  });
}

function toRecord(line: number, cells: readonly string[], numbers: ReadonlySet<number>, header: XlsxHeader): XlsxRow {
  const record: Record<string, string> = {};
  for (const at of header.kept) record[header.columns[at]!] = header.quoted ? unquotedCell(cells[at] ?? '') : (cells[at] ?? '');
  const outside = cells.findIndex((cell, at) => at >= header.columns.length && cell.trim() !== '');
  const numberCells = header.kept.filter((at) => numbers.has(at)).map((at) => header.columns[at]!);
  const read = numberCells.length > 0 ? { line, record, numberCells } : { line, record };
  const originalLine = header.reportedLine === undefined ? undefined : reportedLine(cells[header.reportedLine]);
  const base = originalLine === undefined ? read : { ...read, originalLine };
  if (outside !== -1)
    return {
      ...base,
      unreadable: `a cell in column ${columnLetters(outside)}, which the header row does not name; give the column a header`,
    };
  return base;
}

/** Why a workbook could not be read, in words: "a damaged zip archive" only when the zip or its compression is. */
export function describeXlsxError(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  const code = (error as { code?: unknown } | null)?.code;
  if (error instanceof PartTooLarge) return 'one of its parts is too large once inflated: a zip bomb, not a workbook sparctl can read';
  // A part that inflates past what a string or buffer can hold (V8: "Invalid string length"):
  // a zip bomb, or nothing a sheet of rows needs; the zip itself read fine.
  if (
    (error instanceof RangeError && /string length|array length|allocation/i.test(message)) ||
    code === 'ERR_STRING_TOO_LONG' ||
    code === 'ERR_BUFFER_TOO_LARGE' ||
    /allocation failed|string longer than/i.test(message)
  )
    return 'one of its parts is too large once inflated: a zip bomb, not a workbook sparctl can read';
  if (/^(?:MISSING_PASSWORD|BAD_PASSWORD)$/.test(message)) return 'an encrypted zip archive';
  // unzipper's own errors, and zlib's (their code is Z_…).
  if (
    (typeof code === 'string' && code.startsWith('Z_')) ||
    /^(?:FILE_ENDED|PATTERN_NOT_FOUND|invalid signature|invalid zip64|unexpected end of file|incorrect header check)/i.test(message) ||
    /end of central dir/i.test(message)
  )
    return 'a damaged zip archive';
  return message.split('\n')[0]!.slice(0, 200);
}

/**
 * A cell's text as Excel shows it; `number`: the cell holds no text someone typed — a number,
 * a date (a number with a date format), TRUE/FALSE or an error value — and is refused where a
 * number cell is (mapping.ts; spreadsheet-damage.ts's numberCellDamage tells which from the text).
 */
export function cellText(cell: { value: unknown; numFmt?: string | undefined }): { text: string; number: boolean; unknown?: true } {
  const value = cell.value;
  if (value === null || value === undefined) return { text: '', number: false };
  if (typeof value === 'string') return { text: value, number: false };
  if (typeof value === 'number') {
    const text = shownNumber(value, cell.numFmt);
    // A whole number under 10^15 in a zero-padded format (`000000000000`) shows every digit and
    // the leading zeros someone chose to show: its text is what a CSV export would hold.
    const padded = /^0{2,}$/.test((cell.numFmt ?? '').split(';')[0]!.trim()) && Number.isInteger(value) && Math.abs(value) < 1e15;
    return { text, number: !padded };
  }
  if (typeof value === 'boolean') return { text: value ? 'TRUE' : 'FALSE', number: true };
  if (value instanceof Date) return { text: isoDate(value), number: true };
  if (typeof value === 'object') {
    const object = value as { richText?: { text?: string }[]; formula?: string; result?: unknown; error?: string; text?: unknown };
    if (Array.isArray(object.richText)) return { text: object.richText.map((run) => run.text ?? '').join(''), number: false };
    if ('formula' in object || 'sharedFormula' in object) {
      // A formula that failed (#N/A, #REF!) has no result here (xlsx-parts.ts, as exceljs read
      // it), nor has one a program saved without calculating it. Read as an empty cell, it let a `first` or
      // `default` mapping take another column's account: its text says what it is instead.
      if (object.result === undefined || object.result === null) return { text: `=${object.formula ?? ''}`, number: true, unknown: true };
      return cellText({ value: object.result, numFmt: cell.numFmt });
    }
    if (typeof object.error === 'string') return { text: object.error, number: true };
    if (typeof object.text === 'string') return { text: object.text, number: false };
  }
  return { text: String(value), number: false };
}

function isoDate(date: Date): string {
  const iso = date.toISOString();
  return iso.endsWith('T00:00:00.000Z') ? iso.slice(0, 10) : iso.replace('.000Z', 'Z');
}

/** A number as Excel shows it in a cell of format `format` (see the header comment). */
export function shownNumber(value: number, format: string | undefined): string {
  const code = (format ?? 'General').split(';')[0]!.trim();
  if (code === '' || code === 'General') return general(value);
  if (code === '@') return String(value);
  const fixed = /^(0+)(?:\.(0+))?$/.exec(code);
  if (fixed !== null) {
    const decimals = fixed[2]?.length ?? 0;
    const text = Math.abs(value).toFixed(decimals);
    const [whole, fraction] = text.split('.');
    const padded = whole!.padStart(fixed[1]!.length, '0');
    return `${value < 0 ? '-' : ''}${padded}${fraction === undefined ? '' : `.${fraction}`}`;
  }
  return String(value);
}

/** Excel's General format in a column of standard width: at most 11 characters. */
function general(value: number): string {
  if (value === 0) return '0';
  const size = Math.abs(value);
  if (Number.isInteger(value) && size < 1e11) return String(value);
  if (size >= 1e11 || size < 1e-9) {
    // 2.77366E+14: as many mantissa digits as fit in 11 characters.
    const exponent = Math.floor(Math.log10(size));
    const room = 11 - (value < 0 ? 1 : 0) - 2 - 4; // "d." and "E+NN"
    const [mantissa, power] = value.toExponential(Math.max(0, room)).split('e');
    const trimmed = mantissa!.includes('.') ? mantissa!.replace(/0+$/, '').replace(/\.$/, '') : mantissa!;
    const sign = Number(power) < 0 ? '-' : '+';
    return `${trimmed}E${sign}${String(Math.abs(Number(power ?? exponent))).padStart(2, '0')}`;
  }
  // A fraction: ten significant digits at most, within 11 characters.
  for (let digits = 10; digits > 0; digits--) {
    const text = String(Number(value.toPrecision(digits)));
    if (text.length <= 11) return text;
  }
  return String(value);
}
