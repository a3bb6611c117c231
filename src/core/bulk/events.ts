import type { Operation, Outcome } from '../results.js';

/**
 * What the bulk engine reports while it runs (DESIGN.md §3: the core never prints; the CLI
 * renders these). Every record ends in exactly one `record` event.
 */

/** Final state of one input record. */
export type RecordFate = 'applied' | 'unchanged' | 'rejected' | 'failed';

export interface RecordEvent {
  readonly type: 'record';
  /** 0-based position in the input. */
  readonly seq: number;
  /** 1-based line where the record starts, when the input has lines. */
  readonly line?: number | undefined;
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
  /** The raw input row, so a reject file can carry it unchanged. */
  readonly raw?: Readonly<Record<string, string>> | undefined;
  /** Where the record came from when the input is not a file of lines (an ODK submission). */
  readonly origin?: string | undefined;
  /** True when this record was settled by an earlier run (resume), not by this one. */
  readonly resumed?: boolean | undefined;
}

export interface ProgressEvent {
  readonly type: 'progress';
  /** Records read from the input so far. */
  readonly read: number;
  /** Records with a final fate. */
  readonly done: number;
  /** Total records, when known in advance (a file pre-count); undefined for stdin. */
  readonly total?: number;
  readonly applied: number;
  readonly unchanged: number;
  readonly rejected: number;
  readonly failed: number;
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

export interface BulkSummary {
  readonly total: number;
  readonly applied: number;
  readonly unchanged: number;
  readonly rejected: number;
  readonly failed: number;
  /** Records settled by an earlier run of the same job. */
  readonly resumed: number;
  readonly retries: number;
  readonly seconds: number;
  /** Counts per decided operation and fate, for the summary table. */
  readonly byOperation: Readonly<Partial<Record<Operation | 'none', Partial<Record<RecordFate, number>>>>>;
  /** Why the run stopped early, when it did (the mapper unavailable, interrupted). */
  readonly stopped?: { readonly code: string; readonly message: string; readonly exitCode: number };
}

export type { Outcome };
