import { describe, expect, it } from 'vitest';
import { spoolRecords, type SpoolLine } from '../../src/app/import-odk.js';
import type { BulkInputRecord } from '../../src/core/bulk/types.js';
import { compileMapping } from '../../src/core/mapping.js';
import { DEFAULT_STRATEGIES } from '../../src/core/strategy/strategy.js';

/*
 * import-odk and an ID holding a space that only looks like the ordinary one: an apply (an
 * upsert, which may create a link) is a reject naming the character, while the undo of an
 * earlier write — an unlink, or an update putting back the FA it replaced — still reaches the
 * beneficiary, so a link made under such an ID is never stranded.
 */

const NBSP_ID = 'BENE\u00a01';
const FA = { fa_type: 'BANK', bank_name: 'Example Bank', bank_code: 'EXB', branch_name: 'Main', branch_code: '0001' };
const mapping = compileMapping(
  {
    id: 'pid',
    fa: {
      type: { const: 'BANK' },
      bank_name: 'bank_name',
      bank_code: 'bank',
      branch_name: 'branch_name',
      branch_code: 'branch',
      account_number: 'account',
    },
  },
  'map.json',
);

function submission(id: string, pid: string) {
  return {
    __id: id,
    __system: { submissionDate: '2026-01-02T00:00:00.000Z', updatedAt: null, deletedAt: null, reviewState: null },
    meta: { instanceID: `uuid:${id}` },
    pid,
    bank_name: FA.bank_name,
    bank: FA.bank_code,
    branch_name: FA.branch_name,
    branch: FA.branch_code,
    account: '111',
  };
}

async function recordsOf(lines: SpoolLine[]): Promise<BulkInputRecord[]> {
  async function* one() {
    yield lines;
  }
  const out: BulkInputRecord[] = [];
  const how = {
    mapping,
    dfsp: undefined,
    form: 'f',
    columns: ['odk_submission', 'odk_instance', 'odk_submitter', 'odk_submission_date', 'odk_review_state'],
    strategies: new Map(DEFAULT_STRATEGIES.map((s) => [s.id, s])),
    faDigest: (fa: string) => `digest:${fa.length}`,
    digests: new Map<number, string>(),
  };
  for await (const batch of spoolRecords(one(), how)) out.push(...batch);
  return out;
}

describe('import-odk: a look-alike space in the ID', () => {
  it('refuses the apply, keeps both undos', async () => {
    const lines: SpoolLine[] = [
      { line: 1, record: {} },
      {
        line: 2,
        record: { action: { kind: 'apply', submission: 's1', beneficiary: NBSP_ID, why: 'new' }, submission: submission('s1', NBSP_ID) },
      },
      {
        line: 3,
        record: {
          action: {
            kind: 'undo',
            submission: 's2',
            beneficiary: NBSP_ID,
            fa: 'd2',
            why: 'deleted',
            restore: { ...FA, strategy_id: 2, account_number: '999' },
          },
          submission: submission('s2', NBSP_ID),
        },
      },
      {
        line: 4,
        record: {
          action: { kind: 'undo', submission: 's3', beneficiary: NBSP_ID, fa: 'd3', why: 'deleted' },
          submission: submission('s3', NBSP_ID),
        },
      },
    ];
    const [apply, restore, unlink] = await recordsOf(lines);
    expect(apply!.key).toBe(NBSP_ID);
    expect(apply!.parsed).toEqual({
      ok: false,
      problems: [
        {
          field: 'id',
          message:
            'id contains U+00A0 (NO-BREAK SPACE), which only looks like an ordinary space (linked, it would be another beneficiary); retype the ID',
          code: 'input.invalid',
        },
      ],
    });
    expect(restore!.parsed).toMatchObject({
      ok: true,
      mode: 'update',
      value: { id: NBSP_ID, onlyIfFa: 'd2', fa: { account_number: '999' } },
    });
    expect(unlink!.parsed).toEqual({ ok: true, mode: 'unlink', value: { id: NBSP_ID, onlyIfFa: 'd3' } });
  });
});
