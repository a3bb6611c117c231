import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { HttpMapper } from '../../src/adapters/http/http-mapper.js';
import { ConfigError, UnavailableError } from '../../src/core/errors.js';
import { runBulk, type BulkInputRecord } from '../../src/core/bulk/engine.js';
import { indexOf } from '../../src/core/bulk/row-index.js';
import { startG2pConnectFake } from '../helpers/g2p-connect-fake.js';
import { MemoryJournal } from '../helpers/memory-journal.js';
import { bank } from '../helpers/records.js';
import type { Settings } from '../../src/config/settings.js';
import { rejectedWith } from '../helpers/errors.js';
import { tempDir } from '../helpers/tmp.js';

/**
 * Bearer tokens in front of a mapper: a static token from a file, and OAuth2 client credentials
 * cached until they expire and renewed once when the gateway answers 401.
 */

const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const close of closers.splice(0)) await close();
});

const body = (req: IncomingMessage) =>
  new Promise<string>((resolve) => {
    let text = '';
    req
      .setEncoding('utf8')
      .on('data', (c: string) => (text += c))
      .on('end', () => resolve(text));
  });

/**
 * A gateway that accepts only its current token, and a token endpoint that issues t1, t2, … —
 * after answering its first requests with `tokenAnswers`, one each (a failure, a redirect, …).
 */
async function gateway(options: { secret: string; expiresIn: number; tokenAnswers?: ((res: ServerResponse) => void)[] }) {
  const state = { issued: 0, current: '', tokenRequests: [] as string[], mapperAuth: [] as string[] };
  const server = createServer(async (req, res) => {
    const text = await body(req);
    if (req.url === '/oauth/token') {
      state.tokenRequests.push(text);
      const scripted = options.tokenAnswers?.shift();
      if (scripted !== undefined) return scripted(res);
      const form = new URLSearchParams(text);
      if (form.get('grant_type') !== 'client_credentials' || form.get('client_secret') !== options.secret) {
        res.writeHead(401, { 'content-type': 'application/json' }).end('{"error":"invalid_client"}');
        return;
      }
      state.current = `t${++state.issued}`;
      res
        .writeHead(200, { 'content-type': 'application/json' })
        .end(JSON.stringify({ access_token: state.current, token_type: 'Bearer', expires_in: options.expiresIn }));
      return;
    }
    const auth = String(req.headers['authorization'] ?? '');
    state.mapperAuth.push(auth);
    if (auth !== `Bearer ${state.current}`) {
      res.writeHead(401, { 'content-type': 'application/json' }).end('{"errors":[{"code":"G2P-AUT-401","message":"Unauthorized"}]}');
      return;
    }
    const request = JSON.parse(text) as {
      request_header: { request_id: string };
      request_body: { request_payload: { transaction_id: string; resolve_request: { reference_id: string }[] } };
    };
    const items = request.request_body.request_payload.resolve_request.map((item) => ({
      reference_id: item.reference_id,
      status: 'succ',
      status_reason_code: 'succ.fa.not_linked_to_id',
      status_reason_message: null,
      fa: null,
      id: null,
    }));
    res.writeHead(200, { 'content-type': 'application/json' }).end(
      JSON.stringify({
        response_header: {
          request_id: request.request_header.request_id,
          response_status: 'SUCCESS',
          response_error_code: null,
          response_error_message: null,
          response_timestamp: '2026-11-21T00:00:00',
        },
        response_body: {
          pagination_response: null,
          response_payload: { transaction_id: request.request_body.request_payload.transaction_id, resolve_response: items },
        },
      }),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  // A token request left unanswered (a hung endpoint) must not keep the server open.
  closers.push(() => new Promise<void>((resolve) => (server.close(() => resolve()), server.closeAllConnections())));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, state, expire: () => void (state.current = 'rotated') };
}

function settings(url: string, extra: Partial<Settings>): Settings {
  return {
    profile: 't',
    mode: 'remote',
    protocol: 'spar-v2',
    baseUrl: url,
    senderAppMnemonic: 'sparctl',
    timeoutMs: 5_000,
    batchSize: 500,
    concurrency: 2,
    ...extra,
  };
}

const resolveOne = (mapper: HttpMapper) => mapper.resolve([{ reference_id: 'r', id: 'X', scope: 'yes_no' }], { source: 't' });

describe('HttpMapper bearer tokens', () => {
  it('gets an OAuth2 client-credentials token once, reuses it, and renews it once on a 401', async () => {
    const gw = await gateway({ secret: 's3cret', expiresIn: 3600 });
    const secretFile = join(tempDir(), 'secret');
    writeFileSync(secretFile, 's3cret\n');
    const mapper = await HttpMapper.create(
      settings(gw.url, { oauthTokenUrl: `${gw.url}/oauth/token`, oauthClientId: 'sparctl', oauthClientSecretFile: secretFile }),
    );
    closers.push(() => mapper.close());
    await resolveOne(mapper);
    await resolveOne(mapper);
    expect(gw.state.tokenRequests).toHaveLength(1);
    expect(new URLSearchParams(gw.state.tokenRequests[0]).get('client_id')).toBe('sparctl');
    gw.expire(); // the gateway forgets t1: the next call gets a 401, renews, and goes through
    expect((await resolveOne(mapper))[0]!.status_reason_code).toBe('succ.fa.not_linked_to_id');
    expect(gw.state.tokenRequests).toHaveLength(2);
    expect(gw.state.mapperAuth).toEqual(['Bearer t1', 'Bearer t1', 'Bearer t1', 'Bearer t2']);
  });

  it('asks for one token at a time: requests in flight together share the first token and the renewed one', async () => {
    const gw = await gateway({ secret: 's', expiresIn: 3600 });
    const mapper = await HttpMapper.create(
      settings(gw.url, { oauthTokenUrl: `${gw.url}/oauth/token`, oauthClientId: 'c', oauthClientSecret: 's', concurrency: 4 }),
    );
    closers.push(() => mapper.close());
    await Promise.all([1, 2, 3, 4].map(() => resolveOne(mapper)));
    expect(gw.state.tokenRequests).toHaveLength(1);
    gw.expire(); // all four meet the 401 at once: one renewal serves them all
    const answers = await Promise.all([1, 2, 3, 4].map(() => resolveOne(mapper)));
    expect(answers.map((answer) => answer[0]!.status_reason_code)).toEqual(Array(4).fill('succ.fa.not_linked_to_id'));
    expect(gw.state.tokenRequests).toHaveLength(2);
    expect(gw.state.mapperAuth.filter((auth) => auth === 'Bearer t2')).toHaveLength(4);
  });

  it('asks again after a token request failed, instead of keeping the failure', async () => {
    const gw = await gateway({ secret: 's', expiresIn: 3600 });
    const mapper = await HttpMapper.create(
      settings(gw.url, { oauthTokenUrl: `${gw.url}/oauth/token/missing`, oauthClientId: 'c', oauthClientSecret: 's' }),
    );
    closers.push(() => mapper.close());
    expect((await rejectedWith(ConfigError, () => resolveOne(mapper))).code).toBe('auth.token_refused');
    expect((await rejectedWith(ConfigError, () => resolveOne(mapper))).code).toBe('auth.token_refused');
    // Each call asked the endpoint: the path is not /oauth/token, so the gateway counted them as mapper calls.
    expect(gw.state.mapperAuth).toEqual(['', '']);
  });

  it('asks again when the token has expired by its own expires_in', async () => {
    const gw = await gateway({ secret: 's', expiresIn: 10 }); // shorter than the 30 s safety margin
    const mapper = await HttpMapper.create(
      settings(gw.url, { oauthTokenUrl: `${gw.url}/oauth/token`, oauthClientId: 'c', oauthClientSecret: 's' }),
    );
    closers.push(() => mapper.close());
    await resolveOne(mapper);
    await resolveOne(mapper);
    expect(gw.state.tokenRequests).toHaveLength(2);
  });

  it('says the client was refused, naming the token endpoint, and never echoes the secret', async () => {
    const gw = await gateway({ secret: 'right', expiresIn: 3600 });
    const mapper = await HttpMapper.create(
      settings(gw.url, { oauthTokenUrl: `${gw.url}/oauth/token`, oauthClientId: 'c', oauthClientSecret: 'wrong-canary-secret' }),
    );
    closers.push(() => mapper.close());
    const error = await rejectedWith(ConfigError, () => resolveOne(mapper));
    expect(error.code).toBe('auth.token_refused');
    expect(error.message).toMatch(/oauth\/token answered HTTP 401 \(invalid_client\) without an access token/);
    expect(`${error.message} ${error.hint}`).not.toContain('wrong-canary-secret');
  });

  it('sends a static token from a file, and reports a 401 with what to check', async () => {
    const gw = await gateway({ secret: 's', expiresIn: 3600 });
    const tokenFile = join(tempDir(), 'token');
    writeFileSync(tokenFile, 'static-token\n');
    const mapper = await HttpMapper.create(settings(gw.url, { tokenFile }));
    closers.push(() => mapper.close());
    const error = await rejectedWith(ConfigError, () => resolveOne(mapper));
    expect(gw.state.mapperAuth).toEqual(['Bearer static-token']);
    expect(error.code).toBe('remote.unauthorized');
    // What sparctl sends, by name: the file, not the list of every way a token can be given.
    expect(error.message).toContain(`sparctl sends the bearer token from the file ${tokenFile}`);
    expect(error.hint).toBe(`check the token in ${tokenFile}`);
  });

  it('reports a 401 to a profile that sends no token as such, without pointing at settings it does not use', async () => {
    const gw = await gateway({ secret: 's', expiresIn: 3600 });
    const mapper = await HttpMapper.create(settings(gw.url, {}));
    closers.push(() => mapper.close());
    const error = await rejectedWith(ConfigError, () => resolveOne(mapper));
    expect(error.code).toBe('remote.unauthorized');
    expect(error.message).toMatch(/sparctl sends no bearer token and no signature$/);
    expect(`${error.message} ${error.hint}`).not.toMatch(/signingKeyFile|tokenFile [/]/);
    // A user and password in the URL are never sent: the 401 says so, and shows neither.
    const withUser = await HttpMapper.create(settings(gw.url.replace('://', '://alice:S3cret@'), {}));
    closers.push(() => withUser.close());
    const told = await rejectedWith(ConfigError, () => resolveOne(withUser));
    expect(told.message).toMatch(
      /sparctl sends no bearer token and no signature \(the user and password in the URL are not sent: use a token or a signing key\)$/,
    );
    expect(told.message).not.toContain('S3cret');
  });
});

describe('a token endpoint that fails', () => {
  const oauth = (url: string, extra: Partial<Settings> = {}) =>
    settings(url, { oauthTokenUrl: `${url}/oauth/token`, oauthClientId: 'c', oauthClientSecret: 's', ...extra });
  const json =
    (status: number, body: unknown, headers: Record<string, string> = {}) =>
    (res: ServerResponse) =>
      void res.writeHead(status, { 'content-type': 'application/json', ...headers }).end(JSON.stringify(body));

  it('with a 5xx or 429 is the surroundings: exit 4, retryable, its Retry-After kept, nothing sent; also after a 401', async () => {
    const tokenAnswers = [
      json(503, { error: 'temporarily_unavailable' }, { 'retry-after': '7' }),
      json(429, {}),
      json(503, {}, { 'retry-after': '3600' }),
    ];
    const gw = await gateway({ secret: 's', expiresIn: 3600, tokenAnswers });
    const mapper = await HttpMapper.create(oauth(gw.url));
    closers.push(() => mapper.close());
    const unavailable = await rejectedWith(UnavailableError, () => resolveOne(mapper));
    expect(unavailable).toMatchObject({ code: 'auth.token_unavailable', exitCode: 4, retryAfterMs: 7000, outcomeUnknown: false });
    expect(unavailable.message).toBe(
      `the token endpoint ${gw.url}/oauth/token answered HTTP 503 (temporarily_unavailable); no token, so the request was not sent`,
    );
    expect(unavailable.hint).not.toMatch(/oauthClientId|secret/);
    expect(await rejectedWith(UnavailableError, () => resolveOne(mapper))).toMatchObject({ code: 'auth.token_unavailable', exitCode: 4 });
    // Hours: not waited out, the run stops and says when to come back.
    const later = await rejectedWith(UnavailableError, () => resolveOne(mapper));
    expect(later.code).toBe('remote.retry_later');
    expect(later.message).toContain('asks to wait 60 min before trying again (Retry-After: 3600)');
    expect(gw.state.mapperAuth).toEqual([]);
    // The endpoint is back: the next call gets its token and goes through.
    expect((await resolveOne(mapper))[0]!.status_reason_code).toBe('succ.fa.not_linked_to_id');
    // A 401 from the gateway, then a failing endpoint: still the endpoint's failure, not the client refused.
    gw.expire();
    tokenAnswers.push(json(500, { error: 'server_error' }));
    expect(await rejectedWith(UnavailableError, () => resolveOne(mapper))).toMatchObject({ code: 'auth.token_unavailable', exitCode: 4 });
    expect(gw.state.mapperAuth).toEqual(['Bearer t1', 'Bearer t1']);
  });

  it('with no answer in time is the surroundings too, and says the request was not sent (not that its outcome is unknown)', async () => {
    const gw = await gateway({ secret: 's', expiresIn: 3600, tokenAnswers: [() => undefined] });
    const mapper = await HttpMapper.create(oauth(gw.url, { timeoutMs: 300 }));
    closers.push(() => mapper.close());
    const error = await rejectedWith(UnavailableError, () => resolveOne(mapper));
    expect(error).toMatchObject({ code: 'auth.token_unavailable', exitCode: 4, outcomeUnknown: false });
    expect(error.message).toBe(
      `the token endpoint ${gw.url}/oauth/token gave no token: no answer within 0.3 s; no token, so the request was not sent`,
    );
  });

  it('a redirect names where it leads (masked), a web page is no token answer, a 404 points at oauthTokenUrl', async () => {
    const gw = await gateway({
      secret: 's',
      expiresIn: 3600,
      tokenAnswers: [
        (res) => void res.writeHead(302, { location: 'https://user:pw@login.example.org/token?secret=abc' }).end(),
        (res) => void res.writeHead(200, { 'content-type': 'text/html' }).end('<html>sign in</html>'),
        json(200, { token: 'no access_token here' }),
        json(404, {}),
      ],
    });
    const mapper = await HttpMapper.create(oauth(gw.url));
    closers.push(() => mapper.close());
    const redirected = await rejectedWith(ConfigError, () => resolveOne(mapper));
    expect(redirected.code).toBe('auth.token_redirected');
    expect(redirected.message).toBe(
      `the token endpoint ${gw.url}/oauth/token answered HTTP 302, a redirect to https://***@login.example.org/token?secret=***; sparctl never follows one (the client secret would go where it leads)`,
    );
    const page = await rejectedWith(ConfigError, () => resolveOne(mapper));
    expect(page.code).toBe('auth.token_bad_answer');
    expect(page.message).toBe(`the token endpoint ${gw.url}/oauth/token answered HTTP 200 with a web page (HTML), not a token answer`);
    expect(page.hint).toMatch(/^check oauthTokenUrl/);
    const noToken = await rejectedWith(ConfigError, () => resolveOne(mapper));
    expect(noToken).toMatchObject({ code: 'auth.token_bad_answer', exitCode: 3 });
    expect(noToken.message).toContain('answered HTTP 200 with JSON without an access_token, not a token answer');
    const missing = await rejectedWith(ConfigError, () => resolveOne(mapper));
    expect(missing.code).toBe('auth.token_refused');
    expect(missing.hint).toBe('check oauthTokenUrl: no token endpoint answers at that URL');
    expect(gw.state.mapperAuth).toEqual([]);
  });

  it('a bulk run waits a failing token endpoint out as it does a failing mapper, and goes on', async () => {
    const server = await startG2pConnectFake({ requireAuth: true, clients: { sparctl: 's' } });
    closers.push(() => server.close());
    const mapper = await HttpMapper.create(
      settings(server.url, {
        protocol: 'g2p-connect',
        oauthTokenUrl: `${server.url}/oauth2/client/token`,
        oauthClientId: 'sparctl',
        oauthClientSecret: 's',
      }),
    );
    closers.push(() => mapper.close());
    // The first two requests are token requests: nothing is sent without a token.
    server.inject({ kind: 'http', status: 503, count: 2 });
    const records: BulkInputRecord[] = ['T1', 'T2'].map((id, seq) => ({
      seq,
      key: id,
      parsed: { ok: true, value: { id, fa: bank(`00${id}`) } },
    }));
    const summary = await runBulk(
      mapper,
      (async function* () {
        yield records;
      })(),
      new MemoryJournal(),
      {
        mode: 'link',
        index: indexOf(records.map((record) => record.key)),
        batchSize: 10,
        concurrency: 1,
        retries: 3,
        backoffMs: { base: 1, max: 5 },
        context: { source: 't' },
      },
    );
    expect(summary.stopped).toBeUndefined();
    expect(summary).toMatchObject({ applied: 2, retries: 2 });
    expect([...server.mappings.keys()].sort()).toEqual(['T1', 'T2']);
  });
});
