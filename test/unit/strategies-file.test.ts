/**
 * A remote profile's strategiesFile, read and appended to (adapters/files/strategies-file.ts,
 * core/strategy/declared-text.ts, core/strategy/simple-yaml.ts): what the hostile tester found —
 * lost adds, a hanging regex, YAML read otherwise than Helm reads it, bytes changed by an append,
 * files replaced that should not be, secrets quoted in errors.
 */
import {
  chmodSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  statSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { addToStrategiesFile, declaredStrategies, declaredStrategyRows } from '../../src/adapters/files/strategies-file.js';
import { takeOver } from '../../src/adapters/files/pid-lock.js';
import { SparctlError, StrategyError, UsageError } from '../../src/core/errors.js';
import { checkedFaOf, type MappingRecord } from '../../src/core/request-items.js';
import { appendedText, declaredRows, parseStrategyText } from '../../src/core/strategy/declared-text.js';
import { parseSimpleYaml } from '../../src/core/strategy/simple-yaml.js';
import type { StrategyRow } from '../../src/core/strategy/strategy.js';
import { rejectedWith, thrownBy } from '../helpers/errors.js';
import { tempDir } from '../helpers/tmp.js';

const row = (id: number, extra: Partial<StrategyRow> = {}): StrategyRow => ({
  id,
  strategy_type: 'FA',
  description: `Strategy ${id}`,
  construct_strategy: `s${id}:{account_number}`,
  deconstruct_strategy: `^s${id}:(?P<account_number>.*)$`,
  active: true,
  ...extra,
});
const settings = (strategiesFile: string | undefined, strategies?: StrategyRow[]) => ({
  profile: 'p',
  strategiesFile,
  strategies,
});
const rowsOf = (text: string) => declaredRows(parseStrategyText(text, 'f'), 'f');
const add = (file: string, rows: StrategyRow[], dryRun = false, lockWaitMs?: number) =>
  addToStrategiesFile(settings(file), file, rows, dryRun, lockWaitMs === undefined ? {} : { lockWaitMs });
const SIX_YAML = [
  'seedData:',
  '  strategies:',
  "  - description: 'Six'",
  '    id: 6',
  '    strategy_type: FA',
  "    construct_strategy: 'six:{account_number}'",
  "    deconstruct_strategy: '^six:(?P<account_number>.*)$'",
  '',
].join('\n');

describe('strategy add to a strategiesFile', () => {
  it('two adds at once on one file both land (the file is locked from reading to renaming)', async () => {
    const file = join(tempDir(), 's.json');
    writeFileSync(file, `${JSON.stringify([row(6)], null, 2)}\n`);
    const outcomes = await Promise.all([7, 8, 9, 10].map((id) => add(file, [row(id)])));
    expect(outcomes.map((o) => o.added.map((r) => r.id))).toEqual([[7], [8], [9], [10]]);
    expect(
      rowsOf(readFileSync(file, 'utf8'))
        .map((r) => r.id)
        .sort((a, b) => a - b),
    ).toEqual([6, 7, 8, 9, 10]);
    // One id, two definitions at once: one is added, the other refused against it.
    const both = await Promise.allSettled([add(file, [row(11)]), add(file, [row(11, { description: 'other' })])]);
    expect(both.map((b) => b.status).sort()).toEqual(['fulfilled', 'rejected']);
    const refused = both.find((b) => b.status === 'rejected') as PromiseRejectedResult;
    expect((refused.reason as SparctlError).code).toBe('strategy.id_taken');
    expect(readdirSync(join(file, '..')).sort()).toEqual(['s.json']);
  });

  it('takes over a lock left by a killed process, and waits a bounded time for a live one, naming the lock file', async () => {
    const dir = tempDir();
    const file = join(dir, 's.json');
    writeFileSync(file, JSON.stringify([row(6)]));
    // pid 2^22+1 is above Linux's pid_max: no such process; the temp file of a killed add too.
    writeFileSync(`${file}.lock`, `4194305 ${(await import('node:os')).hostname()} x\n`);
    writeFileSync(join(dir, '.s.json.4194305.tmp'), 'half');
    writeFileSync(join(dir, `.s.json.${process.pid}.tmp`), 'left by an earlier process with our pid');
    expect((await add(file, [row(7)])).added).toHaveLength(1);
    expect(readdirSync(dir).sort()).toEqual(['s.json']);
    // A live process (our parent) holds it: refused after the wait.
    writeFileSync(`${file}.lock`, `${process.ppid} ${(await import('node:os')).hostname()} x\n`);
    const error = await rejectedWith(SparctlError, () => add(file, [row(8)], false, 200));
    expect([error.code, error.exitCode, error.message]).toEqual([
      'strategy.file_locked',
      4,
      `strategiesFile ${file}: another "strategy add" holds its lock file ${file}.lock (pid ${process.ppid}); nothing was written`,
    ]);
    expect(error.hint).toContain(`remove ${file}.lock`);
    expect(rowsOf(readFileSync(file, 'utf8')).map((r) => r.id)).toEqual([6, 7]);
    // A dry run takes no lock.
    expect((await add(file, [row(8)], true)).added).toHaveLength(1);
  });

  it('never takes over a lock from another pid namespace (a container sharing the volume and hostname): waits, then names it', async () => {
    const { hostname } = await import('node:os');
    const dir = tempDir();
    const file = join(dir, 's.json');
    const lock = `${file}.lock`;
    writeFileSync(file, JSON.stringify([row(6)]));
    // pid 4194305 does not run here, but may in the other container.
    writeFileSync(lock, `4194305 ${hostname()} x pid:[1]\n`);
    const error = await rejectedWith(SparctlError, () => add(file, [row(7)], false, 200));
    expect([error.code, error.message]).toEqual([
      'strategy.file_locked',
      `strategiesFile ${file}: another "strategy add" holds its lock file ${lock} (pid 4194305 in another pid namespace); nothing was written`,
    ]);
    expect(readFileSync(lock, 'utf8')).toBe(`4194305 ${hostname()} x pid:[1]\n`);
    if (existsSync('/proc/self/ns/pid')) {
      // From our own namespace, the same lock is provably stale.
      writeFileSync(lock, `4194305 ${hostname()} x ${readlinkSync('/proc/self/ns/pid')}\n`);
      expect((await add(file, [row(7)])).added).toHaveLength(1);
      expect(readdirSync(dir)).toEqual(['s.json']);
    }
  });

  it("a takeover removes the lock it judged stale, never another add's brand-new (still empty) lock at the same path", async () => {
    const dir = tempDir();
    const lock = join(dir, 's.json.lock');
    const seen = () => {
      const { dev, ino, mtimeMs, size } = statSync(lock);
      return { content: readFileSync(lock, 'utf8'), dev, ino, mtimeMs, size };
    };
    // Left empty by an add killed between making and writing it, 10 s ago.
    writeFileSync(lock, '');
    utimesSync(lock, new Date(Date.now() - 10_000), new Date(Date.now() - 10_000));
    const stale = seen();
    // Meanwhile another add took it over and made its own, not written yet (often on the same inode).
    rmSync(lock);
    writeFileSync(lock, '');
    takeOver(lock, stale);
    expect(readdirSync(dir)).toEqual(['s.json.lock']);
    takeOver(lock, seen());
    expect(readdirSync(dir)).toEqual([]);
  });

  it('inserts JSON rows into the list, leaving every other byte as it was; refuses a key twice in one object', async () => {
    const dir = tempDir();
    const file = join(dir, 'values.json');
    const text = `\uFEFF{\r\n  "seedData": {\r\n    "big": 12345678901234567890, "price": 1.50, "huge": 1e400,\r\n    "strategies": [\r\n      {\r\n        "id": 6, "strategy_type": "FA", "construct_strategy": "six:{account_number}",\r\n        "deconstruct_strategy": "^six:(?P<account_number>.*)$"\r\n      }\r\n    ]\r\n  }\r\n}\r\n`;
    writeFileSync(file, text);
    await add(file, [row(7)]);
    const after = readFileSync(file, 'utf8');
    const at = text.indexOf('      }\r\n    ]') + '      }'.length;
    expect(after.slice(0, at)).toBe(text.slice(0, at));
    expect(after.slice(after.length - (text.length - at))).toBe(text.slice(at));
    expect(after.slice(at, at - text.length + after.length)).toBe(
      ',\r\n      {\r\n        "id": 7,\r\n        "strategy_type": "FA",\r\n        "description": "Strategy 7",\r\n        "construct_strategy": "s7:{account_number}",\r\n        "deconstruct_strategy": "^s7:(?P<account_number>.*)$",\r\n        "active": true\r\n      }',
    );
    // One row a line stays one row a line.
    expect(appendedText('[{"id": 6}]', [row(7)], 'f')).toBe(
      '[{"id": 6}, {"id":7,"strategy_type":"FA","description":"Strategy 7","construct_strategy":"s7:{account_number}","deconstruct_strategy":"^s7:(?P<account_number>.*)$","active":true}]',
    );
    const twice = thrownBy(UsageError, () =>
      rowsOf('[\n  {"id": 6, "strategy_type": "FA", "id": 7, "construct_strategy": "a{b}", "deconstruct_strategy": "(?P<b>.*)"}\n]'),
    );
    expect(twice.message).toBe('f: not valid JSON: line 2, column 36: a key appears twice in one object');
    // A \u escape spelling the same key is the same key.
    expect(() => rowsOf('{"id": 6, "\\u0069d": 7}')).toThrow('a key appears twice');
  });

  it('names the line and column of a JSON error, never the text (a file named by mistake may be a secret)', () => {
    for (const [text, where] of [
      ['{"password": SuperSecretPassw0rd!}', 'line 1, column 14: unexpected character'],
      ['{\n  "token": "SuperSecret\n"}', 'line 2, column 24: a control character (such as a line break) inside a string'],
      ['["SuperSecret"', 'line 1, column 15: the text ends too early'],
      ['{"a": "SuperSecret"} x', 'line 1, column 22: text after the JSON value'],
    ] as const) {
      const error = thrownBy(UsageError, () => parseStrategyText(text, 'strategiesFile /s.json'));
      expect(error.message).toBe(`strategiesFile /s.json: not valid JSON: ${where}`);
      expect(`${error.message} ${error.hint}`).not.toContain('Secret');
    }
  });

  it('appends to a YAML list whose items start with another key than id, keeping a BOM and CRLF line endings', async () => {
    const dir = tempDir();
    const file = join(dir, 'v.yaml');
    writeFileSync(file, SIX_YAML);
    await add(file, [row(7)]);
    expect(readFileSync(file, 'utf8')).toBe(
      `${SIX_YAML}  - id: 7\n    description: 'Strategy 7'\n    strategy_type: FA\n    construct_strategy: 's7:{account_number}'\n    deconstruct_strategy: '^s7:(?P<account_number>.*)$'\n`,
    );
    const crlf = join(dir, 'crlf.yaml');
    const text = `\uFEFF${SIX_YAML.replace(/\n/g, '\r\n')}`;
    writeFileSync(crlf, text);
    await add(crlf, [row(7)]);
    const after = readFileSync(crlf, 'utf8');
    expect(after.startsWith(text)).toBe(true);
    expect(after.replace(/\r\n/g, '')).not.toContain('\n');
    expect(rowsOf(after).map((r) => r.id)).toEqual([6, 7]);
  });

  it('writes through a symlinked strategiesFile to its target, and refuses a write-protected file', async () => {
    const dir = tempDir();
    mkdirSync(join(dir, 'real'));
    const target = join(dir, 'real', 's.json');
    writeFileSync(target, JSON.stringify([row(6)]));
    const linked = join(dir, 'link.json');
    symlinkSync('real/s.json', linked);
    await add(linked, [row(7)]);
    expect(rowsOf(readFileSync(target, 'utf8')).map((r) => r.id)).toEqual([6, 7]);
    expect(readFileSync(linked, 'utf8')).toBe(readFileSync(target, 'utf8'));
    // A link to a file not made yet: the first add makes the target.
    const dangling = join(dir, 'later.json');
    symlinkSync('real/later.json', dangling);
    expect((await add(dangling, [row(7)])).created).toBe(true);
    expect(existsSync(join(dir, 'real', 'later.json'))).toBe(true);
    chmodSync(target, 0o400);
    if (process.getuid?.() !== 0) {
      // Root may write any file (access() says so); the e2e test runs this as another user.
      const error = await rejectedWith(UsageError, () => add(linked, [row(8)]));
      expect([error.code, error.message]).toEqual([
        'strategy.file_append',
        `strategiesFile ${linked}: is read-only (EACCES) (a link to ${target}); nothing was written`,
      ]);
    } else {
      await add(linked, [row(8)]);
    }
    expect((await import('node:fs')).statSync(target).mode & 0o777).toBe(0o400);
  });

  it('a dry run checks what the real run needs: a folder that exists; list says so too', async () => {
    const file = join(tempDir(), 'deployment', 's.json');
    for (const dryRun of [true, false]) {
      const error = await rejectedWith(UsageError, () => add(file, [row(7)], dryRun));
      expect([error.code, error.message]).toEqual([
        'strategy.file_append',
        `strategiesFile ${file}: its folder ${join(file, '..')} does not exist; nothing was written`,
      ]);
      expect(error.hint).toContain('mkdir -p');
    }
    const listed = await rejectedWith(UsageError, () => declaredStrategyRows(settings(file)));
    expect(listed.hint).toContain(`once its folder ${join(file, '..')} exists`);
    mkdirSync(join(file, '..'));
    expect((await add(file, [row(7)], true)).created).toBe(true);
    expect(existsSync(file)).toBe(false);
  });

  it('keeps a declared strategy whose regex backtracks catastrophically, unusable: its records are refused, the profile is not', async () => {
    const file = join(tempDir(), 's.json');
    const flagged = row(6, { construct_strategy: 'six:{account_number}', deconstruct_strategy: '^six:(?P<account_number>(?:a+)+)$' });
    writeFileSync(file, JSON.stringify([flagged, row(7)]));
    // Before the fix the whole profile was refused (strategy.invalid): ping, unlink and resolve too.
    const strategies = await declaredStrategies(settings(file));
    expect(strategies.map((s) => s.id)).toEqual([1, 2, 3, 4, 5, 6, 7]);
    const six = strategies.find((s) => s.id === 6)!;
    expect(six.source).toBe(`file ${file}; not used by sparctl: its regex can backtrack catastrophically`);
    expect(six.unusable).toMatch(
      new RegExp(
        `^strategy 6 \\(strategiesFile ${file}\\) is not used by sparctl: its deconstruct regex can take exponential time on a near-miss FA \\(the quantifier \\+ at position \\d+ .*\\); "sparctl strategy validate 6" shows it$`,
      ),
    );
    expect(strategies.filter((s) => s.unusable !== undefined).map((s) => s.id)).toEqual([6]);

    // A record with it is refused on its own, before the regex could run on a near-miss.
    const byId = new Map(strategies.map((s) => [s.id, s]));
    const record = (strategy_id: number) =>
      ({ id: 'X-1', fa: { fa_type: 'BANK', strategy_id, account_number: `${'a'.repeat(40)}!` } }) as unknown as MappingRecord;
    const started = performance.now();
    expect(checkedFaOf(record(6), byId)).toEqual({ ok: false, problem: { field: 'fa', message: six.unusable } });
    expect(performance.now() - started).toBeLessThan(1_000);
    expect(checkedFaOf(record(7), byId)).toEqual({ ok: true, value: `s7:${'a'.repeat(40)}!` });
    // Any other path that would run its regex stops with the reason instead of hanging.
    expect(thrownBy(StrategyError, () => six.pattern.regex).message).toBe(six.unusable);
    expect(six.pattern.groupNames).toEqual(['account_number']);

    const inline = await declaredStrategies(settings(undefined, [row(9, { deconstruct_strategy: '^s9:(?P<account_number>(?:a|a)*)$' })]));
    expect(inline.find((s) => s.id === 9)!.unusable).toMatch(/^strategy 9 \(profile p \(inline\)\) is not used by sparctl: /);
    expect((await declaredStrategies(settings(undefined, [row(9)]))).find((s) => s.id === 9)!.unusable).toBeUndefined();
  });
});

describe('simple YAML: what other readers would read otherwise is refused, naming the line', () => {
  const yamlError = (text: string) => thrownBy(UsageError, () => parseSimpleYaml(text, 's.yaml')).message;

  it('refuses a second document, allows one opened by --- and ended by ...', () => {
    expect(yamlError('- id: 6\n---\n- id: 7\n')).toBe(
      's.yaml: line 2: a second YAML document (---) is not supported; one document per file',
    );
    expect(yamlError('a: 1\n...\nb: 2\n')).toBe(
      's.yaml: line 3: text after the end of the YAML document (the "..." of line 2); one document per file',
    );
    expect(yamlError('--- a: 1\n')).toBe('s.yaml: line 1: text on a document marker line (--- or ...) is not supported');
    expect(parseSimpleYaml('# values\n---\na: 1\n...\n# end\n', 's.yaml')).toEqual({ a: 1 });
  });

  it('refuses plain values YAML 1.1 readers (Helm) read otherwise: 010, 0x10, 1_000, 1:30, 1e3, .inf, yes, dates', () => {
    expect(yamlError('- id: 010\n')).toBe(
      's.yaml: line 1: a number with a leading zero is octal to YAML 1.1 readers (Helm, PyYAML) and decimal to others; write it without the zero; quote it if it is text',
    );
    for (const value of [
      '010',
      '-07',
      '0x10',
      '0o7',
      '0b1',
      '1_000',
      '1:30',
      '1e3',
      '2.5E-3',
      '.inf',
      '-.Inf',
      '.nan',
      'yes',
      'No',
      'ON',
      'off',
      'y',
      'N',
      '2024-01-31',
      '2024-05-01 10:00:00',
      '2024-05-01T10:00:00Z',
      '2024-05-01t1:00:00.5 +02:00',
      '2024-5-1 10:00:00',
    ]) {
      expect(yamlError(`a:\n  b: ${value}\n`), value).toMatch(/^s\.yaml: line 2: /);
      expect(parseSimpleYaml(`a:\n  b: '${value}'\n`, 's.yaml'), value).toEqual({ a: { b: value } });
    }
    for (const [value, read] of [
      ['10', 10],
      ['0', 0],
      ['-1.5', -1.5],
      ['true', true],
      ['~', null],
      ['x10', 'x10'],
      // Not YAML 1.1 timestamps (PyYAML reads them as text too): a date needs a whole time after it.
      ['2024-05-01 migration', '2024-05-01 migration'],
      ['2024-05-01T', '2024-05-01T'],
      ['2024-05-01 10:00', '2024-05-01 10:00'],
      ['2024-5-1', '2024-5-1'],
    ] as const)
      expect(parseSimpleYaml(`a: ${value}\n`, 's.yaml'), value).toEqual({ a: read });
    expect(yamlError('<<:\n  a: 1\n')).toBe('s.yaml: line 1: merge keys (<<) are not supported');
  });

  it('in a chart values.yaml, only what is read (seedData.strategies) must be unambiguous', () => {
    const values = `gzip: on\nreplicas: 01\nmaxBytes: 18446744073709551615\n${SIX_YAML}`;
    expect(rowsOf(values).map((r) => r.id)).toEqual([6]);
    expect(() => rowsOf(SIX_YAML.replace('id: 6', 'id: 06'))).toThrow('line 4: a number with a leading zero');
    expect(() => rowsOf(`- id: 6\n  active: yes\n`)).toThrow('line 2: yes, no, on, off');
  });

  it('reads white space and line breaks as YAML readers (Helm, PyYAML) do: only spaces and tabs are trimmed, and a break only some readers see is refused', () => {
    // U+00A0, U+3000 and U+FEFF are part of a YAML value; JavaScript's trim took them off.
    for (const value of ['bank:{a}\u00a0', '\u3000bank:{a}', 'bank:{a}\ufeff'])
      expect(parseSimpleYaml(`a: ${value}\n`, 's.yaml'), JSON.stringify(value)).toEqual({ a: value });
    expect(parseSimpleYaml("a: 'bank:{a}' \t\n", 's.yaml')).toEqual({ a: 'bank:{a}' });
    expect(() => parseSimpleYaml("a: 'bank:{a}'\u00a0\n", 's.yaml')).toThrow('unexpected text after the quoted value');
    // A lone CR, NEL, LS or PS: a line break to YAML 1.1 readers, text to sparctl.
    for (const [odd, name] of [
      ['\r', 'U+000D'],
      ['\u0085', 'U+0085'],
      ['\u2028', 'U+2028'],
      ['\u2029', 'U+2029'],
    ] as const)
      expect(yamlError(`a: 1\nb: 'bank:{a}${odd}  |account:{b}'\n`)).toBe(
        `s.yaml: line 2: ${name} is a line break to some YAML readers and not to others; remove it`,
      );
    // CRLF line ends stay fine.
    expect(parseSimpleYaml('a: 1\r\nb: x\r\n', 's.yaml')).toEqual({ a: 1, b: 'x' });
    // Plain values YAML 1.1 refuses to start, and a whole number a double does not hold.
    expect(yamlError('a: ]x\n')).toBe('s.yaml: line 1: values starting with ] are not supported; quote the value');
    expect(yamlError('a: ,x\n')).toBe('s.yaml: line 1: values starting with , are not supported; quote the value');
    expect(yamlError('a: 9007199254740993\n')).toBe(
      's.yaml: line 1: a whole number this large is not read exactly; no strategy id is so large; quote it if it is text',
    );
  });

  it("a JSON strategy id JSON.parse reads as another number is refused; the chart's other values are not judged", () => {
    const row = (id: string) =>
      `{"seedData": {"big": 12345678901234567890, "strategies": [{"id": ${id}, "strategy_type": "FA", "construct_strategy": "a:{account_number}", "deconstruct_strategy": "^a:(?P<account_number>.*)$"}]}}`;
    expect(rowsOf(row('6')).map((r) => r.id)).toEqual([6]);
    expect(() => rowsOf(row('6.9999999999999999'))).toThrow(
      'f: line 1, column 66: the id 6.9999999999999999 is read as 7; a strategy id is a whole number from 1 to 2147483647',
    );
    expect(() => rowsOf(row('9007199254740993'))).toThrow('the id 9007199254740993 is read as 9007199254740992');
    expect(() => rowsOf('[{"id": 1e400}]')).toThrow('f: line 1, column 9: the id 1e400 is read as Infinity');
  });

  it('never quotes the value it refuses', () => {
    for (const [text, message] of [
      ['password: @SuperSecretPassw0rd!\n', 'line 1: values starting with @ are not supported; quote the value'],
      ['password: {SuperSecret}\n', 'line 1: flow collections are not supported; quote the value'],
      ['password: "Super\\qSecret"\n', 'line 1: an unknown escape in a double-quoted value'],
      ['password: a\npassword: SuperSecret\n', 'line 2: this key appears twice in one mapping (also on line 1)'],
    ] as const) {
      const error = thrownBy(UsageError, () => parseSimpleYaml(text, 's.yaml'));
      expect(error.message).toBe(`s.yaml: ${message}`);
      expect(`${error.message} ${error.hint}`).not.toContain('Secret');
    }
  });
});
