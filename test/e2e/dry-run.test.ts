import { createHash } from 'node:crypto';
import { existsSync, linkSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { startFakeCentral, type FakeCentral } from '../helpers/fake-central.js';
import { ROOT, cliEnv, runCli } from '../helpers/run-cli.js';
import { openDatabase, setPragma } from '../../src/adapters/sqlite/retained.js';
import { runMain } from '../helpers/run-main.js';
import { tempDir } from '../helpers/tmp.js';

/**
 * --dry-run writes nothing, on every command that writes to a mapper (fa edit's is in
 * fa-edit.test.ts, in a terminal): the database is byte-identical afterwards, no journal, reject
 * or kept index is left anywhere — only a file run's preview files (X.rejects.preview.csv) —
 * and each command says what it would have done. (What a dry run explains: dry-run-explain.test.ts.)
 */

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

const BANK = ['--fa-type', 'BANK', '--bank-name', 'Example Bank', '--bank-code', 'EXB', '--branch-name', 'Main', '--branch-code', '0001'];
const sum = (path: string) => createHash('sha256').update(readFileSync(path)).digest('hex');

/**
 * Every file under `dir` (and every folder, with `folders`), with its size, modification time
 * and digest: nothing may appear, change or be left — the database's -wal and -shm included,
 * which SQLite makes for any reader of a WAL database (a read-only one too) and sparctl removes.
 */
function files(dir: string, folders = false): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return [...(folders ? [`${path}/`] : []), ...files(path, folders)];
    return [`${path} ${statSync(path).size} ${statSync(path).mtimeMs} ${sum(path)}`];
  });
}

describe('--dry-run on every writing command', () => {
  it('link, update, unlink (one record and files), import-csv, strategy add, dfsp import and import-odk leave the mapper byte-identical and say what they would do', async () => {
    const { env, home } = cliEnv();
    const dir = tempDir();
    const db = join(dir, 'mapper.db');
    // A mapper with something in it.
    expect((await runMain(['--create', '--db', db, 'link', '--id', 'K1', ...BANK, '--account-number', '111'], { env })).code).toBe(0);
    expect((await runMain(['--create', '--db', db, 'link', '--id', 'K2', ...BANK, '--account-number', '222'], { env })).code).toBe(0);
    const file = join(dir, 'rows.csv');
    writeFileSync(
      file,
      [
        'id,fa_type,bank_name,bank_code,branch_name,branch_code,account_number',
        'K1,BANK,Example Bank,EXB,Main,0001,999',
        'K3,BANK,Example Bank,EXB,Main,0001,333',
        'K3,BANK,Example Bank,EXB,Main,0001,334',
      ].join('\n'),
    );
    writeFileSync(join(dir, 'ids.csv'), 'id\nK2\nNOPE\n');
    writeFileSync(join(dir, 'dfsp.csv'), 'type,code,name,bank_code\nBANK,NEW,New Bank,\n');
    writeFileSync(
      join(dir, 'strategy.json'),
      JSON.stringify([
        {
          id: 9,
          strategy_type: 'FA',
          construct_strategy: 'acct:{account_number}',
          deconstruct_strategy: '^acct:(?P<account_number>.*)$',
          description: 'short',
          active: true,
        },
      ]),
    );
    const central: FakeCentral = await startFakeCentral({ email: 'e@x.org', password: 'pw', projectId: 3, formId: 'spar_enrolment' });
    cleanups.push(() => central.close());
    central.submit({
      beneficiary: { national_id: '0011000001', full_name: 'Person A' },
      payment: { payment_method: 'bank', bank_code: 'BNK001', branch_code: 'BNK001-0042', account_number: '0001', payment_consent: 'yes' },
    });
    const odkEnv = {
      ...env,
      SPARCTL_ODK_URL: central.url,
      SPARCTL_ODK_PROJECT: '3',
      SPARCTL_ODK_FORM: 'spar_enrolment',
      SPARCTL_ODK_EMAIL: 'e@x.org',
      SPARCTL_ODK_PASSWORD: 'pw',
    };

    const before = sum(db);
    const home0 = files(home).filter((f) => !f.includes('/cache/'));
    const dir0 = files(dir);
    const previews: string[] = [];
    const commands: [string[], RegExp, Record<string, string>?][] = [
      [['link', '--id', 'K9', ...BANK, '--account-number', '9', '--dry-run'], /link \(dry run\): 1 would be linked/],
      [['update', '--id', 'K1', ...BANK, '--account-number', '9', '--dry-run'], /update \(dry run\): 1 would be updated/],
      [['unlink', '--id', 'K2', '--dry-run', '--yes'], /unlink \(dry run\): 1 would be unlinked/],
      [['link', '--file', file, '--dry-run'], /would link K3 \(line 4\)/],
      [['update', '--file', file, '--dry-run'], /would update K1 \(line 2\)/],
      [['unlink', '--file', join(dir, 'ids.csv'), '--dry-run'], /would unlink K2 \(line 2\)/],
      [
        [
          'import-csv',
          join(ROOT, 'fixtures/enumeration.csv'),
          '--mapping',
          join(ROOT, 'fixtures/enumeration.mapping.json'),
          '--dfsp',
          join(ROOT, 'fixtures/dfsp.json'),
          '--dry-run',
        ],
        /would link token:000412345001@nationalId/,
      ],
      [['strategy', 'add', '--file', join(dir, 'strategy.json'), '--dry-run'], /strategy add \(dry run\): 1 would be added/],
      [['dfsp', 'import', join(dir, 'dfsp.csv'), '--dry-run'], /1 would be added/],
      [
        [
          'import-odk',
          '--mapping',
          join(ROOT, 'fixtures/enrolment.odk-mapping.json'),
          '--dfsp',
          join(ROOT, 'fixtures/odk-dfsp.json'),
          '--dry-run',
        ],
        /would link 0011000001/,
        odkEnv,
      ],
    ];
    for (const [args, says, extraEnv] of commands) {
      const run = await runMain(['--create', '--db', db, ...args], { env: extraEnv ?? env, cwd: dir });
      const context = `${args.join(' ')}\n${run.stderr}`;
      expect([0, 5], context).toContain(run.code);
      expect(run.stderr, context).toMatch(says);
      expect(run.stderr, context).toMatch(/dry run: nothing was written|nothing was written/i);
      expect(sum(db), context).toBe(before);
      // Nothing but previews: the real reject and results files are never written by a dry run.
      expect(
        files(dir).filter((f) => !/\.preview\.(csv|jsonl) /.test(f)),
        context,
      ).toEqual(dir0);
      for (const f of files(dir)) {
        const name = f.split(' ')[0]!.slice(dir.length + 1);
        if (/\.preview\./.test(name) && !previews.includes(name)) previews.push(name);
      }
    }
    // The file runs that would reject something left a preview of their rejects, named as one.
    expect(previews.sort()).toEqual(['enumeration.rejects.preview.csv', 'ids.rejects.preview.csv', 'rows.rejects.preview.csv']);
    // No journal, spool or reject file anywhere in sparctl's own folders either (import-odk's
    // state and session cache aside: they are Central's, not the mapper's).
    expect(
      files(home).filter((f) => !f.includes('/cache/') && !f.includes('/odk/')),
      'files written',
    ).toEqual(home0);
  }, 60_000);
});

describe('--dry-run and reads, as processes, on a WAL mapper', () => {
  it('leave no -wal, -shm or anything else beside the database or in the XDG folders; a file of an older schema is refused unchanged', async () => {
    const { env, home } = cliEnv();
    const dir = tempDir();
    const db = join(dir, 'mapper.db');
    // The mapper (setup, in process); the commands under test run as processes.
    expect(
      (await runMain(['--create', '--db', db, 'link', '--id', 'K1', ...BANK, '--account-number', '111'], { env, cwd: dir })).code,
    ).toBe(0);
    expect((await runMain(['--db', db, 'dfsp', 'import', join(ROOT, 'fixtures/dfsp.json')], { env, cwd: dir })).code).toBe(0);
    const file = join(dir, 'rows.csv');
    writeFileSync(
      file,
      ['id,fa_type,bank_name,bank_code,branch_name,branch_code,account_number', 'K1,BANK,Example Bank,EXB,Main,0001,999'].join('\n'),
    );
    const old = join(dir, 'old.db');
    writeFileSync(old, readFileSync(db));
    const handle = openDatabase(old);
    handle.exec('DROP TRIGGER id_fa_mappings_source_digest_stale; ALTER TABLE id_fa_mappings DROP COLUMN source_digest');
    setPragma(handle, 'user_version = 1');
    handle.close();
    // The mapper is in WAL mode, and nothing but the databases and the input is there to start with.
    expect(readdirSync(dir).sort()).toEqual(['mapper.db', 'old.db', 'rows.csv']);
    const everything = () => [...files(dir, true), ...files(home, true)].filter((f) => !/\.rejects\.preview\.csv /.test(f));
    const before = everything();
    const importCsv = ['import-csv', join(ROOT, 'fixtures/enumeration.csv'), '--mapping', join(ROOT, 'fixtures/enumeration.mapping.json')];
    const commands: [string[], number][] = [
      [['link', '--id', 'K9', ...BANK, '--account-number', '9', '--dry-run'], 0],
      [['update', '--id', 'K1', ...BANK, '--account-number', '9', '--dry-run'], 0],
      [['unlink', '--id', 'K1', '--dry-run', '--yes'], 0],
      [['update', '--file', file, '--dry-run'], 0],
      [['unlink', '--file', file, '--dry-run', '--yes'], 0],
      // Its banks' names come from the mapper's own DFSP tables; its rejects preview is the one file it may write.
      [[...importCsv, '--dry-run'], 5],
      [['dfsp', 'import', join(ROOT, 'fixtures/dfsp.json'), '--dry-run'], 0],
      [['resolve', 'K1', 'NOPE'], 0],
      [['dfsp', 'list'], 0],
      [['strategy', 'list'], 0],
    ];
    for (const [args, code] of commands) {
      const run = await runCli(['--db', db, ...args], { env, cwd: dir });
      const context = `${args.join(' ')}\n${run.stderr}`;
      expect(run.code, context).toBe(code);
      expect(everything(), context).toEqual(before);
    }
    // A dry run on a file this sparctl would upgrade on its first write: refused, nothing upgraded
    // (its DFSP look-up included), nothing left.
    const refused = await runCli(['--db', old, ...importCsv, '--dry-run'], { env, cwd: dir });
    expect(refused.code, refused.stderr).toBe(3);
    expect(refused.stderr).toContain('[local.needs_upgrade]');
    expect(everything()).toEqual(before);
  }, 60_000);
});

describe('--dry-run: what is around the mapper', () => {
  it("a dry run from a pipe makes no folder of sparctl's (its copy of stdin goes to a private temporary folder, removed)", async () => {
    const { env, home } = cliEnv();
    const dir = tempDir();
    const db = join(dir, 'mapper.db');
    // The mapper (setup, in process); the commands under test run as processes.
    expect(
      (await runMain(['--create', '--db', db, 'link', '--id', 'K1', ...BANK, '--account-number', '111'], { env, cwd: dir })).code,
    ).toBe(0);
    const state = env['XDG_STATE_HOME']!;
    expect(existsSync(state)).toBe(false);
    const input = [
      'id,fa_type,bank_name,bank_code,branch_name,branch_code,account_number',
      'K1,BANK,Example Bank,EXB,Main,0001,999',
      '',
    ].join('\n');
    const run = await runCli(['--db', db, 'update', '--file', '-', '--dry-run'], { env, cwd: dir, input });
    expect(run.code, run.stderr).toBe(0);
    expect(run.stderr).toMatch(/would update/);
    // The state folder was made (with spool/ in it, left empty) just for the copy.
    expect(existsSync(state), files(home, true).join('\n')).toBe(false);
  });

  it('a link where a dry run writes its preview is refused, and the file it leads to is left as it is', async () => {
    const { env } = cliEnv();
    const dir = tempDir();
    const db = join(dir, 'mapper.db');
    // The mapper (setup, in process); the commands under test run as processes.
    expect(
      (await runMain(['--create', '--db', db, 'link', '--id', 'K1', ...BANK, '--account-number', '111'], { env, cwd: dir })).code,
    ).toBe(0);
    writeFileSync(
      join(dir, 'rows.csv'),
      ['id,fa_type,bank_name,bank_code,branch_name,branch_code,account_number', 'K2,BANK,Example Bank,EXB,Main,0001,'].join('\n'),
    );
    writeFileSync(join(dir, 'precious.txt'), 'precious\n');
    for (const [link, preview, extra] of [
      [(target: string, path: string) => symlinkSync(target, path), 'rows.rejects.preview.csv', []],
      [(target: string, path: string) => linkSync(target, path), 'out.preview.csv', ['--results', 'out.csv']],
    ] as const) {
      link(join(dir, 'precious.txt'), join(dir, preview));
      const run = await runCli(['--db', db, 'link', '--file', 'rows.csv', '--dry-run', ...extra], { env, cwd: dir });
      expect(run.code, run.stderr).toBe(2);
      expect(run.stderr).toMatch(
        new RegExp(
          `error \\[output\\.protected\\]: .*${preview.replace('.', '\\.')} is a (symbolic link|hard link \\(another name of a file\\)), where a dry run writes its preview; nothing was sent`,
        ),
      );
      expect(readFileSync(join(dir, 'precious.txt'), 'utf8')).toBe('precious\n');
      rmSync(join(dir, preview));
    }
  });
});
