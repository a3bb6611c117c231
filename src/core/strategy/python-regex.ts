/**
 * SPAR reads a stored financial address back with `re.match(deconstruct_strategy, fa).groupdict()`.
 * This module translates such a Python 3.11 `re` pattern into a JavaScript RegExp that matches
 * exactly the same strings with exactly the same groups, and refuses (with the construct, its
 * position and the reason) every pattern for which it cannot guarantee that.
 *
 * How: a parser that mirrors CPython's `Lib/re/_parser.py` line for line (so the same patterns
 * are accepted and rejected, with the same messages and positions), followed by an emitter that
 * spells out every construct explicitly instead of relying on a JS default:
 * - `\d`, `\w`, `\s` and `\b` use code-point tables taken from Python 3.11 itself (Unicode 14),
 *   because Node's `\p{…}` follows a newer Unicode and JS's `\s` is a different set;
 * - `.`, `^`, `$`, `\A`, `\Z` become lookarounds with Python's line rules (only `\n` is a line
 *   break, and `$` also matches before a final `\n`);
 * - case-insensitive matching is expanded into explicit character sets using Python's rules
 *   (JS's `i` flag folds differently: Python's `(?i)i` matches 'ı' and 'İ', JS's does not).
 * The compiled RegExp only ever uses the `u` flag.
 *
 * Supported: literals and every escape Python accepts (`\:` `\-` `\xhh` `\uXXXX` `\UXXXXXXXX`,
 * octal, `\a` …), `.`, classes (leading `]`, ranges, `\d\w\s\D\W\S` inside), `^ $ \A \Z \b \B`,
 * greedy and lazy `* + ? {m} {m,} {m,n} {,n} {,}` (a `{` that is no quantifier is a literal),
 * alternation, capturing, named and non-capturing groups, `(?#…)`, lookahead, fixed-width
 * lookbehind, `\1` and `(?P=name)` backreferences, global flags `(?aimsux)` and scoped flags
 * `(?aimsux-imsx:…)`.
 * Refused as untranslatable, because JS cannot do it or does it differently: possessive
 * quantifiers, atomic groups, conditionals, `\N{…}`, the TEMPLATE flag, a capture inside a group
 * repeated more than once, a capture inside a negative lookaround, a backreference to a group that
 * may not have taken part, a repeated subpattern that can match empty (the engines' empty-loop
 * rules differ), and under IGNORECASE a backreference or a cased non-ASCII character.
 *
 * `findCatastrophicBacktracking`, on the same parse tree, flags the shapes that backtrack
 * exponentially (or polynomially but steeply): nested or overlapping quantifiers that can repeat
 * more than 3 times, bounded or not, and more than 3 overlapping quantifiers in a row. A
 * heuristic, not a proof.
 */
import { StrategyError } from '../errors.js';

export interface TranslatedRegex {
  readonly pythonPattern: string;
  /** Compiled JS equivalent, anchored at the start like `re.match`; flags are exactly 'u'. */
  readonly regex: RegExp;
  /** Named groups in group-number order, which is the order of `groupdict()`. */
  readonly groupNames: readonly string[];
}

// ---------------------------------------------------------------------------------------------
// Python's constants (re/_constants.py)

const FLAG_TEMPLATE = 1;
const FLAG_IGNORECASE = 2;
const FLAG_LOCALE = 4;
const FLAG_MULTILINE = 8;
const FLAG_DOTALL = 16;
const FLAG_UNICODE = 32;
const FLAG_VERBOSE = 64;
const FLAG_DEBUG = 128;
const FLAG_ASCII = 256;
const INLINE_FLAGS: Readonly<Record<string, number>> = {
  i: FLAG_IGNORECASE,
  L: FLAG_LOCALE,
  m: FLAG_MULTILINE,
  s: FLAG_DOTALL,
  x: FLAG_VERBOSE,
  a: FLAG_ASCII,
  t: FLAG_TEMPLATE,
  u: FLAG_UNICODE,
};
const TYPE_FLAGS = FLAG_ASCII | FLAG_LOCALE | FLAG_UNICODE;
const GLOBAL_FLAGS = FLAG_DEBUG | FLAG_TEMPLATE;
const MAXREPEAT = 4294967295;
const MAXGROUPS = 1073741823;
const MAXWIDTH = 2 ** 64;
const MAXCODE = 2 ** 32 - 1;
const MAX_CODE_POINT = 0x10ffff;

const SPECIAL_CHARS = '.\\[{()*+?^$|';
const REPEAT_CHARS = '*+?{';
const isDigit = (c: string): boolean => c.length === 1 && c >= '0' && c <= '9';
const isOctDigit = (c: string): boolean => c.length === 1 && c >= '0' && c <= '7';
const isHexDigit = (c: string): boolean => /^[0-9a-fA-F]$/.test(c);
const isAsciiLetter = (c: string): boolean => /^[a-zA-Z]$/.test(c);
const VERBOSE_WHITESPACE = new Set([' ', '\t', '\n', '\r', '\v', '\f']);

// ---------------------------------------------------------------------------------------------
// Errors

const INVALID_HINT = "fix the deconstruct regex so that Python's re.compile accepts it";
const UNTRANSLATABLE_HINT =
  'rewrite the deconstruct regex without this construct (named groups, classes, plain quantifiers and anchors are all supported)';

function rejectedByPython(pattern: string, reason: string, position: number | null): StrategyError {
  const where = position === null ? '' : ` at position ${position}`;
  return new StrategyError(
    'strategy.regex_invalid',
    `deconstruct pattern ${JSON.stringify(pattern)} is rejected by Python's re: ${reason}${where}`,
    { hint: INVALID_HINT },
  );
}

function untranslatable(pattern: string, construct: string, position: number, why: string): StrategyError {
  return new StrategyError(
    'strategy.regex_untranslatable',
    `deconstruct pattern ${JSON.stringify(pattern)} cannot be reproduced: ${construct} at position ${position}: ${why}`,
    { hint: UNTRANSLATABLE_HINT },
  );
}

/** Python's `%r` of a str, close enough for messages. */
const pyRepr = (text: string): string => `'${text}'`;
const codePointLength = (text: string): number => Array.from(text).length;

// ---------------------------------------------------------------------------------------------
// Parse tree (the shapes of _parser.py's SubPattern items)

type CategoryName = 'd' | 'D' | 's' | 'S' | 'w' | 'W';
type AtKind = 'begin' | 'end' | 'beginString' | 'endString' | 'boundary' | 'nonBoundary';

type ClassItem =
  | { readonly kind: 'lit'; readonly cp: number }
  | { readonly kind: 'range'; readonly lo: number; readonly hi: number }
  | { readonly kind: 'cat'; readonly cat: CategoryName }
  | { readonly kind: 'named'; readonly name: string };

interface SeqNode {
  readonly kind: 'seq';
  readonly items: Node[];
}

type Node =
  | SeqNode
  | { readonly kind: 'lit'; readonly cp: number; readonly pos: number }
  | { readonly kind: 'class'; readonly negate: boolean; readonly items: readonly ClassItem[]; readonly pos: number }
  | { readonly kind: 'any'; readonly pos: number }
  | { readonly kind: 'at'; readonly at: AtKind; readonly pos: number }
  | { readonly kind: 'named'; readonly name: string; readonly pos: number }
  | { readonly kind: 'branch'; readonly alternatives: readonly SeqNode[]; readonly pos: number }
  | {
      readonly kind: 'group';
      readonly gid: number | null;
      readonly name: string | null;
      readonly addFlags: number;
      readonly delFlags: number;
      readonly body: SeqNode;
      readonly pos: number;
    }
  | { readonly kind: 'atomic'; readonly body: SeqNode; readonly pos: number }
  | { readonly kind: 'look'; readonly behind: boolean; readonly negate: boolean; readonly body: SeqNode; readonly pos: number }
  | {
      readonly kind: 'repeat';
      readonly min: number;
      readonly max: number;
      readonly mode: 'greedy' | 'lazy' | 'possessive';
      readonly body: Node;
      /** Position and source text of the quantifier itself. */
      readonly pos: number;
      readonly text: string;
    }
  | { readonly kind: 'ref'; readonly gid: number; readonly pos: number; readonly text: string }
  | { readonly kind: 'cond'; readonly gid: number; readonly yes: SeqNode; readonly no: SeqNode | null; readonly pos: number };

type Width = readonly [number, number];

/** _parser.State: flags and groups as the parser discovers them. */
class ParseState {
  flags = 0;
  readonly groupdict = new Map<string, number>();
  /** Index 0 is group 0; null while a group is still open. */
  readonly groupwidths: Array<Width | null> = [null];
  lookbehindgroups: number | null = null;
  readonly grouprefpos = new Map<number, number>();

  get groups(): number {
    return this.groupwidths.length;
  }

  checkgroup(gid: number): boolean {
    return gid < this.groups && this.groupwidths[gid] !== null;
  }
}

/** _parser.Tokenizer over code points: a token is one code point or a backslash and the next. */
class Tokenizer {
  readonly chars: readonly string[];
  private index = 0;
  next: string | null = null;
  private nextLength = 0;

  constructor(readonly pattern: string) {
    this.chars = Array.from(pattern);
    this.advance();
  }

  private advance(): void {
    let index = this.index;
    const char = this.chars[index];
    if (char === undefined) {
      this.next = null;
      this.nextLength = 0;
      return;
    }
    let token = char;
    let length = 1;
    if (char === '\\') {
      index++;
      const escaped = this.chars[index];
      if (escaped === undefined) throw rejectedByPython(this.pattern, 'bad escape (end of pattern)', this.chars.length - 1);
      token += escaped;
      length = 2;
    }
    this.index = index + 1;
    this.next = token;
    this.nextLength = length;
  }

  match(char: string): boolean {
    if (this.next === char) {
      this.advance();
      return true;
    }
    return false;
  }

  get(): string | null {
    const token = this.next;
    this.advance();
    return token;
  }

  getwhile(n: number, accept: (c: string) => boolean): string {
    let result = '';
    for (let k = 0; k < n; k++) {
      const c = this.next;
      if (c === null || !accept(c)) break;
      result += c;
      this.advance();
    }
    return result;
  }

  getuntil(terminator: string, name: string): string {
    let result = '';
    for (;;) {
      const c = this.next;
      this.advance();
      if (c === null) {
        if (result === '') throw this.error(`missing ${name}`);
        throw this.error(`missing ${terminator}, unterminated name`, codePointLength(result));
      }
      if (c === terminator) {
        if (result === '') throw this.error(`missing ${name}`, 1);
        break;
      }
      result += c;
    }
    return result;
  }

  tell(): number {
    return this.index - this.nextLength;
  }

  seek(index: number): void {
    this.index = index;
    this.advance();
  }

  text(from: number, to: number): string {
    return this.chars.slice(from, to).join('');
  }

  error(message: string, offset = 0): StrategyError {
    return rejectedByPython(this.pattern, message, this.tell() - offset);
  }
}

const PYTHON_IDENTIFIER = /^[\p{XID_Start}_]\p{XID_Continue}*$/u;

function checkGroupName(source: Tokenizer, name: string, offset: number): void {
  if (!PYTHON_IDENTIFIER.test(name)) {
    throw source.error(`bad character in group name ${pyRepr(name)}`, codePointLength(name) + offset);
  }
}

function checkLookbehindGroup(state: ParseState, gid: number, source: Tokenizer): void {
  if (state.lookbehindgroups !== null) {
    if (!state.checkgroup(gid)) throw source.error('cannot refer to an open group');
    if (gid >= state.lookbehindgroups) throw source.error('cannot refer to group defined in the same lookbehind subpattern');
  }
}

type Escaped =
  | { readonly kind: 'lit'; readonly cp: number }
  | { readonly kind: 'cat'; readonly cat: CategoryName }
  | { readonly kind: 'at'; readonly at: AtKind }
  | { readonly kind: 'ref'; readonly gid: number }
  | { readonly kind: 'named'; readonly name: string };

const SIMPLE_ESCAPES: Readonly<Record<string, number>> = {
  '\\a': 0x07,
  '\\b': 0x08,
  '\\f': 0x0c,
  '\\n': 0x0a,
  '\\r': 0x0d,
  '\\t': 0x09,
  '\\v': 0x0b,
  '\\\\': 0x5c,
};
const CATEGORY_ESCAPES: Readonly<Record<string, CategoryName>> = {
  '\\d': 'd',
  '\\D': 'D',
  '\\s': 's',
  '\\S': 'S',
  '\\w': 'w',
  '\\W': 'W',
};
const AT_ESCAPES: Readonly<Record<string, AtKind>> = {
  '\\A': 'beginString',
  '\\b': 'boundary',
  '\\B': 'nonBoundary',
  '\\Z': 'endString',
};

/** The escapes _escape and _class_escape share: \x \u \U \N. Null when `escape` is none of them. */
function numericEscape(source: Tokenizer, escape: string): Escaped | null {
  const c = escape.slice(1);
  if (c === 'x' || c === 'u' || c === 'U') {
    const digits = c === 'x' ? 2 : c === 'u' ? 4 : 8;
    const full = escape + source.getwhile(digits, isHexDigit);
    if (full.length !== digits + 2) throw source.error(`incomplete escape ${full}`, full.length);
    const cp = Number.parseInt(full.slice(2), 16);
    // chr() refuses code points past U+10FFFF; Python reports that as a bad escape.
    if (cp > MAX_CODE_POINT) throw source.error(`bad escape ${full}`, full.length);
    return { kind: 'lit', cp };
  }
  if (c === 'N') {
    if (!source.match('{')) throw source.error('missing {');
    const name = source.getuntil('}', 'character name');
    return { kind: 'named', name };
  }
  return null;
}

/** _parser._class_escape */
function classEscape(source: Tokenizer, escape: string): Escaped {
  const simple = SIMPLE_ESCAPES[escape];
  if (simple !== undefined) return { kind: 'lit', cp: simple };
  const cat = CATEGORY_ESCAPES[escape];
  if (cat !== undefined) return { kind: 'cat', cat };
  const numeric = numericEscape(source, escape);
  if (numeric !== null) return numeric;
  const c = escape.slice(1);
  if (isOctDigit(c)) {
    const full = escape + source.getwhile(2, isOctDigit);
    const cp = Number.parseInt(full.slice(1), 8);
    if (cp > 0o377) throw source.error(`octal escape value ${full} outside of range 0-0o377`, full.length);
    return { kind: 'lit', cp };
  }
  if (isDigit(c) || isAsciiLetter(c)) throw source.error(`bad escape ${escape}`, codePointLength(escape));
  return { kind: 'lit', cp: c.codePointAt(0) as number };
}

/** _parser._escape */
function patternEscape(source: Tokenizer, escape: string, state: ParseState): Escaped {
  const at = AT_ESCAPES[escape];
  if (at !== undefined) return { kind: 'at', at };
  const cat = CATEGORY_ESCAPES[escape];
  if (cat !== undefined) return { kind: 'cat', cat };
  const simple = SIMPLE_ESCAPES[escape];
  if (simple !== undefined) return { kind: 'lit', cp: simple };
  const numeric = numericEscape(source, escape);
  if (numeric !== null) return numeric;
  const c = escape.slice(1);
  if (c === '0') {
    const full = escape + source.getwhile(2, isOctDigit);
    return { kind: 'lit', cp: Number.parseInt(full.slice(1), 8) };
  }
  if (isDigit(c)) {
    let full = escape;
    // Octal escape *or* group reference, decided exactly as Python does.
    if (source.next !== null && isDigit(source.next)) {
      full += source.get();
      if (isOctDigit(full[1] as string) && isOctDigit(full[2] as string) && source.next !== null && isOctDigit(source.next)) {
        full += source.get();
        const cp = Number.parseInt(full.slice(1), 8);
        if (cp > 0o377) throw source.error(`octal escape value ${full} outside of range 0-0o377`, full.length);
        return { kind: 'lit', cp };
      }
    }
    const gid = Number.parseInt(full.slice(1), 10);
    if (gid < state.groups) {
      if (!state.checkgroup(gid)) throw source.error('cannot refer to an open group', full.length);
      checkLookbehindGroup(state, gid, source);
      return { kind: 'ref', gid };
    }
    throw source.error(`invalid group reference ${gid}`, full.length - 1);
  }
  if (isAsciiLetter(c)) throw source.error(`bad escape ${escape}`, codePointLength(escape));
  return { kind: 'lit', cp: c.codePointAt(0) as number };
}

/** SubPattern.getwidth: (min, max) code points a subpattern can match. */
function widthOf(node: Node, state: ParseState): Width {
  const cap = (w: number): number => Math.min(w, MAXWIDTH);
  switch (node.kind) {
    case 'seq': {
      let lo = 0;
      let hi = 0;
      for (const item of node.items) {
        const [l, h] = widthOf(item, state);
        lo += l;
        hi += h;
      }
      return [cap(lo), cap(hi)];
    }
    case 'branch': {
      let lo = MAXWIDTH;
      let hi = 0;
      for (const alternative of node.alternatives) {
        const [l, h] = widthOf(alternative, state);
        lo = Math.min(lo, l);
        hi = Math.max(hi, h);
      }
      return [lo, hi];
    }
    case 'group':
    case 'atomic':
      return widthOf(node.body, state);
    case 'repeat': {
      const [l, h] = widthOf(node.body, state);
      const hi = node.max === MAXREPEAT && h > 0 ? MAXWIDTH : h * node.max;
      return [cap(l * node.min), cap(hi)];
    }
    case 'lit':
    case 'class':
    case 'any':
    case 'named':
      return [1, 1];
    case 'ref':
      return state.groupwidths[node.gid] ?? [0, 0];
    case 'cond': {
      const [yl, yh] = widthOf(node.yes, state);
      if (node.no === null) return [0, yh];
      const [nl, nh] = widthOf(node.no, state);
      return [Math.min(yl, nl), Math.max(yh, nh)];
    }
    case 'at':
    case 'look':
      return [0, 0];
  }
}

/** _parser._parse_sub: an alternation. */
function parseAlternation(source: Tokenizer, state: ParseState, verbose: boolean, nested: number): SeqNode {
  const alternatives: SeqNode[] = [];
  const start = source.tell();
  for (;;) {
    alternatives.push(parseSequence(source, state, verbose, nested + 1, nested === 0 && alternatives.length === 0));
    if (!source.match('|')) break;
    if (nested === 0) verbose = (state.flags & FLAG_VERBOSE) !== 0;
  }
  if (alternatives.length === 1) return alternatives[0] as SeqNode;
  return { kind: 'seq', items: [{ kind: 'branch', alternatives, pos: start }] };
}

/** _parser._parse: a sequence of items up to '|', ')' or the end. */
function parseSequence(source: Tokenizer, state: ParseState, verbose: boolean, nested: number, first: boolean): SeqNode {
  const items: Node[] = [];
  for (;;) {
    const pos = source.tell();
    const token = source.next;
    if (token === null || token === '|' || token === ')') break;
    source.get();

    if (verbose) {
      if (VERBOSE_WHITESPACE.has(token)) continue;
      if (token === '#') {
        for (;;) {
          const skipped = source.get();
          if (skipped === null || skipped === '\n') break;
        }
        continue;
      }
    }

    if (token.startsWith('\\')) {
      const escaped = patternEscape(source, token, state);
      switch (escaped.kind) {
        case 'lit':
          items.push({ kind: 'lit', cp: escaped.cp, pos });
          break;
        case 'cat':
          items.push({ kind: 'class', negate: false, items: [escaped], pos });
          break;
        case 'at':
          items.push({ kind: 'at', at: escaped.at, pos });
          break;
        case 'ref':
          items.push({ kind: 'ref', gid: escaped.gid, pos, text: source.text(pos, source.tell()) });
          break;
        case 'named':
          items.push({ kind: 'named', name: escaped.name, pos });
          break;
      }
    } else if (!SPECIAL_CHARS.includes(token)) {
      items.push({ kind: 'lit', cp: token.codePointAt(0) as number, pos });
    } else if (token === '[') {
      items.push(parseClass(source, pos));
    } else if (REPEAT_CHARS.includes(token)) {
      const here = source.tell();
      let min: number;
      let max: number;
      if (token === '?') {
        [min, max] = [0, 1];
      } else if (token === '*') {
        [min, max] = [0, MAXREPEAT];
      } else if (token === '+') {
        [min, max] = [1, MAXREPEAT];
      } else {
        if (source.next === '}') {
          items.push({ kind: 'lit', cp: 0x7b, pos });
          continue;
        }
        [min, max] = [0, MAXREPEAT];
        let lo = '';
        let hi = '';
        while (source.next !== null && isDigit(source.next)) lo += source.get();
        if (source.match(',')) {
          while (source.next !== null && isDigit(source.next)) hi += source.get();
        } else {
          hi = lo;
        }
        if (!source.match('}')) {
          // Not a quantifier after all: '{' is a literal and parsing resumes right after it.
          items.push({ kind: 'lit', cp: 0x7b, pos });
          source.seek(here);
          continue;
        }
        if (lo !== '') {
          min = Number(lo);
          if (min >= MAXREPEAT) throw rejectedByPython(source.pattern, 'the repetition number is too large (OverflowError)', pos);
        }
        if (hi !== '') {
          max = Number(hi);
          if (max >= MAXREPEAT) throw rejectedByPython(source.pattern, 'the repetition number is too large (OverflowError)', pos);
          if (max < min) throw source.error('min repeat greater than max repeat', source.tell() - here);
        }
      }
      const item = items[items.length - 1];
      if (item === undefined || item.kind === 'at') {
        throw source.error('nothing to repeat', source.tell() - here + token.length);
      }
      if (item.kind === 'repeat') throw source.error('multiple repeat', source.tell() - here + token.length);
      const mode = source.match('?') ? 'lazy' : source.match('+') ? 'possessive' : 'greedy';
      items[items.length - 1] = { kind: 'repeat', min, max, mode, body: item, pos, text: source.text(pos, source.tell()) };
    } else if (token === '.') {
      items.push({ kind: 'any', pos });
    } else if (token === '(') {
      const node = parseParenthesis(source, state, verbose, nested, first && items.length === 0, pos);
      if (node === 'global-flags') {
        verbose = (state.flags & FLAG_VERBOSE) !== 0;
      } else if (node !== null) {
        items.push(node);
      }
    } else if (token === '^') {
      items.push({ kind: 'at', at: 'begin', pos });
    } else if (token === '$') {
      items.push({ kind: 'at', at: 'end', pos });
    }
  }
  return { kind: 'seq', items };
}

/** The '[' branch of _parser._parse. `here` is the position of the '['. */
function parseClass(source: Tokenizer, here: number): Node {
  const items: ClassItem[] = [];
  const negate = source.match('^');
  const toItem = (escaped: Escaped): ClassItem => {
    if (escaped.kind === 'lit' || escaped.kind === 'cat' || escaped.kind === 'named') return escaped;
    throw new Error('unreachable: class escapes are literals, categories or names');
  };
  for (;;) {
    const token = source.get();
    if (token === null) throw source.error('unterminated character set', source.tell() - here);
    // A ']' right after '[' or '[^' is a literal.
    if (token === ']' && items.length > 0) break;
    const first: Escaped = token.startsWith('\\') ? classEscape(source, token) : { kind: 'lit', cp: token.codePointAt(0) as number };
    if (source.match('-')) {
      const that = source.get();
      if (that === null) throw source.error('unterminated character set', source.tell() - here);
      if (that === ']') {
        items.push(toItem(first), { kind: 'lit', cp: 0x2d });
        break;
      }
      const second: Escaped = that.startsWith('\\') ? classEscape(source, that) : { kind: 'lit', cp: that.codePointAt(0) as number };
      const badRange = (): StrategyError =>
        source.error(`bad character range ${token}-${that}`, codePointLength(token) + 1 + codePointLength(that));
      const literalLike = (e: Escaped): boolean => e.kind === 'lit' || e.kind === 'named';
      if (!literalLike(first) || !literalLike(second)) throw badRange();
      if (first.kind === 'named' || second.kind === 'named') {
        items.push(first.kind === 'named' ? first : (second as ClassItem));
        continue;
      }
      if (first.kind !== 'lit' || second.kind !== 'lit') throw badRange();
      if (second.cp < first.cp) throw badRange();
      items.push({ kind: 'range', lo: first.cp, hi: second.cp });
    } else {
      items.push(toItem(first));
    }
  }
  return { kind: 'class', negate, items, pos: here };
}

/**
 * The '(' branch of _parser._parse. Returns the node to append, null for a comment, or
 * 'global-flags' when the group only set flags for the whole pattern.
 */
function parseParenthesis(
  source: Tokenizer,
  state: ParseState,
  verbose: boolean,
  nested: number,
  atStart: boolean,
  start: number,
): Node | null | 'global-flags' {
  let capture = true;
  let atomic = false;
  let name: string | null = null;
  let addFlags = 0;
  let delFlags = 0;
  if (source.match('?')) {
    const char = source.get();
    if (char === null) throw source.error('unexpected end of pattern');
    if (char === 'P') {
      if (source.match('<')) {
        name = source.getuntil('>', 'group name');
        checkGroupName(source, name, 1);
      } else if (source.match('=')) {
        const refName = source.getuntil(')', 'group name');
        checkGroupName(source, refName, 1);
        const gid = state.groupdict.get(refName);
        if (gid === undefined) throw source.error(`unknown group name ${pyRepr(refName)}`, codePointLength(refName) + 1);
        if (!state.checkgroup(gid)) throw source.error('cannot refer to an open group', codePointLength(refName) + 1);
        checkLookbehindGroup(state, gid, source);
        return { kind: 'ref', gid, pos: start, text: source.text(start, source.tell()) };
      } else {
        const next = source.get();
        if (next === null) throw source.error('unexpected end of pattern');
        throw source.error(`unknown extension ?P${next}`, codePointLength(next) + 2);
      }
    } else if (char === ':') {
      capture = false;
    } else if (char === '#') {
      for (;;) {
        if (source.next === null) throw source.error('missing ), unterminated comment', source.tell() - start);
        if (source.get() === ')') break;
      }
      return null;
    } else if (char === '=' || char === '!' || char === '<') {
      let kind = char;
      let behind = false;
      let outerLookbehindGroups: number | null = null;
      if (char === '<') {
        const next = source.get();
        if (next === null) throw source.error('unexpected end of pattern');
        if (next !== '=' && next !== '!') throw source.error(`unknown extension ?<${next}`, codePointLength(next) + 2);
        kind = next;
        behind = true;
        outerLookbehindGroups = state.lookbehindgroups;
        if (outerLookbehindGroups === null) state.lookbehindgroups = state.groups;
      }
      const body = parseAlternation(source, state, verbose, nested + 1);
      if (behind && outerLookbehindGroups === null) state.lookbehindgroups = null;
      if (!source.match(')')) throw source.error('missing ), unterminated subpattern', source.tell() - start);
      return { kind: 'look', behind, negate: kind === '!', body, pos: start };
    } else if (char === '(') {
      return parseConditional(source, state, verbose, nested, start);
    } else if (char === '>') {
      capture = false;
      atomic = true;
    } else if (Object.hasOwn(INLINE_FLAGS, char) || char === '-') {
      const flags = parseFlags(source, state, char);
      if (flags === null) {
        if (!atStart) throw source.error('global flags not at the start of the expression', source.tell() - start);
        return 'global-flags';
      }
      [addFlags, delFlags] = flags;
      capture = false;
    } else {
      throw source.error(`unknown extension ?${char}`, codePointLength(char) + 1);
    }
  }

  let gid: number | null = null;
  if (capture) {
    gid = state.groups;
    state.groupwidths.push(null);
    if (name !== null) {
      const previous = state.groupdict.get(name);
      if (previous !== undefined) {
        throw source.error(`redefinition of group name ${pyRepr(name)} as group ${gid}; was group ${previous}`, codePointLength(name) + 1);
      }
      state.groupdict.set(name, gid);
    }
  }
  const subVerbose = (verbose || (addFlags & FLAG_VERBOSE) !== 0) && (delFlags & FLAG_VERBOSE) === 0;
  const body = parseAlternation(source, state, subVerbose, nested + 1);
  if (!source.match(')')) throw source.error('missing ), unterminated subpattern', source.tell() - start);
  if (gid !== null) state.groupwidths[gid] = widthOf(body, state);
  if (atomic) return { kind: 'atomic', body, pos: start };
  return { kind: 'group', gid, name, addFlags, delFlags, body, pos: start };
}

/** The '(?(' branch of _parser._parse: conditional backreference groups. */
function parseConditional(source: Tokenizer, state: ParseState, verbose: boolean, nested: number, start: number): Node {
  const condname = source.getuntil(')', 'group name');
  const offset = codePointLength(condname) + 1;
  let gid: number;
  if (PYTHON_IDENTIFIER.test(condname)) {
    const known = state.groupdict.get(condname);
    if (known === undefined) throw source.error(`unknown group name ${pyRepr(condname)}`, offset);
    gid = known;
  } else {
    // Python uses int(condname), which also accepts surrounding spaces, a sign and underscores.
    const match = /^\s*\+?(\d+(?:_\d+)*)\s*$/u.exec(condname);
    if (match === null) throw source.error(`bad character in group name ${pyRepr(condname)}`, offset);
    const digits = Array.from((match[1] as string).replace(/_/g, ''), (d) => {
      const value = pythonDecimalValue(d.codePointAt(0) as number);
      return value < 0 ? '?' : String(value);
    }).join('');
    if (digits.includes('?')) throw source.error(`bad character in group name ${pyRepr(condname)}`, offset);
    gid = Number(digits);
    if (gid === 0) throw source.error('bad group number', offset);
    if (gid >= MAXGROUPS) throw source.error(`invalid group reference ${gid}`, offset);
    if (!state.grouprefpos.has(gid)) state.grouprefpos.set(gid, source.tell() - offset);
  }
  checkLookbehindGroup(state, gid, source);
  const yes = parseSequence(source, state, verbose, nested + 1, false);
  let no: SeqNode | null = null;
  if (source.match('|')) {
    no = parseSequence(source, state, verbose, nested + 1, false);
    if (source.next === '|') throw source.error('conditional backref with more than two branches');
  }
  if (!source.match(')')) throw source.error('missing ), unterminated subpattern', source.tell() - start);
  return { kind: 'cond', gid, yes, no, pos: start };
}

/** _parser._parse_flags: null for global flags `(?i)`, else the scoped [add, del] of `(?i-s:…)`. */
function parseFlags(source: Tokenizer, state: ParseState, first: string): [number, number] | null {
  let char: string | null = first;
  let addFlags = 0;
  let delFlags = 0;
  const isAlpha = (c: string): boolean => /^\p{L}$/u.test(c);
  if (char !== '-') {
    for (;;) {
      const flag = INLINE_FLAGS[char as string] as number;
      if (char === 'L') throw source.error("bad inline flags: cannot use 'L' flag with a str pattern");
      addFlags |= flag;
      if ((flag & TYPE_FLAGS) !== 0 && (addFlags & TYPE_FLAGS) !== flag) {
        throw source.error("bad inline flags: flags 'a', 'u' and 'L' are incompatible");
      }
      char = source.get();
      if (char === null) throw source.error('missing -, : or )');
      if (char === ')' || char === '-' || char === ':') break;
      if (!Object.hasOwn(INLINE_FLAGS, char)) {
        throw source.error(isAlpha(char) ? 'unknown flag' : 'missing -, : or )', codePointLength(char));
      }
    }
  }
  if (char === ')') {
    state.flags |= addFlags;
    return null;
  }
  if ((addFlags & GLOBAL_FLAGS) !== 0) throw source.error('bad inline flags: cannot turn on global flag', 1);
  if (char === '-') {
    char = source.get();
    if (char === null) throw source.error('missing flag');
    if (!Object.hasOwn(INLINE_FLAGS, char)) throw source.error(isAlpha(char) ? 'unknown flag' : 'missing flag', codePointLength(char));
    for (;;) {
      const flag = INLINE_FLAGS[char as string] as number;
      if ((flag & TYPE_FLAGS) !== 0) throw source.error("bad inline flags: cannot turn off flags 'a', 'u' and 'L'");
      delFlags |= flag;
      char = source.get();
      if (char === null) throw source.error('missing :');
      if (char === ':') break;
      if (!Object.hasOwn(INLINE_FLAGS, char)) throw source.error(isAlpha(char) ? 'unknown flag' : 'missing :', codePointLength(char));
    }
  }
  if ((delFlags & GLOBAL_FLAGS) !== 0) throw source.error('bad inline flags: cannot turn off global flag', 1);
  if ((addFlags & delFlags) !== 0) throw source.error('bad inline flags: flag turned on and off', 1);
  return [addFlags, delFlags];
}

interface ParsedPattern {
  readonly root: SeqNode;
  readonly state: ParseState;
}

/** _parser.parse plus the checks _compiler.compile adds; throws regex_invalid like Python. */
function parsePythonPattern(pattern: string): ParsedPattern {
  const source = new Tokenizer(pattern);
  const state = new ParseState();
  const root = parseAlternation(source, state, false, 0);
  // fix_flags
  if ((state.flags & FLAG_ASCII) === 0) state.flags |= FLAG_UNICODE;
  else if ((state.flags & FLAG_UNICODE) !== 0) {
    throw rejectedByPython(pattern, 'ASCII and UNICODE flags are incompatible (ValueError)', null);
  }
  if (source.next !== null) throw source.error('unbalanced parenthesis');
  for (const [gid, position] of state.grouprefpos) {
    if (gid >= state.groups) throw rejectedByPython(pattern, `invalid group reference ${gid}`, position);
  }
  checkCompilable(pattern, root, state, state.flags);
  return { root, state };
}

/** The errors _compiler._compile raises: variable-width lookbehinds and TEMPLATE repeats. */
function checkCompilable(pattern: string, node: Node, state: ParseState, flags: number): void {
  switch (node.kind) {
    case 'seq':
      for (const item of node.items) checkCompilable(pattern, item, state, flags);
      return;
    case 'branch':
      for (const alternative of node.alternatives) checkCompilable(pattern, alternative, state, flags);
      return;
    case 'group':
      checkCompilable(pattern, node.body, state, combineFlags(flags, node.addFlags, node.delFlags));
      return;
    case 'atomic':
      checkCompilable(pattern, node.body, state, flags);
      return;
    case 'repeat':
      if ((flags & FLAG_TEMPLATE) !== 0) {
        throw rejectedByPython(pattern, 'internal: unsupported template operator (repeat under the TEMPLATE flag)', node.pos);
      }
      checkCompilable(pattern, node.body, state, flags);
      return;
    case 'look':
      if (node.behind) {
        const [lo, hi] = widthOf(node.body, state);
        if (lo > MAXCODE) throw rejectedByPython(pattern, 'looks too much behind', node.pos);
        if (lo !== hi) throw rejectedByPython(pattern, 'look-behind requires fixed-width pattern', node.pos);
      }
      checkCompilable(pattern, node.body, state, flags);
      return;
    case 'cond':
      checkCompilable(pattern, node.yes, state, flags);
      if (node.no !== null) checkCompilable(pattern, node.no, state, flags);
      return;
    default:
      return;
  }
}

/** _compiler._combine_flags: a scoped type flag (a/u) replaces the inherited one. */
function combineFlags(flags: number, addFlags: number, delFlags: number): number {
  const base = (addFlags & TYPE_FLAGS) !== 0 ? flags & ~TYPE_FLAGS : flags;
  return (base | addFlags) & ~delFlags;
}

// ---------------------------------------------------------------------------------------------
// Code-point sets

type Ranges = ReadonlyArray<readonly [number, number]>;

function normalizeRanges(ranges: Iterable<readonly [number, number]>): Ranges {
  const sorted = [...ranges].sort((a, b) => a[0] - b[0]);
  const out: Array<[number, number]> = [];
  for (const [lo, hi] of sorted) {
    const last = out[out.length - 1];
    if (last !== undefined && lo <= last[1] + 1) last[1] = Math.max(last[1], hi);
    else out.push([lo, hi]);
  }
  return out;
}

function complementRanges(ranges: Ranges): Ranges {
  const out: Array<[number, number]> = [];
  let next = 0;
  for (const [lo, hi] of ranges) {
    if (lo > next) out.push([next, lo - 1]);
    next = hi + 1;
  }
  if (next <= MAX_CODE_POINT) out.push([next, MAX_CODE_POINT]);
  return out;
}

function rangesContain(ranges: Ranges, cp: number): boolean {
  let low = 0;
  let high = ranges.length - 1;
  while (low <= high) {
    const mid = (low + high) >> 1;
    const [lo, hi] = ranges[mid] as readonly [number, number];
    if (cp < lo) high = mid - 1;
    else if (cp > hi) low = mid + 1;
    else return true;
  }
  return false;
}

/** Decodes the compact tables at the end of this file: "30-39 41-5a 5f …" (hex). */
function decodeTable(table: string): Ranges {
  return table
    .trim()
    .split(/\s+/)
    .map((entry) => {
      const [lo, hi = lo] = entry.split('-');
      return [Number.parseInt(lo as string, 16), Number.parseInt(hi as string, 16)] as const;
    });
}

let unicodeTables: { readonly d: Ranges; readonly w: Ranges; readonly s: Ranges } | undefined;
function pythonUnicodeTables(): { readonly d: Ranges; readonly w: Ranges; readonly s: Ranges } {
  unicodeTables ??= { d: decodeTable(PY311_DECIMAL), w: decodeTable(PY311_WORD), s: decodeTable(PY311_SPACE) };
  return unicodeTables;
}

const ASCII_TABLES = {
  d: [[0x30, 0x39]] as Ranges,
  w: [
    [0x30, 0x39],
    [0x41, 0x5a],
    [0x5f, 0x5f],
    [0x61, 0x7a],
  ] as Ranges,
  s: [
    [0x09, 0x0d],
    [0x20, 0x20],
  ] as Ranges,
};

/** The code points a category escape matches under `flags`, per Python 3.11. */
function categoryRanges(cat: CategoryName, flags: number): Ranges {
  const tables = (flags & FLAG_ASCII) !== 0 ? ASCII_TABLES : pythonUnicodeTables();
  switch (cat) {
    case 'd':
      return tables.d;
    case 'w':
      return tables.w;
    case 's':
      return tables.s;
    case 'D':
      return complementRanges(tables.d);
    case 'W':
      return complementRanges(tables.w);
    case 'S':
      return complementRanges(tables.s);
  }
}

/** Whether Python 3.11's `str.isdecimal()` holds for this code point (what `\d` matches). */
export function isPythonDecimalDigit(cp: number): boolean {
  return rangesContain(pythonUnicodeTables().d, cp);
}

/** The digit value of a Python decimal character, or -1. Decimal digits come in runs of ten from 0. */
function pythonDecimalValue(cp: number): number {
  for (const [lo, hi] of pythonUnicodeTables().d) {
    if (cp >= lo && cp <= hi) return (cp - lo) % 10;
  }
  return -1;
}

// ---------------------------------------------------------------------------------------------
// Case-insensitive matching, expanded into explicit sets

/** Non-ASCII characters Python's unicode IGNORECASE adds to an ASCII letter (_casefix.py and lower()). */
const UNICODE_CASE_EXTRAS: Readonly<Record<string, readonly number[]>> = {
  i: [0x130, 0x131], // 'İ'.lower() is 'i'; 'ı' shares the uppercase 'I'
  k: [0x212a], // KELVIN SIGN lowers to 'k'
  s: [0x17f], // LONG S shares the uppercase 'S'
};

/** Whether a character has any case mapping (Node's Unicode is newer than Python's: never less cased). */
function hasCase(cp: number): boolean {
  const text = String.fromCodePoint(cp);
  return text.toLowerCase() !== text || text.toUpperCase() !== text;
}

/**
 * The set Python matches for the code point `cp` under IGNORECASE: for an ASCII letter, both
 * cases plus Python's extras; for an uncased character, itself. A cased non-ASCII character would
 * need Python's full simple-lowercase table, so it is refused.
 */
function caselessRanges(cp: number, flags: number, refuse: () => StrategyError): Ranges {
  if (cp < 0x80) {
    const char = String.fromCharCode(cp);
    if (!isAsciiLetter(char)) return [[cp, cp]];
    const lower = char.toLowerCase();
    const codes = [lower.charCodeAt(0), char.toUpperCase().charCodeAt(0)];
    if ((flags & FLAG_ASCII) === 0) codes.push(...(UNICODE_CASE_EXTRAS[lower] ?? []));
    return normalizeRanges(codes.map((c) => [c, c] as const));
  }
  // Python's ASCII mode lowers only ASCII letters, so other characters match only themselves.
  if ((flags & FLAG_ASCII) !== 0 || !hasCase(cp)) return [[cp, cp]];
  throw refuse();
}

// ---------------------------------------------------------------------------------------------
// Emitting JavaScript

/** Characters emitted as themselves; everything else becomes `\u{…}`, valid in every `u` context. */
const PLAIN_OUTSIDE_CLASS = /^[A-Za-z0-9_ :@,;=!<>'"#%&~`/-]$/;
const PLAIN_INSIDE_CLASS = /^[A-Za-z0-9_]$/;

/** Characters JS `u` mode lets us write as backslash + the character (SyntaxCharacter, and '-' in a class). */
const JS_SYNTAX_OUTSIDE_CLASS = /^[\^$\\.*+?()[\]{}|]$/;
const JS_SYNTAX_INSIDE_CLASS = /^[\^$\\.*+?()[\]{}|-]$/;

function emitCodePoint(cp: number, insideClass: boolean): string {
  const char = String.fromCodePoint(cp);
  if ((insideClass ? PLAIN_INSIDE_CLASS : PLAIN_OUTSIDE_CLASS).test(char)) return char;
  if ((insideClass ? JS_SYNTAX_INSIDE_CLASS : JS_SYNTAX_OUTSIDE_CLASS).test(char)) return `\\${char}`;
  return `\\u{${cp.toString(16)}}`;
}

function emitRangesBody(ranges: Ranges): string {
  let out = '';
  for (const [lo, hi] of ranges) {
    out += emitCodePoint(lo, true);
    if (hi > lo) out += (hi > lo + 1 ? '-' : '') + emitCodePoint(hi, true);
  }
  return out;
}

/** A JS class for exactly these code points; the negated form when the set starts at U+0000. */
function emitClass(ranges: Ranges): string {
  if (ranges.length === 0) return '[]';
  if ((ranges[0] as readonly [number, number])[0] === 0) return `[^${emitRangesBody(complementRanges(ranges))}]`;
  return `[${emitRangesBody(ranges)}]`;
}

/** JS group names are ECMAScript identifiers; checked by compiling rather than approximated. */
function isJsGroupName(name: string): boolean {
  try {
    new RegExp(`(?<${name}>)`, 'u');
    return true;
  } catch {
    return false;
  }
}

interface Ancestor {
  readonly node: Node;
  /** True when the match can pass this point without entering the node (alternative, `?`, `*`). */
  readonly optional: boolean;
}

class Emitter {
  /** For each group number: the optional ancestors it sits under, to vet backreferences. */
  private readonly groupOptionalAncestors = new Map<number, ReadonlySet<Node>>();
  readonly groupNames: string[] = [];

  constructor(
    private readonly pattern: string,
    private readonly state: ParseState,
  ) {}

  private refuse(construct: string, position: number, why: string): StrategyError {
    return untranslatable(this.pattern, construct, position, why);
  }

  emit(node: Node, flags: number, ancestors: readonly Ancestor[]): string {
    switch (node.kind) {
      case 'seq':
        return node.items.map((item) => this.emit(item, flags, ancestors)).join('');
      case 'lit':
        return this.emitLiteral(node.cp, node.pos, flags);
      case 'class':
        return emitClass(this.classRanges(node, flags));
      case 'any':
        return (flags & FLAG_DOTALL) !== 0 ? '[\\s\\S]' : '[^\\n]';
      case 'at':
        return this.emitAt(node.at, flags);
      case 'named':
        throw this.refuse(`the named character \\N{${node.name}}`, node.pos, 'sparctl has no Unicode character-name table');
      case 'branch': {
        const alternatives = node.alternatives.map((alternative) =>
          this.emit(alternative, flags, [...ancestors, { node: alternative, optional: true }]),
        );
        return `(?:${alternatives.join('|')})`;
      }
      case 'group':
        return this.emitGroup(node, flags, ancestors);
      case 'atomic':
        throw this.refuse('the atomic group (?>…)', node.pos, 'JavaScript regexes have no atomic groups');
      case 'look': {
        const body = this.emit(node.body, flags, [...ancestors, { node, optional: node.negate }]);
        return `(?${node.behind ? '<' : ''}${node.negate ? '!' : '='}${body})`;
      }
      case 'repeat':
        return this.emitRepeat(node, flags, ancestors);
      case 'ref':
        return this.emitBackreference(node, flags, ancestors);
      case 'cond':
        throw this.refuse('the conditional group (?(…)…|…)', node.pos, 'JavaScript regexes have no conditionals');
    }
  }

  private emitLiteral(cp: number, position: number, flags: number): string {
    if ((flags & FLAG_IGNORECASE) === 0) return emitCodePoint(cp, false);
    const ranges = caselessRanges(cp, flags, () => this.caseRefusal(cp, position));
    return ranges.length === 1 && (ranges[0] as readonly [number, number])[0] === (ranges[0] as readonly [number, number])[1]
      ? emitCodePoint(cp, false)
      : emitClass(ranges);
  }

  private caseRefusal(cp: number, position: number): StrategyError {
    return this.refuse(
      `the case-insensitive non-ASCII character ${JSON.stringify(String.fromCodePoint(cp))}`,
      position,
      "Python's Unicode case folding differs from JavaScript's and sparctl reproduces it only for ASCII letters",
    );
  }

  private classRanges(node: Extract<Node, { kind: 'class' }>, flags: number): Ranges {
    const ignoreCase = (flags & FLAG_IGNORECASE) !== 0;
    const collected: Array<readonly [number, number]> = [];
    for (const item of node.items) {
      switch (item.kind) {
        case 'named':
          throw this.refuse(`the named character \\N{${item.name}}`, node.pos, 'sparctl has no Unicode character-name table');
        case 'cat':
          // Python checks categories against lower(ch); \d \w \s give the same answer either way.
          collected.push(...categoryRanges(item.cat, flags));
          break;
        case 'lit':
          if (ignoreCase) collected.push(...caselessRanges(item.cp, flags, () => this.caseRefusal(item.cp, node.pos)));
          else collected.push([item.cp, item.cp]);
          break;
        case 'range':
          if (ignoreCase) collected.push(...this.caselessRange(item.lo, item.hi, flags, node.pos));
          else collected.push([item.lo, item.hi]);
          break;
      }
    }
    const ranges = normalizeRanges(collected);
    return node.negate ? complementRanges(ranges) : ranges;
  }

  private caselessRange(lo: number, hi: number, flags: number, position: number): Ranges {
    const out: Array<readonly [number, number]> = [];
    for (let cp = lo; cp <= Math.min(hi, 0x7f); cp++) out.push(...caselessRanges(cp, flags, () => this.caseRefusal(cp, position)));
    const nonAsciiFrom = Math.max(lo, 0x80);
    if (hi >= nonAsciiFrom) {
      if ((flags & FLAG_ASCII) === 0) {
        for (let cp = nonAsciiFrom; cp <= hi; cp++) {
          if (hasCase(cp)) throw this.caseRefusal(cp, position);
        }
      }
      out.push([nonAsciiFrom, hi]);
    }
    return out;
  }

  private emitAt(at: AtKind, flags: number): string {
    const multiline = (flags & FLAG_MULTILINE) !== 0;
    switch (at) {
      case 'beginString':
        return '(?<![\\s\\S])';
      case 'begin':
        // Python's only line break is \n; JS's m flag would also break at \r, U+2028 and U+2029.
        return multiline ? '(?<![^\\n])' : '(?<![\\s\\S])';
      case 'endString':
        return '(?![\\s\\S])';
      case 'end':
        // Without MULTILINE, Python's $ also matches just before a final \n.
        return multiline ? '(?![^\\n])' : '(?=\\n?(?![\\s\\S]))';
      case 'boundary':
      case 'nonBoundary': {
        const word = emitClass(categoryRanges('w', flags));
        if (at === 'boundary') return `(?:(?<=${word})(?!${word})|(?<!${word})(?=${word}))`;
        // Python 3.11's \B never matches in an empty string (fixed only in 3.14).
        return `(?:(?<=${word})(?=${word})|(?<!${word})(?!${word})(?:(?<=[\\s\\S])|(?=[\\s\\S])))`;
      }
    }
  }

  private emitGroup(node: Extract<Node, { kind: 'group' }>, flags: number, ancestors: readonly Ancestor[]): string {
    const innerFlags = combineFlags(flags, node.addFlags, node.delFlags);
    if (node.gid === null) {
      return `(?:${this.emit(node.body, innerFlags, [...ancestors, { node, optional: false }])})`;
    }
    const shown = node.name === null ? `the capturing group #${node.gid}` : `the named group (?P<${node.name}>…)`;
    for (const ancestor of ancestors) {
      const outer = ancestor.node;
      if (outer.kind === 'repeat' && outer.max > 1) {
        throw this.refuse(
          shown,
          node.pos,
          `it is inside the quantifier ${outer.text} at position ${outer.pos}; Python keeps the capture from the last iteration that set it, JavaScript clears it on every iteration`,
        );
      }
      if (outer.kind === 'look' && outer.negate) {
        throw this.refuse(
          shown,
          node.pos,
          'it is inside a negative lookaround, where Python and JavaScript disagree about what a capture keeps',
        );
      }
    }
    this.groupOptionalAncestors.set(node.gid, new Set(ancestors.filter((a) => a.optional).map((a) => a.node)));
    let open = '(';
    if (node.name !== null) {
      if (!isJsGroupName(node.name)) {
        throw this.refuse(shown, node.pos, 'its name is a Python identifier that JavaScript does not accept as a group name');
      }
      this.groupNames.push(node.name);
      open = `(?<${node.name}>`;
    }
    return `${open}${this.emit(node.body, innerFlags, [...ancestors, { node, optional: false }])})`;
  }

  private emitRepeat(node: Extract<Node, { kind: 'repeat' }>, flags: number, ancestors: readonly Ancestor[]): string {
    if (node.mode === 'possessive') {
      throw this.refuse(`the possessive quantifier ${node.text}`, node.pos, 'JavaScript regexes have no possessive quantifiers');
    }
    if (node.max > node.min && widthOf(node.body, this.state)[0] === 0) {
      throw this.refuse(
        `the quantifier ${node.text}`,
        node.pos,
        'what it repeats can match an empty string; Python stops repeating after an empty iteration while JavaScript backtracks into it, so they can split the input differently',
      );
    }
    const body = this.emit(node.body, flags, [...ancestors, { node, optional: node.min === 0 }]);
    // A single character or class needs no group around it.
    const atom = node.body.kind === 'lit' || node.body.kind === 'class' || node.body.kind === 'any' ? body : `(?:${body})`;
    let quantifier: string;
    const unbounded = node.max === MAXREPEAT;
    if (node.min === 0 && node.max === 1) quantifier = '?';
    else if (node.min === 0 && unbounded) quantifier = '*';
    else if (node.min === 1 && unbounded) quantifier = '+';
    else if (unbounded) quantifier = `{${node.min},}`;
    else if (node.min === node.max) quantifier = `{${node.min}}`;
    else quantifier = `{${node.min},${node.max}}`;
    return `${atom}${quantifier}${node.mode === 'lazy' ? '?' : ''}`;
  }

  private emitBackreference(node: Extract<Node, { kind: 'ref' }>, flags: number, ancestors: readonly Ancestor[]): string {
    if ((flags & FLAG_IGNORECASE) !== 0) {
      throw this.refuse(
        `the backreference ${node.text}`,
        node.pos,
        'Python compares it case-insensitively with its own lowercase table, which JavaScript cannot reproduce',
      );
    }
    const optional = this.groupOptionalAncestors.get(node.gid);
    if (optional === undefined) {
      throw new Error(`unreachable: group ${node.gid} was not emitted before its backreference`);
    }
    const enclosing = new Set(ancestors.map((a) => a.node));
    for (const ancestor of optional) {
      if (!enclosing.has(ancestor)) {
        throw this.refuse(
          `the backreference ${node.text}`,
          node.pos,
          `group ${node.gid} may not have taken part in the match; Python then fails the match while JavaScript matches an empty string`,
        );
      }
    }
    const name = [...this.state.groupdict].find(([, gid]) => gid === node.gid)?.[0];
    return name === undefined ? `(?:\\${node.gid})` : `\\k<${name}>`;
  }
}

/**
 * Translates a Python 3.11 `re` pattern into an equivalent JS RegExp anchored at the start (as
 * `re.match` is). Throws StrategyError `strategy.regex_invalid` when Python itself rejects the
 * pattern, and `strategy.regex_untranslatable` when it uses a construct whose Python behaviour
 * sparctl cannot reproduce exactly.
 */
export function translatePythonRegex(pattern: string): TranslatedRegex {
  const { root, state } = parsePythonPattern(pattern);
  if ((state.flags & FLAG_TEMPLATE) !== 0) {
    throw untranslatable(pattern, 'the TEMPLATE flag (?t)', 0, 'it is deprecated and undocumented in Python 3.11');
  }
  const emitter = new Emitter(pattern, state);
  const body = emitter.emit(root, state.flags, []);
  let regex: RegExp;
  try {
    regex = new RegExp(`^(?:${body})`, 'u');
  } catch (error) {
    throw untranslatable(pattern, 'the pattern', 0, `its JavaScript translation does not compile (${(error as Error).message})`);
  }
  return { pythonPattern: pattern, regex, groupNames: emitter.groupNames };
}

/**
 * `m = re.match(pattern, input); m.groupdict() if m else None`: null when there is no match,
 * else every named group, null for a group that did not take part.
 */
export function pythonReMatch(translated: TranslatedRegex, input: string): Record<string, string | null> | null {
  const match = translated.regex.exec(input);
  if (match === null) return null;
  const result: Record<string, string | null> = {};
  for (const name of translated.groupNames) {
    const value = match.groups?.[name] ?? null;
    // defineProperty only where assignment would not make an ordinary key (it is slow: this
    // runs for every FA read back).
    if (name === '__proto__') Object.defineProperty(result, name, { value, enumerable: true, writable: true, configurable: true });
    else result[name] = value;
  }
  return result;
}

// ---------------------------------------------------------------------------------------------
// Catastrophic backtracking

/**
 * A bounded repeat counts as "many" above this many iterations. Nesting a variable-width repeat
 * in a repeat of at most k iterations costs about C(L, k) steps on a near-miss run of L
 * characters — polynomial, but steep: measured for `^acct:(?P<n>(?:[0-9]+-?){1,k})$` (Node
 * 20 and Python 3.11 alike), k = 3 takes 42 ms at L = 200 and 0.8 s at L = 512 (the longest id),
 * k = 4 takes 3.3 s at L = 200, k = 5 takes 2.6 s at L = 100, and k = 10 takes over 20 s at
 * L = 40. An FA's fields have no length limit, so only k ≤ 3 stays safe.
 */
const MANY_REPEATS = 3;

/** A repeat that can run more than MANY_REPEATS times, its enclosing bounded repeats' counts multiplied in. */
const repeatsMany = (node: Extract<Node, { kind: 'repeat' }>, enclosing: number): boolean =>
  node.max === MAXREPEAT || node.max * enclosing > MANY_REPEATS;

/**
 * A heuristic, not a proof: flags the two classic shapes that make a backtracking engine (Python's
 * and JavaScript's alike) take exponential time on a near-miss input:
 * 1. a quantifier repeating many times (unbounded, or bounded above MANY_REPEATS) over something
 *    that itself contains such a quantifier, e.g. `(a+)+`, `(a*)*`, `(?:\w+\s?)*`, `(?:a+){1,30}`;
 * 2. a quantifier repeating many times over an alternation whose alternatives can start with the
 *    same character, e.g. `(a|a)*`, `(?:\w|\d)+`, `(?:a|a){1,30}`.
 * Shape 1 is not flagged when every iteration starts (or ends) with a required separator that no
 * repeat inside it or just before it can match, e.g. `[a-z]+(?:-[a-z]+)*`: each `-` then marks
 * where an iteration begins, so a run can be split only one way (an optional `-?` marks nothing).
 * Only plain iterations qualify — characters, classes and repeated ones, no alternation — each of
 * whose variable repeats stops where the next part starts: `(?:-[a-z]*[a-z]*)*` and
 * `(?:-(?:a|a)b*)*` split each iteration two ways, which multiplies over the iterations.
 * Returns a one-line reason, or null when neither shape is present or the pattern does not parse.
 */
export function findCatastrophicBacktracking(pattern: string): string | null {
  let parsed: ParsedPattern;
  try {
    parsed = parsePythonPattern(pattern);
  } catch {
    return null;
  }
  const context: Scan = { caseless: usesIgnoreCase(parsed.root, parsed.state.flags) };
  return findNestedRepeat(parsed.root, parsed.state.flags, 1, [], context) ?? findRepeatRun(parsed.root, parsed.state.flags);
}

/**
 * Shape 3: more than MANY_REPEATS variable repeats in a row, each able to match what the ones
 * before it match (`.*.*.*.*`, `\d+-?\d+-?\d+-?\d+`, `(?:.*|x)` four times): a near-miss of L
 * characters is split among k of them about L^k / k! ways. Measured with Python 3.11 at L = 512:
 * 3 in a row 0.15-0.2 s, 12 in a row hangs. One required character the repeats can match does
 * not pin where they end (`.*\..*\..*\..*` on a near-miss full of dots: about L^4); two or
 * more in a row do, in practice (`.*\.branch_name:.*` is SPAR's own strategy 2), as does one
 * they cannot match.
 */
function findRepeatRun(node: Node, flags: number): string | null {
  if (node.kind === 'seq') {
    let run: { text: string; pos: number }[] = [];
    let shared: Ranges = [];
    // A required character met since the last repeat of the run (a second one ends the run).
    let pinned = false;
    const end = () => {
      run = [];
      shared = [];
      pinned = false;
    };
    for (const { item, itemFlags } of flatSequence(node, flags)) {
      if (item.kind === 'at' || item.kind === 'look') continue;
      const repeat = manyWays(item, itemFlags);
      if (repeat !== undefined) {
        if (run.length > 0 && rangesOverlap(repeat.chars, shared)) {
          run.push(repeat);
          shared = normalizeRanges([...shared, ...repeat.chars]);
        } else {
          run = [repeat];
          shared = repeat.chars;
        }
        pinned = false;
        if (run.length > MANY_REPEATS)
          return `the quantifiers ${run.map((r) => `${r.text} at position ${r.pos}`).join(', ')} follow one another over characters they share (${run.length} in a row: a near-miss FA takes time growing as its length to the power ${run.length})`;
        continue;
      }
      // An optional part pins nothing.
      if (item.kind === 'repeat' && item.min === 0) continue;
      if (run.length > 0 && !pinned && isSingleAtom(item) && rangesOverlap(consumedChars(item, itemFlags), shared)) {
        pinned = true;
        continue;
      }
      end();
    }
  }
  const childFlags = node.kind === 'group' ? combineFlags(flags, node.addFlags, node.delFlags) : flags;
  for (const child of childrenOf(node)) {
    const found = findRepeatRun(child, childFlags);
    if (found !== null) return found;
  }
  return null;
}

/**
 * An item that can take a run of characters many ways: a variable repeat of more than
 * MANY_REPEATS, or an alternation one of whose alternatives holds one (`(?:.*|x)`).
 */
function manyWays(item: Node, flags: number): { text: string; pos: number; chars: Ranges } | undefined {
  if (item.kind === 'repeat' && item.min !== item.max && repeatsMany(item, 1))
    return { text: item.text, pos: item.pos, chars: consumedChars(item.body, flags) };
  if (item.kind === 'branch' && item.alternatives.some((alternative) => firstManyRepeat(alternative) !== null))
    return { text: 'an alternation', pos: item.pos, chars: consumedChars(item, flags) };
  return undefined;
}

/** The items of a sequence with plain groups opened up (`(?P<n>a+)b` is `a+` then `b`). */
function flatSequence(node: SeqNode, flags: number): { item: Node; itemFlags: number }[] {
  return node.items.flatMap((item) =>
    item.kind === 'group' ? flatSequence(item.body, combineFlags(flags, item.addFlags, item.delFlags)) : [{ item, itemFlags: flags }],
  );
}

interface Scan {
  /** IGNORECASE anywhere: the sets below are not case-folded, so no separator is trusted. */
  readonly caseless: boolean;
}

/**
 * `enclosing`: how many times the enclosing bounded repeats can run `node` (`(?:(?:a+){3}){3}` is
 * `(?:a+){9}`); `before`: what the repeats that can match just before `node` can match (back to
 * the last required character or class, which pins where they end).
 */
function findNestedRepeat(node: Node, flags: number, enclosing: number, before: Ranges, scan: Scan): string | null {
  let separated = false;
  if (node.kind === 'repeat' && repeatsMany(node, enclosing)) {
    const inner = firstManyRepeat(node.body);
    if (inner !== null) {
      separated = hasSeparator(node.body, flags, before, scan);
      if (!separated) {
        return `the quantifier ${node.text} at position ${node.pos} repeats a subpattern that contains the quantifier ${inner.text} at position ${inner.pos} (nested quantifiers backtrack exponentially, or nearly so when bounded above ${MANY_REPEATS})`;
      }
    }
    const overlap = overlappingAlternation(node.body, flags);
    if (overlap !== null) {
      return `the quantifier ${node.text} at position ${node.pos} repeats an alternation at position ${overlap} whose alternatives can start with the same character (overlapping alternatives backtrack exponentially)`;
    }
  }
  // Past an unbounded repeat the count no longer matters: its body is checked on its own. Nor does
  // it past a separated one: its iterations cannot trade characters.
  const inside = node.kind === 'repeat' && node.max !== MAXREPEAT && !separated ? Math.min(enclosing * node.max, MAXREPEAT) : enclosing;
  const childFlags = node.kind === 'group' ? combineFlags(flags, node.addFlags, node.delFlags) : flags;
  // An earlier iteration of a repeat comes before its body too.
  let seen = node.kind === 'repeat' && node.max > 1 ? normalizeRanges([...before, ...repeatedChars(node.body, flags)]) : before;
  for (const child of childrenOf(node)) {
    const found = findNestedRepeat(child, childFlags, inside, seen, scan);
    if (found !== null) return found;
    if (node.kind === 'seq') seen = isAtom(child) ? [] : normalizeRanges([...seen, ...repeatedChars(child, childFlags)]);
  }
  return null;
}

/**
 * Whether the repeated `body` starts or ends with a required one-character atom that none of the
 * repeats inside it, nor those before the repeat, can match, and matches its text one way only.
 */
function hasSeparator(body: Node, flags: number, before: Ranges, scan: Scan): boolean {
  if (scan.caseless || !matchesOneWay(body, flags)) return false;
  const taken = normalizeRanges([...before, ...repeatedChars(body, flags)]);
  return [true, false].some((first) => {
    const separator = edgeAtom(body, flags, first);
    return separator !== null && separator.length > 0 && !rangesOverlap(separator, taken);
  });
}

/** The set of the first (or last) item of `node` when it is a plain character or class, else null. */
function edgeAtom(node: Node, flags: number, first: boolean): Ranges | null {
  switch (node.kind) {
    case 'lit':
    case 'class':
      return consumedChars(node, flags);
    case 'group':
      return edgeAtom(node.body, combineFlags(flags, node.addFlags, node.delFlags), first);
    case 'seq': {
      // Anchors and lookarounds take no character: the atom past them is the edge.
      const items = node.items.filter((item) => item.kind !== 'at' && item.kind !== 'look');
      const edge = first ? items[0] : items[items.length - 1];
      return edge === undefined ? null : edgeAtom(edge, flags, first);
    }
    default:
      return null;
  }
}

const isAtom = (node: Node): boolean => node.kind === 'lit' || node.kind === 'class';

/** One character, class or `.`, maybe in groups: `-`, `(?:[a-z])`. */
function isSingleAtom(node: Node): boolean {
  if (node.kind === 'group') return isSingleAtom(node.body);
  if (node.kind === 'seq') return node.items.length === 1 && isSingleAtom(node.items[0] as Node);
  return isAtom(node) || node.kind === 'any';
}

/**
 * Whether `body` is characters, classes and repeats of one of them (through groups), each
 * variable repeat unable to match what can follow it inside `body`: then a text it matches is
 * divided among its parts one way.
 */
function matchesOneWay(body: Node, flags: number): boolean {
  const items: { node: Node; flags: number }[] = [];
  const flatten = (node: Node, nodeFlags: number): boolean => {
    if (node.kind === 'seq') return node.items.every((item) => flatten(item, nodeFlags));
    if (node.kind === 'group') return flatten(node.body, combineFlags(nodeFlags, node.addFlags, node.delFlags));
    if (node.kind === 'at' || node.kind === 'look') return true;
    if (isAtom(node) || node.kind === 'any' || (node.kind === 'repeat' && isSingleAtom(node.body))) {
      items.push({ node, flags: nodeFlags });
      return true;
    }
    return false;
  };
  if (!flatten(body, flags)) return false;
  return items.every(({ node, flags: itemFlags }, i) => {
    if (node.kind !== 'repeat' || node.min === node.max) return true;
    const rest: SeqNode = { kind: 'seq', items: items.slice(i + 1).map((item) => item.node) };
    return !rangesOverlap(consumedChars(node.body, itemFlags), firstChars(rest, itemFlags).ranges);
  });
}

/** What the repeats in `node` (itself included) can match. */
function repeatedChars(node: Node, flags: number): Ranges {
  if (node.kind === 'repeat') return consumedChars(node.body, flags);
  const childFlags = node.kind === 'group' ? combineFlags(flags, node.addFlags, node.delFlags) : flags;
  return normalizeRanges(childrenOf(node).flatMap((child) => repeatedChars(child, childFlags)));
}

/** The characters a class matches, not case-folded (an item it cannot list: every character). */
function classRanges(node: Extract<Node, { kind: 'class' }>, flags: number): Ranges {
  const collected: Array<readonly [number, number]> = [];
  for (const item of node.items) {
    if (item.kind === 'lit') collected.push([item.cp, item.cp]);
    else if (item.kind === 'range') collected.push([item.lo, item.hi]);
    else if (item.kind === 'cat') collected.push(...categoryRanges(item.cat, flags));
    else return EVERYTHING;
  }
  const ranges = normalizeRanges(collected);
  return node.negate ? complementRanges(ranges) : ranges;
}

/** Every character `node` can match anywhere, not case-folded (see Scan). */
function consumedChars(node: Node, flags: number): Ranges {
  switch (node.kind) {
    case 'lit':
      return [[node.cp, node.cp]];
    case 'class':
      return classRanges(node, flags);
    case 'any':
    case 'named':
    case 'ref':
      return EVERYTHING;
    case 'group':
      return consumedChars(node.body, combineFlags(flags, node.addFlags, node.delFlags));
    default:
      return normalizeRanges(childrenOf(node).flatMap((child) => consumedChars(child, flags)));
  }
}

/** Whether IGNORECASE is on anywhere in the pattern. */
function usesIgnoreCase(node: Node, flags: number): boolean {
  if ((flags & FLAG_IGNORECASE) !== 0) return true;
  const childFlags = node.kind === 'group' ? combineFlags(flags, node.addFlags, node.delFlags) : flags;
  return childrenOf(node).some((child) => usesIgnoreCase(child, childFlags));
}

function childrenOf(node: Node): readonly Node[] {
  switch (node.kind) {
    case 'seq':
      return node.items;
    case 'branch':
      return node.alternatives;
    case 'group':
    case 'atomic':
    case 'look':
      return [node.body];
    case 'repeat':
      return [node.body];
    case 'cond':
      return node.no === null ? [node.yes] : [node.yes, node.no];
    default:
      return [];
  }
}

/** A variable-width repeat that can split a run many ways: unbounded, or bounded above MANY_REPEATS (`\d{4}` has one way). */
function firstManyRepeat(node: Node): Extract<Node, { kind: 'repeat' }> | null {
  if (node.kind === 'repeat' && node.min !== node.max && repeatsMany(node, 1)) return node;
  for (const child of childrenOf(node)) {
    const found = firstManyRepeat(child);
    if (found !== null) return found;
  }
  return null;
}

/** Position of a branch directly under `node` (through plain groups) whose alternatives overlap. */
function overlappingAlternation(node: Node, flags: number): number | null {
  if (node.kind === 'group') return overlappingAlternation(node.body, combineFlags(flags, node.addFlags, node.delFlags));
  if (node.kind === 'seq') {
    for (const item of node.items) {
      const found = overlappingAlternation(item, flags);
      if (found !== null) return found;
      if (item.kind !== 'at' && item.kind !== 'look') break;
    }
    return null;
  }
  if (node.kind !== 'branch') return null;
  const firsts = node.alternatives.map((alternative) => firstChars(alternative, flags).ranges);
  for (let i = 0; i < firsts.length; i++) {
    for (let j = i + 1; j < firsts.length; j++) {
      if (rangesOverlap(firsts[i] as Ranges, firsts[j] as Ranges)) return node.pos;
    }
  }
  return null;
}

function rangesOverlap(a: Ranges, b: Ranges): boolean {
  let i = 0;
  let j = 0;
  while (i < a.length && j < b.length) {
    const [alo, ahi] = a[i] as readonly [number, number];
    const [blo, bhi] = b[j] as readonly [number, number];
    if (ahi < blo) i++;
    else if (bhi < alo) j++;
    else return true;
  }
  return false;
}

const EVERYTHING: Ranges = [[0, MAX_CODE_POINT]];

/** Approximate set of characters a subpattern can start with, and whether it can match empty. */
function firstChars(node: Node, flags: number): { ranges: Ranges; nullable: boolean } {
  switch (node.kind) {
    case 'lit': {
      // Good enough for a heuristic: ASCII letters get their case partners, the rest only themselves.
      const caseless = (flags & FLAG_IGNORECASE) !== 0 && node.cp < 0x80;
      const ranges = caseless ? caselessRanges(node.cp, flags, () => untranslatable('', '', 0, '')) : [[node.cp, node.cp] as const];
      return { ranges, nullable: false };
    }
    case 'class':
      return { ranges: classRanges(node, flags), nullable: false };
    case 'any':
    case 'named':
    case 'ref':
    case 'cond':
      return { ranges: EVERYTHING, nullable: node.kind !== 'any' && node.kind !== 'named' };
    case 'at':
    case 'look':
      return { ranges: [], nullable: true };
    case 'group':
      return firstChars(node.body, combineFlags(flags, node.addFlags, node.delFlags));
    case 'atomic':
      return firstChars(node.body, flags);
    case 'repeat': {
      const inner = firstChars(node.body, flags);
      return { ranges: inner.ranges, nullable: inner.nullable || node.min === 0 };
    }
    case 'branch': {
      const all = node.alternatives.map((alternative) => firstChars(alternative, flags));
      return { ranges: normalizeRanges(all.flatMap((f) => f.ranges)), nullable: all.some((f) => f.nullable) };
    }
    case 'seq': {
      const collected: Array<readonly [number, number]> = [];
      for (const item of node.items) {
        const first = firstChars(item, flags);
        collected.push(...first.ranges);
        if (!first.nullable) return { ranges: normalizeRanges(collected), nullable: false };
      }
      return { ranges: normalizeRanges(collected), nullable: true };
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Python 3.11 character tables (Unicode 14.0.0), as hex code-point ranges. Generated with
//   python3.11 -c "import re; …[c for c in range(0x110000) if re.match(r'\w', chr(c))]…"
// and checked against test/fixtures/python-strategy-vectors.json, which
// test/fixtures/make-python-strategy-vectors.py regenerates from Python itself.

/** `\d`: str.isdecimal(). */
const PY311_DECIMAL =
  '30-39 660-669 6f0-6f9 7c0-7c9 966-96f 9e6-9ef a66-a6f ae6-aef b66-b6f be6-bef c66-c6f ce6-cef ' +
  'd66-d6f de6-def e50-e59 ed0-ed9 f20-f29 1040-1049 1090-1099 17e0-17e9 1810-1819 1946-194f ' +
  '19d0-19d9 1a80-1a89 1a90-1a99 1b50-1b59 1bb0-1bb9 1c40-1c49 1c50-1c59 a620-a629 a8d0-a8d9 ' +
  'a900-a909 a9d0-a9d9 a9f0-a9f9 aa50-aa59 abf0-abf9 ff10-ff19 104a0-104a9 10d30-10d39 11066-1106f ' +
  '110f0-110f9 11136-1113f 111d0-111d9 112f0-112f9 11450-11459 114d0-114d9 11650-11659 116c0-116c9 ' +
  '11730-11739 118e0-118e9 11950-11959 11c50-11c59 11d50-11d59 11da0-11da9 16a60-16a69 16ac0-16ac9 ' +
  '16b50-16b59 1d7ce-1d7ff 1e140-1e149 1e2f0-1e2f9 1e950-1e959 1fbf0-1fbf9 ';

/** `\s`: str.isspace(), which includes \x1c-\x1f and \x85 but not U+FEFF. */
const PY311_SPACE = '9-d 1c-20 85 a0 1680 2000-200a 2028-2029 202f 205f 3000 ';

/** `\w`: str.isalnum() or "_". */
const PY311_WORD =
  '30-39 41-5a 5f 61-7a aa b2-b3 b5 b9-ba bc-be c0-d6 d8-f6 f8-2c1 2c6-2d1 2e0-2e4 2ec 2ee 370-374 ' +
  '376-377 37a-37d 37f 386 388-38a 38c 38e-3a1 3a3-3f5 3f7-481 48a-52f 531-556 559 560-588 5d0-5ea ' +
  '5ef-5f2 620-64a 660-669 66e-66f 671-6d3 6d5 6e5-6e6 6ee-6fc 6ff 710 712-72f 74d-7a5 7b1 7c0-7ea ' +
  '7f4-7f5 7fa 800-815 81a 824 828 840-858 860-86a 870-887 889-88e 8a0-8c9 904-939 93d 950 958-961 ' +
  '966-96f 971-980 985-98c 98f-990 993-9a8 9aa-9b0 9b2 9b6-9b9 9bd 9ce 9dc-9dd 9df-9e1 9e6-9f1 ' +
  '9f4-9f9 9fc a05-a0a a0f-a10 a13-a28 a2a-a30 a32-a33 a35-a36 a38-a39 a59-a5c a5e a66-a6f a72-a74 ' +
  'a85-a8d a8f-a91 a93-aa8 aaa-ab0 ab2-ab3 ab5-ab9 abd ad0 ae0-ae1 ae6-aef af9 b05-b0c b0f-b10 ' +
  'b13-b28 b2a-b30 b32-b33 b35-b39 b3d b5c-b5d b5f-b61 b66-b6f b71-b77 b83 b85-b8a b8e-b90 b92-b95 ' +
  'b99-b9a b9c b9e-b9f ba3-ba4 ba8-baa bae-bb9 bd0 be6-bf2 c05-c0c c0e-c10 c12-c28 c2a-c39 c3d ' +
  'c58-c5a c5d c60-c61 c66-c6f c78-c7e c80 c85-c8c c8e-c90 c92-ca8 caa-cb3 cb5-cb9 cbd cdd-cde ' +
  'ce0-ce1 ce6-cef cf1-cf2 d04-d0c d0e-d10 d12-d3a d3d d4e d54-d56 d58-d61 d66-d78 d7a-d7f d85-d96 ' +
  'd9a-db1 db3-dbb dbd dc0-dc6 de6-def e01-e30 e32-e33 e40-e46 e50-e59 e81-e82 e84 e86-e8a e8c-ea3 ' +
  'ea5 ea7-eb0 eb2-eb3 ebd ec0-ec4 ec6 ed0-ed9 edc-edf f00 f20-f33 f40-f47 f49-f6c f88-f8c ' +
  '1000-102a 103f-1049 1050-1055 105a-105d 1061 1065-1066 106e-1070 1075-1081 108e 1090-1099 ' +
  '10a0-10c5 10c7 10cd 10d0-10fa 10fc-1248 124a-124d 1250-1256 1258 125a-125d 1260-1288 128a-128d ' +
  '1290-12b0 12b2-12b5 12b8-12be 12c0 12c2-12c5 12c8-12d6 12d8-1310 1312-1315 1318-135a 1369-137c ' +
  '1380-138f 13a0-13f5 13f8-13fd 1401-166c 166f-167f 1681-169a 16a0-16ea 16ee-16f8 1700-1711 ' +
  '171f-1731 1740-1751 1760-176c 176e-1770 1780-17b3 17d7 17dc 17e0-17e9 17f0-17f9 1810-1819 ' +
  '1820-1878 1880-1884 1887-18a8 18aa 18b0-18f5 1900-191e 1946-196d 1970-1974 1980-19ab 19b0-19c9 ' +
  '19d0-19da 1a00-1a16 1a20-1a54 1a80-1a89 1a90-1a99 1aa7 1b05-1b33 1b45-1b4c 1b50-1b59 1b83-1ba0 ' +
  '1bae-1be5 1c00-1c23 1c40-1c49 1c4d-1c7d 1c80-1c88 1c90-1cba 1cbd-1cbf 1ce9-1cec 1cee-1cf3 ' +
  '1cf5-1cf6 1cfa 1d00-1dbf 1e00-1f15 1f18-1f1d 1f20-1f45 1f48-1f4d 1f50-1f57 1f59 1f5b 1f5d ' +
  '1f5f-1f7d 1f80-1fb4 1fb6-1fbc 1fbe 1fc2-1fc4 1fc6-1fcc 1fd0-1fd3 1fd6-1fdb 1fe0-1fec 1ff2-1ff4 ' +
  '1ff6-1ffc 2070-2071 2074-2079 207f-2089 2090-209c 2102 2107 210a-2113 2115 2119-211d 2124 2126 ' +
  '2128 212a-212d 212f-2139 213c-213f 2145-2149 214e 2150-2189 2460-249b 24ea-24ff 2776-2793 ' +
  '2c00-2ce4 2ceb-2cee 2cf2-2cf3 2cfd 2d00-2d25 2d27 2d2d 2d30-2d67 2d6f 2d80-2d96 2da0-2da6 ' +
  '2da8-2dae 2db0-2db6 2db8-2dbe 2dc0-2dc6 2dc8-2dce 2dd0-2dd6 2dd8-2dde 2e2f 3005-3007 3021-3029 ' +
  '3031-3035 3038-303c 3041-3096 309d-309f 30a1-30fa 30fc-30ff 3105-312f 3131-318e 3192-3195 ' +
  '31a0-31bf 31f0-31ff 3220-3229 3248-324f 3251-325f 3280-3289 32b1-32bf 3400-4dbf 4e00-a48c ' +
  'a4d0-a4fd a500-a60c a610-a62b a640-a66e a67f-a69d a6a0-a6ef a717-a71f a722-a788 a78b-a7ca ' +
  'a7d0-a7d1 a7d3 a7d5-a7d9 a7f2-a801 a803-a805 a807-a80a a80c-a822 a830-a835 a840-a873 a882-a8b3 ' +
  'a8d0-a8d9 a8f2-a8f7 a8fb a8fd-a8fe a900-a925 a930-a946 a960-a97c a984-a9b2 a9cf-a9d9 a9e0-a9e4 ' +
  'a9e6-a9fe aa00-aa28 aa40-aa42 aa44-aa4b aa50-aa59 aa60-aa76 aa7a aa7e-aaaf aab1 aab5-aab6 ' +
  'aab9-aabd aac0 aac2 aadb-aadd aae0-aaea aaf2-aaf4 ab01-ab06 ab09-ab0e ab11-ab16 ab20-ab26 ' +
  'ab28-ab2e ab30-ab5a ab5c-ab69 ab70-abe2 abf0-abf9 ac00-d7a3 d7b0-d7c6 d7cb-d7fb f900-fa6d ' +
  'fa70-fad9 fb00-fb06 fb13-fb17 fb1d fb1f-fb28 fb2a-fb36 fb38-fb3c fb3e fb40-fb41 fb43-fb44 ' +
  'fb46-fbb1 fbd3-fd3d fd50-fd8f fd92-fdc7 fdf0-fdfb fe70-fe74 fe76-fefc ff10-ff19 ff21-ff3a ' +
  'ff41-ff5a ff66-ffbe ffc2-ffc7 ffca-ffcf ffd2-ffd7 ffda-ffdc 10000-1000b 1000d-10026 10028-1003a ' +
  '1003c-1003d 1003f-1004d 10050-1005d 10080-100fa 10107-10133 10140-10178 1018a-1018b 10280-1029c ' +
  '102a0-102d0 102e1-102fb 10300-10323 1032d-1034a 10350-10375 10380-1039d 103a0-103c3 103c8-103cf ' +
  '103d1-103d5 10400-1049d 104a0-104a9 104b0-104d3 104d8-104fb 10500-10527 10530-10563 10570-1057a ' +
  '1057c-1058a 1058c-10592 10594-10595 10597-105a1 105a3-105b1 105b3-105b9 105bb-105bc 10600-10736 ' +
  '10740-10755 10760-10767 10780-10785 10787-107b0 107b2-107ba 10800-10805 10808 1080a-10835 ' +
  '10837-10838 1083c 1083f-10855 10858-10876 10879-1089e 108a7-108af 108e0-108f2 108f4-108f5 ' +
  '108fb-1091b 10920-10939 10980-109b7 109bc-109cf 109d2-10a00 10a10-10a13 10a15-10a17 10a19-10a35 ' +
  '10a40-10a48 10a60-10a7e 10a80-10a9f 10ac0-10ac7 10ac9-10ae4 10aeb-10aef 10b00-10b35 10b40-10b55 ' +
  '10b58-10b72 10b78-10b91 10ba9-10baf 10c00-10c48 10c80-10cb2 10cc0-10cf2 10cfa-10d23 10d30-10d39 ' +
  '10e60-10e7e 10e80-10ea9 10eb0-10eb1 10f00-10f27 10f30-10f45 10f51-10f54 10f70-10f81 10fb0-10fcb ' +
  '10fe0-10ff6 11003-11037 11052-1106f 11071-11072 11075 11083-110af 110d0-110e8 110f0-110f9 ' +
  '11103-11126 11136-1113f 11144 11147 11150-11172 11176 11183-111b2 111c1-111c4 111d0-111da 111dc ' +
  '111e1-111f4 11200-11211 11213-1122b 11280-11286 11288 1128a-1128d 1128f-1129d 1129f-112a8 ' +
  '112b0-112de 112f0-112f9 11305-1130c 1130f-11310 11313-11328 1132a-11330 11332-11333 11335-11339 ' +
  '1133d 11350 1135d-11361 11400-11434 11447-1144a 11450-11459 1145f-11461 11480-114af 114c4-114c5 ' +
  '114c7 114d0-114d9 11580-115ae 115d8-115db 11600-1162f 11644 11650-11659 11680-116aa 116b8 ' +
  '116c0-116c9 11700-1171a 11730-1173b 11740-11746 11800-1182b 118a0-118f2 118ff-11906 11909 ' +
  '1190c-11913 11915-11916 11918-1192f 1193f 11941 11950-11959 119a0-119a7 119aa-119d0 119e1 119e3 ' +
  '11a00 11a0b-11a32 11a3a 11a50 11a5c-11a89 11a9d 11ab0-11af8 11c00-11c08 11c0a-11c2e 11c40 ' +
  '11c50-11c6c 11c72-11c8f 11d00-11d06 11d08-11d09 11d0b-11d30 11d46 11d50-11d59 11d60-11d65 ' +
  '11d67-11d68 11d6a-11d89 11d98 11da0-11da9 11ee0-11ef2 11fb0 11fc0-11fd4 12000-12399 12400-1246e ' +
  '12480-12543 12f90-12ff0 13000-1342e 14400-14646 16800-16a38 16a40-16a5e 16a60-16a69 16a70-16abe ' +
  '16ac0-16ac9 16ad0-16aed 16b00-16b2f 16b40-16b43 16b50-16b59 16b5b-16b61 16b63-16b77 16b7d-16b8f ' +
  '16e40-16e96 16f00-16f4a 16f50 16f93-16f9f 16fe0-16fe1 16fe3 17000-187f7 18800-18cd5 18d00-18d08 ' +
  '1aff0-1aff3 1aff5-1affb 1affd-1affe 1b000-1b122 1b150-1b152 1b164-1b167 1b170-1b2fb 1bc00-1bc6a ' +
  '1bc70-1bc7c 1bc80-1bc88 1bc90-1bc99 1d2e0-1d2f3 1d360-1d378 1d400-1d454 1d456-1d49c 1d49e-1d49f ' +
  '1d4a2 1d4a5-1d4a6 1d4a9-1d4ac 1d4ae-1d4b9 1d4bb 1d4bd-1d4c3 1d4c5-1d505 1d507-1d50a 1d50d-1d514 ' +
  '1d516-1d51c 1d51e-1d539 1d53b-1d53e 1d540-1d544 1d546 1d54a-1d550 1d552-1d6a5 1d6a8-1d6c0 ' +
  '1d6c2-1d6da 1d6dc-1d6fa 1d6fc-1d714 1d716-1d734 1d736-1d74e 1d750-1d76e 1d770-1d788 1d78a-1d7a8 ' +
  '1d7aa-1d7c2 1d7c4-1d7cb 1d7ce-1d7ff 1df00-1df1e 1e100-1e12c 1e137-1e13d 1e140-1e149 1e14e ' +
  '1e290-1e2ad 1e2c0-1e2eb 1e2f0-1e2f9 1e7e0-1e7e6 1e7e8-1e7eb 1e7ed-1e7ee 1e7f0-1e7fe 1e800-1e8c4 ' +
  '1e8c7-1e8cf 1e900-1e943 1e94b 1e950-1e959 1ec71-1ecab 1ecad-1ecaf 1ecb1-1ecb4 1ed01-1ed2d ' +
  '1ed2f-1ed3d 1ee00-1ee03 1ee05-1ee1f 1ee21-1ee22 1ee24 1ee27 1ee29-1ee32 1ee34-1ee37 1ee39 1ee3b ' +
  '1ee42 1ee47 1ee49 1ee4b 1ee4d-1ee4f 1ee51-1ee52 1ee54 1ee57 1ee59 1ee5b 1ee5d 1ee5f 1ee61-1ee62 ' +
  '1ee64 1ee67-1ee6a 1ee6c-1ee72 1ee74-1ee77 1ee79-1ee7c 1ee7e 1ee80-1ee89 1ee8b-1ee9b 1eea1-1eea3 ' +
  '1eea5-1eea9 1eeab-1eebb 1f100-1f10c 1fbf0-1fbf9 20000-2a6df 2a700-2b738 2b740-2b81d 2b820-2cea1 ' +
  '2ceb0-2ebe0 2f800-2fa1d 30000-3134a ';
