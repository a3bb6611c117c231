import type { FinancialAddress, ResolveScope } from './model.js';
import type { ItemResult } from './results.js';
import type { Strategy, StrategyRow } from './strategy/strategy.js';

/**
 * The Mapper port (DESIGN.md §3): one interface, implemented by the embedded SQLite mapper and
 * by the HTTP mapper. Every call is a batch and answers with exactly one result per item,
 * correlated by `reference_id` (never by position). A call that fails as a whole throws a
 * SparctlError instead of returning results.
 */

interface ItemBase {
  /** Unique within the call; the result carries it back. */
  readonly reference_id: string;
  /** Where the item came from, e.g. "beneficiaries.csv:12"; recorded in the local audit log. */
  readonly origin?: string;
}

export interface LinkItem extends ItemBase {
  readonly id: string;
  readonly fa: FinancialAddress;
  readonly name?: string;
  readonly phone_number?: string;
  readonly additional_info?: Record<string, unknown>[];
  /** sparctl's own, never sent over the wire: the row the item was made from (see ItemRow). */
  readonly row?: ItemRow;
  /**
   * sparctl's own, never sent: the string `fa` is stored as, which sparctl built and read back
   * with the strategy of that id when it checked the record (the same the mapper's strategies give).
   */
  readonly faValue?: string;
}

/**
 * The input row a bulk item was made from (read through a mapping file), with its run's context. A mapper that keeps
 * a digest of it with the mapping it writes (the local one) can tell a later run of the same
 * input which IDs still hold exactly what that input wrote (storedFas). Equal rows must
 * make equal items.
 */
export interface ItemRow {
  /** Everything the item depends on besides `text` (sparctl's version, the mapping file, DFSP data, header…), one string for a whole run. */
  readonly context: string;
  /** The row, as written or as its cells. */
  readonly text: string;
}

export interface UpdateItem extends LinkItem {
  /**
   * sparctl's own, never sent over the wire: when given, the mapping is updated only if its stored
   * FA string is still exactly this — a compare-and-set, checked by a mapper that can (the local
   * one) in the update's own transaction. Otherwise the item is rejected with
   * ReasonCode.faChangedSinceRead and nothing is written: a conditional write (`onlyIfFa`, `fa
   * edit`) never replaces a change another writer made after the write was planned.
   */
  readonly expectedFa?: string;
}

export interface ResolveItem extends ItemBase {
  readonly id: string;
  readonly scope: ResolveScope;
}

export interface UnlinkItem extends ItemBase {
  readonly id: string;
  /** When given, the mapping is removed only if its stored FA string is exactly this. */
  readonly fa?: string;
}

export interface MapperCallContext {
  /** Who or what asked, for the audit log: e.g. "sparctl link (user ana)". */
  readonly source: string;
}

/** An FA as the mapper stores it: the constructed string and the strategy that built it. */
export interface StoredFa {
  readonly fa: string;
  readonly strategyId: number | undefined;
  /**
   * The stored name and communication phone (null: none), when the mapper tells them (the
   * local one does; SPAR's resolve does not). A bulk upsert then also updates a record whose
   * name or phone changed while its FA did not.
   */
  readonly name?: string | null;
  readonly phone?: string | null;
  /** The stored additional_info text (null: none), when the mapper tells it: markRows checks it did not change. */
  readonly additionalInfo?: string | null;
}

/** storedFas's answer for an ID that still holds what an item made from the given row wrote. */
export const SAME_ROW = 'same-row';

export interface Mapper {
  /** A short human description of the target, e.g. "local ~/.local/share/sparctl/mapper.db". */
  readonly target: string;
  /** Identity of the store behind the mapper when it has one (a new database gets a new one). */
  readonly instanceId?: string;
  link(items: readonly LinkItem[], context: MapperCallContext): Promise<ItemResult[]>;
  update(items: readonly UpdateItem[], context: MapperCallContext): Promise<ItemResult[]>;
  resolve(items: readonly ResolveItem[], context: MapperCallContext): Promise<ItemResult[]>;
  unlink(items: readonly UnlinkItem[], context: MapperCallContext): Promise<ItemResult[]>;
  /**
   * Optional, for mappers that can read their store directly: the stored FA of each linked ID
   * (an ID that is not linked is absent). A bulk upsert then compares strings instead of
   * resolving and deconstructing. `itemRows` (ID → row of the record at hand): an ID whose
   * mapping was last written by an item made from an equal row, and not changed since, is
   * answered SAME_ROW instead, without its values.
   */
  storedFas?(
    ids: readonly string[],
    context: MapperCallContext,
    itemRows?: ReadonlyMap<string, ItemRow>,
  ): Promise<Map<string, StoredFa | typeof SAME_ROW>>;
  /**
   * Optional, with storedFas's `itemRows`: for each entry, a bulk upsert found the ID holding what
   * the record made from `row` asks for although no digest of that row was kept with it
   * (written before row digests were kept, or by other means). The mapper keeps the row's digest
   * with the stored mapping if it still holds exactly `stored`, so that the next run of the same
   * input finds it unchanged by its row alone.
   */
  markRows?(
    entries: readonly { readonly id: string; readonly row: ItemRow; readonly stored: StoredFa }[],
    context: MapperCallContext,
  ): Promise<void>;
  /**
   * Optional: gets what a write needs before it is sent (an OAuth2 token). The bulk pipeline
   * calls it before it journals a batch in flight: a failure here sent nothing, so a run stopped
   * by it has nothing in flight to read back.
   */
  ready?(): Promise<void>;
  /** The strategies the mapper can use, by id (one stored unusable is left out: see strategyRows). */
  strategies(): Promise<Strategy[]>;
  /** Every stored strategy as written, usable or not, where the mapper stores them (strategy list/validate). */
  strategyRows?(): Promise<StrategyRow[]>;
  close(): Promise<void>;
}
