import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
// Through retained.ts: on Node 24 a collected better-sqlite3 object aborts the test process.
import { openDatabase, prepare } from '../../src/adapters/sqlite/retained.js';
import { afterEach, describe, expect, it } from 'vitest';
import { BIN, ROOT, cliEnv, runCli, SERVER_SPAWN_LIMIT, SPAWN_LIMIT } from '../helpers/run-cli.js';
import { tempDir } from '../helpers/tmp.js';

/**
 * kill -9 at random instants of a large import, then the same command until it finishes: every
 * record must end applied exactly once — checked in the mapper and in its audit log.
 */

const RECORDS = 12_000;
const KILLS = 6;

const children: ChildProcess[] = [];
afterEach(() => {
  for (const child of children.splice(0)) if (child.exitCode === null) child.kill('SIGKILL');
});

function bigCsv(dir: string): string {
  const lines = ['id,name,fa_type,bank_name,bank_code,branch_name,branch_code,account_number'];
  for (let i = 0; i < RECORDS; i++)
    lines.push(
      `K${String(i).padStart(6, '0')},Person ${i},BANK,Example Bank,EXB,Main,${String(i % 50).padStart(4, '0')},${String(7e9 + i)}`,
    );
  const file = join(dir, 'big.csv');
  writeFileSync(file, `${lines.join('\n')}\n`);
  return file;
}

/**
 * Starts the import and SIGKILLs it `ms` after it has applied its first record (so that start-up
 * on a loaded machine does not swallow the kill); resolves with how it ended.
 */
function killAfter(
  args: string[],
  env: Record<string, string>,
  ms: number,
  dbPath: string,
): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  return new Promise((resolve) => {
    const before = rowsIn(dbPath);
    const child = spawn(process.execPath, [BIN, ...args], { ...SPAWN_LIMIT, env, cwd: ROOT, stdio: 'ignore' });
    children.push(child);
    let timer: NodeJS.Timeout | undefined;
    const poll = setInterval(() => {
      if (timer !== undefined || rowsIn(dbPath) === before) return;
      clearInterval(poll);
      timer = setTimeout(() => child.kill('SIGKILL'), ms);
    }, 5);
    child.on('exit', (code, signal) => {
      clearInterval(poll);
      clearTimeout(timer);
      resolve({ code, signal });
    });
  });
}

/** Starts the import and SIGKILLs it as soon as the mapper holds some records (not all). */
function killMidRun(
  args: string[],
  env: Record<string, string>,
  dbPath: string,
): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [BIN, ...args], { ...SPAWN_LIMIT, env, cwd: ROOT, stdio: 'ignore' });
    children.push(child);
    const poll = setInterval(() => {
      if (rowsIn(dbPath) > 0) child.kill('SIGKILL');
    }, 10);
    child.on('exit', (code, signal) => {
      clearInterval(poll);
      resolve({ code, signal });
    });
  });
}

function checkExactlyOnce(dbPath: string): void {
  const db = openDatabase(dbPath, { readonly: true });
  const mappings = prepare(db, 'SELECT count(*) AS n FROM id_fa_mappings').get() as { n: number };
  const links = prepare(db, "SELECT count(*) AS n, count(DISTINCT id_value) AS ids FROM audit_log WHERE operation = 'link'").get() as {
    n: number;
    ids: number;
  };
  const other = prepare(db, "SELECT count(*) AS n FROM audit_log WHERE operation <> 'link'").get() as { n: number };
  const wrong = prepare(
    db,
    "SELECT count(*) AS n FROM id_fa_mappings WHERE fa_value NOT LIKE 'account_number:' || (7000000000 + CAST(substr(id_value, 2) AS INTEGER)) || '.%'",
  ).get() as { n: number };
  db.close();
  expect({ mappings: mappings.n, links: links.n, linkedIds: links.ids, otherChanges: other.n, wrongFa: wrong.n }).toEqual({
    mappings: RECORDS,
    links: RECORDS,
    linkedIds: RECORDS,
    otherChanges: 0,
    wrongFa: 0,
  });
}

/** Rows in the mapper now (0 when the file does not exist yet). */
function rowsIn(dbPath: string): number {
  try {
    const db = openDatabase(dbPath, { readonly: true, fileMustExist: true });
    const { n } = prepare(db, 'SELECT count(*) AS n FROM id_fa_mappings').get() as { n: number };
    db.close();
    return n;
  } catch {
    return 0;
  }
}

/**
 * Kills the same command KILLS times at random instants after it starts writing (later kills
 * wait longer), then lets it finish. Returns how many kills left the
 * mapper part-way: some records applied, not all.
 */
async function crashAndResume(args: string[], env: Record<string, string>, dbPath: string): Promise<{ midRun: number }> {
  let midRun = 0;
  // Up to twice KILLS attempts: a run may finish, or be killed after its last record.
  for (let i = 0; i < KILLS * 2 && (i < KILLS || midRun === 0); i++) {
    const delay = Math.floor(Math.random() * (100 + i * 100));
    const ended = await killAfter(args, env, delay, dbPath);
    if (ended.signal !== 'SIGKILL') {
      // It finished before the kill: the job is done (a further run would be a new job).
      expect(ended.code).toBe(0);
      return { midRun };
    }
    const rows = rowsIn(dbPath);
    if (rows > 0 && rows < RECORDS) midRun++;
    // Killed after the last record, possibly after the job had closed its journal: it is done,
    // and a further run would be a new job (finding every ID already linked).
    if (rows === RECORDS) return { midRun };
  }
  const final = await runCli(args, { env });
  expect({ code: final.code, stderr: final.code === 0 ? '' : final.stderr }).toEqual({ code: 0, stderr: '' });
  return { midRun };
}

describe('kill -9 at random points, then resume', () => {
  // The local mapper's kill -9 histories are the torture test's (torture-local.test.ts).
  it('remote, against `sparctl serve`: every record linked exactly once', async () => {
    const dir = tempDir();
    const file = bigCsv(dir);
    const servedDb = join(dir, 'served.db');
    const server = cliEnv();
    const serve = spawn(process.execPath, [BIN, '--create', '--db', servedDb, 'serve', '--port', '0', '-q'], {
      ...SERVER_SPAWN_LIMIT,
      env: server.env,
      cwd: ROOT,
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    children.push(serve);
    const url = await new Promise<string>((resolve, reject) => {
      let text = '';
      serve.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
        text += chunk;
        const match = /listening on (\S+) /.exec(text);
        if (match) resolve(match[1]!);
      });
      serve.on('exit', () => reject(new Error(text)));
    });
    const { env } = cliEnv({ SPARCTL_BASE_URL: url });
    const args = ['link', '--file', file, '--batch-size', '10', '--concurrency', '2', '--rejects', join(dir, 'rejects.csv')];
    const { midRun } = await crashAndResume(args, env, servedDb);
    expect(midRun).toBeGreaterThan(0);
    serve.kill('SIGTERM');
    await new Promise((resolve) => serve.on('exit', resolve));
    checkExactlyOnce(servedDb);
  });

  it('a journal never vouches for a database that was deleted and created anew', async () => {
    const dir = tempDir();
    const file = bigCsv(dir);
    const db = join(dir, 'mapper.db');
    const { env } = cliEnv();
    const args = [
      '--create',
      '--db',
      db,
      'link',
      '--file',
      file,
      '--batch-size',
      '4',
      '--concurrency',
      '1',
      '--rejects',
      join(dir, 'rejects.csv'),
    ];
    const killed = await killMidRun(args, env, db);
    expect(killed.signal).toBe('SIGKILL');
    expect(rowsIn(db)).toBeLessThan(RECORDS);
    const { rmSync } = await import('node:fs');
    for (const suffix of ['', '-wal', '-shm']) rmSync(`${db}${suffix}`, { force: true });
    const again = await runCli(args, { env });
    expect(again.code).toBe(0);
    expect(again.stderr).not.toMatch(/resumed from an earlier run/);
    checkExactlyOnce(db);
  });
});
