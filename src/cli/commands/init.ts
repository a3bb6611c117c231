import { Command } from 'commander';
import { ExitCode } from '../../core/errors.js';
import { loadContext, targetDocument, type GlobalOptions } from '../context.js';
import { initDeps } from '../compose/init.js';
import { defaultFormat, type Io } from '../io.js';

/**
 * `sparctl init`: makes an empty local mapper on purpose (app/init.ts): parse, call, render the summary.
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
      const context = await loadContext(io, { ...cmd.optsWithGlobals<GlobalOptions>(), create: true });
      const { initMapper } = await import('../../app/init.js');
      const { renderSummary, summaryFormat } = await import('../output.js');
      const format = () => summaryFormat('init', defaultFormat(io, context.resolved.settings.output));
      const { created } = await initMapper(initDeps(context, () => void format()));
      renderSummary(io, format(), { command: 'init', target: targetDocument(context), created });
      setExit(ExitCode.ok);
    });
}
