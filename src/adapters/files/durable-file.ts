import { closeSync, constants, fsyncSync, openSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

/**
 * Files that must survive a power cut as the run left them, not only a kill.
 *
 * Invariant: a file put in place by `replaceDurably` is, after a crash of the machine at any
 * instant, either the old file or the whole new one, never empty or cut short: its bytes reach
 * the disk before its name does, and its name before the call returns.
 */

/** Writes `text` to `temporary` (created, `mode`), syncs it, renames it over `path`, and syncs the folder. */
export function replaceDurably(temporary: string, path: string, text: string, mode: number): void {
  const fd = openSync(temporary, constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC, mode);
  try {
    writeFileSync(fd, text);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(temporary, path);
  syncFolder(dirname(path));
}

/**
 * Puts a rename or a new name in `dir` on the disk. Best effort: a file system that cannot sync a
 * folder (some network ones, Windows) has no other way to do it, and the file itself is synced.
 */
export function syncFolder(dir: string): void {
  let fd: number | undefined;
  try {
    fd = openSync(dir, constants.O_RDONLY);
    fsyncSync(fd);
  } catch {
    // See above: nothing more can be done here.
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}
