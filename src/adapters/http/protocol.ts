import type { LinkItem, ResolveItem, UnlinkItem } from '../../core/mapper.js';
import type { ItemResult, Operation } from '../../core/results.js';
import type { Strategy } from '../../core/strategy/strategy.js';

/**
 * One wire generation of the mapper API (spar-v2, spar-v1, g2p-connect sync). A protocol only
 * builds request bodies and reads response bodies; HttpMapper does the transport, signing and
 * error handling. Both functions are pure.
 */
export interface WireProtocol {
  readonly name: 'spar-v2' | 'spar-v1' | 'g2p-connect';
  /** Default path of each operation, relative to the profile's baseUrl (overridable per profile). */
  readonly defaultPaths: Readonly<Record<Operation, string>>;
  buildRequest(operation: Operation, items: readonly ProtocolItem[], context: RequestContext): unknown;
  /**
   * Reads a parsed JSON body answered with HTTP 200. Returns one result per item the server
   * answered (correlation by reference_id is the caller's job), or a BatchFailure when the server
   * refused the request as a whole.
   */
  parseResponse(operation: Operation, body: unknown, items: readonly ProtocolItem[]): ItemResult[] | BatchFailure;
}

export type ProtocolItem = LinkItem | ResolveItem | UnlinkItem;

export interface RequestContext {
  /** Unique per request: request_id / message_id. */
  readonly requestId: string;
  /** Unique per request: transaction_id. */
  readonly transactionId: string;
  /** ISO 8601 UTC, e.g. 2026-11-21T05:10:29.020Z. */
  readonly timestamp: string;
  /** request_header.sender_app_mnemonic (spar-v2) / header.sender_id (spar-v1, g2p-connect). */
  readonly sender: string;
  /** Strategies by id: protocols whose FA is a string build it locally with these. */
  readonly strategies: ReadonlyMap<number, Strategy>;
}

/** The server refused the whole request. `kind` decides the exit code and whether a retry may help. */
export interface BatchFailure {
  readonly failure: true;
  /** `pending`: some of the items are not done yet (G2P Connect rcvd/pdng): they may still be applied. */
  readonly kind: 'signature' | 'validation' | 'internal' | 'unknown' | 'pending';
  /** The server's own code and message, shown to the user as they are. */
  readonly code: string | null;
  readonly message: string | null;
}

export function isBatchFailure(value: ItemResult[] | BatchFailure): value is BatchFailure {
  return !Array.isArray(value);
}

/**
 * A result that names another ID than the one sent under its reference_id (update and resolve
 * answers carry the ID): the answer's results cannot be matched to the records, none of them is
 * trusted — a resolve would show one beneficiary's FA as another's.
 */
export function otherId(entry: Record<string, unknown>, item: ProtocolItem): string | undefined {
  const answered = entry['id'];
  if (typeof answered !== 'string' || answered === '' || answered === item.id) return undefined;
  return `the answer's result for reference ${String(entry['reference_id'])} names another ID than the one sent with it; its results cannot be matched to the records`;
}
