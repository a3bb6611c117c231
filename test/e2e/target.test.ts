/**
 * "Never the wrong target", end to end: sparctl in process (runMain; SPARCTL_TEST_BIN runs the
 * binary instead), a temp HOME each, one `sparctl serve` child on 127.0.0.1 shared by the tests
 * (each uses IDs of its own in it).
 *
 * The mapper a command acts on comes whole from the most specific source that names one (--db or
 * --url, then SPARCTL_DB or SPARCTL_BASE_URL, then the profile); contradictions are refused
 * before anything is touched; a database is never made by accident; a file that is not a sparctl
 * mapper is refused unchanged; a password in a URL is never printed.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { isAbsolute, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
// Through retained.ts: on Node 24 a collected better-sqlite3 object aborts the test process.
import { openDatabase, prepare, setPragma } from '../../src/adapters/sqlite/retained.js';
import { BIN, ROOT, runCli, type CliResult, SERVER_SPAWN_LIMIT } from '../helpers/run-cli.js';
import { runMain } from '../helpers/run-main.js';
import { bankFlags } from '../helpers/records.js';
import { tempDir } from '../helpers/tmp.js';

const BANK = bankFlags;
const HINT = '(give one of them; "sparctl config show" shows where each setting comes from)';

/** A fresh HOME with no XDG variables: the default mapper is ~/.local/share/sparctl/mapper.db, as for a user. */
function freshHome(): { home: string; env: Record<string, string>; defaultDb: string } {
  const home = tempDir('sparctl-target-home-');
  return {
    home,
    env: { PATH: process.env['PATH'] ?? '', HOME: home, NO_COLOR: '1' },
    defaultDb: join(home, '.local', 'share', 'sparctl', 'mapper.db'),
  };
}

/** A working folder with the repository's fixtures/ in it, so relative paths work as in the README. */
function workDir(): string {
  const dir = tempDir('sparctl-target-work-');
  symlinkSync(join(ROOT, 'fixtures'), join(dir, 'fixtures'));
  return dir;
}

function rows(db: string, sql: string, ...params: unknown[]): Record<string, unknown>[] {
  const handle = openDatabase(db, { readonly: true, fileMustExist: true });
  try {
    return prepare(handle, sql).all(...params) as Record<string, unknown>[];
  } finally {
    handle.close();
  }
}

/** Every file under `dir` (symlinks not followed) with the sha256 of its bytes. */
function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of readdirSync(dir, { recursive: true })) {
    const path = join(dir, String(name));
    const stat = statSync(path, { throwIfNoEntry: false });
    if (stat?.isFile()) out[String(name)] = sha256(path);
    else if (stat?.isDirectory()) out[`${String(name)}/`] = 'dir';
  }
  return out;
}

/** One column of a fixture CSV (no quoted cells before it), header dropped, cells trimmed as sparctl trims them. */
const column = (fixture: string, index: number) =>
  readFileSync(join(ROOT, 'fixtures', fixture), 'utf8')
    .trim()
    .split('\n')
    .slice(1)
    .map((line) => line.split(',')[index]!.trim());
const sha256 = (path: string) => createHash('sha256').update(readFileSync(path)).digest('hex');
const firstLine = (text: string) => text.split('\n')[0];
const lines = (text: string) => text.split('\n').filter((line) => line !== '');

/** A port on 127.0.0.1 nothing listens on (taken and released). */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** Asserts a refused command: the exit code, one line on stderr with the error code, nothing on stdout (-o json: the error document). */
function expectRefused(run: CliResult, exit: number, code: string, json = false): string {
  expect({ exit: run.code, stderr: run.stderr }).toEqual({
    exit,
    stderr: expect.stringMatching(new RegExp(`^sparctl: error \\[${code.replace('.', '\\.')}\\]: .*\\n$`)),
  });
  if (json) expect(JSON.parse(run.stdout)).toMatchObject({ error: { code, exitCode: exit } });
  else expect(run.stdout).toBe('');
  return run.stderr;
}

// One `sparctl serve` (no authentication, loopback) for every test of this file.
let served: { url: string; port: number; db: string; child: ChildProcess; log: () => string };
let sharedDir: string;

beforeAll(async () => {
  sharedDir = mkdtempSync(join(tmpdir(), 'sparctl-target-serve-'));
  const db = join(sharedDir, 'served.db');
  const env = { PATH: process.env['PATH'] ?? '', HOME: sharedDir, NO_COLOR: '1' };
  const child = spawn(process.execPath, [BIN, '--create', '--db', db, 'serve', '--port', '0'], {
    ...SERVER_SPAWN_LIMIT,
    env,
    cwd: sharedDir,
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let log = '';
  const port = await new Promise<number>((resolve, reject) => {
    child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
      log += chunk;
      const match = /listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(log);
      if (match) resolve(Number(match[1]));
    });
    child.on('exit', (code) => reject(new Error(`serve exited ${code}: ${log}`)));
  });
  served = { url: `http://127.0.0.1:${port}`, port, db, child, log: () => log };
});

afterAll(async () => {
  if (served?.child.exitCode === null) {
    const exited = new Promise((resolve) => served.child.on('exit', resolve));
    served.child.kill('SIGTERM');
    await exited;
  }
  rmSync(sharedDir, { recursive: true, force: true });
});

describe('the target: which mapper a command acts on (in process, against a served mapper)', () => {
  it('SPARCTL_BASE_URL beats the default profile: ping, smoke, link --file and import-csv act on the served mapper, never on ~/.local/share/sparctl/mapper.db', async () => {
    const { home, env, defaultDb } = freshHome();
    const cwd = workDir();
    const init = await runMain(['config', 'init'], { env, cwd });
    expect(init.code, init.stderr).toBe(0);
    expect(JSON.parse(readFileSync(join(home, '.config', 'sparctl', 'config.json'), 'utf8'))).toMatchObject({
      defaultProfile: 'local',
      profiles: { local: { mode: 'local' } },
    });

    const remote = { ...env, SPARCTL_BASE_URL: served.url };
    const [ping, smoke, link, importCsv, dfsp] = await Promise.all([
      runMain(['ping', '-o', 'table'], { env: remote, cwd }),
      runMain(['smoke'], { env: remote, cwd }),
      runMain(['link', '--file', 'fixtures/beneficiaries.csv'], { env: remote, cwd }),
      runMain(
        ['import-csv', 'fixtures/enumeration.csv', '--mapping', 'fixtures/enumeration.mapping.json', '--dfsp', 'fixtures/dfsp.json'],
        {
          env: remote,
          cwd,
        },
      ),
      runMain(['dfsp', 'list'], { env: remote, cwd }),
    ]);
    const targetLine = `→ remote spar-v2 ${served.url} (env SPARCTL_BASE_URL)`;
    for (const [name, run, exit] of [
      ['ping', ping, 0],
      ['smoke', smoke, 0],
      ['link', link, 0],
      ['import-csv', importCsv, 5],
      ['dfsp list', dfsp, 3],
    ] as const) {
      expect({ name, exit: run.code, first: firstLine(run.stderr) }, run.stderr).toEqual({ name, exit, first: targetLine });
    }
    expect(ping.stdout).toContain(`reachable: GET ${served.url}/ping → HTTP 200 "pong"`);
    // import-csv: 23 of the 25 rows linked; 2 are rejected by the mapping (an unknown bank, a missing value).
    expect(importCsv.stderr).toMatch(/^link +23 +0 +0 +23$/m);
    expect(importCsv.stderr).toContain('rejected by reason: mapping.unknown_bank 1, mapping.missing_value 1');
    // DFSP look-ups go with the target too: the served mapper has no dfspUrl, and the local one is not asked.
    expect(lines(dfsp.stderr)[1]).toMatch(
      /^sparctl: error \[dfsp\.no_url\]: the remote mapper \(env SPARCTL_BASE_URL\) has no dfspUrl .*\(set SPARCTL_DFSP_URL/,
    );

    // The served mapper holds what they wrote...
    const held = (ids: readonly string[]) =>
      rows(served.db, `SELECT count(*) AS n FROM id_fa_mappings WHERE id_value IN (${ids.map(() => '?').join(',')})`, ...ids)[0]!['n'];
    expect(held(column('beneficiaries.csv', 0))).toBe(10);
    // import-csv's mapping builds IDs with strategy 1 (token:{national_id}@nationalId).
    expect(held(column('enumeration.csv', 1).map((id) => `token:${id}@nationalId`))).toBe(23);
    const smokeId = /\(id (sparctl-smoke-[\w-]+)\)/.exec(smoke.stderr)?.[1];
    expect(
      rows(served.db, 'SELECT operation FROM audit_log WHERE id_value = ? ORDER BY id', smokeId).map((row) => row['operation']),
    ).toEqual(['link', 'update', 'unlink']);
    expect(served.log()).toMatch(/^GET \/ping 200 /m);
    // ...and no local mapper was made or touched.
    expect(existsSync(defaultDb)).toBe(false);
    expect(existsSync(join(home, '.local', 'share'))).toBe(false);

    // A profile chosen by name against SPARCTL_BASE_URL: refused, one line naming both, nothing written anywhere.
    // New IDs: had the run gone ahead anywhere, it would have linked them.
    const [header, ...records] = readFileSync(join(ROOT, 'fixtures', 'beneficiaries.csv'), 'utf8')
      .trim()
      .split('\n');
    writeFileSync(join(cwd, 'contra.csv'), [header, ...records.map((line, i) => line.replace(/^[^,]*/, `CONTRA_${i}`))].join('\n'));
    const before = { home: snapshot(home), cwd: snapshot(cwd), audit: rows(served.db, 'SELECT count(*) AS n FROM audit_log')[0]!['n'] };
    const [shown, ...contradictions] = await Promise.all([
      runMain(['config', 'show', '-o', 'table'], { env: remote, cwd }),
      runMain(['--profile', 'local', 'link', '--file', 'contra.csv'], { env: remote, cwd }),
      runMain(['--profile', 'local', 'ping'], { env: remote, cwd }),
      runMain(['smoke', '--profile', 'local', '-o', 'json'], { env: remote, cwd }),
      runMain(
        ['import-csv', 'fixtures/enumeration.csv', '--mapping', 'fixtures/enumeration.mapping.json', '--dfsp', 'fixtures/dfsp.json'],
        {
          env: { ...remote, SPARCTL_PROFILE: 'local' },
          cwd,
        },
      ),
    ]);
    const message = `env SPARCTL_BASE_URL (remote ${served.url}) and profile local (local ${defaultDb}) name two different mappers ${HINT}`;
    contradictions.forEach((run, i) =>
      expect(expectRefused(run, 2, 'target.contradiction', i === 2)).toBe(`sparctl: error [target.contradiction]: ${message}\n`),
    );
    expect({ home: snapshot(home), cwd: snapshot(cwd), audit: rows(served.db, 'SELECT count(*) AS n FROM audit_log')[0]!['n'] }).toEqual(
      before,
    );
    expect(rows(served.db, "SELECT count(*) AS n FROM id_fa_mappings WHERE id_value LIKE 'CONTRA_%'")[0]!['n']).toBe(0);
    expect(existsSync(defaultDb)).toBe(false);

    // The same profile, named by nobody (it is only the default): the variable decides, no contradiction.
    expect(shown.stdout).toContain(
      `target: remote spar-v2 ${served.url} (env SPARCTL_BASE_URL)\n  named by the first of: --db/--url, SPARCTL_DB/SPARCTL_BASE_URL, the profile\n  profile local's mode not used: env SPARCTL_BASE_URL names the target\n`,
    );
  });

  it('--url on ping and smoke reaches the given mapper, over SPARCTL_BASE_URL; two names in one source, or SPARCTL_MODE against the target, are refused', async () => {
    const { env, defaultDb } = freshHome();
    const cwd = workDir();
    // The environment names a dead mapper: the flag wins.
    const withDeadEnv = { ...env, SPARCTL_BASE_URL: `http://127.0.0.1:${await closedPort()}` };
    const auditBefore = rows(served.db, 'SELECT count(*) AS n FROM audit_log')[0]!['n'] as number;
    const db = join(cwd, 'x.db');
    const [ping, smoke, both, envBoth, mode, modeLocal] = await Promise.all([
      runMain(['ping', '--url', served.url, '-o', 'table'], { env: withDeadEnv, cwd }),
      runMain(['--url', served.url, 'smoke'], { env: withDeadEnv, cwd }),
      runMain(['smoke', '--db', 'x.db', '--create', '--url', served.url], { env, cwd }),
      runMain(['resolve', '--id', 'X'], { env: { ...env, SPARCTL_DB: 'x.db', SPARCTL_BASE_URL: served.url }, cwd }),
      runMain(['--url', served.url, 'resolve', '--id', 'X'], { env: { ...env, SPARCTL_MODE: 'local' }, cwd }),
      runMain(['--db', 'x.db', 'link', '--id', 'X', ...BANK('1')], { env: { ...env, SPARCTL_MODE: 'remote' }, cwd }),
    ]);
    for (const run of [ping, smoke]) {
      expect(run.code, run.stderr).toBe(0);
      expect(firstLine(run.stderr)).toBe(`→ remote spar-v2 ${served.url} (flag --url)`);
    }
    expect(ping.stdout).toMatch(new RegExp(`^ok {4}reachable: GET ${served.url}/ping → HTTP 200 "pong"`, 'm'));
    const smokeId = /\(id (sparctl-smoke-[\w-]+)\)/.exec(smoke.stderr)?.[1];
    expect(
      rows(served.db, 'SELECT operation FROM audit_log WHERE id_value = ? ORDER BY id', smokeId).map((row) => row['operation']),
    ).toEqual(['link', 'update', 'unlink']);
    expect(rows(served.db, 'SELECT count(*) AS n FROM audit_log')[0]!['n']).toBe(auditBefore + 3);
    expect(existsSync(defaultDb)).toBe(false);

    expect(expectRefused(both, 2, 'target.contradiction')).toBe(
      `sparctl: error [target.contradiction]: flag --db (local ${db}) and flag --url (remote ${served.url}) name two different mappers ${HINT}\n`,
    );
    expect(expectRefused(envBoth, 2, 'target.contradiction')).toBe(
      `sparctl: error [target.contradiction]: env SPARCTL_DB (local ${db}) and env SPARCTL_BASE_URL (remote ${served.url}) name two different mappers ${HINT}\n`,
    );
    expect(expectRefused(mode, 2, 'target.contradiction')).toContain(
      `env SPARCTL_MODE=local but flag --url (remote ${served.url}) is remote`,
    );
    expect(expectRefused(modeLocal, 2, 'target.contradiction')).toContain(`env SPARCTL_MODE=remote but flag --db (local ${db}) is local`);
    expect(existsSync(db)).toBe(false);
    expect(rows(served.db, 'SELECT count(*) AS n FROM audit_log')[0]!['n']).toBe(auditBefore + 3);
  });

  it('a target variable set but empty (an unset CI secret) is refused, and smoke never makes a mapper: nothing is made, nothing is sent', async () => {
    const { home, env, defaultDb } = freshHome();
    const cwd = workDir();
    const auditBefore = rows(served.db, 'SELECT count(*) AS n FROM audit_log')[0]!['n'];
    const empty: [string, string, string][] = [
      ['SPARCTL_BASE_URL', '', "mapper's URL"],
      ['SPARCTL_BASE_URL', ' \n', "mapper's URL"],
      ['SPARCTL_DB', '', 'database path'],
      ['SPARCTL_PROFILE', '', 'profile name'],
    ];
    const commands = [['ping'], ['smoke'], ['resolve', '--id', 'X'], ['link', '--id', 'X', ...BANK('1')], ['config', 'show']];
    const runs = await Promise.all(
      empty.flatMap(([variable, value]) => commands.map((args) => runMain(args, { env: { ...env, [variable]: value }, cwd }))),
    );
    empty.forEach(([variable, , what], v) =>
      commands.forEach((args, c) =>
        expect({ args, line: expectRefused(runs[v * commands.length + c]!, 2, 'target.empty_variable') }).toEqual({
          args,
          line: `sparctl: error [target.empty_variable]: ${variable} is set but empty: it names no mapper, so nothing was done (set it to the ${what}, or unset it; a CI secret that is not set leaves it empty)\n`,
        }),
      ),
    );
    // Beside a flag that names the target, an empty variable is never read: no matter then.
    for (const variable of ['SPARCTL_BASE_URL', 'SPARCTL_DB', 'SPARCTL_PROFILE']) {
      const flagged = await runMain(['--url', served.url, 'ping'], { env: { ...env, [variable]: '' }, cwd });
      expect(flagged.code, `${variable}: ${flagged.stderr}`).toBe(0);
    }
    // An empty SPARCTL_CONFIG would let the default config file's defaultProfile pick the mapper.
    expect(lines(expectRefused(await runMain(['ping'], { env: { ...env, SPARCTL_CONFIG: '' }, cwd }), 2, 'target.empty_variable'))).toEqual(
      [
        'sparctl: error [target.empty_variable]: SPARCTL_CONFIG is set but empty: it names no config file, so nothing was done (set it to the config file, or unset it for the default one; a CI secret that is not set leaves it empty)',
      ],
    );
    // smoke tests a mapper and makes none, the default one included, --create or not.
    const scratch = join(cwd, 'scratch.db');
    const [onDefault, withCreate] = await Promise.all([
      runMain(['smoke'], { env, cwd }),
      runMain(['--db', scratch, '--create', 'smoke'], { env, cwd }),
    ]);
    for (const [run, path, source] of [
      [onDefault, defaultDb, 'default'],
      [withCreate, scratch, 'flag --db'],
    ] as const) {
      expect(run.code).toBe(2);
      expect(lines(run.stderr)).toEqual([
        `→ local ${path} (${source})`,
        `sparctl: error [local.no_mapper]: no mapper at ${path} (check the path: this command tests a mapper and makes none; "sparctl init --db ${path}" creates an empty one there)`,
      ]);
    }
    // SPARCTL_PROFILE is not read at all when --profile is given: empty, it is no matter then.
    expect((await runMain(['config', 'init'], { env, cwd })).code).toBe(0);
    const named = await runMain(['--profile', 'local', 'ping'], { env: { ...env, SPARCTL_PROFILE: '' }, cwd });
    expect(named.code, named.stderr).toBe(0);
    expect(existsSync(scratch)).toBe(false);
    expect(existsSync(defaultDb)).toBe(false);
    expect(readdirSync(home)).toEqual(['.config']); // config init's file, nothing else
    expect(rows(served.db, 'SELECT count(*) AS n FROM audit_log')[0]!['n']).toBe(auditBefore);
  });

  it('a --db that does not exist is refused (local.no_mapper) and neither it nor its folder is made, unless --create on a write or sparctl init', async () => {
    const { home, env, defaultDb } = freshHome();
    const other = freshHome(); // for the runs that do make something
    const cwd = workDir();
    // Literally /nonexistent (these tests may run as root, who could create it), and one in a temp folder.
    expect(existsSync('/nonexistent')).toBe(false);
    const inTemp = join(cwd, 'nonexistent', 'dir', 'x.db');
    const refusals: [string, boolean, string[]][] = [
      ['/nonexistent/dir/x.db', true, ['resolve', '--id', 'X']],
      ['/nonexistent/dir/x.db', false, ['link', '--id', 'X', ...BANK('1')]],
      [inTemp, false, ['link', '--file', 'fixtures/beneficiaries.csv', '-o', 'json']],
      [inTemp, true, ['--create', 'resolve', '--id', 'X']], // --create makes nothing for a read
    ];
    // Reads of the default mapper, before anything was written, make nothing either (not even its folder).
    const reads = [['resolve', '--id', 'X'], ['ping'], ['link', '--id', 'X', ...BANK('1'), '--dry-run']];
    const createdDb = join(cwd, 'made', 'by', 'create.db');
    const fresh = join(cwd, 'training', 'spar.db');
    const results = await Promise.all([
      ...refusals.map(([path, , args]) => runMain(['--db', path, ...args], { env, cwd })),
      ...reads.map((args) => runMain(args, { env, cwd })),
      runMain(['--db', createdDb, '--create', 'link', '--id', 'X', ...BANK('0042')], { env: other.env, cwd }),
      runMain(['init', '--db', fresh], { env: other.env, cwd }),
      runMain(['init'], { env: { ...other.env, SPARCTL_BASE_URL: served.url }, cwd }),
    ]);
    refusals.forEach(([path, read, args], i) => {
      const run = results[i]!;
      expect({ args, code: run.code }).toEqual({ args, code: 2 });
      expect(lines(run.stderr)).toEqual([
        `→ local ${path} (flag --db)`,
        read
          ? `sparctl: error [local.no_mapper]: no mapper at ${path} (check the path; "sparctl init --db ${path}" creates an empty mapper there)`
          : `sparctl: error [local.no_mapper]: no mapper at ${path} (check the path; to start a new mapper there, add --create or run "sparctl init --db ${path}")`,
      ]);
      if (args.includes('json')) expect(JSON.parse(run.stdout)).toMatchObject({ error: { code: 'local.no_mapper', exitCode: 2 } });
    });
    reads.forEach((args, i) => {
      const run = results[refusals.length + i]!;
      expect({ args, code: run.code }, run.stderr).toEqual({ args, code: 0 });
      expect(firstLine(run.stderr)).toBe(`→ local ${defaultDb} (default)`);
    });
    expect(existsSync('/nonexistent')).toBe(false);
    expect(existsSync(join(cwd, 'nonexistent'))).toBe(false);
    expect(readdirSync(home)).toEqual([]); // no mapper, no journal, no state folder

    // --create on a command that writes makes it (and its folder), 0600; so does sparctl init.
    const [created, first, remoteInit] = results.slice(refusals.length + reads.length);
    expect(created!.code, created!.stderr).toBe(0);
    expect(statSync(createdDb).mode & 0o777).toBe(0o600);
    expect(rows(createdDb, 'SELECT id_value, fa_value FROM id_fa_mappings')).toEqual([
      { id_value: 'X', fa_value: expect.stringContaining('account_number:0042.') },
    ]);
    expect(first!.code, first!.stderr).toBe(0);
    expect(first!.stderr).toBe(`→ local ${fresh} (flag --db)\ncreated an empty mapper at ${fresh}\n`);
    expect(statSync(fresh).mode & 0o777).toBe(0o600);
    expect(rows(fresh, 'SELECT count(*) AS n FROM id_fa_mappings')[0]!['n']).toBe(0);
    expect(rows(fresh, 'SELECT count(*) AS n FROM strategy')[0]!['n']).toBe(5);
    // init makes local mappers only.
    expect(expectRefused(remoteInit!, 2, 'init.remote')).toContain(
      'init creates a local mapper, but the target is remote (env SPARCTL_BASE_URL)',
    );
    expect(existsSync(other.defaultDb)).toBe(false);

    // A second init finds it and changes nothing.
    const bytes = sha256(fresh);
    const [again, againJson, resolve] = await Promise.all([
      runMain(['--db', fresh, 'init'], { env: other.env, cwd }),
      runMain(['--db', fresh, 'init', '-o', 'json'], { env: other.env, cwd }),
      runMain(['--db', fresh, 'resolve', '--id', 'X', '-o', 'json'], { env: other.env, cwd }),
    ]);
    expect(again.code).toBe(0);
    expect(again.stderr).toBe(`→ local ${fresh} (flag --db)\n${fresh} is already a sparctl mapper; nothing was changed\n`);
    expect(JSON.parse(againJson.stdout)).toMatchObject({
      command: 'init',
      target: { mode: 'local', location: fresh, source: 'flag --db' },
      created: false,
    });
    expect(JSON.parse(resolve.stdout).results[0]).toMatchObject({ id: 'X', outcome: 'not_found' });
    expect(sha256(fresh)).toBe(bytes);
  });

  it('a file that is not a sparctl mapper (another SQLite database, a CSV) is refused (local.not_a_mapper) and left byte for byte as it was', async () => {
    const { env } = freshHome();
    const dir = tempDir('sparctl-target-foreign-');
    const foreign = join(dir, 'foreign.db');
    const handle = openDatabase(foreign);
    setPragma(handle, 'journal_mode = DELETE');
    handle.exec("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT); INSERT INTO notes (body) VALUES ('keep me')");
    handle.close();
    const csv = join(dir, 'beneficiaries.db');
    copyFileSync(join(ROOT, 'fixtures', 'beneficiaries.csv'), csv);
    const bytes = { foreign: sha256(foreign), csv: sha256(csv) };

    const attempts = (db: string) => [
      ['--db', db, 'link', '--id', 'X', ...BANK('1')],
      ['--db', db, 'resolve', '--id', 'X'],
      // The other SQLite file is also refused where a new mapper could be made, and by a bulk run.
      ...(db === foreign
        ? [
            ['--db', db, '--create', 'link', '--id', 'X', ...BANK('1'), '-o', 'json'],
            ['--db', db, 'init'],
            ['--db', db, 'link', '--file', join(ROOT, 'fixtures', 'beneficiaries.csv')],
          ]
        : []),
    ];
    // One file's attempts one after another (as they would come); the two files side by side.
    const sequence = async (db: string) => {
      const results: CliResult[] = [];
      for (const args of attempts(db)) results.push(await runMain(args, { env, cwd: dir }));
      return results;
    };
    const [onForeign, onCsv] = await Promise.all([sequence(foreign), sequence(csv)]);
    for (const [db, results, why] of [
      [foreign, onForeign, 'it holds other tables (notes); nothing was changed'],
      [csv, onCsv, 'it is not an SQLite database; nothing was changed'],
    ] as const) {
      results.forEach((run, i) => {
        expect({ args: attempts(db)[i], code: run.code }).toEqual({ args: attempts(db)[i], code: 2 });
        expect(lines(run.stderr)).toEqual([
          `→ local ${db} (flag --db)`,
          expect.stringMatching(
            new RegExp(
              `^sparctl: error \\[local\\.not_a_mapper\\]: ${db.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} is not a sparctl mapper: ${why.replace(/[()]/g, '\\$&')} \\(check --db`,
            ),
          ),
        ]);
        if (i === 2) expect(JSON.parse(run.stdout)).toMatchObject({ error: { code: 'local.not_a_mapper', exitCode: 2 } });
      });
    }
    expect({ foreign: sha256(foreign), csv: sha256(csv) }).toEqual(bytes);
    // No journal, WAL or shared-memory file left beside them; the journal mode is still DELETE.
    expect(readdirSync(dir).sort()).toEqual(['beneficiaries.db', 'foreign.db']);
    const check = openDatabase(foreign, { readonly: true });
    expect(prepare(check, 'PRAGMA journal_mode').pluck().get()).toBe('delete');
    expect(prepare(check, 'SELECT body FROM notes').pluck().all()).toEqual(['keep me']);
    check.close();
    expect(readFileSync(csv, 'utf8')).toBe(readFileSync(join(ROOT, 'fixtures', 'beneficiaries.csv'), 'utf8'));
  });

  it('a password in a URL is never printed: the URL is shown as http://***@host wherever it appears', async () => {
    const { env } = freshHome();
    const cwd = workDir();
    const dead = await closedPort();
    const secret = 's3cret';
    const withPassword = `http://admin:${secret}@127.0.0.1:${served.port}`;
    const remote = { ...env, SPARCTL_BASE_URL: withPassword };
    const masked = `http://***@127.0.0.1:${served.port}`;
    const runs: [string, Promise<CliResult>, number][] = [
      ['ping --url (closed port)', runMain(['ping', '--url', `http://admin:${secret}@127.0.0.1:${dead}`, '-o', 'table'], { env, cwd }), 4],
      [
        'ping --url (closed port) -o json',
        runMain(['ping', '--url', `http://admin:${secret}@127.0.0.1:${dead}`, '-o', 'json'], { env, cwd }),
        4,
      ],
      ['resolve', runMain(['resolve', '--id', 'PW_1', '-v'], { env: remote, cwd }), 0],
      ['resolve -o json', runMain(['resolve', '--id', 'PW_1', '-o', 'json'], { env: remote, cwd }), 0],
      ['link', runMain(['link', '--id', 'PW_1', ...BANK('1')], { env: remote, cwd }), 0],
      ['link -o json', runMain(['link', '--id', 'PW_2', ...BANK('2'), '-o', 'json'], { env: remote, cwd }), 0],
      ['smoke', runMain(['smoke'], { env: remote, cwd }), 0],
      ['smoke -o json', runMain(['smoke', '-o', 'json'], { env: remote, cwd }), 0],
      ['config show', runMain(['config', 'show', '-o', 'table'], { env: remote, cwd }), 0],
      ['config show -o json', runMain(['config', 'show', '-o', 'json'], { env: remote, cwd }), 0],
      // Errors that name the URL: a path with no mapper, an --url against SPARCTL_DB, a contradiction.
      ['resolve at a wrong path', runMain(['--url', `${withPassword}/nowhere`, 'resolve', '--id', 'PW_1'], { env, cwd }), 3],
      ['contradiction', runMain(['--db', 'x.db', '--url', withPassword, 'resolve', '--id', 'PW_1', '-o', 'json'], { env, cwd }), 2],
    ];
    const results = await Promise.all(runs.map(([, run]) => run));
    results.forEach((run, i) => {
      const [name, , exit] = runs[i]!;
      expect({ name, code: run.code }, run.stderr).toEqual({ name, code: exit });
      expect(`${run.stdout}\n${run.stderr}`.includes(secret), `${name}: the password is printed`).toBe(false);
      expect(`${run.stdout}\n${run.stderr}`, name).toContain('http://***@127.0.0.1:');
    });
    const byName = (name: string) => results[runs.findIndex(([n]) => n === name)]!;
    expect(firstLine(byName('ping --url (closed port)').stderr)).toBe(`→ remote spar-v2 http://***@127.0.0.1:${dead} (flag --url)`);
    expect(byName('ping --url (closed port)').stdout).toMatch(
      new RegExp(`^FAIL {2}reachable: GET http://\\*\\*\\*@127\\.0\\.0\\.1:${dead}/ping: connection refused`),
    );
    // -o json: the failed check's line, then the error document.
    const pingJson = byName('ping --url (closed port) -o json').stdout;
    expect(JSON.parse(pingJson.slice(pingJson.indexOf('{')))).toMatchObject({
      error: { code: 'remote.refused', message: `GET http://***@127.0.0.1:${dead}/ping: connection refused` },
    });
    for (const name of ['resolve', 'resolve -o json', 'link', 'link -o json', 'smoke', 'smoke -o json'])
      expect(firstLine(byName(name).stderr), name).toBe(`→ remote spar-v2 ${masked} (env SPARCTL_BASE_URL)`);
    expect(byName('resolve').stderr).toContain(
      `sparctl: resolve 1 record(s) via env SPARCTL_BASE_URL (spar-v2 ${masked}), 500 per batch\n`,
    );
    expect(JSON.parse(byName('smoke -o json').stdout)).toMatchObject({ passed: true, target: `spar-v2 ${masked}` });
    expect(byName('config show').stdout).toContain(`target: remote spar-v2 ${masked} (env SPARCTL_BASE_URL)\n`);
    expect(JSON.parse(byName('config show -o json').stdout)).toMatchObject({
      target: { mode: 'remote', location: masked, source: 'env SPARCTL_BASE_URL' },
      settings: { baseUrl: masked },
    });
    expect(byName('resolve at a wrong path').stderr).toContain(`${masked}/nowhere/mapper/resolve answered HTTP 404`);
    expect(JSON.parse(byName('contradiction').stdout)).toMatchObject({
      error: {
        code: 'target.contradiction',
        message: `flag --db (local ${join(cwd, 'x.db')}) and flag --url (remote ${masked}) name two different mappers`,
      },
    });
    // The requests really went there: the links are in the served mapper.
    expect(
      rows(served.db, "SELECT id_value FROM id_fa_mappings WHERE id_value LIKE 'PW_%' ORDER BY id_value").map((row) => row['id_value']),
    ).toEqual(['PW_1', 'PW_2']);
    expect(existsSync(join(cwd, 'x.db'))).toBe(false);
  });
});

describe('the folders sparctl keeps its config and data in', () => {
  it("with HOME unset, empty or relative, the user's home from the system, never the working folder (a config left there would choose the mapper)", async () => {
    const dir = tempDir();
    mkdirSync(join(dir, '.config', 'sparctl'), { recursive: true });
    writeFileSync(join(dir, '.config', 'sparctl', 'config.json'), JSON.stringify({ profiles: { planted: { mode: 'local' } } }));
    for (const home of [undefined, '', 'relative']) {
      const env: Record<string, string> = { PATH: process.env['PATH'] ?? '', NO_COLOR: '1', ...(home === undefined ? {} : { HOME: home }) };
      const result = await runCli(['config', 'path'], { env, cwd: dir });
      expect(result.code, `HOME=${home}`).toBe(0);
      const paths = result.stdout
        .trim()
        .split('\n')
        .map((line) => (JSON.parse(line) as { path: string }).path);
      expect(paths).toHaveLength(4);
      for (const path of paths) {
        expect(isAbsolute(path), `HOME=${home}: ${path}`).toBe(true);
        expect(path.startsWith(dir), `HOME=${home}: ${path}`).toBe(false);
      }
      expect(paths[0]).toBe(join(userInfo().homedir, '.config', 'sparctl', 'config.json'));
    }
  });
});
