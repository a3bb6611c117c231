import { SparctlError, UnavailableError } from '../errors.js';
import { RETRYABLE } from '../retry.js';
import type { ItemRow, LinkItem, Mapper, MapperCallContext, UnlinkItem, UpdateItem } from '../mapper.js';
import type { MappingRecord } from '../request-items.js';
import { classifyResult, ReasonCode, type ItemResult, type Operation, type Outcome } from '../results.js';
import type { Strategy } from '../strategy/strategy.js';
import type { RecordFate } from './events.js';
import type { Journal, JournalEntry } from '../journal.js';
import { effectShown, KEPT_CHANGED, storedString, type Wanted } from './plan.js';
import type { ChunkReport, Reports } from './reports.js';
import { asStop, Stop } from './requests.js';
import type { Retrying, StateRead, StateReader } from './state.js';

/**
 * Sending one batch until each of its records is settled, or the run stops.
 *
 * Invariant: a request whose outcome is unknown (no answer, a reset, a timeout, any 5xx, a
 * result missing from the answer) is never sent again before the mapper has been read: what it
 * shows applied is settled as such, only the rest is sent again. So no record is applied twice,
 * and none is reported as this run's change unless the run knows it made it. A request held up on
 * its way can still reach the mapper after that read and before the copy sent again, which the
 * mapper then refuses as the lost one's effect (a link as a duplicate, an unlink as not found):
 * such a refusal is read back before it is believed.
 */

export type WriteOperation = Exclude<Operation, 'resolve'>;

/** One record on its way to the mapper. */
export interface Work extends Wanted {
  readonly report: ChunkReport;
  readonly seq: number;
  readonly line: number | undefined;
  readonly originalLine: number | undefined;
  readonly raw: Readonly<Record<string, unknown>> | undefined;
  readonly origin: string | undefined;
  readonly id: string;
  readonly row: ItemRow | undefined;
  /** A request carrying this record got no answer (this run's, or one an earlier run left in flight): it may still land. */
  answerLost?: true;
}

/** A record the mapper refused in a way the record's own lost request would make it: read back before it is settled. */
interface Refused {
  readonly w: Work;
  readonly result: ItemResult;
}

export const OUTCOME_OF: Record<WriteOperation, Outcome> = { link: 'linked', update: 'updated', unlink: 'unlinked' };

/**
 * How a record whose effect the mapper shows after a lost answer is reported: applied when the
 * run knows the effect was not there before it sent the record — an upsert is only sent when
 * the state it read did not hold what it asks; an update read the state first too — and
 * confirmed otherwise (a link or unlink is sent without reading first, so the mapper may have
 * held it already).
 */
export function shownFate(operation: WriteOperation, w: Wanted, strategies: ReadonlyMap<number, Strategy> | undefined): RecordFate {
  // An upsert's update always follows a read; its link may not (link-first, upsert-order.ts),
  // and a link an earlier run left in flight does not say which it was.
  if (w.mode === 'upsert' && (operation === 'update' || w.planned !== undefined)) return 'applied';
  return w.planned !== undefined && !effectShown(operation, w.planned, w, strategies) ? 'applied' : 'confirmed';
}

export const LOST_ANSWER = 'the answer was lost; the mapper shows the change';

export class Sender {
  constructor(
    private readonly mapper: Mapper,
    private readonly journal: Journal,
    private readonly reports: Reports,
    private readonly reader: StateReader,
    private readonly retrying: Retrying,
    private readonly options: { readonly context: MapperCallContext; readonly strategies: ReadonlyMap<number, Strategy> | undefined },
  ) {}

  /**
   * Sends one batch until every record in it is settled, or stops the run. An upsert whose link
   * wrote nothing — refused as a duplicate, or left without a result while the mapper shows its
   * ID linked otherwise — is not settled but put in `found`, to be planned from what the mapper
   * holds.
   */
  async send(operation: WriteOperation, items: readonly Work[], retries: number, found: Work[]): Promise<void> {
    let pending = [...items];
    let readFirst = false;
    let refused: Refused[] = [];
    for (let attempt = 0; pending.length > 0 || refused.length > 0; attempt++) {
      if (this.retrying.shouldStop()) throw new Stop('interrupted');
      try {
        if (refused.length > 0) {
          await this.settleRefused(operation, refused, found);
          refused = [];
          if (pending.length === 0) return;
        }
        if (readFirst) {
          pending = await this.reconcile(operation, pending);
          readFirst = false;
          if (pending.length === 0) return;
        }
        // Credentials first (an OAuth2 token): a failure to get them leaves nothing in flight.
        await this.mapper.ready?.();
        this.journal.markInflight(
          pending.map((w) => w.seq),
          operation,
        );
        const results = await this.call(operation, pending);
        const answered = this.settleResults(operation, pending, results, found);
        const unanswered = answered.unanswered;
        refused = answered.refused;
        pending = [];
        if (unanswered.length === 0) continue;
        // An answer without a result for some records says nothing about them: read them back
        // before anything is sent again, as after a lost answer.
        for (const w of unanswered) w.answerLost = true;
        if (attempt >= retries) {
          await this.rejectUnanswered(operation, unanswered, found);
          continue;
        }
        pending = unanswered;
        readFirst = true;
        this.reports.retried(operation, pending.length, attempt + 1, 'the answer had no result for these records', 0);
      } catch (error) {
        if (error instanceof Stop) throw error;
        if (!(error instanceof UnavailableError) || !RETRYABLE.has(error.code)) {
          this.forgetRefused(operation, pending, error);
          throw asStop(error);
        }
        if (error.outcomeUnknown) {
          readFirst = true;
          for (const w of pending) w.answerLost = true;
        }
        if (error.code === 'remote.batch_failed' && attempt >= Math.min(1, retries)) {
          // The mapper keeps failing this batch as a whole: find the record that does it.
          if (pending.length === 1) {
            this.settle(
              operation,
              pending[0]!,
              'rejected',
              'rejected',
              'rjct.internal.error',
              `the mapper fails every request that holds this record (${error.message})`,
            );
            return;
          }
          const half = Math.ceil(pending.length / 2);
          this.reports.retried(
            operation,
            pending.length,
            attempt + 1,
            `bisecting a batch the mapper fails as a whole (${pending.length} → ${half} + ${pending.length - half})`,
            0,
          );
          await this.send(operation, pending.slice(0, half), 1, found);
          await this.send(operation, pending.slice(half), 1, found);
          return;
        }
        // Records whose request got no answer stay journalled in flight: the next run reads them first.
        if (attempt >= retries) {
          this.forgetRefused(operation, pending, error);
          throw new Stop(error);
        }
        const delay = this.retrying.backoff(attempt, error.retryAfterMs);
        this.reports.retried(operation, pending.length, attempt + 1, error.message, delay);
        if (!(await this.retrying.wait(delay))) throw new Stop('interrupted');
      }
    }
  }

  /**
   * A batch that stops the run on an error that says the mapper applied none of it (it was never
   * reached, or refused the request as a whole): its in-flight marks are taken back, so a run
   * that sent nothing else leaves an empty journal and names no resume. Only while no request
   * for these records went unanswered: such a mark must stay for the next run to read them back.
   */
  private forgetRefused(operation: WriteOperation, pending: readonly Work[], error: unknown): void {
    if (!(error instanceof SparctlError) || !NEVER_APPLIED.has(error.code) || (error instanceof UnavailableError && error.outcomeUnknown))
      return;
    if (pending.length === 0 || pending.some((w) => w.answerLost) || this.journal.forget === undefined) return;
    try {
      this.journal.forget(
        pending.map((w) => w.seq),
        operation,
      );
    } catch (failure) {
      if (!(failure instanceof SparctlError)) throw failure;
      // Left in flight: the next run reads the records back first, as after any stop.
    }
  }

  /** After an unknown outcome: settle what the mapper shows as done, return what is still to send. */
  async reconcile(operation: WriteOperation, pending: readonly Work[]): Promise<Work[]> {
    return (await this.readBack(operation, pending)).rest;
  }

  /** reconcile, with the state read. */
  private async readBack(operation: WriteOperation, pending: readonly Work[]): Promise<{ rest: Work[]; state: StateRead['state'] }> {
    const { state } = await this.reader.read([...new Set(pending.map((w) => w.id))], { mustKnow: true });
    const rest: Work[] = [];
    const entries: JournalEntry[] = [];
    for (const w of pending) {
      if (effectShown(operation, state.get(w.id), w, this.options.strategies))
        entries.push(
          this.settleEntry(operation, w, shownFate(operation, w, this.options.strategies), OUTCOME_OF[operation], null, LOST_ANSWER),
        );
      else rest.push(w);
    }
    if (entries.length > 0) this.journal.settle(entries);
    return { rest, state };
  }

  /**
   * Refusals a record's own lost request could have caused: what the mapper shows done is settled
   * as after a lost answer; the rest stand (an upsert's duplicate link is planned from the state).
   */
  private async settleRefused(operation: WriteOperation, refused: readonly Refused[], found: Work[]): Promise<void> {
    const rest = new Set(
      await this.reconcile(
        operation,
        refused.map((r) => r.w),
      ),
    );
    const entries: JournalEntry[] = [];
    for (const { w, result } of refused) {
      if (!rest.has(w)) continue;
      if (operation === 'link' && w.mode === 'upsert') found.push(w);
      else entries.push(this.refusalEntry(operation, w, result));
    }
    if (entries.length > 0) this.journal.settle(entries);
  }

  /**
   * Records the mapper keeps answering without a result for: rejected once it does not show them
   * applied — but an upsert's link whose ID the mapper shows linked otherwise wrote nothing (a
   * duplicate), and is planned from the state as one answered so is (`found`).
   */
  private async rejectUnanswered(operation: WriteOperation, unanswered: readonly Work[], found: Work[]): Promise<void> {
    const { rest, state } = await this.readBack(operation, unanswered);
    const entries: JournalEntry[] = [];
    for (const w of rest) {
      const current = state.get(w.id);
      if (operation === 'link' && w.mode === 'upsert' && current !== undefined && current !== null) found.push(w);
      else
        entries.push(
          this.settleEntry(
            operation,
            w,
            'rejected',
            'rejected',
            'mapper.result_missing',
            'the mapper kept answering without a result for this record, and does not show it applied',
          ),
        );
    }
    if (entries.length > 0) this.journal.settle(entries);
  }

  private call(operation: WriteOperation, items: readonly Work[]): Promise<ItemResult[]> {
    const context = this.options.context;
    switch (operation) {
      case 'link':
        return this.mapper.link(items.map(linkItemOf), context);
      case 'update':
        return this.mapper.update(items.map(updateItemOf), context);
      case 'unlink':
        return this.mapper.unlink(items.map(unlinkItemOf), context);
    }
  }

  /**
   * Settles the records the answer has a result for; returns those it has none for, and the
   * refusals to read back first (Refused).
   */
  private settleResults(
    operation: WriteOperation,
    items: readonly Work[],
    results: readonly ItemResult[],
    found: Work[],
  ): { unanswered: Work[]; refused: Refused[] } {
    const byRef = new Map<string, ItemResult>();
    for (const result of results) byRef.set(result.reference_id, result);
    const entries: JournalEntry[] = [];
    const unanswered: Work[] = [];
    const refused: Refused[] = [];
    for (const w of items) {
      const result = byRef.get(referenceOf(w));
      if (!result) {
        unanswered.push(w);
        continue;
      }
      if (w.answerLost && refusedAsLanded(operation, result)) {
        refused.push({ w, result });
        continue;
      }
      if (operation === 'link' && w.mode === 'upsert' && classifyResult(operation, result) === 'already_linked') {
        found.push(w);
        continue;
      }
      entries.push(this.refusalEntry(operation, w, result));
    }
    this.journal.settle(entries);
    this.reports.progress(false);
    return { unanswered, refused };
  }

  /** The entry for a record settled by its answer: applied, refused, or kept (a conditional update another writer got to first). */
  private refusalEntry(operation: WriteOperation, w: Work, result: ItemResult): JournalEntry {
    if (operation === 'update' && result.status_reason_code === ReasonCode.faChangedSinceRead) {
      // A conditional update whose FA another writer changed after the plan read it: kept, as
      // decide() keeps it when the read itself shows the change (the same code and message).
      this.reports.fate(w.report, w, 'none', 'unchanged', { id: w.id, code: KEPT_CHANGED.code, message: KEPT_CHANGED.message });
      return { seq: w.seq, state: 'settled', operation: 'none', fate: 'unchanged', outcome: null, ...KEPT_CHANGED };
    }
    const outcome = classifyResult(operation, result);
    const fate: RecordFate = outcome === 'linked' || outcome === 'updated' || outcome === 'unlinked' ? 'applied' : 'rejected';
    return this.settleEntry(
      operation,
      w,
      fate,
      outcome,
      result.status_reason_code,
      result.status_reason_message,
      typeof result.fa === 'string' ? result.fa : undefined,
    );
  }

  settle(operation: WriteOperation, w: Work, fate: RecordFate, outcome: Outcome, code: string | null, message: string | null): void {
    this.journal.settle([this.settleEntry(operation, w, fate, outcome, code, message)]);
  }

  private settleEntry(
    operation: WriteOperation,
    w: Work,
    fate: RecordFate,
    outcome: Outcome,
    code: string | null,
    message: string | null,
    fa?: string,
  ): JournalEntry {
    this.reports.fate(w.report, w, operation, fate, { id: w.id, outcome, code, message, fa });
    return { seq: w.seq, state: 'settled', operation, fate, outcome, code, message };
  }
}

export const referenceOf = (w: { readonly seq: number }) => `q${w.seq}`;

/**
 * Errors that say the mapper applied none of a request: it was never reached (no connection, no
 * such host, no token to send it with), or it refused the request as a whole before acting on
 * it (404/405, 400, 413, 429, a 4xx Retry-After). Not 401/403: a gateway that inspects answers
 * may send a 403 for one the mapper gave after applying the request.
 */
const NEVER_APPLIED = new Set([
  'remote.refused',
  'remote.host_unknown',
  'remote.connect_timeout',
  'auth.token_unavailable',
  'remote.wrong_url',
  'remote.request_malformed',
  'remote.too_large',
  'remote.rate_limited',
  'remote.retry_later',
]);

/**
 * The refusals a record's own earlier request, landing late, would cause: a duplicate link, an
 * unlink of an ID gone. (A conditional update's "changed since read" comes from the local mapper
 * alone, whose calls are never lost.)
 */
function refusedAsLanded(operation: WriteOperation, result: ItemResult): boolean {
  if (result.status === 'succ' || operation === 'update') return false;
  const outcome = classifyResult(operation, result);
  return operation === 'link' ? outcome === 'already_linked' : outcome === 'not_found';
}

/**
 * Where a record came from, for the mapper's audit log: its line (and, in a reject file fed
 * back, the line of the input first read), or what its producer says (an ODK submission).
 */
const originOf = (w: Work): string | undefined =>
  w.line === undefined ? w.origin : w.originalLine === undefined ? `line ${w.line}` : `line ${w.line} (original line ${w.originalLine})`;

function unlinkItemOf(w: Work): UnlinkItem {
  const item: { -readonly [K in keyof UnlinkItem]: UnlinkItem[K] } = { reference_id: referenceOf(w), id: w.id };
  const origin = originOf(w);
  if (origin !== undefined) item.origin = origin;
  // A conditional unlink names the FA it expects, so a mapper that can (the local one) checks
  // it in the same transaction as the unlink.
  if ('onlyIfFa' in w.record && w.record.onlyIfFa !== undefined) {
    const held = storedString(w.planned, undefined);
    if (held !== undefined) item.fa = held;
  }
  return item;
}

/**
 * An update item. A conditional record (`onlyIfFa`) names the FA string its plan read, so a
 * mapper that can (the local one) updates only while it still holds that FA, in the update's own
 * transaction: the plan's read and the write are apart, and another writer may come in between.
 */
function updateItemOf(w: Work): UpdateItem {
  const item = linkItemOf(w);
  if (!('onlyIfFa' in w.record) || w.record.onlyIfFa === undefined) return item;
  const held = storedString(w.planned, undefined);
  return held === undefined ? item : { ...item, expectedFa: held };
}

/** The request item for a record, built field by field: spreading records per item is slow. */
function linkItemOf(w: Work): LinkItem {
  const record = w.record as MappingRecord;
  const item: { -readonly [K in keyof LinkItem]: LinkItem[K] } = { reference_id: referenceOf(w), id: record.id, fa: record.fa };
  const origin = originOf(w);
  if (origin !== undefined) item.origin = origin;
  if (record.name !== undefined) item.name = record.name;
  if (record.phone_number !== undefined) item.phone_number = record.phone_number;
  if (record.additional_info !== undefined) item.additional_info = record.additional_info;
  if (w.row !== undefined) item.row = w.row;
  if (w.faValue !== undefined) item.faValue = w.faValue;
  return item;
}
