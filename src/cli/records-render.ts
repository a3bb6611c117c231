import type { RecordsResult } from '../app/records.js';
import type { OutputFormat } from '../config/constants.js';
import type { GlobalOptions } from './context.js';
import type { Io } from './io.js';

/** The results on stdout, the --results file of a write, the summary line on stderr. */
export async function renderRecords(
  io: Io,
  globals: GlobalOptions,
  output: OutputFormat | undefined,
  result: RecordsResult,
  resultsFile: string | undefined,
): Promise<void> {
  // Loaded here, not at start-up: `sparctl --help` should not pay for zod or cli-table3.
  const { defaultFormat, renderResults, summaryLine } = await import('./output.js');
  const format = defaultFormat(io, output);
  const failed = result.failure;
  const failure =
    failed === undefined ? undefined : { code: failed.code, message: failed.message, hint: failed.hint, exitCode: failed.exitCode };
  // Streamed results were written as they came (compose/records.ts); only the failure, as the
  // last line a reader of jsonl meets, and the summary are left.
  if (!result.streamed) renderResults(io, format, { ...result, ...(failure === undefined ? {} : { failure }) });
  else if (failure !== undefined) {
    const { errorDocument } = await import('./document.js');
    const line = errorDocument(format === 'json' ? undefined : format, failure);
    if (line !== undefined) io.stdout.write(line);
  }
  if (result.events && resultsFile !== undefined) {
    const { openResultsFile } = await import('../adapters/files/report-writers.js');
    const { resolve } = await import('node:path');
    const sink = await openResultsFile(resolve(io.cwd, resultsFile));
    for (const event of result.events) sink.write(event);
    await sink.close();
  }
  if (!globals.quiet) io.stderr.write(`${summaryLine(result.summary, result.target, result.dryRun)}\n`);
  if (result.dryRun && !globals.quiet) io.stderr.write('dry run: nothing was written\n');
}
