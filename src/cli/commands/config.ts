import { mkdir, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { Command } from 'commander';
import { ConfigError, ExitCode } from '../../core/errors.js';
import { configPathOf, loadContext, type GlobalOptions } from '../context.js';
import { sparctlDirs } from '../../config/paths.js';
import { defaultFormat, type Io } from '../io.js';
import { readFile } from 'node:fs/promises';
import { jsonDocument } from '../document.js';

import { outputFormatNamed, type OutputFormat } from '../../config/constants.js';

/** SPARCTL_OUTPUT, for the commands that do not read the config file's settings. */
function outputFromEnv(io: Io): OutputFormat | undefined {
  return outputFormatNamed(io.env['SPARCTL_OUTPUT']);
}

/** `sparctl config show | profiles | path | init`. */
export function configCommand(io: Io, setExit: (code: number) => void): Command {
  const config = new Command('config')
    .description('show and create the configuration (profiles, paths)')
    .addHelpText('after', '\nExamples:\n  $ sparctl config init\n  $ sparctl config show --profile staging\n  $ sparctl config path');

  config
    .command('show')
    .description('print the settings a command would use, and where each came from (secrets hidden)')
    .addHelpText('after', '\nExamples:\n  $ sparctl config show\n  $ sparctl config show --profile staging --output json')
    .action(async (_options: unknown, cmd: Command) => {
      const globals = cmd.optsWithGlobals<GlobalOptions>();
      const context = await loadContext(io, globals);
      const { redactedSettings } = await import('../../config/settings.js');
      const { targetDocument, targetLine, targetWhere } = await import('../context.js');
      const shown = redactedSettings(context.resolved.settings);
      const sources = context.resolved.sources as Record<string, string | undefined>;
      const { target, unused } = context.resolved;
      const unusedLine = unused.length ? `profile ${context.resolved.settings.profile}'s ${unused.join(', ')} not used: ${target.source} names the target` : undefined;
      const header = `config file: ${context.configPath}\ntarget: ${targetLine(context)}\n  named by the first of: --db/--url, SPARCTL_DB/SPARCTL_BASE_URL, the profile\n${unusedLine ? `  ${unusedLine}\n` : ''}`;
      const format = defaultFormat(io, context.resolved.settings.output);
      if (format === 'json') {
        io.stdout.write(jsonDocument({ configFile: context.configPath, target: targetDocument(context), unusedProfileSettings: unused, settings: shown, sources }));
      } else {
        // The config file is named above the table: "profile local", not the path again.
        const from = (key: string) => (format === 'table' ? (sources[key] ?? 'default').replace(` (${context.configPath})`, '') : (sources[key] ?? 'default'));
        const rows = Object.entries(shown).map(([setting, value]) => ({ setting, value: typeof value === 'string' ? value : JSON.stringify(value), from: from(setting) }));
        if (format === 'table') io.stdout.write(header);
        // A row of its own in JSONL and CSV, where there is no header to say it.
        else rows.unshift({ setting: 'target', value: targetWhere(context), from: target.source });
        const { renderList } = await import('../output.js');
        await renderList(io, format, { name: 'settings', columns: [{ key: 'setting', fit: 'fixed' }, { key: 'value' }, { key: 'from' }], rows });
      }
      setExit(ExitCode.ok);
    });

  config
    .command('profiles')
    .description('list the profiles in the config file')
    .addHelpText('after', '\nExample:\n  $ sparctl config profiles')
    .action(async (_options: unknown, cmd: Command) => {
      const globals = cmd.optsWithGlobals<GlobalOptions>();
      const path = configPathOf(io, sparctlDirs(io.env, io.home));
      const text = await readFile(path, 'utf8').catch(() => undefined);
      const { parseConfigFile } = await import('../../config/settings.js');
      const file = text === undefined ? { profiles: {}, defaultProfile: undefined } : parseConfigFile(path, text);
      const rows = Object.entries(file.profiles).map(([name, profile]) => ({
        name,
        mode: profile.mode ?? (profile.baseUrl ? 'remote' : 'local'),
        default: name === file.defaultProfile,
      }));
      const { renderList } = await import('../output.js');
      await renderList(io, defaultFormat(io, globals.output ?? outputFromEnv(io)), {
        name: 'profiles',
        columns: [{ key: 'name', header: 'profile' }, { key: 'mode', fit: 'fixed' }, { key: 'default', fit: 'fixed' }],
        rows: rows.map((row) => (globals.output === 'table' || (globals.output === undefined && io.stdoutIsTTY) ? { ...row, default: row.default ? 'yes' : '' } : row)),
        fields: { configFile: path },
        empty: `no profiles in ${path}; commands use the built-in local mapper (create one with "sparctl config init")`,
      });
      setExit(ExitCode.ok);
    });

  config
    .command('path')
    .description('print where sparctl keeps its config, data, state and cache')
    .addHelpText('after', '\nExample:\n  $ sparctl config path')
    .action(async (_options: unknown, cmd: Command) => {
      const globals = cmd.optsWithGlobals<GlobalOptions>();
      const dirs = sparctlDirs(io.env, io.home);
      const format = defaultFormat(io, globals.output ?? outputFromEnv(io));
      const paths = { config: configPathOf(io, dirs), data: dirs.data, state: dirs.state, cache: dirs.cache };
      if (format === 'json') io.stdout.write(jsonDocument({ paths }));
      else if (format === 'table') {
        // Tab-separated, no header: `sparctl config path | grep data | cut -f2` at a terminal too.
        for (const [name, path] of Object.entries(paths)) io.stdout.write(`${name}\t${path}\n`);
      } else {
        const { renderList } = await import('../output.js');
        await renderList(io, format, { name: 'paths', columns: [{ key: 'name' }, { key: 'path' }], rows: Object.entries(paths).map(([name, path]) => ({ name, path })) });
      }
      setExit(ExitCode.ok);
    });

  config
    .command('init')
    .description('write a starter config file with a local profile and a commented remote example')
    .option('--force', 'overwrite an existing config file')
    .addHelpText('after', '\nExample:\n  $ sparctl config init && sparctl config profiles')
    .action(async (options: { force?: boolean }, cmd: Command) => {
      const globals = cmd.optsWithGlobals<GlobalOptions>();
      const { summaryFormat, renderSummary } = await import('../output.js');
      const format = summaryFormat('config init', defaultFormat(io, globals.output ?? outputFromEnv(io)));
      const path = configPathOf(io, sparctlDirs(io.env, io.home));
      const starter = {
        defaultProfile: 'local',
        profiles: {
          local: { mode: 'local' },
          staging: {
            mode: 'remote',
            protocol: 'spar-v2',
            baseUrl: 'https://spar.example.org/api/mapper',
            senderAppMnemonic: 'sparctl',
            signingKeyFile: '/path/to/partner-key.pem',
          },
        },
      };
      await mkdir(dirname(path), { recursive: true, mode: 0o700 });
      try {
        await writeFile(path, `${JSON.stringify(starter, null, 2)}\n`, { mode: 0o600, flag: options.force ? 'w' : 'wx' });
      } catch (error) {
        if ((error as { code?: string }).code === 'EEXIST') {
          throw new ConfigError('config.exists', `${path} already exists; nothing was changed`, { hint: 'edit it, or pass --force to replace it' });
        }
        throw error;
      }
      if (!globals.quiet) io.stderr.write(`wrote ${path} (profiles: local [default], staging [edit its baseUrl and key before use])\n`);
      renderSummary(io, format, { command: 'config init', configFile: path, profiles: Object.keys(starter.profiles), defaultProfile: starter.defaultProfile });
      setExit(ExitCode.ok);
    });
  return config;
}
