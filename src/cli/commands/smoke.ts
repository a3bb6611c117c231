import { randomBytes } from 'node:crypto';
import { resolve } from 'node:path';
import { Command } from 'commander';
import { UsageError } from '../../core/errors.js';
import type { SmokeReport, SmokeStepResult } from '../../core/smoke.js';
import { loadContext, openMapper, type CommandContext, type GlobalOptions } from '../context.js';
import { defaultFormat, type Io } from '../io.js';
import { redactUrl } from '../../config/redact.js';
import { jsonDocument } from '../document.js';

interface SmokeOptions {
  junit?: string;
}

/**
 * `sparctl smoke`: link → resolve → update → resolve → unlink → resolve of a synthetic record on
 * the target, every answer checked (src/core/smoke.ts), a per-step table and optionally JUnit XML.
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
      const { runSmoke } = await import('../../core/smoke.js');
      // Never taken from the user: the cleanup unlinks whatever is linked under this ID.
      const id = `sparctl-smoke-${new Date().toISOString().replace(/[-:.]/g, '')}-${randomBytes(4).toString('hex')}`;
      const startedAt = new Date();
      const mapper = await openMapper(context, 'write');
      let report: SmokeReport;
      try {
        const { settings } = context.resolved;
        // A backstop above the HTTP timeout, whose own error says more; the local mapper cannot hang.
        const stepTimeout = settings.mode === 'remote' ? { stepTimeoutMs: settings.timeoutMs + 5_000 } : {};
        report = await runSmoke(mapper, { id, clock: () => performance.now(), source: 'sparctl smoke', unlinkCommand: `sparctl ${targetArgs(context)}unlink --id ${id} --yes`, ...stepTimeout });
      } finally {
        await mapper.close();
      }

      const { printable } = await import('../output.js');
      await render(io, defaultFormat(io, context.resolved.settings.output), report);
      if (options.junit !== undefined) {
        const path = resolve(io.cwd, options.junit);
        const { smokeJunitXml, writeJunitFile } = await import('../../adapters/files/junit.js');
        try {
          await writeJunitFile(path, smokeJunitXml(report, startedAt));
        } catch (error) {
          throw new UsageError('smoke.junit_unwritable', `cannot write the JUnit report ${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
        }
        if (!globals.quiet) io.stderr.write(`junit: ${path}\n`);
      }
      if (!globals.quiet) io.stderr.write(`${printable(summary(report))}\n`);
      setExit(report.exitCode);
    });
}

/**
 * The flags that name this run's mapper again ("--url URL ", "--profile NAME "), so the cleanup
 * hint acts on the mapper the smoke test wrote to; an environment target needs the same environment.
 */
function targetArgs(context: CommandContext): string {
  const { target, settings } = context.resolved;
  const quoted = (value: string) => (/^[\w@%+=:,./-]+$/.test(value) ? value : `'${value.replace(/'/g, `'\\''`)}'`);
  if (target.source === 'flag --url') return `--url ${quoted(redactUrl(target.location))} `;
  if (target.source === 'flag --db') return `--db ${quoted(target.location)} `;
  if (target.source.startsWith('profile ') && context.globals.profile !== undefined) return `--profile ${quoted(settings.profile ?? context.globals.profile)} `;
  return '';
}

const RESULT_WORDS: Record<SmokeStepResult['status'], string> = { pass: 'pass', fail: 'FAIL', skipped: 'skipped' };
const CLEANUP_WORDS: Record<SmokeReport['cleanup']['state'], string> = { removed: 'done', failed: 'FAIL', not_needed: 'not needed' };

/** Steps 5–6 when they run only to remove the record after an earlier failure. */
const CLEANUP_TITLES: Partial<Record<SmokeStepResult['step'], string>> = { unlink: 'unlink (cleanup)', resolve_unlinked: 'resolve (after cleanup)' };

const label = (step: SmokeStepResult): string => (step.cleanup ? (CLEANUP_TITLES[step.step] ?? step.title) : step.title);

/**
 * What a person reads in the detail column: the answer, or expected vs got when it was wrong —
 * a wrong outcome and SPAR's reason in words (the codes stay in -o json and the JUnit report).
 */
function detailInWords(step: SmokeStepResult, { OUTCOME_WORDS, reasonText }: typeof import('../output.js')): string {
  if (step.status !== 'fail') return step.got;
  let got = step.got;
  const { answer } = step;
  // core/smoke.ts words a wrong outcome "outcome <outcome> (<code>: <message>)".
  if (answer && got.startsWith(`outcome ${answer.outcome}`)) {
    const outcome = OUTCOME_WORDS[answer.outcome];
    const reason = answer.code ? reasonText(answer.operation, answer.code, answer.message) : '';
    got = `outcome ${outcome}${reason && reason !== outcome ? ` (${reason})` : ''}`;
  }
  return `expected ${step.expected}; got ${got}`;
}

async function render(io: Io, format: string, report: SmokeReport): Promise<void> {
  const output = await import('../output.js');
  const { printable } = output;
  const steps = report.steps.map((s) => ({ step: s.step, status: s.status, ms: s.ms, expected: s.expected, got: s.got, cleanup: s.cleanup, ...(s.error ? { error_code: s.error.code } : {}) }));
  switch (format) {
    case 'json':
      io.stdout.write(
        jsonDocument({ command: 'smoke', target: report.target, id: report.id, passed: report.passed, exitCode: report.exitCode, ms: report.ms, steps, cleanup: report.cleanup }),
      );
      return;
    case 'jsonl':
      for (const step of steps) io.stdout.write(`${JSON.stringify(step)}\n`);
      io.stdout.write(`${JSON.stringify({ step: 'cleanup', status: report.cleanup.state, detail: report.cleanup.detail })}\n`);
      return;
    case 'csv': {
      const { csvCell } = await import('../../adapters/files/csv-cells.js');
      const columns = ['step', 'status', 'ms', 'expected', 'got', 'cleanup'] as const;
      const rows = steps.map((s) => columns.map((c) => csvCell(s[c] === null ? '' : String(s[c]))).join(','));
      io.stdout.write(`${[columns.join(','), ...rows].join('\r\n')}\r\n`);
      return;
    }
    default: {
      const { renderTable } = await import('../table.js');
      const rows = report.steps.map((s, i) => [String(i + 1), label(s), RESULT_WORDS[s.status], s.ms === null ? '' : String(s.ms), printable(detailInWords(s, output))]);
      rows.push(['', 'cleanup', CLEANUP_WORDS[report.cleanup.state], '', printable(report.cleanup.detail)]);
      const table = renderTable(io, [{ header: '#', fit: 'fixed', align: 'right' }, { header: 'step', fit: 'fixed' }, { header: 'result', fit: 'fixed' }, { header: 'ms', fit: 'fixed', align: 'right' }, { header: 'detail' }], rows);
      io.stdout.write(`${table}\n`);
    }
  }
}

/** "smoke: all 6 steps passed in 84 ms — spar-v2 http://… (id …)", or which steps failed. */
function summary(report: SmokeReport): string {
  const where = `in ${report.ms} ms — ${report.target} (id ${report.id})`;
  if (report.passed) return `smoke: all ${report.steps.length} steps passed ${where}`;
  const passed = report.steps.filter((s) => s.status === 'pass').length;
  const failed = report.steps.filter((s) => s.status === 'fail').map(label);
  const cleanup = report.cleanup.state === 'failed' ? `cleanup FAILED: ${report.cleanup.detail}` : `cleanup: ${CLEANUP_WORDS[report.cleanup.state]}`;
  return `smoke: FAILED at ${failed.join(', ')}; ${passed} of ${report.steps.length} steps passed ${where}; ${cleanup}`;
}
