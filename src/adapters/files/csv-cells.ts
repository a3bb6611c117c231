/**
 * A CSV cell exactly as given, quoted only when it holds a delimiter, quote or line break: the
 * reader (no trimming, no casting) gives back the same string byte for byte.
 */
export function rawCell(value: string, delimiter = ','): string {
  const needsQuotes = /["\r\n]/.test(value) || value.includes(delimiter);
  return needsQuotes ? `"${value.replace(/"/g, '""')}"` : value;
}

/**
 * One CSV cell that is safe to open in a spreadsheet: a cell that starts with = + - @ (or a
 * tab/CR) would be run as a formula, so it gets a leading apostrophe (DESIGN §5).
 */
export function csvCell(value: string, delimiter = ','): string {
  return rawCell(/^[=+\-@\t\r]/.test(value) ? `'${value}` : value, delimiter);
}
