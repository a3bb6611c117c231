/**
 * An incremental RFC 4180 reader: text in, rows of cells out, each with the line it starts on.
 *
 * Written here rather than taken from csv-parse because the bulk import is bound by this step
 * (csv-parse with line info ran at a fifth of this speed on the benchmark file) and because its
 * line counting treats a CR inside a quoted cell as a line break, which editors do not.
 *
 * - Rows end at LF or CRLF; a lone CR is data. Empty (and blank) lines are skipped.
 * - A cell that starts with a quote runs to the matching quote (`""` is a quote); it may hold
 *   delimiters and line breaks. After the closing quote only a delimiter or the row's end may
 *   follow. A quote inside an unquoted cell is an error, as is a quote left open at the end:
 *   guessing would shift every later cell into the wrong column.
 * - Values are never trimmed or cast: leading zeros and spaces reach the caller as written.
 */

export interface CsvRow {
  /** 1-based line the row starts on. */
  readonly line: number;
  /** The row's cells; with `pick`, a row without quotes holds only the picked ones (the others are absent). */
  readonly cells: string[];
  /** The row as written, when it holds no quote (its cells are this split at the delimiter). */
  readonly text?: string;
}

export class CsvSyntaxError extends Error {
  constructor(
    message: string,
    readonly line: number,
  ) {
    super(message);
  }
}

const QUOTE = 34; // "
const LF = 10;
const CR = 13;

export class CsvTokenizer {
  private buffer = '';
  /** Line of the first character of `buffer`. */
  private line = 1;
  private started = false;
  /** A syntax error found after some good rows: raised once those rows have been taken. */
  private failure: CsvSyntaxError | undefined;
  private readonly delimiterCode: number;
  /** With `pick`: the cells to take from each row after the first, by position (true = take). */
  private picked: boolean[] | undefined;
  private lastPicked = -1;
  private headerSeen = false;

  /**
   * `pick`: told the first row's cells, answers the positions of the cells wanted from every
   * later row. A row without quotes then yields those cells only, found without splitting the
   * rest (a pass that needs one column of a large file); quoted rows are read whole as always.
   */
  constructor(
    private readonly delimiter: string,
    private readonly pick?: (header: readonly string[]) => readonly number[],
    /**
     * With `pick`: each row is handed here as it is read, instead of being returned — its cells
     * in an array reused for the next row (a pass over a million rows then allocates no row).
     */
    private readonly visit?: (line: number, cells: readonly (string | undefined)[]) => void,
  ) {
    if (delimiter.length !== 1 || delimiter === '"' || delimiter === '\n' || delimiter === '\r')
      throw new Error(`unusable CSV delimiter ${JSON.stringify(delimiter)}`);
    this.delimiterCode = delimiter.charCodeAt(0);
  }

  /** Appends text and returns the rows now complete; an unfinished row waits for more text. */
  push(text: string): CsvRow[] {
    if (this.failure) throw this.failure;
    if (!this.started && text.length > 0) {
      this.started = true;
      if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
    }
    this.buffer = this.buffer.length === 0 ? text : this.buffer + text;
    return this.rows(false);
  }

  /** The last rows, at the end of the input. */
  end(): CsvRow[] {
    if (this.failure) throw this.failure;
    return this.rows(true);
  }

  private rows(final: boolean): CsvRow[] {
    const out: CsvRow[] = [];
    try {
      this.scan(final, out);
    } catch (error) {
      // The rows before the bad one go to the caller first (the header among them is checked
      // before anything else is said about the file).
      if (!(error instanceof CsvSyntaxError) || out.length === 0) throw error;
      this.failure = error;
      this.buffer = '';
    }
    return out;
  }

  private scan(final: boolean, out: CsvRow[]): void {
    const text = this.buffer;
    const length = text.length;
    let pos = 0;
    // Where the next quote is, found once per stretch rather than once per row.
    let nextQuote = -2;
    while (pos < length) {
      const newline = text.indexOf('\n', pos);
      if (nextQuote !== -1 && nextQuote < pos) nextQuote = text.indexOf('"', pos);
      if (newline === -1 && !final) break;
      const lineEnd = newline === -1 ? length : newline;
      if (nextQuote === -1 || nextQuote > lineEnd) {
        // No quote on this line: the common case, split as it stands.
        let end = lineEnd;
        if (end > pos && text.charCodeAt(end - 1) === CR) end--;
        const content = text.slice(pos, end);
        if (!isBlank(content)) {
          if (content.indexOf('"') !== -1)
            throw new CsvSyntaxError('a quote inside an unquoted cell (quote the whole cell and double the quote: "a ""b"" c")', this.line);
          if (this.picked === undefined) {
            const cells = content.split(this.delimiter);
            if (this.visit) this.visit(this.line, cells);
            else out.push({ line: this.line, cells, text: content });
            this.sawRow(cells);
          } else if (this.visit) {
            this.visit(this.line, this.pickCells(content, this.shared));
          } else {
            out.push({ line: this.line, cells: this.pickCells(content, []), text: content });
          }
        }
        this.line++;
        pos = lineEnd + 1;
        continue;
      }
      const row = this.quotedRow(text, pos, final);
      if (row === undefined) break; // the row continues in text not yet read
      if (this.visit) this.visit(this.line, row.cells);
      else out.push({ line: this.line, cells: row.cells, text: undefined });
      this.sawRow(row.cells);
      this.line += 1 + row.newlines;
      pos = row.next;
    }
    this.buffer = pos >= length ? '' : text.slice(pos);
  }

  /** After the first row: the positions to pick from the rows that follow, when picking. */
  private sawRow(cells: readonly string[]): void {
    if (this.headerSeen) return;
    this.headerSeen = true;
    if (this.pick === undefined) return;
    const picked: boolean[] = [];
    for (const at of this.pick(cells)) {
      picked[at] = true;
      this.lastPicked = Math.max(this.lastPicked, at);
    }
    this.picked = picked;
  }

  /** A row without quotes, its picked cells only (into `cells`): the rest of the row is not looked at. */
  private pickCells(content: string, cells: string[]): string[] {
    const picked = this.picked!;
    cells.length = 0;
    let start = 0;
    for (let column = 0; column <= this.lastPicked; column++) {
      const at = content.indexOf(this.delimiter, start);
      if (picked[column] === true) cells[column] = content.slice(start, at === -1 ? content.length : at);
      if (at === -1) break;
      start = at + 1;
    }
    return cells;
  }

  private readonly shared: string[] = [];

  /** A row holding at least one quote, cell by cell; undefined when it is not complete yet. */
  private quotedRow(text: string, start: number, final: boolean): { cells: string[]; newlines: number; next: number } | undefined {
    const cells: string[] = [];
    const length = text.length;
    const delimiter = this.delimiterCode;
    let newlines = 0;
    let i = start;
    for (;;) {
      if (i < length && text.charCodeAt(i) === QUOTE) {
        let value = '';
        let from = i + 1;
        for (;;) {
          const close = text.indexOf('"', from);
          if (close === -1 || (close + 1 >= length && !final)) {
            if (final) throw new CsvSyntaxError('a quoted cell is never closed (a quote is missing)', this.line + newlines);
            return undefined;
          }
          if (text.charCodeAt(close + 1) === QUOTE) {
            value += text.slice(from, close + 1);
            from = close + 2;
            continue;
          }
          value += text.slice(from, close);
          i = close + 1;
          break;
        }
        for (let at = value.indexOf('\n'); at !== -1; at = value.indexOf('\n', at + 1)) newlines++;
        cells.push(value);
        const next = i < length ? text.charCodeAt(i) : -1;
        if (next === delimiter) {
          i++;
          continue;
        }
        if (next === LF) return { cells, newlines, next: i + 1 };
        if (next === CR) {
          if (i + 1 >= length && !final) return undefined;
          if (i + 1 >= length) return { cells, newlines, next: i + 1 };
          if (text.charCodeAt(i + 1) === LF) return { cells, newlines, next: i + 2 };
        }
        if (next === -1) {
          if (!final) return undefined;
          return { cells, newlines, next: i };
        }
        throw new CsvSyntaxError(
          `after a quoted cell comes ${JSON.stringify(text[i])} where ${JSON.stringify(this.delimiter)} or the end of the line belongs`,
          this.line + newlines,
        );
      }
      // An unquoted cell: up to the next delimiter or the end of the line.
      let end = i;
      while (end < length) {
        const code = text.charCodeAt(end);
        if (code === delimiter || code === LF) break;
        if (code === QUOTE)
          throw new CsvSyntaxError(
            'a quote inside an unquoted cell (quote the whole cell and double the quote: "a ""b"" c")',
            this.line + newlines,
          );
        end++;
      }
      if (end >= length && !final) return undefined;
      if (end < length && text.charCodeAt(end) === delimiter) {
        cells.push(text.slice(i, end));
        i = end + 1;
        continue;
      }
      const valueEnd = end > i && text.charCodeAt(end - 1) === CR ? end - 1 : end;
      cells.push(text.slice(i, valueEnd));
      return { cells, newlines, next: end + 1 };
    }
  }
}

function isBlank(content: string): boolean {
  if (content.length === 0) return true;
  // Only a line that starts with white space can be blank; trim() is not needed otherwise.
  return content.charCodeAt(0) <= 32 && content.trim().length === 0;
}
