/**
 * `sparctl strategy list | validate | add | export` through the built binary, each run with a
 * temp HOME (so a temp local mapper in the XDG data dir).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cliEnv, withoutTarget } from '../helpers/run-cli.js';
import { runMain } from '../helpers/run-main.js';
import { tempDir } from '../helpers/tmp.js';

const V7 = [
  '--id',
  '7',
  '--type',
  'FA',
  '--description',
  'Bank code and account',
  '--construct',
  'bank:{bank_code}|account:{account_number}',
  '--deconstruct',
  '^bank:(?P<bank_code>[^|]*)\\|account:(?P<account_number>.*)$',
];

const jsonOf = <T>(text: string) => JSON.parse(text) as T;
type Listed = {
  strategies: {
    id: number;
    strategy_type: string;
    construct_strategy: string;
    deconstruct_strategy: string;
    description: string | null;
    active: boolean;
  }[];
};

describe('sparctl strategy (built binary)', () => {
  it('adds a strategy that list then shows, which link and resolve use; the same id again is a no-op', async () => {
    const { env } = cliEnv();
    const add = await runMain(['strategy', 'add', ...V7, '-o', 'table'], { env });
    expect(add.code).toBe(0);
    expect(add.stdout).toBe('added strategy 7 (FA, "Bank code and account")\n');
    expect(add.stderr).toContain('warning: strategy 7: bank_code: values with the template text "|account:" do not read back');
    expect(add.stderr).toContain('strategy add: 1 added, 0 unchanged');

    const list = await runMain(['strategy', 'list', '-o', 'json'], { env });
    expect(list.code).toBe(0);
    const listed = jsonOf<Listed>(list.stdout).strategies;
    expect(listed.map((s) => s.id)).toEqual([1, 2, 3, 4, 5, 7]);
    expect(listed[5]).toEqual({
      id: 7,
      strategy_type: 'FA',
      construct_strategy: 'bank:{bank_code}|account:{account_number}',
      deconstruct_strategy: '^bank:(?P<bank_code>[^|]*)\\|account:(?P<account_number>.*)$',
      description: 'Bank code and account',
      active: true,
    });
    const table = await runMain(['strategy', 'list', '-o', 'table'], { env });
    expect(table.stdout).toMatch(/^id +type +construct +description$/m);
    expect(table.stdout).toMatch(/^7 +FA +bank:\{bank_code\}\|account:\{account_number\} +Bank code and account$/m);

    const link = await runMain(
      [
        'link',
        '--id',
        'B1',
        '--strategy',
        '7',
        '--fa-type',
        'BANK',
        '--bank-name',
        'Example Bank',
        '--bank-code',
        'EXB',
        '--branch-name',
        'Main',
        '--branch-code',
        '0001',
        '--account-number',
        '00-12',
      ],
      { env },
    );
    expect(link.code).toBe(0);
    expect(link.stdout).toContain('"fa":"bank:EXB|account:00-12"');
    const resolve = await runMain(['resolve', '--id', 'B1', '-o', 'jsonl'], { env });
    expect(jsonOf<{ fa: unknown }>(resolve.stdout).fa).toEqual({ bank_code: 'EXB', account_number: '00-12', strategy_id: 7 });

    const again = await runMain(['strategy', 'add', ...V7, '-q', '-o', 'table'], { env });
    expect(again.code).toBe(0);
    expect(again.stdout).toBe('unchanged strategy 7 (FA, "Bank code and account"): already there, identical\n');
  });

  it('refuses to change an existing id, and says how to add a new version instead', async () => {
    const { env } = cliEnv();
    expect((await runMain(['strategy', 'add', ...V7, '-q'], { env })).code).toBe(0);
    const changed = V7.map((arg) => (arg === 'Bank code and account' ? 'Bank code and account, v2' : arg));
    const refused = await runMain(['strategy', 'add', ...changed, '-q'], { env });
    expect(refused.code).toBe(2);
    expect(refused.stdout).toBe('');
    // Only the description differs: no word of FAs reading back, which it does not change.
    expect(refused.stderr).toContain(
      'sparctl: error [strategy.id_taken]: strategy 7 already exists with a different description; strategies are append-only: a stored one is never changed, its description and active flag neither; nothing was added (give the stored description (see "sparctl strategy list -o json"), or add it under a new id, e.g. --id 8)',
    );
    const otherRegex = V7.map((arg) => (arg.startsWith('^') ? arg.replace('^', '^v2') : arg.includes('{') ? `v2${arg}` : arg));
    const regexRefused = await runMain(['strategy', 'add', ...otherRegex, '-q'], { env });
    expect(regexRefused.code).toBe(2);
    expect(regexRefused.stderr).toContain(
      'strategies are append-only and never changed, because FAs stored with id 7 must keep reading back the same way',
    );
    expect(regexRefused.stderr).toContain(
      'nothing was added (add the new version under a new id, e.g. --id 8, and link new records with that strategy id)',
    );
    // A default id is SPAR's in every deployment: refused by validation already.
    const defaultId = await runMain(
      ['strategy', 'add', '--id', '2', '--construct', 'x:{account_number}', '--deconstruct', '^x:(?P<account_number>.*)$', '-o', 'table'],
      { env },
    );
    expect(defaultId.code).toBe(2);
    expect(defaultId.stderr).toContain('error: strategy 2: id 2 is SPAR\'s default strategy "Bank"');
    const list = jsonOf<Listed>((await runMain(['strategy', 'list', '-o', 'json'], { env })).stdout);
    expect(list.strategies.find((s) => s.id === 7)!.description).toBe('Bank code and account');
  });

  it("validates SPAR's defaults: exit 0 with warnings, exit 2 with --strict", async () => {
    const { env } = cliEnv();
    const all = await runMain(['strategy', 'validate', '-o', 'table'], { env });
    expect(all.code).toBe(0);
    expect(all.stdout).toMatch(/^strategy 1 "Key Cloak" \(ID\): safe, with \d+ warnings$/m);
    expect(all.stdout).toMatch(/^strategy 2 "Bank" \(FA\): safe, with 5 warnings$/m);
    expect(all.stdout).toContain(
      'warning  branch_name: values with the template text ".branch_name:" do not read back: branch_name "x.branch_name:y" would be read back as "y"',
    );
    const strict = await runMain(['strategy', 'validate', '2', '--strict', '-o', 'table'], { env });
    expect(strict.code).toBe(2);
    expect(strict.stdout).toMatch(/^strategy 2 "Bank" \(FA\): NOT SAFE with --strict: 5 warnings$/m);
    expect(withoutTarget(strict.stderr)).toBe('sparctl: error [strategy.unsafe]: strategy 2 is not safe: 5 warnings, with --strict\n');
    const unknown = await runMain(['strategy', 'validate', '42', '-o', 'table'], { env });
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('strategy 42 is not known to this profile (known: 1, 2, 3, 4, 5)');
  });

  it('rejects a bad strategy file with a clear message and exit 2, whether malformed or unsafe', async () => {
    const { env } = cliEnv();
    const dir = tempDir();
    const unsafe = join(dir, 'unsafe.json');
    writeFileSync(
      unsafe,
      JSON.stringify([
        {
          id: 20,
          strategy_type: 'FA',
          construct_strategy: '{bank_code}-{account_number}',
          deconstruct_strategy: '^(?P<bank_code>.*)-(?P<account_number>.*)$',
        },
        {
          id: 21,
          strategy_type: 'FA',
          construct_strategy: '{bank_code}:{account_number}',
          deconstruct_strategy: '^(?P<account_number>(?:\\w+)+)$',
        },
      ]),
    );
    const report = await runMain(['strategy', 'validate', '--file', unsafe, '-o', 'table'], { env });
    expect(report.code).toBe(2);
    expect(report.stdout).toMatch(/^strategy 20 \(FA\): NOT SAFE: \d+ errors?/m);
    expect(report.stdout).toContain(
      'error    account_number: values with hyphens do not read back: account_number "12-34-56" would be read back as "56" (bank_code as "EXB-12-34" instead of "EXB")',
    );
    expect(report.stdout).toContain('error    {bank_code} has no (?P<bank_code>…) group in the deconstruct regex');
    expect(report.stdout).toContain('error    deconstruct regex can take exponential time');
    expect(report.stderr).toMatch(/^sparctl: error \[[a-z0-9_.]+\]: strategy 20, strategy 21 are not safe: \d+ errors/);

    const json = await runMain(['strategy', 'validate', '--file', unsafe, '-o', 'json'], { env });
    const doc = jsonOf<{ ok: boolean; strategies: { ok: boolean; findings: { code: string }[] }[] }>(json.stdout);
    expect(doc.ok).toBe(false);
    expect(doc.strategies[1]!.findings.map((f) => f.code)).toContain('strategy.catastrophic_backtracking');

    const added = await runMain(['strategy', 'add', '--file', unsafe, '-o', 'table'], { env });
    expect(added.code).toBe(2);
    expect(added.stderr).toContain('nothing was added');

    const malformed = join(dir, 'malformed.json');
    writeFileSync(malformed, JSON.stringify({ id: 'seven', strategy_type: 'FA', construct: '{a}', deconstruct_strategy: '(?P<a>.*)' }));
    const bad = await runMain(['strategy', 'validate', '--file', malformed, '-o', 'table'], { env });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/^sparctl: error \[[a-z_.]+\]: /m);
    expect(bad.stderr).toContain(`]: ${malformed}: construct: unknown field (did you mean "construct_strategy"?)`);
    expect(bad.stderr).toContain(`${malformed}: id: "seven" is not a strategy id`);

    const broken = join(dir, 'broken.json');
    writeFileSync(broken, '{"id": 7,');
    const syntax = await runMain(['strategy', 'validate', '--file', broken, '-o', 'table'], { env });
    expect(syntax.code).toBe(2);
    expect(syntax.stderr).toContain(`${broken}: not valid JSON`);

    const flags = await runMain(['strategy', 'validate', '--id', '7', '--construct', '{account_number', '-o', 'table'], { env });
    expect(flags.code).toBe(2);
    expect(flags.stderr).toContain('--deconstruct: missing');
  });

  it('exports helm, sql and json deterministically; json and helm read back with --file', async () => {
    const { env } = cliEnv();
    await runMain(['strategy', 'add', ...V7, '-q'], { env });
    const helm = await runMain(['strategy', 'export', '--format', 'helm'], { env });
    expect(helm.code).toBe(0);
    expect(helm.stdout).toContain("seedData:\n  strategies:\n    - id: 1\n      description: 'Key Cloak'\n      strategy_type: ID\n");
    expect(helm.stdout).toContain(
      "    - id: 7\n      description: 'Bank code and account'\n      strategy_type: FA\n      construct_strategy: 'bank:{bank_code}|account:{account_number}'\n      deconstruct_strategy: '^bank:(?P<bank_code>[^|]*)\\|account:(?P<account_number>.*)$'\n",
    );
    expect((await runMain(['strategy', 'export', '--format', 'helm'], { env })).stdout).toBe(helm.stdout);

    const sql = await runMain(['strategy', 'export', '--format', 'sql', '7'], { env });
    expect(sql.code).toBe(0);
    expect(sql.stdout).toContain(
      "VALUES (7, 'Bank code and account', 'FA', 'bank:{bank_code}|account:{account_number}', E'^bank:(?P<bank_code>[^|]*)\\\\|account:(?P<account_number>.*)$', true, now(), now())\nON CONFLICT (id) DO NOTHING;",
    );
    expect(sql.stdout).not.toContain('VALUES (1,');

    const json = await runMain(['strategy', 'export', '--format', 'json'], { env });
    const rows = JSON.parse(json.stdout) as { id: number }[];
    expect(rows.map((r) => r.id)).toEqual([1, 2, 3, 4, 5, 7]);

    // Another environment gets identical ids from either file.
    const dir = tempDir();
    writeFileSync(join(dir, 'strategies.json'), json.stdout);
    writeFileSync(join(dir, 'values.yaml'), helm.stdout);
    const other = cliEnv();
    const fromJson = await runMain(['strategy', 'add', '--file', join(dir, 'strategies.json'), '-q', '-o', 'table'], { env: other.env });
    expect(fromJson.code).toBe(0);
    expect(fromJson.stdout).toContain('added strategy 7');
    const fromYaml = await runMain(['strategy', 'add', '--file', join(dir, 'values.yaml'), '-q', '-o', 'table'], { env: other.env });
    expect(fromYaml.code).toBe(0);
    expect(
      fromYaml.stdout
        .trim()
        .split('\n')
        .every((line) => line.startsWith('unchanged')),
    ).toBe(true);
    expect((await runMain(['strategy', 'export', '--format', 'json'], { env: other.env })).stdout).toBe(json.stdout);

    const noFormat = await runMain(['strategy', 'export'], { env });
    expect(noFormat.code).toBe(2);
    expect(noFormat.stderr).toContain("required option '--format <format>' not specified");
  });

  it('lists the strategies a remote target knows, and refuses to add to one that names no strategiesFile', async () => {
    const { env } = cliEnv({ SPARCTL_BASE_URL: 'http://127.0.0.1:9/api/mapper' });
    const list = await runMain(['strategy', 'list', '-o', 'json'], { env });
    expect(list.code).toBe(0);
    expect(jsonOf<Listed>(list.stdout).strategies.map((s) => s.id)).toEqual([1, 2, 3, 4, 5]);
    expect(list.stderr).toContain('SPAR has no API to list strategies');
    // Named by the environment, the mapper takes no profile's file: the default profile is not blamed.
    const add = await runMain(['strategy', 'add', ...V7, '-o', 'table'], { env });
    expect(add.code).toBe(2);
    expect(add.stderr).toContain(
      'sparctl: error [strategy.no_file]: the mapper is named by env SPARCTL_BASE_URL, not by a profile, so there is no strategiesFile to add strategies to; nothing was added (name the mapper with a profile',
    );
    expect(add.stderr).not.toContain('profile "default"');
    const configDir = join(env['XDG_CONFIG_HOME']!, 'sparctl');
    mkdirSync(configDir, { recursive: true });
    writeFileSync(
      join(configDir, 'config.json'),
      JSON.stringify({ profiles: { bare: { mode: 'remote', baseUrl: 'http://127.0.0.1:9/api/mapper' } } }),
    );
    delete env['SPARCTL_BASE_URL'];
    const bare = await runMain(['--profile', 'bare', 'strategy', 'add', ...V7], { env });
    expect(bare.code).toBe(2);
    expect(bare.stderr).toContain(
      'sparctl: error [strategy.no_file]: profile "bare" has no strategiesFile to add strategies to; nothing was added',
    );
  });

  it('has --help with examples for every subcommand', async () => {
    const { env } = cliEnv();
    for (const sub of ['list', 'validate', 'add', 'export']) {
      const help = await runMain(['strategy', sub, '--help'], { env });
      expect(help.code).toBe(0);
      expect(help.stdout).toContain('Examples:');
      expect(help.stdout).toContain(`$ sparctl strategy ${sub}`);
    }
  });
});
