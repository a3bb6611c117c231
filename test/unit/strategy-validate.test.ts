import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { LocalMapper } from '../../src/adapters/sqlite/local-mapper.js';
import { StrategyError, UsageError } from '../../src/core/errors.js';
import { exportStrategies, sqlString, yamlString } from '../../src/core/strategy/export.js';
import { parseSimpleYaml } from '../../src/core/strategy/simple-yaml.js';
import { DEFAULT_STRATEGY_ROWS, type StrategyRow } from '../../src/core/strategy/strategy.js';
import {
  samplesFor,
  strategyRowFromFlags,
  strategyRowsFrom,
  validateStrategy,
  type StrategyReport,
} from '../../src/core/strategy/validate.js';
import { thrownBy } from '../helpers/errors.js';
import { tempDir } from '../helpers/tmp.js';

const fa = (id: number, construct: string, deconstruct: string, extra: Partial<StrategyRow> = {}): StrategyRow => ({
  id,
  strategy_type: 'FA',
  construct_strategy: construct,
  deconstruct_strategy: deconstruct,
  description: null,
  active: true,
  ...extra,
});

const codes = (report: StrategyReport, status?: string) =>
  report.findings.filter((f) => status === undefined || f.status === status).map((f) => f.code);
const finding = (report: StrategyReport, code: string) => report.findings.find((f) => f.code === code);

describe('validateStrategy: SPAR defaults', () => {
  it.each(DEFAULT_STRATEGY_ROWS.map((row) => [row.id, row] as const))('default strategy %i passes, with warnings only', (_id, row) => {
    const report = validateStrategy(row);
    expect(report.errors).toBe(0);
    expect(report.ok).toBe(true);
    expect(codes(report)).toContain('strategy.default');
    // The greedy labels are a known weakness: reported, not hidden.
    expect(report.warnings).toBeGreaterThan(0);
    expect(validateStrategy(row, { strict: true }).ok).toBe(false);
  });

  it('reports which values move the split of strategy 2, and how they read back', () => {
    const report = validateStrategy(DEFAULT_STRATEGY_ROWS[1]!);
    const branch = report.findings.find((f) => f.code === 'strategy.round_trip_template_text' && f.field === 'branch_name')!;
    expect(branch.status).toBe('warning');
    expect(branch.message).toContain(
      'branch_name "x.branch_name:y" would be read back as "y" (account_number as "0012345678.branch_name:x" instead of "0012345678")',
    );
    expect(branch.failures!.map((f) => f.value)).toContain('.branch_name:');
    // A value holding the *following* label reads back fine with greedy groups.
    const all = report.findings.flatMap((f) => f.failures ?? []);
    expect(all.some((f) => f.field === 'account_number' && f.value.includes('.branch_name:'))).toBe(false);
    // Line breaks (refused on input) are summed up in one warning.
    const refused = report.findings.filter((f) => f.code === 'strategy.round_trip_refused_input');
    expect(refused).toHaveLength(1);
    expect(refused[0]!.message).toContain('a line break');
    // Ordinary values (dots, colons, empty, unicode…) all read back.
    expect(all.filter((f) => f.kind === 'ordinary')).toEqual([]);
  });

  it("treats strategy 5's groups without a field as constants", () => {
    const report = validateStrategy(DEFAULT_STRATEGY_ROWS[4]!);
    const constants = report.findings.filter((f) => f.code === 'strategy.group_constant');
    expect(constants.map((f) => [f.field, f.status])).toEqual([
      ['mobile_number', 'note'],
      ['email_address', 'note'],
      ['fa_type', 'note'],
    ]);
    expect(finding(report, 'strategy.fields_not_stored')?.message).toContain('bank_name, branch_name');
  });

  it('only warns about an ID strategy whose regex refuses dots: SPAR never reads IDs back', () => {
    const report = validateStrategy(DEFAULT_STRATEGY_ROWS[0]!);
    const dot = report.findings.find((f) => f.field === 'sub' && f.message.includes('"12.34"'))!;
    expect(dot.status).toBe('warning');
    expect(dot.code).toBe('strategy.round_trip_ordinary');
  });
});

describe('validateStrategy: custom strategies', () => {
  it('passes a good custom strategy without a single failure', () => {
    // fa_type can only be BANK, MOBILE_WALLET or EMAIL_WALLET, so [A-Z_]+ cannot be fooled, and
    // (?s) … \Z lets the last field hold anything, line breaks included.
    const report = validateStrategy(fa(7, '{fa_type}:{account_number}', '(?s)^(?P<fa_type>[A-Z_]+):(?P<account_number>.*)\\Z'));
    expect(report).toMatchObject({ ok: true, errors: 0, warnings: 0, fields: ['fa_type', 'account_number'], faKinds: ['BANK'] });
    expect(codes(report, 'ok')).toEqual(
      expect.arrayContaining([
        'strategy.construct_ok',
        'strategy.deconstruct_ok',
        'strategy.backtracking_ok',
        'strategy.groups_ok',
        'strategy.fa_fields_ok',
        'strategy.round_trip_ok',
      ]),
    );
    expect(
      validateStrategy(fa(7, '{fa_type}:{account_number}', '(?s)^(?P<fa_type>[A-Z_]+):(?P<account_number>.*)\\Z'), { strict: true }).ok,
    ).toBe(true);
  });

  it('passes a labelled strategy whose separator ordinary data does not contain, with warnings', () => {
    const report = validateStrategy(
      fa(8, 'bank:{bank_code}|account:{account_number}', '^bank:(?P<bank_code>[^|]*)\\|account:(?P<account_number>.*)$'),
    );
    expect(report.ok).toBe(true);
    expect(report.errors).toBe(0);
    expect(codes(report, 'warning')).toContain('strategy.round_trip_template_text');
  });

  it('fails a strategy whose round trip breaks on ordinary values, naming the value and what it reads back as', () => {
    const report = validateStrategy(fa(9, '{bank_code}-{account_number}', '^(?P<bank_code>.*)-(?P<account_number>.*)$'));
    expect(report.ok).toBe(false);
    const hyphens = report.findings.find((f) => f.status === 'error' && f.field === 'account_number' && f.message.includes('hyphens'))!;
    expect(hyphens.code).toBe('strategy.round_trip_ordinary');
    expect(hyphens.message).toBe(
      'account_number: values with hyphens do not read back: account_number "12-34-56" would be read back as "56" (bank_code as "EXB-12-34" instead of "EXB")',
    );
    expect(hyphens.failures![0]).toMatchObject({ built: 'EXB-12-34-56', readBack: { bank_code: 'EXB-12-34', account_number: '56' } });
  });

  it('flags a construct field without a group, and a group that reads neither a field nor a constant', () => {
    const report = validateStrategy(fa(10, '{bank_code}-{account_number}', '^(?P<bnk>[^-]*)-(?P<account_number>.*)$'));
    expect(report.ok).toBe(false);
    expect(finding(report, 'strategy.group_missing')).toMatchObject({ status: 'error', field: 'bank_code' });
    expect(finding(report, 'strategy.group_missing')!.message).toContain('{bank_code} has no (?P<bank_code>…) group');
    expect(finding(report, 'strategy.group_unmatched')).toMatchObject({ status: 'error', field: 'bnk' });
    expect(finding(report, 'strategy.unknown_fa_group')).toMatchObject({ status: 'warning', field: 'bnk' });
  });

  it('flags catastrophic backtracking and does not run the round trip', () => {
    const nested = validateStrategy(fa(11, '{account_number}', '^(?P<account_number>(?:a+)+)$'));
    expect(finding(nested, 'strategy.catastrophic_backtracking')?.status).toBe('error');
    expect(finding(nested, 'strategy.catastrophic_backtracking')!.message).toContain('nested quantifiers backtrack exponentially');
    // What a profile that declares it does with it, now that the profile is no longer refused whole.
    expect(finding(nested, 'strategy.catastrophic_backtracking')!.message).toMatch(
      /^deconstruct regex can take exponential time on a near-miss FA, which could hang the resolve that reads it back \(a remote profile that declares it refuses link and update with it\): /,
    );
    expect(nested.roundTrip.run).toBe(false);
    expect(codes(nested)).toContain('strategy.round_trip_skipped');

    // A bounded outer quantifier backtracks nearly as badly (a 27-digit near-miss took 6.3 s).
    const bounded = validateStrategy(fa(13, 'acct:{account_number}', '^acct:(?P<account_number>(?:[0-9]+-?){1,40})$'));
    expect(finding(bounded, 'strategy.catastrophic_backtracking')?.status).toBe('error');
    expect(bounded.roundTrip.run).toBe(false);

    // The textbook (a+)+ also cannot be translated (a capture inside a repeat), and has no group.
    const textbook = validateStrategy(fa(12, '{account_number}', '(a+)+'));
    expect(codes(textbook, 'error')).toEqual(
      expect.arrayContaining(['strategy.regex_untranslatable', 'strategy.catastrophic_backtracking']),
    );
  });

  it('a repeat whose iterations start with a required separator is safe, and its round trip runs', () => {
    for (const deconstruct of [
      '^acct:(?P<account_number>[a-z]+(?:-[a-z]+)*)$',
      '^acct:(?P<account_number>[a-z]{2,10}(?:-[a-z]{2,10}){0,5})$',
    ]) {
      const report = validateStrategy(fa(14, 'acct:{account_number}', deconstruct));
      expect(finding(report, 'strategy.catastrophic_backtracking'), deconstruct).toBeUndefined();
      expect(finding(report, 'strategy.backtracking_ok')?.status, deconstruct).toBe('ok');
      expect(report.roundTrip.run, deconstruct).toBe(true);
    }
  });

  it('refuses what Python would reject or sparctl cannot reproduce', () => {
    expect(codes(validateStrategy(fa(13, '{account_number:>10}', '^(?P<account_number>.*)$')), 'error')).toContain(
      'strategy.format_unsupported',
    );
    expect(codes(validateStrategy(fa(13, '{account_number', '^(?P<account_number>.*)$')), 'error')).toContain('strategy.format_invalid');
    expect(codes(validateStrategy(fa(13, '{account_number}', '^(?<account_number>.*)$')), 'error')).toContain('strategy.regex_invalid');
    expect(codes(validateStrategy(fa(13, 'constant', '^constant$')), 'error')).toContain('strategy.no_fields');
  });

  it('checks FA field names: unknown ones (with a suggestion) and kinds mixed up', () => {
    const typo = validateStrategy(fa(14, '{acount_number}', '^(?P<acount_number>.*)$'));
    expect(finding(typo, 'strategy.unknown_fa_field')!.message).toContain('did you mean {account_number}?');
    const mixed = validateStrategy(fa(15, '{bank_code}|{mobile_number}', '^(?P<bank_code>[^|]*)\\|(?P<mobile_number>.*)$'));
    expect(finding(mixed, 'strategy.mixed_fa_kinds')?.status).toBe('error');
    // An ID strategy may use any field name.
    expect(validateStrategy({ ...fa(16, 'id:{national_id}', '^id:(?P<national_id>.*)$'), strategy_type: 'ID' }).errors).toBe(0);
  });

  it('refuses a different strategy under a default id, and warns about ids Helm would print as 1e+06', () => {
    const clash = validateStrategy(fa(2, 'x:{account_number}', '^x:(?P<account_number>.*)$'));
    expect(finding(clash, 'strategy.default_id')).toMatchObject({ status: 'error' });
    expect(finding(clash, 'strategy.default_id')!.message).toContain('construct_strategy, deconstruct_strategy, description');
    const big = validateStrategy(fa(1_000_000, 'x:{account_number}', '^x:(?P<account_number>.*)$'));
    expect(finding(big, 'strategy.helm_id')?.status).toBe('warning');
  });
});

describe('samplesFor', () => {
  it('derives adversarial values from the template labels, next to dots, colons, empty and unicode values', () => {
    const row = DEFAULT_STRATEGY_ROWS[1]!;
    const samples = samplesFor('branch_name', row, ['account_number:', '.branch_name:', '.branch_code:'], 'Main');
    const values = samples.map((s) => s.value);
    expect(values[0]).toBe('Main');
    expect(values).toEqual(
      expect.arrayContaining(['x.branch_code:y', '.branch_code:', 'x.branch_name:y', '12.34', 'a:b', '', 'Bänk Ünïcødé', '🏦💳', 'a\nb']),
    );
    expect(samples.find((s) => s.value === '')!.kind).toBe('refused-input');
    expect(samples.find((s) => s.value === 'x.branch_code:y')).toMatchObject({
      kind: 'template-text',
      about: 'the template text ".branch_code:"',
    });
    // fa_type can only be one of SPAR's three kinds.
    expect(samplesFor('fa_type', row, ['x'], 'BANK').map((s) => s.value)).toEqual(['BANK', 'MOBILE_WALLET', 'EMAIL_WALLET']);
    // What sparctl refuses for a mobile number is classed so.
    expect(samplesFor('mobile_number', DEFAULT_STRATEGY_ROWS[3]!, [], '639171234567').find((s) => s.value === '12.34')!.kind).toBe(
      'refused-input',
    );
  });
});

describe('strategy definitions', () => {
  it('reads one row, a list, and the Helm seedData shape', () => {
    const row = { id: 7, strategy_type: 'FA', construct_strategy: '{account_number}', deconstruct_strategy: '^(?P<account_number>.*)$' };
    expect(strategyRowsFrom(row, 'f.json')).toEqual([{ ...row, description: null, active: true }]);
    expect(
      strategyRowsFrom([row, { ...row, id: 8, description: 'd', active: false }], 'f.json').map((r) => [r.id, r.description, r.active]),
    ).toEqual([
      [7, null, true],
      [8, 'd', false],
    ]);
    expect(strategyRowsFrom({ seedData: { enabled: true, strategies: [row] } }, 'v.yaml')).toHaveLength(1);
  });

  it('reports every problem at once, with its path', () => {
    const error = thrownBy(UsageError, () =>
      strategyRowsFrom(
        [
          { id: 0, strategy_type: 'fa', construct: 'x' },
          { id: 7, strategy_type: 'FA', construct_strategy: '', deconstruct_strategy: 1 },
        ],
        'bad.json',
      ),
    );
    expect(error.code).toBe('strategy.invalid');
    expect(error.message).toContain('bad.json: [0].construct: unknown field (did you mean "construct_strategy"?)');
    expect(error.message).toContain('bad.json: [0].id: 0 is not a strategy id');
    expect(error.message).toContain('bad.json: [0].strategy_type: "fa" must be "FA" or "ID"');
    expect(error.message).toContain('bad.json: [1].construct_strategy: is empty');
    expect(error.message).toContain('bad.json: [1].deconstruct_strategy: must be a string');
    const twice = thrownBy(UsageError, () =>
      strategyRowsFrom(
        [
          { id: 7, strategy_type: 'FA', construct_strategy: 'a', deconstruct_strategy: 'a' },
          { id: 7, strategy_type: 'FA', construct_strategy: 'b', deconstruct_strategy: 'b' },
        ],
        'f',
      ),
    );
    expect(twice.message).toContain('[1].id: 7 appears more than once');
  });

  it('names the flags in messages about a strategy given by flags', () => {
    const error = thrownBy(UsageError, () => strategyRowFromFlags({ id: 'seven', type: 'FA', construct: '{a}' }));
    expect(error.message).toContain('--id: "seven" is not a strategy id');
    expect(error.message).toContain('--deconstruct: missing');
  });
});

describe('simple YAML', () => {
  it('reads the chart values shape, comments and quoting included', () => {
    const text = [
      '# Seeds shared SPAR reference data',
      'global:',
      '  sparDB: \'{{ printf "%s" .Release.Name }}\'',
      'seedData:',
      '  enabled: true',
      '  strategies:',
      '    - id: 1',
      '      description: Key Cloak   # a comment',
      '      strategy_type: ID',
      "      construct_strategy: 'token:{sub}@nationalId'",
      "      deconstruct_strategy: '^token:(?P<sub>.[^.]*)@nationalId$'",
      '    - id: 9',
      '      description: "tab\\there, quote \\" and \\\\"',
      '      strategy_type: FA',
      "      construct_strategy: 'it''s {account_number} # kept'",
      "      deconstruct_strategy: '^it''s (?P<account_number>.*) # kept$'",
      'imagePullSecrets: []',
    ].join('\n');
    const rows = strategyRowsFrom(parseSimpleYaml(text, 'values.yaml'), 'values.yaml');
    expect(rows[0]).toEqual(DEFAULT_STRATEGY_ROWS[0]);
    expect(rows[1]).toMatchObject({ id: 9, description: 'tab\there, quote " and \\', construct_strategy: "it's {account_number} # kept" });
  });

  it('refuses what it does not read exactly, naming the line', () => {
    const error = thrownBy(UsageError, () => parseSimpleYaml('strategies:\n  - construct_strategy: {a}-{b}\n', 's.yaml'));
    expect(error.message).toBe('s.yaml: line 2: flow collections are not supported; quote the value');
    expect(thrownBy(UsageError, () => parseSimpleYaml('a: |\n  text\n', 's.yaml')).message).toContain('line 1: block scalars');
  });
});

describe('exportStrategies', () => {
  const tricky = fa(42, "it's:{account_number}", "^it's:(?P<account_number>.*)\\\\x$", { description: "O'Brien \\ bank", active: false });

  it('writes idempotent SQL with PostgreSQL quoting of quotes and backslashes', () => {
    const sql = exportStrategies([tricky, DEFAULT_STRATEGY_ROWS[0]!], 'sql');
    expect(sql.indexOf('VALUES (1,')).toBeLessThan(sql.indexOf('VALUES (42,'));
    expect(sql).toContain(
      "VALUES (42, E'O''Brien \\\\ bank', 'FA', 'it''s:{account_number}', E'^it''s:(?P<account_number>.*)\\\\\\\\x$', false, now(), now())\nON CONFLICT (id) DO NOTHING;",
    );
    expect(sql.match(/ON CONFLICT \(id\) DO NOTHING;/g)).toHaveLength(2);
    expect(sql).toMatch(/^BEGIN;$/m);
    expect(sql).toMatch(/COMMIT;\n$/);
    expect(sqlString('plain')).toBe("'plain'");
    expect(sqlString("a'b")).toBe("'a''b'");
    expect(sqlString('a\\.b')).toBe("E'a\\\\.b'");
    expect(sqlString('line\nbreak')).toBe("E'line\\nbreak'");
    expect(exportStrategies([fa(43, '{a}', '(?P<a>.*)')], 'sql')).toContain('VALUES (43, NULL,');
  });

  it('writes SQL that stops, before COMMIT, when an id it inserts holds another definition; its quote tag is never in a strategy text', () => {
    const sql = exportStrategies([fa(7, 'acct:{account_number}', '^acct:(?P<account_number>.*)$'), DEFAULT_STRATEGY_ROWS[1]!], 'sql');
    const check = sql.slice(sql.indexOf('DO $check$'), sql.indexOf('$check$;') + '$check$;'.length);
    // Every id inserted is compared on type, template and regex, with the texts quoted as in the INSERTs.
    expect(check).toContain("(2, 'FA', 'account_number:{account_number}.branch_name:");
    expect(check).toContain("(7, 'FA', 'acct:{account_number}', '^acct:(?P<account_number>.*)$')");
    expect(check).toContain('IS DISTINCT FROM (e.strategy_type, e.construct_strategy, e.deconstruct_strategy)');
    expect(check).toMatch(/RAISE EXCEPTION 'strategy id\(s\) % already hold another definition/);
    expect(sql.indexOf('ON CONFLICT (id) DO NOTHING;')).toBeLessThan(sql.indexOf('DO $check$'));
    expect(sql.indexOf('$check$;')).toBeLessThan(sql.indexOf('COMMIT;'));
    // A text holding the tag gets another one, which no text holds.
    const tagged = exportStrategies([fa(8, 'x $check$ $check1$ {a}', '^x \\$check\\$ (?P<a>.*)$')], 'sql');
    expect(tagged).toMatch(/^DO \$check2\$$/m);
    expect(tagged).toMatch(/^\$check2\$;$/m);
    expect(tagged.split('$check2$')).toHaveLength(3);
  });

  it('writes the Helm seedData.strategies snippet with the chart field names, reading back exactly', () => {
    const yaml = exportStrategies([tricky, ...DEFAULT_STRATEGY_ROWS], 'helm');
    expect(yaml).toContain(
      [
        'seedData:',
        '  strategies:',
        '    - id: 1',
        "      description: 'Key Cloak'",
        '      strategy_type: ID',
        "      construct_strategy: 'token:{sub}@nationalId'",
        "      deconstruct_strategy: '^token:(?P<sub>.[^.]*)@nationalId$'",
        '    - id: 2',
      ].join('\n'),
    );
    expect(yaml).toContain("    - id: 42\n      description: 'O''Brien \\ bank'\n      strategy_type: FA\n");
    expect(yaml).toContain('      active: false\n');
    const back = strategyRowsFrom(parseSimpleYaml(yaml, 'h.yaml'), 'h.yaml');
    expect(back.map((r) => r.id)).toEqual([1, 2, 3, 4, 5, 42]);
    expect(back[5]).toEqual(tricky);
    expect(yamlString('tab\there')).toBe('"tab\\there"');
    expect(exportStrategies([tricky, ...DEFAULT_STRATEGY_ROWS], 'helm')).toBe(yaml);
  });

  it('writes a JSON list sorted by id that reads back', () => {
    const json = exportStrategies([tricky, DEFAULT_STRATEGY_ROWS[1]!], 'json');
    expect(strategyRowsFrom(JSON.parse(json), 'x')).toEqual([DEFAULT_STRATEGY_ROWS[1], tricky].map((r) => ({ ...r })));
  });
});

describe('LocalMapper.addStrategies', () => {
  it('is append-only: new ids are added, identical ones are a no-op, different ones are refused', async () => {
    const mapper = LocalMapper.open(join(tempDir(), 'mapper.db'));
    try {
      const row = fa(7, 'bank:{bank_code}|account:{account_number}', '^bank:(?P<bank_code>[^|]*)\\|account:(?P<account_number>.*)$');
      expect(mapper.addStrategies([row])).toEqual([{ id: 7, outcome: 'added' }]);
      expect(mapper.addStrategies([{ ...row, description: '' }, DEFAULT_STRATEGY_ROWS[1]!])).toEqual([
        { id: 7, outcome: 'unchanged' },
        { id: 2, outcome: 'unchanged' },
      ]);
      const error = thrownBy(StrategyError, () =>
        mapper.addStrategies([
          fa(8, '{account_number}', '^(?P<account_number>.*)$'),
          { ...row, construct_strategy: 'b:{bank_code}|account:{account_number}' },
        ]),
      );
      expect(error.code).toBe('strategy.id_taken');
      expect(error.message).toContain('strategy 7 already exists with a different construct_strategy');
      expect(error.hint).toContain('--id 9'); // past 8, which the same request adds
      // All or nothing: 8 was not added either.
      expect((await mapper.strategies()).map((s) => s.id)).toEqual([1, 2, 3, 4, 5, 7]);
    } finally {
      await mapper.close();
    }
  });
});

describe('validateStrategy: nothing to read back', () => {
  it('does not claim a round trip when no field has a group', () => {
    const report = validateStrategy(fa(30, 'a:{account_number}', '^a:(?P<bank_code>.*)$'));
    expect(report.ok).toBe(false);
    expect(codes(report)).not.toContain('strategy.round_trip_ok');
    expect(codes(report)).toContain('strategy.round_trip_skipped');
  });
});

describe('a file named as a strategies file by mistake', () => {
  it('has its refused values described, not quoted, unless they are short words', () => {
    const error = thrownBy(UsageError, () =>
      strategyRowsFrom({ client_secret: 'x', id: 'sk_live_51HcVbQ2eZvKYlo2C', strategy_type: { a: 1 } }, 'secrets.json'),
    );
    expect(error.message).toContain('id: a string of 25 characters is not a strategy id');
    expect(error.message).toContain('strategy_type: an object must be "FA" or "ID"');
    expect(error.message).not.toContain('sk_live');
  });
});
