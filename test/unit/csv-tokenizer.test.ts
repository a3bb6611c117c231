import { parse } from 'csv-parse/sync';
import { describe, expect, it } from 'vitest';
import { CsvSyntaxError, CsvTokenizer, type CsvRow } from '../../src/adapters/input/csv-tokenizer.js';

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
  it('reads rows with the line each starts on: BOM, CRLF, blank lines, quoted line breaks, a lone CR as data', () => {
    const text = '\uFEFFid,name\r\n0001,"Santos,\r\nMaria"\r\n\r\n0002,"Ana\rB"\n0003,Ñoño\n   \n0004,"x\ny\nz"\r\n0005,last';
    expect(readAll(text)).toEqual([
      { line: 1, cells: ['id', 'name'], text: 'id,name' },
      { line: 2, cells: ['0001', 'Santos,\r\nMaria'] },
      { line: 5, cells: ['0002', 'Ana\rB'] },
      { line: 6, cells: ['0003', 'Ñoño'], text: '0003,Ñoño' },
      { line: 8, cells: ['0004', 'x\ny\nz'] },
      { line: 11, cells: ['0005', 'last'], text: '0005,last' },
    ]);
  });

  it('keeps cells exactly as written: spaces, leading zeros, doubled quotes, empty cells, another delimiter', () => {
    expect(readAll(' 007 ,"a ""b"" c",,""\n')).toEqual([{ line: 1, cells: [' 007 ', 'a "b" c', '', ''] }]);
    expect(readAll('a;b,c;"d;e"\n', ';')).toEqual([{ line: 1, cells: ['a', 'b,c', 'd;e'] }]);
    expect(readAll('a\tb\n', '\t')).toEqual([{ line: 1, cells: ['a', 'b'], text: 'a\tb' }]);
  });

  it('gives the same rows however the text is cut into pieces', () => {
    const text = 'h1,h2\r\n"a\r\n""b""",c\r\n\r\nd,"e,f"\n"g"\r\n"",""';
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
      const ending = next() < 0.5 ? '\n' : '\r\n';
      const text =
        rows.map((row) => row.map((cell) => quoteCell(cell, delimiter, next() < 0.2)).join(delimiter)).join(ending) +
        (next() < 0.5 ? ending : '');
      const expected = parse(text, {
        delimiter,
        record_delimiter: ['\r\n', '\n'],
        skip_empty_lines: true,
        relax_column_count: true,
      }) as string[][];
      const cuts = [Math.floor(next() * text.length), Math.floor(next() * text.length)].sort((x, y) => x - y);
      const got = readAll(text, delimiter, cuts).map((row) => row.cells);
      expect(got, JSON.stringify(text)).toEqual(expected);
      expect(got).toEqual(rows);
      // A row's text, when it has one, is the row as written: its cells split at the delimiter.
      for (const row of readAll(text, delimiter, cuts)) {
        if (row.text !== undefined) expect(row.text.split(delimiter)).toEqual(row.cells);
      }
    }
  });

  it('refuses what cannot be read without guessing, naming the line', () => {
    expect(syntaxError('a,b\nc,"d\n\ne')).toMatchObject({ line: 2, message: expect.stringMatching(/quoted cell is never closed/) });
    expect(syntaxError('a,b\n"c"x,d\n')).toMatchObject({ line: 2, message: expect.stringMatching(/after a quoted cell comes "x"/) });
    expect(syntaxError('a,b\nc,d"e\n')).toMatchObject({ line: 2, message: expect.stringMatching(/quote inside an unquoted cell/) });
    expect(syntaxError('a,"b\nc",x"y\n')).toMatchObject({ line: 2, message: expect.stringMatching(/quote inside an unquoted cell/) });
  });

  it('reads a long file in one pass per chunk (no quadratic rescans)', () => {
    const row = '000400000001,Person 1 Dela Cruz,0917 555 0001,bank,LBP,0012,000000000001\n';
    const text = `${'h,'.repeat(6)}h\n${row.repeat(50_000)}"quoted ""end""",x,x,x,x,x,x\n`;
    const rows = readAll(text, ',', [1_000_000, 2_000_000]);
    expect(rows).toHaveLength(50_002);
    expect(rows.at(-1)).toEqual({ line: 50_002, cells: ['quoted "end"', 'x', 'x', 'x', 'x', 'x', 'x'] });
  });
});

describe('CsvTokenizer errors after good rows', () => {
  it('hands over the rows before a bad one first, then raises the error on the next call', () => {
    const tokenizer = new CsvTokenizer(',');
    expect(tokenizer.push('h1,h2\nok,1\nbad"x,2\nnever,3\n').map((row) => row.cells)).toEqual([
      ['h1', 'h2'],
      ['ok', '1'],
    ]);
    expect(() => tokenizer.end()).toThrow(expect.objectContaining({ line: 3 }));
  });
});
