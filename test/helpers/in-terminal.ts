import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { BIN, ROOT, SPAWN_LIMIT } from './run-cli.js';

/** A prompt's text to wait for, and the keys a person would press then. */
export interface TerminalStep {
  readonly expect: string;
  readonly send: readonly string[];
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
  return new Promise((resolve, reject) => {
    const child = spawn(
      'python3',
      [join(ROOT, 'test', 'helpers', 'pty-run.py'), JSON.stringify(steps), '--', process.execPath, BIN, ...args],
      { ...SPAWN_LIMIT, env, ...(cwd === undefined ? {} : { cwd }), stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (err += chunk));
    child.on('error', reject);
    child.on('close', () => {
      try {
        resolve(JSON.parse(out) as TerminalRun);
      } catch {
        reject(new Error(`pty-run.py: ${err || out}`));
      }
    });
  });
}
