import { Command } from 'commander';
import { outputFormatNamed, type OutputFormat } from '../../config/constants.js';
import { ExitCode } from '../../core/errors.js';
import { loadContext, type GlobalOptions } from '../context.js';
import { configDeps } from '../compose/config.js';
import { defaultFormat, type Io } from '../io.js';

/** SPARCTL_OUTPUT, for the commands that do not read the config file's settings. */
function outputFromEnv(io: Io): OutputFormat | undefined {
  return outputFormatNamed(io.env['SPARCTL_OUTPUT']);
}

/** `sparctl config show | profiles | path | init`: parse, call a use case of app/config.ts, render (cli/config-render.ts). */
export function configCommand(io: Io, setExit: (code: number) => void): Command {
  const config = new Command('config')
    .description('show and create the configuration (profiles, paths)')
    .addHelpText('after', '\nExamples:\n  $ sparctl config init\n  $ sparctl config show --profile staging\n  $ sparctl config path');
  const load = async (cmd: Command, given: Parameters<typeof configDeps>[2] = {}) => {
    const globals = cmd.optsWithGlobals<GlobalOptions>();
    const [app, render] = await Promise.all([import('../../app/config.js'), import('../config-render.js')]);
    return { globals, app, render, deps: configDeps(io, globals, given) };
  };

  config
    .command('show')
    .description('print the settings a command would use, and where each came from (secrets hidden)')
    .addHelpText('after', '\nExamples:\n  $ sparctl config show\n  $ sparctl config show --profile staging --output json')
    .action(async (_options: unknown, cmd: Command) => {
      const context = await loadContext(io, cmd.optsWithGlobals<GlobalOptions>());
      const { app, render, deps } = await load(cmd, { context });
      await render.renderConfigShown(io, defaultFormat(io, context.resolved.settings.output), await app.showConfig(deps));
      setExit(ExitCode.ok);
    });

  config
    .command('profiles')
    .description('list the profiles in the config file')
    .addHelpText('after', '\nExample:\n  $ sparctl config profiles')
    .action(async (_options: unknown, cmd: Command) => {
      const { app, render, deps, globals } = await load(cmd);
      const { configFile, rows } = await app.listProfiles(deps);
      const terminalTable = globals.output === 'table' || (globals.output === undefined && io.stdoutIsTTY);
      await render.renderProfiles(io, defaultFormat(io, globals.output ?? outputFromEnv(io)), terminalTable, configFile, rows);
      setExit(ExitCode.ok);
    });

  config
    .command('path')
    .description('print where sparctl keeps its config, data, state and cache')
    .addHelpText('after', '\nExample:\n  $ sparctl config path')
    .action(async (_options: unknown, cmd: Command) => {
      const { app, render, deps, globals } = await load(cmd);
      await render.renderPaths(io, defaultFormat(io, globals.output ?? outputFromEnv(io)), app.configPaths(deps));
      setExit(ExitCode.ok);
    });

  config
    .command('init')
    .description('write a starter config file with a local profile and a commented remote example')
    .option('--force', 'overwrite an existing config file')
    .addHelpText('after', '\nExample:\n  $ sparctl config init && sparctl config profiles')
    .action(async (options: { force?: boolean }, cmd: Command) => {
      const { summaryFormat, renderSummary } = await import('../output.js');
      const globals = cmd.optsWithGlobals<GlobalOptions>();
      const format = () => summaryFormat('config init', defaultFormat(io, globals.output ?? outputFromEnv(io)));
      const { app, deps } = await load(cmd, { checkOutputFormat: () => void format() });
      const written = await app.initConfig(deps, { force: options.force === true });
      renderSummary(io, format(), { command: 'config init', ...written });
      setExit(ExitCode.ok);
    });
  return config;
}
