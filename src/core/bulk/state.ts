import { UnavailableError } from '../errors.js';
import { RETRYABLE } from '../retry.js';
import { SAME_ROW, type ItemRow, type Mapper, type MapperCallContext, type ResolveItem } from '../mapper.js';
import { classifyResult, type ItemResult, type Operation } from '../results.js';
import type { Current } from './plan.js';
import { asStop, pool, Stop, type Slots } from './requests.js';

/**
 * Reading what the mapper holds for a set of IDs, in batches, retried while the failures are
 * ones a retry can cure. Reads change nothing, so retrying them is always safe.
 *
 * Invariant: an ID is in the answer's `state` (null: not linked) or in `sameRow`, never in
 * neither — unless the read failed, and then the run stops (Stop) with nothing decided from it.
 */

export interface Retrying {
  readonly retries: number;
  /** Waits out a backoff; resolves early (false) when the run is asked to stop. */
  wait(ms: number): Promise<boolean>;
  backoff(attempt: number, retryAfterMs: number | undefined): number;
  retried(operation: Operation, records: number, attempt: number, reason: string, delayMs: number): void;
  shouldStop(): boolean;
}

export interface StateRead {
  readonly state: Map<string, Current>;
  /** IDs that still hold what an item made from the row given for them wrote (storedFas). */
  readonly sameRow: Set<string>;
}

export class StateReader {
  constructor(
    private readonly mapper: Mapper,
    private readonly context: MapperCallContext,
    private readonly batchSize: number,
    private readonly retrying: Retrying,
  ) {}

  /**
   * The FA each ID has now (null: not linked). `slots`: the run's request slots, for a chunk's
   * own look-ups; a reconcile runs inside the slot of the send it serves. With `itemRows`, an ID
   * that still holds what an equal row wrote goes into `sameRow` instead of `state`.
   */
  async read(
    ids: readonly string[],
    options: { slots?: { slots: Slots; width: number }; itemRows?: ReadonlyMap<string, ItemRow>; mustKnow?: boolean } = {},
  ): Promise<StateRead> {
    const { slots, itemRows } = options;
    const state = new Map<string, Current>();
    const sameRow = new Set<string>();
    const batches: string[][] = [];
    for (let i = 0; i < ids.length; i += this.batchSize) batches.push(ids.slice(i, i + this.batchSize));
    const tasks = batches.map((batch) => () => this.readBatch(batch, state, sameRow, itemRows, options.mustKnow === true));
    if (slots) await pool(tasks, slots.slots, slots.width);
    else for (const task of tasks) await task();
    return { state, sameRow };
  }

  /**
   * An ID the answers keep leaving out stops the run. `mustKnow`: a result that refuses the read
   * (rjct) stops it too (a reconcile must never take "no answer" for "not applied"); otherwise
   * such an ID counts as not linked and the write that follows gets the mapper's own answer.
   */
  private async readBatch(
    batch: readonly string[],
    state: Map<string, Current>,
    sameRow: Set<string>,
    itemRows: ReadonlyMap<string, ItemRow> | undefined,
    mustKnow: boolean,
  ): Promise<void> {
    const storedFas = this.mapper.storedFas?.bind(this.mapper);
    if (storedFas) {
      // The mapper can hand over its stored strings: no resolve, no deconstruction.
      const stored = await this.withRetries(batch.length, () => storedFas(batch, this.context, itemRows));
      for (const id of batch) {
        const current = stored.get(id);
        if (current === SAME_ROW) sameRow.add(id);
        else state.set(id, current ?? null);
      }
      return;
    }
    // An answer without a result for an ID says nothing of it (a mapper may answer in parts, or
    // leave out what is still pending): never "not linked". Those IDs are asked again, and a run
    // whose mapper keeps leaving them out stops with nothing decided for them.
    let asking = batch;
    const answered = new Map<string, ItemResult>();
    for (let round = 0; asking.length > 0; round++) {
      const results = await this.withRetries(asking.length, () =>
        this.mapper.resolve(
          asking.map((id, i): ResolveItem => ({ reference_id: `s${i}`, id, scope: 'details' })),
          this.context,
        ),
      );
      const byRef = new Map(results.map((r) => [r.reference_id, r]));
      asking.forEach((id, i) => {
        const result = byRef.get(`s${i}`);
        if (result !== undefined) answered.set(id, result);
      });
      const missing = asking.filter((id) => !answered.has(id));
      if (missing.length > 0 && round >= this.retrying.retries)
        throw new Stop(
          new UnavailableError(
            'remote.unexpected_answer',
            `the mapper's resolve answers kept leaving out ${missing.length === 1 ? missing[0] : `${missing.length} IDs (first: ${missing[0]})`}: what it holds for ${missing.length === 1 ? 'it' : 'them'} is unknown`,
            { hint: 'run the same command again; if it happens again, check the mapper (it answers resolve requests only in part)' },
          ),
        );
      if (missing.length > 0) this.retrying.retried('resolve', missing.length, round + 1, 'the answer had no result for these IDs', 0);
      asking = missing;
    }
    batch.forEach((id) => {
      const result = answered.get(id);
      if (mustKnow && (result === undefined || classifyResult('resolve', result) === 'rejected')) {
        // Not knowing is not "not linked": nothing may be decided from a missing answer.
        throw new Stop(
          new UnavailableError(
            'remote.unexpected_answer',
            `the mapper's resolve answer has no usable result for ${id}${result ? ` (${result.status_reason_code ?? 'rjct'})` : ''}`,
          ),
        );
      }
      const found = result !== undefined && classifyResult('resolve', result) === 'found';
      // An FA string (G2P Connect without a strategy id to read it with) is compared as stored.
      state.set(
        id,
        !found
          ? null
          : typeof result!.fa === 'string'
            ? { fa: result.fa, strategyId: undefined }
            : ((result!.fa as Readonly<Record<string, unknown>> | null) ?? {}),
      );
    });
  }

  /** Retries a read on retryable failures; stops the run when they persist. */
  private async withRetries<T>(records: number, call: () => Promise<T>): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      if (this.retrying.shouldStop()) throw new Stop('interrupted');
      try {
        return await call();
      } catch (error) {
        if (!(error instanceof UnavailableError) || !RETRYABLE.has(error.code) || attempt >= this.retrying.retries) throw asStop(error);
        const delay = this.retrying.backoff(attempt, error.retryAfterMs);
        this.retrying.retried('resolve', records, attempt + 1, error.message, delay);
        if (!(await this.retrying.wait(delay))) throw new Stop('interrupted');
      }
    }
  }
}
