import { generateKeyPairSync } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { canonicalJson } from '../../src/adapters/http/canonical-json.js';
import { HttpMapper } from '../../src/adapters/http/http-mapper.js';
import { ConfigError, ExitCode, type SparctlError, UnavailableError, UsageError } from '../../src/core/errors.js';
import type { LinkItem } from '../../src/core/mapper.js';
import type { BankFa } from '../../src/core/model.js';
import { classifyResult } from '../../src/core/results.js';
import type { Settings } from '../../src/config/settings.js';
import { rejectedWith } from '../helpers/errors.js';
import { startSparV2Double, type SparV2Double } from '../helpers/spar-v2-double.js';
import { bank } from '../helpers/records.js';
import { tempDir } from '../helpers/tmp.js';

/**
 * HttpMapper against the SPAR v2 double: what the real server does and `serve` does not, read
 * by the client into outcomes and one-line errors.
 */

const ctx = { source: 'test' };
const opened: { close(): Promise<void> }[] = [];
afterEach(async () => {
  for (const thing of opened.splice(0).reverse()) await thing.close();
});

const keys = (() => {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return {
    privatePem: privateKey.export({ type: 'pkcs8', format: 'pem' }) as string,
    publicPem: publicKey.export({ type: 'spki', format: 'pem' }) as string,
  };
})();

async function setup(
  options: {
    verifier?: 'keymanager' | 'partner-mgmt';
    mnemonic?: string;
    timeoutMs?: number;
    signed?: boolean;
    checksSignatures?: boolean;
  } = {},
): Promise<{ double: SparV2Double; mapper: HttpMapper }> {
  const partners: Record<string, string> = options.checksSignatures === false ? {} : { PARTNER_SPARCTL: keys.publicPem };
  const double = await startSparV2Double({ partners, verifier: options.verifier ?? 'keymanager' });
  opened.push(double);
  const keyFile = join(tempDir(), 'key.pem');
  writeFileSync(keyFile, keys.privatePem);
  const settings: Settings = {
    profile: 't',
    mode: 'remote',
    protocol: 'spar-v2',
    baseUrl: double.url,
    senderAppMnemonic: options.mnemonic ?? 'sparctl',
    ...(options.signed === false ? {} : { signingKeyFile: keyFile }),
    timeoutMs: options.timeoutMs ?? 5_000,
    batchSize: 500,
    concurrency: 2,
  };
  const mapper = await HttpMapper.create(settings);
  opened.push(mapper);
  return { double, mapper };
}

let n = 0;
const item = (id: string, fa: BankFa = bank(id)): LinkItem => ({ reference_id: `ref-${++n}`, id, fa });

describe('HttpMapper against the SPAR v2 double', () => {
  it('reads link, update, resolve and unlink answers into the same outcomes as the local mapper', async () => {
    const { mapper, double } = await setup();
    const linked = await mapper.link([item('BENE_0001'), item('BENE_0002')], ctx);
    expect(linked.map((r) => classifyResult('link', r))).toEqual(['linked', 'linked']);
    expect(linked[0]!.fa).toBe(
      'account_number:BENE_0001.branch_name:Main.branch_code:0001.bank_name:Example Bank.bank_code:EXB.fa_type:BANK',
    );
    const again = await mapper.link([item('BENE_0001'), item('BENE_0003')], ctx);
    expect(again.map((r) => classifyResult('link', r))).toEqual(['already_linked', 'linked']);
    // SPAR answers update of a missing ID with rjct.reference_id.duplicate.
    const updated = await mapper.update([item('BENE_0001', bank('NEW')), item('BENE_9999')], ctx);
    expect(updated.map((r) => classifyResult('update', r))).toEqual(['updated', 'not_found']);
    // Unlink answers carry id "": the result's id comes from the request.
    const unlinked = await mapper.unlink(
      [
        { reference_id: 'u1', id: 'BENE_0002' },
        { reference_id: 'u2', id: 'BENE_0404' },
      ],
      ctx,
    );
    expect(unlinked.map((r) => [r.id, classifyResult('unlink', r)])).toEqual([
      ['BENE_0002', 'unlinked'],
      ['BENE_0404', 'not_found'],
    ]);
    expect(double.requests.every((r) => typeof r.headers['signature'] === 'string')).toBe(true);
  });

  it('matches resolve answers by reference_id although SPAR lists rejected items first', async () => {
    const { mapper } = await setup();
    await mapper.link([item('A1')], ctx);
    const results = await mapper.resolve(
      [
        { reference_id: 'first', id: 'A1', scope: 'details' },
        { reference_id: 'second', id: 'MISSING', scope: 'yes_no' },
        { reference_id: 'third', id: '', scope: 'details' },
      ],
      ctx,
    );
    expect(results[0]!.reference_id).toBe('third'); // the server's order
    const byRef = new Map(results.map((r) => [r.reference_id, r]));
    expect(byRef.get('first')).toMatchObject({ id: 'A1', status_reason_code: 'succ.id.active', fa: { ...bank('A1') } });
    expect(classifyResult('resolve', byRef.get('second')!)).toBe('not_found');
    expect(classifyResult('resolve', byRef.get('third')!)).toBe('rejected');
  });

  it('reports a whole-batch ERROR (duplicate ID within one link request) as exit 4, nothing applied', async () => {
    const { mapper, double } = await setup();
    const error = await rejectedWith(UnavailableError, () => mapper.link([item('D1'), item('D1'), item('D2')], ctx));
    expect(error.code).toBe('remote.batch_failed');
    expect(error.exitCode).toBe(ExitCode.unavailable);
    expect(error.message).toMatch(
      /failed the whole request \(rjct\.internal\.error: Internal server error\); none of its 3 records was applied$/,
    );
    expect(double.rows().size).toBe(0);
  });

  it('tells a rejected signature (exit 3) from a Keymanager crash on an unknown partner (exit 4)', async () => {
    const wrongPartner = await setup({ mnemonic: 'someone-else' });
    const crash = await rejectedWith(UnavailableError, () =>
      wrongPartner.mapper.resolve([{ reference_id: 'r', id: 'X', scope: 'yes_no' }], ctx),
    );
    expect(crash.code).toBe('remote.server_error');
    expect(crash.message).toMatch(/answered HTTP 500 \(G2P-REQ-100: Unknown Error\.\)$/);
    expect(crash.hint).toMatch(/unregistered partner "someone-else"/);

    const unsigned = await setup({ signed: false });
    const refused = await rejectedWith(ConfigError, () => unsigned.mapper.resolve([{ reference_id: 'r', id: 'X', scope: 'yes_no' }], ctx));
    expect(refused.code).toBe('remote.signature_rejected');

    const pm = await setup({ mnemonic: 'someone-else', verifier: 'partner-mgmt' });
    expect((await rejectedWith(ConfigError, () => pm.mapper.resolve([{ reference_id: 'r', id: 'X', scope: 'yes_no' }], ctx))).code).toBe(
      'remote.signature_rejected',
    );
  });

  it('turns HTTP failures into one line naming the URL and what to check', async () => {
    const { mapper, double } = await setup();
    const resolveOne = () => mapper.resolve([{ reference_id: 'r', id: 'X', scope: 'yes_no' }], ctx);
    const cases: [Parameters<SparV2Double['inject']>[0], abstract new (...args: never[]) => SparctlError, string, RegExp][] = [
      [
        { status: 400, body: '{"errors":[{"code":"G2P-REQ-102","message":"Invalid Input. Field required"}]}' },
        UsageError,
        'remote.request_malformed',
        /HTTP 400: the request is malformed \(G2P-REQ-102: Invalid Input\. Field required\)/,
      ],
      [
        { status: 404, body: '{"errors":[{"code":"G2P-REQ-404","message":"Not Found"}]}' },
        ConfigError,
        'remote.wrong_url',
        /resolve at http:\/\/127\.0\.0\.1:\d+\/mapper\/resolve answered HTTP 404/,
      ],
      [{ status: 429, body: '' }, UnavailableError, 'remote.rate_limited', /HTTP 429/],
      [{ status: 502, body: '<html>bad gateway</html>' }, UnavailableError, 'remote.server_error', /answered HTTP 502$/],
      [
        { status: 200, body: '<html>login</html>' },
        UnavailableError,
        'remote.not_json',
        /answered HTTP 200 with something that is not JSON/,
      ],
      [
        { reset: true },
        UnavailableError,
        'remote.reset',
        /connection was closed before an answer came; the outcome of this request is unknown/,
      ],
    ];
    for (const [fault, type, code, message] of cases) {
      double.inject(fault);
      const error = await rejectedWith(type, resolveOne);
      expect({ code: error.code, oneLine: !error.message.includes('\n') }).toEqual({ code, oneLine: true });
      expect(error.message).toMatch(message);
    }
    expect(classifyResult('resolve', (await resolveOne())[0]!)).toBe('not_found'); // and it still works
  });

  it('tells an https:// URL to a server that speaks plain HTTP as such, not as an untrusted certificate', async () => {
    const { double } = await setup({ signed: false });
    const mapper = await HttpMapper.create({
      profile: 't',
      mode: 'remote',
      protocol: 'spar-v2',
      baseUrl: double.url.replace('http://', 'https://'),
      senderAppMnemonic: 'sparctl',
      timeoutMs: 5_000,
      batchSize: 500,
      concurrency: 1,
    });
    opened.push(mapper);
    const error = await rejectedWith(ConfigError, () => mapper.resolve([{ reference_id: 'r', id: 'X', scope: 'yes_no' }], ctx));
    expect(error.code).toBe('remote.tls');
    expect(error.message).toMatch(/TLS failed \(ERR_SSL_WRONG_VERSION_NUMBER\)$/);
    expect(error.hint).toMatch(/did not answer in TLS: it may serve plain HTTP on that port \(an http:\/\/ URL\)/);
    expect(error.hint).not.toMatch(/certificate/);
  });

  it('says a timed-out request has an unknown outcome — and the double shows it was applied', async () => {
    const { mapper, double } = await setup({ timeoutMs: 300 });
    double.inject({ delayMs: 2_000 });
    const error = await rejectedWith(UnavailableError, () => mapper.link([item('SLOW')], ctx));
    expect(error.code).toBe('remote.timeout');
    expect(error.message).toMatch(/no answer within 0\.3 s; the outcome of this request is unknown$/);
    expect(double.rows().has('SLOW')).toBe(true);
  });

  it('sends the canonical bytes it signs, and plain JSON of the same body when nothing is signed', async () => {
    const withInfo = (id: string): LinkItem => ({ ...item(id), additional_info: [{ zeta: 'z', alpha: 'a' }] });
    const signed = await setup();
    await signed.mapper.link([withInfo('S1')], ctx);
    const signedBody = signed.double.requests.at(-1)!.body;
    expect(signedBody).toBe(canonicalJson(JSON.parse(signedBody)));
    expect(signedBody).toContain('{"alpha":"a","zeta":"z"}');

    // A mapper that checks no signatures (e.g. behind a gateway that authenticates by token).
    const unsigned = await setup({ signed: false, checksSignatures: false });
    await unsigned.mapper.link([withInfo('U1')], ctx);
    const unsignedBody = unsigned.double.requests.at(-1)!.body;
    expect(unsignedBody).toBe(JSON.stringify(JSON.parse(unsignedBody)));
    expect(unsignedBody).not.toBe(canonicalJson(JSON.parse(unsignedBody)));
    expect(unsigned.double.rows().has('U1')).toBe(true);
  });

  it('refuses to sign a body with a float before sending anything', async () => {
    const { mapper, double } = await setup();
    const error = await rejectedWith(UsageError, () => mapper.link([{ ...item('F1'), additional_info: [{ score: 0.5 }] }], ctx));
    expect(error.code).toBe('request.unsignable_number');
    expect(error.message).toMatch(/^\$\.request_body\.request_payload\.link_request\[0\]\.additional_info\[0\]\.score is 0\.5: /);
    expect(double.requests).toHaveLength(0);
  });
});
