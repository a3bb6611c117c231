import { createHash } from 'node:crypto';
import { join } from 'node:path';
import type { OdkSubmission } from '../../src/core/odk.js';
import { ROOT } from './run-cli.js';

/** What the in-process import-odk tests share: the fixture mapping and DFSP list, the form's fields, submissions of it. */
export const MAPPING = join(ROOT, 'fixtures', 'enrolment.odk-mapping.json');
export const DFSP = join(ROOT, 'fixtures', 'odk-dfsp.json');

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
