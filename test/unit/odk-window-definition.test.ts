/**
 * A window is finished under the definition (mapping, DFSP data) it was started with, kept in
 * its spool's head. Resumed under a run's other files, it was applied under a new job
 * fingerprint (a fresh journal: the writes made found "unchanged", never recorded as the
 * importer's) and with another mapping than the one its plan was made with.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { importOdk, type ImportOdkInput, type OdkCentral, type OdkStore, type OdkWindowJob } from '../../src/app/import-odk.js';
import { ExitCode } from '../../src/core/errors.js';
import type { BulkInputRecord } from '../../src/core/bulk/types.js';
import type { OdkSubmission } from '../../src/core/odk.js';
import { strict } from '../helpers/strict.js';
import { DFSP, FIELDS, MAPPING, ODK_INPUT, odkDeps, submission, windowRecords, appliedEvent } from '../helpers/odk-unit.js';

const INPUT: ImportOdkInput = ODK_INPUT;

const SPOOL = 'spar_enrolment.jsonl';
const mappingText = readFileSync(MAPPING, 'utf8');
const dfspText = readFileSync(DFSP, 'utf8');
/** The run's definition as import-odk makes it from the fixture files. */
const definitionOf = (mapping: string, dfsp: string | null) => JSON.stringify({ mapping, dfsp, form: 'spar_enrolment' });
const renamed = dfspText.replace('First Community Bank', 'Renamed Community Bank');

/** Central holding these submissions (no deletions). */
const centralOf = (submissions: OdkSubmission[]) =>
  strict<OdkCentral>('central', {
    server: 'https://central.test',
    form: async () => ({ publishedAt: '2024-01-01T00:00:00.000Z', keyId: null }),
    fields: async () => FIELDS,
    submission: async (_project, _form, id) => submissions.find((s) => s.__id === id),
    submissions: async function* (_project, _form, query) {
      if (!query.filter?.includes('deletedAt')) yield submissions;
    },
    close: async () => undefined,
  });

/** A state folder in memory holding these spool files, and a bulk job applying every record; what each window was run with. */
function setUp(spools: Record<string, string>, submissions: OdkSubmission[]) {
  const notes: string[] = [];
  const box = { state: { claims: {} } as Parameters<OdkStore['writeState']>[0], spools };
  const windows: { job: OdkWindowJob; head: Record<string, unknown>; records: BulkInputRecord[] }[] = [];
  const value = strict<OdkStore>('store', {
    readState: () => box.state,
    writeState: (state) => {
      box.state = state;
    },
    spool: (name) => ({
      path: `/state/${name}`,
      exists: () => name in box.spools,
      write: (text) => {
        box.spools[name] = text;
      },
      append: (text) => {
        box.spools[name] = (box.spools[name] ?? '') + text;
      },
      read: () => box.spools[name]!,
      remove: () => {
        delete box.spools[name];
      },
    }),
    lock: () => ({ release: () => undefined }),
  });
  const runWindow = async (job: OdkWindowJob) => {
    const text = box.spools[SPOOL]!;
    const records = await windowRecords(job, text);
    windows.push({ job, head: JSON.parse(text.slice(0, text.indexOf('\n'))) as Record<string, unknown>, records });
    for (const record of records) job.collect(appliedEvent(record, { operation: 'link' }));
    job.finish('fingerprint');
    return ExitCode.ok;
  };
  const deps = odkDeps({ openStore: async () => value, openCentral: async () => centralOf(submissions), runWindow }, notes);
  return { box, windows, notes, deps };
}

/** A window an earlier run left: one apply of `s` (naming `id`), with `definition` kept in its head (none: an earlier sparctl's). */
function leftWindow(s: OdkSubmission, definition?: string, id = '0011000001'): string {
  const action = { kind: 'apply', submission: s.__id, beneficiary: id, why: 'new' };
  const head = { window: { watermark: s.__system.submissionDate, claims: {} }, ...(definition === undefined ? {} : { definition }) };
  return `${JSON.stringify(head)}\n${JSON.stringify({ action, submission: s })}\n`;
}

const faOf = (record: BulkInputRecord) => (record.parsed.ok ? record.parsed.faValue : undefined);

describe('a window import-odk spools', () => {
  it("keeps the run's definition in its head, the one its job is run under", async () => {
    const { windows, deps } = setUp({}, [submission('uuid:a', '0011000001', '2024-05-01T10:00:00.000Z')]);
    expect(await importOdk(deps, INPUT)).toEqual({ exitCode: ExitCode.ok });
    expect(windows).toHaveLength(1);
    expect(windows[0]!.head['definition']).toBe(definitionOf(mappingText, dfspText));
    expect(windows[0]!.job.definition).toBe(windows[0]!.head['definition']);
  });
});

describe('a window an earlier run left, resumed by a run given other files', () => {
  it('is finished under the definition kept in it (its job, its DFSP names), says so, and the poll after it uses the run’s', async () => {
    const s = submission('uuid:a', '0011000001', '2024-05-01T10:00:00.000Z');
    const later = submission('uuid:b', '0011000002', '2024-05-02T10:00:00.000Z');
    const kept = definitionOf(mappingText, renamed);
    const { box, windows, notes, deps } = setUp({ [SPOOL]: leftWindow(s, kept) }, [s, later]);
    expect(await importOdk(deps, INPUT)).toEqual({ exitCode: ExitCode.ok });
    expect(windows.map((w) => w.job.definition)).toEqual([kept, definitionOf(mappingText, dfspText)]);
    expect(faOf(windows[0]!.records[0]!)).toContain('bank_name:Renamed Community Bank.');
    expect(faOf(windows[1]!.records[0]!)).toContain('bank_name:First Community Bank.');
    expect(notes).toContain(
      "sparctl: the window /state/spar_enrolment.jsonl was started with other DFSP data than this run's: it is finished with those (kept in it), so that the writes made from it are recorded as this importer's; this run's apply from the next window on (--reapply writes that window's submissions again under them)",
    );
    expect(box.state.claims['uuid:a']?.wrote?.beneficiary).toBe('0011000001');
    expect(box.spools).toEqual({});
  });

  it('names what differs: the mapping, the DFSP data, or both (a --dfsp left out where it was given)', async () => {
    const s = submission('uuid:a', '0011000001', '2024-05-01T10:00:00.000Z');
    const edited = JSON.stringify({ ...(JSON.parse(mappingText) as object), $comment: 'edited' });
    for (const [kept, said] of [
      [definitionOf(edited, dfspText), 'with another mapping than'],
      [definitionOf(edited, null), 'with another mapping and other DFSP data than'],
    ] as const) {
      const { windows, notes, deps } = setUp({ [SPOOL]: leftWindow(s, kept) }, [s]);
      expect(await importOdk(deps, INPUT)).toEqual({ exitCode: ExitCode.ok });
      expect(windows[0]!.job.definition).toBe(kept);
      expect(notes.join('\n')).toContain(said);
    }
  });

  it('kept the same as the run’s: nothing is said', async () => {
    const s = submission('uuid:a', '0011000001', '2024-05-01T10:00:00.000Z');
    const { windows, notes, deps } = setUp({ [SPOOL]: leftWindow(s, definitionOf(mappingText, dfspText)) }, [s]);
    expect(await importOdk(deps, INPUT)).toEqual({ exitCode: ExitCode.ok });
    expect(windows[0]!.job.definition).toBe(definitionOf(mappingText, dfspText));
    expect(notes.join('\n')).not.toContain('was started with');
  });

  it('spooled by an earlier sparctl (no definition kept): finished under the run’s, as before', async () => {
    const s = submission('uuid:a', '0011000001', '2024-05-01T10:00:00.000Z');
    const { box, windows, notes, deps } = setUp({ [SPOOL]: leftWindow(s) }, [s]);
    expect(await importOdk(deps, INPUT)).toEqual({ exitCode: ExitCode.ok });
    expect(windows[0]!.job.definition).toBe(definitionOf(mappingText, dfspText));
    expect(notes.join('\n')).not.toContain('was started with');
    expect(box.state.claims['uuid:a']?.wrote?.beneficiary).toBe('0011000001');
  });

  it('a kept mapping this sparctl cannot compile: refused before anything is sent, naming where it is kept; the window stays', async () => {
    const s = submission('uuid:a', '0011000001', '2024-05-01T10:00:00.000Z');
    const spooled = leftWindow(s, definitionOf('{"id": {}}', dfspText));
    const { box, windows, deps } = setUp({ [SPOOL]: spooled }, [s]);
    await expect(importOdk(deps, INPUT)).rejects.toMatchObject({
      code: 'mapping.invalid',
      message: expect.stringContaining('the mapping kept in /state/spar_enrolment.jsonl'),
    });
    expect(windows).toEqual([]);
    expect(box.spools[SPOOL]).toBe(spooled);
  });
});
