/**
 * JSON text read as JSON.parse reads it, keeping where each value is, for a reader that must
 * name the line and column of what is wrong without quoting the text (a secret file named by
 * mistake) and refuse what readers disagree on (a key twice in one object: JSON.parse keeps the
 * last silently, another reader the first). Invariant: scanJson accepts exactly the texts
 * JSON.parse accepts, less those with a duplicate key (and, `exact`, those JSON.parse reads
 * otherwise than as written: long numbers, lone surrogates).
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

/**
 * RFC 8259's grammar, as JSON.parse reads it, keeping where each value is. `exact`: refuse too
 * what JSON.parse would not keep as written — a number with more digits than a double holds
 * (12345678901234567890 reads as 12345678901234567000, 1e400 as Infinity) and half of a
 * surrogate pair (`\ud800`), which is no character (stored, it is invalid UTF-8).
 */
export function scanJson(text: string, exact = false): JsonNode {
  let i = 0;
  const space = () => {
    while (i < text.length && (text[i] === ' ' || text[i] === '\t' || text[i] === '\n' || text[i] === '\r')) i++;
  };
  const string = () => {
    i++;
    // exact: where the escape of a high surrogate ended, which only the escape of a low one may follow.
    let high = -1;
    const lone = (at: number) => new JsonSyntax(at, `${text.slice(at, at + 6)} is half of a character (a lone surrogate), not a character`);
    while (i < text.length) {
      const c = text.charCodeAt(i);
      if (high !== -1 && !(c === 0x5c && text[i + 1] === 'u' && surrogate(text, i) === 'low')) throw lone(high - 6);
      if (c === 0x22) {
        i++;
        return;
      }
      if (c < 0x20) throw new JsonSyntax(i, 'a control character (such as a line break) inside a string');
      if (c === 0x5c) {
        const escape = text[i + 1];
        if (escape === 'u' && /^[0-9a-fA-F]{4}$/.test(text.slice(i + 2, i + 6))) {
          if (exact) {
            const half = surrogate(text, i);
            if (half === 'low' && high === -1) throw lone(i);
            high = half === 'high' ? i + 6 : -1;
          }
          i += 6;
        } else if (escape !== undefined && '"\\/bfnrt'.includes(escape)) i += 2;
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
      if (exact && !keptExactly(number[0]))
        throw new JsonSyntax(
          i,
          `the number ${number[0].length > 40 ? `${number[0].slice(0, 40)}…` : number[0]} is not kept as written by a JSON number (it reads back as another); write it as a string`,
        );
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

/** Which half of a surrogate pair the \\u escape at `at` is, if it is one. */
function surrogate(text: string, at: number): 'high' | 'low' | undefined {
  const unit = Number.parseInt(text.slice(at + 2, at + 6), 16);
  return unit >= 0xd800 && unit <= 0xdbff ? 'high' : unit >= 0xdc00 && unit <= 0xdfff ? 'low' : undefined;
}

/** Whether JSON.parse reads the number `literal` as the same number (-0 as 0: no loss). */
function keptExactly(literal: string): boolean {
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
