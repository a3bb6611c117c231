import { describe, expect, it } from 'vitest';
import { translatePythonRegex } from '../../src/core/strategy/python-regex.js';
import { DEFAULT_STRATEGIES, DEFAULT_STRATEGY_ROWS, compileStrategy, deconstructFa } from '../../src/core/strategy/strategy.js';

/**
 * The built-in strategies' patterns are translated at first use (core/strategy/strategy.ts): they
 * must translate, and give what an eager translation gives; a row that builds and reads as a
 * built-in one shares its compiled parts, any other is compiled (and refused) at once.
 */
describe('built-in strategies', () => {
  it('translate at first use exactly as when translated at once', () => {
    for (const strategy of DEFAULT_STRATEGIES) {
      const eager = translatePythonRegex(strategy.deconstruct_strategy);
      expect(strategy.pattern.pythonPattern).toBe(strategy.deconstruct_strategy);
      expect(strategy.pattern.regex.source).toBe(eager.regex.source);
      expect(strategy.pattern.regex.flags).toBe(eager.regex.flags);
      expect(strategy.pattern.groupNames).toEqual(eager.groupNames);
    }
    const bank = DEFAULT_STRATEGIES.find((strategy) => strategy.id === 2)!;
    expect(
      deconstructFa(bank, 'account_number:0012.branch_name:Main.branch_code:0001.bank_name:Land Bank.bank_code:LBP.fa_type:BANK'),
    ).toEqual({
      account_number: '0012',
      branch_name: 'Main',
      branch_code: '0001',
      bank_name: 'Land Bank',
      bank_code: 'LBP',
      fa_type: 'BANK',
    });
  });

  it('a stored row like a built-in one shares its parts; another is compiled at once, and a bad one refused', () => {
    const row = { ...DEFAULT_STRATEGY_ROWS[1]!, id: 12, active: false };
    const stored = compileStrategy(row);
    expect(stored).toMatchObject({ id: 12, active: false });
    expect(stored.pattern).toBe(DEFAULT_STRATEGIES[1]!.pattern);
    const other = compileStrategy({
      ...row,
      deconstruct_strategy: '^account_number:(?P<account_number>.*)$',
      construct_strategy: 'account_number:{account_number}',
    });
    expect(Object.getOwnPropertyDescriptor(other.pattern, 'regex')?.get).toBeUndefined();
    expect(() => compileStrategy({ ...row, deconstruct_strategy: '^(?P<x>' })).toThrow();
  });
});
