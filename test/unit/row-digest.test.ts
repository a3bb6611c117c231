import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
// Through retained.ts: on Node 24 a collected better-sqlite3 object aborts the test process, and
// test files share their worker's process (vitest.config.ts), so none may ever be collected.
import { openDatabase, prepare } from '../../src/adapters/sqlite/retained.js';
import { afterEach, describe, expect, it } from 'vitest';
import { openInputFile } from '../../src/adapters/input/record-file.js';
import { LocalMapper } from '../../src/adapters/sqlite/local-mapper.js';
import { prescanCsv } from '../../src/adapters/input/prescan.js';
import { runBulk, type BulkInputRecord, type JournalEntry } from '../../src/core/bulk/engine.js';
import type { RecordEvent } from '../../src/core/bulk/events.js';
import { mappedCsvRecords, rowContexts, LazyRecord, type RowContexts } from '../../src/core/bulk/mapped-rows.js';
import { compileMapping, dfspLookupFrom, idColumns, rowKey } from '../../src/core/mapping.js';
import { MemoryJournal } from '../helpers/memory-journal.js';
import { random } from '../helpers/record-corpus.js';
import { tempDir } from '../helpers/tmp.js';

/**
 * A re-run finds rows unchanged by their row digest (import-csv's rows through a mapping file)
 * when the mapper row still holds what an equal input row wrote. The proof that this never changes
 * an outcome: the same histories imported with row digests and without, side by side, must end alike
 * in every record's fate, every mapping row and every audit row — whatever else wrote to the
 * mapper in between (an admin's update, an unlink, a tool writing SQL), whatever the file,
 * DFSP data or mapping became.
 */

const fixtures = join(import.meta.dirname, '..', '..', 'fixtures');
const mappingText = readFileSync(join(fixtures, 'enumeration.mapping.json'), 'utf8');
const dfspText = readFileSync(join(fixtures, 'dfsp.json'), 'utf8');
const ctx = { source: 'row digest test' };
const HEADER =
  'household_no,national_id,full_name,contact_phone,payment_method,bank_code,branch_code,account_no,wallet,payment_mobile,payment_email';

const mappers: LocalMapper[] = [];
afterEach(async () => {
  for (const mapper of mappers.splice(0)) await mapper.close();
});

function openMapper(dir: string, name: string): LocalMapper {
  const mapper = LocalMapper.open(join(dir, name));
  mappers.push(mapper);
  return mapper;
}

interface ImportOptions {
  readonly rowDigests: boolean;
  readonly mappingText?: string;
  readonly dfspText?: string;
  readonly chunkSize: number;
  readonly chunksInFlight: number;
  readonly journal?: MemoryJournal;
}

/** import-csv's path without the CLI: the file's rows through mappedCsvRecords into the engine. */
async function importCsv(mapper: LocalMapper, file: string, options: ImportOptions) {
  const mapping = compileMapping(JSON.parse(options.mappingText ?? mappingText), 'mapping.json');
  const dfsp = dfspLookupFrom(JSON.parse(options.dfspText ?? dfspText));
  const strategies = new Map((await mapper.strategies()).map((s) => [s.id, s]));
  let contexts: RowContexts | undefined;
  const onHeader = (_columns: readonly string[], written: readonly string[], delimiter: string) => {
    if (options.rowDigests)
      contexts = rowContexts({
        version: 'test',
        definition: JSON.stringify([options.mappingText ?? mappingText, options.dfspText ?? dfspText]),
        header: written,
        delimiter,
        strategies: strategies.values(),
      });
  };
  const input = await openInputFile(file, { format: 'csv', stdin: new PassThrough(), onHeader });
  const toRecord = mappedCsvRecords({ mapping, dfsp, strategies, mode: 'upsert', unlinkConfirmed: false, contexts: () => contexts });
  const made: BulkInputRecord[] = [];
  async function* records() {
    let seq = 0;
    for await (const batch of input.batches) {
      const out = batch.map((row) => toRecord(row, seq++));
      made.push(...out);
      yield out;
    }
  }
  const events: RecordEvent[] = [];
  const { index } = await prescanCsv(file, file, '', {
    delimiter: ',',
    keyColumns: () => idColumns(mapping),
    keyOf: (cell) => rowKey(mapping, cell),
  });
  const summary = await runBulk(mapper, records(), options.journal ?? new MemoryJournal(), {
    mode: 'upsert',
    index,
    batchSize: 5,
    concurrency: 3,
    retries: 0,
    context: ctx,
    chunkSize: options.chunkSize,
    chunksInFlight: options.chunksInFlight,
    strategies,
    onEvent: (event) => {
      if (event.type === 'record') events.push(event);
    },
  });
  // Superseded rows are never parsed either: only the others count as found by their row digest.
  const superseded = new Set(events.filter((e) => e.fate === 'superseded').map((e) => e.seq));
  const unparsed = made.filter((record) => record instanceof LazyRecord && !record.wasParsed && !superseded.has(record.seq)).length;
  const lazy = made.filter((record) => record instanceof LazyRecord).length;
  return {
    summary,
    events: events.map((e) => [e.seq, e.line, e.id, e.fate, e.operation, e.outcome, e.code, e.message]),
    unparsed,
    lazy,
  };
}

function contents(path: string) {
  const db = openDatabase(path, { readonly: true });
  try {
    return {
      rows: prepare(db, 'SELECT id_value, fa_value, name, phone, additional_info FROM id_fa_mappings ORDER BY id_value').raw().all(),
      // Per ID in the order written: chunks on other IDs may interleave either way.
      audit: prepare(db, 'SELECT operation, id_value, old_fa_hash, new_fa_hash FROM audit_log ORDER BY id_value, id').raw().all(),
    };
  } finally {
    db.close();
  }
}

interface Row {
  id: number;
  kind: 'bank' | 'gcash' | 'email' | 'badbank' | 'badphone' | 'noid';
  account: string;
  name: string;
  quoted: boolean;
}

function rowText(row: Row): string {
  const nid = row.kind === 'noid' ? '' : String(4e11 + row.id).padStart(12, '0');
  const phone = row.kind === 'badphone' ? '12' : `0917 ${String(100 + (row.id % 800))} ${String(row.id % 10_000).padStart(4, '0')}`;
  const name = row.quoted ? `"${row.name}, Jr."` : row.name;
  switch (row.kind) {
    case 'gcash':
      return `HH-${row.id},${nid},${name},${phone},gcash,,,,GCASH,${phone},`;
    case 'email':
      return `HH-${row.id},${nid},${name},${phone},email,,,,PAYPAL,,P.${row.account}@Example.org`;
    default:
      return `HH-${row.id},${nid},${name},${phone},bank,${row.kind === 'badbank' ? 'XXX' : 'LBP'},0012,${row.account},,,`;
  }
}

const writeCsv = (path: string, rows: readonly Row[], header = HEADER) =>
  writeFileSync(path, `${header}\n${rows.map(rowText).join('\n')}\n`);

describe('re-runs find rows unchanged by their row digest', () => {
  it('end exactly as full comparisons do, over random histories of files, outside writes, DFSP and mapping changes', async () => {
    const next = random(20261121);
    const pick = <T>(list: readonly T[]): T => list[Math.floor(next() * list.length)]!;
    const kinds: Row['kind'][] = ['bank', 'bank', 'bank', 'gcash', 'gcash', 'email', 'badbank', 'badphone', 'noid'];
    let shortcuts = 0;
    const seen = new Set<string>();
    for (let scenario = 0; scenario < 24; scenario++) {
      const dir = tempDir();
      const [withDigests, without] = [openMapper(dir, 'a.db'), openMapper(dir, 'b.db')];
      const first: Row[] = Array.from({ length: 40 + Math.floor(next() * 40) }, (_, i) => ({
        id: i % 50,
        kind: pick(kinds),
        account: String(Math.floor(next() * 1e9)).padStart(12, '0'),
        name: `Person ${i} Dela Cruz`,
        quoted: next() < 0.15,
      }));
      const firstFile = join(dir, 'first.csv');
      writeCsv(firstFile, first);
      const shape = { chunkSize: 3 + Math.floor(next() * 30), chunksInFlight: 1 + Math.floor(next() * 3) };
      // Now and then the first import keeps no row digests (as before sparctl kept them): the next
      // run finds its rows unchanged by comparison and has the mapper keep their digests then.
      const firstWithDigests = next() < 0.6;
      const a1 = await importCsv(withDigests, firstFile, { rowDigests: firstWithDigests, ...shape });
      const b1 = await importCsv(without, firstFile, { rowDigests: false, ...shape });
      expect(a1.events).toEqual(b1.events);

      // Outside writes, the same on both: an admin's update, an unlink, another tool's SQL.
      const linkedIds = (contents(join(dir, 'b.db')).rows as string[][]).map((row) => row[0]!);
      const outside: string[] = [];
      for (let i = 0; i < 4 && linkedIds.length > 0; i++) {
        const id = pick(linkedIds);
        const what = pick(['update', 'unlink', 'sql-name', 'sql-fa', 'sql-phone', 'none'] as const);
        outside.push(what);
        for (const mapper of [withDigests, without]) {
          if (what === 'update')
            await mapper.update(
              [
                {
                  reference_id: 'u',
                  id,
                  fa: {
                    strategy_id: 2,
                    fa_type: 'BANK',
                    bank_name: 'Land Bank of the Philippines',
                    bank_code: 'LBP',
                    branch_name: 'Quezon City - Kamuning',
                    branch_code: '0012',
                    account_number: '999',
                  },
                },
              ],
              ctx,
            );
          if (what === 'unlink') await mapper.unlink([{ reference_id: 'x', id }], ctx);
        }
        if (what.startsWith('sql-')) {
          for (const file of ['a.db', 'b.db']) {
            const db = openDatabase(join(dir, file));
            const column = what === 'sql-name' ? 'name' : what === 'sql-phone' ? 'phone' : 'fa_value';
            prepare(db, `UPDATE id_fa_mappings SET ${column} = ${column} || 'x' WHERE id_value = ?`).run(id);
            db.close();
          }
        }
      }

      // The next file: the same (a re-run), or changed rows, new duplicates, rows moved or quoted.
      const change = pick(['same', 'same', 'rows', 'dfsp', 'mapping', 'header'] as const);
      seen.add(change);
      let second = first.map((row) => ({ ...row }));
      let header = HEADER;
      let secondOptions: Partial<ImportOptions> = {};
      if (change === 'rows') {
        for (const row of second) {
          if (next() < 0.2) row.account = String(Math.floor(next() * 1e9)).padStart(12, '0');
          if (next() < 0.1) row.kind = pick(kinds);
          if (next() < 0.1) row.quoted = !row.quoted;
          if (next() < 0.05) row.name = `${row.name} II`;
        }
        second.push(...second.filter(() => next() < 0.1).map((row) => ({ ...row, account: `7${row.account}` })));
        second = second.filter(() => next() > 0.05);
        second.sort(() => next() - 0.5);
      } else if (change === 'dfsp') {
        secondOptions = { dfspText: dfspText.replace('"Land Bank of the Philippines"', '"LANDBANK"') };
      } else if (change === 'mapping') {
        secondOptions = { mappingText: mappingText.replace('"full_name"', '"household_no"') };
      } else if (change === 'header') {
        // The same cells under other column names: the same text must not mean the same record.
        header = HEADER.replace('full_name', 'household_no').replace(/^household_no/, 'full_name');
      }
      const secondFile = join(dir, 'second.csv');
      writeCsv(secondFile, second, header);
      // Now and then the second run resumes one that sent some records and never heard back.
      const journal = () => {
        const memory = new MemoryJournal();
        for (let seq = 0; seq < second.length; seq += 9)
          memory.entries.set(seq, { seq, state: 'inflight', operation: 'update' } satisfies JournalEntry);
        return memory;
      };
      const resumed = next() < 0.3;
      const shape2 = { chunkSize: 3 + Math.floor(next() * 30), chunksInFlight: 1 + Math.floor(next() * 3), ...secondOptions };
      const a2 = await importCsv(withDigests, secondFile, { rowDigests: true, ...shape2, ...(resumed ? { journal: journal() } : {}) });
      const b2 = await importCsv(without, secondFile, { rowDigests: false, ...shape2, ...(resumed ? { journal: journal() } : {}) });
      const story = JSON.stringify({ scenario, firstWithDigests, change, outside, resumed, shape, shape2 });
      expect(a2.events, story).toEqual(b2.events);
      expect(contents(join(dir, 'a.db')), story).toEqual(contents(join(dir, 'b.db')));
      expect(b2.unparsed).toBe(0);
      if (change === 'same' && firstWithDigests) {
        // Every row of a file imported once and unchanged since is done without being mapped,
        // but for IDs an outside write touched, or named twice in one chunk.
        expect(a2.unparsed, story).toBeGreaterThan(0);
      }
      // Nothing is vouched for by a row digest the mapper never kept, or kept under another context
      // (a changed file can repeat a row exactly, and then its second copy may be).
      if (change !== 'rows' && (change !== 'same' || !firstWithDigests)) expect(a2.unparsed, story).toBe(0);

      // The same file once more: rows the second run wrote, or found unchanged, are found
      // unchanged by their row digest now — and still end as full comparisons do.
      const a3 = await importCsv(withDigests, secondFile, { rowDigests: true, ...shape2 });
      const b3 = await importCsv(without, secondFile, { rowDigests: false, ...shape2 });
      expect(a3.events, story).toEqual(b3.events);
      expect(contents(join(dir, 'a.db')), story).toEqual(contents(join(dir, 'b.db')));
      expect(a3.unparsed, story).toBeGreaterThan(0);
      shortcuts += a2.unparsed + a3.unparsed;
    }
    expect([...seen].sort()).toEqual(['dfsp', 'header', 'mapping', 'rows', 'same']);
    expect(shortcuts).toBeGreaterThan(100);
  });

  it('reads a row differently whenever anything it is read with differs: each part changes the context', async () => {
    const dir = tempDir();
    const strategies = await openMapper(dir, 'mapper.db').strategies();
    const base = { version: '1.0.0', definition: '{"mapping":"m"}', header: ['a', 'b'], delimiter: ',', strategies };
    const variants = [
      base,
      { ...base, version: '1.0.1' },
      { ...base, definition: '{"mapping":"n"}' },
      { ...base, header: ['b', 'a'] },
      { ...base, delimiter: '\t' },
      { ...base, strategies: strategies.slice(1) },
    ].map((parts) => rowContexts(parts));
    expect(new Set(variants.flatMap((contexts) => [contexts.line, contexts.cells])).size).toBe(variants.length * 2);
    expect(rowContexts(base)).toEqual(variants[0]);
  });

  it('keeps the row digests of rows a run finds unchanged by comparison, so that the next run need not compare them', async () => {
    const dir = tempDir();
    const mapper = openMapper(dir, 'mapper.db');
    const kinds = ['bank', 'gcash', 'email'] as const;
    const file = join(dir, 'rows.csv');
    writeCsv(
      file,
      Array.from({ length: 30 }, (_, i) => ({
        id: i,
        kind: kinds[i % 3]!,
        account: String(i).padStart(12, '0'),
        name: `Person ${i}`,
        quoted: i % 4 === 0,
      })),
    );
    const shape = { chunkSize: 8, chunksInFlight: 2 };
    // Linked without row digests, as sparctl did before it kept them.
    expect((await importCsv(mapper, file, { rowDigests: false, ...shape })).summary.applied).toBe(30);
    const compared = await importCsv(mapper, file, { rowDigests: true, ...shape });
    expect([compared.summary.unchanged, compared.unparsed, compared.lazy]).toEqual([30, 0, 30]);
    const byDigest = await importCsv(mapper, file, { rowDigests: true, ...shape });
    expect([byDigest.summary.unchanged, byDigest.unparsed]).toEqual([30, 30]);
    expect(byDigest.events).toEqual(compared.events);
  });
});
