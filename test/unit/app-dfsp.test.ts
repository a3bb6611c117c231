import { describe, expect, it } from 'vitest';
import { importDfsp, listDfsp, type DfspDeps, type DfspTables } from '../../src/app/dfsp.js';
import type { DfspData } from '../../src/core/mapping.js';
import { strict } from '../helpers/strict.js';

const DATA: DfspData = {
  banks: [
    { code: 'LBP', name: 'Land Bank' },
    { code: 'BDO', name: 'Banco de Oro' },
  ],
  branches: [
    { code: '0012', name: 'Kamuning', bank_code: 'LBP' },
    { code: '0001', name: 'Makati', bank_code: 'BDO' },
  ],
  wallet_providers: [
    { code: 'GCASH', name: 'GCash', wallet_type: 'MOBILE_WALLET' },
    { code: 'PAYMAIL', name: 'PayMail', wallet_type: 'EMAIL_WALLET' },
  ],
} as DfspData;

/** Deps that record, in order, what the use case did; anything not given throws. */
function deps(given: Partial<DfspDeps>): DfspDeps & { log: string[] } {
  const log: string[] = [];
  return Object.assign(strict<DfspDeps>('deps', { note: (line) => log.push(`note ${line}`), ...given }, ['localDb']), { log });
}

/** DFSP tables holding `known`; an import counts every entry as added and is recorded. */
function tables(log: string[], known: DfspData = { banks: [], branches: [], wallet_providers: [] }): DfspTables {
  return strict<DfspTables>('tables', {
    read: () => known,
    import: (data, { dryRun }) => (
      log.push(`import ${data.banks.length}/${data.branches.length}/${data.wallet_providers.length}${dryRun ? ' dry' : ''}`),
      { added: data.banks.length + data.branches.length + data.wallet_providers.length, renamed: 0, unchanged: 0 }
    ),
    close: () => void log.push('close'),
  });
}

describe('dfsp (use cases)', () => {
  const list = async (filter: object) =>
    (await listDfsp(deps({ readDfsp: async () => DATA }), filter)).rows.map((r) => `${r.type} ${r.code}`);

  it('list: banks, branches, then wallets by kind; --type picks one kind', async () => {
    expect(await list({})).toEqual(['bank LBP', 'bank BDO', 'branch 0012', 'branch 0001', 'mobile wallet GCASH', 'e-mail wallet PAYMAIL']);
    expect(await list({ type: 'wallets' })).toEqual(['mobile wallet GCASH', 'e-mail wallet PAYMAIL']);
  });

  it("list: --bank keeps only that bank's branches; --search matches code or name, case ignored", async () => {
    expect(await list({ bank: 'LBP' })).toEqual(['branch 0012']);
    expect(await list({ search: 'ban' })).toEqual(['bank LBP', 'bank BDO']);
    expect(await list({ search: 'gcash' })).toEqual(['mobile wallet GCASH']);
  });

  it('import: refused on a remote target before anything is opened or read', async () => {
    await expect(importDfsp(deps({ remote: true }), { file: 'x.csv', dryRun: false })).rejects.toMatchObject({
      code: 'dfsp.remote_import',
    });
  });

  it('import: the output format is checked, the target said, then the tables opened, the file checked and imported, the tables closed', async () => {
    const d = deps({
      remote: false,
      localDb: '/m.db',
      checkOutputFormat: () => void d.log.push('format'),
      announceTarget: () => void d.log.push('target'),
      openTables: async (dryRun) => (d.log.push(`open${dryRun ? ' read-only' : ''}`), tables(d.log)),
      readDfspFile: async () => ({
        json: {
          banks: [{ code: 'LBP', name: 'Land Bank' }],
          branches: [{ code: '0012', name: 'Kamuning', bank_code: 'LBP' }],
          wallet_providers: [],
        },
      }),
    });
    const result = await importDfsp(d, { file: 'dfsp.json', dryRun: true });
    expect(d.log).toEqual([
      'format',
      'target',
      'open read-only',
      'import 1/1/0 dry',
      'note dfsp.json: 2 entries (1 banks, 1 branches, 0 wallet providers): 2 would be added, 0 would be renamed, 0 unchanged · local /m.db',
      'note dry run: nothing was written',
      'close',
    ]);
    expect(result).toEqual({
      file: 'dfsp.json',
      dryRun: true,
      entries: { banks: 1, branches: 1, wallet_providers: 0 },
      added: 2,
      renamed: 0,
      unchanged: 0,
    });
  });

  it('import: a JSON branch may name a bank the mapper holds; one naming an unknown bank imports nothing and the tables are closed', async () => {
    const run = (known: DfspData) => {
      const d = deps({
        remote: false,
        checkOutputFormat: () => undefined,
        announceTarget: () => undefined,
        openTables: async () => tables(d.log, known),
        readDfspFile: async () => ({
          json: { banks: [], branches: [{ code: '0099', name: 'New branch', bank_code: 'LBP' }], wallet_providers: [] },
        }),
      });
      return { d, done: importDfsp(d, { file: 'b.json', dryRun: false }) };
    };
    const knownBank = run({ banks: [{ code: 'LBP', name: 'Land Bank' }], branches: [], wallet_providers: [] });
    expect((await knownBank.done).added).toBe(1);
    const unknown = run({ banks: [], branches: [], wallet_providers: [] });
    await expect(unknown.done).rejects.toMatchObject({ code: expect.stringMatching(/^dfsp\./) });
    expect(unknown.d.log).toEqual(['close']);
  });

  it('import: CSV rows are checked with their line numbers', async () => {
    const d = deps({
      remote: false,
      checkOutputFormat: () => undefined,
      announceTarget: () => undefined,
      openTables: async () => tables(d.log),
      readDfspFile: async () => ({
        rows: [
          { line: 2, record: { type: 'BANK', code: 'LBP', name: 'Land Bank', bank_code: '' } },
          { line: 3, record: { type: 'SHOP', code: 'X', name: 'X', bank_code: '' } },
        ],
      }),
    });
    await expect(importDfsp(d, { file: 'd.csv', dryRun: false })).rejects.toThrow(/^d\.csv:3: type: must be one of/);
    expect(d.log).toEqual(['close']);
  });
});
