/**
 * Incremental import from ODK Central (research/odk.md §5), the pure part: which window of
 * submissions to ask for, the latest state of each, how a mapping's paths fit the form. What to
 * do with them is odk-claims.ts. No I/O here: the Central client and the state file are adapters.
 */

import { UsageError } from './errors.js';

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

export const REVIEW_STATES = ['received', 'hasIssues', 'edited', 'approved', 'rejected'] as const;

/** ODK Central's CSV export column of when a submission reached Central (ISO 8601, UTC). */
export const SUBMISSION_DATE_COLUMN = 'SubmissionDate';

/** Central's stamp as it exports it (`2026-12-05T09:12:44.120Z`): such stamps compare as text. */
const CENTRAL_STAMP = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?Z$/;

/**
 * Which rows of an ODK Central CSV export an ID's newest submission decides over. Central
 * exports the newest submission first, so the file's last row of an ID is its oldest: a row
 * whose submission is older than one met above it for the same ID is left out (`older`: as a
 * filter leaves a row out), and the newest one then is the ID's last row — what import-odk does.
 * A stamp not in Central's form (a file a spreadsheet saved again, `05/12/2026 09:12`) cannot be
 * ordered: a later row of an ID with such a stamp, or after one, is `unknown` (the caller
 * rejects it, so that nothing is written for the ID rather than maybe the stale submission).
 *
 * Invariant: fed the same rows in the same order, it judges them the same (the pass before the
 * run and the run each use one of their own), so the row index and the run agree.
 */
export class SubmissionOrder {
  /** Per ID: the newest of its Central stamps met, or null once a stamp of another form was met. */
  private readonly newest = new Map<string, string | null>();

  judge(id: string, stamp: string | undefined): 'older' | 'unknown' | undefined {
    const at = stamp?.trim() ?? '';
    const central = CENTRAL_STAMP.test(at);
    if (!this.newest.has(id)) {
      this.newest.set(id, central ? at : null);
      return undefined;
    }
    const seen = this.newest.get(id)!;
    if (seen === null || !central) {
      this.newest.set(id, null);
      return 'unknown';
    }
    if (at < seen) return 'older';
    this.newest.set(id, at);
    return undefined;
  }
}

/** How a row whose submission cannot be ordered is rejected (the row's problem). */
export const UNKNOWN_ORDER = {
  code: 'input.submission_order',
  message: `the file names this ID in more than one row, and a ${SUBMISSION_DATE_COLUMN} of them is not in ODK Central's form (2026-12-05T09:12:44.120Z: a spreadsheet changed it?), so which submission is the newest cannot be told; nothing was sent for this ID: keep only the row that should count (or export the file from Central again) and feed it back`,
} as const;

/** How a row SubmissionOrder leaves out is reported (a filter's hit: the summary counts by rule). */
export const OLDER_SUBMISSION = {
  code: 'filter.older_submission',
  rule: 'an older submission of an ID than a row above it (ODK Central exports the newest first)',
} as const;

/** --skip-review's comma-separated states, each checked ("" names none). */
export function reviewStatesOf(text: string): string[] {
  const states = text
    .split(',')
    .map((state) => state.trim())
    .filter(Boolean);
  const unknown = states.find((state) => !(REVIEW_STATES as readonly string[]).includes(state));
  if (unknown !== undefined)
    throw new UsageError('usage.review_state', `--skip-review: "${unknown}" is not a review state (${REVIEW_STATES.join(', ')})`);
  return states;
}

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

const earlier = (a: string, b: string) => Date.parse(a) - Date.parse(b);

/**
 * The latest state of each submission a poll read (a submission read twice — as changed and as
 * deleted, or in overlapping pages — keeps its newest state), and the newest stamp among them:
 * where the watermark goes once the window is done.
 */
export function latestStates(
  changes: readonly OdkSubmission[],
  deletions: readonly OdkSubmission[],
): { latest: Map<string, OdkSubmission>; newestStamp: string | undefined } {
  const latest = new Map<string, { stamp: string; submission: OdkSubmission }>();
  let newestStamp: string | undefined;
  const consider = (submission: OdkSubmission, stamp: string) => {
    if (newestStamp === undefined || earlier(stamp, newestStamp) > 0) newestStamp = stamp;
    const before = latest.get(submission.__id);
    if (before === undefined || earlier(stamp, before.stamp) >= 0) latest.set(submission.__id, { stamp, submission });
  };
  for (const submission of changes) if (submission.__system.deletedAt === null) consider(submission, changeStamp(submission));
  for (const submission of deletions) if (submission.__system.deletedAt !== null) consider(submission, submission.__system.deletedAt);
  return { latest: new Map([...latest].map(([id, entry]) => [id, entry.submission])), newestStamp };
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

/** The fields of `__system` in Central's OData rows (research/odk.md §3.2): not in the form's field list. */
export const SYSTEM_FIELDS = [
  'submissionDate',
  'updatedAt',
  'deletedAt',
  'submitterId',
  'submitterName',
  'attachmentsPresent',
  'attachmentsExpected',
  'status',
  'reviewState',
  'deviceId',
  'edits',
  'formVersion',
] as const;

/**
 * How a mapping's source paths fit the form's fields (`…/fields?odata=true`): a path the form
 * does not have; a group (`structure`) or a repeat, which holds no value of its own; a field
 * inside a repeat — Central's feed carries a repeat's rows apart from the submission (one
 * submission may have any number), so the path read empty in every submission; an ID, account
 * or phone number read from a number field (Central turns those into JSON numbers: leading
 * zeros and digits past 2^53 are lost); and a `__system` field Central does not have.
 */
export function mappingFieldProblems(sources: readonly { path: string; target: string }[], fields: readonly FormField[]): string[] {
  const byPath = new Map(fields.map((field) => [field.path.replace(/^\//, '').replace(/\//g, '.'), field]));
  // The repeat a path lies in (its nearest enclosing one), if any.
  const repeatOf = (path: string): string | undefined => {
    const parts = path.split('.');
    for (let end = parts.length - 1; end > 0; end--) {
      const above = parts.slice(0, end).join('.');
      if (byPath.get(above)?.type === 'repeat') return above;
    }
    return undefined;
  };
  const isGroup = (type: string) => type === 'structure' || type === 'repeat';
  const problems: string[] = [];
  for (const { path, target } of sources) {
    // Central's own columns are in every row but not in the form's field list.
    if (path === '__id') continue;
    if (path === '__system' || path.startsWith('__system.')) {
      const name = path.slice('__system.'.length);
      if (!(SYSTEM_FIELDS as readonly string[]).includes(name))
        problems.push(
          `${target} reads "${path}", which Central's __system does not have (it has: ${SYSTEM_FIELDS.map((field) => `__system.${field}`).join(', ')})`,
        );
      continue;
    }
    const repeat = repeatOf(path);
    if (repeat !== undefined) {
      problems.push(
        `${target} reads "${path}", inside the repeat group "${repeat}": Central sends a repeat's rows apart from the submission (any number of them), so it has no one value to read; map a field outside the repeat`,
      );
      continue;
    }
    const field = byPath.get(path);
    if (field === undefined) {
      const group = path.includes('.') ? path.slice(0, path.lastIndexOf('.')) : '';
      const near = [...byPath]
        .filter(([known, { type }]) => !isGroup(type) && repeatOf(known) === undefined)
        .map(([known]) => known)
        .filter((known) => (group === '' ? !known.includes('.') : known.startsWith(`${group}.`)))
        .slice(0, 8);
      problems.push(
        `${target} reads "${path}", which the form does not have${near.length > 0 ? ` (fields there: ${near.join(', ')})` : ''}`,
      );
      continue;
    }
    if (field.type === 'repeat') {
      problems.push(
        `${target} reads "${path}", a repeat group, not a field: Central sends its rows apart from the submission (any number of them), so it has no one value to read; map a field outside the repeat`,
      );
      continue;
    }
    if (field.type === 'structure') {
      const inside = [...byPath]
        .filter(([known, { type }]) => known.startsWith(`${path}.`) && !isGroup(type) && repeatOf(known) === undefined)
        .map(([known]) => known)
        .slice(0, 8);
      problems.push(`${target} reads "${path}", a group, not a field${inside.length > 0 ? ` (fields in it: ${inside.join(', ')})` : ''}`);
      continue;
    }
    if (DIGIT_TARGETS.has(target) && (field.type === 'int' || field.type === 'decimal')) {
      problems.push(
        `${target} reads "${path}", ${/^[aeiou]/.test(field.type) ? 'an' : 'a'} ${field.type} field: Central sends it as a number, so leading zeros and long numbers are lost; make it a text field in the form`,
      );
    }
  }
  return problems;
}
