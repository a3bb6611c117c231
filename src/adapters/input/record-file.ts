import { constants, createReadStream } from 'node:fs';
import { access, stat } from 'node:fs/promises';
import { basename, extname } from 'node:path';
import { Readable, pipeline } from 'node:stream';
import { createInterface } from 'node:readline';
import { CsvError, parse } from 'csv-parse';
import { UsageError } from '../../core/errors.js';

/** One record of an input file, with the 1-based line it starts on. */
export interface SourceRecord {
  readonly line: number;
  readonly record: Record<string, unknown>;
  /** Set when the line could not be read as a record at all (JSONL that is not an object). */
  readonly unreadable?: string;
}

export type InputFormat = 'csv' | 'jsonl';

export interface InputFile {
  /** As the user named it ("-" for stdin); used in every message. */
  readonly name: string;
  readonly format: InputFormat;
  readonly records: AsyncIterable<SourceRecord>;
}

export function formatFromName(name: string): InputFormat | undefined {
  const ext = extname(name).toLowerCase();
  if (ext === '.csv' || ext === '.tsv') return 'csv';
  if (ext === '.jsonl' || ext === '.ndjson' || ext === '.json') return 'jsonl';
  return undefined;
}

/**
 * Opens a CSV (header row required) or JSONL file, or stdin for "-". The file is opened before
 * this returns, so a missing or unreadable file is reported before anything else happens.
 * `knownColumns` lets a CSV header be checked before any row is read.
 */
export async function openInputFile(
  name: string,
  options: { format?: InputFormat; stdin: Readable; knownColumns?: readonly string[]; delimiter?: string; onHeader?: (columns: readonly string[]) => void },
): Promise<InputFile> {
  let stream: Readable;
  if (name === '-') {
    stream = options.stdin;
  } else {
    try {
      await access(name, constants.R_OK);
      if ((await stat(name)).isDirectory()) throw Object.assign(new Error('is a directory'), { code: 'EISDIR' });
    } catch (error) {
      throw new UsageError('input.unreadable', `cannot read ${name}: ${describeFsError(error)}`, {
        hint: 'check the path of the input file',
      });
    }
    // Opened only once read, so an input that is never consumed leaves no descriptor behind.
    stream = createReadStream(name);
  }
  const format = options.format ?? formatFromName(name) ?? (name === '-' ? undefined : 'csv');
  if (format === undefined) {
    // stdin without --format: look at the first character.
    const { first, replay } = await peek(stream);
    return { name, format: first === '{' ? 'jsonl' : 'csv', records: recordsOf(first === '{' ? 'jsonl' : 'csv', replay, name, options.knownColumns, options.delimiter, options.onHeader) };
  }
  return { name, format, records: recordsOf(format, stream, name, options.knownColumns, options.delimiter, options.onHeader) };
}

function recordsOf(
  format: InputFormat,
  stream: AsyncIterable<Buffer | string>,
  name: string,
  knownColumns: readonly string[] | undefined,
  delimiter?: string,
  onHeader?: (columns: readonly string[]) => void,
): AsyncIterable<SourceRecord> {
  return format === 'csv' ? csvRecords(stream, name, knownColumns, delimiter, onHeader) : jsonlRecords(stream);
}

/** Columns sparctl adds to a reject file; ignored when the fixed file is fed back. */
export const isReportColumn = (column: string) => column.startsWith('sparctl_');

async function* csvRecords(
  stream: AsyncIterable<Buffer | string>,
  name: string,
  knownColumns: readonly string[] | undefined,
  delimiter?: string,
  onHeader?: (columns: readonly string[]) => void,
): AsyncGenerator<SourceRecord> {
  const parser = parse({
    bom: true,
    columns: (header: string[]) => {
      const columns = header.map((column) => column.trim());
      const unknown = knownColumns === undefined ? [] : columns.filter((column) => !knownColumns.includes(column) && !isReportColumn(column));
      if (unknown.length > 0) {
        throw new UsageError('input.unknown_column', `${name}:1: unknown column${unknown.length > 1 ? 's' : ''} ${unknown.map((c) => `"${c}"`).join(', ')}`, {
          hint: `known columns: ${(knownColumns ?? []).join(', ')}`,
        });
      }
      const seen = new Set<string>();
      for (const column of columns) {
        if (seen.has(column)) throw new UsageError('input.duplicate_column', `${name}:1: column "${column}" appears twice`);
        seen.add(column);
      }
      onHeader?.(columns.filter((column) => !isReportColumn(column)));
      return columns;
    },
    delimiter: delimiter ?? (name.toLowerCase().endsWith('.tsv') ? '\t' : ','),
    // Both line endings in one file happen when rows are appended by different tools.
    record_delimiter: ['\r\n', '\n'],
    skip_empty_lines: true,
    cast: false, // IDs and account numbers keep their leading zeros
    info: true,
  });
  // csv-parse counts every CR inside a quoted value as a line of its own; undo that so the
  // line numbers match what an editor shows.
  let extraCrs = 0;
  // pipeline() destroys the file stream when the parser fails or the reader stops early; the
  // error itself reaches the loop below through the parser.
  pipeline(stream instanceof Readable ? stream : Readable.from(stream), parser, () => undefined);
  try {
    for await (const { record, info } of parser as AsyncIterable<{ record: Record<string, string>; info: { lines: number } }>) {
      let newlines = 0;
      for (const field of Object.values(record)) {
        for (const char of field) {
          if (char === '\r') extraCrs++;
          else if (char === '\n') newlines++;
        }
      }
      const endLine = info.lines - extraCrs;
      for (const column of Object.keys(record)) if (isReportColumn(column)) delete record[column];
      // Files are checked byte for byte before a run; stdin can only be checked here, where a
      // bad byte has already become U+FFFD.
      if (name === '-' && Object.values(record).some((field) => field.includes('\uFFFD'))) {
        yield { line: endLine - newlines, record, unreadable: 'not valid UTF-8' };
        continue;
      }
      yield { line: endLine - newlines, record };
    }
  } catch (error) {
    if (error instanceof UsageError) throw error;
    if (error instanceof CsvError) {
      const line = typeof (error as unknown as { lines?: number }).lines === 'number' ? (error as unknown as { lines: number }).lines - extraCrs : undefined;
      const message = error.message.replace(/ on line \d+$/, '');
      throw new UsageError('input.csv_malformed', `${name}${line ? `:${line}` : ''}: ${message}`, {
        hint: 'every row needs as many cells as the header; quote cells that contain commas or line breaks',
      });
    }
    throw new UsageError('input.unreadable', `cannot read ${name}: ${describeFsError(error)}`);
  }
}

async function* jsonlRecords(stream: AsyncIterable<Buffer | string>): AsyncGenerator<SourceRecord> {
  const lines = createInterface({ input: Readable.from(stream), crlfDelay: Infinity });
  let line = 0;
  for await (const text of lines) {
    line++;
    const trimmed = (line === 1 ? text.replace(/^\uFEFF/, '') : text).trim();
    if (trimmed === '') continue;
    let parsed: unknown;
    try {
      parsed = JSON.parse(trimmed);
    } catch (error) {
      yield { line, record: {}, unreadable: `not valid JSON (${(error as Error).message})` };
      continue;
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
      yield { line, record: {}, unreadable: 'each line must be a JSON object' };
      continue;
    }
    yield { line, record: parsed as Record<string, unknown> };
  }
}

/** Reads the first chunk of a stream and returns its first non-space character plus a replay. */
async function peek(stream: Readable): Promise<{ first: string | undefined; replay: AsyncIterable<Buffer | string> }> {
  const iterator = stream[Symbol.asyncIterator]() as AsyncIterator<Buffer | string>;
  const head = await iterator.next();
  const firstChunk = head.done ? undefined : head.value;
  const first = firstChunk === undefined ? undefined : firstChunk.toString().replace(/^\uFEFF/, '').trimStart()[0];
  async function* replay() {
    if (firstChunk !== undefined) yield firstChunk;
    for (;;) {
      const next = await iterator.next();
      if (next.done) return;
      yield next.value;
    }
  }
  return { first, replay: replay() };
}

function describeFsError(error: unknown): string {
  const code = (error as { code?: string }).code;
  switch (code) {
    case 'ENOENT':
      return 'no such file';
    case 'EACCES':
    case 'EPERM':
      return 'permission denied';
    case 'EISDIR':
      return 'it is a directory';
    default:
      return error instanceof Error ? error.message : String(error);
  }
}

export const inputLabel = (name: string) => (name === '-' ? 'stdin' : basename(name));
