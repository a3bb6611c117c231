import { SparctlError } from '../errors.js';

/**
 * Limits on what is in flight, and how a run stops.
 *
 * Invariant: at most `concurrency` mapper requests of a run are in flight at any instant, across
 * all its chunks; a task that fails stops the tasks not yet started, and the error surfaces only
 * once the running ones have ended (a request is never abandoned mid-flight).
 */

/** Why a run ends early: the mapper failed in a way retries did not cure, or the user asked. */
export class Stop extends Error {
  constructor(readonly reason: SparctlError | 'interrupted') {
    super('stop');
  }
}

/** A counting semaphore: at most `count` holders at once, the others wait in order. */
export class Slots {
  private readonly waiting: (() => void)[] = [];

  constructor(private free: number) {}

  async acquire(): Promise<void> {
    if (this.free > 0) {
      this.free--;
      return;
    }
    await new Promise<void>((resolve) => this.waiting.push(resolve));
  }

  release(): void {
    const next = this.waiting.shift();
    if (next) next();
    else this.free++;
  }
}

/**
 * Runs tasks, each within one of the run-wide request slots; the first failure waits for the
 * running ones, then propagates as a Stop (a non-sparctl error is a bug and propagates as it is).
 */
export async function pool(tasks: readonly (() => Promise<void>)[], slots: Slots, width: number): Promise<void> {
  let next = 0;
  let stop: unknown;
  const worker = async () => {
    while (next < tasks.length && stop === undefined) {
      const task = tasks[next++]!;
      await slots.acquire();
      try {
        await task();
      } catch (error) {
        stop ??= error;
      } finally {
        slots.release();
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(width, tasks.length) }, worker));
  if (stop !== undefined) throw asStop(stop);
}

export function asStop(error: unknown): Stop {
  if (error instanceof Stop) return error;
  if (error instanceof SparctlError) return new Stop(error);
  throw error; // a bug, not a mapper failure: let it surface as an internal error
}
