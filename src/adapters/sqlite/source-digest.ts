import { hash } from 'node:crypto';
import type { ItemSource } from '../../core/mapper.js';

/**
 * What the local mapper keeps of an item's source (id_fa_mappings.source_digest): SHA-256 over
 * the digest of its context and its text. Equal digests mean equal sources, and equal sources
 * make equal items (ItemSource). A request carries each context's digest once and every
 * source's text with the number of its context (SourceTexts), so that the writer thread can
 * take the digests itself while the main thread goes on.
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
 * The source digest of a text under a context whose digest is given: the first 132 bits of the
 * SHA-256, in base64 (22 characters). As many bits as it takes to make a collision out of reach;
 * every byte more is stored with every mapping and written with every link.
 */
export const sourceDigestOf = (contextDigestText: string, text: string): string =>
  hash('sha256', contextDigestText + text, 'base64').slice(0, 22);

/** The source digest of an item's source. */
export const digestOfSource = (source: ItemSource): string => sourceDigestOf(contextDigest(source.context), source.text);

/** The context digests of one request, each once; sources name theirs by number. */
export class SourceContexts {
  readonly digests: string[] = [];
  private readonly numbers = new Map<string, number>();

  numberOf(source: ItemSource): number {
    let number = this.numbers.get(source.context);
    if (number === undefined) {
      number = this.digests.push(contextDigest(source.context)) - 1;
      this.numbers.set(source.context, number);
    }
    return number;
  }
}

/** The sources of the IDs of a read, by position: text and context number (-1: no source). */
export interface SourceTexts {
  readonly contexts: readonly string[];
  readonly texts: readonly (string | null)[];
  readonly contextOf: readonly number[];
}
