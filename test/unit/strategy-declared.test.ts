import { describe, expect, it } from 'vitest';
import { combineDeclared, freeStrategyId, planAppend, storedStrategyId, undeclaredStored } from '../../src/core/strategy/declared.js';
import { DEFAULT_STRATEGY_ROWS, type StrategyRow } from '../../src/core/strategy/strategy.js';

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
