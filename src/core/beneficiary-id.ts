/**
 * A beneficiary ID as it enters sparctl: in Unicode NFC, and refused when it holds a character
 * no one can see — so that two IDs that look the same are the same ID, and an ID is what it
 * looks like. Every way in (flags, files, mappings, the row index) goes through these functions.
 */

// Printable ASCII: already NFC, nothing invisible — the common case costs one regex test.
const PLAIN = /^[\x20-\x7e]*$/;

/*
 * Control characters (Cc), format characters (Cf: zero-width space and joiners, bidi overrides
 * and isolates, the BOM, soft hyphen, tags) and the other default-ignorable code points (Hangul
 * fillers U+115F U+1160 U+3164 U+FFA0, variation selectors, U+034F…), plus the line and
 * paragraph separators: an ID holding one looks like another ID, or reads in another order.
 */
const INVISIBLE = /[\p{Cc}\p{Cf}\p{Default_Ignorable_Code_Point}\u2028\u2029]/u;

const NAMES: ReadonlyMap<number, string> = new Map([
  [0x09, 'CHARACTER TABULATION'],
  [0x0a, 'LINE FEED'],
  [0x0d, 'CARRIAGE RETURN'],
  [0x00ad, 'SOFT HYPHEN'],
  [0x034f, 'COMBINING GRAPHEME JOINER'],
  [0x061c, 'ARABIC LETTER MARK'],
  [0x115f, 'HANGUL CHOSEONG FILLER'],
  [0x1160, 'HANGUL JUNGSEONG FILLER'],
  [0x180e, 'MONGOLIAN VOWEL SEPARATOR'],
  [0x200b, 'ZERO WIDTH SPACE'],
  [0x200c, 'ZERO WIDTH NON-JOINER'],
  [0x200d, 'ZERO WIDTH JOINER'],
  [0x200e, 'LEFT-TO-RIGHT MARK'],
  [0x200f, 'RIGHT-TO-LEFT MARK'],
  [0x2028, 'LINE SEPARATOR'],
  [0x2029, 'PARAGRAPH SEPARATOR'],
  [0x202a, 'LEFT-TO-RIGHT EMBEDDING'],
  [0x202b, 'RIGHT-TO-LEFT EMBEDDING'],
  [0x202c, 'POP DIRECTIONAL FORMATTING'],
  [0x202d, 'LEFT-TO-RIGHT OVERRIDE'],
  [0x202e, 'RIGHT-TO-LEFT OVERRIDE'],
  [0x2060, 'WORD JOINER'],
  [0x2061, 'FUNCTION APPLICATION'],
  [0x2062, 'INVISIBLE TIMES'],
  [0x2063, 'INVISIBLE SEPARATOR'],
  [0x2064, 'INVISIBLE PLUS'],
  [0x2066, 'LEFT-TO-RIGHT ISOLATE'],
  [0x2067, 'RIGHT-TO-LEFT ISOLATE'],
  [0x2068, 'FIRST STRONG ISOLATE'],
  [0x2069, 'POP DIRECTIONAL ISOLATE'],
  [0x3164, 'HANGUL FILLER'],
  [0xfeff, 'ZERO WIDTH NO-BREAK SPACE'],
  [0xffa0, 'HALFWIDTH HANGUL FILLER'],
]);

/** `U+200B (ZERO WIDTH SPACE)`, or `U+XXXX` for a code point without a name here. */
export function describeCodePoint(codePoint: number): string {
  const hex = `U+${codePoint.toString(16).toUpperCase().padStart(4, '0')}`;
  if (codePoint >= 0xfe00 && codePoint <= 0xfe0f) return `${hex} (VARIATION SELECTOR-${codePoint - 0xfe00 + 1})`;
  const name = NAMES.get(codePoint);
  return name === undefined ? hex : `${hex} (${name})`;
}

/** The ID text in NFC (spreadsheets and keyboards mix composed and decomposed accents). */
export function normalizeId(id: string): string {
  return PLAIN.test(id) ? id : id.normalize('NFC');
}

/** Why this ID cannot be used (it holds an invisible or control character), or undefined. */
export function idProblem(id: string): string | undefined {
  if (PLAIN.test(id)) return undefined;
  const found = INVISIBLE.exec(id);
  if (found === null) return undefined;
  const codePoint = found[0].codePointAt(0)!;
  const kind = /\p{Cc}/u.test(found[0]) ? 'a control character' : 'an invisible character';
  return `id contains ${describeCodePoint(codePoint)}, ${kind}; retype the ID`;
}

/** The ID is already what normalizeId gives and idProblem accepts: usable as is. */
export function isCleanId(id: string): boolean {
  return PLAIN.test(id) || (!INVISIBLE.test(id) && id.normalize('NFC') === id);
}
