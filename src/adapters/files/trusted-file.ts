/**
 * Files that decide which mapper sparctl acts on or what it writes there: the config file, and a
 * profile's `strategiesFile` (the templates that build and read FA strings). Invariant: such a
 * file is read only when it is a regular file (or, where the caller takes one, a pipe) that no
 * other user can change or replace, its bytes are valid UTF-8, and the bytes read are those of
 * the file whose stats were judged.
 */
import { constants, realpathSync, statSync, type Stats } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import { shellWord } from '../../core/shell-word.js';
import { firstBadLine } from './utf8-lines.js';

/** Why a file is not read: each caller names it with its own error code. */
export class UntrustedFile extends Error {
  constructor(
    readonly kind: 'unreadable' | 'folder' | 'not_regular' | 'unsafe' | 'not_utf8',
    message: string,
    readonly fix?: string,
  ) {
    super(message);
  }
}

/**
 * The file's text (a BOM kept, as `readFile(…, 'utf8')` keeps it), or undefined when there is no
 * such file. Opened without blocking, so that a named pipe or a device is refused instead of
 * waited on (`/path/fifo` hung every command, `/dev/zero` filled memory).
 */
export async function readTrustedText(path: string, options: { readonly pipes?: boolean } = {}): Promise<string | undefined> {
  let handle: FileHandle;
  try {
    handle = await open(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return undefined;
    throw new UntrustedFile('unreadable', `cannot be read (${code ?? (error as Error).message})`);
  }
  try {
    // The file that is read is the one checked: no swap between the two.
    const stats = await handle.stat();
    // Before its mode is judged: a folder's (/tmp's 1777) says nothing about a file.
    if (stats.isDirectory()) throw new UntrustedFile('folder', 'is a folder, not a file');
    const piped = options.pipes === true && stats.isFIFO();
    if (!stats.isFile() && !piped) throw new UntrustedFile('not_regular', 'is not a regular file (a pipe, a socket or a device)');
    const unsafe = untrustedBecause(path, stats);
    if (unsafe !== undefined) throw new UntrustedFile('unsafe', unsafe.why, unsafe.fix);
    const bytes = piped ? await readPipe(handle) : await handle.readFile();
    try {
      return new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes);
    } catch {
      throw new UntrustedFile('not_utf8', `is not valid UTF-8 (line ${1 + firstBadLine(bytes)}); save it as UTF-8`);
    }
  } catch (error) {
    if (error instanceof UntrustedFile) throw error;
    throw new UntrustedFile('unreadable', `cannot be read (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
  } finally {
    await handle.close();
  }
}

/**
 * Why another user could change the file or put another in its place, with the command that
 * fixes it; undefined when no one else can (as ssh judges its own config). Not on Windows, whose
 * files carry no such mode.
 */
export function untrustedBecause(path: string, file: Stats): { why: string; fix: string } | undefined {
  const me = process.getuid?.();
  if (me === undefined || process.platform === 'win32') return undefined;
  const mode = (file.mode & 0o7777).toString(8).padStart(4, '0');
  if (file.uid !== me && file.uid !== 0)
    return {
      why: `belongs to another user (uid ${file.uid})`,
      fix: `copy it to a file of your own, or run: chown ${me} ${shellWord(path)}`,
    };
  if ((file.mode & 0o022) !== 0) return { why: `can be changed by other users (mode ${mode})`, fix: `run: chmod go-w ${shellWord(path)}` };
  // The folder named, and the folder of the file it leads to (a symbolic link to a file in a
  // folder anyone may write would otherwise pass): in either, another user could swap the file.
  let real = path;
  try {
    real = realpathSync(path);
  } catch {
    // judged by the path as given
  }
  for (const dir of new Set([dirname(path), dirname(real)])) {
    let folder: Stats;
    try {
      folder = statSync(dir);
    } catch {
      continue;
    }
    // A folder others may write lets them put another file in its place, unless it is sticky.
    if ((folder.mode & 0o022) !== 0 && (folder.mode & 0o1000) === 0)
      return {
        why: `is ${dir === dirname(path) ? 'in' : `a link to a file in`} a folder other users can write to (${dir}, mode ${(folder.mode & 0o7777).toString(8).padStart(4, '0')}), so they can replace it`,
        fix: `run: chmod go-w ${shellWord(dir)}`,
      };
  }
  return undefined;
}

/**
 * A pipe the caller accepts (`SPARCTL_CONFIG=<(…)`, a config that never touches the disk), read
 * from the handle already open, up to 1 MiB. Opened without blocking, it may hold nothing yet
 * (EAGAIN), or have no writer yet (end of file at once): both are waited out, the second for 2 s.
 */
async function readPipe(handle: FileHandle): Promise<Buffer> {
  const most = 1024 * 1024;
  const chunks: Buffer[] = [];
  let size = 0;
  const started = Date.now();
  const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
  for (;;) {
    const buffer = Buffer.alloc(64 * 1024);
    let bytesRead: number;
    try {
      ({ bytesRead } = await handle.read(buffer, 0, buffer.length, null));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EAGAIN') throw error;
      await pause(5);
      continue;
    }
    if (bytesRead === 0) {
      if (size === 0 && Date.now() - started < 2_000) {
        await pause(20);
        continue;
      }
      return Buffer.concat(chunks);
    }
    size += bytesRead;
    if (size > most) throw new UntrustedFile('unreadable', 'is a pipe that holds more than 1 MiB');
    chunks.push(buffer.subarray(0, bytesRead));
  }
}
