/**
 * A beneficiary ID as it enters sparctl: in Unicode NFC, and refused when it holds a character
 * no one can see — so that two IDs that look the same are the same ID, and an ID is what it
 * looks like. Every way in (flags, files, mappings, the row index) goes through these functions.
 * An ID a new link may be made under is also refused when it holds a space that only looks like
 * the ordinary one, or a full-width form of an ASCII character (newIdProblem); an ID that only names a beneficiary (resolve, update, unlink)
 * may hold one, so that a beneficiary another client linked so stays reachable.
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

/*
 * The spaces other than U+0020 (Zs: no-break, thin, figure, ideographic…) and the blank Braille
 * pattern: "A\u00a0B" looks like "A B" but is another beneficiary. Excel copies from web pages
 * carry U+00A0. Only a new link is refused for them: SPAR accepts them, so such IDs may exist.
 */
const LOOK_ALIKE_SPACE = /(?! )[\p{Zs}\u2800]/u;

/*
 * The full-width forms of ASCII (U+FF01-U+FF5E: `００７`, which an East Asian input method types):
 * `００７００１` reads as `007001` but is another beneficiary. Refused for a new link, as the spaces above.
 */
const FULL_WIDTH = /[\uff01-\uff5e]/u;

const NAMES: ReadonlyMap<number, string> = new Map([
  [0x09, 'CHARACTER TABULATION'],
  [0x0a, 'LINE FEED'],
  [0x0d, 'CARRIAGE RETURN'],
  [0x00a0, 'NO-BREAK SPACE'],
  [0x00ad, 'SOFT HYPHEN'],
  [0x034f, 'COMBINING GRAPHEME JOINER'],
  [0x061c, 'ARABIC LETTER MARK'],
  [0x115f, 'HANGUL CHOSEONG FILLER'],
  [0x1160, 'HANGUL JUNGSEONG FILLER'],
  [0x1680, 'OGHAM SPACE MARK'],
  [0x180e, 'MONGOLIAN VOWEL SEPARATOR'],
  [0x2000, 'EN QUAD'],
  [0x2001, 'EM QUAD'],
  [0x2002, 'EN SPACE'],
  [0x2003, 'EM SPACE'],
  [0x2004, 'THREE-PER-EM SPACE'],
  [0x2005, 'FOUR-PER-EM SPACE'],
  [0x2006, 'SIX-PER-EM SPACE'],
  [0x2007, 'FIGURE SPACE'],
  [0x2008, 'PUNCTUATION SPACE'],
  [0x2009, 'THIN SPACE'],
  [0x200a, 'HAIR SPACE'],
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
  [0x202f, 'NARROW NO-BREAK SPACE'],
  [0x205f, 'MEDIUM MATHEMATICAL SPACE'],
  [0x2060, 'WORD JOINER'],
  [0x2061, 'FUNCTION APPLICATION'],
  [0x2062, 'INVISIBLE TIMES'],
  [0x2063, 'INVISIBLE SEPARATOR'],
  [0x2064, 'INVISIBLE PLUS'],
  [0x2066, 'LEFT-TO-RIGHT ISOLATE'],
  [0x2067, 'RIGHT-TO-LEFT ISOLATE'],
  [0x2068, 'FIRST STRONG ISOLATE'],
  [0x2069, 'POP DIRECTIONAL ISOLATE'],
  [0x2800, 'BRAILLE PATTERN BLANK'],
  [0x3000, 'IDEOGRAPHIC SPACE'],
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

/**
 * Why no new link may be made under this ID (link, and an upsert, which may link): idProblem's
 * reasons, or a space that only looks like the ordinary one — linked, "A\u00a0B" would be
 * another beneficiary than "A B". Resolve, update and unlink take such an ID (idProblem).
 */
export function newIdProblem(id: string): string | undefined {
  const invisible = idProblem(id);
  if (invisible !== undefined || PLAIN.test(id)) return invisible;
  const found = LOOK_ALIKE_SPACE.exec(id);
  if (found !== null)
    return `id contains ${describeCodePoint(found[0].codePointAt(0)!)}, which only looks like an ordinary space (linked, it would be another beneficiary); retype the ID`;
  const wide = FULL_WIDTH.exec(id);
  if (wide === null) return undefined;
  const ascii = String.fromCharCode(wide[0].charCodeAt(0) - 0xfee0);
  return `id contains ${describeCodePoint(wide[0].codePointAt(0)!)} (FULL-WIDTH ${JSON.stringify(ascii)}), which only looks like "${ascii}" (linked, it would be another beneficiary); retype the ID with the input method in half-width (ASCII) mode`;
}

/**
 * Whom an ID is for: `existing`, a beneficiary who may already be linked (idProblem); `new`, one
 * a link may be made for (newIdProblem).
 */
export type IdUse = 'new' | 'existing';

/** The ID is already what normalizeId gives and the use's problem function accepts: usable as is. */
export function isCleanId(id: string, use: IdUse): boolean {
  return (
    PLAIN.test(id) ||
    (!INVISIBLE.test(id) && (use === 'existing' || (!LOOK_ALIKE_SPACE.test(id) && !FULL_WIDTH.test(id))) && id.normalize('NFC') === id)
  );
}
