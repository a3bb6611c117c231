/**
 * The SPAR v2 double must answer exactly as the recorded SPAR 2.1.0 server did
 * (research/spar-v2-observed.md §4). The recorded requests are replayed over raw HTTP and the
 * answers compared byte for byte, server timestamps aside.
 */
import type { webcrypto } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { exportSPKI, generateKeyPair } from 'jose';
import { request } from 'undici';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { canonicalJson } from '../../src/adapters/http/canonical-json.js';
import { startSparV2Double, type SparV2Double, type SparV2DoubleOptions } from '../helpers/spar-v2-double.js';

interface Exchange {
  id: string;
  title: string;
  method: 'GET' | 'POST';
  path: string;
  note: string;
  signature: string | null;
  request: string | null;
  signedBody?: string;
  status: number;
  response: string;
}

const EXCHANGES: Exchange[] = JSON.parse(
  readFileSync(new URL('../fixtures/spar-v2-exchanges.json', import.meta.url), 'utf8'),
) as Exchange[];

/** Their outcome depends on the recording key, which we do not have: replayed with our own key. */
const SIGNATURE_OUTCOMES = new Set(['10-link-unsigned', '11-link-badsig', '12-link-malformed-sig', '13-resolve-unknown-partner']);

/** Rows the recording inserted with SQL before exchange 29. */
const LEGACY_ROWS = [
  ['LEGACY_NULL_AI', 'account:5494373447@indigo.dfsp2.bank_acc', null],
  ['LEGACY_EMPTY_AI', 'account:5494373447@indigo.dfsp2.bank_acc', [{}]],
  ['LEGACY_MISSING_STRATEGY', 'account:1@x.y.bank_acc', [{ strategy_id: 77 }]],
] as const;

const NAIVE_ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{6})?$/;

/** Server clock values differ run to run: check their shape, then blank them out. */
function withoutTimestamps(text: string): string {
  return text.replace(/"(response_timestamp|timestamp)":"([^"]*)"/g, (_match, key: string, value: string) => {
    expect(value).toMatch(NAIVE_ISO);
    return `"${key}":"<ts>"`;
  });
}

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
}

async function send(url: string, method: string, body: string | undefined, headers: Record<string, string> = {}): Promise<Reply> {
  const res = await request(url, { method: method as 'POST', body, headers: { 'content-type': 'application/json', ...headers } });
  return { status: res.statusCode, headers: res.headers, text: await res.body.text() };
}

function replay(double: SparV2Double, exchange: Exchange): Promise<Reply> {
  const headers: Record<string, string> = exchange.signature === null ? {} : { signature: exchange.signature };
  return send(`${double.url}${exchange.path}`, exchange.method, exchange.request ?? undefined, headers);
}

function exchange(id: string): Exchange {
  const found = EXCHANGES.find((e) => e.id === id);
  if (found === undefined) throw new Error(`no exchange ${id}`);
  return found;
}

const doubles: SparV2Double[] = [];
async function start(options?: SparV2DoubleOptions): Promise<SparV2Double> {
  const double = await startSparV2Double(options);
  doubles.push(double);
  return double;
}

// ---------------------------------------------------------------------------------------------
// Test signing: a detached RS256 JWS over the canonical body, written here independently.

type CryptoKey = webcrypto.CryptoKey;

const b64url = (bytes: Uint8Array | string): string => Buffer.from(bytes).toString('base64url');

async function signBytes(bytes: string, privateKey: CryptoKey, header: object = { alg: 'RS256' }): Promise<string> {
  const protectedPart = b64url(JSON.stringify(header));
  const input = new TextEncoder().encode(`${protectedPart}.${b64url(bytes)}`);
  const signature = new Uint8Array(await crypto.subtle.sign('RSASSA-PKCS1-v1_5', privateKey, input));
  return `${protectedPart}..${b64url(signature)}`;
}

/** A minimal self-signed X.509 v3 certificate (DER by hand), to register a partner by certificate. */
async function selfSignedCertificate(publicKey: CryptoKey, privateKey: CryptoKey): Promise<string> {
  const der = (tag: number, ...content: Buffer[]): Buffer => {
    const body = Buffer.concat(content);
    const length: number[] = [];
    for (let n = body.length; n > 0; n >>= 8) length.unshift(n & 0xff);
    const prefix = body.length < 0x80 ? [body.length] : [0x80 | length.length, ...length];
    return Buffer.concat([Buffer.from([tag, ...prefix]), body]);
  };
  const seq = (...content: Buffer[]): Buffer => der(0x30, ...content);
  const sha256WithRsa = seq(Buffer.from('06092a864886f70d01010b', 'hex'), der(0x05));
  const name = seq(der(0x31, seq(Buffer.from('0603550403', 'hex'), der(0x0c, Buffer.from('sparctl')))));
  const validity = seq(der(0x17, Buffer.from('260101000000Z')), der(0x17, Buffer.from('360101000000Z')));
  const spki = Buffer.from(await crypto.subtle.exportKey('spki', publicKey));
  const tbs = seq(der(0xa0, der(0x02, Buffer.from([2]))), der(0x02, Buffer.from([1])), sha256WithRsa, name, validity, name, spki);
  const signature = Buffer.from(await crypto.subtle.sign('RSASSA-PKCS1-v1_5', privateKey, tbs));
  const cert = seq(tbs, sha256WithRsa, der(0x03, Buffer.from([0]), signature));
  const lines = cert.toString('base64').match(/.{1,64}/g) ?? [];
  return `-----BEGIN CERTIFICATE-----\n${lines.join('\n')}\n-----END CERTIFICATE-----\n`;
}

let keys: { publicKey: CryptoKey; privateKey: CryptoKey; spki: string };
beforeAll(async () => {
  const pair = await generateKeyPair('RS256', { extractable: true });
  keys = { ...pair, spki: await exportSPKI(pair.publicKey) };
});

afterEach(async () => {
  await Promise.all(doubles.splice(0).map((d) => d.close()));
});

// ---------------------------------------------------------------------------------------------

describe('recorded exchanges, replayed in order with signature checking off', () => {
  let double: SparV2Double;
  beforeAll(async () => {
    double = await startSparV2Double();
  });
  afterAll(async () => {
    await double.close();
  });

  for (const recorded of EXCHANGES.filter((e) => !SIGNATURE_OUTCOMES.has(e.id))) {
    it(`${recorded.id}: ${recorded.title}`, async () => {
      if (recorded.id === '29-resolve-legacy-rows') {
        for (const [id, fa, info] of LEGACY_ROWS) {
          double.rows().set(id, { fa_value: fa, name: null, phone: null, additional_info: structuredClone(info) });
        }
      }
      const reply = await replay(double, recorded);
      expect(reply.status).toBe(recorded.status);
      expect(reply.headers['content-type']).toBe('application/json');
      expect(withoutTimestamps(reply.text)).toBe(withoutTimestamps(recorded.response));
    });
  }

  it('leaves the table the recorded run implies', () => {
    const rows = double.rows();
    expect([...rows.keys()].sort()).toEqual([
      'BENE_0001',
      'BENE_0020',
      'BENE_0021',
      'BENE_0028',
      'LEGACY_EMPTY_AI',
      'LEGACY_MISSING_STRATEGY',
      'LEGACY_NULL_AI',
    ]);
    // 03 updated the FA and carried no phone: the phone from 01 is kept.
    expect(rows.get('BENE_0001')).toEqual({
      fa_value: 'account_number:ACC2000001.branch_name:North.branch_code:0002.bank_name:Example Bank.bank_code:EXB.fa_type:BANK',
      name: 'Maria Santos',
      phone: '+63 900 000 0001',
      additional_info: [{ strategy_id: 2 }],
    });
    expect(rows.get('BENE_0020')?.name).toBe('José Ñúñez – 東京 \u2028 tab\there');
    expect(double.requests).toHaveLength(EXCHANGES.length - SIGNATURE_OUTCOMES.size);
    expect(double.requests[0]).toMatchObject({ path: '/mapper/link', body: exchange('01-link').request });
  });
});

describe('recorded signature outcomes (10–13), replayed against a double that holds another sparctl key', () => {
  for (const id of SIGNATURE_OUTCOMES) {
    it(id, async () => {
      const double = await start({ partners: { PARTNER_SPARCTL: keys.spki } });
      const recorded = exchange(id);
      const reply = await replay(double, recorded);
      expect(reply.status).toBe(recorded.status);
      expect(withoutTimestamps(reply.text)).toBe(withoutTimestamps(recorded.response));
      expect(double.rows().size).toBe(0);
    });
  }
});

describe('signature checking', () => {
  const linkBody = (id: string, mnemonic = 'sparctl'): string =>
    (exchange('10-link-unsigned').request as string)
      .replace('BENE_0006', id)
      .replace('"sender_app_mnemonic":"sparctl"', `"sender_app_mnemonic":"${mnemonic}"`);
  const status = (reply: Reply): unknown => (JSON.parse(reply.text) as { response_header: unknown }).response_header;
  const jwtInvalid = {
    response_status: 'ERROR',
    response_error_code: 'rjct.request.validation',
    response_error_message: 'StatusReasonCodeEnum.rjct_jwt_invalid',
  };
  const unknownError = '{"errors":[{"code":"G2P-REQ-100","message":"Unknown Error."}]}';

  it('accepts the recorded canonical bytes signed as they are, non-ASCII, U+2028 and TAB included (19)', async () => {
    const double = await start({ partners: { PARTNER_SPARCTL: keys.spki } });
    const recorded = exchange('19-link-null-id-and-strategy5-and-nonascii');
    const body = recorded.request as string;
    expect(canonicalJson(JSON.parse(body))).toBe(body);
    const reply = await send(`${double.url}/mapper/link`, 'POST', body, { signature: await signBytes(body, keys.privateKey) });
    expect(withoutTimestamps(reply.text)).toBe(withoutTimestamps(recorded.response));
  });

  it('re-canonicalises the parsed body: pretty bytes signed in canonical form pass, signed as sent they fail (27)', async () => {
    const double = await start({ partners: { PARTNER_SPARCTL: keys.spki } });
    await send(`${double.url}/mapper/link`, 'POST', exchange('01-link').request as string, {
      signature: await signBytes(exchange('01-link').request as string, keys.privateKey),
    });
    const pretty = exchange('27-non-canonical-body').request as string;
    const canonical = canonicalJson(JSON.parse(pretty));
    expect(canonical).not.toBe(pretty);
    const good = await send(`${double.url}/mapper/resolve`, 'POST', pretty, { signature: await signBytes(canonical, keys.privateKey) });
    expect(status(good)).toMatchObject({ request_id: 'req-27-pretty', response_status: 'SUCCESS' });
    const bad = await send(`${double.url}/mapper/resolve`, 'POST', pretty, { signature: await signBytes(pretty, keys.privateKey) });
    expect(status(bad)).toMatchObject(jwtInvalid);
  });

  it('ignores a kid, and accepts a partner registered by X.509 certificate', async () => {
    const cert = await selfSignedCertificate(keys.publicKey, keys.privateKey);
    const double = await start({ partners: { PARTNER_SPARCTL: cert } });
    const body = linkBody('BENE_KID');
    const signature = await signBytes(body, keys.privateKey, { alg: 'RS256', kid: '_GXFpV8j5Vb_7sYCyPFa1WUhbBAvPZLYm4D-gOlIxNU' });
    const reply = await send(`${double.url}/mapper/link`, 'POST', body, { signature });
    expect(status(reply)).toMatchObject({ response_status: 'SUCCESS' });
    expect(double.rows().has('BENE_KID')).toBe(true);
  });

  it('maps the mnemonic to PARTNER_<UPPER, - → _>', async () => {
    const double = await start({ partners: { PARTNER_OTHER_PARTNER: keys.spki } });
    const body = linkBody('BENE_OTHER', 'other-partner');
    const reply = await send(`${double.url}/mapper/link`, 'POST', body, { signature: await signBytes(body, keys.privateKey) });
    expect(status(reply)).toMatchObject({ response_status: 'SUCCESS' });
  });

  it('answers 200 ERROR for a missing, empty or wrong signature, or another alg, and writes nothing', async () => {
    const double = await start({ partners: { PARTNER_SPARCTL: keys.spki } });
    const body = linkBody('BENE_NOPE');
    const other = linkBody('BENE_OTHER');
    const signatures = [
      undefined,
      '',
      await signBytes(other, keys.privateKey),
      await signBytes(body, keys.privateKey, { alg: 'RS512' }),
      `${b64url('{"alg":"none"}')}..`,
    ];
    for (const signature of signatures) {
      const reply = await send(`${double.url}/mapper/link`, 'POST', body, signature === undefined ? {} : { signature });
      expect(reply.status).toBe(200);
      expect(status(reply)).toMatchObject(jwtInvalid);
      expect(JSON.parse(reply.text).response_body.response_payload).toEqual({
        transaction_id: 'txn-10',
        correlation_id: null,
        link_response: [],
      });
    }
    expect(double.rows().size).toBe(0);
  });

  it('keymanager: a malformed header or an unknown partner is HTTP 500 G2P-REQ-100', async () => {
    const double = await start({ partners: { PARTNER_SPARCTL: keys.spki } });
    const body = linkBody('BENE_X');
    for (const signature of ['not-a-jws', 'a.b', 'a..b.c']) {
      const reply = await send(`${double.url}/mapper/link`, 'POST', body, { signature });
      expect([reply.status, reply.text]).toEqual([500, unknownError]);
    }
    const stranger = linkBody('BENE_X', 'stranger');
    const reply = await send(`${double.url}/mapper/link`, 'POST', stranger, { signature: await signBytes(stranger, keys.privateKey) });
    expect([reply.status, reply.text]).toEqual([500, unknownError]);
  });

  it('partner-mgmt: the same cases are 200 ERROR', async () => {
    const double = await start({ partners: { PARTNER_SPARCTL: keys.spki }, verifier: 'partner-mgmt' });
    const body = linkBody('BENE_X');
    const malformed = await send(`${double.url}/mapper/link`, 'POST', body, { signature: 'not-a-jws' });
    expect([malformed.status, status(malformed)]).toEqual([200, expect.objectContaining(jwtInvalid)]);
    const stranger = linkBody('BENE_X', 'stranger');
    const unknown = await send(`${double.url}/mapper/link`, 'POST', stranger, { signature: await signBytes(stranger, keys.privateKey) });
    expect([unknown.status, status(unknown)]).toEqual([200, expect.objectContaining(jwtInvalid)]);
  });

  it('checks the signature dependency before the schema, and the schema before the signature result', async () => {
    const double = await start({ partners: { PARTNER_SPARCTL: keys.spki } });
    const invalid = exchange('15-link-missing-fa').request as string;
    const unsigned = await send(`${double.url}/mapper/link`, 'POST', invalid);
    expect([unsigned.status, unsigned.text]).toEqual([
      400,
      '{"errors":[{"code":"G2P-REQ-102","message":"Invalid Input. Field required"}]}',
    ]);
    const malformed = await send(`${double.url}/mapper/link`, 'POST', invalid, { signature: 'not-a-jws' });
    expect([malformed.status, malformed.text]).toEqual([500, unknownError]);
  });
});

describe('mapper behaviour beyond the recordings', () => {
  const header = {
    instance_id: null,
    request_id: 'r',
    request_timestamp: '2026-06-01T10:00:00Z',
    sender_app_mnemonic: 'sparctl',
    sender_app_url: '',
  };
  const envelope = (key: string, items: unknown[]): string =>
    JSON.stringify({ request_header: header, request_body: { request_payload: { transaction_id: 't', [key]: items } } });
  const bank = (account: string): object => ({
    strategy_id: 2,
    fa_type: 'BANK',
    bank_name: 'B',
    bank_code: 'BC',
    branch_name: 'Br',
    branch_code: '01',
    account_number: account,
  });
  const call = async (
    double: SparV2Double,
    op: string,
    key: string,
    items: unknown[],
  ): Promise<{ header: Record<string, unknown>; items: Record<string, unknown>[] }> => {
    const reply = await send(`${double.url}/mapper/${op}`, 'POST', envelope(key, items));
    expect(reply.status).toBe(200);
    const parsed = JSON.parse(reply.text) as {
      response_header: Record<string, unknown>;
      response_body: { response_payload: Record<string, Record<string, unknown>[]> };
    };
    return { header: parsed.response_header, items: parsed.response_body.response_payload[key.replace('_request', '_response')] ?? [] };
  };

  it('update overwrites name and phone only when truthy and replaces additional_info', async () => {
    const double = await start();
    await call(double, 'link', 'link_request', [
      { reference_id: 'a', timestamp: 't', id: 'P1', fa: bank('1'), name: 'N', phone_number: '123', additional_info: [{ x: 1 }] },
    ]);
    expect(double.rows().get('P1')?.additional_info).toEqual([{ x: 1, strategy_id: 2 }]);
    const { items } = await call(double, 'update', 'update_request', [
      { reference_id: 'u', timestamp: 't', id: 'P1', fa: bank('2'), name: '', phone_number: '456' },
    ]);
    expect(items[0]).toMatchObject({ id: 'P1', status: 'succ' });
    expect(double.rows().get('P1')).toEqual({
      fa_value: 'account_number:2.branch_name:Br.branch_code:01.bank_name:B.bank_code:BC.fa_type:BANK',
      name: 'N',
      phone: '456',
      additional_info: [{ strategy_id: 2 }],
    });
  });

  it('unlink removes an id once: the second item of the same batch is rejected', async () => {
    const double = await start();
    await call(double, 'link', 'link_request', [{ reference_id: 'a', timestamp: 't', id: 'P1', fa: bank('1') }]);
    const { items } = await call(double, 'unlink', 'unlink_request', [
      { reference_id: 'x', timestamp: 't', id: 'P1' },
      { reference_id: 'y', timestamp: 't', id: 'P1' },
    ]);
    expect(items.map((i) => [i.id, i.status, i.status_reason_message])).toEqual([
      ['', 'succ', null],
      ['', 'rjct', 'ID doesnt exist please link first'],
    ]);
    expect(double.rows().size).toBe(0);
  });

  it('update with an unknown strategy fails the whole batch before writing', async () => {
    const double = await start();
    await call(double, 'link', 'link_request', [{ reference_id: 'a', timestamp: 't', id: 'P1', fa: bank('1') }]);
    const { header: h, items } = await call(double, 'update', 'update_request', [
      { reference_id: 'u1', timestamp: 't', id: 'P1', fa: bank('2') },
      { reference_id: 'u2', timestamp: 't', id: 'P1', fa: { ...bank('3'), strategy_id: 42 } },
    ]);
    expect([h.response_status, h.response_error_code, h.response_error_message, items]).toEqual([
      'ERROR',
      'rjct.internal.error',
      'Internal server error',
      [],
    ]);
    expect(double.rows().get('P1')?.fa_value).toContain('account_number:1.');
  });

  it('reports every schema problem, in pydantic order', async () => {
    const double = await start();
    const body = JSON.stringify({
      request_header: {},
      request_body: {
        request_payload: {
          transaction_id: 't',
          link_request: [{ reference_id: 'a', timestamp: 't', fa: { ...bank('1'), fa_type: 'CASH' } }],
        },
      },
    });
    const reply = await send(`${double.url}/mapper/link`, 'POST', body);
    expect(reply.status).toBe(400);
    const messages = (JSON.parse(reply.text) as { errors: { code: string; message: string }[] }).errors.map(
      (e) => `${e.code} ${e.message}`,
    );
    expect(messages.slice(0, 5)).toEqual([
      ...Array(4).fill('G2P-REQ-102 Invalid Input. Field required'),
      "G2P-REQ-102 Invalid Input. Input should be 'BANK', 'EMAIL_WALLET' or 'MOBILE_WALLET'",
    ]);
  });

  // Not recorded: read from the FastAPI / SPAR source (see the double's header comment).
  it('crashes on an empty body, and reports a NUL in an id as an internal error', async () => {
    const double = await start();
    expect(await send(`${double.url}/mapper/link`, 'POST', '')).toMatchObject({ status: 500 });
    const { header: h } = await call(double, 'resolve', 'resolve_request', [{ reference_id: 'a', timestamp: 't', id: 'A\u0000' }]);
    expect(h.response_error_code).toBe('rjct.internal.error');
    expect(await send(`${double.url}/mapper/link/`, 'POST', '{}')).toMatchObject({ status: 307, headers: { location: '/mapper/link' } });
  });

  it('serves /ping, 404 and 405', async () => {
    const double = await start();
    expect(await send(`${double.url}/ping`, 'GET', undefined)).toMatchObject({ status: 200, text: '"pong"' });
    expect(await send(`${double.url}/ping`, 'POST', '{}')).toMatchObject({
      status: 405,
      text: '{"errors":[{"code":"G2P-REQ-405","message":"Method Not Allowed"}]}',
    });
    expect(await send(`${double.url}/nowhere`, 'GET', undefined)).toMatchObject({
      status: 404,
      text: '{"errors":[{"code":"G2P-REQ-404","message":"Not Found"}]}',
    });
  });
});

describe('fault injection', () => {
  const body = exchange('01-link').request as string;
  const link = (double: SparV2Double): Promise<Reply> => send(`${double.url}/mapper/link`, 'POST', body);

  it('answers an injected status without processing, then carries on', async () => {
    const double = await start();
    double.inject({ status: 503, body: 'upstream busy', headers: { 'content-type': 'text/plain', 'retry-after': '1' } });
    const faulted = await link(double);
    expect([faulted.status, faulted.text, faulted.headers['retry-after']]).toEqual([503, 'upstream busy', '1']);
    expect(double.rows().size).toBe(0);
    const normal = await link(double);
    expect(normal.status).toBe(200);
    expect(double.rows().size).toBe(2);
    expect(double.requests.map((r) => r.path)).toEqual(['/mapper/link', '/mapper/link']);
  });

  it('resets the connection without processing', async () => {
    const double = await start();
    double.inject({ reset: true });
    await expect(link(double)).rejects.toThrow();
    expect(double.rows().size).toBe(0);
    expect(double.requests).toHaveLength(1);
  });

  it('applies, then resets or fails: an uncertain outcome', async () => {
    const double = await start();
    double.inject(
      { applyThen: 'reset' },
      { applyThen: { status: 500, body: '{"errors":[{"code":"G2P-REQ-100","message":"Unknown Error."}]}' } },
    );
    await expect(link(double)).rejects.toThrow();
    expect([...double.rows().keys()]).toEqual(['BENE_0001', 'BENE_0002']);
    const second = await link(double);
    expect(second.status).toBe(500);
    // The second attempt really ran: both ids were rejected as already mapped, nothing changed.
    expect(double.rows().size).toBe(2);
    const third = JSON.parse((await link(double)).text) as {
      response_body: { response_payload: { link_response: { status_reason_code: string }[] } };
    };
    expect(third.response_body.response_payload.link_response.map((i) => i.status_reason_code)).toEqual([
      'rjct.reference_id.duplicate',
      'rjct.reference_id.duplicate',
    ]);
  });

  it('holds the answer back for delayMs after committing', async () => {
    const double = await start();
    double.inject({ delayMs: 150 });
    const began = performance.now();
    const pending = link(double);
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(double.rows().size).toBe(2);
    const reply = await pending;
    expect(reply.status).toBe(200);
    expect(performance.now() - began).toBeGreaterThanOrEqual(140);
  });

  it('close() does not wait for a held answer', async () => {
    const double = await startSparV2Double();
    double.inject({ delayMs: 10_000 });
    const pending = link(double).catch((error: unknown) => error);
    await new Promise((resolve) => setTimeout(resolve, 50));
    const began = performance.now();
    await double.close();
    expect(performance.now() - began).toBeLessThan(1000);
    expect(await pending).toBeInstanceOf(Error);
  });
});
