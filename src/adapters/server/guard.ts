import { BlockList, isIP } from 'node:net';
import { createHash, timingSafeEqual } from 'node:crypto';

/**
 * Who and what `sparctl serve` lets in: whether an address it listens on stays on this machine,
 * the bearer-token check, and the limits on what one request, and all at once, may hold. `serve`
 * refuses a non-loopback address unless every request is authenticated and TLS is on (or the
 * operator says --insecure-serve). Small and free of zod: the flags' defaults come from here.
 */

/** Largest request body, by default: 10 MiB (500 bank-account links with names and phones: about 180 KB). */
export const DEFAULT_MAX_BODY_BYTES = 10 * 1024 * 1024;
/** Most items in one request, by default (clients send 500 per batch unless told otherwise). */
export const DEFAULT_MAX_ITEMS = 5_000;
/** Connections open at once; more are closed as they arrive (far below any file descriptor limit). */
export const MAX_CONNECTIONS = 256;
/** The bodies being received or handled at once hold at most this many times the body limit, in all. */
export const BODY_BUDGET_FACTOR = 4;

const LOOPBACK = new BlockList();
LOOPBACK.addSubnet('127.0.0.0', 8, 'ipv4');
LOOPBACK.addAddress('::1', 'ipv6');

/**
 * True when listening on `host` is reachable from this machine only: 127.0.0.0/8 (also written
 * as an IPv4-mapped IPv6 address), ::1 in any spelling, or the name `localhost`. Anything else,
 * including '' and 0.0.0.0 / :: (every interface) and any other name, counts as reachable from
 * elsewhere: a name is not trusted to resolve to loopback.
 */
export function isLoopbackHost(host: string): boolean {
  let address = host.trim();
  if (address.startsWith('[') && address.endsWith(']')) address = address.slice(1, -1);
  if (/^localhost\.?$/i.test(address)) return true;
  address = address.replace(/%[^%]*$/, ''); // an IPv6 zone (::1%lo) does not change the address
  const family = isIP(address);
  if (family === 4) return LOOPBACK.check(address, 'ipv4');
  if (family === 6) return LOOPBACK.check(address, 'ipv6');
  return false;
}

/** The secret of a bearer token file, checked before it is used: what is wrong, or undefined. */
export function bearerTokenProblem(token: string): string | undefined {
  if (token.length === 0) return 'is empty';
  if (!/^[\x21-\x7e]+$/.test(token)) return 'holds spaces or characters that cannot travel in an HTTP header';
  if (token.length < 16) return `holds a token of ${token.length} characters; at least 16 are needed`;
  return undefined;
}

/**
 * A check of `Authorization: Bearer <token>` headers against one token, in constant time: both
 * sides are hashed first, so neither the token's length nor where a guess goes wrong shows in
 * the time taken.
 */
export function bearerCheck(token: string): (authorization: string | undefined) => boolean {
  const expected = createHash('sha256').update(token, 'utf8').digest();
  return (authorization) => {
    const match = /^Bearer +(\S+) *$/i.exec(authorization ?? '');
    const given = createHash('sha256')
      .update(match?.[1] ?? '', 'utf8')
      .digest();
    // Compared even without a match, so that a missing header takes as long as a wrong one.
    return timingSafeEqual(given, expected) && match !== null;
  };
}
