/**
 * DFSP codes as a person reads them. Invariant: two codes of one kind that a person would read
 * as one never both reach a DFSP list (dfsp.ts for `dfsp import`, mapping.ts for `--dfsp`).
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

interface Coded {
  readonly code: string;
}

/**
 * The codes of `data` that read alike (foldedCode) another of the same kind — in `data`, or in
 * `known` and written otherwise — each said once; none twice in `known` alone is told here.
 */
export function lookAlikeCodes(
  data: {
    readonly banks: readonly Coded[];
    readonly branches: readonly (Coded & { readonly bank_code: string })[];
    readonly wallet_providers: readonly (Coded & { readonly wallet_type: string })[];
  },
  known: typeof data,
): string[] {
  const problems: string[] = [];
  type Entry = { code: string; exact: string; key: string };
  const check = (kind: string, given: readonly Entry[], held: readonly Entry[]) => {
    const seen = new Map<string, string>();
    const heldExactly = new Set(held.map(({ exact }) => exact));
    for (const { code, key } of held) seen.set(key, code);
    for (const { code, exact, key } of given) {
      // One the mapper holds as written is no new code (the same file imported again).
      if (heldExactly.has(exact)) continue;
      const other = seen.get(key);
      if (other !== undefined && other !== code)
        problems.push(`${kind} "${code}" and "${other}" differ only in letter case or character form`);
      else seen.set(key, code);
    }
  };
  const banks = (list: readonly Coded[]) => list.map(({ code }) => ({ code, exact: code, key: foldedCode(code) }));
  const branches = (list: typeof data.branches) =>
    list.map(({ code, bank_code }) => ({ code, exact: `${bank_code}\0${code}`, key: `${foldedCode(bank_code)}\0${foldedCode(code)}` }));
  const wallets = (list: typeof data.wallet_providers) =>
    list.map(({ code, wallet_type }) => ({ code, exact: `${wallet_type}\0${code}`, key: `${wallet_type}\0${foldedCode(code)}` }));
  check('bank', banks(data.banks), banks(known.banks));
  check('branch', branches(data.branches), branches(known.branches));
  check('wallet provider', wallets(data.wallet_providers), wallets(known.wallet_providers));
  return problems;
}
