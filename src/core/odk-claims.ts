/**
 * What import-odk does with a window of submissions, decided by ownership (pure: no Central, no
 * mapper, no files).
 *
 * The rule: every beneficiary ID is *claimed* by the live submissions that name it — not
 * deleted, and not rejected by a reviewer unless it was applied before and the rejection policy
 * keeps it — and the claimant submitted last (by Central's submissionDate, then `__id`) owns
 * it: the mapper should hold the owner's content. The importer writes a submission's content
 * when that content is new (a new instance, never a review-only change) and its submission owns
 * the ID, or when ownership passes to another submission; it records what it wrote only once
 * the mapper confirmed it. When a beneficiary is left with no claimant (a deletion, a
 * rejection, an edit that names another ID), the importer undoes only its own write, and only
 * while the mapper still holds the FA it wrote, under a policy that says so: a link it created
 * is unlinked, a link it updated gets back the FA it held before; a write recorded without what
 * it replaced (by an earlier sparctl) is kept and said. Anything else is reported and left alone.
 * A write stays recorded until the mapper no longer holds it (undone, or overwritten), also when
 * its submission moves on to another ID: an undo a policy did not allow then is planned, from
 * that record, by any later run whose policy allows it.
 *
 * Policies may change between runs (--skip-review, --on-reject): who owned a beneficiary before
 * a run is what the runs that planned it decided — each claim records whether its review state
 * kept it from claiming (`skipped`) — never a recomputation under this run's policies, which
 * would find no change of owner where the policy alone changed it. A run plans again every
 * beneficiary of a claim whose `skipped` its policies change, whatever its window read, so that
 * the mapper ends where the submissions say under the policies of the run.
 */

/**
 * What an importer's write replaced: `none`, it created the link; `fa`, it updated a link that
 * held this FA (as the mapper's resolve tells it, to be put back), and the name and phone it
 * held (null: none) where the mapper told them (absent: not told — a remote SPAR's resolve, or
 * an earlier sparctl — and then not put back). Absent from a write recorded by an earlier
 * sparctl, which did not say: such a write is never undone.
 */
export type Replaced =
  | 'none'
  | { readonly fa: Readonly<Record<string, unknown>>; readonly name?: string | null; readonly phone?: string | null };

/** What the importer wrote from a submission and the mapper confirmed: the ID, a digest of the FA, and what the write replaced. */
export interface Wrote {
  readonly beneficiary: string;
  readonly fa: string;
  readonly replaced?: Replaced;
}

export interface Claim {
  /** The content version last considered (meta.instanceID): a new one is an edit. */
  readonly instance: string;
  /** Central's submissionDate: the submission submitted last owns its beneficiary. */
  readonly date: string;
  readonly review: string;
  readonly deleted: boolean;
  /** The beneficiary ID this content names (undefined: it names none the mapping can build). */
  readonly beneficiary?: string;
  /** The importer's last write from this submission, as the mapper confirmed it. */
  readonly wrote?: Wrote;
  /**
   * Earlier writes from this submission on IDs its content no longer names (an edit to another
   * ID while --on-delete ignore kept the old link), each on its own ID, none on `wrote`'s: still
   * the importer's, to undo when a later run's policy allows it. Absent from older states.
   */
  readonly left?: readonly Wrote[];
  /**
   * Whether its review state kept it from claiming its beneficiary under the policies of the run
   * that last planned it (reviewSkips). Absent from states an earlier sparctl kept: these
   * policies stand in, as they did then.
   */
  readonly skipped?: boolean;
}

/** Every write of a claim that the mapper may still hold: its last, then those it left behind. */
export function writesOf(claim: Claim): readonly Wrote[] {
  if (claim.left === undefined) return claim.wrote === undefined ? [] : [claim.wrote];
  return claim.wrote === undefined ? claim.left : [claim.wrote, ...claim.left];
}

export interface Submission {
  readonly id: string;
  readonly instance: string;
  readonly date: string;
  readonly review: string;
  readonly deleted: boolean;
  readonly beneficiary: string | undefined;
}

export interface ClaimPolicies {
  /** Review states whose content is not applied (default: rejected). */
  readonly skipReview: readonly string[];
  /** A deletion (or an edit to another ID) that leaves a beneficiary without claimant: undo the importer's write, or leave it. */
  readonly onDelete: 'ignore' | 'unlink';
  /** A reviewer's rejection after the content was applied: keep it silently, keep it and say so, or undo the importer's write. */
  readonly onReject: 'keep' | 'warn' | 'unlink';
  /** Write every owner's content again (a corrected mapping or DFSP data), where the mapper still holds what was written. */
  readonly reapply: boolean;
}

export type ClaimAction =
  /**
   * Write this submission's content for its beneficiary (upsert). `onlyIfFa`: only while the
   * mapper holds the FA this digest is of — what the importer wrote there — so a change made in
   * the mapper since wins until a submission's content changes again.
   */
  | {
      readonly kind: 'apply';
      readonly submission: string;
      readonly beneficiary: string;
      readonly why: 'new' | 'edit' | 'owner' | 'reapply';
      readonly onlyIfFa?: string;
    }
  /**
   * Undo the importer's write if the mapper still holds the FA whose digest `fa` is: unlink the
   * beneficiary when the write created the link, else (`restore`) put back the FA it replaced,
   * with the name and phone it held where they are known (`restoreName`, `restorePhone`; null:
   * it held none).
   */
  | {
      readonly kind: 'undo';
      readonly submission: string;
      readonly beneficiary: string;
      readonly fa: string;
      readonly why: 'deleted' | 'rejected' | 'moved';
      readonly restore?: Readonly<Record<string, unknown>>;
      readonly restoreName?: string | null;
      readonly restorePhone?: string | null;
    };

export interface ClaimPlan {
  readonly actions: readonly ClaimAction[];
  /**
   * Submissions of the window no action is about, each counted once: content considered before
   * whose write is recorded (a review-only change among them), skipped for its review state,
   * deleted before its content was applied, owned by a submission submitted later; (`unnamed`)
   * new content naming no beneficiary (the mapping's filters leave it out, or its ID cannot be
   * built); and (`notWritten`) content considered before that no write records and none of these
   * explains — it named no beneficiary, or the mapper refused it, already held it, or kept a
   * change made since. Only a recorded write is "already applied".
   */
  readonly counts: {
    readonly alreadyApplied: number;
    readonly skippedByReview: number;
    readonly deleted: number;
    readonly otherOwner: number;
    readonly unnamed: readonly string[];
    readonly notWritten: readonly string[];
  };
  /** What was decided not to do, in words for the report (one line each). */
  readonly notes: readonly string[];
  /** The claims after this window, before the results (ClaimResults) are known. */
  readonly claims: Readonly<Record<string, Claim>>;
  /** Submissions whose content an `apply` needs that the window did not read (an older owner again). */
  readonly fetch: readonly string[];
}

const newer = (a: { date: string; id: string }, b: { date: string; id: string }) => {
  const byDate = Date.parse(a.date) - Date.parse(b.date);
  return byDate !== 0 ? byDate > 0 : a.id > b.id;
};

/** Whether a claim claims its beneficiary now. */
export function claims(claim: Claim, policies: ClaimPolicies): boolean {
  return !claim.deleted && claim.beneficiary !== undefined && !reviewSkips(claim, policies);
}

/** Whether a claim's review state keeps it from claiming under these policies (deleted or not). */
function reviewSkips(claim: Claim, policies: ClaimPolicies): boolean {
  if (!policies.skipReview.includes(claim.review)) return false;
  // Rejected (or another skipped state) after its content was written: it still holds the ID
  // unless the policy undoes that write.
  return !(claim.review === 'rejected' && policies.onReject !== 'unlink' && claim.wrote?.beneficiary === claim.beneficiary);
}

/** Whether a claim claimed its beneficiary as the run that last planned it decided (Claim.skipped). */
function claimedBefore(claim: Claim, policies: ClaimPolicies): boolean {
  return !claim.deleted && claim.beneficiary !== undefined && !(claim.skipped ?? reviewSkips(claim, policies));
}

/** The claims of each beneficiary they name, in the record's order. */
function byBeneficiary(all: Readonly<Record<string, Claim>>): Map<string, [string, Claim][]> {
  const index = new Map<string, [string, Claim][]>();
  for (const entry of Object.entries(all)) {
    const beneficiary = entry[1].beneficiary;
    if (beneficiary !== undefined) push(index, beneficiary, entry);
  }
  return index;
}

/** The claims whose importer's write is on each beneficiary, with that write, in the record's order. */
function byWritten(all: Readonly<Record<string, Claim>>): Map<string, [string, Claim, Wrote][]> {
  const index = new Map<string, [string, Claim, Wrote][]>();
  for (const [id, claim] of Object.entries(all)) for (const write of writesOf(claim)) push(index, write.beneficiary, [id, claim, write]);
  return index;
}

/** Why a write's beneficiary is no longer claimed by the submission that wrote it. */
function whyGone(claim: Claim, beneficiary: string): 'deleted' | 'rejected' | 'moved' {
  return claim.deleted ? 'deleted' : claim.beneficiary !== beneficiary ? 'moved' : 'rejected';
}

/** Whether the policies let the importer undo a write left for this reason. */
function undoAllowed(why: 'deleted' | 'rejected' | 'moved', policies: ClaimPolicies): boolean {
  return why === 'rejected' ? policies.onReject === 'unlink' : policies.onDelete === 'unlink';
}

/**
 * The submissions holding a write an undo could act on under these policies: a write recorded
 * with what it replaced, on an ID no submission claims now, that the submission left for a
 * reason the policies let the importer undo (deleted, rejected, or now naming another ID).
 * Their undo is planned from the state, whatever window reads them — a run with --on-delete
 * unlink after one with ignore undoes what that one left — and the caller reads them again
 * first (a deletion undone in Central changes no stamp a window finds).
 */
export function pendingUndos(all: Readonly<Record<string, Claim>>, policies: ClaimPolicies): string[] {
  return [...new Set(pendingWrites(all, policies, byBeneficiary(all)).map(([id]) => id))];
}

function pendingWrites(
  all: Readonly<Record<string, Claim>>,
  policies: ClaimPolicies,
  named: Map<string, [string, Claim][]>,
): [string, Wrote][] {
  const out: [string, Wrote][] = [];
  for (const [id, claim] of Object.entries(all)) {
    for (const write of writesOf(claim)) {
      if (write.replaced === undefined || ownerAmong(named.get(write.beneficiary), policies) !== undefined) continue;
      if (undoAllowed(whyGone(claim, write.beneficiary), policies)) out.push([id, write]);
    }
  }
  return out;
}

/**
 * The submission that owns a beneficiary, among the claims that name it: its claimant submitted
 * last — claimant now, or (`asPlanned`) as the runs that planned the claims decided.
 */
function ownerAmong(named: readonly [string, Claim][] | undefined, policies: ClaimPolicies, asPlanned = false): string | undefined {
  let owner: { id: string; date: string } | undefined;
  for (const [id, claim] of named ?? []) {
    if (!(asPlanned ? claimedBefore(claim, policies) : claims(claim, policies))) continue;
    if (owner === undefined || newer({ id, date: claim.date }, owner)) owner = { id, date: claim.date };
  }
  return owner?.id;
}

/**
 * `force`: submissions whose content counts as new whatever was considered before
 * (--instance-id). `pending`: also plan the undos the state holds (pendingUndos) for IDs no
 * window submission touches (off for --instance-id, which fixes one submission).
 */
export function planClaims(
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
    // A content change (or a first sight) is written when it owns; a review change is not content,
    // but content its review state kept from being written (under the policy of the run that
    // read it) is new once it claims.
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
    for (const write of old === undefined ? [] : writesOf(old)) touched.add(write.beneficiary);
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
  const windowIds = new Set(window.map((s) => s.id));
  // A claim the window did not read whose review state these policies judge otherwise than the
  // run that planned it (--skip-review or --on-reject changed): its beneficiary is planned again
  // now, as if its window were read again; content its review state kept from being written is
  // new once it claims. (A claim an earlier sparctl recorded without `skipped` gets it now.)
  if (pending) {
    for (const [id, claim] of Object.entries(after)) {
      if (windowIds.has(id)) continue;
      const skipped = reviewSkips(claim, policies);
      if (claim.skipped === skipped) continue;
      after[id] = { ...claim, skipped };
      if (claim.skipped === undefined || claim.deleted || claim.beneficiary === undefined) continue;
      touched.add(claim.beneficiary);
      if (claim.skipped && claim.wrote === undefined) contentNew.add(id);
    }
  }

  const actions: ClaimAction[] = [];
  const fetch = new Set<string>();
  // Each beneficiary's claims and window rows, looked up rather than searched for: a form's
  // claims grow with every window, and walking all of them for each touched beneficiary made a
  // window of 3,000 submissions take 1.7 s to plan (quadratic). Lists keep the record's order.
  const namedBefore = byBeneficiary(before);
  const namedAfter = byBeneficiary(after);
  const writtenAfter = byWritten(after);
  // An undo left by an earlier run (its policy did not allow it, or it was not done): planned
  // now where no one claims the ID, as if its window were read again.
  if (pending) for (const [, write] of pendingWrites(after, policies, namedAfter)) touched.add(write.beneficiary);
  const windowByWas = new Map<string, Submission[]>();
  const windowByNamed = new Map<string, Submission[]>();
  for (const s of window) {
    const was = before[s.id]?.beneficiary;
    if (was !== undefined) push(windowByWas, was, s);
    const named = was ?? s.beneficiary;
    if (named !== undefined) push(windowByNamed, named, s);
  }
  for (const beneficiary of [...touched].sort()) {
    // Who owned it as the runs that planned its claims decided, under their policies: under this
    // run's, a policy changed since would look like no change of owner.
    const ownerBefore = ownerAmong(namedBefore.get(beneficiary), policies, true);
    const owner = ownerAmong(namedAfter.get(beneficiary), policies);
    if (owner !== undefined) {
      for (const s of windowByWas.get(beneficiary) ?? []) {
        if (s.id !== owner && (s.deleted || s.beneficiary !== beneficiary) && !before[s.id]?.deleted) {
          notes.push(
            `${s.id} ${s.deleted ? 'was deleted in Central' : `now names ${s.beneficiary ?? 'no beneficiary'}`}; ${beneficiary} is still named by submission ${owner}, which owns it: not unlinked`,
          );
        }
      }
      // The importer's write on this ID is another submission's, one that no longer claims it
      // (a policy switched since, e.g. --on-reject warn, then unlink): the owner takes it back
      // as when ownership passes.
      const writtenByNonClaimant = (writtenAfter.get(beneficiary) ?? []).some(
        ([id, claim, write]) => id !== owner && !(claims(claim, policies) && claim.beneficiary === write.beneficiary),
      );
      const why = contentNew.has(owner)
        ? before[owner] === undefined
          ? 'new'
          : 'edit'
        : owner !== ownerBefore || writtenByNonClaimant
          ? 'owner'
          : policies.reapply
            ? 'reapply'
            : undefined;
      if (why === undefined) continue;
      // New content is written whatever the mapper holds; a change of owner or a reapply only
      // where the mapper still holds what the importer wrote there (if it wrote anything).
      const written = why === 'new' || why === 'edit' ? undefined : writtenAfter.get(beneficiary)?.[0]?.[2].fa;
      actions.push({ kind: 'apply', submission: owner, beneficiary, why, ...(written === undefined ? {} : { onlyIfFa: written }) });
      if (!windowIds.has(owner)) fetch.add(owner);
      for (const [id, other] of namedAfter.get(beneficiary) ?? []) {
        if (id !== owner && contentNew.has(id) && claims(other, policies)) {
          notes.push(`${id} names ${beneficiary}, but ${owner} was submitted later and owns it: not applied`);
        }
      }
      continue;
    }
    // No claimant is left: undo the importer's own write, where a policy says so.
    const writer = writtenAfter.get(beneficiary)?.[0];
    if (writer === undefined) {
      const gone = windowByNamed.get(beneficiary)?.find((s) => s.deleted || s.beneficiary !== beneficiary);
      if (gone !== undefined && ownerBefore !== undefined)
        notes.push(`${gone.id} no longer names ${beneficiary}, but this importer never linked it: left as it is`);
      continue;
    }
    const [id, claim, write] = writer;
    const why = whyGone(claim, beneficiary);
    if (!undoAllowed(why, policies)) {
      if (why !== 'rejected')
        notes.push(
          `${id} ${why === 'deleted' ? 'was deleted' : `now names ${claim.beneficiary ?? 'no beneficiary'}`}; ${beneficiary} stays linked (--on-delete unlink --yes undoes such links)`,
        );
      continue;
    }
    const replaced = write.replaced;
    if (replaced === undefined) {
      // Not known whether the write created the link or replaced someone else's (an earlier
      // sparctl did not record it; or the FA it replaced could not be told): unlinking it could
      // stop a family's payments, so it stays.
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
      ...(replaced === 'none' ? {} : restoreOf(replaced)),
    });
  }
  const acted = new Set(actions.map((action) => action.submission));
  const counts = { alreadyApplied: 0, skippedByReview: 0, deleted: 0, otherOwner: 0, unnamed: [] as string[], notWritten: [] as string[] };
  for (const s of window) {
    if (acted.has(s.id)) continue;
    if (!contentNew.has(s.id)) {
      // Considered before: applied only where the importer's write of it is recorded — content
      // superseded in its window, skipped, or deleted before a run wrote it never was.
      if (before[s.id]?.wrote !== undefined) counts.alreadyApplied++;
      else if (s.deleted) counts.deleted++;
      else if (reviewSkips(after[s.id]!, policies)) counts.skippedByReview++;
      else if (s.beneficiary !== undefined && ownerAmong(namedAfter.get(s.beneficiary), policies) !== s.id) counts.otherOwner++;
      else counts.notWritten.push(s.id);
    } else if (s.deleted) counts.deleted++;
    else if (policies.skipReview.includes(s.review)) counts.skippedByReview++;
    else if (s.beneficiary === undefined) counts.unnamed.push(s.id);
    else counts.otherOwner++;
  }
  return { actions, notes, claims: after, fetch: [...fetch], counts };
}

export interface ClaimResult {
  readonly action: ClaimAction;
  /** For an apply written: what the write replaced (undefined: not known, so never undone). */
  readonly replaced?: Replaced;
  /** Whether the mapper confirmed the write (applied, or confirmed after a lost answer). */
  readonly written: boolean;
  /** For an apply: the digest of the FA written. */
  readonly fa?: string;
  /** For an apply kept back (onlyIfFa): the importer's earlier write was changed in the mapper since. */
  readonly overwritten?: boolean;
  /** For an undo: the importer's write is no longer in the mapper (undone, not linked, or changed since). */
  readonly gone?: boolean;
}

/** The claims once the window's writes are known: what was written is recorded, only then. */
export function settleClaims(claims: Readonly<Record<string, Claim>>, results: readonly ClaimResult[]): Record<string, Claim> {
  const out: Record<string, Claim> = { ...claims };
  // Who holds a write on each beneficiary, kept as writes are recorded and removed (not
  // searched for among all claims at every result).
  const writers = new Map<string, Set<string>>();
  const holds = (beneficiary: string, id: string) => {
    const set = writers.get(beneficiary);
    if (set === undefined) writers.set(beneficiary, new Set([id]));
    else set.add(id);
  };
  for (const [id, claim] of Object.entries(out)) for (const write of writesOf(claim)) holds(write.beneficiary, id);
  /** The write of submission `id` on `beneficiary` is no longer in the mapper: it is no longer recorded. */
  const forget = (id: string, beneficiary: string) => {
    writers.get(beneficiary)?.delete(id);
    const claim = out[id];
    if (claim !== undefined) out[id] = withoutWriteOn(claim, beneficiary);
  };
  for (const result of results) {
    const { action } = result;
    if (action.kind === 'apply') {
      // Whoever wrote this ID before no longer holds it as written.
      if (result.written || result.overwritten) {
        for (const id of [...(writers.get(action.beneficiary) ?? [])]) if (id !== action.submission) forget(id, action.beneficiary);
        if (result.written && result.fa !== undefined) {
          // (A window spooled by an earlier sparctl may not hold the submission's claim.)
          const current = out[action.submission];
          const claim: Partial<Claim> = current === undefined ? {} : withoutWriteOn(current, action.beneficiary);
          // A write the submission made on another ID stays recorded, among those it left: only
          // an undo, or another write on that ID, ends it (an edit to another ID under
          // --on-delete ignore leaves that link for a later run to undo).
          const left = [...(claim.left ?? []), ...(claim.wrote === undefined ? [] : [claim.wrote])];
          const wrote = {
            beneficiary: action.beneficiary,
            fa: result.fa,
            ...(result.replaced === undefined ? {} : { replaced: result.replaced }),
          };
          const { left: _left, wrote: _wrote, ...rest } = claim;
          out[action.submission] = { ...rest, wrote, ...(left.length === 0 ? {} : { left }) } as Claim;
          holds(action.beneficiary, action.submission);
        }
      }
      continue;
    }
    // Only the write on the undone beneficiary is forgotten: a submission that moved to another
    // beneficiary may have had that write recorded already (results settle in beneficiary order).
    if (result.gone) forget(action.submission, action.beneficiary);
  }
  return out;
}

/** What an undo puts back of an update's replaced link: its FA, and its name and phone where told. */
export function restoreOf(replaced: Exclude<Replaced, 'none'>): {
  restore: Readonly<Record<string, unknown>>;
  restoreName?: string | null;
  restorePhone?: string | null;
} {
  return {
    restore: replaced.fa,
    ...(replaced.name === undefined ? {} : { restoreName: replaced.name }),
    ...(replaced.phone === undefined ? {} : { restorePhone: replaced.phone }),
  };
}

function push<T>(index: Map<string, T[]>, key: string, value: T): void {
  const list = index.get(key);
  if (list === undefined) index.set(key, [value]);
  else list.push(value);
}

/** A claim without its recorded write on `beneficiary` (its last, or one it left behind). */
export function withoutWriteOn(claim: Claim, beneficiary: string): Claim {
  const keepWrote = claim.wrote !== undefined && claim.wrote.beneficiary !== beneficiary;
  const left = claim.left?.filter((write) => write.beneficiary !== beneficiary);
  if (keepWrote === (claim.wrote !== undefined) && left?.length === claim.left?.length) return claim;
  const { wrote, left: _left, ...rest } = claim;
  return { ...rest, ...(keepWrote ? { wrote: wrote! } : {}), ...(left === undefined || left.length === 0 ? {} : { left }) };
}
