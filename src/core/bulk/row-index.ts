/**
 * The row index of one input: for every row, whether a later row names the same beneficiary ID,
 * and which row is the last to name it. Built by a pass over the whole input before anything is
 * sent (the adapters read each row's ID only, with the function the run itself uses).
 *
 * Invariant: `lastOf(seq)` is defined exactly when a later row names the ID row `seq` names, and
 * then it is the last such row. IDs are kept as 64-bit hashes (two seeded 32-bit hashes) so
 * that a million rows cost 16 MB, not the IDs themselves; rows whose hashes are equal are only
 * candidates — the run checks each superseded row's ID against its superseder's before acting on
 * the superseder (see SupersessionCheck), so a hash collision stops the run instead of losing a row.
 */

export interface RowIndex {
  /** Rows indexed, in input order (rows without an ID count too). */
  readonly rows: number;
  /** Rows superseded by a later row. */
  readonly superseded: number;
  /** The last row naming the same ID as row `seq`, when a later row does; undefined otherwise. */
  lastOf(seq: number): { readonly seq: number; readonly line: number | undefined } | undefined;
  /** Every superseded row as [seq, last seq, last line], to keep the index (indexFromEntries reads it back). */
  entries(): [number, number, number | null][];
}

/** Random seeds for the two hashes: a file cannot be made to collide on purpose. */
export type HashSeeds = readonly [number, number];

export function randomSeeds(random: () => number = Math.random): HashSeeds {
  return [Math.floor(random() * 0x1_0000_0000) >>> 0, Math.floor(random() * 0x1_0000_0000) >>> 0];
}

const EMPTY = -1;

export class RowIndexBuilder {
  private count = 0;
  private hi: Uint32Array;
  private lo: Uint32Array;
  /** Open addressing: slot → latest seq with that hash (EMPTY when free). */
  private table: Int32Array;
  private mask: number;
  /** seq → the previous seq with the same hash, for rows whose hash came before. */
  private readonly previous = new Map<number, number>();
  /** Lines of the rows that repeat a hash (a superseder is always one of them). */
  private readonly lines = new Map<number, number | undefined>();
  /** Hashes seen more than once: the last seq of each such group. */
  private readonly repeated = new Set<number>();

  constructor(
    private readonly seeds: HashSeeds,
    expectedRows = 1024,
  ) {
    const capacity = Math.max(1024, Math.ceil(expectedRows / 1024) * 1024);
    this.hi = new Uint32Array(capacity);
    this.lo = new Uint32Array(capacity);
    // At most half full: a probe rarely goes past its first slot.
    const slots = nextPowerOfTwo(capacity * 2);
    this.table = new Int32Array(slots).fill(EMPTY);
    this.mask = slots - 1;
  }

  /** The next row: the ID it names (undefined when it names none) and its line. */
  add(id: string | undefined, line: number | undefined): void {
    const seq = this.count++;
    if (seq >= this.hi.length) this.grow();
    if (id === undefined) {
      // No ID: its slot stays unused (hashes 0/0 are never looked up for it).
      return;
    }
    // Two 32-bit hashes in one pass over the ID (FNV-1a's and a multiply-rotate one), each
    // seeded: 64 bits, so that unrelated IDs share both only about once in 2^64 pairs.
    let h1 = this.seeds[0] ^ 0x811c9dc5;
    let h2 = this.seeds[1] ^ id.length;
    for (let i = 0; i < id.length; i++) {
      const c = id.charCodeAt(i);
      h1 = Math.imul(h1 ^ c, 0x01000193);
      h2 = Math.imul((h2 << 5) | (h2 >>> 27), 0x9e3779b1) ^ c;
    }
    h1 = fmix(h1);
    h2 = fmix(h2);
    this.hi[seq] = h1;
    this.lo[seq] = h2;
    let slot = (h1 ^ Math.imul(h2, 0x85ebca6b)) & this.mask;
    for (;;) {
      const other = this.table[slot]!;
      if (other === EMPTY) {
        this.table[slot] = seq;
        return;
      }
      if (this.hi[other] === h1 && this.lo[other] === h2) {
        this.table[slot] = seq;
        this.previous.set(seq, other);
        this.lines.set(seq, line);
        this.repeated.delete(other);
        this.repeated.add(seq);
        return;
      }
      slot = (slot + 1) & this.mask;
    }
  }

  build(): RowIndex {
    const lastOf = new Map<number, number>();
    for (const last of this.repeated) {
      for (let seq = this.previous.get(last); seq !== undefined; seq = this.previous.get(seq)) lastOf.set(seq, last);
    }
    const lines = this.lines;
    const rows = this.count;
    // The hash arrays and the table are no longer needed; only the superseded rows are kept.
    this.hi = new Uint32Array(0);
    this.lo = new Uint32Array(0);
    this.table = new Int32Array(0);
    return indexOver(rows, lastOf, lines);
  }

  private grow(): void {
    const capacity = this.hi.length * 2;
    const hi = new Uint32Array(capacity);
    const lo = new Uint32Array(capacity);
    hi.set(this.hi);
    lo.set(this.lo);
    this.hi = hi;
    this.lo = lo;
    if (capacity * 2 <= this.table.length) return;
    // Rehash the latest seq of every hash into a table twice as large.
    const old = this.table;
    const slots = nextPowerOfTwo(capacity * 2);
    this.table = new Int32Array(slots).fill(EMPTY);
    this.mask = slots - 1;
    for (const seq of old) {
      if (seq === EMPTY) continue;
      let slot = (hi[seq]! ^ Math.imul(lo[seq]!, 0x85ebca6b)) & this.mask;
      while (this.table[slot] !== EMPTY) slot = (slot + 1) & this.mask;
      this.table[slot] = seq;
    }
  }
}

function indexOver(rows: number, lastOf: ReadonlyMap<number, number>, lines: ReadonlyMap<number, number | undefined>): RowIndex {
  return {
    rows,
    superseded: lastOf.size,
    lastOf(seq) {
      const last = lastOf.get(seq);
      return last === undefined ? undefined : { seq: last, line: lines.get(last) };
    },
    entries: () => [...lastOf].map(([seq, last]) => [seq, last, lines.get(last) ?? null]),
  };
}

/** The index `entries()` gave, read back (a kept index: prescan.ts). */
export function indexFromEntries(rows: number, entries: readonly (readonly [number, number, number | null])[]): RowIndex {
  const lastOf = new Map<number, number>();
  const lines = new Map<number, number | undefined>();
  for (const [seq, last, line] of entries) {
    lastOf.set(seq, last);
    lines.set(last, line ?? undefined);
  }
  return indexOver(rows, lastOf, lines);
}

/** The index of IDs given in memory, in input order (tests, small inputs). */
export function indexOf(
  ids: readonly (string | undefined)[],
  lines?: readonly (number | undefined)[],
  seeds: HashSeeds = randomSeeds(),
): RowIndex {
  const builder = new RowIndexBuilder(seeds, ids.length);
  ids.forEach((id, at) => builder.add(id, lines?.[at]));
  return builder.build();
}

/**
 * Checks, as the run meets them, that each superseded row names the same ID as its superseder:
 * the index compared hashes, this compares the IDs. Superseded rows always come first, so the
 * check of a superseder is complete when it is reached.
 */
export class SupersessionCheck {
  /** Superseder seq → the ID its superseded rows name. */
  private readonly expected = new Map<number, string | undefined>();

  /** A superseded row `seq` naming `id`; false when it disagrees with another row superseded by the same one. */
  superseded(by: number, id: string | undefined): boolean {
    if (!this.expected.has(by)) {
      this.expected.set(by, id);
      return id !== undefined;
    }
    return id !== undefined && this.expected.get(by) === id;
  }

  /** The superseder `seq` naming `id`: false when a row it was said to supersede names another ID. */
  superseder(seq: number, id: string | undefined): boolean {
    if (!this.expected.has(seq)) return true;
    const expected = this.expected.get(seq);
    this.expected.delete(seq);
    return id !== undefined && expected === id;
  }
}

/** murmur3's finalizer: every input bit reaches every output bit. */
function fmix(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

function nextPowerOfTwo(n: number): number {
  let p = 1;
  while (p < n) p *= 2;
  return p;
}
