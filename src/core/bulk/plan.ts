import type { StoredFa } from '../mapper.js';
import type { FinancialAddress } from '../model.js';
import type { MappingRecord } from '../request-items.js';
import type { Operation, Outcome } from '../results.js';
import { pythonFormat } from '../strategy/python-format.js';
import { buildCheckedFa, constructFa, type Strategy } from '../strategy/strategy.js';
import type { BulkMode, UnlinkRecord } from './types.js';

/**
 * Planning one beneficiary's write: what its effective row asks for, against what the mapper
 * holds now. Pure: no mapper, no journal.
 *
 * Invariant: the job writes at most one operation per ID (its last row's), so the state an ID
 * is planned against is the state it had before the job — on the first run and on every resume
 * alike — and planning the same row against the same state always gives the same decision.
 */

type Fa = Readonly<Record<string, unknown>> | null;
/** What a mapper holds for an ID: its FA as resolved (fields), as stored (a string), or null when not linked. */
export type Current = Fa | StoredFa;

export interface Wanted {
  readonly mode: BulkMode;
  readonly record: MappingRecord | UnlinkRecord;
  /** The string the record's FA is stored as, when already built. */
  readonly faValue: string | undefined;
  /** The state the record was planned against, when the run read it (undefined: not read). */
  readonly planned?: Current | undefined;
}

export type Decision =
  | { readonly kind: 'send'; readonly operation: Exclude<Operation, 'resolve'> }
  /** Nothing to send; `code`/`message` say why when it is not plain "already so". */
  | { readonly kind: 'unchanged'; readonly code?: string; readonly message?: string }
  /** What the mapper would answer, known from the state (dry runs say it without asking). */
  | {
      readonly kind: 'refused';
      readonly operation: Exclude<Operation, 'resolve'>;
      readonly outcome: Outcome;
      readonly code: string;
      readonly message: string;
    };

/** Why a conditional write (`onlyIfFa`) is left undone: the mapper holds an FA other than the one it may replace. */
export const KEPT_CHANGED = {
  code: 'kept.changed_since',
  message: 'kept: the FA was changed in the mapper since it was written, so it is not replaced',
} as const;

/**
 * The operation for a row given the current state (`undefined`: not read, as for a strict
 * link that is sent as asked). Strict modes are sent as asked and the mapper's answer decides;
 * with the state known (`predict`, for a dry run) the refusals the mapper would give are said.
 */
export function decide(
  wanted: Wanted,
  current: Current | undefined,
  strategies: ReadonlyMap<number, Strategy> | undefined,
  predict = false,
  faDigest?: (fa: string) => string,
): Decision {
  const linked = current !== undefined && current !== null;
  const onlyIf = 'onlyIfFa' in wanted.record ? wanted.record.onlyIfFa : undefined;
  if (onlyIf !== undefined && wanted.mode !== 'unlink' && linked) {
    // A write that only replaces what its writer wrote there (import-odk's reapply, a change of owner).
    const held = storedString(current, strategies);
    if (held === undefined || faDigest === undefined || faDigest(held) !== onlyIf) return { kind: 'unchanged', ...KEPT_CHANGED };
  }
  if (wanted.mode === 'unlink' && onlyIf !== undefined) {
    // An undo of one's own write: only while the mapper still holds what was written.
    if (!linked) return { kind: 'unchanged', code: 'kept.not_linked', message: 'not linked any more: nothing to undo' };
    const held = storedString(current, strategies);
    if (held === undefined || faDigest === undefined || faDigest(held) !== onlyIf) {
      return {
        kind: 'unchanged',
        code: 'kept.changed_since',
        message: 'kept: the FA was changed in the mapper since it was written, so it is not undone',
      };
    }
    return { kind: 'send', operation: 'unlink' };
  }
  switch (wanted.mode) {
    case 'upsert':
      if (!linked) return { kind: 'send', operation: 'link' };
      return holds(current, wanted, strategies) ? { kind: 'unchanged' } : { kind: 'send', operation: 'update' };
    case 'link':
      if (predict && linked)
        return {
          kind: 'refused',
          operation: 'link',
          outcome: 'already_linked',
          code: 'rjct.reference_id.duplicate',
          message: 'ID and FA are already mapped',
        };
      return { kind: 'send', operation: 'link' };
    case 'update':
      if (predict && current === null)
        return {
          kind: 'refused',
          operation: 'update',
          outcome: 'not_found',
          code: 'rjct.reference_id.duplicate',
          message: 'ID doesnt exist please link first',
        };
      // Left alone only when the mapper told everything an update writes (the local one does);
      // a remote SPAR's resolve tells no name or phone, so there an update is always sent.
      if (linked && isStored(current) && current.name !== undefined && holds(current, wanted, strategies)) return { kind: 'unchanged' };
      return { kind: 'send', operation: 'update' };
    case 'unlink':
      if (predict && current === null)
        return {
          kind: 'refused',
          operation: 'unlink',
          outcome: 'not_found',
          code: 'rjct.id.invalid',
          message: 'ID doesnt exist please link first',
        };
      return { kind: 'send', operation: 'unlink' };
  }
}

/**
 * True when the mapper shows the effect of `operation` for this row: what a lost answer is
 * checked with. An update writes FA, name and phone at once, so when the FA it was planned
 * against differed from the one it asks for, that FA now shows the update applied. An update
 * that carries a name or phone, read back from a mapper that does not tell them (SPAR's
 * resolve), when the FA was the one asked for already (or was not read before sending, as after
 * a kill), shows nothing: it is sent again rather than taken as applied — updating to the same
 * values twice is harmless, leaving a corrected phone unapplied is not.
 */
export function effectShown(
  operation: Exclude<Operation, 'resolve'>,
  current: Current | undefined,
  wanted: Wanted,
  strategies: ReadonlyMap<number, Strategy> | undefined,
): boolean {
  if (operation === 'unlink') return current === null;
  // An upsert is planned from the state it compares with: it sent an update only when that
  // comparison failed, so the comparison passing now shows the update.
  if (operation === 'update' && wanted.mode !== 'upsert' && !tellsNameAndPhone(current) && carriesNameOrPhone(wanted)) {
    const faChanged =
      wanted.planned !== undefined && 'fa' in wanted.record && !sameFa(wanted.planned, wanted.record.fa, strategies, wanted.faValue);
    if (!faChanged) return false;
  }
  return holds(current, wanted, strategies);
}

function tellsNameAndPhone(current: Current | undefined): boolean {
  return current !== undefined && current !== null && isStored(current) && current.name !== undefined;
}

function carriesNameOrPhone(wanted: Wanted): boolean {
  const record = wanted.record;
  return 'fa' in record && (!!record.name || !!record.phone_number);
}

/**
 * True when the mapper holds what the record asks for: its FA and, when the mapper tells them,
 * its name and phone (a record without one leaves the stored one alone, as SPAR does).
 */
export function holds(current: Current | undefined, wanted: Wanted, strategies?: ReadonlyMap<number, Strategy>): boolean {
  const record = wanted.record;
  if (!('fa' in record) || !sameFa(current, record.fa, strategies, wanted.faValue)) return false;
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
export function sameFa(
  current: Current | undefined,
  desired: FinancialAddress,
  strategies?: ReadonlyMap<number, Strategy>,
  desiredValue?: string,
): boolean {
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
      return (
        pythonFormat(strategy.template, { ...values, fa_type: desired.fa_type, strategy_id: String(desired.strategy_id) }) ===
        constructFa(strategy, desired)
      );
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

/** The FA string the mapper holds: as stored, or rebuilt from a resolve's fields with its strategy. */
export function storedString(current: Current | undefined, strategies?: ReadonlyMap<number, Strategy>): string | undefined {
  if (current === undefined || current === null) return undefined;
  if (isStored(current)) return current.fa;
  const strategy = strategies?.get(Number(current['strategy_id']));
  if (strategy === undefined) return undefined;
  const values: Record<string, string> = {};
  for (const [key, value] of Object.entries(current)) if (value !== null && value !== undefined) values[key] = String(value);
  try {
    return pythonFormat(strategy.template, values);
  } catch {
    return undefined;
  }
}

export function isStored(current: Readonly<Record<string, unknown>> | StoredFa): current is StoredFa {
  if (typeof current !== 'object') return false;
  // A resolved FA has FA fields (strategy_id, never strategyId).
  return 'strategyId' in current && typeof current['fa'] === 'string';
}
