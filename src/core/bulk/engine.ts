import { SparctlError, UnavailableError } from '../errors.js';
import { problemText } from '../request-items.js';
import type { ItemRow, Mapper, MapperCallContext } from '../mapper.js';
import type { Strategy } from '../strategy/strategy.js';
import { EarlyStopProbe } from './early-stop.js';
import type { BulkEvent, BulkSummary } from './events.js';
import type { Journal, JournalEntry } from '../journal.js';
import { decide, effectShown, isStored, type Current } from './plan.js';
import { Reports, type ChunkReport } from './reports.js';
import { AdaptiveSlots, asStop, pool, Slots, Stop } from './requests.js';
import { SupersessionCheck, type RowIndex } from './row-index.js';
import { backoffDelay } from '../retry.js';
import { LOST_ANSWER, OUTCOME_OF, Sender, shownFate, type Work, type WriteOperation } from './sender.js';
import { StateReader, type Retrying } from './state.js';
import type { BulkInput, BulkInputRecord, BulkMode, InputProblem } from './types.js';
import { UpsertOrder, type UpsertOrderSetting } from './upsert-order.js';

/**
 * The write pipeline (DESIGN.md §4): every command that writes to a mapper sends its records
 * through here — flags, files, import-csv, import-odk, fa edit — and a dry run is this same
 * pipeline with the sending left out.
 *
 * The invariant, held by construction: for every beneficiary ID, the mapper ends as the ID's
 * last row in the input says, applied to the state the ID had before the job's first run —
 * however often and wherever the job is interrupted — and running the same input again writes
 * nothing.
 *
 * - Earlier rows of an ID are superseded (RowIndex): reported with the line that decides, never
 *   sent. So the job writes at most one operation per ID, and an ID's state, until that one
 *   write, is the state it had before the job: a resume plans every unsettled row against the
 *   same state the first run saw, and needs to remember only what was in flight (Journal).
 * - An ID's effective row is planned against the mapper's current state (plan.ts) and sent in
 *   batches (sender.ts), journalled in flight first; an unknown outcome is read back before
 *   anything is sent again.
 * - The run reads exactly the records the pass before it counted (the index's rows): a row past
 *   them, an input that ends short or one that no longer reads as it did is a stop
 *   (engine.input_changed), for the file changed under the run.
 * - Chunks of the input are read, planned and sent with up to `chunksInFlight` in flight (no
 *   two effective rows share an ID, so chunks never wait for each other's answers), within one
 *   run-wide limit of requests; reports come out in input order (reports.ts).
 * - The first request that gives up (retries spent, or a failure no retry helps) stops every
 *   other one at its next attempt: they face the same mapper, and what they have not sent is
 *   kept for the next run.
 * - A caller that must know later what a write replaced is told what each record was planned
 *   against before anything of its chunk is journalled in flight or sent (beforeSending): the
 *   record's event comes only after the write, and a kill between the two would lose it.
 */

export type { BulkInput, BulkInputRecord, BulkMode, InputProblem } from './types.js';
export type { Journal, JournalEntry } from '../journal.js';

/**
 * IDs read first to choose an upsert order (upsert-order.ts): enough to tell "most are new" from
 * "most exist", small enough that the chunk waiting on it waits one short request (50 IDs cost
 * the mapper a tenth of a 500-ID batch).
 */
const UPSERT_SAMPLE = 50;

export interface BulkOptions {
  readonly mode: BulkMode;
  /** Which rows are superseded by later ones: the whole input's, built before the run. */
  readonly index: RowIndex;
  readonly batchSize: number;
  /** Requests in flight at most; with `adaptiveConcurrency`, the ceiling the level may rise to. */
  readonly concurrency: number;
  /** Let the number in flight follow what the mapper can take (requests.ts, AdaptiveSlots). */
  readonly adaptiveConcurrency?: boolean;
  /** Attempts after the first for a batch that fails as a whole. */
  readonly retries: number;
  readonly context: MapperCallContext;
  /** Plan and report; send nothing, journal nothing. */
  readonly dryRun?: boolean;
  /** Records planned together. */
  readonly chunkSize?: number;
  /**
   * Records of the first chunk (default `chunkSize`): a small one puts the first request on the
   * wire while the code that plans records is still cold.
   */
  readonly firstChunkSize?: number;
  /** Chunks that may be in flight at once (default 1); requests stay within `concurrency` across all. */
  readonly chunksInFlight?: number;
  readonly backoffMs?: { readonly base: number; readonly max: number };
  readonly onEvent?: (event: BulkEvent) => void;
  /** Which records get a `record` event: every one (the default), or only the rejected ones. */
  readonly recordEvents?: 'all' | 'problems';
  /** Checked before each new request: true once the user asked to stop (Ctrl-C, SIGTERM), or a report file failed. */
  readonly shouldStop?: () => boolean;
  /** Why shouldStop said yes, when it was not the user (a report file that cannot be written): the run's stop error. */
  readonly stopReason?: () => SparctlError | undefined;
  /** Injected for tests. */
  readonly sleep?: (ms: number) => Promise<void>;
  readonly random?: () => number;
  /** The target's strategies, to compare FAs the way they are stored. */
  readonly strategies?: ReadonlyMap<number, Strategy>;
  /** Digest of a stored FA string, for unlinks that are conditional on it (UnlinkRecord.onlyIfFa). */
  readonly faDigest?: (fa: string) => string;
  /** Whether upserts read before they write (default) or link first (upsert-order.ts). */
  readonly upsertOrder?: UpsertOrderSetting;
  /**
   * Stop before reading past the first `after` records when every one of them was rejected for
   * the same input, mapping or DFSP problem (early-stop.ts); `hint` says how to keep going.
   * Only armed when the input holds more records than that.
   */
  readonly stopEarly?: { readonly after: number; readonly hint: string };
  /**
   * Told, before any of them is journalled in flight or sent, the records a chunk is about to
   * send and what this run read for each: a caller that must know later what a write replaced
   * (import-odk, to undo it) keeps it from here — a record's event comes only after its write,
   * and a run killed in between leaves the next one only the state after the write. A throw
   * stops the run with nothing of the chunk sent.
   */
  readonly beforeSending?: (records: readonly Sending[]) => void;
}

/** A record about to be sent: its operation, and what this run read for its ID (null: not linked; undefined: not read, a link sent unread). */
export interface Sending {
  readonly seq: number;
  readonly operation: WriteOperation;
  readonly before: Current | undefined;
}

export async function runBulk(mapper: Mapper, input: BulkInput, journal: Journal, options: BulkOptions): Promise<BulkSummary> {
  return new BulkRun(mapper, journal, options).run(input);
}

/** Where `--concurrency auto` starts: the fixed default's level. */
const ADAPTIVE_START = 4;

export const INPUT_CHANGED_CODE = 'engine.input_changed';

/**
 * The input holds other rows than its first read counted (something wrote to it during the run):
 * a row past them is never sent, for the index and the journal know nothing of it.
 */
function inputChanged(what: string): Stop {
  return new Stop(
    new UnavailableError(
      'engine.input_changed', // INPUT_CHANGED_CODE, spelled out for the README's list of codes
      `the input changed while it was read: ${what}`,
      {
        hint: 'let whatever writes to the file finish first',
      },
    ),
  );
}

/** A row the index and the run disagree about: stop before acting on it (the next run hashes anew). */
function indexMismatch(record: BulkInputRecord, what: string): Stop {
  return new Stop(
    new UnavailableError('engine.index_mismatch', `line ${record.line ?? record.seq + 1}: ${what}; nothing was sent for this ID`, {
      hint: 'run the same command again (if it happens again, the input changed while it was read: check that nothing writes to it)',
    }),
  );
}

class BulkRun implements Retrying {
  private readonly earlier: ReadonlyMap<number, JournalEntry>;
  /** The last position classify reached: records of an earlier run past it were not reported by this one. */
  private walkedTo = -1;
  private readonly reports: Reports;
  private readonly slots: Slots;
  private readonly reader: StateReader;
  private readonly sender: Sender;
  private readonly check = new SupersessionCheck();
  private readonly order: UpsertOrder | undefined;
  /** While the first records are probed for a systematic problem (stopEarly). */
  private probe: EarlyStopProbe | undefined;
  /** Why a request gave up, which ends the run: the other requests stop rather than spend their own retries on it. */
  private gaveUp: SparctlError | undefined;
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly random: () => number;
  readonly retries: number;

  constructor(
    private readonly mapper: Mapper,
    private readonly journal: Journal,
    private readonly options: BulkOptions,
  ) {
    this.earlier = journal.load();
    this.retries = options.retries;
    this.sleep = options.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
    this.random = options.random ?? Math.random;
    const most = Math.max(1, options.concurrency);
    this.slots = options.adaptiveConcurrency ? new AdaptiveSlots(ADAPTIVE_START, most, () => performance.now()) : new Slots(most);
    this.reports = new Reports({
      ...(options.onEvent ? { onEvent: options.onEvent } : {}),
      ...(options.recordEvents ? { recordEvents: options.recordEvents } : {}),
      total: options.index.rows,
    });
    this.reader = new StateReader(mapper, options.context, options.batchSize, this);
    const order = options.upsertOrder ?? 'read-first';
    this.order =
      order === 'read-first' || options.dryRun === true ? undefined : new UpsertOrder(order, Math.min(options.batchSize, UPSERT_SAMPLE));
    this.sender = new Sender(mapper, journal, this.reports, this.reader, this, {
      context: options.context,
      strategies: options.strategies,
    });
    const early = options.stopEarly;
    if (early !== undefined && early.after > 0 && options.index.rows > early.after)
      this.probe = new EarlyStopProbe(early.after, early.hint);
  }

  // Retrying, for the state reader and the sender.
  shouldStop(): boolean {
    return this.gaveUp !== undefined || this.options.shouldStop?.() === true;
  }

  /** Notes the first mapper failure that ends the run (a Stop for a signal is none). */
  private giveUp(error: unknown): void {
    const reason = error instanceof Stop ? error.reason : error;
    if (reason instanceof SparctlError) this.gaveUp ??= reason;
  }

  async wait(ms: number): Promise<boolean> {
    if (this.options.sleep) {
      await this.sleep(ms);
      return !this.shouldStop();
    }
    // In steps, so that Ctrl-C during a long backoff stops the run at once.
    for (let left = ms; left > 0; left -= 100) {
      if (this.shouldStop()) return false;
      await this.sleep(Math.min(100, left));
    }
    return !this.shouldStop();
  }

  backoff(attempt: number, retryAfterMs: number | undefined): number {
    // Every retried failure is the mapper (or the way to it) pushing back.
    this.slots.congested();
    return backoffDelay(attempt, retryAfterMs, this.random, this.options.backoffMs);
  }

  retried(...args: Parameters<Reports['retried']>): void {
    this.reports.retried(...args);
  }

  async run(input: BulkInput): Promise<BulkSummary> {
    const chunkSize = this.options.chunkSize ?? Math.max(2_000, this.options.batchSize * this.options.concurrency * 4);
    const firstChunkSize = Math.max(1, this.options.firstChunkSize ?? chunkSize);
    const chunksAhead = Math.max(1, this.options.chunksInFlight ?? 1);
    const inFlight = new Set<Promise<void>>();
    let failure: { error: unknown } | undefined;
    let stopped: SparctlError | 'interrupted' | undefined;
    // The probed chunks, each settled once its records are planned (their rejects then known).
    const probing: Promise<void>[] = [];
    const start = async (records: BulkInputRecord[], probed: boolean) => {
      while (inFlight.size >= chunksAhead && !failure) await Promise.race(inFlight);
      if (failure) throw failure.error;
      if (this.shouldStop()) throw new Stop('interrupted');
      const report = this.reports.chunk();
      // Classified now, in input order: a superseded row is met before the row that supersedes it.
      const effective = this.classify(records, report);
      let planned: () => void = () => undefined;
      if (probed) probing.push(new Promise<void>((resolve) => (planned = resolve)));
      const done: Promise<void> = this.chunk(effective, report, () => planned())
        .catch((error: unknown) => {
          // A SparctlError outside a request (the journal, the mapper's own bookkeeping) stops
          // the run as a request's would; anything else is a bug and surfaces as it is.
          this.giveUp(error);
          failure ??= { error: error instanceof SparctlError ? asStop(error) : error };
        })
        .finally(() => {
          planned();
          inFlight.delete(done);
          report.settled = true;
          this.reports.deliver();
        });
      inFlight.add(done);
    };
    const settleAll = async () => {
      while (inFlight.size > 0) await Promise.all(inFlight);
    };
    try {
      try {
        let chunk: BulkInputRecord[] = [];
        let chunked = 0;
        const indexed = this.options.index.rows;
        let read = 0;
        // The first record past the indexed ones: the input grew since it was first read.
        let surplus: BulkInputRecord | undefined;
        for await (const item of asRead(input, () => read > 0)) {
          const all = isArray(item) ? item : [item];
          const records = all.length <= indexed - read ? all : all.slice(0, indexed - read);
          read += records.length;
          this.reports.readRecords(records.length);
          for (const record of records) {
            chunk.push(record);
            // The probed records end a chunk, so that no record after them is planned (or
            // sent) before their verdict.
            const probe = this.probe;
            const size = chunked === 0 ? firstChunkSize : chunkSize;
            if (chunk.length >= (probe === undefined ? size : Math.min(size, probe.after - chunked))) {
              await start(chunk, probe !== undefined);
              chunked += chunk.length;
              chunk = [];
              if (probe !== undefined && chunked >= probe.after) {
                // The verdict needs the probed records planned, not sent: their sends go on
                // (a stop sends nothing, for then every probed record was rejected unsent).
                await Promise.all(probing);
                if (failure) throw failure.error;
                const stop = probe.verdict(this.options.index.rows - chunked);
                if (stop) throw new Stop(stop);
                this.probe = undefined;
              }
            }
          }
          if (records.length < all.length) {
            surplus = all[records.length];
            break;
          }
        }
        if (chunk.length > 0) await start(chunk, false);
        await settleAll();
        if (failure) throw failure.error;
        if (surplus !== undefined)
          throw inputChanged(
            `line ${surplus.line ?? surplus.seq + 1} is past the ${indexed} record(s) it held when the run began; nothing from there on was sent`,
          );
        if (read < indexed)
          throw inputChanged(`it ended after ${read} of the ${indexed} record(s) it held when the run began; the rest were not sent`);
      } finally {
        await settleAll();
        this.reports.deliver(true);
      }
    } catch (error) {
      if (!(error instanceof Stop)) throw error;
      // A request that stopped because another gave up stops as "interrupted": the run ends for that one's reason.
      stopped = error.reason === 'interrupted' ? (this.gaveUp ?? this.options.stopReason?.() ?? 'interrupted') : error.reason;
    }
    // Stopped before it reached them, the records an earlier run settled are still settled: said
    // so, not counted "not done" (a resumed run stopped again said most of its job was left).
    if (stopped !== undefined)
      for (const [seq, entry] of this.earlier)
        if (seq > this.walkedTo && entry.state === 'settled')
          this.reports.settledEarlier(entry.operation, entry.fate ?? 'rejected', entry.code);
    this.reports.progress(true);
    const summary = this.reports.summary({
      total: this.options.index.rows,
      dryRun: this.options.dryRun === true,
      ...(stopped === undefined
        ? {}
        : {
            stopped:
              stopped === 'interrupted'
                ? { code: 'interrupted', message: 'interrupted', exitCode: 130 }
                : {
                    code: stopped.code,
                    message: stopped.message,
                    exitCode: stopped.exitCode,
                    hint: stopped.hint,
                    ...(stopped instanceof UnavailableError && stopped.outcomeUnknown ? { outcomeUnknown: true } : {}),
                  },
          }),
    });
    return this.options.adaptiveConcurrency ? { ...summary, requestsInFlight: this.slots.limit } : summary;
  }

  /**
   * Reports what needs no mapper: records an earlier run settled, and superseded ones. Returns
   * the chunk's effective records (the last row of each ID it holds).
   */
  private classify(records: readonly BulkInputRecord[], report: ChunkReport): BulkInputRecord[] {
    const effective: BulkInputRecord[] = [];
    const keys = new Set<string>();
    for (const record of records) {
      if (record.seq > this.walkedTo) this.walkedTo = record.seq;
      const last = this.options.index.lastOf(record.seq);
      if (last !== undefined) {
        if (!this.check.superseded(last.seq, record.key))
          throw indexMismatch(record, 'this row was taken for another row of its ID, but names another ID');
        // Never sent, never journalled: the input alone says it.
        this.reports.fate(report, record, 'none', 'superseded', {
          id: record.key,
          supersededBy: last.line,
          message: last.line === undefined ? 'a later record names the same ID' : `line ${last.line} names the same ID`,
        });
        continue;
      }
      if (!this.check.superseder(record.seq, record.key))
        throw indexMismatch(record, 'an earlier row was taken for a row of this ID, but names another ID');
      if (record.skip !== undefined) {
        // Never journalled: the input and the job's definition (its filters) alone say it.
        const { id, code, message, rule } = record.skip;
        this.reports.fate(report, record, 'none', 'skipped', { id, code, message, rule });
        continue;
      }
      if (record.key !== undefined) {
        if (keys.has(record.key)) throw indexMismatch(record, `two rows of ${record.key} were both taken as its last`);
        keys.add(record.key);
      }
      const before = this.earlier.get(record.seq);
      if (before?.state === 'settled') {
        this.reports.fate(report, record, before.operation, before.fate ?? 'rejected', {
          id: record.key,
          outcome: before.outcome ?? undefined,
          code: before.code ?? null,
          message: before.message ?? null,
          resumed: true,
        });
        continue;
      }
      effective.push(record);
    }
    return effective;
  }

  /** `planned`: called once every record of the chunk is planned, before anything is sent. */
  private async chunk(all: readonly BulkInputRecord[], report: ChunkReport, planned: () => void): Promise<void> {
    const dryRun = this.options.dryRun === true;
    const mode = this.options.mode;
    // Invalid records need no mapper: reported at once, whatever happens to the mapper next.
    // (Those with a row are parsed only once the state has been read, below.)
    const records: BulkInputRecord[] = [];
    for (const record of all) {
      if (record.row === undefined && !record.parsed.ok) this.rejectInvalid(report, record, record.parsed.problems);
      else records.push(record);
    }
    // The state is read before any record with a row is parsed: one that still holds what
    // its row wrote is then done without being parsed at all (a re-run).
    let itemRows: Map<string, ItemRow> | undefined;
    const stateIds: string[] = [];
    // Upserts plan from the state, and so do updates (one that would change nothing is not sent
    // where the mapper tells all it writes, and a lost answer is read back knowing what the FA
    // was); dry runs show it; records an earlier run left in flight are checked against it.
    const readsFor = (recordMode: BulkMode, value?: BulkInputRecord['parsed']) =>
      recordMode === 'upsert' ||
      recordMode === 'update' ||
      (value?.ok === true && 'onlyIfFa' in value.value && value.value.onlyIfFa !== undefined);
    // Upserts that may be sent as links without a read (upsert-order.ts): never one an earlier
    // run left in flight, which must be read back first.
    const upserts: BulkInputRecord[] = [];
    for (const record of records) {
      const uncertain = this.earlier.has(record.seq);
      if (this.order !== undefined && !uncertain && record.key !== undefined && modeOf(record, mode) === 'upsert') {
        upserts.push(record);
        continue;
      }
      if (record.row !== undefined && record.key !== undefined) {
        if (mode === 'upsert' && !uncertain && this.mapper.storedFas !== undefined) (itemRows ??= new Map()).set(record.key, record.row);
        if (readsFor(mode) || dryRun || uncertain) stateIds.push(record.key);
      } else if (record.parsed.ok && (readsFor(record.parsed.mode ?? mode, record.parsed) || dryRun || uncertain)) {
        stateIds.push(record.parsed.value.id);
      }
    }
    // Without an estimate yet (and past the first chunk, sent link-first), a sample of the
    // upserts is read first, and tells the rest.
    const order = upserts.length === 0 ? undefined : this.order?.orderForChunk();
    const sample = order === undefined ? upserts.slice(0, this.order?.sampleSize ?? 0) : order ? [] : upserts;
    for (const record of sample) stateIds.push(record.key!);
    const slots = { slots: this.slots, width: this.options.concurrency };
    const { state, sameRow } =
      stateIds.length > 0
        ? await this.reader.read(stateIds, { slots, ...(itemRows ? { itemRows } : {}) })
        : { state: new Map<string, Current>(), sameRow: new Set<string>() };
    const linkFirst = new Set<number>();
    if (this.order !== undefined && upserts.length > 0) {
      if (sample.length > 0) this.order.observe(sample.filter((record) => isLinked(state.get(record.key!))).length, sample.length);
      const rest = upserts.slice(sample.length);
      if (rest.length > 0 && this.order.linkFirst() === false) {
        const more = await this.reader.read(
          rest.map((record) => record.key!),
          { slots },
        );
        for (const [id, current] of more.state) state.set(id, current);
      } else for (const record of rest) linkFirst.add(record.seq);
    }

    const toSend: Record<WriteOperation, Work[]> = { link: [], update: [], unlink: [] };
    const sending: Sending[] = [];
    const settledHere: JournalEntry[] = [];
    const unchangedByRow: { id: string; row: ItemRow; stored: import('../mapper.js').StoredFa }[] = [];
    for (const record of records) {
      if (record.row !== undefined && record.key !== undefined && sameRow.has(record.key) && itemRows?.get(record.key) === record.row) {
        // Not journalled, as any unchanged record: a resumed run finds it unchanged again.
        this.reports.fate(report, record, 'none', 'unchanged', { id: record.key });
        continue;
      }
      const parsed = record.parsed;
      if (!parsed.ok) {
        this.rejectInvalid(report, record, parsed.problems);
        continue;
      }
      const value = parsed.value;
      if (value.id !== record.key)
        throw new Error(`internal error: record ${record.seq} was indexed under ID ${String(record.key)} but parses to ${value.id}`);
      const current = state.get(value.id);
      const w: Work = {
        report,
        seq: record.seq,
        line: record.line,
        originalLine: record.originalLine,
        raw: record.raw,
        origin: record.origin,
        id: value.id,
        record: value,
        mode: parsed.mode ?? mode,
        faValue: parsed.faValue,
        row: record.row,
        // An earlier run's plan is not known: a record it left in flight is read back without it.
        planned: this.earlier.has(record.seq) ? undefined : current,
      };
      if (linkFirst.has(record.seq)) {
        // Sent as a link without reading: one the mapper finds linked comes back (found, below).
        toSend.link.push(w);
        sending.push({ seq: w.seq, operation: 'link', before: undefined });
        continue;
      }
      const before = this.earlier.get(record.seq);
      if (before?.state === 'inflight' && before.operation !== 'none' && before.operation !== 'resolve') {
        // An earlier run sent this record and never learned the outcome: if the mapper shows it, it was applied.
        if (effectShown(before.operation, current, w, this.options.strategies)) {
          const fate = shownFate(before.operation, w, this.options.strategies);
          const message = 'sent by an interrupted run; the mapper shows the change';
          this.reports.fate(report, w, before.operation, fate, { id: w.id, outcome: OUTCOME_OF[before.operation], message });
          settledHere.push({
            seq: w.seq,
            state: 'settled',
            operation: before.operation,
            fate,
            outcome: OUTCOME_OF[before.operation],
            code: null,
            message,
          });
          continue;
        }
        // Not shown yet: that request may still reach the mapper, before the copy sent now.
        w.answerLost = true;
      }
      const decision = decide(w, current, this.options.strategies, dryRun, this.options.faDigest);
      if (decision.kind === 'unchanged') {
        this.reports.fate(report, w, 'none', 'unchanged', {
          id: w.id,
          ...(decision.code === undefined ? {} : { code: decision.code, message: decision.message ?? null }),
        });
        // Unchanged by comparison: the mapper may keep this record's row digest for the next run.
        if (
          !dryRun &&
          w.row !== undefined &&
          itemRows?.get(w.id) === w.row &&
          current !== undefined &&
          current !== null &&
          isStored(current)
        )
          unchangedByRow.push({ id: w.id, row: w.row, stored: current });
        continue;
      }
      if (decision.kind === 'refused') {
        this.reports.fate(report, w, decision.operation, 'rejected', {
          id: w.id,
          outcome: decision.outcome,
          code: decision.code,
          message: `dry run: ${decision.message}`,
        });
        continue;
      }
      if (dryRun) {
        this.reports.fate(report, w, decision.operation, 'applied', {
          id: w.id,
          outcome: OUTCOME_OF[decision.operation],
          message: 'dry run: not sent',
        });
        continue;
      }
      toSend[decision.operation].push(w);
      // What this run read, also for a record an earlier run left in flight (its `planned` is not).
      sending.push({ seq: w.seq, operation: decision.operation, before: current });
    }
    planned();
    if (settledHere.length > 0 && !dryRun) this.journal.settle(settledHere);
    if (unchangedByRow.length > 0) await this.mapper.markRows?.(unchangedByRow, this.options.context);
    if (dryRun) return;

    if (sending.length > 0) this.options.beforeSending?.(sending);
    // Upserts sent as links that the mapper found linked already: planned now, from what it holds.
    const found: Work[] = [];
    await this.send(toSend, found);
    if (this.order !== undefined && linkFirst.size > 0)
      this.order.observe(found.filter((w) => linkFirst.has(w.seq)).length, linkFirst.size);
    if (found.length > 0) await this.planFound(found);
  }

  private async send(toSend: Record<WriteOperation, Work[]>, found: Work[]): Promise<void> {
    const batches: { operation: WriteOperation; items: Work[] }[] = [];
    for (const operation of ['link', 'update', 'unlink'] as const) {
      const of = toSend[operation];
      for (let i = 0; i < of.length; i += this.options.batchSize)
        batches.push({ operation, items: of.slice(i, i + this.options.batchSize) });
    }
    await pool(
      batches.map((batch) => async () => {
        try {
          await this.sender.send(batch.operation, batch.items, this.options.retries, found);
        } catch (error) {
          this.giveUp(error);
          throw error;
        }
      }),
      this.slots,
      this.options.concurrency,
    );
  }

  /**
   * Upserts whose link wrote nothing (refused as a duplicate, or unanswered while the mapper
   * showed the ID linked otherwise): each is planned against what the mapper holds, as a
   * read-first upsert is — left unchanged or updated.
   */
  private async planFound(found: readonly Work[]): Promise<void> {
    const { state } = await this.reader.read(
      found.map((w) => w.id),
      { slots: { slots: this.slots, width: this.options.concurrency } },
    );
    const updates: Work[] = [];
    const unchanged: JournalEntry[] = [];
    for (const w of found) {
      const current = state.get(w.id);
      if (w.answerLost && effectShown('link', current, w, this.options.strategies)) {
        // Its own lost link landed after the read that sent it again: the run's change, as after a lost answer.
        this.sender.settle('link', w, shownFate('link', w, this.options.strategies), 'linked', null, LOST_ANSWER);
        continue;
      }
      const planned: Work = { ...w, planned: current };
      const decision = decide(planned, current, this.options.strategies, false, this.options.faDigest);
      if (decision.kind === 'unchanged') {
        const code = decision.code ?? null;
        const message = decision.message ?? null;
        this.reports.fate(w.report, w, 'none', 'unchanged', { id: w.id, ...(code === null ? {} : { code, message }) });
        // Journalled, unlike an unchanged record planned before sending: its link is in flight there.
        unchanged.push({ seq: w.seq, state: 'settled', operation: 'none', fate: 'unchanged', outcome: null, code, message });
      } else if (decision.kind === 'send' && decision.operation === 'update') updates.push(planned);
      else
        this.sender.settle(
          'link',
          w,
          'rejected',
          'already_linked',
          'rjct.reference_id.duplicate',
          'the mapper showed the ID linked (refusing the link as a duplicate, or reading it back), then not linked (changed by someone else meanwhile?); run the job again',
        );
    }
    if (unchanged.length > 0) this.journal.settle(unchanged);
    if (updates.length === 0) return;
    this.options.beforeSending?.(updates.map((w) => ({ seq: w.seq, operation: 'update', before: w.planned })));
    await this.send({ link: [], update: updates, unlink: [] }, []);
  }

  private rejectInvalid(report: ChunkReport, record: BulkInputRecord, problems: readonly InputProblem[]): void {
    const problem = problems[0] ?? { field: '(record)', message: 'invalid record' };
    const message = problems.map(problemText).join('; ');
    this.probe?.rejected(problem.code ?? 'input.invalid', { line: record.line, originalLine: record.originalLine, message });
    // Not journalled: a resumed run finds the same problem in the same input, and the
    // message may quote the row's values, which the journal must not hold.
    this.reports.fate(report, record, 'none', 'rejected', {
      id: record.key,
      code: problem.code ?? 'input.invalid',
      message,
      field: problem.field,
    });
  }
}

/** The mode a record asks for: its own (an operation column) or the run's. */
function modeOf(record: BulkInputRecord, mode: BulkMode): BulkMode | undefined {
  if (record.row !== undefined) return mode;
  return record.parsed.ok ? (record.parsed.mode ?? mode) : undefined;
}

const isLinked = (current: Current | undefined) => current !== undefined && current !== null;

/**
 * The input as the run reads it: the pass before the run read all of it without fault, so a
 * fault once records were read (a quote never closed, a byte that is not UTF-8, a read that
 * fails) means the file changed since — a stop with what was sent journalled, never a bad-input
 * refusal that says nothing was written. Before the first record it is that refusal, and true.
 */
async function* asRead(input: BulkInput, begun: () => boolean): BulkInput {
  try {
    yield* input;
  } catch (error) {
    if (error instanceof SparctlError && error.code.startsWith('input.') && begun())
      throw inputChanged(`${error.message.replace(/; nothing was sent$/, '')}; the run stopped there`);
    throw error;
  }
}

function isArray(item: BulkInputRecord | readonly BulkInputRecord[]): item is readonly BulkInputRecord[] {
  return Array.isArray(item);
}

export { sameFa } from './plan.js';
