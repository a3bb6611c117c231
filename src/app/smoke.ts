import { SparctlError, UsageError } from '../core/errors.js';
import type { Mapper } from '../core/mapper.js';
import { runSmoke, type SmokeReport, type SmokeStop } from '../core/smoke.js';
import { STOP_SIGNALS, type StopSignal } from '../core/stop-signals.js';

/**
 * `smoke`'s use case: a synthetic ID of its own, the steps of core/smoke.ts on the target, the
 * mapper closed whatever happened, and the JUnit report written when asked. Invariant: the ID is
 * never taken from the user (the cleanup unlinks whatever is linked under it), and a JUnit file
 * that cannot be written does not hide the report: its error comes back beside it.
 */

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
}

export interface SmokeInput {
  /** Where to write the JUnit report, absolute; none by default. */
  readonly junitPath?: string;
}

export interface SmokeResult {
  readonly report: SmokeReport;
  /** The JUnit file written, or why it could not be (a SparctlError to raise after the report is shown). */
  readonly junit?: { readonly path: string } | { readonly error: SparctlError };
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
  try {
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
  if (input.junitPath === undefined) return { report };
  const path = input.junitPath;
  try {
    await deps.writeJunit(path, report, startedAt);
  } catch (error) {
    if (error instanceof SparctlError) return { report, junit: { error } };
    const why = (error as { code?: string }).code ?? (error as Error).message;
    return { report, junit: { error: new UsageError('smoke.junit_unwritable', `cannot write the JUnit report ${path}: ${why}`) } };
  }
  return { report, junit: { path } };
}
