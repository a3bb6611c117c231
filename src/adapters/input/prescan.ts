import { createHash, type Hash } from 'node:crypto';
import {
  closeSync,
  openSync,
  readFileSync,
  readSync,
  readdirSync,
  realpathSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { UsageError } from '../../core/errors.js';
import { RowIndexBuilder, indexFromEntries, randomSeeds, type RowIndex } from '../../core/bulk/row-index.js';
import { CsvSyntaxError, CsvTokenizer } from './csv-tokenizer.js';
import { makeFolders } from '../files/fs-errors.js';
import { unquotedCell } from '../files/csv-cells.js';
import { describeFsError, readHeader, type HeaderListener } from './record-file.js';
import { lineBreaks, StrictText } from './strict-text.js';
import { type ByteDigests, DigestsAtSpans } from './byte-digests.js';

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
  /** The bytes read, for the run to read them against (byte-digests.ts's sameBytes). */
  readonly bytes: ByteDigests;
  /** A CSV file with rows of empty cells (EMPTY_ROWS): no journal an earlier sparctl left fits it. */
  readonly emptyRowsSkipped?: boolean;
}

/** sha256 over the bytes and the definition, strict UTF-8, lines counted as the tokenizer counts them. */
class ByteCheck {
  private readonly spans = new DigestsAtSpans();
  private readonly hash: Hash = this.spans.hash;
  // Invalid UTF-8 would otherwise be read as U+FFFD and stored in someone's account number.
  private readonly text: StrictText;

  constructor(name: string) {
    this.text = new StrictText(name);
  }

  get lines(): number {
    return this.text.lines;
  }

  /** The chunk as text (the decoder already checked it). */
  update(chunk: Buffer): string {
    this.spans.update(chunk);
    return this.text.decode(chunk);
  }

  /** The digests of the bytes read (before digest() goes on to the fingerprint). */
  digests(): ByteDigests {
    return this.spans.end();
  }

  end(definition: string): { fingerprint: string; rest: string } {
    const rest = this.finish();
    return { fingerprint: this.digest(definition), rest };
  }

  /** The text the decoder still holds (the file ends inside a character: input.not_utf8). */
  finish(): string {
    return this.text.finish();
  }

  /** The fingerprint of the bytes and the definition. */
  digest(definition: string): string {
    this.hash.update('\0');
    this.hash.update(definition);
    return this.hash.digest('hex');
  }
}

/**
 * Said in the fingerprint of a CSV file with rows of empty cells (`,,,,`): sparctl reads them as
 * blank lines, skipped, where before it read them as rows (rejected). The rows after them are at
 * other positions than a journal an earlier sparctl left for the file records: resumed, a row
 * would be taken for settled that never was sent. Its fingerprint differs, so it is a new job.
 */
const EMPTY_ROWS = '\0rows of empty cells skipped';

const CHUNK = 65_536;

/**
 * The file's bytes in chunks, read synchronously: nothing else runs before the first request
 * anyway, and a read stream's machinery cost this pass as much again as reading (18 ms against
 * 8 ms for 10,000 rows, cold). One buffer serves every chunk: each is used up (hashed, decoded)
 * before the next is read.
 */
function* chunksOf(path: string, name: string): Generator<Buffer> {
  const unreadable = (error: unknown) =>
    new UsageError('input.unreadable', `cannot read ${name}: ${describeFsError(error)}`, { hint: 'check the path of the input file' });
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (error) {
    throw unreadable(error);
  }
  try {
    const buffer = Buffer.allocUnsafe(CHUNK);
    for (;;) {
      let read: number;
      try {
        read = readSync(fd, buffer, 0, CHUNK, null);
      } catch (error) {
        throw unreadable(error);
      }
      if (read === 0) return;
      yield buffer.subarray(0, read);
    }
  } finally {
    closeSync(fd);
  }
}

/**
 * Fingerprint, UTF-8 check and line count of any input; `binary` (an .xlsx workbook): the
 * fingerprint of its bytes alone, no text to check or lines to count.
 */
export async function fingerprintOf(
  path: string,
  name: string,
  definition: string,
  options: { readonly binary?: boolean } = {},
): Promise<{ fingerprint: string; lines: number; bytes: ByteDigests }> {
  if (options.binary === true) {
    const spans = new DigestsAtSpans();
    for (const chunk of chunksOf(path, name)) spans.update(chunk);
    const bytes = spans.end();
    spans.hash.update('\0');
    spans.hash.update(definition);
    return { fingerprint: spans.hash.digest('hex'), lines: 0, bytes };
  }
  const check = new ByteCheck(name);
  for (const chunk of chunksOf(path, name)) check.update(chunk);
  check.finish();
  const bytes = check.digests();
  return { fingerprint: check.digest(definition), lines: check.lines, bytes };
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
  /** Told every cell of its columns (they are read too), and kept with a kept index: what the run learns from the whole file. */
  readonly tally?: ColumnTally;
}

/** What a run learns from whole columns in this pass (core/column-widths.ts's ColumnWidths). */
export interface ColumnTally {
  readonly columns: readonly string[];
  add(column: string, cell: string | undefined): void;
  state(): unknown;
  /** False when the kept state is not this tally's: the file is read again. */
  restore(state: unknown): boolean;
}

/**
 * One pass over a CSV file: its fingerprint, and every data row's ID read from the ID columns
 * only (rows without quotes are not split beyond them, so a row's cell count is checked by the
 * run, which rejects such a row; a row the tokenizer cannot read comes with no cells, so no ID,
 * as the run rejects it). A file that cannot be tokenized is refused here, before anything is
 * sent.
 */
export async function prescanCsv(path: string, name: string, definition: string, keys: CsvKeys, cache?: IndexCache): Promise<Prescan> {
  const kept = cache === undefined ? undefined : await keptIndex(path, name, definition, cache, keys.tally);
  if (kept !== undefined) return kept;
  const scanned = await scanCsv(path, name, definition, keys);
  if (cache !== undefined && cache.keep !== false) keepIndex(path, definition, cache, scanned, keys.tally);
  return scanned;
}

/**
 * Where the index of a file read before is kept, so that a re-run of the same file reads its
 * bytes only (fingerprint and UTF-8), not its rows: a re-run of a million rows spends most of
 * its time elsewhere, and tokenizing them again would cost a tenth of it. An index is found by
 * the file's path, size, modification time and inode with the job's definition, and used only
 * when the fingerprint of the bytes read now is the one it was built from. `version` must
 * change whenever the way an ID is read from a row changes (a release always changes it).
 */
export interface IndexCache {
  readonly dir: string;
  readonly version: string;
  /** False: use a kept index, keep none (a dry run writes nothing). */
  readonly keep?: boolean;
}

/** The kept index format: [seq, last seq, last line] of each superseded row (2: IDs keyed in NFC; 3: with the column tally; 4: rows of empty cells skipped; 5: an ODK export's older submissions keyed as none). */
const KEPT_FORMAT = 5;
const KEPT_MAX = 64;

function keptPath(path: string, definition: string, cache: IndexCache): string | undefined {
  try {
    const stats = statSync(path);
    const identity = JSON.stringify([
      KEPT_FORMAT,
      cache.version,
      realpathSync(path),
      stats.dev,
      stats.ino,
      stats.size,
      stats.mtimeMs,
      definition,
    ]);
    return join(cache.dir, `${createHash('sha256').update(identity).digest('hex').slice(0, 32)}.index.json`);
  } catch {
    return undefined;
  }
}

async function keptIndex(
  path: string,
  name: string,
  definition: string,
  cache: IndexCache,
  tally: ColumnTally | undefined,
): Promise<Prescan | undefined> {
  const file = keptPath(path, definition, cache);
  if (file === undefined) return undefined;
  let kept: {
    fingerprint: string;
    lines: number;
    rows: number;
    entries: [number, number, number | null][];
    tally?: unknown;
    emptyRows?: boolean;
  };
  try {
    kept = JSON.parse(readFileSync(file, 'utf8')) as typeof kept;
    if (typeof kept.fingerprint !== 'string' || !Array.isArray(kept.entries) || typeof kept.rows !== 'number') return undefined;
  } catch {
    return undefined; // none kept, or unreadable: scan
  }
  const emptyRowsSkipped = kept.emptyRows === true;
  const { fingerprint, lines, bytes } = await fingerprintOf(path, name, emptyRowsSkipped ? `${definition}${EMPTY_ROWS}` : definition);
  if (fingerprint !== kept.fingerprint) return undefined;
  // The same bytes and definition: the tally kept is the one a scan would learn.
  if (tally !== undefined && !tally.restore(kept.tally)) return undefined;
  return { fingerprint, lines, bytes, index: indexFromEntries(kept.rows, kept.entries), ...(emptyRowsSkipped ? { emptyRowsSkipped } : {}) };
}

/** Keeps an index (0600: positions only, but in the user's cache all the same); a failure to keep it is no failure of the run. */
function keepIndex(path: string, definition: string, cache: IndexCache, scanned: Prescan, tally: ColumnTally | undefined): void {
  const file = keptPath(path, definition, cache);
  if (file === undefined) return;
  const partial = `${file}.${process.pid}.tmp`;
  try {
    makeFolders(cache.dir);
    writeFileSync(
      partial,
      JSON.stringify({
        fingerprint: scanned.fingerprint,
        lines: scanned.lines,
        rows: scanned.index.rows,
        entries: scanned.index.entries(),
        ...(tally === undefined ? {} : { tally: tally.state() }),
        ...(scanned.emptyRowsSkipped === true ? { emptyRows: true } : {}),
      }),
      { mode: 0o600 },
    );
    renameSync(partial, file);
    const kept = readdirSync(cache.dir)
      .filter((entry) => entry.endsWith('.index.json'))
      .map((entry) => ({ entry, at: statSync(join(cache.dir, entry)).mtimeMs }))
      .sort((a, b) => b.at - a.at);
    for (const { entry } of kept.slice(KEPT_MAX)) rmSync(join(cache.dir, entry), { force: true });
  } catch {
    // A cache that cannot be written only costs the next run a scan; a copy cut short by a full
    // disk is not left there to keep the disk full (a rename that failed leaves one whole).
    try {
      rmSync(partial, { force: true });
    } catch {
      // nothing more to do: the cache is the user's to clear
    }
  }
}

async function scanCsv(path: string, name: string, definition: string, keys: CsvKeys): Promise<Prescan> {
  const bytes = new ByteCheck(name);
  let builder: RowIndexBuilder | undefined;
  let columns: readonly string[] = [];
  let cells: readonly (string | undefined)[] = [];
  // The reader keyOf is given: one closure for the whole file, over the row at hand.
  const positions = new Map<string, number>();
  const cell = (column: string) => {
    const at = positions.get(column);
    return at === undefined ? undefined : cells[at];
  };
  let headerRead = false;
  // A fed-back reject file whose cells sparctl quoted against formulas: keyed as the run reads
  // it, with the apostrophe taken off (record-file.ts), or a row and its corrected copy would
  // be two IDs here and one in the run.
  let quoted = false;
  let first = true;
  // The tally's columns present in the header, with their positions.
  let tallied: (readonly [string, number])[] = [];
  const tokenizer = new CsvTokenizer(
    keys.delimiter,
    (written) => {
      const header = readHeader(
        written,
        name,
        keys.knownColumns,
        keys.onHeader && ((kept, all) => keys.onHeader!(kept, all, keys.delimiter)),
        keys.delimiter,
      );
      columns = header.columns;
      quoted = header.quoted === true;
      columns.forEach((column, at) => positions.set(column, at));
      headerRead = true;
      tallied = (keys.tally?.columns ?? []).flatMap((column) => (positions.has(column) ? [[column, positions.get(column)!] as const] : []));
      return [...keys.keyColumns(columns), ...tallied.map(([column]) => column)].flatMap((column) =>
        positions.has(column) ? [positions.get(column)!] : [],
      );
    },
    (line, rowCells) => {
      if (first) {
        first = false;
        return; // the header, read by the tokenizer's pick
      }
      cells = quoted ? rowCells.map((text) => (text === undefined ? text : unquotedCell(text))) : rowCells;
      builder!.add(keys.keyOf(cell), line);
      for (const [column, at] of tallied) keys.tally!.add(column, cells[at]);
    },
  );
  const take = (rows: ReturnType<CsvTokenizer['push']>) => void rows;
  const size = statSync(path).size;
  try {
    for (const chunk of chunksOf(path, name)) {
      // Sized once from the first chunk's rows per byte: growing a million-row index costs a rehash per doubling.
      builder ??= new RowIndexBuilder(randomSeeds(), Math.ceil((size / Math.max(1, chunk.length)) * (lineBreaks(chunk, false) + 1) * 1.05));
      take(tokenizer.push(bytes.update(chunk)));
    }
    builder ??= new RowIndexBuilder(randomSeeds());
    take(tokenizer.push(bytes.finish()));
    take(tokenizer.end());
    if (!headerRead)
      throw new UsageError('input.empty', `${name}: no header row (the file is empty); nothing was sent`, {
        hint: 'the first line of a CSV file names its columns',
      });
    const emptyRowsSkipped = tokenizer.emptyRowsSkipped > 0;
    const digests = bytes.digests();
    const fingerprint = bytes.digest(emptyRowsSkipped ? `${definition}${EMPTY_ROWS}` : definition);
    return { fingerprint, lines: bytes.lines, bytes: digests, index: builder.build(), ...(emptyRowsSkipped ? { emptyRowsSkipped } : {}) };
  } catch (error) {
    if (error instanceof CsvSyntaxError) {
      throw new UsageError('input.csv_malformed', `${name}:${error.line}: ${error.message}; nothing was sent`, { hint: error.hint });
    }
    throw error;
  }
}

/** The index of records read by any reader, from the ID each names (small inputs, JSONL). */
export async function indexOfRecords(
  records: AsyncIterable<readonly { readonly key: string | undefined; readonly line?: number | undefined }[]>,
  expectedRows?: number,
): Promise<RowIndex> {
  const builder = new RowIndexBuilder(randomSeeds(), expectedRows);
  for await (const batch of records) for (const record of batch) builder.add(record.key, record.line);
  return builder.build();
}
