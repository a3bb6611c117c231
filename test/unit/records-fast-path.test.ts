import { isDeepStrictEqual } from 'node:util';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { toBulkRecord } from '../../src/core/bulk/input.js';
import { FA_FIELDS, recordSchemas } from '../../src/core/model.js';
import {
  parseMappedRecord,
  parseMappingRecord,
  parseMappingRecordWithZod,
  surelyValidFa,
  surelyValidId,
  surelyValidName,
  surelyValidPhone,
  type RecordDefaults,
} from '../../src/core/request-items.js';
import { DEFAULT_STRATEGIES } from '../../src/core/strategy/strategy.js';
import { corpus, nested, validBank, validEmail, validMobile } from '../helpers/record-corpus.js';

const {
  bankFa: BankFaSchema,
  id: BeneficiaryIdSchema,
  emailWalletFa: EmailWalletFaSchema,
  financialAddress: FinancialAddressSchema,
  mobileWalletFa: MobileWalletFaSchema,
  name: NameSchema,
  phone: PhoneSchema,
} = recordSchemas();

/*
 * The fast path of records.ts may only ever say "valid" where zod says so too, with the same
 * value; everything else must go to zod. These tests hold it to that on a large varied corpus,
 * and make sure it does take the plain valid rows (a fast path that never fires passes nothing).
 */

afterEach(() => {
  vi.restoreAllMocks();
});

/**
 * expect(got).toStrictEqual(want) for the corpus's tens of thousands of records: expect is only
 * called on a difference (node's strict deep equality is at least as strict), as a call costs
 * more than the records' own parsing.
 */
function strictEqual(got: unknown, want: unknown): void {
  if (!isDeepStrictEqual(got, want)) expect(got).toStrictEqual(want);
}

const strings = (() => {
  const out: unknown[] = [
    'a',
    'A1',
    '0000812345',
    'token:000400000001@nationalId',
    ' padded ',
    'é',
    '💸',
    '\ud800',
    '\u00a0',
    '\u200b',
    '\ufeff',
    '',
  ];
  for (const c of ['\u0000', '\t', '\n', '\r', '\u001f', '\u007f', '\u0085', '\u009f', '\u00a0', '\u2028', '\u2029', '\u202f'])
    out.push(c, `a${c}b`, `ab${c}`);
  for (const n of [1, 31, 32, 33, 254, 255, 256, 511, 512, 513, 2000]) out.push('1'.repeat(n), 'x'.repeat(n), `+${'2'.repeat(n - 1)}`);
  out.push('+63 917 555 0108', '(02) 8123-4567', '++63', '63+', 'call me', '+63-917', '１２３');
  out.push(0, 1, 1.5, NaN, null, undefined, true, {}, [], ['a'], { toString: () => 'a' }, Symbol('a'), 10n);
  return out;
})();

function agreesWithZod(
  fast: (v: unknown) => boolean,
  schema: { safeParse(v: unknown): { success: boolean; data?: unknown } },
  values: readonly unknown[],
): number {
  let accepted = 0;
  for (const value of values) {
    if (!fast(value)) continue;
    accepted++;
    const parsed = schema.safeParse(value);
    expect({ value, parsed }).toEqual({ value, parsed: { success: true, data: value } });
  }
  return accepted;
}

describe('fast checks against the zod schemas', () => {
  it('the FA schemas have exactly the keys FA_FIELDS names, in the same order', () => {
    expect(Object.keys(BankFaSchema.shape)).toEqual(['strategy_id', 'fa_type', ...FA_FIELDS.BANK]);
    expect(Object.keys(MobileWalletFaSchema.shape)).toEqual(['strategy_id', 'fa_type', ...FA_FIELDS.MOBILE_WALLET]);
    expect(Object.keys(EmailWalletFaSchema.shape)).toEqual(['strategy_id', 'fa_type', ...FA_FIELDS.EMAIL_WALLET]);
  });

  it('id, name and phone: only what zod accepts unchanged, and the ordinary values', () => {
    expect(agreesWithZod(surelyValidId, BeneficiaryIdSchema, strings)).toBeGreaterThan(20);
    expect(agreesWithZod(surelyValidName, NameSchema, strings)).toBeGreaterThan(20);
    expect(agreesWithZod(surelyValidPhone, PhoneSchema, strings)).toBeGreaterThan(10);
    for (const id of ['0000812345', 'token:000400000001@nationalId', 'x'.repeat(512)]) expect(surelyValidId(id)).toBe(true);
    for (const name of ['Person 1 Dela Cruz', 'Ñiño Peña', 'x'.repeat(255)]) expect(surelyValidName(name)).toBe(true);
    for (const phone of ['+639171230001', '+63 917 555 0108', '(02) 8123-4567', '1'.repeat(32)]) expect(surelyValidPhone(phone)).toBe(true);
    expect(surelyValidId('x'.repeat(513))).toBe(false);
    expect(surelyValidName('x'.repeat(256))).toBe(false);
    expect(surelyValidPhone('1'.repeat(33))).toBe(false);
  });

  it('FA objects: only what zod accepts with the same keys and values, and the ordinary ones', () => {
    const candidates: unknown[] = [];
    for (const { record } of corpus(6000, 7)) {
      const fa = nested(record)['fa'];
      candidates.push(fa, record['fa']);
      if (typeof fa === 'object' && fa !== null) {
        for (const strategy_id of [0, -1, 1, 1.5, 2, 2147483647, 2147483648, '2', NaN, Infinity, undefined])
          candidates.push({ ...fa, strategy_id });
      }
    }
    let accepted = 0;
    for (const candidate of candidates) {
      if (!surelyValidFa(candidate)) continue;
      accepted++;
      const parsed = FinancialAddressSchema.safeParse(candidate);
      if (!parsed.success) expect({ candidate, success: parsed.success }).toEqual({ candidate, success: true });
      strictEqual(parsed.data, { ...(candidate as object) });
    }
    expect(accepted).toBeGreaterThan(1000);
    for (const make of [validBank, validMobile, validEmail]) expect(surelyValidFa(nested(make(5))['fa'])).toBe(true);
    expect(surelyValidFa({ ...(nested(validBank(5))['fa'] as object), iban: 'x' })).toBe(false);
    expect(surelyValidFa({ ...(nested(validBank(5))['fa'] as object), strategy_id: 2147483648 })).toBe(false);
    expect(surelyValidFa(JSON.parse(`{"__proto__":{},${JSON.stringify(nested(validBank(5))['fa']).slice(1)}`))).toBe(false);
    // zod reads a hidden field but returns it as a visible one: not "the same object", so not fast.
    const hidden = { ...(nested(validBank(5))['fa'] as object) };
    Object.defineProperty(hidden, 'account_number', { value: '1', enumerable: false });
    expect(FinancialAddressSchema.safeParse(hidden).success).toBe(true);
    expect(surelyValidFa(hidden)).toBe(false);
  });
});

describe('parseMappingRecord', () => {
  const DEFAULTS: RecordDefaults[] = [
    {},
    {},
    {},
    { strategyId: 3 },
    { strategyId: 5 },
    { strategyId: 0 },
    { strategyId: 1.5 },
    { strategyId: 2147483648 },
  ];

  it('gives exactly what zod alone gives, on a large varied corpus, and takes the fast path for plain rows', () => {
    const spies = [BeneficiaryIdSchema, FinancialAddressSchema, NameSchema, PhoneSchema].map((schema) => vi.spyOn(schema, 'safeParse'));
    const zodCalls = () => spies.reduce((sum, spy) => sum + spy.mock.calls.length, 0);
    const entries = corpus(20000);
    let valid = 0;
    let plain = 0;
    let plainFast = 0;
    let fast = 0;
    const messages = new Set<string>();
    entries.forEach(({ label, record, plain: isPlain }, at) => {
      const defaults = DEFAULTS[at % DEFAULTS.length]!;
      const before = zodCalls();
      const got = parseMappingRecord(record, defaults);
      const tookFastPath = zodCalls() === before;
      const want = parseMappingRecordWithZod(record, defaults);
      if (JSON.stringify(got) !== JSON.stringify(want))
        expect({ label, record, defaults, got }).toStrictEqual({ label, record, defaults, got: want });
      strictEqual(got, want);
      if (want.ok) {
        valid++;
        if (tookFastPath) fast++;
      } else {
        for (const problem of want.problems) messages.add(problem.message.replace(/"[^"]*"|\d+/g, '…'));
      }
      if (isPlain && want.ok) {
        plain++;
        if (tookFastPath) plainFast++;
      }
    });
    // The corpus is varied: plenty of valid rows, plenty of broken ones, broken in many ways.
    expect(valid).toBeGreaterThan(entries.length * 0.3);
    expect(entries.length - valid).toBeGreaterThan(entries.length * 0.3);
    expect(messages.size).toBeGreaterThan(30);
    // Every plain valid row, and most valid rows overall, needed no zod at all.
    expect(plain).toBeGreaterThan(entries.length * 0.2);
    expect(plainFast).toBe(plain);
    expect(fast).toBeGreaterThan(valid * 0.8);
  });

  it('reports unreadable additional_info once, and an FA key named additional_info instead of checking the field', () => {
    expect(parseMappingRecord({ ...validBank(1), additional_info: 'not json' })).toStrictEqual({
      ok: false,
      problems: [{ field: 'additional_info', message: 'additional_info is not valid JSON' }],
    });
    const withKey = nested(validBank(1));
    withKey['fa'] = { ...(withKey['fa'] as object), additional_info: 'x' };
    expect(parseMappingRecord({ ...withKey, additional_info: 5 })).toStrictEqual({
      ok: false,
      problems: [{ field: 'additional_info', message: 'unknown field additional_info' }],
    });
  });

  it('parseMappedRecord gives what parseMappingRecord gives, or leaves the record to it, on the whole corpus', () => {
    let taken = 0;
    for (const { label, record } of corpus(20000, 11)) {
      // The corpus as it is, and as a mapping file would build it (numeric strategy id, no nested FA).
      const mappedShape = {
        ...record,
        strategy_id: typeof record['strategy_id'] === 'string' ? Number(record['strategy_id']) : record['strategy_id'],
        // A mapping file writes phone numbers in E.164 (core/phone.ts).
        ...(typeof record['phone_number'] === 'string' ? { phone_number: record['phone_number'].replace(/[ ()-]/g, '') } : {}),
      };
      for (const candidate of [record, mappedShape]) {
        const quick = parseMappedRecord(candidate);
        if (quick === undefined) continue;
        taken++;
        const parsed = parseMappingRecord(candidate);
        if (!isDeepStrictEqual(parsed, { ok: true, value: quick }))
          expect({ label, candidate, parsed }).toStrictEqual({ label, candidate, parsed: { ok: true, value: quick } });
      }
    }
    // Often enough to matter (about 4,000 of the 40,000 candidates with this seed).
    expect(taken).toBeGreaterThan(3_500);
  });

  it('returns an FA with its keys in schema order, as zod does', () => {
    for (const record of [validBank(1), nested(validMobile(2)), { ...validEmail(3), fa_type: undefined }]) {
      const parsed = parseMappingRecord(record);
      expect(parsed.ok && Object.keys(parsed.value.fa)).toEqual([
        'strategy_id',
        'fa_type',
        ...FA_FIELDS[parsed.ok ? parsed.value.fa.fa_type : 'BANK'],
      ]);
      expect(parsed.ok && Object.keys(parsed.value)).toEqual(['id', 'fa', 'name', 'phone_number']);
    }
  });
});

describe('toBulkRecord', () => {
  const strategies = new Map(DEFAULT_STRATEGIES.map((s) => [s.id, s]));

  it('the quick way for mapped records gives the same record, accepted or rejected, on the whole corpus', () => {
    for (const { record } of corpus(20000, 13)) {
      for (const mode of ['upsert', 'link', 'update'] as const) {
        const options = { mode, strategies };
        strictEqual(toBulkRecord(7, 9, record, undefined, { ...options, mapped: true }), toBulkRecord(7, 9, record, undefined, options));
      }
    }
  });

  it('reads the operation column without reporting it as unknown, and keeps the record shape', () => {
    const raw = { id: 'x' };
    const row = { ...validBank(1), operation: ' Update ' };
    const parsed = parseMappingRecord(validBank(1));
    const got = toBulkRecord(3, 4, row, raw, { mode: 'upsert', strategies });
    // faValue: the string the strategy stores, built and read back once here for the engine to compare.
    const faValue = 'account_number:000000000001.branch_name:Main.branch_code:0012.bank_name:Land Bank.bank_code:LBP.fa_type:BANK';
    expect(got).toStrictEqual({
      seq: 3,
      line: 4,
      raw,
      key: validBank(1)['id'],
      parsed: { ok: true, value: parsed.ok && parsed.value, mode: 'update', faValue },
    });
    expect(Object.keys(got)).toEqual(['seq', 'line', 'raw', 'key', 'parsed']);
    expect(Object.keys(toBulkRecord(3, undefined, validBank(1), undefined, { mode: 'link', strategies }))).toEqual([
      'seq',
      'key',
      'parsed',
    ]);
    expect(toBulkRecord(0, 2, { ...row, operation: 'unlink', oops: 1 }, undefined, { mode: 'link', strategies })).toStrictEqual({
      seq: 0,
      line: 2,
      key: validBank(1)['id'],
      parsed: {
        ok: false,
        problems: [
          {
            field: 'operation',
            message: 'this row asks to unlink; run again with --yes to allow unlink rows',
            code: 'input.unlink_not_confirmed',
          },
          { field: 'oops', message: 'unknown field "oops"', code: 'input.invalid' },
        ],
      },
    });
    // An unlink row refused for want of --yes is read as the unlink it asks for: --yes is all it
    // lacks, not the FA of the run's own operation (it said "fa_type is missing" too).
    expect(toBulkRecord(0, 2, { id: 'A', operation: 'unlink' }, undefined, { mode: 'link', strategies })).toStrictEqual({
      seq: 0,
      line: 2,
      key: 'A',
      parsed: {
        ok: false,
        problems: [
          {
            field: 'operation',
            message: 'this row asks to unlink; run again with --yes to allow unlink rows',
            code: 'input.unlink_not_confirmed',
          },
        ],
      },
    });
    expect(
      toBulkRecord(0, 2, { id: ' A ', operation: 'unlink', account_number: '1' }, undefined, {
        mode: 'upsert',
        strategies,
        unlinkConfirmed: true,
      }),
    ).toStrictEqual({
      seq: 0,
      line: 2,
      key: 'A',
      parsed: { ok: true, value: { id: 'A' }, mode: 'unlink' },
    });
  });
});
