import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import { ExitCode } from '../../src/core/errors.js';
import { ROOT } from '../helpers/run-cli.js';

/**
 * README "### Error codes" kept true: one row for every code an error line
 * (`sparctl: error [CODE]: …`) or a stopped run can carry, none for a code that no longer exists,
 * and the exit column as the code's error class gives it.
 *
 * The codes are read from the syntax tree of every file under src/ (so calls that span lines, and
 * literals in comments, are handled as the compiler sees them), in two places only:
 *  - `new UsageError|ConfigError|UnavailableError|StrategyError|SparctlError(CODE, …)`;
 *  - object literals with both `code` and `exitCode` (what main.ts reports, a bulk run's `stopped`,
 *    a smoke step's error). Row-level codes (`input.*` row problems, `mapping.*`, `kept.*`, SPAR's
 *    `rjct.*`/`succ.*`) live in objects without an exit code, so they do not count.
 * A CODE is a string literal, or a conditional whose branches are literals. Anything else is a
 * computed code and must be listed in COMPUTED below, saying where it comes from.
 */

const CLASS_EXIT: Record<string, number | undefined> = {
  UsageError: ExitCode.usage,
  ConfigError: ExitCode.config,
  UnavailableError: ExitCode.unavailable,
  StrategyError: ExitCode.usage,
  // Its exit code is the third argument.
  SparctlError: undefined,
};

interface Site {
  readonly code: string;
  /** The exit code, when it is known without running the code. */
  readonly exit: number | undefined;
  readonly where: string;
  /** The function the site is in (for the transport codes below). */
  readonly fn: string | undefined;
  readonly errorClass: string | undefined;
}

interface Computed {
  readonly site: Omit<Site, 'code'>;
  readonly key: string;
}

/**
 * Every code argument that is not a literal, by `file: expression`. `codes` says which codes it
 * adds; a pass-through (an error's own code handed on) adds none, since that error's own
 * construction is counted where it is made.
 */
const COMPUTED: Record<string, { readonly why: string; readonly codes?: (sites: readonly Site[]) => string[] }> = {
  // main.ts: commander's parse errors, as usage.<snake_case of commander's code>.
  'src/cli/main.ts: usageCode(error.code)': { why: "commander's parse errors", codes: () => commanderUsageCodes() },
  'src/cli/main.ts: error.code': { why: 'a SparctlError reported with its own code' },
  'src/cli/document.ts: error.code': { why: 'the -o json/jsonl copy of the error main.ts reports' },
  'src/app/bulk-job.ts: error.code': { why: "the journal's own disk.write_failed, met as it is closed" },
  'src/cli/records-render.ts: failed.code': { why: 'the -o json/jsonl copy of a failure that comes with results (strategy.undeclared)' },
  // central-client.ts: a transport failure talking to ODK Central is the transport error of
  // http-mapper.ts's transportError() with remote. replaced by odk. (UnavailableErrors only).
  "src/adapters/odk/central-client.ts: transport.code.replace(/^remote\\./, 'odk.')": {
    why: 'odk. twins of the transport codes',
    codes: (sites) =>
      sites
        .filter(
          (s) =>
            s.where.startsWith('src/adapters/http/http-mapper.ts:') && s.fn === 'transportError' && s.errorClass === 'UnavailableError',
        )
        .map((s) => s.code.replace(/^remote\./, 'odk.')),
  },
  // The bulk engine's `stopped`: the SparctlError that stopped the run ('interrupted' and
  // 'terminated' are literals of their own, in engine.ts and bulk-job.ts).
  'src/core/bulk/engine.ts: stopped.code': { why: 'the error that stopped a bulk run' },
  'src/app/fa-edit.ts: summary.stopped.code': { why: 'a bulk run stopped early, rethrown' },
  'src/app/records.ts: summary.stopped.code': { why: 'a bulk run stopped early, rethrown' },
  'src/cli/bulk-job.ts: summary.stopped.code': { why: "a stopped bulk run's error, copied for the -o jsonl stop line" },
  'src/app/bulk-job.ts: failed.code': { why: 'a report file that failed as it was closed (disk.*), made the stop of the run' },
  // smoke.ts: a step's error is the SparctlError the mapper call threw.
  'src/core/smoke.ts: error.code': { why: "a smoke step's error" },
  // fa edit: a stop signal at a question, by its code in core/stop-signals.ts.
  'src/cli/compose/fa-edit.ts: code': {
    why: 'a stop signal ending a question',
    codes: () => ['interrupted', 'terminated', 'hangup', 'quit'],
  },
};

/** Commander codes that are not errors: main.ts answers them with exit 0 (help, version). */
function commanderOkCodes(): Set<string> {
  const main = readFileSync(join(ROOT, 'src/cli/main.ts'), 'utf8');
  return new Set([...main.matchAll(/error\.code === '(commander\.[A-Za-z]+)'/g)].map((m) => m[1]!));
}

/** Commander codes sparctl cannot meet, with the use that would make them possible. */
const COMMANDER_NOT_REACHED: Record<string, { readonly why: string; readonly use: RegExp }> = {
  'commander.error': { why: 'the default code of Command.error(), which sparctl never calls (it throws SparctlErrors)', use: /\.error\(/ },
};

/** Every code commander's parser can throw, as main.ts names it: commander.unknownOption → usage.unknown_option. */
function commanderUsageCodes(): string[] {
  const dir = join(ROOT, 'node_modules/commander/lib');
  const all = new Set(
    readdirSync(dir)
      .filter((f) => f.endsWith('.js'))
      .flatMap((f) => [...readFileSync(join(dir, f), 'utf8').matchAll(/'(commander\.[A-Za-z]+)'/g)].map((m) => m[1]!)),
  );
  const ok = commanderOkCodes();
  return [...all]
    .filter((code) => !ok.has(code) && !(code in COMMANDER_NOT_REACHED))
    .map((code) => `usage.${code.replace(/^commander\./, '').replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`)}`);
}

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    return entry.isDirectory() ? sources(path) : entry.name.endsWith('.ts') ? [relative(ROOT, path)] : [];
  });
}

const FILES = sources(join(ROOT, 'src')).sort();

/** The strings an expression can be: a literal, or a conditional of literals; undefined otherwise. */
function literalCodes(node: ts.Expression): string[] | undefined {
  if (ts.isParenthesizedExpression(node)) return literalCodes(node.expression);
  if (ts.isStringLiteral(node) || ts.isNoSubstitutionTemplateLiteral(node)) return [node.text];
  if (ts.isConditionalExpression(node)) {
    const a = literalCodes(node.whenTrue);
    const b = literalCodes(node.whenFalse);
    return a && b ? [...a, ...b] : undefined;
  }
  return undefined;
}

/** `ExitCode.usage` or `130`; undefined when it is computed. */
function exitOf(node: ts.Expression | undefined): number | undefined {
  if (node === undefined) return undefined;
  if (ts.isNumericLiteral(node)) return Number(node.text);
  if (ts.isPropertyAccessExpression(node) && ts.isIdentifier(node.expression) && node.expression.text === 'ExitCode') {
    return (ExitCode as Record<string, number>)[node.name.text];
  }
  return undefined;
}

function functionName(node: ts.Node): string | undefined {
  for (let at: ts.Node | undefined = node.parent; at; at = at.parent) {
    if ((ts.isFunctionDeclaration(at) || ts.isMethodDeclaration(at)) && at.name && ts.isIdentifier(at.name)) return at.name.text;
  }
  return undefined;
}

function scan(): { sites: Site[]; computed: Computed[] } {
  const sites: Site[] = [];
  const computed: Computed[] = [];
  for (const file of FILES) {
    const text = readFileSync(join(ROOT, file), 'utf8');
    const source = ts.createSourceFile(file, text, ts.ScriptTarget.ES2022, true);
    const found = (codeNode: ts.Expression, exit: number | undefined, errorClass: string | undefined, at: ts.Node) => {
      const where = `${file}:${source.getLineAndCharacterOfPosition(at.getStart(source)).line + 1}`;
      const site = { exit, where, fn: functionName(at), errorClass };
      const codes = literalCodes(codeNode);
      if (codes) for (const code of codes) sites.push({ code, ...site });
      else computed.push({ site, key: `${file}: ${codeNode.getText(source)}` });
    };
    const visit = (node: ts.Node): void => {
      if (
        ts.isNewExpression(node) &&
        ts.isIdentifier(node.expression) &&
        Object.hasOwn(CLASS_EXIT, node.expression.text) &&
        node.arguments?.[0]
      ) {
        const name = node.expression.text;
        found(node.arguments[0], name === 'SparctlError' ? exitOf(node.arguments[2]) : CLASS_EXIT[name], name, node);
      }
      if (ts.isObjectLiteralExpression(node)) {
        const property = (name: string) =>
          node.properties.find(
            (p): p is ts.PropertyAssignment => ts.isPropertyAssignment(p) && ts.isIdentifier(p.name) && p.name.text === name,
          );
        const code = property('code');
        const exitCode = property('exitCode');
        if (code && exitCode) found(code.initializer, exitOf(exitCode.initializer), undefined, node);
      }
      ts.forEachChild(node, visit);
    };
    visit(source);
  }
  return { sites, computed };
}

/** Every code, with the exit codes its sites give (undefined: not known statically). */
function sourceCodes(): { codes: Map<string, Site[]>; unknownComputed: string[] } {
  const { sites, computed } = scan();
  const all = [...sites];
  const unknownComputed: string[] = [];
  for (const { site, key } of computed) {
    const known = COMPUTED[key];
    if (!known) {
      unknownComputed.push(`${site.where}: ${key}`);
      continue;
    }
    for (const code of known.codes?.(sites) ?? []) all.push({ ...site, code });
  }
  const codes = new Map<string, Site[]>();
  for (const site of all) codes.set(site.code, [...(codes.get(site.code) ?? []), site]);
  return { codes, unknownComputed };
}

interface Row {
  readonly code: string;
  readonly exit: number;
  readonly text: string;
}

/** The rows of README "### Error codes"; a table line that is not a row fails the test. */
function readmeRows(): { rows: Row[]; malformed: string[] } {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const heading = /^### Error codes\n/m.exec(readme);
  if (!heading) return { rows: [], malformed: ['README.md has no "### Error codes" section'] };
  const rest = readme.slice(heading.index + heading[0].length);
  const end = rest.search(/^#{1,3} /m);
  const section = end === -1 ? rest : rest.slice(0, end);
  const rows: Row[] = [];
  const malformed: string[] = [];
  for (const line of section.split('\n').filter((l) => l.startsWith('|'))) {
    if (line === '| code | exit | what it means and what to do |' || /^\|(-+\|)+$/.test(line)) continue;
    const match = /^\| `([a-z0-9_.]+)` \| (\d+) \| (.+) \|$/.exec(line);
    if (match) rows.push({ code: match[1]!, exit: Number(match[2]), text: match[3]! });
    else malformed.push(line);
  }
  return { rows, malformed };
}

describe('README "### Error codes"', () => {
  const { codes, unknownComputed } = sourceCodes();
  const { rows, malformed } = readmeRows();

  it('finds the codes it should, and no computed code it cannot place', () => {
    expect(unknownComputed, 'a code computed at run time: add it to COMPUTED with where it comes from').toEqual([]);
    // The scan itself is checked: a few codes of each kind it must find.
    for (const code of [
      'local.no_mapper',
      'strategy.regex_invalid',
      'remote.nack',
      'odk.rate_limited',
      'odk.timeout',
      'usage.unknown_option',
      'smoke.timeout',
      'internal',
      'interrupted',
      'terminated',
    ]) {
      expect(codes.has(code), code).toBe(true);
    }
    // …and none of the row-level codes.
    for (const code of [
      'input.invalid',
      'input.strategy',
      'mapping.unknown_bank',
      'kept.changed_since',
      'rjct.fa.invalid',
      'strategy.no_fields',
    ]) {
      expect(codes.has(code), code).toBe(false);
    }
    expect(codes.size).toBeGreaterThan(120);
    // Stable and dotted: lower case, digits and _ between the dots.
    expect([...codes.keys()].filter((code) => !/^[a-z][a-z0-9_]*(\.[a-z0-9_]+)*$/.test(code))).toEqual([]);
  });

  it('has well-formed rows, one per code, grouped by prefix and sorted', () => {
    expect(malformed).toEqual([]);
    expect(rows.length).toBeGreaterThan(120);
    const seen = rows.map((r) => r.code);
    expect(
      seen.filter((code, i) => seen.indexOf(code) !== i),
      'codes with two rows',
    ).toEqual([]);
    expect(
      rows.filter((r) => r.text.trim().length < 20).map((r) => r.code),
      'rows that say next to nothing',
    ).toEqual([]);
    const prefix = (code: string) => code.split('.')[0]!;
    const groups = seen.map(prefix).filter((p, i, all) => i === 0 || all[i - 1] !== p);
    expect(
      groups.filter((p, i) => groups.indexOf(p) !== i),
      'prefixes whose rows are not together',
    ).toEqual([]);
    for (const group of new Set(groups)) {
      const inGroup = seen.filter((code) => prefix(code) === group);
      expect(inGroup, `rows of ${group}`).toEqual([...inGroup].sort());
    }
  });

  it('has a row for every code in the source, and none for a code that is gone', () => {
    const listed = new Set(rows.map((r) => r.code));
    const missing = [...codes.keys()].filter((code) => !listed.has(code)).map((code) => `${code} (${codes.get(code)![0]!.where})`);
    const stale = rows.map((r) => r.code).filter((code) => !codes.has(code));
    expect({ missing, stale }).toEqual({ missing: [], stale: [] });
  });

  it('gives each code the exit code of its error class', () => {
    const wrong: string[] = [];
    for (const row of rows) {
      for (const site of codes.get(row.code) ?? []) {
        if (site.exit !== undefined && site.exit !== row.exit)
          wrong.push(`${row.code}: README says ${row.exit}, ${site.where} exits ${site.exit}`);
      }
    }
    expect(wrong).toEqual([]);
  });

  it('is where sparctl --help says it is', () => {
    expect(readFileSync(join(ROOT, 'src/cli/program.ts'), 'utf8')).toContain('README → Troubleshooting → Error codes');
    // The section of README.md that holds "### Error codes" is "## Troubleshooting".
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    const before = readme.slice(0, readme.search(/^### Error codes$/m));
    expect([...before.matchAll(/^## (.+)$/gm)].at(-1)?.[1]).toBe('Troubleshooting');
  });

  it("knows every commander error code: a row's, main.ts's exit 0, or one sparctl cannot meet", () => {
    const dir = join(ROOT, 'node_modules/commander/lib');
    const all = new Set(
      readdirSync(dir)
        .filter((f) => f.endsWith('.js'))
        .flatMap((f) => [...readFileSync(join(dir, f), 'utf8').matchAll(/'(commander\.[A-Za-z]+)'/g)].map((m) => m[1]!)),
    );
    expect(all.has('commander.unknownOption')).toBe(true);
    const cli = FILES.filter((f) => f.startsWith('src/cli/'));
    const used = Object.entries(COMMANDER_NOT_REACHED).flatMap(([code, { why, use }]) =>
      cli.filter((f) => use.test(readFileSync(join(ROOT, f), 'utf8'))).map((f) => `${code} ${why}, but ${f} matches ${use}`),
    );
    expect(used, 'a commander feature now in use: its code needs a row').toEqual([]);
    expect(commanderOkCodes().size).toBeGreaterThan(0);
  });
});
