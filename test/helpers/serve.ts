import { spawn, type ChildProcess } from 'node:child_process';
import { BIN, ROOT, SERVER_SPAWN_LIMIT } from './run-cli.js';

export interface Served {
  /** Where to reach it from here: an address of every interface (0.0.0.0, ::) is reached on loopback. */
  readonly url: string;
  readonly child: ChildProcess;
  readonly stderr: () => string;
}

const running: ChildProcess[] = [];

/** Kills the servers still running; test/setup.ts runs it after each test. */
export function stopServers(): void {
  for (const child of running.splice(0)) if (child.exitCode === null) child.kill('SIGKILL');
}

/** Starts the built `sparctl serve` (accepting `partner`) on a free port; waits for its "listening" line. */
export function serve(env: Record<string, string>, db: string, partner: string): Promise<Served> {
  return serveWith(env, db, ['--partner', partner]);
}

/** Starts the built `sparctl --db DB serve --port 0 ...args` (args may name the port); waits for its "listening on" line. */
export function serveWith(env: Record<string, string>, db: string, args: readonly string[]): Promise<Served> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      [BIN, '--create', '--db', db, 'serve', ...(args.includes('--port') ? [] : ['--port', '0']), ...args],
      {
        ...SERVER_SPAWN_LIMIT,
        env,
        cwd: ROOT,
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    running.push(child);
    let stderr = '';
    child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
      stderr += chunk;
      const match = /listening on (https?):\/\/(\[[^\]]+\]|[^:/]+):(\d+)/.exec(stderr);
      if (match) {
        const host = match[2] === '0.0.0.0' ? '127.0.0.1' : match[2] === '[::]' ? '[::1]' : match[2];
        resolve({ url: `${match[1]}://${host}:${match[3]}`, child, stderr: () => stderr });
      }
    });
    child.on('exit', (code) => reject(new Error(`serve exited ${code}: ${stderr}`)));
  });
}
