import { lookAlikeCodes } from '../core/dfsp-codes.js';
import { DFSP_TYPES, dfspFromRows, dfspTypeOf, type DfspEntry, type DfspRemoval } from '../core/dfsp.js';
import { UsageError } from '../core/errors.js';
import { shellWord } from '../core/shell-word.js';
import { closest } from '../core/strategy/validate.js';
import { dfspLookupOf, parseDfspData, type DfspData } from '../core/mapping.js';

/**
 * `dfsp`'s use cases: list the target's banks, branches and wallet providers (filtered), import
 * a file of them into a local mapper, and remove one from it. Invariants: an import checks the
 * whole file against what the mapper already holds first, a bad row means nothing is imported;
 * a bank is never removed from under its listed branches unless they are named to go with it.
 */

/** The local mapper's DFSP tables, open for one import. */
export interface DfspTables {
  read(): DfspData;
  import(data: DfspData, options: { dryRun: boolean }): { added: number; renamed: number; unchanged: number };
  remove(entry: DfspEntry, options: { withBranches: boolean; dryRun: boolean }): DfspRemoval;
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
  /**
   * Opens the local mapper's tables (which must exist, unless the creation rule allows it and
   * `mayCreate`); read-only for a dry run. Without `mayCreate`, a mapper not made yet is an empty
   * list, and no file is made.
   */
  readonly openTables: (dryRun: boolean, mayCreate: boolean) => Promise<DfspTables>;
  /** The file's content: a .json file's parsed JSON, else a CSV file's rows. */
  readonly readDfspFile: (
    file: string,
  ) => Promise<{ readonly json: unknown } | { readonly rows: readonly { line: number; record: Readonly<Record<string, unknown>> }[] }>;
  /** A line for the person (stderr), left out with -q. */
  readonly note: (line: string) => void;
  /** How the commands hints suggest begin, naming this run's mapper (`sparctl --db x.db`); `sparctl` without. */
  readonly sparctl: string;
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
  const tables = await deps.openTables(dryRun, true);
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

export interface DfspRemoveInput {
  /** BANK, BRANCH, MOBILE_WALLET or EMAIL_WALLET (any case; `mobile wallet` as `dfsp list` shows it). */
  readonly type: string;
  readonly code: string;
  /** The bank of a BRANCH. */
  readonly bank?: string;
  /** A BANK's listed branches go with it. */
  readonly withBranches: boolean;
  readonly dryRun: boolean;
}

export interface DfspRemoveResult {
  readonly dryRun: boolean;
  readonly type: (typeof DFSP_TYPES)[number];
  readonly code: string;
  readonly bank_code?: string;
  readonly name: string;
  /** A BANK's branches removed with it (or that would be). */
  readonly branches?: readonly string[];
}

/**
 * `dfsp remove`: one bank (and, named to, its branches), branch or wallet provider out of a local
 * mapper's list, so that imports and `fa edit` no longer take its code. FAs already linked with
 * it are not changed; a later `dfsp import` of it brings it back.
 */
export async function removeDfsp(deps: DfspDeps, input: DfspRemoveInput): Promise<DfspRemoveResult> {
  if (deps.remote) {
    throw new UsageError('dfsp.remote_write', 'dfsp remove writes to the local mapper; SPAR has no API to write DFSP data', {
      hint: 'change it in SPAR with its own migrations or SQL; here, use --db or a local profile',
    });
  }
  const type = dfspTypeOf(input.type.trim());
  if (!(DFSP_TYPES as readonly string[]).includes(type))
    throw new UsageError('usage.invalid_argument', `dfsp remove: the type must be one of ${DFSP_TYPES.join(', ')}, got "${input.type}"`);
  const kind = type as (typeof DFSP_TYPES)[number];
  const code = input.code.trim();
  const bank = input.bank?.trim();
  if (code === '') throw new UsageError('usage.invalid_argument', 'dfsp remove: the code is empty');
  if (kind === 'BRANCH' && (bank === undefined || bank === ''))
    throw new UsageError('usage.missing_mandatory_option_value', 'dfsp remove BRANCH: --bank is needed (branch codes are per bank)', {
      hint: `e.g. ${deps.sparctl} dfsp remove BRANCH ${shellWord(code)} --bank LBP; "${deps.sparctl} dfsp list --type branches" shows each branch's bank`,
    });
  if (kind !== 'BRANCH' && bank !== undefined)
    throw new UsageError('usage.conflicting_option', `dfsp remove ${kind}: --bank is for a BRANCH only`, { hint: 'drop --bank' });
  if (kind !== 'BANK' && input.withBranches)
    throw new UsageError('usage.conflicting_option', `dfsp remove ${kind}: --with-branches is for a BANK only`, {
      hint: 'drop --with-branches',
    });
  deps.checkOutputFormat();
  deps.announceTarget();
  const entry: DfspEntry =
    kind === 'BANK'
      ? { kind: 'bank', code }
      : kind === 'BRANCH'
        ? { kind: 'branch', code, bankCode: bank! }
        : { kind: 'wallet', code, walletType: kind };
  const what = kind === 'BRANCH' ? `branch ${code} of bank ${bank}` : `${KIND_WORDS[kind]} ${code}`;
  // Nothing to remove from a mapper not made yet: never one made to say so.
  const tables = await deps.openTables(input.dryRun, false);
  try {
    const removal = tables.remove(entry, { withBranches: input.withBranches, dryRun: input.dryRun });
    if (!removal.found) {
      const listed = tables.read();
      const near = nearCodes(entry, listed);
      throw new UsageError('dfsp.not_found', `${what}: not in the list of ${deps.localDb}; nothing was removed`, {
        hint:
          near.length > 0
            ? `did you mean ${near.map((c) => `"${c}"`).join(' or ')}? "${deps.sparctl} dfsp list" shows the list`
            : `"${deps.sparctl} dfsp list" shows the list`,
      });
    }
    // The store removed nothing then: a bank's branches go with it only when named to.
    if (removal.branches.length > 0 && !input.withBranches) {
      const shown =
        removal.branches.slice(0, 5).join(', ') + (removal.branches.length > 5 ? `, … (${removal.branches.length} in all)` : '');
      throw new UsageError(
        'dfsp.has_branches',
        `${what} (${removal.name}) has ${removal.branches.length} branch${removal.branches.length === 1 ? '' : 'es'} listed (${shown}); nothing was removed`,
        {
          hint: `pass --with-branches to remove them with it, or remove them one by one with "${deps.sparctl} dfsp remove BRANCH CODE --bank ${shellWord(code)}"`,
        },
      );
    }
    const would = input.dryRun ? 'would be ' : '';
    const withBranches =
      removal.branches.length > 0 ? ` with its ${removal.branches.length} branch${removal.branches.length === 1 ? '' : 'es'}` : '';
    deps.note(
      `${what} (${removal.name})${withBranches} ${would}removed from the list · local ${deps.localDb}; FAs already linked with it are unchanged`,
    );
    if (input.dryRun) deps.note('dry run: nothing was written');
    return {
      dryRun: input.dryRun,
      type: kind,
      code,
      ...(kind === 'BRANCH' ? { bank_code: bank! } : {}),
      name: removal.name,
      ...(kind === 'BANK' ? { branches: removal.branches } : {}),
    };
  } finally {
    tables.close();
  }
}

const KIND_WORDS = {
  BANK: 'bank',
  BRANCH: 'branch',
  MOBILE_WALLET: 'mobile wallet provider',
  EMAIL_WALLET: 'e-mail wallet provider',
} as const;

/** Listed codes of the same kind that differ from the entry's only in case or by a typo or two. */
function nearCodes(entry: DfspEntry, listed: DfspData): string[] {
  const codes =
    entry.kind === 'bank'
      ? listed.banks.map((b) => b.code)
      : entry.kind === 'branch'
        ? listed.branches.filter((b) => b.bank_code === entry.bankCode).map((b) => b.code)
        : listed.wallet_providers.filter((w) => w.wallet_type === entry.walletType).map((w) => w.code);
  // Codes are compared as a person reads them: `lpb` is near `LBP`.
  const byLower = new Map(codes.map((code) => [code.toLowerCase(), code]));
  const hit = closest(entry.code, [...byLower.keys()]);
  return hit === undefined ? [] : [byLower.get(hit)!];
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
