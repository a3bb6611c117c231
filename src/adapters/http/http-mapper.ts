import { createPublicKey, randomUUID, type KeyObject } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { Dispatcher } from 'undici';
import { Pool } from './undici-parts.js';
import { ConfigError, SparctlError, UnavailableError, UsageError } from '../../core/errors.js';
import { RETRYABLE } from '../../core/retry.js';
import type { LinkItem, Mapper, MapperCallContext, ResolveItem, UnlinkItem } from '../../core/mapper.js';
import type { ItemResult, Operation } from '../../core/results.js';
import { deconstructFa, type Strategy } from '../../core/strategy/strategy.js';
import { declaredStrategies } from '../files/strategies-file.js';
import { redactUrl, type Settings } from '../../config/settings.js';
import { checkedBearerToken } from '../../config/bearer-token.js';
import { holdSecret, holdUrlSecrets, redactSecretsIn, redactShownText } from '../../config/redact.js';
import { canonicalJson } from './canonical-json.js';
import { isBatchFailure, type BatchFailure, type ProtocolItem, type WireProtocol } from './protocol.js';
import { storedFaMismatch, strategyIdOf } from '../../core/strategy/declared.js';
import { protocolNamed } from './protocols/index.js';
// Loaded only by a profile that signs, or runs asynchronously: jose costs a remote command 77 ms to load.
import type { signDetached, SigningKey } from './signing.js';
import type { CallbackReceiver } from './connect-async.js';
import { tlsConnect, tlsDispatcher } from './tls.js';
import { isLoopbackHost } from '../server/guard.js';
import { rsaPrivateKey, rsaPublicKey } from './key-files.js';

/**
 * The Mapper port over HTTP: one keep-alive pool per target, a request per batch, the body sent
 * as the exact canonical bytes that were signed (plain JSON when nothing is signed), results
 * correlated by reference_id. Every way a request can fail becomes one SparctlError with one
 * line that names the URL and what to check.
 */
/** The most requests a run may have in flight (`--concurrency`, `concurrencyMax`: at most 64). */
const MOST_IN_FLIGHT = 64;

/**
 * The largest answer read (64 MiB): 10,000 resolve results with their FAs are a few MB. A larger
 * body, or one still arriving `timeoutMs` after its headers, is cut off: the outcome is unknown.
 */
export const MOST_ANSWER_BYTES = 64 * 1024 * 1024;

/** The longest Retry-After waited out (5 min); a mapper that asks for more stops the command. */
export const MOST_RETRY_AFTER_MS = 5 * 60_000;

export class HttpMapper implements Mapper {
  readonly target: string;
  private readonly pool: Pool;
  private readonly base: URL;
  private readonly paths: Record<Operation, string>;
  private accessToken: { value: string; expiresAt: number } | undefined;
  /** The token request under way: every request that needs a token meanwhile waits for this one. */
  private tokenFetch: Promise<{ value: string; expiresAt: number }> | undefined;
  /** SPAR's built-in strategies and the ones the profile declares for its deployment, by id. */
  private readonly strategyMap: ReadonlyMap<number, Strategy>;

  private constructor(
    private readonly settings: Settings,
    private readonly protocol: WireProtocol,
    private readonly signing: { readonly key: SigningKey; readonly sign: typeof signDetached } | undefined,
    private readonly staticToken: string | undefined,
    strategies: readonly Strategy[],
    private readonly asyncMode?: AsyncMode,
  ) {
    this.strategyMap = new Map(strategies.map((s) => [s.id, s]));
    this.base = new URL(settings.baseUrl!);
    this.target = targetOf(protocol, settings);
    this.paths = { ...protocol.defaultPaths, ...(settings.paths ?? {}) } as Record<Operation, string>;
    // The run decides how many requests are in flight (--concurrency, a flag the settings may not
    // carry; auto): the pool only opens a connection when one is needed, and must not cap that.
    this.pool = new Pool(this.base.origin, {
      connections: MOST_IN_FLIGHT,
      keepAliveTimeout: 30_000,
      maxResponseSize: MOST_ANSWER_BYTES,
      connect: tlsConnect(settings),
    });
  }

  /**
   * The profile's target and strategies, for commands that send nothing (`strategy list`,
   * `strategy validate --id`): no key, token or secret is read, so a profile whose credentials
   * are not at hand yet still shows what it declares.
   */
  static async strategySource(
    settings: Settings,
  ): Promise<{ target: string; strategies: () => Promise<Strategy[]>; close: () => Promise<void> }> {
    const strategies = await declaredStrategies(settings);
    return {
      target: targetOf(protocolNamed(settings.protocol), settings),
      strategies: async () => [...strategies],
      close: async () => undefined,
    };
  }

  static async create(settings: Settings): Promise<HttpMapper> {
    // A gateway key in a URL goes with every request, and a server may echo it in an error.
    for (const url of [settings.baseUrl, settings.oauthTokenUrl, settings.callbackUrl]) holdUrlSecrets(url);
    const protocol = protocolNamed(settings.protocol);
    const signing = settings.signingKeyFile ? await loadSigner(settings.signingKeyFile, settings.keyId) : undefined;
    const token =
      settings.token !== undefined
        ? checkedBearerToken(settings.token, 'SPARCTL_TOKEN')
        : settings.tokenFile
          ? checkedBearerToken((await readSecretFile(settings.tokenFile, 'tokenFile')).trim(), `the file ${settings.tokenFile}`)
          : undefined;
    holdSecret(token);
    const strategies = await declaredStrategies(settings);
    return new HttpMapper(settings, protocol, signing, token, strategies, settings.async ? await startAsyncMode(settings) : undefined);
  }

  link(items: readonly LinkItem[], _context?: MapperCallContext): Promise<ItemResult[]> {
    return this.call('link', items);
  }
  update(items: readonly LinkItem[], _context?: MapperCallContext): Promise<ItemResult[]> {
    return this.call('update', items);
  }
  resolve(items: readonly ResolveItem[], _context?: MapperCallContext): Promise<ItemResult[]> {
    return this.call('resolve', items);
  }
  unlink(items: readonly UnlinkItem[], _context?: MapperCallContext): Promise<ItemResult[]> {
    return this.call('unlink', items);
  }

  /** An OAuth2 token, fetched now if none is held: a token endpoint that fails then fails before anything is sent. */
  async ready(): Promise<void> {
    await this.authHeader();
  }

  /** The strategies this profile knows: SPAR's defaults and the ones it declares, each with its source. */
  async strategies(): Promise<Strategy[]> {
    return [...this.strategyMap.values()];
  }

  async close(): Promise<void> {
    await this.asyncMode?.receiver?.close();
    await this.pool.close();
  }

  /** `GET {base}/ping`: SPAR answers the JSON string "pong". */
  async ping(): Promise<{ status: number; body: string }> {
    const url = this.urlFor('/ping');
    const response = await this.send(url, { method: 'GET', path: url.pathname + url.search, headers: {} });
    // Shown in ping's checks: a gateway key the answer echoes is masked as in any message.
    return { status: response.status, body: redactShownText(response.text) };
  }

  urlFor(path: string): URL {
    return urlWithPath(this.base, path);
  }

  private async call(operation: Operation, items: readonly ProtocolItem[]): Promise<ItemResult[]> {
    if (this.asyncMode)
      return this.readAnswer(operation, items, await this.callAsync(operation, items, this.asyncMode), `${operation} (async)`);
    const requestId = randomUUID();
    const body = this.protocol.buildRequest(operation, items, {
      requestId,
      transactionId: randomUUID(),
      timestamp: new Date().toISOString(),
      sender: this.settings.senderAppMnemonic,
      strategies: this.strategyMap,
    });
    const url = this.urlFor(this.paths[operation]);
    const where = `${operation} at ${redactUrl(url.toString())}`;
    return this.readAnswer(operation, items, await this.post(url, body, where, items.length), where);
  }

  /** Signs and posts a body (one fresh token on a 401); the parsed JSON of an HTTP 200 answer. */
  private async post(url: URL, body: unknown, where: string, records?: number): Promise<unknown> {
    // Sorting every key of every item costs a sixth of a remote import's CPU: only a signature needs it.
    const canonical = this.signing ? canonicalJson(body) : JSON.stringify(body);
    const headers: Record<string, string> = { 'content-type': 'application/json', accept: 'application/json' };
    if (this.signing) headers['signature'] = await this.signing.sign(canonical, this.signing.key);
    const sent = await this.authHeader();
    let response = await this.send(url, {
      method: 'POST',
      path: url.pathname + url.search,
      headers: { ...headers, ...sent },
      body: canonical,
    });
    if (response.status === 401 && this.settings.oauthTokenUrl) {
      response = await this.send(url, {
        method: 'POST',
        path: url.pathname + url.search,
        headers: { ...headers, ...(await this.authHeader(sent['authorization'])) },
        body: canonical,
      });
    }
    if (response.status >= 300 && response.status < 400) throw redirected(response.status, response.location, where);
    if (response.status !== 200) throw httpStatusError(response.status, response.text, where, this.settings, response.retryAfter, records);
    try {
      return JSON.parse(response.text);
    } catch {
      // A body that starts as JSON and does not parse was cut short or garbled on its way: the
      // mapper answered, so the request may have been applied; it is read back before a retry.
      if (/^\s*[[{]/.test(response.text))
        throw new UnavailableError(
          'remote.transport',
          `${where} answered HTTP 200 with JSON cut short or garbled (${response.text.length} characters); the outcome of this request is unknown`,
          { hint: 'resolve the IDs to see what was applied before sending again', outcomeUnknown: true },
        );
      throw new UnavailableError('remote.not_json', `${where} answered HTTP 200 with something that is not JSON`, {
        hint: 'check that baseUrl points at the mapper API and not at a web page or proxy',
      });
    }
  }

  /**
   * G2P Connect asynchronous mode (research/g2p-connect.md §5.5, §5.6): the request goes to
   * /mapper/{operation} with our callback URL as sender_uri; the mapper acknowledges (ACK, NACK or
   * ERR) and later posts the result, or, without a callback, the result is asked for with the
   * synchronous txn/status until it is there. No result in time: the outcome is unknown, and the
   * bulk engine resolves the IDs before anything is sent again.
   */
  private async callAsync(operation: Operation, items: readonly ProtocolItem[], mode: AsyncMode): Promise<unknown> {
    const transactionId = randomUUID();
    const body = this.protocol.buildRequest(operation, items, {
      requestId: randomUUID(),
      transactionId,
      timestamp: new Date().toISOString(),
      sender: this.settings.senderAppMnemonic,
      strategies: this.strategyMap,
    }) as { header: Record<string, unknown>; message: unknown };
    if (mode.receiver) body.header['sender_uri'] = mode.receiver.url;
    if (mode.encryptTo) {
      body.message = await mode.wire.encryptMessage(body.message, mode.encryptTo.key, mode.encryptTo.kid);
      body.header['is_msg_encrypted'] = true;
    }
    const url = this.urlFor(`/mapper/${operation}`);
    const where = `${operation} at ${redactUrl(url.toString())}`;
    mode.receiver?.expect(transactionId);
    let ack: unknown;
    try {
      ack = await this.post(url, body, where, items.length);
    } catch (error) {
      mode.receiver?.forget(transactionId);
      throw error;
    }
    const message = isRecordValue(ack) && isRecordValue(ack['message']) ? ack['message'] : undefined;
    const status = message?.['ack_status'];
    if (status !== 'ACK') {
      mode.receiver?.forget(transactionId);
      const error = isRecordValue(message?.['error']) ? message['error'] : undefined;
      // The mapper's words, shown (and kept by smoke's report): a gateway key they echo is masked.
      const detail = redactShownText(
        `${typeof error?.['code'] === 'string' ? error['code'] : 'no code'}${typeof error?.['message'] === 'string' ? `: ${error['message']}` : ''}`,
      );
      if (status === 'NACK' || status === 'ERR') {
        throw new UnavailableError(
          status === 'NACK' ? 'remote.nack' : 'remote.err',
          `${where} answered ${status} (${detail}); none of its ${items.length} records was applied`,
          {
            hint:
              status === 'NACK'
                ? 'the mapper accepted the request but will not act on it; check the sender id and what the mapper allows it'
                : 'the mapper could not process the request; check the profile (protocol, keys, encryption) against the mapper',
          },
        );
      }
      throw new UnavailableError('remote.unexpected_answer', `${where} answered without an Ack (ACK, NACK or ERR)`, {
        hint: 'check that this mapper speaks the asynchronous G2P Connect API at /mapper/{operation}',
      });
    }
    const deadline = Date.now() + mode.timeoutMs;
    if (mode.receiver) {
      // A callback may report progress (items pdng): the receiver waits for the next one, each
      // item's latest status kept, until every item is final or the time is up. What is then
      // still pending stops the run with the outcome unknown (readAnswer: remote.pending).
      const latest = new LatestStatuses(operation);
      let last: { header: unknown; message: unknown } | undefined;
      for (;;) {
        const callback = (await mode.receiver.waitFor(transactionId, Math.max(0, deadline - Date.now()))) as
          | { header: unknown; message: unknown }
          | undefined;
        if (callback === undefined) break;
        last = callback;
        const list = isRecordValue(callback.message) ? callback.message[`${operation}_response`] : undefined;
        if (!Array.isArray(list)) return callback; // a header-level answer: read as it is
        latest.take(list);
        if (latest.allFinal(items) || Date.now() >= deadline) break;
        mode.receiver.expect(transactionId);
      }
      if (last !== undefined) return { header: last.header, message: latest.message(last.message) };
    } else {
      let polled: unknown;
      try {
        polled = await this.pollStatus(operation, transactionId, items, deadline, mode.pollMs);
      } catch (error) {
        // The mapper acknowledged the request: whatever fails now (the status endpoint refusing
        // or unreachable), the records may be applied. Never a failure that says they were not —
        // the run would send them again unread, or forget it sent them.
        if (!(error instanceof SparctlError)) throw error;
        throw new UnavailableError(
          'remote.pending',
          `${where}: the mapper acknowledged transaction ${transactionId}, then asking for its result failed (${error.message}); whether its ${items.length} records are applied is unknown`,
          {
            hint: 'run the same command again later: those records are read back before anything is sent again',
            outcomeUnknown: true,
            cause: error,
          },
        );
      }
      if (polled) return polled;
    }
    // Callbacks the receiver refused (a signature it could not verify…) are the likelier cause than a slow mapper.
    const refused = mode.receiver?.refusals();
    throw new UnavailableError(
      'remote.timeout',
      `${where}: no result for transaction ${transactionId} within ${mode.timeoutMs / 1000} s${refused ? ` (${refused})` : ''}; the outcome of its ${items.length} records is unknown`,
      {
        hint: refused
          ? "check the profile's callbackCertFile and decryptionKeyFile against the mapper's keys; the records are resolved before anything is sent again"
          : 'they are resolved before anything is sent again; raise asyncTimeoutMs if the mapper is slow, or use asyncResults "poll" when its callbacks cannot reach sparctl',
        outcomeUnknown: true,
      },
    );
  }

  /**
   * The synchronous txn/status, asked until every item of the transaction has a final status
   * (succ or rjct) or the deadline passes, each item's latest status kept (a mapper may report
   * progress: some items pdng). An answer about another transaction is no answer: the reference
   * ids of sparctl's requests repeat from run to run, so only the transaction id says whose
   * result it is. Items still pending at the deadline stop the run (readAnswer: remote.pending).
   */
  private async pollStatus(
    operation: Operation,
    transactionId: string,
    items: readonly ProtocolItem[],
    deadline: number,
    everyMs: number,
  ): Promise<unknown> {
    const url = this.urlFor(this.settings.paths?.['txnStatus' as Operation] ?? '/mapper/sync/txn/status');
    const where = `txn/status at ${redactUrl(url.toString())}`;
    const latest = new LatestStatuses(operation);
    for (;;) {
      const body = (await import('./connect-async.js')).txnStatusRequest(operation, transactionId, this.settings.senderAppMnemonic);
      let answer: unknown;
      try {
        answer = await this.post(url, body, where);
      } catch (error) {
        // A status request that failed on its way (refused, reset, 429, 5xx) changes nothing at
        // the mapper: asked again until the deadline, never the write itself sent again.
        if (!(error instanceof UnavailableError) || !RETRYABLE.has(error.code) || Date.now() + everyMs > deadline) throw error;
        await new Promise((resolve) =>
          setTimeout(resolve, Math.min(Math.max(everyMs, error.retryAfterMs ?? 0), Math.max(0, deadline - Date.now()))),
        );
        continue;
      }
      const response = isRecordValue(answer) && isRecordValue(answer['message']) ? answer['message']['txnstatus_response'] : undefined;
      const status = isRecordValue(response) ? response['txn_status'] : undefined;
      const list = isRecordValue(status) && status['transaction_id'] === transactionId ? status[`${operation}_response`] : undefined;
      latest.take(list);
      if (latest.allFinal(items) || Date.now() + everyMs > deadline)
        return latest.empty ? undefined : { header: { status: 'succ' }, message: latest.message({ transaction_id: transactionId }) };
      await new Promise((resolve) => setTimeout(resolve, everyMs));
    }
  }

  private readAnswer(operation: Operation, items: readonly ProtocolItem[], parsed: unknown, where: string): ItemResult[] {
    const outcome = shownMessages(this.protocol.parseResponse(operation, parsed, items));
    if (isBatchFailure(outcome)) {
      const detail = `${outcome.code ?? 'no code'}${outcome.message ? `: ${outcome.message}` : ''}`;
      switch (outcome.kind) {
        case 'signature':
          throw signatureRejected(where, detail, this.settings);
        case 'internal':
          throw new UnavailableError(
            'remote.batch_failed',
            `${where} failed the whole request (${detail}); none of its ${items.length} records was applied`,
            {
              hint: 'SPAR does this for a duplicate ID within one link request, an unknown strategy, or a database failure',
            },
          );
        case 'validation':
          throw new UsageError('remote.request_invalid', `${where} refused the request (${detail})`);
        case 'pending':
          // Not retried (a pending write sent again is a second write on its way) and never
          // reported rejected: the run stops, and the next one reads these records back first.
          throw new UnavailableError('remote.pending', `${where}: ${outcome.message}; whether they are applied is unknown`, {
            hint: 'run the same command again later: those records are read back before anything is sent again',
            outcomeUnknown: true,
          });
        default:
          throw new UnavailableError('remote.unexpected_answer', `${where}: ${outcome.message ?? detail}`, {
            hint: `check that the profile's protocol (${this.protocol.name}) is the one this mapper speaks`,
          });
      }
    }
    const answered = withoutConflicts(outcome);
    if (operation === 'link' || operation === 'update') {
      const mismatch = storedFaMismatch(items as readonly LinkItem[], answered, this.strategyMap);
      if (mismatch !== undefined) throw strategyMismatch(where, mismatch);
    }
    return operation === 'resolve' ? answered.map((result) => this.readStringFa(result)) : answered;
  }

  /**
   * spar-v1 and G2P Connect answer resolve with the stored FA string: read it back through the
   * strategy recorded in additional_info, as SPAR v2 does server-side, so every profile shows
   * the same fields.
   */
  private readStringFa(result: ItemResult): ItemResult {
    if (typeof result.fa !== 'string') return result;
    const strategyId = strategyIdOf(result.additional_info);
    const strategy = strategyId === undefined ? undefined : this.strategyMap.get(strategyId);
    // One whose regex could hang is not run: the FA is shown as the mapper returned it.
    if (!strategy || strategy.unusable !== undefined) return result;
    return { ...result, fa: { ...(deconstructFa(strategy, result.fa) ?? {}), strategy_id: strategy.id } };
  }

  /**
   * The Authorization header to send; `refused`: the one the gateway just answered 401 to. One
   * token request at a time: the requests in flight that find no token, an expired one or a
   * refused one wait for the same request (4 slots meeting a rotated token asked 4 times).
   */
  private async authHeader(refused?: string): Promise<Record<string, string>> {
    if (this.staticToken) return { authorization: `Bearer ${this.staticToken}` };
    if (!this.settings.oauthTokenUrl) return {};
    const held = this.accessToken;
    // A token renewed since the refused one was sent is used as it is.
    if (held !== undefined && held.expiresAt > Date.now() && `Bearer ${held.value}` !== refused)
      return { authorization: `Bearer ${held.value}` };
    this.tokenFetch ??= this.fetchToken().then(
      (token) => {
        this.accessToken = token;
        this.tokenFetch = undefined;
        return token;
      },
      (error: unknown) => {
        this.tokenFetch = undefined;
        throw error;
      },
    );
    return { authorization: `Bearer ${(await this.tokenFetch).value}` };
  }

  /** OAuth2 client credentials; the token is kept until shortly before it expires. */
  private async fetchToken(): Promise<{ value: string; expiresAt: number }> {
    const secret =
      this.settings.oauthClientSecret ??
      (this.settings.oauthClientSecretFile
        ? (await readSecretFile(this.settings.oauthClientSecretFile, 'oauthClientSecretFile')).trim()
        : undefined);
    holdSecret(secret);
    if (!this.settings.oauthClientId || !secret) {
      throw new ConfigError('auth.oauth_incomplete', 'oauthTokenUrl is set but the client id or secret is missing', {
        hint: 'set oauthClientId and oauthClientSecretFile in the profile, or SPARCTL_OAUTH_CLIENT_SECRET',
      });
    }
    const tokenUrl = new URL(this.settings.oauthTokenUrl!);
    const form = new URLSearchParams({ grant_type: 'client_credentials', client_id: this.settings.oauthClientId, client_secret: secret });
    const { request } = await import('undici');
    const shownUrl = redactUrl(tokenUrl.toString());
    const tokenAt = `the token endpoint ${shownUrl}`;
    let answer: TokenAnswer;
    try {
      const dispatcher = tlsDispatcher(this.settings);
      const response = await request(tokenUrl, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: form.toString(),
        headersTimeout: this.settings.timeoutMs,
        bodyTimeout: this.settings.timeoutMs,
        ...(dispatcher ? { dispatcher } : {}),
      });
      const { 'retry-after': retryAfter, location, 'content-type': contentType } = response.headers;
      answer = {
        status: response.statusCode,
        // An endpoint may echo the client secret it was sent: masked before anything of it is shown.
        text: redactSecretsIn(await readWithin(response.body, this.settings.timeoutMs)),
        ...(typeof retryAfter === 'string' ? { retryAfter } : {}),
        ...(typeof location === 'string' ? { location } : {}),
        ...(typeof contentType === 'string' ? { contentType } : {}),
      };
    } catch (error) {
      throw tokenTransportError(error, shownUrl, this.settings.timeoutMs);
    }
    const parsed = safeJson(answer.text) as { access_token?: unknown; expires_in?: unknown } | undefined;
    if (answer.status !== 200 || typeof parsed?.access_token !== 'string') throw tokenRefusal(answer, parsed, tokenAt);
    const lifetime = typeof parsed.expires_in === 'number' ? parsed.expires_in : 300;
    const value = checkedBearerToken(
      parsed.access_token,
      tokenAt,
      'check oauthTokenUrl: it answered an access token no HTTP header can carry',
    );
    holdSecret(value);
    return { value, expiresAt: Date.now() + Math.max(0, lifetime - 30) * 1000 };
  }

  private async send(
    url: URL,
    options: Dispatcher.RequestOptions,
  ): Promise<{ status: number; text: string; retryAfter?: string; location?: string }> {
    try {
      const response = await this.pool.request({
        ...options,
        headersTimeout: this.settings.timeoutMs,
        bodyTimeout: this.settings.timeoutMs,
      });
      const { 'retry-after': retryAfter, location } = response.headers;
      // A server may echo the token it was sent (an error naming the one that expired): masked
      // before anything of the answer is printed or kept.
      const text = redactSecretsIn(await readWithin(response.body, this.settings.timeoutMs));
      return {
        status: response.statusCode,
        text,
        ...(typeof retryAfter === 'string' ? { retryAfter } : {}),
        ...(typeof location === 'string' ? { location } : {}),
      };
    } catch (error) {
      throw transportError(error, `${options.method} ${redactUrl(url.toString())}`, this.settings.timeoutMs);
    }
  }
}

/** The token endpoint's answer, as far as a refusal tells it. */
interface TokenAnswer {
  readonly status: number;
  readonly text: string;
  readonly retryAfter?: string;
  readonly location?: string;
  readonly contentType?: string;
}

/** What the surroundings did to a token request: no token, so the mapper request it was for was never sent. */
const NOT_SENT = 'no token, so the request was not sent';

/**
 * Why the token endpoint gave no token. Only a 4xx is the client refused (exit 3): a 5xx or 429
 * is the endpoint failing (exit 4, retried as a mapper's is, after its Retry-After); a redirect
 * is never followed (the client secret would go where it leads); a 200 that is not a token
 * answer (a login page) says oauthTokenUrl is not the token endpoint.
 */
function tokenRefusal(answer: TokenAnswer, parsed: unknown, tokenAt: string): SparctlError {
  const { status } = answer;
  // OAuth2's error code (RFC 6749 §5.2: invalid_client, …), never its free text.
  const code = isRecordValue(parsed) && typeof parsed['error'] === 'string' ? parsed['error'] : undefined;
  const said = code !== undefined && /^[\x21-\x7e]{1,64}$/.test(code) ? ` (${code})` : '';
  if (status >= 300 && status < 400)
    return new ConfigError(
      'auth.token_redirected',
      `${tokenAt} answered HTTP ${status}, a redirect${answer.location === undefined ? '' : ` to ${redactUrl(answer.location)}`}; sparctl never follows one (the client secret would go where it leads)`,
      { hint: 'set oauthTokenUrl to the URL the token endpoint answers at itself' },
    );
  if (status === 429 || status >= 500) {
    const retryAfterMs = parseRetryAfter(answer.retryAfter);
    if (retryAfterMs !== undefined && retryAfterMs > MOST_RETRY_AFTER_MS)
      return new UnavailableError(
        'remote.retry_later',
        `${tokenAt} answered HTTP ${status}${said} and asks to wait ${waitShown(retryAfterMs)} before trying again (Retry-After: ${answer.retryAfter}); sparctl waits at most ${MOST_RETRY_AFTER_MS / 60_000} min; ${NOT_SENT}`,
        { hint: 'run the same command again once that time has passed; a bulk run resumes where it stopped' },
      );
    return new UnavailableError('auth.token_unavailable', `${tokenAt} answered HTTP ${status}${said}; ${NOT_SENT}`, {
      hint: 'the token endpoint or a proxy in front of it is failing or overloaded; run the same command again later',
      ...(retryAfterMs === undefined ? {} : { retryAfterMs }),
    });
  }
  if (status >= 200 && status < 300) {
    const what =
      parsed !== undefined
        ? 'JSON without an access_token'
        : /html/i.test(answer.contentType ?? '') || /^\s*</.test(answer.text)
          ? 'a web page (HTML)'
          : `something that is not JSON (${answer.contentType ?? 'no content type'})`;
    return new ConfigError('auth.token_bad_answer', `${tokenAt} answered HTTP ${status} with ${what}, not a token answer`, {
      hint: 'check oauthTokenUrl: it must be the OAuth2 token endpoint itself (…/token), not a login page or a site in front of it',
    });
  }
  return new ConfigError('auth.token_refused', `${tokenAt} answered HTTP ${status}${said} without an access token`, {
    hint:
      status === 404 || status === 405
        ? 'check oauthTokenUrl: no token endpoint answers at that URL'
        : 'check oauthClientId and the client secret, and what the client is allowed',
  });
}

/**
 * A token request that got no answer. Where a mapper request's outcome would be unknown (a
 * timeout, a reset), nothing of the mapper request can have been applied: it was never sent.
 */
function tokenTransportError(error: unknown, shownUrl: string, timeoutMs: number): SparctlError {
  const failure = transportError(error, `token request to ${shownUrl}`, timeoutMs);
  if (!(failure instanceof UnavailableError) || !failure.outcomeUnknown) return failure;
  const why =
    failure.code === 'remote.timeout'
      ? `no answer within ${timeoutMs / 1000} s`
      : failure.code === 'remote.reset'
        ? 'the connection was closed before an answer came'
        : error instanceof Error
          ? error.message
          : String(error);
  return new UnavailableError('auth.token_unavailable', `the token endpoint ${shownUrl} gave no token: ${why}; ${NOT_SENT}`, {
    hint: 'check the network path to the token endpoint; run the same command again later',
  });
}

/** A Retry-After as a person reads it: minutes, or hours past two. */
function waitShown(ms: number): string {
  const minutes = Math.ceil(ms / 60_000);
  return minutes >= 120 ? `${Math.round(minutes / 60)} h` : `${minutes} min`;
}

/** What asynchronous mode needs: where results come back, how long to wait, what to encrypt to. */
interface AsyncMode {
  /** The G2P Connect asynchronous wire (connect-async.ts), loaded with the mode. */
  readonly wire: typeof import('./connect-async.js');
  readonly receiver: CallbackReceiver | undefined;
  readonly timeoutMs: number;
  readonly pollMs: number;
  readonly encryptTo: { readonly key: KeyObject; readonly kid: string } | undefined;
}

async function startAsyncMode(settings: Settings): Promise<AsyncMode> {
  if (settings.protocol !== 'g2p-connect') {
    throw new ConfigError(
      'async.unsupported',
      `asynchronous mode is part of the G2P Connect API; this mapper's protocol is ${settings.protocol}`,
      {
        hint: 'set protocol "g2p-connect" for a mapper that implements the spec, or drop --async: SPAR 2.x has no asynchronous API',
      },
    );
  }
  const wire = await import('./connect-async.js');
  const readKey = async (file: string, setting: string) => (await readSecretFile(file, setting)).trim();
  let encryptTo: AsyncMode['encryptTo'];
  if (settings.encryptionCertFile) {
    const pem = await readKey(settings.encryptionCertFile, 'encryptionCertFile');
    let key: KeyObject;
    try {
      key = createPublicKey(pem);
    } catch {
      throw new ConfigError('async.bad_key', `encryptionCertFile ${settings.encryptionCertFile}: not a PEM certificate or public key`, {
        hint: "give the mapper's certificate (BEGIN CERTIFICATE) or public key (BEGIN PUBLIC KEY) in PEM",
      });
    }
    // Taken, another type failed as an internal error at the first request it encrypted.
    if (key.asymmetricKeyType !== 'rsa')
      throw new ConfigError(
        'async.bad_key',
        `encryptionCertFile ${settings.encryptionCertFile} holds a key of type ${key.asymmetricKeyType ?? 'unknown'}; messages are encrypted to it with RSA-OAEP-256, which needs an RSA key`,
      );
    // The kid names the mapper's key: given, or the JWK thumbprint of the key itself.
    const { calculateJwkThumbprint, exportJWK } = await import('jose');
    encryptTo = { key, kid: settings.encryptionKid ?? (await calculateJwkThumbprint(await exportJWK(key))) };
  }
  // Read and checked now: a bad file was an internal error, or (another key type) a callback refused later.
  const decryptSetting = settings.decryptionKeyFile ? 'decryptionKeyFile' : 'signingKeyFile';
  const decryptFile = settings.decryptionKeyFile ?? settings.signingKeyFile;
  const decryptWith = decryptFile
    ? rsaPrivateKey(
        await readKey(decryptFile, decryptSetting),
        decryptSetting,
        decryptFile,
        'callbacks encrypted to sparctl use RSA-OAEP-256',
      )
    : undefined;
  const verifyWith = settings.callbackCertFile
    ? [
        rsaPublicKey(
          await readKey(settings.callbackCertFile, 'callbackCertFile'),
          'callbackCertFile',
          settings.callbackCertFile,
          "sparctl verifies the mapper's callback signatures as RS256",
        ),
      ]
    : undefined;
  const listen = settings.callbackListen ?? '127.0.0.1:0';
  // Results posted from another machine over plain HTTP are read as the mapper's: without its
  // signature checked, anyone who can reach the port (or sits on the way) could report a write
  // that never happened, or another account, as the mapper's answer.
  if (settings.asyncResults !== 'poll' && !verifyWith && !isLoopbackHost(wire.listenAddress(listen).host))
    throw new ConfigError(
      'async.unverified_callbacks',
      `callbackListen ${listen} takes callbacks from other machines, and without callbackCertFile nothing tells the mapper's results from anyone else's; nothing was sent`,
      {
        hint: 'set callbackCertFile to the mapper\'s certificate or public key (its callbacks are then accepted only when their signature verifies), listen on 127.0.0.1 behind a proxy that does, or set asyncResults to "poll"',
      },
    );
  const receiver =
    settings.asyncResults === 'poll'
      ? undefined
      : await wire.CallbackReceiver.start({
          listen,
          ...(settings.callbackUrl ? { publicUrl: settings.callbackUrl } : {}),
          ...(decryptWith ? { decryptWith } : {}),
          ...(verifyWith ? { verifyWith } : {}),
        });
  return { wire, receiver, timeoutMs: settings.asyncTimeoutMs ?? 120_000, pollMs: 1_000, encryptTo };
}

/** The profile's signing key and the signer, loaded together (jose only for a profile that signs). */
async function loadSigner(file: string, keyId: string | undefined): Promise<{ key: SigningKey; sign: typeof signDetached }> {
  const { loadSigningKey, signDetached } = await import('./signing.js');
  return { key: await loadSigningKey(file, keyId), sign: signDetached };
}

/**
 * An answer's body, whole within `timeoutMs` of its headers: undici's bodyTimeout only bounds the
 * pause between two chunks, so a body trickling a byte at a time would otherwise never end.
 */
async function readWithin(body: Dispatcher.ResponseData['body'], timeoutMs: number): Promise<string> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      const error = Object.assign(new Error('the answer did not end in time'), { code: 'UND_ERR_BODY_TIMEOUT' });
      reject(error);
      body.destroy(error);
    }, timeoutMs);
  });
  const text = body.text();
  text.catch(() => undefined);
  try {
    return await Promise.race([text, late]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Results without the ones an answer gives twice with different contents: such an answer does not
 * say what happened to that record, which then counts as unanswered (read back, never guessed).
 */
function withoutConflicts(results: ItemResult[]): ItemResult[] {
  // A set of reference_ids first: an answer that repeats none (every sane one) is returned as it
  // is, no result serialized to be compared.
  const ids = new Set<string>();
  for (const result of results) ids.add(result.reference_id);
  if (ids.size === results.length) return results;
  const seen = new Map<string, string>();
  const conflicting = new Set<string>();
  const kept: ItemResult[] = [];
  for (const result of results) {
    const said = JSON.stringify(result);
    const earlier = seen.get(result.reference_id);
    if (earlier === undefined) {
      seen.set(result.reference_id, said);
      kept.push(result);
    } else if (earlier !== said) conflicting.add(result.reference_id);
  }
  return conflicting.size === 0 ? kept : kept.filter((result) => !conflicting.has(result.reference_id));
}

function isRecordValue(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

async function readSecretFile(path: string, setting: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (error) {
    throw new ConfigError('auth.secret_unreadable', `cannot read ${setting} ${path}: ${(error as NodeJS.ErrnoException).code ?? 'error'}`);
  }
}

/** Retry-After as delta-seconds or an HTTP date, in milliseconds from now. */
export function parseRetryAfter(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (/^\d+$/.test(value.trim())) return Number(value.trim()) * 1000;
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - Date.now());
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** SPAR's error bodies: {"errors":[{"code":"G2P-REQ-102","message":"Invalid Input. …"}]}. */
/**
 * A mapper's messages (per record, or of the whole request) with the URL parameter values sparctl
 * holds masked: they are printed, and kept in reject, results and JUnit files, and a gateway may
 * echo the request's `?subscription-key=…` in them. Values, FAs above all, are left as they are
 * (redact.ts: a query value may also be data).
 */
function shownMessages(outcome: ItemResult[] | BatchFailure): ItemResult[] | BatchFailure {
  if (isBatchFailure(outcome)) return outcome.message === null ? outcome : { ...outcome, message: redactShownText(outcome.message) };
  let changed: ItemResult[] | undefined;
  outcome.forEach((result, at) => {
    const message = result.status_reason_message;
    if (message === null) return;
    const shown = redactShownText(message);
    if (shown === message) return;
    changed ??= [...outcome];
    changed[at] = { ...result, status_reason_message: shown };
  });
  return changed ?? outcome;
}

function serverError(text: string): { code?: string; message?: string } {
  const parsed = safeJson(text) as { errors?: { code?: unknown; message?: unknown }[] } | undefined;
  const first = Array.isArray(parsed?.errors) ? parsed.errors[0] : undefined;
  return {
    ...(typeof first?.code === 'string' ? { code: redactShownText(first.code) } : {}),
    // A message, shown: a gateway key it echoes (`… for /mapper/link?key=…`) is masked here, at
    // the source, for every place it goes (ping's checks, smoke's steps and report), not only the error line.
    ...(typeof first?.message === 'string' ? { message: redactShownText(first.message) } : {}),
  };
}

export function httpStatusError(
  status: number,
  text: string,
  where: string,
  settings: AuthSettings,
  retryAfter?: string,
  records?: number,
): SparctlError {
  const { code, message } = serverError(text);
  const retryAfterMs = parseRetryAfter(retryAfter);
  const wait = retryAfterMs === undefined ? {} : { retryAfterMs };
  const said = code ? ` (${code}${message ? `: ${message}` : ''})` : '';
  if ((status === 429 || status >= 500) && retryAfterMs !== undefined && retryAfterMs > MOST_RETRY_AFTER_MS) {
    // Waiting hours in silence helps no one: stop now and say when to come back.
    return new UnavailableError(
      'remote.retry_later',
      `${where} answered HTTP ${status}${said} and asks to wait ${waitShown(retryAfterMs)} before trying again (Retry-After: ${retryAfter}); sparctl waits at most ${MOST_RETRY_AFTER_MS / 60_000} min${status >= 500 ? '; the outcome of this request is unknown' : ''}`,
      { hint: 'run the same command again once that time has passed; a bulk run resumes where it stopped', outcomeUnknown: status >= 500 },
    );
  }
  if (status === 400)
    return new UsageError('remote.request_malformed', `${where} answered HTTP 400: the request is malformed${said}`, {
      hint: 'this is a mismatch between sparctl and the server version; please report it with the server message',
    });
  if (status === 401 || status === 403)
    return new ConfigError(
      'remote.unauthorized',
      `${where} answered HTTP ${status}${said}; sparctl sends ${bearerInUse(settings)}${urlCredentials(settings)}`,
      {
        hint: bearerHint(settings),
      },
    );
  if (status === 404 || status === 405)
    return new ConfigError('remote.wrong_url', `${where} answered HTTP ${status}${said}: there is no mapper operation at this URL`, {
      hint: 'check baseUrl — a SPAR 2 deployment answers at https://HOST/api/mapper, sparctl serve at its root, http://HOST:PORT — and the profile paths',
    });
  if (status === 413) {
    // The server (or a proxy in front of it: nginx allows 1 MB by default) refused the request
    // as too large: nothing of it was applied, and the same request would be refused again.
    // The advice is in the message, not a hint: a bulk run's "stopped early" line shows only that.
    const held = records === undefined ? '' : `; none of its ${records} record(s) was applied`;
    return new UsageError(
      'remote.too_large',
      `${where} answered HTTP 413: the request is too large for the server${said}${held}; send fewer records per request with a smaller --batch-size${records === undefined ? '' : ` than ${records}`} (or batchSize in the profile)`,
    );
  }
  if (status === 429)
    return new UnavailableError('remote.rate_limited', `${where} answered HTTP 429: too many requests`, {
      hint: 'wait and run the same command again, or lower concurrency',
      ...wait,
    });
  if (status === 500 && code === 'G2P-REQ-100') {
    // SPAR's own 500: raised before the batch is processed (signature dependency) or by a crash.
    return new UnavailableError('remote.server_error', `${where} answered HTTP 500${said}`, {
      hint: settings.signingKeyFile
        ? `on Keymanager-backed SPAR this also means a malformed Signature or an unregistered partner "${settings.senderAppMnemonic}"; check the signing key ${settings.signingKeyFile} and senderAppMnemonic`
        : 'on Keymanager-backed SPAR this also means a request without a Signature: sparctl signs nothing (no signing key is set); set signingKeyFile (or SPARCTL_SIGNING_KEY_FILE) to the partner key the mapper knows',
      outcomeUnknown: true,
    });
  }
  if (status >= 500) {
    // Any 5xx may come after the mapper applied the request: a gateway (Envoy, Istio, nginx)
    // answers 502/503/504 when the upstream connection resets or times out before its headers.
    return new UnavailableError('remote.server_error', `${where} answered HTTP ${status}${said}`, {
      hint: 'the mapper or a proxy in front of it failed; try again later',
      outcomeUnknown: true,
      ...wait,
    });
  }
  // An answer sparctl does not understand says nothing about what was applied.
  return new UnavailableError('remote.unexpected_status', `${where} answered HTTP ${status}${said}`, { outcomeUnknown: true });
}

/**
 * A redirect is never followed: it may lead to another mapper than the one named. It says the
 * URL is not the mapper's, so nothing is retried (it was: 20 times); the run stops with the
 * request's records in flight — a 303 may follow a POST that was applied — read back on resume.
 */
export function redirected(status: number, location: string | undefined, where: string): ConfigError {
  return new ConfigError(
    'remote.redirected',
    `${where} answered HTTP ${status}, a redirect${location === undefined ? '' : ` to ${redactUrl(location)}`}; sparctl never follows one (it could lead to another mapper)`,
    { hint: 'set baseUrl (or --url) to the URL the mapper answers at itself, if the redirect leads to the same mapper' },
  );
}

/** The settings that say how a profile authenticates, for the messages about it. */
type AuthSettings = Pick<
  Settings,
  'senderAppMnemonic' | 'signingKeyFile' | 'keyId' | 'tokenFile' | 'token' | 'oauthTokenUrl' | 'oauthClientId'
> & { readonly baseUrl?: string | undefined };

/**
 * "no bearer token", "the bearer token from the file /x", "an OAuth2 token for client \"c\" from
 * URL". Files are named by path, not by setting: the path may come from the profile or from an
 * environment variable (SPARCTL_TOKEN_FILE), and the message should not guess which.
 */
function bearerInUse(settings: AuthSettings): string {
  if (settings.token) return 'the bearer token from SPARCTL_TOKEN';
  if (settings.tokenFile) return `the bearer token from the file ${settings.tokenFile}`;
  if (settings.oauthTokenUrl)
    return `an OAuth2 token for client "${settings.oauthClientId ?? '?'}" from ${redactUrl(settings.oauthTokenUrl)}`;
  return `no bearer token${settings.signingKeyFile ? '' : ' and no signature'}`;
}

/** A user and password in the base URL are never sent (SPAR authenticates by signature or token): say so. */
function urlCredentials(settings: AuthSettings): string {
  const url = settings.baseUrl;
  if (url === undefined) return '';
  const authority = url.slice(url.indexOf('://') + 3).split(/[/?#]/, 1)[0] ?? '';
  return authority.includes('@') ? ' (the user and password in the URL are not sent: use a token or a signing key)' : '';
}

function bearerHint(settings: AuthSettings): string {
  if (settings.token) return 'check the token in SPARCTL_TOKEN (it wins over tokenFile)';
  if (settings.tokenFile) return `check the token in ${settings.tokenFile}`;
  if (settings.oauthTokenUrl) return 'check oauthClientId and the client secret, and what the client is allowed';
  return 'the server wants credentials: set tokenFile (or SPARCTL_TOKEN) to its bearer token, or the OAuth2 client settings';
}

/** A batch refused because of its signature: what the profile signed with, or that it signs nothing. */
export function signatureRejected(where: string, detail: string, settings: AuthSettings): ConfigError {
  if (!settings.signingKeyFile) {
    return new ConfigError(
      'remote.signature_rejected',
      `${where} refused the request as unauthenticated (${detail}); sparctl signs nothing (no signing key is set)${urlCredentials(settings)}`,
      {
        hint: `the mapper checks signatures: set signingKeyFile (or SPARCTL_SIGNING_KEY_FILE) to the key of the partner "${settings.senderAppMnemonic}" (senderAppMnemonic) it knows`,
      },
    );
  }
  return new ConfigError(
    'remote.signature_rejected',
    `${where} rejected the request signature (${detail}); signed with the key ${settings.signingKeyFile}${settings.keyId ? ` (keyId ${settings.keyId})` : ''} as partner "${settings.senderAppMnemonic}"`,
    {
      hint: `check that the mapper knows the partner "${settings.senderAppMnemonic}" (senderAppMnemonic) with this key's certificate${settings.keyId ? ', and the keyId' : ''}`,
    },
  );
}

/** How a remote mapper is named to the user: its protocol and its URL, credentials masked. */
const targetOf = (protocol: WireProtocol, settings: Settings) => `${protocol.name} ${redactUrl(settings.baseUrl!)}`;

const TLS_CODES = new Set([
  'CERT_HAS_EXPIRED',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'ERR_TLS_CERT_ALTNAME_INVALID',
  'CERT_NOT_YET_VALID',
  'ERR_SSL_WRONG_VERSION_NUMBER',
]);

/**
 * `path` under the base URL's path, the base's query kept after it: a gateway's
 * `?subscription-key=…` goes with every request, never into the path.
 */
export function urlWithPath(base: string | URL, path: string): URL {
  const url = new URL(base.toString());
  url.pathname = `${url.pathname.replace(/\/+$/, '')}${path.startsWith('/') ? path : `/${path}`}`;
  return url;
}

/** One line for a request that got no HTTP answer. */
export function transportError(error: unknown, where: string, timeoutMs: number): SparctlError {
  if (error instanceof SparctlError) return error;
  let code: string | undefined;
  for (let e: unknown = error; e && !code; e = (e as { cause?: unknown }).cause) code = (e as { code?: string }).code;
  switch (code) {
    case 'ECONNREFUSED':
      return new UnavailableError('remote.refused', `${where}: connection refused`, {
        hint: 'is the mapper running, and are the host and port in baseUrl right?',
      });
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return new UnavailableError('remote.host_unknown', `${where}: the host name does not resolve`, {
        hint: 'check the host in baseUrl and your DNS or VPN',
      });
    case 'UND_ERR_CONNECT_TIMEOUT':
      return new UnavailableError('remote.connect_timeout', `${where}: could not connect in time`, {
        hint: 'check the network path (VPN, firewall) to the mapper',
      });
    case 'UND_ERR_HEADERS_TIMEOUT':
    case 'UND_ERR_BODY_TIMEOUT':
      return new UnavailableError(
        'remote.timeout',
        `${where}: no answer within ${timeoutMs / 1000} s; the outcome of this request is unknown`,
        {
          hint: 'resolve the IDs to see what was applied before sending again; raise timeoutMs if the mapper is slow',
          outcomeUnknown: true,
        },
      );
    case 'UND_ERR_RES_EXCEEDED_MAX_SIZE':
      return new UnavailableError(
        'remote.transport',
        `${where}: the answer is larger than ${MOST_ANSWER_BYTES / 1024 / 1024} MiB and was not read; the outcome of this request is unknown`,
        {
          hint: 'check what sits in front of the mapper; resolve the IDs to see what was applied before sending again',
          outcomeUnknown: true,
        },
      );
    case 'UND_ERR_SOCKET':
    case 'ECONNRESET':
    case 'EPIPE':
      return new UnavailableError(
        'remote.reset',
        `${where}: the connection was closed before an answer came; the outcome of this request is unknown`,
        { hint: 'resolve the IDs to see what was applied before sending again', outcomeUnknown: true },
      );
    default:
      if (code && TLS_CODES.has(code)) {
        return new ConfigError('remote.tls', `${where}: TLS failed (${code})`, {
          // No certificate was ever shown: what answered on that port does not speak TLS.
          hint:
            code === 'ERR_SSL_WRONG_VERSION_NUMBER'
              ? 'the server did not answer in TLS: it may serve plain HTTP on that port (an http:// URL), or the port is another service'
              : 'the server certificate is not trusted for this host name; check baseUrl, or the CA that signed it',
        });
      }
      return new UnavailableError('remote.transport', `${where}: ${error instanceof Error ? error.message : String(error)}`, {
        outcomeUnknown: true,
      });
  }
}

/**
 * `strategy.mismatch`: the mapper stored an FA string other than the one the profile's strategy
 * builds. The request was applied; the run stops, and the next one reads its records back.
 */
function strategyMismatch(where: string, found: NonNullable<ReturnType<typeof storedFaMismatch>>): ConfigError {
  const { id, strategy, stored, built } = found;
  return new ConfigError(
    'strategy.mismatch',
    `${where}: the mapper stored ID ${id}'s FA as "${stored}", where strategy ${strategy.id} as sparctl knows it (${strategy.source ?? 'SPAR default'}) builds "${built}": the deployment's strategy ${strategy.id} is another; this request was applied, nothing more is sent`,
    {
      hint: `declare the deployment's own strategy ${strategy.id} in the profile (strategiesFile or strategies, as its seed data or database has it); a --file run then reads this request's records back and goes on (a single record was linked)`,
    },
  );
}

/**
 * Each item's latest status in the answers about one G2P Connect transaction (callbacks or
 * txn/status polls: a mapper may report progress, items pdng, before the final statuses), and
 * those as one answer for readAnswer.
 */
class LatestStatuses {
  private readonly latest = new Map<string, unknown>();

  constructor(private readonly operation: Operation) {}

  take(list: unknown): void {
    if (!Array.isArray(list)) return;
    for (const entry of list)
      if (isRecordValue(entry) && typeof entry['reference_id'] === 'string') this.latest.set(entry['reference_id'], entry);
  }

  /** Every item's status says what was done (succ, rjct), none that the work goes on (rcvd, pdng). */
  allFinal(items: readonly ProtocolItem[]): boolean {
    return items.every((item) => {
      const entry = this.latest.get(item.reference_id);
      return isRecordValue(entry) && (entry['status'] === 'succ' || entry['status'] === 'rjct');
    });
  }

  get empty(): boolean {
    return this.latest.size === 0;
  }

  /** `message` with its results list made of the latest statuses. */
  message(message: unknown): Record<string, unknown> {
    return { ...(isRecordValue(message) ? message : {}), [`${this.operation}_response`]: [...this.latest.values()] };
  }
}
