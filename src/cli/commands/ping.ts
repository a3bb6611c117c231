import { randomUUID } from 'node:crypto';
import { Command } from 'commander';
import { ExitCode, SparctlError } from '../../core/errors.js';
import { loadContext, openMapper, type GlobalOptions } from '../context.js';
import { redactUrl } from '../../config/redact.js';
import type { Io } from '../io.js';

/**
 * `sparctl ping`: is the target reachable, does it speak the profile's protocol, and is a signed
 * request accepted? Each check is one line; the first failure ends the run with its exit code.
 */
export function pingCommand(io: Io, setExit: (code: number) => void): Command {
  return new Command('ping')
    .description("check that the profile's mapper is reachable, speaks its protocol and accepts our requests")
    .addHelpText(
      'after',
      `
Checks, in order: GET {baseUrl}/ping; a signed resolve of a made-up ID (read-only: nothing is
written) answered in the profile's protocol. In local mode it opens the database instead.

Examples:
  $ sparctl ping --profile staging
  $ SPARCTL_BASE_URL=http://127.0.0.1:8000 sparctl ping`,
    )
    .action(async (_options: unknown, cmd: Command) => {
      const globals = cmd.optsWithGlobals<GlobalOptions>();
      const context = await loadContext(io, globals);
      const { settings } = context.resolved;
      const { renderTable } = await import('../table.js');
      // One line per check as it ends, wrapped to the terminal under its text.
      const say = (ok: boolean, text: string) => io.stdout.write(`${renderTable(io, [{ header: '', fit: 'fixed' }, { header: '' }], [[ok ? 'ok  ' : 'FAIL', text]], { head: false })}\n`);
      const timed = async <T>(run: () => Promise<T>): Promise<[T, number]> => {
        const started = performance.now();
        const value = await run();
        return [value, Math.round(performance.now() - started)];
      };

      let mapper;
      try {
        mapper = await openMapper(context, 'read');
      } catch (error) {
        if (error instanceof SparctlError) say(false, `open ${settings.mode === 'local' ? settings.db : redactUrl(settings.baseUrl!)}: ${error.message}`);
        throw error;
      }
      try {
        if (settings.mode === 'remote') {
          const http = mapper as import('../../adapters/http/http-mapper.js').HttpMapper;
          try {
            const [answer, ms] = await timed(() => http.ping());
            const pong = answer.status === 200 && /^"?pong"?$/.test(answer.body.trim());
            say(pong, `reachable: GET ${redactUrl(http.urlFor('/ping').toString())} → HTTP ${answer.status}${pong ? ' "pong"' : ''} (${ms} ms)`);
          } catch (error) {
            if (error instanceof SparctlError) say(false, `reachable: ${error.message}`);
            throw error;
          }
        }
        const probe = `sparctl-ping-${randomUUID()}`;
        try {
          const [results, ms] = await timed(() => mapper.resolve([{ reference_id: 'ping', id: probe, scope: 'yes_no' }], { source: 'sparctl ping' }));
          const answered = results.length === 1 && results[0]!.status_reason_code !== null;
          const signed = settings.mode === 'remote' ? (settings.signingKeyFile ? `, signed as partner "${settings.senderAppMnemonic}"` : ', unsigned') : '';
          say(answered, `${settings.mode === 'remote' ? settings.protocol : 'local'} resolve answered${signed}: ${results[0]?.status_reason_code ?? 'no result'} (${ms} ms) — ${mapper.target}`);
          setExit(answered ? ExitCode.ok : ExitCode.unavailable);
        } catch (error) {
          if (error instanceof SparctlError) say(false, `resolve: ${error.message}`);
          throw error;
        }
      } finally {
        await mapper.close();
      }
    });
}
