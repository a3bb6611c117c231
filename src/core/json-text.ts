/**
 * JSON text read as JSON.parse reads it, keeping where each value is, for a reader that must
 * name the line and column of what is wrong without quoting the text (a secret file named by
 * mistake) and refuse what readers disagree on (a key twice in one object: JSON.parse keeps the
 * last silently, another reader the first). Invariant: scanJson accepts exactly the texts
 * JSON.parse accepts, less those with a duplicate key.
 */

/** A JSON value's place in the text, [start, end); an array's items, an object's members. */
export interface JsonNode {
  readonly start: number;
  readonly end: number;
  readonly items?: readonly JsonNode[];
  readonly members?: ReadonlyMap<string, JsonNode>;
}

export class JsonSyntax extends Error {
  constructor(
    readonly at: number,
    what: string,
  ) {
    super(what);
  }
}

const JSON_NUMBER = /-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?/y;

/** RFC 8259's grammar, as JSON.parse reads it, keeping where each value is. */
export function scanJson(text: string): JsonNode {
  let i = 0;
  const space = () => {
    while (i < text.length && (text[i] === ' ' || text[i] === '\t' || text[i] === '\n' || text[i] === '\r')) i++;
  };
  const string = () => {
    i++;
    while (i < text.length) {
      const c = text.charCodeAt(i);
      if (c === 0x22) {
        i++;
        return;
      }
      if (c < 0x20) throw new JsonSyntax(i, 'a control character (such as a line break) inside a string');
      if (c === 0x5c) {
        const escape = text[i + 1];
        if (escape === 'u' && /^[0-9a-fA-F]{4}$/.test(text.slice(i + 2, i + 6))) i += 6;
        else if (escape !== undefined && '"\\/bfnrt'.includes(escape)) i += 2;
        else throw new JsonSyntax(i, 'an unknown escape in a string');
        continue;
      }
      i++;
    }
    throw new JsonSyntax(i, 'a string is not closed');
  };
  const unexpected = () => new JsonSyntax(i, i >= text.length ? 'the text ends too early' : 'unexpected character');
  const value = (): JsonNode => {
    space();
    const start = i;
    const c = text[i];
    if (c === '{') {
      i++;
      const members = new Map<string, JsonNode>();
      space();
      if (text[i] === '}') return { start, end: ++i, members };
      for (;;) {
        space();
        if (text[i] !== '"') throw i >= text.length ? unexpected() : new JsonSyntax(i, 'expected a key in double quotes');
        const keyAt = i;
        string();
        const key = JSON.parse(text.slice(keyAt, i)) as string;
        if (members.has(key)) throw new JsonSyntax(keyAt, 'a key appears twice in one object');
        space();
        if (text[i] !== ':') throw i >= text.length ? unexpected() : new JsonSyntax(i, 'expected ":"');
        i++;
        members.set(key, value());
        space();
        if (text[i] === ',') i++;
        else if (text[i] === '}') return { start, end: ++i, members };
        else throw i >= text.length ? unexpected() : new JsonSyntax(i, 'expected "," or "}"');
      }
    }
    if (c === '[') {
      i++;
      const items: JsonNode[] = [];
      space();
      if (text[i] === ']') return { start, end: ++i, items };
      for (;;) {
        items.push(value());
        space();
        if (text[i] === ',') i++;
        else if (text[i] === ']') return { start, end: ++i, items };
        else throw i >= text.length ? unexpected() : new JsonSyntax(i, 'expected "," or "]"');
      }
    }
    if (c === '"') {
      string();
      return { start, end: i };
    }
    for (const literal of ['true', 'false', 'null']) {
      if (text.startsWith(literal, i)) {
        i += literal.length;
        return { start, end: i };
      }
    }
    JSON_NUMBER.lastIndex = i;
    const number = JSON_NUMBER.exec(text);
    if (number !== null) {
      i += number[0].length;
      return { start, end: i };
    }
    throw unexpected();
  };
  const root = value();
  space();
  if (i < text.length) throw new JsonSyntax(i, 'text after the JSON value');
  return root;
}

/**
 * Where and why JSON.parse reads the JSON `text` (valid: JSON.parse took it) otherwise than it is
 * written, or undefined: a key twice in one object (readers keep either; JSON.parse the last), a
 * number with more digits than a double keeps (12345678901234567890 reads as …7000, 1e400 as
 * Infinity), half of a surrogate pair (`\ud800`: no character; stored, it is invalid UTF-8).
 * Invariant: it refuses exactly these. A pass of its own, without scanJson's tree: it runs for
 * every line of a JSONL input, and the tree made a JSONL run a fifth slower.
 */
export function inexactJson(text: string, parsed?: unknown): { readonly at: number; readonly what: string } | undefined {
  // Given what JSON.parse made of the text, keys are only counted: as many in the text as in it,
  // none was given twice (a key twice makes one), and no key is kept (a fifth of this pass).
  const counting = parsed !== undefined;
  let keysInText = 0;
  // Per open container, its keys so far (an object) or null (an array).
  const open: (Set<string> | null)[] = [];
  let key = false;
  let i = 0;
  // The next backslash, looked for once and again only when passed: most lines hold none, and
  // looking for it from every string scanned the rest of the line each time.
  let backslash = text.indexOf('\\');
  while (i < text.length) {
    const c = text.charCodeAt(i);
    if (c === 0x22) {
      // A string: to its closing quote, jumping from backslash to backslash.
      let end = i + 1;
      let escaped = false;
      for (;;) {
        if (backslash !== -1 && backslash < end) backslash = text.indexOf('\\', end);
        const quote = text.indexOf('"', end);
        if (backslash !== -1 && backslash < quote) {
          escaped = true;
          end = backslash + 2;
          continue;
        }
        end = quote;
        break;
      }
      if (escaped) {
        const lone = loneSurrogateIn(text, i, end);
        if (lone !== undefined)
          return { at: lone, what: `${text.slice(lone, lone + 6)} is half of a character (a lone surrogate), not a character` };
      }
      const keys = open[open.length - 1];
      if (key && keys) {
        if (counting) keysInText++;
        else {
          const name = escaped ? (JSON.parse(text.slice(i, end + 1)) as string) : text.slice(i + 1, end);
          if (keys.has(name)) return { at: i, what: 'a key appears twice in one object' };
          keys.add(name);
        }
        key = false;
      }
      i = end + 1;
      continue;
    }
    if (c === 0x7b) {
      open.push(new Set());
      key = true;
    } else if (c === 0x5b) {
      open.push(null);
      key = false;
    } else if (c === 0x7d || c === 0x5d) open.pop();
    else if (c === 0x2c) key = open[open.length - 1] !== null;
    else if (c === 0x2d || (c >= 0x30 && c <= 0x39)) {
      let end = i + 1;
      while (end < text.length && /[0-9.eE+-]/.test(text[end]!)) end++;
      const number = text.slice(i, end);
      if (!keptExactly(number))
        return {
          at: i,
          what: `the number ${number.length > 40 ? `${number.slice(0, 40)}…` : number} is not kept as written by a JSON number (it reads back as another); write it as a string`,
        };
      i = end;
      continue;
    }
    i++;
  }
  // Fewer keys made than written: one was given twice; the pass that keeps them says where.
  return counting && keysInText !== keyCount(parsed) ? inexactJson(text) : undefined;
}

/** How many keys the objects in a parsed JSON value hold, nested ones too. */
function keyCount(value: unknown): number {
  if (typeof value !== 'object' || value === null) return 0;
  let count = 0;
  if (Array.isArray(value)) for (const item of value) count += keyCount(item);
  else
    for (const key in value) {
      count++;
      count += keyCount((value as Record<string, unknown>)[key]);
    }
  return count;
}

/** Where, in the string text[from..to] (its quotes), an escape is half of a surrogate pair alone. */
function loneSurrogateIn(text: string, from: number, to: number): number | undefined {
  // Where the escape of a high half ended: only the escape of a low half may come there.
  let high = -1;
  for (let at = text.indexOf('\\', from); at !== -1 && at < to; at = text.indexOf('\\', at)) {
    const half = text[at + 1] === 'u' ? surrogate(text, at) : undefined;
    if (high !== -1 && (high !== at || half !== 'low')) return high - 6;
    if (half === 'low' && high === -1) return at;
    high = half === 'high' ? at + 6 : -1;
    at += text[at + 1] === 'u' ? 6 : 2;
  }
  return high !== -1 ? high - 6 : undefined;
}

/** Which half of a surrogate pair the \\u escape at `at` is, if it is one. */
function surrogate(text: string, at: number): 'high' | 'low' | undefined {
  const unit = Number.parseInt(text.slice(at + 2, at + 6), 16);
  return unit >= 0xd800 && unit <= 0xdbff ? 'high' : unit >= 0xdc00 && unit <= 0xdfff ? 'low' : undefined;
}

/** Whether JSON.parse reads the number `literal` as the same number (-0 as 0: no loss). */
function keptExactly(literal: string): boolean {
  // Most numbers: a whole one of 15 digits at most, which a double always holds.
  if (literal.length <= 15 && /^-?\d+$/.test(literal)) return true;
  const value = Number(literal);
  return Number.isFinite(value) && decimal(literal) === decimal(String(value));
}

/** A number's sign, digits and exponent without leading or trailing zeros: "-1.50e3" → "-15e2", "0.0" → "0". */
function decimal(number: string): string {
  let text = number;
  let sign = '';
  if (text.startsWith('-')) {
    sign = '-';
    text = text.slice(1);
  }
  let exponent = 0;
  const e = text.search(/[eE]/);
  if (e >= 0) {
    exponent = Number(text.slice(e + 1));
    text = text.slice(0, e);
  }
  const dot = text.indexOf('.');
  if (dot >= 0) {
    exponent -= text.length - dot - 1;
    text = text.slice(0, dot) + text.slice(dot + 1);
  }
  const digits = text.replace(/^0+/, '');
  const significant = digits.replace(/0+$/, '');
  if (significant === '') return '0';
  return `${sign}${significant}e${exponent + digits.length - significant.length}`;
}

/** The text's tree, or where and why it is not JSON every reader reads the same ("line 3, column 7: …"). */
export function readJsonTree(text: string): { readonly node: JsonNode } | { readonly problem: string } {
  try {
    return { node: scanJson(text) };
  } catch (error) {
    if (error instanceof RangeError) return { problem: 'nested too deeply' };
    if (!(error instanceof JsonSyntax)) throw error;
    const before = text.slice(0, error.at);
    const line = before.split('\n').length;
    const column = error.at - before.lastIndexOf('\n');
    return { problem: `line ${line}, column ${column}: ${error.message}` };
  }
}
