import { randomBytes } from 'node:crypto';
import {
  closeSync,
  createReadStream,
  createWriteStream,
  fstatSync,
  mkdtempSync,
  openSync,
  readSync,
  readdirSync,
  rmSync,
  statSync,
} from 'node:fs';
import { dirname, join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { UsageError } from '../../core/errors.js';
import { describeFsError } from './record-file.js';
import { describeFailure, environmentCode, makeFolders, outputError } from '../files/fs-errors.js';
import { hostTag, processRuns } from '../files/pid-lock.js';

/**
 * Inputs that cannot be read twice — stdin, a pipe, process substitution (`<(…)`), a named
 * FIFO, a character device — are copied to a private file first (0600, in sparctl's state
 * folder, removed when the run ends), so that the pass before the run and the run itself read
 * the same bytes. A regular file is read where it is.
 */

export interface SeekableInput {
  /** The path to read. */
  readonly path: string;
  /** True when `path` is a copy of a stream: it cannot be resumed from without the same bytes again. */
  readonly spooled: boolean;
  /** Removes the copy (nothing for a regular file). */
  remove(): void;
}

/** A copy that fails for want of room (a full disk, a quota, a file size limit): input.spool_failed. */
const SPACE = new Set(['ENOSPC', 'EDQUOT', 'EFBIG']);

/** Copies older than this were left by killed runs and are removed (another host's: its pid says nothing here). */
const STALE_MS = 24 * 3600 * 1000;

/** A copy's name: the pid and host tag of the process that made it, then a random part. */
const COPY_NAME = /^(\d+)-([0-9a-f]{8})-[0-9a-f]{12}\.input$/;
/** A dry run's private folder for its copy. */
const TEMPORARY_FOLDER = /^sparctl-input-/;

/**
 * `spoolDir`: the folder the copy goes to; `temporary`: a dry run's, which makes nothing of
 * sparctl's own (README: reads and dry runs create nothing, not even a folder) — the copy goes
 * to a private folder made under `spoolDir` (the system's temporary folder) and removed with it.
 */
export async function seekableInput(name: string, stdin: Readable, spoolDir: string, temporary = false): Promise<SeekableInput> {
  if (name !== '-') {
    let kind: 'file' | 'directory' | 'other';
    try {
      const stats = statSync(name);
      kind = stats.isFile() ? 'file' : stats.isDirectory() ? 'directory' : 'other';
    } catch (error) {
      throw new UsageError('input.unreadable', `cannot read ${name}: ${describeFsError(error)}`, {
        hint: 'check the path of the input file',
      });
    }
    if (kind === 'directory')
      throw new UsageError('input.unreadable', `cannot read ${name}: it is a directory`, { hint: 'check the path of the input file' });
    if (kind === 'file') return { path: name, spooled: false, remove: () => undefined };
  }
  let folder = spoolDir;
  try {
    if (temporary) folder = mkdtempSync(join(spoolDir, 'sparctl-input-'));
    else makeFolders(spoolDir);
  } catch (error) {
    throw outputError((error as { path?: string }).path ?? spoolDir, 'cannot create the folder for a copy of the input', error);
  }
  if (temporary) removeStaleFolders(spoolDir);
  else removeStale(spoolDir);
  const path = join(folder, `${process.pid}-${hostTag()}-${randomBytes(6).toString('hex')}.input`);
  if (temporary) TEMPORARY.add(path);
  const label = name === '-' ? 'stdin' : name;
  // The copy's own failures (a full disk, a file size limit, a read-only or unwritable state
  // folder) are the state folder's, named as such: only a failure of the source is the input's.
  // Read through environmentCode: Node 20 names an exceeded quota 'Unknown system error -122'.
  const copyError = (error: unknown) =>
    SPACE.has(environmentCode(error) ?? '')
      ? new UsageError('input.spool_failed', `${describeFailure(spoolDir, `cannot copy ${label} here`, error)}; nothing was sent`, {
          hint: 'free some space, or save the input to a file and pass its path',
        })
      : outputError(spoolDir, `cannot copy ${label} here`, error);
  let fd: number;
  try {
    fd = openSync(path, 'wx', 0o600);
  } catch (error) {
    throw copyError(error);
  }
  removedAtExit(path);
  const copy = createWriteStream(path, { fd });
  let copyFailed = false;
  copy.on('error', () => {
    copyFailed = true;
  });
  try {
    await pipeline(name === '-' ? stdin : createReadStream(name), copy);
  } catch (error) {
    removeCopy(path);
    if (copyFailed || SPACE.has(environmentCode(error) ?? '')) throw copyError(error);
    throw new UsageError('input.unreadable', `cannot read ${label}: ${describeFsError(error)}`, {
      hint: 'check the path of the input file',
    });
  }
  if (throughPipe(name, stdin)) PIPED.add(path);
  return {
    path,
    spooled: true,
    remove: () => {
      PIPED.delete(path);
      removeCopy(path);
    },
  };
}

/**
 * The copies this process made and has not removed yet: removed when it exits, however the
 * exit comes about in JavaScript (a stop signal before the run began, a bug), not only when
 * the run ends normally. Left, each held a whole input (35 MB) for a day.
 */
const COPIES = new Set<string>();

function removedAtExit(path: string): void {
  if (COPIES.size === 0) process.once('exit', removeCopies);
  COPIES.add(path);
}

function removeCopy(path: string): void {
  COPIES.delete(path);
  if (COPIES.size === 0) process.off('exit', removeCopies);
  removeFile(path);
}

function removeCopies(): void {
  for (const path of COPIES) removeFile(path);
  COPIES.clear();
}

/** Copies in a private folder of their own (a dry run's): the folder goes with the copy. */
const TEMPORARY = new Set<string>();

function removeFile(path: string): void {
  rmSync(path, { force: true });
  if (TEMPORARY.delete(path)) rmSync(dirname(path), { recursive: true, force: true });
}

/**
 * Copies of input that came through a pipe, a FIFO or a socket (not stdin redirected from a
 * file): its producer may have died mid-row (`ssh host cat file | sparctl …`), and the last line,
 * cut short without its line break, read as a row with a shortened account number.
 */
const PIPED = new Set<string>();

/** Whether the copy at `path` (seekableInput's) came through a pipe: its last line may be cut short. */
export function cameThroughPipe(path: string): boolean {
  return PIPED.has(path);
}

function throughPipe(name: string, stdin: Readable): boolean {
  try {
    const fd = name === '-' ? (stdin as Readable & { fd?: unknown }).fd : undefined;
    const stats = name === '-' ? (typeof fd === 'number' ? fstatSync(fd) : undefined) : statSync(name);
    return stats === undefined || !stats.isFile();
  } catch {
    return true;
  }
}

/**
 * Removes the copies in `dir` that killed runs left: at once when their process provably no
 * longer runs (this host and pid namespace, no such pid: a copy holds a whole input, names and
 * account numbers, and a kill -9 left it for a day), else once a day old.
 */
function removeStale(dir: string): void {
  try {
    const now = Date.now();
    for (const entry of readdirSync(dir)) {
      if (!entry.endsWith('.input')) continue;
      const path = join(dir, entry);
      if (abandoned(dir, entry) || now - statSync(path).mtimeMs > STALE_MS) rmSync(path, { force: true });
    }
  } catch {
    // a folder that cannot be listed is reported when the copy is written
  }
}

/** The copy `name` in `dir`, made by a process that no longer runs (ours: not by this process). */
function abandoned(dir: string, name: string): boolean {
  const match = COPY_NAME.exec(name);
  if (match === null || match[2] !== hostTag()) return false;
  const pid = Number(match[1]);
  return pid === process.pid ? !COPIES.has(join(dir, name)) : !processRuns(pid);
}

/**
 * Dry runs' private folders under `tmp` (the system's temporary folder) whose copy a killed run
 * left: removed once its process provably no longer runs, or once the copy is a day old (its pid
 * may have been given to another process since); an empty one (a kill between making it and
 * the copy) once it is a day old. Another user's cannot be listed, and are left alone.
 */
function removeStaleFolders(tmp: string): void {
  let entries: string[];
  try {
    entries = readdirSync(tmp).filter((entry) => TEMPORARY_FOLDER.test(entry));
  } catch {
    return;
  }
  const now = Date.now();
  const old = (path: string) => now - statSync(path).mtimeMs > STALE_MS;
  for (const entry of entries) {
    const folder = join(tmp, entry);
    try {
      const inside = readdirSync(folder);
      if (inside.length === 0 ? old(folder) : inside.every((name) => abandoned(folder, name) || old(join(folder, name))))
        rmSync(folder, { recursive: true, force: true });
    } catch {
      // not ours to list, or gone meanwhile
    }
  }
}

/** The first character of a file that is not white space (or a BOM), to tell JSONL from CSV. */
export async function firstCharacter(path: string): Promise<string | undefined> {
  const fd = openSync(path, 'r');
  try {
    const buffer = Buffer.alloc(4096);
    const read = readSync(fd, buffer, 0, buffer.length, 0);
    return buffer
      .subarray(0, read)
      .toString('utf8')
      .replace(/^\uFEFF/, '')
      .trimStart()[0];
  } finally {
    closeSync(fd);
  }
}
