import { createHash, randomUUID } from 'node:crypto';
import { closeSync, fstatSync, linkSync, openSync, readFileSync, readlinkSync, renameSync, rmSync } from 'node:fs';
import { hostname } from 'node:os';

/**
 * Lock files that say who holds them, beside the file they guard: made with O_EXCL and holding
 * one line, "pid host nonce [pid namespace]" (strategy add's strategiesFile lock, a bulk run's
 * claim on its report files).
 *
 * Invariant: a lock is removed by a process that did not make it only when its maker provably no
 * longer runs (same host, same pid namespace, no such pid) or it stayed empty for 5 s, and a
 * takeover removes only the very file it judged stale, never another process's new lock.
 */

/** A lock file as read: its content and which file it was (a new lock at the same path is another file, or a newer one). */
export interface SeenLock {
  readonly content: string;
  readonly dev: number;
  readonly ino: number;
  readonly mtimeMs: number;
  readonly size: number;
}

/** Stands for a lock file that cannot be read: never a lock's content (which ends in a line break). */
const UNREADABLE = '(unreadable)';

/** The contents of the locks this process holds: one of our pid not among them was left by an earlier process with our pid. */
const held = new Set<string>();

/** This process's next lock line (a nonce in each: two locks of one process are told apart). */
export function lockContent(): string {
  const ns = pidNamespace();
  return `${process.pid} ${hostname()} ${randomUUID()}${ns === undefined ? '' : ` ${ns}`}\n`;
}

/** This process now holds the lock with `content` (made and written), or no longer does. */
export function holding(content: string, holds: boolean): void {
  if (holds) held.add(content);
  else held.delete(content);
}

/** Removes the lock at `lockPath` while it is still the one made with `content` (not one taken over and made anew). */
export function releaseIfOurs(lockPath: string, content: string): void {
  held.delete(content);
  try {
    if (readFileSync(lockPath, 'utf8') === content) rmSync(lockPath, { force: true });
  } catch {
    // gone already, or unreadable: not ours to remove
  }
}

let ownPidNamespace: string | null | undefined;
/** This process's pid namespace ("pid:[4026531836]"), or undefined where it cannot be read (not Linux, no /proc). */
function pidNamespace(): string | undefined {
  if (ownPidNamespace === undefined) {
    try {
      ownPidNamespace = readlinkSync('/proc/self/ns/pid');
    } catch {
      ownPidNamespace = null;
    }
  }
  return ownPidNamespace ?? undefined;
}

/**
 * This host and pid namespace in 8 hex digits, for names that carry a pid (a preview's temporary
 * file): such a name's pid is judged gone only where the tag is this one's (as isStale does).
 */
export function hostTag(): string {
  return createHash('sha256')
    .update(`${hostname()} ${pidNamespace() ?? ''}`)
    .digest('hex')
    .slice(0, 8);
}

/** The lock file's content and identity, read through one descriptor (so both are of the same file); undefined when there is none. */
export function readLock(lockPath: string): SeenLock | undefined {
  let fd: number;
  try {
    fd = openSync(lockPath, 'r');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    // Unreadable (another user's, under a strict umask): nothing shows it stale.
    return { content: UNREADABLE, dev: 0, ino: 0, mtimeMs: Date.now(), size: 0 };
  }
  try {
    const { dev, ino, mtimeMs, size } = fstatSync(fd);
    return { content: readFileSync(fd, 'utf8'), dev, ino, mtimeMs, size };
  } finally {
    closeSync(fd);
  }
}

/** A lock's fields; the pid namespace is undefined in a lock written where there was none to read, or by an older sparctl. */
export function lockHolder(content: string): { pid: string | undefined; host: string | undefined; ns: string | undefined } {
  const [pid, host, , ns] = content.trimEnd().split(' ');
  return { pid: /^\d+$/.test(pid ?? '') ? pid : undefined, host, ns };
}

/** Who holds a lock, for the line that refuses: "pid 4242", "pid 4242 on host-b", "pid 4242 in another pid namespace". */
export function holderText(content: string): string | undefined {
  const { pid, host, ns } = lockHolder(content);
  if (pid === undefined) return undefined;
  if (host !== undefined && host !== hostname()) return `pid ${pid} on ${host}`;
  if (ns !== undefined && ns !== pidNamespace()) return `pid ${pid} in another pid namespace`;
  return `pid ${pid}`;
}

/** A lock whose process provably no longer runs (or ours, left by a process that had our pid). */
export function isStale(seen: SeenLock): boolean {
  if (held.has(seen.content) || seen.content === UNREADABLE) return false;
  const { pid, host, ns } = lockHolder(seen.content);
  // Being written this instant, or left empty by a process killed between making and writing it.
  if (pid === undefined || host === undefined) return Date.now() - seen.mtimeMs > 5_000;
  if (host !== hostname()) return false;
  // A pid means a process only in its own pid namespace: containers sharing this folder and a
  // hostname cannot see each other's processes, so kill(pid, 0) would call a live one gone.
  if (ns !== undefined && ns !== pidNamespace()) return false;
  return Number(pid) === process.pid || !processRuns(Number(pid));
}

export function processRuns(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Removes the stale lock `seen`. Two processes may judge it stale at once, so it is first renamed
 * aside (only one rename takes it); a file that turns out not to be the one judged stale — by
 * content, inode, mtime and size: another process's brand-new lock may be empty too, like a
 * stale one — is linked back.
 */
export function takeOver(lockPath: string, seen: SeenLock): void {
  const aside = `${lockPath}.${process.pid}.${randomUUID()}.stale`;
  try {
    renameSync(lockPath, aside);
  } catch {
    return;
  }
  const moved = readLock(aside);
  const same =
    moved !== undefined &&
    moved.content === seen.content &&
    moved.dev === seen.dev &&
    moved.ino === seen.ino &&
    moved.mtimeMs === seen.mtimeMs &&
    moved.size === seen.size;
  if (!same) {
    try {
      linkSync(aside, lockPath);
    } catch {
      // a new lock is there already: it stands
    }
  }
  rmSync(aside, { force: true });
}
