import { UsageError } from '../errors.js';
import { problemText } from '../request-items.js';

/**
 * Stopping early on a systematic problem (no bank list loaded, a mapping that reads the wrong
 * column): the first records of a run are a probe, and when every one of them is rejected for
 * the same reason, the run stops before reading the rest.
 *
 * The rule: a record counts toward the early stop only when it was rejected before anything was
 * sent for it, for a problem found in the input, its mapping or its DFSP data (a reason code
 * under `input.`, `mapping.` or `dfsp.`) — a mapper's answer (`rjct.*`, e.g. every row already
 * linked on a re-run), a dry run's forecast of one, and records an earlier run settled never do.
 *
 * Since every probed record was rejected before sending, an early stop has sent nothing.
 */

/** Records probed when the caller does not say (README: "Stopping early"). */
export const EARLY_STOP_AFTER = 1_000;

/** The stop's code (README "Error codes"): exit 2, bad input found before anything was sent. */
export const EARLY_STOP_CODE = 'input.systematic';

const SYSTEMATIC = /^(input|mapping|dfsp)\./;

/** Is a reject with this code one an input, mapping or DFSP problem explains (the rule above)? */
export function isSystematic(code: string): boolean {
  return SYSTEMATIC.test(code);
}

export interface ProbedReject {
  readonly line?: number | undefined;
  /** For a row of a fed-back reject file: the line an earlier round read it from. */
  readonly originalLine?: number | undefined;
  readonly field?: string | undefined;
  readonly message: string;
}

/** Counts the probed records' systematic rejects by code, keeping the first of each as an example. */
export class EarlyStopProbe {
  private readonly rejects = new Map<string, { count: number; first: ProbedReject }>();

  constructor(
    /** The records probed. */
    readonly after: number,
    /** How to keep going, as the caller spells it (a flag). */
    private readonly hint: string,
  ) {}

  /** A record was rejected before anything was sent for it. */
  rejected(code: string, reject: ProbedReject): void {
    if (!isSystematic(code)) return;
    const seen = this.rejects.get(code);
    if (seen) seen.count++;
    else this.rejects.set(code, { count: 1, first: reject });
  }

  /**
   * Once the probed records all have their fate (and nothing else has one): the stop when every
   * one of them was rejected for the same systematic reason, else undefined. `left`: records not
   * read yet.
   */
  verdict(left: number): UsageError | undefined {
    for (const [code, { count, first }] of this.rejects) {
      if (count !== this.after) continue;
      const where =
        first.line === undefined
          ? ''
          : first.originalLine === undefined
            ? `line ${first.line}`
            : `line ${first.line}, original line ${first.originalLine}`;
      return new UsageError(
        'input.systematic', // EARLY_STOP_CODE, spelled out for the README's list of codes
        `the first ${this.after} records were all rejected as ${code} (${where}${where ? ': ' : ''}${problemText(first)}); stopped before reading the other ${left}, nothing was sent`,
        { hint: this.hint },
      );
    }
    return undefined;
  }
}
