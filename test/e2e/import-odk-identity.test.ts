/**
 * One local mapper is one import-odk state and one lock, and one bulk job, whatever path names
 * it (hostile test: two runs through a symbolic link ran at once, each with half the ownership
 * records); a state an earlier sparctl kept under the path as given is taken over. The password
 * file flag wins over SPARCTL_ODK_PASSWORD, and is warned about when others can read it. Each
 * case failed before.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, existsSync, readdirSync, readFileSync, renameSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { JobLock } from '../../src/adapters/journal/job-lock.js';
import { LocalMapper } from '../../src/adapters/sqlite/local-mapper.js';
import { openDatabase, prepare } from '../../src/adapters/sqlite/retained.js';
import { stateKey } from '../../src/app/import-odk.js';
import type { FakeCentral } from '../helpers/fake-central.js';
import { BIN, cliEnv, type CliEnv, SPAWN_LIMIT } from '../helpers/run-cli.js';
import { runMain } from '../helpers/run-main.js';
import { bankSubmission, fakeCentrals, importOdk, odkEnv } from '../helpers/odk-fixture.js';
import { serveWith } from '../helpers/serve.js';

const PASSWORD = 'odk-identity-test';
const { central, cleanups } = fakeCentrals(PASSWORD);
const bank = bankSubmission;

const setup = (fake: FakeCentral, extra?: Record<string, string>): CliEnv => odkEnv(fake, PASSWORD, extra);

/** cc.db made, and cclink.db a symbolic link to it. */
async function linkedDb(env: CliEnv): Promise<{ db: string; link: string }> {
  const db = join(env.home, 'cc.db');
  const init = await runMain(['init', '--db', db], { env: env.env, cwd: env.home });
  expect(init.code, init.stderr).toBe(0);
  const link = join(env.home, 'cclink.db');
  symlinkSync(db, link);
  return { db, link };
}

const stateDirs = (env: CliEnv) => readdirSync(join(env.env['XDG_STATE_HOME']!, 'sparctl', 'odk'));

describe('one local mapper, whatever path names it', () => {
  it('import-odk through a symbolic link shares the state and the lock of the file it names', async () => {
    const fake = await central();
    const env = setup(fake);
    const { db, link } = await linkedDb(env);
    fake.submit(bank('0080000001', '000111'));
    expect((await importOdk(env, ['--db', db])).code).toBe(0);
    expect(stateDirs(env)).toHaveLength(1);
    const dir = join(env.env['XDG_STATE_HOME']!, 'sparctl', 'odk', stateDirs(env)[0]!);
    // A run in progress through the file's own name holds the lock: one through the link is refused.
    const held = JobLock.acquire(join(dir, 'lock'), 'import-odk of form "spar_enrolment" into this mapper');
    cleanups.push(() => held.release());
    const second = await importOdk(env, ['--db', link]);
    expect(second.code, second.stderr).toBe(4);
    expect(second.stderr).toMatch(/already running/);
    held.release();
    const third = await importOdk(env, ['--db', link]);
    expect(third.code, third.stderr).toBe(0);
    expect(third.stderr).toMatch(/0 to apply \(1 already applied\)/);
    expect(stateDirs(env)).toHaveLength(1);
  });

  it('takes over the state an earlier sparctl kept under the path as given (the link)', async () => {
    const fake = await central();
    const env = setup(fake);
    const { db, link } = await linkedDb(env);
    fake.submit(bank('0081000001', '000111'));
    expect((await importOdk(env, ['--db', db])).code).toBe(0);
    // Where an earlier sparctl, run with --db cclink.db, kept it.
    const root = join(env.env['XDG_STATE_HOME']!, 'sparctl', 'odk');
    const instance = (() => {
      const opened = LocalMapper.open(db);
      try {
        return opened.instanceId;
      } finally {
        void opened.close();
      }
    })();
    const sha256 = (text: string, encoding: 'hex' | 'base64url') => createHash('sha256').update(text).digest(encoding);
    const earlierKey = stateKey(sha256, { url: fake.url, project: 3, form: 'spar_enrolment' }, `local ${link} ${instance}`);
    renameSync(join(root, stateDirs(env)[0]!), join(root, earlierKey));
    const again = await importOdk(env, ['--db', link]);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stderr).toMatch(/0 to apply \(1 already applied\)/);
    expect(stateDirs(env)).toHaveLength(1);
    expect(stateDirs(env)[0]).not.toBe(earlierKey);
  });

  it('keeps one state per server whatever user, password or query its URL carries, and takes over one an earlier sparctl keyed by them', async () => {
    const fake = await central();
    const withCredentials = (password: string) => `${fake.url.replace('://', `://odkuser:${password}@`)}?apikey=QUERYSECRET`;
    const env = setup(fake, { SPARCTL_ODK_PASSWORD: PASSWORD, SPARCTL_ODK_URL: withCredentials('first-pw') });
    fake.submit(bank('0082000001', '000111'));
    expect((await importOdk(env)).code).toBe(0);
    const root = join(env.env['XDG_STATE_HOME']!, 'sparctl', 'odk');
    const origin = readFileSync(join(root, stateDirs(env)[0]!, 'origin.json'), 'utf8');
    expect(origin).not.toMatch(/first-pw|QUERYSECRET|odkuser/);
    // The password changed: the same state (it was another, and odk.state_elsewhere refused the run).
    env.env['SPARCTL_ODK_URL'] = withCredentials('second-pw');
    const rotated = await importOdk(env);
    expect(rotated.code, rotated.stderr).toBe(0);
    expect(rotated.stderr).toMatch(/0 to apply \(1 already applied\)/);
    expect(stateDirs(env)).toHaveLength(1);
    // Where an earlier sparctl kept it: under a hash of the URL as given. Taken over, not asked about.
    renameSync(join(root, stateDirs(env)[0]!), join(root, 'a1b2c3d4e5f6a1b2c3d4e5f6'));
    const upgraded = await importOdk(env);
    expect(upgraded.code, upgraded.stderr).toBe(0);
    expect(upgraded.stderr).toMatch(/0 to apply \(1 already applied\)/);
    expect(stateDirs(env)).toHaveLength(1);
    expect(stateDirs(env)[0]).not.toBe('a1b2c3d4e5f6a1b2c3d4e5f6');
  });

  it("one remote mapper whatever its URL looks like: a trailing slash or an upper-case host is the same state (it read every submission again over an admin's fix)", async () => {
    const fake = await central();
    const env = setup(fake);
    const served = await serveWith(env.env, join(env.home, 'remote.db'), []);
    fake.submit(bank('0084000001', '000111'));
    expect((await importOdk(env, ['--url', served.url])).code).toBe(0);
    for (const spelled of [`${served.url}/`, served.url.replace('http://', 'HTTP://'), `${served.url}//`]) {
      const again = await importOdk(env, ['--url', spelled]);
      expect(again.code, again.stderr).toBe(0);
      expect(again.stderr, spelled).toMatch(/0 to apply \(1 already applied\)/);
    }
    expect(stateDirs(env)).toHaveLength(1);
    // Where an earlier sparctl, run with the trailing slash, kept it: taken over.
    const root = join(env.env['XDG_STATE_HOME']!, 'sparctl', 'odk');
    const sha256 = (text: string, encoding: 'hex' | 'base64url') => createHash('sha256').update(text).digest(encoding);
    const earlierKey = stateKey(sha256, { url: fake.url, project: 3, form: 'spar_enrolment' }, `spar-v2 ${served.url}/`);
    renameSync(join(root, stateDirs(env)[0]!), join(root, earlierKey));
    const upgraded = await importOdk(env, ['--url', `${served.url}/`]);
    expect(upgraded.code, upgraded.stderr).toBe(0);
    expect(upgraded.stderr).toMatch(/0 to apply \(1 already applied\)/);
    expect(stateDirs(env)).toHaveLength(1);
  });

  it('link --file through a symbolic link while the same job runs through the file is job.running, and then resumes that job', async () => {
    const env = cliEnv({});
    const { db, link } = await linkedDb(env);
    const file = join(env.home, 'many.csv');
    const rows = Array.from(
      { length: 3000 },
      (_, i) => `09${String(i).padStart(8, '0')},BANK,First Community Bank,BNK001,Main,0001,${String(i).padStart(8, '0')}`,
    );
    writeFileSync(file, `id,fa_type,bank_name,bank_code,branch_name,branch_code,account_number\n${rows.join('\n')}\n`);
    const args = ['link', '--file', file, '--batch-size', '5', '--concurrency', '1'];
    const child = spawn(process.execPath, [BIN, ...args, '--db', db, '-q'], {
      ...SPAWN_LIMIT,
      env: env.env,
      cwd: env.home,
      stdio: 'ignore',
    });
    const exited = new Promise((resolve) => child.once('exit', resolve));
    const count = () => {
      const probe = openDatabase(db, { readonly: true, fileMustExist: true });
      try {
        return prepare(probe, 'SELECT count(*) FROM id_fa_mappings').pluck().get() as number;
      } finally {
        probe.close();
      }
    };
    // Some batches in, so that the journal holds settled ones (the last one linked may not be
    // settled yet when the first run is paused).
    for (let waited = 0; waited < 30_000 && count() < 100; waited += 20) await new Promise((resolve) => setTimeout(resolve, 20));
    // Paused, it holds the job's lock for as long as the second run looks (a start that finds the
    // lock taken tries again for a moment: the first must not end meanwhile).
    child.kill('SIGSTOP');
    const second = await runMain([...args, '--db', link], { env: env.env, cwd: env.home });
    child.kill('SIGKILL');
    await exited;
    expect(second.code, second.stderr).toBe(4);
    expect(second.stderr).toMatch(/job\.running|already running/);
    expect(count()).toBeLessThan(3000);
    const resumed = await runMain([...args, '--db', link], { env: env.env, cwd: env.home });
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(resumed.stderr).toMatch(/settled by an earlier run of this job/);
    expect(count()).toBe(3000);
  }, 60_000);
});

describe('import-odk: the password file flag', () => {
  it('--odk-password-file wins over SPARCTL_ODK_PASSWORD (flags over the environment)', async () => {
    const fake = await central();
    const env = setup(fake, { SPARCTL_ODK_PASSWORD: 'not-the-password' });
    const file = join(env.home, 'odk-password');
    writeFileSync(file, `${PASSWORD}\n`, { mode: 0o600 });
    fake.submit(bank('0082000001', '000111'));
    const run = await importOdk(env, ['--odk-password-file', file]);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stderr).not.toMatch(/warning: .*odk/i);
  });

  it('a --odk-password-file others can read is warned about, as SPARCTL_ODK_PASSWORD_FILE is', async () => {
    const fake = await central();
    const env = setup(fake, {});
    const file = join(env.home, 'odk-password');
    writeFileSync(file, `${PASSWORD}\n`);
    chmodSync(file, 0o644);
    fake.submit(bank('0083000001', '000111'));
    const run = await importOdk(env, ['--odk-password-file', file]);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stderr).toContain(`warning: --odk-password-file ${file} can be read by other users (mode 0644); run: chmod 600 ${file}`);
    expect(existsSync(file)).toBe(true);
  });
});
