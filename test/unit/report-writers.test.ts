import { existsSync, readdirSync, readFileSync, renameSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'csv-parse/sync';
import { describe, expect, it } from 'vitest';
import { Readable } from 'node:stream';
import { openInputFile } from '../../src/adapters/input/record-file.js';
import {
  REJECT_COLUMNS,
  openRejectFile,
  openResultsFile,
  rejectsFormat,
  removeIfSame,
  resultsFormatFromPath,
  stagingPath,
} from '../../src/adapters/files/report-writers.js';
import { hostTag } from '../../src/adapters/files/pid-lock.js';
import type { RecordEvent } from '../../src/core/bulk/events.js';
import { DEFAULT_CSV_LAYOUT } from '../../src/core/csv-delimiter.js';
import { tempDir } from '../helpers/tmp.js';

const COLUMNS = ['id', 'name', 'account_number', 'note'] as const;
/** The layout a CSV input's reader found: its cells are written as read. */
const CSV = DEFAULT_CSV_LAYOUT;

/** Values a naive writer would mangle: zeros, commas, quotes, line breaks, scripts, formulas. */
const RAW_ROWS: Record<string, string>[] = [
  { id: '000123', name: 'Santos, Maria', account_number: '0012345678', note: 'said "hi"' },
  { id: '0042', name: 'line\r\nbreak and\nLF and lone\rCR', account_number: '+63917', note: '=HYPERLINK("http://x","y")' },
  { id: 'ид-7', name: 'محمد عبد الله', account_number: '-12', note: '@SUM(A1)' },
  { id: '9', name: '  padded  ', account_number: '', note: '\tstarts with tab' },
];

function rejected(seq: number, raw: Record<string, string>, extra: Partial<RecordEvent> = {}): RecordEvent {
  return {
    type: 'record',
    seq,
    line: seq + 2,
    id: raw['id'],
    fate: 'rejected',
    code: 'input.invalid',
    message: '=cmd|"/c calc"!A1 is not a bank code',
    field: '-account_number',
    raw,
    ...extra,
  };
}

describe('reject file', () => {
  it('holds the neutralised sparctl_* columns first, then the raw input cells exactly, re-importable', async () => {
    const path = join(tempDir(), 'nested', 'dir', 'people.rejects.csv');
    const sink = await openRejectFile(path, COLUMNS, 'csv', CSV);
    RAW_ROWS.forEach((raw, seq) => sink.write(rejected(seq, raw, seq === 1 ? { code: 'rjct.internal.error' } : {})));
    // Applied and unchanged records do not belong in a reject file.
    sink.write({ type: 'record', seq: 9, fate: 'applied', code: null, message: null, raw: RAW_ROWS[0]! });
    sink.write({ type: 'record', seq: 10, fate: 'unchanged', code: null, message: null });
    expect(sink.count).toBe(4);
    expect(sink.path).toBe(path);
    await sink.close();

    const text = readFileSync(path, 'utf8');
    expect(text.split('\r\n')[0]).toBe('sparctl_line,sparctl_field,sparctl_code,sparctl_message,id,name,account_number,note');
    const rows = parse(text, { columns: true, bom: true, record_delimiter: ['\r\n', '\n'], cast: false }) as Record<string, string>[];
    expect(rows).toHaveLength(4);
    rows.forEach((row, i) => {
      for (const column of COLUMNS) expect(row[column]).toBe(RAW_ROWS[i]![column]);
      expect(row['sparctl_line']).toBe(String(i + 2));
      // Text from sparctl or the server starting with = - is neutralised with an apostrophe.
      expect(row['sparctl_message']).toBe(`'=cmd|"/c calc"!A1 is not a bank code`);
      expect(row['sparctl_field']).toBe(`'-account_number`);
    });
    expect(rows[1]!['sparctl_code']).toBe('rjct.internal.error');
    expect(rows[0]!['sparctl_code']).toBe('input.invalid');
  });

  it("reads back through sparctl's own input reader with the same values", async () => {
    const path = join(tempDir(), 'again.rejects.csv');
    const sink = await openRejectFile(path, COLUMNS, 'csv', CSV);
    RAW_ROWS.forEach((raw, seq) => sink.write(rejected(seq, raw)));
    await sink.close();
    const input = await openInputFile(path, { stdin: Readable.from([]), knownColumns: [...COLUMNS, ...REJECT_COLUMNS] });
    const back: Record<string, unknown>[] = [];
    for await (const { record } of input.records) back.push(record);
    expect(back.map((r) => Object.fromEntries(COLUMNS.map((c) => [c, r[c]])))).toEqual(RAW_ROWS);
  });

  it('input that was no CSV (a workbook, ODK: no layout): cells a spreadsheet would run get a quote, taken off when fed back', async () => {
    // Values Excel would run, one that already starts with an apostrophe, and ones to leave alone.
    const raw: Record<string, string>[] = [
      { id: '-2+3', name: '@SUM(1+1)', account_number: '+1', note: '=HYPERLINK("http://evil","x")' },
      { id: "'=already", name: "''-two", account_number: "it's", note: '\tTAB' },
      { id: 'B3', name: "'quoted", account_number: '0012', note: '' },
    ];
    const dir = tempDir();
    for (const [file, layout] of [
      ['book.rejects.csv', { delimiter: ',', bom: true, eol: '\r\n', quoteFormulas: true }],
      ['form.rejects.csv', undefined],
    ] as const) {
      const path = join(dir, file);
      const sink = await openRejectFile(path, COLUMNS, 'csv', layout);
      raw.forEach((row, seq) => sink.write(rejected(seq, row)));
      await sink.close();
      const rows = parse(readFileSync(path, 'utf8'), { columns: true, bom: true, relax_quotes: true }) as Record<string, string>[];
      expect(Object.keys(rows[0]!).slice(0, 5)).toEqual([...REJECT_COLUMNS, 'sparctl_quoted']);
      expect(rows.map((row) => COLUMNS.map((column) => row[column]))).toEqual([
        ["'-2+3", "'@SUM(1+1)", "'+1", `'=HYPERLINK("http://evil","x")`],
        ["''=already", "'''-two", "it's", "'\tTAB"],
        ['B3', "'quoted", '0012', ''],
      ]);
      // No input cell a spreadsheet would run is left.
      for (const row of rows) for (const column of COLUMNS) expect(row[column]).not.toMatch(/^[=+\-@\t\r]/);
      expect(rows.map((row) => row['sparctl_quoted'])).toEqual(['id, name, account_number, note', 'id, name, note', '']);
      // Fed back, each cell is the value first read.
      const input = await openInputFile(path, { stdin: Readable.from([]), knownColumns: [...COLUMNS, ...REJECT_COLUMNS] });
      const back: Record<string, unknown>[] = [];
      for await (const { record } of input.records) back.push(record);
      expect(back).toEqual(raw);
      // …and its own rejects are quoted again (its cells are not the CSV's bytes any more).
      expect(input.layout()).toMatchObject({ quoteFormulas: true });
    }
  });

  it("a CSV input's cells stay as read, and a CSV without sparctl_quoted keeps a leading apostrophe", async () => {
    const dir = tempDir();
    const path = join(dir, 'own.csv');
    // A user's own file, and a CSV input's reject file: nothing sparctl quoted, nothing taken off.
    writeFileSync(path, "id,name\r\n'-5,'=x\r\n");
    const own = await openInputFile(path, { stdin: Readable.from([]) });
    const read: Record<string, unknown>[] = [];
    for await (const { record } of own.records) read.push(record);
    expect(read).toEqual([{ id: "'-5", name: "'=x" }]);
    expect(own.layout()?.quoteFormulas).toBeUndefined();
    const rejects = join(dir, 'own.rejects.csv');
    const sink = await openRejectFile(rejects, ['id', 'name'], 'csv', own.layout());
    sink.write(rejected(0, { id: "'-5", name: '=x' }));
    await sink.close();
    expect(readFileSync(rejects, 'utf8').split('\r\n')[1]).toMatch(/,'-5,=x$/);
    const fed = await openInputFile(rejects, { stdin: Readable.from([]) });
    const again: Record<string, unknown>[] = [];
    for await (const { record } of fed.records) again.push(record);
    expect(again).toEqual([{ id: "'-5", name: '=x' }]);
  });

  it('leaves cells empty for columns the raw row lacks', async () => {
    const path = join(tempDir(), 'r.csv');
    const sink = await openRejectFile(path, ['id', 'name'], 'csv', CSV);
    sink.write({ type: 'record', seq: 0, fate: 'rejected', code: 'x', message: null, raw: { id: '7' } });
    sink.write({ type: 'record', seq: 1, fate: 'rejected', code: 'y', message: 'no raw' });
    await sink.close();
    const rows = parse(readFileSync(path, 'utf8'), { columns: true }) as Record<string, string>[];
    expect(rows).toEqual([
      { id: '7', name: '', sparctl_line: '', sparctl_field: '', sparctl_code: 'x', sparctl_message: '' },
      { id: '', name: '', sparctl_line: '', sparctl_field: '', sparctl_code: 'y', sparctl_message: 'no raw' },
    ]);
  });

  it('keeps a JSONL input record whole as JSON in sparctl_record', async () => {
    const path = join(tempDir(), 'r.csv');
    const sink = await openRejectFile(path, []);
    const raw = { id: '007', name: 'a,"b"\nc' };
    sink.write(rejected(0, raw));
    await sink.close();
    const rows = parse(readFileSync(path, 'utf8'), { columns: true }) as Record<string, string>[];
    expect(Object.keys(rows[0]!)).toEqual(['sparctl_line', 'sparctl_field', 'sparctl_code', 'sparctl_message', 'sparctl_record']);
    expect(JSON.parse(rows[0]!['sparctl_record']!)).toEqual(raw);
  });

  it('takes its format from its extension, else from the input (columns: CSV; none: JSONL)', () => {
    expect(rejectsFormat('r.jsonl', ['id'])).toBe('jsonl');
    expect(rejectsFormat('r.NDJSON', ['id'])).toBe('jsonl');
    expect(rejectsFormat('r.csv', [])).toBe('csv');
    expect(rejectsFormat('r.tsv', [])).toBe('csv');
    expect(rejectsFormat('rejects', ['id'])).toBe('csv');
    expect(rejectsFormat('rejects.txt', [])).toBe('jsonl');
  });

  it('JSONL: the input object as read, then the ID and sparctl_* keys (null when unknown); no header; reads back', async () => {
    const path = join(tempDir(), 'r.jsonl');
    const sink = await openRejectFile(path, []);
    const raw = { id: '007', fa: { fa_type: 'BANK', account_number: '00123' }, name: 'a,"b"\nc', n: 1 };
    sink.write(rejected(0, raw as unknown as Record<string, string>, { code: 'rjct.reference_id.duplicate', field: undefined }));
    sink.write({ type: 'record', seq: 1, line: 3, fate: 'rejected', code: 'input.unreadable', message: 'not valid JSON', field: '(line)' });
    sink.write({ ...rejected(2, { id: 'x' }), fate: 'applied' });
    await sink.close();
    const lines = readFileSync(path, 'utf8')
      .trimEnd()
      .split('\n')
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(lines).toEqual([
      {
        ...raw,
        sparctl_id: '007',
        sparctl_line: 2,
        sparctl_field: null,
        sparctl_code: 'rjct.reference_id.duplicate',
        sparctl_message: '=cmd|"/c calc"!A1 is not a bank code',
      },
      {
        sparctl_id: null,
        sparctl_line: 3,
        sparctl_field: '(line)',
        sparctl_code: 'input.unreadable',
        sparctl_message: 'not valid JSON',
      },
    ]);
    expect(Object.keys(lines[0]!).slice(0, 4)).toEqual(['id', 'fa', 'name', 'n']);
    // Fed back, sparctl's keys are dropped: the records are the input's.
    const input = await openInputFile(path, { stdin: Readable.from([]) });
    const back: Record<string, unknown>[] = [];
    for await (const { record } of input.records) back.push(record);
    expect(back[0]).toEqual(raw);
  });

  it('CSV of a CSV input written as JSONL: the row as an object of its cells', async () => {
    const path = join(tempDir(), 'people.rejects.jsonl');
    const sink = await openRejectFile(path, COLUMNS);
    sink.write(rejected(0, RAW_ROWS[0]!));
    await sink.close();
    expect(JSON.parse(readFileSync(path, 'utf8'))).toEqual({
      ...RAW_ROWS[0],
      sparctl_id: '000123',
      sparctl_line: 2,
      sparctl_field: '-account_number',
      sparctl_code: 'input.invalid',
      sparctl_message: '=cmd|"/c calc"!A1 is not a bank code',
    });
  });

  it('writes a header only when nothing was rejected, and streams many rows intact', async () => {
    const empty = join(tempDir(), 'empty.csv');
    await (await openRejectFile(empty, ['id'], 'csv', CSV)).close();
    expect(readFileSync(empty, 'utf8')).toBe('sparctl_line,sparctl_field,sparctl_code,sparctl_message,id\r\n');

    // Written as the input was: a `;`-separated export with a BOM and LF line ends.
    const excel = join(tempDir(), 'excel.csv');
    const semi = await openRejectFile(excel, ['id', 'name'], 'csv', { delimiter: ';', bom: true, eol: '\n' });
    semi.write(rejected(0, { id: '1;2', name: 'a,b' }));
    await semi.close();
    expect(readFileSync(excel, 'utf8')).toMatch(
      /^\uFEFFsparctl_line;sparctl_field;sparctl_code;sparctl_message;id;name\n2;[^\r]*;"1;2";a,b\n$/,
    );

    const big = join(tempDir(), 'big.csv');
    const sink = await openRejectFile(big, ['id', 'pad'], 'csv', CSV);
    const pad = 'x'.repeat(500);
    for (let i = 0; i < 5000; i++) {
      sink.write(rejected(i, { id: String(i).padStart(6, '0'), pad }));
      // Yield now and then so the writer really meets backpressure between rows.
      if (i % 1000 === 0) await new Promise((resolve) => setImmediate(resolve));
    }
    await sink.close();
    const rows = parse(readFileSync(big, 'utf8'), { columns: true }) as Record<string, string>[];
    expect(rows).toHaveLength(5000);
    expect(rows[4999]!['id']).toBe('004999');
  });

  it('fails to open where no file can be made, and close() is idempotent', async () => {
    const dir = tempDir();
    await expect(openRejectFile(dir, ['id'])).rejects.toThrow();
    const sink = await openRejectFile(join(dir, 'ok.csv'), ['id']);
    await sink.close();
    await sink.close();
  });
});

describe('results file', () => {
  const events: RecordEvent[] = [
    { type: 'record', seq: 0, line: 2, id: '0001', operation: 'link', fate: 'applied', outcome: 'linked', code: null, message: null },
    {
      type: 'record',
      seq: 1,
      line: 3,
      id: '=2+2',
      operation: 'update',
      fate: 'rejected',
      outcome: 'rejected',
      code: 'rjct.reference_id.duplicate',
      message: 'ID doesnt exist, "please" link first',
    },
    { type: 'record', seq: 2, fate: 'unchanged', code: null, message: null, origin: 'odk_form=f odk_submission=uuid:1' },
  ];

  it('CSV: one neutralised row per record', async () => {
    const path = join(tempDir(), 'out', 'results.csv');
    const sink = await openResultsFile(path);
    for (const e of events) sink.write(e);
    expect(sink.count).toBe(3);
    await sink.close();
    const text = readFileSync(path, 'utf8');
    expect(text.split('\r\n')[0]).toBe('seq,line,id,operation,fate,outcome,code,message,origin,superseded_by');
    const rows = parse(text, { columns: true }) as Record<string, string>[];
    expect(rows[0]).toEqual({
      seq: '0',
      line: '2',
      id: '0001',
      operation: 'link',
      fate: 'applied',
      outcome: 'linked',
      code: '',
      message: '',
      origin: '',
      superseded_by: '',
    });
    expect(rows[1]!['id']).toBe("'=2+2");
    expect(rows[1]!['message']).toBe('ID doesnt exist, "please" link first');
    expect(rows[2]).toMatchObject({ seq: '2', line: '', id: '', fate: 'unchanged', origin: 'odk_form=f odk_submission=uuid:1' });
  });

  it('JSONL: one object per line with every key', async () => {
    for (const name of ['results.jsonl', 'results.ndjson']) {
      const path = join(tempDir(), name);
      const sink = await openResultsFile(path);
      for (const e of events) sink.write(e);
      await sink.close();
      const lines = readFileSync(path, 'utf8').trimEnd().split('\n');
      expect(lines).toHaveLength(3);
      const objects = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
      expect(objects[1]).toEqual({
        seq: 1,
        line: 3,
        id: '=2+2',
        operation: 'update',
        fate: 'rejected',
        outcome: 'rejected',
        code: 'rjct.reference_id.duplicate',
        message: 'ID doesnt exist, "please" link first',
        origin: null,
        superseded_by: null,
      });
      expect(objects[2]).toEqual({
        seq: 2,
        line: null,
        id: null,
        operation: null,
        fate: 'unchanged',
        outcome: null,
        code: null,
        message: null,
        origin: 'odk_form=f odk_submission=uuid:1',
        superseded_by: null,
      });
    }
  });

  it('takes the format from the extension unless given', async () => {
    expect(resultsFormatFromPath('a.JSONL')).toBe('jsonl');
    expect(resultsFormatFromPath('a.ndjson')).toBe('jsonl');
    expect(resultsFormatFromPath('a.csv')).toBe('csv');
    expect(resultsFormatFromPath('a.txt')).toBe('csv');
    const path = join(tempDir(), 'results.txt');
    const sink = await openResultsFile(path, 'jsonl');
    sink.write(events[0]!);
    await sink.close();
    expect(JSON.parse(readFileSync(path, 'utf8'))).toMatchObject({ id: '0001' });
  });
});

describe.runIf(existsSync('/dev/full'))('a write that fails (/dev/full)', () => {
  // A failed write destroys the stream at once and emits 'error' only once the file is closed;
  // a close() in between once resolved as if all were written (CI: a run into a full disk ended
  // with exit 0). Closing after every number of event-loop turns lands in that window.
  it('close() rejects with disk.full whenever it is called after the failure', async () => {
    const closes: Promise<string>[] = [];
    for (let steps = 0; steps < 40; steps++) {
      const sink = await openResultsFile('/dev/full', 'jsonl');
      sink.write({ type: 'record', seq: 0, fate: 'unchanged', code: null, message: null });
      closes.push(
        (async () => {
          for (let i = 0; i < steps; i++) await new Promise((done) => setImmediate(done));
          return sink.close().then(
            () => `closed cleanly after ${steps} steps`,
            (error: { code?: string }) => error.code ?? 'no code',
          );
        })(),
      );
    }
    const outcomes = await Promise.all(closes);
    expect(outcomes.filter((outcome) => outcome !== 'disk.full')).toEqual([]);
  });
});

describe('a staged file (a dry run preview)', () => {
  it('is written beside its path under a name of its own, 0600, and is at its path only once closed, whole; the BOM and line endings as given', async () => {
    const dir = tempDir();
    const path = join(dir, 'a.rejects.preview.csv');
    writeFileSync(path, 'an earlier preview\n');
    const out = await openRejectFile(path, [...COLUMNS], undefined, { ...CSV, bom: true, eol: '\r\n' }, true);
    for (const [i, raw] of RAW_ROWS.entries()) out.write(rejected(i, raw));
    await new Promise((resolve) => setImmediate(resolve));
    const beside = readdirSync(dir).filter((name) => name !== 'a.rejects.preview.csv');
    expect(beside).toHaveLength(1);
    expect(beside[0]).toMatch(new RegExp(`^a\\.rejects\\.preview\\.csv\\.sparctl-tmp\\.${process.pid}\\.[0-9a-f]{8}\\.[0-9a-f]{8}$`));
    expect(statSync(join(dir, beside[0]!)).mode & 0o777).toBe(0o600);
    expect(readFileSync(path, 'utf8')).toBe('an earlier preview\n');
    await out.close();
    expect(readdirSync(dir)).toEqual(['a.rejects.preview.csv']);
    const text = readFileSync(path, 'utf8');
    expect(text.startsWith(`\uFEFF${REJECT_COLUMNS.join(',')}`)).toBe(true);
    expect(text.endsWith('\r\n')).toBe(true);
    expect(parse(text.slice(1), { columns: true, bom: true })).toHaveLength(RAW_ROWS.length);
    expect(statSync(path).mode & 0o777).toBe(0o600);
  });

  it("another host's or pid namespace's staging file is removed once untouched for a day, never sooner (its run may be live)", async () => {
    const dir = tempDir();
    const path = join(dir, 'a.rejects.preview.csv');
    const other = hostTag() === '0badc0de' ? '0badf00d' : '0badc0de';
    const old = join(dir, `a.rejects.preview.csv.sparctl-tmp.1.${other}.00000001`);
    const fresh = join(dir, `a.rejects.preview.csv.sparctl-tmp.1.${other}.00000002`);
    const unrelated = join(dir, `b.csv.sparctl-tmp.1.${other}.00000003`);
    for (const file of [old, fresh, unrelated]) writeFileSync(file, 'rows\n');
    const twoDaysAgo = new Date(Date.now() - 2 * 24 * 60 * 60 * 1000);
    for (const file of [old, unrelated]) utimesSync(file, twoDaysAgo, twoDaysAgo);
    const out = await openRejectFile(path, [...COLUMNS], undefined, CSV, true);
    await out.close();
    expect(existsSync(old)).toBe(false);
    expect(existsSync(fresh)).toBe(true);
    // Only the staging files of the path being written are looked at.
    expect(existsSync(unrelated)).toBe(true);
  });

  it('a name too long for its suffix is cut to 200 bytes, at a character', () => {
    const dir = tempDir();
    const name = `${'é'.repeat(120)}.csv`;
    const staged = stagingPath(join(dir, name)).slice(dir.length + 1);
    expect(Buffer.byteLength(staged)).toBeLessThanOrEqual(255);
    expect(staged.startsWith('é'.repeat(100))).toBe(true);
    expect(staged).toMatch(/^é{100}\.sparctl-tmp\./);
  });

  it('removeIfSame removes the file only while it is the one recognised: one put there as it looks stands', () => {
    const dir = tempDir();
    const path = join(dir, 'p.csv');
    writeFileSync(path, 'earlier\n');
    const earlier = statSync(path).ino;
    expect(removeIfSame(path, (stats) => stats.ino === earlier)).toBe(true);
    expect(existsSync(path)).toBe(false);
    // Another run puts its own there between the look and the removal: it is linked back, whole.
    writeFileSync(path, 'earlier\n');
    const again = statSync(path).ino;
    let looks = 0;
    const replaced = removeIfSame(path, (stats) => {
      if (looks++ === 0) {
        writeFileSync(join(dir, 'new'), 'a newer preview\n');
        renameSync(join(dir, 'new'), path);
      }
      return stats.ino === again;
    });
    expect(replaced).toBe(false);
    expect(readFileSync(path, 'utf8')).toBe('a newer preview\n');
    expect(readdirSync(dir)).toEqual(['p.csv']);
  });
});
