import { describe, expect, it } from 'vitest';
import { pendingUndos, planClaims, settleClaims, type Claim, type ClaimPolicies } from '../../src/core/odk-claims.js';

describe('a rejection first kept (--on-reject warn), then undone (--on-reject unlink)', () => {
  const warn: ClaimPolicies = { skipReview: ['rejected'], onDelete: 'ignore', onReject: 'warn', reapply: false };
  const unlink: ClaimPolicies = { ...warn, onReject: 'unlink' };
  // A (older) and B (newer) name X; B wrote X; a reviewer rejected B and a warn run recorded it.
  const claims: Record<string, Claim> = {
    'uuid:a': { instance: 'uuid:a', date: '2026-12-01T10:00:00.000Z', review: 'received', deleted: false, beneficiary: 'X' },
    'uuid:b': {
      instance: 'uuid:b',
      date: '2026-12-02T10:00:00.000Z',
      review: 'rejected',
      deleted: false,
      beneficiary: 'X',
      wrote: { beneficiary: 'X', fa: 'faB', replaced: 'none' },
    },
  };
  const window = [
    { id: 'uuid:b', instance: 'uuid:b', date: '2026-12-02T10:00:00.000Z', review: 'rejected', deleted: false, beneficiary: 'X' },
  ];

  it('warn keeps B', () => {
    expect(planClaims(claims, window, warn).actions).toEqual([]);
  });
  it('unlink hands X back to A, as a direct unlink run would', () => {
    expect(planClaims(claims, window, unlink).actions).toEqual([
      { kind: 'apply', submission: 'uuid:a', beneficiary: 'X', why: 'owner', onlyIfFa: 'faB' },
    ]);
  });
});

describe('an edit to another ID under --on-delete ignore, then a run with unlink', () => {
  const ignore: ClaimPolicies = { skipReview: ['rejected'], onDelete: 'ignore', onReject: 'warn', reapply: false };
  const unlink: ClaimPolicies = { ...ignore, onDelete: 'unlink' };
  const before: Record<string, Claim> = {
    'uuid:s': {
      instance: 'i1',
      date: '2026-12-01T10:00:00.000Z',
      review: 'received',
      deleted: false,
      beneficiary: 'A',
      wrote: { beneficiary: 'A', fa: 'faA', replaced: 'none' },
    },
  };
  const moved = [{ id: 'uuid:s', instance: 'i2', date: '2026-12-01T10:00:00.000Z', review: 'edited', deleted: false, beneficiary: 'B' }];

  it('keeps the record of the write on A beside the new one, and a later unlink run undoes it without reading the submission', () => {
    const plan = planClaims(before, moved, ignore);
    expect(plan.notes).toEqual(['uuid:s now names B; A stays linked (--on-delete unlink --yes undoes such links)']);
    const apply = plan.actions.find((action) => action.kind === 'apply')!;
    const settled = settleClaims(plan.claims, [{ action: apply, written: true, fa: 'faB', replaced: 'none' }]);
    expect(settled['uuid:s']!.wrote).toEqual({ beneficiary: 'B', fa: 'faB', replaced: 'none' });
    expect(settled['uuid:s']!.left).toEqual([{ beneficiary: 'A', fa: 'faA', replaced: 'none' }]);
    expect(pendingUndos(settled, ignore)).toEqual([]);
    expect(pendingUndos(settled, unlink)).toEqual(['uuid:s']);
    const later = planClaims(settled, [], unlink);
    expect(later.actions).toEqual([{ kind: 'undo', submission: 'uuid:s', beneficiary: 'A', fa: 'faA', why: 'moved' }]);
    // Undone: forgotten, the write on B kept.
    const done = settleClaims(later.claims, [{ action: later.actions[0]!, written: true, gone: true }]);
    expect(done['uuid:s']!.wrote).toEqual({ beneficiary: 'B', fa: 'faB', replaced: 'none' });
    expect(done['uuid:s']!.left).toBeUndefined();
    expect(planClaims(done, [], unlink).actions).toEqual([]);
    // --instance-id plans no undo the state holds.
    expect(planClaims(settled, [], unlink, new Set(), false).actions).toEqual([]);
  });

  it('a state written before `left` existed loads as it was: no write left behind', () => {
    expect(pendingUndos(before, unlink)).toEqual([]);
  });
});
