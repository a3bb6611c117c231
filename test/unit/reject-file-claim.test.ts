/**
 * A bulk run's claim on its report files (adapters/files/report-writers.ts): a lock file beside the
 * report, made with O_EXCL, that no other run (another process, or another job of this one) gets
 * past; one left by a process that no longer runs (kill -9) is taken over; released when the run
 * ends, and at the latest when its process exits.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readlinkSync, symlinkSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ReportClaims } from '../../src/adapters/files/report-writers.js';
import { ROOT, SPAWN_LIMIT } from '../helpers/run-cli.js';
import { tempDir } from '../helpers/tmp.js';

/** This process's pid namespace as the lock writes it ('' where /proc does not tell it). */
function ns(): string {
  try {
    return ` ${readlinkSync('/proc/self/ns/pid')}`;
  } catch {
    return '';
  }
}

const lockOf = (pid: number, host = hostname()) => `${pid} ${host} 00000000-0000-0000-0000-000000000000${ns()}\n`;

describe('report claims', () => {
  it('a claimed path is taken for every other run until released; the lock names this pid and goes with the release', () => {
    const dir = tempDir();
    const path = join(dir, 'a.rejects.csv');
    const mine = new ReportClaims();
    const claim = mine.claim(path);
    expect(claim.taken).toBe(false);
    expect(readFileSync(`${path}.lock`, 'utf8')).toMatch(new RegExp(`^${process.pid} `));
    // The report itself is not made: a run without rejects leaves none.
    expect(existsSync(path)).toBe(false);
    // Another job of this process is another run.
    expect(new ReportClaims().claim(path)).toEqual({ taken: true, holder: `pid ${process.pid}`, lockPath: `${path}.lock` });
    // This run's own second report at the path (--results naming it too) is not refused.
    expect(mine.claim(path).taken).toBe(false);
    mine.releaseAll();
    expect(existsSync(`${path}.lock`)).toBe(false);
    const next = new ReportClaims();
    expect(next.claim(path).taken).toBe(false);
    next.releaseAll();
  });

  it('a lock left by a process that no longer runs (kill -9) is taken over; a live one, or one from another host, is not', async () => {
    const dir = tempDir();
    const path = join(dir, 'a.rejects.csv');
    const gone = spawnSync(process.execPath, ['-e', '0']).pid!;
    writeFileSync(`${path}.lock`, lockOf(gone));
    const claims = new ReportClaims();
    expect(claims.claim(path).taken).toBe(false);
    expect(readFileSync(`${path}.lock`, 'utf8')).toMatch(new RegExp(`^${process.pid} `));
    claims.releaseAll();

    const live = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 30000)'], { ...SPAWN_LIMIT, stdio: 'ignore' });
    try {
      writeFileSync(`${path}.lock`, lockOf(live.pid!));
      expect(new ReportClaims().claim(path)).toEqual({ taken: true, holder: `pid ${live.pid}`, lockPath: `${path}.lock` });
      // Another machine's process cannot be checked: its lock stands, whatever its pid.
      writeFileSync(`${path}.lock`, lockOf(gone, 'elsewhere'));
      expect(new ReportClaims().claim(path)).toMatchObject({ taken: true, holder: `pid ${gone} on elsewhere` });
    } finally {
      live.kill('SIGKILL');
    }
  });

  it('two names of one file share one claim (the lock is beside the real file)', () => {
    const dir = tempDir();
    mkdirSync(join(dir, 'real'));
    symlinkSync(join(dir, 'real'), join(dir, 'alias'));
    const claims = new ReportClaims();
    expect(claims.claim(join(dir, 'real', 'r.csv')).taken).toBe(false);
    expect(new ReportClaims().claim(join(dir, 'alias', 'r.csv'))).toMatchObject({ taken: true, lockPath: join(dir, 'real', 'r.csv.lock') });
    claims.releaseAll();
  });

  it('nothing is claimed where no lock can be made: a device, a folder sparctl may not write (its check says why)', () => {
    expect(new ReportClaims().claim('/dev/null').taken).toBe(false);
    expect(existsSync('/dev/null.lock')).toBe(false);
  });

  it('a process that exits before its run releases (a second Ctrl-C: process.exit) leaves no lock', () => {
    const dir = tempDir();
    const path = join(dir, 'a.rejects.csv');
    // The compiled module (npm run build), in a process of its own.
    const module = join(ROOT, 'dist', 'adapters', 'files', 'report-writers.js');
    const child = spawnSync(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        `const { ReportClaims } = await import(${JSON.stringify(module)});
         const claim = new ReportClaims().claim(${JSON.stringify(path)});
         const fs = await import('node:fs');
         process.stdout.write(String(claim.taken === false && fs.existsSync(${JSON.stringify(`${path}.lock`)})));
         process.exit(130);`,
      ],
      { encoding: 'utf8' },
    );
    expect(child.status, child.stderr).toBe(130);
    expect(child.stdout).toBe('true');
    expect(existsSync(`${path}.lock`)).toBe(false);
  });
});
