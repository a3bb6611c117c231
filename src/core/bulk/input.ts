import { checkStrategy } from '../apply.js';
import { parseRecordFor, type RecordDefaults } from '../records.js';
import type { Strategy } from '../strategy/strategy.js';
import type { BulkInputRecord, BulkMode, InputProblem } from './engine.js';

const MODES: readonly BulkMode[] = ['upsert', 'link', 'update', 'unlink'];

/** The optional per-row column that overrides the run's mode for that row. */
export const OPERATION_COLUMN = 'operation';

/**
 * One input record of a file-driven run (`link|update|unlink --file`) made ready for the bulk
 * engine: validated, checked against the target's strategies, with its own mode when the row
 * has an `operation` column.
 */
export function toBulkRecord(
  seq: number,
  line: number | undefined,
  record: Readonly<Record<string, unknown>>,
  raw: Readonly<Record<string, string>> | undefined,
  options: {
    mode: BulkMode;
    defaults?: RecordDefaults;
    strategies: ReadonlyMap<number, Strategy>;
    unreadable?: string;
    /** Whether a row may ask for unlink when the run itself is not an unlink (the user said --yes). */
    unlinkConfirmed?: boolean;
  },
): BulkInputRecord {
  const at = { seq, ...(line === undefined ? {} : { line }), ...(raw === undefined ? {} : { raw }) };
  if (options.unreadable) return { ...at, parsed: { ok: false, problems: [{ field: '(line)', message: options.unreadable, code: 'input.unreadable' }] } };
  const { [OPERATION_COLUMN]: rowOperation, ...fields } = record;
  const problems: InputProblem[] = [];
  let mode = options.mode;
  if (rowOperation !== undefined && rowOperation !== null && String(rowOperation).trim() !== '') {
    const wanted = String(rowOperation).trim().toLowerCase();
    if (wanted === 'unlink' && options.mode !== 'unlink' && !options.unlinkConfirmed) {
      // Unlinking stops payments: a row cannot do it behind the back of a run that was not asked to.
      problems.push({ field: OPERATION_COLUMN, message: 'this row asks to unlink; run again with --yes to allow unlink rows', code: 'input.unlink_not_confirmed' });
    } else if ((MODES as readonly string[]).includes(wanted)) mode = wanted as BulkMode;
    else problems.push({ field: OPERATION_COLUMN, message: `operation must be one of ${MODES.join(', ')}, got "${String(rowOperation)}"`, code: 'input.invalid' });
  }
  const parsed = parseRecordFor(mode === 'unlink' ? 'unlink' : 'link', fields, options.defaults);
  if (!parsed.ok) problems.push(...parsed.problems.map((p) => ({ ...p, code: 'input.invalid' })));
  else if ('fa' in parsed.value) {
    const strategyProblem = checkStrategy(parsed.value, options.strategies);
    if (strategyProblem) problems.push({ ...strategyProblem, code: 'input.strategy' });
  }
  if (problems.length > 0 || !parsed.ok) {
    const id = typeof fields['id'] === 'string' ? fields['id'].trim() : undefined;
    return { ...at, parsed: { ok: false, problems, ...(id ? { id } : {}) } };
  }
  return { ...at, parsed: { ok: true, value: parsed.value, mode } };
}
