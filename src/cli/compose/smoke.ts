import { randomBytes } from 'node:crypto';
import { resolve } from 'node:path';
import type { SmokeDeps } from '../../app/smoke.js';
import { redactUrl } from '../../config/redact.js';
import { openMapper, type CommandContext } from '../context.js';
import { onStopSignals } from '../io.js';
import { shellWord } from '../shell-word.js';

/** What the smoke use case needs, from this command's settings: the composition of app/smoke.ts. */
export function smokeDeps(context: CommandContext): SmokeDeps {
  const { settings } = context.resolved;
  return {
    openMapper: () => openMapper(context, 'write'),
    now: () => new Date(),
    randomHex: () => randomBytes(4).toString('hex'),
    clock: () => performance.now(),
    ...(settings.mode === 'remote' ? { requestTimeoutMs: settings.timeoutMs } : {}),
    targetArgs: targetArgs(context),
    writeJunit: async (path, report, startedAt) => {
      const { smokeJunitXml, writeJunitFile } = await import('../../adapters/files/junit.js');
      await writeJunitFile(path, smokeJunitXml(report, startedAt));
    },
    onSignal: onStopSignals,
    exitNow: (code) => process.exit(code),
    say: (line) => void context.io.stderr.write(`${line}\n`),
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

/**
 * The flags that name this run's mapper again ("--url URL ", "--profile NAME "), so the cleanup
 * hint acts on the mapper the smoke test wrote to; an environment target needs the same environment.
 */
function targetArgs(context: CommandContext): string {
  const { target, settings } = context.resolved;
  if (target.source === 'flag --url') return `--url ${shellWord(redactUrl(target.location))} `;
  if (target.source === 'flag --db') return `--db ${shellWord(target.location)} `;
  if (target.source.startsWith('profile ') && context.globals.profile !== undefined)
    return `--profile ${shellWord(settings.profile ?? context.globals.profile)} `;
  return '';
}
