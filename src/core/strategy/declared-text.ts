/**
 * A strategies declaration read from its text — JSON or simple YAML (Helm values), then its rows —
 * and that text with rows appended. Invariant: text is read only when every reader would read it
 * the same way (no duplicate JSON key, no YAML form readers disagree on), and appending inserts
 * the new rows' text at the end of the list, leaving every other byte of the file as it was.
 * Apart from declared.ts so that a profile that declares nothing never loads the YAML reader or
 * the validator (a sixth of a remote command's start-up).
 */
import { UsageError } from '../errors.js';
import { readJsonTree, type JsonNode } from '../json-text.js';
import { exportStrategies, yamlString } from './export.js';
import { parseSimpleYaml, type YamlPath } from './simple-yaml.js';
import type { StrategyRow } from './strategy.js';
import { strategyRowsFrom } from './validate.js';

/** JSON when the text starts like JSON, simple YAML otherwise (whatever the file is called). */
export function parseStrategyText(text: string, file: string): unknown {
  const body = text.replace(/^\uFEFF/, '');
  if (isJson(body)) {
    const tree = jsonTree(body, file);
    const parsed: unknown = JSON.parse(body);
    exactIds(body, tree, parsed, file);
    return parsed;
  }
  if (body.trim() === '') throw new UsageError('strategy.invalid', `${file}: the file is empty`);
  return parseSimpleYaml(body, file, rowsPath);
}

/** The strategy rows a declaration document holds (the JSON of `strategy export --format json`, Helm values, …). */
export function declaredRows(document: unknown, source: string): StrategyRow[] {
  return strategyRowsFrom(document, source);
}

/**
 * The text of a declaration (already read, so of a shape `declaredRows` accepts) with `rows`
 * appended to its list: in JSON inserted after the list's last row, in the style of that row; in
 * YAML as entries after the file's last line, in the file's line endings (a byte-order mark
 * stays). The caller reads the result back: YAML entries land in the strategies list only when
 * it is what ends the file.
 */
export function appendedText(text: string, rows: readonly StrategyRow[], file: string): string {
  const bom = text.startsWith('\uFEFF') ? '\uFEFF' : '';
  const body = text.slice(bom.length);
  // A file's own line endings: a CRLF file stays CRLF.
  const eol = body.includes('\r\n') ? '\r\n' : '\n';
  return bom + (isJson(body) ? appendedJson(body, rows, eol, file) : appendedYaml(body, rows, eol));
}

/**
 * Refuses a row's id that JSON.parse reads as another number (`6.9999999999999999` as 7,
 * `9007199254740993` as …992): the id names the strategy everywhere. Only the rows' ids are
 * judged: the other values of a chart's values file are not sparctl's to read.
 */
function exactIds(body: string, tree: JsonNode, parsed: unknown, file: string): void {
  let list: JsonNode | undefined = tree;
  for (const key of rowsPath(parsed)) list = list?.members?.get(key as string);
  for (const row of list?.items ?? (list?.members !== undefined ? [list] : [])) {
    const id = row.members?.get('id');
    if (id === undefined) continue;
    const written = body.slice(id.start, id.end);
    if (/^-?[0-9]/.test(written) && String(JSON.parse(written)) !== written)
      throw new UsageError(
        'strategy.invalid',
        `${file}: ${lineColumn(body, id.start)}: the id ${written.length > 30 ? `${written.slice(0, 30)}…` : written} is read as ${String(JSON.parse(written))}; a strategy id is a whole number from 1 to ${2 ** 31 - 1}`,
      );
  }
}

/** "line 3, column 9" of an offset into the text. */
function lineColumn(text: string, at: number): string {
  const before = text.slice(0, at);
  const line = before.split('\n').length;
  return `line ${line}, column ${at - before.lastIndexOf('\n')}`;
}

function isJson(body: string): boolean {
  return /^\s*[[{]/.test(body);
}

/**
 * Where in a declaration document its rows are, as strategyRowsFrom reads them: `[]` for a list
 * (or a single row), else the path of the `strategies` list.
 */
function rowsPath(document: unknown): YamlPath {
  if (!isRecord(document)) return [];
  const seed = document['seedData'];
  if (
    isRecord(seed) &&
    Array.isArray(seed['strategies']) &&
    Object.keys(document).every((key) => key === 'seedData' || !ROW_KEYS.includes(key))
  )
    return ['seedData', 'strategies'];
  if (Array.isArray(document['strategies']) && Object.keys(document).length === 1) return ['strategies'];
  return [];
}

/** strategyRowsFrom's row fields: a document with one of them at its top is a single row. */
const ROW_KEYS: readonly string[] = ['id', 'strategy_type', 'construct_strategy', 'deconstruct_strategy', 'description', 'active'];

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * The text's JSON tree; a syntax error or a key twice in one object is exit 2 naming the line and
 * column (json-text.ts) — never the text.
 */
function jsonTree(body: string, file: string): JsonNode {
  const read = readJsonTree(body);
  if ('node' in read) return read.node;
  const detail = read.problem.startsWith('line') ? `: ${read.problem}` : ` (${read.problem})`;
  throw new UsageError('strategy.invalid', `${file}: not valid JSON${detail}`);
}

/** Rows inserted after the last row of the document's list, each as that row is laid out (indent, one line or several). */
function appendedJson(body: string, rows: readonly StrategyRow[], eol: string, file: string): string {
  let list = jsonTree(body, file);
  for (const key of rowsPath(JSON.parse(body) as unknown)) list = list.members!.get(key as string)!;
  const last = list.items?.at(-1);
  if (last === undefined) {
    throw new UsageError('strategy.file_append', `strategiesFile ${file}: a file holding one strategy object cannot be appended to`, {
      hint: 'make it a list: [ {…} ]',
    });
  }
  const lineStart = body.lastIndexOf('\n', last.start - 1) + 1;
  const ownLine = /^[ \t]*$/.test(body.slice(lineStart, last.start));
  const indent = ownLine ? body.slice(lineStart, last.start) : '';
  const inner = /\n([ \t]*)/.exec(body.slice(last.start, last.end))?.[1];
  // A row over several lines: its members indented one step more than it, as the file's rows are.
  const step =
    inner === undefined ? undefined : inner.startsWith(indent) && inner.length > indent.length ? inner.slice(indent.length) : '  ';
  const separator = ownLine ? `,${eol}${indent}` : ', ';
  const added = rows
    .map((row) => (JSON.parse(exportStrategies([row], 'json')) as unknown[])[0])
    .map(
      (row) =>
        separator +
        (step === undefined
          ? JSON.stringify(row)
          : JSON.stringify(row, null, step)
              .split('\n')
              .join(eol + indent)),
    )
    .join('');
  return body.slice(0, last.end) + added + body.slice(last.end);
}

/** YAML list entries for the rows after the file's last line, indented as its last list item is. */
function appendedYaml(body: string, rows: readonly StrategyRow[], eol: string): string {
  // The last "- " of the file: if the strategies list ends the file, its last item (rows hold no lists).
  const items = [...body.matchAll(/^( *)-(?: |\r?$)/gm)];
  const indent = items.at(-1)?.[1] ?? '';
  const lines: string[] = [];
  for (const row of rows) {
    lines.push(`${indent}- id: ${row.id}`);
    lines.push(`${indent}  description: ${yamlString(row.description ?? '')}`);
    lines.push(`${indent}  strategy_type: ${row.strategy_type}`);
    lines.push(`${indent}  construct_strategy: ${yamlString(row.construct_strategy)}`);
    lines.push(`${indent}  deconstruct_strategy: ${yamlString(row.deconstruct_strategy)}`);
    if (!row.active) lines.push(`${indent}  active: false`);
  }
  const separator = body === '' || body.endsWith('\n') ? '' : eol;
  return `${body}${separator}${lines.join(eol)}${eol}`;
}
