import type { LinkItem, ResolveItem, UnlinkItem } from '../../../core/mapper.js';
import type { ItemResult, ItemStatus, Operation } from '../../../core/results.js';
import { otherId, type BatchFailure, type ProtocolItem, type RequestContext, type WireProtocol } from '../protocol.js';

/**
 * SPAR v2 (openg2p-spar 2.x, OpenG2P/spar core): `{request_header, request_body}` envelope,
 * `POST /mapper/{link,update,resolve,unlink}`, structured FA objects carrying `strategy_id`
 * (research/spar-api.md §3, spar-v2-observed.md).
 */

function requestItem(operation: Operation, item: ProtocolItem, timestamp: string): Record<string, unknown> {
  // Built field by field: spreads per item were a large part of a bulk run's CPU.
  const out: Record<string, unknown> = { reference_id: item.reference_id, timestamp, id: item.id };
  if (operation === 'link' || operation === 'update') {
    const { fa, name, phone_number, additional_info } = item as LinkItem;
    out['fa'] = fa;
    if (name !== undefined) out['name'] = name;
    if (phone_number !== undefined) out['phone_number'] = phone_number;
    if (additional_info !== undefined) out['additional_info'] = additional_info;
    out['locale'] = 'en';
    return out;
  }
  if (operation === 'resolve') {
    out['scope'] = (item as ResolveItem).scope;
    out['locale'] = 'en';
    return out;
  }
  const { fa } = item as UnlinkItem;
  if (fa !== undefined) out['fa'] = fa;
  return out;
}

function buildRequest(operation: Operation, items: readonly ProtocolItem[], context: RequestContext): unknown {
  return {
    request_header: {
      sender_app_mnemonic: context.sender,
      sender_app_url: '',
      request_id: context.requestId,
      request_timestamp: context.timestamp,
      instance_id: null,
    },
    request_body: {
      pagination_request: null,
      request_payload: {
        transaction_id: context.transactionId,
        [`${operation}_request`]: items.map((item) => requestItem(operation, item, context.timestamp)),
      },
    },
  };
}

const isRecord = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);
const stringOrNull = (value: unknown): string | null => (typeof value === 'string' ? value : null);

function unknownShape(message: string): BatchFailure {
  return { failure: true, kind: 'unknown', code: null, message };
}

function parseResponse(operation: Operation, body: unknown, items: readonly ProtocolItem[]): ItemResult[] | BatchFailure {
  if (!isRecord(body) || !isRecord(body['response_header']))
    return unknownShape('the answer has no response_header: it is not a SPAR v2 mapper answer');
  const header = body['response_header'];
  if (header['response_status'] === 'ERROR') {
    const code = stringOrNull(header['response_error_code']);
    const message = stringOrNull(header['response_error_message']);
    const kind =
      code === 'rjct.internal.error'
        ? 'internal'
        : code === 'rjct.request.validation' && /jwt|signature/i.test(message ?? '')
          ? 'signature'
          : code === 'rjct.request.validation'
            ? 'validation'
            : 'unknown';
    return { failure: true, kind, code, message };
  }
  if (header['response_status'] !== 'SUCCESS')
    return unknownShape(`response_status is ${JSON.stringify(header['response_status'])}, expected SUCCESS or ERROR`);
  const payload = isRecord(body['response_body']) ? body['response_body']['response_payload'] : undefined;
  const list = isRecord(payload) ? payload[`${operation}_response`] : undefined;
  if (!Array.isArray(list)) return unknownShape(`the answer has no response_payload.${operation}_response list`);

  const requested = new Map(items.map((item) => [item.reference_id, item]));
  const results: ItemResult[] = [];
  for (const entry of list) {
    if (!isRecord(entry) || typeof entry['reference_id'] !== 'string') continue;
    const item = requested.get(entry['reference_id']);
    if (!item) continue; // not ours; the caller reports anything missing
    const mismatch = otherId(entry, item);
    if (mismatch) return unknownShape(mismatch);
    // Neither succ nor rjct says nothing of what was done: no result, so the record is read back.
    if (entry['status'] !== 'succ' && entry['status'] !== 'rjct') continue;
    const status: ItemStatus = entry['status'];
    const result: ItemResult = {
      reference_id: entry['reference_id'],
      // Link and unlink answers carry no id (unlink's is always ""): the request is the truth.
      id: item.id,
      status,
      status_reason_code: stringOrNull(entry['status_reason_code']),
      status_reason_message: stringOrNull(entry['status_reason_message']),
      ...(operation === 'link' && typeof entry['fa'] === 'string' ? { fa: entry['fa'] } : {}),
      ...(operation === 'resolve' ? { fa: isRecord(entry['fa']) ? entry['fa'] : null } : {}),
      ...(operation === 'resolve' && Array.isArray(entry['additional_info']) ? { additional_info: entry['additional_info'] } : {}),
    };
    results.push(result);
  }
  return results;
}

export const sparV2Protocol: WireProtocol = {
  name: 'spar-v2',
  defaultPaths: { link: '/mapper/link', update: '/mapper/update', resolve: '/mapper/resolve', unlink: '/mapper/unlink' },
  buildRequest,
  parseResponse,
};
