/**
 * The journal's refusals for a job that has no --restart (import-odk), and the journal of a job
 * the caller has settled already. import-odk's journal errors advised `--restart`, which it
 * does not have; a finished window's journal that a kill left at `--journal FILE` refused every
 * later window as another job's. Other commands keep their --restart advice, and a journal whose
 * job the caller has not settled is never emptied: it may be the only record of writes made.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { SqliteJournal } from '../../src/adapters/journal/sqlite-journal.js';
import { openDatabase } from '../../src/adapters/sqlite/retained.js';
import { tempDir } from '../helpers/tmp.js';

const LOST = 'the window W is then applied from its start';

/** A journal of job `fingerprint` at `path` with one settled record, closed. */
function leftBehind(path: string, fingerprint: string): void {
  const journal = SqliteJournal.open(path, { fingerprint, description: 'import-odk F.jsonl → local' }, false);
  journal.markInflight([0], 'link');
  journal.settle([{ seq: 0, state: 'settled', operation: 'link', fate: 'applied', outcome: 'linked' }]);
  journal.close();
}

const refusal = (open: () => unknown) => {
  try {
    open();
  } catch (error) {
    return error as { code: string; message: string; hint?: string };
  }
  throw new Error('opened');
};

describe('a journal a job without --restart cannot use', () => {
  it('damaged: the hint names the file to remove and what that costs, not --restart; other jobs keep --restart', () => {
    const path = join(tempDir(), 'j.db');
    writeFileSync(path, 'this is not a journal\n'.repeat(300));
    const job = { fingerprint: 'new', description: 'import-odk F.jsonl → local' };
    const odk = refusal(() => SqliteJournal.open(path, job, false, { noRestart: { lost: LOST } }));
    expect(odk.code).toBe('journal.damaged');
    expect(odk.hint).toBe(`remove ${path} (with its -wal and -shm files, if any) and run the same command again: ${LOST}`);
    const link = refusal(() => SqliteJournal.open(path, job, false));
    expect(link.hint).toBe('pass --restart to discard it and start the job over (an upsert re-run skips what is already applied)');
  });

  it("another job's: choose another --journal or remove that file, not --restart; other jobs keep --restart", () => {
    const path = join(tempDir(), 'j.db');
    leftBehind(path, 'other');
    const job = { fingerprint: 'new', description: 'import-odk F.jsonl → local' };
    const odk = refusal(() => SqliteJournal.open(path, job, false, { noRestart: { lost: LOST } }));
    expect(odk.code).toBe('journal.other_job');
    expect(odk.hint).toBe(
      `choose another --journal, or remove ${path} (with its -wal and -shm files, if any) once the job it holds is finished or given up: removed, that job cannot be resumed`,
    );
    expect(refusal(() => SqliteJournal.open(path, job, false)).hint).toBe(
      'pass --restart to start this job over in it, or choose another --journal',
    );
  });

  it('of a format this sparctl does not read: finish the job with the sparctl that started it, or remove the file (what that costs)', () => {
    const path = join(tempDir(), 'j.db');
    const db = openDatabase(path);
    db.exec('CREATE TABLE records (seq INTEGER)');
    db.close();
    const odk = refusal(() => SqliteJournal.open(path, { fingerprint: 'f', description: 'x' }, false, { noRestart: { lost: LOST } }));
    expect(odk.code).toBe('journal.old_format');
    expect(odk.hint).toBe(
      `finish the job with the sparctl that started it, or remove ${path} (with its -wal and -shm files, if any) and run the same command again: ${LOST}`,
    );
    expect(refusal(() => SqliteJournal.open(path, { fingerprint: 'f', description: 'x' }, false)).hint).toContain('--restart');
  });
});

describe('the journal of a job the caller has settled', () => {
  it('is taken over (emptied, now the new job’s); one the caller has not settled is refused and kept whole', () => {
    const path = join(tempDir(), 'j.db');
    leftBehind(path, 'window-1');
    const job = { fingerprint: 'window-2', description: 'import-odk F.jsonl → local' };
    const asked: string[] = [];
    const notSettled = refusal(() =>
      SqliteJournal.open(path, job, false, { settled: (fingerprint) => (asked.push(fingerprint), fingerprint === 'window-0') }),
    );
    expect(notSettled.code).toBe('journal.other_job');
    expect(asked).toEqual(['window-1']);
    // Kept whole: its own job still resumes from it.
    const own = SqliteJournal.open(path, { fingerprint: 'window-1', description: 'x' }, false, { settled: () => true });
    expect(own.resumes()).toBe(true);
    expect(own.load().get(0)).toMatchObject({ state: 'settled', fate: 'applied' });
    own.close();

    const taken = SqliteJournal.open(path, job, false, { settled: (fingerprint) => fingerprint === 'window-1' });
    expect(taken.fingerprint).toBe('window-2');
    expect(taken.resumes()).toBe(false);
    expect(taken.load().size).toBe(0);
    taken.close();
    // It is now window-2's: window-1 is another job to it.
    expect(refusal(() => SqliteJournal.open(path, { fingerprint: 'window-1', description: 'x' }, false)).code).toBe('journal.other_job');
  });
});
