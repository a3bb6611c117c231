import type { z } from 'zod';
import {
  COMMUNICATION_PHONE,
  DEFAULT_STRATEGY_FOR,
  EMAIL,
  FA_FIELDS,
  FA_TYPES,
  ID_MAX_LENGTH,
  NAME_MAX_LENGTH,
  NO_CONTROL_CHARS,
  PAYMENT_MOBILE,
  PHONE_MAX_LENGTH,
  recordSchemas,
  STRATEGY_ID_MAX,
  describeIssue,
  describeIssues,
  type FaType,
  type FinancialAddress,
} from './model.js';
import type { Operation } from './results.js';
import { FA_VALUE_FIELDS, RECORD_FIELDS } from './vocabulary.js';
import { buildCheckedFa, type Strategy } from './strategy/strategy.js';
import { idProblem, isCleanId, newIdProblem, normalizeId, type IdUse } from './beneficiary-id.js';
import { normalizePhone } from './phone.js';

/**
 * Turning one input record (a CSV row, a JSONL object, or the flags of a single-record command)
 * into a validated request item. A record is flat — the FA fields sit beside the ID, as in an
 * enumeration spreadsheet — or carries the FA as a nested `fa` object (JSONL, `--fa`).
 */

export { RECORD_FIELDS } from './vocabulary.js';

export interface FieldProblem {
  readonly field: string;
  readonly message: string;
  /** A row problem code more precise than the caller's default (input.not_mobile). */
  readonly code?: string;
}

/** Fields that stand for the whole row or record (a line not read, a record with no field at fault): never a prefix. */
const WHOLE_ROW_FIELDS: ReadonlySet<string> = new Set(['(line)', '(record)']);

/** A problem as one phrase: "field: message", without the field when the message already starts with it or stands for the whole row. */
export function problemText(problem: { readonly field?: string | undefined; readonly message: string }): string {
  const { field, message } = problem;
  if (field === undefined || WHOLE_ROW_FIELDS.has(field) || message.startsWith(`${field} `)) return message;
  return `${field}: ${message}`;
}

export interface MappingRecord {
  readonly id: string;
  readonly fa: FinancialAddress;
  readonly name?: string;
  readonly phone_number?: string;
  readonly additional_info?: Record<string, unknown>[];
  /** Only while the mapper holds the FA whose digest this is, when it holds one (see UnlinkRecord). */
  readonly onlyIfFa?: string;
}

export type ParsedRecord<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly problems: FieldProblem[] };

export interface RecordDefaults {
  /** Strategy used when the record names none (else the default for its FA kind). */
  readonly strategyId?: number;
  /** ISO country whose calling code completes phone numbers written in national form (--country). */
  readonly country?: string;
}

type RawRecord = Readonly<Record<string, unknown>>;

/*
 * Fast checks. A bulk import validates every row, and zod costs microseconds per value; these
 * plain functions say true only when the zod schema would certainly accept the value and return
 * it unchanged, so the caller may use the input as is. Anything else — including every value
 * that is merely unusual — goes through zod, which stays the one authority on errors. They use
 * the patterns and limits model.ts builds its schemas from, so the two cannot drift apart.
 */

/**
 * parseId would accept `v` for this use and return it unchanged (BeneficiaryIdSchema accepts it;
 * NFC, nothing invisible, and for a new link no look-alike space).
 */
export function surelyValidId(v: unknown, use: IdUse = 'new'): v is string {
  return typeof v === 'string' && v.length >= 1 && v.length <= ID_MAX_LENGTH && NO_CONTROL_CHARS.test(v) && isCleanId(v, use);
}

/** NameSchema would accept `v` as is. */
export function surelyValidName(v: unknown): v is string {
  return typeof v === 'string' && v.length <= NAME_MAX_LENGTH && NO_CONTROL_CHARS.test(v);
}

/** PhoneSchema would accept `v` as is. */
export function surelyValidPhone(v: unknown): v is string {
  return typeof v === 'string' && v.length <= PHONE_MAX_LENGTH && NO_CONTROL_CHARS.test(v) && COMMUNICATION_PHONE.test(v);
}

/** StrategyIdSchema would accept `v` (its int() also wants a safe integer; the max is far below). */
function surelyValidStrategyId(v: unknown): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v > 0 && v <= STRATEGY_ID_MAX;
}

/** A required FA text field, with the extra pattern of its schema if any, would accept `v` as is. */
function surelyValidFaText(v: unknown, pattern: RegExp | undefined): v is string {
  return typeof v === 'string' && v.length >= 1 && NO_CONTROL_CHARS.test(v) && (pattern === undefined || pattern.test(v));
}

interface FaShape {
  readonly kind: FaType;
  /** The value fields in schema order, and the extra pattern each must match, if any. */
  readonly fields: readonly string[];
  readonly patterns: readonly (RegExp | undefined)[];
  /** Every key the strict schema allows: strategy_id, fa_type and the value fields. */
  readonly keys: ReadonlySet<string>;
  /** The value fields of the other kinds: in a flat row, a filled one is a mistake. */
  readonly foreign: readonly string[];
}

// The patterns model.ts adds to a required FA field beyond "non-empty, no control characters".
const FA_FIELD_PATTERNS: ReadonlyMap<string, RegExp> = new Map([
  ['mobile_number', PAYMENT_MOBILE],
  ['email_address', EMAIL],
]);

const FA_SHAPES: ReadonlyMap<unknown, FaShape> = new Map(
  FA_TYPES.map((kind) => {
    const fields = FA_FIELDS[kind];
    const shape: FaShape = {
      kind,
      fields,
      patterns: fields.map((field) => FA_FIELD_PATTERNS.get(field)),
      keys: new Set(['strategy_id', 'fa_type', ...fields]),
      foreign: FA_VALUE_FIELDS.filter((field) => !fields.includes(field)),
    };
    return [kind, shape];
  }),
);

/** FinancialAddressSchema would accept `v` and return an object with the same keys and values. */
export function surelyValidFa(v: unknown): v is FinancialAddress {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
  const fa = v as Record<string, unknown>;
  const shape = FA_SHAPES.get(fa['fa_type']);
  if (shape === undefined || !surelyValidStrategyId(fa['strategy_id'])) return false;
  const { fields, patterns } = shape;
  for (let i = 0; i < fields.length; i++) if (!surelyValidFaText(fa[fields[i]!], patterns[i])) return false;
  // Strict objects: zod reports every key its for…in meets that the shape lacks. Only allowed
  // keys, as many as the shape has, means exactly the shape's keys.
  let keys = 0;
  for (const key in fa) {
    if (!shape.keys.has(key)) return false;
    keys++;
  }
  return keys === shape.keys.size;
}

/** The FA as zod returns it: a fresh object, keys in schema order. */
function orderedFa(kind: FaType, strategyId: number, fields: Readonly<Record<string, unknown>>): FinancialAddress {
  const fa: Record<string, unknown> = { strategy_id: strategyId, fa_type: kind };
  for (const field of FA_FIELDS[kind]) fa[field] = fields[field];
  return fa as FinancialAddress;
}

/**
 * The FA of a flat row on the common path — fa_type given, no foreign field filled, every value
 * certainly valid — read straight from the row. Undefined sends the row down the general path,
 * which would reach the same FA here but builds intermediate objects to get there.
 */
function quickFlatFa(record: RawRecord, defaults: RecordDefaults): FinancialAddress | undefined {
  const shape = FA_SHAPES.get(value(record, 'fa_type'));
  if (shape === undefined) return undefined;
  for (const field of shape.foreign) if (value(record, field) !== undefined) return undefined;
  const raw = value(record, 'strategy_id');
  const strategyId = raw === undefined ? (defaults.strategyId ?? DEFAULT_STRATEGY_FOR[shape.kind]) : strategyIdOf(raw);
  if (!surelyValidStrategyId(strategyId)) return undefined;
  const fa: Record<string, unknown> = { strategy_id: strategyId, fa_type: shape.kind };
  const { fields, patterns } = shape;
  for (let i = 0; i < fields.length; i++) {
    const text = value(record, fields[i]!);
    if (!surelyValidFaText(text, patterns[i])) return undefined;
    fa[fields[i]!] = text;
  }
  return fa as FinancialAddress;
}

const RECORD_FIELD_SET: ReadonlySet<string> = new Set(RECORD_FIELDS);
const FLAT_FA_FIELDS: readonly string[] = ['strategy_id', 'fa_type', ...FA_VALUE_FIELDS];
const STRATEGY_ID_TEXT = /^[0-9]{1,9}$/;

/** Empty cells and whitespace-only values count as absent; surrounding spaces are dropped. */
function value(record: RawRecord, field: string): unknown {
  const raw = record[field];
  if (raw === null || raw === undefined) return undefined;
  if (typeof raw === 'string') {
    // Printable non-space ASCII at both ends leaves trim() nothing to do: skip the call.
    const last = raw.length - 1;
    if (last >= 0 && isPrintableAscii(raw.charCodeAt(0)) && isPrintableAscii(raw.charCodeAt(last))) return raw;
    const trimmed = raw.trim();
    return trimmed === '' ? undefined : trimmed;
  }
  return raw;
}

function isPrintableAscii(code: number): boolean {
  return code > 0x20 && code < 0x7f;
}

/** Adds a problem per unknown field; `ignored` is a column the caller has already consumed. */
function checkFields(record: RawRecord, ignored: string | undefined, problems: FieldProblem[]): void {
  // for…in over own string keys, as Object.keys, without the array it allocates for every record.
  for (const field in record) {
    if (!Object.hasOwn(record, field)) continue;
    if (!RECORD_FIELD_SET.has(field) && field !== ignored) problems.push({ field, message: `unknown field "${field}"` });
  }
}

function parseId(record: RawRecord, problems: FieldProblem[], fast: boolean, use: IdUse): string | undefined {
  const id = value(record, 'id');
  if (id === undefined) {
    problems.push({ field: 'id', message: 'id is missing' });
    return undefined;
  }
  if (fast && surelyValidId(id, use)) return id;
  // This is where every ID comes in (flags, files, mapped rows): refused when it holds a
  // character no one can see, else taken in NFC, so that look-alike IDs are one ID. A look-alike
  // space is refused only where a new link may be made: a beneficiary already linked with one
  // (by another client) must stay reachable by resolve, update and unlink.
  const invisible = typeof id === 'string' ? (use === 'new' ? newIdProblem(id) : idProblem(id)) : undefined;
  if (invisible !== undefined) {
    problems.push({ field: 'id', message: invisible });
    return undefined;
  }
  const parsed = recordSchemas().id.safeParse(typeof id === 'number' ? String(id) : typeof id === 'string' ? normalizeId(id) : id);
  if (!parsed.success) {
    problems.push(...describeIssues(parsed.error).map((message) => ({ field: 'id', message })));
    return undefined;
  }
  if (typeof id === 'number') {
    // A JSON number loses leading zeros and digits past 2^53; make the sender quote it.
    problems.push({ field: 'id', message: 'id must be a string (quote it), so leading zeros and long numbers survive' });
    return undefined;
  }
  return parsed.data;
}

function strategyIdOf(raw: unknown): number | undefined {
  if (typeof raw === 'number' && Number.isInteger(raw) && raw > 0) return raw;
  if (typeof raw === 'string' && STRATEGY_ID_TEXT.test(raw) && Number(raw) > 0) return Number(raw);
  return undefined;
}

function parseStrategyId(raw: unknown, problems: FieldProblem[]): number | undefined {
  if (raw === undefined) return undefined;
  const strategyId = strategyIdOf(raw);
  if (strategyId === undefined)
    problems.push({ field: 'strategy_id', message: `strategy_id must be a positive whole number, got "${String(raw)}"` });
  return strategyId;
}

function inferFaType(fields: Readonly<Record<string, unknown>>): FaType | undefined {
  let found: FaType | undefined;
  for (const kind of FA_TYPES) {
    for (const field of FA_FIELDS[kind]) {
      if (field !== 'wallet_provider_name' && field !== 'wallet_provider_code' && fields[field] !== undefined) {
        if (found !== undefined) return undefined;
        found = kind;
        break;
      }
    }
  }
  return found;
}

function parseFa(record: RawRecord, defaults: RecordDefaults, problems: FieldProblem[], fast: boolean): FinancialAddress | undefined {
  const nested = value(record, 'fa');
  if (fast && nested === undefined) {
    const fa = quickFlatFa(record, defaults);
    if (fa !== undefined) return fa;
  }
  let fields: Readonly<Record<string, unknown>>;
  if (nested !== undefined) {
    if (typeof nested !== 'object' || Array.isArray(nested) || nested === null) {
      problems.push({ field: 'fa', message: 'fa must be an object such as {"fa_type":"BANK",…}' });
      return undefined;
    }
    // strategy_id and fa_type too: beside "fa", one of them was dropped without a word.
    for (const field of FLAT_FA_FIELDS) {
      if (value(record, field) !== undefined) {
        const beside = FLAT_FA_FIELDS.filter((other) => value(record, other) !== undefined);
        problems.push({ field: beside[0]!, message: `give the FA either as "fa" or as flat fields, not both (${beside.join(', ')})` });
        return undefined;
      }
    }
    // Only read here; the candidate below is a copy.
    fields = nested as Record<string, unknown>;
  } else {
    const flat: Record<string, unknown> = {};
    for (const field of FLAT_FA_FIELDS) {
      const v = value(record, field);
      if (v !== undefined) flat[field] = v;
    }
    fields = flat;
  }

  const faType = fields['fa_type'] ?? inferFaType(fields);
  if (faType === undefined) {
    problems.push({ field: 'fa_type', message: `fa_type is missing (${FA_TYPES.join(', ')})` });
    return undefined;
  }
  if (typeof faType !== 'string' || !(FA_TYPES as readonly string[]).includes(faType)) {
    problems.push({ field: 'fa_type', message: `fa_type must be one of ${FA_TYPES.join(', ')}, got "${String(faType)}"` });
    return undefined;
  }
  const kind = faType as FaType;
  // A flat row may carry columns of every kind; only a filled foreign field is a mistake.
  if (nested === undefined) {
    const { foreign: others } = FA_SHAPES.get(kind)!;
    for (const field of others) {
      if (fields[field] !== undefined) {
        const foreign = others.filter((other) => fields[other] !== undefined);
        problems.push({
          field: foreign[0]!,
          message: `${foreign.join(', ')} ${foreign.length > 1 ? 'do' : 'does'} not belong to a ${kind} FA`,
        });
        return undefined;
      }
    }
  }
  const strategyId =
    parseStrategyId(fields['strategy_id'], problems) ??
    (fields['strategy_id'] === undefined ? (defaults.strategyId ?? DEFAULT_STRATEGY_FOR[kind]) : undefined);
  if (strategyId === undefined) return undefined;

  const candidate: Record<string, unknown> = { ...fields, fa_type: kind, strategy_id: strategyId };
  if (fast && surelyValidFa(candidate)) return orderedFa(kind, strategyId, candidate);
  const parsed = recordSchemas().financialAddress.safeParse(candidate);
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      const { path, message } = describeIssue(issue);
      problems.push({ field: path || 'fa', message });
    }
    return undefined;
  }
  return parsed.data;
}

function parseOptional<T>(
  raw: unknown,
  field: string,
  schema: () => z.ZodType<T>,
  problems: FieldProblem[],
  surelyValid?: (v: unknown) => v is T,
): T | undefined {
  if (raw === undefined) return undefined;
  if (surelyValid?.(raw)) return raw;
  const parsed = schema().safeParse(raw);
  if (parsed.success) return parsed.data;
  problems.push(...parsed.error.issues.map((issue) => ({ field, message: describeIssue(issue).message })));
  return undefined;
}

/**
 * A record for link or update: the ID, its FA, and optionally name and communication phone.
 * `use`: `new` (the default) when the record may create a link, `existing` for an update of a
 * beneficiary already linked (see IdUse).
 */
export function parseMappingRecord(record: RawRecord, defaults: RecordDefaults = {}, use: IdUse = 'new'): ParsedRecord<MappingRecord> {
  return parseMapping(record, defaults, true, undefined, use);
}

/** @internal The same parse with every fast check off: zod alone decides. For tests. */
export function parseMappingRecordWithZod(
  record: RawRecord,
  defaults: RecordDefaults = {},
  use: IdUse = 'new',
): ParsedRecord<MappingRecord> {
  return parseMapping(record, defaults, false, undefined, use);
}

function parseMapping(
  record: RawRecord,
  defaults: RecordDefaults,
  fast: boolean,
  ignored: string | undefined,
  use: IdUse,
): ParsedRecord<MappingRecord> {
  const problems: FieldProblem[] = [];
  checkFields(record, ignored, problems);
  const id = parseId(record, problems, fast, use);
  record = withPhones(record, defaults.country, problems);
  const phoneProblems = problems.length;
  const fa = parseFa(record, defaults, problems, fast);
  // A payment mobile number refused above is not refused a second time by the FA's pattern.
  for (let i = problems.length - 1; i >= phoneProblems; i--) {
    if (problems[i]!.field === 'mobile_number' && problems.some((p, j) => j < phoneProblems && p.field === 'mobile_number'))
      problems.splice(i, 1);
  }
  const name = parseOptional(value(record, 'name'), 'name', () => recordSchemas().name, problems, fast ? surelyValidName : undefined);
  const phone_number = parseOptional(
    value(record, 'phone_number'),
    'phone_number',
    () => recordSchemas().phone,
    problems,
    fast ? surelyValidPhone : undefined,
  );
  let additional_info = value(record, 'additional_info');
  if (typeof additional_info === 'string') {
    try {
      additional_info = JSON.parse(additional_info);
    } catch {
      problems.push({ field: 'additional_info', message: 'additional_info is not valid JSON' });
    }
  }
  // Any problem already filed under additional_info (unreadable JSON, or an FA key so named) stops it here.
  const info = hasProblemFor(problems, 'additional_info')
    ? undefined
    : parseOptional(additional_info, 'additional_info', () => recordSchemas().additionalInfo, problems);
  if (problems.length > 0 || id === undefined || fa === undefined) return { ok: false, problems };
  const parsed: { -readonly [K in keyof MappingRecord]: MappingRecord[K] } = { id, fa };
  if (name !== undefined) parsed.name = name;
  if (phone_number !== undefined) parsed.phone_number = phone_number;
  if (info !== undefined) parsed.additional_info = info;
  return { ok: true, value: parsed };
}

/**
 * The record with its contact phone and payment mobile number (flat or in `fa`) in E.164, as
 * core/phone.ts reads them; a number it refuses is filed as a problem and left as it was.
 */
function withPhones(record: RawRecord, country: string | undefined, problems: FieldProblem[]): RawRecord {
  let copy: Record<string, unknown> | undefined;
  const phone = value(record, 'phone_number');
  if (typeof phone === 'string') {
    const result = normalizePhone(phone, country);
    if (!result.ok) problems.push({ field: 'phone_number', message: `phone_number "${phone}" ${result.reason}` });
    else if (result.value !== record['phone_number']) (copy ??= { ...record })['phone_number'] = result.value;
  }
  const nested = value(record, 'fa');
  const holder = typeof nested === 'object' && nested !== null && !Array.isArray(nested) ? (nested as RawRecord) : undefined;
  const mobile = value(holder ?? record, 'mobile_number');
  const faType = value(holder ?? record, 'fa_type');
  // In an FA of another kind a mobile_number is a mistake parseFa names as such.
  if (typeof mobile === 'string' && (faType === undefined || faType === 'MOBILE_WALLET')) {
    const result = normalizePhone(mobile, country, 'payment');
    if (!result.ok)
      problems.push({
        field: 'mobile_number',
        message: `mobile_number "${mobile}" ${result.reason}`,
        ...(result.notMobile ? { code: 'input.not_mobile' } : {}),
      });
    else if (holder !== undefined) (copy ??= { ...record })['fa'] = { ...holder, mobile_number: result.value };
    else if (result.value !== record['mobile_number']) (copy ??= { ...record })['mobile_number'] = result.value;
  }
  return copy ?? record;
}

function hasProblemFor(problems: readonly FieldProblem[], field: string): boolean {
  for (const problem of problems) if (problem.field === field) return true;
  return false;
}

/**
 * What parseMappingRecord returns for a record of the shape a mapping file builds (applyMapping):
 * id, optionally name and phone_number, fa_type, a numeric strategy_id and that kind's FA
 * fields, nothing else. Its keys are counted instead of checked one by one, no foreign or nested
 * FA is looked for, and the values get the same fast checks. Undefined for any other shape or a
 * value the fast checks do not vouch for: the caller then runs the general parse, which also
 * words the problem. `use` as for parseMappingRecord.
 */
export function parseMappedRecord(record: RawRecord, use: IdUse = 'new'): MappingRecord | undefined {
  const shape = FA_SHAPES.get(record['fa_type']);
  const strategyId = record['strategy_id'];
  if (shape === undefined || !surelyValidStrategyId(strategyId)) return undefined;
  // That shape and no other key: counted, not looked up one by one.
  let keys = 0;
  for (const _ in record) keys++;
  if (keys !== 3 + shape.fields.length + (Object.hasOwn(record, 'name') ? 1 : 0) + (Object.hasOwn(record, 'phone_number') ? 1 : 0))
    return undefined;
  const id = value(record, 'id');
  if (!surelyValidId(id, use) || id !== record['id']) return undefined;
  const fa: Record<string, unknown> = { strategy_id: strategyId, fa_type: shape.kind };
  const { fields, patterns } = shape;
  for (let i = 0; i < fields.length; i++) {
    const raw = record[fields[i]!];
    if (!surelyValidFaText(raw, patterns[i]) || value(record, fields[i]!) !== raw) return undefined;
    fa[fields[i]!] = raw;
  }
  if (fa['mobile_number'] !== undefined && !inE164(fa['mobile_number'] as string, 'payment')) return undefined;
  const parsed: { -readonly [K in keyof MappingRecord]: MappingRecord[K] } = { id, fa: fa as FinancialAddress };
  const name = record['name'];
  if (name !== undefined) {
    if (!surelyValidName(name) || value(record, 'name') !== name) return undefined;
    parsed.name = name;
  }
  const phone = record['phone_number'];
  if (phone !== undefined) {
    if (!surelyValidPhone(phone) || value(record, 'phone_number') !== phone || !inE164(phone, 'contact')) return undefined;
    parsed.phone_number = phone;
  }
  return parsed;
}

/** A phone number core/phone.ts accepts and leaves as it is (E.164, and a mobile number for payment). */
function inE164(phone: string, use: 'contact' | 'payment'): boolean {
  const result = normalizePhone(phone, undefined, use);
  return result.ok && result.value === phone;
}

/**
 * The beneficiary ID a record names, as far as it can be read: the ID a valid record has, and
 * for an invalid one its trimmed \`id\` text. The row index of a bulk run is built with this, so
 * it must agree with what parsing gives (the engine checks that it does).
 */
export function recordKey(record: RawRecord): string | undefined {
  const id = record['id'];
  if (typeof id !== 'string') return undefined;
  const trimmed = id.trim();
  // In NFC as parseId gives it: rows naming one ID in NFC and NFD are rows of one beneficiary.
  return trimmed === '' ? undefined : normalizeId(trimmed);
}

/**
 * A record for resolve or unlink: only the ID is used, so a file prepared for link can be fed
 * back unchanged.
 */
export function parseIdRecord(record: RawRecord): ParsedRecord<{ id: string }> {
  return parseIdOnly(record, undefined);
}

function parseIdOnly(record: RawRecord, ignored: string | undefined): ParsedRecord<{ id: string }> {
  const problems: FieldProblem[] = [];
  checkFields(record, ignored, problems);
  // Resolve and unlink reach a beneficiary already linked: a look-alike space is taken.
  const id = parseId(record, problems, true, 'existing');
  if (problems.length > 0 || id === undefined) return { ok: false, problems };
  return { ok: true, value: { id } };
}

/**
 * `ignoredField` names a column the caller has already read (the bulk `operation` column): it is
 * not reported as unknown, which spares copying every record without it. `link` is for any
 * record that may create a link (an upsert too): its ID is checked as a new one (IdUse).
 */
export function parseRecordFor(
  operation: Operation,
  record: RawRecord,
  defaults: RecordDefaults = {},
  ignoredField?: string,
): ParsedRecord<MappingRecord | { id: string }> {
  if (operation === 'link') return parseMapping(record, defaults, true, ignoredField, 'new');
  if (operation === 'update') return parseMapping(record, defaults, true, ignoredField, 'existing');
  return parseIdOnly(record, ignoredField);
}

/** Why this record's FA cannot be used with the target's strategies, or undefined. */
export function checkStrategy(record: MappingRecord, strategies: ReadonlyMap<number, Strategy>): FieldProblem | undefined {
  const checked = checkedFaOf(record, strategies);
  return checked.ok ? undefined : checked.problem;
}

/** The string this record's FA is stored as, built and read back by its strategy; or why it cannot be. */
export function checkedFaOf(
  record: MappingRecord,
  strategies: ReadonlyMap<number, Strategy>,
): { ok: true; value: string } | { ok: false; problem: FieldProblem } {
  const strategy = strategies.get(record.fa.strategy_id);
  if (!strategy) {
    const known = [...strategies.values()].filter((s) => s.strategy_type === 'FA').map((s) => s.id);
    // A remote mapper is known to have SPAR's defaults and what its profile declares (none, named by --url): say so, and how to declare one.
    const declared = [...strategies.values()].some((s) => s.source !== undefined);
    return {
      ok: false,
      problem: {
        field: 'strategy_id',
        message: declared
          ? `strategy ${record.fa.strategy_id} is not one this remote mapper is known to have (FA strategies: ${known.join(', ') || 'none'}); a deployment's own strategies are declared in its profile, with strategiesFile or strategies`
          : `strategy ${record.fa.strategy_id} does not exist (FA strategies: ${known.join(', ') || 'none'})`,
      },
    };
  }
  const built = buildCheckedFa(strategy, record.fa);
  return built.ok ? built : { ok: false, problem: { field: 'fa', message: built.problem } };
}
