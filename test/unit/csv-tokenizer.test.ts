import { parse } from 'csv-parse/sync';
import { describe, expect, it } from 'vitest';
import { CsvSyntaxError, CsvTokenizer, type CsvRow, WRITTEN_KEPT } from '../../src/adapters/input/csv-tokenizer.js';
import { unusableDelimiter } from '../../src/core/csv-delimiter.js';

function readAll(text: string, delimiter = ',', pieces: readonly number[] = []): CsvRow[] {
  const tokenizer = new CsvTokenizer(delimiter);
  const rows: CsvRow[] = [];
  let from = 0;
  for (const cut of pieces) {
    rows.push(...tokenizer.push(text.slice(from, cut)));
    from = cut;
  }
  rows.push(...tokenizer.push(text.slice(from)));
  rows.push(...tokenizer.end());
  return rows;
}

function readAllLimited(text: string, limit: number): CsvRow[] {
  const tokenizer = new CsvTokenizer(',', undefined, undefined, limit);
  return [...tokenizer.push(text), ...tokenizer.end()];
}

function syntaxError(text: string): CsvSyntaxError {
  try {
    readAll(text);
  } catch (error) {
    if (error instanceof CsvSyntaxError) return error;
    throw error;
  }
  throw new Error(`no error for ${JSON.stringify(text)}`);
}

/** A small seeded generator, so a failure can be replayed. */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state * 1664525 + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
}

const ALPHABET = ['a', 'Z', '0', ' ', ',', ';', '"', '\n', '\r\n', '\r', 'ñ', '名', '😀', '=', '\t'];

function randomCell(next: () => number): string {
  const length = Math.floor(next() * 6);
  let cell = '';
  for (let i = 0; i < length; i++) cell += ALPHABET[Math.floor(next() * ALPHABET.length)];
  return cell;
}

function quoteCell(cell: string, delimiter: string, always: boolean): string {
  return always || cell.includes(delimiter) || /["\r\n]/.test(cell) || cell === '' ? `"${cell.replace(/"/g, '""')}"` : cell;
}

describe('CsvTokenizer', () => {
  it('reads rows with the line each starts on: BOM, CRLF, blank lines, quoted line breaks, a lone CR in a quoted cell as data', () => {
    const text = '\uFEFFid,name\r\n0001,"Santos,\r\nMaria"\r\n\r\n0002,"Ana\rB"\n0003,Ñoño\n   \n0004,"x\ny\nz"\r\n0005,last';
    expect(readAll(text)).toEqual([
      { line: 1, cells: ['id', 'name'], text: 'id,name' },
      { line: 2, cells: ['0001', 'Santos,\r\nMaria'] },
      // The CR in Ana's cell is kept, and counts as a line break (editors show one there).
      { line: 5, cells: ['0002', 'Ana\rB'] },
      { line: 7, cells: ['0003', 'Ñoño'], text: '0003,Ñoño' },
      { line: 9, cells: ['0004', 'x\ny\nz'] },
      { line: 12, cells: ['0005', 'last'], text: '0005,last' },
    ]);
  });

  it('ends rows at a lone CR too (old Excel for Mac), counting it as one line break; a CRLF cut between pieces stays one', () => {
    const text = 'id,name\r1,"a\rb"\r\r2,x\r\n3,y\r';
    const rows = [
      { line: 1, cells: ['id', 'name'], text: 'id,name' },
      { line: 2, cells: ['1', 'a\rb'] },
      { line: 5, cells: ['2', 'x'], text: '2,x' },
      { line: 6, cells: ['3', 'y'], text: '3,y' },
    ];
    expect(readAll(text)).toEqual(rows);
    // Every cut, the CR of "x\r\n" at the end of one piece and its LF at the start of the next among them.
    for (let cut = 0; cut <= text.length; cut++) expect(readAll(text, ',', [cut]), `cut at ${cut}`).toEqual(rows);
    expect(readAll('"a"\r\nb\n', ',', [4])).toEqual([
      { line: 1, cells: ['a'] },
      { line: 2, cells: ['b'], text: 'b' },
    ]);
  });

  it('keeps cells exactly as written: spaces, leading zeros, doubled quotes, empty cells, another delimiter', () => {
    expect(readAll(' 007 ,"a ""b"" c",,""\n')).toEqual([{ line: 1, cells: [' 007 ', 'a "b" c', '', ''] }]);
    expect(readAll('a;b,c;"d;e"\n', ';')).toEqual([{ line: 1, cells: ['a', 'b,c', 'd;e'] }]);
    expect(readAll('a\tb\n', '\t')).toEqual([{ line: 1, cells: ['a', 'b'], text: 'a\tb' }]);
  });

  it('gives the same rows however the text is cut into pieces', () => {
    const text = 'h1,h2\r\n"a\r\n""b""",c\r\n\r\nd,"e,f"\n"g"\r\n"",""\rx,"y\rz"\r\rbad"q,1\r"c"x,"2\n"\n  \r\nlast,';
    const whole = readAll(text);
    for (let a = 0; a <= text.length; a++) {
      for (let b = a; b <= text.length; b += 3) expect(readAll(text, ',', [a, b])).toEqual(whole);
    }
  });

  it('agrees with csv-parse on random files, cut at random points', () => {
    const next = random(20261121);
    for (let file = 0; file < 300; file++) {
      const delimiter = next() < 0.7 ? ',' : ';';
      const width = 1 + Math.floor(next() * 4);
      const rows: string[][] = [];
      for (let r = 0; r < 1 + Math.floor(next() * 6); r++) {
        // A row of one blank cell is a blank line, which is skipped (tested above).
        rows.push(
          Array.from({ length: width }, () => {
            const cell = randomCell(next);
            return width === 1 && cell.trim() === '' ? 'x' : cell;
          }),
        );
      }
      const ending = next() < 0.4 ? '\n' : next() < 0.6 ? '\r\n' : '\r';
      const text =
        rows.map((row) => row.map((cell) => quoteCell(cell, delimiter, next() < 0.2)).join(delimiter)).join(ending) +
        (next() < 0.5 ? ending : '');
      const expected = parse(text, {
        delimiter,
        record_delimiter: ['\r\n', '\n', '\r'],
        skip_empty_lines: true,
        // A row of empty or blank cells (`,,`) is skipped as a blank line is.
        skip_records_with_empty_values: true,
        relax_column_count: true,
      }) as string[][];
      const cuts = [Math.floor(next() * text.length), Math.floor(next() * text.length)].sort((x, y) => x - y);
      const got = readAll(text, delimiter, cuts).map((row) => row.cells);
      expect(got, JSON.stringify(text)).toEqual(expected);
      expect(got).toEqual(rows.filter((row) => row.some((cell) => cell.trim() !== '')));
      // A row's text, when it has one, is the row as written: its cells split at the delimiter.
      for (const row of readAll(text, delimiter, cuts)) {
        if (row.text !== undefined) expect(row.text.split(delimiter)).toEqual(row.cells);
      }
    }
  });

  it('hands over a row it cannot read without guessing as an error with its line, and reads the rows after it', () => {
    const text = 'a,b\n"c"x,"d\ne"\nok,1\nf,g"h\n"i\n2",j\r\nk,l\n';
    const rows = [
      { line: 1, cells: ['a', 'b'], text: 'a,b' },
      // Text after the closing quote: the row still ends after its quoted cell "d\ne".
      // Its text as written is handed over too, whole, however the text is cut (its reject shows it).
      {
        line: 2,
        cells: [],
        error: expect.stringMatching(/^after a quoted cell comes "x" where "," or the end of the line belongs/),
        written: '"c"x,"d\ne"',
      },
      { line: 4, cells: ['ok', '1'], text: 'ok,1' },
      { line: 5, cells: [], error: expect.stringMatching(/^a quote inside an unquoted cell/), written: 'f,g"h' },
      { line: 6, cells: ['i\n2', 'j'] },
      { line: 8, cells: ['k', 'l'], text: 'k,l' },
    ];
    expect(readAll(text)).toEqual(rows);
    for (let cut = 0; cut <= text.length; cut++) expect(readAll(text, ',', [cut]), `cut at ${cut}`).toEqual(rows);
  });

  it('refuses a file that cannot be read at all, naming the line: a quote never closed, a header it cannot read', () => {
    expect(syntaxError('a,b\nc,"d\n\ne')).toMatchObject({ line: 2, message: expect.stringMatching(/quoted cell is never closed/) });
    // The line the quote opened on, after line breaks in other quoted cells.
    expect(syntaxError('a,b\n"1\r2",x\nc,d\r\ne,"f\ng')).toMatchObject({ line: 5 });
    // In a row already rejected (text after a closing quote), a quote opened later and never closed.
    expect(syntaxError('a,b\n"c"x,"d\n')).toMatchObject({ line: 2, message: expect.stringMatching(/never closed/) });
    expect(syntaxError('a,b"c\nd,e\n')).toMatchObject({
      line: 1,
      message: expect.stringMatching(/^the header row cannot be read: a quote inside/),
    });
  });

  it('rejects a row over the limit without keeping it, skips to its end, and reads on', () => {
    const tokenizer = new CsvTokenizer(',', undefined, undefined, 100);
    const cell = 'A'.repeat(60);
    const rows: CsvRow[] = [];
    for (const piece of ['h1,h2\n1,2\nbig,"', cell, cell, '",x\n"', 'y\n', cell, cell, cell, '"\n3,4\n', 'z'.repeat(150), '\n5,6']) {
      rows.push(...tokenizer.push(piece));
    }
    rows.push(...tokenizer.end());
    expect(rows).toEqual([
      { line: 1, cells: ['h1', 'h2'], text: 'h1,h2' },
      { line: 2, cells: ['1', '2'], text: '1,2' },
      {
        line: 3,
        cells: [],
        error:
          'the row is larger than 100 characters, the most sparctl reads as one row (a quote opened by mistake makes a row run on to the next quote)',
        written: `big,"${cell}${cell}",x`,
      },
      // Up to WRITTEN_KEPT characters of a row are kept for its reject: all of these.
      { line: 4, cells: [], error: expect.stringMatching(/larger than 100 characters/), written: `"y\n${cell}${cell}${cell}"` },
      { line: 6, cells: ['3', '4'], text: '3,4' },
      { line: 7, cells: [], error: expect.stringMatching(/larger than 100 characters/), written: 'z'.repeat(150) },
      { line: 8, cells: ['5', '6'], text: '5,6' },
    ]);
    // A row of exactly the limit is read.
    expect(readAllLimited(`h\n${'b'.repeat(96)},"c"\n`, 100)[1]).toEqual({ line: 2, cells: ['b'.repeat(96), 'c'] });
    expect(readAllLimited(`h\n${'b'.repeat(97)},"c"\n`, 100)[1]).toEqual({
      line: 2,
      cells: [],
      error: expect.any(String),
      written: `${'b'.repeat(97)},"c"`,
    });
  });

  it('reads past a 70 MiB quoted cell in 64 KiB pieces in linear time, keeping no more than the 64 MiB limit', () => {
    const tokenizer = new CsvTokenizer(',');
    const piece = 'A'.repeat(64 * 1024);
    const rows = [...tokenizer.push('id,name\n1,"'), ...tokenizer.push('x\n')];
    const started = performance.now();
    for (let i = 0; i < 70 * 16; i++) rows.push(...tokenizer.push(piece));
    rows.push(...tokenizer.push('",2\n3,"4'), ...tokenizer.push('"\n'), ...tokenizer.end());
    expect(performance.now() - started).toBeLessThan(5_000);
    expect(rows).toEqual([
      { line: 1, cells: ['id', 'name'], text: 'id,name' },
      {
        line: 2,
        cells: [],
        error: expect.stringMatching(/^the row is larger than 64 MiB/),
        // Its beginning only: the rest was counted, not kept.
        written: `1,"x\n${'A'.repeat(WRITTEN_KEPT - 5)}… (${70 * 2 ** 20 + 8} characters in all)`,
      },
      { line: 4, cells: ['3', '4'] },
    ]);
  });

  it('reads an 8 MiB quoted cell with doubled quotes as one cell', () => {
    const tokenizer = new CsvTokenizer(',');
    const piece = `${'a'.repeat(62)}""`.repeat(1024);
    const rows = [...tokenizer.push('id,name\n1,"')];
    for (let i = 0; i < 128; i++) rows.push(...tokenizer.push(piece));
    rows.push(...tokenizer.push('"\n'), ...tokenizer.end());
    expect(rows).toHaveLength(2);
    expect(rows[1]!.cells[1]).toBe(`${'a'.repeat(62)}"`.repeat(128 * 1024));
  });

  it('reads a long file in one pass per chunk (no quadratic rescans)', () => {
    const row = '000400000001,Person 1 Dela Cruz,0917 555 0001,bank,LBP,0012,000000000001\n';
    const text = `${'h,'.repeat(6)}h\n${row.repeat(50_000)}"quoted ""end""",x,x,x,x,x,x\n`;
    const rows = readAll(text, ',', [1_000_000, 2_000_000]);
    expect(rows).toHaveLength(50_002);
    expect(rows.at(-1)).toEqual({ line: 50_002, cells: ['quoted "end"', 'x', 'x', 'x', 'x', 'x', 'x'] });
  });
});

describe('unusableDelimiter', () => {
  it('accepts one character other than a quote or a line break', () => {
    for (const ok of [',', ';', '\t', '|', ' ']) expect(unusableDelimiter(ok)).toBeUndefined();
    for (const bad of ['"', '\n', '\r', '', ';;', '😀'])
      expect(unusableDelimiter(bad)).toBe('a delimiter must be one character other than a quote or a line break');
  });
});
