import { InvalidArgumentError } from 'commander';

/** A commander argument parser for whole numbers ≥ 1; commander reports the failure as a usage error. */
export function positiveInt(flag: string): (value: string) => number {
  return (value: string) => {
    if (!/^[0-9]+$/.test(value) || Number(value) < 1 || !Number.isSafeInteger(Number(value))) {
      throw new InvalidArgumentError(`${flag} must be a whole number of at least 1`);
    }
    return Number(value);
  };
}
