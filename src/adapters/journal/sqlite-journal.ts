import { closeSync, mkdirSync, openSync, rmSync } from 'node:fs';
import { dirname } from 'node:path';
import type Database from 'better-sqlite3';
import { UsageError } from '../../core/errors.js';
import type { Journal, JournalEntry } from '../../core/bulk/engine.js';
import type { Operation } from '../../core/results.js';
import { openDatabase, prepare, setPragma } from '../sqlite/retained.js';

/**
 * The checkpoint journal of one bulk job: per-record state by input position, never FA values
 * or secrets. Every write is a transaction in WAL mode, so a process killed at any instant
 * leaves the journal as of its last completed write.
 */
export class SqliteJournal implements Journal {
  private readonly inflight: Database.Statement;
  private readonly settleStatement: Database.Statement;

  private constructor(
    readonly path: string,
    private readonly db: Database.Database,
  ) {
    this.inflight = prepare(db, 'INSERT INTO inflight (operation, seqs) VALUES (?, ?)');
    this.settleStatement = prepare(
      db,
      `INSERT INTO records (seq, state, operation, fate, outcome, code, message) VALUES (@seq, 'settled', @operation, @fate, @outcome, @code, @message)
       ON CONFLICT (seq) DO UPDATE SET state = 'settled', operation = excluded.operation, fate = excluded.fate, outcome = excluded.outcome, code = excluded.code, message = excluded.message`,
    );
  }

  /**
   * Opens the journal for the job with this fingerprint, creating it if needed. A journal that
   * belongs to another job is refused rather than mixed up.
   */
  static open(path: string, job: { fingerprint: string; description: string }, restart: boolean): SqliteJournal {
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    if (restart) for (const suffix of ['', '-wal', '-shm']) rmSync(`${path}${suffix}`, { force: true });
    closeSync(openSync(path, 'a', 0o600));
    const db = openDatabase(path);
    setPragma(db, 'journal_mode = WAL');
    setPragma(db, 'synchronous = NORMAL');
    setPragma(db, 'busy_timeout = 5000');
    // A batch about to be sent is one row in `inflight` (its positions as a JSON list); each
    // record gets its own row in `records` only once it is settled. A record is in flight when
    // some inflight row lists it and no records row settles it.
    db.exec(`CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
             CREATE TABLE IF NOT EXISTS inflight (batch INTEGER PRIMARY KEY, operation TEXT NOT NULL, seqs TEXT NOT NULL);
             CREATE TABLE IF NOT EXISTS records (seq INTEGER PRIMARY KEY, state TEXT NOT NULL, operation TEXT NOT NULL,
               fate TEXT, outcome TEXT, code TEXT, message TEXT);`);
    const existing = prepare(db, "SELECT value FROM meta WHERE key = 'fingerprint'").pluck().get() as string | undefined;
    if (existing === undefined) {
      const insert = prepare(db, 'INSERT INTO meta (key, value) VALUES (?, ?)');
      db.transaction(() => {
        insert.run('fingerprint', job.fingerprint);
        insert.run('job', job.description);
        insert.run('created_at', new Date().toISOString());
      })();
    } else if (existing !== job.fingerprint) {
      db.close();
      throw new UsageError('journal.other_job', `${path} is the journal of another job (different input, mapping, target or mode); nothing was sent`, {
        hint: 'pass --restart to start this job over in it, or choose another --journal',
      });
    }
    return new SqliteJournal(path, db);
  }

  load(): ReadonlyMap<number, JournalEntry> {
    const entries = new Map<number, JournalEntry>();
    for (const batch of prepare(this.db, 'SELECT operation, seqs FROM inflight ORDER BY batch').all() as { operation: Operation; seqs: string }[]) {
      for (const seq of JSON.parse(batch.seqs) as number[]) entries.set(seq, { seq, state: 'inflight', operation: batch.operation });
    }
    for (const row of prepare(this.db, 'SELECT seq, state, operation, fate, outcome, code, message FROM records').all() as JournalEntry[]) entries.set(row.seq, row);
    return entries;
  }

  markInflight(seqs: readonly number[], operation: Operation): void {
    this.inflight.run(operation, JSON.stringify(seqs));
  }

  settle(entries: readonly JournalEntry[]): void {
    this.db.transaction(() => {
      for (const entry of entries) {
        this.settleStatement.run({ seq: entry.seq, operation: entry.operation, fate: entry.fate ?? null, outcome: entry.outcome ?? null, code: entry.code ?? null, message: entry.message ?? null });
      }
    })();
  }

  close(): void {
    if (this.db.open) this.db.close();
  }

  /** Removes the journal of a job that has nothing left to resume. */
  remove(): void {
    this.close();
    for (const suffix of ['', '-wal', '-shm']) rmSync(`${this.path}${suffix}`, { force: true });
  }
}

