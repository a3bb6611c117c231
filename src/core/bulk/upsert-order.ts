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
 * half the IDs exist (a first import), read-first when more do (a re-run). `auto` starts with a
 * sample read first and then follows the share of IDs found linked so far.
 */

export type UpsertOrderSetting = 'read-first' | 'link-first' | 'auto';

export class UpsertOrder {
  private linked = 0;
  private seen = 0;

  constructor(
    readonly setting: UpsertOrderSetting,
    /** IDs read first to start `auto` with. */
    readonly sampleSize: number,
  ) {}

  /** True: link first; false: read first; undefined: not known yet (`auto` before its sample). */
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
