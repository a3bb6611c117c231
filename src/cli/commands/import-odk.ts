import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Command, Option } from 'commander';
import { ConfigError, ExitCode, UnavailableError, UsageError } from '../../core/errors.js';
import type { BulkSummary } from '../../core/bulk/events.js';
import type { GlobalOptions } from '../context.js';
import type { Io } from '../io.js';
import { addBulkOptions } from './records.js';
import type { BulkJobFlags } from './bulk-job.js';
import { parseJson, parsePositive, readText } from './import-csv.js';

interface ImportOdkOptions extends BulkJobFlags {
  mapping: string;
  dfsp?: string;
  odkUrl?: string;
  project?: number;
  form?: string;
  odkEmail?: string;
  odkPasswordFile?: string;
  instanceId?: string;
  skipReview: string;
  onDelete: 'ignore' | 'unlink';
  overlap: number;
  pageSize: number;
  full?: boolean;
  watch?: boolean;
  interval: number;
  batchSize?: number;
}

/** `sparctl import-odk --mapping M`: submissions from an ODK Central form into the mapper, incrementally. */
export function importOdkCommand(io: Io, setExit: (code: number) => void): Command {
  const command = new Command('import-odk')
    .description('pull submissions from an ODK Central form and link or update their financial addresses (incremental, resumable)')
    .requiredOption('--mapping <file>', 'JSON mapping of submission paths (e.g. "payment.account_number") to ID, name, phone and FA')
    .option('--dfsp <file>', 'banks, branches and wallet providers (JSON) to check codes and fill names from')
    .option('--odk-url <url>', 'ODK Central server (default: odkUrl of the profile, SPARCTL_ODK_URL)')
    .option('--project <id>', 'Central project id, a number (default: odkProject, SPARCTL_ODK_PROJECT)', (v) => parsePositive(v, '--project'))
    .option('--form <id>', "the form's xmlFormId (default: odkForm, SPARCTL_ODK_FORM)")
    .option('--odk-email <email>', 'Web User to log in as (default: odkEmail, SPARCTL_ODK_EMAIL); the password comes from SPARCTL_ODK_PASSWORD, --odk-password-file or a prompt')
    .option('--odk-password-file <file>', 'file holding the password (never pass a password as a flag: it lands in shell history)')
    .option('--instance-id <id>', 'import exactly this one submission (its __id), whatever the watermark says')
    .option('--skip-review <states>', 'review states whose submissions are not imported, comma-separated (received, hasIssues, edited, approved, rejected; "" for none)', 'rejected')
    .addOption(new Option('--on-delete <policy>', 'a submission deleted in Central: ignore it, or unlink its beneficiary (needs --yes)').choices(['ignore', 'unlink']).default('ignore'))
    .option('--overlap <seconds>', 're-read this much before the watermark: submissions become visible slightly after their stamp', (v) => parseNonNegative(v, '--overlap'), 300)
    .option('--page-size <n>', 'submissions per page of the OData feed', (v) => parsePositive(v, '--page-size'), 250)
    .option('--full', 'read every submission again (already applied ones are still skipped)')
    .option('--watch', 'keep polling until interrupted (Ctrl-C finishes the batches in flight and exits 130)')
    .option('--interval <seconds>', 'seconds between polls with --watch', (v) => parsePositive(v, '--interval'), 60)
    .option('--batch-size <n>', 'records per request to the mapper (default: 500 or the profile)', (v) => parsePositive(v, '--batch-size'));
  addBulkOptions(command);
  return command
    .addHelpText(
      'after',
      `
Each run asks Central for submissions created or changed since the last finished run (minus
--overlap), applies them oldest first (an edit updates the same beneficiary), and moves the
watermark only once every one of them is applied, unchanged or rejected for good. A run that
is killed resumes where it stopped. The password is never taken as a flag.

Examples:
  $ sparctl import-odk --odk-url https://central.example.org --project 3 --form spar_enrolment \\
      --odk-email importer@example.org --mapping enrolment.odk.json --dfsp dfsp.json
    (the password from SPARCTL_ODK_PASSWORD, --odk-password-file, or typed when asked)
  $ sparctl import-odk --mapping enrolment.odk.json --watch --interval 300
  $ sparctl import-odk --mapping enrolment.odk.json --instance-id uuid:5f0c6a4e-9b1d-4c3e-8a27-1d2e3f4a5b6c`,
    )
    .action(async (options: ImportOdkOptions, cmd: Command) => {
      const globals = cmd.optsWithGlobals<GlobalOptions>();
      setExit(await runImportOdk(io, globals, options));
    });
}

function parseNonNegative(value: string, flag: string): number {
  if (!/^[0-9]+$/.test(value)) throw new UsageError('usage.invalid_number', `${flag} must be a whole number of seconds`);
  return Number(value);
}

interface OdkTarget {
  readonly url: string;
  readonly project: number;
  readonly form: string;
}

async function runImportOdk(io: Io, globals: GlobalOptions, options: ImportOdkOptions): Promise<number> {
  const { loadContext } = await import('../context.js');
  const context = await loadContext(io, globals);
  const { settings } = context.resolved;
  const url = options.odkUrl ?? settings.odkUrl;
  const project = options.project ?? settings.odkProject;
  const form = options.form ?? settings.odkForm;
  const missing = [url === undefined ? 'the server (--odk-url, odkUrl, SPARCTL_ODK_URL)' : '', project === undefined ? 'the project (--project, odkProject)' : '', form === undefined ? 'the form (--form, odkForm)' : ''].filter(Boolean);
  if (missing.length > 0) {
    throw new ConfigError('odk.not_configured', `import-odk needs ${missing.join(', ')}`, { hint: 'put odkUrl, odkProject and odkForm in a profile (see README "Importing from ODK Central")' });
  }
  const target: OdkTarget = { url: url!, project: project!, form: form! };
  const skipReview = options.skipReview.split(',').map((state) => state.trim()).filter(Boolean);
  const { REVIEW_STATES } = await import('../../core/odk.js');
  const unknownState = skipReview.find((state) => !(REVIEW_STATES as readonly string[]).includes(state));
  if (unknownState !== undefined) throw new UsageError('usage.review_state', `--skip-review: "${unknownState}" is not a review state (${REVIEW_STATES.join(', ')})`);
  if (options.onDelete === 'unlink' && !globals.yes) {
    throw new UsageError('usage.confirmation_required', '--on-delete unlink removes the financial address of beneficiaries whose submission was deleted; nothing was imported', { hint: 'pass --yes as well to allow it' });
  }

  const mappingText = await readText(options.mapping, '--mapping');
  const dfspText = options.dfsp ? await readText(options.dfsp, '--dfsp') : undefined;
  const { applyMapping, compileMapping, dfspLookupFrom, mappingSources, objectRow } = await import('../../core/mapping.js');
  const mapping = compileMapping(parseJson(mappingText, options.mapping), options.mapping);
  let dfsp = dfspText === undefined ? undefined : dfspLookupFrom(parseJson(dfspText, options.dfsp!), options.dfsp);
  let dfspKnown = dfspText;
  if (dfsp === undefined) {
    // Without --dfsp, the target's own banks and wallet providers (sparctl dfsp import, or dfspUrl).
    const { loadDfsp } = await import('./dfsp.js');
    const { dfspLookupOf } = await import('../../core/mapping.js');
    const data = await loadDfsp(context, { required: false });
    if (data !== undefined) {
      dfsp = dfspLookupOf(data, 'the DFSP data of the target');
      dfspKnown = JSON.stringify(data);
    }
  }

  // The state belongs to this form in this mapper: a new database starts from the beginning.
  const mapperIdentity = settings.mode === 'local' ? `local ${settings.db} ${await localInstanceId(settings.db!, options.dryRun === true)}` : `${settings.protocol} ${settings.baseUrl}`;
  // The same server named with or without /v1 or a trailing slash is the same state.
  const server = target.url.replace(/\/+$/, '').replace(/\/v1$/, '');
  const key = createHash('sha256').update(JSON.stringify([server, target.project, target.form, mapperIdentity])).digest('hex').slice(0, 24);
  const stateDir = join(context.dirs.state, 'odk', key);
  const statePath = join(stateDir, 'state.json');
  // The window being applied: submissions as read, oldest first, one JSON line each. It holds
  // beneficiaries' data, so it is 0600 and removed as soon as its window is done.
  const safeForm = target.form.replace(/[^A-Za-z0-9_.-]/g, '_');
  // A dry run, or a fix of one submission, never touches the window a regular run may have left.
  const spoolPath = join(stateDir, options.dryRun ? `${safeForm}.dry-run.jsonl` : options.instanceId === undefined ? `${safeForm}.jsonl` : `${safeForm}.instance.jsonl`);
  const definition = JSON.stringify({ mapping: mappingText, dfsp: dfspKnown ?? null, form: target.form });

  const password = await passwordSource(io, globals, options.odkPasswordFile ?? settings.odkPasswordFile, settings.odkPassword);
  const email = options.odkEmail ?? settings.odkEmail;
  const { CentralClient } = await import('../../adapters/odk/central-client.js');
  const client = new CentralClient({
    url: target.url,
    auth: { ...(email === undefined ? {} : { email }), ...(password === undefined ? {} : { password }), ...(settings.odkToken === undefined ? {} : { token: settings.odkToken }) },
    tokenCacheFile: join(context.dirs.cache, 'odk-sessions.json'),
    timeoutMs: Math.max(settings.timeoutMs, 120_000),
    tls: { caFile: settings.caFile, insecure: settings.insecure },
  });

  let stopping = false;
  const onSigint = () => {
    stopping = true;
  };
  try {
    const say = (line: string) => {
      if (!globals.quiet || options.watch) io.stderr.write(`${line}\n`);
    };
    // With --watch a line per poll; otherwise the bulk run's own summary table says it all.
    const watchReport = (what: string) => (options.watch ? (summary: BulkSummary) => report(say, what, summary) : undefined);
    const poll = async (): Promise<number> => {
      // An earlier run left a window unfinished: finish it before reading anything new.
      if (existsSync(spoolPath) && !options.dryRun) {
        say(`sparctl: finishing the window an earlier run left unfinished (${spoolPath})`);
        const code = await applySpool(io, globals, options, target, spoolPath, mapping, dfsp, definition, watchReport('earlier window'));
        if (code !== ExitCode.ok && code !== ExitCode.rejected) return code;
        await finishWindow(statePath, spoolPath, mapping);
        if (options.instanceId !== undefined) return code;
      }

      const odkForm = await client.form(target.project, target.form);
      if (odkForm.publishedAt === null) throw new UsageError('odk.not_published', `${client.server}: form "${target.form}" has never been published, so it has no submissions to read`);
      if (odkForm.keyId !== null) {
        throw new UsageError('odk.encrypted', `${client.server}: form "${target.form}" is encrypted; Central cannot hand its data over the API`, { hint: 'import a decrypted export instead, or publish the form without encryption' });
      }
      const { mappingFieldProblems, planWindow, changeFilter, deletionFilter, windowStart } = await import('../../core/odk.js');
      const problems = mappingFieldProblems(mappingSources(mapping), await client.fields(target.project, target.form));
      if (problems.length > 0) {
        throw new UsageError('odk.mapping_mismatch', `${options.mapping} does not fit form "${target.form}": ${problems.join('; ')}; nothing was imported`, {
          hint: 'paths are the OData names, groups joined with dots (see GET …/forms/{form}/fields?odata=true)',
        });
      }

      const { readOdkState, writeOdkState } = await import('../../adapters/odk/odk-state.js');
      const state = readOdkState(statePath);
      let changes: import('../../core/odk.js').OdkSubmission[] = [];
      let deletions: import('../../core/odk.js').OdkSubmission[] = [];
      if (options.instanceId !== undefined) {
        const one = await client.submission(target.project, target.form, options.instanceId);
        if (one === undefined) {
          throw new UsageError('odk.not_found', `${client.server}: form "${target.form}" has no submission ${options.instanceId} (or it was deleted)`, {
            hint: "give the submission's __id (the instanceID it was first sent with), not the instanceID of a later edit",
          });
        }
        changes = [one];
      } else {
        const from = options.full ? undefined : windowStart(state.watermark, options.overlap);
        for await (const page of client.submissions(target.project, target.form, { ...(changeFilter(from) === undefined ? {} : { filter: changeFilter(from)! }), pageSize: options.pageSize })) changes.push(...page);
        if (options.onDelete === 'unlink') {
          for await (const page of client.submissions(target.project, target.form, { filter: deletionFilter(from), pageSize: options.pageSize })) deletions.push(...page);
        }
      }
      // --instance-id is a fix of one record: it is applied even when it was applied before.
      const seen = options.instanceId === undefined ? new Map(Object.entries(state.seen)) : new Map<string, string>();
      const planned = planWindow(changes, deletions, seen, { skipReviewStates: options.instanceId === undefined ? skipReview : [], onDelete: options.onDelete });
      // Which beneficiary each submission names now, and which one it linked before.
      const beneficiaryOf = (submission: import('../../core/odk.js').OdkSubmission) => {
        const read = applyMapping({ ...mapping, operation: { at: '(id only)', constant: 'unlink' } }, objectRow(submission), undefined);
        return read.ok && typeof read.record['id'] === 'string' ? read.record['id'] : undefined;
      };
      const linkedBy = new Map(Object.entries(state.ids ?? {}));
      const deleted = new Set(planned.entries.filter((entry) => entry.kind === 'delete').map((entry) => entry.submission.__id));
      // Who names each beneficiary after this window: what was applied, updated by the window's changes.
      const named = new Map(linkedBy);
      for (const entry of planned.entries) {
        const id = entry.kind === 'change' ? beneficiaryOf(entry.submission) : undefined;
        if (id !== undefined) named.set(entry.submission.__id, id);
      }
      const namers = new Map<string, string[]>();
      for (const [submission, id] of named) namers.set(id, [...(namers.get(id) ?? []), submission]);
      let stillCovered = 0;
      const unlinking = new Set<string>();
      // Deletions that unlink nothing are still done with: remembered so they are not weighed again.
      const settledDeletions: { id: string; version: string }[] = [];
      const entries = planned.entries.filter((entry) => {
        if (entry.kind !== 'delete') return true;
        // Unlinking stops payments: only a link this import made, once, and only when no other
        // live submission names the same beneficiary.
        const id = linkedBy.get(entry.submission.__id);
        const other = id === undefined ? undefined : (namers.get(id) ?? []).find((submission) => submission !== entry.submission.__id && !deleted.has(submission));
        if (id === undefined || other !== undefined || unlinking.has(id)) {
          stillCovered++;
          settledDeletions.push({ id: entry.submission.__id, version: entry.version });
          const why = id === undefined ? 'this import never linked it' : other !== undefined ? `${id} is still named by submission ${other}` : `${id} is unlinked by another deletion in this run`;
          say(`sparctl: ${entry.submission.__id} was deleted in Central, but ${why}: not unlinked`);
          return false;
        }
        unlinking.add(id);
        return true;
      });
      for (const entry of entries) {
        if (entry.kind !== 'change') continue;
        const before = linkedBy.get(entry.submission.__id);
        const now = beneficiaryOf(entry.submission);
        if (before !== undefined && now !== undefined && before !== now) {
          say(`sparctl: warning: submission ${entry.submission.__id} now names beneficiary ${now}, not ${before}; ${before} stays linked (unlink it with "sparctl unlink --id ${before}" if it was a mistake)`);
        }
      }
      // A deletion unlinks the beneficiary this import linked for it, whatever the deleted data says.
      const plan = { ...planned, entries: entries.map((entry) => (entry.kind === 'delete' ? { ...entry, beneficiary: linkedBy.get(entry.submission.__id)! } : entry)) };
      const notes = [
        stillCovered > 0 ? `${stillCovered} deletions not unlinked` : '',
        plan.alreadySeen > 0 ? `${plan.alreadySeen} already applied` : '',
        plan.skippedByReview > 0 ? `${plan.skippedByReview} skipped for their review state (${skipReview.join(', ')})` : '',
        plan.deletionsIgnored > 0 ? `${plan.deletionsIgnored} deletions ignored` : '',
      ].filter(Boolean);
      say(`sparctl: ${client.server} form ${target.form}: ${changes.length + deletions.length} submission${changes.length + deletions.length === 1 ? '' : 's'} read, ${plan.entries.length} to apply${notes.length > 0 ? ` (${notes.join(', ')})` : ''}`);
      if (plan.entries.length === 0) {
        if (!options.dryRun && options.instanceId === undefined) {
          const newer = plan.newestStamp !== undefined && (state.watermark === undefined || Date.parse(plan.newestStamp) > Date.parse(state.watermark));
          writeOdkState(statePath, settleDeletions({ ...state, ...(newer ? { watermark: plan.newestStamp! } : {}) }, settledDeletions));
        }
        return ExitCode.ok;
      }
      if (stopping) return ExitCode.interrupted;
      mkdirSync(stateDir, { recursive: true, mode: 0o700 });
      const window = { ...(options.instanceId === undefined && plan.newestStamp !== undefined ? { watermark: plan.newestStamp } : {}), settledDeletions };
      // Whole or not at all: a kill while writing must not leave half a window to resume.
      const partial = `${spoolPath}.${process.pid}.tmp`;
      writeFileSync(partial, `${JSON.stringify({ window })}\n${plan.entries.map((entry) => JSON.stringify(entry)).join('\n')}\n`, { mode: 0o600 });
      renameSync(partial, spoolPath);
      const code = await applySpool(io, globals, options, target, spoolPath, mapping, dfsp, definition, watchReport('poll'));
      if (options.dryRun) rmSync(spoolPath, { force: true });
      else if (code === ExitCode.ok || code === ExitCode.rejected) await finishWindow(statePath, spoolPath, mapping);
      return code;
    };

    if (!options.watch) return await poll();
    process.on('SIGINT', onSigint);
    let last: number = ExitCode.ok;
    for (;;) {
      try {
        last = await poll();
      } catch (error) {
        // A Central or mapper outage ends one poll, not the watch: the next poll tries again.
        if (!(error instanceof UnavailableError)) throw error;
        say(`sparctl: poll failed: ${error.message}; trying again in ${options.interval} s`);
        last = ExitCode.unavailable;
      }
      if (last === ExitCode.interrupted || stopping) return ExitCode.interrupted;
      if (last !== ExitCode.ok && last !== ExitCode.rejected && last !== ExitCode.unavailable) return last;
      const waited = await sleepUnless(options.interval * 1000, () => stopping);
      if (!waited) return ExitCode.interrupted;
    }
  } finally {
    process.off('SIGINT', onSigint);
    await client.close();
  }
}

/** Deletions handled without an unlink: seen, and no longer naming a beneficiary. */
function settleDeletions(state: import('../../adapters/odk/odk-state.js').OdkState, deletions: readonly { id: string; version: string }[]): import('../../adapters/odk/odk-state.js').OdkState {
  if (deletions.length === 0) return state;
  const seen = { ...state.seen };
  const ids = { ...state.ids };
  for (const { id, version } of deletions) {
    seen[id] = version;
    delete ids[id];
  }
  return { ...state, seen, ids };
}

function report(say: (line: string) => void, what: string, summary: BulkSummary): void {
  say(`sparctl: ${what}: ${summary.applied} applied, ${summary.unchanged} unchanged, ${summary.rejected} rejected, ${summary.notSent} not done (${summary.seconds.toFixed(1)} s)`);
}

/** Moves the state past a window that is done (every record applied, unchanged or rejected for good). */
async function finishWindow(statePath: string, spoolPath: string, mapping: import('../../core/mapping.js').CompiledMapping): Promise<void> {
  const { readOdkState, writeOdkState } = await import('../../adapters/odk/odk-state.js');
  const { applyMapping, objectRow } = await import('../../core/mapping.js');
  const lines = readFileSync(spoolPath, 'utf8').split('\n').filter(Boolean);
  const head = JSON.parse(lines[0]!) as { window: { watermark?: string; settledDeletions?: { id: string; version: string }[] } };
  const state = readOdkState(statePath);
  const seen = { ...state.seen };
  const ids = { ...state.ids };
  for (const line of lines.slice(1)) {
    const entry = JSON.parse(line) as { kind: 'change' | 'delete'; version: string; submission: { __id: string } };
    seen[entry.submission.__id] = entry.version;
    const read = applyMapping({ ...mapping, operation: { at: '(id only)', constant: 'unlink' } }, objectRow(entry.submission), undefined);
    if (entry.kind === 'delete') delete ids[entry.submission.__id];
    else if (read.ok && typeof read.record['id'] === 'string') ids[entry.submission.__id] = read.record['id'];
  }
  const newer = head.window.watermark !== undefined && (state.watermark === undefined || Date.parse(head.window.watermark) > Date.parse(state.watermark));
  const watermark = newer ? head.window.watermark : state.watermark;
  writeOdkState(statePath, settleDeletions({ ...(watermark === undefined ? {} : { watermark }), seen, ids }, head.window.settledDeletions ?? []));
  rmSync(spoolPath, { force: true });
}

async function applySpool(
  io: Io,
  globals: GlobalOptions,
  options: ImportOdkOptions,
  target: OdkTarget,
  spoolPath: string,
  mapping: import('../../core/mapping.js').CompiledMapping,
  dfsp: import('../../core/mapping.js').DfspLookup | undefined,
  definition: string,
  onSummary: ((summary: BulkSummary) => void) | undefined,
): Promise<number> {
  const { runBulkJob } = await import('./bulk-job.js');
  const { applyMapping, objectRow, mappingColumns, rowKey } = await import('../../core/mapping.js');
  const { provenanceOf } = await import('../../core/odk.js');
  const { toBulkRecord } = await import('../../core/bulk/input.js');
  const unlinkMapping = { ...mapping, operation: { at: '(deleted in Central)', constant: 'unlink' } };
  const columns = ['odk_submission', 'odk_instance', 'odk_submitter', 'odk_submission_date', 'odk_review_state', ...mappingColumns(mapping)];
  return runBulkJob(io, options.watch ? { ...globals, quiet: true } : globals, options, {
    command: 'import-odk',
    mode: 'upsert',
    file: spoolPath,
    definition,
    ...(onSummary === undefined ? {} : { onSummary }),
    records: async (_context, mapper, path) => {
      const { openInputFile } = await import('../../adapters/input/record-file.js');
      const strategies = new Map((await mapper.strategies()).map((s) => [s.id, s]));
      const input = await openInputFile(path, { format: 'jsonl', stdin: io.stdin });
      async function* records() {
        let seq = 0;
        for await (const batch of input.batches) {
          const out = [];
          for (const source of batch) {
            if (source.line === 1) continue; // the window's own line
            const entry = source.record as unknown as import('../../core/odk.js').OdkEntry;
            const submission = entry.submission;
            const read = objectRow(submission);
            const provenance = provenanceOf(submission, target.form);
            const raw: Record<string, string> = {
              odk_submission: submission.__id,
              odk_instance: provenance['odk_instance'] ?? '',
              odk_submitter: provenance['odk_submitter'] ?? '',
              odk_submission_date: submission.__system.submissionDate,
              odk_review_state: submission.__system.reviewState ?? 'received',
            };
            for (const column of columns.slice(5)) raw[column] = read(column) ?? '';
            const origin = Object.entries(provenance).map(([k, v]) => `${k}=${v}`).join(' ');
            const linked = (entry as { beneficiary?: string }).beneficiary;
            if (entry.kind === 'delete' && linked !== undefined) {
              out.push({ ...toBulkRecord(seq++, undefined, { id: linked, operation: 'unlink' }, raw, { mode: 'upsert', strategies, unlinkConfirmed: globals.yes === true }), origin });
              continue;
            }
            const mapped = applyMapping(entry.kind === 'delete' ? unlinkMapping : mapping, read, dfsp);
            if (!mapped.ok) {
              // The ID the submission names when it can be built, so the results and reject files name the beneficiary.
              out.push({ seq: seq++, raw, origin, key: rowKey(mapping, read), parsed: { ok: false as const, problems: mapped.problems } });
              continue;
            }
            const record = entry.kind === 'delete' ? { ...mapped.record, operation: 'unlink' } : { ...mapped.record, additional_info: [provenance] };
            out.push({ ...toBulkRecord(seq++, undefined, record, raw, { mode: 'upsert', strategies, unlinkConfirmed: globals.yes === true }), origin });
          }
          yield out;
        }
      }
      return { records: records(), columns: () => columns, headerLines: 1 };
    },
  });
}

/** The local mapper's identity (created now when missing, as the import is about to create it). */
async function localInstanceId(db: string, dryRun: boolean): Promise<string> {
  if (dryRun && !existsSync(db)) return 'new';
  const { LocalMapper } = await import('../../adapters/sqlite/local-mapper.js');
  const mapper = LocalMapper.open(db, undefined, { readOnly: dryRun });
  try {
    return mapper.instanceId;
  } finally {
    await mapper.close();
  }
}

/** Where the password comes from: env, a file, or a prompt on a terminal — read only when a login is needed. */
async function passwordSource(io: Io, globals: GlobalOptions, file: string | undefined, fromEnv: string | undefined): Promise<(() => Promise<string>) | undefined> {
  if (fromEnv !== undefined) return async () => fromEnv;
  if (file !== undefined) return async () => (await readText(file, '--odk-password-file')).replace(/\r?\n$/, '');
  if (globals.input === false || !io.stdinIsTTY || !io.stderrIsTTY) return undefined;
  return async () => {
    const { password } = await import('@inquirer/prompts');
    return password({ message: 'ODK Central password:', mask: true }, { input: io.stdin, output: io.stderr });
  };
}

function sleepUnless(ms: number, stop: () => boolean): Promise<boolean> {
  return new Promise((resolve) => {
    const started = Date.now();
    const tick = setInterval(() => {
      if (stop()) {
        clearInterval(tick);
        resolve(false);
      } else if (Date.now() - started >= ms) {
        clearInterval(tick);
        resolve(true);
      }
    }, 100);
  });
}
