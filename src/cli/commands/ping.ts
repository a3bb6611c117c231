import { Command, Option } from 'commander';
import { ExitCode } from '../../core/errors.js';
import type { OutputFormat } from '../../config/constants.js';
import type { PingCheck } from '../../app/ping.js';
import { loadContext, targetDocument, type GlobalOptions } from '../context.js';
import { pingDeps } from '../compose/ping.js';
import { jsonDocument } from '../document.js';
import { defaultFormat, type Io } from '../io.js';
import { positiveIntOrZero } from '../parse.js';

/** `sparctl ping`: parse, run the ping use case (app/ping.ts), render its checks, exit. */
export function pingCommand(io: Io, setExit: (code: number) => void): Command {
  return new Command('ping')
    .description('check that the mapper is reachable, speaks its protocol and accepts our requests')
    .addOption(
      new Option('--wait <seconds>', 'keep trying while the mapper is unavailable (starting, restarting), up to this long').argParser(
        positiveIntOrZero('--wait'),
      ),
    )
    .addHelpText(
      'after',
      `
Checks, in order: GET {baseUrl}/ping; a signed resolve of a made-up ID (read-only: nothing is
written) answered in the profile's protocol. In local mode it opens the database instead.
-o json prints one document with every check; -o jsonl a line per check; a failure is the
error object ({"error": …}) after the checks that ran.

Examples:
  $ sparctl ping --profile staging
  $ sparctl ping --url http://127.0.0.1:8000 --wait 60 -o json`,
    )
    .action(async (options: { wait?: number }, cmd: Command) => {
      const globals = cmd.optsWithGlobals<GlobalOptions>();
      const context = await loadContext(io, globals);
      const format = defaultFormat(io, context.resolved.settings.output);
      const { ping } = await import('../../app/ping.js');
      const result = await ping(pingDeps(context), options.wait === undefined ? {} : { waitSeconds: options.wait });
      if (format === 'json' && !result.error)
        io.stdout.write(jsonDocument({ command: 'ping', target: targetDocument(context), ok: result.ok, checks: result.checks }));
      if (format !== 'json') await showChecks(io, format, result.checks);
      if (result.error) throw result.error;
      setExit(result.ok ? ExitCode.ok : ExitCode.unavailable);
    });
}

/** Each check as a line of text (wrapped to the terminal under its text), a JSONL line or a CSV row. */
async function showChecks(io: Io, format: OutputFormat, checks: readonly PingCheck[]): Promise<void> {
  const { csvCell } = await import('../../adapters/files/csv-cells.js');
  const { renderTable } = await import('../table.js');
  if (format === 'csv') io.stdout.write('check,ok,ms,detail\r\n');
  for (const check of checks) {
    const ms = check.ms === undefined ? '' : String(check.ms);
    if (format === 'jsonl') io.stdout.write(`${JSON.stringify(check)}\n`);
    else if (format === 'csv') io.stdout.write(`${[check.check, String(check.ok), ms, csvCell(check.detail)].join(',')}\r\n`);
    else {
      const text = `${check.check}: ${check.detail}${ms ? ` (${ms} ms)` : ''}`;
      io.stdout.write(
        `${renderTable(io, [{ header: '', fit: 'fixed' }, { header: '' }], [[check.ok ? 'ok  ' : 'FAIL', text]], { head: false })}\n`,
      );
    }
  }
}
