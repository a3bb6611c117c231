/**
 * Two bulk runs started together in one folder never share a report file (adapters/files/
 * report-writers.ts): real child processes (bin/sparctl.js) against one real SQLite mapper.
 *
 * The default reject file is named after the input's stem in the current folder, so `link --file
 * x/a.csv` and `link --file y/a.csv` both want `./a.rejects.csv` — as `link` and `update` on one
 * `a.csv` do. Each input here has REJECTED rows (80) without an account number (input.invalid):
 * fewer than the early-stop probe (1,000 records; the inputs' ROWS are more, else no probe is
 * armed), so each run holds them until its end and only then opens its reject file. Before the
 * claim, both runs found the name free at their start and both wrote it at their end: one run's
 * rejects were lost and both summaries named the file. (Each race here still fails against a
 * build before the claims: SPARCTL_TEST_BIN=<that build>/bin/sparctl.js.)
 */
import { spawn } from 'node:child_process';
import { existsSync, linkSync, mkdirSync, readdirSync, readFileSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parse } from 'csv-parse/sync';
import { describe, expect, it } from 'vitest';
import { BIN, cliEnv, runCli, SPAWN_LIMIT, type CliResult } from '../helpers/run-cli.js';
import { runMain } from '../helpers/run-main.js';
import { tempDir } from '../helpers/tmp.js';

const ROWS = 2_000;
const HEADER = 'id,fa_type,bank_name,bank_code,branch_name,branch_code,account_number';
/** Every 25th row (from the 8th) has no account number: rejected before anything is sent. */
const invalid = (i: number) => i % 25 === 7;
/** How many rows of an input are rejected. */
const REJECTED = Array.from({ length: ROWS }, (_, i) => i).filter(invalid).length;

/** ROWS rows of IDs `${prefix}${i}`; `withInvalid`: the invalid() ones lack their account number. */
function input(path: string, prefix: string, withInvalid = true): string[] {
  const lines = [HEADER];
  const rejected: string[] = [];
  for (let i = 0; i < ROWS; i++) {
    const bad = withInvalid && invalid(i);
    if (bad) rejected.push(`${prefix}${i}`);
    lines.push(`${prefix}${i},BANK,Example Bank,EXB,Main,0001,${bad ? '' : String(i).padStart(8, '0')}`);
  }
  writeFileSync(path, `${lines.join('\n')}\n`);
  return rejected;
}

async function setup() {
  const { env } = cliEnv();
  const dir = tempDir('sparctl-claim-');
  mkdirSync(join(dir, 'x'));
  mkdirSync(join(dir, 'y'));
  const sparctl = (args: string[]) => runCli(['--db', 'mapper.db', ...args], { env, cwd: dir });
  const start = (args: string[]) =>
    spawn(process.execPath, [BIN, '--db', 'mapper.db', ...args], { ...SPAWN_LIMIT, env, cwd: dir, stdio: 'ignore' });
  // The mapper, made in process: only the runs below need to be processes of their own.
  const made = await runMain(
    [
      '--db',
      'mapper.db',
      '--create',
      '-q',
      'link',
      '--id',
      'Z0',
      ...['--fa-type', 'BANK', '--bank-name', 'Example Bank', '--bank-code', 'EXB', '--branch-name', 'Main', '--branch-code', '0001'],
      ...['--account-number', '1'],
    ],
    { env, cwd: dir },
  );
  expect(made.code, made.stderr).toBe(0);
  return { dir, sparctl, start };
}

/** The IDs and codes in a reject file. */
function rejectRows(path: string): { id: string; code: string }[] {
  const rows = parse(readFileSync(path, 'utf8'), { columns: true }) as Record<string, string>[];
  return rows.map((row) => ({ id: row['id']!, code: row['sparctl_code']! }));
}

/** The reject file a run's -o json document names (undefined: none). */
const rejectsOf = (run: CliResult) => (JSON.parse(run.stdout) as { rejects?: string }).rejects;

/**
 * Until a run's lock is written (made empty, then written: killed in between, it would hold the
 * name off for 5 s as one being written, and the next run would take the next name).
 */
async function claimed(lock: string): Promise<void> {
  while (!existsSync(lock) || readFileSync(lock, 'utf8') === '') await sleep(5);
}

const leftovers = (dir: string) => readdirSync(dir).filter((name) => name.includes('rejects') || name.endsWith('.lock'));

describe('two bulk runs at once never share a report file', () => {
  it('the default name: each run claims its own, holds exactly its own rejects, and its re-feed command names it', async () => {
    const { dir, sparctl } = await setup();
    const expected = { x: input(join(dir, 'x', 'a.csv'), 'X'), y: input(join(dir, 'y', 'a.csv'), 'Y') };
    const [x, y] = await Promise.all([
      sparctl(['-o', 'json', 'link', '--file', 'x/a.csv']),
      sparctl(['-o', 'json', 'link', '--file', 'y/a.csv']),
    ]);
    expect(x.code, x.stderr).toBe(5);
    expect(y.code, y.stderr).toBe(5);
    const paths = { x: rejectsOf(x)!, y: rejectsOf(y)! };
    expect([paths.x, paths.y].sort()).toEqual([join(dir, 'a.rejects-2.csv'), join(dir, 'a.rejects.csv')]);
    for (const [name, run] of [
      ['x', x],
      ['y', y],
    ] as const) {
      const rows = rejectRows(paths[name]);
      expect(rows.map((row) => row.id)).toEqual(expected[name]);
      expect(new Set(rows.map((row) => row.code))).toEqual(new Set(['input.invalid']));
      expect(run.stderr).toContain(`rejects: ${paths[name]} (${REJECTED} rows`);
      expect(run.stderr).toContain(`link --file '${paths[name].slice(dir.length + 1)}'`);
    }
    // No lock is left: each went with its run.
    expect(leftovers(dir).sort()).toEqual(['a.rejects-2.csv', 'a.rejects.csv']);
  });

  it('link and update on one file at once: two reject files, each holding the rows its own run counted', async () => {
    const { dir, sparctl } = await setup();
    const invalidRows = input(join(dir, 'a.csv'), 'A');
    const [link, update] = await Promise.all([
      sparctl(['-o', 'json', 'link', '--file', 'a.csv']),
      sparctl(['-o', 'json', 'update', '--file', 'a.csv']),
    ]);
    expect(link.code, link.stderr).toBe(5);
    expect(update.code, update.stderr).toBe(5);
    const [linkPath, updatePath] = [rejectsOf(link)!, rejectsOf(update)!];
    expect(linkPath).not.toBe(updatePath);
    // No ID of a.csv was linked before: link's rejects are the invalid rows; update's are those and
    // the rows link had not linked yet when update reached them (not found: how many varies).
    expect(rejectRows(linkPath).map((row) => row.id)).toEqual(invalidRows);
    const updateRows = rejectRows(updatePath);
    const updateDoc = JSON.parse(update.stdout) as { summary: { rejected: number } };
    expect(updateRows).toHaveLength(updateDoc.summary.rejected);
    expect(updateRows.filter((row) => row.code === 'input.invalid').map((row) => row.id)).toEqual(invalidRows);
  });

  it('no rejects: no reject file and no lock left behind', async () => {
    const { dir, sparctl } = await setup();
    input(join(dir, 'x', 'a.csv'), 'X', false);
    input(join(dir, 'y', 'a.csv'), 'Y', false);
    const runs = await Promise.all([sparctl(['-q', 'link', '--file', 'x/a.csv']), sparctl(['-q', 'link', '--file', 'y/a.csv'])]);
    for (const run of runs) expect(run.code, run.stderr).toBe(0);
    expect(leftovers(dir)).toEqual([]);
  });

  it('one --rejects FILE --overwrite named by a second run while the first writes it: the second is refused with one line, the first writes only its own rows', async () => {
    const { dir, sparctl, start } = await setup();
    writeFileSync(join(dir, 'r.csv'), 'an earlier reject file\n');
    const expected = input(join(dir, 'x', 'a.csv'), 'X');
    input(join(dir, 'y', 'a.csv'), 'Y');
    // The second starts once the first holds its claim (two started together did not always
    // overlap on a loaded machine: the first had ended before the second began), and runs while
    // the first is paused there (SIGSTOP): a live run holding the claim, however fast it would go.
    const first = start(['link', '--file', 'x/a.csv', '--rejects', 'r.csv', '--overwrite']);
    const firstExit = new Promise<number | null>((resolve) => first.once('close', (code) => resolve(code)));
    await claimed(join(dir, 'r.csv.lock'));
    first.kill('SIGSTOP');
    let second: CliResult;
    try {
      second = await sparctl(['link', '--file', 'y/a.csv', '--rejects', 'r.csv', '--overwrite']);
    } finally {
      first.kill('SIGCONT');
    }
    expect(second.code, second.stderr).toBe(4);
    const lines = second.stderr
      .replace(/^→ .*\n/, '')
      .trimEnd()
      .split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(
      new RegExp(
        `^sparctl: error \\[output\\.in_use\\]: --rejects ${join(dir, 'r.csv')}: another sparctl run \\(pid ${first.pid}\\) is writing it; nothing was sent`,
      ),
    );
    expect(await firstExit).toBe(5);
    expect(rejectRows(join(dir, 'r.csv')).map((row) => row.id)).toEqual(expected);
    expect(existsSync(join(dir, 'r.csv.lock'))).toBe(false);
  });

  it('a run killed with kill -9 leaves its lock but no reject file; the next run takes the lock over and writes the default name', async () => {
    const { dir, sparctl, start } = await setup();
    input(join(dir, 'x', 'a.csv'), 'X');
    const expected = input(join(dir, 'y', 'a.csv'), 'Y');
    // Its rejects are held until the early-stop probe, here all rows but the last, has its answer
    // (a probe of the whole file or more holds nothing: no early stop could come), and batches of
    // one record one at a time make that last well past the kill: none is written before it.
    const killed = start(['link', '--file', 'x/a.csv', '--early-stop', String(ROWS - 1), '--batch-size', '1', '--concurrency', '1']);
    const ended = new Promise((resolve) => killed.on('close', resolve));
    await claimed(join(dir, 'a.rejects.csv.lock'));
    // Just after its claim the run checks the path can be written by making an empty file there
    // and removing it: a kill within that instant leaves the empty file (a known window, not this test's).
    await sleep(300);
    killed.kill('SIGKILL');
    await ended;
    expect(leftovers(dir)).toEqual(['a.rejects.csv.lock']);
    const next = await sparctl(['-o', 'json', 'link', '--file', 'y/a.csv']);
    expect(next.code, next.stderr).toBe(5);
    expect(rejectsOf(next)).toBe(join(dir, 'a.rejects.csv'));
    expect(rejectRows(join(dir, 'a.rejects.csv')).map((row) => row.id)).toEqual(expected);
    expect(leftovers(dir)).toEqual(['a.rejects.csv']);
  });

  it('SIGTERM: the run stops cleanly and its lock goes with it', async () => {
    const { dir, start } = await setup();
    input(join(dir, 'x', 'a.csv'), 'X');
    // Batches of one record, one at a time: the run lasts well past the signal (on a RAM disk it ended first).
    const stopped = start(['link', '--file', 'x/a.csv', '--batch-size', '1', '--concurrency', '1']);
    const ended = new Promise<number | null>((resolve) => stopped.on('close', resolve));
    await claimed(join(dir, 'a.rejects.csv.lock'));
    // The claim comes just before the run listens for signals (and its 2,000 one-record batches
    // last most of a second past it).
    await sleep(300);
    stopped.kill('SIGTERM');
    expect(await ended).toBe(143);
    // The rejects it had met are written (the next run resumes the job); the lock is gone.
    expect(leftovers(dir).filter((name) => name.endsWith('.lock'))).toEqual([]);
  });

  it("a live run's claim: a default run moves on (saying nothing is kept), a named one is refused, a dry run claims nothing", async () => {
    const { dir, sparctl } = await setup();
    input(join(dir, 'x', 'a.csv'), 'X');
    const other = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)'], { ...SPAWN_LIMIT, stdio: 'ignore' });
    try {
      const lock = `${other.pid} ${hostname()} 00000000-0000-0000-0000-000000000000\n`;
      writeFileSync(join(dir, 'a.rejects.csv.lock'), lock);
      const dry = await sparctl(['link', '--file', 'x/a.csv', '--dry-run']);
      expect(dry.code, dry.stderr).toBe(5);
      expect(dry.stderr).toContain(`rejects preview: ${join(dir, 'a.rejects.preview.csv')} (${REJECTED} rows`);
      const real = await sparctl(['link', '--file', 'x/a.csv']);
      expect(real.code, real.stderr).toBe(5);
      expect(real.stderr).toContain(`rejects: ${join(dir, 'a.rejects-2.csv')} (${REJECTED} rows)\n`);
      const named = await sparctl(['link', '--file', 'x/a.csv', '--rejects', 'a.rejects.csv']);
      expect(named.code).toBe(4);
      expect(named.stderr.replace(/^→ .*\n/, '')).toBe(
        `sparctl: error [output.in_use]: --rejects ${join(dir, 'a.rejects.csv')}: another sparctl run (pid ${other.pid}) is writing it; nothing was sent (wait for that run to end, or name another --rejects path; if no sparctl is running, remove ${join(dir, 'a.rejects.csv.lock')})\n`,
      );
      expect(readFileSync(join(dir, 'a.rejects.csv.lock'), 'utf8')).toBe(lock);
      expect(leftovers(dir).sort()).toEqual(['a.rejects-2.csv', 'a.rejects.csv.lock', 'a.rejects.preview.csv']);
    } finally {
      other.kill('SIGKILL');
    }
  });
});

describe('a resumed run and the reject file its job wrote', () => {
  /** `link --file a.csv` stopped by Ctrl-C once its reject file holds a row (slowed down, rejects written as they come). */
  async function interrupted(dir: string, start: (args: string[]) => ReturnType<typeof spawn>, name: string): Promise<void> {
    const child = start(['link', '--file', `${name}.csv`, '--no-early-stop', '--batch-size', '1', '--concurrency', '1']);
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    const rejects = join(dir, `${name}.rejects.csv`);
    // The run probes the path first (creates an empty file and removes it), so the file may go
    // between two looks: read it once, and a missing file counts as no rows yet.
    const lines = (): number => {
      try {
        return readFileSync(rejects, 'utf8').split('\n').length;
      } catch {
        return 0;
      }
    };
    while (lines() < 3) await sleep(5);
    child.kill('SIGINT');
    expect(await exited).toBe(130);
  }
  const resumed = ['link', '--file', 'a.csv', '--no-early-stop'];

  it('writes into it again when no one touched it (it took a new numbered name after every stop), and keeps it when a coordinator edited it', async () => {
    const { dir, sparctl, start } = await setup();
    const expected = input(join(dir, 'a.csv'), 'A');
    await interrupted(dir, start, 'a');
    const again = await sparctl(resumed);
    expect(again.code, again.stderr).toBe(5);
    expect(again.stderr).toContain(`rejects: ${join(dir, 'a.rejects.csv')} (${REJECTED} rows)`);
    expect(rejectRows(join(dir, 'a.rejects.csv')).map((row) => row.id)).toEqual(expected);
    expect(leftovers(dir)).toEqual(['a.rejects.csv']);

    // Stopped again, and the file edited before the next run (a row fixed by hand, the same size,
    // its time put back as `touch -r` does): never replaced.
    const second = input(join(dir, 'b.csv'), 'B');
    await interrupted(dir, start, 'b');
    const path = join(dir, 'b.rejects.csv');
    const before = statSync(path);
    const edited = readFileSync(path, 'utf8').replace(',B7,', ',b7,');
    expect(edited).not.toBe(readFileSync(path, 'utf8'));
    writeFileSync(path, edited);
    utimesSync(path, before.atime, before.mtime);
    const later = await sparctl(['link', '--file', 'b.csv', '--no-early-stop']);
    expect(later.code, later.stderr).toBe(5);
    expect(later.stderr).toContain(
      `rejects: ${join(dir, 'b.rejects-2.csv')} (${REJECTED} rows; ${join(dir, 'b.rejects.csv')} was there already and is kept)`,
    );
    expect(readFileSync(join(dir, 'b.rejects.csv'), 'utf8')).toBe(edited);
    expect(rejectRows(join(dir, 'b.rejects-2.csv')).map((row) => row.id)).toEqual(second);

    // A hard-linked backup of it: written into, the backup would change too.
    input(join(dir, 'c.csv'), 'C');
    await interrupted(dir, start, 'c');
    linkSync(join(dir, 'c.rejects.csv'), join(dir, 'backup.csv'));
    const backup = readFileSync(join(dir, 'backup.csv'), 'utf8');
    const third = await sparctl(['link', '--file', 'c.csv', '--no-early-stop']);
    expect(third.code, third.stderr).toBe(5);
    expect(third.stderr).toContain(`rejects: ${join(dir, 'c.rejects-2.csv')} (${REJECTED} rows;`);
    expect(readFileSync(join(dir, 'backup.csv'), 'utf8')).toBe(backup);
  });
});
