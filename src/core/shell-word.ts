/**
 * Text put before a person: control characters shown, never acted on, and values as words of a
 * command line to copy. Imports nothing: context.ts loads it at start-up.
 */

/** Shows control characters from input or a server as escapes instead of letting them act. */
export function printable(text: string): string {
  return text.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/**
 * A value as one word of a POSIX shell command line to copy (a path, an ID in a hint): bare only
 * when it is ASCII letters, digits and `_ @ % + = : , . / -` and does not start with `=` (zsh
 * expands `=name`); else in single quotes, where nothing is special but the quote itself, written
 * `'\''` — so `$`, backticks, `\`, `!`, `*`, spaces and non-ASCII letters stay as they are, and
 * the empty string is `''`. `always` quotes a bare-safe word too. A leading `-` stays bare:
 * quotes would not stop a command reading it as a flag. Control characters are shown as escapes
 * (printable): they must never act on the terminal that shows the hint, so such a word is for
 * reading, not pasting.
 */
export function shellWord(text: string, always = false): string {
  const bare = !always && /^[\w@%+=:,./-]+$/.test(text) && !text.startsWith('=');
  return printable(bare ? text : `'${text.replace(/'/g, `'\\''`)}'`);
}
