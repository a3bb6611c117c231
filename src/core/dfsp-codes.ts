/**
 * DFSP codes as a person reads them. Invariant: two codes of one kind that a person would read
 * as one never both reach a DFSP list (dfsp.ts for `dfsp import`, mapping.ts for `--dfsp`).
 */

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
    : `contains U+${found[0].codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}, a character that cannot be seen or looks like a space; retype the code`;
}
