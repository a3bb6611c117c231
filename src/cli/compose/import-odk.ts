import { createHash } from 'node:crypto';
import { appendFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { hostTag, processRuns } from '../../adapters/files/pid-lock.js';
import type { ImportOdkDeps, MapperHeld, OdkStore, StateElsewhere, StateOrigin } from '../../app/import-odk.js';
import { duringRunError, makeFolders } from '../../adapters/files/fs-errors.js';
import { checkedBearerToken } from '../../config/bearer-token.js';
import { earlierRemoteIdentity, remoteIdentity } from '../../config/redact.js';
import type { BulkJobFlags } from '../bulk-job.js';
import { realMapperPath } from './bulk-job.js';
import { announceTarget, localMapperFile, openMapper, warnIfInTheClear, warnIfReadableByOthers, type CommandContext } from '../context.js';
import { parseJson, readText } from '../files.js';
import { onStopSignals } from '../io.js';
import type { Mapper } from '../../core/mapper.js';

/** What the import-odk use case needs, from this command's settings: the composition of app/import-odk.ts. */
export function importOdkDeps(
  context: CommandContext,
  flags: BulkJobFlags & { odkEmail?: string; odkPasswordFile?: string },
): ImportOdkDeps {
  const { io, globals } = context;
  const { settings } = context.resolved;
  // The settings' own odkPasswordFile was looked at with the context; the flag's file is this command's.
  if (flags.odkPasswordFile !== undefined && flags.odkPasswordFile !== settings.odkPasswordFile)
    warnIfReadableByOthers(io, '--odk-password-file', flags.odkPasswordFile);
  return {
    settings,
    yes: globals.yes === true,
    quiet: globals.quiet === true,
    readText,
    parseJson,
    targetDfsp: async () => {
      const { loadDfsp } = await import('../dfsp-data.js');
      return loadDfsp(context, { required: false });
    },
    announceTarget: () => announceTarget(context),
    // A local mapper is the file, whatever path names it: the state key and the run's lock are
    // the same through a symbolic link (two runs through two names both ran, each with half the
    // ownership records).
    mapperIdentity: async (dryRun) =>
      settings.mode === 'local'
        ? `local ${realMapperPath(settings.db!)} ${await localInstanceId(localMapperFile(context, dryRun ? 'dry-run' : 'write'), dryRun)}`
        : remoteIdentity(settings.protocol, settings.baseUrl!),
    // Earlier sparctls keyed it by the path, or the URL, as given.
    earlierMapperIdentity: async (dryRun) =>
      settings.mode === 'local'
        ? `local ${settings.db} ${await localInstanceId(localMapperFile(context, dryRun ? 'dry-run' : 'write'), dryRun)}`
        : earlierRemoteIdentity(settings.protocol, settings.baseUrl!),
    sha256: (text, encoding) => createHash('sha256').update(text).digest(encoding),
    readMapper: (ids) => readMapper(context, ids),
    openStore: async (key, earlierKey, dryRun, origin) =>
      odkStore(await stateDir(join(context.dirs.state, 'odk'), key, earlierKey, dryRun), dryRun ? undefined : origin, dryRun),
    statesElsewhere: async (key, origin) => statesElsewhere(join(context.dirs.state, 'odk'), key, origin),
    openCentral: async (url, dryRun) => {
      // Flags win over the environment: --odk-password-file over SPARCTL_ODK_PASSWORD, which wins
      // over odkPasswordFile from the environment or the profile.
      const fromFlag = flags.odkPasswordFile;
      const fromEnv = fromFlag === undefined ? settings.odkPassword : undefined;
      const odkPasswordFile = fromFlag ?? (fromEnv === undefined ? settings.odkPasswordFile : undefined);
      const password = passwordSource(context, odkPasswordFile, fromEnv);
      const secretFrom =
        fromEnv !== undefined
          ? 'SPARCTL_ODK_PASSWORD'
          : odkPasswordFile !== undefined
            ? `the password in ${odkPasswordFile}`
            : 'the password typed';
      const email = flags.odkEmail ?? settings.odkEmail;
      const { isLoopbackHost } = await import('../../adapters/server/guard.js');
      const sent =
        password !== undefined ? 'the ODK Central password' : settings.odkToken !== undefined ? 'the ODK Central token' : undefined;
      warnIfInTheClear(context.io, url, sent, isLoopbackHost);
      const { CentralClient } = await import('../../adapters/odk/central-client.js');
      return new CentralClient({
        url,
        auth: {
          ...(email === undefined ? {} : { email }),
          ...(password === undefined ? {} : { password }),
          ...(settings.odkToken === undefined ? {} : { token: checkedBearerToken(settings.odkToken, 'SPARCTL_ODK_TOKEN') }),
          secretFrom,
        },
        tokenCacheFile: join(context.dirs.cache, 'odk-sessions.json'),
        // A dry run creates nothing, a session cache included: it uses a cached session, and
        // keeps the one it logs in with to itself.
        keepSession: !dryRun,
        timeoutMs: Math.max(settings.timeoutMs, 120_000),
        tls: { caFile: settings.caFile, insecure: settings.insecure },
      });
    },
    runWindow: async (job) => {
      const { runBulkJob } = await import('../bulk-job.js');
      return runBulkJob(io, job.quiet ? { ...globals, quiet: true } : globals, flags, {
        command: 'import-odk',
        mode: 'upsert',
        // A window started is always finished: started over, it would find its own writes
        // "unchanged" and the importer would forget it made them (never undoing them later).
        noRestart: true,
        // Windows before this one may have been applied already (a poll applies the one left over first).
        unsent: 'nothing of this window was sent',
        // So a journal it cannot use says what removing it by hand costs, and one a kill left of
        // the window settled last is taken over instead of refused.
        journalLost: job.journalLost,
        settledJob: job.settledJournal,
        file: job.path,
        // A dry run's spool is FORM.dry-run.jsonl: its rejects preview is still FORM.rejects.preview.csv.
        stem: basename(job.path, '.jsonl').replace(/\.dry-run$/, ''),
        definition: job.definition,
        faDigest: job.faDigest,
        source: job.source,
        collect: job.collect,
        beforeSending: job.beforeSending,
        beforeForgetting: (_summary, fingerprint) => job.finish(fingerprint),
        ...(job.onSummary === undefined ? {} : { onSummary: job.onSummary }),
        records: async (_context, mapper, path, bytes) => {
          const { openInputFile } = await import('../../adapters/input/record-file.js');
          const strategies = new Map((await mapper.strategies()).map((s) => [s.id, s]));
          const input = await openInputFile(path, {
            format: 'jsonl',
            stdin: io.stdin,
            ...(bytes === undefined ? {} : { sameBytesAs: bytes }),
          });
          return { records: job.records(input.batches, strategies), columns: () => job.columns, headerLines: 1 };
        },
      });
    },
    // Who changed a beneficiary the importer kept its hands off, and when: the local mapper's audit log says.
    lastChange: async (id) => {
      if (settings.mode !== 'local' || !existsSync(settings.db!)) return undefined;
      const { LocalMapper } = await import('../../adapters/sqlite/local-mapper.js');
      const local = LocalMapper.open(settings.db!, undefined, { readOnly: true });
      try {
        const last = local.auditRows(id).at(-1);
        return last === undefined ? undefined : `${last.source} at ${last.at}`;
      } finally {
        await local.close();
      }
    },
    onInterrupt: (handler) => {
      process.on('SIGINT', handler);
      return () => process.off('SIGINT', handler);
    },
    onStopSignal: onStopSignals,
    exitNow: (code) => process.exit(code),
    clock: () => Date.now(),
    sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
    note: (line) => io.stderr.write(`${line}\n`),
    stdoutFailure: () => io.stdoutFailure?.(),
  };
}

/** What the mapper holds for these IDs (read only, in batches): the FA as resolve tells it, and as stored. */
async function readMapper(context: CommandContext, ids: readonly string[]): Promise<ReadonlyMap<string, MapperHeld>> {
  const mapper = await openMapper(context, 'dry-run');
  try {
    return await readHeld(mapper, ids, context.resolved.settings.batchSize);
  } finally {
    await mapper.close();
  }
}

/**
 * readMapper's reading, on an open mapper. Not knowing is never "not linked": a rejected or
 * missing resolve answer stops the run before anything is sent; an FA found whose fields are not
 * told (a string, null) is held with unknown fields, so that what a write replaces is not known.
 */
export async function readHeld(
  mapper: Pick<Mapper, 'strategies' | 'resolve' | 'storedFas'>,
  ids: readonly string[],
  size: number,
): Promise<Map<string, MapperHeld>> {
  const [{ classifyResult }, { storedString }, { UnavailableError }] = await Promise.all([
    import('../../core/results.js'),
    import('../../core/bulk/plan.js'),
    import('../../core/errors.js'),
  ]);
  const source = { source: 'sparctl import-odk' };
  const strategies = new Map((await mapper.strategies()).map((s) => [s.id, s]));
  const held = new Map<string, MapperHeld>();
  for (let at = 0; at < ids.length; at += size) {
    const batch = ids.slice(at, at + size);
    const answers = await mapper.resolve(
      batch.map((id, i) => ({ reference_id: `odk-${at + i}`, id, scope: 'details' as const })),
      source,
    );
    const byRef = new Map(answers.map((answer) => [answer.reference_id, answer]));
    const stored = mapper.storedFas ? await mapper.storedFas(batch, source) : undefined;
    batch.forEach((id, i) => {
      const answer = byRef.get(`odk-${at + i}`);
      const outcome = answer === undefined ? 'rejected' : classifyResult('resolve', answer);
      if (outcome === 'rejected')
        throw new UnavailableError(
          'remote.unexpected_answer',
          `the mapper's resolve answer has no usable result for ${id}${answer ? ` (${answer.status_reason_code ?? 'rjct'})` : ''}: nothing was sent`,
        );
      if (outcome !== 'found') return;
      const fa = answer!.fa;
      const kept = stored?.get(id);
      const string =
        kept !== undefined && typeof kept === 'object'
          ? kept.fa
          : typeof fa === 'string'
            ? fa
            : typeof fa === 'object' && fa !== null
              ? storedString(fa, strategies)
              : undefined;
      held.set(id, { fa: typeof fa === 'object' && fa !== null ? fa : undefined, stored: string });
    });
  }
  return held;
}

/**
 * The state's directory: under its key, or where an earlier sparctl (or another server URL, when
 * adopted) kept it when the key holds no state — moved to the key by a real run (rename: whole or
 * not at all), under that state's lock (a run still using it there is named, and nothing moves),
 * read there by a dry run. A key directory holding no state nor window (a dry run's, a refused
 * run's lock) is set aside first: a rename cannot replace it.
 */
async function stateDir(root: string, key: string, earlierKey: string | undefined, dryRun: boolean): Promise<string> {
  const dir = join(root, key);
  if (earlierKey === undefined || holdsState(dir)) return dir;
  const earlier = join(root, earlierKey);
  if (!existsSync(earlier)) return dir;
  if (dryRun) return earlier;
  const { JobLock } = await import('../../adapters/journal/job-lock.js');
  const lock = JobLock.acquire(join(earlier, 'lock'), 'import-odk of this form into this mapper (under its earlier state key)');
  try {
    if (existsSync(dir)) rmSync(dir, { recursive: true, force: true });
    renameSync(earlier, dir);
  } catch {
    // Another run moved it first (then it is at `dir`), or it cannot be moved: use it where it is.
    if (!holdsState(dir)) return earlier;
  } finally {
    lock.release();
  }
  return dir;
}

/** Whether a state directory holds a state or a window to finish (anything but a lock and a dry run's files). */
function holdsState(dir: string): boolean {
  if (!existsSync(dir)) return false;
  return readdirSync(dir).some((name) => name === 'state.json' || (name.endsWith('.jsonl') && !name.endsWith('.dry-run.jsonl')));
}

/** The file beside a state saying which form and mapper it is of, and under which server URL (StateOrigin). */
const ORIGIN = 'origin.json';

/**
 * States of the same form and mapper kept under other server URLs (same origin key, another
 * state key), when this key has none and made no choice: a state, or an origin recorded by a
 * run of this URL (--odk-state separate, or a first run), is a choice made. States an earlier
 * sparctl kept, without an origin, are not found.
 */
function statesElsewhere(root: string, key: string, origin: StateOrigin): StateElsewhere[] {
  const own = join(root, key);
  if (holdsState(own) || existsSync(join(own, ORIGIN)) || !existsSync(root)) return [];
  const found: StateElsewhere[] = [];
  for (const name of readdirSync(root).sort()) {
    if (name === key) continue;
    const dir = join(root, name);
    if (!holdsState(dir)) continue;
    try {
      const other = JSON.parse(readFileSync(join(dir, ORIGIN), 'utf8')) as Partial<StateOrigin>;
      if (other.formKey === origin.formKey && typeof other.server === 'string') found.push({ key: name, server: other.server, path: dir });
    } catch {
      // No origin (kept by an earlier sparctl, or not a state): not known to be this form's.
    }
  }
  return found;
}

/**
 * The state directory of one form imported into one mapper: state.json, its origin, the window's
 * spool, the lock. Opening it creates nothing: a real run makes the folder when it takes the lock
 * (so that a run refused before that leaves none), and a dry run never makes it — its window goes
 * to a private folder in the system's temporary folder (dryRunFolder).
 */
async function odkStore(dir: string, origin: StateOrigin | undefined, dryRun: boolean): Promise<OdkStore> {
  const { readOdkState, writeOdkState, writeWhole } = await import('../../adapters/odk/odk-state.js');
  const { JobLock } = await import('../../adapters/journal/job-lock.js');
  const statePath = join(dir, 'state.json');
  const folder = dryRun ? dryRunFolder() : { path: () => dir, made: () => true, emptied: () => undefined };
  return {
    readState: () => readOdkState(statePath),
    writeState: (state) => writeOdkState(statePath, state),
    spool: (name) => {
      const at = () => join(folder.path(), name);
      return {
        get path() {
          return at();
        },
        exists: () => folder.made() && existsSync(at()),
        write: (text) => writeWhole(at(), text, 'cannot keep the submissions read'),
        append: (text) => {
          const path = at();
          try {
            makeFolders(dirname(path));
            appendFileSync(path, text, { mode: 0o600 });
          } catch (error) {
            throw duringRunError(path, 'cannot keep what the writes replace', error);
          }
        },
        read: () => readFileSync(at(), 'utf8'),
        remove: () => {
          if (!folder.made()) return;
          rmSync(at(), { force: true });
          folder.emptied();
        },
      };
    },
    lock: (what) => {
      const lock = JobLock.acquire(join(dir, 'lock'), what);
      // A real run records which form, mapper and server URL its state is of (kept up to date: a
      // state taken over from another key was another mapper path's or URL's).
      if (origin !== undefined) {
        try {
          recordOrigin(join(dir, ORIGIN), JSON.stringify(origin), writeWhole);
        } catch (error) {
          lock.release();
          throw error;
        }
      }
      return lock;
    },
  };
}

function recordOrigin(path: string, text: string, writeWhole: (path: string, text: string, what: string) => void): void {
  let held: string | undefined;
  try {
    held = readFileSync(path, 'utf8');
  } catch {
    held = undefined;
  }
  if (held !== text) writeWhole(path, text, 'cannot record which form and server the import state is of');
}

/** A dry run's private folders for its window (in the system's temporary folder): `sparctl-odk-PID-HOST-…`. */
const DRY_RUN_FOLDER = /^sparctl-odk-(\d+)-([0-9a-f]{8})-/;

/**
 * A dry run's folder for its window: made (0700, in the system's temporary folder) when first
 * used, removed once its window is (`emptied`), and with what it holds when the process exits,
 * however it ends in JavaScript (an error, a stop signal). One a killed dry run left is removed by
 * the next, once its process is gone (this host), or a day old (another host's, or its pid reused).
 */
function dryRunFolder(): { path: () => string; made: () => boolean; emptied: () => void } {
  let made: string | undefined;
  const path = () => {
    if (made !== undefined) return made;
    const tmp = tmpdir();
    removeStaleDryRunFolders(tmp);
    try {
      made = mkdtempSync(join(tmp, `sparctl-odk-${process.pid}-${hostTag()}-`));
    } catch (error) {
      throw duringRunError(tmp, "cannot make a dry run's temporary folder", error);
    }
    DRY_RUN_FOLDERS.add(made);
    if (DRY_RUN_FOLDERS.size === 1) process.once('exit', removeDryRunFolders);
    return made;
  };
  const emptied = () => {
    if (made === undefined || readdirSync(made).length > 0) return;
    rmSync(made, { recursive: true, force: true });
    DRY_RUN_FOLDERS.delete(made);
    if (DRY_RUN_FOLDERS.size === 0) process.off('exit', removeDryRunFolders);
    made = undefined;
  };
  return { path, made: () => made !== undefined, emptied };
}

/** This process's dry-run folders not removed yet. */
const DRY_RUN_FOLDERS = new Set<string>();

function removeDryRunFolders(): void {
  for (const folder of DRY_RUN_FOLDERS) rmSync(folder, { recursive: true, force: true });
  DRY_RUN_FOLDERS.clear();
}

function removeStaleDryRunFolders(tmp: string): void {
  let entries: string[];
  try {
    entries = readdirSync(tmp);
  } catch {
    return;
  }
  for (const entry of entries) {
    const match = DRY_RUN_FOLDER.exec(entry);
    if (match === null) continue;
    const folder = join(tmp, entry);
    try {
      const gone = match[2] === hostTag() && Number(match[1]) !== process.pid && !processRuns(Number(match[1]));
      if (gone || Date.now() - statSync(folder).mtimeMs > 24 * 3600 * 1000) rmSync(folder, { recursive: true, force: true });
    } catch {
      // Another user's, or gone meanwhile.
    }
  }
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
function passwordSource(
  context: CommandContext,
  file: string | undefined,
  fromEnv: string | undefined,
): (() => Promise<string>) | undefined {
  const { io, globals } = context;
  if (fromEnv !== undefined) return async () => fromEnv;
  if (file !== undefined) return async () => (await readText(file, '--odk-password-file')).replace(/\r?\n$/, '');
  if (globals.input === false || !io.stdinIsTTY || !io.stderrIsTTY) return undefined;
  return async () => {
    const { password } = await import('@inquirer/prompts');
    return password({ message: 'ODK Central password:', mask: true }, { input: io.stdin, output: io.stderr });
  };
}
