import type { z } from 'zod';
import {
  AdditionalInfoSchema,
  BeneficiaryIdSchema,
  DEFAULT_STRATEGY_FOR,
  FA_FIELDS,
  FA_TYPES,
  FinancialAddressSchema,
  NameSchema,
  PhoneSchema,
  describeIssue,
  describeIssues,
  type FaType,
  type FinancialAddress,
} from './model.js';
import type { Operation } from './results.js';
import { FA_VALUE_FIELDS, RECORD_FIELDS } from './vocabulary.js';

/**
 * Turning one input record (a CSV row, a JSONL object, or the flags of a single-record command)
 * into a validated request item. A record is flat — the FA fields sit beside the ID, as in an
 * enumeration spreadsheet — or carries the FA as a nested `fa` object (JSONL, `--fa`).
 */

export { RECORD_FIELDS } from './vocabulary.js';

export interface FieldProblem {
  readonly field: string;
  readonly message: string;
}

export interface MappingRecord {
  readonly id: string;
  readonly fa: FinancialAddress;
  readonly name?: string;
  readonly phone_number?: string;
  readonly additional_info?: Record<string, unknown>[];
}

export type ParsedRecord<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly problems: FieldProblem[] };

export interface RecordDefaults {
  /** Strategy used when the record names none (else the default for its FA kind). */
  readonly strategyId?: number;
}

type RawRecord = Readonly<Record<string, unknown>>;

/** Empty cells and whitespace-only values count as absent; surrounding spaces are dropped. */
function value(record: RawRecord, field: string): unknown {
  const raw = record[field];
  if (raw === null || raw === undefined) return undefined;
  if (typeof raw === 'string') {
    const trimmed = raw.trim();
    return trimmed === '' ? undefined : trimmed;
  }
  return raw;
}

export function unknownFields(record: RawRecord): string[] {
  return Object.keys(record).filter((key) => !RECORD_FIELDS.includes(key));
}

function parseId(record: RawRecord, problems: FieldProblem[]): string | undefined {
  const id = value(record, 'id');
  if (id === undefined) {
    problems.push({ field: 'id', message: 'id is missing' });
    return undefined;
  }
  const parsed = BeneficiaryIdSchema.safeParse(typeof id === 'number' ? String(id) : id);
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

function parseStrategyId(raw: unknown, problems: FieldProblem[]): number | undefined {
  if (raw === undefined) return undefined;
  if (typeof raw === 'number' && Number.isInteger(raw) && raw > 0) return raw;
  if (typeof raw === 'string' && /^[0-9]{1,9}$/.test(raw) && Number(raw) > 0) return Number(raw);
  problems.push({ field: 'strategy_id', message: `strategy_id must be a positive whole number, got "${String(raw)}"` });
  return undefined;
}

function inferFaType(fields: Record<string, unknown>): FaType | undefined {
  const kinds = FA_TYPES.filter((kind) => FA_FIELDS[kind].some((field) => field !== 'wallet_provider_name' && field !== 'wallet_provider_code' && fields[field] !== undefined));
  return kinds.length === 1 ? kinds[0] : undefined;
}

function parseFa(record: RawRecord, defaults: RecordDefaults, problems: FieldProblem[]): FinancialAddress | undefined {
  const nested = value(record, 'fa');
  let fields: Record<string, unknown>;
  if (nested !== undefined) {
    if (typeof nested !== 'object' || Array.isArray(nested) || nested === null) {
      problems.push({ field: 'fa', message: 'fa must be an object such as {"fa_type":"BANK",…}' });
      return undefined;
    }
    const beside = FA_VALUE_FIELDS.filter((field) => value(record, field) !== undefined);
    if (beside.length > 0) {
      problems.push({ field: beside[0]!, message: `give the FA either as "fa" or as flat fields, not both (${beside.join(', ')})` });
      return undefined;
    }
    fields = { ...(nested as Record<string, unknown>) };
  } else {
    fields = {};
    for (const field of ['strategy_id', 'fa_type', ...FA_VALUE_FIELDS]) {
      const v = value(record, field);
      if (v !== undefined) fields[field] = v;
    }
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
  const foreign = FA_VALUE_FIELDS.filter((field) => !FA_FIELDS[kind].includes(field) && fields[field] !== undefined);
  if (foreign.length > 0 && nested === undefined) {
    problems.push({ field: foreign[0]!, message: `${foreign.join(', ')} ${foreign.length > 1 ? 'do' : 'does'} not belong to a ${kind} FA` });
    return undefined;
  }
  const strategyId = parseStrategyId(fields['strategy_id'], problems) ?? (fields['strategy_id'] === undefined ? defaults.strategyId ?? DEFAULT_STRATEGY_FOR[kind] : undefined);
  if (strategyId === undefined) return undefined;

  const candidate: Record<string, unknown> = { ...fields, fa_type: kind, strategy_id: strategyId };
  if (nested === undefined) for (const field of foreign) delete candidate[field];
  const parsed = FinancialAddressSchema.safeParse(candidate);
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      const { path, message } = describeIssue(issue);
      problems.push({ field: path || 'fa', message });
    }
    return undefined;
  }
  return parsed.data;
}

function parseOptional<T>(raw: unknown, field: string, schema: z.ZodType<T>, problems: FieldProblem[]): T | undefined {
  if (raw === undefined) return undefined;
  const parsed = schema.safeParse(raw);
  if (parsed.success) return parsed.data;
  problems.push(...parsed.error.issues.map((issue) => ({ field, message: describeIssue(issue).message })));
  return undefined;
}

/** A record for link or update: the ID, its FA, and optionally name and communication phone. */
export function parseMappingRecord(record: RawRecord, defaults: RecordDefaults = {}): ParsedRecord<MappingRecord> {
  const problems: FieldProblem[] = unknownFields(record).map((field) => ({ field, message: `unknown field "${field}"` }));
  const id = parseId(record, problems);
  const fa = parseFa(record, defaults, problems);
  const name = parseOptional(value(record, 'name'), 'name', NameSchema, problems);
  const phone_number = parseOptional(value(record, 'phone_number'), 'phone_number', PhoneSchema, problems);
  let additional_info = value(record, 'additional_info');
  if (typeof additional_info === 'string') {
    try {
      additional_info = JSON.parse(additional_info);
    } catch {
      problems.push({ field: 'additional_info', message: 'additional_info is not valid JSON' });
    }
  }
  const info = problems.some((p) => p.field === 'additional_info')
    ? undefined
    : parseOptional(additional_info, 'additional_info', AdditionalInfoSchema, problems);
  if (problems.length > 0 || id === undefined || fa === undefined) return { ok: false, problems };
  return {
    ok: true,
    value: {
      id,
      fa,
      ...(name !== undefined ? { name } : {}),
      ...(phone_number !== undefined ? { phone_number } : {}),
      ...(info !== undefined ? { additional_info: info } : {}),
    },
  };
}

/**
 * A record for resolve or unlink: only the ID is used, so a file prepared for link can be fed
 * back unchanged.
 */
export function parseIdRecord(record: RawRecord): ParsedRecord<{ id: string }> {
  const problems: FieldProblem[] = unknownFields(record).map((field) => ({ field, message: `unknown field "${field}"` }));
  const id = parseId(record, problems);
  if (problems.length > 0 || id === undefined) return { ok: false, problems };
  return { ok: true, value: { id } };
}

export function parseRecordFor(operation: Operation, record: RawRecord, defaults: RecordDefaults = {}): ParsedRecord<MappingRecord | { id: string }> {
  return operation === 'link' || operation === 'update' ? parseMappingRecord(record, defaults) : parseIdRecord(record);
}
