import { readFile } from 'node:fs/promises';
import { Command, Option } from 'commander';
import { ExitCode, UsageError } from '../../core/errors.js';
import type { StrategyRow } from '../../core/strategy/strategy.js';
import type { StrategyReport } from '../../core/strategy/validate.js';
import type { CommandContext, GlobalOptions } from '../context.js';
import { defaultFormat, type Io } from '../io.js';
import { outputFormatNamed } from '../../config/constants.js';
import { jsonDocument } from '../document.js';

interface DefinitionOptions {
  file?: string;
  id?: string;
  type?: string;
  construct?: string;
  deconstruct?: string;
  description?: string;
}

const DEFINITION_HELP = `
A strategy is given by flags (--id, --type, --construct, --deconstruct, --description) or by
--file: JSON (one strategy object, a list of them, or {"seedData": {"strategies": [...]}}) or
the same in simple YAML (block mappings and lists, one-line values; the chart's values.yaml
reads as is). Fields: id, strategy_type (FA|ID), construct_strategy (Python str.format),
deconstruct_strategy (Python re with (?P<name>...) groups), description, active.`;

/** `sparctl strategy list | validate | add | export`. */
export function strategyCommand(io: Io, setExit: (code: number) => void): Command {
  const strategy = new Command('strategy')
    .description('list, validate, add and export strategies (how SPAR builds an FA string and reads it back)')
    .addHelpText(
      'after',
      `
Strategies are append-only: an id, once used, always means the same strategy in every
environment. Add a changed strategy as a new version under a new id.

Examples:
  $ sparctl strategy list
  $ sparctl strategy validate 2
  $ sparctl strategy validate --file strategies.json
  $ sparctl strategy add --file strategies.json
  $ sparctl strategy export --format helm > spar-strategies.yaml`,
    );

  strategy
    .command('list')
    .description("list the strategies of the local mapper, or the ones sparctl knows for a remote profile")
    .addHelpText(
      'after',
      `
Columns: id, type, construct template, description (-o json adds the deconstruct regex).
SPAR has no API for strategies, so for a remote profile this is what sparctl knows: SPAR's
defaults 1-5.

Examples:
  $ sparctl strategy list
  $ sparctl strategy list -o json
  $ sparctl --profile staging strategy list`,
    )
    .action(async (_options: unknown, cmd: Command) => {
      const globals = cmd.optsWithGlobals<GlobalOptions>();
      const { loadContext } = await import('../context.js');
      const context = await loadContext(io, globals);
      const { rows, target } = await targetRows(context);
      if (context.resolved.settings.mode === 'remote' && !globals.quiet) {
        io.stderr.write(`SPAR has no API to list strategies: these are the ones sparctl knows for ${target}\n`);
      }
      await printRows(io, context, rows, target);
      setExit(ExitCode.ok);
    });

  addDefinitionOptions(
    strategy
      .command('validate')
      .description('check that a strategy builds FAs SPAR reads back exactly (exit 0 only when it is safe)')
      .argument('[ids...]', 'validate these strategies of the profile instead (default: all of them)')
      .option('--strict', 'fail on warnings too'),
  )
    .addHelpText(
      'after',
      `${DEFINITION_HELP}

Checks: the template is Python str.format and the regex Python re that sparctl reproduces
exactly; no catastrophic backtracking; every {field} has a (?P<field>...) group and every group
a field (or reads a constant); FA strategies use FA field names of one kind; and a round trip
of plain, ordinary and adversarial values (the template's own labels, dots, colons, empty
values, line breaks, other scripts) through construct and re.match gives every field back.

An error (exit 2) is a strategy that misreads values real data has. A warning is a value that
only fails because it contains the template's own text (".branch_name:") or is one sparctl
refuses on input (empty, a line break): sparctl refuses such records at link time. SPAR's
defaults pass with warnings. -v lists every failing value; -o json gives the full report.

Examples:
  $ sparctl strategy validate
  $ sparctl strategy validate 2 5
  $ sparctl strategy validate --file strategies.json --strict
  $ sparctl strategy validate --id 7 --construct 'bank:{bank_code}|account:{account_number}' \\
      --deconstruct '^bank:(?P<bank_code>[^|]*)\\|account:(?P<account_number>.*)$'`,
    )
    .action(async (ids: string[], options: DefinitionOptions & { strict?: boolean }, cmd: Command) => {
      const globals = cmd.optsWithGlobals<GlobalOptions>();
      let rows = await definitionRows(io, options);
      if (rows === null) {
        const { loadContext } = await import('../context.js');
        rows = selectIds((await targetRows(await loadContext(io, globals))).rows, ids);
      } else if (ids.length > 0) {
        throw new UsageError('usage.strategy_ids', 'give strategy ids or a strategy definition (--file or flags), not both');
      }
      const { validateStrategy } = await import('../../core/strategy/validate.js');
      const reports = rows.map((row) => validateStrategy(row, { strict: options.strict === true }));
      await printReports(io, globals, reports);
      const failed = reports.filter((report) => !report.ok);
      if (failed.length > 0) {
        io.stderr.write(`sparctl: error [strategy.unsafe]: ${failed.map((r) => `strategy ${r.strategy.id}`).join(', ')} ${failed.length > 1 ? 'are' : 'is'} not safe: ${verdictCounts(failed)}\n`);
      }
      setExit(failed.length > 0 ? ExitCode.usage : ExitCode.ok);
    });

  addDefinitionOptions(
    strategy
      .command('add')
      .description('validate strategies and append them to the local mapper under their ids (never changes an existing id)')
      .option('--strict', 'refuse strategies with warnings too')
      .option('--dry-run', 'validate and say what would be added; write nothing'),
  )
    .addHelpText(
      'after',
      `${DEFINITION_HELP}

The strategy is validated first (as "strategy validate"); one with errors is refused. Adding an
id that exists with the same content does nothing; with different content it is refused: FAs
already stored with that id must keep reading back the same way. Add the new version under a
new id instead. All strategies of a file are added, or none.

SPAR has no API for strategies: for a SPAR deployment, export them (strategy export) and apply
the Helm values or SQL there, so that every environment gets the same ids.

Examples:
  $ sparctl strategy add --id 7 --type FA --description "Bank code and account" \\
      --construct 'bank:{bank_code}|account:{account_number}' \\
      --deconstruct '^bank:(?P<bank_code>[^|]*)\\|account:(?P<account_number>.*)$'
  $ sparctl strategy add --file strategies.json
  $ sparctl --db field.db strategy add --file spar-values.yaml`,
    )
    .action(async (options: DefinitionOptions & { strict?: boolean; dryRun?: boolean }, cmd: Command) => {
      const globals = cmd.optsWithGlobals<GlobalOptions>();
      const { loadContext } = await import('../context.js');
      const context = await loadContext(io, globals);
      const { settings } = context.resolved;
      if (settings.mode !== 'local') {
        throw new UsageError('strategy.remote_add', 'strategy add writes to the local mapper; SPAR has no API to add strategies', {
          hint: 'export them with "sparctl strategy export --format helm" or "--format sql" and apply that to the deployment',
        });
      }
      const rows = await definitionRows(io, options);
      if (rows === null) {
        throw new UsageError('usage.strategy_missing', 'give the strategy with --file, or with --id, --construct and --deconstruct (and --type, --description)');
      }
      const { validateStrategy } = await import('../../core/strategy/validate.js');
      const reports = rows.map((row) => validateStrategy(row, { strict: options.strict === true }));
      const { printable } = await import('../output.js');
      // The target line before the findings, as first line of what this command says.
      const { announceTarget } = await import('../context.js');
      announceTarget(context);
      const failed = reports.filter((report) => !report.ok);
      for (const report of reports) {
        for (const finding of report.findings) {
          const shown = finding.status === 'error' || (finding.status === 'warning' && (!globals.quiet || !report.ok));
          if (shown) io.stderr.write(`${finding.status}: strategy ${report.strategy.id}: ${printable(finding.message)}\n`);
        }
      }
      if (failed.length > 0) {
        throw new UsageError('strategy.unsafe', `${failed.map((r) => `strategy ${r.strategy.id}`).join(', ')} ${failed.length > 1 ? 'are' : 'is'} not safe (${verdictCounts(failed)}); nothing was added`, {
          hint: 'fix the errors above; "sparctl strategy validate" shows the full report',
        });
      }
      const { openMapper } = await import('../context.js');
      const dryRun = options.dryRun === true;
      const mapper = (await openMapper(context, dryRun ? 'dry-run' : 'write')) as import('../../adapters/sqlite/local-mapper.js').LocalMapper;
      try {
        const results = mapper.addStrategies(rows, { dryRun });
        const format = defaultFormat(io, context.resolved.settings.output);
        if (format === 'table') {
          for (const [index, result] of results.entries()) {
            const row = rows[index]!;
            const what = `strategy ${row.id} (${row.strategy_type}${row.description ? `, ${JSON.stringify(row.description)}` : ''})`;
            io.stdout.write(result.outcome === 'added' ? `${dryRun ? 'would add' : 'added'} ${printable(what)}\n` : `unchanged ${printable(what)}: already there, identical\n`);
          }
        } else {
          const { renderList } = await import('../output.js');
          await renderList(io, format, { name: 'results', columns: [{ key: 'id' }, { key: 'outcome' }], rows: results.map((r) => ({ ...r, ...(dryRun ? { dry_run: true } : {}) })), fields: { target: mapper.target, dryRun } });
        }
        if (!globals.quiet) {
          const added = results.filter((r) => r.outcome === 'added').length;
          io.stderr.write(`strategy add${dryRun ? ' (dry run)' : ''}: ${added} ${dryRun ? 'would be ' : ''}added, ${results.length - added} unchanged (${mapper.target})\n`);
          if (dryRun) io.stderr.write('dry run: nothing was written\n');
        }
      } finally {
        await mapper.close();
      }
      setExit(ExitCode.ok);
    });

  addDefinitionOptions(
    strategy
      .command('export')
      .description('print strategies as Helm seedData values, idempotent SQL, or JSON, to apply to a SPAR deployment')
      .addOption(new Option('--format <format>', 'helm: seedData.strategies for the chart; sql: INSERT ... ON CONFLICT (id) DO NOTHING; json: a list').choices(['helm', 'sql', 'json']).makeOptionMandatory())
      .argument('[ids...]', 'only these strategies of the profile (default: all, SPAR\'s defaults included)'),
  )
    .addHelpText(
      'after',
      `
By default the profile's strategies are exported (the local mapper's table); --file or the
definition flags export those instead, after validating them. The output is the same for the
same strategies (sorted by id, no timestamps), so it can be kept in version control.

helm: merge into the chart's values. Helm replaces lists whole, so the snippet keeps SPAR's
      defaults 1-5; the seed job inserts each id with ON CONFLICT (id) DO NOTHING.
sql:  one transaction of INSERT ... ON CONFLICT (id) DO NOTHING, then the id sequence is moved
      past the explicit ids. Run with psql -v ON_ERROR_STOP=1 -f FILE.
json: a list of rows, which --file reads back.
${DEFINITION_HELP}

Examples:
  $ sparctl strategy export --format helm > spar-strategies.yaml
  $ sparctl strategy export --format sql 6 7 | psql "$DATABASE_URL" -v ON_ERROR_STOP=1
  $ sparctl strategy export --format json --file strategies.yaml`,
    )
    .action(async (ids: string[], options: DefinitionOptions & { format: 'helm' | 'sql' | 'json' }, cmd: Command) => {
      const { refuseOutputFlag } = await import('../output.js');
      refuseOutputFlag('strategy export', cmd.optsWithGlobals<GlobalOptions>().output, 'its --format (helm, sql, json) says what it writes');
      const globals = cmd.optsWithGlobals<GlobalOptions>();
      let rows = await definitionRows(io, options);
      if (rows === null) {
        const { loadContext } = await import('../context.js');
        rows = selectIds((await targetRows(await loadContext(io, globals))).rows, ids);
      } else {
        if (ids.length > 0) throw new UsageError('usage.strategy_ids', 'give strategy ids or a strategy definition (--file or flags), not both');
        const { validateStrategy } = await import('../../core/strategy/validate.js');
        const failed = rows.map((row) => validateStrategy(row)).filter((report) => !report.ok);
        if (failed.length > 0) {
          throw new UsageError('strategy.unsafe', `${failed.map((r) => `strategy ${r.strategy.id}`).join(', ')} ${failed.length > 1 ? 'are' : 'is'} not safe (${verdictCounts(failed)}); nothing was exported`, {
            hint: '"sparctl strategy validate" with the same definition shows why',
          });
        }
      }
      const { exportStrategies } = await import('../../core/strategy/export.js');
      io.stdout.write(exportStrategies(rows, options.format));
      setExit(ExitCode.ok);
    });

  return strategy;
}

function addDefinitionOptions(command: Command): Command {
  return command
    .option('--file <file>', 'strategies from a JSON or YAML file ("-" = stdin)')
    .option('--id <n>', 'the strategy id: a whole number, the same in every environment')
    .addOption(new Option('--type <type>', 'FA (financial address, the default) or ID').choices(['FA', 'ID']))
    .option('--construct <template>', 'construct_strategy: a Python str.format template, e.g. "bank:{bank_code}|account:{account_number}"')
    .option('--deconstruct <regex>', 'deconstruct_strategy: a Python regex with (?P<name>...) groups')
    .option('--description <text>', 'what the strategy is for');
}

/** The strategies the options define, or null when they define none. */
async function definitionRows(io: Io, options: DefinitionOptions): Promise<StrategyRow[] | null> {
  const flagged = options.id !== undefined || options.type !== undefined || options.construct !== undefined || options.deconstruct !== undefined || options.description !== undefined;
  const { strategyRowsFrom, strategyRowFromFlags } = await import('../../core/strategy/validate.js');
  if (options.file !== undefined) {
    if (flagged) throw new UsageError('usage.strategy_both', 'give the strategy with --file or with flags (--id, --type, --construct, --deconstruct, --description), not both');
    const text = await readDefinitionFile(io, options.file);
    return strategyRowsFrom(await parseDefinitionText(text, options.file), options.file);
  }
  if (!flagged) return null;
  return [strategyRowFromFlags({ ...options, type: options.type ?? 'FA' })];
}

async function readDefinitionFile(io: Io, file: string): Promise<string> {
  try {
    if (file !== '-') return await readFile(file, 'utf8');
    let text = '';
    for await (const chunk of io.stdin) text += typeof chunk === 'string' ? chunk : (chunk as Buffer).toString('utf8');
    return text;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new UsageError('usage.unreadable', `--file ${file}: ${code === 'ENOENT' ? 'no such file' : (error as Error).message}`);
  }
}

/** JSON when the text starts like JSON, simple YAML otherwise (whatever the file is called). */
async function parseDefinitionText(text: string, file: string): Promise<unknown> {
  const body = text.replace(/^\uFEFF/, '');
  if (/^\s*[[{]/.test(body)) {
    try {
      return JSON.parse(body);
    } catch (error) {
      throw new UsageError('strategy.invalid', `${file}: not valid JSON (${(error as Error).message})`);
    }
  }
  if (body.trim() === '') throw new UsageError('strategy.invalid', `${file}: the file is empty`);
  const { parseSimpleYaml } = await import('../../core/strategy/simple-yaml.js');
  return parseSimpleYaml(body, file);
}

/** The profile's strategies as plain rows: the local table, or what sparctl knows for a remote. */
async function targetRows(context: CommandContext): Promise<{ rows: StrategyRow[]; target: string }> {
  const { openMapper } = await import('../context.js');
  const mapper = await openMapper(context, 'read');
  try {
    const rows = (await mapper.strategies()).map((s): StrategyRow => ({
      id: s.id,
      strategy_type: s.strategy_type,
      construct_strategy: s.construct_strategy,
      deconstruct_strategy: s.deconstruct_strategy,
      description: s.description,
      active: s.active,
    }));
    return { rows: rows.sort((a, b) => a.id - b.id), target: mapper.target };
  } finally {
    await mapper.close();
  }
}

function selectIds(rows: StrategyRow[], ids: readonly string[]): StrategyRow[] {
  if (ids.length === 0) return rows;
  const byId = new Map(rows.map((row) => [row.id, row]));
  const picked: StrategyRow[] = [];
  for (const id of ids) {
    const row = /^[0-9]+$/.test(id) ? byId.get(Number(id)) : undefined;
    if (row === undefined) {
      throw new UsageError('strategy.unknown', `strategy ${id} is not known to this profile (known: ${[...byId.keys()].join(', ')})`, {
        hint: 'see "sparctl strategy list", or give the definition with --file or flags',
      });
    }
    if (!picked.includes(row)) picked.push(row);
  }
  return picked;
}

function verdictCounts(reports: readonly StrategyReport[]): string {
  const errors = reports.reduce((n, r) => n + r.errors, 0);
  const warnings = reports.reduce((n, r) => n + r.warnings, 0);
  const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;
  if (errors === 0) return `${plural(warnings, 'warning')}, with --strict`;
  return warnings > 0 ? `${plural(errors, 'error')}, ${plural(warnings, 'warning')}` : plural(errors, 'error');
}

async function printReports(io: Io, globals: GlobalOptions, reports: readonly StrategyReport[]): Promise<void> {
  const format = defaultFormat(io, globals.output ?? outputFormatNamed(io.env['SPARCTL_OUTPUT']));
  if (format === 'json') {
    io.stdout.write(jsonDocument({ ok: reports.every((r) => r.ok), strategies: reports }));
    return;
  }
  if (format === 'jsonl') {
    for (const report of reports) io.stdout.write(`${JSON.stringify(report)}\n`);
    return;
  }
  const { printable } = await import('../output.js');
  if (format === 'csv') {
    const { csvCell } = await import('../../adapters/files/csv-cells.js');
    io.stdout.write('id,status,code,field,message\r\n');
    for (const report of reports) {
      for (const f of report.findings) io.stdout.write(`${[String(report.strategy.id), f.status, f.code, f.field ?? '', f.message].map(csvCell).join(',')}\r\n`);
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
      if (globals.verbose && finding.failures) for (const failure of finding.failures) lines.push(`             - ${failure.message}`);
    }
    return lines.map(printable).join('\n');
  });
  io.stdout.write(`${blocks.join('\n\n')}\n`);
}

async function printRows(io: Io, context: CommandContext, rows: readonly StrategyRow[], target: string): Promise<void> {
  const { printable } = await import('../output.js');
  const format = defaultFormat(io, context.resolved.settings.output);
  if (format === 'json') {
    io.stdout.write(jsonDocument({ target, strategies: rows }));
    return;
  }
  if (format === 'jsonl') {
    for (const row of rows) io.stdout.write(`${JSON.stringify(row)}\n`);
    return;
  }
  if (format === 'csv') {
    const { csvCell } = await import('../../adapters/files/csv-cells.js');
    io.stdout.write('id,strategy_type,construct_strategy,deconstruct_strategy,description,active\r\n');
    for (const row of rows) {
      const cells = [String(row.id), row.strategy_type, row.construct_strategy, row.deconstruct_strategy, row.description ?? '', String(row.active)];
      io.stdout.write(`${cells.map(csvCell).join(',')}\r\n`);
    }
    return;
  }
  const { renderTable } = await import('../table.js');
  const cells = rows.map((row) => [String(row.id), row.strategy_type, printable(row.construct_strategy), printable(row.description ?? '')]);
  io.stdout.write(`${renderTable(io, [{ header: 'id', fit: 'fixed' }, { header: 'type', fit: 'fixed' }, { header: 'construct' }, { header: 'description' }], cells)}\n`);
}
