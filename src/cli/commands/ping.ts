import { Command, Option } from 'commander';
import { ExitCode } from '../../core/errors.js';
import type { OutputFormat } from '../../config/constants.js';
import type { PingCheck } from '../../app/ping.js';
import { loadContext, targetDocument, type GlobalOptions } from '../context.js';
import { pingDeps } from '../compose/ping.js';
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
      // With -o json a failure's document is the error object alone (main.ts), not checks and then it.
      if (!(format === 'json' && result.error))
        await showChecks(io, format, result.checks, { command: 'ping', target: targetDocument(context), ok: result.ok });
      if (result.error) throw result.error;
      setExit(result.ok ? ExitCode.ok : ExitCode.unavailable);
    });
}

/** The checks: a line of text each (wrapped to the terminal under its text), one document, JSONL lines or CSV rows. */
async function showChecks(io: Io, format: OutputFormat, checks: readonly PingCheck[], fields: Record<string, unknown>): Promise<void> {
  const [{ renderList }, { renderTable }] = await Promise.all([import('../output.js'), import('../table.js')]);
  await renderList(io, format, {
    name: 'checks',
    rows: checks,
    fields,
    columns: ['check', 'ok', 'ms', 'detail'].map((key) => ({ key })),
    table: () =>
      checks
        .map((check) => {
          const text = `${check.check}: ${check.detail}${check.ms === undefined ? '' : ` (${check.ms} ms)`}`;
          return renderTable(io, [{ header: '', fit: 'fixed' }, { header: '' }], [[check.ok ? 'ok  ' : 'FAIL', text]], { head: false });
        })
        .join('\n'),
  });
}
