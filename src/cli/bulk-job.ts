import { basename, extname, join, resolve } from 'node:path';
import type { BulkEvent, BulkSummary, RecordEvent } from '../core/bulk/events.js';
import type { BulkInput, BulkMode } from '../core/bulk/types.js';
import { MemoryJournal, type Journal } from '../core/journal.js';
import type { RowIndex } from '../core/bulk/row-index.js';
import { ExitCode, UsageError } from '../core/errors.js';
import type { Mapper } from '../core/mapper.js';
import type { CsvKeys } from '../adapters/input/prescan.js';
import { loadContext, openMapper, writeLinksOnThread, type CommandContext, type GlobalOptions } from './context.js';
import { redactUrl } from '../config/redact.js';
import type { Io } from './io.js';
import { errorDocument, jsonDocument } from './document.js';

/**
 * Runs a file-driven bulk job (link|update|unlink --file, import-csv, import-odk): makes the
 * input readable twice, reads it once for its fingerprint and row index, locks and opens or
 * resumes its journal, streams records through the write pipeline, writes rejects, results and
 * progress, and turns the summary into an exit code.
 */

export interface BulkJobFlags {
  readonly journal?: string;
  readonly restart?: boolean;
  readonly rejects?: string;
  readonly results?: string;
  readonly batchSize?: number;
  readonly concurrency?: number;
  readonly retries?: number;
  readonly dryRun?: boolean;
}

export interface BulkJobSpec {
  readonly command: string;
  readonly mode: BulkMode;
  readonly file: string;
  /** Extra bytes that define the job besides the input (the mapping file, defaults). */
  readonly definition: string;
  /** Told the run's summary once it ends (import-odk's per-poll line). */
  readonly onSummary?: (summary: BulkSummary) => void;
  /** Told every record's event (all of them are made then): what the job needs of each outcome. */
  readonly collect?: (event: RecordEvent) => void;
  /** What the audit log names as the writer (default: "sparctl COMMAND FILE"). */
  readonly source?: string;
  /** Digest of a stored FA, for writes conditional on one (import-odk). */
  readonly faDigest?: (fa: string) => string;
  /**
   * For a CSV input: how its rows' IDs are read, so the index pass reads the ID columns only.
   * Without it, the index pass reads `records` once more.
   */
  readonly csvKeys?: (context: CommandContext, mapper: Mapper, path: string) => Promise<CsvKeys | undefined>;
  /** Turns the input at `path` (the file, or a private copy of a stream) into engine records. */
  readonly records: (context: CommandContext, mapper: Mapper, path: string) => Promise<{ records: BulkInput; columns: () => readonly string[]; headerLines: number }>;
}

const DRY_RUN_SHOWN = 10;

export async function runBulkJob(io: Io, globals: GlobalOptions, flags: BulkJobFlags, spec: BulkJobSpec): Promise<number> {
  const context = await loadContext(io, globals);
  if (spec.file === '-' && io.stdinIsTTY) throw new UsageError('usage.stdin_is_tty', '--file - reads records from stdin, but stdin is a terminal', { hint: 'pipe a file in, or give its path' });

  const { seekableInput } = await import('../adapters/input/spool.js');
  const input = await seekableInput(spec.file, io.stdin, join(context.dirs.state, 'spool'));
  try {
    const mapper = await openMapper(context, flags.dryRun === true ? 'dry-run' : 'write');
    try {
      return await runWithMapper(io, globals, flags, spec, context, mapper, input);
    } finally {
      await mapper.close();
    }
  } finally {
    input.remove();
  }
}

async function runWithMapper(
  io: Io,
  globals: GlobalOptions,
  flags: BulkJobFlags,
  spec: BulkJobSpec,
  context: CommandContext,
  mapper: Mapper,
  input: { path: string; spooled: boolean },
): Promise<number> {
  const { settings } = context.resolved;
  const name = spec.file === '-' ? 'stdin' : spec.file;
  // The mapper's own identity is part of the job: a journal must never vouch for records
  // applied to a database that has since been deleted and created anew.
  const target = settings.mode === 'local' ? `local ${settings.db} ${mapper.instanceId ?? ''}` : `${settings.protocol} ${redactUrl(settings.baseUrl!)}`;
  const definition = JSON.stringify({ command: spec.command, mode: spec.mode, target, definition: spec.definition });

  // One pass over the whole input before anything is sent: fingerprint, UTF-8, and which rows a
  // later row of the same ID supersedes.
  const { fingerprintOf, indexOfRecords, prescanCsv } = await import('../adapters/input/prescan.js');
  const keys = await spec.csvKeys?.(context, mapper, input.path);
  let fingerprint: string;
  let lines: number;
  let index: RowIndex;
  if (keys !== undefined) {
    const { VERSION } = await import('./version.js');
    // A copy of a stream is new every time: only a file's index is worth keeping. A dry run keeps
    // nothing (it may use an index kept before).
    const cache = input.spooled ? undefined : { dir: join(context.dirs.cache, 'index'), version: VERSION, keep: flags.dryRun !== true };
    ({ fingerprint, lines, index } = await prescanCsv(input.path, name, definition, keys, cache));
  } else {
    ({ fingerprint, lines } = await fingerprintOf(input.path, name, definition));
    const { records } = await spec.records(context, mapper, input.path);
    index = await indexOfRecords(batchesOf(records));
  }

  if (spec.mode === 'unlink' && !flags.dryRun) {
    const { confirmUnlink } = await import('./confirm.js');
    await confirmUnlink(io, globals, `the beneficiaries in ${spec.file === '-' ? 'stdin' : basename(spec.file)}`, mapper.target);
  }
  let journal: Journal;
  let journalFile: import('../adapters/journal/sqlite-journal.js').SqliteJournal | undefined;
  if (flags.dryRun) {
    journal = new MemoryJournal();
  } else {
    const { SqliteJournal } = await import('../adapters/journal/sqlite-journal.js');
    const path = flags.journal ? resolve(io.cwd, flags.journal) : join(context.dirs.state, 'journals', `${fingerprint.slice(0, 32)}.db`);
    journalFile = SqliteJournal.open(path, { fingerprint, description: `${spec.command} ${spec.file === '-' ? 'stdin' : basename(spec.file)} → ${mapper.target}` }, flags.restart === true);
    journal = journalFile;
  }

  try {
    const writerThread = !flags.dryRun && (await writeLinksOnThread(io, mapper));
    if (writerThread && globals.verbose && !globals.quiet) io.stderr.write('sparctl: the local mapper writes links on a second thread (SPARCTL_WRITER_THREAD=off: one thread)\n');
    return await runJournalled(io, globals, flags, spec, context, mapper, input, { index, lines, journal, journalFile, writerThread });
  } finally {
    journalFile?.close();
  }
}

async function runJournalled(
  io: Io,
  globals: GlobalOptions,
  flags: BulkJobFlags,
  spec: BulkJobSpec,
  context: CommandContext,
  mapper: Mapper,
  input: { path: string; spooled: boolean },
  run: { index: RowIndex; lines: number; journal: Journal; journalFile: import('../adapters/journal/sqlite-journal.js').SqliteJournal | undefined; writerThread: boolean },
): Promise<number> {
  const { settings } = context.resolved;
  const fromStdin = spec.file === '-';
  const { openRejectFile, openResultsFile } = await import('../adapters/files/report-writers.js');
  const { createProgressRenderer, renderBulkSummary } = await import('./bulk-render.js');
  const { records, columns } = await spec.records(context, mapper, input.path);
  const rejectsPath = resolve(io.cwd, flags.rejects ?? `${fromStdin ? 'stdin' : basename(spec.file, extname(spec.file))}.rejects.csv`);
  let rejects: Awaited<ReturnType<typeof openRejectFile>> | undefined;
  let rejectsOpening: Promise<void> | undefined;
  const pendingRejects: RecordEvent[] = [];
  // A dry run writes nothing, reports included: the summary says what would happen.
  const results = flags.results && !flags.dryRun ? await openResultsFile(resolve(io.cwd, flags.results)) : undefined;
  const stdoutFormat = settings.output === 'jsonl' || settings.output === 'csv' ? settings.output : undefined;
  const stdoutResults = stdoutFormat ? await openStdoutResults(io, stdoutFormat) : undefined;
  const progress = createProgressRenderer(io, { quiet: globals.quiet === true, label: spec.command });

  // Ctrl-C and SIGTERM alike: no new request is sent, the ones in flight finish and are
  // journalled, the summary is printed. A second signal ends the process at once.
  let signal: 'SIGINT' | 'SIGTERM' | undefined;
  const onSignal = (received: 'SIGINT' | 'SIGTERM') => {
    if (signal !== undefined) process.exit(received === 'SIGTERM' ? ExitCode.terminated : ExitCode.interrupted);
    signal = received;
    io.stderr.write(`\nsparctl: ${received === 'SIGINT' ? 'interrupted' : 'terminated'}; finishing the requests in flight (${received === 'SIGINT' ? 'Ctrl-C' : 'a second signal'} again to stop at once)\n`);
  };
  const onSigint = () => onSignal('SIGINT');
  const onSigterm = () => onSignal('SIGTERM');
  process.on('SIGINT', onSigint);
  process.on('SIGTERM', onSigterm);

  const planned: RecordEvent[] = [];
  const onEvent = (event: BulkEvent) => {
    progress.onEvent(event);
    if (event.type !== 'record') return;
    spec.collect?.(event);
    if (flags.dryRun && event.operation && event.fate !== 'rejected' && planned.length < DRY_RUN_SHOWN) planned.push(event);
    results?.write(event);
    stdoutResults?.write(event);
    if (event.fate === 'rejected' && !flags.dryRun) {
      if (rejects) rejects.write(event);
      else {
        pendingRejects.push(event);
        rejectsOpening ??= openRejectFile(rejectsPath, columns()).then((sink) => {
          rejects = sink;
          for (const queued of pendingRejects.splice(0)) sink.write(queued);
        });
      }
    }
  };

  let summary: BulkSummary;
  try {
    const { runBulk } = await import('../core/bulk/engine.js');
    const batchSize = flags.batchSize ?? settings.batchSize;
    summary = await runBulk(mapper, records, run.journal, {
      mode: spec.mode,
      index: run.index,
      batchSize,
      concurrency: flags.concurrency ?? settings.concurrency,
      // The local mapper works in this thread, one batch at a time: records planned ahead of the
      // batch being written only wait in memory, where the garbage collector copies them again
      // and again (a 200k-row re-run spent 400-585 ms collecting with 8,000-record chunks, 120-190
      // ms with one batch per chunk, and peaked 60 MB lower). A remote mapper needs several
      // batches in flight, so its chunks stay larger (the engine's default), and so does a dry run.
      ...(settings.mode === 'local' && flags.dryRun !== true ? { chunkSize: batchSize } : {}),
      // With a writer thread, the next chunks are planned and queued while one is written, so
      // that thread never waits for this one (200k new rows with the thread: 4.6-6.1 s with one
      // chunk at a time, 3.8-4.7 s with three; 4.3-6.2 s on one thread).
      ...(run.writerThread ? { chunksInFlight: 3 } : {}),
      retries: flags.retries ?? 5,
      context: { source: spec.source ?? `sparctl ${spec.command} ${fromStdin ? 'stdin' : basename(spec.file)}` },
      ...(spec.faDigest === undefined ? {} : { faDigest: spec.faDigest }),
      dryRun: flags.dryRun === true,
      onEvent,
      // Applied and unchanged records only matter to a results file, -o jsonl|csv and a dry run's list.
      recordEvents: results || stdoutResults || flags.dryRun || spec.collect ? 'all' : 'problems',
      shouldStop: () => signal !== undefined,
      strategies: new Map((await mapper.strategies()).map((s) => [s.id, s])),
    });
  } finally {
    process.off('SIGINT', onSigint);
    process.off('SIGTERM', onSigterm);
    progress.stop();
    await rejectsOpening;
    await rejects?.close();
    await results?.close();
    await stdoutResults?.close();
  }
  if (summary.stopped?.code === 'interrupted' && signal === 'SIGTERM') {
    summary = { ...summary, stopped: { code: 'terminated', message: 'terminated (SIGTERM)', exitCode: ExitCode.terminated } };
  }

  spec.onSummary?.(summary);
  const stoppedEarly = summary.stopped !== undefined || summary.notSent > 0;
  if (run.journalFile) {
    if (!stoppedEarly) run.journalFile.remove();
    else run.journalFile.close();
  }
  if (!globals.quiet || stoppedEarly) {
    renderBulkSummary(io, summary, {
      target: mapper.target,
      ...(rejects ? { rejectsPath, rejectsCount: rejects.count } : {}),
      ...(results ? { resultsPath: results.path } : {}),
      ...(run.journalFile && stoppedEarly ? { journalPath: run.journalFile.path } : {}),
      ...(stoppedEarly
        ? {
            resumeHint: input.spooled
              ? `feed the same input again to the same command to resume (a different input starts a new job); --restart starts over`
              : 'run the same command again to resume; --restart starts over',
          }
        : {}),
    });
  }
  if (flags.dryRun && !globals.quiet) {
    for (const event of planned) io.stderr.write(`  would ${event.operation} ${event.id ?? ''}${event.line === undefined ? '' : ` (line ${event.line})`}\n`);
    io.stderr.write('dry run: nothing was written\n');
  }
  if (settings.output === 'json') {
    io.stdout.write(jsonDocument({ command: spec.command, target: mapper.target, summary, ...(rejects ? { rejects: rejectsPath } : {}) }));
  } else if (settings.output === 'jsonl' && summary.stopped) {
    // The per-record lines end with why there are no more, so a reader can tell a stop from the end.
    const { code, message, hint, exitCode } = summary.stopped;
    io.stdout.write(errorDocument('jsonl', { code, message, hint, exitCode })!);
  }
  return exitCodeOf(summary, io);
}

/** The exit code a finished or stopped run ends with (README: exit codes). */
export function exitCodeOf(summary: BulkSummary, io?: Io): number {
  if (summary.stopped) {
    const { code, message, hint } = summary.stopped;
    if (code !== 'interrupted' && code !== 'terminated') io?.stderr.write(`sparctl: error [${code}]: ${message}${hint ? ` (${hint})` : ''}\n`);
    return summary.stopped.exitCode;
  }
  if (summary.notSent > 0) return ExitCode.unavailable;
  if (summary.rejected > 0) return ExitCode.rejected;
  return ExitCode.ok;
}

async function* batchesOf(records: BulkInput) {
  for await (const item of records) yield Array.isArray(item) ? (item as readonly import('../core/bulk/types.js').BulkInputRecord[]) : [item as import('../core/bulk/types.js').BulkInputRecord];
}

/** Per-record results on stdout, for `-o jsonl|csv` on a file run: the --results format. */
async function openStdoutResults(io: Io, format: 'jsonl' | 'csv') {
  const { resultLine, RESULTS_CSV_HEADER } = await import('../adapters/files/report-writers.js');
  if (format === 'csv') io.stdout.write(RESULTS_CSV_HEADER);
  return {
    write: (event: RecordEvent) => void io.stdout.write(resultLine(event, format)),
    async close() {},
  };
}
