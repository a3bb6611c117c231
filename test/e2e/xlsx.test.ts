/**
 * `import-csv` of an `.xlsx` workbook, end to end: made at test time with exceljs, it imports
 * the same rows as the same data written as CSV; sheet rows are its line numbers; its rejects are
 * a CSV file that the printed command feeds back; spreadsheet damage (numbers in ID and account
 * columns, scientific notation, `="…"`, lost leading zeros of DFSP codes) is rejected with its
 * reason, in a workbook and in a CSV export alike; files that are no workbook are refused in one
 * line; a run killed with SIGKILL and run again leaves the database a clean run leaves.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { copyFileSync, existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import ExcelJS from 'exceljs';
import JSZip from 'jszip';
import { afterEach, describe, expect, it } from 'vitest';
// Through retained.ts: on Node 24 a collected better-sqlite3 object aborts the test process.
import { openDatabase, prepare } from '../../src/adapters/sqlite/retained.js';
import { BIN, ROOT, SPAWN_LIMIT, cliEnv, runCli } from '../helpers/run-cli.js';
import { refeedArgs, runMain } from '../helpers/run-main.js';
import { tempDir } from '../helpers/tmp.js';

const MAPPING = join(ROOT, 'fixtures', 'enumeration.mapping.json');
const DFSP = join(ROOT, 'fixtures', 'dfsp.json');
const COLUMNS = [
  'household_no',
  'national_id',
  'full_name',
  'contact_phone',
  'payment_method',
  'bank_code',
  'branch_code',
  'account_no',
  'wallet',
  'payment_mobile',
  'payment_email',
];

/** A cell's value as exceljs takes it: text, a number, a date, TRUE/FALSE or an error value. */
type Cell = string | number | boolean | Date | { error: string } | null;

function row(n: number, over: Record<string, Cell> = {}): Record<string, Cell> {
  const nn = String(n).padStart(4, '0');
  return {
    household_no: `HH-${nn}`,
    national_id: `00041234${nn}`,
    full_name: `Persona ${nn} Núñez`,
    contact_phone: '0917 555 0101',
    payment_method: 'bank',
    bank_code: 'LBP',
    branch_code: '0012',
    account_no: `00123456${nn}`,
    wallet: '',
    payment_mobile: '',
    payment_email: '',
    ...over,
  };
}

/** A workbook: `sheets` in tab order, each a header and rows (null: an empty row); `hidden` names hidden sheets. */
async function workbook(file: string, sheets: Record<string, (Record<string, Cell> | null)[]>, hidden: string[] = []): Promise<void> {
  const book = new ExcelJS.Workbook();
  for (const [name, rows] of Object.entries(sheets)) {
    const sheet = book.addWorksheet(name, hidden.includes(name) ? { state: 'hidden' } : {});
    sheet.addRow(COLUMNS);
    for (const r of rows) sheet.addRow(r === null ? [] : COLUMNS.map((c) => (r[c] ?? null) as ExcelJS.CellValue));
  }
  await book.xlsx.writeFile(file);
}

function csv(rows: (Record<string, Cell> | null)[]): string {
  const cell = (v: Cell) => {
    const text = v === null ? '' : String(v);
    return /[",\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
  };
  return `${[COLUMNS.join(','), ...rows.map((r) => (r === null ? '' : COLUMNS.map((c) => cell(r[c] ?? null)).join(',')))].join('\n')}\n`;
}

function stored(db: string): { id_value: string; fa_value: string; name: string | null }[] {
  if (!existsSync(db)) return [];
  const handle = openDatabase(db, { readonly: true, fileMustExist: true });
  try {
    return prepare(handle, 'SELECT id_value, fa_value, name FROM id_fa_mappings ORDER BY id_value').all() as {
      id_value: string;
      fa_value: string;
      name: string | null;
    }[];
  } finally {
    handle.close();
  }
}

async function importFile(dir: string, file: string, extra: string[] = []) {
  const { env } = cliEnv();
  const db = join(dir, 'mapper.db');
  const result = await runMain(['--create', '--db', db, 'import-csv', file, '--mapping', MAPPING, '--dfsp', DFSP, ...extra], {
    env,
    cwd: dir,
  });
  return { ...result, db, env };
}

/** The reject file's rows after its header: [line, field, code, ID cell]. */
function rejectRows(path: string, csvInput = false): string[][] {
  const text = readFileSync(path, 'utf8');
  // A workbook's: CSV UTF-8, as Excel writes it (BOM, CRLF); a CSV's: as the input was written.
  expect(text.startsWith('\uFEFF')).toBe(!csvInput);
  const lines = text
    .replace(/^\uFEFF/, '')
    .split(csvInput ? '\n' : '\r\n')
    .filter(Boolean);
  const header = lines[0]!.split(',');
  expect(header.slice(0, 4)).toEqual(['sparctl_line', 'sparctl_field', 'sparctl_code', 'sparctl_message']);
  const id = header.indexOf('national_id');
  return lines.slice(1).map((line) => {
    const cells = line.match(/("(?:[^"]|"")*"|[^,]*)(,|$)/g)!.map((c) => c.replace(/,$/, ''));
    return [cells[0]!, cells[1]!, cells[2]!, cells[id]!];
  });
}

const children: ChildProcess[] = [];
afterEach(() => {
  for (const child of children.splice(0)) if (child.exitCode === null) child.kill('SIGKILL');
});

/**
 * Runs the built binary and SIGKILLs it once the mapper holds some records: how many it held
 * then, and whether the kill came before the run ended (a loaded machine can delay the poll past
 * the run's last write).
 */
function killMidRun(args: string[], env: Record<string, string>, cwd: string, db: string): Promise<{ held: number; killed: boolean }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [BIN, ...args], { ...SPAWN_LIMIT, env, cwd, stdio: 'ignore' });
    children.push(child);
    let held = 0;
    const poll = setInterval(() => {
      held = stored(db).length;
      if (held > 0) child.kill('SIGKILL');
    }, 5);
    child.on('exit', (_code, signal) => {
      clearInterval(poll);
      resolve({ held, killed: signal === 'SIGKILL' });
    });
  });
}

describe('import-csv of an .xlsx workbook', () => {
  it('killed with SIGKILL mid-run and run again: the database a clean run leaves (binary)', async () => {
    const ROWS = 2_000;
    const dir = tempDir('sparctl-xlsx-kill-');
    // Some IDs twice (a later row supersedes), some rows rejected: the resumed run must agree on all.
    const rows = Array.from({ length: ROWS }, (_, i) =>
      row(i % 7 === 6 ? i - 3 : i, i % 97 === 0 ? { bank_code: 'XYZ' } : { full_name: `Persona ${i}` }),
    );
    await workbook(join(dir, 'big.xlsx'), { Households: rows });
    const { env } = cliEnv();
    const args = (db: string) => ['--db', db, 'import-csv', 'big.xlsx', '--mapping', MAPPING, '--dfsp', DFSP, '--batch-size', '25'];
    const clean = join(dir, 'clean.db');
    const cleanRun = await runMain(['--create', ...args(clean)], { env, cwd: dir });
    expect(cleanRun.code).toBe(5);

    const cleanRows = stored(clean);
    // Up to three tries at a kill that lands mid-run: the window is a fraction of a second, and a
    // kill that comes after the run's last write (or after its end) is no kill mid-run.
    let killed = '';
    let outcome = { held: 0, killed: false };
    const midRun = () => outcome.killed && outcome.held > 0 && stored(killed).length < cleanRows.length;
    for (let attempt = 1; attempt <= 3 && (attempt === 1 || !midRun()); attempt++) {
      killed = join(dir, `killed-${attempt}.db`);
      await runMain(['init', '--db', killed], { env, cwd: dir });
      outcome = await killMidRun(args(killed), env, dir, killed);
    }
    expect(outcome).toEqual({ held: expect.any(Number), killed: true });
    expect(outcome.held).toBeGreaterThan(0);
    expect(stored(killed).length).toBeLessThan(cleanRows.length);
    const resumed = await runCli(args(killed), { env, cwd: dir });
    expect(resumed.code).toBe(5);
    expect(stored(killed)).toEqual(cleanRows);
  }, 120_000);

  it('imports the same rows as the same data in CSV; lines are sheet rows; rejects are a CSV the printed command feeds back', async () => {
    const rows = [
      row(1),
      row(2, { full_name: 'Dela Cruz, "Ria"' }),
      null, // an empty row: skipped, and the rows after it keep their sheet numbers
      row(4, { bank_code: 'XYZ' }), // sheet row 5: unknown bank
      row(5, { payment_method: 'gcash', bank_code: '', branch_code: '', account_no: '', wallet: 'GCASH', payment_mobile: '0917 555 0105' }),
      row(1, { full_name: 'Persona 0001 again' }), // a later row of ID 1 supersedes row 2
    ];
    const dirX = tempDir('sparctl-xlsx-');
    await workbook(join(dirX, 'households.xlsx'), { Households: rows });
    const x = await importFile(dirX, 'households.xlsx');
    const dirC = tempDir('sparctl-xlsx-csv-');
    writeFileSync(join(dirC, 'households.csv'), csv(rows));
    const c = await importFile(dirC, 'households.csv');
    expect([x.code, c.code]).toEqual([5, 5]);
    expect(stored(x.db)).toEqual(stored(c.db));
    expect(stored(x.db)).toHaveLength(3);
    // Sheet row 5 is CSV line 5 too (the CSV's empty line is skipped the same way).
    expect(rejectRows(join(dirX, 'households.rejects.csv'))).toEqual([['5', 'bank_code', 'mapping.unknown_bank', '000412340004']]);
    const refeed = /re-feed the fixed rows: sparctl (.*)/.exec(x.stderr)?.[1];
    expect(refeed).toContain("import-csv 'households.rejects.csv'");
    // The printed command, as a shell would split it, reads the reject file (the row is still bad);
    // its rejects still name the workbook's sheet row, not the line of the reject file read.
    const words = refeedArgs(refeed!);
    const again = await runMain(words, { env: x.env, cwd: dirX });
    expect(again.code).toBe(5);
    expect(rejectRows(join(dirX, 'households.rejects.rejects.csv'))).toEqual([['5', 'bank_code', 'mapping.unknown_bank', '000412340004']]);
  });

  it('--sheet reads the sheet named; an unknown one is exit 2 listing the sheets; the default is the first tab', async () => {
    const dir = tempDir('sparctl-xlsx-');
    await workbook(join(dir, 'book.xlsx'), { Notes: [row(9, { bank_code: 'XYZ' })], Data: [row(1), row(2)] });
    const first = await importFile(dir, 'book.xlsx');
    expect(first.code).toBe(5); // the first tab, Notes: its one row rejected
    const data = await importFile(dir, 'book.xlsx', ['--sheet', 'Data']);
    expect(data.code).toBe(0);
    expect(stored(data.db).map((m) => m.id_value)).toEqual(['token:000412340001@nationalId', 'token:000412340002@nationalId']);
    const none = await importFile(dir, 'book.xlsx', ['--sheet', 'Summary']);
    expect(none.code).toBe(2);
    expect(none.stderr).toContain('[usage.sheet]: book.xlsx has no sheet "Summary"; nothing was sent (its sheets are: "Notes", "Data")');
    const onCsv = await importFile(dir, join(ROOT, 'fixtures', 'enumeration.csv'), ['--sheet', 'Data']);
    expect(onCsv.code).toBe(2);
    expect(onCsv.stderr).toContain('[usage.conflicting_option]: --sheet is for .xlsx workbooks');
  });

  it('a hidden first sheet is refused without --sheet, naming it and the visible ones; --sheet reads either', async () => {
    const dir = tempDir('sparctl-xlsx-');
    await workbook(join(dir, 'book.xlsx'), { OldData: [row(9)], Households: [row(1)], Lists: [row(2)] }, ['OldData']);
    const r = await importFile(dir, 'book.xlsx');
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toContain('[usage.sheet]: book.xlsx: its first sheet, "OldData", is hidden; nothing was sent');
    expect(r.stderr).toContain('name the sheet to read with --sheet: its visible sheets are "Households", "Lists"');
    expect(stored(r.db)).toEqual([]);
    const households = await importFile(dir, 'book.xlsx', ['--sheet', 'Households']);
    expect(households.code, households.stderr).toBe(0);
    expect(stored(households.db).map((m) => m.id_value)).toEqual(['token:000412340001@nationalId']);
    rmSync(households.db);
    const old = await importFile(dir, 'book.xlsx', ['--sheet', 'OldData']);
    expect(old.code, old.stderr).toBe(0);
    expect(stored(old.db).map((m) => m.id_value)).toEqual(['token:000412340009@nationalId']);
    const none = await importFile(dir, 'book.xlsx', ['--sheet', 'Nope']);
    expect(none.stderr).toContain('its sheets are: "OldData" (hidden), "Households", "Lists"');
  });

  it('reads a workbook whatever order its parts are stored in (as Excel stores them: shared strings after the sheets)', async () => {
    const dir = tempDir('sparctl-xlsx-');
    // fixtures/excel-order.xlsx: the workbook below, its parts stored as Excel stores them (the
    // document properties and workbook first, the sheets, then theme, styles and shared
    // strings), written with Python's zipfile. exceljs's own streaming pass read its text cells
    // as "[object Object]" (header refused as a repeated column) on every run.
    await workbook(join(dir, 'made.xlsx'), { Notes: [row(9)], Data: [row(1), row(2, { bank_code: 'XYZ' }), row(3)] });
    const zip = await JSZip.loadAsync(readFileSync(join(dir, 'made.xlsx')));
    const parts = Object.keys(zip.files).filter((path) => !zip.files[path]!.dir);
    // Every part in reverse: nothing that names the sheets is known until the end.
    const reversed = new JSZip();
    for (const path of [...parts].reverse()) reversed.file(path, await zip.file(path)!.async('uint8array'), { createFolders: false });
    writeFileSync(join(dir, 'reversed.xlsx'), await reversed.generateAsync({ type: 'nodebuffer', compression: 'DEFLATE' }));
    copyFileSync(join(ROOT, 'fixtures', 'excel-order.xlsx'), join(dir, 'excel.xlsx'));
    for (const file of ['excel.xlsx', 'reversed.xlsx']) {
      const data = await importFile(dir, file, ['--sheet', 'Data']);
      expect(data.code, `${file}: ${data.stderr}`).toBe(5);
      expect(stored(data.db).map((m) => [m.id_value, m.name])).toEqual([
        ['token:000412340001@nationalId', 'Persona 0001 Núñez'],
        ['token:000412340003@nationalId', 'Persona 0003 Núñez'],
      ]);
      expect(rejectRows(join(dir, `${file.replace('.xlsx', '')}.rejects.csv`))).toEqual([
        ['3', 'bank_code', 'mapping.unknown_bank', '000412340002'],
      ]);
      rmSync(data.db);
      const notes = await importFile(dir, file);
      expect(
        stored(notes.db).map((m) => m.id_value),
        `${file}: the first tab`,
      ).toEqual(['token:000412340009@nationalId']);
      rmSync(notes.db);
    }
  });

  it('files that are no workbook: one line each, exit 2, nothing written', async () => {
    const dir = tempDir('sparctl-xlsx-');
    const cases: [string, Buffer | string, string][] = [
      ['csv.xlsx', csv([row(1)]), 'csv.xlsx: not an .xlsx workbook (not a zip archive); nothing was sent'],
      ['empty.xlsx', '', 'empty.xlsx: not an .xlsx workbook (the file is empty)'],
      [
        'locked.xlsx',
        Buffer.concat([Buffer.from('d0cf11e0a1b11ae1', 'hex'), Buffer.alloc(504)]),
        'locked.xlsx: a password-protected workbook or an old .xls file',
      ],
      ['broken.xlsx', Buffer.concat([Buffer.from('504b0304', 'hex'), Buffer.alloc(300, 7)]), 'broken.xlsx: the workbook cannot be read'],
    ];
    for (const [name, content, message] of cases) {
      writeFileSync(join(dir, name), content);
      const r = await importFile(dir, name);
      expect(r.code, name).toBe(2);
      const errors = r.stderr.split('\n').filter((line) => line.startsWith('sparctl: error'));
      expect(errors, name).toHaveLength(1);
      expect(errors[0], name).toContain(message);
      expect(stored(r.db), name).toEqual([]);
    }
  });

  it('spreadsheet damage is rejected with its reason, in a workbook and in a CSV export', async () => {
    const dir = tempDir('sparctl-xlsx-');
    await workbook(join(dir, 'damaged.xlsx'), {
      Sheet1: [
        row(1),
        row(2, { national_id: 412340002 }), // a number cell: its leading zeros are gone
        row(3, { account_no: 1234560000003 }), // a number cell in the account column
        row(4, { branch_code: 12 }), // "12" is not a branch, "0012" is
        row(5, { account_no: '2.77366E+14' }), // text, as a CSV round trip leaves it
        row(6, { contact_phone: 9175550106 }), // a phone as a number, its 0 lost: a PH number all the same
        row(7, { contact_phone: 639175550107 }), // 12 digits: General shows (and a CSV export writes) 6.39176E+11
      ],
    });
    const x = await importFile(dir, 'damaged.xlsx');
    expect(x.code).toBe(5);
    const rejects = rejectRows(join(dir, 'damaged.rejects.csv'));
    expect(rejects).toEqual([
      ['3', 'id', 'mapping.spreadsheet_number', '412340002'],
      ['4', 'account_number', 'mapping.spreadsheet_number', '000412340003'],
      ['5', 'branch_code', 'mapping.leading_zeros_lost', '000412340004'],
      ['6', 'account_number', 'mapping.spreadsheet_exponent', '000412340005'],
      ['8', 'phone_number', 'mapping.spreadsheet_exponent', '000412340007'],
    ]);
    const text = readFileSync(join(dir, 'damaged.rejects.csv'), 'utf8');
    expect(text).toContain('branch code ""12"" is not in the DFSP list, but ""0012"" is: its leading zeros were lost');
    expect(text).toContain('is stored as a number in the workbook');
    expect(stored(x.db).map((m) => m.id_value)).toEqual(['token:000412340001@nationalId', 'token:000412340006@nationalId']);

    // The same damage as a European-locale CSV export shows it.
    const csvDir = tempDir('sparctl-xlsx-csv-');
    writeFileSync(
      join(csvDir, 'export.csv'),
      csv([row(1, { account_no: '2,77366E+14' }), row(2, { national_id: '1E+15' }), row(3, { account_no: '="001234560003"' }), row(4)]),
    );
    const c = await importFile(csvDir, 'export.csv');
    expect(c.code).toBe(5);
    expect(rejectRows(join(csvDir, 'export.rejects.csv'), true)).toEqual([
      ['2', 'account_number', 'mapping.spreadsheet_exponent', '000412340001'],
      ['3', 'id', 'mapping.spreadsheet_exponent', '1E+15'],
      ['4', 'account_number', 'mapping.spreadsheet_formula', '000412340003'],
    ]);
    expect(readFileSync(join(csvDir, 'export.rejects.csv'), 'utf8')).toContain(
      '""2,77366E+14"" is a number a spreadsheet wrote in scientific notation',
    );
  });
});

describe('cells of an .xlsx that hold no typed value', () => {
  it('a date, an error value or TRUE/FALSE in the ID or account column is refused, saying what it is; elsewhere it reads as shown', async () => {
    const dir = tempDir('sparctl-xlsx-');
    await workbook(join(dir, 'cells.xlsx'), {
      Sheet1: [
        row(1),
        row(2, { account_no: new Date(Date.UTC(2026, 0, 5)) }), // 1-5 typed into a General cell
        row(3, { account_no: { error: '#N/A' } }), // a failed VLOOKUP, pasted as a value
        row(4, { account_no: true }),
        row(5, { national_id: new Date(Date.UTC(2026, 2, 12)) }), // 3-12
        row(6, { national_id: { error: '#N/A' } }),
        row(7, { national_id: false }),
        row(8, { full_name: true }), // a name column keeps the text Excel shows
      ],
    });
    const x = await importFile(dir, 'cells.xlsx');
    expect(x.code, x.stderr).toBe(5);
    expect(rejectRows(join(dir, 'cells.rejects.csv'))).toEqual([
      ['3', 'account_number', 'mapping.spreadsheet_number', '000412340002'],
      ['4', 'account_number', 'mapping.spreadsheet_number', '000412340003'],
      ['5', 'account_number', 'mapping.spreadsheet_number', '000412340004'],
      ['6', 'id', 'mapping.spreadsheet_number', '2026-03-12'],
      ['7', 'id', 'mapping.spreadsheet_number', '#N/A'],
      ['8', 'id', 'mapping.spreadsheet_number', 'FALSE'],
    ]);
    const text = readFileSync(join(dir, 'cells.rejects.csv'), 'utf8');
    expect(text).toContain('account_no ""2026-01-05"" is a date cell in the workbook, not the value typed');
    expect(text).toContain('account_no ""#N/A"" is an error value in the workbook (a formula that failed: #N/A is a VLOOKUP');
    expect(text).toContain('account_no ""TRUE"" is a TRUE/FALSE (boolean) cell in the workbook');
    expect(text).toContain('national_id ""2026-03-12"" is a date cell');
    expect(stored(x.db).map((m) => [m.id_value, m.name])).toEqual([
      ['token:000412340001@nationalId', 'Persona 0001 Núñez'],
      ['token:000412340008@nationalId', 'TRUE'],
    ]);
  });
});

describe('formula cells of an .xlsx without a usable result', () => {
  it('a formula that failed (#N/A) or was saved without its result (exceljs gives neither a result) is refused in the ID and account columns, never read as empty (a "first" mapping took the old account)', async () => {
    const dir = tempDir('sparctl-xlsx-');
    const book = new ExcelJS.Workbook();
    const sheet = book.addWorksheet('Sheet1');
    sheet.addRow([...COLUMNS, 'old_account']);
    const line = (n: number, over: Record<string, ExcelJS.CellValue>) => {
      const values = row(n) as Record<string, ExcelJS.CellValue>;
      sheet.addRow([...COLUMNS.map((c) => (c in over ? over[c] : values[c])), `0099999999${String(n).padStart(2, '0')}`]);
    };
    line(1, {});
    line(2, { account_no: { formula: 'VLOOKUP(A3,Sheet2!A:B,2,0)', result: { error: '#N/A' } } as ExcelJS.CellValue });
    line(3, { account_no: { formula: 'Sheet2!B4' } as ExcelJS.CellValue });
    line(4, { national_id: { formula: 'VLOOKUP(A5,Sheet2!A:B,2,0)', result: { error: '#N/A' } } as ExcelJS.CellValue });
    line(5, { account_no: { formula: 'Sheet2!B6', result: '001234560005' } as ExcelJS.CellValue });
    // In a column no damage rule covers, a name: unknown all the same (it was stored as "=CONCAT(…)").
    line(6, { full_name: { formula: 'CONCAT(B7,C7)' } as ExcelJS.CellValue });
    // A row of formulas without results only is an empty row, as it always was: skipped, no reject
    // (counted, it moved every later row from where a journal of an earlier sparctl has it).
    sheet.addRow([{ formula: 'A7&"Z"' }, { formula: 'B7&"1"' }] as ExcelJS.CellValue[]);
    line(7, {});
    await book.xlsx.writeFile(join(dir, 'formulas.xlsx'));
    const mapping = JSON.parse(readFileSync(MAPPING, 'utf8')) as { fa: Record<string, unknown> };
    mapping.fa['account_number'] = { first: ['account_no', 'old_account'] };
    writeFileSync(join(dir, 'mapping.json'), JSON.stringify(mapping));
    const { env } = cliEnv();
    const db = join(dir, 'mapper.db');
    const x = await runMain(['--create', '--db', db, 'import-csv', 'formulas.xlsx', '--mapping', 'mapping.json', '--dfsp', DFSP], {
      env,
      cwd: dir,
    });
    expect(x.code, x.stderr).toBe(5);
    expect(rejectRows(join(dir, 'formulas.rejects.csv'))).toEqual([
      ['3', 'account_number', 'mapping.spreadsheet_number', '000412340002'],
      ['4', 'account_number', 'mapping.spreadsheet_number', '000412340003'],
      ['5', 'id', 'mapping.spreadsheet_number', '"\'=VLOOKUP(A5,Sheet2!A:B,2,0)"'],
      ['7', 'name', 'mapping.spreadsheet_number', '000412340006'],
    ]);
    const text = readFileSync(join(dir, 'formulas.rejects.csv'), 'utf8');
    expect(text).toContain('account_no ""=VLOOKUP(A3,Sheet2!A:B,2,0)"" is a formula whose result the workbook does not hold: it failed');
    expect(text).toContain('account_no ""=Sheet2!B4"" is a formula whose result the workbook does not hold');
    // The formula with its result reads as that result; no row took the old account.
    expect(stored(db).map((m) => /account_number:(\d+)/.exec(m.fa_value)?.[1])).toEqual(['001234560001', '001234560005', '001234560007']);
  });
});

describe('the reject file of a workbook', () => {
  it('quotes cells Excel would run, and the fixed file fed back gives the values first read', async () => {
    const dir = tempDir('sparctl-xlsx-');
    const evil = '=HYPERLINK("http://evil","x")';
    await workbook(join(dir, 'book.xlsx'), {
      Sheet1: [
        row(1, { full_name: evil, household_no: '-2+3', payment_email: '@SUM(1+1)', bank_code: 'XYZ' }),
        row(2, { full_name: '+1', bank_code: 'XYZ' }),
      ],
    });
    const x = await importFile(dir, 'book.xlsx');
    expect(x.code, x.stderr).toBe(5);
    const text = readFileSync(join(dir, 'book.rejects.csv'), 'utf8');
    const lines = text.replace(/^\uFEFF/, '').split('\r\n');
    expect(lines[0]).toBe(`sparctl_line,sparctl_field,sparctl_code,sparctl_message,sparctl_quoted,${COLUMNS.join(',')}`);
    // No cell starts with what a spreadsheet runs: = + - @ (a quoted cell starts with its quote).
    for (const line of lines.slice(1)) for (const cell of line.split(',')) expect(cell).not.toMatch(/^"?[=+\-@\t\r]/);
    expect(lines[1]).toContain(`"household_no, full_name, payment_email",'-2+3,`);
    expect(lines[1]).toContain(`"'=HYPERLINK(""http://evil"",""x"")"`);
    expect(lines[2]).toContain(",'+1,");
    // Fixed (the bank code) and fed back with the printed command: the values as the workbook had them.
    writeFileSync(join(dir, 'book.rejects.csv'), text.replaceAll(',XYZ,', ',LBP,'));
    const refeed = /re-feed the fixed rows: sparctl (.*)/.exec(x.stderr)![1]!;
    const again = await runMain(refeedArgs(refeed), { env: x.env, cwd: dir });
    expect(again.code, again.stderr).toBe(0);
    expect(stored(x.db).map((m) => [m.id_value, m.name])).toEqual([
      ['token:000412340001@nationalId', evil],
      ['token:000412340002@nationalId', '+1'],
    ]);
  });
});

describe('link --file of an .xlsx', () => {
  it('is refused with the command that reads a workbook', async () => {
    const dir = tempDir('sparctl-xlsx-');
    await workbook(join(dir, 'book.xlsx'), { Sheet1: [row(1)] });
    const { env } = cliEnv();
    const r = await runMain(['--create', '--db', join(dir, 'm.db'), 'link', '--file', 'book.xlsx'], { env, cwd: dir });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('[usage.xlsx_needs_mapping]: book.xlsx: an .xlsx workbook; --file reads CSV and JSONL record files');
  });
});
