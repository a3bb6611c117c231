import { describe, expect, it } from 'vitest';
import { CodeReadings, lookAlikeCodes } from '../../src/core/dfsp-codes.js';
import { dfspFromRows } from '../../src/core/dfsp.js';
import { dfspLookupOf, type DfspData } from '../../src/core/mapping.js';

const NONE: DfspData = { banks: [], branches: [], wallet_providers: [] } as DfspData;

describe('CodeReadings: codes as a person reads them, one registry for every check', () => {
  it('tells a code that reads as an earlier one of the same list, with where that one came from', () => {
    const readings = new CodeReadings();
    readings.hold('bank', '', 'LBP');
    expect(readings.read('bank', '', 'LBP', 'line 2')).toBeUndefined(); // the same code again
    expect(readings.read('bank', '', 'lbp', 'line 3')).toEqual({ code: 'LBP', scope: '', where: 'already known' });
    expect(readings.read('bank', '', '\uFF2CBP', 'line 4')).toEqual({ code: 'LBP', scope: '', where: 'already known' });
    expect(readings.read('bank', '', 'abc', 'line 5')).toBeUndefined();
    expect(readings.read('bank', '', 'ABC', 'line 6')).toEqual({ code: 'abc', scope: '', where: 'line 5' });
    // Another list is another code: a wallet provider LBP is no bank.
    expect(readings.read('wallet provider', 'MOBILE_WALLET', 'lbp', 'line 7')).toBeUndefined();
    expect(readings.read('wallet provider', 'EMAIL_WALLET', 'LBP', 'line 8')).toBeUndefined();
    expect(readings.read('wallet provider', 'MOBILE_WALLET', 'LBP', 'line 9')).toEqual({
      code: 'lbp',
      scope: 'MOBILE_WALLET',
      where: 'line 7',
    });
  });

  it("reads a branch within its bank, the bank's code folded too", () => {
    const readings = new CodeReadings();
    expect(readings.read('branch', 'LBP', 'k1', 'line 2')).toBeUndefined();
    expect(readings.read('branch', 'BDO', 'K1', 'line 3')).toBeUndefined(); // another bank's branch
    expect(readings.read('branch', 'lbp', 'k1', 'line 4')).toEqual({ code: 'k1', scope: 'LBP', where: 'line 2' });
  });

  it('two look-alikes both held already block nothing, and neither does either of them read again', () => {
    const readings = new CodeReadings();
    readings.hold('bank', '', 'gcb');
    readings.hold('bank', '', 'GCB');
    expect(readings.read('bank', '', 'gcb', 'line 2')).toBeUndefined();
    expect(readings.read('bank', '', 'GCB', 'line 3')).toBeUndefined();
    expect(readings.read('bank', '', 'Gcb', 'line 4')).toEqual({ code: 'gcb', scope: '', where: 'already known' });
  });
});

describe('its three callers say the same of the same codes', () => {
  const known = {
    banks: [{ code: 'LBP', name: 'Land Bank' }],
    branches: [{ code: 'K1', name: 'Kamuning', bank_code: 'LBP' }],
    wallet_providers: [{ code: 'GCASH', name: 'GCash', wallet_type: 'MOBILE_WALLET' }],
  } as DfspData;
  const given = {
    banks: [{ code: 'LBP', name: 'Land Bank' }],
    branches: [{ code: 'k1', name: 'Kamuning again', bank_code: 'LBP' }],
    wallet_providers: [{ code: 'gcash', name: 'GCash again', wallet_type: 'MOBILE_WALLET' }],
  } as DfspData;

  it('dfsp import of a JSON file (lookAlikeCodes)', () => {
    expect(lookAlikeCodes(given, known)).toEqual([
      'branches.0.code: branch "k1" of bank "LBP" and branch "K1" of bank "LBP" (already known) differ only in letter case or character form',
      'wallet_providers.0.code: MOBILE_WALLET provider "gcash" and MOBILE_WALLET provider "GCASH" (already known) differ only in letter case or character form',
    ]);
  });

  it('dfsp import of a CSV file (dfspFromRows)', () => {
    const rows = [
      { line: 2, record: { type: 'BANK', code: 'LBP', name: 'Land Bank', bank_code: '' } },
      { line: 3, record: { type: 'BRANCH', code: 'k1', name: 'Kamuning again', bank_code: 'LBP' } },
      { line: 4, record: { type: 'MOBILE_WALLET', code: 'gcash', name: 'GCash again', bank_code: '' } },
    ];
    expect(() => dfspFromRows(rows, 'd.csv', known)).toThrow(
      'd.csv:3: code: branch "k1" of bank "LBP" and branch "K1" of bank "LBP" (already known) differ only in letter case or character form',
    );
    expect(() => dfspFromRows(rows, 'd.csv', known)).toThrow(
      'd.csv:4: code: MOBILE_WALLET provider "gcash" and MOBILE_WALLET provider "GCASH" (already known) differ only',
    );
    // Each code is named with its own bank: the row's bank as written, the known one's as known.
    const lowerBank = [
      { line: 2, record: { type: 'BANK', code: 'lbp2', name: 'Other', bank_code: '' } },
      { line: 3, record: { type: 'BRANCH', code: 'K1', name: 'Kamuning', bank_code: 'lbp' } },
    ];
    expect(() => dfspFromRows(lowerBank, 'd.csv', known)).toThrow(
      'd.csv:3: code: branch "K1" of bank "lbp" and branch "K1" of bank "LBP" (already known) differ only',
    );
  });

  it("a --dfsp file (dfspLookupOf): look-alikes within it refused, a mapper's own data taken as it is", () => {
    const file = {
      banks: [
        { code: 'LBP', name: 'Land Bank' },
        { code: 'lbp', name: 'Land Bank again' },
      ],
      branches: [
        { code: 'K1', name: 'Kamuning', bank_code: 'LBP' },
        { code: 'k1', name: 'Kamuning again', bank_code: 'LBP' },
      ],
      wallet_providers: [],
    } as DfspData;
    expect(() => dfspLookupOf(file, 'f.json')).toThrow(
      'f.json: banks.1.code: bank "lbp" and bank "LBP" (banks.0.code) differ only in letter case or character form; keep one code; f.json: branches.1.code: branch "k1" of bank "LBP" and branch "K1" of bank "LBP" (branches.0.code) differ only',
    );
    const lookup = dfspLookupOf(file, 'mapper', false);
    expect([lookup.bank('lbp')?.name, lookup.branch('LBP', 'k1')?.name]).toEqual(['Land Bank again', 'Kamuning again']);
    expect(() => dfspLookupOf({ ...NONE, banks: [file.banks[0]!, file.banks[0]!] } as DfspData, 'f.json')).toThrow(
      'f.json: banks.1.code: bank "LBP" is listed twice',
    );
  });
});
