import { randomUUID } from 'node:crypto';
import { Command, Option } from 'commander';
import { ExitCode, SparctlError, UnavailableError } from '../../core/errors.js';
import { loadContext, openMapper, targetDocument, type CommandContext, type GlobalOptions } from '../context.js';
import { redactUrl } from '../../config/redact.js';
import type { OutputFormat } from '../../config/constants.js';
import { csvCell } from '../../adapters/files/csv-cells.js';
import { jsonDocument } from '../document.js';

import { positiveIntOrZero } from '../parse.js';
import { defaultFormat, type Io } from '../io.js';

/**
 * `sparctl ping`: is the target reachable, does it speak the profile's protocol, and is a signed
 * request accepted? Each check is one line; the first failure ends the run with its exit code.
 */
export function pingCommand(io: Io, setExit: (code: number) => void): Command {
  return new Command('ping')
    .description("check that the mapper is reachable, speaks its protocol and accepts our requests")
    .addOption(new Option('--wait <seconds>', 'keep trying while the mapper is unavailable (starting, restarting), up to this long').argParser(positiveIntOrZero('--wait')))
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
      const deadline = performance.now() + (options.wait ?? 0) * 1000;
      const { renderTable } = await import('../table.js');
      let csvHeader = format === 'csv';
      const show = (checks: readonly Check[]) => {
        if (csvHeader) io.stdout.write('check,ok,ms,detail\r\n');
        csvHeader = false;
        for (const check of checks) io.stdout.write(checkText(format, check, (cells) => renderTable(io, [{ header: '', fit: 'fixed' }, { header: '' }], [cells], { head: false })));
      };
      for (let attempt = 1; ; attempt++) {
        // An attempt's checks are shown once it is the last: a mapper still starting is not news.
        const checks: Check[] = [];
        try {
          await runChecks(context, (check) => checks.push(check));
        } catch (error) {
          const waitMs = deadline - performance.now();
          if (error instanceof UnavailableError && waitMs > 0) {
            if (attempt === 1 && !globals.quiet) io.stderr.write(`sparctl: waiting up to ${options.wait} s for the mapper (${error.message})\n`);
            await new Promise((resolve) => setTimeout(resolve, Math.min(1000, waitMs)));
            continue;
          }
          if (format !== 'json') show(checks);
          throw error;
        }
        const ok = checks.every((check) => check.ok);
        if (format === 'json') io.stdout.write(jsonDocument({ command: 'ping', target: targetDocument(context), ok, checks }));
        else show(checks);
        setExit(ok ? ExitCode.ok : ExitCode.unavailable);
        return;
      }
    });
}

interface Check {
  readonly check: 'open' | 'reachable' | 'resolve';
  readonly ok: boolean;
  readonly detail: string;
  readonly ms?: number;
}

/** One check as a line of text (wrapped to the terminal under its text), JSONL or CSV. */
function checkText(format: OutputFormat, check: Check, row: (cells: string[]) => string): string {
  switch (format) {
    case 'jsonl':
      return `${JSON.stringify(check)}\n`;
    case 'csv':
      return `${[check.check, String(check.ok), check.ms === undefined ? '' : String(check.ms), csvCell(check.detail)].join(',')}\r\n`;
    default:
      return `${row([check.ok ? 'ok  ' : 'FAIL', `${check.check}: ${check.detail}${check.ms === undefined ? '' : ` (${check.ms} ms)`}`])}\n`;
  }
}

async function runChecks(context: CommandContext, report: (check: Check) => void): Promise<void> {
  const { settings } = context.resolved;
  const timed = async <T>(run: () => Promise<T>): Promise<[T, number]> => {
    const started = performance.now();
    const value = await run();
    return [value, Math.round(performance.now() - started)];
  };
  const failed = (check: Check['check'], error: unknown, detail: (message: string) => string) => {
    if (error instanceof SparctlError) report({ check, ok: false, detail: detail(error.message) });
    return error;
  };
  let mapper;
  try {
    mapper = await openMapper(context, 'read');
  } catch (error) {
    throw failed('open', error, (message) => `${settings.mode === 'local' ? settings.db : redactUrl(settings.baseUrl!)}: ${message}`);
  }
  try {
    if (settings.mode === 'remote') {
      const http = mapper as import('../../adapters/http/http-mapper.js').HttpMapper;
      let answer, ms;
      try {
        [answer, ms] = await timed(() => http.ping());
      } catch (error) {
        throw failed('reachable', error, (message) => message);
      }
      const pong = answer.status === 200 && /^"?pong"?$/.test(answer.body.trim());
      report({ check: 'reachable', ok: pong, detail: `GET ${redactUrl(http.urlFor('/ping').toString())} → HTTP ${answer.status}${pong ? ' "pong"' : ''}`, ms });
    }
    const probe = `sparctl-ping-${randomUUID()}`;
    let results, ms;
    try {
      [results, ms] = await timed(() => mapper.resolve([{ reference_id: 'ping', id: probe, scope: 'yes_no' }], { source: 'sparctl ping' }));
    } catch (error) {
      throw failed('resolve', error, (message) => message);
    }
    const answered = results.length === 1 && results[0]!.status_reason_code !== null;
    const signed = settings.mode === 'remote' ? (settings.signingKeyFile ? `, signed as partner "${settings.senderAppMnemonic}"` : ', unsigned') : '';
    report({
      check: 'resolve',
      ok: answered,
      detail: `${settings.mode === 'remote' ? settings.protocol : 'local'} mapper answered${signed}: ${results[0]?.status_reason_code ?? 'no result'} — ${mapper.target}`,
      ms,
    });
  } finally {
    await mapper.close();
  }
}
