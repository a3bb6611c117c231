import type { AddResult } from '../app/strategy.js';
import type { StrategyRow } from '../core/strategy/strategy.js';
import type { StrategyReport } from '../core/strategy/validate.js';
import type { OutputFormat } from '../config/constants.js';
import { csvCell } from '../adapters/files/csv-cells.js';
import { jsonDocument } from './document.js';
import type { Io } from './io.js';
import { printable, renderList } from './output.js';
import { renderTable } from './table.js';

/** How `strategy` shows what its use cases (app/strategy.ts) return. Loaded only when a subcommand has run. */

/** `strategy list`: a table of id, type, construct and description; JSON, JSONL and CSV have every column. */
export function renderStrategyRows(io: Io, format: OutputFormat, rows: readonly StrategyRow[], target: string): void {
  if (format === 'json') {
    io.stdout.write(jsonDocument({ target, strategies: rows }));
    return;
  }
  if (format === 'jsonl') {
    for (const row of rows) io.stdout.write(`${JSON.stringify(row)}\n`);
    return;
  }
  if (format === 'csv') {
    io.stdout.write('id,strategy_type,construct_strategy,deconstruct_strategy,description,active\r\n');
    for (const row of rows) {
      const cells = [
        String(row.id),
        row.strategy_type,
        row.construct_strategy,
        row.deconstruct_strategy,
        row.description ?? '',
        String(row.active),
      ];
      io.stdout.write(`${cells.map(csvCell).join(',')}\r\n`);
    }
    return;
  }
  const cells = rows.map((row) => [String(row.id), row.strategy_type, printable(row.construct_strategy), printable(row.description ?? '')]);
  io.stdout.write(
    `${renderTable(io, [{ header: 'id', fit: 'fixed' }, { header: 'type', fit: 'fixed' }, { header: 'construct' }, { header: 'description' }], cells)}\n`,
  );
}

/** `strategy validate`: a block per strategy with its verdict and findings (-v: every failing value), or the reports as data. */
export function renderStrategyReports(io: Io, format: OutputFormat, reports: readonly StrategyReport[], verbose: boolean): void {
  if (format === 'json') {
    io.stdout.write(jsonDocument({ ok: reports.every((r) => r.ok), strategies: reports }));
    return;
  }
  if (format === 'jsonl') {
    for (const report of reports) io.stdout.write(`${JSON.stringify(report)}\n`);
    return;
  }
  if (format === 'csv') {
    io.stdout.write('id,status,code,field,message\r\n');
    for (const report of reports) {
      for (const f of report.findings)
        io.stdout.write(`${[String(report.strategy.id), f.status, f.code, f.field ?? '', f.message].map(csvCell).join(',')}\r\n`);
    }
    return;
  }
  const blocks = reports.map((report) => {
    const { strategy: row } = report;
    const verdict = report.ok
      ? report.warnings > 0
        ? `safe, with ${report.warnings} warning${report.warnings === 1 ? '' : 's'}`
        : 'safe'
      : report.errors > 0
        ? `NOT SAFE: ${report.errors} error${report.errors === 1 ? '' : 's'}${report.warnings > 0 ? `, ${report.warnings} warning${report.warnings === 1 ? '' : 's'}` : ''}`
        : `NOT SAFE with --strict: ${report.warnings} warning${report.warnings === 1 ? '' : 's'}`;
    const lines = [`strategy ${row.id}${row.description ? ` ${JSON.stringify(row.description)}` : ''} (${row.strategy_type}): ${verdict}`];
    lines.push(`  construct    ${row.construct_strategy}`, `  deconstruct  ${row.deconstruct_strategy}`);
    for (const finding of report.findings) {
      lines.push(`  ${finding.status.padEnd(7)}  ${finding.message}`);
      if (verbose && finding.failures) for (const failure of finding.failures) lines.push(`             - ${failure.message}`);
    }
    return lines.map(printable).join('\n');
  });
  io.stdout.write(`${blocks.join('\n\n')}\n`);
}

/** `strategy add`: a line per strategy (added, would add, unchanged), or the outcomes as data; the count for stderr. */
export async function renderStrategiesAdded(io: Io, format: OutputFormat, added: AddResult): Promise<void> {
  const { rows, results, dryRun, target } = added;
  if (format === 'table') {
    for (const [index, result] of results.entries()) {
      const row = rows[index]!;
      const what = `strategy ${row.id} (${row.strategy_type}${row.description ? `, ${JSON.stringify(row.description)}` : ''})`;
      io.stdout.write(
        result.outcome === 'added'
          ? `${dryRun ? 'would add' : 'added'} ${printable(what)}\n`
          : `unchanged ${printable(what)}: already there, identical\n`,
      );
    }
  } else {
    await renderList(io, format, {
      name: 'results',
      columns: [{ key: 'id' }, { key: 'outcome' }],
      rows: results.map((r) => ({ ...r, ...(dryRun ? { dry_run: true } : {}) })),
      fields: { target, dryRun },
    });
  }
}

/** "strategy add (dry run): 1 would be added, 0 unchanged (local …)". */
export function strategiesAddedLine({ results, dryRun, target }: AddResult): string {
  const added = results.filter((r) => r.outcome === 'added').length;
  return `strategy add${dryRun ? ' (dry run)' : ''}: ${added} ${dryRun ? 'would be ' : ''}added, ${results.length - added} unchanged (${target})`;
}
