import { describe, expect, it } from 'vitest';
import {
  exitCodeOf,
  previewPath,
  runBulkJob,
  type BulkJobDeps,
  type BulkJobInput,
  type JobSignal,
  type JournalFile,
  type RecordSink,
} from '../../src/app/bulk-job.js';
import type { BulkSummary, RecordEvent } from '../../src/core/bulk/events.js';
import { toBulkRecord } from '../../src/core/bulk/input.js';
import { indexOf } from '../../src/core/bulk/row-index.js';
import type { BulkInputRecord } from '../../src/core/bulk/types.js';
import { ExitCode, SparctlError, UnavailableError } from '../../src/core/errors.js';
import { MemoryJournal } from '../../src/core/journal.js';
import type { StopSignal } from '../../src/core/stop-signals.js';
import type { Mapper } from '../../src/core/mapper.js';
import { LocalMapper } from '../../src/adapters/sqlite/local-mapper.js';
import { strict } from '../helpers/strict.js';

const BANK = {
  fa_type: 'BANK',
  bank_name: 'Example Bank',
  bank_code: 'EXB',
  branch_name: 'Main',
  branch_code: '0001',
  account_number: '0012345678',
};

/** A local mapper in memory (a real pipeline target) that the use case may close. */
function memoryMapper(): Mapper {
  return LocalMapper.open(':memory:');
}

/** The rows of a job's input, as engine records (`{}` is an invalid row: rejected). */
function bulkRecords(
  mode: 'link' | 'unlink',
  rows: readonly Record<string, unknown>[],
  strategies: Awaited<ReturnType<Mapper['strategies']>>,
): BulkInputRecord[] {
  return rows.map((row, seq) =>
    toBulkRecord(seq, seq + 2, row, undefined, { mode, strategies: new Map(strategies.map((s) => [s.id, s])) }),
  );
}

interface Recorded {
  said: string[];
  calls: string[];
  journal: { removed: boolean; closed: number };
  signal?: (signal: JobSignal) => void;
  rejected: RecordEvent[];
}

/** A journal file double at /state/journals/j.db: a new, empty job's unless `over` says otherwise. */
const journalFile = (over: Partial<JournalFile> = {}): JournalFile => ({
  journal: new MemoryJournal(),
  path: '/state/journals/j.db',
  resumes: false,
  lost: () => false,
  isEmpty: () => false,
  close: () => undefined,
  remove: () => undefined,
  ...over,
});

/** Deps around a real mapper and records; what the use case opens, says and decides is recorded. */
function deps(
  mapper: Mapper,
  rows: readonly Record<string, unknown>[],
  overrides: Partial<BulkJobDeps> = {},
  options: { spooled?: boolean; mode?: 'link' | 'unlink' } = {},
): BulkJobDeps & Recorded {
  const recorded: Recorded = { said: [], calls: [], journal: { removed: false, closed: 0 }, rejected: [] };
  const records = async () => bulkRecords(options.mode ?? 'link', rows, await mapper.strategies());
  const base: Partial<BulkJobDeps> = {
    stdinIsTTY: false,
    openInput: async (file) => {
      recorded.calls.push(`input ${file}`);
      return { path: '/tmp/in', spooled: options.spooled === true, remove: () => void recorded.calls.push('input removed') };
    },
    openMapper: async (access) => {
      recorded.calls.push(`mapper ${access}`);
      return mapper;
    },
    targetIdentity: () => 'local test.db I1',
    prescan: async (_mapper, _path, definition, index) => {
      recorded.calls.push(`prescan ${definition} use=${index.use} keep=${index.keep}`);
      const all = await records();
      return {
        fingerprint: 'f'.repeat(64),
        lines: all.length + 1,
        index: indexOf(
          all.map((r) => r.key),
          all.map((r) => r.line),
        ),
      };
    },
    records: async () => {
      const all = await records();
      return {
        records: (async function* () {
          yield all;
        })(),
        columns: () => ['id', 'account_number'],
      };
    },
    openJournal: async (where, job, restart) => {
      recorded.calls.push(`journal ${JSON.stringify(where)} ${job.description} restart=${restart}`);
      return journalFile({
        close: () => void recorded.journal.closed++,
        remove: () => void (recorded.journal.removed = true),
      });
    },
    writeLinksOnThread: async () => false,
    checkRejects: () => undefined,
    exists: () => false,
    openRejects: async (path, columns) => {
      recorded.calls.push(`rejects ${path} ${columns.join(',')}`);
      return sink(path, recorded.rejected);
    },
    openResults: async (path, dryRun) => {
      recorded.calls.push(`results ${path} dryRun=${dryRun}`);
      return sink(path, []);
    },
    removeFile: (path) => (recorded.calls.push(`remove ${path}`), false),
    startProgress: () => ({ onEvent: () => undefined, stop: () => undefined }),
    onSignal: (listener) => {
      self.signal = listener;
      return () => {
        if (self.signal === listener) self.signal = undefined;
      };
    },
    say: (line) => void recorded.said.push(line),
  };
  const self: BulkJobDeps & Recorded = Object.assign(
    strict<BulkJobDeps>('deps', { ...base, ...overrides }, [
      'stdoutResults',
      'stdoutFailure',
      'checkResults',
      'verbose',
      'collect',
      'beforeSending',
      'onSummary',
      'beforeForgetting',
      'faDigest',
      'stampOf',
      'checkPreview',
    ]),
    recorded,
  );
  return self;
}

function sink(path: string, into: RecordEvent[]): RecordSink {
  return {
    path,
    write: (event) => void into.push(event),
    close: async () => undefined,
    get count() {
      return into.length;
    },
  };
}

const JOB: BulkJobInput = {
  command: 'link --file',
  mode: 'link',
  file: 'a.csv',
  shortName: 'a.csv',
  definition: '{}',
  rejectsPath: '/w/a.rejects.csv',
  batchSize: 10,
  concurrency: 1,
  concurrencyMax: 16,
  local: true,
};

describe('runBulkJob (use case)', () => {
  it('refuses a terminal on stdin before opening anything', async () => {
    const d = strict<BulkJobDeps>('deps', { stdinIsTTY: true });
    await expect(runBulkJob(d, { ...JOB, file: '-', shortName: 'stdin' })).rejects.toMatchObject({ code: 'usage.stdin_is_tty' });
  });

  it('a finished job: the mapper is part of its fingerprint, its index kept, its journal removed; rejects open with the first rejected row', async () => {
    const d = deps(memoryMapper(), [{ id: 'B1', ...BANK }, { id: 'B2' }, { id: 'B3', ...BANK }]);
    const result = await runBulkJob(d, { ...JOB, journal: 'my.db' });
    expect(d.calls).toEqual([
      'input a.csv',
      'mapper write',
      'prescan {"command":"link --file","mode":"link","target":"local test.db I1","definition":"{}"} use=true keep=true',
      `journal {"file":"my.db","name":"${'f'.repeat(32)}.db"} link --file a.csv → local :memory: restart=false`,
      'rejects /w/a.rejects.csv id,account_number',
      'input removed',
    ]);
    expect(d.journal).toEqual({ removed: true, closed: 1 });
    expect(d.rejected.map((e) => e.id)).toEqual(['B2']);
    expect(result).toMatchObject({ stoppedEarly: false, rejects: { path: '/w/a.rejects.csv', count: 1 }, exitCode: 5, planned: [] });
    expect(result.summary).toMatchObject({ applied: 2, rejected: 1 });
    expect(result.journalPath).toBeUndefined();
    expect(result.resumeHint).toBeUndefined();
  });

  it('a finished job whose journal the disk will not let go (made read-only): the run stays done, with a warning, not an error', async () => {
    const stuck = journalFile({
      remove: () => {
        throw new SparctlError(
          'disk.write_failed',
          '/state/journals/j.db: cannot remove the journal: read-only file system (EROFS)',
          ExitCode.unavailable,
        );
      },
    });
    const d = deps(
      memoryMapper(),
      [
        { id: 'B1', ...BANK },
        { id: 'B3', ...BANK },
      ],
      { openJournal: async () => stuck },
    );
    const result = await runBulkJob(d, JOB);
    expect(result).toMatchObject({ stoppedEarly: false, exitCode: 0 });
    expect(result.summary).toMatchObject({ applied: 2 });
    expect(d.said).toContain(
      'sparctl: warning: /state/journals/j.db: cannot remove the journal: read-only file system (EROFS); the job is done (its next run finds every record settled)',
    );
  });

  it('a run refused before it sends (a named reject file in the way): an empty journal goes, one holding an earlier run stays', async () => {
    for (const empty of [true, false]) {
      let removed = 0;
      const journal = journalFile({ isEmpty: () => empty, remove: () => void removed++ });
      const d = deps(memoryMapper(), [{ id: 'B1', ...BANK }], { openJournal: async () => journal, exists: () => true });
      const refused = await runBulkJob(d, { ...JOB, rejectsNamed: true }).catch((error: unknown) => error);
      expect((refused as { code?: string }).code).toBe('usage.rejects_exists');
      expect(removed).toBe(empty ? 1 : 0);
    }
  });

  it('stopped before anything was sent (the first token never came, the mapper refused every connection): no journal left, no resume; stopped after a send: both', async () => {
    for (const failing of ['ready', 'refused', 'link'] as const) {
      const local = memoryMapper();
      // A remote mapper's failure: getting its token (ready), or an answer that never came (link, after the batch was journalled).
      const mapper: Mapper = {
        target: 'spar-v2 https://spar.example.org',
        strategies: () => local.strategies(),
        resolve: (items, context) => local.resolve(items, context),
        update: (items, context) => local.update(items, context),
        unlink: (items, context) => local.unlink(items, context),
        close: () => local.close(),
        ready: async () => {
          if (failing === 'ready') throw new UnavailableError('auth.token_unavailable', 'the token endpoint answered HTTP 503');
        },
        link: async () => {
          // A refused connection reached nothing: the batch marked in flight before it was sent is taken back.
          if (failing === 'refused') throw new UnavailableError('remote.refused', 'link at http://127.0.0.1:1: connection refused');
          throw new UnavailableError('remote.server_error', 'link answered HTTP 502', { outcomeUnknown: true });
        },
      };
      const journal = new MemoryJournal();
      let removed = 0;
      const d = deps(mapper, [{ id: 'B1', ...BANK }], {
        openJournal: async () => journalFile({ journal, isEmpty: () => journal.entries.size === 0, remove: () => void removed++ }),
      });
      const result = await runBulkJob(d, { ...JOB, retries: 0 });
      expect(result.summary.stopped?.code).toBe(
        { ready: 'auth.token_unavailable', refused: 'remote.refused', link: 'remote.server_error' }[failing],
      );
      expect(result.exitCode).toBe(4);
      if (failing !== 'link') {
        expect(removed).toBe(1);
        expect(result.journalPath).toBeUndefined();
        expect(result.resumeHint).toBeUndefined();
      } else {
        expect(removed).toBe(0);
        expect(result).toMatchObject({
          journalPath: '/state/journals/j.db',
          resumeHint: 'run the same command again to resume; --restart starts over',
        });
      }
    }
  });

  it('a reject file cut short (a full disk) before anything was sent: the journal is kept with a note of it, so the next run writes it again, as the summary says', async () => {
    const journal = new MemoryJournal();
    const notes: string[] = [];
    let removed = 0;
    const cutShort: RecordSink = {
      ...sink('/w/a.rejects.csv', []),
      failure: () =>
        new SparctlError('disk.full', '/w/a.rejects.csv: cannot write: no space left on device (ENOSPC)', ExitCode.unavailable),
      close: async () => {
        throw new SparctlError('disk.full', '/w/a.rejects.csv: cannot write: no space left on device (ENOSPC)', ExitCode.unavailable);
      },
    };
    // Every row rejected on input: nothing is sent, nothing journalled.
    const d = deps(memoryMapper(), [{}, {}, {}], {
      openJournal: async () =>
        journalFile({
          journal,
          isEmpty: () => journal.entries.size === 0,
          remove: () => void removed++,
          note: (key, value) => void notes.push(`${key} ${value}`),
        }),
      openRejects: async () => cutShort,
      stampOf: () => 'stamp-1',
    });
    const result = await runBulkJob(d, JOB);
    expect(result.summary.stopped).toMatchObject({ code: 'disk.full' });
    expect(journal.entries.size).toBe(0);
    expect(removed).toBe(0);
    expect(notes).toEqual([expect.stringContaining('"path":"/w/a.rejects.csv","stamp":"stamp-1"')]);
    expect(result).toMatchObject({
      rejects: { path: '/w/a.rejects.csv', incomplete: true },
      journalPath: '/state/journals/j.db',
      resumeHint: 'run the same command again to resume; --restart starts over',
    });
  });

  it('a dry run stopped by the mapper names no resume: it has no journal, and the same command is simply run again', async () => {
    const local = memoryMapper();
    const mapper: Mapper = {
      target: 'spar-v2 https://spar.example.org',
      strategies: () => local.strategies(),
      resolve: async () => {
        throw new UnavailableError('remote.server_error', 'resolve answered HTTP 502');
      },
      link: (items, context) => local.link(items, context),
      update: (items, context) => local.update(items, context),
      unlink: (items, context) => local.unlink(items, context),
      close: () => local.close(),
    };
    const result = await runBulkJob(deps(mapper, [{ id: 'B1', ...BANK }]), { ...JOB, dryRun: true, retries: 0 });
    expect(result.summary.stopped?.code).toBe('remote.server_error');
    expect(result.exitCode).toBe(4);
    expect(result.journalPath).toBeUndefined();
    expect(result.resumeHint).toBeUndefined();
  });

  it('an input that grew after its first read: the journal is kept, and the hint says the file as it is now is a new job, not a resume', async () => {
    const mapper = memoryMapper();
    const d = deps(
      mapper,
      [
        { id: 'G1', ...BANK },
        { id: 'G2', ...BANK },
        { id: 'G3', ...BANK },
      ],
      {
        // The first read saw two rows; a third was written before the run read it.
        prescan: async () => ({ fingerprint: 'f'.repeat(64), lines: 3, index: indexOf(['G1', 'G2'], [2, 3]) }),
      },
    );
    const result = await runBulkJob(d, JOB);
    expect(result.summary.stopped).toMatchObject({ code: 'engine.input_changed', exitCode: 4 });
    expect(result.summary).toMatchObject({ applied: 2, total: 2 });
    expect(result.exitCode).toBe(4);
    expect(d.journal.removed).toBe(false);
    expect(result.resumeHint).toMatch(/^once the file is complete, run the command on it again: a new job/);
  });

  it("listens for stop signals from the start, and hands over to the run's own listener before letting go of the first (none between: Node would drop a pending signal)", async () => {
    const events: string[] = [];
    let n = 0;
    const d = deps(memoryMapper(), [{ id: 'B1', ...BANK }], {
      onSignal: () => {
        const which = ++n;
        events.push(`listen ${which}`);
        return () => void events.push(`stop ${which}`);
      },
      openInput: async (file) => (events.push('input'), { path: file, spooled: false, remove: () => undefined }),
    });
    await runBulkJob(d, JOB);
    expect(events.slice(0, 4)).toEqual(['listen 1', 'input', 'listen 2', 'stop 1']);
    expect(events).toContain('stop 2');
  });

  it("a stop signal before anything is sent: the line says what was not sent (an import-odk window: that window), and the process exits with the signal's code", async () => {
    for (const [unsent, said] of [
      [undefined, 'nothing was sent'],
      ['nothing of this window was sent', 'nothing of this window was sent'],
    ] as const) {
      let listener: ((signal: StopSignal) => void) | undefined;
      const exits: number[] = [];
      const d = deps(memoryMapper(), [{ id: 'B1', ...BANK }], {
        onSignal: (given) => ((listener ??= given), () => undefined),
        openInput: async () => {
          listener!('SIGTERM');
          throw new Error('exited');
        },
        exitNow: (code) => {
          exits.push(code);
          return undefined as never;
        },
      });
      await expect(runBulkJob(d, { ...JOB, ...(unsent === undefined ? {} : { unsent }) })).rejects.toThrow('exited');
      expect(exits).toEqual([143]);
      expect(d.said).toContain(`\nsparctl: terminated (SIGTERM); ${said}`);
    }
  });

  it('a dry run: no journal, its rejects and results go to previews, an index used but not kept; it lists the first 10 writes', async () => {
    const rows = Array.from({ length: 12 }, (_, i) => ({ id: `B${i}`, ...BANK }));
    const d = deps(memoryMapper(), [...rows, {}], { exists: () => true }); // the real files are there: untouched
    const result = await runBulkJob(d, { ...JOB, dryRun: true, resultsPath: '/w/results.csv', rejectsNamed: true });
    expect(d.calls.filter((c) => !c.startsWith('input'))).toEqual([
      'mapper dry-run',
      expect.stringMatching(/^prescan .* use=true keep=false$/),
      'results /w/results.preview.csv dryRun=true',
      'rejects /w/a.rejects.preview.csv id,account_number',
    ]);
    expect(result.planned).toHaveLength(10);
    expect(result.planned[0]).toMatchObject({ operation: 'link', id: 'B0', line: 2 });
    expect(result.summary.rejected).toBe(1);
    expect(result.summary.dryRun).toBe(true);
    expect(result).toMatchObject({ resultsPath: '/w/results.preview.csv', rejects: { path: '/w/a.rejects.preview.csv', count: 1 } });
    expect(result.firstRejects.map((e) => [e.line, e.code])).toEqual([[14, 'input.invalid']]);
    expect(result.rejectsKept).toBeUndefined();
  });

  it('a dry run that rejects nothing removes the preview an earlier dry run left', async () => {
    const d = deps(memoryMapper(), [{ id: 'B1', ...BANK }], { removeFile: (path) => path === '/w/a.rejects.preview.csv' });
    const result = await runBulkJob(d, { ...JOB, dryRun: true });
    expect(result.previewRemoved).toBe('/w/a.rejects.preview.csv');
    expect(result.rejects).toBeUndefined();
  });

  it('a dry run checks its preview path as one put in place when done, and opens its preview as such', async () => {
    const checked: string[] = [];
    const opened: string[] = [];
    const d = deps(memoryMapper(), [{}], {
      checkRejects: (path, preview) => void checked.push(`${path} ${preview}`),
      openRejects: async (path, _columns, _layout, preview) => (opened.push(`${path} ${preview}`), sink(path, [])),
    });
    await runBulkJob(d, { ...JOB, dryRun: true });
    expect(checked).toEqual(['/w/a.rejects.preview.csv true']);
    expect(opened).toEqual(['/w/a.rejects.preview.csv true']);
    const real = deps(memoryMapper(), [{}], {
      checkRejects: (path, preview) => void checked.push(`${path} ${preview}`),
      openRejects: async (path, _columns, _layout, preview) => (opened.push(`${path} ${preview}`), sink(path, [])),
    });
    await runBulkJob(real, JOB);
    expect(checked.at(-1)).toBe('/w/a.rejects.csv undefined');
    expect(opened.at(-1)).toBe('/w/a.rejects.csv false');
  });

  it('a dry run that rejects nothing removes only the preview there as it began (by its stamp), and none when there was none', async () => {
    const stamps: string[] = [];
    const removed: string[] = [];
    const d = deps(memoryMapper(), [{ id: 'B1', ...BANK }], {
      stampOf: (path) => (stamps.push(path), 'stamp-1'),
      removeFile: (path, earlier) => (removed.push(`${path} ${earlier}`), true),
    });
    expect((await runBulkJob(d, { ...JOB, dryRun: true })).previewRemoved).toBe('/w/a.rejects.preview.csv');
    expect(stamps).toEqual(['/w/a.rejects.preview.csv']);
    expect(removed).toEqual(['/w/a.rejects.preview.csv stamp-1']);
    // No preview as it began: one there at its end is another dry run's, put there meanwhile.
    const none = deps(memoryMapper(), [{ id: 'B1', ...BANK }], { stampOf: () => undefined });
    const result = await runBulkJob(none, { ...JOB, dryRun: true });
    expect(result.previewRemoved).toBeUndefined();
    expect(none.calls.filter((call) => call.startsWith('remove'))).toEqual([]);
  });

  it('a dry run whose previews could not be written whole names neither; stopped so, it removes no earlier one', async () => {
    const failed = (path: string): RecordSink => ({
      ...sink(path, []),
      failure: () => new SparctlError('disk.full', `${path}: cannot write: no space left on device (ENOSPC)`, ExitCode.unavailable),
      close: async () => {
        throw new SparctlError('disk.full', `${path}: cannot write: no space left on device (ENOSPC)`, ExitCode.unavailable);
      },
    });
    const d = deps(memoryMapper(), [{ id: 'B1', ...BANK }, {}], {
      stampOf: () => 'stamp-1',
      openRejects: async (path) => failed(path),
      openResults: async (path) => failed(path),
    });
    const result = await runBulkJob(d, { ...JOB, dryRun: true, resultsPath: '/w/r.csv' });
    expect(result.summary.stopped).toMatchObject({ code: 'disk.full' });
    expect(result.rejects).toBeUndefined();
    expect(result.resultsPath).toBeUndefined();
    expect(result.previewRemoved).toBeUndefined();
    expect(d.calls.filter((call) => call.startsWith('remove'))).toEqual([]);
  });

  it('previewPath puts ".preview" before the extension', () => {
    expect(previewPath('/w/x.rejects.csv')).toBe('/w/x.rejects.preview.csv');
    expect(previewPath('/w/r.jsonl')).toBe('/w/r.preview.jsonl');
    expect(previewPath('/w.d/r')).toBe('/w.d/r.preview');
    expect(previewPath('/w/.hidden')).toBe('/w/.hidden.preview');
  });

  describe('early stop', () => {
    const bad = (n: number) => Array.from({ length: n }, () => ({}));
    const good = (from: number, n: number) => Array.from({ length: n }, (_, i) => ({ id: `G${from + i}`, ...BANK }));

    it('the first N all rejected for one input problem: exit 2 before the rest is read, nothing sent, no reject file, the journal removed', async () => {
      const mapper = memoryMapper();
      const d = deps(mapper, [...bad(10), ...good(0, 5)]);
      const result = await runBulkJob(d, { ...JOB, stopEarly: 10 });
      expect(result.exitCode).toBe(2);
      expect(result.summary.stopped).toMatchObject({ code: 'input.systematic', exitCode: 2 });
      expect(result.summary.stopped?.message).toMatch(
        /^the first 10 records were all rejected as input\.invalid \(line 2: .*\); stopped before reading the other 5, nothing was sent$/,
      );
      expect(result.summary.stopped?.hint).toContain('--no-early-stop');
      expect(result.summary).toMatchObject({ rejected: 10, applied: 0, notSent: 5 });
      expect(result).toMatchObject({ stoppedOnProblem: true, stoppedEarly: true });
      expect(result.firstRejects).toHaveLength(10);
      expect(d.calls.some((c) => c.startsWith('rejects'))).toBe(false);
      expect(d.journal.removed).toBe(true);
      expect(result.journalPath).toBeUndefined();
      expect(result.resumeHint).toBeUndefined();
    });

    it('nothing after the probed records is sent: the valid rows after them stay unlinked', async () => {
      const mapper = LocalMapper.open(':memory:');
      const close = mapper.close.bind(mapper);
      mapper.close = async () => undefined; // read it afterwards
      const d = deps(mapper, [...bad(10), ...good(0, 5)]);
      // Chunks as a remote run's (2,000 records): without the probe's own chunk, G0-G4 would be planned and sent with it.
      expect((await runBulkJob(d, { ...JOB, stopEarly: 10, local: false, batchSize: 100 })).exitCode).toBe(2);
      const after = await mapper.resolve([{ reference_id: 'r', id: 'G0', scope: 'details' }], { source: 't' });
      expect(after[0]).toMatchObject({ status_reason_code: 'succ.fa.not_linked_to_id' });
      await close();
    });

    it('a job resumed from an earlier run keeps its journal', async () => {
      let removed = false;
      const resumed = journalFile({ resumes: true, remove: () => void (removed = true) });
      const d = deps(memoryMapper(), [...bad(10), ...good(0, 5)], { openJournal: async () => resumed });
      const result = await runBulkJob(d, { ...JOB, stopEarly: 10 });
      expect(result.exitCode).toBe(2);
      expect(removed).toBe(false);
      expect(result.journalPath).toBe('/state/journals/j.db');
    });

    it('a journal found removed as it is closed: the run says so (disk.write_failed, exit 4), names no journal and no resume', async () => {
      let lost = false;
      const vanished = journalFile({
        resumes: true,
        lost: () => lost,
        // As SqliteJournal: the first close finds the file gone; a later one has nothing left to close.
        close: () => {
          if (lost) return;
          lost = true;
          throw new SparctlError(
            'disk.write_failed',
            '/state/journals/j.db: the journal was removed or replaced while the run used it',
            ExitCode.unavailable,
          );
        },
      });
      const d = deps(memoryMapper(), [...bad(10), ...good(0, 5)], { openJournal: async () => vanished });
      const result = await runBulkJob(d, { ...JOB, stopEarly: 10 });
      expect(result.exitCode).toBe(4);
      expect(result.summary.stopped).toMatchObject({ code: 'disk.write_failed' });
      expect(result.journalPath).toBeUndefined();
      expect(result.resumeHint).toMatch(/^the journal is gone from its path: put it back \(with its -wal file\)/);
    });

    it('does not stop: one good row among the first N, a file no longer than N, --no-early-stop (0); every reject written in order', async () => {
      for (const [rows, stopEarly] of [
        [[...bad(4), ...good(0, 1), ...bad(10)], 10],
        [bad(10), 10],
        [bad(15), 0],
      ] as const) {
        const d = deps(memoryMapper(), rows);
        const result = await runBulkJob(d, { ...JOB, stopEarly });
        expect(result.exitCode).toBe(5);
        expect(result.stoppedOnProblem).toBe(false);
        expect(d.rejected.map((e) => e.line)).toEqual(rows.flatMap((row, i) => ('id' in row ? [] : [i + 2])));
      }
    });

    it("the mapper's rejections never count: every row already linked on a re-link runs to the end", async () => {
      const mapper = memoryMapper();
      const rows = good(0, 15);
      const first = deps(mapper, rows);
      mapper.close = async () => undefined;
      expect((await runBulkJob(first, { ...JOB, stopEarly: 10 })).exitCode).toBe(0);
      const again = deps(mapper, rows);
      const result = await runBulkJob(again, { ...JOB, stopEarly: 10 });
      expect(result.exitCode).toBe(5);
      expect(result.summary.rejectedBy).toEqual({ 'rjct.reference_id.duplicate': 15 });
      expect(result.stoppedOnProblem).toBe(false);
    });
  });

  it('unlink asks before the journal is opened; a stream is never indexed from a kept index', async () => {
    const asked: string[] = [];
    const d = deps(
      memoryMapper(),
      [{ id: 'B1' }],
      { confirmUnlink: async (what) => void asked.push(what) },
      { mode: 'unlink', spooled: true },
    );
    await runBulkJob(d, { ...JOB, mode: 'unlink', file: '-', shortName: 'stdin' });
    expect(asked).toEqual(['the beneficiaries in stdin']);
    expect(d.calls[2]).toMatch(/use=false keep=false$/);
  });

  it('a finished run tells beforeForgetting before its journal goes; a SparctlError it throws stops the run with the journal kept', async () => {
    const told: string[] = [];
    const rows = [
      { id: 'H1', ...BANK },
      { id: 'H2', ...BANK },
    ];
    const done = deps(memoryMapper(), rows, {
      beforeForgetting: (summary) => void told.push(`applied ${summary.applied}, journal removed: ${done.journal.removed}`),
    });
    const finished = await runBulkJob(done, JOB);
    expect(told).toEqual(['applied 2, journal removed: false']);
    expect(done.journal.removed).toBe(true);
    expect(finished).toMatchObject({ stoppedEarly: false, exitCode: 0 });

    // It cannot record what it must (the disk is full): the run is not done, and the next one resumes it.
    const full = deps(memoryMapper(), rows, {
      beforeForgetting: () => {
        throw new SparctlError('disk.full', 'state.json: cannot write the import state: no space left on device (ENOSPC)', 4, {
          hint: 'free some space',
        });
      },
    });
    const stopped = await runBulkJob(full, JOB);
    expect(full.journal.removed).toBe(false);
    expect(full.journal.closed).toBeGreaterThan(0);
    expect(stopped.summary.stopped).toEqual({
      code: 'disk.full',
      message: 'state.json: cannot write the import state: no space left on device (ENOSPC)',
      exitCode: 4,
      hint: 'free some space',
    });
    expect(stopped.summary).toMatchObject({ applied: 2, notSent: 0 });
    expect(stopped).toMatchObject({
      stoppedEarly: true,
      journalPath: '/state/journals/j.db',
      resumeHint: 'run the same command again to resume; --restart starts over',
      exitCode: 4,
    });
    // A job that may not be started over (import-odk's window) offers no --restart.
    const again = deps(memoryMapper(), rows, { beforeForgetting: full.beforeForgetting! });
    expect(await runBulkJob(again, { ...JOB, noRestart: true })).toMatchObject({
      stoppedEarly: true,
      resumeHint: 'run the same command again to resume',
    });

    // Not told when the run is not done (stopped, or a dry run), nor when it is something else than a SparctlError that fails.
    const notDone: string[] = [];
    const dry = deps(memoryMapper(), rows, { beforeForgetting: () => void notDone.push('dry') });
    await runBulkJob(dry, { ...JOB, dryRun: true });
    const unsent = deps(memoryMapper(), rows, {
      beforeForgetting: () => void notDone.push('stopped'),
      prescan: async () => ({ fingerprint: 'f'.repeat(64), lines: 2, index: indexOf(['H1'], [2]) }),
    });
    expect((await runBulkJob(unsent, JOB)).summary.stopped?.code).toBe('engine.input_changed');
    expect(notDone).toEqual([]);
    const bug = deps(memoryMapper(), rows, {
      beforeForgetting: () => {
        throw new TypeError('a bug');
      },
    });
    await expect(runBulkJob(bug, JOB)).rejects.toThrow('a bug');
    expect(bug.journal.removed).toBe(false);
  });

  it('SIGTERM: says so, stops cleanly, keeps the journal and says how to resume; a second signal ends the process at once', async () => {
    const exits: number[] = [];
    const rows = [{ id: 'B1', ...BANK }];
    const d: BulkJobDeps & Recorded = deps(memoryMapper(), rows, {
      exitNow: (code: number) => {
        exits.push(code);
        throw new Error('exited'); // process.exit does not return
      },
      records: async (mapper) => {
        const all = bulkRecords('link', rows, await mapper.strategies());
        async function* signalled() {
          d.signal!('SIGTERM'); // as the run reads its first records
          expect(() => d.signal!('SIGINT')).toThrow('exited');
          yield all;
        }
        return { records: signalled(), columns: () => [] };
      },
    });
    const result = await runBulkJob(d, JOB);
    expect(d.said).toEqual(['\nsparctl: terminated (SIGTERM); finishing the requests in flight (a second signal to stop at once)']);
    expect(exits).toEqual([130]);
    expect(result.summary.stopped).toEqual({ code: 'terminated', message: 'terminated (SIGTERM)', exitCode: 143 });
    expect(result).toMatchObject({
      stoppedEarly: true,
      journalPath: '/state/journals/j.db',
      resumeHint: 'run the same command again to resume; --restart starts over',
      exitCode: 143,
    });
    expect(d.journal.removed).toBe(false);
    expect(d.signal).toBeUndefined(); // stopped listening
  });
});

describe('SIGHUP and SIGQUIT', () => {
  it('stop a run as SIGTERM does (the terminal or SSH session gone, Ctrl-\\), with their own code and exit code', async () => {
    for (const [signal, code, exitCode, said] of [
      ['SIGHUP', 'hangup', 129, 'the terminal hung up (SIGHUP)'],
      ['SIGQUIT', 'quit', 131, 'quit (SIGQUIT)'],
    ] as const) {
      const rows = [{ id: 'B1', ...BANK }];
      const d: BulkJobDeps & Recorded = deps(memoryMapper(), rows, {
        records: async (mapper) => {
          const all = bulkRecords('link', rows, await mapper.strategies());
          async function* signalled() {
            d.signal!(signal);
            yield all;
          }
          return { records: signalled(), columns: () => [] };
        },
      });
      const result = await runBulkJob(d, JOB);
      expect(d.said).toEqual([`\nsparctl: ${said}; finishing the requests in flight (a second signal to stop at once)`]);
      expect(result.summary.stopped).toEqual({ code, message: said, exitCode });
      expect(result).toMatchObject({ stoppedEarly: true, journalPath: '/state/journals/j.db', exitCode });
      expect(d.journal.removed).toBe(false);
    }
  });
});

describe('exitCodeOf', () => {
  const summary = (over: Partial<BulkSummary>) => ({ notSent: 0, rejected: 0, ...over }) as BulkSummary;
  it('the stop first, then records not sent (4), then rejects (5)', () => {
    expect(exitCodeOf(summary({ stopped: { code: 'remote.refused', message: 'x', exitCode: 4 }, rejected: 3 }))).toBe(4);
    expect(exitCodeOf(summary({ notSent: 2, rejected: 3 }))).toBe(4);
    expect(exitCodeOf(summary({ rejected: 3 }))).toBe(5);
    expect(exitCodeOf(summary({}))).toBe(0);
  });
});
