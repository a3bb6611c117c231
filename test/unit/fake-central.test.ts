/**
 * The fake ODK Central must answer like the real API (research/odk.md §1–§6, §12 and
 * reference/odk/examples/): sessions, bearer auth, the OData feed with nextLink paging on the
 * server's own domain, $filter limits, deleted rows, single submissions, injected faults.
 */
import { readFileSync } from 'node:fs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startFakeCentral, type FakeCentral } from '../helpers/fake-central.js';

const EMAIL = 'importer@example.org';
const PASSWORD = 'correct horse battery staple';
const APP_TOKEN = 'appUserToken0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQ';
const FORM = '/v1/projects/3/forms/spar_enrolment';
const SVC = `${FORM}.svc/Submissions`;

/** A row in the shape of Central's feed (test/fixtures/odk-submissions.json, written from research/odk.md §3.2). */
const exampleRow = (): Record<string, unknown> =>
  (JSON.parse(readFileSync(new URL('../fixtures/odk-submissions.json', import.meta.url), 'utf8')) as Record<string, unknown>[])[0]!;

interface Answer {
  status: number;
  headers: Headers;
  body: any;
}

let central: FakeCentral;

async function call(
  path: string,
  init: { method?: string; token?: string | null; body?: unknown; headers?: Record<string, string> } = {},
): Promise<Answer> {
  const headers: Record<string, string> = { accept: 'application/json', ...init.headers };
  if (init.token) headers['authorization'] = `Bearer ${init.token}`;
  if (init.body !== undefined) headers['content-type'] = 'application/json';
  const response = await fetch(`${central.url}${path}`, {
    method: init.method ?? 'GET',
    headers,
    ...(init.body === undefined ? {} : { body: JSON.stringify(init.body) }),
  });
  const text = await response.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // not JSON (a proxy page)
  }
  return { status: response.status, headers: response.headers, body };
}

async function login(): Promise<string> {
  const answer = await call('/v1/sessions', { method: 'POST', body: { email: EMAIL, password: PASSWORD } });
  expect(answer.status).toBe(200);
  return answer.body.token as string;
}

/** A nextLink names the server's domain: ask the same path and query of the URL we were given. */
const local = (link: string): string => {
  const parsed = new URL(link);
  return `${parsed.pathname}${parsed.search}`;
};

const q = (params: Record<string, string>): string => `?${new URLSearchParams(params).toString()}`;

const person = (n: number) => ({
  beneficiary: { national_id: `00${n}1122334`, full_name: `Person ${n}`, gender: 'female' },
  payment: {
    payment_method: 'bank',
    bank_code: 'BNK001',
    branch_code: 'BNK001-0042',
    account_number: `0012345678${n}`,
    payment_consent: 'yes',
  },
});

beforeEach(async () => {
  central = await startFakeCentral({ email: EMAIL, password: PASSWORD, projectId: 3, formId: 'spar_enrolment', appUserToken: APP_TOKEN });
});

afterEach(async () => {
  await central.close();
});

describe('sessions and auth', () => {
  it('logs in, accepts the bearer token and refuses bad ones with 401.2', async () => {
    const bad = await call('/v1/sessions', { method: 'POST', body: { email: EMAIL, password: 'nope' } });
    expect(bad.status).toBe(401);
    expect(bad.body).toEqual({ message: 'Could not authenticate with the provided credentials.', code: 401.2 });
    expect((await call('/v1/sessions', { method: 'POST', body: { email: EMAIL } })).body.code).toBe(400.3);

    const answer = await call('/v1/sessions', { method: 'POST', body: { email: EMAIL, password: PASSWORD } });
    expect(answer.status).toBe(200);
    expect(answer.body.token).toMatch(/^[A-Za-z0-9!$]{64}$/);
    expect(Date.parse(answer.body.expiresAt) - Date.parse(answer.body.createdAt)).toBe(24 * 60 * 60 * 1000);
    expect(central.logins).toBe(1);

    const me = await call('/v1/users/current', { token: answer.body.token });
    expect(me.status).toBe(200);
    expect(me.body).toMatchObject({ email: EMAIL, displayName: expect.any(String), id: expect.any(Number) });

    for (const token of [null, 'x'.repeat(64)]) {
      const refused = await call('/v1/users/current', { token });
      expect(refused.status).toBe(401);
      expect(refused.body.code).toBe(401.2);
    }
    const basic = await call('/v1/users/current', {
      headers: { authorization: `Basic ${Buffer.from(`${EMAIL}:${PASSWORD}`).toString('base64')}` },
    });
    expect(basic.body.code).toBe(401.3);

    central.expireTokens();
    expect((await call('/v1/users/current', { token: answer.body.token })).body.code).toBe(401.2);
    expect(central.requests.map((r) => r.auth)).toEqual(['none', 'none', 'none', 'bearer', 'none', 'bearer', 'other', 'bearer']);
    expect(JSON.stringify(central.requests)).not.toContain(answer.body.token);
  });

  it('lets a short session expire (real clock) and says so in expiresAt', async () => {
    await central.close();
    central = await startFakeCentral({ email: EMAIL, password: PASSWORD, projectId: 3, formId: 'spar_enrolment', sessionLifetimeMs: 300 });
    const answer = await call('/v1/sessions', { method: 'POST', body: { email: EMAIL, password: PASSWORD } });
    expect(Date.parse(answer.body.expiresAt) - Date.parse(answer.body.createdAt)).toBe(300);
    expect((await call('/v1/users/current', { token: answer.body.token })).status).toBe(200);
    await new Promise((resolve) => setTimeout(resolve, 350));
    const expired = await call('/v1/users/current', { token: answer.body.token });
    expect(expired.status).toBe(401);
    expect(expired.body.code).toBe(401.2);
  });

  it('lets the App User token in but not at the data (403.1)', async () => {
    central.submit(person(1));
    expect((await call(FORM, { token: APP_TOKEN })).status).toBe(200);
    const feed = await call(SVC, { token: APP_TOKEN });
    expect(feed.status).toBe(403);
    expect(feed.body).toEqual({ message: 'The authentication you provided does not have rights to perform that action.', code: 403.1 });
  });
});

describe('form and fields', () => {
  it('describes the form, its fields, and 404.1 for unknown ones', async () => {
    const token = await login();
    const form = await call(FORM, { token });
    expect(form.body).toMatchObject({ projectId: 3, xmlFormId: 'spar_enrolment', state: 'open', keyId: null, version: '2026031401' });
    expect(form.body.publishedAt).toEqual(expect.any(String));
    const fields = await call(`${FORM}/fields?odata=true`, { token });
    expect(fields.body).toContainEqual({ name: 'account_number', path: '/payment/account_number', type: 'string', binary: null });
    expect(fields.body).toContainEqual({ name: 'instanceID', path: '/meta/instanceID', type: 'string', binary: null });
    for (const path of [
      '/v1/projects/4/forms/spar_enrolment',
      '/v1/projects/3/forms/other',
      '/v1/projects/3/forms/other.svc/Submissions',
      '/v1/nothing',
    ]) {
      const missing = await call(path, { token });
      expect(missing.status).toBe(404);
      expect(missing.body).toEqual({ message: 'Could not find the resource you were looking for.', code: 404.1 });
    }
    expect((await call('/projects/3', { token })).body.code).toBe(404.2);
  });

  it('shows an unpublished form with publishedAt null and no OData; an encrypted one with a keyId and bare rows', async () => {
    await central.close();
    central = await startFakeCentral({ email: EMAIL, password: PASSWORD, projectId: 3, formId: 'spar_enrolment', published: false });
    let token = await login();
    expect((await call(FORM, { token })).body.publishedAt).toBeNull();
    expect((await call(SVC, { token })).body.code).toBe(404.1);
    await central.close();

    central = await startFakeCentral({ email: EMAIL, password: PASSWORD, projectId: 3, formId: 'spar_enrolment', encrypted: true });
    token = await login();
    central.submit(person(1));
    expect((await call(FORM, { token })).body.keyId).not.toBeNull();
    const row = (await call(SVC, { token })).body.value[0];
    expect(Object.keys(row)).toEqual(['__id', '__system']);
    expect(row.__system.status).toBe('notDecrypted');
  });
});

describe('the OData feed', () => {
  it('serves rows shaped like the examples, newest first, with @odata.context', async () => {
    const token = await login();
    const first = central.submit(person(1));
    const second = central.submit(
      { beneficiary: { national_id: '0023456789', full_name: 'Amina', contact_phone: '' }, payment: { payment_method: 'mobile_money' } },
      { submitterName: 'enum-nakuru-02' },
    );
    const answer = await call(SVC, { token });
    expect(answer.status).toBe(200);
    expect(answer.body['@odata.context']).toBe(`${central.domain}/v1/projects/3/forms/spar_enrolment.svc/$metadata#Submissions`);
    expect(answer.body['@odata.nextLink']).toBeUndefined();
    expect(answer.body.value.map((r: { __id: string }) => r.__id)).toEqual([second.__id, first.__id]);
    const row = answer.body.value[0];
    expect(row).toEqual(second);
    expect(row.__id).toBe(row.meta.instanceID);
    expect(row.__system).toMatchObject({
      submitterName: 'enum-nakuru-02',
      submitterId: expect.any(String),
      reviewState: null,
      updatedAt: null,
      deletedAt: null,
      edits: 0,
    });
    expect(row.beneficiary).toEqual({ national_id: '0023456789', full_name: 'Amina', gender: null, birthdate: null, contact_phone: null });
    expect(row.payment.account_number).toBeNull();
    expect(row.meta.instanceName).toBe('0023456789 - Amina');
    const example = exampleRow();
    // The fixture leaves out start, end, deviceid and location; the fake has them, as Central does.
    expect(
      Object.keys(row)
        .filter((key) => !['start', 'end', 'deviceid', 'location'].includes(key))
        .sort(),
    ).toEqual(Object.keys(example).sort());
    expect(Object.keys(row.__system).sort()).toEqual(Object.keys(example['__system'] as object).sort());
    expect(Object.keys(row.payment).sort()).toEqual(Object.keys(example['payment'] as object).sort());
    expect((await call(SVC, { token, headers: { accept: 'application/xml' } })).body.code).toBe(406.1);

    // $select keeps the named fields; a weak ETag answers If-None-Match with 304 until something changes.
    const selected = await call(`${SVC}${q({ $select: '__id,__system/updatedAt,payment/account_number' })}`, { token });
    expect(selected.body.value[1]).toEqual({
      __id: first.__id,
      __system: { updatedAt: null },
      payment: { account_number: first.payment['account_number'] },
    });
    const etag = answer.headers.get('etag')!;
    expect(etag).toMatch(/^W\/"/);
    expect((await call(SVC, { token, headers: { 'if-none-match': etag } })).status).toBe(304);
    central.review(first.__id, 'approved');
    expect((await call(SVC, { token, headers: { 'if-none-match': etag } })).status).toBe(200);
  });

  it('pages with nextLink on the configured domain, each row once, even when a row arrives mid-way', async () => {
    const token = await login();
    const ids = [1, 2, 3, 4, 5].map((n) => central.submit(person(n)).__id);
    const filter = '__system/submissionDate ge 2026-01-01T00:00:00.000Z';
    let path: string | undefined = `${SVC}${q({ $top: '2', $count: 'true', $filter: filter })}`;
    const seen: string[] = [];
    let pages = 0;
    while (path !== undefined) {
      const page = await call(path, { token });
      expect(page.status).toBe(200);
      expect(page.body['@odata.count']).toBe(pages === 0 ? 5 : 6);
      seen.push(...page.body.value.map((r: { __id: string }) => r.__id));
      const next = page.body['@odata.nextLink'] as string | undefined;
      if (next !== undefined) {
        expect(next.startsWith(`${central.domain}/v1/projects/3/forms/spar_enrolment.svc/Submissions?`)).toBe(true);
        expect(next).toContain(
          '%24top=2&%24count=true&%24filter=__system%2FsubmissionDate+ge+2026-01-01T00%3A00%3A00.000Z&%24skiptoken=01',
        );
        const token64 = new URL(next).searchParams.get('$skiptoken')!;
        expect(JSON.parse(Buffer.from(token64.slice(2), 'base64').toString('utf8'))).toEqual({ instanceId: seen[seen.length - 1] });
      }
      if (pages === 0) central.submit(person(6));
      pages++;
      path = next === undefined ? undefined : local(next);
    }
    expect(pages).toBe(3);
    expect(seen).toEqual([...ids].reverse());

    // $skip is an offset when there is no skiptoken, and is dropped from the nextLink.
    const skipped = await call(`${SVC}${q({ $top: '2', $skip: '1' })}`, { token });
    expect(skipped.body.value).toHaveLength(2);
    expect(skipped.body['@odata.nextLink']).not.toContain('%24skip=');
    expect((await call(`${SVC}${q({ $skiptoken: '01!!notbase64' })}`, { token })).body.code).toBe(400.35);
    expect((await call(`${SVC}${q({ $skiptoken: `01${Buffer.from('{}').toString('base64')}` })}`, { token })).body.code).toBe(400.35);
  });

  it('finds new and edited rows with submissionDate/updatedAt or updatedAt filters', async () => {
    const token = await login();
    const old = central.submit(person(1));
    const untouched = central.submit(person(2));
    const reviewed = central.submit(person(3));
    central.advance(60_000);
    const since = central.now();
    const fresh = central.submit(person(4));
    const edited = central.edit(old.__id, { payment: { account_number: '999999999' } });
    central.review(reviewed.__id, 'approved');

    expect(edited.__id).toBe(old.__id);
    expect(edited.meta.instanceID).not.toBe(old.meta.instanceID);
    expect(edited.__system).toMatchObject({ edits: 1, reviewState: 'edited', submissionDate: old.__system.submissionDate });
    expect(edited.payment).toMatchObject({ account_number: '999999999', bank_code: 'BNK001' });

    const filter = `__system/submissionDate gt ${since} or __system/updatedAt gt ${since}`;
    const answer = await call(`${SVC}${q({ $filter: filter, $count: 'true' })}`, { token });
    expect(answer.status).toBe(200);
    expect(answer.body['@odata.count']).toBe(3);
    expect(answer.body.value.map((r: { __id: string }) => r.__id)).toEqual([fresh.__id, reviewed.__id, old.__id]);
    expect(answer.body.value[2]).toEqual(edited);

    const ids = async (f: string): Promise<string[]> => {
      const a = await call(`${SVC}${q({ $filter: f })}`, { token });
      expect(a.status).toBe(200);
      return a.body.value.map((r: { __id: string }) => r.__id);
    };
    expect(await ids('__system/reviewState eq null')).toEqual([fresh.__id, untouched.__id]);
    // SQL semantics: a NULL review state is neither equal nor unequal to 'approved'.
    expect(await ids("__system/reviewState ne 'approved'")).toEqual([old.__id]);
    expect(await ids("not (__system/reviewState eq 'approved' or __system/reviewState eq null)")).toEqual([old.__id]);
    expect(await ids(`__system/updatedAt le ${central.now()}`)).toEqual([reviewed.__id, old.__id]);
    expect(await ids(`__id eq '${untouched.__id}' and __system/submitterId eq 7`)).toEqual([untouched.__id]);
    expect(await ids("__id eq 'it''s'")).toEqual([]);
    expect(await ids('__system/submissionDate ge 2026-03-14 and __system/submissionDate lt 2026-03-15')).toHaveLength(4);
  });

  it('refuses form-field filters (501.5), bad syntax (400.18), functions (501.4), $orderby with a skiptoken (501.1)', async () => {
    const token = await login();
    central.submit(person(1));
    central.submit(person(2));
    const field = await call(`${SVC}${q({ $filter: "__system/reviewState eq null and payment/account_number eq '1'" })}`, { token });
    expect(field.status).toBe(501);
    expect(field.body).toMatchObject({
      code: 501.5,
      message: 'The given OData filter expression references fields not supported by this server: payment/account_number at 33',
    });
    for (const bad of ['__id eq', "__id eq 'x", '(__id eq null', '__system/submissionDate gt 2026-03-14T06:40:12', '__id eq null or']) {
      const answer = await call(`${SVC}${q({ $filter: bad })}`, { token });
      expect(answer.status, bad).toBe(400);
      expect(answer.body.code, bad).toBe(400.18);
    }
    expect((await call(`${SVC}${q({ $filter: "contains(__id,'x')" })}`, { token })).body).toMatchObject({
      code: 501.4,
      message:
        'The given OData filter expression uses features not supported by this server: MethodCallExpression at 0 ("contains(__id,\'x\')")',
    });

    const ordered = await call(`${SVC}${q({ $top: '1', $orderby: '__system/submissionDate asc' })}`, { token });
    expect(ordered.status).toBe(200);
    const next = await call(local(ordered.body['@odata.nextLink'] as string), { token });
    expect(next.status).toBe(501);
    expect(next.body.code).toBe(501.1);
  });

  it('hides deleted rows unless the filter names __system/deletedAt', async () => {
    const token = await login();
    const kept = central.submit(person(1));
    const gone = central.submit(person(2));
    central.remove(gone.__id);
    const ids = async (query: string): Promise<string[]> =>
      (await call(`${SVC}${query}`, { token })).body.value.map((r: { __id: string }) => r.__id);
    expect(await ids('')).toEqual([kept.__id]);
    expect(await ids(q({ $filter: '__system/submissionDate gt 2020-01-01' }))).toEqual([kept.__id]);
    expect(await ids(q({ $filter: 'not __system/deletedAt eq null' }))).toEqual([gone.__id]);
    expect(await ids(q({ $filter: `__system/deletedAt ge 2020-01-01 or __system/submissionDate ge 2020-01-01` }))).toEqual([
      gone.__id,
      kept.__id,
    ]);
  });

  it('serves one submission by id, and 404.1 for unknown or deleted ones', async () => {
    const token = await login();
    const row = central.submit(person(1));
    const edited = central.edit(row.__id, { beneficiary: { full_name: 'Renamed' } });
    const single = await call(`${SVC}('${encodeURIComponent(row.__id)}')`, { token });
    expect(single.status).toBe(200);
    expect(single.body).toEqual({
      '@odata.context': `${central.domain}/v1/projects/3/forms/spar_enrolment.svc/$metadata#Submissions`,
      value: [edited],
    });
    expect(single.body.value[0].meta.instanceName).toBe('0011122334 - Renamed');
    expect(central.requests.at(-1)!.path).toBe(`${SVC}('uuid%3A${row.__id.slice(5)}')`);

    const unknown = await call(`${SVC}('${encodeURIComponent('uuid:00000000-0000-0000-0000-000000000000')}')`, { token });
    expect(unknown.status).toBe(404);
    expect(unknown.body.code).toBe(404.1);
    central.remove(row.__id);
    expect((await call(`${SVC}('${encodeURIComponent(row.__id)}')`, { token })).body.code).toBe(404.1);
  });
});

describe('injected faults', () => {
  it('answers injected 503s and 429s (with Retry-After) before routing, sparing the login', async () => {
    central.inject({ status: 503, count: 2 });
    const token = await login();
    expect((await call(SVC, { token })).status).toBe(503);
    expect((await call('/v1/nowhere', { token })).status).toBe(503);
    expect((await call(SVC, { token })).status).toBe(200);

    central.inject({ status: 429, count: 1, retryAfterSeconds: 7 });
    const limited = await call(SVC, { token });
    expect(limited.status).toBe(429);
    expect(limited.headers.get('retry-after')).toBe('7');
    expect((await call(SVC, { token })).status).toBe(200);

    central.inject({ status: 500, count: 1, includeLogin: true });
    const failed = await call('/v1/sessions', { method: 'POST', body: { email: EMAIL, password: PASSWORD } });
    expect(failed.status).toBe(500);
    expect(failed.body).toEqual({ message: 'Internal Server Error' });
    expect(central.requests.map((r) => r.status)).toEqual([200, 503, 503, 200, 429, 200, 500]);
  });
});
