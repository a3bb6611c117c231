import type { Mapper, MapperCallContext } from '../mapper.js';
import type { Strategy } from '../strategy/strategy.js';
import { runBulk } from './engine.js';
import type { BulkSummary, RecordEvent } from './events.js';
import { MemoryJournal } from '../journal.js';
import { indexOf } from './row-index.js';
import type { BulkInputRecord, BulkMode } from './types.js';

/**
 * A few records given in memory — the flags of `link`/`update`/`unlink`, the change `fa edit`
 * confirms — through the same write pipeline as a file: planned, checked, sent with retries and
 * read back after a lost answer, or only planned in a dry run. Nothing to resume, so the
 * journal lives in memory.
 */
export async function writeRecords(
  mapper: Mapper,
  records: readonly BulkInputRecord[],
  options: {
    readonly mode: BulkMode;
    readonly context: MapperCallContext;
    readonly dryRun?: boolean;
    readonly retries: number;
    readonly strategies: ReadonlyMap<number, Strategy>;
    readonly backoffMs?: { readonly base: number; readonly max: number };
    readonly shouldStop?: () => boolean;
    /** For records conditional on the FA held (`onlyIfFa`): the digest they name it by (BulkOptions.faDigest). */
    readonly faDigest?: (fa: string) => string;
  },
): Promise<{ events: RecordEvent[]; summary: BulkSummary; inFlight: readonly BulkInputRecord[] }> {
  const events: RecordEvent[] = [];
  async function* input() {
    yield records;
  }
  const journal = new MemoryJournal();
  const summary = await runBulk(mapper, input(), journal, {
    ...options,
    index: indexOf(
      records.map((record) => record.key),
      records.map((record) => record.line),
    ),
    batchSize: Math.max(1, records.length),
    concurrency: 1,
    onEvent: (event) => {
      if (event.type === 'record') events.push(event);
    },
  });
  // Sent and never settled (a stop after a lost answer): whether they were applied is unknown.
  const inFlight = records.filter((record) => journal.entries.get(record.seq)?.state === 'inflight');
  return { events, summary, inFlight };
}
