import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { applyMapping, compileMapping, mappingSources, objectRow } from '../../src/core/mapping.js';
import {
  changeFilter,
  deletionFilter,
  latestStates,
  mappingFieldProblems,
  provenanceOf,
  windowStart,
  type OdkSubmission,
} from '../../src/core/odk.js';

/** Rows in the shape of Central's OData feed (groups nested, empty fields null). */
const examples = (): OdkSubmission[] => JSON.parse(readFileSync('test/fixtures/odk-submissions.json', 'utf8')) as OdkSubmission[];

function submission(id: string, system: Partial<OdkSubmission['__system']>, instance = id): OdkSubmission {
  return {
    __id: id,
    __system: {
      submissionDate: '2026-03-14T06:00:00.000Z',
      updatedAt: null,
      deletedAt: null,
      reviewState: null,
      submitterName: 'enum-07',
      ...system,
    },
    meta: { instanceID: instance },
  };
}

describe('ODK windows', () => {
  it('asks for new and changed submissions since the watermark minus the overlap', () => {
    expect(windowStart(undefined, 300)).toBeUndefined();
    expect(changeFilter(undefined)).toBeUndefined();
    const from = windowStart('2026-03-15T08:03:27.644Z', 300);
    expect(from).toBe('2026-03-15T07:58:27.644Z');
    expect(changeFilter(from)).toBe(
      '__system/submissionDate ge 2026-03-15T07:58:27.644Z or __system/updatedAt ge 2026-03-15T07:58:27.644Z',
    );
    expect(deletionFilter(from)).toBe('__system/deletedAt ge 2026-03-15T07:58:27.644Z');
    expect(deletionFilter(undefined)).toBe('not (__system/deletedAt eq null)');
  });

  it('keeps the latest state of each submission a poll read, deletions included, and the newest stamp', () => {
    const a = submission('uuid:a', { submissionDate: '2026-03-14T06:00:00.000Z' });
    const bOld = submission('uuid:b', { submissionDate: '2026-03-14T05:00:00.000Z' }, 'uuid:b');
    const bEdited = submission(
      'uuid:b',
      { submissionDate: '2026-03-14T05:00:00.000Z', updatedAt: '2026-03-14T07:00:00.000Z', reviewState: 'edited' },
      'uuid:b2',
    );
    const x = submission('uuid:x', { submissionDate: '2026-03-14T06:00:00.000Z' });
    const xDeleted = submission('uuid:x', { submissionDate: '2026-03-14T06:00:00.000Z', deletedAt: '2026-03-14T09:00:00.000Z' });
    const { latest, newestStamp } = latestStates([a, bEdited, bOld, x], [xDeleted]);
    expect([...latest.values()].map((s) => [s.__id, s.meta?.instanceID, s.__system.deletedAt])).toEqual([
      ['uuid:a', 'uuid:a', null],
      ['uuid:b', 'uuid:b2', null],
      ['uuid:x', 'uuid:x', '2026-03-14T09:00:00.000Z'],
    ]);
    expect(newestStamp).toBe('2026-03-14T09:00:00.000Z');
  });

  it('keeps provenance: form, __id, instanceID, enumerator, submission date', () => {
    const [row] = examples();
    expect(provenanceOf(row!, 'spar_enrolment')).toEqual({
      odk_form: 'spar_enrolment',
      odk_submission: row!.__id,
      odk_instance: (row!.meta as { instanceID: string }).instanceID,
      odk_submitter: 'enum-nakuru-03',
      odk_submission_date: row!.__system.submissionDate,
    });
  });
});

describe('ODK mappings', () => {
  const mapping = compileMapping(JSON.parse(readFileSync('fixtures/enrolment.odk-mapping.json', 'utf8')), 'enrolment.odk-mapping.json');

  it('reads the example submissions of all three payment kinds, "first" picking the filled provider field', () => {
    const records = examples().map((row) => applyMapping(mapping, objectRow(row)));
    expect(
      records.map((r) =>
        r.ok ? [r.record['id'], r.record['fa_type'], r.record['wallet_provider_code'] ?? r.record['bank_code']] : r.problems,
      ),
    ).toEqual([
      ['0070011223', 'BANK', 'BNK001'],
      ['0070044556', 'MOBILE_WALLET', 'MPESA'],
      ['0070077889', 'EMAIL_WALLET', 'PAYPAL'],
    ]);
  });

  it('checks the paths against the form: a missing field and a number-typed account are named', () => {
    const fields = [
      { path: '/beneficiary/national_id', type: 'string' },
      { path: '/beneficiary/full_name', type: 'string' },
      { path: '/beneficiary/contact_phone', type: 'string' },
      { path: '/payment/payment_method', type: 'string' },
      { path: '/payment/bank_code', type: 'string' },
      { path: '/payment/branch_code', type: 'string' },
      { path: '/payment/account_number', type: 'int' },
      { path: '/payment/mobile_money_provider', type: 'string' },
      { path: '/payment/mobile_money_number', type: 'string' },
      { path: '/payment/email_wallet_address', type: 'string' },
    ];
    const problems = mappingFieldProblems(mappingSources(mapping), fields);
    expect(problems).toEqual([
      expect.stringMatching(/^account_number reads "payment\.account_number", an int field: .*leading zeros/),
      expect.stringMatching(
        /^wallet_provider_code reads "payment\.email_wallet_provider", which the form does not have \(fields there: payment\.payment_method, /,
      ),
    ]);
  });
});
