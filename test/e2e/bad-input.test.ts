/**
 * Bad-input corpus, end to end through sparctl's main() in process (test/helpers/run-main.ts;
 * SPARCTL_TEST_BIN runs it through a binary): the awkward files people really feed a
 * bulk tool (BOM, CRLF, `;`, quoted line breaks, broken UTF-8, empty files, wrong headers, huge
 * cells, spreadsheet formulas, repeated IDs, leading zeros, non-Latin scripts), for both
 * `sparctl import-csv` (through fixtures/enumeration.mapping.json) and `sparctl link --file`.
 *
 * Every run must end in exit 0, 2 or 5 (never 1, never a stack trace). Every bad row must be in
 * the reject file with the 1-based line it starts on; every good row must reach the mapper
 * (counted in the temp SQLite file); the summary (`-o json` on stdout, the table on stderr)
 * must add up. Each run gets a temp cwd, a temp --db and a temp HOME: nothing is written in the
 * repository.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
// Through retained.ts: on Node 24 a collected better-sqlite3 object aborts the test process.
import { openDatabase, prepare } from '../../src/adapters/sqlite/retained.js';
import { parse } from 'csv-parse/sync';
import { describe, expect, it } from 'vitest';
import { ROOT, cliEnv, withoutTarget, type CliResult } from '../helpers/run-cli.js';
import { runMain } from '../helpers/run-main.js';
import { bank, bankFlags } from '../helpers/records.js';
import { tempDir } from '../helpers/tmp.js';

const MAPPING = join(ROOT, 'fixtures', 'enumeration.mapping.json');
const DFSP = join(ROOT, 'fixtures', 'dfsp.json');

// ---------------------------------------------------------------------------------------------
// Building input files

/** fixtures/enumeration.csv's header. */
const ENUM_COLUMNS = [
  'household_no',
  'national_id',
  'full_name',
  'barangay',
  'municipality',
  'contact_phone',
  'payment_method',
  'bank_code',
  'branch_code',
  'account_no',
  'wallet',
  'payment_mobile',
  'payment_email',
] as const;
type EnumColumn = (typeof ENUM_COLUMNS)[number];

/** The columns of `link --file` (README "Many records from a file"). */
const LINK_COLUMNS = [
  'id',
  'fa_type',
  'strategy_id',
  'bank_name',
  'bank_code',
  'branch_name',
  'branch_code',
  'account_number',
  'wallet_provider_name',
  'wallet_provider_code',
  'mobile_number',
  'email_address',
  'name',
  'phone_number',
] as const;
type LinkColumn = (typeof LINK_COLUMNS)[number] | 'operation';

/** One CSV line; a cell is quoted when it holds the delimiter, a quote or a line break. */
function csvLine(cells: readonly string[], delimiter = ','): string {
  return cells.map((cell) => (cell.includes(delimiter) || /["\r\n]/.test(cell) ? `"${cell.replace(/"/g, '""')}"` : cell)).join(delimiter);
}

/** A good bank row of an enumeration export; `n` makes the household, ID and account unique. */
function enumRow(n: number, over: Partial<Record<EnumColumn, string>> = {}): Record<EnumColumn, string> {
  const nn = String(n).padStart(3, '0');
  return {
    household_no: `HH-${nn}`,
    national_id: `000412345${nn}`,
    full_name: `Person ${nn}`,
    barangay: 'San Isidro',
    municipality: 'Quezon City',
    contact_phone: '0917 555 0101',
    payment_method: 'bank',
    bank_code: 'LBP',
    branch_code: '0012',
    account_no: `001234567${nn}`,
    wallet: '',
    payment_mobile: '',
    payment_email: '',
    ...over,
  };
}

/** A row the DFSP list refuses: rejected as mapping.unknown_bank on field bank_code. */
const badEnumRow = (n: number, over: Partial<Record<EnumColumn, string>> = {}) => enumRow(n, { bank_code: 'XYZ', ...over });

function enumCsv(
  rows: readonly Record<string, string>[],
  options: { eol?: string; delimiter?: string; columns?: readonly string[]; bom?: boolean } = {},
): string {
  const columns = options.columns ?? ENUM_COLUMNS;
  const eol = options.eol ?? '\n';
  const lines = [
    csvLine(columns, options.delimiter),
    ...rows.map((row) =>
      csvLine(
        columns.map((c) => row[c] ?? ''),
        options.delimiter,
      ),
    ),
  ];
  return `${options.bom ? '\uFEFF' : ''}${lines.join(eol)}${eol}`;
}

/** A good bank row for `link --file`. */
function linkRow(n: number, over: Partial<Record<LinkColumn, string>> = {}): Record<string, string> {
  const nn = String(n).padStart(3, '0');
  return {
    id: `BENE_${nn}`,
    fa_type: 'BANK',
    strategy_id: '2',
    bank_name: 'Example Bank',
    bank_code: 'EXB',
    branch_name: 'Main',
    branch_code: '0001',
    account_number: `ACC${nn}`,
    wallet_provider_name: '',
    wallet_provider_code: '',
    mobile_number: '',
    email_address: '',
    name: `Person ${nn}`,
    phone_number: '+63 917 555 0101',
    ...over,
  };
}

/** A row naming a strategy that does not exist: rejected as input.strategy on strategy_id. */
const badLinkRow = (n: number, over: Partial<Record<LinkColumn, string>> = {}) => linkRow(n, { strategy_id: '9', ...over });

function linkCsv(
  rows: readonly Record<string, string>[],
  options: { eol?: string; columns?: readonly string[]; bom?: boolean } = {},
): string {
  return enumCsv(rows, { columns: LINK_COLUMNS, ...options });
}

/** The bank FA string strategy 2 stores (README "Strategies"). */
const bankFa = (f: { account: string; branchName: string; branchCode: string; bankName: string; bankCode: string }) =>
  `account_number:${f.account}.branch_name:${f.branchName}.branch_code:${f.branchCode}.bank_name:${f.bankName}.bank_code:${f.bankCode}.fa_type:BANK`;
const lbpFa = (account: string) =>
  bankFa({ account, branchName: 'Quezon City - Kamuning', branchCode: '0012', bankName: 'Land Bank of the Philippines', bankCode: 'LBP' });
const exbFa = (account: string) => bankFa({ account, branchName: 'Main', branchCode: '0001', bankName: 'Example Bank', bankCode: 'EXB' });
const token = (nationalId: string) => `token:${nationalId}@nationalId`;

// ---------------------------------------------------------------------------------------------
// Running sparctl and reading what it left

interface Summary {
  total: number;
  applied: number;
  confirmed: number;
  unchanged: number;
  superseded: number;
  rejected: number;
  notSent: number;
}

interface StoredMapping {
  id_value: string;
  fa_value: string;
  name: string | null;
  phone: string | null;
}

interface Run extends CliResult {
  dir: string;
  db: string;
  /** The `-o json` summary document, when the run finished (exit 0 or 5). */
  summary?: Summary;
  /** The reject file parsed with `columns: true` ([] when there is none). */
  rejects: Record<string, string>[];
  rejectsText: string;
  /** Rows of id_fa_mappings, in insertion order ([] when the database was never created). */
  stored: StoredMapping[];
}

async function run(kind: 'import' | 'link', content: string | Buffer, extra: readonly string[] = [], fileName = 'input.csv'): Promise<Run> {
  const { env } = cliEnv();
  const dir = tempDir('sparctl-bad-input-');
  const file = join(dir, fileName);
  writeFileSync(file, content);
  const db = join(dir, 'mapper.db');
  const rejectsPath = join(dir, 'rejects.csv');
  const command = kind === 'import' ? ['import-csv', file, '--mapping', MAPPING, '--dfsp', DFSP] : ['link', '--file', file];
  const result = await runMain(['--create', '--db', db, '-o', 'json', ...command, '--rejects', rejectsPath, ...extra], { env, cwd: dir });
  const rejectsText = existsSync(rejectsPath) ? readFileSync(rejectsPath, 'utf8') : '';
  const out: Run = {
    ...result,
    dir,
    db,
    rejectsText,
    // Written as the input was: its delimiter and BOM (README "Reports").
    rejects:
      rejectsText === ''
        ? []
        : (parse(rejectsText, {
            columns: true,
            bom: true,
            delimiter: extra.includes('--delimiter') ? extra[extra.indexOf('--delimiter') + 1] : ',',
          }) as Record<string, string>[]),
    stored: storedMappings(db),
  };
  if ((result.code === 0 || result.code === 5) && result.stdout.trim() !== '') {
    const doc = JSON.parse(result.stdout) as { schemaVersion: number; summary: Summary };
    expect(doc.schemaVersion).toBe(1);
    out.summary = doc.summary;
  }
  return out;
}

function storedMappings(db: string): StoredMapping[] {
  if (!existsSync(db)) return [];
  const handle = openDatabase(db, { readonly: true });
  try {
    return prepare(handle, 'SELECT id_value, fa_value, name, phone FROM id_fa_mappings ORDER BY id').all() as StoredMapping[];
  } finally {
    handle.close();
  }
}

const storedFor = (r: Run, idValue: string) => r.stored.find((m) => m.id_value === idValue);

/** [sparctl_line, sparctl_field, sparctl_code] of each reject row, in file order. */
const rejectKeys = (r: Run) => r.rejects.map((row) => [Number(row['sparctl_line']), row['sparctl_field'], row['sparctl_code']]);

/**
 * What every run must satisfy: an allowed exit code (never 1), no stack trace or internal error
 * on stderr, and — when it finished — counts that add up on stdout, on stderr and in the files.
 */
function expectSane(r: Run, allowed: readonly number[]): void {
  const context = `exit ${r.code}\nstderr: ${r.stderr.slice(0, 2000)}`;
  expect(r.code, context).not.toBe(1);
  expect(allowed, context).toContain(r.code);
  expect(r.stderr, context).not.toMatch(/internal error|This is a bug in sparctl/);
  expect(r.stderr, context).not.toMatch(/^\s+at .+(:\d+:\d+\)?|\(native\)|<anonymous>\)?)$/m);
  if (r.code === 2) {
    // Usage or invalid input: one line, no summary, nothing written; stdout has the same error for -o json.
    const message = withoutTarget(r.stderr);
    const answered = JSON.parse(r.stdout) as { error: { code: string; message: string; exitCode: number } };
    expect(answered.error.exitCode).toBe(2);
    expect(message).toContain(`[${answered.error.code}]: `);
    expect(message.endsWith('\n')).toBe(true);
    expect(message.trimEnd().split('\n'), context).toHaveLength(1);
    expect(message).toMatch(/^sparctl: error \[[a-z0-9_.]+\]: /);
    expect(r.stored).toEqual([]);
    return;
  }
  const s = r.summary;
  expect(s, context).toBeDefined();
  if (!s) return;
  expect(s.applied + s.confirmed + s.unchanged + s.superseded + s.rejected + s.notSent, 'summary adds up').toBe(s.total);
  expect(r.rejects.length, 'one reject row per rejected record').toBe(s.rejected);
  expect(r.code, 'exit code follows the summary').toBe(s.notSent > 0 ? 4 : s.rejected > 0 ? 5 : 0);
  // The table on stderr says the same: its total row, column by column.
  // No frame: cells are apart by two spaces or more; the header's first cell is empty.
  const cellsOf = (line: string | undefined) => (line ?? '').trim().split(/ {2,}/);
  const lines = r.stderr.split('\n');
  const head = cellsOf(lines.find((line) => /^ +applied /.test(line)));
  const totals = cellsOf(lines.find((line) => /^total /.test(line)));
  expect(head.length, context).toBeGreaterThan(1);
  const shown = Object.fromEntries(head.map((column, at) => [column, Number(totals[at + 1])]));
  expect(shown).toMatchObject({ applied: s.applied, unchanged: s.unchanged, rejected: s.rejected, total: s.total - s.notSent });
  if (s.rejected > 0) expect(r.stderr).toContain(`(${s.rejected} row`);
  // Every reject row names a line, a field and a code, and the sparctl_* cells are spreadsheet-safe.
  for (const row of r.rejects) {
    expect(row['sparctl_line'], JSON.stringify(row)).toMatch(/^[1-9][0-9]*$/);
    expect(row['sparctl_code'], JSON.stringify(row)).not.toBe('');
    for (const column of ['sparctl_line', 'sparctl_field', 'sparctl_code', 'sparctl_message'])
      expect(row[column] ?? '').not.toMatch(/^[=+\-@\t\r]/);
  }
}

/** Every cell of a CSV file sparctl wrote for people to read must not start a formula. */
function expectSpreadsheetSafe(path: string): Record<string, string>[] {
  const rows = parse(readFileSync(path, 'utf8'), { columns: true }) as Record<string, string>[];
  for (const row of rows)
    for (const [column, value] of Object.entries(row)) expect(value, `${column} = ${value}`).not.toMatch(/^[=+\-@\t\r]/);
  return rows;
}

const KB100 = 100 * 1024;
const FORMULAS = ["=cmd|' /C calc'!A0", '+1', '-1', '@SUM(A1:A2)'] as const;
const NON_LATIN = ['فاطمة الزهراء', 'सीता देवी', '林美玲'] as const;

// ---------------------------------------------------------------------------------------------

describe('bad-input corpus: sparctl import-csv (enumeration mapping + DFSP list)', () => {
  it('UTF-8 BOM: the header is read without it, lines count from the real first line', async () => {
    const r = await run('import', enumCsv([enumRow(1), badEnumRow(2), enumRow(3)], { bom: true }));
    expectSane(r, [5]);
    expect(r.summary).toMatchObject({ total: 3, applied: 2, rejected: 1 });
    expect(rejectKeys(r)).toEqual([[3, 'bank_code', 'mapping.unknown_bank']]);
    // The reason columns, then the input's: no BOM glued to a column's name.
    expect(Object.keys(r.rejects[0]!).slice(0, 5)).toEqual([
      'sparctl_line',
      'sparctl_field',
      'sparctl_code',
      'sparctl_message',
      'household_no',
    ]);
    expect(r.rejectsText.startsWith('\uFEFFsparctl_line,')).toBe(true);
    expect(r.stored.map((m) => m.id_value)).toEqual([token('000412345001'), token('000412345003')]);
  });

  it('CRLF line endings, also inside a quoted cell: no stray CR in values, lines as an editor shows them', async () => {
    const rows = [
      enumRow(1, {
        payment_method: 'email',
        bank_code: '',
        branch_code: '',
        account_no: '',
        wallet: 'PAYPAL',
        payment_email: 'one@example.org',
      }),
      enumRow(2, { barangay: 'San\r\nIsidro' }), // lines 3–4
      badEnumRow(3), // line 5
      enumRow(4),
    ];
    const r = await run('import', enumCsv(rows, { eol: '\r\n' }));
    expectSane(r, [5]);
    expect(r.summary).toMatchObject({ total: 4, applied: 3, rejected: 1 });
    expect(rejectKeys(r)).toEqual([[5, 'bank_code', 'mapping.unknown_bank']]);
    expect(r.stored).toHaveLength(3);
    for (const m of r.stored) expect(JSON.stringify(m)).not.toMatch(/\\r/);
    expect(storedFor(r, token('000412345001'))?.fa_value).toBe(
      'email_address:one@example.org.wallet_provider_name:PayPal.wallet_provider_code:PAYPAL.fa_type:EMAIL_WALLET',
    );
  });

  it('";" delimiter with --delimiter ";": commas are plain text; without the flag the header is refused naming the columns', async () => {
    const rows = [enumRow(1, { full_name: 'Dela Cruz, María' }), badEnumRow(2), enumRow(3, { barangay: 'A;B' })];
    const content = enumCsv(rows, { delimiter: ';' });
    const r = await run('import', content, ['--delimiter', ';']);
    expectSane(r, [5]);
    expect(r.summary).toMatchObject({ total: 3, applied: 2, rejected: 1 });
    expect(rejectKeys(r)).toEqual([[3, 'bank_code', 'mapping.unknown_bank']]);
    expect(storedFor(r, token('000412345001'))?.name).toBe('Dela Cruz, María');

    // Without the flag the whole header is one column. The mapping's columns are checked when the
    // first row arrives, so a first row holding a comma is refused for its length instead.
    const plain = await run('import', content);
    expectSane(plain, [2]);
    expect(plain.stderr).toMatch(
      /input\.csv:1: the mapping reads columns "national_id", .*nothing was sent|input\.csv:2: Invalid Record Length/,
    );
    const noComma = await run('import', enumCsv([enumRow(1), enumRow(2)], { delimiter: ';' }));
    expectSane(noComma, [2]);
    expect(noComma.stderr).toMatch(
      /input\.csv:1: the mapping reads columns "national_id", "full_name", .*"account_no", .*which the file does not have; nothing was sent/,
    );
  });

  it('an unusable --delimiter (a quote, a line break, two characters, none): exit 2 naming the flag, one code for every command', async () => {
    for (const kind of ['import', 'link'] as const)
      for (const delimiter of ['"', '\n', ';;', '']) {
        const r = await run(kind, kind === 'import' ? enumCsv([enumRow(1)]) : 'id\nX1\n', ['--delimiter', delimiter]);
        expectSane(r, [2]);
        expect(withoutTarget(r.stderr)).toContain(
          `[usage.delimiter]: --delimiter ${JSON.stringify(delimiter)}: a delimiter must be one character other than a quote or a line break`,
        );
      }
  });

  it('quoted cells with commas and line breaks: the row after a multi-line cell keeps its own line number', async () => {
    const rows = [
      enumRow(1, { full_name: 'Santos, Maria "Ria"' }), // line 2
      enumRow(2, { full_name: 'Dela Cruz,\nJuan' }), // lines 3–4: a name's line break is a space (README: runs of spaces collapsed)
      badEnumRow(3), // line 5
      enumRow(4, { barangay: 'Poblacion\n\nEast', municipality: 'Davao, City' }), // lines 6–8
      badEnumRow(5, { full_name: 'Bad,\nRow' }), // lines 9–10
      enumRow(6), // line 11
    ];
    const r = await run('import', enumCsv(rows));
    expectSane(r, [5]);
    expect(r.summary).toMatchObject({ total: 6, applied: 4, rejected: 2 });
    expect(rejectKeys(r)).toEqual([
      [5, 'bank_code', 'mapping.unknown_bank'],
      [9, 'bank_code', 'mapping.unknown_bank'],
    ]);
    expect(storedFor(r, token('000412345001'))?.name).toBe('Santos, Maria "Ria"');
    expect(storedFor(r, token('000412345002'))?.name).toBe('Dela Cruz, Juan');
    // The reject file gives the raw multi-line cell back unchanged.
    expect(r.rejects[1]!['full_name']).toBe('Bad,\nRow');
  });

  it('invalid UTF-8 bytes: the row is rejected with its line (or the file refused), never stored with U+FFFD', async () => {
    const text = enumCsv([enumRow(1), enumRow(2, { full_name: 'Jos@@E9 Rizal' }), enumRow(3, { account_no: '0012@@FF34' }), enumRow(4)]);
    const bytes = Buffer.concat(
      text.split(/@@(E9|FF)/).map((part, i) => (i % 2 === 1 ? Buffer.from([parseInt(part, 16)]) : Buffer.from(part, 'utf8'))),
    );
    expect(bytes.includes(Buffer.from([0xe9, 0x20]))).toBe(true);
    const r = await run('import', bytes);
    for (const m of r.stored) expect(JSON.stringify(m), 'invalid bytes stored as U+FFFD').not.toContain('\uFFFD');
    expectSane(r, [2, 5]);
    if (r.code === 2) {
      expect(r.stderr).toMatch(/input\.csv:3\b/);
    } else {
      expect(rejectKeys(r).map(([line, field]) => [line, field])).toEqual([
        [3, 'name'],
        [4, 'account_number'],
      ]);
      expect(r.stored.map((m) => m.id_value)).toEqual([token('000412345001'), token('000412345004')]);
    }
  });

  it('an empty file (0 bytes): nothing to do, or one clear line; never a crash', async () => {
    const r = await run('import', '');
    expectSane(r, [0, 2]);
    if (r.code === 0) expect(r.summary).toMatchObject({ total: 0, applied: 0, unchanged: 0, rejected: 0, notSent: 0 });
    expect(r.stored).toEqual([]);
    expect(r.rejects).toEqual([]);
  });

  it('a header-only file: exit 0, nothing to do', async () => {
    const r = await run('import', enumCsv([]));
    expectSane(r, [0]);
    expect(r.summary).toMatchObject({ total: 0, applied: 0, unchanged: 0, rejected: 0, notSent: 0 });
    expect(r.stored).toEqual([]);
  });

  it('a missing mapped column: exit 2, one line naming it, nothing sent', async () => {
    const columns = ENUM_COLUMNS.filter((c) => c !== 'account_no');
    const r = await run('import', enumCsv([enumRow(1), enumRow(2)], { columns }));
    expectSane(r, [2]);
    expect(withoutTarget(r.stderr)).toMatch(
      /^sparctl: error \[[a-z0-9_.]+\]: .*input\.csv:1: the mapping reads column "account_no", which the file does not have; nothing was sent/,
    );
    expect(existsSync(join(r.dir, 'rejects.csv'))).toBe(false);
  });

  it('a missing mapped column in a header-only file is refused the same way (the header is wrong whether or not rows follow)', async () => {
    const columns = ENUM_COLUMNS.filter((c) => c !== 'account_no');
    const r = await run('import', enumCsv([], { columns }));
    expectSane(r, [2]);
    expect(r.stderr).toMatch(/the mapping reads column "account_no"/);
  });

  it('extra unknown columns are ignored, and kept in the reject file', async () => {
    const columns = ['notes', ...ENUM_COLUMNS, 'enumerator', 'gps'];
    const rows = [enumRow(1), badEnumRow(2), enumRow(3)].map((row, i) => ({
      ...row,
      notes: `note ${i}`,
      enumerator: 'E-07',
      gps: '14.6,121.0',
    }));
    const r = await run('import', enumCsv(rows, { columns }));
    expectSane(r, [5]);
    expect(r.summary).toMatchObject({ total: 3, applied: 2, rejected: 1 });
    expect(rejectKeys(r)).toEqual([[3, 'bank_code', 'mapping.unknown_bank']]);
    expect(r.rejects[0]).toMatchObject({ notes: 'note 1', enumerator: 'E-07', gps: '14.6,121.0', national_id: '000412345002' });
  });

  it('a 100 KB cell: fine in an unmapped column, a clean reject (name too long) in full_name', async () => {
    const long = 'x'.repeat(KB100);
    const rows = [enumRow(1, { barangay: long }), enumRow(2, { full_name: long }), enumRow(3)];
    const r = await run('import', enumCsv(rows));
    expectSane(r, [5]);
    expect(r.summary).toMatchObject({ total: 3, applied: 2, rejected: 1 });
    expect(rejectKeys(r)).toEqual([[3, 'name', 'input.invalid']]);
    expect(r.rejects[0]!['full_name']).toBe(long); // the raw cell, whole
    expect((r.rejects[0]!['sparctl_message'] ?? '').length).toBeLessThan(1000); // the message does not quote 100 KB
  });

  it('formula cells in names are stored as given; the reject file keeps raw cells raw, sparctl columns and the results file are neutralised', async () => {
    const rows = [
      ...FORMULAS.map((full_name, i) => enumRow(i + 1, { full_name })), // lines 2–5
      badEnumRow(5, { full_name: FORMULAS[0], household_no: '=HYPERLINK("http://x","y")' }), // line 6
      badEnumRow(6, { full_name: '-2+3' }), // line 7
    ];
    const r = await run('import', enumCsv(rows), ['--results', 'results.csv']);
    expectSane(r, [5]);
    expect(r.summary).toMatchObject({ total: 6, applied: 4, rejected: 2 });
    FORMULAS.forEach((name, i) => expect(storedFor(r, token(`000412345${String(i + 1).padStart(3, '0')}`))?.name).toBe(name));
    // report-writers.ts: the input's own cells are written exactly as read (re-importable), not neutralised.
    expect(rejectKeys(r)).toEqual([
      [6, 'bank_code', 'mapping.unknown_bank'],
      [7, 'bank_code', 'mapping.unknown_bank'],
    ]);
    expect(r.rejects.map((row) => [row['household_no'], row['full_name']])).toEqual([
      ['=HYPERLINK("http://x","y")', FORMULAS[0]],
      ['HH-006', '-2+3'],
    ]);
    // The raw cells after the reason columns, as written (the input's LF line endings).
    expect(r.rejectsText).toContain(`(not in the DFSP list)","=HYPERLINK(""http://x"",""y"")",000412345005,=cmd|' /C calc'!A0,`);
    expect(r.rejectsText).toContain('(not in the DFSP list)",HH-006,000412345006,-2+3,');
    // One results row per record (in the order records settled: rejects found before sending come first).
    const results = expectSpreadsheetSafe(join(r.dir, 'results.csv'));
    expect(results.map((row) => Number(row['line'])).sort((a, b) => a - b)).toEqual([2, 3, 4, 5, 6, 7]);
  });

  it('duplicate and conflicting rows (upsert): the last row of each ID decides, the earlier ones are superseded', async () => {
    const rows = [
      enumRow(1, { account_no: '111' }), // line 2: superseded by line 5
      enumRow(2), // line 3: superseded by line 7
      enumRow(1, { account_no: '111' }), // line 4: superseded by line 5
      enumRow(1, { account_no: '222', full_name: 'Renamed' }), // line 5: decides → link
      enumRow(2, { account_no: '333' }), // line 6: superseded by line 7
      enumRow(2, { account_no: '444' }), // line 7: decides → link
    ];
    const r = await run('import', enumCsv(rows), ['--results', 'results.jsonl']);
    expectSane(r, [0]);
    expect(r.summary).toMatchObject({ total: 6, applied: 2, superseded: 4, rejected: 0 });
    expect(r.stored).toHaveLength(2);
    expect(storedFor(r, token('000412345001'))).toMatchObject({ fa_value: lbpFa('222'), name: 'Renamed' });
    expect(storedFor(r, token('000412345002'))?.fa_value).toBe(lbpFa('444'));
    const results = readFileSync(join(r.dir, 'results.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    const byLine = new Map(results.map((x) => [x['line'], [x['operation'], x['fate'], x['superseded_by']]]));
    expect([2, 3, 4, 5, 6, 7].map((line) => byLine.get(line))).toEqual([
      [null, 'superseded', 5],
      [null, 'superseded', 7],
      [null, 'superseded', 5],
      ['link', 'applied', null],
      [null, 'superseded', 7],
      ['link', 'applied', null],
    ]);
  });

  it('leading zeros in IDs, account numbers and codes reach the mapper unchanged', async () => {
    const rows = [
      enumRow(1, { national_id: '000000000007', account_no: '00000000' }),
      enumRow(2, { national_id: '0000000000000000000000000001', account_no: '0000098765', bank_code: 'DBP', branch_code: '0105' }),
      badEnumRow(3, { national_id: '000000000009', account_no: '000123' }),
    ];
    const r = await run('import', enumCsv(rows));
    expectSane(r, [5]);
    expect(r.summary).toMatchObject({ total: 3, applied: 2, rejected: 1 });
    expect(storedFor(r, token('000000000007'))?.fa_value).toBe(lbpFa('00000000'));
    expect(storedFor(r, token('0000000000000000000000000001'))?.fa_value).toBe(
      bankFa({
        account: '0000098765',
        branchName: 'Davao - CM Recto',
        branchCode: '0105',
        bankName: 'Development Bank of the Philippines',
        bankCode: 'DBP',
      }),
    );
    expect(r.rejects[0]).toMatchObject({ sparctl_line: '4', national_id: '000000000009', account_no: '000123', branch_code: '0012' });
  });

  it('non-Latin names (Arabic, Devanagari, Chinese) are stored and rejected byte for byte', async () => {
    const rows = [...NON_LATIN.map((full_name, i) => enumRow(i + 1, { full_name })), badEnumRow(4, { full_name: 'محمد علي' })];
    const r = await run('import', enumCsv(rows));
    expectSane(r, [5]);
    expect(r.summary).toMatchObject({ total: 4, applied: 3, rejected: 1 });
    expect(r.stored.map((m) => m.name)).toEqual([...NON_LATIN]);
    expect(rejectKeys(r)).toEqual([[5, 'bank_code', 'mapping.unknown_bank']]);
    expect(r.rejects[0]!['full_name']).toBe('محمد علي');
  });
});

describe('bad-input corpus: sparctl link --file', () => {
  it('UTF-8 BOM: the "id" column is recognised, lines count from the real first line', async () => {
    const r = await run('link', linkCsv([linkRow(1), badLinkRow(2), linkRow(3)], { bom: true }));
    expectSane(r, [5]);
    expect(r.summary).toMatchObject({ total: 3, applied: 2, rejected: 1 });
    expect(rejectKeys(r)).toEqual([[3, 'strategy_id', 'input.strategy']]);
    expect(Object.keys(r.rejects[0]!).slice(0, 5)).toEqual(['sparctl_line', 'sparctl_field', 'sparctl_code', 'sparctl_message', 'id']);
    expect(r.rejectsText.startsWith('\uFEFFsparctl_line,')).toBe(true);
    expect(r.stored.map((m) => m.id_value)).toEqual(['BENE_001', 'BENE_003']);
  });

  it('CRLF line endings, also inside a quoted cell: no stray CR in values, lines as an editor shows them', async () => {
    const rows = [
      linkRow(1, { name: 'Ana\r\nReyes' }), // lines 2–3: a line break in a name is a control character → rejected
      badLinkRow(2), // line 4
      linkRow(3), // line 5
      linkRow(4, {
        fa_type: 'EMAIL_WALLET',
        strategy_id: '',
        bank_name: '',
        bank_code: '',
        branch_name: '',
        branch_code: '',
        account_number: '',
        wallet_provider_name: 'PayPal',
        wallet_provider_code: 'PAYPAL',
        email_address: 'four@example.org',
      }), // line 6, last cell of the row before CRLF
    ];
    const r = await run('link', linkCsv(rows, { eol: '\r\n' }));
    expectSane(r, [5]);
    expect(r.summary).toMatchObject({ total: 4, applied: 2, rejected: 2 });
    expect(rejectKeys(r)).toEqual([
      [2, 'name', 'input.invalid'],
      [4, 'strategy_id', 'input.strategy'],
    ]);
    for (const m of r.stored) expect(JSON.stringify(m)).not.toMatch(/\\r/);
    expect(storedFor(r, 'BENE_003')?.phone).toBe('+639175550101');
    expect(storedFor(r, 'BENE_004')?.fa_value).toBe(
      'email_address:four@example.org.wallet_provider_name:PayPal.wallet_provider_code:PAYPAL.fa_type:EMAIL_WALLET',
    );
  });

  it('";" delimiter: link --file has no --delimiter, so the header is one unknown column: exit 2, nothing written', async () => {
    const r = await run('link', linkCsv([linkRow(1), linkRow(2)]).replace(/,/g, ';'));
    expectSane(r, [2]);
    expect(withoutTarget(r.stderr)).toMatch(/^sparctl: error \[[a-z0-9_.]+\]: .*input\.csv:1: unknown column "id;fa_type;strategy_id;/);
  });

  it('quoted cells with commas and line breaks: the row after a multi-line cell keeps its own line number', async () => {
    const rows = [
      linkRow(1, { bank_name: 'Bank, Inc.', name: 'Santos, Maria "Ria"' }), // line 2
      linkRow(2, { name: 'Dela Cruz\nJuan' }), // lines 3–4: rejected (control character)
      badLinkRow(3), // line 5
      linkRow(4, { branch_name: 'Main\n\nStreet' }), // lines 6–8: rejected (control character in an FA field)
      linkRow(5, { name: 'Cruz, Jr.' }), // line 9
      badLinkRow(6, { name: 'Bad,\nRow' }), // lines 10–11
      linkRow(7), // line 12
    ];
    const r = await run('link', linkCsv(rows));
    expectSane(r, [5]);
    expect(r.summary).toMatchObject({ total: 7, applied: 3, rejected: 4 });
    expect(rejectKeys(r).map(([line, field]) => [line, field])).toEqual([
      [3, 'name'],
      [5, 'strategy_id'],
      [6, 'branch_name'],
      [10, 'name'],
    ]);
    expect(storedFor(r, 'BENE_001')).toMatchObject({
      name: 'Santos, Maria "Ria"',
      fa_value: bankFa({ account: 'ACC001', branchName: 'Main', branchCode: '0001', bankName: 'Bank, Inc.', bankCode: 'EXB' }),
    });
    expect(r.stored.map((m) => m.id_value)).toEqual(['BENE_001', 'BENE_005', 'BENE_007']);
    expect(r.rejects[3]!['name']).toBe('Bad,\nRow');
  });

  it('invalid UTF-8 bytes: the row is rejected with its line (or the file refused), never stored with U+FFFD', async () => {
    const text = linkCsv([linkRow(1), linkRow(2, { name: 'Jos@@E9 Rizal' }), linkRow(3, { account_number: 'ACC@@FF03' }), linkRow(4)]);
    const bytes = Buffer.concat(
      text.split(/@@(E9|FF)/).map((part, i) => (i % 2 === 1 ? Buffer.from([parseInt(part, 16)]) : Buffer.from(part, 'utf8'))),
    );
    const r = await run('link', bytes);
    for (const m of r.stored) expect(JSON.stringify(m), 'invalid bytes stored as U+FFFD').not.toContain('\uFFFD');
    expectSane(r, [2, 5]);
    if (r.code === 2) {
      expect(r.stderr).toMatch(/input\.csv:3\b/);
    } else {
      expect(rejectKeys(r).map(([line, field]) => [line, field])).toEqual([
        [3, 'name'],
        [4, 'account_number'],
      ]);
      expect(r.stored.map((m) => m.id_value)).toEqual(['BENE_001', 'BENE_004']);
    }
  });

  it('an empty file (0 bytes): nothing to do, or one clear line; never a crash', async () => {
    const r = await run('link', '');
    expectSane(r, [0, 2]);
    if (r.code === 0) expect(r.summary).toMatchObject({ total: 0, applied: 0, unchanged: 0, rejected: 0, notSent: 0 });
    expect(r.stored).toEqual([]);
    expect(r.rejects).toEqual([]);
  });

  it('a header-only file: exit 0, nothing to do', async () => {
    const r = await run('link', linkCsv([]));
    expectSane(r, [0]);
    expect(r.summary).toMatchObject({ total: 0, applied: 0, unchanged: 0, rejected: 0, notSent: 0 });
    expect(r.stored).toEqual([]);
  });

  it('a missing column a row needs (account_number): those rows are rejected with their lines, the others linked', async () => {
    const columns = LINK_COLUMNS.filter((c) => c !== 'account_number');
    const wallet = {
      fa_type: 'MOBILE_WALLET',
      strategy_id: '',
      bank_name: '',
      bank_code: '',
      branch_name: '',
      branch_code: '',
      wallet_provider_name: 'GCash',
      wallet_provider_code: 'GCASH',
      mobile_number: '+639170000002',
    };
    const r = await run('link', linkCsv([linkRow(1), linkRow(2, wallet), linkRow(3)], { columns }));
    expectSane(r, [2, 5]);
    if (r.code === 5) {
      expect(r.summary).toMatchObject({ total: 3, applied: 1, rejected: 2 });
      expect(rejectKeys(r).map(([line, field]) => [line, field])).toEqual([
        [2, 'account_number'],
        [4, 'account_number'],
      ]);
      expect(r.stored.map((m) => m.id_value)).toEqual(['BENE_002']);
    }
  });

  it('extra unknown columns are refused before any row is read: exit 2, naming them, nothing written', async () => {
    const columns = [...LINK_COLUMNS, 'notes', 'acount_number'];
    const r = await run('link', linkCsv([linkRow(1), linkRow(2)], { columns }));
    expectSane(r, [2]);
    expect(withoutTarget(r.stderr)).toMatch(
      /^sparctl: error \[[a-z0-9_.]+\]: .*input\.csv:1: unknown columns "notes", "acount_number" \(known columns: id, /,
    );
    expect(existsSync(join(r.dir, 'rejects.csv'))).toBe(false);
  });

  it('a 100 KB cell: a clean reject with its line (id longer than 512, name longer than 255), the rest linked', async () => {
    const long = 'x'.repeat(KB100);
    const r = await run('link', linkCsv([linkRow(1), linkRow(2, { id: long }), linkRow(3, { name: long }), linkRow(4)]));
    expectSane(r, [5]);
    expect(r.summary).toMatchObject({ total: 4, applied: 2, rejected: 2 });
    expect(rejectKeys(r)).toEqual([
      [3, 'id', 'input.invalid'],
      [4, 'name', 'input.invalid'],
    ]);
    expect(r.rejects[0]!['id']).toBe(long);
    expect(r.rejects[1]!['name']).toBe(long);
    for (const row of r.rejects) expect(row['sparctl_message']!.length).toBeLessThan(1000);
    expect(r.stored.map((m) => m.id_value)).toEqual(['BENE_001', 'BENE_004']);
  });

  it('formula cells in names and IDs are stored as given; the reject file keeps raw cells raw, sparctl columns and the results file are neutralised', async () => {
    const rows = [
      ...FORMULAS.map((name, i) => linkRow(i + 1, { name })), // lines 2–5
      linkRow(5, { id: '=1+2', name: '@x' }), // line 6
      linkRow(6, { id: '-42', name: '+63' }), // line 7
      badLinkRow(7, { id: '=HYPERLINK("http://x","y")', name: FORMULAS[0] }), // line 8
      badLinkRow(8, { id: '@BAD', name: '-1' }), // line 9
    ];
    const r = await run('link', linkCsv(rows), ['--results', 'results.csv']);
    expectSane(r, [5]);
    expect(r.summary).toMatchObject({ total: 8, applied: 6, rejected: 2 });
    FORMULAS.forEach((name, i) => expect(storedFor(r, `BENE_${String(i + 1).padStart(3, '0')}`)?.name).toBe(name));
    expect(storedFor(r, '=1+2')?.name).toBe('@x');
    expect(storedFor(r, '-42')?.name).toBe('+63');
    expect(rejectKeys(r)).toEqual([
      [8, 'strategy_id', 'input.strategy'],
      [9, 'strategy_id', 'input.strategy'],
    ]);
    // report-writers.ts: the input's own cells are written exactly as read (re-importable), not neutralised.
    expect(r.rejects.map((row) => [row['id'], row['name']])).toEqual([
      ['=HYPERLINK("http://x","y")', FORMULAS[0]],
      ['@BAD', '-1'],
    ]);
    // The reason columns first, then the raw cells as written.
    expect(r.rejectsText).toContain(
      `\n8,strategy_id,input.strategy,"strategy_id: strategy 9 does not exist (FA strategies: 2, 3, 4, 5)","=HYPERLINK(""http://x"",""y"")",BANK,9,`,
    );
    expect(r.rejectsText).toContain(`,=cmd|' /C calc'!A0,+63 917 555 0101\n`);
    expect(r.rejectsText).toContain('(FA strategies: 2, 3, 4, 5)",@BAD,BANK,9,');
    const results = expectSpreadsheetSafe(join(r.dir, 'results.csv'));
    expect(results.map((row) => [row['line'], row['id']]).sort((a, b) => Number(a[0]) - Number(b[0]))).toEqual([
      ['2', 'BENE_001'],
      ['3', 'BENE_002'],
      ['4', 'BENE_003'],
      ['5', 'BENE_004'],
      ['6', "'=1+2"],
      ['7', "'-42"],
      ['8', `'=HYPERLINK("http://x","y")`],
      ['9', "'@BAD"],
    ]);
  });

  it('duplicate and conflicting rows (link): the last row of an ID is linked, the earlier ones superseded; a second run is refused as already linked', async () => {
    const rows = [
      linkRow(1, { account_number: '111' }), // line 2
      linkRow(2), // line 3
      linkRow(1, { account_number: '111' }), // line 4: the same row again
      linkRow(1, { account_number: '222' }), // line 5: same ID, different account: decides
    ];
    const r = await run('link', linkCsv(rows), ['--results', 'results.jsonl']);
    expectSane(r, [0]);
    expect(r.summary).toMatchObject({ total: 4, applied: 2, superseded: 2, rejected: 0 });
    expect(storedFor(r, 'BENE_001')?.fa_value).toBe(exbFa('222'));
    const results = readFileSync(join(r.dir, 'results.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(results.map((x) => [x['line'], x['fate'], x['superseded_by']])).toEqual([
      [2, 'superseded', 5],
      [3, 'applied', null],
      [4, 'superseded', 5],
      [5, 'applied', null],
    ]);
  });

  it('duplicate and conflicting rows (operation=upsert): the last row of each ID decides', async () => {
    const rows = [
      linkRow(1, { account_number: '111', operation: 'upsert' }), // line 2: superseded
      linkRow(2, { operation: 'upsert' }), // line 3: superseded
      linkRow(1, { account_number: '111', operation: 'upsert' }), // line 4: superseded
      linkRow(1, { account_number: '222', name: 'Renamed', operation: 'upsert' }), // line 5: decides
      linkRow(2, { account_number: '333', operation: 'UPSERT' }), // line 6: superseded
      linkRow(2, { account_number: '0444', operation: ' upsert ' }), // line 7: decides
    ];
    const r = await run('link', linkCsv(rows, { columns: [...LINK_COLUMNS, 'operation'] }));
    expectSane(r, [0]);
    expect(r.summary).toMatchObject({ total: 6, applied: 2, superseded: 4, rejected: 0 });
    expect(r.stored).toHaveLength(2);
    expect(storedFor(r, 'BENE_001')).toMatchObject({ fa_value: exbFa('222'), name: 'Renamed' });
    expect(storedFor(r, 'BENE_002')?.fa_value).toBe(exbFa('0444'));
  });

  it('leading zeros in IDs, account numbers and codes reach the mapper unchanged', async () => {
    const wallet = {
      fa_type: 'MOBILE_WALLET',
      strategy_id: '',
      bank_name: '',
      bank_code: '',
      branch_name: '',
      branch_code: '',
      account_number: '',
      wallet_provider_name: 'GCash',
      wallet_provider_code: '007',
      // Phone numbers are the exception: stored in E.164 (a national 0917… needs --country).
      mobile_number: '+639171234567',
    };
    const rows = [
      linkRow(1, { id: '0000812345', account_number: '0012345678', bank_code: '0001', branch_code: '0000' }),
      linkRow(2, { id: '0000', account_number: '0000000000' }),
      linkRow(3, { id: '007', ...wallet }),
      badLinkRow(4, { id: '000999', account_number: '000123' }),
    ];
    const r = await run('link', linkCsv(rows));
    expectSane(r, [5]);
    expect(r.summary).toMatchObject({ total: 4, applied: 3, rejected: 1 });
    expect(storedFor(r, '0000812345')?.fa_value).toBe(
      bankFa({ account: '0012345678', branchName: 'Main', branchCode: '0000', bankName: 'Example Bank', bankCode: '0001' }),
    );
    expect(storedFor(r, '0000')?.fa_value).toBe(exbFa('0000000000'));
    expect(storedFor(r, '007')?.fa_value).toBe(
      'mobile_number:+639171234567.wallet_provider_name:GCash.wallet_provider_code:007.fa_type:MOBILE_WALLET',
    );
    expect(r.rejects[0]).toMatchObject({ sparctl_line: '5', id: '000999', account_number: '000123', branch_code: '0001' });
  });

  it('non-Latin names (Arabic, Devanagari, Chinese) are stored and rejected byte for byte', async () => {
    const rows = [
      ...NON_LATIN.map((name, i) => linkRow(i + 1, { name })),
      badLinkRow(4, { name: 'محمد علي' }),
      linkRow(5, { bank_name: 'بنك القاهرة', branch_name: 'मुख्य शाखा', name: '王小明' }),
    ];
    const r = await run('link', linkCsv(rows));
    expectSane(r, [5]);
    expect(r.summary).toMatchObject({ total: 5, applied: 4, rejected: 1 });
    expect(r.stored.map((m) => m.name)).toEqual([...NON_LATIN, '王小明']);
    expect(storedFor(r, 'BENE_005')?.fa_value).toBe(
      bankFa({ account: 'ACC005', branchName: 'मुख्य शाखा', branchCode: '0001', bankName: 'بنك القاهرة', bankCode: 'EXB' }),
    );
    expect(rejectKeys(r)).toEqual([[5, 'strategy_id', 'input.strategy']]);
    expect(r.rejects[0]!['name']).toBe('محمد علي');
  });

  it('bare-CR line endings (old Excel for Mac): rows end at each CR, lines as an editor shows them', async () => {
    const r = await run('link', linkCsv([linkRow(1), badLinkRow(2), linkRow(3, { name: 'Ana\rReyes' }), linkRow(4)], { eol: '\r' }));
    expectSane(r, [5]);
    expect(r.summary).toMatchObject({ total: 4, applied: 2, rejected: 2 });
    // The CR inside the quoted name is a line break for numbering, and data in the cell (rejected as a control character).
    expect(rejectKeys(r)).toEqual([
      [3, 'strategy_id', 'input.strategy'],
      [4, 'name', 'input.invalid'],
    ]);
    expect(r.stored.map((m) => m.id_value)).toEqual(['BENE_001', 'BENE_004']);
  });

  it('a stray quote in a row, text after a closing quote: that row is rejected with its line, the rest linked', async () => {
    const lines = linkCsv([linkRow(1), linkRow(2), linkRow(3), linkRow(4)]).split('\n');
    lines[2] = lines[2]!.replace('Person 002', 'Person "Two"');
    lines[3] = lines[3]!.replace('Person 003', '"Person" 003');
    const r = await run('link', lines.join('\n'));
    expectSane(r, [5]);
    expect(r.summary).toMatchObject({ total: 4, applied: 2, rejected: 2 });
    expect(rejectKeys(r)).toEqual([
      [3, '(line)', 'input.unreadable'],
      [4, '(line)', 'input.unreadable'],
    ]);
    expect(r.rejects[0]!['sparctl_message']).toMatch(/a quote inside an unquoted cell/);
    expect(r.rejects[1]!['sparctl_message']).toMatch(/after a quoted cell comes " "/);
    expect(r.stored.map((m) => m.id_value)).toEqual(['BENE_001', 'BENE_004']);
  });

  it('a quote never closed: exit 2 before anything is sent, naming the line the quote opens on', async () => {
    const lines = linkCsv([linkRow(1), linkRow(2), linkRow(3)]).split('\n');
    lines[3] = lines[3]!.replace('Person 003', '"Person 003');
    const r = await run('link', lines.join('\n'));
    expectSane(r, [2]);
    expect(withoutTarget(r.stderr)).toMatch(
      /^sparctl: error \[input\.csv_malformed\]: .*input\.csv:4: a quoted cell is never closed .*nothing was sent \(close the quoted cell/,
    );
    expect(r.stored).toEqual([]);
  });
});

describe('spreadsheet damage in an ID already linked', () => {
  it('a new link under a damaged ID is refused, but update and unlink reach one an earlier sparctl linked (it must stay removable)', async () => {
    const dir = tempDir();
    const { env } = cliEnv();
    const db = join(dir, 'mapper.db');
    expect((await runMain(['--create', '--db', db, 'link', '--id', 'OK1', ...bankFlags('1')], { env, cwd: dir })).code).toBe(0);
    // As an earlier sparctl linked them (its checks did not know these forms).
    const { LocalMapper } = await import('../../src/adapters/sqlite/local-mapper.js');
    const mapper = LocalMapper.open(db);
    await mapper.link(
      ["'00123", '123 456 789'].map((id) => ({ reference_id: id, id, fa: bank('2') })),
      { source: 'test' },
    );
    await mapper.close();
    const refused = await runMain(['--db', db, 'link', '--id', "'00124", ...bankFlags('3')], { env, cwd: dir });
    expect(refused.code, refused.stderr).toBe(2);
    expect(refused.stderr).toContain('mapping.spreadsheet_format');
    const updated = await runMain(['--db', db, 'update', '--id', "'00123", ...bankFlags('4')], { env, cwd: dir });
    expect(updated.code, updated.stderr).toBe(0);
    writeFileSync(join(dir, 'ids.csv'), `id\n'00123\n123 456 789\n`);
    const unlinked = await runMain(['--db', db, 'unlink', '--file', 'ids.csv', '--yes'], { env, cwd: dir });
    expect(unlinked.code, unlinked.stderr).toBe(0);
    expect(unlinked.stderr).toMatch(/unlink +2 /);
  });
});
