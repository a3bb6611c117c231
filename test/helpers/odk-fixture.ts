import { join } from 'node:path';
import { afterEach } from 'vitest';
import { startFakeCentral, type FakeCentral } from './fake-central.js';
import { cliEnv, ROOT, type CliEnv } from './run-cli.js';
import { runMain } from './run-main.js';

/** What the import-odk end-to-end tests share: the enrolment form's mapping and DFSP data, a fake Central per test, a bank submission. */
export const ODK_EMAIL = 'importer@example.org';
export const ODK_MAPPING = join(ROOT, 'fixtures', 'enrolment.odk-mapping.json');
export const ODK_DFSP = join(ROOT, 'fixtures', 'odk-dfsp.json');

/** A fake Central with the password given, closed after each test (with anything else pushed on `cleanups`). */
export function fakeCentrals(password: string): { central: () => Promise<FakeCentral>; cleanups: (() => Promise<void> | void)[] } {
  const cleanups: (() => Promise<void> | void)[] = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });
  const central = async () => {
    const fake = await startFakeCentral({ email: ODK_EMAIL, password, projectId: 3, formId: 'spar_enrolment' });
    cleanups.push(() => fake.close());
    return fake;
  };
  return { central, cleanups };
}

/** A submission paying into a bank account of BNK001's branch 0042 (or of `bankCode`). */
export function bankSubmission(nationalId: string, account: string, bankCode = 'BNK001') {
  return {
    beneficiary: { national_id: nationalId, full_name: `Person ${nationalId}`, contact_phone: '0711 000 111' },
    payment: { payment_method: 'bank', bank_code: bankCode, branch_code: 'BNK001-0042', account_number: account, payment_consent: 'yes' },
  };
}

/** A CLI environment that reads the fake's form; `extra` replaces the password by default (SPARCTL_ODK_PASSWORD). */
export function odkEnv(fake: FakeCentral, password: string, extra: Record<string, string> = { SPARCTL_ODK_PASSWORD: password }): CliEnv {
  return cliEnv({
    SPARCTL_ODK_URL: fake.url,
    SPARCTL_ODK_PROJECT: '3',
    SPARCTL_ODK_FORM: 'spar_enrolment',
    SPARCTL_ODK_EMAIL: ODK_EMAIL,
    ...extra,
  });
}

/** `sparctl import-odk` of the enrolment form, no overlap, in the environment's home. */
export const importOdk = (env: CliEnv, args: string[] = [], dfsp = ODK_DFSP) =>
  runMain(['import-odk', '--mapping', ODK_MAPPING, '--dfsp', dfsp, '--overlap', '0', ...args], { env: env.env, cwd: env.home });
