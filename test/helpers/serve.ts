import { spawn, type ChildProcess } from 'node:child_process';
import { afterEach } from 'vitest';
import { BIN, ROOT } from './run-cli.js';

export interface Served {
  readonly url: string;
  readonly child: ChildProcess;
  readonly stderr: () => string;
}

const running: ChildProcess[] = [];
afterEach(() => {
  for (const child of running.splice(0)) if (child.exitCode === null) child.kill('SIGKILL');
});

/** Starts the built `sparctl serve` (accepting `partner`) on a free port; waits for its "listening" line. */
export function serve(env: Record<string, string>, db: string, partner: string): Promise<Served> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, '--create', '--db', db, 'serve', '--port', '0', '--partner', partner], { env, cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    running.push(child);
    let stderr = '';
    child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
      stderr += chunk;
      const match = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(stderr);
      if (match) resolve({ url: match[1]!, child, stderr: () => stderr });
    });
    child.on('exit', (code) => reject(new Error(`serve exited ${code}: ${stderr}`)));
  });
}
