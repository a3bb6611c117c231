import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { printable, shellWord } from '../../src/core/shell-word.js';
import { SPAWN_LIMIT } from '../helpers/run-cli.js';

/**
 * The one way a value becomes a word of a command line to copy (hints, the re-feed command, the
 * smoke test's cleanup line): what `sh` reads back from it is the value itself, one word.
 */

/** What a POSIX shell makes of `words`: each word it reads, NUL-terminated. */
const shellReads = (words: string): string[] =>
  execFileSync('sh', ['-c', `printf '%s\\0' ${words}`], {
    ...SPAWN_LIMIT,
    encoding: 'utf8',
    env: { HOME: '/nonexistent', PATH: process.env['PATH'] ?? '' },
  })
    .split('\0')
    .slice(0, -1);

describe('shellWord', () => {
  it("leaves a plainly safe word bare and quotes the rest in single quotes, a quote as '\\''", () => {
    expect(shellWord('mapper.db')).toBe('mapper.db');
    expect(shellWord('/srv/data/field-2026_v1.db')).toBe('/srv/data/field-2026_v1.db');
    expect(shellWord('user@host:a,b+c=d%e')).toBe('user@host:a,b+c=d%e');
    expect(shellWord('')).toBe("''");
    expect(shellWord('two words')).toBe("'two words'");
    expect(shellWord("O'Brien")).toBe("'O'\\''Brien'");
    expect(shellWord("'")).toBe("''\\'''");
    expect(shellWord('$HOME')).toBe("'$HOME'");
    expect(shellWord('a`id`b')).toBe("'a`id`b'");
    expect(shellWord('$(id)')).toBe("'$(id)'");
    expect(shellWord('~/m.db')).toBe("'~/m.db'");
    expect(shellWord('*.db')).toBe("'*.db'");
    expect(shellWord('a\\b')).toBe("'a\\b'");
    expect(shellWord('!1')).toBe("'!1'");
    expect(shellWord('café.db')).toBe("'café.db'");
    expect(shellWord('données/ŝ.db')).toBe("'données/ŝ.db'");
    // zsh expands a word that starts with = to a command's path.
    expect(shellWord('=ls')).toBe("'=ls'");
    // A leading dash stays bare: quotes would not keep a command from reading it as a flag.
    expect(shellWord('-rf')).toBe('-rf');
    expect(shellWord('--db=x')).toBe('--db=x');
    // Quoted all the same on request (the re-feed command's file).
    expect(shellWord('x.rejects.csv', true)).toBe("'x.rejects.csv'");
  });

  it('shows control characters as escapes, never raw: a newline, ESC, DEL, C1, line separators', () => {
    expect(shellWord('a\nb')).toBe("'a\\u000ab'");
    expect(shellWord('\u001b[31mred')).toBe("'\\u001b[31mred'");
    expect(shellWord('tab\there')).toBe("'tab\\u0009here'");
    expect(shellWord('del\u007f\u0085\u2028')).toBe("'del\\u007f\\u0085\\u2028'");
    expect(shellWord('a\nb')).not.toMatch(/[\u0000-\u001f]/);
    expect(printable('ok')).toBe('ok');
    expect(printable(printable('a\u0000b'))).toBe(printable('a\u0000b'));
  });

  it('is read back by sh as exactly the value, one word each', () => {
    const values = [
      'mapper.db',
      '',
      'two words',
      "O'Brien",
      "''",
      '$HOME',
      'a$PATH:b',
      'a`id`b',
      '$(id)',
      '"quoted"',
      'back\\slash',
      '~/m.db',
      '*.db',
      '?',
      '[ab]',
      '!1',
      '#comment',
      'a;b&c|d>e<f',
      '{a,b}',
      '=ls',
      '-rf',
      'x.rejects.csv',
      'café ŝ 名前.db',
      '%1',
    ];
    expect(shellReads(values.map((value) => shellWord(value)).join(' '))).toEqual(values);
    expect(shellReads(values.map((value) => shellWord(value, true)).join(' '))).toEqual(values);
  });
});
