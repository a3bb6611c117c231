/**
 * `import-csv` of `.xlsx` workbooks written by hand, part by part, as writers other than
 * Excel and exceljs write them (openpyxl, a Japanese-input Excel, the Open XML SDK): every cell
 * reads as the text its XML holds (ECMA-376 Part 1 §18.3.1.4, §18.4) — an inline string's runs
 * whole, a shared string without its phonetic reading, `_xHHHH_` escapes decoded, a formula's
 * TRUE/FALSE and an ISO date cell as shown, entities decoded once — and a cell the workbook
 * cannot give (a shared string its table lacks) is the row's reject, never an empty cell.
 * Rows and cells without their optional `r`, and a sheet part not named sheetN.xml, are read;
 * a shared-strings table of millions of strings from a few megabytes stops in one line.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import JSZip from 'jszip';
import { describe, expect, it } from 'vitest';
// Through retained.ts: on Node 24 a collected better-sqlite3 object aborts the test process.
import { openDatabase, prepare } from '../../src/adapters/sqlite/retained.js';
import { ROOT, cliEnv } from '../helpers/run-cli.js';
import { runMain } from '../helpers/run-main.js';
import { tempDir } from '../helpers/tmp.js';

const MAPPING = join(ROOT, 'fixtures', 'enumeration.mapping.json');
const DFSP = join(ROOT, 'fixtures', 'dfsp.json');
const COLUMNS = [
  'national_id',
  'full_name',
  'contact_phone',
  'payment_method',
  'bank_code',
  'branch_code',
  'account_no',
  'old_account',
  // Empty in every row: no cell is written for them.
  'wallet',
  'payment_mobile',
  'payment_email',
];
const NS = 'http://schemas.openxmlformats.org/spreadsheetml/2006/main';
const REL = 'http://schemas.openxmlformats.org/officeDocument/2006/relationships';

const escape = (text: string) => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** A sheet's cells as raw XML, in column order from A; a string is text (a shared string), null no cell. */
type RawCell = string | { readonly xml: string } | null;

/** A workbook whose XML is written here: its shared strings, and its one sheet's rows (from row 1, the header). */
class RawBook {
  readonly strings: string[] = [];
  /** Raw `<si>` content. */
  shared(inner: string): number {
    this.strings.push(inner);
    return this.strings.length - 1;
  }
  text(value: string): string {
    return `<c t="s"><v>${this.shared(`<t xml:space="preserve">${escape(value)}</t>`)}</v></c>`;
  }
  /** `<row>`s, their cells positioned by `r` unless `withRefs` is false (ECMA-376 makes both optional). */
  rows(rows: readonly (readonly RawCell[])[], withRefs = true): string {
    return rows
      .map((cells, at) => {
        const number = at + 1;
        const xml = cells
          .map((cell, column) => {
            if (cell === null) return '';
            const raw = typeof cell === 'string' ? this.text(cell) : cell.xml;
            return withRefs ? raw.replace(/^<c\b/, `<c r="${String.fromCharCode(65 + column)}${number}"`) : raw;
          })
          .join('');
        return withRefs ? `<row r="${number}">${xml}</row>` : `<row>${xml}</row>`;
      })
      .join('');
  }
  async save(file: string, sheetData: string, options: { sheetPath?: string; sharedStrings?: Buffer } = {}): Promise<void> {
    const sheetPath = options.sheetPath ?? 'worksheets/sheet1.xml';
    const zip = new JSZip();
    const head = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n';
    zip.file(
      '[Content_Types].xml',
      `${head}<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/><Override PartName="/xl/${sheetPath}" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/></Types>`,
    );
    zip.file(
      '_rels/.rels',
      `${head}<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="${REL}/officeDocument" Target="xl/workbook.xml"/></Relationships>`,
    );
    zip.file(
      'xl/workbook.xml',
      `${head}<workbook xmlns="${NS}" xmlns:r="${REL}"><workbookPr/><sheets><sheet name="Data" sheetId="1" r:id="rId1"/></sheets></workbook>`,
    );
    zip.file(
      'xl/_rels/workbook.xml.rels',
      `${head}<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="${REL}/worksheet" Target="${sheetPath}"/><Relationship Id="rId2" Type="${REL}/styles" Target="styles.xml"/><Relationship Id="rId3" Type="${REL}/sharedStrings" Target="sharedStrings.xml"/></Relationships>`,
    );
    zip.file(
      'xl/styles.xml',
      `${head}<styleSheet xmlns="${NS}"><fonts count="1"><font><sz val="11"/><name val="Calibri"/></font></fonts><fills count="1"><fill><patternFill patternType="none"/></fill></fills><borders count="1"><border/></borders><cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs><cellXfs count="2"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/><xf numFmtId="14" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/></cellXfs></styleSheet>`,
    );
    zip.file(
      'xl/sharedStrings.xml',
      options.sharedStrings ??
        `${head}<sst xmlns="${NS}" count="${this.strings.length}" uniqueCount="${this.strings.length}">${this.strings.map((inner) => `<si>${inner}</si>`).join('')}</sst>`,
    );
    zip.file(`xl/${sheetPath}`, `${head}<worksheet xmlns="${NS}" xmlns:r="${REL}"><sheetData>${sheetData}</sheetData></worksheet>`);
    writeFileSync(file, await zip.generateAsync({ type: 'nodebuffer', compression: 'DEFLATE' }));
  }
}

/** A row of the header's columns: a bank account; `over` replaces cells by column name. */
function bankRow(n: number, over: Partial<Record<(typeof COLUMNS)[number], RawCell>> = {}): RawCell[] {
  const nn = String(n).padStart(4, '0');
  const values: Record<string, RawCell> = {
    national_id: `00041234${nn}`,
    full_name: `Persona ${nn}`,
    contact_phone: '09175550101',
    payment_method: 'bank',
    bank_code: 'LBP',
    branch_code: '0012',
    account_no: `00123456${nn}`,
    old_account: `00999999${nn}`,
    ...over,
  };
  return COLUMNS.map((column) => values[column] ?? null);
}

const inline = (inner: string) => ({ xml: `<c t="inlineStr"><is>${inner}</is></c>` });
const raw = (xml: string) => ({ xml });

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

const account = (fa: string) => /account_number:(\d+)/.exec(fa)?.[1];

/** Imports `file` with the fixture's mapping, its account taken from account_no or else old_account (a `first` mapping). */
async function importFile(dir: string, file: string) {
  const mapping = JSON.parse(readFileSync(MAPPING, 'utf8')) as { fa: Record<string, unknown> };
  mapping.fa['account_number'] = { first: ['account_no', 'old_account'] };
  writeFileSync(join(dir, 'mapping.json'), JSON.stringify(mapping));
  const { env } = cliEnv();
  const db = join(dir, 'mapper.db');
  const result = await runMain(['--create', '--db', db, 'import-csv', file, '--mapping', 'mapping.json', '--dfsp', DFSP], {
    env,
    cwd: dir,
  });
  const rejects = join(dir, file.replace(/\.xlsx$/, '.rejects.csv'));
  const rejected = existsSync(rejects)
    ? readFileSync(rejects, 'utf8')
        .replace(/^\uFEFF/, '')
        .split('\r\n')
        .filter(Boolean)
        .slice(1)
    : [];
  return { ...result, db, env, rejected };
}

describe('cells of an .xlsx as their XML holds them', () => {
  it('an inline string of several runs reads as all its runs, not its last (openpyxl writes them for rich text)', async () => {
    const dir = tempDir('sparctl-xlsx-cells-');
    const book = new RawBook();
    await book.save(
      join(dir, 'rich.xlsx'),
      book.rows([
        COLUMNS,
        bankRow(1, { national_id: inline('<r><t>000412</t></r><r><rPr><b/></rPr><t>340001</t></r>') }),
        bankRow(2, { account_no: inline('<r><t>0012</t></r><r><rPr><b/></rPr><t>34560002</t></r>') }),
        // Its last run empty: read as an empty cell, the `first` mapping took old_account.
        bankRow(3, { account_no: inline('<r><t>001234560003</t></r><r><t></t></r>') }),
        bankRow(4, { full_name: inline('<t>Ana </t><r><t>Cruz</t></r><rPh sb="0" eb="3"><t>ANA-PHONETIC</t></rPh>') }),
      ]),
    );
    const x = await importFile(dir, 'rich.xlsx');
    expect(x.code, x.stderr).toBe(0);
    expect(stored(x.db).map((m) => [m.id_value, m.name, account(m.fa_value)])).toEqual([
      ['token:000412340001@nationalId', 'Persona 0001', '001234560001'],
      ['token:000412340002@nationalId', 'Persona 0002', '001234560002'],
      ['token:000412340003@nationalId', 'Persona 0003', '001234560003'],
      ['token:000412340004@nationalId', 'Ana Cruz', '001234560004'],
    ]);
  });

  it('_xHHHH_ escapes are decoded in shared and inline strings (_x000D_ is a CR, _x005F_ an underscore); an ID or account holding a CR is refused', async () => {
    const dir = tempDir('sparctl-xlsx-cells-');
    const book = new RawBook();
    const shared = (text: string) => raw(`<c t="s"><v>${book.shared(`<t xml:space="preserve">${text}</t>`)}</v></c>`);
    await book.save(
      join(dir, 'escapes.xlsx'),
      book.rows([
        COLUMNS,
        bankRow(1, { national_id: shared('000412_x000D_340001') }),
        bankRow(2, { account_no: inline('<t>0012345_x000D_60002</t>') }),
        bankRow(3, { full_name: shared('Lit _x005F_x0041_ end') }),
        bankRow(4, { full_name: inline('<t>Ana_x0020_Cruz</t>') }),
      ]),
    );
    const x = await importFile(dir, 'escapes.xlsx');
    expect(x.code, x.stderr).toBe(5);
    expect(x.rejected).toHaveLength(2);
    expect(x.rejected[0]).toMatch(/^2,id,input\.invalid,"id contains U\+000D \(CARRIAGE RETURN\), a control character/);
    expect(x.rejected[1]).toMatch(/^3,account_number,input\.invalid,account_number contains a control character/);
    expect(stored(x.db).map((m) => [m.id_value, m.name])).toEqual([
      ['token:000412340003@nationalId', 'Lit _x0041_ end'],
      ['token:000412340004@nationalId', 'Ana Cruz'],
    ]);
  });

  it('a shared string with a phonetic reading (<rPh>) reads as its text, not the reading', async () => {
    const dir = tempDir('sparctl-xlsx-cells-');
    const book = new RawBook();
    const name = book.shared(
      '<t>Tanaka Taro</t><rPh sb="0" eb="2"><t>TANAKA-PHONETIC</t></rPh><phoneticPr fontId="1" type="noConversion"/>',
    );
    const runs = book.shared('<r><t>Sato </t></r><r><rPr><b/></rPr><t>Hana</t></r><rPh sb="0" eb="2"><t>SATO-PHONETIC</t></rPh>');
    await book.save(
      join(dir, 'phonetic.xlsx'),
      book.rows([
        COLUMNS,
        bankRow(1, { full_name: raw(`<c t="s"><v>${name}</v></c>`) }),
        bankRow(2, { full_name: raw(`<c t="s"><v>${runs}</v></c>`) }),
      ]),
    );
    const x = await importFile(dir, 'phonetic.xlsx');
    expect(x.code, x.stderr).toBe(0);
    expect(stored(x.db).map((m) => m.name)).toEqual(['Tanaka Taro', 'Sato Hana']);
  });

  it('a shared string the table does not hold is the row\'s reject naming the cell, never an empty cell a "first" mapping fills; in the header, the workbook is refused', async () => {
    const dir = tempDir('sparctl-xlsx-cells-');
    const book = new RawBook();
    await book.save(
      join(dir, 'dangling.xlsx'),
      book.rows([COLUMNS, bankRow(1), bankRow(2, { account_no: raw('<c t="s"><v>999</v></c>') }), bankRow(3)]),
    );
    const x = await importFile(dir, 'dangling.xlsx');
    expect(x.code, x.stderr).toBe(5);
    expect(x.rejected).toHaveLength(1);
    expect(x.rejected[0]).toMatch(/^3,\(line\),input\.unreadable,"?cell G3 names shared string 999, which the workbook does not hold/);
    expect(stored(x.db).map((m) => [m.id_value, account(m.fa_value)])).toEqual([
      ['token:000412340001@nationalId', '001234560001'],
      ['token:000412340003@nationalId', '001234560003'],
    ]);

    const header = new RawBook();
    await header.save(
      join(dir, 'header.xlsx'),
      header.rows([[...COLUMNS.slice(0, 7), { xml: '<c t="s"><v>4000</v></c>' }, ...COLUMNS.slice(8)], bankRow(1)]),
    );
    const h = await importFile(dir, 'header.xlsx');
    expect(h.code, h.stderr).toBe(2);
    expect(h.stderr).toContain(
      '[input.xlsx_unreadable]: header.xlsx: the workbook cannot be read (its header row: cell H1 names shared string 4000, which the workbook does not hold',
    );
  });

  it('a formula\'s TRUE/FALSE, an ISO date cell (t="d") read as shown; inline and formula text is entity-decoded once', async () => {
    const dir = tempDir('sparctl-xlsx-cells-');
    const book = new RawBook();
    await book.save(
      join(dir, 'minor.xlsx'),
      book.rows([
        COLUMNS,
        bankRow(1, { full_name: raw('<c t="b"><f>ISBLANK(Z2)</f><v>1</v></c>') }),
        bankRow(2, { full_name: raw('<c t="d"><v>2026-01-05T00:00:00</v></c>') }),
        bankRow(3, { full_name: inline('<t>Santos &amp;amp; Sons</t>') }),
        bankRow(4, { full_name: raw('<c t="str"><f>"R&amp;amp;D"</f><v>R&amp;amp;D</v></c>') }),
        // A date in the ID column is refused as a date, not as the number 2026.
        bankRow(5, { national_id: raw('<c t="d"><v>2026-03-12</v></c>') }),
        bankRow(6, { full_name: raw('<c t="b"><f>ISBLANK(A7)</f><v>0</v></c>') }),
      ]),
    );
    const x = await importFile(dir, 'minor.xlsx');
    expect(x.code, x.stderr).toBe(5);
    expect(x.rejected).toHaveLength(1);
    expect(x.rejected[0]).toMatch(/^6,id,mapping\.spreadsheet_number,"id: national_id ""2026-03-12"" is a date cell in the workbook/);
    expect(stored(x.db).map((m) => m.name)).toEqual(['TRUE', '2026-01-05', 'Santos &amp; Sons', 'R&amp;D', 'FALSE']);
  });

  it('rows and cells without their optional r attribute follow the one before; a sheet part not named sheetN.xml is read', async () => {
    const dir = tempDir('sparctl-xlsx-cells-');
    const book = new RawBook();
    // Row 3 skips a column by its r ("C3" after A3): the cells after it follow C.
    const sheet = `${book.rows([COLUMNS, bankRow(1)], false)}<row r="4">${book.text('000412340003').replace('<c', '<c r="A4"')}${book
      .text('Persona 0003')
      .replace('<c', '<c r="B4"')}${bankRow(3)
      .slice(2)
      .flatMap((cell) => (typeof cell === 'string' ? [book.text(cell)] : []))
      .join('')}</row>${book.rows([bankRow(4)], false)}`;
    await book.save(join(dir, 'norefs.xlsx'), sheet);
    const x = await importFile(dir, 'norefs.xlsx');
    expect(x.code, x.stderr).toBe(0);
    expect(stored(x.db).map((m) => [m.id_value, m.name, account(m.fa_value)])).toEqual([
      ['token:000412340001@nationalId', 'Persona 0001', '001234560001'],
      ['token:000412340003@nationalId', 'Persona 0003', '001234560003'],
      ['token:000412340004@nationalId', 'Persona 0004', '001234560004'],
    ]);

    const oddDir = tempDir('sparctl-xlsx-cells-');
    const odd = new RawBook();
    await odd.save(join(oddDir, 'odd.xlsx'), odd.rows([COLUMNS, bankRow(1), bankRow(2, { bank_code: 'XYZ' })]), {
      sheetPath: 'worksheets/data.xml',
    });
    const o = await importFile(oddDir, 'odd.xlsx');
    expect(o.code, o.stderr).toBe(5);
    expect(o.rejected[0]).toMatch(/^3,bank_code,mapping\.unknown_bank,/);
    expect(stored(o.db).map((m) => m.id_value)).toEqual(['token:000412340001@nationalId']);
  });

  it('multi-byte characters cut between two chunks of a part read whole', async () => {
    const dir = tempDir('sparctl-xlsx-cells-');
    const book = new RawBook();
    // An odd prefix, then two-byte characters only: the part's chunk boundaries (16 KiB) fall inside some.
    const names = Array.from({ length: 400 }, (_, i) => `${'a'.repeat(i % 2)}${'ñ'.repeat(90)}${i}`);
    await book.save(join(dir, 'utf8.xlsx'), book.rows([COLUMNS, ...names.map((name, i) => bankRow(i + 1, { full_name: name }))]));
    const x = await importFile(dir, 'utf8.xlsx');
    expect(x.code, x.stderr).toBe(0);
    const read = stored(x.db).map((m) => m.name);
    expect(read.filter((name) => name?.includes('\uFFFD'))).toEqual([]);
    expect(read.sort()).toEqual([...names].sort());
  });
});
