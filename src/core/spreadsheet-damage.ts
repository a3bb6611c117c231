/**
 * What a spreadsheet does to an ID, account number, code or phone number it takes for a number,
 * told from the value alone. Pure: no I/O.
 *
 * Invariant: a value is called damaged only when no intact value looks like it — an ID, account,
 * code or phone number never holds an exponent or a formula — so nothing a person typed on
 * purpose is refused; lost leading zeros cannot be told from a value alone, and are caught where
 * they can be proved (a number cell of an .xlsx, a DFSP code found only once zero-padded:
 * core/mapping.ts).
 */

/** Where the row problem codes below come from; each has a README row ("Row codes"). */
export const DAMAGE_CODES = {
  /** `2,77366E+14`: Excel's scientific notation; the digits past the sixth are gone. */
  exponent: 'mapping.spreadsheet_exponent',
  /** `="000412"`, the wrapper that keeps zeros in a spreadsheet, or any formula's text, exported as it is. */
  formula: 'mapping.spreadsheet_formula',
  /** A number cell of an .xlsx workbook in an ID or account column. */
  number: 'mapping.spreadsheet_number',
  /** A DFSP code that matches the list only once zero-padded. */
  zeros: 'mapping.leading_zeros_lost',
  /** `1234567806.0`, `1,234,567,807`, `-1234567810`, `'00123`: a number format, or the apostrophe that marks text, kept in the value. */
  format: 'mapping.spreadsheet_format',
} as const;

const HOW =
  'format the column as Text before entering or pasting the values, or hand sparctl the .xlsx (see README "Preparing a spreadsheet")';

// 2.77366E+14, 2,77366E+14, 1E+15, 2.8e14: a mantissa, E, an exponent — with or without a sign.
const EXPONENT = /^[+-]?\d+(?:[.,]\d+)?[eE][+-]?\d+$/;
// In an ID, which may be any token (`0004123450E19`, `12E4`), only the form a spreadsheet or a
// float writes: one digit before the decimal mark and a signed exponent (2.77366E+14, 1E+15).
const ID_EXPONENT = /^\d(?:[.,]\d+)?[eE][+-]\d+$/;
// ="000412" (and =" 0412 "), as a CSV exported from such a sheet holds it.
const FORMULA = /^="(.*)"$/s;

// A whole number shown with decimals: 1234567806.0, 1234567806,00 (a 0.00 format, a float export).
const DECIMALS = /^\d+[.,]0+$/;
// Digit groups a number format writes (a decimal part may follow): 1,234,567 · 1.234.567 (two
// groups at least: 1.234 may be a code) · 12,34,567 (India) · 1'234'567 (Switzerland) · a
// no-break or thin space (France) · a plain space, 1 234 567 (not in a phone number: written so).
const GROUPED =
  /^(?:\d{1,3}(?:,\d{3})+|\d{1,3}(?:\.\d{3}){2,}|\d{1,2}(?:,\d{2})+,\d{3}|\d{1,3}(?:['\u2019]\d{3})+|\d{1,3}(?:[\u00a0\u202f\u2009]\d{3})+)(?:[.,]\d+)?$/;
const SPACED = /^\d{1,3}(?: \d{3})+$/;
// A value none of the patterns can match: no "=", apostrophe or minus first, no exponent, point,
// comma, apostrophe or space (most values: the patterns are not run for them).
const MAYBE_DAMAGED = /^[='-]|[eE.,'\u2019\u00a0\u202f\u2009 ]/;

/**
 * The problem a value shows, or undefined: `column` names where it was read from. `anyFormula`:
 * an account, code or phone, where any text that begins with "=" or "-" is a formula's or a
 * negative number's, and decimals or digit groups a number format's; an ID may be any token, so
 * there only the `="…"` wrapper and a leading apostrophe are damage. `phone`: digits grouped any
 * way are a way to write it.
 */
export function spreadsheetDamage(
  column: string,
  value: string,
  anyFormula = false,
  phone = false,
): { code: string; message: string } | undefined {
  if (!MAYBE_DAMAGED.test(value)) return undefined;
  if (anyFormula ? EXPONENT.test(value) : ID_EXPONENT.test(value))
    return {
      code: DAMAGE_CODES.exponent,
      message: `${column} "${value}" is a number a spreadsheet wrote in scientific notation, which keeps only its first digits; ${HOW}`,
    };
  const wrapped = FORMULA.exec(value);
  if (wrapped !== null)
    return {
      code: DAMAGE_CODES.formula,
      message: `${column} "${value}" is a spreadsheet formula wrapper, not the value; write the value itself ("${wrapped[1]}"): ${HOW}`,
    };
  // =0412, =A2&B2: a formula's text where its value was meant (no account, code or phone begins with "=").
  if (anyFormula && value.startsWith('='))
    return {
      code: DAMAGE_CODES.formula,
      message: `${column} "${value}" is a spreadsheet formula, not a value; write the value itself: ${HOW}`,
    };
  // The marker a person types to keep a value as text ('00412), or a CSV-injection guard, kept in the value.
  if (value.startsWith("'"))
    return {
      code: DAMAGE_CODES.format,
      message: `${column} "${value}" begins with the apostrophe a spreadsheet uses to mark text, which is not part of the value; remove it: ${HOW}`,
    };
  // An ID may be any token (`123 456 789`, `1.0`): only the apostrophe above is damage there.
  if (!anyFormula) return undefined;
  const zeros = 'its leading zeros may be gone too';
  if (DECIMALS.test(value))
    return {
      code: DAMAGE_CODES.format,
      message: `${column} "${value}" is a number a spreadsheet showed with decimals (a number format such as 0.00), not the value; ${zeros}: ${HOW}`,
    };
  // A phone number is read by its own rules (grouped any way, then normalized).
  if (!phone && (GROUPED.test(value) || SPACED.test(value)))
    return {
      code: DAMAGE_CODES.format,
      message: `${column} "${value}" is a number a spreadsheet wrote with thousands separators, not the value; ${zeros}: ${HOW}`,
    };
  if (/^-\d/.test(value))
    return {
      code: DAMAGE_CODES.format,
      message: `${column} "${value}" is a negative number, which no account, code or phone number is (a formula's result, or a number format's sign); write the value itself: ${HOW}`,
    };
  return undefined;
}

/** Fields whose values a spreadsheet damages by taking them for numbers: checked for it. */
export const DAMAGE_FIELDS: ReadonlySet<string> = new Set([
  'id',
  'account_number',
  'phone_number',
  'mobile_number',
  'bank_code',
  'branch_code',
  'wallet_provider_code',
]);

/**
 * The first damaged value of a record read without a mapping (`link --file`, flags): its ID,
 * phone and FA fields, or undefined. A mapping checks its columns itself (core/mapping.ts).
 */
export function recordDamage(
  record: {
    readonly id: string;
    readonly phone_number?: string;
    readonly fa?: object;
  },
  /** False for a row that reaches an ID already linked (update, unlink): its ID is what is stored. */
  checkId = true,
): { field: string; code: string; message: string } | undefined {
  // Field by field, no list built: this runs for every row of a file.
  const damage = (checkId ? valueDamage('id', record.id) : undefined) ?? valueDamage('phone_number', record.phone_number);
  if (damage !== undefined || record.fa === undefined) return damage;
  const fa = record.fa as Readonly<Record<string, unknown>>;
  for (const field of FA_DAMAGE_FIELDS) {
    const found = valueDamage(field, fa[field]);
    if (found !== undefined) return found;
  }
  return undefined;
}

/** Damage fields that hold a phone number. */
export const PHONE_FIELDS: ReadonlySet<string> = new Set(['phone_number', 'mobile_number']);

const FA_DAMAGE_FIELDS: readonly string[] = [...DAMAGE_FIELDS].filter((field) => field !== 'id' && field !== 'phone_number');

function valueDamage(field: string, value: unknown): { field: string; code: string; message: string } | undefined {
  if (typeof value !== 'string') return undefined;
  const damage = spreadsheetDamage(field, value, field !== 'id', PHONE_FIELDS.has(field));
  return damage === undefined ? undefined : { field, ...damage };
}

// What the reader (xlsx-reader.ts's cellText) shows for the cells it names besides numbers; a
// number's text is digits, a sign, a point and an exponent, never one of these. A formula with
// no result (it failed, or was never calculated) shows `=` and its text.
const DATE_CELL = /^\d{4}-\d{2}-\d{2}(?:T\d{2}:\d{2}:\d{2}(?:\.\d+)?Z)?$/;
const ERROR_CELL = /^#[A-Z][A-Z0-9_/]*[!?]?$|^#N\/A$/;

/**
 * The problem of a number cell of an .xlsx in an ID or account column — or of a date, TRUE/FALSE
 * or error value there, none of which is a value someone typed (told apart by the text shown).
 */
export function numberCellDamage(column: string, value: string): { code: string; message: string } {
  const retype = 'retype the value in a cell formatted as Text (Format Cells → Text) first';
  if (DATE_CELL.test(value))
    return {
      code: DAMAGE_CODES.number,
      message: `${column} "${value}" is a date cell in the workbook, not the value typed: a spreadsheet takes values such as 3-12 or 1/5 for dates; ${retype}`,
    };
  if (ERROR_CELL.test(value))
    return {
      code: DAMAGE_CODES.number,
      message: `${column} "${value}" is an error value in the workbook (a formula that failed: #N/A is a VLOOKUP or XLOOKUP that found nothing), not a value; fix the formula or type the value in a cell formatted as Text`,
    };
  if (value.startsWith('='))
    return {
      code: DAMAGE_CODES.number,
      message: `${column} "${value}" is a formula whose result the workbook does not hold: it failed (#N/A is a VLOOKUP or XLOOKUP that found nothing), or a program saved the workbook without calculating it; fix the formula or type the value in a cell formatted as Text, then save the workbook from the spreadsheet`,
    };
  if (value === 'TRUE' || value === 'FALSE')
    return {
      code: DAMAGE_CODES.number,
      message: `${column} "${value}" is a TRUE/FALSE (boolean) cell in the workbook, not a value; ${retype}`,
    };
  return {
    code: DAMAGE_CODES.number,
    message: `${column} "${value}" is stored as a number in the workbook, which drops leading zeros and digits past the 15th; ${HOW}`,
  };
}

/**
 * The code in `known` that `code` is once zero-padded (`412` → `0412`), when there is exactly
 * one: a spreadsheet dropped its leading zeros. Undefined for a code that is not all digits.
 */
export function zeroPaddedMatch(code: string, known: (candidate: string) => boolean, longest = 16): string | undefined {
  if (!/^\d+$/.test(code)) return undefined;
  for (let width = code.length + 1; width <= longest; width++) {
    const padded = code.padStart(width, '0');
    if (known(padded)) return padded;
  }
  return undefined;
}

export function leadingZerosMessage(what: string, code: string, padded: string): string {
  return `${what} "${code}" is not in the DFSP list, but "${padded}" is: its leading zeros were lost (a spreadsheet took the code for a number); ${HOW}`;
}

/** What a reject file says of a row fed back in it: its `sparctl_code` and `sparctl_message` cells. */
export interface FedBack {
  readonly code: string;
  readonly message: string;
}

/**
 * Damage proved by evidence a reject file does not carry — the workbook's number cell, the rest of
 * the column — so a fed-back row must show the value changed: the file alone would take it.
 */
const NEEDS_EVIDENCE: ReadonlySet<string> = new Set([DAMAGE_CODES.number, DAMAGE_CODES.zeros]);

// Every damage message starts `COLUMN "VALUE" …` (spreadsheetDamage, numberCellDamage, column-widths.ts);
// a reject's message may put the field first (`id: national_id "412340007" has 9 digits …`).
const NAMED_VALUE = /^(?:[\w.]+: )?(.+?) "(.*?)" /s;

/**
 * A fed-back reject row whose damaged value is still the one rejected: refused again
 * (`mapping.damage_not_fixed`) rather than taken without the evidence that refused it.
 */
export function unfixedDamage(
  fedBack: FedBack,
  cell: (column: string) => string | undefined,
): { code: string; message: string } | undefined {
  if (!NEEDS_EVIDENCE.has(fedBack.code)) return undefined;
  const named = NAMED_VALUE.exec(fedBack.message);
  if (named === null) return undefined;
  const [, column, value] = named;
  if (cell(column!)?.trim() !== value) return undefined;
  return {
    code: 'mapping.damage_not_fixed',
    message: `${column} "${value}" is the value rejected before (${fedBack.code}) and is fed back unchanged; correct it first (${HOW})`,
  };
}
