/**
 * Two runs of one job started at the same instant (a cron entry and a person, two CI steps):
 * one of them runs, the other is refused as `job.running` or runs after it — never both
 * refused while nothing runs. Before, each took a lock while setting up that SQLite's exclusive
 * locking mode keeps until the connection closes, each then met the other's, and both were
 * refused (about 9 starts in 20 on a new journal). Real processes (SQLite's locks are the
 * operating system's, per process), each spinning until one shared instant before it opens.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { BIN, SPAWN_LIMIT } from '../helpers/run-cli.js';
import { tempDir } from '../helpers/tmp.js';

const LOCK_MODULE = pathToFileURL(join(BIN, '..', '..', 'dist', 'adapters', 'journal', 'job-lock.js')).href;

/** A process that opens the lock at `path` at the instant `at` (ms since the epoch; it sleeps, then spins its last 15 ms), holds it 300 ms, and prints what happened. */
const STARTER = `
const { openLocked } = await import(process.argv[1]);
const [path, wal, at] = [process.argv[2], process.argv[3] === 'wal', Number(process.argv[4])];
const idle = at - Date.now() - 15;
if (idle > 0) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, idle);
while (Date.now() < at) {}
try {
  const db = openLocked(path, 'this job', (locked) => locked.exec('CREATE TABLE IF NOT EXISTS t (x); COMMIT'), { wal });
  const from = performance.timeOrigin + performance.now();
  setTimeout(() => {
    const to = performance.timeOrigin + performance.now();
    db.close();
    process.stdout.write(JSON.stringify({ outcome: 'ran', from, to }));
  }, 300);
} catch (error) {
  process.stdout.write(JSON.stringify({ outcome: error.code === 'job.running' ? 'refused' : 'failed: ' + error.message }));
}
`;

interface Outcome {
  readonly outcome: string;
  /** While it held the lock (ms since the epoch). */
  readonly from?: number;
  readonly to?: number;
}

function start(path: string, wal: boolean, at: number): Promise<Outcome> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--input-type=module', '-e', STARTER, LOCK_MODULE, path, wal ? 'wal' : 'plain', String(at)], {
      ...SPAWN_LIMIT,
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
    child.on('error', reject);
    child.on('exit', () => resolve(JSON.parse(out || '{"outcome":"no output"}') as Outcome));
  });
}

describe('two runs of one job started at one instant', () => {
  it('one runs, and the other is refused as running or runs once the first has let go: never both refused, never both at once (a journal, in WAL mode, and a plain job lock)', async () => {
    const dir = tempDir('sparctl-lock-start-');
    for (const wal of [true, false]) {
      for (let trial = 0; trial < 5; trial++) {
        const path = join(dir, `${wal ? 'journal' : 'lock'}-${trial}.db`);
        // Far enough ahead for both processes to have started (one that starts late only makes
        // the trial an ordinary one: ran, then refused).
        const at = Date.now() + 500;
        const [a, b] = await Promise.all([start(path, wal, at), start(path, wal, at)]);
        const trialName = `${wal ? 'WAL' : 'plain'} trial ${trial}: ${JSON.stringify([a, b])}`;
        expect([a!.outcome, b!.outcome].sort(), trialName).toContain('ran');
        for (const outcome of [a!, b!]) expect(['ran', 'refused'], trialName).toContain(outcome.outcome);
        // Both ran (the second started late, on a loaded machine): one after the other.
        if (a!.outcome === 'ran' && b!.outcome === 'ran') expect(a!.to! <= b!.from! || b!.to! <= a!.from!, trialName).toBe(true);
      }
    }
  }, 60_000);
});
