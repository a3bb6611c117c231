/**
 * Credentials never shown: URLs lose their user-info and their query values (an API gateway's
 * `?subscription-key=…`, a `?token=…`) before they reach a message, a log line or a stored
 * description. Kept apart from settings.ts so the error path loads no schema library.
 */

/** A query parameter's value, up to the next parameter, the fragment, or punctuation that ends a sentence. */
const QUERY_VALUE = /([?&][^=&#\s]*)=[^&#\s]*?(?=[&#]|[)\]:;,.'"]*(?:\s|$))/g;

/**
 * Removes user:password and every query value from a URL so it can be shown in messages. The
 * URL is one value (a flag, a setting), possibly malformed — a space in the password, no
 * scheme, `http//…` — and whatever precedes its last `@` before the path is masked: a value the
 * URL parser would refuse is exactly the one echoed in the refusal.
 */
export function redactUrl(url: string): string {
  const scheme = url.indexOf('://');
  const hostStart = scheme < 0 ? 0 : scheme + 3;
  // The user-info ends at the last `@`: a password may hold `/`, `?`, `#` or `@` unescaped (a
  // base64 secret). A URL with an `@` in its path or query is masked further than it needs:
  // a host hidden is better than a password shown.
  const at = url.lastIndexOf('@');
  let shown = url;
  if (at >= hostStart) {
    // No scheme: the user-info starts after the last slash before the `@` (`http//u:p@h`).
    const start = scheme < 0 ? url.lastIndexOf('/', at) + 1 : hostStart;
    shown = `${url.slice(0, start)}***${url.slice(at)}`;
  }
  return maskRest(shown.replace(QUERY_VALUE, '$1=***'));
}

/**
 * What a URL holds past its host that query values alone do not cover: a fragment
 * (`#access_token=…`), path parameters (`;jsessionid=…`) and a query that is one bare key
 * (`?SECRET`), each masked whole.
 */
function maskRest(url: string): string {
  return url
    .replace(/#.*$/, '#***')
    .replace(/;[^/?#=]*=[^/?#]*/g, (param) => `${param.slice(0, param.indexOf('=') + 1)}***`)
    .replace(/\?([^=&#]+)$/, '?***');
}

/**
 * A remote mapper as a bulk job's journal and an import's state know it: its URL masked as
 * redactUrl masks it, with the scheme and host in lower case, no default port and no trailing
 * slash. Keyed by the URL as typed, `…/mapper` and `…/mapper/` were two mappers: a resumed run
 * started a new job, and an import read every submission again over an admin's corrections.
 */
export function remoteIdentity(protocol: string, baseUrl: string): string {
  return `${protocol} ${redactUrl(normalAddress(baseUrl))}`;
}

/** A mapper's address however it is spelled: scheme and host in any case, a trailing slash or not; secrets kept. */
export function normalAddress(baseUrl: string): string {
  try {
    const url = new URL(baseUrl);
    const userInfo = url.username !== '' || url.password !== '' ? `${url.username}:${url.password}@` : '';
    return `${url.protocol}//${userInfo}${url.host}${url.pathname.replace(/\/+$/, '')}${url.search}${url.hash}`;
  } catch {
    return baseUrl; // not a URL a request could go to either: as given
  }
}

/** What remoteIdentity was before it was normalized (the URL as typed): a journal or state an earlier sparctl left under it is still this mapper's. */
export function earlierRemoteIdentity(protocol: string, baseUrl: string): string | undefined {
  const earlier = `${protocol} ${redactUrl(baseUrl)}`;
  return earlier === remoteIdentity(protocol, baseUrl) ? undefined : earlier;
}

/**
 * A request's path as an access log shows it: query values masked, and no user or password an
 * absolute-form request line (`GET http://u:p@host/ping`) or a `//u:p@x/` path would carry.
 */
export function redactQuery(path: string): string {
  return maskRest(path.replace(/^([a-z][a-z0-9+.-]*:)?\/\/[^/?#]*@/i, '$1//***@').replace(QUERY_VALUE, '$1=***'));
}

/** Masks the user-info and query values of every URL in a message, and the secrets held: the last line of defence for errors. */
export function redactUrlsIn(text: string): string {
  // Greedy to the last @ before the path: a password may hold an unescaped @.
  return redactSecretsIn(text)
    .replace(/\b([a-z][a-z0-9+.-]*:\/\/)[^\s/?#]*@/gi, '$1***@')
    .replace(/\b[a-z][a-z0-9+.-]*:\/\/[^\s]*/gi, (url) => maskRest(url.replace(QUERY_VALUE, '$1=***')));
}

/**
 * The secret values this process sends (a bearer token, an OAuth2 client secret and the tokens
 * it is given, a password): a server may echo one in its answer (an error text naming the token
 * that expired), which sparctl would then print, store in a reject file or write to a JUnit
 * report. Shorter than 8 characters, a value would mask ordinary words, and is not held.
 */
const HELD = new Set<string>();

export function holdSecret(value: string | undefined): void {
  if (value !== undefined && value.length >= 8) HELD.add(value);
}

/**
 * Query parameters and path parameters held as `name=value` (and the URL's `:password@`), masked
 * to `name=***`: a gateway key shorter than 8 characters is still masked where a server echoes
 * the request's path, without masking the same short value anywhere else.
 */
const HELD_PAIRS = new Map<string, string>();

/**
 * Holds what redactUrl masks in a URL sparctl sends requests to (the mapper's, the token
 * endpoint's, the bene-portal's): its password and every query and path parameter value, as
 * sent and decoded. A server that echoes the request path (`…/resolve?subscription-key=…` in an
 * error text) would otherwise have sparctl print the key its own URLs never show.
 */
export function holdUrlSecrets(url: string | undefined): void {
  if (url === undefined) return;
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return; // not a URL any request goes to
  }
  for (const password of spellings(parsed.password)) {
    holdSecret(password);
    if (password !== '') HELD_PAIRS.set(`:${password}@`, ':***@');
  }
  const params = [...parsed.search.slice(1).split('&'), ...[...parsed.pathname.matchAll(/;([^/;]*)/g)].map((match) => match[1]!)];
  for (const param of params) {
    const eq = param.indexOf('=');
    // A bare `?KEY` is masked whole by redactUrl: held as a value.
    const [name, value] = eq === -1 ? ['', param] : [param.slice(0, eq), param.slice(eq + 1)];
    for (const shown of spellings(value)) {
      if (shown.length >= 8) SHOWN_ONLY.add(shown);
      if (name !== '' && shown !== '') for (const key of spellings(name)) SHOWN_ONLY_PAIRS.set(`${key}=${shown}`, `${key}=***`);
    }
  }
}

/**
 * A URL's query and path parameter values are masked only in what sparctl shows of a server's
 * text (an error message), never in the answers it reads: a value such as `?tenant=20190815`
 * may also be data, and masked in an answer it became an account number "***99" that fa edit
 * then wrote back.
 */
const SHOWN_ONLY = new Set<string>();
const SHOWN_ONLY_PAIRS = new Map<string, string>();

/** redactSecretsIn, and the URL parameter values held: for a message before it is printed or written (an error, its hint). */
export function redactShownText(text: string): string {
  let shown = redactSecretsIn(text);
  for (const [pair, masked] of SHOWN_ONLY_PAIRS) if (shown.includes(pair)) shown = shown.split(pair).join(masked);
  for (const secret of SHOWN_ONLY) if (shown.includes(secret)) shown = shown.split(secret).join('***');
  return shown;
}

/** A URL part as sent (percent-encoded) and as a server that decodes it may echo it. */
function spellings(part: string): string[] {
  try {
    const decoded = decodeURIComponent(part.replace(/\+/g, ' '));
    return decoded === part ? [part] : [part, decoded];
  } catch {
    return [part];
  }
}

/** Masks every secret this process holds (holdSecret, a URL's password) in a text a server sent: applied to whole answers, so to values that are secrets only. */
export function redactSecretsIn(text: string): string {
  let shown = text;
  for (const [pair, masked] of HELD_PAIRS) if (shown.includes(pair)) shown = shown.split(pair).join(masked);
  for (const secret of HELD) if (shown.includes(secret)) shown = shown.split(secret).join('***');
  return shown;
}
