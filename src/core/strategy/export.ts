/**
 * `sparctl strategy export`: strategies as an operator applies them to a SPAR deployment. SPAR
 * has no API for strategies (research/spar-api.md §8.1): rows reach its `strategy` table through
 * the chart's seed job (`seedData.strategies`) or through SQL. Both forms insert by explicit id
 * and never change an existing row, so every environment ends up with the same ids.
 *
 * Output is deterministic: rows sorted by id, fixed key order, no timestamps.
 */
import { UsageError } from '../errors.js';
import type { StrategyRow } from './strategy.js';

export const EXPORT_FORMATS = ['helm', 'sql', 'json'] as const;
export type ExportFormat = (typeof EXPORT_FORMATS)[number];

export function exportStrategies(rows: readonly StrategyRow[], format: ExportFormat): string {
  const sorted = [...rows].sort((a, b) => a.id - b.id);
  for (const row of sorted) {
    for (const text of [row.construct_strategy, row.deconstruct_strategy, row.description ?? '']) {
      if (text.includes('\0'))
        throw new UsageError('strategy.nul', `strategy ${row.id} contains a NUL character, which PostgreSQL text cannot store`);
    }
  }
  switch (format) {
    case 'helm':
      return helmSnippet(sorted);
    case 'sql':
      return sqlScript(sorted);
    case 'json':
      return `${JSON.stringify(sorted.map(jsonRow), null, 2)}\n`;
  }
}

function jsonRow(row: StrategyRow) {
  return {
    id: row.id,
    strategy_type: row.strategy_type,
    description: row.description,
    construct_strategy: row.construct_strategy,
    deconstruct_strategy: row.deconstruct_strategy,
    active: row.active,
  };
}

// ---------------------------------------------------------------------------------------------
// Helm: the chart's own field names and order (deployment/charts/openg2p-spar/values.yaml)

function helmSnippet(rows: readonly StrategyRow[]): string {
  const lines = [
    '# SPAR strategies for the openg2p-spar chart (sparctl strategy export --format helm).',
    "# Helm replaces a list as a whole: keep every entry, SPAR's defaults 1-5 included. The seed job",
    '# inserts each id with ON CONFLICT (id) DO NOTHING, so append new ids; never edit an existing one.',
    'seedData:',
    '  strategies:',
  ];
  for (const row of rows) {
    lines.push(`    - id: ${row.id}`);
    // The chart's seed SQL quotes description itself, so a missing one is written as ''.
    lines.push(`      description: ${yamlString(row.description ?? '')}`);
    lines.push(`      strategy_type: ${row.strategy_type}`);
    lines.push(`      construct_strategy: ${yamlString(row.construct_strategy)}`);
    lines.push(`      deconstruct_strategy: ${yamlString(row.deconstruct_strategy)}`);
    // The chart defaults active to true (`hasKey . "active"`).
    if (!row.active) lines.push('      active: false');
  }
  return `${lines.join('\n')}\n`;
}

/** Characters a single-quoted YAML scalar cannot hold as they are. */
const YAML_UNPRINTABLE = /[\u0000-\u0008\u000a-\u001f\u007f-\u009f\u2028\u2029\ufeff\ud800-\udfff]/u;

/**
 * A YAML scalar that reads back as exactly `text`: single-quoted (nothing is an escape there but
 * a doubled quote) unless it holds characters that only a double-quoted scalar can escape.
 */
export function yamlString(text: string): string {
  if (!YAML_UNPRINTABLE.test(text) && !text.includes('\t')) return `'${text.replace(/'/g, "''")}'`;
  let out = '"';
  for (const ch of text) {
    const cp = ch.codePointAt(0)!;
    if (ch === '"') out += '\\"';
    else if (ch === '\\') out += '\\\\';
    else if (ch === '\n') out += '\\n';
    else if (ch === '\t') out += '\\t';
    else if (ch === '\r') out += '\\r';
    else if (YAML_UNPRINTABLE.test(ch)) out += `\\u${cp.toString(16).padStart(4, '0')}`;
    else out += ch;
  }
  return `${out}"`;
}

// ---------------------------------------------------------------------------------------------
// SQL (PostgreSQL)

function sqlScript(rows: readonly StrategyRow[]): string {
  const lines = [
    '-- SPAR strategies (sparctl strategy export --format sql).',
    '-- Idempotent: an id that exists is left as it is (ON CONFLICT (id) DO NOTHING); nothing is',
    '-- updated or deleted, and an id that exists with another definition stops the script.',
    '-- Apply with: psql "$DATABASE_URL" -v ON_ERROR_STOP=1 -f strategies.sql',
    'BEGIN;',
  ];
  for (const row of rows) {
    const values = [
      String(row.id),
      row.description === null ? 'NULL' : sqlString(row.description),
      sqlString(row.strategy_type),
      sqlString(row.construct_strategy),
      sqlString(row.deconstruct_strategy),
      row.active ? 'true' : 'false',
      'now()',
      'now()',
    ];
    lines.push(
      'INSERT INTO strategy (id, description, strategy_type, construct_strategy, deconstruct_strategy, active, created_at, updated_at)',
    );
    lines.push(`VALUES (${values.join(', ')})`);
    lines.push('ON CONFLICT (id) DO NOTHING;');
  }
  lines.push(...definitionCheck(rows));
  lines.push(
    '-- The ids above are explicit: move the id sequence past them, so that a row inserted',
    '-- without an id cannot collide with one of them (a no-op when the column has no sequence).',
    "SELECT setval(pg_get_serial_sequence('strategy', 'id'), (SELECT max(id) FROM strategy));",
    'COMMIT;',
  );
  return `${lines.join('\n')}\n`;
}

/**
 * A block that stops the script, and so rolls back the transaction, when an id it inserts was
 * already there with another definition: ON CONFLICT DO NOTHING kept that row, and the same id
 * would then mean two strategies in two environments. Description and `active` may differ (SPAR
 * looks a strategy up by id alone and never reads either).
 */
function definitionCheck(rows: readonly StrategyRow[]): string[] {
  if (rows.length === 0) return [];
  const values = rows.map(
    (row) => `(${row.id}, ${sqlString(row.strategy_type)}, ${sqlString(row.construct_strategy)}, ${sqlString(row.deconstruct_strategy)})`,
  );
  const body = [
    'DECLARE differing text;',
    'BEGIN',
    "  SELECT string_agg(s.id::text, ', ' ORDER BY s.id) INTO differing",
    '  FROM strategy AS s',
    '  JOIN (VALUES',
    ...values.map((value, i) => `    ${value}${i < values.length - 1 ? ',' : ''}`),
    '  ) AS e (id, strategy_type, construct_strategy, deconstruct_strategy) ON s.id = e.id',
    // As text: a SPAR whose model declares strategy_type an Enum has a native enum column there, with no = to text.
    '  WHERE (s.strategy_type::text, s.construct_strategy::text, s.deconstruct_strategy::text)',
    '    IS DISTINCT FROM (e.strategy_type, e.construct_strategy, e.deconstruct_strategy);',
    '  IF differing IS NOT NULL THEN',
    "    RAISE EXCEPTION 'strategy id(s) % already hold another definition in this database; nothing of this script was applied', differing",
    "      USING HINT = 'an id means one strategy in every environment: give the new strategy an id this database does not use';",
    '  END IF;',
    'END',
  ].join('\n');
  // A dollar-quote tag that no strategy text contains, or the body would end early.
  let tag = '$check$';
  for (let n = 1; body.includes(tag.slice(0, -1)); n++) tag = `$check${n}$`;
  return [
    '-- An id above that this database already holds with another definition was left as it is:',
    '-- stop here (the transaction is rolled back) rather than let the id mean another strategy.',
    `DO ${tag}`,
    body,
    `${tag};`,
  ];
}

const SQL_NEEDS_ESCAPES = /[\\\u0000-\u001f\u007f]/;

/**
 * A PostgreSQL string literal for `text`. Plain `'…'` with doubled quotes when the text has no
 * backslash or control character; otherwise an escape string `E'…'`, in which backslashes are
 * doubled, so the value is the same whatever `standard_conforming_strings` is set to.
 */
export function sqlString(text: string): string {
  if (!SQL_NEEDS_ESCAPES.test(text)) return `'${text.replace(/'/g, "''")}'`;
  let out = "E'";
  for (const ch of text) {
    if (ch === "'") out += "''";
    else if (ch === '\\') out += '\\\\';
    else if (ch === '\n') out += '\\n';
    else if (ch === '\r') out += '\\r';
    else if (ch === '\t') out += '\\t';
    else if (SQL_NEEDS_ESCAPES.test(ch)) out += `\\u${ch.codePointAt(0)!.toString(16).padStart(4, '0')}`;
    else out += ch;
  }
  return `${out}'`;
}
