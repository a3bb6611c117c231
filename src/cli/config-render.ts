import type { ConfigShown, ProfileRow } from '../app/config.js';
import type { OutputFormat } from '../config/constants.js';
import type { Io } from './io.js';
import { printable, renderList } from './output.js';
import { renderTable } from './table.js';

/** How `config` shows what its use cases (app/config.ts) return. Loaded only when a subcommand has run. */

/** `config show`: the config file and the target above a table of settings; JSON a document; JSONL and CSV a target row first. */
export async function renderConfigShown(io: Io, format: OutputFormat, shown: ConfigShown): Promise<void> {
  const { sources, configFile, target } = shown;
  const rows = (from: (key: string) => string) =>
    Object.entries(shown.settings).map(([setting, value]) => ({
      setting,
      value:
        typeof value === 'string'
          ? value
          : setting === 'strategies' && Array.isArray(value)
            ? inlineStrategies(value)
            : JSON.stringify(value),
      from: from(setting),
    }));
  const columns = [{ key: 'setting', fit: 'fixed' as const }, { key: 'value' }, { key: 'from' }];
  await renderList(io, format, {
    name: 'settings',
    columns,
    // A row of its own in JSONL and CSV, where there is no header to say it.
    rows: [{ setting: 'target', value: shown.targetWhere, from: target.source }, ...rows((key) => sources[key] ?? 'default')],
    document: { configFile, target, unusedProfileSettings: shown.unused, settings: shown.settings, sources },
    table: () => {
      // The config file is named above the table: "profile local", not the path again.
      const cells = rows((key) => (sources[key] ?? 'default').replace(` (${configFile})`, '')).map((row) => [
        row.setting,
        printable(row.value),
        printable(row.from),
      ]);
      const header = `config file: ${configFile}\ntarget: ${shown.targetLine}\n  named by the first of: --db/--url, SPARCTL_DB/SPARCTL_BASE_URL, the profile\n${shown.unusedNote ? `  ${shown.unusedNote}\n` : ''}`;
      return `${header}${renderTable(
        io,
        columns.map((column) => ({ ...column, header: column.key })),
        cells,
      )}`;
    },
  });
}

/** `config profiles`: at a terminal's table, the default profile says "yes". */
export async function renderProfiles(
  io: Io,
  format: OutputFormat,
  terminalTable: boolean,
  configFile: string,
  rows: readonly ProfileRow[],
): Promise<void> {
  await renderList(io, format, {
    name: 'profiles',
    columns: [
      { key: 'name', header: 'profile' },
      { key: 'mode', fit: 'fixed' },
      { key: 'default', fit: 'fixed' },
    ],
    rows: rows.map((row) => (terminalTable ? { ...row, default: row.default ? 'yes' : '' } : row)),
    fields: { configFile },
    empty: `no profiles in ${configFile}; commands use the built-in local mapper (create one with "sparctl config init")`,
  });
}

/** `config path`: a table run prints tab-separated lines with no header (`sparctl config path | grep data | cut -f2`). */
export async function renderPaths(io: Io, format: OutputFormat, paths: Readonly<Record<string, string>>): Promise<void> {
  await renderList(io, format, {
    name: 'paths',
    columns: [{ key: 'name' }, { key: 'path' }],
    rows: Object.entries(paths).map(([name, path]) => ({ name, path })),
    document: { paths },
    table: () =>
      Object.entries(paths)
        .map(([name, path]) => `${name}\t${path}`)
        .join('\n'),
  });
}

/** A profile's inline strategies in one cell: "2 inline, ids 7, 8" (-o json has them whole). */
function inlineStrategies(list: readonly unknown[]): string {
  const ids = list.map((row) => (typeof row === 'object' && row !== null ? (row as { id?: unknown }).id : undefined));
  return `${list.length} inline, ids ${ids.map((id) => String(id ?? '?')).join(', ')}`;
}
