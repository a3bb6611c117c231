import { existsSync, statSync } from 'node:fs';
import Database from 'better-sqlite3';
import { ConfigError } from '../../core/errors.js';
import { pauseSync } from '../pause.js';

/**
 * better-sqlite3 12 wraps its objects in node::ObjectWrap, whose destructor on Node 24 asserts
 * that a Node environment is current. V8 may collect an unreachable Statement or Database from
 * a GC that runs with none (a microtask checkpoint, or teardown), and the process aborts
 * (SIGABRT, "Assertion failed: (env) != nullptr"). better-sqlite3 13 fixes it but no longer
 * supports Node 20, so every object is kept reachable for the life of the process instead:
 * a CLI run or a server opens a handful, and nothing is ever collected.
 */
const RETAINED: object[] = [];

export function openDatabase(path: string, options?: Database.Options): Database.Database {
  const tidy = options?.readonly === true && path !== ':memory:' && path !== '' && nothingToFold(path);
  let db: Database.Database;
  try {
    db = new Database(path, options);
  } catch (error) {
    throw notLoadable(error) ?? error;
  }
  RETAINED.push(db);
  if (tidy) TIDIED.set(db, path);
  return db;
}

/**
 * Read-only connections opened where neither PATH-wal nor PATH-shm was (or an empty -wal was,
 * nothingToFold): SQLite makes both for
 * any reader of a WAL database, read-only included, but only a connection that can write may
 * checkpoint, and only a checkpoint on the last close removes them — a read-only one leaves them
 * behind for good (a dry run or a check that "wrote nothing" left two files by the database).
 */
const TIDIED = new Map<Database.Database, string>();

const companionsOf = (path: string): string[] => [`${path}-wal`, `${path}-shm`];

/**
 * Neither companion is there, or the -wal is empty: what a read-only connection killed before
 * its close (a dry run's kill -9) leaves. Removing those folds nothing into the database; a
 * -wal with frames in it is a writer's, and stays for a connection that may write.
 */
function nothingToFold(path: string): boolean {
  try {
    const wal = statSync(`${path}-wal`, { throwIfNoEntry: false });
    return wal === undefined ? !existsSync(`${path}-shm`) : wal.isFile() && wal.size === 0;
  } catch {
    return false; // not ours to look at: left as it is
  }
}

/**
 * Closes a connection. A read-only one that had SQLite make the database's -wal and -shm then
 * has them removed the way SQLite removes them: a connection that may write reads once and
 * closes, and its close — if it is the last connection to the file, and only then — checkpoints
 * (nothing: a reader wrote no frames; another process's, if it wrote and closed meanwhile, go
 * into the database as at its own last close) and deletes both. While another process has the
 * file open they are left to it, as SQLite leaves them. Best effort: a file this user may not
 * write (SQLite then opens it read-only), or one gone or replaced meanwhile, keeps what it has.
 */
export function closeDatabase(db: Database.Database): void {
  if (db.open) db.close();
  const path = TIDIED.get(db);
  if (path === undefined) return;
  TIDIED.delete(db);
  if (!companionsOf(path).some(existsSync)) return;
  let closer: Database.Database | undefined;
  try {
    closer = openDatabase(path, { fileMustExist: true });
    prepare(closer, 'SELECT count(*) FROM sqlite_master').pluck().get();
  } catch {
    // Left as they are: they do no harm, and the next connection that may write removes them.
  } finally {
    if (closer?.open) closer.close();
  }
}

export function prepare(db: Database.Database, sql: string): Database.Statement {
  const statement = db.prepare(sql);
  RETAINED.push(statement);
  return statement;
}

/** Sets a pragma without the throwaway statement db.pragma() would create. */
export function setPragma(db: Database.Database, assignment: string): void {
  db.exec(`PRAGMA ${assignment}`);
}

/**
 * A mapper's writes reach the disk before the call that made them returns (synchronous FULL: the
 * WAL is synced at every commit). better-sqlite3 builds with SQLITE_DEFAULT_WAL_SYNCHRONOUS=1, so
 * a WAL database reopened was NORMAL: a power cut or a disk error could lose commits the run had
 * already recorded as settled in its journal, which a resume then trusts (a beneficiary left
 * unpaid, silently). Measured: 100,000 local links 2.12-2.33 s either way on this VM's ext4.
 */
export function makeDurable(db: Database.Database, waitMs: number): void {
  // Switching a new file to WAL takes its exclusive lock. Two processes opening one new file at
  // once each hold a read lock as they ask for it, so SQLite refuses one at once instead of
  // calling its busy handler (waiting could deadlock): that one lets go and asks again a moment
  // later, as the busy handler would have (1 in 6 pairs of opens of a new file failed at once).
  const giveUpAt = Date.now() + waitMs;
  try {
    for (;;) {
      // The busy handler waits only what is left of `waitMs`: a refusal at 9.9 s then a full
      // wait would make 20 s of a "10 s" message.
      setPragma(db, `busy_timeout = ${Math.max(0, giveUpAt - Date.now())}`);
      try {
        setPragma(db, 'journal_mode = WAL');
        break;
      } catch (error) {
        if ((error as { code?: unknown }).code !== 'SQLITE_BUSY' || Date.now() >= giveUpAt) throw error;
        pauseSync(5 + Math.floor(Math.random() * 25));
      }
    }
  } finally {
    setPragma(db, `busy_timeout = ${waitMs}`);
  }
  setPragma(db, 'synchronous = FULL');
}

let loads = false;

/**
 * Throws install.sqlite_unloadable now, before the caller makes a database or journal file that
 * SQLite would then fail to open (an empty file left behind read as "no mapper" afterwards).
 */
export function assertSqliteLoads(): void {
  if (loads) return;
  openDatabase(':memory:');
  loads = true;
}

/**
 * better-sqlite3's compiled part, loaded at the first open, that this Node cannot load: built for
 * another Node (sparctl installed, then Node changed under it by nvm or an upgrade) or never built.
 * Not a bug of sparctl's, and nothing was done: one line that says how to fix the installation.
 */
export function notLoadable(error: unknown): ConfigError | undefined {
  const message = error instanceof Error ? error.message : '';
  const code = (error as { code?: string } | undefined)?.code;
  if (code !== 'ERR_DLOPEN_FAILED' && !message.startsWith('Could not locate the bindings file')) return undefined;
  const versions = /NODE_MODULE_VERSION (\d+)\. This version of Node\.js requires\s+NODE_MODULE_VERSION (\d+)/.exec(message);
  const why = versions
    ? `it was built for another Node.js (module version ${versions[1]}; Node ${process.versions.node} needs ${versions[2]})`
    : code === 'ERR_DLOPEN_FAILED'
      ? `the system refused it (${message.split('\n')[0]})`
      : 'it was never built for this system';
  return new ConfigError(
    'install.sqlite_unloadable',
    `sparctl cannot load SQLite (better-sqlite3's compiled part): ${why}; nothing was done`,
    {
      hint: 'reinstall sparctl with the Node.js that runs it (npm install -g sparctl), or run "npm rebuild better-sqlite3" in the folder it is installed in',
      cause: error,
    },
  );
}
