import { closeSync, openSync, readSync, statSync } from 'node:fs';
import type Database from 'better-sqlite3';
import { ExitCode, SparctlError, UsageError } from '../../core/errors.js';
import { describeFailure, duringRunError, isCorrupt, outputError, removeFileIfThere } from '../files/fs-errors.js';
import { openLocked, removeOwnerNote } from './job-lock.js';
import type { Journal, JournalEntry } from '../../core/journal.js';
import type { Operation } from '../../core/results.js';
import { closeDatabase, openDatabase, prepare, setPragma } from '../sqlite/retained.js';

/**
 * The checkpoint journal of one bulk job: per-record state by input position, never FA values
 * or secrets. Every write is a transaction in WAL mode, so a process killed at any instant
 * leaves the journal as of its last completed write.
 *
 * It is also the job's lock: the run holds an exclusive SQLite lock on it from open to close
 * (locking_mode EXCLUSIVE), which the operating system drops when the process ends however it
 * ends, so a second run of the same job is refused at once and a killed one leaves no stale lock.
 *
 * Invariant: a journal of another job is never emptied unless --restart says so, or the caller
 * says that job is settled (JournalOptions.settled): it may be the only record of writes made.
 *
 * Invariant: a batch's in-flight mark is on the disk before the batch is sent (its commit syncs
 * the WAL, and with it every row before it), so a power cut cannot hide a write that may have
 * landed; a settled row lost that way is only read back again.
 */
export class SqliteJournal implements Journal {
  private readonly inflight: Database.Statement;
  private readonly syncEveryCommit: Database.Statement;
  private readonly syncAtCheckpoint: Database.Statement;
  private readonly settledStatement: Database.Statement;
  /** The file opened (device and inode), to tell when the path no longer holds it. */
  private readonly opened: FileIdentity | undefined;
  /** Said once: the run stops on it with its summary, and close() does not throw it again. */
  private lost: SparctlError | undefined;

  private constructor(
    readonly path: string,
    /** The job's fingerprint as the journal holds it. */
    readonly fingerprint: string,
    private readonly db: Database.Database,
    /** For the hint of damage found after it was opened. */
    private readonly options: JournalOptions,
  ) {
    try {
      this.opened = fileIdentity(path);
    } catch {
      this.opened = undefined; // the path cannot be looked at: nothing to compare with later
    }
    this.inflight = prepare(db, "INSERT INTO entries (state, operation, seqs) VALUES ('inflight', ?, ?)");
    this.syncEveryCommit = prepare(db, 'PRAGMA synchronous = FULL');
    this.syncAtCheckpoint = prepare(db, 'PRAGMA synchronous = NORMAL');
    this.settledStatement = prepare(
      db,
      "INSERT INTO entries (state, operation, fate, outcome, code, message, seqs) VALUES ('settled', ?, ?, ?, ?, ?, ?)",
    );
  }

  /**
   * Opens and locks the journal for the job with this fingerprint, creating it if needed. A
   * journal that belongs to another job, or to a sparctl that journalled differently, is
   * refused rather than mixed up (unless `options.settled` says its job is settled); one held by
   * a running process is refused with its pid.
   */
  static open(
    path: string,
    job: { fingerprint: string; description: string },
    restart: boolean,
    options: JournalOptions = {},
  ): SqliteJournal {
    try {
      return SqliteJournal.openOrThrow(path, job, restart, options);
    } catch (error) {
      const problem = damaged(path, error, options);
      if (problem === undefined) throw outputError(path, 'cannot open the journal', error);
      if (!restart) throw problem;
    }
    // --restart on a damaged journal: nothing in it can be kept, so it goes as a whole.
    for (const suffix of ['', '-wal', '-shm']) removeFileIfThere(`${path}${suffix}`);
    try {
      return SqliteJournal.openOrThrow(path, job, restart, options);
    } catch (error) {
      throw damaged(path, error, options) ?? outputError(path, 'cannot open the journal', error);
    }
  }

  private static openOrThrow(
    path: string,
    job: { fingerprint: string; description: string },
    restart: boolean,
    options: JournalOptions,
  ): SqliteJournal {
    const db = openLocked(
      path,
      'this job',
      (locked) => {
        // A batch about to be sent is one 'inflight' row; the records of a batch settled with the
        // same result are one 'settled' row. Rows hold positions as ranges ("0-499,501"), so a batch
        // costs two small rows, not a row per record. A record's state is that of the last row
        // that lists it.
        locked.exec(`CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
                 CREATE TABLE IF NOT EXISTS entries (row INTEGER PRIMARY KEY, state TEXT NOT NULL CHECK (state IN ('inflight', 'settled')),
                   operation TEXT NOT NULL, fate TEXT, outcome TEXT, code TEXT, message TEXT, seqs TEXT NOT NULL);`);
        if (restart) locked.exec('DELETE FROM entries; DELETE FROM meta; DROP TABLE IF EXISTS inflight; DROP TABLE IF EXISTS records;');
        const older = prepare(locked, "SELECT count(*) FROM sqlite_master WHERE name IN ('inflight', 'records')").pluck().get() as number;
        const format = prepare(locked, "SELECT value FROM meta WHERE key = 'format'").pluck().get() as string | undefined;
        const used = (prepare(locked, 'SELECT count(*) FROM entries').pluck().get() as number) > 0;
        // A newer sparctl may keep its records outside `entries`: refused even when that is empty.
        if (format !== undefined && Number(format) > Number(FORMAT)) {
          throw new UsageError(
            'journal.old_format',
            `${path} was written by a newer sparctl (journal format ${format}; this one reads ${FORMAT}); nothing was sent`,
            {
              hint:
                options.noRestart === undefined
                  ? 'finish the job with that newer sparctl (upgrade this one), or pass --restart to start the job over in it'
                  : `finish the job with that newer sparctl (upgrade this one), or ${removeByHand(path, options.noRestart)}`,
            },
          );
        }
        if (older > 0 || (used && format !== FORMAT)) {
          throw new UsageError(
            'journal.old_format',
            `${path} was written by an earlier sparctl in a format this one does not read; nothing was sent`,
            {
              hint:
                options.noRestart === undefined
                  ? 'finish the job with the sparctl that started it, or pass --restart (an upsert re-run skips what is already applied)'
                  : `finish the job with the sparctl that started it, or ${removeByHand(path, options.noRestart)}`,
            },
          );
        }
        const existing = prepare(locked, "SELECT value FROM meta WHERE key = 'fingerprint'").pluck().get() as string | undefined;
        // A settled job's journal left behind (a kill before its removal) records nothing still to be recorded.
        const settled = existing !== undefined && existing !== job.fingerprint && options.settled?.(existing) === true;
        if (settled) locked.exec('DELETE FROM entries; DELETE FROM meta;');
        if (existing === undefined || settled) {
          const insert = prepare(locked, 'INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)');
          insert.run('fingerprint', job.fingerprint);
          insert.run('job', job.description);
          insert.run('created_at', new Date().toISOString());
          insert.run('format', FORMAT);
        } else if (existing !== job.fingerprint) {
          throw new UsageError(
            'journal.other_job',
            `${path} is the journal of another job (different input, mapping, target or mode); nothing was sent`,
            {
              hint:
                options.noRestart === undefined
                  ? 'pass --restart to start this job over in it, or choose another --journal'
                  : `choose another --journal, or remove ${path} (with its -wal and -shm files, if any) once the job it holds is finished or given up: removed, that job cannot be resumed`,
            },
          );
        }
        locked.exec('COMMIT');
        setPragma(locked, 'synchronous = NORMAL');
      },
      { wal: true },
    );
    return new SqliteJournal(path, job.fingerprint, db, options);
  }

  /** Records of an earlier run are in it: the job resumes. */
  resumes(): boolean {
    try {
      return prepare(this.db, 'SELECT EXISTS (SELECT 1 FROM entries)').pluck().get() === 1;
    } catch (error) {
      throw damaged(this.path, error, this.options) ?? duringRunError(this.path, 'cannot read the journal', error);
    }
  }

  load(): ReadonlyMap<number, JournalEntry> {
    try {
      return this.read();
    } catch (error) {
      throw damaged(this.path, error, this.options) ?? duringRunError(this.path, 'cannot read the journal', error);
    }
  }

  private read(): ReadonlyMap<number, JournalEntry> {
    const entries = new Map<number, JournalEntry>();
    type Row = Omit<JournalEntry, 'seq'> & { seqs: string };
    for (const row of prepare(
      this.db,
      'SELECT state, operation, fate, outcome, code, message, seqs FROM entries ORDER BY row',
    ).all() as Row[]) {
      if (row.state === 'inflight') {
        const operation = row.operation;
        forEachSeq(row.seqs, (seq) => entries.set(seq, { seq, state: 'inflight', operation }));
        continue;
      }
      const { seqs, ...result } = row;
      forEachSeq(seqs, (seq) => entries.set(seq, { seq, ...result }));
    }
    return entries;
  }

  markInflight(seqs: readonly number[], operation: Operation): void {
    // Once per batch, before it is sent: a stat costs a few µs, a small part of the commit below.
    this.refuseLost();
    try {
      // Only this commit waits for the disk: were it lost to a power cut after the batch was sent,
      // the next run would take a write that landed for one never made (a link refused as
      // already there, reported rejected). A settled row lost instead is read back; syncing
      // those too cost a 100,000-row local import 400 more fsyncs.
      this.syncEveryCommit.run();
      try {
        this.inflight.run(operation, rangesOf(seqs));
      } finally {
        this.syncAtCheckpoint.run();
      }
    } catch (error) {
      // Nothing of this batch was sent: the run stops, and the next one sends it.
      throw duringRunError(this.path, 'cannot write the journal', error);
    }
  }

  forget(seqs: readonly number[], operation: Operation): void {
    try {
      // Every attempt at the batch marked the same seqs: all those rows go, and only those.
      prepare(this.db, "DELETE FROM entries WHERE state = 'inflight' AND operation = ? AND seqs = ?").run(operation, rangesOf(seqs));
    } catch (error) {
      // Left marked, the records are only read back before the next run sends them.
      throw duringRunError(this.path, 'cannot write the journal', error);
    }
  }

  settle(entries: readonly JournalEntry[]): void {
    // Records with the same result share a row. A batch usually has one result for all, or a
    // handful: the groups are searched in a list rather than keyed by a string built per record.
    const groups: { entry: JournalEntry; seqs: number[] }[] = [];
    let last: { entry: JournalEntry; seqs: number[] } | undefined;
    for (const entry of entries) {
      if (last === undefined || !sameResult(last.entry, entry)) {
        last = groups.find((group) => sameResult(group.entry, entry));
        if (last === undefined) groups.push((last = { entry, seqs: [] }));
      }
      last.seqs.push(entry.seq);
    }
    const write = this.db.transaction(() => {
      for (const { entry, seqs } of groups) {
        this.settledStatement.run(
          entry.operation,
          entry.fate ?? null,
          entry.outcome ?? null,
          entry.code ?? null,
          entry.message ?? null,
          rangesOf(seqs),
        );
      }
    });
    try {
      write();
    } catch (error) {
      // The transaction is rolled back: these records stay in flight, and the next run reads
      // them back from the mapper before sending anything again.
      throw duringRunError(this.path, 'cannot write the journal', error);
    }
  }

  /** Keeps a note for the next run of the job (JournalFile.note), in the meta table; cleared by --restart. */
  note(key: string, value: string): void {
    try {
      prepare(this.db, 'INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)').run(`note:${key}`, value);
    } catch (error) {
      throw duringRunError(this.path, 'cannot write the journal', error);
    }
  }

  /** The note an earlier run kept under `key`, if any (one that cannot be read is none). */
  noted(key: string): string | undefined {
    try {
      return prepare(this.db, 'SELECT value FROM meta WHERE key = ?').pluck().get(`note:${key}`) as string | undefined;
    } catch {
      return undefined;
    }
  }

  /** Closes a journal the next run resumes from: throws disk.write_failed if the path no longer holds it. */
  close(): void {
    if (!this.db.open) return;
    this.shut();
    // Removed after the last batch was sent: the run's "resume" would start a new job.
    if (this.lost === undefined) this.refuseLost();
  }

  /** Whether the run found its journal removed or replaced (then there is nothing to resume from). */
  isLost(): boolean {
    return this.lost !== undefined;
  }

  /** Removes the journal of a job that has nothing left to resume (whether or not it is still there). */
  remove(): void {
    this.shut();
    try {
      for (const suffix of ['', '-wal', '-shm']) removeFileIfThere(`${this.path}${suffix}`);
    } catch (error) {
      // A disk made read-only as the run ended: one line naming the journal, not an internal
      // error; the journal left is of a job with nothing left to do, which the next run ends.
      throw duringRunError(this.path, 'cannot remove the journal of the finished job', error);
    }
  }

  private shut(): void {
    if (!this.db.open) return;
    removeOwnerNote(this.path);
    this.db.close();
  }

  /**
   * SQLite goes on writing into a journal removed (or renamed away) under it, and the file is
   * gone when the process ends: a run killed then, or stopped, would be resumed as a new job.
   * So a path that no longer holds the file opened stops the run (exit 4) while it can still
   * say so.
   */
  private refuseLost(): void {
    if (this.lost !== undefined) throw this.lost;
    if (this.opened === undefined) return;
    let now: FileIdentity | undefined;
    try {
      now = fileIdentity(this.path);
    } catch {
      return; // the path cannot be looked at (a folder made unreadable): nothing to say for sure
    }
    if (now !== undefined && now.dev === this.opened.dev && now.ino === this.opened.ino) return;
    this.lost = new SparctlError(
      'disk.write_failed',
      `${this.path}: the journal was removed or replaced while the run used it; what this run sent is not recorded at that path, so the next run cannot resume this one`,
      ExitCode.unavailable,
      {
        // A file moved away holds what the run sent (SQLite writes on into it): put back, it resumes.
        hint: 'if it was moved, put it back (with its -wal file) and run the same command again to resume; if it is gone, the next run is a new job and meets the rows this run applied again (import-csv and upserts: unchanged; link: rejected as already linked)',
      },
    );
    throw this.lost;
  }
}

type FileIdentity = { readonly dev: number; readonly ino: number };

/** The device and inode at `path`, or undefined when nothing is there. */
function fileIdentity(path: string): FileIdentity | undefined {
  const stats = statSync(path, { throwIfNoEntry: false });
  return stats === undefined ? undefined : { dev: stats.dev, ino: stats.ino };
}

/** What a job without --restart is told, and which other job's journal it may take over (SqliteJournal.open). */
export interface JournalOptions {
  /**
   * The job has no --restart (import-odk): a journal it cannot use is removed by hand, and the
   * hint names the file and `lost`, what removing it costs.
   */
  readonly noRestart?: { readonly lost: string };
  /**
   * Whether the job of this fingerprint, another job's found in the journal, is one the caller
   * has settled already (import-odk: the window its state records, whose journal a kill left
   * behind): that journal is emptied and taken over instead of refused. Never true for a job
   * whose writes the caller has not recorded: its journal is their only record.
   */
  readonly settled?: (fingerprint: string) => boolean;
}

/** The hint's words for a journal a job without --restart cannot use: the files to remove, and what that costs. */
function removeByHand(path: string, noRestart: { readonly lost: string }): string {
  return `remove ${path} (with its -wal and -shm files, if any) and run the same command again: ${noRestart.lost}`;
}

/** A journal SQLite finds damaged (or not a database at all): one line that says how to start over. */
/** The tables a journal of any sparctl holds (and SQLite's own). */
const JOURNAL_TABLES = new Set(['meta', 'entries', 'inflight', 'records']);

/**
 * Refuses a file named by `--journal` that is not a journal (journal.not_journal), before
 * anything opens it for writing: an SQLite database of something else was given a journal's
 * tables, turned to WAL and removed with the finished job; any other file was reported damaged,
 * and --restart removed it. Nothing there, or an empty file, is a new journal.
 */
export function refuseForeignJournal(path: string): void {
  let head: Buffer;
  try {
    const fd = openSync(path, 'r');
    try {
      head = Buffer.alloc(16);
      head = head.subarray(0, readSync(fd, head, 0, 16, 0));
    } finally {
      closeSync(fd);
    }
  } catch {
    return; // nothing there, or not readable: the open says why
  }
  if (head.length === 0) return;
  if (head.toString('latin1') !== 'SQLite format 3\0') throw notJournal(path, 'it is not an SQLite file');
  let others: string[];
  try {
    const db = openDatabase(path, { readonly: true, fileMustExist: true });
    try {
      others = (
        prepare(db, "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\'")
          .pluck()
          .all() as string[]
      ).filter((name) => !JOURNAL_TABLES.has(name));
    } finally {
      closeDatabase(db);
    }
  } catch {
    return; // an SQLite file that cannot be read: a damaged journal, which the open reports
  }
  if (others.length > 0)
    throw notJournal(
      path,
      `it is a database of something else, with the table${others.length === 1 ? '' : 's'} ${others
        .slice(0, 3)
        .map((name) => `"${name}"`)
        .join(', ')}${others.length > 3 ? ', …' : ''}`,
    );
}

function notJournal(path: string, why: string): UsageError {
  return new UsageError(
    'journal.not_journal',
    `--journal ${path} is not a sparctl journal: ${why}; it was left as it is and nothing was sent`,
    {
      hint: 'name a new file for --journal, or the journal an earlier run of this job left',
    },
  );
}

function damaged(path: string, error: unknown, options: JournalOptions): SparctlError | undefined {
  if (error instanceof SparctlError || !isCorrupt(error)) return undefined;
  return new UsageError('journal.damaged', `${describeFailure(path, 'the journal is damaged', error)}; nothing was sent`, {
    hint:
      options.noRestart === undefined
        ? 'pass --restart to discard it and start the job over (an upsert re-run skips what is already applied)'
        : removeByHand(path, options.noRestart),
    cause: error,
  });
}

/** Journals this sparctl writes: rows superseded by a later row of their ID are never journalled. */
const FORMAT = '2';

function sameResult(a: JournalEntry, b: JournalEntry): boolean {
  return (
    a.operation === b.operation &&
    (a.fate ?? null) === (b.fate ?? null) &&
    (a.outcome ?? null) === (b.outcome ?? null) &&
    (a.code ?? null) === (b.code ?? null) &&
    (a.message ?? null) === (b.message ?? null)
  );
}

/** Positions as ranges: [3, 4, 5, 9] → "3-5,9". */
export function rangesOf(seqs: readonly number[]): string {
  const parts: string[] = [];
  for (let i = 0; i < seqs.length; ) {
    const first = seqs[i]!;
    let last = first;
    while (i + 1 < seqs.length && seqs[i + 1] === last + 1) last = seqs[++i]!;
    i++;
    parts.push(first === last ? String(first) : `${first}-${last}`);
  }
  return parts.join(',');
}

export function forEachSeq(ranges: string, each: (seq: number) => void): void {
  if (ranges === '') return;
  for (const part of ranges.split(',')) {
    const dash = part.indexOf('-');
    if (dash === -1) {
      each(Number(part));
      continue;
    }
    const last = Number(part.slice(dash + 1));
    for (let seq = Number(part.slice(0, dash)); seq <= last; seq++) each(seq);
  }
}
