import { hash } from 'node:crypto';
import type { ItemRow } from '../../core/mapper.js';

/**
 * What the local mapper keeps of the row an item was made from (ItemRow), in the column
 * id_fa_mappings.source_digest: SHA-256 over the digest of its context and its text. Equal
 * digests mean equal rows, and equal rows make equal items. A request carries each context's
 * digest once and every row's text with the number of its context (RowTexts), so that the
 * writer thread can take the digests itself while the main thread goes on.
 */

const contextDigests = new Map<string, string>();

/** The digest of a context: one per run, taken once (a Map keeps the string's hash, not a copy). */
function contextDigest(context: string): string {
  let digest = contextDigests.get(context);
  if (digest === undefined) {
    if (contextDigests.size >= 16) contextDigests.clear();
    contextDigests.set(context, (digest = hash('sha256', context, 'base64')));
  }
  return digest;
}

/**
 * The row digest of a text under a context whose digest is given: the first 132 bits of the
 * SHA-256, in base64 (22 characters). As many bits as it takes to make a collision out of reach;
 * every byte more is stored with every mapping and written with every link.
 */
export const rowDigestOf = (contextDigestText: string, text: string): string =>
  hash('sha256', contextDigestText + text, 'base64').slice(0, 22);

/** The digest of an item's row. */
export const digestOfRow = (row: ItemRow): string => rowDigestOf(contextDigest(row.context), row.text);

/** The context digests of one request, each once; rows name theirs by number. */
export class ContextDigests {
  readonly digests: string[] = [];
  private readonly numbers = new Map<string, number>();

  numberOf(row: ItemRow): number {
    let number = this.numbers.get(row.context);
    if (number === undefined) {
      number = this.digests.push(contextDigest(row.context)) - 1;
      this.numbers.set(row.context, number);
    }
    return number;
  }
}

/** The item rows of the IDs of a read, by position: text and context number (-1: no row). */
export interface RowTexts {
  readonly contexts: readonly string[];
  readonly texts: readonly (string | null)[];
  readonly contextOf: readonly number[];
}
