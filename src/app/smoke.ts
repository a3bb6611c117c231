import { SparctlError, UsageError } from '../core/errors.js';
import type { Mapper } from '../core/mapper.js';
import {
  removeLeftover,
  runSmoke,
  smokeIdStartedAt,
  type LeftoverOutcome,
  type SmokeLeftovers,
  type SmokeReport,
  type SmokeStop,
} from '../core/smoke.js';
import { STOP_SIGNALS, type StopSignal } from '../core/stop-signals.js';

/**
 * `smoke`'s use case: a synthetic ID of its own, the steps of core/smoke.ts on the target, the
 * mapper closed whatever happened, and the JUnit report written when asked. Invariant: the ID is
 * never taken from the user (the cleanup unlinks whatever is linked under it), and a JUnit file
 * that cannot be written does not hide the report: its error comes back beside it.
 */

const AN_HOUR_MS = 60 * 60 * 1000;

export interface SmokeDeps {
  readonly openMapper: () => Promise<Mapper>;
  /** Now, for the ID and the JUnit report's timestamp. */
  readonly now: () => Date;
  /** Eight random hex digits, so two runs in the same millisecond get two IDs. */
  readonly randomHex: () => string;
  /** Milliseconds from any fixed origin, for the steps' latencies. */
  readonly clock: () => number;
  /** A remote mapper's request timeout (ms); absent for a local one, which cannot hang. */
  readonly requestTimeoutMs?: number;
  /** The flags that name this mapper again ("--url URL ", "--profile NAME ", or ""), for the cleanup hint. */
  readonly targetArgs: string;
  /** Writes the JUnit XML of `report` to `path` (an absolute path); rejects with the file system's error. */
  readonly writeJunit: (path: string, report: SmokeReport, startedAt: Date) => Promise<void>;
  /** Throws the SparctlError that says why a report could not be written to `path`: checked before any step runs. */
  readonly checkJunit: (path: string) => Promise<void>;
  /** Listens for the stop signals (core/stop-signals.ts) until the returned function is called. */
  readonly onSignal: (listener: (signal: StopSignal) => void) => () => void;
  /** Resolves once a signal the process has already received has reached the `onSignal` listener. */
  readonly signalsHeard: () => Promise<void>;
  /** Ends the process at once (a second signal). */
  readonly exitNow: (code: number) => void;
  /** A line for the operator (stderr). */
  readonly say: (line: string) => void;
  /** Where the IDs linked and not yet seen removed are kept for this target (opened once the mapper is); none: nothing is kept. */
  readonly leftovers?: () => SmokeLeftovers;
}

export interface SmokeInput {
  /** Where to write the JUnit report, absolute; none by default. */
  readonly junitPath?: string;
}

export interface SmokeResult {
  readonly report: SmokeReport;
  /** The JUnit file written, or why it could not be (a SparctlError to raise after the report is shown). */
  readonly junit?: { readonly path: string } | { readonly error: SparctlError };
  /** The IDs earlier runs left (killed before their cleanup), and what became of each. */
  readonly leftovers: readonly LeftoverOutcome[];
}

export async function smoke(deps: SmokeDeps, input: SmokeInput): Promise<SmokeResult> {
  const id = `sparctl-smoke-${deps.now().toISOString().replace(/[-:.]/g, '')}-${deps.randomHex()}`;
  const startedAt = deps.now();
  if (input.junitPath !== undefined) await deps.checkJunit(input.junitPath);
  const mapper = await deps.openMapper();
  let report: SmokeReport;
  // Ctrl-C, SIGTERM, SIGHUP or SIGQUIT: the step in flight finishes, the rest are skipped, and the synthetic record
  // is still removed (a CI job cancelled mid-test must not leave it linked). A second signal ends
  // the process at once.
  let stop: SmokeStop | undefined;
  const stopListening = deps.onSignal((signal) => {
    if (stop !== undefined) deps.exitNow(STOP_SIGNALS[signal].exitCode);
    stop = STOP_SIGNALS[signal].code;
    deps.say(
      `\nsparctl: ${STOP_SIGNALS[signal].said}; removing the synthetic record before stopping (${STOP_SIGNALS[signal].again} to stop at once)`,
    );
  });
  const leftovers: LeftoverOutcome[] = [];
  const notes = deps.leftovers?.();
  let kept = false;
  try {
    // What runs killed before their cleanup left on this target goes first: a CI job cut off
    // mid-test must not leave its synthetic record linked for good.
    for (const earlier of notes?.left() ?? []) {
      if (stop !== undefined) break;
      const outcome = await removeLeftover(mapper, earlier);
      leftovers.push(outcome);
      // Not linked yet, an hour after its run began: a link a gateway still holds may land; kept for a later run.
      const young = outcome.state === 'not_linked' && deps.now().getTime() - smokeIdStartedAt(earlier) < AN_HOUR_MS;
      if (outcome.state !== 'kept' && !young) notes?.remove(earlier);
      if (outcome.state === 'removed') deps.say(`sparctl: removed ${earlier}, which an earlier smoke test linked and did not remove`);
      else if (outcome.state === 'kept') {
        deps.say(
          `sparctl: warning: ${earlier}, which an earlier smoke test linked and did not remove, may still be linked (${outcome.reason}); the next smoke test tries again, or remove it with "sparctl ${deps.targetArgs}unlink --id ${earlier} --yes"`,
        );
        // The mapper failed on it: the others wait for the next run rather than each waiting out a timeout now.
        break;
      }
    }
    // Noted before the link is sent, so a kill at any instant after it leaves the note.
    try {
      notes?.add(id);
      kept = notes !== undefined;
    } catch (error) {
      const why = (error as { code?: string }).code ?? (error instanceof Error ? error.message : String(error));
      deps.say(
        `sparctl: warning: cannot note ${id} in sparctl's state folder (${why}); were this test killed before its cleanup, no later one would remove it`,
      );
    }
    // A backstop above the HTTP timeout, whose own error says more.
    const stepTimeout = deps.requestTimeoutMs === undefined ? {} : { stepTimeoutMs: deps.requestTimeoutMs + 5_000 };
    report = await runSmoke(mapper, {
      id,
      clock: deps.clock,
      source: 'sparctl smoke',
      unlinkCommand: `sparctl ${deps.targetArgs}unlink --id ${id} --yes`,
      resolveCommand: `sparctl ${deps.targetArgs}resolve ${id}`,
      stopRequested: () => stop,
      signalsHeard: deps.signalsHeard,
      ...stepTimeout,
    });
  } finally {
    // In the same turn as runSmoke's last look at `stop`, after every signal received was heard:
    // one after this stops no run; the composition ends the process by it (128 + n to a shell).
    stopListening();
    await mapper.close();
  }
  // Forgotten only once seen not linked; a failed or unknown cleanup leaves it for the next run.
  if (kept && (report.cleanup.state === 'removed' || report.cleanup.state === 'not_needed')) notes?.remove(id);
  if (input.junitPath === undefined) return { report, leftovers };
  const path = input.junitPath;
  try {
    await deps.writeJunit(path, report, startedAt);
  } catch (error) {
    if (error instanceof SparctlError) return { report, junit: { error }, leftovers };
    const why = (error as { code?: string }).code ?? (error as Error).message;
    return {
      report,
      junit: { error: new UsageError('smoke.junit_unwritable', `cannot write the JUnit report ${path}: ${why}`) },
      leftovers,
    };
  }
  return { report, junit: { path }, leftovers };
}
