import { parseMappingRecord, problemText } from './request-items.js';
import type { FaType, FinancialAddress } from './model.js';
import { FA_FIELDS } from './vocabulary.js';
import type { Strategy } from './strategy/strategy.js';

/**
 * The pure part of `sparctl fa edit`: the FA an admin's answers make (validated as any input
 * record is), and the before → after lines shown before anything is written.
 */

export type FaAnswers = { readonly fa_type: FaType; readonly strategy_id: number } & Readonly<Record<string, string | number>>;

/** The FA the answers describe, or every problem with them (field: message). */
export function faFromAnswers(answers: FaAnswers): { ok: true; fa: FinancialAddress } | { ok: false; problems: string[] } {
  const fields: Record<string, unknown> = { id: 'x', fa_type: answers.fa_type, strategy_id: answers.strategy_id };
  for (const field of FA_FIELDS[answers.fa_type]) if (answers[field] !== undefined) fields[field] = String(answers[field]);
  const parsed = parseMappingRecord(fields);
  if (!parsed.ok)
    return {
      ok: false,
      problems: parsed.problems.map(problemText),
    };
  return { ok: true, fa: parsed.value.fa };
}

export interface FaChange {
  readonly field: string;
  readonly before: string;
  readonly after: string;
  readonly changed: boolean;
}

/** Field by field, the current FA (as resolved) against the new one; fields of either FA, type first. */
export function faChanges(before: Readonly<Record<string, unknown>> | null, after: FinancialAddress): FaChange[] {
  const text = (value: unknown) => (value === null || value === undefined ? '' : String(value));
  const fields = ['fa_type', ...new Set([...(before ? Object.keys(before) : []), ...Object.keys(after)])].filter(
    (field, i, all) => all.indexOf(field) === i && field !== 'strategy_id',
  );
  fields.push('strategy_id');
  return fields.map((field) => {
    const was = text(before?.[field]);
    const now = text((after as Record<string, unknown>)[field]);
    return { field, before: was, after: now, changed: was !== now };
  });
}

/**
 * The stored forms a plain ID may have: built with each active ID strategy whose template has
 * one field (strategy 1: `000412345004` → `token:000412345004@nationalId`), when the result reads
 * back as the ID through the strategy's pattern. An ID that already matches a strategy's pattern
 * (a token form itself) has none.
 */
export function idForms(id: string, strategies: Iterable<Strategy>): { readonly strategyId: number; readonly id: string }[] {
  const ids = [...strategies].filter((s) => s.strategy_type === 'ID' && s.active && s.template.fields.length === 1);
  if (ids.some((strategy) => strategy.pattern.regex.test(id))) return [];
  const forms: { strategyId: number; id: string }[] = [];
  for (const strategy of ids) {
    const field = strategy.template.fields[0]!;
    const built = strategy.template.parts.map((part) => ('literal' in part ? part.literal : id)).join('');
    const match = strategy.pattern.regex.exec(built);
    if (match === null || (strategy.pattern.groupNames.includes(field) && match.groups?.[field] !== id)) continue;
    if (!forms.some((form) => form.id === built)) forms.push({ strategyId: strategy.id, id: built });
  }
  return forms;
}
