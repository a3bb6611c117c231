import { holdSecret, redactSecretsIn } from '../../config/redact.js';
import { readFileSync } from 'node:fs';
import { writeWhole } from './odk-state.js';
import { Pool } from '../http/undici-parts.js';
import { ConfigError, SparctlError, UnavailableError, UsageError } from '../../core/errors.js';
import { redactUrl } from '../../config/settings.js';
import type { OdkSubmission } from '../../core/odk.js';
import { parseRetryAfter, transportError } from '../http/http-mapper.js';
import { tlsConnect, type TlsSettings } from '../http/tls.js';

/**
 * A client for ODK Central's API (research/odk.md §1–§6): Web User sessions with a cached
 * bearer token, the form's fields, and the OData submissions feed with nextLink paging.
 * Passwords and tokens are never put in messages.
 */

export interface CentralAuth {
  readonly email?: string;
  /** Asked only when a login is needed (no valid cached token). */
  readonly password?: () => Promise<string>;
  /** A pre-issued bearer token (servers with single sign-on have no password login). */
  readonly token?: string;
  /** Where the secret came from, for the hint when it is refused (e.g. "--odk-password-file pw.txt"). */
  readonly secretFrom?: string;
}

export interface CentralClientOptions {
  /** The server's base URL, e.g. https://central.example.org (with or without /v1). */
  readonly url: string;
  readonly auth: CentralAuth;
  /** Where the session token is cached (0600), keyed by server and user. */
  readonly tokenCacheFile?: string;
  /** False: a cached token is used, but none is written or removed there (a dry run creates nothing). */
  readonly keepSession?: boolean;
  readonly timeoutMs?: number;
  /** Attempts after the first for 429, 5xx and network failures. */
  readonly retries?: number;
  readonly sleep?: (ms: number) => Promise<void>;
  /** A private CA, or --insecure. */
  readonly tls?: TlsSettings;
}

export interface CentralForm {
  readonly xmlFormId: string;
  readonly version?: string;
  readonly publishedAt: string | null;
  readonly keyId: number | null;
}

export interface CentralField {
  readonly name: string;
  readonly path: string;
  readonly type: string;
}

/** One OData row: `__id`, `__system`, the form's groups and fields, `meta`. */
export type Submission = OdkSubmission;

interface CachedToken {
  readonly token: string;
  readonly expiresAt: string;
}

const RETRYABLE_STATUS = new Set([429, 500, 502, 503, 504]);

export class CentralClient {
  private readonly base: URL;
  /** The server's path prefix without a trailing slash ("" for a server at the root). */
  private readonly prefix: string;
  private readonly pool: Pool;
  private token: string | undefined;
  private readonly cacheKey: string;

  constructor(private readonly options: CentralClientOptions) {
    const base = new URL(options.url);
    // Accept the URL with or without /v1, as pyodk does.
    this.prefix = base.pathname.replace(/\/+$/, '').replace(/\/v1$/, '');
    this.base = base;
    this.pool = new Pool(base.origin, { connections: 2, connect: tlsConnect(options.tls ?? {}) });
    this.cacheKey = `${base.origin}${this.prefix} ${options.auth.email ?? ''}`;
    this.token = options.auth.token;
  }

  /** The server's URL for messages (credentials stripped). */
  get server(): string {
    return redactUrl(`${this.base.origin}${this.prefix}`);
  }

  async close(): Promise<void> {
    await this.pool.close();
  }

  async form(project: number, form: string): Promise<CentralForm> {
    return (await this.getJson(this.formPath(project, form), `form "${form}" of project ${project}`)) as CentralForm;
  }

  async fields(project: number, form: string): Promise<CentralField[]> {
    return (await this.getJson(`${this.formPath(project, form)}/fields?odata=true`, `the fields of form "${form}"`)) as CentralField[];
  }

  /** One submission by its instance id (`__id`), or undefined when Central has none (or it is deleted). */
  async submission(project: number, form: string, instanceId: string): Promise<Submission | undefined> {
    // Central addresses Submissions('…') only for ids like uuid:…; others are found by filter.
    if (!/^(uuid:)?[a-z0-9-]+$/i.test(instanceId)) {
      for await (const page of this.submissions(project, form, { filter: `__id eq '${instanceId.replace(/'/g, "''")}'`, pageSize: 1 }))
        return page[0];
      return undefined;
    }
    const path = `${this.formPath(project, form)}.svc/Submissions('${encodeURIComponent(instanceId.replace(/'/g, "''"))}')`;
    try {
      const page = (await this.getJson(path, `submission ${instanceId}`)) as { value?: Submission[] };
      return page.value?.[0];
    } catch (error) {
      if (error instanceof SparctlError && error.code === 'odk.not_found') return undefined;
      throw error;
    }
  }

  /**
   * Every submission the filter selects, a page at a time (`$top`), following
   * `@odata.nextLink` rebuilt against the configured base URL: its host is the server's own
   * idea of its domain, which need not be reachable from here.
   */
  async *submissions(project: number, form: string, query: { filter?: string; pageSize: number }): AsyncGenerator<Submission[]> {
    const params = new URLSearchParams({ $top: String(query.pageSize), $count: 'true' });
    if (query.filter !== undefined) params.set('$filter', query.filter);
    let path: string | undefined = `${this.formPath(project, form)}.svc/Submissions?${params.toString()}`;
    while (path !== undefined) {
      const page = (await this.getJson(path, `the submissions of form "${form}"`)) as { value?: Submission[]; '@odata.nextLink'?: string };
      if (!Array.isArray(page.value))
        throw new UnavailableError('odk.bad_answer', `${this.server} answered the submissions feed without a "value" list`);
      yield page.value;
      path = page['@odata.nextLink'] === undefined ? undefined : this.sameServer(page['@odata.nextLink']);
    }
  }

  private formPath(project: number, form: string): string {
    return `/v1/projects/${project}/forms/${encodeURIComponent(form)}`;
  }

  /** The path and query of a link the server made, to be asked of the server configured here. */
  private sameServer(link: string): string {
    const parsed = new URL(link, `${this.base.origin}/`);
    // The server may sit under a path (https://host/central/v1/…) or name itself without it.
    const at = parsed.pathname.indexOf('/v1/');
    if (at === -1) throw new UnavailableError('odk.bad_answer', `${this.server} gave a next-page link outside its API: ${redactUrl(link)}`);
    return `${parsed.pathname.slice(at)}${parsed.search}`;
  }

  private async getJson(path: string, what: string): Promise<unknown> {
    const response = await this.authorized('GET', path, what);
    try {
      return JSON.parse(response.text);
    } catch {
      throw new UnavailableError('odk.bad_answer', `${this.server} answered ${what} with something that is not JSON`, {
        hint: 'check that the Central URL points at the server itself, not at a login page or proxy',
      });
    }
  }

  /** A request with the session token; one fresh login when the token is refused mid-run. */
  private async authorized(method: string, path: string, what: string): Promise<{ status: number; text: string }> {
    let token = await this.sessionToken(false);
    let response = await this.send(method, path, token);
    if (response.status === 401 && this.options.auth.password !== undefined) {
      this.forgetToken();
      token = await this.sessionToken(true);
      response = await this.send(method, path, token);
    }
    if (response.status >= 200 && response.status < 300) return response;
    throw this.problem(response, what);
  }

  private async sessionToken(fresh: boolean): Promise<string> {
    if (!fresh && this.token !== undefined) return this.token;
    if (!fresh) {
      const cached = this.readCache();
      if (cached) {
        holdSecret(cached);
        return (this.token = cached);
      }
    }
    const { email, password } = this.options.auth;
    if (email === undefined || password === undefined) {
      if (this.options.auth.token !== undefined && !fresh) {
        holdSecret(this.options.auth.token);
        return this.options.auth.token;
      }
      throw new ConfigError('odk.no_credentials', `no credentials for ODK Central at ${this.server}`, {
        hint: 'set the Web User e-mail (odkEmail in the profile, SPARCTL_ODK_EMAIL or --odk-email) and the password (SPARCTL_ODK_PASSWORD, --odk-password-file, or type it when asked), or a token in SPARCTL_ODK_TOKEN',
      });
    }
    const secret = await password();
    holdSecret(secret);
    const response = await this.send('POST', '/v1/sessions', undefined, JSON.stringify({ email, password: secret }));
    if (response.status !== 200) throw this.problem(response, 'the login');
    const session = JSON.parse(response.text) as { token?: unknown; expiresAt?: unknown };
    if (typeof session.token !== 'string' || typeof session.expiresAt !== 'string') {
      throw new UnavailableError('odk.bad_answer', `${this.server} answered the login without a session token`);
    }
    this.token = session.token;
    holdSecret(session.token);
    this.writeCache({ token: session.token, expiresAt: session.expiresAt });
    return session.token;
  }

  private readCache(): string | undefined {
    const file = this.options.tokenCacheFile;
    if (file === undefined) return undefined;
    try {
      const all = JSON.parse(readFileSync(file, 'utf8')) as Record<string, CachedToken>;
      const entry = all[this.cacheKey];
      // A minute's margin: a token that expires during the first request is no use.
      if (entry && Date.parse(entry.expiresAt) - 60_000 > Date.now()) return entry.token;
    } catch {
      // No cache yet, or an unreadable one: log in.
    }
    return undefined;
  }

  private writeCache(entry: CachedToken | undefined): void {
    const file = this.options.tokenCacheFile;
    if (file === undefined || this.options.keepSession === false) return;
    let all: Record<string, CachedToken> = {};
    try {
      all = JSON.parse(readFileSync(file, 'utf8')) as Record<string, CachedToken>;
    } catch {
      all = {};
    }
    if (entry === undefined) delete all[this.cacheKey];
    else all[this.cacheKey] = entry;
    // Whole or not at all, and no copy left behind on failure: it holds session tokens.
    writeWhole(file, JSON.stringify(all), 'cannot keep the ODK session');
  }

  private forgetToken(): void {
    this.token = undefined;
    this.writeCache(undefined);
  }

  /** One request, retried with backoff on 429, 5xx and network failures (all reads, or a login). */
  private async send(method: string, path: string, token: string | undefined, body?: string): Promise<{ status: number; text: string }> {
    const retries = this.options.retries ?? 4;
    const sleep = this.options.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
    const timeoutMs = this.options.timeoutMs ?? 120_000;
    const where = `${method} ${redactUrl(`${this.base.origin}${this.prefix}`)}${path.split('?')[0]}`;
    for (let attempt = 0; ; attempt++) {
      const headers: Record<string, string> = { accept: 'application/json' };
      if (token !== undefined) headers['authorization'] = `Bearer ${token}`;
      if (body !== undefined) headers['content-type'] = 'application/json';
      let failure: SparctlError;
      let retryAfterMs: number | undefined;
      try {
        const response = await this.pool.request({
          method: method as 'GET' | 'POST',
          path: `${this.prefix}${path}`,
          headers,
          ...(body === undefined ? {} : { body }),
          headersTimeout: timeoutMs,
          bodyTimeout: timeoutMs,
        });
        // A server may echo a password or token it was sent: masked before anything prints it.
        const text = redactSecretsIn(await response.body.text());
        if (!RETRYABLE_STATUS.has(response.statusCode)) return { status: response.statusCode, text };
        const retryAfter = response.headers['retry-after'];
        retryAfterMs = parseRetryAfter(typeof retryAfter === 'string' ? retryAfter : undefined);
        failure = new UnavailableError(
          response.statusCode === 429 ? 'odk.rate_limited' : 'odk.server_error',
          `${where}: HTTP ${response.statusCode} from ODK Central`,
          {
            hint: 'Central or a proxy in front of it is overloaded or failing; try again later',
            ...(retryAfterMs === undefined ? {} : { retryAfterMs }),
          },
        );
      } catch (error) {
        const transport = transportError(error, where, timeoutMs);
        failure =
          transport instanceof UnavailableError
            ? new UnavailableError(transport.code.replace(/^remote\./, 'odk.'), transport.message, {
                hint: 'check the Central URL (odkUrl) and the network path to it',
              })
            : transport;
      }
      if (!(failure instanceof UnavailableError) || attempt >= retries) throw failure;
      const exponential = Math.min(30_000, 500 * 2 ** attempt);
      await sleep(Math.max(exponential / 2 + Math.random() * (exponential / 2), retryAfterMs ?? 0));
    }
  }

  /** Central's problem bodies `{message, code}` as a message saying what to check. */
  private problem(response: { status: number; text: string }, what: string): SparctlError {
    let code: number | undefined;
    let message: string | undefined;
    try {
      const parsed = JSON.parse(response.text) as { code?: unknown; message?: unknown };
      if (typeof parsed.code === 'number') code = parsed.code;
      if (typeof parsed.message === 'string') message = parsed.message;
    } catch {
      // Not a problem body (a proxy's page): the status alone speaks.
    }
    const said = `${this.server}: ${what}: HTTP ${response.status}${code === undefined ? '' : ` (Central problem ${code})`}${message ? `: ${message}` : ''}`;
    const major = Math.floor(code ?? response.status);
    if (code === 401.5)
      return new ConfigError('odk.auth_failed', said, {
        hint: 'this server uses single sign-on: pass a token in SPARCTL_ODK_TOKEN instead of a password',
      });
    if (major === 401) {
      return new ConfigError('odk.auth_failed', said, {
        hint: `the e-mail, password or token was not accepted (a token may have expired or been revoked); check ${this.options.auth.token !== undefined ? 'SPARCTL_ODK_TOKEN' : `odkEmail and ${this.options.auth.secretFrom ?? 'the password'}`}`,
      });
    }
    if (major === 403) {
      return new ConfigError('odk.forbidden', said, {
        hint: 'the user needs at least the Project Viewer role on this project (Data Collectors and App Users cannot read submissions); Central also answers 403 to a viewer for a form that was never published',
      });
    }
    if (code === 404.2 || code === 404.3)
      return new ConfigError('odk.bad_url', said, { hint: 'odkUrl should be the server address, e.g. https://central.example.org' });
    if (major === 404)
      return new UsageError('odk.not_found', said, {
        hint: 'check the project id (a number) and the form id (its xmlFormId); a form must be published',
      });
    if (major === 501 || code === 400.18 || code === 400.35)
      return new UsageError('odk.query_refused', said, {
        hint: 'only __id and __system fields can be filtered on, and $orderby cannot be paged',
      });
    return new UnavailableError('odk.unexpected_status', said);
  }
}
