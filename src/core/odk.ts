/**
 * Incremental import from ODK Central (research/odk.md §5), the pure part: which window of
 * submissions to ask for, which of them to apply and in what order, how a mapping's paths fit
 * the form. No I/O here: the Central client and the state file are adapters.
 */

/** What sparctl needs of one OData row. */
export interface OdkSubmission {
  readonly __id: string;
  readonly __system: {
    readonly submissionDate: string;
    readonly updatedAt: string | null;
    readonly deletedAt: string | null;
    readonly submitterId?: string | null;
    readonly submitterName?: string | null;
    readonly reviewState: string | null;
  };
  readonly meta?: { readonly instanceID?: string | null } | null;
  readonly [field: string]: unknown;
}

/** One submission to apply: its data changed (new or edited), or it was deleted. */
export interface OdkEntry {
  readonly kind: 'change' | 'delete';
  /** When Central recorded this state of the submission (server clock). */
  readonly stamp: string;
  /** Stamp and instance id: a submission read twice in overlapping windows has the same version. */
  readonly version: string;
  readonly submission: OdkSubmission;
}

export type DeletePolicy = 'ignore' | 'unlink';

export interface WindowPlan {
  /** Oldest change first; at most one entry per submission (its latest state). */
  readonly entries: readonly OdkEntry[];
  readonly skippedByReview: number;
  /** Already applied in an earlier window (the overlap). */
  readonly alreadySeen: number;
  readonly deletionsIgnored: number;
  /** The newest stamp in the window, applied or not: where the watermark goes once it is done. */
  readonly newestStamp: string | undefined;
}

export const REVIEW_STATES = ['received', 'hasIssues', 'edited', 'approved', 'rejected'] as const;

/**
 * The `$filter` for changes since `from` (new submissions, edits, review changes): Central's
 * two server-side stamps, so offline submissions uploaded late are still found.
 */
export function changeFilter(from: string | undefined): string | undefined {
  return from === undefined ? undefined : `__system/submissionDate ge ${from} or __system/updatedAt ge ${from}`;
}

/** The `$filter` for deletions since `from` (naming deletedAt is what makes Central list them). */
export function deletionFilter(from: string | undefined): string {
  return from === undefined ? 'not (__system/deletedAt eq null)' : `__system/deletedAt ge ${from}`;
}

/** The window's start: the watermark minus the overlap, as Central's UTC millisecond form. */
export function windowStart(watermark: string | undefined, overlapSeconds: number): string | undefined {
  if (watermark === undefined) return undefined;
  return new Date(Date.parse(watermark) - overlapSeconds * 1000).toISOString();
}

export function changeStamp(submission: OdkSubmission): string {
  return submission.__system.updatedAt ?? submission.__system.submissionDate;
}

function entryOf(kind: OdkEntry['kind'], submission: OdkSubmission): OdkEntry {
  const stamp = kind === 'delete' ? submission.__system.deletedAt! : changeStamp(submission);
  const instance = submission.meta?.instanceID ?? submission.__id;
  return { kind, stamp, version: `${kind} ${stamp} ${instance}`, submission };
}

const earlier = (a: string, b: string) => Date.parse(a) - Date.parse(b);

/**
 * Turns what a poll read into the entries to apply: the latest state of each submission,
 * minus those applied before (same version), those whose review state is skipped, and
 * deletions unless the policy unlinks them; oldest first, ties by `__id`.
 */
export function planWindow(
  changes: readonly OdkSubmission[],
  deletions: readonly OdkSubmission[],
  seen: ReadonlyMap<string, string>,
  options: { skipReviewStates: readonly string[]; onDelete: DeletePolicy },
): WindowPlan {
  const latest = new Map<string, OdkEntry>();
  let newestStamp: string | undefined;
  const consider = (entry: OdkEntry) => {
    if (newestStamp === undefined || earlier(entry.stamp, newestStamp) > 0) newestStamp = entry.stamp;
    const before = latest.get(entry.submission.__id);
    if (before === undefined || earlier(entry.stamp, before.stamp) >= 0) latest.set(entry.submission.__id, entry);
  };
  for (const submission of changes) if (submission.__system.deletedAt === null) consider(entryOf('change', submission));
  for (const submission of deletions) if (submission.__system.deletedAt !== null) consider(entryOf('delete', submission));

  const skipped = new Set(options.skipReviewStates);
  let skippedByReview = 0;
  let alreadySeen = 0;
  let deletionsIgnored = 0;
  const entries: OdkEntry[] = [];
  for (const entry of latest.values()) {
    if (seen.get(entry.submission.__id) === entry.version) {
      alreadySeen++;
      continue;
    }
    if (entry.kind === 'delete' && options.onDelete === 'ignore') {
      deletionsIgnored++;
      continue;
    }
    if (entry.kind === 'change' && skipped.has(entry.submission.__system.reviewState ?? 'received')) {
      skippedByReview++;
      continue;
    }
    entries.push(entry);
  }
  entries.sort((a, b) => earlier(a.stamp, b.stamp) || (a.submission.__id < b.submission.__id ? -1 : a.submission.__id > b.submission.__id ? 1 : 0));
  return { entries, skippedByReview, alreadySeen, deletionsIgnored, newestStamp };
}

/** Where a submission came from, as it travels in additional_info and the results file. */
export function provenanceOf(submission: OdkSubmission, form: string): Record<string, string> {
  const out: Record<string, string> = { odk_form: form, odk_submission: submission.__id };
  const instance = submission.meta?.instanceID;
  if (typeof instance === 'string') out['odk_instance'] = instance;
  const submitter = submission.__system.submitterName;
  if (typeof submitter === 'string') out['odk_submitter'] = submitter;
  out['odk_submission_date'] = submission.__system.submissionDate;
  return out;
}

export interface FormField {
  readonly path: string;
  readonly type: string;
}

/** Mapping targets whose value must keep every digit as written. */
const DIGIT_TARGETS = new Set(['id', 'account_number', 'mobile_number', 'phone_number']);

/**
 * How a mapping's source paths fit the form's fields (`…/fields?odata=true`): a path the form
 * does not have, or an ID, account or phone number read from a number field (Central turns
 * those into JSON numbers: leading zeros and digits past 2^53 are lost).
 */
export function mappingFieldProblems(sources: readonly { path: string; target: string }[], fields: readonly FormField[]): string[] {
  const byPath = new Map(fields.map((field) => [field.path.replace(/^\//, '').replace(/\//g, '.'), field]));
  const problems: string[] = [];
  for (const { path, target } of sources) {
    // Central's own columns are in every row but not in the form's field list.
    if (path === '__id' || path.startsWith('__system.')) continue;
    const field = byPath.get(path);
    if (field === undefined) {
      const group = path.includes('.') ? path.slice(0, path.lastIndexOf('.')) : '';
      const near = [...byPath.keys()].filter((known) => (group === '' ? !known.includes('.') : known.startsWith(`${group}.`))).slice(0, 8);
      problems.push(`${target} reads "${path}", which the form does not have${near.length > 0 ? ` (fields there: ${near.join(', ')})` : ''}`);
      continue;
    }
    if (DIGIT_TARGETS.has(target) && (field.type === 'int' || field.type === 'decimal')) {
      problems.push(`${target} reads "${path}", ${/^[aeiou]/.test(field.type) ? 'an' : 'a'} ${field.type} field: Central sends it as a number, so leading zeros and long numbers are lost; make it a text field in the form`);
    }
  }
  return problems;
}
