/**
 * Credentials never shown: URLs lose their user-info before they reach a message, a log line or
 * a stored description. Kept apart from settings.ts so the error path loads no schema library.
 */

/** Removes user:password from a URL so it can be shown in messages. */
export function redactUrl(url: string): string {
  return url.replace(/^([a-z][a-z0-9+.-]*:\/\/)[^\s/?#]*@/i, '$1***@');
}

/** Masks the user-info of every URL in a message: the last line of defence for errors. */
export function redactUrlsIn(text: string): string {
  // Greedy to the last @ before the path: a password may hold an unescaped @.
  return text.replace(/\b([a-z][a-z0-9+.-]*:\/\/)[^\s/?#]*@/gi, '$1***@');
}
