import { describe, expect, it } from 'vitest';
import {
  importOdk,
  type ImportOdkInput,
  type OdkCentral,
  type OdkImportState,
  type OdkStore,
  type OdkWindowJob,
} from '../../src/app/import-odk.js';
import type { RecordEvent } from '../../src/core/bulk/events.js';
import { ExitCode, SparctlError } from '../../src/core/errors.js';
import type { OdkSubmission } from '../../src/core/odk.js';
import { FIELDS, ODK_INPUT, odkDeps, submission, windowRecords } from '../helpers/odk-unit.js';

/**
 * A window applied whose state could not be written (a full disk, a kill before the write): the
 * journal of its writes is what says they were the importer's. Found by a tester: the journal was
 * removed before the state was written, the next run found every record unchanged and recorded no
 * write, and a submission rejected later kept its beneficiary linked — paid — without a word.
 */

/**
 * The bulk job as it keeps its journal: a record the journal holds is "settled by an earlier run";
 * any other is applied unless the mapper holds it already; the window is finished (`finish`) before
 * the journal goes, and a SparctlError from it keeps the journal and stops the run with its code.
 */
function world(submissions: OdkSubmission[]) {
  const box = {
    state: { claims: {} } as OdkImportState,
    spools: {} as Record<string, string>,
    /** State writes to fail (a full disk). */
    failWrites: 0,
    /** The process dies as the window's spool is removed (after the state was written). */
    killAtRemove: false,
    journal: new Map<number, RecordEvent>(),
  };
  // The mapper: beneficiary → digest of the FA it holds.
  const mapper = new Map<string, string>();
  const store = {
    readState: () => box.state,
    writeState: (state: OdkImportState) => {
      if (box.failWrites > 0) {
        box.failWrites--;
        throw new SparctlError('disk.full', '/state/state.json: cannot write the import state: no space left on device (ENOSPC)', 4);
      }
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
        if (box.killAtRemove) {
          box.killAtRemove = false;
          throw new Error('killed');
        }
        delete box.spools[name];
      },
    }),
    lock: () => ({ release: () => undefined }),
  } as unknown as OdkStore;
  const client: OdkCentral = {
    server: 'https://central.test',
    form: async () => ({ publishedAt: '2024-01-01T00:00:00.000Z', keyId: null }),
    fields: async () => FIELDS,
    submission: async (_p, _f, id) => submissions.find((s) => s.__id === id),
    submissions: async function* (_p, _f, query) {
      if (!query.filter?.includes('deletedAt')) yield submissions;
    },
    close: async () => undefined,
  };
  const runWindow = async (job: OdkWindowJob) => {
    const records = await windowRecords(job, box.spools[job.path.replace('/state/', '')]!);
    for (const record of records) {
      const earlier = box.journal.get(record.seq);
      if (earlier !== undefined) {
        job.collect({ ...earlier, resumed: true });
        continue;
      }
      if (!record.parsed.ok || record.key === undefined) throw new Error('the fixture rejects nothing');
      const base = { type: 'record', seq: record.seq, id: record.key, code: null, message: null } as const;
      const value = record.parsed.value as { onlyIfFa?: string };
      let event: RecordEvent;
      if (record.parsed.mode === 'unlink') {
        const held = mapper.get(record.key);
        if (held === undefined || held !== value.onlyIfFa) event = { ...base, fate: 'unchanged' };
        else {
          mapper.delete(record.key);
          event = { ...base, operation: 'unlink', fate: 'applied' };
        }
      } else {
        const fa = job.faDigest(record.parsed.faValue!);
        if (mapper.get(record.key) === fa) event = { ...base, fate: 'unchanged' };
        else {
          const operation = mapper.has(record.key) ? 'update' : 'link';
          job.beforeSending([{ seq: record.seq, operation, before: mapper.has(record.key) ? { fa: 'x' } : null }]);
          mapper.set(record.key, fa);
          event = { ...base, operation, fate: 'applied' };
        }
      }
      if (event.fate === 'applied') box.journal.set(record.seq, event);
      job.collect(event);
    }
    try {
      job.finish();
    } catch (error) {
      if (!(error instanceof SparctlError)) throw error;
      return error.exitCode; // the journal kept
    }
    box.journal.clear();
    return ExitCode.ok;
  };
  const notes: string[] = [];
  const deps = odkDeps(
    {
      openStore: async () => store,
      openCentral: async () => client,
      runWindow,
      readMapper: async (ids: readonly string[]) =>
        new Map(ids.filter((id) => mapper.has(id)).map((id) => [id, { fa: undefined, stored: mapper.get(id) }])),
    },
    notes,
  );
  return { box, deps, mapper, notes };
}

const INPUT: ImportOdkInput = ODK_INPUT;

describe('import-odk: a window applied whose state could not be written', () => {
  it('keeps the journal, so the next run records the writes it resumes; a rejection then unlinks the beneficiary', async () => {
    const submissions = [
      submission('uuid:a', '0011000001', '2024-05-01T10:00:00.000Z'),
      submission('uuid:b', '0011000002', '2024-05-01T10:01:00.000Z'),
    ];
    const w = world(submissions);
    w.box.failWrites = 1;
    expect(await importOdk(w.deps, INPUT)).toEqual({ exitCode: ExitCode.unavailable });
    expect([...w.mapper.keys()]).toEqual(['0011000001', '0011000002']);
    expect(w.box.journal.size).toBe(2);
    expect(Object.keys(w.box.spools).sort()).toEqual(['spar_enrolment.jsonl', 'spar_enrolment.jsonl.replaced']);
    expect(w.box.state).toEqual({ claims: {} });

    // The disk has room again: the window is finished from its journal, every write recorded.
    const said = w.notes.length;
    expect(await importOdk(w.deps, INPUT)).toEqual({ exitCode: ExitCode.ok });
    expect(w.notes[said]).toBe('sparctl: finishing the window an earlier run left unfinished (/state/spar_enrolment.jsonl)');
    expect(w.box.journal.size).toBe(0);
    expect(w.box.spools).toEqual({});
    expect(w.box.state.claims['uuid:a']!.wrote).toMatchObject({ beneficiary: '0011000001', replaced: 'none' });
    expect(w.box.state.claims['uuid:b']!.wrote).toMatchObject({ beneficiary: '0011000002', replaced: 'none' });
    expect(w.box.state.watermark).toBe('2024-05-01T10:01:00.000Z');

    // A reviewer rejects uuid:a: its link is undone.
    submissions[0] = submission('uuid:a', '0011000001', '2024-05-01T10:00:00.000Z', {
      reviewState: 'rejected',
      updatedAt: '2024-05-02T09:00:00.000Z',
    });
    expect(await importOdk(w.deps, { ...INPUT, onReject: 'unlink' })).toEqual({ exitCode: ExitCode.ok });
    expect(w.mapper.has('0011000001')).toBe(false);
    expect(w.mapper.has('0011000002')).toBe(true);
    expect(w.box.state.claims['uuid:a']!.wrote).toBeUndefined();
  });

  it('killed after the state was written, before its spool and journal went: settled again into the same claims', async () => {
    const w = world([submission('uuid:a', '0011000001', '2024-05-01T10:00:00.000Z')]);
    w.box.killAtRemove = true;
    await expect(importOdk(w.deps, INPUT)).rejects.toThrow('killed');
    const settled = w.box.state;
    expect(settled.claims['uuid:a']!.wrote).toMatchObject({ beneficiary: '0011000001', replaced: 'none' });
    expect(Object.keys(w.box.spools).sort()).toEqual(['spar_enrolment.jsonl', 'spar_enrolment.jsonl.replaced']);
    expect(w.box.journal.size).toBe(1);

    // The window resumed from its journal is settled from its own claims: the same state, no write lost or doubled.
    expect(await importOdk(w.deps, INPUT)).toEqual({ exitCode: ExitCode.ok });
    expect(w.box.state).toEqual(settled);
    expect(w.box.spools).toEqual({});
    expect(w.box.journal.size).toBe(0);
  });
});
