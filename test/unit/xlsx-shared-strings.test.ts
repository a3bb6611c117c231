import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { PartTooLarge, readSharedStrings, SHARED_STRINGS_LIMIT } from '../../src/adapters/input/xlsx-parts.js';
import { describeXlsxError } from '../../src/adapters/input/xlsx-reader.js';

/**
 * The shared-strings table is held in memory while a sheet is read: a table past its bound (a
 * zip bomb: 120 million one-character strings from 5 MB crashed Node, a fatal V8 error) stops the
 * read with the workbook's one line. The bound is lowered here: the real one takes 10 million strings.
 */
const table = (strings: readonly string[]) =>
  Readable.from([`<?xml version="1.0"?><sst xmlns="x">`, ...strings.map((text) => `<si><t>${text}</t></si>`), '</sst>']);

describe('the shared strings are bounded', () => {
  it('up to the count and the characters it holds; one more of either is a part too large, told as a zip bomb', async () => {
    const hundred = Array.from({ length: 100 }, (_, i) => `s${i}`);
    expect(await readSharedStrings(table(hundred), { count: 100, characters: 1_000 })).toEqual(hundred);
    await expect(readSharedStrings(table([...hundred, 'x']), { count: 100, characters: 1_000 })).rejects.toBeInstanceOf(PartTooLarge);
    await expect(readSharedStrings(table(['a'.repeat(600), 'b'.repeat(401)]), { count: 100, characters: 1_000 })).rejects.toBeInstanceOf(
      PartTooLarge,
    );
    expect(describeXlsxError(new PartTooLarge('the shared strings are too large once inflated'))).toBe(
      'one of its parts is too large once inflated: a zip bomb, not a workbook sparctl can read',
    );
    expect(SHARED_STRINGS_LIMIT).toEqual({ count: 10_000_000, characters: 2 ** 29 });
  });
});
