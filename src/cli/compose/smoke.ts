import { randomBytes } from 'node:crypto';
import { realpathSync } from 'node:fs';
import { resolve } from 'node:path';
import type { SmokeDeps } from '../../app/smoke.js';
import type { Settings } from '../../config/settings.js';
import { normalAddress } from '../../config/redact.js';
import { openMapper, targetArgs, type CommandContext } from '../context.js';
import { endOnUnheardSignals, onStopSignals } from '../io.js';
import { smokeLeftoversIn } from '../../adapters/files/smoke-leftovers.js';

const immediate = () => new Promise<void>((resolve) => setImmediate(resolve));

/**
 * The mapper a smoke test's notes belong to: by its whole address, not the target's shown name,
 * whose secrets are masked (two tenants' `?tenant=` values would be one target). Only a hash of
 * it is written.
 */
export function smokeNotesKey(settings: Pick<Settings, 'mode' | 'db' | 'protocol' | 'baseUrl'>): string {
  if (settings.mode === 'local') {
    // The file itself: a symbolic link to the database is the same mapper.
    try {
      return `local ${realpathSync(settings.db!)}`;
    } catch {
      return `local ${settings.db}`;
    }
  }
  return `${settings.protocol} ${normalAddress(settings.baseUrl!)}`;
}

/** What the smoke use case needs, from this command's settings: the composition of app/smoke.ts. */
export function smokeDeps(context: CommandContext): SmokeDeps {
  const { settings } = context.resolved;
  return {
    openMapper: () => openMapper(context, 'write-existing'),
    now: () => new Date(),
    randomHex: () => randomBytes(4).toString('hex'),
    clock: () => performance.now(),
    ...(settings.mode === 'remote' ? { requestTimeoutMs: settings.timeoutMs } : {}),
    targetArgs: targetArgs(context),
    writeJunit: async (path, report, startedAt) => {
      const { smokeJunitXml, writeJunitFile } = await import('../../adapters/files/junit.js');
      await writeJunitFile(path, smokeJunitXml(report, startedAt));
    },
    // First: a signal on its way as the use case stops listening then still ends the run by it.
    onSignal: (listener) => (endOnUnheardSignals(), onStopSignals(listener)),
    // Node hands a signal over in the event loop's poll phase. The first setImmediate may run in
    // this turn's check phase, before any poll; the second runs after one.
    signalsHeard: () => immediate().then(immediate),
    exitNow: (code) => process.exit(code),
    say: (line) => void context.io.stderr.write(`${line}\n`),
    leftovers: () => smokeLeftoversIn(context.dirs.state, smokeNotesKey(settings)),
    checkJunit: async (path) => {
      const [{ checkJunitPath }, { databaseFiles, refuseProtected }] = await Promise.all([
        import('../../adapters/files/junit.js'),
        import('../../adapters/files/fs-errors.js'),
      ]);
      // The report is never written over the database the smoke test checks.
      if (settings.mode === 'local' && settings.db !== undefined)
        refuseProtected(resolve(context.io.cwd, path), '--junit', databaseFiles(resolve(context.io.cwd, settings.db)));
      checkJunitPath(path);
    },
  };
}
