import { statSync } from 'node:fs';
import type Database from 'better-sqlite3';
import { ConfigError, SparctlError, UnavailableError, UsageError } from '../../core/errors.js';
import { describeFailure, duringRunError, environmentCode, isCorrupt } from '../files/fs-errors.js';
import { DEFAULT_STRATEGY_ROWS } from '../../core/strategy/strategy.js';
import { closeDatabase, openDatabase, prepare, setPragma } from './retained.js';

/**
 * The embedded mapper's schema: SPAR v2's tables (research/spar-api.md §8.1, §8.3) plus an
 * audit log. `PRAGMA user_version` holds the schema version; pending migrations run in order,
 * inside one transaction with the version bump.
 */
const MIGRATIONS: readonly ((db: Database.Database) => void)[] = [
  // 1: SPAR v2 tables, audit log, default strategies.
  (db) => {
    db.exec(`
      CREATE TABLE id_fa_mappings (
        id INTEGER PRIMARY KEY,
        id_value TEXT NOT NULL,
        fa_value TEXT NOT NULL,
        name TEXT,
        phone TEXT,
        additional_info TEXT,
        active INTEGER NOT NULL DEFAULT 1,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
      );
      CREATE UNIQUE INDEX ix_id_fa_mappings_id_value ON id_fa_mappings (id_value);

      CREATE TABLE strategy (
        id INTEGER PRIMARY KEY,
        strategy_type TEXT NOT NULL CHECK (strategy_type IN ('ID', 'FA')),
        construct_strategy TEXT NOT NULL,
        deconstruct_strategy TEXT NOT NULL,
        description TEXT,
        active INTEGER NOT NULL DEFAULT 1,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
      );

      CREATE TABLE banks (
        id INTEGER PRIMARY KEY,
        bank_mnemonic TEXT NOT NULL UNIQUE,
        bank_name TEXT NOT NULL,
        bank_code TEXT NOT NULL,
        active INTEGER NOT NULL DEFAULT 1,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
      );
      CREATE TABLE branches (
        id INTEGER PRIMARY KEY,
        branch_mnemonic TEXT NOT NULL UNIQUE,
        branch_name TEXT NOT NULL,
        branch_code TEXT NOT NULL,
        bank_id INTEGER NOT NULL,
        active INTEGER NOT NULL DEFAULT 1,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
      );
      CREATE TABLE wallet_service_providers (
        id INTEGER PRIMARY KEY,
        sp_mnemonic TEXT NOT NULL UNIQUE,
        sp_name TEXT NOT NULL,
        sp_code TEXT NOT NULL,
        wallet_type TEXT NOT NULL CHECK (wallet_type IN ('MOBILE_WALLET', 'EMAIL_WALLET')),
        active INTEGER NOT NULL DEFAULT 1,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
      );

      -- One row per change. FA values are stored only as SHA-256 hashes: the log proves what
      -- changed and when without becoming a second copy of everyone's account numbers.
      CREATE TABLE audit_log (
        id INTEGER PRIMARY KEY,
        at TEXT NOT NULL,
        operation TEXT NOT NULL CHECK (operation IN ('link', 'update', 'unlink')),
        id_value TEXT NOT NULL,
        old_fa_hash TEXT,
        new_fa_hash TEXT,
        source TEXT NOT NULL
      );
      CREATE INDEX ix_audit_log_id_value ON audit_log (id_value);

      -- instance_id: a random identity made with the file, so a journal can tell this
      -- database from one created later at the same path.
      CREATE TABLE sparctl_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
      INSERT INTO sparctl_meta (key, value) VALUES ('instance_id', lower(hex(randomblob(16))));
    `);
    const insert = prepare(
      db,
      `INSERT INTO strategy (id, strategy_type, construct_strategy, deconstruct_strategy, description, active, created_at, updated_at)
       VALUES (@id, @strategy_type, @construct_strategy, @deconstruct_strategy, @description, 1, @now, @now)`,
    );
    const now = new Date().toISOString();
    for (const row of DEFAULT_STRATEGY_ROWS) insert.run({ ...row, now });
  },
  // 2: source_digest, which input row last wrote a mapping (see local-mapper.ts storedFas). The
  // trigger keeps it honest against every writer, sparctl or not: a change to what the row holds
  // that does not set a new digest clears the old one.
  (db) => {
    db.exec(`
      ALTER TABLE id_fa_mappings ADD COLUMN source_digest TEXT;
      CREATE TRIGGER id_fa_mappings_source_digest_stale
      AFTER UPDATE OF id_value, fa_value, name, phone, additional_info, active ON id_fa_mappings
      WHEN NEW.source_digest IS NOT NULL AND NEW.source_digest IS OLD.source_digest
      BEGIN
        UPDATE id_fa_mappings SET source_digest = NULL WHERE id = NEW.id;
      END;
    `);
  },
];

export const SCHEMA_VERSION = MIGRATIONS.length;

/** Refuses a database made by a newer sparctl: called before anything is changed in the file. */
export function refuseNewerSchema(version: number, path: string): void {
  if (version <= SCHEMA_VERSION) return;
  throw new ConfigError(
    'local.schema_too_new',
    `${path} has schema version ${version}, newer than this sparctl understands (${SCHEMA_VERSION}); nothing was changed`,
    { hint: 'upgrade sparctl, or point --db at another file' },
  );
}

/** The database's schema version (0 for a new one). */
export function schemaVersion(db: Database.Database): number {
  return prepare(db, 'PRAGMA user_version').pluck().get() as number;
}

/**
 * Brings the database to SCHEMA_VERSION; refuses a database made by a newer sparctl. `readOnly`
 * (a dry run) changes nothing: a database that would need migrating is refused instead. True
 * when this call made the schema from nothing (version 0 under the write lock): of two processes
 * opening one new file at once, only that one made the mapper.
 */
export function migrate(db: Database.Database, path: string, readOnly = false): boolean {
  const versionStatement = prepare(db, 'PRAGMA user_version').pluck();
  const readVersion = () => versionStatement.get() as number;
  refuseNewerSchema(readVersion(), path);
  if (readVersion() === SCHEMA_VERSION) return false;
  if (readOnly) {
    throw new ConfigError(
      'local.needs_upgrade',
      `${path} has schema version ${readVersion()}; this sparctl upgrades it to ${SCHEMA_VERSION} on its first write, which a dry run does not make`,
      {
        hint: 'run the command without --dry-run, or any command that writes, once',
      },
    );
  }
  // The version is read again under the write lock: two processes opening a new file at once
  // must not both run the same step.
  let from = SCHEMA_VERSION;
  db.transaction(() => {
    from = readVersion();
    refuseNewerSchema(from, path);
    for (let version = from; version < SCHEMA_VERSION; version++) {
      MIGRATIONS[version]!(db);
    }
    setPragma(db, `user_version = ${SCHEMA_VERSION}`);
  }).immediate();
  return from === 0;
}

/**
 * Another connection kept the database locked past the busy timeout (SQLITE_BUSY, SQLITE_LOCKED):
 * the machine's state, not a bug, and gone once the other writer finishes — exit 4, run again
 * (a bulk run stops and keeps its journal). Undefined for any other error.
 */
export function lockedError(path: string, error: unknown): UnavailableError | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code !== 'string' || !/^SQLITE_(BUSY|LOCKED)/.test(code)) return undefined;
  return new UnavailableError(
    'local.busy',
    `${path}: the database is locked: another process holds its write lock and did not release it within ${BUSY_TIMEOUT_MS / 1000} s (${code}); what waited for it was not written`,
    { hint: 'run the same command again once the other process is done; a --file run resumes where it stopped', cause: error },
  );
}

/** How long a connection waits for another's lock before giving up (SQLITE_BUSY). */
export const BUSY_TIMEOUT_MS = 10_000;

/**
 * A database file SQLite cannot open or read, as `local.db_unusable` with the system's reason
 * (a folder, no permission, a folder it may not write in); a lock held too long as `local.busy`.
 * Anything else passes through untouched.
 */
export function unusableError(path: string, error: unknown): unknown {
  const locked = lockedError(path, error);
  if (locked !== undefined) return locked;
  const code = environmentCode(error);
  if (code === undefined) return error;
  // A full disk (or quota, or size limit) met as the file is opened — SQLite extends its -shm
  // then, even to read — is a full disk, not a path to check: its own code and exit.
  if (!isCorrupt(error)) {
    const during = duringRunError(path, 'cannot open the local mapper database', error);
    if (during instanceof SparctlError && during.code === 'disk.full') return during;
  }
  const folder = code === 'SQLITE_READONLY_DIRECTORY';
  const reason = folder
    ? // A WAL database is read through PATH-wal and PATH-shm beside it, made when missing.
      `${path}: cannot open the local mapper database: its folder cannot be written, and SQLite must create the database's -wal and -shm files there, even to read it (${code})`
    : describeFailure(path, 'cannot open the local mapper database', error);
  return new ConfigError('local.db_unusable', reason, {
    hint: folder
      ? 'let this user write in the folder, or copy the database to a folder it can write in'
      : 'check the path and its permissions, or choose another file with --db',
    cause: error,
  });
}

/**
 * A path that holds no mapper (`reason`, from assertMapperFile), where the command may not make
 * one: every opener of a mapper file says it alike.
 */
export function noMapperError(path: string, reason: string): UsageError {
  return new UsageError('local.no_mapper', `no mapper at ${path}: ${reason}`, {
    hint: 'check the path; "sparctl init --db PATH", or --create on a command that writes, makes a new mapper there',
  });
}

/**
 * Refuses, before anything is written to it, a file that is not a sparctl mapper: another
 * application's SQLite database, or not SQLite at all, or one a newer sparctl made; a folder, or
 * a file SQLite cannot open, is `local.db_unusable`. The check opens the file read-only, so a
 * refused file stays byte-identical (its journal mode included). Answers why the path holds no
 * mapper yet — missing, empty, an SQLite database without tables — or undefined when it holds
 * one: whether such a path may become a mapper is the caller's decision (reads never make one).
 */
export function assertMapperFile(path: string): string | undefined {
  if (path === ':memory:') return undefined;
  let stats: ReturnType<typeof statSync>;
  try {
    stats = statSync(path, { throwIfNoEntry: false });
  } catch (error) {
    throw unusableError(path, error);
  }
  if (stats === undefined) return 'it does not exist';
  if (stats.isDirectory()) {
    throw new ConfigError('local.db_unusable', `${path} is a folder, not a database file (EISDIR)`, {
      hint: 'name the database file itself, e.g. --db mapper.db',
    });
  }
  if (!stats.isFile()) {
    throw new ConfigError('local.db_unusable', `${path} is not a regular file, so it cannot be a database`, {
      hint: 'name a database file, e.g. --db mapper.db',
    });
  }
  if (stats.nlink > 1) {
    // SQLite finds a database's -wal and -shm by the name it was opened with: two names of one
    // file get two write-ahead logs, and a write through one name with a read or a write through
    // the other corrupts the file (SQLite's "multiple links to the same file"). Measured: two
    // imports through two names, the database malformed and 8,482 links it had applied lost.
    throw new ConfigError(
      'local.db_unusable',
      `${path} has ${stats.nlink} names (hard links); SQLite keeps a database's write-ahead log by name, so using it through more than one name corrupts it; nothing was opened`,
      { hint: `keep one name and remove the others, which "find / -xdev -samefile ${path}" lists; or work on a copy` },
    );
  }
  if (stats.size === 0) return 'the file is empty';
  let tables: string[];
  let version: number;
  let db: Database.Database | undefined;
  try {
    db = openDatabase(path, { readonly: true, fileMustExist: true });
    tables = prepare(db, "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")
      .pluck()
      .all() as string[];
    version = schemaVersion(db);
  } catch (error) {
    const code = (error as { code?: string }).code;
    if (code === 'SQLITE_NOTADB' || code === 'SQLITE_CORRUPT') {
      throw new UsageError('local.not_a_mapper', `${path} is not a sparctl mapper: it is not an SQLite database; nothing was changed`, {
        hint: "check --db, SPARCTL_DB or the profile's db",
      });
    }
    throw unusableError(path, error);
  } finally {
    if (db !== undefined) closeDatabase(db);
  }
  if (tables.length > 0 && !tables.includes('sparctl_meta')) {
    const shown = tables.length > 4 ? `${tables.slice(0, 4).join(', ')}, …` : tables.join(', ');
    throw new UsageError('local.not_a_mapper', `${path} is not a sparctl mapper: it holds other tables (${shown}); nothing was changed`, {
      hint: "check --db, SPARCTL_DB or the profile's db; sparctl keeps its mapper in a file of its own",
    });
  }
  refuseNewerSchema(version, path);
  return tables.length === 0 ? 'it is an SQLite database without tables' : undefined;
}
