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
  // Streamed results were written as they came (compose/records.ts); only the summary is left.
  if (!result.streamed) renderResults(io, defaultFormat(io, output), result);
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
