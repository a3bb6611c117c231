import { isPhoneCountry } from '../../src/core/phone.js';
import { readFileSync } from 'node:fs';
import { parse } from 'csv-parse/sync';
import { describe, expect, it } from 'vitest';
import { UsageError } from '../../src/core/errors.js';
import {
  mappingFileSchema,
  applyMapping,
  checkMappingStrategies,
  compileMapping,
  dfspLookupFrom,
  filterRow,
  mappingColumns,
  missingColumns,
  normalizePhone,
  objectRow,
  type CompiledMapping,
  type DfspLookup,
  type MappingResult,
} from '../../src/core/mapping.js';
import { parseMappingRecord } from '../../src/core/request-items.js';
import { DEFAULT_STRATEGIES, compileStrategy, faProblem } from '../../src/core/strategy/strategy.js';
import { thrownBy } from '../helpers/errors.js';

const fixture = (name: string) => new URL(`../../fixtures/${name}`, import.meta.url);
const readJson = (name: string): unknown => JSON.parse(readFileSync(fixture(name), 'utf8'));

/** The smallest valid mapping for a bank-only file, to vary one key at a time. */
const bankOnly = () => ({
  id: 'id',
  fa: { type: { const: 'BANK' }, bank_code: 'bank', branch_code: 'branch', account_number: 'account' },
});

const perRow = () => ({
  id: 'id',
  name: 'name',
  phone: 'phone',
  fa: {
    type: { column: 'method', values: { bank: 'BANK', gcash: 'MOBILE_WALLET', email: 'EMAIL_WALLET' } },
    bank_code: 'bank',
    bank_name: 'bank_name',
    branch_code: 'branch',
    branch_name: 'branch_name',
    account_number: 'account',
    wallet_provider_code: 'wallet',
    wallet_provider_name: 'wallet_name',
    mobile_number: 'mobile',
    email_address: 'email',
  },
  normalize: { defaultCountry: 'PH' },
});

/** The problems compileMapping reports for `json`, one string each. */
function mistakes(json: unknown): string[] {
  const error = thrownBy(UsageError, () => compileMapping(json, 'mapping.json'));
  expect(error.code).toBe('mapping.invalid');
  return error.message.split('; ');
}

const rowOf = (cells: Record<string, string>) => (path: string) => cells[path];

function apply(mapping: CompiledMapping, cells: Record<string, string>, dfsp?: DfspLookup): MappingResult {
  return applyMapping(mapping, rowOf(cells), dfsp);
}

function problemsOf(result: MappingResult): string[] {
  return result.ok ? [] : result.problems.map((p) => `${p.code} ${p.field}: ${p.message}`);
}

describe("checkMappingStrategies: the mapping against the target's strategies, before any row", () => {
  const sample = () => readJson('enumeration.mapping.json') as { fa: { strategy: Record<string, number> }; id: { strategy?: number } };
  const target = new Map(DEFAULT_STRATEGIES.map((s) => [s.id, s]));
  const problemsWith = (edit: (json: ReturnType<typeof sample>) => void, strategies = target) => {
    const json = sample();
    edit(json);
    const mapping = compileMapping(json, 'enumeration.mapping.json');
    try {
      checkMappingStrategies(mapping, strategies);
      return [];
    } catch (error) {
      expect(error).toBeInstanceOf(UsageError);
      expect((error as UsageError).code).toBe('mapping.invalid');
      return (error as UsageError).message.split('; ');
    }
  };

  it("accepts the sample mapping against SPAR's default strategies", () => {
    expect(problemsWith(() => {})).toEqual([]);
  });

  it("names an unknown FA strategy, and one built from another FA type's fields", () => {
    expect(problemsWith((json) => (json.fa.strategy['BANK'] = 77))).toEqual([
      'enumeration.mapping.json: fa.strategy.BANK: strategy 77 does not exist (strategies: 1, 2, 3, 4, 5)',
    ]);
    expect(problemsWith((json) => (json.fa.strategy['BANK'] = 4))).toEqual([
      'enumeration.mapping.json: fa.strategy.BANK: strategy 4 needs mobile_number, wallet_provider_name, wallet_provider_code, which a BANK FA does not have',
    ]);
  });

  it('names an ID strategy the target does not have, or that is not an ID strategy there', () => {
    const withoutOne = new Map([...target].filter(([id]) => id !== 1));
    expect(problemsWith(() => {}, withoutOne)).toEqual([
      'enumeration.mapping.json: id.strategy: strategy 1 does not exist (strategies: 2, 3, 4, 5)',
    ]);
  });
});

describe('compileMapping: every mistake is named with the file and JSON path', () => {
  it('accepts the sample mapping and lists the columns it reads', () => {
    const mapping = compileMapping(readJson('enumeration.mapping.json'), 'enumeration.mapping.json');
    expect(mappingColumns(mapping)).toEqual([
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
    ]);
    expect(mapping.faTypes).toEqual(['BANK', 'MOBILE_WALLET', 'EMAIL_WALLET']);
    expect(mapping.id.strategy?.id).toBe(1);
    expect(missingColumns(mapping, ['national_id', 'full_name', ' contact_phone ', 'payment_method', 'bank_code'])).toEqual([
      'branch_code',
      'account_no',
      'wallet',
      'payment_mobile',
      'payment_email',
    ]);
  });

  it('a name of 10 MB maps (no regex runs out of stack on it); runs of spaces and non-ASCII are normalised as ever', () => {
    const mapping = compileMapping(perRow(), 'm.json');
    const cells = { id: 'N1', method: 'bank', bank: 'EXB', bank_name: 'X', branch: '0001', branch_name: 'Main', account: '5' };
    const long = apply(mapping, { ...cells, name: 'N'.repeat(10_000_000) });
    expect(long.ok && (long.record['name'] as string).length).toBe(10_000_000);
    const spaced = apply(mapping, { ...cells, name: 'Ana  Cruz ' });
    expect(spaced.ok && spaced.record['name']).toBe('Ana Cruz');
    const composed = apply(mapping, { ...cells, name: 'Jose\u0301 Cruz' });
    expect(composed.ok && composed.record['name']).toBe('Jos\u00e9 Cruz');
  });

  it('reads a column once even when two fields use it', () => {
    const mapping = compileMapping({ ...perRow(), phone: 'mobile' }, 'm.json');
    expect(mappingColumns(mapping).filter((c) => c === 'mobile')).toHaveLength(1);
  });

  it.each<[string, unknown, string[]]>([
    ['a file that is not an object', [1, 2], ['mapping.json: must be a JSON object such as {"id": "national_id", "fa": {…}}']],
    ['missing id and fa', {}, ['mapping.json: id: is required', 'mapping.json: fa: is required']],
    ['an unknown top-level key', { ...bankOnly(), fa_type: 'BANK' }, ['mapping.json: fa_type: unknown field fa_type']],
    [
      'a values entry that is not an FA type',
      {
        ...bankOnly(),
        fa: { ...perRow().fa, type: { column: 'method', values: { bank: 'BANK', gcash: 'GCASH', email: 'EMAIL_WALLET' } } },
      },
      ['mapping.json: fa.type.values.gcash: must be one of BANK, MOBILE_WALLET, EMAIL_WALLET (got "GCASH")'],
    ],
    [
      'a constant type that is not an FA type',
      { ...bankOnly(), fa: { ...bankOnly().fa, type: { const: 'bank' } } },
      ['mapping.json: fa.type.const: must be one of BANK, MOBILE_WALLET, EMAIL_WALLET (got "bank")'],
    ],
    [
      'a default type that is not an FA type',
      { ...bankOnly(), fa: { ...perRow().fa, type: { column: 'm', default: 'CASH' } } },
      ['mapping.json: fa.type.default: must be one of BANK, MOBILE_WALLET, EMAIL_WALLET (got "CASH")'],
    ],
    [
      'a number as a field spec',
      { ...bankOnly(), name: 7 },
      ['mapping.json: name: must be a column name or an object such as {"column": "…"}'],
    ],
    ['an empty column name', { ...bankOnly(), name: '  ' }, ['mapping.json: name: must name a column']],
    ['an empty "column"', { ...bankOnly(), name: { column: '' } }, ['mapping.json: name.column: column must not be empty']],
    [
      'a spec without a source',
      { ...bankOnly(), phone: { default: '+639170000000' } },
      ['mapping.json: phone: needs "column", "path", "first" or "const"'],
    ],
    [
      'a spec with two sources',
      { ...bankOnly(), name: { column: 'a', const: 'b' } },
      ['mapping.json: name: give only one of column, const'],
    ],
    [
      'column and path together',
      { ...bankOnly(), name: { column: 'a', path: 'b.c' } },
      ['mapping.json: name: give only one of column, path'],
    ],
    [
      'a constant with a default',
      { ...bankOnly(), name: { const: 'a', default: 'b' } },
      ['mapping.json: name: "const" cannot be combined with "default" or "values"'],
    ],
    [
      'a misspelt spec key',
      { ...bankOnly(), name: { colum: 'full_name' } },
      ['mapping.json: name.colum: unknown field colum', 'mapping.json: name: needs "column", "path", "first" or "const"'],
    ],
    [
      'values that is not an object',
      { ...bankOnly(), name: { column: 'n', values: ['a'] } },
      ['mapping.json: name.values: must be an object such as {"cell": "value"}'],
    ],
    [
      'values keys that differ only in case',
      {
        ...bankOnly(),
        fa: {
          ...perRow().fa,
          type: { column: 'm', values: { bank: 'BANK', ' BANK': 'BANK', gcash: 'MOBILE_WALLET', email: 'EMAIL_WALLET' } },
        },
      },
      ['mapping.json: fa.type.values. BANK: repeats "bank" (keys are matched ignoring case and spaces)'],
    ],
    [
      'an empty values key',
      { ...bankOnly(), name: { column: 'n', values: { '': 'x' } } },
      ['mapping.json: name.values.: an empty key never matches (an empty cell takes "default")'],
    ],
    [
      'an id without a column',
      { ...bankOnly(), id: { strategy: 1 } },
      ['mapping.json: id: needs "column" or "path" (an ID is never a constant)'],
    ],
    [
      'a constant id',
      { ...bankOnly(), id: { const: 'X' } },
      ['mapping.json: id.const: unknown field const', 'mapping.json: id: needs "column" or "path" (an ID is never a constant)'],
    ],
    [
      'an id strategy that is not a whole number',
      { ...bankOnly(), id: { column: 'id', strategy: '1' } },
      ['mapping.json: id.strategy: must be a strategy id (a positive whole number)'],
    ],
    ['fa that is not an object', { id: 'id', fa: 'BANK' }, ['mapping.json: fa: must be an object']],
    [
      'a strategy of zero',
      { ...bankOnly(), fa: { ...bankOnly().fa, strategy: { BANK: 0 } } },
      ['mapping.json: fa.strategy.BANK: must be a strategy id (a positive whole number)'],
    ],
    [
      'a strategy for an unknown FA type',
      { ...bankOnly(), fa: { ...bankOnly().fa, strategy: { CASH: 2 } } },
      ['mapping.json: fa.strategy.CASH: unknown field CASH'],
    ],
    [
      'a required FA field left out',
      { id: 'id', fa: { type: { const: 'BANK' }, bank_code: 'bank', branch_code: 'branch' } },
      ['mapping.json: fa.account_number: is required because fa.type can be BANK'],
    ],
    [
      'a wallet field missing for both wallet kinds',
      {
        id: 'id',
        fa: {
          type: 'method',
          ...Object.fromEntries(Object.entries(perRow().fa).filter(([k]) => k !== 'type' && k !== 'wallet_provider_code')),
        },
      },
      ['mapping.json: fa.wallet_provider_code: is required because fa.type can be MOBILE_WALLET or EMAIL_WALLET'],
    ],
    [
      'an FA field no possible type uses',
      { ...bankOnly(), fa: { ...bankOnly().fa, mobile_number: 'mobile' } },
      ['mapping.json: fa.mobile_number: is not used: fa.type can only be BANK'],
    ],
    [
      'an unknown FA field',
      { ...bankOnly(), fa: { ...bankOnly().fa, acount_number: 'x' } },
      ['mapping.json: fa.acount_number: unknown field acount_number'],
    ],
    [
      'an unknown country',
      { ...bankOnly(), normalize: { defaultCountry: 'XX' } },
      ['mapping.json: normalize.defaultCountry: is not a country sparctl knows (got "XX"): use an ISO 3166 code such as PH, KE or IN'],
    ],
    [
      'an unknown normalize key',
      { ...bankOnly(), normalize: { country: 'PH' } },
      ['mapping.json: normalize.country: unknown field country'],
    ],
    [
      'an operation value that is not an operation',
      { ...bankOnly(), operation: { column: 'op', values: { new: 'link', remove: 'delete' } } },
      ['mapping.json: operation.values.remove: must be one of link, update, unlink, upsert (got "delete")'],
    ],
    [
      'an unknown ID strategy',
      { ...bankOnly(), id: { column: 'id', strategy: 9 } },
      ['mapping.json: id.strategy: unknown strategy 9 (known: 1, 2, 3, 4, 5)'],
    ],
    [
      'an FA strategy as ID strategy',
      { ...bankOnly(), id: { column: 'id', strategy: 2 } },
      ['mapping.json: id.strategy: strategy 2 is an FA strategy, not an ID strategy'],
    ],
    [
      'an ID strategy as FA strategy',
      { ...bankOnly(), fa: { ...bankOnly().fa, strategy: { BANK: 1 } } },
      ['mapping.json: fa.strategy.BANK: strategy 1 is an ID strategy, not an FA strategy'],
    ],
  ])('%s', (_what, json, expected) => {
    expect(mistakes(json)).toEqual(expected);
  });

  it('reports every structural mistake at once, joined by "; "', () => {
    const error = thrownBy(UsageError, () =>
      compileMapping({ id: '', name: 3, fa: { type: { const: 'CASH' } }, operation: { const: 'delete' } }, 'm.json'),
    );
    expect(error.message).toBe(
      [
        'm.json: id: must name a column',
        'm.json: name: must be a column name or an object such as {"column": "…"}',
        'm.json: fa.type.const: must be one of BANK, MOBILE_WALLET, EMAIL_WALLET (got "CASH")',
        'm.json: operation.const: must be one of link, update, unlink, upsert (got "delete")',
      ].join('; '),
    );
  });

  it('checks the ID strategy against a supplied strategy table', () => {
    const twoFields = compileStrategy({
      id: 7,
      strategy_type: 'ID',
      construct_strategy: '{country}:{sub}',
      deconstruct_strategy: '^(?P<country>[A-Z]+):(?P<sub>.*)$',
      description: null,
      active: true,
    });
    const inactive = compileStrategy({
      ...twoFields,
      id: 8,
      construct_strategy: 'x:{sub}',
      deconstruct_strategy: '^x:(?P<sub>.*)$',
      active: false,
    });
    expect(
      thrownBy(UsageError, () =>
        compileMapping({ ...bankOnly(), id: { column: 'id', strategy: 7 } }, 'm.json', { strategies: [twoFields] }),
      ).message,
    ).toBe(`m.json: id.strategy: strategy 7's template "{country}:{sub}" has 2 fields; sparctl fills exactly one`);
    expect(
      thrownBy(UsageError, () =>
        compileMapping({ ...bankOnly(), id: { column: 'id', strategy: 8 } }, 'm.json', { strategies: new Map([[8, inactive]]) }),
      ).message,
    ).toBe('m.json: id.strategy: strategy 8 is not active');
  });

  it('exposes the schema for the structure alone', () => {
    expect(mappingFileSchema().safeParse(bankOnly()).success).toBe(true);
    expect(mappingFileSchema().safeParse({ ...bankOnly(), id: { column: 'id', strategy: 99 } }).success).toBe(true);
  });
});

describe('normalizePhone', () => {
  it.each<[string, string | undefined, string]>([
    ['0917 555 0101', 'PH', '+639175550101'],
    ['(0917) 555-0104', 'PH', '+639175550104'],
    ['917.555.0106', 'PH', '+639175550106'],
    ['639175550107', 'PH', '+639175550107'],
    ['(02) 8123 4567', 'PH', '+63281234567'],
    ['0063 917 555 0105', 'PH', '+639175550105'],
    ['+63 (0) 917 555 0103', undefined, '+639175550103'],
    ['0722 000 111', 'KE', '+254722000111'],
    ['254722000111', 'KE', '+254722000111'],
    ['098765 43210', 'IN', '+919876543210'],
    ['0911 23 45 67', 'ET', '+251911234567'],
    ['076 123456', 'SL', '+23276123456'],
    ['90 12 34 56', 'TG', '+22890123456'],
    ['0803 123 4567', 'NG', '+2348031234567'],
    ['01712-345678', 'BD', '+8801712345678'],
    ['0300 1234567', 'PK', '+923001234567'],
    ['0812-3456-7890', 'ID', '+6281234567890'],
    ['(415) 555-0100', 'US', '+14155550100'],
    ['1 415 555 0100', 'US', '+14155550100'],
    ['020 7946 0958', 'GB', '+442079460958'],
    ['+44 (0)20 7946 0958', 'PH', '+442079460958'],
    ['06 12 34 56 78', 'fr', '+33612345678'],
    ['030 123456', 'DE', '+4930123456'],
    ['082 123 4567', 'ZA', '+27821234567'],
    // No trunk prefix in Italy or Côte d'Ivoire: the leading 0 is part of the number.
    ['06 1234 5678', 'IT', '+390612345678'],
    ['07 12 34 56 78', 'CI', '+2250712345678'],
    ['+7 916 123-45-67', undefined, '+79161234567'],
    ['8 916 123 45 67', 'RU', '+79161234567'],
    ['+86 139 1234 5678', undefined, '+8613912345678'],
    ['\u00a00917\u2013555\u20130101 ', 'PH', '+639175550101'],
  ])('%s (%s) → %s', (input, country, expected) => {
    expect(normalizePhone(input, country)).toEqual({ ok: true, value: expected });
  });

  it.each<[string, string | undefined, string]>([
    ['0917 555 O101', 'PH', 'contains letters'],
    ['call 0917 555 0101', 'PH', 'contains letters'],
    ['0917#5550101', 'PH', 'may hold only digits, spaces, - . ( ) and a leading +'],
    ['0917 555+0101', 'PH', 'may hold only digits, spaces, - . ( ) and a leading +'],
    ['0917 555', 'PH', 'is not a valid PH number'],
    ['0917 555 0101 99', 'PH', 'is not a valid PH number'],
    ['90 12 34', 'TG', 'is not a valid TG number (too short)'],
    ['+63 917 555', undefined, 'is not a valid +63 number'],
    ['+999 1', undefined, 'is not a valid phone number (unknown country code)'],
    ['(02) 8123 4567', 'XX', 'has no country code, and "XX" is not an ISO country code sparctl knows'],
    ['0917 555 0101', undefined, 'has no country code (write it as +<country code>…, or give a default country)'],
  ])('refuses %s (%s): %s', (input, country, reason) => {
    expect(normalizePhone(input, country)).toEqual({ ok: false, reason });
  });

  it('tells a payment mobile number from a landline (libphonenumber-js metadata)', () => {
    expect(normalizePhone('0917 555 0101', 'PH', 'payment')).toEqual({ ok: true, value: '+639175550101' });
    expect(normalizePhone('(415) 555-0100', 'US', 'payment')).toEqual({ ok: true, value: '+14155550100' });
    expect(normalizePhone('(02) 8123 4567', 'PH', 'payment')).toEqual({
      ok: false,
      reason: 'is a landline, not a mobile number: a payment mobile number must be a PH mobile number',
      notMobile: true,
    });
    // The same landline is a fine contact phone.
    expect(normalizePhone('(02) 8123 4567', 'PH')).toEqual({ ok: true, value: '+63281234567' });
  });

  it('knows at least the countries OpenG2P works in', () => {
    for (const country of ['PH', 'KE', 'IN', 'ET', 'SL', 'TG', 'NG', 'BD', 'PK', 'ID', 'US', 'GB', 'FR', 'DE', 'ZA']) {
      expect(isPhoneCountry(country), country).toBe(true);
    }
    expect(isPhoneCountry('XX')).toBe(false);
  });
});

describe('applyMapping', () => {
  const mapping = compileMapping(perRow(), 'm.json');
  const bankRow = {
    id: ' 0000812345 ',
    name: '  Rosa   Dela  Cruz ',
    phone: '0917 555 0101',
    method: 'Bank',
    bank: 'ISB',
    bank_name: 'Island Savings Bank',
    branch: '0210',
    branch_name: 'Davao',
    account: '00441122',
    wallet: 'GCASH',
    mobile: '0999 000 0000',
    email: 'X@Y.Z',
  };

  it('maps a bank row: trims, keeps leading zeros, E.164 contact phone, ignores foreign FA cells', () => {
    const result = apply(mapping, bankRow);
    expect(result).toEqual({
      ok: true,
      record: {
        id: '0000812345',
        name: 'Rosa Dela Cruz',
        phone_number: '+639175550101',
        fa_type: 'BANK',
        strategy_id: 2,
        bank_code: 'ISB',
        bank_name: 'Island Savings Bank',
        branch_code: '0210',
        branch_name: 'Davao',
        account_number: '00441122',
      },
    });
    const parsed = parseMappingRecord(result.ok ? result.record : {});
    expect(parsed.ok).toBe(true);
  });

  it('maps a mobile wallet row: the payment mobile is normalised separately from the contact phone', () => {
    const result = apply(mapping, {
      id: '0042',
      method: 'GCASH',
      phone: '0917 555 0101',
      wallet: 'GCASH',
      wallet_name: 'GCash',
      mobile: '00 63 998-123-4567',
    });
    expect(result).toEqual({
      ok: true,
      record: {
        id: '0042',
        phone_number: '+639175550101',
        fa_type: 'MOBILE_WALLET',
        strategy_id: 4,
        wallet_provider_code: 'GCASH',
        wallet_provider_name: 'GCash',
        mobile_number: '+639981234567',
      },
    });
  });

  it('lower-cases an e-mail address and uses the configured strategy', () => {
    const custom = compileMapping({ ...perRow(), fa: { ...perRow().fa, strategy: { EMAIL_WALLET: 7 } } }, 'm.json');
    const result = apply(custom, {
      id: 'B1',
      method: ' email ',
      wallet: 'MAILPAY',
      wallet_name: 'Mail Pay',
      email: ' Ana.Reyes@Example.ORG ',
    });
    expect(result.ok && result.record).toMatchObject({ fa_type: 'EMAIL_WALLET', strategy_id: 7, email_address: 'ana.reyes@example.org' });
  });

  it('uses a constant FA type for every row', () => {
    const constant = compileMapping(bankOnly(), 'm.json');
    expect(constant.faTypes).toEqual(['BANK']);
    expect(apply(constant, { id: '1', bank: 'B', branch: '01', account: '007' })).toEqual({
      ok: true,
      record: { id: '1', fa_type: 'BANK', strategy_id: 2, bank_code: 'B', branch_code: '01', account_number: '007' },
    });
  });

  it('accepts the FA type itself in the cell when there is no values table, case ignored', () => {
    const plain = compileMapping({ ...perRow(), fa: { ...perRow().fa, type: 'method' } }, 'm.json');
    expect(apply(plain, { ...bankRow, method: 'bank' }).ok).toBe(true);
    expect(problemsOf(apply(plain, { ...bankRow, method: 'cheque' }))).toEqual([
      'mapping.unknown_value fa_type: method "cheque" must be one of BANK, MOBILE_WALLET, EMAIL_WALLET',
    ]);
  });

  it('applies defaults, constants and values tables', () => {
    const m = compileMapping(
      {
        ...bankOnly(),
        name: { column: 'name', default: 'Unknown' },
        fa: {
          ...bankOnly().fa,
          type: { column: 'method', default: 'BANK', values: { bank: 'BANK' } },
          bank_name: { const: 'Island Savings Bank' },
          branch_code: { column: 'branch', values: { main: '0001', 'n/a': '' } },
          branch_name: 'branch_name',
        },
      },
      'm.json',
    );
    const result = apply(m, { id: '9', method: '', bank: 'ISB', branch: 'MAIN', branch_name: 'Main', account: '1' });
    expect(result.ok && result.record).toMatchObject({
      name: 'Unknown',
      fa_type: 'BANK',
      bank_name: 'Island Savings Bank',
      branch_code: '0001',
    });
    expect(problemsOf(apply(m, { id: '9', method: 'bank', bank: 'ISB', branch: 'N/A', account: '1' }))).toEqual([
      'mapping.missing_value branch_code: branch is empty',
    ]);
    expect(problemsOf(apply(m, { id: '9', method: 'bank', bank: 'ISB', branch: 'North', account: '1' }))).toEqual([
      'mapping.unknown_value branch_code: branch "North" has no entry in fa.branch_code.values (main, n/a)',
    ]);
    expect(problemsOf(apply(m, { id: '9', method: 'gcash', bank: 'ISB', branch: 'main', account: '1' }))).toEqual([
      'mapping.unknown_value fa_type: method "gcash" has no entry in fa.type.values (bank)',
    ]);
  });

  it('reports every missing value and bad phone of a row together', () => {
    expect(problemsOf(apply(mapping, { id: ' ', phone: '0917 CALL ME', method: 'bank', bank: 'ISB', branch: '', account: '' }))).toEqual([
      'mapping.missing_value id: id is empty',
      'mapping.bad_phone phone_number: phone "0917 CALL ME" contains letters',
      'mapping.missing_value branch_code: branch is empty',
      'mapping.missing_value account_number: account is empty',
    ]);
    expect(problemsOf(apply(mapping, { id: '1', method: '' }))).toEqual(['mapping.missing_value fa_type: method is empty']);
    expect(problemsOf(apply(mapping, { id: '1', method: 'gcash', wallet: 'GCASH', mobile: '0917 555' }))).toEqual([
      'mapping.bad_phone mobile_number: mobile "0917 555" is not a valid PH number',
    ]);
  });

  it('leaves a missing name for parseMappingRecord to report when there is no DFSP list', () => {
    const result = apply(mapping, { ...bankRow, bank_name: '' });
    expect(result.ok).toBe(true);
    const parsed = parseMappingRecord(result.ok ? result.record : {});
    expect(parsed.ok ? [] : parsed.problems).toEqual([{ field: 'bank_name', message: 'bank_name is missing' }]);
  });

  it('builds the ID with an ID strategy, and refuses a value the strategy would not read back', () => {
    const m = compileMapping({ ...perRow(), id: { column: 'id', strategy: 1 } }, 'm.json');
    expect(apply(m, bankRow)).toMatchObject({ ok: true, record: { id: 'token:0000812345@nationalId' } });
    expect(problemsOf(apply(m, { ...bankRow, id: '0000.812345' }))).toEqual([
      'mapping.bad_id id: id "0000.812345" cannot be used with ID strategy 1: "token:0000.812345@nationalId" does not read back as "0000.812345"',
    ]);
  });

  it('reads the operation per row; an unlink row needs only the ID', () => {
    const m = compileMapping(
      { ...perRow(), operation: { column: 'op', values: { new: 'link', fix: 'update', remove: 'unlink' } } },
      'm.json',
    );
    expect(apply(m, { ...bankRow, op: 'Fix' })).toMatchObject({ ok: true, operation: 'update' });
    expect(apply(m, { id: '0000812345', op: 'REMOVE' })).toEqual({ ok: true, record: { id: '0000812345' }, operation: 'unlink' });
    const result = apply(m, { ...bankRow, op: '' });
    expect(result.ok && 'operation' in result).toBe(false);
    expect(problemsOf(apply(m, { ...bankRow, op: 'delete' }))).toEqual([
      'mapping.unknown_value operation: op "delete" has no entry in operation.values (new, fix, remove)',
    ]);
    const plain = compileMapping({ ...perRow(), operation: 'op' }, 'm.json');
    expect(apply(plain, { ...bankRow, op: 'UPSERT' })).toMatchObject({ ok: true, operation: 'upsert' });
  });

  it('reads JSON rows by dot path (ODK submissions)', () => {
    const m = compileMapping(
      {
        id: { path: 'beneficiary.national_id' },
        name: { path: 'beneficiary.full_name' },
        phone: { path: 'beneficiary.contact_phone' },
        fa: {
          type: { path: 'payment.payment_method', values: { bank: 'BANK' } },
          bank_code: { path: 'payment.bank_code' },
          branch_code: { path: 'payment.branch_code' },
          account_number: { path: 'payment.account_number' },
        },
        normalize: { defaultCountry: 'KE' },
      },
      'odk.json',
    );
    const submission = {
      beneficiary: { national_id: '0023456789', full_name: 'Amina Wanjiru Otieno', contact_phone: '0722000111' },
      payment: {
        payment_method: 'bank',
        bank_code: 'BNK001',
        branch_code: 'BNK001-0042',
        account_number: '001234567890',
        mobile_money_number: null,
      },
    };
    expect(mappingColumns(m)).toContain('payment.bank_code');
    expect(apply(m, {}, undefined).ok).toBe(false);
    expect(applyMapping(m, objectRow(submission))).toEqual({
      ok: true,
      record: {
        id: '0023456789',
        name: 'Amina Wanjiru Otieno',
        phone_number: '+254722000111',
        fa_type: 'BANK',
        strategy_id: 2,
        bank_code: 'BNK001',
        branch_code: 'BNK001-0042',
        account_number: '001234567890',
      },
    });
    const read = objectRow({ a: { n: 7, t: true, z: null, o: {}, l: [1] }, 'x.y': 'dotted' });
    expect(['a.n', 'a.t', 'a.z', 'a.o', 'a.l', 'a.missing', 'a.n.deeper', 'constructor', 'x.y'].map(read)).toEqual([
      '7',
      'true',
      undefined,
      undefined,
      undefined,
      undefined,
      undefined,
      undefined,
      undefined,
    ]);
  });
});

describe('DFSP look-up', () => {
  const dfsp = dfspLookupFrom(readJson('dfsp.json'));
  const mapping = compileMapping(
    { ...perRow(), fa: { ...perRow().fa, bank_name: undefined, branch_name: undefined, wallet_provider_name: undefined } },
    'm.json',
  );
  const named = compileMapping(perRow(), 'm.json');

  it('fills names from codes', () => {
    expect(apply(mapping, { id: '1', method: 'bank', bank: 'LBP', branch: '0012', account: '0001' }, dfsp)).toMatchObject({
      ok: true,
      record: { bank_name: 'Land Bank of the Philippines', branch_name: 'Quezon City - Kamuning' },
    });
    expect(apply(mapping, { id: '1', method: 'gcash', wallet: 'GCASH', mobile: '09171234567' }, dfsp)).toMatchObject({
      ok: true,
      record: { wallet_provider_name: 'GCash' },
    });
    expect(apply(mapping, { id: '1', method: 'email', wallet: 'PAYPAL', email: 'a@b.ph' }, dfsp)).toMatchObject({
      ok: true,
      record: { wallet_provider_name: 'PayPal' },
    });
  });

  it('keeps a name the row gives, and fills one the row leaves empty', () => {
    const row = { id: '1', method: 'bank', bank: 'LBP', bank_name: 'LandBank', branch: '0012', branch_name: '', account: '0001' };
    expect(apply(named, row, dfsp)).toMatchObject({ ok: true, record: { bank_name: 'LandBank', branch_name: 'Quezon City - Kamuning' } });
  });

  it('reports unknown codes', () => {
    expect(problemsOf(apply(mapping, { id: '1', method: 'bank', bank: 'XYZ', branch: '0012', account: '1' }, dfsp))).toEqual([
      'mapping.unknown_bank bank_code: unknown bank code "XYZ" (not in the DFSP list)',
    ]);
    expect(problemsOf(apply(mapping, { id: '1', method: 'bank', bank: 'LBP', branch: '0105', account: '1' }, dfsp))).toEqual([
      'mapping.unknown_branch branch_code: unknown branch code "0105" of bank "LBP" (not in the DFSP list)',
    ]);
    // PAYPAL is an e-mail wallet provider, not a mobile one.
    expect(problemsOf(apply(mapping, { id: '1', method: 'gcash', wallet: 'PAYPAL', mobile: '09171234567' }, dfsp))).toEqual([
      'mapping.unknown_wallet_provider wallet_provider_code: unknown mobile wallet provider code "PAYPAL" (not in the DFSP list)',
    ]);
    expect(problemsOf(apply(mapping, { id: '1', method: 'email', wallet: 'gcash', email: 'a@b.ph' }, dfsp))).toEqual([
      'mapping.unknown_wallet_provider wallet_provider_code: unknown e-mail wallet provider code "gcash" (not in the DFSP list)',
    ]);
  });

  it('refuses a malformed or ambiguous DFSP file', () => {
    const invalid = (json: unknown) => {
      const error = thrownBy(UsageError, () => dfspLookupFrom(json, 'dfsp.json'));
      expect(error.code).toBe('dfsp.invalid');
      return error.message;
    };
    expect(invalid({ banks: [{ code: 'A' }], wallet_providers: [{ code: 'W', name: 'W', wallet_type: 'BANK' }], bank: [] })).toBe(
      [
        'dfsp.json: banks.0.name: name is missing',
        'dfsp.json: wallet_providers.0.wallet_type: must be one of MOBILE_WALLET, EMAIL_WALLET (got "BANK")',
        'dfsp.json: bank: unknown field bank',
      ].join('; '),
    );
    expect(
      invalid({
        banks: [
          { code: 'A', name: 'A' },
          { code: 'A', name: 'A2' },
        ],
        branches: [{ bank_code: 'B', code: '1', name: 'x' }],
      }),
    ).toBe('dfsp.json: banks.1.code: bank "A" is listed twice; dfsp.json: branches.0.bank_code: bank "B" is not in banks');
    expect(dfspLookupFrom({}).bank('A')).toBeUndefined();
  });
});

describe('the sample enumeration', () => {
  const mapping = compileMapping(readJson('enumeration.mapping.json'), 'enumeration.mapping.json');
  const dfsp = dfspLookupFrom(readJson('dfsp.json'));
  const rows = parse(readFileSync(fixture('enumeration.csv'), 'utf8'), { columns: true }) as Record<string, string>[];

  it('has every column the mapping reads', () => {
    expect(missingColumns(mapping, Object.keys(rows[0]!))).toEqual([]);
  });

  it('gives 23 valid records and the 2 deliberate problems', () => {
    const valid: { household: string; value: unknown }[] = [];
    const problems: string[] = [];
    for (const row of rows) {
      const household = row['household_no']!;
      const mapped = applyMapping(mapping, (path) => row[path], dfsp);
      if (!mapped.ok) {
        problems.push(...mapped.problems.map((p) => `${household} ${p.code} ${p.field}: ${p.message}`));
        continue;
      }
      const parsed = parseMappingRecord(mapped.record);
      if (!parsed.ok) {
        problems.push(...parsed.problems.map((p) => `${household} ${p.field}: ${p.message}`));
        continue;
      }
      const strategy = DEFAULT_STRATEGIES.find((s) => s.id === parsed.value.fa.strategy_id)!;
      expect(faProblem(strategy, parsed.value.fa), household).toBeNull();
      valid.push({ household, value: parsed.value });
    }
    expect(rows).toHaveLength(25);
    expect(problems).toEqual([
      'HH-0016 mapping.unknown_bank bank_code: unknown bank code "XYZ" (not in the DFSP list)',
      'HH-0017 mapping.missing_value account_number: account_no is empty',
    ]);
    expect(valid).toHaveLength(23);

    const byHousehold = new Map(valid.map((v) => [v.household, v.value]));
    expect(byHousehold.get('HH-0001')).toEqual({
      id: 'token:000412345001@nationalId',
      name: 'María Clara Dela Cruz',
      phone_number: '+639175550101',
      fa: {
        strategy_id: 2,
        fa_type: 'BANK',
        bank_name: 'Land Bank of the Philippines',
        bank_code: 'LBP',
        branch_name: 'Quezon City - Kamuning',
        branch_code: '0012',
        account_number: '001234567890',
      },
    });
    // The payment mobile differs from the contact phone and stays apart from it.
    expect(byHousehold.get('HH-0005')).toMatchObject({
      name: 'Nguyễn Thị Lan',
      phone_number: '+639175550105',
      fa: { fa_type: 'MOBILE_WALLET', wallet_provider_name: 'GCash', mobile_number: '+639981234567' },
    });
    expect(byHousehold.get('HH-0003')).toMatchObject({
      fa: { fa_type: 'EMAIL_WALLET', email_address: 'luisa.pena@gmail.com', wallet_provider_name: 'PayPal' },
    });
    expect(byHousehold.get('HH-0009')).not.toHaveProperty('phone_number');
    expect(byHousehold.get('HH-0010')).toMatchObject({ phone_number: '+63281234567', fa: { account_number: '000700123410' } });
    expect(byHousehold.get('HH-0012')).toMatchObject({ id: 'token:000412345012@nationalId' });
    expect(byHousehold.get('HH-0013')).toMatchObject({ name: 'Dolores "Lola" Esguerra' });
  });
});

describe('row filters: skip and where', () => {
  const filtered = (extra: Record<string, unknown>) => compileMapping({ ...bankOnly(), ...extra }, 'mapping.json');

  it('skips a row a skip condition matches, and one a where condition does not, ignoring case and spaces', () => {
    const mapping = filtered({
      skip: [{ column: 'ReviewState', equals: 'rejected' }],
      where: { column: 'consent', in: ['yes', 'oui'] },
    });
    const hit = (cells: Record<string, string>) => filterRow(mapping.filters, rowOf(cells));
    expect(hit({ ReviewState: '', consent: 'yes' })).toBeUndefined();
    expect(hit({ ReviewState: 'approved', consent: ' OUI ' })).toBeUndefined();
    expect(hit({ ReviewState: ' Rejected ', consent: 'yes' })).toEqual({
      code: 'filter.skip',
      rule: 'ReviewState is rejected (skip.0)',
      message: 'skipped: ReviewState is "Rejected" (ReviewState is rejected (skip.0))',
    });
    // skip first: a row both conditions leave out is reported by its skip.
    expect(hit({ ReviewState: 'rejected', consent: 'no' })?.code).toBe('filter.skip');
    expect(hit({ ReviewState: '', consent: 'no' })).toMatchObject({
      code: 'filter.where',
      rule: 'consent is not one of yes, oui (where.0)',
    });
    expect(hit({ ReviewState: '' })?.message).toBe('skipped: consent is empty (consent is not one of yes, oui (where.0))');
    // The filter columns are columns the mapping reads: a header without them is refused up front.
    expect(mappingColumns(mapping)).toEqual(['id', 'bank', 'branch', 'account', 'ReviewState', 'consent']);
    expect(missingColumns(mapping, ['id', 'bank', 'branch', 'account', 'consent'])).toEqual(['ReviewState']);
  });

  it('matches an empty cell with equals ""; a path filters a JSON row', () => {
    const mapping = compileMapping(
      {
        id: { path: 'b.id' },
        fa: {
          type: { const: 'BANK' },
          bank_code: { path: 'b.bank' },
          branch_code: { path: 'b.branch' },
          account_number: { path: 'b.account' },
        },
        skip: [{ path: 'p.consent', equals: '' }],
      },
      'm.json',
    );
    expect(filterRow(mapping.filters, objectRow({ p: { consent: null } }))?.rule).toBe('p.consent is (empty) (skip.0)');
    expect(filterRow(mapping.filters, objectRow({ p: { consent: 'yes' } }))).toBeUndefined();
  });

  it('names every mistake in a filter', () => {
    expect(
      mistakes({ ...bankOnly(), skip: [{ column: 'a' }], where: [{ equals: 'x' }, { column: 'a', path: 'b', equals: 'x', in: ['y'] }] }),
    ).toEqual([
      'mapping.json: skip.0: needs exactly one of "equals", "in"',
      'mapping.json: where.0: needs exactly one of "column", "path"',
      'mapping.json: where.1: needs exactly one of "column", "path"',
      'mapping.json: where.1: needs exactly one of "equals", "in"',
    ]);
    expect(mistakes({ ...bankOnly(), skip: [{ column: 'a', in: [] }], where: 'consent' })).toEqual([
      'mapping.json: skip.0.in: must list at least one value',
      'mapping.json: where: must be a list of conditions such as [{"column": "ReviewState", "equals": "rejected"}]',
    ]);
    expect(mistakes({ ...bankOnly(), skip: [{ column: 'a', equal: 'x' }] })[0]).toContain('skip.0.equal: unknown field');
  });

  it('a mapping without filters has none', () => {
    expect(compileMapping(bankOnly(), 'm.json').filters).toEqual([]);
  });
});
