import { ExitCode, SparctlError, UnavailableError } from './errors.js';
import type { Mapper, MapperCallContext } from './mapper.js';
import type { BankFa } from './model.js';
import { stopSignalOf, type StopCode } from './stop-signals.js';
import { classifyResult, type ItemResult, type Operation, type Outcome } from './results.js';

/**
 * `sparctl smoke` (DESIGN.md §2): link a synthetic ID, read it back, update it, read it back,
 * unlink it, check it is gone — judging every answer. No I/O of its own: the mapper, the clock
 * and the ID come from the caller. Whatever fails — or stops it: Ctrl-C, SIGTERM, SIGHUP, SIGQUIT — the synthetic
 * record is unlinked whenever the link may have happened.
 */

export const SMOKE_STEPS = ['link', 'resolve_linked', 'update', 'resolve_updated', 'unlink', 'resolve_unlinked'] as const;
export type SmokeStepName = (typeof SMOKE_STEPS)[number];

export const SMOKE_STEP_TITLES: Readonly<Record<SmokeStepName, string>> = {
  link: 'link',
  resolve_linked: 'resolve (details)',
  update: 'update',
  resolve_updated: 'resolve (after update)',
  unlink: 'unlink',
  resolve_unlinked: 'resolve (after unlink)',
};

/** The synthetic FAs: strategy 2 (bank), leading zeros kept so a number-typed column would show. */
export const SMOKE_FA: BankFa = {
  strategy_id: 2,
  fa_type: 'BANK',
  bank_name: 'sparctl smoke bank',
  bank_code: 'SPARCTLSMOKE',
  branch_name: 'smoke test',
  branch_code: '0001',
  account_number: '0000000001',
};
export const SMOKE_FA_UPDATED: BankFa = {
  ...SMOKE_FA,
  branch_name: 'smoke test updated',
  branch_code: '0002',
  account_number: '0000000002',
};
export const SMOKE_NAME = 'sparctl smoke test (synthetic, removed by the test)';

/** The IDs smoke makes (`sparctl-smoke-<time>-<random>`) and no other: the only ones it removes unasked. */
export const SMOKE_ID = /^sparctl-smoke-(\d{8})T(\d{9})Z-[0-9a-f]{8}$/;

/** When the smoke test of this ID started, from the ID itself (`sparctl-smoke-20260304T050607089Z-…`); NaN for another ID. */
export function smokeIdStartedAt(id: string): number {
  const [, date, time] = SMOKE_ID.exec(id) ?? [];
  if (date === undefined || time === undefined) return Number.NaN;
  return Date.parse(
    `${date.slice(0, 4)}-${date.slice(4, 6)}-${date.slice(6)}T${time.slice(0, 2)}:${time.slice(2, 4)}:${time.slice(4, 6)}.${time.slice(6)}Z`,
  );
}

/**
 * Where smoke keeps the IDs it linked until it has seen them removed (one target's): a run killed
 * before its cleanup leaves its ID there, and the next run of the same target removes the record.
 */
export interface SmokeLeftovers {
  /** Notes `id` before its link is sent; throws when it cannot be kept (the test still runs). */
  add(id: string): void;
  /** Forgets `id`: it is not linked (removed, or never applied). */
  remove(id: string): void;
  /** IDs noted by runs that no longer run, oldest first. */
  left(): string[];
}

/** What became of an ID an earlier smoke test left. */
export type LeftoverOutcome =
  | { readonly id: string; readonly state: 'removed' | 'not_linked' }
  | { readonly id: string; readonly state: 'kept'; readonly reason: string };

/**
 * Removes what an earlier smoke test linked under `id` and never removed (it was killed before its
 * cleanup): resolved, unlinked when found, and read back. Only an ID of smoke's own shape.
 */
export async function removeLeftover(mapper: Mapper, id: string): Promise<LeftoverOutcome> {
  if (!SMOKE_ID.test(id)) return { id, state: 'kept', reason: 'not an ID smoke makes' };
  const context: MapperCallContext = { source: 'sparctl smoke (an earlier run left it)' };
  try {
    const read = async () => {
      const [result] = await mapper.resolve([{ reference_id: 'smoke-leftover', id, scope: 'details' }], context);
      return result === undefined ? undefined : { result, outcome: classifyResult('resolve', result) };
    };
    const before = await read();
    if (before?.outcome === 'not_found') return { id, state: 'not_linked' };
    if (before?.outcome !== 'found') return { id, state: 'kept', reason: `resolve answered ${before?.outcome ?? 'no result'}` };
    // Only smoke's own synthetic FA is removed: anything else under the ID was not linked by smoke.
    if (!holdsSmokeFa(before.result.fa))
      return { id, state: 'kept', reason: `it holds an FA smoke never links (not bank code ${SMOKE_FA.bank_code})` };
    const [unlinked] = await mapper.unlink([{ reference_id: 'smoke-leftover', id }], context);
    const after = await read();
    if (after?.outcome !== 'not_found') return { id, state: 'kept', reason: `still ${after?.outcome ?? 'unknown'} after the unlink` };
    // Gone, but by this unlink only if it says so: another smoke test sweeping at once may have been first.
    return unlinked !== undefined && classifyResult('unlink', unlinked) === 'unlinked'
      ? { id, state: 'removed' }
      : { id, state: 'not_linked' };
  } catch (error) {
    return { id, state: 'kept', reason: error instanceof Error ? error.message : String(error) };
  }
}

/** The FA smoke links or updates to (its bank code), as resolved: fields, or the stored string. */
function holdsSmokeFa(fa: unknown): boolean {
  if (typeof fa === 'string') return fa.includes(SMOKE_FA.bank_code);
  return typeof fa === 'object' && fa !== null && (fa as Record<string, unknown>)['bank_code'] === SMOKE_FA.bank_code;
}

export type StepStatus = 'pass' | 'fail' | 'skipped';

export interface SmokeStepError {
  /** SparctlError code, or "smoke.timeout", or "internal" for anything else. */
  readonly code: string;
  readonly message: string;
  readonly exitCode: ExitCode;
}

export interface SmokeStepResult {
  readonly step: SmokeStepName;
  readonly title: string;
  readonly status: StepStatus;
  /** Latency of the call, whole milliseconds; null when the step did not run. */
  readonly ms: number | null;
  /** What a healthy mapper answers. */
  readonly expected: string;
  /** What this one answered (or why the step did not run). */
  readonly got: string;
  /** The step ran as cleanup after an earlier failure. */
  readonly cleanup: boolean;
  /** Set when the call threw instead of answering. */
  readonly error?: SmokeStepError;
  /** The mapper's answer, when it gave one: for a table that says it in words. */
  readonly answer?: {
    readonly operation: Operation;
    readonly outcome: Outcome;
    readonly code: string | null;
    readonly message: string | null;
  };
}

/**
 * not_needed: the link was refused, so nothing was written. removed: the ID is not linked at the
 * end, and the link is known to have landed or not. unknown: not linked at the end, but the
 * link's outcome is unknown and it was never seen applied, so it may still land. failed: the ID
 * may still be linked.
 */
export type CleanupState = 'not_needed' | 'removed' | 'unknown' | 'failed';

export interface SmokeReport {
  readonly id: string;
  readonly target: string;
  readonly passed: boolean;
  readonly steps: readonly SmokeStepResult[];
  readonly cleanup: { readonly state: CleanupState; readonly detail: string };
  /** 0 all passed; a thrown error's own code (4 unreachable, 3 auth…); else 5 for a wrong answer. */
  readonly exitCode: ExitCode;
  readonly ms: number;
  /** Set when a signal stopped the steps (the cleanup still ran). */
  readonly stopped?: SmokeStop;
}

/** What stopped a smoke test before its last step: Ctrl-C, SIGTERM, SIGHUP or SIGQUIT. */
export type SmokeStop = StopCode;

export interface SmokeOptions {
  /** The synthetic beneficiary ID, new to this run: whatever is linked under it gets unlinked. */
  readonly id: string;
  /** Milliseconds from any fixed origin (performance.now in the CLI). */
  readonly clock: () => number;
  /** Give up on a step after this long (its outcome is then unknown); none by default. */
  readonly stepTimeoutMs?: number;
  readonly source?: string;
  /** The command that removes the record from this same mapper, for a failed cleanup's detail. */
  readonly unlinkCommand?: string;
  /** The command that reads the record on this same mapper, for an unknown cleanup's detail. */
  readonly resolveCommand?: string;
  /** Asked before each step: a stop skips the steps left, except the cleanup. */
  readonly stopRequested?: () => SmokeStop | undefined;
  /**
   * Resolves once a signal already received has reached stopRequested (a local mapper answers
   * without letting the event loop turn, so one sent during the steps waits there).
   */
  readonly signalsHeard?: () => Promise<void>;
}

type Answer = { result: ItemResult; outcome: Outcome } | { thrown: SmokeStepError; outcomeUnknown: boolean };

class StepTimeout extends Error {}

export async function runSmoke(mapper: Mapper, options: SmokeOptions): Promise<SmokeReport> {
  const { id, clock } = options;
  const context: MapperCallContext = { source: options.source ?? 'sparctl smoke' };
  const steps: SmokeStepResult[] = [];
  const started = clock();

  const call = async (operation: Operation, step: SmokeStepName): Promise<{ answer: Answer; ms: number }> => {
    const reference_id = `smoke-${step}`;
    const begin = clock();
    try {
      const pending =
        operation === 'link'
          ? mapper.link([{ reference_id, id, fa: SMOKE_FA, name: SMOKE_NAME }], context)
          : operation === 'update'
            ? mapper.update([{ reference_id, id, fa: SMOKE_FA_UPDATED, name: SMOKE_NAME }], context)
            : operation === 'resolve'
              ? mapper.resolve([{ reference_id, id, scope: 'details' }], context)
              : mapper.unlink([{ reference_id, id }], context);
      const results = await withTimeout(pending, options.stepTimeoutMs);
      const ms = Math.round(clock() - begin);
      const result = results.find((r) => r.reference_id === reference_id);
      if (!result) {
        return {
          ms,
          answer: {
            thrown: {
              code: 'smoke.no_result',
              message: `the ${operation} answer has no result for the item sent`,
              exitCode: ExitCode.rejected,
            },
            outcomeUnknown: true,
          },
        };
      }
      return { ms, answer: { result, outcome: classifyResult(operation, result) } };
    } catch (error) {
      const ms = Math.round(clock() - begin);
      return { ms, answer: thrownAnswer(error, options.stepTimeoutMs) };
    }
  };

  const record = (
    step: SmokeStepName,
    status: StepStatus,
    ms: number | null,
    expected: string,
    got: string,
    extra: { cleanup?: boolean; error?: SmokeStepError; answer?: SmokeStepResult['answer'] } = {},
  ) => {
    steps.push({
      step,
      title: SMOKE_STEP_TITLES[step],
      status,
      ms,
      expected,
      got,
      cleanup: extra.cleanup ?? false,
      ...(extra.error ? { error: extra.error } : {}),
      ...(extra.answer ? { answer: extra.answer } : {}),
    });
  };
  const skip = (step: SmokeStepName, expected: string, why: string) => record(step, 'skipped', null, expected, why);

  /** Runs one step and judges it with `check` (null: as expected; else what was wrong). */
  const run = async (
    step: SmokeStepName,
    operation: Operation,
    expected: string,
    check: (result: ItemResult, outcome: Outcome) => string | null,
    cleanup = false,
  ): Promise<Answer> => {
    const { answer, ms } = await call(operation, step);
    if ('thrown' in answer) record(step, 'fail', ms, expected, `error: ${answer.thrown.message}`, { cleanup, error: answer.thrown });
    else {
      const problem = check(answer.result, answer.outcome);
      const given = {
        operation,
        outcome: answer.outcome,
        code: answer.result.status_reason_code,
        message: answer.result.status_reason_message,
      };
      record(step, problem === null ? 'pass' : 'fail', ms, expected, problem ?? describe(answer.result, answer.outcome), {
        cleanup,
        answer: given,
      });
    }
    return answer;
  };
  const passed = (step: SmokeStepName) => steps.find((s) => s.step === step)?.status === 'pass';
  const stopped = () => options.stopRequested?.();
  const stopWords = (stop: SmokeStop) => stopSignalOf(stop).short;

  // Stopped before anything was sent: nothing to run, nothing to remove.
  const early = stopped();
  if (early !== undefined) {
    for (const step of SMOKE_STEPS) skip(step, '—', stopWords(early));
    return {
      id,
      target: mapper.target,
      passed: false,
      steps,
      cleanup: { state: 'not_needed', detail: 'nothing to remove: nothing was sent' },
      exitCode: stopSignalOf(early).exitCode,
      ms: Math.round(clock() - started),
      stopped: early,
    };
  }

  // 1. link: the link "may have happened" unless the mapper clearly refused it or never got it.
  // "already linked" counts too: the ID is new to this run, so a record under it is ours (e.g. a
  // gateway that retried the request).
  const linked = await run('link', 'link', 'outcome linked', (r, outcome) =>
    outcome === 'linked' ? null : `outcome ${outcome}${reasonOf(r)}`,
  );
  const mayBeLinked = 'thrown' in linked ? linked.outcomeUnknown : linked.outcome !== 'rejected';
  // No answer says what the link did: it may have landed, or land later (a request a gateway holds).
  const linkUnknown = 'thrown' in linked && linked.outcomeUnknown;

  // 2–4 run only while everything before them passed: each builds on the state the last one left.
  const chain: [SmokeStepName, Operation, string, (r: ItemResult, o: Outcome) => string | null][] = [
    ['resolve_linked', 'resolve', 'outcome found, FA as linked', (r, o) => foundWith(r, o, SMOKE_FA)],
    ['update', 'update', 'outcome updated', (r, o) => (o === 'updated' ? null : `outcome ${o}${reasonOf(r)}`)],
    [
      'resolve_updated',
      'resolve',
      `outcome found, account_number ${SMOKE_FA_UPDATED.account_number}`,
      (r, o) => foundWith(r, o, SMOKE_FA_UPDATED),
    ],
  ];
  let failedAt: SmokeStepName | undefined = passed('link') ? undefined : 'link';
  let stop: SmokeStop | undefined;
  let readBack: Answer | undefined;
  for (const [step, operation, expected, check] of chain) {
    // After a link of unknown outcome, step 2 reads back whether it landed: part of the cleanup,
    // so it runs whatever stopped the steps.
    if (linkUnknown && step === 'resolve_linked') {
      readBack = await run(
        step,
        'resolve',
        "outcome found or not found (the link's outcome is unknown)",
        (r, o) => (o === 'found' || o === 'not_found' ? null : `outcome ${o}${reasonOf(r)}`),
        true,
      );
      continue;
    }
    stop ??= failedAt === undefined ? stopped() : undefined;
    if (stop !== undefined) {
      skip(step, expected, stopWords(stop));
      continue;
    }
    if (failedAt !== undefined) {
      skip(step, expected, `${SMOKE_STEP_TITLES[failedAt]} did not pass`);
      continue;
    }
    await run(step, operation, expected, check);
    if (!passed(step)) failedAt = step;
  }

  // 5–6: the unlink is also the cleanup, so it runs after any failure if the record may exist.
  stop ??= failedAt === undefined ? stopped() : undefined;
  const asCleanup = failedAt !== undefined || stop !== undefined;
  let cleanup: SmokeReport['cleanup'];
  if (!mayBeLinked) {
    skip('unlink', 'outcome unlinked', 'the link was not applied: nothing to remove');
    skip('resolve_unlinked', 'outcome not found', 'nothing was linked');
    cleanup = { state: 'not_needed', detail: 'nothing to remove: the link was not applied' };
  } else {
    // After a link whose outcome is unknown, "not found" is a fine answer to the cleanup.
    const linkSure = passed('link');
    const unlinkExpected = linkSure ? 'outcome unlinked' : 'outcome unlinked or not found';
    const unlinked = await run(
      'unlink',
      'unlink',
      unlinkExpected,
      (r, o) => (o === 'unlinked' || (!linkSure && o === 'not_found') ? null : `outcome ${o}${reasonOf(r)}`),
      asCleanup,
    );
    const gone = await run(
      'resolve_unlinked',
      'resolve',
      'outcome not found',
      (r, o) => (o === 'not_found' ? null : `outcome ${o}${reasonOf(r)}`),
      asCleanup,
    );
    const removed = !('thrown' in gone) && gone.outcome === 'not_found';
    const unlinkedNow = !('thrown' in unlinked) && unlinked.outcome === 'unlinked';
    // Seen applied, a link has nothing left to do; never seen, one of unknown outcome may land yet.
    // The last read-back counts too: a late link that landed after the unlink is seen there.
    const seenLinked =
      linkSure ||
      unlinkedNow ||
      (readBack !== undefined && !('thrown' in readBack) && readBack.outcome === 'found') ||
      (!('thrown' in gone) && gone.outcome === 'found');
    const unlinkCommand = options.unlinkCommand ?? `sparctl unlink --id ${id} --yes`;
    const resolveCommand = options.resolveCommand ?? `sparctl resolve ${id}`;
    const check = `check with "${resolveCommand}" and, if it is linked, remove it with "${unlinkCommand}"`;
    if (linkUnknown && !seenLinked)
      // Only after a link that failed (the exit code is never 0 with it): never seen linked, so
      // not a failure to remove a record known to be there, whether or not the cleanup could tell.
      cleanup = {
        state: 'unknown',
        detail: removed
          ? `the link's outcome is unknown and ${id} was not seen linked, but the link may still be applied: ${check}`
          : `the link's outcome is unknown and the cleanup could not tell whether ${id} is linked: ${check}`,
      };
    else if (!removed) cleanup = { state: 'failed', detail: `${id} may still be linked: remove it with "${unlinkCommand}"` };
    else cleanup = { state: 'removed', detail: seenLinked ? 'the synthetic record was removed' : 'the ID is not linked' };
  }

  // A stop that came during the cleanup, or after a failure, still stops the run: its exit code,
  // never "passed". This is the last look: the caller stops listening in the same turn.
  await options.signalsHeard?.();
  stop ??= stopped();
  const allPassed = stop === undefined && steps.every((s) => s.status === 'pass');
  const firstError = steps.find((s) => s.error !== undefined)?.error;
  const exitCode = stop !== undefined ? stopSignalOf(stop).exitCode : allPassed ? ExitCode.ok : (firstError?.exitCode ?? ExitCode.rejected);
  return {
    id,
    target: mapper.target,
    passed: allPassed,
    steps,
    cleanup,
    exitCode,
    ms: Math.round(clock() - started),
    ...(stop === undefined ? {} : { stopped: stop }),
  };
}

/** Resolve answered found with exactly these FA fields (strategy_id compared as text: 2 or "2"). */
function foundWith(result: ItemResult, outcome: Outcome, fa: BankFa): string | null {
  if (outcome !== 'found') return `outcome ${outcome}${reasonOf(result)}`;
  const got = result.fa;
  if (got === null || got === undefined || typeof got !== 'object')
    return `found, but with no FA fields (fa: ${JSON.stringify(got ?? null)})`;
  const wrong: string[] = [];
  for (const [key, value] of Object.entries(fa)) {
    const answered = (got as Record<string, unknown>)[key];
    if (answered === undefined || answered === null || String(answered) !== String(value)) {
      wrong.push(`${key} ${answered === undefined ? 'missing' : JSON.stringify(answered)} (expected ${JSON.stringify(String(value))})`);
    }
  }
  return wrong.length === 0 ? null : `found, but ${wrong.join(', ')}`;
}

/** "outcome rejected" is more useful with SPAR's own code and message. */
function reasonOf(result: ItemResult): string {
  if (!result.status_reason_code) return '';
  return ` (${result.status_reason_code}${result.status_reason_message ? `: ${result.status_reason_message}` : ''})`;
}

/** What a passing step answered, in a few words. */
function describe(result: ItemResult, outcome: Outcome): string {
  if (outcome === 'found' && result.fa && typeof result.fa === 'object') {
    const account = (result.fa as Record<string, unknown>)['account_number'];
    return `found${account === undefined ? '' : `, account_number ${String(account)}`}`;
  }
  return outcome.replace('_', ' ');
}

/** An HTTP 200 that could not be read: the request was processed, with whatever result. */
const ANSWERED_UNREADABLY = new Set(['remote.unexpected_answer', 'remote.not_json']);
/**
 * Errors of other classes that may follow an applied write: a redirect (a gateway may pass the
 * write on and answer 303) and strategy.mismatch (the mapper applied it; its answer showed
 * another strategy).
 */
const MAY_HAVE_APPLIED = new Set(['remote.redirected', 'strategy.mismatch']);

function thrownAnswer(error: unknown, timeoutMs: number | undefined): Answer {
  if (error instanceof StepTimeout) {
    return {
      thrown: {
        code: 'smoke.timeout',
        message: `no answer within ${timeoutMs} ms; the outcome is unknown`,
        exitCode: ExitCode.unavailable,
      },
      outcomeUnknown: true,
    };
  }
  if (error instanceof SparctlError) {
    const message = `${error.message}${error.hint ? ` (${error.hint})` : ''}`;
    // Only these can leave a request applied without saying so; the rest were refused.
    const outcomeUnknown =
      (error instanceof UnavailableError && (error.outcomeUnknown || ANSWERED_UNREADABLY.has(error.code))) ||
      MAY_HAVE_APPLIED.has(error.code);
    return { thrown: { code: error.code, message, exitCode: error.exitCode }, outcomeUnknown };
  }
  // A bug or an unexpected failure: assume the worst about what was applied.
  return {
    thrown: { code: 'internal', message: error instanceof Error ? error.message : String(error), exitCode: ExitCode.internal },
    outcomeUnknown: true,
  };
}

function withTimeout<T>(promise: Promise<T>, ms: number | undefined): Promise<T> {
  if (ms === undefined) return promise;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const limit = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new StepTimeout()), ms);
  });
  return Promise.race([promise, limit]).finally(() => clearTimeout(timer));
}
