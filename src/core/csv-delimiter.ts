/**
 * Which CSV delimiters can be read: one that is a quote or a line break would make a cell
 * impossible to tell from quoting or from the row's end. Checked where the user gives one
 * (import-csv's --delimiter) and again by the tokenizer, which refuses any other.
 */

/** Why `delimiter` cannot be used, or undefined when it can. */
export function unusableDelimiter(delimiter: string): string | undefined {
  if (delimiter.length !== 1 || delimiter === '"' || delimiter === '\n' || delimiter === '\r')
    return 'a delimiter must be one character other than a quote or a line break';
  return undefined;
}
