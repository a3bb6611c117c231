import { Command, Option } from 'commander';
import { FA_TYPES, type ResolveScope } from '../../core/vocabulary.js';
import type { Operation } from '../../core/results.js';
import { loadContext, type GlobalOptions } from '../context.js';
import type { Io } from '../io.js';
import { checkCountry, countryCode, csvDelimiter, positiveInt } from '../parse.js';
import type { BulkJobFlags } from '../bulk-job.js';
import { addBulkOptions, addLookupOptions } from '../bulk-options.js';
import { DESCRIPTIONS, FA_FLAGS, recordsHelp } from '../help/records.js';

interface RecordOptions extends BulkJobFlags {
  file?: string;
  format?: 'csv' | 'jsonl';
  delimiter?: string;
  id?: string;
  strategy?: number;
  faType?: string;
  fa?: string;
  name?: string;
  phone?: string;
  country?: string;
  scope?: ResolveScope;
  batchSize?: number;
  [flag: string]: unknown;
}

/** `link`, `update`, `resolve`, `unlink`: parse, run the use case (app/records.ts or the bulk job), render, exit. */
export function recordCommand(operation: Operation, io: Io, setExit: (code: number) => void): Command {
  const command = new Command(operation).description(DESCRIPTIONS[operation]);
  if (operation === 'resolve') command.argument('[ids...]', 'beneficiary IDs to look up (or use --id / --file)');
  command
    .option('--file <path>', 'read many records from a CSV or JSONL file ("-" = stdin)')
    .addOption(new Option('--format <format>', 'input file format (default: from the file extension)').choices(['csv', 'jsonl']))
    .option('--delimiter <char>', 'CSV cell delimiter of --file (default ","; a .tsv file: tab)', csvDelimiter)
    .option('--id <id>', 'the beneficiary ID (a string; leading zeros are kept)');
  if (operation === 'link' || operation === 'update') {
    command
      .option('--strategy <id>', 'FA strategy id (default: 2 bank, 4 mobile wallet, 3 e-mail wallet)', positiveInt('--strategy'))
      .addOption(new Option('--fa-type <type>', 'kind of financial address').choices(FA_TYPES));
    for (const [flag, field] of FA_FLAGS) command.option(flag, `FA field ${field}`);
    command
      .option('--fa <json>', 'the whole FA as JSON instead of the separate FA flags')
      .option('--name <name>', "beneficiary's name")
      .option('--phone <number>', "beneficiary's contact phone (not the payment mobile number)")
      .option('--country <code>', 'ISO country for phone numbers written without +code (e.g. PH, KE)', countryCode('--country'));
  }
  if (operation === 'resolve') addLookupOptions(command);
  else addBulkOptions(command);
  command
    .option('--batch-size <n>', 'records per request to the mapper (default: 500 or the profile)', positiveInt('--batch-size'))
    .addHelpText('after', recordsHelp(operation))
    .action(async (...args: unknown[]) => {
      const cmd = args[args.length - 1] as Command;
      const options = cmd.opts<RecordOptions>();
      const globals = cmd.optsWithGlobals<GlobalOptions>();
      await checkCountry(options.country);
      const faFields = Object.fromEntries(FA_FLAGS.map(([, field, key]) => [field, options[key]]));
      const flags = { ...options, faFields, ids: operation === 'resolve' ? (args[0] as string[]) : [] };
      const app = await import('../../app/records.js');
      const plan = app.planRecords(operation, flags, io.stdinIsTTY);
      if (plan.kind === 'file') {
        const { recordsJobSpec } = await import('../compose/records.js');
        const { runBulkJob } = await import('../bulk-job.js');
        const spec = await recordsJobSpec(
          operation as 'link' | 'update' | 'unlink',
          { io, yes: globals.yes === true },
          { ...options, file: options.file! },
        );
        return setExit(await runBulkJob(io, globals, options, spec));
      }
      const context = await loadContext(io, globals);
      const compose = await import('../compose/records.js');
      const deps = plan.kind === 'resolve' ? await compose.resolveDeps(context, options.format, options.delimiter) : undefined;
      const result = deps
        ? await app.resolveRecords(deps, { ...options, records: plan.records })
        : await app.writeFlagRecords(compose.writeRecordsDeps(context), {
            ...options,
            operation: operation as 'link' | 'update' | 'unlink',
            records: plan.records,
          });
      if ('interrupted' in result) return setExit(result.interrupted);
      const { renderRecords } = await import('../records-render.js');
      await renderRecords(io, globals, context.resolved.settings.output, result, options.results);
      if (result.failure) {
        const { hint, code, message } = result.failure;
        io.stderr.write(`sparctl: error [${code}]: ${message}${hint ? ` (${hint})` : ''}\n`);
      }
      setExit(result.exitCode);
    });
  return command;
}
