import type { LinkItem } from '../../../core/mapper.js';
import type { ItemResult, Operation } from '../../../core/results.js';
import type { BatchFailure, ProtocolItem, RequestContext, WireProtocol } from '../protocol.js';
import { connectRequestHeader, readConnectResponse, stringFaRequestItem } from './g2p-connect.js';

/**
 * SPAR 1.x "G1" (openg2p-spar v1.0.0/v1.1.x; research/spar-api.md §9, §5.4, §7.2): G2P Connect
 * style `{header, message}` at `POST /sync/{link,update,resolve,unlink}`, FA an opaque string.
 *
 * - The server checks that header.action equals the endpoint (else `rjct.action.not_supported`).
 * - It has no strategies, so we build the FA string locally and store the strategy id the way
 *   SPAR 2.x does, in additional_info[0] — resolve `details` returns that list with the string,
 *   which is what lets the caller deconstruct it later.
 * - Item reason codes are SPAR 2.x's own (§7.2), so they pass through verbatim.
 * - Header rejections: `rjct.jwt.invalid` (signature) and `rjct.action.not_supported`, with
 *   `message: {}`; both become a BatchFailure.
 */

/** SPAR keeps the strategy id in additional_info[0] and adds it when the caller did not (as 2.x does server-side). */
function withStrategyId(item: LinkItem): Record<string, unknown>[] {
  const info = item.additional_info?.map((entry) => ({ ...entry })) ?? [];
  if (info.length === 0) return [{ strategy_id: item.fa.strategy_id }];
  if (!('strategy_id' in info[0]!)) info[0]!['strategy_id'] = item.fa.strategy_id;
  return info;
}

// SPAR 1.x's own default locale (pydantic default "en"); it does not validate it.
const LOCALE = 'en';

const requestItem = (operation: Operation, item: ProtocolItem, context: RequestContext) =>
  stringFaRequestItem(operation, item, context, { locale: LOCALE, additionalInfo: withStrategyId });

function buildRequest(operation: Operation, items: readonly ProtocolItem[], context: RequestContext): unknown {
  return {
    header: connectRequestHeader(operation, items.length, context),
    message: {
      transaction_id: context.transactionId,
      [`${operation}_request`]: items.map((item) => requestItem(operation, item, context)),
    },
  };
}

function parseResponse(operation: Operation, body: unknown, items: readonly ProtocolItem[]): ItemResult[] | BatchFailure {
  return readConnectResponse(operation, body, items, { generation: 'SPAR 1.x' });
}

export const sparV1Protocol: WireProtocol = {
  name: 'spar-v1',
  defaultPaths: { link: '/sync/link', update: '/sync/update', resolve: '/sync/resolve', unlink: '/sync/unlink' },
  buildRequest,
  parseResponse,
};
