/**
 * What must survive a power cut, not only a kill: a batch's in-flight mark in the journal (lost,
 * a resumed run takes a write that landed for one never made), and import-odk's state (lost or
 * empty, it forgets what the importer wrote and so what an undo must put back). A power cut
 * cannot be made here; what makes them survive one can be watched: the system calls, under
 * strace, which the test needs (skipped where it is missing or may not trace).
 */
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { bankSubmission, fakeCentrals, ODK_DFSP, ODK_MAPPING, odkEnv } from '../helpers/odk-fixture.js';
import { BIN, cliEnv, outputOf, SPAWN_LIMIT, type CliResult } from '../helpers/run-cli.js';
import { tempDir } from '../helpers/tmp.js';

const traces = spawnSync('strace', ['-f', '-o', '/dev/null', 'true'], { ...SPAWN_LIMIT, stdio: 'ignore' }).status === 0;

/** sparctl run under strace; the trace's lines (fd paths shown: -y) of syncs and renames. */
async function traced(args: string[], env: Record<string, string>, cwd: string): Promise<{ run: CliResult; calls: string[] }> {
  const trace = join(tempDir(), 'trace');
  const child = spawn(
    'strace',
    ['-f', '-y', '-e', 'trace=fsync,fdatasync,rename,renameat,renameat2', '-o', trace, process.execPath, BIN, ...args],
    { ...SPAWN_LIMIT, env, cwd, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const run = await outputOf(child);
  return { run, calls: readFileSync(trace, 'utf8').split('\n') };
}

const syncsOf = (calls: string[], path: string) => calls.filter((line) => /\bf(data)?sync\(/.test(line) && line.includes(`<${path}>`));

describe.skipIf(!traces)('writes that must outlive a power cut', () => {
  it("each batch's in-flight mark is synced before the batch is sent; settled rows are not synced one by one", async () => {
    const { env, home } = cliEnv();
    const db = join(home, 'mapper.db');
    const input = join(home, 'links.csv');
    const rows = Array.from({ length: 1200 }, (_, i) => `D${i},BANK,Land Bank,LBP,Main,0012,${100000 + i}`);
    writeFileSync(input, `id,fa_type,bank_name,bank_code,branch_name,branch_code,account_number\n${rows.join('\n')}\n`);
    const journal = join(home, 'job.journal');
    const { run, calls } = await traced(
      ['--db', db, '--create', 'link', '--file', input, '--batch-size', '100', '--concurrency', '1', '--journal', journal, '-q'],
      env,
      home,
    );
    expect(run.code, run.stderr).toBe(0);
    // 12 batches: at least one sync of the journal's log each. A journal synced only at its
    // checkpoints (synchronous NORMAL) showed none or one.
    const synced = syncsOf(calls, `${journal}-wal`).length;
    expect(synced).toBeGreaterThanOrEqual(12);
    expect(synced).toBeLessThan(24);
  });

  const PASSWORD = 'durable-writes-test';
  const { central } = fakeCentrals(PASSWORD);

  it("import-odk's state reaches the disk before its name does, and its name before the run ends", async () => {
    const fake = await central();
    fake.submit(bankSubmission('0090000001', '700001'));
    const env = odkEnv(fake, PASSWORD);
    const db = join(env.home, 'mapper.db');
    const { run, calls } = await traced(
      ['--db', db, '--create', 'import-odk', '--mapping', ODK_MAPPING, '--dfsp', ODK_DFSP, '--overlap', '0', '-q'],
      env.env,
      env.home,
    );
    expect(run.code, run.stderr).toBe(0);
    // The state's rename: a temporary file of the run's, renamed into the odk state folder.
    const at = calls.findIndex((line) => /^\d+ +rename/.test(line) && /\/odk\/[^"]*\.tmp"/.test(line) && / = 0$/.test(line));
    expect(at, calls.join('\n')).toBeGreaterThan(-1);
    const [temporary, path] = [...calls[at]!.matchAll(/"([^"]+)"/g)].map((match) => match[1]!);
    expect(temporary).toMatch(/\.tmp$/);
    const before = calls.slice(0, at);
    const after = calls.slice(at + 1);
    expect(syncsOf(before, temporary!).length, 'the file synced before the rename').toBeGreaterThan(0);
    expect(syncsOf(after, dirname(path!)).length, 'the folder synced after it').toBeGreaterThan(0);
  });
});
