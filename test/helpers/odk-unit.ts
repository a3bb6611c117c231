import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ImportOdkDeps, ImportOdkInput, OdkWindowJob } from '../../src/app/import-odk.js';
import type { RecordEvent } from '../../src/core/bulk/events.js';
import type { BulkInputRecord } from '../../src/core/bulk/types.js';
import type { OdkSubmission } from '../../src/core/odk.js';
import { DEFAULT_STRATEGIES } from '../../src/core/strategy/strategy.js';
import { ROOT } from './run-cli.js';

/** What the in-process import-odk tests share: the fixture mapping and DFSP list, the form's fields, submissions of it. */
export const MAPPING = join(ROOT, 'fixtures', 'enrolment.odk-mapping.json');
export const DFSP = join(ROOT, 'fixtures', 'odk-dfsp.json');

/** A run of the fixture files with the defaults a test starts from (rejected submissions skipped, deletions ignored). */
export const ODK_INPUT: ImportOdkInput = {
  mapping: MAPPING,
  dfsp: DFSP,
  skipReview: 'rejected',
  onDelete: 'ignore',
  onReject: 'warn',
  overlap: 0,
  pageSize: 250,
  interval: 60,
};

/** The fields Central lists for the fixture form (all strings). */
export const FIELDS = [
  'beneficiary/national_id',
  'beneficiary/full_name',
  'beneficiary/contact_phone',
  'payment/payment_method',
  'payment/bank_code',
  'payment/branch_code',
  'payment/account_number',
  'payment/mobile_money_provider',
  'payment/email_wallet_provider',
  'payment/mobile_money_number',
  'payment/email_wallet_address',
  'payment/payment_consent',
].map((path) => ({ path: `/${path}`, type: 'string' }));

export const sha256 = (text: string, encoding: 'hex' | 'base64url') => createHash('sha256').update(text).digest(encoding);

/** A bank submission of the fixture form naming `nationalId`. */
export function submission(id: string, nationalId: string, date: string, extra: Partial<OdkSubmission['__system']> = {}): OdkSubmission {
  return {
    __id: id,
    __system: { submissionDate: date, updatedAt: null, deletedAt: null, reviewState: null, ...extra },
    meta: { instanceID: id },
    beneficiary: { national_id: nationalId, full_name: `Person ${nationalId}`, contact_phone: '0711 000 111' },
    payment: { payment_method: 'bank', bank_code: 'BNK001', branch_code: 'BNK001-0042', account_number: '000111', payment_consent: 'yes' },
  };
}

/** The engine records of a window's spool text, as the bulk job reads them (line 1, the window's own, included). */
export async function windowRecords(job: OdkWindowJob, spool: string): Promise<BulkInputRecord[]> {
  const lines = spool
    .split('\n')
    .filter(Boolean)
    .map((text, i) => ({ line: i + 1, record: JSON.parse(text) as Record<string, unknown> }));
  const records: BulkInputRecord[] = [];
  for await (const batch of job.records(
    (async function* () {
      yield lines;
    })(),
    new Map(DEFAULT_STRATEGIES.map((s) => [s.id, s])),
  ))
    records.push(...batch);
  return records;
}

/**
 * import-odk's deps for an in-process run: Central project 3, form spar_enrolment, a local
 * mapper, no waiting; the store, the client, the window runner (and the mapper read) given.
 */
export function odkDeps(
  given: Pick<ImportOdkDeps, 'openStore' | 'openCentral' | 'runWindow'> & Partial<Pick<ImportOdkDeps, 'readMapper'>>,
  notes: string[],
): ImportOdkDeps {
  return {
    settings: { odkUrl: 'https://central.test', odkProject: 3, odkForm: 'spar_enrolment' },
    yes: true,
    quiet: false,
    readText: async (file: string) => readFileSync(file, 'utf8'),
    parseJson: (text: string) => JSON.parse(text),
    targetDfsp: async () => undefined,
    announceTarget: () => undefined,
    mapperIdentity: async () => 'local /db abc',
    sha256,
    readMapper: async () => new Map(),
    lastChange: async () => undefined,
    onInterrupt: () => () => undefined,
    clock: () => 0,
    sleep: async () => undefined,
    note: (line: string) => notes.push(line),
    ...given,
  } as unknown as ImportOdkDeps;
}

/** The event a bulk run gives a record of a window it applied (`event`: its operation, or more). */
export function appliedEvent(record: BulkInputRecord, event: Partial<RecordEvent>): RecordEvent {
  return { type: 'record', seq: record.seq, id: record.key, fate: 'applied', code: null, message: null, ...event } as RecordEvent;
}
