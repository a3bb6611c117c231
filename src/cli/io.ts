import { userInfo } from 'node:os';
import type { Readable, Writable } from 'node:stream';
import { homeOf } from '../config/paths.js';
import type { OutputFormat } from '../config/constants.js';
import type { SparctlError } from '../core/errors.js';
import { STOP_SIGNALS, type StopSignal } from '../core/stop-signals.js';

/**
 * Everything a command may touch of the process, decided once: data goes to stdout, messages
 * and progress to stderr. Tests build their own.
 */
export interface Io {
  readonly stdout: Writable;
  readonly stderr: Writable;
  readonly stdin: Readable;
  readonly stdoutIsTTY: boolean;
  readonly stderrIsTTY: boolean;
  readonly stdinIsTTY: boolean;
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly cwd: string;
  readonly home: string;
  /** Width of the terminal stdout is on; 0 when unknown (not a terminal). */
  readonly columns: number;
  /** Width of the terminal stderr is on; 0 or absent when unknown (some pseudo-terminals). */
  readonly stderrColumns?: number;
  /** The command line as given (after `sparctl`), for a command a summary suggests; set by main(). */
  readonly argv?: readonly string[];
  /** A write to stdout that failed (a full disk, say; cli/output-failure.ts); set by main(). */
  readonly stdoutFailure?: () => SparctlError | undefined;
}

export function processIo(): Io {
  return {
    stdout: process.stdout,
    stderr: process.stderr,
    stdin: process.stdin,
    stdoutIsTTY: process.stdout.isTTY === true,
    stderrIsTTY: process.stderr.isTTY === true,
    stdinIsTTY: process.stdin.isTTY === true,
    env: process.env,
    cwd: process.cwd(),
    home: homeOf(process.env, () => userInfo().homedir),
    columns: process.stdout.columns ?? 0,
    stderrColumns: process.stderr.columns ?? 0,
  };
}

/** Colour only on a terminal, never with NO_COLOR or TERM=dumb; FORCE_COLOR wins (clig.dev). */
export function colorEnabled(io: Io, stream: 'stdout' | 'stderr'): boolean {
  const force = io.env['FORCE_COLOR'];
  if (force !== undefined && force !== '0') return true;
  if (io.env['NO_COLOR']) return false;
  if (io.env['TERM'] === 'dumb') return false;
  return stream === 'stdout' ? io.stdoutIsTTY : io.stderrIsTTY;
}

/** The default output: a table for a person at a terminal, JSONL for a pipe. */
export function defaultFormat(io: Io, configured: OutputFormat | undefined): OutputFormat {
  return configured ?? (io.stdoutIsTTY ? 'table' : 'jsonl');
}

/**
 * Calls `listener` on SIGINT, SIGTERM, SIGHUP and SIGQUIT until the returned function is called
 * (a command that stops cleanly). The same signal again within 200 ms is the same request: GNU
 * `timeout` sends SIGTERM to the process and then to its group, and a wrapper such as `npm run`
 * passes on the Ctrl-C the terminal already sent; taken as the second signal that stops at once,
 * it cut the run short without its summary, what was in flight unrecorded.
 */
export function onStopSignals(listener: (signal: StopSignal) => void): () => void {
  let last: { signal: StopSignal; at: number } | undefined;
  const handlers = (Object.keys(STOP_SIGNALS) as StopSignal[]).map((signal) => {
    const handler = () => {
      const now = Date.now();
      if (last?.signal === signal && now - last.at < 200) return;
      last = { signal, at: now };
      listener(signal);
    };
    process.on(signal, handler);
    return () => void process.off(signal, handler);
  });
  return () => {
    for (const off of handlers) off();
  };
}

let unheardSignalsEnd = false;

/**
 * From now on, a stop signal no other listener hears ends the process by that signal, as Node's
 * default does (128 + n to a shell). Node drops a signal it received but has not yet handed to a
 * listener when the last listener of that signal goes: with this one there, a command that stops
 * listening never drops one. It acts when the event loop turns, which bin/sparctl.js lets happen
 * before it exits. Once per process.
 */
export function endOnUnheardSignals(): void {
  if (unheardSignalsEnd) return;
  unheardSignalsEnd = true;
  for (const signal of Object.keys(STOP_SIGNALS) as StopSignal[]) {
    const unheard = () => {
      if (process.listenerCount(signal) > 1) return;
      process.off(signal, unheard);
      process.kill(process.pid, signal);
    };
    process.on(signal, unheard);
  }
}
