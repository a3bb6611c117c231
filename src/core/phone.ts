import type { CountryCode, NumberType } from 'libphonenumber-js/max';

/**
 * Phone numbers, read the same way wherever they come from (flags, record files, import-csv
 * mappings, ODK, fa edit): parsed, validated and written in E.164 (`+639175550101`) through
 * libphonenumber-js, whose numbering-plan metadata (Google's libphonenumber, kept current by its
 * maintainers) knows every country's lengths, trunk prefixes and which ranges are mobile. The
 * 'max' metadata is used because only it tells a mobile range from a landline one.
 *
 * International forms (`+…`, `00…`) keep their country code; a national form gets the default
 * country's. A payment mobile number (an FA's `mobile_number`, where money is paid) must also be
 * a mobile number: a landline is refused (`notMobile`).
 */

/** What sparctl uses of libphonenumber-js. */
export type NumberingPlans = Pick<
  typeof import('libphonenumber-js/max'),
  'isSupportedCountry' | 'parsePhoneNumberFromString' | 'validatePhoneNumberLength'
>;

// The plans are loaded at the first number read (adapters/phone/numbering-plans.ts): loading them
// costs more than most commands' own work, and most commands read no phone number.
let loadPlans: (() => NumberingPlans) | undefined;
let plans: NumberingPlans | undefined;

/** How the numbering plans are loaded; each entry point (the CLI, serve, tests) sets it once. */
export function setNumberingPlansLoader(loader: () => NumberingPlans): void {
  loadPlans = loader;
}

function numberingPlans(): NumberingPlans {
  if (plans !== undefined) return plans;
  if (loadPlans === undefined) throw new Error('phone numbering plans requested before setNumberingPlansLoader');
  plans = loadPlans();
  return plans;
}

export type PhoneResult =
  | { readonly ok: true; readonly value: string }
  | { readonly ok: false; readonly reason: string; readonly notMobile?: true };

/** A contact phone (the record's phone_number) or a payment mobile number (the FA's mobile_number). */
export type PhoneUse = 'contact' | 'payment';

// Spaces (incl. no-break), dots, parentheses and hyphen/dash variants are layout, not digits.
const PHONE_LAYOUT = /[\s\u00a0().\-\u2010-\u2015]/gu;
const LETTER = /\p{L}/u;
const DIGITS = /^\+?[0-9]+$/;
// "+44 (0)20 …": the national trunk 0 written after the country code is never dialled.
const TRUNK_IN_PARENTHESES = /^(\+[0-9 ]+?)\s*\(0\)/u;

/** An ISO 3166 code the numbering-plan metadata knows (upper or lower case). */
export function isPhoneCountry(code: string): boolean {
  return numberingPlans().isSupportedCountry(code.toUpperCase());
}

export function normalizePhone(input: string, defaultCountry?: string, use: PhoneUse = 'contact'): PhoneResult {
  const text = input.trim();
  if (LETTER.test(text)) return { ok: false, reason: 'contains letters' };
  const compact = text.replace(TRUNK_IN_PARENTHESES, '$1').replace(PHONE_LAYOUT, '');
  if (!DIGITS.test(compact)) return { ok: false, reason: 'may hold only digits, spaces, - . ( ) and a leading +' };
  const international = compact.startsWith('+') ? compact : compact.startsWith('00') ? `+${compact.slice(2)}` : undefined;
  const { isSupportedCountry, parsePhoneNumberFromString, validatePhoneNumberLength } = numberingPlans();
  const country = defaultCountry?.toUpperCase();
  const known = country !== undefined && isSupportedCountry(country) ? (country as CountryCode) : undefined;
  if (international === undefined && known === undefined) {
    if (country !== undefined)
      return { ok: false, reason: `has no country code, and "${country}" is not an ISO country code sparctl knows` };
    return { ok: false, reason: 'has no country code (write it as +<country code>…, or give a default country)' };
  }
  const number = international ?? compact;
  const parsed = readNumber(number, international !== undefined ? undefined : known, parsePhoneNumberFromString);
  const where = international !== undefined ? (parsed ? `+${parsed.callingCode}` : 'phone') : known;
  if (parsed === undefined || !parsed.valid) {
    const length = international !== undefined ? validatePhoneNumberLength(number) : validatePhoneNumberLength(number, known);
    const why =
      length === 'TOO_SHORT' || length === 'NOT_A_NUMBER'
        ? ' (too short)'
        : length === 'TOO_LONG'
          ? ' (too long)'
          : length === 'INVALID_COUNTRY'
            ? ' (unknown country code)'
            : '';
    return { ok: false, reason: `is not a valid ${where} number${why}` };
  }
  if (use === 'payment') {
    const type = parsed.type;
    if (type !== 'MOBILE' && type !== 'FIXED_LINE_OR_MOBILE') {
      const what =
        type === 'FIXED_LINE'
          ? 'a landline'
          : type === undefined
            ? 'not known to be a mobile number'
            : `a ${type.toLowerCase().replace(/_/g, ' ')} number`;
      return {
        ok: false,
        reason: `is ${what}, not a mobile number: a payment mobile number must be a ${parsed.country ?? where} mobile number`,
        notMobile: true,
      };
    }
  }
  return { ok: true, value: parsed.number };
}

/** What the numbering plans say of one number. */
interface Reading {
  /** E.164. */
  readonly number: string;
  readonly type: NumberType | undefined;
  readonly valid: boolean;
  readonly country: string | undefined;
  readonly callingCode: string;
}

/**
 * Numbers read lately, by number and default country (null: not a number at all). An import
 * reads each phone twice — as typed, in the mapping, then in E.164 when its record is checked —
 * and a row's payment mobile is often its contact phone: parsing and matching the plans' patterns
 * was about a third of a local import's time. The reading of a valid number is also kept under its
 * E.164 form, which reads the same (test/unit/phone-readings.test.ts holds both to a reading
 * without memory). Bounded: a file of unique numbers only ever holds the last few thousand.
 */
const readings = new Map<string, Reading | null>();
const MOST_READINGS = 10_000;

function readNumber(
  number: string,
  country: CountryCode | undefined,
  parse: NumberingPlans['parsePhoneNumberFromString'],
): Reading | undefined {
  const key = country === undefined ? number : `${country} ${number}`;
  const known = readings.get(key);
  if (known !== undefined) return known ?? undefined;
  const parsed = country === undefined ? parse(number) : parse(number, country);
  let reading: Reading | null = null;
  if (parsed !== undefined) {
    // With the 'max' plans isValid() is "getType() finds a type"; it still decides alone where a
    // plan has no types. One pass over the patterns instead of two for a payment mobile.
    const type = parsed.getType();
    reading = {
      number: parsed.number,
      type,
      valid: type !== undefined || parsed.isValid(),
      country: parsed.country,
      callingCode: parsed.countryCallingCode,
    };
  }
  if (readings.size >= MOST_READINGS) readings.clear();
  readings.set(key, reading);
  if (reading?.valid && reading.number !== key) readings.set(reading.number, reading);
  return reading ?? undefined;
}
