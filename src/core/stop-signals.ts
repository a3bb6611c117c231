import { ExitCode } from './errors.js';

/**
 * The signals a long command stops cleanly on: the requests in flight finish and are recorded,
 * the summary is printed, and the exit code is the shell's 128 + the signal's number. SIGHUP (an
 * SSH session or terminal that went away) and SIGQUIT (Ctrl-\) killed a run at once, like
 * kill -9, before: harmless to the mapper, but a resumed remote run sent again what was in flight.
 */
export type StopSignal = 'SIGINT' | 'SIGTERM' | 'SIGHUP' | 'SIGQUIT';

/** What a stop signal is called in a report (`summary.stopped.code`, smoke's `stopped`). */
export type StopCode = 'interrupted' | 'terminated' | 'hangup' | 'quit';

export interface StopSignalInfo {
  /** `summary.stopped.code` of a run it stopped. */
  readonly code: StopCode;
  /** A short name with the key or signal, for a one-line summary: "hung up (SIGHUP)". */
  readonly short: string;
  /** What happened, for the line printed at once and the summary. */
  readonly said: string;
  readonly exitCode: ExitCode;
  /** What stops the process at once from then on. */
  readonly again: string;
}

export const STOP_SIGNALS: Readonly<Record<StopSignal, StopSignalInfo>> = {
  SIGINT: {
    code: 'interrupted',
    short: 'interrupted (Ctrl-C)',
    said: 'interrupted',
    exitCode: ExitCode.interrupted,
    again: 'Ctrl-C again',
  },
  SIGTERM: {
    code: 'terminated',
    short: 'terminated (SIGTERM)',
    said: 'terminated (SIGTERM)',
    exitCode: ExitCode.terminated,
    again: 'a second signal',
  },
  SIGHUP: {
    code: 'hangup',
    short: 'hung up (SIGHUP)',
    said: 'the terminal hung up (SIGHUP)',
    exitCode: ExitCode.hangup,
    again: 'a second signal',
  },
  SIGQUIT: { code: 'quit', short: 'quit (SIGQUIT)', said: 'quit (SIGQUIT)', exitCode: ExitCode.quit, again: 'a second signal' },
};

/** The signal a report's stop code stands for. */
export function stopSignalOf(code: StopCode): StopSignalInfo {
  return Object.values(STOP_SIGNALS).find((info) => info.code === code) ?? STOP_SIGNALS.SIGTERM;
}
