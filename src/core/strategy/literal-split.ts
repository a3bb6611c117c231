import type { FormatTemplate } from './python-format.js';

/**
 * Strategies of the shape SPAR ships (all five defaults): a template of labels and fields, and a
 * regex that is the same labels with a greedy `(?P<field>.*)` for each field, anchored at both
 * ends. For these, whether a built FA reads back the same can be told without running the regex:
 * a greedy match places every label at its rightmost possible position, so the values read back
 * are the ones written exactly when, going from the right, each label's last occurrence before
 * the next one is the place it was written at. That takes a few `lastIndexOf` calls instead of a
 * regex match with named groups, for every record of a bulk import.
 */
export interface LiteralSplit {
  /** The labels: before the first field, between fields (never empty), after the last. */
  readonly labels: readonly string[];
  /** The fields in template order, each once. */
  readonly fields: readonly string[];
}

const REGEX_SPECIAL = new Set([...'.^$*+?{}[]|()\\']);
const GREEDY_GROUP = /^\(\?P<([A-Za-z_][A-Za-z0-9_]*)>\.\*\)/;

/**
 * The template and regex as a LiteralSplit, or null when the regex is anything else (then the
 * regex itself decides). Only plain characters and backslash-escaped punctuation count as label
 * text; a line break anywhere, a class escape (`\d`), a flag or any other construct says null.
 */
export function literalSplitOf(template: FormatTemplate, pythonPattern: string): LiteralSplit | null {
  const { labels, fields } = templateLabels(template);
  if (fields.length === 0 || new Set(fields).size !== fields.length) return null;
  for (let i = 1; i < labels.length - 1; i++) if (labels[i] === '') return null;
  if (labels.some((label) => label.includes('\n'))) return null;
  // The regex must be the same labels with a greedy group for each field, in the same order.
  const pattern = patternLabels(pythonPattern, GREEDY_GROUP);
  if (pattern === null || pattern.groups.length !== fields.length || pattern.groups.some((group, i) => group[1] !== fields[i])) return null;
  if (pattern.labels.some((label, i) => label !== labels[i])) return null;
  return { labels, fields };
}

/** The template's literal text around its fields: labels[0] before the first field, labels[i] after field i. */
function templateLabels(template: FormatTemplate): { labels: string[]; fields: string[] } {
  const labels: string[] = [''];
  const fields: string[] = [];
  for (const part of template.parts) {
    if ('literal' in part) labels[labels.length - 1] += part.literal;
    else {
      fields.push(part.field);
      labels.push('');
    }
  }
  return { labels, fields };
}

/**
 * A regex between ^ and $ read as labels and groups, each group matched by `group` where a `(`
 * opens; null when anything else appears. Only plain characters and backslash-escaped
 * punctuation count as label text (an escaped letter or digit is a class or a back-reference; a
 * trailing \ would escape the $).
 */
function patternLabels(pythonPattern: string, group: RegExp): { labels: string[]; groups: RegExpExecArray[] } | null {
  if (!pythonPattern.startsWith('^') || !pythonPattern.endsWith('$') || pythonPattern.length < 2) return null;
  const body = pythonPattern.slice(1, -1);
  const labels: string[] = [''];
  const groups: RegExpExecArray[] = [];
  for (let i = 0; i < body.length; ) {
    const c = body[i]!;
    if (c === '(') {
      const found = group.exec(body.slice(i));
      if (found === null) return null;
      groups.push(found);
      labels.push('');
      i += found[0].length;
    } else if (c === '\\') {
      const escaped = body[i + 1];
      if (escaped === undefined || /[A-Za-z0-9]/.test(escaped) || escaped === '\n') return null;
      labels[labels.length - 1] += escaped;
      i += 2;
    } else {
      if (REGEX_SPECIAL.has(c) || c === '\n') return null;
      labels[labels.length - 1] += c;
      i++;
    }
  }
  return { labels, groups };
}

/**
 * The string the template builds from `values`, when the regex reads back exactly these values;
 * undefined when it would not, or when a value holds a line break (`.` stops there): the caller
 * then runs the regex to say why.
 */
export function buildReadingBack(split: LiteralSplit, values: Readonly<Record<string, unknown>>): string | undefined {
  const { labels, fields } = split;
  const last = fields.length;
  let built = labels[0]!;
  for (let i = 0; i < last; i++) {
    const value = text(values[fields[i]!]);
    if (value.includes('\n')) return undefined;
    built += value + labels[i + 1]!;
  }
  // The last label ends the string, so it is where it was written; going left, each label must
  // be the last occurrence that ends where the next one starts. `next` is where label i + 1
  // starts; label i was written just before value i + 1 (positions computed from the right, so
  // no array of them is kept for every FA).
  let next = built.length - labels[last]!.length;
  for (let i = last - 1; i >= 1; i--) {
    const label = labels[i]!;
    const written = next - text(values[fields[i]!]).length - label.length;
    if (built.lastIndexOf(label, next - label.length) !== written) return undefined;
    next = written;
  }
  return built;
}

const text = (value: unknown): string => (typeof value === 'string' ? value : String(value));

/**
 * An ID strategy of the shape SPAR ships (strategy 1, `token:{sub}@nationalId` read by
 * `^token:(?P<sub>.[^.]*)@nationalId$`): one field between a prefix and a suffix, read by a group
 * that is `.*`, or one character and then anything but `stop` (`.[^.]*`).
 */
export interface SingleFieldSplit {
  readonly prefix: string;
  readonly suffix: string;
  /** The character the group's tail may not hold; undefined for `.*`. */
  readonly stop: string | undefined;
}

const SINGLE_GROUP = /^\(\?P<([A-Za-z_][A-Za-z0-9_]*)>(\.\*|\.\[\^(?:\\([^A-Za-z0-9\n])|([^\\\]^\-\n]))\]\*)\)/;

/** The template and regex as a SingleFieldSplit, or null for any other shape (the regex decides then). */
export function singleFieldSplitOf(template: FormatTemplate, pythonPattern: string): SingleFieldSplit | null {
  const { labels, fields } = templateLabels(template);
  if (fields.length !== 1 || labels.some((label) => label.includes('\n'))) return null;
  const pattern = patternLabels(pythonPattern, SINGLE_GROUP);
  const group = pattern?.groups.length === 1 ? pattern.groups[0]! : undefined;
  if (group === undefined || group[1] !== fields[0] || pattern!.labels[0] !== labels[0] || pattern!.labels[1] !== labels[1]) return null;
  return { prefix: labels[0]!, suffix: labels[1]!, stop: group[2] === '.*' ? undefined : (group[3] ?? group[4]) };
}

/**
 * True when the regex surely reads `value` back from `prefix + value + suffix`: a greedy group
 * that ends before a suffix anchored at the end takes everything up to it, provided the value has
 * no line break (the group's `.` stops there) and, for `.[^x]*`, is not empty and holds no `x`
 * after its first character. False means "ask the regex", not "it does not".
 */
export function readsBackAlone(split: SingleFieldSplit, value: string): boolean {
  if (value.includes('\n')) return false;
  if (split.stop === undefined) return true;
  return value.length > 0 && value.indexOf(split.stop, 1) === -1;
}
