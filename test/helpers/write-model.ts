import type { RecordFate } from '../../src/core/bulk/events.js';
import type { BulkMode } from '../../src/core/bulk/types.js';
import type { Operation, Outcome } from '../../src/core/results.js';

/**
 * The reference model of the write pipeline: what a bulk job must leave in the mapper and
 * report, computed the simplest way there is — no batches, no journal, no retries. The
 * randomized tests run the real thing through kills and faults and compare with this.
 *
 * For every ID, its last row decides; earlier rows are superseded. A row a filter leaves out is
 * skipped and is no row of its ID. The last row is applied to
 * the state the ID had before the job: an upsert links, updates or leaves it; a strict
 * operation is applied as SPAR would (link of a linked ID, update or unlink of a missing one:
 * rejected). Every ID is written at most once.
 */

export interface ModelRow {
  readonly line: number;
  /** The ID the row names; undefined when it names none. */
  readonly id: string | undefined;
  /** False for a row the input checks reject (the mapper never sees it). */
  readonly valid: boolean;
  /** A filter leaves the row out: reported skipped, and no row of its ID (it supersedes nothing). */
  readonly skipped?: boolean;
  readonly mode: BulkMode;
  /** The FA string the row stores (link, update, upsert). */
  readonly fa?: string;
  readonly name?: string;
  readonly phone?: string;
}

export interface ModelEntry {
  readonly fa: string;
  readonly name: string | null;
  readonly phone: string | null;
}

export interface ModelReport {
  /** The fates the row may end with: a lost answer may turn a strict write's fate into `confirmed`. */
  readonly fates: readonly RecordFate[];
  readonly operation?: Exclude<Operation, 'resolve'>;
  readonly outcome?: Outcome;
  /** For a superseded row: the line of the row that decides. */
  readonly supersededBy?: number;
}

export interface ModelResult {
  readonly state: Map<string, ModelEntry>;
  readonly reports: Map<number, ModelReport>;
  /**
   * The writes the job makes, per ID: at most one. `mayBeMissing`: a strict update that the mapper
   * showed before the job (the same FA, no name or phone to compare where the mapper does not tell
   * them): a run interrupted after journalling it reads it back as applied and does not send it
   * again, so the write may be absent — the state is the same either way.
   */
  readonly writes: Map<string, { readonly operation: Exclude<Operation, 'resolve'>; readonly line: number; readonly mayBeMissing?: true }>;
}

/**
 * `comparesNamePhone`: whether the mapper tells name and phone when read (the local mapper does,
 * a remote SPAR's resolve does not: an upsert then compares the FA alone).
 */
export function runModel(
  initial: ReadonlyMap<string, ModelEntry>,
  rows: readonly ModelRow[],
  /**
   * `linksFirst`: upserts may be sent as links before a read (upsert-order.ts), so a lost answer
   * to one whose ID already held the row leaves the run unable to tell: `confirmed`.
   */
  options: { comparesNamePhone: boolean; linksFirst?: boolean },
): ModelResult {
  const state = new Map(initial);
  const reports = new Map<number, ModelReport>();
  const writes = new Map<string, { operation: Exclude<Operation, 'resolve'>; line: number; mayBeMissing?: true }>();
  const last = new Map<string, ModelRow>();
  for (const row of rows) if (row.id !== undefined && !row.skipped) last.set(row.id, row);
  for (const row of rows) {
    if (row.skipped) {
      reports.set(row.line, { fates: ['skipped'] });
      continue;
    }
    if (row.id === undefined) {
      reports.set(row.line, { fates: ['rejected'] });
      continue;
    }
    const decider = last.get(row.id)!;
    if (decider !== row) {
      reports.set(row.line, { fates: ['superseded'], supersededBy: decider.line });
      continue;
    }
    if (!row.valid) {
      reports.set(row.line, { fates: ['rejected'] });
      continue;
    }
    const before = initial.get(row.id);
    const wanted: ModelEntry = { fa: row.fa ?? '', name: row.name || null, phone: row.phone || null };
    const merged: ModelEntry =
      before === undefined ? wanted : { fa: wanted.fa, name: row.name || before.name, phone: row.phone || before.phone };
    const write = (operation: Exclude<Operation, 'resolve'>, fates: readonly RecordFate[], mayBeMissing = false) => {
      writes.set(row.id!, { operation, line: row.line, ...(mayBeMissing ? { mayBeMissing: true as const } : {}) });
      if (operation === 'unlink') state.delete(row.id!);
      else state.set(row.id!, operation === 'link' ? wanted : merged);
      reports.set(row.line, {
        fates,
        operation,
        outcome: operation === 'link' ? 'linked' : operation === 'update' ? 'updated' : 'unlinked',
      });
    };
    const holds =
      before !== undefined &&
      before.fa === wanted.fa &&
      (!options.comparesNamePhone || ((!row.name || row.name === before.name) && (!row.phone || row.phone === before.phone)));
    switch (row.mode) {
      case 'upsert':
        // A link an earlier run left in flight does not say whether it was read first: a kill may
        // leave it `confirmed`.
        if (before === undefined) write('link', ['applied', 'confirmed']);
        else if (holds) reports.set(row.line, { fates: options.linksFirst ? ['unchanged', 'confirmed'] : ['unchanged'] });
        else write('update', ['applied']);
        break;
      case 'link':
        if (before === undefined) write('link', ['applied', 'confirmed']);
        // A lost answer to a refused link: read back, the mapper holds what was asked.
        else
          reports.set(row.line, {
            fates:
              before.fa === wanted.fa && (!options.comparesNamePhone || sameExtras(before, row)) ? ['rejected', 'confirmed'] : ['rejected'],
            operation: 'link',
            outcome: 'already_linked',
          });
        break;
      case 'update':
        if (before === undefined) reports.set(row.line, { fates: ['rejected'], operation: 'update', outcome: 'not_found' });
        // Where the mapper tells name and phone, an update that would change nothing is not sent.
        else if (holds && options.comparesNamePhone) reports.set(row.line, { fates: ['unchanged'] });
        else write('update', ['applied', 'confirmed'], before.fa === wanted.fa && !options.comparesNamePhone && !row.name && !row.phone);
        break;
      case 'unlink':
        if (before === undefined) reports.set(row.line, { fates: ['rejected', 'confirmed'], operation: 'unlink', outcome: 'not_found' });
        else write('unlink', ['applied', 'confirmed']);
        break;
    }
  }
  return { state, reports, writes };
}

/** Whether a read-back shows name and phone as the row asks (empty: anything). */
function sameExtras(before: ModelEntry, row: ModelRow): boolean {
  return (!row.name || row.name === before.name) && (!row.phone || row.phone === before.phone);
}
