import type { ItemRow } from '../mapper.js';
import type { MappingRecord } from '../request-items.js';

/** What a bulk run's records ask for: upsert (link new, update changed) or one operation as asked. */
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
  /**
   * The line of the row in the input an earlier round read, when this input is a reject file
   * fed back that says it (its `sparctl_line`): a reject file and the audit log name it, so a
   * row rejected again still points into the file the user first gave.
   */
  readonly originalLine?: number;
  readonly raw?: Readonly<Record<string, unknown>>;
  /** Where the record came from, for the results file (e.g. an ODK submission's ids). */
  readonly origin?: string;
  /**
   * The beneficiary ID the row names, read the way the row index read it (RowIndex): the ID of
   * a valid record, and for an invalid one whatever ID can still be read from it. Undefined
   * when the row names none.
   */
  readonly key: string | undefined;
  /**
   * What the record is made from, when its producer can tell (import-csv): the input row it is
   * made from (LinkItem.row), which the mapper keeps a digest of with what the record writes. In
   * an upsert, a record whose mapper row still holds what an equal row wrote is reported
   * unchanged without reading `parsed` — which the producer may therefore compute only when
   * first read. Only for records that take the run's mode (no per-row operation).
   */
  readonly row?: ItemRow;
  /**
   * A filter left the row out (a mapping's `skip`/`where`): reported `skipped`, never mapped or
   * sent. Its `key` is then undefined, in the row index as here, so it is no row of its ID.
   */
  readonly skip?: SkipReason;
  readonly parsed:
    | {
        readonly ok: true;
        readonly value: MappingRecord | UnlinkRecord;
        readonly mode?: BulkMode;
        /** The string the record's FA is stored as, already built and read back by its strategy (toBulkRecord). */
        readonly faValue?: string;
      }
    | { readonly ok: false; readonly problems: readonly InputProblem[] };
}

/** Why a filter left a row out (core/mapping.ts filterRow), with the ID the row names, for its report. */
export interface SkipReason {
  readonly code: string;
  /** The filter's rule in words: the summary counts skipped rows by it. */
  readonly rule: string;
  readonly message: string;
  readonly id?: string | undefined;
}

/**
 * An unlink. With `onlyIfFa`, only while the mapper holds the FA whose digest (BulkOptions
 * faDigest) this is: an importer undoing what it wrote leaves alone what someone changed since.
 */
export interface UnlinkRecord {
  readonly id: string;
  readonly onlyIfFa?: string;
}

/** Input records one by one, or in arrays (cheaper: one await per array). */
export type BulkInput = AsyncIterable<BulkInputRecord | readonly BulkInputRecord[]>;
