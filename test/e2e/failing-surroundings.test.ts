import { execFileSync, spawn } from 'node:child_process';
import {
  appendFileSync,
  chmodSync,
  closeSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  openSync,
  readFileSync,
  rmSync,
  statSync,
  truncateSync,
  writeSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { makeFolders } from '../../src/adapters/files/fs-errors.js';
// Through retained.ts: on Node 24 a collected better-sqlite3 object aborts the test process.
import { openDatabase, prepare } from '../../src/adapters/sqlite/retained.js';
import { BIN, cliEnv, ROOT, runCli, SPAWN_LIMIT } from '../helpers/run-cli.js';
import { runMain } from '../helpers/run-main.js';
import { startSparV2Double } from '../helpers/spar-v2-double.js';
import { tempDir } from '../helpers/tmp.js';

/**
 * When the machine fails sparctl — a full disk, a path that cannot be made, a damaged journal, a
 * file of beneficiary data readable by others — the command says so in one line naming the path
 * and the system's reason, with the README's exit code, never "internal error"; a run stopped by
 * it resumes to the same database a clean run makes.
 */

const FIXTURE = join(ROOT, 'fixtures', 'beneficiaries.csv');
const hasDevFull = existsSync('/dev/full');
const hasProc = existsSync('/proc/self');

function mappings(db: string): string {
  return JSON.stringify(
    prepare(
      openDatabase(db, { readonly: true }),
      'SELECT id_value, fa_value, name, phone, additional_info FROM id_fa_mappings ORDER BY id_value',
    ).all(),
  );
}

const mode = (path: string) => statSync(path).mode & 0o777;

/** A folder with the fixture as b.csv and a fresh environment. */
function setUp() {
  const dir = tempDir();
  copyFileSync(FIXTURE, join(dir, 'b.csv'));
  return { dir, ...cliEnv() };
}

describe('output paths are checked before anything is sent', () => {
  it('--rejects naming a folder: output.unwritable, exit 2, nothing linked', async () => {
    const { dir, env } = setUp();
    const result = await runMain(['--db', 'x.db', '--create', 'link', '--file', 'b.csv', '--rejects', dir], { env, cwd: dir });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(
      `sparctl: error [output.unwritable]: ${dir}: cannot write to it: illegal operation on a directory (EISDIR)`,
    );
    expect(result.stderr).not.toContain('internal');
    expect(JSON.parse(mappings(join(dir, 'x.db')))).toEqual([]);
  });

  it.runIf(hasProc)('paths under /proc fail at once, never loop: --results, --rejects with no rejects, smoke --junit', async () => {
    const { dir, env } = setUp();
    const cases = [
      ['--db', 'x.db', '--create', 'link', '--file', 'b.csv', '--results', '/proc/x/y/z.csv'],
      ['--db', 'x.db', '--create', 'link', '--file', 'b.csv', '--rejects', '/proc/nope/r.csv'],
      ['--db', 'x.db', '--create', 'smoke', '--junit', '/proc/nope/x.xml'],
    ];
    for (const args of cases) {
      const started = Date.now();
      const result = await runCli(args, { env, cwd: dir });
      expect(result.code, args.join(' ')).toBe(2);
      expect(result.stderr).toMatch(/sparctl: error \[output\.unwritable\]: \/proc\/(x|nope): cannot create the folder: .* \(E[A-Z]+\)/);
      expect(Date.now() - started).toBeLessThan(SPAWN_LIMIT.timeout / 4);
    }
    expect(JSON.parse(mappings(join(dir, 'x.db')))).toEqual([]);
  });

  it('makeFolders makes one attempt per component: a file in the way is ENOTDIR, /proc is ENOENT', () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'file'), '');
    expect(() => makeFolders(join(dir, 'file', 'a', 'b'))).toThrow(expect.objectContaining({ code: 'ENOTDIR' }));
    makeFolders(join(dir, 'a', 'b', 'c'));
    expect(statSync(join(dir, 'a', 'b', 'c')).isDirectory()).toBe(true);
    if (hasProc) expect(() => makeFolders('/proc/nope/a/b')).toThrow(expect.objectContaining({ code: 'ENOENT' }));
  });
});

describe.runIf(hasDevFull)('a full disk during a run (/dev/full): exit 4, the summary, and a rerun that resumes', () => {
  it('--rejects /dev/full: disk.full naming it; the rerun writes every reject', async () => {
    const { dir, env } = setUp();
    expect((await runMain(['--db', 'x.db', '--create', 'link', '--file', 'b.csv', '-q'], { env, cwd: dir })).code).toBe(0);
    // Linked already: every row is rejected, and the reject file cannot take them.
    const full = await runMain(['--db', 'x.db', 'link', '--file', 'b.csv', '--rejects', '/dev/full'], { env, cwd: dir });
    expect(full.code).toBe(4);
    expect(full.stderr).toContain('stopped early: /dev/full: cannot write: no space left on device (ENOSPC) (disk.full)');
    expect(full.stderr).toContain('resume with: run the same command again');
    expect(full.stderr).toContain('sparctl: error [disk.full]: /dev/full: cannot write');
    const rerun = await runMain(['--db', 'x.db', 'link', '--file', 'b.csv', '--rejects', 'r.csv', '-q'], { env, cwd: dir });
    expect(rerun.code).toBe(5);
    expect(readFileSync(join(dir, 'r.csv'), 'utf8').trim().split('\n')).toHaveLength(11);
  });

  it('--results /dev/full: disk.full; the rerun links what the clean run links', async () => {
    const { dir, env } = setUp();
    const full = await runMain(['--db', 'x.db', '--create', 'link', '--file', 'b.csv', '--results', '/dev/full', '--journal', 'j.db'], {
      env,
      cwd: dir,
    });
    expect(full.code).toBe(4);
    expect(full.stderr).toContain('sparctl: error [disk.full]: /dev/full: cannot write: no space left on device (ENOSPC)');
    // The results file failed before anything was sent: no journal is left behind.
    expect(existsSync(join(dir, 'j.db'))).toBe(false);
    const rerun = await runMain(['--db', 'x.db', 'link', '--file', 'b.csv', '--results', 'res.csv', '--journal', 'j.db', '-q'], {
      env,
      cwd: dir,
    });
    expect(rerun.code).toBe(0);
    expect(existsSync(join(dir, 'j.db'))).toBe(false);
    expect((await runMain(['--db', 'clean.db', '--create', 'link', '--file', 'b.csv', '-q'], { env, cwd: dir })).code).toBe(0);
    expect(mappings(join(dir, 'x.db'))).toBe(mappings(join(dir, 'clean.db')));
  });
});

/** The binary as a child whose stdout or stderr is /dev/full (as `> /dev/full` in a shell); the other stream is read. */
function runIntoFull(
  args: string[],
  full: 'stdout' | 'stderr',
  options: { env: Record<string, string>; cwd: string },
): Promise<{ code: number | null; text: string }> {
  const fd = openSync('/dev/full', 'w');
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      ...SPAWN_LIMIT,
      env: options.env,
      cwd: options.cwd,
      stdio: ['ignore', full === 'stdout' ? fd : 'pipe', full === 'stderr' ? fd : 'pipe'],
    });
    closeSync(fd);
    let text = '';
    (full === 'stdout' ? child.stderr : child.stdout)!.setEncoding('utf8').on('data', (chunk: string) => (text += chunk));
    child.on('error', reject);
    child.on('close', (code) => resolvePromise({ code, text }));
  });
}

describe.runIf(hasDevFull)('stdout or stderr on a full disk (> /dev/full): one line, exit 4, never a stack trace', () => {
  const LINE = 'sparctl: error [disk.full]: stdout: cannot write the output: no space left on device (ENOSPC)';

  it('resolve --file, a single resolve, strategy export and --help: the line and exit 4', async () => {
    const { dir, env } = setUp();
    // The mapper (setup, in process); the runs into /dev/full are the binary's.
    expect((await runMain(['--db', 'x.db', '--create', 'link', '--file', 'b.csv', '-q'], { env, cwd: dir })).code).toBe(0);
    for (const args of [
      ['--db', 'x.db', 'resolve', '--file', 'b.csv', '-o', 'jsonl'],
      ['--db', 'x.db', 'resolve', 'BENE_0001', '-o', 'json'],
      ['strategy', 'export', '--format', 'sql'],
      ['--help'],
    ]) {
      const result = await runIntoFull(args, 'stdout', { env, cwd: dir });
      expect(result.code, args.join(' ')).toBe(4);
      expect(result.text, args.join(' ')).toContain(LINE);
      expect(result.text).not.toMatch(/internal|\n\s+at /);
    }
  });

  it('link --file -o jsonl stops as for a full results file; the rerun ends where a clean run does', async () => {
    const { dir, env } = setUp();
    // 1,500 rows in batches of 100: the run stops with about 400 of them applied.
    const rows = Array.from({ length: 1_500 }, (_, i) => `FULL-${i},BANK,Example Bank,EXB,Main,0001,${String(i).padStart(10, '0')}`);
    writeFileSync(join(dir, 'many.csv'), `id,fa_type,bank_name,bank_code,branch_name,branch_code,account_number\n${rows.join('\n')}\n`);
    const args = ['--db', 'x.db', 'link', '--file', 'many.csv', '--journal', 'j.db', '--batch-size', '100'];
    const full = await runIntoFull(['--create', ...args, '-o', 'jsonl'], 'stdout', { env, cwd: dir });
    expect(full.code).toBe(4);
    expect(JSON.parse(mappings(join(dir, 'x.db'))).length).toBeLessThan(rows.length);
    expect(full.text).toContain('stopped early: stdout: cannot write the output: no space left on device (ENOSPC)');
    expect(full.text).toContain('resume with: run the same command again');
    expect(full.text).toContain(LINE);
    expect(full.text).not.toMatch(/internal|\n\s+at /);
    const rerun = await runCli([...args, '-o', 'jsonl', '-q'], { env, cwd: dir });
    expect(rerun.code).toBe(0);
    // The clean reference, in process.
    expect((await runMain(['--db', 'clean.db', '--create', 'link', '--file', 'many.csv', '-q'], { env, cwd: dir })).code).toBe(0);
    expect(mappings(join(dir, 'x.db'))).toBe(mappings(join(dir, 'clean.db')));
  });

  it('stderr on a full disk stops no run (its lines are messages): every row linked, then exit 4', async () => {
    const { dir, env } = setUp();
    const full = await runIntoFull(['--db', 'x.db', '--create', 'link', '--file', 'b.csv', '-o', 'jsonl'], 'stderr', { env, cwd: dir });
    expect(full.code).toBe(4);
    expect(full.text.trim().split('\n')).toHaveLength(11); // ten results and the error's JSON line
    // The clean reference, in process.
    expect((await runMain(['--db', 'clean.db', '--create', 'link', '--file', 'b.csv', '-q'], { env, cwd: dir })).code).toBe(0);
    expect(mappings(join(dir, 'x.db'))).toBe(mappings(join(dir, 'clean.db')));
  });

  it('stderr on a full disk: the answer on stdout, then the error as the last JSON line, exit 4', async () => {
    const { dir, env } = setUp();
    expect((await runMain(['--db', 'x.db', '--create', 'link', '--file', 'b.csv', '-q'], { env, cwd: dir })).code).toBe(0);
    const result = await runIntoFull(['--db', 'x.db', 'resolve', 'BENE_0001', '-o', 'jsonl'], 'stderr', { env, cwd: dir });
    expect(result.code).toBe(4);
    // As for every error under -o jsonl, it is also the last line on stdout.
    const lines = result.text
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as unknown);
    expect(lines).toEqual([
      expect.objectContaining({ id: 'BENE_0001', outcome: 'found' }),
      {
        error: expect.objectContaining({
          code: 'disk.full',
          message: expect.stringContaining('stderr: cannot write the output'),
          exitCode: 4,
        }),
      },
    ]);
  });
});

describe('a damaged journal', () => {
  it.runIf(hasDevFull)('journal.damaged naming it (exit 2); --restart discards it', async () => {
    const { dir, env } = setUp();
    const args = ['--db', 'x.db', 'link', '--file', 'b.csv', '--journal', 'j.db'];
    expect((await runMain(['--create', ...args, '--results', '/dev/full'], { env, cwd: dir })).code).toBe(4);
    // Damaged past its header (a file that is not SQLite at all is not taken for a journal: journal.not_journal).
    writeFileSync(join(dir, 'j.db'), Buffer.concat([Buffer.from('SQLite format 3\0', 'latin1'), Buffer.alloc(20_000, 0x5a)]));
    const damaged = await runMain(args, { env, cwd: dir });
    expect(damaged.code).toBe(2);
    expect(damaged.stderr).toContain(
      `sparctl: error [journal.damaged]: ${join(dir, 'j.db')}: the journal is damaged: file is not a database`,
    );
    expect(damaged.stderr).toContain('--restart');
    expect((await runMain([...args, '--restart', '-q'], { env, cwd: dir })).code).toBe(0);
    expect(JSON.parse(mappings(join(dir, 'x.db')))).toHaveLength(10);
  });
});

describe('files of beneficiary data are 0600, created or not', () => {
  it('an existing reject file, results file and database at 0644 are 0600 after the run', async () => {
    const { dir, env } = setUp();
    expect((await runMain(['--db', 'x.db', '--create', 'link', '--file', 'b.csv', '-q'], { env, cwd: dir })).code).toBe(0);
    for (const name of ['x.db', 'r.csv', 'res.csv']) {
      if (!existsSync(join(dir, name))) writeFileSync(join(dir, name), '');
      chmodSync(join(dir, name), 0o644);
    }
    const result = await runMain(
      ['--db', 'x.db', 'link', '--file', 'b.csv', '--rejects', 'r.csv', '--overwrite', '--results', 'res.csv', '-q'],
      {
        env,
        cwd: dir,
      },
    );
    expect(result.code).toBe(5);
    expect({ db: mode(join(dir, 'x.db')), rejects: mode(join(dir, 'r.csv')), results: mode(join(dir, 'res.csv')) }).toEqual({
      db: 0o600,
      rejects: 0o600,
      results: 0o600,
    });
  });
});

/**
 * The database on a small tmpfs (600 KiB: 1,000 of the 2,000 rows fit) fills up mid-run. Mounting
 * needs root: without it the case is skipped (the /dev/full cases above cover the reports without it).
 */
function tinyDisk(): string | undefined {
  const at = join(tempDir('sparctl-tiny-'), 'disk');
  mkdirSync(at);
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=600k', 'tmpfs', at], { ...SPAWN_LIMIT, stdio: 'ignore' });
  } catch {
    return undefined;
  }
  return at;
}

describe('the database fills its disk', () => {
  it('disk.full naming the database, exit 4; with space again the rerun ends where a clean run does', async (context) => {
    const disk = process.platform === 'linux' && process.getuid?.() === 0 ? tinyDisk() : undefined;
    if (disk === undefined) return context.skip();
    try {
      await fillTheDisk(disk);
    } finally {
      // Before tempDir's cleanup, which cannot remove a mount point; lazily, as this process keeps
      // the database it compared open (retained.ts).
      execFileSync('umount', ['--lazy', disk], SPAWN_LIMIT);
    }
  }, 120_000);
});

async function fillTheDisk(disk: string): Promise<void> {
  const { dir, env } = setUp();
  const rows = Array.from(
    { length: 2_000 },
    (_, i) =>
      `FULL_${String(i).padStart(6, '0')},Person ${i},+63 917 555 ${String(i % 10_000).padStart(4, '0')},BANK,2,Example Bank,EXB,Main,0001,${String(i).padStart(10, '0')},,,,`,
  );
  writeFileSync(join(dir, 'big.csv'), `${readFileSync(FIXTURE, 'utf8').split('\n')[0]}\n${rows.join('\n')}\n`);
  const db = join(disk, 'x.db');
  const full = await runCli(['--db', db, '--create', 'link', '--file', 'big.csv'], { env, cwd: dir });
  expect(full.code).toBe(4);
  expect(full.stderr).toContain(`sparctl: error [disk.full]: ${db}: `);
  expect(full.stderr).toContain('(SQLITE_FULL)');
  expect(full.stderr).toContain('resume with: run the same command again');
  // Filled mid-run: some rows were committed, not all.
  const committed = JSON.parse(mappings(db)).length;
  expect(committed).toBeGreaterThan(0);
  expect(committed).toBeLessThan(rows.length);
  execFileSync('mount', ['-o', 'remount,size=20m', disk], SPAWN_LIMIT);
  expect((await runCli(['--db', db, 'link', '--file', 'big.csv', '-q'], { env, cwd: dir })).code).toBe(0);
  // The clean reference, in process.
  expect((await runMain(['--db', 'clean.db', '--create', 'link', '--file', 'big.csv', '-q'], { env, cwd: dir })).code).toBe(0);
  expect(mappings(db)).toBe(mappings(join(dir, 'clean.db')));
}

describe('an input written to while the run reads it (an export still arriving, a spreadsheet saving over it)', () => {
  /** `link --file` of `rows` rows against a double whose first answer waits until `change` has been applied to the file. */
  async function changedDuringRun(change: (path: string) => void) {
    const spar = await startSparV2Double();
    const dir = tempDir();
    const { env } = cliEnv({ SPARCTL_BASE_URL: spar.url });
    const file = join(dir, 'grow.csv');
    // Far more than the reader holds ahead of the first request (its stream buffer and two chunks).
    const rows = Array.from({ length: 12_000 }, (_, i) => `GROW-${i},BANK,Example Bank,EXB,Main,0001,${String(i).padStart(10, '0')}`);
    writeFileSync(file, `id,fa_type,bank_name,bank_code,branch_name,branch_code,account_number\n${rows.join('\n')}\n`);
    // The first answer is held back long enough for the change to land while the run is under way.
    spar.inject({ delayMs: 1_500 });
    const run = runCli(['link', '--file', 'grow.csv', '--concurrency', '1', '--batch-size', '100', '--journal', 'j.db'], { env, cwd: dir });
    while (spar.requests.length === 0) await new Promise((resolve) => setTimeout(resolve, 5));
    change(file);
    const result = await run;
    const linked = new Set(spar.rows().keys());
    // Every ID a request carried, in order.
    const sent = spar.requests
      .filter((request) => request.path.startsWith('/mapper/'))
      .flatMap((request) =>
        Object.values(
          (JSON.parse(request.body) as { request_body: { request_payload: Record<string, unknown> } }).request_body.request_payload,
        )
          .filter(Array.isArray)
          .flatMap((items) => (items as { id: string }[]).map((item) => item.id)),
      );
    await spar.close();
    return { result, linked, sent, dir };
  }

  it("a row rewritten in place (the same size, another row's ID): its span is never sent, no ID is written twice, engine.input_changed", async () => {
    const { result, linked, sent } = await changedDuringRun((path) => {
      const text = readFileSync(path, 'latin1');
      const at = text.lastIndexOf('GROW-11999,');
      const fd = openSync(path, 'r+');
      writeSync(fd, 'GROW-10000,', at, 'latin1');
      closeSync(fd);
    });
    expect(result.code).toBe(4);
    expect(result.stderr).toContain(
      'sparctl: error [engine.input_changed]: the input changed while it was read: grow.csv changed since it was checked at the start of the run',
    );
    expect(new Set(sent).size).toBe(sent.length);
    expect(linked.has('GROW-11999')).toBe(false);
    expect(linked.size).toBeGreaterThan(0);
  });

  it('a row appended after the first read is never sent: exit 4, engine.input_changed naming its line, the journal kept', async () => {
    const { result, linked, dir } = await changedDuringRun((path) =>
      appendFileSync(path, 'GROW-LATE,BANK,Example Bank,EXB,Main,0001,0099999999\n'),
    );
    expect(result.code).toBe(4);
    expect(result.stderr).toContain(
      'sparctl: error [engine.input_changed]: the input changed while it was read: line 12002 is past the 12000 record(s) it held when the run began',
    );
    expect(result.stderr).toContain('resume with: once the file is complete, run the command on it again: a new job');
    expect(linked.size).toBe(12_000);
    expect(linked.has('GROW-LATE')).toBe(false);
    expect(existsSync(join(dir, 'j.db'))).toBe(true);
  });

  it('a quote left open at the end by an append: exit 4 and engine.input_changed naming the line, never "invalid input" after the rows were sent', async () => {
    const { result, linked } = await changedDuringRun((path) => appendFileSync(path, 'GROW-LATE,"BANK,Example Bank\n'));
    expect(result.code).toBe(4);
    expect(result.stderr).toContain(
      'sparctl: error [engine.input_changed]: the input changed while it was read: grow.csv:12002: a quoted cell is never closed',
    );
    expect(linked.size).toBeGreaterThan(0);
    expect(linked.has('GROW-LATE')).toBe(false);
  });

  it('a file cut short: what was read and checked is linked, the row the cut went through is not, and the run ends with engine.input_changed', async () => {
    const { result, linked } = await changedDuringRun((path) => truncateSync(path, 400_000));
    expect(result.code).toBe(4);
    expect(result.stderr).toMatch(
      /sparctl: error \[engine\.input_changed\]: the input changed while it was read: \S+ changed since it was checked at the start of the run \(it ends at 400,000 bytes, before the [\d,]+ read then\)/,
    );
    expect(linked.size).toBeGreaterThan(0);
    expect(linked.size).toBeLessThan(12_000);
  });
});

describe('a journal removed while the run uses it (SQLite writes on into the removed file)', () => {
  it('the run stops before its next batch: disk.write_failed naming it, exit 4, the summary; the next run is a new job that meets the linked rows again', async () => {
    const spar = await startSparV2Double();
    try {
      const dir = tempDir();
      const { env } = cliEnv({ SPARCTL_BASE_URL: spar.url });
      const rows = Array.from({ length: 1_000 }, (_, i) => `GONE-${i},BANK,Example Bank,EXB,Main,0001,${String(i).padStart(10, '0')}`);
      writeFileSync(join(dir, 'b.csv'), `id,fa_type,bank_name,bank_code,branch_name,branch_code,account_number\n${rows.join('\n')}\n`);
      const args = ['link', '--file', 'b.csv', '--concurrency', '1', '--batch-size', '100', '--journal', 'j.db'];
      // The first answer is held back until the journal is gone.
      spar.inject({ delayMs: 500 });
      const running = runMain(args, { env, cwd: dir });
      while (spar.requests.length === 0) await new Promise((resolve) => setTimeout(resolve, 5));
      for (const suffix of ['', '-wal']) rmSync(join(dir, `j.db${suffix}`), { force: true });
      const first = await running;
      expect(first.code).toBe(4);
      expect(first.stderr).toMatch(/^link +100 /m); // the summary: the first batch, linked
      expect(first.stderr).toContain(
        `sparctl: error [disk.write_failed]: ${join(dir, 'j.db')}: the journal was removed or replaced while the run used it; what this run sent is not recorded at that path, so the next run cannot resume this one (`,
      );
      expect(first.stderr).toContain('the next run is a new job and meets the rows this run applied again');
      expect(spar.rows().size).toBe(100);
      const again = await runMain(args, { env, cwd: dir });
      expect(again.code).toBe(5);
      expect(again.stderr).toContain('rejected by reason: rjct.reference_id.duplicate 100');
      expect(spar.rows().size).toBe(1_000);
    } finally {
      await spar.close();
    }
  });
});
