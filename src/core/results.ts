/**
 * Item statuses and reason codes exactly as SPAR v2 emits them (research/spar-api.md §7.1,
 * spar-v2-observed.md §2), so a result from the local mapper and one from a deployment read the
 * same. Some SPAR codes are misnamed (update of a missing ID says `rjct.reference_id.duplicate`);
 * `classifyResult` turns codes into outcomes a person can act on.
 */

export type ItemStatus = 'succ' | 'rjct';

export const ReasonCode = {
  idInvalid: 'rjct.id.invalid',
  faInvalid: 'rjct.fa.invalid',
  referenceIdDuplicate: 'rjct.reference_id.duplicate',
  referenceIdInvalid: 'rjct.reference_id.invalid',
  idActive: 'succ.id.active',
  faNotLinkedToId: 'succ.fa.not_linked_to_id',
  /**
   * sparctl's local mapper only (SPAR has no compare-and-set): an update carrying expectedFa
   * found another FA stored. Never seen in a reject file: the write pipeline reports the record
   * kept (`kept.changed_since`), as it does when its own read finds the FA changed.
   */
  faChangedSinceRead: 'rjct.fa.changed_since_read',
} as const;

/** SPAR's own messages, kept verbatim (typos included) so local and remote output match. */
export const ReasonMessage = {
  idNull: 'ID is null',
  idRequired: 'ID is required',
  alreadyMapped: 'ID and FA are already mapped',
  notLinked: 'ID doesnt exist please link first',
  resolveNotLinked: "ID doesn't exist, please link first",
} as const;

export type Operation = 'link' | 'update' | 'resolve' | 'unlink';

/** What happened to one item, in words a coordinator acts on. */
export type Outcome = 'linked' | 'updated' | 'unlinked' | 'found' | 'already_linked' | 'not_found' | 'rejected';

export interface ItemResult {
  readonly reference_id: string;
  /** The beneficiary ID the item was about (taken from the request, never from the response). */
  readonly id: string;
  readonly status: ItemStatus;
  readonly status_reason_code: string | null;
  readonly status_reason_message: string | null;
  /**
   * link: the constructed FA string; resolve `details`: the deconstructed FA object (with
   * `strategy_id`), `{}` or null exactly as SPAR returns them; otherwise absent.
   */
  readonly fa?: string | Record<string, unknown> | null;
  readonly additional_info?: unknown[] | null;
}

const NOT_FOUND_MESSAGE = /doesn'?t exist/i;

export function classifyResult(operation: Operation, result: ItemResult): Outcome {
  const code = result.status_reason_code;
  if (operation === 'resolve') {
    if (result.status === 'rjct') return 'rejected';
    return code === ReasonCode.faNotLinkedToId ? 'not_found' : 'found';
  }
  if (result.status === 'succ') {
    return operation === 'link' ? 'linked' : operation === 'update' ? 'updated' : 'unlinked';
  }
  if (operation === 'link' && code === ReasonCode.referenceIdDuplicate) return 'already_linked';
  // SPAR answers update-of-a-missing-id with rjct.reference_id.duplicate (sic).
  if (operation === 'update' && code === ReasonCode.referenceIdDuplicate) return 'not_found';
  if (operation === 'unlink' && code === ReasonCode.idInvalid && NOT_FOUND_MESSAGE.test(result.status_reason_message ?? '')) {
    return 'not_found';
  }
  return 'rejected';
}
