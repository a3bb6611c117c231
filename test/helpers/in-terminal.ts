import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { BIN, ROOT, SPAWN_LIMIT } from './run-cli.js';

/** A prompt's text to wait for, and the keys a person would press then (or a signal sent to the process). */
export interface TerminalStep {
  readonly expect: string;
  readonly send?: readonly string[];
  readonly signal?: 'SIGINT' | 'SIGTERM' | 'SIGHUP';
}

/** What the built binary did in the pseudo-terminal: its exit code, the screen as written, the step it stuck at (null: none). */
export interface TerminalRun {
  readonly code: number;
  readonly transcript: string;
  readonly stuck: number | null;
}

/** Runs the built sparctl in a real pseudo-terminal (pty-run.py), answering each prompt when its text appears. */
export function inTerminal(
  args: readonly string[],
  steps: readonly TerminalStep[],
  env: Record<string, string>,
  cwd?: string,
): Promise<TerminalRun> {
  return pythonReport<TerminalRun>(
    [join(ROOT, 'test', 'helpers', 'pty-run.py'), JSON.stringify(steps), '--', process.execPath, BIN, ...args],
    { env, ...(cwd === undefined ? {} : { cwd }) },
    'pty-run.py',
  );
}

/** Runs python3 with `args` (a terminal driver) and reads what it prints as one JSON report; `what` names it when it prints none. */
export function pythonReport<T>(
  args: readonly string[],
  options: { env?: Record<string, string>; cwd?: string },
  what: string,
): Promise<T> {
  return new Promise((resolve, reject) => {
    const child = spawn('python3', args, { ...SPAWN_LIMIT, ...options, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (err += chunk));
    child.on('error', reject);
    child.on('close', () => {
      try {
        resolve(JSON.parse(out) as T);
      } catch {
        reject(new Error(`${what}: ${err || out}`));
      }
    });
  });
}
