import { extname } from 'node:path';
import type { DfspDeps } from '../../app/dfsp.js';
import { UsageError } from '../../core/errors.js';
import { announceTarget, localMapperFile, mayMakeMapper, targetArgs, type CommandContext } from '../context.js';

/** What the dfsp use cases need, from this command's settings: the composition of app/dfsp.ts. */
export function dfspDeps(context: CommandContext, checkOutputFormat: () => void = () => undefined): DfspDeps {
  const { settings } = context.resolved;
  const { io } = context;
  return {
    remote: settings.mode === 'remote',
    ...(settings.db !== undefined ? { localDb: settings.db } : {}),
    announceTarget: () => announceTarget(context),
    readDfsp: async () => {
      announceTarget(context);
      if (settings.mode === 'local') localMapperFile(context, 'read');
      const { loadDfsp } = await import('../dfsp-data.js');
      return (await loadDfsp(context, { required: true }))!;
    },
    checkOutputFormat,
    openTables: async (dryRun, mayCreate) => {
      const access = !mayCreate ? 'read' : dryRun ? 'dry-run' : 'write';
      const { path, exists } = localMapperFile(context, access);
      // Only the default path, with no mapper made there yet, gets this far without one.
      if (!exists && !mayCreate)
        throw new UsageError('local.no_mapper', `no mapper at ${path} yet: its list is empty; nothing was removed`, {
          hint: '"sparctl dfsp import FILE" makes it with a list',
        });
      const { DfspStore } = await import('../../adapters/sqlite/dfsp-store.js');
      return DfspStore.open(path, { readOnly: dryRun, create: mayMakeMapper(context, access) });
    },
    readDfspFile: async (file) => {
      const { readText, parseJson } = await import('../files.js');
      if (extname(file).toLowerCase() === '.json') return { json: parseJson(await readText(file, 'dfsp import'), file, 'dfsp') };
      const { openInputFile } = await import('../../adapters/input/record-file.js');
      const { DFSP_CSV_COLUMNS } = await import('../../core/dfsp.js');
      const input = await openInputFile(file, { format: 'csv', stdin: io.stdin, knownColumns: DFSP_CSV_COLUMNS });
      const rows: { line: number; record: Record<string, unknown> }[] = [];
      for await (const record of input.records) rows.push(record);
      return { rows };
    },
    sparctl: `sparctl ${targetArgs(context)}`.trimEnd(),
    note: (line) => {
      if (!context.globals.quiet) io.stderr.write(`${line}\n`);
    },
  };
}
