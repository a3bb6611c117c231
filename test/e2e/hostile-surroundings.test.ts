import { execFileSync, spawn } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
// Through retained.ts: on Node 24 a collected better-sqlite3 object aborts the test process.
import { openDatabase, prepare } from '../../src/adapters/sqlite/retained.js';
import { BIN, cliEnv, outputOf, ROOT, runCli, SERVER_SPAWN_LIMIT, SPAWN_LIMIT, type CliResult } from '../helpers/run-cli.js';
import { runMain } from '../helpers/run-main.js';
import { tempDir } from '../helpers/tmp.js';

/**
 * The hostile review of failing surroundings: a copy of stdin that cannot be written, an index
 * cache on a full disk, a reject or results file cut short, a `serve` whose database fails. Each
 * says what failed, where and why, and leaves nothing half-done behind unsaid. No root needed:
 * a file size limit (`ulimit -f`, its SIGXFSZ ignored) makes writes fail as a full disk does.
 */

const FIXTURE = join(ROOT, 'fixtures', 'beneficiaries.csv');
const HEADER = readFileSync(FIXTURE, 'utf8').split('\n')[0]!;
const isRoot = process.getuid?.() === 0;

function rowsCsv(count: number, prefix = 'HS'): string {
  const rows = Array.from(
    { length: count },
    (_, i) => `${prefix}${String(i).padStart(6, '0')},Person ${i},,BANK,2,Example Bank,EXB,Main,0001,${String(i).padStart(10, '0')},,,,`,
  );
  return `${HEADER}\n${rows.join('\n')}\n`;
}

function linked(db: string): number {
  return (prepare(openDatabase(db, { readonly: true }), 'SELECT count(*) AS n FROM id_fa_mappings').get() as { n: number }).n;
}

/** `sparctl ...args` as a child whose files may not grow past `kib` KiB (writes beyond fail with EFBIG). */
function runLimited(
  kib: number,
  args: string[],
  options: { env: Record<string, string>; cwd: string; input?: string },
): Promise<CliResult> {
  const child = spawn('bash', ['-c', `trap '' XFSZ; ulimit -f ${kib}; exec "$0" "$@"`, process.execPath, BIN, ...args], {
    ...SPAWN_LIMIT,
    env: options.env,
    cwd: options.cwd,
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const result = outputOf(child);
  child.stdin!.on('error', () => undefined).end(options.input ?? '');
  return result;
}

describe('a copy of stdin (the spool) that cannot be written is the state folder’s failure, never the input’s', () => {
  it('a file size limit: input.spool_failed naming the spool folder, exit 2, no copy left, nothing linked', async () => {
    const dir = tempDir();
    const { env } = cliEnv();
    expect((await runMain(['--db', 'x.db', 'init', '-q'], { env, cwd: dir })).code).toBe(0); // setup, in process
    const spool = join(env['XDG_STATE_HOME']!, 'sparctl', 'spool');
    const result = await runLimited(8, ['--db', 'x.db', 'link', '--file', '-'], { env, cwd: dir, input: rowsCsv(500) });
    expect(result.code).toBe(2);
    // Was `input.unreadable: cannot read stdin: EFBIG: file too large, write (check the path of the input file)`.
    expect(result.stderr).toContain(
      `sparctl: error [input.spool_failed]: ${spool}: cannot copy stdin here: file too large (EFBIG); nothing was sent`,
    );
    expect(result.stderr).not.toContain('cannot read stdin');
    expect(readdirSync(spool)).toEqual([]);
    expect(linked(join(dir, 'x.db'))).toBe(0);
  });

  it('a spool folder that takes no new file: output.unwritable naming it, exit 2, nothing linked', async (context) => {
    const dir = tempDir();
    const { env } = cliEnv();
    expect((await runMain(['--db', 'x.db', 'init', '-q'], { env, cwd: dir })).code).toBe(0); // setup, in process
    const spool = join(env['XDG_STATE_HOME']!, 'sparctl', 'spool');
    mkdirSync(spool, { recursive: true });
    // Root passes every permission check: a read-only bind mount instead, undone whatever happens.
    if (isRoot) {
      try {
        execFileSync('mount', ['--bind', spool, spool], SPAWN_LIMIT);
        execFileSync('mount', ['-o', 'remount,ro,bind', spool], SPAWN_LIMIT);
      } catch {
        return context.skip();
      }
    } else chmodSync(spool, 0o500);
    try {
      const result = await runCli(['--db', 'x.db', 'link', '--file', '-'], { env, cwd: dir, input: rowsCsv(5) });
      expect(result.code).toBe(2);
      expect(result.stderr).toMatch(
        new RegExp(`sparctl: error \\[output\\.unwritable\\]: ${spool}: cannot copy stdin here: .* \\((EROFS|EACCES)\\); nothing was sent`),
      );
      expect(result.stderr).not.toContain('cannot read stdin');
      expect(linked(join(dir, 'x.db'))).toBe(0);
    } finally {
      if (isRoot) execFileSync('umount', [spool], SPAWN_LIMIT);
      else chmodSync(spool, 0o700);
    }
  });
});

describe('a stop signal before anything is sent', () => {
  it('SIGTERM or SIGHUP while stdin is still being copied: one line saying nothing was sent, exit 143/129, no copy left, nothing linked', async () => {
    const dir = tempDir();
    const { env } = cliEnv();
    expect((await runMain(['--db', 'x.db', 'init', '-q'], { env, cwd: dir })).code).toBe(0); // setup, in process
    const spool = join(env['XDG_STATE_HOME']!, 'sparctl', 'spool');
    for (const [signal, code, said] of [
      ['SIGTERM', 143, 'terminated \\(SIGTERM\\)'],
      ['SIGHUP', 129, 'the terminal hung up \\(SIGHUP\\)'],
    ] as const) {
      const child = spawn(process.execPath, [BIN, '--db', 'x.db', 'link', '--file', '-'], {
        ...SPAWN_LIMIT,
        env,
        cwd: dir,
        stdio: ['pipe', 'pipe', 'pipe'],
      });
      const result = outputOf(child);
      // The producer is still writing: the copy is under way, and stays so until the signal.
      child.stdin!.on('error', () => undefined).write(rowsCsv(200));
      const started = Date.now();
      while (!(existsSync(spool) && readdirSync(spool).length > 0)) {
        expect(Date.now() - started, 'the copy of stdin to begin').toBeLessThan(15_000);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      child.kill(signal);
      const { code: exit, stderr } = await result;
      expect(exit, stderr).toBe(code);
      expect(stderr).toMatch(new RegExp(`\\nsparctl: ${said}; nothing was sent\\n`));
      expect(readdirSync(spool)).toEqual([]);
      expect(linked(join(dir, 'x.db'))).toBe(0);
    }
  });
});

describe('the index cache', () => {
  it('an index that cannot be kept leaves no partial copy in the cache', async () => {
    const dir = tempDir();
    const { env } = cliEnv();
    const cache = join(env['XDG_CACHE_HOME']!, 'sparctl', 'index');
    writeFileSync(join(dir, 'b.csv'), rowsCsv(50));
    const args = ['--db', 'x.db', '--create', 'link', '--file', 'b.csv', '-q'];
    expect((await runMain(args, { env, cwd: dir })).code).toBe(0);
    const [kept] = readdirSync(cache);
    expect(kept).toMatch(/\.index\.json$/);
    // Its place taken by a folder: the next run's copy cannot be renamed there (as a copy cut
    // short by a full disk cannot be used), and was left in the cache for good.
    rmSync(join(cache, kept!));
    mkdirSync(join(cache, kept!, 'in-the-way'), { recursive: true });
    const again = await runMain(args, { env, cwd: dir });
    expect(again.code).toBe(5); // every row already linked: the run itself is unharmed
    expect(readdirSync(cache)).toEqual([kept]);
  });
});

describe.runIf(existsSync('/dev/full'))('a reject or results file the disk cannot take', () => {
  it('the summary says it is incomplete, never the count of rows it does not hold; -o json says so too', async () => {
    const dir = tempDir();
    const { env } = cliEnv();
    copyFileSync(FIXTURE, join(dir, 'b.csv'));
    expect((await runMain(['--db', 'x.db', '--create', 'link', '--file', 'b.csv', '-q'], { env, cwd: dir })).code).toBe(0);
    // Linked already: every row is rejected, and the reject file cannot take one.
    const full = await runMain(['--db', 'x.db', 'link', '--file', 'b.csv', '--rejects', '/dev/full'], { env, cwd: dir });
    expect(full.code).toBe(4);
    expect(full.stderr).not.toContain('rejects: /dev/full (10 rows)');
    expect(full.stderr).toContain(
      'rejects: /dev/full (incomplete: writing it failed, so it holds only some of the 10 rows, the last maybe cut short; the next run writes it again)',
    );
    const results = await runMain(['--db', 'x.db', 'link', '--file', 'b.csv', '--results', '/dev/full'], { env, cwd: dir });
    expect(results.code).toBe(4);
    expect(results.stderr).toContain(
      'results: /dev/full (incomplete: writing it failed, so it holds only some of the lines; the next run writes it again)',
    );
    const json = await runMain(['--db', 'x.db', 'link', '--file', 'b.csv', '--rejects', '/dev/full', '-o', 'json'], { env, cwd: dir });
    expect(json.code).toBe(4);
    const document = JSON.parse(json.stdout.slice(0, json.stdout.indexOf('\n}\n') + 2)) as Record<string, unknown>;
    expect(document).toMatchObject({ rejects: '/dev/full', rejectsIncomplete: true });
  });
});

describe('serve whose database cannot be written', () => {
  it('each request answered 500 is told on serve’s stderr with the code, the database and SQLite’s reason', async () => {
    const dir = tempDir();
    const { env } = cliEnv();
    const db = join(dir, 's.db');
    expect((await runMain(['--db', db, 'init', '-q'], { env, cwd: dir })).code).toBe(0); // setup, in process
    const child = spawn(
      'bash',
      ['-c', `trap '' XFSZ; ulimit -f 300; exec "$0" "$@"`, process.execPath, BIN, '--db', db, 'serve', '--port', '0', '-q'],
      { ...SERVER_SPAWN_LIMIT, env, cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    try {
      let stderr = '';
      child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
      const started = Date.now();
      while (!/listening on http:\/\/127\.0\.0\.1:\d+/.test(stderr) && Date.now() - started < 30_000)
        await new Promise((resolve) => setTimeout(resolve, 20));
      const url = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(stderr)![1]!;
      writeFileSync(join(dir, 'b.csv'), rowsCsv(2_000));
      const client = await runCli(['--url', url, 'link', '--file', 'b.csv', '--retries', '0', '-q'], { env, cwd: dir });
      expect(client.code).toBe(4);
      expect(client.stderr).toContain('answered HTTP 500 (G2P-REQ-100: Unknown Error.)');
      // The client hears "Unknown Error"; the one running serve is told why, even with -q.
      expect(stderr).toMatch(
        new RegExp(
          `^sparctl serve: POST /mapper/link answered 500: error \\[disk\\.(full|write_failed)\\]: ${db}: the local mapper database failed: .* \\(SQLITE_(FULL|IOERR\\w*)\\)(; writing beside it now fails: file too large \\(EFBIG\\))?$`,
          'm',
        ),
      );
      expect(stderr).not.toContain('internal error');
    } finally {
      child.kill('SIGKILL');
    }
  }, 60_000);
});
