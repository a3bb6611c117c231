import { afterEach, describe, expect, it, vi } from 'vitest';
import { smoke, type SmokeDeps } from '../../src/app/smoke.js';
import type { Mapper, UnlinkItem } from '../../src/core/mapper.js';
import type { ItemResult } from '../../src/core/results.js';
import { SMOKE_FA, type SmokeLeftovers, type SmokeReport } from '../../src/core/smoke.js';
import { UnavailableError } from '../../src/core/errors.js';
import type { StopSignal } from '../../src/core/stop-signals.js';
import { smokeSummary } from '../../src/cli/smoke-render.js';
import { strict } from '../helpers/strict.js';

/** A succeeded result for the item. */
const ok = (i: { reference_id: string; id: string }): ItemResult => ({
  reference_id: i.reference_id,
  id: i.id,
  status: 'succ',
  status_reason_code: null,
  status_reason_message: null,
});

/** A mapper that answers every step as SPAR does for a healthy run, or as `answers` says; it records calls. */
function fakeMapper(
  answers: Partial<
    Record<'link' | 'update' | 'resolve' | 'unlink', (items: readonly { reference_id: string; id: string }[]) => Promise<ItemResult[]>>
  > = {},
) {
  const calls: string[] = [];
  let linked: Record<string, unknown> | null = null;
  const mapper = strict<Mapper>('mapper', {
    target: 'fake',
    link: async (items) => (
      calls.push(`link ${items[0]!.id}`), answers.link ? answers.link(items) : ((linked = { ...items[0]!.fa }), items.map(ok))
    ),
    update: async (items) => (
      calls.push('update'), answers.update ? answers.update(items) : ((linked = { ...items[0]!.fa }), items.map(ok))
    ),
    resolve: async (items) => (
      calls.push('resolve'),
      items.map(
        (i) =>
          (linked
            ? { ...ok(i), status_reason_code: 'succ.id.active', fa: linked }
            : { ...ok(i), status_reason_code: 'succ.fa.not_linked_to_id', fa: null }) as ItemResult,
      )
    ),
    unlink: async (items) => (calls.push('unlink'), answers.unlink ? answers.unlink(items) : ((linked = null), items.map(ok))),
    close: async () => void calls.push('close'),
  });
  return { mapper, calls };
}

const NOW = new Date('2026-03-04T05:06:07.089Z');

function deps(
  mapper: Mapper,
  overrides: Partial<SmokeDeps> = {},
): SmokeDeps & { written: { path: string; report: SmokeReport; startedAt: Date }[] } {
  const written: { path: string; report: SmokeReport; startedAt: Date }[] = [];
  let now = 0;
  const base: SmokeDeps = {
    openMapper: async () => mapper,
    now: () => NOW,
    randomHex: () => 'abcd0123',
    clock: () => (now += 5),
    targetArgs: '--url http://x ',
    writeJunit: async (path, report, startedAt) => void written.push({ path, report, startedAt }),
    checkJunit: async () => undefined,
    onSignal: () => () => undefined,
    signalsHeard: async () => undefined,
    exitNow: (code) => expect.fail(`exited at once with ${code}`),
    say: () => undefined,
  };
  return Object.assign(strict<SmokeDeps>('deps', { ...base, ...overrides }, ['requestTimeoutMs', 'leftovers']), { written });
}

afterEach(() => vi.useRealTimers());

describe('smoke (use case)', () => {
  it('makes its own ID from the time and random digits, runs every step on it, closes the mapper, writes no JUnit unasked', async () => {
    const { mapper, calls } = fakeMapper();
    const d = deps(mapper, { writeJunit: async () => expect.fail('wrote a JUnit report') });
    const { report, junit } = await smoke(d, {});
    expect(report.id).toBe('sparctl-smoke-20260304T050607089Z-abcd0123');
    expect(report.passed).toBe(true);
    expect(report.exitCode).toBe(0);
    expect(calls).toEqual([
      'link sparctl-smoke-20260304T050607089Z-abcd0123',
      'resolve',
      'update',
      'resolve',
      'unlink',
      'resolve',
      'close',
    ]);
    expect(junit).toBeUndefined();
  });

  it('Ctrl-C, SIGTERM, SIGHUP or SIGQUIT during a step: the steps left are skipped, the synthetic record is still removed, exit 130/143/129/131; a second signal exits at once', async () => {
    for (const [signal, exitCode, words, code] of [
      ['SIGINT', 130, 'interrupted (Ctrl-C)', 'interrupted'],
      ['SIGTERM', 143, 'terminated (SIGTERM)', 'terminated'],
      ['SIGHUP', 129, 'hung up (SIGHUP)', 'hangup'],
      ['SIGQUIT', 131, 'quit (SIGQUIT)', 'quit'],
    ] as const) {
      let listener: ((signal: StopSignal) => void) | undefined;
      let listening = false;
      // The signal arrives while the link is in flight.
      const { mapper, calls } = fakeMapper({
        link: async (items) => {
          listener!(signal);
          return items.map((i) => ({
            reference_id: i.reference_id,
            id: i.id,
            status: 'succ',
            status_reason_code: null,
            status_reason_message: null,
          }));
        },
      });
      const said: string[] = [];
      const { report } = await smoke(
        deps(mapper, {
          onSignal: (given) => {
            listener = given;
            listening = true;
            return () => void (listening = false);
          },
          say: (line) => void said.push(line),
        }),
        {},
      );
      expect(calls).toEqual(['link sparctl-smoke-20260304T050607089Z-abcd0123', 'unlink', 'resolve', 'close']);
      expect(report.steps.map((s) => [s.step, s.status, s.cleanup])).toEqual([
        ['link', 'pass', false],
        ['resolve_linked', 'skipped', false],
        ['update', 'skipped', false],
        ['resolve_updated', 'skipped', false],
        ['unlink', 'pass', true],
        ['resolve_unlinked', 'pass', true],
      ]);
      expect(report.steps[1]!.got).toBe(words);
      expect(report).toMatchObject({
        stopped: code,
        exitCode,
        passed: false,
        cleanup: { state: 'removed' },
      });
      expect(said.join('\n')).toMatch(/removing the synthetic record before stopping/);
      expect(smokeSummary(report)).toMatch(new RegExp(`^smoke: ${words.replace(/[()]/g, '\\$&')}; 3 of 6 steps passed .*cleanup: done$`));
      expect(listening).toBe(false);
    }
    // A second signal ends the process at once.
    const exits: number[] = [];
    const { mapper } = fakeMapper({
      link: async () => {
        second!('SIGINT');
        second!('SIGTERM');
        return [];
      },
    });
    let second: ((signal: StopSignal) => void) | undefined;
    await smoke(deps(mapper, { onSignal: (given) => ((second = given), () => undefined), exitNow: (code) => void exits.push(code) }), {});
    expect(exits).toEqual([143]);
  });

  it('a signal during the last steps, or one only heard once they are done (a local mapper never lets the loop turn), still stops the run: its exit code, never passed', async () => {
    for (const when of ['unlink', 'last resolve', 'heard after the steps'] as const) {
      let listener: ((signal: StopSignal) => void) | undefined;
      let listening = false;
      let resolves = 0;
      const { mapper, calls } = fakeMapper();
      // The signal comes with the unlink, or with the third resolve (the last).
      const { resolve, unlink } = { resolve: mapper.resolve.bind(mapper), unlink: mapper.unlink.bind(mapper) };
      mapper.unlink = async (items, context) => {
        if (when === 'unlink') listener!('SIGTERM');
        return unlink(items, context);
      };
      mapper.resolve = async (items, context) => {
        if (++resolves === 3 && when === 'last resolve') listener!('SIGINT');
        return resolve(items, context);
      };
      const said: string[] = [];
      const { report } = await smoke(
        deps(mapper, {
          onSignal: (given) => ((listener = given), (listening = true), () => void (listening = false)),
          signalsHeard: async () => {
            expect(listening).toBe(true);
            if (when === 'heard after the steps') listener!('SIGTERM');
          },
          say: (line) => void said.push(line),
        }),
        {},
      );
      const [code, exitCode, words] =
        when === 'last resolve' ? ['interrupted', 130, 'interrupted (Ctrl-C)'] : ['terminated', 143, 'terminated (SIGTERM)'];
      expect({ when, calls }).toEqual({
        when,
        calls: ['link sparctl-smoke-20260304T050607089Z-abcd0123', 'resolve', 'update', 'resolve', 'unlink', 'resolve', 'close'],
      });
      expect(report.steps.every((s) => s.status === 'pass')).toBe(true);
      expect({ when, report }).toMatchObject({ when, report: { passed: false, stopped: code, exitCode, cleanup: { state: 'removed' } } });
      expect(smokeSummary(report)).toMatch(new RegExp(`^smoke: ${words.replace(/[()]/g, '\\$&')}; 6 of 6 steps passed `));
      expect(said.join('\n')).toMatch(/removing the synthetic record before stopping/);
      expect(listening).toBe(false);
    }
  });

  it('closes the mapper when a step throws a bug, and lets the bug through', async () => {
    const { mapper, calls } = fakeMapper();
    // runSmoke reads the clock before any call: a throwing clock is a bug outside any step.
    const broken = deps(mapper, {
      clock: () => {
        throw new TypeError('bug');
      },
    });
    await expect(smoke(broken, {})).rejects.toThrow(TypeError);
    expect(calls).toEqual(['close']);
  });

  it('writes the JUnit report of this run with the time it started, and says where', async () => {
    const { mapper } = fakeMapper();
    const d = deps(mapper);
    const result = await smoke(d, { junitPath: '/reports/smoke.xml' });
    expect(result.junit).toEqual({ path: '/reports/smoke.xml' });
    expect(d.written).toEqual([{ path: '/reports/smoke.xml', report: result.report, startedAt: NOW }]);
  });

  it('a JUnit file that cannot be written comes back as smoke.junit_unwritable beside the report', async () => {
    const { mapper } = fakeMapper();
    const denied = Object.assign(new Error('EACCES: permission denied'), { code: 'EACCES' });
    const result = await smoke(deps(mapper, { writeJunit: async () => Promise.reject(denied) }), { junitPath: '/ro/smoke.xml' });
    expect(result.report.passed).toBe(true);
    expect(
      result.junit && 'error' in result.junit && [result.junit.error.code, result.junit.error.message, result.junit.error.exitCode],
    ).toEqual(['smoke.junit_unwritable', 'cannot write the JUnit report /ro/smoke.xml: EACCES', 2]);
  });

  it('a failed cleanup names the command that removes the record from this same mapper', async () => {
    const refused = async (items: readonly { reference_id: string; id: string }[]) =>
      items.map(
        (i) =>
          ({
            reference_id: i.reference_id,
            id: i.id,
            status: 'rjct',
            status_reason_code: 'rjct.id.invalid',
            status_reason_message: 'nope',
          }) as ItemResult,
      );
    const { mapper } = fakeMapper({ update: refused, unlink: refused });
    const { report } = await smoke(deps(mapper), {});
    expect(report.exitCode).toBe(5);
    expect(report.cleanup).toEqual({
      state: 'failed',
      detail: `${report.id} may still be linked: remove it with "sparctl --url http://x unlink --id ${report.id} --yes"`,
    });
  });

  it('remote: a step gives up 5 s after the request timeout (its outcome unknown)', async () => {
    vi.useFakeTimers();
    const { mapper } = fakeMapper({ link: () => new Promise(() => undefined) });
    const running = smoke(deps(mapper, { requestTimeoutMs: 1000 }), {});
    await vi.advanceTimersByTimeAsync(5_999);
    let done = false;
    void running.then(() => (done = true));
    await vi.advanceTimersByTimeAsync(0);
    expect(done).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    const { report } = await running;
    expect(report.steps[0]).toMatchObject({
      step: 'link',
      status: 'fail',
      error: { code: 'smoke.timeout', message: 'no answer within 6000 ms; the outcome is unknown' },
    });
  });
});

describe('smoke: the IDs a killed run left', () => {
  /** The notes of one target in memory, with what was done to them in order. */
  function notes(left: string[] = [], addFails?: Error) {
    const log: string[] = [];
    const store: SmokeLeftovers = {
      add: (id) => {
        if (addFails) throw addFails;
        log.push(`add ${id}`);
      },
      remove: (id) => void log.push(`remove ${id}`),
      left: () => [...left],
    };
    return { store, log };
  }
  /** A mapper holding links by ID, that answers as SPAR does; `failResolve`: IDs whose resolve throws. */
  function mapperHolding(linked: string[], failResolve: string[] = [], foreign: string[] = []) {
    // Smoke's synthetic FA under a leftover ID; `foreign`: IDs that hold someone else's.
    const rows = new Map<string, Record<string, unknown>>([
      ...linked.map((id) => [id, { ...SMOKE_FA }] as const),
      ...foreign.map((id) => [id, { ...SMOKE_FA, bank_code: 'LBP', account_number: '123' }] as const),
    ]);
    const calls: string[] = [];
    const mapper = strict<Mapper>('mapper', {
      target: 'fake',
      link: async (items) => (calls.push(`link ${items[0]!.id}`), items.map((i) => (rows.set(i.id, { ...i.fa }), ok(i)))),
      update: async (items) => (calls.push('update'), items.map((i) => (rows.set(i.id, { ...i.fa }), ok(i)))),
      resolve: async (items) => {
        calls.push(`resolve ${items[0]!.id}`);
        if (failResolve.includes(items[0]!.id)) throw new UnavailableError('remote.unreachable', 'the mapper is down');
        return items.map((i) =>
          rows.has(i.id)
            ? ({ ...ok(i), status_reason_code: 'succ.id.active', fa: rows.get(i.id) } as ItemResult)
            : ({ ...ok(i), status_reason_code: 'succ.fa.not_linked_to_id', fa: null } as ItemResult),
        );
      },
      unlink: async (items) => (calls.push(`unlink ${items[0]!.id}`), items.map((i) => (rows.delete(i.id), ok(i)))),
      close: async () => undefined,
    });
    return { mapper, calls, rows };
  }
  const OLD = 'sparctl-smoke-20260101T000000000Z-0badc0de';
  const OLDER = 'sparctl-smoke-20251231T235959999Z-00000001';
  const OWN = 'sparctl-smoke-20260304T050607089Z-abcd0123';

  it('notes its own ID before the link is sent and forgets it once the cleanup saw it gone', async () => {
    const { store, log } = notes();
    const { mapper, calls } = mapperHolding([]);
    let opened = 0;
    const { report, leftovers } = await smoke(deps(mapper, { leftovers: () => (opened++, store) }), {});
    expect(report.exitCode).toBe(0);
    expect(opened).toBe(1);
    expect(leftovers).toEqual([]);
    expect(log).toEqual([`add ${OWN}`, `remove ${OWN}`]);
    expect(calls[0]).toBe(`link ${OWN}`);
  });

  it('keeps the note when the cleanup failed, for the next run to remove', async () => {
    const { store, log } = notes();
    const { mapper } = mapperHolding([]);
    const refusing = { ...mapper, unlink: async () => Promise.reject(new UnavailableError('remote.unreachable', 'down')) } as Mapper;
    const { report } = await smoke(deps(refusing, { leftovers: () => store }), {});
    expect(report.cleanup.state).toBe('failed');
    expect(log).toEqual([`add ${OWN}`]);
  });

  it('removes what earlier runs left linked before its own steps, says so, and forgets the ones not linked', async () => {
    const { store, log } = notes([OLDER, OLD]);
    const { mapper, calls, rows } = mapperHolding([OLD]);
    const said: string[] = [];
    const { report, leftovers } = await smoke(deps(mapper, { leftovers: () => store, say: (line) => void said.push(line) }), {});
    expect(report.exitCode).toBe(0);
    expect(leftovers).toEqual([
      { id: OLDER, state: 'not_linked' },
      { id: OLD, state: 'removed' },
    ]);
    expect(calls.slice(0, 5)).toEqual([`resolve ${OLDER}`, `resolve ${OLD}`, `unlink ${OLD}`, `resolve ${OLD}`, `link ${OWN}`]);
    expect(rows.has(OLD)).toBe(false);
    expect(said).toEqual([`sparctl: removed ${OLD}, which an earlier smoke test linked and did not remove`]);
    expect(log).toEqual([`remove ${OLDER}`, `remove ${OLD}`, `add ${OWN}`, `remove ${OWN}`]);
  });

  it('a leftover the mapper fails on is kept with a warning, and the rest wait for the next run', async () => {
    const { store, log } = notes([OLDER, OLD]);
    const { mapper, calls } = mapperHolding([OLD], [OLDER]);
    const said: string[] = [];
    const { leftovers } = await smoke(deps(mapper, { leftovers: () => store, say: (line) => void said.push(line) }), {});
    expect(leftovers).toEqual([{ id: OLDER, state: 'kept', reason: 'the mapper is down' }]);
    expect(calls).not.toContain(`resolve ${OLD}`);
    expect(said).toEqual([
      `sparctl: warning: ${OLDER}, which an earlier smoke test linked and did not remove, may still be linked (the mapper is down); the next smoke test tries again, or remove it with "sparctl --url http://x unlink --id ${OLDER} --yes"`,
    ]);
    expect(log).toEqual([`add ${OWN}`, `remove ${OWN}`]);
  });

  it('an ID another smoke test unlinked first (two sweeping at once) is not reported as removed by this one', async () => {
    const { store } = notes([OLD]);
    const { mapper, rows } = mapperHolding([OLD]);
    const late = {
      ...mapper,
      unlink: async (items: readonly UnlinkItem[]) => {
        rows.delete(OLD); // the other run's unlink came first: this one finds nothing to remove
        return items.map((i) => ({
          reference_id: i.reference_id,
          id: i.id,
          status: 'rjct' as const,
          status_reason_code: 'rjct.id.invalid',
          status_reason_message: 'ID not linked',
        }));
      },
    } as Mapper;
    const said: string[] = [];
    const { leftovers } = await smoke(deps(late, { leftovers: () => store, say: (line) => void said.push(line) }), {});
    expect(leftovers).toEqual([{ id: OLD, state: 'not_linked' }]);
    expect(said).toEqual([]);
  });

  it('an ID holding an FA smoke never links is not unlinked: kept with a warning', async () => {
    const { store, log } = notes([OLD]);
    const { mapper, calls, rows } = mapperHolding([], [], [OLD]);
    const said: string[] = [];
    const { leftovers } = await smoke(deps(mapper, { leftovers: () => store, say: (line) => void said.push(line) }), {});
    expect(leftovers).toEqual([{ id: OLD, state: 'kept', reason: 'it holds an FA smoke never links (not bank code SPARCTLSMOKE)' }]);
    expect(calls).not.toContain(`unlink ${OLD}`);
    expect(rows.has(OLD)).toBe(true);
    expect(said[0]).toMatch(
      new RegExp(`^sparctl: warning: ${OLD}, which an earlier smoke test linked and did not remove, may still be linked`),
    );
    expect(log).toEqual([`add ${OWN}`, `remove ${OWN}`]);
  });

  it('an ID not linked an hour after its run began is forgotten; one not linked sooner is kept (its link may still land)', async () => {
    const recent = 'sparctl-smoke-20260304T043000000Z-00000002'; // 36 minutes before NOW
    const { store, log } = notes([OLDER, recent]);
    const { mapper } = mapperHolding([]);
    const { leftovers } = await smoke(deps(mapper, { leftovers: () => store }), {});
    expect(leftovers).toEqual([
      { id: OLDER, state: 'not_linked' },
      { id: recent, state: 'not_linked' },
    ]);
    expect(log).toEqual([`remove ${OLDER}`, `add ${OWN}`, `remove ${OWN}`]);
  });

  it('a note that cannot be written is a warning: the test still runs', async () => {
    const denied = Object.assign(new Error('EACCES: permission denied'), { code: 'EACCES' });
    const { store, log } = notes([], denied);
    const { mapper } = mapperHolding([]);
    const said: string[] = [];
    const { report } = await smoke(deps(mapper, { leftovers: () => store, say: (line) => void said.push(line) }), {});
    expect(report.exitCode).toBe(0);
    expect(log).toEqual([]);
    expect(said).toEqual([
      `sparctl: warning: cannot note ${OWN} in sparctl's state folder (EACCES); were this test killed before its cleanup, no later one would remove it`,
    ]);
  });
});
