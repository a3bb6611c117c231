/**
 * Where in bytes that are not all valid UTF-8 the first bad one is, as a line of an editor's (a
 * CR, or an LF not after a CR, ends a line), for a message naming it. No imports: the config
 * file's reader loads it at start-up.
 */

const LF = 10;
const CR = 13;

/** Newlines in `chunk` before its first byte that is not valid UTF-8 (0 when it is the first). */
export function firstBadLine(chunk: Uint8Array): number {
  const decoder = new TextDecoder('utf-8', { fatal: true });
  let lines = 0;
  for (let i = 0; i < chunk.length; i++) {
    try {
      decoder.decode(chunk.subarray(i, i + 1), { stream: true });
    } catch {
      return lines;
    }
    if (chunk[i] === CR || (chunk[i] === LF && chunk[i - 1] !== CR)) lines++;
  }
  return lines;
}
