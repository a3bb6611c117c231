import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { constants as osConstants } from 'node:os';
import { basename, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { duringRunError, environmentCode, outputError, systemReason } from '../../src/adapters/files/fs-errors.js';
// Through retained.ts: on Node 24 a collected better-sqlite3 object aborts the test process.
import { openDatabase, prepare } from '../../src/adapters/sqlite/retained.js';
import { SqliteJournal } from '../../src/adapters/journal/sqlite-journal.js';
import { outputFailure } from '../../src/cli/output-failure.js';
import { SparctlError } from '../../src/core/errors.js';
import { BIN, type CliResult, cliEnv, outputOf, ROOT, runCli, SPAWN_LIMIT } from '../helpers/run-cli.js';
import { bankFlags } from '../helpers/records.js';
import { runMain } from '../helpers/run-main.js';
import { tempDir } from '../helpers/tmp.js';

/**
 * Failing surroundings of a second kind: a disk quota (EDQUOT), the file size limit (`ulimit -f`:
 * EFBIG, Node ignores SIGXFSZ), a disk the kernel makes read-only mid-run (EROFS). Each stops a
 * run with one line naming the path and the system's reason, exit 4 (2 for the stdin copy,
 * before anything is sent), never "internal error" or SQLite's bare "disk I/O error"; the same
 * command run again once the cause is gone ends where a clean run ends.
 *
 * Mounts need root (and the kernel's tmpfs, loop devices, ext4): without them those cases are
 * skipped. Every mount is undone in a finally, whatever the test met.
 */

const linux = process.platform === 'linux';
const isRoot = linux && process.getuid?.() === 0;
const EDQUOT = osConstants.errno.EDQUOT as number | undefined;
const has = (command: string, args: string[]) => spawnSync(command, args, { stdio: 'ignore' }).status === 0;
const hasBash = has('bash', ['-c', 'ulimit -f 1000']);
const hasCc = isRoot && has('cc', ['--version']);
const hasExt4Tools = isRoot && has('mkfs.ext4', ['-V']) && existsSync('/dev/loop-control');

/**
 * Rows per run: enough to cross each limit below mid-run (each test checks that some rows, or
 * lines, were written before the failure and not all), few enough to keep the suite quick.
 */
const ROWS = 2_000;
const MAPPING = join(ROOT, 'fixtures', 'enumeration.mapping.json');
const DFSP = join(ROOT, 'fixtures', 'dfsp.json');
const HEADER =
  'household_no,national_id,full_name,barangay,municipality,contact_phone,payment_method,bank_code,branch_code,account_no,wallet,payment_mobile,payment_email';

/** An enumeration file of `rows` bank rows that fixtures/enumeration.mapping.json reads. */
function enumeration(dir: string, rows: number): string {
  const lines = Array.from(
    { length: rows },
    (_, i) =>
      `HH-${i},${100_000_000_000 + i},Person ${i},San Isidro,Quezon City,0917 555 ${String(i % 10_000).padStart(4, '0')},bank,LBP,0012,${String(i).padStart(12, '0')},,,`,
  );
  const path = join(dir, 'e.csv');
  writeFileSync(path, `${HEADER}\n${lines.join('\n')}\n`);
  copyFileSync(MAPPING, join(dir, 'map.json'));
  copyFileSync(DFSP, join(dir, 'dfsp.json'));
  return path;
}

const importArgs = (db: string, ...more: string[]) => [
  '--db',
  db,
  'import-csv',
  'e.csv',
  '--mapping',
  'map.json',
  '--dfsp',
  'dfsp.json',
  ...more,
];

/** Mappings in the database now (a run stopped mid-way: those it committed). */
function committed(db: string): number {
  const open = openDatabase(db, { readonly: true, fileMustExist: true });
  try {
    return (prepare(open, 'SELECT COUNT(*) AS n FROM id_fa_mappings').get() as { n: number }).n;
  } finally {
    open.close();
  }
}

/** Lines in a file now (a results file cut short: its header and the lines written). */
const linesIn = (path: string) => readFileSync(path, 'utf8').split('\n').length - 1;

function mappings(db: string): string {
  const open = openDatabase(db, { readonly: true });
  return JSON.stringify({
    rows: prepare(open, 'SELECT id_value, fa_value, name, phone, additional_info FROM id_fa_mappings ORDER BY id_value').all(),
    // One audit row per write: a record applied twice would show here.
    audit: prepare(open, 'SELECT operation, id_value, COUNT(*) AS n FROM audit_log GROUP BY operation, id_value HAVING n > 1').all(),
    writes: prepare(open, 'SELECT COUNT(*) AS n FROM audit_log').get(),
  });
}

/**
 * The mapper a run without failures makes of the same input: made once per input (its rows are
 * all it depends on), as five tests compare against it; in process (runMain), as it is only the
 * reference the runs under test are held to.
 */
const cleanRuns = new Map<string, Promise<string>>();
function cleanRun(dir: string, env: Record<string, string>): Promise<string> {
  const input = readFileSync(join(dir, 'e.csv'), 'utf8');
  let made = cleanRuns.get(input);
  if (made === undefined) {
    made = (async () => {
      const clean = await runMain([...importArgs('clean.db', '-q'), '--create'], { env, cwd: dir });
      expect(clean.code, clean.stderr).toBe(0);
      return mappings(join(dir, 'clean.db'));
    })();
    cleanRuns.set(input, made);
  }
  return made;
}

/** The binary under `ulimit -f blocks` (1 KiB blocks): writes past that size fail (EFBIG). */
function runLimited(blocks: number, args: string[], options: { env: Record<string, string>; cwd: string }): Promise<CliResult> {
  const child = spawn('bash', ['-c', `ulimit -f ${blocks} && exec "$0" "$@"`, process.execPath, BIN, ...args], {
    ...SPAWN_LIMIT,
    env: options.env,
    cwd: options.cwd,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return outputOf(child);
}

describe.skipIf(EDQUOT === undefined)('an exceeded disk quota as Node 20 reports it (libuv has no name for EDQUOT)', () => {
  const sync = () => Object.assign(new Error('UNKNOWN: unknown error, write'), { code: 'UNKNOWN', errno: -EDQUOT!, syscall: 'write' });
  const stream = () =>
    Object.assign(new Error(`Unknown system error -${EDQUOT}: Unknown system error -${EDQUOT}, write`), {
      code: `Unknown system error -${EDQUOT}`,
      errno: -EDQUOT!,
      syscall: 'write',
    });

  it('is EDQUOT, "disk quota exceeded": disk.full naming the file or the stream, never an internal error', () => {
    for (const error of [sync(), stream()]) {
      expect(environmentCode(error)).toBe('EDQUOT');
      expect(systemReason(error)).toBe('disk quota exceeded');
      const during = duringRunError('/q/r.csv', 'cannot write', error) as SparctlError;
      expect(during).toBeInstanceOf(SparctlError);
      expect({ code: during.code, message: during.message, exitCode: during.exitCode }).toEqual({
        code: 'disk.full',
        message: '/q/r.csv: cannot write: disk quota exceeded (EDQUOT)',
        exitCode: 4,
      });
      const output = outputFailure('stdout', error);
      expect({ code: output.code, message: output.message }).toEqual({
        code: 'disk.full',
        message: 'stdout: cannot write the output: disk quota exceeded (EDQUOT); what was written there is incomplete',
      });
    }
  });
});

describe.skipIf(!hasBash)('the file size limit (ulimit -f): Node ignores SIGXFSZ, the write fails with EFBIG', () => {
  it('the database: disk.full with EFBIG, not a bare "disk I/O error"; run again without the limit it ends where a clean run does', async () => {
    const dir = tempDir();
    const { env } = cliEnv();
    enumeration(dir, ROWS);
    const limited = await runLimited(500, [...importArgs('x.db', '-q'), '--create'], { env, cwd: dir });
    expect(limited.code, limited.stderr).toBe(4);
    expect(limited.stderr).toContain(
      `sparctl: error [disk.full]: ${join(dir, 'x.db')}: the local mapper database failed: disk I/O error (SQLITE_IOERR_WRITE); writing beside it now fails: file too large (EFBIG)`,
    );
    expect(limited.stderr).toContain('file size limit (ulimit -f)');
    expect(limited.stderr).not.toContain('internal');
    // Crossed mid-run: 500 KiB hold the first batch (500 rows), not the second.
    expect(committed(join(dir, 'x.db'))).toBeGreaterThan(0);
    expect(committed(join(dir, 'x.db'))).toBeLessThan(ROWS);
    expect(readdirSync(dir).filter((name) => name.endsWith('.probe'))).toEqual([]);
    const again = await runCli(importArgs('x.db', '-q'), { env, cwd: dir });
    expect(again.code, again.stderr).toBe(0);
    expect(mappings(join(dir, 'x.db'))).toBe(await cleanRun(dir, env));
  });

  it('met as the mapper is opened (its -shm cannot grow): disk.full, exit 4, for reads and writes alike, not "check the path"', async () => {
    const dir = tempDir();
    const { env } = cliEnv();
    expect((await runMain(['--db', 'x.db', 'init', '-q'], { env, cwd: dir })).code).toBe(0);
    for (const args of [
      ['dfsp', 'list'],
      ['strategy', 'list'],
      ['resolve', 'X'],
      ['link', '--id', 'X', ...bankFlags('1')],
    ]) {
      for (const suffix of ['-wal', '-shm']) rmSync(join(dir, `x.db${suffix}`), { force: true });
      // 8 KiB: less than the 32 KiB SQLite gives a new -shm.
      const limited = await runLimited(8, ['--db', 'x.db', ...args], { env, cwd: dir });
      expect({ args, code: limited.code }).toEqual({ args, code: 4 });
      expect(limited.stderr).toContain(
        `sparctl: error [disk.full]: ${join(dir, 'x.db')}: cannot open the local mapper database: disk I/O error (SQLITE_IOERR_SHMSIZE); writing beside it now fails: file too large (EFBIG)`,
      );
    }
  });

  it('--results: disk.full with EFBIG, as for stdout; the rerun writes every line', async () => {
    const dir = tempDir();
    const { env } = cliEnv();
    enumeration(dir, ROWS);
    // The mapper made first (in process: setup), without the limit: the run under it writes little
    // more than its results.
    expect((await runMain([...importArgs('x.db', '-q'), '--create'], { env, cwd: dir })).code).toBe(0);
    // 50 KiB: about 900 of the 2,000 result lines.
    const limited = await runLimited(50, importArgs('x.db', '-q', '--results', 'res.csv'), { env, cwd: dir });
    expect(limited.code, limited.stderr).toBe(4);
    expect(limited.stderr).toContain(`sparctl: error [disk.full]: ${join(dir, 'res.csv')}: cannot write: file too large (EFBIG)`);
    expect(linesIn(join(dir, 'res.csv'))).toBeGreaterThan(1);
    expect(linesIn(join(dir, 'res.csv'))).toBeLessThan(ROWS + 1);
    const again = await runCli(importArgs('x.db', '-q', '--results', 'res.csv'), { env, cwd: dir });
    expect(again.code, again.stderr).toBe(0);
    expect(readFileSync(join(dir, 'res.csv'), 'utf8').trim().split('\n')).toHaveLength(ROWS + 1);
    expect(mappings(join(dir, 'x.db'))).toBe(await cleanRun(dir, env));
  });
});

/**
 * A tmpfs of `size` whose ENOSPC the sparctl child sees as EDQUOT: a disk quota, as this kernel
 * (no CONFIG_TMPFS_QUOTA, no quota format for ext4) cannot make one. A preloaded library turns
 * the errno of a failed write on that device only: the space runs out exactly as it would.
 */
function quotaDisk(dir: string, size: string): { at: string; env: Record<string, string> } | undefined {
  const source = join(dir, 'edquot.c');
  writeFileSync(
    source,
    `#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>
static int quota(int fd) {
  const char *dev = getenv("SHIM_QUOTA_DEV");
  struct stat st;
  return dev && fstat(fd, &st) == 0 && (unsigned long long)st.st_dev == strtoull(dev, 0, 10);
}
#define WRAP(ret, name, params, args) \\
  ret name params { static ret (*real) params; if (!real) real = dlsym(RTLD_NEXT, #name); \\
    ret r = real args; if (r < 0 && errno == ENOSPC && quota(fd)) errno = EDQUOT; return r; }
WRAP(ssize_t, write, (int fd, const void *b, size_t n), (fd, b, n))
WRAP(ssize_t, pwrite, (int fd, const void *b, size_t n, off_t o), (fd, b, n, o))
WRAP(ssize_t, pwrite64, (int fd, const void *b, size_t n, off_t o), (fd, b, n, o))
WRAP(ssize_t, writev, (int fd, const struct iovec *v, int n), (fd, v, n))
WRAP(ssize_t, pwritev, (int fd, const struct iovec *v, int n, off_t o), (fd, v, n, o))
WRAP(ssize_t, pwritev64, (int fd, const struct iovec *v, int n, off_t o), (fd, v, n, o))
WRAP(int, fallocate, (int fd, int m, off_t o, off_t l), (fd, m, o, l))
WRAP(int, ftruncate, (int fd, off_t l), (fd, l))
`,
  );
  const library = join(dir, 'edquot.so');
  const at = join(dir, 'quota');
  mkdirSync(at);
  try {
    execFileSync('cc', ['-shared', '-fPIC', '-o', library, source, '-ldl'], { ...SPAWN_LIMIT, stdio: 'ignore' });
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', at], { ...SPAWN_LIMIT, stdio: 'ignore' });
  } catch {
    return undefined;
  }
  const device = String(Number(execFileSync('stat', ['-c', '%d', at], SPAWN_LIMIT).toString().trim()));
  // libuv writes through libc (io_uring off), where the library sits.
  return { at, env: { LD_PRELOAD: library, SHIM_QUOTA_DEV: device, UV_USE_IO_URING: '0' } };
}

/** Runs `body` on a quota disk, unmounted afterwards whatever happens; skipped where none can be made. */
async function onQuotaDisk(
  context: { skip: () => void },
  size: string,
  body: (disk: { at: string; env: Record<string, string> }, dir: string) => Promise<void>,
) {
  const dir = tempDir();
  const disk = quotaDisk(dir, size);
  if (disk === undefined) return context.skip();
  try {
    await body(disk, dir);
  } finally {
    // Lazily: this process keeps the databases it compared open (retained.ts).
    execFileSync('umount', ['--lazy', disk.at], SPAWN_LIMIT);
  }
}

describe.skipIf(!hasCc || EDQUOT === undefined)('a disk quota (EDQUOT) crossed mid-run', () => {
  it('the reject and results files: disk.full naming the file, exit 4; with room again the rerun ends as a clean run', async (context) => {
    // 60 KiB: about 900 of the 2,000 result lines.
    await onQuotaDisk(context, '60k', async (disk, dir) => {
      const { env } = cliEnv();
      enumeration(dir, ROWS);
      const results = join(disk.at, 'res.csv');
      const quota = await runCli([...importArgs('x.db', '-q', '--results', results), '--create'], {
        env: { ...env, ...disk.env },
        cwd: dir,
      });
      expect(quota.code, quota.stderr).toBe(4);
      expect(quota.stderr).toContain(`sparctl: error [disk.full]: ${results}: cannot write: disk quota exceeded (EDQUOT)`);
      expect(quota.stderr).not.toContain('internal');
      expect(linesIn(results)).toBeGreaterThan(1);
      expect(linesIn(results)).toBeLessThan(ROWS + 1);
      execFileSync('mount', ['-o', 'remount,size=20m', disk.at], SPAWN_LIMIT);
      const again = await runCli(importArgs('x.db', '-q', '--results', results), { env, cwd: dir });
      expect(again.code, again.stderr).toBe(0);
      expect(readFileSync(results, 'utf8').trim().split('\n')).toHaveLength(ROWS + 1);
      expect(mappings(join(dir, 'x.db'))).toBe(await cleanRun(dir, env));
    });
  });

  it('the database: disk.full saying "disk quota exceeded", not a bare "disk I/O error"; the rerun ends as a clean run', async (context) => {
    // 640 KiB (the database, its WAL and its shared memory): the first batch of 500 rows, not the second.
    await onQuotaDisk(context, '640k', async (disk, dir) => {
      const { env } = cliEnv();
      enumeration(dir, ROWS);
      const db = join(disk.at, 'x.db');
      const quota = await runCli([...importArgs(db, '-q'), '--create'], { env: { ...env, ...disk.env }, cwd: dir });
      expect(quota.code, quota.stderr).toBe(4);
      expect(quota.stderr).toContain(
        `sparctl: error [disk.full]: ${db}: the local mapper database failed: disk I/O error (SQLITE_IOERR_WRITE); writing beside it now fails: disk quota exceeded (EDQUOT)`,
      );
      expect(committed(db)).toBeGreaterThan(0);
      expect(committed(db)).toBeLessThan(ROWS);
      expect(readdirSync(disk.at).filter((name) => name.endsWith('.probe'))).toEqual([]);
      execFileSync('mount', ['-o', 'remount,size=40m', disk.at], SPAWN_LIMIT);
      const again = await runCli(importArgs(db, '-q'), { env, cwd: dir });
      expect(again.code, again.stderr).toBe(0);
      expect(mappings(db)).toBe(await cleanRun(dir, env));
    });
  });

  it("stdin's copy in the state folder: input.spool_failed naming the quota, exit 2, nothing sent", async (context) => {
    await onQuotaDisk(context, '75k', async (disk, dir) => {
      const { env } = cliEnv();
      const input = readFileSync(enumeration(dir, ROWS));
      // The copy fails part-way: the input is over twice the quota.
      expect(input.length).toBeGreaterThan(2 * 75 * 1024);
      const state = join(disk.at, 'state');
      const child = spawn(process.execPath, [BIN, ...importArgs('x.db', '-q').map((arg) => (arg === 'e.csv' ? '-' : arg)), '--create'], {
        ...SPAWN_LIMIT,
        env: { ...env, ...disk.env, XDG_STATE_HOME: state },
        cwd: dir,
        stdio: ['pipe', 'pipe', 'pipe'],
      });
      // Through a pipe, as `… | sparctl import-csv -`; the child stops reading when its copy fails.
      child.stdin!.on('error', () => undefined).end(input);
      const quota = await outputOf(child);
      expect(quota.code, quota.stderr).toBe(2);
      expect(quota.stderr).toContain(
        `sparctl: error [input.spool_failed]: ${join(state, 'sparctl', 'spool')}: cannot copy stdin here: disk quota exceeded (EDQUOT); nothing was sent`,
      );
      if (existsSync(join(dir, 'x.db'))) expect(JSON.parse(mappings(join(dir, 'x.db'))).writes).toEqual({ n: 0 });
    });
  });
});

/**
 * An ext4 file system (a loop device, `errors=remount-ro`) that the kernel makes read-only
 * mid-run, as it does on a disk error: `mount -o remount,ro` itself is refused (EBUSY) while
 * sparctl holds files open for writing, so the error is triggered (/sys/fs/ext4/DEV/trigger_fs_error).
 * Undefined where one cannot be made.
 */
function ext4Disk(dir: string): { at: string; image: string; fail: () => void } | undefined {
  const image = join(dir, 'ext4.img');
  const at = join(dir, 'disk');
  mkdirSync(at);
  try {
    execFileSync('truncate', ['-s', '64M', image], SPAWN_LIMIT);
    execFileSync('mkfs.ext4', ['-q', '-F', image], { ...SPAWN_LIMIT, stdio: 'ignore' });
    execFileSync('mount', ['-o', 'loop,errors=remount-ro', image, at], { ...SPAWN_LIMIT, stdio: 'ignore' });
  } catch {
    return undefined;
  }
  let trigger: string | undefined;
  try {
    trigger = `/sys/fs/ext4/${basename(execFileSync('findmnt', ['-no', 'SOURCE', at], SPAWN_LIMIT).toString().trim())}/trigger_fs_error`;
  } catch {
    trigger = undefined;
  }
  if (trigger === undefined || !existsSync(trigger)) {
    spawnSync('umount', ['--lazy', at], SPAWN_LIMIT);
    return undefined;
  }
  const failing = trigger;
  return { at, image, fail: () => writeFileSync(failing, '1') };
}

describe.skipIf(!hasExt4Tools)('a disk the kernel makes read-only mid-run (EROFS)', () => {
  it('the journal folder: one line naming the journal and EROFS, exit 4, no internal error; after fsck the rerun ends as a clean run', async (context) => {
    const dir = tempDir();
    const disk = ext4Disk(dir);
    if (disk === undefined) return context.skip();
    try {
      const state = join(disk.at, 'state');
      const { env } = cliEnv({ XDG_STATE_HOME: state });
      // Three times the rows: the disk fails once the journal's WAL passes 32 KiB (about 300 rows
      // in), and the run must still be writing then, however slowly this process sees it.
      enumeration(dir, 3 * ROWS);
      const journals = join(state, 'sparctl', 'journals');
      const child = spawn(process.execPath, [BIN, ...importArgs('x.db', '-q', '--batch-size', '100'), '--create'], {
        ...SPAWN_LIMIT,
        env,
        cwd: dir,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      const result = outputOf(child);
      // Once the run has settled a few batches in its journal: the disk fails under it.
      const writing = () =>
        existsSync(journals) &&
        readdirSync(journals).some(
          (name) => name.endsWith('.db-wal') && (statSync(join(journals, name), { throwIfNoEntry: false })?.size ?? 0) > 32_768,
        );
      while (!writing()) {
        if (child.exitCode !== null) break;
        await new Promise((wake) => setTimeout(wake, 5));
      }
      disk.fail();
      const failed = await result;
      expect(failed.stderr).not.toContain('internal');
      expect(failed.code, failed.stderr).toBe(4);
      expect(failed.stderr).toMatch(
        new RegExp(`sparctl: error \\[disk\\.write_failed\\]: ${journals}/[0-9a-f]+\\.db: .*read-only file system \\(EROFS\\)`),
      );
      // The disk repaired and mounted again (what an operator does): the job resumes, or starts
      // anew if the disk lost the journal's last writes, and meets those rows unchanged.
      execFileSync('umount', [disk.at], SPAWN_LIMIT);
      spawnSync('e2fsck', ['-fy', disk.image], { ...SPAWN_LIMIT, stdio: 'ignore' });
      execFileSync('mount', ['-o', 'loop,errors=remount-ro', disk.image, disk.at], { ...SPAWN_LIMIT, stdio: 'ignore' });
      const again = await runCli(importArgs('x.db', '-q', '--batch-size', '100'), { env, cwd: dir });
      expect(again.code, again.stderr).toBe(0);
      expect(mappings(join(dir, 'x.db'))).toBe(await cleanRun(dir, env));
    } finally {
      // Lazily: a connection a failed assertion left open would keep the mount busy.
      spawnSync('umount', ['--lazy', disk.at], SPAWN_LIMIT);
    }
  });

  it("a finished job's journal the disk no longer lets go: disk.write_failed naming it, not a raw EROFS; SQLite's I/O error there names EROFS", (context) => {
    const dir = tempDir();
    const disk = ext4Disk(dir);
    if (disk === undefined) return context.skip();
    try {
      const path = join(disk.at, 'j.db');
      const journal = SqliteJournal.open(path, { fingerprint: 'f', description: 'link F.csv → local' }, false);
      disk.fail();
      let thrown: unknown;
      try {
        journal.remove();
      } catch (error) {
        thrown = error;
      }
      expect(thrown).toBeInstanceOf(SparctlError);
      expect((thrown as SparctlError).code).toBe('disk.write_failed');
      expect((thrown as SparctlError).message).toBe(
        `${path}: cannot remove the journal of the finished job: read-only file system (EROFS)`,
      );
      // SQLite's bare "disk I/O error" there (a journal being opened as the disk failed) is
      // told with what the system says now.
      const sqlite = Object.assign(new Error('disk I/O error'), { code: 'SQLITE_IOERR_WRITE' });
      const opening = outputError(join(disk.at, 'k.db'), 'cannot open the journal', sqlite) as SparctlError;
      expect({ code: opening.code, message: opening.message }).toEqual({
        code: 'output.unwritable',
        message: `${join(disk.at, 'k.db')}: cannot open the journal: disk I/O error (SQLITE_IOERR_WRITE); writing beside it now fails: read-only file system (EROFS); nothing was sent`,
      });
    } finally {
      // Lazily: a connection a failed assertion left open would keep the mount busy.
      spawnSync('umount', ['--lazy', disk.at], SPAWN_LIMIT);
    }
  });
});
