import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, chownSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
// Through retained.ts: on Node 24 a collected better-sqlite3 object aborts the test process.
import { openDatabase, prepare, setPragma } from '../../src/adapters/sqlite/retained.js';
import { BIN, cliEnv, ROOT, outputOf, runCli, SPAWN_LIMIT, type CliResult } from '../helpers/run-cli.js';
import { runMain } from '../helpers/run-main.js';
import { bankFlags } from '../helpers/records.js';
import { tempDir } from '../helpers/tmp.js';

/**
 * The local mapper file a command is pointed at, when it is not a plain mapper: an empty file, a
 * newer sparctl's database, a folder, an empty --db, a folder the user may not write in, a
 * database another process holds locked. Each is one line naming the path with the README's exit
 * code — never "internal error" — and the file is left as it was.
 */

const sha256 = (path: string) => createHash('sha256').update(readFileSync(path)).digest('hex');
const lines = (text: string) => text.split('\n').filter((line) => line !== '');
const CSV = 'id,fa_type,bank_name,bank_code,branch_name,branch_code,account_number\nC1,BANK,X,EXB,Main,0001,5\nC2,BANK,X,EXB,Main,0001,6\n';

function ids(db: string): unknown[] {
  const handle = openDatabase(db, { readonly: true, fileMustExist: true });
  try {
    return prepare(handle, 'SELECT id_value FROM id_fa_mappings ORDER BY id_value').pluck().all();
  } finally {
    handle.close();
  }
}

function expectNoInternalError(run: CliResult): void {
  expect(run.stderr).not.toContain('internal');
  expect(run.stderr).not.toContain('[internal]');
}

describe('an empty file is not a mapper', () => {
  it('a named empty file is refused (local.no_mapper) by reads, writes and dry runs, unchanged; --create and init make it one', async () => {
    const { env } = cliEnv();
    const dir = tempDir();
    const empty = join(dir, 'empty.csv');
    writeFileSync(empty, '');
    const attempts = [
      ['resolve', 'X'],
      ['link', '--id', 'B1', ...bankFlags('1')],
      ['link', '--id', 'B1', ...bankFlags('1'), '--dry-run'],
      ['update', '--id', 'B1', ...bankFlags('1')],
      ['dfsp', 'list'],
      ['ping'],
      ['--create', 'resolve', 'X'], // --create makes nothing for a read
    ];
    const runs = await Promise.all(attempts.map((args) => runMain(['--db', empty, ...args], { env, cwd: dir })));
    runs.forEach((run, i) => {
      expect({ args: attempts[i], code: run.code }).toEqual({ args: attempts[i], code: 2 });
      expect(lines(run.stderr)[1]).toMatch(
        new RegExp(
          `^sparctl: error \\[local\\.no_mapper\\]: no mapper at ${empty.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: the file is empty \\(`,
        ),
      );
    });
    expect(statSync(empty).size).toBe(0);
    expect(readdirSync(dir)).toEqual(['empty.csv']);

    const created = await runMain(['--db', empty, '--create', 'link', '--id', 'B1', ...bankFlags('1')], { env, cwd: dir });
    expect(created.code, created.stderr).toBe(0);
    expect(ids(empty)).toEqual(['B1']);
    expect(statSync(empty).mode & 0o777).toBe(0o600);
    const other = join(dir, 'other.db');
    writeFileSync(other, '');
    const init = await runMain(['init', '--db', other], { env, cwd: dir });
    expect(init.code, init.stderr).toBe(0);
    expect(lines(init.stderr)[1]).toBe(`created an empty mapper at ${other}`);
    expect(ids(other)).toEqual([]);
  });

  it('an empty file at the default path reads as an empty mapper, unchanged, and the first write makes it one', async () => {
    const { env, dataDb } = cliEnv();
    mkdirSync(join(dataDb, '..'), { recursive: true });
    writeFileSync(dataDb, '');
    const read = await runMain(['resolve', 'X', '-o', 'json'], { env });
    expect(read.code, read.stderr).toBe(0);
    expect(JSON.parse(read.stdout).results[0]).toMatchObject({ id: 'X', outcome: 'not_found' });
    expect(statSync(dataDb).size).toBe(0);
    const dfsp = await runMain(['dfsp', 'list', '-o', 'json'], { env });
    expect(dfsp.code, dfsp.stderr).toBe(0);
    expect(statSync(dataDb).size).toBe(0);
    // A new named mapper made by an import (--create): its DFSP look-up finds none, and is no refusal.
    const fresh = join(dataDb, '..', 'fresh.db');
    const imported = await runMain(
      [
        '--db',
        fresh,
        '--create',
        'import-csv',
        join(ROOT, 'fixtures', 'enumeration.csv'),
        '--mapping',
        join(ROOT, 'fixtures', 'enumeration.mapping.json'),
      ],
      // Not the repository: its default reject file goes to the current folder.
      { env, cwd: tempDir() },
    );
    expect(imported.stderr).not.toMatch(/local\.no_mapper/);
    expect(statSync(fresh).size).toBeGreaterThan(0);
    const write = await runMain(['link', '--id', 'D1', ...bankFlags('1')], { env });
    expect(write.code, write.stderr).toBe(0);
    expect(ids(dataDb)).toEqual(['D1']);
  });
});

describe('a database from a newer sparctl', () => {
  it('is refused (local.schema_too_new, exit 3) byte for byte as it was: journal mode kept, no -wal or -shm', async () => {
    const { env } = cliEnv();
    const dir = tempDir();
    const db = join(dir, 'newer.db');
    expect((await runMain(['init', '--db', db], { env, cwd: dir })).code).toBe(0);
    const handle = openDatabase(db);
    setPragma(handle, 'journal_mode = DELETE');
    setPragma(handle, 'user_version = 99');
    handle.close();
    const bytes = sha256(db);
    const attempts = [
      ['resolve', 'X'],
      ['link', '--id', 'B1', ...bankFlags('1')],
      ['link', '--id', 'B1', ...bankFlags('1'), '--dry-run'],
      ['dfsp', 'list'],
      ['init'],
    ];
    const runs: CliResult[] = [];
    for (const args of attempts) runs.push(await runMain(['--db', db, ...args], { env, cwd: dir }));
    expect(sha256(db)).toBe(bytes);
    expect(readdirSync(dir)).toEqual(['newer.db']);
    runs.forEach((run, i) => {
      expect({ args: attempts[i], code: run.code }).toEqual({ args: attempts[i], code: 3 });
      expect(lines(run.stderr)[1]).toBe(
        `sparctl: error [local.schema_too_new]: ${db} has schema version 99, newer than this sparctl understands (2); nothing was changed (upgrade sparctl, or point --db at another file)`,
      );
    });
  });
});

describe('--db that names no file', () => {
  it('a folder is local.db_unusable naming it; an empty --db is a usage error; neither is an internal error', async () => {
    const { env } = cliEnv();
    const dir = tempDir();
    const runs = await Promise.all([
      runMain(['--db', '.', 'resolve', 'X'], { env, cwd: dir }),
      runMain(['--db', dir, 'link', '--id', 'B1', ...bankFlags('1')], { env, cwd: dir }),
      runMain(['--db', '', 'resolve', 'X'], { env, cwd: dir }),
      runMain(['--db', '', 'link', '--id', 'B1', ...bankFlags('1')], { env, cwd: dir }),
    ]);
    for (const run of runs.slice(0, 2)) {
      expect(run.code, run.stderr).toBe(3);
      expect(lines(run.stderr)[1]).toBe(
        `sparctl: error [local.db_unusable]: ${dir} is a folder, not a database file (EISDIR) (name the database file itself, e.g. --db mapper.db)`,
      );
    }
    for (const run of runs.slice(2)) {
      expect(run.code, run.stderr).toBe(2);
      expect(run.stderr).toContain('sparctl: error [usage.invalid_argument]: --db is empty: it must name the mapper database file');
      expectNoInternalError(run);
    }
    expect(readdirSync(dir)).toEqual([]);
  });
});

const isRoot = process.getuid?.() === 0;
const hasSetpriv = spawnSync('setpriv', ['--version'], { ...SPAWN_LIMIT, stdio: 'ignore' }).status === 0;

/** Runs the binary as a user other than root (nobody, through setpriv, when the tests run as root). */
function runAsUser(args: string[], env: Record<string, string>): Promise<CliResult> {
  const [command, prefix] = isRoot
    ? ['setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, BIN]]
    : [process.execPath, [BIN]];
  return outputOf(spawn(command, [...prefix, ...args], { ...SPAWN_LIMIT, env, cwd: '/', stdio: ['ignore', 'pipe', 'pipe'] }));
}

describe('a mapper in a folder the user may not write in', () => {
  it.runIf(process.platform === 'linux' && (!isRoot || hasSetpriv))(
    'reads and writes are local.db_unusable (exit 3) with the reason, the file unchanged',
    async () => {
      const base = tempDir();
      chmodSync(base, 0o755);
      const home = join(base, 'home');
      const folder = join(base, 'ro');
      mkdirSync(home);
      mkdirSync(folder);
      const db = join(folder, 'm.db');
      const env = { PATH: process.env['PATH'] ?? '', HOME: home, NO_COLOR: '1' };
      // The mapper (setup, in process); the attempts below are the binary's, as another user.
      const made = await runMain(['--db', db, '--create', 'link', '--id', 'B1', ...bankFlags('1')], { env });
      expect(made.code, made.stderr).toBe(0);
      expect(readdirSync(folder)).toEqual(['m.db']);
      if (isRoot) for (const path of [home, folder, db]) chownSync(path, 65534, 65534);
      chmodSync(folder, 0o555);
      const bytes = sha256(db);
      try {
        const attempts = [
          ['resolve', 'B1'],
          ['link', '--id', 'B2', ...bankFlags('2')],
          ['link', '--id', 'B2', ...bankFlags('2'), '--dry-run'],
          ['ping'],
          ['dfsp', 'list'],
          ['smoke'],
        ];
        const runs = await Promise.all(attempts.map((args) => runAsUser(['-q', '--db', db, ...args], env)));
        runs.forEach((run, i) => {
          expect({ args: attempts[i], code: run.code }).toEqual({ args: attempts[i], code: 3 });
          expect(run.stderr).toContain(
            `sparctl: error [local.db_unusable]: ${db}: cannot open the local mapper database: its folder cannot be written, and SQLite must create the database's -wal and -shm files there, even to read it (SQLITE_READONLY_DIRECTORY)`,
          );
          expectNoInternalError(run);
        });
        expect(sha256(db)).toBe(bytes);
        expect(readdirSync(folder)).toEqual(['m.db']);
      } finally {
        chmodSync(folder, 0o755); // so that the temp folder can be removed by a user other than root
      }
    },
  );
});

describe('a database another process keeps locked', () => {
  it('a --file run stops with local.busy (exit 4) after the busy timeout, keeps its journal, and the same command then finishes it', async () => {
    const { env } = cliEnv();
    const dir = tempDir();
    const db = join(dir, 'm.db');
    writeFileSync(join(dir, 'b.csv'), CSV);
    expect((await runMain(['init', '--db', db], { env, cwd: dir })).code).toBe(0);
    // Another process in a write transaction until its stdin is closed.
    const holder = spawn(
      process.execPath,
      [
        '-e',
        "const db = new (require('better-sqlite3'))(process.argv[1]); db.exec('BEGIN IMMEDIATE'); process.stdout.write('locked\\n');" +
          " process.stdin.on('data', () => {}).on('end', () => { db.exec('COMMIT'); db.close(); process.exit(0); });",
        db,
      ],
      { ...SPAWN_LIMIT, cwd: ROOT, stdio: ['pipe', 'pipe', 'inherit'] },
    );
    const exited = new Promise((resolve) => holder.on('close', resolve));
    await new Promise<void>((resolve, reject) => {
      holder.stdout.setEncoding('utf8').on('data', (chunk: string) => chunk.includes('locked') && resolve());
      holder.on('error', reject);
    });
    let stopped: CliResult;
    try {
      stopped = await runCli(['--db', db, 'link', '--file', 'b.csv'], { env, cwd: dir });
    } finally {
      holder.stdin.end();
      await exited;
    }
    expect(stopped.code, stopped.stderr).toBe(4);
    expectNoInternalError(stopped);
    expect(stopped.stderr).toContain(
      `sparctl: error [local.busy]: ${db}: the database is locked: another process holds its write lock and did not release it within 10 s (SQLITE_BUSY); what waited for it was not written`,
    );
    expect(stopped.stderr).toContain('run the same command again to resume');
    expect(ids(db)).toEqual([]);
    const again = await runCli(['--db', db, 'link', '--file', 'b.csv'], { env, cwd: dir });
    expect(again.code, again.stderr).toBe(0);
    expect(ids(db)).toEqual(['C1', 'C2']);
    expect(existsSync(join(dir, 'b.csv'))).toBe(true);
  }, 60_000);
});
