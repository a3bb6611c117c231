import { UsageError } from '../../../core/errors.js';
import type { LinkItem, ResolveItem, UnlinkItem } from '../../../core/mapper.js';
import { ReasonCode, type ItemResult, type ItemStatus, type Operation } from '../../../core/results.js';
import { constructFa } from '../../../core/strategy/strategy.js';
import { otherId, type BatchFailure, type ProtocolItem, type RequestContext, type WireProtocol } from '../protocol.js';

/**
 * G2P Connect mapper, synchronous variant (mapper_core_api v1.0.0 Draft; research/g2p-connect.md
 * §2–§5): `{signature, header, message}` at `POST /mapper/sync/{link,update,resolve,unlink}`,
 * FA as a normative-address string. SPAR 0.1 speaks this dialect, and SPAR 1.x (spar-v1.ts)
 * shares the envelope, so the header and response readers below are exported for it.
 *
 * Spec defects handled here (research §2.1, §4.9): the sync update/unlink/resolve requests
 * declare `action: link` and the sync responses `action: on-search`; we send the logical action
 * and accept any action back. `locale` must match ^[a-z]{3}$, so we send "eng", not SPAR's "en".
 *
 * Reason codes: results must classify like SPAR v2 (core/results.ts `classifyResult`), so the
 * spec's and SPAR 0.1's codes are rewritten where they mean the same thing as a SPAR v2 code.
 * A rewritten item keeps the server's code in its message, e.g. "… (server code succ.id.not_found)".
 *
 * | operation | server status / code                               | server message          | becomes                        | outcome        |
 * |-----------|----------------------------------------------------|-------------------------|--------------------------------|----------------|
 * | resolve   | succ / succ.id.not_found                           | any                     | succ.fa.not_linked_to_id       | not_found      |
 * | resolve   | succ / succ.fa.not_found                           | any                     | succ.fa.not_linked_to_id       | not_found      |
 * | resolve   | succ / succ.fa.not_linked_to_id                    | any                     | (kept)                         | not_found      |
 * | resolve   | succ / succ.{id,fa}.{active,inactive}, null        | any                     | (kept)                         | found          |
 * | link      | rjct / rjct.id.invalid (SPAR 0.1 duplicate)        | "duplicate…"/"already…" | rjct.reference_id.duplicate    | already_linked |
 * | link      | rjct / rjct.reference_id.duplicate                 | any                     | (kept: SPAR's "already linked")| already_linked |
 * | update    | rjct / rjct.id.invalid (SPAR 0.1 missing ID)       | "doesn't exist…"        | rjct.reference_id.duplicate    | not_found      |
 * | update    | rjct / rjct.reference_id.duplicate (SPAR: missing) | "doesn't exist…"        | (kept)                         | not_found      |
 * | update    | rjct / rjct.reference_id.duplicate (spec meaning)  | anything else           | rjct.reference_id.invalid      | rejected       |
 * | unlink    | rjct / rjct.id.invalid                             | "doesn't exist…"        | (kept)                         | not_found      |
 * | any       | rjct / any other code                              | any                     | (kept)                         | rejected       |
 * | any       | rcvd or pdng / any code                            | any                     | the request's outcome unknown: | (unknown)      |
 * |           |                                                    |                         | stop, read back by the next run|                |
 *
 * The spec has no unlink "not found" code; only SPAR's "ID doesnt exist" message is recognised.
 */

// ---------------------------------------------------------------------------------------------
// Shared with spar-v1.ts (same envelope family)
// ---------------------------------------------------------------------------------------------

/** MsgHeader_V1.0.0 / SPAR 1.x RequestHeader: the required fields plus the two with defaults we rely on. */
export function connectRequestHeader(operation: Operation, count: number, context: RequestContext): Record<string, unknown> {
  return {
    version: '1.0.0',
    message_id: context.requestId,
    message_ts: context.timestamp,
    // The logical action, never the spec's copy-pasted "link" (research/g2p-connect.md §2.1).
    action: operation,
    sender_id: context.sender,
    total_count: count,
    is_msg_encrypted: false,
  };
}

/** The FA string SPAR would store, built here because these generations take no FA object. */
export function constructedFa(item: LinkItem, context: RequestContext): string {
  const strategy = context.strategies.get(item.fa.strategy_id);
  if (!strategy) {
    throw new UsageError(
      'request.unknown_strategy',
      `record ${item.reference_id} uses strategy ${item.fa.strategy_id}, which this profile does not know, so its FA string cannot be built`,
      {
        hint: 'use a strategy id the mapper has (SPAR defaults: 2 bank, 3 email wallet, 4 mobile wallet)',
      },
    );
  }
  return constructFa(strategy, item.fa);
}

/** Callers use it to deconstruct the FA string a resolve `details` returns. */
export { strategyIdOf } from '../../../core/strategy/declared.js';

export interface ConnectDialect {
  /** How messages name the generation, e.g. "SPAR 1.x". */
  readonly generation: string;
  /** Rewrites a completed item's code into SPAR v2 terms; absent means codes pass verbatim. */
  readonly normalise?: (
    operation: Operation,
    status: ItemStatus,
    code: string | null,
    message: string | null,
  ) => { code: string | null; message: string | null };
}

/**
 * Reads a sync answer `{header, message: {<operation>_response: [...]}}`. Never throws: any body
 * that is not that envelope becomes a BatchFailure saying what was wrong.
 */
export function readConnectResponse(
  operation: Operation,
  body: unknown,
  items: readonly ProtocolItem[],
  dialect: ConnectDialect,
): ItemResult[] | BatchFailure {
  if (!isRecord(body)) return unknownShape(`the answer is ${describe(body)}, not a ${dialect.generation} {header, message} envelope`);
  const header = body['header'];
  if (!isRecord(header))
    return (
      ackFailure(body) ??
      errorListFailure(body) ??
      unknownShape(`the answer has no header object: it is not a ${dialect.generation} envelope`)
    );

  const headerStatus = header['status'];
  const headerCode = stringOrNull(header['status_reason_code']);
  const headerMessage = stringOrNull(header['status_reason_message']);
  const message = body['message'];
  const list = isRecord(message) ? message[`${operation}_response`] : undefined;

  if (headerStatus === 'rjct') {
    // SPAR 0.1 marks the header rjct.errors.too_many when every item failed but still lists the
    // items, which say more than the header does.
    if (!(headerCode === 'rjct.errors.too_many' && Array.isArray(list))) {
      return { failure: true, kind: failureKind(headerCode), code: headerCode, message: headerMessage };
    }
  }
  if (!Array.isArray(list)) {
    if (headerStatus === 'rcvd' || headerStatus === 'pdng') {
      return unknownShape(
        `the header status is "${headerStatus}" with no ${operation}_response: the server did not complete the request synchronously`,
      );
    }
    return unknownShape(`the answer has no message.${operation}_response list`);
  }

  const requested = new Map(items.map((item) => [item.reference_id, item]));
  const results: ItemResult[] = [];
  let pending = 0;
  for (const entry of list) {
    if (!isRecord(entry) || typeof entry['reference_id'] !== 'string') continue;
    const item = requested.get(entry['reference_id']);
    if (!item) continue; // not ours; the caller reports every request item left unanswered
    const mismatch = otherId(entry, item);
    if (mismatch) return unknownShape(mismatch);
    // rcvd and pdng ("accepted, still working") may yet be applied: neither a result nor
    // something to send again (a pending link sent again is a second write on its way).
    if (entry['status'] === 'rcvd' || entry['status'] === 'pdng') pending++;
    // Only succ and rjct say what was done; a status the spec does not have says nothing: no
    // result, so the record is read back before anything is sent again.
    if (entry['status'] !== 'succ' && entry['status'] !== 'rjct') continue;
    results.push(readItem(operation, entry, item, dialect));
  }
  if (pending > 0)
    return {
      failure: true,
      kind: 'pending',
      code: null,
      message: `${pending} of its ${items.length} records are not done yet (the mapper said rcvd or pdng)`,
    };
  return results;
}

function readItem(operation: Operation, entry: Record<string, unknown>, item: ProtocolItem, dialect: ConnectDialect): ItemResult {
  const rawStatus = entry['status'];
  let code = stringOrNull(entry['status_reason_code']);
  let message = stringOrNull(entry['status_reason_message']);
  const status = rawStatus as ItemStatus;
  if (dialect.normalise) ({ code, message } = dialect.normalise(operation, status, code, message));
  const fa = entry['fa'];
  return {
    reference_id: item.reference_id,
    // Servers omit or blank the id (SPAR's unlink answers ""): the request is the truth.
    id: item.id,
    status,
    status_reason_code: code,
    status_reason_message: message,
    ...(operation === 'link' && typeof fa === 'string' ? { fa } : {}),
    // The stored string as the server returns it; the caller deconstructs it (see strategyIdOf).
    ...(operation === 'resolve' ? { fa: typeof fa === 'string' || isRecord(fa) ? fa : null } : {}),
    ...(operation === 'resolve' && Array.isArray(entry['additional_info']) ? { additional_info: entry['additional_info'] } : {}),
  };
}

/** A sync path answered like an async one: `{message: {ack_status, error}}` (research §3.4, §6.4). */
function ackFailure(body: Record<string, unknown>): BatchFailure | undefined {
  const message = body['message'];
  if (!isRecord(message) || typeof message['ack_status'] !== 'string') return undefined;
  const error = isRecord(message['error']) ? message['error'] : {};
  const code = stringOrNull(error['code']);
  if (message['ack_status'] === 'ACK') {
    return unknownShape(
      'the server acknowledged the request (ACK) instead of answering it: the path is an asynchronous endpoint; configure the sync paths',
    );
  }
  return {
    failure: true,
    kind: failureKind(code),
    code,
    message: stringOrNull(error['message']) ?? `the server answered ${message['ack_status']}`,
  };
}

/** `{"errors":[{code, message}]}`: a gateway or framework error that arrived with HTTP 200. */
function errorListFailure(body: Record<string, unknown>): BatchFailure | undefined {
  const errors = body['errors'];
  if (!Array.isArray(errors) || !isRecord(errors[0])) return undefined;
  return {
    failure: true,
    kind: 'unknown',
    code: stringOrNull(errors[0]['code']),
    message: stringOrNull(errors[0]['message']) ?? 'the server answered with an error list',
  };
}

function failureKind(code: string | null): BatchFailure['kind'] {
  if (code === null) return 'unknown';
  if (/jwt|signature/i.test(code)) return 'signature';
  if (/internal/i.test(code)) return 'internal';
  return 'validation';
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function stringOrNull(value: unknown): string | null {
  return typeof value === 'string' ? value : null;
}

function unknownShape(message: string): BatchFailure {
  return { failure: true, kind: 'unknown', code: null, message };
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a JSON array';
  return `a JSON ${typeof value}`;
}

// ---------------------------------------------------------------------------------------------
// G2P Connect itself
// ---------------------------------------------------------------------------------------------

/** LanguageCode is ISO 639-3 (^[a-z]{3}$); SPAR 0.1 defaults to it too. */
const LOCALE = 'eng';

interface NameValue {
  name: string;
  value: unknown;
}

/**
 * AttributeNameValueList: `[{name, value}]`. Entries already in that shape pass; any other object
 * becomes one entry per key. strategy_id goes first, as a string: AttributeValue is
 * `oneOf [string, integer, number, …]`, which an integer matches twice, so a strict validator
 * rejects integer values; "2" is valid under every reading (the spec's own example is a string).
 */
function nameValueList(item: LinkItem): NameValue[] {
  const list: NameValue[] = [];
  for (const entry of item.additional_info ?? []) {
    const keys = Object.keys(entry).sort();
    if (keys.length === 2 && keys[0] === 'name' && keys[1] === 'value' && typeof entry['name'] === 'string') {
      list.push({ name: entry['name'], value: entry['value'] });
      continue;
    }
    for (const [name, value] of Object.entries(entry)) if (value !== undefined) list.push({ name, value });
  }
  for (const { name, value } of list) {
    if (value === null || value === undefined || Array.isArray(value)) {
      throw new UsageError(
        'request.additional_info_unrepresentable',
        `record ${item.reference_id}: additional_info "${name}" is ${Array.isArray(value) ? 'a list' : 'empty'}, which G2P Connect cannot carry`,
        {
          hint: 'G2P Connect additional_info values are strings, numbers, booleans or objects',
        },
      );
    }
  }
  if (!list.some((entry) => entry.name === 'strategy_id')) list.unshift({ name: 'strategy_id', value: String(item.fa.strategy_id) });
  return list;
}

/**
 * One request item of a string-FA generation (G2P Connect, SPAR 1.x): they differ only in the
 * locale they expect and in how additional_info carries the strategy id.
 */
export function stringFaRequestItem(
  operation: Operation,
  item: ProtocolItem,
  context: RequestContext,
  dialect: { locale: string; additionalInfo: (item: LinkItem) => unknown[] },
): Record<string, unknown> {
  const base = { reference_id: item.reference_id, timestamp: context.timestamp, id: item.id };
  if (operation === 'link' || operation === 'update') {
    const link = item as LinkItem;
    return {
      ...base,
      fa: constructedFa(link, context),
      ...(link.name !== undefined ? { name: link.name } : {}),
      ...(link.phone_number !== undefined ? { phone_number: link.phone_number } : {}),
      additional_info: dialect.additionalInfo(link),
      locale: dialect.locale,
    };
  }
  // Both use the same scope words as sparctl: yes_no | details.
  if (operation === 'resolve') return { ...base, scope: (item as ResolveItem).scope, locale: dialect.locale };
  // With fa, the server deletes only when the stored string is exactly this one.
  const { fa } = item as UnlinkItem;
  return { ...base, ...(fa !== undefined ? { fa } : {}), locale: dialect.locale };
}

const requestItem = (operation: Operation, item: ProtocolItem, context: RequestContext) =>
  stringFaRequestItem(operation, item, context, { locale: LOCALE, additionalInfo: nameValueList });

function buildRequest(operation: Operation, items: readonly ProtocolItem[], context: RequestContext): unknown {
  return {
    // Nobody verifies the body signature (the real one is the HTTP Signature header), but
    // SPAR 0.1 requires the field to be a string.
    signature: '',
    header: connectRequestHeader(operation, items.length, context),
    message: {
      transaction_id: context.transactionId,
      [`${operation}_request`]: items.map((item) => requestItem(operation, item, context)),
    },
  };
}

// Matches SPAR's "ID doesnt exist please link first" and SPAR 0.1's "Mapping doesnt exist against given ID".
const NOT_FOUND = /doesn'?t exist|does not exist|not found|no mapping/i;
const ALREADY_LINKED = /duplicate|already/i;

function normalise(
  operation: Operation,
  status: ItemStatus,
  code: string | null,
  message: string | null,
): { code: string | null; message: string | null } {
  const rewrite = (to: string) => ({ code: to, message: `${message ? `${message} ` : ''}(server code ${code})` });
  if (operation === 'resolve' && status === 'succ' && (code === 'succ.id.not_found' || code === 'succ.fa.not_found'))
    return rewrite(ReasonCode.faNotLinkedToId);
  if (status === 'rjct' && operation === 'link' && code === ReasonCode.idInvalid && ALREADY_LINKED.test(message ?? ''))
    return rewrite(ReasonCode.referenceIdDuplicate);
  if (status === 'rjct' && operation === 'update') {
    const missing = NOT_FOUND.test(message ?? '');
    if (code === ReasonCode.idInvalid && missing) return rewrite(ReasonCode.referenceIdDuplicate);
    // The spec's meaning (a repeated reference_id), not SPAR's "missing ID": must not read as not_found.
    if (code === ReasonCode.referenceIdDuplicate && !missing) return rewrite(ReasonCode.referenceIdInvalid);
  }
  return { code, message };
}

function parseResponse(operation: Operation, body: unknown, items: readonly ProtocolItem[]): ItemResult[] | BatchFailure {
  return readConnectResponse(operation, body, items, { generation: 'G2P Connect', normalise });
}

export const g2pConnectProtocol: WireProtocol = {
  name: 'g2p-connect',
  defaultPaths: {
    link: '/mapper/sync/link',
    update: '/mapper/sync/update',
    resolve: '/mapper/sync/resolve',
    unlink: '/mapper/sync/unlink',
  },
  buildRequest,
  parseResponse,
};
