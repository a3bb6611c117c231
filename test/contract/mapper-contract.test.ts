import { generateKeyPairSync } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { HttpMapper } from '../../src/adapters/http/http-mapper.js';
import { createSparServer } from '../../src/adapters/server/spar-v2-server.js';
import { LocalMapper } from '../../src/adapters/sqlite/local-mapper.js';
import type { LinkItem, Mapper } from '../../src/core/mapper.js';
import type { FinancialAddress } from '../../src/core/model.js';
import { classifyResult, type ItemResult, type Operation } from '../../src/core/results.js';
import type { Settings } from '../../src/config/settings.js';
import { bank } from '../helpers/records.js';
import { tempDir } from '../helpers/tmp.js';

/**
 * One behaviour suite for the Mapper port, run against the embedded mapper and against
 * HttpMapper talking to `sparctl serve` (signatures on) over 127.0.0.1. What passes here reads
 * the same locally and remotely.
 */

const ctx = { source: 'contract test' };
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function localMapper(): Promise<Mapper> {
  const mapper = LocalMapper.open(join(tempDir(), 'mapper.db'));
  cleanups.push(() => mapper.close());
  return mapper;
}

async function remoteMapper(): Promise<Mapper> {
  const backing = LocalMapper.open(join(tempDir(), 'served.db'));
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const keyFile = join(tempDir(), 'partner-key.pem');
  writeFileSync(keyFile, privateKey.export({ type: 'pkcs8', format: 'pem' }));
  const server = createSparServer({ mapper: backing, partners: new Map([['PARTNER_SPARCTL_TEST', [publicKey]]]) });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const settings: Settings = {
    profile: 'contract',
    mode: 'remote',
    protocol: 'spar-v2',
    baseUrl: `http://127.0.0.1:${port}`,
    senderAppMnemonic: 'sparctl-test',
    signingKeyFile: keyFile,
    timeoutMs: 10_000,
    batchSize: 500,
    concurrency: 2,
  };
  const mapper = await HttpMapper.create(settings);
  cleanups.push(async () => {
    await mapper.close();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await backing.close();
  });
  return mapper;
}

const wallet: FinancialAddress = {
  strategy_id: 4,
  fa_type: 'MOBILE_WALLET',
  wallet_provider_name: 'Pink Wallet',
  wallet_provider_code: 'PINK',
  mobile_number: '+639000000002',
};

let n = 0;
const item = (id: string, fa: FinancialAddress, extra: Partial<LinkItem> = {}): LinkItem => ({
  reference_id: `c-${++n}`,
  id,
  fa,
  ...extra,
});
const outcomes = (operation: Operation, results: ItemResult[]) => results.map((r) => classifyResult(operation, r));

for (const [kind, open] of [
  ['LocalMapper', localMapper],
  ['HttpMapper → sparctl serve (signed)', remoteMapper],
] as const) {
  describe(`Mapper contract: ${kind}`, () => {
    it('links, and a second link of the same ID is already_linked; the stored FA is what Python builds', async () => {
      const mapper = await open();
      const first = await mapper.link(
        [item('BENE_0001', bank('ACC1000001'), { name: 'María Ñúñez', phone_number: '+63 900 000 0001' }), item('BENE_0002', wallet)],
        ctx,
      );
      expect(outcomes('link', first)).toEqual(['linked', 'linked']);
      expect(first[0]!.fa).toBe(
        'account_number:ACC1000001.branch_name:Main.branch_code:0001.bank_name:Example Bank.bank_code:EXB.fa_type:BANK',
      );
      const again = await mapper.link([item('BENE_0001', bank('ACC1000001'))], ctx);
      expect(outcomes('link', again)).toEqual(['already_linked']);
      expect(again[0]).toMatchObject({ id: 'BENE_0001', status_reason_code: 'rjct.reference_id.duplicate' });
    });

    it('rejects only the later of two items with the same ID in one request', async () => {
      const mapper = await open();
      const results = await mapper.link([item('DUP', bank('1')), item('DUP', bank('2')), item('OTHER', bank('3'))], ctx);
      expect(outcomes('link', results)).toEqual(['linked', 'already_linked', 'linked']);
    });

    it('resolves details to exactly the fields linked, yes_no without an FA, and a missing ID as not_found', async () => {
      const mapper = await open();
      await mapper.link([item('R1', bank('0012345678')), item('R2', wallet)], ctx);
      const results = await mapper.resolve(
        [
          { reference_id: 'a', id: 'R1', scope: 'details' },
          { reference_id: 'b', id: 'R2', scope: 'yes_no' },
          { reference_id: 'c', id: 'NOPE', scope: 'details' },
          { reference_id: 'd', id: 'R2', scope: 'details' },
        ],
        ctx,
      );
      const byRef = new Map(results.map((r) => [r.reference_id, r]));
      expect(byRef.get('a')).toMatchObject({
        id: 'R1',
        status: 'succ',
        status_reason_code: 'succ.id.active',
        fa: { ...bank('0012345678') },
      });
      expect(byRef.get('b')).toMatchObject({ id: 'R2', status_reason_code: 'succ.id.active', fa: null });
      expect(byRef.get('c')).toMatchObject({ id: 'NOPE', status: 'succ', status_reason_code: 'succ.fa.not_linked_to_id' });
      expect(classifyResult('resolve', byRef.get('c')!)).toBe('not_found');
      expect(byRef.get('d')!.fa).toEqual({ ...wallet });
    });

    it('updates a linked ID, reports a missing one as not_found, and unlinks once', async () => {
      const mapper = await open();
      await mapper.link([item('U1', bank('OLD'))], ctx);
      const update = await mapper.update(
        [item('U1', bank('NEW', { branch_name: 'North', branch_code: '0002' })), item('U404', bank('X'))],
        ctx,
      );
      expect(outcomes('update', update)).toEqual(['updated', 'not_found']);
      const [resolved] = await mapper.resolve([{ reference_id: 'r', id: 'U1', scope: 'details' }], ctx);
      expect(resolved!.fa).toMatchObject({ account_number: 'NEW', branch_name: 'North' });
      expect(outcomes('unlink', await mapper.unlink([{ reference_id: 'x', id: 'U1' }], ctx))).toEqual(['unlinked']);
      const again = await mapper.unlink([{ reference_id: 'y', id: 'U1' }], ctx);
      expect(outcomes('unlink', again)).toEqual(['not_found']);
      expect(again[0]!.id).toBe('U1');
    });

    it('carries non-ASCII text, quotes, backslashes and U+2028 through signing and storage', async () => {
      const mapper = await open();
      const tricky = bank('42', { bank_name: 'Banco "Ñ" \\ Ünïcødé 銀行', branch_name: 'Centro/Norte' });
      await mapper.link([item('UNI', tricky, { name: 'Zoë\u2028"Z" Ó\'Brien \\ 😀' })], ctx);
      const [resolved] = await mapper.resolve([{ reference_id: 'u', id: 'UNI', scope: 'details' }], ctx);
      expect(resolved!.fa).toEqual({ ...tricky });
    });

    it('answers a batch of 1,000 with one result per item, matched by reference_id', async () => {
      const mapper = await open();
      const items = Array.from({ length: 1000 }, (_, i) => item(`B${String(i).padStart(5, '0')}`, bank(String(1e6 + i))));
      const results = await mapper.link(items, ctx);
      expect(new Set(results.map((r) => r.reference_id))).toEqual(new Set(items.map((i) => i.reference_id)));
      expect(results.every((r) => r.status === 'succ')).toBe(true);
    });
  });
}

describe('sparctl serve: item checks', () => {
  async function post(items: unknown[]): Promise<{ status: number; body: any; backing: LocalMapper }> {
    const backing = LocalMapper.open(join(tempDir(), 'served.db'));
    const server = createSparServer({ mapper: backing, partners: new Map() });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    cleanups.push(async () => {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await backing.close();
    });
    const { port } = server.address() as AddressInfo;
    const response = await fetch(`http://127.0.0.1:${port}/mapper/link`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        request_header: {
          sender_app_mnemonic: 't',
          sender_app_url: '',
          request_id: 'r1',
          request_timestamp: new Date().toISOString(),
          instance_id: null,
        },
        request_body: { request_payload: { transaction_id: 't1', link_request: items } },
      }),
    });
    return { status: response.status, body: await response.json(), backing };
  }
  const good = (id: string, extra: Record<string, unknown> = {}) => ({
    reference_id: id,
    timestamp: new Date().toISOString(),
    id,
    fa: wallet,
    name: 'A',
    locale: 'en',
    ...extra,
  });

  it('links well-formed items, echoes their locale, and rejects a bad FA per item', async () => {
    const { status, body } = await post([good('S1', { locale: 'fr' }), good('S2', { fa: { ...wallet, mobile_number: 'call me' } })]);
    expect(status).toBe(200);
    const answers = body.response_body.response_payload.link_response;
    expect(answers.map((a: any) => [a.reference_id, a.status, a.locale])).toEqual([
      ['S1', 'succ', 'fr'],
      ['S2', 'rjct', 'en'],
    ]);
    expect(answers[1].status_reason_code).toBe('rjct.fa.invalid');
    expect(answers[1].status_reason_message).toMatch(/mobile_number/);
  });

  it('takes nothing from a request but SPAR fields: a "row" sent along leaves no row digest', async () => {
    const row = { context: 'c', text: 't' };
    const { status, backing } = await post([good('D1', { row })]);
    expect(status).toBe(200);
    const stored = await backing.storedFas(['D1'], { source: 'test' }, new Map([['D1', row]]));
    expect(stored.get('D1')).toMatchObject({ fa: expect.stringContaining('fa_type:MOBILE_WALLET') });
  });

  it('answers a malformed item as SPAR does: 400 G2P-REQ-102 naming the problem, nothing linked', async () => {
    for (const bad of [
      good('M1', { id: 42 }),
      good('M2', { fa: 'not an object' }),
      good('M3', { additional_info: [1] }),
      { ...good('M4'), reference_id: undefined },
    ]) {
      const { status, body } = await post([good('OK'), bad]);
      expect(status).toBe(400);
      expect(body.errors[0].code).toBe('G2P-REQ-102');
      expect(body.errors[0].message).toMatch(/^Invalid Input\. /);
    }
  });
});
