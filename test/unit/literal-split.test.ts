import { describe, expect, it } from 'vitest';
import type { FinancialAddress } from '../../src/core/model.js';
import { buildReadingBack, literalSplitOf, readsBackAlone, singleFieldSplitOf } from '../../src/core/strategy/literal-split.js';
import { parseFormatTemplate } from '../../src/core/strategy/python-format.js';
import {
  buildCheckedFa,
  buildCheckedFaWithRegex,
  compileStrategy,
  DEFAULT_STRATEGIES,
  type Strategy,
} from '../../src/core/strategy/strategy.js';
import { random } from '../helpers/record-corpus.js';

const byId = (id: number) => DEFAULT_STRATEGIES.find((s) => s.id === id)!;
const custom = (id: number, construct: string, deconstruct: string): Strategy =>
  compileStrategy({
    id,
    strategy_type: 'FA',
    construct_strategy: construct,
    deconstruct_strategy: deconstruct,
    description: null,
    active: true,
  });

// Strategies the fast read-back must agree with the regex on: SPAR's, and shapes of its kind
// that stress the edges (a field first or last, escaped punctuation, one-character labels).
const STRATEGIES: readonly Strategy[] = [
  byId(2),
  byId(3),
  byId(4),
  byId(5),
  custom(100, '{account_number}-{bank_code}', '^(?P<account_number>.*)\\-(?P<bank_code>.*)$'),
  custom(101, 'acct={account_number};bank={bank_code};', '^acct=(?P<account_number>.*);bank=(?P<bank_code>.*);$'),
  custom(102, '{bank_code}.{branch_code}.{account_number}', '^(?P<bank_code>.*)\\.(?P<branch_code>.*)\\.(?P<account_number>.*)$'),
  custom(103, 'x{account_number}xx{bank_code}x', '^x(?P<account_number>.*)xx(?P<bank_code>.*)x$'),
];

describe('literalSplitOf', () => {
  it("recognises SPAR's bank, e-mail and phone strategies", () => {
    for (const id of [2, 3, 4]) {
      const strategy = byId(id);
      const split = literalSplitOf(strategy.template, strategy.pattern.pythonPattern);
      expect(split?.fields).toEqual(strategy.template.fields);
    }
  });

  it('leaves every other shape to the regex', () => {
    const none = (construct: string, pattern: string) => literalSplitOf(parseFormatTemplate(construct), pattern);
    expect(literalSplitOf(byId(1).template, byId(1).pattern.pythonPattern)).toBeNull(); // `.[^.]*`
    expect(literalSplitOf(byId(5).template, byId(5).pattern.pythonPattern)).toBeNull(); // groups the template does not write
    expect(none('a:{a}.b:{b}', '^a:(?P<a>.*)\\.b:(?P<b>.*)')).toBeNull(); // not anchored at the end
    expect(none('a:{a}.b:{b}', 'a:(?P<a>.*)\\.b:(?P<b>.*)$')).toBeNull(); // nor at the start
    expect(none('a:{a}.b:{b}', '^a:(?P<a>.*?)\\.b:(?P<b>.*)$')).toBeNull(); // lazy
    expect(none('a:{a}.b:{b}', '^a:(?P<a>.+)\\.b:(?P<b>.*)$')).toBeNull();
    expect(none('a:{a}.b:{b}', '^a:(?P<a>.*).b:(?P<b>.*)$')).toBeNull(); // an unescaped dot is any character
    expect(none('a:{a}.b:{b}', '^(?i)a:(?P<a>.*)\\.b:(?P<b>.*)$')).toBeNull();
    expect(none('a:{a}.b:{b}', '^a:(?P<b>.*)\\.b:(?P<a>.*)$')).toBeNull(); // groups in another order
    expect(none('a:{a}.c:{b}', '^a:(?P<a>.*)\\.b:(?P<b>.*)$')).toBeNull(); // other labels
    expect(none('{a}{b}', '^(?P<a>.*)(?P<b>.*)$')).toBeNull(); // no label between fields
    expect(none('{a}.{a}', '^(?P<a>.*)\\.(?P<a2>.*)$')).toBeNull();
    expect(none('a\\d{a}', '^a\\d(?P<a>.*)$')).toBeNull();
  });
});

describe('buildReadingBack', () => {
  const bank = byId(2);
  const split = literalSplitOf(bank.template, bank.pattern.pythonPattern)!;
  const fa = {
    strategy_id: 2,
    fa_type: 'BANK',
    bank_name: 'Land Bank',
    bank_code: 'LBP',
    branch_name: 'Main',
    branch_code: '0012',
    account_number: '000123',
  };

  it('builds the stored string when the values read back', () => {
    expect(buildReadingBack(split, fa)).toBe(
      'account_number:000123.branch_name:Main.branch_code:0012.bank_name:Land Bank.bank_code:LBP.fa_type:BANK',
    );
  });

  it('refuses a value holding its own label, which moves the split, and a line break', () => {
    // "…branch_name:Main.branch_name:X…": the account number would read back as "000123.branch_name:Main".
    expect(buildReadingBack(split, { ...fa, branch_name: 'Main.branch_name:X' })).toBeUndefined();
    expect(buildReadingBack(split, { ...fa, bank_code: 'LBP.bank_code:Y' })).toBeUndefined();
    expect(buildReadingBack(split, { ...fa, bank_name: 'Land\nBank' })).toBeUndefined();
  });

  it('accepts a label that a greedy split still places right', () => {
    // The next label in the account number, or a later label in the branch name, is passed over.
    for (const odd of [{ account_number: '1.branch_name:2' }, { branch_name: 'Main.bank_code:X' }]) {
      const built = buildReadingBack(split, { ...fa, ...odd });
      expect(built).toBeDefined();
      expect(buildCheckedFaWithRegex(bank, { ...fa, ...odd } as unknown as FinancialAddress)).toEqual({ ok: true, value: built });
    }
  });
});

describe('the fast read-back and the regex agree', () => {
  it.each(STRATEGIES.map((s) => [s.id, s] as const))(
    'strategy %i, 3,000 generated FAs of labels, label pieces and separators',
    (_id, strategy) => {
      // Every one but strategy 5 takes the fast way when its values allow.
      expect(literalSplitOf(strategy.template, strategy.pattern.pythonPattern) === null).toBe(strategy.id === 5);
      const next = random(strategy.id);
      const labels = strategy.template.parts.flatMap((part) => ('literal' in part ? [part.literal] : []));
      const pieces = [
        'a',
        'Z',
        '0',
        '.',
        ':',
        ';',
        '-',
        '=',
        'x',
        'é',
        '\n',
        '',
        ...labels,
        ...labels.map((label) => label.slice(0, Math.max(1, label.length - 1))),
        ...labels.map((label) => label.slice(1)),
      ];
      const value = () => {
        let text = '';
        const n = Math.floor(next() * 4);
        for (let i = 0; i < n; i++) text += pieces[Math.floor(next() * pieces.length)];
        return text;
      };
      let fast = 0;
      for (let i = 0; i < 3_000; i++) {
        const fa: Record<string, unknown> = { strategy_id: strategy.id, fa_type: 'BANK' };
        for (const field of strategy.template.fields) if (field !== 'fa_type') fa[field] = value();
        const expected = buildCheckedFaWithRegex(strategy, fa as unknown as FinancialAddress);
        expect(buildCheckedFa(strategy, { ...fa } as unknown as FinancialAddress)).toEqual(expected);
        if (expected.ok) fast++;
      }
      // Both outcomes occur, so the comparison covers values that read back and values that do not.
      expect(fast).toBeGreaterThan(100);
      expect(fast).toBeLessThan(3_000);
    },
  );
});

describe('a deconstruct group for a field the template does not write', () => {
  it('refuses an FA whose value for that field would come back changed; takes one without it, or with the value read', () => {
    // The template writes EXB as text; the regex reads it as the bank code.
    const strategy = custom(11, 'A:{account_number}:EXB', '^A:(?P<account_number>.*):(?P<bank_code>EXB)$');
    const fa = (bank_code?: string) =>
      ({
        strategy_id: 11,
        fa_type: 'BANK',
        account_number: '0012345678',
        ...(bank_code === undefined ? {} : { bank_code }),
      }) as unknown as FinancialAddress;
    expect(buildCheckedFa(strategy, fa('OTB'))).toEqual({
      ok: false,
      problem:
        'bank_code "OTB" would be read back as "EXB" by strategy 11: its deconstruct pattern reads bank_code, which its template does not write',
    });
    expect(buildCheckedFa(strategy, fa('EXB'))).toEqual({ ok: true, value: 'A:0012345678:EXB' });
    expect(buildCheckedFa(strategy, fa())).toEqual({ ok: true, value: 'A:0012345678:EXB' });
    // An optional group that reads nothing, or the separator: "EXB" would come back "".
    const optional = custom(12, 'A:{account_number}', '^A:(?P<account_number>[^;]*)(?P<bank_code>;?)$');
    expect(buildCheckedFa(optional, fa('EXB'))).toMatchObject({
      ok: false,
      problem: expect.stringMatching(/^bank_code "EXB" would be read back as ""/),
    });
    // SPAR's strategy 5 writes the constant fa_type BANK_ACCOUNT for a BANK FA, by design: taken.
    expect(buildCheckedFa(byId(5), { ...fa('LBP'), strategy_id: 5, branch_code: '0012' } as unknown as FinancialAddress).ok).toBe(true);
  });
});

describe('ID strategies: singleFieldSplitOf and readsBackAlone', () => {
  const id = (idNumber: number, construct: string, deconstruct: string): Strategy =>
    compileStrategy({
      id: idNumber,
      strategy_type: 'ID',
      construct_strategy: construct,
      deconstruct_strategy: deconstruct,
      description: null,
      active: true,
    });
  const ID_STRATEGIES: readonly Strategy[] = [
    byId(1),
    id(200, 'id:{x}', '^id:(?P<x>.*)$'),
    id(201, '{x}@registry', '^(?P<x>.[^@]*)@registry$'),
    id(202, 'pfx-{x}-sfx', '^pfx\\-(?P<x>.[^\\-]*)\\-sfx$'),
  ];

  it("recognises SPAR's strategy 1 and shapes of its kind, and nothing else", () => {
    expect(singleFieldSplitOf(byId(1).template, byId(1).pattern.pythonPattern)).toEqual({
      prefix: 'token:',
      suffix: '@nationalId',
      stop: '.',
    });
    for (const strategy of ID_STRATEGIES) expect(singleFieldSplitOf(strategy.template, strategy.pattern.pythonPattern)).not.toBeNull();
    const none = (construct: string, pattern: string) => singleFieldSplitOf(parseFormatTemplate(construct), pattern);
    expect(none('t:{x}', '^t:(?P<x>.+)$')).toBeNull();
    expect(none('t:{x}', '^t:(?P<x>[^.]*)$')).toBeNull();
    expect(none('t:{x}', '^t:(?P<x>.[^.]+)$')).toBeNull();
    expect(none('t:{x}', '^t:(?P<x>.[^ab]*)$')).toBeNull();
    expect(none('t:{x}', '^t:(?P<x>.[^\\d]*)$')).toBeNull();
    expect(none('t:{x}', '^t:(?P<x>.[^-]*)$')).toBeNull(); // a bare - in a class is left to the regex
    expect(none('t:{x}', '^t:(?P<y>.*)$')).toBeNull();
    expect(none('t:{x}', '^u:(?P<x>.*)$')).toBeNull();
    expect(none('t:{x}', 't:(?P<x>.*)$')).toBeNull();
    expect(none('{x}{x}', '^(?P<x>.*)$')).toBeNull();
    expect(none('t:{x}', '^t:(?P<x>.*)(?P<z>.*)$')).toBeNull();
  });

  it.each(ID_STRATEGIES.map((s) => [s.id, s] as const))(
    'strategy %i: whenever the shortcut vouches for a value, the regex reads it back (3,000 values)',
    (_id, strategy) => {
      const split = singleFieldSplitOf(strategy.template, strategy.pattern.pythonPattern)!;
      const field = strategy.template.fields[0]!;
      const next = random(strategy.id + 1000);
      const pieces = ['a', '7', '0', '.', '-', '@', ':', '\n', 'é', '', split.prefix, split.suffix, split.suffix.slice(1), ' '];
      let vouched = 0;
      let refused = 0;
      for (let i = 0; i < 3_000; i++) {
        let value = '';
        const n = Math.floor(next() * 5);
        for (let j = 0; j < n; j++) value += pieces[Math.floor(next() * pieces.length)];
        const built = split.prefix + value + split.suffix;
        const match = strategy.pattern.regex.exec(built);
        const readsBack = match !== null && match.groups?.[field] === value;
        if (readsBackAlone(split, value)) {
          vouched++;
          expect({ value, readsBack }).toEqual({ value, readsBack: true });
        } else if (!readsBack) refused++;
      }
      expect(vouched).toBeGreaterThan(300);
      if (split.stop !== undefined) expect(refused).toBeGreaterThan(100);
    },
  );
});
