import { Command, Option } from 'commander';
import type { DfspDeps, DfspFilter } from '../../app/dfsp.js';
import { ExitCode } from '../../core/errors.js';
import { loadContext, targetDocument, type GlobalOptions } from '../context.js';
import { dfspDeps } from '../compose/dfsp.js';
import { IMPORT_HELP, LIST_HELP, REMOVE_HELP } from '../help/dfsp.js';
import type { Io } from '../io.js';

/** `sparctl dfsp list | import | remove`: banks, branches and wallet providers (app/dfsp.ts). */
export function dfspCommand(io: Io, setExit: (code: number) => void): Command {
  /** A use case whose result is one summary: -o csv refused before it does anything, the summary rendered after. */
  const summarised = async (cmd: Command, name: string, run: (deps: DfspDeps) => Promise<object>) => {
    const context = await loadContext(io, cmd.optsWithGlobals<GlobalOptions>());
    const { summaryFormat, renderSummary, defaultFormat } = await import('../output.js');
    const format = () => summaryFormat(name, defaultFormat(io, context.resolved.settings.output));
    const result = await run(dfspDeps(context, () => void format()));
    renderSummary(io, format(), { command: name, target: targetDocument(context), ...result });
    setExit(ExitCode.ok);
  };
  const dfsp = new Command('dfsp').description(
    'banks, branches and wallet providers: list them, import them into the local mapper, or remove one',
  );
  dfsp
    .command('list')
    .description("list banks, branches and wallet providers (local mapper, or the profile's bene-portal dfspUrl)")
    .addOption(new Option('--type <type>', 'only this kind').choices(['banks', 'branches', 'wallets']))
    .option('--bank <code>', 'only the branches of this bank')
    .option('--search <text>', 'only entries whose code or name contains this (case ignored)')
    .addHelpText('after', LIST_HELP)
    .action(async (options: DfspFilter, cmd: Command) => {
      const context = await loadContext(io, cmd.optsWithGlobals<GlobalOptions>());
      const { listDfsp } = await import('../../app/dfsp.js');
      const { rows } = await listDfsp(dfspDeps(context), options);
      const { renderList, defaultFormat } = await import('../output.js');
      await renderList(io, defaultFormat(io, context.resolved.settings.output), {
        name: 'dfsp',
        columns: [{ key: 'type', fit: 'fixed' }, { key: 'code' }, { key: 'name' }, { key: 'bank_code' }],
        rows,
        fields: { target: targetDocument(context) },
        empty: 'no banks, branches or wallet providers (load some with "sparctl dfsp import FILE")',
        readBack: true,
      });
      setExit(ExitCode.ok);
    });
  dfsp
    .command('import')
    .description('load banks, branches and wallet providers from a CSV (or JSON) file into the local mapper')
    .argument(
      '<file>',
      'CSV with columns type,code,name,bank_code (type: BANK, BRANCH, MOBILE_WALLET, EMAIL_WALLET), or JSON as for --dfsp',
    )
    .addHelpText('after', IMPORT_HELP)
    .option('--dry-run', 'check the file and say what would be added or renamed; write nothing')
    .action(async (file: string, options: { dryRun?: boolean }, cmd: Command) => {
      const { importDfsp } = await import('../../app/dfsp.js');
      await summarised(cmd, 'dfsp import', (deps) => importDfsp(deps, { file, dryRun: options.dryRun === true }));
    });
  dfsp
    .command('remove')
    .description("take a bank, branch or wallet provider out of the local mapper's list")
    .argument('<type>', 'BANK, BRANCH, MOBILE_WALLET or EMAIL_WALLET')
    .argument('<code>', 'its code, as dfsp list shows it')
    .option('--bank <code>', 'the bank of a BRANCH')
    .option('--with-branches', "a BANK's branches go with it (without: refused while it has any)")
    .option('--dry-run', 'say what would be removed; write nothing')
    .addHelpText('after', REMOVE_HELP)
    .action(async (type: string, code: string, options: { bank?: string; withBranches?: boolean; dryRun?: boolean }, cmd: Command) => {
      const { removeDfsp } = await import('../../app/dfsp.js');
      await summarised(cmd, 'dfsp remove', (deps) =>
        removeDfsp(deps, {
          type,
          code,
          ...(options.bank !== undefined ? { bank: options.bank } : {}),
          withBranches: options.withBranches === true,
          dryRun: options.dryRun === true,
        }),
      );
    });
  return dfsp;
}
