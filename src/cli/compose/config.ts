import { readFile, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { ConfigDeps } from '../../app/config.js';
import { sparctlDirs } from '../../config/paths.js';
import { configPathOf, loadContext, targetDocument, targetLine, targetWhere, type CommandContext, type GlobalOptions } from '../context.js';
import type { Io } from '../io.js';

/**
 * What the config use cases need: the composition of app/config.ts. Only `config show` reads the
 * settings; the others read no more than the environment (and profiles, the config file).
 */
export function configDeps(
  io: Io,
  globals: GlobalOptions,
  given: { readonly context?: CommandContext; readonly checkOutputFormat?: () => void } = {},
): ConfigDeps {
  const dirs = sparctlDirs(io.env, io.home);
  return {
    configPath: configPathOf(io, dirs),
    dirs,
    settingsView: async () => {
      const context = given.context ?? (await loadContext(io, globals));
      const { redactedSettings } = await import('../../config/settings.js');
      const { settings, sources, unused } = context.resolved;
      return {
        target: targetDocument(context),
        targetWhere: targetWhere(context),
        targetLine: targetLine(context),
        profile: settings.profile,
        settings: redactedSettings(settings),
        sources,
        unused,
      };
    },
    readConfigText: () => readFile(configPathOf(io, dirs), 'utf8').catch(() => undefined),
    parseConfigFile: async (path, text) => (await import('../../config/settings.js')).parseConfigFile(path, text),
    checkOutputFormat: given.checkOutputFormat ?? (() => undefined),
    writeConfigFile: async (path, text, replace) => {
      const { makeFolders, outputError } = await import('../../adapters/files/fs-errors.js');
      try {
        makeFolders(dirname(path));
      } catch (error) {
        throw outputError((error as { path?: string }).path ?? dirname(path), 'cannot create the folder', error);
      }
      try {
        await writeFile(path, text, { mode: 0o600, flag: replace ? 'w' : 'wx' });
      } catch (error) {
        // EEXIST is the use case's to say (config.exists).
        throw (error as { code?: string }).code === 'EEXIST' ? error : outputError(path, 'cannot write the config file', error);
      }
    },
    note: (line) => {
      if (!globals.quiet) io.stderr.write(`${line}\n`);
    },
  };
}
