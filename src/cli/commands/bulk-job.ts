import { createHash } from 'node:crypto';
import { createReadStream, existsSync } from 'node:fs';
import { basename, extname, join, resolve } from 'node:path';
import type { BulkEvent, BulkSummary, RecordEvent } from '../../core/bulk/events.js';
import type { BulkInput, BulkMode, Journal, JournalEntry } from '../../core/bulk/engine.js';
import { ExitCode, UsageError } from '../../core/errors.js';
import type { Mapper } from '../../core/mapper.js';
import { loadContext, openMapper, writeLinksOnThread, type CommandContext, type GlobalOptions } from '../context.js';
import type { Io } from '../io.js';

/**
 * Runs a file-driven bulk job (link|update|unlink --file, import-csv): fingerprints the input,
 * opens or resumes its journal, streams records through the bulk engine, writes rejects,
 * results and progress, and turns the summary into an exit code.
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
  /** Turns the opened input into engine records. */
  readonly records: (context: CommandContext, mapper: Mapper) => Promise<{ records: BulkInput; columns: () => readonly string[]; headerLines: number }>;
}

const DRY_RUN_SHOWN = 10;

/** sha256 over the input's bytes and the job's definition, and the input's line count. */
async function fingerprintOf(file: string, definition: string): Promise<{ fingerprint: string; lines: number }> {
  const hash = createHash('sha256');
  // Invalid UTF-8 would otherwise be read as U+FFFD and stored in someone's account number.
  const utf8 = new TextDecoder('utf-8', { fatal: true });
  let lines = 0;
  try {
    for await (const chunk of createReadStream(file) as AsyncIterable<Buffer>) {
      hash.update(chunk);
      try {
        utf8.decode(chunk, { stream: true });
      } catch {
        throw new UsageError('input.not_utf8', `${file}:${lines + 1 + firstBadLine(chunk)}: not valid UTF-8; nothing was sent`, { hint: 'save the file as UTF-8 (in a spreadsheet: CSV UTF-8)' });
      }
      for (let i = chunk.indexOf(10); i !== -1; i = chunk.indexOf(10, i + 1)) lines++;
    }
    utf8.decode();
  } catch (error) {
    if (error instanceof UsageError) throw error;
    throw new UsageError('input.unreadable', `cannot read ${file}: ${(error as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (error as Error).message}`, {
      hint: 'check the path of the input file',
    });
  }
  hash.update('\0');
  hash.update(definition);
  return { fingerprint: hash.digest('hex'), lines };
}

/** Newlines in `chunk` before its first byte that is not valid UTF-8 (0 when it is the first). */
function firstBadLine(chunk: Buffer): number {
  const decoder = new TextDecoder('utf-8', { fatal: true });
  let lines = 0;
  for (let i = 0; i < chunk.length; i++) {
    try {
      decoder.decode(chunk.subarray(i, i + 1), { stream: true });
    } catch {
      return lines;
    }
    if (chunk[i] === 10) lines++;
  }
  return lines;
}

/** Stdin cannot be read twice, so a job fed from it has nothing to resume from. */
class MemoryJournal implements Journal {
  load(): ReadonlyMap<number, JournalEntry> {
    return new Map();
  }
  markInflight(): void {}
  settle(): void {}
}

export async function runBulkJob(io: Io, globals: GlobalOptions, flags: BulkJobFlags, spec: BulkJobSpec): Promise<number> {
  const context = await loadContext(io, globals);
  const { settings } = context.resolved;
  const fromStdin = spec.file === '-';
  if (fromStdin && io.stdinIsTTY) throw new UsageError('usage.stdin_is_tty', '--file - reads records from stdin, but stdin is a terminal', { hint: 'pipe a file in, or give its path' });

  // A dry run writes nothing, not even an empty database where none exists yet.
  const mapper =
    flags.dryRun && settings.mode === 'local' && !existsSync(settings.db!)
      ? (await import('../../adapters/sqlite/local-mapper.js')).LocalMapper.open(':memory:', `${settings.db} (does not exist yet)`)
      : await openMapper(context);
  try {
    // The local mapper inserts and audits links on a second thread while this one reads,
    // maps and checks the next records. SPARCTL_WRITER_THREAD=off keeps it all on one thread.
    const writerThread = !flags.dryRun && (await writeLinksOnThread(io, mapper));
    if (writerThread && globals.verbose && !globals.quiet) io.stderr.write('sparctl: the local mapper writes links on a second thread (SPARCTL_WRITER_THREAD=off: one thread)\n');
    return await runWithMapper(io, globals, flags, spec, context, mapper, writerThread);
  } finally {
    await mapper.close();
  }
}

async function runWithMapper(io: Io, globals: GlobalOptions, flags: BulkJobFlags, spec: BulkJobSpec, context: CommandContext, mapper: Mapper, writerThread: boolean): Promise<number> {
  const { settings } = context.resolved;
  const fromStdin = spec.file === '-';
  // The mapper's own identity is part of the job: a journal must never vouch for records
  // applied to a database that has since been deleted and created anew.
  const target = settings.mode === 'local' ? `local ${settings.db} ${mapper.instanceId ?? ''}` : `${settings.protocol} ${settings.baseUrl}`;
  const definition = JSON.stringify({ command: spec.command, mode: spec.mode, target, definition: spec.definition });
  const { fingerprint, lines } = fromStdin ? { fingerprint: '', lines: 0 } : await fingerprintOf(spec.file, definition);
  if (spec.mode === 'unlink' && !flags.dryRun) {
    const { confirmUnlink } = await import('./records.js');
    await confirmUnlink(io, globals, `the beneficiaries in ${fromStdin ? 'stdin' : basename(spec.file)}`, mapper.target);
  }
  const { SqliteJournal } = await import('../../adapters/journal/sqlite-journal.js');
  let journal: Journal;
  let journalFile: import('../../adapters/journal/sqlite-journal.js').SqliteJournal | undefined;
  if (fromStdin || flags.dryRun) {
    journal = new MemoryJournal();
  } else {
    const path = flags.journal ? resolve(io.cwd, flags.journal) : join(context.dirs.state, 'journals', `${fingerprint.slice(0, 32)}.db`);
    journalFile = SqliteJournal.open(path, { fingerprint, description: `${spec.command} ${basename(spec.file)} → ${mapper.target}` }, flags.restart === true);
    journal = journalFile;
  }

  const { openRejectFile, openResultsFile } = await import('../../adapters/files/report-writers.js');
  const { createProgressRenderer, renderBulkSummary } = await import('../bulk-render.js');
  const { records, columns, headerLines } = await spec.records(context, mapper);
  const rejectsPath = resolve(io.cwd, flags.rejects ?? `${fromStdin ? 'stdin' : basename(spec.file, extname(spec.file))}.rejects.csv`);
  let rejects: Awaited<ReturnType<typeof openRejectFile>> | undefined;
  let rejectsOpening: Promise<void> | undefined;
  const pendingRejects: RecordEvent[] = [];
  // A dry run writes nothing, reports included: the summary says what would happen.
  const results = flags.results && !flags.dryRun ? await openResultsFile(resolve(io.cwd, flags.results)) : undefined;
  const stdoutFormat = settings.output === 'jsonl' || settings.output === 'csv' ? settings.output : undefined;
  const stdoutResults = stdoutFormat ? await openStdoutResults(io, stdoutFormat) : undefined;
  const progress = createProgressRenderer(io, { quiet: globals.quiet === true, label: spec.command });

  let interrupted = false;
  const onSigint = () => {
    if (interrupted) process.exit(ExitCode.interrupted); // a second Ctrl-C: stop now
    interrupted = true;
    io.stderr.write('\nsparctl: interrupted; finishing the batches in flight (Ctrl-C again to stop at once)\n');
  };
  process.on('SIGINT', onSigint);

  const planned: RecordEvent[] = [];
  const onEvent = (event: BulkEvent) => {
    progress.onEvent(event);
    if (event.type !== 'record') return;
    if (flags.dryRun && event.operation && planned.length < DRY_RUN_SHOWN) planned.push(event);
    results?.write(event);
    stdoutResults?.write(event);
    if ((event.fate === 'rejected' || event.fate === 'failed') && !flags.dryRun) {
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
    const { runBulk } = await import('../../core/bulk/engine.js');
    const batchSize = flags.batchSize ?? settings.batchSize;
    summary = await runBulk(mapper, records, journal, {
      mode: spec.mode,
      batchSize,
      concurrency: flags.concurrency ?? settings.concurrency,
      // The local mapper works in this thread, one batch at a time: records planned ahead of the
      // batch being written only wait in memory, where the garbage collector copies them again
      // and again (a 200k-row re-run spent 400-585 ms collecting with 8,000-record chunks, 120-190
      // ms with one batch per chunk, and peaked 60 MB lower). A remote mapper needs several
      // batches in flight, so its chunks stay larger (the engine's default), and so does a dry
      // run, which writes nothing: repeated IDs are simulated within a chunk only.
      ...(settings.mode === 'local' && flags.dryRun !== true ? { chunkSize: batchSize } : {}),
      // With a writer thread, the next chunks are planned and queued while one is written, so
      // that thread never waits for this one (200k new rows with the thread: 4.6-6.1 s with one
      // chunk at a time, 3.8-4.7 s with three; 4.3-6.2 s on one thread).
      ...(writerThread ? { chunksInFlight: 3 } : {}),
      retries: flags.retries ?? 5,
      context: { source: `sparctl ${spec.command} ${basename(spec.file)}` },
      dryRun: flags.dryRun === true,
      onEvent,
      // Applied and unchanged records only matter to a results file, -o jsonl|csv and a dry run's list.
      recordEvents: results || stdoutResults || flags.dryRun ? 'all' : 'problems',
      shouldStop: () => interrupted,
      strategies: new Map((await mapper.strategies()).map((s) => [s.id, s])),
      // Lines, not records: a quoted cell with line breaks makes this an overestimate, never less.
      ...(lines > 0 ? { total: Math.max(lines - headerLines, 0) } : {}),
    });
  } finally {
    process.off('SIGINT', onSigint);
    progress.stop();
    await rejectsOpening;
    await rejects?.close();
    await results?.close();
    await stdoutResults?.close();
  }

  spec.onSummary?.(summary);
  const stoppedEarly = summary.stopped !== undefined;
  if (journalFile) {
    if (!stoppedEarly && summary.failed === 0) journalFile.remove();
    else journalFile.close();
  }
  if (!globals.quiet || stoppedEarly) {
    renderBulkSummary(io, summary, {
      target: mapper.target,
      ...(rejects ? { rejectsPath } : {}),
      ...(results ? { resultsPath: results.path } : {}),
      ...(journalFile && stoppedEarly ? { journalPath: journalFile.path } : {}),
      ...(stoppedEarly
        ? { resumeHint: fromStdin ? 'input from stdin cannot be resumed: save it to a file and run again' : 'run the same command again to resume; --restart starts over' }
        : {}),
    });
  }
  if (flags.dryRun && !globals.quiet) {
    for (const event of planned) io.stderr.write(`  would ${event.operation} ${event.id ?? ''}${event.line === undefined ? '' : ` (line ${event.line})`}\n`);
    io.stderr.write('dry run: nothing was written\n');
  }
  if (settings.output === 'json') {
    io.stdout.write(`${JSON.stringify({ schemaVersion: 1, command: spec.command, target: mapper.target, summary, ...(rejects ? { rejects: rejectsPath } : {}) }, null, 2)}\n`);
  }
  if (summary.stopped) {
    if (summary.stopped.code !== 'interrupted') io.stderr.write(`sparctl: ${summary.stopped.message}\n`);
    return summary.stopped.exitCode;
  }
  if (summary.failed > 0) return ExitCode.unavailable;
  if (summary.rejected > 0) return ExitCode.rejected;
  return ExitCode.ok;
}

/** Per-record results on stdout, for `-o jsonl|csv` on a file run: the --results format. */
async function openStdoutResults(io: Io, format: 'jsonl' | 'csv') {
  const { resultLine, RESULTS_CSV_HEADER } = await import('../../adapters/files/report-writers.js');
  if (format === 'csv') io.stdout.write(RESULTS_CSV_HEADER);
  return {
    write: (event: RecordEvent) => void io.stdout.write(resultLine(event, format)),
    async close() {},
  };
}
