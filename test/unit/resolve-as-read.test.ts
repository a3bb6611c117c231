import { describe, expect, it } from 'vitest';
import type { Mapper, ResolveItem } from '../../src/core/mapper.js';
import { UnavailableError, UsageError } from '../../src/core/errors.js';
import { resolveAsRead, type AppliedItem, type InputRecord } from '../../src/core/resolve.js';

/**
 * resolve --file's look-ups (core/resolve.ts resolveAsRead): batches in flight while the rest is
 * read, answers in input order and only once every record passed; a problem anywhere hands
 * nothing on and stops the look-ups.
 */
function slowMapper(delays: () => number) {
  const seen = { inFlight: 0, most: 0, looked: 0 };
  const mapper = {
    target: 'slow',
    async resolve(items: readonly ResolveItem[]) {
      seen.inFlight++;
      seen.looked += items.length;
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

const records = (ids: string[]): InputRecord[] => ids.map((id, i) => ({ line: i + 2, record: { id } }));

/** The records, read with a pause every `every` of them (a file read in chunks), noting when reading ended. */
async function* chunked(ids: string[], every: number, log: string[]): AsyncGenerator<InputRecord> {
  for (const [i, record] of records(ids).entries()) {
    if (i % every === 0) await new Promise((resolve) => setTimeout(resolve, 2));
    yield record;
  }
  log.push('read');
}

const options = { context: { source: 't' } };

describe('resolveAsRead', () => {
  it('keeps input order with 4 batches in flight, and never more', async () => {
    let n = 0;
    const { mapper, seen } = slowMapper(() => [9, 1, 5, 3][n++ % 4]!);
    const ids = Array.from({ length: 95 }, (_, i) => `ID${i}`);
    const applied: AppliedItem[] = [];
    const { problems, total } = await resolveAsRead(mapper, records(ids), {
      ...options,
      batchSize: 10,
      concurrency: 4,
      onAnswers: (answered) => void applied.push(...answered),
    });
    expect(problems).toEqual([]);
    expect(total).toBe(95);
    expect(applied.map((a) => a.id)).toEqual(ids);
    expect(applied.map((a) => a.line)).toEqual(ids.map((_, i) => i + 2));
    expect(seen.most).toBe(4);
  });

  it('looks batches up while the rest is read, and hands answers on only after the last record', async () => {
    const { mapper, seen } = slowMapper(() => 1);
    const log: string[] = [];
    const ids = Array.from({ length: 60 }, (_, i) => `ID${i}`);
    let lookedWhileReading = 0;
    const reading = chunked(ids, 5, log);
    const watched = (async function* () {
      for await (const record of reading) {
        lookedWhileReading = seen.looked;
        yield record;
      }
    })();
    await resolveAsRead(mapper, watched, {
      ...options,
      batchSize: 10,
      concurrency: 2,
      onAnswers: (answered) => void log.push(`answers ${answered[0]!.id}`),
    });
    expect(lookedWhileReading).toBeGreaterThan(0);
    expect(log[0]).toBe('read');
    expect(log.slice(1)).toEqual([0, 10, 20, 30, 40, 50].map((i) => `answers ID${i}`));
  });

  it('a problem on a late line: every problem returned, nothing handed on, look-ups stopped', async () => {
    const { mapper, seen } = slowMapper(() => 5);
    const ids = Array.from({ length: 200 }, (_, i) => (i === 150 || i === 170 ? '' : `ID${i}`));
    const log: string[] = [];
    const { problems } = await resolveAsRead(mapper, chunked(ids, 10, log), {
      ...options,
      batchSize: 10,
      concurrency: 2,
      onAnswers: () => void log.push('answers'),
    });
    expect(problems.map((p) => p.line)).toEqual([152, 172]);
    expect(log).toEqual(['read']);
    // The batches before line 152 may have been looked up while the rest was read; none after.
    expect(seen.looked).toBeLessThanOrEqual(150);
  });

  it('one batch at a time by default; a failing batch fails the whole and hands nothing after it', async () => {
    const { mapper, seen } = slowMapper(() => 1);
    await resolveAsRead(mapper, records(['A', 'B', 'C']), { ...options, batchSize: 1, onAnswers: () => undefined });
    expect(seen.most).toBe(1);
    const handed: string[] = [];
    await expect(
      resolveAsRead(mapper, records(['A', 'BOOM', 'C', 'D']), {
        ...options,
        batchSize: 1,
        concurrency: 2,
        onAnswers: (answered) => void handed.push(...answered.map((a) => a.id)),
      }),
    ).rejects.toThrow('boom');
    expect(handed).not.toContain('C');
  });

  it('a batch whose lookup fails in a way that may pass is asked again (Retry-After honoured), at most `retries` times; other failures at once', async () => {
    let failures = 2;
    const asked: string[][] = [];
    const mapper = {
      target: 'flaky',
      async resolve(items: readonly ResolveItem[]) {
        asked.push(items.map((item) => item.id));
        if (failures-- > 0) throw new UnavailableError('remote.server_error', 'answered HTTP 502', { retryAfterMs: 3_000 });
        return items.map((item) => ({
          reference_id: item.reference_id,
          status: 'succ' as const,
          status_reason_code: 'succ.id.active',
          status_reason_message: null,
          fa: null,
        }));
      },
    } as unknown as Mapper;
    const waits: number[] = [];
    const retried: string[] = [];
    const handed: string[] = [];
    await resolveAsRead(mapper, records(['A', 'B']), {
      ...options,
      batchSize: 2,
      retries: 2,
      sleep: async (ms) => void waits.push(ms),
      onRetry: (reason, attempt) => retried.push(`${attempt} ${reason}`),
      onAnswers: (answered) => void handed.push(...answered.map((a) => a.id)),
    });
    expect(asked).toEqual([
      ['A', 'B'],
      ['A', 'B'],
      ['A', 'B'],
    ]);
    expect(waits).toEqual([3_000, 3_000]);
    expect(retried).toEqual(['1 answered HTTP 502', '2 answered HTTP 502']);
    expect(handed).toEqual(['A', 'B']);
    // Past its retries, or a failure that will not pass (a refusal of the request itself): thrown.
    failures = 3;
    await expect(
      resolveAsRead(mapper, records(['A']), {
        ...options,
        batchSize: 1,
        retries: 2,
        sleep: async () => undefined,
        onAnswers: () => undefined,
      }),
    ).rejects.toMatchObject({ code: 'remote.server_error' });
    const refusing = {
      target: 'r',
      resolve: async () => {
        throw new UsageError('remote.request_invalid', 'refused');
      },
    } as unknown as Mapper;
    let slept = 0;
    await expect(
      resolveAsRead(refusing, records(['A']), {
        ...options,
        batchSize: 1,
        retries: 5,
        sleep: async () => void slept++,
        onAnswers: () => undefined,
      }),
    ).rejects.toMatchObject({ code: 'remote.request_invalid' });
    expect(slept).toBe(0);
  });

  it('the operation column of a write file is no field of a lookup: the file `link --file` read is fed unchanged', async () => {
    const { mapper } = slowMapper(() => 0);
    const handed: string[] = [];
    const { problems } = await resolveAsRead(mapper, [{ line: 2, record: { operation: 'link', id: 'A' } }], {
      ...options,
      batchSize: 1,
      onAnswers: (answered) => void handed.push(...answered.map((a) => a.id)),
    });
    expect(problems).toEqual([]);
    expect(handed).toEqual(['A']);
  });

  it('an input that cannot be read to its end fails with its own error, whatever was found before', async () => {
    const { mapper } = slowMapper(() => 1);
    async function* broken(): AsyncGenerator<InputRecord> {
      yield { line: 2, record: { id: '' } };
      yield { line: 3, record: { id: 'B' } };
      throw new Error('EIO: i/o error, read');
    }
    const handed: AppliedItem[] = [];
    await expect(
      resolveAsRead(mapper, broken(), { ...options, batchSize: 1, onAnswers: (answered) => void handed.push(...answered) }),
    ).rejects.toThrow('EIO');
    expect(handed).toEqual([]);
  });

  it('an empty input is a problem of its own', async () => {
    const { mapper, seen } = slowMapper(() => 1);
    const { problems } = await resolveAsRead(mapper, [], { ...options, batchSize: 5, onAnswers: () => undefined });
    expect(problems).toEqual([{ field: '(input)', message: 'no records: the input is empty' }]);
    expect(seen.looked).toBe(0);
  });
});

describe('resolveAsRead, held and thrown', () => {
  it('holds at most a few batches of answers while the input is read: the look-ups wait for the rest', async () => {
    const { mapper, seen } = slowMapper(() => 0);
    const log: string[] = [];
    let lookedWhenRead = 0;
    const ids = Array.from({ length: 200 }, (_, i) => `ID${i}`);
    const reading = chunked(ids, 2, log);
    const watched = (async function* () {
      yield* reading;
      lookedWhenRead = seen.looked;
    })();
    const applied: AppliedItem[] = [];
    await resolveAsRead(mapper, watched, {
      ...options,
      batchSize: 10,
      concurrency: 2,
      onAnswers: (answered) => void applied.push(...answered),
    });
    // Two in flight: four batches (40 IDs) looked up ahead at most; then every answer, in order.
    expect(lookedWhenRead).toBeLessThanOrEqual(40);
    expect(lookedWhenRead).toBeGreaterThan(0);
    expect(applied.map((a) => a.id)).toEqual(ids);
  });

  it('a caller that throws on an answer: the run fails with that error, every look-up ends, nothing more is handed on', async () => {
    let n = 0;
    const { mapper, seen } = slowMapper(() => (n++ === 0 ? 0 : 20));
    let calls = 0;
    const unhandled: unknown[] = [];
    const onUnhandled = (error: unknown) => void unhandled.push(error);
    process.on('unhandledRejection', onUnhandled);
    try {
      await expect(
        resolveAsRead(mapper, records(Array.from({ length: 50 }, (_, i) => `ID${i}`)), {
          ...options,
          batchSize: 10,
          concurrency: 3,
          onAnswers: () => {
            calls++;
            throw new Error('EPIPE: the reader went away');
          },
        }),
      ).rejects.toThrow('EPIPE');
      expect(seen.inFlight).toBe(0);
      await new Promise((resolve) => setTimeout(resolve, 60));
      expect(calls).toBe(1);
      expect(unhandled).toEqual([]);
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
  });
});
