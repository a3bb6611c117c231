import { readFile } from 'node:fs/promises';
import { UsageError } from '../../core/errors.js';
import { resolve } from 'node:path';
import type { StrategyDeps } from '../../app/strategy.js';
import { announceTarget, loadContext, openMapper, type CommandContext, type GlobalOptions } from '../context.js';
import type { Command } from 'commander';
import { defaultFormat, type Io } from '../io.js';

/**
 * What the strategy use cases need: the composition of app/strategy.ts. The settings are read
 * only when a use case asks for the target: a definition from --file or flags needs none.
 */
export async function strategyDeps(
  io: Io,
  globals: GlobalOptions,
): Promise<{ deps: StrategyDeps; context: () => Promise<CommandContext> }> {
  const { printable } = await import('../output.js');
  let loading: Promise<CommandContext> | undefined;
  /** The command's context, loaded once, when first needed (by a use case, or for the output format). */
  const context = () => (loading ??= loadContext(io, globals));
  const deps: StrategyDeps = {
    readFile: async (file) => {
      // Against the command's cwd (the process's, for the binary) as every other path is.
      const { strictUtf8 } = await import('../files.js');
      if (file !== '-') return strictUtf8(await readFile(resolve(io.cwd, file)), file);
      const chunks: Buffer[] = [];
      for await (const chunk of io.stdin) chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer));
      return strictUtf8(Buffer.concat(chunks), 'stdin');
    },
    isRemote: async () => (await context()).resolved.settings.mode === 'remote',
    openMapper: async () => {
      const loaded = await context();
      if (loaded.resolved.settings.mode === 'local') return openMapper(loaded, 'read');
      announceTarget(loaded);
      const { HttpMapper } = await import('../../adapters/http/http-mapper.js');
      return HttpMapper.strategySource(loaded.resolved.settings);
    },
    announceTarget: async () => announceTarget(await context()),
    addToMapper: async (rows, dryRun) => {
      const mapper = (await openMapper(
        await context(),
        dryRun ? 'dry-run' : 'write',
      )) as import('../../adapters/sqlite/local-mapper.js').LocalMapper;
      try {
        return { target: mapper.target, results: mapper.addStrategies(rows, { dryRun }) };
      } finally {
        await mapper.close();
      }
    },
    addToProfile: async (rows, dryRun) => {
      const { resolved } = await context();
      const { settings } = resolved;
      const { addToStrategiesFile } = await import('../../adapters/files/strategies-file.js');
      const { combineDeclared } = await import('../../core/strategy/declared.js');
      const { targetWhere } = await import('../context.js');
      // A mapper named by --url or SPARCTL_BASE_URL takes no profile's file (a profile names its own
      // mapper): saying the default profile had none sent the user to edit a profile that had one.
      if (!resolved.target.source.startsWith('profile ')) {
        throw new UsageError(
          'strategy.no_file',
          `the mapper is named by ${resolved.target.source}, not by a profile, so there is no strategiesFile to add strategies to; nothing was added`,
          {
            hint: 'name the mapper with a profile that has "strategiesFile" (--profile NAME), or apply the strategy to the deployment yourself: sparctl strategy export --format sql (or helm) --id N',
          },
        );
      }
      if (settings.strategiesFile === undefined) {
        throw new UsageError(
          'strategy.no_file',
          `profile "${settings.profile}" has no strategiesFile to add strategies to; nothing was added`,
          {
            hint: 'add "strategiesFile": "strategies.json" to the profile (relative to the config file; sparctl never edits the config file), or declare them inline under "strategies"',
          },
        );
      }
      // Read, planned and written under the file's lock: two adds at once never lose one.
      const { results, added, known, created } = await addToStrategiesFile(settings, settings.strategiesFile, rows, dryRun);
      return {
        target: targetWhere(await context()),
        results,
        file: settings.strategiesFile,
        created,
        known: combineDeclared([
          { source: 'known', rows: known },
          { source: 'added', rows: added },
        ]),
      };
    },
    say: (line) => io.stderr.write(`${printable(line)}\n`),
    note: (line) => {
      if (!globals.quiet) io.stderr.write(`${printable(line)}\n`);
    },
  };
  return { deps, context };
}

/** What each strategy subcommand starts from: its flags, the use cases, their renderer, the deps, the output format. */
export async function strategyCommandParts(io: Io, cmd: Command) {
  const globals = cmd.optsWithGlobals<GlobalOptions>();
  const [app, render, composed] = await Promise.all([
    import('../../app/strategy.js'),
    import('../strategy-render.js'),
    strategyDeps(io, globals),
  ]);
  return {
    globals,
    app,
    render,
    ...composed,
    format: async () => defaultFormat(io, (await composed.context()).resolved.settings.output),
  };
}
