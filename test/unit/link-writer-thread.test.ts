import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { LocalMapper } from '../../src/adapters/sqlite/local-mapper.js';
// Through retained.ts: on Node 24 a collected better-sqlite3 object aborts the test process.
import { openDatabase, prepare } from '../../src/adapters/sqlite/retained.js';
import { SAME_ROW, type LinkItem } from '../../src/core/mapper.js';
import type { FinancialAddress } from '../../src/core/model.js';
import { bank } from '../helpers/records.js';
import { random } from '../helpers/record-corpus.js';
import { tempDir } from '../helpers/tmp.js';

// The thread runs compiled code: the build `npm test` runs first puts it in dist/.
const THREAD_FILE = new URL('../../dist/adapters/sqlite/link-writer-thread.js', import.meta.url);
const ctx = { source: 'thread test' };
const opened: LocalMapper[] = [];
afterEach(async () => {
  for (const mapper of opened.splice(0)) await mapper.close();
});

function openMapper(): { mapper: LocalMapper; path: string } {
  const path = join(tempDir(), 'mapper.db');
  const mapper = LocalMapper.open(path);
  opened.push(mapper);
  return { mapper, path };
}

async function threaded(): Promise<{ mapper: LocalMapper; path: string }> {
  const made = openMapper();
  expect(await made.mapper.writeLinksOnThread(THREAD_FILE)).toBe(true);
  return made;
}

/** Everything a link leaves in the database, but the times. */
function contents(path: string) {
  const db = openDatabase(path, { readonly: true });
  const mappings = prepare(
    db,
    'SELECT id, id_value, fa_value, name, phone, additional_info, active, source_digest FROM id_fa_mappings ORDER BY id',
  ).all();
  const audit = prepare(db, 'SELECT id, operation, id_value, old_fa_hash, new_fa_hash, source FROM audit_log ORDER BY id').all();
  db.close();
  return { mappings, audit };
}

/** Link requests with every case link tells apart: new, linked before, twice in one request, no ID, an FA its strategy cannot build. */
function requests(seed: number): LinkItem[][] {
  const rand = random(seed);
  const unbuildable: FinancialAddress = { ...bank('1'), strategy_id: 999 };
  let reference = 0;
  const item = (id: string, fa: FinancialAddress, extra: Partial<LinkItem> = {}): LinkItem => ({
    reference_id: `r${++reference}`,
    id,
    fa,
    ...extra,
  });
  return Array.from({ length: 6 }, (_, request) =>
    Array.from({ length: 20 + Math.floor(rand() * 60) }, (_, at) => {
      const pick = rand();
      const id = `B-${Math.floor(rand() * 150)}`;
      if (pick < 0.03) return item('', bank('0'));
      if (pick < 0.06) return item(id, unbuildable);
      // Half the items say what they were made from: the thread keeps a digest of it.
      const row = (at + request) % 2 === 0 ? { row: { context: `run ${request % 2}`, text: `${id},${request},${at}` } } : {};
      return item(
        id,
        bank(`${request}-${at}`),
        rand() < 0.5
          ? { name: `Name ${at}`, phone_number: `+6391700${String(at).padStart(5, '0')}`, ...row }
          : { origin: `line ${at + 2}`, ...row },
      );
    }),
  );
}

describe('LocalMapper with links written on a second thread', () => {
  it('answers and stores exactly what the same requests give in one thread', async () => {
    const plain = openMapper();
    const withThread = await threaded();
    const codes = new Set<string | null>();
    for (const [at, request] of requests(7).entries()) {
      const expected = await plain.mapper.link(request, ctx);
      for (const result of expected) codes.add(result.status_reason_code);
      const got = await withThread.mapper.link(request, ctx);
      expect(got).toEqual(expected);
      if (at === 2) {
        // A change on the main thread's own connection between two threaded writes.
        const change = [{ reference_id: 'u', id: 'B-1', fa: bank('changed') }];
        expect(await withThread.mapper.update(change, ctx)).toEqual(await plain.mapper.update(change, ctx));
      }
    }
    const [want, have] = [contents(plain.path), contents(withThread.path)];
    expect(have).toEqual(want);
    // The requests held all the cases the comparison is about.
    expect(codes).toEqual(new Set([null, 'rjct.reference_id.duplicate', 'rjct.fa.invalid', 'rjct.id.invalid']));
    expect(new Set(want.audit.map((row) => (row as { operation: string }).operation))).toEqual(new Set(['link', 'update']));
    expect(want.mappings.length).toBeGreaterThan(100);
    expect(want.mappings.filter((row) => (row as { source_digest: string | null }).source_digest !== null).length).toBeGreaterThan(30);
  });

  it('reads stored values and row matches on the thread exactly as in one thread', async () => {
    const plain = openMapper();
    const withThread = await threaded();
    const all = requests(5);
    for (const request of all) {
      await plain.mapper.link(request, ctx);
      await withThread.mapper.link(request, ctx);
    }
    // Item rows as a re-run would give them: some equal to what was written, some not, some for IDs never linked.
    const written = all.flat().filter((item) => item.row !== undefined);
    const itemRows = new Map(
      written.map((item, at) => [item.id, at % 3 === 0 ? { ...item.row!, text: `${item.row!.text} changed` } : item.row!]),
    );
    const ids = [...new Set([...all.flat().map((item) => item.id), 'NEVER-1', 'NEVER-2'])].filter(Boolean);
    itemRows.set('NEVER-1', { context: 'run 0', text: 'x' });
    const want = await plain.mapper.storedFas(ids, ctx, itemRows);
    expect(await withThread.mapper.storedFas(ids, ctx, itemRows)).toEqual(want);
    expect(await withThread.mapper.storedFas(ids, ctx)).toEqual(await plain.mapper.storedFas(ids, ctx));
    const answers = [...want.values()];
    expect(answers.filter((answer) => answer === SAME_ROW).length).toBeGreaterThan(10);
    expect(answers.filter((answer) => answer !== SAME_ROW).length).toBeGreaterThan(10);
    expect(want.has('NEVER-1')).toBe(false);
  });

  it('writes requests sent together one after another, each answered once it has committed', async () => {
    const plain = openMapper();
    const withThread = await threaded();
    const all = requests(11);
    const expected: unknown[] = [];
    for (const request of all) expected.push(await plain.mapper.link(request, ctx));
    // All in flight at once, as a bulk run with a few chunks ahead sends them.
    expect(await Promise.all(all.map((request) => withThread.mapper.link(request, ctx)))).toEqual(expected);
    expect(contents(withThread.path)).toEqual(contents(plain.path));
  });

  it('fails a request it cannot write with the database’s reason, keeps none of its rows, and still closes', async () => {
    const { mapper, path } = await threaded();
    const db = openDatabase(path);
    db.exec('DROP TABLE audit_log');
    db.close();
    await expect(mapper.link([{ reference_id: 'a', id: 'NEW-1', fa: bank('1') }], ctx)).rejects.toThrow(/no such table: audit_log/);
    expect(mapper.countMappings()).toBe(0);
    await mapper.close();
  });

  it('stays on one thread where there is no compiled thread program to start', async () => {
    const { mapper } = openMapper();
    expect(await mapper.writeLinksOnThread(new URL('./no-such-thread.js', import.meta.url))).toBe(false);
    expect(await mapper.link([{ reference_id: 'a', id: 'ONE', fa: bank('1') }], ctx)).toMatchObject([{ status: 'succ' }]);
  });
});
