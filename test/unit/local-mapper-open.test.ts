import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { linkSync, readdirSync, readFileSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DfspStore } from '../../src/adapters/sqlite/dfsp-store.js';
import { LocalMapper } from '../../src/adapters/sqlite/local-mapper.js';
// Through retained.ts: on Node 24 a collected better-sqlite3 object aborts the test process.
import { openDatabase, prepare, setPragma } from '../../src/adapters/sqlite/retained.js';
import { SCHEMA_VERSION } from '../../src/adapters/sqlite/schema.js';
import { ConfigError, UnavailableError, UsageError } from '../../src/core/errors.js';
import { rejectedWith, thrownBy } from '../helpers/errors.js';
import { bank } from '../helpers/records.js';
import { ROOT, SPAWN_LIMIT } from '../helpers/run-cli.js';
import { tempDir } from '../helpers/tmp.js';

/**
 * Opening a local mapper file: what is not a mapper yet is made one only when the caller lets it
 * (`create`), a file from a newer sparctl is refused before a byte of it changes, a folder is
 * `local.db_unusable`, and a lock another process holds too long is `local.busy` (exit 4), never
 * an internal error.
 */

const ctx = { source: 'test' };
const sha256 = (path: string) => createHash('sha256').update(readFileSync(path)).digest('hex');
const item = (id: string, account: string) => ({ reference_id: `ref-${id}-${account}`, id, fa: bank(account) });

/** The mapper's own connection, to shorten its busy timeout: the default 10 s is the e2e test's to wait out. */
const connectionOf = (owner: LocalMapper | DfspStore) => (owner as unknown as { db: ReturnType<typeof openDatabase> }).db;

describe('LocalMapper.open: a path with no mapper in it', () => {
  it('an empty file is refused with create: false and left as it was; a dry run reads it as an empty mapper; create makes one', async () => {
    const dir = tempDir();
    const empty = join(dir, 'empty.csv');
    writeFileSync(empty, '');
    const refused = thrownBy(UsageError, () => LocalMapper.open(empty, undefined, { create: false }));
    expect(refused).toMatchObject({ code: 'local.no_mapper', exitCode: 2 });
    expect(refused.message).toBe(`no mapper at ${empty}: the file is empty`);
    // A dry run, and the DFSP tables a dry run reads, stand in an empty mapper and write nothing.
    const dry = LocalMapper.open(empty, undefined, { readOnly: true });
    expect(dry.countMappings()).toBe(0);
    await dry.close();
    const store = DfspStore.open(empty, { readOnly: true });
    expect(store.read()).toEqual({ banks: [], branches: [], wallet_providers: [] });
    store.close();
    expect(statSync(empty).size).toBe(0);
    expect(readdirSync(dir)).toEqual(['empty.csv']);

    const made = LocalMapper.open(empty);
    await made.link([item('E1', '1')], ctx);
    await made.close();
    expect(statSync(empty).size).toBeGreaterThan(0);
  });

  it('an SQLite file without tables, and a missing file, are refused with create: false, unchanged', () => {
    const dir = tempDir();
    const bare = join(dir, 'bare.db');
    const handle = openDatabase(bare);
    setPragma(handle, 'journal_mode = DELETE');
    setPragma(handle, 'user_version = 0');
    handle.exec('CREATE TABLE t (x); DROP TABLE t');
    handle.close();
    const bytes = sha256(bare);
    expect(thrownBy(UsageError, () => LocalMapper.open(bare, undefined, { create: false })).message).toBe(
      `no mapper at ${bare}: it is an SQLite database without tables`,
    );
    expect(thrownBy(UsageError, () => LocalMapper.open(join(dir, 'missing.db'), undefined, { create: false })).code).toBe(
      'local.no_mapper',
    );
    expect(sha256(bare)).toBe(bytes);
    expect(readdirSync(dir)).toEqual(['bare.db']);
  });
});

describe('LocalMapper.open: a database a newer sparctl made', () => {
  it('is refused (local.schema_too_new) before anything in it changes: same bytes, still DELETE mode, no -wal or -shm', async () => {
    const dir = tempDir();
    const path = join(dir, 'newer.db');
    const mapper = LocalMapper.open(path);
    await mapper.link([item('N1', '1')], ctx);
    await mapper.close();
    const handle = openDatabase(path);
    setPragma(handle, 'journal_mode = DELETE');
    setPragma(handle, 'user_version = 99');
    handle.close();
    const bytes = sha256(path);
    const errors = [
      () => LocalMapper.open(path),
      () => LocalMapper.open(path, undefined, { create: false }),
      () => LocalMapper.open(path, undefined, { readOnly: true }),
      () => DfspStore.open(path),
      () => DfspStore.open(path, { readOnly: true }),
    ].map((open) => thrownBy(ConfigError, open));
    expect(sha256(path)).toBe(bytes);
    expect(readdirSync(dir)).toEqual(['newer.db']);
    const check = openDatabase(path, { readonly: true });
    expect(prepare(check, 'PRAGMA journal_mode').pluck().get()).toBe('delete');
    check.close();
    for (const error of errors) {
      expect(error.code).toBe('local.schema_too_new');
      expect(error.message).toBe(`${path} has schema version 99, newer than this sparctl understands (2); nothing was changed`);
    }
  });
});

describe('LocalMapper.open: a path SQLite cannot use', () => {
  it('a folder is local.db_unusable naming it, never an internal error', () => {
    const dir = tempDir();
    for (const open of [() => LocalMapper.open(dir), () => LocalMapper.open(dir, undefined, { readOnly: true })]) {
      const error = thrownBy(ConfigError, open);
      expect(error).toMatchObject({ code: 'local.db_unusable', exitCode: 3 });
      expect(error.message).toBe(`${dir} is a folder, not a database file (EISDIR)`);
    }
    expect(thrownBy(ConfigError, () => DfspStore.open(dir, { readOnly: true })).code).toBe('local.db_unusable');
    expect(readdirSync(dir)).toEqual([]);
  });

  it('a file with two names (a hard link) is refused through either, read or write, before SQLite opens it', async () => {
    // Each name would get its own -wal: two imports through two names corrupted the file and lost links.
    const dir = tempDir();
    const path = join(dir, 'mapper.db');
    const mapper = LocalMapper.open(path);
    await mapper.link([item('H1', '1')], ctx);
    await mapper.close();
    const other = join(dir, 'other.db');
    linkSync(path, other);
    const before = sha256(path);
    for (const name of [path, other])
      for (const open of [
        () => LocalMapper.open(name),
        () => LocalMapper.open(name, undefined, { readOnly: true }),
        () => DfspStore.open(name, { readOnly: true }),
        () => DfspStore.readTables(name),
      ]) {
        const error = thrownBy(ConfigError, open);
        expect(error).toMatchObject({ code: 'local.db_unusable', exitCode: 3 });
        expect(error.message).toBe(
          `${name} has 2 names (hard links); SQLite keeps a database's write-ahead log by name, so using it through more than one name corrupts it; nothing was opened`,
        );
      }
    expect(sha256(path)).toBe(before);
    expect(readdirSync(dir).sort()).toEqual(['mapper.db', 'other.db']);
    // One name again: it opens, with what it held.
    unlinkSync(other);
    const again = LocalMapper.open(path);
    expect(again.storedFa('H1')).toContain('account_number:1.');
    await again.close();
  });
});

describe('a database locked by another writer', () => {
  it('writes that wait past the busy timeout are local.busy (exit 4), and go through once the lock is gone', async () => {
    const dir = tempDir();
    const path = join(dir, 'mapper.db');
    const mapper = LocalMapper.open(path);
    await mapper.link([item('L1', '1')], ctx);
    setPragma(connectionOf(mapper), 'busy_timeout = 50');
    // Another connection (another process, as far as SQLite's locks go) in a write transaction.
    const other = openDatabase(path);
    other.exec('BEGIN IMMEDIATE');
    try {
      for (const write of [
        () => mapper.update([item('L1', '2')], ctx),
        () => mapper.link([item('L2', '3')], ctx),
        () => mapper.unlink([{ reference_id: 'u', id: 'L1' }], ctx),
      ]) {
        const error = await rejectedWith(UnavailableError, write);
        expect(error).toMatchObject({ code: 'local.busy', exitCode: 4 });
        expect(error.message).toBe(
          `${path}: the database is locked: another process holds its write lock and did not release it within 10 s (SQLITE_BUSY); what waited for it was not written`,
        );
      }
      // Reads are not held up by a writer (WAL).
      expect(await mapper.resolve([{ reference_id: 'r', id: 'L1', scope: 'details' }])).toMatchObject([
        { status: 'succ', status_reason_code: 'succ.id.active' },
      ]);
    } finally {
      other.exec('COMMIT');
      other.close();
    }
    expect(await mapper.update([item('L1', '2')], ctx)).toMatchObject([{ status: 'succ' }]);
    expect(mapper.storedFa('L1')).toContain('account_number:2.');
    await mapper.close();
  });

  it('a new file another process is writing at that instant waits for it: not local.busy at once', async () => {
    // Two processes opening one new file at once: one holds the write lock as the other asks to
    // switch the file to WAL. SQLite refuses that switch at once, without its busy handler (the
    // asker already reads), and 1 in 6 such pairs failed with a "waited 10 s" that never happened.
    const path = join(tempDir(), 'mapper.db');
    writeFileSync(path, '');
    const holder = spawn(
      process.execPath,
      [
        '-e',
        `const Database = require(${JSON.stringify(join(ROOT, 'node_modules', 'better-sqlite3'))});
         const db = new Database(process.argv[1]);
         db.exec('BEGIN IMMEDIATE');
         process.stdout.write('held\\n');
         setTimeout(() => { db.exec('COMMIT'); db.close(); }, 300);`,
        path,
      ],
      { ...SPAWN_LIMIT, stdio: ['ignore', 'pipe', 'inherit'] },
    );
    const exited = new Promise((resolve) => holder.once('exit', resolve));
    await new Promise<void>((resolve, reject) => {
      holder.stdout.once('data', () => resolve());
      holder.once('exit', (code) => reject(new Error(`the lock holder exited ${code} before holding the lock`)));
    });
    const started = Date.now();
    const mapper = LocalMapper.open(path);
    // It waited for the other process, rather than failing as it asked.
    expect(Date.now() - started).toBeGreaterThanOrEqual(100);
    expect(mapper.made).toBe(true);
    expect(await mapper.link([item('N1', '1')], ctx)).toMatchObject([{ status: 'succ' }]);
    await mapper.close();
    await exited;
  });

  it('strategy add and dfsp import under the lock are local.busy too', () => {
    const row = {
      id: 9,
      strategy_type: 'FA',
      construct_strategy: 'n:{account_number}',
      deconstruct_strategy: '^n:(?P<account_number>.*)$',
      description: '',
      active: true,
    } as const;
    const data = { banks: [{ code: 'EXB', name: 'Example Bank' }], branches: [], wallet_providers: [] };
    const writers = [
      (path: string) => {
        const mapper = LocalMapper.open(path);
        return { handle: mapper, write: () => mapper.addStrategies([row]), close: () => void mapper.close() };
      },
      (path: string) => {
        const store = DfspStore.open(path);
        return { handle: store, write: () => store.import(data), close: () => store.close() };
      },
    ];
    for (const open of writers) {
      const path = join(tempDir(), 'mapper.db');
      const writer = open(path);
      setPragma(connectionOf(writer.handle), 'busy_timeout = 50');
      const other = openDatabase(path);
      other.exec('BEGIN IMMEDIATE');
      try {
        expect(thrownBy(UnavailableError, writer.write).code).toBe('local.busy');
      } finally {
        other.exec('COMMIT');
        other.close();
        writer.close();
      }
    }
  });
});

describe('a read-only open (dry runs, reads of the DFSP tables) of a WAL mapper leaves its folder as it found it', () => {
  /** The folder's files, each with its size, modification time and bytes' digest. */
  const listing = (dir: string) =>
    readdirSync(dir)
      .sort()
      .map((name) => `${name} ${statSync(join(dir, name)).size} ${statSync(join(dir, name)).mtimeMs} ${sha256(join(dir, name))}`);
  const made = async () => {
    const dir = tempDir();
    const path = join(dir, 'mapper.db');
    const mapper = LocalMapper.open(path);
    await mapper.link([item('W1', '1')], ctx);
    await mapper.close();
    const check = openDatabase(path, { readonly: true });
    expect(prepare(check, 'PRAGMA journal_mode').pluck().get()).toBe('wal');
    check.close();
    // (That look left the -wal and -shm a read-only connection makes: the mapper's next close removes them.)
    await LocalMapper.open(path).close();
    expect(readdirSync(dir)).toEqual(['mapper.db']);
    return { dir, path };
  };

  it('no -wal or -shm left, the database byte-identical with its time, whichever way it is opened', async () => {
    const { dir, path } = await made();
    const before = listing(dir);
    const dry = LocalMapper.open(path, undefined, { readOnly: true });
    expect(await dry.resolve([{ reference_id: 'r', id: 'W1', scope: 'details' }])).toMatchObject([
      { status_reason_code: 'succ.id.active' },
    ]);
    // SQLite refuses every write on it.
    await expect(dry.link([item('W2', '2')], ctx)).rejects.toThrow(/readonly/);
    await dry.close();
    expect(listing(dir)).toEqual(before);
    const store = DfspStore.open(path, { readOnly: true });
    store.read();
    store.close();
    expect(DfspStore.readTables(path)).toEqual({ banks: [], branches: [], wallet_providers: [] });
    expect(listing(dir)).toEqual(before);
  });

  it('the empty -wal and the -shm a killed dry run left are removed by the next one, the database untouched', async () => {
    const { dir, path } = await made();
    const before = listing(dir);
    // A read-only connection that never closed as sparctl closes it (a kill -9 mid-dry-run).
    const killed = openDatabase(path, { readonly: true });
    prepare(killed, 'SELECT count(*) FROM id_fa_mappings').pluck().get();
    killed.close();
    expect(readdirSync(dir).sort()).toEqual(['mapper.db', 'mapper.db-shm', 'mapper.db-wal']);
    expect(statSync(`${path}-wal`).size).toBe(0);
    const dry = LocalMapper.open(path, undefined, { readOnly: true });
    expect(dry.countMappings()).toBe(1);
    await dry.close();
    expect(listing(dir)).toEqual(before);
  });

  it('sees what another connection writes meanwhile, and leaves the -wal and -shm to it while it is open', async () => {
    const { dir, path } = await made();
    const dry = LocalMapper.open(path, undefined, { readOnly: true });
    const writer = LocalMapper.open(path);
    await writer.link([item('W2', '2')], ctx);
    expect(await dry.resolve([{ reference_id: 'r', id: 'W2', scope: 'yes_no' }])).toMatchObject([{ status_reason_code: 'succ.id.active' }]);
    await dry.close();
    // The writer is still open: its files stay, and it goes on writing.
    expect(readdirSync(dir).sort()).toEqual(['mapper.db', 'mapper.db-shm', 'mapper.db-wal']);
    await writer.link([item('W3', '3')], ctx);
    await writer.close();
    expect(readdirSync(dir)).toEqual(['mapper.db']);
    const again = LocalMapper.open(path, undefined, { readOnly: true });
    expect(['W1', 'W2', 'W3'].map((id) => again.storedFa(id) !== undefined)).toEqual([true, true, true]);
    await again.close();
    expect(readdirSync(dir)).toEqual(['mapper.db']);
  });

  it('a writer that closed first: its writes are kept when the read-only connection closes last', async () => {
    const { dir, path } = await made();
    const dry = LocalMapper.open(path, undefined, { readOnly: true });
    const writer = LocalMapper.open(path);
    await writer.link([item('W4', '4')], ctx);
    await writer.close();
    expect(dry.storedFa('W4')).toContain('account_number:4.');
    await dry.close();
    expect(readdirSync(dir)).toEqual(['mapper.db']);
    const check = LocalMapper.open(path, undefined, { readOnly: true });
    expect(check.storedFa('W4')).toContain('account_number:4.');
    expect(check.countMappings()).toBe(2);
    await check.close();
  });

  it('a file a dry run refuses (an older schema) is closed and left as it was', async () => {
    const { dir, path } = await made();
    const handle = openDatabase(path);
    handle.exec('DROP TRIGGER id_fa_mappings_source_digest_stale; ALTER TABLE id_fa_mappings DROP COLUMN source_digest');
    setPragma(handle, 'user_version = 1');
    handle.close();
    const before = listing(dir);
    expect(thrownBy(ConfigError, () => LocalMapper.open(path, undefined, { readOnly: true })).code).toBe('local.needs_upgrade');
    // The DFSP tables are read as they are, without the upgrade a write would make: by a list,
    // and by a dry run of dfsp import or remove (the tables are the same in every schema).
    expect(DfspStore.readTables(path)).toEqual({ banks: [], branches: [], wallet_providers: [] });
    const dry = DfspStore.open(path, { readOnly: true });
    expect(dry.read()).toEqual({ banks: [], branches: [], wallet_providers: [] });
    dry.close();
    expect(listing(dir)).toEqual(before);
    // A newer schema is still refused.
    const newer = openDatabase(path);
    setPragma(newer, `user_version = ${SCHEMA_VERSION + 1}`);
    newer.close();
    expect(thrownBy(ConfigError, () => DfspStore.open(path, { readOnly: true })).code).toBe('local.schema_too_new');
  });
});

describe('LocalMapper.open: durable writes', () => {
  it('syncs its WAL at every commit (synchronous FULL), reopened too: better-sqlite3 reopens a WAL file as NORMAL', async () => {
    const path = join(tempDir(), 'm.db');
    const made = LocalMapper.open(path, undefined, { create: true });
    await made.link([item('D1', '001')], ctx);
    await made.close();
    const reopened = LocalMapper.open(path);
    try {
      expect(prepare(connectionOf(reopened), 'PRAGMA journal_mode').pluck().get()).toBe('wal');
      expect(prepare(connectionOf(reopened), 'PRAGMA synchronous').pluck().get()).toBe(2);
    } finally {
      await reopened.close();
    }
  });
});
