import { Command, Option } from 'commander';
import type { DfspFilter } from '../../app/dfsp.js';
import { ExitCode } from '../../core/errors.js';
import { loadContext, targetDocument, type GlobalOptions } from '../context.js';
import { dfspDeps } from '../compose/dfsp.js';
import type { Io } from '../io.js';

/** `sparctl dfsp list | import`: banks, branches and wallet providers (app/dfsp.ts). */
export function dfspCommand(io: Io, setExit: (code: number) => void): Command {
  const dfsp = new Command('dfsp').description('banks, branches and wallet providers: list them, or import them into the local mapper');
  dfsp
    .command('list')
    .description("list banks, branches and wallet providers (local mapper, or the profile's bene-portal dfspUrl)")
    .addOption(new Option('--type <type>', 'only this kind').choices(['banks', 'branches', 'wallets']))
    .option('--bank <code>', 'only the branches of this bank')
    .option('--search <text>', 'only entries whose code or name contains this (case ignored)')
    .addHelpText(
      'after',
      `
Examples:
  $ sparctl dfsp list
  $ sparctl dfsp list --type branches --bank LBP
  $ sparctl --profile staging dfsp list --search pay -o json`,
    )
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
    .addHelpText(
      'after',
      `
The file is checked whole first: any bad row (its line and field named) means nothing is
imported. New codes are added, known ones renamed when the name changed. import-csv, import-odk
and fa edit then fill names from these codes when no --dfsp file is given.

  type,code,name,bank_code
  BANK,LBP,Land Bank of the Philippines,
  BRANCH,0012,Quezon City - Kamuning,LBP
  MOBILE_WALLET,GCASH,GCash,

Examples:
  $ sparctl dfsp import dfsp.csv
  $ sparctl --db field.db dfsp import fixtures/dfsp.json`,
    )
    .option('--dry-run', 'check the file and say what would be added or renamed; write nothing')
    .action(async (file: string, options: { dryRun?: boolean }, cmd: Command) => {
      const context = await loadContext(io, cmd.optsWithGlobals<GlobalOptions>());
      const { importDfsp } = await import('../../app/dfsp.js');
      const { summaryFormat, renderSummary, defaultFormat } = await import('../output.js');
      const format = () => summaryFormat('dfsp import', defaultFormat(io, context.resolved.settings.output));
      const result = await importDfsp(
        dfspDeps(context, () => void format()),
        { file, dryRun: options.dryRun === true },
      );
      renderSummary(io, format(), { command: 'dfsp import', target: targetDocument(context), ...result });
      setExit(ExitCode.ok);
    });
  return dfsp;
}
