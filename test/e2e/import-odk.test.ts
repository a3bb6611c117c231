/**
 * `sparctl import-odk` end to end: the built binary against the fake ODK Central on 127.0.0.1
 * (test/helpers/fake-central.ts), into the local mapper. What is checked is what a field
 * coordinator sees and what the mapper ends up holding.
 */
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { LocalMapper } from '../../src/adapters/sqlite/local-mapper.js';
import { openDatabase, prepare } from '../../src/adapters/sqlite/retained.js';
import { startFakeCentral, SPAR_ENROLMENT_FIELDS, type FakeCentral } from '../helpers/fake-central.js';
import { BIN, ROOT, cliEnv, type CliEnv, SPAWN_LIMIT } from '../helpers/run-cli.js';
import { runMain } from '../helpers/run-main.js';

const EMAIL = 'importer@example.org';
const PASSWORD = 'Tr0ub4dor&3-odk-import';
const MAPPING = join(ROOT, 'fixtures', 'enrolment.odk-mapping.json');
const DFSP = join(ROOT, 'fixtures', 'odk-dfsp.json');

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function central(options: Partial<Parameters<typeof startFakeCentral>[0]> = {}): Promise<FakeCentral> {
  const fake = await startFakeCentral({ email: EMAIL, password: PASSWORD, projectId: 3, formId: 'spar_enrolment', ...options });
  cleanups.push(() => fake.close());
  return fake;
}

function bank(nationalId: string, account: string, name = `Person ${nationalId}`) {
  return {
    beneficiary: { national_id: nationalId, full_name: name, contact_phone: '0711 000 111' },
    payment: { payment_method: 'bank', bank_code: 'BNK001', branch_code: 'BNK001-0042', account_number: account, payment_consent: 'yes' },
  };
}

function wallet(nationalId: string, number: string) {
  return {
    beneficiary: { national_id: nationalId, full_name: `Person ${nationalId}` },
    payment: { payment_method: 'mobile_money', mobile_money_provider: 'MPESA', mobile_money_number: number, payment_consent: 'yes' },
  };
}

function setup(fake: FakeCentral, extraEnv: Record<string, string> = {}): CliEnv {
  return cliEnv({
    SPARCTL_ODK_URL: fake.url,
    SPARCTL_ODK_PROJECT: '3',
    SPARCTL_ODK_FORM: 'spar_enrolment',
    SPARCTL_ODK_EMAIL: EMAIL,
    SPARCTL_ODK_PASSWORD: PASSWORD,
    ...extraEnv,
  });
}

const importOdk = (env: CliEnv, args: string[] = [], cwd?: string) =>
  runMain(['import-odk', '--mapping', MAPPING, '--dfsp', DFSP, ...args], { env: env.env, ...(cwd ? { cwd } : { cwd: env.home }) });

function mapper(env: CliEnv): LocalMapper {
  const opened = LocalMapper.open(env.dataDb);
  cleanups.push(() => opened.close());
  return opened;
}

const storedFa = (env: CliEnv, id: string) => mapper(env).storedFa(id);
const linkAudits = (env: CliEnv) =>
  mapper(env)
    .auditRows()
    .filter((row) => row.operation === 'link').length;

describe('sparctl import-odk', () => {
  it('imports every submission, then nothing again; an edit and a new one come through the next run', async () => {
    const fake = await central();
    const first = fake.submit(bank('0070011223', '000912345678'), { submitterName: 'enum-nakuru-03' });
    fake.submit(wallet('0070044556', '0722 334 455'));
    const env = setup(fake);

    const run1 = await importOdk(env, ['--results', 'results.jsonl']);
    expect(run1.stderr).toMatch(/2 submissions read, 2 to apply/);
    expect(run1.code, run1.stderr).toBe(0);
    expect(storedFa(env, '0070011223')).toBe(
      'account_number:000912345678.branch_name:Kisumu - Oginga Odinga Street.branch_code:BNK001-0042.bank_name:First Community Bank.bank_code:BNK001.fa_type:BANK',
    );
    expect(storedFa(env, '0070044556')).toBe(
      'mobile_number:+254722334455.wallet_provider_name:M-Pesa.wallet_provider_code:MPESA.fa_type:MOBILE_WALLET',
    );
    // Provenance travels in additional_info and in the results file.
    const [resolved] = await mapper(env).resolve([{ reference_id: 'r', id: '0070011223', scope: 'details' }], { source: 'test' });
    expect(resolved!.additional_info).toEqual([
      {
        odk_form: 'spar_enrolment',
        odk_submission: first.__id,
        odk_instance: first.meta.instanceID,
        odk_submitter: 'enum-nakuru-03',
        odk_submission_date: first.__system.submissionDate,
        strategy_id: 2,
      },
    ]);
    const results = readFileSync(join(env.home, 'results.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(results.find((r) => r['id'] === '0070011223')).toMatchObject({
      outcome: 'linked',
      origin: expect.stringContaining(`odk_submission=${first.__id}`),
    });
    expect(fake.logins).toBe(1);

    // Nothing new: nothing is applied (the overlap re-reads them and recognises them).
    const run2 = await importOdk(env);
    expect(run2.code, run2.stderr).toBe(0);
    expect(run2.stderr).toMatch(/2 submissions read, 0 to apply \(2 already applied\)/);
    expect(linkAudits(env)).toBe(2);
    // The session token was cached (0600) and used again.
    expect(fake.logins).toBe(1);
    expect(statSync(join(env.env['XDG_CACHE_HOME']!, 'sparctl', 'odk-sessions.json')).mode & 0o777).toBe(0o600);

    fake.edit(first.__id, { payment: { account_number: '000912345679' } });
    fake.submit(bank('0070077889', '000955500001'));
    const run3 = await importOdk(env, ['--overlap', '0']);
    expect(run3.code, run3.stderr).toBe(0);
    // `ge` re-reads the submission at the watermark itself; it is recognised and skipped.
    expect(run3.stderr).toMatch(/3 submissions read, 2 to apply \(1 already applied\)/);
    expect(storedFa(env, '0070011223')).toMatch(/^account_number:000912345679\./);
    expect(storedFa(env, '0070077889')).toMatch(/^account_number:000955500001\./);
    const filters = fake.requests.filter((r) => r.path.includes('.svc/Submissions')).map((r) => r.query['$filter']);
    expect(filters.at(-2)).toMatch(/^__system\/submissionDate ge \S+Z or __system\/updatedAt ge \S+Z$/);
    expect(filters.at(-1)).toMatch(/^__system\/deletedAt ge \S+Z$/);
  });

  it('follows nextLink pages named after another host, through 503s and a 429 with Retry-After', async () => {
    const fake = await central();
    for (let i = 0; i < 7; i++) fake.submit(bank(`00800000${String(i).padStart(2, '0')}`, `00012345678${i}`));
    fake.inject({ status: 503, count: 2 });
    const env = setup(fake);
    const run = await importOdk(env, ['--page-size', '2']);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stderr).toMatch(/7 submissions read, 7 to apply/);
    expect(fake.domain).not.toContain('127.0.0.1');
    expect(fake.requests.filter((r) => r.query['$skiptoken'] !== undefined).length).toBe(3);
    expect(mapper(env).countMappings()).toBe(7);

    fake.submit(bank('0080000099', '000999999999'));
    fake.inject({ status: 429, count: 1, retryAfterSeconds: 1 });
    const started = Date.now();
    const again = await importOdk(env, ['--page-size', '2']);
    expect(again.code, again.stderr).toBe(0);
    expect(Date.now() - started).toBeGreaterThanOrEqual(1000);
    expect(mapper(env).countMappings()).toBe(8);
  });

  it('skips rejected submissions, unlinks deleted ones only when asked, and rejects a row with an unknown bank', async () => {
    const fake = await central();
    const keep = fake.submit(bank('0090000001', '000100000001'));
    const rejected = fake.submit(bank('0090000002', '000100000002'));
    fake.review(rejected.__id, 'rejected');
    fake.submit({ ...bank('0090000003', '000100000003'), payment: { ...bank('', '000100000003').payment, bank_code: 'NOPE' } });
    const env = setup(fake);
    // A dry run first: its rejects go to the form's preview, named as one, and the real file is not made.
    const dry = await importOdk(env, ['--dry-run']);
    expect(dry.code, dry.stderr).toBe(5);
    expect(dry.stderr).toMatch(/^ {2}\S.*, ID 0090000003, field bank_code: mapping\.unknown_bank — /m);
    expect(dry.stderr).toContain(`rejects preview: ${join(env.home, 'spar_enrolment.rejects.preview.csv')} (1 row;`);
    expect(readFileSync(join(env.home, 'spar_enrolment.rejects.preview.csv'), 'utf8')).toMatch(
      /bank_code,mapping\.unknown_bank,.*0090000003/,
    );
    expect(existsSync(join(env.home, 'spar_enrolment.rejects.csv'))).toBe(false);
    const run = await importOdk(env);
    expect(run.code, run.stderr).toBe(5);
    expect(run.stderr).toMatch(/1 skipped for their review state \(rejected\)/);
    expect(storedFa(env, '0090000002')).toBeUndefined();
    const rejects = readFileSync(join(env.home, 'spar_enrolment.rejects.csv'), 'utf8');
    expect(rejects).toMatch(
      // Submissions were never CSV: cells a spreadsheet would run are quoted, and sparctl_quoted says which.
      /^sparctl_line,sparctl_field,sparctl_code,sparctl_message,sparctl_quoted,odk_submission,odk_instance,odk_submitter,odk_submission_date,odk_review_state,beneficiary\.national_id,/,
    );
    expect(rejects).toMatch(/bank_code,mapping\.unknown_bank,.*0090000003/);

    fake.remove(keep.__id);
    const ignored = await importOdk(env, ['--overlap', '0']);
    expect(ignored.code, ignored.stderr).toBe(0);
    expect(storedFa(env, '0090000001')).toBeDefined();

    const refused = await importOdk(env, ['--on-delete', 'unlink']);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/--on-delete unlink .*pass --yes/s);
    const unlinked = await importOdk(env, ['--on-delete', 'unlink', '--yes', '--full']);
    expect(unlinked.code, unlinked.stderr).toBe(0);
    expect(storedFa(env, '0090000001')).toBeUndefined();
  });

  it('unlinks on deletion only what it linked and no other live submission names; warns when an edit changes the ID', async () => {
    const fake = await central();
    const first = fake.submit(bank('0110000001', '000110000001'));
    const duplicate = fake.submit(bank('0110000001', '000110000001'));
    const renamed = fake.submit(bank('0110000002', '000110000002'));
    const env = setup(fake);
    expect((await importOdk(env)).code).toBe(0);

    fake.remove(first.__id);
    const kept = await importOdk(env, ['--on-delete', 'unlink', '--yes', '--overlap', '0']);
    expect(kept.code, kept.stderr).toBe(0);
    expect(kept.stderr).toContain(
      `${first.__id} was deleted in Central; 0110000001 is still named by submission ${duplicate.__id}, which owns it: not unlinked`,
    );
    expect(storedFa(env, '0110000001')).toBeDefined();
    fake.remove(duplicate.__id);
    const gone = await importOdk(env, ['--on-delete', 'unlink', '--yes', '--overlap', '0']);
    expect(gone.code, gone.stderr).toBe(0);
    expect(storedFa(env, '0110000001')).toBeUndefined();

    // A corrected ID links the new one and says the old one stays linked.
    fake.edit(renamed.__id, { beneficiary: { national_id: '0110000003' } });
    const edited = await importOdk(env, ['--overlap', '0']);
    expect(edited.stderr).toContain(
      `${renamed.__id} now names 0110000003; 0110000002 stays linked (--on-delete unlink --yes undoes such links)`,
    );
    expect(storedFa(env, '0110000002')).toBeDefined();
    expect(storedFa(env, '0110000003')).toBeDefined();

    // The same server written with /v1 is the same import: nothing is read as new.
    const sameServer = await importOdk(env, ['--odk-url', `${fake.url}/v1/`]);
    expect(sameServer.code, sameServer.stderr).toBe(0);
    expect(sameServer.stderr).toMatch(/0 to apply/);
  });

  it('refuses a mapping that does not fit the form, and a wrong password, without printing it', async () => {
    const fields = SPAR_ENROLMENT_FIELDS.map((field) => (field.path === '/payment/account_number' ? { ...field, type: 'int' } : field));
    const fake = await central({ fields });
    fake.submit(bank('0100000001', '000100000001'));
    const env = setup(fake);
    const mismatch = await importOdk(env);
    expect(mismatch.code).toBe(2);
    expect(mismatch.stderr).toMatch(/account_number reads "payment\.account_number", an int field: .*leading zeros.*nothing was imported/);

    const wrong = setup(fake, { SPARCTL_ODK_PASSWORD: 'not-the-password-42' });
    const denied = await importOdk(wrong);
    expect(denied.code).toBe(3);
    expect(denied.stderr).toMatch(/the login: HTTP 401 \(Central problem 401\.2\)/);
    expect(denied.stderr).not.toContain('not-the-password-42');
    expect(existsSync(wrong.dataDb) ? mapper(wrong).countMappings() : 0).toBe(0);
  });

  it('killed while applying a window, finishes it on the next run: every submission linked exactly once', async () => {
    const fake = await central();
    const total = 1500;
    for (let i = 0; i < total; i++) fake.submit(bank(`02${String(i).padStart(8, '0')}`, `0003${String(i).padStart(8, '0')}`));
    const env = setup(fake);
    const child = spawn(
      process.execPath,
      [BIN, 'import-odk', '--mapping', MAPPING, '--dfsp', DFSP, '--batch-size', '1', '--concurrency', '1', '-q'],
      { ...SPAWN_LIMIT, env: env.env, cwd: env.home, stdio: 'ignore' },
    );
    // Kill it once some records are in the mapper but not all (batches of one record: 1,500 commits
    // to land between, most of a second; 3,000 rows in batches of 20 gave less than half a second).
    const killedAt = await new Promise<number>((resolve, reject) => {
      const poll = setInterval(() => {
        if (!existsSync(env.dataDb)) return;
        let count = 0;
        // A plain read-only connection: it never waits for the importer's write lock.
        const probe = openDatabase(env.dataDb, { readonly: true, fileMustExist: true });
        try {
          count = prepare(probe, 'SELECT count(*) FROM id_fa_mappings').pluck().get() as number;
        } catch {
          return; // the tables are not there yet
        } finally {
          probe.close();
        }
        if (count > 0) {
          clearInterval(poll);
          child.kill('SIGKILL');
          resolve(count);
        }
      }, 20);
      child.on('exit', () => {
        clearInterval(poll);
        reject(new Error('the import finished before it could be killed'));
      });
    });
    await new Promise((resolve) => child.once('exit', resolve));
    expect(killedAt).toBeLessThan(total);
    const stateDir = join(env.env['XDG_STATE_HOME']!, 'sparctl', 'odk');
    const windows = readdirSync(stateDir, { recursive: true }).filter((name) => String(name).endsWith('spar_enrolment.jsonl'));
    expect(windows).toHaveLength(1);

    fake.submit(bank('0299999999', '000399999999'));
    const resumed = await importOdk(env, ['--overlap', '0']);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(resumed.stderr).toMatch(/finishing the window an earlier run left unfinished/);
    expect(mapper(env).countMappings()).toBe(total + 1);
    expect(linkAudits(env)).toBe(total + 1);
    expect(readdirSync(stateDir, { recursive: true }).filter((name) => String(name).endsWith('.jsonl'))).toHaveLength(0);
  }, 90_000);

  it('--watch polls until Ctrl-C, a line per poll, and exits 130', async () => {
    const fake = await central();
    fake.submit(bank('0300000001', '000300000001'));
    const env = setup(fake);
    const child = spawn(
      process.execPath,
      [BIN, 'import-odk', '--mapping', MAPPING, '--dfsp', DFSP, '--watch', '--interval', '1', '--overlap', '0'],
      { ...SPAWN_LIMIT, env: env.env, cwd: env.home, stdio: ['ignore', 'ignore', 'pipe'] },
    );
    let stderr = '';
    const seen = (pattern: RegExp) =>
      new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no ${pattern} in: ${stderr}`)), 15_000);
        const check = () => {
          if (pattern.test(stderr)) {
            clearTimeout(timer);
            resolve();
          }
        };
        child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
          stderr += chunk;
          check();
        });
        check();
      });
    await seen(/poll: 1 applied/);
    fake.submit(bank('0300000002', '000300000002'));
    await seen(/poll: 1 applied[\s\S]*poll: 1 applied/);
    child.kill('SIGINT');
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    expect(code).toBe(130);
    expect(mapper(env).countMappings()).toBe(2);
  }, 30_000);
});

describe('ODK Central client', () => {
  it('logs in again once when the token is refused mid-run', async () => {
    const fake = await central();
    fake.submit(bank('0400000001', '000400000001'));
    const { CentralClient } = await import('../../src/adapters/odk/central-client.js');
    const client = new CentralClient({ url: `${fake.url}/v1`, auth: { email: EMAIL, password: async () => PASSWORD } });
    cleanups.push(() => client.close());
    expect((await client.form(3, 'spar_enrolment')).publishedAt).not.toBeNull();
    fake.expireTokens();
    const pages = [];
    for await (const page of client.submissions(3, 'spar_enrolment', { pageSize: 10 })) pages.push(...page);
    expect(pages).toHaveLength(1);
    expect(fake.logins).toBe(2);
    await expect(client.form(3, 'no_such_form')).rejects.toMatchObject({
      code: 'odk.not_found',
      message: expect.stringMatching(/Central problem 404\.1/),
    });
  });
});
