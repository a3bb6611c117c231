import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { tempDir } from './tmp.js';

export const ROOT = resolve(fileURLToPath(new URL('../..', import.meta.url)));
/** The binary under test; SPARCTL_TEST_BIN points the end-to-end tests at another build (e.g. to see a regression test fail on an older one). */
export const BIN = process.env['SPARCTL_TEST_BIN'] ?? join(ROOT, 'bin', 'sparctl.js');

/**
 * Every child a test starts is bounded: killed (SIGKILL) if still running after this long, so a
 * hang fails its test instead of holding a worker. Servers get longer: they live for a file.
 */
export const SPAWN_LIMIT = { timeout: 120_000, killSignal: 'SIGKILL' } as const;
export const SERVER_SPAWN_LIMIT = { timeout: 600_000, killSignal: 'SIGKILL' } as const;

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface CliEnv {
  /** Temp HOME with XDG dirs inside it; nothing touches the real home. */
  home: string;
  env: Record<string, string>;
  dataDb: string;
}

/** A clean environment for the built binary: temp HOME and XDG dirs, no colour, no CI noise. */
export function cliEnv(extra: Record<string, string> = {}): CliEnv {
  const home = tempDir('sparctl-home-');
  const env: Record<string, string> = {
    PATH: process.env['PATH'] ?? '',
    HOME: home,
    XDG_CONFIG_HOME: join(home, 'config'),
    XDG_DATA_HOME: join(home, 'data'),
    XDG_STATE_HOME: join(home, 'state'),
    XDG_CACHE_HOME: join(home, 'cache'),
    NO_COLOR: '1',
    ...extra,
  };
  mkdirSync(env['XDG_CONFIG_HOME']!, { recursive: true });
  return { home, env, dataDb: join(env['XDG_DATA_HOME']!, 'sparctl', 'mapper.db') };
}

/** Runs `node bin/sparctl.js ...args` as a real child process. */
export function runCli(args: string[], options: { env: Record<string, string>; input?: string; cwd?: string }): Promise<CliResult> {
  const child = spawn(process.execPath, [BIN, ...args], {
    ...SPAWN_LIMIT,
    env: options.env,
    cwd: options.cwd ?? ROOT,
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const result = outputOf(child);
  child.stdin.end(options.input ?? '');
  return result;
}

/** The exit code and the whole of stdout and stderr (both piped) of a child process. */
export function outputOf(child: ChildProcess): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    let stdout = '';
    let stderr = '';
    child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** stderr without the target line every command that talks to a mapper starts with ("→ local …"). */
export function withoutTarget(stderr: string): string {
  return stderr.replace(/^→ .*\n/, '');
}

/**
 * Whether a user other than the one running the tests may run this Node binary: it and every
 * folder above it open to others (CI's Node 24 lives under a mktemp folder, 0700, that only
 * root may enter). Tests that run sparctl as another user need it.
 */
export function othersMayRun(path: string = process.execPath): boolean {
  if ((statSync(path).mode & 0o001) === 0) return false;
  for (let dir = dirname(path); ; dir = dirname(dir)) {
    if ((statSync(dir).mode & 0o001) === 0) return false;
    if (dirname(dir) === dir) return true;
  }
}
