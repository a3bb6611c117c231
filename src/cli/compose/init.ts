import type { InitDeps } from '../../app/init.js';
import { announceTarget, localMapperFile, type CommandContext } from '../context.js';

/** What the init use case needs, from this command's settings (loaded with --create): the composition of app/init.ts. */
export function initDeps(context: CommandContext, checkOutputFormat: () => void): InitDeps {
  return {
    remote: context.resolved.settings.mode !== 'local',
    targetSource: context.resolved.target.source,
    checkOutputFormat,
    announceTarget: () => announceTarget(context),
    mapperFile: () => localMapperFile(context, 'write'),
    openAndClose: async (path) => {
      const { LocalMapper } = await import('../../adapters/sqlite/local-mapper.js');
      const mapper = LocalMapper.open(path);
      await mapper.close();
      return mapper.made;
    },
    note: (line) => {
      if (!context.globals.quiet) context.io.stderr.write(`${line}\n`);
    },
  };
}
