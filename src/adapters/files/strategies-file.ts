/**
 * A remote profile's declared strategies, read from its `strategiesFile` and inline
 * `strategies`, and `strategy add`'s append to that file. Invariant: the file is only ever
 * appended to — rows already in it are never changed, reordered or dropped — and the new text
 * replaces the old one whole (written beside it, then renamed) only once it reads back as the
 * old rows followed by the new ones.
 */
import { constants } from 'node:fs';
import { open, readFile, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { SparctlError, UsageError } from '../../core/errors.js';
import { combineDeclared, strategyDifferences, type SourcedRow } from '../../core/strategy/declared.js';
import { compileStrategy, type Strategy, type StrategyRow } from '../../core/strategy/strategy.js';
import type { Settings } from '../../config/settings.js';

type Declaring = Pick<Settings, 'profile' | 'strategiesFile' | 'strategies'>;

/** "file /etc/sparctl/strategies.json" */
export const fileSource = (path: string) => `file ${path}`;
/** "profile prod (inline)" */
export const inlineSource = (profile: string) => `profile ${profile} (inline)`;

/** The file's text, or undefined when it does not exist; any other failure to read is exit 2, naming it. */
async function readText(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return undefined;
    throw new UsageError('strategy.invalid', `strategiesFile ${path}: cannot be read (${code ?? (error as Error).message})`);
  }
}

/** Reads declarations: loaded only for a profile that declares some (it brings the YAML reader and the validator). */
type DeclarationReader = typeof import('../../core/strategy/declared-text.js');
const declarationReader = (): Promise<DeclarationReader> => import('../../core/strategy/declared-text.js');

/** The rows of a strategies file's text. */
function rowsOfText(reader: DeclarationReader, text: string, path: string): StrategyRow[] {
  return reader.declaredRows(reader.parseStrategyText(text, `strategiesFile ${path}`), `strategiesFile ${path}`);
}

/** The strategies the profile knows: built-in, then its file's, then its inline ones, each with its source. */
export async function declaredStrategyRows(settings: Declaring, options: { missingFileIsEmpty?: boolean } = {}): Promise<SourcedRow[]> {
  const declared: { source: string; rows: StrategyRow[] }[] = [];
  if (settings.strategiesFile === undefined && settings.strategies === undefined) return combineDeclared(declared);
  const reader = await declarationReader();
  if (settings.strategiesFile !== undefined) {
    const path = settings.strategiesFile;
    const text = await readText(path);
    if (text === undefined && options.missingFileIsEmpty) {
      // strategy add is about to create it.
    } else if (text === undefined) {
      throw new UsageError('strategy.invalid', `strategiesFile ${path}: no such file`, {
        hint: `fix the path in profile "${settings.profile}" (relative paths are relative to the config file), or create it with "sparctl --profile ${settings.profile} strategy add"`,
      });
    } else {
      declared.push({ source: fileSource(path), rows: rowsOfText(reader, text, path) });
    }
  }
  if (settings.strategies !== undefined) {
    const source = inlineSource(settings.profile);
    declared.push({ source, rows: reader.declaredRows(settings.strategies, `profile ${settings.profile}: strategies`) });
  }
  return combineDeclared(declared);
}

/** The profile's strategies compiled, each keeping its source; one that cannot be compiled is exit 2, naming where it is declared. */
export async function declaredStrategies(settings: Declaring): Promise<Strategy[]> {
  return (await declaredStrategyRows(settings)).map((row) => {
    try {
      return { ...compileStrategy(row), source: row.source };
    } catch (error) {
      if (!(error instanceof SparctlError)) throw error;
      const where = row.source.startsWith('file ') ? `strategiesFile ${row.source.slice('file '.length)}` : row.source;
      throw new UsageError('strategy.invalid', `${where}: strategy ${row.id}: ${error.message}`, {
        hint: '"sparctl strategy validate --file FILE" shows what is wrong',
      });
    }
  });
}

/**
 * Appends rows to the strategies file (creating it as JSON when it does not exist yet); `dryRun`
 * checks that it could and writes nothing. A JSON file gets its list rewritten with the rows
 * added; a YAML file (Helm values) gets the rows as text after its last line, which must then
 * read back as its rows followed by them — a list that does not end the file is refused, with
 * the lines to add by hand.
 */
export async function appendToStrategiesFile(
  path: string,
  rows: readonly StrategyRow[],
  dryRun: boolean,
): Promise<{ readonly created: boolean }> {
  const [reader, { exportStrategies, yamlString }] = await Promise.all([declarationReader(), import('../../core/strategy/export.js')]);
  const text = await readText(path);
  if (text === undefined) {
    if (!dryRun) await replaceFile(path, exportStrategies(rows, 'json'), undefined);
    return { created: true };
  }
  const before = rowsOfText(reader, text, path);
  const body = text.replace(/^\uFEFF/, '');
  let next: string;
  if (/^\s*[[{]/.test(body)) {
    const document = JSON.parse(body) as unknown;
    const list = jsonList(document);
    const json = JSON.parse(exportStrategies(rows, 'json')) as unknown[];
    list.push(...json);
    next = `${JSON.stringify(document, null, 2)}\n`;
  } else {
    next = `${body}${body.endsWith('\n') ? '' : '\n'}${yamlEntries(body, rows, yamlString)}`;
  }
  const after = readsBackAs(reader, next, path);
  const expected = [...before, ...rows];
  const same = (row: StrategyRow, i: number) => row.id === expected[i]!.id && strategyDifferences(row, expected[i]!).length === 0;
  if (after === undefined || after.length !== expected.length || !after.every(same)) {
    throw new UsageError(
      'strategy.file_append',
      `strategiesFile ${path}: the new strategies cannot be appended safely (its strategies list is not the last thing in the file); nothing was written`,
      { hint: 'add them to its seedData.strategies by hand: "sparctl strategy export --format helm" with the same definition prints them' },
    );
  }
  if (!dryRun) await replaceFile(path, next, (await stat(path)).mode & 0o777);
  return { created: false };
}

function readsBackAs(reader: DeclarationReader, text: string, path: string): StrategyRow[] | undefined {
  try {
    return rowsOfText(reader, text, path);
  } catch {
    return undefined;
  }
}

/** The list a JSON strategies document holds its rows in (strategyRowsFrom has accepted its shape). */
function jsonList(document: unknown): unknown[] {
  if (Array.isArray(document)) return document;
  const record = document as Record<string, unknown>;
  const seed = record['seedData'] as Record<string, unknown> | undefined;
  if (seed !== undefined && Array.isArray(seed['strategies'])) return seed['strategies'];
  if (Array.isArray(record['strategies'])) return record['strategies'];
  // A single strategy object: the file becomes a list of it and the new ones.
  throw new UsageError('strategy.file_append', 'a file holding one strategy object cannot be appended to', {
    hint: 'make it a list: [ {…} ]',
  });
}

/** YAML list entries for the rows, indented as the file's last "- id:" entry is. */
function yamlEntries(text: string, rows: readonly StrategyRow[], yamlString: (text: string) => string): string {
  const items = [...text.matchAll(/^( *)- +id *:/gm)];
  const indent = items.length > 0 ? items[items.length - 1]![1]! : '    ';
  const lines: string[] = [];
  for (const row of rows) {
    lines.push(`${indent}- id: ${row.id}`);
    lines.push(`${indent}  description: ${yamlString(row.description ?? '')}`);
    lines.push(`${indent}  strategy_type: ${row.strategy_type}`);
    lines.push(`${indent}  construct_strategy: ${yamlString(row.construct_strategy)}`);
    lines.push(`${indent}  deconstruct_strategy: ${yamlString(row.deconstruct_strategy)}`);
    if (!row.active) lines.push(`${indent}  active: false`);
  }
  return `${lines.join('\n')}\n`;
}

/** Writes `text` beside `path` and renames it over: a reader sees the old file or the new one, never half of one. */
async function replaceFile(path: string, text: string, mode: number | undefined): Promise<void> {
  const temp = join(dirname(path), `.${basename(path)}.${process.pid}.tmp`);
  try {
    const handle = await open(temp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, mode ?? 0o644);
    try {
      await handle.writeFile(text, 'utf8');
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temp, path);
  } catch (error) {
    await rm(temp, { force: true });
    if (error instanceof SparctlError) throw error;
    const code = (error as NodeJS.ErrnoException).code;
    throw new UsageError(
      'strategy.file_append',
      `strategiesFile ${path}: cannot be written (${code ?? (error as Error).message}); nothing was written`,
    );
  }
}
