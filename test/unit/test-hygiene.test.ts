import { readFileSync, readdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../helpers/run-cli.js';

/** Rules the tests themselves keep: a child process never outlives its bound. */

function files(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    return entry.isDirectory() ? files(path) : entry.name.endsWith('.ts') ? [path] : [];
  });
}

describe('test hygiene', () => {
  it('every spawn in the tests carries a time limit (SPAWN_LIMIT or SERVER_SPAWN_LIMIT from helpers/run-cli.ts)', () => {
    const unbounded: string[] = [];
    for (const file of files(join(ROOT, 'test'))) {
      const text = readFileSync(file, 'utf8');
      for (const match of text.matchAll(/(?<![\w.])spawn\(/g)) {
        // The call's whole text, to its closing parenthesis, however it is wrapped.
        let depth = 0;
        let end = match.index + 'spawn'.length;
        for (; end < text.length; end++) {
          if (text[end] === '(') depth++;
          else if (text[end] === ')' && --depth === 0) break;
        }
        const line = text.slice(0, match.index).split('\n').length;
        if (!/SPAWN_LIMIT/.test(text.slice(match.index, end))) unbounded.push(`${relative(ROOT, file)}:${line}`);
      }
    }
    expect(unbounded).toEqual([]);
  });
});
