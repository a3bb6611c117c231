import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
// Through retained.ts: on Node 24 a collected better-sqlite3 object aborts the test process.
import { openDatabase, prepare } from '../../src/adapters/sqlite/retained.js';
import { describe, expect, it } from 'vitest';
import { ROOT, cliEnv, runCli, withoutTarget } from '../helpers/run-cli.js';
import { runMain } from '../helpers/run-main.js';
import { bankFlags } from '../helpers/records.js';
import { tempDir } from '../helpers/tmp.js';

const BANK_FLAGS = bankFlags('ACC1000001');

function countRows(db: string, table = 'id_fa_mappings'): number {
  if (!existsSync(db)) return 0;
  const handle = openDatabase(db, { readonly: true });
  const { n } = prepare(handle, `SELECT count(*) AS n FROM ${table}`).get() as { n: number };
  handle.close();
  return n;
}

const jsonl = (text: string) =>
  text
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as Record<string, unknown>);

describe('sparctl (built binary)', () => {
  it('runs the README quick start: links the sample file into the local mapper in the XDG data dir', async () => {
    const { env, dataDb } = cliEnv();
    const rejects = join(tempDir(), 'rejects.csv');
    const first = await runCli(['link', '--file', 'fixtures/beneficiaries.csv', '--rejects', rejects], { env });
    expect(first.code).toBe(0);
    expect(first.stdout).toBe(''); // a file run prints its summary on stderr; -o asks for per-record results
    expect(first.stderr).toMatch(/^link +10 +0 +0 +10$/m);
    expect(first.stderr).toMatch(/10 records in [\d.]+ s .* · local .*sparctl\/mapper\.db\n$/);
    expect(countRows(dataDb)).toBe(10);
    expect(countRows(dataDb, 'audit_log')).toBe(10);
    expect(existsSync(rejects)).toBe(false);

    // Running it again changes nothing, reports each record, and exits 5.
    const again = await runCli(['link', '--file', 'fixtures/beneficiaries.csv', '--rejects', rejects, '-o', 'jsonl'], { env });
    expect(again.code).toBe(5);
    const results = jsonl(again.stdout);
    expect(results.map((r) => r['line'])).toEqual([2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
    expect(
      results.every((r) => r['fate'] === 'rejected' && r['outcome'] === 'already_linked' && r['code'] === 'rjct.reference_id.duplicate'),
    ).toBe(true);
    expect(again.stderr).toContain(`rejects: ${rejects} (10 rows)`);
    expect(countRows(dataDb, 'audit_log')).toBe(10);

    const summary = await runCli(
      ['link', '--file', 'fixtures/beneficiaries.csv', '--rejects', rejects, '--overwrite', '-o', 'json', '-q'],
      {
        env,
      },
    );
    const doc = JSON.parse(summary.stdout) as { schemaVersion: number; summary: { total: number; rejected: number } };
    expect(doc).toMatchObject({ schemaVersion: 1, summary: { total: 10, rejected: 10 } });
  });

  it('links a bank FA with strategy 2 and resolves it back to exactly the fields given', async () => {
    const { env, dataDb } = cliEnv();
    const link = await runMain(
      ['link', '--id', 'BENE_0001', '--strategy', '2', ...BANK_FLAGS, '--name', 'Maria Santos', '--phone', '+63 917 555 0101'],
      { env },
    );
    expect(link.code).toBe(0);
    const [linked] = jsonl(link.stdout);
    // Python: construct.format(**fa) for these fields (spar-v2-observed.md exchange 01).
    const python = 'account_number:ACC1000001.branch_name:Main.branch_code:0001.bank_name:Example Bank.bank_code:EXB.fa_type:BANK';
    expect(linked).toMatchObject({ id: 'BENE_0001', outcome: 'linked', status: 'succ', fa: python });
    const db = openDatabase(dataDb, { readonly: true });
    expect(prepare(db, 'SELECT fa_value, name, phone FROM id_fa_mappings').get()).toEqual({
      fa_value: python,
      name: 'Maria Santos',
      phone: '+639175550101', // stored in E.164
    });
    db.close();

    const resolve = await runMain(['resolve', '--id', 'BENE_0001', '--scope', 'details', '-o', 'json'], { env });
    expect(resolve.code).toBe(0);
    const doc = JSON.parse(resolve.stdout) as { results: { outcome: string; fa: unknown }[] };
    expect(doc.results[0]!.outcome).toBe('found');
    expect(doc.results[0]!.fa).toEqual({
      account_number: 'ACC1000001',
      branch_name: 'Main',
      branch_code: '0001',
      bank_name: 'Example Bank',
      bank_code: 'EXB',
      fa_type: 'BANK',
      strategy_id: 2,
    });
  });

  it('updates and unlinks one record from flags, leaving an audit row for each change', async () => {
    const { env, dataDb } = cliEnv();
    expect((await runMain(['link', '--id', 'B1', ...BANK_FLAGS], { env })).code).toBe(0);
    const update = await runMain(
      [
        'update',
        '--id',
        'B1',
        '--fa',
        '{"fa_type":"MOBILE_WALLET","wallet_provider_name":"Pink Wallet","wallet_provider_code":"PINK","mobile_number":"+639171234567"}',
      ],
      { env },
    );
    expect(update.code).toBe(0);
    expect(jsonl(update.stdout)[0]).toMatchObject({ outcome: 'updated' });
    const missing = await runMain(['update', '--id', 'NOPE', ...BANK_FLAGS], { env });
    expect(missing.code).toBe(5);
    expect(jsonl(missing.stdout)[0]).toMatchObject({ outcome: 'not_found', status_reason_code: 'rjct.reference_id.duplicate' });

    const refused = await runMain(['unlink', '--id', 'B1'], { env });
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/pass --yes to confirm/);
    expect(countRows(dataDb)).toBe(1);

    const unlink = await runMain(['unlink', '--id', 'B1', '--yes'], { env });
    expect(unlink.code).toBe(0);
    expect(countRows(dataDb)).toBe(0);
    const resolve = await runMain(['resolve', 'B1'], { env });
    expect(resolve.code).toBe(0);
    expect(jsonl(resolve.stdout)[0]).toMatchObject({
      outcome: 'not_found',
      status: 'succ',
      status_reason_code: 'succ.fa.not_linked_to_id',
    });

    const db = openDatabase(dataDb, { readonly: true });
    const audit = prepare(db, 'SELECT operation, id_value, source FROM audit_log ORDER BY id').all() as {
      operation: string;
      id_value: string;
      source: string;
    }[];
    db.close();
    expect(audit.map((a) => [a.operation, a.id_value])).toEqual([
      ['link', 'B1'],
      ['update', 'B1'],
      ['unlink', 'B1'],
    ]);
    expect(audit[0]!.source).toMatch(/^sparctl link \(user .+\)$/);
  });

  it('prints a table on request, CSV that is safe for spreadsheets, and honours --db', async () => {
    const { env } = cliEnv();
    const db = join(tempDir(), 'elsewhere.db');
    await runMain(['--create', '--db', db, 'link', '--file', 'fixtures/beneficiaries.csv'], { env });
    expect(countRows(db)).toBe(10);
    const table = await runMain(['--create', '--db', db, 'resolve', 'BENE_0002', '-o', 'table'], { env });
    expect(table.stdout).toContain('mobile_number: +639175550202');
    expect(table.stdout).toContain('found');
    expect(table.stdout).not.toMatch(/\u001b\[/); // NO_COLOR
    const csv = await runMain(
      ['--create', '--db', db, 'resolve', '--file', 'fixtures/beneficiaries.csv', '--scope', 'yes_no', '-o', 'csv'],
      { env },
    );
    const lines = csv.stdout.trim().split('\r\n');
    expect(lines[0]).toBe('line,id,outcome,status,status_reason_code,status_reason_message,fa');
    expect(lines).toHaveLength(11);
    expect(lines[8]).toBe('9,0000812345,found,succ,succ.id.active,,');

    const verbose = await runMain(['--create', '--db', db, '-v', 'resolve', '--file', 'fixtures/beneficiaries.csv', '--batch-size', '4'], {
      env,
    });
    expect(verbose.stderr.split('\n').filter((l) => / done$/.test(l))).toEqual([
      'sparctl: 4/10 done',
      'sparctl: 8/10 done',
      'sparctl: 10/10 done',
    ]);
  });

  it('rejects bad rows with their line, field and reason into a re-importable file, and links the rest', async () => {
    const { env, dataDb } = cliEnv();
    const dir = tempDir();
    const file = join(dir, 'bad.csv');
    const header = 'id,fa_type,strategy_id,bank_name,bank_code,branch_name,branch_code,account_number';
    writeFileSync(
      file,
      [
        header,
        'OK1,BANK,2,B,BC,Br,0001,0111',
        ',BANK,2,B,BC,Br,0001,222',
        'BAD2,BANK,9,B,BC,Br,0001,333',
        'BAD3,BANK,2,B,BC,Br.branch_name:x,0001,444',
      ].join('\n'),
    );
    const run = await runMain(['link', '--file', file], { env, cwd: dir });
    expect(run.code).toBe(5);
    expect(countRows(dataDb)).toBe(1);
    const rejectsFile = join(dir, 'bad.rejects.csv');
    expect(run.stderr).toContain(`rejects: ${rejectsFile} (3 rows)`);
    const { parse } = await import('csv-parse/sync');
    const rows = parse(readFileSync(rejectsFile), { columns: true }) as Record<string, string>[];
    expect(rows.map((r) => [r['id'], r['sparctl_line'], r['sparctl_field'], r['sparctl_code']])).toEqual([
      ['', '3', 'id', 'input.invalid'],
      ['BAD2', '4', 'strategy_id', 'input.strategy'],
      ['BAD3', '5', 'fa', 'input.strategy'],
    ]);
    expect(rows[1]!['sparctl_message']).toBe('strategy_id: strategy 9 does not exist (FA strategies: 2, 3, 4, 5)');
    expect(rows[2]!['sparctl_message']).toMatch(/^fa: account_number "444" would be read back as "444\.branch_name:Br"/);

    // Fix the rows in the reject file and feed it back: its sparctl_* columns are ignored.
    const fixed = readFileSync(rejectsFile, 'utf8')
      .replace(',,BANK', ',OK2,BANK') // the row without an ID: its empty cell after the reason columns
      .replace('BAD2,BANK,9', 'BAD2,BANK,2')
      .replace('Br.branch_name:x', 'Br');
    writeFileSync(join(dir, 'fixed.csv'), fixed);
    const again = await runMain(['link', '--file', 'fixed.csv'], { env, cwd: dir });
    expect(again.code).toBe(0);
    expect(countRows(dataDb)).toBe(4);
  });

  it('carries a beneficiary history in one file: its last row decides; an unlink row needs --yes', async () => {
    const { env, dataDb } = cliEnv();
    const dir = tempDir();
    const file = join(dir, 'history.csv');
    const header = 'operation,id,fa_type,bank_name,bank_code,branch_name,branch_code,account_number';
    writeFileSync(
      file,
      [
        header,
        'link,H1,BANK,B,BC,Br,0001,111',
        'update,H1,BANK,B,BC,Br,0001,222',
        'unlink,H1,,,,,,',
        'link,H1,BANK,B,BC,Br,0001,333',
        'update,H2,BANK,B,BC,Br,0001,444',
        'unlink,H2,,,,,,',
      ].join('\n'),
    );
    const preLinked = async (db: string) => {
      expect(
        (
          await runMain(
            [
              '--create',
              '--db',
              db,
              'link',
              '--id',
              'H2',
              '--fa-type',
              'BANK',
              '--bank-name',
              'B',
              '--bank-code',
              'BC',
              '--branch-name',
              'Br',
              '--branch-code',
              '0001',
              '--account-number',
              '9',
            ],
            { env },
          )
        ).code,
      ).toBe(0);
    };
    await preLinked(join(dir, 'a.db'));
    const refused = await runMain(
      ['--create', '--db', join(dir, 'a.db'), 'link', '--file', file, '-o', 'jsonl', '--rejects', join(dir, 'r.csv')],
      { env },
    );
    expect(refused.code).toBe(5);
    const lines = refused.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    // H1's unlink row is superseded (it unlinks nothing); H2's is its last row, and is refused.
    expect(lines.map((l) => [l['line'], l['fate'], l['code']])).toEqual([
      [2, 'superseded', null],
      [3, 'superseded', null],
      [4, 'superseded', null],
      [5, 'applied', null],
      [6, 'superseded', null],
      [7, 'rejected', 'input.unlink_not_confirmed'],
    ]);
    await preLinked(join(dir, 'b.db'));
    const allowed = await runMain(
      ['--create', '--db', join(dir, 'b.db'), '--yes', 'link', '--file', file, '-o', 'jsonl', '--rejects', join(dir, 'r2.csv')],
      { env },
    );
    expect(allowed.code).toBe(0);
    const db = openDatabase(join(dir, 'b.db'), { readonly: true });
    expect(prepare(db, 'SELECT id_value, fa_value FROM id_fa_mappings').raw().all()).toEqual([
      ['H1', expect.stringMatching(/^account_number:333\./)],
    ]);
    // One write per ID of the file (other IDs' writes may come in any order).
    expect(prepare(db, 'SELECT operation, id_value FROM audit_log ORDER BY id_value, id').raw().all()).toEqual([
      ['link', 'H1'],
      ['link', 'H2'],
      ['unlink', 'H2'],
    ]);
    db.close();
    expect(countRows(dataDb)).toBe(0);
  });

  it('import-csv --dry-run shows the plan and writes nothing but its rejects preview: no database, no reject file, no journal', async () => {
    const { env, home } = cliEnv();
    const dir = tempDir();
    const run = await runMain(
      [
        'import-csv',
        join(ROOT, 'fixtures/enumeration.csv'),
        '--mapping',
        join(ROOT, 'fixtures/enumeration.mapping.json'),
        '--dfsp',
        join(ROOT, 'fixtures/dfsp.json'),
        '--dry-run',
      ],
      { env, cwd: dir },
    );
    expect(run.code).toBe(5); // two rows of the sample are bad on purpose
    expect(run.stderr).toContain('  would link token:000412345001@nationalId (line 2)');
    expect(run.stderr).toMatch(/dry run: nothing was written but the previews \(no mapper write, journal or reject file\)\n$/);
    const { readdirSync } = await import('node:fs');
    const files = (d: string): string[] =>
      readdirSync(d, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? files(join(d, e.name)) : [join(d, e.name)]));
    expect(files(home)).toEqual([]);
    expect(files(dir)).toEqual([join(dir, 'enumeration.rejects.preview.csv')]);
  });

  it('import-csv --dry-run and the real run plan the same for an ID that comes back 600 rows later: the later row decides', async () => {
    const { env } = cliEnv();
    const dir = tempDir();
    const header =
      'household_no,national_id,full_name,contact_phone,payment_method,bank_code,branch_code,account_no,wallet,payment_mobile,payment_email';
    const row = (i: number, account: string) =>
      `HH-${i},${String(412345000 + i).padStart(12, '0')},Person ${i},0917 555 ${String(i % 10000).padStart(4, '0')},bank,LBP,0012,${account},,,`;
    const rows = Array.from({ length: 700 }, (_, i) => row(i, String(i).padStart(10, '0')));
    rows.push(row(3, '9999999999')); // the beneficiary of row 3 again, with a new account
    writeFileSync(join(dir, 'big.csv'), `${[header, ...rows].join('\n')}\n`);
    const args = [
      '--create',
      '--db',
      join(dir, 'mapper.db'),
      '-o',
      'json',
      'import-csv',
      join(dir, 'big.csv'),
      '--mapping',
      join(ROOT, 'fixtures/enumeration.mapping.json'),
      '--dfsp',
      join(ROOT, 'fixtures/dfsp.json'),
    ];
    const dry = await runMain([...args, '--dry-run'], { env, cwd: dir });
    expect(dry.code).toBe(0);
    const real = await runMain(args, { env, cwd: dir });
    expect(real.code).toBe(0);
    // Row 3 (line 5) is superseded by its last row (line 702): one link with the new account.
    expect(JSON.parse(dry.stdout)).toMatchObject({ dryRun: true, summary: { wouldLink: 700, wouldUpdate: 0, superseded: 1 } });
    expect(JSON.parse(real.stdout).summary.byOperation).toEqual({ link: { applied: 700 }, none: { superseded: 1 } });
  });

  it('import-csv gives the same results, mapper rows and audit log with links written on a second thread as on one (SPARCTL_WRITER_THREAD=off)', async () => {
    const header =
      'household_no,national_id,full_name,contact_phone,payment_method,bank_code,branch_code,account_no,wallet,payment_mobile,payment_email';
    const row = (i: number, account: string, bankCode = 'LBP') =>
      `HH-${i},${String(412345000 + i).padStart(12, '0')},Person ${i},0917 555 ${String(i % 10000).padStart(4, '0')},bank,${bankCode},0012,${account},,,`;
    const first = Array.from({ length: 900 }, (_, i) => row(i, String(i).padStart(10, '0')));
    // Linked already by the first file, given twice, conflicting, with an unknown bank: every way a link can end.
    // (The unknown-bank rows keep a full-width account: a short one is refused first, as lost zeros.)
    const second = Array.from({ length: 2400 }, (_, i) =>
      i % 97 === 0 ? row(i, '9'.repeat(10), 'NOPE') : row(i, String(i).padStart(10, '0')),
    );
    for (let i = 0; i < 2400; i += 131) second.push(row(i, `${i}-again`));
    const outcome = async (thread: 'on' | 'off') => {
      const dir = tempDir();
      const { env } = cliEnv(thread === 'off' ? { SPARCTL_WRITER_THREAD: 'off' } : {});
      writeFileSync(join(dir, 'first.csv'), `${[header, ...first].join('\n')}\n`);
      writeFileSync(join(dir, 'second.csv'), `${[header, ...second].join('\n')}\n`);
      const args = (file: string) => [
        '--create',
        '--db',
        join(dir, 'mapper.db'),
        'import-csv',
        file,
        '--mapping',
        join(ROOT, 'fixtures/enumeration.mapping.json'),
        '--dfsp',
        join(ROOT, 'fixtures/dfsp.json'),
        '--mode',
        'link',
        '-o',
        'jsonl',
      ];
      expect((await runCli(args('first.csv'), { env, cwd: dir })).code).toBe(0);
      const run = await runCli(['-v', ...args('second.csv')], { env, cwd: dir });
      expect(run.code).toBe(5);
      expect(run.stderr.includes('writes links on a second thread')).toBe(thread === 'on');
      const db = openDatabase(join(dir, 'mapper.db'), { readonly: true });
      const mappings = prepare(db, 'SELECT id, id_value, fa_value, name, phone, additional_info FROM id_fa_mappings ORDER BY id').all();
      const audit = prepare(db, 'SELECT id, operation, id_value, new_fa_hash, source FROM audit_log ORDER BY id').all();
      db.close();
      const results = jsonl(run.stdout);
      // Chunks on other IDs may settle in another order, but records are reported in input order.
      const rejects = readFileSync(join(dir, 'second.rejects.csv'), 'utf8');
      const lines = jsonl(run.stdout).map((line) => Number(line['line']));
      expect(lines).toEqual([...lines].sort((a, b) => a - b));
      return { results, mappings, audit, rejects };
    };
    const [one, two] = [await outcome('off'), await outcome('on')];
    expect(two).toEqual(one);
    const outcomes = new Set(one.results.map((line) => `${line['fate']} ${line['code'] ?? ''}`.trim()));
    expect(outcomes).toEqual(new Set(['applied', 'superseded', 'rejected rjct.reference_id.duplicate', 'rejected mapping.unknown_bank']));
    // 900 from the first file, then the 1,500 new rows of the second but its 15 with an unknown bank.
    expect(one.mappings).toHaveLength(900 + 1500 - 15);
  });

  it('import-csv again after a corrected contact phone updates that beneficiary only', async () => {
    const { env } = cliEnv();
    const dir = tempDir();
    const db = join(dir, 'mapper.db');
    const args = (file: string) => [
      '--create',
      '--db',
      db,
      'import-csv',
      file,
      '--mapping',
      join(ROOT, 'fixtures/enumeration.mapping.json'),
      '--dfsp',
      join(ROOT, 'fixtures/dfsp.json'),
      '-o',
      'jsonl',
    ];
    const sample = join(ROOT, 'fixtures/enumeration.csv');
    expect((await runMain(args(sample), { env, cwd: dir })).code).toBe(5); // two rows of the sample are bad on purpose
    const corrected = join(dir, 'enumeration.csv');
    const text = readFileSync(sample, 'utf8');
    expect(text).toContain(',0917 555 0101,');
    writeFileSync(corrected, text.replace(',0917 555 0101,', ',0918 777 0101,'));
    const again = await runMain(args(corrected), { env, cwd: dir });
    const applied = jsonl(again.stdout).filter((line) => line['fate'] === 'applied');
    expect(applied.map((line) => [line['id'], line['operation']])).toEqual([['token:000412345001@nationalId', 'update']]);
    const stored = openDatabase(db, { readonly: true });
    expect(prepare(stored, 'SELECT phone FROM id_fa_mappings WHERE id_value = ?').pluck().get('token:000412345001@nationalId')).toBe(
      '+639187770101',
    );
    stored.close();
  });

  it('import-csv again after an admin changed an FA by hand puts the file’s FA back for that beneficiary only, then changes nothing', async () => {
    const { env } = cliEnv();
    const dir = tempDir();
    const db = join(dir, 'mapper.db');
    const args = [
      '--create',
      '--db',
      db,
      'import-csv',
      join(ROOT, 'fixtures/enumeration.csv'),
      '--mapping',
      join(ROOT, 'fixtures/enumeration.mapping.json'),
      '--dfsp',
      join(ROOT, 'fixtures/dfsp.json'),
      '-o',
      'jsonl',
    ];
    expect((await runMain(args, { env, cwd: dir })).code).toBe(5); // two rows of the sample are bad on purpose
    const id = 'token:000412345002@nationalId';
    const storedFa = () => {
      const stored = openDatabase(db, { readonly: true });
      const fa = prepare(stored, 'SELECT fa_value FROM id_fa_mappings WHERE id_value = ?').pluck().get(id);
      stored.close();
      return fa;
    };
    const imported = storedFa();
    const edit = await runMain(
      [
        '--create',
        '--db',
        db,
        'update',
        '--id',
        id,
        '--fa',
        '{"fa_type":"MOBILE_WALLET","wallet_provider_name":"Maya","wallet_provider_code":"MAYA","mobile_number":"+639171234567"}',
      ],
      { env },
    );
    expect(edit.code).toBe(0);
    expect(storedFa()).not.toBe(imported);
    const again = await runMain(args, { env, cwd: dir });
    const outcomes = jsonl(again.stdout);
    expect(outcomes.filter((line) => line['fate'] === 'applied').map((line) => [line['id'], line['operation']])).toEqual([[id, 'update']]);
    expect(storedFa()).toBe(imported);
    const unchanged = outcomes.filter((line) => line['fate'] === 'unchanged').length;
    expect(unchanged).toBeGreaterThan(5);
    const third = jsonl((await runMain(args, { env, cwd: dir })).stdout);
    expect(third.filter((line) => line['fate'] === 'applied')).toEqual([]);
    expect(third.filter((line) => line['fate'] === 'unchanged')).toHaveLength(unchanged + 1);
  });

  it('reads JSONL from stdin', async () => {
    const { env } = cliEnv();
    const input =
      '{"id":"J1","fa":{"fa_type":"EMAIL_WALLET","wallet_provider_name":"Mail Pay","wallet_provider_code":"MP","email_address":"j1@example.org"}}\n';
    const run = await runMain(['link', '--file', '-', '-o', 'jsonl', '--rejects', join(tempDir(), 'r.csv')], { env, input });
    expect(run.code).toBe(0);
    expect(jsonl(run.stdout)[0]).toMatchObject({ id: 'J1', line: 1, fate: 'applied', outcome: 'linked' });
  });

  describe('bad input: one clear line on stderr, a non-zero exit, nothing written', () => {
    const cases: [string, string[], number, RegExp][] = [
      [
        'unknown flag',
        ['link', '--id', 'X', '--acount-number', '1'],
        2,
        /^sparctl: error \[[a-z0-9_.]+\]: unknown option '--acount-number' \(Did you mean --account-number\?\) \(see "sparctl link --help"\)$/,
      ],
      [
        'unknown command',
        ['lnk'],
        2,
        /^sparctl: error \[[a-z0-9_.]+\]: unknown command 'lnk' \(Did you mean link\?\) \(see "sparctl --help"\)$/,
      ],
      [
        'a subcommand’s parse error points at its own --help',
        ['strategy', 'export'],
        2,
        /^sparctl: error \[usage\.missing_mandatory_option_value\]: required option '--format <format>' not specified \(see "sparctl strategy export --help"\)$/,
      ],
      [
        'malformed FA JSON',
        ['link', '--id', 'X', '--fa', '{"fa_type": BANK}'],
        2,
        /^sparctl: error \[[a-z0-9_.]+\]: --fa is not valid JSON: .+ \(example: --fa '\{"fa_type":"BANK",.*\}'\)$/,
      ],
      [
        'unknown strategy',
        ['link', '--id', 'X', '--strategy', '42', ...BANK_FLAGS],
        2,
        /^sparctl: error \[[a-z0-9_.]+\]: invalid record: strategy_id: strategy 42 does not exist \(FA strategies: 2, 3, 4, 5\); nothing was written$/,
      ],
      [
        'unreadable file',
        ['link', '--file', 'no/such.csv'],
        2,
        /^sparctl: error \[[a-z0-9_.]+\]: cannot read no\/such\.csv: no such file \(check the path of the input file\)$/,
      ],
      [
        'FA field of another kind',
        ['link', '--id', 'X', ...BANK_FLAGS, '--mobile-number', '+6391'],
        2,
        /^sparctl: error \[[a-z0-9_.]+\]: invalid record: mobile_number does not belong to a BANK FA; nothing was written$/,
      ],
      [
        'bad --batch-size',
        ['resolve', 'X', '--batch-size', '0'],
        2,
        /^sparctl: error \[[a-z0-9_.]+\]: option '--batch-size <n>' argument '0' is invalid\. --batch-size must be a whole number of at least 1 \(see "sparctl resolve --help"\)$/,
      ],
      [
        'no records',
        ['update'],
        2,
        /^sparctl: error \[[a-z0-9_.]+\]: nothing to update: give --id or --file \(see "sparctl update --help"\)$/,
      ],
      [
        'unknown profile',
        ['--profile', 'prod', 'resolve', 'X'],
        3,
        /^sparctl: error \[[a-z0-9_.]+\]: profile "prod" not found: .*config\.json does not exist \(create it with "sparctl config init", or drop --profile to use the local mapper\)$/,
      ],
    ];
    for (const [what, args, code, message] of cases) {
      it(what, async () => {
        const { env, dataDb } = cliEnv();
        const run = await runMain(args, { env });
        expect(run.code).toBe(code);
        expect(run.stdout).toBe('');
        const said = withoutTarget(run.stderr);
        expect(said.endsWith('\n')).toBe(true);
        expect(said.trimEnd().split('\n')).toHaveLength(1);
        expect(said.trimEnd()).toMatch(message);
        expect(countRows(dataDb)).toBe(0);
      });
    }
  });

  it('lists the commands in --help, and every command’s --help has an example', async () => {
    const { env } = cliEnv();
    const help = await runMain(['--help'], { env });
    expect(help.code).toBe(0);
    for (const command of [
      'link',
      'update',
      'resolve',
      'unlink',
      'import-csv',
      'import-odk',
      'dfsp',
      'fa',
      'strategy',
      'smoke',
      'serve',
      'ping',
      'init',
      'config',
      'completion',
    ])
      expect(help.stdout).toMatch(new RegExp(`^  ${command} `, 'm'));
    const commands = [
      ['link'],
      ['update'],
      ['resolve'],
      ['unlink'],
      ['import-csv'],
      ['import-odk'],
      ['dfsp', 'list'],
      ['dfsp', 'import'],
      ['fa', 'edit'],
      ['strategy', 'list'],
      ['strategy', 'validate'],
      ['strategy', 'add'],
      ['strategy', 'export'],
      ['smoke'],
      ['serve'],
      ['ping'],
      ['init'],
      ['config'],
      ['config', 'show'],
      ['config', 'profiles'],
      ['config', 'path'],
      ['config', 'init'],
      ['completion'],
    ];
    for (const command of commands) {
      const sub = await runMain([...command, '--help'], { env });
      expect(sub.code).toBe(0);
      expect(sub.stdout).toMatch(/Examples?:\n\s+\$ sparctl /);
    }
    // A run from stdin resumes as README "Resume" says (its journal is keyed by the bytes piped in).
    const importCsvHelp = (await runMain(['import-csv', '--help'], { env })).stdout.replace(/\s+/g, ' ');
    expect(importCsvHelp).not.toContain('cannot be resumed');
    expect(importCsvHelp).toContain('a run from stdin resumes when the same bytes are piped in again');
    // A reader that leaves early (| head -1) does not stop the run or turn it into a crash.
    const dir = tempDir();
    const rows = ['id,fa_type,bank_name,bank_code,branch_name,branch_code,account_number'];
    for (let i = 0; i < 3000; i++) rows.push(`P${i},BANK,Example Bank,EXB,Main,0001,${1e9 + i}`);
    writeFileSync(join(dir, 'many.csv'), `${rows.join('\n')}\n`);
    const { spawnSync } = await import('node:child_process');
    const piped = spawnSync(
      'sh',
      [
        '-c',
        `"${process.execPath}" "${join(ROOT, 'bin', 'sparctl.js')}" --create --db "${join(dir, 'm.db')}" link --file many.csv -o jsonl 2>/dev/null | head -1; echo "status=\${PIPESTATUS:-x}"`,
      ],
      { env, cwd: dir, encoding: 'utf8' },
    );
    expect(piped.stdout).toMatch(/^\{"seq":/);
    const db = openDatabase(join(dir, 'm.db'), { readonly: true });
    expect((prepare(db, 'SELECT count(*) AS n FROM id_fa_mappings').get() as { n: number }).n).toBe(3000);
    db.close();

    const version = await runMain(['--version'], { env });
    expect(version.stdout.trim()).toBe((JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version);
  });

  it('config: init writes a 0600 file, profiles lists it, show names sources and never prints a secret', async () => {
    const { env } = cliEnv({ SPARCTL_TOKEN: 'canary-token-5f1e', SPARCTL_BATCH_SIZE: '100' });
    const init = await runMain(['config', 'init'], { env });
    expect(init.code).toBe(0);
    const configFile = join(env['XDG_CONFIG_HOME']!, 'sparctl', 'config.json');
    const { statSync } = await import('node:fs');
    expect(statSync(configFile).mode & 0o777).toBe(0o600);
    expect((await runMain(['config', 'init'], { env })).code).toBe(3);

    const profiles = await runMain(['config', 'profiles'], { env });
    expect(profiles.stdout).toBe('{"name":"local","mode":"local","default":true}\n{"name":"staging","mode":"remote","default":false}\n');

    const show = await runMain(['config', 'show', '--profile', 'staging', '-o', 'json'], { env });
    expect(show.code).toBe(0);
    expect(show.stdout + show.stderr).not.toContain('canary-token-5f1e');
    const doc = JSON.parse(show.stdout) as { settings: Record<string, unknown>; sources: Record<string, string> };
    expect(doc.settings).toMatchObject({ profile: 'staging', mode: 'remote', token: '(set, hidden)', batchSize: 100 });
    expect(doc.sources).toMatchObject({
      baseUrl: expect.stringMatching(/^profile staging/),
      batchSize: 'env SPARCTL_BATCH_SIZE',
      token: 'env SPARCTL_TOKEN',
    });

    const remote = await runMain(['--profile', 'staging', 'resolve', 'X'], { env });
    expect(remote.code).toBe(3);
    expect(withoutTarget(remote.stderr)).toBe(
      'sparctl: error [auth.key_unreadable]: cannot read the signing key /path/to/partner-key.pem: ENOENT (check signingKeyFile in the profile or SPARCTL_SIGNING_KEY_FILE)\n',
    );
  });
});
