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

/** A counting semaphore: at most `limit` holders at once, the others wait in order. */
export class Slots {
  private readonly waiting: (() => void)[] = [];
  private held = 0;

  constructor(private current: number) {}

  /** How many may hold a slot at once now. */
  get limit(): number {
    return this.current;
  }

  async acquire(): Promise<void> {
    if (this.held < this.current && this.waiting.length === 0) {
      this.held++;
      return;
    }
    await new Promise<void>((resolve) => this.waiting.push(resolve));
  }

  release(): void {
    this.held--;
    this.wake();
  }

  /** A request that held a slot was answered (adaptive slots learn from it). */
  completed(): void {}

  /** The mapper pushed back: 429, a 5xx, a timeout, a refused or reset connection. */
  congested(): void {}

  protected setLimit(limit: number): void {
    this.current = limit;
    this.wake();
  }

  private wake(): void {
    while (this.held < this.current && this.waiting.length > 0) {
      this.held++;
      this.waiting.shift()!();
    }
  }
}

/**
 * Slots whose number follows what the mapper can take (`--concurrency auto`).
 *
 * Invariant: the limit stays within [1, max]; it moves only to a level whose throughput
 * (requests answered per second) was measured better than the last by more than GAIN going up,
 * or not worse by more than LOSS going down, and halves whenever the mapper pushes back.
 * Throughput, not latency, decides: a mapper with fewer workers than requests in flight queues
 * them (more latency, the same throughput), one with more serves them at once.
 *
 * From the start level it doubles while that pays; when the first doubling does not, it halves
 * while that costs under LOSS (fewer requests queued at a mapper that cannot serve more).
 */
export class AdaptiveSlots extends Slots {
  /** Requests answered per millisecond at each level measured. */
  private readonly rates = new Map<number, number>();
  private windowStart: number | undefined;
  private answered = 0;
  private phase: 'up' | 'down' | 'settled' = 'up';
  /** The level measured before this one. */
  private previous: number | undefined;

  constructor(
    private readonly start: number,
    private readonly max: number,
    private readonly now: () => number,
  ) {
    super(Math.max(1, Math.min(start, max)));
  }

  override completed(): void {
    if (this.phase === 'settled') return;
    const at = this.now();
    if (this.windowStart === undefined) {
      this.windowStart = at;
      return;
    }
    this.answered++;
    // A window of one round of the level's requests (at least two), timed from its first answer:
    // a run of 40 batches must be able to try three levels and still use the best.
    if (this.answered < Math.max(2, this.limit) || at <= this.windowStart) return;
    const level = this.limit;
    const rate = this.answered / (at - this.windowStart);
    this.rates.set(level, rate);
    this.windowStart = undefined;
    this.answered = 0;
    const before = this.previous === undefined ? undefined : this.rates.get(this.previous);
    if (this.phase === 'up') {
      if (before === undefined || rate > before * GAIN) this.move(level, level < this.max ? Math.min(this.max, level * 2) : undefined);
      // The doubling did not pay: back to the level before; below the start level, try fewer.
      else if (this.previous! > Math.min(this.start, this.max)) this.move(level, undefined, this.previous);
      else {
        this.phase = 'down';
        this.move(level, this.previous! > 1 ? Math.floor(this.previous! / 2) : undefined, this.previous);
      }
    } else if (rate * LOSS >= before!) this.move(level, level > 1 ? Math.floor(level / 2) : undefined);
    else this.move(level, undefined, this.previous);
  }

  override congested(): void {
    this.phase = 'settled';
    this.setLimit(Math.max(1, Math.floor(this.limit / 2)));
  }

  /** Measures `next` after `from`, or settles (at `stay`, else where it is). */
  private move(from: number, next: number | undefined, stay?: number): void {
    if (next === undefined || next === (stay ?? from)) {
      this.phase = 'settled';
      if (stay !== undefined) this.setLimit(stay);
      return;
    }
    this.previous = stay ?? from;
    this.setLimit(next);
  }
}

/** How much more throughput a doubling must bring to be kept. */
const GAIN = 1.15;

/**
 * How much throughput a halving may cost and still be taken: little, for it only spares the
 * mapper a queue (one request at a time against one worker cost 11% in bench:remote, which a
 * tolerance of GAIN let through).
 */
const LOSS = 1.05;

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
        slots.completed();
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
