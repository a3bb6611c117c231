/**
 * A reader for the small subset of YAML that strategy files use (the chart's `values.yaml`, and
 * what `sparctl strategy export --format helm` writes), so that no YAML dependency is needed:
 * block mappings and block lists by indentation, one-line scalars (plain, 'single-quoted',
 * "double-quoted"), comments, and the empty flow collections `[]` and `{}`.
 *
 * Anything else (anchors, aliases, tags, flow collections with content, block scalars `|` `>`,
 * plain scalars spread over several lines, tabs as indentation, a second document, plain values
 * YAML 1.1 readers such as Helm's read otherwise than YAML 1.2 ones — `010`, `yes`, `1e3`) is
 * refused with its line number rather than read in some approximate way: a strategy is exact
 * text. Messages name the line and what is wrong, never the text: a strategiesFile pointed at a
 * secret by mistake must not print it.
 *
 * Why not the `yaml` package (issue "A house…" asked): a full YAML reader accepts, without a
 * word, the forms that change a template. Checked with yaml 2.9.1's parse():
 * `construct_strategy: |⏎  bank:{a}` gives "bank:{a}\n" (a trailing line break);
 * `construct_strategy: bank:{a}⏎  |account:{b}` gives "bank:{a} |account:{b}" (a space
 * folded in); `construct_strategy: {account_number}` gives an object; `description: 0012` the
 * number 12. Each would reach SPAR as a different strategy. This reader refuses all of them.
 */
import { UsageError } from '../errors.js';

export type YamlValue = string | number | boolean | null | YamlValue[] | { [key: string]: YamlValue };

interface Line {
  readonly number: number;
  readonly indent: number;
  /** The line without indentation and without a trailing comment. */
  readonly text: string;
}

class YamlSubsetError extends Error {}

export type YamlPath = readonly (string | number)[];

/** A plain value that YAML readers disagree on, where it is. */
interface Ambiguity {
  readonly line: Line;
  readonly path: YamlPath;
  readonly why: string;
}

interface State {
  at: number;
  readonly ambiguous: Ambiguity[];
}

/**
 * The document in `yamlText`. `readPart` says which part of it the caller reads (by default, all
 * of it): a plain value there that YAML readers read differently is refused; elsewhere (the rest
 * of a chart's values.yaml) it is left as it is, since its value does not matter.
 */
export function parseSimpleYaml(yamlText: string, file: string, readPart: (document: YamlValue) => YamlPath = () => []): YamlValue {
  try {
    const lines = splitLines(yamlText);
    if (lines.length === 0) return null;
    const state: State = { at: 0, ambiguous: [] };
    const value = parseBlock(lines, state, lines[0]!.indent, []);
    if (state.at < lines.length) fail(lines[state.at]!, 'unexpected indentation');
    const part = readPart(value);
    const read = state.ambiguous.find((a) => part.every((key, i) => a.path[i] === key));
    if (read !== undefined) fail(read.line, `${read.why}; quote it if it is text`);
    return value;
  } catch (error) {
    if (!(error instanceof YamlSubsetError)) throw error;
    throw new UsageError('strategy.yaml_unsupported', `${file}: ${error.message}`, {
      hint: 'sparctl reads a simple subset of YAML (block mappings and lists, one-line quoted or plain values); write the file as JSON otherwise',
    });
  }
}

function fail(line: Line | { number: number }, message: string): never {
  throw new YamlSubsetError(`line ${line.number}: ${message}`);
}

/**
 * The lines that hold something, of one document: a `---` may open it and a `...` end it (at
 * column 0, as YAML has them), but a second document is refused — a full reader would not merge it.
 */
function splitLines(yamlText: string): Line[] {
  const lines: Line[] = [];
  const raw = yamlText.replace(/^\uFEFF/, '').split(/\r?\n/);
  // A lone CR, NEL, LS or PS is a line break to YAML 1.1 readers (Helm's, PyYAML) and text to
  // others: a value holding one would be one strategy here and another in the deployment.
  raw.forEach((text, index) => {
    const odd = /[\r\u0085\u2028\u2029]/.exec(text);
    if (odd !== null)
      fail(
        { number: index + 1 },
        `U+${odd[0].charCodeAt(0).toString(16).toUpperCase().padStart(4, '0')} is a line break to some YAML readers and not to others; remove it`,
      );
  });
  let ended: number | undefined;
  raw.forEach((text, index) => {
    const number = index + 1;
    const indentMatch = /^[ \t]*/.exec(text)![0];
    const body = stripComment(text.slice(indentMatch.length), number);
    if (body === '') return;
    if (ended !== undefined)
      fail({ number }, `text after the end of the YAML document (the "..." of line ${ended}); one document per file`);
    if (indentMatch === '' && /^(---|\.\.\.)([ \t]|$)/.test(body)) {
      if (body.length > 3) fail({ number }, 'text on a document marker line (--- or ...) is not supported');
      if (body === '...') ended = number;
      else if (lines.length > 0) fail({ number }, 'a second YAML document (---) is not supported; one document per file');
      return;
    }
    if (indentMatch.includes('\t')) fail({ number }, 'tabs cannot indent YAML; use spaces');
    if (body.startsWith('%')) fail({ number }, 'YAML directives are not supported');
    lines.push({ number, indent: indentMatch.length, text: body });
  });
  return lines;
}

/** YAML's white space is the space and the tab only (JavaScript's trim also takes U+00A0, U+3000, U+FEFF…, which YAML keeps in a value). */
const yamlTrim = (text: string): string => text.replace(/^[ \t]+|[ \t]+$/g, '');
const yamlTrimEnd = (text: string): string => text.replace(/[ \t]+$/, '');

/** Drops a `#` comment that starts the line or follows whitespace, outside quotes. */
function stripComment(text: string, number: number): string {
  let quote: string | null = null;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quote === "'") {
      if (c === "'") {
        if (text[i + 1] === "'") i++;
        else quote = null;
      }
    } else if (quote === '"') {
      if (c === '\\') i++;
      else if (c === '"') quote = null;
    } else if (c === '#' && (i === 0 || text[i - 1] === ' ' || text[i - 1] === '\t')) {
      return yamlTrimEnd(text.slice(0, i));
    } else if ((c === "'" || c === '"') && (i === 0 || /[ \t:\-[{,]/.test(text[i - 1]!))) {
      quote = c;
    }
  }
  if (quote !== null)
    fail(
      { number },
      `the ${quote === "'" ? 'single' : 'double'}-quoted value is not closed on this line (multi-line values are not supported)`,
    );
  return yamlTrimEnd(text);
}

/** A block (mapping or list) whose lines are indented exactly `indent`. */
function parseBlock(lines: Line[], state: State, indent: number, path: YamlPath): YamlValue {
  const first = lines[state.at]!;
  if (isListItem(first.text)) return parseList(lines, state, indent, path);
  if (splitKey(first) !== null) return parseMapping(lines, state, indent, path);
  // A lone scalar document.
  state.at++;
  return parseValue(first.text, first, state, path);
}

function isListItem(text: string): boolean {
  return text === '-' || text.startsWith('- ');
}

function parseList(lines: Line[], state: State, indent: number, path: YamlPath): YamlValue[] {
  const items: YamlValue[] = [];
  while (state.at < lines.length) {
    const line = lines[state.at]!;
    if (line.indent < indent) break;
    if (line.indent > indent) fail(line, 'unexpected indentation');
    if (!isListItem(line.text)) break;
    const rest = line.text.slice(1).replace(/^ +/, '');
    const itemPath = [...path, items.length];
    if (rest === '') {
      state.at++;
      items.push(nestedOrNull(lines, state, indent, itemPath));
      continue;
    }
    // "- key: value" opens a mapping whose keys line up with "key".
    const itemIndent = indent + (line.text.length - rest.length);
    const inner: Line = { number: line.number, indent: itemIndent, text: rest };
    if (isListItem(rest) || splitKey(inner) !== null) {
      lines[state.at] = inner;
      items.push(parseBlock(lines, state, itemIndent, itemPath));
    } else {
      state.at++;
      items.push(parseValue(rest, line, state, itemPath));
    }
  }
  return items;
}

function parseMapping(lines: Line[], state: State, indent: number, path: YamlPath): { [key: string]: YamlValue } {
  const map: { [key: string]: YamlValue } = {};
  const keyLines = new Map<string, number>();
  while (state.at < lines.length) {
    const line = lines[state.at]!;
    if (line.indent < indent) break;
    if (line.indent > indent) fail(line, 'unexpected indentation');
    const split = splitKey(line);
    if (split === null) {
      if (isListItem(line.text)) break;
      fail(line, 'expected "key: value"');
    }
    // The key is not quoted back: a file read by mistake may hold secrets.
    const earlier = keyLines.get(split.key);
    if (earlier !== undefined) fail(line, `this key appears twice in one mapping (also on line ${earlier})`);
    if (split.key === '<<' && !/^['"]/.test(line.text)) fail(line, 'merge keys (<<) are not supported');
    keyLines.set(split.key, line.number);
    state.at++;
    const keyPath = [...path, split.key];
    const value = split.value === '' ? nestedOrNull(lines, state, indent, keyPath, true) : parseValue(split.value, line, state, keyPath);
    Object.defineProperty(map, split.key, { value, enumerable: true, writable: true, configurable: true });
  }
  return map;
}

/** The block under a "key:" or "-" with nothing after it; a list may sit at the key's own indent. */
function nestedOrNull(lines: Line[], state: State, indent: number, path: YamlPath, listMayAlign = false): YamlValue {
  const next = lines[state.at];
  if (next === undefined) return null;
  if (next.indent > indent) return parseBlock(lines, state, next.indent, path);
  if (listMayAlign && next.indent === indent && isListItem(next.text)) return parseList(lines, state, indent, path);
  return null;
}

/** `key: value` (the key plain or quoted), or null when the line is not a mapping entry. */
function splitKey(line: Line): { key: string; value: string } | null {
  const text = line.text;
  if (text.startsWith('"') || text.startsWith("'")) {
    const end = quotedEnd(text, line);
    const after = text.slice(end);
    if (!/^:( |$)/.test(after)) return null;
    return { key: String(parseScalar(text.slice(0, end), line)), value: yamlTrim(after.slice(1)) };
  }
  const match = /^([^:# \t][^:]*?|[^:# \t]):( |$)/.exec(text);
  if (match === null || isListItem(text)) return null;
  return { key: yamlTrimEnd(match[1]!), value: yamlTrim(text.slice(match[0].length)) };
}

/** Index just past the closing quote of the quoted scalar that starts `text`. */
function quotedEnd(text: string, line: Line): number {
  const quote = text[0];
  for (let i = 1; i < text.length; i++) {
    if (quote === "'" && text[i] === "'") {
      if (text[i + 1] === "'") i++;
      else return i + 1;
    } else if (quote === '"') {
      if (text[i] === '\\') i++;
      else if (text[i] === '"') return i + 1;
    }
  }
  return fail(line, 'the quoted value is not closed on this line (multi-line values are not supported)');
}

/** A value's scalar, noting a plain one that YAML readers disagree on. */
function parseValue(text: string, line: Line, state: State, path: YamlPath): YamlValue {
  const why = /^['"]/.test(text) ? undefined : ambiguity(text);
  if (why !== undefined) state.ambiguous.push({ line, path, why });
  return parseScalar(text, line);
}

/**
 * Why a plain value is read one way by YAML 1.1 readers (Helm's, PyYAML) and another by YAML 1.2
 * ones or by this reader, or undefined: the value would reach SPAR as something else than sparctl read.
 */
function ambiguity(text: string): string | undefined {
  if (/^[-+]?[0-9]+$/.test(text) && !Number.isSafeInteger(Number(text)))
    return 'a whole number this large is not read exactly; no strategy id is so large';
  if (/^[-+]?0[0-9_]+$/.test(text))
    return 'a number with a leading zero is octal to YAML 1.1 readers (Helm, PyYAML) and decimal to others; write it without the zero';
  if (/^[-+]?0[xXoObB]/.test(text)) return 'a hexadecimal, octal or binary number (0x, 0o, 0b) is read differently by YAML readers';
  if (/^[-+]?[0-9.][0-9_.:]*$/.test(text) && text.includes('_'))
    return 'a number with underscores is a number to YAML 1.1 readers (Helm) and text to others';
  if (/^[-+]?[0-9][0-9_]*(:[0-5]?[0-9])+(\.[0-9_]*)?$/.test(text))
    return 'a base-60 number (such as 1:30) is a number to YAML 1.1 readers (Helm) and text to others';
  if (/^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)[eE][-+]?[0-9]+$/.test(text))
    return 'a number with an exponent is a number to some YAML readers and text to others';
  if (/^[-+]?\.(inf|Inf|INF|nan|NaN|NAN)$/.test(text)) return 'infinity and not-a-number (.inf, .nan) are not supported';
  if (/^(y|Y|yes|Yes|YES|n|N|no|No|NO|on|On|ON|off|Off|OFF)$/.test(text))
    return 'yes, no, on, off, y and n are true or false to YAML 1.1 readers (Helm) and text to others; write true or false';
  if (YAML11_TIMESTAMP.test(text)) return 'a date is a timestamp to YAML 1.1 readers and text to others';
  return undefined;
}

/**
 * YAML 1.1's timestamp (yaml.org/type/timestamp.html, as PyYAML resolves it): a date alone, or a
 * date and a whole time; `2024-05-01 migration` is text to every reader.
 */
const YAML11_TIMESTAMP =
  /^(?:[0-9]{4}-[0-9]{2}-[0-9]{2}|[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}(?:[Tt]|[ \t]+)[0-9]{1,2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]*)?(?:[ \t]*(?:Z|[-+][0-9]{1,2}(?::[0-9]{2})?))?)$/;

function parseScalar(text: string, line: Line): YamlValue {
  if (text.startsWith("'") || text.startsWith('"')) {
    const end = quotedEnd(text, line);
    if (yamlTrim(text.slice(end)) !== '') fail(line, 'unexpected text after the quoted value');
    return text.startsWith("'") ? text.slice(1, end - 1).replace(/''/g, "'") : unescapeDouble(text.slice(1, end - 1), line);
  }
  if (text === '[]') return [];
  if (text === '{}') return {};
  if (/^[[{&*!|>%@`\],]/.test(text)) {
    const what = /^[[{]/.test(text)
      ? 'flow collections'
      : /^[|>]/.test(text)
        ? 'block scalars (| and >)'
        : /^[&*]/.test(text)
          ? 'anchors and aliases'
          : /^!/.test(text)
            ? 'tags'
            : `values starting with ${text[0]}`;
    fail(line, `${what} are not supported; quote the value`);
  }
  if (/: |:$/.test(text)) fail(line, 'a plain value cannot contain ": "; quote it');
  if (/^(~|null|Null|NULL)$/.test(text)) return null;
  if (/^(true|True|TRUE)$/.test(text)) return true;
  if (/^(false|False|FALSE)$/.test(text)) return false;
  // (A whole number past 2^53 is told by ambiguity(), only where the strategies are read.)
  if (/^[-+]?[0-9]+$/.test(text)) return Number(text);
  if (/^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$/.test(text)) return Number(text);
  return text;
}

const DOUBLE_ESCAPES: Readonly<Record<string, string>> = {
  '0': '\0',
  a: '\x07',
  b: '\b',
  t: '\t',
  '\t': '\t',
  n: '\n',
  v: '\v',
  f: '\f',
  r: '\r',
  e: '\x1b',
  ' ': ' ',
  '"': '"',
  '/': '/',
  '\\': '\\',
  N: '\x85',
  _: '\xa0',
  L: '\u2028',
  P: '\u2029',
};

function unescapeDouble(body: string, line: Line): string {
  let out = '';
  for (let i = 0; i < body.length; i++) {
    const c = body[i]!;
    if (c !== '\\') {
      out += c;
      continue;
    }
    const next = body[++i] ?? '';
    const simple = DOUBLE_ESCAPES[next];
    if (simple !== undefined) {
      out += simple;
      continue;
    }
    const width = next === 'x' ? 2 : next === 'u' ? 4 : next === 'U' ? 8 : 0;
    const hex = body.slice(i + 1, i + 1 + width);
    if (width === 0 || !/^[0-9a-fA-F]+$/.test(hex) || hex.length !== width) fail(line, 'an unknown escape in a double-quoted value');
    const cp = parseInt(hex, 16);
    if (cp > 0x10ffff) fail(line, 'an escape in a double-quoted value is not a Unicode code point');
    out += String.fromCodePoint(cp);
    i += width;
  }
  return out;
}
