import { createHash, type Hash } from 'node:crypto';
import { UnavailableError } from '../../core/errors.js';

/**
 * What the run reads of a file, held against what the pass before it read: a digest of the
 * file's bytes up to every SPAN boundary, and of all of them at its end.
 *
 * Invariant: `sameBytes` hands on no byte of the length first read before every byte up to its
 * span's end (or that length's) has been found as the pass before the run read it, so no row of
 * a file rewritten in place during the run (the same size, another row there) reaches the
 * engine: the row index, built from the first bytes, would say of it what is not so. Bytes past
 * that length (an append) are handed on as they come when the first read ended with a line break
 * (the engine stops at a row the index does not count), and stop the read when it did not (they
 * would lengthen the last row read).
 */

/** Bytes held back at most, until their span is checked. */
const SPAN = 65_536;

/** The digests a pass over a file leaves, for the run to read it against (sameBytes). */
export interface ByteDigests {
  /** At each SPAN boundary before `size`, then at `size`. */
  readonly digests: readonly string[];
  readonly size: number;
  /** The bytes read ended with a line break: what is appended after them starts a row of its own. */
  readonly endsLine: boolean;
}

/** Digests of the bytes up to each SPAN boundary, whatever sizes they are fed in. */
export class DigestsAtSpans {
  /** The running hash of every byte fed: a fingerprint may go on from it. */
  readonly hash: Hash = createHash('sha256');
  private offset = 0;
  private readonly digests: string[] = [];
  private last = -1;

  update(chunk: Uint8Array): void {
    if (chunk.length > 0) this.last = chunk[chunk.length - 1]!;
    for (let from = 0; from < chunk.length; ) {
      const part = chunk.subarray(from, from + SPAN - (this.offset % SPAN));
      this.hash.update(part);
      this.offset += part.length;
      from += part.length;
      if (this.offset % SPAN === 0) this.digests.push(digestOf(this.hash));
    }
  }

  /** The digests, the last of all the bytes (call before the hash goes on to a fingerprint). */
  end(): ByteDigests {
    // A last span that ends at a boundary has its digest already; the empty file gets one too.
    const whole = this.offset > 0 && this.offset % SPAN === 0 ? this.digests : [...this.digests, digestOf(this.hash)];
    return {
      digests: whole,
      size: this.offset,
      endsLine: this.last === 0x0a || this.last === 0x0d,
    };
  }
}

const digestOf = (hash: Hash) => hash.copy().digest('hex').slice(0, 32);

/**
 * The stream's bytes, each span handed on once checked against `expected` (DigestsAtSpans of the
 * pass before the run); input.changed when a span differs, or the file ends before the length
 * first read.
 */
export async function* sameBytes(stream: AsyncIterable<Buffer | string>, expected: ByteDigests, name: string): AsyncGenerator<Buffer> {
  const hash = createHash('sha256');
  let offset = 0;
  let span = 0;
  let held: Buffer[] = [];
  const changed = (where: string) =>
    // Exit 4, as for the surroundings: nothing is wrong with the input but that it moves.
    new UnavailableError('input.changed', `${name} changed since it was checked at the start of the run (${where}); nothing was sent`, {
      hint: 'let whatever writes to the file finish, then run the command again: a changed file is a new job',
    });
  for await (const chunk of stream) {
    const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    let from = 0;
    while (from < bytes.length && offset < expected.size) {
      const end = Math.min(SPAN * (span + 1), expected.size);
      const part = bytes.subarray(from, from + end - offset);
      hash.update(part);
      held.push(part);
      offset += part.length;
      from += part.length;
      if (offset === end) {
        if (digestOf(hash) !== expected.digests[span])
          throw changed(`its bytes before offset ${offset.toLocaleString('en')} are not the ones read then`);
        span++;
        yield held.length === 1 ? held[0]! : Buffer.concat(held);
        held = [];
      }
    }
    // Past the length first read: an append. After a line break it starts a row of its own, which
    // the engine stops at (the index does not count it); else it would lengthen the last row read,
    // which the index counts: stopped here.
    if (from < bytes.length) {
      if (!expected.endsLine)
        throw changed(`it grew past the ${expected.size.toLocaleString('en')} bytes read then, whose last line had no line break`);
      yield bytes.subarray(from);
    }
  }
  if (offset < expected.size)
    throw changed(`it ends at ${offset.toLocaleString('en')} bytes, before the ${expected.size.toLocaleString('en')} read then`);
}
