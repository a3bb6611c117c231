import { SparctlError, UnavailableError } from '../errors.js';
import { SAME_SOURCE, type ItemSource, type LinkItem, type Mapper, type MapperCallContext, type ResolveItem, type StoredFa, type UnlinkItem } from '../mapper.js';
import type { FinancialAddress } from '../model.js';
import type { MappingRecord } from '../records.js';
import { pythonFormat } from '../strategy/python-format.js';
import { buildCheckedFa, constructFa, type Strategy } from '../strategy/strategy.js';
import { classifyResult, type ItemResult, type Operation, type Outcome } from '../results.js';
import type { BulkEvent, BulkSummary, RecordEvent, RecordFate } from './events.js';

/**
 * The bulk engine (DESIGN.md §4): records in → planned operations → batches → mapper → one
 * final fate per record, journalled so that a run killed at any instant can be resumed without
 * losing or repeating anything.
 *
 * - Records are taken in chunks. Within a chunk, the n-th operation on an ID goes in wave n;
 *   waves run one after another and a batch never holds two operations on one ID, so the
 *   operations on one beneficiary apply in input order (FIFO) while different IDs run in
 *   parallel. A chunk waits for the earlier chunks that hold one of its IDs to settle; chunks
 *   on other IDs may be in flight together (chunksInFlight), within one request limit.
 * - Retryable failures back off exponentially with jitter (Retry-After honoured). A request
 *   whose outcome is unknown (timeout, reset) is reconciled by resolving its IDs before anything
 *   is sent again: a link is never blindly repeated. A batch the mapper keeps failing as a whole
 *   is bisected until the poison records are isolated and rejected.
 * - Before a batch is sent its records are journalled as in flight; a resumed run reconciles
 *   those the same way.
 */

export type BulkMode = 'upsert' | 'link' | 'update' | 'unlink';

export interface InputProblem {
  readonly field: string;
  readonly message: string;
  readonly code?: string;
}

export interface BulkInputRecord {
  /** 0-based position in the input; stable across runs over the same input. */
  readonly seq: number;
  readonly line?: number;
  readonly raw?: Readonly<Record<string, string>>;
  /** Where the record came from, for the results file (e.g. an ODK submission's ids). */
  readonly origin?: string;
  /**
   * What the record is made from, when its producer can tell (import-csv): the ID its parse
   * gives when it parses, and the input it is made from (LinkItem.source), which the mapper
   * keeps a digest of with what the record writes. In an upsert, a record whose ID no other
   * record of its chunk names, and whose mapper row still holds what an equal source wrote, is
   * reported unchanged without reading `parsed` — which the producer may therefore compute only
   * when first read. Only for records that take the run's mode (no per-row operation).
   */
  readonly source?: ItemSource & { readonly id: string };
  readonly parsed:
    | {
        readonly ok: true;
        readonly value: MappingRecord | { readonly id: string };
        readonly mode?: BulkMode;
        /** The string the record's FA is stored as, already built and read back by its strategy (toBulkRecord). */
        readonly faValue?: string;
      }
    | { readonly ok: false; readonly problems: readonly InputProblem[]; readonly id?: string };
}

/** What a journal remembers of one record. FA values are never in it. */
export interface JournalEntry {
  readonly seq: number;
  readonly state: 'inflight' | 'settled';
  readonly operation: Operation | 'none';
  readonly fate?: RecordFate;
  readonly outcome?: Outcome | null;
  readonly code?: string | null;
  readonly message?: string | null;
}

export interface Journal {
  /** Entries left by earlier runs of the same job, by seq. */
  load(): ReadonlyMap<number, JournalEntry>;
  markInflight(seqs: readonly number[], operation: Operation): void;
  settle(entries: readonly JournalEntry[]): void;
}

export interface BulkOptions {
  readonly mode: BulkMode;
  readonly batchSize: number;
  readonly concurrency: number;
  /** Attempts after the first for a batch that fails as a whole. */
  readonly retries: number;
  readonly context: MapperCallContext;
  readonly dryRun?: boolean;
  /** Records planned together; FIFO waves are computed within a chunk. */
  readonly chunkSize?: number;
  /**
   * Chunks that may be in flight at once (default 1): a chunk whose IDs no earlier unsettled
   * chunk holds is planned and sent without waiting for the earlier ones' answers. Requests in
   * flight stay within `concurrency` across all of them.
   */
  readonly chunksInFlight?: number;
  readonly backoffMs?: { readonly base: number; readonly max: number };
  readonly onEvent?: (event: BulkEvent) => void;
  /**
   * Which records get a `record` event: every one (the default), or only those rejected or
   * failed, when nothing else is written per record (the counts cover all either way).
   */
  readonly recordEvents?: 'all' | 'problems';
  /** Checked before each new batch: true once the user asked to stop (Ctrl-C). */
  readonly shouldStop?: () => boolean;
  /** Injected for tests. */
  readonly sleep?: (ms: number) => Promise<void>;
  readonly random?: () => number;
  /** Total records, when known in advance, for progress. */
  readonly total?: number;
  /** The target's strategies, to compare FAs the way they are stored. */
  readonly strategies?: ReadonlyMap<number, Strategy>;
}

interface Work {
  /** Where this record's event waits until its chunk has settled (see deliver). */
  readonly report: RecordEvent[];
  readonly seq: number;
  readonly line: number | undefined;
  readonly raw: Readonly<Record<string, string>> | undefined;
  readonly origin: string | undefined;
  readonly id: string;
  readonly record: MappingRecord | { readonly id: string };
  readonly mode: BulkMode;
  /** An earlier run sent this record and never learned the outcome. */
  readonly uncertain: boolean;
  readonly faValue: string | undefined;
  readonly source: ItemSource | undefined;
  operation: Operation | undefined;
}

/** A record found unchanged by comparison, with the source it was made from and the state compared with. */
interface SourceFound {
  readonly id: string;
  readonly source: ItemSource;
  readonly stored: StoredFa;
}

type Fa = Readonly<Record<string, unknown>> | null;
/** What a mapper holds for an ID: its FA as resolved (fields), as stored (a string), or null when not linked. */
type Current = Fa | StoredFa;

const RETRYABLE = new Set([
  'remote.refused',
  'remote.reset',
  'remote.timeout',
  'remote.connect_timeout',
  'remote.server_error',
  'remote.rate_limited',
  'remote.batch_failed',
  'remote.transport',
  'remote.host_unknown',
  'remote.unexpected_status',
]);

/** Input records one by one, or in arrays (cheaper: one await per array). */
export type BulkInput = AsyncIterable<BulkInputRecord | readonly BulkInputRecord[]>;

export async function runBulk(mapper: Mapper, input: BulkInput, journal: Journal, options: BulkOptions): Promise<BulkSummary> {
  return new BulkRun(mapper, journal, options).run(input);
}

class Stop extends Error {
  constructor(readonly reason: SparctlError | 'interrupted') {
    super('stop');
  }
}

class BulkRun {
  private readonly earlier: ReadonlyMap<number, JournalEntry>;
  private readonly started = Date.now();
  private read = 0;
  private done = 0;
  private resumed = 0;
  private retries = 0;
  private readonly fates: Record<RecordFate, number> = { applied: 0, unchanged: 0, rejected: 0, failed: 0 };
  private readonly byOperation: Partial<Record<Operation | 'none', Partial<Record<RecordFate, number>>>> = {};
  private lastProgress = 0;
  private stopReason: SparctlError | 'interrupted' | undefined;
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly random: () => number;
  /** Requests in flight across every chunk of the run. */
  private readonly requests: Slots;
  /** Record events of the chunks not yet delivered, in input order of the chunks. */
  private readonly reports: { readonly events: RecordEvent[]; settled: boolean }[] = [];

  constructor(
    private readonly mapper: Mapper,
    private readonly journal: Journal,
    private readonly options: BulkOptions,
  ) {
    this.earlier = journal.load();
    this.sleep = options.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
    this.random = options.random ?? Math.random;
    this.requests = new Slots(Math.max(1, options.concurrency));
  }

  async run(input: BulkInput): Promise<BulkSummary> {
    const chunkSize = this.options.chunkSize ?? Math.max(2_000, this.options.batchSize * this.options.concurrency * 4);
    const chunksAhead = Math.max(1, this.options.chunksInFlight ?? 1);
    let chunk: BulkInputRecord[] = [];
    // The next chunk is read (parsed, mapped, validated) while earlier ones are being sent. A
    // chunk is planned only once no chunk still in flight holds one of its IDs: a plan reads
    // the current state of its own IDs only, so operations on one ID still apply in input
    // order, and chunks on other IDs need not wait for each other's answers.
    const inFlight = new Set<{ readonly ids: ReadonlyMap<string, number>; readonly done: Promise<void> }>();
    let failure: { error: unknown } | undefined;
    const start = async (ready: BulkInputRecord[]) => {
      const ids = idsOf(ready);
      for (;;) {
        if (failure) throw failure.error;
        // One chunk at a time needs no overlap check: it waits for the one before it anyway.
        if (inFlight.size < chunksAhead && (chunksAhead === 1 || ![...inFlight].some((other) => sharesAny(ids, other.ids)))) break;
        await Promise.race([...inFlight].map((other) => other.done));
      }
      const report = { events: [] as RecordEvent[], settled: false };
      this.reports.push(report);
      const entry = {
        ids,
        done: this.chunk(ready, report.events, ids)
          .catch((error: unknown) => {
            failure ??= { error };
          })
          .finally(() => {
            inFlight.delete(entry);
            report.settled = true;
            this.deliver();
          }),
      };
      inFlight.add(entry);
    };
    const settleAll = async () => {
      while (inFlight.size > 0) await Promise.all([...inFlight].map((other) => other.done));
    };
    try {
      try {
        for await (const item of input) {
          for (const record of isArray(item) ? item : [item]) {
            this.read++;
            chunk.push(record);
            if (chunk.length >= chunkSize) {
              await start(chunk);
              chunk = [];
            }
          }
        }
        if (chunk.length > 0) await start(chunk);
        await settleAll();
        if (failure) throw failure.error;
      } finally {
        await settleAll();
        this.deliver(true);
      }
    } catch (error) {
      if (!(error instanceof Stop)) throw error;
      this.stopReason = error.reason;
    }
    this.progress(true);
    return this.summary();
  }

  private summary(): BulkSummary {
    const stop = this.stopReason;
    return {
      total: this.read,
      applied: this.fates.applied,
      unchanged: this.fates.unchanged,
      rejected: this.fates.rejected,
      failed: this.read - this.done,
      resumed: this.resumed,
      retries: this.retries,
      seconds: (Date.now() - this.started) / 1000,
      byOperation: this.byOperation,
      ...(stop === undefined
        ? {}
        : stop === 'interrupted'
          ? { stopped: { code: 'interrupted', message: 'interrupted', exitCode: 130 } }
          : { stopped: { code: stop.code, message: stop.message, exitCode: stop.exitCode } }),
    };
  }

  private async chunk(records: readonly BulkInputRecord[], report: RecordEvent[], named: ReadonlyMap<string, number>): Promise<void> {
    const fresh: BulkInputRecord[] = [];
    for (const record of records) {
      const before = this.earlier.get(record.seq);
      if (before?.state === 'settled') {
        this.resumed++;
        this.emit(report, record, before.operation, before.fate ?? 'rejected', before.outcome ?? undefined, before.code ?? null, before.message ?? null, { resumed: true });
        continue;
      }
      // Invalid records are reported at once; those with a source are parsed below, if need be.
      if (record.source === undefined && !record.parsed.ok) this.rejectInvalid(report, record, record.parsed);
      else fresh.push(record);
    }

    // The current state is read before any record with a source is parsed: one that still
    // holds what its source wrote is then done without being parsed at all (a re-run).
    const sources = this.options.mode === 'upsert' && this.mapper.storedFas !== undefined ? this.soleSources(fresh, named) : undefined;
    // Upserts plan from the state, dry runs show it, and uncertain records (sent by an earlier
    // run, which got no answer) are checked against it. A record with a source takes the run's mode.
    const stateIds = new Set<string>();
    const dryRun = this.options.dryRun === true;
    for (const record of fresh) {
      const uncertain = this.earlier.has(record.seq);
      if (record.source !== undefined) {
        if (this.options.mode === 'upsert' || dryRun || uncertain) stateIds.add(record.source.id);
      } else if (record.parsed.ok && ((record.parsed.mode ?? this.options.mode) === 'upsert' || dryRun || uncertain)) {
        stateIds.add(record.parsed.value.id);
      }
    }
    const sameSource = new Set<string>();
    const state = stateIds.size > 0 ? await this.currentState([...stateIds], this.requests, sources, sameSource) : new Map<string, Current>();

    const work: Work[] = [];
    for (const record of fresh) {
      if (record.source !== undefined && sameSource.has(record.source.id) && sources?.get(record.source.id) === record.source) {
        // Not journalled, as any unchanged record (see plan).
        this.emit(report, record, 'none', 'unchanged', undefined, null, null, { id: record.source.id });
        continue;
      }
      if (!record.parsed.ok) {
        this.rejectInvalid(report, record, record.parsed);
        continue;
      }
      const value = record.parsed.value;
      if (record.source !== undefined && record.source.id !== value.id) {
        throw new Error(`internal error: record ${record.seq} was announced with ID ${record.source.id} but parses to ${value.id}`);
      }
      const before = this.earlier.get(record.seq);
      work.push({
        report,
        seq: record.seq,
        line: record.line,
        raw: record.raw,
        origin: record.origin,
        id: value.id,
        record: value,
        mode: record.parsed.mode ?? this.options.mode,
        uncertain: before?.state === 'inflight',
        faValue: record.parsed.faValue,
        source: record.source,
        operation: undefined,
      });
    }

    const sourceless: SourceFound[] = [];
    const planned = this.plan(work, state, sources, sourceless);
    if (sourceless.length > 0 && !this.options.dryRun) await this.mapper.markSources?.(sourceless, this.options.context);
    if (this.options.dryRun) {
      for (const w of planned) this.emit(w.report, w, w.operation!, 'applied', undefined, null, 'dry run: not sent');
      return;
    }

    // Wave n holds the n-th operation on each ID.
    const waves: Work[][] = [];
    const seen = new Map<string, number>();
    for (const w of planned) {
      const wave = seen.get(w.id) ?? 0;
      seen.set(w.id, wave + 1);
      (waves[wave] ??= []).push(w);
    }
    for (const wave of waves) {
      const batches: { operation: Operation; items: Work[] }[] = [];
      for (const operation of ['link', 'update', 'unlink'] as const) {
        const of = wave.filter((w) => w.operation === operation);
        for (let i = 0; i < of.length; i += this.options.batchSize) batches.push({ operation, items: of.slice(i, i + this.options.batchSize) });
      }
      await this.pool(
        batches.map((batch) => () => this.send(batch.operation, batch.items, this.options.retries)),
        this.requests,
      );
    }
  }

  private rejectInvalid(report: RecordEvent[], record: BulkInputRecord, parsed: Extract<BulkInputRecord['parsed'], { ok: false }>): void {
    const problem = parsed.problems[0] ?? { field: '(record)', message: 'invalid record' };
    const message = parsed.problems.map((p) => (p.message.startsWith(`${p.field} `) ? p.message : `${p.field}: ${p.message}`)).join('; ');
    const code = problem.code ?? 'input.invalid';
    // Not journalled: a resumed run finds the same problem in the same input, and the
    // message may quote the row's values, which the journal must not hold.
    this.emit(report, record, 'none', 'rejected', undefined, code, message, { field: problem.field, ...(parsed.id ? { id: parsed.id } : {}) });
  }

  /**
   * Decides each record's operation from the current state, simulating earlier records on the
   * same ID. `sourceless` gets the records found unchanged by comparison whose state was read
   * for them alone (their ID is in `sources`): the mapper may keep their source (markSources).
   */
  private plan(work: readonly Work[], state: Map<string, Current>, sources: ReadonlyMap<string, ItemSource> | undefined, sourceless: SourceFound[]): Work[] {
    const planned: Work[] = [];
    const settledHere: JournalEntry[] = [];
    for (const w of work) {
      const current = state.get(w.id);
      if (w.uncertain) {
        // An earlier run sent this record and died before the answer: if its effect is there, it was applied.
        const before = this.earlier.get(w.seq)!;
        const applied =
          before.operation === 'unlink' ? current === null
          : before.operation === 'link' || before.operation === 'update' ? holds(current, w, this.options.strategies)
          : false;
        if (applied && (before.operation === 'link' || before.operation === 'update' || before.operation === 'unlink')) {
          const outcome: Outcome = before.operation === 'link' ? 'linked' : before.operation === 'update' ? 'updated' : 'unlinked';
          settledHere.push({ seq: w.seq, state: 'settled', operation: before.operation, fate: 'applied', outcome, code: null, message: 'confirmed by resolve after an interrupted run' });
          this.emit(w.report, w, before.operation, 'applied', outcome, null, 'confirmed by resolve after an interrupted run');
          continue;
        }
      }
      let operation: Operation | 'none';
      if (w.mode === 'upsert') operation = current === undefined || current === null ? 'link' : holds(current, w, this.options.strategies) ? 'none' : 'update';
      else operation = w.mode;
      if (operation === 'none') {
        // Not journalled: a resumed run resolves it again and finds it unchanged again, and a
        // re-run of a big file that changes nothing should not write a row per record.
        this.emit(w.report, w, 'none', 'unchanged', undefined, null, null);
        // Unchanged but not by its source (the row kept none, or another): the state was read for
        // this record alone, so the mapper may keep its source for the next run.
        if (w.source !== undefined && sources?.get(w.id) === w.source && current !== undefined && current !== null && isStored(current)) sourceless.push({ id: w.id, source: w.source, stored: current });
        continue;
      }
      if (operation === 'link' || operation === 'update') state.set(w.id, this.after(operation, current, w));
      else state.set(w.id, null);
      w.operation = operation;
      planned.push(w);
    }
    if (settledHere.length > 0 && !this.options.dryRun) this.journal.settle(settledHere);
    return planned;
  }

  /**
   * What the mapper will hold for an ID once this link or update is applied, for the records
   * after it on the same ID in this chunk. A mapper that tells name and phone (storedFas) gets
   * them simulated as it stores them: a link sets both, an update only overwrites with non-empty
   * values.
   */
  private after(operation: 'link' | 'update', current: Current | undefined, w: Work): Current | null {
    const record = w.record;
    if (!('fa' in record)) return null;
    const strategy = this.options.strategies?.get(record.fa.strategy_id);
    const built = this.mapper.storedFas === undefined || strategy === undefined ? undefined : (w.faValue ?? stringOf(buildCheckedFa(strategy, record.fa)));
    if (built === undefined) return { ...record.fa };
    const before = operation === 'update' && current !== undefined && current !== null && isStored(current) ? current : undefined;
    return { fa: built, strategyId: record.fa.strategy_id, name: record.name || (before?.name ?? null), phone: record.phone_number || (before?.phone ?? null) };
  }

  /**
   * The ID → source of the records that may be found unchanged by their source alone: those
   * with a source, not sent by an earlier run (an uncertain one is checked in full), whose ID no
   * other record of the chunk names (`named`: the chunk's IDs, counted; a later one is planned
   * against the state the earlier ones leave, which needs the values).
   */
  private soleSources(records: readonly BulkInputRecord[], named: ReadonlyMap<string, number>): Map<string, ItemSource> | undefined {
    let sources: Map<string, ItemSource> | undefined;
    for (const record of records) {
      if (record.source !== undefined && named.get(record.source.id) === 1 && !this.earlier.has(record.seq)) (sources ??= new Map()).set(record.source.id, record.source);
    }
    return sources;
  }

  /**
   * The FA each ID has now (null: not linked), read in batches. `requests`: the run's request
   * slots, for a chunk's own look-ups; a reconcile runs inside the slot of the send it serves.
   * With `sources`, an ID that still holds what an equal source wrote goes into `sameSource`
   * instead of the map (storedFas).
   */
  private async currentState(ids: readonly string[], requests?: Slots, sources?: ReadonlyMap<string, ItemSource>, sameSource?: Set<string>): Promise<Map<string, Current>> {
    const state = new Map<string, Current>();
    const batches: string[][] = [];
    for (let i = 0; i < ids.length; i += this.options.batchSize) batches.push(ids.slice(i, i + this.options.batchSize));
    const storedFas = this.mapper.storedFas?.bind(this.mapper);
    await this.pool(
      batches.map((batch) => async () => {
        if (storedFas) {
          // The mapper can hand over its stored strings: no resolve, no deconstruction.
          const stored = await this.withRetries('resolve', batch.length, () => storedFas(batch, this.options.context, sources));
          for (const id of batch) {
            const current = stored.get(id);
            if (current === SAME_SOURCE) sameSource?.add(id);
            else state.set(id, current ?? null);
          }
          return;
        }
        const results = await this.withRetries('resolve', batch.length, () =>
          this.mapper.resolve(batch.map((id, i): ResolveItem => ({ reference_id: `s${i}`, id, scope: 'details' })), this.options.context),
        );
        const byRef = new Map(results.map((r) => [r.reference_id, r]));
        batch.forEach((id, i) => {
          const result = byRef.get(`s${i}`);
          const found = result !== undefined && classifyResult('resolve', result) === 'found';
          // An FA string (G2P Connect without a strategy id to read it with) is compared as stored.
          state.set(id, !found ? null : typeof result.fa === 'string' ? { fa: result.fa, strategyId: undefined } : ((result.fa as Fa) ?? {}));
        });
      }),
      requests,
    );
    return state;
  }

  /** Sends one batch until every record in it is settled, or stops the run. */
  private async send(operation: Operation, items: readonly Work[], retries: number): Promise<void> {
    let pending = [...items];
    let reconcileFirst = false;
    for (let attempt = 0; pending.length > 0; attempt++) {
      if (this.options.shouldStop?.()) throw new Stop('interrupted');
      try {
        if (reconcileFirst) {
          pending = await this.reconcile(operation, pending);
          reconcileFirst = false;
          if (pending.length === 0) return;
        }
        this.journal.markInflight(pending.map((w) => w.seq), operation);
        const results = await this.call(operation, pending);
        this.settleResults(operation, pending, results);
        return;
      } catch (error) {
        if (error instanceof Stop) throw error;
        if (!(error instanceof UnavailableError) || !RETRYABLE.has(error.code)) throw new Stop(asSparctlError(error));
        if (error.outcomeUnknown) reconcileFirst = true;
        if (error.code === 'remote.batch_failed' && attempt >= Math.min(1, retries)) {
          // The mapper keeps failing this batch as a whole: find the record that does it.
          if (pending.length === 1) {
            this.settle(operation, pending[0]!, 'rejected', 'rejected', 'rjct.internal.error', `the mapper fails every request that holds this record (${error.message})`);
            return;
          }
          const half = Math.ceil(pending.length / 2);
          this.retried(operation, pending.length, attempt + 1, `bisecting a batch the mapper fails as a whole (${pending.length} → ${half} + ${pending.length - half})`, 0);
          await this.send(operation, pending.slice(0, half), 1);
          await this.send(operation, pending.slice(half), 1);
          return;
        }
        if (attempt >= retries) throw new Stop(error);
        const delay = this.backoff(attempt, error.retryAfterMs);
        this.retried(operation, pending.length, attempt + 1, error.message, delay);
        await this.sleep(delay);
      }
    }
  }

  /** After an unknown outcome: settle what the mapper shows as done, return what is still to send. */
  private async reconcile(operation: Operation, pending: readonly Work[]): Promise<Work[]> {
    const ids = [...new Set(pending.map((w) => w.id))];
    const state = await this.currentState(ids);
    const rest: Work[] = [];
    for (const w of pending) {
      const current = state.get(w.id);
      const applied = operation === 'unlink' ? current === null : holds(current, w, this.options.strategies);
      if (applied) {
        const outcome: Outcome = operation === 'link' ? 'linked' : operation === 'update' ? 'updated' : 'unlinked';
        this.settle(operation, w, 'applied', outcome, null, 'confirmed by resolve after an unanswered request');
      } else {
        rest.push(w);
      }
    }
    return rest;
  }

  private call(operation: Operation, items: readonly Work[]): Promise<ItemResult[]> {
    const context = this.options.context;
    switch (operation) {
      case 'link':
        return this.mapper.link(items.map(linkItemOf), context);
      case 'update':
        return this.mapper.update(items.map(linkItemOf), context);
      case 'unlink':
        return this.mapper.unlink(items.map((w): UnlinkItem => withOrigin({ reference_id: referenceOf(w), id: w.id }, w)), context);
      case 'resolve':
        return this.mapper.resolve(items.map((w): ResolveItem => withOrigin({ reference_id: referenceOf(w), id: w.id, scope: 'details' }, w)), context);
    }
  }

  private settleResults(operation: Operation, items: readonly Work[], results: readonly ItemResult[]): void {
    const byRef = new Map<string, ItemResult>();
    for (const result of results) byRef.set(result.reference_id, result);
    const entries: JournalEntry[] = [];
    for (const w of items) {
      const result = byRef.get(referenceOf(w));
      if (!result) {
        entries.push(this.settleEntry(operation, w, 'rejected', 'rejected', 'mapper.result_missing', 'the mapper answered without a result for this record'));
        continue;
      }
      const outcome = classifyResult(operation, result);
      const fate: RecordFate = outcome === 'linked' || outcome === 'updated' || outcome === 'unlinked' ? 'applied' : 'rejected';
      entries.push(this.settleEntry(operation, w, fate, outcome, result.status_reason_code, result.status_reason_message));
    }
    this.journal.settle(entries);
    this.progress(false);
  }

  private settle(operation: Operation, w: Work, fate: RecordFate, outcome: Outcome, code: string | null, message: string | null): void {
    this.journal.settle([this.settleEntry(operation, w, fate, outcome, code, message)]);
  }

  private settleEntry(operation: Operation, w: Work, fate: RecordFate, outcome: Outcome, code: string | null, message: string | null): JournalEntry {
    this.emit(w.report, w, operation, fate, outcome, code, message);
    return { seq: w.seq, state: 'settled', operation, fate, outcome, code, message };
  }

  /** Counts a record's fate now; its event goes to the chunk's report, delivered in input order once the chunk has settled. */
  private emit(
    report: RecordEvent[],
    record: { seq: number; line?: number; raw?: Readonly<Record<string, string>>; origin?: string; id?: string; parsed?: BulkInputRecord['parsed'] },
    operation: Operation | 'none',
    fate: RecordFate,
    outcome: Outcome | undefined,
    code: string | null,
    message: string | null,
    extra: { resumed?: boolean; field?: string; id?: string } = {},
  ): void {
    this.done++;
    this.fates[fate]++;
    const counts = (this.byOperation[operation] ??= {});
    counts[fate] = (counts[fate] ?? 0) + 1;
    if (this.options.recordEvents === 'problems' && (fate === 'applied' || fate === 'unchanged')) return;
    const id = extra.id ?? record.id ?? (record.parsed?.ok ? record.parsed.value.id : undefined);
    // One shape for every event (absent fields are undefined): built once per record.
    const event: RecordEvent = {
      type: 'record',
      seq: record.seq,
      line: record.line,
      id,
      operation: operation === 'none' ? undefined : operation,
      fate,
      outcome,
      code,
      message,
      field: extra.field,
      raw: record.raw,
      origin: record.origin,
      resumed: extra.resumed ? true : undefined,
    };
    report.push(event);
  }

  /**
   * Delivers the record events of settled chunks, oldest chunk first and each in input order,
   * up to the first chunk still in flight (all of them with `all`, at the end of a run). Chunks
   * on other IDs may settle in any order; reports still come out in the order of the input, so
   * a results or reject file lists records as the input did, and feeding a reject file back
   * applies the rows about one beneficiary in their original order.
   */
  private deliver(all = false): void {
    while (this.reports.length > 0 && (all || this.reports[0]!.settled)) {
      const { events } = this.reports.shift()!;
      events.sort((a, b) => a.seq - b.seq);
      for (const event of events) this.options.onEvent?.(event);
    }
  }

  private progress(force: boolean): void {
    const now = Date.now();
    if (!force && now - this.lastProgress < 200) return;
    this.lastProgress = now;
    this.options.onEvent?.({
      type: 'progress',
      read: this.read,
      done: this.done,
      ...(this.options.total === undefined ? {} : { total: this.options.total }),
      applied: this.fates.applied,
      unchanged: this.fates.unchanged,
      rejected: this.fates.rejected,
      failed: this.fates.failed,
      retries: this.retries,
      elapsed: (now - this.started) / 1000,
    });
  }

  private retried(operation: Operation, records: number, attempt: number, reason: string, delayMs: number): void {
    this.retries++;
    this.options.onEvent?.({ type: 'retry', operation, records, attempt, reason, delayMs });
  }

  private backoff(attempt: number, retryAfterMs: number | undefined): number {
    const { base, max } = this.options.backoffMs ?? { base: 500, max: 30_000 };
    const exponential = Math.min(max, base * 2 ** attempt);
    const jittered = exponential / 2 + this.random() * (exponential / 2);
    return Math.round(Math.max(jittered, retryAfterMs ?? 0));
  }

  /** Retries a read-only call (resolve) on retryable failures; stops the run when they persist. */
  private async withRetries<T>(operation: Operation, records: number, call: () => Promise<T>): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      if (this.options.shouldStop?.()) throw new Stop('interrupted');
      try {
        return await call();
      } catch (error) {
        if (!(error instanceof UnavailableError) || !RETRYABLE.has(error.code) || attempt >= this.options.retries) throw new Stop(asSparctlError(error));
        const delay = this.backoff(attempt, error.retryAfterMs);
        this.retried(operation, records, attempt + 1, error.message, delay);
        await this.sleep(delay);
      }
    }
  }

  /**
   * Runs tasks with at most `concurrency` at once, and within the run-wide request slots when
   * given; the first Stop waits for the running ones, then propagates.
   */
  private async pool(tasks: readonly (() => Promise<void>)[], requests?: Slots): Promise<void> {
    let next = 0;
    let stop: Stop | undefined;
    const worker = async () => {
      while (next < tasks.length && !stop) {
        const task = tasks[next++]!;
        await requests?.acquire();
        try {
          await task();
        } catch (error) {
          if (error instanceof Stop) stop ??= error;
          else stop ??= new Stop(asSparctlError(error));
        } finally {
          requests?.release();
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.options.concurrency, tasks.length) }, worker));
    if (stop) throw stop;
  }
}

const referenceOf = (w: Work) => `q${w.seq}`;

function withOrigin<T extends object>(item: T, w: Work): T {
  if (w.line !== undefined) (item as { origin?: string }).origin = `line ${w.line}`;
  return item;
}

/** The request item for a record, built field by field: spreading records per item is slow. */
function linkItemOf(w: Work): LinkItem {
  const record = w.record as MappingRecord;
  const item: { -readonly [K in keyof LinkItem]: LinkItem[K] } = { reference_id: referenceOf(w), id: record.id, fa: record.fa };
  if (w.line !== undefined) item.origin = `line ${w.line}`;
  if (record.name !== undefined) item.name = record.name;
  if (record.phone_number !== undefined) item.phone_number = record.phone_number;
  if (record.additional_info !== undefined) item.additional_info = record.additional_info;
  if (w.source !== undefined) item.source = w.source;
  return item;
}

/** A counting semaphore: at most `count` holders at once, the others wait in order. */
class Slots {
  private readonly waiting: (() => void)[] = [];

  constructor(private free: number) {}

  async acquire(): Promise<void> {
    if (this.free > 0) {
      this.free--;
      return;
    }
    await new Promise<void>((resolve) => this.waiting.push(resolve));
  }

  release(): void {
    const next = this.waiting.shift();
    if (next) next();
    else this.free++;
  }
}

/**
 * The IDs a chunk holds, with how many of its records name each: those it plans for, and those
 * of its invalid records, so that two chunks never report on one beneficiary at the same time.
 */
function idsOf(records: readonly BulkInputRecord[]): Map<string, number> {
  const ids = new Map<string, number>();
  for (const record of records) {
    // A record's source names its ID without parsing it.
    const id = record.source !== undefined ? record.source.id : record.parsed.ok ? record.parsed.value.id : record.parsed.id;
    if (id) ids.set(id, (ids.get(id) ?? 0) + 1);
  }
  return ids;
}

function sharesAny(some: ReadonlyMap<string, number>, others: ReadonlyMap<string, number>): boolean {
  const [small, large] = some.size <= others.size ? [some, others] : [others, some];
  for (const id of small.keys()) if (large.has(id)) return true;
  return false;
}

function isArray(item: BulkInputRecord | readonly BulkInputRecord[]): item is readonly BulkInputRecord[] {
  return Array.isArray(item);
}

function asSparctlError(error: unknown): SparctlError {
  if (error instanceof SparctlError) return error;
  throw error; // a bug, not a mapper failure: let it surface as an internal error
}

/**
 * True when the mapper holds what the record asks for: its FA and, when the mapper tells them,
 * its name and phone (a record without one leaves the stored one alone, as SPAR does).
 */
function holds(current: Current | undefined, w: Work, strategies?: ReadonlyMap<number, Strategy>): boolean {
  const record = w.record;
  if (!('fa' in record) || !sameFa(current, record.fa, strategies, w.faValue)) return false;
  if (current === undefined || current === null || !isStored(current) || current.name === undefined) return true;
  return (!record.name || record.name === current.name) && (!record.phone_number || record.phone_number === current.phone);
}

/**
 * True when the FA the mapper holds is the one desired. A stored string is compared with the
 * string the strategy builds. A resolved FA is compared, with the strategy known, as the strings
 * the strategy stores — a resolve only returns what the stored string holds (strategy 5 keeps no
 * bank name) — otherwise field by field. `desiredValue` is the string `desired` is stored as,
 * when the caller already built it.
 */
export function sameFa(current: Current | undefined, desired: FinancialAddress, strategies?: ReadonlyMap<number, Strategy>, desiredValue?: string): boolean {
  if (current === undefined || current === null) return false;
  const strategy = strategies?.get(desired.strategy_id);
  if (isStored(current)) {
    // A mapper that keeps no strategy id with the string (G2P Connect) is compared by the string alone.
    if ((current.strategyId !== undefined && current.strategyId !== desired.strategy_id) || !strategy) return false;
    return (desiredValue ?? stringOf(buildCheckedFa(strategy, desired))) === current.fa;
  }
  if (String(current['strategy_id'] ?? '') !== String(desired.strategy_id)) return false;
  if (strategy) {
    const values: Record<string, string> = {};
    for (const [key, value] of Object.entries(current)) if (value !== null && value !== undefined) values[key] = String(value);
    try {
      return pythonFormat(strategy.template, { ...values, fa_type: desired.fa_type, strategy_id: String(desired.strategy_id) }) === constructFa(strategy, desired);
    } catch {
      return false;
    }
  }
  for (const [key, value] of Object.entries(desired)) {
    if (String(current[key] ?? '') !== String(value)) return false;
  }
  return true;
}

const stringOf = (built: { ok: true; value: string } | { ok: false }): string | undefined => (built.ok ? built.value : undefined);

function isStored(current: Readonly<Record<string, unknown>> | StoredFa): current is StoredFa {
  if (typeof current !== 'object') return false;
  // A resolved FA has FA fields (strategy_id, never strategyId).
  return 'strategyId' in current && typeof current['fa'] === 'string';
}
