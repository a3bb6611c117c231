import type { Claim, ClaimAction, ClaimPlan, ClaimPolicies, ClaimResult, Submission, Wrote } from '../../src/core/odk-claims.js';

/**
 * The ownership planner as first written (core/odk-claims.ts before its indexes): every
 * beneficiary looked up by walking all claims. Kept as the oracle the indexed one is held to
 * (test/unit/odk-claims.test.ts); quadratic, so for small inputs only. A claim's writes are its
 * last (`wrote`) and those it left on IDs it no longer names (`left`), in that order.
 */

const writes = (claim: Claim): Wrote[] => [...(claim.wrote ? [claim.wrote] : []), ...(claim.left ?? [])];
const writeOn = (claim: Claim, beneficiary: string): Wrote | undefined => writes(claim).find((w) => w.beneficiary === beneficiary);

const newer = (a: { date: string; id: string }, b: { date: string; id: string }) => {
  const byDate = Date.parse(a.date) - Date.parse(b.date);
  return byDate !== 0 ? byDate > 0 : a.id > b.id;
};

/** Whether a claim's review state keeps it from claiming under these policies. */
function reviewSkips(claim: Claim, policies: ClaimPolicies): boolean {
  if (!policies.skipReview.includes(claim.review)) return false;
  // Rejected (or another skipped state) after its content was written: it still holds the ID
  // unless the policy undoes that write.
  return !(claim.review === 'rejected' && policies.onReject !== 'unlink' && claim.wrote?.beneficiary === claim.beneficiary);
}

/** Whether a claim claims its beneficiary now. */
function claims(claim: Claim, policies: ClaimPolicies): boolean {
  return !claim.deleted && claim.beneficiary !== undefined && !reviewSkips(claim, policies);
}

/**
 * The submission that owns a beneficiary: its claimant submitted last — now, or (`asPlanned`)
 * as the run that last planned each claim decided (its `skipped`; these policies where absent).
 */
function ownerOf(
  beneficiary: string,
  all: Readonly<Record<string, Claim>>,
  policies: ClaimPolicies,
  asPlanned = false,
): string | undefined {
  let owner: { id: string; date: string } | undefined;
  for (const [id, claim] of Object.entries(all)) {
    if (claim.beneficiary !== beneficiary || claim.deleted) continue;
    if (asPlanned ? (claim.skipped ?? reviewSkips(claim, policies)) : !claims(claim, policies)) continue;
    if (owner === undefined || newer({ id, date: claim.date }, owner)) owner = { id, date: claim.date };
  }
  return owner?.id;
}

/** `force`: submissions whose content counts as new whatever was considered before (--instance-id). */
export function referencePlanClaims(
  before: Readonly<Record<string, Claim>>,
  window: readonly Submission[],
  policies: ClaimPolicies,
  force: ReadonlySet<string> = new Set(),
  pending = true,
): ClaimPlan {
  const after: Record<string, Claim> = { ...before };
  const notes: string[] = [];
  const touched = new Set<string>();
  const contentNew = new Set<string>();
  for (const s of window) {
    const old = before[s.id];
    const edited = old === undefined || old.instance !== s.instance || force.has(s.id);
    // A content change (or a first sight) is written when it owns; a review change is not content.
    const skippedBefore = old !== undefined && old.wrote === undefined && (old.skipped ?? reviewSkips(old, policies));
    if (edited || (skippedBefore && !policies.skipReview.includes(s.review) && !s.deleted)) contentNew.add(s.id);
    const read: Claim = {
      instance: s.instance,
      date: s.date,
      review: s.review,
      deleted: s.deleted,
      ...(s.beneficiary === undefined ? {} : { beneficiary: s.beneficiary }),
      ...(old?.wrote === undefined ? {} : { wrote: old.wrote }),
      ...(old?.left === undefined ? {} : { left: old.left }),
    };
    const claim: Claim = { ...read, skipped: reviewSkips(read, policies) };
    after[s.id] = claim;
    if (old?.beneficiary !== undefined) touched.add(old.beneficiary);
    for (const write of old === undefined ? [] : writes(old)) touched.add(write.beneficiary);
    if (s.beneficiary !== undefined) touched.add(s.beneficiary);
    if (
      !s.deleted &&
      s.review === 'rejected' &&
      old !== undefined &&
      old.review !== 'rejected' &&
      old.wrote !== undefined &&
      policies.onReject === 'warn'
    ) {
      notes.push(
        `${s.id} was rejected by a reviewer after it was applied; ${old.wrote.beneficiary} stays linked (--on-reject unlink --yes undoes such links)`,
      );
    }
  }
  if (policies.reapply) {
    for (const claim of Object.values(after))
      if (claims(claim, policies) && claim.beneficiary !== undefined) touched.add(claim.beneficiary);
  }
  // Claims the window did not read whose review state these policies judge otherwise than the
  // run that planned them: planned again; content kept back by its review state is new.
  if (pending) {
    const read = new Set(window.map((s) => s.id));
    for (const [id, claim] of Object.entries(after)) {
      if (read.has(id) || claim.skipped === reviewSkips(claim, policies)) continue;
      after[id] = { ...claim, skipped: reviewSkips(claim, policies) };
      if (claim.skipped === undefined || claim.deleted || claim.beneficiary === undefined) continue;
      touched.add(claim.beneficiary);
      if (claim.skipped && claim.wrote === undefined) contentNew.add(id);
    }
  }

  // Undos an earlier run left (not allowed then, or not done): every write whose ID no one
  // claims, kept with what it replaced, that the policies now allow undoing.
  if (pending) {
    for (const claim of Object.values(after)) {
      for (const write of writes(claim)) {
        if (write.replaced === undefined || ownerOf(write.beneficiary, after, policies) !== undefined) continue;
        const why = claim.deleted ? 'deleted' : claim.beneficiary !== write.beneficiary ? 'moved' : 'rejected';
        if (why === 'rejected' ? policies.onReject === 'unlink' : policies.onDelete === 'unlink') touched.add(write.beneficiary);
      }
    }
  }

  const actions: ClaimAction[] = [];
  const fetch = new Set<string>();
  const windowIds = new Set(window.map((s) => s.id));
  for (const beneficiary of [...touched].sort()) {
    const ownerBefore = ownerOf(beneficiary, before, policies, true);
    const owner = ownerOf(beneficiary, after, policies);
    if (owner !== undefined) {
      for (const s of window) {
        const was = before[s.id]?.beneficiary;
        if (was === beneficiary && s.id !== owner && (s.deleted || s.beneficiary !== beneficiary) && !before[s.id]?.deleted) {
          notes.push(
            `${s.id} ${s.deleted ? 'was deleted in Central' : `now names ${s.beneficiary ?? 'no beneficiary'}`}; ${beneficiary} is still named by submission ${owner}, which owns it: not unlinked`,
          );
        }
      }
      const why = contentNew.has(owner)
        ? before[owner] === undefined
          ? 'new'
          : 'edit'
        : owner !== ownerBefore ||
            Object.entries(after).some(
              ([id, claim]) =>
                id !== owner &&
                writeOn(claim, beneficiary) !== undefined &&
                !(claims(claim, policies) && claim.beneficiary === beneficiary),
            )
          ? 'owner'
          : policies.reapply
            ? 'reapply'
            : undefined;
      if (why === undefined) continue;
      // New content is written whatever the mapper holds; a change of owner or a reapply only
      // where the mapper still holds what the importer wrote there (if it wrote anything).
      const written =
        why === 'new' || why === 'edit'
          ? undefined
          : Object.values(after)
              .map((other) => writeOn(other, beneficiary))
              .find((write) => write !== undefined)?.fa;
      actions.push({ kind: 'apply', submission: owner, beneficiary, why, ...(written === undefined ? {} : { onlyIfFa: written }) });
      if (!windowIds.has(owner)) fetch.add(owner);
      for (const [id, other] of Object.entries(after)) {
        if (id !== owner && contentNew.has(id) && other.beneficiary === beneficiary && claims(other, policies)) {
          notes.push(`${id} names ${beneficiary}, but ${owner} was submitted later and owns it: not applied`);
        }
      }
      continue;
    }
    // No claimant is left: undo the importer's own write, where a policy says so.
    const writer = Object.entries(after).find(([, claim]) => writeOn(claim, beneficiary) !== undefined);
    if (writer === undefined) {
      const gone = window.find(
        (s) => (before[s.id]?.beneficiary ?? s.beneficiary) === beneficiary && (s.deleted || s.beneficiary !== beneficiary),
      );
      if (gone !== undefined && ownerBefore !== undefined)
        notes.push(`${gone.id} no longer names ${beneficiary}, but this importer never linked it: left as it is`);
      continue;
    }
    const [id, claim] = writer;
    const why: 'deleted' | 'rejected' | 'moved' = claim.deleted ? 'deleted' : claim.beneficiary !== beneficiary ? 'moved' : 'rejected';
    const allowed = why === 'rejected' ? policies.onReject === 'unlink' : policies.onDelete === 'unlink';
    if (!allowed) {
      if (why !== 'rejected')
        notes.push(
          `${id} ${why === 'deleted' ? 'was deleted' : `now names ${claim.beneficiary ?? 'no beneficiary'}`}; ${beneficiary} stays linked (--on-delete unlink --yes undoes such links)`,
        );
      continue;
    }
    const write = writeOn(claim, beneficiary)!;
    const replaced = write.replaced;
    if (replaced === undefined) {
      notes.push(
        `${id} ${why === 'deleted' ? 'was deleted' : why === 'rejected' ? 'was rejected' : `now names ${claim.beneficiary ?? 'no beneficiary'}`}; ${beneficiary} stays linked: this importer does not know what its write there replaced (recorded by an earlier sparctl, or over an FA whose fields the mapper did not tell), so it cannot tell whether it created that link (unlink it by hand if it should go)`,
      );
      continue;
    }
    actions.push({
      kind: 'undo',
      submission: id,
      beneficiary,
      fa: write.fa,
      why,
      ...(replaced === 'none'
        ? {}
        : {
            restore: replaced.fa,
            ...(replaced.name === undefined ? {} : { restoreName: replaced.name }),
            ...(replaced.phone === undefined ? {} : { restorePhone: replaced.phone }),
          }),
    });
  }
  const acted = new Set(actions.map((action) => action.submission));
  const counts = { alreadyApplied: 0, skippedByReview: 0, deleted: 0, otherOwner: 0, unnamed: [] as string[], notWritten: [] as string[] };
  for (const s of window) {
    if (acted.has(s.id)) continue;
    if (!contentNew.has(s.id)) {
      // Considered before: "already applied" only where its write is recorded.
      if (before[s.id]?.wrote !== undefined) counts.alreadyApplied++;
      else if (s.deleted) counts.deleted++;
      else if (reviewSkips(after[s.id]!, policies)) counts.skippedByReview++;
      else if (s.beneficiary !== undefined && ownerOf(s.beneficiary, after, policies) !== s.id) counts.otherOwner++;
      else counts.notWritten.push(s.id);
    } else if (s.deleted) counts.deleted++;
    else if (policies.skipReview.includes(s.review)) counts.skippedByReview++;
    else if (s.beneficiary === undefined) counts.unnamed.push(s.id);
    else counts.otherOwner++;
  }
  return { actions, notes, claims: after, fetch: [...fetch], counts };
}

/** The claims once the window's writes are known: what was written is recorded, only then. */
export function referenceSettleClaims(claims: Readonly<Record<string, Claim>>, results: readonly ClaimResult[]): Record<string, Claim> {
  const out: Record<string, Claim> = { ...claims };
  for (const result of results) {
    const { action } = result;
    if (action.kind === 'apply') {
      // Whoever wrote this ID before no longer holds it as written.
      if (result.written || result.overwritten) {
        for (const [id, claim] of Object.entries(out))
          if (id !== action.submission && writeOn(claim, action.beneficiary) !== undefined) out[id] = without(claim, action.beneficiary);
        if (result.written && result.fa !== undefined) {
          // The submission's other writes stay recorded: its last one joins those it left.
          const current = out[action.submission];
          const claim: Partial<Claim> = current === undefined ? {} : without(current, action.beneficiary);
          const left = [...(claim.left ?? []), ...(claim.wrote ? [claim.wrote] : [])];
          const { wrote: _wrote, left: _left, ...rest } = claim;
          out[action.submission] = {
            ...rest,
            wrote: {
              beneficiary: action.beneficiary,
              fa: result.fa,
              ...(result.replaced === undefined ? {} : { replaced: result.replaced }),
            },
            ...(left.length > 0 ? { left } : {}),
          } as Claim;
        }
      }
      continue;
    }
    if (result.gone && writeOn(out[action.submission]!, action.beneficiary) !== undefined)
      out[action.submission] = without(out[action.submission]!, action.beneficiary);
  }
  return out;
}

/** A claim without its write on `beneficiary`. */
function without(claim: Claim, beneficiary: string): Claim {
  const { wrote, left, ...rest } = claim;
  const keptLeft = (left ?? []).filter((w) => w.beneficiary !== beneficiary);
  return {
    ...rest,
    ...(wrote !== undefined && wrote.beneficiary !== beneficiary ? { wrote } : {}),
    ...(keptLeft.length > 0 ? { left: keptLeft } : {}),
  };
}
