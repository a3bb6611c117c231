import { foldedCode, lookAlikeCodes, unreadableCode } from '../core/dfsp-codes.js';
import { DFSP_TYPES, dfspFromRows, dfspTypeOf, type DfspEntry, type DfspRemoval } from '../core/dfsp.js';
import { UsageError } from '../core/errors.js';
import { printable, shellWord } from '../core/shell-word.js';
import { closest } from '../core/strategy/validate.js';
import { dfspLookupOf, parseDfspData, type DfspData } from '../core/mapping.js';
import { counted } from '../core/plural.js';

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
      `${file}: ${counted(entries.banks + entries.branches + entries.wallet_providers, 'entry', 'entries')} (${counted(entries.banks, 'bank')}, ${counted(entries.branches, 'branch', 'branches')}, ${counted(entries.wallet_providers, 'wallet provider')}): ${counts.added} ${would}added, ${counts.renamed} ${would}renamed, ${counts.unchanged} unchanged · local ${deps.localDb}`,
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
    throw new UsageError(
      'usage.invalid_argument',
      `dfsp remove: the type must be one of ${DFSP_TYPES.join(', ')}, got "${printable(input.type)}"`,
    );
  const kind = type as (typeof DFSP_TYPES)[number];
  const code = input.code.trim();
  const bank = input.bank?.trim();
  if (code === '') throw new UsageError('usage.invalid_argument', 'dfsp remove: the code is empty');
  // As dfsp import refuses such codes: no list holds one, and it must not act on the terminal.
  for (const [what, value] of [
    ['the code', code],
    ['--bank', bank],
  ] as const) {
    const unreadable = value === undefined ? undefined : CONTROL.test(value) ? 'contains a control character' : unreadableCode(value);
    if (unreadable !== undefined)
      throw new UsageError('usage.invalid_argument', `dfsp remove: ${what} "${printable(value!)}" ${unreadable}; nothing was removed`);
  }
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
  // A run already reading the list (an import, import-odk --watch) goes on with the one it read.
  // Nothing to remove from a mapper not made yet: never one made to say so.
  const tables = await deps.openTables(input.dryRun, false);
  try {
    const removal = tables.remove(entry, { withBranches: input.withBranches, dryRun: input.dryRun });
    if (!removal.found) {
      const listed = tables.read();
      const near = nearCode(entry, listed);
      throw new UsageError('dfsp.not_found', `${printable(what)}: not in the list of ${deps.localDb}; nothing was removed`, {
        hint: `${near === undefined ? '' : `did you mean ${near}? `}"${deps.sparctl} dfsp list" shows the list`,
      });
    }
    // The store removed nothing then: a bank's branches go with it only when named to.
    if (removal.branches.length > 0 && !input.withBranches) {
      // Names and codes as stored: SPAR's own tables, written by hand, may hold anything.
      const shown =
        printable(removal.branches.slice(0, 5).join(', ')) + (removal.branches.length > 5 ? `, … (${removal.branches.length} in all)` : '');
      throw new UsageError(
        'dfsp.has_branches',
        `${what} (${printable(removal.name)}) has ${counted(removal.branches.length, 'branch', 'branches')} listed (${shown}); nothing was removed`,
        {
          hint: `pass --with-branches to remove them with it, or remove them one by one with "${deps.sparctl} dfsp remove BRANCH CODE --bank ${shellWord(code)}"`,
        },
      );
    }
    const would = input.dryRun ? 'would be ' : '';
    const withBranches = removal.branches.length > 0 ? ` with its ${counted(removal.branches.length, 'branch', 'branches')}` : '';
    deps.note(
      `${what} (${printable(removal.name)})${withBranches} ${would}removed from the list · local ${deps.localDb}; FAs already linked with it are unchanged`,
    );
    const emptied = emptiedBy(entry, tables.read(), input.dryRun);
    if (emptied !== undefined) deps.note(emptied);
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

/**
 * What the removal leaves without a list to check against, said so that no one believes the code
 * is still refused: with no entries at all, imports check no codes; with none of a kind, fa edit
 * asks for that code as free text. (A dry run reads the list as it is, less what would go.)
 */
function emptiedBy(entry: DfspEntry, after: DfspData, dryRun: boolean): string | undefined {
  const left = dryRun ? withoutEntry(after, entry) : after;
  const will = dryRun ? 'would then' : 'now';
  if (left.banks.length + left.branches.length + left.wallet_providers.length === 0)
    return `the list ${dryRun ? 'would be' : 'is now'} empty: import-csv and import-odk without --dfsp ${will} check no codes against it, and fa edit ${dryRun ? 'would ask' : 'asks'} for them as free text`;
  const asks = dryRun ? 'would ask' : 'asks';
  if (entry.kind === 'bank' && left.banks.length === 0)
    return `no banks are listed ${dryRun ? 'then' : 'now'}: fa edit ${asks} for the bank code as free text`;
  if (entry.kind === 'branch' && !left.branches.some((b) => b.bank_code === entry.bankCode))
    return `bank ${printable(entry.bankCode)} has no branches listed ${dryRun ? 'then' : 'now'}: fa edit ${asks} for its branch code as free text`;
  if (entry.kind === 'wallet' && !left.wallet_providers.some((w) => w.wallet_type === entry.walletType))
    return `no ${entry.walletType === 'MOBILE_WALLET' ? 'mobile' : 'e-mail'} wallet providers are listed ${dryRun ? 'then' : 'now'}: fa edit ${asks} for the provider code as free text`;
  return undefined;
}

/** The list without the entry (and a bank's branches), as a removal leaves it. */
function withoutEntry(data: DfspData, entry: DfspEntry): DfspData {
  return {
    banks: entry.kind === 'bank' ? data.banks.filter((b) => b.code !== entry.code) : data.banks,
    branches:
      entry.kind === 'bank'
        ? data.branches.filter((b) => b.bank_code !== entry.code)
        : entry.kind === 'branch'
          ? data.branches.filter((b) => !(b.bank_code === entry.bankCode && b.code === entry.code))
          : data.branches,
    wallet_providers:
      entry.kind === 'wallet'
        ? data.wallet_providers.filter((w) => !(w.wallet_type === entry.walletType && w.code === entry.code))
        : data.wallet_providers,
  } as DfspData;
}

const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/u;

const KIND_WORDS = {
  BANK: 'bank',
  BRANCH: 'branch',
  MOBILE_WALLET: 'mobile wallet provider',
  EMAIL_WALLET: 'e-mail wallet provider',
} as const;

/** A listed code of the same kind that differs from the entry's only in case or form, or by a typo or two, quoted for a hint. */
function nearCode(entry: DfspEntry, listed: DfspData): string | undefined {
  const codes =
    entry.kind === 'bank'
      ? listed.banks.map((b) => b.code)
      : entry.kind === 'branch'
        ? listed.branches.filter((b) => b.bank_code === entry.bankCode).map((b) => b.code)
        : listed.wallet_providers.filter((w) => w.wallet_type === entry.walletType).map((w) => w.code);
  // Codes are compared as a person reads them (foldedCode): `lpb` is near `LBP`, and so is a
  // fullwidth `ＬBP`; one that differs only so is named as such, since it looks the same.
  const same = codes.find((code) => foldedCode(code) === foldedCode(entry.code));
  if (same !== undefined) return `"${printable(same)}" (the same letters in another case or character form)`;
  // closest() reads the word in lower case, so the candidates are too.
  const folded = (code: string) => foldedCode(code).toLowerCase();
  const byFolded = new Map(codes.map((code) => [folded(code), code]));
  const hit = closest(folded(entry.code), [...byFolded.keys()]);
  return hit === undefined ? undefined : `"${printable(byFolded.get(hit)!)}"`;
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
