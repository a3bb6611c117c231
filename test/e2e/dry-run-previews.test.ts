/**
 * Dry runs at once on one preview path (app/bulk-job.ts, adapters/files/report-writers.ts): real
 * child processes (bin/sparctl.js) against one real SQLite mapper. A dry run claims nothing, so
 * `link --file x/a.csv --dry-run` and `link --file y/a.csv --dry-run` in one folder both write
 * ./a.rejects.preview.csv (and, given one --results r.jsonl, both r.preview.jsonl). Each preview
 * is written under a temporary name beside its path and renamed there when its run ends: the
 * file at the path is always one run's whole preview. Before, both wrote the path itself: one
 * truncated the other's file, which went on writing at its own offsets (a mix, a hole of zeros),
 * and a run that would reject nothing removed the file another was still writing.
 *
 * The overlap is forced, not hoped for: the first run is paused (SIGSTOP) once its preview holds
 * rows, the second runs whole meanwhile, then the first goes on (SIGCONT) and ends last.
 * (Each race here fails against a build before the fix: SPARCTL_TEST_BIN=<that build>/bin/sparctl.js.)
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { BIN, cliEnv, outputOf, runCli, SPAWN_LIMIT, type CliResult } from '../helpers/run-cli.js';
import { runMain } from '../helpers/run-main.js';
import { tempDir } from '../helpers/tmp.js';

/** Rows enough for several chunks of 2,000 (--batch-size 1): the preview grows chunk by chunk, and the first one is written well before the end. */
const ROWS = 12_000;
const HEADER = 'id,fa_type,bank_name,bank_code,branch_name,branch_code,account_number';
const PREVIEW = 'a.rejects.preview.csv';
const RESULTS = 'r.preview.jsonl';
/** A preview's temporary file, as sparctl names it (report-writers.ts stagingPath). */
const TEMP = /\.sparctl-tmp\.\d+\.[0-9a-f]{8}\.[0-9a-f]{8}$/;

const hasBash = spawnSync('bash', ['-c', 'ulimit -f 1000'], { ...SPAWN_LIMIT, stdio: 'ignore' }).status === 0;

/** ROWS rows of IDs `${prefix}${i}`; with `invalid`, every 25th (from the 8th) lacks its account number: rejected before sending. */
function input(path: string, prefix: string, invalid = true): void {
  const lines = [HEADER];
  for (let i = 0; i < ROWS; i++) {
    const bad = invalid && i % 25 === 7;
    lines.push(`${prefix}${i},BANK,Example Bank,EXB,Main,0001,${bad ? '' : String(i).padStart(8, '0')}`);
  }
  writeFileSync(path, `${lines.join('\n')}\n`);
}

async function setup() {
  const { env } = cliEnv();
  const dir = tempDir('sparctl-previews-');
  for (const sub of ['x', 'y', 'z']) mkdirSync(join(dir, sub));
  input(join(dir, 'x', 'a.csv'), 'X');
  input(join(dir, 'y', 'a.csv'), 'Y');
  input(join(dir, 'z', 'a.csv'), 'W', false);
  const made = await runMain(
    [
      ...['--db', 'mapper.db', '--create', '-q', 'link', '--id', 'Z0'],
      ...['--fa-type', 'BANK', '--bank-name', 'Example Bank', '--bank-code', 'EXB', '--branch-name', 'Main', '--branch-code', '0001'],
      ...['--account-number', '1'],
    ],
    { env, cwd: dir },
  );
  expect(made.code, made.stderr).toBe(0);
  /** A dry run of `sub`/a.csv, slowed to one-record batches so that it lasts (about a second). */
  const args = (sub: string, extra: string[] = []) => [
    ...['--db', 'mapper.db', 'link', '--file', `${sub}/a.csv`, '--dry-run', '--no-early-stop'],
    ...['--batch-size', '1', '--concurrency', '1', ...extra],
  ];
  const sparctl = (sub: string, extra?: string[]) => runCli(args(sub, extra), { env, cwd: dir });
  /** The run under `ulimit -f blocks` (1 KiB blocks): a write past that size fails (EFBIG; Node ignores SIGXFSZ). */
  const limited = (blocks: number, sub: string, extra?: string[]) =>
    outputOf(
      spawn('bash', ['-c', `ulimit -f ${blocks} && exec "$0" "$@"`, process.execPath, BIN, ...args(sub, extra)], {
        ...SPAWN_LIMIT,
        env,
        cwd: dir,
        stdio: ['ignore', 'pipe', 'pipe'],
      }),
    );
  const start = (sub: string, extra?: string[]) => {
    const child = spawn(process.execPath, [BIN, ...args(sub, extra)], { ...SPAWN_LIMIT, env, cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
    return { child, done: outputOf(child) };
  };
  return { dir, sparctl, start, limited };
}

/** The files in `dir` (the inputs' folders and the mapper's files aside: a reader killed leaves its -wal and -shm). */
const left = (dir: string) =>
  readdirSync(dir)
    .filter((name) => !['x', 'y', 'z'].includes(name) && !name.startsWith('mapper.db'))
    .sort();

/**
 * Until a file named after `name` (the preview itself, or its temporary file) holds more than
 * its first line, then pauses `child` there; throws if the run ended first (nothing overlapped).
 * `earlier`: what the preview held before the run, which is not yet its writing.
 */
async function pauseWhenWriting(dir: string, name: string, child: ReturnType<typeof spawn>, earlier?: string): Promise<void> {
  const writing = () =>
    readdirSync(dir).some((entry) => {
      const path = join(dir, entry);
      if (!entry.startsWith(name) || (statSync(path, { throwIfNoEntry: false })?.size ?? 0) <= 200) return false;
      return earlier === undefined || entry !== name || readFileSync(path, 'utf8') !== earlier;
    });
  while (!writing()) {
    if (child.exitCode !== null) throw new Error(`the run ended before its ${name} held a row`);
    await sleep(2);
  }
  child.kill('SIGSTOP');
  // Still running when paused: a run that ended meanwhile would leave nothing to overlap.
  expect(child.exitCode, 'the first run ended before it was paused').toBeNull();
}

/** The previews a run leaves alone (no other run in the folder), and removed again. */
async function alone(dir: string, sparctl: (sub: string, extra?: string[]) => Promise<CliResult>, sub: string) {
  const run = await sparctl(sub, ['--results', 'r.jsonl']);
  expect(run.code, run.stderr).toBe(5);
  const previews = { rejects: readFileSync(join(dir, PREVIEW), 'utf8'), results: readFileSync(join(dir, RESULTS), 'utf8') };
  rmSync(join(dir, PREVIEW));
  rmSync(join(dir, RESULTS));
  return previews;
}

describe('dry runs at once on one preview path', () => {
  it("two overlapping dry runs: each preview left is the last one to end's, whole (rejects and results alike), owner-only, and no temporary file stays", async () => {
    const { dir, sparctl, start } = await setup();
    const x = await alone(dir, sparctl, 'x');
    const y = await alone(dir, sparctl, 'y');
    expect(x.rejects).not.toBe(y.rejects);
    const first = start('x', ['--results', 'r.jsonl']);
    let second: CliResult;
    try {
      await pauseWhenWriting(dir, PREVIEW, first.child);
      // The second runs whole while the first is paused mid-preview; the first ends last.
      second = await sparctl('y', ['--results', 'r.jsonl']);
    } finally {
      first.child.kill('SIGCONT');
    }
    const firstRun = await first.done;
    expect(second.code, second.stderr).toBe(5);
    expect(firstRun.code, firstRun.stderr).toBe(5);
    expect(readFileSync(join(dir, PREVIEW), 'utf8')).toBe(x.rejects);
    expect(readFileSync(join(dir, RESULTS), 'utf8')).toBe(x.results);
    for (const run of [firstRun, second]) {
      expect(run.stderr).toContain(`rejects preview: ${join(dir, PREVIEW)} (${ROWS / 25} rows; the next dry run replaces it)`);
      expect(run.stderr).toContain(`results preview: ${join(dir, RESULTS)}\n`);
    }
    expect(statSync(join(dir, PREVIEW)).mode & 0o777).toBe(0o600);
    expect(statSync(join(dir, RESULTS)).mode & 0o777).toBe(0o600);
    expect(left(dir)).toEqual([PREVIEW, RESULTS]);
  });

  it('a dry run that would reject nothing removes neither the preview another is writing nor one put there while it ran; one from before, it does', async () => {
    const { dir, sparctl, start } = await setup();
    const { rejects } = await alone(dir, sparctl, 'x');
    // While the other writes its preview (paused there), a run of z/a.csv, which has no rejects, ends.
    const writer = start('x');
    let clean: CliResult;
    try {
      await pauseWhenWriting(dir, PREVIEW, writer.child);
      clean = await sparctl('z');
    } finally {
      writer.child.kill('SIGCONT');
    }
    expect(clean.code, clean.stderr).toBe(0);
    expect(clean.stderr).not.toContain('removed');
    expect((await writer.done).code).toBe(5);
    expect(readFileSync(join(dir, PREVIEW), 'utf8')).toBe(rejects);

    // It began before the other put its preview there (paused once it writes its results, after
    // it looked at the preview path), and ends after: that preview is as new as its own findings.
    rmSync(join(dir, PREVIEW));
    const late = start('z', ['--results', 'r.jsonl']);
    let other: CliResult;
    try {
      await pauseWhenWriting(dir, RESULTS, late.child);
      other = await sparctl('x');
    } finally {
      late.child.kill('SIGCONT');
    }
    expect(other.code, other.stderr).toBe(5);
    const lateRun = await late.done;
    expect(lateRun.code, lateRun.stderr).toBe(0);
    expect(lateRun.stderr).not.toContain('removed');
    expect(readFileSync(join(dir, PREVIEW), 'utf8')).toBe(rejects);

    // Alone after it: that preview is an earlier dry run's, removed and said so.
    const after = await sparctl('z');
    expect(after.code, after.stderr).toBe(0);
    expect(after.stderr).toContain(`removed ${join(dir, PREVIEW)}: an earlier dry run's preview (this one would reject nothing)`);
    expect(left(dir)).toEqual([RESULTS]);
  });

  it('a dry run killed with kill -9 leaves no part of a preview at its path, only a temporary file named as such, which the next dry run there removes', async () => {
    const { dir, sparctl, start } = await setup();
    const { rejects } = await alone(dir, sparctl, 'x');
    const killed = start('x');
    await pauseWhenWriting(dir, PREVIEW, killed.child);
    killed.child.kill('SIGKILL');
    expect((await killed.done).code).toBeNull();
    expect(existsSync(join(dir, PREVIEW))).toBe(false);
    const temps = left(dir);
    expect(temps).toHaveLength(1);
    expect(temps[0]).toMatch(new RegExp(`^${PREVIEW.replaceAll('.', '\\.')}${TEMP.source}`));
    expect(temps[0]).toContain(`.sparctl-tmp.${killed.child.pid}.`);
    const next = await sparctl('x');
    expect(next.code, next.stderr).toBe(5);
    expect(readFileSync(join(dir, PREVIEW), 'utf8')).toBe(rejects);
    expect(left(dir)).toEqual([PREVIEW]);
  });

  it('a second signal ends a dry run at once: its temporary file goes with it, and the preview there before stays whole', async () => {
    const { dir, sparctl, start } = await setup();
    const { rejects } = await alone(dir, sparctl, 'y');
    await sparctl('y');
    const stopped = start('x');
    await pauseWhenWriting(dir, PREVIEW, stopped.child, rejects);
    // Two signals while it is paused, both heard as it goes on: the first stops it cleanly, the
    // second (another signal: one of the same is only pending once) ends it at once.
    stopped.child.kill('SIGINT');
    stopped.child.kill('SIGTERM');
    stopped.child.kill('SIGCONT');
    const run = await stopped.done;
    expect([130, 143], run.stderr).toContain(run.code);
    expect(readFileSync(join(dir, PREVIEW), 'utf8')).toBe(rejects);
    expect(left(dir)).toEqual([PREVIEW]);
  });

  it.skipIf(!hasBash)(
    'a preview whose write fails is never put in place: the earlier one stays whole, no temporary file stays, and no preview is named',
    async () => {
      const { dir, sparctl, limited } = await setup();
      const x = await alone(dir, sparctl, 'x');
      const y = await alone(dir, sparctl, 'y');
      expect((await sparctl('x', ['--results', 'r.jsonl'])).code).toBe(5);
      // 1 MiB: about a third of the results preview (20,000 lines), all of the rejects preview.
      const run = await limited(1024, 'y', ['--results', 'r.jsonl']);
      expect(run.code, run.stderr).toBe(4);
      expect(run.stderr).toContain(`sparctl: error [disk.full]: ${join(dir, RESULTS)}: cannot write: file too large (EFBIG)`);
      expect(run.stderr).not.toContain('results preview:');
      expect(readFileSync(join(dir, RESULTS), 'utf8')).toBe(x.results);
      // Its rejects preview, written whole, is put in place as a stopped run's always was: the rows met before the stop.
      const rows = readFileSync(join(dir, PREVIEW), 'utf8');
      expect(y.rejects.startsWith(rows)).toBe(true);
      expect(run.stderr).toContain(`rejects preview: ${join(dir, PREVIEW)} (${rows.trimEnd().split('\n').length - 1} rows`);
      expect(left(dir)).toEqual([PREVIEW, RESULTS]);
    },
  );
});
