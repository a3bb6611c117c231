import { randomBytes } from 'node:crypto';
import {
  closeSync,
  fsyncSync,
  linkSync,
  lstatSync,
  openSync,
  readdirSync,
  renameSync,
  rmSync,
  statSync,
  unlinkSync,
  writeSync,
  type Stats,
  type WriteStream,
} from 'node:fs';
import { open } from 'node:fs/promises';
import { basename, dirname, extname, join } from 'node:path';
import type { RecordEvent } from '../../core/bulk/events.js';
import type { SparctlError } from '../../core/errors.js';
import { DEFAULT_CSV_LAYOUT } from '../../core/csv-delimiter.js';
import { QUOTED_COLUMN, csvCell, quotedCell, rawCell, type RejectLayout } from './csv-cells.js';
import { duringRunError, makeFolders, outputError, ownerOnlyFile, realPath } from './fs-errors.js';
import { pauseSync } from '../pause.js';
import { syncFolder } from './durable-file.js';
import {
  holderText,
  holding,
  hostTag,
  isStale,
  lockContent,
  processRuns,
  readLock,
  releaseIfOurs,
  takeOver,
  type SeenLock,
} from './pid-lock.js';

/**
 * Files a bulk run leaves behind (DESIGN.md §4): a reject file that can be fixed and fed back in,
 * and a results file with one line per record. Both are written as the run goes, so a run that
 * is killed still leaves every row it had settled (pgloader #1136: rejects must never vanish).
 * A run claims them as it starts (ReportClaims, below), so that no two runs write one file.
 *
 * Invariant: a staged file (a dry run's preview, which claims nothing) is only ever seen at its
 * path whole — written under a temporary name beside it (stagingPath) and renamed over the path
 * once closed without a failure, the last run to close winning.
 */

export interface RecordSink {
  /** Takes every record event; each sink keeps the ones it is about. */
  write(event: RecordEvent): void;
  /** Writes what is still buffered and closes the file; rejects (a `disk.*` error) if any write failed. */
  close(): Promise<void>;
  /** The first write that failed (`disk.*`), as soon as it is known: the run stops on it. */
  failure(): SparctlError | undefined;
  readonly path: string;
  /** Rows written so far (the header not counted). */
  readonly count: number;
}

export type ResultsFormat = 'csv' | 'jsonl';

/** Columns sparctl puts before the input's own (the reason first); the prefix keeps them apart from input columns. */
export const REJECT_COLUMNS = ['sparctl_line', 'sparctl_field', 'sparctl_code', 'sparctl_message'] as const;
/** Holds the whole input record when the input had no columns of its own (JSONL). */
export const REJECT_RECORD_COLUMN = 'sparctl_record';
export const RESULT_COLUMNS = ['seq', 'line', 'id', 'operation', 'fate', 'outcome', 'code', 'message', 'origin', 'superseded_by'] as const;

/**
 * The format of a reject file: its extension's (.jsonl/.ndjson, .csv/.tsv), else the input's —
 * CSV when the input had columns, JSONL when it was JSONL — so a fixed file feeds back as it is.
 */
export function rejectsFormat(path: string, inputColumns: readonly string[]): ResultsFormat {
  const ext = extname(path).toLowerCase();
  if (ext === '.jsonl' || ext === '.ndjson') return 'jsonl';
  if (ext === '.csv' || ext === '.tsv') return 'csv';
  return inputColumns.length > 0 ? 'csv' : 'jsonl';
}

/**
 * Opens (truncating) a reject file for the rejected records of a run: each carries the input
 * record as read and the ID sparctl read from it, then why it was rejected.
 *
 * CSV of a CSV input: its own cells are written exactly as read, quoted only where CSV needs it, and are
 * NOT neutralised against spreadsheet formulas: the file's purpose is to be fixed and
 * re-imported, and an apostrophe added to "=1" or "-5" would change the data on the way back in.
 * Only the cells sparctl itself adds (field, message; code and line too, for uniformity) go
 * through `csvCell`, since those carry text from the server or from the input's values. A person
 * opening the file in a spreadsheet sees exactly the input they gave, which was already in that
 * form. With no input columns (JSONL input), each record is kept whole as JSON in `sparctl_record`.
 *
 * The CSV is written as the input was (`layout`: its delimiter, BOM and line ending), with the
 * reason columns first, so a `;`-separated Excel export's rejects open in the same Excel and
 * feed back with the same command and flags.
 *
 * Input that was not a CSV file — a workbook (`layout.quoteFormulas`), import-odk's submissions
 * (no layout) — has no bytes to keep, and Excel would run its `=HYPERLINK(…)` cells: those are
 * quoted (`quotedCell`, reversibly), and the QUOTED_COLUMN after sparctl_message tells the
 * reader of the fed-back file to take the apostrophe off again.
 *
 * JSONL: one object per line, the input record's keys as read, then `sparctl_id`, `sparctl_line`,
 * `sparctl_field`, `sparctl_code` and `sparctl_message` (null when unknown), which input ignores.
 *
 * `staged` (a dry run's preview): written beside `path` and put there whole when closed (LineWriter).
 */
export async function openRejectFile(
  path: string,
  inputColumns: readonly string[],
  format: ResultsFormat = rejectsFormat(path, inputColumns),
  layout?: RejectLayout,
  staged = false,
): Promise<RecordSink> {
  const out = await LineWriter.open(path, staged);
  if (format === 'jsonl') return sink(path, out, (event) => (event.fate === 'rejected' ? rejectJsonLine(event) : undefined));
  const { delimiter, eol, bom } = layout ?? DEFAULT_CSV_LAYOUT;
  const byColumns = inputColumns.length > 0;
  // Cells as read only for a CSV input (a layout its reader found, not marked); a JSONL record is one JSON cell.
  const quote = byColumns && (layout === undefined || layout.quoteFormulas === true);
  const own = (cells: readonly string[]) => cells.map((cell) => rawCell(cell, delimiter));
  const header = [...REJECT_COLUMNS, ...(quote ? [QUOTED_COLUMN] : []), ...own(byColumns ? inputColumns : [REJECT_RECORD_COLUMN])];
  out.push(`${bom ? '\uFEFF' : ''}${header.join(delimiter)}${eol}`);
  return sink(path, out, (event) => {
    if (event.fate !== 'rejected') return undefined;
    const raw = event.raw ?? {};
    const cells = byColumns ? inputColumns.map((column) => textOf(raw[column])) : [event.raw ? JSON.stringify(event.raw) : ''];
    const line = lineOf(event);
    const reason = [line === undefined ? '' : String(line), event.field ?? '', event.code ?? '', event.message ?? ''];
    const written = quote ? cells.map(quotedCell) : cells;
    if (quote) reason.push(inputColumns.filter((_, at) => written[at] !== cells[at]).join(', '));
    return `${[...reason.map((cell) => csvCell(cell, delimiter)), ...own(written)].join(delimiter)}${eol}`;
  });
}

/**
 * A reject's `sparctl_line`: the line of the input first read — a row of a reject file fed back
 * keeps the line its own sparctl_line named, so every later round points into the same file.
 */
const lineOf = (event: RecordEvent): number | undefined => event.originalLine ?? event.line;

/** A CSV cell's text for an input value: CSV input gives strings; anything else as JSON. */
function textOf(value: unknown): string {
  if (value === undefined || value === null) return '';
  return typeof value === 'string' ? value : JSON.stringify(value);
}

/** One rejected record as a JSONL line: the input object, then sparctl's keys. */
function rejectJsonLine(event: RecordEvent): string {
  const line: Record<string, unknown> = {};
  // The input's own keys first, as read; sparctl's keys of a fed-back file were dropped on input.
  if (event.raw) for (const [key, value] of Object.entries(event.raw)) if (!key.startsWith('sparctl_')) line[key] = value;
  line['sparctl_id'] = event.id ?? null;
  line['sparctl_line'] = lineOf(event) ?? null;
  line['sparctl_field'] = event.field ?? null;
  line['sparctl_code'] = event.code;
  line['sparctl_message'] = event.message;
  return `${JSON.stringify(line)}\n`;
}

/** The results format a path's extension implies: .jsonl/.ndjson → jsonl, anything else → csv. */
export function resultsFormatFromPath(path: string): ResultsFormat {
  const ext = extname(path).toLowerCase();
  return ext === '.jsonl' || ext === '.ndjson' ? 'jsonl' : 'csv';
}

/**
 * Opens (truncating) a results file with one line per record, whatever its fate. CSV cells are
 * neutralised (`csvCell`): this file is read by people, often in a spreadsheet, not re-imported.
 * JSONL objects always carry every key (null when unknown) so the shape never varies by row.
 * A dry run's lines say what would happen (DRY_RUN_FATES); `staged` as for openRejectFile.
 */
export async function openResultsFile(
  path: string,
  format: ResultsFormat = resultsFormatFromPath(path),
  dryRun = false,
  staged = false,
): Promise<RecordSink> {
  const out = await LineWriter.open(path, staged);
  if (format === 'csv') out.push(RESULTS_CSV_HEADER);
  return sink(path, out, (event) => resultLine(event, format, dryRun));
}

/** A dry run's fates: nothing was applied or rejected, only forecast (and no outcome came from a mapper). */
export const DRY_RUN_FATES: Record<RecordEvent['fate'], string> = {
  applied: 'would_apply',
  confirmed: 'would_apply',
  unchanged: 'unchanged',
  superseded: 'superseded',
  skipped: 'skipped',
  rejected: 'would_be_rejected',
};

/** A RecordSink writing the line `lineOf` makes for each event it wants (undefined: skip). */
function sink(path: string, out: LineWriter, lineOf: (event: RecordEvent) => string | undefined): RecordSink {
  let count = 0;
  return {
    path,
    get count() {
      return count;
    },
    write(event) {
      const line = lineOf(event);
      if (line === undefined) return;
      out.push(line);
      count++;
    },
    close: () => out.close(),
    failure: () => out.failure(),
  };
}

/** The CSV header of a results listing. */
export const RESULTS_CSV_HEADER = `${RESULT_COLUMNS.join(',')}\r\n`;

/** One record as a results line: a JSON object, or a spreadsheet-safe CSV row; a dry run's says what would happen. */
export function resultLine(event: RecordEvent, format: ResultsFormat, dryRun = false): string {
  const row = {
    seq: event.seq,
    line: event.line ?? null,
    id: event.id ?? null,
    operation: event.operation ?? null,
    fate: dryRun ? DRY_RUN_FATES[event.fate] : event.fate,
    // A forecast write has no outcome (the operation says what it would be); a forecast reject keeps the reason's.
    outcome: dryRun && event.fate !== 'rejected' ? null : (event.outcome ?? null),
    code: event.code,
    message: event.message,
    // A row of a fed-back reject file says where it was first read; `line` stays its line here.
    origin: event.origin ?? (event.originalLine === undefined ? null : `original line ${event.originalLine}`),
    superseded_by: event.supersededBy ?? null,
  };
  if (format === 'jsonl') return `${JSON.stringify(row)}\n`;
  return `${RESULT_COLUMNS.map((column) => (row[column] === null ? '' : csvCell(String(row[column])))).join(',')}\r\n`;
}

/**
 * Lines into a file, for callers that cannot await (the bulk engine emits events synchronously).
 * Lines pushed in one turn of the event loop go out as one write on the next; while the stream
 * signals backpressure they wait here, joined, until 'drain', instead of piling up as many small
 * writes. A write error is kept as a `disk.*` error: failure() tells it at once, so the run stops
 * cleanly (its journal kept, to be resumed), and close() rejects with it.
 *
 * Staged, the lines go to a temporary file beside the path (stagingPath), renamed over the path
 * once all are on disk: another process writing the same path at once (two dry runs of one file
 * claim nothing) can then never mix its lines with these or cut them short; the last to close
 * wins. One that failed is removed, never put in place; one whose process exits first (a second
 * Ctrl-C) is removed as it exits; one a kill -9 left is removed by the next that stages the path.
 */
class LineWriter {
  private pending: string[] = [];
  private scheduled = false;
  private waiting = false;
  private error: Error | undefined;
  private closing: Promise<void> | undefined;

  private constructor(
    private readonly stream: WriteStream,
    /** The path the file is for: named by every error. */
    private readonly path: string,
    /** Where the lines go: `path`, or its staging file. */
    private readonly file: string,
  ) {
    stream.on('error', () => this.failure());
  }

  /** Creates missing parent folders and opens the file now, so a bad path fails before the run. */
  static async open(path: string, staged = false): Promise<LineWriter> {
    try {
      makeFolders(dirname(path));
    } catch (error) {
      throw outputError((error as { path?: string }).path ?? dirname(path), 'cannot create the folder', error);
    }
    // A special file there (a FIFO, a device) is written as before: a rename would replace it.
    const file = staged && renameable(path) ? stagingPath(path) : path;
    if (file !== path) reclaimStaged(path);
    let handle: Awaited<ReturnType<typeof open>>;
    try {
      // A staging file's name is this run's alone: never one of another process's opened again.
      handle = await open(file, file === path ? 'w' : 'wx', 0o600);
    } catch (error) {
      throw outputError(path, 'cannot open it for writing', error);
    }
    if (file !== path) stage(file);
    try {
      // Reject and results files carry beneficiaries' data (account numbers, phones): owner
      // only, an existing file too (open's mode applies only to a file it creates).
      ownerOnlyFile(file, handle.fd);
    } catch (error) {
      await handle.close();
      if (file !== path) unstage(file);
      throw error;
    }
    return new LineWriter(handle.createWriteStream({ encoding: 'utf8' }), path, file);
  }

  failure(): SparctlError | undefined {
    // A failed write destroys the stream at once but emits 'error' a tick later: `errored` is
    // the only sign in between (a close() there took the destroyed stream for a finished one).
    const failed = this.stream.errored;
    if (failed && this.error === undefined) this.error = duringRunError(this.path, 'cannot write', failed) as Error;
    return this.error as SparctlError | undefined;
  }

  push(text: string): void {
    if (this.closing) throw new Error(`${this.path} is already closed`);
    this.pending.push(text);
    if (!this.scheduled && !this.waiting) {
      this.scheduled = true;
      setImmediate(() => this.flush());
    }
  }

  private flush(): void {
    this.scheduled = false;
    if (this.waiting || this.pending.length === 0 || this.closing || this.failure()) return;
    const chunk = this.pending.join('');
    this.pending = [];
    if (!this.stream.write(chunk)) {
      this.waiting = true;
      this.stream.once('drain', () => {
        this.waiting = false;
        this.flush();
      });
    }
  }

  close(): Promise<void> {
    this.closing ??= new Promise<void>((resolve, reject) => {
      const chunk = this.pending.join('');
      this.pending = [];
      const done = () => {
        if (this.file !== this.path) this.unstage();
        return this.failure() ? reject(this.error) : resolve();
      };
      if (this.failure() || this.stream.destroyed) {
        this.stream.destroy();
        done();
        return;
      }
      // 'close' comes after the descriptor is closed, i.e. once everything is on disk.
      this.stream.once('close', done);
      this.stream.end(chunk);
    });
    return this.closing;
  }

  /** A staging file's end: renamed over the path when every line is in it, else removed. */
  private unstage(): void {
    if (this.failure() === undefined) {
      try {
        // On the disk before it has the name: a crash just after the rename leaves no empty file there.
        const fd = openSync(this.file, 'r');
        try {
          fsyncSync(fd);
        } finally {
          closeSync(fd);
        }
        renameSync(this.file, this.path);
        syncFolder(dirname(this.path));
        stagingFiles.delete(this.file);
        return;
      } catch (error) {
        this.error = duringRunError(this.path, 'cannot put it in place', error) as Error;
      }
    }
    unstage(this.file);
  }
}

// ---------------------------------------------------------------------------------------------
// Staging files: a dry run's previews

/** The part of a staging file's name after the path's own: pid, hostTag, a random part. */
const STAGED = /^(.*)\.sparctl-tmp\.(\d+)\.([0-9a-f]{8})\.[0-9a-f]{8}$/;

/** Staging files this process has open: removed as it exits, however it exits (short of a kill -9). */
const stagingFiles = new Set<string>();
let stagedExitHook = false;

/**
 * A new name for a staging file of `path`, in its folder (a rename is atomic only within one file
 * system): `NAME.sparctl-tmp.PID.HOST.RANDOM`, which says whose it is, matches no `*.csv` or
 * `*.jsonl`, and tells reclaimStaged when its process is gone. NAME is cut to 200 bytes (a
 * file name holds 255).
 */
export function stagingPath(path: string): string {
  return join(dirname(path), `${stagingStem(basename(path))}.sparctl-tmp.${process.pid}.${hostTag()}.${randomBytes(4).toString('hex')}`);
}

function stagingStem(name: string): string {
  let chars = Array.from(name);
  while (Buffer.byteLength(chars.join('')) > 200) chars = chars.slice(0, -1);
  return chars.join('');
}

/** No file at `path`, or one a rename may replace: a regular file, or a link (replaced itself, never what it leads to). */
function renameable(path: string): boolean {
  try {
    const stats = lstatSync(path, { throwIfNoEntry: false });
    return stats === undefined || stats.isFile() || stats.isSymbolicLink();
  } catch {
    return false; // the open says why it cannot be written
  }
}

function stage(file: string): void {
  stagingFiles.add(file);
  if (stagedExitHook) return;
  stagedExitHook = true;
  process.once('exit', () => {
    for (const left of stagingFiles) removeQuietly(left);
  });
}

function unstage(file: string): void {
  stagingFiles.delete(file);
  removeQuietly(file);
}

/** Removes a file of sparctl's own if it is there; one that cannot be (a disk made read-only) is left to reclaimStaged. */
function removeQuietly(file: string): void {
  try {
    unlinkSync(file);
  } catch {
    // gone already (renamed into place), or left
  }
}

/** How long a staging file of another host or pid namespace stays untouched before it is taken as left by a kill. */
const ABANDONED_AFTER_MS = 24 * 60 * 60 * 1000;

/** A regular file last written before `before` (ms since the epoch). */
function untouchedSince(file: string, before: number): boolean {
  try {
    const stats = lstatSync(file, { throwIfNoEntry: false });
    return stats !== undefined && stats.isFile() && stats.mtimeMs < before;
  } catch {
    return false;
  }
}

/**
 * Removes the staging files of `path` whose process provably no longer runs (this host and pid
 * namespace, no such pid; our own pid's if this process did not make them): left by a kill -9.
 * Another host's or namespace's are removed only once untouched for a day (their process may be
 * running; a live run writes its file as it goes).
 */
function reclaimStaged(path: string): void {
  const dir = dirname(path);
  const stem = stagingStem(basename(path));
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return;
  }
  for (const name of names) {
    const match = STAGED.exec(name);
    if (match === null || match[1] !== stem) continue;
    const file = join(dir, name);
    if (match[3] !== hostTag()) {
      // Another host's or pid namespace's (a container's, each with its own): its pid says
      // nothing here, but one untouched for a day is no live run's.
      if (!untouchedSince(file, Date.now() - ABANDONED_AFTER_MS)) continue;
    } else {
      const pid = Number(match[2]);
      if (pid === process.pid ? stagingFiles.has(file) : processRuns(pid)) continue;
    }
    try {
      unlinkSync(file);
    } catch {
      // gone already, or not ours to remove: the next run looks again
    }
  }
}

/**
 * Removes the file at `path` while it is still the one `same` recognises: another process may put
 * a new one there at any moment (a dry run's preview renamed into place), which must stand. A
 * check and then an unlink would remove one put there in between, so the file is first renamed
 * aside (only the file there then is taken), looked at, and linked back if it is not the one.
 */
export function removeIfSame(path: string, same: (stats: Stats) => boolean): boolean {
  const there = lstatSync(path, { throwIfNoEntry: false });
  if (there === undefined || !there.isFile() || !same(there)) return false;
  const aside = stagingPath(path);
  try {
    renameSync(path, aside);
  } catch {
    return false; // gone meanwhile
  }
  const taken = lstatSync(aside, { throwIfNoEntry: false });
  if (taken?.isFile() && same(taken)) {
    removeQuietly(aside);
    return true;
  }
  try {
    linkSync(aside, path);
  } catch (error) {
    // A newer one is there already: it stands. A file system without hard links: renamed back.
    if ((error as { code?: string }).code !== 'EEXIST') {
      try {
        renameSync(aside, path);
      } catch {
        return false; // left aside, under a name that says whose it is
      }
      return false;
    }
  }
  removeQuietly(aside);
  return false;
}

// ---------------------------------------------------------------------------------------------
// Claims: one run per report file

/**
 * Claims on a bulk run's report files (its reject and results files) for the length of the run,
 * so that two runs never write one file. Two runs started at once in one folder on one input
 * (`link --file a.csv` and `update --file a.csv`) both found the default `a.rejects.csv` free —
 * it is opened only at the first reject — and both wrote it: it held one run's rows, the other's
 * were lost, and both summaries named it.
 *
 * A claim is a lock file beside the report's real path (`a.rejects.csv.lock`), made with O_EXCL
 * and holding the line pid-lock.ts writes: one whose process provably no longer runs (same
 * host, same pid namespace, no such pid) is taken over. The report file itself is not made before its first row, so a run that rejects
 * nothing still leaves no reject file (not even an empty one); the lock goes when the run ends,
 * at the latest as the process exits, so only a kill -9 leaves one — the next run takes it over.
 */

/** A report path claimed for this run, or the run that holds it. */
export type ReportClaim =
  | { readonly taken: false; release(): void }
  | { readonly taken: true; readonly holder?: string; readonly lockPath: string };

/** Every claim this process holds (any job's), by lock path: removed as the process exits, however it exits. */
const held = new Map<string, string>();
let exitHook = false;

/** One run's claims: released together once its reports are closed. */
export class ReportClaims {
  private readonly mine = new Map<string, string>();

  /**
   * Claims `path` for this run. Taken: another run (another process, or another job of this
   * one) holds it. Nothing is claimed where no lock can be made (a folder sparctl may not write,
   * a device such as /dev/null): the path's own check (checkOutputPath) says why it cannot be
   * written, and a file there that can be written still is, unclaimed, as before.
   */
  claim(path: string): ReportClaim {
    const unclaimed: ReportClaim = { taken: false, release: () => undefined };
    try {
      makeFolders(dirname(path));
      if (statSync(path, { throwIfNoEntry: false })?.isFile() === false) return unclaimed;
    } catch {
      return unclaimed;
    }
    const lockPath = `${realPath(path)}.lock`;
    // This run's other report at the same path (--results naming the reject file) is its own.
    if (this.mine.has(lockPath)) return unclaimed;
    const content = lockContent();
    // Each turn makes the lock, or finds it live, or takes a stale one over; a stale one that
    // cannot be taken over (another user's in a sticky /tmp) stays in the way.
    for (let turn = 0; turn < 3; turn++) {
      let fd: number;
      try {
        fd = openSync(lockPath, 'wx', 0o644);
      } catch (error) {
        if ((error as { code?: string }).code !== 'EEXIST') return unclaimed;
        const seen = readSettled(lockPath);
        if (seen === undefined) continue; // released meanwhile
        if (!isStale(seen)) {
          const holder = holderText(seen.content);
          return { taken: true, ...(holder === undefined ? {} : { holder }), lockPath };
        }
        takeOver(lockPath, seen);
        continue;
      }
      try {
        writeSync(fd, content);
      } catch {
        // An empty lock would hold every other run off for 5 s (it looks like one being
        // written this instant): removed, and the report written unclaimed.
        closeSync(fd);
        rmSync(lockPath, { force: true });
        return unclaimed;
      }
      closeSync(fd);
      this.mine.set(lockPath, content);
      held.set(lockPath, content);
      holding(content, true);
      if (!exitHook) {
        // A second Ctrl-C (process.exit) or a crash ends the process before the run's own release.
        exitHook = true;
        process.once('exit', () => {
          for (const [lock, ours] of held) releaseIfOurs(lock, ours);
        });
      }
      return { taken: false, release: () => this.release(lockPath) };
    }
    const holder = holderText(readLock(lockPath)?.content ?? '');
    return { taken: true, ...(holder === undefined ? {} : { holder }), lockPath };
  }

  /** Releases every claim of this run (called once its reports are closed, however it ended). */
  releaseAll(): void {
    for (const lockPath of [...this.mine.keys()]) this.release(lockPath);
  }

  private release(lockPath: string): void {
    const content = this.mine.get(lockPath);
    if (content === undefined) return;
    this.mine.delete(lockPath);
    held.delete(lockPath);
    releaseIfOurs(lockPath, content);
  }
}

/**
 * The lock as read once its maker has written it: one made this instant is empty for a moment
 * (two runs started together meet it so), and the line that refuses names the holder's pid.
 */
function readSettled(lockPath: string): SeenLock | undefined {
  for (let waited = 0; ; waited += 10) {
    const seen = readLock(lockPath);
    if (seen === undefined || seen.content !== '' || waited >= 200 || Date.now() - seen.mtimeMs > 1_000) return seen;
    pauseSync(10);
  }
}
