import { Command } from 'commander';
import { ExitCode, UsageError } from '../../core/errors.js';
import { defaultFormat, type Io } from '../io.js';
import type { GlobalOptions } from '../context.js';

/**
 * `sparctl init`: makes an empty local mapper on purpose — the one way, besides a first write to
 * the default path or --create, that a database file comes to exist.
 */
export function initCommand(io: Io, setExit: (code: number) => void): Command {
  return new Command('init')
    .description('create an empty local mapper database (the default one, or at --db PATH)')
    .addHelpText(
      'after',
      `
Creates the database with sparctl's tables and the default strategies, readable by you only.
An existing sparctl mapper is left as it is; any other file is refused unchanged.

Examples:
  $ sparctl init
  $ sparctl --db /srv/spar-training.db init`,
    )
    .action(async (_options: unknown, cmd: Command) => {
      const globals = cmd.optsWithGlobals<GlobalOptions>();
      const { announceTarget, loadContext, localMapperFile, targetDocument } = await import('../context.js');
      const context = await loadContext(io, { ...globals, create: true });
      if (context.resolved.settings.mode !== 'local') {
        throw new UsageError('init.remote', `init creates a local mapper, but the target is remote (${context.resolved.target.source})`, {
          hint: 'give --db PATH, or use a local profile; a remote SPAR is set up by its own deployment',
        });
      }
      const { renderSummary, summaryFormat } = await import('../output.js');
      const format = summaryFormat('init', defaultFormat(io, context.resolved.settings.output));
      announceTarget(context);
      const file = localMapperFile(context, 'write');
      const { LocalMapper } = await import('../../adapters/sqlite/local-mapper.js');
      const mapper = LocalMapper.open(file.path);
      await mapper.close();
      const created = !file.exists;
      if (!globals.quiet) io.stderr.write(created ? `created an empty mapper at ${file.path}\n` : `${file.path} is already a sparctl mapper; nothing was changed\n`);
      renderSummary(io, format, { command: 'init', target: targetDocument(context), created });
      setExit(ExitCode.ok);
    });
}
