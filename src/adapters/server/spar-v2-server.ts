import type { Socket } from 'node:net';
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
 * connections open at once are capped; bodies that are not UTF-8 are refused (400 `G2P-REQ-102`).
 * stopSparServer stops it within a bounded time, executing nothing new.
 */

export interface SparServerOptions {
  readonly mapper: Mapper;
  /** Partner id (PARTNER_SOCIAL_REGISTRY) → its public keys. Empty: signatures are not verified. */
  readonly partners: ReadonlyMap<string, readonly KeyObject[]>;
  /** Called once per request, for the access log. Never receives bodies, signatures or tokens. */
  readonly onRequest?: (line: { method: string; path: string; status: number; partner: string | null; items: number; ms: number }) => void;
  /**
   * Called when a request could not be executed and was answered 500 (the database's disk full,
   * its file gone, a bug): the client is told only "Unknown Error", so this is where the reason
   * is said. Never receives bodies, signatures or tokens.
   */
  readonly onFailure?: (failure: { method: string; path: string; error: unknown }) => void;
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
  const stopping: Stopping = { asked: false, cutOff: false, graceMs: DEFAULT_SHUTDOWN_GRACE_MS };
  // Every connection by its peer's address and port: the same for a TLS socket and the TCP one under it.
  const connections = new Map<string, Socket>();
  const inFlight = new Set<InFlight>();
  // Requests being handled: the database is closed only once all have settled, even if their clients left.
  const working = new Set<Promise<void>>();
  const listener = (request: IncomingMessage, response: ServerResponse) => {
    const started = Date.now();
    let partner: string | null = null;
    let items = 0;
    const entry: InFlight = { peer: peerOf(request.socket), socket: request.socket, held: { bytes: 0, cut: undefined }, answered: false };
    const held = entry.held;
    watchErrors(request.socket);
    let done = false;
    const finish = (status: number, body: unknown, headers: Record<string, string> = {}) => {
      if (done) return;
      done = true;
      // In flight until its answer has left (or its connection is gone): an answer still being
      // written when the stop's deadline comes is not cut off mid-body — its request was executed.
      entry.answered = true;
      if (response.writableFinished || request.socket.destroyed) inFlight.delete(entry);
      else response.once('close', () => inFlight.delete(entry));
      limits.budget.free += held.bytes;
      held.bytes = 0;
      held.cut = undefined;
      if (request.socket.destroyed) {
        // Nothing of this answer can go out: log what the client got, if anything (499: nothing).
        status = statusNodeSent(socketErrors.get(request.socket)) ?? 499;
      } else {
        const text = JSON.stringify(body);
        // Answered before its body was all read (too large, not authorised): the rest is not read.
        const unread = !request.complete;
        if (unread) closeUnread(request);
        response.writeHead(status, {
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(text),
          'x-content-type-options': 'nosniff',
          ...headers,
          // Stopping, no connection is kept for a next request.
          ...(unread || stopping.asked ? { connection: 'close' } : {}),
        });
        // Ended once the body is flushed: Node counts a connection whose response was ended as
        // idle, and closing idle connections (a stop does) would cut an answer still being
        // written to a slow reader off mid-body — though its request was executed.
        response.write(text, () => response.end());
        // An answer that went out keep-alive just before a stop leaves its connection idle: ended
        // once sent (a FIN after the data; destroying it could reset the connection, and a reset
        // discards what the client has not read yet).
        response.once('finish', () => {
          if (stopping.asked) request.socket.end();
        });
        // A request answered after the deadline: a client that stops reading its answer keeps the process no longer.
        if (stopping.cutOff) cutWhenStalled(request.socket);
      }
      options.onRequest?.({ method: request.method ?? '', path: request.url ?? '', status, partner, items, ms: Date.now() - started });
    };
    if (stopping.asked) {
      finish(503, STOPPING_ERROR, { 'retry-after': STOPPING_RETRY_AFTER });
      return;
    }
    inFlight.add(entry);
    const work = handle(request, options, limits, held, (p, n) => {
      partner = p;
      items = n;
    })
      .then(([status, body, headers]) => finish(status, body, headers))
      .catch((error: unknown) => {
        // The body never came whole: the client left (499), or Node answered it (400, 408).
        if (error instanceof BodyNotRead) return finish(400, { errors: [{ code: 'G2P-REQ-102', message: 'Invalid Input.' }] });
        options.onFailure?.({ method: request.method ?? '', path: request.url ?? '', error });
        finish(500, { errors: [{ code: 'G2P-REQ-100', message: 'Unknown Error.' }] });
      });
    working.add(work);
    void work.finally(() => working.delete(work));
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
  server.on('connection', (socket: Socket) => {
    const peer = peerOf(socket);
    connections.set(peer, socket);
    socket.once('close', () => {
      if (connections.get(peer) === socket) connections.delete(peer);
    });
  });
  // Expect: 100-continue asks whether to send the body: not when its size or token refuses it, nor when stopping.
  server.on('checkContinue', (request: IncomingMessage, response: ServerResponse) => {
    const refused =
      stopping.asked ||
      Number(request.headers['content-length']) > maxBody ||
      (limits.bearer !== undefined && !limits.bearer(request.headers['authorization']));
    if (!refused) response.writeContinue();
    listener(request, response);
  });
  SHUTDOWNS.set(server, async (graceMs) => {
    stopping.asked = true;
    stopping.graceMs = graceMs;
    // server.close() also stops Node's check of request times: the deadline below stands in for it.
    // (It destroys the connections Node counts idle; an answer counts only once it has been
    // handed to the system whole — see finish — so none is cut off in Node's buffers. What the
    // system still holds for a slow reader of an answer finished before the stop may be lost:
    // a client that reads back state after a lost answer, as sparctl does, is not misled.)
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeIdleConnections();
    const deadline = setTimeout(() => {
      stopping.cutOff = true;
      // Requests still being sent are answered 503 and closed; those being executed finish.
      const busy = new Set<string>();
      for (const { peer, socket, held, answered } of inFlight) {
        held.cut?.();
        // An answer being written is not cut off while the client reads it (within a bound).
        if (answered) cutWhenStalled(socket);
        busy.add(peer);
      }
      // Idle, half-sent headers, TLS handshakes: nothing is being done for them (ended, then
      // destroyed one grace later if the client holds on).
      for (const [peer, socket] of connections) if (!busy.has(peer)) endGracefully(socket, graceMs);
    }, graceMs);
    await closed;
    clearTimeout(deadline);
    while (working.size > 0) await Promise.allSettled([...working]);
  });
  return server;
}

/** How long, after a stop is asked for, requests still being sent may take before they are cut off. */
export const DEFAULT_SHUTDOWN_GRACE_MS = 5_000;
/** Retry-After of the 503 answered while stopping: a restarted server is back within seconds. */
const STOPPING_RETRY_AFTER = '5';
const STOPPING_ERROR = httpError('G2P-REQ-503', 'Service Unavailable. The server is stopping; try again shortly');

const SHUTDOWNS = new WeakMap<Server | HttpsServer, (graceMs: number) => Promise<void>>();

/**
 * Stops a server made by createSparServer: no new connection is accepted; a request arriving on
 * a connection still open is answered 503 `G2P-REQ-503` with Retry-After, and every answer says
 * `Connection: close`; idle connections are closed. Requests being executed (their body all
 * received) finish; after `graceMs`, a request still being sent is answered 503 and closed, and
 * any other connection is closed. Resolves once every connection is closed and every request
 * handled: the mapper may then be closed.
 */
export function stopSparServer(server: Server | HttpsServer, graceMs: number = DEFAULT_SHUTDOWN_GRACE_MS): Promise<void> {
  const shutdown = SHUTDOWNS.get(server);
  if (!shutdown) throw new Error('stopSparServer: not a server made by createSparServer');
  return shutdown(graceMs);
}

interface Stopping {
  /** A stop was asked for. */
  asked: boolean;
  /** The grace is over: requests still being sent have been cut off. */
  cutOff: boolean;
  graceMs: number;
}

interface Held {
  /** Bytes of this request's body held. */
  bytes: number;
  /** While the body is being received: stops reading it, and the request is answered 503 (stopping). */
  cut: (() => void) | undefined;
}

interface InFlight {
  readonly peer: string;
  readonly socket: Socket;
  readonly held: Held;
  /** Its answer was handed over (it may still be being written). */
  answered: boolean;
}

/** Ends `socket` (a FIN after what is still to be sent), and destroys it if still open a grace later. */
function endGracefully(socket: Socket, graceMs: number): void {
  if (socket.destroyed) return;
  socket.end();
  setTimeout(() => socket.destroy(), graceMs).unref();
}

/**
 * Destroys `socket` if its answer is still not taken `ANSWER_READ_LIMIT_MS` from now. An answer to
 * an executed request is not cut off while a slow client reads it (it would retry, and apply
 * the request twice); only a client that holds on longer than a request may take to send is.
 * (Progress cannot be told: one large write is counted whole until it completes.)
 */
function cutWhenStalled(socket: Socket): void {
  setTimeout(() => socket.destroy(), ANSWER_READ_LIMIT_MS).unref();
}

/** How long a stopping server lets a client take to read an answer it has begun to receive. */
const ANSWER_READ_LIMIT_MS = 60_000;

function peerOf(socket: Socket): string {
  return `${socket.remoteAddress}|${socket.remotePort}`;
}

/** The last error of each connection: Node answers some itself (a 408 when the request time is up) before it closes the socket. */
const socketErrors = new WeakMap<Socket, string | undefined>();

function watchErrors(socket: Socket): void {
  if (socketErrors.has(socket)) return;
  socketErrors.set(socket, undefined);
  socket.on('error', (error: NodeJS.ErrnoException) => socketErrors.set(socket, error.code));
}

/** The status Node wrote itself before it closed a socket on this error (socketOnError); undefined: none. */
function statusNodeSent(code: string | undefined): number | undefined {
  if (code === 'ERR_HTTP_REQUEST_TIMEOUT') return 408;
  if (code === 'HPE_HEADER_OVERFLOW') return 431;
  if (code === 'HPE_CHUNK_EXTENSIONS_OVERFLOW') return 413;
  if (code?.startsWith('HPE_')) return 400;
  return undefined;
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
  held: Held,
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
  if (text === 'stopping') return [503, STOPPING_ERROR, { 'retry-after': STOPPING_RETRY_AFTER }];
  if (text === 'not_utf8') return [400, httpError('G2P-REQ-102', 'Invalid Input. JSON decode error: the body is not valid UTF-8')];
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
    // Refused before the signature is read: the partner named is the one claimed, unchecked.
    note(options.partners.size > 0 ? `${partnerIdOf(header.sender_app_mnemonic)} (signature not checked)` : null, given.length);
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
    // The access log names the partner a request claims: one whose signature failed says so,
    // or it reads as the partner's own request.
    note(valid ? partner : `${partner} (signature refused)`, list.length);
    if (!valid) return answer('ERROR', [], 'rjct.request.validation', 'StatusReasonCodeEnum.rjct_jwt_invalid');
  } else note(partner, list.length);
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
 * the bodies held at once would pass the server's budget, 'stopping' when the server cuts it off
 * (held.cut). Either way reading stops there; what was read is released, and the caller answers
 * and closes the connection. 'not_utf8': the body is not UTF-8 (replacing the bad bytes would
 * make different IDs one).
 */
// A BOM is kept, as Buffer#toString keeps it (JSON.parse then refuses it, as before).
const STRICT_UTF8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

function readBody(request: IncomingMessage, limits: Limits, held: Held): Promise<string | 'too_large' | 'busy' | 'stopping' | 'not_utf8'> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const stop = (why: 'too_large' | 'busy' | 'stopping') => {
      held.cut = undefined;
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
    const onEnd = () => {
      held.cut = undefined;
      try {
        resolve(STRICT_UTF8.decode(Buffer.concat(chunks)));
      } catch {
        resolve('not_utf8');
      }
    };
    held.cut = () => stop('stopping');
    request.on('data', onData);
    request.on('end', onEnd);
    // The client's doing (gone mid-body, a body Node cannot parse, too slow): no failure of
    // sparctl's, and what the request held is freed.
    request.on('error', (error) => reject(new BodyNotRead(error.message)));
    request.on('close', () => reject(new BodyNotRead('request closed before its end')));
  });
}

/** A request body that never came whole, for the client's reasons: logged with what the client got, never as a bug. */
class BodyNotRead extends Error {}

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
