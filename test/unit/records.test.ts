import { describe, expect, it } from 'vitest';
import { newIdProblem } from '../../src/core/beneficiary-id.js';
import { toBulkRecord } from '../../src/core/bulk/input.js';
import { summarize } from '../../src/core/resolve.js';
import {
  checkStrategy,
  parseIdRecord,
  parseMappedRecord,
  parseMappingRecord,
  parseMappingRecordWithZod,
  parseRecordFor,
  recordKey,
  surelyValidId,
  type MappingRecord,
} from '../../src/core/request-items.js';
import { DEFAULT_STRATEGIES } from '../../src/core/strategy/strategy.js';

const flatBank = {
  id: ' 0000812345 ',
  fa_type: 'BANK',
  bank_name: 'Island Savings Bank',
  bank_code: 'ISB',
  branch_name: 'Davao',
  branch_code: '0210',
  account_number: '00441122',
  wallet_provider_name: '',
  mobile_number: '',
  name: 'Rosa',
  phone_number: '+63 917 555 0108',
};

function problemsOf(record: Record<string, unknown>): string[] {
  const parsed = parseMappingRecord(record);
  return parsed.ok ? [] : parsed.problems.map((p) => `${p.field}: ${p.message}`);
}

describe('parseMappingRecord', () => {
  it('reads a flat CSV-style row: trims, keeps leading zeros, ignores empty foreign cells, defaults the strategy', () => {
    const parsed = parseMappingRecord(flatBank);
    expect(parsed).toEqual({
      ok: true,
      value: {
        id: '0000812345',
        fa: {
          strategy_id: 2,
          fa_type: 'BANK',
          bank_name: 'Island Savings Bank',
          bank_code: 'ISB',
          branch_name: 'Davao',
          branch_code: '0210',
          account_number: '00441122',
        },
        name: 'Rosa',
        // Written in E.164 (core/phone.ts).
        phone_number: '+639175550108',
      },
    });
  });

  it('reads a nested fa object and a strategy_id given as text or number', () => {
    const fa = {
      fa_type: 'MOBILE_WALLET',
      wallet_provider_name: 'Pink Wallet',
      wallet_provider_code: 'PINK',
      mobile_number: '+639171234567',
    };
    const nested = parseMappingRecord({ id: 'B', fa: { ...fa, strategy_id: 4 } });
    const flat = parseMappingRecord({ id: 'B', ...fa, strategy_id: '4' });
    expect(nested.ok && nested.value.fa).toEqual({ ...fa, strategy_id: 4 });
    expect(flat.ok && flat.value.fa).toEqual({ ...fa, strategy_id: 4 });
  });

  it('infers fa_type from the one kind of FA field present, and uses the --strategy default', () => {
    const parsed = parseMappingRecord(
      { id: 'E', wallet_provider_name: 'Mail Pay', wallet_provider_code: 'MP', email_address: 'a@b.org' },
      { strategyId: 3 },
    );
    expect(parsed.ok && parsed.value.fa).toMatchObject({ fa_type: 'EMAIL_WALLET', strategy_id: 3 });
  });

  it('names the field of every mistake', () => {
    expect(problemsOf({ ...flatBank, account_number: '' })).toEqual(['account_number: account_number is missing']);
    expect(problemsOf({ ...flatBank, id: '' })).toEqual(['id: id is missing']);
    expect(problemsOf({ ...flatBank, fa_type: 'CASH' })).toEqual([
      'fa_type: fa_type must be one of BANK, MOBILE_WALLET, EMAIL_WALLET, got "CASH"',
    ]);
    expect(problemsOf({ ...flatBank, mobile_number: '+63917' })).toEqual(['mobile_number: mobile_number does not belong to a BANK FA']);
    expect(problemsOf({ ...flatBank, strategy_id: 'two' })).toEqual([
      'strategy_id: strategy_id must be a positive whole number, got "two"',
    ]);
    expect(problemsOf({ ...flatBank, acount_number: '1' })).toEqual(['acount_number: unknown field "acount_number"']);
    expect(problemsOf({ ...flatBank, phone_number: 'call me' })[0]).toMatch(/^phone_number: /);
    expect(problemsOf({ ...flatBank, account_number: 'A\nB' })).toEqual(['account_number: account_number contains a control character']);
    expect(problemsOf({ id: 'X', fa: { fa_type: 'BANK', bank_name: 'B' }, account_number: '1' })[0]).toMatch(
      /^account_number: give the FA either as "fa" or as flat fields/,
    );
    expect(
      problemsOf({
        id: 'X',
        fa: { fa_type: 'BANK', bank_name: 'B', bank_code: 'C', branch_name: 'D', branch_code: 'E', account_number: '1', iban: 'x' },
      }),
    ).toEqual(['iban: unknown field iban']);
    expect(problemsOf({ id: 'X', fa: { fa_type: 'BANK', bank_name: 'B', bank_code: 'C', branch_name: 'D', branch_code: 'E' } })).toEqual([
      'account_number: account_number is missing',
    ]);
    expect(problemsOf({ id: 123, fa_type: 'BANK' })[0]).toMatch(/^id: id must be a string \(quote it\)/);
    expect(problemsOf({ id: 'X', account_number: '1', email_address: 'a@b.c' })).toEqual([
      'fa_type: fa_type is missing (BANK, MOBILE_WALLET, EMAIL_WALLET)',
    ]);
  });
});

describe('parseIdRecord', () => {
  it('uses only the id and accepts the other known columns of a link file', () => {
    expect(parseIdRecord(flatBank)).toEqual({ ok: true, value: { id: '0000812345' } });
    expect(parseIdRecord({ id: 'A', surname: 'x' })).toEqual({
      ok: false,
      problems: [{ field: 'surname', message: 'unknown field "surname"' }],
    });
  });
});

describe('IDs: NFC, nothing invisible (the one place every ID comes in)', () => {
  const nfc = 'JOS\u00c9_1';
  const nfd = 'JOSE\u0301_1';

  it('takes an ID in NFC, whichever way it was typed; recordKey (the row index) gives the same', () => {
    for (const id of [nfc, nfd, ` ${nfd} `]) {
      expect(parseIdRecord({ id })).toEqual({ ok: true, value: { id: nfc } });
      const mapped = parseMappingRecord({ ...flatBank, id });
      expect(mapped.ok && mapped.value.id).toBe(nfc);
      const zod = parseMappingRecordWithZod({ ...flatBank, id });
      expect(zod.ok && zod.value.id).toBe(nfc);
      expect(recordKey({ id })).toBe(nfc);
    }
    // The fast check never vouches for an ID that normalising would change.
    expect(surelyValidId(nfd)).toBe(false);
    expect(surelyValidId(nfc)).toBe(true);
  });

  it('refuses an ID holding an invisible or control character, naming the code point', () => {
    const cases: [string, string][] = [
      ['\u200b', 'U+200B (ZERO WIDTH SPACE), an invisible character'],
      ['\u202e', 'U+202E (RIGHT-TO-LEFT OVERRIDE), an invisible character'],
      ['\u2066', 'U+2066 (LEFT-TO-RIGHT ISOLATE), an invisible character'],
      ['\u00ad', 'U+00AD (SOFT HYPHEN), an invisible character'],
      ['\u115f', 'U+115F (HANGUL CHOSEONG FILLER), an invisible character'],
      ['\u1160', 'U+1160 (HANGUL JUNGSEONG FILLER), an invisible character'],
      ['\u3164', 'U+3164 (HANGUL FILLER), an invisible character'],
      ['\uffa0', 'U+FFA0 (HALFWIDTH HANGUL FILLER), an invisible character'],
      ['\ufe0f', 'U+FE0F (VARIATION SELECTOR-16), an invisible character'],
      ['\u{e0100}', 'U+E0100, an invisible character'],
      ['\u{e0041}', 'U+E0041, an invisible character'],
      ['\u2028', 'U+2028 (LINE SEPARATOR), an invisible character'],
      ['\u0000', 'U+0000, a control character'],
      ['\t', 'U+0009 (CHARACTER TABULATION), a control character'],
      ['\u0085', 'U+0085, a control character'],
    ];
    for (const [c, what] of cases) {
      const problems = [{ field: 'id', message: `id contains ${what}; retype the ID` }];
      expect(parseIdRecord({ id: `A${c}B` }), what).toEqual({ ok: false, problems });
      expect(parseMappingRecord({ ...flatBank, id: `A${c}B` }), what).toEqual({ ok: false, problems });
      expect(parseMappingRecordWithZod({ ...flatBank, id: `A${c}B` }), what).toEqual({ ok: false, problems });
    }
    // Visible non-ASCII is fine: accents, other scripts. (A no-break space inside is fine only
    // where no new link is made: see the next test.)
    for (const id of ['Ñiño', 'فاطمة', '林美玲']) {
      expect(parseIdRecord({ id })).toEqual({ ok: true, value: { id } });
      expect(parseMappingRecord({ ...flatBank, id })).toMatchObject({ ok: true, value: { id } });
    }
  });

  it('refuses a space that only looks like the ordinary one where a new link may be made, and only there', () => {
    const strategies = new Map(DEFAULT_STRATEGIES.map((s) => [s.id, s]));
    const cases: [string, string][] = [
      ['\u00a0', 'U+00A0 (NO-BREAK SPACE)'],
      ['\u2007', 'U+2007 (FIGURE SPACE)'],
      ['\u2009', 'U+2009 (THIN SPACE)'],
      ['\u202f', 'U+202F (NARROW NO-BREAK SPACE)'],
      ['\u3000', 'U+3000 (IDEOGRAPHIC SPACE)'],
      ['\u1680', 'U+1680 (OGHAM SPACE MARK)'],
      ['\u205f', 'U+205F (MEDIUM MATHEMATICAL SPACE)'],
      ['\u2800', 'U+2800 (BRAILLE PATTERN BLANK)'],
    ];
    for (const [c, what] of cases) {
      const id = `A${c}B`;
      const message = `id contains ${what}, which only looks like an ordinary space (linked, it would be another beneficiary); retype the ID`;
      const refused = { ok: false, problems: [{ field: 'id', message }] };
      expect(newIdProblem(id), what).toBe(message);
      // A record that may create a link: link, and upsert (which links an ID not linked yet).
      expect(parseMappingRecord({ ...flatBank, id }), what).toEqual(refused);
      expect(parseMappingRecordWithZod({ ...flatBank, id }), what).toEqual(refused);
      expect(parseRecordFor('link', { ...flatBank, id }), what).toEqual(refused);
      expect(surelyValidId(id), what).toBe(false);
      for (const mode of ['link', 'upsert'] as const) {
        for (const mapped of [false, true]) {
          const got = toBulkRecord(0, 2, { ...flatRecordShape(flatBank), id }, undefined, { mode, strategies, mapped });
          expect(got.parsed, `${what} ${mode}${mapped ? ' mapped' : ''}`).toEqual({
            ok: false,
            problems: [{ field: 'id', message, code: 'input.invalid' }],
          });
          // The row index still keys the row by its ID (a reject of that beneficiary, not of none).
          expect(got.key).toBe(id);
        }
      }
      // A row whose own operation is link or upsert, in a run of another mode.
      for (const operation of ['link', 'upsert'])
        expect(toBulkRecord(0, 2, { ...flatBank, id, operation }, undefined, { mode: 'update', strategies }).parsed).toMatchObject({
          ok: false,
        });
      // An ID that only reaches a beneficiary (linked by another client): resolve, update, unlink.
      expect(parseIdRecord({ id }), what).toEqual({ ok: true, value: { id } });
      expect(parseRecordFor('resolve', { id }), what).toEqual({ ok: true, value: { id } });
      expect(parseRecordFor('unlink', { id }), what).toEqual({ ok: true, value: { id } });
      expect(parseRecordFor('update', { ...flatBank, id }), what).toMatchObject({ ok: true, value: { id } });
      expect(parseMappingRecord({ ...flatBank, id }, {}, 'existing'), what).toMatchObject({ ok: true, value: { id } });
      expect(surelyValidId(id, 'existing'), what).toBe(true);
      expect(parseMappedRecord({ ...flatRecordShape(flatBank), id }, 'existing')).toMatchObject({ id });
      expect(parseMappedRecord({ ...flatRecordShape(flatBank), id })).toBeUndefined();
      for (const mapped of [false, true])
        expect(
          toBulkRecord(0, 2, { ...flatRecordShape(flatBank), id }, undefined, { mode: 'update', strategies, mapped }).parsed,
        ).toMatchObject({
          ok: true,
          mode: 'update',
          value: { id },
        });
      expect(toBulkRecord(0, 2, { id }, undefined, { mode: 'unlink', strategies }).parsed).toEqual({
        ok: true,
        value: { id },
        mode: 'unlink',
      });
      expect(toBulkRecord(0, 2, { ...flatBank, id, operation: 'update' }, undefined, { mode: 'upsert', strategies }).parsed).toMatchObject({
        ok: true,
        mode: 'update',
      });
    }
    // The ordinary space, and look-alike spaces at either end (dropped as any surrounding space), are fine.
    expect(newIdProblem('A B')).toBeUndefined();
    expect(parseMappingRecord({ ...flatBank, id: '\u00a0A B\u3000' })).toMatchObject({ ok: true, value: { id: 'A B' } });
    // An invisible character is still said as one where a new link may be made.
    expect(newIdProblem('A\u200bB')).toBe('id contains U+200B (ZERO WIDTH SPACE), an invisible character; retype the ID');
  });
});

/** flatBank as a mapping file builds a record (a numeric strategy_id, no empty columns): parseMappedRecord's shape. */
function flatRecordShape(record: Record<string, unknown>): Record<string, unknown> {
  const { wallet_provider_name: _w, mobile_number: _m, phone_number: _p, ...rest } = record;
  return { ...rest, id: String(rest['id']).trim(), strategy_id: 2, phone_number: '+639175550108' };
}

describe('checkStrategy', () => {
  const strategies = new Map(DEFAULT_STRATEGIES.map((s) => [s.id, s]));

  it('checks an FA against the target’s strategies: an unknown strategy, a value that would not read back', () => {
    expect(checkStrategy(flatRecord(flatBank), strategies)).toBeUndefined();
    expect(checkStrategy(flatRecord({ ...flatBank, id: 'B', strategy_id: '9' }), strategies)).toEqual({
      field: 'strategy_id',
      message: 'strategy 9 does not exist (FA strategies: 2, 3, 4, 5)',
    });
    expect(
      checkStrategy(flatRecord({ ...flatBank, id: 'C', account_number: '1', branch_name: 'Davao.branch_name:X' }), strategies),
    ).toMatchObject({ field: 'fa', message: expect.stringMatching(/^account_number "1" would be read back as "1\.branch_name:Davao"/) });
  });
});

/** A flat record parsed as link parses it. */
function flatRecord(record: Record<string, unknown>): MappingRecord {
  const parsed = parseMappingRecord(record);
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.problems));
  return parsed.value;
}

describe('summarize', () => {
  const result = (status: 'succ' | 'rjct', code: string | null) => ({
    reference_id: 'r',
    id: 'x',
    status,
    status_reason_code: code,
    status_reason_message: null,
  });
  it('counts outcomes; a resolve that finds nothing is not a failure, a link that finds the ID taken is', () => {
    const resolve = summarize('resolve', [
      { id: 'a', outcome: 'found', result: result('succ', 'succ.id.active') },
      { id: 'b', outcome: 'not_found', result: result('succ', 'succ.fa.not_linked_to_id') },
    ]);
    expect(resolve).toEqual({ operation: 'resolve', total: 2, counts: { found: 1, not_found: 1 }, failed: 0 });
    const link = summarize('link', [
      { id: 'a', outcome: 'linked', result: result('succ', null) },
      { id: 'b', outcome: 'already_linked', result: result('rjct', 'rjct.reference_id.duplicate') },
    ]);
    expect(link.failed).toBe(1);
  });
});
