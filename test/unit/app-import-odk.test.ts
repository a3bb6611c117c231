import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  importOdk,
  report,
  stateKey,
  type ImportOdkDeps,
  type ImportOdkInput,
  type OdkCentral,
  type OdkImportState,
  type OdkStore,
  type OdkWindowJob,
} from '../../src/app/import-odk.js';
import type { BulkSummary, RecordEvent } from '../../src/core/bulk/events.js';
import type { Current } from '../../src/core/bulk/plan.js';
import type { BulkInputRecord } from '../../src/core/bulk/types.js';
import { readHeld } from '../../src/cli/compose/import-odk.js';
import { ExitCode, SparctlError, UnavailableError } from '../../src/core/errors.js';
import type { Mapper } from '../../src/core/mapper.js';
import type { ItemResult } from '../../src/core/results.js';
import type { OdkSubmission } from '../../src/core/odk.js';
import { constructFa, deconstructFa, DEFAULT_STRATEGIES } from '../../src/core/strategy/strategy.js';
import { strict } from '../helpers/strict.js';
import { FIELDS, MAPPING, ODK_INPUT, sha256, submission, windowRecords, appliedEvent } from '../helpers/odk-unit.js';

/** Central with these submissions; `pages` records each feed query, `down` makes the form read fail. */
function central(submissions: OdkSubmission[], options: { down?: () => boolean } = {}) {
  const queries: ({ filter?: string } | string)[] = [];
  let closed = 0;
  const client = strict<OdkCentral>('central', {
    server: 'https://central.test',
    form: async () => {
      if (options.down?.()) throw new UnavailableError('odk.unavailable', 'connection refused');
      return { publishedAt: '2024-01-01T00:00:00.000Z', keyId: null };
    },
    fields: async () => FIELDS,
    submission: async (_project, _form, id) => {
      queries.push(id);
      return submissions.find((s) => s.__id === id);
    },
    submissions: async function* (_project, _form, query) {
      queries.push({ ...(query.filter === undefined ? {} : { filter: query.filter }) });
      // The deletion feed (its filter names deletedAt) is empty here.
      if (query.filter?.includes('deletedAt')) return;
      yield submissions;
    },
    close: async () => {
      closed++;
    },
  });
  return { client, queries, closed: () => closed };
}

/** The state directory in memory: state, spool files by name, the lock. */
function store(initial: OdkImportState = { claims: {} }, spools: Record<string, string> = {}) {
  const log: string[] = [];
  const box = { state: initial, spools, log };
  const value = strict<OdkStore>('store', {
    readState: () => box.state,
    writeState: (state) => {
      log.push('writeState');
      box.state = state;
    },
    spool: (name) => ({
      path: `/state/${name}`,
      exists: () => name in box.spools,
      write: (text) => {
        log.push(`write ${name}`);
        box.spools[name] = text;
      },
      append: (text) => {
        box.spools[name] = (box.spools[name] ?? '') + text;
      },
      read: () => box.spools[name]!,
      remove: () => {
        log.push(`remove ${name}`);
        delete box.spools[name];
      },
    }),
    lock: () => {
      log.push('lock');
      return { release: () => log.push('release') };
    },
  });
  return Object.assign(box, { value });
}

/**
 * A record's fate in the fake bulk job; with `before`, the job sent it after reading that, and
 * says so first (beforeSending), as the engine does. Without it: sent by an earlier run.
 */
type Fate = Partial<RecordEvent> & { readonly before?: Current | undefined };

/** A bulk job that reads the spool through the use case's records and gives each record this fate. */
function bulkJob(box: ReturnType<typeof store>, fate: (record: BulkInputRecord) => Fate = () => ({ fate: 'applied' })) {
  const jobs: { job: OdkWindowJob; records: BulkInputRecord[] }[] = [];
  const runWindow = async (job: OdkWindowJob) => {
    const records = await windowRecords(job, box.spools[job.path.replace('/state/', '')]!);
    for (const record of records) {
      const { before, ...event } = fate(record);
      if (event.operation !== undefined && event.operation !== 'resolve' && Object.hasOwn(fate(record), 'before'))
        job.beforeSending([{ seq: record.seq, operation: event.operation, before }]);
      job.collect(appliedEvent(record, event));
    }
    jobs.push({ job, records });
    // Done: the window is settled before the journal would go, as the bulk job does.
    job.finish();
    return records.some((r) => !r.parsed.ok) ? ExitCode.rejected : ExitCode.ok;
  };
  return { runWindow, jobs };
}

const INPUT: ImportOdkInput = ODK_INPUT;

function deps(overrides: Partial<ImportOdkDeps>): ImportOdkDeps & { notes: string[] } {
  const notes: string[] = [];
  let now = 0;
  const base: Partial<ImportOdkDeps> = {
    settings: { odkUrl: 'https://central.test', odkProject: 3, odkForm: 'spar_enrolment' },
    yes: false,
    quiet: false,
    readText: async (file) => readFileSync(file, 'utf8'),
    parseJson: (text) => JSON.parse(text),
    announceTarget: () => undefined,
    mapperIdentity: async () => 'local /db abc',
    sha256,
    // Nothing linked: every write creates its link.
    readMapper: async () => new Map(),
    clock: () => now,
    sleep: async (ms) => {
      now += ms;
    },
    note: (line) => notes.push(line),
  };
  return Object.assign(
    strict<ImportOdkDeps>('deps', { ...base, ...overrides }, [
      'stdoutFailure',
      'earlierMapperIdentity',
      'statesElsewhere',
      'onStopSignal',
      'exitNow',
    ]),
    { notes },
  );
}

describe('import-odk (use case)', () => {
  it('refuses a missing server, project or form, an unknown review state, and an unconfirmed unlink policy before reading anything', async () => {
    // readText is not given: reading the mapping before these checks fails the test.
    const bare = (settings: ImportOdkDeps['settings'], yes = false) => strict<ImportOdkDeps>('deps', { settings, yes });
    await expect(importOdk(bare({ odkProject: 3 }), INPUT)).rejects.toMatchObject({
      code: 'odk.not_configured',
      message: 'import-odk needs the server (--odk-url, odkUrl, SPARCTL_ODK_URL), the form (--form, odkForm)',
    });
    // Flags stand in for the profile.
    const full = { odkUrl: 'https://c', odkProject: 3, odkForm: 'f' };
    await expect(
      importOdk(bare({}), { ...INPUT, odkUrl: 'https://c', project: 3, form: 'f', skipReview: 'approved, nope' }),
    ).rejects.toMatchObject({ code: 'usage.review_state' });
    await expect(importOdk(bare(full), { ...INPUT, onReject: 'unlink' })).rejects.toMatchObject({
      code: 'usage.confirmation_required',
      message: expect.stringContaining('--on-reject unlink'),
    });
    await expect(importOdk(bare(full), { ...INPUT, onDelete: 'unlink' })).rejects.toMatchObject({
      code: 'usage.confirmation_required',
      message: expect.stringContaining('--on-delete unlink'),
    });
  });

  it('keys the state to server, project, form and mapper: /v1 and a trailing slash name the same server', () => {
    const hex = sha256;
    const target = { url: 'https://central.test', project: 3, form: 'f' };
    const key = stateKey(hex, target, 'local /db abc');
    expect(stateKey(hex, { ...target, url: 'https://central.test/v1/' }, 'local /db abc')).toBe(key);
    expect(stateKey(hex, { ...target, url: 'https://central.test//' }, 'local /db abc')).toBe(key);
    // Not a hash of a password: a changed one, or a query key, is the same state.
    expect(stateKey(hex, { ...target, url: 'https://user:secret@central.test/v1?apikey=K' }, 'local /db abc')).toBe(key);
    expect(stateKey(hex, target, 'local /db other')).not.toBe(key);
    expect(stateKey(hex, { ...target, project: 4 }, 'local /db abc')).not.toBe(key);
  });

  it('a first run reads every submission, spools the window, applies it, then records the watermark and what was written and removes the spool', async () => {
    const fake = central([
      submission('uuid:a', '0011000001', '2024-05-01T10:00:00.000Z'),
      submission('uuid:b', '0011000002', '2024-05-01T11:00:00.000Z'),
    ]);
    const box = store();
    const job = bulkJob(box);
    let key = '';
    const d = deps({
      openStore: async (k) => {
        key = k;
        return box.value;
      },
      openCentral: async () => fake.client,
      runWindow: job.runWindow,
    });
    const result = await importOdk(d, INPUT);
    expect(result).toEqual({ exitCode: ExitCode.ok });
    expect(key).toBe(sha256(JSON.stringify(['https://central.test', 3, 'spar_enrolment', 'local /db abc']), 'hex').slice(0, 24));
    // No watermark yet: the change feed without a filter, and the deletions since ever.
    expect(fake.queries[0]).toEqual({});
    expect(box.log).toEqual(['lock', 'write spar_enrolment.jsonl', 'writeState', 'remove spar_enrolment.jsonl', 'release']);
    expect(box.state.watermark).toBe('2024-05-01T11:00:00.000Z');
    const wrote = box.state.claims['uuid:a']!.wrote!;
    expect(wrote.beneficiary).toBe('0011000001');
    // A digest of the FA the write stored, never the FA itself.
    const record = job.jobs[0]!.records[0]!;
    expect(record.parsed.ok && record.parsed.faValue).toMatch(/^account_number:000111\./);
    expect(wrote.fa).toBe(sha256(record.parsed.ok ? record.parsed.faValue! : '', 'base64url').slice(0, 22));
    expect(job.jobs[0]!.job).toMatchObject({
      path: '/state/spar_enrolment.jsonl',
      quiet: false,
      source: 'sparctl import-odk form spar_enrolment',
    });
    expect(job.jobs[0]!.job.onSummary).toBeUndefined();
    expect(job.jobs[0]!.records.map((r) => [r.seq, r.key, r.raw?.['odk_submission']])).toEqual([
      [0, '0011000001', 'uuid:a'],
      [1, '0011000002', 'uuid:b'],
    ]);
    expect(d.notes).toEqual(['sparctl: https://central.test form spar_enrolment: 2 submissions read, 2 to apply']);
    expect(fake.closed()).toBe(1);
  });

  it("a submission the mapping's filters leave out claims no beneficiary: not applied, counted in the poll line", async () => {
    const refused = submission('uuid:b', '0011000002', '2024-05-01T11:00:00.000Z');
    (refused['payment'] as Record<string, string>)['payment_consent'] = ' NO ';
    const fake = central([submission('uuid:a', '0011000001', '2024-05-01T10:00:00.000Z'), refused]);
    const box = store();
    const job = bulkJob(box);
    const d = deps({
      readText: async (file) => {
        const text = readFileSync(file, 'utf8');
        return file === MAPPING ? JSON.stringify({ ...JSON.parse(text), where: { path: 'payment.payment_consent', equals: 'yes' } }) : text;
      },
      openStore: async () => box.value,
      openCentral: async () => fake.client,
      runWindow: job.runWindow,
    });
    expect(await importOdk(d, INPUT)).toEqual({ exitCode: ExitCode.ok });
    expect(job.jobs[0]!.records.map((r) => r.key)).toEqual(['0011000001']);
    expect(d.notes).toEqual([
      "sparctl: https://central.test form spar_enrolment: 2 submissions read, 1 to apply (1 skipped by the mapping's filters)",
    ]);
    expect(box.state.claims['uuid:b']).toMatchObject({ review: 'received' });
    expect(box.state.claims['uuid:b']!.beneficiary).toBeUndefined();
  });

  it('records only what the mapper confirmed: a write kept because the mapper changed since leaves no digest, and says who changed it', async () => {
    const fake = central([
      submission('uuid:a', '0011000001', '2024-05-01T10:00:00.000Z'),
      submission('uuid:b', '0011000002', '2024-05-01T11:00:00.000Z'),
    ]);
    const box = store();
    const job = bulkJob(box, (record) =>
      record.key === '0011000002' ? { fate: 'unchanged', code: 'kept.changed_since' } : { fate: 'applied' },
    );
    const d = deps({
      openStore: async () => box.value,
      openCentral: async () => fake.client,
      runWindow: job.runWindow,
      lastChange: async () => 'sparctl link at 2024-05-02',
    });
    await importOdk(d, INPUT);
    expect(box.state.claims['uuid:a']!.wrote).toBeDefined();
    expect(box.state.claims['uuid:b']!.wrote).toBeUndefined();
    expect(d.notes).toContain('sparctl: kept 0011000002: changed in the mapper since this importer wrote it (sparctl link at 2024-05-02)');
  });

  it('a stop signal once the window was applied says the window is recorded, not that nothing of it was sent', async () => {
    const fake = central([submission('uuid:a', '0011000001', '2024-05-01T10:00:00.000Z')]);
    const box = store();
    const job = bulkJob(box);
    let applied = false;
    const stopped = new Error('exited');
    const d = deps({
      openStore: async () => box.value,
      openCentral: async () => fake.client,
      runWindow: async (window) => {
        const code = await job.runWindow(window);
        applied = true;
        return code;
      },
      // A signal comes as soon as the run listens again after the window.
      onStopSignal: (handler) => {
        if (applied) handler('SIGINT');
        return () => undefined;
      },
      exitNow: () => {
        throw stopped;
      },
    });
    await expect(importOdk(d, INPUT)).rejects.toBe(stopped);
    expect(d.notes).toContain('sparctl: interrupted; the window applied is recorded; nothing read since was sent');
    expect(d.notes.join('\n')).not.toContain('nothing of this window was sent');
    expect(box.state.claims['uuid:a']!.wrote).toBeDefined();
  });

  it('a window that did not finish (a mapper outage) keeps its spool and the old state, for the next run to finish', async () => {
    const fake = central([submission('uuid:a', '0011000001', '2024-05-01T10:00:00.000Z')]);
    const box = store({ watermark: '2024-04-01T00:00:00.000Z', claims: {} });
    const d = deps({ openStore: async () => box.value, openCentral: async () => fake.client, runWindow: async () => ExitCode.unavailable });
    expect(await importOdk(d, INPUT)).toEqual({ exitCode: ExitCode.unavailable });
    expect(box.log).toEqual(['lock', 'write spar_enrolment.jsonl', 'release']);
    expect(box.state).toEqual({ watermark: '2024-04-01T00:00:00.000Z', claims: {} });
    // The next run finishes that window before it asks Central for anything, and says so.
    const next = bulkJob(box);
    const calls: string[] = [];
    const again = deps({
      openStore: async () => box.value,
      openCentral: async () => ({
        ...fake.client,
        server: fake.client.server,
        form: async (...args) => (calls.push('form'), fake.client.form(...args)),
        fields: fake.client.fields,
        submission: fake.client.submission,
        submissions: fake.client.submissions,
        close: fake.client.close,
      }),
      runWindow: async (job) => (calls.push('window'), next.runWindow(job)),
    });
    expect(await importOdk(again, INPUT)).toEqual({ exitCode: ExitCode.ok });
    expect(calls).toEqual(['window', 'form']);
    expect(again.notes[0]).toBe('sparctl: finishing the window an earlier run left unfinished (/state/spar_enrolment.jsonl)');
    expect(box.state.claims['uuid:a']!.wrote?.beneficiary).toBe('0011000001');
  });

  it('nothing to apply: the watermark moves forward only, and a dry run writes no state and takes no lock', async () => {
    const a = submission('uuid:a', '0011000001', '2024-05-01T10:00:00.000Z');
    const claims = {
      'uuid:a': {
        instance: 'uuid:a',
        date: a.__system.submissionDate,
        review: 'received',
        deleted: false,
        beneficiary: '0011000001',
        wrote: { beneficiary: '0011000001', fa: 'x' },
      },
    };
    const later = store({ watermark: '2024-06-01T00:00:00.000Z', claims });
    await importOdk(deps({ openStore: async () => later.value, openCentral: async () => central([a]).client }), INPUT);
    expect(later.state.watermark).toBe('2024-06-01T00:00:00.000Z');
    expect(later.log).toEqual(['lock', 'writeState', 'release']);
    const dry = store({ claims: {} });
    const job = bulkJob(dry);
    const d = deps({
      openStore: async () => dry.value,
      openCentral: async () => central([a]).client,
      runWindow: job.runWindow,
      mapperIdentity: async (dryRun) => `dry ${dryRun}`,
    });
    expect(await importOdk(d, { ...INPUT, dryRun: true })).toEqual({ exitCode: ExitCode.ok });
    expect(dry.log).toEqual(['write spar_enrolment.dry-run.jsonl', 'remove spar_enrolment.dry-run.jsonl']);
  });

  it('--instance-id: a rejected submission needs --yes, which also lifts "rejected" from the skipped states; no watermark moves', async () => {
    const rejected = submission('uuid:r', '0011000009', '2024-05-01T10:00:00.000Z', { reviewState: 'rejected' });
    const box = store({ watermark: '2024-04-01T00:00:00.000Z', claims: {} });
    const refused = deps({ openStore: async () => box.value, openCentral: async () => central([rejected]).client });
    await expect(importOdk(refused, { ...INPUT, instanceId: 'uuid:r' })).rejects.toMatchObject({ code: 'odk.instance_rejected' });
    expect(box.log).toEqual(['lock', 'release']);
    const job = bulkJob(box);
    const d = deps({
      yes: true,
      openStore: async () => box.value,
      openCentral: async () => central([rejected]).client,
      runWindow: job.runWindow,
    });
    expect(await importOdk(d, { ...INPUT, instanceId: 'uuid:r' })).toEqual({ exitCode: ExitCode.ok });
    expect(job.jobs[0]!.job.path).toBe('/state/spar_enrolment.instance.jsonl');
    expect(d.notes[0]).toBe('sparctl: warning: uuid:r was rejected by a reviewer in Central; applying it as asked (--yes)');
    expect(box.state.claims['uuid:r']!.wrote?.beneficiary).toBe('0011000009');
    expect(box.state.watermark).toBe('2024-04-01T00:00:00.000Z');
  });

  it('-q says nothing, except with --watch', async () => {
    const quiet = deps({ quiet: true, openStore: async () => store().value, openCentral: async () => central([]).client });
    await importOdk(quiet, INPUT);
    expect(quiet.notes).toEqual([]);
  });

  it('--watch: an outage ends one poll, not the watch; Ctrl-C ends it with 130, and the handler, the lock and the client are let go', async () => {
    let polls = 0;
    const fake = central([], { down: () => ++polls === 1 });
    const box = store();
    let handler: (() => void) | undefined;
    const slept: number[] = [];
    let now = 0;
    const d = deps({
      quiet: true,
      openStore: async () => box.value,
      openCentral: async () => fake.client,
      onInterrupt: (h) => {
        handler = h;
        return () => {
          handler = undefined;
        };
      },
      clock: () => now,
      sleep: async (ms) => {
        slept.push(ms);
        now += ms;
        // Ctrl-C during the second wait.
        if (polls === 2 && now >= 1500) handler?.();
      },
    });
    expect(await importOdk(d, { ...INPUT, watch: true, interval: 1 })).toEqual({ exitCode: ExitCode.interrupted });
    expect(polls).toBe(2);
    expect(d.notes).toEqual([
      'sparctl: poll failed: connection refused; trying again in 1 s',
      'sparctl: https://central.test form spar_enrolment: 0 submissions read, 0 to apply',
    ]);
    // A 1 s interval in 100 ms looks; the first wait whole, the second cut short.
    expect(slept).toEqual(Array(15).fill(100));
    expect(handler).toBeUndefined();
    expect(box.log.at(-1)).toBe('release');
    expect(fake.closed()).toBe(1);
  });

  it('--watch ends once stdout has failed (a full disk): that failure is its error, and the lock and the client are let go', async () => {
    let polls = 0;
    const fake = central([], { down: () => (++polls, false) });
    const box = store();
    const full = new SparctlError('disk.full', 'stdout: cannot write the output', ExitCode.unavailable);
    let handler: (() => void) | undefined;
    let now = 0;
    const d = deps({
      quiet: true,
      openStore: async () => box.value,
      openCentral: async () => fake.client,
      onInterrupt: (h) => {
        handler = h;
        return () => undefined;
      },
      // A watch that went on would be stopped here, at its third poll, rather than hang the test.
      clock: () => now,
      sleep: async (ms) => {
        now += ms;
        if (polls >= 3) handler?.();
      },
      stdoutFailure: () => (polls > 0 ? full : undefined),
    });
    await expect(importOdk(d, { ...INPUT, watch: true, interval: 1 })).rejects.toBe(full);
    expect(polls).toBe(1);
    expect(box.log.at(-1)).toBe('release');
    expect(fake.closed()).toBe(1);
  });

  it('--watch stops at once on an error that is not an outage', async () => {
    const fake = central([]);
    const box = store();
    const d = deps({
      openStore: async () => box.value,
      openCentral: async () =>
        ({
          ...fake.client,
          server: 'https://central.test',
          form: async () => ({ publishedAt: null, keyId: null }),
          close: fake.client.close,
        }) as OdkCentral,
      onInterrupt: () => () => undefined,
    });
    await expect(importOdk(d, { ...INPUT, watch: true })).rejects.toMatchObject({ code: 'odk.not_published' });
    // Refused before anything was done: the lock (which makes the state's folder) was never taken.
    expect(box.log).toEqual([]);
    expect(fake.closed()).toBe(1);
  });
});

describe('import-odk: what a write replaced', () => {
  /** A mapper whose resolve answers each ID as `answer` says (undefined: no answer for it). */
  const mapper = (answer: (id: string) => Partial<ItemResult> | undefined) =>
    strict<Pick<Mapper, 'strategies' | 'resolve' | 'storedFas'>>(
      'mapper',
      {
        strategies: async () => [...DEFAULT_STRATEGIES],
        resolve: async (items) =>
          items.flatMap((item) => {
            const a = answer(item.id);
            return a === undefined
              ? []
              : [
                  {
                    reference_id: item.reference_id,
                    id: item.id,
                    status: 'succ',
                    status_reason_code: null,
                    status_reason_message: null,
                    ...a,
                  } as ItemResult,
                ];
          }),
      },
      ['storedFas'],
    );

  it('reads an FA found as a string or null as held with unknown fields, not_found as not linked, and stops on a rejected or missing answer', async () => {
    const fa = { strategy_id: 1, account_number: '000111' };
    const held = await readHeld(
      mapper((id) =>
        id === 'str'
          ? { fa: 'account_number:000111.branch_code:BNK001-0042@bnk001.bank' }
          : id === 'null'
            ? { fa: null }
            : id === 'obj'
              ? { fa }
              : { status_reason_code: 'succ.fa.not_linked_to_id' },
      ),
      ['str', 'null', 'obj', 'none'],
      2,
    );
    expect(held.get('str')).toEqual({ fa: undefined, stored: 'account_number:000111.branch_code:BNK001-0042@bnk001.bank' });
    expect(held.get('null')).toEqual({ fa: undefined, stored: undefined });
    expect(held.get('obj')?.fa).toEqual(fa);
    expect(held.has('none')).toBe(false);
    await expect(
      readHeld(
        mapper(() => ({ status: 'rjct', status_reason_code: 'rjct.id.invalid' })),
        ['a'],
        10,
      ),
    ).rejects.toBeInstanceOf(UnavailableError);
    await expect(
      readHeld(
        mapper(() => undefined),
        ['a'],
        10,
      ),
    ).rejects.toMatchObject({ code: 'remote.unexpected_answer' });
  });

  /** The strategy the mapping links a bank account with, and an FA of it as the mapper stores it. */
  const bankStrategy = DEFAULT_STRATEGIES.find((strategy) => strategy.id === 2)!;
  const bankFa = (account: string) =>
    constructFa(bankStrategy, {
      strategy_id: 2,
      fa_type: 'BANK',
      account_number: account,
      branch_name: 'Main',
      branch_code: '0001',
      bank_name: 'First Community Bank',
      bank_code: 'BNK001',
    } as never);
  /** What the local mapper's resolve tells of a stored bank FA: its strategy's groups and id. */
  const fieldsOf = (stored: string) => ({ ...deconstructFa(bankStrategy, stored), strategy_id: 2 });
  /** The read before the window: the admin's FA X, linked then. */
  const preRead = new Map([['0011000001', { fa: fieldsOf(bankFa('900001')), stored: bankFa('900001') }]]);

  /** One submission applied with this fate; what the state records it wrote. */
  const run = async (
    event: Fate,
    options: {
      held?: Map<string, { fa: Record<string, unknown> | undefined; stored: string | undefined }>;
      claims?: OdkImportState['claims'];
    } = {},
  ) => {
    const fake = central([submission('uuid:a', '0011000001', '2024-05-01T10:00:00.000Z')]);
    const box = store({ claims: options.claims ?? {} });
    const job = bulkJob(box, () => ({ fate: 'applied', ...event }));
    await importOdk(
      deps({
        openStore: async () => box.value,
        openCentral: async () => fake.client,
        runWindow: job.runWindow,
        readMapper: async () => options.held ?? preRead,
      }),
      INPUT,
    );
    return box.state.claims['uuid:a']!.wrote!;
  };

  it("an update replaced what the write's own read saw, not what the read before the window saw (changed by hand while the window waited)", async () => {
    // Spooled over the admin's X; killed; the admin put Y; the resumed run wrote over Y.
    const y = bankFa('000777');
    const wrote = await run({ operation: 'update', before: { fa: y, strategyId: 2, name: null, phone: null } });
    expect(wrote.replaced).toEqual({ fa: fieldsOf(y), name: null, phone: null });
    expect(wrote.replaced).toMatchObject({ fa: expect.objectContaining({ account_number: '000777', strategy_id: 2 }) });
    // With the name and phone the link held, where the read told them (the local mapper's).
    const named = await run({ operation: 'update', before: { fa: y, strategyId: 2, name: 'Admin Name', phone: '+254700000001' } });
    expect(named.replaced).toEqual({ fa: fieldsOf(y), name: 'Admin Name', phone: '+254700000001' });
    // A remote mapper's read tells the fields themselves, and no name or phone: not put back.
    const told = { strategy_id: 2, fa_type: 'BANK', account_number: '000778', bank_code: 'BNK001' };
    expect((await run({ operation: 'update', before: told })).replaced).toEqual({ fa: told });
  });

  it('a write an earlier run sent, only read back by this one, replaced something unknown: never undone, whatever the read before the window saw', async () => {
    expect((await run({ operation: 'update', fate: 'confirmed' })).replaced).toBeUndefined();
    expect((await run({ operation: 'update', fate: 'applied', before: undefined })).replaced).toBeUndefined();
  });

  it("an update over the importer's own earlier write carries on what that write replaced", async () => {
    const own = bankFa('000111');
    const claims: OdkImportState['claims'] = {
      'uuid:a': {
        // An earlier instance: the edit is new content, written over the importer's own write.
        instance: 'uuid:a-before-the-edit',
        date: '2024-05-01T10:00:00.000Z',
        review: 'received',
        deleted: false,
        beneficiary: '0011000001',
        wrote: { beneficiary: '0011000001', fa: sha256(own, 'base64url').slice(0, 22), replaced: 'none' },
      },
    };
    const before = { fa: own, strategyId: 2, name: null, phone: null };
    expect((await run({ operation: 'update', before }, { claims })).replaced).toBe('none');
    // Beside the importer's write, an FA whose stored string cannot be told may be its own: not known.
    expect((await run({ operation: 'update', before: { fa: 'opaque', strategyId: undefined } }, { claims })).replaced).toBeUndefined();
  });

  it('an update over an FA whose fields cannot be told, or where the read found nothing linked, replaced something unknown; a link replaced none', async () => {
    // A string without a strategy id (G2P Connect), a strategy the target lacks, a string its pattern does not read, a resolve without fields.
    for (const before of [
      { fa: 'some:fa@bank', strategyId: undefined },
      { fa: bankFa('000777'), strategyId: 99 },
      { fa: 'not a bank fa', strategyId: 2 },
      {},
      null,
    ])
      expect((await run({ operation: 'update', before })).replaced).toBeUndefined();
    expect((await run({ operation: 'link', before: null })).replaced).toBe('none');
    // A link sent without reading (link-first): it created its link.
    expect((await run({ operation: 'link' }, { held: new Map() })).replaced).toBe('none');
  });

  it("a window an earlier sparctl spooled with what the read before it saw: that is ignored, the write's own read decides", async () => {
    const s = submission('uuid:a', '0011000001', '2024-05-01T10:00:00.000Z');
    const action = { kind: 'apply', submission: 'uuid:a', beneficiary: '0011000001', why: 'new' };
    const spooled = [
      JSON.stringify({ window: { watermark: '2024-05-01T10:00:00.000Z', claims: {} } }),
      JSON.stringify({ action, submission: s, replaced: { fa: fieldsOf(bankFa('900001')) } }),
    ].join('\n');
    const box = store({ claims: {} }, { 'spar_enrolment.jsonl': `${spooled}\n` });
    const y = bankFa('000777');
    const job = bulkJob(box, () => ({ fate: 'applied', operation: 'update', before: { fa: y, strategyId: 2 } }));
    const fake = central([s]);
    const d = deps({ openStore: async () => box.value, openCentral: async () => fake.client, runWindow: job.runWindow });
    expect(await importOdk(d, INPUT)).toEqual({ exitCode: ExitCode.ok });
    expect(d.notes[0]).toBe('sparctl: finishing the window an earlier run left unfinished (/state/spar_enrolment.jsonl)');
    expect(box.state.claims['uuid:a']!.wrote!.replaced).toEqual({ fa: fieldsOf(y) });
  });

  it("a write an earlier run sent and this one only settles replaced what that run read before sending it (kept in the window's .replaced file)", async () => {
    const s = submission('uuid:a', '0011000001', '2024-05-01T10:00:00.000Z');
    const action = { kind: 'apply', submission: 'uuid:a', beneficiary: '0011000001', why: 'new' };
    const y = bankFa('000777');
    const claim = { instance: 'uuid:a', date: s.__system.submissionDate, review: 'received', deleted: false, beneficiary: '0011000001' };
    const box = store(
      { claims: {} },
      {
        'spar_enrolment.jsonl': `${JSON.stringify({ window: { claims: { 'uuid:a': claim } } })}\n${JSON.stringify({ action, submission: s })}\n`,
        // The killed run read Y, then sent its update; a line cut short by a kill is skipped, and
        // never swallows the next run's line.
        'spar_enrolment.jsonl.replaced': `\n{"seq":0,"oper\n${JSON.stringify({ seq: 0, operation: 'update', before: { stored: y, strategyId: 2 } })}\n{"seq":0,"oper`,
      },
    );
    // Settled by the earlier run (its journal): this run does not send it, so tells nothing.
    const job = bulkJob(box, () => ({ fate: 'applied', operation: 'update', resumed: true }));
    const fake = central([s]);
    const d = deps({ openStore: async () => box.value, openCentral: async () => fake.client, runWindow: job.runWindow });
    expect(await importOdk(d, INPUT)).toEqual({ exitCode: ExitCode.ok });
    expect(box.state.claims['uuid:a']!.wrote!.replaced).toEqual({ fa: fieldsOf(y) });
    // Gone with its window, the spool first.
    expect(box.log.filter((entry) => entry.startsWith('remove'))).toEqual([
      'remove spar_enrolment.jsonl',
      'remove spar_enrolment.jsonl.replaced',
    ]);
    expect(Object.keys(box.spools)).toEqual([]);
  });

  it("a .replaced file an earlier window left (killed before it was removed) is removed before a new window is spooled: it never speaks for that window's writes", async () => {
    const stale = `${JSON.stringify({ seq: 0, operation: 'update', before: { stored: bankFa('000999'), strategyId: 2 } })}\n`;
    const box = store({ claims: {} }, { 'spar_enrolment.jsonl.replaced': stale });
    const job = bulkJob(box, () => ({ fate: 'applied', operation: 'update', resumed: true }));
    const fake = central([submission('uuid:a', '0011000001', '2024-05-01T10:00:00.000Z')]);
    const d = deps({
      openStore: async () => box.value,
      openCentral: async () => fake.client,
      runWindow: job.runWindow,
      readMapper: async () => preRead,
    });
    await importOdk(d, INPUT);
    expect(box.log.slice(0, 3)).toEqual(['lock', 'remove spar_enrolment.jsonl.replaced', 'write spar_enrolment.jsonl']);
    expect(box.state.claims['uuid:a']!.wrote!.replaced).toBeUndefined();
  });

  it('an undo that would put an FA back on a beneficiary not linked now is dropped, its write gone: never an unlink', async () => {
    const before = {
      strategy_id: 2,
      account_number: '999',
      branch_name: 'Main',
      branch_code: 'B1',
      bank_name: 'Bank',
      bank_code: 'BNK',
      fa_type: 'BANK',
    };
    const claims: OdkImportState['claims'] = {
      'uuid:a': {
        instance: 'uuid:a',
        date: '2024-05-01T10:00:00.000Z',
        review: 'received',
        deleted: false,
        beneficiary: '0011000001',
        wrote: { beneficiary: '0011000001', fa: 'digest-of-the-importers-fa', replaced: { fa: before } },
      },
    };
    const go = async (held: Map<string, { fa: Record<string, unknown> | undefined; stored: string | undefined }>) => {
      const fake = central([submission('uuid:a', '0011000001', '2024-05-01T10:00:00.000Z', { reviewState: 'rejected' })]);
      const box = store({ watermark: '2024-05-01T09:00:00.000Z', claims });
      const job = bulkJob(box);
      const d = deps({
        yes: true,
        openStore: async () => box.value,
        openCentral: async () => fake.client,
        runWindow: job.runWindow,
        readMapper: async () => held,
      });
      const result = await importOdk(d, { ...INPUT, onReject: 'unlink' });
      return { result, box, records: job.jobs.flatMap((j) => j.records), notes: d.notes };
    };
    // Linked: the FA it replaced goes back, only while the mapper holds the importer's.
    const linked = await go(new Map([['0011000001', { fa: { strategy_id: 1, account_number: '000111' }, stored: 'x' }]]));
    expect(linked.records.map((r) => r.parsed.ok && r.parsed.mode)).toEqual(['update']);
    // Not linked: nothing is sent, and the write is recorded gone.
    const gone = await go(new Map());
    expect(gone.result).toEqual({ exitCode: ExitCode.ok });
    expect(gone.records).toEqual([]);
    expect(gone.box.state.claims['uuid:a']!.wrote).toBeUndefined();
    expect(gone.box.state.claims['uuid:a']!.review).toBe('rejected');
    expect(gone.notes).toContain('sparctl: 0011000001: not linked now: the FA this importer replaced is not put back');
  });
});

describe('import-odk --watch poll line', () => {
  it("counts every fate, so that a resumed window's line adds up to its records", () => {
    const lines: string[] = [];
    const summary = {
      total: 5000,
      applied: 4000,
      confirmed: 150,
      unchanged: 0,
      superseded: 600,
      skipped: 250,
      rejected: 0,
      notSent: 0,
      earlier: { applied: 800 },
      retries: 0,
      seconds: 1.25,
      byOperation: {},
      rejectedBy: {},
      skippedBy: {},
      dryRun: false,
    } as unknown as BulkSummary;
    report((line) => lines.push(line), 'earlier window', summary);
    expect(lines).toEqual([
      'sparctl: earlier window: 4000 applied, 150 confirmed, 600 superseded, 250 skipped, 0 unchanged, 0 rejected, 0 not done, of 5000 records (800 of them settled by an earlier run) (1.3 s)',
    ]);
    const counted = [...lines[0]!.matchAll(/(\d+) (?:applied|confirmed|superseded|skipped|unchanged|rejected|not done)/g)].reduce(
      (sum, match) => sum + Number(match[1]),
      0,
    );
    expect(counted).toBe(summary.total);
  });
});
