/**
 * The G2P Connect fake (test/helpers/g2p-connect-fake.ts) must behave like a spec mapper:
 * Ack then callback, header-level rejections, txn/status, OAuth2, JWE messages, signed callbacks.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  CompactSign,
  FlattenedEncrypt,
  compactVerify,
  exportSPKI,
  flattenedDecrypt,
  generateKeyPair,
  importJWK,
  type FlattenedJWE,
} from 'jose';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { canonicalJson } from '../../src/adapters/http/canonical-json.js';
import { isBatchFailure, type ProtocolItem, type RequestContext } from '../../src/adapters/http/protocol.js';
import { g2pConnectProtocol } from '../../src/adapters/http/protocols/g2p-connect.js';
import type { BankFa } from '../../src/core/model.js';
import { classifyResult, type Operation } from '../../src/core/results.js';
import { DEFAULT_STRATEGIES } from '../../src/core/strategy/strategy.js';
import { startG2pConnectFake, type G2pConnectFake, type G2pConnectFakeOptions } from '../helpers/g2p-connect-fake.js';

type Json = Record<string, any>;

interface Received {
  path: string;
  headers: Record<string, string | string[] | undefined>;
  body: Json;
}

/** The client's callback receiver: ACKs everything and keeps what arrived. */
let receiver: Server;
let receiverUrl = '';
const received: Received[] = [];
const waiters: (() => void)[] = [];

beforeAll(async () => {
  receiver = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      received.push({ path: req.url ?? '', headers: req.headers, body: JSON.parse(Buffer.concat(chunks).toString('utf8')) as Json });
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({ message: { ack_status: 'ACK', timestamp: new Date().toISOString(), error: null, correlation_id: randomUUID() } }),
      );
      for (const wake of waiters.splice(0)) wake();
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  receiverUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/cb`;
});

afterAll(async () => {
  receiver.closeAllConnections();
  await new Promise<void>((resolve) => receiver.close(() => resolve()));
});

let fake: G2pConnectFake | undefined;
afterEach(async () => {
  await fake?.close();
  fake = undefined;
  received.length = 0;
});

async function start(options: G2pConnectFakeOptions = {}): Promise<G2pConnectFake> {
  fake = await startG2pConnectFake({ delayMs: 5, ...options });
  return fake;
}

async function nextCallback(count = 1): Promise<Received> {
  const deadline = Date.now() + 2000;
  while (received.length < count) {
    if (Date.now() > deadline) throw new Error('no callback');
    await new Promise<void>((resolve) => {
      waiters.push(resolve);
      setTimeout(resolve, 50);
    });
  }
  return received[count - 1]!;
}

const ts = () => new Date().toISOString();

function envelope(action: string, message: Json, extra: Json = {}): Json {
  const list = Object.values(message).find(Array.isArray) as unknown[] | undefined;
  return {
    signature: '',
    header: {
      version: '1.0.0',
      message_id: randomUUID(),
      message_ts: ts(),
      action,
      sender_id: 'sparctl.test',
      sender_uri: receiverUrl,
      total_count: list?.length ?? 1,
      is_msg_encrypted: false,
      ...extra,
    },
    message,
  };
}

const linkMessage = (txn: string, pairs: [string, string][]): Json => ({
  transaction_id: txn,
  link_request: pairs.map(([id, fa], i) => ({ reference_id: `${txn}-r${i}`, timestamp: ts(), id, fa, locale: 'eng' })),
});

async function post(
  url: string,
  body: unknown,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: Json; headers: Headers }> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: (text ? JSON.parse(text) : {}) as Json, headers: res.headers };
}

describe('async endpoints', () => {
  it('ACKs a link, then posts on-link to sender_uri + /on-link with per-item results', async () => {
    const f = await start({ mappings: { 'token:2@nid': 'account:2@bank' } });
    const req = envelope(
      'link',
      linkMessage('t1', [
        ['token:1@nid', 'account:1@bank'],
        ['token:2@nid', 'account:9@bank'],
      ]),
    );
    const ackAnswer = await post(`${f.url}/mapper/link`, req);
    expect(ackAnswer.status).toBe(200);
    expect(ackAnswer.body['message']).toMatchObject({ ack_status: 'ACK', error: null });
    expect(typeof ackAnswer.body['message']['correlation_id']).toBe('string');
    expect(ackAnswer.body['message']['timestamp']).toMatch(/^\d{4}-/);

    const cb = await nextCallback();
    expect(cb.path).toBe('/cb/on-link');
    expect(cb.body['header']).toMatchObject({
      action: 'on-link',
      status: 'succ',
      total_count: 2,
      completed_count: 2,
      receiver_id: 'sparctl.test',
      is_msg_encrypted: false,
    });
    const msg = cb.body['message'];
    expect(msg['transaction_id']).toBe('t1');
    expect(msg['correlation_id']).toBe(ackAnswer.body['message']['correlation_id']);
    expect(msg['link_response'].map((r: Json) => [r['reference_id'], r['status'], r['status_reason_code']])).toEqual([
      ['t1-r0', 'succ', null],
      ['t1-r1', 'rjct', 'rjct.reference_id.duplicate'],
    ]);
    expect(f.mappings.get('token:1@nid')).toBe('account:1@bank');
    expect(f.mappings.get('token:2@nid')).toBe('account:2@bank');
    await f.settled();
    expect(f.callbacks[0]).toMatchObject({ outcome: 'delivered', httpStatus: 200, ackStatus: 'ACK', action: 'on-link' });
    expect(f.requests[0]).toMatchObject({
      path: '/mapper/link',
      kind: 'async',
      action: 'link',
      message_id: req['header']['message_id'],
      transaction_id: 't1',
      encrypted: false,
      ackStatus: 'ACK',
    });
  });

  it('accepts any action string and uses /txn/on-status for async txn status', async () => {
    const f = await start();
    await post(`${f.url}/mapper/link`, envelope('whatever', linkMessage('t2', [['a@x', 'fa@y']])));
    await nextCallback(1);
    const status = envelope('txn-status', {
      transaction_id: 's2',
      txnstatus_request: { reference_id: 'q', txn_type: 'link', attribute_type: 'transaction_id', attribute_value: 't2' },
    });
    expect((await post(`${f.url}/mapper/txn/status`, status)).body['message']['ack_status']).toBe('ACK');
    const cb = await nextCallback(2);
    expect(cb.path).toBe('/cb/txn/on-status');
    expect(cb.body['header']['action']).toBe('txn-on-status');
    expect(cb.body['message']['txnstatus_response']).toMatchObject({
      txn_type: 'on-link',
      txn_status: { transaction_id: 't2', link_response: [{ reference_id: 't2-r0', status: 'succ' }] },
    });
  });

  it('NACK (nothing follows, nothing applied) and ERR with a spec error code', async () => {
    const f = await start();
    f.inject({ kind: 'nack' }, { kind: 'err', code: 'err.service.unavailable' });
    const nack = await post(`${f.url}/mapper/link`, envelope('link', linkMessage('t3', [['a@x', 'fa@y']])));
    expect(nack.body['message']).toMatchObject({ ack_status: 'NACK' });
    const err = await post(`${f.url}/mapper/link`, envelope('link', linkMessage('t4', [['a@x', 'fa@y']])));
    expect(err.body['message']).toMatchObject({ ack_status: 'ERR', error: { code: 'err.service.unavailable' } });
    await f.settled();
    expect(received).toHaveLength(0);
    expect(f.mappings.size).toBe(0);
    // An unparseable body is an ERR err.request.bad.
    const bad = await post(`${f.url}/mapper/link`, '{not json');
    expect(bad.body['message']).toMatchObject({ ack_status: 'ERR', error: { code: 'err.request.bad' } });
    await f.configure({ mode: 'nack' });
    expect(
      (await post(`${f.url}/mapper/resolve`, envelope('resolve', { transaction_id: 't5', resolve_request: [] }))).body['message'][
        'ack_status'
      ],
    ).toBe('NACK');
  });

  it('noCallback: ACK, no callback, and txn/status on both sync paths reveals the results', async () => {
    const f = await start({ mode: 'noCallback' });
    const a = await post(
      `${f.url}/mapper/link`,
      envelope(
        'link',
        linkMessage('t6', [
          ['a@x', 'fa@y'],
          ['b@x', 'fb@y'],
        ]),
      ),
    );
    expect(a.body['message']['ack_status']).toBe('ACK');
    await f.settled();
    expect(received).toHaveLength(0);
    expect(f.callbacks[0]?.outcome).toBe('suppressed');

    for (const path of ['/mapper/sync/txn/status', '/registry/sync/txn/status']) {
      const byTxn = await post(
        `${f.url}${path}`,
        envelope('txn-status', {
          transaction_id: randomUUID(),
          txnstatus_request: { reference_id: 'q1', txn_type: 'link', attribute_type: 'transaction_id', attribute_value: 't6' },
        }),
      );
      expect(byTxn.status).toBe(200);
      expect(byTxn.body['header']).toMatchObject({ action: 'txn-on-status', status: 'succ' });
      expect(byTxn.body['message']['txnstatus_response']['txn_type']).toBe('on-link');
      expect(byTxn.body['message']['txnstatus_response']['txn_status']['link_response']).toHaveLength(2);
    }
    const byRef = await post(
      `${f.url}/mapper/sync/txn/status`,
      envelope('txn-status', {
        transaction_id: 'q',
        txnstatus_request: { reference_id: 'q2', txn_type: 'link', attribute_type: 'reference_id_list', attribute_value: ['t6-r1'] },
      }),
    );
    expect(byRef.body['message']['txnstatus_response']['txn_status']).toMatchObject({
      transaction_id: 't6',
      link_response: [{ reference_id: 't6-r1', status: 'succ' }],
    });
    const byCorrelation = await post(
      `${f.url}/mapper/sync/txn/status`,
      envelope('txn-status', {
        transaction_id: 'q',
        txnstatus_request: {
          reference_id: 'q3',
          txn_type: 'link',
          attribute_type: 'correlation_id',
          attribute_value: a.body['message']['correlation_id'],
        },
      }),
    );
    expect(byCorrelation.body['message']['txnstatus_response']['txn_status']['transaction_id']).toBe('t6');
    const missing = await post(
      `${f.url}/mapper/sync/txn/status`,
      envelope('txn-status', {
        transaction_id: 'q',
        txnstatus_request: { reference_id: 'q4', txn_type: 'link', attribute_type: 'transaction_id', attribute_value: 'nope' },
      }),
    );
    expect(missing.body['header']['status']).toBe('rjct');
  });

  it('callbackFails records the failure; an unreachable receiver is recorded too', async () => {
    const f = await start();
    f.inject({ kind: 'callbackFails' });
    await post(`${f.url}/mapper/link`, envelope('link', linkMessage('t7', [['a@x', 'fa@y']])));
    await post(
      `${f.url}/mapper/unlink`,
      envelope(
        'unlink',
        { transaction_id: 't8', unlink_request: [{ reference_id: 'u', timestamp: ts(), id: 'a@x' }] },
        { sender_uri: 'http://127.0.0.1:1/cb' },
      ),
    );
    await f.settled();
    expect(received).toHaveLength(0);
    expect(f.callbacks.map((c) => [c.outcome, c.url])).toEqual([
      ['failed', `${receiverUrl}/on-link`],
      ['failed', 'http://127.0.0.1:1/cb/on-unlink'],
    ]);
    expect(f.callbacks[1]?.error).toBeTruthy();
    expect(f.transactions.get('t7')?.response['link_response']).toHaveLength(1);
  });

  it('a duplicate message_id is rejected at header level and not applied again', async () => {
    const f = await start();
    const req = envelope('link', linkMessage('t9', [['a@x', 'fa@y']]));
    await post(`${f.url}/mapper/link`, req);
    await nextCallback(1);
    f.mappings.clear();
    expect((await post(`${f.url}/mapper/link`, req)).body['message']['ack_status']).toBe('ACK');
    const cb = await nextCallback(2);
    expect(cb.body['header']).toMatchObject({ status: 'rjct', status_reason_code: 'rjct.message_id.duplicate' });
    expect(f.mappings.size).toBe(0);
    const sync = await post(`${f.url}/mapper/sync/link`, req);
    expect(sync.body['header']).toMatchObject({ status: 'rjct', status_reason_code: 'rjct.message_id.duplicate' });
  });

  it('HTTP 5xx for the next N requests, then normal service', async () => {
    const f = await start();
    f.inject({ kind: 'http', status: 503, count: 2 });
    const req = envelope('link', linkMessage('t10', [['a@x', 'fa@y']]));
    expect((await post(`${f.url}/mapper/sync/link`, req)).status).toBe(503);
    expect((await post(`${f.url}/mapper/sync/link`, req)).status).toBe(503);
    const ok = await post(`${f.url}/mapper/sync/link`, req);
    expect(ok.status).toBe(200);
    expect(ok.body['message']['link_response'][0]['status']).toBe('succ');
  });
});

describe('sync endpoints and store semantics', () => {
  it('link, update, resolve and unlink follow the item reason codes', async () => {
    const f = await start({ mappings: [['b@x', 'fb@y']] });
    const sync = async (op: string, items: Json[]) => {
      const r = await post(`${f.url}/mapper/sync/${op}`, envelope(op, { transaction_id: randomUUID(), [`${op}_request`]: items }));
      expect(r.status).toBe(200);
      expect(r.body['header']).toMatchObject({ action: `on-${op}`, status: 'succ' });
      return (r.body['message'][`${op}_response`] as Json[]).map((i) => [
        i['reference_id'],
        i['status'],
        i['status_reason_code'],
        i['fa'] ?? null,
      ]);
    };
    const item = (ref: string, extra: Json) => ({ reference_id: ref, timestamp: ts(), ...extra });

    expect(
      await sync('link', [
        item('1', { id: 'a@x', fa: 'fa@y' }),
        item('2', { id: 'b@x', fa: 'f2@y' }),
        item('3', { id: 'c@x' }),
        item('3', { id: 'd@x', fa: 'f@y' }),
      ]),
    ).toEqual([
      ['1', 'succ', null, 'fa@y'],
      ['2', 'rjct', 'rjct.reference_id.duplicate', 'f2@y'],
      ['3', 'rjct', 'rjct.fa.invalid', null],
      ['3', 'rjct', 'rjct.reference_id.duplicate', null],
    ]);
    expect(await sync('update', [item('1', { id: 'a@x', fa: 'new@y' }), item('2', { id: 'zz@x', fa: 'f@y' })])).toEqual([
      ['1', 'succ', null, 'new@y'],
      ['2', 'rjct', 'rjct.id.invalid', null],
    ]);
    expect(f.mappings.get('a@x')).toBe('new@y');
    expect(
      await sync('resolve', [
        item('1', { id: 'a@x', scope: 'details' }),
        item('2', { id: 'a@x' }),
        item('3', { id: 'zz@x' }),
        item('4', { fa: 'fb@y' }),
        item('5', { id: 'b@x', fa: 'other@y' }),
        item('6', { id: 'a@x', scope: 'full' }),
      ]),
    ).toEqual([
      ['1', 'succ', 'succ.id.active', 'new@y'],
      ['2', 'succ', 'succ.id.active', null],
      ['3', 'succ', 'succ.id.not_found', null],
      ['4', 'succ', 'succ.fa.active', 'fb@y'],
      ['5', 'succ', 'succ.fa.not_linked_to_id', null],
      ['6', 'rjct', 'rjct.resolve_type.not_supported', null],
    ]);
    expect(await sync('unlink', [item('1', { id: 'a@x', fa: 'wrong@y' }), item('2', { id: 'a@x' }), item('3', { id: 'a@x' })])).toEqual([
      ['1', 'rjct', 'rjct.fa.invalid', null],
      ['2', 'succ', null, null],
      ['3', 'rjct', 'rjct.id.invalid', null],
    ]);
    expect([...f.mappings]).toEqual([['b@x', 'fb@y']]);
  });

  it('header problems: total_count mismatch is rjct, a missing list is HTTP 400', async () => {
    const f = await start();
    const r = await post(`${f.url}/mapper/sync/link`, envelope('link', linkMessage('t', [['a@x', 'f@y']]), { total_count: 5 }));
    expect(r.body['header']).toMatchObject({ status: 'rjct', status_reason_code: 'rjct.total_count.invalid' });
    const bad = await post(`${f.url}/mapper/sync/link`, envelope('link', { transaction_id: 't' }));
    expect(bad.status).toBe(400);
    expect(bad.body['errors'][0]['code']).toBe('err.request.bad');
  });
});

describe('the sync G2P Connect client against the fake', () => {
  it('classifies link, re-link, update, resolve and unlink outcomes as the client expects', async () => {
    const f = await start();
    const ctx = (): RequestContext => ({
      requestId: randomUUID(),
      transactionId: randomUUID(),
      timestamp: ts(),
      sender: 'sparctl.test',
      strategies: new Map(DEFAULT_STRATEGIES.map((st) => [st.id, st])),
    });
    const fa = (account: string): BankFa => ({
      strategy_id: 2,
      fa_type: 'BANK',
      bank_name: 'B',
      bank_code: 'b',
      branch_name: 'Br',
      branch_code: 'br',
      account_number: account,
    });
    const run = async (operation: Operation, items: ProtocolItem[]) => {
      const r = await post(
        `${f.url}${g2pConnectProtocol.defaultPaths[operation]}`,
        g2pConnectProtocol.buildRequest(operation, items, ctx()),
      );
      const parsed = g2pConnectProtocol.parseResponse(operation, r.body, items);
      if (isBatchFailure(parsed)) throw new Error(JSON.stringify(parsed));
      return parsed.map((result) => classifyResult(operation, result));
    };
    expect(await run('link', [{ reference_id: 'r1', id: 'A', fa: fa('1') }])).toEqual(['linked']);
    expect(await run('link', [{ reference_id: 'r1', id: 'A', fa: fa('2') }])).toEqual(['already_linked']);
    expect(
      await run('update', [
        { reference_id: 'r1', id: 'A', fa: fa('3') },
        { reference_id: 'r2', id: 'B', fa: fa('3') },
      ]),
    ).toEqual(['updated', 'not_found']);
    expect(
      await run('resolve', [
        { reference_id: 'r1', id: 'A', scope: 'details' },
        { reference_id: 'r2', id: 'B', scope: 'yes_no' },
      ]),
    ).toEqual(['found', 'not_found']);
    expect(
      await run('unlink', [
        { reference_id: 'r1', id: 'A' },
        { reference_id: 'r2', id: 'B' },
      ]),
    ).toEqual(['unlinked', 'not_found']);
  });
});

describe('OAuth2', () => {
  it('issues tokens for client_credentials, requires them, and rejects expired ones', async () => {
    const f = await start({ requireAuth: true, clients: { sparctl: 's3cret' } });
    const form = (secret: string) =>
      fetch(`${f.url}/oauth2/client/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ grant_type: 'client_credentials', client_id: 'sparctl', client_secret: secret }),
      });
    expect((await form('wrong')).status).toBe(401);
    const tokenRes = await form('s3cret');
    expect(tokenRes.status).toBe(200);
    const token = (await tokenRes.json()) as Json;
    expect(token).toMatchObject({ token_type: 'bearer', expires_in: 3600 });

    const req = () => envelope('link', linkMessage(randomUUID(), [[randomUUID(), 'f@y']]));
    expect((await post(`${f.url}/mapper/sync/link`, req())).status).toBe(401);
    expect((await post(`${f.url}/mapper/link`, req(), { authorization: 'Bearer nope' })).status).toBe(401);
    expect((await post(`${f.url}/mapper/sync/link`, req(), { authorization: `Bearer ${token['access_token']}` })).status).toBe(200);
    f.expireTokens();
    const expired = await post(`${f.url}/mapper/sync/link`, req(), { authorization: `Bearer ${token['access_token']}` });
    expect(expired.status).toBe(401);
    expect(expired.body['errors'][0]['code']).toBe('err.request.unauthorized');
    expect(JSON.stringify(f.requests)).not.toContain(token['access_token']);
  });
});

describe('encryption and signatures', () => {
  it('decrypts an encrypted request and encrypts the callback to the client key', async () => {
    const client = await generateKeyPair('RSA-OAEP-256', { extractable: true });
    const f = await start({ clientEncryptionKey: await exportSPKI(client.publicKey), clientEncryptionKid: 'client-1' });
    const plain = linkMessage('t20', [['e@x', 'fe@y']]);
    const mapperKey = await importJWK(f.encryptionKey.publicJwk, 'RSA-OAEP-256');
    const jwe = await new FlattenedEncrypt(new TextEncoder().encode(JSON.stringify(plain)))
      .setUnprotectedHeader({ alg: 'RSA-OAEP-256', enc: 'A256GCM', kid: f.encryptionKey.kid })
      .encrypt(mapperKey);
    const req = envelope(
      'link',
      { header: jwe.header, encrypted_key: jwe.encrypted_key, iv: jwe.iv, ciphertext: jwe.ciphertext, tag: jwe.tag },
      { is_msg_encrypted: true, total_count: 1 },
    );
    expect((await post(`${f.url}/mapper/link`, req)).body['message']['ack_status']).toBe('ACK');
    expect(f.mappings.get('e@x')).toBe('fe@y');
    expect(f.requests[0]).toMatchObject({ encrypted: true, transaction_id: 't20' });

    const cb = await nextCallback();
    expect(cb.body['header']['is_msg_encrypted']).toBe(true);
    const encrypted = cb.body['message'] as Json;
    expect(Object.keys(encrypted).sort()).toEqual(['ciphertext', 'encrypted_key', 'header', 'iv', 'tag']);
    expect(encrypted['header']).toEqual({ alg: 'RSA-OAEP-256', enc: 'A256GCM', kid: 'client-1' });
    const { plaintext } = await flattenedDecrypt(encrypted as FlattenedJWE, client.privateKey);
    const message = JSON.parse(new TextDecoder().decode(plaintext)) as Json;
    expect(message['link_response'][0]).toMatchObject({ reference_id: 't20-r0', status: 'succ' });

    // A message encrypted to another kid is an ERR err.encryption.invalid.
    const wrongKid = envelope(
      'link',
      { ...req['message'], header: { ...req['message']['header'], kid: 'other' } },
      { is_msg_encrypted: true },
    );
    expect((await post(`${f.url}/mapper/link`, wrongKid)).body['message']).toMatchObject({
      ack_status: 'ERR',
      error: { code: 'err.encryption.invalid' },
    });
  });

  it('signs callbacks with a detached JWS and verifies client signatures', async () => {
    const client = await generateKeyPair('RS256', { extractable: true });
    const f = await start({ signCallbacks: true, clientSigningKey: await exportSPKI(client.publicKey) });
    const req = envelope('link', linkMessage('t30', [['s@x', 'fs@y']]));
    const [h, , s] = (
      await new CompactSign(new TextEncoder().encode(canonicalJson(req))).setProtectedHeader({ alg: 'RS256' }).sign(client.privateKey)
    ).split('.');

    expect((await post(`${f.url}/mapper/link`, req)).body['message']).toMatchObject({
      ack_status: 'ERR',
      error: { code: 'err.signature.missing' },
    });
    expect((await post(`${f.url}/mapper/link`, req, { signature: `${h}..${s}x` })).body['message']).toMatchObject({
      ack_status: 'ERR',
      error: { code: 'err.signature.invalid' },
    });
    // Pretty-printed bytes still verify: the signature covers the canonical JSON.
    expect(
      (await post(`${f.url}/mapper/link`, JSON.stringify(req, null, 2), { signature: `${h}..${s}` })).body['message']['ack_status'],
    ).toBe('ACK');

    const cb = await nextCallback();
    const detached = cb.headers['signature'] as string;
    const [ch, mid, cs] = detached.split('.');
    expect(mid).toBe('');
    const payload = Buffer.from(canonicalJson(cb.body)).toString('base64url');
    const verified = await compactVerify(`${ch}.${payload}.${cs}`, await importJWK(f.signingKey.publicJwk, 'RS256'));
    expect(verified.protectedHeader).toMatchObject({ alg: 'RS256', kid: f.signingKey.kid });
  });
});
