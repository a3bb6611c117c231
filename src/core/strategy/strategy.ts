import type { FinancialAddress } from '../model.js';
import { parseFormatTemplate, pythonFormat, type FormatTemplate } from './python-format.js';
import { pythonReMatch, translatePythonRegex, type TranslatedRegex } from './python-regex.js';
import { buildReadingBack, literalSplitOf, type LiteralSplit } from './literal-split.js';

/** A row of SPAR's `strategy` table (research/spar-api.md §8.1). */
export interface StrategyRow {
  readonly id: number;
  readonly strategy_type: 'ID' | 'FA';
  readonly construct_strategy: string;
  readonly deconstruct_strategy: string;
  readonly description: string | null;
  readonly active: boolean;
}

/** A strategy with its template parsed and its regex translated, ready to use. */
export interface Strategy extends StrategyRow {
  readonly template: FormatTemplate;
  readonly pattern: TranslatedRegex;
  /** Where a remote profile's definition came from ("built-in", "file PATH", …); absent for a local mapper's own table. */
  readonly source?: string;
  /**
   * Why sparctl does not run this declared strategy's regex (it could backtrack catastrophically):
   * the deployment still has it, so the profile keeps it, but link and update with it are refused.
   */
  readonly unusable?: string;
}

/**
 * SPAR's five default strategies, verbatim from the Helm chart values (research §8.2). Their ids
 * are the same in every SPAR environment, so they are the same here.
 */
export const DEFAULT_STRATEGY_ROWS: readonly StrategyRow[] = [
  {
    id: 1,
    strategy_type: 'ID',
    description: 'Key Cloak',
    construct_strategy: 'token:{sub}@nationalId',
    deconstruct_strategy: '^token:(?P<sub>.[^.]*)@nationalId$',
    active: true,
  },
  {
    id: 2,
    strategy_type: 'FA',
    description: 'Bank',
    construct_strategy:
      'account_number:{account_number}.branch_name:{branch_name}.branch_code:{branch_code}.bank_name:{bank_name}.bank_code:{bank_code}.fa_type:{fa_type}',
    deconstruct_strategy:
      '^account_number:(?P<account_number>.*)\\.branch_name:(?P<branch_name>.*)\\.branch_code:(?P<branch_code>.*)\\.bank_name:(?P<bank_name>.*)\\.bank_code:(?P<bank_code>.*)\\.fa_type:(?P<fa_type>.*)$',
    active: true,
  },
  {
    id: 3,
    strategy_type: 'FA',
    description: 'Email',
    construct_strategy:
      'email_address:{email_address}.wallet_provider_name:{wallet_provider_name}.wallet_provider_code:{wallet_provider_code}.fa_type:{fa_type}',
    deconstruct_strategy:
      '^email_address:(?P<email_address>.*)\\.wallet_provider_name:(?P<wallet_provider_name>.*)\\.wallet_provider_code:(?P<wallet_provider_code>.*)\\.fa_type:(?P<fa_type>.*)$',
    active: true,
  },
  {
    id: 4,
    strategy_type: 'FA',
    description: 'Phone',
    construct_strategy:
      'mobile_number:{mobile_number}.wallet_provider_name:{wallet_provider_name}.wallet_provider_code:{wallet_provider_code}.fa_type:{fa_type}',
    deconstruct_strategy:
      '^mobile_number:(?P<mobile_number>.*)\\.wallet_provider_name:(?P<wallet_provider_name>.*)\\.wallet_provider_code:(?P<wallet_provider_code>.*)\\.fa_type:(?P<fa_type>.*)$',
    active: true,
  },
  {
    id: 5,
    strategy_type: 'FA',
    description: 'Bank (G2P Bridge)',
    construct_strategy:
      'account_number:{account_number}.branch_code:{branch_code}.bank_code:{bank_code}.mobile_number:.email_address:.fa_type:BANK_ACCOUNT',
    deconstruct_strategy:
      '^account_number:(?P<account_number>.*)\\.branch_code:(?P<branch_code>.*)\\.bank_code:(?P<bank_code>.*)\\.mobile_number:(?P<mobile_number>.*)\\.email_address:(?P<email_address>.*)\\.fa_type:(?P<fa_type>.*)$',
    active: true,
  },
];

/**
 * Parses the template and translates the regex; throws StrategyError when either is unusable.
 * A row that builds and reads as a built-in one does shares its compiled parts.
 */
export function compileStrategy(row: StrategyRow): Strategy {
  const builtIn = DEFAULT_STRATEGIES.find(
    (strategy) => strategy.construct_strategy === row.construct_strategy && strategy.deconstruct_strategy === row.deconstruct_strategy,
  );
  if (builtIn !== undefined) return { ...row, template: builtIn.template, pattern: builtIn.pattern };
  const template = parseFormatTemplate(row.construct_strategy);
  const pattern = translatePythonRegex(row.deconstruct_strategy);
  return { ...row, template, pattern };
}

/**
 * A built-in pattern, translated at its first use: most commands never run one (the stored FA is
 * built and checked by literal-split.ts from the pattern's text), and translating the five took
 * a tenth of a command's start-up. Their translation is checked by a test, so it cannot fail here.
 */
function translatedWhenUsed(pythonPattern: string): TranslatedRegex {
  let translated: TranslatedRegex | undefined;
  const translation = () => (translated ??= translatePythonRegex(pythonPattern));
  return {
    pythonPattern,
    get regex() {
      return translation().regex;
    },
    get groupNames() {
      return translation().groupNames;
    },
  };
}

export const DEFAULT_STRATEGIES: readonly Strategy[] = DEFAULT_STRATEGY_ROWS.map((row) => ({
  ...row,
  template: parseFormatTemplate(row.construct_strategy),
  pattern: translatedWhenUsed(row.deconstruct_strategy),
}));

/**
 * The values SPAR hands to `construct_strategy.format(**fa)`: every key of the FA object as a
 * string (the controller stringifies them; `strategy_id` 2 becomes "2").
 */
export function formatValuesOf(fa: FinancialAddress): Record<string, string> {
  const values: Record<string, string> = {};
  for (const key of Object.keys(fa)) values[key] = String((fa as Record<string, unknown>)[key]);
  return values;
}

/** The stored FA string: byte-identical to Python's `construct_strategy.format(**fa)`. */
export function constructFa(strategy: Strategy, fa: FinancialAddress): string {
  return pythonFormat(strategy.template, formatValuesOf(fa));
}

/** Python's `re.match(deconstruct_strategy, value).groupdict()`, or null when it does not match. */
export function deconstructFa(strategy: Strategy, faValue: string): Record<string, string | null> | null {
  return pythonReMatch(strategy.pattern, faValue);
}

/**
 * Why this FA cannot be stored with this strategy, or null when it can: the strategy must be an
 * FA strategy whose template uses only fields the FA has, and the constructed string must read
 * back to the same values. The default regexes split on literal labels with greedy groups, so a
 * value that contains the label of an earlier field (a branch name "Main.branch_name:X") moves
 * the split: every resolve would then return a different account number than the one linked.
 */
export function faProblem(strategy: Strategy, fa: FinancialAddress): string | null {
  const built = buildCheckedFa(strategy, fa);
  return built.ok ? null : built.problem;
}

type CheckedFa = { ok: true; value: string } | { ok: false; problem: string };

/**
 * The stored FA string after the checks of `faProblem`, or the reason it cannot be stored.
 * Nothing is cached by FA object: a WeakMap of every record's result cost a bulk import more in
 * garbage collection than building the string again; callers that need the string twice carry it.
 */
export function buildCheckedFa(strategy: Strategy, fa: FinancialAddress): CheckedFa {
  return checkFa(strategy, fa);
}

/** The template's fields that its regex reads back, by template: computed once per strategy. */
const readBackFieldsOf = new WeakMap<FormatTemplate, readonly string[]>();

const literalSplits = new WeakMap<Strategy, LiteralSplit | null>();

/** @internal buildCheckedFa with the regex always run and no cache: for tests that compare the two. */
export function buildCheckedFaWithRegex(strategy: Strategy, fa: FinancialAddress): CheckedFa {
  return checkFa(strategy, fa, false);
}

function checkFa(strategy: Strategy, fa: FinancialAddress, useLiteralSplit = true): CheckedFa {
  const fail = (problem: string) => ({ ok: false as const, problem });
  // Refused before the regex could run: the record is refused, the rest of the run goes on.
  if (strategy.unusable !== undefined) return fail(strategy.unusable);
  if (strategy.strategy_type !== 'FA') return fail(`strategy ${strategy.id} is an ${strategy.strategy_type} strategy, not an FA strategy`);
  const { fields, parts } = strategy.template;
  const values = fa as unknown as Readonly<Record<string, unknown>>;
  for (const field of fields) {
    if (!Object.hasOwn(values, field)) {
      const missing = fields.filter((name) => !Object.hasOwn(values, name));
      return fail(`strategy ${strategy.id} needs ${missing.join(', ')}, which a ${fa.fa_type} FA does not have`);
    }
  }
  // The shape SPAR ships is read back without the regex (literal-split.ts); anything it cannot
  // vouch for goes on to the regex, which also says what is wrong.
  if (useLiteralSplit) {
    let split = literalSplits.get(strategy);
    if (split === undefined) literalSplits.set(strategy, (split = literalSplitOf(strategy.template, strategy.pattern.pythonPattern)));
    const built = split === null ? undefined : buildReadingBack(split, values);
    if (built !== undefined) return { ok: true, value: built };
  }
  // pythonFormat over formatValuesOf(fa), without building the values object: every field is
  // present (checked above), and each value is formatted as its string, as SPAR's str() does.
  let constructed = '';
  for (const part of parts) constructed += 'literal' in part ? part.literal : text(values[part.field]);
  const match = strategy.pattern.regex.exec(constructed);
  if (match === null) {
    return fail(`strategy ${strategy.id} cannot read back the FA it builds ("${constructed}" does not match its deconstruct pattern)`);
  }
  let readBackFields = readBackFieldsOf.get(strategy.template);
  if (readBackFields === undefined) {
    readBackFields = fields.filter((field) => strategy.pattern.groupNames.includes(field));
    readBackFieldsOf.set(strategy.template, readBackFields);
  }
  for (const field of readBackFields) {
    const readBack = match.groups?.[field] ?? null;
    const value = text(values[field]);
    if (readBack !== value) {
      return fail(
        `${field} "${value}" would be read back as "${readBack ?? ''}" by strategy ${strategy.id}; remove the text that looks like a label`,
      );
    }
  }
  // A group for a field the template does not build: resolve returns what it reads, so an FA
  // that gives that field another value would come back changed — a bank code linked as OTB
  // resolved as EXB. Only an FA without the field, or with the value the group reads, is stored.
  // fa_type is the exception, by SPAR's own design: strategy 5 (G2P Bridge) writes the constant
  // BANK_ACCOUNT for a BANK FA, and resolve is known to say so.
  for (const field of strategy.pattern.groupNames) {
    if (
      field === 'fa_type' ||
      fields.includes(field) ||
      !Object.hasOwn(values, field) ||
      values[field] === undefined ||
      values[field] === null
    )
      continue;
    const readBack = match.groups?.[field] ?? null;
    const value = text(values[field]);
    if (readBack !== value) {
      return fail(
        `${field} "${value}" would be read back as "${readBack ?? ''}" by strategy ${strategy.id}: its deconstruct pattern reads ${field}, which its template does not write`,
      );
    }
  }
  return { ok: true, value: constructed };
}

const text = (value: unknown): string => (typeof value === 'string' ? value : String(value));
