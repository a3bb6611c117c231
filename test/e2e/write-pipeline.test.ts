import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { LocalMapper } from '../../src/adapters/sqlite/local-mapper.js';
import { openDatabase, prepare } from '../../src/adapters/sqlite/retained.js';
import type { FaultProxy } from '../helpers/fault-proxy.js';
import { BIN, ROOT, cliEnv, runCli, type CliResult, SPAWN_LIMIT } from '../helpers/run-cli.js';
import { runMain } from '../helpers/run-main.js';
import { bankFlags } from '../helpers/records.js';
import { tempDir } from '../helpers/tmp.js';
import { serveBehindProxy } from '../helpers/proxied-serve.js';

/**
 * The eight ways the write pipeline broke its promise (issue "Writes you can trust"), each a
 * regression test: kills, signals and two jobs at once through the built binary, the rest in
 * process (runMain). Every one of them fails on the sparctl before the one write pipeline
 * (SPARCTL_TEST_BIN=<old build>/bin/sparctl.js runs them all through that binary and shows it).
 */

const HEADER =
  'operation,id,fa_type,bank_name,bank_code,branch_name,branch_code,account_number,wallet_provider_name,wallet_provider_code,mobile_number,name';
const bankRow = (id: string, account: string, operation = 'upsert', name = '') =>
  `${operation},${id},BANK,Example Bank,EXB,Main,0001,${account},,,,${name}`;
const walletRow = (id: string, mobile: string, operation = 'upsert') => `${operation},${id},MOBILE_WALLET,,,,,,Pink Wallet,PINK,${mobile},`;

const children: ChildProcess[] = [];
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const child of children.splice(0)) if (child.exitCode === null) child.kill('SIGKILL');
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function start(args: string[], env: Record<string, string>, cwd: string): { child: ChildProcess; done: Promise<CliResult> } {
  const child = spawn(process.execPath, [BIN, ...args], { ...SPAWN_LIMIT, env, cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const done = new Promise<CliResult>((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr })));
  return { child, done };
}

/** Polls until `check` holds (or 20 s pass). */
async function until(check: () => boolean): Promise<void> {
  for (let waited = 0; waited < 20_000 && !check(); waited += 5) await new Promise((resolve) => setTimeout(resolve, 5));
  if (!check()) throw new Error('the condition never held');
}

function query<T>(db: string, sql: string, ...params: unknown[]): T[] {
  try {
    const handle = openDatabase(db, { readonly: true, fileMustExist: true });
    try {
      return prepare(handle, sql).all(...params) as T[];
    } finally {
      handle.close();
    }
  } catch {
    return [];
  }
}

const fa = (db: string, id: string) =>
  query<{ fa_value: string }>(db, 'SELECT fa_value FROM id_fa_mappings WHERE id_value = ?', id)[0]?.fa_value;
const audit = (db: string, id?: string) =>
  id === undefined
    ? query<{ operation: string; id_value: string; source: string }>(db, 'SELECT operation, id_value, source FROM audit_log ORDER BY id')
    : query<{ operation: string; id_value: string; source: string }>(
        db,
        'SELECT operation, id_value, source FROM audit_log WHERE id_value = ? ORDER BY id',
        id,
      );
const checksum = (path: string) => createHash('sha256').update(readFileSync(path)).digest('hex');

function fillers(from: number, count: number): string[] {
  return Array.from({ length: count }, (_, i) => bankRow(`F${String(from + i).padStart(6, '0')}`, String(1e6 + from + i)));
}

/** serve's mapper in this process, behind a fault proxy; the env points sparctl at the proxy. */
async function remote(): Promise<{ backing: LocalMapper; proxy: FaultProxy; env: Record<string, string> }> {
  const { backing, proxy } = await serveBehindProxy(cleanups);
  return { backing, proxy, env: { ...cliEnv().env, SPARCTL_BASE_URL: proxy.url, SPARCTL_TIMEOUT_MS: '2000' } };
}

/** A link job of `rows` rows in small batches, started and seen writing. */
async function bigJobWriting(rows: number) {
  const { env } = cliEnv();
  const dir = tempDir();
  const db = join(dir, 'mapper.db');
  writeFileSync(join(dir, 'big.csv'), `${[HEADER, ...fillers(0, rows)].join('\n')}\n`);
  const args = ['--create', '--db', db, 'link', '--file', 'big.csv', '--batch-size', '20'];
  const first = start(args, env, dir);
  await until(() => audit(db).length > 0);
  return { env, dir, db, args, first };
}

describe('writes you can trust: the eight cases', () => {
  it('1. a resumed run never puts an older FA back: killed after the last row of an ID was applied, the rerun leaves it', async () => {
    const { env } = cliEnv();
    const dir = tempDir();
    const db = join(dir, 'mapper.db');
    // X: bank account A at lines 2 and 3, a mobile wallet at line 2004, then many more rows.
    const rows = [
      bankRow('X', '000111'),
      bankRow('X', '000111'),
      ...fillers(0, 2000),
      walletRow('X', '+639170000099'),
      ...fillers(2000, 30_000),
    ];
    writeFileSync(join(dir, 'file.csv'), `${[HEADER, ...rows].join('\n')}\n`);
    const args = ['--create', '--db', db, 'link', '--file', 'file.csv', '--batch-size', '20'];
    const first = start(args, env, dir);
    await until(() => (fa(db, 'X') ?? '').includes('mobile_number'));
    first.child.kill('SIGKILL');
    await first.done;
    expect(query(db, 'SELECT count(*) AS n FROM id_fa_mappings')[0]).not.toEqual({ n: 32_001 }); // killed mid-run
    const again = await runMain(args, { env, cwd: dir });
    expect(again.code).toBe(0);
    expect(fa(db, 'X')).toMatch(/^mobile_number:\+639170000099\./);
    expect(audit(db, 'X').map((row) => [row.operation, row.source.replace(/.* /, '')])).toEqual([['link', '2004']]);
  }, 60_000);

  it('2. --dry-run on a single record writes nothing: link creates no database, unlink leaves the file byte-identical', async () => {
    const { env } = cliEnv();
    const dir = tempDir();
    const db = join(dir, 'mapper.db');
    const flags = bankFlags('000123');
    const dry = await runMain(['--create', '--db', db, 'link', '--id', 'D1', ...flags, '--dry-run'], { env });
    expect(dry.code).toBe(0);
    expect(dry.stderr).toContain('dry run: nothing was written');
    expect(existsSync(db)).toBe(false);
    expect((await runMain(['--create', '--db', db, 'link', '--id', 'D1', ...flags], { env })).code).toBe(0);
    const before = checksum(db);
    const unlink = await runMain(['--create', '--db', db, 'unlink', '--id', 'D1', '--dry-run', '--yes', '-o', 'json'], { env });
    expect(unlink.code).toBe(0);
    expect(JSON.parse(unlink.stdout).results[0]).toMatchObject({ id: 'D1', outcome: 'unlinked', dry_run: true });
    expect(checksum(db)).toBe(before);
    expect(fa(db, 'D1')).toMatch(/^account_number:000123\./);
    const update = await runMain(['--create', '--db', db, 'update', '--id', 'D1', ...flags.slice(0, -1), '999', '--dry-run'], { env });
    expect(update.code).toBe(0);
    expect(checksum(db)).toBe(before);
  });

  it('3. a 503 after the mapper applied the batch is read back before anything is sent again: no "already linked", no update applied twice', async () => {
    const { backing, proxy, env } = await remote();
    const dir = tempDir();
    writeFileSync(
      join(dir, 'links.csv'),
      `${[HEADER, ...Array.from({ length: 200 }, (_, i) => bankRow(`S${i}`, String(5000 + i), 'link'))].join('\n')}\n`,
    );
    proxy.plan({ statusAfter: 503 });
    const linked = await runMain(['link', '--file', 'links.csv', '--batch-size', '100', '--concurrency', '1', '-o', 'json'], {
      env,
      cwd: dir,
    });
    expect(linked.code).toBe(0);
    const summary = JSON.parse(linked.stdout).summary;
    expect(summary).toMatchObject({ total: 200, rejected: 0, notSent: 0 });
    expect(summary.applied + summary.confirmed).toBe(200);
    expect(backing.auditRows().filter((row) => row.operation === 'link')).toHaveLength(200);

    writeFileSync(
      join(dir, 'updates.csv'),
      `${[HEADER, ...Array.from({ length: 200 }, (_, i) => bankRow(`S${i}`, String(7000 + i), 'update', 'Renamed'))].join('\n')}\n`,
    );
    proxy.plan({ statusAfter: 503 });
    const updated = await runMain(['update', '--file', 'updates.csv', '--batch-size', '100', '--concurrency', '1', '-o', 'json'], {
      env,
      cwd: dir,
    });
    expect(updated.code).toBe(0);
    expect(JSON.parse(updated.stdout).summary).toMatchObject({ total: 200, applied: 200, rejected: 0 });
    expect(backing.auditRows().filter((row) => row.operation === 'update')).toHaveLength(200);
    expect(proxy.log.filter((entry) => entry.fault !== 'none')).toHaveLength(2);
  });

  it("4. after a lost answer, a state that already held is reported confirmed, not as this run's change", async () => {
    const { backing, proxy, env } = await remote();
    const dir = tempDir();
    const rows = Array.from({ length: 50 }, (_, i) => bankRow(`C${i}`, String(9000 + i), 'link'));
    writeFileSync(join(dir, 'file.csv'), `${[HEADER, ...rows].join('\n')}\n`);
    // Linked before the run, with the same FA.
    expect((await runMain(['link', '--file', 'file.csv'], { env, cwd: dir })).code).toBe(0);
    proxy.plan('reset-after');
    const again = await runMain(['link', '--file', 'file.csv', '-o', 'json'], { env, cwd: dir });
    const summary = JSON.parse(again.stdout).summary;
    expect(summary).toMatchObject({ total: 50, applied: 0, confirmed: 50 });
    expect(again.stderr).toMatch(/confirmed: 50/);
    // IDs never linked, unlinked with a lost answer: confirmed too.
    writeFileSync(join(dir, 'gone.csv'), `id\n${Array.from({ length: 20 }, (_, i) => `NEVER${i}`).join('\n')}\n`);
    proxy.plan('reset-after');
    const unlinked = await runMain(['unlink', '--file', 'gone.csv', '--yes', '-o', 'json'], { env, cwd: dir });
    expect(JSON.parse(unlinked.stdout).summary).toMatchObject({ total: 20, applied: 0, confirmed: 20 });
    expect(backing.auditRows().filter((row) => row.operation === 'unlink')).toHaveLength(0);
  });

  it('4b. a request held up on its way, landing after the read-back: the copy sent again is refused as its effect, and the rows are confirmed, not rejected', async () => {
    const { backing, proxy, env } = await remote();
    const dir = tempDir();
    writeFileSync(
      join(dir, 'file.csv'),
      `${[HEADER, ...Array.from({ length: 30 }, (_, i) => bankRow(`H${i}`, String(8000 + i), 'link'))].join('\n')}\n`,
    );
    // The link times out on its way; the read-back shows nothing; the link reaches the mapper
    // just before the copy sent again, which the mapper then refuses as duplicates.
    proxy.plan('late');
    const fast = { ...env, SPARCTL_TIMEOUT_MS: '400' };
    const linked = await runMain(['link', '--file', 'file.csv', '--concurrency', '1', '-o', 'json'], { env: fast, cwd: dir });
    expect(linked.code).toBe(0);
    expect(JSON.parse(linked.stdout).summary).toMatchObject({ total: 30, applied: 0, confirmed: 30, rejected: 0 });
    expect(backing.auditRows().filter((row) => row.operation === 'link')).toHaveLength(30);
    expect(proxy.log.map((entry) => `${entry.path.replace(/.*\//, '')} ${entry.fault}`)).toEqual([
      'link "late"',
      'resolve none',
      'link none',
      'resolve none',
    ]);
    // The same with unlinks: the copy sent again finds the IDs gone.
    writeFileSync(join(dir, 'gone.csv'), `id\n${Array.from({ length: 30 }, (_, i) => `H${i}`).join('\n')}\n`);
    proxy.plan('late');
    const unlinked = await runMain(['unlink', '--file', 'gone.csv', '--yes', '--concurrency', '1', '-o', 'json'], { env: fast, cwd: dir });
    expect(unlinked.code).toBe(0);
    expect(JSON.parse(unlinked.stdout).summary).toMatchObject({ total: 30, confirmed: 30, rejected: 0 });
    expect(backing.auditRows().filter((row) => row.operation === 'unlink')).toHaveLength(30);
  });

  it('5. running a file whose IDs have several rows again writes nothing', async () => {
    const { env } = cliEnv();
    const dir = tempDir();
    const db = join(dir, 'mapper.db');
    const rows = Array.from({ length: 300 }, (_, i) => bankRow(`R${i % 60}`, String(100 + i)));
    writeFileSync(join(dir, 'file.csv'), `${[HEADER, ...rows].join('\n')}\n`);
    const first = await runMain(['--create', '--db', db, 'link', '--file', 'file.csv', '-o', 'json'], { env, cwd: dir });
    expect(first.code).toBe(0);
    const written = audit(db).length;
    const again = await runMain(['--create', '--db', db, 'link', '--file', 'file.csv', '-o', 'json'], { env, cwd: dir });
    expect(again.code).toBe(0);
    expect(audit(db)).toHaveLength(written);
    expect(written).toBe(60);
    expect(JSON.parse(first.stdout).summary).toMatchObject({ applied: 60, superseded: 240 });
    expect(JSON.parse(again.stdout).summary).toMatchObject({ applied: 0, unchanged: 60, superseded: 240 });
    expect(fa(db, 'R0')).toMatch(/^account_number:340\./); // row 241, the last of R0
  });

  it('6. the same job started twice at once: the second refuses at once, naming the first; other jobs into the same mapper both finish', async () => {
    const { env, dir, db, args, first } = await bigJobWriting(5_000);
    // The first paused where it is (SIGSTOP) while the second starts: a live run of the job, however
    // fast it would have finished; then it goes on to the end.
    first.child.kill('SIGSTOP');
    let second: CliResult;
    try {
      second = await runCli(args, { env, cwd: dir });
    } finally {
      first.child.kill('SIGCONT');
    }
    expect(second.code).toBe(4);
    expect(second.stderr).toMatch(/this job is already running \(sparctl, pid \d+, started 20\d\d-/);
    expect((await first.done).code).toBe(0);
    expect(audit(db)).toHaveLength(5_000);

    // Two different jobs into one local mapper at once: both finish, every row once.
    writeFileSync(join(dir, 'a.csv'), `${[HEADER, ...fillers(100_000, 3000)].join('\n')}\n`);
    writeFileSync(join(dir, 'b.csv'), `${[HEADER, ...fillers(200_000, 3000)].join('\n')}\n`);
    const [a, b] = await Promise.all([
      runCli(['--create', '--db', db, 'link', '--file', 'a.csv', '--batch-size', '20'], { env, cwd: dir }),
      runCli(['--create', '--db', db, 'link', '--file', 'b.csv', '--batch-size', '20'], { env, cwd: dir }),
    ]);
    expect([a.code, b.code]).toEqual([0, 0]);
    expect(audit(db)).toHaveLength(11_000);
  }, 60_000);

  it('7. SIGTERM is handled as Ctrl-C: the requests in flight finish, the summary is printed, exit 143, and the same command resumes', async () => {
    const { env, dir, db, args, first } = await bigJobWriting(20_000);
    // Twice at once, as GNU timeout sends it (to the process, then to its group): one request to stop, not a second.
    first.child.kill('SIGTERM');
    first.child.kill('SIGTERM');
    const ended = await first.done;
    expect(ended.code).toBe(143);
    expect(ended.stderr).toContain('terminated (SIGTERM); finishing the requests in flight');
    expect(ended.stderr).toMatch(/^total +\d/m);
    expect(ended.stderr).toMatch(/stopped early: terminated \(SIGTERM\)/);
    expect(readdirSync(join(env['XDG_STATE_HOME']!, 'sparctl', 'journals')).filter((f) => f.endsWith('.db'))).toHaveLength(1);
    const done = audit(db).length;
    expect(done).toBeLessThan(20_000);
    const again = await runCli(args, { env, cwd: dir });
    expect(again.code).toBe(0);
    expect(again.stderr).toMatch(new RegExp(`settled by an earlier run of this job: ${done} applied`));
    expect(audit(db)).toHaveLength(20_000);
  }, 60_000);

  it('7b. SIGHUP (the SSH session gone) stops as SIGTERM does: the summary, exit 129, no lock left, and the same command resumes', async () => {
    const { env, dir, db, args, first } = await bigJobWriting(20_000);
    first.child.kill('SIGHUP');
    const ended = await first.done;
    expect(ended.code).toBe(129);
    expect(ended.stderr).toContain('the terminal hung up (SIGHUP); finishing the requests in flight');
    expect(ended.stderr).toMatch(/^total +\d/m);
    expect(readdirSync(dir).filter((name) => name.endsWith('.lock'))).toEqual([]);
    const again = await runCli(args, { env, cwd: dir });
    expect(again.code).toBe(0);
    expect(audit(db)).toHaveLength(20_000);
  }, 60_000);

  it('8. a run that stops early reports counts that add up, and the reject count is what the reject file holds', async () => {
    const { env } = cliEnv({ SPARCTL_BASE_URL: 'http://127.0.0.1:9', SPARCTL_TIMEOUT_MS: '500' });
    const dir = tempDir();
    const rows = [...Array.from({ length: 10 }, (_, i) => `upsert,BAD${i},BANK,Example Bank,EXB,Main,0001,,,,,`), ...fillers(0, 90)];
    writeFileSync(join(dir, 'file.csv'), `${[HEADER, ...rows].join('\n')}\n`);
    const run = await runMain(['link', '--file', 'file.csv', '--retries', '0', '-o', 'json'], { env, cwd: dir });
    expect(run.code).toBe(4);
    expect(run.stderr).toContain('file.rejects.csv (10 rows)');
    const summary = JSON.parse(run.stdout).summary;
    expect(summary.applied + summary.confirmed + summary.unchanged + summary.superseded + summary.rejected + summary.notSent).toBe(
      summary.total,
    );
    expect(summary).toMatchObject({ total: 100, rejected: 10, notSent: 90 });
    const rejects = readFileSync(join(dir, 'file.rejects.csv'), 'utf8').trim().split('\n').slice(1);
    expect(rejects).toHaveLength(10);
    expect(run.stderr).toMatch(/not done: 90 records/);
  });
});

export { ROOT };
