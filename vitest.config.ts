import { accessSync, constants, readFileSync, statfsSync } from 'node:fs';
import { defineConfig } from 'vitest/config';
import SlowFirst from './test/slow-first.js';

/**
 * The tests' files on a RAM disk where there is one: SQLite syncs every local-mapper commit
 * (synchronous FULL), and on this VM's disk the suite spent a quarter of its CPU in the kernel.
 * Measured, whole suite, 2 cores: 164 s against 179 s of wall time, 320 s against 349 s of CPU.
 * The code under test is the same; only where its temp files live changes.
 */
function ramDisk(): string | undefined {
  try {
    accessSync('/dev/shm', constants.W_OK);
    // Not one that would test less: a noexec mount ignores the quota tests' preloaded shim, and a
    // small one (Docker's is 64 MB) fills up under four workers.
    const mount = readFileSync('/proc/mounts', 'utf8')
      .split('\n')
      .find((line) => line.split(' ')[1] === '/dev/shm');
    if (mount === undefined || mount.split(' ')[3]?.split(',').includes('noexec')) return undefined;
    const { bavail, bsize } = statfsSync('/dev/shm');
    return bavail * bsize >= 2 * 1024 ** 3 ? '/dev/shm' : undefined;
  } catch {
    return undefined;
  }
}
const tmp = process.env['SPARCTL_TEST_TMPDIR'] ?? ramDisk();

export default defineConfig({
  test: {
    ...(tmp === undefined ? {} : { env: { TMPDIR: tmp } }),
    include: ['test/**/*.test.ts'],
    // What each entry point sets up at start (cli/main.ts): the phone numbering plans' loader.
    setupFiles: ['test/setup.ts'],
    // better-sqlite3 is a native addon: child processes isolate it more simply than threads.
    pool: 'forks',
    // One process per worker for all its files, its modules loaded once: a fresh process and
    // module graph per file cost more CPU than many files' tests (unit tests alone: 75 s of
    // CPU isolated, 40 s not). Hooks every file needs are in test/setup.ts, which runs per file;
    // SQLite files are opened through retained.ts (a collected better-sqlite3 object aborts a
    // Node 24 process, and this one outlives the file: test/unit/architecture.test.ts checks).
    isolate: false,
    // Most end-to-end time is spent waiting on child processes, servers and backoff timers: four
    // workers keep this machine's two cores busy (158 s against 228 s with the default two).
    maxWorkers: 4,
    // End-to-end tests run the binary many times; beside three other workers on two cores one
    // can take three times as long as alone (the remote crash test: 8 s alone, 30 s in a busy run).
    testTimeout: 90_000,
    hookTimeout: 30_000,
    sequence: { sequencer: SlowFirst },
  },
});
