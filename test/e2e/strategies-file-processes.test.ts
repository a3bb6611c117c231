/**
 * `strategy add` on a remote profile's strategiesFile, as separate processes of the built binary:
 * adds started at once all land (none is lost, none reports a definition the file does not
 * hold), a write-protected file is refused for a user who may not write it, and `link` with a
 * declared regex that backtracks catastrophically is refused at once instead of hanging, while
 * the profile's other strategies stay usable. (The add that makes a test's starting file runs
 * in process: it is setup.)
 */
import { spawn } from 'node:child_process';
import { chmodSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BIN, ROOT, SPAWN_LIMIT, cliEnv, othersMayRun, outputOf, type CliResult } from '../helpers/run-cli.js';
import { runMain } from '../helpers/run-main.js';

/** `noFileWrites`: every write to a file fails (EFBIG: RLIMIT_FSIZE 0, SIGXFSZ ignored), as on a full disk; stdout and stderr are pipes. */
function run(
  args: string[],
  env: Record<string, string>,
  { noFileWrites = false, ...as }: { uid?: number; gid?: number; timeout?: number; noFileWrites?: boolean } = {},
): Promise<CliResult> {
  const [command, argv] = noFileWrites
    ? ['/bin/sh', ['-c', 'trap "" XFSZ; ulimit -f 0; exec "$0" "$@"', process.execPath, BIN, ...args]]
    : [process.execPath, [BIN, ...args]];
  return outputOf(spawn(command, argv, { ...SPAWN_LIMIT, ...as, env, cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] }));
}

const addArgs = (id: number, description = `Strategy ${id}`) => [
  '--profile',
  'r',
  'strategy',
  'add',
  '--id',
  String(id),
  '--description',
  description,
  '--construct',
  `s${id}:{account_number}`,
  '--deconstruct',
  `^s${id}:(?P<account_number>.*)$`,
];

function setUp(strategiesFile: string) {
  const { home, env } = cliEnv();
  const configDir = join(env['XDG_CONFIG_HOME']!, 'sparctl');
  mkdirSync(configDir, { recursive: true });
  writeFileSync(
    join(configDir, 'config.json'),
    JSON.stringify({ profiles: { r: { mode: 'remote', baseUrl: 'http://127.0.0.1:9', strategiesFile } } }),
  );
  return { home, env, configDir, file: join(configDir, strategiesFile) };
}

describe('strategy add on a remote profile, as processes', () => {
  it('adds started at once all land; one id with two definitions at once is added once and refused once', async () => {
    const { env, file } = setUp('s.json');
    const ids = [7, 8, 9, 10, 11];
    const results = await Promise.all(ids.map((id) => run(['-q', ...addArgs(id)], env)));
    expect(results.map((r) => [r.code, r.stderr])).toEqual(ids.map(() => [0, '']));
    const written = JSON.parse(readFileSync(file, 'utf8')) as { id: number }[];
    expect(written.map((r) => r.id).sort((a, b) => a - b)).toEqual(ids);

    const both = await Promise.all(['one', 'two'].map((description) => run(['-q', ...addArgs(20, description)], env)));
    expect(both.map((r) => r.code).sort()).toEqual([0, 2]);
    const winner = both.findIndex((r) => r.code === 0);
    expect(both[1 - winner]!.stderr).toContain('[strategy.id_taken]: strategy 20 already exists with a different description');
    // The SQL printed is the definition the file holds.
    const held = (JSON.parse(readFileSync(file, 'utf8')) as { id: number; description: string }[]).filter((r) => r.id === 20);
    expect(held.map((r) => r.description)).toEqual([['one', 'two'][winner]]);
    expect(both[winner]!.stdout).toContain(`VALUES (20, '${held[0]!.description}'`);
  }, 60_000);

  // As root, these run sparctl as nobody, who must be able to run this Node.
  const asNobodyImpossible = process.getuid?.() === 0 && !othersMayRun();

  it.skipIf(asNobodyImpossible)(
    'refuses a write-protected file for a user who may not write it, leaving it as it was',
    async () => {
      const { home, env, file } = setUp('s.json');
      expect((await runMain(['-q', ...addArgs(7)], { env })).code).toBe(0); // setup, in process
      const before = readFileSync(file, 'utf8');
      chmodSync(file, 0o444);
      // Root may write any file: as root, the add runs as nobody, in folders nobody may write.
      const asOther = process.getuid?.() === 0 ? { uid: 65534, gid: 65534 } : {};
      if (asOther.uid !== undefined) {
        // Sticky, as /tmp: a folder others may write to without it is refused as the config's (config.unsafe).
        for (const dir of [home, join(home, 'config'), join(home, 'config', 'sparctl')]) chmodSync(dir, 0o1777);
      }
      const refused = await run(['-q', ...addArgs(8)], env, asOther);
      expect([refused.code, refused.stderr]).toEqual([
        2,
        `sparctl: error [strategy.file_append]: strategiesFile ${file}: is read-only (EACCES); nothing was written (make it writable (chmod u+w) to add to it, or add the entries by hand)\n`,
      ]);
      expect(readFileSync(file, 'utf8')).toBe(before);
    },
    60_000,
  );

  it.skipIf(asNobodyImpossible)(
    'an add that adds nothing needs nothing writable (a read-only mount): unchanged, --dry-run too; another definition is id_taken',
    async () => {
      const { home, env, configDir, file } = setUp('s.json');
      expect((await runMain(['-q', ...addArgs(7)], { env })).code).toBe(0); // setup, in process
      const before = readFileSync(file, 'utf8');
      // A folder the user may not write: as root, the add runs as nobody in root's folders (0755).
      const root = process.getuid?.() === 0;
      const asOther = root ? { uid: 65534, gid: 65534 } : {};
      for (const dir of root ? [home, join(home, 'config'), configDir] : [configDir]) chmodSync(dir, root ? 0o755 : 0o555);
      try {
        const same = await run(addArgs(7), env, asOther);
        expect([same.code, same.stderr]).toEqual([
          0,
          expect.stringContaining(`strategy add: 0 added to strategiesFile ${file}, 1 unchanged`),
        ]);
        const dry = await run([...addArgs(7), '--dry-run'], env, asOther);
        expect([dry.code, dry.stderr]).toEqual([0, expect.stringContaining('0 would be added')]);
        const other = await run(['-q', ...addArgs(7, 'other')], env, asOther);
        expect([other.code, other.stderr]).toEqual([
          2,
          expect.stringContaining('[strategy.id_taken]: strategy 7 already exists with a different description'),
        ]);
        // Something to add: the folder is checked, and named.
        const adding = await run(['-q', ...addArgs(8)], env, asOther);
        expect([adding.code, adding.stderr]).toEqual([
          2,
          expect.stringContaining(`[strategy.file_append]: strategiesFile ${file}: its folder ${configDir} cannot be written (EACCES`),
        ]);
      } finally {
        chmodSync(configDir, 0o755);
      }
      expect(readFileSync(file, 'utf8')).toBe(before);
      expect(readdirSync(configDir).sort()).toEqual(['config.json', 's.json']);
    },
    60_000,
  );

  it('a lock file that cannot be written (a full disk) is disk.full, and is removed: the next add does not wait for it', async () => {
    const { env, configDir, file } = setUp('s.json');
    expect((await runMain(['-q', ...addArgs(7)], { env })).code).toBe(0); // setup, in process
    const failed = await run(['-q', ...addArgs(8)], env, { noFileWrites: true });
    // The surroundings' failure (exit 4), as a full disk is everywhere else, not the file's.
    expect(failed.code).toBe(4);
    expect(failed.stderr).toContain(
      `sparctl: error [disk.full]: strategiesFile ${file}: its lock file ${file}.lock cannot be written: file too large (EFBIG); nothing was written (free some space`,
    );
    expect(readdirSync(configDir).sort()).toEqual(['config.json', 's.json']);
    const started = performance.now();
    expect((await run(['-q', ...addArgs(8)], env)).code).toBe(0);
    // An empty lock left behind held it up for 5 s before it was taken over as stale.
    expect(performance.now() - started).toBeLessThan(4_000);
  }, 60_000);

  it('link with a declared regex that backtracks catastrophically is refused at once, naming the file and strategy; the others still work', async () => {
    const { env, file } = setUp('v.yaml');
    writeFileSync(
      file,
      "- id: 6\n  strategy_type: FA\n  construct_strategy: 'six:{account_number}'\n  deconstruct_strategy: '^six:(?P<account_number>(?:a+)+)$'\n",
    );
    const started = performance.now();
    const bank = ['--bank-name', 'B', '--bank-code', 'B', '--branch-name', 'b', '--branch-code', '1'];
    // Before the fix this hung at 100% CPU: the child is killed after 20 s.
    const link = await run(
      ['--profile', 'r', 'link', '--id', 'X-1', '--strategy', '6', '--fa-type', 'BANK', ...bank, '--account-number', `${'a'.repeat(40)}!`],
      env,
      { timeout: 20_000 },
    );
    expect([link.code, link.stderr]).toEqual([
      2,
      expect.stringContaining(
        `fa: strategy 6 (strategiesFile ${file}) is not used by sparctl: its deconstruct regex can take exponential time`,
      ),
    ]);
    expect(performance.now() - started).toBeLessThan(20_000);
    // The profile is not refused: a link with strategy 2 gets as far as the (absent) mapper.
    const other = await run(
      ['--profile', 'r', 'link', '--id', 'X-1', '--strategy', '2', '--fa-type', 'BANK', ...bank, '--account-number', '1'],
      env,
      {
        timeout: 20_000,
      },
    );
    expect([other.code, other.stderr]).toEqual([4, expect.not.stringContaining('strategy')]);
  }, 60_000);
  it('a strategiesFile another user could change is refused as config.unsafe; a pipe, bytes not UTF-8, a NUL or a line break in a strategy are refused before anything is written', async () => {
    const { env, configDir, file } = setUp('s.json');
    expect((await runMain(['-q', ...addArgs(7)], { env })).code).toBe(0); // setup, in process
    chmodSync(file, 0o666);
    const unsafe = await run(['--profile', 'r', 'strategy', 'list'], env);
    expect(unsafe.code, unsafe.stderr).toBe(3);
    expect(unsafe.stderr).toContain(`[config.unsafe]: strategiesFile ${file} can be changed by other users (mode 0666)`);
    expect(unsafe.stderr).toContain(`could send payments elsewhere; nothing was done (run: chmod go-w ${file})`);
    chmodSync(file, 0o600);
    expect((await run(['--profile', 'r', 'strategy', 'list'], env)).code).toBe(0);

    // A named pipe: refused at once (reading it waited for a writer forever).
    const { execFileSync } = await import('node:child_process');
    const fifo = join(configDir, 'fifo.json');
    execFileSync('mkfifo', [fifo], SPAWN_LIMIT);
    const { env: pipeEnv } = setUp('fifo.json');
    writeFileSync(
      join(pipeEnv['XDG_CONFIG_HOME']!, 'sparctl', 'config.json'),
      JSON.stringify({ profiles: { r: { mode: 'remote', baseUrl: 'http://127.0.0.1:9', strategiesFile: fifo } } }),
    );
    const piped = await run(['-q', '--profile', 'r', 'strategy', 'list'], pipeEnv, { timeout: 20_000 });
    expect([piped.code, piped.stderr.trim()]).toEqual([
      2,
      `sparctl: error [strategy.invalid]: strategiesFile ${fifo}: is not a regular file (a pipe, a socket or a device)`,
    ]);

    // Bytes that are not UTF-8 (Latin-1 é): refused naming the line, the file left as it was.
    const latin = Buffer.concat([
      readFileSync(file).subarray(0, -2),
      Buffer.from(
        ',\n{"id": 8, "strategy_type": "FA", "description": "acct\xe9", "construct_strategy": "s8:{account_number}", "deconstruct_strategy": "^s8:(?P<account_number>.*)$"}]\n',
        'latin1',
      ),
    ]);
    writeFileSync(file, latin);
    const notUtf8 = await run(['-q', ...addArgs(9)], env);
    expect([notUtf8.code, notUtf8.stderr.trim()]).toEqual([
      2,
      `sparctl: error [strategy.invalid]: strategiesFile ${file}: is not valid UTF-8 (line ${latin.toString('latin1').split('\n').length - 1}); save it as UTF-8`,
    ]);
    expect(readFileSync(file)).toEqual(latin);

    // A NUL in a declared strategy: refused on reading, so an add never writes and then fails.
    writeFileSync(
      file,
      JSON.stringify([
        {
          id: 6,
          strategy_type: 'FA',
          description: 'has\u0000nul',
          construct_strategy: 's6:{account_number}',
          deconstruct_strategy: '^s6:(?P<account_number>.*)$',
        },
      ]),
    );
    const before = readFileSync(file, 'utf8');
    const nul = await run(['-q', ...addArgs(9)], env);
    expect(nul.code).toBe(2);
    expect(nul.stderr).toContain('[0].description: contains a NUL character, which PostgreSQL text cannot store');
    expect(readFileSync(file, 'utf8')).toBe(before);
    // A line break cannot go into the Helm chart's seed SQL: refused in a flag as in a file.
    const broken = await run(['-q', ...addArgs(9, 'line1\nline2')], env);
    expect(broken.code).toBe(2);
    expect(broken.stderr).toContain("--description: contains a line break (U+000A), which SPAR's Helm chart cannot carry in its seed SQL");
    expect(readFileSync(file, 'utf8')).toBe(before);
  }, 60_000);
});
