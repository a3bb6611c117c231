import type { Writable } from 'node:stream';
import { ExitCode, SparctlError } from '../core/errors.js';
import { environmentCode, systemReason } from '../adapters/files/fs-errors.js';

/**
 * Invariant: a write to stdout or stderr that fails for any reason but its reader going away
 * (EPIPE) ends the command with one line naming the stream and the system's reason, and exit 4
 * — never a stack trace; a bulk run writing results to a failed stdout stops as a full disk
 * under a results file stops it.
 *
 * Node reports such a failure (`> /full/disk`, a file over its size limit, an I/O error) as an
 * 'error' event on the stream, after the write that met it: watched here, kept, and asked for.
 */
export interface OutputWatch {
  /** The first failure met on either stream, if any: the command's end reports it. */
  failure(): SparctlError | undefined;
  /**
   * stdout's failure: what a run writing its results there stops for. A failed stderr stops
   * nothing (its lines are messages; the data still goes where it was sent), it is only told.
   */
  stdoutFailure(): SparctlError | undefined;
  /** Stops watching (a test's streams outlive its command). */
  stop(): void;
}

const FULL = new Set(['ENOSPC', 'EDQUOT', 'EFBIG']);

export function watchOutput(streams: { readonly stdout: Writable; readonly stderr: Writable }): OutputWatch {
  const failed: { stdout?: SparctlError; stderr?: SparctlError; first?: SparctlError } = {};
  const listeners = (['stdout', 'stderr'] as const).map((name) => {
    const stream = streams[name];
    const listener = (error: NodeJS.ErrnoException) => {
      // A reader that went away (`| head -1`): what is written from then on is dropped, the work goes on.
      if (error.code === 'EPIPE' || failed[name] !== undefined) return;
      failed[name] = outputFailure(name, error);
      failed.first ??= failed[name];
    };
    stream.on('error', listener);
    return () => stream.off('error', listener);
  });
  return {
    failure: () => failed.first,
    stdoutFailure: () => failed.stdout,
    stop: () => {
      for (const off of listeners) off();
    },
  };
}

/** The failure as one line: `stdout: cannot write the output: no space left on device (ENOSPC)`. */
export function outputFailure(stream: 'stdout' | 'stderr', error: NodeJS.ErrnoException): SparctlError {
  const code = environmentCode(error) ?? error.code;
  const text = `${stream}: cannot write the output: ${systemReason(error)}${code ? ` (${code})` : ''}; what was written there is incomplete`;
  return FULL.has(code ?? '')
    ? new SparctlError('disk.full', text, ExitCode.unavailable, {
        hint:
          code === 'EFBIG'
            ? 'the file reached the file size limit (ulimit -f): raise it, or send the output elsewhere, then run the same command again'
            : 'free some space (or raise the quota), or send the output elsewhere, then run the same command again',
        cause: error,
      })
    : new SparctlError('disk.write_failed', text, ExitCode.unavailable, {
        hint: 'fix what the system says, or send the output elsewhere, then run the same command again',
        cause: error,
      });
}
