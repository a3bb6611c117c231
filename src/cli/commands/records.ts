import { userInfo } from 'node:os';
import { Command, Option } from 'commander';
import type { InputRecord, RecordProblem } from '../../core/resolve.js';
import { ExitCode, SparctlError, UsageError } from '../../core/errors.js';
import { FA_TYPES, RECORD_FIELDS, RESOLVE_SCOPES, type ResolveScope } from '../../core/vocabulary.js';
import type { Operation } from '../../core/results.js';
import { loadContext, openMapper, type CommandContext, type GlobalOptions } from '../context.js';
import type { Io } from '../io.js';
import { positiveInt } from '../parse.js';
import type { BulkJobFlags } from '../bulk-job.js';
import { addBulkOptions } from '../bulk-options.js';
import { confirmUnlink } from '../confirm.js';

/** Flags of a single record, by the record field they fill. */
const FA_FLAGS = [
  ['--bank-name <name>', 'bank_name'],
  ['--bank-code <code>', 'bank_code'],
  ['--branch-name <name>', 'branch_name'],
  ['--branch-code <code>', 'branch_code'],
  ['--account-number <number>', 'account_number'],
  ['--wallet-provider-name <name>', 'wallet_provider_name'],
  ['--wallet-provider-code <code>', 'wallet_provider_code'],
  ['--mobile-number <number>', 'mobile_number'],
  ['--email-address <email>', 'email_address'],
] as const;

interface RecordOptions extends BulkJobFlags {
  file?: string;
  format?: 'csv' | 'jsonl';
  id?: string;
  strategy?: number;
  faType?: string;
  fa?: string;
  name?: string;
  phone?: string;
  scope?: ResolveScope;
  batchSize?: number;
  [flag: string]: unknown;
}

const DESCRIPTIONS: Record<Operation, string> = {
  link: 'link beneficiary IDs to financial addresses (one from flags, or many from --file)',
  update: "replace linked beneficiaries' financial addresses (one from flags, or many from --file)",
  resolve: 'look up the financial address linked to beneficiary IDs',
  unlink: 'remove the link between beneficiary IDs and their financial addresses',
};

const EXAMPLES: Record<Operation, string> = {
  link: `
Examples:
  $ sparctl link --id BENE_0001 --fa-type BANK --bank-name "Example Bank" --bank-code EXB \\
      --branch-name Main --branch-code 0001 --account-number 0012345678 --name "Maria Santos"
  $ sparctl link --id BENE_0002 --fa '{"fa_type":"MOBILE_WALLET","wallet_provider_name":"Pink Wallet","wallet_provider_code":"PINK","mobile_number":"+639000000002"}'
  $ sparctl link --file fixtures/beneficiaries.csv
  $ cat records.jsonl | sparctl link --file - --output json`,
  update: `
Examples:
  $ sparctl update --id BENE_0001 --fa-type BANK --bank-name "Example Bank" --bank-code EXB \\
      --branch-name North --branch-code 0002 --account-number 0098765432
  $ sparctl update --file corrections.csv --output csv > results.csv`,
  resolve: `
Examples:
  $ sparctl resolve --id BENE_0001
  $ sparctl resolve BENE_0001 BENE_0002 --scope yes_no --output json
  $ sparctl resolve --file fixtures/beneficiaries.csv --output csv > current.csv`,
  unlink: `
Examples:
  $ sparctl unlink --id BENE_0001 --yes
  $ sparctl unlink --file leavers.csv --yes --output jsonl`,
};

const COLUMNS_HELP = `
Input files: CSV with a header row, or JSONL (one object per line); "-" reads stdin.
Columns (CSV) or keys (JSONL): ${RECORD_FIELDS.join(', ')}.
Empty cells count as absent. strategy_id defaults to --strategy, else 2 (BANK), 4 (MOBILE_WALLET), 3 (EMAIL_WALLET).
phone_number is the beneficiary's contact phone; mobile_number is the payment wallet's number.`;

export function recordCommand(operation: Operation, io: Io, setExit: (code: number) => void): Command {
  const command = new Command(operation).description(DESCRIPTIONS[operation]);
  if (operation === 'resolve') command.argument('[ids...]', 'beneficiary IDs to look up (or use --id / --file)');
  command
    .option('--file <path>', 'read many records from a CSV or JSONL file ("-" = stdin)')
    .addOption(new Option('--format <format>', 'input file format (default: from the file extension)').choices(['csv', 'jsonl']))
    .option('--id <id>', 'the beneficiary ID (a string; leading zeros are kept)');
  if (operation === 'link' || operation === 'update') {
    command
      .option('--strategy <id>', 'FA strategy id (default: 2 bank, 4 mobile wallet, 3 e-mail wallet)', positiveInt('--strategy'))
      .addOption(new Option('--fa-type <type>', 'kind of financial address').choices(FA_TYPES));
    for (const [flag, field] of FA_FLAGS) command.option(flag, `FA field ${field}`);
    command
      .option('--fa <json>', 'the whole FA as JSON instead of the separate FA flags')
      .option('--name <name>', "beneficiary's name")
      .option('--phone <number>', "beneficiary's contact phone (not the payment mobile number)");
  }
  if (operation === 'resolve') {
    command.addOption(new Option('--scope <scope>', 'yes_no: only whether a link exists; details: the FA fields').choices(RESOLVE_SCOPES).default('details'));
  }
  if (operation !== 'resolve') addBulkOptions(command);
  command
    .option('--batch-size <n>', 'records per request to the mapper (default: 500 or the profile)', positiveInt('--batch-size'))
    .addHelpText('after', `${EXAMPLES[operation]}\n${operation === 'resolve' || operation === 'unlink' ? COLUMNS_HELP.replace('Columns', 'Only "id" is used; other known columns are ignored. Columns') : COLUMNS_HELP}`)
    .action(async (...args: unknown[]) => {
      const cmd = args[args.length - 1] as Command;
      const options = cmd.opts<RecordOptions>();
      const globals = cmd.optsWithGlobals<GlobalOptions>();
      const positional = operation === 'resolve' ? (args[0] as string[]) : [];
      setExit(await runRecords(operation, io, options, globals, positional));
    });
  return command;
}

async function runRecords(operation: Operation, io: Io, options: RecordOptions, globals: GlobalOptions, positional: string[]): Promise<number> {
  const singles = singleRecords(operation, options, positional);
  if (operation !== 'resolve' && options.file !== undefined && singles.length === 0) {
    return runFileJob(operation, io, options, globals);
  }
  if (options.file !== undefined && singles.length > 0) {
    throw new UsageError('usage.file_and_flags', `give records either with --file or with flags${operation === 'resolve' ? '/arguments' : ''}, not both`);
  }
  if (options.file === undefined && singles.length === 0) {
    throw new UsageError('usage.no_records', `nothing to ${operation}: give --id${operation === 'resolve' ? ', IDs as arguments,' : ''} or --file`, {
      hint: `see "sparctl ${operation} --help"`,
    });
  }
  if (operation !== 'resolve') return runSingle(operation, io, options, globals, singles);
  if (options.file === '-' && io.stdinIsTTY) {
    throw new UsageError('usage.stdin_is_tty', '--file - reads records from stdin, but stdin is a terminal', { hint: 'pipe a file in, or give its path' });
  }

  const context = await loadContext(io, globals);
  const { settings } = context.resolved;
  let records: AsyncIterable<InputRecord> | Iterable<InputRecord> = singles;
  let inputName: string | undefined;
  if (options.file !== undefined) {
    const { openInputFile, inputLabel } = await import('../../adapters/input/record-file.js');
    const file = await openInputFile(options.file, {
      ...(options.format ? { format: options.format } : {}),
      stdin: io.stdin,
      knownColumns: RECORD_FIELDS,
    });
    records = file.records;
    inputName = inputLabel(options.file);
  }

  const mapper = await openMapper(context, 'read');
  // Loaded here, not at start-up: `sparctl --help` should not pay for zod or cli-table3.
  const [{ applyItems, prepareItems, summarize }, { defaultFormat, renderResults, summaryLine }] = await Promise.all([import('../../core/resolve.js'), import('../output.js')]);
  try {
    const { items, problems } = await prepareItems(operation, records, {
      ...(options.scope ? { scope: options.scope } : {}),
      ...(inputName ? { inputLabel: inputName } : {}),
    });
    if (problems.length > 0) throw invalidInput(io, options.file, problems, items.length + problems.length, false);
    const batchSize = options.batchSize ?? settings.batchSize;
    const verbose = globals.verbose && !globals.quiet;
    if (verbose) {
      const via = viaTarget(context);
      io.stderr.write(`sparctl: ${operation} ${items.length} record(s) via ${via} (${mapper.target}), ${batchSize} per batch\n`);
    }
    const applied = await applyItems(mapper, operation, items, {
      batchSize,
      context: { source: auditSource(operation, options.file) },
      ...(verbose ? { onProgress: (done: number, total: number) => io.stderr.write(`sparctl: ${done}/${total} done\n`) } : {}),
    });
    const summary = summarize(operation, applied);
    renderResults(io, defaultFormat(io, settings.output), { operation, target: mapper.target, applied, summary });
    if (!globals.quiet) io.stderr.write(`${summaryLine(summary, mapper.target)}\n`);
    return summary.failed > 0 ? ExitCode.rejected : ExitCode.ok;
  } finally {
    await mapper.close();
  }
}

/** Flags that only make sense for a file of records: refused with one record rather than ignored. */
const FILE_ONLY_FLAGS = [
  ['journal', '--journal'],
  ['restart', '--restart'],
  ['rejects', '--rejects'],
  ['concurrency', '--concurrency'],
  ['batchSize', '--batch-size'],
] as const;

/**
 * link / update / unlink of one record given by flags: checked, then through the write pipeline
 * (so --dry-run, retries and the read-back after a lost answer work as for a file).
 */
async function runSingle(operation: 'link' | 'update' | 'unlink', io: Io, options: RecordOptions, globals: GlobalOptions, singles: readonly InputRecord[]): Promise<number> {
  for (const [key, flag] of FILE_ONLY_FLAGS) {
    if (options[key] !== undefined) throw new UsageError('usage.file_only_flag', `${flag} applies to --file runs only; nothing was ${operation === 'unlink' ? 'unlinked' : `${operation}ed`}`, { hint: `drop ${flag}, or give the records with --file` });
  }
  const context = await loadContext(io, globals);
  const { settings } = context.resolved;
  const dryRun = options.dryRun === true;
  const mapper = await openMapper(context, dryRun ? 'dry-run' : 'write');
  try {
    const strategies = new Map((await mapper.strategies()).map((s) => [s.id, s]));
    const { toBulkRecord } = await import('../../core/bulk/input.js');
    const records = singles.map((single, seq) =>
      toBulkRecord(seq, undefined, single.record, undefined, { mode: operation, ...(options.strategy !== undefined ? { defaults: { strategyId: options.strategy } } : {}), strategies }),
    );
    const problems = records.flatMap((record) => (record.parsed.ok ? [] : record.parsed.problems.map((p) => ({ field: p.field, message: p.message }))));
    if (problems.length > 0) throw invalidInput(io, undefined, problems, records.length, true);
    if (operation === 'unlink' && !dryRun) await confirmUnlink(io, globals, `${records.length} beneficiar${records.length === 1 ? 'y' : 'ies'}`, mapper.target);
    if (globals.verbose && !globals.quiet) {
      const via = viaTarget(context);
      io.stderr.write(`sparctl: ${operation} ${records.length} record(s) via ${via} (${mapper.target})${dryRun ? ', dry run' : ''}\n`);
    }
    const { writeRecords } = await import('../../core/bulk/write-records.js');
    const { events, summary } = await writeRecords(mapper, records, {
      mode: operation,
      context: { source: auditSource(operation, undefined) },
      dryRun,
      retries: options.retries ?? 2,
      backoffMs: { base: 250, max: 2_000 },
      strategies,
    });
    if (summary.stopped) {
      if (summary.stopped.code === 'interrupted') return summary.stopped.exitCode;
      throw new SparctlError(summary.stopped.code, summary.stopped.message, summary.stopped.exitCode as ExitCode, summary.stopped.hint === undefined ? {} : { hint: summary.stopped.hint });
    }
    const { defaultFormat, renderResults, summaryLine, appliedOf } = await import('../output.js');
    const { summarize } = await import('../../core/resolve.js');
    const applied = events.map(appliedOf);
    const counted = summarize(operation, applied);
    renderResults(io, defaultFormat(io, settings.output), { operation, target: mapper.target, applied, summary: counted, dryRun });
    if (options.results !== undefined) {
      const { openResultsFile } = await import('../../adapters/files/report-writers.js');
      const { resolve } = await import('node:path');
      const sink = await openResultsFile(resolve(io.cwd, options.results));
      for (const event of events) sink.write(event);
      await sink.close();
    }
    if (!globals.quiet) io.stderr.write(`${summaryLine(counted, mapper.target, dryRun)}\n`);
    if (dryRun && !globals.quiet) io.stderr.write('dry run: nothing was written\n');
    return summary.rejected > 0 ? ExitCode.rejected : ExitCode.ok;
  } finally {
    await mapper.close();
  }
}

/** The record(s) given by flags or arguments, in the same shape a file row has. */
function singleRecords(operation: Operation, options: RecordOptions, positional: string[]): InputRecord[] {
  const ids = [...(options.id !== undefined ? [options.id] : []), ...positional];
  if (operation === 'resolve' || operation === 'unlink') return ids.map((id) => ({ record: { id } }));
  const record: Record<string, unknown> = {};
  if (options.id !== undefined) record['id'] = options.id;
  if (options.strategy !== undefined) record['strategy_id'] = options.strategy;
  if (options.faType !== undefined) record['fa_type'] = options.faType;
  for (const [flag, field] of FA_FLAGS) {
    const key = flag.slice(2, flag.indexOf(' ')).replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
    if (options[key] !== undefined) record[field] = options[key];
  }
  if (options.fa !== undefined) {
    try {
      record['fa'] = JSON.parse(options.fa);
    } catch (error) {
      throw new UsageError('usage.fa_json', `--fa is not valid JSON: ${(error as Error).message}`, {
        hint: `example: --fa '{"fa_type":"BANK","bank_name":"Example Bank","bank_code":"EXB","branch_name":"Main","branch_code":"0001","account_number":"0012345678"}'`,
      });
    }
    if (options.strategy !== undefined && typeof record['fa'] === 'object' && record['fa'] !== null && !('strategy_id' in record['fa'])) {
      record['fa'] = { ...(record['fa'] as object), strategy_id: options.strategy };
    }
    delete record['strategy_id'];
  }
  if (options.name !== undefined) record['name'] = options.name;
  if (options.phone !== undefined) record['phone_number'] = options.phone;
  return Object.keys(record).length === 0 ? [] : [{ record }];
}

const MAX_PROBLEMS_SHOWN = 20;

/** "field: message", without repeating the field when the message already starts with it. */
function describeProblem(problem: RecordProblem): string {
  return problem.message.startsWith(`${problem.field} `) ? problem.message : `${problem.field}: ${problem.message}`;
}

/** Prints each problem as "file:line: field: message" and returns the error that ends the run. */
function invalidInput(io: Io, file: string | undefined, problems: RecordProblem[], total: number, writes: boolean): UsageError {
  const nothing = writes ? 'nothing was written' : 'nothing was looked up';
  if (file === undefined) {
    const detail = problems.map(describeProblem).join('; ');
    return new UsageError('input.invalid_record', `invalid record: ${detail}; ${nothing}`);
  }
  const where = file === '-' ? 'stdin' : file;
  for (const problem of problems.slice(0, MAX_PROBLEMS_SHOWN)) {
    const at = problem.line === undefined ? where : `${where}:${problem.line}`;
    io.stderr.write(`${at}: ${describeProblem(problem)}\n`);
  }
  if (problems.length > MAX_PROBLEMS_SHOWN) io.stderr.write(`… and ${problems.length - MAX_PROBLEMS_SHOWN} more problems\n`);
  const rows = new Set(problems.map((p) => p.line)).size;
  return new UsageError('input.invalid_records', `${where}: ${rows} of ${total} records are invalid; ${nothing}`, {
    hint: 'fix the rows listed above and run the same command again',
  });
}

function auditSource(operation: Operation, file: string | undefined): string {
  let user = 'unknown';
  try {
    user = userInfo().username;
  } catch {
    // no passwd entry (some containers): keep "unknown"
  }
  return `sparctl ${operation}${file !== undefined ? ' --file' : ''} (user ${user})`;
}

async function runFileJob(operation: 'link' | 'update' | 'unlink', io: Io, options: RecordOptions, globals: GlobalOptions): Promise<number> {
  const { runBulkJob } = await import('../bulk-job.js');
  const file = options.file!;
  const label = file === '-' ? 'stdin' : file;
  const { OPERATION_COLUMN } = await import('../../core/bulk/input.js');
  const knownColumns = [...RECORD_FIELDS, OPERATION_COLUMN];
  /** CSV or JSONL: --format, the file's extension, or (stdin) its first character. */
  const formatOf = async (path: string) => {
    const { formatFromName } = await import('../../adapters/input/record-file.js');
    const { firstCharacter } = await import('../../adapters/input/spool.js');
    return options.format ?? formatFromName(label) ?? (file === '-' ? ((await firstCharacter(path)) === '{' ? 'jsonl' : 'csv') : 'csv');
  };
  return runBulkJob(io, globals, options, {
    command: `${operation} --file`,
    mode: operation,
    file,
    definition: JSON.stringify({ strategy: options.strategy ?? null, format: options.format ?? null }),
    csvKeys: async (_context, _mapper, path) => {
      if ((await formatOf(path)) !== 'csv') return undefined;
      const { recordKey } = await import('../../core/records.js');
      return { delimiter: label.toLowerCase().endsWith('.tsv') ? '\t' : ',', knownColumns, keyColumns: () => ['id'], keyOf: (cell) => recordKey({ id: cell('id') }) };
    },
    records: async (_context, mapper, path) => {
      const { openInputFile } = await import('../../adapters/input/record-file.js');
      const { toBulkRecord } = await import('../../core/bulk/input.js');
      const format = await formatOf(path);
      const input = await openInputFile(path, { format, stdin: io.stdin, knownColumns, label });
      const strategies = new Map((await mapper.strategies()).map((s) => [s.id, s]));
      let columns: readonly string[] = [];
      async function* records() {
        let seq = 0;
        for await (const sources of input.batches) {
          if (seq === 0 && input.format === 'csv' && sources[0]) columns = Object.keys(sources[0].record);
          yield sources.map((source) =>
            toBulkRecord(seq++, source.line, source.record, input.format === 'csv' ? (source.record as Record<string, string>) : undefined, {
              mode: operation,
              ...(options.strategy !== undefined ? { defaults: { strategyId: options.strategy } } : {}),
              strategies,
              unlinkConfirmed: globals.yes === true,
              ...(source.unreadable ? { unreadable: source.unreadable } : {}),
            }),
          );
        }
      }
      return { records: records(), columns: () => columns, headerLines: input.format === 'csv' ? 1 : 0 };
    },
  });
}

/** Which source named the mapper, for --verbose: the target's, not the profile's (which may not be the target). */
function viaTarget(context: CommandContext): string {
  const { source } = context.resolved.target;
  return source === 'default' ? 'the default local mapper' : source;
}
