import { describe, expect, it } from 'vitest';
import {
  importOdk,
  type ImportOdkInput,
  type OdkCentral,
  type OdkImportState,
  type OdkStore,
  type OdkWindowJob,
} from '../../src/app/import-odk.js';
import type { BulkInputRecord } from '../../src/core/bulk/types.js';
import { ExitCode } from '../../src/core/errors.js';
import type { OdkSubmission } from '../../src/core/odk.js';
import { FIELDS, ODK_INPUT, odkDeps, submission, windowRecords, appliedEvent } from '../helpers/odk-unit.js';

/**
 * Submissions import-odk needs but the window did not read (found against a real ODK Central):
 * an undo whose writer's deletion an earlier window read, and an older owner deleted in Central
 * between the feed and its fetch. Neither may stop the run (nor wedge the next runs on the spool).
 */

function setup(initial: OdkImportState, changes: OdkSubmission[], deletions: OdkSubmission[]) {
  const box: { state: OdkImportState; spools: Record<string, string> } = { state: initial, spools: {} };
  const store = {
    readState: () => box.state,
    writeState: (state: OdkImportState) => {
      box.state = state;
    },
    spool: (name: string) => ({
      path: `/state/${name}`,
      exists: () => name in box.spools,
      write: (text: string) => {
        box.spools[name] = text;
      },
      append: (text: string) => {
        box.spools[name] = (box.spools[name] ?? '') + text;
      },
      read: () => box.spools[name]!,
      remove: () => {
        delete box.spools[name];
      },
    }),
    lock: () => ({ release: () => undefined }),
  } as unknown as OdkStore;
  const client: OdkCentral = {
    server: 'https://central.test',
    form: async () => ({ publishedAt: '2024-01-01T00:00:00.000Z', keyId: null }),
    fields: async () => FIELDS,
    // Deleted in Central: Submissions('…') answers 404.
    submission: async () => undefined,
    submissions: async function* (_p, _f, query) {
      yield query.filter?.includes('deletedAt') ? deletions : changes;
    },
    close: async () => undefined,
  };
  const records: BulkInputRecord[] = [];
  const runWindow = async (job: OdkWindowJob) => {
    records.push(...(await windowRecords(job, box.spools[job.path.replace('/state/', '')]!)));
    for (const record of records) job.collect(appliedEvent(record, { operation: 'unlink' }));
    job.finish();
    return ExitCode.ok;
  };
  const notes: string[] = [];
  const deps = odkDeps({ openStore: async () => store, openCentral: async () => client, runWindow }, notes);
  return { box, deps, records, notes };
}

const INPUT: ImportOdkInput = { ...ODK_INPUT, onDelete: 'unlink' };

describe('import-odk: a submission the window needs but did not read', () => {
  it("an undo whose writer's deletion an earlier window read: the unlink is sent, named after the writer", async () => {
    const t = setup(
      {
        watermark: '2024-05-02T00:00:00.000Z',
        claims: {
          'uuid:w': {
            instance: 'uuid:w',
            date: '2024-05-01T10:00:00.000Z',
            review: 'received',
            deleted: true,
            beneficiary: '0011000001',
            wrote: { beneficiary: '0011000001', fa: 'faW', replaced: 'none' },
          },
        },
      },
      [submission('uuid:c', '0011000001', '2024-05-03T10:00:00.000Z', { reviewState: 'rejected', updatedAt: '2024-05-03T10:01:00.000Z' })],
      [],
    );
    expect(await importOdk(t.deps, INPUT)).toEqual({ exitCode: ExitCode.ok });
    expect(t.records.map((r) => [r.key, r.parsed.ok && r.parsed.mode, r.raw?.['odk_submission']])).toEqual([
      ['0011000001', 'unlink', 'uuid:w'],
    ]);
    expect(t.box.state.claims['uuid:w']!.wrote).toBeUndefined();
  });

  it("the poll line's counts add up: an undo of a submission the window did not read is labelled apart, not counted as one to apply", async () => {
    const t = setup(
      {
        watermark: '2024-05-02T00:00:00.000Z',
        claims: {
          'uuid:w': {
            instance: 'uuid:w',
            date: '2024-05-01T10:00:00.000Z',
            review: 'received',
            deleted: true,
            beneficiary: '0011000001',
            wrote: { beneficiary: '0011000001', fa: 'faW', replaced: 'none' },
          },
          'uuid:c': { instance: 'uuid:c', date: '2024-05-03T10:00:00.000Z', review: 'received', deleted: false, beneficiary: '0011000001' },
        },
      },
      [submission('uuid:c', '0011000001', '2024-05-03T10:00:00.000Z', { reviewState: 'rejected', updatedAt: '2024-05-03T10:01:00.000Z' })],
      [],
    );
    expect(await importOdk(t.deps, INPUT)).toEqual({ exitCode: ExitCode.ok });
    expect(t.notes.filter((n) => n.includes('read,'))).toEqual([
      "sparctl: https://central.test form spar_enrolment: 1 submission read, 0 to apply (1 skipped for their review state (rejected)); also 1 undo of an earlier submission's write",
    ]);
  });

  it('a spool an earlier sparctl saved without the undone submission is finished, not stopped on at every run', async () => {
    const claims = {
      'uuid:w': {
        instance: 'uuid:w',
        date: '2024-05-01T10:00:00.000Z',
        review: 'received' as const,
        deleted: true,
        beneficiary: '0011000001',
        wrote: { beneficiary: '0011000001', fa: 'faW', replaced: 'none' as const },
      },
    };
    const t = setup({ watermark: '2024-05-02T00:00:00.000Z', claims }, [], []);
    // What that sparctl wrote: the undo's line with no `submission` (it was undefined).
    const action = { kind: 'undo', submission: 'uuid:w', beneficiary: '0011000001', fa: 'faW', why: 'rejected' };
    t.box.spools['spar_enrolment.jsonl'] =
      `${JSON.stringify({ window: { watermark: '2024-05-03T10:01:00.000Z', claims } })}\n${JSON.stringify({ action })}\n`;
    expect(await importOdk(t.deps, INPUT)).toEqual({ exitCode: ExitCode.ok });
    expect(t.records.map((r) => [r.key, r.parsed.ok && r.parsed.mode, r.raw?.['odk_submission']])).toEqual([
      ['0011000001', 'unlink', 'uuid:w'],
    ]);
    expect(t.box.spools['spar_enrolment.jsonl']).toBeUndefined();
  });

  it('an older owner deleted in Central between the feed and its fetch: its beneficiary waits for the next poll, nothing is spooled', async () => {
    const t = setup(
      {
        watermark: '2024-05-02T00:00:00.000Z',
        claims: {
          'uuid:a': { instance: 'uuid:a', date: '2024-05-01T10:00:00.000Z', review: 'received', deleted: false, beneficiary: '0011000001' },
          'uuid:b': {
            instance: 'uuid:b',
            date: '2024-05-01T11:00:00.000Z',
            review: 'received',
            deleted: false,
            beneficiary: '0011000001',
            wrote: { beneficiary: '0011000001', fa: 'faB', replaced: 'none' },
          },
        },
      },
      [],
      [submission('uuid:b', '0011000001', '2024-05-01T11:00:00.000Z', { deletedAt: '2024-05-03T10:00:00.000Z' })],
    );
    expect(await importOdk(t.deps, INPUT)).toEqual({ exitCode: ExitCode.ok });
    expect(t.records).toEqual([]);
    expect(t.box.spools).toEqual({});
    expect(t.notes.some((n) => n.includes('uuid:a, which owns 0011000001, is no longer in Central'))).toBe(true);
  });
});
