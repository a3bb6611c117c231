import { toBulkRecord } from '../core/bulk/input.js';
import type { RecordEvent } from '../core/bulk/events.js';
import { writeRecords } from '../core/bulk/write-records.js';
import { ExitCode, SparctlError, UsageError } from '../core/errors.js';
import type { Mapper } from '../core/mapper.js';
import type { DfspData } from '../core/mapping.js';
import {
  EMPTY_INPUT,
  resolveAsRead,
  summarize,
  type AppliedItem,
  type InputRecord,
  type RecordProblem,
  type RunSummary,
} from '../core/resolve.js';
import type { Operation } from '../core/results.js';
import { problemText } from '../core/request-items.js';
import type { ResolveScope } from '../core/vocabulary.js';

/**
 * The use cases of `link`, `update`, `resolve`, `unlink` given records by flags or IDs: which
 * records the flags make (and which flags do not go together), resolve's look-up, and a write of
 * those records through the write pipeline. (`--file` writes are a bulk job: app/bulk-job.ts.)
 */

/** The flags of one record as given, FA fields by their record field. */
export interface RecordFlags {
  readonly file?: string;
  readonly id?: string;
  /** resolve's IDs given as arguments. */
  readonly ids?: readonly string[];
  readonly strategy?: number;
  readonly faType?: string;
  /** --bank-name and the like, by the record field they fill, in the order of the flags. */
  readonly faFields?: Readonly<Record<string, unknown>>;
  /** --fa: the whole FA as JSON. */
  readonly fa?: string;
  readonly name?: string;
  readonly phone?: string;
  /** Flags of file runs only, by name (--journal …): refused with one record. */
  readonly journal?: unknown;
  readonly restart?: unknown;
  readonly rejects?: unknown;
  readonly concurrency?: unknown;
  readonly batchSize?: unknown;
  readonly earlyStop?: unknown;
}

/** What a command given records does: a bulk job over --file, resolve, or a write of the records from flags. */
export type RecordsPlan =
  | { readonly kind: 'file' }
  | { readonly kind: 'resolve'; readonly records: readonly InputRecord[] }
  | { readonly kind: 'write'; readonly records: readonly InputRecord[] };

/** Flags that only make sense for a file of records: refused with one record rather than ignored. */
const FILE_ONLY_FLAGS = [
  ['journal', '--journal'],
  ['restart', '--restart'],
  ['rejects', '--rejects'],
  ['concurrency', '--concurrency'],
  ['batchSize', '--batch-size'],
  ['earlyStop', '--early-stop'],
] as const;

/** Decides from the flags alone (before any setting is read) what the command does, or refuses them. */
export function planRecords(operation: Operation, flags: RecordFlags, stdinIsTTY: boolean): RecordsPlan {
  const singles = singleRecords(operation, flags);
  if (operation !== 'resolve' && flags.file !== undefined && singles.length === 0) return { kind: 'file' };
  if (flags.file !== undefined && singles.length > 0) {
    throw new UsageError(
      'usage.file_and_flags',
      `give records either with --file or with flags${operation === 'resolve' ? '/arguments' : ''}, not both`,
    );
  }
  if (flags.file === undefined && singles.length === 0) {
    throw new UsageError(
      'usage.no_records',
      `nothing to ${operation}: give --id${operation === 'resolve' ? ', IDs as arguments,' : ''} or --file`,
      {
        hint: `see "sparctl ${operation} --help"`,
      },
    );
  }
  if (operation !== 'resolve') {
    for (const [key, name] of FILE_ONLY_FLAGS) {
      const flag = key === 'earlyStop' && flags.earlyStop === false ? '--no-early-stop' : name;
      if (flags[key] !== undefined)
        throw new UsageError(
          'usage.file_only_flag',
          `${flag} applies to --file runs only; nothing was ${operation === 'link' ? 'linked' : operation === 'update' ? 'updated' : 'unlinked'}`,
          { hint: `drop ${flag}, or give the records with --file` },
        );
    }
    return { kind: 'write', records: singles };
  }
  if (flags.file === '-' && stdinIsTTY) {
    throw new UsageError('usage.stdin_is_tty', '--file - reads records from stdin, but stdin is a terminal', {
      hint: 'pipe a file in, or give its path',
    });
  }
  return { kind: 'resolve', records: singles };
}

/** The record(s) given by flags or arguments, in the same shape a file row has. */
function singleRecords(operation: Operation, flags: RecordFlags): InputRecord[] {
  const ids = [...(flags.id !== undefined ? [flags.id] : []), ...(flags.ids ?? [])];
  if (operation === 'resolve' || operation === 'unlink') return ids.map((id) => ({ record: { id } }));
  const record: Record<string, unknown> = {};
  if (flags.id !== undefined) record['id'] = flags.id;
  if (flags.strategy !== undefined) record['strategy_id'] = flags.strategy;
  if (flags.faType !== undefined) record['fa_type'] = flags.faType;
  for (const [field, value] of Object.entries(flags.faFields ?? {})) if (value !== undefined) record[field] = value;
  if (flags.fa !== undefined) {
    try {
      record['fa'] = JSON.parse(flags.fa);
    } catch (error) {
      throw new UsageError('usage.fa_json', `--fa is not valid JSON: ${(error as Error).message}`, {
        hint: `example: --fa '{"fa_type":"BANK","bank_name":"Example Bank","bank_code":"EXB","branch_name":"Main","branch_code":"0001","account_number":"0012345678"}'`,
      });
    }
    if (flags.strategy !== undefined && typeof record['fa'] === 'object' && record['fa'] !== null && !('strategy_id' in record['fa'])) {
      record['fa'] = { ...(record['fa'] as object), strategy_id: flags.strategy };
    }
    delete record['strategy_id'];
  }
  if (flags.name !== undefined) record['name'] = flags.name;
  if (flags.phone !== undefined) record['phone_number'] = flags.phone;
  return Object.keys(record).length === 0 ? [] : [{ record }];
}

/** What the results of records given by flags, IDs or (resolve) a file are shown from. */
export interface RecordsResult {
  readonly operation: Operation;
  readonly target: string;
  readonly applied: readonly AppliedItem[];
  readonly summary: RunSummary;
  readonly dryRun?: boolean;
  /** The write pipeline's events (writes only), for a --results file. */
  readonly events?: readonly RecordEvent[];
  readonly exitCode: number;
  /** Why the command fails although its results are shown (resolve: a found FA's strategy is not declared). */
  readonly failure?: SparctlError;
  /** The results were written as they came (ResolveDeps.streamResults): `applied` is empty. */
  readonly streamed?: true;
}

/** What every records use case is told from outside. */
interface CommonDeps {
  /** Which source named the mapper, for --verbose ("the default local mapper", "flag --db"). */
  readonly via: string;
  /** Who runs it, for the audit log. */
  readonly user: string;
  /** A "sparctl: …" line under --verbose; absent without it (or with -q). */
  readonly verbose?: (line: string) => void;
}

export interface ResolveDeps extends CommonDeps {
  /** Opens --file (CSV or JSONL, "-" stdin) as records. */
  readonly openInput: (file: string) => Promise<{ records: AsyncIterable<InputRecord>; label: string }>;
  readonly openMapper: () => Promise<Mapper>;
  /** The profile's batch size. */
  readonly batchSize: number;
  /** The profile's requests in flight (a number; `auto` counts as its starting level). */
  readonly concurrency: number;
  /** A line on stderr, always: a problem of the input. */
  readonly problem: (line: string) => void;
  /** Writes answers as they come, in input order (JSONL, CSV); the result then holds none of them. */
  readonly streamResults?: (answered: readonly AppliedItem[]) => void;
  /** A write to stdout that failed (a full disk): no more lookups are sent for answers that cannot be shown. */
  readonly stdoutFailure?: () => SparctlError | undefined;
}

export interface ResolveInput {
  readonly records: readonly InputRecord[];
  readonly file?: string;
  readonly format?: 'csv' | 'jsonl';
  readonly scope?: ResolveScope;
  readonly batchSize?: number;
  /** Batches in flight; `auto` (a bulk write's setting) takes the profile's. */
  readonly concurrency?: number | 'auto';
  /** Lookups of a batch again after a failure that may pass (default 5 with a file, 2 for IDs given as arguments). */
  readonly retries?: number;
}

/**
 * resolve: records looked up in batches as they are read and checked; one problem anywhere stops
 * it with nothing shown (core/resolve.ts resolveAsRead).
 */
export async function resolveRecords(deps: ResolveDeps, input: ResolveInput): Promise<RecordsResult> {
  let records: AsyncIterable<InputRecord> | Iterable<InputRecord> = input.records;
  let inputLabel: string | undefined;
  if (input.file !== undefined) ({ records, label: inputLabel } = await deps.openInput(input.file));
  const mapper = await deps.openMapper();
  try {
    const batchSize = input.batchSize ?? deps.batchSize;
    const verbose = deps.verbose;
    const { undeclaredStored, storedStrategyId } = await import('../core/strategy/declared.js');
    const strategies = await mapper.strategies();
    const known = new Set(strategies.map((strategy) => strategy.id));
    // Answers are counted, and the found FAs stored with a strategy the profile does not declare
    // noted, as they come; streamed answers go out at once and are not kept.
    const stream = deps.streamResults;
    const kept: AppliedItem[] = [];
    let summary = summarize('resolve', []);
    const undeclaredFound: { id: string; result: AppliedItem['result'] }[] = [];
    let announced = false;
    const { problems, total } = await resolveAsRead(mapper, records, {
      ...(input.scope ? { scope: input.scope } : {}),
      ...(inputLabel ? { inputLabel } : {}),
      batchSize,
      concurrency: typeof input.concurrency === 'number' ? input.concurrency : deps.concurrency,
      context: { source: auditSource('resolve', input.file, deps.user) },
      retries: input.retries ?? (input.file === undefined ? 2 : 5),
      ...(verbose
        ? {
            onRetry: (reason: string, attempt: number, ms: number) =>
              verbose(`retry ${attempt} of a lookup in ${(ms / 1000).toFixed(1)} s: ${reason}`),
          }
        : {}),
      // Answers and progress come once every record is read, so the count is known by then.
      ...(verbose
        ? {
            onProgress: (done: number, all: number) => {
              if (!announced) verbose(`resolve ${all} record(s) via ${deps.via} (${mapper.target}), ${batchSize} per batch`);
              announced = true;
              verbose(`${done}/${all} done`);
            },
          }
        : {}),
      onAnswers: (answered) => {
        if (stream === undefined) kept.push(...answered);
        else {
          // Told of by an event after the write that met it: a later batch stops the lookups.
          const failed = deps.stdoutFailure?.();
          if (failed !== undefined) throw failed;
          stream(answered);
        }
        summary = summarize('resolve', answered, summary);
        for (const item of answered) {
          const strategyId = item.outcome === 'found' ? storedStrategyId(item.result) : undefined;
          if (strategyId !== undefined && !known.has(strategyId)) undeclaredFound.push({ id: item.id, result: item.result });
        }
      },
    });
    if (input.file !== undefined && problems.length === 1 && problems[0] === EMPTY_INPUT) throw emptyFile(input.file);
    if (problems.length > 0) throw invalidInput(deps.problem, input.file, problems, total + problems.length, false);
    const undeclared = undeclaredStored(strategies, undeclaredFound);
    return {
      operation: 'resolve',
      target: mapper.target,
      applied: kept,
      ...(stream === undefined ? {} : { streamed: true }),
      summary,
      exitCode: undeclared?.exitCode ?? (summary.failed > 0 ? ExitCode.rejected : ExitCode.ok),
      ...(undeclared ? { failure: undeclared } : {}),
    };
  } finally {
    await mapper.close();
  }
}

export interface WriteRecordsDeps extends CommonDeps {
  readonly openMapper: (access: 'write' | 'dry-run') => Promise<Mapper>;
  /** Unlinking needs --yes or a yes at the terminal; throws when not given. */
  readonly confirmUnlink: (what: string, target: string) => Promise<void>;
  /** The target's DFSP data, when it has some: fills the bank, branch and provider names flags leave out. */
  readonly loadDfsp?: () => Promise<DfspData | undefined>;
}

export interface WriteRecordsInput {
  readonly operation: 'link' | 'update' | 'unlink';
  readonly records: readonly InputRecord[];
  readonly strategy?: number;
  /** ISO country whose calling code completes phone numbers written in national form. */
  readonly country?: string;
  readonly dryRun?: boolean;
  readonly retries?: number;
}

/**
 * link / update / unlink of the records given by flags: checked, then through the write
 * pipeline (so --dry-run, retries and the read-back after a lost answer work as for a file).
 * Stopped by a signal, it returns only the exit code.
 */
export async function writeFlagRecords(
  deps: WriteRecordsDeps,
  input: WriteRecordsInput,
): Promise<RecordsResult | { readonly interrupted: number }> {
  const { operation } = input;
  const dryRun = input.dryRun === true;
  const mapper = await deps.openMapper(dryRun ? 'dry-run' : 'write');
  try {
    const strategies = new Map((await mapper.strategies()).map((s) => [s.id, s]));
    const namesLeftOut = input.records.some(
      ({ record }) =>
        (record['bank_code'] !== undefined && (record['bank_name'] === undefined || record['branch_name'] === undefined)) ||
        (record['wallet_provider_code'] !== undefined && record['wallet_provider_name'] === undefined),
    );
    const dfsp = operation !== 'unlink' && namesLeftOut ? await deps.loadDfsp?.() : undefined;
    // The mapping module (a tenth of a command's start-up) only when DFSP names are filled in.
    const dfspNames = dfsp ? await import('../core/mapping.js') : undefined;
    const withDfspNames = dfspNames?.withDfspNames;
    const defaults = {
      ...(input.strategy !== undefined ? { strategyId: input.strategy } : {}),
      ...(input.country !== undefined ? { country: input.country } : {}),
    };
    const records = input.records.map((single, seq) =>
      toBulkRecord(seq, undefined, dfsp && withDfspNames ? withDfspNames(single.record, dfsp) : single.record, undefined, {
        mode: operation,
        defaults,
        strategies,
      }),
    );
    const problems = records.flatMap((record, at) => {
      if (record.parsed.ok) return [];
      const given = record.parsed.problems.map((p) => ({ field: p.field, message: p.message, ...(p.code ? { code: p.code } : {}) }));
      // A name left out because its code is not in the DFSP data: said as such, first.
      const misses = dfsp && dfspNames ? dfspNameMisses(dfspNames, input.records[at]!.record, dfsp) : [];
      // (An unknown bank leaves its branch's name out too: the branch is looked up under the bank.)
      const named = new Set(
        misses.flatMap((miss) => (miss.field === 'bank_code' ? ['bank_name', 'branch_name'] : [miss.field.replace(/_code$/, '_name')])),
      );
      // Codes without names where there is no DFSP list to fill the names from: said once, with the way out.
      let unfilled = namesLeftOut && dfsp === undefined && operation !== 'unlink';
      const explained = (p: (typeof given)[number]) => {
        if (!unfilled || !DFSP_NAMES.has(p.field)) return p;
        unfilled = false;
        return {
          ...p,
          message: `${p.message} (this mapper holds no DFSP list to fill names from codes: give them, or load it with "sparctl dfsp import")`,
        };
      };
      return [...misses, ...given.filter((p) => !named.has(p.field)).map(explained)];
    });
    if (problems.length > 0) throw invalidInput(() => undefined, undefined, problems, records.length, true);
    if (operation === 'unlink' && !dryRun)
      await deps.confirmUnlink(`${records.length} beneficiar${records.length === 1 ? 'y' : 'ies'}`, mapper.target);
    deps.verbose?.(`${operation} ${records.length} record(s) via ${deps.via} (${mapper.target})${dryRun ? ', dry run' : ''}`);
    const { events, summary, inFlight } = await writeRecords(mapper, records, {
      mode: operation,
      context: { source: auditSource(operation, undefined, deps.user) },
      dryRun,
      retries: input.retries ?? 2,
      backoffMs: { base: 250, max: 2_000 },
      strategies,
    });
    if (summary.stopped) {
      if (summary.stopped.code === 'interrupted') return { interrupted: summary.stopped.exitCode };
      // A record sent whose answer never came, nor a read of it (a request refused as a whole, a
      // bad signature, was not applied): nothing resumes a single record, so the message says
      // what is unknown, and how to look, instead of a --file run's resume.
      const unknown = summary.stopped.outcomeUnknown === true ? inFlight.map((record) => record.key ?? `line ${record.line}`) : [];
      throw new SparctlError(
        summary.stopped.code,
        unknown.length === 0
          ? summary.stopped.message
          : `${summary.stopped.message}; whether the ${operation} of ${unknown.join(', ')} was applied is unknown`,
        summary.stopped.exitCode as ExitCode,
        unknown.length > 0
          ? { hint: `resolve ${unknown.length === 1 ? 'the ID' : 'the IDs'} to see what the mapper holds before sending again` }
          : summary.stopped.hint === undefined
            ? {}
            : { hint: summary.stopped.hint },
      );
    }
    const applied = events.map(appliedOf);
    return {
      operation,
      target: mapper.target,
      applied,
      summary: summarize(operation, applied),
      dryRun,
      events,
      exitCode: summary.rejected > 0 ? ExitCode.rejected : ExitCode.ok,
    };
  } finally {
    await mapper.close();
  }
}

/** A write pipeline's record event as a single-record command shows it. */
function appliedOf(event: RecordEvent): AppliedItem {
  const status = event.fate === 'rejected' ? 'rjct' : 'succ';
  const outcome = event.outcome ?? (event.fate === 'rejected' ? 'rejected' : 'found');
  return {
    ...(event.line === undefined ? {} : { line: event.line }),
    id: event.id ?? '',
    outcome,
    ...(event.fate === 'confirmed' ? { confirmed: true } : {}),
    result: {
      reference_id: String(event.seq),
      id: event.id ?? '',
      status,
      status_reason_code: event.code,
      status_reason_message: event.message,
      ...(event.fa === undefined ? {} : { fa: event.fa }),
    },
  };
}

/** What the audit log names as the writer. */
export function auditSource(operation: Operation, file: string | undefined, user: string): string {
  return `sparctl ${operation}${file !== undefined ? ' --file' : ''} (user ${user})`;
}

const MAX_PROBLEMS_SHOWN = 20;

/** Codes every invalid record gets: the message says more than they do. */
const GENERIC_CODES: ReadonlySet<string> = new Set(['input.invalid', 'input.strategy']);

/** A file with no record to look up: one line, as a bulk command refuses an empty input (input.empty). */
function emptyFile(file: string): UsageError {
  return new UsageError('input.empty', `${file === '-' ? 'stdin' : file}: no records to look up; no answer was shown`, {
    hint: 'a CSV file names its columns in its first line (id), then one ID per line; a JSONL file holds one {"id": …} per line',
  });
}

/** Says each problem as "file:line: field: message" and returns the error that ends the run. */
function invalidInput(
  say: (line: string) => void,
  file: string | undefined,
  problems: RecordProblem[],
  total: number,
  writes: boolean,
): UsageError {
  const nothing = writes ? 'nothing was written' : 'no answer was shown';
  if (file === undefined) {
    // A reason more precise than "invalid" (input.not_mobile) is named, as a file's reject names it.
    const detail = problems
      .map((p) => (p.code === undefined || GENERIC_CODES.has(p.code) ? problemText(p) : `${problemText(p)} (${p.code})`))
      .join('; ');
    return new UsageError('input.invalid_record', `invalid record: ${detail}; ${nothing}`);
  }
  const where = file === '-' ? 'stdin' : file;
  for (const problem of problems.slice(0, MAX_PROBLEMS_SHOWN)) {
    const at = problem.line === undefined ? where : `${where}:${problem.line}`;
    say(`${at}: ${problemText(problem)}`);
  }
  if (problems.length > MAX_PROBLEMS_SHOWN) say(`… and ${problems.length - MAX_PROBLEMS_SHOWN} more problems`);
  const rows = new Set(problems.map((p) => p.line)).size;
  return new UsageError('input.invalid_records', `${where}: ${rows} of ${total} records are invalid; ${nothing}`, {
    hint: 'fix the rows listed above and run the same command again',
  });
}

/** The names a DFSP list fills from their codes. */
const DFSP_NAMES = new Set(['bank_name', 'branch_name', 'wallet_provider_name']);

/** dfspNameMisses of the mapping module, loaded only when DFSP names were filled in. */
function dfspNameMisses(
  mapping: typeof import('../core/mapping.js'),
  record: Readonly<Record<string, unknown>>,
  data: DfspData,
): { field: string; message: string }[] {
  return mapping.dfspNameMisses(record, data);
}
