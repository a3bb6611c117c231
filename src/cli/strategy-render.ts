import type { AddResult, ListedRow } from '../app/strategy.js';
import type { StrategyReport } from '../core/strategy/validate.js';
import type { OutputFormat } from '../config/constants.js';
import type { Io } from './io.js';
import { printable, renderList } from './output.js';
import { renderTable } from './table.js';
import { counted } from '../core/plural.js';

/** How `strategy` shows what its use cases (app/strategy.ts) return. Loaded only when a subcommand has run. */

/**
 * `strategy list`: a table of id, type, construct and description (and, for a remote profile,
 * where each is declared); JSON, JSONL and CSV have every column.
 */
export async function renderStrategyRows(io: Io, format: OutputFormat, rows: readonly ListedRow[], target: string): Promise<void> {
  const sourced = rows.some((row) => row.source !== undefined);
  await renderList(io, format, {
    name: 'strategies',
    rows,
    fields: { target },
    columns: [
      'id',
      'strategy_type',
      'construct_strategy',
      'deconstruct_strategy',
      'description',
      'active',
      ...(sourced ? ['source'] : []),
    ].map((key) => ({ key })),
    table: () =>
      renderTable(
        io,
        [
          { header: 'id', fit: 'fixed' },
          { header: 'type', fit: 'fixed' },
          { header: 'construct' },
          { header: 'description' },
          ...(sourced ? [{ header: 'from' }] : []),
        ],
        rows.map((row) => [
          String(row.id),
          row.strategy_type,
          printable(row.construct_strategy),
          printable(row.description ?? ''),
          ...(sourced ? [printable(row.source ?? '')] : []),
        ]),
      ),
  });
}

/** `strategy validate`: a block per strategy with its verdict and findings (-v: every failing value), or the reports as data (CSV: a row per finding). */
export async function renderStrategyReports(
  io: Io,
  format: OutputFormat,
  reports: readonly StrategyReport[],
  verbose: boolean,
): Promise<void> {
  await renderList(io, format, {
    name: 'strategies',
    rows: reports,
    fields: { ok: reports.every((r) => r.ok) },
    columns: [],
    csv: {
      columns: ['id', 'status', 'code', 'field', 'message'],
      rows: reports.flatMap((report) =>
        report.findings.map((f) => ({ id: report.strategy.id, status: f.status, code: f.code, field: f.field ?? '', message: f.message })),
      ),
    },
    table: () => reports.map((report) => reportBlock(report, verbose)).join('\n\n'),
  });
}

function reportBlock(report: StrategyReport, verbose: boolean): string {
  const { strategy: row } = report;
  const verdict = report.ok
    ? report.warnings > 0
      ? `safe, with ${counted(report.warnings, 'warning')}`
      : 'safe'
    : report.errors > 0
      ? `NOT SAFE: ${counted(report.errors, 'error')}${report.warnings > 0 ? `, ${counted(report.warnings, 'warning')}` : ''}`
      : `NOT SAFE with --strict: ${counted(report.warnings, 'warning')}`;
  const from = (row as ListedRow).source;
  const lines = [
    `strategy ${row.id}${row.description ? ` ${JSON.stringify(row.description)}` : ''} (${row.strategy_type}${from ? `, ${from}` : ''}): ${verdict}`,
  ];
  lines.push(`  construct    ${row.construct_strategy}`, `  deconstruct  ${row.deconstruct_strategy}`);
  for (const finding of report.findings) {
    lines.push(`  ${finding.status.padEnd(7)}  ${finding.message}`);
    if (verbose && finding.failures) for (const failure of finding.failures) lines.push(`             - ${failure.message}`);
  }
  return lines.map(printable).join('\n');
}

/** `strategy add`: a line per strategy (added, would add, unchanged), or the outcomes as data; the count for stderr. */
export async function renderStrategiesAdded(io: Io, format: OutputFormat, added: AddResult): Promise<void> {
  const { rows, results, dryRun, target, profile } = added;
  if (profile !== undefined) {
    // A remote profile's add: what to apply to the deployment is the output (-o json: with the outcomes).
    if (format === 'json') {
      io.stdout.write(
        `${JSON.stringify({ target, dryRun, file: profile.file, created: profile.created, results, sql: profile.sql, helm: profile.helm }, null, 2)}\n`,
      );
    } else {
      io.stdout.write(`${profile.sql}\n${profile.helm}`);
    }
    return;
  }
  const what = (index: number) => {
    const row = rows[index]!;
    return printable(`strategy ${row.id} (${row.strategy_type}${row.description ? `, ${JSON.stringify(row.description)}` : ''})`);
  };
  await renderList(io, format, {
    name: 'results',
    columns: [{ key: 'id' }, { key: 'outcome' }],
    rows: results.map((r) => ({ ...r, ...(dryRun ? { dry_run: true } : {}) })),
    fields: { target, dryRun },
    table: () =>
      results
        .map((result, index) =>
          result.outcome === 'added'
            ? `${dryRun ? 'would add' : 'added'} ${what(index)}`
            : `unchanged ${what(index)}: already there, identical`,
        )
        .join('\n'),
  });
}

/**
 * "strategy add (dry run): 1 would be added, 0 unchanged (local …)"; for a remote profile, the
 * file it went to and that the deployment still needs it.
 */
export function strategiesAddedLine({ results, dryRun, target, profile }: AddResult): string {
  const added = results.filter((r) => r.outcome === 'added').length;
  const where =
    profile === undefined
      ? ''
      : ` to strategiesFile ${profile.file}${profile.created && added > 0 ? (dryRun ? ' (would be created)' : ' (created)') : ''}`;
  const line = `strategy add${dryRun ? ' (dry run)' : ''}: ${added} ${dryRun ? 'would be ' : ''}added${where}, ${results.length - added} unchanged (${target})`;
  return profile === undefined
    ? line
    : `${line}\n${dryRun ? 'once added, apply' : 'apply'} them to the deployment with the SQL or the Helm values printed on stdout: SPAR has no API for strategies`;
}
