import { existsSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { HttpMapper } from '../../src/adapters/http/http-mapper.js';
import { SqliteJournal } from '../../src/adapters/journal/sqlite-journal.js';
import { createSparServer } from '../../src/adapters/server/spar-v2-server.js';
import { LocalMapper } from '../../src/adapters/sqlite/local-mapper.js';
// Through retained.ts: on Node 24 a collected better-sqlite3 object aborts the test process.
import { openDatabase, prepare } from '../../src/adapters/sqlite/retained.js';
import { runBulk, type BulkInputRecord, type BulkMode, type BulkOptions, type Journal, type Sending } from '../../src/core/bulk/engine.js';
import { indexOf } from '../../src/core/bulk/row-index.js';
import type { BulkEvent, RecordEvent } from '../../src/core/bulk/events.js';
import { UnavailableError, UsageError } from '../../src/core/errors.js';
import type { LinkItem, Mapper } from '../../src/core/mapper.js';
import type { Settings } from '../../src/config/settings.js';
import { bank } from '../helpers/records.js';
import { startFaultProxy } from '../helpers/fault-proxy.js';
import { startSparV2Double } from '../helpers/spar-v2-double.js';
import { MemoryJournal } from '../helpers/memory-journal.js';
import { random } from '../helpers/record-corpus.js';
import { tempDir } from '../helpers/tmp.js';

const ctx = { source: 'bulk test' };
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function local(): LocalMapper {
  const mapper = LocalMapper.open(join(tempDir(), 'mapper.db'));
  cleanups.push(() => mapper.close());
  return mapper;
}

async function viaServe(): Promise<{ mapper: Mapper; backing: LocalMapper }> {
  const backing = local();
  const server = createSparServer({ mapper: backing, partners: new Map() });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const mapper = await HttpMapper.create(settingsFor(`http://127.0.0.1:${(server.address() as AddressInfo).port}`));
  cleanups.push(() => mapper.close());
  return { mapper, backing };
}

function settingsFor(baseUrl: string, extra: Partial<Settings> = {}): Settings {
  return {
    profile: 't',
    mode: 'remote',
    protocol: 'spar-v2',
    baseUrl,
    senderAppMnemonic: 'sparctl',
    timeoutMs: 5_000,
    batchSize: 500,
    concurrency: 4,
    ...extra,
  };
}

function records(rows: { id: string; account?: string; mode?: BulkMode }[]): BulkInputRecord[] {
  return rows.map((row, seq) => ({
    seq,
    line: seq + 2,
    key: row.id,
    parsed: {
      ok: true,
      value: row.mode === 'unlink' ? { id: row.id } : { id: row.id, fa: bank(row.account ?? `A-${row.id}`) },
      ...(row.mode ? { mode: row.mode } : {}),
    },
  }));
}

async function* stream(items: readonly BulkInputRecord[]) {
  yield* items;
}

async function run(
  mapper: Mapper,
  input: readonly BulkInputRecord[],
  options: {
    mode?: BulkMode;
    batchSize?: number;
    concurrency?: number;
    retries?: number;
    journal?: Journal;
    recordEvents?: 'all' | 'problems';
    chunkSize?: number;
    chunksInFlight?: number;
    upsertOrder?: 'read-first' | 'link-first' | 'auto';
    /** The records the run's first read saw (default: `input`); others model a file written to during the run. */
    indexed?: readonly BulkInputRecord[];
    beforeSending?: BulkOptions['beforeSending'];
    shouldStop?: BulkOptions['shouldStop'];
  } = {},
) {
  const events: RecordEvent[] = [];
  const indexed = options.indexed ?? input;
  const summary = await runBulk(mapper, stream(input), options.journal ?? new MemoryJournal(), {
    mode: options.mode ?? 'upsert',
    index: indexOf(
      indexed.map((record) => record.key),
      indexed.map((record) => record.line),
    ),
    batchSize: options.batchSize ?? 500,
    concurrency: options.concurrency ?? 4,
    retries: options.retries ?? 5,
    context: ctx,
    sleep: async () => undefined,
    ...(options.recordEvents ? { recordEvents: options.recordEvents } : {}),
    ...(options.chunkSize ? { chunkSize: options.chunkSize } : {}),
    ...(options.chunksInFlight ? { chunksInFlight: options.chunksInFlight } : {}),
    ...(options.upsertOrder ? { upsertOrder: options.upsertOrder } : {}),
    ...(options.beforeSending ? { beforeSending: options.beforeSending } : {}),
    ...(options.shouldStop ? { shouldStop: options.shouldStop } : {}),
    strategies: new Map((await mapper.strategies()).map((strategy) => [strategy.id, strategy])),
    onEvent: (event: BulkEvent) => {
      if (event.type === 'record') events.push(event);
    },
  });
  return { summary, events: events.sort((a, b) => a.seq - b.seq) };
}

describe('bulk engine: the last row of an ID decides', () => {
  const history = [
    { id: 'SAME', account: 'first', mode: 'link' as const },
    { id: 'OTHER', account: 'o1' },
    { id: 'SAME', account: 'second', mode: 'update' as const },
    { id: 'SAME', account: 'third', mode: 'update' as const },
    { id: 'SAME', mode: 'unlink' as const },
    { id: 'OTHER', account: 'o2' },
    { id: 'SAME', account: 'last', mode: 'link' as const },
  ];
  for (const [label, open] of [
    ['local mapper', async () => ({ mapper: local() as Mapper, backing: undefined as LocalMapper | undefined })],
    ['HttpMapper → serve', viaServe],
  ] as const) {
    for (const [batchSize, concurrency] of [
      [1, 1],
      [2, 4],
      [500, 4],
    ] as const) {
      it(`${label}, batch ${batchSize}, concurrency ${concurrency}: earlier rows are superseded, each ID written once, as its last row says`, async () => {
        const opened = await open();
        const store = (opened.backing ?? opened.mapper) as LocalMapper;
        const { summary, events } = await run(opened.mapper, records(history), { batchSize, concurrency });
        expect(events.map((e) => [e.id, e.fate, e.operation, e.supersededBy])).toEqual([
          ['SAME', 'superseded', undefined, 8],
          ['OTHER', 'superseded', undefined, 7],
          ['SAME', 'superseded', undefined, 8],
          ['SAME', 'superseded', undefined, 8],
          ['SAME', 'superseded', undefined, 8],
          ['OTHER', 'applied', 'link', undefined],
          ['SAME', 'applied', 'link', undefined],
        ]);
        expect(summary).toMatchObject({ total: 7, applied: 2, superseded: 5, rejected: 0, notSent: 0 });
        expect(store.storedFa('SAME')).toContain('account_number:last.');
        expect(store.storedFa('OTHER')).toContain('account_number:o2.');
        expect(store.auditRows('SAME').map((r) => r.operation)).toEqual(['link']);
        expect(store.auditRows('OTHER').map((r) => r.operation)).toEqual(['link']);
        // The same input again writes nothing.
        const again = await run(opened.mapper, records(history), { batchSize, concurrency });
        expect(again.summary).toMatchObject({ applied: 0, superseded: 5, unchanged: 1, rejected: 1 });
        expect(again.events[6]).toMatchObject({ id: 'SAME', fate: 'rejected', outcome: 'already_linked' });
        expect(store.auditRows().length).toBe(2);
      });
    }
  }
});

/** A mapper whose every call takes a random few milliseconds, counting the calls in flight at once. */
function slow(inner: LocalMapper, seed: number): Mapper & { inFlight: number; most: number } {
  const rand = random(seed);
  const wrapper = {
    inFlight: 0,
    most: 0,
    target: inner.target,
    strategies: () => inner.strategies(),
    close: () => inner.close(),
    resolve: (items: Parameters<Mapper['resolve']>[0], c: Parameters<Mapper['resolve']>[1]) => timed(() => inner.resolve(items, c)),
    storedFas: (ids: readonly string[]) => timed(() => inner.storedFas(ids)),
    link: (items: readonly LinkItem[], c: Parameters<Mapper['link']>[1]) => timed(() => inner.link(items, c)),
    update: (items: readonly LinkItem[], c: Parameters<Mapper['update']>[1]) => timed(() => inner.update(items, c)),
    unlink: (items: Parameters<Mapper['unlink']>[0], c: Parameters<Mapper['unlink']>[1]) => timed(() => inner.unlink(items, c)),
  };
  async function timed<T>(call: () => Promise<T>): Promise<T> {
    wrapper.inFlight++;
    wrapper.most = Math.max(wrapper.most, wrapper.inFlight);
    try {
      // The delay comes first: the state a call reads or writes is the one at its end, as over a network.
      await new Promise((resolve) => setTimeout(resolve, Math.floor(rand() * 4)));
      return await call();
    } finally {
      wrapper.inFlight--;
    }
  }
  return wrapper;
}

describe('bulk engine: several chunks in flight', () => {
  // A random history over a few IDs: mostly IDs of their own, some shared ones.
  function history(seed: number, rows: number): { id: string; account?: string; mode: BulkMode }[] {
    const rand = random(seed);
    const out: { id: string; account?: string; mode: BulkMode }[] = [];
    for (let at = 0; at < rows; at++) {
      const id = rand() < 0.3 ? `SHARED-${Math.floor(rand() * 4)}` : `OWN-${at}`;
      const mode: BulkMode = (['upsert', 'link', 'update', 'unlink'] as const)[Math.floor(rand() * 4)]!;
      out.push({ id, mode, ...(mode === 'unlink' ? {} : { account: `${id}-${at}` }) });
    }
    return out;
  }

  for (const [chunkSize, chunksInFlight, concurrency] of [
    [3, 3, 2],
    [5, 4, 4],
    [2, 8, 3],
  ] as const) {
    it(`chunks of ${chunkSize}, ${chunksInFlight} in flight, ${concurrency} requests: every ID ends as the model says, within the request limit`, async () => {
      const store = local();
      const mapper = slow(store, chunkSize * 100 + chunksInFlight);
      const rows = history(chunkSize + chunksInFlight, 160);
      const input = records(rows);
      const { summary, events } = await run(mapper, input, { batchSize: 2, concurrency, chunkSize, chunksInFlight });
      const { runModel } = await import('../helpers/write-model.js');
      const model = runModel(
        new Map(),
        rows.map((row, at) => ({
          line: at + 2,
          id: row.id,
          valid: true,
          mode: row.mode,
          ...(row.account ? { fa: store.storedFa(row.id) ?? `account_number:${row.account}.` } : {}),
        })),
        { comparesNamePhone: true },
      );
      expect(summary.total).toBe(rows.length);
      expect(summary.notSent).toBe(0);
      for (const event of events) expect(model.reports.get(event.line!)!.fates).toContain(event.fate);
      const ids = new Set(rows.map((row) => row.id));
      for (const id of ids) {
        const written = model.writes.get(id);
        expect(store.auditRows(id).map((row) => row.operation)).toEqual(written ? [written.operation] : []);
        expect(store.storedFa(id) !== undefined).toBe(model.state.has(id));
        const last = [...rows].reverse().find((row) => row.id === id)!;
        if (model.state.has(id)) expect(store.storedFa(id)).toContain(`account_number:${last.account}.`);
      }
      // Requests did overlap across chunks, and never past the limit.
      expect(mapper.most).toBeGreaterThan(1);
      expect(mapper.most).toBeLessThanOrEqual(concurrency);
    });
  }

  it('reports records in input order although chunks settle out of order', async () => {
    const rows = history(21, 120);
    // Every fourth record is invalid: reported at once by its chunk, the others after their requests.
    const input = records(rows).map((record, at) =>
      at % 4 === 3 ? { ...record, parsed: { ok: false as const, problems: [{ field: 'id', message: 'bad' }] } } : record,
    );
    const seqs: number[] = [];
    await runBulk(slow(local(), 21), stream(input), new MemoryJournal(), {
      mode: 'upsert',
      index: indexOf(input.map((record) => record.key)),
      batchSize: 2,
      concurrency: 3,
      retries: 1,
      context: ctx,
      chunkSize: 4,
      chunksInFlight: 4,
      onEvent: (event: BulkEvent) => {
        if (event.type === 'record') seqs.push(event.seq);
      },
    });
    expect(seqs).toEqual(input.map((record) => record.seq));
  });

  it('with one chunk in flight (the default), a chunk of one batch of new IDs sends one request at a time; with three, several', async () => {
    const rows = Array.from({ length: 60 }, (_, at) => ({ id: `NEW-${at}`, mode: 'link' as const }));
    const alone = slow(local(), 5);
    await run(alone, records(rows), { batchSize: 10, concurrency: 4, chunkSize: 10 });
    expect(alone.most).toBe(1);
    const ahead = slow(local(), 5);
    await run(ahead, records(rows), { batchSize: 10, concurrency: 4, chunkSize: 10, chunksInFlight: 3 });
    expect(ahead.most).toBeGreaterThan(1);
    expect(ahead.most).toBeLessThanOrEqual(3);
  });
});

describe('bulk engine: upsert', () => {
  it('links new IDs, updates changed ones, leaves unchanged ones alone, so a re-run changes nothing', async () => {
    const mapper = local();
    const rows = Array.from({ length: 30 }, (_, i) => ({ id: `U${i}` }));
    const first = await run(mapper, records(rows), { batchSize: 7 });
    expect(first.summary).toMatchObject({ applied: 30, unchanged: 0 });
    const again = await run(mapper, records(rows), { batchSize: 7 });
    expect(again.summary).toMatchObject({ applied: 0, unchanged: 30 });
    const changed = await run(mapper, records(rows.map((r, i) => (i % 10 === 0 ? { ...r, account: 'moved' } : r))), { batchSize: 7 });
    expect(changed.summary).toMatchObject({ applied: 3, unchanged: 27 });
    expect(changed.events.filter((e) => e.fate === 'applied').map((e) => e.operation)).toEqual(['update', 'update', 'update']);
    expect(mapper.auditRows().length).toBe(33);
  });

  it('compares FAs as their strategy stores them: a strategy-5 bank FA (no bank name stored) is unchanged on a re-run', async () => {
    const mapper = local();
    const input: BulkInputRecord[] = [
      { seq: 0, line: 2, key: 'S5', parsed: { ok: true, value: { id: 'S5', fa: bank('0012', { strategy_id: 5 }) } } },
    ];
    expect((await run(mapper, input)).summary).toMatchObject({ applied: 1 });
    expect((await run(mapper, input)).summary).toMatchObject({ applied: 0, unchanged: 1 });
  });

  it('updates a record whose name or communication phone changed with its FA unchanged; a record without them keeps the stored ones', async () => {
    const mapper = local();
    const person = (seq: number, id: string, extra: { name?: string; phone_number?: string }): BulkInputRecord => ({
      seq,
      line: seq + 2,
      key: id,
      parsed: { ok: true, value: { id, fa: bank(`A-${id}`), ...extra } },
    });
    const first = [
      person(0, 'P1', { name: 'Ana Cruz', phone_number: '+639170000001' }),
      person(1, 'P2', { name: 'Ben Reyes', phone_number: '+639170000002' }),
    ];
    expect((await run(mapper, first)).summary).toMatchObject({ applied: 2 });
    expect((await run(mapper, first)).summary).toMatchObject({ applied: 0, unchanged: 2 });

    // P1's phone was corrected; P2's row comes without name or phone, which leaves them as they are.
    const second = await run(mapper, [person(0, 'P1', { name: 'Ana Cruz', phone_number: '+639170000009' }), person(1, 'P2', {})]);
    expect(second.events.map((e) => [e.id, e.operation, e.fate])).toEqual([
      ['P1', 'update', 'applied'],
      ['P2', undefined, 'unchanged'],
    ]);
    const stored = await mapper.storedFas(['P1', 'P2']);
    expect(stored.get('P1')).toMatchObject({ name: 'Ana Cruz', phone: '+639170000009' });
    expect(stored.get('P2')).toMatchObject({ name: 'Ben Reyes', phone: '+639170000002' });

    // Within one run, the last row of an ID decides: the earlier ones are superseded, not applied.
    const rows = [
      person(0, 'P3', { name: 'Cora Lim', phone_number: '+639170000003' }),
      person(1, 'P3', { phone_number: '+639170000003' }),
      person(2, 'P3', { name: 'Cora Lim-Tan' }),
      person(3, 'P3', { name: 'Cora Lim-Tan', phone_number: '+639170000003' }),
    ];
    const last = await run(mapper, rows);
    expect(last.events.map((e) => [e.operation, e.fate, e.supersededBy])).toEqual([
      [undefined, 'superseded', 5],
      [undefined, 'superseded', 5],
      [undefined, 'superseded', 5],
      ['link', 'applied', undefined],
    ]);
    expect((await mapper.storedFas(['P3'])).get('P3')).toMatchObject({ name: 'Cora Lim-Tan', phone: '+639170000003' });
    expect(mapper.auditRows('P3').map((r) => r.operation)).toEqual(['link']);
    expect((await run(mapper, rows)).summary).toMatchObject({ applied: 0, unchanged: 1, superseded: 3 });
  });

  it('through serve, whose resolve tells no name or phone, compares the FA alone', async () => {
    const { mapper, backing } = await viaServe();
    const row = (phone: string): BulkInputRecord[] => [
      { seq: 0, line: 2, key: 'R1', parsed: { ok: true, value: { id: 'R1', fa: bank('A-R1'), phone_number: phone } } },
    ];
    expect((await run(mapper, row('+639170000001'))).summary).toMatchObject({ applied: 1 });
    expect((await run(mapper, row('+639170000002'))).summary).toMatchObject({ applied: 0, unchanged: 1 });
    expect((await backing.storedFas(['R1'])).get('R1')).toMatchObject({ phone: '+639170000001' });
  });

  it('auto order, through serve: the first chunk is linked unread, and so is every new ID once its answers show them new; a re-run reads after one chunk of refused links', async () => {
    const { mapper } = await viaServe();
    const calls: string[] = [];
    const counted: Mapper = {
      target: mapper.target,
      strategies: () => mapper.strategies(),
      close: () => mapper.close(),
      resolve: (items, context) => (calls.push(`resolve ${items.length}`), mapper.resolve(items, context)),
      link: (items, context) => (calls.push(`link ${items.length}`), mapper.link(items, context)),
      update: (items, context) => (calls.push(`update ${items.length}`), mapper.update(items, context)),
      unlink: (items, context) => (calls.push(`unlink ${items.length}`), mapper.unlink(items, context)),
    };
    const tally = () => {
      const sum: Record<string, number> = {};
      for (const call of calls.splice(0)) {
        const [operation, n] = call.split(' ');
        sum[operation!] = (sum[operation!] ?? 0) + Number(n);
      }
      return sum;
    };
    const rows = Array.from({ length: 200 }, (_, i) => ({ id: `N${i}` }));
    const options = { batchSize: 10, chunkSize: 50, upsertOrder: 'auto' as const };
    // First import: nothing is read; the first chunk's answers show the IDs new.
    expect((await run(counted, records(rows), options)).summary).toMatchObject({ applied: 200 });
    expect(tally()).toEqual({ link: 200 });
    // A re-run: the first chunk's 50 links are refused as duplicates (writing nothing) and read;
    // they show every ID linked, so every later ID is read first; nothing is written.
    expect((await run(counted, records(rows), options)).summary).toMatchObject({ applied: 0, unchanged: 200 });
    expect(tally()).toEqual({ link: 50, resolve: 200 });
    // Two chunks planned before any answer is in: the second reads a sample of 10 first.
    const overlapping = Array.from({ length: 100 }, (_, i) => ({ id: `O${i}` }));
    expect((await run(counted, records(overlapping), { ...options, chunksInFlight: 2 })).summary).toMatchObject({ applied: 100 });
    expect(tally()).toEqual({ link: 100, resolve: 10 });
    // Half moved, half new, link-first: each existing ID is read after its refused link, and updated
    // only when it changed; the new ones are linked.
    const mixed = [
      ...rows.slice(0, 100).map((row, i) => (i % 2 === 0 ? { ...row, account: 'moved' } : row)),
      ...Array.from({ length: 100 }, (_, i) => ({ id: `M${i}` })),
    ];
    const third = await run(counted, records(mixed), { ...options, upsertOrder: 'link-first' });
    expect(third.summary).toMatchObject({ applied: 150, unchanged: 50 });
    expect(third.events.filter((event) => event.fate === 'applied' && event.operation === 'update')).toHaveLength(50);
    expect(tally()).toEqual({ link: 200, resolve: 100, update: 50 });
  });

  it("with recordEvents 'problems', reports only the rejected records one by one and still counts them all", async () => {
    const mapper = local();
    await run(mapper, records([{ id: 'E1' }]));
    const input = records([{ id: 'E1' }, { id: 'E2' }, { id: 'E3', mode: 'update' }]);
    const { summary, events } = await run(mapper, input, { recordEvents: 'problems' });
    expect(summary).toMatchObject({ total: 3, applied: 1, unchanged: 1, rejected: 1 });
    expect(summary.byOperation).toMatchObject({ none: { unchanged: 1 }, link: { applied: 1 }, update: { rejected: 1 } });
    expect(events.map((e) => [e.id, e.fate, e.code])).toEqual([['E3', 'rejected', 'rjct.reference_id.duplicate']]);
  });

  it('reports invalid input records as rejected with their field, and sends the rest', async () => {
    const mapper = local();
    const input: BulkInputRecord[] = [
      ...records([{ id: 'GOOD' }]),
      {
        seq: 1,
        line: 3,
        raw: { id: '', account_number: '1' },
        key: undefined,
        parsed: { ok: false, problems: [{ field: 'id', message: 'id is missing', code: 'input.invalid' }] },
      },
    ];
    const { summary, events } = await run(mapper, input);
    expect(summary).toMatchObject({ total: 2, applied: 1, rejected: 1 });
    expect(events[1]).toMatchObject({
      seq: 1,
      line: 3,
      fate: 'rejected',
      code: 'input.invalid',
      field: 'id',
      message: 'id is missing',
      raw: { id: '', account_number: '1' },
    });
  });
});

/** A mapper that fails, as a whole, every request holding a poison ID — as SPAR does for some bad rows. */
function poisoned(inner: Mapper, poison: string): Mapper & { requests: number } {
  const wrapper = {
    requests: 0,
    target: inner.target,
    strategies: () => inner.strategies(),
    close: () => inner.close(),
    resolve: (items: Parameters<Mapper['resolve']>[0], c: Parameters<Mapper['resolve']>[1]) => inner.resolve(items, c),
    unlink: (items: Parameters<Mapper['unlink']>[0], c: Parameters<Mapper['unlink']>[1]) => inner.unlink(items, c),
    update: (items: readonly LinkItem[], c: Parameters<Mapper['update']>[1]) => inner.update(items, c),
    link: async (items: readonly LinkItem[], c: Parameters<Mapper['link']>[1]) => {
      wrapper.requests++;
      if (items.some((item) => item.id === poison))
        throw new UnavailableError('remote.batch_failed', 'failed the whole request (rjct.internal.error: Internal server error)');
      return inner.link(items, c);
    },
  };
  return wrapper;
}

/** A mapper whose resolve answers leave out the IDs `leaveOut` names (a partial answer), counting its resolves. */
function forgetful(inner: Mapper, leaveOut: (id: string, call: number) => boolean): Mapper & { resolves: number } {
  const wrapper = {
    resolves: 0,
    target: inner.target,
    strategies: () => inner.strategies(),
    close: () => inner.close(),
    resolve: async (items: Parameters<Mapper['resolve']>[0], c: Parameters<Mapper['resolve']>[1]) => {
      const call = wrapper.resolves++;
      const results = await inner.resolve(items, c);
      return results.filter((result) => !leaveOut(result.id, call));
    },
    unlink: (items: Parameters<Mapper['unlink']>[0], c: Parameters<Mapper['unlink']>[1]) => inner.unlink(items, c),
    update: (items: readonly LinkItem[], c: Parameters<Mapper['update']>[1]) => inner.update(items, c),
    link: (items: readonly LinkItem[], c: Parameters<Mapper['link']>[1]) => inner.link(items, c),
  };
  return wrapper;
}

describe('bulk engine: reads answered in part', () => {
  it('an ID a resolve answer leaves out is asked again, never taken as not linked; one always left out stops the run', async () => {
    const inner = local();
    const rows = Array.from({ length: 20 }, (_, i) => ({ id: `Q${i}` }));
    await run(inner, records(rows), { mode: 'link' });
    // The first answer leaves out every other ID (a mapper answering in parts): an upsert of
    // the same rows finds them all unchanged, none rejected as "refused as a duplicate, then not linked".
    const partial = forgetful(inner, (id, call) => call === 0 && Number(id.slice(1)) % 2 === 0);
    const { summary } = await run(partial, records(rows), { upsertOrder: 'read-first' });
    expect(summary).toMatchObject({ applied: 0, unchanged: 20, rejected: 0 });
    expect(partial.resolves).toBe(2);
    const silent = forgetful(inner, (id) => id === 'Q3');
    const stopped = await run(silent, records(rows), { upsertOrder: 'read-first', retries: 2 });
    expect(stopped.summary.stopped).toMatchObject({
      code: 'remote.unexpected_answer',
      message: expect.stringContaining("the mapper's resolve answers kept leaving out Q3: what it holds for it is unknown"),
    });
    expect(stopped.summary).toMatchObject({ applied: 0, rejected: 0 });
    expect(inner.countMappings()).toBe(20);
  });
});

describe('bulk engine: failures', () => {
  it('bisects a batch the mapper keeps failing as a whole down to the poison record', async () => {
    const mapper = local();
    const bad = poisoned(mapper, 'P13');
    const rows = Array.from({ length: 32 }, (_, i) => ({ id: `P${i}` }));
    const { summary, events } = await run(bad, records(rows), { mode: 'link', batchSize: 32, retries: 3 });
    expect(summary).toMatchObject({ applied: 31, rejected: 1, notSent: 0 });
    expect(events[13]).toMatchObject({ id: 'P13', fate: 'rejected', code: 'rjct.internal.error' });
    expect(mapper.countMappings()).toBe(31);
    expect(bad.requests).toBeLessThan(20); // log2(32) levels, not one request per record
  });

  it('survives resets, 5xx, 429 with Retry-After and answers that come after the timeout, applying each record exactly once', async () => {
    const double = await startSparV2Double();
    cleanups.push(() => double.close());
    const mapper = await HttpMapper.create(settingsFor(double.url, { timeoutMs: 400 }));
    cleanups.push(() => mapper.close());
    double.inject(
      { reset: true },
      { status: 503, body: 'busy', headers: { 'retry-after': '1' } },
      { applyThen: 'reset' },
      { status: 429, body: '', headers: { 'retry-after': '0' } },
      { delayMs: 1_500 },
      { applyThen: { status: 502, body: 'bad gateway' } },
    );
    const rows = Array.from({ length: 60 }, (_, i) => ({ id: `F${i}` }));
    const { summary, events } = await run(mapper, records(rows), { mode: 'link', batchSize: 10, concurrency: 2, retries: 8 });
    expect(summary).toMatchObject({ total: 60, rejected: 0, notSent: 0 });
    expect(summary.applied + summary.confirmed).toBe(60);
    expect(summary.retries).toBeGreaterThanOrEqual(6);
    expect(events.every((e) => e.outcome === 'linked')).toBe(true); // none reported "already linked"
    expect(double.rows().size).toBe(60);
    // A link repeated blindly after an applied-but-unanswered request would come back "already linked".
    const applied = [...double.rows().keys()];
    expect(double.requests.some((r) => r.path.endsWith('/resolve'))).toBe(true);
    expect(applied.sort()).toEqual(rows.map((r) => r.id).sort());
  });

  it('through a fault-injecting proxy in front of serve: every record applied exactly once, none reported failed', async () => {
    const backing = local();
    const server = createSparServer({ mapper: backing, partners: new Map() });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
    const proxy = await startFaultProxy(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
    cleanups.push(() => proxy.close());
    const mapper = await HttpMapper.create(settingsFor(proxy.url, { timeoutMs: 300 }));
    cleanups.push(() => mapper.close());
    proxy.plan(
      'reset-before',
      'reset-after',
      { status: 500 },
      { status: 429, retryAfter: '0' },
      { slowMs: 900 },
      'reset-after',
      { status: 503 },
      'reset-after',
    );
    const rows = Array.from({ length: 120 }, (_, i) => ({ id: `X${String(i).padStart(3, '0')}` }));
    const { summary, events } = await run(mapper, records(rows), { batchSize: 10, concurrency: 3, retries: 8 });
    expect(summary).toMatchObject({ total: 120, applied: 120, rejected: 0, notSent: 0 });
    // An upsert read the state first: a change the mapper shows after a lost answer is this run's.
    expect(events.every((e) => e.fate === 'applied' && e.operation === 'link')).toBe(true);
    expect(proxy.log.filter((l) => l.fault !== 'none').length).toBe(8); // every fault was used
    expect(backing.countMappings()).toBe(120);
    const audit = backing.auditRows();
    expect(audit.length).toBe(120);
    expect(new Set(audit.map((r) => r.id_value)).size).toBe(120);
    expect(audit.every((r) => r.operation === 'link')).toBe(true);
  });

  it('stops with exit 4 when the mapper stays down, keeps the unsettled records in the journal, and a re-run finishes them', async () => {
    const backing = local();
    const server = createSparServer({ mapper: backing, partners: new Map() });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as AddressInfo).port;
    const journal = SqliteJournal.open(join(tempDir(), 'journal.db'), { fingerprint: 'f1', description: 'test' }, false);
    cleanups.push(() => journal.close());
    const rows = records(Array.from({ length: 40 }, (_, i) => ({ id: `J${i}` })));

    const first = await HttpMapper.create(settingsFor(`http://127.0.0.1:${port}`));
    // Let 20 records through, then the server goes away.
    const half = await run(first, rows.slice(0, 20), { mode: 'link', batchSize: 10, journal });
    expect(half.summary).toMatchObject({ applied: 20 });
    await first.close();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    const down = await HttpMapper.create(settingsFor(`http://127.0.0.1:${port}`));
    const stopped = await run(down, rows, { mode: 'link', batchSize: 10, journal, retries: 2 });
    await down.close();
    expect(stopped.summary.stopped).toMatchObject({ code: 'remote.refused', exitCode: 4 });
    expect(stopped.summary.earlier).toEqual({ applied: 20 });
    expect(stopped.summary.notSent).toBe(20);
    expect(stopped.summary.applied + stopped.summary.notSent).toBe(40);

    const again = createSparServer({ mapper: backing, partners: new Map() });
    await new Promise<void>((resolve) => again.listen(port, '127.0.0.1', resolve));
    cleanups.push(() => new Promise<void>((resolve) => again.close(() => resolve())));
    const up = await HttpMapper.create(settingsFor(`http://127.0.0.1:${port}`));
    cleanups.push(() => up.close());
    const resumed = await run(up, rows, { mode: 'link', batchSize: 10, journal });
    expect(resumed.summary).toMatchObject({ total: 40, earlier: { applied: 20 }, applied: 40, rejected: 0, notSent: 0 });
    expect(backing.countMappings()).toBe(40);
    expect(backing.auditRows().filter((r) => r.operation === 'link').length).toBe(40);
  });

  it('a resumed run stopped before it reaches what an earlier run settled counts those as settled, not "not done"', async () => {
    const mapper = local();
    const journal = new MemoryJournal();
    const rows = records(Array.from({ length: 40 }, (_, i) => ({ id: `W${i}` })));
    expect((await run(mapper, rows.slice(0, 30), { mode: 'link', batchSize: 10, journal })).summary).toMatchObject({ applied: 30 });
    // Stopped at once (Ctrl-C as it starts): it walks past nothing.
    const stopped = await run(mapper, rows, { mode: 'link', batchSize: 10, journal, shouldStop: () => true });
    expect(stopped.summary).toMatchObject({ total: 40, applied: 30, earlier: { applied: 30 }, notSent: 10 });
    expect(stopped.summary.byOperation).toEqual({ link: { applied: 30 } });
  });

  it('a mapper that refuses every request: the first request to give up stops the others at their next attempt, and the run says why (exit 4)', async () => {
    const inner = local();
    let calls = 0;
    const refusing = new Proxy(inner, {
      get(target, key) {
        if (key === 'link')
          return async () => {
            calls++;
            // Each answer takes a turn of the event loop, as a real refusal does.
            await new Promise((resolve) => setImmediate(resolve));
            throw new UnavailableError('remote.refused', 'POST http://127.0.0.1:9/mapper/link: connection refused');
          };
        const value = Reflect.get(target, key, target) as unknown;
        return typeof value === 'function' ? value.bind(target) : value;
      },
    }) as Mapper;
    const rows = records(Array.from({ length: 400 }, (_, i) => ({ id: `DOWN${i}` })));
    const { summary } = await run(refusing, rows, { mode: 'link', batchSize: 10, retries: 3, chunkSize: 20, chunksInFlight: 4 });
    expect(summary.stopped).toMatchObject({ code: 'remote.refused', exitCode: 4 });
    expect(summary.notSent).toBe(400);
    // 40 batches of 4 attempts each would be 160 calls; the run ends once one batch spends its
    // retries, with what was already being sent at most one attempt further each.
    expect(calls).toBeLessThanOrEqual(4 * 4 + 8);
  });

  it('reconciles records an interrupted run left in flight instead of sending them again', async () => {
    const mapper = local();
    const rows = records([{ id: 'R1' }, { id: 'R2' }]);
    // R1 was sent and applied, R2 was sent but never reached the mapper; the process died.
    await mapper.link([{ reference_id: 'x', id: 'R1', fa: bank('A-R1') }], ctx);
    const journal = new MemoryJournal();
    journal.markInflight([0, 1], 'link');
    const { summary, events } = await run(mapper, rows, { mode: 'link', journal });
    expect(summary).toMatchObject({ applied: 1, confirmed: 1, rejected: 0 });
    // A strict link is sent without reading first: the run cannot tell who linked R1.
    expect(events[0]).toMatchObject({ id: 'R1', fate: 'confirmed', message: 'sent by an interrupted run; the mapper shows the change' });
    expect(events[1]).toMatchObject({ id: 'R2', fate: 'applied', outcome: 'linked' });
    expect(mapper.auditRows('R1')).toHaveLength(1);
  });
});

describe('bulk engine: what a write replaced', () => {
  it('tells, before a record is journalled in flight or sent, what this run read for it; a write an earlier run sent, only read back now, is not told', async () => {
    const mapper = local();
    // U: linked before the job; N: new; E1: an earlier run's update, applied before it died;
    // E2: an earlier run's update that never reached the mapper, which holds what it held.
    await mapper.link(
      [
        { reference_id: 'a', id: 'U', fa: bank('OLD-U') },
        { reference_id: 'b', id: 'E1', fa: bank('A-E1') },
        { reference_id: 'c', id: 'E2', fa: bank('OLD-E2') },
      ],
      ctx,
    );
    const journal = new MemoryJournal();
    journal.markInflight([2, 3], 'update');
    const told: (Sending & { inflight: boolean })[] = [];
    const beforeSending = (records: readonly Sending[]) => {
      for (const record of records) told.push({ ...record, inflight: journal.entries.get(record.seq)?.state === 'inflight' });
    };
    // Journalled in flight only after it was told (E2 was in flight already, from the earlier run).
    const inflight = journal.markInflight.bind(journal);
    journal.markInflight = (seqs, operation) => {
      for (const seq of seqs) expect(told.map((record) => record.seq)).toContain(seq);
      inflight(seqs, operation);
    };
    const { events } = await run(mapper, records([{ id: 'U' }, { id: 'N' }, { id: 'E1' }, { id: 'E2' }]), { journal, beforeSending });
    expect(events.map((event) => [event.id, event.operation, event.fate])).toEqual([
      ['U', 'update', 'applied'],
      ['N', 'link', 'applied'],
      ['E1', 'update', 'applied'],
      ['E2', 'update', 'applied'],
    ]);
    expect(events[2]!.message).toBe('sent by an interrupted run; the mapper shows the change');
    const held = (account: string) => expect.objectContaining({ fa: expect.stringMatching(new RegExp(`^account_number:${account}\\.`)) });
    expect(told.sort((a, b) => a.seq - b.seq)).toEqual([
      { seq: 0, operation: 'update', before: held('OLD-U'), inflight: false },
      { seq: 1, operation: 'link', before: null, inflight: false },
      // Sent again: what this run read, though the earlier run's plan is not known.
      { seq: 3, operation: 'update', before: held('OLD-E2'), inflight: true },
    ]);
  });

  it('an upsert sent as a link unread and found linked is told again as the update, with what was read then', async () => {
    const { mapper, backing } = await viaServe();
    await backing.link([{ reference_id: 'a', id: 'L1', fa: bank('OLD-L1') }], ctx);
    const told: Sending[] = [];
    const { events } = await run(mapper, records([{ id: 'L1' }]), {
      upsertOrder: 'link-first',
      beforeSending: (records) => told.push(...records),
    });
    expect(events[0]).toMatchObject({ id: 'L1', operation: 'update', fate: 'applied' });
    expect(told).toEqual([
      { seq: 0, operation: 'link', before: undefined },
      { seq: 0, operation: 'update', before: expect.objectContaining({ account_number: 'OLD-L1', strategy_id: 2 }) },
    ]);
  });
});

describe('bulk engine: an input written to during the run', () => {
  const rows = records(Array.from({ length: 30 }, (_, i) => ({ id: `C${i}` })));

  it('rows appended after the first read are never sent: the run sends the counted ones and stops with engine.input_changed (exit 4)', async () => {
    const mapper = local();
    const grown = [...rows, ...records([{ id: 'X1' }, { id: 'X2' }]).map((record, i) => ({ ...record, seq: 30 + i, line: 32 + i }))];
    const { summary, events } = await run(mapper, grown, { mode: 'link', batchSize: 7, indexed: rows });
    expect(summary.stopped).toMatchObject({ code: 'engine.input_changed', exitCode: 4 });
    expect(summary.stopped?.message).toContain('line 32 is past the 30 record(s)');
    expect(summary).toMatchObject({ total: 30, applied: 30 });
    expect(events).toHaveLength(30);
    expect(mapper.countMappings()).toBe(30);
    expect(await mapper.resolve([{ reference_id: 'r', id: 'X1', scope: 'details' }], ctx)).toMatchObject([
      { status_reason_code: 'succ.fa.not_linked_to_id' },
    ]);
  });

  it('an input cut short: what was read is applied, and the run says it stopped short with engine.input_changed', async () => {
    const mapper = local();
    const { summary } = await run(mapper, rows.slice(0, 25), { mode: 'link', batchSize: 7, indexed: rows });
    expect(summary.stopped).toMatchObject({ code: 'engine.input_changed', exitCode: 4 });
    expect(summary.stopped?.message).toContain('ended after 25 of the 30 record(s)');
    expect(summary).toMatchObject({ applied: 25, notSent: 5 });
    expect(mapper.countMappings()).toBe(25);
  });

  it('a superseder cut off by the change: the superseded row stays unsent and the run does not end as finished', async () => {
    const mapper = local();
    const indexed = records([{ id: 'S', account: 'old' }, { id: 'T' }, { id: 'S', account: 'new' }]);
    const { summary } = await run(mapper, indexed.slice(0, 2), { mode: 'link', indexed });
    expect(summary.stopped).toMatchObject({ code: 'engine.input_changed', exitCode: 4 });
    expect(await mapper.resolve([{ reference_id: 'r', id: 'S', scope: 'details' }], ctx)).toMatchObject([
      { status_reason_code: 'succ.fa.not_linked_to_id' },
    ]);
  });

  it('a file that can no longer be read as first read (a quote left open by an append): a stop with what was sent, not a refusal saying nothing was', async () => {
    /** A link run of `input` whose first read counted the 30 rows. */
    const runOf = async (mapper: LocalMapper, input: AsyncIterable<readonly BulkInputRecord[]>) =>
      runBulk(mapper, input, new MemoryJournal(), {
        mode: 'link',
        index: indexOf(rows.map((record) => record.key)),
        batchSize: 7,
        concurrency: 2,
        retries: 1,
        context: ctx,
        sleep: async () => undefined,
        strategies: new Map((await mapper.strategies()).map((strategy) => [strategy.id, strategy])),
      });
    async function* failing() {
      yield rows.slice(0, 20);
      throw new UsageError('input.csv_malformed', 'f.csv:22: a quoted cell is never closed');
    }
    const summary = await runOf(local(), failing());
    expect(summary.stopped).toMatchObject({
      code: 'engine.input_changed',
      exitCode: 4,
      message: 'the input changed while it was read: f.csv:22: a quoted cell is never closed; the run stopped there',
    });
    expect(summary.applied + summary.notSent).toBe(30);
    // Before the first record nothing was sent: the refusal stands as it is (exit 2 says so truly).
    async function* refusedAtOnce() {
      yield* [];
      throw new UsageError('input.csv_malformed', 'f.csv:2: a quoted cell is never closed');
    }
    await expect(runOf(local(), refusedAtOnce())).rejects.toMatchObject({ code: 'input.csv_malformed' });
    // Anything else the input throws is not taken for a change.
    async function* broken() {
      yield rows.slice(0, 5);
      throw new Error('a bug');
    }
    await expect(runOf(local(), broken())).rejects.toThrow('a bug');
  });

  it('the same records as counted: no stop', async () => {
    const { summary } = await run(local(), rows, { mode: 'link', batchSize: 7, indexed: [...rows] });
    expect(summary.stopped).toBeUndefined();
    expect(summary).toMatchObject({ applied: 30 });
  });
});

describe('SqliteJournal', () => {
  it('keeps positions as ranges and the latest state of each record, across reopening', async () => {
    const { rangesOf, forEachSeq } = await import('../../src/adapters/journal/sqlite-journal.js');
    expect(rangesOf([3, 4, 5, 9, 11, 12, 0])).toBe('3-5,9,11-12,0');
    const back: number[] = [];
    forEachSeq('3-5,9,11-12,0', (seq) => back.push(seq));
    expect(back).toEqual([3, 4, 5, 9, 11, 12, 0]);

    const path = join(tempDir(), 'journal.db');
    const journal = SqliteJournal.open(path, { fingerprint: 'f', description: 'test' }, false);
    journal.markInflight([0, 1, 2, 3, 4], 'link');
    journal.settle([
      { seq: 0, state: 'settled', operation: 'link', fate: 'applied', outcome: 'linked', code: null, message: null },
      {
        seq: 1,
        state: 'settled',
        operation: 'link',
        fate: 'rejected',
        outcome: 'already_linked',
        code: 'rjct.reference_id.duplicate',
        message: 'already',
      },
      { seq: 2, state: 'settled', operation: 'link', fate: 'applied', outcome: 'linked', code: null, message: null },
    ]);
    journal.markInflight([1], 'update');
    journal.close();
    const reopened = SqliteJournal.open(path, { fingerprint: 'f', description: 'test' }, false);
    cleanups.push(() => reopened.close());
    const entries = reopened.load();
    expect([...entries.keys()].sort()).toEqual([0, 1, 2, 3, 4]);
    expect(entries.get(0)).toEqual({
      seq: 0,
      state: 'settled',
      operation: 'link',
      fate: 'applied',
      outcome: 'linked',
      code: null,
      message: null,
    });
    expect(entries.get(2)).toMatchObject({ state: 'settled', outcome: 'linked' });
    // Settled first, then sent again as an update and not answered: in flight as the update.
    expect(entries.get(1)).toEqual({ seq: 1, state: 'inflight', operation: 'update' });
    expect(entries.get(3)).toEqual({ seq: 3, state: 'inflight', operation: 'link' });
  });

  it('forget takes back the in-flight marks of one batch, every attempt of it, and nothing else', () => {
    const path = join(tempDir(), 'journal.db');
    const journal = SqliteJournal.open(path, { fingerprint: 'f', description: 'test' }, false);
    cleanups.push(() => journal.close());
    journal.markInflight([0, 1], 'link');
    journal.markInflight([2, 3, 4], 'link');
    journal.markInflight([2, 3, 4], 'link');
    journal.markInflight([5, 6, 7], 'update');
    journal.forget([2, 3, 4], 'link');
    // Another operation's marks of the same records, and another batch's, stay.
    journal.forget([5, 6, 7], 'link');
    expect([...journal.load().keys()].sort()).toEqual([0, 1, 5, 6, 7]);
    journal.forget([0, 1], 'link');
    journal.forget([5, 6, 7], 'update');
    expect(journal.load().size).toBe(0);
    expect(journal.resumes()).toBe(false);
  });

  // SQLite writes on into a journal removed or renamed away under it, and the file goes with the
  // process: the run must stop while it can say that the next run cannot resume it.
  it('a journal removed during a run stops it before the next batch is sent: disk.write_failed naming it, exit 4, said once', async () => {
    const path = join(tempDir(), 'journal.db');
    const journal = SqliteJournal.open(path, { fingerprint: 'f', description: 'test' }, false);
    cleanups.push(() => journal.close());
    const inner = local();
    const removing = new Proxy(inner, {
      get(target, key, receiver) {
        if (key !== 'link') return Reflect.get(target, key, receiver);
        return async (...args: Parameters<LocalMapper['link']>) => {
          const answer = await target.link(...args);
          for (const suffix of ['', '-wal']) rmSync(`${path}${suffix}`, { force: true });
          return answer;
        };
      },
    });
    const rows = records(Array.from({ length: 40 }, (_, i) => ({ id: `GONE${i}` })));
    const { summary } = await run(removing, rows, { mode: 'link', batchSize: 10, concurrency: 1, journal });
    expect(summary.stopped).toMatchObject({
      code: 'disk.write_failed',
      exitCode: 4,
      message: `${path}: the journal was removed or replaced while the run used it; what this run sent is not recorded at that path, so the next run cannot resume this one`,
    });
    expect(summary.stopped?.hint).toContain('the next run is a new job and meets the rows this run applied again');
    expect(summary).toMatchObject({ applied: 10, notSent: 30 });
    expect(inner.countMappings()).toBe(10);
    // The run has said it: closing the journal it keeps says nothing more (the summary stands).
    expect(() => journal.close()).not.toThrow();
    expect(existsSync(path)).toBe(false);
  });

  it('a journal replaced by another file, or removed after the last batch: the next batch, or close(), says so; remove() does not', () => {
    const dir = tempDir();
    const replaced = SqliteJournal.open(join(dir, 'replaced.db'), { fingerprint: 'f', description: 'test' }, false);
    cleanups.push(() => replaced.close());
    replaced.markInflight([0, 1], 'link');
    writeFileSync(join(dir, 'other.db'), '');
    renameSync(join(dir, 'other.db'), join(dir, 'replaced.db'));
    expect(() => replaced.markInflight([2], 'link')).toThrow(
      expect.objectContaining({
        code: 'disk.write_failed',
        exitCode: 4,
        message: expect.stringContaining('removed or replaced while the run used it'),
      }),
    );

    const late = SqliteJournal.open(join(dir, 'late.db'), { fingerprint: 'f', description: 'test' }, false);
    late.markInflight([0], 'link');
    rmSync(join(dir, 'late.db'));
    expect(() => late.close()).toThrow(
      expect.objectContaining({ code: 'disk.write_failed', message: expect.stringContaining(join(dir, 'late.db')) }),
    );

    // A finished job removes its journal anyway: nothing is lost, nothing to say.
    const finished = SqliteJournal.open(join(dir, 'finished.db'), { fingerprint: 'f', description: 'test' }, false);
    finished.markInflight([0], 'link');
    rmSync(join(dir, 'finished.db'));
    expect(() => finished.remove()).not.toThrow();

    // Left in place, it closes quietly.
    const kept = SqliteJournal.open(join(dir, 'kept.db'), { fingerprint: 'f', description: 'test' }, false);
    kept.markInflight([0], 'link');
    expect(() => kept.close()).not.toThrow();
  });

  it("a journal of a newer format is refused as a newer sparctl's (nothing sent), with entries or none; --restart starts over in it", () => {
    const dir = tempDir();
    const openError = (path: string) => {
      try {
        SqliteJournal.open(path, { fingerprint: 'f', description: 'test' }, false).close();
      } catch (error) {
        return error;
      }
      return undefined;
    };
    const withFormat = (name: string, format: string, entries: boolean) => {
      const path = join(dir, name);
      const journal = SqliteJournal.open(path, { fingerprint: 'f', description: 'test' }, false);
      if (entries) journal.markInflight([0, 1], 'link');
      journal.close();
      const db = openDatabase(path);
      prepare(db, 'UPDATE meta SET value = ? WHERE key = ?').run(format, 'format');
      db.close();
      return path;
    };
    for (const path of [withFormat('used.db', '3', true), withFormat('empty.db', '3', false)]) {
      const refused = openError(path);
      expect(refused).toBeInstanceOf(UsageError);
      expect(refused).toMatchObject({
        code: 'journal.old_format',
        exitCode: 2,
        message: `${path} was written by a newer sparctl (journal format 3; this one reads 2); nothing was sent`,
        hint: 'finish the job with that newer sparctl (upgrade this one), or pass --restart to start the job over in it',
      });
    }
    const restarted = SqliteJournal.open(join(dir, 'used.db'), { fingerprint: 'f', description: 'test' }, true);
    cleanups.push(() => restarted.close());
    expect(restarted.resumes()).toBe(false);
    // An older format is still said to be an earlier sparctl's.
    expect(openError(withFormat('older.db', '1', true))).toMatchObject({
      code: 'journal.old_format',
      message: expect.stringContaining('was written by an earlier sparctl in a format this one does not read'),
    });
  });
});
