import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { LocalMapper } from '../../src/adapters/sqlite/local-mapper.js';
import { runBulk } from '../../src/core/bulk/engine.js';
import type { RecordEvent } from '../../src/core/bulk/events.js';
import { MemoryJournal, type Journal, type JournalEntry } from '../../src/core/journal.js';
import { indexOf } from '../../src/core/bulk/row-index.js';
import type { BulkInputRecord, BulkMode } from '../../src/core/bulk/types.js';
import { UnavailableError } from '../../src/core/errors.js';
import type { LinkItem, Mapper, MapperCallContext } from '../../src/core/mapper.js';
import { checkedFaOf } from '../../src/core/request-items.js';
import type { ItemResult } from '../../src/core/results.js';
import type { Strategy } from '../../src/core/strategy/strategy.js';
import { random } from '../helpers/record-corpus.js';
import { bank } from '../helpers/records.js';
import { tempDir } from '../helpers/tmp.js';
import { runModel, type ModelEntry, type ModelRow } from '../helpers/write-model.js';

/**
 * The write pipeline against its reference model (test/helpers/write-model.ts), the way Jepsen
 * checks a database: seeded random inputs — repeated IDs, identical rows, link/update/unlink/
 * upsert rows, invalid rows, rows naming no ID, rows a filter leaves out — run through the real engine and the real
 * local mapper while a wrapper injects faults (refused, 429, resets and 5xx after the mapper
 * applied, answers missing a result, failing reads, requests held up on the way that time out
 * and reach the mapper later — after the read-back and the copy sent again, even after the
 * process died) and kills the "process" at a random call (the journal stops being written,
 * calls in flight may or may not apply). The job is run again
 * until it finishes, as an operator would. After every history the mapper's state and every
 * ID's audit rows must be the model's, each row's reported fate one the model allows, and a
 * second run of the same input must write nothing.
 */

const SEEDS = Number(process.env['MODEL_SEEDS'] ?? 60);
const FIRST_SEED = Number(process.env['MODEL_FIRST_SEED'] ?? 1);

class Killed extends Error {}

interface Faults {
  /** Probability that a write call fails before it reaches the mapper (refused, 429). */
  readonly before: number;
  /** Probability that a write is applied and its answer lost (reset, 502/503/504, timeout). */
  readonly after: number;
  /** Probability that an answer comes back without one of its results. */
  readonly missing: number;
  /** Probability that a read fails (refused). */
  readonly read: number;
  /** Probability that a write times out on its way and reaches the mapper a few calls later. */
  readonly late: number;
  /** Mapper call after which the process dies, if any. */
  readonly killAt: number | undefined;
  /** Mapper call from which the mapper refuses every write for a while (down: the run stops, having sent none of them). */
  readonly outageAt?: number | undefined;
}

/**
 * Requests held up on the way: each reaches the mapper once `due` more calls have been made, by
 * this process or the next run's (a request already sent outlives the process that sent it).
 */
class SlowNetwork {
  private held: { due: number; items: readonly { id: string }[]; call: () => Promise<ItemResult[]> }[] = [];
  /** Per ID, the writes a late request applied: each is a second copy of the write the job makes. */
  readonly lateApplied = new Map<string, number>();

  hold(items: readonly { id: string }[], call: () => Promise<ItemResult[]>, due: number): void {
    this.held.push({ due, items, call });
  }

  /** Delivers what is due before the next call goes out; everything, with `all`. */
  async arrive(all = false): Promise<void> {
    const due = this.held.filter((request) => all || --request.due <= 0);
    this.held = this.held.filter((request) => !due.includes(request));
    for (const request of due)
      for (const result of await request.call())
        if (result.status === 'succ') this.lateApplied.set(result.id, (this.lateApplied.get(result.id) ?? 0) + 1);
  }
}

/** The local mapper behind a flaky network, in a process that may die. */
class Flaky implements Mapper {
  readonly target = 'flaky';
  calls = 0;
  dead = false;

  constructor(
    private readonly inner: LocalMapper,
    private readonly faults: Faults,
    private readonly rand: () => number,
    withStoredFas: boolean,
    private readonly network: SlowNetwork,
  ) {
    if (!withStoredFas) (this as { storedFas?: unknown }).storedFas = undefined;
  }

  strategies(): Promise<Strategy[]> {
    return this.inner.strategies();
  }

  async close(): Promise<void> {}

  private tick(): void {
    if (this.dead) throw new Killed('dead');
    this.calls++;
    if (this.faults.killAt !== undefined && this.calls >= this.faults.killAt) this.dead = true;
  }

  private async write(items: readonly { id: string }[], call: () => Promise<ItemResult[]>): Promise<ItemResult[]> {
    await this.network.arrive();
    this.tick();
    if (this.dead) {
      // The process dies while this request is on its way: it may or may not reach the mapper.
      if (this.rand() < 0.5) await call();
      throw new Killed('killed');
    }
    if (this.faults.outageAt !== undefined && this.calls >= this.faults.outageAt && this.calls < this.faults.outageAt + 12)
      throw new UnavailableError('remote.refused', 'connection refused (down)');
    const r = this.rand();
    if (r < this.faults.before) {
      throw this.rand() < 0.5
        ? new UnavailableError('remote.refused', 'refused')
        : new UnavailableError('remote.rate_limited', '429', { retryAfterMs: 0 });
    }
    if (this.rand() < this.faults.late) {
      this.network.hold(items, call, 1 + Math.floor(this.rand() * 6));
      throw new UnavailableError('remote.timeout', 'timed out; the request is still on its way', { outcomeUnknown: true });
    }
    const results = await call();
    if (r < this.faults.before + this.faults.after) {
      const kinds = ['remote.reset', 'remote.timeout', 'remote.server_error'] as const;
      throw new UnavailableError(kinds[Math.floor(this.rand() * kinds.length)]!, 'the answer was lost', { outcomeUnknown: true });
    }
    if (results.length > 0 && this.rand() < this.faults.missing) results.splice(Math.floor(this.rand() * results.length), 1);
    return results;
  }

  private async read<T>(call: () => Promise<T>): Promise<T> {
    await this.network.arrive();
    this.tick();
    if (this.dead) throw new Killed('killed');
    if (this.rand() < this.faults.read) throw new UnavailableError('remote.refused', 'refused');
    return call();
  }

  link(items: readonly LinkItem[], context: MapperCallContext) {
    return this.write(items, () => this.inner.link(items, context));
  }
  update(items: readonly LinkItem[], context: MapperCallContext) {
    return this.write(items, () => this.inner.update(items, context));
  }
  unlink(items: Parameters<Mapper['unlink']>[0], context: MapperCallContext) {
    return this.write(items, () => this.inner.unlink(items, context));
  }
  resolve(items: Parameters<Mapper['resolve']>[0], context: MapperCallContext) {
    return this.read(() => this.inner.resolve(items, context));
  }
  storedFas(ids: readonly string[], context: MapperCallContext, itemRows?: Parameters<NonNullable<Mapper['storedFas']>>[2]) {
    return this.read(() => this.inner.storedFas(ids, context, itemRows));
  }
}

/** A journal that stops being written the moment the process dies. */
class DyingJournal implements Journal {
  constructor(
    private readonly inner: MemoryJournal,
    private readonly mapper: () => Flaky,
  ) {}
  load() {
    return this.inner.load();
  }
  markInflight(seqs: readonly number[], operation: JournalEntry['operation'] & string) {
    if (!this.mapper().dead) this.inner.markInflight(seqs, operation as never);
  }
  settle(entries: readonly JournalEntry[]) {
    if (!this.mapper().dead) this.inner.settle(entries);
  }
  forget(seqs: readonly number[], operation: JournalEntry['operation'] & string) {
    if (!this.mapper().dead) this.inner.forget(seqs, operation as never);
  }
}

interface Generated {
  readonly rows: ModelRow[];
  readonly records: BulkInputRecord[];
  readonly initial: Map<string, ModelEntry>;
  readonly mode: BulkMode;
}

function generate(seed: number, strategies: ReadonlyMap<number, Strategy>): Generated {
  const rand = random(seed);
  const pick = <T>(list: readonly T[]): T => list[Math.floor(rand() * list.length)]!;
  const ids = Array.from({ length: 6 + Math.floor(rand() * 40) }, (_, i) => `ID${String(i).padStart(3, '0')}`);
  const accounts = ['111', '222', '333', '444'];
  const names = ['', 'Ana', 'Ben'];
  const phones = ['', '+639170000001', '+639170000002'];
  const faOf = (account: string) => checkedFaOf({ id: 'x', fa: bank(account) }, strategies);
  const stored = (account: string) => {
    const built = faOf(account);
    if (!built.ok) throw new Error('bad fixture');
    return built.value;
  };
  // The state before the job: some IDs linked already.
  const initial = new Map<string, ModelEntry>();
  for (const id of ids)
    if (rand() < 0.4)
      initial.set(id, { fa: stored(pick(accounts)), name: pick(['Ana', 'Ben', 'Old']), phone: pick(['+639170000001', '+639170000009']) });
  const mode: BulkMode = pick(['upsert', 'upsert', 'link', 'update', 'unlink'] as const);
  const rows: ModelRow[] = [];
  const records: BulkInputRecord[] = [];
  const count = 10 + Math.floor(rand() * 120);
  for (let seq = 0; seq < count; seq++) {
    const line = seq + 2;
    const noId = rand() < 0.03;
    const id = noId ? undefined : pick(ids);
    const rowMode: BulkMode = rand() < 0.3 ? pick(['upsert', 'link', 'update', 'unlink'] as const) : mode;
    const invalid = !noId && rand() < 0.06;
    const account = pick(accounts);
    const name = pick(names);
    const phone = pick(phones);
    const valid = !noId && !invalid;
    // A row a filter leaves out: its ID (when it names one) is reported, but it is keyed as no ID.
    const skipped = rand() < 0.08;
    rows.push({ line, id, valid, skipped, mode: rowMode, ...(rowMode === 'unlink' ? {} : { fa: stored(account), name, phone }) });
    if (skipped) {
      records.push({
        seq,
        line,
        key: undefined,
        skip: { code: 'filter.skip', rule: 'r is x (skip.0)', message: 'skipped', id },
        parsed: { ok: false, problems: [] },
      });
      continue;
    }
    if (!valid) {
      records.push({
        seq,
        line,
        key: id,
        parsed: { ok: false, problems: [{ field: noId ? 'id' : 'account_number', message: 'bad', code: 'input.invalid' }] },
      });
      continue;
    }
    const value =
      rowMode === 'unlink'
        ? { id: id! }
        : { id: id!, fa: bank(account), ...(name ? { name } : {}), ...(phone ? { phone_number: phone } : {}) };
    records.push({
      seq,
      line,
      key: id,
      parsed: {
        ok: true,
        value,
        ...(rowMode === mode ? {} : { mode: rowMode }),
        ...(rowMode === 'unlink' ? {} : { faValue: stored(account) }),
      },
    });
  }
  return { rows, records, initial, mode };
}

async function* stream(records: readonly BulkInputRecord[], chunk: number) {
  for (let i = 0; i < records.length; i += chunk) yield records.slice(i, i + chunk);
}

const mappers: LocalMapper[] = [];
// Closed before test/setup.ts removes their folders: a mapper whose file is gone says so on close.
afterEach(async () => {
  for (const mapper of mappers.splice(0)) await mapper.close();
});

async function history(seed: number): Promise<string | undefined> {
  const rand = random(seed * 7919);
  const store = LocalMapper.open(join(tempDir(), 'mapper.db'));
  mappers.push(store);
  const strategies = new Map((await store.strategies()).map((s) => [s.id, s]));
  const { rows, records, initial, mode } = generate(seed, strategies);
  const withStoredFas = rand() < 0.7;
  const upsertOrder = (['read-first', 'link-first', 'auto'] as const)[Math.floor(rand() * 3)]!;
  // Set up the state before the job, outside it.
  for (const [id, entry] of initial) {
    const account = /account_number:([0-9]+)\./.exec(entry.fa)![1]!;
    await store.link([{ reference_id: 'x', id, fa: bank(account), name: entry.name!, phone_number: entry.phone! }], { source: 'setup' });
  }
  const setupAudit = store.auditRows().length;
  const model = runModel(initial, rows, { comparesNamePhone: withStoredFas, linksFirst: upsertOrder !== 'read-first' });
  const index = indexOf(
    records.map((r) => r.key),
    records.map((r) => r.line),
  );
  const journal = new MemoryJournal();
  const shape = {
    batchSize: 1 + Math.floor(rand() * 8),
    concurrency: 1 + Math.floor(rand() * 4),
    chunkSize: 1 + Math.floor(rand() * 30),
    firstChunkSize: 1 + Math.floor(rand() * 30),
    chunksInFlight: 1 + Math.floor(rand() * 10),
  };
  const faults = {
    before: rand() * 0.15,
    after: rand() * 0.15,
    missing: rand() * 0.05,
    read: rand() * 0.05,
    late: rand() < 0.5 ? rand() * 0.1 : 0,
  };
  const network = new SlowNetwork();
  const story: string[] = [
    `seed ${seed}: mode ${mode}, ${rows.length} rows, storedFas ${withStoredFas}, upserts ${upsertOrder}, ${JSON.stringify(shape)}, ${JSON.stringify(faults)}`,
  ];
  let events: RecordEvent[] = [];
  if (process.env['MODEL_DEBUG'])
    for (const row of rows)
      story.push(
        `row ${row.line} ${row.id} ${row.mode} ${row.valid} ${row.fa?.slice(0, 18)} ${row.name} ${row.phone} before=${JSON.stringify(initial.get(row.id ?? ''))?.slice(0, 60)}`,
      );
  for (let attempt = 0; ; attempt++) {
    if (attempt > 30) return `${story.join('\n')}\nnever finished`;
    const killAt = attempt < 4 && rand() < 0.6 ? 1 + Math.floor(rand() * 12) : undefined;
    const outageAt = attempt < 4 && rand() < 0.3 ? 1 + Math.floor(rand() * 6) : undefined;
    const flaky = new Flaky(store, { ...faults, killAt, outageAt }, rand, withStoredFas, network);
    const seen: RecordEvent[] = [];
    try {
      const summary = await runBulk(flaky, stream(records, 1 + Math.floor(rand() * 10)), new DyingJournal(journal, () => flaky), {
        mode,
        index,
        ...shape,
        retries: 3,
        upsertOrder,
        context: { source: 'model' },
        sleep: async () => undefined,
        strategies,
        onEvent: (event) => {
          if (event.type === 'record') seen.push(event);
          if (process.env['MODEL_DEBUG'] && event.type === 'record')
            story.push(`  ${event.line} ${event.id} ${event.fate} ${event.operation} ${event.outcome} ${event.code} ${event.message}`);
        },
      });
      const total =
        summary.applied + summary.confirmed + summary.unchanged + summary.superseded + summary.skipped + summary.rejected + summary.notSent;
      if (total !== summary.total || summary.total !== rows.length)
        return `${story.join('\n')}\nsummary does not add up: ${JSON.stringify(summary)}`;
      story.push(
        `run ${attempt}: ${summary.stopped ? `stopped ${summary.stopped.code}` : 'finished'}${outageAt === undefined ? '' : ` (down from call ${outageAt})`}, notSent ${summary.notSent}`,
      );
      if (!summary.stopped) {
        events = seen;
        break;
      }
    } catch (error) {
      if (!(error instanceof Killed)) throw error;
      story.push(`run ${attempt}: killed at call ${killAt}`);
    }
  }

  // Requests still on the way reach the mapper after the job ended.
  await network.arrive(true);
  // The mapper's state and every ID's writes by this job are the model's.
  const problems: string[] = [];
  const ids = new Set([...initial.keys(), ...rows.flatMap((row) => (row.id ? [row.id] : []))]);
  const stored = await store.storedFas([...ids]);
  for (const id of ids) {
    const want = model.state.get(id);
    const got = stored.get(id);
    const shown =
      got === undefined || typeof got === 'string' ? undefined : { fa: got.fa, name: got.name ?? null, phone: got.phone ?? null };
    if (JSON.stringify(shown) !== JSON.stringify(want))
      problems.push(`${id}: mapper holds ${JSON.stringify(shown)}, model ${JSON.stringify(want)}`);
    const writes = store
      .auditRows(id)
      .slice(id === '' ? 0 : 0)
      .filter((row) => row.source !== 'setup')
      .map((row) => `${row.operation} ${row.source}`);
    const wanted = model.writes.get(id);
    const expected = wanted ? [`${wanted.operation} model line ${wanted.line}`] : [];
    // The one exception to "once" (plan.ts effectShown): a strict update with a name or phone whose
    // answer was lost, against a mapper that does not tell them, is sent again — the same values.
    const row = wanted && rows.find((r) => r.line === wanted.line);
    const mayRepeat = !withStoredFas && wanted?.operation === 'update' && row?.mode === 'update' && !!(row.name || row.phone);
    // A late request that applied is a second copy of the job's write (README, retries): the same
    // write again, never another row's, and never a write the job itself did not make.
    const late = network.lateApplied.get(id) ?? 0;
    const same = mayRepeat
      ? writes.length >= 1 && writes.every((w) => w === expected[0])
      : late > 0
        ? writes.length >= 1 && writes.length <= 1 + late && writes.every((w) => w === expected[0])
        : JSON.stringify(writes) === JSON.stringify(expected) || (wanted?.mayBeMissing === true && writes.length === 0);
    if (!same) problems.push(`${id}: writes ${JSON.stringify(writes)}, model ${JSON.stringify(expected)}`);
  }
  // Every row has exactly one report, with a fate the model allows.
  const byLine = new Map<number, RecordEvent>();
  for (const event of events) {
    if (byLine.has(event.line!)) problems.push(`line ${event.line}: reported twice`);
    byLine.set(event.line!, event);
  }
  for (const row of rows) {
    const event = byLine.get(row.line);
    const allowed = model.reports.get(row.line)!;
    if (!event) problems.push(`line ${row.line}: no report`);
    else if (!allowed.fates.includes(event.fate)) problems.push(`line ${row.line}: ${event.fate}, model allows ${allowed.fates.join('/')}`);
    else if (event.fate === 'superseded' && event.supersededBy !== allowed.supersededBy)
      problems.push(`line ${row.line}: superseded by ${event.supersededBy}, model ${allowed.supersededBy}`);
  }
  // The same input again, as a new job: nothing is written.
  const before = store.auditRows().length;
  const calm = new Flaky(store, { before: 0, after: 0, missing: 0, read: 0, late: 0, killAt: undefined }, rand, withStoredFas, network);
  const again = await runBulk(calm, stream(records, 7), new MemoryJournal(), {
    mode,
    index,
    batchSize: 5,
    concurrency: 2,
    retries: 0,
    upsertOrder,
    context: { source: 'again' },
    strategies,
  });
  const wrote = store.auditRows().length - before;
  // A remote-like mapper cannot tell name and phone, so a strict update is sent again (README).
  const resent = withStoredFas
    ? 0
    : [...model.writes.values()].filter((w) => w.operation === 'update' && rows.find((r) => r.line === w.line)!.mode === 'update').length;
  if (wrote !== resent || again.applied + again.confirmed !== resent)
    problems.push(`the second run wrote ${wrote} rows (expected ${resent}): ${JSON.stringify(again)}`);
  if (store.auditRows().filter((row) => row.source === 'setup').length !== setupAudit) problems.push('setup rows changed');
  return problems.length > 0
    ? `${story.join('\n')}\n${problems.join('\n')}\nreplay: MODEL_FIRST_SEED=${seed} MODEL_SEEDS=1 npx vitest run test/unit/write-pipeline-model.test.ts`
    : undefined;
}

describe('the write pipeline against its reference model', () => {
  it(`${SEEDS} random histories with repeated IDs, faults and kills end as the model says, and a re-run writes nothing`, async () => {
    const failures: string[] = [];
    for (let seed = FIRST_SEED; seed < FIRST_SEED + SEEDS; seed++) {
      const failure = await history(seed);
      if (failure) failures.push(failure);
      if (failures.length >= 3) break;
    }
    expect(failures.join('\n\n')).toBe('');
  }, 120_000);
});
