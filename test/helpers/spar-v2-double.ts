/**
 * A behaviour double of the OpenG2P SPAR mapper partner API 2.1.0 (the "v2" wire generation):
 * a real HTTP server on 127.0.0.1 that answers the way the recorded server did, quirks included
 * (research/spar-v2-observed.md, research/spar-api.md §2–§7). It keeps its table in memory.
 *
 * It follows the order in which FastAPI and SPAR process a request, since that order decides
 * which error wins:
 *   1. FastAPI parses the JSON body (a decode error gives 400 G2P-REQ-102);
 *   2. the signature dependency runs: it re-parses the body itself and may crash (500 G2P-REQ-100);
 *   3. pydantic validates the body (400 G2P-REQ-102, one error per problem);
 *   4. the controller: signature result, empty list, FA construction, then the service.
 *
 * Read from the SPAR / FastAPI / pydantic source rather than recorded (so less certain): an empty
 * body is a 500 (the dependency's orjson.loads raises), a NUL in a text column is an internal
 * error, a trailing slash is a 307, the FA union picks the member with the most fields, the
 * per-problem 400 messages other than "Field required" and the datetime ones, and `kid` is
 * ignored in both verifier modes (a partner-mgmt server would skip a key whose kid differs).
 */
import { X509Certificate, createPublicKey, verify as verifySignature, type KeyObject } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import { canonicalJson } from '../../src/adapters/http/canonical-json.js';
import { StrategyError } from '../../src/core/errors.js';
import { pythonFormat } from '../../src/core/strategy/python-format.js';
import { pythonReMatch } from '../../src/core/strategy/python-regex.js';
import { DEFAULT_STRATEGIES, type Strategy } from '../../src/core/strategy/strategy.js';
import { listenOnLoopback } from './loopback.js';

export interface SparV2DoubleOptions {
  /** partner id (e.g. 'PARTNER_SPARCTL') → public key PEM (SPKI or X.509 cert). When empty/undefined, signatures are not checked. */
  partners?: Record<string, string>;
  /** 'keymanager' (default, like openg2p-spar 2.1: malformed Signature header or unknown partner → HTTP 500 G2P-REQ-100) or 'partner-mgmt' (→ 200 ERROR rjct.request.validation). */
  verifier?: 'keymanager' | 'partner-mgmt';
}

export type Fault =
  | { status: number; body?: string; headers?: Record<string, string> }
  | { delayMs: number }
  | { reset: true }
  | { applyThen: 'reset' | { status: number; body?: string } };

export interface SparRow {
  fa_value: string;
  name: string | null;
  phone: string | null;
  additional_info: unknown;
}

export interface RecordedRequest {
  path: string;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

export interface SparV2Double {
  /** e.g. http://127.0.0.1:41234 (paths are /mapper/link etc., GET /ping) */
  url: string;
  /** Every request received, faulted ones included, in arrival order. */
  requests: RecordedRequest[];
  /**
   * The live `id_fa_mappings` table, keyed by id_value. Tests may seed rows into it directly, as
   * the recordings did with SQL (exchange 29).
   */
  rows(): Map<string, SparRow>;
  /**
   * Queue faults for the next requests (any path), one per request, consumed in order:
   * - `{status, body?, headers?}`: answer that instead, without processing;
   * - `{delayMs}`: process (and commit) at once, but hold the answer back for delayMs, like a slow
   *   server: a client that gives up meanwhile faces an uncertain outcome that was in fact applied;
   * - `{reset: true}`: destroy the socket before any response, without processing;
   * - `{applyThen}`: process and commit, then destroy the socket or answer the given status.
   */
  inject(...faults: Fault[]): void;
  close(): Promise<void>;
}

// ---------------------------------------------------------------------------------------------
// Small helpers

type JsonObject = Record<string, unknown>;

function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Python truthiness of a JSON value: SPAR tests `if not x` all over the place. */
function truthy(value: unknown): boolean {
  if (value === null || value === undefined || value === false) return false;
  if (typeof value === 'number') return value !== 0;
  if (typeof value === 'string' || Array.isArray(value)) return value.length > 0;
  if (typeof value === 'object') return Object.keys(value).length > 0;
  return true;
}

/** Sets a key without ever hitting a prototype setter (a JSON key may be "__proto__"). */
function setKey(target: JsonObject, key: string, value: unknown): void {
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
}

/**
 * Python's naive `datetime.now().isoformat()` as pydantic serialises it: microseconds, no zone,
 * the fraction left out when it is zero. The recorded server ran in UTC, so this uses UTC.
 */
function pythonNow(): string {
  const iso = new Date().toISOString().slice(0, 23);
  // Date has milliseconds only; the monotonic clock supplies plausible microsecond digits.
  const micro = `${iso.slice(20)}${String((process.hrtime.bigint() / 1000n) % 1000n).padStart(3, '0')}`;
  return micro === '000000' ? iso.slice(0, 19) : `${iso.slice(0, 20)}${micro}`;
}

/** Something that made SPAR raise inside the controller: the batch answers ERROR / rjct.internal.error. */
class InternalFailure extends Error {}

/** Something that made the signature dependency raise: HTTP 500 G2P-REQ-100. */
class DependencyCrash extends Error {}

/** PostgreSQL text cannot hold NUL: asyncpg raises, which SPAR reports as an internal error. */
function pgText(value: string | null | undefined): void {
  if (typeof value === 'string' && value.includes('\u0000')) throw new InternalFailure('NUL in a text column');
}

// ---------------------------------------------------------------------------------------------
// HTTP answers

interface Answer {
  status: number;
  body: string;
  headers: Record<string, string>;
}

/** Added by openg2p-fastapi-common's middleware on every response (observed §1.5). */
const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'x-xss-protection': '1; mode=block',
};

function jsonAnswer(status: number, value: unknown, headers: Record<string, string> = {}): Answer {
  return { status, body: JSON.stringify(value), headers: { 'content-type': 'application/json', ...headers } };
}

function errorsAnswer(status: number, code: string, messages: readonly string[], headers: Record<string, string> = {}): Answer {
  return jsonAnswer(status, { errors: messages.map((message) => ({ code, message })) }, headers);
}

const UNKNOWN_ERROR = (): Answer => errorsAnswer(500, 'G2P-REQ-100', ['Unknown Error.']);

// ---------------------------------------------------------------------------------------------
// Request validation, as pydantic 2 reports it (field order, messages, one entry per problem)

const MISSING: unique symbol = Symbol('missing');
type Loc = readonly (string | number)[];

class Issues {
  readonly list: { loc: Loc; msg: string }[] = [];
  add(loc: Loc, msg: string): void {
    this.list.push({ loc, msg });
  }
  get ok(): boolean {
    return this.list.length === 0;
  }
}

function field(obj: JsonObject, key: string): unknown {
  return Object.hasOwn(obj, key) ? obj[key] : MISSING;
}

/** A nested model. SPAR's FA models set from_attributes, which changes pydantic's wording. */
function model(issues: Issues, value: unknown, loc: Loc, cls: string, fromAttributes = false): JsonObject | undefined {
  if (value === MISSING) {
    issues.add(loc, 'Field required');
    return undefined;
  }
  if (!isObject(value)) {
    issues.add(
      loc,
      fromAttributes
        ? 'Input should be a valid dictionary or object to extract fields from'
        : `Input should be a valid dictionary or instance of ${cls}`,
    );
    return undefined;
  }
  return value;
}

function requiredStr(issues: Issues, obj: JsonObject, key: string, loc: Loc): string {
  const value = field(obj, key);
  if (value === MISSING) issues.add([...loc, key], 'Field required');
  else if (typeof value !== 'string') issues.add([...loc, key], 'Input should be a valid string');
  else return value;
  return '';
}

function optionalStr(issues: Issues, obj: JsonObject, key: string, loc: Loc, fallback: string | null): string | null {
  const value = field(obj, key);
  if (value === MISSING) return fallback;
  if (value === null || typeof value === 'string') return value;
  issues.add([...loc, key], 'Input should be a valid string');
  return fallback;
}

/** pydantic's lax int: bools, integral floats and integer strings are accepted. */
function toInt(issues: Issues, value: unknown, loc: Loc): number {
  if (value === MISSING) issues.add(loc, 'Field required');
  else if (typeof value === 'boolean') return value ? 1 : 0;
  else if (typeof value === 'number') {
    if (Number.isInteger(value)) return value;
    issues.add(loc, 'Input should be a valid integer, got a number with a fractional part');
  } else if (typeof value === 'string') {
    if (/^\s*[+-]?\d+(?:\.0*)?\s*$/.test(value)) return Math.trunc(Number(value));
    issues.add(loc, 'Input should be a valid integer, unable to parse string as an integer');
  } else issues.add(loc, 'Input should be a valid integer');
  return 0;
}

function enumValue<T extends string>(issues: Issues, value: unknown, loc: Loc, allowed: readonly T[]): T | undefined {
  if (value === MISSING) {
    issues.add(loc, 'Field required');
    return undefined;
  }
  if (typeof value === 'string' && (allowed as readonly string[]).includes(value)) return value as T;
  const quoted = allowed.map((a) => `'${a}'`);
  const list = quoted.length > 1 ? `${quoted.slice(0, -1).join(', ')} or ${quoted[quoted.length - 1] ?? ''}` : (quoted[0] ?? '');
  issues.add(loc, `Input should be ${list}`);
  return undefined;
}

const DATETIME = /^(\d{4})-(\d{2})-(\d{2})(?:[Tt _](\d{2}):(\d{2})(?::(\d{2})(?:[.,]\d+)?)?(?:[Zz]|[+-]\d{2}(?::?\d{2})?)?)?$/;

function daysIn(year: number, month: number): number {
  return new Date(Date.UTC(year, month, 0)).getUTCDate();
}

/**
 * Why speedate (pydantic's date parser) refuses this `datetime` string, or null when it accepts
 * it. pydantic falls back from datetime to date, so the reason reported is the date parser's.
 */
function datetimeProblem(text: string): string | null {
  if (/^\s*[+-]?\d+(?:\.\d+)?\s*$/.test(text)) return null; // a unix timestamp
  const m = DATETIME.exec(text);
  if (m !== null) {
    const [year, month, day, hour, minute, second] = m.slice(1).map((part) => (part === undefined ? 0 : Number(part))) as [
      number,
      number,
      number,
      number,
      number,
      number,
    ];
    if (month >= 1 && month <= 12 && day >= 1 && day <= daysIn(year, month) && hour < 24 && minute < 60 && second < 60) return null;
  }
  if (text.length < 10) return 'input is too short';
  if (!/^\d{4}/.test(text)) return 'invalid character in year';
  if (text[4] !== '-') return 'invalid date separator, expected `-`';
  if (!/^\d{2}$/.test(text.slice(5, 7))) return 'invalid character in month';
  if (text[7] !== '-') return 'invalid date separator, expected `-`';
  if (!/^\d{2}$/.test(text.slice(8, 10))) return 'invalid character in day';
  const month = Number(text.slice(5, 7));
  if (month < 1 || month > 12) return 'month value is outside expected range of 1-12';
  const day = Number(text.slice(8, 10));
  if (day < 1 || day > daysIn(Number(text.slice(0, 4)), month)) return 'day value is outside expected range';
  return 'unexpected extra characters at the end of the input';
}

function datetimeField(issues: Issues, value: unknown, loc: Loc): void {
  if (value === MISSING) issues.add(loc, 'Field required');
  else if (typeof value === 'number') return;
  else if (typeof value !== 'string') issues.add(loc, 'Input should be a valid datetime');
  else {
    const problem = datetimeProblem(value);
    if (problem !== null) issues.add(loc, `Input should be a valid datetime or date, ${problem}`);
  }
}

/** `Optional[List[...]]`: null or a list whose items pass `item`. */
function optionalList(issues: Issues, obj: JsonObject, key: string, loc: Loc, dictItems: boolean): unknown[] | null {
  const value = field(obj, key);
  if (value === MISSING || value === null) return null;
  if (!Array.isArray(value)) {
    issues.add([...loc, key], 'Input should be a valid list');
    return null;
  }
  if (dictItems) {
    value.forEach((item, index) => {
      if (!isObject(item)) issues.add([...loc, key, index], 'Input should be a valid dictionary');
    });
  }
  return value;
}

/** The FA after pydantic: only the chosen member's fields, every value stringified as SPAR does. */
interface ParsedFa {
  strategyId: number;
  values: Record<string, string>;
}

const FA_TYPES = ['BANK', 'EMAIL_WALLET', 'MOBILE_WALLET'] as const;
const FA_MEMBERS: readonly { cls: string; fields: readonly string[] }[] = [
  { cls: 'BankAccountFa', fields: ['bank_name', 'bank_code', 'branch_name', 'branch_code', 'account_number'] },
  { cls: 'MobileWalletFa', fields: ['wallet_provider_name', 'wallet_provider_code', 'mobile_number'] },
  { cls: 'EmailWalletFa', fields: ['wallet_provider_name', 'wallet_provider_code', 'email_address'] },
];

/**
 * `Union[BankAccountFa, MobileWalletFa, EmailWalletFa]` in pydantic's smart mode: every member
 * that validates is a candidate, the one with the most fields set wins (the first on a tie), and
 * keys the winner does not declare are dropped. When none validates, every member's errors count.
 */
function faUnion(issues: Issues, value: unknown, loc: Loc): ParsedFa | undefined {
  if (value === MISSING) {
    issues.add(loc, 'Field required');
    return undefined;
  }
  const failures: Issues[] = [];
  let best: { fa: ParsedFa; count: number } | undefined;
  for (const member of FA_MEMBERS) {
    const own = new Issues();
    const memberLoc = [...loc, member.cls];
    const obj = model(own, value, memberLoc, member.cls, true);
    if (obj !== undefined) {
      const strategyId = toInt(own, field(obj, 'strategy_id'), [...memberLoc, 'strategy_id']);
      const faType = enumValue(own, field(obj, 'fa_type'), [...memberLoc, 'fa_type'], FA_TYPES);
      const values: Record<string, string> = {};
      // model_dump order: the base fields, then the member's; str(int) and the enum's value.
      setKey(values, 'strategy_id', String(strategyId));
      setKey(values, 'fa_type', faType ?? '');
      for (const name of member.fields) setKey(values, name, requiredStr(own, obj, name, memberLoc));
      if (own.ok && (best === undefined || member.fields.length + 2 > best.count)) {
        best = { fa: { strategyId, values }, count: member.fields.length + 2 };
      }
    }
    failures.push(own);
  }
  if (best !== undefined) return best.fa;
  for (const failure of failures) issues.list.push(...failure.list);
  return undefined;
}

interface Envelope {
  requestId: string;
  transactionId: string;
}

interface LinkLikeItem {
  reference_id: string;
  id: string | null;
  fa: ParsedFa | undefined;
  name: string | null;
  phone_number: string | null;
  additional_info: JsonObject[] | null;
  locale: string | null;
}

interface ResolveItem {
  reference_id: string;
  id: string | null;
  fa: string | null;
  scope: 'yes_no' | 'details' | null;
  additional_info: unknown[] | null;
  locale: string | null;
}

interface UnlinkItem {
  reference_id: string;
  id: string | null;
  fa: string | null;
  locale: string | null;
}

function linkLikeItem(issues: Issues, obj: JsonObject, loc: Loc): LinkLikeItem {
  const reference_id = requiredStr(issues, obj, 'reference_id', loc);
  requiredStr(issues, obj, 'timestamp', loc);
  const id = optionalStr(issues, obj, 'id', loc, null);
  const fa = faUnion(issues, field(obj, 'fa'), [...loc, 'fa']);
  const name = optionalStr(issues, obj, 'name', loc, null);
  const phone_number = optionalStr(issues, obj, 'phone_number', loc, null);
  const additional_info = optionalList(issues, obj, 'additional_info', loc, true) as JsonObject[] | null;
  const locale = optionalStr(issues, obj, 'locale', loc, 'en');
  return { reference_id, id, fa, name, phone_number, additional_info, locale };
}

function resolveItem(issues: Issues, obj: JsonObject, loc: Loc): ResolveItem {
  const reference_id = requiredStr(issues, obj, 'reference_id', loc);
  requiredStr(issues, obj, 'timestamp', loc);
  const fa = optionalStr(issues, obj, 'fa', loc, '');
  const id = optionalStr(issues, obj, 'id', loc, '');
  optionalStr(issues, obj, 'name', loc, null);
  const rawScope = field(obj, 'scope');
  const scope =
    rawScope === MISSING
      ? 'yes_no'
      : rawScope === null
        ? null
        : (enumValue(issues, rawScope, [...loc, 'scope'], ['yes_no', 'details'] as const) ?? null);
  const additional_info = optionalList(issues, obj, 'additional_info', loc, false);
  const locale = optionalStr(issues, obj, 'locale', loc, 'en');
  return { reference_id, id, fa, scope, additional_info, locale };
}

function unlinkItem(issues: Issues, obj: JsonObject, loc: Loc): UnlinkItem {
  const reference_id = requiredStr(issues, obj, 'reference_id', loc);
  requiredStr(issues, obj, 'timestamp', loc);
  const id = optionalStr(issues, obj, 'id', loc, null);
  const fa = optionalStr(issues, obj, 'fa', loc, null);
  optionalStr(issues, obj, 'name', loc, null);
  optionalStr(issues, obj, 'phone_number', loc, null);
  optionalList(issues, obj, 'additional_info', loc, false);
  const locale = optionalStr(issues, obj, 'locale', loc, 'en');
  return { reference_id, id, fa, locale };
}

/** `G2PRequest` with the operation's payload model; returns undefined when anything failed. */
function validateRequest<T>(
  issues: Issues,
  body: unknown,
  names: { prefix: string; listKey: string },
  item: (issues: Issues, obj: JsonObject, loc: Loc) => T,
): { envelope: Envelope; items: T[] } | undefined {
  const root = model(issues, body, ['body'], `${names.prefix}Request`);
  if (root === undefined) return undefined;
  let requestId = '';
  const header = model(issues, field(root, 'request_header'), ['body', 'request_header'], 'G2PRequestHeader');
  if (header !== undefined) {
    const loc = ['body', 'request_header'];
    requiredStr(issues, header, 'sender_app_mnemonic', loc);
    requiredStr(issues, header, 'sender_app_url', loc);
    requestId = requiredStr(issues, header, 'request_id', loc);
    datetimeField(issues, field(header, 'request_timestamp'), [...loc, 'request_timestamp']);
    optionalStr(issues, header, 'instance_id', loc, null);
  }
  let transactionId = '';
  const items: T[] = [];
  const requestBody = model(issues, field(root, 'request_body'), ['body', 'request_body'], `${names.prefix}RequestBody`);
  if (requestBody !== undefined) {
    const pagination = field(requestBody, 'pagination_request');
    if (pagination !== MISSING && pagination !== null) {
      const loc = ['body', 'request_body', 'pagination_request'];
      const page = model(issues, pagination, loc, 'G2PPaginationRequest');
      if (page !== undefined) {
        for (const key of ['current_page', 'page_size']) {
          const before = issues.list.length;
          const n = toInt(issues, field(page, key), [...loc, key]);
          if (issues.list.length === before && n < 1) issues.add([...loc, key], 'Input should be greater than or equal to 1');
        }
        optionalStr(issues, page, 'sort_by', loc, null);
        optionalStr(issues, page, 'search_text', loc, null);
      }
    }
    const loc = ['body', 'request_body', 'request_payload'];
    const payload = model(issues, field(requestBody, 'request_payload'), loc, `${names.prefix}RequestPayload`);
    if (payload !== undefined) {
      transactionId = requiredStr(issues, payload, 'transaction_id', loc);
      const list = field(payload, names.listKey);
      if (list === MISSING) issues.add([...loc, names.listKey], 'Field required');
      else if (!Array.isArray(list)) issues.add([...loc, names.listKey], 'Input should be a valid list');
      else {
        list.forEach((entry, index) => {
          const itemLoc = [...loc, names.listKey, index];
          const obj = model(issues, entry, itemLoc, `Single${names.prefix}Request`);
          if (obj !== undefined) items.push(item(issues, obj, itemLoc));
        });
      }
    }
  }
  return issues.ok ? { envelope: { requestId, transactionId }, items } : undefined;
}

// ---------------------------------------------------------------------------------------------
// Signatures

type KeyStore = ReadonlyMap<string, KeyObject>;

function importPartnerKey(pem: string): KeyObject {
  return pem.includes('BEGIN CERTIFICATE') ? new X509Certificate(pem).publicKey : createPublicKey(pem);
}

function base64urlBytes(text: string): Buffer | null {
  return /^[A-Za-z0-9_-]*$/.test(text) ? Buffer.from(text, 'base64url') : null;
}

/**
 * The partner id SPAR asks the verifier about: PARTNER_ + the mnemonic upper-cased with - → _,
 * falling back to a legacy `header.sender_id`, then PARTNER_UNKNOWN. Python raises (→ HTTP 500)
 * when the body is not an object or the mnemonic is not a string.
 */
function partnerIdOf(payload: unknown): string {
  if (!isObject(payload)) throw new DependencyCrash('payload.get on a non-dict');
  const header = payload.request_header;
  const legacy = payload.header;
  let mnemonic: unknown = null;
  if (isObject(header) && header.sender_app_mnemonic !== undefined && header.sender_app_mnemonic !== null)
    mnemonic = header.sender_app_mnemonic;
  else if (isObject(legacy) && legacy.sender_id !== undefined && legacy.sender_id !== null) mnemonic = legacy.sender_id;
  else if (header !== undefined && header !== null && !isObject(header)) throw new DependencyCrash('request_header is not a dict');
  if (mnemonic === null) return 'PARTNER_UNKNOWN';
  if (typeof mnemonic !== 'string') throw new DependencyCrash('mnemonic.replace on a non-str');
  return `PARTNER_${mnemonic.replace(/-/g, '_').toUpperCase()}`;
}

/** A detached compact JWS, RS256, over the canonical JSON of the parsed body; kid is ignored. */
function verifyDetached(protectedPart: string, signaturePart: string, payload: unknown, key: KeyObject): boolean {
  const headerBytes = base64urlBytes(protectedPart);
  const signature = base64urlBytes(signaturePart);
  if (headerBytes === null || signature === null) return false;
  let header: unknown;
  try {
    header = JSON.parse(headerBytes.toString('utf8'));
  } catch {
    return false;
  }
  if (!isObject(header) || header.alg !== 'RS256') return false;
  let canonical: string;
  try {
    canonical = canonicalJson(payload);
  } catch {
    return false; // floats and huge integers: sparctl cannot produce what orjson would have signed
  }
  const input = Buffer.from(`${protectedPart}.${Buffer.from(canonical, 'utf8').toString('base64url')}`, 'utf8');
  try {
    return verifySignature('sha256', input, key, signature);
  } catch {
    return false;
  }
}

/**
 * The JWTSignatureValidator dependency: false for a missing or wrong signature (the controller
 * then answers 200 ERROR); DependencyCrash where openg2p-spar 2.1's Keymanager helper raises.
 */
function signatureValid(keys: KeyStore, verifier: 'keymanager' | 'partner-mgmt', header: string | undefined, payload: unknown): boolean {
  if (header === undefined || header === '') return false;
  const partnerId = partnerIdOf(payload);
  const parts = header.split('.');
  // Keymanager helper: `part1, _, part3 = jwt.split(".")` raises on anything but three parts.
  if (parts.length !== 3) {
    if (verifier === 'keymanager') throw new DependencyCrash('Malformed detached JWT format');
    return false;
  }
  const key = keys.get(partnerId);
  if (key === undefined) {
    // Keymanager answers response:null for an unknown referenceId; the helper then raises.
    if (verifier === 'keymanager') throw new DependencyCrash(`no key for ${partnerId}`);
    return false;
  }
  // The middle part is replaced by the re-canonicalised body whatever was sent in it.
  return verifyDetached(parts[0] ?? '', parts[2] ?? '', payload, key);
}

// ---------------------------------------------------------------------------------------------
// The mapper

type Operation = 'link' | 'update' | 'resolve' | 'unlink';

const ROUTES: ReadonlyMap<string, Operation> = new Map([
  ['/mapper/link', 'link'],
  ['/mapper/update', 'update'],
  ['/mapper/resolve', 'resolve'],
  ['/mapper/unlink', 'unlink'],
]);

const NAMES: Readonly<Record<Operation, { prefix: string; listKey: string; responseKey: string }>> = {
  link: { prefix: 'Link', listKey: 'link_request', responseKey: 'link_response' },
  update: { prefix: 'Update', listKey: 'update_request', responseKey: 'update_response' },
  resolve: { prefix: 'Resolve', listKey: 'resolve_request', responseKey: 'resolve_response' },
  unlink: { prefix: 'Unlink', listKey: 'unlink_request', responseKey: 'unlink_response' },
};

function responseEnvelope(envelope: Envelope, responseKey: string, items: unknown[], error?: { code: string; message: string }): unknown {
  return {
    response_header: {
      request_id: envelope.requestId,
      response_status: error === undefined ? 'SUCCESS' : 'ERROR',
      response_error_code: error?.code ?? null,
      response_error_message: error?.message ?? null,
      response_timestamp: pythonNow(),
    },
    response_body: {
      pagination_response: null,
      response_payload: { transaction_id: envelope.transactionId, correlation_id: null, [responseKey]: items },
    },
  };
}

type Reason = readonly [code: string, message: string | null] | null;

class Mapper {
  readonly rows = new Map<string, SparRow>();
  private readonly strategies: ReadonlyMap<number, Strategy> = new Map(DEFAULT_STRATEGIES.map((s) => [s.id, s]));

  /** `construct_strategy.format(**fa.dict())`; a missing strategy or field aborts the batch. */
  private construct(fa: ParsedFa): string {
    const strategy = this.strategies.get(fa.strategyId);
    if (strategy === undefined) throw new InternalFailure(`no strategy ${fa.strategyId}`);
    return pythonFormat(strategy.template, fa.values);
  }

  /** The controller's pass over link/update items, before the service sees any of them. */
  private prepare(items: LinkLikeItem[]): { item: LinkLikeItem; fa: string; additionalInfo: JsonObject[] }[] {
    return items.map((item) => {
      const fa = item.fa as ParsedFa;
      const constructed = this.construct(fa);
      // A strategy_id already in additional_info[0] is kept even when it differs (exchange 28).
      const additionalInfo =
        item.additional_info !== null && item.additional_info.length > 0 ? structuredClone(item.additional_info) : [{}];
      const first = additionalInfo[0] as JsonObject;
      if (!Object.hasOwn(first, 'strategy_id')) setKey(first, 'strategy_id', fa.strategyId);
      return { item, fa: constructed, additionalInfo };
    });
  }

  link(items: LinkLikeItem[]): unknown[] {
    const prepared = this.prepare(items);
    const staged: [string, SparRow][] = [];
    const out: unknown[] = [];
    for (const { item, fa, additionalInfo } of prepared) {
      let reason: Reason = null;
      if (!truthy(item.id)) reason = ['rjct.id.invalid', 'ID is null'];
      else if (!truthy(fa)) reason = ['rjct.fa.invalid', 'FA is null'];
      else {
        pgText(item.id);
        // Only the table is checked, not the batch: an id twice in one batch fails at commit.
        if (this.rows.has(item.id as string)) reason = ['rjct.reference_id.duplicate', 'ID and FA are already mapped'];
      }
      if (reason === null)
        staged.push([item.id as string, { fa_value: fa, name: item.name, phone: item.phone_number, additional_info: additionalInfo }]);
      out.push({
        reference_id: item.reference_id,
        timestamp: pythonNow(),
        fa,
        status: reason === null ? 'succ' : 'rjct',
        status_reason_code: reason?.[0] ?? null,
        status_reason_message: reason?.[1] ?? null,
        additional_info: null,
        locale: item.locale,
      });
    }
    // One commit for the batch: the unique index on id_value rejects it all or nothing.
    const ids = new Set<string>();
    for (const [id, row] of staged) {
      if (ids.has(id)) throw new InternalFailure(`duplicate key ${id}`);
      ids.add(id);
      pgText(row.fa_value);
      pgText(row.name);
      pgText(row.phone);
    }
    for (const [id, row] of staged) this.rows.set(id, row);
    return out;
  }

  update(items: LinkLikeItem[]): unknown[] {
    const prepared = this.prepare(items);
    const out: unknown[] = [];
    for (const { item, fa, additionalInfo } of prepared) {
      let reason: Reason = null;
      if (!truthy(item.id)) reason = ['rjct.id.invalid', 'ID is null'];
      else if (!truthy(fa)) reason = ['rjct.fa.invalid', 'FA is null'];
      else {
        pgText(item.id);
        // SPAR really reports "not found" with the duplicate code here.
        if (!this.rows.has(item.id as string)) reason = ['rjct.reference_id.duplicate', 'ID doesnt exist please link first'];
      }
      out.push({
        reference_id: item.reference_id,
        timestamp: pythonNow(),
        id: item.id,
        status: reason === null ? 'succ' : 'rjct',
        status_reason_code: reason?.[0] ?? null,
        status_reason_message: reason?.[1] ?? null,
        additional_info: null,
        locale: item.locale,
      });
      if (reason !== null) continue;
      // Committed item by item: a later failure leaves this one written.
      const row = this.rows.get(item.id as string) as SparRow;
      const next: SparRow = { ...row, fa_value: fa };
      if (truthy(item.name)) next.name = item.name;
      if (truthy(item.phone_number)) next.phone = item.phone_number;
      next.additional_info = additionalInfo;
      pgText(next.fa_value);
      pgText(next.name);
      pgText(next.phone);
      this.rows.set(item.id as string, next);
    }
    return out;
  }

  resolve(items: ResolveItem[]): unknown[] {
    type Pending = { item: ResolveItem; fa: string | null; id: string | null; additionalInfo: unknown; status: string; reason: Reason };
    const pending: Pending[] = [];
    const accepted: ResolveItem[] = [];
    // Items without id and fa are answered during validation, hence listed first (exchange 20).
    for (const item of items) {
      if (!truthy(item.id) && !truthy(item.fa)) {
        pending.push({
          item,
          fa: null,
          id: null,
          additionalInfo: null,
          status: 'rjct',
          reason: ['rjct.reference_id.invalid', 'ID is required'],
        });
      } else accepted.push(item);
    }
    for (const item of items) if (truthy(item.id)) pgText(item.id);
    for (const item of accepted) {
      // The lookup is by id only; an fa-only item is simply not found.
      const row = truthy(item.id) ? this.rows.get(item.id as string) : undefined;
      if (row === undefined) {
        pending.push({
          item,
          fa: null,
          id: null,
          additionalInfo: null,
          status: 'succ',
          reason: ['succ.fa.not_linked_to_id', "ID doesn't exist, please link first"],
        });
      } else if (item.scope === 'details') {
        pending.push({
          item,
          fa: row.fa_value,
          id: item.id,
          additionalInfo: row.additional_info,
          status: 'succ',
          reason: ['succ.id.active', null],
        });
      } else {
        pending.push({
          item,
          fa: null,
          id: item.id,
          additionalInfo: item.additional_info,
          status: 'succ',
          reason: ['succ.id.active', null],
        });
      }
    }
    return pending.map((p) => {
      const fa = truthy(p.fa) && truthy(p.additionalInfo) ? this.deconstruct(p.fa as string, p.additionalInfo) : null;
      // SingleResolveResponse.additional_info is Optional[List[object]]: anything else fails validation.
      if (p.additionalInfo !== null && p.additionalInfo !== undefined && !Array.isArray(p.additionalInfo))
        throw new InternalFailure('additional_info is not a list');
      return {
        reference_id: p.item.reference_id,
        timestamp: pythonNow(),
        fa,
        id: p.id,
        account_provider_info: null,
        status: p.status,
        status_reason_code: p.reason?.[0] ?? null,
        status_reason_message: p.reason?.[1] ?? null,
        additional_info: p.additionalInfo ?? null,
        locale: p.item.locale,
      };
    });
  }

  /**
   * StrategyHelper.deconstruct_fa: the strategy comes from additional_info[0].strategy_id, not
   * from the FA; no strategy_id or no such row gives {}, a regex that does not match gives just
   * {strategy_id} (exchange 29).
   */
  private deconstruct(fa: string, additionalInfo: unknown): JsonObject {
    const first = Array.isArray(additionalInfo) ? additionalInfo[0] : undefined;
    if (!isObject(first)) throw new InternalFailure('additional_info[0].get on a non-dict');
    const strategyId = Object.hasOwn(first, 'strategy_id') ? first.strategy_id : null;
    if (!truthy(strategyId)) return {};
    let id: number;
    if (strategyId === true) id = 1;
    else if (typeof strategyId === 'number' && Number.isInteger(strategyId)) id = strategyId;
    else throw new InternalFailure('asyncpg refuses a non-integer strategy id');
    const strategy = this.strategies.get(id);
    if (strategy === undefined) return {};
    const groups = pythonReMatch(strategy.pattern, fa);
    const out: JsonObject = {};
    for (const [key, value] of Object.entries(groups ?? {})) {
      // KeyValuePair.value is a str: a group that did not take part fails validation.
      if (value === null) throw new InternalFailure(`group ${key} did not match`);
      setKey(out, key, value);
    }
    setKey(out, 'strategy_id', strategyId);
    return out;
  }

  unlink(items: UnlinkItem[]): unknown[] {
    const deleted = new Set<string>();
    const out = items.map((item) => {
      let reason: Reason = null;
      if (!truthy(item.id)) reason = ['rjct.id.invalid', 'ID is null'];
      else {
        const id = item.id as string;
        pgText(id);
        pgText(item.fa);
        const row = deleted.has(id) ? undefined : this.rows.get(id);
        // When fa is given it must equal the stored constructed string exactly.
        if (row === undefined || (truthy(item.fa) && row.fa_value !== item.fa))
          reason = ['rjct.id.invalid', 'ID doesnt exist please link first'];
        else deleted.add(id);
      }
      return {
        reference_id: item.reference_id,
        timestamp: pythonNow(),
        id: '', // the response builder never copies the id
        status: reason === null ? 'succ' : 'rjct',
        status_reason_code: reason?.[0] ?? null,
        status_reason_message: reason?.[1] ?? null,
        additional_info: null,
        locale: item.locale,
      };
    });
    // One commit at the end; a hard delete.
    for (const id of deleted) this.rows.delete(id);
    return out;
  }
}

// ---------------------------------------------------------------------------------------------
// Request handling

const UTF8 = new TextDecoder('utf-8', { fatal: true });

function parseJson(raw: Buffer): { ok: true; value: unknown } | { ok: false } {
  try {
    return { ok: true, value: JSON.parse(UTF8.decode(raw)) };
  } catch {
    return { ok: false };
  }
}

/** FastAPI parses the body as JSON when there is no content type or a JSON one. */
function isJsonContentType(value: string): boolean {
  const type = (value.split(';')[0] ?? '').trim().toLowerCase();
  return type === 'application/json' || (type.startsWith('application/') && type.endsWith('+json'));
}

function headerValue(headers: IncomingHttpHeaders, name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
}

class Handler {
  readonly mapper = new Mapper();

  constructor(
    private readonly keys: KeyStore,
    private readonly verifier: 'keymanager' | 'partner-mgmt',
  ) {}

  answer(method: string, url: string, raw: Buffer, headers: IncomingHttpHeaders): Answer {
    const queryAt = url.indexOf('?');
    const path = queryAt === -1 ? url : url.slice(0, queryAt);
    if (path === '/ping') {
      return method === 'GET' || method === 'HEAD'
        ? jsonAnswer(200, 'pong')
        : errorsAnswer(405, 'G2P-REQ-405', ['Method Not Allowed'], { allow: 'GET' });
    }
    const operation = ROUTES.get(path);
    if (operation === undefined) {
      // Starlette's redirect_slashes.
      const bare = path.endsWith('/') ? path.slice(0, -1) : null;
      if (bare !== null && (ROUTES.has(bare) || bare === '/ping')) {
        return { status: 307, body: '', headers: { location: `${bare}${queryAt === -1 ? '' : url.slice(queryAt)}` } };
      }
      return errorsAnswer(404, 'G2P-REQ-404', ['Not Found']);
    }
    if (method !== 'POST') return errorsAnswer(405, 'G2P-REQ-405', ['Method Not Allowed'], { allow: 'POST' });
    return this.operation(operation, raw, headers);
  }

  private operation(operation: Operation, raw: Buffer, headers: IncomingHttpHeaders): Answer {
    // 1. FastAPI's own body parsing.
    let body: unknown = MISSING;
    if (raw.length > 0) {
      const contentType = headerValue(headers, 'content-type');
      if (contentType === undefined || isJsonContentType(contentType)) {
        const parsed = parseJson(raw);
        if (!parsed.ok) return errorsAnswer(400, 'G2P-REQ-102', ['Invalid Input. JSON decode error']);
        body = parsed.value;
      } else body = raw.toString('latin1'); // bytes: not a model
    }
    // 2. The signature dependency re-reads the body with orjson.loads, which raises on an empty one.
    const dependencyBody = parseJson(raw);
    if (!dependencyBody.ok) return UNKNOWN_ERROR();
    let signed = true;
    if (this.keys.size > 0) {
      try {
        signed = signatureValid(this.keys, this.verifier, headerValue(headers, 'signature'), dependencyBody.value);
      } catch (error) {
        if (error instanceof DependencyCrash) return UNKNOWN_ERROR();
        throw error;
      }
    }
    // 3. pydantic.
    const names = NAMES[operation];
    const issues = new Issues();
    const validated =
      operation === 'resolve'
        ? validateRequest(issues, body, names, resolveItem)
        : operation === 'unlink'
          ? validateRequest(issues, body, names, unlinkItem)
          : validateRequest(issues, body, names, linkLikeItem);
    if (validated === undefined)
      return errorsAnswer(
        400,
        'G2P-REQ-102',
        issues.list.map((issue) => `Invalid Input. ${issue.msg}`),
      );
    // 4. The controller.
    const { envelope, items } = validated;
    const fail = (code: string, message: string): Answer =>
      jsonAnswer(200, responseEnvelope(envelope, names.responseKey, [], { code, message }));
    if (!signed) return fail('rjct.request.validation', 'StatusReasonCodeEnum.rjct_jwt_invalid');
    if (items.length === 0) return fail('rjct.request.validation', `Empty ${names.listKey} list in request.request_body.request_payload`);
    try {
      let results: unknown[];
      if (operation === 'link') results = this.mapper.link(items as LinkLikeItem[]);
      else if (operation === 'update') results = this.mapper.update(items as LinkLikeItem[]);
      else if (operation === 'resolve') results = this.mapper.resolve(items as ResolveItem[]);
      else results = this.mapper.unlink(items as UnlinkItem[]);
      return jsonAnswer(200, responseEnvelope(envelope, names.responseKey, results));
    } catch (error) {
      if (error instanceof InternalFailure || error instanceof StrategyError) return fail('rjct.internal.error', 'Internal server error');
      throw error;
    }
  }
}

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

function send(res: ServerResponse, answer: Answer): void {
  if (res.destroyed || res.writableEnded) return;
  const headers = { ...SECURITY_HEADERS, ...answer.headers, 'content-length': String(Buffer.byteLength(answer.body)) };
  res.writeHead(answer.status, headers);
  res.end(answer.body);
}

function resetSocket(req: IncomingMessage): void {
  // An RST rather than a FIN, so the client sees a connection reset, not a clean close.
  req.socket.resetAndDestroy();
}

export async function startSparV2Double(options: SparV2DoubleOptions = {}): Promise<SparV2Double> {
  const keys = new Map(Object.entries(options.partners ?? {}).map(([id, pem]) => [id, importPartnerKey(pem)]));
  const handler = new Handler(keys, options.verifier ?? 'keymanager');
  const requests: RecordedRequest[] = [];
  const faults: Fault[] = [];
  const wakers = new Set<() => void>();

  const sleep = (ms: number): Promise<void> =>
    new Promise((resolve) => {
      const wake = (): void => {
        clearTimeout(timer);
        wakers.delete(wake);
        resolve();
      };
      const timer = setTimeout(wake, ms);
      wakers.add(wake);
    });

  const serve = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const raw = await readBody(req);
    const url = req.url ?? '/';
    requests.push({ path: url, headers: { ...req.headers }, body: raw.toString('utf8') });
    const fault = faults.shift();
    if (fault !== undefined && 'reset' in fault) return resetSocket(req);
    if (fault !== undefined && 'status' in fault) {
      const body = fault.body ?? '';
      return send(res, { status: fault.status, body, headers: { 'content-type': 'application/json', ...fault.headers } });
    }
    let answer: Answer;
    try {
      answer = handler.answer(req.method ?? 'GET', url, raw, req.headers);
    } catch (error) {
      // A bug in the double: answer as FastAPI answers an unhandled exception, and say why.
      console.error('spar-v2-double: unhandled error', error);
      answer = UNKNOWN_ERROR();
    }
    if (fault !== undefined && 'delayMs' in fault) {
      await sleep(fault.delayMs);
      return send(res, answer);
    }
    if (fault !== undefined && 'applyThen' in fault) {
      if (fault.applyThen === 'reset') return resetSocket(req);
      return send(res, {
        status: fault.applyThen.status,
        body: fault.applyThen.body ?? '',
        headers: { 'content-type': 'application/json' },
      });
    }
    return send(res, answer);
  };

  const server = createServer((req, res) => {
    serve(req, res).catch((error: unknown) => {
      console.error('spar-v2-double: request failed', error);
      res.destroy();
    });
  });
  const port = await listenOnLoopback(server);

  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    rows: () => handler.mapper.rows,
    inject: (...more: Fault[]) => {
      faults.push(...more);
    },
    close: async () => {
      for (const wake of [...wakers]) wake();
      server.closeAllConnections();
      await new Promise<void>((resolve, reject) => server.close((error) => (error ? reject(error) : resolve())));
    },
  };
}
