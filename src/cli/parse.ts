import { InvalidArgumentError } from 'commander';
import { refusedDelimiter } from '../core/csv-delimiter.js';
import { UsageError } from '../core/errors.js';

/** A commander argument parser for whole numbers ≥ 1; commander reports the failure as a usage error. */
export function positiveInt(flag: string): (value: string) => number {
  return (value: string) => {
    if (!/^[0-9]+$/.test(value) || Number(value) < 1 || !Number.isSafeInteger(Number(value))) {
      throw new InvalidArgumentError(`${flag} must be a whole number of at least 1`);
    }
    return Number(value);
  };
}

/** `--concurrency`: a whole number from 1 to 64, or `auto`. */
export function concurrencyLevel(flag: string): (value: string) => number | 'auto' {
  return (value: string) => {
    if (value === 'auto') return 'auto';
    if (!/^[0-9]{1,2}$/.test(value) || Number(value) < 1 || Number(value) > 64)
      throw new InvalidArgumentError(`${flag} must be a whole number from 1 to 64, or auto`);
    return Number(value);
  };
}

/** A TCP port, 0 to 65535 (0 means any free port). */
export function portNumber(flag: string): (value: string) => number {
  return (value: string) => {
    if (!/^[0-9]{1,5}$/.test(value) || Number(value) > 65_535)
      throw new InvalidArgumentError(`${flag} must be a port number from 0 to 65535`);
    return Number(value);
  };
}

/** A whole number ≥ 0. */
export function positiveIntOrZero(flag: string): (value: string) => number {
  return (value: string) => {
    if (!/^[0-9]{1,9}$/.test(value)) throw new InvalidArgumentError(`${flag} must be a whole number from 0 to 999999999`);
    return Number(value);
  };
}

/** A whole number ≥ 1 from a flag's text; reported as every flag's bad value is (usage.invalid_argument). */
export function parsePositive(value: string, flag: string): number {
  return positiveInt(flag)(value);
}

/** A whole number ≥ 0 of seconds from a flag's text, reported the same way. */
export function parseNonNegative(value: string, flag: string): number {
  if (!/^[0-9]{1,9}$/.test(value)) throw new InvalidArgumentError(`${flag} must be a whole number of seconds, from 0 to 999999999`);
  return Number(value);
}

/** A CSV cell delimiter (`--delimiter`): one character, not a quote or a line break (core/csv-delimiter.ts). */
export function csvDelimiter(value: string): string {
  // Thrown as it is (usage.delimiter, as import-csv's): commander passes on what is not its own InvalidArgumentError.
  const refused = refusedDelimiter(value);
  if (refused !== undefined) throw refused;
  return value;
}

/** An ISO 3166 country code (`--country`), upper-cased; checkCountry then asks the numbering plans. */
export function countryCode(flag: string): (value: string) => string {
  return (value: string) => {
    const code = value.trim().toUpperCase();
    if (!/^[A-Z]{2}$/.test(code)) throw new InvalidArgumentError(unknownCountry(flag, value));
    return code;
  };
}

/**
 * Refuses a `--country` libphonenumber-js has no numbering plan for, before anything is read or
 * sent (usage.invalid_argument, exit 2). Apart from countryCode, which commander runs on every
 * parse: the plans are loaded only by a command that takes the flag.
 */
export async function checkCountry(code: string | undefined, flag = '--country'): Promise<void> {
  if (code === undefined) return;
  const { isPhoneCountry } = await import('../core/phone.js');
  if (!isPhoneCountry(code)) throw new UsageError('usage.invalid_argument', unknownCountry(flag, code));
}

const unknownCountry = (flag: string, value: string) =>
  `${flag} ${JSON.stringify(value)} is not a country sparctl knows: use an ISO 3166 code such as PH, KE or IN`;
