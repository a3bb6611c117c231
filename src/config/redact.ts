/**
 * Credentials never shown: URLs lose their user-info and their query values (an API gateway's
 * `?subscription-key=…`, a `?token=…`) before they reach a message, a log line or a stored
 * description. Kept apart from settings.ts so the error path loads no schema library.
 */

const USER_INFO = /^([a-z][a-z0-9+.-]*:\/\/)[^\s/?#]*@/i;
/** A query parameter's value, up to the next parameter, the fragment, or punctuation that ends a sentence. */
const QUERY_VALUE = /([?&][^=&#\s]*)=[^&#\s]*?(?=[&#]|[)\]:;,.'"]*(?:\s|$))/g;

/** Removes user:password and every query value from a URL so it can be shown in messages. */
export function redactUrl(url: string): string {
  return url.replace(USER_INFO, '$1***@').replace(QUERY_VALUE, '$1=***');
}

/** Masks the user-info and query values of every URL in a message: the last line of defence for errors. */
export function redactUrlsIn(text: string): string {
  // Greedy to the last @ before the path: a password may hold an unescaped @.
  return text
    .replace(/\b([a-z][a-z0-9+.-]*:\/\/)[^\s/?#]*@/gi, '$1***@')
    .replace(/\b[a-z][a-z0-9+.-]*:\/\/[^\s]*/gi, (url) => url.replace(QUERY_VALUE, '$1=***'));
}
