import { mkdir, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { Command } from 'commander';
import { ConfigError, ExitCode } from '../../core/errors.js';
import { configPathOf, loadContext, type GlobalOptions } from '../context.js';
import { sparctlDirs } from '../../config/paths.js';
import type { Io } from '../io.js';
import { readFile } from 'node:fs/promises';
import { jsonDocument } from '../document.js';

/** A table with -o table, or at a terminal by default; plain lines into a pipe. */
function asTable(io: Io, format: string | undefined): boolean {
  return format === 'table' || (format === undefined && io.stdoutIsTTY);
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
      const { redactedSettings, redactUrl } = await import('../../config/settings.js');
      const { targetLine } = await import('../context.js');
      const shown = redactedSettings(context.resolved.settings);
      const sources = context.resolved.sources as Record<string, string | undefined>;
      const { target, unused } = context.resolved;
      const unusedLine = unused.length ? `profile ${context.resolved.settings.profile}'s ${unused.join(', ')} not used: ${target.source} names the target` : undefined;
      const header = `config file: ${context.configPath}\ntarget: ${targetLine(context)}\n  named by the first of: --db/--url, SPARCTL_DB/SPARCTL_BASE_URL, the profile\n${unusedLine ? `  ${unusedLine}\n` : ''}`;
      const format = globals.output ?? context.resolved.settings.output;
      if (format === 'json') {
        const targetDoc = { mode: target.mode, location: target.mode === 'remote' ? redactUrl(target.location) : target.location, source: target.source };
        io.stdout.write(jsonDocument({ configFile: context.configPath, target: targetDoc, unusedProfileSettings: unused, settings: shown, sources }));
      } else if (asTable(io, format)) {
        const { renderTable } = await import('../table.js');
        const { printable } = await import('../output.js');
        // The config file is named above the table: "profile local", not the path again.
        const from = (key: string) => (sources[key] ?? 'default').replace(` (${context.configPath})`, '');
        const rows = Object.entries(shown).map(([key, value]) => [key, printable(typeof value === 'string' ? value : JSON.stringify(value)), printable(from(key))]);
        io.stdout.write(`${header}${renderTable(io, [{ header: 'setting', fit: 'fixed' }, { header: 'value' }, { header: 'from' }], rows)}\n`);
      } else {
        io.stdout.write(header);
        const width = Math.max(...Object.keys(shown).map((k) => k.length));
        for (const [key, value] of Object.entries(shown)) {
          const text = typeof value === 'string' ? value : JSON.stringify(value);
          io.stdout.write(`${key.padEnd(width)}  ${text}${sources[key] ? `  (${sources[key]})` : '  (default)'}\n`);
        }
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
      if (globals.output === 'json') io.stdout.write(jsonDocument({ configFile: path, profiles: rows }));
      else if (rows.length === 0) io.stderr.write(`no profiles in ${path}; commands use the built-in local mapper (create one with "sparctl config init")\n`);
      else if (asTable(io, globals.output)) {
        const { renderTable } = await import('../table.js');
        const { printable } = await import('../output.js');
        const cells = rows.map((row) => [printable(row.name), row.mode, row.default ? 'yes' : '']);
        io.stdout.write(`${renderTable(io, [{ header: 'profile' }, { header: 'mode', fit: 'fixed' }, { header: 'default', fit: 'fixed' }], cells)}\n`);
      } else for (const row of rows) io.stdout.write(`${row.default ? '*' : ' '} ${row.name}\t${row.mode}\n`);
      setExit(ExitCode.ok);
    });

  config
    .command('path')
    .description('print where sparctl keeps its config, data, state and cache')
    .addHelpText('after', '\nExample:\n  $ sparctl config path')
    .action(() => {
      const dirs = sparctlDirs(io.env, io.home);
      io.stdout.write(`config\t${configPathOf(io, dirs)}\ndata\t${dirs.data}\nstate\t${dirs.state}\ncache\t${dirs.cache}\n`);
      setExit(ExitCode.ok);
    });

  config
    .command('init')
    .description('write a starter config file with a local profile and a commented remote example')
    .option('--force', 'overwrite an existing config file')
    .addHelpText('after', '\nExample:\n  $ sparctl config init && sparctl config profiles')
    .action(async (options: { force?: boolean }) => {
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
      io.stderr.write(`wrote ${path} (profiles: local [default], staging [edit its baseUrl and key before use])\n`);
      setExit(ExitCode.ok);
    });
  return config;
}
