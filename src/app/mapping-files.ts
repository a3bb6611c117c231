import {
  compileMapping,
  dfspDefinitionText,
  dfspLookupFrom,
  dfspLookupOf,
  type CompiledMapping,
  type DfspData,
  type DfspLookup,
} from '../core/mapping.js';

/**
 * The mapping and DFSP data an import reads its rows through (import-csv, import-odk): the
 * mapping file compiled, and the banks from --dfsp, else the target's own (sparctl dfsp import,
 * or dfspUrl). `mappingText` and `dfspKnown` go into the job's definition, so a changed mapping or
 * bank list is a new job.
 */
export interface MappingFiles {
  readonly mapping: CompiledMapping;
  readonly mappingText: string;
  readonly dfsp: DfspLookup | undefined;
  readonly dfspKnown: string | undefined;
}

export interface MappingFileDeps {
  readonly readText: (file: string, flag: string) => Promise<string>;
  readonly parseJson: (text: string, file: string, kind?: 'mapping' | 'dfsp') => unknown;
  readonly targetDfsp: () => Promise<DfspData | undefined>;
}

export async function loadMappingFiles(
  deps: MappingFileDeps,
  files: { mapping: string; dfsp?: string | undefined },
): Promise<MappingFiles> {
  const mappingText = await deps.readText(files.mapping, '--mapping');
  const dfspText = files.dfsp ? await deps.readText(files.dfsp, '--dfsp') : undefined;
  const mapping = compileMapping(deps.parseJson(mappingText, files.mapping), files.mapping);
  if (dfspText !== undefined)
    return { mapping, mappingText, dfsp: dfspLookupFrom(deps.parseJson(dfspText, files.dfsp!, 'dfsp'), files.dfsp), dfspKnown: dfspText };
  const data = await deps.targetDfsp();
  if (data === undefined) return { mapping, mappingText, dfsp: undefined, dfspKnown: undefined };
  return { mapping, mappingText, dfsp: dfspLookupOf(data, 'the DFSP data of the target', false), dfspKnown: dfspDefinitionText(data) };
}
