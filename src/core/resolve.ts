import { UnavailableError } from './errors.js';
import { backoffDelay, RETRYABLE } from './retry.js';
import type { Mapper, MapperCallContext, ResolveItem } from './mapper.js';
import type { ResolveScope } from './model.js';
import { OPERATION_COLUMN } from './vocabulary.js';
import { parseRecordFor, type FieldProblem } from './request-items.js';
import { classifyResult, type ItemResult, type Operation, type Outcome } from './results.js';

/**
 * The use case behind resolve: check every record, look them up in batches, and report one
 * outcome per record, in input order (resolveAsRead). (Writes go through the write pipeline,
 * core/bulk/engine.ts; this reads only.)
 */

export interface InputRecord {
  /** 1-based line in the input file; absent for a record given by flags. */
  readonly line?: number;
  readonly record: Readonly<Record<string, unknown>>;
  /** Why the line could not be read as a record at all. */
  readonly unreadable?: string;
}

export interface RecordProblem extends FieldProblem {
  readonly line?: number;
}

export interface PreparedItem {
  readonly line?: number;
  readonly item: ResolveItem;
}

export interface PrepareOptions {
  readonly scope?: ResolveScope;
  /** Names the input in the audit log, e.g. "beneficiaries.csv". */
  readonly inputLabel?: string;
}

/** The one problem of an input with no record at all (resolveAsRead's caller words it). */
export const EMPTY_INPUT: RecordProblem = { field: '(input)', message: 'no records: the input is empty' };

/** One record checked: its look-up item (numbered `n`), or undefined with its problems added to `problems`. */
function resolveItem(input: InputRecord, n: number, options: PrepareOptions, problems: RecordProblem[]): PreparedItem | undefined {
  const at = input.line === undefined ? {} : { line: input.line };
  if (input.unreadable) {
    problems.push({ ...at, field: '(line)', message: input.unreadable });
    return undefined;
  }
  const parsed = parseRecordFor('resolve', withoutOperation(input.record));
  if (!parsed.ok) {
    for (const problem of parsed.problems) problems.push({ ...at, ...problem });
    return undefined;
  }
  // Built key by key (reference_id, origin, id, scope), not spread: a file of 20,000 IDs to
  // resolve spent a tenth of its CPU here with spreads.
  const item: Record<string, unknown> = { reference_id: `r${n}` };
  if (options.inputLabel && input.line !== undefined) item['origin'] = `${options.inputLabel}:${input.line}`;
  item['id'] = parsed.value.id;
  item['scope'] = options.scope ?? 'details';
  return input.line === undefined ? { item: item as unknown as ResolveItem } : { line: input.line, item: item as unknown as ResolveItem };
}

/** The record without the operation column of a write file (`link --file`'s), which a lookup does not use. */
function withoutOperation(record: Readonly<Record<string, unknown>>): Readonly<Record<string, unknown>> {
  if (!(OPERATION_COLUMN in record)) return record;
  const { [OPERATION_COLUMN]: _operation, ...rest } = record;
  return rest;
}

export interface AppliedItem {
  readonly line?: number;
  readonly id: string;
  readonly outcome: Outcome;
  readonly result: ItemResult;
  /** The outcome was read back after a lost answer (see RecordFate 'confirmed'). */
  readonly confirmed?: true;
}

export interface ApplyOptions {
  readonly batchSize: number;
  readonly context: MapperCallContext;
  /** Called after each batch with the number of items done so far. */
  readonly onProgress?: (done: number, total: number) => void;
  /** Batches in flight at once (default 1). */
  readonly concurrency?: number;
  /**
   * Handed each batch's answers in input order as soon as the whole input has passed and they and
   * every earlier batch's are in; none is kept after it is handed on.
   */
  readonly onAnswers: (answered: AppliedItem[]) => void;
  /**
   * Times a batch is looked up again after a failure that may pass (refused, reset, timed out,
   * 5xx, 429, an answer missing a result): a lookup changes nothing, so asking again is safe.
   * Default 0.
   */
  readonly retries?: number;
  /** Waits between attempts (tests: none); default a timer. */
  readonly sleep?: (ms: number) => Promise<void>;
  /** Told of each retry: the failure, the attempt it ends, the wait before the next. */
  readonly onRetry?: (reason: string, attempt: number, delayMs: number) => void;
}

/** Failures of a lookup worth asking again: the write pipeline's, and an answer that left an ID out. */
const RETRIED = new Set([...RETRYABLE, 'mapper.result_missing']);

/**
 * resolve of records as they are read: each batch is looked up as soon as its records have passed
 * the checks — a lookup changes nothing, and the lookups overlap the reading of the rest — but
 * answers are handed on, in input order, only once every record has passed. Invariant: a problem
 * anywhere means nothing is handed on: lookups stop, and every problem found is returned.
 * Until the input is read, at most a few batches of answers wait (the look-ups pause beyond);
 * the checked items of the rest are held, as they were when every record was checked first.
 */
export async function resolveAsRead(
  mapper: Mapper,
  records: AsyncIterable<InputRecord> | Iterable<InputRecord>,
  options: PrepareOptions & ApplyOptions,
): Promise<{ readonly problems: RecordProblem[]; readonly total: number }> {
  const { batchSize, onAnswers } = options;
  const problems: RecordProblem[] = [];
  const batches: (PreparedItem[] | undefined)[] = [];
  const answers: (AppliedItem[] | undefined)[] = [];
  let total = 0;
  let read = false;
  let next = 0;
  let delivered = 0;
  let done = 0;
  let failure: { error: unknown } | undefined;
  let unreadable: { error: unknown } | undefined;
  let waiting: (() => void)[] = [];
  const wake = () => {
    const woken = waiting;
    waiting = [];
    for (const resume of woken) resume();
  };
  const stopped = () => failure !== undefined || unreadable !== undefined || problems.length > 0;
  // A caller's throw stops the run as a failed lookup does: every worker then ends, and it is thrown.
  const deliver = () => {
    if (!read || stopped()) return;
    try {
      while (answers[delivered] !== undefined) {
        const ready = answers[delivered]!;
        answers[delivered++] = undefined;
        done += ready.length;
        options.onProgress?.(done, total);
        onAnswers(ready);
      }
    } catch (error) {
      failure ??= { error };
    }
  };
  const width = Math.max(1, Math.floor(options.concurrency ?? 1) || 1);
  // Answers wait until the whole input is read: at most this many batches of them, so that a
  // fast mapper does not hold a large file's answers (the look-ups pause until reading ends).
  const ahead = width * 2;
  const worker = async () => {
    while (!stopped()) {
      if (next < batches.length && (read || next - delivered < ahead)) {
        const at = next++;
        const batch = batches[at]!;
        batches[at] = undefined;
        try {
          answers[at] = await resolveRetried(mapper, batch, options);
        } catch (error) {
          failure ??= { error };
          return;
        }
        deliver();
      } else if (read && next >= batches.length) return;
      else await new Promise<void>((resume) => waiting.push(resume));
    }
  };
  const workers = Array.from({ length: width }, worker);
  let batch: PreparedItem[] = [];
  try {
    for await (const input of records) {
      const prepared = resolveItem(input, total + 1, options, problems);
      if (prepared === undefined) continue;
      total++;
      batch.push(prepared);
      if (batch.length === batchSize && !stopped()) {
        batches.push(batch);
        batch = [];
        wake();
      }
    }
    if (batch.length > 0 && !stopped()) batches.push(batch);
    if (total === 0 && problems.length === 0) problems.push(EMPTY_INPUT);
  } catch (error) {
    unreadable = { error };
  } finally {
    read = true;
    wake();
  }
  deliver();
  await Promise.all(workers);
  if (unreadable !== undefined) throw unreadable.error;
  // A problem of the input is the user's to fix first, whatever else went wrong.
  if (problems.length > 0) return { problems, total };
  if (failure !== undefined) throw failure.error;
  if (delivered !== batches.length) throw new Error(`internal error: ${batches.length - delivered} batch(es) of answers not handed on`);
  return { problems, total };
}

/** resolveBatch, asked again (ApplyOptions.retries) with exponential backoff and jitter, Retry-After honoured. */
async function resolveRetried(mapper: Mapper, batch: readonly PreparedItem[], options: ApplyOptions): Promise<AppliedItem[]> {
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  for (let attempt = 0; ; attempt++) {
    try {
      return await resolveBatch(mapper, batch, options.context);
    } catch (error) {
      if (!(error instanceof UnavailableError) || !RETRIED.has(error.code) || attempt >= (options.retries ?? 0)) throw error;
      const delay = backoffDelay(attempt, error.retryAfterMs, Math.random);
      options.onRetry?.(error.message, attempt + 1, delay);
      await sleep(delay);
    }
  }
}

/** Looks one batch up and pairs every result with its item by reference_id. */
async function resolveBatch(mapper: Mapper, batch: readonly PreparedItem[], context: MapperCallContext): Promise<AppliedItem[]> {
  const results = await mapper.resolve(
    batch.map((p) => p.item),
    context,
  );
  const byReference = new Map(results.map((result) => [result.reference_id, result]));
  return batch.map(({ line, item }) => {
    const result = byReference.get(item.reference_id);
    if (!result) {
      // The mapper broke its protocol: a failing surrounding (exit 4), not a sparctl bug.
      throw new UnavailableError('mapper.result_missing', `the mapper returned no result for ${item.id} (reference ${item.reference_id})`, {
        hint: 'run it again; if the mapper keeps leaving IDs out, check it (and report it if it is SPAR)',
      });
    }
    const outcome = classifyResult('resolve', result);
    const answered = { ...result, id: item.id };
    return line === undefined ? { id: item.id, outcome, result: answered } : { line, id: item.id, outcome, result: answered };
  });
}

export type OutcomeCounts = Partial<Record<Outcome, number>>;

export interface RunSummary {
  readonly operation: Operation;
  readonly total: number;
  readonly counts: OutcomeCounts;
  /** Records that did not do what was asked (rejected, already linked, not found). */
  readonly failed: number;
}

export function summarize(operation: Operation, applied: readonly AppliedItem[], before?: RunSummary): RunSummary {
  const counts: OutcomeCounts = { ...before?.counts };
  let failed = before?.failed ?? 0;
  for (const { outcome } of applied) {
    counts[outcome] = (counts[outcome] ?? 0) + 1;
    if (isFailure(operation, outcome)) failed++;
  }
  return { operation, total: (before?.total ?? 0) + applied.length, counts, failed };
}

/** A resolve that finds nothing has answered the question; for writes it means the change was not made. */
export function isFailure(operation: Operation, outcome: Outcome): boolean {
  if (outcome === 'rejected') return true;
  if (operation === 'resolve') return false;
  return outcome === 'already_linked' || outcome === 'not_found';
}
