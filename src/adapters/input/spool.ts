import { randomBytes } from 'node:crypto';
import { closeSync, createReadStream, createWriteStream, openSync, readSync, readdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { UsageError } from '../../core/errors.js';
import { describeFsError } from './record-file.js';
import { describeFailure, makeFolders, outputError } from '../files/fs-errors.js';

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

/** Copies older than this were left by killed runs and are removed. */
const STALE_MS = 24 * 3600 * 1000;

export async function seekableInput(name: string, stdin: Readable, spoolDir: string): Promise<SeekableInput> {
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
  try {
    makeFolders(spoolDir);
  } catch (error) {
    throw outputError((error as { path?: string }).path ?? spoolDir, 'cannot create the folder for a copy of the input', error);
  }
  removeStale(spoolDir);
  const path = join(spoolDir, `${process.pid}-${randomBytes(6).toString('hex')}.input`);
  try {
    await pipeline(name === '-' ? stdin : createReadStream(name), createWriteStream(path, { flags: 'wx', mode: 0o600 }));
  } catch (error) {
    rmSync(path, { force: true });
    const code = (error as { code?: string }).code;
    if (code === 'ENOSPC' || code === 'EDQUOT') {
      throw new UsageError(
        'input.spool_failed',
        `${describeFailure(spoolDir, `cannot copy ${name === '-' ? 'stdin' : name} here`, error)}; nothing was sent`,
        { hint: 'free some space, or save the input to a file and pass its path' },
      );
    }
    throw new UsageError('input.unreadable', `cannot read ${name === '-' ? 'stdin' : name}: ${describeFsError(error)}`, {
      hint: 'check the path of the input file',
    });
  }
  return { path, spooled: true, remove: () => rmSync(path, { force: true }) };
}

function removeStale(dir: string): void {
  try {
    const now = Date.now();
    for (const entry of readdirSync(dir)) {
      const path = join(dir, entry);
      if (entry.endsWith('.input') && now - statSync(path).mtimeMs > STALE_MS) rmSync(path, { force: true });
    }
  } catch {
    // a folder that cannot be listed is reported when the copy is written
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
