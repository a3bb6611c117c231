import type { RecordFate } from './bulk/events.js';
import type { Operation, Outcome } from './results.js';

/**
 * The Journal port: what a bulk job remembers between runs, by input position.
 *
 * Invariant: a record is journalled in flight before any request that carries it is sent, and
 * a record journalled settled is never sent again — so after a kill at any instant every record
 * is settled, or in flight (its outcome is found by reading the mapper), or was never sent.
 * Entries hold positions and outcomes, never FA values.
 */

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
  /** Entries left by earlier runs of the same job, by seq: the last state of each record. */
  load(): ReadonlyMap<number, JournalEntry>;
  markInflight(seqs: readonly number[], operation: Operation): void;
  settle(entries: readonly JournalEntry[]): void;
  /**
   * Takes back the in-flight marks of `seqs` (one batch, marked with `operation` by this run and
   * never by an earlier one): the mapper refused the request before applying any of it.
   */
  forget?(seqs: readonly number[], operation: Operation): void;
}

/** A journal that lives as long as the run: single records and dry runs, which have nothing to resume. */
export class MemoryJournal implements Journal {
  readonly entries = new Map<number, JournalEntry>();

  load(): ReadonlyMap<number, JournalEntry> {
    return new Map(this.entries);
  }

  markInflight(seqs: readonly number[], operation: Operation): void {
    for (const seq of seqs) this.entries.set(seq, { seq, state: 'inflight', operation });
  }

  settle(entries: readonly JournalEntry[]): void {
    for (const entry of entries) this.entries.set(entry.seq, entry);
  }

  forget(seqs: readonly number[], operation: Operation): void {
    for (const seq of seqs) {
      const entry = this.entries.get(seq);
      if (entry?.state === 'inflight' && entry.operation === operation) this.entries.delete(seq);
    }
  }
}
