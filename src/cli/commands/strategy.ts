import { Command, Option } from 'commander';
import type { Definition } from '../../app/strategy.js';
import { outputFormatNamed } from '../../config/constants.js';
import { ExitCode } from '../../core/errors.js';
import type { GlobalOptions } from '../context.js';
import { strategyCommandParts } from '../compose/strategy.js';
import { ADD_HELP, EXPORT_HELP, LIST_HELP, STRATEGY_HELP, VALIDATE_HELP } from '../help/strategy.js';
import { defaultFormat, type Io } from '../io.js';
import { definitionOptions } from '../strategy-options.js';

/** `sparctl strategy list | validate | add | export`: parse, call one use case of app/strategy.ts, render (cli/strategy-render.ts). */
export function strategyCommand(io: Io, setExit: (code: number) => void): Command {
  const strategy = new Command('strategy')
    .description('list, validate, add and export strategies (how SPAR builds an FA string and reads it back)')
    .addHelpText('after', STRATEGY_HELP);
  const load = (cmd: Command) => strategyCommandParts(io, cmd);

  strategy
    .command('list')
    .description('list the strategies of the local mapper, or the ones a remote profile knows (built-in and declared)')
    .addHelpText('after', LIST_HELP)
    .action(async (_options: unknown, cmd: Command) => {
      const { app, render, deps, format } = await load(cmd);
      const { rows, target } = await app.listStrategies(deps);
      await render.renderStrategyRows(io, await format(), rows, target);
      setExit(ExitCode.ok);
    });

  definitionOptions(
    strategy
      .command('validate')
      .description('check that a strategy builds FAs SPAR reads back exactly (exit 0 only when it is safe)')
      .argument('[ids...]', 'validate these strategies of the profile instead (default: all of them)')
      .option('--strict', 'fail on warnings too'),
  )
    .addHelpText('after', VALIDATE_HELP)
    .action(async (ids: string[], options: Definition & { strict?: boolean }, cmd: Command) => {
      const { globals, app, render, deps } = await load(cmd);
      const { reports, unsafe } = await app.validateStrategies(deps, { ids, definition: options, strict: options.strict === true });
      // The profile's output format is not read: with a definition, no settings are.
      const format = defaultFormat(io, globals.output ?? outputFormatNamed(io.env['SPARCTL_OUTPUT']));
      await render.renderStrategyReports(io, format, reports, globals.verbose === true);
      if (unsafe !== undefined) io.stderr.write(`sparctl: error [strategy.unsafe]: ${unsafe}\n`);
      setExit(unsafe !== undefined ? ExitCode.usage : ExitCode.ok);
    });

  definitionOptions(
    strategy
      .command('add')
      .description(
        "validate strategies and append them under their ids to the local mapper, or to a remote profile's strategiesFile (never changes an existing id)",
      )
      .option('--strict', 'refuse strategies with warnings too')
      .option('--dry-run', 'validate and say what would be added; write nothing'),
  )
    .addHelpText('after', ADD_HELP)
    .action(async (options: Definition & { strict?: boolean; dryRun?: boolean }, cmd: Command) => {
      const { globals, app, render, deps, format } = await load(cmd);
      const added = await app.addStrategies(deps, {
        definition: options,
        strict: options.strict === true,
        dryRun: options.dryRun === true,
      });
      await render.renderStrategiesAdded(io, await format(), added);
      if (!globals.quiet) io.stderr.write(`${render.strategiesAddedLine(added)}\n${added.dryRun ? 'dry run: nothing was written\n' : ''}`);
      setExit(ExitCode.ok);
    });

  definitionOptions(
    strategy
      .command('export')
      .description('print strategies as Helm seedData values, idempotent SQL, or JSON, to apply to a SPAR deployment')
      .addOption(
        new Option(
          '--format <format>',
          'helm: seedData.strategies for the chart; sql: INSERT ... ON CONFLICT (id) DO NOTHING; json: a list',
        )
          .choices(['helm', 'sql', 'json'])
          .makeOptionMandatory(),
      )
      .argument('[ids...]', "only these strategies of the profile (default: all, SPAR's defaults included)"),
  )
    .addHelpText('after', EXPORT_HELP)
    .action(async (ids: string[], options: Definition & { format: 'helm' | 'sql' | 'json' }, cmd: Command) => {
      const { refuseOutputFlag } = await import('../output.js');
      refuseOutputFlag(
        'strategy export',
        cmd.optsWithGlobals<GlobalOptions>().output,
        'its --format (helm, sql, json) says what it writes',
      );
      const { app, deps } = await load(cmd);
      io.stdout.write(await app.exportStrategyText(deps, { ids, definition: options, format: options.format }));
      setExit(ExitCode.ok);
    });

  return strategy;
}
