import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadMappingFiles } from '../../src/app/mapping-files.js';
import type { DfspData } from '../../src/core/mapping.js';
import { ROOT } from '../helpers/run-cli.js';

const MAPPING = readFileSync(join(ROOT, 'fixtures', 'enumeration.mapping.json'), 'utf8');

/** As the local mapper lists them (dfsp-store.ts: by code, mobile wallets first). */
const LOCAL_ORDER: DfspData = {
  banks: [
    { code: 'BDO', name: 'BDO Unibank' },
    { code: 'LBP', name: 'Land Bank' },
  ],
  branches: [
    { bank_code: 'BDO', code: '0001', name: 'Makati' },
    { bank_code: 'LBP', code: '0001', name: 'Main' },
    { bank_code: 'LBP', code: '0012', name: 'Quezon City' },
  ],
  wallet_providers: [
    { code: 'GCASH', name: 'GCash', wallet_type: 'MOBILE_WALLET' },
    { code: 'MAYA', name: 'Maya', wallet_type: 'MOBILE_WALLET' },
    { code: 'PAYPAL', name: 'PayPal', wallet_type: 'EMAIL_WALLET' },
  ],
};

const known = async (data: DfspData) =>
  (
    await loadMappingFiles(
      { readText: async () => MAPPING, parseJson: (text) => JSON.parse(text), targetDfsp: async () => data },
      { mapping: 'm.json' },
    )
  ).dfspKnown;

describe("the target's DFSP data in a job's definition", () => {
  it('is one text whatever order the bene-portal lists it in, and the text jobs of the local mapper always had', async () => {
    const reversed: DfspData = {
      banks: [...LOCAL_ORDER.banks].reverse(),
      branches: [...LOCAL_ORDER.branches].reverse(),
      // Keys in another order too, as another server's JSON may have them.
      wallet_providers: [...LOCAL_ORDER.wallet_providers].reverse().map(({ wallet_type, name, code }) => ({ wallet_type, name, code })),
    };
    expect(await known(reversed)).toBe(await known(LOCAL_ORDER));
    expect(await known(LOCAL_ORDER)).toBe(JSON.stringify(LOCAL_ORDER));
  });

  it("orders codes by code point, as SQLite orders the local mapper's (UTF-8 bytes), not by UTF-16 unit", async () => {
    const banks = [
      { code: '\u{1F3E6}', name: 'Astral' },
      { code: '\uE000', name: 'Private use' },
    ];
    const text = await known({ banks, branches: [], wallet_providers: [] });
    expect(JSON.parse(text!).banks.map((bank: { name: string }) => bank.name)).toEqual(['Private use', 'Astral']);
  });

  it('still tells other data apart: a renamed bank is another definition', async () => {
    const renamed = { ...LOCAL_ORDER, banks: [LOCAL_ORDER.banks[0]!, { code: 'LBP', name: 'Landbank of the Philippines' }] };
    expect(await known(renamed)).not.toBe(await known(LOCAL_ORDER));
  });
});
