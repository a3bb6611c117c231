import { basename, extname, resolve } from 'node:path';
import type { BulkJobResult } from '../app/bulk-job.js';
import type { BulkJobSpec } from './compose/bulk-job.js';
import { loadContext, type CommandContext, type GlobalOptions } from './context.js';
import { DEFAULTS } from '../config/settings.js';
import { redactShownText } from '../config/redact.js';
import type { Io } from './io.js';

/**
 * A file-driven bulk job as a command runs it (link|update|unlink --file, import-csv,
 * import-odk): its flags and its `spec` become the input and deps of app/bulk-job.ts (composed
 * in compose/bulk-job.ts), whose result is rendered here and turned into the exit code.
 */

export interface BulkJobFlags {
  readonly journal?: string;
  readonly restart?: boolean;
  readonly rejects?: string;
  readonly results?: string;
  readonly batchSize?: number;
  readonly concurrency?: number | 'auto';
  readonly concurrencyMax?: number;
  readonly retries?: number;
  readonly dryRun?: boolean;
  readonly overwrite?: boolean;
  /** --early-stop N (records probed), or false for --no-early-stop. */
  readonly earlyStop?: number | false;
}

export type { BulkJobSpec } from './compose/bulk-job.js';

export async function runBulkJob(io: Io, globals: GlobalOptions, flags: BulkJobFlags, spec: BulkJobSpec): Promise<number> {
  const context = await loadContext(io, globals);
  const { settings } = context.resolved;
  const [{ runBulkJob: run }, { bulkJobDeps }] = await Promise.all([import('../app/bulk-job.js'), import('./compose/bulk-job.js')]);
  const names = inputNames(io.cwd, spec.file);
  const { shortName } = names;
  const stem = spec.stem ?? names.stem;
  const result = await run(await bulkJobDeps(context, spec), {
    command: spec.command,
    mode: spec.mode,
    file: spec.file,
    shortName,
    definition: spec.definition,
    ...(spec.source === undefined ? {} : { source: spec.source }),
    // The default reject file is in the input's format (JSONL input, JSONL rejects; an .xlsx's are CSV), so it feeds back as it is.
    rejectsPath: resolve(io.cwd, flags.rejects ?? `${stem}.rejects.${spec.inputFormat === 'jsonl' ? 'jsonl' : 'csv'}`),
    rejectsNamed: flags.rejects !== undefined,
    overwrite: flags.overwrite === true,
    ...(flags.results ? { resultsPath: resolve(io.cwd, flags.results) } : {}),
    ...(flags.journal ? { journal: flags.journal } : {}),
    restart: flags.restart === true && spec.noRestart !== true,
    ...(spec.noRestart ? { noRestart: true } : {}),
    ...(spec.unsent === undefined ? {} : { unsent: spec.unsent }),
    dryRun: flags.dryRun === true,
    batchSize: flags.batchSize ?? settings.batchSize,
    concurrency: flags.concurrency ?? settings.concurrency,
    concurrencyMax: flags.concurrencyMax ?? settings.concurrencyMax ?? DEFAULTS.concurrencyMax,
    ...(flags.retries === undefined ? {} : { retries: flags.retries }),
    ...(flags.earlyStop === undefined ? {} : { stopEarly: flags.earlyStop === false ? 0 : flags.earlyStop }),
    local: settings.mode === 'local',
  });
  await renderJob(context, result, spec.file);
  return result.exitCode;
}

/**
 * What messages call the input, and the stem of its default reject file. A stream's path
 * (`/dev/stdin`, `/dev/fd/63` from `<(…)`, `/proc/self/fd/0`) names no file a user would
 * recognise: messages show it whole and the rejects go to stdin.rejects.* or input.rejects.*,
 * not 63.rejects.csv. Any other path names a file, /dev/shm/x.csv and /proc/self/cwd/x.csv too.
 */
function inputNames(cwd: string, file: string): { shortName: string; stem: string } {
  if (file === '-' || file === '/dev/stdin') return { shortName: 'stdin', stem: 'stdin' };
  if (/^\/(dev\/(std(in|out|err)$|fd\/)|proc\/[^/]+\/fd\/)/.test(resolve(cwd, file))) return { shortName: file, stem: 'input' };
  return { shortName: basename(file), stem: basename(file, extname(file)) };
}

/**
 * The summary table, a dry run's first writes and first rejects (an early stop's too), the -o
 * json document or the jsonl stop line, why it stopped.
 */
async function renderJob(context: CommandContext, result: BulkJobResult, file: string): Promise<void> {
  const { io, globals } = context;
  const { settings } = context.resolved;
  const { summary } = result;
  const { renderBulkSummary, rejectLines, jobDocument } = await import('./bulk-render.js');
  if (!globals.quiet || result.stoppedEarly) {
    renderBulkSummary(io, summary, {
      target: result.target,
      ...(result.rejects
        ? {
            rejectsPath: result.rejects.path,
            rejectsCount: result.rejects.count,
            ...(result.rejects.incomplete ? { rejectsIncomplete: true } : {}),
          }
        : {}),
      ...(result.rejectsKept ? { rejectsKept: result.rejectsKept } : {}),
      ...(result.previewRemoved ? { previewRemoved: result.previewRemoved } : {}),
      ...(result.rejects && result.rejects.count > 0 && io.argv && result.command !== 'import-odk' && !result.dryRun
        ? { refeed: (await import('./refeed.js')).refeedCommand(io.argv, file, result.rejects.path, io.cwd) }
        : {}),
      ...(result.resultsPath ? { resultsPath: result.resultsPath, ...(result.resultsIncomplete ? { resultsIncomplete: true } : {}) } : {}),
      ...(result.journalPath ? { journalPath: result.journalPath } : {}),
      ...(result.resumeHint ? { resumeHint: result.resumeHint } : {}),
    });
  }
  // (A stop on a systematic problem is one error line: its first rejects are all alike.)
  if (result.dryRun && !globals.quiet) {
    for (const event of result.planned)
      io.stderr.write(`  would ${event.operation} ${event.id ?? ''}${event.line === undefined ? '' : ` (line ${event.line})`}\n`);
    if (result.firstRejects.length > 0) {
      const shown = result.firstRejects.length;
      const of =
        summary.rejected > shown
          ? `the first ${shown} of ${summary.rejected} records`
          : shown === 1
            ? 'the record'
            : `the ${shown} records`;
      io.stderr.write(`${of} that ${result.dryRun ? 'would be' : 'were'} rejected:\n${rejectLines(result.firstRejects).join('\n')}\n`);
    }
    io.stderr.write(
      result.rejects || result.resultsPath
        ? 'dry run: nothing was written but the previews (no mapper write, journal or reject file)\n'
        : 'dry run: nothing was written\n',
    );
  }
  const { renderJobEnd } = await import('./output.js');
  // A server's text in the reason (an error echoing the request path) is shown without the URL's parameter values.
  const stopped = summary.stopped && {
    code: summary.stopped.code,
    message: redactShownText(summary.stopped.message),
    hint: summary.stopped.hint === undefined ? undefined : redactShownText(summary.stopped.hint),
    exitCode: summary.stopped.exitCode,
  };
  renderJobEnd(io, settings.output, jobDocument(result), stopped);
  if (stopped && stopped.code !== 'interrupted' && stopped.code !== 'terminated') {
    const { code, message, hint } = stopped;
    io.stderr.write(`sparctl: error [${code}]: ${message}${hint ? ` (${hint})` : ''}\n`);
  }
}
