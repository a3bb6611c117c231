import { parseMappingRecord } from './request-items.js';
import type { FaType, FinancialAddress } from './model.js';
import { FA_FIELDS } from './vocabulary.js';

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
      problems: parsed.problems.map((p) => (p.message.startsWith(`${p.field} `) ? p.message : `${p.field}: ${p.message}`)),
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
