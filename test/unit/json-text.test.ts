import { describe, expect, it } from 'vitest';
import { inexactJson, scanJson } from '../../src/core/json-text.js';

/** What inexactJson refuses in `text` (valid JSON: JSON.parse takes it), or undefined. */
const refused = (text: string) => {
  // Both ways: keys kept, and keys counted against what JSON.parse made of the text.
  const kept = inexactJson(text)?.what;
  expect(inexactJson(text, JSON.parse(text))?.what, text).toBe(kept);
  return kept;
};

describe('inexactJson: what JSON.parse reads otherwise than written', () => {
  it('keeps numbers a double holds as written, trailing zeros and -0 included', () => {
    for (const number of [
      '0',
      '-0',
      '1.50',
      '0.1',
      '1e3',
      '1E+3',
      '-12.5e-2',
      '9007199254740991',
      '1234567890123e-5',
      '1.7976931348623157e308',
    ])
      expect(refused(`{"x":${number}}`), number).toBeUndefined();
  });
  it('refuses numbers with more digits than it keeps, and those out of range', () => {
    for (const number of ['12345678901234567890', '9007199254740993', '1.0000000000000001', '1e400', '-1e400', '0.10000000000000000001'])
      expect(refused(`[${number}]`), number).toMatch(
        /^the number .* is not kept as written by a JSON number \(it reads back as another\); write it as a string$/,
      );
    // A string holding the digits is what to write: kept.
    expect(refused('{"x":"12345678901234567890"}')).toBeUndefined();
  });
  it('refuses half of a surrogate pair, escaped; a whole pair is a character', () => {
    expect(refused('{"x":"a\\ud83d\\ude00b"}')).toBeUndefined();
    expect(refused('{"x":"\\uD83D\\uDE00"}')).toBeUndefined();
    for (const text of [
      '{"x":"\\ud800"}',
      '{"x":"a\\udc00"}',
      '{"x":"\\ude00\\ud83d"}',
      '{"\\ud800":1}',
      '["\\ud83d x"]',
      '["\\ud83d\\u0041"]',
      // An escaped backslash before the text "ud800", then a low half alone.
      '["A\\\\ud800\\udc00"]',
    ])
      expect(refused(text), text).toMatch(/is half of a character \(a lone surrogate\)/);
  });
  it('a key twice in one object, at any depth, escaped or not; the same key in two objects is no twice', () => {
    for (const text of ['{"a":1,"a":2}', '{"x":{"id":"1","id":"2"}}', '[{"k":1,"\\u006b":2}]', '{"a":[1,{"b":1,"b":1}]}'])
      expect(refused(text), text).toBe('a key appears twice in one object');
    for (const text of ['{"a":{"a":1},"b":{"a":2}}', '[{"a":1},{"a":1}]', '{"a":"a","b":"a"}', '{"a":"x\\"a\\":1"}'])
      expect(refused(text), text).toBeUndefined();
  });
  it('scanJson reads them as JSON.parse does (a configuration file: its own rules)', () => {
    expect(() => scanJson('{"x":12345678901234567890,"y":"\\ud800"}')).not.toThrow();
  });
});
