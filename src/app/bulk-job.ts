import { STOP_SIGNALS, type StopSignal } from '../core/stop-signals.js';
import { EARLY_STOP_AFTER, EARLY_STOP_CODE, isSystematic } from '../core/bulk/early-stop.js';
import { INPUT_CHANGED_CODE, runBulk, type BulkOptions } from '../core/bulk/engine.js';
import type { BulkEvent, BulkSummary, RecordEvent } from '../core/bulk/events.js';
import type { RowIndex } from '../core/bulk/row-index.js';
import type { BulkInput, BulkMode } from '../core/bulk/types.js';
import type { CsvLayout } from '../core/csv-delimiter.js';
import { ExitCode, SparctlError, UnavailableError, UsageError } from '../core/errors.js';
import { MemoryJournal, type Journal } from '../core/journal.js';
import type { Mapper } from '../core/mapper.js';

/**
 * A file-driven bulk job (link|update|unlink --file, import-csv, import-odk): the input made
 * readable twice, one pass for its fingerprint and row index, the journal locked and opened (or
 * resumed), the records through the write pipeline with rejects, results and progress as they
 * come, signals turned into a clean stop, the journal kept when the job must be resumed and
 * removed when it is done — only once the caller has recorded what it keeps of the run
 * (beforeForgetting) — and the summary turned into an exit code.
 *
 * A dry run writes to no mapper, journal or report file of the job: its rejects and results go
 * to preview files (`X.rejects.csv` → `X.rejects.preview.csv`), which no real run reads or writes.
 *
 * Invariant: a dry run, which holds no claim, leaves at a preview path only a whole preview of
 * its own — put in place when it ends, so of dry runs at once the last to end wins — and removes
 * only the preview that was there before it began, never one another dry run put there since.
 */

/** Where a job's record events go while it runs (a file, stdout). */
export interface RecordSink {
  write(event: RecordEvent): void;
  /** Rejects with a SparctlError (`disk.*`) when a write failed. */
  close(): Promise<void>;
  /** The first write that failed, as soon as it is known (the run then stops). */
  failure?(): SparctlError | undefined;
  readonly path: string;
  readonly count: number;
}

/** A journal on disk: also the job's lock. */
export interface JournalFile {
  readonly journal: Journal;
  readonly path: string;
  /** The job's fingerprint as the journal holds it (an earlier sparctl's identity's, resumed under it); absent: the job's. */
  readonly fingerprint?: string;
  /** It holds records of an earlier run: this run resumes that job (its reject file is this job's own). */
  readonly resumes: boolean;
  /** Whether the run found the journal removed or replaced under it: there is nothing to resume from. */
  lost(): boolean;
  /** This run made it and nothing is recorded in it: removed if the run is refused before it sends. */
  isEmpty(): boolean;
  /** Throws disk.write_failed when its path no longer holds the journal the run wrote (removed or replaced meanwhile). */
  close(): void;
  remove(): void;
  /**
   * Claims a report file (reject, results) for this run until the journal is closed: no other
   * run may then write it. Held by the journal because it is held exactly as long as a claim must
   * be: from before the report paths are chosen until after the reports are closed, however the
   * run ends (a dry run, which writes no report file, has none). Absent: nothing is claimed.
   */
  claim?(path: string): ReportClaim;
  /** Keeps a note for the next run of this job (the reject file this run wrote); cleared by --restart. */
  note?(key: string, value: string): void;
  /** The note an earlier run of this job kept, if any. */
  noted?(key: string): string | undefined;
}

/**
 * A report path claimed for this run (released with the journal), or another run's: `holder` is
 * who that is ("pid N"), when its lock says, and `lockPath` the lock to remove if no sparctl runs.
 */
export type ReportClaim =
  | { readonly taken: false; release(): void }
  | { readonly taken: true; readonly holder?: string; readonly lockPath: string };

export type JobSignal = StopSignal;

export interface BulkJobDeps {
  readonly stdinIsTTY: boolean;
  /** The input, readable twice: the file itself, or "-" (stdin) copied to a private file. */
  /** `dryRun`: a copy of a stream goes where it leaves nothing of sparctl's behind. */
  readonly openInput: (file: string, dryRun: boolean) => Promise<{ readonly path: string; readonly spooled: boolean; remove(): void }>;
  readonly openMapper: (access: 'write' | 'dry-run') => Promise<Mapper>;
  /** The mapper the settings name, for the job's identity ("local DB INSTANCE", "spar-v2 URL"). */
  readonly targetIdentity: (mapper: Mapper) => string;
  /**
   * The pass before the run over the input at `path`: fingerprint (of the input and
   * `definition`), lines and row index. `index`: may a row index kept for these bytes be used,
   * and may this one be kept.
   */
  readonly prescan: (
    mapper: Mapper,
    path: string,
    definition: string,
    index: { readonly use: boolean; readonly keep: boolean },
  ) => Promise<{ fingerprint: string; lines: number; index: RowIndex; bytes?: ReadBytes }>;
  /**
   * The input at `path` as engine records, and the input's columns once read (for rejects);
   * `bytes`: the prescan's, which the read must find again (a file rewritten in place stops it).
   */
  readonly records: (
    mapper: Mapper,
    path: string,
    bytes?: ReadBytes,
  ) => Promise<{ records: BulkInput; columns: () => readonly string[]; layout?: () => CsvLayout | undefined }>;
  /** Unlinking needs --yes or a yes at the terminal; throws when not given. */
  readonly confirmUnlink: (what: string, target: string) => Promise<void>;
  /** Opens and locks the journal: `file` from --journal, else `name` in the journals' directory. */
  readonly openJournal: (
    where: { readonly file?: string; readonly name: string },
    job: { fingerprint: string; description: string },
    restart: boolean,
  ) => Promise<JournalFile>;
  /** Has a local mapper write links on a second thread; true when it does. */
  readonly writeLinksOnThread: (mapper: Mapper) => Promise<boolean>;
  /**
   * Makes sure the reject file can be written, before anything is sent (it is opened only once a
   * record is rejected): throws the SparctlError that says why not. `preview`: a dry run's, which
   * is written beside its path and put there when done (openRejects): nothing is made at the path.
   */
  readonly checkRejects: (path: string, preview?: boolean) => void;
  /** Refuses a results path that is one of `rejectFiles` (this run's, or the one a default name would have been: maybe fixed by hand) or a protected file. */
  readonly checkResults?: (path: string, rejectFiles: readonly string[]) => void;
  /** Refuses a dry run's preview path that holds a link (symbolic or hard): written, the file it leads to would be replaced. */
  readonly checkPreview?: (path: string) => void;
  /** A file is at `path` already. */
  readonly exists: (path: string) => boolean;
  /**
   * Removes the file at `path` if there is one (an earlier dry run's preview this one does not
   * replace); with `earlier` (stampOf), only while it is still that file: never one put there since.
   */
  readonly removeFile: (path: string, earlier?: string) => boolean;
  /** What tells the file at `path` from any other, or from itself changed (device, inode, size, time); undefined: no file. */
  readonly stampOf?: (path: string) => string | undefined;
  /**
   * `preview` (a dry run's), and a dry run's results: written beside the path and put there whole
   * once closed, the sink's failure() undefined — never a half-written file at the path (two dry
   * runs at once, which claim nothing, write one path); a failed one is not put there at all.
   */
  readonly openRejects: (path: string, columns: readonly string[], layout: CsvLayout | undefined, preview: boolean) => Promise<RecordSink>;
  /** `dryRun`: the lines say what would happen (`would_apply`), not what did. */
  readonly openResults: (path: string, dryRun: boolean) => Promise<RecordSink>;
  /** Per-record lines on stdout (-o jsonl|csv), when the output asks for them. */
  readonly stdoutResults?: (dryRun: boolean) => Promise<Pick<RecordSink, 'write' | 'close'>>;
  /** A write to stdout that failed (a full disk under -o jsonl > file): the run stops as for a report file's. */
  readonly stdoutFailure?: () => SparctlError | undefined;
  /** Shows the run's progress on stderr until stopped. */
  readonly startProgress: () => { onEvent(event: BulkEvent): void; stop(): void };
  /** Listens for the stop signals (core/stop-signals.ts) until the returned function is called. */
  readonly onSignal: (listener: (signal: JobSignal) => void) => () => void;
  /** Ends the process at once (a second signal). */
  readonly exitNow: (code: number) => never;
  /** A line on stderr, always (a signal received). */
  readonly say: (line: string) => void;
  /** A "sparctl: …" line under --verbose; absent without it (or with -q). */
  readonly verbose?: (line: string) => void;
  /** Told every record's event (all of them are made then): what the caller needs of each outcome. */
  readonly collect?: (event: RecordEvent) => void;
  /** Told the records about to be sent and what the run read for each, before they are (BulkOptions.beforeSending). */
  readonly beforeSending?: BulkOptions['beforeSending'];
  /** Told the run's summary once it ends (import-odk's per-poll line). */
  readonly onSummary?: (summary: BulkSummary) => void;
  /**
   * Called once a real run is done (every record settled, nothing stopped it), just before its
   * journal is removed: what must outlive the journal is recorded here (import-odk's state).
   * A SparctlError thrown (a full disk) stops the run with it, and the journal is kept, so that
   * the next run resumes the job — every record settled by this one — and is told them again.
   * `fingerprint`: the job's, as its journal holds it (import-odk records it as settled).
   */
  readonly beforeForgetting?: (summary: BulkSummary, fingerprint: string) => void;
  /** Digest of a stored FA, for writes conditional on one (import-odk). */
  readonly faDigest?: (fa: string) => string;
}

export interface BulkJobInput {
  readonly command: string;
  readonly mode: BulkMode;
  /** The input file, "-" for stdin. */
  readonly file: string;
  /** The input as the job names it: the file's base name, or "stdin". */
  readonly shortName: string;
  /** Extra bytes that define the job besides the input (the mapping file, defaults). */
  readonly definition: string;
  /** What the audit log names as the writer (default: "sparctl COMMAND NAME"). */
  readonly source?: string;
  readonly rejectsPath: string;
  /** The reject path was named (--rejects): an existing file there is refused, not renamed around. */
  readonly rejectsNamed?: boolean;
  /** --overwrite: an existing file at a named reject path may be replaced. */
  readonly overwrite?: boolean;
  readonly resultsPath?: string;
  readonly journal?: string;
  readonly restart?: boolean;
  /** The job may not be started over (import-odk: a window is always finished, or the importer forgets what it wrote). */
  readonly noRestart?: boolean;
  /** What a stop before the first record is sent says (`nothing was sent`; import-odk: of this window, the ones before it applied). */
  readonly unsent?: string;
  readonly dryRun?: boolean;
  readonly batchSize: number;
  /** Requests in flight: a number, or `auto` (up to concurrencyMax). */
  readonly concurrency: number | 'auto';
  readonly concurrencyMax: number;
  readonly retries?: number;
  /**
   * Stop before reading the rest when the first this many records are all rejected for the same
   * input, mapping or DFSP problem (core/bulk/early-stop.ts); 0: never (default 1,000).
   */
  readonly stopEarly?: number;
  /** A local mapper: works in this thread, one batch at a time. */
  readonly local: boolean;
}

export interface BulkJobResult {
  readonly command: string;
  readonly target: string;
  readonly summary: BulkSummary;
  readonly dryRun: boolean;
  /** Stopped, or records left unsent: the journal is kept and the job can be resumed. */
  readonly stoppedEarly: boolean;
  /** The reject file written (a dry run's: the preview). */
  readonly rejects?: {
    readonly path: string;
    /** Rows the run gave the file: all in it unless `incomplete`. */
    readonly count: number;
    /** A write to the file failed (a full disk): it holds only some of the rows, maybe the last one cut short. */
    readonly incomplete?: true;
  };
  /** A dry run without rejects removed the preview an earlier one left here. */
  readonly previewRemoved?: string;
  /** The default reject path held a file (a fixed earlier one, maybe): kept, and the rejects went to `rejects.path`. */
  readonly rejectsKept?: string;
  readonly resultsPath?: string;
  /** A write to the results file failed (a full disk): it holds only some of the lines. */
  readonly resultsIncomplete?: true;
  readonly journalPath?: string;
  readonly resumeHint?: string;
  /** A dry run: the first records it would write. */
  readonly planned: readonly RecordEvent[];
  /** The first rejected records, in input order (a dry run and an early stop show them). */
  readonly firstRejects: readonly RecordEvent[];
  /** Stopped on a systematic problem (early-stop.ts): nothing was sent, and the journal was removed unless it holds an earlier run's records. */
  readonly stoppedOnProblem: boolean;
  readonly exitCode: number;
}

const DRY_RUN_SHOWN = 10;
const REJECTS_SHOWN = 10;
const KEEP_GOING = 'fix the cause and run again; --no-early-stop reads every row whatever the first ones say';

/** Where a dry run writes a report file's preview: `X.rejects.csv` → `X.rejects.preview.csv`, `r.jsonl` → `r.preview.jsonl`. */
export function previewPath(path: string): string {
  const slash = path.lastIndexOf('/');
  const dot = path.lastIndexOf('.');
  const cut = dot > slash + 1 ? dot : path.length;
  return `${path.slice(0, cut)}.preview${path.slice(cut)}`;
}

export async function runBulkJob(deps: BulkJobDeps, job: BulkJobInput): Promise<BulkJobResult> {
  if (job.file === '-' && deps.stdinIsTTY)
    throw new UsageError('usage.stdin_is_tty', '--file - reads records from stdin, but stdin is a terminal', {
      hint: 'pipe a file in, or give its path',
    });
  // Until the run listens for stop signals itself, a signal stops it here and now: nothing was
  // sent yet (the input is being copied or checked, the journal made). Left to Node, it ended the
  // process without a word, and a copy of stdin stayed in the state folder.
  const early: EarlyStop = {
    stop: () => {
      listening?.();
      listening = undefined;
    },
  };
  let listening: (() => void) | undefined = deps.onSignal((signal) => {
    deps.say(`\nsparctl: ${STOP_SIGNALS[signal].said}; ${job.unsent ?? 'nothing was sent'}`);
    // A journal this run made holds nothing yet: it would only be found, empty, by the next run.
    if (early.journal !== undefined && emptyJournal(early.journal)) {
      try {
        early.journal.remove();
      } catch {
        // Left as it is: the next run of the job takes it over.
      }
    }
    deps.exitNow(STOP_SIGNALS[signal].exitCode);
  });
  const stopListening = early.stop;
  try {
    const input = await deps.openInput(job.file, job.dryRun === true);
    try {
      const mapper = await deps.openMapper(job.dryRun === true ? 'dry-run' : 'write');
      try {
        return await runWithMapper(deps, job, mapper, input, early);
      } finally {
        await mapper.close();
      }
    } finally {
      input.remove();
    }
  } finally {
    stopListening();
  }
}

/** What the pass before the run read of a file (adapters' byte-digests.ts), handed back to the run's read. */
export interface ReadBytes {
  readonly digests: readonly string[];
  readonly size: number;
  readonly endsLine: boolean;
}

/** runBulkJob's listener until the run's own takes over: how to stop it, and the journal the run made. */
interface EarlyStop {
  readonly stop: () => void;
  journal?: JournalFile;
}

async function runWithMapper(
  deps: BulkJobDeps,
  job: BulkJobInput,
  mapper: Mapper,
  input: { path: string; spooled: boolean },
  early: EarlyStop,
): Promise<BulkJobResult> {
  // The mapper's own identity is part of the job: a journal must never vouch for records
  // applied to a database that has since been deleted and created anew.
  const definition = JSON.stringify({
    command: job.command,
    mode: job.mode,
    target: deps.targetIdentity(mapper),
    definition: job.definition,
  });
  // One pass over the whole input before anything is sent: fingerprint, UTF-8, and which rows a
  // later row of the same ID supersedes. A copy of a stream is new every time: only a file's
  // index is worth keeping. A dry run keeps nothing (it may use an index kept before).
  const { fingerprint, lines, index, bytes } = await deps.prescan(mapper, input.path, definition, {
    use: !input.spooled,
    keep: !input.spooled && job.dryRun !== true,
  });

  if (job.mode === 'unlink' && !job.dryRun) await deps.confirmUnlink(`the beneficiaries in ${job.shortName}`, mapper.target);
  let journal: Journal;
  let journalFile: JournalFile | undefined;
  if (job.dryRun) {
    journal = new MemoryJournal();
  } else {
    journalFile = await deps.openJournal(
      { ...(job.journal ? { file: job.journal } : {}), name: `${fingerprint.slice(0, 32)}.db` },
      { fingerprint, description: `${job.command} ${job.shortName} → ${mapper.target}` },
      job.restart === true,
    );
    journal = journalFile.journal;
    early.journal = journalFile;
  }
  try {
    const writerThread = !job.dryRun && (await deps.writeLinksOnThread(mapper));
    if (writerThread) deps.verbose?.('the local mapper writes links on a second thread (SPARCTL_WRITER_THREAD=off: one thread)');
    return await runJournalled(deps, job, mapper, input, {
      index,
      ...(bytes === undefined ? {} : { bytes }),
      lines,
      journal,
      journalFile,
      writerThread,
      fingerprint,
      stopEarlyListener: early.stop,
    });
  } catch (error) {
    // Refused before anything was sent (a reject file in the way, a report path another run
    // holds): an empty journal vouches for nothing, and was left in the state folder for good.
    if (journalFile !== undefined && emptyJournal(journalFile)) {
      try {
        journalFile.remove();
      } catch {
        // Left as it is (a disk made read-only): the next run of the job takes it over.
      }
    }
    throw error;
  } finally {
    journalFile?.close();
  }
}

/** Whether the journal is empty; a journal that cannot be read is not (it stays for the next run to say why). */
function emptyJournal(file: JournalFile): boolean {
  try {
    return file.isEmpty();
  } catch {
    return false;
  }
}

async function runJournalled(
  deps: BulkJobDeps,
  job: BulkJobInput,
  mapper: Mapper,
  input: { path: string; spooled: boolean },
  run: {
    index: RowIndex;
    /** What the prescan read of the input: the run's read must find it again. */
    bytes?: ReadBytes;
    lines: number;
    journal: Journal;
    journalFile: JournalFile | undefined;
    writerThread: boolean;
    fingerprint: string;
    /** Removes runBulkJob's listener ("nothing was sent") once this run's own is in place. */
    stopEarlyListener: () => void;
  },
): Promise<BulkJobResult> {
  const dryRun = job.dryRun === true;
  // Every output path is known good before the first record is sent, and a reject file already
  // there (fixed by hand, maybe) is never replaced silently: at the default path a new numbered
  // name is taken (a resumed run too: which numbered file was its own is not known); at a named
  // path it is refused unless --overwrite or this run resumes the job that wrote it. A real
  // run's report paths are claimed now (the files are only made at their first line): two runs
  // started together chose one default name and each overwrote the other's rejects.
  const resultsPath = job.resultsPath === undefined ? undefined : dryRun ? previewPath(job.resultsPath) : job.resultsPath;
  let rejectsPath: string;
  if (dryRun) {
    // A preview may replace the one an earlier dry run left (README says so): never a real file,
    // nor one a link there leads to.
    rejectsPath = previewPath(job.rejectsPath);
    deps.checkPreview?.(rejectsPath);
    deps.checkRejects(rejectsPath, true);
  } else if (job.rejectsNamed === true) {
    rejectsPath = job.rejectsPath;
    if (deps.exists(rejectsPath) && job.overwrite !== true && run.journalFile?.resumes !== true)
      throw new UsageError('usage.rejects_exists', `${job.rejectsPath} exists (a reject file of an earlier run?); nothing was sent`, {
        hint: 'pass --overwrite to replace it, or name another --rejects path',
      });
    // Claimed before it is checked: the check makes and removes a file there, which must not be one another run has just opened.
    claimNamed(run.journalFile, rejectsPath, '--rejects');
    deps.checkRejects(rejectsPath);
  } else {
    // A resumed run writes its rejects again from the start: into the file an earlier run of the
    // job wrote, if no one has touched it since, rather than a new numbered one after every stop.
    const earlier = run.journalFile?.resumes === true ? ownEarlierRejects(deps, run.journalFile, job.rejectsPath) : undefined;
    rejectsPath = earlier ?? claimFreeName(deps, run.journalFile, job.rejectsPath);
    deps.checkRejects(rejectsPath);
  }
  if (resultsPath !== undefined) {
    if (dryRun) deps.checkPreview?.(resultsPath);
    deps.checkResults?.(resultsPath, [rejectsPath, job.rejectsPath]);
    // Opened (truncated) below, at once: a second run naming it would empty the first one's.
    if (!dryRun) claimNamed(run.journalFile, resultsPath, '--results');
  }
  // The preview there as this run begins: the one it may remove (a dry run that rejects nothing).
  // One another dry run puts there later is as new as this run's findings, and stands.
  const earlierPreview = dryRun ? deps.stampOf?.(rejectsPath) : undefined;
  const { records, columns, layout } = await deps.records(mapper, input.path, run.bytes);
  let rejects: RecordSink | undefined;
  let rejectsOpening: Promise<void> | undefined;
  const pendingRejects: RecordEvent[] = [];
  const results = resultsPath ? await deps.openResults(resultsPath, dryRun) : undefined;
  const stdoutResults = await deps.stdoutResults?.(dryRun);
  const progress = deps.startProgress();

  // Ctrl-C, SIGTERM, SIGHUP and SIGQUIT alike: no new request is sent, the ones in flight finish and are
  // journalled, the summary is printed. A second signal ends the process at once.
  let signal: JobSignal | undefined;
  // A report file that cannot be written stops the run as a mapper outage does: what is settled
  // is journalled, and the next run writes the reports again from the start.
  const sinkFailure = () => results?.failure?.() ?? rejects?.failure?.() ?? rejectsFailure ?? deps.stdoutFailure?.();
  let rejectsFailure: SparctlError | undefined;
  const stopListening = deps.onSignal((received) => {
    if (signal !== undefined) deps.exitNow(STOP_SIGNALS[received].exitCode);
    signal = received;
    deps.say(
      `\nsparctl: ${STOP_SIGNALS[received].said}; finishing the requests in flight (${STOP_SIGNALS[received].again} to stop at once)`,
    );
  });
  // Only now, this run's listener in place: with none left for a moment, Node stops watching the
  // signal, and one that came during the work just done was lost (the run then wrote everything).
  run.stopEarlyListener();

  const planned: RecordEvent[] = [];
  const firstRejects: RecordEvent[] = [];
  const writeReject = (event: RecordEvent) => {
    if (rejects) rejects.write(event);
    else {
      pendingRejects.push(event);
      rejectsOpening ??= deps.openRejects(rejectsPath, columns(), layout?.(), dryRun).then(
        (sink) => {
          rejects = sink;
          for (const queued of pendingRejects.splice(0)) sink.write(queued);
        },
        (error: unknown) => {
          if (!(error instanceof SparctlError)) throw error;
          rejectsFailure = error;
        },
      );
    }
  };
  // While the run may still stop early, rejects that could make it stop wait here: a stop on a
  // systematic problem leaves no reject file (the next run, the cause fixed, starts clean): its
  // one line names the reason and the first line. At most `stopEarly` of them wait.
  const stopEarly = job.stopEarly ?? EARLY_STOP_AFTER;
  let held: RecordEvent[] | undefined = stopEarly > 0 && run.index.rows > stopEarly ? [] : undefined;
  const release = () => {
    const queued = held ?? [];
    held = undefined;
    for (const event of queued) writeReject(event);
  };
  const onEvent = (event: BulkEvent) => {
    progress.onEvent(event);
    if (event.type !== 'record') return;
    deps.collect?.(event);
    if (dryRun && event.operation && event.fate !== 'rejected' && planned.length < DRY_RUN_SHOWN) planned.push(event);
    results?.write(event);
    stdoutResults?.write(event);
    if (event.fate !== 'rejected') return;
    if (firstRejects.length < REJECTS_SHOWN) firstRejects.push(event);
    if (held !== undefined) {
      const code = event.code ?? '';
      if (held.length < stopEarly && isSystematic(code) && code === (held[0]?.code ?? code)) return void held.push(event);
      release();
    }
    writeReject(event);
  };

  let summary: BulkSummary | undefined;
  let closeFailure: SparctlError | undefined;
  try {
    summary = await runBulk(mapper, records, run.journal, {
      mode: job.mode,
      index: run.index,
      batchSize: job.batchSize,
      // A local mapper works in this thread: nothing to adapt to.
      ...(job.concurrency !== 'auto'
        ? { concurrency: job.concurrency }
        : job.local
          ? { concurrency: LOCAL_CONCURRENCY }
          : { concurrency: job.concurrencyMax, adaptiveConcurrency: true }),
      // The local mapper works in this thread, one batch at a time: records planned ahead of the
      // batch being written only wait in memory, where the garbage collector copies them again
      // and again (a 200k-row re-run spent 400-585 ms collecting with 8,000-record chunks, 120-190
      // ms with one batch per chunk, and peaked 60 MB lower). A dry run keeps the engine's default.
      ...(job.local && !dryRun ? { chunkSize: job.batchSize } : {}),
      // A remote mapper takes several requests at once: chunks of two batches, enough of them in
      // flight to fill every request slot and plan the next. With one chunk of 4 waves of
      // requests (the default, 32,000 records under --concurrency auto) nothing was sent until
      // the whole chunk was read, and each chunk's last wave left slots idle: 20,000 new links
      // spent 1.54-1.57 s between the first request and the last answer, 1.27-1.42 s this way.
      ...(!job.local && !dryRun ? remoteChunks(job.batchSize, job.concurrency === 'auto' ? job.concurrencyMax : job.concurrency) : {}),
      // With a writer thread, the next chunks are planned and queued while one is written, so
      // that thread never waits for this one (200k new rows with the thread: 4.6-6.1 s with one
      // chunk at a time, 3.8-4.7 s with three; 4.3-6.2 s on one thread).
      ...(run.writerThread ? { chunksInFlight: 3 } : {}),
      // A remote mapper's reads cost a request each: new IDs are linked without one, once a sample
      // shows most IDs are new (upsert-order.ts). A local mapper reads its own file, cheaply.
      ...(job.local ? {} : { upsertOrder: 'auto' as const }),
      retries: job.retries ?? 5,
      context: { source: job.source ?? `sparctl ${job.command} ${job.shortName}` },
      ...(deps.faDigest === undefined ? {} : { faDigest: deps.faDigest }),
      ...(deps.beforeSending === undefined ? {} : { beforeSending: deps.beforeSending }),
      dryRun,
      onEvent,
      // Applied and unchanged records only matter to a results file, -o jsonl|csv and a dry run's list.
      recordEvents: results || stdoutResults || dryRun || deps.collect ? 'all' : 'problems',
      shouldStop: () => signal !== undefined || sinkFailure() !== undefined,
      stopReason: sinkFailure,
      strategies: new Map((await mapper.strategies()).map((s) => [s.id, s])),
      ...(held === undefined ? {} : { stopEarly: { after: stopEarly, hint: KEEP_GOING } }),
    });
  } finally {
    stopListening();
    progress.stop();
    if (summary?.stopped?.code !== EARLY_STOP_CODE) release();
    await rejectsOpening;
    closeFailure = await closeAll([rejects, results, stdoutResults]);
  }
  const failed = closeFailure ?? rejectsFailure;
  // The last writes may fail after the last record was sent: the run is then not done either.
  if (failed !== undefined && (summary.stopped === undefined || summary.stopped.code === 'interrupted') && signal === undefined) {
    summary = { ...summary, stopped: { code: failed.code, message: failed.message, exitCode: failed.exitCode, hint: failed.hint } };
  }
  if (summary.stopped?.code === 'interrupted' && signal !== undefined && signal !== 'SIGINT') {
    const { code, said, exitCode } = STOP_SIGNALS[signal];
    summary = { ...summary, stopped: { code, message: said, exitCode } };
  }

  let stoppedEarly = summary.stopped !== undefined || summary.notSent > 0;
  // Stopped on a systematic problem, nothing was sent and nothing journalled: the journal goes
  // (the next run starts anew), unless it holds what an earlier run of the job left.
  let stoppedOnProblem = summary.stopped?.code === EARLY_STOP_CODE;
  const written = rejects as RecordSink | undefined; // assigned in a callback: TypeScript cannot see it
  // Stopped before anything was sent (the first token or read failed, or a signal came first):
  // a journal this run made holds nothing to resume, and the next run would only find it empty —
  // unless a reject file was left cut short (a full disk): the journal, kept, notes it for the
  // next run, which writes it again, as the summary says.
  const rejectsCutShort = !dryRun && written?.failure?.() !== undefined;
  const nothingJournalled = run.journalFile !== undefined && stoppedEarly && !rejectsCutShort && emptyJournal(run.journalFile);
  let journalKept = run.journalFile !== undefined && stoppedEarly && !nothingJournalled && !(stoppedOnProblem && !run.journalFile.resumes);
  // A journal removed or replaced under the run (told by the journal when the run stopped, or
  // only now as it is closed): there is nothing to resume from, and the summary says why.
  let journalLost = run.journalFile?.lost() === true;
  if (run.journalFile && !stoppedEarly && deps.beforeForgetting !== undefined) {
    // The journal is the only record of which writes this run made (the next run finds them
    // unchanged): it goes only once what the caller keeps of them is kept.
    try {
      deps.beforeForgetting(summary, run.journalFile.fingerprint ?? run.fingerprint);
    } catch (error) {
      if (!(error instanceof SparctlError)) throw error;
      summary = { ...summary, stopped: { code: error.code, message: error.message, exitCode: error.exitCode, hint: error.hint } };
      stoppedEarly = true;
      journalKept = true;
    }
  }
  // The reject file at a default name is noted for the next run of the job, which writes into it
  // again if it is as this run left it (a named one is this job's anyway: ownEarlierRejects).
  // (A resumed run rewrites every reject of the job, the earlier runs' settled ones too: a file it
  // writes into again gets at least the rows it held.)
  if (run.journalFile && journalKept && job.rejectsNamed !== true) {
    const stamp = written === undefined ? undefined : deps.stampOf?.(rejectsPath);
    if (stamp !== undefined) noteRejects(run.journalFile, rejectsPath, stamp);
  }
  if (run.journalFile) {
    if (!journalKept) {
      try {
        run.journalFile.remove();
      } catch (error) {
        if (!(error instanceof SparctlError)) throw error;
        // Every record is settled: a journal the disk will not let go (made read-only) only has
        // the next run of this job find them settled. The run's summary and exit code stand.
        deps.say(
          `sparctl: warning: ${error.message}; ${nothingJournalled ? 'it holds nothing (the next run of the job starts anew)' : 'the job is done (its next run finds every record settled)'}`,
        );
      }
    } else {
      try {
        run.journalFile.close();
      } catch (error) {
        if (!(error instanceof SparctlError)) throw error;
        journalLost = true;
        // A signal's stop stays the stop (its exit code); otherwise the run is not done either.
        if (summary.stopped === undefined || summary.stopped.code === EARLY_STOP_CODE)
          summary = { ...summary, stopped: { code: error.code, message: error.message, exitCode: error.exitCode, hint: error.hint } };
        stoppedEarly = true;
        stoppedOnProblem = summary.stopped?.code === EARLY_STOP_CODE;
      }
    }
    if (journalLost) journalKept = false;
  }
  if (summary.requestsInFlight !== undefined)
    deps.verbose?.(`--concurrency auto: ${summary.requestsInFlight} request(s) in flight at the end (at most ${job.concurrencyMax})`);
  deps.onSummary?.(summary);
  // A preview whose write failed was not put in place (openRejects): the summary names no file of it.
  const kept = dryRun && written?.failure?.() !== undefined ? undefined : written;
  const resultsKept = dryRun && results?.failure?.() !== undefined ? undefined : results;
  // A preview says what the last dry run would reject: one from before that this run did not
  // replace would mislead. Only a run that met no reject to write removes it — having read every
  // record, or stopped on a systematic problem (a run stopped otherwise does not know what it
  // would reject) — and only the one there as it began (earlierPreview; none: nothing to remove).
  const previewRemoved =
    dryRun &&
    rejectsOpening === undefined &&
    (summary.stopped === undefined || summary.stopped.code === EARLY_STOP_CODE) &&
    (deps.stampOf === undefined || earlierPreview !== undefined) &&
    deps.removeFile(rejectsPath, earlierPreview)
      ? rejectsPath
      : undefined;
  return {
    command: job.command,
    target: mapper.target,
    summary,
    dryRun,
    stoppedEarly,
    ...(kept
      ? { rejects: { path: rejectsPath, count: kept.count, ...(kept.failure?.() === undefined ? {} : { incomplete: true as const }) } }
      : {}),
    // (The default name may have been another run's, still to make the file: then nothing is kept there.)
    ...(kept && !dryRun && rejectsPath !== job.rejectsPath && deps.exists(job.rejectsPath) ? { rejectsKept: job.rejectsPath } : {}),
    ...(previewRemoved === undefined ? {} : { previewRemoved }),
    ...(resultsKept
      ? { resultsPath: resultsKept.path, ...(resultsKept.failure?.() === undefined ? {} : { resultsIncomplete: true as const }) }
      : {}),
    ...(journalKept ? { journalPath: run.journalFile!.path } : {}),
    // A dry run has no journal: run again, it is the same dry run, not a resume.
    ...(stoppedEarly && !stoppedOnProblem && !nothingJournalled && !dryRun
      ? {
          resumeHint:
            summary.stopped?.code === INPUT_CHANGED_CODE
              ? // The journal is of the bytes first read: it resumes only if the file is put back as it was.
                'once the file is complete, run the command on it again: a new job, which meets the rows this run applied again (import-csv: unchanged; link --file: already linked)'
              : journalLost
                ? 'the journal is gone from its path: put it back (with its -wal file) and run the same command again to resume; otherwise running the command again is a new job, which meets the rows this run applied again (import-csv: unchanged; link --file: already linked)'
                : input.spooled
                  ? `feed the same input again to the same command to resume (a different input starts a new job)${job.noRestart ? '' : '; --restart starts over'}`
                  : `run the same command again to resume${job.noRestart ? '' : '; --restart starts over'}`,
        }
      : {}),
    planned,
    firstRejects,
    stoppedOnProblem,
    exitCode: exitCodeOf(summary),
  };
}

/** Requests in flight against the local mapper when the setting is `auto`. */
const LOCAL_CONCURRENCY = 4;

/**
 * Chunks for a remote mapper: two batches each (the first one batch, sent while the rest of the
 * first wave is planned), and enough in flight for `requests` requests plus the next chunk.
 */
function remoteChunks(batchSize: number, requests: number): { chunkSize: number; firstChunkSize: number; chunksInFlight: number } {
  return { chunkSize: batchSize * 2, firstChunkSize: batchSize, chunksInFlight: Math.ceil(requests / 2) + 1 };
}

/**
 * `X.rejects.csv`, else the first of `X.rejects-2.csv`, `X.rejects-3.csv`, … that is free: no file
 * there and no other run's claim on it. Claimed for this run: a name only checked for a file
 * was chosen by two runs at once (the file is made at the first reject), whose rows then mixed.
 */
function claimFreeName(deps: Pick<BulkJobDeps, 'exists'>, journalFile: JournalFile | undefined, path: string): string {
  const dot = path.lastIndexOf('.');
  const cut = dot > path.lastIndexOf('/') ? dot : path.length;
  for (let n = 1; ; n++) {
    const candidate = n === 1 ? path : `${path.slice(0, cut)}-${n}${path.slice(cut)}`;
    if (deps.exists(candidate)) continue;
    const claim = journalFile?.claim?.(candidate);
    if (claim?.taken === true) continue;
    // Looked at again under the claim: a file made meanwhile by something that claims nothing (an editor, an older sparctl).
    if (claim !== undefined && deps.exists(candidate)) {
      claim.release();
      continue;
    }
    return candidate;
  }
}

/**
 * The reject file an earlier run of this job wrote at a default name (`X.rejects.csv`,
 * `X.rejects-N.csv`), claimed for this run: only if it is still as that run left it — edited by
 * a coordinator (rows fixed), replaced or gone, it is kept as it is and a new name is taken.
 */
function ownEarlierRejects(deps: Pick<BulkJobDeps, 'stampOf'>, journalFile: JournalFile, defaultPath: string): string | undefined {
  const noted = journalFile.noted?.(REJECTS_NOTE);
  if (noted === undefined || deps.stampOf === undefined) return undefined;
  let earlier: { path?: unknown; stamp?: unknown };
  try {
    earlier = JSON.parse(noted) as { path?: unknown; stamp?: unknown };
  } catch {
    return undefined;
  }
  const { path, stamp } = earlier;
  if (typeof path !== 'string' || typeof stamp !== 'string' || !isDefaultName(path, defaultPath)) return undefined;
  if (deps.stampOf(path) !== stamp) return undefined;
  const claim = journalFile.claim?.(path);
  if (claim?.taken === true) return undefined;
  // Looked at again under the claim: changed meanwhile by something that claims nothing (an editor).
  if (deps.stampOf(path) !== stamp) {
    claim?.release();
    return undefined;
  }
  return path;
}

const REJECTS_NOTE = 'rejects';

function noteRejects(journalFile: JournalFile, path: string, stamp: string): void {
  try {
    journalFile.note?.(REJECTS_NOTE, JSON.stringify({ path, stamp }));
  } catch (error) {
    // A note the journal cannot take only makes the next run choose a new name, as before.
    if (!(error instanceof SparctlError)) throw error;
  }
}

/** `path` is `X.rejects.csv` or one of the numbered names claimFreeName gives after it. */
function isDefaultName(path: string, defaultPath: string): boolean {
  if (path === defaultPath) return true;
  const dot = defaultPath.lastIndexOf('.');
  const cut = dot > defaultPath.lastIndexOf('/') ? dot : defaultPath.length;
  const head = `${defaultPath.slice(0, cut)}-`;
  const tail = defaultPath.slice(cut);
  return path.startsWith(head) && path.endsWith(tail) && /^[1-9]\d*$/.test(path.slice(head.length, path.length - tail.length));
}

/** Claims a named report path for this run; another run writing it refuses this one, before anything is sent. */
function claimNamed(journalFile: JournalFile | undefined, path: string, flag: string): void {
  const claim = journalFile?.claim?.(path);
  if (claim?.taken !== true) return;
  const holder = claim.holder === undefined ? '' : ` (${claim.holder})`;
  throw new UnavailableError('output.in_use', `${flag} ${path}: another sparctl run${holder} is writing it; nothing was sent`, {
    hint: `wait for that run to end, or name another ${flag} path; if no sparctl is running, remove ${claim.lockPath}`,
  });
}

/** Closes every sink, each even when another fails; the first SparctlError, if any (anything else is a bug). */
async function closeAll(sinks: readonly (Pick<RecordSink, 'close'> | undefined)[]): Promise<SparctlError | undefined> {
  let first: SparctlError | undefined;
  for (const sink of sinks) {
    try {
      await sink?.close();
    } catch (error) {
      if (!(error instanceof SparctlError)) throw error;
      first ??= error;
    }
  }
  return first;
}

/** The exit code a finished or stopped run ends with (README: exit codes). */
export function exitCodeOf(summary: BulkSummary): number {
  if (summary.stopped) return summary.stopped.exitCode;
  if (summary.notSent > 0) return ExitCode.unavailable;
  if (summary.rejected > 0) return ExitCode.rejected;
  return ExitCode.ok;
}
