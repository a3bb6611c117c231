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
  statSync,
  unlinkSync,
} from 'node:fs';
import { dirname, parse, resolve } from 'node:path';
import { getSystemErrorMap } from 'node:util';
import { ExitCode, SparctlError, UsageError } from '../../core/errors.js';

/**
 * The one place where a failure of the machine sparctl runs on — the file system, the disk,
 * SQLite's file — becomes a SparctlError: one line `PATH: what failed: the system's reason (CODE)`,
 * exit 2 when it is met before anything was sent (`output.*`: the path is wrong), exit 4 once a
 * run is under way (`disk.*`: free space or fix the file, then run the same command again).
 * Anything else is not the surroundings' fault and passes through untouched (a bug stays a bug).
 */

/** Node's and SQLite's codes that say the machine, not sparctl, failed. */
const SPACE = new Set(['ENOSPC', 'EDQUOT', 'SQLITE_FULL']);
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
  'EFBIG',
  'EIO',
  'EBADF',
]);
const SQLITE_ENVIRONMENT = /^SQLITE_(FULL|IOERR|CANTOPEN|READONLY|CORRUPT|NOTADB|PERM|NOLFS)/;

/** The error's code when it is one of the surroundings' (ENOSPC, SQLITE_IOERR_WRITE, …), else undefined. */
export function environmentCode(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code !== 'string') return undefined;
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
  }
  const message = error instanceof Error ? error.message : String(error);
  return message.replace(/^[A-Z]+: /, '').replace(/, [a-z]+ '.*'$/, '');
}

/** `PATH: what: reason (CODE)`. */
export function describeFailure(path: string, what: string, error: unknown): string {
  const code = environmentCode(error) ?? (error as { code?: string }).code;
  return `${path}: ${what}: ${systemReason(error)}${code ? ` (${code})` : ''}`;
}

/**
 * A failure met before anything was sent: an output path that cannot be created or opened
 * (exit 2), or a full disk (exit 4: nothing is wrong with the command). Not the surroundings'
 * failure: returned as it is.
 */
export function outputError(path: string, what: string, error: unknown): unknown {
  if (error instanceof SparctlError || environmentCode(error) === undefined) return error;
  if (SPACE.has(environmentCode(error)!)) return duringRunError(path, what, error);
  return new UsageError('output.unwritable', `${describeFailure(path, what, error)}; nothing was sent`, {
    hint: 'check the path and its folder: it must be a file sparctl may create or write',
    cause: error,
  });
}

/** A failure met while a run writes (the mapper's database, the journal, rejects, results): exit 4, resumable. */
export function duringRunError(path: string, what: string, error: unknown): unknown {
  if (error instanceof SparctlError) return error;
  const code = environmentCode(error);
  if (code === undefined) return error;
  if (SPACE.has(code))
    return new SparctlError('disk.full', describeFailure(path, what, error), ExitCode.unavailable, {
      hint: 'free some space (or raise the quota), then run the same command again to resume',
      cause: error,
    });
  return new SparctlError('disk.write_failed', describeFailure(path, what, error), ExitCode.unavailable, {
    hint: 'fix what the system says (the disk, the file, its permissions), then run the same command again to resume',
    cause: error,
  });
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
 * `output.*` (exit 2) or `disk.*` naming the path.
 */
export function checkOutputPath(path: string, ownerOnly = true): void {
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
      try {
        accessSync(folder, constants.W_OK | constants.X_OK);
      } catch (inner) {
        throw outputError(folder, 'cannot create files in this folder', inner);
      }
      // Permission bits do not tell everything (root passes every access check; /proc and
      // read-only mounts refuse new files anyway): create the file once and remove it, so that
      // a path that cannot be written is refused now, before anything is sent.
      // A dangling symlink stats as missing, and the real write follows it: its target is checked.
      if (lstatSync(path, { throwIfNoEntry: false })?.isSymbolicLink()) {
        checkOutputPath(resolve(dirname(path), readlinkSync(path)), ownerOnly);
        return;
      }
      let probe: number;
      try {
        probe = openSync(path, 'wx', 0o600);
      } catch (error) {
        if ((error as { code?: string }).code === 'EEXIST') return; // created meanwhile: not ours to judge or remove
        throw outputError(path, 'cannot create it', error);
      }
      // Removed only while the path still names the file made here (another process may have
      // put its own there meanwhile); a folder that refuses removal leaves an empty file the
      // real write then uses.
      try {
        const made = fstatSync(probe);
        const there = lstatSync(path, { throwIfNoEntry: false });
        if (there !== undefined && there.ino === made.ino && there.dev === made.dev) unlinkSync(path);
      } catch {
        // left in place: the path is about to be written anyway
      } finally {
        closeSync(probe);
      }
      return;
    }
    throw outputError(path, 'cannot write to it', error);
  }
  if (ownerOnly) ownerOnlyFile(path);
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

/** The same file: the same device and inode when both exist, else the same path. */
export function sameFile(a: string, b: string): boolean {
  if (a === b) return true;
  try {
    const [x, y] = [statSync(a, { throwIfNoEntry: false }), statSync(b, { throwIfNoEntry: false })];
    return x !== undefined && y !== undefined && x.dev === y.dev && x.ino === y.ino;
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
