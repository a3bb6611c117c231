import { extname } from 'node:path';
import { Command, Option } from 'commander';
import { ExitCode, UsageError } from '../../core/errors.js';
import type { DfspData } from '../../core/mapping.js';
import type { CommandContext, GlobalOptions } from '../context.js';
import type { Io } from '../io.js';

/** `sparctl dfsp list | import`: banks, branches and wallet providers. */
export function dfspCommand(io: Io, setExit: (code: number) => void): Command {
  const dfsp = new Command('dfsp').description('banks, branches and wallet providers: list them, or import them into the local mapper');
  dfsp
    .command('list')
    .description('list banks, branches and wallet providers (local mapper, or the profile\'s bene-portal dfspUrl)')
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
    .action(async (options: { type?: 'banks' | 'branches' | 'wallets'; bank?: string; search?: string }, cmd: Command) => {
      const globals = cmd.optsWithGlobals<GlobalOptions>();
      const { loadContext } = await import('../context.js');
      const context = await loadContext(io, globals);
      const { announceTarget, localMapperFile } = await import('../context.js');
      announceTarget(context);
      if (context.resolved.settings.mode === 'local') localMapperFile(context, 'read');
      const { loadDfsp } = await import('../dfsp-data.js');
      const data = await loadDfsp(context, { required: true });
      const rows = dfspRows(data!, options);
      await printRows(io, context, rows);
      setExit(ExitCode.ok);
    });
  dfsp
    .command('import')
    .description('load banks, branches and wallet providers from a CSV (or JSON) file into the local mapper')
    .argument('<file>', 'CSV with columns type,code,name,bank_code (type: BANK, BRANCH, MOBILE_WALLET, EMAIL_WALLET), or JSON as for --dfsp')
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
      const globals = cmd.optsWithGlobals<GlobalOptions>();
      const { loadContext } = await import('../context.js');
      const context = await loadContext(io, globals);
      const { settings } = context.resolved;
      if (settings.mode !== 'local') {
        throw new UsageError('dfsp.remote_import', 'dfsp import writes to the local mapper; SPAR has no API to write DFSP data', {
          hint: 'load it in SPAR with its own migrations or SQL; here, use --db or a local profile',
        });
      }
      const { DfspStore } = await import('../../adapters/sqlite/dfsp-store.js');
      const { announceTarget, localMapperFile, targetDocument } = await import('../context.js');
      const { summaryFormat, renderSummary, defaultFormat } = await import('../output.js');
      const format = summaryFormat('dfsp import', defaultFormat(io, settings.output));
      announceTarget(context);
      const dryRun = options.dryRun === true;
      localMapperFile(context, dryRun ? 'dry-run' : 'write');
      const store = DfspStore.open(settings.db!, { readOnly: dryRun });
      try {
        const data = await readDfspFile(io, file, store.read());
        const counts = store.import(data, { dryRun });
        const total = data.banks.length + data.branches.length + data.wallet_providers.length;
        if (!globals.quiet) {
          const would = dryRun ? 'would be ' : '';
          io.stderr.write(
            `${file}: ${total} entries (${data.banks.length} banks, ${data.branches.length} branches, ${data.wallet_providers.length} wallet providers): ${counts.added} ${would}added, ${counts.renamed} ${would}renamed, ${counts.unchanged} unchanged · local ${settings.db}\n`,
          );
          if (dryRun) io.stderr.write('dry run: nothing was written\n');
        }
        renderSummary(io, format, {
          command: 'dfsp import',
          target: targetDocument(context),
          file,
          dryRun,
          entries: { banks: data.banks.length, branches: data.branches.length, wallet_providers: data.wallet_providers.length },
          ...counts,
        });
      } finally {
        store.close();
      }
      setExit(ExitCode.ok);
    });
  return dfsp;
}

async function readDfspFile(io: Io, file: string, known: DfspData): Promise<DfspData> {
  const { readText, parseJson } = await import('../files.js');
  if (extname(file).toLowerCase() === '.json') {
    const { parseDfspData, dfspLookupOf } = await import('../../core/mapping.js');
    const data = parseDfspData(parseJson(await readText(file, 'dfsp import'), file), file);
    // Branches may name banks already imported.
    dfspLookupOf({ ...data, banks: [...known.banks.filter((bank) => !data.banks.some((b) => b.code === bank.code)), ...data.banks] }, file);
    return data;
  }
  const { openInputFile } = await import('../../adapters/input/record-file.js');
  const { dfspFromRows, DFSP_CSV_COLUMNS } = await import('../../core/dfsp.js');
  const input = await openInputFile(file, { format: 'csv', stdin: io.stdin, knownColumns: DFSP_CSV_COLUMNS });
  const rows: { line: number; record: Record<string, unknown> }[] = [];
  for await (const record of input.records) rows.push(record);
  return dfspFromRows(rows, file, known);
}

interface DfspRow {
  readonly type: 'bank' | 'branch' | 'mobile wallet' | 'e-mail wallet';
  readonly code: string;
  readonly name: string;
  readonly bank_code?: string;
}

function dfspRows(data: DfspData, options: { type?: 'banks' | 'branches' | 'wallets'; bank?: string; search?: string }): DfspRow[] {
  const rows: DfspRow[] = [];
  if (options.type === undefined || options.type === 'banks') for (const bank of data.banks) if (options.bank === undefined) rows.push({ type: 'bank', code: bank.code, name: bank.name });
  if (options.type === undefined || options.type === 'branches') {
    for (const branch of data.branches) if (options.bank === undefined || branch.bank_code === options.bank) rows.push({ type: 'branch', code: branch.code, name: branch.name, bank_code: branch.bank_code });
  }
  if ((options.type === undefined || options.type === 'wallets') && options.bank === undefined) {
    for (const wallet of data.wallet_providers) rows.push({ type: wallet.wallet_type === 'MOBILE_WALLET' ? 'mobile wallet' : 'e-mail wallet', code: wallet.code, name: wallet.name });
  }
  const search = options.search?.toLowerCase();
  return search === undefined ? rows : rows.filter((row) => row.code.toLowerCase().includes(search) || row.name.toLowerCase().includes(search));
}

async function printRows(io: Io, context: CommandContext, rows: readonly DfspRow[]): Promise<void> {
  const [{ renderList, defaultFormat }, { targetDocument }] = await Promise.all([import('../output.js'), import('../context.js')]);
  await renderList(io, defaultFormat(io, context.resolved.settings.output), {
    name: 'dfsp',
    columns: [{ key: 'type', fit: 'fixed' }, { key: 'code' }, { key: 'name' }, { key: 'bank_code' }],
    rows,
    fields: { target: targetDocument(context) },
    empty: 'no banks, branches or wallet providers (load some with "sparctl dfsp import FILE")',
  });
}
