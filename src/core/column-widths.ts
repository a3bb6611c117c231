/**
 * Lost leading zeros told from a whole column: the lengths of its all-digit values, tallied over
 * the whole file before the run (the prescan), then asked of each value. Pure: no I/O.
 *
 * Invariant (the rule): an all-digit value is refused only when it is shorter than L, where at
 * least 20 of its column's values are all digits, at least 90% of those have L digits and at
 * least 10% of those start with "0"; weaker evidence (few rows, mixed lengths, no leading
 * zeros) refuses nothing. The verdict depends only on the file's bytes and the mapping, so a
 * resumed run decides the same.
 */
import { DAMAGE_CODES } from './spreadsheet-damage.js';

/** At least this many all-digit values in the column… */
export const MIN_DIGIT_VALUES = 20;
/** …this share of them of one length… */
export const MIN_WIDTH_SHARE = 0.9;
/** …and this share of those starting with "0". */
export const MIN_ZERO_SHARE = 0.1;

/** A column found fixed-width with leading zeros. */
export interface FixedWidth {
  /** The length most of the column's all-digit values have. */
  readonly width: number;
  /** How many values have it, how many of those start with "0", how many values are all digits. */
  readonly atWidth: number;
  readonly zeros: number;
  readonly digits: number;
}

/** Per length: [values, of which starting with "0"]. */
type Tally = Map<number, [number, number]>;

const HOW =
  'export the column as Text (format it as Text before entering or pasting the values), or hand sparctl the .xlsx (see README "Preparing a spreadsheet")';

export class ColumnWidths {
  private readonly tallies = new Map<string, Tally>();
  private verdicts: Map<string, FixedWidth> | undefined;

  /** `columns`: the columns whose every value is tallied (the ID and account number columns). */
  constructor(readonly columns: readonly string[]) {
    for (const column of columns) this.tallies.set(column, new Map());
  }

  /** One cell of a watched column, as written (trimmed here, as the mapping trims it). */
  add(column: string, cell: string | undefined): void {
    const tally = this.tallies.get(column);
    if (tally === undefined || cell === undefined) return;
    const value = cell.trim();
    if (!allDigits(value)) return;
    this.verdicts = undefined;
    const counts = tally.get(value.length);
    const zero = value.charCodeAt(0) === 48 ? 1 : 0;
    if (counts === undefined) tally.set(value.length, [1, zero]);
    else {
      counts[0]++;
      counts[1] += zero;
    }
  }

  /** The fixed-width columns the tally shows, by column. */
  fixed(): ReadonlyMap<string, FixedWidth> {
    if (this.verdicts !== undefined) return this.verdicts;
    const verdicts = new Map<string, FixedWidth>();
    for (const [column, tally] of this.tallies) {
      let digits = 0;
      let best: [number, number, number] | undefined;
      for (const [width, [count, zeros]] of tally) {
        digits += count;
        if (best === undefined || count > best[1]) best = [width, count, zeros];
      }
      if (best === undefined || digits < MIN_DIGIT_VALUES) continue;
      const [width, atWidth, zeros] = best;
      if (atWidth < digits * MIN_WIDTH_SHARE || zeros < atWidth * MIN_ZERO_SHARE) continue;
      verdicts.set(column, { width, atWidth, zeros, digits });
    }
    this.verdicts = verdicts;
    return verdicts;
  }

  /** The problem of `value` read from `column`, or undefined. */
  check(column: string, value: string): { code: string; message: string } | undefined {
    const fixed = this.fixed().get(column);
    if (fixed === undefined || value.length >= fixed.width || !allDigits(value)) return undefined;
    const n = (x: number) => x.toLocaleString('en-US');
    return {
      code: DAMAGE_CODES.zeros,
      message: `${column} "${value}" has ${value.length} digit${value.length === 1 ? '' : 's'} where ${n(fixed.atWidth)} of this column's ${n(fixed.digits)} all-digit values have ${fixed.width}, ${n(fixed.zeros)} of them starting with 0: a spreadsheet dropped its leading zeros (was it "${value.padStart(fixed.width, '0')}"?); ${HOW}`,
    };
  }

  /** The verdict in one line (part of a row's context, ItemRow: a row maps differently under another); "" when none. */
  describe(): string {
    return [...this.fixed()]
      .map(([column, fixed]) => `${column}=${fixed.width}/${fixed.atWidth}/${fixed.zeros}/${fixed.digits}`)
      .join('\0');
  }

  /** The tally, to keep with a kept row index (a re-run that reads no rows decides the same). */
  state(): [string, [number, number, number][]][] {
    return [...this.tallies].map(([column, tally]) => [column, [...tally].map(([width, [count, zeros]]) => [width, count, zeros])]);
  }

  /** Takes back a kept tally; false (nothing taken) when it is not one of these columns'. */
  restore(state: unknown): boolean {
    if (!Array.isArray(state) || state.length !== this.tallies.size) return false;
    const taken = new Map<string, Tally>();
    for (const entry of state as unknown[]) {
      if (!Array.isArray(entry) || typeof entry[0] !== 'string' || !this.tallies.has(entry[0]) || !Array.isArray(entry[1])) return false;
      const tally: Tally = new Map();
      for (const row of entry[1] as unknown[]) {
        if (!Array.isArray(row) || row.length !== 3 || !row.every((x) => Number.isSafeInteger(x))) return false;
        tally.set(row[0] as number, [row[1] as number, row[2] as number]);
      }
      taken.set(entry[0], tally);
    }
    if (taken.size !== this.tallies.size) return false;
    for (const [column, tally] of taken) this.tallies.set(column, tally);
    this.verdicts = undefined;
    return true;
  }
}

function allDigits(value: string): boolean {
  if (value.length === 0) return false;
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c < 48 || c > 57) return false;
  }
  return true;
}
