import { describe, expect, it } from 'vitest';
import { importDfsp, listDfsp, removeDfsp, type DfspDeps, type DfspTables } from '../../src/app/dfsp.js';
import type { DfspEntry, DfspRemoval } from '../../src/core/dfsp.js';
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
      openTables: async (dryRun, mayCreate) => (
        d.log.push(`open${dryRun ? ' read-only' : ''}${mayCreate ? ' (may create)' : ''}`), tables(d.log)
      ),
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
      'open read-only (may create)',
      'import 1/1/0 dry',
      'note dfsp.json: 2 entries (1 bank, 1 branch, 0 wallet providers): 2 would be added, 0 would be renamed, 0 unchanged · local /m.db',
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

  describe('remove', () => {
    /** Deps whose tables answer `removal` and record what they were asked. */
    const removing = (removal: DfspRemoval, listed: DfspData = DATA) => {
      const d = deps({
        remote: false,
        localDb: '/m.db',
        sparctl: 'sparctl --db /m.db',
        checkOutputFormat: () => void d.log.push('format'),
        announceTarget: () => void d.log.push('target'),
        openTables: async (dryRun, mayCreate) => (
          d.log.push(`open${dryRun ? ' read-only' : ''}${mayCreate ? ' (may create)' : ''}`),
          strict<DfspTables>('tables', {
            read: () => listed,
            remove: (entry: DfspEntry, options) => (
              d.log.push(`remove ${JSON.stringify(entry)}${options.withBranches ? ' with branches' : ''}${options.dryRun ? ' dry' : ''}`),
              removal
            ),
            close: () => void d.log.push('close'),
          })
        ),
      });
      return d;
    };
    const input = { withBranches: false, dryRun: false };

    it('each kind of entry goes to the tables as its kind, the type read in either spelling; the result says what went', async () => {
      const d = removing({ found: true, name: 'GCash', branches: [] });
      expect(await removeDfsp(d, { ...input, type: 'mobile wallet', code: ' GCASH ' })).toEqual({
        dryRun: false,
        type: 'MOBILE_WALLET',
        code: 'GCASH',
        name: 'GCash',
      });
      expect(d.log).toEqual([
        'format',
        'target',
        'open',
        'remove {"kind":"wallet","code":"GCASH","walletType":"MOBILE_WALLET"}',
        'note mobile wallet provider GCASH (GCash) removed from the list · local /m.db; FAs already linked with it are unchanged',
        'close',
      ]);
      const branch = removing({ found: true, name: 'Kamuning', branches: [] });
      expect(await removeDfsp(branch, { ...input, type: 'branch', code: '0012', bank: 'LBP', dryRun: true })).toMatchObject({
        type: 'BRANCH',
        bank_code: 'LBP',
        dryRun: true,
      });
      expect(branch.log).toContain('remove {"kind":"branch","code":"0012","bankCode":"LBP"} dry');
      expect(branch.log).toContain('note dry run: nothing was written');
      expect(branch.log.at(2)).toBe('open read-only');
    });

    it("a bank with branches listed: refused unless they go with it, naming them and this run's mapper in the hint", async () => {
      const d = removing({ found: true, name: 'Land Bank', branches: ['0012', '0045'] });
      await expect(removeDfsp(d, { ...input, type: 'BANK', code: 'LBP' })).rejects.toMatchObject({
        code: 'dfsp.has_branches',
        message: 'bank LBP (Land Bank) has 2 branches listed (0012, 0045); nothing was removed',
        hint: expect.stringContaining('"sparctl --db /m.db dfsp remove BRANCH CODE --bank LBP"'),
      });
      expect(d.log.at(-1)).toBe('close');
      const withThem = removing({ found: true, name: 'Land Bank', branches: ['0012', '0045'] });
      expect(await removeDfsp(withThem, { ...input, type: 'BANK', code: 'LBP', withBranches: true })).toMatchObject({
        branches: ['0012', '0045'],
      });
      expect(withThem.log).toContain(
        'note bank LBP (Land Bank) with its 2 branches removed from the list · local /m.db; FAs already linked with it are unchanged',
      );
    });

    it('a removal that leaves the list empty says imports then check no codes; a dry run says it of the list less the entry', async () => {
      const only: DfspData = {
        banks: [],
        branches: [],
        wallet_providers: [{ code: 'GCASH', name: 'GCash', wallet_type: 'MOBILE_WALLET' }],
      } as DfspData;
      for (const dryRun of [false, true]) {
        const d = removing({ found: true, name: 'GCash', branches: [] }, dryRun ? only : { banks: [], branches: [], wallet_providers: [] });
        await removeDfsp(d, { ...input, dryRun, type: 'MOBILE_WALLET', code: 'GCASH' });
        expect(d.log).toContain(
          dryRun
            ? 'note the list would be empty: import-csv and import-odk without --dfsp would then check no codes against it, and fa edit would ask for them as free text'
            : 'note the list is now empty: import-csv and import-odk without --dfsp now check no codes against it, and fa edit asks for them as free text',
        );
      }
    });

    it('not listed: dfsp.not_found with the near code of the same kind, case ignored', async () => {
      await expect(removeDfsp(removing({ found: false }), { ...input, type: 'BANK', code: 'lbq' })).rejects.toMatchObject({
        code: 'dfsp.not_found',
        message: 'bank lbq: not in the list of /m.db; nothing was removed',
        hint: 'did you mean "LBP"? "sparctl --db /m.db dfsp list" shows the list',
      });
      // A branch is looked for among its own bank's: 0012 is LBP's, not BDO's.
      await expect(removeDfsp(removing({ found: false }), { ...input, type: 'BRANCH', code: '0012', bank: 'BDO' })).rejects.toMatchObject({
        hint: 'did you mean "0001"? "sparctl --db /m.db dfsp list" shows the list',
      });
    });

    it('a remote target, an unknown type, or flags the type does not take: refused before anything is opened', async () => {
      await expect(removeDfsp(deps({ remote: true }), { ...input, type: 'BANK', code: 'LBP' })).rejects.toMatchObject({
        code: 'dfsp.remote_write',
      });
      for (const [given, code] of [
        [{ type: 'SHOP', code: 'X' }, 'usage.invalid_argument'],
        [{ type: 'BANK', code: ' ' }, 'usage.invalid_argument'],
        [{ type: 'BRANCH', code: '0012' }, 'usage.missing_mandatory_option_value'],
        [{ type: 'BANK', code: 'LBP', bank: 'LBP' }, 'usage.conflicting_option'],
        [{ type: 'EMAIL_WALLET', code: 'PAYMAIL', withBranches: true }, 'usage.conflicting_option'],
      ] as const) {
        const d = removing({ found: false });
        await expect(removeDfsp(d, { ...input, ...given })).rejects.toMatchObject({ code });
        expect(d.log).toEqual([]);
      }
    });
  });
});
