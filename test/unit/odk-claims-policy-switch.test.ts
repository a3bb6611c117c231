import { describe, expect, it } from 'vitest';
import { planClaims, type Claim, type ClaimPolicies } from '../../src/core/odk-claims.js';

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
