import { StringDecoder } from 'node:string_decoder';
import type { Readable } from 'node:stream';
import { SaxesParser, type SaxesTagPlain } from 'saxes';

/**
 * An .xlsx sheet's rows and its workbook's shared strings, parsed from the parts' XML as it
 * inflates (saxes), per ECMA-376 Part 1 §18.3.1.4 (cells) and §18.4 (shared strings).
 *
 * Invariant: a cell's value is the one the part's XML holds, never another's nor a guessed one —
 * a cell that names a shared string the table does not hold, or holds what its type cannot be,
 * is a row's damage (`SheetRow.damage`), not an empty cell; and the same bytes give the same
 * rows in the same order. exceljs 4.4.0's own parsers read an inline string's last run only, a
 * phonetic reading for the text, no `_xHHHH_` escapes, a missing shared string as empty, and a
 * multi-byte character cut between two chunks as two U+FFFD.
 */

/** What a cell holds, as xlsx-reader.ts's cellText reads it. */
export type CellValue = string | number | boolean | Date | { readonly error: string } | FormulaValue;

export interface FormulaValue {
  readonly formula: string;
  /** Its cached result; undefined when the workbook holds none (uncalculated) or an error (it failed). */
  readonly result?: string | number | boolean | Date;
}

export interface SheetCell {
  /** 0-based: column A is 0. */
  readonly column: number;
  readonly value: CellValue;
  /** The number format of its style (`s`), when the style sets one. */
  readonly numFmt?: string;
}

export interface SheetRow {
  /** The sheet's row number (1-based). */
  readonly number: number;
  /** The cells that hold a value, in the order written. */
  readonly cells: readonly SheetCell[];
  /** Why the row cannot be read as written (a damaged workbook), naming the cell. */
  readonly damage?: string;
}

export interface SheetContext {
  readonly sharedStrings: readonly string[];
  /** The number format of cell style `s` (styles.xml's cellXfs), if it sets one. */
  readonly numFmt: (style: number) => string | undefined;
  /** The workbook counts serial dates from 1904 (workbookPr date1904). */
  readonly date1904: boolean;
}

/** A part whose content, once inflated, is more than sparctl holds: a zip bomb (describeXlsxError says so). */
export class PartTooLarge extends Error {}

/**
 * Limits of the shared-strings table, held in memory while the sheet is read: far above any
 * enumeration file (a full sheet of 1,048,576 rows with 9 unique strings each is under 10
 * million), far below what crashed Node (120 million strings from a 5 MB file: a fatal V8 error,
 * exit 133, a native stack). Characters, not bytes: a string of non-Latin-1 text takes two
 * bytes a character in V8, so 2^29 of them is at most 1 GiB.
 */
export const SHARED_STRINGS_LIMIT = { count: 10_000_000, characters: 2 ** 29 } as const;

/** The last column a sheet has (XFD): a cell past it is a damaged or hostile part, whose row would be an array that long. */
const LAST_COLUMN = 16_384;

/** An element's local name: a writer may prefix SpreadsheetML's (`<x:c>`, the Open XML SDK's way). */
function local(name: string): string {
  const colon = name.indexOf(':');
  return colon === -1 ? name : name.slice(colon + 1);
}

/** ST_Xstring's escapes (§22.9.2.19): `_x000D_` is a CR, `_x005F_` an underscore (so `_x005F_x0041_` is the text `_x0041_`). */
function xstring(text: string): string {
  if (!text.includes('_x')) return text;
  return text.replace(/_x([0-9A-Fa-f]{4})_/g, (_, hex: string) => String.fromCharCode(Number.parseInt(hex, 16)));
}

/** Feeds a part to `parser`, decoded as UTF-8 across chunk boundaries (a character cut between two chunks stays one), yielding after each chunk. */
async function* feed(part: Readable, parser: SaxesParser): AsyncGenerator<void> {
  const decoder = new StringDecoder('utf8');
  for await (const chunk of part) {
    parser.write(decoder.write(chunk as Buffer));
    yield;
  }
  parser.write(decoder.end());
  parser.close();
  yield;
}

/**
 * The shared-strings table (sharedStrings.xml): each `<si>`'s text is its `<t>` and the `<t>` of
 * each of its runs (`<r>`), in order — never a phonetic reading's (`<rPh>`, written by a
 * Japanese-input Excel) — with ST_Xstring's escapes decoded.
 */
export async function readSharedStrings(
  part: Readable,
  limit: { readonly count: number; readonly characters: number } = SHARED_STRINGS_LIMIT,
): Promise<string[]> {
  const strings: string[] = [];
  let characters = 0;
  const parser = new SaxesParser();
  // The path of open elements inside <si>: text counts in si/t and si/r/t only.
  let inSi = false;
  let depth = 0;
  let run = false;
  let text: string | undefined;
  let pieces = '';
  parser.on('opentag', (tag: SaxesTagPlain) => {
    const name = local(tag.name);
    if (!inSi) {
      if (name === 'si') {
        inSi = true;
        depth = 0;
        pieces = '';
      }
      return;
    }
    depth++;
    if (depth === 1 && name === 'r') run = true;
    else if (name === 't' && (depth === 1 || (depth === 2 && run))) text = '';
  });
  const append = (chunk: string) => {
    if (text !== undefined) text += chunk;
  };
  parser.on('text', append);
  parser.on('cdata', append);
  parser.on('closetag', (tag: SaxesTagPlain) => {
    if (!inSi) return;
    if (depth === 0) {
      // </si>
      inSi = false;
      const value = xstring(pieces);
      characters += value.length;
      if (strings.length >= limit.count || characters > limit.characters)
        throw new PartTooLarge('the shared strings are too large once inflated');
      strings.push(value);
      return;
    }
    const name = local(tag.name);
    if (name === 't' && text !== undefined) {
      pieces += text;
      text = undefined;
    } else if (depth === 1 && name === 'r') run = false;
    depth--;
  });
  for await (const _ of feed(part, parser)) void _;
  return strings;
}

/** A cell as its XML holds it, until its </c>. */
interface OpenCell {
  column: number;
  style: number;
  type: string;
  value?: string;
  formula?: string;
  inline?: string;
}

/**
 * The rows of a sheet part (worksheets/sheetN.xml), a chunk's worth at a time. Rows and cells
 * without their optional `r` follow the one before (§18.3.1.73, §18.3.1.4): the first row is 1,
 * the first cell column A.
 */
export async function* sheetRows(part: Readable, context: SheetContext): AsyncGenerator<readonly SheetRow[]> {
  const parser = new SaxesParser();
  const styles = new Map<number, { numFmt?: string; date: boolean }>();
  const styleOf = (style: number) => {
    let known = styles.get(style);
    if (known === undefined) {
      const numFmt = context.numFmt(style);
      known = numFmt === undefined ? { date: false } : { numFmt, date: isDateFormat(numFmt) };
      // Excel has at most 64,000 cell styles: a part naming more distinct ones is not cached whole.
      if (styles.size < 65_536) styles.set(style, known);
    }
    return known;
  };
  let ready: SheetRow[] = [];
  let inData = false;
  let rowNumber = 0;
  let nextColumn = 0;
  let cells: SheetCell[] | undefined;
  let damage: string | undefined;
  let cell: OpenCell | undefined;
  // Inside <is>: its <t> and its runs' <t> are the text, a phonetic reading's (<rPh>) is not.
  let inInline = false;
  let inPhonetic = false;
  let capture: 'v' | 'f' | 't' | undefined;
  let captured = '';

  parser.on('opentag', (tag: SaxesTagPlain) => {
    const name = local(tag.name);
    if (!inData) {
      if (name === 'sheetData') inData = true;
      return;
    }
    const attributes = tag.attributes;
    switch (name) {
      case 'row': {
        const r = attributes['r'];
        rowNumber = r !== undefined && /^\d+$/.test(r) ? Number(r) : rowNumber + 1;
        nextColumn = 0;
        cells = [];
        damage = undefined;
        return;
      }
      case 'c': {
        if (cells === undefined) return;
        const ref = attributes['r'];
        const letters = ref === undefined ? undefined : /^([A-Za-z]{1,3})\d*$/.exec(ref)?.[1];
        const column = letters === undefined ? nextColumn : columnOf(letters);
        if (column >= LAST_COLUMN) throw new Error(`row ${rowNumber} has a cell past column XFD, the last a sheet has`);
        nextColumn = column + 1;
        const s = attributes['s'];
        cell = { column, style: s !== undefined && /^\d+$/.test(s) ? Number(s) : 0, type: attributes['t'] ?? 'n' };
        return;
      }
      case 'v':
      case 'f':
        if (cell !== undefined && !inInline) {
          capture = name;
          captured = '';
        }
        return;
      case 'is':
        if (cell !== undefined) {
          inInline = true;
          cell.inline = '';
        }
        return;
      case 'rPh':
        if (inInline) inPhonetic = true;
        return;
      case 't':
        if (inInline && !inPhonetic) {
          capture = 't';
          captured = '';
        }
        return;
    }
  });
  const append = (chunk: string) => {
    if (capture !== undefined) captured += chunk;
  };
  parser.on('text', append);
  parser.on('cdata', append);
  parser.on('closetag', (tag: SaxesTagPlain) => {
    if (!inData) return;
    const name = local(tag.name);
    switch (name) {
      case 'v':
      case 'f':
      case 't':
        if (capture === name && cell !== undefined) {
          if (name === 'v') cell.value = captured;
          else if (name === 'f') cell.formula = captured;
          else cell.inline = `${cell.inline ?? ''}${captured}`;
        }
        capture = undefined;
        return;
      case 'rPh':
        inPhonetic = false;
        return;
      case 'is':
        inInline = false;
        return;
      case 'c': {
        if (cell === undefined || cells === undefined) return;
        // No row has more cells than a sheet has columns: one that repeats its cells without end is a bomb.
        if (cells.length >= LAST_COLUMN) throw new Error(`row ${rowNumber} has more cells than a sheet has columns`);
        const read = cellValue(cell, context, styleOf);
        if (typeof read === 'string') {
          damage ??= `cell ${columnLetters(cell.column)}${rowNumber} ${read}`;
        } else if (read !== undefined) {
          const numFmt = styleOf(cell.style).numFmt;
          cells.push(
            numFmt === undefined ? { column: cell.column, value: read.value } : { column: cell.column, value: read.value, numFmt },
          );
        }
        cell = undefined;
        return;
      }
      case 'row':
        if (cells !== undefined) ready.push(damage === undefined ? { number: rowNumber, cells } : { number: rowNumber, cells, damage });
        cells = undefined;
        return;
      case 'sheetData':
        inData = false;
        return;
    }
  });
  for await (const _ of feed(part, parser)) {
    if (ready.length > 0) {
      yield ready;
      ready = [];
    }
  }
}

/**
 * A cell's value by its type (`t`, §18.18.11): `{ value }`, undefined for a cell that holds none,
 * or why it cannot be read (a damaged workbook).
 */
function cellValue(
  cell: OpenCell,
  context: SheetContext,
  styleOf: (style: number) => { date: boolean },
): { value: CellValue } | string | undefined {
  const v = cell.value;
  if (cell.formula !== undefined) {
    // A failed formula's cached error (#N/A) is read as a formula without a result, as sparctl
    // always read it (exceljs gave none): its row counted or skipped as before, so a journal
    // of an earlier sparctl keeps its positions.
    if (v === undefined || cell.type === 'e') return { value: { formula: cell.formula } };
    // A result that is not what its type says (damage) is no result: unknown, and refused where it is read.
    const result = plainValue(cell.type, v, cell, context, styleOf);
    if (result === undefined || typeof result === 'string') return { value: { formula: cell.formula } };
    return { value: { formula: cell.formula, result: result.value as string | number | boolean | Date } };
  }
  if (cell.type === 'inlineStr')
    return cell.inline === undefined ? (v === undefined ? undefined : { value: xstring(v) }) : { value: xstring(cell.inline) };
  if (v === undefined) return undefined;
  return plainValue(cell.type, v, cell, context, styleOf);
}

function plainValue(
  type: string,
  v: string,
  cell: OpenCell,
  context: SheetContext,
  styleOf: (style: number) => { date: boolean },
): { value: CellValue } | string | undefined {
  switch (type) {
    case 's': {
      const index = /^\s*\d+\s*$/.test(v) ? Number(v) : -1;
      const text = index >= 0 ? context.sharedStrings[index] : undefined;
      if (text === undefined)
        return `names shared string ${v.trim() === '' ? '""' : v.trim()}, which the workbook does not hold (its table has ${context.sharedStrings.length}): the workbook is damaged`;
      return { value: text };
    }
    case 'str':
    case 'inlineStr':
      return { value: xstring(v) };
    case 'b': {
      const flag = v.trim();
      if (flag === '1' || flag === 'true') return { value: true };
      if (flag === '0' || flag === 'false') return { value: false };
      return `is a TRUE/FALSE cell holding ${JSON.stringify(flag)}`;
    }
    case 'e':
      return { value: { error: v.trim() } };
    case 'd': {
      const date = isoDateValue(v.trim());
      return date === undefined ? `is a date cell holding ${JSON.stringify(v.trim())}, which is no ISO 8601 date` : { value: date };
    }
    case 'n': {
      const text = v.trim();
      if (text === '') return undefined;
      if (!/^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/.test(text))
        return `is a number cell holding ${JSON.stringify(text)}, which is no number`;
      const number = Number(text);
      if (styleOf(cell.style).date) return { value: serialDate(number, context.date1904) };
      return { value: number };
    }
    default:
      return `has a type ("${type}") no workbook has`;
  }
}

/** An Excel serial date (days since 1899-12-30, or 1904-01-01) as the wall-clock time it shows, in UTC: as exceljs converts it. */
function serialDate(serial: number, date1904: boolean): Date {
  return new Date(Math.round((serial - 25569 + (date1904 ? 1462 : 0)) * 86_400_000));
}

/** A `t="d"` cell's ISO 8601 text: without a zone, the wall-clock time it shows (read as UTC, as a serial date is). */
function isoDateValue(text: string): Date | undefined {
  if (!/^\d{4}-\d{2}-\d{2}(?:T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:\d{2})?)?$/.test(text)) return undefined;
  const zoned = text.length === 10 || /(?:Z|[+-]\d{2}:\d{2})$/.test(text) ? text : `${text}Z`;
  const date = new Date(zoned);
  return Number.isNaN(date.getTime()) ? undefined : date;
}

/**
 * Whether a number format shows a date or time: as exceljs decides it (utils.isDateFmt), so a
 * number cell reads as a date where it did — y, m, d, h, s or b outside quotes and brackets.
 */
function isDateFormat(format: string): boolean {
  const bare = format.replace(/\[[^\]]*]/g, '').replace(/"[^"]*"/g, '');
  return /[ymdhMsb]/.test(bare);
}

/** A column's letters (AB) as its 0-based index. */
function columnOf(letters: string): number {
  let column = 0;
  for (const letter of letters.toUpperCase()) column = column * 26 + (letter.charCodeAt(0) - 64);
  return column - 1;
}

export function columnLetters(at: number): string {
  let letters = '';
  for (let n = at + 1; n > 0; n = Math.floor((n - 1) / 26)) letters = String.fromCharCode(65 + ((n - 1) % 26)) + letters;
  return letters;
}
