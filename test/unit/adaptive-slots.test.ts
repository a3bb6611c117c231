import { describe, expect, it } from 'vitest';
import { AdaptiveSlots, Slots } from '../../src/core/bulk/requests.js';
import { random } from '../helpers/record-corpus.js';

/**
 * `--concurrency auto` against simulated mappers: `rate(level)` is the requests a mapper answers
 * per millisecond with `level` in flight, so each answer comes 1/rate later on a fake clock. The
 * level must end where the throughput stops growing, within [1, max], and halve on push-back.
 */
function drive(rate: (level: number) => number, options: { start?: number; max?: number; answers?: number } = {}) {
  let now = 0;
  const slots = new AdaptiveSlots(options.start ?? 4, options.max ?? 16, () => now);
  const levels: number[] = [];
  for (let i = 0; i < (options.answers ?? 400); i++) {
    now += 1 / rate(slots.limit);
    slots.completed();
    levels.push(slots.limit);
  }
  return { slots, levels };
}

describe('AdaptiveSlots', () => {
  it('climbs to a mapper with 8 workers (8 in flight) and stays; to 16, the most, when it serves any number', () => {
    expect(drive((level) => Math.min(level, 8)).slots.limit).toBe(8);
    expect(drive((level) => level).slots.limit).toBe(16);
    expect(drive((level) => level, { max: 6 }).slots.limit).toBe(6);
  });

  it('comes down to 1 for a mapper with one worker, or 2 when one request at a time leaves it idle between requests', () => {
    expect(drive(() => 1).slots.limit).toBe(1);
    expect(drive((level) => (level === 1 ? 0.6 : 1)).slots.limit).toBe(2);
    // A halving that costs more than a few percent is not taken (bench:remote, one worker: 0.89).
    expect(drive((level) => (level === 1 ? 0.89 : 1)).slots.limit).toBe(2);
    expect(drive((level) => (level === 1 ? 0.97 : 1)).slots.limit).toBe(1);
  });

  it('halves on push-back (429, 5xx, timeouts) and then stays', () => {
    const { slots } = drive((level) => Math.min(level, 8));
    slots.congested();
    expect(slots.limit).toBe(4);
    let now = 1e6;
    const later = new AdaptiveSlots(4, 16, () => now);
    later.congested();
    for (let i = 0; i < 100; i++) {
      now += 1;
      later.completed();
    }
    expect(later.limit).toBe(2);
  });

  it('stays within [1, max] and settles, for any mapper whose throughput grows then levels off', () => {
    const rand = random(7);
    for (let trial = 0; trial < 300; trial++) {
      const workers = 1 + Math.floor(rand() * 40);
      const overhead = rand() * 0.5;
      const max = 1 + Math.floor(rand() * 32);
      const start = 1 + Math.floor(rand() * 8);
      const { levels } = drive((level) => Math.min(level, workers) / (1 + overhead / level), { start, max, answers: 600 });
      for (const level of levels) expect(level >= 1 && level <= max).toBe(true);
      // Settled: the last third of the run holds one level.
      expect(new Set(levels.slice(400)).size, `workers ${workers}, max ${max}, start ${start}`).toBe(1);
      // Where the mapper can serve more than the ceiling, the level is the ceiling.
      if (workers >= 2 * max && overhead === 0) expect(levels.at(-1)).toBe(max);
    }
  });

  it('a fixed Slots admits exactly its count, in order', async () => {
    const slots = new Slots(2);
    const order: number[] = [];
    await slots.acquire();
    await slots.acquire();
    const third = slots.acquire().then(() => order.push(3));
    const fourth = slots.acquire().then(() => order.push(4));
    await Promise.resolve();
    expect(order).toEqual([]);
    slots.release();
    await third;
    expect(order).toEqual([3]);
    slots.release();
    await fourth;
    expect(order).toEqual([3, 4]);
  });
});
