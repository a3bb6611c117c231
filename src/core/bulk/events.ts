import type { Operation, Outcome } from '../results.js';

/**
 * What the bulk engine reports while it runs (DESIGN.md §3: the core never prints; the CLI
 * renders these). Every record that gets a fate gets exactly one `record` event.
 */

/**
 * Final state of one input record:
 * - applied: this run made the change (linked, updated, unlinked);
 * - confirmed: the mapper holds what the record asks, found after an answer was lost — the run
 *   cannot tell whether it made the change or the mapper held it already;
 * - unchanged: the mapper already held what the record asks; nothing was sent;
 * - superseded: a later row names the same ID, and the last row decides; nothing was sent;
 * - skipped: a filter of the mapping (or --skip-review) left the row out; it was never mapped,
 *   names no ID for supersession (an ID's last row is its last row not skipped), and is never
 *   journalled (the input and the job's definition alone say it);
 * - rejected: invalid input, or the mapper refused it (with its reason).
 * A record read but never settled (the run stopped first) has no event: it is "not sent".
 */
export type RecordFate = 'applied' | 'confirmed' | 'unchanged' | 'superseded' | 'skipped' | 'rejected';

export const RECORD_FATES: readonly RecordFate[] = ['applied', 'confirmed', 'unchanged', 'superseded', 'skipped', 'rejected'];

export interface RecordEvent {
  readonly type: 'record';
  /** 0-based position in the input. */
  readonly seq: number;
  /** 1-based line where the record starts, when the input has lines. */
  readonly line?: number | undefined;
  /** The line in the input an earlier round read, for a row of a reject file fed back (BulkInputRecord.originalLine). */
  readonly originalLine?: number | undefined;
  readonly id?: string | undefined;
  /** The operation decided for the record (upsert plans link, update or nothing). */
  readonly operation?: Operation | undefined;
  readonly fate: RecordFate;
  readonly outcome?: Outcome | undefined;
  /** SPAR's reason code, or a local one such as `input.invalid` / `mapping.unknown_bank`. */
  readonly code: string | null;
  readonly message: string | null;
  /** The input field at fault, for rejects found before sending. */
  readonly field?: string | undefined;
  /** The input record as read (a CSV row's cells, a JSONL object), so a reject file can carry it unchanged. */
  readonly raw?: Readonly<Record<string, unknown>> | undefined;
  /** Where the record came from when the input is not a file of lines (an ODK submission). */
  readonly origin?: string | undefined;
  /** True when this record was settled by an earlier run (resume), not by this one. */
  readonly resumed?: boolean | undefined;
  /** For a superseded record: the line of the row that decides its ID. */
  readonly supersededBy?: number | undefined;
  /** The stored FA string a link wrote, when the mapper said (single-record output shows it). */
  readonly fa?: string | undefined;
}

export interface ProgressEvent {
  readonly type: 'progress';
  /** Records read from the input so far. */
  readonly read: number;
  /** Records with a final fate. */
  readonly done: number;
  /** Total records, when known in advance. */
  readonly total?: number;
  readonly applied: number;
  readonly unchanged: number;
  /** Rows a later row of the same ID replaces, and rows a filter leaves out: counted apart, as the summary does. */
  readonly superseded: number;
  readonly skipped: number;
  readonly rejected: number;
  readonly retries: number;
  /** Seconds since the run started. */
  readonly elapsed: number;
}

export interface RetryEvent {
  readonly type: 'retry';
  readonly operation: Operation;
  readonly records: number;
  readonly attempt: number;
  readonly reason: string;
  readonly delayMs: number;
}

export type BulkEvent = RecordEvent | ProgressEvent | RetryEvent;

export type FateCounts = Readonly<Partial<Record<RecordFate, number>>>;

/**
 * The counts of a run. They add up in every ending:
 * total = applied + confirmed + unchanged + superseded + skipped + rejected + notSent, where each fate
 * counts this run's records and the earlier runs' (`earlier` says how many of each were
 * settled before this run), and `notSent` are the records no run has settled yet.
 */
export interface BulkSummary {
  readonly total: number;
  readonly applied: number;
  readonly confirmed: number;
  readonly unchanged: number;
  readonly superseded: number;
  /** Rows a filter left out (skipped (filter)): neither sent nor rejected. */
  readonly skipped: number;
  readonly rejected: number;
  /** Records not settled when the run stopped: run the same command again. */
  readonly notSent: number;
  /** Of the counts above, those settled by an earlier run of the same job. */
  readonly earlier: FateCounts;
  readonly retries: number;
  readonly seconds: number;
  /** This run's and earlier runs' counts per decided operation and fate, for the summary table. */
  readonly byOperation: Readonly<Partial<Record<Operation | 'none', FateCounts>>>;
  /** Rejected records by reason code. */
  readonly rejectedBy: Readonly<Record<string, number>>;
  /** Skipped records by the filter's rule in words ("ReviewState is rejected (--skip-review)"). */
  readonly skippedBy: Readonly<Record<string, number>>;
  /** A dry run: every count is what would happen; nothing was written. */
  readonly dryRun: boolean;
  /** With `--concurrency auto`: the number of requests in flight the run ended at. */
  readonly requestsInFlight?: number;
  /** Why the run stopped early, when it did (the mapper unavailable, interrupted). */
  readonly stopped?: {
    readonly code: string;
    readonly message: string;
    readonly exitCode: number;
    readonly hint?: string | undefined;
    /** The failure that stopped it may have come after the mapper applied the request (a lost answer, a timeout). */
    readonly outcomeUnknown?: boolean;
  };
}

export type { Outcome };
