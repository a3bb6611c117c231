import type { Journal, JournalEntry } from '../../src/core/bulk/engine.js';

/** A journal in memory, shared by the runs of one test to check resume without files. */
export class MemoryJournal implements Journal {
  readonly entries = new Map<number, JournalEntry>();
  load() {
    return new Map(this.entries);
  }
  markInflight(seqs: readonly number[], operation: JournalEntry['operation']) {
    for (const seq of seqs) this.entries.set(seq, { seq, state: 'inflight', operation });
  }
  settle(entries: readonly JournalEntry[]) {
    for (const entry of entries) this.entries.set(entry.seq, entry);
  }
}
