import type { BulkSummary, RecordEvent } from '../core/bulk/events.js';
import { loadMappingFiles } from './mapping-files.js';
import { toBulkRecord } from '../core/bulk/input.js';
import type { BulkInputRecord } from '../core/bulk/types.js';
import { ConfigError, ExitCode, UnavailableError, UsageError, type SparctlError } from '../core/errors.js';
import {
  applyMapping,
  checkMappingStrategies,
  mappingColumns,
  mappingSources,
  filterRow,
  objectRow,
  rowKey,
  compileMapping,
  dfspLookupFrom,
  type CompiledMapping,
  type DfspData,
  type DfspLookup,
} from '../core/mapping.js';
import {
  changeFilter,
  deletionFilter,
  latestStates,
  mappingFieldProblems,
  provenanceOf,
  reviewStatesOf,
  windowStart,
  type FormField,
  type OdkSubmission,
} from '../core/odk.js';
import {
  planClaims,
  settleClaims,
  withoutWriteOn,
  writesOf,
  type Claim,
  type ClaimAction,
  type ClaimPlan,
  type ClaimPolicies,
  type Replaced,
  type Submission,
  type Wrote,
} from '../core/odk-claims.js';
import type { Sending } from '../core/bulk/engine.js';
import { isStored, storedString, type Current } from '../core/bulk/plan.js';
import { deconstructFa, type Strategy } from '../core/strategy/strategy.js';
import type { Settings } from '../config/settings.js';
import { counted } from '../core/plural.js';
import { STOP_SIGNALS, type StopSignal } from '../core/stop-signals.js';

/**
 * `import-odk`'s use case: submissions of one ODK Central form into the mapper, a window at a
 * time. Checks the configuration and policies before anything is read; keys the state to the
 * server, project, form and mapper; finishes a window an earlier run left before reading a new
 * one; plans by ownership (core/odk-claims.ts), spools the window whole, applies it through the
 * bulk job, and only once it is done settles the claims (with what each confirmed write
 * replaced) and moves the watermark. With --watch, polls until interrupted; an outage ends one
 * poll, not the watch.
 *
 * Invariant: what a write replaced (put back by an undo) is what the write pipeline read right
 * before sending that write — kept in the window's `.replaced` file before the write is sent, so
 * that a run killed after it still knows — never a read made earlier (an ID may be changed by
 * hand while a window waits for a killed run or a mapper outage), and not known, so never
 * undone, where nothing was kept (a window an earlier sparctl spooled). One form imported into
 * one mapper has one state: a server URL spelled another way never starts a second one silently.
 *
 * Order: a window done is settled into the state first, then its spool and `.replaced` file are
 * removed, and only then the bulk job's journal (finish, called before the journal goes) — so
 * that a window whose writes the state does not yet record always keeps the journal that says
 * which writes were made (the next run resumes it: "settled by an earlier run", settled again
 * from the spool's own claims, never found "unchanged" with its writes forgotten). A kill after
 * the state write re-settles the same spool from the same journal into the same claims; one
 * after the spool's removal leaves a journal of a finished window that no later window resumes:
 * the state records which window it settled last (settledJournal), and only that window's
 * journal is ever taken over by another window's run (with --journal FILE) — any other may be
 * the only record of writes the state does not hold.
 *
 * A window is finished under the definition (mapping, DFSP data) it was started with, kept in
 * its spool's head: its plan was made with that mapping, and its journal's fingerprint covers it
 * (startedWith). A window an earlier sparctl spooled keeps none, and is finished under the run's.
 */

/**
 * What the mapper holds for a beneficiary: its FA as resolve tells it (undefined: linked, its
 * fields not told — an FA string, or null), and as stored (when it can be built). Read before a
 * window is spooled, only to tell whether an ID is linked.
 */
export interface MapperHeld {
  readonly fa: Readonly<Record<string, unknown>> | undefined;
  readonly stored: string | undefined;
}

/** What the use case needs of ODK Central (adapters/odk/central-client.ts). */
export interface OdkCentral {
  /** The server as shown in messages. */
  readonly server: string;
  form(project: number, form: string): Promise<{ readonly publishedAt: string | null; readonly keyId: number | null }>;
  fields(project: number, form: string): Promise<readonly FormField[]>;
  submission(project: number, form: string, instanceId: string): Promise<OdkSubmission | undefined>;
  submissions(project: number, form: string, query: { filter?: string; pageSize: number }): AsyncIterable<OdkSubmission[]>;
  close(): Promise<void>;
}

/** The watermark (the newest Central stamp of a finished window) and each submission's claim. */
export interface OdkImportState {
  readonly watermark?: string;
  readonly claims: Readonly<Record<string, Claim>>;
  /** The fingerprint of the window settled last, as its journal holds it (OdkWindowJob.finish). */
  readonly settledJournal?: string;
}

/** A file of the store holding one window: written whole or not at all, private (0600). */
export interface OdkSpoolFile {
  readonly path: string;
  exists(): boolean;
  write(text: string): void;
  /** Adds `text` at the end (the file made, 0600, when missing); done when it returns. */
  append(text: string): void;
  read(): string;
  remove(): void;
}

/**
 * Which form and mapper a state is of, whatever the server's URL: the server as the URL names it
 * (shown, never keyed on alone), and a key of project, form and mapper. Another URL for the same
 * form and mapper may be the same Central (another host name, port, scheme, a proxy) or another
 * one (staging and production): only the person running it can say (--odk-state).
 */
export interface StateOrigin {
  readonly server: string;
  readonly formKey: string;
}

/** A state kept for the same form and mapper under another server URL. */
export interface StateElsewhere {
  readonly key: string;
  readonly server: string;
  /** Where it is (its directory), for the message. */
  readonly path: string;
}

/** Where the import of one form into one mapper keeps what it remembers (adapters/odk/odk-state.ts). */
export interface OdkStore {
  readState(): OdkImportState;
  writeState(state: OdkImportState): void;
  spool(name: string): OdkSpoolFile;
  /** Refuses at once when another run holds it (adapters/journal/job-lock.ts). */
  lock(what: string): { release(): void };
}

/** One window handed to the bulk job (cli/bulk-job.ts): the spool file, and how its lines become records. */
export interface OdkWindowJob {
  readonly path: string;
  /** The bulk run's own output off (with --watch a line per poll says it instead). */
  readonly quiet: boolean;
  readonly definition: string;
  /** What the audit log names as the writer. */
  readonly source: string;
  readonly faDigest: (fa: string) => string;
  readonly columns: readonly string[];
  readonly collect: (event: RecordEvent) => void;
  /** Told the records about to be sent and what the run read for each, before any is (BulkOptions.beforeSending). */
  readonly beforeSending: (records: readonly Sending[]) => void;
  readonly onSummary?: (summary: BulkSummary) => void;
  /**
   * Called by the bulk job once a real run of the window is done (every record settled), before
   * it removes its journal (BulkJobDeps.beforeForgetting): the window is settled into the state
   * here. A SparctlError thrown (the state cannot be written) stops the run with its journal
   * kept, for the next run to resume the window and settle it from that journal. `fingerprint`:
   * the window's job as its journal holds it, recorded as the window settled last.
   */
  readonly finish: (fingerprint?: string) => void;
  /**
   * Whether a journal of another job found where this window's goes (--journal FILE), by its
   * fingerprint, is of the window this state settled last: a kill left it behind, and it is
   * taken over. Any other is refused: it may hold writes the state does not record.
   */
  readonly settledJournal: (fingerprint: string) => boolean;
  /** What removing this window's journal by hand costs (import-odk has no --restart), for the hint of one refused as damaged. */
  readonly journalLost: string;
  /** The spool's lines (read as JSONL) as engine records, given the target's strategies. */
  readonly records: (
    lines: AsyncIterable<readonly SpoolLine[]>,
    strategies: ReadonlyMap<number, Strategy>,
  ) => AsyncIterable<BulkInputRecord[]>;
}

export interface SpoolLine {
  readonly line: number;
  readonly record: Record<string, unknown>;
}

export interface ImportOdkDeps {
  /** The ODK settings of the profile and environment (flags win over them). */
  readonly settings: Pick<Settings, 'odkUrl' | 'odkProject' | 'odkForm'>;
  /** --yes was given. */
  readonly yes: boolean;
  /** -q was given. */
  readonly quiet: boolean;
  readonly readText: (file: string, flag: string) => Promise<string>;
  readonly parseJson: (text: string, file: string, kind?: 'mapping' | 'dfsp') => unknown;
  /** The target's own DFSP data (sparctl dfsp import, or dfspUrl), when it has any. */
  readonly targetDfsp: () => Promise<DfspData | undefined>;
  /** Says which mapper this acts on (once). */
  readonly announceTarget: () => void;
  /** Which mapper this is: a local one by its instance id (made now by a real run), a remote one by its URL. */
  readonly mapperIdentity: (dryRun: boolean) => Promise<string>;
  /**
   * The identity an earlier sparctl keyed this mapper's state with, when it differs (a local
   * mapper named by a path through a symbolic link): its state is taken over, never lost.
   */
  readonly earlierMapperIdentity?: (dryRun: boolean) => Promise<string | undefined>;
  readonly sha256: (text: string, encoding: 'hex' | 'base64url') => string;
  /** What the mapper holds for these beneficiaries now (absent: not linked), read before the window is spooled: an undo's beneficiary not linked is not undone. */
  readonly readMapper: (ids: readonly string[], dryRun: boolean) => Promise<ReadonlyMap<string, MapperHeld>>;
  /**
   * `earlierKey`: where an earlier sparctl kept this state, or the state adopted from another
   * server URL (--odk-state adopt); used (moved to `key`) when `key` has none. A real run records
   * `origin` with the state, so that another URL's run finds it (statesElsewhere).
   */
  readonly openStore: (key: string, earlierKey: string | undefined, dryRun: boolean, origin?: StateOrigin) => Promise<OdkStore>;
  /** States of the same form and mapper kept under other server URLs, when `key` has none of its own (and made no choice). */
  readonly statesElsewhere?: (key: string, origin: StateOrigin) => Promise<readonly StateElsewhere[]>;
  /** A dry run's client keeps no session (it reads a cached one, and writes none). */
  readonly openCentral: (url: string, dryRun: boolean) => Promise<OdkCentral>;
  /** Runs one window through the bulk job; its exit code. */
  readonly runWindow: (job: OdkWindowJob) => Promise<number>;
  /** Who last changed a beneficiary in the mapper, and when (the local audit log), if known. */
  readonly lastChange: (id: string) => Promise<string | undefined>;
  /** Calls `handler` on Ctrl-C until the returned function is called. */
  readonly onInterrupt: (handler: () => void) => () => void;
  /**
   * Calls `handler` on a stop signal (Ctrl-C, SIGTERM, SIGHUP, SIGQUIT) until the returned
   * function is called: what a run that reads, outside the bulk job, says and exits with.
   */
  readonly onStopSignal?: (handler: (signal: StopSignal) => void) => () => void;
  /** Ends the process now with `code` (a stop signal while submissions are read). */
  readonly exitNow?: (code: number) => void;
  readonly clock: () => number;
  readonly sleep: (ms: number) => Promise<void>;
  /** A line for the person running it (stderr). */
  readonly note: (line: string) => void;
  /** A write to stdout that failed (`-o jsonl > file` on a full disk): --watch ends with it. */
  readonly stdoutFailure?: () => SparctlError | undefined;
}

export interface ImportOdkInput {
  readonly mapping: string;
  readonly dfsp?: string;
  readonly odkUrl?: string;
  readonly project?: number;
  readonly form?: string;
  readonly instanceId?: string;
  /** Comma-separated review states. */
  readonly skipReview: string;
  readonly onDelete: 'ignore' | 'unlink';
  readonly onReject: 'keep' | 'warn' | 'unlink';
  readonly overlap: number;
  readonly pageSize: number;
  readonly full?: boolean;
  readonly reapply?: boolean;
  readonly watch?: boolean;
  readonly interval: number;
  readonly dryRun?: boolean;
  /** A state of this form and mapper kept under another server URL: carry it over (the same Central), or start one of this URL's own. */
  readonly odkState?: 'adopt' | 'separate';
}

export interface ImportOdkResult {
  readonly exitCode: number;
}

interface OdkTarget {
  readonly url: string;
  readonly project: number;
  readonly form: string;
}

/**
 * One line of a window's spool: what to do, and the submission it is about, as Central gave it.
 * (An earlier sparctl also spooled `replaced` and `readNotLinked`, read before the window: they
 * are ignored, for the write's own read says what it replaced.)
 */
interface SpoolEntry {
  readonly action: ClaimAction | RejectAction;
  readonly submission: OdkSubmission;
}

/** New content whose beneficiary ID cannot be built (empty, or not what the strategy reads): a reject row, once per content. */
interface RejectAction {
  readonly kind: 'reject';
  readonly submission: string;
}

interface SpoolHead {
  readonly window: { readonly watermark?: string; readonly claims: Readonly<Record<string, Claim>> };
  /** The job definition the window was started with (Run.definition); absent in a window an earlier sparctl spooled. */
  readonly definition?: string;
}

/** A job definition's parts (Run.definition): the mapping file's text, the DFSP data's (null: none), the form. */
interface DefinitionParts {
  readonly mapping: string;
  readonly dfsp: string | null;
  readonly form: string;
}

/** What a window is applied under: the mapping and DFSP data it maps submissions with, and the definition they make. */
interface WindowDefinition {
  readonly mapping: CompiledMapping;
  readonly dfsp: DfspLookup | undefined;
  readonly definition: string;
}

/** Kept lines and notes shown at most, then "… and N more". */
const SHOWN = 20;

/** The checks made before anything is read: where, which review states are skipped, whether an unlink policy was confirmed. */
export function checkImportOdk(
  settings: ImportOdkDeps['settings'],
  yes: boolean,
  input: ImportOdkInput,
): { target: OdkTarget; skipReview: string[] } {
  const url = input.odkUrl ?? settings.odkUrl;
  const project = input.project ?? settings.odkProject;
  const form = input.form ?? settings.odkForm;
  const missing = [
    url === undefined ? 'the server (--odk-url, odkUrl, SPARCTL_ODK_URL)' : '',
    project === undefined ? 'the project (--project, odkProject)' : '',
    form === undefined ? 'the form (--form, odkForm)' : '',
  ].filter(Boolean);
  if (missing.length > 0) {
    throw new ConfigError('odk.not_configured', `import-odk needs ${missing.join(', ')}`, {
      hint: 'put odkUrl, odkProject and odkForm in a profile — README "import-odk: submissions from ODK Central"',
    });
  }
  // Central's API path given twice (…/v1/v1): every request missed the API (a 404), or the state
  // was looked for under another server (odk.state_elsewhere), and neither message said why.
  const server = doubledApiPath(url!);
  if (server !== undefined) {
    const from = input.odkUrl !== undefined ? '--odk-url' : 'odkUrl (SPARCTL_ODK_URL or the profile)';
    throw new ConfigError('odk.bad_url', `${from} names Central's API path /v1 twice (…/v1/v1); nothing was read or written`, {
      hint: `give the server's address: ${server} (with or without one /v1)`,
    });
  }
  const skipReview = reviewStatesOf(input.skipReview);
  for (const [flag, policy] of [
    ['--on-delete', input.onDelete],
    ['--on-reject', input.onReject],
  ] as const) {
    if (policy === 'unlink' && !yes) {
      throw new UsageError(
        'usage.confirmation_required',
        `${flag} unlink removes the financial address of beneficiaries this importer linked; nothing was imported`,
        { hint: 'pass --yes as well to allow it' },
      );
    }
  }
  return { target: { url: url!, project: project!, form: form! }, skipReview };
}

/** The state's key: the same server named with or without /v1 or a trailing slash is the same state; a new mapper starts from the beginning. */
export function stateKey(sha256: ImportOdkDeps['sha256'], target: OdkTarget, mapperIdentity: string): string {
  return sha256(JSON.stringify([plainServer(target.url), target.project, target.form, mapperIdentity]), 'hex').slice(0, 24);
}

/**
 * The server a URL names, as a state is keyed by and records it: no /v1 or trailing slash, and
 * no user, password, query or fragment. Keyed by the URL as given, a state's folder name was a
 * hash of the password (guessable offline), and a changed password made it another state.
 */
function plainServer(given: string): string {
  const bare = (server: string) => server.replace(/\/+$/, '').replace(/\/v1$/, '').replace(/\/+$/, '');
  try {
    const url = new URL(given);
    url.username = '';
    url.password = '';
    url.search = '';
    url.hash = '';
    return bare(url.toString());
  } catch {
    // Not a URL the client could use either: as given, less what would follow a query or fragment.
    return bare(given.replace(/[?#].*$/, ''));
  }
}

/**
 * The server's address when a URL's path ends in Central's API path more than once (…/v1/v1,
 * a trailing slash or not), without user, password, query or fragment; undefined otherwise.
 * One /v1 is taken off (CentralClient, plainServer): the rest was asked for as the server.
 */
export function doubledApiPath(given: string): string | undefined {
  let url: URL;
  try {
    url = new URL(given);
  } catch {
    return undefined;
  }
  const path = url.pathname.replace(/\/+$/, '');
  if (!/\/v1\/+v1$/.test(path)) return undefined;
  url.username = '';
  url.password = '';
  url.search = '';
  url.hash = '';
  url.pathname = path.replace(/(\/+v1)+$/, '') || '/';
  return url.toString().replace(/\/+$/, '');
}

/** What the state records of its form and mapper (StateOrigin): the server as plainServer gives it. */
export function stateOrigin(sha256: ImportOdkDeps['sha256'], target: OdkTarget, mapperIdentity: string): StateOrigin {
  return {
    server: plainServer(target.url),
    formKey: sha256(JSON.stringify([target.project, target.form, mapperIdentity]), 'hex').slice(0, 24),
  };
}

/**
 * Which state this run uses when the same form and mapper has one under another server URL only:
 * refused unless --odk-state says whether that server is this one. Keyed by the URL alone, a
 * Central reached under a new host name, port or scheme (or through a proxy) started afresh,
 * wrote every submission again over changes an admin made since, and lost the record of the
 * importer's own writes; keyed by the form alone, staging and production would share one.
 */
function stateToUse(
  elsewhere: readonly StateElsewhere[],
  target: OdkTarget,
  origin: StateOrigin,
  choice: ImportOdkInput['odkState'],
): string | undefined {
  if (elsewhere.length === 0 || choice === 'separate') return undefined;
  const which = `form "${target.form}" (project ${target.project}) into this mapper`;
  const others = elsewhere.map((other) => `${other.server} (${other.path})`).join(', ');
  if (choice === 'adopt' && elsewhere.length === 1) return elsewhere[0]!.key;
  throw new UsageError(
    'odk.state_elsewhere',
    choice === 'adopt'
      ? `the import of ${which} has states under several other server URLs: ${others}; this run names ${origin.server}, and cannot tell which to adopt; nothing was read or written`
      : `the import of ${which} kept its state under another server URL: ${others}; this run names ${origin.server}, which has none; nothing was read or written`,
    {
      hint:
        choice === 'adopt'
          ? "move away the states that are not this server's, or pass --odk-state separate to start one of its own"
          : 'if it is the same Central under another address (host name, port, scheme, a proxy), pass --odk-state adopt to carry that state over; if it is another Central (staging and production), pass --odk-state separate to start a state of its own',
    },
  );
}

/** The window's file: a dry run, or a fix of one submission, never touches the window a regular run may have left. */
export function spoolName(form: string, input: Pick<ImportOdkInput, 'dryRun' | 'instanceId'>): string {
  const safeForm = form.replace(/[^A-Za-z0-9_.-]/g, '_');
  return input.dryRun ? `${safeForm}.dry-run.jsonl` : input.instanceId === undefined ? `${safeForm}.jsonl` : `${safeForm}.instance.jsonl`;
}

export async function importOdk(deps: ImportOdkDeps, input: ImportOdkInput): Promise<ImportOdkResult> {
  const { target, skipReview } = checkImportOdk(deps.settings, deps.yes, input);

  const { mapping, mappingText, dfsp, dfspKnown } = await loadMappingFiles(deps, input);

  // The state belongs to this form in this mapper.
  deps.announceTarget();
  const dryRun = input.dryRun === true;
  const identity = await deps.mapperIdentity(dryRun);
  const earlier = await deps.earlierMapperIdentity?.(dryRun);
  const key = stateKey(deps.sha256, target, identity);
  const earlierKey = earlier === undefined || earlier === identity ? undefined : stateKey(deps.sha256, target, earlier);
  const origin = stateOrigin(deps.sha256, target, identity);
  // The state an earlier sparctl kept for this very server and mapper is taken over, not asked about.
  const found = ((await deps.statesElsewhere?.(key, origin)) ?? []).filter((other) => other.key !== earlierKey);
  // One of this very server under another key (an earlier sparctl keyed it by the URL as given,
  // password included) is this state: taken over, unless --odk-state separate says otherwise.
  const sameServer = found.filter((other) => other.server === origin.server);
  const adopted = sameServer.length === 1 && input.odkState !== 'separate' ? sameServer[0]!.key : undefined;
  // As when its own key holds it: states under other server URLs are then none of this run's business.
  const elsewhere = adopted === undefined ? found : [];
  const store = await deps.openStore(key, stateToUse(elsewhere, target, origin, input.odkState) ?? adopted ?? earlierKey, dryRun, origin);
  // The window being applied: what to do, with the submissions as read, one JSON line each. It
  // holds beneficiaries' data, so it is 0600 and removed as soon as its window is done.
  const spool = store.spool(spoolName(target.form, input));
  const run: Run = {
    deps,
    input,
    target,
    store,
    spool,
    // What each write of the window replaces, told before it is sent: a line per record sent.
    replaces: store.spool(`${spoolName(target.form, input)}.replaced`),
    mapping,
    dfsp,
    skipReview,
    // Its form must not change: a window an earlier sparctl spooled (no copy kept) resumes its journal under it.
    definition: JSON.stringify({ mapping: mappingText, dfsp: dfspKnown ?? null, form: target.form } satisfies DefinitionParts),
    policies: {
      // --instance-id with --yes applies a submission whatever its review state says.
      skipReview: input.instanceId !== undefined && deps.yes ? skipReview.filter((state) => state !== 'rejected') : skipReview,
      onDelete: input.onDelete,
      onReject: input.onReject,
      reapply: input.reapply === true,
    },
    say: (line) => {
      if (!deps.quiet || input.watch) deps.note(line);
    },
    stopping: false,
    listen: () => undefined,
    client: await deps.openCentral(target.url, dryRun),
  };

  let lock: { release(): void } | undefined;
  let stopWatching: (() => void) | undefined;
  // A stop signal while submissions are read (outside the bulk job, which says its own): a line
  // saying so, as one while the window is applied does, not a silent exit 130.
  let stopListening: (() => void) | undefined;
  const listen = () => {
    if (input.watch || deps.onStopSignal === undefined) return;
    stopListening = deps.onStopSignal((signal) => {
      // Once a window was applied it is recorded: only what was read since is not sent.
      deps.note(
        `sparctl: ${STOP_SIGNALS[signal].said}; ${run.applied === true ? 'the window applied is recorded; nothing read since was sent' : 'nothing of this window was sent'}`,
      );
      lock?.release();
      deps.exitNow?.(STOP_SIGNALS[signal].exitCode);
    });
  };
  run.listen = (on) => {
    stopListening?.();
    stopListening = undefined;
    if (on) listen();
  };
  try {
    listen();
    // A run refused before it does anything (an encrypted or unpublished form, a mapping that
    // does not fit it, Central refusing the login) leaves no state folder, lock or origin behind:
    // with no window left to finish, the form is checked before the lock makes them. A window
    // left is finished first, before Central is asked anything (it needs only the mapper).
    let checked = false;
    const check = async () => {
      if (!dryRun && !spool.exists()) {
        await checkForm(run);
        checked = true;
      }
    };
    // Two runs of one form into one mapper would both apply one window: the second is refused at
    // once. A dry run takes no lock: it writes nothing two runs could clash on — its window goes
    // to a private temporary folder of its own, and it reads the state, which is replaced whole.
    const takeLock = () => {
      if (!dryRun) lock = store.lock(`import-odk of form "${target.form}" into this mapper`);
    };
    if (!input.watch) {
      await check();
      takeLock();
      return { exitCode: await poll(run, checked) };
    }
    stopWatching = deps.onInterrupt(() => {
      run.stopping = true;
    });
    // A Central or mapper outage ends one poll, not the watch: the next poll tries again.
    const outage = (error: unknown) => {
      if (!(error instanceof UnavailableError)) throw error;
      run.say(`sparctl: poll failed: ${error.message}; trying again in ${input.interval} s`);
      return ExitCode.unavailable;
    };
    let started = false;
    let last: number = ExitCode.ok;
    for (;;) {
      if (!started) {
        // An outage as the watch starts is its first poll's.
        try {
          await check();
          started = true;
        } catch (error) {
          last = outage(error);
        }
        if (started) takeLock();
      }
      if (started) {
        try {
          last = await poll(run, checked);
        } catch (error) {
          last = outage(error);
        }
        checked = false;
      }
      // A stdout that failed stays failed: every later poll would stop on it at once.
      const failed = deps.stdoutFailure?.();
      if (failed !== undefined) throw failed;
      if (last === ExitCode.interrupted || run.stopping) return { exitCode: ExitCode.interrupted };
      if (last !== ExitCode.ok && last !== ExitCode.rejected && last !== ExitCode.unavailable) return { exitCode: last };
      if (!(await sleepUnless(deps, input.interval * 1000, () => run.stopping))) return { exitCode: ExitCode.interrupted };
    }
  } finally {
    run.listen(false);
    stopWatching?.();
    lock?.release();
    await run.client.close();
  }
}

/** What one invocation holds while it polls. */
interface Run {
  readonly deps: ImportOdkDeps;
  readonly input: ImportOdkInput;
  readonly target: OdkTarget;
  readonly store: OdkStore;
  readonly spool: OdkSpoolFile;
  /** The window's record of what each write replaces (replacedOf), beside its spool and gone with it. */
  readonly replaces: OdkSpoolFile;
  readonly mapping: CompiledMapping;
  readonly dfsp: DfspLookup | undefined;
  /** The review states skipped, as asked (before --instance-id --yes lifts "rejected"). */
  readonly skipReview: readonly string[];
  readonly definition: string;
  readonly policies: ClaimPolicies;
  readonly say: (line: string) => void;
  readonly client: OdkCentral;
  /** Ctrl-C was pressed (--watch). */
  stopping: boolean;
  /** A window was applied by this run (what a stop signal's line says from then on). */
  applied?: boolean;
  /** Listens for stop signals (true), or leaves them to the bulk job applying a window (false). */
  listen: (on: boolean) => void;
}

/**
 * One poll: an earlier run's window first, then the submissions changed since the watermark.
 * `checked`: the form was checked just before (checkForm), by the run before its first poll.
 */
async function poll(run: Run, checked = false): Promise<number> {
  const { input, target, client, store, spool, say, policies } = run;
  let leftover: number = ExitCode.ok;
  // An earlier run left a window unfinished: finish it before reading anything new.
  if (!input.dryRun && spool.exists()) {
    say(`sparctl: finishing the window an earlier run left unfinished (${spool.path})`);
    leftover = await apply(run, 'earlier window', startedWith(run));
    if (leftover !== ExitCode.ok && leftover !== ExitCode.rejected) return leftover;
    if (input.instanceId !== undefined) return leftover;
  }
  const worst = (code: number) => (code === ExitCode.ok ? leftover : code);

  if (!checked) await checkForm(run);

  const state = store.readState();
  let changes: OdkSubmission[] = [];
  const deletions: OdkSubmission[] = [];
  if (input.instanceId !== undefined) {
    const one = await client.submission(target.project, target.form, input.instanceId);
    if (one === undefined) {
      throw new UsageError(
        'odk.not_found',
        `${client.server}: form "${target.form}" has no submission ${input.instanceId} (or it was deleted)`,
        {
          hint: "give the submission's __id (the instanceID it was first sent with), not the instanceID of a later edit",
        },
      );
    }
    if (one.__system.reviewState === 'rejected' && run.skipReview.includes('rejected') && !run.deps.yes) {
      throw new UsageError('odk.instance_rejected', `${input.instanceId} was rejected by a reviewer in Central; nothing was imported`, {
        hint: 'pass --yes to apply it all the same',
      });
    }
    if (one.__system.reviewState === 'rejected')
      say(`sparctl: warning: ${input.instanceId} was rejected by a reviewer in Central; applying it as asked (--yes)`);
    changes = [one];
  } else {
    const from = input.full || input.reapply ? undefined : windowStart(state.watermark, input.overlap);
    const changed = changeFilter(from);
    for await (const page of client.submissions(target.project, target.form, {
      ...(changed === undefined ? {} : { filter: changed }),
      pageSize: input.pageSize,
    }))
      changes.push(...page);
    // Deletions are read whatever the policy: a deleted submission no longer claims its beneficiary.
    for await (const page of client.submissions(target.project, target.form, { filter: deletionFilter(from), pageSize: input.pageSize }))
      deletions.push(...page);
  }
  const { latest, newestStamp } = latestStates(changes, deletions);
  const filteredOut = new Set<string>();
  const toSubmission = (submission: OdkSubmission): Submission => {
    const read = objectRow(submission);
    // A submission the mapping's filters leave out names no beneficiary: it claims none.
    const skipped = filterRow(run.mapping.filters, read) !== undefined;
    if (skipped) filteredOut.add(submission.__id);
    return {
      id: submission.__id,
      instance: submission.meta?.instanceID ?? submission.__id,
      date: submission.__system.submissionDate,
      review: submission.__system.reviewState ?? 'received',
      deleted: submission.__system.deletedAt !== null,
      beneficiary: skipped ? undefined : rowKey(run.mapping, read),
    };
  };
  const force = input.instanceId === undefined ? new Set<string>() : new Set([input.instanceId]);
  // --instance-id fixes one submission: it plans no undo an earlier run left (pendingUndos).
  const pending = input.instanceId === undefined;
  const planned = () => planClaims(state.claims, [...latest.values()].map(toSubmission), policies, force, pending);
  let plan = planned();
  // An undo of a submission this window did not read (an earlier run read its deletion, or its
  // policy did not allow the undo then) is planned on the state's word: that submission is read
  // again first, as Central has it now. A deletion undone in Central leaves updatedAt null, so no
  // window finds it: read again, it claims its beneficiary and nothing is undone. Still deleted
  // (Central answers 404), the state's word stands.
  const reread = pending
    ? [...new Set(plan.actions.filter((a) => a.kind === 'undo' && !latest.has(a.submission)).map((a) => a.submission))]
    : [];
  let found = false;
  for (const id of reread) {
    const now = await client.submission(target.project, target.form, id);
    if (now !== undefined) {
      latest.set(id, now);
      found = true;
    }
  }
  if (found) plan = planned();
  // An older owner takes its beneficiary back: its content as Central has it now.
  const content = new Map([...latest.values()].map((submission) => [submission.__id, submission]));
  for (const id of plan.fetch) {
    const fetched = await client.submission(target.project, target.form, id);
    if (fetched !== undefined) content.set(id, fetched);
  }
  // An older owner deleted in Central since the feed was read cannot be fetched: its beneficiary
  // waits for the next poll, which reads that deletion.
  const actions = plan.actions.filter((action) => {
    if (action.kind !== 'apply' || content.has(action.submission)) return true;
    say(
      `sparctl: ${action.submission}, which owns ${action.beneficiary}, is no longer in Central (deleted since the feed was read): ${action.beneficiary} waits for the next poll`,
    );
    return false;
  });
  // New content naming no beneficiary the mapping can build (an empty ID, one its strategy does
  // not read) is rejected once, with its reason, in the rejects file; the state records its
  // content as considered, so that it is not rejected again until it changes.
  const rejects: SpoolEntry[] = plan.counts.unnamed
    .filter((id) => !filteredOut.has(id))
    .map((id) => ({ action: { kind: 'reject', submission: id }, submission: latest.get(id)! }));
  const shown = plan.notes.slice(0, SHOWN);
  for (const note of shown) say(`sparctl: ${note}`);
  if (plan.notes.length > shown.length) say(`sparctl: … and ${plan.notes.length - shown.length} more like these`);
  say(`sparctl: ${client.server} form ${target.form}: ${pollLine(latest, actions, plan, rejects.length, policies, filteredOut)}`);
  const watermark = input.instanceId === undefined ? newestStamp : undefined;
  if (actions.length === 0 && rejects.length === 0) {
    if (!input.dryRun) {
      const kept = later(watermark, state.watermark);
      store.writeState({ ...(kept === undefined ? {} : { watermark: kept }), claims: plan.claims, ...settledOf(state) });
    }
    return worst(ExitCode.ok);
  }
  if (run.stopping) {
    say('sparctl: interrupted; nothing of this window was sent');
    return ExitCode.interrupted;
  }
  const { entries, claims } = await withUndosChecked(
    run,
    actions,
    plan.claims,
    // An undo's submission need not be in this window (its deletion or rejection was read by an
    // earlier one): what the state knows of it names it in the audit and results columns.
    (action) =>
      content.get(action.submission) ?? latest.get(action.submission) ?? fromClaim(action.submission, plan.claims[action.submission]),
  );
  entries.push(...rejects);
  if (entries.length === 0) {
    // Only undos of writes already gone: nothing to send.
    if (!input.dryRun) {
      const kept = later(watermark, state.watermark);
      store.writeState({ ...(kept === undefined ? {} : { watermark: kept }), claims, ...settledOf(state) });
    }
    return worst(ExitCode.ok);
  }
  // The definition kept with the window: a resume given other files still finishes it under this one.
  const head: SpoolHead = { window: { ...(watermark === undefined ? {} : { watermark }), claims }, definition: run.definition };
  // One an earlier window left (killed before it was removed) would speak for this one's writes.
  if (run.replaces.exists()) run.replaces.remove();
  // Whole or not at all: a kill while writing must not leave half a window to resume.
  spool.write(`${JSON.stringify(head)}\n${entries.map((entry) => JSON.stringify(entry)).join('\n')}\n`);
  let code: number;
  try {
    code = await apply(run, 'poll');
  } finally {
    // A dry run's window, in a temporary folder of its own, goes with it (README: a dry run leaves nothing).
    if (input.dryRun) {
      if (run.replaces.exists()) run.replaces.remove();
      spool.remove();
    }
  }
  return worst(code);
}

/**
 * A poll's line: the submissions read, each counted once — with a write to do, already applied
 * (a write of it recorded), skipped (review state, the mapping's filters), rejected for want of
 * an ID, owned by a later submission, deleted before it was applied, read before and not written
 * then — so that they add up; then the writes about submissions it did not read, or second
 * writes of one it read (an undo of the ID it named before), labelled apart. Said before the
 * window is applied: what it plans, never what came of it (the bulk summary and the `kept`
 * lines say that).
 */
function pollLine(
  latest: ReadonlyMap<string, unknown>,
  actions: readonly ClaimAction[],
  { counts, claims }: Pick<ClaimPlan, 'counts' | 'claims'>,
  rejected: number,
  policies: ClaimPolicies,
  filteredOut: ReadonlySet<string>,
): string {
  const ofWindow = actions.filter((action) => latest.has(action.submission));
  const acted = new Set(ofWindow.map((action) => action.submission)).size;
  // Content read before and naming no beneficiary: still left out by the mapping's filters, or
  // rejected before for want of an ID (not again until it changes).
  const filteredBefore = counts.notWritten.filter((id) => filteredOut.has(id)).length;
  const rejectedBefore = counts.notWritten.filter((id) => !filteredOut.has(id) && claims[id]?.beneficiary === undefined).length;
  const filtered = counts.unnamed.length - rejected + filteredBefore;
  const notWritten = counts.notWritten.length - filteredBefore - rejectedBefore;
  const parts = [
    counts.alreadyApplied > 0 ? `${counts.alreadyApplied} already applied` : '',
    counts.skippedByReview > 0 ? `${counts.skippedByReview} skipped for their review state (${policies.skipReview.join(', ')})` : '',
    filtered > 0 ? `${filtered} skipped by the mapping's filters` : '',
    rejected > 0 ? `${rejected} without a beneficiary ID (rejected)` : '',
    rejectedBefore > 0 ? `${rejectedBefore} without a beneficiary ID (rejected before)` : '',
    counts.otherOwner > 0 ? `${counts.otherOwner} owned by a later submission` : '',
    counts.deleted > 0 ? `${counts.deleted} deleted before ${counts.deleted === 1 ? 'it was' : 'they were'} applied` : '',
    notWritten > 0 ? `${notWritten} read before and not written then (rejected, unchanged, or kept)` : '',
  ].filter(Boolean);
  const earlierUndos = actions.filter((action) => action.kind === 'undo' && !latest.has(action.submission)).length;
  const earlierOwners = actions.filter((action) => action.kind === 'apply' && !latest.has(action.submission)).length;
  const second = ofWindow.length - acted;
  const more = [
    earlierUndos > 0 ? `${counted(earlierUndos, "undo of an earlier submission's write", "undos of earlier submissions' writes")}` : '',
    // Planned, not done: a change made in the mapper since may keep it (the `kept` lines say so).
    earlierOwners > 0 ? `${counted(earlierOwners, "older owner's content", "older owners' content")} to write again` : '',
    second > 0 ? `${counted(second, 'undo on an ID', 'undos on IDs')} a submission read no longer names` : '',
  ].filter(Boolean);
  return `${counted(latest.size, 'submission')} read, ${acted} to apply${parts.length > 0 ? ` (${parts.join(', ')})` : ''}${more.length > 0 ? `; also ${more.join(', ')}` : ''}`;
}

/**
 * The window's entries, with the undos that can no longer be done left out: an undo that would
 * put an FA back on a beneficiary not linked now is dropped, its write gone (in the claims
 * returned) — it never links anyone again, nor becomes an unlink. What a write replaces is not
 * read here: the write's own read says it (finishWindow).
 */
async function withUndosChecked(
  run: Run,
  actions: readonly ClaimAction[],
  claims: Readonly<Record<string, Claim>>,
  submission: (action: ClaimAction) => OdkSubmission,
): Promise<{ entries: SpoolEntry[]; claims: Readonly<Record<string, Claim>> }> {
  const ids = [...new Set(actions.filter((a) => a.kind === 'undo' && a.restore !== undefined).map((a) => a.beneficiary))];
  const held = ids.length === 0 ? new Map<string, MapperHeld>() : await run.deps.readMapper(ids, run.input.dryRun === true);
  const entries: SpoolEntry[] = [];
  let settled: Record<string, Claim> | undefined;
  for (const action of actions) {
    if (action.kind === 'undo' && action.restore !== undefined && !held.has(action.beneficiary)) {
      // Not linked now: the importer's write is gone, and nothing is put back or unlinked.
      settled ??= { ...claims };
      const claim = settled[action.submission];
      if (claim !== undefined) settled[action.submission] = withoutWriteOn(claim, action.beneficiary);
      run.say(`sparctl: ${action.beneficiary}: not linked now: the FA this importer replaced is not put back`);
      continue;
    }
    // An update cannot clear a name or phone (it overwrites only with values): where the link
    // held none before the importer's write, the one written since stays — said, not claimed undone.
    const empty = action.kind === 'undo' ? [action.restoreName === null ? 'name' : '', action.restorePhone === null ? 'phone' : ''] : [];
    const left = empty.filter(Boolean);
    if (left.length > 0)
      run.say(
        `sparctl: ${action.beneficiary}: its FA is put back, but it held no ${left.join(' or ')} before this importer's write, and an update cannot clear one: any ${left.join(' or ')} written since stays (clear it by hand if it should go)`,
      );
    entries.push({ action, submission: submission(action) });
  }
  return { entries, claims: settled ?? claims };
}

/** A submission as the state knows it (not read from Central in this window). */
function fromClaim(id: string, claim: Claim | undefined): OdkSubmission {
  return {
    __id: id,
    __system: {
      submissionDate: claim?.date ?? '',
      updatedAt: null,
      deletedAt: null,
      reviewState: claim === undefined || claim.review === 'received' ? null : claim.review,
    },
    meta: { instanceID: claim?.instance ?? id },
  };
}

const faDigestOf = (deps: Pick<ImportOdkDeps, 'sha256'>) => (fa: string) => deps.sha256(fa, 'base64url').slice(0, 22);

/** The state's record of the window settled last, carried over by a state written without settling one. */
const settledOf = (state: OdkImportState) => (state.settledJournal === undefined ? {} : { settledJournal: state.settledJournal });

/** The newer of a window's watermark and the state's (a window read with --overlap may end before it). */
function later(watermark: string | undefined, before: string | undefined): string | undefined {
  const newer = watermark !== undefined && (before === undefined || Date.parse(watermark) > Date.parse(before));
  return newer ? watermark : before;
}

/**
 * What the window an earlier run left is finished under: the definition kept in its head when
 * this run's differs (another or an edited --mapping or --dfsp file, the target's DFSP data
 * changed). Its plan (the beneficiary each submission names) was made with that mapping, and its
 * journal's fingerprint covers it: under another, the window started a fresh journal (or met
 * journal.other_job), found the writes already made "unchanged" and never recorded them as the
 * importer's, so never undid them. Finished with the copy it keeps, not refused: that is what the
 * run would have done uninterrupted, and a coordinator may no longer have the files it names.
 */
function startedWith(run: Run): WindowDefinition {
  const text = run.spool.read();
  const end = text.indexOf('\n');
  const kept = (JSON.parse(end < 0 ? text : text.slice(0, end)) as SpoolHead).definition;
  // A window an earlier sparctl spooled says nothing: finished under this run's, as it always was.
  if (kept === undefined || kept === run.definition) return run;
  const was = JSON.parse(kept) as DefinitionParts;
  const now = JSON.parse(run.definition) as DefinitionParts;
  const changed = [was.mapping === now.mapping ? '' : 'another mapping', was.dfsp === now.dfsp ? '' : 'other DFSP data'].filter(Boolean);
  const mappingLabel = `the mapping kept in ${run.spool.path}`;
  const dfspLabel = `the DFSP data kept in ${run.spool.path}`;
  const mapping = compileMapping(run.deps.parseJson(was.mapping, mappingLabel, 'mapping'), mappingLabel);
  const dfsp = was.dfsp === null ? undefined : dfspLookupFrom(run.deps.parseJson(was.dfsp, dfspLabel, 'dfsp'), dfspLabel);
  // Said even with -q: the run applies files other than the ones it was given.
  run.deps.note(
    `sparctl: the window ${run.spool.path} was started with ${changed.length > 0 ? changed.join(' and ') : 'another job definition'} than this run's: it is finished with those (kept in it), so that the writes made from it are recorded as this importer's; this run's apply from the next window on (--reapply writes that window's submissions again under them)`,
  );
  return { mapping, dfsp, definition: kept };
}

/** Applies the spooled window (under `how`: its own definition), then says which beneficiaries were kept because someone changed them since. */
async function apply(run: Run, what: string, how: WindowDefinition = run): Promise<number> {
  const { code, kept } = await applyWindow(run, what, how);
  for (const id of kept.slice(0, SHOWN)) {
    const by = await run.deps.lastChange(id);
    run.say(`sparctl: kept ${id}: changed in the mapper since this importer wrote it${by === undefined ? '' : ` (${by})`}`);
  }
  if (kept.length > SHOWN) run.say(`sparctl: … and ${kept.length - SHOWN} more kept`);
  return code;
}

/**
 * Applies a window's spool through the write pipeline, and once it is done (every write
 * applied, unchanged or rejected for good) records what was written in the state — only what
 * the mapper confirmed — and moves the watermark: before the bulk job removes its journal, so
 * that a state that cannot be written (a full disk) leaves the window to resume, not to redo.
 */
async function applyWindow(run: Run, what: string, how: WindowDefinition): Promise<{ code: number; kept: string[] }> {
  const { deps, input } = run;
  const faDigest = faDigestOf(deps);
  // What each write of this run wrote (by position), and how each ended.
  const digests = new Map<number, string>();
  const fates = new Map<number, RecordEvent>();
  // The target's strategies, as the run was given them: to read what a write replaced.
  let known: ReadonlyMap<number, Strategy> | undefined;
  const columns = [
    'odk_submission',
    'odk_instance',
    'odk_submitter',
    'odk_submission_date',
    'odk_review_state',
    ...mappingColumns(how.mapping),
  ];
  let told = false;
  // The bulk job says what a stop signal stopped while it applies the window.
  run.listen(false);
  const code = await deps.runWindow({
    path: run.spool.path,
    quiet: input.watch === true,
    definition: how.definition,
    faDigest,
    // Audit rows name the form; each row's origin names the submission.
    source: `sparctl import-odk form ${run.target.form}`,
    columns,
    collect: (event) => fates.set(event.seq, event),
    // Kept before anything is sent: the write's own event may never come (a kill right after it).
    // Each chunk's lines start on a line of their own: one cut short by a kill stays apart.
    beforeSending: (records) => run.replaces.append(records.map((record) => `\n${JSON.stringify(replacesLine(record))}`).join('')),
    // With --watch a line per poll; otherwise the bulk run's own summary table says it all.
    ...(input.watch ? { onSummary: (summary: BulkSummary) => report(run.say, what, summary) } : {}),
    // Before the journal goes: it alone says which records this run (or an earlier one) wrote —
    // once it is removed, the window re-applied finds them unchanged and records no write to undo.
    finish: (fingerprint) => {
      told = true;
      if (!input.dryRun) finishWindow(run, digests, fates, known, fingerprint);
    },
    // The window settled last only: a kill between its spool's removal and its journal's left
    // that journal (nothing in it still to record). Read now, after any window this run settled.
    settledJournal: (fingerprint) => {
      if (run.store.readState().settledJournal !== fingerprint) return false;
      run.say('sparctl: the --journal file held the journal of the window settled last (a run was killed as it finished): taken over');
      return true;
    },
    journalLost: `the window ${run.spool.path} is then applied from its start, and the writes an earlier run made from it are found unchanged: this importer does not record them as its own, so a later deletion or rejection of their submissions never undoes them`,
    records: (lines, strategies) => {
      // Before any row is mapped or sent: a strategy the target lacks would reject every row.
      checkMappingStrategies(how.mapping, strategies);
      known = strategies;
      return spoolRecords(lines, { mapping: how.mapping, dfsp: how.dfsp, form: run.target.form, columns, strategies, faDigest, digests });
    },
  });
  run.applied = true;
  run.listen(true);
  // A bulk job that ended done without calling `finish` (it always does): what the run was told is still recorded.
  if (!input.dryRun && (code === ExitCode.ok || code === ExitCode.rejected) && !told) finishWindow(run, digests, fates, known, undefined);
  const kept = [...fates.values()]
    .filter((event) => event.code === 'kept.changed_since' && event.id !== undefined)
    .map((event) => event.id!);
  return { code, kept };
}

/** The form can be read (published, not encrypted) and the mapping's paths fit its fields: else nothing is read. */
async function checkForm(run: Run): Promise<void> {
  const { input, target, client } = run;
  const odkForm = await client.form(target.project, target.form);
  if (odkForm.publishedAt === null)
    throw new UsageError(
      'odk.not_published',
      `${client.server}: form "${target.form}" has never been published, so it has no submissions to read`,
    );
  if (odkForm.keyId !== null) {
    throw new UsageError(
      'odk.encrypted',
      `${client.server}: form "${target.form}" is encrypted; Central cannot hand its data over the API`,
      { hint: 'import a decrypted export instead, or publish the form without encryption' },
    );
  }
  const problems = mappingFieldProblems(mappingSources(run.mapping), await client.fields(target.project, target.form));
  if (problems.length > 0) {
    throw new UsageError(
      'odk.mapping_mismatch',
      `${input.mapping} does not fit form "${target.form}": ${problems.join('; ')}; nothing was imported`,
      {
        hint: 'paths are the OData names, groups joined with dots (see GET …/forms/{form}/fields?odata=true)',
      },
    );
  }
}

/**
 * A poll's line: every fate the window's records can end in, so that the counts add up to its
 * records in every ending (a resumed window has confirmed, superseded and skipped ones too).
 */
export function report(say: (line: string) => void, what: string, summary: BulkSummary): void {
  const earlier = Object.values(summary.earlier).reduce((a, b) => a + (b ?? 0), 0);
  const optional = [
    summary.confirmed > 0 ? `${summary.confirmed} confirmed` : '',
    summary.superseded > 0 ? `${summary.superseded} superseded` : '',
    summary.skipped > 0 ? `${summary.skipped} skipped` : '',
  ].filter(Boolean);
  const counts = [`${summary.applied} applied`, ...optional, `${summary.unchanged} unchanged`, `${summary.rejected} rejected`];
  say(
    `sparctl: ${what}: ${counts.join(', ')}, ${summary.notSent} not done, of ${summary.total} record${summary.total === 1 ? '' : 's'}${earlier > 0 ? ` (${earlier} of them settled by an earlier run)` : ''} (${summary.seconds.toFixed(1)} s)`,
  );
}

/**
 * A window's spool lines as engine records: an undo unlinks only the importer's own write, and
 * only while the mapper still holds it; an apply maps the submission, conditional on the FA the
 * importer wrote when it replaces an earlier owner's write or reapplies. `digests` is told what
 * each write would store.
 */
export async function* spoolRecords(
  lines: AsyncIterable<readonly SpoolLine[]>,
  how: {
    mapping: CompiledMapping;
    dfsp: DfspLookup | undefined;
    form: string;
    columns: readonly string[];
    strategies: ReadonlyMap<number, Strategy>;
    faDigest: (fa: string) => string;
    digests: Map<number, string>;
  },
): AsyncGenerator<BulkInputRecord[]> {
  let seq = 0;
  for await (const batch of lines) {
    const out: BulkInputRecord[] = [];
    for (const fileRecord of batch) {
      if (fileRecord.line === 1) continue; // the window's own line
      const entry = fileRecord.record as unknown as SpoolEntry;
      const action = entry.action;
      // An earlier sparctl spooled an undo whose submission it had not read without one, and then
      // stopped every run on that spool: the state's name for it stands in.
      const submission = entry.submission ?? fromClaim(action.submission, undefined);
      const read = objectRow(submission);
      const provenance = provenanceOf(submission, how.form);
      const raw: Record<string, string> = {
        odk_submission: submission.__id,
        odk_instance: provenance['odk_instance'] ?? '',
        odk_submitter: provenance['odk_submitter'] ?? '',
        odk_submission_date: submission.__system.submissionDate,
        odk_review_state: submission.__system.reviewState ?? 'received',
      };
      for (const column of how.columns.slice(5)) raw[column] = read(column) ?? '';
      const origin = Object.entries(provenance)
        .map(([k, v]) => `${k}=${v}`)
        .join(' ');
      const at = seq++;
      if (action.kind === 'undo' && action.restore !== undefined) {
        // An update undone: the FA it replaced goes back, only while the mapper holds the importer's,
        // with the name and phone the link held where known (an empty one cannot be put back: an
        // update overwrites only with values — said when the window is planned).
        const fa = Object.fromEntries(Object.entries(action.restore).filter(([, value]) => value !== null && value !== undefined));
        const held = {
          ...(action.restoreName ? { name: action.restoreName } : {}),
          ...(action.restorePhone ? { phone_number: action.restorePhone } : {}),
        };
        const record = toBulkRecord(at, undefined, { id: action.beneficiary, fa, ...held }, raw, {
          mode: 'update',
          strategies: how.strategies,
          unlinkConfirmed: false,
        });
        const parsed = record.parsed;
        out.push({
          ...record,
          key: action.beneficiary,
          origin,
          ...(parsed.ok && 'fa' in parsed.value ? { parsed: { ...parsed, value: { ...parsed.value, onlyIfFa: action.fa } } } : {}),
        });
        continue;
      }
      if (action.kind === 'undo') {
        out.push({
          seq: at,
          key: action.beneficiary,
          raw,
          origin,
          parsed: { ok: true, value: { id: action.beneficiary, onlyIfFa: action.fa }, mode: 'unlink' },
        });
        continue;
      }
      const mapped = applyMapping(how.mapping, read, how.dfsp);
      if (action.kind === 'reject') {
        // The planner found no ID; the mapping says why (it cannot build an ID it cannot key on).
        const problems = mapped.ok
          ? [{ field: 'id', code: 'mapping.missing_value', message: 'the mapping builds no beneficiary ID from this submission' }]
          : mapped.problems;
        out.push({ seq: at, raw, origin, key: undefined, parsed: { ok: false as const, problems } });
        continue;
      }
      if (!mapped.ok) {
        out.push({ seq: at, raw, origin, key: rowKey(how.mapping, read), parsed: { ok: false as const, problems: mapped.problems } });
        continue;
      }
      const record = toBulkRecord(at, undefined, { ...mapped.record, additional_info: [provenance] }, raw, {
        mode: 'upsert',
        strategies: how.strategies,
        unlinkConfirmed: false,
      });
      const parsed = record.parsed;
      if (parsed.ok && parsed.faValue !== undefined) how.digests.set(at, how.faDigest(parsed.faValue));
      const value =
        parsed.ok && action.onlyIfFa !== undefined && 'fa' in parsed.value ? { ...parsed.value, onlyIfFa: action.onlyIfFa } : undefined;
      out.push({ ...record, origin, ...(value === undefined || !parsed.ok ? {} : { parsed: { ...parsed, value } }) });
    }
    yield out;
  }
}

/**
 * Moves the state past a window that is done: the claims it planned, with what the mapper
 * confirmed written (this run's or, resumed, an earlier run's). Settled from the spool's own
 * claims, not the state's: settling one window twice (a kill before its spool was removed) gives
 * the same state.
 */
function finishWindow(
  run: Run,
  digests: ReadonlyMap<number, string>,
  fates: ReadonlyMap<number, RecordEvent>,
  strategies: ReadonlyMap<number, Strategy> | undefined,
  fingerprint: string | undefined,
): void {
  const lines = run.spool.read().split('\n').filter(Boolean);
  const head = JSON.parse(lines[0]!) as SpoolHead;
  // The importer's write on each beneficiary before this window: an update over it carries on what it replaced.
  const writers = new Map<string, Wrote>();
  for (const claim of Object.values(head.window.claims)) for (const write of writesOf(claim)) writers.set(write.beneficiary, write);
  const replaces = readReplaces(run.replaces);
  const faDigest = faDigestOf(run.deps);
  const results = lines.slice(1).flatMap((line, seq) => {
    const { action } = JSON.parse(line) as SpoolEntry;
    // A submission without an ID: its reject row is all there is to it.
    if (action.kind === 'reject') return [];
    const event = fates.get(seq);
    const written = event?.fate === 'applied' || event?.fate === 'confirmed';
    const kept = event?.code === 'kept.changed_since' || event?.code === 'kept.not_linked';
    const over =
      written && action.kind === 'apply'
        ? replacedOf(event!.operation, event!.fate, replaces.get(seq), writers.get(action.beneficiary), strategies, faDigest)
        : undefined;
    return [
      action.kind === 'apply'
        ? {
            action,
            written,
            ...(written && digests.has(seq) ? { fa: digests.get(seq)! } : {}),
            ...(over !== undefined ? { replaced: over } : {}),
            overwritten: event?.code === 'kept.changed_since',
          }
        : { action, written, gone: written || kept },
    ];
  });
  const state = run.store.readState();
  const watermark = later(head.window.watermark, state.watermark);
  const settled = fingerprint === undefined ? settledOf(state) : { settledJournal: fingerprint };
  run.store.writeState({
    ...(watermark === undefined ? {} : { watermark }),
    claims: settleClaims(head.window.claims, results),
    ...settled,
  });
  // The spool first: a kill in between leaves a `.replaced` file the next window's spool removes,
  // never a spool whose writes no longer say what they replaced.
  run.spool.remove();
  if (run.replaces.exists()) run.replaces.remove();
}

/**
 * One line of a window's `.replaced` file: a record about to be sent, and what the run read for
 * its ID (absent: not read) — not linked, an FA as stored (with its strategy when known, and the
 * name and phone held with it when the mapper told them: null, none), or as resolve tells it
 * (SPAR's resolve tells no name or phone: they are not put back). A line an earlier sparctl
 * wrote has no name or phone: not known.
 */
interface ReplacesLine {
  readonly seq: number;
  readonly operation: Sending['operation'];
  readonly before?:
    | null
    | { readonly stored: string; readonly strategyId?: number; readonly name?: string | null; readonly phone?: string | null }
    | { readonly fields: Readonly<Record<string, unknown>> };
}

function replacesLine({ seq, operation, before }: Sending): ReplacesLine {
  if (before === undefined) return { seq, operation };
  if (before === null) return { seq, operation, before: null };
  if (!isStored(before)) return { seq, operation, before: { fields: before } };
  return {
    seq,
    operation,
    before: {
      stored: before.fa,
      ...(before.strategyId === undefined ? {} : { strategyId: before.strategyId }),
      ...(before.name === undefined ? {} : { name: before.name }),
      ...(before.phone === undefined ? {} : { phone: before.phone }),
    },
  };
}

/** The window's `.replaced` file by record: the last line of each wins (a record sent again, by a later run, was planned again). */
function readReplaces(file: OdkSpoolFile): Map<number, ReplacesLine> {
  const bySeq = new Map<number, ReplacesLine>();
  if (!file.exists()) return bySeq;
  for (const text of file.read().split('\n')) {
    if (text === '') continue;
    try {
      const line = JSON.parse(text) as ReplacesLine;
      bySeq.set(line.seq, line);
    } catch {
      // A line cut short by a kill while it was added: its records were never sent.
    }
  }
  return bySeq;
}

/**
 * What a confirmed write replaced, from what the run that sent it read right before (its
 * `.replaced` line): a link created its link; an update over the importer's own earlier write
 * carries on what that write replaced (the chain back to before the importer); an update over
 * anything else replaced that FA. Not known (undefined: never undone) without a line for it (a
 * window an earlier sparctl spooled), when the read found nothing linked (linked since), or when
 * the FA's fields cannot be told — nor, beside an importer's write, its stored string (it could
 * be the importer's own).
 */
function replacedOf(
  operation: RecordEvent['operation'],
  fate: RecordEvent['fate'],
  line: ReplacesLine | undefined,
  writer: Wrote | undefined,
  strategies: ReadonlyMap<number, Strategy> | undefined,
  faDigest: (fa: string) => string,
): Replaced | undefined {
  // A link is known to have created the link only when applied, or when the run read the ID unlinked
  // before sending it: one confirmed after a lost answer, sent unread (link-first), may have been
  // refused as a duplicate of a link someone else made (the mapper then shows it all the same).
  if (operation === 'link') return fate === 'applied' || line?.before === null ? 'none' : undefined;
  if (operation !== 'update' || line?.operation !== 'update' || line.before === undefined || line.before === null) return undefined;
  const before: Exclude<Current, null> =
    'stored' in line.before ? { fa: line.before.stored, strategyId: line.before.strategyId } : line.before.fields;
  if (writer !== undefined) {
    const stored = storedString(before, strategies);
    if (stored === undefined) return undefined;
    if (faDigest(stored) === writer.fa) return writer.replaced;
  }
  const fa = faFieldsOf(before, strategies);
  if (fa === undefined) return undefined;
  // The name and phone the link held, where the read told them: an undo puts them back too.
  const held: { name?: string | null; phone?: string | null } = 'stored' in line.before ? line.before : {};
  return { fa, ...(held.name === undefined ? {} : { name: held.name }), ...(held.phone === undefined ? {} : { phone: held.phone }) };
}

/**
 * An FA the mapper held, as its resolve tells it (what an undo puts back): a resolve's fields as
 * they are; a stored string read as the local mapper's resolve reads it — its strategy's groups
 * and id. Undefined when they cannot be told (no strategy id, a strategy the target lacks, a
 * string its pattern does not read, a resolve without fields).
 */
function faFieldsOf(
  held: Exclude<Current, null>,
  strategies: ReadonlyMap<number, Strategy> | undefined,
): Readonly<Record<string, unknown>> | undefined {
  if (!isStored(held)) return Object.keys(held).length > 0 ? held : undefined;
  const strategy = held.strategyId === undefined ? undefined : strategies?.get(held.strategyId);
  const groups = strategy === undefined ? null : deconstructFa(strategy, held.fa);
  return groups === null ? undefined : { ...groups, strategy_id: held.strategyId };
}

/** Waits `ms`, looking every 100 ms whether to stop: true when the time is up, false when stopped. */
async function sleepUnless(deps: Pick<ImportOdkDeps, 'clock' | 'sleep'>, ms: number, stop: () => boolean): Promise<boolean> {
  const started = deps.clock();
  for (;;) {
    await deps.sleep(100);
    if (stop()) return false;
    if (deps.clock() - started >= ms) return true;
  }
}
