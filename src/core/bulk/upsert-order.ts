/**
 * Whether an upsert reads the mapper before it writes (read-first) or sends a link and reads
 * only the IDs the mapper says are linked already (link-first).
 *
 * Invariant: the order changes which requests are sent, never an ID's end state: a link the
 * mapper refuses as a duplicate writes nothing, so the ID is then planned, as in read-first,
 * against the state it had before the job.
 *
 * Read-first costs a resolve per ID and a write per new or changed one; link-first a link per
 * ID and a resolve (and maybe an update) per ID that exists. So link-first pays when fewer than
 * half the IDs exist (a first import), read-first when more do (a re-run). `auto` sends its first
 * chunk link-first, unread: the mapper's answers to it are the first sample, and a re-run pays
 * for them with one chunk of refused links. Chunks planned before any answer is in read a small
 * sample first; from then on the order follows the share of IDs found linked so far. (Reading a
 * sample before the first chunk too held every first request back by a round trip: 20,000 new
 * IDs, 8 workers, 4 in flight, ended 5% later.)
 */

export type UpsertOrderSetting = 'read-first' | 'link-first' | 'auto';

export class UpsertOrder {
  private linked = 0;
  private seen = 0;
  /** Whether the first chunk's order was given: link-first, unread, under `auto`. */
  private started = false;

  constructor(
    readonly setting: UpsertOrderSetting,
    /** IDs read first to start `auto` with. */
    readonly sampleSize: number,
  ) {}

  /**
   * For the chunk being planned: true, link first; false, read first; undefined, not known yet
   * (`auto` with no answer in, past its first chunk): read a sample first.
   */
  orderForChunk(): boolean | undefined {
    if (this.setting !== 'auto') return this.setting === 'link-first';
    if (this.seen > 0) return this.linkFirst();
    if (this.started) return undefined;
    this.started = true;
    return true;
  }

  /** What the answers so far say: true, link first; false, read first; undefined, none in yet. */
  linkFirst(): boolean | undefined {
    if (this.setting !== 'auto') return this.setting === 'link-first';
    if (this.seen === 0) return undefined;
    return this.linked * 2 < this.seen;
  }

  /** `seen` upsert IDs were found out about, `linked` of them linked already. */
  observe(linked: number, seen: number): void {
    this.linked += linked;
    this.seen += seen;
  }
}
