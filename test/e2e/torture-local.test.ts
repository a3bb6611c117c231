import { describe, expect, it } from 'vitest';
import { tortureHistory } from '../helpers/torture.js';

/**
 * The write pipeline's torture test, against the local mapper: random files, random
 * kills, the same command again until it finishes, then the mapper, its audit log and the
 * reports against the reference model (test/helpers/torture.ts). TORTURE_SEEDS and
 * TORTURE_FIRST choose the seeds; `npm run torture -- --seeds N` runs more.
 */
const SEEDS = Number(process.env['TORTURE_SEEDS'] ?? 3);
const FIRST = Number(process.env['TORTURE_FIRST'] ?? 1);

describe('torture: local', () => {
  it(`${SEEDS} seeded histories with kills end as the model says, and a re-run writes nothing`, async () => {
    const failures: string[] = [];
    for (let seed = FIRST; seed < FIRST + SEEDS && failures.length < 3; seed++) {
      const failure = await tortureHistory(seed, 'local');
      if (failure) failures.push(failure);
    }
    expect(failures.join('\n\n')).toBe('');
  }, 300_000);
});
