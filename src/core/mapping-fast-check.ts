/**
 * Invariant: fastMappingFile and fastDfspFile accept only what their zod schema (core/mapping.ts:
 * the mapping file's, the --dfsp file's) accepts, and return what it returns — the same data in
 * the same key order; for anything else (every mistake included) they return undefined and zod
 * decides and words the errors.
 *
 * Why: zod costs an import 80-95 ms of start-up, and ordinary files need none of it.
 * test/unit/mapping-fast-check.test.ts holds each to its schema on random files.
 */
import { isPhoneCountry } from './phone.js';
import { DFSP_NAME_FIELDS, FA_FIELDS, FA_TYPES, FA_VALUE_FIELDS, IMPORT_OPERATIONS, type FaType } from './vocabulary.js';

type Json = Record<string, unknown>;

const keys = (...list: readonly string[]): ReadonlySet<string> => new Set(list);
const FILE_KEYS = keys('$comment', 'id', 'name', 'phone', 'fa', 'normalize', 'operation', 'skip', 'where');
const ID_KEYS = keys('column', 'path', 'strategy');
const SPEC_KEYS = keys('column', 'path', 'first', 'const', 'default', 'values');
const FA_KEYS = keys('type', 'strategy', ...FA_VALUE_FIELDS);
const FILTER_KEYS = keys('column', 'path', 'equals', 'in');

/**
 * A plain object with only `allowed` keys (any key when not given), as JSON.parse makes it: no
 * `__proto__`, symbol, hidden or undefined member (zod treats each in its own way).
 */
function objectOf(value: unknown, allowed?: ReadonlySet<string>): Json | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
  const prototype = Object.getPrototypeOf(value);
  if (prototype !== Object.prototype && prototype !== null) return undefined;
  const names = Object.keys(value);
  if (Reflect.ownKeys(value).length !== names.length) return undefined;
  for (const name of names) {
    if (name === '__proto__' || (allowed !== undefined && !allowed.has(name))) return undefined;
    if ((value as Json)[name] === undefined) return undefined;
  }
  return value as Json;
}

/** z.string().trim().min(1) */
function filled(value: unknown): string | undefined {
  if (typeof value !== 'string') return undefined;
  const text = value.trim();
  return text === '' ? undefined : text;
}

/** A strategy id: a positive safe integer (zod's .int() stops at 2^53 - 1 too). */
const isStrategyId = (value: unknown): value is number => Number.isSafeInteger(value) && (value as number) >= 1;

/** The FA types a `type` spec can produce. */
export function possibleTypes(spec: { const?: string; default?: string; values?: Record<string, string> }): FaType[] {
  if (spec.const !== undefined) return [spec.const as FaType];
  if (spec.values === undefined) return [...FA_TYPES];
  const results = new Set([...Object.values(spec.values), ...(spec.default !== undefined ? [spec.default] : [])]);
  return FA_TYPES.filter((type) => results.has(type));
}

/** Copies `from`'s present keys into `to` in `order`, each through `check`; false when one fails. */
function copy(to: Json, from: Json, order: readonly string[], check: (value: unknown) => unknown): boolean {
  for (const key of order) {
    if (from[key] === undefined) continue;
    const value = check(from[key]);
    if (value === undefined) return false;
    to[key] = value;
  }
  return true;
}

/** A field spec; `targets`, when given, are the only results it may produce (FA types, operations). */
function fieldSpec(value: unknown, targets?: readonly string[]): Json | undefined {
  if (typeof value === 'string') {
    const column = value.trim();
    return column === '' ? undefined : { column };
  }
  const spec = objectOf(value, SPEC_KEYS);
  if (spec === undefined) return undefined;
  const sources = ['column', 'path', 'first', 'const'].filter((key) => spec[key] !== undefined);
  if (sources.length !== 1 || (spec['const'] !== undefined && (spec['default'] !== undefined || spec['values'] !== undefined)))
    return undefined;
  // With targets a result must name one exactly (untrimmed); without, it is trimmed text.
  const result = (cell: unknown) =>
    targets ? (typeof cell === 'string' && targets.includes(cell) ? cell : undefined) : typeof cell === 'string' ? cell.trim() : undefined;
  const out: Json = {};
  if (!copy(out, spec, ['column', 'path'], filled)) return undefined;
  if (spec['first'] !== undefined) {
    const first = spec['first'];
    if (!Array.isArray(first) || first.length === 0) return undefined;
    const names = first.map(filled);
    if (names.includes(undefined)) return undefined;
    out['first'] = names;
  }
  if (!copy(out, spec, ['const', 'default'], targets ? result : filled)) return undefined;
  if (spec['values'] !== undefined) {
    const table = objectOf(spec['values']);
    if (table === undefined) return undefined;
    const values: Json = {};
    const seen = new Set<string>();
    for (const key of Object.keys(table)) {
      const folded = key.trim().toLowerCase();
      if (folded === '' || seen.has(folded)) return undefined;
      seen.add(folded);
      const cell = result(table[key]);
      if (cell === undefined) return undefined;
      values[key] = cell;
    }
    out['values'] = values;
  }
  return out;
}

function idSpec(value: unknown): Json | undefined {
  if (typeof value === 'string') return fieldSpec(value);
  const spec = objectOf(value, ID_KEYS);
  if (spec === undefined || (spec['column'] === undefined) === (spec['path'] === undefined)) return undefined;
  const out: Json = {};
  if (!copy(out, spec, ['column', 'path'], filled)) return undefined;
  if (spec['strategy'] !== undefined) {
    if (!isStrategyId(spec['strategy'])) return undefined;
    out['strategy'] = spec['strategy'];
  }
  return out;
}

function faSpec(value: unknown): Json | undefined {
  const fa = objectOf(value, FA_KEYS);
  const type = fa && fieldSpec(fa['type'], FA_TYPES);
  if (fa === undefined || type === undefined) return undefined;
  const out: Json = { type };
  if (fa['strategy'] !== undefined) {
    const strategy = objectOf(fa['strategy'], keys(...FA_TYPES));
    if (strategy === undefined) return undefined;
    const ids: Json = {};
    if (!copy(ids, strategy, FA_TYPES, (id) => (isStrategyId(id) ? id : undefined))) return undefined;
    out['strategy'] = ids;
  }
  if (!copy(out, fa, FA_VALUE_FIELDS, (spec) => fieldSpec(spec))) return undefined;
  // Every code and value field of each possible type is mapped, and no field of none of them.
  const types = possibleTypes(type as { const?: string; values?: Record<string, string> });
  for (const field of FA_VALUE_FIELDS) {
    const used = types.some((t) => FA_FIELDS[t].includes(field));
    if (out[field] === undefined ? used && !DFSP_NAME_FIELDS.has(field) : !used) return undefined;
  }
  return out;
}

function normalizeSpec(value: unknown): Json | undefined {
  const normalize = objectOf(value, keys('defaultCountry'));
  if (normalize === undefined) return undefined;
  if (normalize['defaultCountry'] === undefined) return {};
  if (typeof normalize['defaultCountry'] !== 'string') return undefined;
  // As the schema does; isPhoneCountry loads the numbering plans, which the rows' phones need anyway.
  const code = normalize['defaultCountry'].trim().toUpperCase();
  return isPhoneCountry(code) ? { defaultCountry: code } : undefined;
}

function filters(value: unknown): Json[] | undefined {
  const list = objectOf(value) !== undefined ? [value] : value;
  if (!Array.isArray(list)) return undefined;
  const out: Json[] = [];
  for (const item of list) {
    const filter = objectOf(item, FILTER_KEYS);
    if (filter === undefined) return undefined;
    const { equals, in: among } = filter;
    if ((filter['column'] === undefined) === (filter['path'] === undefined) || (equals === undefined) === (among === undefined))
      return undefined;
    const checked: Json = {};
    if (!copy(checked, filter, ['column', 'path'], filled)) return undefined;
    if (equals !== undefined) {
      if (typeof equals !== 'string') return undefined;
      checked['equals'] = equals;
    }
    if (among !== undefined) {
      if (!Array.isArray(among) || among.length === 0 || !among.every((cell) => typeof cell === 'string')) return undefined;
      checked['in'] = [...among];
    }
    out.push(checked);
  }
  return out;
}

const CHECKS: readonly (readonly [string, (value: unknown) => unknown])[] = [
  ['$comment', (value) => value],
  ['id', idSpec],
  ['name', (value) => fieldSpec(value)],
  ['phone', (value) => fieldSpec(value)],
  ['fa', faSpec],
  ['normalize', normalizeSpec],
  ['operation', (value) => fieldSpec(value, IMPORT_OPERATIONS)],
  ['skip', filters],
  ['where', filters],
];

/** The mapping file as mappingFileSchema would give it back, if it would surely accept it; else undefined. */
export function fastMappingFile(json: unknown): Json | undefined {
  const file = objectOf(json, FILE_KEYS);
  if (file === undefined || file['id'] === undefined || file['fa'] === undefined) return undefined;
  const out: Json = {};
  for (const [key, check] of CHECKS) {
    if (file[key] === undefined) continue;
    const value = check(file[key]);
    if (value === undefined) return undefined;
    out[key] = value;
  }
  return out;
}

const WALLET_TYPES: readonly unknown[] = ['MOBILE_WALLET', 'EMAIL_WALLET'];

/** One list of a --dfsp file, its entries cut down to `fields`: trimmed, filled text, but wallet_type. */
function dfspList(value: unknown, fields: readonly string[]): Json[] | undefined {
  if (!Array.isArray(value)) return undefined;
  const out: Json[] = [];
  for (let at = 0; at < value.length; at++) {
    // Entries may carry more (mnemonics, active flags): the schema drops it.
    const entry = objectOf(value[at]);
    if (entry === undefined) return undefined;
    const kept: Json = {};
    for (const field of fields) {
      const text = field === 'wallet_type' ? (WALLET_TYPES.includes(entry[field]) ? entry[field] : undefined) : filled(entry[field]);
      if (text === undefined) return undefined;
      kept[field] = text;
    }
    out.push(kept);
  }
  return out;
}

/** The --dfsp file as its schema would give it back, if it would surely accept it; else undefined. */
export function fastDfspFile(json: unknown): Json | undefined {
  const file = objectOf(json, keys('banks', 'branches', 'wallet_providers'));
  if (file === undefined) return undefined;
  const list = (key: string, fields: readonly string[]) => (file[key] === undefined ? [] : dfspList(file[key], fields));
  const banks = list('banks', ['code', 'name']);
  const branches = list('branches', ['bank_code', 'code', 'name']);
  const providers = list('wallet_providers', ['code', 'name', 'wallet_type']);
  if (banks === undefined || branches === undefined || providers === undefined) return undefined;
  return { banks, branches, wallet_providers: providers };
}
