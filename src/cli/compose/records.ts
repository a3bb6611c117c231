import { userInfo } from 'node:os';
import type { ResolveDeps, WriteRecordsDeps } from '../../app/records.js';
import type { BulkJobSpec } from './bulk-job.js';
import { UsageError } from '../../core/errors.js';
import { OPERATION_COLUMN, RECORD_FIELDS } from '../../core/vocabulary.js';
import { openMapper, type CommandContext } from '../context.js';

/** The composition of app/records.ts (records from flags, resolve) and of `link|update|unlink --file`'s bulk job. */

/** The user running sparctl, for the audit log; "unknown" without a passwd entry (some containers). */
export function userName(): string {
  try {
    return userInfo().username;
  } catch {
    return 'unknown';
  }
}

/** What every records use case is told: which source named the target, who runs it, --verbose lines. */
function commonDeps(context: CommandContext) {
  const { source } = context.resolved.target;
  const { globals, io } = context;
  return {
    // The target's source, not the profile's (which may not be the target).
    via: source === 'default' ? 'the default local mapper' : source,
    user: userName(),
    ...(globals.verbose && !globals.quiet ? { verbose: (line: string) => void io.stderr.write(`sparctl: ${line}\n`) } : {}),
  };
}

export async function resolveDeps(context: CommandContext, format: 'csv' | 'jsonl' | undefined, delimiter?: string): Promise<ResolveDeps> {
  const { io } = context;
  // JSONL and CSV results are written as the answers come (a file of any size in the memory of
  // a few batches); a JSON document and a table need them all first.
  const { defaultFormat, resultStream } = await import('../output.js');
  const streamResults = resultStream(io, defaultFormat(io, context.resolved.settings.output));
  return {
    ...(streamResults === undefined ? {} : { streamResults, stdoutFailure: () => io.stdoutFailure?.() }),
    ...commonDeps(context),
    openInput: async (file) => {
      const { openInputFile, inputLabel, refuseWorkbook } = await import('../../adapters/input/record-file.js');
      refuseWorkbook(file, format);
      const input = await openInputFile(file, {
        ...(format ? { format } : {}),
        ...(delimiter !== undefined ? { delimiter } : {}),
        stdin: io.stdin,
        // The file a `link --file` read, its operation column included, is fed to resolve unchanged.
        knownColumns: [...RECORD_FIELDS, OPERATION_COLUMN],
      });
      if (delimiter !== undefined && input.format !== 'csv') throw delimiterNotCsv(file);
      return { records: input.records, label: inputLabel(file) };
    },
    openMapper: () => openMapper(context, 'read'),
    batchSize: context.resolved.settings.batchSize,
    // Reads are harmless to overlap; `auto` belongs to bulk writes: its starting level here.
    concurrency: context.resolved.settings.concurrency === 'auto' ? 4 : context.resolved.settings.concurrency,
    problem: (line) => void io.stderr.write(`${line}\n`),
  };
}

export function writeRecordsDeps(context: CommandContext): WriteRecordsDeps {
  return {
    ...commonDeps(context),
    openMapper: (access) => openMapper(context, access),
    confirmUnlink: async (what, target) => {
      const { confirmUnlink } = await import('../confirm.js');
      await confirmUnlink(context.io, context.globals, what, target);
    },
    loadDfsp: async () => {
      const { loadDfsp } = await import('../dfsp-data.js');
      return loadDfsp(context, { required: false });
    },
  };
}

/** `link|update|unlink --file`: the bulk job over a CSV or JSONL file of records. */
export async function recordsJobSpec(
  operation: 'link' | 'update' | 'unlink',
  context: { readonly io: CommandContext['io']; readonly yes: boolean },
  options: {
    readonly file: string;
    readonly format?: 'csv' | 'jsonl';
    readonly strategy?: number;
    readonly country?: string;
    readonly delimiter?: string;
  },
): Promise<BulkJobSpec> {
  const { file } = options;
  const label = file === '-' ? 'stdin' : file;
  const knownColumns = [...RECORD_FIELDS, OPERATION_COLUMN];
  /** CSV or JSONL: --format, the file's extension, or (stdin) its first character. */
  const formatOf = async (path: string) => {
    const { formatFromName } = await import('../../adapters/input/record-file.js');
    const { firstCharacter } = await import('../../adapters/input/spool.js');
    return options.format ?? formatFromName(label) ?? (file === '-' ? ((await firstCharacter(path)) === '{' ? 'jsonl' : 'csv') : 'csv');
  };
  /** --delimiter, else a tab for a .tsv file, else a comma. */
  const delimiter = () => options.delimiter ?? (label.toLowerCase().endsWith('.tsv') ? '\t' : ',');
  const { formatFromName, refuseWorkbook } = await import('../../adapters/input/record-file.js');
  refuseWorkbook(label, options.format);
  const knownFormat = options.format ?? formatFromName(label);
  return {
    command: `${operation} --file`,
    mode: operation,
    file,
    ...(knownFormat === undefined ? {} : { inputFormat: knownFormat }),
    refuseEmpty: true,
    // The country only when given: journals of runs without it keep their definition.
    definition: JSON.stringify({
      strategy: options.strategy ?? null,
      format: options.format ?? null,
      ...(options.country !== undefined ? { country: options.country } : {}),
      ...(options.delimiter !== undefined ? { delimiter: options.delimiter } : {}),
    }),
    csvKeys: async (_context, _mapper, path) => {
      if ((await formatOf(path)) !== 'csv') {
        if (options.delimiter !== undefined) throw delimiterNotCsv(file);
        return undefined;
      }
      const { recordKey } = await import('../../core/request-items.js');
      return {
        delimiter: delimiter(),
        knownColumns,
        keyColumns: () => ['id'],
        keyOf: (cell) => recordKey({ id: cell('id') }),
      };
    },
    records: async (_context, mapper, path, bytes) => {
      const { openInputFile } = await import('../../adapters/input/record-file.js');
      const { toBulkRecord } = await import('../../core/bulk/input.js');
      const format = await formatOf(path);
      // The reject file's columns are the header's: a first row that cannot be read has no cells
      // to take them from, and the rows after it must keep theirs.
      let columns: readonly string[] = [];
      const { cameThroughPipe } = await import('../../adapters/input/spool.js');
      const input = await openInputFile(path, {
        format,
        stdin: context.io.stdin,
        mayBeCutShort: cameThroughPipe(path),
        ...(bytes === undefined ? {} : { sameBytesAs: bytes }),
        knownColumns,
        label,
        delimiter: delimiter(),
        onHeader: (kept) => {
          columns = kept;
        },
      });
      const strategies = new Map((await mapper.strategies()).map((s) => [s.id, s]));
      // One options object for every record (a fresh one per record was a tenth of a remote run's garbage).
      const shared = {
        mode: operation,
        defaults: {
          ...(options.strategy !== undefined ? { strategyId: options.strategy } : {}),
          ...(options.country !== undefined ? { country: options.country } : {}),
        },
        strategies,
        unlinkConfirmed: context.yes,
      };
      async function* records() {
        let seq = 0;
        for await (const batch of input.batches) {
          yield batch.map((fileRecord) => {
            const record = toBulkRecord(
              seq++,
              fileRecord.line,
              fileRecord.record,
              // The record as read, for the reject file: a CSV row's cells, or the JSONL object.
              fileRecord.record,
              fileRecord.unreadable ? { ...shared, unreadable: fileRecord.unreadable } : shared,
            );
            // A fed-back reject file's row keeps pointing at the line of the input first read.
            return fileRecord.originalLine === undefined ? record : { ...record, originalLine: fileRecord.originalLine };
          });
        }
      }
      return { records: records(), columns: () => columns, headerLines: input.format === 'csv' ? 1 : 0, layout: input.layout };
    },
  };
}

/** --delimiter given for a JSONL input: a mistake to say, not a flag to drop silently. */
function delimiterNotCsv(file: string): UsageError {
  return new UsageError(
    'usage.delimiter',
    `--delimiter is for CSV input, and ${file === '-' ? 'stdin' : file} is read as JSONL; nothing was sent`,
    {
      hint: 'drop --delimiter, or pass --format csv if the file is CSV',
    },
  );
}
