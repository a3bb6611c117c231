/**
 * Retries: which failures may pass, and how long to wait before asking again. Shared by the write
 * pipeline (a write after reading back what an unknown outcome left), resolve's lookups and the
 * G2P Connect status requests. Pure: the caller sleeps.
 */

/** Codes of failures that may pass: the request is tried again. */
export const RETRYABLE = new Set([
  'remote.refused',
  'remote.reset',
  'remote.timeout',
  'remote.connect_timeout',
  'remote.server_error',
  'remote.rate_limited',
  'remote.batch_failed',
  'remote.transport',
  'remote.host_unknown',
  'remote.unexpected_status',
  // The token endpoint failing: the request it was for was never sent.
  'auth.token_unavailable',
]);

/**
 * The wait before attempt `attempt + 1`: exponential from `base` up to `max`, the upper half
 * jittered (`random` in [0, 1)), never shorter than the mapper's Retry-After.
 */
export function backoffDelay(
  attempt: number,
  retryAfterMs: number | undefined,
  random: () => number,
  { base, max }: { readonly base: number; readonly max: number } = { base: 500, max: 30_000 },
): number {
  const exponential = Math.min(max, base * 2 ** attempt);
  return Math.round(Math.max(exponential / 2 + random() * (exponential / 2), retryAfterMs ?? 0));
}
