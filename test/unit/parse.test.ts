import { PassThrough } from 'node:stream';
import { join } from 'node:path';
import type { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import { COMMAND_NAMES, createProgram } from '../../src/cli/program.js';
import type { Io } from '../../src/cli/io.js';
import { loadContext, type GlobalOptions } from '../../src/cli/context.js';
import { tempDir } from '../helpers/tmp.js';

/**
 * The parse layer as a table: argv (and environment) → the command commander picks, its
 * options, and the target the settings name — without running any command. A flag renamed,
 * a default changed or a global flag no longer reaching a subcommand shows here, in
 * milliseconds, instead of in an end-to-end run.
 */

class Parsed extends Error {
  constructor(
    readonly path: string,
    readonly options: Record<string, unknown>,
    readonly globals: GlobalOptions,
    readonly args: readonly unknown[],
  ) {
    super('parsed');
  }
}

function fakeIo(env: Record<string, string> = {}): Io {
  const home = tempDir('sparctl-parse-');
  return {
    stdout: new PassThrough(),
    stderr: new PassThrough(),
    stdin: new PassThrough(),
    stdoutIsTTY: false,
    stderrIsTTY: false,
    stdinIsTTY: false,
    env: { HOME: home, XDG_CONFIG_HOME: join(home, 'config'), XDG_DATA_HOME: join(home, 'data'), ...env },
    cwd: home,
    home,
    columns: 80,
  };
}

const pathOf = (command: Command): string =>
  command.parent && command.parent.name() !== 'sparctl' ? `${pathOf(command.parent)} ${command.name()}` : command.name();

/** What commander hands the action of the command argv names; the action itself never runs. */
async function parse(argv: readonly string[], io: Io = fakeIo()): Promise<Parsed> {
  return parseWith(await createProgram(io, () => undefined, argv), argv);
}

async function parseWith(program: Command, argv: readonly string[]): Promise<Parsed> {
  program.exitOverride();
  program.configureOutput({ writeOut: () => undefined, writeErr: () => undefined });
  const quiet = (command: Command): void => {
    command.exitOverride().configureOutput({ writeOut: () => undefined, writeErr: () => undefined });
    command.commands.forEach(quiet);
  };
  program.commands.forEach(quiet);
  program.hook('preAction', (_root, action) => {
    throw new Parsed(pathOf(action), action.opts(), action.optsWithGlobals<GlobalOptions>(), action.processedArgs);
  });
  try {
    await program.parseAsync(['node', 'sparctl', ...argv]);
  } catch (error) {
    if (error instanceof Parsed) return error;
    throw error;
  }
  throw new Error(`${argv.join(' ')}: no action`);
}

type Row = readonly [argv: readonly string[], path: string, options: Record<string, unknown>, args?: readonly unknown[]];

const TABLE: readonly Row[] = [
  [['link', '--id', 'B1', '--fa-type', 'BANK', '--account-number', '007'], 'link', { id: 'B1', faType: 'BANK', accountNumber: '007' }],
  [
    ['link', '--file', 'x.csv', '--batch-size', '50', '--concurrency', '2', '--dry-run'],
    'link',
    { file: 'x.csv', batchSize: 50, concurrency: 2, dryRun: true },
  ],
  [['update', '--id', 'B1', '--fa', '{}'], 'update', { id: 'B1', fa: '{}' }],
  [['resolve', 'A', 'B', '--scope', 'yes_no'], 'resolve', { scope: 'yes_no' }, [['A', 'B']]],
  [['unlink', '--file', '-', '--format', 'jsonl', '--restart'], 'unlink', { file: '-', format: 'jsonl', restart: true }],
  [['link', '--file', 'x.csv', '--delimiter', ';', '--country', 'ph'], 'link', { file: 'x.csv', delimiter: ';', country: 'PH' }],
  [['resolve', '--file', 'x.csv', '--delimiter', '|'], 'resolve', { file: 'x.csv', delimiter: '|' }, [[]]],
  [
    ['import-csv', 'e.csv', '--mapping', 'm.json', '--delimiter', ';', '--mode', 'link'],
    'import-csv',
    { mapping: 'm.json', delimiter: ';', mode: 'link', skipReview: 'rejected' },
    ['e.csv'],
  ],
  [['import-csv', 'e.csv', '--mapping', 'm.json', '--skip-review', ''], 'import-csv', { skipReview: '' }, ['e.csv']],
  [
    ['import-odk', '--mapping', 'm.json', '--watch', '--interval', '30', '--on-delete', 'unlink'],
    'import-odk',
    { mapping: 'm.json', watch: true, onDelete: 'unlink' },
  ],
  [['strategy', 'list'], 'strategy list', {}],
  [['strategy', 'validate', '2', '--strict'], 'strategy validate', { strict: true }, [['2']]],
  [
    ['strategy', 'add', '--id', '7', '--construct', 'x:{a}', '--deconstruct', '^x:(?P<a>.*)$', '--dry-run'],
    'strategy add',
    { id: '7', construct: 'x:{a}', dryRun: true },
  ],
  [['strategy', 'export', '--format', 'sql', '6'], 'strategy export', { format: 'sql' }, [['6']]],
  [['serve', '--port', '0', '--host', '127.0.0.1', '--max-items', '10'], 'serve', { port: 0, host: '127.0.0.1', maxItems: 10 }],
  [['dfsp', 'list', '--type', 'banks', '--search', 'land'], 'dfsp list', { type: 'banks', search: 'land' }],
  [['dfsp', 'import', 'd.csv', '--dry-run'], 'dfsp import', { dryRun: true }, ['d.csv']],
  [
    ['dfsp', 'remove', 'branch', '0012', '--bank', 'LBP', '--with-branches', '--dry-run'],
    'dfsp remove',
    { bank: 'LBP', withBranches: true, dryRun: true },
    ['branch', '0012'],
  ],
  [['fa', 'edit', 'B1', '--dry-run'], 'fa edit', { dryRun: true }, ['B1']],
  [['ping', '--wait', '30'], 'ping', { wait: 30 }],
  [['smoke', '--junit', 'r.xml'], 'smoke', { junit: 'r.xml' }],
  [['init'], 'init', {}],
  [['config', 'show'], 'config show', {}],
  [['config', 'profiles'], 'config profiles', {}],
  [['config', 'path'], 'config path', {}],
  [['config', 'init', '--force'], 'config init', { force: true }],
  [['completion', 'zsh'], 'completion', {}, ['zsh']],
];

describe('parse layer', () => {
  it.each(TABLE.map((row) => [...row] as [readonly string[], string, Record<string, unknown>, (readonly unknown[])?]))(
    '%j → %s',
    async (argv, path, options, args) => {
      const parsed = await parse(argv);
      expect(parsed.path).toBe(path);
      expect(parsed.options).toMatchObject(options);
      if (args) expect(parsed.args).toEqual(args);
    },
  );

  it('covers every command', async () => {
    const program = await createProgram(fakeIo(), () => undefined);
    const leaves: string[] = [];
    const walk = (command: Command): void => {
      if (command.commands.length === 0) leaves.push(pathOf(command));
      command.commands.forEach(walk);
    };
    program.commands.forEach(walk);
    expect(leaves.filter((leaf) => !TABLE.some(([, path]) => path === leaf))).toEqual([]);
  });

  it('a line that names one command loads that command alone, and it parses as the whole tree does', async () => {
    const loaded = async (argv: readonly string[]) =>
      (await createProgram(fakeIo(), () => undefined, argv)).commands.map((command) => command.name());
    expect(await loaded(['link', '--file', 'x.csv'])).toEqual(['link']);
    expect(await loaded(['--profile', 'link', '-o', 'table', '--output=json', '--no-input', 'resolve', 'X'])).toEqual(['resolve']);
    const all = await loaded([]);
    expect(all).toEqual(COMMAND_NAMES);
    // Anything not read with certainty loads the whole tree, so commander answers as it always did.
    for (const argv of [
      ['completion', 'bash'],
      ['-qy', 'link'],
      ['--bogus', 'link'],
      ['--', 'link'],
      ['lnk'],
      ['help', 'link'],
      ['--help'],
    ])
      expect(await loaded(argv), argv.join(' ')).toEqual(all);
    for (const [argv] of TABLE) {
      const whole = await createProgram(fakeIo(), () => undefined);
      const lazy = await createProgram(fakeIo(), () => undefined, argv);
      const seen = (parsed: Promise<Parsed>) =>
        parsed.then(
          ({ path, options, globals, args }) => ({ path, options, globals, args }),
          (error: unknown) => ({ refused: String(error) }),
        );
      expect(await seen(parseWith(lazy, argv)), argv.join(' ')).toEqual(await seen(parseWith(whole, argv)));
    }
  });

  it('global flags reach every command, before or after its name', async () => {
    for (const argv of [
      ['--db', 'm.db', '--create', '-o', 'json', '-q', 'link', '--id', 'X'],
      ['link', '--id', 'X', '--db', 'm.db', '--create', '-o', 'json', '-q'],
    ]) {
      const { globals } = await parse(argv);
      expect(globals).toMatchObject({ db: 'm.db', create: true, output: 'json', quiet: true });
    }
    expect((await parse(['config', 'show', '--profile', 'prod', '--url', 'http://h'])).globals).toMatchObject({
      profile: 'prod',
      url: 'http://h',
    });
    expect((await parse(['--no-input', '--yes', 'unlink', '--id', 'X'])).globals).toMatchObject({ input: false, yes: true });
  });

  it.each([
    [['link', '--batch-size', '0', '--file', 'x'], /--batch-size must be a whole number of at least 1/],
    // The import commands' numbers fail the same way (they had a code of their own).
    [
      ['import-csv', 'x.csv', '--mapping', 'm.json', '--batch-size', '0'],
      /argument '0' is invalid\. --batch-size must be a whole number of at least 1/,
    ],
    [['import-odk', '--overlap', '1.5'], /argument '1\.5' is invalid\. --overlap must be a whole number of seconds/],
    [['serve', '--port', '70000'], /--port must be a port number from 0 to 65535/],
    [['-o', 'xml', 'resolve', 'X'], /argument 'xml' is invalid\. Allowed choices are table, json, jsonl, csv/],
    [['-q', '-v', 'resolve', 'X'], /cannot be used with option '-v, --verbose'/],
    [['strategy', 'export'], /required option '--format <format>' not specified/],
  ] as const)('%j is refused by the parser: %s', async (argv, message) => {
    await expect(parse(argv)).rejects.toThrow(message);
  });

  it.each([
    [['resolve', 'X'], {}, { mode: 'local', source: 'default' }],
    [['--db', 'm.db', 'resolve', 'X'], {}, { mode: 'local', source: 'flag --db' }],
    [['resolve', 'X'], { SPARCTL_DB: 'e.db' }, { mode: 'local', source: 'env SPARCTL_DB' }],
    [
      ['resolve', 'X'],
      { SPARCTL_BASE_URL: 'http://h/api/mapper' },
      { mode: 'remote', location: 'http://h/api/mapper', source: 'env SPARCTL_BASE_URL' },
    ],
    [['--url', 'http://f', 'ping'], { SPARCTL_BASE_URL: 'http://e' }, { mode: 'remote', location: 'http://f', source: 'flag --url' }],
    [['--db', 'm.db', 'ping'], { SPARCTL_BASE_URL: 'http://e' }, { mode: 'local', source: 'flag --db' }],
  ] as const)('%j with %j → target %j', async (argv, env, target) => {
    const io = fakeIo(env);
    const { globals } = await parse(argv, io);
    const context = await loadContext(io, globals);
    expect(context.resolved.target).toMatchObject(target);
  });

  it.each([
    [['--db', 'm.db', '--url', 'http://h', 'ping'], {}],
    [['ping'], { SPARCTL_DB: 'e.db', SPARCTL_BASE_URL: 'http://e' }],
    [['--profile', 'nope', 'ping'], {}],
  ] as const)('%j with %j: the settings are refused before any command runs', async (argv, env) => {
    const io = fakeIo(env);
    const { globals } = await parse(argv, io);
    await expect(loadContext(io, globals)).rejects.toMatchObject({ exitCode: expect.any(Number) });
  });
});
