/**
 * import-odk's window journal, which it cannot start over (no --restart): what it is told about a
 * journal it cannot use, and a finished window's journal a kill left behind. A kill between the
 * spool's removal and the journal's (the end of a window) left the journal at `--journal FILE`,
 * and every later window was refused as another job's, advised to pass a --restart import-odk
 * does not have; a damaged journal was advised the same.
 */
import { copyFileSync, existsSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { SqliteJournal } from '../../src/adapters/journal/sqlite-journal.js';
import { bankSubmission, fakeCentrals, importOdk, odkEnv } from '../helpers/odk-fixture.js';
import { serveBehindProxy } from '../helpers/proxied-serve.js';
import { cliEnv, ROOT } from '../helpers/run-cli.js';
import { runMain } from '../helpers/run-main.js';

const PASSWORD = 'odk-journal-advice-test';
const { central, cleanups } = fakeCentrals(PASSWORD);

/** A fake Central and a mapper behind a fault proxy, and import-odk's environment for both. */
async function setUp() {
  const fake = await central();
  const { backing, proxy } = await serveBehindProxy(cleanups);
  const env = odkEnv(fake, PASSWORD, { SPARCTL_ODK_PASSWORD: PASSWORD, SPARCTL_BASE_URL: proxy.url });
  const stateDir = () => {
    const odk = join(env.env['XDG_STATE_HOME']!, 'sparctl', 'odk');
    return join(odk, readdirSync(odk)[0]!);
  };
  return { fake, backing, proxy, env, stateDir };
}

const ids = (from: number, count: number) => Array.from({ length: count }, (_, i) => `00810000${String(from + i).padStart(2, '0')}`);

/** The mapper's link requests fail (503) from the `after`-th on: the window stops half applied (exit 4). */
function failLinksAfter(proxy: Awaited<ReturnType<typeof serveBehindProxy>>['proxy'], after: number): void {
  let links = 0;
  proxy.chaos((path) => (path.includes('link') && ++links > after ? { status: 503 } : undefined));
}

describe('import-odk: a finished window’s journal left at --journal FILE', () => {
  it('is taken over by the next window (after a poll with nothing to do too), whose writes are recorded', async () => {
    const { fake, backing, proxy, env, stateDir } = await setUp();
    const journal = join(env.home, 'j.db');
    for (const [i, id] of ids(0, 20).entries()) fake.submit(bankSubmission(id, `6${String(i).padStart(5, '0')}`));
    // The journal as the window's last requests left it, copied while the run used it: put back
    // once the run has removed it, it is what a kill between the spool's removal and the
    // journal's leaves.
    proxy.chaos(() => {
      for (const suffix of ['', '-wal']) if (existsSync(journal + suffix)) copyFileSync(journal + suffix, `${journal}${suffix}.copy`);
      return undefined;
    });
    const first = await importOdk(env, ['--journal', 'j.db', '--batch-size', '5']);
    expect(first.code, first.stderr).toBe(0);
    proxy.chaos(undefined);
    expect(existsSync(journal)).toBe(false);
    for (const suffix of ['', '-wal'])
      if (existsSync(`${journal}${suffix}.copy`)) copyFileSync(`${journal}${suffix}.copy`, journal + suffix);
    expect(existsSync(join(stateDir(), 'spar_enrolment.jsonl'))).toBe(false);

    // A poll with nothing to apply writes the state, and opens no journal.
    const idle = await importOdk(env, ['--journal', 'j.db']);
    expect(idle.code, idle.stderr).toBe(0);
    expect(idle.stderr).toMatch(/0 to apply/);

    const [late] = ids(50, 1);
    const submitted = fake.submit(bankSubmission(late!, '700001'));
    const next = await importOdk(env, ['--journal', 'j.db']);
    expect(next.stderr).not.toContain('journal.other_job');
    expect(next.code, next.stderr).toBe(0);
    expect(next.stderr).toContain(
      'sparctl: the --journal file held the journal of the window settled last (a run was killed as it finished): taken over',
    );
    expect(backing.storedFa(late!)).toContain('account_number:700001');
    expect(existsSync(journal)).toBe(false);
    const state = JSON.parse(readFileSync(join(stateDir(), 'state.json'), 'utf8')) as {
      claims: Record<string, { wrote?: { beneficiary: string } }>;
    };
    expect(state.claims[submitted.__id]?.wrote?.beneficiary).toBe(late);
  });

  it("one of a window the state has not settled (another job's, put there by hand) is refused and kept; its window then finishes", async () => {
    const { fake, backing, proxy, env, stateDir } = await setUp();
    const journal = join(env.home, 'j.db');
    const all = ids(0, 12);
    for (const [i, id] of all.entries()) fake.submit(bankSubmission(id, `6${String(i).padStart(5, '0')}`));
    failLinksAfter(proxy, 1);
    const stopped = await importOdk(env, ['--journal', 'j.db', '--batch-size', '4', '--concurrency', '1', '--retries', '0']);
    expect(stopped.code, stopped.stderr).toBe(4);
    proxy.chaos(undefined);
    expect(existsSync(join(stateDir(), 'spar_enrolment.jsonl'))).toBe(true);
    const written = all.filter((id) => backing.storedFa(id) !== undefined);
    expect(written).toHaveLength(4);
    // That window's journal moved to w.db, and a journal of another window not settled put at j.db.
    for (const suffix of ['', '-wal', '-shm'])
      if (existsSync(journal + suffix)) renameSync(journal + suffix, join(env.home, `w.db${suffix}`));
    const other = SqliteJournal.open(journal, { fingerprint: 'another window', description: 'import-odk spar_enrolment.jsonl' }, false);
    other.markInflight([0], 'link');
    other.close();
    const held = readFileSync(journal);
    const refused = await importOdk(env, ['--journal', 'j.db']);
    expect(refused.code, refused.stderr).toBe(2);
    expect(refused.stderr).toContain(`error [journal.other_job]: ${journal} is the journal of another job`);
    expect(refused.stderr).toContain(`choose another --journal, or remove ${journal}`);
    expect(refused.stderr).not.toContain('--restart');
    expect(readFileSync(journal).equals(held)).toBe(true);

    // With the files it was started with, the window resumes from that journal: its writes are recorded.
    const resumed = await importOdk(env, ['--journal', 'w.db']);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(resumed.stderr).toContain('settled by an earlier run of this job: 4 applied');
    const state = JSON.parse(readFileSync(join(stateDir(), 'state.json'), 'utf8')) as {
      claims: Record<string, { beneficiary?: string; wrote?: { beneficiary: string } }>;
    };
    const recorded = Object.values(state.claims).filter((claim) => claim.wrote !== undefined);
    expect(recorded.map((claim) => claim.wrote!.beneficiary).sort()).toEqual(all);
  });
});

describe('import-odk: a damaged journal', () => {
  it('names the file to remove and what that costs, never --restart; removed as told, the window finishes', async () => {
    const { fake, backing, proxy, env, stateDir } = await setUp();
    const all = ids(0, 8);
    for (const [i, id] of all.entries()) fake.submit(bankSubmission(id, `6${String(i).padStart(5, '0')}`));
    failLinksAfter(proxy, 1);
    expect((await importOdk(env, ['--batch-size', '4', '--concurrency', '1', '--retries', '0'])).code).toBe(4);
    proxy.chaos(undefined);
    const journals = join(env.env['XDG_STATE_HOME']!, 'sparctl', 'journals');
    const [name] = readdirSync(journals).filter((file) => file.endsWith('.db'));
    const journal = join(journals, name!);
    writeFileSync(journal, 'this is not a journal\n'.repeat(300));
    const spool = join(stateDir(), 'spar_enrolment.jsonl');

    const damaged = await importOdk(env);
    expect(damaged.code, damaged.stderr).toBe(2);
    expect(damaged.stderr).toContain(`error [journal.damaged]: ${journal}: the journal is damaged`);
    expect(damaged.stderr).toContain(`remove ${journal} (with its -wal and -shm files, if any) and run the same command again`);
    expect(damaged.stderr).toContain(`the window ${spool} is then applied from its start`);
    expect(damaged.stderr).toContain('found unchanged');
    expect(damaged.stderr).not.toContain('--restart');

    for (const suffix of ['', '-wal', '-shm']) rmSync(journal + suffix, { force: true });
    const finished = await importOdk(env);
    expect(finished.code, finished.stderr).toBe(0);
    expect(finished.stderr).toContain('finishing the window an earlier run left unfinished');
    expect(all.every((id) => backing.storedFa(id) !== undefined)).toBe(true);
    expect(existsSync(spool)).toBe(false);
  });
});

describe('other commands keep their --restart advice', () => {
  it("link --file with another job's --journal: pass --restart, or choose another --journal", async () => {
    const { home, env } = cliEnv();
    copyFileSync(join(ROOT, 'fixtures', 'beneficiaries.csv'), join(home, 'b.csv'));
    SqliteJournal.open(join(home, 'j.db'), { fingerprint: 'another job', description: 'link x.csv → local' }, false).close();
    const link = await runMain(['--db', 'x.db', '--create', 'link', '--file', 'b.csv', '--journal', 'j.db'], { env, cwd: home });
    expect(link.code).toBe(2);
    expect(link.stderr).toContain('(pass --restart to start this job over in it, or choose another --journal)');
  });
});
