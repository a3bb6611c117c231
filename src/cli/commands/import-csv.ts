import { Command, Option } from 'commander';
import { UsageError } from '../../core/errors.js';
import type { GlobalOptions } from '../context.js';
import type { Io } from '../io.js';
import { addBulkOptions } from '../bulk-options.js';
import { parseJson, readText } from '../files.js';
import { parsePositive } from '../parse.js';
import type { BulkJobFlags } from '../bulk-job.js';

interface ImportOptions extends BulkJobFlags {
  mapping: string;
  mode: 'upsert' | 'link' | 'update' | 'unlink';
  dfsp?: string;
  delimiter?: string;
}

/** `sparctl import-csv FILE --mapping M`: an enumeration CSV into the mapper, resumable. */
export function importCsvCommand(io: Io, setExit: (code: number) => void): Command {
  const command = new Command('import-csv')
    .description('import an enumeration CSV through a mapping file: link new beneficiaries, update changed ones (resumable)')
    .argument('<file>', 'the CSV file ("-" = stdin; a run from stdin cannot be resumed)')
    .requiredOption('--mapping <file>', 'JSON mapping of CSV columns to ID, name, phone and FA (see README "import-csv: enumeration files through a mapping")')
    .addOption(new Option('--mode <mode>', 'upsert: link new IDs, update changed ones, skip unchanged ones').choices(['upsert', 'link', 'update', 'unlink']).default('upsert'))
    .option('--dfsp <file>', 'banks, branches and wallet providers (JSON) to check codes and fill names from')
    .option('--delimiter <char>', 'cell delimiter (default ",")')
    .option('--batch-size <n>', 'records per request to the mapper (default: 500 or the profile)', (v) => parsePositive(v, '--batch-size'));
  addBulkOptions(command);
  return command
    .addHelpText(
      'after',
      `
Every row ends applied, unchanged, or in the reject file with its line and reason; the run is
journalled, so after a crash or Ctrl-C the same command resumes where it stopped.

Examples:
  $ sparctl import-csv fixtures/enumeration.csv --mapping fixtures/enumeration.mapping.json --dfsp fixtures/dfsp.json
  $ sparctl import-csv survey.csv --mapping map.json --dry-run
  $ sparctl --profile staging import-csv survey.csv --mapping map.json --results results.jsonl`,
    )
    .action(async (file: string, options: ImportOptions, cmd: Command) => {
      const globals = cmd.optsWithGlobals<GlobalOptions>();
      const mappingText = await readText(options.mapping, '--mapping');
      const dfspText = options.dfsp ? await readText(options.dfsp, '--dfsp') : undefined;
      if (options.delimiter !== undefined && [...options.delimiter].length !== 1) throw new UsageError('usage.delimiter', '--delimiter must be one character, e.g. ";"');
      const { compileMapping, dfspLookupFrom, idColumns, missingColumns, rowKey } = await import('../../core/mapping.js');
      const mapping = compileMapping(parseJson(mappingText, options.mapping), options.mapping);
      let dfsp = dfspText === undefined ? undefined : dfspLookupFrom(parseJson(dfspText, options.dfsp!), options.dfsp);
      // Without --dfsp, the target's own banks and wallet providers (sparctl dfsp import, or dfspUrl).
      let dfspKnown = dfspText;
      if (dfsp === undefined) {
        const { loadContext } = await import('../context.js');
        const { loadDfsp } = await import('../dfsp-data.js');
        const { dfspLookupOf } = await import('../../core/mapping.js');
        const data = await loadDfsp(await loadContext(io, globals), { required: false });
        if (data !== undefined) {
          dfsp = dfspLookupOf(data, 'the DFSP data of the target');
          dfspKnown = JSON.stringify(data);
        }
      }
      const { runBulkJob } = await import('../bulk-job.js');
      const definition = JSON.stringify({ mapping: mappingText, dfsp: dfspKnown ?? null, delimiter: options.delimiter ?? ',' });
      const delimiter = options.delimiter ?? (file.toLowerCase().endsWith('.tsv') ? '\t' : ',');
      const name = file === '-' ? 'stdin' : file;
      let strategies: ReadonlyMap<number, import('../../core/strategy/strategy.js').Strategy> = new Map();
      let columns: readonly string[] = [];
      let contexts: ReturnType<typeof import('../../core/bulk/mapped-rows.js').sourceContexts> | undefined;
      const { VERSION } = await import('../version.js');
      const { sourceContexts } = await import('../../core/bulk/mapped-rows.js');
      // The header is checked as soon as it is read (by the pass before the run), before any row.
      const onHeader = (header: readonly string[], written: readonly string[], usedDelimiter: string) => {
        contexts = sourceContexts({ version: VERSION, definition, header: written, delimiter: usedDelimiter, strategies: strategies.values() });
        columns = header;
        const missing = missingColumns(mapping, header);
        if (missing.length > 0) {
          throw new UsageError('input.missing_column', `${name}:1: the mapping reads column${missing.length > 1 ? 's' : ''} ${missing.map((c) => `"${c}"`).join(', ')}, which the file does not have; nothing was sent`, {
            hint: `the file's columns are: ${header.join(', ')}`,
          });
        }
      };
      setExit(
        await runBulkJob(io, globals, options, {
          command: 'import-csv',
          mode: options.mode,
          file,
          definition,
          csvKeys: async (_context, mapper) => {
            strategies = new Map((await mapper.strategies()).map((s) => [s.id, s]));
            return { delimiter, onHeader, keyColumns: () => idColumns(mapping), keyOf: (cell) => rowKey(mapping, cell) };
          },
          records: async (_context, mapper, path) => {
            const { openInputFile } = await import('../../adapters/input/record-file.js');
            const { mappedCsvRecords } = await import('../../core/bulk/mapped-rows.js');
            strategies = new Map((await mapper.strategies()).map((s) => [s.id, s]));
            const input = await openInputFile(path, { format: 'csv', stdin: io.stdin, onHeader, delimiter, label: name });
            const toRecord = mappedCsvRecords({ mapping, dfsp, strategies, mode: options.mode, unlinkConfirmed: globals.yes === true, contexts: () => contexts });
            async function* records() {
              let seq = 0;
              for await (const sources of input.batches) yield sources.map((source) => toRecord(source, seq++));
            }
            return { records: records(), columns: () => columns, headerLines: 1 };
          },
        }),
      );
    });
}
