import { describe, expect, it } from 'vitest';
import { planClaims, settleClaims, type Claim, type ClaimPolicies, type ClaimResult, type Submission } from '../../src/core/odk-claims.js';
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
      ...(chance(0.5) ? { wrote: { beneficiary: pick(people), fa: pick(['fa1', 'fa2', 'fa3']) } } : {}),
    };
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
