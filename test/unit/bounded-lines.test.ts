import { createInterface } from 'node:readline';
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { boundedLines } from '../../src/adapters/input/bounded-lines.js';
import { random } from '../helpers/record-corpus.js';

/** The chunks of `bytes`, cut at `cuts`. */
function chunks(bytes: Buffer, cuts: readonly number[]): Buffer[] {
  const out: Buffer[] = [];
  let from = 0;
  for (const cut of [...cuts, bytes.length]) {
    out.push(bytes.subarray(from, cut));
    from = cut;
  }
  return out;
}

async function readlineLines(parts: readonly Buffer[]): Promise<string[]> {
  const lines: string[] = [];
  for await (const line of createInterface({ input: Readable.from(parts), crlfDelay: Infinity })) lines.push(line);
  return lines;
}

async function bounded(parts: readonly Buffer[], limit: number, keep: number) {
  const lines = [];
  for await (const line of boundedLines(Readable.from(parts), limit, keep)) lines.push(line);
  return lines;
}

describe("boundedLines: readline's lines, none held past the limit", () => {
  it("gives readline's lines over random texts cut at random points (LF, CRLF, lone CR, multi-byte characters); a longer one as its head and length", async () => {
    const next = random(20261207);
    const pieces = ['a', 'bc', '{"id":"x"}', 'é', '東京', '😀', '\n', '\r\n', '\r', ' ', '\n\n', '\r\r\n'];
    for (let file = 0; file < 400; file++) {
      const text = Array.from({ length: Math.floor(next() * 40) }, () => pieces[Math.floor(next() * pieces.length)]).join('');
      const bytes = Buffer.from(text);
      const cuts = Array.from({ length: Math.floor(next() * 4) }, () => Math.floor(next() * (bytes.length + 1))).sort((a, b) => a - b);
      const parts = chunks(bytes, cuts);
      const expected = await readlineLines(parts);
      const whole = await bounded(parts, 1_000, 10);
      expect(
        whole.map((line) => line.text),
        JSON.stringify(text),
      ).toEqual(expected);
      expect(whole.map((line) => line.length)).toEqual(expected.map((line) => line.length));
      const small = await bounded(parts, 6, 3);
      expect(
        small.map((line) => [line.text, line.length]),
        JSON.stringify(text),
      ).toEqual(expected.map((line) => [line.length > 6 ? line.slice(0, 3) : line, line.length]));
    }
  });

  it('reads past a line of millions of characters without keeping it', async () => {
    const big = `${'{"id":"A"}\n'}${'x'.repeat(3_000_000)}\n{"id":"B"}`;
    const parts = chunks(Buffer.from(big), [1_000, 65_536, 2_000_000]);
    const lines = await bounded(parts, 1_000_000, 5);
    expect(lines).toEqual([
      { text: '{"id":"A"}', length: 10 },
      { text: 'xxxxx', length: 3_000_000 },
      { text: '{"id":"B"}', length: 10 },
    ]);
  });
});
