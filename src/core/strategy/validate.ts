/**
 * `sparctl strategy validate`: everything that can be checked about a strategy before it is put
 * in a mapper, without a mapper. Pure: definitions in, a report out.
 *
 * Checks, each reported as ok / error / warning / note:
 * 1. the row itself (id range, type, texts PostgreSQL can store, no clash with SPAR's defaults);
 * 2. the construct template is Python `str.format` that sparctl reproduces exactly;
 * 3. the deconstruct regex is Python `re` that sparctl reproduces exactly;
 * 4. no catastrophic-backtracking shape (a resolve could hang the mapper);
 * 5. every `{field}` has a `(?P<field>…)` group and every group a field (a group the template
 *    never fills is fine when it always reads the same text: strategy 5's constant `fa_type`);
 * 6. FA strategies use FA field names of one kind (SPAR's FA objects have no other keys);
 * 7. a round trip — construct, then `re.match` — on generated values for each field, plain and
 *    adversarial, which must give every field back unchanged.
 *
 * Severity of a round-trip failure (the policy README "Strategies" documents):
 * - error: a plain value fails, or, for an FA strategy, an ordinary value real data contains
 *   (dots, colons, hyphens, spaces, accents, other scripts, leading zeros, …). SPAR deconstructs
 *   FAs on every resolve, so such a strategy would misread real beneficiaries' accounts.
 * - warning: only values that contain the template's own literal text (its labels, such as
 *   ".branch_name:"), or values sparctl refuses on input anyway (empty, control characters, a
 *   malformed mobile number or e-mail address), fail; and any failure of an ID strategy, whose
 *   regex SPAR never uses (only sparctl reads IDs back, and it checks each one). sparctl refuses
 *   every such record at link/update time (buildCheckedFa), so it never stores one wrongly.
 * SPAR's default strategies 1–5 have only warnings, so they pass; `--strict` fails on warnings.
 */
import { StrategyError, UsageError } from '../errors.js';
import { EMAIL, NO_CONTROL_CHARS, PAYMENT_MOBILE, STRATEGY_ID_MAX } from '../model.js';
import { FA_FIELDS, FA_TYPES, FA_VALUE_FIELDS, type FaType } from '../vocabulary.js';
import { parseFormatTemplate, pythonFormat, type FormatTemplate } from './python-format.js';
import { findCatastrophicBacktracking, pythonReMatch, translatePythonRegex, type TranslatedRegex } from './python-regex.js';
import { DEFAULT_STRATEGY_ROWS, type StrategyRow } from './strategy.js';

export type Severity = 'error' | 'warning' | 'note';
export type FindingStatus = 'ok' | Severity;

/**
 * What a generated value stands for: `plain` (the baseline), `ordinary` (text real data has),
 * `template-text` (contains the template's literal text), `refused-input` (sparctl's input
 * checks refuse it before any strategy sees it).
 */
export type SampleKind = 'plain' | 'ordinary' | 'template-text' | 'refused-input';

export interface Sample {
  readonly value: string;
  readonly kind: SampleKind;
  /** What is special about it, as a noun phrase: "a dot", 'the template text ".fa_type:"'. */
  readonly about: string;
}

export interface RoundTripFailure {
  readonly field: string;
  readonly value: string;
  readonly kind: SampleKind;
  readonly about: string;
  /** The FA (or ID) string the template builds with this value. */
  readonly built: string;
  /** What `re.match(...).groupdict()` gives back, or null when the regex does not match. */
  readonly readBack: Readonly<Record<string, string | null>> | null;
  readonly message: string;
}

export interface Finding {
  readonly status: FindingStatus;
  /** Stable and dotted: tests and scripts match on it, never on the prose. */
  readonly code: string;
  readonly message: string;
  readonly field?: string;
  readonly failures?: readonly RoundTripFailure[];
}

export interface StrategyReport {
  readonly strategy: StrategyRow;
  /** No errors (and, with `strict`, no warnings). */
  readonly ok: boolean;
  readonly errors: number;
  readonly warnings: number;
  readonly fields: readonly string[];
  readonly groups: readonly string[];
  /** FA kinds whose objects have every field the template needs (FA strategies). */
  readonly faKinds: readonly FaType[];
  readonly roundTrip: { readonly run: boolean; readonly samples: number; readonly failures: number };
  readonly findings: readonly Finding[];
}

export interface ValidateOptions {
  /** Warnings fail the strategy too. */
  readonly strict?: boolean;
}

// ---------------------------------------------------------------------------------------------
// Definitions: a strategy from flags or a file

const ROW_KEYS = ['id', 'strategy_type', 'construct_strategy', 'deconstruct_strategy', 'description', 'active'] as const;

/**
 * Strategy rows from a parsed JSON or YAML document: one row object, a list of them, or the
 * Helm shape `{seedData: {strategies: [...]}}` / `{strategies: [...]}`. Every problem is
 * reported at once, each with its path, as one UsageError.
 */
export function strategyRowsFrom(document: unknown, source: string): StrategyRow[] {
  let list: unknown[];
  let base: string;
  if (Array.isArray(document)) {
    list = document;
    base = '';
  } else if (
    isRecord(document) &&
    isRecord(document['seedData']) &&
    Array.isArray(document['seedData']['strategies']) &&
    Object.keys(document).every((k) => k === 'seedData' || !ROW_KEYS.includes(k as never))
  ) {
    list = document['seedData']['strategies'];
    base = 'seedData.strategies';
  } else if (isRecord(document) && Array.isArray(document['strategies']) && Object.keys(document).length === 1) {
    list = document['strategies'];
    base = 'strategies';
  } else if (isRecord(document)) {
    list = [document];
    base = '';
  } else {
    throw new UsageError(
      'strategy.invalid',
      `${source}: expected a strategy object, a list of them, or {"seedData": {"strategies": [...]}}`,
      { hint: STRATEGY_HINT },
    );
  }
  const problems: string[] = [];
  const rows: StrategyRow[] = [];
  const single = !Array.isArray(document) && base === '';
  list.forEach((entry, index) => {
    const path = single ? '' : `${base}[${index}]`;
    const row = rowFrom(entry, path, problems);
    if (row !== null) rows.push(row);
  });
  if (list.length === 0) problems.push(`${base || '(document)'}: the list of strategies is empty`);
  const seen = new Map<number, number>();
  rows.forEach((row, index) => {
    if (seen.has(row.id))
      problems.push(
        `${base}[${index}].id: ${row.id} appears more than once (also at [${seen.get(row.id)}]); a strategy id names exactly one strategy`,
      );
    else seen.set(row.id, index);
  });
  if (problems.length > 0) throw invalidDefinition(source, problems);
  return rows;
}

/** One strategy row from command-line flags, with the flag names in messages. */
export function strategyRowFromFlags(flags: {
  id?: string;
  type?: string;
  construct?: string;
  deconstruct?: string;
  description?: string;
}): StrategyRow {
  const problems: string[] = [];
  const entry: Record<string, unknown> = {};
  if (flags.id !== undefined) entry['id'] = /^[0-9]{1,15}$/.test(flags.id) ? Number(flags.id) : flags.id; // a longer one is told as typed
  if (flags.type !== undefined) entry['strategy_type'] = flags.type;
  if (flags.construct !== undefined) entry['construct_strategy'] = flags.construct;
  if (flags.deconstruct !== undefined) entry['deconstruct_strategy'] = flags.deconstruct;
  if (flags.description !== undefined) entry['description'] = flags.description;
  const row = rowFrom(entry, '', problems, FLAG_NAMES);
  if (row === null || problems.length > 0) throw invalidDefinition('strategy flags', problems);
  return row;
}

const FLAG_NAMES: Readonly<Record<string, string>> = {
  id: '--id',
  strategy_type: '--type',
  construct_strategy: '--construct',
  deconstruct_strategy: '--deconstruct',
  description: '--description',
};

const STRATEGY_HINT =
  'a strategy is {"id": 7, "strategy_type": "FA", "construct_strategy": "…{account_number}…", "deconstruct_strategy": "^…(?P<account_number>.*)…$", "description": "…"}';

function invalidDefinition(source: string, problems: readonly string[]): UsageError {
  return new UsageError('strategy.invalid', problems.map((problem) => `${source}: ${problem}`).join('; '), { hint: STRATEGY_HINT });
}

/**
 * A refused value as a message shows it: a number, true or false, null as written; a string only
 * when it is short and looks like a word of a strategy (`"7"`, `"fa"`), else as "a string of N
 * characters" (a file named as strategiesFile by mistake may hold a secret under "id").
 */
function refusedValue(value: unknown): string {
  if (typeof value === 'string') return /^[\w .-]{0,12}$/.test(value) ? JSON.stringify(value) : `a string of ${value.length} characters`;
  if (typeof value === 'number' || typeof value === 'boolean' || value === null) return String(value);
  return Array.isArray(value) ? 'a list' : 'an object';
}

function rowFrom(entry: unknown, path: string, problems: string[], names?: Readonly<Record<string, string>>): StrategyRow | null {
  const at = (key: string) => (names ? (names[key] ?? key) : path ? `${path}.${key}` : key);
  if (!isRecord(entry)) {
    problems.push(`${path || '(document)'}: must be an object with ${ROW_KEYS.join(', ')}`);
    return null;
  }
  const before = problems.length;
  for (const key of Object.keys(entry)) {
    if (!ROW_KEYS.includes(key as never)) {
      const near = closest(key, ROW_KEYS);
      problems.push(`${at(key)}: unknown field${near ? ` (did you mean "${near}"?)` : ''}; the fields are ${ROW_KEYS.join(', ')}`);
    }
  }
  const id = entry['id'];
  if (id === undefined) problems.push(`${at('id')}: missing; every strategy needs an explicit id, the same in every environment`);
  else if (typeof id !== 'number' || !Number.isInteger(id) || id < 1 || id > STRATEGY_ID_MAX) {
    problems.push(
      `${at('id')}: ${refusedValue(id)} is not a strategy id (a whole number from 1 to ${STRATEGY_ID_MAX}, PostgreSQL's integer range)`,
    );
  }
  const type = entry['strategy_type'];
  if (type === undefined) problems.push(`${at('strategy_type')}: missing; "FA" (financial address) or "ID"`);
  else if (type !== 'FA' && type !== 'ID') problems.push(`${at('strategy_type')}: ${refusedValue(type)} must be "FA" or "ID"`);
  for (const key of ['construct_strategy', 'deconstruct_strategy'] as const) {
    const value = entry[key];
    if (value === undefined) problems.push(`${at(key)}: missing`);
    else if (typeof value !== 'string') problems.push(`${at(key)}: must be a string`);
    else if (value === '') problems.push(`${at(key)}: is empty`);
  }
  const description = entry['description'];
  if (description !== undefined && description !== null && typeof description !== 'string')
    problems.push(`${at('description')}: must be a string`);
  for (const key of ['construct_strategy', 'deconstruct_strategy', 'description'] as const) {
    const unstorable = typeof entry[key] === 'string' ? unstorableCharacter(entry[key]) : undefined;
    if (unstorable !== undefined) problems.push(`${at(key)}: ${unstorable}`);
  }
  const active = entry['active'];
  if (active !== undefined && typeof active !== 'boolean') problems.push(`${at('active')}: must be true or false`);
  if (problems.length > before) return null;
  return {
    id: id as number,
    strategy_type: type as 'FA' | 'ID',
    construct_strategy: entry['construct_strategy'] as string,
    deconstruct_strategy: entry['deconstruct_strategy'] as string,
    description: (description as string | null | undefined) ?? null,
    active: (active as boolean | undefined) ?? true,
  };
}

/**
 * Why a strategy's text cannot reach a deployment as written, or undefined: PostgreSQL text holds
 * no NUL, and SPAR's Helm chart puts each value in a `seed.sql: |` block, where a line break ends
 * the value (the chart's seed job then fails, or reads the rest as keys of its own).
 */
function unstorableCharacter(text: string): string | undefined {
  if (text.includes('\0')) return 'contains a NUL character, which PostgreSQL text cannot store';
  const lineBreak = /[\n\r\u0085\u2028\u2029]/.exec(text);
  if (lineBreak !== null)
    return `contains a line break (U+${lineBreak[0].charCodeAt(0).toString(16).toUpperCase().padStart(4, '0')}), which SPAR's Helm chart cannot carry in its seed SQL; write it on one line (a regex can match one with \\n)`;
  return undefined;
}

/** The names of the columns whose content differs. */
export function differingColumns(a: StrategyRow, b: StrategyRow): string[] {
  const columns: string[] = [];
  if (a.strategy_type !== b.strategy_type) columns.push('strategy_type');
  if (a.construct_strategy !== b.construct_strategy) columns.push('construct_strategy');
  if (a.deconstruct_strategy !== b.deconstruct_strategy) columns.push('deconstruct_strategy');
  if ((a.description ?? '') !== (b.description ?? '')) columns.push('description');
  if (a.active !== b.active) columns.push('active');
  return columns;
}

// ---------------------------------------------------------------------------------------------
// Validation

/** Helm reads values as float64 and prints 1000000 as "1e+06" in the seed SQL. */
const HELM_ID_LIMIT = 1_000_000;

export function validateStrategy(row: StrategyRow, options: ValidateOptions = {}): StrategyReport {
  const findings: Finding[] = [];
  const add = (status: FindingStatus, code: string, message: string, extra: { field?: string; failures?: RoundTripFailure[] } = {}) =>
    findings.push({ status, code, message, ...extra });

  checkRow(row, add);

  let template: FormatTemplate | null = null;
  try {
    template = parseFormatTemplate(row.construct_strategy);
    if (template.fields.length === 0) {
      add(
        'error',
        'strategy.no_fields',
        `construct template ${JSON.stringify(row.construct_strategy)} has no {field}: every ${row.strategy_type === 'FA' ? 'FA' : 'ID'} would be the same string`,
      );
    } else {
      add(
        'ok',
        'strategy.construct_ok',
        `construct template is Python str.format that sparctl reproduces exactly; fields: ${template.fields.join(', ')}`,
      );
    }
  } catch (error) {
    if (!(error instanceof StrategyError)) throw error;
    add('error', error.code, withHint(error));
  }

  let pattern: TranslatedRegex | null = null;
  try {
    pattern = translatePythonRegex(row.deconstruct_strategy);
    add(
      'ok',
      'strategy.deconstruct_ok',
      `deconstruct regex is Python re that sparctl reproduces exactly; groups: ${pattern.groupNames.join(', ') || '(none)'}`,
    );
  } catch (error) {
    if (!(error instanceof StrategyError)) throw error;
    add('error', error.code, withHint(error));
  }

  const catastrophic = findCatastrophicBacktracking(row.deconstruct_strategy);
  if (catastrophic !== null) {
    add(
      'error',
      'strategy.catastrophic_backtracking',
      `deconstruct regex can take exponential time on a near-miss FA, which could hang the resolve that reads it back (a remote profile that declares it refuses link and update with it): ${catastrophic}`,
    );
  } else if (pattern !== null) {
    add(
      'ok',
      'strategy.backtracking_ok',
      'no catastrophic-backtracking shape (nested or overlapping quantifiers that repeat more than 3 times, nor more than 3 overlapping quantifiers in a row)',
    );
  }

  const fields = template?.fields ?? [];
  const groups = pattern?.groupNames ?? [];
  if (template !== null && pattern !== null) checkCorrespondence(fields, groups, add);
  const faKinds = row.strategy_type === 'FA' && fields.length > 0 ? checkFaFields(fields, groups, add) : [];

  let roundTrip = { run: false, samples: 0, failures: 0 };
  if (template !== null && pattern !== null && fields.length > 0) {
    if (catastrophic !== null) {
      add('note', 'strategy.round_trip_skipped', 'round trip not run: a regex that backtracks catastrophically could hang it');
    } else if (!fields.some((f) => groups.includes(f))) {
      add('note', 'strategy.round_trip_skipped', 'round trip not run: no field of the template has a group to read it back');
    } else {
      roundTrip = runRoundTrip(row, template, pattern, faKinds, add);
    }
  }

  const errors = findings.filter((f) => f.status === 'error').length;
  const warnings = findings.filter((f) => f.status === 'warning').length;
  return {
    strategy: row,
    ok: errors === 0 && (!options.strict || warnings === 0),
    errors,
    warnings,
    fields,
    groups,
    faKinds,
    roundTrip,
    findings,
  };
}

type Add = (status: FindingStatus, code: string, message: string, extra?: { field?: string; failures?: RoundTripFailure[] }) => void;

function withHint(error: StrategyError): string {
  return error.hint ? `${error.message} (${error.hint})` : error.message;
}

function checkRow(row: StrategyRow, add: Add): void {
  const builtIn = DEFAULT_STRATEGY_ROWS.find((d) => d.id === row.id);
  if (builtIn !== undefined) {
    const differs = differingColumns(row, builtIn);
    if (differs.length === 0) add('note', 'strategy.default', `this is SPAR's default strategy ${row.id} ("${builtIn.description}")`);
    else {
      add(
        'error',
        'strategy.default_id',
        `id ${row.id} is SPAR's default strategy "${builtIn.description}" in every deployment; this definition differs (${differs.join(', ')}) and would never be stored (seeding skips an existing id)`,
      );
    }
  }
  if (row.id >= HELM_ID_LIMIT) {
    add(
      'warning',
      'strategy.helm_id',
      `id ${row.id} is 1000000 or more: Helm prints such numbers as "1e+06" in the chart's seed SQL; use a smaller id, or apply it with --format sql`,
    );
  }
  for (const key of ['construct_strategy', 'deconstruct_strategy', 'description'] as const) {
    if (row[key]?.includes('\0')) add('error', 'strategy.nul', `${key} contains a NUL character, which PostgreSQL text cannot store`);
  }
  if (!row.active)
    add('note', 'strategy.inactive', 'active is false, but SPAR looks strategies up by id and ignores active: it is used all the same');
}

function checkCorrespondence(fields: readonly string[], groups: readonly string[], add: Add): void {
  const missing = fields.filter((f) => !groups.includes(f));
  for (const field of missing) {
    add(
      'error',
      'strategy.group_missing',
      `{${field}} has no (?P<${field}>…) group in the deconstruct regex: resolve could never give ${field} back`,
      { field },
    );
  }
  if (missing.length === 0 && fields.length > 0) {
    add(
      'ok',
      'strategy.groups_ok',
      `every {field} has a named group of the same name${groups.length > fields.length ? '' : ', and every group a field'}`,
    );
  }
  // Groups without a field are judged by the round trip: a constant is fine, anything else is not.
}

/** Checks an FA strategy's names against SPAR's FA objects; returns the kinds it can build. */
function checkFaFields(fields: readonly string[], groups: readonly string[], add: Add): FaType[] {
  const known = new Set([...FA_VALUE_FIELDS, 'fa_type', 'strategy_id']);
  const unknown = fields.filter((f) => !known.has(f));
  for (const field of unknown) {
    const near = closest(field, [...known]);
    add(
      'error',
      'strategy.unknown_fa_field',
      `{${field}} is not a field of SPAR's FA objects${near ? ` (did you mean {${near}}?)` : ''}: SPAR's construct would fail with a KeyError and take the whole request down; FA fields are ${[...known].join(', ')}`,
      { field },
    );
  }
  for (const group of groups) {
    if (!known.has(group) && !fields.includes(group)) {
      add(
        'warning',
        'strategy.unknown_fa_group',
        `the group (?P<${group}>…) is not an FA field: resolve would return "${group}" as an extra key`,
        { field: group },
      );
    }
  }
  const valueFields = fields.filter((f) => FA_VALUE_FIELDS.includes(f));
  if (unknown.length > 0) return [];
  if (valueFields.length === 0) {
    add(
      'error',
      'strategy.no_fa_value',
      `the template has no FA value field (${FA_VALUE_FIELDS.join(', ')}): every FA of a kind would be stored as the same string`,
    );
    return [];
  }
  const kinds = FA_TYPES.filter((kind) => valueFields.every((f) => FA_FIELDS[kind].includes(f)));
  if (kinds.length === 0) {
    const byKind = FA_TYPES.map((kind) => `${kind}: ${valueFields.filter((f) => FA_FIELDS[kind].includes(f)).join(', ') || 'none'}`).join(
      '; ',
    );
    add(
      'error',
      'strategy.mixed_fa_kinds',
      `no kind of FA has all of ${valueFields.join(', ')} (${byKind}); SPAR would fail every request that uses this strategy`,
    );
    return [];
  }
  add('ok', 'strategy.fa_fields_ok', `fields are FA fields of kind ${kinds.join(' or ')}`);
  if (kinds.length === 1) {
    const omitted = FA_FIELDS[kinds[0]!].filter((f) => !fields.includes(f));
    if (omitted.length > 0) {
      add(
        'note',
        'strategy.fields_not_stored',
        `a ${kinds[0]} FA's ${omitted.join(', ')} ${omitted.length > 1 ? 'are' : 'is'} not stored: resolve will not return ${omitted.length > 1 ? 'them' : 'it'}`,
      );
    }
  }
  return kinds;
}

// ---------------------------------------------------------------------------------------------
// Round trip

/** Plain values, distinct per field, made only of ASCII letters and digits. */
const PLAIN: Readonly<Record<string, string>> = {
  account_number: '0012345678',
  bank_name: 'ExampleBank',
  bank_code: 'EXB',
  branch_name: 'Main',
  branch_code: '0001',
  wallet_provider_name: 'PinkWallet',
  wallet_provider_code: 'PINK',
  mobile_number: '639171234567',
  email_address: 'ana',
  sub: '8217353245',
};

/** Text real data contains; each must read back exactly from an FA strategy. */
const ORDINARY: readonly (readonly [string, string])[] = [
  ['12.34', 'a dot'],
  ['a:b', 'a colon'],
  ['a.b:c', 'a dot and a colon'],
  ['12-34-56', 'hyphens'],
  ['12/34', 'a slash'],
  ['a_b', 'an underscore'],
  ['ana@example.org', 'an e-mail address'],
  ['+639171234567', 'a leading +'],
  ['Santos, Ana', 'a comma'],
  ["O'Brien", 'an apostrophe'],
  ['No 5 #12', 'a number sign'],
  ['A & B (Main)', 'an ampersand and parentheses'],
  ['Main Branch', 'a space'],
  [' padded ', 'spaces at both ends'],
  ['0000812345', 'leading zeros'],
  ['Bänk Ünïcødé', 'accented letters'],
  ['e\u0301', 'a combining accent'],
  ['中国银行', 'CJK characters'],
  ['مصرف', 'right-to-left script'],
  ['🏦💳', 'emoji (outside the BMP)'],
  ['İıſK', 'letters with special case folding'],
  ['{x}', 'braces'],
  ['back\\slash', 'a backslash'],
  ['$1 100%', 'dollar and percent signs'],
  ['x'.repeat(300), '300 characters'],
];

/** sparctl refuses these on input (empty, control characters) whatever the strategy. */
const REFUSED: readonly (readonly [string, string])[] = [
  ['', 'an empty value'],
  ['a\nb', 'a line break'],
  ['ab\n', 'a trailing line break'],
  ['a\r\nb', 'a CR LF line break'],
  ['a\tb', 'a tab'],
  ['a\u0085b', 'a NEL (U+0085)'],
  ['a\u2028b', 'a Unicode line separator'],
];

const MOBILE_SAMPLES: readonly (readonly [string, string])[] = [
  ['+639171234567', 'a leading +'],
  ['09171234567', 'a leading zero'],
  ['123456', 'six digits'],
];

const EMAIL_SAMPLES: readonly (readonly [string, string])[] = [
  ['ana@example.org', 'an e-mail address'],
  ['first.last+tag@mail.example.co', 'dots and a +'],
  ['a.b:c@example.org', 'a dot and a colon'],
  ['ünï@exämple.org', 'accented letters'],
];

/** The values to try for one field, plain first; later duplicates of a value are dropped. */
export function samplesFor(field: string, row: StrategyRow, literals: readonly string[], plain: string): Sample[] {
  const out: Sample[] = [];
  const seen = new Set<string>();
  const accepted = inputCheck(field, row);
  const push = (value: string, kind: SampleKind, about: string) => {
    if (seen.has(value)) return;
    seen.add(value);
    out.push({ value, kind: kind === 'plain' || accepted(value) ? kind : 'refused-input', about });
  };
  push(plain, 'plain', 'a plain value');
  if (row.strategy_type === 'FA' && field === 'fa_type') {
    for (const type of FA_TYPES) push(type, 'ordinary', `fa_type ${type}`);
    return out;
  }
  if (row.strategy_type === 'FA' && field === 'strategy_id') return out;
  if (row.strategy_type === 'FA' && field === 'mobile_number') for (const [v, about] of MOBILE_SAMPLES) push(v, 'ordinary', about);
  if (row.strategy_type === 'FA' && field === 'email_address') for (const [v, about] of EMAIL_SAMPLES) push(v, 'ordinary', about);
  for (const [v, about] of ORDINARY) push(v, 'ordinary', about);
  for (const literal of literals) {
    const shown = JSON.stringify(literal);
    push(`x${literal}y`, 'template-text', `the template text ${shown}`);
    push(literal, 'template-text', `the template text ${shown}`);
    // Partial labels: a label without its first or last character.
    if ([...literal].length >= 3) {
      for (const part of [literal.slice(1), literal.slice(0, -1)]) {
        push(`x${part}y`, 'template-text', `part of the template text ${shown}`);
      }
    }
  }
  for (const [v, about] of REFUSED) push(v, 'refused-input', about);
  return out;
}

/** sparctl's input checks (model.ts) for a field's value; what they refuse never reaches a strategy. */
function inputCheck(field: string, row: StrategyRow): (value: string) => boolean {
  const basic = (value: string) => value !== '' && NO_CONTROL_CHARS.test(value);
  if (row.strategy_type === 'FA' && field === 'mobile_number') return (v) => basic(v) && PAYMENT_MOBILE.test(v);
  if (row.strategy_type === 'FA' && field === 'email_address') return (v) => basic(v) && EMAIL.test(v);
  return basic;
}

function plainValues(row: StrategyRow, fields: readonly string[], faKinds: readonly FaType[]): Record<string, string> {
  const values: Record<string, string> = {};
  fields.forEach((field, index) => {
    let value: string;
    if (row.strategy_type === 'FA' && field === 'fa_type') value = faKinds[0] ?? 'BANK';
    else if (row.strategy_type === 'FA' && field === 'strategy_id') value = String(row.id);
    else value = PLAIN[field] ?? `Value${index + 1}`;
    Object.defineProperty(values, field, { value, enumerable: true, writable: true, configurable: true });
  });
  return values;
}

function severityOf(row: StrategyRow, kind: SampleKind): Severity {
  if (kind === 'plain') return 'error';
  if (row.strategy_type === 'ID') return 'warning';
  return kind === 'ordinary' ? 'error' : 'warning';
}

function runRoundTrip(row: StrategyRow, template: FormatTemplate, pattern: TranslatedRegex, faKinds: readonly FaType[], add: Add) {
  const fields = template.fields;
  const checked = fields.filter((f) => pattern.groupNames.includes(f));
  const extraGroups = pattern.groupNames.filter((g) => !fields.includes(g));
  const literals = [...new Set(template.parts.flatMap((part) => ('literal' in part ? [part.literal] : [])))];
  const plain = plainValues(row, fields, faKinds);

  interface Attempt {
    readonly field: string;
    readonly sample: Sample;
    readonly values: Record<string, string>;
    readonly built: string;
    readonly readBack: Record<string, string | null> | null;
  }
  const attempt = (field: string, sample: Sample): Attempt => {
    const values = { ...plain };
    Object.defineProperty(values, field, { value: sample.value, enumerable: true, writable: true, configurable: true });
    const built = pythonFormat(template, values);
    return { field, sample, values, built, readBack: pythonReMatch(pattern, built) };
  };
  const wrongFields = (a: Attempt) => (a.readBack === null ? checked : checked.filter((f) => a.readBack![f] !== a.values[f]));

  const base = attempt(fields[0]!, { value: plain[fields[0]!]!, kind: 'plain', about: 'a plain value' });
  const baseWrong = wrongFields(base);
  if (baseWrong.length > 0) {
    const shown = fields.map((f) => `${f} ${JSON.stringify(plain[f])}`).join(', ');
    const why =
      base.readBack === null
        ? `the string they build, ${JSON.stringify(base.built)}, does not match the deconstruct regex`
        : `${baseWrong.map((f) => `${f} would be read back as ${shownValue(base.readBack![f])}`).join(', ')}`;
    add('error', 'strategy.round_trip_plain', `round trip fails on plain values (${shown}): ${why}`);
    return { run: true, samples: 1, failures: 1 };
  }

  const attempts: Attempt[] = [];
  for (const field of fields) {
    for (const sample of samplesFor(field, row, literals, plain[field]!))
      if (sample.kind !== 'plain') attempts.push(attempt(field, sample));
  }

  // A group the template does not fill must read a constant (strategy 5's fa_type:BANK_ACCOUNT),
  // judged over the plain and ordinary values that read back.
  const constants = new Map<string, string>();
  for (const group of extraGroups) {
    const seen = new Set<string | null>([base.readBack![group] ?? null]);
    for (const a of attempts)
      if (a.sample.kind === 'ordinary' && a.readBack !== null && wrongFields(a).length === 0) seen.add(a.readBack[group] ?? null);
    const values = [...seen];
    if (values.length === 1 && values[0] === null) {
      add(
        'warning',
        'strategy.group_unused',
        `the group (?P<${group}>…) never takes part in a match: resolve would return ${group} as null`,
        { field: group },
      );
    } else if (values.length === 1) {
      constants.set(group, values[0]!);
      add(
        'note',
        'strategy.group_constant',
        `the group (?P<${group}>…) has no {${group}} in the template; it reads the constant ${JSON.stringify(values[0])}`,
        { field: group },
      );
    } else {
      add(
        'error',
        'strategy.group_unmatched',
        `the group (?P<${group}>…) has no {${group}} in the template and reads text that depends on other fields' values (e.g. ${values.slice(0, 2).map(shownValue).join(' and ')}); add {${group}} to the template or make the group match a constant`,
        { field: group },
      );
    }
  }

  const failures: RoundTripFailure[] = [];
  for (const a of attempts) {
    const expected = (name: string) => (constants.has(name) ? constants.get(name)! : a.values[name]!);
    const wrong =
      a.readBack === null ? checked : [...wrongFields(a), ...[...constants.keys()].filter((g) => a.readBack![g] !== constants.get(g))];
    if (wrong.length === 0) continue;
    failures.push({
      field: a.field,
      value: a.sample.value,
      kind: a.sample.kind,
      about: a.sample.about,
      built: a.built,
      readBack: a.readBack,
      message: describeFailure(a.field, a.sample.value, a.readBack, wrong, expected, row.strategy_type),
    });
  }

  // One finding per field and kind of value, with a failure as its example; values sparctl
  // refuses on input anyway are summed up in one finding, whatever the field.
  const grouped = new Map<string, RoundTripFailure[]>();
  for (const failure of failures) {
    const key = failure.kind === 'refused-input' ? 'refused-input' : `${failure.field}\u0000${failure.about}`;
    const list = grouped.get(key);
    if (list) list.push(failure);
    else grouped.set(key, [failure]);
  }
  for (const [key, list] of grouped) {
    const severity: Severity = list.some((f) => severityOf(row, f.kind) === 'error') ? 'error' : 'warning';
    const example = list.find((f) => severityOf(row, f.kind) === severity)!;
    const code = `strategy.round_trip_${example.kind.replace('-', '_')}`;
    if (key === 'refused-input') {
      const abouts = [...new Set(list.map((f) => f.about))];
      const inFields = [...new Set(list.map((f) => f.field))];
      const aboutText = abouts.slice(0, 4).join(', ') + (abouts.length > 4 ? `, and ${abouts.length - 4} more kinds` : '');
      add(
        severity,
        code,
        `values sparctl refuses on input (${aboutText}) do not read back, in ${inFields.join(', ')}: e.g. ${example.message}`,
        { failures: list },
      );
      continue;
    }
    const more = list.length > 1 ? ` (${list.length} values like it fail)` : '';
    add(severity, code, `${example.field}: values with ${example.about} do not read back: ${example.message}${more}`, {
      field: example.field,
      failures: list,
    });
  }

  const samples = attempts.length + 1;
  if (failures.length === 0) {
    add('ok', 'strategy.round_trip_ok', `round trip: all ${samples} values (plain, ordinary and adversarial) read back exactly`);
  } else if (!failures.some((f) => severityOf(row, f.kind) === 'error')) {
    const why =
      row.strategy_type === 'ID'
        ? 'this is an ID strategy: SPAR never reads IDs back with it, and sparctl checks every ID it builds'
        : "each contains the template's own text or is refused on input. sparctl refuses such FAs per record (rjct.fa.invalid); SPAR would store them from other clients and every resolve would read them back as shown";
    add('note', 'strategy.round_trip_summary', `round trip: ${failures.length} of ${samples} values do not read back; ${why}`);
  } else {
    add(
      'note',
      'strategy.round_trip_summary',
      `round trip: ${failures.length} of ${samples} values do not read back, ordinary ones among them: SPAR would misread real FAs on every resolve`,
    );
  }
  return { run: true, samples, failures: failures.length };
}

function shownValue(value: string | null | undefined): string {
  return value === null || value === undefined ? 'null' : JSON.stringify(value);
}

function describeFailure(
  field: string,
  value: string,
  readBack: Readonly<Record<string, string | null>> | null,
  wrong: readonly string[],
  expected: (name: string) => string,
  type: StrategyRow['strategy_type'],
): string {
  const head = `${field} ${JSON.stringify(value)}`;
  if (readBack === null) {
    const consequence = type === 'FA' ? ', so resolve would return no fields at all' : '';
    return `${head}: the string built from it does not match the deconstruct regex${consequence}`;
  }
  const others = wrong.filter((f) => f !== field);
  const otherText =
    others
      .slice(0, 2)
      .map((f) => `${f} as ${shownValue(readBack[f])} instead of ${JSON.stringify(expected(f))}`)
      .join(', ') + (others.length > 2 ? `, and ${others.length - 2} more` : '');
  if (!wrong.includes(field)) return `${head} reads back unchanged, but moves the split: ${otherText}`;
  return `${head} would be read back as ${shownValue(readBack[field])}${otherText ? ` (${otherText})` : ''}`;
}

// ---------------------------------------------------------------------------------------------

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The candidate within edit distance 2 of `word`, for "did you mean" hints. */
export function closest(word: string, candidates: readonly string[]): string | undefined {
  let best: { name: string; distance: number } | undefined;
  const lower = word.toLowerCase();
  // "construct" for "construct_strategy", "type" for "strategy_type".
  const extended = candidates.find((name) => name.startsWith(`${lower}_`) || name.endsWith(`_${lower}`));
  if (extended !== undefined) return extended;
  for (const name of candidates) {
    const distance = editDistance(lower, name);
    if (distance <= 2 && (best === undefined || distance < best.distance)) best = { name, distance };
  }
  return best?.name;
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    previous = current;
  }
  return previous[b.length]!;
}
