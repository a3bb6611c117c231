/**
 * import-odk undoes only what it did (hostile test: an admin's own link was unlinked). A write
 * that updated someone else's link is undone by putting that link's FA back, never by unlinking;
 * one that created the link is unlinked; one recorded by an earlier sparctl (which did not say
 * what it replaced) is kept and said. Each case failed before the importer recorded what a write
 * replaced.
 */
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { LocalMapper } from '../../src/adapters/sqlite/local-mapper.js';
import { openDatabase, prepare } from '../../src/adapters/sqlite/retained.js';
import type { FakeCentral } from '../helpers/fake-central.js';
import type { ProxyFault } from '../helpers/fault-proxy.js';
import { BIN, type CliEnv, SPAWN_LIMIT } from '../helpers/run-cli.js';
import { runMain } from '../helpers/run-main.js';
import { bankSubmission, fakeCentrals, importOdk, ODK_DFSP, ODK_MAPPING, odkEnv } from '../helpers/odk-fixture.js';
import { serveBehindProxy } from '../helpers/proxied-serve.js';

const PASSWORD = 'odk-undo-test';
const MAPPING = ODK_MAPPING;
const DFSP = ODK_DFSP;
const { central, cleanups } = fakeCentrals(PASSWORD);
const bank = bankSubmission;

const setup = (fake: FakeCentral): CliEnv => odkEnv(fake, PASSWORD);

function mapper(env: CliEnv): LocalMapper {
  const opened = LocalMapper.open(env.dataDb);
  cleanups.push(() => opened.close());
  return opened;
}

const account = (env: CliEnv, id: string) => /^account_number:([^.]*)\./.exec(mapper(env).storedFa(id) ?? '')?.[1];
const operations = (env: CliEnv, id: string) =>
  mapper(env)
    .auditRows(id)
    .map((row) => `${row.operation} ${row.source.startsWith('sparctl import-odk') ? 'import-odk' : 'admin'}`);

/** serve's mapper in this process behind a fault proxy, as import-odk's (remote) mapper; `updates` picks a fault for each update sent. */
async function remoteMapper(
  fake: FakeCentral,
): Promise<{ backing: LocalMapper; env: CliEnv; updates: (fault: ProxyFault | undefined) => void }> {
  const { backing, proxy } = await serveBehindProxy(cleanups);
  const env = odkEnv(fake, PASSWORD, { SPARCTL_ODK_PASSWORD: PASSWORD, SPARCTL_BASE_URL: proxy.url, SPARCTL_TIMEOUT_MS: '2000' });
  let fault: ProxyFault | undefined;
  proxy.chaos((path) => (path.endsWith('/update') ? fault : undefined));
  return { backing, env, updates: (next) => (fault = next) };
}

/** An admin changes an ID's FA by hand (sparctl update), to account `account`. */
async function updateByHand(env: CliEnv, id: string, account: string): Promise<void> {
  const flags = ['--fa-type', 'BANK', '--bank-name', 'First Community Bank', '--bank-code', 'BNK001', '--branch-name', 'Main'];
  const run = await runMain(['update', '--id', id, ...flags, '--branch-code', '0001', '--account-number', account, '-q'], { env: env.env });
  expect(run.code, run.stderr).toBe(0);
}

const accountIn = (held: LocalMapper, id: string) => /^account_number:([^.]*)\./.exec(held.storedFa(id) ?? '')?.[1];

/** An admin links these IDs by hand (link --file), each to account 9 + its last digits. */
async function linkByHand(env: CliEnv, ids: readonly string[]): Promise<void> {
  const file = join(env.home, 'by-hand.csv');
  writeFileSync(
    file,
    `id,fa_type,bank_name,bank_code,branch_name,branch_code,account_number\n${ids
      .map((id) => `${id},BANK,First Community Bank,BNK001,Main,0001,9${id.slice(-5)}`)
      .join('\n')}\n`,
  );
  const run = await runMain(['link', '--file', file, '-q'], { env: env.env, cwd: env.home });
  expect(run.code, run.stderr).toBe(0);
}

describe('import-odk: an undo undoes only what the importer did', () => {
  it("a deletion puts back the name and phone of an admin's link with its FA; a name or phone it lacked cannot be cleared, and the run says so", async () => {
    const fake = await central();
    const env = setup(fake);
    const file = join(env.home, 'by-hand.csv');
    writeFileSync(
      file,
      'id,fa_type,bank_name,bank_code,branch_name,branch_code,account_number,name,phone_number\n' +
        '0073000001,BANK,First Community Bank,BNK001,Main,0001,900001,Admin Name,+254700000001\n' +
        '0073000002,BANK,First Community Bank,BNK001,Main,0001,900002,,\n',
    );
    const byHand = await runMain(['link', '--file', file, '-q'], { env: env.env, cwd: env.home });
    expect(byHand.code, byHand.stderr).toBe(0);
    const one = fake.submit(bank('0073000001', '000111'));
    const two = fake.submit(bank('0073000002', '000222'));
    expect((await importOdk(env)).code).toBe(0);
    const held = async (id: string) => {
      const found = (await mapper(env).storedFas([id])).get(id);
      return found !== undefined && typeof found === 'object' ? [found.name, found.phone] : undefined;
    };
    expect(await held('0073000001')).toEqual(['Person 0073000001', '+254711000111']);
    fake.remove(one.__id);
    fake.remove(two.__id);
    const undo = await importOdk(env, ['--on-delete', 'unlink', '--yes']);
    expect(undo.code, undo.stderr).toBe(0);
    expect(account(env, '0073000001')).toBe('900001');
    expect(await held('0073000001')).toEqual(['Admin Name', '+254700000001']);
    // The admin's link had neither: its FA goes back, the submission's name and phone stay (said).
    expect(account(env, '0073000002')).toBe('900002');
    expect(undo.stderr).toContain(
      "0073000002: its FA is put back, but it held no name or phone before this importer's write, and an update cannot clear one",
    );
  });

  it('a rejection or a deletion puts back the FA of a link an admin made (never unlinks it); a link the importer created is unlinked', async () => {
    const fake = await central();
    const env = setup(fake);
    await linkByHand(env, ['0070000008', '0070000009']);
    const rejectedLater = fake.submit(bank('0070000008', '000111'));
    const deletedLater = fake.submit(bank('0070000009', '000222'));
    const created = fake.submit(bank('0070000010', '000333'));
    const first = await importOdk(env);
    expect(first.code, first.stderr).toBe(0);
    expect([account(env, '0070000008'), account(env, '0070000009'), account(env, '0070000010')]).toEqual(['000111', '000222', '000333']);

    fake.review(rejectedLater.__id, 'rejected');
    fake.remove(deletedLater.__id);
    fake.remove(created.__id);
    const undo = await importOdk(env, ['--on-reject', 'unlink', '--on-delete', 'unlink', '--yes']);
    expect(undo.code, undo.stderr).toBe(0);
    expect(account(env, '0070000008')).toBe('900008');
    expect(account(env, '0070000009')).toBe('900009');
    expect(mapper(env).storedFa('0070000010')).toBeUndefined();
    expect(operations(env, '0070000008')).toEqual(['link admin', 'update import-odk', 'update import-odk']);
    expect(operations(env, '0070000010')).toEqual(['link import-odk', 'unlink import-odk']);
  });

  it('an FA changed in the mapper since the import is kept, not put back', async () => {
    const fake = await central();
    const env = setup(fake);
    await linkByHand(env, ['0071000001']);
    const s = fake.submit(bank('0071000001', '000111'));
    expect((await importOdk(env)).code).toBe(0);
    await linkByHand(env, []); // nothing: the mapper as it is
    const fix = await runMain(
      ['update', '--id', '0071000001', '--fa-type', 'BANK', '--bank-name', 'First Community Bank', '--bank-code', 'BNK001'].concat([
        '--branch-name',
        'Main',
        '--branch-code',
        '0001',
        '--account-number',
        '000777',
      ]),
      { env: env.env },
    );
    expect(fix.code, fix.stderr).toBe(0);
    fake.remove(s.__id);
    const undo = await importOdk(env, ['--on-delete', 'unlink', '--yes']);
    expect(undo.code, undo.stderr).toBe(0);
    expect(account(env, '0071000001')).toBe('000777');
  });

  it('a write recorded by an earlier sparctl (what it replaced not recorded) is kept and said, never unlinked', async () => {
    const fake = await central();
    const env = setup(fake);
    await linkByHand(env, ['0072000001']);
    const s = fake.submit(bank('0072000001', '000111'));
    expect((await importOdk(env)).code).toBe(0);
    // The state as an earlier sparctl wrote it: the write without what it replaced.
    const stateDir = join(env.env['XDG_STATE_HOME']!, 'sparctl', 'odk');
    const [dir] = readdirSync(stateDir);
    const statePath = join(stateDir, dir!, 'state.json');
    const state = JSON.parse(readFileSync(statePath, 'utf8')) as { claims: Record<string, { wrote?: Record<string, unknown> }> };
    expect(state.claims[s.__id]!.wrote!['replaced']).toEqual({
      fa: expect.objectContaining({ account_number: '900001' }),
      name: null,
      phone: null,
    });
    delete state.claims[s.__id]!.wrote!['replaced'];
    writeFileSync(statePath, JSON.stringify(state));
    fake.remove(s.__id);
    const undo = await importOdk(env, ['--on-delete', 'unlink', '--yes']);
    expect(undo.code, undo.stderr).toBe(0);
    expect(undo.stderr).toContain('0072000001 stays linked');
    expect(account(env, '0072000001')).toBe('000111');
  });

  it('killed while applying a window over admin links, resumed, then rejected: every admin FA is put back, none unlinked', async () => {
    const fake = await central();
    const env = setup(fake);
    const total = 600;
    const ids = Array.from({ length: total }, (_, i) => `073${String(i).padStart(7, '0')}`);
    await linkByHand(env, ids);
    const submitted = ids.map((id, i) => fake.submit(bank(id, `0008${String(i).padStart(8, '0')}`)));
    const args = ['import-odk', '--mapping', MAPPING, '--dfsp', DFSP, '--overlap', '0', '--batch-size', '10', '--concurrency', '1', '-q'];
    const child = spawn(process.execPath, [BIN, ...args], { ...SPAWN_LIMIT, env: env.env, cwd: env.home, stdio: 'ignore' });
    const exited = new Promise((resolve) => child.once('exit', resolve));
    // A plain read-only connection: it never waits for the importer's write lock.
    const updated = () => {
      const probe = openDatabase(env.dataDb, { readonly: true, fileMustExist: true });
      try {
        return prepare(probe, "SELECT count(*) FROM id_fa_mappings WHERE fa_value LIKE 'account_number:0008%'").pluck().get() as number;
      } finally {
        probe.close();
      }
    };
    for (let waited = 0; waited < 30_000 && updated() === 0; waited += 20) await new Promise((resolve) => setTimeout(resolve, 20));
    child.kill('SIGKILL');
    await exited;
    expect(updated()).toBeGreaterThan(0);
    expect(updated()).toBeLessThan(total);
    const stateDir = join(env.env['XDG_STATE_HOME']!, 'sparctl', 'odk');
    expect(readdirSync(stateDir, { recursive: true }).some((name) => String(name).endsWith('spar_enrolment.jsonl'))).toBe(true);
    const resumed = await importOdk(env);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(resumed.stderr).toMatch(/finishing the window an earlier run left unfinished/);
    expect(updated()).toBe(total);

    for (const s of submitted) fake.review(s.__id, 'rejected');
    const undo = await importOdk(env, ['--on-reject', 'unlink', '--yes']);
    expect(undo.code, undo.stderr).toBe(0);
    expect(mapper(env).countMappings()).toBe(total);
    const held = mapper(env);
    expect(ids.filter((id) => /^account_number:([^.]*)\./.exec(held.storedFa(id) ?? '')?.[1] !== `9${id.slice(-5)}`)).toEqual([]);
    expect(existsSync(env.dataDb)).toBe(true);
  }, 90_000);
});

/**
 * What a write replaced is what the importer read right before that write, not when it spooled
 * the window (hostile review: a window spooled over an admin's FA X, stopped before its write;
 * the admin changed X to Y by hand; the resumed run wrote over Y; a rejection put X back).
 */
describe('import-odk: an FA changed by hand while a window waited', () => {
  it('a window stopped by a mapper outage before its write, the FA changed by hand, then resumed: a rejection puts back the FA changed by hand', async () => {
    const fake = await central();
    const { backing, env, updates } = await remoteMapper(fake);
    await linkByHand(env, ['0074000001']);
    const s = fake.submit(bank('0074000001', '000111'));
    // The window is spooled over X (900001); the mapper goes away before the update reaches it.
    updates('reset-before');
    const stopped = await importOdk(env, ['--retries', '0']);
    expect(stopped.code, stopped.stderr).toBe(4);
    expect(accountIn(backing, '0074000001')).toBe('900001');
    updates(undefined);
    await updateByHand(env, '0074000001', '000777');
    const resumed = await importOdk(env);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(resumed.stderr).toMatch(/finishing the window an earlier run left unfinished/);
    expect(accountIn(backing, '0074000001')).toBe('000111');

    fake.review(s.__id, 'rejected');
    const undo = await importOdk(env, ['--on-reject', 'unlink', '--yes']);
    expect(undo.code, undo.stderr).toBe(0);
    expect(accountIn(backing, '0074000001')).toBe('000777');
  });

  /**
   * A window spooled over X (900001) and stopped by an outage; Y (000777) put by hand; the
   * resumed run's update reaches the mapper, its answer does not: it stops with the write in
   * flight. The next run only reads it back.
   */
  async function writtenUnanswered(id: string) {
    const fake = await central();
    const { backing, env, updates } = await remoteMapper(fake);
    await linkByHand(env, [id]);
    const s = fake.submit(bank(id, '000111'));
    updates('reset-before');
    expect((await importOdk(env, ['--retries', '0'])).code).toBe(4);
    updates(undefined);
    await updateByHand(env, id, '000777');
    updates('reset-after');
    const unanswered = await importOdk(env, ['--retries', '0']);
    expect(unanswered.code, unanswered.stderr).toBe(4);
    expect(accountIn(backing, id)).toBe('000111');
    updates(undefined);
    const stateDir = join(env.env['XDG_STATE_HOME']!, 'sparctl', 'odk');
    const replacedFile = join(stateDir, readdirSync(stateDir)[0]!, 'spar_enrolment.jsonl.replaced');
    return { fake, backing, env, s, replacedFile };
  }

  it('a write an earlier run sent and this one only reads back replaced what that run read before sending it: a rejection puts that back', async () => {
    const { fake, backing, env, s, replacedFile } = await writtenUnanswered('0075000001');
    expect(existsSync(replacedFile)).toBe(true);
    const settled = await importOdk(env);
    expect(settled.code, settled.stderr).toBe(0);
    expect(existsSync(replacedFile)).toBe(false);

    fake.review(s.__id, 'rejected');
    const undo = await importOdk(env, ['--on-reject', 'unlink', '--yes']);
    expect(undo.code, undo.stderr).toBe(0);
    expect(accountIn(backing, '0075000001')).toBe('000777');
  });

  it('a write whose run kept nothing of what it read (a window an earlier sparctl spooled): not known, so a rejection keeps it and says so', async () => {
    const { fake, backing, env, s, replacedFile } = await writtenUnanswered('0075000002');
    rmSync(replacedFile);
    expect((await importOdk(env)).code).toBe(0);

    fake.review(s.__id, 'rejected');
    const undo = await importOdk(env, ['--on-reject', 'unlink', '--yes']);
    expect(undo.code, undo.stderr).toBe(0);
    // Neither X (the read before the window: stale), nor Y, nor an unlink: kept, and said.
    expect(accountIn(backing, '0075000002')).toBe('000111');
    expect(undo.stderr).toContain(`${s.__id} was rejected; 0075000002 stays linked`);
  });

  it('killed (kill -9) once the window is spooled, the FA changed by hand, then resumed: a rejection puts back the FA changed by hand', async () => {
    const fake = await central();
    const env = setup(fake);
    // Many admin links before the one watched: the run is killed long before it reaches that one.
    const ids = Array.from({ length: 400 }, (_, i) => `076${String(i).padStart(7, '0')}`);
    const watched = ids.at(-1)!;
    await linkByHand(env, ids);
    const submitted = ids.map((id, i) => fake.submit(bank(id, `0008${String(i).padStart(8, '0')}`)));
    const args = ['import-odk', '--mapping', MAPPING, '--dfsp', DFSP, '--overlap', '0', '--batch-size', '5', '--concurrency', '1', '-q'];
    const child = spawn(process.execPath, [BIN, ...args], { ...SPAWN_LIMIT, env: env.env, cwd: env.home, stdio: 'ignore' });
    const exited = new Promise((resolve) => child.once('exit', resolve));
    const stateDir = join(env.env['XDG_STATE_HOME']!, 'sparctl', 'odk');
    const spooled = () =>
      existsSync(stateDir) && readdirSync(stateDir, { recursive: true }).some((name) => String(name).endsWith('spar_enrolment.jsonl'));
    for (let waited = 0; waited < 30_000 && !spooled() && child.exitCode === null; waited += 2)
      await new Promise((resolve) => setTimeout(resolve, 2));
    child.kill('SIGKILL');
    await exited;
    expect(spooled()).toBe(true);
    // The watched ID's write was not made: the window was spooled over its FA X (900399).
    expect(account(env, watched)).toBe('900399');
    await updateByHand(env, watched, '000777');
    const resumed = await importOdk(env);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(resumed.stderr).toMatch(/finishing the window an earlier run left unfinished/);
    expect(account(env, watched)).toBe('000800000399');

    fake.review(submitted.at(-1)!.__id, 'rejected');
    const undo = await importOdk(env, ['--on-reject', 'unlink', '--yes']);
    expect(undo.code, undo.stderr).toBe(0);
    expect(account(env, watched)).toBe('000777');
    expect(operations(env, watched)).toEqual(['link admin', 'update admin', 'update import-odk', 'update import-odk']);
  }, 90_000);
});
