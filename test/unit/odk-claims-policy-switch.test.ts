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

describe('--skip-review changed between runs: the mapper ends where the submissions say under the run’s policy', () => {
  const wider: ClaimPolicies = { skipReview: ['rejected', 'hasIssues'], onDelete: 'ignore', onReject: 'warn', reapply: false };
  const usual: ClaimPolicies = { ...wider, skipReview: ['rejected'] };
  // A (older) and B (newer, a reviewer said it has issues) name X.
  const a = { id: 'uuid:a', instance: 'uuid:a', date: '2026-12-01T10:00:00.000Z', review: 'received', deleted: false, beneficiary: 'X' };
  const b = { id: 'uuid:b', instance: 'uuid:b', date: '2026-12-02T10:00:00.000Z', review: 'hasIssues', deleted: false, beneficiary: 'X' };
  /** The first run, skipping hasIssues: A written. */
  const first = () => {
    const plan = planClaims({}, [a, b], wider);
    expect(plan.actions).toEqual([{ kind: 'apply', submission: 'uuid:a', beneficiary: 'X', why: 'new' }]);
    return settleClaims(plan.claims, [{ action: plan.actions[0]!, written: true, fa: 'faA', replaced: 'none' }]);
  };

  it('records that B was kept back by its review state', () => {
    expect(first()['uuid:b']!.skipped).toBe(true);
    expect(first()['uuid:a']!.skipped).toBe(false);
  });
  it('a run that skips rejected only writes B, whose content was never written (as --full reads both)', () => {
    expect(planClaims(first(), [a, b], usual).actions).toEqual([{ kind: 'apply', submission: 'uuid:b', beneficiary: 'X', why: 'edit' }]);
    expect(planClaims(first(), [b], usual).actions).toEqual([{ kind: 'apply', submission: 'uuid:b', beneficiary: 'X', why: 'edit' }]);
  });
  it('…also when its window reads neither (B is read again, as an older owner is)', () => {
    const plan = planClaims(first(), [], usual);
    expect(plan.actions).toEqual([{ kind: 'apply', submission: 'uuid:b', beneficiary: 'X', why: 'edit' }]);
    expect(plan.fetch).toEqual(['uuid:b']);
    expect(plan.claims['uuid:b']!.skipped).toBe(false);
  });
  it('once B is written, nothing more; and back to skipping hasIssues, A takes X back where the mapper holds B’s write', () => {
    const plan = planClaims(first(), [a, b], usual);
    const settled = settleClaims(plan.claims, [{ action: plan.actions[0]!, written: true, fa: 'faB', replaced: 'none' }]);
    expect(planClaims(settled, [a, b], usual).actions).toEqual([]);
    expect(planClaims(settled, [], wider).actions).toEqual([
      { kind: 'apply', submission: 'uuid:a', beneficiary: 'X', why: 'owner', onlyIfFa: 'faB' },
    ]);
  });
  it('B, an owner whose write the mapper refused, is not written again by a run that reads it again', () => {
    const plan = planClaims(first(), [a, b], usual);
    const settled = settleClaims(plan.claims, [{ action: plan.actions[0]!, written: false }]);
    expect(planClaims(settled, [a, b], usual).actions).toEqual([]);
  });
});
