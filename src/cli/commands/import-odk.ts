import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Command, Option } from 'commander';
import { ConfigError, ExitCode, UnavailableError, UsageError } from '../../core/errors.js';
import type { BulkSummary } from '../../core/bulk/events.js';
import type { GlobalOptions } from '../context.js';
import type { Io } from '../io.js';
import { redactUrl } from '../../config/redact.js';
import { addBulkOptions } from '../bulk-options.js';
import type { BulkJobFlags } from '../bulk-job.js';
import { parseJson, readText } from '../files.js';
import { parsePositive } from '../parse.js';

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
  onReject: 'keep' | 'warn' | 'unlink';
  overlap: number;
  pageSize: number;
  full?: boolean;
  reapply?: boolean;
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
    .addOption(
      new Option('--on-delete <policy>', "a submission deleted in Central (or edited to name another ID): leave its beneficiary linked, or undo this importer's link (needs --yes)")
        .choices(['ignore', 'unlink'])
        .default('ignore'),
    )
    .addOption(
      new Option('--on-reject <policy>', "a submission a reviewer rejects after it was applied: keep its link, keep it and say so, or undo this importer's link (needs --yes)")
        .choices(['keep', 'warn', 'unlink'])
        .default('warn'),
    )
    .option('--overlap <seconds>', 're-read this much before the watermark: submissions become visible slightly after their stamp', (v) => parseNonNegative(v, '--overlap'), 300)
    .option('--page-size <n>', 'submissions per page of the OData feed', (v) => parsePositive(v, '--page-size'), 250)
    .option('--full', 'read every submission again (content applied before is not applied again)')
    .option('--reapply', 'read every submission and write each live one again with the current mapping and DFSP data (a change made in the mapper since wins)')
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

/** One line of a window's spool: what to do, and the submission it is about, as Central gave it. */
interface SpoolEntry {
  readonly action: import('../../core/odk-claims.js').ClaimAction;
  readonly submission: import('../../core/odk.js').OdkSubmission;
}

interface SpoolHead {
  readonly window: { readonly watermark?: string; readonly claims: Readonly<Record<string, import('../../core/odk-claims.js').Claim>> };
}

/** A digest of a stored FA string: what the import state keeps of what it wrote (never the FA). */
const faDigest = (fa: string) => createHash('sha256').update(fa).digest('base64url').slice(0, 22);

async function runImportOdk(io: Io, globals: GlobalOptions, options: ImportOdkOptions): Promise<number> {
  const { loadContext } = await import('../context.js');
  const context = await loadContext(io, globals);
  const { settings } = context.resolved;
  const url = options.odkUrl ?? settings.odkUrl;
  const project = options.project ?? settings.odkProject;
  const form = options.form ?? settings.odkForm;
  const missing = [url === undefined ? 'the server (--odk-url, odkUrl, SPARCTL_ODK_URL)' : '', project === undefined ? 'the project (--project, odkProject)' : '', form === undefined ? 'the form (--form, odkForm)' : ''].filter(Boolean);
  if (missing.length > 0) {
    throw new ConfigError('odk.not_configured', `import-odk needs ${missing.join(', ')}`, { hint: 'put odkUrl, odkProject and odkForm in a profile — README "import-odk: submissions from ODK Central"' });
  }
  const target: OdkTarget = { url: url!, project: project!, form: form! };
  const skipReview = options.skipReview.split(',').map((state) => state.trim()).filter(Boolean);
  const { REVIEW_STATES } = await import('../../core/odk.js');
  const unknownState = skipReview.find((state) => !(REVIEW_STATES as readonly string[]).includes(state));
  if (unknownState !== undefined) throw new UsageError('usage.review_state', `--skip-review: "${unknownState}" is not a review state (${REVIEW_STATES.join(', ')})`);
  for (const [flag, policy] of [['--on-delete', options.onDelete], ['--on-reject', options.onReject]] as const) {
    if (policy === 'unlink' && !globals.yes) {
      throw new UsageError('usage.confirmation_required', `${flag} unlink removes the financial address of beneficiaries this importer linked; nothing was imported`, { hint: 'pass --yes as well to allow it' });
    }
  }

  const mappingText = await readText(options.mapping, '--mapping');
  const dfspText = options.dfsp ? await readText(options.dfsp, '--dfsp') : undefined;
  const { compileMapping, dfspLookupFrom, mappingSources } = await import('../../core/mapping.js');
  const mapping = compileMapping(parseJson(mappingText, options.mapping), options.mapping);
  let dfsp = dfspText === undefined ? undefined : dfspLookupFrom(parseJson(dfspText, options.dfsp!), options.dfsp);
  let dfspKnown = dfspText;
  if (dfsp === undefined) {
    // Without --dfsp, the target's own banks and wallet providers (sparctl dfsp import, or dfspUrl).
    const { loadDfsp } = await import('../dfsp-data.js');
    const { dfspLookupOf } = await import('../../core/mapping.js');
    const data = await loadDfsp(context, { required: false });
    if (data !== undefined) {
      dfsp = dfspLookupOf(data, 'the DFSP data of the target');
      dfspKnown = JSON.stringify(data);
    }
  }

  // The state belongs to this form in this mapper: a new database starts from the beginning.
  const { announceTarget, localMapperFile } = await import('../context.js');
  announceTarget(context);
  const mapperIdentity =
    settings.mode === 'local' ? `local ${settings.db} ${await localInstanceId(localMapperFile(context, options.dryRun === true ? 'dry-run' : 'write'), options.dryRun === true)}` : `${settings.protocol} ${redactUrl(settings.baseUrl!)}`;
  // The same server named with or without /v1 or a trailing slash is the same state.
  const server = target.url.replace(/\/+$/, '').replace(/\/v1$/, '');
  const key = createHash('sha256').update(JSON.stringify([server, target.project, target.form, mapperIdentity])).digest('hex').slice(0, 24);
  const stateDir = join(context.dirs.state, 'odk', key);
  const statePath = join(stateDir, 'state.json');
  // The window being applied: what to do, with the submissions as read, one JSON line each. It
  // holds beneficiaries' data, so it is 0600 and removed as soon as its window is done.
  const safeForm = target.form.replace(/[^A-Za-z0-9_.-]/g, '_');
  // A dry run, or a fix of one submission, never touches the window a regular run may have left.
  const spoolPath = join(stateDir, options.dryRun ? `${safeForm}.dry-run.jsonl` : options.instanceId === undefined ? `${safeForm}.jsonl` : `${safeForm}.instance.jsonl`);
  const definition = JSON.stringify({ mapping: mappingText, dfsp: dfspKnown ?? null, form: target.form });
  const policies = {
    // --instance-id with --yes applies a submission whatever its review state says.
    skipReview: options.instanceId !== undefined && globals.yes ? skipReview.filter((state) => state !== 'rejected') : skipReview,
    onDelete: options.onDelete,
    onReject: options.onReject,
    reapply: options.reapply === true,
  };

  const odkPasswordFile = options.odkPasswordFile ?? settings.odkPasswordFile;
  const password = await passwordSource(io, globals, odkPasswordFile, settings.odkPassword);
  const secretFrom = settings.odkPassword !== undefined ? 'SPARCTL_ODK_PASSWORD' : odkPasswordFile !== undefined ? `the password in ${odkPasswordFile}` : 'the password typed';
  const email = options.odkEmail ?? settings.odkEmail;
  const { CentralClient } = await import('../../adapters/odk/central-client.js');
  const client = new CentralClient({
    url: target.url,
    auth: { ...(email === undefined ? {} : { email }), ...(password === undefined ? {} : { password }), ...(settings.odkToken === undefined ? {} : { token: settings.odkToken }), secretFrom },
    tokenCacheFile: join(context.dirs.cache, 'odk-sessions.json'),
    timeoutMs: Math.max(settings.timeoutMs, 120_000),
    tls: { caFile: settings.caFile, insecure: settings.insecure },
  });

  // Two runs of one form into one mapper would both apply one window: one waits its turn, no,
  // is refused at once (a dry run writes nothing and needs no lock).
  const { JobLock } = await import('../../adapters/journal/job-lock.js');
  const lock = options.dryRun ? undefined : JobLock.acquire(join(stateDir, 'lock'), `import-odk of form "${target.form}" into this mapper`);
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
    // Who changed a beneficiary the importer kept its hands off, and when: the local mapper's audit log says.
    const lastChange = async (id: string): Promise<string | undefined> => {
      if (settings.mode !== 'local' || !existsSync(settings.db!)) return undefined;
      const { LocalMapper } = await import('../../adapters/sqlite/local-mapper.js');
      const local = LocalMapper.open(settings.db!, undefined, { readOnly: true });
      try {
        const last = local.auditRows(id).at(-1);
        return last === undefined ? undefined : `${last.source} at ${last.at}`;
      } finally {
        await local.close();
      }
    };
    const apply = async (path: string, what: string) => {
      const { code, kept } = await applyWindow(io, globals, options, target, path, statePath, mapping, dfsp, definition, watchReport(what));
      for (const id of kept.slice(0, 20)) {
        const by = await lastChange(id);
        say(`sparctl: kept ${id}: changed in the mapper since this importer wrote it${by === undefined ? '' : ` (${by})`}`);
      }
      if (kept.length > 20) say(`sparctl: … and ${kept.length - 20} more kept`);
      return code;
    };
    const poll = async (): Promise<number> => {
      let leftover: number = ExitCode.ok;
      // An earlier run left a window unfinished: finish it before reading anything new.
      if (existsSync(spoolPath) && !options.dryRun) {
        say(`sparctl: finishing the window an earlier run left unfinished (${spoolPath})`);
        leftover = await apply(spoolPath, 'earlier window');
        if (leftover !== ExitCode.ok && leftover !== ExitCode.rejected) return leftover;
        if (options.instanceId !== undefined) return leftover;
      }
      const worst = (code: number) => (code === ExitCode.ok ? leftover : code);

      const odkForm = await client.form(target.project, target.form);
      if (odkForm.publishedAt === null) throw new UsageError('odk.not_published', `${client.server}: form "${target.form}" has never been published, so it has no submissions to read`);
      if (odkForm.keyId !== null) {
        throw new UsageError('odk.encrypted', `${client.server}: form "${target.form}" is encrypted; Central cannot hand its data over the API`, { hint: 'import a decrypted export instead, or publish the form without encryption' });
      }
      const { mappingFieldProblems, changeFilter, deletionFilter, windowStart, latestStates } = await import('../../core/odk.js');
      const problems = mappingFieldProblems(mappingSources(mapping), await client.fields(target.project, target.form));
      if (problems.length > 0) {
        throw new UsageError('odk.mapping_mismatch', `${options.mapping} does not fit form "${target.form}": ${problems.join('; ')}; nothing was imported`, {
          hint: 'paths are the OData names, groups joined with dots (see GET …/forms/{form}/fields?odata=true)',
        });
      }

      const { readOdkState, writeOdkState } = await import('../../adapters/odk/odk-state.js');
      const state = readOdkState(statePath);
      let changes: import('../../core/odk.js').OdkSubmission[] = [];
      const deletions: import('../../core/odk.js').OdkSubmission[] = [];
      if (options.instanceId !== undefined) {
        const one = await client.submission(target.project, target.form, options.instanceId);
        if (one === undefined) {
          throw new UsageError('odk.not_found', `${client.server}: form "${target.form}" has no submission ${options.instanceId} (or it was deleted)`, {
            hint: "give the submission's __id (the instanceID it was first sent with), not the instanceID of a later edit",
          });
        }
        if (one.__system.reviewState === 'rejected' && skipReview.includes('rejected') && !globals.yes) {
          throw new UsageError('odk.instance_rejected', `${options.instanceId} was rejected by a reviewer in Central; nothing was imported`, { hint: 'pass --yes to apply it all the same' });
        }
        if (one.__system.reviewState === 'rejected') say(`sparctl: warning: ${options.instanceId} was rejected by a reviewer in Central; applying it as asked (--yes)`);
        changes = [one];
      } else {
        const from = options.full || options.reapply ? undefined : windowStart(state.watermark, options.overlap);
        for await (const page of client.submissions(target.project, target.form, { ...(changeFilter(from) === undefined ? {} : { filter: changeFilter(from)! }), pageSize: options.pageSize })) changes.push(...page);
        // Deletions are read whatever the policy: a deleted submission no longer claims its beneficiary.
        for await (const page of client.submissions(target.project, target.form, { filter: deletionFilter(from), pageSize: options.pageSize })) deletions.push(...page);
      }
      const { latest, newestStamp } = latestStates(changes, deletions);
      const { objectRow, rowKey } = await import('../../core/mapping.js');
      const { planClaims } = await import('../../core/odk-claims.js');
      const submissions = [...latest.values()].map((submission) => ({
        id: submission.__id,
        instance: submission.meta?.instanceID ?? submission.__id,
        date: submission.__system.submissionDate,
        review: submission.__system.reviewState ?? 'received',
        deleted: submission.__system.deletedAt !== null,
        beneficiary: rowKey(mapping, objectRow(submission)),
      }));
      const plan = planClaims(state.claims, submissions, policies, options.instanceId === undefined ? new Set() : new Set([options.instanceId]));
      // An older owner takes its beneficiary back: its content as Central has it now.
      const content = new Map([...latest.values()].map((submission) => [submission.__id, submission]));
      for (const id of plan.fetch) {
        const fetched = await client.submission(target.project, target.form, id);
        if (fetched !== undefined) content.set(id, fetched);
      }
      const shown = plan.notes.slice(0, 20);
      for (const note of shown) say(`sparctl: ${note}`);
      if (plan.notes.length > shown.length) say(`sparctl: … and ${plan.notes.length - shown.length} more like these`);
      const notes = [
        plan.counts.alreadyApplied > 0 ? `${plan.counts.alreadyApplied} already applied` : '',
        plan.counts.skippedByReview > 0 ? `${plan.counts.skippedByReview} skipped for their review state (${policies.skipReview.join(', ')})` : '',
      ].filter(Boolean);
      say(`sparctl: ${client.server} form ${target.form}: ${latest.size} submission${latest.size === 1 ? '' : 's'} read, ${plan.actions.length} to apply${notes.length > 0 ? ` (${notes.join(', ')})` : ''}`);
      const watermark = options.instanceId === undefined ? newestStamp : undefined;
      if (plan.actions.length === 0) {
        if (!options.dryRun) {
          const newer = watermark !== undefined && (state.watermark === undefined || Date.parse(watermark) > Date.parse(state.watermark));
          const kept = newer ? watermark : state.watermark;
          writeOdkState(statePath, { ...(kept === undefined ? {} : { watermark: kept }), claims: plan.claims });
        }
        return worst(ExitCode.ok);
      }
      if (stopping) return ExitCode.interrupted;
      mkdirSync(stateDir, { recursive: true, mode: 0o700 });
      const entries = plan.actions.map((action): SpoolEntry => {
        const submission = content.get(action.submission) ?? latest.get(action.submission)!;
        return { action, submission };
      });
      const head: SpoolHead = { window: { ...(watermark === undefined ? {} : { watermark }), claims: plan.claims } };
      // Whole or not at all: a kill while writing must not leave half a window to resume.
      const partial = `${spoolPath}.${process.pid}.tmp`;
      writeFileSync(partial, `${JSON.stringify(head)}\n${entries.map((entry) => JSON.stringify(entry)).join('\n')}\n`, { mode: 0o600 });
      renameSync(partial, spoolPath);
      const code = await apply(spoolPath, 'poll');
      if (options.dryRun) rmSync(spoolPath, { force: true });
      return worst(code);
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
    lock?.release();
    await client.close();
  }
}

function report(say: (line: string) => void, what: string, summary: BulkSummary): void {
  const earlier = Object.values(summary.earlier).reduce((a, b) => a + (b ?? 0), 0);
  say(
    `sparctl: ${what}: ${summary.applied} applied, ${summary.unchanged} unchanged, ${summary.rejected} rejected, ${summary.notSent} not done${earlier > 0 ? ` (${earlier} of them settled by an earlier run)` : ''} (${summary.seconds.toFixed(1)} s)`,
  );
}

/**
 * Applies a window's spool through the write pipeline, and once it is done (every write
 * applied, unchanged or rejected for good) records what was written in the state — only what
 * the mapper confirmed — and moves the watermark.
 */
async function applyWindow(
  io: Io,
  globals: GlobalOptions,
  options: ImportOdkOptions,
  target: OdkTarget,
  spoolPath: string,
  statePath: string,
  mapping: import('../../core/mapping.js').CompiledMapping,
  dfsp: import('../../core/mapping.js').DfspLookup | undefined,
  definition: string,
  onSummary: ((summary: BulkSummary) => void) | undefined,
): Promise<{ code: number; kept: string[] }> {
  const { runBulkJob } = await import('../bulk-job.js');
  const { applyMapping, objectRow, mappingColumns, rowKey } = await import('../../core/mapping.js');
  const { provenanceOf } = await import('../../core/odk.js');
  const { toBulkRecord } = await import('../../core/bulk/input.js');
  const columns = ['odk_submission', 'odk_instance', 'odk_submitter', 'odk_submission_date', 'odk_review_state', ...mappingColumns(mapping)];
  // What each write of this run wrote (by position), and how each ended.
  const digests = new Map<number, string>();
  const fates = new Map<number, import('../../core/bulk/events.js').RecordEvent>();
  const code = await runBulkJob(io, options.watch ? { ...globals, quiet: true } : globals, options, {
    command: 'import-odk',
    mode: 'upsert',
    file: spoolPath,
    definition,
    faDigest,
    // Audit rows name the form; each row's origin names the submission.
    source: `sparctl import-odk form ${target.form}`,
    collect: (event) => fates.set(event.seq, event),
    ...(onSummary === undefined ? {} : { onSummary }),
    records: async (_context, mapper, path) => {
      const { openInputFile } = await import('../../adapters/input/record-file.js');
      const strategies = new Map((await mapper.strategies()).map((s) => [s.id, s]));
      const input = await openInputFile(path, { format: 'jsonl', stdin: io.stdin });
      async function* records() {
        let seq = 0;
        for await (const batch of input.batches) {
          const out: import('../../core/bulk/types.js').BulkInputRecord[] = [];
          for (const source of batch) {
            if (source.line === 1) continue; // the window's own line
            const { action, submission } = source.record as unknown as SpoolEntry;
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
            const at = seq++;
            if (action.kind === 'undo') {
              // Only the importer's own write, and only while the mapper still holds it.
              out.push({ seq: at, key: action.beneficiary, raw, origin, parsed: { ok: true, value: { id: action.beneficiary, onlyIfFa: action.fa }, mode: 'unlink' } });
              continue;
            }
            const mapped = applyMapping(mapping, read, dfsp);
            if (!mapped.ok) {
              out.push({ seq: at, raw, origin, key: rowKey(mapping, read), parsed: { ok: false as const, problems: mapped.problems } });
              continue;
            }
            const record = toBulkRecord(at, undefined, { ...mapped.record, additional_info: [provenance] }, raw, { mode: 'upsert', strategies, unlinkConfirmed: false });
            const parsed = record.parsed;
            if (parsed.ok && parsed.faValue !== undefined) digests.set(at, faDigest(parsed.faValue));
            // A change of owner or a reapply replaces only what the importer wrote there.
            const value = parsed.ok && action.onlyIfFa !== undefined && 'fa' in parsed.value ? { ...parsed.value, onlyIfFa: action.onlyIfFa } : undefined;
            out.push({ ...record, origin, ...(value === undefined || !parsed.ok ? {} : { parsed: { ...parsed, value } }) });
          }
          yield out;
        }
      }
      return { records: records(), columns: () => columns, headerLines: 1 };
    },
  });
  if (!options.dryRun && (code === ExitCode.ok || code === ExitCode.rejected)) await finishWindow(statePath, spoolPath, digests, fates);
  const kept = [...fates.values()].filter((event) => event.code === 'kept.changed_since' && event.id !== undefined).map((event) => event.id!);
  return { code, kept };
}

/** Moves the state past a window that is done: the claims it planned, with what the mapper confirmed written. */
async function finishWindow(statePath: string, spoolPath: string, digests: ReadonlyMap<number, string>, fates: ReadonlyMap<number, import('../../core/bulk/events.js').RecordEvent>): Promise<void> {
  const { readOdkState, writeOdkState } = await import('../../adapters/odk/odk-state.js');
  const { settleClaims } = await import('../../core/odk-claims.js');
  const lines = readFileSync(spoolPath, 'utf8').split('\n').filter(Boolean);
  const head = JSON.parse(lines[0]!) as SpoolHead;
  const results = lines.slice(1).map((line, seq) => {
    const { action } = JSON.parse(line) as SpoolEntry;
    const event = fates.get(seq);
    const written = event?.fate === 'applied' || event?.fate === 'confirmed';
    const kept = event?.code === 'kept.changed_since' || event?.code === 'kept.not_linked';
    return action.kind === 'apply'
      ? { action, written, ...(written && digests.has(seq) ? { fa: digests.get(seq)! } : {}), overwritten: event?.code === 'kept.changed_since' }
      : { action, written, gone: written || kept };
  });
  const state = readOdkState(statePath);
  const newer = head.window.watermark !== undefined && (state.watermark === undefined || Date.parse(head.window.watermark) > Date.parse(state.watermark));
  const watermark = newer ? head.window.watermark : state.watermark;
  writeOdkState(statePath, { ...(watermark === undefined ? {} : { watermark }), claims: settleClaims(head.window.claims, results) });
  rmSync(spoolPath, { force: true });
}

/** The local mapper's identity (created now when missing, as the import is about to create it). */
async function localInstanceId(file: { path: string; exists: boolean }, dryRun: boolean): Promise<string> {
  // A dry run creates nothing: a mapper still to be made has no identity yet. A real run makes
  // it now (the file passed the creation rule), so that its state is keyed to it from the start.
  if (dryRun && !file.exists) return 'new';
  const { LocalMapper } = await import('../../adapters/sqlite/local-mapper.js');
  const mapper = LocalMapper.open(file.path, undefined, { readOnly: dryRun });
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
