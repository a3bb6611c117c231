import { userInfo } from 'node:os';
import type { Readable, Writable } from 'node:stream';
import { homeOf } from '../config/paths.js';
import type { OutputFormat } from '../config/constants.js';
import type { SparctlError } from '../core/errors.js';

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

/** Calls `listener` on SIGINT and SIGTERM until the returned function is called (a command that stops cleanly). */
export function onStopSignals(listener: (signal: 'SIGINT' | 'SIGTERM') => void): () => void {
  const onSigint = () => listener('SIGINT');
  const onSigterm = () => listener('SIGTERM');
  process.on('SIGINT', onSigint);
  process.on('SIGTERM', onSigterm);
  return () => {
    process.off('SIGINT', onSigint);
    process.off('SIGTERM', onSigterm);
  };
}
