import { createServer, type IncomingMessage, type Server, type ServerOptions, type ServerResponse } from 'node:http';
import { installLazyLibraries } from '../lazy-libraries.js';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import type { KeyObject } from 'node:crypto';
import type { z } from 'zod';
import { lazySchema } from '../../core/schema-library.js';
import type { LinkItem, Mapper, ResolveItem, UnlinkItem } from '../../core/mapper.js';
import { describeIssues, recordSchemas, type FinancialAddress } from '../../core/model.js';
import { surelyValidFa } from '../../core/request-items.js';
import { ReasonCode, type ItemResult, type Operation } from '../../core/results.js';
import { canonicalJson } from '../http/canonical-json.js';
import { verifyDetached } from '../http/signing.js';
import { BODY_BUDGET_FACTOR, DEFAULT_MAX_BODY_BYTES, DEFAULT_MAX_ITEMS, MAX_CONNECTIONS, bearerCheck } from './guard.js';

/**
 * `sparctl serve`: a mapper over HTTP that speaks the SPAR v2 partner API (research/spar-api.md
 * §2–§7): same paths, envelope, reason codes and `Signature` check, backed by any Mapper (the
 * local SQLite one). Batch-level answers follow a partner-mgmt-backed SPAR: a missing, bad or
 * unknown-partner signature is HTTP 200 `ERROR / rjct.request.validation`.
 *
 * What SPAR leaves to its gateway is done here, in fastapi-common's error style
 * (`{"errors":[{code, message}]}`): a bearer token (401 `G2P-AUT-401`), and limits that keep the
 * process small whatever it is sent — a body larger than maxBodyBytes is answered 413
 * `G2P-REQ-413` as soon as that shows (at once from its Content-Length) and the rest of it is
 * never read; more than maxItems items is 413 `G2P-REQ-413` too; the bodies held at once, in
 * all, are capped (503 `G2P-REQ-503` beyond); slow senders are cut off (requestTimeoutMs); the
 * connections open at once are capped.
 */

export interface SparServerOptions {
  readonly mapper: Mapper;
  /** Partner id (PARTNER_SOCIAL_REGISTRY) → its public keys. Empty: signatures are not verified. */
  readonly partners: ReadonlyMap<string, readonly KeyObject[]>;
  /** Called once per request, for the access log. Never receives bodies, signatures or tokens. */
  readonly onRequest?: (line: { method: string; path: string; status: number; partner: string | null; items: number; ms: number }) => void;
  /** Largest request body in bytes (default 10 MiB). */
  readonly maxBodyBytes?: number;
  /** Most items in one request (default 5,000). */
  readonly maxItems?: number;
  /** When set, every request but GET /ping must carry `Authorization: Bearer <this token>`. */
  readonly bearerToken?: string;
  /** HTTPS with this PEM certificate (chain) and private key, instead of HTTP. */
  readonly tls?: TlsIdentity;
  /** Longest time to receive one request, headers and body (default 60 s): slow senders are cut off. */
  readonly requestTimeoutMs?: number;
}

export interface TlsIdentity {
  readonly cert: string | Buffer;
  readonly key: string | Buffer;
}

/** How long a connection answered before its body was read stays open for the client to read the answer. */
const LINGER_MS = 1_000;

const OPERATIONS = new Set<string>(['link', 'update', 'resolve', 'unlink']);

// What the server checks with zod: anything its hand checks (surelyValidLinkItem) do not vouch for.
const serverSchemas = lazySchema((z) => {
  const HeaderSchema = z.object({
    sender_app_mnemonic: z.string(),
    sender_app_url: z.string(),
    request_id: z.string(),
    request_timestamp: z.string().refine((value) => !Number.isNaN(Date.parse(value)), { error: 'Input should be a valid datetime' }),
    instance_id: z.string().nullish(),
  });
  const ItemBaseSchema = z.object({
    reference_id: z.string(),
    timestamp: z.string(),
    id: z.string().nullish(),
    locale: z.string().nullish(),
  });
  const ITEM_SCHEMAS: Record<Operation, z.ZodType> = {
    link: ItemBaseSchema.extend({
      fa: z.record(z.string(), z.unknown()),
      name: z.string().nullish(),
      phone_number: z.string().nullish(),
      additional_info: z.array(z.record(z.string(), z.unknown())).nullish(),
    }),
    update: ItemBaseSchema.extend({
      fa: z.record(z.string(), z.unknown()),
      name: z.string().nullish(),
      phone_number: z.string().nullish(),
      additional_info: z.array(z.record(z.string(), z.unknown())).nullish(),
    }),
    resolve: ItemBaseSchema.extend({
      fa: z.string().nullish(),
      scope: z.enum(['yes_no', 'details']).default('yes_no'),
      additional_info: z.array(z.unknown()).nullish(),
    }),
    unlink: ItemBaseSchema.extend({ fa: z.string().nullish() }),
  };
  const envelope = z.object({
    request_header: HeaderSchema,
    request_body: z.object({ request_payload: z.object({ transaction_id: z.string() }).loose() }),
  });
  return { envelope, items: ITEM_SCHEMAS };
});

/** PARTNER_ + the mnemonic upper-cased with - → _, as SPAR derives the key id. */
export function partnerIdOf(mnemonic: string): string {
  return `PARTNER_${mnemonic.toUpperCase().replace(/-/g, '_')}`;
}

/** SPAR's server-local naive timestamp: ISO without a zone, microseconds. */
function naiveNow(): string {
  return `${new Date().toISOString().slice(0, 23)}000`;
}

/** The server: HTTPS when `tls` is given, else HTTP; not yet listening. */
export function createSparServer(options: SparServerOptions & { readonly tls: TlsIdentity }): HttpsServer;
export function createSparServer(options: SparServerOptions): Server;
export function createSparServer(options: SparServerOptions): Server | HttpsServer {
  // The server reads phone numbers in requests, and may be started without the CLI (bench/).
  installLazyLibraries();
  const maxBody = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  const limits: Limits = {
    maxBody,
    maxItems: options.maxItems ?? DEFAULT_MAX_ITEMS,
    budget: { free: maxBody * BODY_BUDGET_FACTOR },
    bearer: options.bearerToken === undefined ? undefined : bearerCheck(options.bearerToken),
  };
  const listener = (request: IncomingMessage, response: ServerResponse) => {
    const started = Date.now();
    let partner: string | null = null;
    let items = 0;
    const held = { bytes: 0 };
    const finish = (status: number, body: unknown, headers: Record<string, string> = {}) => {
      limits.budget.free += held.bytes;
      held.bytes = 0;
      const text = JSON.stringify(body);
      // Answered before its body was all read (too large, not authorised): the rest is not read.
      const unread = !request.complete;
      if (unread) closeUnread(request);
      response.writeHead(status, {
        'content-type': 'application/json',
        'content-length': Buffer.byteLength(text),
        'x-content-type-options': 'nosniff',
        ...headers,
        ...(unread ? { connection: 'close' } : {}),
      });
      response.end(text);
      options.onRequest?.({ method: request.method ?? '', path: request.url ?? '', status, partner, items, ms: Date.now() - started });
    };
    handle(request, options, limits, held, (p, n) => {
      partner = p;
      items = n;
    })
      .then(([status, body, headers]) => finish(status, body, headers))
      .catch(() => finish(500, { errors: [{ code: 'G2P-REQ-100', message: 'Unknown Error.' }] }));
  };
  const requestTimeout = options.requestTimeoutMs ?? 60_000;
  const serverOptions: ServerOptions = {
    requestTimeout,
    headersTimeout: Math.min(20_000, requestTimeout),
    connectionsCheckingInterval: Math.min(5_000, requestTimeout),
    keepAliveTimeout: 5_000,
  };
  const server = options.tls
    ? createHttpsServer({ ...serverOptions, cert: options.tls.cert, key: options.tls.key, handshakeTimeout: 20_000 }, listener)
    : createServer(serverOptions, listener);
  server.maxConnections = MAX_CONNECTIONS;
  // Expect: 100-continue asks whether to send the body: not when its size or token refuses it.
  server.on('checkContinue', (request: IncomingMessage, response: ServerResponse) => {
    const refused =
      Number(request.headers['content-length']) > maxBody ||
      (limits.bearer !== undefined && !limits.bearer(request.headers['authorization']));
    if (!refused) response.writeContinue();
    listener(request, response);
  });
  return server;
}

interface Limits {
  readonly maxBody: number;
  readonly maxItems: number;
  /** Bytes of bodies that may still be held, shared by every request of this server. */
  readonly budget: { free: number };
  readonly bearer: ((authorization: string | undefined) => boolean) | undefined;
}

type Answer = [status: number, body: unknown, headers?: Record<string, string>];

async function handle(
  request: IncomingMessage,
  options: SparServerOptions,
  limits: Limits,
  held: { bytes: number },
  note: (partner: string | null, items: number) => void,
): Promise<Answer> {
  const path = new URL(request.url ?? '/', 'http://localhost').pathname;
  if (path === '/ping') return request.method === 'GET' ? [200, 'pong'] : [405, httpError('G2P-REQ-405', 'Method Not Allowed')];
  // Before anything is read: a caller without the token learns nothing more and costs nothing.
  if (limits.bearer && !limits.bearer(request.headers['authorization'])) {
    return [
      401,
      httpError('G2P-AUT-401', 'Unauthorized. A valid Authorization: Bearer token is required'),
      { 'www-authenticate': 'Bearer' },
    ];
  }
  const match = /^\/mapper\/([a-z]+)$/.exec(path);
  if (!match || !OPERATIONS.has(match[1]!)) return [404, httpError('G2P-REQ-404', 'Not Found')];
  if (request.method !== 'POST') return [405, httpError('G2P-REQ-405', 'Method Not Allowed')];
  const operation = match[1] as Operation;

  const tooLarge: Answer = [413, httpError('G2P-REQ-413', `Request Entity Too Large. At most ${limits.maxBody} bytes per request`)];
  // A Content-Length over the limit is answered at once, without reading a byte of the body.
  if (Number(request.headers['content-length']) > limits.maxBody) return tooLarge;
  const text = await readBody(request, limits, held);
  if (text === 'too_large') return tooLarge;
  if (text === 'busy')
    return [
      503,
      httpError('G2P-REQ-503', 'Service Unavailable. Too many large requests at once; try again shortly'),
      { 'retry-after': '1' },
    ];
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    return [400, httpError('G2P-REQ-102', 'Invalid Input. JSON decode error')];
  }
  const envelope = serverSchemas().envelope.safeParse(body);
  if (!envelope.success) return [400, httpError('G2P-REQ-102', `Invalid Input. ${describeIssues(envelope.error)[0] ?? 'invalid body'}`)];
  const header = envelope.data.request_header;
  const payload = envelope.data.request_body.request_payload as Record<string, unknown>;
  const listKey = `${operation}_request`;
  const given = payload[listKey] ?? [];
  if (Array.isArray(given) && given.length > limits.maxItems) {
    note(options.partners.size > 0 ? partnerIdOf(header.sender_app_mnemonic) : null, given.length);
    return [
      413,
      httpError('G2P-REQ-413', `Request Entity Too Large. ${given.length} items in ${listKey}; at most ${limits.maxItems} per request`),
    ];
  }
  let list: Record<string, unknown>[];
  if ((operation === 'link' || operation === 'update') && Array.isArray(given) && given.every(surelyValidLinkItem)) {
    // The common case, checked by hand; zod (and its messages) for anything else.
    list = given;
  } else {
    const rawItems = serverSchemas().items[operation].array().safeParse(given);
    if (!rawItems.success) return [400, httpError('G2P-REQ-102', `Invalid Input. ${describeIssues(rawItems.error)[0] ?? 'invalid items'}`)];
    list = rawItems.data as Record<string, unknown>[];
  }
  const partner = options.partners.size > 0 ? partnerIdOf(header.sender_app_mnemonic) : null;
  note(partner, list.length);

  const answer = (status: 'SUCCESS' | 'ERROR', results: unknown[], code: string | null = null, message: string | null = null): Answer => [
    200,
    {
      response_header: {
        request_id: header.request_id,
        response_status: status,
        response_error_code: code,
        response_error_message: message,
        response_timestamp: naiveNow(),
      },
      response_body: {
        pagination_response: null,
        response_payload: { transaction_id: payload['transaction_id'], correlation_id: null, [`${operation}_response`]: results },
      },
    },
  ];

  if (options.partners.size > 0) {
    const signature = request.headers['signature'];
    const keys = options.partners.get(partner!) ?? [];
    let valid = false;
    if (typeof signature === 'string' && keys.length > 0) {
      try {
        valid = await verifyDetached(canonicalJson(body), signature, keys);
      } catch {
        valid = false; // a body that cannot be canonicalised cannot carry a valid signature
      }
    }
    if (!valid) return answer('ERROR', [], 'rjct.request.validation', 'StatusReasonCodeEnum.rjct_jwt_invalid');
  }
  if (list.length === 0)
    return answer('ERROR', [], 'rjct.request.validation', `Empty ${listKey} list in request.request_body.request_payload`);

  const context = { source: `sparctl serve (${partner ?? 'unsigned'} ${header.sender_app_mnemonic})` };
  const results = await dispatch(operation, list, options.mapper, context);
  const now = naiveNow();
  return answer(
    'SUCCESS',
    results.map((result, index) => shape(operation, result, list[index]!, now)),
  );
}

/** Runs the items through the mapper; FA objects that are not valid FAs are rejected per item. */
async function dispatch(
  operation: Operation,
  list: Record<string, unknown>[],
  mapper: Mapper,
  context: { source: string },
): Promise<ItemResult[]> {
  const id = (raw: Record<string, unknown>) => (typeof raw['id'] === 'string' ? raw['id'] : '');
  if (operation === 'resolve') {
    return mapper.resolve(
      list.map((raw, i): ResolveItem => ({ reference_id: `${i}`, id: id(raw), scope: raw['scope'] as ResolveItem['scope'] })),
      context,
    );
  }
  if (operation === 'unlink') {
    return mapper.unlink(
      list.map(
        (raw, i): UnlinkItem => ({ reference_id: `${i}`, id: id(raw), ...(typeof raw['fa'] === 'string' ? { fa: raw['fa'] } : {}) }),
      ),
      context,
    );
  }
  const results: (ItemResult | undefined)[] = new Array(list.length);
  const valid: LinkItem[] = [];
  list.forEach((raw, i) => {
    let fa: FinancialAddress;
    if (surelyValidFa(raw['fa'])) fa = raw['fa'];
    else {
      const parsed = recordSchemas().financialAddress.safeParse(raw['fa']);
      if (!parsed.success) {
        results[i] = {
          reference_id: `${i}`,
          id: id(raw),
          status: 'rjct',
          status_reason_code: ReasonCode.faInvalid,
          status_reason_message: describeIssues(parsed.error).join('; '),
        };
        return;
      }
      fa = parsed.data;
    }
    const item: { -readonly [K in keyof LinkItem]: LinkItem[K] } = { reference_id: `${i}`, id: id(raw), fa };
    if (typeof raw['name'] === 'string') item.name = raw['name'];
    if (typeof raw['phone_number'] === 'string') item.phone_number = raw['phone_number'];
    if (Array.isArray(raw['additional_info'])) item.additional_info = raw['additional_info'] as Record<string, unknown>[];
    valid.push(item);
  });
  const applied = valid.length === 0 ? [] : operation === 'link' ? await mapper.link(valid, context) : await mapper.update(valid, context);
  for (const result of applied) results[Number(result.reference_id)] = result;
  return results.map((result) => result!);
}

/** One response item in SPAR v2's shape for this operation. */
function shape(operation: Operation, result: ItemResult, raw: Record<string, unknown>, timestamp: string): Record<string, unknown> {
  // Literal objects, not spreads of a common part: this runs for every item answered.
  const locale = raw['locale'] ?? 'en';
  const { status, status_reason_code, status_reason_message } = result;
  const reference_id = raw['reference_id'];
  switch (operation) {
    case 'link':
      return {
        reference_id,
        timestamp,
        status,
        status_reason_code,
        status_reason_message,
        fa: typeof result.fa === 'string' ? result.fa : null,
        additional_info: null,
        locale,
      };
    case 'update':
    case 'unlink':
      return { reference_id, timestamp, status, status_reason_code, status_reason_message, id: result.id, additional_info: null, locale };
    case 'resolve': {
      const found = result.status === 'succ' && result.status_reason_code === ReasonCode.idActive;
      const echoed = raw['scope'] === 'yes_no' ? (raw['additional_info'] ?? null) : (result.additional_info ?? null);
      return {
        reference_id,
        timestamp,
        status,
        status_reason_code,
        status_reason_message,
        fa: result.fa ?? null,
        id: found ? result.id : null,
        account_provider_info: null,
        additional_info: found ? echoed : null,
        locale,
      };
    }
  }
}

const isPlainObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);
const optionalText = (value: unknown) => value === undefined || value === null || typeof value === 'string';

/** True when the link/update item schema would accept this item: what zod checks, by hand. */
function surelyValidLinkItem(raw: unknown): raw is Record<string, unknown> {
  if (!isPlainObject(raw)) return false;
  const info = raw['additional_info'];
  return (
    typeof raw['reference_id'] === 'string' &&
    typeof raw['timestamp'] === 'string' &&
    optionalText(raw['id']) &&
    isPlainObject(raw['fa']) &&
    optionalText(raw['name']) &&
    optionalText(raw['phone_number']) &&
    (info === undefined || info === null || (Array.isArray(info) && info.every(isPlainObject)))
  );
}

function httpError(code: string, message: string) {
  return { errors: [{ code, message }] };
}

/**
 * The body as text, read chunk by chunk: 'too_large' as soon as it passes maxBody, 'busy' when
 * the bodies held at once would pass the server's budget. Either way reading stops there; what
 * was read is released, and the caller answers and closes the connection.
 */
function readBody(request: IncomingMessage, limits: Limits, held: { bytes: number }): Promise<string | 'too_large' | 'busy'> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const stop = (why: 'too_large' | 'busy') => {
      request.pause();
      request.off('data', onData);
      request.off('end', onEnd);
      chunks.length = 0;
      resolve(why);
    };
    const onData = (chunk: Buffer) => {
      if (held.bytes + chunk.length > limits.maxBody) return stop('too_large');
      if (chunk.length > limits.budget.free) return stop('busy');
      limits.budget.free -= chunk.length;
      held.bytes += chunk.length;
      chunks.push(chunk);
    };
    const onEnd = () => resolve(Buffer.concat(chunks).toString('utf8'));
    request.on('data', onData);
    request.on('end', onEnd);
    request.on('error', reject);
    // Closed before its end (the client went away, the request timed out): what it held is freed.
    request.on('close', () => reject(new Error('request closed before its end')));
  });
}

/**
 * For an answer that goes out before the request's body is all read. Node would read and throw
 * away the rest of the body to keep the connection; instead reading stops, the answer goes out
 * with `Connection: close`, and the socket is shut for writing but destroyed only a moment
 * later: a client still sending (chunked, or ignoring the early answer) then reads the answer
 * instead of a reset that would lose it.
 */
function closeUnread(request: IncomingMessage): void {
  request.pause();
  const socket = request.socket;
  // Node calls destroySoon once a `Connection: close` answer is written; it would destroy at once.
  socket.destroySoon = function lingerThenDestroy(this: typeof socket) {
    this.end();
    setTimeout(() => this.destroy(), LINGER_MS).unref();
  };
}
