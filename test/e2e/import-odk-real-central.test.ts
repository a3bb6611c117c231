/**
 * Defects found by running import-odk against a real ODK Central, each failing before its fix:
 * an edit to another ID under --on-delete ignore lost the record of the old write (a later
 * unlink run could not undo it, as the run's note promised); a deletion's undo needed the
 * deletion read again (--full); a submission whose ID cannot be built vanished without a reject;
 * the same Central under another URL started a fresh state (and overwrote an admin's change).
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { LocalMapper } from '../../src/adapters/sqlite/local-mapper.js';
import type { FakeCentral } from '../helpers/fake-central.js';
import { startFaultProxy } from '../helpers/fault-proxy.js';
import { bankSubmission, fakeCentrals, importOdk, odkEnv } from '../helpers/odk-fixture.js';
import type { CliEnv } from '../helpers/run-cli.js';
import { runMain } from '../helpers/run-main.js';

const PASSWORD = 'odk-real-central-test';
const { central, cleanups } = fakeCentrals(PASSWORD);
const bank = bankSubmission;
const setup = (fake: FakeCentral): CliEnv => odkEnv(fake, PASSWORD);
const UNLINK = ['--on-delete', 'unlink', '--yes'];

function storedFa(env: CliEnv, id: string): string | undefined {
  const mapper = LocalMapper.open(env.dataDb);
  try {
    return mapper.storedFa(id);
  } finally {
    void mapper.close();
  }
}
const account = (env: CliEnv, id: string) => /^account_number:([^.]*)\./.exec(storedFa(env, id) ?? '')?.[1];

describe('import-odk: undos a later run can still do', () => {
  it('an edit to another ID under --on-delete ignore: a later --on-delete unlink run undoes the old link, as the note says', async () => {
    const fake = await central();
    const env = setup(fake);
    const s = fake.submit(bank('0120000001', '000111'));
    expect((await importOdk(env)).code).toBe(0);
    fake.advance(1000);
    fake.edit(s.__id, { beneficiary: { national_id: '0120000002' } });
    const moved = await importOdk(env);
    expect(moved.code, moved.stderr).toBe(0);
    expect(moved.stderr).toContain(`${s.__id} now names 0120000002; 0120000001 stays linked (--on-delete unlink --yes undoes such links)`);
    expect([account(env, '0120000001'), account(env, '0120000002')]).toEqual(['000111', '000111']);
    // Nothing new in Central: the undo comes from the state's record of the old write.
    fake.advance(1000);
    const undo = await importOdk(env, UNLINK);
    expect(undo.code, undo.stderr).toBe(0);
    expect(storedFa(env, '0120000001')).toBeUndefined();
    expect(account(env, '0120000002')).toBe('000111');
    // The submission is read again first (was it edited back, or restored?): its undo is its write.
    expect(undo.stderr).toMatch(/1 submission read, 1 to apply\n/);
    // Done once: the next run has nothing to undo.
    const again = await importOdk(env, UNLINK);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stderr).toMatch(/, 0 to apply( \(1 already applied\))?\n/);
  });

  it('a deletion kept under ignore is undone by a later unlink run outside the overlap, unless Central restored the submission since', async () => {
    const fake = await central();
    const env = setup(fake);
    const deleted = fake.submit(bank('0121000001', '000111'));
    const restored = fake.submit(bank('0121000002', '000222'));
    expect((await importOdk(env)).code).toBe(0);
    fake.advance(1000);
    fake.remove(deleted.__id);
    fake.remove(restored.__id);
    const kept = await importOdk(env);
    expect(kept.stderr).toContain(`${deleted.__id} was deleted; 0121000001 stays linked (--on-delete unlink --yes undoes such links)`);
    // Restored in Central: deletedAt back to null, updatedAt untouched, so no window finds it.
    fake.advance(1000);
    fake.restore(restored.__id);
    fake.advance(60_000);
    const undo = await importOdk(env, UNLINK);
    expect(undo.code, undo.stderr).toBe(0);
    expect(storedFa(env, '0121000001')).toBeUndefined();
    expect(account(env, '0121000002')).toBe('000222');
  });
});

describe('import-odk: a submission whose beneficiary ID cannot be built', () => {
  it('is a reject (row with its ids and reason, exit 5) the first time its content is seen, and the counts add up', async () => {
    const fake = await central();
    const env = setup(fake);
    fake.submit(bank('0122000001', '000111'));
    const empty = fake.submit(bank('', '000222'));
    const first = await importOdk(env);
    expect(first.code, first.stderr).toBe(5);
    expect(first.stderr).toMatch(/2 submissions read, 1 to apply \(1 without a beneficiary ID \(rejected\)\)/);
    const rejects = readFileSync(join(env.home, 'spar_enrolment.rejects.csv'), 'utf8');
    expect(rejects).toContain(empty.__id);
    expect(rejects).toMatch(/mapping\.missing_value/);
    // Not again until its content changes.
    const second = await importOdk(env);
    expect(second.code, second.stderr).toBe(0);
    // Read again (the window's edge): never applied, so not said to be.
    expect(second.stderr).toMatch(/1 submission read, 0 to apply \(1 without a beneficiary ID \(rejected before\)\)/);
    const full = await importOdk(env, ['--full']);
    expect(full.code, full.stderr).toBe(0);
    // Its content was never applied: not counted so.
    expect(full.stderr).toMatch(/2 submissions read, 0 to apply \(1 already applied, 1 without a beneficiary ID \(rejected before\)\)/);
    fake.advance(1000);
    fake.edit(empty.__id, { payment: { account_number: '000333' } });
    const edited = await importOdk(env);
    expect(edited.code, edited.stderr).toBe(5);
    expect(edited.stderr).toMatch(/1 submission read, 0 to apply \(1 without a beneficiary ID \(rejected\)\)/);
  });
});

describe('import-odk: one state per form and mapper, whatever URL names the server', () => {
  it('the same Central through a proxy is refused, naming both URLs; --odk-state adopt carries the state over (an admin change since still wins)', async () => {
    const fake = await central();
    const env = setup(fake);
    const proxy = await startFaultProxy(fake.url);
    cleanups.push(() => proxy.close());
    fake.submit(bank('0123000001', '000111'));
    expect((await importOdk(env)).code).toBe(0);
    const flags = ['--fa-type', 'BANK', '--bank-name', 'First Community Bank', '--bank-code', 'BNK001', '--branch-name', 'Main'];
    const fix = await runMain(['update', '--id', '0123000001', ...flags, '--branch-code', '0001', '--account-number', '000777', '-q'], {
      env: env.env,
    });
    expect(fix.code, fix.stderr).toBe(0);

    const refused = await importOdk(env, ['--odk-url', proxy.url, '--full']);
    expect(refused.code, refused.stderr).toBe(2);
    expect(refused.stderr).toContain('odk.state_elsewhere');
    expect(refused.stderr).toContain(fake.url);
    expect(refused.stderr).toContain(proxy.url);
    expect(refused.stderr).toMatch(/--odk-state adopt/);
    expect(account(env, '0123000001')).toBe('000777');

    const adopted = await importOdk(env, ['--odk-url', proxy.url, '--odk-state', 'adopt', '--full']);
    expect(adopted.code, adopted.stderr).toBe(0);
    expect(adopted.stderr).toMatch(/1 submission read, 0 to apply \(1 already applied\)/);
    expect(account(env, '0123000001')).toBe('000777');
    // Adopted, it is this URL's: no flag needed again; the old URL is now the one refused.
    expect((await importOdk(env, ['--odk-url', proxy.url])).code).toBe(0);
    const old = await importOdk(env);
    expect(old.code, old.stderr).toBe(2);
    expect(old.stderr).toContain(proxy.url);
  });

  it('another Central with the same project and form never shares the state silently; --odk-state separate starts its own', async () => {
    const production = await central();
    const staging = await central();
    const env = setup(production);
    production.submit(bank('0124000001', '000111'));
    expect((await importOdk(env)).code).toBe(0);
    staging.submit(bank('0124000002', '000222'));
    const refused = await importOdk(env, ['--odk-url', staging.url]);
    expect(refused.code, refused.stderr).toBe(2);
    expect(refused.stderr).toMatch(/--odk-state separate/);
    expect(storedFa(env, '0124000002')).toBeUndefined();
    const separate = await importOdk(env, ['--odk-url', staging.url, '--odk-state', 'separate']);
    expect(separate.code, separate.stderr).toBe(0);
    expect(account(env, '0124000002')).toBe('000222');
    // Each keeps its own from now on, without the flag.
    expect((await importOdk(env, ['--odk-url', staging.url])).code).toBe(0);
    const back = await importOdk(env);
    expect(back.code, back.stderr).toBe(0);
    expect(back.stderr).toMatch(/0 to apply/);
    expect(existsSync(join(env.env['XDG_STATE_HOME']!, 'sparctl', 'odk'))).toBe(true);
  });
});
