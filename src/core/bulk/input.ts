import { checkedFaOf, parseMappedRecord, parseRecordFor, recordKey, type RecordDefaults } from '../request-items.js';
import type { Strategy } from '../strategy/strategy.js';
import { recordDamage } from '../spreadsheet-damage.js';
import type { BulkInputRecord, BulkMode, InputProblem } from './types.js';
import { OPERATION_COLUMN } from '../vocabulary.js';

const MODES: readonly BulkMode[] = ['upsert', 'link', 'update', 'unlink'];

/**
 * One input record of a file-driven run (`link|update|unlink --file`) made ready for the bulk
 * engine: validated, checked against the target's strategies, with its own mode when the row
 * has an `operation` column.
 */
export function toBulkRecord(
  seq: number,
  line: number | undefined,
  record: Readonly<Record<string, unknown>>,
  raw: Readonly<Record<string, unknown>> | undefined,
  options: {
    mode: BulkMode;
    defaults?: RecordDefaults;
    strategies: ReadonlyMap<number, Strategy>;
    unreadable?: string;
    /** Whether a row may ask for unlink when the run itself is not an unlink (the user said --yes). */
    unlinkConfirmed?: boolean;
    /** The record was built by a mapping file (applyMapping): its values may be read the quick way. */
    mapped?: boolean;
  },
): BulkInputRecord {
  const key = recordKey(record);
  if (options.unreadable)
    return located(seq, line, raw, undefined, {
      ok: false,
      problems: [{ field: '(line)', message: options.unreadable, code: 'input.unreadable' }],
    });
  if (options.mapped && options.mode !== 'unlink' && record[OPERATION_COLUMN] === undefined) {
    const value = parseMappedRecord(record, options.mode === 'update' ? 'existing' : 'new');
    if (value !== undefined) {
      const checked = checkedFaOf(value, options.strategies);
      // A problem is left to the general way below, which reports it as it always has.
      if (checked.ok) return located(seq, line, raw, key, { ok: true, value, mode: options.mode, faValue: checked.value });
    }
  }
  // The record is parsed as is, told to pass over the operation column: no per-row copy without it.
  const rowOperation = record[OPERATION_COLUMN];
  const problems: InputProblem[] = [];
  let mode = options.mode;
  // The operation the row is checked for: an unlink row refused for want of --yes is still read
  // as an unlink (its ID only), so that --yes is all it lacks, not an FA it never needed.
  let checkAs: BulkMode | undefined;
  if (rowOperation !== undefined && rowOperation !== null && String(rowOperation).trim() !== '') {
    const wanted = String(rowOperation).trim().toLowerCase();
    if (wanted === 'unlink' && options.mode !== 'unlink' && !options.unlinkConfirmed) {
      // Unlinking stops payments: a row cannot do it behind the back of a run that was not asked to.
      problems.push({
        field: OPERATION_COLUMN,
        message: 'this row asks to unlink; run again with --yes to allow unlink rows',
        code: 'input.unlink_not_confirmed',
      });
      checkAs = 'unlink';
    } else if ((MODES as readonly string[]).includes(wanted)) mode = wanted as BulkMode;
    else
      problems.push({
        field: OPERATION_COLUMN,
        message: `operation must be one of ${MODES.join(', ')}, got "${String(rowOperation)}"`,
        code: 'input.invalid',
      });
  }
  // An upsert may create a link: its ID is checked as a link's (a look-alike space refused);
  // update and unlink reach a beneficiary already linked, whatever its ID holds.
  const readAs = checkAs ?? mode;
  const parsed = parseRecordFor(readAs === 'upsert' ? 'link' : readAs, record, options.defaults, OPERATION_COLUMN);
  let faValue: string | undefined;
  // What a spreadsheet did to a number-like value is refused with its own code (a mapping
  // checks its columns itself: import-csv's records never carry such a value here). Only a row
  // that may make a link has its ID checked: update and unlink reach an ID already linked, even
  // one such damage made (an earlier sparctl linked `'00412`: it must stay removable).
  const damage = parsed.ok && options.mapped !== true ? recordDamage(parsed.value, readAs === 'link' || readAs === 'upsert') : undefined;
  if (!parsed.ok) for (const p of parsed.problems) problems.push({ ...p, code: p.code ?? 'input.invalid' });
  else if (damage !== undefined) problems.push(damage);
  else if ('fa' in parsed.value) {
    const checked = checkedFaOf(parsed.value, options.strategies);
    if (checked.ok) faValue = checked.value;
    else problems.push({ ...checked.problem, code: 'input.strategy' });
  }
  if (problems.length > 0 || !parsed.ok) return located(seq, line, raw, key, { ok: false, problems });
  return located(
    seq,
    line,
    raw,
    key,
    faValue === undefined ? { ok: true, value: parsed.value, mode } : { ok: true, value: parsed.value, mode, faValue },
  );
}

/** `{ seq, line?, raw?, key, parsed }`, keys in that order, built without intermediate objects. */
function located(
  seq: number,
  line: number | undefined,
  raw: Readonly<Record<string, unknown>> | undefined,
  key: string | undefined,
  parsed: BulkInputRecord['parsed'],
): BulkInputRecord {
  if (line === undefined) return raw === undefined ? { seq, key, parsed } : { seq, raw, key, parsed };
  return raw === undefined ? { seq, line, key, parsed } : { seq, line, raw, key, parsed };
}
