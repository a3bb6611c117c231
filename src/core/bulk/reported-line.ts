/**
 * The line a reject file says a row came from. Invariant: only a positive whole number is taken
 * for a line; any other value (empty, edited, a spreadsheet's 812.0) names none, so a row is
 * never placed by a guess.
 */

/** The report column (CSV) or key (JSONL) of a reject file that names the line the row was read from. */
export const REPORTED_LINE = 'sparctl_line';

/**
 * The line a fed-back reject file's `sparctl_line` names — where the row was in the input an
 * earlier round read — when it is a positive whole number (a JSON number, or digits as a CSV
 * or workbook cell holds them); anything else is no line, and the row's own line is used.
 */
export function reportedLine(value: unknown): number | undefined {
  const line = typeof value === 'number' ? value : typeof value === 'string' && /^\s*\d+\s*$/.test(value) ? Number(value) : Number.NaN;
  return Number.isSafeInteger(line) && line > 0 ? line : undefined;
}
