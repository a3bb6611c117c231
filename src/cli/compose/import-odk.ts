import { createHash } from 'node:crypto';
import { existsSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import type { ImportOdkDeps, OdkStore } from '../../app/import-odk.js';
import { duringRunError, makeFolders } from '../../adapters/files/fs-errors.js';
import { redactUrl } from '../../config/redact.js';
import type { BulkJobFlags } from '../bulk-job.js';
import { announceTarget, localMapperFile, type CommandContext } from '../context.js';
import { parseJson, readText } from '../files.js';

/** What the import-odk use case needs, from this command's settings: the composition of app/import-odk.ts. */
export function importOdkDeps(
  context: CommandContext,
  flags: BulkJobFlags & { odkEmail?: string; odkPasswordFile?: string },
): ImportOdkDeps {
  const { io, globals } = context;
  const { settings } = context.resolved;
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
    mapperIdentity: async (dryRun) =>
      settings.mode === 'local'
        ? `local ${settings.db} ${await localInstanceId(localMapperFile(context, dryRun ? 'dry-run' : 'write'), dryRun)}`
        : `${settings.protocol} ${redactUrl(settings.baseUrl!)}`,
    sha256: (text, encoding) => createHash('sha256').update(text).digest(encoding),
    openStore: (key) => odkStore(join(context.dirs.state, 'odk', key)),
    openCentral: async (url) => {
      const odkPasswordFile = flags.odkPasswordFile ?? settings.odkPasswordFile;
      const password = passwordSource(context, odkPasswordFile, settings.odkPassword);
      const secretFrom =
        settings.odkPassword !== undefined
          ? 'SPARCTL_ODK_PASSWORD'
          : odkPasswordFile !== undefined
            ? `the password in ${odkPasswordFile}`
            : 'the password typed';
      const email = flags.odkEmail ?? settings.odkEmail;
      const { CentralClient } = await import('../../adapters/odk/central-client.js');
      return new CentralClient({
        url,
        auth: {
          ...(email === undefined ? {} : { email }),
          ...(password === undefined ? {} : { password }),
          ...(settings.odkToken === undefined ? {} : { token: settings.odkToken }),
          secretFrom,
        },
        tokenCacheFile: join(context.dirs.cache, 'odk-sessions.json'),
        timeoutMs: Math.max(settings.timeoutMs, 120_000),
        tls: { caFile: settings.caFile, insecure: settings.insecure },
      });
    },
    runWindow: async (job) => {
      const { runBulkJob } = await import('../bulk-job.js');
      return runBulkJob(io, job.quiet ? { ...globals, quiet: true } : globals, flags, {
        command: 'import-odk',
        mode: 'upsert',
        file: job.path,
        // A dry run's spool is FORM.dry-run.jsonl: its rejects preview is still FORM.rejects.preview.csv.
        stem: basename(job.path, '.jsonl').replace(/\.dry-run$/, ''),
        definition: job.definition,
        faDigest: job.faDigest,
        source: job.source,
        collect: job.collect,
        ...(job.onSummary === undefined ? {} : { onSummary: job.onSummary }),
        records: async (_context, mapper, path) => {
          const { openInputFile } = await import('../../adapters/input/record-file.js');
          const strategies = new Map((await mapper.strategies()).map((s) => [s.id, s]));
          const input = await openInputFile(path, { format: 'jsonl', stdin: io.stdin });
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
    clock: () => Date.now(),
    sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
    note: (line) => io.stderr.write(`${line}\n`),
    stdoutFailure: () => io.stdoutFailure?.(),
  };
}

/** The state directory of one form imported into one mapper: state.json, the window's spool, the lock. */
async function odkStore(dir: string): Promise<OdkStore> {
  const { readOdkState, writeOdkState } = await import('../../adapters/odk/odk-state.js');
  const { JobLock } = await import('../../adapters/journal/job-lock.js');
  const statePath = join(dir, 'state.json');
  return {
    readState: () => readOdkState(statePath),
    writeState: (state) => writeOdkState(statePath, state),
    spool: (name) => {
      const path = join(dir, name);
      return {
        path,
        exists: () => existsSync(path),
        write: (text) => {
          const partial = `${path}.${process.pid}.tmp`;
          try {
            makeFolders(dir);
            writeFileSync(partial, text, { mode: 0o600 });
            renameSync(partial, path);
          } catch (error) {
            throw duringRunError(path, 'cannot keep the submissions read', error);
          }
        },
        read: () => readFileSync(path, 'utf8'),
        remove: () => rmSync(path, { force: true }),
      };
    },
    lock: (what) => JobLock.acquire(join(dir, 'lock'), what),
  };
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
