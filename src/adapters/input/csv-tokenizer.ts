/**
 * An incremental RFC 4180 reader: text in, rows of cells out, each with the line it starts on.
 *
 * Invariant: every character is looked at a bounded number of times however the text is cut
 * into pieces (a row cut between pieces is resumed where scanning stopped, never rescanned),
 * and no row longer than ROW_LIMIT is kept, so time is linear in the input and memory bounded.
 *
 * Written here rather than taken from csv-parse because the bulk import is bound by this step
 * (csv-parse with line info ran at a fifth of this speed on the benchmark file).
 *
 * - Rows end at LF, CRLF or a lone CR (old Excel for Mac writes bare-CR files). Empty and
 *   blank lines are skipped, and so are rows whose every cell is empty or blank (`,,,,`).
 *   Lines are counted as editors show them: LF, CRLF and a lone CR are one line break each,
 *   inside a quoted cell too.
 * - A cell that starts with a quote runs to the matching quote (`""` is a quote); it may hold
 *   delimiters and line breaks, kept as written (a CR in it is data). After the closing quote
 *   only a delimiter or the row's end may follow.
 * - A row that cannot be read without guessing — a quote inside an unquoted cell, text after a
 *   closing quote, more than ROW_LIMIT characters — is handed over with `error` and no cells; it
 *   ends at the next line end outside quoted cells, and the rows after it are read as usual.
 * - A quote left open at the end of the input is a CsvSyntaxError (naming the line it opened
 *   on): everything after it would be one cell, so the file cannot be read. So is a header row
 *   that cannot be read.
 * - Values are never trimmed or cast: leading zeros and spaces reach the caller as written.
 */

import { unusableDelimiter } from '../../core/csv-delimiter.js';

export interface CsvRow {
  /** 1-based line the row starts on. */
  readonly line: number;
  /** The row's cells; with `pick`, a row without quotes holds only the picked ones (the others are absent). Empty with `error`. */
  readonly cells: string[];
  /** The row as written, when it holds no quote (its cells are this split at the delimiter). */
  readonly text?: string;
  /** Why the row cannot be read (see the header comment): it is to be rejected, not used. */
  readonly error?: string;
  /**
   * With `error`: the row as written, so that its reject carries it for a person to fix — whole
   * up to WRITTEN_KEPT characters, else its beginning followed by "…" and its length.
   */
  readonly written?: string;
}

/** Input that cannot be read at all (see the header comment); `hint` says how to fix it. */
export class CsvSyntaxError extends Error {
  constructor(
    message: string,
    readonly line: number,
    readonly hint: string,
  ) {
    super(message);
  }
}

/**
 * The longest row read, in UTF-16 code units (what a JavaScript string's length counts; 64 MiB
 * of ASCII text): a longer row is rejected, and dropped as it is read, so that one runaway cell
 * (a quote opened by mistake, a pasted file) cannot exhaust memory. No field sparctl stores comes
 * near it.
 */
export const ROW_LIMIT = 64 * 1024 * 1024;

/** The most of an unreadable row's text kept for its reject (the rest is only counted). */
export const WRITTEN_KEPT = 64 * 1024;

const QUOTE = 34; // "
const LF = 10;
const CR = 13;

// Where the reader is, between rows and inside one (a row may span pieces of text).
const ROW = 0; // between rows
const CELL = 1; // at the start of a cell
const PLAIN = 2; // inside an unquoted cell
const QUOTED = 3; // inside a quoted cell
const QUOTE_SEEN = 4; // just after a quote inside a quoted cell: a second quote, or the cell's end
const CLOSED = 5; // after a quoted cell's closing quote: a delimiter or the row's end belongs here

const QUOTE_IN_PLAIN = 'a quote inside an unquoted cell (quote the whole cell and double the quote: "a ""b"" c")';

export class CsvTokenizer {
  /** Line of the next character to read. */
  private line = 1;
  private started = false;
  private readonly delimiterCode: number;
  /** With `pick`: the cells to take from each row after the first, by position (true = take). */
  private picked: boolean[] | undefined;
  private emptyRows = 0;

  /** Rows of empty cells skipped (`,,,,`: not blank lines, which sparctl always skipped). */
  get emptyRowsSkipped(): number {
    return this.emptyRows;
  }
  private lastPicked = -1;
  private headerSeen = false;
  /** The last piece of text ended with a CR (an LF starting the next piece completes a CRLF). */
  private crBefore = false;

  // The row being read, when `state` is not ROW.
  private state = ROW;
  private rowLine = 1;
  private cells: string[] = [];
  /** The cell being read, in pieces (one per piece of text, and per `""`). */
  private readonly parts: string[] = [];
  private quoted = false;
  /** Line the open quoted cell started on. */
  private quoteLine = 1;
  /** Where the row starts in the text at hand (0 when it started in an earlier piece). */
  private rowStart = 0;
  /** The row's length in earlier pieces of text. */
  private rowSize = 0;
  /** Why the row is rejected: its cells are no longer kept. */
  private rejected: string | undefined;
  /** The row's text in earlier pieces, up to WRITTEN_KEPT characters (an unreadable row's reject shows it). */
  private writtenBefore = '';

  // The next LF, CR and quote in the text at hand at or after the last position asked about
  // (-1: none; -2: not looked for yet), so that each is searched for once per stretch.
  private text = '';
  private nextLF = -2;
  private nextCR = -2;
  private nextQuote = -2;

  /**
   * `pick`: told the first row's cells, answers the positions of the cells wanted from every
   * later row. A row without quotes then yields those cells only, found without splitting the
   * rest (a pass that needs one column of a large file); other rows are read whole as always.
   */
  constructor(
    private readonly delimiter: string,
    private readonly pick?: (header: readonly string[]) => readonly number[],
    /**
     * With `pick`: each row is handed here as it is read, instead of being returned — its cells
     * in an array reused for the next row (a pass over a million rows then allocates no row).
     */
    private readonly visit?: (line: number, cells: readonly (string | undefined)[]) => void,
    /** The longest row read (tests make it small). */
    private readonly rowLimit = ROW_LIMIT,
  ) {
    const unusable = unusableDelimiter(delimiter);
    // Callers check the delimiter where the user gave it: this is a bug if reached.
    if (unusable !== undefined) throw new Error(`unusable CSV delimiter ${JSON.stringify(delimiter)}: ${unusable}`);
    this.delimiterCode = delimiter.charCodeAt(0);
  }

  /** Reads more text and returns the rows now complete; an unfinished row waits for more text. */
  push(text: string): CsvRow[] {
    if (!this.started && text.length > 0) {
      this.started = true;
      if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
    }
    const out: CsvRow[] = [];
    if (text.length > 0) this.scan(text, out);
    return out;
  }

  /** The last row, at the end of the input. */
  end(): CsvRow[] {
    const out: CsvRow[] = [];
    switch (this.state) {
      case ROW:
        return out;
      case QUOTED:
        throw new CsvSyntaxError(
          'a quoted cell is never closed (the quote that opens it has no closing quote, so the rest of the file would be one cell)',
          this.quoteLine,
          'close the quoted cell that starts on that line; a quote inside a quoted cell is written twice ("a ""b"" c")',
        );
      case CELL: // the row ends with a delimiter: its last cell is empty
      case PLAIN:
      case QUOTE_SEEN:
        this.endCell();
        break;
    }
    this.endRow(this.rowSize, out);
    return out;
  }

  private scan(text: string, out: CsvRow[]): void {
    const length = text.length;
    this.text = text;
    this.nextLF = -2;
    this.nextCR = -2;
    this.nextQuote = -2;
    let pos = 0;
    // The LF of a CRLF whose CR ended the last piece (and a row, or a blank line).
    if (this.crBefore && this.state === ROW && text.charCodeAt(0) === LF) pos = 1;
    while (pos < length) {
      if (this.state === ROW) {
        const lf = this.findLF(pos);
        const cr = this.findCR(pos);
        const end = lf === -1 ? cr : cr === -1 || lf < cr ? lf : cr;
        if (end !== -1 && end - pos <= this.rowLimit) {
          const quote = this.findQuote(pos);
          if (quote === -1 || quote > end) {
            // A whole line without a quote: the common case, split as it stands.
            const content = text.slice(pos, end);
            if (!isBlankRow(content, this.delimiter)) this.plainRow(content, out);
            else if (!isBlank(content)) this.emptyRows++;
            this.line++;
            pos = end + 1;
            if (text.charCodeAt(end) === CR && text.charCodeAt(pos) === LF) pos++;
            continue;
          }
        }
        // A row with quotes, or one that goes on in the next piece: cell by cell.
        this.state = CELL;
        this.rowLine = this.line;
        this.rowStart = pos;
        this.rowSize = 0;
        this.writtenBefore = '';
        this.quoted = false;
      }
      pos = this.step(text, pos, out);
    }
    this.crBefore = text.charCodeAt(length - 1) === CR;
    if (this.state !== ROW) {
      // Bounded: a piece adds at most what is left of WRITTEN_KEPT, so a huge row costs nothing here.
      const room = WRITTEN_KEPT - this.writtenBefore.length;
      if (room > 0) this.writtenBefore += text.slice(this.rowStart, this.rowStart + room);
      this.rowSize += length - this.rowStart;
      this.rowStart = 0;
      if (this.rowSize > this.rowLimit && this.rejected === undefined) this.reject(this.tooLarge());
    }
  }

  /** Reads the row at hand from `pos` until it ends (the position after it) or the text does (its length). */
  private step(text: string, pos: number, out: CsvRow[]): number {
    const length = text.length;
    const delimiter = this.delimiterCode;
    while (pos < length) {
      switch (this.state) {
        case CELL:
          if (text.charCodeAt(pos) === QUOTE) {
            this.state = QUOTED;
            this.quoted = true;
            this.quoteLine = this.line;
            pos++;
          } else this.state = PLAIN;
          break;
        case PLAIN: {
          let end = pos;
          let code = -1;
          for (; end < length; end++) {
            code = text.charCodeAt(end);
            if (code === delimiter || code === LF || code === CR) break;
            // The quote is passed over: the row is rejected, and ends at the line's end.
            if (code === QUOTE && this.rejected === undefined) this.reject(QUOTE_IN_PLAIN);
          }
          if (end === length) {
            if (this.rejected === undefined) this.parts.push(text.slice(pos, end));
            return length;
          }
          if (this.rejected === undefined) {
            // The whole cell in this piece, the common case: no parts to join.
            if (this.parts.length === 0) this.cells.push(text.slice(pos, end));
            else {
              this.parts.push(text.slice(pos, end));
              this.endCell();
            }
          }
          if (code === delimiter) {
            this.state = CELL;
            pos = end + 1;
            break;
          }
          return this.rowEndsAt(text, end, out);
        }
        case QUOTED: {
          const close = this.findQuote(pos);
          const stop = close === -1 ? length : close;
          this.line += this.breaks(pos, stop);
          // A doubled quote in the same piece is kept with the text before it (one piece, not two).
          const doubled = close !== -1 && text.charCodeAt(close + 1) === QUOTE;
          if (this.rejected === undefined) this.parts.push(text.slice(pos, doubled ? close + 1 : stop));
          if (close === -1) return length;
          if (doubled) pos = close + 2;
          else {
            this.state = QUOTE_SEEN;
            pos = close + 1;
          }
          break;
        }
        case QUOTE_SEEN:
          if (text.charCodeAt(pos) === QUOTE) {
            if (this.rejected === undefined) this.parts.push('"');
            this.state = QUOTED;
            pos++;
          } else {
            this.endCell();
            this.state = CLOSED;
          }
          break;
        case CLOSED: {
          const code = text.charCodeAt(pos);
          if (code === delimiter) {
            this.state = CELL;
            pos++;
          } else if (code === LF || code === CR) {
            return this.rowEndsAt(text, pos, out);
          } else {
            // Passed over up to the next delimiter or line end: the row is rejected.
            if (this.rejected === undefined)
              this.reject(
                `after a quoted cell comes ${JSON.stringify(text[pos])} where ${JSON.stringify(this.delimiter)} or the end of the line belongs`,
              );
            pos++;
          }
          break;
        }
      }
    }
    return pos;
  }

  /** The row ends at the line end at `at` (an LF or a CR): handed over; the position after the line end. */
  private rowEndsAt(text: string, at: number, out: CsvRow[]): number {
    this.endRow(this.rowSize + at - this.rowStart, out, at);
    this.line++;
    let next = at + 1;
    if (text.charCodeAt(at) === CR && text.charCodeAt(next) === LF) next++;
    return next;
  }

  private endCell(): void {
    if (this.rejected === undefined) this.cells.push(this.parts.length === 1 ? this.parts[0]! : this.parts.join(''));
    this.parts.length = 0;
  }

  /** `at`: where the row ends in the text at hand (at the end of the input: all of it was read before). */
  private endRow(size: number, out: CsvRow[], at = this.rowStart): void {
    if (size > this.rowLimit && this.rejected === undefined) this.reject(this.tooLarge());
    const written = this.rejected !== undefined && this.visit === undefined ? this.written(size, at) : undefined;
    const cells = this.cells;
    const rejected = this.rejected;
    this.state = ROW;
    this.cells = [];
    this.parts.length = 0;
    this.rejected = undefined;
    if (rejected !== undefined) {
      if (!this.headerSeen)
        throw new CsvSyntaxError(
          `the header row cannot be read: ${rejected}`,
          this.rowLine,
          'the first line names the columns, separated by the delimiter; quote a name holding the delimiter or a quote',
        );
      if (this.visit) this.visit(this.rowLine, cells);
      else out.push({ line: this.rowLine, cells, error: rejected, written: written! });
      return;
    }
    // A blank line cut between pieces of text, or a row of empty cells.
    if (cells.every(isBlank)) {
      if (this.quoted || cells.length > 1) this.emptyRows++;
      return;
    }
    if (this.visit) this.visit(this.rowLine, cells);
    else out.push(this.quoted ? { line: this.rowLine, cells } : { line: this.rowLine, cells, text: cells.join(this.delimiter) });
    this.sawRow(cells);
  }

  private reject(reason: string): void {
    this.rejected = reason;
    this.cells = [];
    this.parts.length = 0;
  }

  /** The rejected row's text (see CsvRow.written), its last part from the text at hand. */
  private written(size: number, at: number): string {
    const room = WRITTEN_KEPT - this.writtenBefore.length;
    const text = this.writtenBefore + (room > 0 ? this.text.slice(this.rowStart, Math.min(at, this.rowStart + room)) : '');
    return size > text.length ? `${text}… (${size} characters in all)` : text;
  }

  private tooLarge(): string {
    const limit = this.rowLimit % 2 ** 20 === 0 ? `${this.rowLimit / 2 ** 20} MiB` : `${this.rowLimit} characters`;
    return `the row is larger than ${limit}, the most sparctl reads as one row (a quote opened by mistake makes a row run on to the next quote)`;
  }

  /** A whole line without quotes. */
  private plainRow(content: string, out: CsvRow[]): void {
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

  private findLF(from: number): number {
    if (this.nextLF !== -1 && this.nextLF < from) this.nextLF = this.text.indexOf('\n', from);
    return this.nextLF;
  }

  private findCR(from: number): number {
    if (this.nextCR !== -1 && this.nextCR < from) this.nextCR = this.text.indexOf('\r', from);
    return this.nextCR;
  }

  private findQuote(from: number): number {
    if (this.nextQuote !== -1 && this.nextQuote < from) this.nextQuote = this.text.indexOf('"', from);
    return this.nextQuote;
  }

  /** Line breaks in the text at hand from `from` to `to` (inside a quoted cell): each CR, and each LF not after a CR. */
  private breaks(from: number, to: number): number {
    let n = 0;
    for (let at = this.findCR(from); at !== -1 && at < to; at = this.findCR(at + 1)) n++;
    for (let at = this.findLF(from); at !== -1 && at < to; at = this.findLF(at + 1)) {
      if (at > 0 ? this.text.charCodeAt(at - 1) !== CR : !this.crBefore) n++;
    }
    return n;
  }
}

/**
 * A line with no value in any cell: blank, or only delimiters and white space (`,,,,`, the
 * empty rows a spreadsheet writes below its data). Skipped as a blank line is: rejected, each
 * was a reject row and turned a clean export into "some records were not applied".
 */
function isBlankRow(content: string, delimiter: string): boolean {
  if (content.length === 0) return true;
  // Only a line that starts with white space or a delimiter can be blank.
  if (content.charCodeAt(0) > 32 && !content.startsWith(delimiter)) return false;
  for (const cell of content.split(delimiter)) if (!isBlank(cell)) return false;
  return true;
}

function isBlank(content: string): boolean {
  if (content.length === 0) return true;
  // Only a line that starts with white space can be blank; trim() is not needed otherwise.
  return content.charCodeAt(0) <= 32 && content.trim().length === 0;
}
