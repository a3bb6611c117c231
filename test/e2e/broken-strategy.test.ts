import { copyFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it } from 'vitest';
// Through retained.ts: on Node 24 a collected better-sqlite3 object aborts the test process.
import { openDatabase, prepare } from '../../src/adapters/sqlite/retained.js';
import { cliEnv, ROOT } from '../helpers/run-cli.js';
import { runMain } from '../helpers/run-main.js';
import { tempDir } from '../helpers/tmp.js';

/**
 * A strategy changed in the database by other means so that it no longer compiles blocks only
 * what names it: bulk runs of other strategies go on, `strategy list` shows it, `validate` says why.
 */
it('a stored strategy that does not compile: other strategies link, list shows it, validate names the problem', async () => {
  const dir = tempDir();
  const { env } = cliEnv();
  const db = join(dir, 'mapper.db');
  expect((await runMain(['--db', db, 'init', '-q'], { env, cwd: dir })).code).toBe(0);
  const write = openDatabase(db);
  prepare(
    write,
    "INSERT INTO strategy (id, strategy_type, construct_strategy, deconstruct_strategy, description, active, created_at, updated_at) VALUES (9, 'FA', 'acct:{account_number', '^acct:(?P<account_number>.*)$', 'hand-edited', 1, 't', 't')",
  ).run();
  write.close();
  copyFileSync(join(ROOT, 'fixtures', 'beneficiaries.csv'), join(dir, 'b.csv'));
  const linked = await runMain(['--db', db, 'link', '--file', 'b.csv', '-q'], { env, cwd: dir });
  expect(linked.code, linked.stderr).toBe(0);
  writeFileSync(join(dir, 's9.csv'), 'id,fa_type,strategy_id,account_number\nS9,BANK,9,123\n');
  const named = await runMain(['--db', db, 'link', '--file', 's9.csv', '--rejects', 'r.csv', '-o', 'json'], { env, cwd: dir });
  expect(named.code).toBe(5);
  const list = await runMain(['--db', db, 'strategy', 'list', '-o', 'jsonl'], { env, cwd: dir });
  expect(list.code, list.stderr).toBe(0);
  expect(list.stdout).toContain('"id":9');
  const validate = await runMain(['--db', db, 'strategy', 'validate', '9'], { env, cwd: dir });
  expect(validate.code).not.toBe(0);
  expect(validate.stdout + validate.stderr).toMatch(/strategy\.format_invalid/);
});
