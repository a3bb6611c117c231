import type { Operation, Outcome } from '../results.js';
import type { BulkEvent, BulkSummary, FateCounts, RecordEvent, RecordFate } from './events.js';

/**
 * Counting and reporting every record's fate.
 *
 * Invariant: each record read is counted once, under exactly one fate, when it gets that fate;
 * the summary's total is the input's record count, so total = the fates + not sent in every
 * ending. Record events reach the listener in input order (a chunk's events wait until every
 * earlier chunk has settled), so files written from them list rows as the input did.
 */

export interface Reported {
  readonly seq: number;
  readonly line?: number | undefined;
  readonly originalLine?: number | undefined;
  readonly raw?: Readonly<Record<string, unknown>> | undefined;
  readonly origin?: string | undefined;
}

export interface FateDetails {
  readonly id?: string | undefined;
  readonly outcome?: Outcome | undefined;
  readonly code?: string | null;
  readonly message?: string | null;
  readonly field?: string | undefined;
  readonly resumed?: boolean;
  readonly supersededBy?: number | undefined;
  readonly fa?: string | undefined;
  /** For a skipped record: the filter's rule in words (BulkSummary.skippedBy). */
  readonly rule?: string | undefined;
}

/** One chunk's events, delivered once it and every chunk before it have settled. */
export interface ChunkReport {
  readonly events: RecordEvent[];
  settled: boolean;
}

type MutableCounts = Partial<Record<RecordFate, number>>;

export class Reports {
  private readonly started: number;
  private read = 0;
  private done = 0;
  private retries = 0;
  private readonly fates: Record<RecordFate, number> = { applied: 0, confirmed: 0, unchanged: 0, superseded: 0, skipped: 0, rejected: 0 };
  private readonly earlier: MutableCounts = {};
  private readonly byOperation: Partial<Record<Operation | 'none', MutableCounts>> = {};
  private readonly rejectedBy: Record<string, number> = {};
  private readonly skippedBy: Record<string, number> = {};
  private readonly chunks: ChunkReport[] = [];
  private lastProgress = 0;

  constructor(
    private readonly options: {
      readonly onEvent?: (event: BulkEvent) => void;
      /** Every record gets an event (default), or only rejected ones (the counts cover all either way). */
      readonly recordEvents?: 'all' | 'problems';
      readonly total?: number;
      readonly now?: () => number;
    },
  ) {
    this.started = this.now();
  }

  private now(): number {
    return (this.options.now ?? Date.now)();
  }

  /** A record was read from the input. */
  readRecords(count: number): void {
    this.read += count;
  }

  get readCount(): number {
    return this.read;
  }

  /** A new chunk, in input order. */
  chunk(): ChunkReport {
    const report: ChunkReport = { events: [], settled: false };
    this.chunks.push(report);
    return report;
  }

  /** Counts a record's fate now; its event goes to its chunk's report. */
  fate(report: ChunkReport, record: Reported, operation: Operation | 'none', fate: RecordFate, details: FateDetails = {}): void {
    this.count(operation, fate, details);
    if (fate === 'skipped') {
      const rule = details.rule ?? details.code ?? 'filter';
      this.skippedBy[rule] = (this.skippedBy[rule] ?? 0) + 1;
    }
    if (this.options.recordEvents === 'problems' && fate !== 'rejected') return;
    // One shape for every event (absent fields are undefined): built once per record.
    report.events.push({
      type: 'record',
      seq: record.seq,
      line: record.line,
      originalLine: record.originalLine,
      id: details.id,
      operation: operation === 'none' ? undefined : operation,
      fate,
      outcome: details.outcome,
      code: details.code ?? null,
      message: details.message ?? null,
      field: details.field,
      raw: record.raw,
      origin: record.origin,
      resumed: details.resumed ? true : undefined,
      supersededBy: details.supersededBy,
      fa: details.fa,
    });
  }

  /**
   * A record an earlier run settled that this run, stopped, never reached: counted as settled by
   * that run, with no event (this run did not read its line).
   */
  settledEarlier(operation: Operation | 'none', fate: RecordFate, code?: string | null): void {
    this.count(operation, fate, { resumed: true, code: code ?? null });
  }

  private count(operation: Operation | 'none', fate: RecordFate, details: FateDetails): void {
    this.done++;
    this.fates[fate]++;
    if (details.resumed) this.earlier[fate] = (this.earlier[fate] ?? 0) + 1;
    const counts = (this.byOperation[operation] ??= {});
    counts[fate] = (counts[fate] ?? 0) + 1;
    if (fate === 'rejected') {
      const code = details.code ?? 'rejected';
      this.rejectedBy[code] = (this.rejectedBy[code] ?? 0) + 1;
    }
  }

  /**
   * Delivers the record events of settled chunks, oldest chunk first and each in input order,
   * up to the first chunk still in flight (all of them with `all`, at the end of a run).
   */
  deliver(all = false): void {
    while (this.chunks.length > 0 && (all || this.chunks[0]!.settled)) {
      const { events } = this.chunks.shift()!;
      events.sort((a, b) => a.seq - b.seq);
      for (const event of events) this.options.onEvent?.(event);
    }
  }

  retried(operation: Operation, records: number, attempt: number, reason: string, delayMs: number): void {
    this.retries++;
    this.options.onEvent?.({ type: 'retry', operation, records, attempt, reason, delayMs });
  }

  progress(force: boolean): void {
    const now = this.now();
    if (!force && now - this.lastProgress < 200) return;
    this.lastProgress = now;
    this.options.onEvent?.({
      type: 'progress',
      read: this.read,
      done: this.done,
      ...(this.options.total === undefined ? {} : { total: this.options.total }),
      applied: this.fates.applied + this.fates.confirmed,
      unchanged: this.fates.unchanged,
      superseded: this.fates.superseded,
      skipped: this.fates.skipped,
      rejected: this.fates.rejected,
      retries: this.retries,
      elapsed: (now - this.started) / 1000,
    });
  }

  /** The counts so far; `total` is the input's record count when known (else what was read). */
  summary(options: { total?: number; dryRun: boolean; stopped?: BulkSummary['stopped'] }): BulkSummary {
    const total = Math.max(options.total ?? this.read, this.done);
    return {
      total,
      ...this.fates,
      notSent: total - this.done,
      earlier: { ...this.earlier } as FateCounts,
      retries: this.retries,
      seconds: (this.now() - this.started) / 1000,
      byOperation: this.byOperation,
      rejectedBy: this.rejectedBy,
      skippedBy: this.skippedBy,
      dryRun: options.dryRun,
      ...(options.stopped === undefined ? {} : { stopped: options.stopped }),
    };
  }
}
