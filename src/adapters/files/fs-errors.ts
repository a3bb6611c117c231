import {
  accessSync,
  chmodSync,
  closeSync,
  constants,
  fchmodSync,
  fstatSync,
  lstatSync,
  mkdirSync,
  openSync,
  readlinkSync,
  realpathSync,
  statSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { constants as osConstants } from 'node:os';
import { basename, dirname, join, parse, resolve } from 'node:path';
import { getSystemErrorMap } from 'node:util';
import { ExitCode, SparctlError, UsageError } from '../../core/errors.js';

/**
 * The one place where a failure of the machine sparctl runs on — the file system, the disk,
 * SQLite's file — becomes a SparctlError: one line `PATH: what failed: the system's reason (CODE)`,
 * exit 2 when it is met before anything was sent (`output.*`: the path is wrong), exit 4 once a
 * run is under way (`disk.*`: free space or fix the file, then run the same command again).
 * Anything else is not the surroundings' fault and passes through untouched (a bug stays a bug).
 */

/**
 * Node's and SQLite's codes that say the machine, not sparctl, failed. A file that may not grow
 * (EFBIG: the file size limit `ulimit -f`, or the file system's largest file) is room running
 * out as much as a full disk or a quota is: the same code and exit, as for stdout and the spool.
 */
const SPACE = new Set(['ENOSPC', 'EDQUOT', 'EFBIG', 'SQLITE_FULL']);
const PATH_CODES = new Set([
  'EACCES',
  'EPERM',
  'EISDIR',
  'ENOTDIR',
  'ENOENT',
  'EROFS',
  'ELOOP',
  'ENAMETOOLONG',
  'EEXIST',
  'ENXIO',
  'ETXTBSY',
  'EMFILE',
  'ENFILE',
  'EIO',
  'EBADF',
]);
const SQLITE_ENVIRONMENT = /^SQLITE_(FULL|IOERR|CANTOPEN|READONLY|CORRUPT|NOTADB|PERM|NOLFS)/;

/** errno numbers to their names (122 → EDQUOT on Linux); the first name of a number is kept (EAGAIN, not EWOULDBLOCK). */
const ERRNO_NAMES = new Map<number, string>();
for (const [name, errno] of Object.entries(osConstants.errno)) if (!ERRNO_NAMES.has(errno)) ERRNO_NAMES.set(errno, name);

/** The system's words for errnos libuv has none for (what `strerror` says). */
const UNNAMED_REASONS: Readonly<Record<string, string>> = { EDQUOT: 'disk quota exceeded' };

/**
 * The error's system code. libuv names only the errnos it knows: Node 20's libuv (1.46) has no
 * EDQUOT, so an exceeded disk quota reaches sparctl as code 'UNKNOWN' (a sync call) or
 * 'Unknown system error -122' (a stream, a promise) with errno -122: named here from the
 * system's own table, or that failure would be a bug's "internal error".
 */
function systemCode(error: unknown): string | undefined {
  const { code, errno } = (error ?? {}) as { code?: unknown; errno?: unknown };
  const unnamed = code === undefined || code === 'UNKNOWN' || (typeof code === 'string' && code.startsWith('Unknown system error'));
  if (unnamed && typeof errno === 'number' && errno < 0) return ERRNO_NAMES.get(-errno) ?? (code as string | undefined);
  return typeof code === 'string' ? code : undefined;
}

/** The error's code when it is one of the surroundings' (ENOSPC, SQLITE_IOERR_WRITE, …), else undefined. */
export function environmentCode(error: unknown): string | undefined {
  const code = systemCode(error);
  if (code === undefined) return undefined;
  return SPACE.has(code) || PATH_CODES.has(code) || SQLITE_ENVIRONMENT.test(code) ? code : undefined;
}

/** True for SQLite's "this file is damaged / not a database". */
export function isCorrupt(error: unknown): boolean {
  return /^SQLITE_(CORRUPT|NOTADB)/.test(environmentCode(error) ?? '');
}

/** The system's own words for the error, without Node's "CODE: …, syscall 'path'" wrapping. */
export function systemReason(error: unknown): string {
  const errno = (error as { errno?: unknown }).errno;
  if (typeof errno === 'number' && errno < 0) {
    const known = getSystemErrorMap().get(errno);
    if (known) return known[1];
    const reason = UNNAMED_REASONS[ERRNO_NAMES.get(-errno) ?? ''];
    if (reason !== undefined) return reason;
  }
  const message = error instanceof Error ? error.message : String(error);
  return message.replace(/^[A-Z]+: /, '').replace(/, [a-z]+ '.*'$/, '');
}

/** `PATH: what: reason (CODE)`, then for an SQLite I/O error what the system says when asked again (probeWrite). */
export function describeFailure(path: string, what: string, error: unknown, probed?: unknown): string {
  const code = environmentCode(error) ?? systemCode(error);
  const now = probed === undefined ? '' : `; writing beside it now fails: ${systemReason(probed)} (${systemCode(probed)})`;
  return `${path}: ${what}: ${systemReason(error)}${code ? ` (${code})` : ''}${now}`;
}

/**
 * A failure met before anything was sent: an output path that cannot be created or opened
 * (exit 2), or a full disk (exit 4: nothing is wrong with the command). Not the surroundings'
 * failure: returned as it is.
 */
export function outputError(path: string, what: string, error: unknown): unknown {
  if (error instanceof SparctlError || environmentCode(error) === undefined) return error;
  const { code, probed } = askedAgain(path, error);
  if (SPACE.has(code)) return duringRunError(path, what, error);
  return new UsageError('output.unwritable', `${describeFailure(path, what, error, probed)}; nothing was sent`, {
    hint: 'check the path and its folder: it must be a file sparctl may create or write',
    cause: error,
  });
}

/** A failure met while a run writes (the mapper's database, the journal, rejects, results): exit 4, resumable. */
export function duringRunError(path: string, what: string, error: unknown): unknown {
  if (error instanceof SparctlError) return error;
  if (environmentCode(error) === undefined) return error;
  const { code, probed } = askedAgain(path, error);
  const text = describeFailure(path, what, error, probed);
  if (SPACE.has(code))
    return new SparctlError('disk.full', text, ExitCode.unavailable, {
      hint:
        code === 'EFBIG'
          ? 'the file reached the file size limit (ulimit -f) or the largest file its file system takes: raise the limit, or move it elsewhere, then run the same command again to resume'
          : 'free some space (or raise the quota), then run the same command again to resume',
      cause: error,
    });
  return new SparctlError('disk.write_failed', text, ExitCode.unavailable, {
    hint: 'fix what the system says (the disk, the file, its permissions), then run the same command again to resume',
    cause: error,
  });
}

/** The surroundings' code of `error` (one), and for an SQLite write error what the system says when asked again. */
function askedAgain(path: string, error: unknown): { code: string; probed?: unknown } {
  const code = environmentCode(error)!;
  const probed = SQLITE_WRITE_ERROR.test(code) ? probeWrite(path) : undefined;
  return probed === undefined ? { code } : { code: environmentCode(probed)!, probed };
}

/** SQLite's codes for a write that failed (all but ENOSPC: that one is SQLITE_FULL). */
const SQLITE_WRITE_ERROR = /^SQLITE_IOERR(_WRITE|_FSYNC|_TRUNCATE|_SHMSIZE|_DIR_FSYNC)?$/;

/** What a test write may answer that explains an SQLite I/O error (a folder sparctl may not write in would not). */
const PROBE_TELLS = new Set(['ENOSPC', 'EDQUOT', 'EFBIG', 'EROFS', 'EIO']);

/** Size of the test write: more than SQLite's largest page, so a disk or quota it filled refuses it. */
const PROBE_BYTES = 65_536;

/**
 * SQLite turns every failed write but ENOSPC into SQLITE_IOERR_WRITE ("disk I/O error"), and
 * better-sqlite3 does not expose the errno: a quota exceeded (EDQUOT), the file size limit
 * (EFBIG under `ulimit -f`; Node ignores SIGXFSZ), a disk the kernel made read-only (EROFS)
 * all read the same, with nothing for the operator to act on. So the system is asked again,
 * beside the SQLite file `path`: a file is created in its folder and written (room, quota,
 * read-only), then one byte is written at the offset where the largest of the database's files
 * ends (the size limit, which a file that stopped growing has reached). The system's error when
 * it explains the failure (PROBE_TELLS), else undefined. The test file is removed.
 */
export function probeWrite(path: string): unknown {
  if (path === ':memory:') return undefined; // no file, no folder of its own
  const probe = join(dirname(path), `.${basename(path)}.${process.pid}.probe`);
  const telling = (error: unknown) => (PROBE_TELLS.has(environmentCode(error) ?? '') ? error : undefined);
  let fd: number;
  try {
    fd = openSync(probe, 'wx', 0o600);
  } catch (error) {
    return telling(error);
  }
  try {
    // A write cut short (at a file size limit, as the disk fills) is carried on, for the error.
    for (let done = 0, wrote = -1; done < PROBE_BYTES && wrote !== 0; done += wrote)
      wrote = writeSync(fd, Buffer.alloc(PROBE_BYTES - done), 0, PROBE_BYTES - done, done);
    const ends = ['', '-wal', '-journal'].map((suffix) => statSync(`${path}${suffix}`, { throwIfNoEntry: false })?.size ?? 0);
    writeSync(fd, Buffer.alloc(1), 0, 1, Math.max(...ends));
    return undefined;
  } catch (error) {
    return telling(error);
  } finally {
    closeSync(fd);
    try {
      unlinkSync(probe);
    } catch {
      // a file system that refuses the removal refused the write first
    }
  }
}

/**
 * Removes the file at `path` if there is one. unlink, not rmSync: Node 23+ reimplemented rmSync,
 * whose failures (a disk made read-only, EROFS) carry no error code, only "Unknown error: …",
 * which no caller can tell from a bug.
 */
export function removeFileIfThere(path: string): void {
  try {
    unlinkSync(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
}

/**
 * A file by its real path (links resolved; for a file still to be made, its folder's, and where a
 * symbolic link to it points): one file named through a symbolic link is one file, to a lock, a
 * job, a state keyed by its path, or two reports that must not share one.
 */
export function realPath(path: string, hops = 0): string {
  try {
    return realpathSync(path);
  } catch {
    try {
      // A link to a file not made yet: the file it will make (40 hops, as the kernel allows).
      if (hops < 40 && lstatSync(path).isSymbolicLink()) return realPath(resolve(dirname(path), readlinkSync(path)), hops + 1);
    } catch {
      // Not there at all: its folder's real path below.
    }
    try {
      return join(realpathSync(dirname(path)), basename(path));
    } catch {
      return path;
    }
  }
}

/**
 * Creates the folder `dir` and the missing folders above it, one at a time from the nearest that
 * exists: unlike `mkdir -p` in Node 20 (which loops forever where mkdir answers ENOENT for a
 * parent that exists, as under /proc) this makes at most one attempt per path component.
 * Throws the system's error naming the folder it failed on.
 */
export function makeFolders(dir: string, mode = 0o700): void {
  const missing: string[] = [];
  const root = parse(resolve(dir)).root;
  for (let at = resolve(dir); ; at = dirname(at)) {
    try {
      if (!statSync(at).isDirectory())
        throw Object.assign(new Error(`ENOTDIR: not a directory, mkdir '${at}'`), { code: 'ENOTDIR', errno: -20, path: at });
      break;
    } catch (error) {
      if ((error as { code?: string }).code !== 'ENOENT' || at === root) throw error;
      missing.push(at);
    }
  }
  for (const folder of missing.reverse()) {
    try {
      mkdirSync(folder, { mode });
    } catch (error) {
      // Made meanwhile by someone else: fine, as long as it is a folder.
      if ((error as { code?: string }).code === 'EEXIST' && statSync(folder).isDirectory()) continue;
      throw error;
    }
  }
}

/**
 * Makes sure a file sparctl will write beneficiaries' data into can be written, before anything
 * is sent, without creating or changing its content: its folders are made, an existing file must
 * not be a folder and is made 0600 (ownerOnly), a new one's folder must be writable. Throws
 * `output.*` (exit 2) or `disk.*` naming the path. `probeAs`: a name beside `path` where the
 * file is first written, then renamed to `path` (a dry run's preview): the trial file is made
 * there, an existing file's folder too (another run may put its own at `path` any moment, and a
 * trial file there, killed before it went, would pass for a preview).
 */
export function checkOutputPath(path: string, ownerOnly = true, probeAs = path): void {
  const folder = dirname(path);
  try {
    makeFolders(folder);
  } catch (error) {
    throw outputError((error as { path?: string }).path ?? folder, 'cannot create the folder', error);
  }
  let exists = false;
  try {
    const stats = statSync(path);
    exists = true;
    if (stats.isDirectory()) throw Object.assign(new Error('EISDIR: illegal operation on a directory'), { code: 'EISDIR', errno: -21 });
    accessSync(path, constants.W_OK);
  } catch (error) {
    if (!exists && (error as { code?: string }).code === 'ENOENT') {
      writableFolder(folder);
      // A dangling symlink stats as missing, and the real write follows it: its target is checked.
      if (lstatSync(path, { throwIfNoEntry: false })?.isSymbolicLink()) {
        checkOutputPath(resolve(dirname(path), readlinkSync(path)), ownerOnly);
        return;
      }
      probeFile(path, probeAs);
      return;
    }
    throw outputError(path, 'cannot write to it', error);
  }
  if (ownerOnly) ownerOnlyFile(path);
  if (probeAs !== path && statSync(path).isFile()) {
    writableFolder(folder);
    probeFile(path, probeAs);
  }
}

function writableFolder(folder: string): void {
  try {
    accessSync(folder, constants.W_OK | constants.X_OK);
  } catch (inner) {
    throw outputError(folder, 'cannot create files in this folder', inner);
  }
}

/**
 * A file can be made at `probeAs` (beside `path`, or `path` itself), for `path`: permission bits
 * do not tell everything (root passes every access check; /proc and read-only mounts refuse new
 * files anyway), so the file is created once and removed.
 */
function probeFile(path: string, probeAs: string): void {
  let probe: number;
  try {
    probe = openSync(probeAs, 'wx', 0o600);
  } catch (error) {
    if ((error as { code?: string }).code === 'EEXIST') return; // created meanwhile: not ours to judge or remove
    throw outputError(path, 'cannot create it', error);
  }
  // Removed only while the path still names the file made here (another process may have
  // put its own there meanwhile); a folder that refuses removal leaves an empty file the
  // real write then uses.
  try {
    const made = fstatSync(probe);
    const there = lstatSync(probeAs, { throwIfNoEntry: false });
    if (there !== undefined && there.ino === made.ino && there.dev === made.dev) unlinkSync(probeAs);
  } catch {
    // left in place: the path is about to be written anyway
  } finally {
    closeSync(probe);
  }
}

/**
 * Makes an existing file that will hold beneficiaries' data 0600 (a regular file: a device such as
 * /dev/null is left alone). Given `fd`, through it. A file of another user (EPERM) is refused.
 */
export function ownerOnlyFile(path: string, fd?: number): void {
  try {
    if (!statSync(path).isFile()) return;
    if (fd === undefined) chmodSync(path, 0o600);
    else fchmodSync(fd, 0o600);
  } catch (error) {
    const code = (error as { code?: string }).code;
    if (code === 'ENOENT') return;
    if (code === 'EPERM')
      throw new UsageError(
        'output.not_owner',
        `${path}: cannot make it readable by its owner only: ${systemReason(error)} (EPERM); it would hold beneficiaries' data; nothing was sent`,
        { hint: `it belongs to another user: run "chmod 600 ${path}" as its owner, or choose another path`, cause: error },
      );
    throw outputError(path, 'cannot make it readable by its owner only', error);
  }
}

/**
 * A SQLite file (database or journal) before SQLite opens it: its folder made, the file created
 * 0600 — an existing one made so — since SQLite would create it with the umask's mode.
 */
export function ownerOnlyDatabaseFile(path: string): void {
  makeFolders(dirname(path));
  const fd = openSync(path, 'a', 0o600);
  try {
    ownerOnlyFile(path, fd);
  } finally {
    closeSync(fd);
  }
}

/** The same file: the same device and inode when both exist, else the same real path (symbolic links followed). */
export function sameFile(a: string, b: string): boolean {
  if (a === b) return true;
  try {
    const [x, y] = [statSync(a, { throwIfNoEntry: false }), statSync(b, { throwIfNoEntry: false })];
    if (x !== undefined && y !== undefined) return x.dev === y.dev && x.ino === y.ino;
    return realPath(a) === realPath(b);
  } catch {
    return false; // a path that cannot be looked at is for the open to refuse, with its reason
  }
}

/** The local mapper database's files (the database at absolute path `db`, its -wal and -shm), for refuseProtected. */
export function databaseFiles(db: string): { path: string; what: string }[] {
  return ['', '-wal', '-shm'].map((suffix) => ({ path: `${db}${suffix}`, what: 'the local mapper database' }));
}

/**
 * Refuses an output path (`flag` names it) that is one of `guarded` — a run's input, the local
 * mapper database — before anything is written: `--results mapper.db` once overwrote every
 * mapping. Paths are absolute (the command's folder is the caller's to apply).
 */
export function refuseProtected(path: string, flag: string, guarded: readonly { path: string; what: string }[]): void {
  const hit = guarded.find((file) => sameFile(file.path, path));
  if (hit !== undefined)
    throw new UsageError('output.protected', `${flag} ${path} is ${hit.what}: writing there would destroy it; nothing was sent`, {
      hint: `name another file for ${flag}`,
    });
}
