import type { Ora } from 'ora';
import {
  RECORD_FATES,
  type BulkEvent,
  type BulkSummary,
  type ProgressEvent,
  type RecordEvent,
  type RecordFate,
  type RetryEvent,
} from '../core/bulk/events.js';
import type { BulkJobResult } from '../app/bulk-job.js';
import { EARLY_STOP_CODE } from '../core/bulk/early-stop.js';
import type { Operation } from '../core/results.js';
import { colorEnabled, type Io } from './io.js';
import { printable } from './output.js';
import { renderTable, type TableColumn } from './table.js';

/**
 * How a bulk run looks on stderr while it runs and when it ends (research note B.3 points 5–7,
 * Part C 1–2). stdout stays free for machine output.
 */

export interface ProgressOptions {
  readonly quiet: boolean;
  /** Leads every line, e.g. "import people.csv". */
  readonly label: string;
  /** Off a terminal: at most one progress line per this many ms (default 5000). */
  readonly intervalMs?: number;
  /** Milliseconds clock; tests pass a fake one. */
  readonly now?: () => number;
}

export interface ProgressRenderer {
  onEvent(event: BulkEvent): void;
  /** Removes the spinner line (so the summary starts clean) and stops every timer. */
  stop(): void;
}

/** Spinner text changes at most this often, ~10×/s: more is flicker, not information. */
const TTY_UPDATE_MS = 100;
/** The records-per-second figure looks back over this much of the run. */
const RATE_WINDOW_S = 10;
/** A retry stays in the spinner line for this long. */
const RETRY_SHOWN_MS = 3000;

export function createProgressRenderer(io: Io, options: ProgressOptions): ProgressRenderer {
  if (options.quiet) return { onEvent: () => undefined, stop: () => undefined };
  // A spinner rewrites its line with cursor codes, so it needs a terminal that accepts escape
  // codes: stderr a TTY and colour not turned off (NO_COLOR, TERM=dumb). CI logs get plain lines
  // even from a pseudo-terminal (puppetlabs/bolt#2502). Everything else gets plain lines.
  // A terminal that does not say how wide it is (a pseudo-terminal without a size) gets plain
  // lines too: ora counts the lines to erase by dividing by the width.
  const animate = io.stderrIsTTY && colorEnabled(io, 'stderr') && !io.env['CI'] && (io.stderrColumns ?? io.columns) >= 20;
  return animate ? new SpinnerProgress(io, options) : new LineProgress(io, options);
}

/** Moving-window rate and ETA from the progress events' own clock (`elapsed`). */
class RateMeter {
  private samples: { elapsed: number; done: number }[] = [];

  add(event: ProgressEvent): void {
    // A sample every ¼ s is plenty, and keeps the window small however often events come.
    const last = this.samples[this.samples.length - 1];
    if (last && this.samples.length > 1 && event.elapsed - last.elapsed < 0.25) return;
    this.samples.push({ elapsed: event.elapsed, done: event.done });
    // Keep one sample at or before the window's start, so the window spans the full ~10 s.
    while (this.samples.length > 2 && this.samples[1]!.elapsed <= event.elapsed - RATE_WINDOW_S) this.samples.shift();
  }

  /** Records per second; over the whole run until a window's worth of samples exists. */
  rate(event: ProgressEvent): number {
    const first = this.samples[0];
    if (first && event.elapsed - first.elapsed >= 1) return Math.max(0, (event.done - first.done) / (event.elapsed - first.elapsed));
    return event.elapsed > 0 ? event.done / event.elapsed : 0;
  }
}

/** "1200/5000 (24%) · 85 rec/s · ETA 00:44 · applied 1100 · …"; zero counts dropped when `compact`. */
export function progressText(event: ProgressEvent, rate: number, compact = false): string {
  const parts: string[] = [position(event)];
  parts.push(`${rate >= 10 ? Math.round(rate) : rate.toFixed(1)} rec/s`);
  // No ETA without a total (stdin): a guess would be worse than nothing.
  if (event.total !== undefined) parts.push(`ETA ${rate > 0 ? clock((event.total - event.done) / rate) : '--:--'}`);
  const counts: [string, number][] = [
    ['applied', event.applied],
    ['unchanged', event.unchanged],
    ['superseded', event.superseded],
    ['skipped', event.skipped],
    ['rejected', event.rejected],
    ['retries', event.retries],
  ];
  // Superseded and skipped rows are rare: named only when there are some, as in the summary.
  const rare = (name: string) => name === 'superseded' || name === 'skipped';
  for (const [name, n] of counts) if ((!compact && !rare(name)) || n > 0 || name === 'applied') parts.push(`${name} ${n}`);
  return parts.join(' · ');
}

/** "1200/5000 (24%)", or just "1200" when the total is unknown. */
function position(event: ProgressEvent): string {
  if (event.total === undefined) return `${event.done}`;
  const pct = event.total > 0 ? Math.floor((event.done / event.total) * 100) : 100;
  return `${event.done}/${event.total} (${pct}%)`;
}

/** mm:ss, or h:mm:ss from an hour on. */
function clock(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  const hh = Math.floor(s / 3600);
  const mm = String(Math.floor((s % 3600) / 60)).padStart(2, '0');
  const ss = String(s % 60).padStart(2, '0');
  return hh > 0 ? `${hh}:${mm}:${ss}` : `${mm}:${ss}`;
}

/** "retrying 500 links (attempt 2) in 2.0 s: HTTP 503"; `short` fits the spinner line. */
function retryText(event: RetryEvent, short = false): string {
  const records = `${event.records} ${event.operation}${event.records === 1 ? '' : 's'}`;
  const delay = `${(event.delayMs / 1000).toFixed(1)} s`;
  const reason = printable(event.reason);
  return short
    ? `${records}: retry ${event.attempt} in ${delay}, ${reason}`
    : `retrying ${records} (attempt ${event.attempt}) in ${delay}: ${reason}`;
}

/** Off a terminal: a plain line at most every `intervalMs`, and one line per retry. */
class LineProgress implements ProgressRenderer {
  private readonly meter = new RateMeter();
  private readonly now: () => number;
  private readonly interval: number;
  private last: number;
  private stopped = false;

  constructor(
    private readonly io: Io,
    private readonly options: ProgressOptions,
  ) {
    this.now = options.now ?? Date.now;
    this.interval = options.intervalMs ?? 5000;
    // The first line waits a full interval too: a short run needs only its summary.
    this.last = this.now();
  }

  onEvent(event: BulkEvent): void {
    if (this.stopped) return;
    if (event.type === 'retry') {
      // Retries are rare and explain a slowdown, so each gets its own line, unthrottled.
      this.io.stderr.write(`${this.options.label}: ${retryText(event)}\n`);
      return;
    }
    if (event.type !== 'progress') return;
    this.meter.add(event);
    const now = this.now();
    if (now - this.last < this.interval) return;
    this.last = now;
    this.io.stderr.write(`${this.options.label}: ${progressText(event, this.meter.rate(event))}\n`);
  }

  stop(): void {
    this.stopped = true;
  }
}

/** On a terminal: one ora line, its text refreshed at most ~10×/s. */
class SpinnerProgress implements ProgressRenderer {
  private readonly meter = new RateMeter();
  private readonly now: () => number;
  private spinner: Ora | undefined;
  private latest: ProgressEvent | undefined;
  private retry: { text: string; until: number } | undefined;
  private lastUpdate = -Infinity;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(
    private readonly io: Io,
    private readonly options: ProgressOptions,
  ) {
    this.now = options.now ?? Date.now;
    // Loaded lazily: ora and its dependencies cost start-up time no other command should pay.
    void import('ora').then(
      ({ default: ora }) => {
        if (this.stopped) return;
        this.spinner = ora({
          text: this.text(),
          stream: io.stderr as NodeJS.WriteStream,
          isEnabled: true,
          // Raw-mode stdin would swallow Ctrl-C and could eat piped input.
          discardStdin: false,
          // Hiding the cursor makes ora register exit/signal hooks that would race the
          // CLI's own SIGINT handling (flush journal, print the resume hint).
          hideCursor: false,
        }).start();
      },
      () => {
        // Without ora the run goes on; the summary still tells the outcome.
      },
    );
  }

  onEvent(event: BulkEvent): void {
    if (this.stopped) return;
    if (event.type === 'retry') {
      this.retry = { text: retryText(event, true), until: this.now() + RETRY_SHOWN_MS };
    } else if (event.type === 'progress') {
      this.meter.add(event);
      this.latest = event;
    } else {
      return;
    }
    this.schedule();
  }

  /** Updates now if the last update is old enough, otherwise once it is (the newest state wins). */
  private schedule(): void {
    const wait = this.lastUpdate + TTY_UPDATE_MS - this.now();
    if (wait <= 0) {
      this.update();
    } else if (!this.timer) {
      this.timer = setTimeout(() => {
        this.timer = undefined;
        this.update();
      }, wait);
      this.timer.unref();
    }
  }

  private update(): void {
    this.lastUpdate = this.now();
    if (this.spinner) this.spinner.text = this.text();
  }

  private text(): string {
    const parts = [this.options.label];
    if (this.retry && this.retry.until > this.now()) {
      // While a retry is fresh it takes the counts' place: on one line it would be cut off.
      if (this.latest) parts.push(position(this.latest));
      parts.push(this.retry.text);
    } else if (this.latest) {
      parts.push(progressText(this.latest, this.meter.rate(this.latest), true));
    }
    const line = parts.join(' · ');
    // One line only: ora has to erase exactly what it drew, and a wrapped line is harder to read.
    const width = Math.max(20, (this.io.stderrColumns ?? this.io.columns) - 3);
    return line.length > width ? `${line.slice(0, width - 1)}…` : line;
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.spinner?.stop();
  }
}

const OPERATION_ROWS: readonly (Operation | 'none')[] = ['link', 'update', 'unlink', 'resolve', 'none'];
/** "none": the record needed no write (unchanged, superseded) or was rejected before one was planned. */
const ROW_LABELS: Record<Operation | 'none', string> = {
  link: 'link',
  update: 'update',
  unlink: 'unlink',
  resolve: 'resolve',
  none: 'no write',
};
const FATE_LABELS: Record<RecordFate, string> = {
  applied: 'applied',
  confirmed: 'confirmed',
  unchanged: 'unchanged',
  superseded: 'superseded',
  skipped: 'skipped (filter)',
  rejected: 'rejected',
};

export interface SummaryExtra {
  readonly target: string;
  readonly rejectsPath?: string;
  /** Rows in the reject file (RecordSink.count). */
  readonly rejectsCount?: number;
  /** A write to the reject file failed: it holds only some of `rejectsCount` rows. */
  readonly rejectsIncomplete?: boolean;
  /** The default reject path held a file, kept: the rejects went to a numbered name. */
  readonly rejectsKept?: string;
  /** A dry run removed the preview an earlier one left (it rejects nothing). */
  readonly previewRemoved?: string;
  /** The command that feeds the reject file back in. */
  readonly refeed?: string | undefined;
  readonly resultsPath?: string;
  /** A write to the results file failed: it holds only some of the lines. */
  readonly resultsIncomplete?: boolean;
  readonly journalPath?: string;
  /** A command line that continues the run; shown only when the run stopped early. */
  readonly resumeHint?: string;
}

/**
 * The end-of-run summary on stderr: counts per operation and fate, then where things are. Always
 * printed, whatever the outcome, so a log shows what happened even if stdout went elsewhere. The
 * counts add up: total = the fates + not sent.
 */
export function renderBulkSummary(io: Io, summary: BulkSummary, extra: SummaryExtra): void {
  const color = colorEnabled(io, 'stderr');
  const paint = (code: string, text: string) => (color ? `\u001b[${code}m${text}\u001b[0m` : text);
  const lines = summary.dryRun
    ? ['dry run: nothing was written; every count says what would happen', dryRunTable(io, summary, paint)]
    : [doneTable(io, summary, paint)];
  const systematic = summary.stopped?.code === EARLY_STOP_CODE;
  const earlier = RECORD_FATES.reduce((sum, fate) => sum + (summary.earlier[fate] ?? 0), 0);
  // The rate is this run's own: records settled by an earlier run took no time here.
  const worked = Math.max(0, summary.total - summary.notSent - earlier);
  const rate = summary.seconds > 0 ? worked / summary.seconds : 0;
  lines.push(
    summary.total === 0
      ? // A header and nothing after it (an export filtered down to nothing, the wrong sheet): said, not a rate of 0.
        `0 records: the input holds none; nothing was sent · ${printable(extra.target)}`
      : `${summary.total} record${summary.total === 1 ? '' : 's'} in ${duration(summary.seconds)} (${rate >= 10 ? Math.round(rate) : rate.toFixed(1)} rec/s) · ${printable(extra.target)}`,
  );
  // Not sent, or sent and unanswered: the next run reads the mapper before sending any again.
  if (summary.notSent > 0)
    lines.push(
      paint(
        '31',
        systematic
          ? `not read: ${summary.notSent} record${summary.notSent === 1 ? '' : 's'} (stopped early on a systematic problem)`
          : `not done: ${summary.notSent} record${summary.notSent === 1 ? '' : 's'} (not sent, or no answer came)`,
      ),
    );
  if (earlier > 0) {
    const parts = RECORD_FATES.filter((fate) => (summary.earlier[fate] ?? 0) > 0).map((fate) => `${summary.earlier[fate]} ${fate}`);
    lines.push(`settled by an earlier run of this job: ${parts.join(', ')}`);
  }
  if (summary.superseded > 0) lines.push(`superseded: ${summary.superseded} (a later row names the same ID; the last row decides)`);
  if (summary.skipped > 0) {
    const rules = Object.entries(summary.skippedBy).sort((a, b) => b[1] - a[1]);
    lines.push(
      `skipped (filter): ${summary.skipped} (left out by a filter, never mapped or sent: ${rules.map(([rule, n]) => `${printable(rule)}: ${n}`).join('; ')})`,
    );
  }
  if (summary.confirmed > 0) lines.push(`confirmed: ${summary.confirmed} (the mapper shows it after a lost answer; maybe not this run's)`);
  const reasons = Object.entries(summary.rejectedBy).sort((a, b) => b[1] - a[1]);
  if (reasons.length > 0)
    lines.push(
      `${summary.dryRun ? 'would be rejected' : 'rejected'} by reason: ${reasons.map(([code, n]) => `${printable(code)} ${n}`).join(', ')}`,
    );
  if (summary.retries > 0) lines.push(`retries: ${summary.retries}`);
  const rejectRows = extra.rejectsCount ?? 0;
  const rows = `${rejectRows} row${rejectRows === 1 ? '' : 's'}`;
  if (extra.rejectsPath !== undefined && rejectRows > 0)
    lines.push(
      summary.dryRun
        ? `rejects preview: ${printable(extra.rejectsPath)} (${rows}; the next dry run replaces it)`
        : extra.rejectsIncomplete
          ? // The count is what the run gave the file, not what it holds: never said as if it were.
            `rejects: ${printable(extra.rejectsPath)} (incomplete: writing it failed, so it holds only some of the ${rows}, the last maybe cut short; the next run writes it again)`
          : `rejects: ${printable(extra.rejectsPath)} (${rows}${extra.rejectsKept === undefined ? '' : `; ${printable(extra.rejectsKept)} was there already and is kept`})`,
    );
  if (extra.previewRemoved !== undefined)
    lines.push(
      `removed ${printable(extra.previewRemoved)}: an earlier dry run's preview (this one ${systematic ? 'stopped early' : 'would reject nothing'})`,
    );
  if (extra.refeed !== undefined && rejectRows > 0 && !summary.stopped && !summary.dryRun)
    lines.push(`re-feed the fixed rows: ${printable(extra.refeed)}`);
  if (extra.resultsPath !== undefined)
    lines.push(
      `${summary.dryRun ? 'results preview' : 'results'}: ${printable(extra.resultsPath)}${extra.resultsIncomplete ? ' (incomplete: writing it failed, so it holds only some of the lines; the next run writes it again)' : ''}`,
    );
  if (extra.journalPath !== undefined) lines.push(`journal: ${printable(extra.journalPath)}`);
  // A stop on a systematic problem is told by the error line that follows the summary.
  if (summary.stopped && !systematic) {
    lines.push(paint('31', `stopped early: ${printable(summary.stopped.message)} (${summary.stopped.code})`));
    if (extra.resumeHint !== undefined) lines.push(`resume with: ${printable(extra.resumeHint)}`);
  }
  io.stderr.write(`${lines.join('\n')}\n`);
}

type Paint = (code: string, text: string) => string;

/** A run's counts per operation and fate, with a total row. */
function doneTable(io: Io, summary: BulkSummary, paint: Paint): string {
  // Confirmed, superseded and skipped only when some record has them: most runs have none.
  const fates = RECORD_FATES.filter((fate) => fate === 'applied' || fate === 'unchanged' || fate === 'rejected' || summary[fate] > 0);
  // A run that stopped: its records not done (not sent, or unanswered) have a column, so that the
  // total row is every record of the input, as the JSON summary's total is.
  const notDone = summary.notSent > 0;
  const columns: TableColumn[] = [
    { header: '', fit: 'fixed' },
    ...fates.map((fate) => ({ header: FATE_LABELS[fate], fit: 'fixed', align: 'right' }) as const),
    ...(notDone ? [{ header: 'not done', fit: 'fixed', align: 'right' } as const] : []),
    { header: 'total', fit: 'fixed', align: 'right' },
  ];
  const rows: string[][] = [];
  for (const operation of OPERATION_ROWS) {
    const counts = summary.byOperation[operation];
    if (!counts) continue;
    const cells = fates.map((fate) => counts[fate] ?? 0);
    // Not done is counted for the run, not per operation: a record not sent has none yet.
    rows.push([ROW_LABELS[operation], ...cells.map(String), ...(notDone ? [''] : []), String(cells.reduce((a, b) => a + b, 0))]);
  }
  const settled = fates.map((fate) => summary[fate]);
  rows.push([
    'total',
    ...settled.map((n, at) => (fates[at] === 'rejected' && n > 0 ? paint('33', String(n)) : String(n))),
    ...(notDone ? [paint('31', String(summary.notSent))] : []),
    String(settled.reduce((a, b) => a + b, 0) + summary.notSent),
  ]);
  return renderTable(io, columns, rows, { stream: 'stderr' });
}

/**
 * What a dry run would do, one count per line ("would link", "would be rejected", …): nothing
 * in it is labelled as done. The rows with a count, and the total.
 */
export function dryRunCounts(summary: BulkSummary): [label: string, count: number][] {
  const rows: [string, number][] = [];
  for (const operation of ['link', 'update', 'unlink'] as const) {
    const counts = summary.byOperation[operation];
    const would = (counts?.applied ?? 0) + (counts?.confirmed ?? 0);
    if (would > 0) rows.push([`would ${operation}`, would]);
  }
  if (summary.unchanged > 0) rows.push(['unchanged', summary.unchanged]);
  if (summary.superseded > 0) rows.push(['superseded', summary.superseded]);
  if (summary.skipped > 0) rows.push(['skipped (filter)', summary.skipped]);
  if (summary.rejected > 0) rows.push(['would be rejected', summary.rejected]);
  return rows;
}

function dryRunTable(io: Io, summary: BulkSummary, paint: Paint): string {
  const counts = dryRunCounts(summary);
  const rows = counts.map(([label, n]) => [label, label === 'would be rejected' ? paint('33', String(n)) : String(n)]);
  rows.push(['total', String(counts.reduce((sum, [, n]) => sum + n, 0))]);
  return renderTable(
    io,
    [
      { header: '', fit: 'fixed' },
      { header: 'records', fit: 'fixed', align: 'right' },
    ],
    rows,
    { stream: 'stderr' },
  );
}

/** The first rejected records, one line each: line, ID, field, reason code and message. */
export function rejectLines(events: readonly RecordEvent[]): string[] {
  return events.map((event) => {
    const parts = [
      event.line !== undefined
        ? `line ${event.line}${event.originalLine === undefined ? '' : ` (original line ${event.originalLine})`}`
        : event.origin !== undefined
          ? printable(event.origin)
          : `record ${event.seq + 1}`,
    ];
    if (event.id !== undefined) parts.push(`ID ${printable(event.id)}`);
    if (event.field !== undefined) parts.push(`field ${printable(event.field)}`);
    return `  ${parts.join(', ')}: ${printable(event.code ?? 'rejected')}${event.message ? ` — ${printable(event.message)}` : ''}`;
  });
}

/**
 * The `-o json` document of a bulk job. A dry run's says so (`dryRun: true`) and counts what
 * would happen — `wouldLink`, `wouldUpdate`, `wouldUnlink`, `wouldBeRejected`,
 * `wouldBeRejectedBy` — never `applied`; its files are `rejectsPreview` and `resultsPreview`.
 * A dry run and a stop on a systematic problem list their first rejects.
 */
export function jobDocument(result: BulkJobResult): Record<string, unknown> {
  const { summary } = result;
  const firstRejects = result.firstRejects.map((event) => ({
    line: event.line ?? null,
    id: event.id ?? null,
    field: event.field ?? null,
    code: event.code,
    message: event.message,
  }));
  if (!result.dryRun)
    return {
      command: result.command,
      target: result.target,
      dryRun: false,
      summary,
      ...(result.rejects ? { rejects: result.rejects.path, ...(result.rejects.incomplete ? { rejectsIncomplete: true } : {}) } : {}),
      ...(result.resultsPath ? { results: result.resultsPath, ...(result.resultsIncomplete ? { resultsIncomplete: true } : {}) } : {}),
      ...(result.stoppedOnProblem ? { firstRejects } : {}),
    };
  const would = (operation: 'link' | 'update' | 'unlink') =>
    (summary.byOperation[operation]?.applied ?? 0) + (summary.byOperation[operation]?.confirmed ?? 0);
  return {
    command: result.command,
    target: result.target,
    dryRun: true,
    summary: {
      total: summary.total,
      wouldLink: would('link'),
      wouldUpdate: would('update'),
      wouldUnlink: would('unlink'),
      unchanged: summary.unchanged,
      superseded: summary.superseded,
      skipped: summary.skipped,
      skippedBy: summary.skippedBy,
      wouldBeRejected: summary.rejected,
      notSent: summary.notSent,
      wouldBeRejectedBy: summary.rejectedBy,
      seconds: summary.seconds,
      dryRun: true,
      ...(summary.stopped ? { stopped: summary.stopped } : {}),
    },
    ...(result.rejects ? { rejectsPreview: result.rejects.path } : {}),
    ...(result.resultsPath ? { resultsPreview: result.resultsPath } : {}),
    firstRejects,
  };
}

/** "12.3 s" under a minute, then "4 min 05 s" / "1 h 02 min 05 s". */
function duration(seconds: number): string {
  if (seconds < 60) return `${seconds.toFixed(1)} s`;
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const rest = String(s % 60).padStart(2, '0');
  return h > 0 ? `${h} h ${String(m).padStart(2, '0')} min ${rest} s` : `${m} min ${rest} s`;
}
