import { PassThrough, Writable } from 'node:stream';
import { isDeepStrictEqual } from 'node:util';
import Table from 'cli-table3';
import { describe, expect, it } from 'vitest';
import type { Io } from '../../src/cli/io.js';
import { reasonText } from '../../src/cli/output.js';
import { displayWidth, fitColumns, GUTTER, renderTable, stripAnsi, tableWidth, wrapText, type TableColumn } from '../../src/cli/table.js';

// The random rounds below check each property plainly and call expect (with the round as its
// message) only when it does not hold: thousands of expect calls and JSON contexts a round cost
// more than the code under test.

/** A small seeded generator, so a failure can be replayed. */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const WORDS = [
  'linked',
  'not',
  'found',
  'ID',
  'doesnt',
  'exist',
  'please',
  'link',
  'first',
  'account_number:',
  '0012345678',
  'bank_name:',
  'Example',
  'Bank',
  'succ.fa.not_linked_to_id',
  'http://127.0.0.1:8000/mapper/link',
];
const WIDE = ['漢字', 'é', 'e\u0301', '😀', 'ﾃｽﾄ', 'ไทย'];

/** Random cell text: words, long unbreakable tokens (FAs, URLs), punctuation, runs of spaces. */
function text(next: () => number, options: { maxWords: number; wide?: boolean; newlines?: boolean }): string {
  const words: string[] = [];
  const count = Math.floor(next() * options.maxWords);
  for (let i = 0; i < count; i++) {
    const roll = next();
    let word: string;
    if (roll < 0.1)
      word = Array.from({ length: 20 + Math.floor(next() * 200) }, () => 'abcdefghij.:/_-{}|0123456789'[Math.floor(next() * 28)]).join('');
    else if (options.wide && roll < 0.25) word = WIDE[Math.floor(next() * WIDE.length)]!.repeat(1 + Math.floor(next() * 8));
    else word = WORDS[Math.floor(next() * WORDS.length)]!;
    const separator = i === 0 ? '' : options.newlines && next() < 0.1 ? '\n' : next() < 0.1 ? '   ' : ' ';
    words.push(separator, word);
  }
  return words.join('');
}

const squeezed = (value: string) => value.replace(/\s+/g, '');

function io(columns: number, env: Record<string, string> = {}): { io: Io; stdout: () => string } {
  let out = '';
  const stdin = new PassThrough();
  stdin.end();
  return {
    io: {
      stdout: new Writable({ write: (chunk: Buffer, _encoding, done) => ((out += chunk.toString()), done()) }),
      stderr: new Writable({ write: (_chunk: Buffer, _encoding, done) => done() }),
      stdin,
      stdoutIsTTY: false,
      stderrIsTTY: false,
      stdinIsTTY: false,
      env: { NO_COLOR: '1', ...env },
      cwd: '/',
      home: '/',
      columns,
    },
    stdout: () => out,
  };
}

describe('fitColumns', () => {
  it('never exceeds the width, keeps fixed columns whole, gives no column more than it needs (random columns, widths 80..200)', () => {
    const next = random(17);
    for (let round = 0; round < 3000; round++) {
      const width = 80 + Math.floor(next() * 121);
      const needs = Array.from({ length: 1 + Math.floor(next() * 6) }, () => {
        const fixed = next() < 0.4;
        return { natural: fixed ? 1 + Math.floor(next() * 24) : Math.floor(next() * 300), fixed };
      });
      const widths = fitColumns(needs, width);
      const context = () => JSON.stringify({ round, width, needs, widths });
      const used = widths.reduce((a, b) => a + b, 0) + GUTTER * (needs.length - 1);
      if (!(used <= width)) expect(used, context()).toBeLessThanOrEqual(width);
      needs.forEach((need, i) => {
        const got = widths[i]!;
        if (!(got >= 1)) expect(got, context()).toBeGreaterThanOrEqual(1);
        if (!(got <= Math.max(1, need.natural))) expect(got, context()).toBeLessThanOrEqual(Math.max(1, need.natural));
        if (need.fixed && got !== Math.max(1, need.natural)) expect(got, context()).toBe(Math.max(1, need.natural));
      });
      // A table that fits as it is stays as it is.
      const total = needs.reduce((sum, need) => sum + Math.max(1, need.natural), 0) + GUTTER * (needs.length - 1);
      const natural = needs.map((need) => Math.max(1, need.natural));
      if (total <= width && !isDeepStrictEqual(widths, natural)) expect(widths, context()).toEqual(natural);
    }
  });

  it('shares fairly: a narrow column gets what it needs, the wide ones split the rest evenly', () => {
    // 80 - 3 gutters = 74; outcome 9 fixed; 65 left for 10, 40 and 100: 10, then 28 and 27.
    expect(
      fitColumns(
        [
          { natural: 10, fixed: false },
          { natural: 9, fixed: true },
          { natural: 40, fixed: false },
          { natural: 100, fixed: false },
        ],
        80,
      ),
    ).toEqual([10, 9, 28, 27]);
    // Fixed columns that leave no room: everything shares.
    expect(
      fitColumns(
        [
          { natural: 70, fixed: true },
          { natural: 30, fixed: true },
          { natural: 50, fixed: false },
        ],
        80,
      ).reduce((a, b) => a + b, 0),
    ).toBe(76);
  });
});

describe('wrapText', () => {
  it('keeps every line within the width and every character but spaces (random text, widths 2..60)', () => {
    const next = random(4242);
    for (let round = 0; round < 3000; round++) {
      const width = 2 + Math.floor(next() * 59);
      const original = text(next, { maxWords: 30, wide: true, newlines: true });
      const lines = wrapText(original, width);
      const context = () => JSON.stringify({ round, width, original, lines });
      for (const line of lines) if (!(displayWidth(line) <= width)) expect(displayWidth(line), context()).toBeLessThanOrEqual(width);
      if (squeezed(lines.join('\n')) !== squeezed(original)) expect(squeezed(lines.join('\n')), context()).toBe(squeezed(original));
    }
  });

  it('with maxLines: at most that many lines, the last ending in "…" when something was left out', () => {
    const next = random(99);
    for (let round = 0; round < 1000; round++) {
      const width = 2 + Math.floor(next() * 40);
      const original = text(next, { maxWords: 40 });
      const full = wrapText(original, width);
      const cut = wrapText(original, width, 3);
      const context = () => JSON.stringify({ round, width, original, cut });
      if (!(cut.length <= 3)) expect(cut.length, context()).toBeLessThanOrEqual(3);
      for (const line of cut) if (!(displayWidth(line) <= width)) expect(displayWidth(line), context()).toBeLessThanOrEqual(width);
      if (full.length <= 3) {
        if (!isDeepStrictEqual(cut, full)) expect(cut, context()).toEqual(full);
      } else {
        if (!cut[2]!.endsWith('…')) expect(cut[2]!.endsWith('…'), context()).toBe(true);
        // Shortened by design: what is shown is the start of the text.
        const start = squeezed(full.join('')).startsWith(squeezed(cut.join('')).slice(0, -1));
        if (!start) expect(start, context()).toBe(true);
      }
    }
  });

  it('breaks at spaces, and a long FA or URL after its own punctuation', () => {
    expect(wrapText("ID doesn't exist, please link first", 12)).toEqual(["ID doesn't", 'exist,', 'please link', 'first']);
    expect(wrapText('account_number:{account_number}.branch_name:{branch_name}', 40)).toEqual([
      'account_number:{account_number}.',
      'branch_name:{branch_name}',
    ]);
    expect(wrapText('http://127.0.0.1:8000/mapper/link', 20)).toEqual(['http://127.0.0.', '1:8000/mapper/link']);
    expect(wrapText('0012345678901234567890', 8)).toEqual(['00123456', '78901234', '567890']);
    expect(wrapText('a\nb', 10)).toEqual(['a', 'b']);
  });
});

describe('displayWidth', () => {
  it('counts terminal columns: no colour codes, wide characters and emoji two, combining marks none', () => {
    expect(displayWidth('\u001b[36mreason\u001b[39m')).toBe(6);
    expect(displayWidth('漢字')).toBe(4);
    expect(displayWidth('😀')).toBe(2);
    expect(displayWidth('é')).toBe(1);
    expect(displayWidth('e\u0301')).toBe(1);
    expect(stripAnsi('\u001b[33m3\u001b[0m')).toBe('3');
  });
});

describe('renderTable', () => {
  it('fits 80..200 columns and keeps each cell whole in its column (random contents)', () => {
    const next = random(7);
    for (let round = 0; round < 300; round++) {
      const width = 80 + Math.floor(next() * 121);
      const columns: TableColumn[] = Array.from({ length: 2 + Math.floor(next() * 4) }, (_, i) => ({
        header: `column ${i}`,
        ...(next() < 0.3 ? { fit: 'fixed' as const } : {}),
      }));
      const rows = Array.from({ length: 1 + Math.floor(next() * 5) }, () =>
        columns.map((column, i) =>
          i === 0
            ? `row${Math.floor(next() * 1000)}`
            : column.fit === 'fixed'
              ? text(next, { maxWords: 2 }).slice(0, 12)
              : text(next, { maxWords: 20 }),
        ),
      );
      const { io: terminal } = io(width);
      const table = renderTable(terminal, columns, rows);
      const lines = table.split('\n');
      const context = () => JSON.stringify({ round, width, rows, table });
      for (const line of lines) if (!(displayWidth(line) <= width)) expect(displayWidth(line), context()).toBeLessThanOrEqual(width);

      // Read the cells back from where the columns are.
      const naturals = columns.map((column, i) =>
        Math.max(column.header.length, ...rows.map((row) => Math.max(0, ...row[i]!.split('\n').map((l) => l.length)))),
      );
      const widths = fitColumns(
        columns.map((column, i) => ({ natural: naturals[i]!, fixed: column.fit === 'fixed' })),
        width,
      );
      const starts = widths.map((_, i) => widths.slice(0, i).reduce((a, b) => a + b + GUTTER, 0));
      const cell = (line: string, i: number) => line.slice(starts[i], starts[i]! + widths[i]!);
      const body: string[][] = [];
      for (const line of lines.slice(1)) {
        if (line === '') continue;
        if (cell(line, 0).trim() !== '') body.push(columns.map(() => ''));
        body[body.length - 1]!.forEach((_, i, row) => (row[i] += cell(line, i)));
      }
      const read = body.map((row) => row.map(squeezed));
      const given = rows.map((row) => row.map(squeezed));
      if (!isDeepStrictEqual(read, given)) expect(read, context()).toEqual(given);
    }
  });

  it('takes the terminal width, at least 80, and 80 when stdout is not a terminal', () => {
    expect(tableWidth(io(0).io)).toBe(80);
    expect(tableWidth(io(40).io)).toBe(80);
    expect(tableWidth(io(132).io)).toBe(132);
    expect(tableWidth({ ...io(132).io, stderrColumns: 100 }, 'stderr')).toBe(100);
  });

  it('has one style: a header, two spaces between columns, no frame, a blank line between rows of several lines', () => {
    const { io: terminal } = io(80);
    expect(
      renderTable(
        terminal,
        [{ header: 'id' }, { header: 'outcome', fit: 'fixed' }],
        [
          ['B1', 'linked'],
          ['B2', 'not found'],
        ],
      ),
    ).toBe('id  outcome\nB1  linked\nB2  not found');
    expect(
      renderTable(
        terminal,
        [{ header: 'id' }, { header: 'fa' }],
        [
          ['B1', 'a: 1\nb: 2'],
          ['B2', ''],
        ],
      ),
    ).toBe('id  fa\nB1  a: 1\n    b: 2\n\nB2');
    expect(
      renderTable(
        terminal,
        [{ header: 'n', align: 'right', fit: 'fixed' }, { header: 'x' }],
        [
          ['1', 'a'],
          ['10', 'b'],
        ],
        { head: false },
      ),
    ).toBe(' 1  a\n10  b');
  });

  it('colours the header only when colour is on, and the codes take no room', () => {
    const { io: plain } = io(80);
    const { io: coloured } = io(80, { FORCE_COLOR: '1' });
    const columns = [{ header: 'id' }, { header: 'reason' }];
    const rows = [['B1', 'x'.repeat(200)]];
    expect(renderTable(plain, columns, rows)).not.toMatch(/\u001b/);
    const text = renderTable(coloured, columns, rows);
    expect(text).toMatch(/^\u001b\[36mid\u001b\[39m/);
    expect(stripAnsi(text)).toBe(renderTable(plain, columns, rows));
  });
});

/**
 * The table as cli-table3 drew it before renderTable drew it itself: the same widths and lines,
 * handed to cli-table3 one line a row, without a frame.
 */
function drawnByCliTable3(
  io: Io,
  columns: readonly TableColumn[],
  rows: readonly (readonly string[])[],
  head: boolean,
  color: boolean,
): string {
  const cellWidth = (value: string) => Math.max(0, ...value.split('\n').map(displayWidth));
  const naturals = columns.map((column, i) => Math.max(head ? cellWidth(column.header) : 0, ...rows.map((row) => cellWidth(row[i] ?? ''))));
  const widths = fitColumns(
    columns.map((column, i) => ({ natural: naturals[i]!, fixed: column.fit === 'fixed' })),
    tableWidth(io),
  );
  const laid = rows.map((row) => columns.map((column, i) => wrapText(row[i] ?? '', widths[i]!, column.maxLines)));
  const none = { top: '', 'top-mid': '', 'top-left': '', 'top-right': '', bottom: '', 'bottom-mid': '', 'bottom-left': '' };
  const table = new Table({
    head: head
      ? columns.map((column, i) =>
          wrapText(column.header, widths[i]!)
            .map((line) => (color && line ? `\u001b[36m${line}\u001b[39m` : line))
            .join('\n'),
        )
      : [],
    chars: { ...none, 'bottom-right': '', left: '', 'left-mid': '', mid: '', 'mid-mid': '', right: '', 'right-mid': '', middle: '  ' },
    colWidths: widths,
    colAligns: columns.map((column) => column.align ?? 'left'),
    style: { 'padding-left': 0, 'padding-right': 0, head: [], border: [], compact: true },
  });
  const spaced = laid.some((row) => row.some((cell) => cell.length > 1));
  laid.forEach((row, at) => {
    if (spaced && at > 0) table.push(columns.map(() => ''));
    const height = Math.max(1, ...row.map((cell) => cell.length));
    for (let line = 0; line < height; line++) table.push(row.map((cell) => cell[line] ?? ''));
  });
  return table
    .toString()
    .split('\n')
    .map((line) => line.trimEnd())
    .join('\n');
}

describe('renderTable, drawn without cli-table3', () => {
  it('draws what cli-table3 drew, byte for byte (random tables: wide characters, emoji sequences, colour, alignment, several lines)', () => {
    const next = random(29);
    const odd = ['👨‍👩‍👧', '1️⃣', '🇺🇸', '©', '☺', '\u200b', '\u3000', 'ऄ्ष', '🏳️‍🌈', '가각', 'Å'];
    for (let round = 0; round < 250; round++) {
      const width = 60 + Math.floor(next() * 150);
      const wide = next() < 0.7;
      const cell = (maxWords: number) => {
        const value = text(next, { maxWords, wide, newlines: true });
        return wide && next() < 0.3 ? `${value} ${odd[Math.floor(next() * odd.length)]!.repeat(1 + Math.floor(next() * 6))}` : value;
      };
      const columns: TableColumn[] = Array.from({ length: 1 + Math.floor(next() * 5) }, (_, i) => ({
        header: next() < 0.2 ? cell(4).replace(/\n/g, ' ') : `column ${i}`,
        ...(next() < 0.3 ? { fit: 'fixed' as const } : {}),
        ...(next() < 0.3 ? { align: 'right' as const } : {}),
        ...(next() < 0.2 ? { maxLines: 1 + Math.floor(next() * 3) } : {}),
      }));
      const rows = Array.from({ length: Math.floor(next() * 8) }, () =>
        columns
          .map((column) =>
            column.fit !== 'fixed'
              ? cell(20)
              : // A count painted as the bulk summary paints it, or a few words.
                next() < 0.2
                ? `\u001b[33m${Math.floor(next() * 1000)}\u001b[0m`
                : cell(3).slice(0, 14),
          )
          // A short row: its missing cells are empty.
          .slice(0, next() < 0.1 ? 1 : undefined),
      );
      const color = next() < 0.5;
      const head = next() < 0.7;
      const { io: terminal } = io(width, color ? { FORCE_COLOR: '1' } : {});
      const drawn = renderTable(terminal, columns, rows, { head });
      const before = drawnByCliTable3(terminal, columns, rows, head, color);
      if (drawn !== before) expect(drawn, JSON.stringify({ round, width, columns, rows, head, color })).toBe(before);
    }
  });

  it('draws 20,000 rows of eight lines (160,000 lines) and 150,000 rows of one, in their columns (cli-table3 overflowed the stack)', () => {
    const { io: terminal } = io(80);
    const fa = (n: number) =>
      `account_number: ${String(n).padStart(10, '0')}\nbranch_name: Main\nbranch_code: 0001\nbank_name: Example Bank\nbank_code: EXB\nfa_type: BANK\nstrategy_id: 2`;
    const columns: TableColumn[] = [
      { header: 'line', fit: 'fixed', align: 'right' },
      { header: 'id' },
      { header: 'outcome', fit: 'fixed' },
      { header: 'financial address' },
      { header: 'reason', maxLines: 3 },
    ];
    const rows = Array.from({ length: 20_000 }, (_, i) => [String(i + 2), `BENE_${String(i).padStart(6, '0')}`, 'found', fa(i), '']);
    const lines = renderTable(terminal, columns, rows).split('\n');
    // A header, seven lines a row and a blank line between rows.
    expect(lines).toHaveLength(1 + 20_000 * 7 + 19_999);
    expect(lines[0]).toBe(' line  id           outcome  financial address           reason');
    expect(lines.slice(1, 9)).toEqual([
      '    2  BENE_000000  found    account_number: 0000000000',
      '                             branch_name: Main',
      '                             branch_code: 0001',
      '                             bank_name: Example Bank',
      '                             bank_code: EXB',
      '                             fa_type: BANK',
      '                             strategy_id: 2',
      '',
    ]);
    expect(lines.at(-7)).toBe('20001  BENE_019999  found    account_number: 0000019999');
    expect(lines.at(-1)).toBe('                             strategy_id: 2');
    expect(lines.filter((line) => line.length > 80)).toEqual([]);

    const many = Array.from({ length: 150_000 }, (_, i) => [String(i + 1), `B${i}`, i % 3 === 0 ? 'not found' : 'found']);
    const short = renderTable(terminal, columns.slice(0, 3), many).split('\n');
    expect(short).toHaveLength(150_001);
    expect(short[0]).toBe('  line  id       outcome');
    expect(short[1]).toBe('     1  B0       not found');
    expect(short.at(-1)).toBe('150000  B149999  found');
  });
});

describe('reasons in words', () => {
  it("says SPAR's codes in words, by operation; drops SPAR's stock messages; shows unknown codes as they came", () => {
    expect(reasonText('resolve', 'succ.fa.not_linked_to_id', "ID doesn't exist, please link first")).toBe('not linked');
    expect(reasonText('link', 'rjct.reference_id.duplicate', 'ID and FA are already mapped')).toBe('already linked');
    expect(reasonText('update', 'rjct.reference_id.duplicate', 'ID doesnt exist please link first')).toBe('not linked');
    expect(reasonText('unlink', 'rjct.id.invalid', 'ID doesnt exist please link first')).toBe('not linked');
    expect(reasonText('link', 'rjct.id.invalid', 'ID is null')).toBe('no ID');
    expect(reasonText('link', 'rjct.fa.invalid', 'the constructed FA is empty')).toBe('invalid FA: the constructed FA is empty');
    expect(reasonText('link', 'rjct.reference_id.duplicate', 'dry run: ID and FA are already mapped')).toBe('already linked');
    // G2P Connect: the server's own code, kept in the message for -o json, is left out.
    expect(reasonText('resolve', 'succ.fa.not_linked_to_id', 'Mapping doesnt exist against given ID (server code succ.id.not_found)')).toBe(
      'not linked',
    );
    expect(reasonText('link', 'rjct.internal.error', 'Internal server error')).toBe('server error');
    expect(reasonText('link', 'rjct.something.new', 'a new reason')).toBe('rjct.something.new: a new reason');
    expect(reasonText('link', 'kept.changed_since', null)).toBe('kept.changed_since');
  });
});
