import { ExitCode } from './errors.js';

/**
 * The signals a long command stops cleanly on: the requests in flight finish and are recorded,
 * the summary is printed, and the exit code is the shell's 128 + the signal's number. SIGHUP (an
 * SSH session or terminal that went away) and SIGQUIT (Ctrl-\) killed a run at once, like
 * kill -9, before: harmless to the mapper, but a resumed remote run sent again what was in flight.
 */
export type StopSignal = 'SIGINT' | 'SIGTERM' | 'SIGHUP' | 'SIGQUIT';

export interface StopSignalInfo {
  /** `summary.stopped.code` of a run it stopped. */
  readonly code: string;
  /** What happened, for the line printed at once and the summary. */
  readonly said: string;
  readonly exitCode: ExitCode;
  /** What stops the process at once from then on. */
  readonly again: string;
}

export const STOP_SIGNALS: Readonly<Record<StopSignal, StopSignalInfo>> = {
  SIGINT: { code: 'interrupted', said: 'interrupted', exitCode: ExitCode.interrupted, again: 'Ctrl-C again' },
  SIGTERM: { code: 'terminated', said: 'terminated (SIGTERM)', exitCode: ExitCode.terminated, again: 'a second signal' },
  SIGHUP: { code: 'hangup', said: 'the terminal hung up (SIGHUP)', exitCode: ExitCode.hangup, again: 'a second signal' },
  SIGQUIT: { code: 'quit', said: 'quit (SIGQUIT)', exitCode: ExitCode.quit, again: 'a second signal' },
};
