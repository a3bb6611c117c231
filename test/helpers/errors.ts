import { expect } from 'vitest';

type ErrorClass<T extends Error> = abstract new (...args: never[]) => T;

/** Runs `action` and returns the error it throws, which must be an instance of `type`. */
export function thrownBy<T extends Error>(type: ErrorClass<T>, action: () => unknown): T {
  try {
    action();
  } catch (error) {
    expect(error).toBeInstanceOf(type);
    return error as T;
  }
  throw new Error(`expected a ${type.name}, but nothing was thrown`);
}

/** The same for an async action. */
export async function rejectedWith<T extends Error>(type: ErrorClass<T>, action: () => Promise<unknown>): Promise<T> {
  try {
    await action();
  } catch (error) {
    expect(error).toBeInstanceOf(type);
    return error as T;
  }
  throw new Error(`expected a ${type.name}, but nothing was thrown`);
}
