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
      const lines = readFileSync(file, 'utf8').split('\n');
      lines.forEach((line, i) => {
        if (/\bspawn\(/.test(line) && !/^\s*(import|\*|\/\/)/.test(line) && !/SPAWN_LIMIT/.test(line)) unbounded.push(`${relative(ROOT, file)}:${i + 1}`);
      });
    }
    expect(unbounded).toEqual([]);
  });
});
