/**
 * DFSP codes as a person reads them. Invariant: two codes of one list that a person would read
 * as one never both reach it from a file being read (`dfsp import` of a CSV or JSON file, a
 * `--dfsp` file): every such check asks CodeReadings.
 */
import { describeCodePoint } from './beneficiary-id.js';

/**
 * A code folded as a person reads it: letter case and character forms (fullwidth `ＡBC`, the
 * ligature `ﬁ`) set aside. Two codes of one kind that fold alike look alike: a file whose `abc`
 * meant the bank `ABC` would reach the bank `abc` instead, so a list never holds both.
 */
export function foldedCode(code: string): string {
  return code.normalize('NFKC').toUpperCase();
}

// Invisible characters (zero-width space, joiners, BOM, direction marks) and spaces other than
// the ordinary one: a code holding one looks like one without it.
const INVISIBLE = /[\p{Cf}\u00a0\u1680\u2000-\u200a\u202f\u205f\u3000]/u;

/** What is wrong with a code a person would read as another, or undefined. */
export function unreadableCode(code: string): string | undefined {
  const found = INVISIBLE.exec(code);
  return found === null
    ? undefined
    : `contains ${describeCodePoint(found[0].codePointAt(0)!)}, a character that cannot be seen or looks like a space; retype the code`;
}

/** Which list a code is on: a branch's code is read within its bank, a wallet provider's within its wallet type. */
export type CodeKind = 'bank' | 'branch' | 'wallet provider';

interface DfspLists {
  readonly banks: readonly { readonly code: string }[];
  readonly branches: readonly { readonly code: string; readonly bank_code: string }[];
  readonly wallet_providers: readonly { readonly code: string; readonly wallet_type: string }[];
}

/**
 * The codes of `data` that read alike another of the same list — in `data`, or in `known` and
 * written otherwise — as problems naming where each is (`banks.3.code`); codes both in `known`
 * alone are taken as they are.
 */
export function lookAlikeCodes(data: DfspLists, known: DfspLists): string[] {
  const readings = new CodeReadings();
  for (const bank of known.banks) readings.hold('bank', '', bank.code);
  for (const branch of known.branches) readings.hold('branch', branch.bank_code, branch.code);
  for (const wallet of known.wallet_providers) readings.hold('wallet provider', wallet.wallet_type, wallet.code);
  const problems: string[] = [];
  const check = (kind: CodeKind, scope: string, code: string, where: string) => {
    const other = readings.read(kind, scope, code, where);
    if (other !== undefined)
      problems.push(
        `${where}: ${codeName(kind, scope, code)} and ${codeName(kind, other.scope, other.code)} (${other.where}) differ only in letter case or character form`,
      );
  };
  data.banks.forEach((bank, i) => check('bank', '', bank.code, `banks.${i}.code`));
  data.branches.forEach((branch, i) => check('branch', branch.bank_code, branch.code, `branches.${i}.code`));
  data.wallet_providers.forEach((wallet, i) => check('wallet provider', wallet.wallet_type, wallet.code, `wallet_providers.${i}.code`));
  return problems;
}

/** `bank "LBP"`, `branch "0012" of bank "LBP"`, `MOBILE_WALLET provider "GCASH"`: a code as a message names it. */
export function codeName(kind: CodeKind, scope: string, code: string): string {
  return kind === 'bank' ? `bank "${code}"` : kind === 'branch' ? `branch "${code}" of bank "${scope}"` : `${scope} provider "${code}"`;
}

/** A code as given: its list, its scope (a branch's bank code, a wallet's type; '' for a bank) and where it came from. */
export interface ReadCode {
  readonly code: string;
  readonly scope: string;
  readonly where: string;
}

/**
 * The codes of DFSP lists as a person reads them (foldedCode), the first of each reading kept
 * with where it came from: every check of look-alike codes — `dfsp import` of a CSV or JSON
 * file, a `--dfsp` file — asks this one.
 */
export class CodeReadings {
  private readonly first = new Map<string, ReadCode>();
  private readonly exactly = new Set<string>();

  /**
   * A code the mapper holds, as written. It is taken as it is (one written before look-alikes
   * were refused blocks nothing), the same code read again is no new code (the same file
   * imported again), and one that only reads as it is told against it.
   */
  hold(kind: CodeKind, scope: string, code: string, where = 'already known'): void {
    this.exactly.add(exactKey(kind, scope, code));
    const key = readingKey(kind, scope, code);
    if (!this.first.has(key)) this.first.set(key, { code, scope, where });
  }

  /** A code being read: the one before it that a person reads the same and that is written otherwise, or undefined (it is then noted). */
  read(kind: CodeKind, scope: string, code: string, where: string): ReadCode | undefined {
    const exact = exactKey(kind, scope, code);
    if (this.exactly.has(exact)) return undefined;
    const key = readingKey(kind, scope, code);
    const other = this.first.get(key);
    if (other !== undefined) return other;
    this.first.set(key, { code, scope, where });
    this.exactly.add(exact);
    return undefined;
  }
}

// Joined with NUL, which no code holds, so "A"+"BC" and "AB"+"C" cannot collide.
const exactKey = (kind: CodeKind, scope: string, code: string): string => `${kind}\0${scope}\0${code}`;
const readingKey = (kind: CodeKind, scope: string, code: string): string =>
  `${kind}\0${kind === 'branch' ? foldedCode(scope) : scope}\0${foldedCode(code)}`;
