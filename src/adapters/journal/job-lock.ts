import { readFileSync, writeFileSync } from 'node:fs';
import type Database from 'better-sqlite3';
import { UnavailableError } from '../../core/errors.js';
import { environmentCode, outputError, ownerOnlyDatabaseFile, removeFileIfThere } from '../files/fs-errors.js';
import { assertSqliteLoads, openDatabase, setPragma } from '../sqlite/retained.js';
import { pauseSync } from '../pause.js';

/**
 * A lock held by one process at a time, for work two runs must never do at once (an ODK form
 * imported into one mapper). It is an exclusive SQLite lock on a small file: the operating
 * system drops it when the process ends, however it ends, so a killed run leaves no stale
 * lock. Who holds it is written beside it, for the run that is refused.
 */
export class JobLock {
  private constructor(
    private readonly path: string,
    private readonly db: Database.Database,
  ) {}

  /** Takes the lock at `path`, or throws `job.running` (exit 4) naming the holder. */
  static acquire(path: string, description: string): JobLock {
    try {
      const db = openLocked(path, description, (locked) => locked.exec('CREATE TABLE IF NOT EXISTS held (at TEXT); COMMIT'));
      return new JobLock(path, db);
    } catch (error) {
      throw outputError(path, 'cannot take the lock', error);
    }
  }

  release(): void {
    if (!this.db.open) return;
    removeOwnerNote(this.path);
    this.db.close();
  }
}

const ownerPath = (path: string) => `${path}.owner`;

/**
 * Removes the note of who holds the lock at `path`, as the lock is let go. A note the disk
 * refuses to remove (made read-only by the kernel mid-run, EROFS) is left: the lock itself goes
 * with the connection and the next holder overwrites the note, while throwing here turned the
 * run's own report of that disk into an internal error and kept the lock's file open.
 */
export function removeOwnerNote(path: string): void {
  try {
    removeFileIfThere(ownerPath(path));
  } catch (error) {
    if (environmentCode(error) === undefined) throw error;
  }
}

/**
 * How long a start that finds the lock taken tries again before it calls the job running. Two
 * runs started at one instant each took, while setting up, a lock that exclusive locking mode
 * keeps until the connection closes, and each then found the other's: both were refused, with
 * nothing running (9 of 20 starts on a new journal). Let go and tried again a random moment
 * later, one of them wins; a job that really runs holds its lock throughout.
 */
const START_CONTENTION_MS = 250;

/**
 * Opens the SQLite file at `path` (0600, created if need be) holding its exclusive lock until
 * the connection closes, inside a transaction `inside` carries on with (it must end it); says
 * who holds it beside it. Another holder: `job.running` (exit 4) naming it.
 */
export function openLocked(
  path: string,
  description: string,
  inside: (db: Database.Database) => void,
  options: { wal?: boolean } = {},
): Database.Database {
  assertSqliteLoads();
  ownerOnlyDatabaseFile(path);
  const giveUpAt = Date.now() + START_CONTENTION_MS;
  let db: Database.Database;
  for (;;) {
    db = openDatabase(path);
    try {
      setPragma(db, 'busy_timeout = 0');
      // Before WAL is entered (a journal's): the WAL index then lives in this process, and the
      // lock, taken by the first write, is held until the connection closes.
      setPragma(db, 'locking_mode = EXCLUSIVE');
      if (options.wal) setPragma(db, 'journal_mode = WAL');
      db.exec('BEGIN EXCLUSIVE');
      break;
    } catch (error) {
      db.close();
      if ((error as { code?: string }).code !== 'SQLITE_BUSY') throw error;
      if (Date.now() >= giveUpAt) throw runningError(path, description);
      pauseSync(5 + Math.floor(Math.random() * 25));
    }
  }
  try {
    inside(db);
  } catch (error) {
    db.close();
    throw error;
  }
  writeFileSync(ownerPath(path), JSON.stringify({ pid: process.pid, started: new Date().toISOString(), job: description }), {
    mode: 0o600,
  });
  return db;
}

/** "this job is already running (sparctl, pid N, started …)", from what the holder wrote. */
export function runningError(path: string, description: string): UnavailableError {
  let owner = 'another sparctl process';
  try {
    const found = JSON.parse(readFileSync(ownerPath(path), 'utf8')) as { pid?: number; started?: string };
    if (typeof found.pid === 'number') owner = `sparctl, pid ${found.pid}, started ${found.started ?? 'at an unknown time'}`;
  } catch {
    // not written yet, or gone: the lock alone says it runs
  }
  return new UnavailableError('job.running', `${description} is already running (${owner}); nothing was sent`, {
    hint: `wait for it to finish, or stop it (Ctrl-C) and run the same command again; its lock is ${path}`,
  });
}
