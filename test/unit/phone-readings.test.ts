import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import type { CountryCode } from 'libphonenumber-js/max';
import { normalizePhone, type PhoneResult, type PhoneUse } from '../../src/core/phone.js';
import { random } from '../helpers/record-corpus.js';

/**
 * core/phone.ts keeps what it read of recent numbers, and reads a payment mobile's type once.
 * Held here to the reading it replaced — parse, isValid(), getType() on every call, no memory —
 * over random numbers read in random order, repeated, in national and E.164 form, for both uses.
 */
const plans = createRequire(import.meta.url)('libphonenumber-js/max') as typeof import('libphonenumber-js/max');

const LAYOUT = /[\s\u00a0().\-\u2010-\u2015]/gu;
function reference(input: string, defaultCountry: string | undefined, use: PhoneUse): PhoneResult {
  const text = input.trim();
  if (/\p{L}/u.test(text)) return { ok: false, reason: 'contains letters' };
  const compact = text.replace(/^(\+[0-9 ]+?)\s*\(0\)/u, '$1').replace(LAYOUT, '');
  if (!/^\+?[0-9]+$/.test(compact)) return { ok: false, reason: 'may hold only digits, spaces, - . ( ) and a leading +' };
  const international = compact.startsWith('+') ? compact : compact.startsWith('00') ? `+${compact.slice(2)}` : undefined;
  const country = defaultCountry?.toUpperCase();
  const known = country !== undefined && plans.isSupportedCountry(country) ? (country as CountryCode) : undefined;
  if (international === undefined && known === undefined) {
    if (country !== undefined)
      return { ok: false, reason: `has no country code, and "${country}" is not an ISO country code sparctl knows` };
    return { ok: false, reason: 'has no country code (write it as +<country code>…, or give a default country)' };
  }
  const number = international ?? compact;
  const parsed = international !== undefined ? plans.parsePhoneNumberFromString(number) : plans.parsePhoneNumberFromString(number, known);
  const where = international !== undefined ? (parsed ? `+${parsed.countryCallingCode}` : 'phone') : known;
  if (parsed === undefined || !parsed.isValid()) {
    const length = international !== undefined ? plans.validatePhoneNumberLength(number) : plans.validatePhoneNumberLength(number, known);
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
    const type = parsed.getType();
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

// National and international forms across countries that share a calling code (NANPA, +44, +7),
// mobiles, landlines, toll-free, too short, too long, and noise.
const SHAPES: readonly ((d: () => string) => string)[] = [
  (d) => `0917 ${d()}${d()}${d()} ${d()}${d()}${d()}${d()}`,
  (d) => `+63 917 ${d()}${d()}${d()} ${d()}${d()}${d()}${d()}`,
  (d) => `(02) 8${d()}${d()}${d()} ${d()}${d()}${d()}${d()}`,
  (d) => `0712 ${d()}${d()}${d()}${d()}${d()}${d()}`,
  (d) => `+254 20 ${d()}${d()}${d()}${d()}${d()}${d()}${d()}`,
  (d) => `98${d()}${d()}${d()} ${d()}${d()}${d()}${d()}${d()}`,
  (d) => `(416) 555-${d()}${d()}${d()}${d()}`,
  (d) => `+1 204 ${d()}${d()}${d()} ${d()}${d()}${d()}${d()}`,
  (d) => `+1 800 ${d()}${d()}${d()} ${d()}${d()}${d()}${d()}`,
  (d) => `07624 ${d()}${d()}${d()}${d()}${d()}${d()}`,
  (d) => `+44 (0)20 7${d()}${d()}${d()} ${d()}${d()}${d()}${d()}`,
  (d) => `0044 7700 ${d()}${d()}${d()}${d()}${d()}${d()}`,
  (d) => `8 (7${d()}${d()}) ${d()}${d()}${d()}-${d()}${d()}-${d()}${d()}`,
  (d) => `+7 9${d()}${d()} ${d()}${d()}${d()} ${d()}${d()} ${d()}${d()}`,
  (d) => `0917 ${d()}${d()}`,
  (d) => `+63 917 ${d()}${d()}${d()}${d()} ${d()}${d()}${d()}${d()}${d()}${d()}`,
  (d) => `+999 ${d()}${d()}${d()}${d()}${d()}${d()}`,
  (d) => `0917-abc-${d()}`,
  () => '',
];
const COUNTRIES = ['PH', 'ke', 'IN', 'US', 'CA', 'GB', 'IM', 'RU', 'KZ', 'ZZ', undefined];

describe('phone readings', () => {
  it('give what a reading without memory gives: every number, its E.164 form, both uses, in any order', () => {
    const rand = random(20261206);
    const pick = <T>(list: readonly T[]): T => list[Math.floor(rand() * list.length)]!;
    const digit = () => String(Math.floor(rand() * 10));
    const seen: [string, string | undefined][] = [];
    let compared = 0;
    let valid = 0;
    for (let i = 0; i < 12_000; i++) {
      // A third of the time a number read before, as real files repeat a household's phone.
      const [input, country] = seen.length > 0 && rand() < 0.3 ? pick(seen) : [pick(SHAPES)(digit), pick(COUNTRIES)];
      seen.push([input, country]);
      for (const use of ['contact', 'payment'] as const) {
        const got = normalizePhone(input, country, use);
        expect(got, `${JSON.stringify(input)} ${country} ${use}`).toEqual(reference(input, country, use));
        compared++;
        if (got.ok) {
          valid++;
          // Its E.164 form reads the same: a mapped record's phone is read again so.
          for (const again of ['contact', 'payment'] as const)
            expect(normalizePhone(got.value, undefined, again), `${got.value} ${again}`).toEqual(reference(got.value, undefined, again));
        }
      }
    }
    // The draw must have exercised valid numbers, refusals and landlines alike.
    expect(valid).toBeGreaterThan(compared / 5);
    expect(compared - valid).toBeGreaterThan(compared / 5);
  });
});
