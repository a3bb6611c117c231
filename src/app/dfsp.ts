import { lookAlikeCodes } from '../core/dfsp-codes.js';
import { dfspFromRows } from '../core/dfsp.js';
import { UsageError } from '../core/errors.js';
import { dfspLookupOf, parseDfspData, type DfspData } from '../core/mapping.js';

/**
 * `dfsp`'s use cases: list the target's banks, branches and wallet providers (filtered), and
 * import a file of them into a local mapper. Invariant: an import checks the whole file against
 * what the mapper already holds first; a bad row means nothing is imported.
 */

/** The local mapper's DFSP tables, open for one import. */
export interface DfspTables {
  read(): DfspData;
  import(data: DfspData, options: { dryRun: boolean }): { added: number; renamed: number; unchanged: number };
  close(): void;
}

export interface DfspDeps {
  /** Whether the target is a remote mapper. */
  readonly remote: boolean;
  /** The local mapper's database file, for what the person is told. */
  readonly localDb?: string;
  /** Says which mapper the command acts on, once. */
  readonly announceTarget: () => void;
  /** The target's DFSP data: a local mapper's tables (which must exist), or the bene-portal API of a remote one. */
  readonly readDfsp: () => Promise<DfspData>;
  /** Refuses an output format the import's summary has no form for, before anything is done. */
  readonly checkOutputFormat: () => void;
  /** Opens the local mapper's tables (which must exist, unless the creation rule allows it); read-only for a dry run. */
  readonly openTables: (dryRun: boolean) => Promise<DfspTables>;
  /** The file's content: a .json file's parsed JSON, else a CSV file's rows. */
  readonly readDfspFile: (
    file: string,
  ) => Promise<{ readonly json: unknown } | { readonly rows: readonly { line: number; record: Readonly<Record<string, unknown>> }[] }>;
  /** A line for the person (stderr), left out with -q. */
  readonly note: (line: string) => void;
}

export interface DfspFilter {
  readonly type?: 'banks' | 'branches' | 'wallets';
  /** Only the branches of this bank. */
  readonly bank?: string;
  /** Only entries whose code or name contains this, case ignored. */
  readonly search?: string;
}

export interface DfspRow {
  readonly type: 'bank' | 'branch' | 'mobile wallet' | 'e-mail wallet';
  readonly code: string;
  readonly name: string;
  readonly bank_code?: string;
}

/** `dfsp list`: banks, then branches, then wallet providers, as the filter allows. */
export async function listDfsp(deps: DfspDeps, filter: DfspFilter): Promise<{ rows: DfspRow[] }> {
  return { rows: dfspRows(await deps.readDfsp(), filter) };
}

export interface DfspImportResult {
  readonly file: string;
  readonly dryRun: boolean;
  readonly entries: { readonly banks: number; readonly branches: number; readonly wallet_providers: number };
  readonly added: number;
  readonly renamed: number;
  readonly unchanged: number;
}

/** `dfsp import`: a local mapper only; new codes added, known ones renamed when the name changed. */
export async function importDfsp(deps: DfspDeps, input: { readonly file: string; readonly dryRun: boolean }): Promise<DfspImportResult> {
  if (deps.remote) {
    throw new UsageError('dfsp.remote_import', 'dfsp import writes to the local mapper; SPAR has no API to write DFSP data', {
      hint: 'load it in SPAR with its own migrations or SQL; here, use --db or a local profile',
    });
  }
  deps.checkOutputFormat();
  deps.announceTarget();
  const { file, dryRun } = input;
  const tables = await deps.openTables(dryRun);
  try {
    const data = await dfspFileData(deps, file, tables.read());
    const counts = tables.import(data, { dryRun });
    const entries = { banks: data.banks.length, branches: data.branches.length, wallet_providers: data.wallet_providers.length };
    const would = dryRun ? 'would be ' : '';
    deps.note(
      `${file}: ${entries.banks + entries.branches + entries.wallet_providers} entries (${entries.banks} banks, ${entries.branches} branches, ${entries.wallet_providers} wallet providers): ${counts.added} ${would}added, ${counts.renamed} ${would}renamed, ${counts.unchanged} unchanged · local ${deps.localDb}`,
    );
    if (dryRun) deps.note('dry run: nothing was written');
    return { file, dryRun, entries, ...counts };
  } finally {
    tables.close();
  }
}

/** The file's entries, checked against what the mapper holds (a branch may name a bank imported before). */
async function dfspFileData(deps: DfspDeps, file: string, known: DfspData): Promise<DfspData> {
  const content = await deps.readDfspFile(file);
  if ('rows' in content) return dfspFromRows(content.rows, file, known);
  const data = parseDfspData(content.json, file);
  dfspLookupOf(
    { ...data, banks: [...known.banks.filter((bank) => !data.banks.some((b) => b.code === bank.code)), ...data.banks] },
    file,
    false,
  );
  // The file's codes are checked for look-alikes among themselves and against those known, as a
  // CSV's are (dfspFromRows); two the mapper holds already are not refused again here.
  const alike = lookAlikeCodes(data, known);
  if (alike.length > 0)
    throw new UsageError('dfsp.invalid', `${alike.map((problem) => `${file}: ${problem}`).join('; ')}; nothing was imported`, {
      hint: 'keep one code of each: a row whose code meant one would reach the other',
    });
  return data;
}

function dfspRows(data: DfspData, options: DfspFilter): DfspRow[] {
  const rows: DfspRow[] = [];
  if (options.type === undefined || options.type === 'banks')
    for (const bank of data.banks) if (options.bank === undefined) rows.push({ type: 'bank', code: bank.code, name: bank.name });
  if (options.type === undefined || options.type === 'branches') {
    for (const branch of data.branches)
      if (options.bank === undefined || branch.bank_code === options.bank)
        rows.push({ type: 'branch', code: branch.code, name: branch.name, bank_code: branch.bank_code });
  }
  if ((options.type === undefined || options.type === 'wallets') && options.bank === undefined) {
    for (const wallet of data.wallet_providers)
      rows.push({ type: wallet.wallet_type === 'MOBILE_WALLET' ? 'mobile wallet' : 'e-mail wallet', code: wallet.code, name: wallet.name });
  }
  const search = options.search?.toLowerCase();
  return search === undefined
    ? rows
    : rows.filter((row) => row.code.toLowerCase().includes(search) || row.name.toLowerCase().includes(search));
}
