import { describe, expect, it } from 'vitest';
import type { Mapper, ResolveItem } from '../../src/core/mapper.js';
import { applyItems, type AppliedItem, type PreparedItem } from '../../src/core/resolve.js';

/** resolve --file's batches: several in flight, answers back in input order, never more than asked in flight. */
function slowMapper(delays: () => number) {
  const seen = { inFlight: 0, most: 0 };
  const mapper = {
    target: 'slow',
    async resolve(items: readonly ResolveItem[]) {
      seen.inFlight++;
      seen.most = Math.max(seen.most, seen.inFlight);
      await new Promise((resolve) => setTimeout(resolve, delays()));
      seen.inFlight--;
      if (items.some((item) => item.id === 'BOOM')) throw new Error('boom');
      return items.map((item) => ({
        reference_id: item.reference_id,
        status: 'succ' as const,
        status_reason_code: 'succ.fa.not_linked_to_id',
        status_reason_message: null,
        fa: null,
      }));
    },
  } as unknown as Mapper;
  return { mapper, seen };
}

const items = (ids: string[]): PreparedItem[] =>
  ids.map((id, i) => ({ line: i + 2, item: { reference_id: `r${i}`, id, scope: 'details' } as ResolveItem }));

describe('applyItems', () => {
  it('keeps input order with 4 batches in flight, and never more', async () => {
    let n = 0;
    const { mapper, seen } = slowMapper(() => [9, 1, 5, 3][n++ % 4]!);
    const ids = Array.from({ length: 95 }, (_, i) => `ID${i}`);
    const applied: AppliedItem[] = [];
    await applyItems(mapper, 'resolve', items(ids), {
      batchSize: 10,
      concurrency: 4,
      context: { source: 't' },
      onAnswers: (answered) => void applied.push(...answered),
    });
    expect(applied.map((a) => a.id)).toEqual(ids);
    expect(applied.map((a) => a.line)).toEqual(ids.map((_, i) => i + 2));
    expect(seen.most).toBe(4);
  });

  it('one batch at a time by default; a failing batch fails the whole', async () => {
    const { mapper, seen } = slowMapper(() => 1);
    await applyItems(mapper, 'resolve', items(['A', 'B', 'C']), { batchSize: 1, context: { source: 't' }, onAnswers: () => undefined });
    expect(seen.most).toBe(1);
    await expect(
      applyItems(mapper, 'resolve', items(['A', 'BOOM', 'C', 'D']), {
        batchSize: 1,
        concurrency: 2,
        context: { source: 't' },
        onAnswers: () => undefined,
      }),
    ).rejects.toThrow('boom');
  });
});
