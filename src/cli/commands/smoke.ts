import { resolve } from 'node:path';
import { Command } from 'commander';
import { loadContext, type GlobalOptions } from '../context.js';
import { smokeDeps } from '../compose/smoke.js';
import { defaultFormat, type Io } from '../io.js';

interface SmokeOptions {
  junit?: string;
}

/**
 * `sparctl smoke`: parse, run the smoke use case (app/smoke.ts: link → resolve → update → resolve →
 * unlink → resolve of a synthetic record, every answer checked), render its report, exit.
 */
export function smokeCommand(io: Io, setExit: (code: number) => void): Command {
  return new Command('smoke')
    .description('smoke-test a mapper: link, resolve, update, resolve, unlink and resolve a synthetic record, checking every answer')
    .option('--junit <file>', 'also write a JUnit XML report to FILE (for CI test reports)')
    .addHelpText(
      'after',
      `
Steps: link a new ID (sparctl-smoke-<time>-<random>) to a BANK FA (strategy 2) → resolve with
details (the same FA fields) → update to a second FA → resolve (the new account number) → unlink
→ resolve (not found). A step runs only if the ones before it passed; the unlink always runs when
the link may have been applied, so the synthetic record is removed even when a step fails, and
the table says whether that worked.
The target is picked as for every command (--url, --db, SPARCTL_BASE_URL, SPARCTL_DB, the
profile; see README "Which mapper"). With --url or SPARCTL_BASE_URL, the protocol, signing key
and token come from the environment (SPARCTL_PROTOCOL, SPARCTL_SIGNING_KEY_FILE, SPARCTL_TOKEN…),
never from a profile that names another mapper. SPARCTL_TIMEOUT_MS (or the profile's timeoutMs)
bounds each request.

Exit codes: 0 every step passed · 5 a step got a wrong answer · 4 the mapper is unreachable or
failed · 3 signature, token or URL refused (the code of the first error wins over 5).

Examples:
  $ sparctl smoke --profile staging
  $ sparctl smoke --url http://127.0.0.1:8000 --junit reports/spar-smoke.xml
  $ SPARCTL_BASE_URL=https://spar.example.org/api/mapper SPARCTL_SIGNING_KEY_FILE=key.pem \\
      SPARCTL_SENDER_APP_MNEMONIC=social-registry sparctl smoke -o json
  $ sparctl --db /tmp/scratch.db smoke`,
    )
    .action(async (options: SmokeOptions, cmd: Command) => {
      const globals = cmd.optsWithGlobals<GlobalOptions>();
      const context = await loadContext(io, globals);
      const { smoke } = await import('../../app/smoke.js');
      const { report, junit, leftovers } = await smoke(
        smokeDeps(context),
        options.junit === undefined ? {} : { junitPath: resolve(io.cwd, options.junit) },
      );
      const { printable } = await import('../output.js');
      const { renderSmoke, smokeSummary } = await import('../smoke-render.js');
      await renderSmoke(io, defaultFormat(io, context.resolved.settings.output), report, leftovers);
      if (junit && 'error' in junit) throw junit.error;
      if (junit && !globals.quiet) io.stderr.write(`junit: ${junit.path}\n`);
      if (!globals.quiet) io.stderr.write(`${printable(smokeSummary(report))}\n`);
      setExit(report.exitCode);
    });
}
