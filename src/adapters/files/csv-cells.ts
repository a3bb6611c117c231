import type { CsvLayout } from '../../core/csv-delimiter.js';

/**
 * A CSV cell exactly as given, quoted only when it holds a delimiter, quote or line break: the
 * reader (no trimming, no casting) gives back the same string byte for byte.
 */
export function rawCell(value: string, delimiter = ','): string {
  const needsQuotes = /["\r\n]/.test(value) || value.includes(delimiter);
  return needsQuotes ? `"${value.replace(/"/g, '""')}"` : value;
}

/** What a spreadsheet runs as a formula: a cell that starts with = + - @, a tab or a CR. */
const FORMULA_START = /^[=+\-@\t\r]/;

/**
 * One CSV cell that is safe to open in a spreadsheet: a cell that starts with = + - @ (or a
 * tab/CR) would be run as a formula, so it gets a leading apostrophe (DESIGN §5).
 */
export function csvCell(value: string, delimiter = ','): string {
  return rawCell(FORMULA_START.test(value) ? `'${value}` : value, delimiter);
}

/**
 * The layout of a reject file's CSV: the input's own (csv-delimiter.ts), and whether its input
 * cells are quoted (`quoteFormulas`) — set by the readers of input that was not a CSV file (a
 * workbook) or was a reject file written so; no layout at all (import-odk) quotes them too.
 */
export interface RejectLayout extends CsvLayout {
  readonly quoteFormulas?: boolean;
}

/**
 * The column a reject file with quoted input cells has after sparctl_message: its presence is
 * what tells a fed-back file to take the apostrophes off (a CSV input's reject file, whose cells
 * are as read, and a user's own CSV never have it); its cells name the columns quoted in the row.
 */
export const QUOTED_COLUMN = 'sparctl_quoted';

// Apostrophes already before a formula start get one more, so taking one off is exact.
const QUOTED_START = /^'*[=+\-@\t\r]/;
const UNQUOTE = /^'+[=+\-@\t\r]/;

/** An input cell of a reject file with QUOTED_COLUMN: safe to open in a spreadsheet, and reversible (unquotedCell). */
export function quotedCell(value: string): string {
  return QUOTED_START.test(value) ? `'${value}` : value;
}

/** A cell of a fed-back reject file with QUOTED_COLUMN, as it was before quotedCell. */
export function unquotedCell(value: string): string {
  return UNQUOTE.test(value) ? value.slice(1) : value;
}
