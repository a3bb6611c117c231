import { createHash, type Hash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { UsageError } from '../../core/errors.js';
import { RowIndexBuilder, randomSeeds, type RowIndex } from '../../core/bulk/row-index.js';
import { CsvSyntaxError, CsvTokenizer } from './csv-tokenizer.js';
import { describeFsError, readHeader, type HeaderListener } from './record-file.js';

/**
 * The pass over a bulk job's input before anything is sent: the fingerprint of its bytes and
 * the job's definition (the journal's key), a strict UTF-8 check, the line count (for
 * progress), and the row index (which rows a later row of the same ID supersedes).
 *
 * Invariant: the index is built from the same bytes the run reads, with the same tokenizer
 * rules and the same ID function, so its rows and the run's records correspond one to one.
 */

export interface Prescan {
  readonly fingerprint: string;
  readonly lines: number;
  readonly index: RowIndex;
}

/** sha256 over the bytes and the definition, strict UTF-8, newlines counted. */
class ByteCheck {
  private readonly hash: Hash = createHash('sha256');
  // Invalid UTF-8 would otherwise be read as U+FFFD and stored in someone's account number.
  private readonly utf8 = new TextDecoder('utf-8', { fatal: true });
  lines = 0;

  constructor(private readonly name: string) {}

  /** The chunk as text (the decoder already checked it). */
  update(chunk: Buffer): string {
    this.hash.update(chunk);
    let text: string;
    try {
      text = this.utf8.decode(chunk, { stream: true });
    } catch {
      throw new UsageError('input.not_utf8', `${this.name}:${this.lines + 1 + firstBadLine(chunk)}: not valid UTF-8; nothing was sent`, { hint: 'save the file as UTF-8 (in a spreadsheet: CSV UTF-8)' });
    }
    for (let i = chunk.indexOf(10); i !== -1; i = chunk.indexOf(10, i + 1)) this.lines++;
    return text;
  }

  end(definition: string): { fingerprint: string; rest: string } {
    let rest: string;
    try {
      rest = this.utf8.decode();
    } catch {
      throw new UsageError('input.not_utf8', `${this.name}:${this.lines + 1}: not valid UTF-8 (the file ends inside a character); nothing was sent`, { hint: 'save the file as UTF-8 (in a spreadsheet: CSV UTF-8)' });
    }
    this.hash.update('\0');
    this.hash.update(definition);
    return { fingerprint: this.hash.digest('hex'), rest };
  }
}

async function* chunksOf(path: string, name: string): AsyncGenerator<Buffer> {
  try {
    for await (const chunk of createReadStream(path) as AsyncIterable<Buffer>) yield chunk;
  } catch (error) {
    throw new UsageError('input.unreadable', `cannot read ${name}: ${describeFsError(error)}`, { hint: 'check the path of the input file' });
  }
}

/** Fingerprint, UTF-8 check and line count of any input. */
export async function fingerprintOf(path: string, name: string, definition: string): Promise<{ fingerprint: string; lines: number }> {
  const bytes = new ByteCheck(name);
  for await (const chunk of chunksOf(path, name)) bytes.update(chunk);
  return { fingerprint: bytes.end(definition).fingerprint, lines: bytes.lines };
}

export interface CsvKeys {
  readonly delimiter: string;
  readonly knownColumns?: readonly string[];
  /** Told the header as the run's reader is (checks run here first, before anything is sent). */
  readonly onHeader?: HeaderListener;
  /** The columns a row's ID is read from. */
  readonly keyColumns: (header: readonly string[]) => readonly string[];
  /** The ID a row names, read from its cells by column name; the run's own function. */
  readonly keyOf: (cell: (column: string) => string | undefined) => string | undefined;
}

/**
 * One pass over a CSV file: its fingerprint, and every data row's ID read from the ID columns
 * only (rows without quotes are not split beyond them). Rows with a cell count other than the
 * header's, or that cannot be tokenized, are refused here, before anything is sent.
 */
export async function prescanCsv(path: string, name: string, definition: string, keys: CsvKeys, expectedRows?: number): Promise<Prescan> {
  const bytes = new ByteCheck(name);
  const builder = new RowIndexBuilder(randomSeeds(), expectedRows);
  let width = 0;
  let positions: ReadonlyMap<string, number> = new Map();
  let headerRead = false;
  const tokenizer = new CsvTokenizer(keys.delimiter, (cells) => {
    const header = readHeader(cells, name, keys.knownColumns, keys.onHeader && ((columns, written) => keys.onHeader!(columns, written, keys.delimiter)));
    width = header.columns.length;
    positions = new Map(header.columns.map((column, at) => [column, at]));
    headerRead = true;
    return keys.keyColumns(header.columns).flatMap((column) => (positions.has(column) ? [positions.get(column)!] : []));
  });
  let first = true;
  const take = (rows: ReturnType<CsvTokenizer['push']>) => {
    for (const row of rows) {
      if (first) {
        first = false;
        continue; // the header, read by the tokenizer's pick
      }
      const cellCount = row.width ?? row.cells.length;
      if (cellCount !== width) {
        throw new CsvSyntaxError(`the row has ${cellCount} cell${cellCount === 1 ? '' : 's'} where the header has ${width}`, row.line);
      }
      const cells = row.cells;
      builder.add(keys.keyOf((column) => {
        const at = positions.get(column);
        return at === undefined ? undefined : cells[at];
      }), row.line);
    }
  };
  try {
    for await (const chunk of chunksOf(path, name)) take(tokenizer.push(bytes.update(chunk)));
    const { fingerprint, rest } = bytes.end(definition);
    take(tokenizer.push(rest));
    take(tokenizer.end());
    if (!headerRead) throw new UsageError('input.empty', `${name}: no header row (the file is empty); nothing was sent`, { hint: 'the first line of a CSV file names its columns' });
    return { fingerprint, lines: bytes.lines, index: builder.build() };
  } catch (error) {
    if (error instanceof CsvSyntaxError) {
      throw new UsageError('input.csv_malformed', `${name}:${error.line}: ${error.message}; nothing was sent`, {
        hint: 'every row needs as many cells as the header; quote cells that contain the delimiter, quotes or line breaks',
      });
    }
    throw error;
  }
}

/** The index of records read by any reader, from the ID each names (small inputs, JSONL). */
export async function indexOfRecords(records: AsyncIterable<readonly { readonly key: string | undefined; readonly line?: number | undefined }[]>, expectedRows?: number): Promise<RowIndex> {
  const builder = new RowIndexBuilder(randomSeeds(), expectedRows);
  for await (const batch of records) for (const record of batch) builder.add(record.key, record.line);
  return builder.build();
}

/** Newlines in `chunk` before its first byte that is not valid UTF-8 (0 when it is the first). */
function firstBadLine(chunk: Buffer): number {
  const decoder = new TextDecoder('utf-8', { fatal: true });
  let lines = 0;
  for (let i = 0; i < chunk.length; i++) {
    try {
      decoder.decode(chunk.subarray(i, i + 1), { stream: true });
    } catch {
      return lines;
    }
    if (chunk[i] === 10) lines++;
  }
  return lines;
}
