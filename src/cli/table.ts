import { createRequire } from 'node:module';
import { colorEnabled, type Io } from './io.js';

/**
 * Every table sparctl prints, in one style: no frame, a header, two spaces between columns, and
 * a blank line between rows only when some row takes several lines. The table never gets wider
 * than the terminal (80 columns at least, and 80 when the width is unknown): columns of a few
 * words keep their width, the others share the rest and wrap inside their cell. The full values
 * are always in `-o json`.
 */

/** Narrowest table width, also used when stdout is not a terminal (`-o table` into a pipe). */
export const MIN_TABLE_WIDTH = 80;
/** Spaces between two columns. */
export const GUTTER = 2;

export interface TableColumn {
  readonly header: string;
  /**
   * `fixed`: as wide as its widest value, never wrapped (line numbers, outcomes, counts).
   * `wrap` (default): shares the room left with the other wrapping columns; long values wrap.
   */
  readonly fit?: 'fixed' | 'wrap';
  /** A wrapped value longer than this many lines ends in "…" on its last line. */
  readonly maxLines?: number;
  readonly align?: 'left' | 'right';
}

export interface TableOptions {
  /** Where the table goes: its width is that terminal's. Default stdout. */
  readonly stream?: 'stdout' | 'stderr';
  /** False: no header line (a list of checks, say). Default true. */
  readonly head?: boolean;
}

/** The width a table on this stream may take: the terminal's, at least 80; 80 when unknown. */
export function tableWidth(io: Io, stream: 'stdout' | 'stderr' = 'stdout'): number {
  const columns = stream === 'stderr' ? (io.stderrColumns ?? io.columns) : io.columns;
  return Math.max(MIN_TABLE_WIDTH, Number.isFinite(columns) ? columns : 0);
}

/**
 * The table as text, without a final newline; no line is wider than `tableWidth(io, stream)`.
 *
 * Drawn here, not by cli-table3, which drew it before: the same lines, byte for byte (a test in
 * test/unit/table.test.ts draws random tables both ways). cli-table3's layout compares each cell
 * with every row above it and gathers the rows with one `push.apply`: `resolve --file -o table`
 * took 7 s for 1,000 IDs (8,000 lines), 120 s for 5,000, and at 20,000 (160,000 lines) it
 * overflowed the stack. Fed 50 lines at a time it is linear but costs about 55 µs a line (~45 s
 * for 100,000 IDs, reckoned); this costs 2–5 µs (1.9 s for 100,000 IDs, 800,000 lines). The one style
 * needs no more than padding each line of a cell to its column's width.
 */
export function renderTable(
  io: Io,
  columns: readonly TableColumn[],
  rows: readonly (readonly string[])[],
  options: TableOptions = {},
): string {
  const stream = options.stream ?? 'stdout';
  const head = options.head ?? true;
  // Loops, not Math.max(...rows): spreading 100,000 rows into arguments overflows the stack.
  const naturals = columns.map((column, i) => {
    let widest = head ? cellWidth(column.header) : 0;
    for (const row of rows) widest = Math.max(widest, cellWidth(row[i] ?? ''));
    return widest;
  });
  const widths = fitColumns(
    columns.map((column, i) => ({ natural: naturals[i]!, fixed: column.fit === 'fixed' })),
    tableWidth(io, stream),
  );
  const right = columns.map((column) => column.align === 'right');
  const lines: string[] = [];
  /** A row of cells, each already cut into lines: as many table lines as its tallest cell. */
  const draw = (cells: readonly (readonly string[])[]) => {
    let height = 1;
    for (const cell of cells) height = Math.max(height, cell.length);
    for (let at = 0; at < height; at++) {
      let line = '';
      for (let i = 0; i < cells.length; i++) {
        let text = cells[i]![at] ?? '';
        let width = paddedWidth(text);
        if (width > widths[i]!) width = paddedWidth((text = cut(text, widths[i]!)));
        const pad = ' '.repeat(Math.max(0, widths[i]! - width));
        line += (i > 0 ? SEPARATOR : '') + (right[i] ? pad + text : text + pad);
      }
      lines.push(line.trimEnd());
    }
  };
  if (head) {
    const color = colorEnabled(io, stream);
    draw(
      columns.map((column, i) => wrapText(column.header, widths[i]!).map((line) => (color && line ? `\u001b[36m${line}\u001b[39m` : line))),
    );
  }
  const laid = rows.map((row) => columns.map((column, i) => wrapText(row[i] ?? '', widths[i]!, column.maxLines)));
  // Several lines to a row: a blank line between rows keeps each row's lines together.
  const spaced = laid.some((row) => row.some((cell) => cell.length > 1));
  laid.forEach((row, at) => {
    if (spaced && at > 0) lines.push('');
    draw(row);
  });
  return lines.join('\n');
}

const SEPARATOR = ' '.repeat(GUTTER);

/** Colour codes, as cli-table3 left them out of a width. */
const SGR = /\u001b\[(?:\d*;){0,5}\d*m/g;

let stringWidth: ((text: string) => number) | undefined;

/**
 * The width a line of a cell is padded from: the one cli-table3 gave it (the string-width it
 * depends on, which counts an emoji sequence as two), so a table is the same as it drew. Never
 * more than `displayWidth`, which laid the line out.
 */
function paddedWidth(text: string): number {
  if (PRINTABLE_ASCII.test(text)) return text.length;
  // Loaded with the first such line: most tables are ASCII.
  if (stringWidth === undefined) {
    const load = createRequire(import.meta.url);
    stringWidth = createRequire(load.resolve('cli-table3'))('string-width') as (text: string) => number;
  }
  return stringWidth(text.replace(SGR, ''));
}

/**
 * A line wider than its column — a wide character in a column one wide — cut as cli-table3 cut
 * it: to one column less, then "…". (Its colour codes are dropped: no table has such a line.)
 */
function cut(text: string, width: number): string {
  let kept = text.replace(SGR, '');
  if (width <= 1) return '…';
  if (kept.length === paddedWidth(kept)) return `${kept.slice(0, width - 1)}…`;
  while (paddedWidth(kept) > width - 1) kept = kept.slice(0, -1);
  return `${kept}…`;
}

export interface ColumnNeed {
  /** The width of the column's widest line, header included. */
  readonly natural: number;
  /** Keeps its natural width (when the fixed columns fit at all). */
  readonly fixed: boolean;
}

/**
 * Column widths whose sum, with the gutters, is at most `width` (as long as every column can
 * have one character). Fixed columns keep their natural width; the others share what is left,
 * fairly: a column that needs less than an equal share gets what it needs, and the columns that
 * need more split the rest evenly. If the fixed columns alone do not fit, every column shares.
 */
export function fitColumns(needs: readonly ColumnNeed[], width: number, gutter = GUTTER): number[] {
  const room = width - gutter * Math.max(0, needs.length - 1);
  const widths = needs.map((need) => Math.max(1, need.natural));
  if (widths.reduce((a, b) => a + b, 0) <= room) return widths;
  const all = needs.map((_, i) => i);
  const flexible = all.filter((i) => !needs[i]!.fixed);
  const fixedTotal = all.filter((i) => needs[i]!.fixed).reduce((sum, i) => sum + widths[i]!, 0);
  // The fixed columns must leave a character for each other column; if not, all of them share.
  const sharing = flexible.length > 0 && fixedTotal + flexible.length <= room ? flexible : all;
  let left = room - all.filter((i) => !sharing.includes(i)).reduce((sum, i) => sum + widths[i]!, 0);
  const pending = [...sharing].sort((a, b) => widths[a]! - widths[b]! || a - b);
  while (pending.length > 0) {
    const share = Math.floor(left / pending.length);
    const narrowest = pending[0]!;
    if (widths[narrowest]! <= share) {
      left -= widths[narrowest]!;
      pending.shift();
      continue;
    }
    // Every column still pending needs more than an equal share: split what is left evenly.
    const extra = left - share * pending.length;
    pending.sort((a, b) => a - b).forEach((i, k) => (widths[i] = Math.max(1, share + (k < extra ? 1 : 0))));
    break;
  }
  return widths;
}

/**
 * `text` in lines of at most `width` columns: its own lines kept, long ones broken at spaces, and
 * a word longer than a line broken where it has punctuation (or anywhere). Only the spaces at a
 * break are dropped. With `maxLines`, a longer result keeps that many lines, the last ending
 * in "…".
 */
export function wrapText(text: string, width: number, maxLines?: number): string[] {
  const lines: string[] = [];
  for (const paragraph of text.split('\n')) {
    if (displayWidth(paragraph) <= width) {
      lines.push(paragraph);
      continue;
    }
    // An indent stays on the first line, unless it would take half of it.
    const indent = /^\s*/.exec(paragraph)![0];
    let line = displayWidth(indent) * 2 <= width ? indent : '';
    let lineWidth = displayWidth(line);
    let hasWord = false;
    const tokens = paragraph.slice(indent.length).split(/(\s+)/);
    for (let at = 0; at < tokens.length; at += 2) {
      let word = tokens[at]!;
      if (word === '') continue;
      const space = hasWord ? tokens[at - 1]! : '';
      const needed = displayWidth(space) + displayWidth(word);
      if (lineWidth + needed <= width) {
        line += space + word;
        lineWidth += needed;
        hasWord = true;
        continue;
      }
      if (hasWord) lines.push(line);
      while (displayWidth(word) > width) {
        const [head, rest] = breakWord(word, width);
        lines.push(head);
        word = rest;
      }
      line = word;
      lineWidth = displayWidth(word);
      hasWord = word !== '';
    }
    if (hasWord) lines.push(line);
  }
  if (maxLines !== undefined && maxLines > 0 && lines.length > maxLines) {
    const kept = lines.slice(0, maxLines);
    kept[maxLines - 1] = `${cutToWidth(kept[maxLines - 1]!, Math.max(0, width - 1))}…`;
    return kept;
  }
  return lines;
}

/** Where a long word is better cut: after an FA's fields or a URL's parts, else after any punctuation. */
const BREAK_AFTER = [new Set(['.', ',', ';', '|', '/', '&', '?']), new Set([':', '@', '_', '-', '=', '}', ')', ']'])];

/** The first line's worth of a word wider than `width`, and the rest. */
function breakWord(word: string, width: number): [string, string] {
  const graphemes = PRINTABLE_ASCII.test(word) ? word.split('') : [...segmenter().segment(word)].map((s) => s.segment);
  let used = 0;
  let fits = 0;
  while (fits < graphemes.length && used + graphemeWidth(graphemes[fits]!) <= width) used += graphemeWidth(graphemes[fits++]!);
  fits = Math.max(1, fits);
  // A cut in the last two thirds of the line, after the best kind of break character there is.
  let cut = fits;
  search: for (const breaks of BREAK_AFTER) {
    for (let i = fits; i > Math.ceil(fits / 3); i--) {
      if (breaks.has(graphemes[i - 1]!)) {
        cut = i;
        break search;
      }
    }
  }
  return [graphemes.slice(0, cut).join(''), graphemes.slice(cut).join('')];
}

/** The longest start of `text` at most `width` columns wide. */
function cutToWidth(text: string, width: number): string {
  let out = '';
  let used = 0;
  for (const { segment } of segmenter().segment(text)) {
    const w = graphemeWidth(segment);
    if (used + w > width) break;
    out += segment;
    used += w;
  }
  return out;
}

/** The widest line of a cell. */
function cellWidth(text: string): number {
  return Math.max(0, ...text.split('\n').map(displayWidth));
}

const ANSI = /\u001b\[[0-9;?]*[A-Za-z]|\u001b\][^\u0007\u001b]*(?:\u0007|\u001b\\)/g;

/** Strips colour and other terminal escape codes. */
export function stripAnsi(text: string): string {
  return text.replace(ANSI, '');
}

/**
 * Columns a terminal gives `text` (one line): escape codes take none, combining marks and other
 * zero-width characters none, East Asian wide characters and emoji two. Never less than what
 * cli-table3's string-width measures (the width a line is padded from), so no line it lays out
 * is wider than its column.
 */
export function displayWidth(text: string): number {
  const plain = stripAnsi(text);
  // ASCII, the common case, without segmenting.
  if (PRINTABLE_ASCII.test(plain)) return plain.length;
  let width = 0;
  for (const { segment } of segmenter().segment(plain)) width += graphemeWidth(segment);
  return width;
}

const PRINTABLE_ASCII = /^[\u0020-\u007e]*$/;

let cachedSegmenter: Intl.Segmenter | undefined;
function segmenter(): Intl.Segmenter {
  cachedSegmenter ??= new Intl.Segmenter('en', { granularity: 'grapheme' });
  return cachedSegmenter;
}

const ZERO_WIDTH = /^[\p{Mn}\p{Me}\p{Cf}\p{Cc}]+$/u;
const EMOJI = /\p{Extended_Pictographic}|\p{Regional_Indicator}/u;

/**
 * A terminal's width for one grapheme, or the sum cli-table3 (string-width 4) makes of its code
 * points if that is more: a cell measured here is never cut there, and never wider on screen.
 */
function graphemeWidth(grapheme: string): number {
  const terminal = ZERO_WIDTH.test(grapheme) ? 0 : EMOJI.test(grapheme) || isWide(grapheme.codePointAt(0)!) ? 2 : 1;
  let codePoints = 0;
  for (const char of grapheme) {
    const cp = char.codePointAt(0)!;
    if (cp <= 0x1f || (cp >= 0x7f && cp <= 0x9f) || (cp >= 0x300 && cp <= 0x36f)) continue;
    codePoints += isWide(cp) ? 2 : 1;
  }
  return Math.max(terminal, codePoints);
}

/** East Asian Wide and Fullwidth ranges (as is-fullwidth-code-point, which cli-table3 uses). */
function isWide(cp: number): boolean {
  return (
    cp >= 0x1100 &&
    (cp <= 0x115f ||
      cp === 0x2329 ||
      cp === 0x232a ||
      (cp >= 0x2e80 && cp <= 0x3247 && cp !== 0x303f) ||
      (cp >= 0x3250 && cp <= 0x4dbf) ||
      (cp >= 0x4e00 && cp <= 0xa4c6) ||
      (cp >= 0xa960 && cp <= 0xa97c) ||
      (cp >= 0xac00 && cp <= 0xd7a3) ||
      (cp >= 0xf900 && cp <= 0xfaff) ||
      (cp >= 0xfe10 && cp <= 0xfe19) ||
      (cp >= 0xfe30 && cp <= 0xfe6b) ||
      (cp >= 0xff01 && cp <= 0xff60) ||
      (cp >= 0xffe0 && cp <= 0xffe6) ||
      (cp >= 0x1b000 && cp <= 0x1b001) ||
      (cp >= 0x1f200 && cp <= 0x1f251) ||
      (cp >= 0x20000 && cp <= 0x3fffd))
  );
}
