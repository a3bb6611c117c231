import type { ConfigShown, ProfileRow } from '../app/config.js';
import type { OutputFormat } from '../config/constants.js';
import { jsonDocument } from './document.js';
import type { Io } from './io.js';
import { renderList } from './output.js';

/** How `config` shows what its use cases (app/config.ts) return. Loaded only when a subcommand has run. */

/** `config show`: the config file and the target above a table of settings; JSON a document; JSONL and CSV a target row first. */
export async function renderConfigShown(io: Io, format: OutputFormat, shown: ConfigShown): Promise<void> {
  const { sources, configFile, target } = shown;
  if (format === 'json') {
    io.stdout.write(jsonDocument({ configFile, target, unusedProfileSettings: shown.unused, settings: shown.settings, sources }));
    return;
  }
  // The config file is named above the table: "profile local", not the path again.
  const from = (key: string) =>
    format === 'table' ? (sources[key] ?? 'default').replace(` (${configFile})`, '') : (sources[key] ?? 'default');
  const rows = Object.entries(shown.settings).map(([setting, value]) => ({
    setting,
    value: typeof value === 'string' ? value : JSON.stringify(value),
    from: from(setting),
  }));
  if (format === 'table') {
    io.stdout.write(
      `config file: ${configFile}\ntarget: ${shown.targetLine}\n  named by the first of: --db/--url, SPARCTL_DB/SPARCTL_BASE_URL, the profile\n${shown.unusedNote ? `  ${shown.unusedNote}\n` : ''}`,
    );
  }
  // A row of its own in JSONL and CSV, where there is no header to say it.
  else rows.unshift({ setting: 'target', value: shown.targetWhere, from: target.source });
  await renderList(io, format, { name: 'settings', columns: [{ key: 'setting', fit: 'fixed' }, { key: 'value' }, { key: 'from' }], rows });
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
  if (format === 'json') io.stdout.write(jsonDocument({ paths }));
  else if (format === 'table') for (const [name, path] of Object.entries(paths)) io.stdout.write(`${name}\t${path}\n`);
  else
    await renderList(io, format, {
      name: 'paths',
      columns: [{ key: 'name' }, { key: 'path' }],
      rows: Object.entries(paths).map(([name, path]) => ({ name, path })),
    });
}
