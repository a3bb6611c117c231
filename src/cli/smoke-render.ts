import type { OutputFormat } from '../config/constants.js';
import type { LeftoverOutcome, SmokeReport, SmokeStepResult } from '../core/smoke.js';
import { stopSignalOf } from '../core/stop-signals.js';
import type { Io } from './io.js';

/**
 * How `smoke` shows its report (app/smoke.ts): a per-step table, JSON, JSONL or CSV on stdout,
 * and the one-line summary for stderr. Loaded only when a smoke test has run.
 */

const RESULT_WORDS: Record<SmokeStepResult['status'], string> = { pass: 'pass', fail: 'FAIL', skipped: 'skipped' };
const CLEANUP_WORDS: Record<SmokeReport['cleanup']['state'], string> = {
  removed: 'done',
  failed: 'FAIL',
  unknown: 'UNKNOWN',
  not_needed: 'not needed',
};

/** Steps 5–6 when they run only to remove the record after an earlier failure; step 2 reading back a link of unknown outcome. */
const CLEANUP_TITLES: Partial<Record<SmokeStepResult['step'], string>> = {
  resolve_linked: 'resolve (read back)',
  unlink: 'unlink (cleanup)',
  resolve_unlinked: 'resolve (after cleanup)',
};

const label = (step: SmokeStepResult): string => (step.cleanup ? (CLEANUP_TITLES[step.step] ?? step.title) : step.title);

/**
 * What a person reads in the detail column: the answer, or expected vs got when it was wrong —
 * a wrong outcome and SPAR's reason in words (the codes stay in -o json and the JUnit report).
 */
function detailInWords(step: SmokeStepResult, { OUTCOME_WORDS, reasonText }: typeof import('./output.js')): string {
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

export async function renderSmoke(
  io: Io,
  format: OutputFormat,
  report: SmokeReport,
  leftovers: readonly LeftoverOutcome[] = [],
): Promise<void> {
  const output = await import('./output.js');
  const { printable } = output;
  const steps = report.steps.map((s) => ({
    step: s.step,
    status: s.status,
    ms: s.ms,
    expected: s.expected,
    got: s.got,
    cleanup: s.cleanup,
    ...(s.error ? { error_code: s.error.code } : {}),
  }));
  const { renderList } = output;
  const { renderTable } = await import('./table.js');
  await renderList(io, format, {
    name: 'steps',
    rows: steps,
    fields: {
      command: 'smoke',
      target: report.target,
      id: report.id,
      passed: report.passed,
      exitCode: report.exitCode,
      ms: report.ms,
      cleanup: report.cleanup,
      // What earlier runs left on this mapper (killed before their cleanup), and what became of each.
      leftovers,
    },
    columns: ['step', 'status', 'ms', 'expected', 'got', 'cleanup'].map((key) => ({ key })),
    lines: [
      ...leftovers.map((left) => ({
        step: 'leftover',
        status: left.state,
        id: left.id,
        ...('reason' in left ? { detail: left.reason } : {}),
      })),
      ...steps,
      { step: 'cleanup', status: report.cleanup.state, detail: report.cleanup.detail },
    ],
    table: () =>
      renderTable(
        io,
        [
          { header: '#', fit: 'fixed', align: 'right' },
          { header: 'step', fit: 'fixed' },
          { header: 'result', fit: 'fixed' },
          { header: 'ms', fit: 'fixed', align: 'right' },
          { header: 'detail' },
        ],
        [
          ...report.steps.map((s, i) => [
            String(i + 1),
            label(s),
            RESULT_WORDS[s.status],
            s.ms === null ? '' : String(s.ms),
            printable(detailInWords(s, output)),
          ]),
          ['', 'cleanup', CLEANUP_WORDS[report.cleanup.state], '', printable(report.cleanup.detail)],
        ],
      ),
  });
}

/** "smoke: all 6 steps passed in 84 ms — spar-v2 http://… (id …)", or which steps failed. */
export function smokeSummary(report: SmokeReport): string {
  const where = `in ${report.ms} ms — ${report.target} (id ${report.id})`;
  if (report.passed) return `smoke: all ${report.steps.length} steps passed ${where}`;
  const passed = report.steps.filter((s) => s.status === 'pass').length;
  const failed = report.steps.filter((s) => s.status === 'fail').map(label);
  const cleanup =
    report.cleanup.state === 'failed'
      ? `cleanup FAILED: ${report.cleanup.detail}`
      : report.cleanup.state === 'unknown'
        ? `cleanup UNKNOWN: ${report.cleanup.detail}`
        : `cleanup: ${CLEANUP_WORDS[report.cleanup.state]}`;
  if (report.stopped !== undefined)
    return `smoke: ${stopSignalOf(report.stopped).short}${failed.length > 0 ? `; FAILED at ${failed.join(', ')}` : ''}; ${passed} of ${report.steps.length} steps passed ${where}; ${cleanup}`;
  return `smoke: FAILED at ${failed.join(', ')}; ${passed} of ${report.steps.length} steps passed ${where}; ${cleanup}`;
}
