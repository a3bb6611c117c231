import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { DigestsAtSpans, sameBytes } from '../../src/adapters/input/byte-digests.js';

/** What the first read of `bytes` leaves, fed in pieces of `step`. */
function digestsOf(bytes: Buffer, step: number) {
  const spans = new DigestsAtSpans();
  for (let at = 0; at < bytes.length; at += step) spans.update(bytes.subarray(at, at + step));
  return spans.end();
}

/** The second read of `bytes` in pieces of `step`, against `expected`: what it hands on, or the error's code and message. */
async function readAgain(bytes: Buffer, step: number, expected: ReturnType<typeof digestsOf>) {
  const pieces: Buffer[] = [];
  for (let at = 0; at < bytes.length; at += step) pieces.push(bytes.subarray(at, at + step));
  const out: Buffer[] = [];
  try {
    for await (const chunk of sameBytes(Readable.from(pieces), expected, 'in.csv')) out.push(chunk);
    return { bytes: Buffer.concat(out) };
  } catch (error) {
    return { handedOn: Buffer.concat(out).length, code: (error as { code: string }).code, message: (error as Error).message };
  }
}

const file = (rows: number, end = '\n') =>
  Buffer.from(`id,account\n${Array.from({ length: rows }, (_, i) => `R${i},${String(i).padStart(12, '0')}`).join('\n')}${end}`);

describe('the run reads its input against the bytes the first pass read', () => {
  it('the same bytes are handed on whole, however both reads are cut into pieces', async () => {
    for (const bytes of [file(0), file(3), file(20_000), file(20_000, '')])
      for (const [first, second] of [
        [65_536, 65_536],
        [1, 7_919],
        [100_000, 13],
      ] as const)
        expect((await readAgain(bytes, second, digestsOf(bytes, first))).bytes?.equals(bytes)).toBe(true);
  });

  it('a span saved over in place (the same size) stops the read before any byte of it is handed on', async () => {
    const bytes = file(20_000);
    const expected = digestsOf(bytes, 65_536);
    const changed = Buffer.from(bytes);
    changed.write('X', 200_000);
    const again = await readAgain(changed, 4_096, expected);
    expect(again.code).toBe('input.changed');
    expect(again.message).toContain('its bytes before offset 262,144 are not the ones read then');
    expect(again.handedOn).toBe(196_608); // the three spans before it, checked
  });

  it('an append after a line break is handed on (the engine stops at rows the index does not count); after none, or a cut, stops', async () => {
    const whole = file(5);
    const appended = Buffer.concat([whole, Buffer.from('R9,999999999999\n')]);
    expect((await readAgain(appended, 10, digestsOf(whole, 64))).bytes?.equals(appended)).toBe(true);
    const open = file(5, '');
    const lengthened = await readAgain(Buffer.concat([open, Buffer.from('99\n')]), 10, digestsOf(open, 64));
    expect(lengthened.code).toBe('input.changed');
    expect(lengthened.message).toContain('it grew past the');
    const cut = await readAgain(whole.subarray(0, whole.length - 5), 10, digestsOf(whole, 64));
    expect(cut.code).toBe('input.changed');
    expect(cut.message).toContain(`it ends at ${whole.length - 5} bytes, before the ${whole.length} read then`);
    expect(cut.handedOn).toBe(0);
  });
});
