/**
 * Mapping files: how one row of an enumeration export (a CSV row, later an ODK submission)
 * becomes a flat mapping record for `parseMappingRecord`. Pure: no I/O.
 *
 * A mapping file is a JSON object:
 *
 * ```json
 * {
 *   "id":    { "column": "national_id", "strategy": 1 },
 *   "name":  "full_name",
 *   "phone": { "column": "contact_phone" },
 *   "fa": {
 *     "type": { "column": "payment_method", "values": { "bank": "BANK", "gcash": "MOBILE_WALLET", "email": "EMAIL_WALLET" } },
 *     "strategy": { "BANK": 2, "MOBILE_WALLET": 4, "EMAIL_WALLET": 3 },
 *     "bank_code": "bank_code", "branch_code": "branch_code", "account_number": "account_no",
 *     "bank_name": "bank_name", "branch_name": "branch_name",
 *     "mobile_number": "payment_mobile", "wallet_provider_code": "wallet", "wallet_provider_name": "wallet_name",
 *     "email_address": "payment_email"
 *   },
 *   "normalize": { "defaultCountry": "PH" },
 *   "operation": { "column": "op" }
 * }
 * ```
 *
 * Every value is read by a *field spec*, one of:
 * - `"national_id"`: shorthand for `{ "column": "national_id" }`;
 * - `{ "column": "…" }` (CSV header name) or `{ "path": "…" }` (dot path into a JSON row such as
 *   `beneficiary.national_id`; both name the same thing, a source path), optionally with
 *   `"default": "…"` (used as is when the cell is empty or absent) and `"values": { "cell": "result" }`
 *   (a translation table; cells are matched ignoring case and surrounding spaces, a cell with no
 *   entry is a row problem, an entry mapping to `""` means "absent");
 * - `{ "first": ["…", "…"] }`: the first of these sources that is filled (an ODK form keeps the
 *   mobile-money and the e-mail wallet provider in different fields), with the same options;
 * - `{ "const": "…" }`: the same value for every row.
 *
 * Keys:
 * - `id` (required): a column or path, optionally `"strategy": N` naming an ID strategy (SPAR's
 *   defaults, or the strategy table the caller passes) whose template has one field; the value
 *   fills it (strategy 1: `token:{sub}@nationalId`), and must read back through its regex.
 * - `name`, `phone` (optional): the beneficiary's name and *contact* phone (`phone_number`).
 * - `fa` (required): `type` is a field spec whose result is BANK, MOBILE_WALLET or EMAIL_WALLET
 *   (without a `values` table the cell itself must name the type, case ignored); `strategy` maps an
 *   FA type to its strategy id (defaults 2, 4, 3); the other keys are the FA fields. Every code and
 *   value field of each type that `type` can produce must be mapped; the name fields
 *   (`bank_name`, `branch_name`, `wallet_provider_name`) may be left out when a DFSP list fills
 *   them from the codes. Mapping a field no possible type uses is refused as a likely mistake.
 * - `normalize.defaultCountry` (optional): ISO 3166 code whose calling code completes phone
 *   numbers written in national form (`0917 555 0101` → `+639175550101`). Phone numbers (contact
 *   and payment mobile) are checked against the country's numbering plan (core/phone.ts,
 *   libphonenumber-js) and written in E.164; a payment mobile number must be a mobile number;
 *   without a default country only numbers that carry their country code (`+…` or `00…`) are
 *   accepted.
 * - `operation` (optional): a field spec giving `link`, `update`, `unlink` or `upsert` per row; an
 *   empty cell leaves the command's default. An `unlink` row needs only the ID.
 * - `skip`, `where` (optional): row filters (`FilterSchema`, `filterRow`). A row is skipped when a
 *   `skip` condition matches it or a `where` condition does not; a skipped row is never mapped.
 * - `$comment` (optional): ignored.
 *
 * Columns the mapping does not name are ignored: an enumeration export carries many. Every
 * column it does name must be in the header (`missingColumns`), even if some rows leave it empty.
 *
 * Values are trimmed and kept as text (leading zeros survive), e-mail addresses lower-cased,
 * names NFC-normalised with runs of spaces collapsed. With a DFSP list (`dfspLookupFrom`) every
 * bank, branch and wallet provider code is checked and an empty name is filled from it.
 *
 * Row problem codes: mapping.missing_value, mapping.unknown_value (no `values` entry),
 * mapping.bad_phone, mapping.not_mobile (a payment mobile number that is a landline), mapping.bad_id, mapping.unknown_bank, mapping.unknown_branch,
 * mapping.unknown_wallet_provider; spreadsheet damage (core/spreadsheet-damage.ts) in an ID,
 * account, code or phone cell: mapping.spreadsheet_exponent, mapping.spreadsheet_formula,
 * mapping.spreadsheet_number (a number cell of an .xlsx in the ID or account column),
 * mapping.leading_zeros_lost (a DFSP code found only once zero-padded; with a ColumnCheck, an ID
 * or account number shorter than the rest of its column: core/column-widths.ts). A mistake in the file
 * itself is a UsageError mapping.invalid.
 */
import type { z } from 'zod';
import { lazySchema, type Zod } from './schema-library.js';
import { UsageError } from './errors.js';
import { CodeReadings, codeName, type CodeKind } from './dfsp-codes.js';
import { normalizeId } from './beneficiary-id.js';
import { isPhoneCountry, normalizePhone, type PhoneUse } from './phone.js';
import { DEFAULT_STRATEGY_FOR, FA_FIELDS, FA_TYPES, describeIssue, type FaType } from './model.js';
import { DFSP_NAME_FIELDS as NAME_FIELDS, FA_VALUE_FIELDS, IMPORT_OPERATIONS, type ImportOperation } from './vocabulary.js';
import { fastDfspFile, fastMappingFile, possibleTypes } from './mapping-fast-check.js';
import { DEFAULT_STRATEGIES, type Strategy } from './strategy/strategy.js';
import { readsBackAlone, singleFieldSplitOf, type SingleFieldSplit } from './strategy/literal-split.js';
import {
  DAMAGE_CODES,
  DAMAGE_FIELDS,
  leadingZerosMessage,
  numberCellDamage,
  PHONE_FIELDS,
  spreadsheetDamage,
  zeroPaddedMatch,
} from './spreadsheet-damage.js';

// Phone numbers: core/phone.ts (libphonenumber-js), re-exported for the mapping's callers.

export { normalizePhone, type PhoneResult } from './phone.js';

// ---------------------------------------------------------------------------------------------
// The mapping file

export { IMPORT_OPERATIONS, type ImportOperation };

const SOURCE_KEYS = ['column', 'path'] as const;

const FIELD_SPEC_HINT = 'must be a column name or an object such as {"column": "…"}';

const oneOf = (allowed: readonly string[]) => (issue: { input?: unknown }) =>
  `must be one of ${allowed.join(', ')} (got ${JSON.stringify(issue.input)})`;

const sourceName = (z: Zod, key: string) =>
  z
    .string({ error: `${key} must be text` })
    .trim()
    .min(1, { error: `${key} must not be empty` });

/** A string shorthand is a column name; an empty one names nothing. */
function shorthand(value: unknown, ctx: z.RefinementCtx): unknown {
  if (typeof value !== 'string') return value;
  if (value.trim() === '') {
    ctx.addIssue({ code: 'custom', message: 'must name a column', input: value });
    return {};
  }
  return { column: value };
}

const specError = (issue: { code?: string; input?: unknown }) =>
  issue.code === 'invalid_type' ? (issue.input === undefined ? 'is required' : FIELD_SPEC_HINT) : undefined;

/** A field spec; `targets`, when given, are the only results it may produce (FA types, operations). */
function fieldSpec(z: Zod, targets?: readonly string[]) {
  const result = targets ? z.enum(targets as [string, ...string[]], { error: oneOf(targets) }) : z.string({ error: 'must be text' }).trim();
  const filled = targets ? result : z.string({ error: 'must be text' }).trim().min(1, { error: 'must not be empty' });
  const object = z
    .strictObject(
      {
        column: sourceName(z, 'column').optional(),
        path: sourceName(z, 'path').optional(),
        first: z
          .array(sourceName(z, 'first'), { error: 'must be a list of columns or paths' })
          .min(1, { error: 'must name at least one column or path' })
          .optional(),
        const: filled.optional(),
        default: filled.optional(),
        values: z.record(z.string(), result, { error: 'must be an object such as {"cell": "value"}' }).optional(),
      },
      { error: specError },
    )
    .superRefine((spec, ctx) => {
      const given = [...SOURCE_KEYS, 'first', 'const'].filter((key) => spec[key as keyof typeof spec] !== undefined);
      if (given.length === 0) ctx.addIssue({ code: 'custom', message: 'needs "column", "path", "first" or "const"', input: spec });
      if (given.length > 1) ctx.addIssue({ code: 'custom', message: `give only one of ${given.join(', ')}`, input: spec });
      if (spec.const !== undefined && (spec.default !== undefined || spec.values !== undefined)) {
        ctx.addIssue({ code: 'custom', message: '"const" cannot be combined with "default" or "values"', input: spec });
      }
      const seen = new Map<string, string>();
      for (const key of Object.keys(spec.values ?? {})) {
        const folded = key.trim().toLowerCase();
        if (folded === '') {
          ctx.addIssue({
            code: 'custom',
            path: ['values', key],
            message: 'an empty key never matches (an empty cell takes "default")',
            input: key,
          });
          continue;
        }
        const earlier = seen.get(folded);
        if (earlier !== undefined) {
          ctx.addIssue({
            code: 'custom',
            path: ['values', key],
            message: `repeats "${earlier}" (keys are matched ignoring case and spaces)`,
            input: key,
          });
        }
        seen.set(folded, key);
      }
    });
  return z.preprocess(shorthand, object);
}

type FieldSpec = z.output<ReturnType<typeof fieldSpec>>;

function buildMappingFileSchema(z: Zod) {
  const StrategyIdSchema = z
    .number({ error: 'must be a strategy id (a positive whole number)' })
    .int({ error: 'must be a strategy id (a positive whole number)' })
    .positive({ error: 'must be a strategy id (a positive whole number)' });

  const IdSpecSchema = z.preprocess(
    shorthand,
    z
      .strictObject(
        {
          column: sourceName(z, 'column').optional(),
          path: sourceName(z, 'path').optional(),
          strategy: StrategyIdSchema.optional(),
        },
        { error: specError },
      )
      .superRefine((spec, ctx) => {
        const given = SOURCE_KEYS.filter((key) => spec[key] !== undefined);
        if (given.length === 0)
          ctx.addIssue({ code: 'custom', message: 'needs "column" or "path" (an ID is never a constant)', input: spec });
        if (given.length > 1) ctx.addIssue({ code: 'custom', message: 'give only one of column, path', input: spec });
      }),
  );

  const FaSpecSchema = z
    .strictObject(
      {
        type: fieldSpec(z, FA_TYPES),
        strategy: z
          .strictObject(
            Object.fromEntries(FA_TYPES.map((type) => [type, StrategyIdSchema.optional()])) as Record<
              FaType,
              z.ZodOptional<typeof StrategyIdSchema>
            >,
            { error: `must be an object such as {"BANK": 2}` },
          )
          .optional(),
        ...(Object.fromEntries(FA_VALUE_FIELDS.map((field) => [field, fieldSpec(z).optional()])) as Record<
          string,
          z.ZodOptional<ReturnType<typeof fieldSpec>>
        >),
      },
      { error: (issue) => (issue.code === 'invalid_type' ? (issue.input === undefined ? 'is required' : 'must be an object') : undefined) },
    )
    .superRefine((fa, ctx) => {
      const types = possibleTypes(fa.type as FieldSpec);
      const mapped = (field: string) => (fa as Record<string, unknown>)[field] !== undefined;
      for (const field of FA_VALUE_FIELDS) {
        const users = types.filter((type) => FA_FIELDS[type].includes(field));
        if (!NAME_FIELDS.has(field) && users.length > 0 && !mapped(field)) {
          ctx.addIssue({
            code: 'custom',
            path: [field],
            message: `is required because fa.type can be ${users.join(' or ')}`,
            input: undefined,
          });
        }
        if (users.length === 0 && mapped(field)) {
          ctx.addIssue({
            code: 'custom',
            path: [field],
            message: `is not used: fa.type can only be ${types.join(' or ')}`,
            input: undefined,
          });
        }
      }
    });

  const NormalizeSchema = z.strictObject(
    {
      defaultCountry: z
        .string({ error: 'must be a country code such as "PH"' })
        .trim()
        .toUpperCase()
        .refine((code) => isPhoneCountry(code), {
          error: (issue) =>
            `is not a country sparctl knows (got ${JSON.stringify(issue.input)}): use an ISO 3166 code such as PH, KE or IN`,
        })
        .optional(),
    },
    { error: 'must be an object such as {"defaultCountry": "PH"}' },
  );

  /**
   * A row filter condition: one source and the cells it matches — `equals` one text, or `in` a
   * list — compared as `values` keys are, ignoring case and surrounding spaces (an empty or absent
   * cell is ""). One object is taken as a list of one.
   */
  const FilterSchema = z
    .strictObject(
      {
        column: sourceName(z, 'column').optional(),
        path: sourceName(z, 'path').optional(),
        equals: z.string({ error: 'must be text' }).optional(),
        in: z
          .array(z.string({ error: 'must be text' }), { error: 'must be a list of texts such as ["yes", "oui"]' })
          .min(1, { error: 'must list at least one value' })
          .optional(),
      },
      {
        error: (issue) =>
          issue.code === 'invalid_type' ? 'must be an object such as {"column": "ReviewState", "equals": "rejected"}' : undefined,
      },
    )
    .superRefine((filter, ctx) => {
      const sources = SOURCE_KEYS.filter((key) => filter[key] !== undefined);
      if (sources.length !== 1) ctx.addIssue({ code: 'custom', message: 'needs exactly one of "column", "path"', input: filter });
      const tests = (['equals', 'in'] as const).filter((key) => filter[key] !== undefined);
      if (tests.length !== 1) ctx.addIssue({ code: 'custom', message: 'needs exactly one of "equals", "in"', input: filter });
    });

  const FiltersSchema = z.preprocess(
    (value) => (typeof value === 'object' && value !== null && !Array.isArray(value) ? [value] : value),
    z.array(FilterSchema, { error: 'must be a list of conditions such as [{"column": "ReviewState", "equals": "rejected"}]' }),
  );

  /** The structure of a mapping file, and every rule that needs no strategy table. */
  const mappingFile = z.strictObject(
    {
      $comment: z.unknown().optional(),
      id: IdSpecSchema,
      name: fieldSpec(z).optional(),
      phone: fieldSpec(z).optional(),
      fa: FaSpecSchema,
      normalize: NormalizeSchema.optional(),
      operation: fieldSpec(z, IMPORT_OPERATIONS).optional(),
      skip: FiltersSchema.optional(),
      where: FiltersSchema.optional(),
    },
    { error: (issue) => (issue.code === 'invalid_type' ? 'must be a JSON object such as {"id": "national_id", "fa": {…}}' : undefined) },
  );
  return mappingFile;
}

/** The structure of a mapping file, and every rule that needs no strategy table (built at its first use). */
export const mappingFileSchema = lazySchema(buildMappingFileSchema);
type MappingFileSpec = z.output<ReturnType<typeof buildMappingFileSchema>>;

// ---------------------------------------------------------------------------------------------
// Compiled mappings

export interface CompiledField {
  /** Where the spec sits in the mapping file ("fa.type"), for messages. */
  readonly at: string;
  /** The source column (CSV) or dot path (JSON); absent for a constant. */
  readonly source?: string;
  /** With "first": the sources read, in order, when the one before is empty (ODK leaves non-relevant fields null). */
  readonly alternatives?: readonly string[];
  readonly constant?: string;
  /** Taken as is when the source is empty or absent. */
  readonly fallback?: string;
  /** Lower-cased, trimmed cell → result. */
  readonly values?: ReadonlyMap<string, string>;
  /** Cells a `values` table accepts, as written, for messages. */
  readonly valueKeys?: readonly string[];
  /** The only results allowed; a cell is matched to one ignoring case when there is no table. */
  readonly targets?: readonly string[];
}

export interface CompiledMapping {
  readonly file: string;
  readonly id: CompiledField & {
    readonly strategy?: Strategy;
    readonly strategyField?: string;
    /** The strategy's shape when the read-back can be told without its regex (literal-split.ts). */
    readonly strategySplit?: SingleFieldSplit | null;
  };
  readonly name?: CompiledField;
  readonly phone?: CompiledField;
  readonly faType: CompiledField;
  /** The FA types rows can have. */
  readonly faTypes: readonly FaType[];
  readonly strategies: Readonly<Record<FaType, number>>;
  readonly fa: Readonly<Partial<Record<string, CompiledField>>>;
  readonly defaultCountry?: string;
  readonly operation?: CompiledField;
  /** The row filters: `skip` conditions, then `where` ones (filterRow). */
  readonly filters: readonly RowFilter[];
}

/**
 * One row filter: a row whose `source` cell (trimmed, lower-cased) is in `values` is skipped
 * (`skip`), or kept (`where`: a row whose cell is not in it is skipped).
 */
export interface RowFilter {
  /** Where it sits in the mapping file ("skip.0"), or the flag that made it. */
  readonly at: string;
  readonly source: string;
  readonly kind: 'skip' | 'where';
  /** Trimmed, lower-cased. */
  readonly values: ReadonlySet<string>;
  /** The values as written, for messages. */
  readonly shown: readonly string[];
  /** The reason code of the rows it skips (filter.skip, filter.where, filter.review_state). */
  readonly code: string;
}

/** Why a row is skipped: the filter's code, the rule in words (the summary counts by it), the row's cell. */
export interface FilterHit {
  readonly code: string;
  readonly rule: string;
  readonly message: string;
}

/** A filter condition as written in a mapping file, or made by a flag. */
export function rowFilter(
  at: string,
  kind: 'skip' | 'where',
  source: string,
  values: readonly string[],
  code = kind === 'skip' ? 'filter.skip' : 'filter.where',
): RowFilter {
  return { at, source, kind, values: new Set(values.map((value) => value.trim().toLowerCase())), shown: values, code };
}

/** The rule a filter states, in words: `ReviewState is rejected`, `payment_consent is not yes`. */
export function filterRule(filter: RowFilter): string {
  const list = filter.shown.map((value) => (value.trim() === '' ? '(empty)' : value.trim()));
  const what = list.length === 1 ? list[0]! : `one of ${list.join(', ')}`;
  return `${filter.source} is${filter.kind === 'where' ? ' not' : ''} ${what} (${filter.at})`;
}

/**
 * Whether a row is skipped, and why: the first `skip` condition its cell matches, else the first
 * `where` condition it fails. Nothing else of the row is read: a skipped row is never mapped.
 */
export function filterRow(filters: readonly RowFilter[], row: RowReader): FilterHit | undefined {
  for (const filter of filters) {
    const cell = (row(filter.source) ?? '').trim();
    if (filter.values.has(cell.toLowerCase()) === (filter.kind === 'skip')) {
      const shown = cell === '' ? 'is empty' : `is ${JSON.stringify(cell)}`;
      return { code: filter.code, rule: filterRule(filter), message: `skipped: ${filter.source} ${shown} (${filterRule(filter)})` };
    }
  }
  return undefined;
}

export interface CompileOptions {
  /** Strategies an `id.strategy` may name; SPAR's defaults 1–5 when not given. */
  readonly strategies?: ReadonlyMap<number, Strategy> | readonly Strategy[];
}

function compileField(spec: FieldSpec, at: string, targets?: readonly string[]): CompiledField {
  const source = spec.column ?? spec.path ?? spec.first?.[0];
  const entries = Object.entries(spec.values ?? {});
  return {
    at,
    ...(source !== undefined ? { source } : {}),
    ...(spec.first !== undefined && spec.first.length > 1 ? { alternatives: spec.first.slice(1) } : {}),
    ...(spec.const !== undefined ? { constant: spec.const } : {}),
    ...(spec.default !== undefined ? { fallback: spec.default } : {}),
    ...(spec.values !== undefined
      ? { values: new Map(entries.map(([key, value]) => [key.trim().toLowerCase(), value])), valueKeys: entries.map(([key]) => key) }
      : {}),
    ...(targets !== undefined ? { targets } : {}),
  };
}

/**
 * Checks a parsed mapping file and prepares it for `applyMapping`. Every mistake becomes one
 * "file: json.path: message"; all of them are thrown together as a UsageError
 * (`mapping.invalid`), so a user fixes the file in one pass.
 */
export function compileMapping(json: unknown, file: string, options: CompileOptions = {}): CompiledMapping {
  // An ordinary file passes the fast check, and zod (80-95 ms to load) is left unloaded.
  const fast = fastMappingFile(json) as MappingFileSpec | undefined;
  const parsed = fast !== undefined ? { success: true as const, data: fast } : mappingFileSchema().safeParse(json);
  if (!parsed.success) {
    throw invalidMapping(
      file,
      parsed.error.issues.map((issue) => {
        const { path, message } = describeIssue(issue);
        return path ? `${path}: ${message}` : message;
      }),
    );
  }
  const spec = parsed.data;
  const problems: string[] = [];

  const strategies = options.strategies ?? DEFAULT_STRATEGIES;
  const byId = strategies instanceof Map ? strategies : new Map((strategies as readonly Strategy[]).map((s) => [s.id, s]));
  let idStrategy: { strategy: Strategy; strategyField: string; strategySplit: SingleFieldSplit | null } | undefined;
  if (spec.id.strategy !== undefined) {
    const strategy = byId.get(spec.id.strategy);
    const fields = strategy?.template.fields ?? [];
    if (strategy === undefined) {
      problems.push(`id.strategy: unknown strategy ${spec.id.strategy} (known: ${[...byId.keys()].sort((a, b) => a - b).join(', ')})`);
    } else if (strategy.strategy_type !== 'ID') {
      problems.push(`id.strategy: strategy ${strategy.id} is an ${strategy.strategy_type} strategy, not an ID strategy`);
    } else if (!strategy.active) {
      problems.push(`id.strategy: strategy ${strategy.id} is not active`);
    } else if (fields.length !== 1) {
      problems.push(
        `id.strategy: strategy ${strategy.id}'s template ${JSON.stringify(strategy.construct_strategy)} has ${fields.length} fields; sparctl fills exactly one`,
      );
    } else {
      idStrategy = {
        strategy,
        strategyField: fields[0]!,
        strategySplit: singleFieldSplitOf(strategy.template, strategy.pattern.pythonPattern),
      };
    }
  }
  // An FA strategy sparctl does not know may exist on the target; one it knows must be an FA one.
  for (const [type, id] of Object.entries(spec.fa.strategy ?? {})) {
    const known = id === undefined ? undefined : byId.get(id);
    if (known !== undefined && known.strategy_type !== 'FA') {
      problems.push(`fa.strategy.${type}: strategy ${known.id} is an ${known.strategy_type} strategy, not an FA strategy`);
    }
  }
  if (problems.length > 0) throw invalidMapping(file, problems);

  const fa: Record<string, CompiledField> = {};
  for (const field of FA_VALUE_FIELDS) {
    const fieldSpecOf = (spec.fa as Record<string, unknown>)[field] as FieldSpec | undefined;
    if (fieldSpecOf !== undefined) fa[field] = compileField(fieldSpecOf, `fa.${field}`);
  }
  const idSource = spec.id.column ?? spec.id.path!;
  return {
    file,
    id: { at: 'id', source: idSource, ...(idStrategy ?? {}) },
    ...(spec.name !== undefined ? { name: compileField(spec.name, 'name') } : {}),
    ...(spec.phone !== undefined ? { phone: compileField(spec.phone, 'phone') } : {}),
    faType: compileField(spec.fa.type as FieldSpec, 'fa.type', FA_TYPES),
    faTypes: possibleTypes(spec.fa.type as FieldSpec),
    strategies: { ...DEFAULT_STRATEGY_FOR, ...stripUndefined(spec.fa.strategy ?? {}) },
    fa,
    ...(spec.normalize?.defaultCountry !== undefined ? { defaultCountry: spec.normalize.defaultCountry } : {}),
    ...(spec.operation !== undefined ? { operation: compileField(spec.operation, 'operation', IMPORT_OPERATIONS) } : {}),
    filters: (['skip', 'where'] as const).flatMap((kind) =>
      (spec[kind] ?? []).map((filter, at) =>
        rowFilter(`${kind}.${at}`, kind, (filter.column ?? filter.path)!, filter.in ?? [filter.equals!]),
      ),
    ),
  };
}

/**
 * The mapping's strategies against the ones the target knows, before any row is read: the ID
 * strategy and each FA type's strategy must exist there, be of the right kind, and an FA
 * strategy must build from fields that FA type has. Otherwise every row would be rejected at run
 * time; this throws the UsageError `mapping.invalid` naming the file and the field instead.
 */
export function checkMappingStrategies(mapping: CompiledMapping, strategies: ReadonlyMap<number, Strategy>): void {
  const problems: string[] = [];
  const known = [...strategies.keys()].sort((a, b) => a - b).join(', ') || 'none';
  const idStrategy = mapping.id.strategy;
  if (idStrategy !== undefined) {
    const there = strategies.get(idStrategy.id);
    if (there === undefined) problems.push(`id.strategy: strategy ${idStrategy.id} does not exist (strategies: ${known})`);
    else if (there.strategy_type !== 'ID')
      problems.push(`id.strategy: strategy ${there.id} is an ${there.strategy_type} strategy, not an ID strategy`);
  }
  for (const type of mapping.faTypes) {
    const id = mapping.strategies[type];
    const strategy = strategies.get(id);
    if (strategy === undefined) {
      problems.push(`fa.strategy.${type}: strategy ${id} does not exist (strategies: ${known})`);
      continue;
    }
    if (strategy.strategy_type !== 'FA') {
      problems.push(`fa.strategy.${type}: strategy ${id} is an ${strategy.strategy_type} strategy, not an FA strategy`);
      continue;
    }
    // fa_type and strategy_id are in every FA; the rest must be this type's own fields.
    const has = new Set<string>(['fa_type', 'strategy_id', ...FA_FIELDS[type]]);
    const foreign = strategy.template.fields.filter((field) => !has.has(field));
    if (foreign.length > 0)
      problems.push(`fa.strategy.${type}: strategy ${id} needs ${foreign.join(', ')}, which a ${type} FA does not have`);
  }
  if (problems.length > 0) throw invalidMapping(mapping.file, problems);
}

function stripUndefined<T>(record: Partial<Record<string, T | undefined>>): Record<string, T> {
  return Object.fromEntries(Object.entries(record).filter(([, v]) => v !== undefined)) as Record<string, T>;
}

function invalidMapping(file: string, problems: string[]): UsageError {
  return new UsageError('mapping.invalid', problems.map((problem) => `${file}: ${problem}`).join('; '), {
    hint: 'fix the mapping file (its format is described in the README under import-csv)',
  });
}

function fieldsOf(mapping: CompiledMapping): CompiledField[] {
  return [
    mapping.id,
    ...(mapping.name ? [mapping.name] : []),
    ...(mapping.phone ? [mapping.phone] : []),
    mapping.faType,
    ...FA_VALUE_FIELDS.flatMap((field) => mapping.fa[field] ?? []),
    ...(mapping.operation ? [mapping.operation] : []),
  ];
}

/** The source columns (CSV) or dot paths (JSON) a mapping reads, each once, in file order (its filters' last). */
export function mappingColumns(mapping: CompiledMapping): string[] {
  return [
    ...new Set([
      ...fieldsOf(mapping).flatMap((field) => (field.source !== undefined ? [field.source, ...(field.alternatives ?? [])] : [])),
      ...mapping.filters.map((filter) => filter.source),
    ]),
  ];
}

/** The columns the ID is read from (rowKey reads no others). */
export function idColumns(mapping: CompiledMapping): string[] {
  return mapping.id.source === undefined ? [] : [mapping.id.source, ...(mapping.id.alternatives ?? [])];
}

/** The columns a ColumnCheck looks at: the ID's and the account number's, when read as they are (no `values`). */
export function widthColumns(mapping: CompiledMapping): string[] {
  const account = mapping.fa['account_number'];
  return [
    ...new Set([
      ...(mapping.id.values === undefined ? idColumns(mapping) : []),
      ...(account?.source === undefined || account.values !== undefined ? [] : [account.source, ...(account.alternatives ?? [])]),
    ]),
  ];
}

/** Each source a mapping reads with the record field it fills (id, name, phone_number, fa_type, account_number, …). */
export function mappingSources(mapping: CompiledMapping): { path: string; target: string }[] {
  const out: { path: string; target: string }[] = [];
  const add = (field: CompiledField | undefined, target: string) => {
    for (const path of field?.source === undefined ? [] : [field.source, ...(field.alternatives ?? [])]) out.push({ path, target });
  };
  add(mapping.id, 'id');
  add(mapping.name, 'name');
  add(mapping.phone, 'phone_number');
  add(mapping.faType, 'fa_type');
  for (const field of FA_VALUE_FIELDS) add(mapping.fa[field], field);
  add(mapping.operation, 'operation');
  for (const filter of mapping.filters) out.push({ path: filter.source, target: filter.at });
  return out;
}

/** The columns a mapping reads that the header lacks: checked before any row is read. */
export function missingColumns(mapping: CompiledMapping, header: readonly string[]): string[] {
  const present = new Set(header.map((name) => name.trim()));
  return mappingColumns(mapping).filter((column) => !present.has(column));
}

// ---------------------------------------------------------------------------------------------
// DFSP look-up

export interface DfspLookup {
  bank(code: string): { name: string } | undefined;
  branch(bankCode: string, branchCode: string): { name: string } | undefined;
  walletProvider(code: string, walletType: 'MOBILE_WALLET' | 'EMAIL_WALLET'): { name: string } | undefined;
}

const dfspText = (z: Zod, what: string) =>
  z
    .string({ error: (issue) => (issue.input === undefined ? `${what} is missing` : `${what} must be text`) })
    .trim()
    .min(1, { error: `${what} must not be empty` });

// Entries may carry more (mnemonics, active flags from a SPAR export); the file's own keys may not.
function buildDfspFileSchema(z: Zod) {
  return z.strictObject(
    {
      banks: z.array(z.object({ code: dfspText(z, 'code'), name: dfspText(z, 'name') }), { error: 'must be a list' }).default([]),
      branches: z
        .array(z.object({ bank_code: dfspText(z, 'bank_code'), code: dfspText(z, 'code'), name: dfspText(z, 'name') }), {
          error: 'must be a list',
        })
        .default([]),
      wallet_providers: z
        .array(
          z.object({
            code: dfspText(z, 'code'),
            name: dfspText(z, 'name'),
            wallet_type: z.enum(['MOBILE_WALLET', 'EMAIL_WALLET'], { error: oneOf(['MOBILE_WALLET', 'EMAIL_WALLET']) }),
          }),
          { error: 'must be a list' },
        )
        .default([]),
    },
    { error: (issue) => (issue.code === 'invalid_type' ? 'must be a JSON object with banks, branches and wallet_providers' : undefined) },
  );
}
/** The --dfsp file's schema (built at its first use). */
export const dfspFileSchema = lazySchema(buildDfspFileSchema);

/**
 * A DfspLookup over `{"banks":[{code,name}], "branches":[{bank_code,code,name}],
 * "wallet_providers":[{code,name,wallet_type}]}`. Codes match exactly: a code is what SPAR
 * stores, so "bdo" and "BDO" are different banks. A repeated code or a branch of an unknown
 * bank is refused (UsageError `dfsp.invalid`), since the name it would give is ambiguous.
 */
export function dfspLookupFrom(json: unknown, file = 'dfsp.json'): DfspLookup {
  return dfspLookupOf(parseDfspData(json, file), file);
}

/**
 * A flat record given by flags (`link|update --bank-code …`) with the bank, branch and wallet
 * provider names it leaves out filled from the DFSP data, as import-csv fills them. A code the
 * data does not hold is left as it is (the record is then refused for its missing name).
 */
export function withDfspNames(record: Readonly<Record<string, unknown>>, data: DfspData): Record<string, unknown> {
  const filled: Record<string, unknown> = { ...record };
  const text = (field: string) =>
    typeof record[field] === 'string' && (record[field] as string).trim() !== '' ? (record[field] as string).trim() : undefined;
  const bankCode = text('bank_code');
  if (bankCode !== undefined) {
    if (text('bank_name') === undefined) {
      const bank = data.banks.find((entry) => entry.code === bankCode);
      if (bank) filled['bank_name'] = bank.name;
    }
    const branchCode = text('branch_code');
    if (branchCode !== undefined && text('branch_name') === undefined) {
      const branch = data.branches.find((entry) => entry.bank_code === bankCode && entry.code === branchCode);
      if (branch) filled['branch_name'] = branch.name;
    }
  }
  const walletCode = text('wallet_provider_code');
  if (walletCode !== undefined && text('wallet_provider_name') === undefined) {
    const wanted = record['fa_type'] ?? (text('email_address') !== undefined ? 'EMAIL_WALLET' : 'MOBILE_WALLET');
    const provider = data.wallet_providers.find((entry) => entry.code === walletCode && entry.wallet_type === wanted);
    if (provider) filled['wallet_provider_name'] = provider.name;
  }
  return filled;
}

/**
 * Why withDfspNames left a name out: a code the DFSP data does not hold. Said instead of the
 * bare "bank_name is missing" that follows, which would send the admin looking at the wrong field.
 */
export function dfspNameMisses(record: Readonly<Record<string, unknown>>, data: DfspData): { field: string; message: string }[] {
  const filled = withDfspNames(record, data);
  const misses: { field: string; message: string }[] = [];
  const missing = (field: string) =>
    filled[field] === undefined || (typeof filled[field] === 'string' && (filled[field] as string).trim() === '');
  const code = (field: string) => String(record[field]).trim();
  if (missing('bank_name') && !missing('bank_code'))
    misses.push({
      field: 'bank_code',
      message: `bank "${code('bank_code')}" is not in the DFSP data, so its name cannot be filled in: give bank_name (--bank-name), or add the bank to the DFSP data`,
    });
  else if (missing('branch_name') && !missing('bank_code') && !missing('branch_code'))
    misses.push({
      field: 'branch_code',
      message: `branch "${code('branch_code')}" of bank "${code('bank_code')}" is not in the DFSP data, so its name cannot be filled in: give branch_name (--branch-name), or add the branch to the DFSP data`,
    });
  if (missing('wallet_provider_name') && !missing('wallet_provider_code'))
    misses.push({
      field: 'wallet_provider_code',
      message: `wallet provider "${code('wallet_provider_code')}" is not in the DFSP data, so its name cannot be filled in: give wallet_provider_name (--wallet-provider-name), or add it to the DFSP data`,
    });
  return misses;
}

/** Banks, branches and wallet providers as sparctl reads and writes them (the --dfsp file's shape). */
export type DfspData = z.output<ReturnType<typeof buildDfspFileSchema>>;

/**
 * DFSP data as one text whatever order its source lists it in, for a job's definition: the local
 * mapper's order (banks and branches by code, mobile wallets before email ones), each entry's keys
 * in the file's order. A bene-portal API that lists the same banks in another order made a new job
 * of an interrupted import, and had import-odk say a window was started with other DFSP data.
 */
export function dfspDefinitionText(data: DfspData): string {
  // By code point, as SQLite orders the local mapper's codes (UTF-8 bytes); `<` compares UTF-16 units.
  const byText = (a: string, b: string): number => {
    const [x, y] = [[...a], [...b]];
    for (let i = 0; i < Math.min(x.length, y.length); i++) {
      const step = x[i]!.codePointAt(0)! - y[i]!.codePointAt(0)!;
      if (step !== 0) return step;
    }
    return x.length - y.length;
  };
  const emailLast = (type: string): number => (type === 'EMAIL_WALLET' ? 1 : 0);
  return JSON.stringify({
    banks: data.banks.map(({ code, name }) => ({ code, name })).sort((a, b) => byText(a.code, b.code)),
    branches: data.branches
      .map(({ bank_code, code, name }) => ({ bank_code, code, name }))
      .sort((a, b) => byText(a.bank_code, b.bank_code) || byText(a.code, b.code)),
    wallet_providers: data.wallet_providers
      .map(({ code, name, wallet_type }) => ({ code, name, wallet_type }))
      .sort((a, b) => emailLast(a.wallet_type) - emailLast(b.wallet_type) || byText(a.code, b.code)),
  });
}

/** A --dfsp document checked for shape (codes and names filled, wallet types known). */
export function parseDfspData(json: unknown, file = 'dfsp.json'): DfspData {
  const fast = fastDfspFile(json) as DfspData | undefined;
  const parsed = fast !== undefined ? { success: true as const, data: fast } : dfspFileSchema().safeParse(json);
  if (!parsed.success) {
    throw invalidDfsp(
      file,
      parsed.error.issues.map((issue) => {
        const { path, message } = describeIssue(issue);
        return path ? `${path}: ${message}` : message;
      }),
    );
  }
  return parsed.data;
}

/**
 * Look-ups over DFSP data; a repeated code or a branch of an unknown bank is refused, and (`lookAlike`)
 * two codes of one kind that read alike. A mapper's own data may hold such codes, written before
 * they were refused: taken as it is, or every import would stop on codes no row may use.
 */
export function dfspLookupOf(
  data: DfspData,
  file = 'dfsp.json',
  /** Refuse codes that read alike (a file being read); data a mapper already holds is taken as it is. */
  lookAlike = true,
): DfspLookup {
  const problems: string[] = [];
  const banks = new Map<string, string>();
  const branches = new Map<string, string>();
  const wallets = new Map<string, string>();
  // A code and one that reads as it (letter case, character form) are one code to a person: a
  // row that meant one would reach the other.
  const readings = new CodeReadings();
  const add = (map: Map<string, string>, key: string, name: string, at: string, kind: CodeKind, scope: string, code: string) => {
    const alike = map.has(key) || !lookAlike ? undefined : readings.read(kind, scope, code, at);
    if (map.has(key)) problems.push(`${at}: ${codeName(kind, scope, code)} is listed twice`);
    else if (alike !== undefined)
      problems.push(
        `${at}: ${codeName(kind, scope, code)} and ${codeName(kind, alike.scope, alike.code)} (${alike.where}) differ only in letter case or character form; keep one code`,
      );
    else map.set(key, name);
  };
  data.banks.forEach((bank, i) => add(banks, bank.code, bank.name, `banks.${i}.code`, 'bank', '', bank.code));
  data.branches.forEach((branch, i) => {
    if (!banks.has(branch.bank_code)) problems.push(`branches.${i}.bank_code: bank "${branch.bank_code}" is not in banks`);
    add(branches, pair(branch.bank_code, branch.code), branch.name, `branches.${i}.code`, 'branch', branch.bank_code, branch.code);
  });
  data.wallet_providers.forEach((wallet, i) =>
    add(
      wallets,
      pair(wallet.wallet_type, wallet.code),
      wallet.name,
      `wallet_providers.${i}.code`,
      'wallet provider',
      wallet.wallet_type,
      wallet.code,
    ),
  );
  if (problems.length > 0) throw invalidDfsp(file, problems);
  const found = (name: string | undefined) => (name === undefined ? undefined : { name });
  return {
    bank: (code) => found(banks.get(code)),
    branch: (bankCode, branchCode) => found(branches.get(pair(bankCode, branchCode))),
    walletProvider: (code, walletType) => found(wallets.get(pair(walletType, code))),
  };
}

// Joined with NUL, which no code holds (a code with one finds nothing), so "A"+"BC" and "AB"+"C"
// cannot collide.
const pair = (a: string, b: string): string => (a.includes('\0') || b.includes('\0') ? '\0' : `${a}\0${b}`);

function invalidDfsp(file: string, problems: string[]): UsageError {
  return new UsageError('dfsp.invalid', problems.map((problem) => `${file}: ${problem}`).join('; '), {
    hint: 'the DFSP file is {"banks":[{"code","name"}], "branches":[{"bank_code","code","name"}], "wallet_providers":[{"code","name","wallet_type"}]}',
  });
}

// ---------------------------------------------------------------------------------------------
// Applying a mapping to one row

export interface MappingProblem {
  /** The record field concerned (id, fa_type, account_number, phone_number, operation, …). */
  readonly field: string;
  readonly message: string;
  /** mapping.missing_value, mapping.unknown_value, mapping.bad_phone, mapping.bad_id, mapping.unknown_bank, … */
  readonly code: string;
}

export type MappingResult =
  | { readonly ok: true; readonly record: Record<string, unknown>; readonly operation?: ImportOperation }
  | { readonly ok: false; readonly problems: MappingProblem[] };

/** Reads one source value: the column of a CSV row, or a dot path into a JSON object. */
export type RowReader = (path: string) => string | undefined;

/** Whether a source holds a number cell (an .xlsx row's `numberCells`); absent for text-only input. */
export type NumberCells = (path: string) => boolean;

/** A check of a value against the rest of its column (core/column-widths.ts), for the ID and account number. */
export type ColumnCheck = (column: string, value: string) => { code: string; message: string } | undefined;

/** Fields where a number cell is damage whatever it shows (leading zeros, digits past the 15th). */
const NO_NUMBER_FIELDS: ReadonlySet<string> = new Set(['id', 'account_number']);

/**
 * A RowReader over a JSON object (an ODK submission): `beneficiary.national_id` walks nested
 * objects. Numbers and booleans become text; null, objects and lists count as absent.
 */
export function objectRow(value: unknown): RowReader {
  return (path) => {
    let at: unknown = value;
    for (const key of path.split('.')) {
      if (typeof at !== 'object' || at === null || Array.isArray(at) || !Object.hasOwn(at, key)) return undefined;
      at = (at as Record<string, unknown>)[key];
    }
    if (typeof at === 'string') return at;
    if (typeof at === 'number' || typeof at === 'boolean') return String(at);
    return undefined;
  };
}

/**
 * One field's value: undefined when it is empty or has a problem, which goes into `problems`
 * (values and problems apart, not a result object per field: this runs for every cell).
 */
function read(
  spec: CompiledField,
  row: RowReader,
  field: string,
  problems: MappingProblem[],
  numbers?: NumberCells,
  column?: ColumnCheck,
): string | undefined {
  if (spec.constant !== undefined) return spec.constant;
  const { source, raw } = rawOf(spec, row);
  if (raw === undefined) return spec.fallback;
  // An .xlsx formula whose result the workbook does not hold (xlsx-reader.ts gives `=` and its
  // text, as a number cell): its value is unknown in any column — a name or bank name too.
  if (numbers?.(source) && raw.startsWith('=')) {
    problems.push({ field, ...numberCellDamage(source, raw) });
    return undefined;
  }
  if (spec.values === undefined && DAMAGE_FIELDS.has(field)) {
    // A number cell first: the workbook still holds the digits a CSV export would lose, not its leading zeros.
    const damage =
      numbers?.(source) && NO_NUMBER_FIELDS.has(field)
        ? numberCellDamage(source, raw)
        : spreadsheetDamage(source, raw, field !== 'id', PHONE_FIELDS.has(field));
    const problem = damage ?? column?.(source, raw);
    if (problem !== undefined) {
      problems.push({ field, ...problem });
      return undefined;
    }
  }
  if (spec.values !== undefined) {
    const hit = spec.values.get(raw.toLowerCase());
    if (hit === undefined) {
      const keys = spec.valueKeys ?? [];
      const listed = keys.length > 12 ? `${keys.slice(0, 12).join(', ')}, …` : keys.join(', ');
      problems.push({
        field,
        code: 'mapping.unknown_value',
        message: `${spec.source} "${raw}" has no entry in ${spec.at}.values (${listed})`,
      });
      return undefined;
    }
    return hit === '' ? undefined : hit;
  }
  if (spec.targets !== undefined) {
    const folded = raw.toLowerCase();
    const hit = spec.targets.find((target) => target.toLowerCase() === folded);
    if (hit === undefined) {
      problems.push({ field, code: 'mapping.unknown_value', message: `${spec.source} "${raw}" must be one of ${spec.targets.join(', ')}` });
      return undefined;
    }
    return hit;
  }
  return raw;
}

/** The cell a field's value is read from, trimmed, as `read` finds it (its source, or the first alternative with a value). */
function rawOf(spec: CompiledField, row: RowReader): { source: string; raw: string | undefined } {
  let source = spec.source!;
  let raw = row(source)?.trim();
  if ((raw === undefined || raw === '') && spec.alternatives !== undefined) {
    for (const alternative of spec.alternatives) {
      source = alternative;
      raw = row(alternative)?.trim();
      if (raw !== undefined && raw !== '') break;
    }
  }
  return { source, raw: raw === '' ? undefined : raw };
}

const missing = (spec: CompiledField, field: string): MappingProblem => ({
  field,
  code: 'mapping.missing_value',
  message: `${spec.source ?? spec.at} is empty`,
});

function phone(
  raw: string,
  spec: CompiledField,
  field: string,
  country: string | undefined,
  problems: MappingProblem[],
  use: PhoneUse = 'contact',
): string | undefined {
  const result = normalizePhone(raw, country, use);
  if (result.ok) return result.value;
  problems.push({
    field,
    code: result.notMobile ? 'mapping.not_mobile' : 'mapping.bad_phone',
    message: `${spec.source ?? spec.at} "${raw}" ${result.reason}`,
  });
  return undefined;
}

/**
 * One row through a compiled mapping: a flat record for `parseMappingRecord` (or, for an
 * `unlink` row, just `{id}` for `parseIdRecord`), or every problem the mapping itself can see.
 * Problems the model sees (a malformed e-mail, a name too long) are left to parseMappingRecord.
 * With a DFSP look-up, codes are checked and empty names are filled from them.
 */
export function applyMapping(
  mapping: CompiledMapping,
  row: RowReader,
  dfsp?: DfspLookup,
  knownId?: string,
  numbers?: NumberCells,
  column?: ColumnCheck,
): MappingResult {
  const problems: MappingProblem[] = [];
  const record: Record<string, unknown> = {};

  let operation: ImportOperation | undefined;
  if (mapping.operation !== undefined)
    operation = read(mapping.operation, row, 'operation', problems, numbers) as ImportOperation | undefined;

  // `knownId`: what mappedId gave for this very row, not built a second time.
  const id = knownId ?? idOf(mapping, row, problems, numbers);
  if (id !== undefined) record['id'] = id;
  // After the ID is built, not in it: the row keeps its key (rowKey), as the row index has it.
  if (column !== undefined && id !== undefined && mapping.id.source !== undefined && mapping.id.values === undefined) {
    const { source, raw } = rawOf(mapping.id, row);
    const problem = raw === undefined ? undefined : column(source, raw);
    if (problem !== undefined) problems.push({ field: 'id', ...problem });
  }

  // Unlinking needs only the ID, so an unlink row may leave its FA cells empty.
  if (operation === 'unlink') return finish(problems, { id: record['id'] }, operation);

  if (mapping.name !== undefined) {
    const name = read(mapping.name, row, 'name', problems, numbers);
    // Spreadsheets mix composed and decomposed accents and double spaces; SPAR compares bytes.
    if (name !== undefined) record['name'] = plainName(name) ? name : name.normalize('NFC').replace(/\s+/gu, ' ');
  }
  if (mapping.phone !== undefined) {
    const raw = read(mapping.phone, row, 'phone_number', problems, numbers);
    if (raw !== undefined) {
      const value = phone(raw, mapping.phone, 'phone_number', mapping.defaultCountry, problems);
      if (value !== undefined) record['phone_number'] = value;
    }
  }

  const before = problems.length;
  const kind = read(mapping.faType, row, 'fa_type', problems, numbers) as FaType | undefined;
  if (kind === undefined) {
    if (problems.length === before) problems.push(missing(mapping.faType, 'fa_type'));
    return finish(problems, record, operation);
  }
  record['fa_type'] = kind;
  record['strategy_id'] = mapping.strategies[kind];
  for (const field of FA_FIELDS[kind]) {
    const spec = mapping.fa[field];
    if (spec === undefined) continue;
    let value = read(spec, row, field, problems, numbers, field === 'account_number' ? column : undefined);
    if (value === undefined) {
      // A missing name may still come from the DFSP list; parseMappingRecord reports it if not.
      if (!NAME_FIELDS.has(field) && !problems.some((p) => p.field === field)) problems.push(missing(spec, field));
      continue;
    }
    if (field === 'mobile_number') value = phone(value, spec, field, mapping.defaultCountry, problems, 'payment');
    else if (field === 'email_address') value = value.toLowerCase();
    if (value !== undefined) record[field] = value;
  }
  if (dfsp !== undefined) fillFromDfsp(kind, record, dfsp, problems);
  return finish(problems, record, operation);
}

/** The row's ID, read and built as applyMapping does; undefined, with the problem filed, when there is none. */
function idOf(mapping: CompiledMapping, row: RowReader, problems: MappingProblem[], numbers?: NumberCells): string | undefined {
  const idValue = read(mapping.id, row, 'id', problems, numbers);
  if (idValue === undefined) {
    if (!problems.some((p) => p.field === 'id')) problems.push(missing(mapping.id, 'id'));
    return undefined;
  }
  // In NFC, as parseId takes every ID: the row index's key must be the ID the row parses to.
  const value = normalizeId(idValue);
  if (mapping.id.strategy === undefined) return value;
  const id = constructId(mapping, value, problems);
  return id === undefined ? undefined : normalizeId(id);
}

/**
 * The ID applyMapping gives the row, when it gives one — and only the ID: nothing else of the
 * row is read or checked (applyMapping's `knownId` takes it back). Undefined when the ID has a
 * problem, or when the mapping reads a per-row operation (such a row's ID is not all that
 * decides what it does).
 */
export function mappedId(mapping: CompiledMapping, row: RowReader, numbers?: NumberCells): string | undefined {
  return mapping.operation !== undefined ? undefined : rowKey(mapping, row, numbers);
}

/**
 * The beneficiary ID a row names, whatever else it holds (a per-row operation, fields that do not
 * map): the ID applyMapping gives when the row maps. Undefined when the ID itself has a problem.
 * The row index of a bulk run is built with this (RowIndex).
 */
export function rowKey(mapping: CompiledMapping, row: RowReader, numbers?: NumberCells): string | undefined {
  const id = idOf(mapping, row, idProblems, numbers);
  if (idProblems.length === 0) return id;
  idProblems.length = 0;
  return undefined;
}

/** mappedId's problems, only counted: one array for every row, not one per row. */
const idProblems: MappingProblem[] = [];

/**
 * Printable ASCII without runs of spaces: already what normalising would make of it. A loop, not
 * a regex: V8 ran `^(?:[!-~]| (?! ))*$` out of stack on a 10 MB cell (an internal error).
 */
function plainName(name: string): boolean {
  for (let at = 0; at < name.length; at++) {
    const code = name.charCodeAt(at);
    if (code === 0x20 ? name.charCodeAt(at + 1) === 0x20 : code < 0x21 || code > 0x7e) return false;
  }
  return true;
}

function finish(problems: MappingProblem[], record: Record<string, unknown>, operation: ImportOperation | undefined): MappingResult {
  if (problems.length > 0) return { ok: false, problems };
  return operation === undefined ? { ok: true, record } : { ok: true, record, operation };
}

/**
 * The ID built with the ID strategy's template, refused when the strategy's own regex would not
 * read the same value back (strategy 1 stops at a dot: `token:12.34@nationalId` reads as nothing).
 */
function constructId(mapping: CompiledMapping, value: string, problems: MappingProblem[]): string | undefined {
  const strategy = mapping.id.strategy!;
  const field = mapping.id.strategyField!;
  const split = mapping.id.strategySplit;
  // Joined, not concatenated: `+` would give a string that points at its parts, and the value is
  // a slice of the file's text, which the ID would then keep alive (peak memory rose by 45 MB).
  if (split && readsBackAlone(split, value)) return [split.prefix, value, split.suffix].join('');
  // pythonFormat with the one field, and re.match read back, without the intermediate objects.
  let id = '';
  for (const part of strategy.template.parts) id += 'literal' in part ? part.literal : value;
  const match = strategy.pattern.regex.exec(id);
  const back = match === null ? null : (match.groups?.[field] ?? null);
  if (match === null || (strategy.pattern.groupNames.includes(field) && back !== value)) {
    problems.push({
      field: 'id',
      code: 'mapping.bad_id',
      message: `${mapping.id.source} "${value}" cannot be used with ID strategy ${strategy.id}: "${id}" does not read back as "${value}"`,
    });
    return undefined;
  }
  return id;
}

function fillFromDfsp(kind: FaType, record: Record<string, unknown>, dfsp: DfspLookup, problems: MappingProblem[]): void {
  const text = (field: string) => record[field] as string | undefined;
  if (kind === 'BANK') {
    const bankCode = text('bank_code');
    if (bankCode === undefined) return;
    const bank = dfsp.bank(bankCode);
    if (bank === undefined) {
      const padded = zeroPaddedMatch(bankCode, (code) => dfsp.bank(code) !== undefined);
      if (padded !== undefined) {
        problems.push({ field: 'bank_code', code: DAMAGE_CODES.zeros, message: leadingZerosMessage('bank code', bankCode, padded) });
        return;
      }
      problems.push({
        field: 'bank_code',
        code: 'mapping.unknown_bank',
        message: `unknown bank code "${bankCode}" (not in the DFSP list)`,
      });
      return;
    }
    record['bank_name'] ??= bank.name;
    const branchCode = text('branch_code');
    if (branchCode === undefined) return;
    const branch = dfsp.branch(bankCode, branchCode);
    if (branch === undefined) {
      const padded = zeroPaddedMatch(branchCode, (code) => dfsp.branch(bankCode, code) !== undefined);
      if (padded !== undefined) {
        problems.push({ field: 'branch_code', code: DAMAGE_CODES.zeros, message: leadingZerosMessage('branch code', branchCode, padded) });
        return;
      }
      problems.push({
        field: 'branch_code',
        code: 'mapping.unknown_branch',
        message: `unknown branch code "${branchCode}" of bank "${bankCode}" (not in the DFSP list)`,
      });
      return;
    }
    record['branch_name'] ??= branch.name;
    return;
  }
  const code = text('wallet_provider_code');
  if (code === undefined) return;
  const provider = dfsp.walletProvider(code, kind);
  if (provider === undefined) {
    const padded = zeroPaddedMatch(code, (candidate) => dfsp.walletProvider(candidate, kind) !== undefined);
    if (padded !== undefined) {
      problems.push({
        field: 'wallet_provider_code',
        code: DAMAGE_CODES.zeros,
        message: leadingZerosMessage('wallet provider code', code, padded),
      });
      return;
    }
    const what = kind === 'MOBILE_WALLET' ? 'mobile wallet' : 'e-mail wallet';
    problems.push({
      field: 'wallet_provider_code',
      code: 'mapping.unknown_wallet_provider',
      message: `unknown ${what} provider code "${code}" (not in the DFSP list)`,
    });
    return;
  }
  record['wallet_provider_name'] ??= provider.name;
}
