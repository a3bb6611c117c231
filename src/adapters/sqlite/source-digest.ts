import { hash } from 'node:crypto';
import type { ItemSource } from '../../core/mapper.js';

/**
 * What the local mapper keeps of an item's source (id_fa_mappings.source_digest): SHA-256 over
 * a digest of its context and its text. Equal digests mean equal sources, and equal sources
 * make equal items (ItemSource). The digest is taken in two steps so that only the short key
 * (sourceKey) travels to the writer thread, which hashes it there.
 */

const contextDigests = new Map<string, string>();

/** The text the digest is taken of: the context's own digest, then the source's text. */
export function sourceKey(source: ItemSource): string {
  // One context per run: its digest is taken once (a Map keeps the string's hash, not a copy).
  let context = contextDigests.get(source.context);
  if (context === undefined) {
    if (contextDigests.size >= 16) contextDigests.clear();
    contextDigests.set(source.context, (context = hash('sha256', source.context, 'base64')));
  }
  return context + source.text;
}

export const sourceDigestOf = (key: string): string => hash('sha256', key, 'base64');
