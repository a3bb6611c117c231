/**
 * A fake G2P Connect ID → FA mapper (mapper_core_api v1.0.0 Draft) for tests: a real HTTP server
 * on 127.0.0.1 with an in-memory store. References are to research/g2p-connect.md (the project's research notes).
 *
 * Endpoints (§2.1): POST /mapper/sync/{link,update,unlink,resolve}, /mapper/sync/txn/status and
 * the spec's typo /registry/sync/txn/status answer the full callback-style envelope (§3.2).
 * POST /mapper/{link,update,unlink,resolve} and /mapper/txn/status answer an Ack (§3.4) and then
 * POST the result envelope to the callback URL. POST /oauth2/client/token issues bearer tokens.
 * The operation comes from the path; `header.action` may be any string (spec typos, §2.1).
 *
 * Wire choices:
 * - Callback URL: `sender_uri` is a base URL and the fake appends `/on-<op>` or `/txn/on-status`
 *   (SPAR 1.1's convention, §8.3, and the receiver paths of §8.2). `callbackUrl: 'exact'` posts to
 *   `sender_uri` as given (the spec example's full-URL reading, §5.5). No retries (like SPAR).
 * - Encryption (§6.5): `message` is a JWE flattened JSON object with the per-recipient unprotected
 *   `header: {alg, enc, kid}` and `encrypted_key, iv, ciphertext, tag`; RSA-OAEP-256 + A256GCM;
 *   `kid` must be the fake's key id (`encryptionKey.kid`). Answers are encrypted the same way, to
 *   the client's key, when the request was encrypted and a client key is known.
 * - Signatures (§6.3): a detached compact RS256 JWS `<b64 header>..<b64 sig>` in the HTTP header
 *   `Signature`, over the canonical JSON of the whole body; the body `signature` field stays null
 *   (the spec never defines it, §6.2). Encrypt first, then sign (§6.5).
 *
 * Deliberate deviations from the spec:
 * - already-linked link → rjct.reference_id.duplicate (what SPAR and the client expect, §5.1, §11.4);
 *   update/unlink of a missing id → rjct.id.invalid "ID doesn't exist…" (the spec has no code, SPAR adds it, §4.5);
 * - sync responses carry action on-<op>, not the spec's `on-search` typo;
 * - a txn/status that finds nothing answers header status rjct with no reason code (none fits §4.4);
 * - store changes apply on receipt; the callback only reports them later.
 */
import { randomBytes, randomUUID, type KeyObject } from 'node:crypto';
import { createServer, request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import {
  CompactSign,
  FlattenedEncrypt,
  calculateJwkThumbprint,
  compactVerify,
  exportJWK,
  exportSPKI,
  flattenedDecrypt,
  generateKeyPair,
  importJWK,
  importSPKI,
  importX509,
  type CryptoKey,
  type FlattenedJWE,
  type JWK,
} from 'jose';
import { canonicalJson } from '../../src/adapters/http/canonical-json.js';
import { listenOnLoopback } from './loopback.js';

export type G2pOperation = 'link' | 'update' | 'unlink' | 'resolve';
export type G2pMode = 'normal' | 'nack' | 'err' | 'noCallback' | 'callbackFails';
export type AckStatus = 'ACK' | 'NACK' | 'ERR';

/** One-shot faults. `http` hits any request (the token endpoint too); the others the next async request. */
export type G2pFault =
  | { kind: 'nack'; code?: string }
  | { kind: 'err'; code?: string }
  | { kind: 'noCallback' }
  | { kind: 'callbackFails' }
  | { kind: 'delay'; ms: number }
  | { kind: 'http'; status: number; count?: number };

/** A public key: PEM (SPKI or X.509 certificate) or a JWK. */
export type PublicKeyInput = string | JWK;

export interface G2pConnectFakeOptions {
  /** Behaviour of async requests when no injected fault applies (default 'normal'). */
  mode?: G2pMode;
  /** Ack error code used by mode 'err' (default err.request.bad) and 'nack' (default none). */
  errorCode?: string;
  /** Delay before a callback is sent (default 20 ms). */
  delayMs?: number;
  /** Require `Authorization: Bearer <token from /oauth2/client/token>` on every mapper endpoint. */
  requireAuth?: boolean;
  /** Registered clients (client_id → secret); absent means any non-empty pair is accepted. */
  clients?: Record<string, string>;
  /** Token lifetime in seconds (default 3600). */
  tokenTtlSeconds?: number;
  /** expires_in as the authz spec's string ("3600") instead of RFC 6749's number. */
  expiresInAsString?: boolean;
  /** 'append' (default): sender_uri + '/on-link' …; 'exact': sender_uri as given. */
  callbackUrl?: 'append' | 'exact';
  /** Used when a request has no sender_uri ("configured at onboarding", MsgHeader). */
  defaultCallbackUrl?: string;
  /** The fake's sender_id in answers (default 'mapper.fake.g2p'). */
  senderId?: string;
  /** Initial store, id → FA. */
  mappings?: Record<string, string> | Iterable<[string, string]>;
  /** Batches larger than this are rejected with rjct.total_count.limit_exceeded. */
  maxItems?: number;
  /** The client's encryption public key: answers to encrypted requests are encrypted to it. */
  clientEncryptionKey?: PublicKeyInput;
  /** kid to put in answers encrypted to the client (default: the key's JWK thumbprint). */
  clientEncryptionKid?: string;
  /** Sign callbacks and sync envelopes (Signature header, see above). */
  signCallbacks?: boolean;
  /** When set, every mapper request must carry a Signature header that verifies with this key. */
  clientSigningKey?: PublicKeyInput;
}

export interface G2pRecordedRequest {
  method: string;
  path: string;
  kind: 'sync' | 'async' | 'token' | 'other';
  /** The operation the path names, or 'txn-status'. */
  operation: G2pOperation | 'txn-status' | null;
  action: string | null;
  message_id: string | null;
  transaction_id: string | null;
  encrypted: boolean;
  /** Whether an Authorization / Signature header was present (their values are never kept). */
  hasBearer: boolean;
  hasSignature: boolean;
  httpStatus: number;
  ackStatus?: AckStatus;
  /** The (decrypted) message, when it could be read. */
  message?: unknown;
}

export interface G2pCallbackRecord {
  url: string;
  action: string;
  transaction_id: string | null;
  message_id: string;
  encrypted: boolean;
  signed: boolean;
  /** delivered: the receiver answered 2xx; failed: unreachable or non-2xx; suppressed: noCallback. */
  outcome: 'delivered' | 'failed' | 'suppressed';
  httpStatus?: number;
  /** The receiver's ack_status, when it answered an Ack. */
  ackStatus?: string;
  error?: string;
  /** The envelope as sent (message encrypted if it was). */
  body: Record<string, unknown>;
  /** The plaintext message. */
  message: unknown;
}

export interface G2pTransaction {
  transaction_id: string;
  correlation_id: string;
  operation: G2pOperation;
  /** The response message: {transaction_id, correlation_id, <op>_response: [...]}. */
  response: Record<string, unknown>;
}

export interface FakeKey {
  kid: string;
  publicJwk: JWK;
  publicPem: string;
}

export interface G2pConnectFake {
  /** e.g. http://127.0.0.1:40123 */
  url: string;
  requests: G2pRecordedRequest[];
  callbacks: G2pCallbackRecord[];
  /** The live store, id → FA string; tests may seed or inspect it. */
  mappings: Map<string, string>;
  /** transaction_id → results, as txn/status reports them. */
  transactions: Map<string, G2pTransaction>;
  /** RSA-OAEP-256 key clients encrypt `message` to. */
  encryptionKey: FakeKey;
  /** RS256 key that signs callbacks when signCallbacks is on. */
  signingKey: FakeKey;
  inject(...faults: G2pFault[]): void;
  /** Change the defaults of later requests. */
  configure(changes: {
    mode?: G2pMode;
    delayMs?: number;
    errorCode?: string;
    clientEncryptionKey?: PublicKeyInput;
    clientEncryptionKid?: string;
  }): Promise<void>;
  /** A valid token without the HTTP round trip. */
  issueToken(): string;
  /** Expire every token issued so far. */
  expireTokens(): void;
  /** Resolves when every scheduled callback has been sent (or failed). */
  settled(): Promise<void>;
  close(): Promise<void>;
}

// ---------------------------------------------------------------------------------------------

type Json = Record<string, unknown>;
const OPERATIONS: readonly G2pOperation[] = ['link', 'update', 'unlink', 'resolve'];
const JWE_ALG = 'RSA-OAEP-256';
const JWE_ENC = 'A256GCM';
const NOT_FOUND_MESSAGE = "ID doesn't exist, please link first";

const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const str = (v: unknown): string | null => (typeof v === 'string' ? v : null);
const nowIso = (): string => new Date().toISOString();
const validTs = (v: unknown): boolean => typeof v === 'string' && /^\d{4}-\d{2}-\d{2}T/.test(v) && !Number.isNaN(Date.parse(v));

interface Answer {
  status: number;
  body: string;
  headers: Record<string, string>;
}

const json = (status: number, value: unknown, headers: Record<string, string> = {}): Answer => ({
  status,
  body: JSON.stringify(value),
  headers: { 'content-type': 'application/json', ...headers },
});
/** HttpErrorResponse (§3.4): what gateways answer on 4xx/5xx. */
const errors = (status: number, code: string, message: string, headers: Record<string, string> = {}): Answer =>
  json(status, { errors: [{ code, message }] }, headers);

const ack = (status: AckStatus, correlationId: string | null, error?: { code: string; message: string }): Answer =>
  json(200, { message: { ack_status: status, timestamp: nowIso(), error: error ?? null, correlation_id: correlationId } });

async function importPublic(key: PublicKeyInput, alg: string): Promise<CryptoKey | KeyObject> {
  if (typeof key !== 'string') return (await importJWK(key, alg)) as CryptoKey;
  return key.includes('BEGIN CERTIFICATE') ? importX509(key, alg) : importSPKI(key, alg);
}

async function makeKey(alg: string): Promise<{ key: FakeKey; privateKey: CryptoKey }> {
  const pair = await generateKeyPair(alg, { extractable: true });
  const publicJwk = await exportJWK(pair.publicKey);
  const kid = await calculateJwkThumbprint(publicJwk);
  return { key: { kid, publicJwk: { ...publicJwk, kid, alg }, publicPem: await exportSPKI(pair.publicKey) }, privateKey: pair.privateKey };
}

/** RSA key generation costs ~100 ms a key: every fake in a test process shares one pair of keys. */
let sharedKeys: Promise<[{ key: FakeKey; privateKey: CryptoKey }, { key: FakeKey; privateKey: CryptoKey }]> | undefined;
const fakeKeys = () => (sharedKeys ??= Promise.all([makeKey(JWE_ALG), makeKey('RS256')]));

/** Thrown while reading a request: becomes ERR (async) or an HTTP error list (sync). */
class TransportProblem extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly httpStatus = 400,
  ) {
    super(message);
  }
}

interface Parsed {
  envelope: Json;
  header: Json;
  message: Json;
  encrypted: boolean;
}

// ---------------------------------------------------------------------------------------------

export async function startG2pConnectFake(options: G2pConnectFakeOptions = {}): Promise<G2pConnectFake> {
  const [enc, sig] = await fakeKeys();
  const settings = {
    mode: options.mode ?? 'normal',
    delayMs: options.delayMs ?? 20,
    errorCode: options.errorCode,
  };
  let clientEnc: { key: CryptoKey | KeyObject; kid: string } | undefined;
  const setClientEncryptionKey = async (key: PublicKeyInput, kid?: string): Promise<void> => {
    const jwk = typeof key === 'string' ? await exportJWK(await importPublic(key, JWE_ALG)) : key;
    clientEnc = { key: await importPublic(key, JWE_ALG), kid: kid ?? (await calculateJwkThumbprint(jwk)) };
  };
  if (options.clientEncryptionKey) await setClientEncryptionKey(options.clientEncryptionKey, options.clientEncryptionKid);
  const clientVerifyKey = options.clientSigningKey ? await importPublic(options.clientSigningKey, 'RS256') : undefined;
  const senderId = options.senderId ?? 'mapper.fake.g2p';

  const mappings = new Map<string, string>(
    options.mappings
      ? Symbol.iterator in options.mappings
        ? [...(options.mappings as Iterable<[string, string]>)]
        : Object.entries(options.mappings)
      : [],
  );
  const transactions = new Map<string, G2pTransaction>();
  const byCorrelation = new Map<string, G2pTransaction>();
  const seenMessageIds = new Set<string>();
  const tokens = new Map<string, number>(); // token → expiry (ms)
  const requests: G2pRecordedRequest[] = [];
  const callbacks: G2pCallbackRecord[] = [];
  const asyncFaults: Exclude<G2pFault, { kind: 'http' }>[] = [];
  const httpFaults: number[] = [];
  const pending = new Set<Promise<void>>();
  const wakers = new Set<() => void>();
  let closed = false;

  const issueToken = (): string => {
    const token = randomBytes(24).toString('base64url');
    tokens.set(token, Date.now() + (options.tokenTtlSeconds ?? 3600) * 1000);
    return token;
  };

  // --- message crypto -----------------------------------------------------------------------

  async function decryptMessage(value: unknown): Promise<Json> {
    const e = isObject(value) ? value : {};
    const header = isObject(e['header']) ? e['header'] : undefined;
    for (const part of ['ciphertext', 'encrypted_key', 'tag', 'iv']) {
      if (typeof e[part] !== 'string') throw new TransportProblem('err.encryption.invalid', `EncryptedMessage.${part} is missing`);
    }
    if (!header || header['alg'] !== JWE_ALG || header['enc'] !== JWE_ENC) {
      throw new TransportProblem('err.encryption.invalid', `EncryptedMessage.header must be {alg: ${JWE_ALG}, enc: ${JWE_ENC}, kid}`);
    }
    if (header['kid'] !== enc.key.kid)
      throw new TransportProblem('err.encryption.invalid', 'EncryptedMessage.header.kid is not the mapper key');
    try {
      const jwe = { header, encrypted_key: e['encrypted_key'], iv: e['iv'], ciphertext: e['ciphertext'], tag: e['tag'] } as FlattenedJWE;
      const { plaintext } = await flattenedDecrypt(jwe, enc.privateKey, {
        keyManagementAlgorithms: [JWE_ALG],
        contentEncryptionAlgorithms: [JWE_ENC],
      });
      const message: unknown = JSON.parse(new TextDecoder().decode(plaintext));
      if (!isObject(message)) throw new Error('not an object');
      return message;
    } catch {
      throw new TransportProblem('err.encryption.invalid', 'the message cannot be decrypted');
    }
  }

  async function encryptMessage(message: unknown): Promise<Json> {
    if (!clientEnc) throw new Error('no client key');
    const jwe = await new FlattenedEncrypt(new TextEncoder().encode(JSON.stringify(message)))
      .setUnprotectedHeader({ alg: JWE_ALG, enc: JWE_ENC, kid: clientEnc.kid })
      .encrypt(clientEnc.key);
    return { header: jwe.header, encrypted_key: jwe.encrypted_key, iv: jwe.iv, ciphertext: jwe.ciphertext, tag: jwe.tag };
  }

  /** An answer envelope, encrypted when the request was and we can, then signed (§6.5 order). */
  async function seal(
    header: Json,
    message: unknown,
    requestEncrypted: boolean,
  ): Promise<{ body: Json; text: string; headers: Record<string, string>; encrypted: boolean }> {
    const encrypted = requestEncrypted && clientEnc !== undefined && message !== undefined;
    const body: Json = {
      signature: null,
      header: { ...header, is_msg_encrypted: encrypted },
      ...(message === undefined ? {} : { message: encrypted ? await encryptMessage(message) : message }),
    };
    if (!options.signCallbacks) return { body, text: JSON.stringify(body), headers: {}, encrypted };
    // Send exactly the signed bytes (§6.3).
    const text = canonicalJson(body);
    const [h, , s] = (
      await new CompactSign(new TextEncoder().encode(text)).setProtectedHeader({ alg: 'RS256', kid: sig.key.kid }).sign(sig.privateKey)
    ).split('.');
    return { body, text, headers: { signature: `${h}..${s}` }, encrypted };
  }

  async function verifySignature(req: IncomingMessage, envelope: Json): Promise<void> {
    if (!clientVerifyKey) return;
    const value = req.headers['signature'];
    if (typeof value !== 'string' || value === '') throw new TransportProblem('err.signature.missing', 'no Signature header', 401);
    const [h, mid, s] = value.split('.');
    try {
      if (mid !== '' || !h || !s) throw new Error('not detached');
      const payload = Buffer.from(canonicalJson(envelope)).toString('base64url');
      await compactVerify(`${h}.${payload}.${s}`, clientVerifyKey, { algorithms: ['RS256'] });
    } catch {
      throw new TransportProblem('err.signature.invalid', 'the Signature header does not verify', 401);
    }
  }

  // --- request reading ----------------------------------------------------------------------

  async function parse(raw: string, record: G2pRecordedRequest, req: IncomingMessage): Promise<Parsed> {
    let envelope: unknown;
    try {
      envelope = JSON.parse(raw);
    } catch {
      throw new TransportProblem('err.request.bad', 'the body is not JSON');
    }
    if (!isObject(envelope) || !isObject(envelope['header']))
      throw new TransportProblem('err.request.bad', 'the body has no header object');
    const header = envelope['header'];
    record.action = str(header['action']);
    record.message_id = str(header['message_id']);
    // OpenG2P also reads is_encrypted (§3.1).
    const encrypted = header['is_msg_encrypted'] === true || header['is_encrypted'] === true;
    record.encrypted = encrypted;
    for (const key of ['message_id', 'action', 'sender_id']) {
      if (typeof header[key] !== 'string' || header[key] === '') throw new TransportProblem('err.request.bad', `header.${key} is required`);
    }
    if (header['message_ts'] === undefined) throw new TransportProblem('err.request.bad', 'header.message_ts is required');
    if (!Number.isInteger(header['total_count'])) throw new TransportProblem('err.request.bad', 'header.total_count must be an integer');
    await verifySignature(req, envelope);
    if (!isObject(envelope['message'])) throw new TransportProblem('err.request.bad', 'the body has no message object');
    const message = encrypted ? await decryptMessage(envelope['message']) : envelope['message'];
    record.message = message;
    record.transaction_id = str(message['transaction_id']);
    return { envelope, header, message, encrypted };
  }

  /** Header-level rejection (§4.4) or null. Does not consume the message_id. */
  function headerProblem(parsed: Parsed, itemCount: number | null): { code: string; message: string } | null {
    const messageId = parsed.header['message_id'] as string;
    if (seenMessageIds.has(messageId))
      return { code: 'rjct.message_id.duplicate', message: `message_id ${messageId} was already received` };
    if (!validTs(parsed.header['message_ts']))
      return { code: 'rjct.message_ts.invalid', message: 'message_ts is not an ISO 8601 date-time' };
    if (itemCount !== null && parsed.header['total_count'] !== itemCount) {
      return {
        code: 'rjct.total_count.invalid',
        message: `total_count is ${String(parsed.header['total_count'])} but the message has ${itemCount} items`,
      };
    }
    if (itemCount !== null && options.maxItems !== undefined && itemCount > options.maxItems) {
      return { code: 'rjct.total_count.limit_exceeded', message: `at most ${options.maxItems} items per message` };
    }
    return null;
  }

  function callbackHeader(
    parsed: Parsed,
    action: string,
    status: string,
    itemCount: number,
    reason?: { code: string | null; message: string },
  ): Json {
    return {
      version: '1.0.0',
      message_id: randomUUID(),
      message_ts: nowIso(),
      action,
      status,
      status_reason_code: reason?.code ?? null,
      status_reason_message: reason?.message ?? null,
      total_count: itemCount,
      completed_count: reason ? 0 : itemCount,
      sender_id: senderId,
      receiver_id: parsed.header['sender_id'],
    };
  }

  // --- the store ----------------------------------------------------------------------------

  function processItems(operation: G2pOperation, items: unknown[]): Json[] {
    const seenRefs = new Set<string>();
    return items.map((raw) => {
      const item = isObject(raw) ? raw : {};
      const referenceId = str(item['reference_id']);
      const id = str(item['id']);
      const fa = str(item['fa']);
      const out: Json = { reference_id: referenceId ?? '', timestamp: nowIso() };
      const done = (status: 'succ' | 'rjct', code: string | null, message: string | null, extra: Json = {}): Json => ({
        ...out,
        ...extra,
        status,
        status_reason_code: code,
        status_reason_message: message,
        locale: str(item['locale']) ?? 'eng',
      });
      if (!referenceId) return done('rjct', 'rjct.reference_id.invalid', 'reference_id is required');
      if (seenRefs.has(referenceId)) return done('rjct', 'rjct.reference_id.duplicate', 'reference_id repeats within the message');
      seenRefs.add(referenceId);
      if (!validTs(item['timestamp'])) return done('rjct', 'rjct.timestamp.invalid', 'timestamp is not an ISO 8601 date-time');

      if (operation === 'resolve') {
        const scope = item['scope'] ?? 'yes_no';
        if (scope !== 'yes_no' && scope !== 'details')
          return done('rjct', 'rjct.resolve_type.not_supported', `scope ${String(scope)} is not supported`);
        const details = scope === 'details';
        if (id) {
          const stored = mappings.get(id);
          if (stored === undefined) return done('succ', 'succ.id.not_found', 'ID is not linked', { id });
          if (fa && fa !== stored) return done('succ', 'succ.fa.not_linked_to_id', 'the FA is not linked to this ID', { id });
          return done('succ', 'succ.id.active', null, { id, ...(details ? { fa: stored } : {}) });
        }
        if (fa) {
          const owner = [...mappings].find(([, value]) => value === fa)?.[0];
          if (owner === undefined) return done('succ', 'succ.fa.not_found', 'FA is not linked', { fa });
          return done('succ', 'succ.fa.active', null, { fa, ...(details ? { id: owner } : {}) });
        }
        return done('rjct', 'rjct.reference_id.invalid', 'neither id nor fa given');
      }

      if (!id) return done('rjct', 'rjct.id.invalid', 'id is required');
      if (operation === 'link') {
        if (!fa) return done('rjct', 'rjct.fa.invalid', 'fa is required', { fa: item['fa'] ?? null });
        if (mappings.has(id)) return done('rjct', 'rjct.reference_id.duplicate', 'ID and FA are already mapped', { fa });
        mappings.set(id, fa);
        return done('succ', null, null, { fa });
      }
      if (operation === 'update') {
        if (!fa) return done('rjct', 'rjct.fa.invalid', 'fa is required', { id });
        if (!mappings.has(id)) return done('rjct', 'rjct.id.invalid', NOT_FOUND_MESSAGE, { id });
        mappings.set(id, fa);
        return done('succ', null, null, { id, fa });
      }
      // unlink: with fa, only that exact pair is removed (§5.4).
      const stored = mappings.get(id);
      if (stored === undefined) return done('rjct', 'rjct.id.invalid', NOT_FOUND_MESSAGE, { id });
      if (fa && fa !== stored) return done('rjct', 'rjct.fa.invalid', 'the FA is not the one linked to this ID', { id });
      mappings.delete(id);
      return done('succ', null, null, { id });
    });
  }

  /** Validates, applies and remembers one operation; returns the callback envelope parts. */
  function runOperation(operation: G2pOperation, parsed: Parsed, correlationId: string): { header: Json; message: Json } {
    const items = parsed.message[`${operation}_request`];
    if (!Array.isArray(items)) throw new TransportProblem('err.request.bad', `message.${operation}_request must be a list`);
    const transactionId = str(parsed.message['transaction_id']);
    if (!transactionId) throw new TransportProblem('err.request.bad', 'message.transaction_id is required');
    const action = `on-${operation}`;
    const problem = headerProblem(parsed, items.length);
    const response: Json = { transaction_id: transactionId, correlation_id: correlationId, [`${operation}_response`]: [] };
    if (problem) return { header: callbackHeader(parsed, action, 'rjct', items.length, problem), message: response };
    seenMessageIds.add(parsed.header['message_id'] as string);
    response[`${operation}_response`] = processItems(operation, items);
    const txn: G2pTransaction = { transaction_id: transactionId, correlation_id: correlationId, operation, response };
    transactions.set(transactionId, txn);
    byCorrelation.set(correlationId, txn);
    return { header: callbackHeader(parsed, action, 'succ', items.length), message: response };
  }

  function runTxnStatus(parsed: Parsed, correlationId: string): { header: Json; message?: Json } {
    const transactionId = str(parsed.message['transaction_id']);
    // The spec has an object; OpenG2P's libraries send a list of them (§5.6).
    const rawRequest = parsed.message['txnstatus_request'];
    const request = Array.isArray(rawRequest) ? rawRequest[0] : rawRequest;
    if (!transactionId || !isObject(request))
      throw new TransportProblem('err.request.bad', 'message.transaction_id and txnstatus_request are required');
    const problem = headerProblem(parsed, null);
    if (problem) return { header: callbackHeader(parsed, 'txn-on-status', 'rjct', 1, problem) };
    seenMessageIds.add(parsed.header['message_id'] as string);

    const txnType = OPERATIONS.find((op) => op === request['txn_type']);
    const value = request['attribute_value'];
    let status: Json | undefined;
    let operation: G2pOperation | undefined;
    const matchType = (t: G2pTransaction | undefined) => (t && (!txnType || t.operation === txnType) ? t : undefined);
    if (request['attribute_type'] === 'transaction_id' || request['attribute_type'] === 'correlation_id') {
      const txn = matchType(
        typeof value === 'string'
          ? request['attribute_type'] === 'transaction_id'
            ? transactions.get(value)
            : byCorrelation.get(value)
          : undefined,
      );
      if (txn) ({ response: status, operation } = txn);
    } else if (request['attribute_type'] === 'reference_id_list' && Array.isArray(value)) {
      const wanted = new Set(value.filter((v): v is string => typeof v === 'string'));
      const found: Json[] = [];
      let source: G2pTransaction | undefined;
      for (const txn of transactions.values()) {
        if (!matchType(txn)) continue;
        for (const entry of txn.response[`${txn.operation}_response`] as Json[]) {
          if (wanted.has(entry['reference_id'] as string) && (!operation || operation === txn.operation)) {
            found.push(entry);
            operation = txn.operation;
            source = txn;
          }
        }
      }
      if (source && operation)
        status = { transaction_id: source.transaction_id, correlation_id: source.correlation_id, [`${operation}_response`]: found };
    }
    if (!status || !operation) {
      return { header: callbackHeader(parsed, 'txn-on-status', 'rjct', 1, { code: null, message: 'no such transaction' }) };
    }
    return {
      header: callbackHeader(parsed, 'txn-on-status', 'succ', 1),
      message: {
        transaction_id: transactionId,
        correlation_id: correlationId,
        txnstatus_response: { txn_type: `on-${operation}`, txn_status: status },
      },
    };
  }

  // --- callbacks ----------------------------------------------------------------------------

  function callbackTarget(header: Json, suffix: string): string {
    const base = str(header['sender_uri']) || options.defaultCallbackUrl;
    if (!base) throw new TransportProblem('err.sender_uri.invalid', 'no sender_uri and no default callback URL');
    let url: URL;
    try {
      url = new URL(options.callbackUrl === 'exact' ? base : `${base.replace(/\/+$/, '')}${suffix}`);
    } catch {
      throw new TransportProblem('err.sender_uri.invalid', 'sender_uri is not a URL');
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:')
      throw new TransportProblem('err.sender_uri.invalid', 'sender_uri must be http(s)');
    return url.toString();
  }

  function post(url: string, text: string, headers: Record<string, string>): Promise<{ status: number; text: string }> {
    return new Promise((resolve, reject) => {
      const target = new URL(url);
      // agent:false: no keep-alive socket outlives the fake.
      const send = target.protocol === 'https:' ? httpsRequest : httpRequest;
      const req = send(
        target,
        {
          method: 'POST',
          agent: false,
          timeout: 5000,
          headers: { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(text)), ...headers },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
          res.on('error', reject);
        },
      );
      req.on('timeout', () => req.destroy(new Error('callback timed out')));
      req.on('error', reject);
      req.end(text);
    });
  }

  function scheduleCallback(
    url: string,
    header: Json,
    message: Json | undefined,
    parsed: Parsed,
    behaviour: 'send' | 'suppress' | 'fail',
    delayMs: number,
  ): void {
    const job = (async () => {
      await new Promise<void>((resolve) => {
        // close() wakes sleepers so settled() never hangs on a timer it cleared.
        const wake = (): void => {
          clearTimeout(timer);
          wakers.delete(wake);
          resolve();
        };
        const timer = setTimeout(wake, delayMs);
        wakers.add(wake);
      });
      if (closed) return;
      const sealed = await seal(header, message, parsed.encrypted);
      const record: G2pCallbackRecord = {
        url,
        action: header['action'] as string,
        transaction_id: isObject(message) ? str(message['transaction_id']) : null,
        message_id: header['message_id'] as string,
        encrypted: sealed.encrypted,
        signed: 'signature' in sealed.headers,
        outcome: 'failed',
        body: sealed.body,
        message,
      };
      callbacks.push(record);
      if (behaviour === 'suppress') {
        record.outcome = 'suppressed';
        return;
      }
      if (behaviour === 'fail') {
        record.error = 'the receiver is unreachable (simulated callbackFails)';
        return;
      }
      try {
        const answer = await post(url, sealed.text, sealed.headers);
        record.httpStatus = answer.status;
        try {
          const parsedAck: unknown = JSON.parse(answer.text);
          const ackStatus = isObject(parsedAck) && isObject(parsedAck['message']) ? str(parsedAck['message']['ack_status']) : null;
          if (ackStatus) record.ackStatus = ackStatus;
        } catch {
          // a receiver need not answer JSON
        }
        record.outcome = answer.status >= 200 && answer.status < 300 ? 'delivered' : 'failed';
        if (record.outcome === 'failed') record.error = `HTTP ${answer.status}`;
      } catch (error) {
        record.error = error instanceof Error ? error.message : String(error);
      }
    })();
    pending.add(job);
    void job.finally(() => pending.delete(job));
  }

  // --- HTTP dispatch ------------------------------------------------------------------------

  function route(path: string): { kind: 'sync' | 'async'; operation: G2pOperation | 'txn-status' } | 'token' | null {
    if (path === '/oauth2/client/token') return 'token';
    if (path === '/mapper/sync/txn/status' || path === '/registry/sync/txn/status') return { kind: 'sync', operation: 'txn-status' };
    if (path === '/mapper/txn/status') return { kind: 'async', operation: 'txn-status' };
    const m = /^\/mapper\/(sync\/)?(link|update|unlink|resolve)$/.exec(path);
    if (m) return { kind: m[1] ? 'sync' : 'async', operation: m[2] as G2pOperation };
    return null;
  }

  function tokenAnswer(raw: string, contentType: string | undefined): Answer {
    const form = new URLSearchParams(contentType?.includes('application/json') ? '' : raw);
    if (form.get('grant_type') !== 'client_credentials') return json(400, { error: 'unsupported_grant_type' });
    const id = form.get('client_id');
    const secret = form.get('client_secret');
    const known = options.clients ? id !== null && options.clients[id] !== undefined && options.clients[id] === secret : !!id && !!secret;
    if (!known) return json(401, { error: 'invalid_client' });
    const ttl = options.tokenTtlSeconds ?? 3600;
    return json(
      200,
      { access_token: issueToken(), token_type: 'bearer', expires_in: options.expiresInAsString ? String(ttl) : ttl },
      { 'cache-control': 'no-store', pragma: 'no-cache' },
    );
  }

  function authorized(req: IncomingMessage): boolean {
    const m = /^Bearer\s+(\S+)$/i.exec(req.headers.authorization ?? '');
    const expiry = m?.[1] ? tokens.get(m[1]) : undefined;
    return expiry !== undefined && expiry > Date.now();
  }

  async function answer(req: IncomingMessage, raw: string, record: G2pRecordedRequest): Promise<Answer> {
    const status = httpFaults.shift();
    if (status !== undefined)
      return errors(status, status === 503 ? 'err.service.unavailable' : 'err.request.bad', `injected HTTP ${status}`);
    const target = route(record.path);
    if (target === null) return errors(404, 'err.request.not_found', `no endpoint ${record.path}`);
    if (req.method !== 'POST') return errors(405, 'err.request.bad', 'only POST is supported');
    if (target === 'token') {
      record.kind = 'token';
      return tokenAnswer(raw, req.headers['content-type']);
    }
    record.kind = target.kind;
    record.operation = target.operation;
    if (options.requireAuth && !authorized(req)) {
      return errors(401, 'err.request.unauthorized', 'a valid bearer token is required', {
        'www-authenticate': 'Bearer error="invalid_token"',
      });
    }
    return target.kind === 'sync' ? syncAnswer(req, raw, record, target.operation) : asyncAnswer(req, raw, record, target.operation);
  }

  async function syncAnswer(
    req: IncomingMessage,
    raw: string,
    record: G2pRecordedRequest,
    operation: G2pOperation | 'txn-status',
  ): Promise<Answer> {
    try {
      const parsed = await parse(raw, record, req);
      const correlationId = randomUUID();
      const result = operation === 'txn-status' ? runTxnStatus(parsed, correlationId) : runOperation(operation, parsed, correlationId);
      const sealed = await seal(result.header, result.message, parsed.encrypted);
      return { status: 200, body: sealed.text, headers: { 'content-type': 'application/json', ...sealed.headers } };
    } catch (error) {
      if (error instanceof TransportProblem) return errors(error.httpStatus, error.code, error.message);
      throw error;
    }
  }

  async function asyncAnswer(
    req: IncomingMessage,
    raw: string,
    record: G2pRecordedRequest,
    operation: G2pOperation | 'txn-status',
  ): Promise<Answer> {
    const fault = asyncFaults.shift();
    const mode: G2pMode = fault && fault.kind !== 'delay' ? fault.kind : settings.mode;
    const faultCode = fault && (fault.kind === 'nack' || fault.kind === 'err') ? fault.code : undefined;
    const delayMs = fault?.kind === 'delay' ? fault.ms : settings.delayMs;
    let parsed: Parsed;
    try {
      parsed = await parse(raw, record, req);
      if (mode === 'err') {
        const code = faultCode ?? settings.errorCode ?? 'err.request.bad';
        record.ackStatus = 'ERR';
        return ack('ERR', null, { code, message: 'injected ERR' });
      }
      if (mode === 'nack') {
        record.ackStatus = 'NACK';
        const code = faultCode ?? settings.errorCode;
        return ack('NACK', null, code ? { code, message: 'injected NACK' } : undefined);
      }
      const url = callbackTarget(parsed.header, operation === 'txn-status' ? '/txn/on-status' : `/on-${operation}`);
      const correlationId = randomUUID();
      const result = operation === 'txn-status' ? runTxnStatus(parsed, correlationId) : runOperation(operation, parsed, correlationId);
      scheduleCallback(
        url,
        result.header,
        result.message,
        parsed,
        mode === 'noCallback' ? 'suppress' : mode === 'callbackFails' ? 'fail' : 'send',
        delayMs,
      );
      record.ackStatus = 'ACK';
      return ack('ACK', correlationId);
    } catch (error) {
      if (!(error instanceof TransportProblem)) throw error;
      record.ackStatus = 'ERR';
      return ack('ERR', null, { code: error.code, message: error.message });
    }
  }

  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks).toString('utf8');
      const record: G2pRecordedRequest = {
        method: req.method ?? 'GET',
        path: (req.url ?? '/').split('?')[0] ?? '/',
        kind: 'other',
        operation: null,
        action: null,
        message_id: null,
        transaction_id: null,
        encrypted: false,
        hasBearer: /^Bearer\s/i.test(req.headers.authorization ?? ''),
        hasSignature: typeof req.headers['signature'] === 'string',
        httpStatus: 0,
      };
      requests.push(record);
      answer(req, raw, record)
        .catch((error: unknown) => {
          console.error('g2p-connect-fake: unhandled error', error);
          return errors(500, 'err.service.unavailable', 'fake failed');
        })
        .then((a) => {
          record.httpStatus = a.status;
          if (res.destroyed) return;
          res.writeHead(a.status, { ...a.headers, 'content-length': String(Buffer.byteLength(a.body)) });
          res.end(a.body);
        })
        .catch(() => res.destroy());
    });
  });
  const port = await listenOnLoopback(server);

  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    callbacks,
    mappings,
    transactions,
    encryptionKey: enc.key,
    signingKey: sig.key,
    inject: (...faults) => {
      for (const fault of faults) {
        if (fault.kind === 'http') for (let i = 0; i < (fault.count ?? 1); i++) httpFaults.push(fault.status);
        else asyncFaults.push(fault);
      }
    },
    configure: async (changes) => {
      if (changes.mode !== undefined) settings.mode = changes.mode;
      if (changes.delayMs !== undefined) settings.delayMs = changes.delayMs;
      if (changes.errorCode !== undefined) settings.errorCode = changes.errorCode;
      if (changes.clientEncryptionKey !== undefined) await setClientEncryptionKey(changes.clientEncryptionKey, changes.clientEncryptionKid);
    },
    issueToken,
    expireTokens: () => {
      for (const token of tokens.keys()) tokens.set(token, 0);
    },
    settled: async () => {
      while (pending.size > 0) await Promise.allSettled([...pending]);
    },
    close: async () => {
      closed = true;
      for (const wake of [...wakers]) wake();
      server.closeAllConnections();
      await new Promise<void>((resolve, reject) => server.close((error) => (error ? reject(error) : resolve())));
    },
  };
}
