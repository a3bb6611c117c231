import { SparctlError, ExitCode } from './errors.js';
import type { LinkItem, Mapper, MapperCallContext, ResolveItem, UnlinkItem } from './mapper.js';
import type { ResolveScope } from './model.js';
import { checkStrategy, parseRecordFor, type FieldProblem, type MappingRecord, type RecordDefaults } from './request-items.js';
export { checkStrategy, checkedFaOf } from './request-items.js';
import type { Strategy } from './strategy/strategy.js';
import { classifyResult, type ItemResult, type Operation, type Outcome } from './results.js';

/**
 * The use case behind resolve: validate every record first, then look them up in batches and
 * report one outcome per record, in input order. (Writes go through the write pipeline,
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

type AnyItem = LinkItem | ResolveItem | UnlinkItem;

export interface PreparedItem {
  readonly line?: number;
  readonly item: AnyItem;
}

export interface PrepareOptions {
  readonly defaults?: RecordDefaults;
  readonly scope?: ResolveScope;
  /** Names the input in the audit log, e.g. "beneficiaries.csv". */
  readonly inputLabel?: string;
  /**
   * The target's strategies: when given, every FA is checked against its strategy before
   * anything is sent (unknown id, missing field, a value that would not read back).
   */
  readonly strategies?: ReadonlyMap<number, Strategy>;
}

/** Validates every record. Returns the items, or every problem found (nothing is sent then). */
export async function prepareItems(
  operation: Operation,
  records: AsyncIterable<InputRecord> | Iterable<InputRecord>,
  options: PrepareOptions = {},
): Promise<{ items: PreparedItem[]; problems: RecordProblem[] }> {
  const items: PreparedItem[] = [];
  const problems: RecordProblem[] = [];
  for await (const input of records) {
    const at = input.line === undefined ? {} : { line: input.line };
    if (input.unreadable) {
      problems.push({ ...at, field: '(line)', message: input.unreadable });
      continue;
    }
    const parsed = parseRecordFor(operation, input.record, options.defaults);
    if (!parsed.ok) {
      problems.push(...parsed.problems.map((problem) => ({ ...at, ...problem })));
      continue;
    }
    const strategyProblem = options.strategies && 'fa' in parsed.value ? checkStrategy(parsed.value, options.strategies) : undefined;
    if (strategyProblem) {
      problems.push({ ...at, ...strategyProblem });
      continue;
    }
    // Built key by key (reference_id, origin, then the record's fields), not spread: a file of
    // 20,000 IDs to resolve spent a tenth of its CPU here with spreads.
    const item: Record<string, unknown> = { reference_id: `r${items.length + 1}` };
    if (options.inputLabel && input.line !== undefined) item['origin'] = `${options.inputLabel}:${input.line}`;
    if (operation === 'link' || operation === 'update') Object.assign(item, parsed.value as MappingRecord);
    else {
      item['id'] = parsed.value.id;
      if (operation === 'resolve') item['scope'] = options.scope ?? 'details';
    }
    items.push(input.line === undefined ? { item: item as unknown as AnyItem } : { line: input.line, item: item as unknown as AnyItem });
  }
  if (items.length === 0 && problems.length === 0) {
    problems.push({ field: '(input)', message: 'no records: the input is empty' });
  }
  return { items, problems };
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
   * Handed each batch's answers in input order as soon as they and every earlier batch's are in;
   * applyItems keeps none of them (a file of any size is answered in the memory of a few batches).
   */
  readonly onAnswers: (answered: AppliedItem[]) => void;
}

/** Sends the items in batches, pairs every result with its item by reference_id, and hands the answers on in input order. */
export async function applyItems(
  mapper: Mapper,
  operation: Operation,
  prepared: readonly PreparedItem[],
  options: ApplyOptions,
): Promise<void> {
  const batches: PreparedItem[][] = [];
  for (let start = 0; start < prepared.length; start += options.batchSize) batches.push(prepared.slice(start, start + options.batchSize));
  // Up to `concurrency` batches in flight; their answers are put back in input order.
  const answers: (AppliedItem[] | undefined)[] = [];
  let next = 0;
  let delivered = 0;
  let done = 0;
  let failure: { error: unknown } | undefined;
  const { onAnswers } = options;
  const worker = async () => {
    while (next < batches.length && failure === undefined) {
      const at = next++;
      try {
        answers[at] = await applyBatch(mapper, operation, batches[at]!, options.context);
      } catch (error) {
        failure ??= { error };
        return;
      }
      done += batches[at]!.length;
      options.onProgress?.(done, prepared.length);
      // In input order: a batch waits for every earlier one; nothing is handed on after a failure.
      while (failure === undefined && answers[delivered] !== undefined) {
        const ready = answers[delivered]!;
        answers[delivered++] = undefined;
        onAnswers(ready);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(Math.max(1, options.concurrency ?? 1), batches.length) }, worker));
  if (failure !== undefined) throw failure.error;
}

async function applyBatch(
  mapper: Mapper,
  operation: Operation,
  batch: readonly PreparedItem[],
  context: MapperCallContext,
): Promise<AppliedItem[]> {
  const results = await send(
    mapper,
    operation,
    batch.map((p) => p.item),
    context,
  );
  const byReference = new Map(results.map((result) => [result.reference_id, result]));
  return batch.map(({ line, item }) => {
    const result = byReference.get(item.reference_id);
    if (!result) {
      throw new SparctlError(
        'mapper.result_missing',
        `the mapper returned no result for ${item.id} (reference ${item.reference_id})`,
        ExitCode.internal,
      );
    }
    const outcome = classifyResult(operation, result);
    const answered = { ...result, id: item.id };
    return line === undefined ? { id: item.id, outcome, result: answered } : { line, id: item.id, outcome, result: answered };
  });
}

function send(mapper: Mapper, operation: Operation, items: AnyItem[], context: MapperCallContext): Promise<ItemResult[]> {
  switch (operation) {
    case 'link':
      return mapper.link(items as LinkItem[], context);
    case 'update':
      return mapper.update(items as LinkItem[], context);
    case 'resolve':
      return mapper.resolve(items as ResolveItem[], context);
    case 'unlink':
      return mapper.unlink(items as UnlinkItem[], context);
  }
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
