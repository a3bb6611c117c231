import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../helpers/run-cli.js';

/**
 * ARCHITECTURE.md kept true: its module list is exactly the files under src/, and the layer rule
 * it states holds — core imports only core (and zod, libphonenumber-js), adapters never import the CLI, no command
 * imports another, and no import cycle (static or dynamic) exists anywhere.
 */

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    return entry.isDirectory() ? sources(path) : entry.name.endsWith('.ts') ? [relative(ROOT, path)] : [];
  });
}

const FILES = sources(join(ROOT, 'src')).sort();

/** Every module a file imports, statically or dynamically: relative ones resolved to src paths. */
function importsOf(file: string): { local: string[]; external: string[] } {
  const text = readFileSync(join(ROOT, file), 'utf8');
  const local: string[] = [];
  const external: string[] = [];
  for (const match of text.matchAll(/(?:from\s+|import\s*\(\s*|^import\s+)'([^']+)'/gm)) {
    const spec = match[1]!;
    if (spec.startsWith('.')) local.push(relative(ROOT, resolve(ROOT, dirname(file), spec)).replace(/\.js$/, '.ts'));
    else external.push(spec);
  }
  return { local, external };
}

describe('ARCHITECTURE.md', () => {
  it('lists every module under src/, and nothing else', () => {
    const text = readFileSync(join(ROOT, 'ARCHITECTURE.md'), 'utf8');
    const listed = [...text.matchAll(/^\| `(src\/[^`]+\.ts)` \|/gm)].map((match) => match[1]!).sort();
    expect({ missing: FILES.filter((f) => !listed.includes(f)), extra: listed.filter((f) => !FILES.includes(f)) }).toEqual({
      missing: [],
      extra: [],
    });
  });

  it('holds its layer rule: core imports only core and zod; app only core and config; adapters never the CLI or app; no command another', () => {
    const broken: string[] = [];
    for (const file of FILES) {
      const { local, external } = importsOf(file);
      if (file.startsWith('src/core/')) {
        for (const spec of external) if (spec !== 'zod' && spec !== 'libphonenumber-js/max') broken.push(`${file} imports ${spec}`);
        for (const path of local) if (!path.startsWith('src/core/')) broken.push(`${file} imports ${path}`);
      }
      if (file.startsWith('src/app/')) {
        for (const spec of external) broken.push(`${file} imports ${spec}`);
        for (const path of local)
          if (!path.startsWith('src/core/') && !path.startsWith('src/app/') && !path.startsWith('src/config/'))
            broken.push(`${file} imports ${path}`);
      }
      if (file.startsWith('src/adapters/') || file.startsWith('src/config/')) {
        for (const path of local) if (path.startsWith('src/cli/') || path.startsWith('src/app/')) broken.push(`${file} imports ${path}`);
      }
      if (file.startsWith('src/cli/commands/')) {
        for (const path of local) if (path.startsWith('src/cli/commands/') && path !== file) broken.push(`${file} imports ${path}`);
      }
      for (const path of local) if (!FILES.includes(path)) broken.push(`${file} imports ${path}, which does not exist`);
    }
    expect(broken).toEqual([]);
  });

  it('keeps every command file to 100 lines: parse, one use case, render', () => {
    const long = FILES.filter((file) => file.startsWith('src/cli/commands/'))
      .map((file) => [file, readFileSync(join(ROOT, file), 'utf8').split('\n').length - 1] as const)
      .filter(([, lines]) => lines > 100);
    expect(long).toEqual([]);
  });

  it('opens SQLite in tests only through retained.ts (Node 24 aborts a process that collects a better-sqlite3 object)', () => {
    const tests = sources(join(ROOT, 'test')).filter((file) => file.endsWith('.ts'));
    const direct = tests.filter((file) => /from 'better[-]sqlite3'/.test(readFileSync(join(ROOT, file), 'utf8')));
    expect(direct).toEqual([]);
  });

  it('never makes a better-sqlite3 object it does not retain: db.pragma(), .iterate() and a bare .prepare() leave one to the GC', () => {
    // The import rule above does not catch a retained connection's own methods: a test's
    // db.pragma() aborted a Node 24 CI worker (SIGABRT, "(env) != nullptr") when its throwaway
    // statement was collected.
    const files = [...FILES, ...sources(join(ROOT, 'test')).filter((file) => file.endsWith('.ts'))].filter(
      (file) => file !== 'src/adapters/sqlite/retained.ts' && file !== 'test/unit/architecture.test.ts',
    );
    const throwaway = /\.(pragma|iterate|backup|serialize)\(|(?<!\bthis)\.prepare\(/;
    const found = files.flatMap((file) =>
      readFileSync(join(ROOT, file), 'utf8')
        .split('\n')
        .flatMap((line, index) => (throwaway.test(line) && !/^\s*(\/\/|\*)/.test(line) ? [`${file}:${index + 1}: ${line.trim()}`] : [])),
    );
    expect(found).toEqual([]);
  });

  it('has no import cycle, static or dynamic', () => {
    const graph = new Map(FILES.map((file) => [file, importsOf(file).local]));
    const state = new Map<string, 'open' | 'done'>();
    const cycles: string[] = [];
    const visit = (file: string, path: string[]) => {
      if (state.get(file) === 'done') return;
      if (state.get(file) === 'open') {
        cycles.push([...path.slice(path.indexOf(file)), file].join(' → '));
        return;
      }
      state.set(file, 'open');
      for (const next of graph.get(file) ?? []) visit(next, [...path, file]);
      state.set(file, 'done');
    };
    for (const file of FILES) visit(file, []);
    expect(cycles).toEqual([]);
  });
});
