import { describe, expect, it } from 'vitest';
import { ColumnWidths } from '../../src/core/column-widths.js';
import { applyMapping, compileMapping, rowKey, widthColumns } from '../../src/core/mapping.js';

const ids = (n: number, at = 0) => Array.from({ length: n }, (_, i) => `000412${String(at + i).padStart(6, '0')}`);

function tallied(values: readonly string[], column = 'national_id'): ColumnWidths {
  const widths = new ColumnWidths([column]);
  for (const value of values) widths.add(column, value);
  return widths;
}

describe('ColumnWidths (lost leading zeros against the rest of the column)', () => {
  it('refuses the short all-digit values of a fixed-width column with leading zeros, and only those', () => {
    const widths = tallied([...ids(97), '412000097', ' 412000098 ', '12']);
    expect(widths.fixed().get('national_id')).toEqual({ width: 12, atWidth: 97, zeros: 97, digits: 100 });
    const problem = widths.check('national_id', '412000097');
    expect(problem?.code).toBe('mapping.leading_zeros_lost');
    expect(problem?.message).toBe(
      'national_id "412000097" has 9 digits where 97 of this column\'s 100 all-digit values have 12, 97 of them starting with 0: a spreadsheet dropped its leading zeros (was it "000412000097"?); export the column as Text (format it as Text before entering or pasting the values), or hand sparctl the .xlsx (see README "Preparing a spreadsheet")',
    );
    expect(widths.check('national_id', '12')?.code).toBe('mapping.leading_zeros_lost');
    // Intact, longer, or not all digits: not this rule's to judge.
    for (const value of ['000412000001', '0004120000011', 'A-412', '41200009X']) expect(widths.check('national_id', value)).toBeUndefined();
    // Another column, not tallied: nothing.
    expect(widths.check('account_no', '412')).toBeUndefined();
  });

  it('refuses nothing on weak evidence: mixed lengths, no leading zeros, too few values', () => {
    const mixed = tallied([...ids(80), ...Array.from({ length: 20 }, (_, i) => `7${i}`.padEnd(9, '5'))]);
    expect(mixed.fixed().size).toBe(0);
    expect(mixed.check('national_id', '412')).toBeUndefined();
    const noZeros = tallied([...Array.from({ length: 100 }, (_, i) => `9${String(i).padStart(11, '1')}`), '412']);
    expect(noZeros.check('national_id', '412')).toBeUndefined();
    const few = tallied([...ids(18), '412']);
    expect(few.check('national_id', '412')).toBeUndefined();
    // Text values do not count as evidence either way.
    const texts = tallied([...ids(10), ...Array.from({ length: 50 }, (_, i) => `HH-${i}`), '412']);
    expect(texts.check('national_id', '412')).toBeUndefined();
  });

  it('the kept tally decides as the scan did; a tally of other columns is not taken', () => {
    const scanned = tallied([...ids(50), '412']);
    const kept = new ColumnWidths(['national_id']);
    expect(kept.restore(JSON.parse(JSON.stringify(scanned.state())))).toBe(true);
    expect(kept.describe()).toBe(scanned.describe());
    expect(kept.check('national_id', '412')).toEqual(scanned.check('national_id', '412'));
    expect(new ColumnWidths(['account_no']).restore(scanned.state())).toBe(false);
    expect(new ColumnWidths(['national_id']).restore({})).toBe(false);
  });

  it('through a mapping: the ID and the account number columns; a refused ID keeps its key', () => {
    const mapping = compileMapping(
      { id: 'national_id', fa: { type: { const: 'BANK' }, bank_code: 'bank', branch_code: 'branch', account_number: 'account_no' } },
      'm.json',
    );
    expect(widthColumns(mapping)).toEqual(['national_id', 'account_no']);
    const widths = new ColumnWidths(widthColumns(mapping));
    for (const id of ids(30)) {
      widths.add('national_id', id);
      widths.add('account_no', id);
    }
    const check = (column: string, value: string) => widths.check(column, value);
    const row = (id: string, account: string) => (c: string) => ({ national_id: id, account_no: account, bank: 'B', branch: 'B1' })[c];
    // The row index keys the row by the ID as written, and so does the run's record: rowKey knows no column.
    expect(rowKey(mapping, row('412000001', '000412000001'))).toBe('412000001');
    const short = applyMapping(mapping, row('412000001', '000412000001'), undefined, '412000001', undefined, check);
    expect(short.ok ? [] : short.problems.map((p) => [p.field, p.code])).toEqual([['id', 'mapping.leading_zeros_lost']]);
    const account = applyMapping(mapping, row('000412000001', '412000001'), undefined, undefined, undefined, check);
    expect(account.ok ? [] : account.problems.map((p) => [p.field, p.code])).toEqual([['account_number', 'mapping.leading_zeros_lost']]);
    expect(applyMapping(mapping, row('000412000001', '000412000001'), undefined, undefined, undefined, check).ok).toBe(true);
  });
});
