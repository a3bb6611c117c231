import { createHash } from 'node:crypto';
import { renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
// Through retained.ts: on Node 24 a collected better-sqlite3 object aborts the test process.
import { openDatabase, prepare, setPragma } from '../../src/adapters/sqlite/retained.js';
import { describe, expect, it } from 'vitest';
import { LocalMapper } from '../../src/adapters/sqlite/local-mapper.js';
import { SCHEMA_VERSION } from '../../src/adapters/sqlite/schema.js';
import { ConfigError } from '../../src/core/errors.js';
import { thrownBy } from '../helpers/errors.js';
import { SAME_ROW, type LinkItem, type StoredFa } from '../../src/core/mapper.js';
import type { FinancialAddress } from '../../src/core/model.js';
import { classifyResult } from '../../src/core/results.js';
import { bank } from '../helpers/records.js';
import { tempDir } from '../helpers/tmp.js';

const ctx = { source: 'test' };

let counter = 0;
const item = (id: string, fa: FinancialAddress, extra: Partial<LinkItem> = {}): LinkItem => ({
  reference_id: `ref-${++counter}`,
  id,
  fa,
  ...extra,
});

function openTemp(): { mapper: LocalMapper; path: string } {
  const path = join(tempDir(), 'mapper.db');
  return { mapper: LocalMapper.open(path), path };
}

describe('LocalMapper link', () => {
  it('stores the FA string exactly as SPAR builds it with strategy 2, and resolves it back', async () => {
    const { mapper } = openTemp();
    const [linked] = await mapper.link(
      [item('BENE_0001', bank('ACC1000001'), { name: 'Maria Santos', phone_number: '+63 900 000 0001' })],
      ctx,
    );
    expect(linked).toMatchObject({ status: 'succ', status_reason_code: null });
    // The string SPAR 2.1.0 returned for this FA (spar-v2-observed.md, exchange 01).
    const expected = 'account_number:ACC1000001.branch_name:Main.branch_code:0001.bank_name:Example Bank.bank_code:EXB.fa_type:BANK';
    expect(linked!.fa).toBe(expected);
    expect(mapper.storedFa('BENE_0001')).toBe(expected);

    const [resolved] = await mapper.resolve([{ reference_id: 'x', id: 'BENE_0001', scope: 'details' }], ctx);
    expect(resolved).toMatchObject({ status: 'succ', status_reason_code: 'succ.id.active' });
    expect(resolved!.fa).toEqual({ ...bank('ACC1000001') });
    expect(resolved!.additional_info).toEqual([{ strategy_id: 2 }]);
    await mapper.close();
  });

  it('rejects an ID that is already linked with SPAR’s code, and still links the rest of the batch', async () => {
    const { mapper } = openTemp();
    await mapper.link([item('BENE_0001', bank('1'))], ctx);
    const results = await mapper.link([item('BENE_0001', bank('1')), item('BENE_0003', bank('3'))], ctx);
    expect(results.map((r) => [r.status, r.status_reason_code, r.status_reason_message])).toEqual([
      ['rjct', 'rjct.reference_id.duplicate', 'ID and FA are already mapped'],
      ['succ', null, null],
    ]);
    expect(classifyResult('link', results[0]!)).toBe('already_linked');
    expect(mapper.countMappings()).toBe(2);
    await mapper.close();
  });

  it('tells new from already linked IDs across a large request, wherever they fall among its rows', async () => {
    const { mapper } = openTemp();
    const id = (n: number) => `BENE_${String(n).padStart(4, '0')}`;
    // Linked before: scattered IDs, and the newest row unlinked again, so the rowids left are not dense.
    const before = [3, 49, 50, 51, 99, 100, 160, 230];
    await mapper.link(
      [...before, 999].map((n) => item(id(n), bank(`old${n}`))),
      ctx,
    );
    await mapper.unlink([{ reference_id: 'u', id: id(999) }], ctx);
    // 240 items: the IDs 0..229, with 10 repeats of earlier IDs of the same request at the end.
    const numbers = [...Array.from({ length: 230 }, (_, n) => n), 7, 60, 120, 3, 150, 200, 210, 220, 229, 0];
    const results = await mapper.link(
      numbers.map((n) => item(id(n), bank(`new${n}`))),
      ctx,
    );
    const expected = numbers.map((n, at) => {
      if (before.includes(n)) return 'already';
      return numbers.indexOf(n) === at ? 'linked' : 'repeat';
    });
    expect(
      results.map((r) => (r.status === 'succ' ? 'linked' : /more than once/.test(r.status_reason_message ?? '') ? 'repeat' : 'already')),
    ).toEqual(expected);
    for (const n of numbers) expect(mapper.storedFa(id(n))).toContain(`account_number:${before.includes(n) ? 'old' : 'new'}${n}.`);
    expect(mapper.countMappings()).toBe(231); // 0..229 and 230, linked before
    // One audit row per link: the earlier nine, the unlink, and one per new ID of this request.
    expect(mapper.auditRows().filter((row) => row.operation === 'link')).toHaveLength(9 + 230 - 7);
    await mapper.close();
  });

  it('rejects only the second of two items with the same ID in one request (SPAR fails the whole batch)', async () => {
    const { mapper } = openTemp();
    const results = await mapper.link([item('BENE_0004', bank('4')), item('BENE_0004', bank('44')), item('BENE_0005', bank('5'))], ctx);
    expect(results.map((r) => r.status)).toEqual(['succ', 'rjct', 'succ']);
    expect(results[1]!.status_reason_code).toBe('rjct.reference_id.duplicate');
    expect(results[1]!.status_reason_message).toMatch(/more than once in this request/);
    expect(mapper.storedFa('BENE_0004')).toContain('account_number:4.');
    await mapper.close();
  });

  it('rejects an empty ID, an unknown strategy and an FA the strategy cannot read back, item by item', async () => {
    const { mapper } = openTemp();
    const results = await mapper.link(
      [
        item('', bank('1')),
        item('BENE_A', bank('2', { strategy_id: 77 })),
        item('BENE_B', bank('12', { branch_name: 'Main.branch_name:Evil' })),
        item('BENE_C', {
          strategy_id: 2,
          fa_type: 'MOBILE_WALLET',
          wallet_provider_name: 'W',
          wallet_provider_code: 'w',
          mobile_number: '+6391',
        }),
        item('BENE_OK', bank('3')),
      ],
      ctx,
    );
    expect(results.map((r) => [r.status, r.status_reason_code])).toEqual([
      ['rjct', 'rjct.id.invalid'],
      ['rjct', 'rjct.fa.invalid'],
      ['rjct', 'rjct.fa.invalid'],
      ['rjct', 'rjct.fa.invalid'],
      ['succ', null],
    ]);
    expect(results[1]!.status_reason_message).toMatch(/strategy 77 does not exist/);
    expect(results[2]!.status_reason_message).toMatch(/account_number "12" would be read back as "12\.branch_name:Main" by strategy 2/);
    expect(results[3]!.status_reason_message).toMatch(/needs account_number/);
    expect(mapper.countMappings()).toBe(1);
    await mapper.close();
  });

  it('injects strategy_id into a caller’s additional_info and keeps one that is already there', async () => {
    const { mapper } = openTemp();
    await mapper.link(
      [
        item('A', bank('1'), { additional_info: [{ note: 'x' }] }),
        item('B', bank('2'), { additional_info: [{ strategy_id: 2, k: 1 }, { z: 1 }] }),
      ],
      ctx,
    );
    const resolved = await mapper.resolve(
      [
        { reference_id: 'a', id: 'A', scope: 'details' },
        { reference_id: 'b', id: 'B', scope: 'details' },
      ],
      ctx,
    );
    expect(resolved[0]!.additional_info).toEqual([{ note: 'x', strategy_id: 2 }]);
    expect(resolved[1]!.additional_info).toEqual([{ strategy_id: 2, k: 1 }, { z: 1 }]);
    await mapper.close();
  });
});

describe('LocalMapper update, unlink, resolve', () => {
  it('update replaces the FA, keeps name and phone when none are given, and rejects a missing ID as SPAR does', async () => {
    const { mapper, path } = openTemp();
    await mapper.link([item('BENE_0001', bank('ACC1'), { name: 'Maria', phone_number: '+63 1' })], ctx);
    const results = await mapper.update(
      [item('BENE_0001', bank('ACC2', { branch_name: 'North', branch_code: '0002' })), item('BENE_9999', bank('X'))],
      ctx,
    );
    expect(results.map((r) => [r.status, r.status_reason_code, r.status_reason_message])).toEqual([
      ['succ', null, null],
      ['rjct', 'rjct.reference_id.duplicate', 'ID doesnt exist please link first'],
    ]);
    expect(classifyResult('update', results[1]!)).toBe('not_found');
    const [resolved] = await mapper.resolve([{ reference_id: 'r', id: 'BENE_0001', scope: 'details' }], ctx);
    expect(resolved!.fa).toMatchObject({ account_number: 'ACC2', branch_name: 'North', branch_code: '0002' });
    await mapper.close();
    const db = openDatabase(path, { readonly: true });
    expect(prepare(db, 'SELECT name, phone FROM id_fa_mappings WHERE id_value = ?').get('BENE_0001')).toEqual({
      name: 'Maria',
      phone: '+63 1',
    });
    db.close();
  });

  it('unlink deletes, reports a missing ID as not found, and refuses an FA that is not the stored one', async () => {
    const { mapper } = openTemp();
    await mapper.link([item('A', bank('1')), item('B', bank('2'))], ctx);
    const results = await mapper.unlink(
      [
        { reference_id: 'u1', id: 'A' },
        { reference_id: 'u2', id: 'A' },
        { reference_id: 'u3', id: 'B', fa: 'account_number:other' },
      ],
      ctx,
    );
    expect(results.map((r) => [r.status, r.status_reason_code])).toEqual([
      ['succ', null],
      ['rjct', 'rjct.id.invalid'],
      ['rjct', 'rjct.fa.invalid'],
    ]);
    expect(classifyResult('unlink', results[1]!)).toBe('not_found');
    expect(mapper.storedFa('A')).toBeUndefined();
    expect(mapper.storedFa('B')).toBeDefined();
    await mapper.close();
  });

  it('resolve follows SPAR: not found is succ/succ.fa.not_linked_to_id, yes_no carries no FA, an empty ID is rejected', async () => {
    const { mapper } = openTemp();
    await mapper.link(
      [
        item('A', {
          strategy_id: 4,
          fa_type: 'MOBILE_WALLET',
          wallet_provider_name: 'Pink Wallet',
          wallet_provider_code: 'PINK',
          mobile_number: '+639000000002',
        }),
      ],
      ctx,
    );
    const results = await mapper.resolve(
      [
        { reference_id: '1', id: 'A', scope: 'yes_no' },
        { reference_id: '2', id: 'NOPE', scope: 'details' },
        { reference_id: '3', id: '', scope: 'details' },
        { reference_id: '4', id: 'A', scope: 'details' },
      ],
      ctx,
    );
    expect(results.map((r) => [r.reference_id, r.status, r.status_reason_code, r.fa ?? null])).toEqual([
      ['1', 'succ', 'succ.id.active', null],
      ['2', 'succ', 'succ.fa.not_linked_to_id', null],
      ['3', 'rjct', 'rjct.reference_id.invalid', null],
      [
        '4',
        'succ',
        'succ.id.active',
        {
          mobile_number: '+639000000002',
          wallet_provider_name: 'Pink Wallet',
          wallet_provider_code: 'PINK',
          fa_type: 'MOBILE_WALLET',
          strategy_id: 4,
        },
      ],
    ]);
    expect(classifyResult('resolve', results[1]!)).toBe('not_found');
    await mapper.close();
  });

  it('resolve of a legacy row reads like SPAR: no additional_info → null, unknown strategy → {}, no match → {strategy_id}', async () => {
    const { mapper, path } = openTemp();
    await mapper.close();
    const db = openDatabase(path);
    const insert = prepare(
      db,
      "INSERT INTO id_fa_mappings (id_value, fa_value, additional_info, created_at, updated_at) VALUES (?, ?, ?, 'x', 'x')",
    );
    insert.run('NULL_AI', 'account:1@x.y.bank_acc', null);
    insert.run('MISSING', 'account:1@x.y.bank_acc', '[{"strategy_id": 77}]');
    insert.run('NOMATCH', 'account:1@x.y.bank_acc', '[{"strategy_id": 2}]');
    db.close();
    const reopened = LocalMapper.open(path);
    const results = await reopened.resolve(
      ['NULL_AI', 'MISSING', 'NOMATCH'].map((id) => ({ reference_id: id, id, scope: 'details' as const })),
      ctx,
    );
    expect(results.map((r) => r.fa)).toEqual([null, {}, { strategy_id: 2 }]);
    await reopened.close();
  });
});

describe('LocalMapper storage', () => {
  it('writes one audit row per change, with FA hashes and never the FA itself', async () => {
    const { mapper, path } = openTemp();
    const first = bank('ACC1');
    const second = bank('ACC2');
    const [linked] = await mapper.link([item('BENE_1', first, { origin: 'in.csv:2' })], { source: 'sparctl link (user t)' });
    await mapper.update([item('BENE_1', second)], ctx);
    await mapper.unlink([{ reference_id: 'u', id: 'BENE_1' }], ctx);
    await mapper.link([item('BENE_1', first)], ctx); // relinked
    await mapper.resolve([{ reference_id: 'r', id: 'BENE_1', scope: 'details' }], ctx); // reads leave no row
    const sha = (s: string) => createHash('sha256').update(s).digest('hex');
    const rows = mapper.auditRows('BENE_1');
    const storedSecond = 'account_number:ACC2.branch_name:Main.branch_code:0001.bank_name:Example Bank.bank_code:EXB.fa_type:BANK';
    expect(rows.map((r) => [r.operation, r.old_fa_hash, r.new_fa_hash])).toEqual([
      ['link', null, sha(linked!.fa as string)],
      ['update', sha(linked!.fa as string), sha(storedSecond)],
      ['unlink', sha(storedSecond), null],
      ['link', null, sha(linked!.fa as string)],
    ]);
    expect(rows[0]!.source).toBe('sparctl link (user t) in.csv:2');
    expect(rows.every((r) => !Number.isNaN(Date.parse(r.at)))).toBe(true);
    await mapper.close();
    const db = openDatabase(path, { readonly: true });
    const dump = JSON.stringify(prepare(db, 'SELECT * FROM audit_log').all());
    expect(dump).not.toContain('ACC1');
    expect(dump).not.toContain('ACC2');
    db.close();
  });

  it('does not write an audit row for a rejected change', async () => {
    const { mapper } = openTemp();
    await mapper.update([item('GHOST', bank('1'))], ctx);
    await mapper.unlink([{ reference_id: 'u', id: 'GHOST' }], ctx);
    expect(mapper.auditRows()).toEqual([]);
    await mapper.close();
  });

  it('creates the SPAR v2 tables in WAL mode with the schema version recorded, the file 0600', async () => {
    const { mapper, path } = openTemp();
    await mapper.close();
    expect(statSync(path).mode & 0o777).toBe(0o600);
    const db = openDatabase(path, { readonly: true });
    // Retained statements, not db.pragma()'s throwaway ones (see retained.ts: Node 24 aborts on collecting one).
    expect(prepare(db, 'PRAGMA journal_mode').pluck().get()).toBe('wal');
    expect(prepare(db, 'PRAGMA user_version').pluck().get()).toBe(SCHEMA_VERSION);
    const tables = (prepare(db, "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").all() as { name: string }[]).map(
      (t) => t.name,
    );
    expect(tables).toEqual(['audit_log', 'banks', 'branches', 'id_fa_mappings', 'sparctl_meta', 'strategy', 'wallet_service_providers']);
    expect(prepare(db, 'SELECT id, strategy_type, description FROM strategy ORDER BY id').all()).toEqual([
      { id: 1, strategy_type: 'ID', description: 'Key Cloak' },
      { id: 2, strategy_type: 'FA', description: 'Bank' },
      { id: 3, strategy_type: 'FA', description: 'Email' },
      { id: 4, strategy_type: 'FA', description: 'Phone' },
      { id: 5, strategy_type: 'FA', description: 'Bank (G2P Bridge)' },
    ]);
    db.close();
  });

  it('reopens an existing database without re-running migrations, and refuses one from a newer sparctl', async () => {
    const { mapper, path } = openTemp();
    await mapper.link([item('KEEP', bank('1'))], ctx);
    await mapper.close();
    const again = LocalMapper.open(path);
    expect(again.countMappings()).toBe(1);
    expect((await again.strategies()).map((s) => s.id)).toEqual([1, 2, 3, 4, 5]);
    await again.close();

    const db = openDatabase(path);
    setPragma(db, `user_version = ${SCHEMA_VERSION + 1}`);
    db.close();
    expect(thrownBy(ConfigError, () => LocalMapper.open(path)).code).toBe('local.schema_too_new');
  });

  it('keeps a digest of what each link or update was made from, and drops it when anything else changes the row', async () => {
    const { mapper, path } = openTemp();
    const row = { context: 'run', text: 'HH-1,0001,Maria' };
    await mapper.link(
      [item('SRC-1', bank('1'), { row }), item('SRC-2', bank('2'), { row: { ...row, text: 'HH-2' } }), item('PLAIN', bank('3'))],
      ctx,
    );
    const digestOf = (id: string) => {
      const db = openDatabase(path, { readonly: true });
      const digest = prepare(db, 'SELECT source_digest FROM id_fa_mappings WHERE id_value = ?').pluck().get(id) as string | null;
      db.close();
      return digest;
    };
    const answers = async (ids: string[], itemRows: Map<string, typeof row>) =>
      [...(await mapper.storedFas(ids, ctx, itemRows)).entries()]
        .map(([id, answer]) => [id, answer === SAME_ROW ? 'same' : 'values'])
        .sort();
    const linked = digestOf('SRC-1');
    expect(linked).toMatch(/^[A-Za-z0-9+/]{22}$/);
    expect(digestOf('PLAIN')).toBeNull();
    // The digest tells nothing of the row: it is not the text's own SHA-256.
    expect(linked).not.toBe(createHash('sha256').update(row.text).digest('base64'));
    expect(
      await answers(
        ['SRC-1', 'SRC-2', 'PLAIN', 'NONE'],
        new Map([
          ['SRC-1', row],
          ['SRC-2', row],
          ['PLAIN', row],
          ['NONE', row],
        ]),
      ),
    ).toEqual([
      ['PLAIN', 'values'],
      ['SRC-1', 'same'],
      ['SRC-2', 'values'],
    ]);
    // An equal row is enough; a different context is not.
    expect(await answers(['SRC-1'], new Map([['SRC-1', { context: 'run', text: 'HH-1,0001,Maria' }]]))).toEqual([['SRC-1', 'same']]);
    expect(await answers(['SRC-1'], new Map([['SRC-1', { context: 'other run', text: row.text }]]))).toEqual([['SRC-1', 'values']]);

    // An update made from a row keeps that row's digest; one without (an admin's) drops it.
    await mapper.update([item('SRC-2', bank('2b'), { row })], ctx);
    expect(digestOf('SRC-2')).toBe(linked);
    await mapper.update([item('SRC-2', bank('2c'))], ctx);
    expect(digestOf('SRC-2')).toBeNull();

    // Any other writer: a change to what the row holds drops the digest, a change to nothing it holds does not.
    await mapper.link(
      [item('SRC-3', bank('3'), { row: { ...row, text: 'HH-3' } }), item('SRC-4', bank('4'), { row: { ...row, text: 'HH-4' } })],
      ctx,
    );
    const db = openDatabase(path);
    for (const [id, column] of [
      ['SRC-1', 'fa_value'],
      ['SRC-3', 'name'],
      ['SRC-4', 'active'],
    ] as const) {
      prepare(db, `UPDATE id_fa_mappings SET ${column} = ${column === 'active' ? '0' : "'changed'"} WHERE id_value = ?`).run(id);
      expect(digestOf(id)).toBeNull();
    }
    await mapper.link([item('SRC-5', bank('5'), { row: { ...row, text: 'HH-5' } })], ctx);
    prepare(db, "UPDATE id_fa_mappings SET updated_at = 'later' WHERE id_value = ?").run('SRC-5');
    expect(digestOf('SRC-5')).not.toBeNull();
    db.close();
    await mapper.close();
  });

  it('keeps a row digest for a row found unchanged only if the row still holds exactly what was read', async () => {
    const { mapper, path } = openTemp();
    await mapper.link([item('M-1', bank('1'), { name: 'Ana' }), item('M-2', bank('2'), { name: 'Ben' }), item('M-3', bank('3'))], ctx);
    const row = (text: string) => ({ context: 'run', text });
    const itemRows = new Map([
      ['M-1', row('one')],
      ['M-2', row('two')],
      ['M-3', row('three')],
    ]);
    const read = await mapper.storedFas(['M-1', 'M-2', 'M-3'], ctx, itemRows);
    // Between the read and the mark, someone else changes M-2's name and M-3's strategy.
    const db = openDatabase(path);
    prepare(db, "UPDATE id_fa_mappings SET name = 'Benito' WHERE id_value = 'M-2'").run();
    prepare(db, `UPDATE id_fa_mappings SET additional_info = '[{"strategy_id":5}]' WHERE id_value = 'M-3'`).run();
    db.close();
    await mapper.markRows(
      ['M-1', 'M-2', 'M-3'].map((id) => ({ id, row: itemRows.get(id)!, stored: read.get(id) as StoredFa })),
      ctx,
    );
    const now = await mapper.storedFas(['M-1', 'M-2', 'M-3'], ctx, itemRows);
    expect(now.get('M-1')).toBe(SAME_ROW);
    expect(now.get('M-2')).toMatchObject({ name: 'Benito' });
    expect(now.get('M-3')).toMatchObject({ strategyId: 5 });
    await mapper.close();
  });

  it('brings a database of schema 1 to the current schema, keeping its rows', async () => {
    const { mapper, path } = openTemp();
    await mapper.link([item('OLD-1', bank('1'), { name: 'Ana' })], ctx);
    await mapper.close();
    // What schema 1 was: no source_digest column and no trigger.
    const db = openDatabase(path);
    db.exec('DROP TRIGGER id_fa_mappings_source_digest_stale; ALTER TABLE id_fa_mappings DROP COLUMN source_digest');
    setPragma(db, 'user_version = 1');
    db.close();
    const again = LocalMapper.open(path);
    expect(await again.storedFas(['OLD-1'], ctx, new Map([['OLD-1', { context: 'c', text: 't' }]]))).toEqual(
      new Map([['OLD-1', expect.objectContaining({ name: 'Ana' })]]),
    );
    await again.update([item('OLD-1', bank('2'), { row: { context: 'c', text: 't' } })], ctx);
    expect((await again.storedFas(['OLD-1'], ctx, new Map([['OLD-1', { context: 'c', text: 't' }]]))).get('OLD-1')).toBe(SAME_ROW);
    await again.close();
    const check = openDatabase(path, { readonly: true });
    expect(prepare(check, 'PRAGMA user_version').pluck().get()).toBe(SCHEMA_VERSION);
    expect(prepare(check, "SELECT count(*) FROM sqlite_master WHERE type = 'trigger'").pluck().get()).toBe(1);
    check.close();
  });

  it('reports a database path it cannot create as a config error', () => {
    const dir = tempDir();
    expect(thrownBy(ConfigError, () => LocalMapper.open(join(dir, 'mapper.db', 'nested', '\0bad'))).code).toBe('local.db_unusable');
  });
});

describe('LocalMapper close: a database removed or replaced under it is told, not reported as written', () => {
  it('removed: disk.write_failed naming the path; left alone: closes quietly', async () => {
    const { mapper, path } = openTemp();
    await mapper.link([item('GONE_1', bank('1'))], ctx);
    for (const suffix of ['', '-wal', '-shm']) rmSync(`${path}${suffix}`, { force: true });
    const error = await mapper.close().catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'disk.write_failed', exitCode: 4 });
    expect((error as Error).message).toContain(`${path}: the database was removed or replaced while this command used it`);

    const kept = openTemp();
    await kept.mapper.link([item('KEPT_1', bank('1'))], ctx);
    await expect(kept.mapper.close()).resolves.toBeUndefined();
  });

  it('replaced by another file at the same path: told too', async () => {
    const { mapper, path } = openTemp();
    await mapper.link([item('SWAP_1', bank('1'))], ctx);
    renameSync(path, `${path}.moved`);
    writeFileSync(path, '');
    await expect(mapper.close()).rejects.toMatchObject({ code: 'disk.write_failed' });
  });
});
