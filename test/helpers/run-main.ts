import { PassThrough, Writable } from 'node:stream';
import type { Io } from '../../src/cli/io.js';
import { ROOT, runCli, type CliResult } from './run-cli.js';

/**
 * The in-process tier: one sparctl invocation through `main()` with its own Io, as the binary
 * runs it but without starting a process (a tenth of the time). For what a command says and
 * writes given its flags, files and environment; signals, kills, terminals, the writer thread
 * and installs stay with the binary (runCli). SPARCTL_TEST_BIN sends these through a binary too.
 */
export async function runMain(
  args: string[],
  options: { env: Record<string, string>; input?: string; cwd?: string; columns?: number },
): Promise<CliResult> {
  if (process.env['SPARCTL_TEST_BIN']) return runCli(args, options);
  const { main } = await import('../../src/cli/main.js');
  let stdout = '';
  let stderr = '';
  const stdin = new PassThrough();
  stdin.end(options.input ?? '');
  const io: Io = {
    stdout: new Writable({ write: (chunk: Buffer, _encoding, done) => ((stdout += chunk.toString()), done()) }),
    stderr: new Writable({ write: (chunk: Buffer, _encoding, done) => ((stderr += chunk.toString()), done()) }),
    stdin,
    stdinIsTTY: false,
    stderrIsTTY: false,
    stdoutIsTTY: false,
    env: options.env,
    // As runCli: the repository, where the tests' relative paths (fixtures/…) point.
    cwd: options.cwd ?? ROOT,
    home: options.env['HOME'] ?? ROOT,
    // The terminal's width, as if stdout were one (a binary's piped stdout has none: 80 for tables).
    columns: options.columns ?? 80,
  };
  // As a process started there: relative paths the code hands to fs resolve against the cwd.
  // Runs at once (Promise.all) must share one cwd: the process has only one.
  if (running.count > 0 && running.cwd !== io.cwd)
    throw new Error(`runMain: concurrent runs in ${running.cwd} and ${io.cwd}; the process has one cwd`);
  if (running.count++ === 0) {
    running.before = process.cwd();
    running.cwd = io.cwd;
    process.chdir(io.cwd);
  }
  try {
    const code = await main(args, io);
    // Writes issued just before main() returned are delivered on the next turn.
    await new Promise((resolve) => setImmediate(resolve));
    return { code, stdout, stderr };
  } finally {
    if (--running.count === 0) process.chdir(running.before);
  }
}

/** The runs in progress in this process, and the cwd they share. */
const running = { count: 0, cwd: '', before: '' };

/**
 * The argv of the command a summary printed as "re-feed the fixed rows: sparctl …", split as a
 * POSIX shell splits it (single-quoted words whole, quotes removed).
 */
export function refeedArgs(refeed: string): string[] {
  const words = refeed.replace(/^sparctl /, '').match(/'(?:[^']|'\\'')*'|\S+/g) ?? [];
  return words.map((word) => (word.startsWith("'") ? word.slice(1, -1).replace(/'\\''/g, "'") : word));
}
