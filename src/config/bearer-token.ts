import { ConfigError } from '../core/errors.js';

/**
 * A bearer token checked before it is put in an `Authorization` header: one holding a line break,
 * another control character or a non-ASCII character cannot be sent as written (undici refuses
 * the header, which read as a network failure, exit 4; a Latin-1 letter would go out as another
 * byte than the file holds). Refused as a configuration error (exit 3) naming where the token
 * came from — `from`: "SPARCTL_TOKEN", "the file /path" — never the token or any part of it.
 */
export function checkedBearerToken(token: string, from: string, hint?: string): string {
  // An empty one (a token file holding only a line break) went out as "Bearer " and was refused as a wrong token.
  if (token.trim() === '')
    throw new ConfigError('auth.token_invalid', `the bearer token from ${from} is empty; no request was sent with it`, {
      hint: hint ?? `put the token in ${from}`,
    });
  const bad = /[^\u0020-\u007e]/.exec(token)?.[0];
  if (bad === undefined) return token;
  const what =
    bad === '\n' || bad === '\r' ? 'a line break' : bad < ' ' || bad === '\u007f' ? 'a control character' : 'a non-ASCII character';
  throw new ConfigError(
    'auth.token_invalid',
    `the bearer token from ${from} holds ${what}, which cannot be sent in an HTTP header; no request was sent with it`,
    {
      hint:
        hint ??
        `a token is one line of printable ASCII: put the token alone in ${from}, without line breaks, control or non-ASCII characters`,
    },
  );
}
