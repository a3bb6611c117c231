/**
 * SPAR builds a stored financial address with `construct_strategy.format(**fa)`, every value a
 * str. This module reproduces the subset of Python 3.11's `str.format` that such templates need,
 * byte for byte, and refuses the rest with a reason rather than guess.
 *
 * The parser mirrors CPython's `Objects/stringlib/unicode_format.h` (MarkupIterator,
 * parse_field, field_name_split) so that the same templates are accepted and rejected.
 *
 * Supported: literal text, `{{` and `}}`, and `{key}` for any key Python would look up in the
 * kwargs (`{ a }`, `{foo-bar}`, `{1a}`), plus the identities `{key!s}` and `{key:}`.
 * `strategy.format_invalid`: what Python rejects whatever the values (stray braces, unterminated
 * fields, positional fields such as `{}` `{0}` `{٣}`, bad conversions, bad `.attr`/`[i]` syntax).
 * `strategy.format_unsupported`: what Python accepts but sparctl does not reproduce (format specs,
 * `!r` `!a`, attribute and index lookups). Template errors are reported before missing values.
 */
import { StrategyError } from '../errors.js';
import { isPythonDecimalDigit } from './python-regex.js';

export type FormatPart = { readonly literal: string } | { readonly field: string };

export interface FormatTemplate {
  readonly template: string;
  readonly parts: ReadonlyArray<FormatPart>;
  /** Unique field names, in order of first appearance. */
  readonly fields: readonly string[];
}

/** One `{…}` replacement field as CPython's parse_field splits it. */
interface ReplacementField {
  readonly name: string;
  /** The character after `!`, or null when there is no conversion. */
  readonly conversion: string | null;
  readonly spec: string;
  readonly specNeedsExpanding: boolean;
  /** Code-point index of the opening `{`, for messages. */
  readonly position: number;
}

type MarkupItem = { readonly literal: string } | { readonly field: ReplacementField };

/** CPython's build_string starts at depth 2: a format spec may nest fields one level deep. */
const FORMAT_RECURSION_DEPTH = 2;

const INVALID_HINT = 'fix the construct template: write a literal brace as {{ or }}, and name every field, e.g. {account_number}';
const UNSUPPORTED_HINT = 'use plain {name} fields; sparctl does not reproduce format specs, conversions, attributes or indexes';

function invalid(template: string, reason: string): StrategyError {
  return new StrategyError(
    'strategy.format_invalid',
    `construct template ${JSON.stringify(template)} is rejected by Python's str.format: ${reason}`,
    { hint: INVALID_HINT },
  );
}

function unsupported(template: string, reason: string): StrategyError {
  return new StrategyError(
    'strategy.format_unsupported',
    `construct template ${JSON.stringify(template)} uses ${reason}, which sparctl cannot reproduce faithfully`,
    { hint: UNSUPPORTED_HINT },
  );
}

function codePointIndex(text: string, utf16Index: number): number {
  let count = 0;
  for (const _ of text.slice(0, utf16Index)) count++;
  return count;
}

/**
 * Splits a template into literal text and replacement fields exactly as CPython's MarkupIterator
 * does, throwing the ValueErrors it raises. The syntax characters are all ASCII, so scanning
 * UTF-16 code units is safe: a surrogate never equals one of them.
 */
function scanMarkup(template: string, reported: string): MarkupItem[] {
  const items: MarkupItem[] = [];
  const end = template.length;
  let i = 0;
  while (i < end) {
    const start = i;
    let c = '';
    let markupFollows = false;
    while (i < end) {
      c = template[i++] as string;
      if (c === '{' || c === '}') {
        markupFollows = true;
        break;
      }
    }
    const atEnd = i >= end;
    let length = i - start;
    if (c === '}' && markupFollows && (atEnd || template[i] !== '}')) {
      throw invalid(reported, `Single '}' encountered in format string (at index ${codePointIndex(template, i - 1)})`);
    }
    if (atEnd && c === '{' && markupFollows) {
      throw invalid(reported, `Single '{' encountered in format string (at index ${codePointIndex(template, i - 1)})`);
    }
    if (!atEnd && markupFollows) {
      if (template[i] === c) {
        // A doubled brace is literal text: keep one, skip the other.
        i++;
        markupFollows = false;
      } else {
        length--;
      }
    }
    if (length > 0) items.push({ literal: template.slice(start, start + length) });
    if (!markupFollows) continue;
    const parsed = parseField(template, i, reported);
    items.push({ field: parsed.field });
    i = parsed.next;
  }
  return items;
}

/** CPython's parse_field: `i` is just past the opening `{`. */
function parseField(template: string, i: number, reported: string): { field: ReplacementField; next: number } {
  const end = template.length;
  const position = codePointIndex(template, i - 1);
  const nameStart = i;
  let c = '';
  while (i < end) {
    c = template[i++] as string;
    if (c === '{') throw invalid(reported, `unexpected '{' in field name (field at index ${position})`);
    if (c === '[') {
      // Inside brackets nothing ends the name, not even '}' or ':'.
      while (i < end && template[i] !== ']') i++;
      continue;
    }
    if (c === '}' || c === ':' || c === '!') break;
  }
  const name = template.slice(nameStart, i - 1);
  if (c !== '!' && c !== ':') {
    if (c !== '}') throw invalid(reported, `expected '}' before end of string (field at index ${position})`);
    return { field: { name, conversion: null, spec: '', specNeedsExpanding: false, position }, next: i };
  }
  let conversion: string | null = null;
  if (c === '!') {
    if (i >= end) {
      throw invalid(reported, `end of string while looking for conversion specifier (field at index ${position})`);
    }
    conversion = String.fromCodePoint(template.codePointAt(i) as number);
    i += conversion.length;
    if (i < end) {
      c = template[i++] as string;
      if (c === '}') return { field: { name, conversion, spec: '', specNeedsExpanding: false, position }, next: i };
      if (c !== ':') throw invalid(reported, `expected ':' after conversion specifier (field at index ${position})`);
    }
  }
  const specStart = i;
  let depth = 1;
  let specNeedsExpanding = false;
  while (i < end) {
    c = template[i++] as string;
    if (c === '{') {
      specNeedsExpanding = true;
      depth++;
    } else if (c === '}') {
      depth--;
      if (depth === 0) {
        const spec = template.slice(specStart, i - 1);
        return { field: { name, conversion, spec, specNeedsExpanding, position }, next: i };
      }
    }
  }
  throw invalid(reported, `unmatched '{' in format spec (field at index ${position})`);
}

/** CPython's field_name_split: the key is everything before the first '.' or '['. */
function splitFieldName(name: string): { key: string; rest: string } {
  const cut = name.search(/[.[]/);
  return cut < 0 ? { key: name, rest: '' } : { key: name.slice(0, cut), rest: name.slice(cut) };
}

/**
 * CPython's FieldNameIterator: the error `.attr`/`[index]` syntax after the key raises, or null.
 * (Python raises it only once the key is found, but a template that has it can never work.)
 */
function attributeSyntaxError(rest: string): string | null {
  let i = 0;
  while (i < rest.length) {
    const opener = rest[i++];
    const start = i;
    let end: number;
    if (opener === '.') {
      while (i < rest.length && rest[i] !== '.' && rest[i] !== '[') i++;
      end = i;
    } else if (opener === '[') {
      while (i < rest.length && rest[i] !== ']') i++;
      if (i >= rest.length) return "Missing ']' in format string";
      end = i++;
    } else {
      return "Only '.' or '[' may follow ']' in format field specifier";
    }
    if (end === start) return 'Empty attribute in format string';
  }
  return null;
}

/** CPython's get_integer: an empty name or one made only of Unicode decimal digits is positional. */
function isPositional(key: string): boolean {
  if (key === '') return true;
  for (const ch of key) {
    if (!isPythonDecimalDigit(ch.codePointAt(0) as number)) return false;
  }
  return true;
}

/**
 * First pass: everything that makes Python fail whatever kwargs it is given. Positional fields
 * always fail because SPAR calls `format(**fa)` with no positional arguments.
 */
function checkPythonAccepts(template: string, reported: string, depth: number): MarkupItem[] {
  if (depth <= 0) throw invalid(reported, 'Max string recursion exceeded (format spec nested too deeply)');
  const items = scanMarkup(template, reported);
  for (const item of items) {
    if (!('field' in item)) continue;
    const { name, conversion, spec, specNeedsExpanding, position } = item.field;
    const { key, rest } = splitFieldName(name);
    if (isPositional(key)) {
      const shown = `{${name}}`;
      throw invalid(
        reported,
        `${shown} at index ${position} is a positional field, but the template is formatted with keyword values only`,
      );
    }
    const attributeError = attributeSyntaxError(rest);
    if (attributeError !== null) throw invalid(reported, `${attributeError} (field {${name}} at index ${position})`);
    if (conversion !== null && conversion !== 'r' && conversion !== 's' && conversion !== 'a') {
      throw invalid(reported, `Unknown conversion specifier ${conversion} (field at index ${position})`);
    }
    if (specNeedsExpanding) checkPythonAccepts(spec, reported, depth - 1);
  }
  return items;
}

/** Parses a `construct_strategy` template, or throws a StrategyError saying why it cannot be used. */
export function parseFormatTemplate(template: string): FormatTemplate {
  const items = checkPythonAccepts(template, template, FORMAT_RECURSION_DEPTH);
  const parts: FormatPart[] = [];
  const fields: string[] = [];
  const appendLiteral = (text: string): void => {
    const last = parts[parts.length - 1];
    if (last !== undefined && 'literal' in last) parts[parts.length - 1] = { literal: last.literal + text };
    else parts.push({ literal: text });
  };
  for (const item of items) {
    if ('literal' in item) {
      appendLiteral(item.literal);
      continue;
    }
    const { name, conversion, spec, position } = item.field;
    const { key, rest } = splitFieldName(name);
    if (rest !== '') {
      const kind = rest.startsWith('.') ? 'an attribute lookup' : 'an index lookup';
      throw unsupported(template, `${kind} {${name}} at index ${position}`);
    }
    // `!s` and an empty spec are identities on a str value; anything else changes the text.
    if (conversion !== null && conversion !== 's') {
      throw unsupported(template, `the conversion !${conversion} in field {${name}} at index ${position}`);
    }
    if (spec !== '') {
      throw unsupported(template, `the format spec ":${spec}" in field {${key}} at index ${position}`);
    }
    parts.push({ field: key });
    if (!fields.includes(key)) fields.push(key);
  }
  return { template, parts, fields };
}

/** `template.format(**values)` as Python 3.11 computes it, every value being a str. */
export function pythonFormat(template: FormatTemplate | string, values: Readonly<Record<string, string>>): string {
  const parsed = typeof template === 'string' ? parseFormatTemplate(template) : template;
  let out = '';
  for (const part of parsed.parts) {
    if ('literal' in part) {
      out += part.literal;
      continue;
    }
    // Own properties only: a key such as "constructor" must not resolve through the prototype.
    if (!Object.hasOwn(values, part.field)) {
      throw new StrategyError(
        'strategy.missing_field',
        `construct template ${JSON.stringify(parsed.template)} needs the field "${part.field}", which has no value`,
        { hint: `give a value for "${part.field}", or use a strategy whose template does not need it` },
      );
    }
    out += values[part.field];
  }
  return out;
}
