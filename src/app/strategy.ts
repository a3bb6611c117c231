import { UsageError } from '../core/errors.js';
import type { Mapper } from '../core/mapper.js';

/** What the strategy use cases read of a target: its name and its strategies (every stored row, where it keeps them). */
export type StrategySource = Pick<Mapper, 'target' | 'strategies' | 'close' | 'strategyRows'>;
import { exportStrategies, type ExportFormat } from '../core/strategy/export.js';
import { parseStrategyText } from '../core/strategy/declared-text.js';
import type { StrategyRow } from '../core/strategy/strategy.js';
import { strategyRowFromFlags, strategyRowsFrom, validateStrategy, type StrategyReport } from '../core/strategy/validate.js';
import { counted } from '../core/plural.js';

/**
 * `strategy`'s use cases: list, validate, add, export. A definition comes from --file (JSON or
 * simple YAML) or from flags, never both; without one, validate and export take the target's
 * strategies (by id when given). Invariants: a strategy with errors is never added or exported;
 * add writes all of a definition or nothing — to a local mapper, or for a remote profile to its
 * strategiesFile, with the SQL and Helm to apply to the deployment (SPAR has no API for them).
 */

export interface StrategyDeps {
  /** The text of --file ("-" is stdin); rejects with the file system's error. */
  readonly readFile: (file: string) => Promise<string>;
  /** Whether the target is a remote mapper (reads the settings, once). */
  readonly isRemote: () => Promise<boolean>;
  /** Opens the target to read its strategies (saying which it is first): a remote one sends nothing and needs no credentials. */
  readonly openMapper: () => Promise<StrategySource>;
  /** Says which mapper the command acts on, once, before anything else it says. */
  readonly announceTarget: () => Promise<void>;
  /** Appends rows to the local mapper, all or none (a dry run writes nothing); opened and closed for it. */
  readonly addToMapper: (rows: readonly StrategyRow[], dryRun: boolean) => Promise<{ target: string; results: readonly StrategyAdded[] }>;
  /**
   * A remote profile's: appends the rows it does not declare yet to its strategiesFile (a dry run
   * writes nothing); `known` is every strategy it declares afterwards.
   */
  readonly addToProfile: (rows: readonly StrategyRow[], dryRun: boolean) => Promise<ProfileAdded>;
  /** A line for the person (stderr), always shown. */
  readonly say: (line: string) => void;
  /** A line for the person (stderr), left out with -q. */
  readonly note: (line: string) => void;
}

export interface StrategyAdded {
  readonly id: number;
  readonly outcome: 'added' | 'unchanged';
}

export interface ProfileAdded {
  readonly target: string;
  readonly results: readonly StrategyAdded[];
  /** The profile's strategiesFile, and whether the add made it. */
  readonly file: string;
  readonly created: boolean;
  readonly known: readonly StrategyRow[];
}

/** A strategy row as a target lists it: a remote profile's say where their definition came from. */
export type ListedRow = StrategyRow & { readonly source?: string };

/** A strategy given by flags or --file; all absent means none was given. */
export interface Definition {
  readonly file?: string;
  readonly id?: string;
  readonly type?: string;
  readonly construct?: string;
  readonly deconstruct?: string;
  readonly description?: string;
}

/** `strategy list`: the target's strategies by id (for a remote one, what sparctl knows: SPAR has no API). */
export async function listStrategies(deps: StrategyDeps): Promise<{ target: string; rows: ListedRow[] }> {
  const { rows, target } = await targetRows(deps);
  if (await deps.isRemote())
    deps.note(
      `SPAR has no API to list strategies: these are SPAR's built-in ones and the ones the profile declares (strategiesFile, strategies) for ${target}`,
    );
  return { rows, target };
}

export interface ValidateResult {
  readonly reports: readonly StrategyReport[];
  /** Why it failed, when a strategy is not safe: "strategy 7 is not safe: 1 error". */
  readonly unsafe?: string;
}

/** `strategy validate`: the definition's strategies, or the target's (these ids, or all), checked. */
export async function validateStrategies(
  deps: StrategyDeps,
  input: { readonly ids: readonly string[]; readonly definition: Definition; readonly strict: boolean },
): Promise<ValidateResult> {
  const rows = await chosenRows(deps, input.ids, input.definition);
  const reports = rows.map((row) => validateStrategy(row, { strict: input.strict }));
  const failed = reports.filter((report) => !report.ok);
  if (failed.length === 0) return { reports };
  return { reports, unsafe: `${notSafe(failed)}: ${verdictCounts(failed)}` };
}

export interface AddResult {
  readonly target: string;
  readonly dryRun: boolean;
  readonly rows: readonly StrategyRow[];
  /** One per row, in order. */
  readonly results: readonly StrategyAdded[];
  /** A remote profile's add: the file written, and what to apply to the deployment. */
  readonly profile?: { readonly file: string; readonly created: boolean; readonly sql: string; readonly helm: string };
}

/**
 * `strategy add`: validated first, the findings said after the target line (a safe strategy's
 * warnings left out with -q); one unsafe strategy refuses them all; then appended.
 */
export async function addStrategies(
  deps: StrategyDeps,
  input: { readonly definition: Definition; readonly strict: boolean; readonly dryRun: boolean },
): Promise<AddResult> {
  const remote = await deps.isRemote();
  const rows = await definitionRows(deps, input.definition);
  if (rows === null) {
    throw new UsageError(
      'usage.strategy_missing',
      'give the strategy with --file, or with --id, --construct and --deconstruct (and --type, --description)',
    );
  }
  const reports = rows.map((row) => validateStrategy(row, { strict: input.strict }));
  await deps.announceTarget();
  for (const report of reports) {
    for (const finding of report.findings) {
      const line = `${finding.status}: strategy ${report.strategy.id}: ${finding.message}`;
      if (finding.status === 'error' || (finding.status === 'warning' && !report.ok)) deps.say(line);
      else if (finding.status === 'warning') deps.note(line);
    }
  }
  const failed = reports.filter((report) => !report.ok);
  if (failed.length > 0) {
    throw new UsageError('strategy.unsafe', `${notSafe(failed)} (${verdictCounts(failed)}); nothing was added`, {
      hint: 'fix the errors above; "sparctl strategy validate" shows the full report',
    });
  }
  if (remote) {
    const added = await deps.addToProfile(rows, input.dryRun);
    // SQL inserts only what is missing, so all the given rows; Helm replaces the list whole, so every one the profile knows.
    const profile = {
      file: added.file,
      created: added.created,
      sql: exportStrategies(rows, 'sql'),
      helm: exportStrategies(added.known, 'helm'),
    };
    return { target: added.target, dryRun: input.dryRun, rows, results: added.results, profile };
  }
  const { target, results } = await deps.addToMapper(rows, input.dryRun);
  return { target, dryRun: input.dryRun, rows, results };
}

/** `strategy export`: the target's strategies (these ids, or all), or a definition's once it is safe, as text. */
export async function exportStrategyText(
  deps: StrategyDeps,
  input: { readonly ids: readonly string[]; readonly definition: Definition; readonly format: ExportFormat },
): Promise<string> {
  const given = await definitionRows(deps, input.definition);
  const rows = given ?? selectIds((await targetRows(deps)).rows, input.ids);
  if (given !== null) {
    if (input.ids.length > 0) throw bothIdsAndDefinition();
    const failed = rows.map((row) => validateStrategy(row)).filter((report) => !report.ok);
    if (failed.length > 0) {
      throw new UsageError('strategy.unsafe', `${notSafe(failed)} (${verdictCounts(failed)}); nothing was exported`, {
        hint: '"sparctl strategy validate" with the same definition shows why',
      });
    }
  }
  return exportStrategies(rows, input.format);
}

/** The definition's rows, or else the target's (these ids, or all). */
async function chosenRows(deps: StrategyDeps, ids: readonly string[], definition: Definition): Promise<StrategyRow[]> {
  const rows = await definitionRows(deps, definition);
  if (rows === null) return selectIds((await targetRows(deps)).rows, ids);
  if (ids.length > 0) throw bothIdsAndDefinition();
  return rows;
}

const bothIdsAndDefinition = () =>
  new UsageError('usage.strategy_ids', 'give strategy ids or a strategy definition (--file or flags), not both');

/** The strategies the definition gives, or null when it gives none. */
async function definitionRows(deps: StrategyDeps, definition: Definition): Promise<StrategyRow[] | null> {
  const flagged =
    definition.id !== undefined ||
    definition.type !== undefined ||
    definition.construct !== undefined ||
    definition.deconstruct !== undefined ||
    definition.description !== undefined;
  if (definition.file !== undefined) {
    const file = definition.file;
    if (flagged)
      throw new UsageError(
        'usage.strategy_both',
        'give the strategy with --file or with flags (--id, --type, --construct, --deconstruct, --description), not both',
      );
    let text: string;
    try {
      text = await deps.readFile(file);
    } catch (error) {
      // Read, but not text sparctl may store (input.not_utf8): said as it is.
      if (error instanceof UsageError) throw error;
      const code = (error as { code?: string }).code;
      throw new UsageError('usage.unreadable', `--file ${file}: ${code === 'ENOENT' ? 'no such file' : (error as Error).message}`);
    }
    return strategyRowsFrom(parseStrategyText(text, file), file);
  }
  if (!flagged) return null;
  return [strategyRowFromFlags({ ...definition, type: definition.type ?? 'FA' })];
}

/** The target's strategies as plain rows, by id. */
async function targetRows(deps: StrategyDeps): Promise<{ rows: ListedRow[]; target: string }> {
  const mapper = await deps.openMapper();
  try {
    // Every stored row where the mapper keeps them, a broken one too (local); else what it can use.
    const stored = 'strategyRows' in mapper && mapper.strategyRows !== undefined ? await mapper.strategyRows() : await mapper.strategies();
    const rows = stored.map(
      (s): ListedRow => ({
        id: s.id,
        strategy_type: s.strategy_type,
        construct_strategy: s.construct_strategy,
        deconstruct_strategy: s.deconstruct_strategy,
        description: s.description,
        active: s.active,
        ...('source' in s && typeof s.source === 'string' ? { source: s.source } : {}),
      }),
    );
    return { rows: rows.sort((a, b) => a.id - b.id), target: mapper.target };
  } finally {
    await mapper.close();
  }
}

/** The rows of these ids, in the order given, each once; an id the target does not know is refused. */
function selectIds(rows: ListedRow[], ids: readonly string[]): ListedRow[] {
  if (ids.length === 0) return rows;
  const byId = new Map(rows.map((row) => [row.id, row]));
  const picked: ListedRow[] = [];
  for (const id of ids) {
    const row = /^[0-9]+$/.test(id) ? byId.get(Number(id)) : undefined;
    if (row === undefined) {
      throw new UsageError('strategy.unknown', `strategy ${id} is not known to this profile (known: ${[...byId.keys()].join(', ')})`, {
        hint: 'see "sparctl strategy list", or give the definition with --file or flags',
      });
    }
    if (!picked.includes(row)) picked.push(row);
  }
  return picked;
}

/** "strategy 7 is not safe", "strategy 7, strategy 8 are not safe". */
function notSafe(failed: readonly StrategyReport[]): string {
  return `${failed.map((r) => `strategy ${r.strategy.id}`).join(', ')} ${failed.length > 1 ? 'are' : 'is'} not safe`;
}

function verdictCounts(reports: readonly StrategyReport[]): string {
  const errors = reports.reduce((n, r) => n + r.errors, 0);
  const warnings = reports.reduce((n, r) => n + r.warnings, 0);
  if (errors === 0) return `${counted(warnings, 'warning')}, with --strict`;
  return warnings > 0 ? `${counted(errors, 'error')}, ${counted(warnings, 'warning')}` : counted(errors, 'error');
}
