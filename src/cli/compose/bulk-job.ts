import { existsSync, lstatSync, readdirSync, rmSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { tmpdir } from 'node:os';
import { realPath } from '../../adapters/files/fs-errors.js';
import { UsageError } from '../../core/errors.js';
import type { BulkJobDeps } from '../../app/bulk-job.js';
import type { BulkInput, BulkInputRecord } from '../../core/bulk/types.js';
import { earlierRemoteIdentity, remoteIdentity } from '../../config/redact.js';
import { openMapper, writeLinksOnThread, type CommandContext } from '../context.js';
import { onStopSignals } from '../io.js';
import type { BulkSummary, RecordEvent } from '../../core/bulk/events.js';
import type { BulkMode } from '../../core/bulk/types.js';
import type { Mapper } from '../../core/mapper.js';
import type { CsvKeys } from '../../adapters/input/prescan.js';
import type { ByteDigests } from '../../adapters/input/byte-digests.js';
import type { CsvLayout } from '../../core/csv-delimiter.js';

/** What a command's bulk job reads and how: the command gives it to cli/bulk-job.ts's runBulkJob. */
export interface BulkJobSpec {
  readonly command: string;
  readonly mode: BulkMode;
  readonly file: string;
  /**
   * The input's format when known before it is read (--format, the file's extension): names the
   * default reject file (an .xlsx's rejects are CSV), and an .xlsx is fingerprinted as bytes, not text.
   */
  readonly inputFormat?: 'csv' | 'jsonl' | 'xlsx';
  /** Extra bytes that define the job besides the input (the mapping file, defaults). */
  readonly definition: string;
  /** The default reject file's stem when the input's own name is not it (import-odk's spool: the form's name). */
  readonly stem?: string;
  /** A file the user named that holds no record is a mistake (a failed export), refused with exit 2; an empty ODK window is not. */
  readonly refuseEmpty?: boolean;
  /** The job has no --restart (import-odk): its resume hint offers none, nor the hints of a journal refused. */
  readonly noRestart?: boolean;
  /** What a stop before the first record is sent says was not sent (BulkJobInput.unsent). */
  readonly unsent?: string;
  /** With noRestart: what removing the job's journal by hand costs, said by the hint of one refused (damaged). */
  readonly journalLost?: string;
  /**
   * Whether another job's journal found at the path (by its fingerprint) is of a job already
   * settled, to be taken over instead of refused (import-odk: the window its state settled last).
   */
  readonly settledJob?: (fingerprint: string) => boolean;
  /** Told the run's summary once it ends (import-odk's per-poll line). */
  readonly onSummary?: (summary: BulkSummary) => void;
  /** Told every record's event (all of them are made then): what the job needs of each outcome. */
  readonly collect?: (event: RecordEvent) => void;
  /** Told the records about to be sent and what the run read for each, before they are (import-odk: what a write replaced). */
  readonly beforeSending?: BulkJobDeps['beforeSending'];
  /** Called once a real run is done, before its journal is removed (import-odk: the state); a SparctlError keeps the journal (BulkJobDeps.beforeForgetting). */
  readonly beforeForgetting?: BulkJobDeps['beforeForgetting'];
  /** What the audit log names as the writer (default: "sparctl COMMAND FILE"). */
  readonly source?: string;
  /** Digest of a stored FA, for writes conditional on one (import-odk). */
  readonly faDigest?: (fa: string) => string;
  /**
   * For a CSV input: how its rows' IDs are read, so the index pass reads the ID columns only.
   * Without it, the index pass reads `records` once more.
   */
  readonly csvKeys?: (context: CommandContext, mapper: Mapper, path: string) => Promise<CsvKeys | undefined>;
  /**
   * Turns the input at `path` (the file, or a private copy of a stream) into engine records;
   * `bytes`: what the pass before the run read of it, which the run's read must find again.
   */
  readonly records: (
    context: CommandContext,
    mapper: Mapper,
    path: string,
    bytes?: ByteDigests,
  ) => Promise<{ records: BulkInput; columns: () => readonly string[]; headerLines: number; layout?: () => CsvLayout | undefined }>;
}

/**
 * A local mapper's file by its real path (links resolved; for a file still to be made, its
 * folder's): one database named through a symbolic link is one job, one lock, one state.
 */
export function realMapperPath(path: string): string {
  return realPath(path);
}

/**
 * The composition of app/bulk-job.ts: the spool, the pass before the run, the SQLite journal,
 * report files, the progress renderer and the process's signals, for one command's job (`spec`).
 */
export async function bulkJobDeps(context: CommandContext, spec: BulkJobSpec): Promise<BulkJobDeps> {
  const { io, globals } = context;
  const { settings } = context.resolved;
  const name = spec.file === '-' ? 'stdin' : spec.file;
  const [
    { openRejectFile, openResultsFile, ReportClaims, removeIfSame, stagingPath },
    { createProgressRenderer },
    { checkOutputPath, databaseFiles, refuseProtected },
  ] = await Promise.all([
    import('../../adapters/files/report-writers.js'),
    import('../bulk-render.js'),
    import('../../adapters/files/fs-errors.js'),
  ]);
  const stdoutFormat = settings.output === 'jsonl' || settings.output === 'csv' ? settings.output : undefined;
  // A run's own files are never written over its input or the local mapper's database:
  // `--results mapper.db` overwrote every mapping without a word, `--results in.csv` the input.
  const guarded = [
    ...(spec.file === '-' ? [] : [{ path: resolve(io.cwd, spec.file), what: 'the input file' }]),
    ...(settings.mode === 'local' && settings.db !== undefined ? databaseFiles(resolve(io.cwd, settings.db)) : []),
  ];
  const refuseGuarded = (path: string, flag: string) => refuseProtected(resolve(io.cwd, path), flag, guarded);
  // The job's identity names a local mapper by its real path. An earlier sparctl named it by the
  // path as given: a journal it left under that identity is still this job's, found by the
  // fingerprint of the same input under the earlier identity (only computed when needed).
  let earlierJob: (() => Promise<string | undefined>) | undefined;
  return {
    stdinIsTTY: io.stdinIsTTY,
    openInput: async (file, dryRun) => {
      const { seekableInput } = await import('../../adapters/input/spool.js');
      return dryRun ? seekableInput(file, io.stdin, tmpdir(), true) : seekableInput(file, io.stdin, join(context.dirs.state, 'spool'));
    },
    openMapper: (access) => openMapper(context, access),
    targetIdentity: (mapper) =>
      settings.mode === 'local'
        ? `local ${realMapperPath(settings.db!)} ${mapper.instanceId ?? ''}`
        : remoteIdentity(settings.protocol, settings.baseUrl!),
    prescan: async (mapper, path, definition, index) => {
      const { fingerprintOf, indexOfRecords, prescanCsv } = await import('../../adapters/input/prescan.js');
      const earlierDefinition = earlierJobDefinition(definition, settings, mapper);
      earlierJob =
        earlierDefinition === undefined
          ? undefined
          : async () => (await fingerprintOf(path, name, earlierDefinition, { binary: spec.inputFormat === 'xlsx' })).fingerprint;
      const keys = await spec.csvKeys?.(context, mapper, path);
      if (keys !== undefined) {
        const { VERSION } = await import('../version.js');
        const scanned = await prescanCsv(
          path,
          name,
          definition,
          keys,
          index.use ? { dir: join(context.dirs.cache, 'index'), version: VERSION, keep: index.keep } : undefined,
        );
        // An earlier sparctl read such a file's rows at other positions: none of its journals fits.
        if (scanned.emptyRowsSkipped === true) {
          earlierJob = undefined;
          const plain = (await fingerprintOf(path, name, definition)).fingerprint;
          const left = join(context.dirs.state, 'journals', `${plain.slice(0, 32)}.db`);
          if (existsSync(left))
            io.stderr.write(
              `sparctl: note: ${left}, the journal an earlier sparctl left for this job, is not resumed: it counted the file's rows of empty cells, which are now skipped, so its rows are not this run's. This run is a new job: rows that one applied are met again (import-csv: unchanged; link --file: already linked). Remove that journal once this run is done.\n`,
            );
        }
        return scanned;
      }
      const binary = spec.inputFormat === 'xlsx';
      const { fingerprint, lines, bytes } = await fingerprintOf(path, name, definition, { binary });
      const { records } = await spec.records(context, mapper, path);
      const rows = await indexOfRecords(batchesOf(records));
      // (A CSV without a header is refused by its prescan the same way.)
      if (rows.rows === 0 && spec.refuseEmpty === true)
        throw new UsageError('input.empty', `${name}: no records (the file is empty); nothing was sent`, {
          hint: 'a JSONL file holds one JSON object per line',
        });
      // A workbook is read whole by its zip's directory, not as a stream: its bytes are not held to the run's read.
      return { fingerprint, lines: binary ? rows.rows + 1 : lines, index: rows, ...(binary ? {} : { bytes }) };
    },
    records: (mapper, path, bytes) => spec.records(context, mapper, path, bytes),
    confirmUnlink: async (what, target) => {
      const { confirmUnlink } = await import('../confirm.js');
      await confirmUnlink(io, globals, what, target);
    },
    openJournal: async (where, job, restart) => {
      const { SqliteJournal, refuseForeignJournal } = await import('../../adapters/journal/sqlite-journal.js');
      const journals = join(context.dirs.state, 'journals');
      let path = where.file !== undefined ? resolve(io.cwd, where.file) : join(journals, where.name);
      if (where.file !== undefined) {
        refuseGuarded(where.file, '--journal');
        refuseForeignJournal(path);
      }
      const options = {
        ...(spec.noRestart ? { noRestart: { lost: spec.journalLost ?? 'the job starts over' } } : {}),
        ...(spec.settledJob ? { settled: spec.settledJob } : {}),
      };
      // A journal an earlier sparctl left for this job under the earlier identity is resumed
      // there: in the journals' folder it is named by that fingerprint; a --journal file says
      // which job it holds when it is opened.
      let file: ReturnType<typeof SqliteJournal.open>;
      // Only a journal this run made is removed when the run is refused (JournalFile.isEmpty).
      let made = !existsSync(path);
      if (earlierJob !== undefined && !restart && where.file === undefined && !existsSync(path) && hasFiles(journals)) {
        const earlier = await earlierJob();
        const earlierPath = earlier === undefined ? undefined : join(journals, `${earlier.slice(0, 32)}.db`);
        if (earlierPath !== undefined && existsSync(earlierPath)) {
          path = earlierPath;
          made = false;
        }
        file = SqliteJournal.open(path, path === earlierPath ? { ...job, fingerprint: earlier! } : job, restart, options);
      } else {
        try {
          file = SqliteJournal.open(path, job, restart, options);
        } catch (error) {
          const earlier =
            where.file !== undefined && !restart && (error as { code?: string }).code === 'journal.other_job'
              ? await earlierJob?.()
              : undefined;
          if (earlier === undefined) throw error;
          file = SqliteJournal.open(path, { ...job, fingerprint: earlier }, restart, options);
        }
      }
      // The run's report files are claimed for as long as it holds its journal (JournalFile.claim).
      const claims = new ReportClaims();
      return {
        journal: file,
        path: file.path,
        fingerprint: file.fingerprint,
        resumes: file.resumes(),
        lost: () => file.isLost(),
        isEmpty: () => made && !file.resumes(),
        close: () => {
          try {
            file.close();
          } finally {
            claims.releaseAll();
          }
        },
        remove: () => file.remove(),
        claim: (report) => claims.claim(report),
        note: (key, value) => file.note(key, value),
        noted: (key) => file.noted(key),
      };
    },
    writeLinksOnThread: (mapper) => writeLinksOnThread(io, mapper),
    checkRejects: (path, preview) => {
      refuseGuarded(path, '--rejects');
      // A preview is written beside its path and renamed there (report-writers.ts): its trial file goes there too.
      checkOutputPath(path, true, preview === true ? stagingPath(path) : path);
    },
    checkPreview: (path) => {
      const stats = lstatSync(path, { throwIfNoEntry: false });
      const link = stats?.isSymbolicLink()
        ? 'a symbolic link'
        : stats?.isFile() && stats.nlink > 1
          ? 'a hard link (another name of a file)'
          : undefined;
      if (link !== undefined)
        throw new UsageError('output.protected', `${path} is ${link}, where a dry run writes its preview; nothing was sent`, {
          hint: 'a preview replaces only a file of its own, never the one a link leads to: remove the link, or name another --rejects or --results path',
        });
    },
    // A file only: a folder or a device there is checkRejects' to refuse or to write to.
    exists: (path) => {
      try {
        return statSync(path, { throwIfNoEntry: false })?.isFile() === true;
      } catch {
        return false; // under a file (ENOTDIR), no permission: checkRejects says why
      }
    },
    // The link itself (a symbolic link is no stamp: what it leads to may be another file), with
    // its change time and link count: an edit that put the size and time back, a hard-linked
    // backup, a rename — each changes the stamp, and the file is kept rather than written again.
    stampOf: (path) => {
      try {
        const stats = lstatSync(path, { throwIfNoEntry: false });
        return stats?.isFile() === true
          ? `${stats.dev}:${stats.ino}:${stats.size}:${stats.mtimeMs}:${stats.ctimeMs}:${stats.nlink}`
          : undefined;
      } catch {
        return undefined;
      }
    },
    removeFile: (path, earlier) => {
      if (earlier !== undefined) return removeIfSame(path, (stats) => sameFileAs(stats, earlier));
      if (statSync(path, { throwIfNoEntry: false })?.isFile() !== true) return false;
      rmSync(path);
      return true;
    },
    openRejects: (path, columns, layout, preview) => openRejectFile(path, columns, undefined, layout, preview),
    // The reject files are chosen first: one file for both reports had their lines interleaved,
    // and --results naming X.rejects.csv (kept, a new run's rejects going to X.rejects-2.csv)
    // replaced the rows a coordinator had fixed there.
    checkResults: (path, rejectFiles) =>
      refuseProtected(resolve(io.cwd, path), '--results', [
        ...guarded,
        ...rejectFiles.map((file) => ({ path: resolve(io.cwd, file), what: 'a reject file' })),
      ]),
    openResults: (path, dryRun) => openResultsFile(path, undefined, dryRun, dryRun),
    ...(stdoutFormat ? { stdoutResults: (dryRun: boolean) => openStdoutResults(context, stdoutFormat, dryRun) } : {}),
    stdoutFailure: () => io.stdoutFailure?.(),
    startProgress: () => createProgressRenderer(io, { quiet: globals.quiet === true, label: spec.command }),
    onSignal: onStopSignals,
    exitNow: (code) => process.exit(code),
    say: (line) => void io.stderr.write(`${line}\n`),
    ...(globals.verbose && !globals.quiet ? { verbose: (line: string) => void io.stderr.write(`sparctl: ${line}\n`) } : {}),
    ...(spec.collect ? { collect: spec.collect } : {}),
    ...(spec.beforeSending ? { beforeSending: spec.beforeSending } : {}),
    ...(spec.onSummary ? { onSummary: spec.onSummary } : {}),
    ...(spec.beforeForgetting ? { beforeForgetting: spec.beforeForgetting } : {}),
    ...(spec.faDigest ? { faDigest: spec.faDigest } : {}),
  };
}

/**
 * The file stampOf stamped `stamp`, by device, inode, size and time: its change time and link
 * count aside, which a chmod, or the rename removeIfSame takes it aside with, change.
 */
function sameFileAs(stats: { dev: number; ino: number; size: number; mtimeMs: number }, stamp: string): boolean {
  return `${stats.dev}:${stats.ino}:${stats.size}:${stats.mtimeMs}` === stamp.split(':').slice(0, 4).join(':');
}

/** The job's definition as an earlier sparctl made it (the local mapper by the path as given), when it differs. */
function earlierJobDefinition(
  definition: string,
  settings: { mode: string; db?: string | undefined; protocol: string; baseUrl?: string | undefined },
  mapper: Mapper,
): string | undefined {
  const earlierTarget =
    settings.mode === 'local'
      ? settings.db === undefined
        ? undefined
        : `local ${settings.db} ${mapper.instanceId ?? ''}`
      : settings.baseUrl === undefined
        ? undefined
        : earlierRemoteIdentity(settings.protocol, settings.baseUrl);
  if (earlierTarget === undefined) return undefined;
  const parsed = JSON.parse(definition) as { target?: unknown };
  if (typeof parsed.target !== 'string' || parsed.target === earlierTarget) return undefined;
  return JSON.stringify({ ...parsed, target: earlierTarget });
}

function hasFiles(dir: string): boolean {
  try {
    return readdirSync(dir).length > 0;
  } catch {
    return false;
  }
}

async function* batchesOf(records: BulkInput) {
  for await (const item of records) yield Array.isArray(item) ? (item as readonly BulkInputRecord[]) : [item as BulkInputRecord];
}

/** Per-record results on stdout, for `-o jsonl|csv` on a file run: the --results format. */
async function openStdoutResults(context: CommandContext, format: 'jsonl' | 'csv', dryRun: boolean) {
  const { resultLine, RESULTS_CSV_HEADER } = await import('../../adapters/files/report-writers.js');
  if (format === 'csv') context.io.stdout.write(RESULTS_CSV_HEADER);
  return {
    write: (event: Parameters<typeof resultLine>[0]) => void context.io.stdout.write(resultLine(event, format, dryRun)),
    async close() {},
  };
}
