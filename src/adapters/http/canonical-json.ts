import { UsageError } from '../../core/errors.js';

/**
 * The canonical JSON SPAR signs and verifies (research/spar-api.md §5.1, §5.3): keys sorted at
 * every level by code unit, no whitespace, raw UTF-8 (no \u escapes beyond what JSON requires),
 * "/" unescaped. Byte-compatible with Python's orjson OPT_SORT_KEYS for the values sparctl
 * sends. Floats and integers beyond 2^53 are refused: Python prints 1.0 where JavaScript prints
 * 1, and big integers lose digits, so a signature over them could never verify.
 */
export function canonicalJson(value: unknown, path = '$'): string {
  if (value === null) return 'null';
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return JSON.stringify(value);
    case 'number':
      if (!Number.isInteger(value) || !Number.isSafeInteger(value)) {
        throw new UsageError('request.unsignable_number', `${path} is ${value}: only whole numbers up to 2^53 can be signed the way SPAR verifies them`, {
          hint: 'send the value as a string',
        });
      }
      return String(value);
    case 'object': {
      if (Array.isArray(value)) return `[${value.map((item, index) => canonicalJson(item, `${path}[${index}]`)).join(',')}]`;
      const entries = Object.entries(value as Record<string, unknown>).filter(([, v]) => v !== undefined);
      entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
      return `{${entries.map(([key, v]) => `${JSON.stringify(key)}:${canonicalJson(v, `${path}.${key}`)}`).join(',')}}`;
    }
    default:
      throw new UsageError('request.unsignable_value', `${path} is a ${typeof value}, which JSON cannot carry`);
  }
}
