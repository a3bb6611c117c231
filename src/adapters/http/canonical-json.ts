import { UsageError } from '../../core/errors.js';

/**
 * The canonical JSON SPAR signs and verifies (research/spar-api.md §5.1, §5.3): keys sorted at
 * every level by code unit, no whitespace, raw UTF-8 (no \u escapes beyond what JSON requires),
 * "/" unescaped. Byte-compatible with Python's orjson OPT_SORT_KEYS for the values sparctl
 * sends. Floats and integers beyond 2^53 are refused: Python prints 1.0 where JavaScript prints
 * 1, and big integers lose digits, so a signature over them could never verify.
 */
export function canonicalJson(value: unknown): string {
  const at: (string | number)[] = [];
  try {
    return write(value, at);
  } catch (error) {
    if (!(error instanceof Unsignable)) throw error;
    // The path is spelled out only for the message: building it for every value cost more than
    // the rest of the encoding.
    const path = `$${at.map((step) => (typeof step === 'number' ? `[${step}]` : `.${step}`)).join('')}`;
    throw error.kind === 'number'
      ? new UsageError(
          'request.unsignable_number',
          `${path} is ${error.detail}: only whole numbers up to 2^53 can be signed the way SPAR verifies them`,
          {
            hint: 'send the value as a string',
          },
        )
      : new UsageError('request.unsignable_value', `${path} is a ${error.detail}, which JSON cannot carry`);
  }
}

class Unsignable extends Error {
  constructor(
    readonly kind: 'number' | 'value',
    readonly detail: string,
  ) {
    super(detail);
  }
}

/** Keys repeat in every item of a batch; their JSON form is worked out once. */
const keyTexts = new Map<string, string>();

function keyText(key: string): string {
  let text = keyTexts.get(key);
  if (text === undefined) {
    text = JSON.stringify(key);
    if (keyTexts.size < 10_000) keyTexts.set(key, text);
  }
  return text;
}

/** `at` holds the path to the value being written; it is left pointing at a value that fails. */
function write(value: unknown, at: (string | number)[]): string {
  if (value === null) return 'null';
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return JSON.stringify(value);
    case 'number':
      if (!Number.isInteger(value) || !Number.isSafeInteger(value)) throw new Unsignable('number', String(value));
      return String(value);
    case 'object': {
      if (Array.isArray(value)) {
        let out = '[';
        for (let index = 0; index < value.length; index++) {
          if (index > 0) out += ',';
          at.push(index);
          out += write(value[index], at);
          at.pop();
        }
        return `${out}]`;
      }
      const record = value as Record<string, unknown>;
      // Default sort compares UTF-16 code units, the order SPAR's orjson uses.
      const keys = Object.keys(record).sort();
      let out = '{';
      let first = true;
      for (const key of keys) {
        const item = record[key];
        if (item === undefined) continue;
        if (!first) out += ',';
        first = false;
        at.push(key);
        out += `${keyText(key)}:${write(item, at)}`;
        at.pop();
      }
      return `${out}}`;
    }
    default:
      throw new Unsignable('value', typeof value);
  }
}
