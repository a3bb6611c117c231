import { StringDecoder } from 'node:string_decoder';

/**
 * The lines of a stream as node:readline splits them (`crlfDelay: Infinity`: LF, CRLF or a lone
 * CR ends one, a CRLF cut between chunks too), with none held past `limit` characters.
 *
 * Invariant: every line readline would give is given, in order, whole when it has at most
 * `limit` characters; a longer one as its first `keep` characters and its length, the rest of
 * it read past and never kept. readline held a JSONL line of 100 MB whole (900 MB of memory)
 * before anything could say it was too long.
 */
export interface BoundedLine {
  /** The line, or its first `keep` characters when it is longer than `limit`. */
  readonly text: string;
  /** Its length in characters: over `limit`, the line was not kept. */
  readonly length: number;
}

const LF = 10;
const CR = 13;

export async function* boundedLines(stream: AsyncIterable<Buffer | string>, limit: number, keep: number): AsyncGenerator<BoundedLine> {
  const decoder = new StringDecoder('utf8');
  let parts: string[] = [];
  let size = 0;
  let head: string | undefined;
  let started = false;
  const add = (piece: string) => {
    if (piece.length === 0) return;
    started = true;
    if (head === undefined && size + piece.length > limit) {
      head = (parts.join('') + piece.slice(0, keep)).slice(0, keep);
      parts = [];
    } else if (head === undefined) parts.push(piece);
    size += piece.length;
  };
  const take = (): BoundedLine => {
    const line = { text: head ?? (parts.length === 1 ? parts[0]! : parts.join('')), length: size };
    parts = [];
    size = 0;
    head = undefined;
    started = false;
    return line;
  };
  // A CR that ended the last chunk: an LF starting the next one belongs to it.
  let crBefore = false;
  const pieces = async function* () {
    for await (const chunk of stream) yield typeof chunk === 'string' ? chunk : decoder.write(chunk);
    yield decoder.end();
  };
  for await (const text of pieces()) {
    let from = crBefore && text.charCodeAt(0) === LF ? 1 : 0;
    if (text.length > 0) crBefore = false;
    let nextLf = text.indexOf('\n', from);
    let nextCr = text.indexOf('\r', from);
    while (from < text.length) {
      if (nextLf !== -1 && nextLf < from) nextLf = text.indexOf('\n', from);
      if (nextCr !== -1 && nextCr < from) nextCr = text.indexOf('\r', from);
      const end = nextLf === -1 ? nextCr : nextCr === -1 ? nextLf : Math.min(nextLf, nextCr);
      if (end === -1) {
        add(text.slice(from));
        break;
      }
      add(text.slice(from, end));
      yield take();
      from = end + 1;
      if (text.charCodeAt(end) === CR) {
        if (end + 1 === text.length) crBefore = true;
        else if (text.charCodeAt(end + 1) === LF) from = end + 2;
      }
    }
  }
  // The last line, with no line break after it.
  if (started) yield take();
}
