import { describe, expect, it } from 'vitest';
import { cellText, describeXlsxError, shownNumber } from '../../src/adapters/input/xlsx-reader.js';
import { headerHint } from '../../src/app/import-csv.js';
import { compileMapping } from '../../src/core/mapping.js';
import { numberCellDamage, recordDamage, spreadsheetDamage, unfixedDamage, zeroPaddedMatch } from '../../src/core/spreadsheet-damage.js';

describe('numbers as Excel shows them', () => {
  it.each([
    [277366012345678, 'General', '2.77366E+14'],
    [1e15, 'General', '1E+15'],
    [639175550101, 'General', '6.39176E+11'],
    [12345678901, 'General', '12345678901'],
    [412, undefined, '412'],
    [0.1, 'General', '0.1'],
    [412, '0000', '0412'],
    [412345004, '000000000000', '000412345004'],
    [2.5, '0.00', '2.50'],
    [2.5, '0', '3'],
    [7, '@', '7'],
  ])('%s in %s shows %s', (value, format, shown) => {
    expect(shownNumber(value, format)).toBe(shown);
  });

  it('a number cell is named as one, unless a zero-padded format shows every digit', () => {
    expect(cellText({ value: 412345004, numFmt: 'General' })).toEqual({ text: '412345004', number: true });
    expect(cellText({ value: 412345004, numFmt: '000000000000' })).toEqual({ text: '000412345004', number: false });
    expect(cellText({ value: '000412345004' })).toEqual({ text: '000412345004', number: false });
    expect(cellText({ value: { formula: 'A1', result: 5 } })).toEqual({ text: '5', number: true });
    expect(cellText({ value: { richText: [{ text: 'Ma' }, { text: 'ría' }] } })).toEqual({ text: 'María', number: false });
  });

  it('so is a date, TRUE/FALSE or an error value (none was typed as text), and the damage says which', () => {
    expect(cellText({ value: new Date(Date.UTC(2026, 2, 12)) })).toEqual({ text: '2026-03-12', number: true });
    expect(cellText({ value: { error: '#N/A' } })).toEqual({ text: '#N/A', number: true });
    expect(cellText({ value: true })).toEqual({ text: 'TRUE', number: true });
    expect(cellText({ value: { formula: 'A1=B1', result: false } })).toEqual({ text: 'FALSE', number: true });
    expect(numberCellDamage('acct', '2026-03-12').message).toMatch(
      /^acct "2026-03-12" is a date cell in the workbook, not the value typed/,
    );
    expect(numberCellDamage('acct', '2026-03-12T08:30:00Z').message).toContain('is a date cell');
    for (const error of ['#N/A', '#REF!', '#VALUE!', '#DIV/0!', '#NAME?', '#NULL!', '#NUM!', '#SPILL!'])
      expect(numberCellDamage('acct', error).message, error).toContain(`acct "${error}" is an error value in the workbook`);
    expect(numberCellDamage('acct', 'FALSE').message).toContain('is a TRUE/FALSE (boolean) cell');
    for (const number of ['412345004', '2.77366E+14', '-12', '0.5'])
      expect(numberCellDamage('acct', number).message, number).toContain('is stored as a number in the workbook');
    // Fed back unchanged in a reject file, a date is refused again as any number cell is.
    const fedBack = { code: 'mapping.spreadsheet_number', message: numberCellDamage('account_no', '2026-01-05').message };
    expect(unfixedDamage(fedBack, () => '2026-01-05')?.code).toBe('mapping.damage_not_fixed');
  });
});

describe('a workbook that cannot be read, in words', () => {
  it('"a damaged zip archive" only when the zip or its compression is; a part too large once inflated says so', () => {
    // What a zip bomb raises: a 700 MB shared string, or 2 GB of whitespace in sheetData (V8's limit on a string).
    expect(describeXlsxError(new RangeError('Invalid string length'))).toBe(
      'one of its parts is too large once inflated: a zip bomb, not a workbook sparctl can read',
    );
    expect(
      describeXlsxError(
        Object.assign(new Error('Cannot create a string longer than 0x1fffffe8 characters'), { code: 'ERR_STRING_TOO_LONG' }),
      ),
    ).toContain('too large once inflated');
    expect(describeXlsxError(new RangeError('Array buffer allocation failed'))).toContain('too large once inflated');
    for (const message of ['Invalid string length', 'invalid XML', 'Invalid character in entity name'])
      expect(describeXlsxError(new Error(message)), message).not.toContain('zip');
    expect(describeXlsxError(new Error('FILE_ENDED'))).toBe('a damaged zip archive');
    expect(describeXlsxError(new Error('invalid signature: 0x7070707'))).toBe('a damaged zip archive');
    expect(describeXlsxError(Object.assign(new Error('invalid distance too far back'), { code: 'Z_DATA_ERROR' }))).toBe(
      'a damaged zip archive',
    );
    expect(describeXlsxError(new Error('BAD_PASSWORD'))).toBe('an encrypted zip archive');
  });
});

describe('spreadsheet damage', () => {
  it.each(['2,77366E+14', '2.77366E+14', '1E+15', '2.8e14', '-1E-05'])(
    '%s is scientific notation in an account, code or phone',
    (value) => {
      expect(spreadsheetDamage('acct', value, true)?.code).toBe('mapping.spreadsheet_exponent');
    },
  );
  it.each(['2,77366E+14', '2.77366E+14', '1E+15', '6.39176E+11', '2.8e+14'])('%s is scientific notation in an ID too', (value) => {
    expect(spreadsheetDamage('id', value)?.code).toBe('mapping.spreadsheet_exponent');
  });
  // An ID may be any token: only the form a spreadsheet writes (one digit, a signed exponent) is refused there.
  it.each(['0004123450E19', '1E5', '12E4567', '2.8e14', '12.5E+3'])(
    '%s may be an ID: intact there, scientific notation in an account',
    (value) => {
      expect(spreadsheetDamage('id', value)).toBeUndefined();
      expect(spreadsheetDamage('acct', value, true)?.code).toBe('mapping.spreadsheet_exponent');
    },
  );
  it.each(['000412345004', 'E123', '12E', 'ACC-1E+5', '2.77'])('%s is intact', (value) => {
    expect(spreadsheetDamage('acct', value)).toBeUndefined();
  });
  it.each([
    ['1234567806.0', 'showed with decimals'],
    ['1234567899.00', 'showed with decimals'],
    ['1,234,567,807', 'thousands separators'],
    ['1,234,567,807.00', 'thousands separators'],
    ['1\u00A0234\u00A0567', 'thousands separators'],
    ['1\u202F234\u202F567', 'thousands separators'],
    ['1 234 567 813', 'thousands separators'],
    ["'001234567890", 'apostrophe a spreadsheet uses to mark text'],
    ['-1234567810', 'negative number'],
    ['-1,234', 'negative number'],
    ['1234567806,0', 'showed with decimals'],
    ['1.234.567', 'thousands separators'],
    ['1.234.567,00', 'thousands separators'],
    ['12,34,567', 'thousands separators'],
    ["1'234'567", 'thousands separators'],
    ['1\u2019234\u2019567', 'thousands separators'],
    ['1\u2009234\u2009567', 'thousands separators'],
  ])('%s is a number format (or text marker) kept in the value: mapping.spreadsheet_format', (value, says) => {
    expect(spreadsheetDamage('acct', value, true)).toMatchObject({
      code: 'mapping.spreadsheet_format',
      message: expect.stringContaining(`acct "${value}" `),
    });
    expect(spreadsheetDamage('acct', value, true)?.message).toContain(says);
  });
  it.each([
    '0012-3456-78',
    '1234.5',
    '12.30',
    '1.234',
    'ACC 0012 3456',
    '1234 5678 9012',
    '002 010 077777777771',
    'DE89 3704 0044 0532 0130 00',
    '12,34',
    "O'Brien-1",
    '123.456.789-09',
    '+254712345678',
    'M-PESA',
  ])('%s is a way to write an account, not damage', (value) => {
    expect(spreadsheetDamage('acct', value, true)).toBeUndefined();
  });
  it('a phone number may be grouped any way, an ID be any token; a leading apostrophe is damage in both, decimals in a phone', () => {
    expect(spreadsheetDamage('phone', '612 345 678', true, true)).toBeUndefined();
    expect(spreadsheetDamage('phone', '612\u00A0345\u00A0678', true, true)).toBeUndefined();
    expect(spreadsheetDamage('phone', '9175550101.0', true, true)?.code).toBe('mapping.spreadsheet_format');
    for (const id of ['-123', '123 456 789', '12 345', '1.0', '1,234,567']) expect(spreadsheetDamage('id', id), id).toBeUndefined();
    expect(spreadsheetDamage('id', "'000500000003")?.code).toBe('mapping.spreadsheet_format');
    expect(recordDamage({ id: 'B_1', phone_number: '612 345 678' })).toBeUndefined();
    expect(recordDamage({ id: "'B_003" })).toMatchObject({ field: 'id', code: 'mapping.spreadsheet_format' });
    expect(recordDamage({ id: 'B_3', fa: { account_number: "'0012345678" } })).toMatchObject({
      field: 'account_number',
      code: 'mapping.spreadsheet_format',
    });
  });
  it('="…" is a formula wrapper; any other text that begins with "=" a formula', () => {
    expect(spreadsheetDamage('id', '="000412"')?.code).toBe('mapping.spreadsheet_formula');
    // An ID may be any token (a formula's text included): only the wrapper is damage there.
    expect(spreadsheetDamage('id', '=1+2')).toBeUndefined();
    expect(spreadsheetDamage('acct', '=0012345679', true)).toMatchObject({
      code: 'mapping.spreadsheet_formula',
      message: expect.stringContaining('acct "=0012345679" is a spreadsheet formula, not a value'),
    });
    expect(spreadsheetDamage('acct', 'A=1')).toBeUndefined();
  });
  it('a record read without a mapping (link --file, flags): its ID, phone and FA fields; other fields and intact values pass', () => {
    const fa = { fa_type: 'BANK', strategy_id: 2, bank_name: 'E+Bank', bank_code: 'EXB', branch_name: 'Main', branch_code: '0001' };
    expect(recordDamage({ id: 'BENE_0001', fa: { ...fa, account_number: '000412345004' } })).toBeUndefined();
    expect(recordDamage({ id: 'BENE_0001', fa: { ...fa, account_number: '2,77366E+14' } })).toMatchObject({
      field: 'account_number',
      code: 'mapping.spreadsheet_exponent',
    });
    expect(recordDamage({ id: '5.6E+11' })).toMatchObject({ field: 'id', code: 'mapping.spreadsheet_exponent' });
    expect(recordDamage({ id: '=1+2' })).toBeUndefined();
    expect(recordDamage({ id: '=1+2', fa: { ...fa, account_number: '=0012' } })).toMatchObject({ field: 'account_number' });
    expect(recordDamage({ id: 'B1', phone_number: '6.39176E+11' })).toMatchObject({ field: 'phone_number' });
    expect(recordDamage({ id: 'B1', fa: { ...fa, branch_code: '="0001"', account_number: '1' } })).toMatchObject({
      field: 'branch_code',
      code: 'mapping.spreadsheet_formula',
    });
    // A bank name is free text: "=" or an exponent there is no spreadsheet's doing to refuse.
    expect(recordDamage({ id: 'B1', fa: { ...fa, bank_name: '1E+5', account_number: '1' } })).toBeUndefined();
  });
  it('a code found only once zero-padded', () => {
    const known = (code: string) => code === '0412';
    expect(zeroPaddedMatch('412', known)).toBe('0412');
    expect(zeroPaddedMatch('0412', known)).toBeUndefined();
    expect(zeroPaddedMatch('LBP', known)).toBeUndefined();
  });
});

describe('the missing-column hint', () => {
  const mapping = compileMapping(
    {
      id: 'national_id',
      fa: { type: { const: 'BANK' }, bank_code: 'b', branch_code: 'r', account_number: 'a', bank_name: 'n', branch_name: 'm' },
    },
    'm.json',
  );
  it('names the delimiter with which the header holds every mapped column, even when a column holds a comma', () => {
    // Read with ",", a ";" header whose first column holds a comma is two columns, not one.
    expect(headerHint(mapping, ['Name', ' first;national_id;b;r;a;n;m'], ',')).toBe(`the file looks ";"-separated: pass --delimiter ';'`);
    expect(headerHint(mapping, ['national_id|b|r|a|n|m'], ',')).toBe(`the file looks "|"-separated: pass --delimiter '|'`);
    expect(headerHint(mapping, ['x', 'y'], ',')).toBe("the file's columns are: x, y");
  });
  it('in a workbook: CSV text in one column', () => {
    expect(headerHint(mapping, ['national_id;b;r;a;n;m'], '')).toContain('the CSV was opened without splitting it into columns');
  });
});

describe('unfixedDamage (a fed-back reject row)', () => {
  const row = (value: string) => (column: string) => (column === 'national_id' ? value : undefined);
  const zeros = { code: 'mapping.leading_zeros_lost', message: 'id: national_id "412340007" has 9 digits where 57 of …' };

  it('refuses the value rejected before, the field prefix or not; takes a changed one', () => {
    expect(unfixedDamage(zeros, row('412340007'))).toMatchObject({ code: 'mapping.damage_not_fixed' });
    expect(unfixedDamage(zeros, row(' 412340007 '))).toMatchObject({ code: 'mapping.damage_not_fixed' });
    expect(unfixedDamage({ ...zeros, message: zeros.message.slice(4) }, row('412340007'))).toMatchObject({
      code: 'mapping.damage_not_fixed',
    });
    expect(unfixedDamage(zeros, row('000412340007'))).toBeUndefined();
    const number = { code: 'mapping.spreadsheet_number', message: 'national_id "412340007" is stored as a number in the workbook, …' };
    expect(unfixedDamage(number, row('412340007'))).toMatchObject({ code: 'mapping.damage_not_fixed' });
  });

  it('leaves other codes to their own checks (they need no evidence the file lacks)', () => {
    expect(unfixedDamage({ code: 'mapping.spreadsheet_exponent', message: 'national_id "4E+11" is …' }, row('4E+11'))).toBeUndefined();
    expect(unfixedDamage({ code: 'mapping.unknown_bank', message: 'bank_code "X" …' }, row('X'))).toBeUndefined();
  });
});
