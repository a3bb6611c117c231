/**
 * Exit codes of every sparctl command (DESIGN.md §4). `src/cli/main.ts` is the only place that
 * turns an error into one of these.
 */
export const ExitCode = {
  ok: 0,
  internal: 1,
  usage: 2,
  config: 3,
  unavailable: 4,
  rejected: 5,
  /** Stopped by SIGHUP (128 + 1): the terminal or SSH session went away. */
  hangup: 129,
  interrupted: 130,
  /** Stopped by SIGQUIT (128 + 3, Ctrl-\\). */
  quit: 131,
  /** Stopped by SIGTERM (128 + 15), as a shell reports it. */
  terminated: 143,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

export interface SparctlErrorOptions {
  /** How to fix it, in one short sentence. */
  hint?: string;
  cause?: unknown;
}

/**
 * Base of every error sparctl reports on purpose. `code` is stable and dotted (tests assert it,
 * never the prose); `message` is one line meant for a person.
 */
export class SparctlError extends Error {
  readonly code: string;
  readonly exitCode: ExitCode;
  readonly hint: string | undefined;

  constructor(code: string, message: string, exitCode: ExitCode, options: SparctlErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.exitCode = exitCode;
    this.hint = options.hint;
  }
}

/** Bad flags, arguments or input files: nothing was written. */
export class UsageError extends SparctlError {
  constructor(code: string, message: string, options?: SparctlErrorOptions) {
    super(code, message, ExitCode.usage, options);
  }
}

/** Invalid configuration, profile or credentials. */
export class ConfigError extends SparctlError {
  constructor(code: string, message: string, options?: SparctlErrorOptions) {
    super(code, message, ExitCode.config, options);
  }
}

/** The mapper could not be reached or failed as a whole; the work can be resumed. */
export class UnavailableError extends SparctlError {
  /** How long the server asked us to wait (Retry-After), when it said. */
  readonly retryAfterMs: number | undefined;
  /**
   * True when the request may have been applied although no answer says so (timeout, reset,
   * a 5xx from something in front of the mapper): resolve before sending it again.
   */
  readonly outcomeUnknown: boolean;

  constructor(code: string, message: string, options: SparctlErrorOptions & { retryAfterMs?: number; outcomeUnknown?: boolean } = {}) {
    super(code, message, ExitCode.unavailable, options);
    this.retryAfterMs = options.retryAfterMs;
    this.outcomeUnknown = options.outcomeUnknown ?? false;
  }
}

/**
 * A strategy that cannot be used as written: a construct template or deconstruct regex that
 * Python would reject or that sparctl cannot reproduce faithfully, or a value it cannot format.
 */
export class StrategyError extends SparctlError {
  constructor(code: string, message: string, options?: SparctlErrorOptions) {
    super(code, message, ExitCode.usage, options);
  }
}
