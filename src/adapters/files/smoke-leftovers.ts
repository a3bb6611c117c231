import { createHash } from 'node:crypto';
import { lstatSync, mkdirSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SMOKE_ID, smokeIdStartedAt, type SmokeLeftovers } from '../../core/smoke.js';
import { systemReason } from './fs-errors.js';
import { holding, isStale, lockContent, readLock } from './pid-lock.js';

/**
 * The synthetic IDs `smoke` linked and has not seen removed: one file per ID, named by it, in a
 * folder of sparctl's state per target, holding the pid-lock line of the run that wrote it. A run
 * killed before its cleanup (kill -9, a CI job cut off) leaves its file; the next smoke test of
 * the same target removes what that run linked.
 *
 * Invariant: an ID is offered for removal only when the run that wrote it provably no longer runs
 * (pid-lock.ts's rule) or started a day ago (no smoke test runs that long), so a smoke test never
 * removes the record of one still running.
 */
export function smokeLeftoversIn(stateDir: string, target: string, now: () => number = Date.now): SmokeLeftovers {
  // The target's address may carry a host, a path and secrets: only its hash names the folder.
  const dir = join(stateDir, 'smoke', createHash('sha256').update(target).digest('hex').slice(0, 32));
  const written = new Map<string, string>();
  return {
    add: (id) => {
      const content = lockContent();
      const path = join(dir, id);
      // Written whole under another name, then renamed: a note never exists empty or cut short
      // (a full disk made an empty one, which reads as stale after 5 s while its run still ran).
      const partial = join(dir, `.${id}.${process.pid}.partial`);
      try {
        mkdirSync(dir, { recursive: true, mode: 0o700 });
        writeFileSync(partial, content, { flag: 'wx', mode: 0o600 });
        renameSync(partial, path);
      } catch (error) {
        rmSync(partial, { force: true });
        throw new Error(`${dir}: ${systemReason(error)}`);
      }
      written.set(id, content);
      holding(content, true);
    },
    remove: (id) => {
      try {
        rmSync(join(dir, id), { force: true });
      } catch {
        // Left in place (a folder that refuses removal): the next run finds the ID not linked and tries again.
      }
      const content = written.get(id);
      if (content !== undefined) holding(content, false);
      written.delete(id);
    },
    left: () => {
      let names: string[];
      try {
        names = readdirSync(dir);
      } catch {
        return []; // no folder yet, or one that cannot be read: nothing known to be left
      }
      return names
        .filter((name) => SMOKE_ID.test(name) && !written.has(name))
        .filter((name) => {
          // A note is a small file of smoke's own: a folder, a pipe or a link to a device under
          // such a name is passed over (reading one failed, hung or filled memory).
          const path = join(dir, name);
          const stats = lstatSync(path, { throwIfNoEntry: false });
          if (stats?.isFile() !== true || stats.size > NOTE_MAX) return false;
          const seen = readLock(path);
          if (seen === undefined) return false;
          // A note from another host or container (a CI job's, its state folder kept) cannot be
          // judged by its pid; but no smoke test runs for a day, and its ID says when it started.
          return isStale(seen) || now() - smokeIdStartedAt(name) > A_DAY_MS;
        })
        .sort();
    },
  };
}

const A_DAY_MS = 24 * 60 * 60 * 1000;
/** A note holds one pid-lock line. */
const NOTE_MAX = 4096;
