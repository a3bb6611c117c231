import { describe, expect, it } from 'vitest';
import {
  combineDeclared,
  freeStrategyId,
  planAppend,
  storedFaMismatch,
  storedStrategyId,
  undeclaredStored,
} from '../../src/core/strategy/declared.js';
import { buildCheckedFa, compileStrategy, DEFAULT_STRATEGY_ROWS, type StrategyRow } from '../../src/core/strategy/strategy.js';
import type { FinancialAddress } from '../../src/core/model.js';

const ROW7: StrategyRow = {
  id: 7,
  strategy_type: 'FA',
  description: 'Bank code and account',
  construct_strategy: 'bank:{bank_code}|account:{account_number}',
  deconstruct_strategy: '^bank:(?P<bank_code>[^|]*)\\|account:(?P<account_number>.*)$',
  active: true,
};

describe('declared strategies', () => {
  it('overlays declarations on the built-in ones with their source; the same id declared twice must agree', () => {
    const rows = combineDeclared([
      {
        source: 'file /s.json',
        rows: [
          { ...ROW7, description: '' },
          { ...DEFAULT_STRATEGY_ROWS[1]!, description: '' },
        ],
      },
      { source: 'profile p (inline)', rows: [{ ...ROW7, description: null }] },
    ]);
    expect(rows.map((r) => `${r.id} ${r.source}`)).toEqual([
      '1 built-in',
      '2 file /s.json',
      '3 built-in',
      '4 built-in',
      '5 built-in',
      '7 file /s.json',
    ]);
    expect(() =>
      combineDeclared([
        { source: 'a', rows: [ROW7] },
        { source: 'b', rows: [{ ...ROW7, active: false }] },
      ]),
    ).toThrow('b: strategy 7 differs from its definition in a (active); an id names one strategy');
  });

  it('appends: a new id is added, the same definition is unchanged, another definition of a known id is refused with a free id', () => {
    const known = combineDeclared([{ source: 'file /s.json', rows: [ROW7] }]);
    expect(planAppend(known, [ROW7, { ...ROW7, id: 9 }])).toEqual([
      { id: 7, outcome: 'unchanged' },
      { id: 9, outcome: 'added' },
    ]);
    expect(() => planAppend(known, [{ ...ROW7, construct_strategy: 'b:{bank_code}|a:{account_number}' }])).toThrow(
      /^strategy 7 already exists with a different construct_strategy \(file \/s\.json\); strategies are append-only/,
    );
  });

  it("names the ids of found FAs whose strategy a remote profile does not declare; a local mapper's strategies are not checked", () => {
    const known = combineDeclared([]);
    const found = [
      { id: 'A', result: { fa: { bank_code: 'X', strategy_id: 7 } } },
      { id: 'B', result: { fa: 'bank:X|account:1', additional_info: [{ name: 'strategy_id', value: '9' }] } },
      { id: 'C', result: { fa: { strategy_id: 2 } } },
    ];
    expect(undeclaredStored(known, found)?.message).toBe(
      "2 IDs' FAs are stored with strategies 7, 9 (first: ID A), which this profile does not declare (FA strategies: 2, 3, 4, 5); the FA is shown as the mapper returned it",
    );
    expect(undeclaredStored(known, found.slice(2))).toBeUndefined();
    expect(undeclaredStored(DEFAULT_STRATEGY_ROWS, found)).toBeUndefined();
    expect(storedStrategyId({ fa: {}, additional_info: [{ strategy_id: 4 }] })).toBe(4);
  });
});

describe('freeStrategyId: the id a refused add suggests', () => {
  it('is past every id taken, or the lowest free one when that is past PostgreSQL integer range', () => {
    expect(freeStrategyId([1, 2, 3, 4, 5, 7])).toBe(8);
    expect(freeStrategyId([])).toBe(1);
    expect(freeStrategyId([1, 2, 3, 4, 5, 2_147_483_647])).toBe(6);
  });
});

describe('storedFaMismatch: the FA string a mapper stored against the one the strategy builds', () => {
  const strategy = compileStrategy(ROW7);
  const strategies = new Map([[7, strategy]]);
  const fa = (account: string) =>
    ({
      strategy_id: 7,
      fa_type: 'BANK',
      bank_name: 'B',
      bank_code: 'LBP',
      branch_name: 'M',
      branch_code: '1',
      account_number: account,
    }) as FinancialAddress;
  const built = (account: string) => {
    const checked = buildCheckedFa(strategy, fa(account));
    if (!checked.ok) throw new Error(checked.problem);
    return checked.value;
  };
  // A bulk run's items carry the string their check built; a single record's do not.
  const items = ['1', '2', '3'].map((n) => ({ reference_id: `q${n}`, id: `ID${n}`, fa: fa(n), faValue: built(n) }));
  const answer = (n: string, stored: string) => ({ reference_id: `q${n}`, status: 'succ' as const, fa: stored });

  it('finds nothing when every stored string is the one built, answers in any order', () => {
    expect(built('2')).toBe('bank:LBP|account:2');
    const results = ['1', '2', '3'].map((n) => answer(n, built(n)));
    expect(storedFaMismatch(items, results, strategies)).toBeUndefined();
    expect(storedFaMismatch(items, [...results].reverse(), strategies)).toBeUndefined();
  });

  it("names the ID whose stored string differs, matched by reference_id when the answer's order is not the request's", () => {
    const results = [answer('3', built('3')), answer('1', built('1')), answer('2', 'account_number:2.bank_code:LBP')];
    expect(storedFaMismatch(items, results, strategies)).toEqual({
      id: 'ID2',
      strategy,
      stored: 'account_number:2.bank_code:LBP',
      built: 'bank:LBP|account:2',
    });
  });

  it('compares with the string the item carries (the one its check built), not one built again', () => {
    // Carried strings that the FA would not build: were they ignored, both answers would pass or fail the other way.
    const carried = [{ reference_id: 'q1', id: 'ID1', fa: fa('1'), faValue: 'as checked' }];
    expect(storedFaMismatch(carried, [answer('1', 'as checked')], strategies)).toBeUndefined();
    expect(storedFaMismatch(carried, [answer('1', built('1'))], strategies)).toEqual({
      id: 'ID1',
      strategy,
      stored: 'bank:LBP|account:1',
      built: 'as checked',
    });
  });

  it('builds the string itself for an item that carries none, and skips failures and answers without a string', () => {
    const single = [{ reference_id: 'q9', id: 'ID9', fa: fa('9') }];
    expect(storedFaMismatch(single, [answer('9', 'other')], strategies)?.built).toBe('bank:LBP|account:9');
    expect(storedFaMismatch(single, [answer('9', built('9'))], strategies)).toBeUndefined();
    expect(storedFaMismatch(single, [{ reference_id: 'q9', status: 'rjct' as const, fa: 'other' }], strategies)).toBeUndefined();
    expect(storedFaMismatch(single, [{ reference_id: 'q9', status: 'succ' as const, fa: undefined }], strategies)).toBeUndefined();
  });
});
