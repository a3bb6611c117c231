/**
 * The strategies a remote profile declares for its deployment (SPAR has no API to list them):
 * SPAR's built-in 1–5, then the profile's `strategiesFile` and inline `strategies`, each row
 * remembering where it came from. Invariant: an id names one definition — a declaration that
 * gives an id two different definitions is refused, and appending never changes an id's.
 */
import { ConfigError, StrategyError, UsageError } from '../errors.js';
import type { ItemResult } from '../results.js';
import type { LinkItem } from '../mapper.js';
import { STRATEGY_ID_MAX } from '../model.js';
import { constructFa, DEFAULT_STRATEGY_ROWS, type Strategy, type StrategyRow } from './strategy.js';

/** A strategy row and where its definition came from: "built-in", "file PATH", "profile NAME (inline)". */
export interface SourcedRow extends StrategyRow {
  readonly source: string;
}

export const BUILT_IN = 'built-in';

/** The columns in which two definitions of one id differ (a missing description and '' are the same, as Helm seeds write ''). */
export function strategyDifferences(a: StrategyRow, b: StrategyRow): string[] {
  return (['strategy_type', 'construct_strategy', 'deconstruct_strategy', 'description', 'active'] as const).filter((column) =>
    column === 'active' ? a.active !== b.active : (a[column] ?? '') !== (b[column] ?? ''),
  );
}

/**
 * SPAR's built-in strategies overlaid with the declared ones, by id. A declaration wins over a
 * built-in of the same id (a deployment seeded with other values has other rows); two
 * declarations of one id must agree.
 */
export function combineDeclared(declared: readonly { readonly source: string; readonly rows: readonly StrategyRow[] }[]): SourcedRow[] {
  const byId = new Map<number, SourcedRow>(DEFAULT_STRATEGY_ROWS.map((row) => [row.id, { ...row, source: BUILT_IN }]));
  const declaredBy = new Map<number, SourcedRow>();
  for (const { source, rows } of declared) {
    for (const row of rows) {
      const earlier = declaredBy.get(row.id);
      if (earlier !== undefined) {
        const differs = strategyDifferences(earlier, row);
        if (differs.length === 0) continue;
        throw new UsageError(
          'strategy.invalid',
          `${source}: strategy ${row.id} differs from its definition in ${earlier.source} (${differs.join(', ')}); an id names one strategy`,
          { hint: 'declare each id once, as the deployment has it' },
        );
      }
      const sourced = { ...row, source };
      declaredBy.set(row.id, sourced);
      byId.set(row.id, sourced);
    }
  }
  return [...byId.values()].sort((a, b) => a.id - b.id);
}

/**
 * An id to suggest for a new strategy: past every id taken, as ids are usually given in order,
 * or, when that is past PostgreSQL's integer range, the lowest one free.
 */
export function freeStrategyId(taken: readonly number[]): number {
  const next = Math.max(0, ...taken) + 1;
  if (next <= STRATEGY_ID_MAX) return next;
  const used = new Set(taken);
  let free = 1;
  while (used.has(free)) free++;
  return free;
}

/**
 * What appending `adding` to the `known` strategies does, row by row: an id not known is added,
 * one known with the same definition is unchanged, one known with another is refused (FAs
 * stored under that id must keep reading back the same way).
 */
export function planAppend(
  known: readonly StrategyRow[],
  adding: readonly StrategyRow[],
): { id: number; outcome: 'added' | 'unchanged' }[] {
  const byId = new Map(known.map((row) => [row.id, row]));
  return adding.map((row) => {
    const there = byId.get(row.id);
    if (there === undefined) return { id: row.id, outcome: 'added' as const };
    const differs = strategyDifferences(there, row);
    if (differs.length === 0) return { id: row.id, outcome: 'unchanged' as const };
    const next = freeStrategyId([...known.map((r) => r.id), ...adding.map((r) => r.id)]);
    throw strategyIdTaken(row.id, differs, next, 'source' in there ? String(there.source) : undefined);
  });
}

/**
 * strategy.id_taken for an id stored with another definition (`differs`: its columns that
 * differ). Why a stored row is never changed depends on what differs: the template or regex is
 * how its FAs read back; a description or `active` alone is only the row's own.
 */
export function strategyIdTaken(id: number, differs: readonly string[], next: number, where?: string): StrategyError {
  const readBack = differs.some((column) => column !== 'description' && column !== 'active');
  const why = readBack
    ? `strategies are append-only and never changed, because FAs stored with id ${id} must keep reading back the same way`
    : 'strategies are append-only: a stored one is never changed, its description and active flag neither';
  return new StrategyError(
    'strategy.id_taken',
    `strategy ${id} already exists with a different ${differs.join(', ')}${where === undefined ? '' : ` (${where})`}; ${why}; nothing was added`,
    {
      hint: readBack
        ? `add the new version under a new id, e.g. --id ${next}, and link new records with that strategy id`
        : `give the stored ${differs.join(' and ')} (see "sparctl strategy list -o json"), or add it under a new id, e.g. --id ${next}`,
    },
  );
}

/**
 * Found mappings whose FA is stored with a strategy the profile does not declare, as one error
 * naming the missing ids (undefined when there are none, or when the target keeps its own
 * strategies: only a remote profile's carry a source). The FA was still shown as the mapper
 * returned it; link and update with that strategy would be refused.
 */
export function undeclaredStored(
  known: readonly { readonly id: number; readonly strategy_type: string; readonly source?: string }[],
  found: readonly { readonly id: string; readonly result: Pick<ItemResult, 'fa' | 'additional_info'> }[],
): ConfigError | undefined {
  if (!known.some((s) => s.source !== undefined)) return undefined;
  const ids = new Set(known.map((s) => s.id));
  const missing = new Map<number, string[]>();
  for (const { id, result } of found) {
    const strategyId = storedStrategyId(result);
    if (strategyId === undefined || ids.has(strategyId)) continue;
    missing.set(strategyId, [...(missing.get(strategyId) ?? []), id]);
  }
  if (missing.size === 0) return undefined;
  const strategyIds = [...missing.keys()].sort((a, b) => a - b);
  const beneficiaries = [...missing.values()].flat();
  const declared = known.filter((s) => s.strategy_type === 'FA').map((s) => s.id);
  const what =
    beneficiaries.length === 1
      ? `ID ${beneficiaries[0]}'s FA is stored with strategy ${strategyIds[0]}`
      : `${beneficiaries.length} IDs' FAs are stored with strateg${strategyIds.length === 1 ? 'y' : 'ies'} ${strategyIds.join(', ')} (first: ID ${beneficiaries[0]})`;
  return new ConfigError(
    'strategy.undeclared',
    `${what}, which this profile does not declare (FA strategies: ${declared.join(', ')}); the FA is shown as the mapper returned it`,
    { hint: 'declare the deployment\'s strategies in the profile: strategiesFile ("sparctl strategy add" appends to it) or strategies' },
  );
}

/**
 * The first FA a mapper answered a link with that is not the string sparctl builds for it with
 * the strategy it knows by that id (SPAR v2 answers a link with the FA string it stored): the
 * deployment's strategy is then another than the profile's, so sparctl checked the values
 * against a template the mapper does not use. Undefined when every stored string is the one
 * built, or the answer tells none.
 */
export function storedFaMismatch(
  items: readonly Pick<LinkItem, 'reference_id' | 'id' | 'fa' | 'faValue'>[],
  results: readonly Pick<ItemResult, 'reference_id' | 'status' | 'fa'>[],
  strategies: ReadonlyMap<number, Strategy>,
): { id: string; strategy: Strategy; stored: string; built: string } | undefined {
  let byReference: Map<string, Pick<LinkItem, 'reference_id' | 'id' | 'fa' | 'faValue'>> | undefined;
  for (let at = 0; at < results.length; at++) {
    const result = results[at]!;
    if (result.status !== 'succ' || typeof result.fa !== 'string') continue;
    // Answers come in the request's order: the item at the same place, else looked up.
    let item = items[at];
    if (item?.reference_id !== result.reference_id) {
      byReference ??= new Map(items.map((one) => [one.reference_id, one]));
      item = byReference.get(result.reference_id);
    }
    const strategy = item === undefined ? undefined : strategies.get(item.fa.strategy_id);
    if (item === undefined || strategy === undefined || strategy.unusable !== undefined) continue;
    // The string the record's check built with this same strategy, or built now (a single record).
    const built = item.faValue ?? constructFa(strategy, item.fa);
    if (built !== result.fa) return { id: item.id, strategy, stored: result.fa, built };
  }
  return undefined;
}

/**
 * The strategy id a mapping's FA was stored with: the resolved FA object's `strategy_id`, or
 * else the one kept in additional_info — `[{strategy_id: 2}]` (SPAR 1.x and 2.x read element 0)
 * or a G2P Connect name/value entry `{name: "strategy_id", value: "2"}`.
 */
export function storedStrategyId(result: Pick<ItemResult, 'fa' | 'additional_info'>): number | undefined {
  const fa = result.fa;
  if (isRecord(fa) && 'strategy_id' in fa) {
    const id = asStrategyId(fa['strategy_id']);
    if (id !== undefined) return id;
  }
  return strategyIdOf(result.additional_info);
}

/** The strategy id kept in a mapping's additional_info, or undefined. */
export function strategyIdOf(additionalInfo: unknown): number | undefined {
  if (!Array.isArray(additionalInfo)) return undefined;
  const first: unknown = additionalInfo[0];
  if (isRecord(first) && 'strategy_id' in first) return asStrategyId(first['strategy_id']);
  for (const entry of additionalInfo) {
    if (isRecord(entry) && entry['name'] === 'strategy_id') return asStrategyId(entry['value']);
  }
  return undefined;
}

function asStrategyId(value: unknown): number | undefined {
  if (typeof value === 'number' && Number.isSafeInteger(value)) return value;
  if (typeof value === 'string' && /^[0-9]{1,9}$/.test(value)) return Number(value);
  return undefined;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
