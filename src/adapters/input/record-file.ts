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
  /** The records in input order, a batch at a time: one await per batch, not per record. */
  readonly batches: AsyncIterable<readonly SourceRecord[]>;
  /** The same records one by one (use either this or `batches`: the input is read once). */
  readonly records: AsyncIterable<SourceRecord>;
}

/** Records per batch handed to the caller. */
const BATCH = 1_000;

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
    const detected: InputFormat = first === '{' ? 'jsonl' : 'csv';
    return inputFile(name, detected, batchesOf(detected, replay, name, options.knownColumns, options.delimiter, options.onHeader));
  }
  return inputFile(name, format, batchesOf(format, stream, name, options.knownColumns, options.delimiter, options.onHeader));
}

function inputFile(name: string, format: InputFormat, batches: AsyncIterable<readonly SourceRecord[]>): InputFile {
  return {
    name,
    format,
    batches,
    records: (async function* () {
      for await (const batch of batches) yield* batch;
    })(),
  };
}

function batchesOf(
  format: InputFormat,
  stream: AsyncIterable<Buffer | string>,
  name: string,
  knownColumns: readonly string[] | undefined,
  delimiter?: string,
  onHeader?: (columns: readonly string[]) => void,
): AsyncIterable<readonly SourceRecord[]> {
  return format === 'csv' ? csvBatches(stream, name, knownColumns, delimiter, onHeader) : jsonlBatches(stream);
}

/**
 * Reads an object stream in arrays of up to `size`, pausing it while a full array waits to be
 * taken. Items read before an error are handed over before the error is thrown.
 */
async function* arraysOf<T>(stream: Readable, size: number): AsyncGenerator<T[]> {
  let buffer: T[] = [];
  let ended = false;
  let failure: unknown;
  let wake: (() => void) | undefined;
  const notify = () => {
    const w = wake;
    wake = undefined;
    w?.();
  };
  stream.on('data', (item: T) => {
    buffer.push(item);
    if (buffer.length >= size) stream.pause();
    if (buffer.length >= size) notify();
  });
  stream.once('end', () => {
    ended = true;
    notify();
  });
  stream.once('error', (error) => {
    failure = error;
    notify();
  });
  for (;;) {
    if (buffer.length >= size || ((ended || failure !== undefined) && buffer.length > 0)) {
      const out = buffer;
      buffer = [];
      yield out;
      if (!ended && failure === undefined) stream.resume();
      continue;
    }
    if (failure !== undefined) throw failure;
    if (ended) return;
    await new Promise<void>((resolve) => (wake = resolve));
  }
}

/** Columns sparctl adds to a reject file; ignored when the fixed file is fed back. */
export const isReportColumn = (column: string) => column.startsWith('sparctl_');

async function* csvBatches(
  stream: AsyncIterable<Buffer | string>,
  name: string,
  knownColumns: readonly string[] | undefined,
  delimiter?: string,
  onHeader?: (columns: readonly string[]) => void,
): AsyncGenerator<readonly SourceRecord[]> {
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
    for await (const parsed of arraysOf<{ record: Record<string, string>; info: { lines: number } }>(parser, BATCH)) {
      const batch: SourceRecord[] = [];
      for (const { record, info } of parsed) {
        let newlines = 0;
        for (const field of Object.values(record)) {
          // indexOf, not a character loop: most fields hold neither, and this runs for every cell.
          for (let at = field.indexOf('\r'); at !== -1; at = field.indexOf('\r', at + 1)) extraCrs++;
          for (let at = field.indexOf('\n'); at !== -1; at = field.indexOf('\n', at + 1)) newlines++;
        }
        const line = info.lines - extraCrs - newlines;
        for (const column of Object.keys(record)) if (isReportColumn(column)) delete record[column];
        // Files are checked byte for byte before a run; stdin can only be checked here, where a
        // bad byte has already become U+FFFD.
        if (name === '-' && Object.values(record).some((field) => field.includes('\uFFFD'))) batch.push({ line, record, unreadable: 'not valid UTF-8' });
        else batch.push({ line, record });
      }
      yield batch;
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

async function* jsonlBatches(stream: AsyncIterable<Buffer | string>): AsyncGenerator<readonly SourceRecord[]> {
  const lines = createInterface({ input: Readable.from(stream), crlfDelay: Infinity });
  let line = 0;
  let batch: SourceRecord[] = [];
  for await (const text of lines) {
    line++;
    const trimmed = (line === 1 ? text.replace(/^\uFEFF/, '') : text).trim();
    if (trimmed === '') continue;
    batch.push(jsonlRecord(line, trimmed));
    if (batch.length >= BATCH) {
      yield batch;
      batch = [];
    }
  }
  if (batch.length > 0) yield batch;
}

function jsonlRecord(line: number, text: string): SourceRecord {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    return { line, record: {}, unreadable: `not valid JSON (${(error as Error).message})` };
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return { line, record: {}, unreadable: 'each line must be a JSON object' };
  return { line, record: parsed as Record<string, unknown> };
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
