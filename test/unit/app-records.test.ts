import { describe, expect, it } from 'vitest';
import { planRecords, resolveRecords, writeFlagRecords, type ResolveDeps, type WriteRecordsDeps } from '../../src/app/records.js';
import { ExitCode, SparctlError, UnavailableError, UsageError } from '../../src/core/errors.js';
import type { Mapper } from '../../src/core/mapper.js';
import type { InputRecord } from '../../src/core/resolve.js';
import { DEFAULT_STRATEGIES } from '../../src/core/strategy/strategy.js';
import { LocalMapper } from '../../src/adapters/sqlite/local-mapper.js';
import { strict } from '../helpers/strict.js';

const BANK = { bank_name: 'Example Bank', bank_code: 'EXB', branch_name: 'Main', branch_code: '0001', account_number: '0012345678' };

function usageCode(run: () => unknown): string {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(UsageError);
    return (error as UsageError).code;
  }
  throw new Error('did not throw');
}

describe('planRecords: what the flags make, before any setting is read', () => {
  it('--file alone is a bulk job; --file with a record, or no record at all, is refused', () => {
    expect(planRecords('link', { file: 'a.csv', faFields: { bank_name: undefined } }, false)).toEqual({ kind: 'file' });
    expect(usageCode(() => planRecords('link', { file: 'a.csv', id: 'B1' }, false))).toBe('usage.file_and_flags');
    expect(usageCode(() => planRecords('resolve', { file: 'a.csv', ids: ['B1'] }, false))).toBe('usage.file_and_flags');
    expect(() => planRecords('resolve', {}, false)).toThrow('nothing to resolve: give --id, IDs as arguments, or --file');
    expect(() => planRecords('unlink', {}, false)).toThrow('nothing to unlink: give --id or --file');
  });

  it('builds the record as a file row: FA flags by field, --fa merged with --strategy, name and phone', () => {
    const flat = planRecords('link', { id: 'B1', strategy: 7, faType: 'BANK', faFields: BANK, name: 'Maria', phone: '+63 9' }, false);
    expect(flat).toEqual({
      kind: 'write',
      records: [{ record: { id: 'B1', strategy_id: 7, fa_type: 'BANK', ...BANK, name: 'Maria', phone_number: '+63 9' } }],
    });
    const json = planRecords('update', { id: 'B1', strategy: 7, fa: JSON.stringify({ fa_type: 'BANK', ...BANK }) }, false);
    expect(json).toEqual({ kind: 'write', records: [{ record: { id: 'B1', fa: { fa_type: 'BANK', ...BANK, strategy_id: 7 } } }] });
    const own = planRecords('update', { id: 'B1', strategy: 7, fa: '{"strategy_id":2}' }, false);
    expect(own.kind === 'write' && own.records[0]!.record).toEqual({ id: 'B1', fa: { strategy_id: 2 } });
    expect(usageCode(() => planRecords('link', { id: 'B1', fa: '{fa_type' }, false))).toBe('usage.fa_json');
  });

  it('refuses the flags of file runs with one record, naming what was not done; resolve takes --batch-size', () => {
    expect(() => planRecords('unlink', { id: 'B1', batchSize: 10 }, false)).toThrow(
      '--batch-size applies to --file runs only; nothing was unlinked',
    );
    expect(() => planRecords('link', { id: 'B1', journal: 'j.db' }, false)).toThrow(
      '--journal applies to --file runs only; nothing was linked',
    );
    expect(() => planRecords('update', { id: 'B1', restart: true }, false)).toThrow(
      '--restart applies to --file runs only; nothing was updated',
    );
    expect(() => planRecords('link', { id: 'B1', earlyStop: false }, false)).toThrow(
      '--no-early-stop applies to --file runs only; nothing was linked',
    );
    expect(() => planRecords('link', { id: 'B1', earlyStop: 5 }, false)).toThrow('--early-stop applies to --file runs only');
    expect(planRecords('resolve', { id: 'B1', ids: ['B2'], batchSize: 10 }, false)).toEqual({
      kind: 'resolve',
      records: [{ record: { id: 'B1' } }, { record: { id: 'B2' } }],
    });
  });

  it('resolve --file - refuses a terminal on stdin, and only then', () => {
    expect(usageCode(() => planRecords('resolve', { file: '-' }, true))).toBe('usage.stdin_is_tty');
    expect(planRecords('resolve', { file: '-' }, false)).toEqual({ kind: 'resolve', records: [] });
  });
});

/** A mapper that answers resolve from a map and records each batch; any other call fails. */
function lookupMapper(linked: Record<string, Record<string, unknown>>, batches: string[][], sources: string[]): Mapper {
  return strict<Mapper>('mapper', {
    target: 'fake',
    // A local mapper's strategies: no source, so no FA is checked against a declaration.
    strategies: async () => [...DEFAULT_STRATEGIES],
    resolve: async (items, context) => {
      batches.push(items.map((item) => item.id));
      sources.push(context.source);
      return items.map((item) => {
        const fa = linked[item.id];
        return {
          reference_id: item.reference_id,
          id: item.id,
          status: 'succ',
          status_reason_code: fa ? 'succ.id.active' : 'succ.fa.not_linked_to_id',
          status_reason_message: null,
          ...(fa ? { fa } : {}),
        };
      });
    },
    close: async () => undefined,
  });
}

function resolveDeps(overrides: Partial<ResolveDeps>): ResolveDeps & { said: string[] } {
  const said: string[] = [];
  const base: Partial<ResolveDeps> = {
    via: 'flag --db',
    user: 'ana',
    batchSize: 500,
    concurrency: 4,
    openMapper: async () => strict<Mapper>('mapper', { target: 'fake', strategies: async () => [], close: async () => undefined }),
    problem: (line) => void said.push(line),
  };
  return Object.assign(strict<ResolveDeps>('deps', { ...base, ...overrides }, ['verbose', 'streamResults', 'stdoutFailure']), { said });
}

describe('resolveRecords', () => {
  it('a file with bad rows: says each (at most 20), looks nothing up, and names how many rows are bad', async () => {
    const rows: InputRecord[] = Array.from({ length: 23 }, (_, i) => ({ line: i + 2, record: { id: '' } }));
    const d = resolveDeps({
      openInput: async () => ({
        records: (async function* () {
          yield* rows;
          yield { line: 30, record: { id: 'ok' } };
        })(),
        label: 'ids.csv',
      }),
    });
    const error = await resolveRecords(d, { records: [], file: 'ids.csv' }).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'input.invalid_records', message: 'ids.csv: 23 of 24 records are invalid; no answer was shown' });
    expect(d.said).toHaveLength(21);
    expect(d.said[0]).toBe('ids.csv:2: id is missing');
    expect(d.said[20]).toBe('… and 3 more problems');
  });

  it('looks up in batches of --batch-size (else the profile), says so under --verbose, and names the user in the audit log', async () => {
    const batches: string[][] = [];
    const sources: string[] = [];
    const verbose: string[] = [];
    const d = resolveDeps({
      openMapper: async () => lookupMapper({ B2: { fa_type: 'BANK', ...BANK, strategy_id: 2 } }, batches, sources),
      verbose: (line) => verbose.push(line),
    });
    const records = ['B1', 'B2', 'B3'].map((id) => ({ record: { id } }));
    const result = await resolveRecords(d, { records, batchSize: 2 });
    expect(batches).toEqual([['B1', 'B2'], ['B3']]);
    expect(sources).toEqual(['sparctl resolve (user ana)', 'sparctl resolve (user ana)']);
    expect(verbose).toEqual(['resolve 3 record(s) via flag --db (fake), 2 per batch', '2/3 done', '3/3 done']);
    expect(result.summary.counts).toEqual({ not_found: 2, found: 1 });
    expect(result.exitCode).toBe(0); // not found answers the question
    expect(d.said).toEqual([]);
  });

  it('streams: hands on the answers of each batch in input order as they come, keeps none, and counts them all', async () => {
    const batches: string[][] = [];
    const streamed: string[][] = [];
    const inner = lookupMapper({ B2: { fa_type: 'BANK', ...BANK, strategy_id: 2 } }, batches, []);
    // The first batch answers last: its answers must still go out first.
    const slowFirst: Mapper = strict<Mapper>('mapper', {
      target: 'fake',
      strategies: () => inner.strategies(),
      resolve: async (items, context) => {
        if (items[0]!.id === 'B1') await new Promise((resolve) => setTimeout(resolve, 30));
        return inner.resolve(items, context);
      },
      close: async () => undefined,
    });
    const d = resolveDeps({
      openMapper: async () => slowFirst,
      streamResults: (answered) => void streamed.push(answered.map((item) => `${item.id} ${item.outcome}`)),
    });
    const records = ['B1', 'B2', 'B3', 'B4', 'B5'].map((id) => ({ record: { id } }));
    const result = await resolveRecords(d, { records, batchSize: 2, concurrency: 3 });
    expect(batches).toEqual([['B3', 'B4'], ['B5'], ['B1', 'B2']]); // answered in that order
    expect(streamed).toEqual([['B1 not_found', 'B2 found'], ['B3 not_found', 'B4 not_found'], ['B5 not_found']]);
    expect(result.applied).toEqual([]);
    expect(result.streamed).toBe(true);
    expect(result.summary).toEqual({ operation: 'resolve', total: 5, counts: { not_found: 4, found: 1 }, failed: 0 });
  });

  it('streams until the output fails (a full disk): then no more answers go out, no more lookups start, and the failure is the error', async () => {
    const batches: string[][] = [];
    const streamed: string[] = [];
    const full = new SparctlError('disk.full', 'stdout: cannot write the output', ExitCode.unavailable);
    const d = resolveDeps({
      openMapper: async () => lookupMapper({}, batches, []),
      streamResults: (answered) => void streamed.push(...answered.map((item) => item.id)),
      // The write of the first answers fails: Node tells of it by an event, seen from then on.
      stdoutFailure: () => (streamed.length > 0 ? full : undefined),
    });
    const records = Array.from({ length: 40 }, (_, i) => ({ record: { id: `B${i}` } }));
    const error = await resolveRecords(d, { records, batchSize: 2, concurrency: 1 }).catch((e: unknown) => e);
    expect(error).toBe(full);
    expect(streamed).toEqual(['B0', 'B1']);
    expect(batches.length).toBeLessThan(20);
  });
});

function writeDeps(mapper: Mapper, overrides: Partial<WriteRecordsDeps> = {}): WriteRecordsDeps & { opened: string[] } {
  const opened: string[] = [];
  const base: Partial<WriteRecordsDeps> = {
    via: 'flag --db',
    user: 'ana',
    openMapper: async (access) => {
      opened.push(access);
      return mapper;
    },
  };
  return Object.assign(strict<WriteRecordsDeps>('deps', { ...base, ...overrides }, ['verbose']), { opened });
}

/** A local mapper in memory that outlives the use case's close, so one test can run several. */
function memoryMapper(): Mapper & { reallyClose(): Promise<void> } {
  const store = LocalMapper.open(':memory:');
  return new Proxy(store, {
    get(target, key) {
      if (key === 'close') return async () => undefined;
      if (key === 'reallyClose') return () => target.close();
      const value = Reflect.get(target, key, target) as unknown;
      return typeof value === 'function' ? value.bind(target) : value;
    },
  }) as unknown as Mapper & { reallyClose(): Promise<void> };
}

describe('writeFlagRecords', () => {
  it('a write whose answer and read-back both never came says it is unknown whether it was applied, and how to look', async () => {
    const lost = (what: string) => async () => {
      throw new UnavailableError('remote.timeout', `${what} at http://m/: no answer within 1 s`, { outcomeUnknown: true });
    };
    const mapper = strict<Mapper>(
      'mapper',
      {
        target: 'fake',
        strategies: async () => [...DEFAULT_STRATEGIES],
        close: async () => undefined,
        link: lost('link'),
        resolve: lost('resolve'),
      },
      ['storedFas', 'markRows', 'instanceId', 'ready'],
    );
    const error = await writeFlagRecords(writeDeps(mapper), {
      operation: 'link',
      records: [{ record: { id: 'B1', fa_type: 'BANK', ...BANK } }],
      retries: 0,
    }).catch((e: unknown) => e);
    expect(error).toMatchObject({
      code: 'remote.timeout',
      message: 'link at http://m/: no answer within 1 s; whether the link of B1 was applied is unknown',
      hint: 'resolve the ID to see what the mapper holds before sending again',
    });
  });

  it('an invalid record ends the run before any confirmation or write', async () => {
    const mapper = strict<Mapper>('mapper', {
      target: 'fake',
      strategies: async () => [...DEFAULT_STRATEGIES],
      close: async () => undefined,
    });
    const error = await writeFlagRecords(writeDeps(mapper), {
      operation: 'link',
      records: [{ record: { id: 'B1', fa_type: 'BANK' } }],
    }).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'input.invalid_record' });
    expect((error as Error).message).toMatch(/^invalid record: .*; nothing was written$/);
  });

  it('codes without names where the mapper holds no DFSP list: the first missing name says why, and the way out, once', async () => {
    const mapper = strict<Mapper>('mapper', {
      target: 'fake',
      strategies: async () => [...DEFAULT_STRATEGIES],
      close: async () => undefined,
    });
    const error = await writeFlagRecords(writeDeps(mapper, { loadDfsp: async () => undefined }), {
      operation: 'update',
      records: [{ record: { id: 'B1', fa_type: 'BANK', bank_code: 'EXB', branch_code: '0001', account_number: '444' } }],
    }).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'input.invalid_record' });
    expect((error as Error).message).toBe(
      'invalid record: bank_name is missing (this mapper holds no DFSP list to fill names from codes: give them, or load it with "sparctl dfsp import"); branch_name is missing; nothing was written',
    );
  });

  it('unlink asks for its confirmation first; a dry run opens the mapper read-only, asks nothing and sends nothing', async () => {
    const store = memoryMapper();
    const linked = await writeFlagRecords(writeDeps(store), {
      operation: 'link',
      records: [{ record: { id: 'B1', fa_type: 'BANK', ...BANK } }],
    });
    expect(linked).toMatchObject({ exitCode: 0, summary: { counts: { linked: 1 } } });
    const asked: string[] = [];
    const refuse = writeDeps(store, {
      confirmUnlink: async (what, target) => {
        asked.push(`${what} @ ${target}`);
        throw new UsageError('usage.not_confirmed', 'no');
      },
    });
    await expect(writeFlagRecords(refuse, { operation: 'unlink', records: [{ record: { id: 'B1' } }] })).rejects.toThrow('no');
    expect(asked).toEqual([`1 beneficiary @ ${store.target}`]);
    const unsent = strict<Mapper>(
      'mapper',
      { target: 'fake', strategies: store.strategies.bind(store), resolve: store.resolve.bind(store), close: async () => undefined },
      ['storedFas', 'markRows', 'instanceId'],
    );
    const dry = writeDeps(unsent);
    const result = await writeFlagRecords(dry, { operation: 'unlink', records: [{ record: { id: 'B1' } }], dryRun: true });
    expect(dry.opened).toEqual(['dry-run']);
    expect(result).toMatchObject({ dryRun: true, exitCode: 0, summary: { counts: { unlinked: 1 } } });
    await store.reallyClose();
  });

  it('a rejected record exits 5 and is shown as a single record (its event kept for --results)', async () => {
    const store = memoryMapper();
    const result = await writeFlagRecords(writeDeps(store), {
      operation: 'update',
      records: [{ record: { id: 'NOBODY', fa_type: 'BANK', ...BANK } }],
    });
    expect('interrupted' in result).toBe(false);
    if ('interrupted' in result) return;
    expect(result.exitCode).toBe(5);
    expect(result.applied).toMatchObject([{ id: 'NOBODY', outcome: 'not_found', result: { status: 'rjct', reference_id: '0' } }]);
    expect(result.events).toHaveLength(1);
    await store.reallyClose();
  });
});
