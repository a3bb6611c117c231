/**
 * HttpMapper in G2P Connect asynchronous mode against the spec-conformant fake mapper
 * (test/helpers/g2p-connect-fake.ts): callbacks, txn/status polling, NACK and ERR, a callback
 * that never comes (unknown outcome, reconciled by the bulk engine), encryption both ways,
 * signed callbacks, OAuth2.
 */
import { generateKeyPairSync } from 'node:crypto';
import { createServer } from 'node:net';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { CallbackReceiver, listenAddress } from '../../src/adapters/http/connect-async.js';
import { HttpMapper } from '../../src/adapters/http/http-mapper.js';
import { runBulk, type BulkInputRecord } from '../../src/core/bulk/engine.js';
import { indexOf } from '../../src/core/bulk/row-index.js';
import { ConfigError, UnavailableError } from '../../src/core/errors.js';
import { classifyResult } from '../../src/core/results.js';
import type { Settings } from '../../src/config/settings.js';
import { startG2pConnectFake, type G2pConnectFake } from '../helpers/g2p-connect-fake.js';
import { bank } from '../helpers/records.js';
import { MemoryJournal } from '../helpers/memory-journal.js';
import { tempDir } from '../helpers/tmp.js';
import { rejectedWith, thrownBy } from '../helpers/errors.js';

const ctx = { source: 'async test' };
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function fake(options: Parameters<typeof startG2pConnectFake>[0] = {}): Promise<G2pConnectFake> {
  const started = await startG2pConnectFake(options);
  cleanups.push(() => started.close());
  return started;
}

async function mapper(server: G2pConnectFake, extra: Partial<Settings> = {}): Promise<HttpMapper> {
  const settings: Settings = {
    profile: 'async-test',
    mode: 'remote',
    protocol: 'g2p-connect',
    baseUrl: server.url,
    senderAppMnemonic: 'sparctl-test',
    timeoutMs: 5_000,
    batchSize: 100,
    concurrency: 2,
    async: true,
    asyncTimeoutMs: 3_000,
    ...extra,
  };
  const opened = await HttpMapper.create(settings);
  cleanups.push(() => opened.close());
  return opened;
}

const item = (id: string, account = `00${id}`) => ({ reference_id: `r-${id}`, id, fa: bank(account) });

describe('G2P Connect asynchronous mode', () => {
  it('sends to /mapper/{operation}, gets an ACK, and reads each result from the callback', async () => {
    const server = await fake();
    const http = await mapper(server);
    const linked = await http.link([item('A1'), item('A2')], ctx);
    expect(linked.map((r) => classifyResult('link', r))).toEqual(['linked', 'linked']);
    expect((await http.link([item('A1')], ctx)).map((r) => classifyResult('link', r))).toEqual(['already_linked']);
    const [resolved] = await http.resolve([{ reference_id: 'q', id: 'A1', scope: 'details' }], ctx);
    expect(classifyResult('resolve', resolved!)).toBe('found');
    // The spec's FA is a string; with no strategy id beside it, it stays one.
    expect(resolved!.fa).toMatch(/^account_number:00A1\.branch_name:Main\./);
    expect((await http.update([item('A2', '0099')], ctx)).map((r) => classifyResult('update', r))).toEqual(['updated']);
    expect((await http.unlink([{ reference_id: 'u', id: 'A1' }], ctx)).map((r) => classifyResult('unlink', r))).toEqual(['unlinked']);
    const asyncPaths = server.requests.filter((r) => r.kind === 'async').map((r) => r.path);
    expect(asyncPaths).toEqual(['/mapper/link', '/mapper/link', '/mapper/resolve', '/mapper/update', '/mapper/unlink']);
    await server.settled();
    expect(server.callbacks.every((c) => c.outcome === 'delivered' && c.ackStatus === 'ACK')).toBe(true);
  });

  it('without a callback, asks the synchronous txn/status until the result is there', async () => {
    // The callback URL the mapper's gateway was configured with does not reach sparctl.
    const server = await fake({ mode: 'noCallback', delayMs: 200, defaultCallbackUrl: 'http://127.0.0.1:9/unreachable' });
    const http = await mapper(server, { asyncResults: 'poll' });
    const linked = await http.link([item('P1')], ctx);
    expect(linked.map((r) => classifyResult('link', r))).toEqual(['linked']);
    expect(server.requests.some((r) => r.path === '/mapper/sync/txn/status')).toBe(true);
    expect(server.requests.find((r) => r.kind === 'async')!.message).toBeDefined();
  });

  it('polling after the ACK: a status request refused (429) is asked again, the write never sent again; one that keeps failing leaves the outcome unknown', async () => {
    const { createServer } = await import('node:http');
    let asked = '';
    const seen: string[] = [];
    // Each txn/status answer in turn: an HTTP status, or the final status of the transaction.
    const statuses: (number | 'final')[] = [];
    const server = createServer((request, response) => {
      let text = '';
      request.on('data', (chunk: Buffer) => (text += chunk.toString()));
      request.on('end', () => {
        seen.push(request.url!);
        if (request.url === '/mapper/link') {
          asked = (JSON.parse(text) as { message: { transaction_id: string } }).message.transaction_id;
          return void response
            .writeHead(200, { 'content-type': 'application/json' })
            .end(JSON.stringify({ header: {}, message: { ack_status: 'ACK', error: null, correlation_id: 'c' } }));
        }
        const next = statuses.shift() ?? 401;
        if (next !== 'final') return void response.writeHead(next, { 'content-type': 'text/plain' }).end('no');
        const entries = [{ reference_id: 'r-S1', status: 'succ' }];
        const answer = {
          header: { status: 'succ' },
          message: {
            transaction_id: 't',
            txnstatus_response: { txn_type: 'on-link', txn_status: { transaction_id: asked, link_response: entries } },
          },
        };
        response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(answer));
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
    const url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
    const http = await mapper({ url } as G2pConnectFake, { asyncResults: 'poll' });
    statuses.push(429, 503, 'final');
    expect((await http.link([item('S1')], ctx)).map((r) => classifyResult('link', r))).toEqual(['linked']);
    expect(seen).toEqual(['/mapper/link', '/mapper/sync/txn/status', '/mapper/sync/txn/status', '/mapper/sync/txn/status']);
    // A status endpoint that refuses outright (401): the mapper acknowledged the write, so its
    // outcome is unknown — never a failure that says nothing was applied.
    seen.length = 0;
    const error = await rejectedWith(UnavailableError, () => http.link([item('S2')], ctx));
    expect(error).toMatchObject({ code: 'remote.pending', outcomeUnknown: true });
    expect(error.message).toMatch(
      /the mapper acknowledged transaction .*, then asking for its result failed \(.*HTTP 401.*\); whether its 1 records are applied is unknown$/,
    );
    expect(seen).toEqual(['/mapper/link', '/mapper/sync/txn/status']);
  });

  it('polling: items still pdng are asked for again, and an answer about another transaction is no answer', async () => {
    const { createServer } = await import('node:http');
    // The transaction asked about; txn/status answers, in turn, from the scripts below.
    let asked = '';
    const polls: unknown[] = [];
    const answers: ((txn: string) => unknown)[] = [];
    const server = createServer((request, response) => {
      let text = '';
      request.on('data', (chunk: Buffer) => (text += chunk.toString()));
      request.on('end', () => {
        const body = JSON.parse(text) as { message: { transaction_id: string; txnstatus_request?: { attribute_value: string } } };
        let answer: unknown;
        if (request.url === '/mapper/link' || request.url === '/mapper/resolve') {
          asked = body.message.transaction_id;
          answer = { header: {}, message: { ack_status: 'ACK', error: null, correlation_id: 'c' } };
        } else {
          polls.push(body.message.txnstatus_request!.attribute_value);
          answer = answers.shift()!(asked);
        }
        response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(answer));
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
    const url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
    const status = (transaction: string, operation: string, entries: object[]) => ({
      header: { status: 'succ' },
      message: {
        transaction_id: 't',
        txnstatus_response: {
          txn_type: `on-${operation}`,
          txn_status: { transaction_id: transaction, [`${operation}_response`]: entries },
        },
      },
    });
    const http = await mapper({ url } as G2pConnectFake, { asyncResults: 'poll' });
    // Progress first (the spec's pdng), then the final statuses: nothing is reported before it is final.
    answers.push(
      (txn) =>
        status(txn, 'link', [
          { reference_id: 'r-A1', status: 'pdng' },
          { reference_id: 'r-A2', status: 'pdng' },
        ]),
      (txn) =>
        status(txn, 'link', [
          { reference_id: 'r-A1', status: 'succ' },
          { reference_id: 'r-A2', status: 'succ' },
        ]),
    );
    const linked = await http.link([item('A1'), item('A2')], ctx);
    expect(linked.map((r) => classifyResult('link', r))).toEqual(['linked', 'linked']);
    expect(polls).toHaveLength(2);
    // A status of another transaction whose reference id is the same as ours (ids repeat from run
    // to run): another beneficiary's FA, never shown as this one's.
    answers.push(
      () => status('another-transaction', 'resolve', [{ reference_id: 'q', status: 'succ', id: 'A2', fa: 'account_number:1111' }]),
      (txn) => status(txn, 'resolve', [{ reference_id: 'q', status: 'succ', id: 'A2', fa: 'account_number:2222' }]),
    );
    const [resolved] = await http.resolve([{ reference_id: 'q', id: 'A2', scope: 'details' }], ctx);
    expect(resolved!.fa).toBe('account_number:2222');
    expect(polls).toHaveLength(4);
  });

  it('a callback of progress (items pdng) is waited past; items still pending stop the request as pending, never rejected or sent again', async () => {
    const { createServer, request } = await import('node:http');
    let sends = 0;
    // Callbacks the mapper sends for each link, in turn: progress, then the final statuses.
    let statuses: string[][] = [];
    const post = (url: string, body: unknown) =>
      new Promise<void>((resolve) => {
        const sent = request(url, { method: 'POST', headers: { 'content-type': 'application/json' } }, (response) => {
          response.resume();
          response.on('end', () => resolve());
        });
        sent.on('error', () => resolve());
        sent.end(JSON.stringify(body));
      });
    const server = createServer((req, res) => {
      let text = '';
      req.on('data', (chunk: Buffer) => (text += chunk.toString()));
      req.on('end', () => {
        sends++;
        const body = JSON.parse(text) as {
          header: { sender_uri: string };
          message: { transaction_id: string; link_request: { reference_id: string }[] };
        };
        res
          .writeHead(200, { 'content-type': 'application/json' })
          .end(JSON.stringify({ message: { ack_status: 'ACK', error: null, correlation_id: 'c' } }));
        void (async () => {
          for (const round of statuses) {
            await post(`${body.header.sender_uri}/on-link`, {
              header: { status: 'succ' },
              message: {
                transaction_id: body.message.transaction_id,
                link_response: body.message.link_request.map((item, i) => ({ reference_id: item.reference_id, status: round[i] })),
              },
            });
          }
        })();
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
    const url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
    const http = await mapper({ url } as G2pConnectFake, { asyncTimeoutMs: 1_500 });
    statuses = [
      ['pdng', 'pdng'],
      ['succ', 'pdng'],
      ['succ', 'succ'],
    ];
    expect((await http.link([item('G1'), item('G2')], ctx)).map((r) => classifyResult('link', r))).toEqual(['linked', 'linked']);
    // Never final: the request is pending when the time is up, its outcome unknown; not sent again.
    statuses = [['succ', 'pdng']];
    sends = 0;
    await expect(http.link([item('G3'), item('G4')], ctx)).rejects.toMatchObject({
      code: 'remote.pending',
      outcomeUnknown: true,
      message: expect.stringContaining(
        '1 of its 2 records are not done yet (the mapper said rcvd or pdng); whether they are applied is unknown',
      ),
    });
    expect(sends).toBe(1);
  });

  it('a receiver other machines can reach takes no callback whose signature it cannot check: refused before anything is sent', async () => {
    const server = await fake();
    for (const listen of ['0.0.0.0:0', '[::]:0', '192.0.2.1:8443'])
      await expect(mapper(server, { callbackListen: listen })).rejects.toMatchObject({
        code: 'async.unverified_callbacks',
        message: expect.stringContaining(`callbackListen ${listen} takes callbacks from other machines, and without callbackCertFile`),
      });
    expect(server.requests).toEqual([]);
    // An IPv6 address without brackets is told as such, not as one other machines reach.
    await expect(mapper(server, { callbackListen: '::1' })).rejects.toMatchObject({ code: 'async.bad_listen' });
    // On loopback (behind a proxy of one's own), or polling, it starts as before.
    await mapper(server, { callbackListen: '[::1]:0' }).catch((error: unknown) => expect(String(error)).not.toContain('unverified'));
    await mapper(server, { callbackListen: '0.0.0.0:0', asyncResults: 'poll' });
  });

  it('NACK and ERR stop with a message naming the code; nothing is applied', async () => {
    const nack = await fake({ mode: 'nack', errorCode: 'rjct.sender.unknown' });
    await expect((await mapper(nack)).link([item('N1')], ctx)).rejects.toMatchObject({
      code: 'remote.nack',
      message: expect.stringMatching(/answered NACK \(rjct\.sender\.unknown/),
    });
    // A gateway key of the mapper's URL, echoed in the NACK's words, is masked there too.
    const echoing = await fake({ mode: 'nack', errorCode: 'rjct.sender.unknown at /mapper/link?key=NackSecret123' });
    const refused = (await mapper(echoing, { baseUrl: `${echoing.url}/?key=NackSecret123` })).link([item('N2')], ctx);
    await expect(refused).rejects.toMatchObject({ code: 'remote.nack', message: expect.stringContaining('/mapper/link?key=***') });
    await expect(refused).rejects.not.toMatchObject({ message: expect.stringContaining('NackSecret123') });
    const err = await fake({ mode: 'err', errorCode: 'err.request.bad' });
    await expect((await mapper(err)).link([item('E1')], ctx)).rejects.toMatchObject({ code: 'remote.err' });
    expect(nack.mappings.size + err.mappings.size).toBe(0);
  });

  it('a callback that never comes: the outcome is unknown; a resumed run resolves before resending, so nothing is applied twice', async () => {
    const server = await fake({ mode: 'noCallback' });
    const records: BulkInputRecord[] = ['U1', 'U2', 'U3'].map((id, seq) => ({
      seq,
      key: id,
      parsed: { ok: true, value: { id, fa: bank(`00${id}`) } },
    }));
    const index = indexOf(records.map((record) => record.key));
    const journal = new MemoryJournal();
    const first = await runBulk(await mapper(server, { asyncTimeoutMs: 300 }), toInput(records), journal, {
      mode: 'link',
      index,
      batchSize: 10,
      concurrency: 1,
      retries: 0,
      context: ctx,
    });
    expect(first.stopped).toMatchObject({ code: 'remote.timeout', exitCode: 4 });
    expect(server.mappings.size).toBe(3); // the mapper did apply them
    await server.configure({ mode: 'normal' });
    const resumed = await mapper(server);
    const strategies = new Map((await resumed.strategies()).map((strategy) => [strategy.id, strategy]));
    const second = await runBulk(resumed, toInput(records), journal, {
      mode: 'link',
      index,
      batchSize: 10,
      concurrency: 1,
      retries: 0,
      context: ctx,
      strategies,
    });
    // A strict link sent without reading first: the mapper shows it, but the run cannot tell who made it.
    expect(second).toMatchObject({ confirmed: 3, rejected: 0, notSent: 0 });
    const links = server.requests.filter((r) => r.kind === 'async' && r.operation === 'link');
    expect(links).toHaveLength(1); // never sent again
  });

  it('encrypts messages to the mapper and opens encrypted callbacks with our key', async () => {
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const dir = tempDir();
    const ours = join(dir, 'ours.pem');
    writeFileSync(ours, privateKey.export({ type: 'pkcs8', format: 'pem' }));
    const server = await fake({ clientEncryptionKey: publicKey.export({ type: 'spki', format: 'pem' }).toString() });
    const theirs = join(dir, 'mapper.pem');
    writeFileSync(theirs, server.encryptionKey.publicPem);
    const http = await mapper(server, { encryptionCertFile: theirs, decryptionKeyFile: ours });
    expect((await http.link([item('X1')], ctx)).map((r) => classifyResult('link', r))).toEqual(['linked']);
    expect(server.requests.find((r) => r.kind === 'async')!.encrypted).toBe(true);
    await server.settled();
    expect(server.callbacks[0]).toMatchObject({ encrypted: true, outcome: 'delivered', ackStatus: 'ACK' });
  });

  it('with the mapper certificate set, takes only callbacks it signed; and OAuth2 tokens are fetched and sent', async () => {
    const server = await fake({ signCallbacks: true, requireAuth: true, clients: { sparctl: 'secret-1' } });
    const dir = tempDir();
    const cert = join(dir, 'mapper-signing.pem');
    writeFileSync(cert, server.signingKey.publicPem);
    const oauth = { oauthTokenUrl: `${server.url}/oauth2/client/token`, oauthClientId: 'sparctl', oauthClientSecret: 'secret-1' };
    const http = await mapper(server, { callbackCertFile: cert, ...oauth });
    expect((await http.link([item('S1')], ctx)).map((r) => classifyResult('link', r))).toEqual(['linked']);
    expect(server.requests.filter((r) => r.kind === 'async').every((r) => r.hasBearer)).toBe(true);

    const other = join(dir, 'other.pem');
    writeFileSync(other, generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey.export({ type: 'spki', format: 'pem' }));
    const strict = await mapper(server, { callbackCertFile: other, asyncTimeoutMs: 1_500, ...oauth });
    const refused = await strict.link([item('S2')], ctx).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(UnavailableError);
    expect((refused as UnavailableError).code).toBe('remote.timeout');
    // The likelier cause is said, not only "the mapper may be slow".
    expect((refused as UnavailableError).message).toContain(
      '(the callback receiver refused 1 callback: the callback is not signed with the mapper key sparctl knows (err.signature.invalid))',
    );
    expect((refused as UnavailableError).hint).toMatch(/^check the profile's callbackCertFile/);
    await server.settled();
    expect(server.callbacks.at(-1)).toMatchObject({ outcome: 'delivered', ackStatus: 'ERR' });
  });

  it('the receiver holds at most 8 callback bodies at once: more get 503 instead of memory', async () => {
    const receiver = await CallbackReceiver.start({ listen: '127.0.0.1:0' });
    cleanups.push(() => receiver.close());
    const { request } = await import('node:http');
    const open = Array.from({ length: 8 }, () => {
      const held = request(`${receiver.url}/on-link`, { method: 'POST', headers: { 'content-length': '1000000' } });
      held.on('error', () => undefined);
      held.write('{"header":');
      return held;
    });
    await new Promise((resolve) => setTimeout(resolve, 200));
    const status = await new Promise<number>((resolve, reject) => {
      const ninth = request(`${receiver.url}/on-link`, { method: 'POST' }, (response) => resolve(response.statusCode ?? 0));
      ninth.on('error', reject);
      ninth.end('{}');
    });
    expect(status).toBe(503);
    for (const held of open) held.destroy();
    await new Promise((resolve) => setTimeout(resolve, 200));
    // Once those are gone, callbacks are taken again.
    const again = await new Promise<number>((resolve, reject) => {
      const next = request(`${receiver.url}/on-link`, { method: 'POST' }, (response) => resolve(response.statusCode ?? 0));
      next.on('error', reject);
      next.end('{}');
    });
    expect(again).toBe(200);
  });

  it('the receiver NACKs a callback for a transaction nobody waits for', async () => {
    const receiver = await CallbackReceiver.start({ listen: '127.0.0.1:0' });
    cleanups.push(() => receiver.close());
    const response = await fetch(`${receiver.url}/on-link`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ header: { action: 'on-link', status: 'succ' }, message: { transaction_id: 'never-sent', link_response: [] } }),
    });
    expect(((await response.json()) as { message: { ack_status: string; error: { code: string } } }).message).toMatchObject({
      ack_status: 'NACK',
      error: { code: 'rjct.transaction.id.invalid' },
    });
  });

  it('a callback that comes after its wait ended is refused (NACK), not acknowledged and kept; a body past the limit is refused', async () => {
    const receiver = await CallbackReceiver.start({ listen: '127.0.0.1:0' });
    cleanups.push(() => receiver.close());
    receiver.expect('late');
    expect(await receiver.waitFor('late', 50)).toBeUndefined();
    const post = (body: string) =>
      fetch(`${receiver.url}/on-link`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
    const late = await post(
      JSON.stringify({ header: { action: 'on-link', status: 'succ' }, message: { transaction_id: 'late', link_response: [] } }),
    );
    expect(((await late.json()) as { message: { ack_status: string } }).message.ack_status).toBe('NACK');
    const huge = await post(`{"header":{},"message":{"transaction_id":"x","pad":"${' '.repeat(65 * 1024 * 1024)}"}}`).catch(
      () => undefined,
    );
    expect(huge === undefined || huge.status === 413).toBe(true);
  });
});

describe('the key files and the listen address of asynchronous mode', () => {
  const settings = (extra: Partial<Settings>): Settings => ({
    profile: 'async-keys',
    mode: 'remote',
    protocol: 'g2p-connect',
    baseUrl: 'http://127.0.0.1:9',
    senderAppMnemonic: 'sparctl-test',
    timeoutMs: 5_000,
    batchSize: 100,
    concurrency: 2,
    async: true,
    ...extra,
  });

  it('a garbage, passphrase-protected or non-RSA key file is one line naming the setting, the file and why, exit 3', async () => {
    const dir = tempDir();
    const file = (name: string, text: string) => {
      const path = join(dir, name);
      writeFileSync(path, text, { mode: 0o600 });
      return path;
    };
    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const junk = file('junk.pem', 'garbage\n');
    const locked = file(
      'locked.pem',
      rsa.privateKey.export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase: 'x' }) as string,
    );
    const ecPrivate = file('ec.pem', ec.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string);
    const ecPublic = file('ec-pub.pem', ec.publicKey.export({ type: 'spki', format: 'pem' }) as string);
    const cases: [Partial<Settings>, string, string][] = [
      [{ callbackCertFile: junk }, 'auth.key_invalid', `callbackCertFile ${junk} is not a PEM certificate or public key`],
      [
        { callbackCertFile: locked },
        'auth.key_invalid',
        `callbackCertFile ${locked} is an encrypted (passphrase-protected) private key, where the mapper's certificate or public key belongs`,
      ],
      [
        { callbackCertFile: ecPublic },
        'auth.key_not_rsa',
        `callbackCertFile ${ecPublic} holds a key of type ec; sparctl verifies the mapper's callback signatures as RS256, which needs an RSA key`,
      ],
      [{ decryptionKeyFile: junk }, 'auth.key_invalid', `decryptionKeyFile ${junk} is not a PEM private key (PKCS#8 or PKCS#1)`],
      [
        { decryptionKeyFile: locked },
        'auth.key_invalid',
        `decryptionKeyFile ${locked} is an encrypted (passphrase-protected) private key; sparctl takes no passphrase`,
      ],
      [
        { decryptionKeyFile: ecPrivate },
        'auth.key_not_rsa',
        `decryptionKeyFile ${ecPrivate} holds a key of type ec; callbacks encrypted to sparctl use RSA-OAEP-256, which needs an RSA key`,
      ],
      [
        { encryptionCertFile: ecPublic },
        'async.bad_key',
        `encryptionCertFile ${ecPublic} holds a key of type ec; messages are encrypted to it with RSA-OAEP-256, which needs an RSA key`,
      ],
    ];
    for (const [extra, code, message] of cases) {
      const error = await rejectedWith(ConfigError, () => HttpMapper.create(settings({ asyncResults: 'poll', ...extra })));
      expect({ code: error.code, message: error.message, exitCode: error.exitCode }).toEqual({ code, message, exitCode: 3 });
    }
  });

  it('listens on an IPv6 address in brackets, as a URL writes it; one without brackets is refused', async (context) => {
    // A machine without IPv6 loopback cannot listen there at all.
    const probe = createServer();
    const ipv6 = await new Promise<boolean>((resolve) => {
      probe.once('error', () => resolve(false));
      probe.listen(0, '::1', () => probe.close(() => resolve(true)));
    });
    if (!ipv6) return context.skip();
    const receiver = await CallbackReceiver.start({ listen: '[::1]:0' });
    cleanups.push(() => receiver.close());
    expect(receiver.url).toMatch(/^http:\/\/\[::1\]:\d+$/);
    expect(listenAddress('[::1]:8443')).toEqual({ host: '::1', port: 8443 });
    expect(listenAddress('[::1]')).toEqual({ host: '::1', port: 0 });
    expect(listenAddress('0.0.0.0:8443')).toEqual({ host: '0.0.0.0', port: 8443 });
    for (const listen of ['::1', '::1:8443', '127.0.0.1:port', '[::1]:99999']) {
      const error = thrownBy(ConfigError, () => listenAddress(listen));
      expect(error.code).toBe('async.bad_listen');
    }
  });
});

async function* toInput(records: readonly BulkInputRecord[]) {
  yield records;
}
