import { describe, expect, it } from 'vitest';
import {
  planClaims,
  settleClaims,
  type Claim,
  type ClaimPolicies,
  type ClaimResult,
  type Replaced,
  type Submission,
} from '../../src/core/odk-claims.js';
import { referencePlanClaims, referenceSettleClaims } from '../helpers/odk-claims-reference.js';

/**
 * import-odk's ownership planner looks each beneficiary's claims up in indexes; it must decide
 * exactly what the planner that walked every claim decided (test/helpers/odk-claims-reference.ts):
 * the same actions, notes, fetches and claims, in the same order, over random histories in which
 * submissions share beneficiaries and dates, are deleted, rejected, edited and moved.
 */

function seeded(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state * 1664525 + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
}

function history(seed: number) {
  const next = seeded(seed);
  const pick = <T>(list: readonly T[]): T => list[Math.floor(next() * list.length)]!;
  const chance = (p: number) => next() < p;
  const people = ['B1', 'B2', 'B3', 'B4', 'B5'];
  const ids = Array.from({ length: 12 }, (_, i) => `uuid:${i}`);
  const dates = ['2026-11-01T10:00:00.000Z', '2026-11-01T10:00:00.000Z', '2026-11-02T09:00:00.000Z', '2026-11-03T08:30:00.000Z'];
  const reviews = ['received', 'approved', 'rejected', 'hasIssues', 'edited'];
  const before: Record<string, Claim> = {};
  for (const id of ids) {
    if (!chance(0.6)) continue;
    before[id] = {
      instance: pick(['i1', 'i2']),
      date: pick(dates),
      review: pick(reviews),
      deleted: chance(0.15),
      ...(chance(0.9) ? { beneficiary: pick(people) } : {}),
      ...(chance(0.5) ? { wrote: { beneficiary: pick(people), fa: pick(['fa1', 'fa2', 'fa3']), ...replacedOf(pick([0, 1, 2, 3])) } } : {}),
      // As the run that planned it decided, under its own policies; absent from older states.
      ...(chance(0.7) ? { skipped: chance(0.3) } : {}),
    };
    // Writes left on IDs the submission no longer names (each ID once per claim).
    if (chance(0.3)) {
      const free = people.filter((p) => p !== before[id]!.wrote?.beneficiary);
      const left = free
        .filter(() => chance(0.3))
        .map((beneficiary) => ({ beneficiary, fa: pick(['fa1', 'fa2', 'fa3']), ...replacedOf(pick([0, 1, 2, 3])) }));
      if (left.length > 0) before[id] = { ...before[id]!, left };
    }
  }
  const window: Submission[] = ids
    .filter(() => chance(0.5))
    .map((id) => ({
      id,
      instance: pick(['i1', 'i2', 'i3']),
      date: pick(dates),
      review: pick(reviews),
      deleted: chance(0.15),
      beneficiary: chance(0.9) ? pick(people) : undefined,
    }));
  const policies: ClaimPolicies = {
    skipReview: chance(0.5) ? ['rejected'] : ['rejected', 'hasIssues'],
    onDelete: pick(['ignore', 'unlink'] as const),
    onReject: pick(['keep', 'warn', 'unlink'] as const),
    reapply: chance(0.2),
  };
  const force = new Set(ids.filter(() => chance(0.05)));
  return { before, window, policies, force, next, pick, chance };
}

/** What a write replaced: created the link, updated one holding an FA, or not recorded (an earlier sparctl). */
function replacedOf(which: number): { replaced?: Replaced } {
  if (which === 0) return { replaced: 'none' };
  if (which === 1) return { replaced: { fa: { account_number: '000999', strategy_id: 4 } } };
  // With the name and phone the link held (null: none), as the local mapper tells them.
  if (which === 3) return { replaced: { fa: { account_number: '000998', strategy_id: 4 }, name: 'Admin', phone: null } };
  return {};
}

describe('import-odk ownership planner', () => {
  it('plans as the planner that walked every claim, over 3,000 random windows', () => {
    let actions = 0;
    for (let seed = 1; seed <= 3_000; seed++) {
      const { before, window, policies, force } = history(seed);
      const plan = planClaims(before, window, policies, force);
      const reference = referencePlanClaims(before, window, policies, force);
      expect(plan, `seed ${seed}`).toEqual(reference);
      expect(Object.keys(plan.claims), `seed ${seed}`).toEqual(Object.keys(reference.claims));
      actions += plan.actions.length;
    }
    // The histories must exercise the planner, not only agree on empty plans.
    expect(actions).toBeGreaterThan(3_000);
  });

  it('settles results as the settler that walked every claim', () => {
    for (let seed = 1; seed <= 3_000; seed++) {
      const { before, window, policies, force, pick, chance } = history(seed);
      const plan = planClaims(before, window, policies, force);
      const results: ClaimResult[] = plan.actions.map((action) =>
        action.kind === 'apply'
          ? {
              action,
              written: chance(0.7),
              ...(chance(0.8) ? { fa: pick(['fa1', 'fa4']) } : {}),
              ...(chance(0.2) ? { overwritten: true } : {}),
              ...replacedOf(pick([0, 1, 2, 3])),
            }
          : { action, written: chance(0.7), ...(chance(0.6) ? { gone: true } : {}) },
      );
      const settled = settleClaims(plan.claims, results);
      const reference = referenceSettleClaims(plan.claims, results);
      expect(settled, `seed ${seed}`).toEqual(reference);
      expect(Object.keys(settled)).toEqual(Object.keys(reference));
    }
  });
});

describe('import-odk undoes a write as what it replaced', () => {
  const policies: ClaimPolicies = { skipReview: ['rejected'], onDelete: 'unlink', onReject: 'unlink', reapply: false };
  const claim = (replaced: { replaced?: Replaced }): Record<string, Claim> => ({
    'uuid:a': {
      instance: 'i1',
      date: '2026-11-01T10:00:00.000Z',
      review: 'received',
      deleted: false,
      beneficiary: '0070000008',
      wrote: { beneficiary: '0070000008', fa: 'digest', ...replaced },
    },
  });
  const deleted: Submission[] = [
    { id: 'uuid:a', instance: 'i1', date: '2026-11-01T10:00:00.000Z', review: 'received', deleted: true, beneficiary: '0070000008' },
  ];
  const rejected: Submission[] = [{ ...deleted[0]!, deleted: false, review: 'rejected' }];

  it('unlinks a link its write created', () => {
    const plan = planClaims(claim({ replaced: 'none' }), deleted, policies);
    expect(plan.actions).toEqual([{ kind: 'undo', submission: 'uuid:a', beneficiary: '0070000008', fa: 'digest', why: 'deleted' }]);
  });

  it('puts back the name and phone the link held with its FA, where they were recorded (null: it held none)', () => {
    const fa = { account_number: '000999', strategy_id: 4 };
    const plan = planClaims(claim({ replaced: { fa, name: 'Admin Name', phone: null } }), deleted, policies);
    expect(plan.actions).toEqual([
      {
        kind: 'undo',
        submission: 'uuid:a',
        beneficiary: '0070000008',
        fa: 'digest',
        why: 'deleted',
        restore: fa,
        restoreName: 'Admin Name',
        restorePhone: null,
      },
    ]);
  });

  it("puts back the FA a link held before its write updated it (an admin's link): never unlinks it", () => {
    const fa = { account_number: '000999', strategy_id: 4 };
    for (const window of [deleted, rejected]) {
      const plan = planClaims(claim({ replaced: { fa } }), window, policies);
      expect(plan.actions).toEqual([
        {
          kind: 'undo',
          submission: 'uuid:a',
          beneficiary: '0070000008',
          fa: 'digest',
          why: window[0]!.deleted ? 'deleted' : 'rejected',
          restore: fa,
        },
      ]);
    }
  });

  it('keeps, and says so, a write recorded by an earlier sparctl (what it replaced unknown)', () => {
    for (const window of [deleted, rejected]) {
      const plan = planClaims(claim({}), window, policies);
      expect(plan.actions).toEqual([]);
      expect(plan.notes.join('\n')).toContain('0070000008 stays linked');
    }
  });

  it('a submission moved to another beneficiary: the undo of its old write never forgets the new one, whichever settles first', () => {
    const moved: Submission[] = [{ ...deleted[0]!, deleted: false, instance: 'i2', beneficiary: '0070000001' }];
    const plan = planClaims(claim({ replaced: 'none' }), moved, policies);
    const apply = plan.actions.find((action) => action.kind === 'apply')!;
    const undo = plan.actions.find((action) => action.kind === 'undo')!;
    expect([apply.beneficiary, undo.beneficiary]).toEqual(['0070000001', '0070000008']);
    for (const order of [
      [apply, undo],
      [undo, apply],
    ]) {
      const results: ClaimResult[] = order.map((action) =>
        action.kind === 'apply' ? { action, written: true, fa: 'new', replaced: 'none' } : { action, written: true, gone: true },
      );
      const settled = settleClaims(plan.claims, results);
      expect(settled['uuid:a']?.wrote).toEqual({ beneficiary: '0070000001', fa: 'new', replaced: 'none' });
    }
  });

  it('records what a confirmed write replaced', () => {
    const plan = planClaims({}, [{ ...deleted[0]!, deleted: false }], policies);
    const settled = settleClaims(plan.claims, [
      { action: plan.actions[0]!, written: true, fa: 'digest', replaced: { fa: { account_number: '000999' } } },
    ]);
    expect(settled['uuid:a']?.wrote).toEqual({ beneficiary: '0070000008', fa: 'digest', replaced: { fa: { account_number: '000999' } } });
  });
});

describe("import-odk's counts: only a submission whose write is recorded is already applied", () => {
  const policies: ClaimPolicies = { skipReview: ['rejected'], onDelete: 'ignore', onReject: 'warn', reapply: false };
  const a: Submission = {
    id: 'uuid:a',
    instance: 'ia',
    date: '2026-12-01T10:00:00.000Z',
    review: 'received',
    deleted: false,
    beneficiary: 'X',
  };
  const b: Submission = {
    id: 'uuid:b',
    instance: 'ib',
    date: '2026-12-02T10:00:00.000Z',
    review: 'received',
    deleted: false,
    beneficiary: 'X',
  };
  const first = planClaims({}, [a, b], policies);
  const settled = settleClaims(first.claims, [{ action: first.actions[0]!, written: true, fa: 'faB', replaced: 'none' }]);

  it('read again: B applied, A owned by B (never written)', () => {
    expect(planClaims(settled, [a, b], policies).counts).toEqual({
      alreadyApplied: 1,
      skippedByReview: 0,
      deleted: 0,
      otherOwner: 1,
      unnamed: [],
      notWritten: [],
    });
  });
  it('both deleted: B was applied, A deleted before it was', () => {
    const plan = planClaims(
      settled,
      [
        { ...a, deleted: true },
        { ...b, deleted: true },
      ],
      policies,
    );
    expect(plan.counts).toMatchObject({ alreadyApplied: 1, deleted: 1, otherOwner: 0 });
  });
  it("B's write refused by the mapper: read again, it is not said applied", () => {
    const refused = settleClaims(first.claims, [{ action: first.actions[0]!, written: false }]);
    expect(planClaims(refused, [a, b], policies).counts).toMatchObject({ alreadyApplied: 0, otherOwner: 1, notWritten: ['uuid:b'] });
  });
  it('skipped for its review state, read again: still skipped', () => {
    const rejected = { ...a, id: 'uuid:r', review: 'rejected', beneficiary: 'Y' };
    const seen = planClaims({}, [rejected], policies);
    expect(planClaims(seen.claims, [rejected], policies).counts).toMatchObject({ alreadyApplied: 0, skippedByReview: 1 });
  });
});
