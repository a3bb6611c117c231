/**
 * import-odk undoes only what it did, and review changes and older submissions never overwrite
 * newer truth (issue "import-odk you can trust"): the built binary against the fake Central.
 * Each case failed on the import-odk before ownership.
 */
import { spawn } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { LocalMapper } from '../../src/adapters/sqlite/local-mapper.js';
import type { FakeCentral } from '../helpers/fake-central.js';
import { BIN, type CliEnv, SPAWN_LIMIT } from '../helpers/run-cli.js';
import { runMain } from '../helpers/run-main.js';
import { bankSubmission, fakeCentrals, importOdk, ODK_DFSP, ODK_MAPPING, odkEnv } from '../helpers/odk-fixture.js';

/** An admin's link or update of one beneficiary to a First Community Bank account, outside the importer. */
const changeByHand = (env: CliEnv, id: string, account: string, operation: 'link' | 'update' = 'update') =>
  runMain(
    [
      operation,
      '--id',
      id,
      '--fa-type',
      'BANK',
      '--bank-name',
      'First Community Bank',
      '--bank-code',
      'BNK001',
      '--branch-name',
      'Main',
      '--branch-code',
      '0001',
      '--account-number',
      account,
    ],
    { env: env.env },
  );

const PASSWORD = 'odk-owner-test';
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

const stored = (env: CliEnv, id: string) => mapper(env).storedFa(id);
const account = (env: CliEnv, id: string) => /^account_number:([^.]*)\./.exec(stored(env, id) ?? '')?.[1];

describe('import-odk: ownership', () => {
  it("the run's line says an older owner's content is to be written again, not that it was: a change made in the mapper since keeps it", async () => {
    const fake = await central();
    const env = setup(fake);
    fake.submit(bank('0014000001', '000111'));
    fake.advance(60_000);
    const newer = fake.submit(bank('0014000001', '000222'));
    expect((await importOdk(env)).code).toBe(0);
    const byHand = await changeByHand(env, '0014000001', '000999');
    expect(byHand.code).toBe(0);
    fake.advance(60_000);
    fake.remove(newer.__id);
    const passed = await importOdk(env);
    expect(passed.code, passed.stderr).toBe(0);
    expect(passed.stderr).toMatch(/also 1 older owner's content to write again\n/);
    expect(passed.stderr).toContain('kept 0014000001: changed in the mapper since this importer wrote it');
    expect(account(env, '0014000001')).toBe('000999');
  });

  it("the run's line says applied only of a submission whose write is recorded: one superseded in its window and deleted was never applied", async () => {
    const fake = await central();
    const env = setup(fake);
    const older = fake.submit(bank('0013000001', '000111'));
    fake.advance(60_000);
    const newer = fake.submit(bank('0013000001', '000222'));
    const first = await importOdk(env);
    expect(first.stderr).toMatch(/2 submissions read, 1 to apply \(1 owned by a later submission\)/);
    fake.advance(60_000);
    fake.remove(older.__id);
    fake.remove(newer.__id);
    const deleted = await importOdk(env);
    expect(deleted.code, deleted.stderr).toBe(0);
    expect(deleted.stderr).toMatch(/2 submissions read, 0 to apply \(1 already applied, 1 deleted before it was applied\)/);
  });

  it('--skip-review changed between runs: the newer submission it now counts owns the beneficiary, with or without --full', async () => {
    const fake = await central();
    const env = setup(fake);
    fake.submit(bank('0012000001', '000111'));
    fake.advance(60_000);
    fake.submit(bank('0012000001', '000222'), { reviewState: 'hasIssues' });
    fake.submit(bank('0012000002', '000333'));
    fake.advance(60_000);
    fake.submit(bank('0012000002', '000444'), { reviewState: 'hasIssues' });
    const first = await importOdk(env, ['--skip-review', 'rejected,hasIssues']);
    expect(first.code, first.stderr).toBe(0);
    expect(account(env, '0012000001')).toBe('000111');
    expect(account(env, '0012000002')).toBe('000333');
    // The usual skip list: both newer submissions count now (--full reads them all).
    const full = await importOdk(env, ['--full']);
    expect(full.code, full.stderr).toBe(0);
    expect(account(env, '0012000001')).toBe('000222');
    const again = await importOdk(env, ['--full']);
    expect(again.stderr).toMatch(/4 submissions read, 0 to apply/);
    // Back to skipping hasIssues, then not, without --full: each run plans them from the state.
    fake.advance(60_000);
    const back = await importOdk(env, ['--skip-review', 'rejected,hasIssues']);
    expect(back.code, back.stderr).toBe(0);
    expect(account(env, '0012000001')).toBe('000111');
    expect(account(env, '0012000002')).toBe('000333');
    fake.advance(60_000);
    const incremental = await importOdk(env);
    expect(incremental.code, incremental.stderr).toBe(0);
    expect(account(env, '0012000001')).toBe('000222');
    expect(account(env, '0012000002')).toBe('000444');
  });

  it('a deletion never unlinks a beneficiary this importer did not link (its submission was rejected, an admin linked it by hand)', async () => {
    const fake = await central();
    const env = setup(fake);
    // An admin links the beneficiary by hand.
    const byHand = await changeByHand(env, '0011000001', '000999', 'link');
    expect(byHand.code).toBe(0);
    // Its submission names a bank the DFSP data lacks: rejected, the hand-made link stays.
    const bad = fake.submit(bank('0011000001', '000111', 'NOPE'));
    expect((await importOdk(env)).code).toBe(5);
    expect(account(env, '0011000001')).toBe('000999');
    fake.remove(bad.__id);
    const run = await importOdk(env, ['--on-delete', 'unlink', '--yes']);
    expect(run.code, run.stderr).toBe(0);
    expect(account(env, '0011000001')).toBe('000999');
    expect(
      mapper(env)
        .auditRows('0011000001')
        .map((row) => row.operation),
    ).toEqual(['link']);
  });

  it("a review-only change writes nothing: approving does not revert an admin's later update, nor an older submission overwrite a newer one", async () => {
    const fake = await central();
    const env = setup(fake);
    const older = fake.submit(bank('0022000001', '000111'));
    fake.advance(60_000);
    const newer = fake.submit(bank('0022000001', '000222'));
    const one = fake.submit(bank('0022000002', '000333'));
    const first = await importOdk(env);
    expect(first.code, first.stderr).toBe(0);
    expect(first.stderr).toContain(`${older.__id} names 0022000001, but ${newer.__id} was submitted later and owns it: not applied`);
    expect(account(env, '0022000001')).toBe('000222');
    // An admin corrects one account by hand.
    const fix = await changeByHand(env, '0022000002', '000444');
    expect(fix.code).toBe(0);
    fake.advance(60_000);
    fake.review(one.__id, 'approved');
    fake.review(older.__id, 'approved');
    const again = await importOdk(env);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stderr).toMatch(/submissions read, 0 to apply/);
    expect(account(env, '0022000002')).toBe('000444');
    expect(account(env, '0022000001')).toBe('000222');
  });

  it('two submissions naming one beneficiary: the later owns it; deleting it gives the beneficiary back to the earlier; deleting both unlinks', async () => {
    const fake = await central();
    const env = setup(fake);
    const earlier = fake.submit(bank('0033000001', '000111'));
    fake.advance(60_000);
    const later = fake.submit(bank('0033000001', '000222'));
    expect((await importOdk(env)).code).toBe(0);
    expect(account(env, '0033000001')).toBe('000222');
    fake.advance(60_000);
    fake.remove(later.__id);
    const back = await importOdk(env, ['--on-delete', 'unlink', '--yes']);
    expect(back.code, back.stderr).toBe(0);
    expect(account(env, '0033000001')).toBe('000111');
    fake.advance(60_000);
    fake.remove(earlier.__id);
    const gone = await importOdk(env, ['--on-delete', 'unlink', '--yes']);
    expect(gone.code, gone.stderr).toBe(0);
    expect(stored(env, '0033000001')).toBeUndefined();
    expect(
      mapper(env)
        .auditRows('0033000001')
        .map((row) => row.operation),
    ).toEqual(['link', 'update', 'unlink']);
  });

  it('a reviewer rejection after import: said by default, undone with --on-reject unlink --yes, and only while the mapper holds what was written', async () => {
    const fake = await central();
    const env = setup(fake);
    const a = fake.submit(bank('0044000001', '000111'));
    const b = fake.submit(bank('0044000002', '000222'));
    expect((await importOdk(env)).code).toBe(0);
    fake.advance(60_000);
    fake.review(a.__id, 'rejected');
    const warned = await importOdk(env);
    expect(warned.code, warned.stderr).toBe(0);
    expect(warned.stderr).toContain(`${a.__id} was rejected by a reviewer after it was applied; 0044000001 stays linked`);
    expect(account(env, '0044000001')).toBe('000111');
    // b's FA is changed by an admin, then b is rejected too: only a's link is undone.
    const fix = await changeByHand(env, '0044000002', '000999');
    expect(fix.code).toBe(0);
    fake.advance(60_000);
    fake.review(b.__id, 'rejected');
    const undone = await importOdk(env, ['--on-reject', 'unlink', '--yes', '--full', '-o', 'jsonl']);
    expect(undone.code, undone.stderr).toBe(0);
    expect(stored(env, '0044000001')).toBeUndefined();
    expect(account(env, '0044000002')).toBe('000999');
    const results = undone.stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(results.find((r) => r['id'] === '0044000002')).toMatchObject({ fate: 'unchanged', code: 'kept.changed_since' });
    expect(undone.stderr).toMatch(
      /kept 0044000002: changed in the mapper since this importer wrote it \(sparctl update \(user [^)]*\) at 20\d\d-/,
    );
  });

  it('--reapply writes a corrected mapping or DFSP file, but not over a change made in the mapper since', async () => {
    const fake = await central();
    const env = setup(fake);
    fake.submit(bank('0055000001', '000111', 'BNK009'));
    fake.submit(bank('0055000002', '000222'));
    expect((await importOdk(env)).code).toBe(5); // BNK009 is not in the DFSP data
    // Nothing to apply again: the same content was already considered.
    const nothing = await importOdk(env, ['--full']);
    expect(nothing.stderr).toMatch(/0 to apply/);
    // The DFSP data gains the bank; an admin changes the other beneficiary meanwhile.
    const dfsp = join(env.home, 'dfsp.json');
    const data = JSON.parse((await import('node:fs')).readFileSync(DFSP, 'utf8')) as {
      banks: { code: string; name: string }[];
      branches: { bank_code: string; code: string; name: string }[];
    };
    data.banks.push({ code: 'BNK009', name: 'Ninth Bank' });
    data.branches.push({ bank_code: 'BNK009', code: 'BNK001-0042', name: 'Ninth Bank Kisumu' });
    writeFileSync(dfsp, JSON.stringify(data));
    const fix = await changeByHand(env, '0055000002', '000999');
    expect(fix.code).toBe(0);
    const reapplied = await importOdk(env, ['--reapply'], dfsp);
    expect(reapplied.code, reapplied.stderr).toBe(0);
    expect(stored(env, '0055000001')).toMatch(/bank_name:Ninth Bank/);
    expect(account(env, '0055000002')).toBe('000999');
  });

  it('--instance-id refuses a submission a reviewer rejected unless --yes, and then says so', async () => {
    const fake = await central();
    const env = setup(fake);
    const rejected = fake.submit(bank('0066000001', '000111'), { reviewState: 'rejected' });
    const refused = await importOdk(env, ['--instance-id', rejected.__id]);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/was rejected by a reviewer in Central; nothing was imported \(pass --yes/);
    expect(existsSync(env.dataDb) ? stored(env, '0066000001') : undefined).toBeUndefined();
    const forced = await importOdk(env, ['--instance-id', rejected.__id, '--yes']);
    expect(forced.code, forced.stderr).toBe(0);
    expect(forced.stderr).toMatch(/warning: .* was rejected by a reviewer in Central; applying it as asked/);
    expect(account(env, '0066000001')).toBe('000111');
  });

  it('audit rows name the form and the submission; two runs of one form into one mapper never run at once; a finished interrupted window with a reject exits 5', async () => {
    const fake = await central();
    const env = setup(fake);
    // The first run fetches and spools the whole window before its first write; batches of one
    // record, one at a time, then keep it writing for about a second (2,000 of them) past the first
    // one seen. The run that finishes the window takes the default batches.
    const total = 2000;
    fake.submit(bank('0077999999', '000111', 'NOPE'));
    for (let i = 0; i < total; i++) fake.submit(bank(`07${String(i).padStart(8, '0')}`, `0007${String(i).padStart(8, '0')}`));
    const args = ['import-odk', '--mapping', MAPPING, '--dfsp', DFSP, '--batch-size', '1', '--concurrency', '1', '-q'];
    const child = spawn(process.execPath, [BIN, ...args], { ...SPAWN_LIMIT, env: env.env, cwd: env.home, stdio: 'ignore' });
    const exited = new Promise((resolve) => child.once('exit', resolve));
    // Wait until it writes, then a second run of the same form into the same mapper is refused.
    // (Beside a busy suite the first write can take long: the second run must not go first.)
    let writing = false;
    for (let waited = 0; waited < 40_000 && !writing; waited += 20) {
      writing = existsSync(env.dataDb) && mapper(env).countMappings() > 0;
      if (!writing) await new Promise((resolve) => setTimeout(resolve, 20));
    }
    expect(writing, 'the first run to write within 40 s').toBe(true);
    // Paused where it is: on a RAM disk, or beside a busy machine, it could finish before the second run asked.
    child.kill('SIGSTOP');
    const second = await runMain(args, { env: env.env, cwd: env.home });
    expect(second.code, second.stderr).toBe(4);
    expect(second.stderr).toMatch(/import-odk of form "spar_enrolment" into this mapper is already running \(sparctl, pid \d+/);
    child.kill('SIGKILL');
    await exited;
    const resumed = await importOdk(env);
    expect(resumed.stderr).toMatch(/finishing the window an earlier run left unfinished/);
    expect(resumed.code, resumed.stderr).toBe(5); // the window held a rejected record
    expect(mapper(env).countMappings()).toBe(total);
    const audit = mapper(env).auditRows('0700000000');
    expect(audit).toHaveLength(1);
    expect(audit[0]!.source).toMatch(/^sparctl import-odk form spar_enrolment odk_form=spar_enrolment odk_submission=uuid:/);
  }, 90_000);
});
