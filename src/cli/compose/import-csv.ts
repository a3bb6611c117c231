import type { ImportCsvDeps } from '../../app/import-csv.js';
import type { Mapper } from '../../core/mapper.js';
import type { BulkJobFlags } from '../bulk-job.js';
import type { GlobalOptions } from '../context.js';
import { parseJson, readText } from '../files.js';
import type { Io } from '../io.js';
import { VERSION } from '../version.js';

/**
 * What the import-csv use case needs: the composition of app/import-csv.ts. The settings are
 * read only when the target's DFSP data is asked for, and by the bulk job (cli/bulk-job.ts).
 */
export function importCsvDeps(io: Io, globals: GlobalOptions, flags: BulkJobFlags): ImportCsvDeps {
  const strategiesOf = async (mapper: Mapper) => new Map((await mapper.strategies()).map((s) => [s.id, s]));
  return {
    yes: globals.yes === true,
    version: VERSION,
    readText,
    parseJson,
    targetDfsp: async () => {
      const { loadContext } = await import('../context.js');
      const { loadDfsp } = await import('../dfsp-data.js');
      return loadDfsp(await loadContext(io, globals), { required: false });
    },
    runJob: async (job) => {
      const { runBulkJob } = await import('../bulk-job.js');
      return runBulkJob(io, globals, flags, {
        command: 'import-csv',
        mode: job.mode,
        file: job.file,
        definition: job.definition,
        ...(job.format === 'xlsx' ? { inputFormat: 'xlsx' as const } : {}),
        // A workbook has no tokenizer pass: its index is built from its records, read once more.
        csvKeys: async (_context, mapper) => {
          job.useStrategies(await strategiesOf(mapper));
          if (job.format === 'xlsx') return undefined;
          return { delimiter: job.delimiter, onHeader: job.onHeader, keyColumns: job.keyColumns, keyOf: job.keyOf, tally: job.widths };
        },
        records: async (_context, mapper, path, bytes) => {
          const { openInputFile } = await import('../../adapters/input/record-file.js');
          job.useStrategies(await strategiesOf(mapper));
          const { cameThroughPipe } = await import('../../adapters/input/spool.js');
          const input = await openInputFile(path, {
            format: job.format,
            stdin: io.stdin,
            mayBeCutShort: cameThroughPipe(path),
            ...(bytes === undefined ? {} : { sameBytesAs: bytes }),
            onHeader: job.onHeader,
            label: job.label,
            ...(job.format === 'csv' ? { delimiter: job.delimiter } : {}),
            ...(job.sheet === undefined ? {} : { sheet: job.sheet }),
          });
          return { records: job.records(input.batches), columns: job.columns, headerLines: 1, layout: input.layout };
        },
      });
    },
  };
}
